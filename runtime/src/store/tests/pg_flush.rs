//! STORE-12 on PostgreSQL (`pg_flush.rs`): the store task's writer commits with
//! `synchronous_commit = off` and a connection of its own flushes the WAL before
//! any answer; a flush that fails fails its answers and every later one.

use super::*;

/// `SHOW synchronous_commit` on `conn`.
fn synchronous_commit(conn: &mut postgres::PgConn) -> String {
    conn.query("SHOW synchronous_commit", &[]).unwrap()[0]
        .text(0)
        .unwrap()
}

/// A WAL position as a number (`what`: `insert` or `flush`).
fn wal_lsn(conn: &mut postgres::PgConn, what: &str) -> i64 {
    conn.query(
        &format!("SELECT (pg_current_wal_{what}_lsn() - '0/0'::pg_lsn)::bigint"),
        &[],
    )
    .unwrap()[0]
        .int(0)
        .unwrap()
}

#[test]
fn store_12_postgres_commits_detach_and_a_flush_covers_them() {
    let Some(place) = postgres_place("pg_flush_detach") else {
        return;
    };
    drop(place.open());
    let StoreUrl::Postgres(url) = place.url() else {
        unreachable!("a PostgreSQL place")
    };
    let mut conn = postgres::PgConn::connect(&url).expect("connects");
    assert_eq!(
        synchronous_commit(&mut conn),
        "on",
        "durable until detached"
    );
    let mut sync = conn.detach_sync().expect("detach").expect("a flush");
    assert_eq!(synchronous_commit(&mut conn), "off", "detached");
    conn.begin().unwrap();
    conn.exec(
        "INSERT INTO users (uri, modseq) VALUES ($1, 1)",
        &["sip:flush@example.com".into()],
    )
    .unwrap();
    conn.commit().unwrap();
    let committed = wal_lsn(&mut conn, "insert");
    sync.sync_committed().expect("flushed");
    assert!(
        wal_lsn(&mut conn, "flush") >= committed,
        "the flush covers the commit"
    );
    sync.sync_committed().expect("flushed again");
}

/// Runs one message through `jobs`, then awaits its answer.
async fn one(
    jobs: &mpsc::UnboundedSender<StoreJob>,
    done: &mut mpsc::UnboundedReceiver<StoreDone>,
    seq: u64,
) -> Result<(), StoreError> {
    jobs.send(StoreJob::Persist(
        StoreTicket::new(seq),
        message(key(1, K1), seq, alice(), &[bob()]),
    ))
    .unwrap();
    done.recv().await.expect("an answer").1
}

#[test]
fn store_12_postgres_a_lost_flush_fails_every_later_answer() {
    let Some(place) = postgres_place("pg_flush_lost") else {
        return;
    };
    let Place::Postgres { admin, db } = &place else {
        unreachable!("a PostgreSQL place")
    };
    let (admin, db) = (admin.clone(), db.clone());
    // The flush connection goes (a server restart, a network cut); the synchronous
    // client runs on a thread of its own (it must not block inside the runtime).
    let kill_flush = move || {
        std::thread::spawn(move || {
            let mut admin = ::postgres::Client::connect(&admin, ::postgres::NoTls).unwrap();
            admin
                .query_one(
                    "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity \
                     WHERE datname = $1 AND application_name = $2",
                    &[&db, &crate::store::pg_flush::APPLICATION_NAME],
                )
                .unwrap()
                .get::<_, i64>(0)
        })
        .join()
        .unwrap()
    };
    let opened = place.open();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (jobs, rx) = mpsc::unbounded_channel();
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let task = spawn_store_task(opened.history, rx, done_tx);
        one(&jobs, &mut done, 1).await.expect("stored and flushed");
        let killed = kill_flush();
        assert_eq!(killed, 1, "the store task's flush connection");
        for seq in 2..5 {
            let answer = one(&jobs, &mut done, seq).await;
            assert!(answer.is_err(), "message {seq} answered without a flush");
        }
        drop(jobs);
        task.await.unwrap();
    });
}
