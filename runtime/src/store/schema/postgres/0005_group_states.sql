-- cpmd message store, schema version 5 (PostgreSQL): the group state object per change
-- (specs/group.md, GRP-20). Keep in step with ../sqlite/0005_group_states.sql.

-- One row per version of a group's state object: written on every change of a
-- participant's status (or of the subject) while the group lives. Each version is
-- also filed as an object (entries.kind 'group_state_version', ref_id this row) in
-- the session folder of every party. The latest version of a group is what a
-- restart starts from.
CREATE TABLE group_states (
    id BIGSERIAL PRIMARY KEY,
    session BIGINT NOT NULL REFERENCES sessions (id),
    -- 1, 2, 3... per session, in the order the changes happened.
    version BIGINT NOT NULL,
    focus TEXT NOT NULL,
    subject TEXT,
    -- One line per participant: "<state> <uri>".
    participants TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (session, version)
);
