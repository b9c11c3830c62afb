-- cpmd message store, schema version 1 (PostgreSQL). Keep in step with
-- ../sqlite/0001_init.sql: the store logic runs the same statements on both.
-- Lists (recipients, invited, media attributes) are newline-separated text.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    uri TEXT NOT NULL UNIQUE,
    -- The user's MODSEQ counter (RFC 7162): every change to one of their
    -- mailbox entries takes the next value.
    modseq BIGINT NOT NULL
);

CREATE TABLE conversations (
    id BIGSERIAL PRIMARY KEY,
    conversation_id TEXT NOT NULL UNIQUE
);

CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    conversation BIGINT NOT NULL REFERENCES conversations (id),
    contribution_id TEXT NOT NULL,
    -- The cpmd instance that runs the session (crash recovery seals only its own)
    -- and the core's session number in that instance's boot.
    instance BIGINT NOT NULL,
    core_session BIGINT NOT NULL,
    -- The session info; NULL until known (a 1-to-1's arrives with its seal).
    session_type TEXT,
    from_uri TEXT,
    to_uri TEXT,
    date TEXT,
    subject TEXT,
    in_reply_to TEXT,
    sdp TEXT,
    media_attributes TEXT,
    invited TEXT,
    -- open | sealed | crashed
    state TEXT NOT NULL,
    -- The last sequence number of the final message set.
    watermark BIGINT,
    sealed_at BIGINT,
    UNIQUE (conversation, contribution_id)
);
CREATE INDEX sessions_open ON sessions (instance, state);

CREATE TABLE participants (
    session BIGINT NOT NULL REFERENCES sessions (id),
    position BIGINT NOT NULL,
    uri TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (session, position)
);

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    session BIGINT NOT NULL REFERENCES sessions (id),
    seq BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    -- RFC 5322 date of the server's receive time.
    date TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    -- NULL until the session is sealed; then 1 when in the final set.
    in_history BIGINT,
    UNIQUE (session, seq)
);
CREATE INDEX messages_by_imdn ON messages (session, message_id);

CREATE TABLE standalone (
    id BIGSERIAL PRIMARY KEY,
    conversation BIGINT NOT NULL REFERENCES conversations (id),
    contribution_id TEXT,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    date TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX standalone_by_imdn ON standalone (conversation, message_id);

-- Per-recipient delivered/displayed state (IMDN), of a message or a standalone.
CREATE TABLE dispositions (
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    delivered BIGINT NOT NULL,
    displayed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    PRIMARY KEY (kind, ref_id, recipient)
);

CREATE TABLE mailboxes (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    uid_next BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

-- One user's copy of one object: UID, MODSEQ and flags are per user.
CREATE TABLE entries (
    id BIGSERIAL PRIMARY KEY,
    mailbox BIGINT NOT NULL REFERENCES mailboxes (id),
    uid BIGINT NOT NULL,
    modseq BIGINT NOT NULL,
    -- Bits: 1 \Seen, 2 \Deleted, 4 \Flagged, 8 \Answered, 16 \Draft.
    flags BIGINT NOT NULL,
    internal_date BIGINT NOT NULL,
    -- info | group_state | message | standalone, and the row it renders
    -- (sessions.id, messages.id or standalone.id).
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    size BIGINT NOT NULL,
    raw BYTEA NOT NULL,
    expunged BIGINT NOT NULL,
    UNIQUE (mailbox, uid)
);
CREATE INDEX entries_ref ON entries (kind, ref_id);
CREATE INDEX entries_modseq ON entries (mailbox, modseq);
