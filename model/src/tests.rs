//! Pinned exhaustive checks and mutation tests.

use stateright::{Checker, Model};

use crate::model::{CpmModel, Setup};

fn bfs(setup: Setup) -> (usize, Vec<&'static str>) {
    let model = CpmModel::new(setup);
    let c = model.clone().checker().threads(2).spawn_bfs().join();
    let mut found: Vec<&'static str> = c.discoveries().keys().copied().collect();
    found.sort();
    for name in &found {
        if !name.starts_with("sometimes") {
            let path = c.discovery(name).expect("discovered");
            eprintln!("== {name}\n{}", crate::msc::chart(&model, &path));
        }
    }
    (c.unique_state_count(), found)
}

#[test]
fn base_one_message() {
    let (n, found) = bfs(Setup::base(1));
    eprintln!("states {n} discoveries {found:?}");
    assert!(found.iter().all(|p| p.starts_with("sometimes")), "{found:?}");
}
