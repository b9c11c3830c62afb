-- cpmd message store, migration 8 (PostgreSQL): a message object's body stored once
-- (see ../sqlite/0008_entry_bodies.sql). The pipelined batch (`pg_batch.rs`) still
-- files whole objects (0); the record-by-record path files them without the body.
ALTER TABLE entries ADD COLUMN body_elsewhere INTEGER NOT NULL DEFAULT 0;
