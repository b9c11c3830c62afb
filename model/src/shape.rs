//! The shape of a configuration's state space, for finding what multiplies it
//! (`cpmd-model shape --config NAME [--states N]`): a depth-first walk of the
//! first `N` unique states (the checker's own order: actions in `enabled` order,
//! last pushed first) that counts, per kind of action, the transitions taken and
//! the new unique states they led to, and how many distinct values each part of
//! the state (the server, the network, the terminals, the store, the observer)
//! took among the states visited.
//!
//! What it is not: a checker. No property is evaluated; it reads the space only.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hash};

use cpmd_core::sip::SipMessage;
use cpmd_core::Timer;

use stateright::Model;

use crate::model::{Action, CpmModel, Node, State};

/// Per kind of action: transitions taken and new unique states reached.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Transitions of this kind out of the visited states.
    pub taken: u64,
    /// Those that reached a state not seen before.
    pub new: u64,
}

/// What [`walk`] found.
#[derive(Debug, Default)]
pub struct Shape {
    /// Unique states visited.
    pub unique: u64,
    /// Whether the walk exhausted the space before its limit.
    pub exhausted: bool,
    /// Per kind of action (see [`kind`]).
    pub by_kind: BTreeMap<String, Tally>,
    /// Distinct values per part of the state among the visited states.
    pub distinct: BTreeMap<&'static str, usize>,
}

fn fp<T: Hash>(v: &T) -> u64 {
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(v)
}

/// The kind of `action` in `st`: its variant, and for a delivery who receives what.
pub fn kind(st: &State, action: &Action) -> String {
    let packet = |i: &usize| {
        st.net.get(*i).map_or("?".to_owned(), |p| {
            let what = match &*p.msg {
                SipMessage::Request(r) => r.method.to_string(),
                SipMessage::Response(r) => format!("{} {}", r.status.get(), r.headers.cseq.method),
            };
            let to = match p.dst {
                Node::Server => "server".to_owned(),
                Node::T(t) => t.name().to_owned(),
            };
            format!("{what} -> {to}")
        })
    };
    match action {
        Action::Deliver(i) => format!("deliver {}", packet(i)),
        Action::Drop(i) => format!("drop {}", packet(i)),
        Action::Duplicate(i) => format!("duplicate {}", packet(i)),
        Action::IgnoreBye(_) => "A ignores BYE".into(),
        Action::Fire(t) => format!(
            "fire {}",
            match t {
                Timer::Retransmit(_) => "retransmit",
                Timer::Retransmit2xx(_) => "retransmit-2xx",
                Timer::ByeWait(_) => "bye-wait",
                Timer::ReplacedBye(_) => "replaced-bye",
                Timer::Timeout(_)
                | Timer::Linger(_)
                | Timer::BindingExpiry(..)
                | Timer::HeldAnswer(_)
                | Timer::SubscriptionExpiry(_)
                | Timer::DeferredExpiry(..) => "other",
            }
        ),
        Action::StoreOk(_) => "store ok".into(),
        Action::StoreFail(_) => "store fails".into(),
        Action::Chat(t, s) => format!("{} chats ({s:?})", t.name()),
        Action::Extend => "A extends".into(),
        Action::Bye(t) => format!("{} BYE", t.name()),
        Action::Retransmit(t) => format!("{} retransmits", t.name()),
        Action::Attack => "M attacks".into(),
        Action::Leave(t) => format!("{} leaves", t.name()),
        Action::ChunkEnd(t) => format!("{} last chunk", t.name()),
        Action::Abort(t) => format!("{} aborts", t.name()),
        Action::Refer(t) => format!("{} REFER", t.name()),
        Action::Race(a) => format!("race {a:?}"),
        Action::Restart(t) => format!("{} restarts", t.name()),
        Action::Cancel => "A CANCELs".into(),
        Action::WrongPath(s) => format!("A sends on a wrong path (due {s})"),
        Action::Decline(i) => format!("C declines {}", packet(i)),
        Action::NoAnswer(i) => format!("C does not answer {}", packet(i)),
        Action::MsrpBreak(t) => format!("{}'s MSRP connection breaks", t.name()),
        Action::MsrpRebind(t) => format!("{} binds again", t.name()),
    }
}

/// Walks depth-first until `limit` unique states were visited or none is left.
pub fn walk(model: &CpmModel, limit: u64) -> Shape {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut parts: [(&'static str, HashSet<u64>); 5] = [
        ("server", HashSet::new()),
        ("network", HashSet::new()),
        ("terminals", HashSet::new()),
        ("store", HashSet::new()),
        ("observer", HashSet::new()),
    ];
    let mut shape = Shape::default();
    let init = model.initial();
    seen.insert(fp(&init));
    let mut stack = vec![init];
    let mut actions = Vec::new();
    while let Some(st) = stack.pop() {
        shape.unique += 1;
        for (i, v) in [
            fp(&st.server),
            fp(&st.net),
            fp(&st.terms),
            fp(&st.store),
            fp(&st.ghost),
        ]
        .into_iter()
        .enumerate()
        {
            parts[i].1.insert(v);
        }
        if shape.unique >= limit {
            break;
        }
        // What the checker explores: with `por`, the reduced set.
        model.actions(&st, &mut actions);
        for a in actions.drain(..) {
            let k = kind(&st, &a);
            let next = model.step(&st, &a, &mut None);
            let tally = shape.by_kind.entry(k).or_default();
            tally.taken += 1;
            if seen.insert(fp(&next)) {
                tally.new += 1;
                stack.push(next);
            }
        }
    }
    shape.exhausted = stack.is_empty();
    shape.distinct = parts.into_iter().map(|(n, s)| (n, s.len())).collect();
    shape
}

#[cfg(test)]
mod tests {
    use stateright::{Checker, Model};

    use super::walk;
    use crate::model::{CpmModel, Setup};

    /// The walk visits exactly the states the checker does: its tallies describe
    /// the space the tests pin, not another one.
    #[test]
    fn the_walk_agrees_with_the_checker() {
        let setup = Setup {
            glare: true,
            ..Setup::base(1)
        };
        let model = CpmModel::new(setup);
        let checked = model
            .clone()
            .checker()
            .threads(1)
            .spawn_dfs()
            .join()
            .unique_state_count() as u64;
        let shape = walk(&model, u64::MAX);
        assert!(shape.exhausted);
        assert_eq!(shape.unique, checked);
        // Every state but the initial one was new after exactly one transition.
        let new: u64 = shape.by_kind.values().map(|t| t.new).sum();
        assert_eq!(new + 1, shape.unique);
        assert!(shape.distinct["server"] <= checked as usize);
    }
}
