//! Store benchmark (`cargo bench -p cpmd --bench store`): with durability on
//! (SQLite, WAL, `synchronous=FULL`), in one run on one disk:
//!
//! 1. committed chat messages/s through the real write path: the store task
//!    (`spawn_store_task`) with group commit, every message answered only after its
//!    batch committed;
//! 2. the same rows (the message row and its two mailbox entries) written with raw
//!    SQLite inserts, one transaction (one fsync) per message: the baseline;
//! 3. sealed 1-to-1 sessions/s through the store task.
//!
//! With `CPMD_TEST_PG` set (a PostgreSQL URL of a role that may create databases,
//! as `scripts/test` sets up), 1 and 3 also run on PostgreSQL, in a throw-away
//! database.
//!
//! It drives the `cpmd` library's store ([`cpmd::store`]) as the server does.
//! Sizes: `BENCH_MESSAGES` (default 20000), `BENCH_RAW` (default 2000),
//! `BENCH_SEALS` (default 5000).

use std::time::Instant;

use cpmd_core::server::{
    HistoryObject, Record, SessionInfo, SessionKey, SessionType, StoredMessage,
};
use cpmd_core::{ContributionId, ConversationId, MessageId, SessionId, StoreTicket, UserUri};
use tokio::sync::mpsc;

use cpmd::store::{self, spawn_store_task, StoreJob, StoreUrl};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(n: u64) -> SessionKey {
    SessionKey {
        session: SessionId::new(n),
        conversation_id: ConversationId::new(format!("conv-{n}")),
        contribution_id: ContributionId::new(format!("contrib-{n}")),
    }
}

fn message(session: u64, seq: u64) -> Record {
    Record::Message(StoredMessage {
        key: key(session),
        seq,
        sender: UserUri::new_canonical("sip:alice@example.com"),
        recipients: vec![UserUri::new_canonical("sip:bob@example.com")],
        message_id: MessageId::new(format!("m-{session}-{seq}")),
        content_type: "message/cpim".into(),
        body: b"From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: x\r\nDateTime: 2026-11-26T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nhello, this is a chat message of ordinary length"
            .to_vec(),
    })
}

fn seal(n: u64) -> HistoryObject {
    HistoryObject {
        info: SessionInfo {
            key: key(n),
            session_type: SessionType::OneToOne,
            from: UserUri::new_canonical("sip:alice@example.com"),
            to: "sip:bob@example.com".into(),
            date: "Thu, 26 Nov 2026 12:00:00 GMT".into(),
            subject: None,
            in_reply_to: None,
            sdp: "v=0\r\nm=message 7001 TCP/MSRP *\r\na=path:msrp://127.0.0.1:7001/a1;tcp\r\n"
                .into(),
            media_attributes: vec!["path:msrp://127.0.0.1:7001/a1;tcp".into()],
            invited: vec![UserUri::new_canonical("sip:bob@example.com")],
        },
        messages: vec![],
        participants: vec![],
        focus: None,
    }
}

/// Runs `jobs` through the store task; returns the seconds until the last answer.
fn through_store_task(url: &StoreUrl, jobs: Vec<StoreJob>) -> f64 {
    let opened = store::open(url, 0).expect("open store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let task = spawn_store_task(opened.history, rx, done_tx);
        let n = jobs.len();
        let start = Instant::now();
        for j in jobs {
            tx.send(j).expect("store task alive");
        }
        for _ in 0..n {
            let (_, result, _) = done.recv().await.expect("answer");
            result.expect("stored");
        }
        let secs = start.elapsed().as_secs_f64();
        drop(tx);
        task.await.expect("store task");
        secs
    })
}

/// The baseline: the rows one message makes, one transaction each.
fn raw_inserts(db: &std::path::Path, n: u64) -> f64 {
    let c = rusqlite::Connection::open(db).expect("open");
    c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
        .expect("wal");
    c.execute_batch(
        "PRAGMA synchronous=FULL;
         CREATE TABLE messages (id INTEGER PRIMARY KEY, session INTEGER, seq INTEGER, message_id TEXT,
           sender TEXT, recipients TEXT, content_type TEXT, body BLOB, date TEXT, received_at INTEGER);
         CREATE TABLE entries (id INTEGER PRIMARY KEY, mailbox INTEGER, uid INTEGER, modseq INTEGER,
           flags INTEGER, internal_date INTEGER, kind TEXT, ref_id INTEGER, size INTEGER, raw BLOB,
           expunged INTEGER, UNIQUE (mailbox, uid));",
    )
    .expect("schema");
    let Record::Message(m) = message(1, 1) else {
        unreachable!()
    };
    let raw = vec![b'x'; m.body.len() + 300];
    let start = Instant::now();
    for i in 0..n {
        let i = i as i64;
        let tx = c.unchecked_transaction().expect("begin");
        tx.execute(
            "INSERT INTO messages (session, seq, message_id, sender, recipients, content_type, body, date, received_at) \
             VALUES (1, ?1, 'm', 'sip:alice@example.com', 'sip:bob@example.com', 'message/cpim', ?2, 'date', 0)",
            rusqlite::params![i, m.body],
        )
        .expect("insert message");
        for mailbox in [1i64, 2] {
            tx.execute(
                "INSERT INTO entries (mailbox, uid, modseq, flags, internal_date, kind, ref_id, size, raw, expunged) \
                 VALUES (?1, ?2, ?2, 0, 0, 'message', ?2, ?3, ?4, 0)",
                rusqlite::params![mailbox, i, raw.len() as i64, raw],
            )
            .expect("insert entry");
        }
        tx.commit().expect("commit");
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let messages = env("BENCH_MESSAGES", 20_000);
    let raw = env("BENCH_RAW", 2_000);
    let seals = env("BENCH_SEALS", 5_000);
    let dir = tempfile::tempdir().expect("temp dir");

    // 100 sessions, messages round-robin, as concurrent chats would arrive.
    let jobs = (0..messages)
        .map(|i| StoreJob::Persist(StoreTicket::new(i), message(i % 100, i / 100 + 1)))
        .collect();
    let store_s = through_store_task(&StoreUrl::Sqlite(dir.path().join("messages.db")), jobs);
    let store_rate = messages as f64 / store_s;
    println!("store task, group commit: {messages} messages committed in {store_s:.2} s = {store_rate:.0} messages/s");

    let raw_s = raw_inserts(&dir.path().join("raw.db"), raw);
    let raw_rate = raw as f64 / raw_s;
    println!("raw SQLite, one transaction per message: {raw} messages in {raw_s:.2} s = {raw_rate:.0} messages/s");
    println!("ratio store / raw: {:.1}", store_rate / raw_rate);

    let jobs = (0..seals)
        .map(|i| StoreJob::Seal(StoreTicket::new(i), seal(1_000_000 + i)))
        .collect();
    let seal_s = through_store_task(&StoreUrl::Sqlite(dir.path().join("seals.db")), jobs);
    let seal_rate = seals as f64 / seal_s;
    println!(
        "store task, group commit: {seals} 1-to-1 sessions sealed in {seal_s:.2} s = {seal_rate:.0} sessions/s"
    );

    if let Ok(admin) = std::env::var("CPMD_TEST_PG") {
        let (pg_messages, pg_seals) = postgres_runs(&admin, messages, seals);
        println!(
            "PostgreSQL / SQLite, same run: messages {:.2}, seals {:.2}",
            pg_messages / store_rate,
            pg_seals / seal_rate
        );
    }
}

/// The store-task runs on PostgreSQL, each in a fresh database: messages/s and
/// seals/s.
fn postgres_runs(admin: &str, messages: u64, seals: u64) -> (f64, f64) {
    let mut rates = Vec::new();
    let mut client = postgres::Client::connect(admin, postgres::NoTls).expect("CPMD_TEST_PG");
    let base = admin.split('?').next().unwrap_or(admin);
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    for (what, n) in [("messages", messages), ("seals", seals)] {
        let name = format!("cpmd_bench_{}_{what}", std::process::id());
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .expect("drop");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create");
        let url = StoreUrl::Postgres(format!("{base}/{name}"));
        let jobs: Vec<StoreJob> = (0..n)
            .map(|i| match what {
                "messages" => StoreJob::Persist(StoreTicket::new(i), message(i % 100, i / 100 + 1)),
                _ => StoreJob::Seal(StoreTicket::new(i), seal(1_000_000 + i)),
            })
            .collect();
        let secs = through_store_task(&url, jobs);
        rates.push(n as f64 / secs);
        println!(
            "PostgreSQL, store task, group commit: {n} {what} in {secs:.2} s = {:.0}/s",
            n as f64 / secs
        );
        drop_database(&mut client, &name);
    }
    (rates[0], rates[1])
}

/// Drops a bench database. `WITH (FORCE)` may not end an autovacuum worker that
/// is analyzing it (a long run on a loaded machine: "must be a member of the role
/// whose process is being terminated"), so a few tries, then a warning, not a
/// lost run.
fn drop_database(client: &mut postgres::Client, name: &str) {
    for _ in 0..20 {
        match client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
            Ok(()) => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(250)),
        }
    }
    eprintln!("could not drop database {name}: drop it by hand");
}
