//! Store tests, one body each, run against both backends: `on_sqlite::…` on a temp
//! file, `on_postgres::…` on a throw-away database created for the test in the server
//! named by `CPMD_TEST_PG` (a URL of a role allowed to create databases;
//! `scripts/test` sets it up). Without `CPMD_TEST_PG` the PostgreSQL tests fail
//! under `CI=true` and are skipped loudly otherwise.

use std::collections::BTreeSet;

use cpmd_core::server::{
    Disposition, DispositionRecord, HistoryObject, ParticipantRecord, Record, SessionInfo,
    SessionKey, SessionType, StandaloneMessage, StoredMessage,
};
use cpmd_core::{ContributionId, ConversationId, MessageId, SessionId, StoreTicket, UserUri};
use tokio::sync::mpsc;

use super::*;
use crate::mailstore::{FlagChange, MailError, MailFlag, MailStore};

const CONV: &str = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
const K1: &str = "k1-one-to-one";
const K2: &str = "k2-group";

fn alice() -> UserUri {
    UserUri::new_canonical("sip:alice@example.com")
}
fn bob() -> UserUri {
    UserUri::new_canonical("sip:bob@example.com")
}
fn carol() -> UserUri {
    UserUri::new_canonical("sip:carol@example.com")
}

fn key(session: u64, contribution: &str) -> SessionKey {
    SessionKey {
        session: SessionId::new(session),
        conversation_id: ConversationId::new(CONV),
        contribution_id: ContributionId::new(contribution),
    }
}

fn one_to_one_info() -> SessionInfo {
    SessionInfo {
        key: key(1, K1),
        session_type: SessionType::OneToOne,
        from: alice(),
        to: bob().as_str().to_owned(),
        date: "Thu, 26 Nov 2026 12:00:00 GMT".into(),
        subject: Some("lunch?".into()),
        in_reply_to: None,
        sdp: "v=0\r\nm=message 7001 TCP/MSRP *\r\na=path:msrp://127.0.0.1:7001/a1;tcp\r\n".into(),
        media_attributes: vec!["path:msrp://127.0.0.1:7001/a1;tcp".into()],
        invited: vec![bob()],
    }
}

fn group_info() -> SessionInfo {
    SessionInfo {
        key: key(2, K2),
        session_type: SessionType::AdHoc,
        from: alice(),
        to: "sip:conf-factory@example.com".into(),
        date: "Thu, 26 Nov 2026 12:30:00 GMT".into(),
        subject: None,
        in_reply_to: Some(ContributionId::new(K1)),
        sdp: "v=0\r\nm=message 7003 TCP/MSRP *\r\n".into(),
        media_attributes: vec![],
        invited: vec![bob(), carol()],
    }
}

fn message(k: SessionKey, seq: u64, from: UserUri, to: &[UserUri]) -> Record {
    Record::Message(StoredMessage {
        key: k,
        seq,
        sender: from,
        recipients: to.to_vec(),
        message_id: MessageId::new(format!("imdn-{seq}")),
        content_type: "message/cpim".into(),
        body: format!("From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: imdn-{seq}\r\n\r\nContent-Type: text/plain\r\n\r\nmessage {seq}").into_bytes(),
    })
}

fn seal_of(
    info: SessionInfo,
    messages: Vec<u64>,
    participants: Vec<ParticipantRecord>,
) -> HistoryObject {
    HistoryObject {
        info,
        messages,
        participants,
        focus: None,
    }
}

/// A store location for one test; dropping it removes the database.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, db: String },
}

impl Place {
    fn url(&self) -> StoreUrl {
        match self {
            Place::Sqlite(dir) => StoreUrl::Sqlite(dir.path().join("data/cpmd.db")),
            Place::Postgres { admin, db } => StoreUrl::Postgres(pg_url_for(admin, db)),
        }
    }

    fn open(&self) -> OpenStore {
        open(&self.url(), 0).expect("store opens")
    }

    fn open_as(&self, instance: u64) -> OpenStore {
        open(&self.url(), instance).expect("store opens")
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Postgres { admin, db } = self {
            if let Ok(mut c) = ::postgres::Client::connect(admin, ::postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
        }
    }
}

/// `admin` with its database replaced by `db`.
fn pg_url_for(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// The pipelined batch writer (`pg_batch.rs`) on a new connection to `url`.
fn pg_batch_writer(url: &str) -> pg_batch::PgBatchWriter {
    let (feed, _) = broadcast::channel(8);
    let shared = HistoryWriter::new(postgres::PgConn::connect(url).unwrap(), 0, feed.clone());
    pg_batch::PgBatchWriter::new(shared, feed)
}

fn sqlite_place() -> Place {
    Place::Sqlite(tempfile::tempdir().expect("temp dir"))
}

/// A fresh database in the `CPMD_TEST_PG` server, or `None` (skip) outside CI.
fn postgres_place(test: &str) -> Option<Place> {
    let Ok(admin) = std::env::var("CPMD_TEST_PG") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CPMD_TEST_PG is not set: PostgreSQL store tests are required under CI=true (scripts/test sets it up)"
        );
        eprintln!("SKIPPED {test} on PostgreSQL: CPMD_TEST_PG is not set (run scripts/test)");
        return None;
    };
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let db = format!(
        "cpmd_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        test.len()
    );
    let mut c = ::postgres::Client::connect(&admin, ::postgres::NoTls)
        .unwrap_or_else(|e| panic!("CPMD_TEST_PG: cannot connect: {e}"));
    c.batch_execute(&format!("CREATE DATABASE {db}"))
        .unwrap_or_else(|e| panic!("CPMD_TEST_PG: cannot create a database: {e}"));
    Some(Place::Postgres { admin, db })
}

/// Runs each listed test body against SQLite and PostgreSQL.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test] fn $name() { super::$name(super::sqlite_place()); })*
        }
        mod on_postgres {
            $(#[test] fn $name() {
                if let Some(p) = super::postgres_place(stringify!($name)) { super::$name(p); }
            })*
        }
    };
}

/// SEC-7: sessions of several instances on one database.
mod instances;

/// SCALE-1..3: node leases, take-over and location rows (PostgreSQL only).
mod cluster;
/// specs/deferred.md: the deferred queue's rows.
mod deferred;
/// GRP-20: the group state object per change.
mod group_states;

/// GRP-23, GRP-24: restarting an ended group.
mod restart;

/// LIM-17: mailboxes listed a page at a time, looked up by name.
mod mail_list;

/// MSG-1: group commits without per-record savepoints, and the retry with them.
mod group_commit;

/// STORE-11: PostgreSQL's pipelined group commit against the shared path, at size.
mod pg_batch_many;

/// STORE-11 on PostgreSQL: batches planned while the one before is written.
mod pg_batch_ahead;

/// STORE-12 on PostgreSQL: commits that return before their WAL flush.
mod pg_flush;

/// HIST-1, HIST-2: the one-statement seal of a session the store holds nothing of.
mod seal_new;

/// STORE-13: a sealed 1-to-1's info object printed from its session row.
mod info_once;

/// STORE-15: conversation folders without rows, listed and selected as before.
mod implicit_folders;

both_backends!(
    migrations_from_empty_and_idempotent,
    persist_seal_round_trip,
    per_user_views_and_c_never_sees_the_one_to_one,
    uids_and_uidvalidity_stable_across_reopen,
    condstore_modseq_and_changed_since,
    store_flags_unchanged_since,
    expunge_removes_only_own_copy,
    seen_is_displayed_both_ways,
    crash_recovery_seals_open_sessions,
    open_sessions_index_holds_only_open_ones,
    entries_are_not_indexed_by_modseq,
    entries_are_keyed_by_mailbox_and_uid,
    store_failure_is_reported_and_nothing_answered_ok,
    standalone_in_conversation_folder,
    undelivered_messages_leave_the_session_at_seal,
    watch_announces_after_commit,
    sealed_session_refuses_more,
    batched_and_one_by_one_write_the_same,
    a_batch_answers_each_record_alone,
);

/// Writes `records` as one group commit, as the store task does (on PostgreSQL
/// the pipelined batch, `pg_batch.rs`, when it applies).
fn write(store: &mut OpenStore, records: &[Record]) {
    let jobs: Vec<StoreJob> = records
        .iter()
        .enumerate()
        .map(|(i, r)| StoreJob::Persist(StoreTicket::new(i as u64), r.clone()))
        .collect();
    for answer in store.history.write_batch(&jobs) {
        answer.expect("persist");
    }
}

/// Seals one session as its own group commit, as the store task does.
fn seal_one(store: &mut OpenStore, history: HistoryObject) {
    let job = StoreJob::Seal(StoreTicket::new(0), history);
    for answer in store.history.write_batch(&[job]) {
        answer.expect("seal");
    }
}

fn names(store: &OpenStore, user: &UserUri) -> Vec<String> {
    store
        .mail
        .mailboxes(user)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

fn raw_text(store: &OpenStore, user: &UserUri, mailbox: &str) -> Vec<String> {
    let uids: Vec<u32> = store
        .mail
        .summaries(user, mailbox, None)
        .unwrap()
        .iter()
        .map(|s| s.uid)
        .collect();
    store
        .mail
        .fetch(user, mailbox, &uids)
        .unwrap()
        .into_iter()
        .map(|o| String::from_utf8(o.raw).unwrap())
        .collect()
}

fn k1_box() -> String {
    layout::session_mailbox(CONV, K1)
}
fn k2_box() -> String {
    layout::session_mailbox(CONV, K2)
}

fn migrations_from_empty_and_idempotent(place: Place) {
    let version = |place: &Place| -> i64 {
        match place {
            Place::Sqlite(_) => {
                let StoreUrl::Sqlite(p) = place.url() else {
                    unreachable!()
                };
                let c = rusqlite::Connection::open(p).unwrap();
                c.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
                    .unwrap()
            }
            Place::Postgres { .. } => {
                let StoreUrl::Postgres(u) = place.url() else {
                    unreachable!()
                };
                let mut c = ::postgres::Client::connect(&u, ::postgres::NoTls).unwrap();
                c.query_one("SELECT max(version) FROM schema_version", &[])
                    .unwrap()
                    .get(0)
            }
        }
    };
    let newest = sqlite::MIGRATIONS.last().map(|m| m.0);
    assert_eq!(newest, postgres::MIGRATIONS.last().map(|m| m.0));
    drop(place.open());
    assert_eq!(Some(version(&place)), newest);
    // Reopening applies nothing twice.
    drop(place.open());
    assert_eq!(Some(version(&place)), newest);
}

fn persist_seal_round_trip(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, bob(), &[alice()]),
        ],
    );
    seal_one(&mut s, seal_of(one_to_one_info(), vec![1, 2], vec![]));
    let objects = raw_text(&s, &alice(), &k1_box());
    assert_eq!(objects.len(), 3, "two messages and the info: {objects:#?}");
    assert!(objects[0].contains("IMDN-Message-ID: imdn-1\r\nMessage-Direction: sent\r\n"));
    assert!(objects[1].contains("IMDN-Message-ID: imdn-2\r\nMessage-Direction: received\r\n"));
    assert!(objects[1].ends_with("message 2"));
    let info = &objects[2];
    assert!(info.starts_with("From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\nDate: Thu, 26 Nov 2026 12:00:00 GMT\r\nSubject: lunch?\r\nConversation-ID: 7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10\r\nContribution-ID: k1-one-to-one\r\nContent-Type: Application/X-CPM-Session\r\n\r\n"), "{info}");
    assert!(info.contains("<session-type>1-1</session-type>"));
    assert!(info.contains("a=path:msrp://127.0.0.1:7001/a1;tcp"));
    // Bob's view: the same objects, his own directions.
    let bobs = raw_text(&s, &bob(), &k1_box());
    assert!(bobs[0].contains("Message-Direction: received"));
    assert!(bobs[1].contains("Message-Direction: sent"));
    assert_eq!(bobs[2], *info);
    // Reopened, everything is there.
    drop(s);
    let s = place.open();
    assert_eq!(raw_text(&s, &alice(), &k1_box()), objects);
    assert!(s.recovered.is_empty(), "a sealed session is not recovered");
}

fn per_user_views_and_c_never_sees_the_one_to_one(place: Place) {
    let mut s = place.open();
    write(&mut s, &[message(key(1, K1), 1, alice(), &[bob()])]);
    write(&mut s, &[Record::SessionInfo(group_info())]);
    write(
        &mut s,
        &[message(key(2, K2), 1, carol(), &[alice(), bob()])],
    );
    seal_one(&mut s, seal_of(one_to_one_info(), vec![1], vec![]));
    let participants = vec![
        ParticipantRecord {
            user: bob(),
            state: "joined".into(),
        },
        ParticipantRecord {
            user: carol(),
            state: "joined".into(),
        },
    ];
    seal_one(&mut s, seal_of(group_info(), vec![1], participants));

    let conv = layout::conversation_mailbox(CONV);
    assert_eq!(
        names(&s, &alice()),
        vec![
            "Default".to_owned(),
            conv.clone(),
            k1_box(),
            k2_box(),
            "INBOX".into()
        ]
    );
    assert_eq!(names(&s, &bob()), names(&s, &alice()));
    assert_eq!(
        names(&s, &carol()),
        vec!["Default".to_owned(), conv.clone(), k2_box(), "INBOX".into()],
        "C has the group folder only"
    );
    assert!(matches!(
        s.mail.status(&carol(), &k1_box()),
        Err(MailError::NoMailbox(_))
    ));
    assert!(matches!(
        s.mail.fetch(&carol(), &k1_box(), &[1, 2, 3]),
        Err(MailError::NoMailbox(_))
    ));
    let group = raw_text(&s, &carol(), &k2_box());
    // Info (from the Persist), the message, the group state object.
    assert_eq!(group.len(), 3, "{group:#?}");
    assert!(group[0].contains("Content-Type: Application/X-CPM-Session"));
    assert!(group[0].contains("<session-type>Ad-Hoc</session-type>"));
    assert!(group[0].contains("InReplyTo-Contribution-ID: k1-one-to-one"));
    assert!(group[1].contains("Message-Direction: sent"));
    assert!(group[2].contains("Content-Type: application/group-state-object+xml"));
    assert!(group[2].contains("comm-addr=\"sip:carol@example.com\""));
    let conv_status = s.mail.status(&alice(), &conv).unwrap();
    assert!(conv_status.has_children);
    assert_eq!(conv_status.messages, 0);
    // Nobody else: an unknown user has an empty tree.
    let dave = UserUri::new_canonical("sip:dave@example.com");
    assert_eq!(names(&s, &dave), vec!["Default".to_owned(), "INBOX".into()]);
}

fn uids_and_uidvalidity_stable_across_reopen(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, alice(), &[bob()]),
        ],
    );
    let before = s.mail.status(&bob(), &k1_box()).unwrap();
    let uids: Vec<u32> = s
        .mail
        .summaries(&bob(), &k1_box(), None)
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(uids, vec![1, 2]);
    assert_eq!(before.uid_next, 3);
    drop(s);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut s = place.open();
    let after = s.mail.status(&bob(), &k1_box()).unwrap();
    assert_eq!(after.uid_validity, before.uid_validity);
    // The crash seal of the reopened store added the info object under UID 3: no
    // UID is reused.
    assert_eq!(after.uid_next, 4);
    let summaries = s.mail.summaries(&bob(), &k1_box(), None).unwrap();
    assert_eq!(
        summaries.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    write(&mut s, &[message(key(5, "k9"), 1, alice(), &[bob()])]);
    assert_eq!(
        s.mail
            .summaries(&bob(), &layout::session_mailbox(CONV, "k9"), None)
            .unwrap()[0]
            .uid,
        1,
        "UIDs are per mailbox"
    );
}

fn condstore_modseq_and_changed_since(place: Place) {
    let mut s = place.open();
    write(&mut s, &[message(key(1, K1), 1, alice(), &[bob()])]);
    let first = s.mail.status(&bob(), &k1_box()).unwrap().highest_modseq;
    write(&mut s, &[message(key(1, K1), 2, alice(), &[bob()])]);
    let second = s.mail.status(&bob(), &k1_box()).unwrap().highest_modseq;
    assert!(second > first);
    let changed = s.mail.summaries(&bob(), &k1_box(), Some(first)).unwrap();
    assert_eq!(changed.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![2]);
    let flagged: BTreeSet<MailFlag> = [MailFlag::Flagged].into();
    let out = s
        .mail
        .store_flags(&bob(), &k1_box(), &[1], FlagChange::Add, &flagged, None)
        .unwrap();
    assert!(out.updated[0].modseq > second);
    let changed = s.mail.summaries(&bob(), &k1_box(), Some(second)).unwrap();
    assert_eq!(changed.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1]);
    assert!(changed[0].flags.contains(&MailFlag::Flagged));
    assert_eq!(
        s.mail.status(&bob(), &k1_box()).unwrap().highest_modseq,
        out.updated[0].modseq
    );
    // Alice's copy did not change.
    let alices = s.mail.summaries(&alice(), &k1_box(), None).unwrap();
    assert!(!alices[0].flags.contains(&MailFlag::Flagged));
}

fn store_flags_unchanged_since(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, alice(), &[bob()]),
        ],
    );
    let sums = s.mail.summaries(&bob(), &k1_box(), None).unwrap();
    let m1 = sums[0].modseq;
    let flagged: BTreeSet<MailFlag> = [MailFlag::Flagged].into();
    // Touch UID 2 so its MODSEQ passes m1's.
    s.mail
        .store_flags(&bob(), &k1_box(), &[2], FlagChange::Add, &flagged, None)
        .unwrap();
    let answered: BTreeSet<MailFlag> = [MailFlag::Answered].into();
    let out = s
        .mail
        .store_flags(
            &bob(),
            &k1_box(),
            &[1, 2],
            FlagChange::Add,
            &answered,
            Some(m1),
        )
        .unwrap();
    assert_eq!(out.modified, vec![2]);
    assert_eq!(out.updated.len(), 1);
    assert_eq!(out.updated[0].uid, 1);
    assert!(out.updated[0].flags.contains(&MailFlag::Answered));
    let now = s.mail.summaries(&bob(), &k1_box(), None).unwrap();
    assert!(
        !now[1].flags.contains(&MailFlag::Answered),
        "UID 2 left alone"
    );
    // Replace and remove.
    let out = s
        .mail
        .store_flags(&bob(), &k1_box(), &[1], FlagChange::Remove, &answered, None)
        .unwrap();
    assert!(out.updated[0].flags.is_empty());
    let out = s
        .mail
        .store_flags(
            &bob(),
            &k1_box(),
            &[1, 99],
            FlagChange::Replace,
            &flagged,
            None,
        )
        .unwrap();
    assert_eq!(out.updated.len(), 1, "a missing UID is ignored");
    assert_eq!(out.updated[0].flags, flagged);
}

fn expunge_removes_only_own_copy(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, alice(), &[bob()]),
            message(key(1, K1), 3, alice(), &[bob()]),
        ],
    );
    let deleted: BTreeSet<MailFlag> = [MailFlag::Deleted].into();
    s.mail
        .store_flags(&bob(), &k1_box(), &[1, 3], FlagChange::Add, &deleted, None)
        .unwrap();
    let before = s.mail.status(&bob(), &k1_box()).unwrap().highest_modseq;
    assert_eq!(
        s.mail.expunge(&bob(), &k1_box(), Some(&[3])).unwrap(),
        vec![3]
    );
    assert_eq!(s.mail.expunge(&bob(), &k1_box(), None).unwrap(), vec![1]);
    assert_eq!(
        s.mail.expunge(&bob(), &k1_box(), None).unwrap(),
        Vec::<u32>::new()
    );
    let status = s.mail.status(&bob(), &k1_box()).unwrap();
    assert_eq!(status.messages, 1);
    assert!(status.highest_modseq > before, "an expunge is a change");
    assert_eq!(
        s.mail.fetch(&bob(), &k1_box(), &[1, 2, 3]).unwrap().len(),
        1
    );
    assert_eq!(
        s.mail.status(&alice(), &k1_box()).unwrap().messages,
        3,
        "Alice keeps hers"
    );
}

fn seen_is_displayed_both_ways(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, alice(), &[bob()]),
        ],
    );
    // Sent copies are seen; received ones not yet.
    assert_eq!(s.mail.status(&alice(), &k1_box()).unwrap().unseen, 0);
    assert_eq!(s.mail.status(&bob(), &k1_box()).unwrap().unseen, 2);
    // An IMDN "displayed" from Bob sets \Seen on Bob's copy.
    write(
        &mut s,
        &[Record::Disposition(DispositionRecord {
            conversation_id: ConversationId::new(CONV),
            contribution_id: Some(ContributionId::new(K1)),
            message_id: MessageId::new("imdn-1"),
            recipient: bob(),
            disposition: Disposition::Displayed,
        })],
    );
    let sums = s.mail.summaries(&bob(), &k1_box(), None).unwrap();
    assert!(sums[0].flags.contains(&MailFlag::Seen));
    assert!(!sums[1].flags.contains(&MailFlag::Seen));
    // Bob setting \Seen over IMAP records message 2 as displayed by him.
    let seen: BTreeSet<MailFlag> = [MailFlag::Seen].into();
    s.mail
        .store_flags(&bob(), &k1_box(), &[2], FlagChange::Add, &seen, None)
        .unwrap();
    let displayed = displayed_by(&place, "imdn-2");
    assert_eq!(displayed, vec!["sip:bob@example.com".to_owned()]);
    assert_eq!(
        displayed_by(&place, "imdn-1"),
        vec!["sip:bob@example.com".to_owned()]
    );
}

/// Recipients recorded as having displayed message `imdn`.
fn displayed_by(place: &Place, imdn: &str) -> Vec<String> {
    let sql = "SELECT d.recipient FROM dispositions d JOIN messages m ON d.kind = 'message' AND d.ref_id = m.id \
               WHERE m.message_id = $1 AND d.displayed = 1 ORDER BY d.recipient";
    match place.url() {
        StoreUrl::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            let mut st = c.prepare(&sql.replace('$', "?")).unwrap();
            st.query_map([imdn], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
        StoreUrl::Postgres(u) => {
            let mut c = ::postgres::Client::connect(&u, ::postgres::NoTls).unwrap();
            c.query(sql, &[&imdn])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        }
    }
}

fn crash_recovery_seals_open_sessions(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, bob(), &[alice()]),
            Record::SessionInfo(group_info()),
        ],
    );
    // Another instance's open session is not ours to seal.
    let mut other = place.open_as(7);
    write(
        &mut other,
        &[message(key(1, "other"), 1, alice(), &[bob()])],
    );
    drop(other);
    // The process dies: no seal arrives.
    drop(s);
    let s = place.open();
    let mut recovered = s.recovered.clone();
    recovered.sort();
    assert_eq!(recovered, vec![K1.to_owned(), K2.to_owned()]);
    let one = raw_text(&s, &alice(), &k1_box());
    assert_eq!(one.len(), 3, "{one:#?}");
    let info = &one[2];
    assert!(info.contains("Content-Type: Application/X-CPM-Session"));
    assert!(
        info.starts_with("From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n"),
        "{info}"
    );
    assert!(info.contains("<ended-by>crash</ended-by>"));
    let group = raw_text(&s, &carol(), &k2_box());
    assert_eq!(group.len(), 1, "the group's info, once: {group:#?}");
    assert!(group[0].contains("<ended-by>crash</ended-by>"));
    // Sealed as crashed: nothing more is added, and a second start recovers nothing.
    drop(s);
    let mut s = place.open();
    assert!(s.recovered.is_empty());
    assert!(s
        .history
        .persist(&message(key(1, K1), 3, alice(), &[bob()]))
        .is_err());
    s.history.sync().unwrap();
    let s7 = place.open_as(7);
    assert_eq!(s7.recovered, vec!["other".to_owned()]);
}

/// Column `col` of every row `sql` returns, as text (index names, query plans).
fn sqlite_column(c: &rusqlite::Connection, sql: &str, col: usize) -> Vec<String> {
    c.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(col))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Migration 12: the index crash recovery reads holds open sessions only (a
/// seal's row, usually inserted sealed, costs it nothing), and recovery's query
/// can use it.
fn open_sessions_index_holds_only_open_ones(place: Place) {
    drop(place.open());
    let recovery = "SELECT id FROM sessions WHERE instance = 0 AND state = 'open' ORDER BY id";
    match place.url() {
        StoreUrl::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            let sql: String = c
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'sessions_open'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(sql.ends_with("WHERE state = 'open'"), "{sql}");
            let plan = sqlite_column(&c, &format!("EXPLAIN QUERY PLAN {recovery}"), 3);
            assert!(
                plan.iter().any(|p| p.contains("INDEX sessions_open")),
                "{plan:?}"
            );
        }
        StoreUrl::Postgres(u) => {
            let mut c = ::postgres::Client::connect(&u, ::postgres::NoTls).unwrap();
            let def: String = c
                .query_one(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'sessions_open'",
                    &[],
                )
                .unwrap()
                .get(0);
            assert!(
                def.contains("(instance) WHERE (state = 'open'::text)"),
                "{def}"
            );
        }
    }
}

/// Migration 13: no (mailbox, modseq) index on entries; STATUS and CHANGEDSINCE
/// read a mailbox's entries through its (mailbox, uid) index (their answers:
/// `condstore_modseq_and_changed_since`), in UID order without a sort.
fn entries_are_not_indexed_by_modseq(place: Place) {
    drop(place.open());
    let changed_since = "SELECT e.uid FROM entries e \
         WHERE e.mailbox = 1 AND e.expunged = 0 AND e.modseq > 3 ORDER BY e.uid";
    match place.url() {
        StoreUrl::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            let indexes = sqlite_column(
                &c,
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries'",
                0,
            );
            assert!(
                !indexes.iter().any(|i| i == "entries_modseq"),
                "{indexes:?}"
            );
            let plan = sqlite_column(&c, &format!("EXPLAIN QUERY PLAN {changed_since}"), 3);
            assert!(
                plan.iter().any(|p| p.contains("sqlite_autoindex_entries"))
                    && !plan.iter().any(|p| p.contains("TEMP B-TREE")),
                "{plan:?}"
            );
        }
        StoreUrl::Postgres(u) => {
            let mut c = ::postgres::Client::connect(&u, ::postgres::NoTls).unwrap();
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'entries_modseq'",
                    &[],
                )
                .unwrap()
                .get(0);
            assert_eq!(n, 0);
        }
    }
}

/// Migration 14: an entry is addressed by its mailbox and UID. PostgreSQL's
/// entries have no row id (no sequence value, no primary-key index insert per
/// filed object); SQLite's `id` is its rowid, no index. The flag and expunge
/// updates address entries by `(mailbox, uid)` on both (`store_flags_*`,
/// `expunge_*` exercise them).
fn entries_are_keyed_by_mailbox_and_uid(place: Place) {
    let mut store = place.open();
    write(&mut store, &[message(key(1, K1), 1, alice(), &[bob()])]);
    let flags: BTreeSet<MailFlag> = [MailFlag::Deleted].into_iter().collect();
    store
        .mail
        .store_flags(&bob(), &k1_box(), &[1], FlagChange::Add, &flags, None)
        .unwrap();
    assert_eq!(
        store.mail.expunge(&bob(), &k1_box(), None).unwrap(),
        vec![1]
    );
    assert_eq!(
        store.mail.fetch(&alice(), &k1_box(), &[1]).unwrap().len(),
        1
    );
    match place.url() {
        StoreUrl::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            let mut indexes = sqlite_column(
                &c,
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries'",
                0,
            );
            indexes.sort();
            assert_eq!(indexes, ["entries_ref", "sqlite_autoindex_entries_1"]);
        }
        StoreUrl::Postgres(u) => {
            let mut c = ::postgres::Client::connect(&u, ::postgres::NoTls).unwrap();
            let ids: i64 = c
                .query_one(
                    "SELECT count(*) FROM information_schema.columns \
                     WHERE table_name = 'entries' AND column_name = 'id'",
                    &[],
                )
                .unwrap()
                .get(0);
            assert_eq!(ids, 0, "no row id");
            let mut indexes: Vec<String> = c
                .query(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'entries'",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            indexes.sort();
            assert_eq!(indexes, ["entries_mailbox_uid_key", "entries_ref"]);
        }
    }
}

fn store_failure_is_reported_and_nothing_answered_ok(place: Place) {
    let url = place.url();
    // A writer whose database refuses writes (full disk / read-only).
    let (history, mail): (Box<dyn HistoryStore>, std::sync::Arc<dyn MailStore>) = match &url {
        StoreUrl::Sqlite(p) => {
            drop(place.open());
            let mut conn = sqlite::SqliteConn::open(p).unwrap();
            conn.fill_disk();
            let (feed, _) = broadcast::channel(8);
            let w = HistoryWriter::new(conn, 0, feed.clone());
            (
                Box::new(w),
                std::sync::Arc::new(mail::MailView::new(
                    sqlite::SqliteConn::open(p).unwrap(),
                    feed,
                )),
            )
        }
        StoreUrl::Postgres(u) => {
            drop(place.open());
            let mut conn = postgres::PgConn::connect(u).unwrap();
            conn.fill_disk();
            let (feed, _) = broadcast::channel(8);
            let w = HistoryWriter::new(conn, 0, feed.clone());
            (
                Box::new(w),
                std::sync::Arc::new(mail::MailView::new(
                    postgres::PgConn::connect(u).unwrap(),
                    feed,
                )),
            )
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answers = runtime.block_on(async move {
        let (jobs_tx, jobs) = mpsc::unbounded_channel();
        let (done, mut done_rx) = mpsc::unbounded_channel();
        let task = spawn_store_task(history, jobs, done);
        // A big body, so the full disk is hit.
        let mut big = message(key(1, K1), 1, alice(), &[bob()]);
        if let Record::Message(m) = &mut big {
            m.body = vec![b'x'; 200_000];
        }
        jobs_tx
            .send(StoreJob::Persist(StoreTicket::new(1), big))
            .unwrap();
        let mut info = one_to_one_info();
        info.sdp = "a".repeat(200_000);
        jobs_tx
            .send(StoreJob::Seal(
                StoreTicket::new(2),
                seal_of(info, vec![1], vec![]),
            ))
            .unwrap();
        drop(jobs_tx);
        task.await.unwrap();
        let mut answers = Vec::new();
        while let Some(a) = done_rx.recv().await {
            answers.push(a);
        }
        answers
    });
    assert_eq!(answers.len(), 2);
    for (ticket, result, _) in &answers {
        assert!(result.is_err(), "ticket {ticket} answered {result:?}");
    }
    assert!(
        mail.summaries(&bob(), &k1_box(), None).is_err(),
        "nothing was filed"
    );
}

fn standalone_in_conversation_folder(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[Record::Standalone(StandaloneMessage {
            conversation_id: ConversationId::new(CONV),
            contribution_id: None,
            sender: alice(),
            recipients: vec![bob()],
            message_id: MessageId::new("pager-1"),
            content_type: "text/plain".into(),
            body: b"hello <bob>".to_vec(),
        })],
    );
    let conv = layout::conversation_mailbox(CONV);
    let bobs = raw_text(&s, &bob(), &conv);
    assert_eq!(bobs.len(), 1);
    assert!(bobs[0].contains(
        "IMDN-Message-ID: pager-1\r\nMessage-Direction: received\r\nContent-Type: Message/CPIM\r\n"
    ));
    assert!(
        bobs[0].ends_with("Content-Type: text/plain\r\n\r\nhello <bob>"),
        "{}",
        bobs[0]
    );
    assert_eq!(raw_text(&s, &alice(), &conv).len(), 1);
    assert!(!names(&s, &carol()).contains(&conv));
}

fn undelivered_messages_leave_the_session_at_seal(place: Place) {
    let mut s = place.open();
    write(
        &mut s,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, alice(), &[bob()]),
        ],
    );
    // Message 2 was stored but its recipient's leg closed before delivery (MSG-4).
    seal_one(&mut s, seal_of(one_to_one_info(), vec![1], vec![]));
    for user in [alice(), bob()] {
        let objects = raw_text(&s, &user, &k1_box());
        assert_eq!(objects.len(), 2, "message 1 and the info: {objects:#?}");
        assert!(objects[0].contains("imdn-1"));
    }
}

fn watch_announces_after_commit(place: Place) {
    let mut s = place.open();
    let mut feed = s.mail.watch();
    s.history
        .persist(&message(key(1, K1), 1, alice(), &[bob()]))
        .unwrap();
    assert!(feed.try_recv().is_err(), "nothing before the commit");
    s.history.sync().unwrap();
    let mut seen = Vec::new();
    while let Ok(c) = feed.try_recv() {
        seen.push((c.user.as_str().to_owned(), c.mailbox));
    }
    assert!(
        seen.contains(&("sip:bob@example.com".to_owned(), k1_box())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("sip:alice@example.com".to_owned(), k1_box())),
        "{seen:?}"
    );
    let seen_flag: BTreeSet<MailFlag> = [MailFlag::Seen].into();
    s.mail
        .store_flags(&bob(), &k1_box(), &[1], FlagChange::Add, &seen_flag, None)
        .unwrap();
    let c = feed.try_recv().expect("flag change announced");
    assert_eq!((c.user, c.mailbox), (bob(), k1_box()));
}

fn sealed_session_refuses_more(place: Place) {
    let mut s = place.open();
    s.history
        .seal(&seal_of(one_to_one_info(), vec![], vec![]))
        .unwrap();
    // In the same batch: the second seal and a late message fail alone.
    assert!(s
        .history
        .seal(&seal_of(one_to_one_info(), vec![], vec![]))
        .is_err());
    assert!(s
        .history
        .persist(&message(key(1, K1), 1, alice(), &[bob()]))
        .is_err());
    s.history
        .persist(&message(key(3, "k3"), 1, alice(), &[bob()]))
        .unwrap();
    s.history.sync().unwrap();
    assert_eq!(raw_text(&s, &bob(), &k1_box()).len(), 1, "the info only");
    assert_eq!(
        raw_text(&s, &bob(), &layout::session_mailbox(CONV, "k3")).len(),
        1
    );
}

#[test]
fn store_urls_parse_and_hide_passwords() {
    assert_eq!(
        StoreUrl::parse("sqlite:data/cpmd.db").unwrap(),
        StoreUrl::Sqlite(std::path::PathBuf::from("data/cpmd.db"))
    );
    assert_eq!(
        StoreUrl::parse("sqlite:///var/lib/cpmd.db").unwrap(),
        StoreUrl::Sqlite(std::path::PathBuf::from("/var/lib/cpmd.db"))
    );
    let pg = StoreUrl::parse("postgres://cpmd:secret@db.example:5432/cpmd").unwrap();
    assert_eq!(pg.to_string(), "postgres://cpmd:***@db.example:5432/cpmd");
    assert!(StoreUrl::parse("mysql://x").is_err());
    assert!(StoreUrl::parse("sqlite:").is_err());
    assert_eq!(
        pg_url_for("postgres://u:p@h:5/postgres?sslmode=disable", "t1"),
        "postgres://u:p@h:5/t1?sslmode=disable"
    );
}

/// LIM-3: a mailbox read in progress holds no write lock. The history writer
/// commits while an IMAP read transaction is open (on SQLite a reader holding
/// `BEGIN IMMEDIATE` would make this commit wait out its busy timeout and fail),
/// and the read keeps its snapshot.
#[test]
fn a_slow_mailbox_read_never_blocks_the_history_writer() {
    let place = sqlite_place();
    let mut s = place.open();
    write(&mut s, &[Record::SessionInfo(one_to_one_info())]);
    let StoreUrl::Sqlite(path) = place.url() else {
        unreachable!("sqlite place")
    };
    let (feed, _) = broadcast::channel(8);
    let view = mail::MailView::new(sqlite::SqliteConn::open(&path).unwrap(), feed);
    let count = |ops: &mut ops::Ops<'_, sqlite::SqliteConn>| -> i64 {
        ops.conn
            .query_one("SELECT count(*) FROM entries", &[])
            .and_then(|r| r.int(0))
            .unwrap()
    };
    let (before, after) = view
        .read(&alice(), |ops| {
            let before = count(ops);
            // The writer, mid-read: a commit the reader must not hold up.
            s.history
                .persist(&message(key(1, K1), 1, alice(), &[bob()]))
                .unwrap();
            s.history.sync().expect("the writer commits during a read");
            Ok((before, count(ops)))
        })
        .unwrap();
    assert_eq!(before, after, "the read sees one snapshot");
    assert_eq!(
        raw_text(&s, &alice(), &k1_box()).len(),
        2,
        "info and message"
    );
}

/// Set (to a database path) when this test binary runs as the other process of
/// [`another_connection_keeps_the_writers_wal`].
const WAL_PEER: &str = "CPMD_TEST_WAL_PEER";

/// The other process of [`another_connection_keeps_the_writers_wal`]: opens the
/// database, prints how many rows `t` has, closes. Without [`WAL_PEER`] (an
/// ordinary test run) it has nothing to do.
#[test]
fn wal_peer_process() {
    let Ok(path) = std::env::var(WAL_PEER) else {
        return;
    };
    let mut c = sqlite::SqliteConn::open(std::path::Path::new(&path)).unwrap();
    let n = c
        .query_one("SELECT count(*) FROM t", &[])
        .and_then(|r| r.int(0))
        .unwrap();
    println!("WAL-PEER-COUNT={n}");
}

/// What another process sees of the database at `path` (by running
/// [`wal_peer_process`] in a child).
fn rows_seen_by_another_process(path: &std::path::Path) -> i64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "store::tests::wal_peer_process", "--nocapture"])
        .env(WAL_PEER, path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("WAL-PEER-COUNT="))
        .unwrap_or_else(|| panic!("peer printed no count: {stdout}"))
        .trim()
        .parse()
        .unwrap()
}

/// A second connection opened in the writer's process (the mailbox reader) must not
/// drop the writer's POSIX locks: if it did, another process's connection closing
/// would take itself for the last one, checkpoint and delete the WAL the writer
/// still appends to, and every later commit would be lost (found by
/// `tests/tests/msrp.rs`, caused by `files::private_file` opening the database).
#[test]
fn another_connection_keeps_the_writers_wal() {
    let place = sqlite_place();
    let StoreUrl::Sqlite(path) = place.url() else {
        unreachable!("sqlite place")
    };
    let mut writer = sqlite::SqliteConn::open(&path).unwrap();
    writer
        .batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)")
        .unwrap();
    let _reader = sqlite::SqliteConn::open(&path).unwrap();
    assert_eq!(rows_seen_by_another_process(&path), 1);
    writer.exec("INSERT INTO t VALUES (2)", &[]).unwrap();
    assert_eq!(
        rows_seen_by_another_process(&path),
        2,
        "a commit after another process came and went is visible"
    );
}

/// Everything the three users see: each mailbox's counters (UIDVALIDITY aside, a
/// creation time) and each object's UID, MODSEQ, flags, size and bytes (`Date:`
/// lines aside, the write time).
fn view(store: &OpenStore) -> Vec<String> {
    let mut out = Vec::new();
    for user in [alice(), bob(), carol()] {
        for m in store.mail.mailboxes(&user).unwrap() {
            out.push(format!(
                "{} {} next={} n={} unseen={} modseq={} children={}",
                user.as_str(),
                m.name,
                m.uid_next,
                m.messages,
                m.unseen,
                m.highest_modseq,
                m.has_children
            ));
            let summaries = store.mail.summaries(&user, &m.name, None).unwrap();
            let uids: Vec<u32> = summaries.iter().map(|s| s.uid).collect();
            let objects = store.mail.fetch(&user, &m.name, &uids).unwrap();
            for (s, o) in summaries.iter().zip(objects) {
                let text = String::from_utf8(o.raw).unwrap();
                let text: Vec<&str> = text
                    .split("\r\n")
                    .filter(|l| !l.starts_with("Date: "))
                    .collect();
                out.push(format!(
                    "  uid={} modseq={} flags={:?} size={} {}",
                    s.uid,
                    s.modseq,
                    s.flags,
                    s.size,
                    text.join("|")
                ));
            }
        }
    }
    out
}

/// [`view`] without the group state objects' write time.
fn timeless(store: &OpenStore) -> Vec<String> {
    view(store)
        .into_iter()
        .map(|line| match line.split_once("timestamp=\"") {
            Some((head, rest)) => {
                let tail = rest.split_once('"').map_or("", |(_, t)| t);
                format!("{head}timestamp=\"\"{tail}")
            }
            None => line,
        })
        .collect()
}

/// A place of the same backend as `place`, for a second store.
fn another(place: &Place) -> Place {
    match place {
        Place::Sqlite(_) => sqlite_place(),
        Place::Postgres { .. } => postgres_place("another").expect("CPMD_TEST_PG is set"),
    }
}

/// The group commits of [`batched_and_one_by_one_write_the_same`]: messages of a
/// 1-to-1 and of a group; the two seals (the group's with its participants); a
/// session whose seal drops a stored message (HIST-3); a sender over quota in the
/// middle of a batch (LIM-14).
fn batches() -> Vec<Vec<StoreJob>> {
    let participants = vec![
        ParticipantRecord {
            user: bob(),
            state: "joined".into(),
        },
        ParticipantRecord {
            user: carol(),
            state: "joined".into(),
        },
    ];
    let mut big = message(key(5, "k5"), 1, carol(), &[alice()]);
    if let Record::Message(m) = &mut big {
        m.body = vec![b'x'; 6000];
    }
    let jobs = |records: Vec<StoreJob>| records;
    let p = |n: u64, r: Record| StoreJob::Persist(StoreTicket::new(n), r);
    let s = |n: u64, h: HistoryObject| StoreJob::Seal(StoreTicket::new(n), h);
    vec![
        jobs(vec![
            p(1, message(key(1, K1), 1, alice(), &[bob()])),
            p(2, message(key(1, K1), 2, bob(), &[alice()])),
            p(3, message(key(2, K2), 1, carol(), &[alice(), bob()])),
        ]),
        jobs(vec![
            s(4, seal_of(one_to_one_info(), vec![1, 2], vec![])),
            s(5, seal_of(group_info(), vec![1], participants)),
        ]),
        jobs(vec![
            p(6, message(key(4, "k4"), 1, alice(), &[bob()])),
            p(7, message(key(4, "k4"), 2, alice(), &[bob()])),
        ]),
        jobs(vec![s(8, {
            let mut info = one_to_one_info();
            info.key = key(4, "k4");
            seal_of(info, vec![1], vec![])
        })]),
        jobs(vec![
            p(9, big),
            p(10, message(key(5, "k5"), 2, carol(), &[alice()])),
            p(11, message(key(5, "k5"), 3, bob(), &[carol()])),
        ]),
        // Messages, a disposition on one of them and the session's seal in one
        // group commit: on SQLite the message rows are written together
        // (`row_batch.rs`), before anything that reads them. (Bob sends: Alice is
        // over her quota by now, her copies are skipped.)
        jobs(vec![
            p(12, message(key(6, "k6"), 1, bob(), &[alice()])),
            p(13, message(key(6, "k6"), 2, bob(), &[alice()])),
            p(
                14,
                Record::Disposition(DispositionRecord {
                    conversation_id: ConversationId::new(CONV),
                    contribution_id: Some(ContributionId::new("k6")),
                    message_id: MessageId::new("imdn-1"),
                    recipient: alice(),
                    disposition: Disposition::Displayed,
                }),
            ),
            p(15, message(key(6, "k6"), 3, bob(), &[alice()])),
            s(16, {
                let mut info = one_to_one_info();
                info.key = key(6, "k6");
                seal_of(info, vec![1, 3], vec![])
            }),
        ]),
    ]
}

/// The PostgreSQL store writes a group commit in two round trips (`pg_batch.rs`),
/// falling back to the record-by-record path for what it does not handle: the
/// objects, UIDs, MODSEQs and flags users see are the same as when every record is
/// written and committed alone (HIST-1, HIST-3, LIM-14). On SQLite both are the
/// record-by-record path.
fn batched_and_one_by_one_write_the_same(place: Place) {
    let other = another(&place);
    let open_quota = |p: &Place| open_limited(&p.url(), 0, 5000).expect("store opens");
    let mut batched = open_quota(&place);
    let mut alone = open_quota(&other);
    let mut batched_answers = Vec::new();
    let mut alone_answers = Vec::new();
    for batch in batches() {
        batched_answers.extend(
            batched
                .history
                .write_batch(&batch)
                .into_iter()
                .map(|a| a.is_ok()),
        );
        for job in &batch {
            alone_answers.push(alone.history.write_batch(std::slice::from_ref(job))[0].is_ok());
        }
    }
    assert_eq!(batched_answers, alone_answers);
    // Carol's 6000-byte message took her past her quota: her next one is refused,
    // and Bob's to her is stored without her copy.
    assert_eq!(
        batched_answers,
        [
            true, true, true, true, true, true, true, true, true, false, true, true, true, true,
            true, true
        ]
    );
    // The group's state objects carry their write time (to the second), which
    // differs between the two stores when a second turns between their writes.
    let (a, b) = (timeless(&batched), timeless(&alone));
    assert_eq!(a, b);
    assert!(a.len() > 20, "{a:#?}");
}

/// One group commit with records that must fail (a second seal of a session, a
/// message for it after its seal: HIST-2) between records that succeed: each is
/// answered on its own, in order (MSG-1: the others are durable).
fn a_batch_answers_each_record_alone(place: Place) {
    let mut s = place.open();
    let answers = s.history.write_batch(&[
        StoreJob::Seal(
            StoreTicket::new(1),
            seal_of(one_to_one_info(), vec![], vec![]),
        ),
        StoreJob::Seal(
            StoreTicket::new(2),
            seal_of(one_to_one_info(), vec![], vec![]),
        ),
        StoreJob::Persist(
            StoreTicket::new(3),
            message(key(1, K1), 1, alice(), &[bob()]),
        ),
        StoreJob::Persist(
            StoreTicket::new(4),
            message(key(3, "k3"), 1, alice(), &[bob()]),
        ),
    ]);
    let ok: Vec<bool> = answers.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, false, true]);
    drop(s);
    let s = place.open();
    assert_eq!(raw_text(&s, &bob(), &k1_box()).len(), 1, "the info only");
    // The message, and the info of its session that this reopening sealed.
    let k3 = raw_text(&s, &bob(), &layout::session_mailbox(CONV, "k3"));
    assert_eq!(k3.len(), 2, "{k3:#?}");
    assert!(k3[0].contains("imdn-1"));
}

/// STORE-11: on PostgreSQL a batch of chat messages and seals is written the
/// pipelined way (`pg_batch.rs`), not record by record; a batch with a session info
/// record is not.
#[test]
fn store_11_messages_and_seals_take_the_pipelined_path() {
    let Some(place) = postgres_place("pipelined") else {
        return;
    };
    let StoreUrl::Postgres(url) = place.url() else {
        unreachable!("a PostgreSQL place")
    };
    drop(place.open());
    let mut writer = pg_batch_writer(&url);
    let jobs = [
        StoreJob::Persist(
            StoreTicket::new(1),
            message(key(1, K1), 1, alice(), &[bob()]),
        ),
        StoreJob::Persist(
            StoreTicket::new(2),
            message(key(1, K1), 2, bob(), &[alice()]),
        ),
        StoreJob::Seal(
            StoreTicket::new(3),
            seal_of(one_to_one_info(), vec![1, 2], vec![]),
        ),
    ];
    for answer in writer.write_batch(&jobs) {
        answer.unwrap();
    }
    assert_eq!(writer.pipelined_batches(), 1);
    let info = [StoreJob::Persist(
        StoreTicket::new(4),
        Record::SessionInfo(group_info()),
    )];
    writer.write_batch(&info)[0].clone().unwrap();
    assert_eq!(writer.pipelined_batches(), 1, "the record-by-record path");
    let s = place.open();
    assert_eq!(raw_text(&s, &bob(), &k1_box()).len(), 3);
}
