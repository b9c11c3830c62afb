//! The queues every input writes into: commands, events and the timer table.
//! Inputs return nothing; they push here and the runtime drains with `poll_*`.

use std::collections::{BTreeMap, VecDeque};

use super::command::{Command, Event, Flow};
use super::timer::Timer;
use crate::sip::SipMessage;
use crate::time::Time;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Outbox {
    pub(crate) commands: VecDeque<Command>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) timers: BTreeMap<Timer, Time>,
}

impl Outbox {
    pub(crate) fn transmit(&mut self, flow: Flow, message: SipMessage) {
        self.commands.push_back(Command::Transmit { flow, message });
    }

    pub(crate) fn command(&mut self, command: Command) {
        self.commands.push_back(command);
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Arms (or re-arms) a timer.
    pub(crate) fn arm(&mut self, timer: Timer, at: Time) {
        self.timers.insert(timer, at);
    }

    pub(crate) fn disarm(&mut self, timer: &Timer) {
        self.timers.remove(timer);
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        self.timers.values().min().copied()
    }

    /// Removes and returns the due timer with the earliest deadline (ties broken by the
    /// timer's order, so firing is deterministic).
    pub(crate) fn pop_due(&mut self, now: Time) -> Option<Timer> {
        let (timer, _) = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .min_by_key(|(t, at)| (**at, (*t).clone()))?;
        let timer = timer.clone();
        self.timers.remove(&timer);
        Some(timer)
    }
}
