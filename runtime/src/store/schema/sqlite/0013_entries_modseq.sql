-- cpmd message store, schema version 13 (SQLite): no index on entries by
-- (mailbox, modseq). Its readers, the IMAP view's STATUS (HIGHESTMODSEQ: the
-- largest MODSEQ of a mailbox) and its CHANGEDSINCE listing (`mail.rs`), read one
-- mailbox's entries, which the UNIQUE (mailbox, uid) index finds as well: STATUS
-- already counts that mailbox's entries twice through it, and the listing is
-- wanted in UID order. The index cost every filed object (two per chat message,
-- one per party of a seal) a B-tree insert and its WAL pages. Keep in step with
-- ../postgres/0013_entries_modseq.sql.
DROP INDEX entries_modseq;
