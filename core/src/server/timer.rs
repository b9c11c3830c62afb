//! Named timers. Each armed timer has one deadline in the server's table; the
//! runtime fires every due timer with `handle_timeout(now)`, the model fires any
//! armed timer by name with `expire(timer)`, which is how an untimed model explores
//! every order of timeouts and messages.
//!
//! | timer | RFC 3261 names | armed when | on expiry |
//! |---|---|---|---|
//! | `Retransmit(tx)` | A, E, G | a request or final response is sent over UDP | resend, double the interval (capped at T2 for E/G) |
//! | `Timeout(tx)` | B, C, F, H | a client transaction starts (B, F) / an INVITE client transaction gets a provisional response (C, re-armed with `timer_c_ms`, RFC 3261 §16.6 item 11) / an INVITE server transaction sends a non-2xx (H) | the transaction fails (408 to its owner; after C the INVITE is cancelled) |
//! | `Linger(tx)` | D, I, J, K, L, M | the transaction completed | the transaction is forgotten |
//! | `Retransmit2xx(leg)` | §13.3.1.4 | the server sent a 2xx to an INVITE over UDP | resend the 2xx until the ACK; give up after 64·T1 |
//! | `ByeWait(session)` | CPM (TERM-2) | a BYE was relayed | stop waiting for the answer, seal |
//! | `ReplacedBye(session)` | CPM (TERM-3) | B joined the group that replaces the 1-to-1 | end the 1-to-1 from the server |
//! | `BindingExpiry(user, contact)` | §10 | a binding is registered or refreshed | remove the binding |
//! | `HeldAnswer(tx)` | SEC-4f | a wrong password's answer is delayed | send the held answer |
//! | `SubscriptionExpiry(dialog)` | RFC 6665 §4.2.2 (GRP-11) | a conference subscription is made or refreshed | terminated NOTIFY (`reason=timeout`), the subscription ends |
//! | `DeferredExpiry(user, id)` | DEF-7 | a deferred message is durable (or restored) | drop it, `failed` to its sender |

use std::cmp::Ordering;
use std::fmt;

use super::keys::{LegKey, TxKey};
use crate::ids::SessionId;
use crate::uri::UserUri;

/// A named timer.
///
/// Its order is the one `derive(Ord)` gives (variant in declaration order, then the
/// fields), written out by hand (`Ord` below) so that a comparison is a few inline
/// instructions: the two timer tables compare timers at every level of their B-trees,
/// tens of thousands of them on a busy server, and the derived comparison was an
/// out-of-line call of ~56 instructions each (`Timer::cmp`, 7k instructions per
/// 1-to-1 session in `bench/core_ir.sh`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Timers A, E, G.
    Retransmit(TxKey),
    /// Timers B, F, H.
    Timeout(TxKey),
    /// Timers D, I, J, K, L, M.
    Linger(TxKey),
    /// 2xx retransmission to an INVITE over UDP until the ACK arrives.
    Retransmit2xx(LegKey),
    /// How long the server waits for the answer to a relayed BYE.
    ByeWait(SessionId),
    /// How long after B joined the group the server waits for B's BYE.
    ReplacedBye(SessionId),
    /// A registration binding's expiry.
    BindingExpiry(UserUri, String),
    /// A failing authentication answer held back (SEC-4f).
    HeldAnswer(TxKey),
    /// A conference-event subscription's expiry (GRP-11), by its dialog.
    SubscriptionExpiry(LegKey),
    /// A deferred message's expiry (recipient, queue id; DEF-7).
    DeferredExpiry(UserUri, String),
}

impl Timer {
    /// The variant's place in the declaration, which leads the order.
    #[inline]
    fn rank(&self) -> u8 {
        match self {
            Timer::Retransmit(_) => 0,
            Timer::Timeout(_) => 1,
            Timer::Linger(_) => 2,
            Timer::Retransmit2xx(_) => 3,
            Timer::ByeWait(_) => 4,
            Timer::ReplacedBye(_) => 5,
            Timer::BindingExpiry(..) => 6,
            Timer::HeldAnswer(_) => 7,
            Timer::SubscriptionExpiry(_) => 8,
            Timer::DeferredExpiry(..) => 9,
        }
    }
}

impl Ord for Timer {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Timer::Retransmit(a), Timer::Retransmit(b))
            | (Timer::Timeout(a), Timer::Timeout(b))
            | (Timer::Linger(a), Timer::Linger(b))
            | (Timer::HeldAnswer(a), Timer::HeldAnswer(b)) => a.cmp(b),
            (Timer::Retransmit2xx(a), Timer::Retransmit2xx(b))
            | (Timer::SubscriptionExpiry(a), Timer::SubscriptionExpiry(b)) => a.cmp(b),
            (Timer::ByeWait(a), Timer::ByeWait(b))
            | (Timer::ReplacedBye(a), Timer::ReplacedBye(b)) => a.cmp(b),
            (Timer::BindingExpiry(u, c), Timer::BindingExpiry(v, d))
            | (Timer::DeferredExpiry(u, c), Timer::DeferredExpiry(v, d)) => {
                u.cmp(v).then_with(|| c.cmp(d))
            }
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Timer {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Retransmit(k) => write!(f, "retransmit({k})"),
            Timer::Timeout(k) => write!(f, "timeout({k})"),
            Timer::Linger(k) => write!(f, "linger({k})"),
            Timer::Retransmit2xx(l) => write!(f, "retransmit-2xx({l})"),
            Timer::ByeWait(s) => write!(f, "bye-wait({s})"),
            Timer::ReplacedBye(s) => write!(f, "replaced-bye({s})"),
            Timer::BindingExpiry(u, c) => write!(f, "binding-expiry({u}, {c})"),
            Timer::HeldAnswer(k) => write!(f, "held-answer({k})"),
            Timer::SubscriptionExpiry(l) => write!(f, "subscription-expiry({l})"),
            Timer::DeferredExpiry(u, id) => write!(f, "deferred-expiry({u}, {id})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CallId, Tag};
    use crate::sip::Method;
    use proptest::prelude::*;

    /// The order `derive(Ord)` gives a `Timer`: the same variants over references to
    /// the same fields.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Derived<'a> {
        Retransmit(&'a TxKey),
        Timeout(&'a TxKey),
        Linger(&'a TxKey),
        Retransmit2xx(&'a LegKey),
        ByeWait(SessionId),
        ReplacedBye(SessionId),
        BindingExpiry(&'a UserUri, &'a String),
        HeldAnswer(&'a TxKey),
        SubscriptionExpiry(&'a LegKey),
        DeferredExpiry(&'a UserUri, &'a String),
    }

    fn derived(t: &Timer) -> Derived<'_> {
        match t {
            Timer::Retransmit(k) => Derived::Retransmit(k),
            Timer::Timeout(k) => Derived::Timeout(k),
            Timer::Linger(k) => Derived::Linger(k),
            Timer::Retransmit2xx(l) => Derived::Retransmit2xx(l),
            Timer::ByeWait(s) => Derived::ByeWait(*s),
            Timer::ReplacedBye(s) => Derived::ReplacedBye(*s),
            Timer::BindingExpiry(u, c) => Derived::BindingExpiry(u, c),
            Timer::HeldAnswer(k) => Derived::HeldAnswer(k),
            Timer::SubscriptionExpiry(l) => Derived::SubscriptionExpiry(l),
            Timer::DeferredExpiry(u, id) => Derived::DeferredExpiry(u, id),
        }
    }

    fn timer() -> impl Strategy<Value = Timer> {
        (0..10u8, "[ab]{0,2}", "[ab]{0,2}", 0..3u64).prop_map(|(variant, x, y, n)| {
            let tx = || TxKey::for_client(&format!("z9hG4bK{x}"), &Method::Invite);
            let leg = || LegKey::new(CallId::new(x.as_str()), Tag::new(y.as_str()));
            let user = || UserUri::new_canonical(format!("sip:{x}@example.com"));
            match variant {
                0 => Timer::Retransmit(tx()),
                1 => Timer::Timeout(tx()),
                2 => Timer::Linger(tx()),
                3 => Timer::Retransmit2xx(leg()),
                4 => Timer::ByeWait(SessionId::new(n)),
                5 => Timer::ReplacedBye(SessionId::new(n)),
                6 => Timer::BindingExpiry(user(), y.clone()),
                7 => Timer::HeldAnswer(tx()),
                8 => Timer::SubscriptionExpiry(leg()),
                _ => Timer::DeferredExpiry(user(), y.clone()),
            }
        })
    }

    proptest! {
        /// The written-out order is the derived one (which the model's exploration
        /// and the firing of timers due at the same time follow), and agrees with
        /// equality.
        #[test]
        fn timers_order_as_derived(a in timer(), b in timer()) {
            prop_assert_eq!(a.cmp(&b), derived(&a).cmp(&derived(&b)));
            prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
            prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        }
    }
}
