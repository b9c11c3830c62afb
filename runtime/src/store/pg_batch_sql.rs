//! The statements of the PostgreSQL group commit (`pg_batch.rs`): the facts read
//! in its first round trip, and one multi-row statement per kind of row written in
//! its second. Each takes its rows as parallel arrays (`unnest($1::text[], …)`,
//! one element per row); `WITH ORDINALITY … ORDER BY` keeps the rows in the
//! batch's order, so row ids from a sequence follow the records as on the shared
//! path. Not the shared path's statements (`history.rs`, `ops.rs`), which write one
//! row each on both backends.

pub(crate) const BEGIN: &str = "BEGIN";
/// Plans each statement of the batch for its parameters (a custom plan), for this
/// transaction only. PostgreSQL otherwise switches a prepared statement to a
/// generic plan after five runs, one that guesses 10 rows for an `unnest` of
/// parameters and, for the mailbox joins, takes the index on `(user_id, name
/// COLLATE "C")` (migration 7), which serves the user but not the name: every row
/// then walks all its user's mailboxes (measured: 0.7 s for 500 entries, against
/// 40 ms planned for the 500). A plan costs about a millisecond per statement, a
/// dozen per batch. (Migration 11 dropped that index: the names are collated "C"
/// and the unique index serves both.)
pub(crate) const CUSTOM_PLANS: &str = "SET LOCAL plan_cache_mode = force_custom_plan";
/// The batch's statements cost a page read from an index as one from a table
/// (`random_page_cost` 1.1, for this transaction only; the server's default 4
/// prices a random read as a disk seek): the rows a batch reads and joins were
/// written by the batches just before it and are in the server's buffers. So
/// the planner finds the batch's few hundred keys in a large table by index
/// probes (each join and lookup of the batch is on a unique key or an indexed
/// prefix) and still hashes a small one (the bench's two users). With the
/// default it hashed whole tables, each batch: at 10,240 conversations round 1's
/// reads of a batch of 256 seals took 2.5 + 1.8 + 0.7 ms with statistics (7.7 +
/// 3.2 + 1.1 without, a fresh database, as autovacuum analyzes a table only
/// after a minute), 0.3 + 0.3 + 0.2 ms by probes: a cost that grew with the
/// store while the batch's own work did not (bench/README.md, "Session 12").
/// Turning hash joins and sequential scans off instead made every join a probe,
/// also of two-row tables, and cost more than it saved.
pub(crate) const INDEX_PAGES_CACHED: &str = "SET LOCAL random_page_cost = 1.1";
/// Sent on its own once every statement wrote the rows it must.
pub(crate) const COMMIT: &str = "COMMIT";

// Round 1: the facts.

/// The sessions the batch touches (`$1` Conversation-IDs, `$2` Contribution-IDs):
/// state, instance, whether live info or group state objects are filed, row id. A
/// restarted group's reopened session (GRP-23: open with a sequence-number base)
/// reads as `reopened`: the shared path numbers and seals it.
pub(crate) const SESSIONS: &str = "SELECT cv.conversation_id, s.contribution_id, \
     CASE WHEN s.state = 'open' AND s.watermark IS NOT NULL THEN 'reopened' ELSE s.state END, s.instance, \
     EXISTS (SELECT 1 FROM entries e WHERE e.kind IN ('info', 'group_state') AND e.ref_id = s.id AND e.expunged = 0)::int, \
     s.id \
     FROM unnest($1::text[], $2::text[]) AS k(conv, contrib) \
     JOIN conversations cv ON cv.conversation_id = k.conv \
     JOIN sessions s ON s.conversation = cv.id AND s.contribution_id = k.contrib";
/// The stored messages of the sessions the batch seals.
pub(crate) const MESSAGES: &str =
    "SELECT cv.conversation_id, s.contribution_id, m.seq, m.sender, m.recipients \
     FROM unnest($1::text[], $2::text[]) AS k(conv, contrib) \
     JOIN conversations cv ON cv.conversation_id = k.conv \
     JOIN sessions s ON s.conversation = cv.id AND s.contribution_id = k.contrib \
     JOIN messages m ON m.session = s.id ORDER BY m.seq";
/// The stored bytes of the users the batch files for (LIM-14).
pub(crate) const USAGE: &str = "SELECT u.uri, q.stored_bytes FROM unnest($1::text[]) AS k(uri) \
     JOIN users u ON u.uri = k.uri JOIN user_usage q ON q.user_id = u.id";
/// `$1` new ids of `messages` rows.
pub(crate) const MESSAGE_IDS: &str =
    "SELECT nextval('messages_id_seq') FROM generate_series(1, $1::bigint)";
/// `$1` new ids of `sessions` rows.
pub(crate) const SESSION_IDS: &str =
    "SELECT nextval('sessions_id_seq') FROM generate_series(1, $1::bigint)";

/// Which of `$1` (Conversation-IDs) exist: the others, and their folders, are
/// made by plain inserts (`pg_batch.rs`).
pub(crate) const CONVERSATIONS: &str =
    "SELECT conversation_id FROM conversations WHERE conversation_id = ANY($1::text[])";

// Round 2: the rows, kind by kind, in this order.

pub(crate) const NEW_USERS: &str = "INSERT INTO users (uri, modseq) \
     SELECT k.uri, 1 FROM unnest($1::text[]) WITH ORDINALITY AS k(uri, n) ORDER BY k.n \
     ON CONFLICT (uri) DO NOTHING";
/// `$1` user URIs, `$2` mailbox names, `$3` the UIDVALIDITY.
pub(crate) const NEW_MAILBOXES: &str =
    "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
     SELECT u.id, k.name, $3::bigint, 1 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(uri, name, n) \
     JOIN users u ON u.uri = k.uri ORDER BY k.n ON CONFLICT (user_id, name) DO NOTHING";
/// Conversations that did not exist in round 1: a plain insert (as
/// [`NEW_SESSIONS`]); one made meanwhile by another writer is a unique violation.
pub(crate) const NEW_CONVERSATIONS: &str = "INSERT INTO conversations (conversation_id) \
     SELECT k.conv FROM unnest($1::text[]) WITH ORDINALITY AS k(conv, n) ORDER BY k.n";
/// `$1` ids (taken in round 1), `$2` Conversation-IDs, `$3` Contribution-IDs, `$4`
/// the core's session numbers, `$5` this instance. A plain insert, not an upsert
/// (whose speculative insertion costs a check and a confirmation per row): a
/// session another node made meanwhile is a unique violation, which rolls the
/// batch back (STORE-14) as a short count would.
pub(crate) const NEW_SESSIONS: &str =
    "INSERT INTO sessions (id, conversation, contribution_id, instance, core_session, state) \
     SELECT k.id, cv.id, k.contrib, $5::bigint, k.core, 'open' \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS k(id, conv, contrib, core, n) \
     JOIN conversations cv ON cv.conversation_id = k.conv ORDER BY k.n";
/// Session folders of sessions the batch creates, with their `$3` UIDs reserved
/// as they are made (`uid_next` 1 + `$3`): no other writer can have made them (a
/// plain insert, as [`NEW_SESSIONS`]; a row per folder proves each was made).
/// Their parents, the conversation folders, have no row (STORE-15).
/// Only when the batch files no entry into them; otherwise
/// [`NEW_FOLDERS_AND_ENTRIES`] makes them with their entries.
pub(crate) const NEW_FILED_MAILBOXES: &str =
    "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
     SELECT u.id, k.name, $4::bigint, 1 + k.n FROM unnest($1::text[], $2::text[], $3::bigint[]) \
     WITH ORDINALITY AS k(uri, name, n, ord) \
     JOIN users u ON u.uri = k.uri ORDER BY k.ord";
/// Sessions the batch creates and seals: made sealed with their info (as
/// [`NEW_SESSIONS`] then [`SEALS`]). `$1`..`$4` as [`NEW_SESSIONS`], `$5`..`$14`
/// the info as [`SEALS`], `$15` this instance, `$16` the time.
pub(crate) const NEW_SEALED_SESSIONS: &str =
    "INSERT INTO sessions (id, conversation, contribution_id, instance, core_session, state, \
     session_type, from_uri, to_uri, date, subject, in_reply_to, sdp, media_attributes, invited, \
     watermark, sealed_at) \
     SELECT k.id, cv.id, k.contrib, $15::bigint, k.core, 'sealed', k.stype, k.from_uri, k.to_uri, \
     k.sdate, k.subject, k.reply, k.sdp, k.media, k.invited, k.watermark, $16::bigint \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[]) \
     WITH ORDINALITY AS k(id, conv, contrib, core, stype, from_uri, to_uri, sdate, subject, reply, sdp, \
     media, invited, watermark, n) \
     JOIN conversations cv ON cv.conversation_id = k.conv ORDER BY k.n";
/// Takes each mailbox's next `$3` UIDs for the batch: one update of each row per
/// batch rather than one per entry (PostgreSQL keeps every version of a row updated
/// again and again in one transaction, and each update walks them all). The rows
/// stay locked to the commit, as with one update per entry.
pub(crate) const RESERVE_UIDS: &str = "UPDATE mailboxes mb SET uid_next = mb.uid_next + k.n \
     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(uri, name, n) \
     JOIN users u ON u.uri = k.uri WHERE mb.user_id = u.id AND mb.name = k.name";
/// Takes each user's next `$2` MODSEQs for the batch (as [`RESERVE_UIDS`]).
pub(crate) const RESERVE_MODSEQS: &str = "UPDATE users u SET modseq = u.modseq + k.n \
     FROM unnest($1::text[], $2::bigint[]) AS k(uri, n) WHERE u.uri = k.uri";
/// `$1`..`$8` the rows (ids taken in round 1), `$9` the date, `$10` the time.
pub(crate) const NEW_MESSAGES: &str = "INSERT INTO messages (id, session, seq, message_id, sender, \
     recipients, content_type, body, date, received_at) \
     SELECT k.id, k.session, k.seq, k.message_id, k.sender, k.recipients, k.content_type, k.body, $9::text, $10::bigint \
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[]) \
     AS k(id, session, seq, message_id, sender, recipients, content_type, body)";
/// The entries' insert from the batch's arrays, up to the join that finds each
/// entry's folder (as `mb`): shared by [`NEW_ENTRIES`] (the folders exist) and
/// [`NEW_FOLDERS_AND_ENTRIES`] (the folders the same statement makes).
macro_rules! entries_insert {
    () => {
        "INSERT INTO entries (mailbox, uid, modseq, flags, internal_date, \
     kind, ref_id, size, raw, body_elsewhere, expunged) \
     SELECT mb.id, mb.uid_next - k.uoff, u.modseq - k.moff, k.flags, $11::bigint, k.kind, k.ref, k.size, k.raw, \
     k.elsewhere, 0 \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], \
     $8::bigint[], $9::bytea[], $10::bigint[]) \
     WITH ORDINALITY AS k(uri, name, uoff, moff, flags, kind, ref, size, raw, elsewhere, n) \
     JOIN users u ON u.uri = k.uri "
    };
}

/// Files entries under the UIDs and MODSEQs reserved for the batch
/// ([`RESERVE_UIDS`], [`RESERVE_MODSEQS`]): `$3` and `$4` are how far below the
/// reserved tops each entry's values are, so each gets the value the
/// record-by-record path's increments would give it. `$9` the objects without the
/// bodies their message rows hold, `$10` 1 where one was left out (STORE-13;
/// `$8` the whole object's size). A row per entry proves each was written.
pub(crate) const NEW_ENTRIES: &str = concat!(
    entries_insert!(),
    "JOIN mailboxes mb ON mb.user_id = u.id AND mb.name = k.name ORDER BY k.n"
);
/// Entries filed into the folders the batch makes (a new session's, so every
/// seal of a new 1-to-1 and every first message of a session), and those
/// folders: `$1`..`$11` as [`NEW_ENTRIES`], `$12`..`$15` the folders as
/// [`NEW_FILED_MAILBOXES`]' `$1`..`$4`. Each entry finds its folder's id among the
/// rows the folders' insert returns (a hash of the batch's folders) rather than
/// by a join on the `mailboxes` table, which a fresh table's statistics had
/// planned as a hash of the whole table in 30 of 48 batches of 256 seals
/// (bench/README.md, "Session 14"). `$16` is how many folders it must make: if
/// fewer were made, no entry is written, so the entries' count fails the batch
/// (STORE-14), as the folders' own count did.
pub(crate) const NEW_FOLDERS_AND_ENTRIES: &str = concat!(
    "WITH made AS (\
     INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
     SELECT u.id, f.name, $15::bigint, 1 + f.n FROM unnest($12::text[], $13::text[], $14::bigint[]) \
     WITH ORDINALITY AS f(uri, name, n, ord) JOIN users u ON u.uri = f.uri ORDER BY f.ord \
     RETURNING id, user_id, name, uid_next) ",
    entries_insert!(),
    "JOIN made mb ON mb.user_id = u.id AND mb.name = k.name \
     WHERE (SELECT count(*) FROM made) = $16::bigint ORDER BY k.n"
);
/// Copies not filed because their owner was over quota (LIM-14).
pub(crate) const NEW_SKIPS: &str = "INSERT INTO quota_skips (user_id, kind, ref_id, size, at) \
     SELECT u.id, 'message', k.ref, k.size, $4::bigint \
     FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS k(uri, ref, size, n) \
     JOIN users u ON u.uri = k.uri ORDER BY k.n";
/// Seals open sessions of this instance (`$13`) at time `$12`; a row per session
/// proves each was open and this instance's (HIST-2, SEC-7).
pub(crate) const SEALS: &str = "UPDATE sessions s SET session_type = k.stype, from_uri = k.from_uri, \
     to_uri = k.to_uri, date = k.sdate, subject = k.subject, in_reply_to = k.reply, sdp = k.sdp, \
     media_attributes = k.media, invited = k.invited, state = 'sealed', watermark = k.watermark, \
     sealed_at = $12::bigint \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::text[], $11::bigint[]) \
     AS k(id, stype, from_uri, to_uri, sdate, subject, reply, sdp, media, invited, watermark) \
     WHERE s.id = k.id AND s.state = 'open' AND s.instance = $13::bigint";
pub(crate) const IN_HISTORY: &str =
    "UPDATE messages SET in_history = 1 WHERE session = ANY($1::bigint[])";
pub(crate) const NO_PARTICIPANTS: &str =
    "DELETE FROM participants WHERE session = ANY($1::bigint[])";
pub(crate) const NEW_PARTICIPANTS: &str = "INSERT INTO participants (session, position, uri, state) \
     SELECT k.session, k.position, k.uri, k.state \
     FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS k(session, position, uri, state)";
/// Each user's charges of the batch, summed (the same total as one update per
/// object).
pub(crate) const CHARGES: &str = "INSERT INTO user_usage (user_id, stored_bytes) \
     SELECT u.id, k.size FROM unnest($1::text[], $2::bigint[]) AS k(uri, size) JOIN users u ON u.uri = k.uri \
     ON CONFLICT (user_id) DO UPDATE SET stored_bytes = user_usage.stored_bytes + excluded.stored_bytes";
