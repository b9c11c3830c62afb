//! Filing one object for several users in few statements ([`Ops::add_entries`]):
//! what a seal does with a session's info object (one copy per party). Each
//! statement costs SQLite far more than the rows it writes (a prepared statement's
//! run, an ephemeral table for `RETURNING`, a statement journal in the batch's
//! transaction): a 1-to-1's seal filed its info in two mailboxes per party (the
//! conversation folder and the session folder), each created by its own upsert,
//! each UID counter read by its own `SELECT`, each entry by its own `INSERT`.
//! Here the missing mailboxes of all parties are made in one upsert (which also
//! returns their UID counters) and the entries are written by one `INSERT`.
//!
//! What it is not: other values. The rows, UIDs and MODSEQs are those
//! [`Ops::add_entry`] gives, user after user (same order of mailbox creation,
//! UIDs per mailbox, MODSEQs per user); without a group commit's counters
//! (`reserve.rs`) it is [`Ops::add_entry`] for each user.

use std::fmt::Write as _;

use crate::store::layout::{self, ROOT};
use crate::store::ops::{NewEntry, Ops};
use crate::store::sql::{Conn, DbError};

/// The columns of one entry row, in the order of [`entry_values`].
const ENTRY_COLUMNS: usize = 10;

impl<C: Conn + ?Sized> Ops<'_, C> {
    /// Files a new object in `mailbox` of each of `users` (distinct), as
    /// [`Ops::add_entry`] for each in turn would.
    pub fn add_entries(
        &mut self,
        users: &[&str],
        mailbox: &str,
        entry: NewEntry<'_>,
    ) -> Result<(), DbError> {
        // A new user's rows (`Ops::user`: the user, INBOX, Default) come between
        // the mailboxes of the users before it: one by one keeps that order.
        let all_known = users.iter().all(|u| self.cache.knows_user(u));
        if users.len() < 2 || self.cache.reserved.is_none() || !all_known {
            for user in users {
                self.add_entry(user, mailbox, entry)?;
            }
            return Ok(());
        }
        let parent = mailbox
            .rsplit_once(layout::DELIMITER)
            .map(|(parent, _)| parent)
            .filter(|parent| *parent != ROOT);
        let mut user_ids = Vec::with_capacity(users.len());
        for user in users {
            user_ids.push(self.user(user)?);
        }
        // The mailboxes in the order `add_entry` would make them: each user's
        // parent folder, then the folder itself.
        let mut wanted = Vec::with_capacity(users.len() * 2);
        for &id in &user_ids {
            if let Some(parent) = parent {
                wanted.push((id, parent, false));
            }
            wanted.push((id, mailbox, true));
        }
        self.make_mailboxes(&wanted)?;
        let mut values = Vec::with_capacity(users.len() * ENTRY_COLUMNS);
        for (user, &user_id) in users.iter().zip(&user_ids) {
            let mailbox_id = self.mailbox(user_id, mailbox)?;
            let uid = match self.cache.reserved.as_mut() {
                Some(r) => r.uid(self.conn, mailbox_id)?,
                None => return Err(DbError("the batch's counters are gone".into())),
            };
            let modseq = self.next_modseq(user_id)?;
            values.extend(entry.row(mailbox_id, uid, modseq, self.now)?);
            self.changed(user, mailbox);
        }
        let mut sql = String::from(
            "INSERT INTO entries (mailbox, uid, modseq, flags, internal_date, kind, ref_id, size, raw, expunged, body_elsewhere) VALUES ",
        );
        for row in 0..users.len() {
            let n = row * ENTRY_COLUMNS;
            let _ = write!(
                sql,
                "{}(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 0, ${})",
                if row == 0 { "" } else { ", " },
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7,
                n + 8,
                n + 9,
                n + 10
            );
        }
        self.conn.exec(&sql, &values)?;
        Ok(())
    }

    /// Makes sure the mailboxes `(user row, name, counted)` exist and their row
    /// ids are cached: the ones not cached are found or created (as by
    /// [`Ops::mailbox`]) in one upsert, in the order given; for the `counted` ones
    /// the batch's UID counter starts from the `uid_next` that statement returns
    /// (instead of a read of its own).
    fn make_mailboxes(&mut self, wanted: &[(i64, &str, bool)]) -> Result<(), DbError> {
        let mut missing: Vec<(i64, &str, bool)> = Vec::with_capacity(wanted.len());
        for &(user_id, name, counted) in wanted {
            let cached = self.cache.mailbox_id(user_id, name).is_some();
            if !cached && !missing.iter().any(|m| m.0 == user_id && m.1 == name) {
                missing.push((user_id, name, counted));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let uid_validity = self.now.clamp(1, i64::from(u32::MAX));
        let mut sql =
            String::from("INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) VALUES ");
        let mut values = Vec::with_capacity(missing.len() * 2 + 1);
        values.push(uid_validity.into());
        for (row, &(user_id, name, _)) in missing.iter().enumerate() {
            let n = 2 + row * 2;
            let _ = write!(
                sql,
                "{}(${n}, ${}, $1, 1)",
                if row == 0 { "" } else { ", " },
                n + 1
            );
            values.push(user_id.into());
            values.push(name.into());
        }
        sql.push_str(
            " ON CONFLICT (user_id, name) DO UPDATE SET name = excluded.name \
             RETURNING id, user_id, name, uid_next",
        );
        for row in self.conn.query(&sql, &values)? {
            let (id, user_id, name, uid_next) =
                (row.int(0)?, row.int(1)?, row.text(2)?, row.int(3)?);
            let counted = missing.iter().any(|m| m.2 && m.0 == user_id && m.1 == name);
            if counted {
                if let Some(r) = self.cache.reserved.as_mut() {
                    r.start_uid(id, uid_next);
                }
            }
            self.cache.remember_mailbox(user_id, name, id);
        }
        for &(user_id, name, _) in &missing {
            if self.cache.mailbox_id(user_id, name).is_none() {
                return Err(DbError(format!(
                    "mailbox {name} of user row {user_id} neither made nor found"
                )));
            }
        }
        Ok(())
    }
}
