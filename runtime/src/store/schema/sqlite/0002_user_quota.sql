-- cpmd message store, schema version 2 (SQLite): per-user stored bytes and the
-- message copies skipped because their owner was over quota (specs/limits.md,
-- LIM-14). Keep in step with ../postgres/0002_user_quota.sql.

CREATE TABLE user_usage (
    user_id INTEGER PRIMARY KEY REFERENCES users (id),
    -- Bytes of the message objects filed for the user (chat and standalone).
    stored_bytes INTEGER NOT NULL
);

CREATE TABLE quota_skips (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    -- 'message' (a messages row) or 'standalone' (a standalone row).
    kind TEXT NOT NULL,
    ref_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    at INTEGER NOT NULL
);
