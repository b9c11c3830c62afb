//! STORE-11 on PostgreSQL, at size: the pipelined group commit (`pg_batch.rs`, one
//! multi-row statement per kind of row) against the shared record-by-record path
//! (`history.rs`) over a dozen batches of many sessions, users, messages and seals
//! (1-to-1 and group, sealed in the batch that opened them or in a later one): the
//! same objects, UIDs, MODSEQs and flags for every user (HIST-1, STORE-2); and how
//! the batch's reads are planned (`pg_batch_sql::INDEX_PAGES_CACHED`).

use super::*;

/// A fresh PostgreSQL bench place with the store's schema in it (opened once) and
/// its URL; `None` where `postgres_place` gives none. The place is returned to be
/// held: its database lives as long as it does.
fn opened_postgres_place(name: &str) -> Option<(Place, String)> {
    let place = postgres_place(name)?;
    let StoreUrl::Postgres(url) = place.url() else {
        unreachable!("a PostgreSQL place")
    };
    drop(place.open());
    Some((place, url))
}

fn session(n: u64) -> SessionKey {
    SessionKey {
        session: SessionId::new(n),
        // Three conversations: sessions share conversation rows and folders.
        conversation_id: ConversationId::new(format!("conv-{}", n % 3)),
        contribution_id: ContributionId::new(format!("contrib-{n}")),
    }
}

/// The seal of session `n` with its messages `1..=messages`: a group with its
/// participants every third session, else a 1-to-1.
fn seal_for(n: u64, messages: u64) -> HistoryObject {
    let mut info = if n % 3 == 0 {
        group_info()
    } else {
        one_to_one_info()
    };
    info.key = session(n);
    let participants = if n % 3 == 0 {
        vec![
            ParticipantRecord {
                user: bob(),
                state: "joined".into(),
            },
            ParticipantRecord {
                user: carol(),
                state: "departed".into(),
            },
        ]
    } else {
        vec![]
    };
    seal_of(info, (1..=messages).collect(), participants)
}

/// Twelve batches (more than the five runs after which PostgreSQL may plan a
/// prepared statement generically): each opens six sessions with three messages
/// each between the three users, seals three of them and the three left open by
/// the batch before.
fn many_batches() -> Vec<Vec<StoreJob>> {
    let users = [alice(), bob(), carol()];
    let mut ticket = 0;
    let mut next = || {
        ticket += 1;
        StoreTicket::new(ticket)
    };
    let mut out = Vec::new();
    for round in 0..12u64 {
        let mut jobs = Vec::new();
        for i in 0..6u64 {
            let n = round * 6 + i + 1;
            for seq in 1..=3u64 {
                let from = users[usize::try_from((n + seq) % 3).unwrap()].clone();
                let to: Vec<UserUri> = users.iter().filter(|u| **u != from).cloned().collect();
                jobs.push(StoreJob::Persist(
                    next(),
                    message(session(n), seq, from, &to),
                ));
            }
        }
        for i in 0..3u64 {
            let n = round * 6 + i + 1;
            jobs.push(StoreJob::Seal(next(), seal_for(n, 3)));
            if round > 0 {
                let left = (round - 1) * 6 + i + 4;
                jobs.push(StoreJob::Seal(next(), seal_for(left, 3)));
            }
        }
        out.push(jobs);
    }
    out
}

#[test]
fn store_11_many_pipelined_batches_write_what_the_shared_path_writes() {
    let (Some(piped), Some(plain)) = (
        postgres_place("pipelined_many"),
        postgres_place("shared_many"),
    ) else {
        return;
    };
    let url = |p: &Place| match p.url() {
        StoreUrl::Postgres(u) => u,
        StoreUrl::Sqlite(_) => unreachable!("a PostgreSQL place"),
    };
    drop(piped.open());
    drop(plain.open());
    let (feed, _) = broadcast::channel(1024);
    let conn = |p: &Place| postgres::PgConn::connect(&url(p)).expect("connects");
    let mut batched = pg_batch::PgBatchWriter::new(
        HistoryWriter::new(conn(&piped), 0, feed.clone()),
        feed.clone(),
    );
    let mut shared = HistoryWriter::new(conn(&plain), 0, feed);
    let batches = many_batches();
    for batch in &batches {
        for (a, b) in batched
            .write_batch(batch)
            .into_iter()
            .zip(write_each(&mut shared, batch))
        {
            a.expect("pipelined");
            b.expect("record by record");
        }
    }
    assert_eq!(batched.pipelined_batches(), 12, "every batch pipelined");
    let (a, b) = (timeless(&piped.open()), timeless(&plain.open()));
    assert_eq!(a, b);
    // 72 sessions, 216 messages: each user's copies, info and group state objects.
    assert!(a.len() > 500, "{}", a.len());
}

/// STORE-14: the pipelined batch checks every statement's count of rows written
/// before it commits. Here a trigger drops the recipients' copies of messages, so
/// the entries statement writes fewer rows than it must: the batch is rolled back
/// whole (not committed half) and written record by record, which stores each
/// message once (its `(session, seq)` is unique: rows of a committed half would
/// make these writes fail).
/// A STORE-14 case: `trigger` (SQL run on a fresh PostgreSQL place) makes the
/// pipelined batch of `messages` messages of one session short of rows; the batch
/// must be rolled back and written record by record (every answer `Ok`, no batch
/// kept). Returns the place (held: its database lives as long as it does) and a
/// count of `SELECT count(*)…` on an admin connection. `None` where there is no
/// PostgreSQL.
fn rolled_back_past(
    name: &str,
    trigger: &str,
    messages: u64,
) -> Option<(Place, impl FnMut(&str) -> i64)> {
    let (place, url) = opened_postgres_place(name)?;
    let mut admin = postgres::PgConn::connect(&url).expect("connects");
    crate::store::sql::Conn::batch(&mut admin, trigger).expect("trigger");
    let mut writer = pg_batch_writer(&url);
    let jobs: Vec<StoreJob> = (1..=messages)
        .map(|seq| {
            StoreJob::Persist(
                StoreTicket::new(seq),
                message(key(1, K1), seq, alice(), &[bob()]),
            )
        })
        .collect();
    for answer in writer.write_batch(&jobs) {
        answer.expect("written record by record");
    }
    assert_eq!(
        writer.pipelined_batches(),
        0,
        "the batch short of rows was not kept"
    );
    let count = move |sql: &str| {
        crate::store::sql::Conn::query(&mut admin, sql, &[]).unwrap()[0]
            .int(0)
            .unwrap()
    };
    Some((place, count))
}

#[test]
fn store_14_a_batch_that_wrote_too_few_rows_is_rolled_back_before_its_commit() {
    let Some((_place, mut count)) = rolled_back_past(
        "short_batch",
        "CREATE FUNCTION skip_copies() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.kind = 'message' AND NEW.flags = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER skip_copies BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION skip_copies()",
        4,
    ) else {
        return;
    };
    assert_eq!(count("SELECT count(*) FROM messages"), 4);
    assert_eq!(
        count("SELECT count(*) FROM entries WHERE kind = 'message'"),
        4,
        "the senders' copies only"
    );
}

/// STORE-14 for the folders a batch makes (`pg_batch_sql::NEW_FOLDERS_AND_ENTRIES`,
/// with the entries filed into them): a trigger drops the session folders the
/// pipelined batch inserts (its statements run with `random_page_cost` 1.1, the
/// shared path's with the server's). The statement's count of folders made, and
/// the entries' count (an entry without its folder is not written), see them
/// missing: the batch must be rolled back and written record by record, which
/// makes them. (Before STORE-15 the dropped folders were the conversation
/// folders, which got no entry; they have no row now.)
#[test]
fn store_14_a_batch_that_made_too_few_folders_is_rolled_back_before_its_commit() {
    let Some((_place, mut count)) = rolled_back_past(
        "short_folders",
        "CREATE FUNCTION skip_folders() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF current_setting('random_page_cost') = '1.1' AND NEW.name LIKE 'Default/%/%' \
         THEN RETURN NULL; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER skip_folders BEFORE INSERT ON mailboxes FOR EACH ROW EXECUTE FUNCTION skip_folders()",
        2,
    ) else {
        return;
    };
    assert_eq!(
        count("SELECT count(*) FROM mailboxes WHERE name LIKE 'Default/%/%'"),
        2,
        "both parties' session folders"
    );
    assert_eq!(count("SELECT count(*) FROM entries"), 4);
}

/// STORE-13 on the pipelined path: each copy's entry keeps its object without
/// the body its message row holds (`body_elsewhere`), its size the whole
/// object's, and the view serves the whole object; a body the object does not end
/// with byte for byte (a bare LF written as CRLF) is kept whole.
#[test]
fn store_13_the_pipelined_batch_stores_a_body_once() {
    let Some((place, url)) = opened_postgres_place("body_once_batch") else {
        return;
    };
    let mut writer = pg_batch_writer(&url);
    let bodies: [&[u8]; 2] = [
        b"Content-Type: text/plain\r\n\r\nhi \xff\xfe bob",
        b"Content-Type: text/plain\r\n\r\nline one\nline two",
    ];
    let jobs: Vec<StoreJob> = bodies
        .iter()
        .zip(1u64..)
        .map(|(body, seq)| {
            let mut m = message(key(1, K1), seq, alice(), &[bob()]);
            if let Record::Message(m) = &mut m {
                m.body = body.to_vec();
            }
            StoreJob::Persist(StoreTicket::new(seq), m)
        })
        .collect();
    for answer in writer.write_batch(&jobs) {
        answer.expect("stored");
    }
    assert_eq!(writer.pipelined_batches(), 1, "the pipelined path wrote it");
    let mut conn = postgres::PgConn::connect(&url).unwrap();
    let rows = crate::store::sql::Conn::query(
        &mut conn,
        "SELECT m.seq, e.raw, e.size, e.body_elsewhere FROM entries e \
         JOIN messages m ON m.id = e.ref_id WHERE e.kind = 'message' ORDER BY m.seq, e.mailbox, e.uid",
        &[],
    )
    .unwrap();
    assert_eq!(rows.len(), 4, "sender's and recipient's copy of each");
    for r in &rows {
        let seq = r.int(0).unwrap();
        let raw = r.bytes(1).unwrap();
        let (size, elsewhere) = (r.int(2).unwrap(), r.int(3).unwrap());
        let body = bodies[usize::try_from(seq - 1).unwrap()];
        if seq == 1 {
            assert_eq!(elsewhere, 1, "the body is in its message row");
            assert!(!raw.ends_with(body), "not stored again");
            assert_eq!(usize::try_from(size).unwrap(), raw.len() + body.len());
        } else {
            assert_eq!(elsewhere, 0, "a bare LF: the whole object kept");
            assert_eq!(usize::try_from(size).unwrap(), raw.len());
        }
    }
    let mail = place.open().mail;
    let mailbox = layout::session_mailbox(CONV, K1);
    let tails: [&[u8]; 2] = [bodies[0], b"line two"];
    for (uid, tail) in (1u32..).zip(tails) {
        let got = mail.fetch(&bob(), &mailbox, &[uid]).expect("fetch");
        assert!(got[0].raw.ends_with(tail), "served whole");
        assert_eq!(got[0].summary.size as usize, got[0].raw.len());
    }
}

/// A conversation is made by a plain insert only when it did not exist when the
/// batch began: one another writer made is found (round 1) and not made again;
/// a session folder someone made before its session (by hand: IMAP has no
/// CREATE) makes the plain insert of the folder fail, and the batch is rolled
/// back and written record by record, every message answered and stored once
/// (STORE-14). (Before STORE-15 this was a conversation folder made before its
/// conversation; a conversation folder is no longer made with one.)
#[test]
fn conversations_are_found_or_made_by_plain_inserts() {
    let Some((_place, url)) = opened_postgres_place("plain_conversations") else {
        return;
    };
    let (feed, _) = broadcast::channel(8);
    let conn = || postgres::PgConn::connect(&url).unwrap();
    // Another writer (the record-by-record path) made the conversation.
    let mut other = HistoryWriter::new(conn(), 0, feed.clone());
    other
        .persist(&message(key(1, K1), 1, alice(), &[bob()]))
        .expect("stored");
    other.sync().expect("committed");
    let mut writer =
        pg_batch::PgBatchWriter::new(HistoryWriter::new(conn(), 0, feed.clone()), feed);
    let in_conversation = |conversation: &str, contribution: &str| SessionKey {
        session: SessionId::new(7),
        conversation_id: ConversationId::new(conversation),
        contribution_id: ContributionId::new(contribution),
    };
    let batch = |k: SessionKey, first: u64| -> Vec<StoreJob> {
        (first..first + 3)
            .map(|t| {
                StoreJob::Persist(
                    StoreTicket::new(t),
                    message(k.clone(), t - first + 1, alice(), &[bob()]),
                )
            })
            .collect()
    };
    for answer in writer.write_batch(&batch(in_conversation(CONV, "k-second"), 10)) {
        answer.expect("stored");
    }
    assert_eq!(writer.pipelined_batches(), 1, "found, not made again");
    // Alice's folder of a session that does not exist yet.
    let mut admin = conn();
    crate::store::sql::Conn::exec(
        &mut admin,
        "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
         SELECT id, $1, 1, 1 FROM users WHERE uri = $2",
        &[
            layout::session_mailbox("conv-new", "k-new").into(),
            alice().as_str().into(),
        ],
    )
    .unwrap();
    for answer in writer.write_batch(&batch(in_conversation("conv-new", "k-new"), 20)) {
        answer.expect("stored record by record");
    }
    assert_eq!(writer.pipelined_batches(), 1, "the plain insert failed");
    let mut count = |sql: &str| {
        crate::store::sql::Conn::query(&mut admin, sql, &[]).unwrap()[0]
            .int(0)
            .unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM conversations"), 2);
    assert_eq!(count("SELECT count(*) FROM messages"), 7);
    assert_eq!(
        count("SELECT count(*) FROM entries WHERE kind = 'message'"),
        14,
        "each message's two copies, once"
    );
}

/// The pipelined batch prices an index page as a table page
/// (`pg_batch_sql::INDEX_PAGES_CACHED`), so it finds its keys in large tables by
/// index probes rather than hashing whole tables: its statements run with
/// `random_page_cost` 1.1, and only they (`SET LOCAL`). A trigger on `entries`
/// notes the setting each filed copy was inserted under.
#[test]
fn the_pipelined_batch_prices_index_pages_as_cached() {
    let Some((_place, url)) = opened_postgres_place("index_pages") else {
        return;
    };
    let mut admin = postgres::PgConn::connect(&url).expect("connects");
    crate::store::sql::Conn::batch(
        &mut admin,
        "CREATE TABLE seen_costs (cost TEXT); \
         CREATE FUNCTION note_costs() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN INSERT INTO seen_costs VALUES (current_setting('random_page_cost')); \
         RETURN NEW; END $$; \
         CREATE TRIGGER note_costs BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION note_costs()",
    )
    .expect("trigger");
    let mut writer = pg_batch_writer(&url);
    let jobs = |first: u64| -> Vec<StoreJob> {
        (first..first + 3)
            .map(|seq| {
                StoreJob::Persist(
                    StoreTicket::new(seq),
                    message(key(1, K1), seq, alice(), &[bob()]),
                )
            })
            .collect()
    };
    for answer in writer.write_batch(&jobs(1)) {
        answer.expect("stored");
    }
    assert_eq!(writer.pipelined_batches(), 1, "written the pipelined way");
    // Through the shared path on the same connection (a record the pipelined
    // one leaves to it first): the server's own setting again.
    let mut batch = jobs(4);
    batch.insert(
        0,
        StoreJob::Persist(StoreTicket::new(9), Record::KnownUser(carol())),
    );
    for answer in writer.write_batch(&batch) {
        answer.expect("stored");
    }
    assert_eq!(writer.pipelined_batches(), 1, "written record by record");
    let seen = crate::store::sql::Conn::query(
        &mut admin,
        "SELECT cost, count(*) FROM seen_costs GROUP BY cost ORDER BY cost",
        &[],
    )
    .unwrap();
    let seen: Vec<(String, i64)> = seen
        .iter()
        .map(|r| (r.text(0).unwrap(), r.int(1).unwrap()))
        .collect();
    let server = crate::store::sql::Conn::query(&mut admin, "SHOW random_page_cost", &[]).unwrap()
        [0]
    .text(0)
    .unwrap();
    let mut expected = vec![("1.1".to_owned(), 6), (server, 6)];
    expected.sort();
    assert_eq!(seen, expected, "the batch's 1.1, the server's own after it");
}
