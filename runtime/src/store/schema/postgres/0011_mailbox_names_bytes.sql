-- cpmd message store, migration 11 (PostgreSQL): mailbox names are collated "C"
-- (byte order; UTF-8: code point order), so the one unique index on
-- (user_id, name) serves both the lookups by name and LIST's byte-order ranges
-- (specs/limits.md, LIM-17), and migration 7's second index on
-- (user_id, name COLLATE "C") goes: every mailbox a batch makes (four per new
-- 1-to-1 session) paid for three index insertions, now two. Names are only
-- compared for equality and by range, and equality is byte equality under any
-- deterministic collation, so no name changes meaning. Queries may keep
-- `COLLATE "C"` (the column's own collation now).
DROP INDEX IF EXISTS mailboxes_user_name_bytes;
ALTER TABLE mailboxes ALTER COLUMN name TYPE TEXT COLLATE "C";
