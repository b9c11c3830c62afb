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

use std::fmt;

use super::keys::{LegKey, TxKey};
use crate::ids::SessionId;
use crate::uri::UserUri;

/// A named timer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
