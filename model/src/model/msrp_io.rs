//! The model's MSRP traffic (specs/msrp.md): the terminals bind their legs, send
//! their messages as SENDs (whole, or a first chunk then the last one or an abort),
//! and read what the server writes on their connections: responses and REPORTs to
//! their own messages (MSRP-4), the server's relayed SENDs (MSRP-7, MSRP-8), which
//! they answer at once. The observers record a [`Flaw`] where the server breaks a rule.
//!
//! What it is *not*: a second relay. The server's side is `cpmd_core`'s; this file
//! only plays the terminals and watches.

use cpmd_core::msrp::{Continuation, FailureReport, MsrpMethod, MsrpRequest, MsrpResponse};
use cpmd_core::server::{ChatFailure, ChatOutcome};
use cpmd_core::{ConnId, MessageId};

use super::{note, note_local, CpmModel, Flaw, Log, Msg, Node, Reached, State};
use crate::msrp::{self, Part};
use crate::terminal::Term;

impl CpmModel {
    /// `t` learnt the server's `a=path` on its leg `leg` (from the server's offer or
    /// answer).
    pub(super) fn msrp_learn_path(&self, st: &mut State, t: Term, leg: usize, sdp: &[u8]) {
        if self.setup.msrp {
            st.term_mut(t).paths[leg] = msrp::path_of(sdp);
        }
    }

    /// `t` connects for its leg `leg` and binds it with an empty SEND (MSRP-2): A
    /// once it has the server's 200, B and C once the server ACKed theirs (the server
    /// knows their path then).
    pub(super) fn msrp_bind(&self, st: &mut State, t: Term, leg: usize, log: &mut Log) {
        if !self.setup.msrp || st.term(t).bound[leg] {
            return;
        }
        let Some(path) = st.term(t).paths[leg].clone() else {
            return;
        };
        st.term_mut(t).bound[leg] = true;
        note(
            log,
            Node::T(t),
            Node::Server,
            format!("MSRP bind leg {leg}"),
        );
        let bytes = msrp::bind(t, leg, &path);
        st.server
            .handle_msrp_bytes(super::NOW, msrp::conn(t, leg), t.addr(), &bytes);
    }

    /// `msg`'s sender puts `part` of it on its leg.
    pub(super) fn msrp_send(&self, st: &mut State, msg: Msg, part: Part, log: &mut Log) {
        let t = msg.sender;
        let Some(leg) = msrp::leg_index(msg.sess) else {
            return;
        };
        let Some(path) = st.term(t).paths[leg].clone() else {
            return;
        };
        note(
            log,
            Node::T(t),
            Node::Server,
            format!("MSRP SEND {} {part:?}", msg.id()),
        );
        let bytes = msrp::send(msg, part, &path);
        st.server
            .handle_msrp_bytes(super::NOW, msrp::conn(t, leg), t.addr(), &bytes);
    }

    /// The server closed one of the terminals' MSRP connections (its leg went
    /// away): a message half sent on it is lost to its sender, who sees the error.
    pub(super) fn msrp_closed(&self, st: &mut State, conn: ConnId, log: &mut Log) {
        let Some((t, leg)) = msrp::leg_of_conn(conn) else {
            return;
        };
        note_local(log, t, format!("MSRP connection of leg {leg} closed"));
        let ts = st.term_mut(t);
        ts.bound[leg] = false;
        let cut = ts.sending.filter(|m| msrp::leg_index(m.sess) == Some(leg));
        if let Some(m) = cut {
            ts.sending = None;
            self.result(st, m, ChatOutcome::Failed(ChatFailure::NoSession), log);
        }
        st.ghost
            .rx
            .retain(|(rt, rl, _, _)| !(*rt == t && *rl == leg));
    }

    /// What the server wrote on `t`'s connection: responses and REPORTs to its own
    /// messages, or (chunks of) a relayed message, which `t` answers.
    pub(super) fn msrp_received(
        &self,
        st: &mut State,
        conn: ConnId,
        bytes: &[u8],
        answers: &mut Vec<super::MsrpAnswer>,
        log: &mut Log,
    ) {
        let Some((t, leg)) = msrp::leg_of_conn(conn) else {
            return;
        };
        if self.msrp_written_to_broken(st, t, leg) {
            note_local(
                log,
                t,
                format!("lost: MSRP on the broken connection of leg {leg}"),
            );
            return;
        }
        if self.msrp_conn_dead(st, t, leg) {
            note_local(log, t, format!("lost: MSRP on the closed leg {leg}"));
            return;
        }
        for m in msrp::decode_all(bytes) {
            match m {
                cpmd_core::msrp::MsrpMessage::Response(r) => {
                    if !self.wrong_path_answered(st, &r) {
                        self.msrp_response(st, t, &r, log)
                    }
                }
                cpmd_core::msrp::MsrpMessage::Request(r) if r.method == MsrpMethod::Report => {
                    self.msrp_report(st, t, &r, log)
                }
                cpmd_core::msrp::MsrpMessage::Request(r) => {
                    self.msrp_chunk(st, t, leg, &r, log);
                    if r.failure_report == FailureReport::Yes {
                        answers.push(super::MsrpAnswer {
                            t,
                            leg,
                            bytes: msrp::ok(t, &r),
                            report: false,
                        });
                    }
                    // MSRP-5: the recipient reports on each message it got whole.
                    if r.continuation == Continuation::Complete {
                        if let Some(total) = r.byte_range.and_then(|b| b.total) {
                            answers.push(super::MsrpAnswer {
                                t,
                                leg,
                                bytes: msrp::report(t, &r, total),
                                report: true,
                            });
                        }
                    }
                }
            }
        }
    }

    /// MSRP-4: a response to one of `t`'s SENDs, as its `Failure-Report` asked; the
    /// response to a message's last chunk is the message's outcome.
    fn msrp_response(&self, st: &mut State, t: Term, r: &MsrpResponse, log: &mut Log) {
        let Some((msg, part)) = msrp::parse_tid(&r.transaction_id) else {
            // The answer to a bind.
            return;
        };
        note(
            log,
            Node::Server,
            Node::T(t),
            format!("MSRP {} {} {part:?}", r.status, msg.id()),
        );
        let (failure_report, _) = msrp::reports(msg);
        let allowed = match failure_report {
            FailureReport::Yes => true,
            FailureReport::Partial => r.status != 200,
            FailureReport::No => false,
        };
        if !allowed || msg.sender != t {
            st.ghost.flaw(Flaw::MsrpAnswer);
        }
        let outcome = match r.status {
            200 => ChatOutcome::Accepted,
            403 => ChatOutcome::Failed(ChatFailure::NotAParty),
            413 => ChatOutcome::Failed(ChatFailure::SessionBusy),
            500 => ChatOutcome::Failed(ChatFailure::StoreFailed),
            _ => ChatOutcome::Failed(ChatFailure::RecipientGone),
        };
        match part {
            Part::Whole | Part::Last => {
                if outcome == ChatOutcome::Accepted && !st.ghost.stored.contains(&msg) {
                    st.ghost.flaw(Flaw::MsrpAnswer);
                }
                self.result(st, msg, outcome, log);
            }
            // A refused first chunk: the sender gives the message up.
            Part::First if outcome != ChatOutcome::Accepted => {
                if st.term(t).sending == Some(msg) {
                    st.term_mut(t).sending = None;
                }
                self.result(st, msg, outcome, log);
            }
            Part::First | Part::Abort => {}
        }
    }

    /// MSRP-4: a success REPORT only when asked for, covering the whole message, and
    /// only once the store confirmed it.
    fn msrp_report(&self, st: &mut State, t: Term, r: &MsrpRequest, log: &mut Log) {
        let msg = r
            .message_id
            .as_ref()
            .and_then(|id| Msg::parse(&MessageId::new(id.as_str())));
        note(log, Node::Server, Node::T(t), "MSRP REPORT".into());
        let ok = msg.is_some_and(|m| {
            let len = m.id().as_str().len() as u64;
            msrp::reports(m).1
                && m.sender == t
                && st.ghost.stored.contains(&m)
                && r.status.as_ref().is_some_and(|(code, _)| *code == 200)
                && r.byte_range
                    .is_some_and(|b| b.total == Some(len) && b.start == 1)
        });
        if !ok {
            st.ghost.flaw(Flaw::MsrpAnswer);
        }
    }

    /// A chunk of a message the server relays to `t` on leg `leg`: the server's own
    /// Message-ID and paths (MSRP-7), in its byte order, the whole message once
    /// complete (MSRP-8).
    fn msrp_chunk(&self, st: &mut State, t: Term, leg: usize, r: &MsrpRequest, log: &mut Log) {
        let server_path = st.term(t).paths[leg].clone();
        let paths_ok =
            r.to_path == [msrp::own_path(t)] && server_path.is_some_and(|p| r.from_path == [p]);
        let mid = r.message_id.clone().unwrap_or_default();
        if !paths_ok || Msg::parse(&MessageId::new(mid.as_str())).is_some() {
            st.ghost.flaw(Flaw::MsrpRelay);
        }
        let g = &mut st.ghost;
        let mut so_far = match g
            .rx
            .iter()
            .position(|(rt, rl, _, _)| *rt == t && *rl == leg)
        {
            Some(i) => {
                let (_, _, id, bytes) = g.rx.remove(i);
                if id != mid {
                    // A new message before the last one was whole.
                    g.flaw(Flaw::MsrpNotWhole);
                }
                bytes
            }
            None => Vec::new(),
        };
        let in_order = r
            .byte_range
            .map_or(so_far.is_empty(), |b| b.start == so_far.len() as u64 + 1);
        if !in_order {
            g.flaw(Flaw::MsrpNotWhole);
        }
        so_far.extend_from_slice(&r.body);
        match r.continuation {
            Continuation::More => {
                g.rx.push((t, leg, mid, so_far));
                g.rx.sort();
            }
            // The server never aborts a message it relays.
            Continuation::Aborted => g.flaw(Flaw::MsrpNotWhole),
            Continuation::Complete => {
                let whole = String::from_utf8(so_far)
                    .ok()
                    .and_then(|s| Msg::parse(&MessageId::new(s)));
                let total_ok = r
                    .byte_range
                    .is_none_or(|b| b.total.is_none_or(|n| n == b.end.unwrap_or(0)));
                match whole {
                    Some(msg) if total_ok => {
                        let seq = g
                            .seqs
                            .iter()
                            .find(|(m, _)| *m == msg)
                            .map_or(0, |(_, s)| *s);
                        self.delivered(st, t, msg, seq, log);
                    }
                    Some(_) | None => g.flaw(Flaw::MsrpNotWhole),
                }
            }
        }
    }

    /// MSRP-1: the server's SDP on `t`'s leg `leg` names the server's own path, fresh
    /// for that leg (never a terminal's, never one already on another leg), and the
    /// setup role: `actpass` in its offers, `passive` in its answers (the terminals
    /// offer `active`).
    pub(super) fn msrp_observe_sdp(
        &self,
        st: &mut State,
        t: Term,
        leg: usize,
        msg: &cpmd_core::sip::SipMessage,
    ) {
        let (body, offer) = match msg {
            cpmd_core::sip::SipMessage::Request(r) => (&r.body, true),
            cpmd_core::sip::SipMessage::Response(r) => (&r.body, false),
        };
        let Some(path) = msrp::path_of(body) else {
            return;
        };
        let foreign = Term::ALL.into_iter().any(|u| msrp::own_path(u) == path);
        let reused = Term::ALL
            .into_iter()
            .flat_map(|u| [(u, 0), (u, 1)])
            .any(|(u, l)| (u, l) != (t, leg) && st.term(u).paths[l].as_deref() == Some(&path));
        let role = if offer { "actpass" } else { "passive" };
        if foreign || reused || msrp::setup_of(body).as_deref() != Some(role) {
            st.ghost.flaw(Flaw::MsrpPath);
        }
    }

    /// The chat actions over MSRP: start a message (whole, or its first chunk).
    pub(super) fn msrp_chat(&self, st: &mut State, msg: Msg, log: &mut Log) {
        let part = if self.setup.chunks >= 2 {
            st.term_mut(msg.sender).sending = Some(msg);
            Part::First
        } else {
            insert_sorted(&mut st.ghost.completed, msg);
            Part::Whole
        };
        self.msrp_send(st, msg, part, log);
    }

    /// The last chunk of the message `t` is sending, or its abort.
    pub(super) fn msrp_finish(&self, st: &mut State, t: Term, abort: bool, log: &mut Log) {
        let Some(msg) = st.term_mut(t).sending.take() else {
            return;
        };
        if abort {
            st.budget.aborts -= 1;
            insert_sorted(&mut st.ghost.aborted, msg);
            st.ghost.reach(Reached::MsrpAborted);
            self.msrp_send(st, msg, Part::Abort, log);
        } else {
            insert_sorted(&mut st.ghost.completed, msg);
            self.msrp_send(st, msg, Part::Last, log);
        }
    }
}

fn insert_sorted(v: &mut Vec<Msg>, m: Msg) {
    let at = v.partition_point(|x| *x <= m);
    v.insert(at, m);
}
