-- cpmd message store, schema version 9 (PostgreSQL): LIST pages through a user's
-- mailboxes in byte order of their names, and SELECT/STATUS find a mailbox's
-- children by a name range (specs/limits.md, LIM-17). The database's collation may
-- order text otherwise (and `name LIKE 'x%'` cannot use a non-C index), so the
-- queries compare `name COLLATE "C"`, which this index serves.
CREATE INDEX mailboxes_user_name_bytes ON mailboxes (user_id, name COLLATE "C");
