//! LIM-14 on the store (SQLite): a sender over its quota is refused with the typed
//! `StoreError::OverQuota` and nothing is written; a recipient over quota loses
//! only its own copy, which is recorded in `quota_skips`.

use cpmd_core::server::{Record, SessionKey, StoredMessage};
use cpmd_core::{ContributionId, ConversationId, MessageId, SessionId, UserUri};

use super::*;

const CONV: &str = "5b1c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";

fn user(name: &str) -> UserUri {
    UserUri::new_canonical(format!("sip:{name}@example.com"))
}

fn message(seq: u64, from: &str, to: &[&str]) -> Record {
    Record::Message(StoredMessage {
        key: SessionKey {
            session: SessionId::new(1),
            conversation_id: ConversationId::new(CONV),
            contribution_id: ContributionId::new("quota-group"),
        },
        seq,
        sender: user(from),
        recipients: to.iter().map(|u| user(u)).collect(),
        message_id: MessageId::new(format!("q-{seq}")),
        content_type: "text/plain".into(),
        body: format!("message {seq}").into_bytes(),
    })
}

fn count(store: &OpenStore, who: &str) -> usize {
    let mailbox = layout::session_mailbox(CONV, "quota-group");
    store
        .mail
        .summaries(&user(who), &mailbox, None)
        .map(|s| s.len())
        .unwrap_or(0)
}

#[test]
fn lim_14_sender_refused_recipient_copy_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("quota.db");
    // One byte: a user's first message object takes it over (LIM-14: over once the
    // count has reached the quota).
    let mut store = open_limited(&StoreUrl::Sqlite(path.clone()), 0, 1).expect("open");

    store
        .history
        .persist(&message(1, "alice", &["bob"]))
        .expect("alice under quota");
    store.history.sync().expect("sync");
    assert_eq!((count(&store, "alice"), count(&store, "bob")), (1, 1));

    // carol is under quota; alice and bob, her recipients, are over: her message is
    // stored and acknowledged, their copies skipped and recorded.
    store
        .history
        .persist(&message(2, "carol", &["alice", "bob"]))
        .expect("a recipient over quota does not fail the sender");
    store.history.sync().expect("sync");
    assert_eq!(
        (
            count(&store, "alice"),
            count(&store, "bob"),
            count(&store, "carol")
        ),
        (1, 1, 1)
    );

    // alice is over quota: refused with the typed error, nothing written.
    let refused = store.history.persist(&message(3, "alice", &["carol"]));
    assert_eq!(
        refused,
        Err(StoreError::OverQuota {
            user: user("alice").as_str().to_owned()
        })
    );
    store.history.sync().expect("sync");
    assert_eq!(
        count(&store, "carol"),
        1,
        "nothing of the refused message filed"
    );

    let db = rusqlite::Connection::open(&path).expect("open the database");
    let skipped: Vec<String> = db
        .prepare(
            "SELECT u.uri FROM quota_skips q JOIN users u ON q.user_id = u.id \
             WHERE q.kind = 'message' ORDER BY u.uri",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(skipped, ["sip:alice@example.com", "sip:bob@example.com"]);
    let refused_rows: i64 = db
        .query_row("SELECT count(*) FROM messages WHERE seq = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(refused_rows, 0);
}

/// The users' stored bytes and skipped copies, by user.
fn usage_and_skips(path: &std::path::Path) -> (Vec<(String, i64)>, Vec<String>) {
    let db = rusqlite::Connection::open(path).expect("open the database");
    let usage = db
        .prepare(
            "SELECT u.uri, q.stored_bytes FROM user_usage q JOIN users u ON q.user_id = u.id \
             ORDER BY u.uri",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let skips = db
        .prepare("SELECT u.uri FROM quota_skips q JOIN users u ON q.user_id = u.id ORDER BY q.id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (usage, skips)
}

/// LIM-14 in one group commit (stored bytes read and charged once per user and
/// batch, `reserve.rs`): the same answers, stored bytes and skipped copies as record
/// by record, with the batch's own charges counted (alice's first message takes her
/// over, so her second one in the same batch is refused).
#[test]
fn lim_14_a_batch_counts_its_own_charges() {
    let records = [
        message(1, "alice", &["bob"]),
        message(2, "carol", &["alice", "bob"]),
        message(3, "alice", &["carol"]),
        message(4, "dave", &["erin"]),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let one_by_one = dir.path().join("one.db");
    let mut store = open_limited(&StoreUrl::Sqlite(one_by_one.clone()), 0, 1).expect("open");
    let mut answers_one = Vec::new();
    for r in &records {
        answers_one.push(store.history.persist(r));
        store.history.sync().expect("sync");
    }
    drop(store);

    let batched = dir.path().join("batch.db");
    let mut store = open_limited(&StoreUrl::Sqlite(batched.clone()), 0, 1).expect("open");
    let jobs: Vec<StoreJob> = records
        .iter()
        .enumerate()
        .map(|(i, r)| StoreJob::Persist(cpmd_core::StoreTicket::new(i as u64), r.clone()))
        .collect();
    let answers_batch = store.history.write_batch(&jobs);
    drop(store);

    assert_eq!(answers_batch, answers_one);
    assert_eq!(
        answers_batch[2],
        Err(StoreError::OverQuota {
            user: user("alice").as_str().to_owned()
        })
    );
    assert!(answers_batch[3].is_ok());
    let (usage, skips) = usage_and_skips(&batched);
    assert_eq!((usage.clone(), skips.clone()), usage_and_skips(&one_by_one));
    assert_eq!(skips, ["sip:alice@example.com", "sip:bob@example.com"]);
    assert_eq!(
        usage.len(),
        5,
        "everyone but the refused message charged: {usage:?}"
    );
}
