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
///
/// `Ord` and `PartialEq` are written out (the derived ones' results: digest, then
/// the parts) so that they inline into the tables' searches, and two clones of one
/// key (one shared allocation) are equal without comparing their strings.
#[derive(Debug, Clone)]
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

    /// Whether this is the server's client transaction of `method` on `branch` (the
    /// one a response with that top Via branch answers). Read-only, for checkers
    /// outside the core (the model's partial-order reduction).
    pub fn is_client_of(&self, method: &Method, branch: &str) -> bool {
        !self.parts.server && self.parts.method == *method && &*self.parts.branch == branch
    }

    /// Whether this is the server transaction that a request of `method` with top
    /// Via `branch` (magic cookie included) opened. Read-only, for checkers outside
    /// the core (the model's forgetting of a transaction nothing can reach).
    pub fn is_server_of(&self, method: &Method, branch: &str) -> bool {
        self.parts.server && self.parts.method == *method && &*self.parts.branch == branch
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
                crate::decimal::push_decimal(&mut s, u64::from(v.port.unwrap_or(5060)));
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
    fnv(&[
        &[u8::from(server)],
        branch.as_bytes(),
        sent_by.as_bytes(),
        method.as_str().as_bytes(),
    ])
}

/// [`LegKey`]'s digest: FNV-1a over the Call-ID and the server's tag.
fn leg_digest(call_id: &CallId, local_tag: &Tag) -> u64 {
    fnv(&[call_id.as_str().as_bytes(), local_tag.as_str().as_bytes()])
}

/// FNV-1a over `parts`, each followed by a separator so ("ab", "c") and ("a", "bc")
/// differ.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The server's end of one dialog (one leg of a session): Call-ID and the server's
/// own tag, which the server chose and which is therefore unique per leg.
///
/// Every table that files something per leg names it (the legs, their sessions, the
/// MSRP endpoints and the index of their session-ids, the connections they are bound
/// to), so it is shared: a clone is a reference count, and an idle session keeps one
/// copy of each leg's Call-ID and tag instead of one per table. Like [`TxKey`] it
/// leads with a digest of its parts held in the key itself, so a comparison at each
/// level of a B-tree (the legs, the timers that name a leg, the MSRP tables) is one
/// integer compare rather than a pointer followed and two strings compared (those
/// comparisons were ~13% of the relay's loop instructions per MSRP message,
/// `bench/README.md`, session 11). Equality and hashing are those of the parts; the
/// order of keys in a map is the digest's, then the parts'.
///
/// `Ord` and `PartialEq` are written out as for [`TxKey`].
#[derive(Clone)]
pub struct LegKey {
    /// Field order is comparison order: the digest first.
    digest: u64,
    parts: Arc<LegParts>,
}

/// What a [`LegKey`] is made of; field order is comparison order.
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
struct LegParts {
    call_id: CallId,
    local_tag: Tag,
}

impl LegKey {
    /// The key of the dialog with this Call-ID and server's tag.
    pub(crate) fn new(call_id: CallId, local_tag: Tag) -> Self {
        Self {
            digest: leg_digest(&call_id, &local_tag),
            parts: Arc::new(LegParts { call_id, local_tag }),
        }
    }

    /// The dialog's Call-ID.
    pub(crate) fn call_id(&self) -> &CallId {
        &self.parts.call_id
    }

    /// The server's tag on the dialog.
    pub(crate) fn local_tag(&self) -> &Tag {
        &self.parts.local_tag
    }
}

impl fmt::Debug for LegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegKey")
            .field("call_id", &self.parts.call_id)
            .field("local_tag", &self.parts.local_tag)
            .finish()
    }
}

impl fmt::Display for LegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};tag={}", self.parts.call_id, self.parts.local_tag)
    }
}

/// The orders and equalities of the two keys: the digest, then (only when the
/// digests are equal) the parts, unless both keys share one allocation of parts. The
/// same results as `derive` gave (`Arc`'s comparisons are its value's), and the
/// same hash (the fields in order).
macro_rules! digest_first_order {
    ($key:ty) => {
        impl std::hash::Hash for $key {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.digest.hash(state);
                self.parts.hash(state);
            }
        }

        impl PartialEq for $key {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                self.digest == other.digest
                    && (Arc::ptr_eq(&self.parts, &other.parts) || self.parts == other.parts)
            }
        }

        impl Eq for $key {}

        impl Ord for $key {
            #[inline]
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                match self.digest.cmp(&other.digest) {
                    std::cmp::Ordering::Equal if Arc::ptr_eq(&self.parts, &other.parts) => {
                        std::cmp::Ordering::Equal
                    }
                    std::cmp::Ordering::Equal => self.parts.cmp(&other.parts),
                    unequal => unequal,
                }
            }
        }

        impl PartialOrd for $key {
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
    };
}

digest_first_order!(TxKey);
digest_first_order!(LegKey);

/// ACK belongs to the INVITE transaction (RFC 3261 §17.2.3); every other method is
/// its own.
pub(crate) fn ack_as_invite(method: &Method) -> Method {
    if *method == Method::Ack {
        Method::Invite
    } else {
        method.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;

    proptest! {
        /// The digest leads the order, so two leg keys are equal exactly when their
        /// parts are, and the order is total and consistent with equality (what a
        /// B-tree needs); keys that differ in only a boundary ("ab"+"c" against
        /// "a"+"bc") differ.
        #[test]
        fn leg_keys_are_equal_exactly_when_their_parts_are(
            a in "[a-c]{0,3}", b in "[a-c]{0,3}", c in "[a-c]{0,3}", d in "[a-c]{0,3}",
        ) {
            let x = LegKey::new(CallId::new(a.as_str()), Tag::new(b.as_str()));
            let y = LegKey::new(CallId::new(c.as_str()), Tag::new(d.as_str()));
            let same = a == c && b == d;
            prop_assert_eq!(x == y, same);
            prop_assert_eq!(x.cmp(&y) == Ordering::Equal, same);
            prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
            prop_assert_eq!(x.call_id().as_str(), a.as_str());
            prop_assert_eq!(x.local_tag().as_str(), b.as_str());
            // The written-out order and equality are the derived ones: the digest,
            // then the parts; a clone (the same allocation) is equal.
            let derived = (x.digest, &*x.parts).cmp(&(y.digest, &*y.parts));
            prop_assert_eq!(x.cmp(&y), derived);
            prop_assert_eq!(x.partial_cmp(&y), Some(derived));
            prop_assert_eq!(x.clone().cmp(&x), Ordering::Equal);
            prop_assert!(x.clone() == x);
        }

        /// Transaction keys too: order and equality are the digest's, then the
        /// parts' (server side, branch, sent-by, method), as derived.
        #[test]
        fn tx_keys_order_as_digest_then_parts(
            a in "[a-c]{0,3}", b in "[a-c]{0,3}", c in "[a-c]{0,3}", d in "[a-c]{0,3}",
            server in any::<bool>(), other_server in any::<bool>(), invite in any::<bool>(),
        ) {
            let method = if invite { Method::Invite } else { Method::Bye };
            let x = TxKey::new(server, a.as_str().into(), b.as_str().into(), method.clone());
            let y = TxKey::new(other_server, c.as_str().into(), d.as_str().into(), Method::Invite);
            let derived = (x.digest, &*x.parts).cmp(&(y.digest, &*y.parts));
            prop_assert_eq!(x.cmp(&y), derived);
            prop_assert_eq!(y.cmp(&x), derived.reverse());
            prop_assert_eq!(x == y, server == other_server && a == c && b == d && invite);
            prop_assert_eq!(x == y, derived == Ordering::Equal);
            prop_assert_eq!(x.clone().cmp(&x), Ordering::Equal);
        }
    }
}
