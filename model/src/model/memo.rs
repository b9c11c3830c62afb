//! Memoised server steps: a cache from (server value, input) to (next server value,
//! the commands it emitted), consulted for each of the model's server inputs (a
//! packet's delivery, a timer's firing, the store's answer, a typed chat send).
//!
//! Why it is exact. The core is deterministic (a project rule: same inputs, same
//! outputs; no clock, randomness or I/O), the model feeds every input at the same
//! `NOW`, and the server's configuration (its mutation included) is part of the
//! server value. So `Server::handle_message` and its siblings are a function of
//! the server value and the input, and the same server step recurs in many
//! network contexts (session 8 counted ~4 000 distinct servers among 300 000
//! states of `combined`). The key is compared by full equality, never by its hash
//! alone: `Shared<Server>` compares by pointer first, then by the remembered hash,
//! then by value; the input by value (`Shared<SipMessage>` the same way).
//!
//! What a step emits is drained from the server right after the input (every
//! command, in order; the events, which the model discards anyway), so the cached
//! next server has an empty outbox, as it has at the end of every uncached step.
//! The model then carries out the cached commands exactly as it carries out those
//! it polls (`CpmModel::drain_from`): the observers and the chart see the same
//! commands in the same order. Inputs the model feeds inside a drain (MSRP
//! answers, a device's answers in the group races) or at a restart are not
//! memoised; their commands are polled as before, after the cached ones (the
//! outbox is FIFO, so the order is the uncached one).
//!
//! What it is not: a change of what is explored. `CpmModel::without_memo` runs the
//! same model without it (`--no-memo`); the test `memo_changes_nothing` checks both
//! give the same counts and verdicts. The cache is per thread (the checker's
//! workers each have their own), bounded (two generations of [`CAPACITY`] entries),
//! and keyed by values only, so two models on one thread may share it safely.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use cpmd_core::server::{ChatSend, Command, Flow, Server, StoreError};
use cpmd_core::shared::Shared;
use cpmd_core::sip::SipMessage;
use cpmd_core::{StoreTicket, Timer};

use super::{Msg, State, NOW};

/// Entries of one generation of the cache per thread. Each holds two server values
/// (mostly shared with each other and with the states) and the commands. When
/// the young generation is full it becomes the old one (the previous old one is
/// dropped); a hit in the old generation moves the entry to the young one, so
/// what recurs stays and the cache holds at most twice this.
pub const CAPACITY: usize = 1 << 15;

/// A server input, as the model feeds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Input {
    /// `handle_message` from a terminal's flow.
    Message(Flow, Shared<SipMessage>),
    /// `expire`.
    Fire(Timer),
    /// `handle_store_result`: confirmed (`true`) or failed.
    Store(StoreTicket, bool),
    /// `handle_chat` of a typed message.
    Chat(Msg),
}

/// A command the server emitted, transmits with their message already shared
/// (a cached transmit is put on the network without a copy, its hash remembered).
// `Other` is as large as `Command` (whose own large variant the core allows): the
// commands sit once in a cached step's slice, and boxing would add an allocation
// per command.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum Out {
    /// `Command::Transmit`.
    Transmit(Flow, Shared<SipMessage>),
    /// Any other command.
    Other(Command),
}

impl From<Command> for Out {
    fn from(cmd: Command) -> Self {
        match cmd {
            Command::Transmit { flow, message } => Out::Transmit(flow, message),
            other @ (Command::TransmitRaw { .. }
            | Command::Connect { .. }
            | Command::MsrpConnect { .. }
            | Command::MsrpSend { .. }
            | Command::Close { .. }
            | Command::Persist { .. }
            | Command::SealSession { .. }
            | Command::ChatDeliver { .. }
            | Command::ChatResult { .. }) => Out::Other(other),
        }
    }
}

/// The commands of one step, in order.
pub(super) type Outs = Rc<[Out]>;

type Key = (Shared<Server>, Input);
type Value = (Shared<Server>, Outs);

/// The cache's hasher: foldhash with a fixed seed. The key hashes to the server's
/// and the message's remembered hashes and a few small fields; SipHash over them
/// was ~2 % of a `combined` step (model/README.md, "Throughput", session 14), and no
/// attacker fills this table.
type Hasher = foldhash::fast::FixedState;

/// The two generations (the young one first).
#[derive(Default)]
struct Cache {
    young: HashMap<Key, Value, Hasher>,
    old: HashMap<Key, Value, Hasher>,
}

impl Cache {
    fn get(&mut self, key: &Key) -> Option<Value> {
        if let Some(v) = self.young.get(key) {
            return Some(v.clone());
        }
        let (k, v) = self.old.remove_entry(key)?;
        self.insert(k, v.clone());
        Some(v)
    }

    fn insert(&mut self, key: Key, value: Value) {
        if self.young.len() >= CAPACITY {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Feeds `input` to `server`.
fn apply(server: &mut Server, input: &Input) {
    match input {
        Input::Message(flow, msg) => server.handle_message(NOW, *flow, SipMessage::clone(msg)),
        Input::Fire(timer) => server.expire(NOW, timer),
        Input::Store(ticket, ok) => {
            let result = if *ok {
                Ok(())
            } else {
                Err(StoreError::Failed {
                    reason: "disk full".into(),
                })
            };
            server.handle_store_result(NOW, *ticket, result);
        }
        Input::Chat(msg) => server.handle_chat(
            NOW,
            ChatSend {
                contribution_id: msg.sess.contribution(),
                sender: msg.sender.user(),
                message_id: msg.id(),
                content_type: "text/plain".into(),
                body: Vec::new(),
            },
        ),
    }
}

impl super::CpmModel {
    /// Feeds `input` to the state's server. With the cache (the default): the next
    /// server and the commands emitted, looked up or computed and remembered; the
    /// caller carries them out (`drain_from`). Without: the input alone, its
    /// commands left in the server for `drain` to poll (no commands returned).
    pub(super) fn server_input(&self, st: &mut State, input: Input) -> Outs {
        if !self.memo {
            apply(Shared::make_mut(&mut st.server), &input);
            return Rc::from([]);
        }
        let key = (st.server.clone(), input);
        if let Some((next, outs)) = CACHE.with(|c| c.borrow_mut().get(&key)) {
            st.server = next;
            return outs;
        }
        let server = Shared::make_mut(&mut st.server);
        apply(server, &key.1);
        let mut outs = Vec::new();
        while let Some(cmd) = server.poll_command() {
            outs.push(Out::from(cmd));
        }
        // The model discards the events (`drain`); polled here, the cached server
        // is the one every step ends with.
        while server.poll_event().is_some() {}
        let outs: Outs = outs.into();
        CACHE.with(|c| {
            c.borrow_mut()
                .insert(key, (st.server.clone(), outs.clone()))
        });
        outs
    }
}

#[cfg(test)]
mod tests {
    use cpmd_core::server::Mutation;
    use stateright::{Checker, HasDiscoveries, Model};

    use crate::configs;
    use crate::model::{CpmModel, Setup, State};

    /// What one single-threaded depth-first search found: unique states, states,
    /// and per property whether it was discovered and the states of its path (one
    /// thread: the same order, so the same paths, whatever the cache did).
    type Outcome = (usize, usize, Vec<(&'static str, Option<Vec<State>>)>);

    fn search(model: CpmModel, stop_at: Option<&'static str>) -> Outcome {
        let names: Vec<&'static str> = model.properties().iter().map(|p| p.name).collect();
        let mut checker = model.checker().threads(1);
        if let Some(name) = stop_at {
            checker = checker.finish_when(HasDiscoveries::AnyOf([name].into_iter().collect()));
        }
        let c = checker.spawn_dfs().join();
        let found = names
            .into_iter()
            .map(|n| (n, c.discovery(n).map(|p| p.into_states())))
            .collect();
        (c.unique_state_count(), c.state_count(), found)
    }

    fn assert_same(setup: Setup, stop_at: Option<&'static str>) {
        let with = search(CpmModel::new(setup), stop_at);
        let without = search(CpmModel::without_memo(setup), stop_at);
        assert_eq!(with.0, without.0, "unique states of {setup:?}");
        assert_eq!(with.1, without.1, "states of {setup:?}");
        assert!(with.2 == without.2, "discoveries of {setup:?} differ");
    }

    /// The cache changes nothing: the same counts, the same verdicts, the same
    /// counterexample and `sometimes` paths, with and without it, over UDP with a
    /// loss, a retransmission and a store failure (`lossy`), over TCP with glare
    /// and a store failure (`ci`), and for a mutant (the search stops at its
    /// violation).
    #[test]
    fn memo_changes_nothing() {
        assert_same(configs::lossy(), None);
        assert_same(configs::ci(), None);
        let mutant = Setup::base(2).with_mutation(Mutation::DeliverOnStore);
        assert_same(mutant, Some(crate::properties::names::MSG_2));
    }
}
