//! A group commit's chat message rows written as multi-row `INSERT`s (SQLite's batch
//! without savepoints, `history.rs`): each message's `messages` row and its
//! sender's and recipients' `entries` rows are kept here as they are made and
//! written together, a few statements per table and batch, where each row cost a
//! statement of its own (three per 1-to-1 message).
//!
//! Safe for the same reason as `reserve.rs`: the batch holds SQLite's write lock from
//! `BEGIN IMMEDIATE` to its commit, so the message ids handed out here (the highest
//! `messages.id` read once, then counted) are the ones the rows get, and nobody else
//! reads the table before the commit. Within the batch, a record that might read
//! these rows (anything but a chat message: a seal, a disposition, a session info, a
//! standalone message) has them written first ([`RowBatch::flush`]), and so does the
//! commit. A flush that fails loses the batch's first attempt: it is rolled back and
//! written again record by record, each in its savepoint, without this (STORE-2).
//!
//! The rows go out in statements of a few fixed sizes, each size's runs with one
//! prepared statement (`Conn::exec_many`); one statement per row cost more
//! (measured: ~8,000 instructions per chat message more, each run opening the
//! tables' cursors again).
//!
//! Not used with savepoints, nor on PostgreSQL (its batch path, `pg_batch.rs`, has
//! its own multi-row statements).

use std::sync::OnceLock;

use crate::store::sql::{Conn, DbError, Val};

/// Values per `messages` row, in the order of [`MESSAGE_INSERT`].
pub const MESSAGE_COLUMNS: usize = 10;
/// Values per `entries` row, in the order of [`ENTRY_INSERT`] (`kind` is
/// `message`, `expunged` 0).
pub const ENTRY_COLUMNS: usize = 9;

// `OR ROLLBACK`: a conflict ends the whole transaction (the batch is then written
// again record by record, as after any failure of these rows), so SQLite keeps no
// statement journal for a statement that might stop midway; neither do the
// writer's foreign keys need one (`Conn::trust_parents`). With the journal every
// page the statement changed was copied first (~3,500 instructions per chat
// message).
const MESSAGE_INSERT: &str =
    "INSERT OR ROLLBACK INTO messages (id, session, seq, message_id, sender, \
     recipients, content_type, body, date, received_at) VALUES ";
const ENTRY_INSERT: &str =
    "INSERT OR ROLLBACK INTO entries (mailbox, uid, modseq, flags, internal_date, \
     ref_id, size, raw, body_elsewhere, kind, expunged) VALUES ";

/// The kind of every entry kept here.
pub const MESSAGE_KIND: &str = "message";

/// Rows per statement, largest first: a batch's rows go out in as few statements
/// as these sizes allow, and only these few statement texts are prepared (and kept
/// in the connection's statement cache).
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// The multi-row statements of one table: one text per size of [`CHUNKS`],
/// printed on first use and kept (printing them per flush cost the store thread
/// ~1,600 instructions per chat message).
struct Statements {
    /// `INSERT INTO … VALUES `.
    head: &'static str,
    /// Parameters per row.
    columns: usize,
    /// What closes each row's value list after its parameters.
    tail: &'static str,
    texts: OnceLock<Vec<String>>,
}

impl Statements {
    const fn new(head: &'static str, columns: usize, tail: &'static str) -> Self {
        Self {
            head,
            columns,
            tail,
            texts: OnceLock::new(),
        }
    }

    /// The text for the `i`th size of [`CHUNKS`].
    fn text(&self, i: usize) -> &str {
        let texts = self.texts.get_or_init(|| {
            CHUNKS
                .iter()
                .map(|&rows| statement(self.head, self.columns, rows, self.tail))
                .collect()
        });
        texts.get(i).map_or("", String::as_str)
    }
}

static MESSAGE_STATEMENTS: Statements = Statements::new(MESSAGE_INSERT, MESSAGE_COLUMNS, "");
// A chat message's entries only (`Ops::add_entry`): their kind a literal, not a
// text bound per row.
static ENTRY_STATEMENTS: Statements =
    Statements::new(ENTRY_INSERT, ENTRY_COLUMNS, ", 'message', 0");

/// The batch's rows not written yet, and the next message id.
#[derive(Debug, Default)]
pub struct RowBatch {
    /// The id the next message row gets (read on first use).
    next_message: Option<i64>,
    /// [`MESSAGE_COLUMNS`] values per row.
    messages: Vec<Val>,
    /// [`ENTRY_COLUMNS`] values per row.
    entries: Vec<Val>,
}

impl RowBatch {
    /// The id of a new message row (the highest id so far read once per batch).
    pub fn message_id<C: Conn + ?Sized>(&mut self, conn: &mut C) -> Result<i64, DbError> {
        let id = match self.next_message {
            Some(id) => id,
            None => conn
                .query_one("SELECT COALESCE(max(id), 0) + 1 FROM messages", &[])?
                .int(0)?,
        };
        self.next_message = Some(id + 1);
        Ok(id)
    }

    /// Keeps a `messages` row (its id from [`RowBatch::message_id`]).
    pub fn push_message(&mut self, row: [Val; MESSAGE_COLUMNS]) {
        self.messages.extend(row);
    }

    /// Keeps a chat message's `entries` row (`NewEntry::values`: every column
    /// but the kind, which must be `message`).
    pub fn push_entry(&mut self, kind: &str, row: [Val; ENTRY_COLUMNS]) -> Result<(), DbError> {
        if kind != MESSAGE_KIND {
            return Err(DbError(format!("not a chat message's entry: {kind:?}")));
        }
        self.entries.extend(row);
        Ok(())
    }

    /// Writes every row kept so far (messages first: entries refer to them) and
    /// forgets them (their buffers kept at their size).
    pub fn flush<C: Conn + ?Sized>(&mut self, conn: &mut C) -> Result<(), DbError> {
        let written = insert_rows(conn, &MESSAGE_STATEMENTS, &self.messages)
            .and_then(|()| insert_rows(conn, &ENTRY_STATEMENTS, &self.entries));
        self.messages.clear();
        self.entries.clear();
        written
    }

    /// A batch for the next group commit with this one's buffers, emptied: a
    /// batch of ~250 chat messages holds ~7,000 values, and growing the buffers
    /// from nothing each time copied them over and over (~1,000 instructions per
    /// message). Only the buffers are kept, never a row or the message id count.
    pub fn recycled(mut self) -> Self {
        self.messages.clear();
        self.entries.clear();
        Self {
            next_message: None,
            messages: self.messages,
            entries: self.entries,
        }
    }
}

/// Inserts `values` (`statements.columns` per row) in statements of [`CHUNKS`]
/// rows.
fn insert_rows<C: Conn + ?Sized>(
    conn: &mut C,
    statements: &Statements,
    values: &[Val],
) -> Result<(), DbError> {
    let mut rest = values;
    for (i, rows) in CHUNKS.into_iter().enumerate() {
        let len = rows * statements.columns;
        if rest.len() < len {
            continue;
        }
        // Every run of this size with one statement (`Conn::exec_many`: looked
        // up once, not once per run).
        let (these, more) = rest.split_at(rest.len() - rest.len() % len);
        conn.exec_many(statements.text(i), len, these)?;
        rest = more;
    }
    Ok(())
}

/// `head` followed by `rows` parenthesised lists of `columns` numbered parameters.
fn statement(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + rows * columns * 6);
    sql.push_str(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${}", r * columns + c + 1);
        }
        sql.push_str(tail);
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteConn;

    #[test]
    fn statements_number_their_parameters_row_by_row() {
        assert_eq!(
            statement("INSERT INTO t (a, b, c) VALUES ", 2, 2, ", 0"),
            "INSERT INTO t (a, b, c) VALUES ($1, $2, 0), ($3, $4, 0)"
        );
    }

    /// The entries' statement writes their kind itself: a row of another kind
    /// is refused, not filed as a chat message's.
    #[test]
    fn only_a_chat_messages_entry_is_kept() {
        let row = || -> [Val; ENTRY_COLUMNS] {
            [
                Val::Int(1),
                Val::Int(2),
                Val::Int(3),
                Val::Int(0),
                Val::Int(5),
                Val::Int(7),
                Val::Int(9),
                Val::Bytes(b"hd".to_vec()),
                Val::Int(1),
            ]
        };
        let mut rows = RowBatch::default();
        assert!(rows.push_entry("info", row()).is_err());
        assert!(rows.entries.is_empty());
        rows.push_entry(MESSAGE_KIND, row()).unwrap();
        assert_eq!(rows.entries.len(), ENTRY_COLUMNS);
        assert!(!rows.entries.contains(&Val::Text(MESSAGE_KIND.into())));
    }

    /// A recycled batch keeps its buffers' room but nothing of what it held: no
    /// row, and the next message id is read again.
    #[test]
    fn a_recycled_batch_starts_empty_with_its_room() {
        let (_dir, mut conn) =
            SqliteConn::scratch("CREATE TABLE messages (id INTEGER PRIMARY KEY)");
        conn.batch("INSERT INTO messages (id) VALUES (7)").unwrap();
        let mut rows = RowBatch::default();
        assert_eq!(rows.message_id(&mut conn).unwrap(), 8);
        rows.push_message(std::array::from_fn(|i| Val::Int(i as i64)));
        let room = rows.messages.capacity();
        conn.batch("INSERT INTO messages (id) VALUES (20)").unwrap();
        let rows = rows.recycled();
        assert!(rows.messages.is_empty() && rows.entries.is_empty());
        assert!(rows.messages.capacity() >= room);
        let mut rows = rows;
        assert_eq!(
            rows.message_id(&mut conn).unwrap(),
            21,
            "the id is read again"
        );
    }

    /// Every row is written whatever the count (chunks of 64, 16, 4 and 1), in order.
    #[test]
    fn any_number_of_rows_goes_out_whole_and_in_order() {
        let (_dir, mut conn) = SqliteConn::scratch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, z INTEGER)",
        );
        let table = Statements::new("INSERT INTO t (a, b, z) VALUES ", 2, ", 7");
        for n in [0usize, 1, 3, 4, 5, 63, 64, 85, 200] {
            conn.batch("DELETE FROM t").unwrap();
            let values: Vec<Val> = (0..n)
                .flat_map(|i| [Val::Int(i as i64), Val::Text(format!("r{i}"))])
                .collect();
            insert_rows(&mut conn, &table, &values).unwrap();
            let rows = conn
                .query("SELECT a, b, z FROM t ORDER BY id", &[])
                .unwrap();
            assert_eq!(rows.len(), n);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r.int(0).unwrap(), i as i64);
                assert_eq!(r.text(1).unwrap(), format!("r{i}"));
                assert_eq!(r.int(2).unwrap(), 7);
            }
        }
    }
}
