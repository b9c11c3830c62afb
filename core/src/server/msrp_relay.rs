//! MSRP on the server's media legs (specs/msrp.md, MSRP-1..MSRP-10): decoding each
//! MSRP connection, choosing the leg by the session-id of the `To-Path`, checking
//! the `From-Path`, binding connections, reassembling chunks, and handing each
//! complete message to the chat layer (`chat.rs`) as a [`ChatSend`] with an MSRP
//! origin; then the chat layer's outcome becomes the MSRP response and REPORT the
//! sender asked for (`Failure-Report`, `Success-Report`), and each delivery an MSRP
//! SEND of the server's own on the recipient's leg.
//!
//! Status codes the server answers with (RFC 4975 §10 plus one 5xx):
//!
//! | condition | code |
//! |---|---|
//! | stored and delivered | 200 |
//! | chunk does not match its `Byte-Range`, no `Message-ID` on a chunk; a `message/cpim` body that does not parse, or whose `message/imdn+xml` content does not | 400 |
//! | `From-Path` is not the leg's `a=path` (MSRP-3); the sender is not a party, or its own leg is closed; the CPIM `From`, or an IMDN's recipient, is not the leg's user (SEC-3) | 403 |
//! | message larger than `max_msrp_message_bytes`, too many partial ones, or partial bytes over `max_msrp_pending_bytes` (leg) / `max_msrp_pending_bytes_total` (all legs) | 413 |
//! | `Content-Type` not in the leg's `accept-types` | 415 |
//! | unknown session-id (MSRP-3), no session, the recipient's leg is closed (MSG-4) | 481 |
//! | the store failed (MSG-3) | 500 |
//! | a method other than SEND and REPORT | 501 |
//!
//! CPIM (RFC 3862): a `message/cpim` body is parsed; its `imdn.Message-ID` is the
//! stored message id (the MSRP `Message-ID` without one, or for other content types).
//! An IMDN (inner `message/imdn+xml`) is relayed like a message (in a group only to
//! the original sender, named in CPIM `To`) and also persisted as a
//! `Record::Disposition`. The body is relayed byte for byte.
//!
//! What it is *not*: TLS, or RFC 4976 relay behaviour of its own (`AUTH` is
//! answered 501).

use std::net::SocketAddr;

use super::chat_log::{ChatSend, MsrpReply, Origin};
use super::config::Mutation;
use super::keys::LegKey;
use super::output::{ChatFailure, ChatOutcome, Command, Event};
use super::refusal::MsrpRefusal;
use super::Server;
use crate::ids::{ConnId, MessageId, SessionId, TransactionId};
use crate::msrp::reassembly::{split, Reassembly, ReassemblyError};
use crate::msrp::{
    ByteRange, Continuation, FailureReport, MsrpFrame, MsrpMessage, MsrpMethod, MsrpRequest,
};
use crate::record::StoredMessage;
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire;
use crate::wire::msrp_uri::{paths_match, session_of};

impl Server {
    /// Input: bytes read from an MSRP connection (accepted on an MSRP listener, or
    /// opened after `Command::MsrpConnect`). The core frames the stream itself.
    pub fn handle_msrp_bytes(&mut self, now: Time, conn: ConnId, peer: SocketAddr, bytes: &[u8]) {
        let _ = peer;
        self.msrp.conns.entry(conn).or_default().decoder.push(bytes);
        self.decode_msrp(now, conn);
    }

    /// [`Server::handle_msrp_bytes`] of a read the caller hands over: decoded in
    /// place when the connection's buffer holds no partial message (no copy).
    pub fn handle_msrp_read(&mut self, now: Time, conn: ConnId, peer: SocketAddr, bytes: Vec<u8>) {
        let _ = peer;
        self.msrp
            .conns
            .entry(conn)
            .or_default()
            .decoder
            .push_owned(bytes);
        self.decode_msrp(now, conn);
    }

    /// Handles every complete message buffered on `conn`.
    fn decode_msrp(&mut self, now: Time, conn: ConnId) {
        loop {
            let Some(c) = self.msrp.conns.get_mut(&conn) else {
                return;
            };
            match c.decoder.next_frame(&self.config.limits) {
                None => return,
                Some(Ok(msg)) => self.on_msrp(now, conn, msg),
                Some(Err(error)) => {
                    // The stream cannot be cut any more: say why and close it.
                    self.out.event(Event::MsrpRefused {
                        conn: Some(conn),
                        reason: error.to_string(),
                    });
                    self.msrp_conn_gone(conn);
                    self.out.command(Command::Close { conn });
                    return;
                }
            }
        }
    }

    /// An MSRP connection ended: its legs are unbound (messages for them wait in
    /// their queues until the terminal connects again).
    pub(crate) fn msrp_conn_gone(&mut self, conn: ConnId) {
        let Some(c) = self.msrp.conns.remove(&conn) else {
            return;
        };
        for leg in c.legs {
            if let Some(m) = self.msrp.legs.get_mut(&leg) {
                if m.conn == Some(conn) && self.config.mutation != Mutation::ClosedConnStaysBound {
                    m.conn = None;
                }
            }
        }
    }

    fn on_msrp(&mut self, now: Time, conn: ConnId, msg: MsrpFrame) {
        match msg {
            // Responses to the server's own SENDs: nothing more to do (MSRP-6).
            // Only the transaction id is read, so the decoder hands out no more
            // ([`MsrpFrame`]); it has checked the paths all the same.
            MsrpFrame::Response(resp) => {
                self.answered_outgoing(resp.transaction_id());
                if self.config.mutation == Mutation::MsrpAnswerResponses {
                    // The mutant answers the response, on the paths of a leg the
                    // connection is bound to.
                    let (to, from) = self
                        .msrp
                        .conns
                        .get(&conn)
                        .and_then(|c| c.legs.first())
                        .and_then(|leg| self.msrp.legs.get(leg))
                        .map(|m| {
                            let to = m.peer_path.first().cloned().unwrap_or_default();
                            (to, m.local_path.clone())
                        })
                        .unwrap_or_default();
                    let tid = TransactionId::new(resp.transaction_id());
                    let bytes = wire::msrp::encode_response(&tid, resp.status(), "OK", &to, &from);
                    self.out.command(Command::MsrpSend { conn, bytes });
                }
            }
            MsrpFrame::Request(req) => match req.method {
                // MSRP-5: a REPORT is never answered.
                MsrpMethod::Report => {
                    if self.config.mutation == Mutation::MsrpAnswerReports {
                        self.msrp_respond(conn, &req, MSRP_OK, "OK");
                    }
                }
                MsrpMethod::Send => self.on_msrp_send(now, conn, req),
                MsrpMethod::Auth | MsrpMethod::Other(_) => {
                    self.msrp_refuse(conn, &req, MsrpRefusal::UnknownMethod)
                }
            },
        }
    }

    fn on_msrp_send(&mut self, now: Time, conn: ConnId, mut req: MsrpRequest) {
        if self.config.mutation == Mutation::MsrpAbortCompletes
            && req.continuation == Continuation::Aborted
        {
            req.continuation = Continuation::Complete;
        }
        // MSRP-3: the session-id of the last To-Path URI selects the leg. That URI
        // (the server's own, as the sender addressed it) is moved into the reply
        // at the end, not cloned here: the request is dropped once answered.
        let leg = req
            .to_path
            .last()
            .and_then(|own| session_of(own))
            .and_then(|s| self.msrp.by_session.get(s).cloned());
        let Some(leg) = leg else {
            return self.msrp_refuse(conn, &req, MsrpRefusal::NoSession);
        };
        let relaxed = self.config.msrp.relaxed_path_matching;
        let Some(m) = self.msrp.legs.get(&leg) else {
            return self.msrp_refuse(conn, &req, MsrpRefusal::NoSession);
        };
        // A From-Path written as the leg's `a=path` is (the usual case) matches it
        // in either mode without parsing its URIs again: every URI of a leg's path
        // parses (`PeerMedia::of` keeps no other path).
        let same_text = !req.from_path.is_empty() && req.from_path == m.peer_path;
        if !same_text
            && !paths_match(&req.from_path, &m.peer_path, relaxed)
            && self.config.mutation != Mutation::MsrpFromPathUnchecked
        {
            return self.msrp_refuse(conn, &req, MsrpRefusal::FromPathMismatch);
        }
        let bound = m.conn == Some(conn);
        let empty_range = req.byte_range.is_none_or(|r| r.total == Some(0));
        if req.body.is_empty() && req.content_type.is_none() && empty_range {
            // The empty SEND that binds a connection (or a keep-alive): nothing to
            // store or relay. Answered before what was queued for the leg goes out.
            self.msrp_respond(conn, &req, MSRP_OK, "OK");
            if !bound {
                self.msrp_bind(&leg, conn);
            }
            return;
        }
        // MSRP-2: the first request with the right paths binds the connection.
        if !bound {
            self.msrp_bind(&leg, conn);
        }
        let limits = self.config.limits.clone();
        // LIM-5: what the other legs hold counts against the all-legs cap. Only
        // legs holding partial messages are listed (summing every leg's
        // reassembler made each SEND cost O(legs)).
        let elsewhere: u64 = self
            .msrp
            .pending_legs
            .iter()
            .filter(|(k, _)| **k != leg)
            .map(|(_, held)| *held)
            .sum();
        let Some(m) = self.msrp.legs.get_mut(&leg) else {
            return;
        };
        // The chunk's bytes are handed over: a message in one chunk becomes the
        // stored body without a copy.
        let chunk = std::mem::take(&mut req.body);
        let accepted = m
            .reassembler
            .accept_request_body_at(&req, chunk, &limits, now, elsewhere);
        let held = m.reassembler.pending_bytes();
        if held > 0 {
            self.msrp.pending_legs.insert(leg.clone(), held);
        } else if !self.msrp.pending_legs.is_empty() {
            self.msrp.pending_legs.remove(&leg);
        }
        let body = match accepted {
            Ok(Reassembly::Incomplete) | Ok(Reassembly::Aborted) => {
                // A chunk: acknowledged at once; the message's last chunk is answered
                // once the message is durable (MSRP-4).
                return self.msrp_respond(conn, &req, MSRP_OK, "OK");
            }
            Ok(Reassembly::Complete(body)) => body,
            Err(
                ReassemblyError::TooLarge { .. }
                | ReassemblyError::TooManyPending { .. }
                | ReassemblyError::PendingBytes { .. },
            ) => return self.msrp_refuse(conn, &req, MsrpRefusal::TooLarge),
            Err(_) => return self.msrp_refuse(conn, &req, MsrpRefusal::BadChunk),
        };
        // Taken, not cloned: a refusal from here on reads the request's paths,
        // id and `Failure-Report` only.
        let content_type = req.content_type.take().unwrap_or_default();
        let type_ok = self
            .msrp
            .legs
            .get(&leg)
            .is_some_and(|m| accepted_type(&m.accept_types, &content_type));
        if !type_ok {
            return self.msrp_refuse(conn, &req, MsrpRefusal::UnsupportedType);
        }
        let Some((sender, sid)) = self.legs.get(&leg).map(|l| (l.user.clone(), l.session)) else {
            return self.msrp_refuse(conn, &req, MsrpRefusal::NoSession);
        };
        if self.is_stand_in(&leg) {
            // A store-and-forward session to an offline user (deferred_session.rs).
            let message = super::deferred_queue::StandInSend {
                conn,
                leg,
                own: req.to_path.last().cloned().unwrap_or_default(),
                req,
                content_type,
                body,
            };
            return self.on_stand_in_send(now, message);
        }
        let Some(contribution_id) = self
            .sessions
            .get(&sid)
            .map(|s| s.info().key.contribution_id.clone())
        else {
            return self.msrp_refuse(conn, &req, MsrpRefusal::NoSession);
        };
        let capture = match capture(&content_type, &body) {
            Ok(c) => c,
            Err(why) => return self.msrp_refuse(conn, &req, why),
        };
        // SEC-3: a `From` this leg's check passed before passes again unparsed.
        let from_known = self.msrp.legs.get(&leg).is_some_and(|m| {
            m.from_ok.0.as_deref().is_some() && m.from_ok.0.as_deref() == capture.from
        });
        let from = capture.from.filter(|_| !from_known);
        if let Err(fault) = self.check_sender(sid, &sender, from, capture.imdn.as_ref()) {
            return self.msrp_refuse(conn, &req, fault.msrp());
        }
        if let (Some(from), Some(m)) = (from, self.msrp.legs.get_mut(&leg)) {
            m.from_ok.0 = Some(from.into());
        }
        // Made from the borrowed text (an owned `String` first was one more
        // allocation per message).
        let message_id = MessageId::new(
            capture
                .message_id
                .or(req.message_id.as_deref())
                .unwrap_or(req.transaction_id.as_str()),
        );
        let group = matches!(
            self.sessions.get(&sid),
            Some(super::session::Session::Group(_))
        );
        let only_to = capture.imdn.as_ref().and(capture.to).filter(|_| group);
        let composing = capture.composing;
        let own_leg_open = self.legs.get(&leg).is_some_and(|l| l.is_open());
        if let Some(imdn) = capture.imdn.as_ref().filter(|_| own_leg_open) {
            self.persist_disposition(sid, &sender, imdn);
        }
        // The request's parts are moved into the reply (it is not read again):
        // five clones per message before.
        let reply = MsrpReply {
            conn,
            leg,
            own: req.to_path.pop().unwrap_or_default(),
            tid: req.transaction_id,
            from_path: req.from_path,
            message_id: req.message_id,
            failure_report: req.failure_report,
            success_report: req.success_report == Some(true),
            total: body.len() as u64,
            only_to,
        };
        let chat = ChatSend {
            contribution_id,
            // The authenticated identity of the leg, never a header of the message.
            sender,
            message_id,
            content_type,
            body,
        };
        // The CPIM was decoded once, above: whether it is an indication is known.
        self.take_classified_chat(now, chat, Origin::Msrp(reply), composing);
    }

    /// Refuses a request for `why`: a debug event names the rule, the response (if
    /// the sender wants one) carries its status and comment.
    pub(crate) fn msrp_refuse(&mut self, conn: ConnId, req: &MsrpRequest, why: MsrpRefusal) {
        tracing::debug!(
            %conn,
            transaction = %req.transaction_id,
            status = why.status(),
            reason = why.comment(),
            "MSRP request refused"
        );
        self.msrp_respond(conn, req, why.status(), why.comment());
    }

    /// Answers a request per its `Failure-Report` (MSRP-4): `no` → nothing,
    /// `partial` → negative responses only, `yes` → every response.
    pub(crate) fn msrp_respond(
        &mut self,
        conn: ConnId,
        req: &MsrpRequest,
        status: u16,
        comment: &str,
    ) {
        let answer = Answer {
            tid: &req.transaction_id,
            failure_report: req.failure_report,
            to: req.from_path.first().map(String::as_str),
            from: req.to_path.last().map(String::as_str),
        };
        self.msrp_respond_to(conn, &answer, status, comment);
    }

    /// [`Server::msrp_respond`] from the parts of the request it needs.
    fn msrp_respond_to(&mut self, conn: ConnId, answer: &Answer<'_>, status: u16, comment: &str) {
        let wanted = self.config.mutation == Mutation::MsrpIgnoreFailureReport
            || match answer.failure_report {
                FailureReport::Yes => true,
                FailureReport::Partial => status != MSRP_OK,
                FailureReport::No => false,
            };
        let (Some(to), Some(from)) = (answer.to, answer.from) else {
            return;
        };
        if !wanted {
            return;
        }
        self.out.command(Command::MsrpSend {
            conn,
            bytes: wire::msrp::encode_response(answer.tid, status, comment, to, from),
        });
    }

    /// The chat layer's outcome for a message that came over MSRP, as the response
    /// and REPORT its sender asked for (MSRP-4).
    pub(crate) fn msrp_answer(&mut self, reply: &MsrpReply, outcome: ChatOutcome) {
        match outcome {
            ChatOutcome::Accepted => self.msrp_answer_status(reply, MSRP_OK, "OK"),
            ChatOutcome::Failed(_) if self.config.mutation == Mutation::MsrpSilentFailure => {}
            ChatOutcome::Failed(f) => self.msrp_answer_refusal(reply, failure_refusal(f)),
        }
    }

    /// A message refused after it was complete, answered as its sender asked.
    pub(crate) fn msrp_answer_refusal(&mut self, reply: &MsrpReply, why: MsrpRefusal) {
        self.msrp_answer_status(reply, why.status(), why.comment());
    }

    fn msrp_answer_status(&mut self, reply: &MsrpReply, status: u16, comment: &str) {
        let conn = self.reply_conn(reply);
        let Some(conn) = conn else {
            return self.out.event(Event::MsrpRefused {
                conn: None,
                reason: format!("no connection left to answer {} with {status}", reply.tid),
            });
        };
        let answer = Answer {
            tid: &reply.tid,
            failure_report: reply.failure_report,
            to: reply.from_path.first().map(String::as_str),
            from: Some(reply.own.as_str()),
        };
        self.msrp_respond_to(conn, &answer, status, comment);
        if status == 200 && reply.success_report {
            let tid = TransactionId::new(self.ids.msrp_token());
            let mut report = MsrpRequest::new(
                tid,
                MsrpMethod::Report,
                reply.from_path.clone(),
                vec![reply.own.clone()],
            );
            report.message_id = reply.message_id.clone();
            report.byte_range = Some(ByteRange {
                start: 1,
                end: Some(reply.total),
                total: Some(reply.total),
            });
            report.status = Some((200, Some("OK".into())));
            self.out.command(Command::MsrpSend {
                conn,
                bytes: wire::msrp::encode(&MsrpMessage::Request(report)),
            });
        }
    }

    /// An IMDN's effect on the message it reports on (specs/store.md): persisted as
    /// a disposition record; the store's answer needs no action.
    fn persist_disposition(
        &mut self,
        sid: SessionId,
        sender: &UserUri,
        imdn: &crate::wire::imdn::Imdn,
    ) {
        let Some(key) = self.sessions.get(&sid).map(|s| s.info().key.clone()) else {
            return;
        };
        let ticket = self.ticket(super::TicketUse::Disposition);
        self.out.command(Command::Persist {
            ticket,
            record: crate::record::Record::Disposition(crate::record::DispositionRecord {
                conversation_id: key.conversation_id,
                contribution_id: Some(key.contribution_id),
                message_id: MessageId::new(imdn.message_id.clone()),
                recipient: sender.clone(),
                disposition: imdn.disposition,
            }),
        });
    }

    /// The connection to answer on: the one the message came on, or else the one
    /// bound to the sender's leg now.
    fn reply_conn(&self, reply: &MsrpReply) -> Option<ConnId> {
        if self.msrp.conns.contains_key(&reply.conn) {
            return Some(reply.conn);
        }
        self.msrp.legs.get(&reply.leg).and_then(|m| m.conn)
    }

    /// Delivers a stored message to `recipient` over MSRP: a new SEND of the
    /// server's (own Message-ID and transaction ids, chunked by `chunk_size`) on the
    /// recipient's leg, queued while its connection is not bound (MSRP-7). Returns
    /// the leg when the message was queued rather than written out (`msrp_held`).
    pub(crate) fn msrp_deliver(
        &mut self,
        sid: SessionId,
        recipient: &UserUri,
        message: &StoredMessage,
    ) -> Option<LegKey> {
        let leg = self.leg_in(sid, recipient)?;
        if !self.msrp.legs.contains_key(&leg) {
            // A leg without MSRP media: hand the message to the runtime typed.
            self.out.command(Command::ChatDeliver {
                recipient: recipient.clone(),
                message: message.clone(),
            });
            return None;
        }
        let queued = self.msrp_send_on(
            &leg,
            &message.content_type,
            &message.body,
            Some(message.message_id.as_str()),
        );
        queued.then_some(leg)
    }

    /// Sends `body` on `leg`'s MSRP endpoint as a new SEND of the server's (own
    /// Message-ID and transaction ids, chunked by `chunk_size`), queued while its
    /// connection is not bound (MSRP-7). `relayed_id`: the Message-ID of the
    /// sender's SEND this relays, if any; only the model's MSRP-7 mutant reuses it.
    /// Returns whether it was queued (the connection is not bound).
    pub(crate) fn msrp_send_on(
        &mut self,
        leg: &LegKey,
        content_type: &str,
        body: &[u8],
        relayed_id: Option<&str>,
    ) -> bool {
        let Some(m) = self.msrp.legs.get(leg) else {
            return false;
        };
        if m.peer_path.is_empty() {
            self.out.event(Event::MsrpRefused {
                conn: None,
                reason: "recipient's msrp path is unknown".into(),
            });
            return false;
        }
        let message_id = match relayed_id {
            Some(id) if self.config.mutation == Mutation::MsrpRelaySenderMessageId => id.to_owned(),
            Some(_) | None => self.ids.msrp_token(),
        };
        let chunk_size = self.config.msrp.chunk_size;
        if body.len() <= chunk_size.max(1) {
            // One chunk (the usual message): what `split` makes of it, printed
            // without the lists of chunks, ids and printed chunks (three
            // allocations per relayed message). The ids are drawn in the same
            // order: the Message-ID, then the chunk's transaction id.
            let tid = self.ids.msrp_token();
            let total = body.len() as u64;
            let mut bytes = Vec::new();
            wire::msrp::SendChunk {
                tid: &tid,
                to_path: &m.peer_path,
                from: &m.local_path,
                message_id: &message_id,
                range: ByteRange {
                    start: 1,
                    end: Some(total),
                    total: Some(total),
                },
                content_type,
                data: body,
                flag: Continuation::Complete,
            }
            .encode_into(&mut bytes);
            self.note_outgoing(&tid);
            let Some(m) = self.msrp.legs.get_mut(leg) else {
                return false;
            };
            return match m.conn {
                Some(conn) => {
                    self.out.command(Command::MsrpSend { conn, bytes });
                    false
                }
                None => {
                    m.queue.push_back(bytes);
                    true
                }
            };
        }
        let chunks = split(body, chunk_size);
        let tids: Vec<String> = chunks.iter().map(|_| self.ids.msrp_token()).collect();
        // Printed straight from the leg's paths (no request value built per chunk).
        let mut encoded = Vec::with_capacity(chunks.len());
        for ((range, flag, data), tid) in chunks.into_iter().zip(&tids) {
            let mut bytes = Vec::new();
            wire::msrp::SendChunk {
                tid,
                to_path: &m.peer_path,
                from: &m.local_path,
                message_id: &message_id,
                range,
                content_type,
                data,
                flag,
            }
            .encode_into(&mut bytes);
            encoded.push(bytes);
        }
        for tid in &tids {
            self.note_outgoing(tid);
        }
        let Some(m) = self.msrp.legs.get_mut(leg) else {
            return false;
        };
        match m.conn {
            Some(conn) => {
                for bytes in encoded {
                    self.out.command(Command::MsrpSend { conn, bytes });
                }
                false
            }
            None => {
                m.queue.extend(encoded);
                true
            }
        }
    }
}

/// What the server captures from a message body besides the bytes: everything the
/// relay needs of its CPIM, from one decode (the body is decoded once per message),
/// borrowed from the body.
pub(crate) struct Capture<'a> {
    /// CPIM `imdn.Message-ID`.
    pub(crate) message_id: Option<&'a str>,
    /// The first CPIM `To`, as an identity; read only for an IMDN (the group
    /// notification goes to the original sender alone).
    pub(crate) to: Option<UserUri>,
    /// The CPIM `From` value (SEC-3).
    pub(crate) from: Option<&'a str>,
    /// The notification, when the CPIM content is `message/imdn+xml`.
    pub(crate) imdn: Option<crate::wire::imdn::Imdn>,
    /// The body is an is-composing indication, bare or as the CPIM content
    /// (MSG-7: relayed, never stored).
    pub(crate) composing: bool,
}

/// Parses a `message/cpim` body (other types are captured as they are).
pub(crate) fn capture<'a>(content_type: &str, body: &'a [u8]) -> Result<Capture<'a>, MsrpRefusal> {
    if !crate::cpim::essence(content_type).eq_ignore_ascii_case("message/cpim") {
        return Ok(Capture {
            message_id: None,
            to: None,
            from: None,
            imdn: None,
            // Not CPIM: the type alone says it (no body is decoded).
            composing: super::is_composing::is_composing(content_type, body),
        });
    }
    // The headers only, borrowed: the content is read here only for an IMDN, and
    // the body is relayed and stored as it came (no copy of the content).
    let cpim = wire::cpim_codec::decode_head(body, &wire::Limits::default())
        .map_err(|_| MsrpRefusal::BadCpim)?;
    let imdn = if cpim.is_imdn() {
        Some(wire::imdn::decode(cpim.content).map_err(|_| MsrpRefusal::BadImdn)?)
    } else {
        None
    };
    let to = imdn.as_ref().and_then(|_| {
        let first = cpim.to().next()?;
        let uri = wire::parse_uri(crate::cpim::addr_uri(first)).ok()?;
        UserUri::from_uri(&uri)
    });
    Ok(Capture {
        message_id: cpim.imdn_message_id(),
        to,
        from: cpim.from(),
        imdn,
        // The inner type, as `is_composing` reads it out of a CPIM body; an empty
        // body stands for the content, which an inner type alone decides.
        composing: super::is_composing::is_composing(&cpim.content_type, &[]),
    })
}

/// What a response to a request is made of: its transaction, what its sender asked
/// for (`Failure-Report`), the previous hop (the first `From-Path` URI) and the
/// server's own URI (the last `To-Path` URI).
struct Answer<'a> {
    tid: &'a TransactionId,
    failure_report: FailureReport,
    to: Option<&'a str>,
    from: Option<&'a str>,
}

/// MSRP-4: the status a failed message is answered with.
fn failure_refusal(f: ChatFailure) -> MsrpRefusal {
    match f {
        ChatFailure::NoSession => MsrpRefusal::NoSession,
        ChatFailure::NotAParty => MsrpRefusal::NotAParty,
        ChatFailure::RecipientGone => MsrpRefusal::RecipientGone,
        ChatFailure::StoreFailed => MsrpRefusal::StoreFailed,
        ChatFailure::SessionBusy => MsrpRefusal::SessionBusy,
        ChatFailure::SessionFull => MsrpRefusal::SessionFull,
        ChatFailure::OverQuota => MsrpRefusal::OverQuota,
    }
}

/// RFC 4975 §10: the status of a successful transaction.
const MSRP_OK: u16 = 200;

/// Whether `content_type` (parameters ignored) is in the `accept-types` list (`*`
/// accepts anything). Compared case-insensitively in place (a lower-case copy of
/// the type, and of each `major/*`, was made per message).
fn accepted_type(accept: &str, content_type: &str) -> bool {
    let ty = crate::cpim::essence(content_type);
    let major = ty
        .bytes()
        .position(|b| b == b'/')
        .and_then(|i| ty.get(..i))
        .unwrap_or(ty);
    accept.split_ascii_whitespace().any(|a| {
        a == "*"
            || a.eq_ignore_ascii_case(ty)
            || a.strip_suffix("/*")
                .is_some_and(|m| m.eq_ignore_ascii_case(major))
    })
}

#[cfg(test)]
mod tests {
    use super::accepted_type;

    /// What `accepted_type` answered when it compared lower-case copies.
    fn with_copies(accept: &str, content_type: &str) -> bool {
        let ty = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        accept.split_ascii_whitespace().any(|a| {
            a == "*"
                || a.eq_ignore_ascii_case(&ty)
                || a.strip_suffix("/*")
                    .is_some_and(|major| ty.split('/').next() == Some(&major.to_ascii_lowercase()))
        })
    }

    #[test]
    fn accepted_type_compares_in_place_as_with_copies() {
        let accepts = [
            "",
            "*",
            "message/cpim",
            "Message/CPIM text/*",
            "text/* application/im-iscomposing+xml",
            "TEXT/*",
            "x/y/*",
        ];
        let types = [
            "",
            "message/cpim",
            "MESSAGE/Cpim; charset=utf-8",
            "text/plain",
            " Text/HTML ;x",
            "text",
            "x/y/z",
            "caf\u{e9}/x",
        ];
        for a in accepts {
            for t in types {
                assert_eq!(accepted_type(a, t), with_copies(a, t), "{a:?} {t:?}");
            }
        }
    }
}
