//! The PostgreSQL backend, for several cpmd instances sharing one database
//! (behind a SIP load balancer). Row ids are database sequences, so they are
//! unique across instances; each session row names the instance that runs it, and
//! crash recovery seals only its own. A commit returns after the WAL flush (the
//! server's default `synchronous_commit=on`), so committed means durable; except
//! on the store task's writer, whose commits return before it and whose answers
//! wait for a flush on a connection of its own ([`Conn::detach_sync`],
//! `pg_flush.rs`, STORE-12).
//!
//! TLS (`sslmode`, `sslrootcert` in the URL) is `pg_tls.rs`'s rustls connector.
//!
//! Uses the async `tokio-postgres` client on a small current-thread tokio runtime
//! of its own (as the synchronous `postgres` crate does), so the calls block: it
//! must never be called from a thread that runs async tasks. The store task and the
//! IMAP server's store calls run on blocking threads (`spawn_blocking`), and a
//! connection dropped inside a runtime is handed to a plain thread to close
//! (dropping its runtime there would panic). Owning the async client is what lets
//! [`PgConn::pipeline`] send a whole batch of statements in one round trip
//! (`pg_batch.rs`); everything else is one statement per round trip.

use std::collections::HashMap;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Statement};

use crate::store::pg_tls::PgTarget;
use crate::store::sql::{Conn, DbError, Row, Val};

/// The migrations, in order (schema_version lists those applied).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema/postgres/0001_init.sql")),
    (2, include_str!("schema/postgres/0002_user_quota.sql")),
    (4, include_str!("schema/postgres/0004_deferred.sql")),
    (5, include_str!("schema/postgres/0005_group_states.sql")),
    (6, include_str!("schema/postgres/0006_cluster.sql")),
    (7, include_str!("schema/postgres/0007_mailbox_names.sql")),
    (8, include_str!("schema/postgres/0008_entry_bodies.sql")),
    (10, include_str!("schema/postgres/0010_proved_parents.sql")),
    (
        11,
        include_str!("schema/postgres/0011_mailbox_names_bytes.sql"),
    ),
    (12, include_str!("schema/postgres/0012_open_sessions.sql")),
    (13, include_str!("schema/postgres/0013_entries_modseq.sql")),
    (14, include_str!("schema/postgres/0014_entries_by_uid.sql")),
];

/// How long [`PgConn::hold_instance`] waits for the instance's lock: long enough for
/// the server to notice that a killed predecessor's connection closed.
pub const INSTANCE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The two-key advisory lock of an instance number: a bijection of the 64-bit
/// number onto (class, object), the class marked with "cpmd" so other users of
/// two-key advisory locks rarely meet it; the one-key space of the migration lock
/// is separate.
fn instance_lock_key(instance: i64) -> (i32, i32) {
    // Truncation is the point: high and low halves.
    let high = (instance >> 32) as i32 ^ 0x6370_6d64;
    let low = instance as i32;
    (high, low)
}

/// Prepared statements kept per connection; the cache is emptied when full (the
/// few statements built per call, the `IN (…)` lists, would otherwise grow it).
const STATEMENT_CACHE: usize = 256;

/// A PostgreSQL connection.
pub struct PgConn {
    /// The client and the runtime that drives its connection task; taken only in
    /// drop.
    client: Option<(Arc<Client>, tokio::runtime::Runtime)>,
    statements: HashMap<String, Statement>,
    /// Where it connected: the flush connection of [`Conn::detach_sync`] goes there
    /// too.
    url: String,
}

/// One statement of a [`PgConn::pipeline`]: its text and parameters.
pub type Piped = (&'static str, Vec<PgArg>);

/// A parameter of a pipelined statement: one value, or a column of values that the
/// statement spreads into rows with `unnest` (one statement for many rows:
/// `pg_batch.rs`). Bound as a PostgreSQL array (`bigint[]`, `text[]`, `bytea[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgArg {
    /// One value.
    One(Val),
    /// `bigint[]`.
    Ints(Vec<i64>),
    /// `bigint[]` with NULLs.
    OptInts(Vec<Option<i64>>),
    /// `text[]`.
    Texts(Vec<String>),
    /// `text[]` with NULLs.
    OptTexts(Vec<Option<String>>),
    /// `bytea[]`.
    Blobs(Vec<Vec<u8>>),
}

impl PgArg {
    /// One value.
    pub fn one(v: impl Into<Val>) -> Self {
        PgArg::One(v.into())
    }
}

fn db(e: tokio_postgres::Error) -> DbError {
    // `Display` of a server error is only "db error"; the detail is in `source`.
    match e.as_db_error() {
        Some(d) => DbError(format!("postgres: {}: {}", d.code().code(), d.message())),
        // A TLS failure says why (e.g. the certificate's name) only in `source`.
        None => match std::error::Error::source(&e) {
            Some(why) => DbError(format!("postgres: {e}: {why}")),
            None => DbError(format!("postgres: {e}")),
        },
    }
}

impl PgConn {
    /// Connects with a `postgres://` URL, over TLS as its `sslmode` and
    /// `sslrootcert` ask (`pg_tls.rs`).
    pub fn connect(url: &str) -> Result<Self, DbError> {
        let target = PgTarget::parse(url)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DbError(format!("postgres: runtime: {e}")))?;
        let config: tokio_postgres::Config = target.client_url.parse().map_err(db)?;
        let connector = target.connector()?;
        let (client, connection) = runtime.block_on(config.connect(connector)).map_err(db)?;
        // Driven whenever a call blocks on the runtime; ends when the client goes.
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "postgres connection ended");
            }
        });
        Ok(Self {
            client: Some((Arc::new(client), runtime)),
            statements: HashMap::new(),
            url: url.to_owned(),
        })
    }

    /// [`PgConn::connect`], with the connection's I/O on a thread of its own
    /// (`cpmd-pg-io`): requests go out and answers come in while the caller does
    /// other work, which [`PgConn::send`] needs to overlap the caller's work with
    /// the server's (the store task's writer: `pg_batch.rs`). Each answer then
    /// wakes the caller from that thread. The thread ends when the connection
    /// closes (this `PgConn` dropped).
    pub fn connect_driven(url: &str) -> Result<Self, DbError> {
        let target = PgTarget::parse(url)?;
        let config: tokio_postgres::Config = target.client_url.parse().map_err(db)?;
        let connector = target.connector()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("cpmd-pg-io".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(DbError(format!("postgres: runtime: {e}"))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match config.connect(connector).await {
                        Ok((client, connection)) => {
                            let _ = tx.send(Ok(client));
                            if let Err(e) = connection.await {
                                tracing::warn!(error = %e, "postgres connection ended");
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(db(e)));
                        }
                    }
                });
            })
            .map_err(|e| DbError(format!("postgres: I/O thread: {e}")))?;
        let client = rx
            .recv()
            .map_err(|_| DbError("postgres: the I/O thread ended".into()))??;
        // Only awaits the client's answers, which the I/O thread delivers.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| DbError(format!("postgres: runtime: {e}")))?;
        Ok(Self {
            client: Some((Arc::new(client), runtime)),
            statements: HashMap::new(),
            url: url.to_owned(),
        })
    }

    /// The client and the runtime to block on its calls with.
    fn parts(&self) -> (&Arc<Client>, &tokio::runtime::Runtime) {
        let (client, runtime) = self
            .client
            .as_ref()
            .expect("the client is only taken in drop");
        (client, runtime)
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = {
            let (c, rt) = self.parts();
            rt.block_on(c.prepare(sql))
        }
        .map_err(db)?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Holds, for as long as this connection lives, the advisory lock of cpmd
    /// instance `instance` (SEC-7: a session row belongs to its instance, so two
    /// processes with one instance number would each take the other's sessions for
    /// its own, and the second one's crash recovery would seal the first one's live
    /// sessions). Waits [`INSTANCE_LOCK_WAIT`] for a crashed predecessor's
    /// connection to go, then refuses.
    pub fn hold_instance(&mut self, instance: i64) -> Result<(), DbError> {
        let (class, object) = instance_lock_key(instance);
        let wait = INSTANCE_LOCK_WAIT.as_millis();
        let sql = format!(
            "SET lock_timeout = {wait}; SELECT pg_advisory_lock({class}, {object}); SET lock_timeout = 0"
        );
        let held = {
            let (c, rt) = self.parts();
            rt.block_on(c.batch_execute(&sql))
        };
        match held {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                Err(DbError(format!(
                    "another cpmd with instance {instance} is connected to this database: \
                     every instance sharing a store needs its own `instance` number"
                )))
            }
            Err(e) => Err(db(e)),
        }
    }

    /// Takes the advisory lock of instance `instance` if it is free, without
    /// waiting: `false` when another connection holds it (that instance's node is
    /// connected). Held until this connection closes (SCALE-2).
    pub fn try_hold_instance(&mut self, instance: i64) -> Result<bool, DbError> {
        let (class, object) = instance_lock_key(instance);
        let row = self.query_one(
            "SELECT pg_try_advisory_lock($1::int4, $2::int4)::int4",
            &[i64::from(class).into(), i64::from(object).into()],
        )?;
        Ok(row.int(0)? == 1)
    }

    /// Makes every later write on this connection fail (tests of the failure path).
    #[cfg(test)]
    pub fn fill_disk(&mut self) {
        {
            let (c, rt) = self.parts();
            rt.block_on(c.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))
        }
        .unwrap();
    }
}

fn row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    (0..r.len())
        .map(|i| column(r, i))
        .collect::<Result<Vec<_>, _>>()
        .map(Row)
}

impl PgConn {
    /// Runs `statements` in order in one round trip (tokio-postgres pipelining: every
    /// request is sent before the first answer is read) and returns each one's rows,
    /// or the first error. Statements after a failing one fail too inside a
    /// transaction (PostgreSQL aborts it), so the caller rolls back on an error.
    /// A statement not yet prepared on this connection costs one round trip first.
    pub fn pipeline(&mut self, statements: Vec<Piped>) -> Result<Vec<Vec<Row>>, DbError> {
        let mut flight = self.send(statements, Vec::new())?;
        self.rows(&mut flight)
    }

    /// [`PgConn::pipeline`] for statements whose rows are not wanted: each one's
    /// count of rows written (inserted, updated, deleted), or the first error.
    pub fn pipeline_counts(&mut self, statements: Vec<Piped>) -> Result<Vec<u64>, DbError> {
        let flight = self.send(Vec::new(), statements)?;
        self.counts(flight)
    }

    /// Sends `queries` and then `counted` in one pipeline and returns without
    /// waiting for any answer: [`PgConn::rows`] waits for the queries' rows,
    /// [`PgConn::counts`] for the rest's counts. Between the two the caller may
    /// work while the server runs the statements: the pipelined batch plans the
    /// next batch while this one's rows are written (`pg_batch.rs`). That only
    /// overlaps on a connection whose I/O runs on a thread of its own
    /// ([`PgConn::connect_driven`]); on another, the requests not yet written when
    /// the caller stops waiting go out when it waits again.
    pub fn send(&mut self, queries: Vec<Piped>, counted: Vec<Piped>) -> Result<InFlight, DbError> {
        let n_queries = queries.len();
        let mut bound = self.bind_all(queries)?;
        bound.extend(self.bind_all(counted)?);
        let (client, runtime) = self.parts();
        let mut calls: Vec<Call> = bound
            .into_iter()
            .enumerate()
            .map(|(i, (stmt, values))| {
                let client = Arc::clone(client);
                Box::pin(async move {
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        values.iter().map(|b| b.as_ref() as _).collect();
                    if i < n_queries {
                        client.query(&stmt, &refs).await.map(Answer::Rows)
                    } else {
                        client.execute(&stmt, &refs).await.map(Answer::Count)
                    }
                }) as Call
            })
            .collect();
        // Each request goes out on its future's first poll, so the statements
        // reach the server in this order (a `join_all` promises no order).
        let mut done: Vec<Option<Result<Answer, tokio_postgres::Error>>> =
            calls.iter().map(|_| None).collect();
        runtime.block_on(std::future::poll_fn(|cx| {
            for (call, slot) in calls.iter_mut().zip(done.iter_mut()) {
                if let Poll::Ready(v) = call.as_mut().poll(cx) {
                    *slot = Some(v);
                }
            }
            Poll::Ready(())
        }));
        Ok(InFlight {
            calls,
            done,
            n_queries,
            rows_read: false,
        })
    }

    /// Waits for the rows of the queries `flight` sent first, or the first error.
    pub fn rows(&mut self, flight: &mut InFlight) -> Result<Vec<Vec<Row>>, DbError> {
        let n = flight.n_queries;
        if flight.rows_read {
            return Err(DbError("postgres: a query's rows read twice".into()));
        }
        self.wait(flight, 0..n);
        flight.rows_read = true;
        let mut out = Vec::with_capacity(n);
        for slot in &mut flight.done[..n] {
            match slot.take() {
                Some(Ok(Answer::Rows(rows))) => {
                    out.push(rows.iter().map(row).collect::<Result<_, _>>()?)
                }
                Some(Err(e)) => return Err(db(e)),
                _ => return Err(DbError("postgres: a query's rows read twice".into())),
            }
        }
        Ok(out)
    }

    /// Waits for the counts of the statements `flight` sent after its queries
    /// (every statement's answer is read, so the connection is ready for the next
    /// call), or the first error.
    pub fn counts(&mut self, mut flight: InFlight) -> Result<Vec<u64>, DbError> {
        let n = flight.calls.len();
        // A query whose rows were read is done (its future must not be polled
        // again); the others are awaited, so every answer is read.
        let from = if flight.rows_read {
            flight.n_queries
        } else {
            0
        };
        self.wait(&mut flight, from..n);
        flight.done[flight.n_queries..]
            .iter_mut()
            .map(|slot| match slot.take() {
                Some(Ok(Answer::Count(c))) => Ok(c),
                Some(Err(e)) => Err(db(e)),
                _ => Err(DbError("postgres: a statement's count read twice".into())),
            })
            .collect()
    }

    /// Awaits each of `flight`'s calls in `range` in turn: the answers arrive in
    /// that order anyway, so nothing is polled in vain.
    fn wait(&mut self, flight: &mut InFlight, range: std::ops::Range<usize>) {
        let (_, runtime) = self.parts();
        runtime.block_on(async {
            for i in range {
                if flight.done[i].is_none() {
                    let v = flight.calls[i].as_mut().await;
                    flight.done[i] = Some(v);
                }
            }
        });
    }

    /// Prepares (or finds) each statement and types its parameters.
    #[allow(clippy::type_complexity)]
    fn bind_all(
        &mut self,
        statements: Vec<Piped>,
    ) -> Result<Vec<(Statement, Vec<Box<dyn ToSql + Sync>>)>, DbError> {
        let mut bound = Vec::with_capacity(statements.len());
        for (sql, params) in statements {
            let stmt = self.statement(sql)?;
            let values = params
                .into_iter()
                .zip(stmt.params())
                .map(|(v, ty)| arg(v, ty))
                .collect::<Result<Vec<_>, _>>()?;
            bound.push((stmt, values));
        }
        Ok(bound)
    }
}

/// What a pipelined statement answered.
enum Answer {
    Rows(Vec<tokio_postgres::Row>),
    Count(u64),
}

/// One pipelined statement's future; it owns what it sends.
type Call = Pin<Box<dyn Future<Output = Result<Answer, tokio_postgres::Error>>>>;

/// Statements sent by [`PgConn::send`] whose answers are not all read yet. Every
/// one must be read ([`PgConn::counts`]) before the connection's next call.
pub struct InFlight {
    calls: Vec<Call>,
    done: Vec<Option<Result<Answer, tokio_postgres::Error>>>,
    n_queries: usize,
    /// [`PgConn::rows`] took the queries' answers.
    rows_read: bool,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(client));
            }
        }
    }
}

/// A parameter typed as the statement expects it.
fn param(v: &Val, ty: &Type) -> Result<Box<dyn ToSql + Sync>, DbError> {
    let mismatch = || DbError(format!("postgres: cannot bind {v:?} as {ty}"));
    Ok(match (v, ty) {
        (Val::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (Val::Null, t) if *t == Type::INT4 => Box::new(None::<i32>),
        (Val::Null, t) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
        (Val::Null, _) => Box::new(None::<String>),
        (Val::Int(i), t) if *t == Type::INT8 => Box::new(*i),
        (Val::Int(i), t) if *t == Type::INT4 => {
            Box::new(i32::try_from(*i).map_err(|_| mismatch())?)
        }
        (Val::Text(s), _) => Box::new(s.clone()),
        (Val::Bytes(b), t) if *t == Type::BYTEA => Box::new(b.clone()),
        _ => return Err(mismatch()),
    })
}

/// A pipelined parameter typed as the statement expects it; a column moves into
/// its array (the batch's bodies are not copied again).
fn arg(v: PgArg, ty: &Type) -> Result<Box<dyn ToSql + Sync>, DbError> {
    let mismatch = |what: &str| DbError(format!("postgres: cannot bind {what} as {ty}"));
    Ok(match v {
        PgArg::One(v) => param(&v, ty)?,
        PgArg::Ints(v) if *ty == Type::INT8_ARRAY => Box::new(v),
        PgArg::OptInts(v) if *ty == Type::INT8_ARRAY => Box::new(v),
        PgArg::Texts(v) if *ty == Type::TEXT_ARRAY => Box::new(v),
        PgArg::OptTexts(v) if *ty == Type::TEXT_ARRAY => Box::new(v),
        PgArg::Blobs(v) if *ty == Type::BYTEA_ARRAY => Box::new(v),
        PgArg::Ints(_) | PgArg::OptInts(_) => return Err(mismatch("bigint[]")),
        PgArg::Texts(_) | PgArg::OptTexts(_) => return Err(mismatch("text[]")),
        PgArg::Blobs(_) => return Err(mismatch("bytea[]")),
    })
}

fn column(row: &tokio_postgres::Row, i: usize) -> Result<Val, DbError> {
    let ty = row.columns()[i].type_().clone();
    let v = if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i).map_err(db)?.map(Val::Int)
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)
            .map_err(db)?
            .map(|v| Val::Int(i64::from(v)))
    } else if ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)
            .map_err(db)?
            .map(|v| Val::Int(i64::from(v)))
    } else if ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)
            .map_err(db)?
            .map(Val::Bytes)
    } else if ty == Type::TEXT || ty == Type::VARCHAR {
        row.try_get::<_, Option<String>>(i)
            .map_err(db)?
            .map(Val::Text)
    } else {
        return Err(DbError(format!("postgres: unexpected column type {ty}")));
    };
    Ok(v.unwrap_or(Val::Null))
}

impl PgConn {
    fn bind(
        &mut self,
        sql: &str,
        params: &[Val],
    ) -> Result<(Statement, Vec<Box<dyn ToSql + Sync>>), DbError> {
        let stmt = self.statement(sql)?;
        let values = params
            .iter()
            .zip(stmt.params())
            .map(|(v, ty)| param(v, ty))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stmt, values))
    }
}

impl Conn for PgConn {
    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN")
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        {
            let (c, rt) = self.parts();
            rt.block_on(c.batch_execute(sql))
        }
        .map_err(db)
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let (stmt, values) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        {
            let (c, rt) = self.parts();
            rt.block_on(c.execute(&stmt, &refs))
        }
        .map_err(db)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        let (stmt, values) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        let rows = {
            let (c, rt) = self.parts();
            rt.block_on(c.query(&stmt, &refs))
        }
        .map_err(db)?;
        rows.iter().map(row).collect()
    }

    fn byte_order(&self) -> &'static str {
        // The column's own collation since migration 11 (LIM-17): its unique index
        // serves the ranges.
        " COLLATE \"C\""
    }

    fn migration_lock(&self) -> &'static str {
        // Any constant: instances starting together migrate one after the other.
        "SELECT pg_advisory_xact_lock(62026112)"
    }

    fn detach_sync(
        &mut self,
    ) -> Result<Option<Box<dyn crate::store::pipeline::CommitSync>>, DbError> {
        // The flush connection first: if it cannot be had, commits stay durable.
        let flush = crate::store::pg_flush::PgFlush::connect(&self.url)?;
        // This connection's commits now return once their WAL is written, before
        // it is flushed; `PgFlush` flushes it before any answer (STORE-12).
        self.batch("SET synchronous_commit = off")?;
        Ok(Some(Box::new(flush)))
    }
}
