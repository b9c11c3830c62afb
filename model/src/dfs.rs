//! The checker's single-threaded depth-first search (`cpmd-model check dfs --threads
//! 1`): stateright's `spawn_dfs` with one thread, step for step, without its
//! per-state bookkeeping, and with sleep sets (below).
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
//! **Sleep sets** (Godefroid; `dfs(model, true, ..)`; the binary turns them on
//! where the ample sets are off, `--no-sleep` and `--sleep` override it; without
//! them the search above is exactly stateright's). A transition `b` explored from a
//! state `s` before `a` (or asleep at `s`), and independent of `a` there
//! (`sleep.rs`: disjoint footprints, so `s·a·b = s·b·a` and neither disables the
//! other), need not be explored from `s·a`: its target is `s·b·a`, which the
//! exploration of `s·b` reaches. With state caching (Godefroid's thesis, ch. 5):
//! each visited state keeps the sleep set it was explored with (a mask over the
//! indices of its actions, which are deterministic per state; actions past the 63rd
//! never sleep), narrowed at each later arrival to the intersection with the
//! arrival's; the transitions that slept and no longer do are explored then (a
//! *revisit*, `Job::redo`), with the narrowed set. A state still waiting on the
//! stack just has its set narrowed. So the sleep sets prune transitions, never
//! states: the unique states, and so every property's verdict, are those of the
//! search without them (`sleep_sets_visit_every_state`); `states` counts the
//! transitions explored, fewer.
//!
//! **With the ample sets** (`por`, `model/por.rs`) the graph searched is the reduced
//! one, whose transitions at `s` are the ample set `A(s)`. The argument above
//! needs the diamond *in that graph*: `a` must be in `A(s·b)`, and over the reduced
//! graph it need not be (`s·b` may offer only a packet's fate). Then `s·b·a` is not
//! a transition of the search and `s·a·b` may be reached by nothing else: letting the
//! sleep sets pass down the path anyway lost 366 of `lossy`'s 18 687 reduced states.
//! So with `por` the sleep sets go one level only: at `s·a` sleep only the siblings
//! `b` explored before `a` from `s` whose successor `s·b` still offers `a` (its
//! actions are computed then, which also serve its own expansion), and nothing is
//! inherited from `s`'s own sleep set (a subset of a sleep set is a sleep set). Then
//! every pruned `s·a·b` is `s·b·a`, an edge of the reduced graph, and the search
//! visits exactly the reduced graph's states: the ample sets' argument (C0–C3, its
//! static cycle measure, which no search order can defeat) applies unchanged to the
//! set of states visited, and every property and mutant verdict is the one without
//! sleep sets (`mutants_still_break_their_properties_with_sleep_sets`). The gain is
//! small there (1–3 % of transitions in the tests' configurations, 9 % in `glare`
//! over TCP) and costs more than it saves (the successors' actions computed for
//! the check, revisits included: +8.6 % instructions for −0.5 % transitions on the
//! pinned lossy extension, model/README.md "Session 15"): the ample sets already
//! took most of the terminals' independent receipts, and what remains is mostly
//! pairs of server inputs, which the footprints count as dependent. Hence off by
//! default there.
//!
//! What it is not: a parallel checker, or one for `eventually` properties (the model
//! has none; [`dfs`] returns `None` and the caller uses stateright). Breadth-first
//! search, simulation and more than one thread stay stateright's, as do the tests'
//! pinned counts.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::time::Instant;

use stateright::{Expectation, Model, Path};

use crate::model::{Action, CpmModel, State};
use crate::sleep;

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

/// The visited set's value for a state: its sleep set, as a mask over the indices of
/// its actions (which are deterministic per state); `PENDING` while the state waits
/// on the stack to be explored.
const PENDING: u64 = 1 << 63;

/// Actions beyond this index of a state never sleep (the mask has 63 bits).
const MASKED: usize = 63;

/// A pending state.
struct Job {
    state: State,
    fingerprint: u64,
    /// The action indices of its path.
    path: Vec<usize>,
    depth: usize,
    /// Its actions, when already computed (at its sleep set's translation).
    actions: Option<Vec<Action>>,
    /// `None`: a first visit (properties evaluated, every action not sleeping
    /// explored); `Some(mask)`: a revisit exploring only the actions of `mask`
    /// (they slept at the first visit and no longer do).
    redo: Option<u64>,
}

/// Called with (unique states, states, depth), and how many seconds apart.
pub type Progress<'a> = (&'a mut dyn FnMut(usize, usize, usize), f64);

/// Searches `model` depth first on this thread, with sleep sets when `sleep` (module
/// docs). `progress` is called with (unique states, states, depth) about every
/// `every` seconds. `None` when a property is an `eventually` one (not supported
/// here).
pub fn dfs(model: &CpmModel, sleep: bool, progress: Option<Progress<'_>>) -> Option<Found> {
    let properties = model.properties();
    if properties
        .iter()
        .any(|p| p.expectation == Expectation::Eventually)
    {
        return None;
    }
    // Sleep sets need an independence relation with something in it.
    let sleep = sleep && sleep::covered(model);
    // Over the ample sets' reduced graph only one level (module docs).
    let inherit = !model.setup.por;
    let mut progress = progress;
    let mut last_report = Instant::now();
    let mut visited: HashMap<u64, u64, BuildHasherDefault<Identity>> = HashMap::default();
    let mut pending: Vec<Job> = Vec::new();
    let init: Vec<State> = model
        .init_states()
        .into_iter()
        .filter(|s| model.within_boundary(s))
        .collect();
    let mut states = init.len();
    for (i, s) in init.into_iter().enumerate() {
        let fp = fingerprint(&s);
        visited.insert(fp, PENDING);
        pending.push(Job {
            state: s,
            fingerprint: fp,
            path: vec![i],
            depth: 1,
            actions: None,
            redo: None,
        });
    }
    // stateright's initial pending queue is popped from the back too.
    let mut found: Vec<Option<Vec<usize>>> = vec![None; properties.len()];
    let mut discovered = 0usize;
    let mut max_depth = 0usize;
    // Per explored action of the state being expanded (ample sets only): its
    // successor and that successor's actions, to check a later action stays offered.
    let mut after: Vec<(usize, State, Vec<Action>)> = Vec::new();
    let mut scratch: Vec<Action> = Vec::new();
    'blocks: loop {
        for _ in 0..BLOCK {
            let Some(job) = pending.pop() else {
                break 'blocks;
            };
            let Job {
                state,
                fingerprint: fp,
                path,
                depth,
                actions,
                redo,
            } = job;
            max_depth = max_depth.max(depth);
            if redo.is_none() {
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
            }
            // Computed at the push (with sleep sets), else into the reused buffer.
            let carried;
            let actions: &[Action] = match actions {
                Some(v) => {
                    carried = v;
                    &carried
                }
                None => {
                    scratch.clear();
                    model.actions(&state, &mut scratch);
                    &scratch
                }
            };
            // The sleep set as it stands now (narrowed by the arrivals since the push).
            // (Without sleep sets every mask is empty: no lookup.)
            let stored = if sleep {
                visited.get_mut(&fp).map_or(0, |m| {
                    *m &= !PENDING;
                    *m
                })
            } else {
                0
            };
            let valid = if actions.len() >= MASKED {
                !PENDING
            } else {
                (1u64 << actions.len()) - 1
            };
            let explore = redo.unwrap_or(!stored) & valid;
            let feet = if sleep {
                sleep::footprints(model, &state, actions)
            } else {
                Vec::new()
            };
            // Sleeping here and passed on, and explored in this loop so far.
            let asleep = if inherit { stored } else { 0 };
            let mut explored = 0u64;
            after.clear();
            for (index, action) in actions.iter().enumerate() {
                let bit = if index < MASKED { 1u64 << index } else { 0 };
                let take = if bit == 0 {
                    redo.is_none()
                } else {
                    explore & bit != 0
                };
                if !take {
                    continue;
                }
                // `next_state` is `Some(step)` (`properties.rs`): stepped by reference,
                // the action not cloned.
                let next = model.step(&state, action, &mut None);
                if !model.within_boundary(&next) {
                    continue;
                }
                states += 1;
                // The actions that sleep in `next`: those asleep here or explored
                // before this one, independent of it (and, over the reduced graph,
                // still offered after it was taken first).
                let mut candidates = 0u64;
                if sleep {
                    for b in bits(asleep | explored) {
                        if !sleep::independent(&feet[b], &feet[index]) {
                            continue;
                        }
                        if !inherit && !offered_after(&after, b, &state, action) {
                            continue;
                        }
                        candidates |= 1 << b;
                    }
                }
                let later = sleep && !inherit && bit != 0 && {
                    let rest = explore & !(bit | (bit - 1));
                    bits(rest).any(|j| sleep::independent(&feet[index], &feet[j]))
                };
                let next_fp = fingerprint(&next);
                let entry = visited.entry(next_fp);
                let old = match &entry {
                    Entry::Occupied(e) => Some(*e.get()),
                    Entry::Vacant(_) => None,
                };
                let need = candidates != 0 || later || old.is_some_and(|m| m & !PENDING != 0);
                let next_actions = need.then(|| {
                    let mut v = Vec::new();
                    model.actions(&next, &mut v);
                    v
                });
                let mask = match &next_actions {
                    Some(acts) if candidates != 0 => bits(candidates)
                        .filter_map(|b| sleep::find(&state, &actions[b], &next, acts))
                        .filter(|&j| j < MASKED)
                        .fold(0u64, |m, j| m | 1 << j),
                    _ => 0,
                };
                if let (true, Some(acts)) = (later, &next_actions) {
                    after.push((index, next.clone(), acts.clone()));
                }
                explored |= bit;
                let next_path = || {
                    let mut p = Vec::with_capacity(path.len() + 1);
                    p.extend_from_slice(&path);
                    p.push(index);
                    p
                };
                match entry {
                    Entry::Vacant(e) => {
                        e.insert(mask | PENDING);
                        pending.push(Job {
                            state: next,
                            fingerprint: next_fp,
                            path: next_path(),
                            depth: depth + 1,
                            actions: next_actions,
                            redo: None,
                        });
                    }
                    Entry::Occupied(_) if !sleep => {}
                    Entry::Occupied(mut e) => {
                        let m = *e.get();
                        let woken = m & !mask;
                        if m & PENDING != 0 {
                            // Not explored yet: it will be, with the narrower set.
                            e.insert((m & mask) | PENDING);
                        } else if woken != 0 {
                            // Explored: what slept then and does not now is explored now.
                            e.insert(m & mask);
                            pending.push(Job {
                                state: next,
                                fingerprint: next_fp,
                                path: next_path(),
                                depth: depth + 1,
                                actions: next_actions,
                                redo: Some(woken),
                            });
                        }
                    }
                }
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

/// The indices of the set bits of `mask`.
fn bits(mask: u64) -> impl Iterator<Item = usize> {
    let mut m = mask;
    std::iter::from_fn(move || {
        (m != 0).then(|| {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            i
        })
    })
}

/// Over the reduced graph: whether `action` of `state` is still offered after the
/// action of index `b` was taken (its successor's actions are in `after` when they
/// were computed; when not, the answer is no).
fn offered_after(
    after: &[(usize, State, Vec<Action>)],
    b: usize,
    state: &State,
    action: &Action,
) -> bool {
    after
        .iter()
        .find(|(i, _, _)| *i == b)
        .is_some_and(|(_, next, acts)| sleep::find(state, action, next, acts).is_some())
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
        let f = super::dfs(model, false, None).expect("no eventually property");
        let mut d: Vec<_> = f
            .discoveries
            .iter()
            .map(|(n, path)| (*n, path.encode(model)))
            .collect();
        d.sort();
        (f.unique, f.states, f.max_depth, d)
    }

    /// `combined`'s pinned lossy extension (`por_tests.rs`): no message, glare,
    /// silent A or attacker; the reductions on.
    fn pinned_lossy_extension() -> Setup {
        let mut setup = configs::by_name("combined").expect("combined");
        for (k, v) in [
            ("msgs", "0"),
            ("glare", "false"),
            ("silent_a", "false"),
            ("attacker", "false"),
        ] {
            assert!(configs::tweak(&mut setup, k, v));
        }
        setup
    }

    /// The same unique states, states, depth and discovery paths as stateright's
    /// DFS: over UDP with a loss, a retransmission and a store failure (`lossy`),
    /// over TCP with glare (`ci`), with the reductions (`combined`'s pinned lossy
    /// extension) and for a mutant (a violation's path).
    #[test]
    fn the_search_is_stateright_s() {
        let reduced = pinned_lossy_extension();
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

    fn run(setup: Setup, sleep: bool) -> (usize, usize, Vec<&'static str>) {
        let f = super::dfs(&CpmModel::new(setup), sleep, None).expect("no eventually property");
        let mut names: Vec<_> = f.discoveries.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        (f.unique, f.states, names)
    }

    /// Sleep sets prune transitions, not states: the same unique states and the same
    /// discoveries (every `sometimes` reached, no violation) as the search without
    /// them, with and without the ample sets, and fewer transitions where the
    /// relation has independent pairs (not over TCP in send order).
    #[test]
    fn sleep_sets_visit_every_state() {
        let mut fewer = 0;
        for (name, setup) in crate::sleep::test_setups() {
            for (por, por_server) in [(false, false), (true, false), (true, true)] {
                let setup = Setup {
                    por,
                    por_server,
                    ..setup
                };
                let (unique, states, found) = run(setup, false);
                let (unique_s, states_s, found_s) = run(setup, true);
                eprintln!("{name} por={por} por_server={por_server}: {unique} unique, {states} -> {states_s} states");
                assert_eq!(unique_s, unique, "{name} {setup:?}");
                assert_eq!(found_s, found, "{name} {setup:?}");
                assert!(states_s <= states, "{name} {setup:?}");
                if states_s < states {
                    fewer += 1;
                }
            }
        }
        assert!(
            fewer >= 8,
            "sleep sets pruned in only {fewer} configurations"
        );
    }

    /// The pinned lossy extension (`por_tests.rs`, with the ample sets): the same
    /// unique states with sleep sets (14 677 since session 15's ample sets took A's
    /// 2xx to its extension over UDP; 27 767 before). (Without the ample sets, 408 811 unique states
    /// both ways, 2 279 810 → 2 156 439 transitions: too long for the tests;
    /// model/README.md, "Session 15".)
    #[test]
    fn sleep_sets_keep_the_pinned_lossy_extension() {
        let setup = pinned_lossy_extension();
        let (unique, states, found) = run(setup, false);
        let (unique_s, states_s, found_s) = run(setup, true);
        assert_eq!((unique_s, unique), (14_677, 14_677));
        assert_eq!(found_s, found);
        assert!(states_s < states, "{states_s} < {states}");
    }

    /// Each mutant of `por_tests.rs`'s list over UDP still breaks its property with
    /// sleep sets, with and without the ample sets.
    #[test]
    fn mutants_still_break_their_properties_with_sleep_sets() {
        use cpmd_core::server::Transport;
        let small = |msgs| Setup {
            transport: Transport::Udp,
            ..Setup::base(msgs)
        };
        let mut cases = crate::por_tests::mutant_cases(small);
        cases.extend([
            (
                Setup {
                    dups: 1,
                    ..small(0)
                },
                Mutation::NoRetransmissionAbsorb,
            ),
            (
                Setup {
                    drops: 1,
                    retransmits: 1,
                    eager_acks: true,
                    ..small(1)
                },
                Mutation::AckBeforeStore,
            ),
        ]);
        for (setup, mutation) in cases {
            let expected = crate::properties::expected_violation(mutation).expect("a mutant");
            for (por, por_server) in [(false, false), (true, false), (true, true)] {
                let setup = Setup {
                    por,
                    por_server,
                    ..setup.with_mutation(mutation)
                };
                let (_, _, found) = run(setup, true);
                assert!(
                    found.contains(&expected),
                    "{mutation:?} {setup:?}: {found:?}"
                );
            }
        }
    }
}
