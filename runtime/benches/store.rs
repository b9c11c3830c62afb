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
//! database, with the server's CPU for the records (its backends' user + system
//! time from `/proc` between the clock's start and the last answer, where the
//! server runs on this machine).
//!
//! Every store is opened (connections, migrations, and on PostgreSQL the store
//! task's flush connection) before its clock starts.
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
/// The store is opened (connections made, migrations run) before the clock starts;
/// `server` (PostgreSQL) waits for the store task's flush connection, then
/// samples the server's CPU at the start and at the last answer.
fn through_store_task(url: &StoreUrl, jobs: Vec<StoreJob>, server: Option<&mut ServerCpu>) -> f64 {
    let opened = store::open(url, 0).expect("open store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    // The store task runs on the runtime's blocking pool, which needs no
    // `block_on`; the server's CPU is read outside the runtime (the synchronous
    // `postgres` client runs one of its own).
    let task = {
        let _entered = runtime.enter();
        spawn_store_task(opened.history, rx, done_tx)
    };
    let mut server = server;
    if let Some(s) = server.as_deref_mut() {
        s.start();
    }
    let n = jobs.len();
    let start = Instant::now();
    for j in jobs {
        tx.send(j).expect("store task alive");
    }
    runtime.block_on(async {
        for _ in 0..n {
            let (_, result, _) = done.recv().await.expect("answer");
            result.expect("stored");
        }
    });
    let secs = start.elapsed().as_secs_f64();
    if let Some(s) = server {
        s.stop();
    }
    drop(tx);
    runtime.block_on(task).expect("store task");
    secs
}

/// The CPU time (user + system, from `/proc`) of a bench database's server
/// processes between [`ServerCpu::start`] and [`ServerCpu::stop`]: the server's
/// work for the records alone, without the store's opening (its connections and
/// migrations), which session 12 found to be ~0.1 s per database. Only where the
/// server runs on this machine and its `/proc` entries are readable; `None`
/// otherwise.
struct ServerCpu {
    admin: postgres::Client,
    database: String,
    started: Vec<(i32, u64)>,
    seconds: Option<f64>,
    /// This process's ticks at the start, and its CPU seconds to the stop (the
    /// store's writer, its connection's I/O thread, the flush thread).
    client_started: u64,
    client_seconds: Option<f64>,
}

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

impl ServerCpu {
    /// The backends of the database and their ticks so far; waits (up to 5 s)
    /// for the store task's flush connection, so its start is not measured.
    fn backends(&mut self, wait_for_flush: bool) -> Vec<(i32, u64)> {
        for _ in 0..500 {
            let rows = self
                .admin
                .query(
                    "SELECT pid, application_name FROM pg_stat_activity WHERE datname::text = $1",
                    &[&self.database],
                )
                .unwrap_or_default();
            let flush = rows
                .iter()
                .any(|r| r.get::<_, String>(1) == cpmd::store::pg_flush::APPLICATION_NAME);
            if flush || !wait_for_flush {
                return rows
                    .iter()
                    .filter_map(|r| {
                        let pid: i32 = r.get(0);
                        Some((pid, ticks(pid)?))
                    })
                    .collect();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Vec::new()
    }

    fn start(&mut self) {
        self.started = self.backends(true);
        self.client_started = own_ticks().unwrap_or(0);
    }

    fn stop(&mut self) {
        self.client_seconds =
            own_ticks().map(|t| t.saturating_sub(self.client_started) as f64 / TICKS_PER_SECOND);
        let now = self.backends(false);
        if self.started.is_empty() {
            return;
        }
        let used: u64 = now
            .iter()
            .map(|(pid, t)| {
                let before = self
                    .started
                    .iter()
                    .find(|(p, _)| p == pid)
                    .map_or(0, |(_, b)| *b);
                t.saturating_sub(before)
            })
            .sum();
        self.seconds = Some(used as f64 / TICKS_PER_SECOND);
    }
}

/// utime + stime of this process, in clock ticks.
fn own_ticks() -> Option<u64> {
    ticks_of(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime of process `pid`, in clock ticks.
fn ticks(pid: i32) -> Option<u64> {
    ticks_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn ticks_of(stat: &str) -> Option<u64> {
    // The fields after the command (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split(' ').collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
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
    let store_s = through_store_task(
        &StoreUrl::Sqlite(dir.path().join("messages.db")),
        jobs,
        None,
    );
    let store_rate = messages as f64 / store_s;
    println!("store task, group commit: {messages} messages committed in {store_s:.2} s = {store_rate:.0} messages/s");

    let raw_s = raw_inserts(&dir.path().join("raw.db"), raw);
    let raw_rate = raw as f64 / raw_s;
    println!("raw SQLite, one transaction per message: {raw} messages in {raw_s:.2} s = {raw_rate:.0} messages/s");
    println!("ratio store / raw: {:.1}", store_rate / raw_rate);

    let jobs = (0..seals)
        .map(|i| StoreJob::Seal(StoreTicket::new(i), seal(1_000_000 + i)))
        .collect();
    let seal_s = through_store_task(&StoreUrl::Sqlite(dir.path().join("seals.db")), jobs, None);
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
        let mut server = postgres::Client::connect(admin, postgres::NoTls)
            .ok()
            .map(|admin| ServerCpu {
                admin,
                database: name.clone(),
                started: Vec::new(),
                seconds: None,
                client_started: 0,
                client_seconds: None,
            });
        let secs = through_store_task(&url, jobs, server.as_mut());
        rates.push(n as f64 / secs);
        let cpu = server.map_or(String::new(), |s| {
            let server = s
                .seconds
                .map_or(String::new(), |c| format!(", server CPU {c:.2} s"));
            let client = s
                .client_seconds
                .map_or(String::new(), |c| format!(", client CPU {c:.2} s"));
            format!("{server}{client}")
        });
        println!(
            "PostgreSQL, store task, group commit: {n} {what} in {secs:.2} s = {:.0}/s{cpu}",
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
