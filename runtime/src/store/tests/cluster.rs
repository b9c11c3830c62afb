//! Several nodes on one PostgreSQL database (specs/scale-out.md): lease rows
//! (SCALE-1), the take-over of a dead node (SCALE-2) and location rows (SCALE-3).
//! PostgreSQL only: SQLite is one node's store.

use std::time::{Duration, Instant};

use super::*;
use crate::store::cluster::{BindingRow, Cluster};

/// Runs each listed test body on PostgreSQL.
macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        mod on_postgres {
            $(#[test] fn $name() {
                if let Some(p) = super::postgres_place(stringify!($name)) { super::$name(p); }
            })*
        }
    };
}

on_postgres!(
    scale_1_a_lease_is_live_until_it_runs_out,
    scale_2_a_dead_node_is_taken_over_once_and_never_while_connected,
    scale_3_location_rows_are_written_read_by_version_and_removed,
);

fn url(place: &Place) -> String {
    match place.url() {
        StoreUrl::Postgres(u) => u,
        StoreUrl::Sqlite(_) => unreachable!("PostgreSQL only"),
    }
}

/// A cluster handle for node `instance` (the store is migrated first).
fn node(place: &Place, instance: i64, address: &str) -> Cluster {
    drop(place.open_as(99));
    Cluster::connect(&url(place), instance, address).expect("cluster connects")
}

/// A binding registered over UDP from 10.0.0.9:5060.
fn row<'a>(contact_key: &'a str, contact: &'a str, expires_ms: u64) -> BindingRow<'a> {
    BindingRow {
        contact_key,
        contact,
        expires_ms,
        transport: "udp",
        flow_peer: "10.0.0.9:5060",
    }
}

fn scale_1_a_lease_is_live_until_it_runs_out(place: Place) {
    let mut one = node(&place, 1, "127.0.0.1:5071");
    let mut two = node(&place, 2, "127.0.0.1:5072");
    assert!(two.live_nodes().unwrap().is_empty(), "no lease yet");
    one.heartbeat(60_000).unwrap();
    two.heartbeat(60_000).unwrap();
    assert_eq!(
        two.live_nodes().unwrap(),
        [(1, "127.0.0.1:5071".to_owned())]
    );
    assert_eq!(
        one.live_nodes().unwrap(),
        [(2, "127.0.0.1:5072".to_owned())]
    );
    assert!(two.expired_nodes().unwrap().is_empty());
    // A lease of 0 ms has run out at once (the database's clock moves on).
    one.heartbeat(0).unwrap();
    assert!(two.live_nodes().unwrap().is_empty());
    assert_eq!(two.expired_nodes().unwrap(), [1]);
    assert!(one.expired_nodes().unwrap().is_empty(), "never its own");
    // Renewed: live again.
    one.heartbeat(60_000).unwrap();
    assert_eq!(two.live_nodes().unwrap().len(), 1);
}

fn scale_2_a_dead_node_is_taken_over_once_and_never_while_connected(place: Place) {
    let (feed, _) = broadcast::channel(16);
    // Node 1 runs a 1-to-1 and a group, and has a registration.
    let mut store_one = place.open_as(1);
    write(
        &mut store_one,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            Record::SessionInfo(group_info()),
        ],
    );
    let mut one = node(&place, 1, "127.0.0.1:5071");
    one.put_binding(
        "sip:alice@example.com",
        &row("sip:alice@10.0.0.1", "<sip:alice@10.0.0.1>", 60_000),
    )
    .unwrap();
    // Node 2 runs a session of its own.
    let mut store_two = place.open_as(2);
    write(
        &mut store_two,
        &[message(key(1, "k-two"), 1, carol(), &[bob()])],
    );
    let mut two = node(&place, 2, "127.0.0.1:5072");
    two.heartbeat(60_000).unwrap();
    // Node 1 stops renewing (its lease runs out) but its store connection lives:
    // it is slow, not dead, and nothing of it is touched.
    one.heartbeat(0).unwrap();
    assert_eq!(two.expired_nodes().unwrap(), [1]);
    assert!(two.take_over_expired(&feed).unwrap().is_empty());
    assert!(names(&store_two, &alice()).contains(&k1_box()));
    drop(store_one);
    drop(one);
    // Its connection is gone (the server notices the close a moment later).
    let deadline = Instant::now() + Duration::from_secs(20);
    let taken = loop {
        let taken = two.take_over_expired(&feed).unwrap();
        if !taken.is_empty() || Instant::now() > deadline {
            break taken;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(taken.len(), 1, "{taken:?}");
    let mut sealed = taken[0].sealed.clone();
    sealed.sort();
    assert_eq!(
        (taken[0].instance, sealed, taken[0].bindings),
        (1, vec![K1.to_owned(), K2.to_owned()], 1)
    );
    // Sealed as crashed, readable from node 2's view; node 2's own session is open.
    let one_to_one = raw_text(&store_two, &alice(), &k1_box());
    assert!(
        one_to_one
            .last()
            .is_some_and(|i| i.contains("<ended-by>crash</ended-by>")),
        "{one_to_one:#?}"
    );
    assert!(two.expired_nodes().unwrap().is_empty(), "its lease is gone");
    assert!(
        two.take_over(1, &feed).unwrap().is_none(),
        "taken over once: no lease row left"
    );
    // Its registrations are node 2's now.
    let rows = two.changed_since(0).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].instance, rows[0].node_address.as_str()),
        (2, "127.0.0.1:5072")
    );
    assert!(rows[0].left_ms > 0, "still bound");
    drop(store_two);
    // Node 2's own session was not sealed: node 2's restart recovers it.
    let again = place.open_as(2);
    assert_eq!(again.recovered, vec!["k-two".to_owned()]);
}

fn scale_3_location_rows_are_written_read_by_version_and_removed(place: Place) {
    let mut one = node(&place, 1, "127.0.0.1:5071");
    let mut two = node(&place, 2, "127.0.0.1:5072");
    one.put_binding(
        "sip:alice@example.com",
        &row("sip:alice@10.0.0.1", "<sip:alice@10.0.0.1>", 60_000),
    )
    .unwrap();
    two.put_binding(
        "sip:bob@example.com",
        &row(
            "sip:bob@10.0.0.2",
            "<sip:bob@10.0.0.2>;+sip.instance=\"<urn:x>\"",
            60_000,
        ),
    )
    .unwrap();
    let all = one.changed_since(0).unwrap();
    let seen: Vec<(&str, i64, &str)> = all
        .iter()
        .map(|r| (r.aor.as_str(), r.instance, r.node_address.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("sip:alice@example.com", 1, "127.0.0.1:5071"),
            ("sip:bob@example.com", 2, "127.0.0.1:5072")
        ]
    );
    assert_eq!(
        all[1].contact,
        "<sip:bob@10.0.0.2>;+sip.instance=\"<urn:x>\""
    );
    assert!(all
        .iter()
        .all(|r| r.left_ms > 50_000 && r.left_ms <= 60_000));
    let last = all[1].version;
    assert!(one.changed_since(last).unwrap().is_empty(), "nothing new");
    // Bob re-registers through node 1: the row moves to node 1, a new version.
    one.put_binding(
        "sip:bob@example.com",
        &row("sip:bob@10.0.0.2", "<sip:bob@10.0.0.2>", 30_000),
    )
    .unwrap();
    let moved = two.changed_since(last).unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        (moved[0].instance, moved[0].aor.as_str()),
        (1, "sip:bob@example.com")
    );
    // Node 2 cannot remove what is node 1's now; node 1 can.
    two.remove_binding("sip:bob@example.com", "sip:bob@10.0.0.2")
        .unwrap();
    assert!(two.changed_since(moved[0].version).unwrap().is_empty());
    one.remove_binding("sip:bob@example.com", "sip:bob@10.0.0.2")
        .unwrap();
    let gone = two.changed_since(moved[0].version).unwrap();
    assert_eq!((gone.len(), gone[0].left_ms), (1, 0), "{gone:?}");
    // Purged once gone for longer than the grace.
    assert_eq!(one.purge_gone(60_000).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(one.purge_gone(1).unwrap(), 1);
    assert_eq!(one.changed_since(0).unwrap().len(), 1, "alice's stays");
    // Replacing alice's bindings with a new set marks the old one gone.
    let before = one.changed_since(0).unwrap()[0].version;
    one.replace_bindings(
        "sip:alice@example.com",
        &[row("sip:alice@10.0.0.3", "<sip:alice@10.0.0.3>", 60_000)],
    )
    .unwrap();
    let changed = two.changed_since(before).unwrap();
    let keys: Vec<(&str, bool, &str)> = changed
        .iter()
        .map(|r| (r.contact_key.as_str(), r.left_ms > 0, r.flow_peer.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("sip:alice@10.0.0.1", false, "10.0.0.9:5060"),
            ("sip:alice@10.0.0.3", true, "10.0.0.9:5060")
        ]
    );
}
