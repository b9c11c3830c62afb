//! The checker's single-threaded depth-first search (`cpmd-model check dfs --threads
//! 1`): stateright's `spawn_dfs` with one thread, step for step, without its
//! per-state bookkeeping.
//!
//! Why. At every state stateright's DFS looks each property's name up in its map of
//! discoveries (a `DashMap<&str, _>` with SipHash) before evaluating it: with the
//! model's ~50 properties of 40–90 characters that was about a fifth of the
//! instructions of a `combined` run (model/README.md, "Throughput", session 14).
//! Here a property's discovery is an index into a vector.
//!
//! The same search. The order is stateright's (a stack of pending states, the last
//! pushed popped first, successors pushed in `actions` order), so are the counts
//! (every successor counted as a state, the unique states those whose fingerprint
//! was new, the depth of the deepest state popped), the verdicts (every `always`
//! and `sometimes` property evaluated at every state popped; a discovery's path is
//! the last one found, as stateright overwrites it), the stop (after each block of
//! 1 500 states, once every property was discovered) and the early end of a block,
//! without the state's successors, at a state where no property awaits a discovery
//! (every `always` violated there, every `sometimes` holding). The fingerprint is a 64-bit
//! hash of the state like stateright's (foldhash here, aHash there: the same set of
//! states unless two of tens of millions collide in 64 bits, which either checker
//! risks alike). The test `the_search_is_stateright_s` compares the two.
//!
//! What it is not: a parallel checker, or one for `eventually` properties (the model
//! has none; [`dfs`] returns `None` and the caller uses stateright). Breadth-first
//! search, simulation and more than one thread stay stateright's, as do the tests'
//! pinned counts.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::time::Instant;

use stateright::{Expectation, Model, Path};

use crate::model::{Action, CpmModel, State};

/// States popped between two checks of the stop condition, as stateright's blocks.
const BLOCK: usize = 1500;

/// What the search found.
pub struct Found {
    /// States whose fingerprint was new (the initial ones included).
    pub unique: usize,
    /// States generated (the initial ones and every successor).
    pub states: usize,
    /// Depth of the deepest state popped (the initial state is 1).
    pub max_depth: usize,
    /// Per property discovered: its name and the path to the (last) state found.
    pub discoveries: Vec<(&'static str, Path<State, Action>)>,
}

/// The visited set's hasher: the keys are already 64-bit hashes.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the set holds `u64`s); a fold for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn fingerprint(st: &State) -> u64 {
    foldhash::quality::FixedState::with_seed(0).hash_one(st)
}

/// A pending state: the state, the action indices of its path, its depth.
type Job = (State, Vec<usize>, usize);

/// Called with (unique states, states, depth), and how many seconds apart.
pub type Progress<'a> = (&'a mut dyn FnMut(usize, usize, usize), f64);

/// Searches `model` depth first on this thread. `progress` is called with (unique
/// states, states, depth) about every `every` seconds. `None` when a property is an
/// `eventually` one (not supported here).
pub fn dfs(model: &CpmModel, progress: Option<Progress<'_>>) -> Option<Found> {
    let properties = model.properties();
    if properties
        .iter()
        .any(|p| p.expectation == Expectation::Eventually)
    {
        return None;
    }
    let mut progress = progress;
    let mut last_report = Instant::now();
    let mut visited: HashSet<u64, BuildHasherDefault<Identity>> = HashSet::default();
    let mut pending: Vec<Job> = Vec::new();
    let init: Vec<State> = model
        .init_states()
        .into_iter()
        .filter(|s| model.within_boundary(s))
        .collect();
    let mut states = init.len();
    for (i, s) in init.into_iter().enumerate() {
        visited.insert(fingerprint(&s));
        pending.push((s, vec![i], 1));
    }
    // stateright's initial pending queue is popped from the back too.
    let mut found: Vec<Option<Vec<usize>>> = vec![None; properties.len()];
    let mut discovered = 0usize;
    let mut max_depth = 0usize;
    let mut actions = Vec::new();
    'blocks: loop {
        for _ in 0..BLOCK {
            let Some((state, path, depth)) = pending.pop() else {
                break 'blocks;
            };
            max_depth = max_depth.max(depth);
            let mut awaiting = false;
            for (i, p) in properties.iter().enumerate() {
                let holds = (p.condition)(model, &state);
                let discovery = match p.expectation {
                    Expectation::Always => !holds,
                    Expectation::Sometimes => holds,
                    Expectation::Eventually => unreachable!("refused above"),
                };
                if discovery {
                    if found[i].is_none() {
                        discovered += 1;
                    }
                    found[i] = Some(path.clone());
                } else {
                    awaiting = true;
                }
            }
            if !awaiting {
                // stateright ends the block here, without this state's successors.
                break;
            }
            model.actions(&state, &mut actions);
            for (index, action) in actions.drain(..).enumerate() {
                let Some(next) = model.next_state(&state, action) else {
                    continue;
                };
                if !model.within_boundary(&next) {
                    continue;
                }
                states += 1;
                if !visited.insert(fingerprint(&next)) {
                    continue;
                }
                let mut next_path = Vec::with_capacity(path.len() + 1);
                next_path.extend_from_slice(&path);
                next_path.push(index);
                pending.push((next, next_path, depth + 1));
            }
        }
        if discovered == properties.len() {
            break;
        }
        if let Some((report, every)) = progress.as_mut() {
            if last_report.elapsed().as_secs_f64() >= *every {
                report(visited.len(), states, max_depth);
                last_report = Instant::now();
            }
        }
    }
    let discoveries = properties
        .iter()
        .zip(found)
        .filter_map(|(p, f)| Some((p.name, path_of(model, &f?))))
        .collect();
    Some(Found {
        unique: visited.len(),
        states,
        max_depth,
        discoveries,
    })
}

/// The path of `indices` (the initial state's, then each action's in `actions`
/// order), replayed.
fn path_of(model: &CpmModel, indices: &[usize]) -> Path<State, Action> {
    let init = model.init_states().swap_remove(indices[0]);
    let mut st = init.clone();
    let mut taken = Vec::new();
    let mut actions = Vec::new();
    for &i in &indices[1..] {
        model.actions(&st, &mut actions);
        let action = actions.swap_remove(i);
        actions.clear();
        st = model
            .next_state(&st, action.clone())
            .expect("a step of a found path");
        taken.push(action);
    }
    Path::from_actions(model, init, taken.iter()).expect("a found path replays")
}

#[cfg(test)]
mod tests {
    use cpmd_core::server::Mutation;
    use stateright::{Checker, Model};

    use crate::configs;
    use crate::model::{CpmModel, Setup};

    /// stateright's single-threaded DFS: counts, depth and each discovery's path.
    fn stateright(model: &CpmModel) -> (usize, usize, usize, Vec<(&'static str, String)>) {
        let c = model.clone().checker().threads(1).spawn_dfs().join();
        let mut d: Vec<_> = model
            .properties()
            .iter()
            .filter_map(|p| c.discovery(p.name).map(|path| (p.name, path.encode(model))))
            .collect();
        d.sort();
        (c.unique_state_count(), c.state_count(), c.max_depth(), d)
    }

    fn ours(model: &CpmModel) -> (usize, usize, usize, Vec<(&'static str, String)>) {
        let f = super::dfs(model, None).expect("no eventually property");
        let mut d: Vec<_> = f
            .discoveries
            .iter()
            .map(|(n, path)| (*n, path.encode(model)))
            .collect();
        d.sort();
        (f.unique, f.states, f.max_depth, d)
    }

    /// The same unique states, states, depth and discovery paths as stateright's
    /// DFS: over UDP with a loss, a retransmission and a store failure (`lossy`),
    /// over TCP with glare (`ci`), with the reductions (`combined`'s pinned lossy
    /// extension) and for a mutant (a violation's path).
    #[test]
    fn the_search_is_stateright_s() {
        let mut reduced = configs::by_name("combined").expect("combined");
        for (k, v) in [
            ("msgs", "0"),
            ("glare", "false"),
            ("silent_a", "false"),
            ("attacker", "false"),
        ] {
            assert!(configs::tweak(&mut reduced, k, v));
        }
        let setups: [Setup; 4] = [
            configs::lossy(),
            configs::ci(),
            reduced,
            Setup::base(1).with_mutation(Mutation::DeliverOnStore),
        ];
        for setup in setups {
            let model = CpmModel::new(setup);
            let theirs = stateright(&model);
            assert!(
                !theirs.3.is_empty(),
                "some discovery to compare in {setup:?}"
            );
            assert_eq!(ours(&model), theirs, "{setup:?}");
        }
    }
}
