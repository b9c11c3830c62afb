//! The queues every input writes into: commands, events and the timer table.
//! Inputs return nothing; they push here and the runtime drains with `poll_*`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::output::{Command, Event, Flow};
use super::timer::Timer;
use crate::shared::Shared;
use crate::sip::SipMessage;
use crate::time::Time;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Outbox {
    pub(crate) commands: VecDeque<Command>,
    pub(crate) events: VecDeque<Event>,
    /// Each armed timer's deadline. Both tables are [`Shared`]: the model checker
    /// clones the server per state, and most steps arm or disarm nothing.
    timers: Shared<BTreeMap<Timer, Time>>,
    /// The same timers ordered by deadline, so the next one is found in O(log n): a
    /// busy server has tens of thousands armed (every finished transaction lingers
    /// 64·T1), and the runtime asks for the next deadline on every wake-up.
    by_deadline: Shared<BTreeSet<(Time, Timer)>>,
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
        if let Some(old) = self.timers.insert(timer.clone(), at) {
            self.by_deadline.remove(&(old, timer.clone()));
        }
        self.by_deadline.insert((at, timer));
    }

    /// Disarms a timer; `true` if it was armed.
    pub(crate) fn disarm(&mut self, timer: &Timer) -> bool {
        match self.timers.remove(timer) {
            Some(at) => {
                self.by_deadline.remove(&(at, timer.clone()));
                true
            }
            None => false,
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    /// Removes and returns the due timer with the earliest deadline (ties broken by the
    /// timer's order, so firing is deterministic).
    pub(crate) fn pop_due(&mut self, now: Time) -> Option<Timer> {
        let (at, _) = self.by_deadline.first()?;
        if *at > now {
            return None;
        }
        let (_, timer) = self.by_deadline.pop_first()?;
        self.timers.remove(&timer);
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
