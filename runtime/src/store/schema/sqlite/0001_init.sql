-- cpmd message store, schema version 1 (SQLite). Keep in step with
-- ../postgres/0001_init.sql: the store logic runs the same statements on both.
-- Lists (recipients, invited, media attributes) are newline-separated text.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    uri TEXT NOT NULL UNIQUE,
    -- The user's MODSEQ counter (RFC 7162): every change to one of their
    -- mailbox entries takes the next value.
    modseq INTEGER NOT NULL
);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL UNIQUE
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    conversation INTEGER NOT NULL REFERENCES conversations (id),
    contribution_id TEXT NOT NULL,
    -- The cpmd instance that runs the session (crash recovery seals only its own)
    -- and the core's session number in that instance's boot.
    instance INTEGER NOT NULL,
    core_session INTEGER NOT NULL,
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
    watermark INTEGER,
    sealed_at INTEGER,
    UNIQUE (conversation, contribution_id)
);
CREATE INDEX sessions_open ON sessions (instance, state);

CREATE TABLE participants (
    session INTEGER NOT NULL REFERENCES sessions (id),
    position INTEGER NOT NULL,
    uri TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (session, position)
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL REFERENCES sessions (id),
    seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    -- RFC 5322 date of the server's receive time.
    date TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    -- NULL until the session is sealed; then 1 when in the final set.
    in_history INTEGER,
    UNIQUE (session, seq)
);
CREATE INDEX messages_by_imdn ON messages (session, message_id);

CREATE TABLE standalone (
    id INTEGER PRIMARY KEY,
    conversation INTEGER NOT NULL REFERENCES conversations (id),
    contribution_id TEXT,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    date TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX standalone_by_imdn ON standalone (conversation, message_id);

-- Per-recipient delivered/displayed state (IMDN), of a message or a standalone.
CREATE TABLE dispositions (
    kind TEXT NOT NULL,
    ref_id INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    delivered INTEGER NOT NULL,
    displayed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (kind, ref_id, recipient)
);

CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

-- One user's copy of one object: UID, MODSEQ and flags are per user.
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    mailbox INTEGER NOT NULL REFERENCES mailboxes (id),
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    -- Bits: 1 \Seen, 2 \Deleted, 4 \Flagged, 8 \Answered, 16 \Draft.
    flags INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    -- info | group_state | message | standalone, and the row it renders
    -- (sessions.id, messages.id or standalone.id).
    kind TEXT NOT NULL,
    ref_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    raw BLOB NOT NULL,
    expunged INTEGER NOT NULL,
    UNIQUE (mailbox, uid)
);
CREATE INDEX entries_ref ON entries (kind, ref_id);
CREATE INDEX entries_modseq ON entries (mailbox, modseq);
