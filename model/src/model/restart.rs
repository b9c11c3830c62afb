//! A terminal's restart (`Setup::restarts`, in `--config faults`): A, B or C loses
//! everything it knew (its dialogs, its MSRP connections, its unanswered requests
//! and remembered answers) and registers again, while the server keeps its sessions.
//!
//! What the server sees is what a real reboot shows it: the terminal's MSRP
//! connections close (`Server::handle_closed`; over TCP its SIP connection too),
//! a new REGISTER arrives, and from then on the terminal answers every request in a
//! dialog it lost with 481 (RFC 3261 §12.2.2) and ignores responses to transactions
//! it forgot. Packets already on the network stay there. A message it was sending in
//! chunks is cut (counted as aborted: the server must neither store nor deliver
//! it, MSRP-8); what the server writes on a closed connection is lost, as the
//! runtime's write to a dead socket is.
//!
//! What it is *not*: a model of the session timers that end a session whose
//! terminal vanished (transaction timeouts, expiry, the store's crash sealing are
//! not fired in this untimed model). So end states after a restart are not judged
//! (`properties.rs`, `unjudged_end`); every safety property still is.

use cpmd_core::server::Transport;
use cpmd_core::sip::{Request, StatusCode};
use cpmd_core::Tag;

use super::{note_local, CpmModel, Log, Reached, State};
use crate::terminal::{self, Term};

impl CpmModel {
    /// Whether `t` may restart now: budget left, not yet restarted, and it holds
    /// a dialog (a restart before any is a plain late registration).
    pub(super) fn may_restart(&self, st: &State, t: Term) -> bool {
        let ts = st.term(t);
        st.budget.restarts > 0
            && t != Term::M
            && !ts.restarted
            && (ts.one.is_some() || ts.group.is_some())
    }

    /// `t` restarts: see the module documentation.
    pub(super) fn restart(&self, st: &mut State, t: Term, log: &mut Log) {
        st.budget.restarts -= 1;
        st.ghost.reach(Reached::Restarted);
        note_local(log, t, "restarts".into());
        let bound = st.term(t).bound;
        let cut = st.term(t).sending;
        {
            let ts = st.term_mut(t);
            ts.restarted = true;
            ts.lost_calls = [
                ts.one.take().map(|d| d.call_id),
                ts.group.take().map(|d| d.call_id),
            ];
            ts.one_confirmed = false;
            ts.outstanding.clear();
            ts.answered.clear();
            ts.paths = [None, None];
            ts.bound = [false, false];
            ts.sending = None;
        }
        if let Some(m) = cut {
            let g = &mut st.ghost;
            let at = g.aborted.partition_point(|x| *x <= m);
            g.aborted.insert(at, m);
        }
        // The relayed messages it had in part are gone with it.
        st.ghost.rx.retain(|(rt, _, _, _)| *rt != t);
        for (leg, was_bound) in bound.into_iter().enumerate() {
            if was_bound {
                st.server
                    .handle_closed(super::NOW, crate::msrp::conn(t, leg));
            }
        }
        if self.transport() == Transport::Tcp {
            st.server
                .handle_closed(super::NOW, t.flow(self.transport()).conn);
        }
        self.drain(st, log);
        let register = terminal::register_again(t, self.transport());
        self.send(st, t, register, true, log);
    }

    /// Whether `req` is in a dialog `t` lost in its restart (it knows no other
    /// dialog with that Call-ID).
    pub(super) fn lost_dialog(&self, st: &State, t: Term, req: &Request) -> bool {
        let ts = st.term(t);
        let call = &req.headers.call_id;
        let known = [&ts.one, &ts.group]
            .into_iter()
            .flatten()
            .any(|d| d.call_id == *call);
        ts.restarted && req.headers.to.tag().is_some() && !known
    }

    /// The 481 of a terminal that lost the request's dialog.
    pub(super) fn reply_481(&self, st: &mut State, t: Term, req: &Request, log: &mut Log) {
        let tag = Tag::new(format!("{}-x", t.name()));
        let resp = terminal::answer(t, req, StatusCode::CALL_DOES_NOT_EXIST, &tag);
        self.reply(st, t, resp, log);
    }

    /// Whether what the server writes on `t`'s MSRP connection for `leg` is lost: the
    /// terminal restarted and has not bound that leg again.
    pub(super) fn msrp_conn_dead(&self, st: &State, t: Term, leg: usize) -> bool {
        let ts = st.term(t);
        ts.restarted && !ts.bound[leg]
    }
}
