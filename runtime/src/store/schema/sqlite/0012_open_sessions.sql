-- cpmd message store, schema version 12 (SQLite): the index of open sessions holds
-- only open ones. Crash recovery (`history.rs`, STORE-5) is its only reader, and
-- it asks for one instance's sessions in state 'open'; a 1-to-1 is usually
-- inserted already sealed (`seal_new.rs`), and every other session leaves the
-- index at its seal. The full index on (instance, state) took a B-tree insert
-- and a page in the WAL per seal for rows no query looks for there. Keep in step
-- with ../postgres/0012_open_sessions.sql.
DROP INDEX sessions_open;
CREATE INDEX sessions_open ON sessions (instance) WHERE state = 'open';
