//! The keys the server files its state under: [`TxKey`] (a transaction, RFC 3261
//! §17 matching) and [`LegKey`] (the server's end of one dialog). Small values that
//! timers, transactions, legs and sessions all name, so they sit below all of them.

use std::fmt;

use crate::ids::{CallId, Tag};
use crate::sip::{Method, Request};

/// Identifies a transaction: RFC 3261 §17.1.3 / §17.2.3 matching (branch, sent-by for
/// server transactions, and method, with ACK matching INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey {
    pub(crate) server: bool,
    branch: String,
    sent_by: String,
    method: String,
}

impl fmt::Display for TxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = if self.server { "uas" } else { "uac" };
        write!(f, "{side}:{}:{}", self.method, self.branch)
    }
}

impl TxKey {
    /// Server-transaction key of a received request (ACK and CANCEL are matched by the
    /// caller against INVITE where needed).
    pub(crate) fn for_server(req: &Request) -> Self {
        let via = req.headers.via.first();
        let branch = via.and_then(|v| v.branch()).unwrap_or_default();
        // RFC 2543 clients send no magic-cookie branch; fall back to the Call-ID and
        // CSeq number so their retransmissions are still recognised.
        let branch = if branch.starts_with("z9hG4bK") {
            branch.to_owned()
        } else {
            format!("{branch}|{}|{}", req.headers.call_id, req.headers.cseq.seq)
        };
        let sent_by = via
            .map(|v| format!("{}:{}", v.host, v.port.unwrap_or(5060)))
            .unwrap_or_default();
        let method = ack_as_invite(&req.method);
        Self {
            server: true,
            branch,
            sent_by,
            method: method.as_str().to_owned(),
        }
    }

    pub(crate) fn for_client(branch: &str, method: &Method) -> Self {
        let method = ack_as_invite(method);
        Self {
            server: false,
            branch: branch.to_owned(),
            sent_by: String::new(),
            method: method.as_str().to_owned(),
        }
    }

    /// The key of the INVITE server transaction a CANCEL refers to (same branch and
    /// sent-by, RFC 3261 §9.2).
    pub(crate) fn invite_of_cancel(&self) -> Self {
        Self {
            method: "INVITE".into(),
            ..self.clone()
        }
    }
}

/// The server's end of one dialog (one leg of a session): Call-ID and the server's
/// own tag, which the server chose and which is therefore unique per leg.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegKey {
    pub(crate) call_id: CallId,
    pub(crate) local_tag: Tag,
}

impl fmt::Display for LegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};tag={}", self.call_id, self.local_tag)
    }
}

/// ACK belongs to the INVITE transaction (RFC 3261 §17.2.3); every other method is
/// its own.
pub(crate) fn ack_as_invite(method: &Method) -> Method {
    if *method == Method::Ack {
        Method::Invite
    } else {
        method.clone()
    }
}
