-- cpmd message store, migration 8 (SQLite): a message object's body stored once.
-- An entry with body_elsewhere = 1 keeps in `raw` its object without the body,
-- which is the body of the row it renders (`messages` for kind 'message',
-- `standalone` for 'standalone'); the IMAP view appends it (`mail.rs`). `size`
-- stays the whole object's. Older entries (0) keep their whole object.
ALTER TABLE entries ADD COLUMN body_elsewhere INTEGER NOT NULL DEFAULT 0;
