-- cpmd message store, schema version 2 (PostgreSQL): per-user stored bytes and the
-- message copies skipped because their owner was over quota (specs/limits.md,
-- LIM-14). Keep in step with ../sqlite/0002_user_quota.sql.

CREATE TABLE user_usage (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    -- Bytes of the message objects filed for the user (chat and standalone).
    stored_bytes BIGINT NOT NULL
);

CREATE TABLE quota_skips (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    -- 'message' (a messages row) or 'standalone' (a standalone row).
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    size BIGINT NOT NULL,
    at BIGINT NOT NULL
);
