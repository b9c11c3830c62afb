-- cpmd message store, migration 10 (PostgreSQL only): no foreign-key checks on the
-- rows a group commit writes by the hundred (a session's mailboxes, sessions,
-- messages, mailbox entries, participants). Each such check is a lookup and a row
-- lock per inserted row, about as costly as the insert itself (measured: 5,120
-- entries rows, 158 ms with the check, 74 ms without). The writers prove the
-- parents instead: the pipelined batch (`pg_batch.rs`) names parents that exist
-- (found in the batch's first round trip, or committed by an earlier batch) or
-- that it creates itself, checks that every statement wrote the rows it must
-- before it commits, and rolls back otherwise; the record-by-record path takes
-- each parent's id from the row it found or made. No parent row (user, mailbox,
-- conversation, session) is ever deleted. SQLite keeps its checks (they cost it
-- little). See specs/store.md (STORE-14).
ALTER TABLE mailboxes DROP CONSTRAINT IF EXISTS mailboxes_user_id_fkey;
ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_conversation_fkey;
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_session_fkey;
ALTER TABLE entries DROP CONSTRAINT IF EXISTS entries_mailbox_fkey;
ALTER TABLE participants DROP CONSTRAINT IF EXISTS participants_session_fkey;
