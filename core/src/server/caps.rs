//! Caps on the core's own tables (specs/limits.md, LIM-11..LIM-13): the transaction
//! table (server and client transactions, UDP and TCP), the session table, and each
//! session's chat log (messages waiting for the store, and messages taken on, whose
//! ids the log keeps for MSG-6 and SEC-3). Beyond a cap a peer gets a defined answer
//! instead of the table growing: a new SIP request 503 with `Retry-After` (sent
//! without a transaction when the transaction table is full), a chat message the
//! `SessionBusy`/`SessionFull` failure (MSRP 413).
//!
//! What it is *not*: the registrar's caps (`registration_caps.rs`, SEC-5), the
//! MSRP reassembly caps (`msrp::reassembly`, LIM-5), or anything of the runtime's
//! (connections, write queues, the store queue: LIM-6..LIM-8).

use super::caps_config::CoreCaps;
use super::chat_log::ChatLog;
use super::output::{ChatFailure, Flow};
use super::refusal::Refusal;
use super::Server;
use crate::sip::{Method, Request, Response, SipMessage};

impl Server {
    /// LIM-11: whether `req` would start a transaction the full table has no room
    /// for (an ACK or a retransmission of a known request always passes: neither adds
    /// an entry).
    pub(crate) fn transaction_table_full(&self, req: &Request) -> bool {
        req.method != Method::Ack
            && self.tx.len() >= self.config.caps.max_transactions
            && !self.tx.knows_request(req)
    }

    /// LIM-11: answers `req` 503 with `Retry-After` straight on `flow`, without a
    /// transaction (a retransmission of it gets the same answer again).
    pub(crate) fn refuse_without_transaction(&mut self, flow: Flow, req: &Request) {
        let why = Refusal::Overloaded;
        tracing::debug!(
            method = %req.method,
            call_id = %req.headers.call_id,
            reason = why.reason(),
            "request refused without a transaction"
        );
        let mut resp = Response::to_request(req, why.status());
        if let Some(phrase) = why.phrase() {
            resp.reason = phrase.to_owned();
        }
        let tag = self.ids.tag();
        resp.headers.to.set_tag(&tag);
        resp.headers.other.extend(self.cap_headers(why));
        self.out.transmit(flow, SipMessage::Response(resp));
    }

    /// LIM-12: whether the session table has room for one more session.
    pub(crate) fn session_table_full(&self) -> bool {
        self.sessions.len() >= self.config.caps.max_sessions
    }

    /// The headers a refusal for a full table carries (`Retry-After`, RFC 3261
    /// §21.5.4); none for other refusals.
    pub(crate) fn cap_headers(&self, why: Refusal) -> Vec<(String, String)> {
        if why == Refusal::Overloaded {
            vec![(
                "Retry-After".to_owned(),
                self.config.caps.retry_after_s.to_string(),
            )]
        } else if why == Refusal::DeferredQueueFull {
            // DEF-6: the recipient's queue is full; never a silent loss.
            vec![(
                "Retry-After".to_owned(),
                self.config.deferred.retry_after_s.to_string(),
            )]
        } else {
            Vec::new()
        }
    }
}

/// LIM-13: the refusal a new chat message gets from a session's log under the caps,
/// if any.
pub(crate) fn chat_admission(log: &ChatLog, caps: &CoreCaps) -> Option<ChatFailure> {
    if log.seen_count() >= caps.max_messages_per_session {
        return Some(ChatFailure::SessionFull);
    }
    if log.pending.len() >= caps.max_pending_per_session {
        return Some(ChatFailure::SessionBusy);
    }
    None
}
