-- cpmd message store, schema version 14 (PostgreSQL): mailbox entries have no row
-- id. An entry is addressed by its mailbox and UID (the UNIQUE (mailbox, uid)
-- index): the flag and expunge updates (`ops.rs`, `mail.rs`) were the only readers
-- by id, and the id cost every filed object (two per chat message, one per party
-- of a seal) a sequence value and an insert into the primary key's index. Entries
-- are never referenced from another table. SQLite keeps its `id` (its rowid,
-- which costs no index: ../sqlite/0014_entries_by_uid.sql).
ALTER TABLE entries DROP COLUMN id;
