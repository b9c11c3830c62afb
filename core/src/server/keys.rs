//! The keys the server files its state under: [`TxKey`] (a transaction, RFC 3261
//! §17 matching) and [`LegKey`] (the server's end of one dialog). Small values that
//! timers, transactions, legs and sessions all name, so they sit below all of them.

use std::fmt;
use std::sync::Arc;

use crate::ids::{CallId, Tag};
use crate::sip::{Method, Request};

/// Identifies a transaction: RFC 3261 §17.1.3 / §17.2.3 matching (branch, sent-by for
/// server transactions, and method, with ACK matching INVITE).
///
/// Every transaction's timers name it, so it is cloned and compared on every arm,
/// disarm and lookup, in tables holding tens of thousands (each finished transaction
/// lingers 64·T1). So it is shared (a clone is a reference count) and leads with a
/// digest of its parts, held in the key itself rather than behind the shared pointer:
/// two keys almost always differ in that first word, so a comparison at each level of
/// a B-tree is one integer compare, with no pointer followed and no call into the
/// parts' comparison (`TxParts::cmp` and the timers' `Timer::cmp` were ~2% of the
/// loop's samples, `bench/README.md`, session 9's profile). The digest is a function
/// of the parts, so equality, hashing and determinism are those of the parts; only
/// the order of keys in a map is the digest's (any fixed order will do), the same
/// order as when the digest led the shared parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey {
    /// Field order is comparison order: the digest first.
    digest: u64,
    parts: Arc<TxParts>,
}

/// What a [`TxKey`] is made of besides its digest; field order is comparison order
/// (consulted only when two digests are equal).
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TxParts {
    server: bool,
    branch: Box<str>,
    sent_by: Box<str>,
    method: Method,
}

impl fmt::Display for TxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = if self.parts.server { "uas" } else { "uac" };
        write!(f, "{side}:{}:{}", self.parts.method, self.parts.branch)
    }
}

impl TxKey {
    fn new(server: bool, branch: Box<str>, sent_by: Box<str>, method: Method) -> Self {
        Self {
            digest: digest(server, &branch, &sent_by, &method),
            parts: Arc::new(TxParts {
                server,
                branch,
                sent_by,
                method,
            }),
        }
    }

    /// Bytes the key keeps on the heap (its shared parts; clones share them).
    pub(crate) fn retained_bytes(&self) -> usize {
        // Two reference counts lead an `Arc`'s allocation.
        2 * std::mem::size_of::<usize>()
            + std::mem::size_of::<TxParts>()
            + self.parts.branch.len()
            + self.parts.sent_by.len()
    }

    /// Whether this is a server transaction (one the server answers).
    pub(crate) fn is_server(&self) -> bool {
        self.parts.server
    }

    /// Server-transaction key of a received request (ACK and CANCEL are matched by the
    /// caller against INVITE where needed).
    pub(crate) fn for_server(req: &Request) -> Self {
        let via = req.headers.via.first();
        let branch = via.and_then(|v| v.branch()).unwrap_or_default();
        // RFC 2543 clients send no magic-cookie branch; fall back to the Call-ID and
        // CSeq number so their retransmissions are still recognised.
        let branch: Box<str> = if branch.starts_with("z9hG4bK") {
            branch.into()
        } else {
            format!("{branch}|{}|{}", req.headers.call_id, req.headers.cseq.seq).into()
        };
        // `host:port`, written into one buffer: this runs for every request received.
        let sent_by: Box<str> = via
            .map(|v| {
                let mut s = String::with_capacity(32);
                crate::wire::uri::write_host(&mut s, &v.host);
                s.push(':');
                crate::wire::decimal::push_decimal(&mut s, u64::from(v.port.unwrap_or(5060)));
                s
            })
            .unwrap_or_default()
            .into();
        Self::new(true, branch, sent_by, ack_as_invite(&req.method))
    }

    pub(crate) fn for_client(branch: &str, method: &Method) -> Self {
        Self::new(false, branch.into(), "".into(), ack_as_invite(method))
    }

    /// The key of the INVITE server transaction a CANCEL refers to (same branch and
    /// sent-by, RFC 3261 §9.2).
    pub(crate) fn invite_of_cancel(&self) -> Self {
        Self::new(
            self.parts.server,
            self.parts.branch.clone(),
            self.parts.sent_by.clone(),
            Method::Invite,
        )
    }
}

/// FNV-1a over the parts of a key: fixed (no per-process seed), so the order of
/// keys is the same in every run and in the model.
fn digest(server: bool, branch: &str, sent_by: &str, method: &Method) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(&[u8::from(server)]);
    eat(branch.as_bytes());
    eat(sent_by.as_bytes());
    eat(method.as_str().as_bytes());
    h
}

/// The server's end of one dialog (one leg of a session): Call-ID and the server's
/// own tag, which the server chose and which is therefore unique per leg.
///
/// Every table that files something per leg names it (the legs, their sessions, the
/// MSRP endpoints and the index of their session-ids, the connections they are bound
/// to), so it is shared: a clone is a reference count, and an idle session keeps one
/// copy of each leg's Call-ID and tag instead of one per table. Equality, hashing and
/// order are those of the parts (Call-ID, then tag), as before it was shared.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegKey(Arc<LegParts>);

/// What a [`LegKey`] is made of; field order is comparison order.
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
struct LegParts {
    call_id: CallId,
    local_tag: Tag,
}

impl LegKey {
    /// The key of the dialog with this Call-ID and server's tag.
    pub(crate) fn new(call_id: CallId, local_tag: Tag) -> Self {
        Self(Arc::new(LegParts { call_id, local_tag }))
    }

    /// The dialog's Call-ID.
    pub(crate) fn call_id(&self) -> &CallId {
        &self.0.call_id
    }

    /// The server's tag on the dialog.
    pub(crate) fn local_tag(&self) -> &Tag {
        &self.0.local_tag
    }
}

impl fmt::Debug for LegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegKey")
            .field("call_id", &self.0.call_id)
            .field("local_tag", &self.0.local_tag)
            .finish()
    }
}

impl fmt::Display for LegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};tag={}", self.0.call_id, self.0.local_tag)
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
