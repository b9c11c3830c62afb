-- cpmd message store, schema version 4 (PostgreSQL): deferred messaging
-- (specs/deferred.md). Keep in step with ../sqlite/0004_deferred.sql.

-- Pager MESSAGEs waiting for a recipient with no registered device: written with
-- their standalone history row before the sender's 202, deleted when a device
-- took them or they expired. Rows belong to the instance that accepted them
-- (it alone loads and delivers them).
CREATE TABLE deferred (
    id TEXT PRIMARY KEY,
    instance BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    -- Queue position: delivery order (DEF-4).
    seq BIGINT NOT NULL,
    -- Expiry, seconds since the Unix epoch.
    expires_at BIGINT NOT NULL,
    -- The sender's MESSAGE as received (the delivery is rebuilt from it).
    request BYTEA NOT NULL
);
CREATE INDEX deferred_by_instance ON deferred (instance, seq);

-- Users who registered at least once: deferral is open to them (DEF-1).
CREATE TABLE known_users (
    uri TEXT PRIMARY KEY
);
