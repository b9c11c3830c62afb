-- cpmd message store, schema version 12 (PostgreSQL): the index of open sessions
-- holds only open ones. Crash recovery (`history.rs`, STORE-5) is its only
-- reader, and it asks for one instance's sessions in state 'open'; the pipelined
-- batch inserts a 1-to-1 already sealed (`pg_batch.rs`), and every other session
-- leaves the index at its seal. The full index on (instance, state) took an
-- index insert per session for rows no query looks for there. Keep in step with
-- ../sqlite/0012_open_sessions.sql.
DROP INDEX sessions_open;
CREATE INDEX sessions_open ON sessions (instance) WHERE state = 'open';
