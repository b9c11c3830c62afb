//! The deferred queue's rows (specs/deferred.md, table `deferred` and
//! `known_users` of `schema/*/0004_deferred.sql`): written by the history writer
//! with a deferred message's history record, deleted when it left the queue, and
//! read back at start-up ([`load`]) so the core can deliver them after a restart
//! (DEF-9).
//!
//! What it is *not*: the queue's logic (the core's `server/deferred.rs`) or the
//! history record of the message (`history.rs` files it like any pager MESSAGE).

use cpmd_core::server::DeferredMessage;
use cpmd_core::UserUri;

use crate::store::sql::{in_read_tx, Conn, DbError, Val};

/// Adds a queue row (in the caller's transaction).
pub fn insert<C: Conn + ?Sized>(
    conn: &mut C,
    instance: i64,
    m: &DeferredMessage,
) -> Result<(), DbError> {
    conn.exec(
        "INSERT INTO deferred (id, instance, recipient, sender, seq, expires_at, request) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            m.id.as_str().into(),
            instance.into(),
            m.recipient.as_str().into(),
            m.sender.as_str().into(),
            i64::try_from(m.seq).map_err(DbError::data)?.into(),
            i64::try_from(m.expires_at_unix_s)
                .map_err(DbError::data)?
                .into(),
            Val::Bytes(m.request.clone()),
        ],
    )?;
    Ok(())
}

/// Deletes a queue row (a row already gone is not an error: nothing is lost).
pub fn remove<C: Conn + ?Sized>(conn: &mut C, id: &str) -> Result<(), DbError> {
    conn.exec("DELETE FROM deferred WHERE id = $1", &[id.into()])?;
    Ok(())
}

/// Notes that `uri` registered once.
pub fn remember<C: Conn + ?Sized>(conn: &mut C, uri: &str) -> Result<(), DbError> {
    let known = conn.query_opt("SELECT 1 FROM known_users WHERE uri = $1", &[uri.into()])?;
    if known.is_none() {
        conn.exec("INSERT INTO known_users (uri) VALUES ($1)", &[uri.into()])?;
    }
    Ok(())
}

/// What the core is fed at start-up: instance `instance`'s waiting messages (in
/// queue order) and every known user.
#[derive(Debug, Default)]
pub struct Restored {
    /// The waiting messages.
    pub messages: Vec<DeferredMessage>,
    /// Users who registered once.
    pub known_users: Vec<UserUri>,
}

/// Reads the queue rows of `instance` and the known users.
pub fn load<C: Conn + ?Sized>(conn: &mut C, instance: i64) -> Result<Restored, DbError> {
    in_read_tx(conn, |c| {
        let rows = c.query(
            "SELECT id, recipient, sender, seq, expires_at, request FROM deferred \
             WHERE instance = $1 ORDER BY seq",
            &[instance.into()],
        )?;
        let mut messages = Vec::with_capacity(rows.len());
        for r in rows {
            messages.push(DeferredMessage {
                id: r.text(0)?,
                recipient: UserUri::new_canonical(r.text(1)?),
                sender: UserUri::new_canonical(r.text(2)?),
                seq: u64::try_from(r.int(3)?).map_err(DbError::data)?,
                expires_at_unix_s: u64::try_from(r.int(4)?).unwrap_or(0),
                request: r.bytes(5)?,
            });
        }
        let known_users = c
            .query("SELECT uri FROM known_users ORDER BY uri", &[])?
            .into_iter()
            .map(|r| r.text(0).map(UserUri::new_canonical))
            .collect::<Result<_, _>>()?;
        Ok(Restored {
            messages,
            known_users,
        })
    })
}
