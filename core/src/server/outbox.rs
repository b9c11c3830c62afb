//! The queues every input writes into: commands, events and the timer table.
//! Inputs return nothing; they push here and the runtime drains with `poll_*`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::output::{Command, Event, Flow};
use super::timer::Timer;
use crate::sip::SipMessage;
use crate::time::Time;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Outbox {
    pub(crate) commands: VecDeque<Command>,
    pub(crate) events: VecDeque<Event>,
    /// Each armed timer's deadline.
    timers: BTreeMap<Timer, Time>,
    /// The same timers ordered by deadline, so the next one is found in O(log n): a
    /// busy server has tens of thousands armed (every finished transaction lingers
    /// 64·T1), and the runtime asks for the next deadline on every wake-up.
    by_deadline: BTreeSet<(Time, Timer)>,
}

impl Outbox {
    pub(crate) fn transmit(&mut self, flow: Flow, message: SipMessage) {
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
