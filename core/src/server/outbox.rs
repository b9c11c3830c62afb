//! The queues every input writes into: commands, events and the timer table.
//! Inputs return nothing; they push here and the runtime drains with `poll_*`.
//!
//! The timer table is two structures: each armed timer's deadline (a map by timer,
//! which is the table's value: equality, hashing and [`Outbox::armed`] read only
//! it), and a min-heap of `(deadline, timer)` that finds the next one. The heap is
//! lazy: disarming or re-arming a timer leaves its old entry behind (a *leftover*,
//! one whose deadline the map no longer holds for its timer), skipped when it comes
//! to the top. Arming is then one map insert and a heap push (usually one
//! comparison: a new deadline is later than most), disarming one map removal;
//! the B-tree of `(deadline, timer)` it replaces cost one to two more searches per
//! arm and one more per disarm (~21k instructions per 1-to-1 session in
//! `bench/core_ir.sh`, session 13). Two rules keep the leftovers invisible:
//!
//! * the heap's top is never a leftover (whatever makes the top one drops it at
//!   once), so [`Outbox::next_deadline`] is exact;
//! * the heap is rebuilt from the map when leftovers outnumber the armed timers
//!   (plus a small slack), so it holds at most about twice the armed timers.
//!
//! What it is *not*: the leftovers are not state. Two outboxes with the same armed
//! timers are equal and hash the same whatever order of arms and disarms led there
//! (the model merges them; `equal_timers_whatever_the_order_of_arms_and_disarms`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::hash::{Hash, Hasher};

use super::output::{Command, Event, Flow};
use super::timer::Timer;
use crate::shared::Shared;
use crate::sip::SipMessage;
use crate::time::Time;

/// Leftovers allowed besides as many as there are armed timers before the heap is
/// rebuilt (so that a small table is not rebuilt at every other disarm).
const LEFTOVER_SLACK: usize = 64;

#[derive(Debug, Clone, Default)]
pub(crate) struct Outbox {
    pub(crate) commands: VecDeque<Command>,
    pub(crate) events: VecDeque<Event>,
    /// Each armed timer's deadline. Both tables are [`Shared`]: the model checker
    /// clones the server per state, and most steps arm or disarm nothing.
    timers: Shared<BTreeMap<Timer, Time>>,
    /// The armed timers by deadline (earliest on top), with leftovers (see the
    /// module doc): a busy server has tens of thousands armed (every finished
    /// transaction lingers 64·T1), and the runtime asks for the next deadline on
    /// every wake-up.
    by_deadline: Shared<BinaryHeap<Reverse<(Time, Timer)>>>,
}

/// Equality and hashing are the armed timers' (and the queues'), not the heap's:
/// its leftovers depend on the order of past arms and disarms, not on what is armed.
impl PartialEq for Outbox {
    fn eq(&self, other: &Self) -> bool {
        self.commands == other.commands
            && self.events == other.events
            && self.timers == other.timers
    }
}

impl Eq for Outbox {}

impl Hash for Outbox {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.commands.hash(state);
        self.events.hash(state);
        self.timers.hash(state);
    }
}

impl Outbox {
    pub(crate) fn transmit(&mut self, flow: Flow, message: SipMessage) {
        self.transmit_shared(flow, Shared::new(message));
    }

    /// Transmits a message the caller also keeps (one copy for both).
    pub(crate) fn transmit_shared(&mut self, flow: Flow, message: Shared<SipMessage>) {
        self.commands.push_back(Command::Transmit { flow, message });
    }

    pub(crate) fn command(&mut self, command: Command) {
        self.commands.push_back(command);
    }

    pub(crate) fn event(&mut self, event: Event) {
        // Events mark the session state changes (established, created, sealed,
        // ended): traced here once for all of them.
        tracing::trace!(?event, "event");
        self.events.push_back(event);
    }

    /// Arms (or re-arms) a timer.
    pub(crate) fn arm(&mut self, timer: Timer, at: Time) {
        let old = Shared::make_mut(&mut self.timers).insert(timer.clone(), at);
        if old == Some(at) {
            // Its entry in the heap is still the right one.
            return;
        }
        Shared::make_mut(&mut self.by_deadline).push(Reverse((at, timer.clone())));
        if let Some(old) = old {
            self.left_over(old, &timer);
        }
    }

    /// Disarms a timer; `true` if it was armed.
    pub(crate) fn disarm(&mut self, timer: &Timer) -> bool {
        match Shared::make_mut(&mut self.timers).remove(timer) {
            Some(at) => {
                self.left_over(at, timer);
                true
            }
            None => false,
        }
    }

    /// `timer`'s heap entry for deadline `at` has become a leftover: dropped at once
    /// if it is on top (the top is never a leftover), and the heap rebuilt when
    /// leftovers are too many.
    fn left_over(&mut self, at: Time, timer: &Timer) {
        let on_top = self
            .by_deadline
            .peek()
            .is_some_and(|Reverse((t, k))| *t == at && k == timer);
        if on_top {
            Shared::make_mut(&mut self.by_deadline).pop();
            self.settle();
        }
        let armed = self.timers.len();
        if self.by_deadline.len() > 2 * armed + LEFTOVER_SLACK {
            let fresh: BinaryHeap<_> = self
                .timers
                .iter()
                .map(|(t, at)| Reverse((*at, t.clone())))
                .collect();
            self.by_deadline = Shared::new(fresh);
        }
    }

    /// Drops leftovers from the top of the heap until an armed timer's entry (or
    /// nothing) is there.
    fn settle(&mut self) {
        while let Some(Reverse((at, timer))) = self.by_deadline.peek() {
            if self.timers.get(timer) == Some(at) {
                return;
            }
            Shared::make_mut(&mut self.by_deadline).pop();
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        self.by_deadline.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns the due timer with the earliest deadline (ties broken by the
    /// timer's order, so firing is deterministic).
    pub(crate) fn pop_due(&mut self, now: Time) -> Option<Timer> {
        let Reverse((at, _)) = self.by_deadline.peek()?;
        if *at > now {
            return None;
        }
        let Reverse((_, timer)) = Shared::make_mut(&mut self.by_deadline).pop()?;
        Shared::make_mut(&mut self.timers).remove(&timer);
        self.settle();
        Some(timer)
    }

    /// Armed timers and their deadlines, in timer order.
    pub(crate) fn armed(&self) -> impl Iterator<Item = (&Timer, Time)> + '_ {
        self.timers.iter().map(|(t, at)| (t, *at))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::*;
    use crate::ids::{ConnId, SessionId};
    use crate::sip::{Method, Request};
    use crate::testing;
    use crate::Transport;
    use proptest::prelude::*;

    fn flow(conn: u64) -> Flow {
        Flow {
            transport: Transport::Udp,
            conn: ConnId::new(conn),
            peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)),
        }
    }

    fn options() -> SipMessage {
        let uri = testing::host_uri("example.com");
        let headers = crate::sip::Headers::new(
            crate::sip::NameAddr::new(uri.clone()),
            crate::sip::NameAddr::new(uri.clone()),
            crate::ids::CallId::new("c"),
            crate::sip::CSeq {
                seq: 1,
                method: Method::Options,
            },
        );
        SipMessage::Request(Request {
            method: Method::Options,
            uri,
            headers,
            body: Vec::new(),
        })
    }

    fn bye_wait(n: u64) -> Timer {
        Timer::ByeWait(SessionId::new(n))
    }

    #[test]
    fn commands_leave_in_the_order_they_were_queued() {
        let mut out = Outbox::default();
        out.transmit(flow(1), options());
        out.command(Command::Transmit {
            flow: flow(2),
            message: Shared::new(options()),
        });
        out.transmit(flow(3), options());
        let conns: Vec<u64> = out
            .commands
            .iter()
            .map(|c| {
                let Command::Transmit { flow, .. } = c else {
                    panic!("only transmits were queued");
                };
                flow.conn.get()
            })
            .collect();
        assert_eq!(conns, [1, 2, 3]);
    }

    #[test]
    fn re_arming_moves_the_one_deadline_of_a_timer() {
        let mut out = Outbox::default();
        out.arm(bye_wait(1), Time::from_ms(100));
        out.arm(bye_wait(1), Time::from_ms(300));
        assert_eq!(out.armed().count(), 1);
        assert_eq!(
            out.next_deadline(),
            Some(Time::from_ms(300)),
            "the old deadline is gone"
        );
        assert_eq!(out.pop_due(Time::from_ms(200)), None);
        out.arm(bye_wait(1), Time::from_ms(50));
        assert_eq!(out.next_deadline(), Some(Time::from_ms(50)));
        assert_eq!(out.pop_due(Time::from_ms(60)), Some(bye_wait(1)));
        assert_eq!(out.pop_due(Time::from_ms(1_000)), None, "fired once only");
    }

    #[test]
    fn disarm_removes_the_timer_and_says_whether_it_was_armed() {
        let mut out = Outbox::default();
        out.arm(bye_wait(1), Time::from_ms(100));
        out.arm(bye_wait(2), Time::from_ms(200));
        assert!(out.disarm(&bye_wait(1)));
        assert!(!out.disarm(&bye_wait(1)));
        assert_eq!(out.next_deadline(), Some(Time::from_ms(200)));
        assert_eq!(out.pop_due(Time::from_ms(1_000)), Some(bye_wait(2)));
        assert_eq!(out.next_deadline(), None);
    }

    /// The table before the lazy heap: a map and a B-tree of `(deadline, timer)`
    /// kept exactly in step. Every answer of the lazy table must be its answer.
    #[derive(Default)]
    struct Exact {
        timers: BTreeMap<Timer, Time>,
        by_deadline: std::collections::BTreeSet<(Time, Timer)>,
    }

    impl Exact {
        fn arm(&mut self, timer: Timer, at: Time) {
            if let Some(old) = self.timers.insert(timer.clone(), at) {
                self.by_deadline.remove(&(old, timer.clone()));
            }
            self.by_deadline.insert((at, timer));
        }

        fn disarm(&mut self, timer: &Timer) -> bool {
            let Some(at) = self.timers.remove(timer) else {
                return false;
            };
            self.by_deadline.remove(&(at, timer.clone()));
            true
        }

        fn pop_due(&mut self, now: Time) -> Option<Timer> {
            let (at, _) = self.by_deadline.first()?;
            if *at > now {
                return None;
            }
            let (_, timer) = self.by_deadline.pop_first()?;
            self.timers.remove(&timer);
            Some(timer)
        }
    }

    /// One step on a timer table.
    #[derive(Debug, Clone)]
    enum Op {
        Arm(u64, u64),
        Disarm(u64),
        PopDue(u64),
    }

    /// Few timers and few deadlines, so that re-arms, equal deadlines, disarms of
    /// the top and repeated arm/disarm of one timer are frequent.
    fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(
            prop_oneof![
                (0..8u64, 0..12u64).prop_map(|(t, at)| Op::Arm(t, at * 10)),
                (0..8u64).prop_map(Op::Disarm),
                (0..12u64).prop_map(|now| Op::PopDue(now * 10)),
            ],
            0..80,
        )
    }

    fn hash_of(out: &Outbox) -> u64 {
        use std::hash::BuildHasher;
        foldhash::quality::FixedState::with_seed(1).hash_one(out)
    }

    /// Runs `ops` on a lazy table and the exact one; returns the lazy one.
    fn run(ops: &[Op], exact: &mut Exact) -> Result<Outbox, TestCaseError> {
        let mut out = Outbox::default();
        for op in ops {
            match *op {
                Op::Arm(t, at) => {
                    out.arm(bye_wait(t), Time::from_ms(at));
                    exact.arm(bye_wait(t), Time::from_ms(at));
                }
                Op::Disarm(t) => {
                    prop_assert_eq!(out.disarm(&bye_wait(t)), exact.disarm(&bye_wait(t)));
                }
                Op::PopDue(now) => {
                    let now = Time::from_ms(now);
                    prop_assert_eq!(out.pop_due(now), exact.pop_due(now));
                }
            }
            prop_assert_eq!(
                out.next_deadline(),
                exact.by_deadline.first().map(|(at, _)| *at)
            );
            prop_assert!(out.by_deadline.len() <= 2 * out.timers.len() + LEFTOVER_SLACK + 1);
        }
        Ok(out)
    }

    proptest! {
        /// The lazy table answers every arm, disarm, next deadline and due timer as
        /// the exact table did, and its heap stays bounded by the armed timers.
        #[test]
        fn lazy_timers_answer_as_the_exact_table(ops in ops()) {
            let mut exact = Exact::default();
            let mut out = run(&ops, &mut exact)?;
            let armed: Vec<(Timer, Time)> = out.armed().map(|(t, at)| (t.clone(), at)).collect();
            let expected: Vec<(Timer, Time)> = exact.timers.clone().into_iter().collect();
            prop_assert_eq!(armed, expected);
            // What is left fires in the same order.
            let end = Time::from_ms(u64::MAX);
            loop {
                let (a, b) = (out.pop_due(end), exact.pop_due(end));
                prop_assert_eq!(&a, &b);
                if a.is_none() {
                    break;
                }
            }
        }

        /// Two tables reached by different orders of arms and disarms (one with
        /// leftovers in its heap, one armed directly with what the first holds, in
        /// reverse order) are equal, hash the same and behave the same: the
        /// leftovers are not state (the model merges such states).
        #[test]
        fn equal_timers_whatever_the_order_of_arms_and_disarms(ops in ops()) {
            let mut long_way = run(&ops, &mut Exact::default())?;
            let mut direct = Outbox::default();
            let armed: Vec<(Timer, Time)> =
                long_way.armed().map(|(t, at)| (t.clone(), at)).collect();
            for (t, at) in armed.into_iter().rev() {
                direct.arm(t, at);
            }
            prop_assert!(long_way == direct);
            prop_assert_eq!(hash_of(&long_way), hash_of(&direct));
            prop_assert_eq!(long_way.next_deadline(), direct.next_deadline());
            let end = Time::from_ms(u64::MAX);
            loop {
                let (a, b) = (long_way.pop_due(end), direct.pop_due(end));
                prop_assert_eq!(&a, &b);
                if a.is_none() {
                    break;
                }
            }
        }
    }

    /// The same for whole servers: one that armed, re-armed and disarmed timers on
    /// the way (its heap holds leftovers) equals, and hashes as, one that only
    /// armed what the first still holds.
    #[test]
    fn servers_reached_by_different_timer_orders_are_equal() {
        let config = crate::server::Config::new("example.com");
        let mut a = crate::server::Server::new(config.clone());
        let mut b = crate::server::Server::new(config);
        for n in 0..100 {
            a.out.arm(bye_wait(n), Time::from_ms(1_000 + n));
        }
        for n in 0..100 {
            if n % 3 == 0 {
                a.out.disarm(&bye_wait(n));
            } else if n % 3 == 1 {
                a.out.arm(bye_wait(n), Time::from_ms(5_000 - n));
            }
        }
        for n in (0..100).rev() {
            match n % 3 {
                1 => b.out.arm(bye_wait(n), Time::from_ms(5_000 - n)),
                2 => b.out.arm(bye_wait(n), Time::from_ms(1_000 + n)),
                _ => {}
            }
        }
        assert!(
            a.out.by_deadline.len() > b.out.by_deadline.len(),
            "the first server's heap holds leftovers"
        );
        assert_eq!(a, b);
        let hash = |s: &crate::server::Server| {
            use std::hash::BuildHasher;
            foldhash::quality::FixedState::with_seed(1).hash_one(s)
        };
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(a.poll_timeout(), b.poll_timeout());
    }

    #[test]
    fn due_timers_fire_earliest_first_ties_in_timer_order() {
        let mut out = Outbox::default();
        out.arm(bye_wait(3), Time::from_ms(100));
        out.arm(bye_wait(9), Time::from_ms(50));
        out.arm(bye_wait(1), Time::from_ms(100));
        out.arm(bye_wait(5), Time::from_ms(500));
        assert_eq!(out.pop_due(Time::from_ms(49)), None, "nothing is due early");
        let mut fired = Vec::new();
        while let Some(t) = out.pop_due(Time::from_ms(100)) {
            fired.push(t);
        }
        assert_eq!(fired, [bye_wait(9), bye_wait(1), bye_wait(3)]);
        let left: Vec<(&Timer, Time)> = out.armed().collect();
        assert_eq!(left, [(&bye_wait(5), Time::from_ms(500))]);
    }
}
