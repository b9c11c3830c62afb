//! Filing one object for several users ([`Ops::add_entries`]): what a seal does
//! with a session's info object (one copy per party), in a group commit that
//! counts UIDs and MODSEQs in memory (`reserve.rs`). A 1-to-1's seal files its
//! info in each party's session folder (its parent, the conversation folder, has
//! no row: STORE-15): the missing ones are made first, each by a plain insert
//! (made with its first UID taken, so its counter is neither read nor written
//! again), then each entry is inserted.
//!
//! Every statement here writes one row: on SQLite a statement that may write
//! several (a multi-row `INSERT`, or one with `RETURNING`, a trigger to SQLite)
//! runs under a statement journal, a copy of every page it changes, which for
//! the few rows of a seal cost more than the statements it saved (and
//! `RETURNING` an ephemeral table besides).
//!
//! What it is not: other values. The rows, UIDs and MODSEQs are those
//! [`Ops::add_entry`] gives, user after user (same order of mailbox creation,
//! UIDs per mailbox, MODSEQs per user); without a group commit's counters
//! (`reserve.rs`) it is [`Ops::add_entry`] for each user.

use crate::store::ops::{NewEntry, Ops, ENTRY_INSERT};
use crate::store::sql::{Conn, DbError};

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
        let mut user_ids = Vec::with_capacity(users.len());
        for user in users {
            user_ids.push(self.user(user)?);
        }
        // The mailboxes in the order `add_entry` would make them: each user's
        // folder (a session folder's parent is implicit, STORE-15).
        let wanted: Vec<(i64, &str, bool)> =
            user_ids.iter().map(|&id| (id, mailbox, true)).collect();
        self.make_mailboxes(&wanted)?;
        for (user, &user_id) in users.iter().zip(&user_ids) {
            let mailbox_id = self.mailbox(user_id, mailbox)?;
            let uid = match self.cache.reserved.as_mut() {
                Some(r) => r.uid(self.conn, mailbox_id)?,
                None => return Err(DbError("the batch's counters are gone".into())),
            };
            let modseq = self.next_modseq(user_id)?;
            let row = entry.row(mailbox_id, uid, modseq, self.now)?;
            self.conn.exec(ENTRY_INSERT, &row)?;
            self.changed(user, mailbox);
        }
        Ok(())
    }

    /// Makes sure the mailboxes `(user row, name, counted)` exist and their row
    /// ids are cached: the ones not cached are found or created (as by
    /// [`Ops::mailbox`]), in the order given; for the `counted` ones the batch's
    /// UID counter starts from their `uid_next`, and one made here is made with
    /// its first UID reserved (no read, no write of its counter at the flush).
    fn make_mailboxes(&mut self, wanted: &[(i64, &str, bool)]) -> Result<(), DbError> {
        for &(user_id, name, counted) in wanted {
            if self.cache.mailbox_id(user_id, name).is_some() {
                continue;
            }
            let uid_validity = self.uid_validity(user_id, name)?;
            // A counted folder made here gets one entry now (UID 1): its row is
            // made with `uid_next` 2 and the batch need not write it again.
            let counted = counted && self.cache.reserved.is_some();
            let uid_next = if counted { 2 } else { 1 };
            let params = [
                user_id.into(),
                name.into(),
                uid_validity.into(),
                uid_next.into(),
            ];
            match self.conn.insert_id(MADE_MAILBOX, &params)? {
                Some(id) => {
                    if let (true, Some(r)) = (counted, self.cache.reserved.as_mut()) {
                        r.start_uid_written(id, uid_next);
                    }
                    self.cache.remember_mailbox(user_id, name.to_owned(), id);
                }
                None => {
                    let row = self.conn.query_one(
                        "SELECT id, uid_next FROM mailboxes WHERE user_id = $1 AND name = $2",
                        &params[..2],
                    )?;
                    let id = row.int(0)?;
                    if let (true, Some(r)) = (counted, self.cache.reserved.as_mut()) {
                        r.start_uid(id, row.int(1)?);
                    }
                    self.cache.remember_mailbox(user_id, name.to_owned(), id);
                }
            }
        }
        Ok(())
    }
}

/// A mailbox made with `uid_next` `$4` (else as `ops::MAILBOX`).
const MADE_MAILBOX: &str = "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, name) DO NOTHING";
