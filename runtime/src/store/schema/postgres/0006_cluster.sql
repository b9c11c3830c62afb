-- cpmd message store, schema version 6 (PostgreSQL only): several nodes on one
-- database (specs/scale-out.md). SQLite is single-node and has no such tables.
-- Times are milliseconds since the Unix epoch by the database's clock, so the
-- nodes' own clocks never compare with each other (SCALE-1).

-- One row per live node: renewed by its heartbeat; when `expires_at` is past and
-- the node's connection (its instance lock, SEC-7) is gone, another node takes it
-- over (SCALE-2) and deletes the row.
CREATE TABLE node_leases (
    instance BIGINT PRIMARY KEY,
    -- Where the other nodes reach this node's SIP (host:port, UDP).
    sip_address TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);

-- The location service (SCALE-3): every binding a node's registrar holds, with
-- the node that owns it.
CREATE TABLE locations (
    aor TEXT NOT NULL,
    -- The printed contact URI (the binding's key) and the Contact as registered.
    contact_key TEXT NOT NULL,
    contact TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    instance BIGINT NOT NULL,
    node_address TEXT NOT NULL,
    -- Where requests to the binding go: the transport (udp, tcp, tls) and the
    -- address the REGISTER came from (the terminal, or the balancer in front).
    transport TEXT NOT NULL,
    flow_peer TEXT NOT NULL,
    -- A counter of the table, so other nodes read only what changed.
    version BIGINT NOT NULL,
    PRIMARY KEY (aor, contact_key)
);
CREATE INDEX locations_by_instance ON locations (instance);
CREATE INDEX locations_by_version ON locations (version);
CREATE SEQUENCE locations_version;
