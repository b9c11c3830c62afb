//! The independence relation of the depth-first search's sleep sets (`dfs.rs`): which
//! two actions enabled in a state commute, decided from what each one reads and
//! writes (its *footprint*), never by stepping them.
//!
//! What it is not: a reduction of its own. A sleep set prunes a transition whose
//! target the search reaches by another order; it never removes a state (`dfs.rs`).
//! And it is not the ample sets' relation (`model/por.rs`, which decides which
//! actions a state offers at all): that one is argued per class of receipt and
//! checked by `por_check`; this one is coarser (an actor-level footprint) and
//! checked by this module's tests.
//!
//! **Footprints.** Each action gets a set of resources; two actions are independent
//! in a state when their sets are disjoint and they are not two fates of the same
//! packet. The resources: the server (its value, the store's pending requests, the
//! server's timers and every ghost field the observers of a server input write or
//! read), each terminal's state, and each fault budget (losses, duplications,
//! retransmissions, store failures). Why each action's set covers what it touches
//! (`model.rs`, `step_alone`, `terminal_request`, `terminal_response`):
//!
//! * A server input (a delivery to the server, a timer, the store's answer): the
//!   server. Its output goes onto the network as packets to terminals. What of a
//!   terminal the observers read (its dialogs' Call-IDs and the focus it talks to:
//!   `one_call_of`, `group_call_of`, `check_focus_record`; A's `silent`) is written
//!   only by actions that count as the server too (below). A chat send
//!   (`handle_chat`) is the server's input and its sender's move: both.
//! * A delivery to terminal `t`: `t`'s state. It takes its packet off the network
//!   and puts at most one answer towards the server on it. It counts as the server
//!   (and B and C) when its packet is an INVITE (the receipt sets a dialog the
//!   observers read, and reads the other invitees' for `Reached::GroupJoined`), or a
//!   response to an INVITE that sets a dialog the observers read (all but A's
//!   1-to-1, whose Call-ID they know as a constant) or whose ACK goes in at once
//!   (`eager_acks` with no retransmission left: the ACK is the server's input in
//!   the same step).
//! * A's decision to ignore a BYE sets `silent`, which the seal's observer reads: the
//!   server and A. C's refusal of the group's INVITE: the server, B and C.
//! * A terminal's own move (its BYE, its leave, the extension, the CANCEL): that
//!   terminal; its retransmission also the retransmission budget; the attack also A
//!   (it reads A's dialog) and the server.
//! * A loss or a duplication: its budget and the terminals at either end of the
//!   packet (B's lost BYE is a ghost flag B's retransmission reads).
//! * Anything of Mallory's (her moves, her packets' fates) also counts as the server:
//!   once her traffic is over the server forgets her transaction in the same step
//!   (`spent_attack.rs`).
//! * With `eager_acks`, an action that spends the last retransmission while an ACK
//!   is on its way to the server delivers it in the same step: it counts as
//!   everything. (The ACKs sent after it go in at once; that is the receipts'
//!   clause above, and the server takes them after the retransmission in either
//!   order.)
//!
//! **Why disjoint footprints commute.** The network over UDP is a sorted multiset and
//! over TCP in the canonical order (`por`, `por_check`) sorted by connection with a
//! FIFO order within each; an action takes only its own packet off and puts packets
//! only on connections of the actors it touches (a terminal's towards the server,
//! the server's towards terminals), so two actions with disjoint footprints leave
//! the same network in either order and neither takes the other's packet. Over TCP
//! in send order the network records which went first: there every action counts as
//! everything (no independence). Ghost writes of terminal steps are flags set and
//! sorted insertions, which commute. Neither disables the other: what enables an
//! action (`enabled`) reads only its own footprint (its packet, its terminal, its
//! budget, the server's timers and store). Where the setup has MSRP, a restart, a
//! group race or a REFER (a terminal's receipt calls back into the server, or a
//! focus reads the terminals' dialogs), every action counts as everything, as the
//! ample sets are off there.
//!
//! **Tested, not assumed**: `tests::independent_actions_commute` takes, at every
//! state of several exhausted configurations, every pair this relation calls
//! independent, and asserts that each stays enabled after the other and that both
//! orders reach the same state.

use cpmd_core::server::Transport;
use cpmd_core::sip::{Method, SipMessage};
use cpmd_core::Timer;

use crate::model::{on_packet, Action, CpmModel, Node, Packet, Races, State};
use crate::terminal::Term;

/// What an action touches: resource bits, and the packet it is a fate of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    bits: u16,
    packet: Option<usize>,
}

const SERVER: u16 = 1;
const DROPS: u16 = 1 << 5;
const DUPS: u16 = 1 << 6;
const RETRANSMITS: u16 = 1 << 7;
const STORE_FAILS: u16 = 1 << 8;
const ALL: u16 = u16::MAX;

fn term(t: Term) -> u16 {
    2 << t.index()
}

/// The terminals at either end of a packet.
fn ends(p: &Packet) -> u16 {
    [p.src, p.dst]
        .into_iter()
        .map(|n| match n {
            Node::T(t) => term(t),
            Node::Server => 0,
        })
        .fold(0, |a, b| a | b)
}

/// Whether the relation has anything to say in this setup (module docs): the setups
/// the ample sets are argued for, over UDP or over TCP in the canonical order.
pub fn covered(model: &CpmModel) -> bool {
    let s = &model.setup;
    let plain = !s.msrp && s.restarts == 0 && !s.refers && s.races == Races::default();
    plain && (s.transport == Transport::Udp || s.por || s.por_check)
}

/// The footprints of `actions` (enabled in `st`), in their order.
pub fn footprints(model: &CpmModel, st: &State, actions: &[Action]) -> Vec<Footprint> {
    if !covered(model) {
        let all = Footprint {
            bits: ALL,
            packet: None,
        };
        return vec![all; actions.len()];
    }
    actions.iter().map(|a| footprint(model, st, a)).collect()
}

/// Whether two actions of the same state commute (module docs).
pub fn independent(a: &Footprint, b: &Footprint) -> bool {
    a.bits & b.bits == 0 && (a.packet.is_none() || a.packet != b.packet)
}

/// A terminal's receipt of packet `p` counts as the server's too (module docs): an
/// INVITE sets a dialog the observers read and reads the other invitees'; a response
/// to an INVITE makes the terminal send an ACK, which goes in at once when `eager`,
/// and sets a dialog the observers read unless it is A's 1-to-1 (whose Call-ID they
/// know as a constant).
fn receipt_is_server(p: &Packet, eager: bool) -> bool {
    match &*p.msg {
        SipMessage::Request(r) => r.method == Method::Invite,
        SipMessage::Response(r) => {
            r.headers.cseq.method == Method::Invite
                && (eager || r.headers.call_id.as_str() != crate::terminal::A_ONE_CALL)
        }
    }
}

fn footprint(model: &CpmModel, st: &State, a: &Action) -> Footprint {
    let s = &model.setup;
    let udp = s.transport == Transport::Udp;
    // ACKs go in at once (`eager_ack.rs`).
    let eager = s.eager_acks && udp && st.budget.retransmits == 0;
    // Spending the last retransmission delivers every ACK in flight at once.
    let last_retransmission = s.eager_acks
        && udp
        && st.budget.retransmits == 1
        && st.net.iter().any(|p| {
            p.dst == Node::Server
                && matches!(&*p.msg, SipMessage::Request(r) if r.method == Method::Ack)
        });
    let (bits, packet) = match a {
        Action::Deliver(i) => {
            let p = &st.net[*i];
            let bits = match (p.src, p.dst) {
                (Node::T(_), Node::Server) => SERVER,
                (Node::Server, Node::T(t)) if receipt_is_server(p, eager) => {
                    SERVER | term(t) | term(Term::B) | term(Term::C)
                }
                (Node::Server, Node::T(t)) => term(t),
                _ => ALL,
            };
            (bits, Some(*i))
        }
        Action::IgnoreBye(i) => (SERVER | term(Term::A), Some(*i)),
        Action::Drop(i) => (DROPS | ends(&st.net[*i]), Some(*i)),
        Action::Duplicate(i) => (DUPS | ends(&st.net[*i]), Some(*i)),
        Action::Decline(i) | Action::NoAnswer(i) => {
            (SERVER | term(Term::B) | term(Term::C), Some(*i))
        }
        Action::Fire(Timer::Retransmit(_) | Timer::Retransmit2xx(_)) if last_retransmission => {
            (ALL, None)
        }
        Action::Fire(Timer::Retransmit(_) | Timer::Retransmit2xx(_)) => {
            (SERVER | RETRANSMITS, None)
        }
        Action::Fire(_) | Action::StoreOk(_) => (SERVER, None),
        Action::StoreFail(_) => (SERVER | STORE_FAILS, None),
        Action::Chat(t, _) => (SERVER | term(*t), None),
        Action::Extend | Action::Cancel => (term(Term::A), None),
        Action::Bye(t) | Action::Leave(t) => (term(*t), None),
        Action::Retransmit(_) if last_retransmission => (ALL, None),
        Action::Retransmit(t) => (term(*t) | RETRANSMITS, None),
        Action::Attack => (SERVER | term(Term::M) | term(Term::A), None),
        Action::ChunkEnd(_)
        | Action::Abort(_)
        | Action::Refer(_)
        | Action::Race(_)
        | Action::Restart(_)
        | Action::WrongPath(_)
        | Action::MsrpBreak(_)
        | Action::MsrpRebind(_) => (ALL, None),
    };
    // Mallory's traffic ending makes the server forget her transaction in the
    // same step (`spent_attack.rs`).
    let bits = if bits & term(Term::M) != 0
        || packet.is_some_and(|i| ends(&st.net[i]) & term(Term::M) != 0)
    {
        bits | SERVER
    } else {
        bits
    };
    Footprint { bits, packet }
}

/// Whether action `a` of state `sa` and action `b` of state `sb` are the same move:
/// the same kind on an equal packet (a packet's index moves from state to state), or
/// the same action.
pub fn same(sa: &State, a: &Action, sb: &State, b: &Action) -> bool {
    match (on_packet(a), on_packet(b)) {
        (Some(i), Some(j)) => {
            std::mem::discriminant(a) == std::mem::discriminant(b) && sa.net[i] == sb.net[j]
        }
        (None, None) => a == b,
        _ => false,
    }
}

/// The index in `actions` (of state `to`) of the move `a` of state `from`.
pub fn find(from: &State, a: &Action, to: &State, actions: &[Action]) -> Option<usize> {
    actions.iter().position(|b| same(from, a, to, b))
}

#[cfg(test)]
/// The configurations of the sleep sets' tests: UDP with a loss and a
/// retransmission (with `eager_acks` and a silent A too), the extension over UDP,
/// the attack over UDP with `eager_acks` (no retransmission: every ACK goes in
/// at once), and over TCP (in send order without the ample sets, canonical with).
pub(crate) fn test_setups() -> Vec<(&'static str, crate::model::Setup)> {
    use crate::model::Setup;
    let udp = |s: Setup| Setup {
        transport: cpmd_core::server::Transport::Udp,
        ..s
    };
    vec![
        ("lossy", crate::configs::lossy()),
        (
            "lossy eager silent",
            Setup {
                eager_acks: true,
                silent_a: true,
                ..crate::configs::lossy()
            },
        ),
        ("extension udp", udp(crate::configs::extension())),
        (
            "attack udp eager",
            Setup {
                eager_acks: true,
                ..udp(crate::configs::attack())
            },
        ),
        // Over TCP: in send order without the ample sets, canonical with them.
        ("glare", crate::configs::glare()),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use stateright::Model;

    use super::{find, footprints, independent, Footprint};
    use crate::model::{CpmModel, Setup, State};

    fn fingerprint(st: &State) -> u64 {
        foldhash::quality::FixedState::with_seed(0).hash_one(st)
    }

    /// Checks the relation at every reachable state of `model` (its `actions`, so
    /// the reduced graph when the ample sets are on); the number of independent
    /// pairs checked.
    fn check(model: &CpmModel) -> usize {
        check_with(model, &independent)
    }

    /// `check` with another relation (to show the check catches a wrong one).
    fn check_with(model: &CpmModel, independent: &dyn Fn(&Footprint, &Footprint) -> bool) -> usize {
        let mut seen = HashSet::new();
        let mut stack: Vec<State> = model.init_states();
        let mut pairs = 0;
        while let Some(st) = stack.pop() {
            if !seen.insert(fingerprint(&st)) {
                continue;
            }
            // The relation is a claim about the full graph: every enabled action.
            let mut all = Vec::new();
            model.enabled(&st, &mut all);
            let fps = footprints(model, &st, &all);
            for i in 0..all.len() {
                for j in i + 1..all.len() {
                    if !independent(&fps[i], &fps[j]) {
                        continue;
                    }
                    pairs += 1;
                    let (a, b) = (&all[i], &all[j]);
                    let sa = model.step(&st, a, &mut None);
                    let sb = model.step(&st, b, &mut None);
                    let (mut after_a, mut after_b) = (Vec::new(), Vec::new());
                    model.enabled(&sa, &mut after_a);
                    model.enabled(&sb, &mut after_b);
                    let b2 = find(&st, b, &sa, &after_a)
                        .unwrap_or_else(|| panic!("{a:?} disables {b:?} in {st:?}"));
                    let a2 = find(&st, a, &sb, &after_b)
                        .unwrap_or_else(|| panic!("{b:?} disables {a:?} in {st:?}"));
                    let ab = model.step(&sa, &after_a[b2], &mut None);
                    let ba = model.step(&sb, &after_b[a2], &mut None);
                    assert!(ab == ba, "{a:?} and {b:?} do not commute in {st:?}");
                }
            }
            let mut next = Vec::new();
            model.actions(&st, &mut next);
            for a in next {
                stack.push(model.step(&st, &a, &mut None));
            }
        }
        pairs
    }

    #[test]
    fn independent_actions_commute() {
        for (name, setup) in super::test_setups() {
            for (por, por_server) in [(false, false), (true, false), (true, true)] {
                let model = CpmModel::new(Setup {
                    por,
                    por_server,
                    ..setup
                });
                let pairs = check(&model);
                eprintln!("{name} por={por}: {pairs} independent pairs commute");
                // Over TCP in send order nothing is independent.
                assert_eq!(pairs > 0, super::covered(&model), "{name}");
            }
        }
    }

    /// The check is not vacuous: a relation that ignores the footprints (any two
    /// actions on different packets, or on none, independent) fails it in `lossy`.
    #[test]
    #[should_panic(expected = "do not commute")]
    fn the_check_fails_on_a_wrong_relation() {
        let model = CpmModel::new(crate::configs::lossy());
        check_with(&model, &|a, b| a.packet.is_none() || a.packet != b.packet);
    }
}
