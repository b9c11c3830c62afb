//! STORE-11 on PostgreSQL with batches planned ahead: the pipelined writer takes
//! the next batch while it writes one (`HistoryStore::write_batch_ahead`), reads
//! its facts before the batch's rows and plans it on what that batch makes
//! (`pg_batch.rs`). What it writes must be what the shared record-by-record path
//! writes (HIST-1, STORE-2: the same objects, UIDs and MODSEQs), and a plan made
//! on a batch that then failed must not be written.

use super::*;

/// A PostgreSQL place with the store's schema, and its URL.
fn opened(name: &str) -> Option<(Place, String)> {
    let place = postgres_place(name)?;
    let StoreUrl::Postgres(url) = place.url() else {
        unreachable!("a PostgreSQL place")
    };
    drop(place.open());
    Some((place, url))
}

/// The batch writer on a connection whose I/O runs on its own thread, as the
/// store opens it.
fn ahead_writer(url: &str) -> pg_batch::PgBatchWriter {
    let (feed, _) = broadcast::channel(1024);
    let conn = postgres::PgConn::connect_driven(url).expect("connects");
    pg_batch::PgBatchWriter::new(HistoryWriter::new(conn, 0, feed.clone()), feed)
}

/// Writes `batches` as the store task does: each call may take the next batch
/// ahead, which is then written next, as taken. The answers in order.
fn write_ahead(
    writer: &mut pg_batch::PgBatchWriter,
    batches: Vec<Vec<StoreJob>>,
) -> Vec<Result<(), StoreError>> {
    let mut queue = batches.into_iter();
    let mut answers = Vec::new();
    let mut batch = queue.next().unwrap_or_default();
    while !batch.is_empty() {
        let (written, ahead) =
            writer.write_batch_ahead(&batch, &mut || queue.next().unwrap_or_default());
        answers.extend(written);
        batch = if ahead.is_empty() {
            queue.next().unwrap_or_default()
        } else {
            ahead
        };
    }
    answers
}

fn dave() -> UserUri {
    UserUri::new_canonical("sip:dave@example.com")
}

/// Session `n` of round `n / 3`: in a conversation of its own round, of the
/// round before (which that round made) or the first.
fn session(n: u64) -> SessionKey {
    let round = n / 3;
    let conversation = match n % 3 {
        0 => format!("conv-{round}"),
        1 => format!("conv-{}", round.saturating_sub(1)),
        _ => "conv-0".to_owned(),
    };
    SessionKey {
        session: SessionId::new(n),
        conversation_id: ConversationId::new(conversation),
        contribution_id: ContributionId::new(format!("contrib-{n}")),
    }
}

/// Nine batches; round `r` opens sessions `3r..3r+3` with messages 1 and 2, writes
/// messages 3 and 4 in the three the round before opened (known open only from
/// that batch), and seals the three of round `r - 3` (untouched since). Dave
/// first appears in round 2 (a user and folders the batch before made), every
/// third seal is a group's.
fn rounds() -> Vec<Vec<StoreJob>> {
    let mut ticket = 0;
    let mut next = || {
        ticket += 1;
        StoreTicket::new(ticket)
    };
    let users = |n: u64| -> (UserUri, Vec<UserUri>) {
        if n >= 6 && n % 2 == 0 {
            (dave(), vec![alice(), bob()])
        } else if n % 2 == 0 {
            (alice(), vec![bob()])
        } else {
            (bob(), vec![alice(), carol()])
        }
    };
    let mut out = Vec::new();
    for round in 0..9u64 {
        let mut jobs = Vec::new();
        for n in round * 3..round * 3 + 3 {
            let (from, to) = users(n);
            for seq in 1..=2 {
                jobs.push(StoreJob::Persist(
                    next(),
                    message(session(n), seq, from.clone(), &to),
                ));
            }
        }
        if round >= 1 {
            for n in (round - 1) * 3..round * 3 {
                let (from, to) = users(n);
                for seq in 3..=4 {
                    let m = message(session(n), seq, to[0].clone(), std::slice::from_ref(&from));
                    jobs.push(StoreJob::Persist(next(), m));
                }
            }
        }
        if round >= 3 {
            for n in (round - 3) * 3..(round - 2) * 3 {
                let mut info = if n % 3 == 0 {
                    group_info()
                } else {
                    one_to_one_info()
                };
                info.key = session(n);
                let participants = if n % 3 == 0 {
                    vec![ParticipantRecord {
                        user: bob(),
                        state: "joined".into(),
                    }]
                } else {
                    vec![]
                };
                jobs.push(StoreJob::Seal(
                    next(),
                    seal_of(info, (1..=4).collect(), participants),
                ));
            }
        }
        out.push(jobs);
    }
    out
}

#[test]
fn store_11_batches_planned_ahead_write_what_the_shared_path_writes() {
    let (Some((piped, url)), Some((plain, plain_url))) =
        (opened("ahead_many"), opened("ahead_shared"))
    else {
        return;
    };
    let mut writer = ahead_writer(&url);
    let batches = rounds();
    let n = batches.len();
    let (feed, _) = broadcast::channel(1024);
    let mut shared = HistoryWriter::new(
        postgres::PgConn::connect(&plain_url).expect("connects"),
        0,
        feed,
    );
    let mut expected = Vec::new();
    for batch in &batches {
        expected.extend(write_each(&mut shared, batch));
    }
    let answers = write_ahead(&mut writer, batches);
    assert_eq!(answers.len(), expected.len());
    for (a, b) in answers.into_iter().zip(expected) {
        a.expect("pipelined");
        b.expect("record by record");
    }
    assert_eq!(
        writer.pipelined_batches(),
        u64::try_from(n).unwrap(),
        "every batch pipelined"
    );
    assert_eq!(
        writer.planned_ahead_batches(),
        u64::try_from(n - 1).unwrap(),
        "each batch after the first planned while the one before was written"
    );
    let (a, b) = (timeless(&piped.open()), timeless(&plain.open()));
    assert_eq!(a, b);
    assert!(a.len() > 200, "{}", a.len());
}

/// A batch that seals a session the batch before wrote to is not planned ahead:
/// round 1 would read that session's messages from before them.
#[test]
fn a_seal_of_a_session_the_batch_before_wrote_to_is_not_planned_ahead() {
    let Some((place, url)) = opened("ahead_seal") else {
        return;
    };
    let mut writer = ahead_writer(&url);
    let k = key(1, K1);
    let first: Vec<StoreJob> = (1..=2u64)
        .map(|seq| {
            StoreJob::Persist(
                StoreTicket::new(seq),
                message(k.clone(), seq, alice(), &[bob()]),
            )
        })
        .collect();
    let mut info = one_to_one_info();
    info.key = k;
    let second = vec![StoreJob::Seal(
        StoreTicket::new(3),
        seal_of(info, vec![1, 2], vec![]),
    )];
    for answer in write_ahead(&mut writer, vec![first, second]) {
        answer.expect("stored");
    }
    assert_eq!(writer.pipelined_batches(), 2);
    assert_eq!(
        writer.planned_ahead_batches(),
        0,
        "planned after the commit"
    );
    let mut conn = postgres::PgConn::connect(&url).unwrap();
    let rows = crate::store::sql::Conn::query(
        &mut conn,
        "SELECT count(*) FROM messages WHERE in_history = 1",
        &[],
    )
    .unwrap();
    assert_eq!(rows[0].int(0).unwrap(), 2, "both messages in the history");
    drop(place);
}

/// A batch planned ahead on one that then failed (rolled back, written record by
/// record) is planned again: its plan took that batch's session row as made, and
/// written as planned its messages would name a session id no row has.
#[test]
fn a_batch_planned_on_one_that_failed_is_planned_again() {
    let Some((_place, url)) = opened("ahead_failed") else {
        return;
    };
    let mut admin = postgres::PgConn::connect(&url).unwrap();
    // The session's folder exists before its session (made by hand): the first
    // batch's plain insert of it fails (STORE-14). (A conversation folder, as
    // here before STORE-15, is no longer made with its conversation.)
    crate::store::sql::Conn::batch(
        &mut admin,
        "INSERT INTO users (uri, modseq) VALUES ('sip:alice@example.com', 1)",
    )
    .unwrap();
    crate::store::sql::Conn::exec(
        &mut admin,
        "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
         SELECT id, $1, 1, 1 FROM users WHERE uri = $2",
        &[
            layout::session_mailbox(CONV, K1).into(),
            alice().as_str().into(),
        ],
    )
    .unwrap();
    let mut writer = ahead_writer(&url);
    let k = key(1, K1);
    let batch = |seqs: std::ops::RangeInclusive<u64>| -> Vec<StoreJob> {
        seqs.map(|seq| {
            StoreJob::Persist(
                StoreTicket::new(seq),
                message(k.clone(), seq, alice(), &[bob()]),
            )
        })
        .collect()
    };
    for answer in write_ahead(&mut writer, vec![batch(1..=3), batch(4..=6)]) {
        answer.expect("stored");
    }
    assert_eq!(writer.pipelined_batches(), 1, "the second batch");
    assert_eq!(writer.planned_ahead_batches(), 0, "its plan was dropped");
    let mut count = |sql: &str| {
        crate::store::sql::Conn::query(&mut admin, sql, &[]).unwrap()[0]
            .int(0)
            .unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM sessions"), 1);
    assert_eq!(
        count("SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session"),
        6,
        "every message of the one session row"
    );
    assert_eq!(
        count("SELECT count(*) FROM entries WHERE kind = 'message'"),
        12
    );
}

/// The change feed hears of each folder a pipelined batch files into once, in
/// the order the batch first files into it (`Plan::entry` announces a folder
/// when it gets its first entry of the batch), and only after the commit.
#[test]
fn a_batch_announces_each_folder_it_files_into_once_in_order() {
    let Some((_place, url)) = opened("ahead_changes") else {
        return;
    };
    let (feed, mut heard) = broadcast::channel(1024);
    let conn = postgres::PgConn::connect_driven(&url).expect("connects");
    let mut writer = pg_batch::PgBatchWriter::new(HistoryWriter::new(conn, 0, feed.clone()), feed);
    let (a, b) = (session(0), session(1));
    let batch = vec![
        StoreJob::Persist(
            StoreTicket::new(1),
            message(a.clone(), 1, alice(), &[bob()]),
        ),
        StoreJob::Persist(
            StoreTicket::new(2),
            message(b.clone(), 1, bob(), &[alice(), carol()]),
        ),
        StoreJob::Persist(
            StoreTicket::new(3),
            message(a.clone(), 2, bob(), &[alice()]),
        ),
        StoreJob::Persist(
            StoreTicket::new(4),
            message(b.clone(), 2, carol(), &[bob()]),
        ),
    ];
    for answer in write_ahead(&mut writer, vec![batch]) {
        answer.expect("stored");
    }
    assert_eq!(writer.pipelined_batches(), 1, "written the pipelined way");
    let folder = |k: &SessionKey| {
        layout::session_mailbox(k.conversation_id.as_str(), k.contribution_id.as_str())
    };
    let expected: Vec<(String, String)> = [
        (alice(), folder(&a)),
        (bob(), folder(&a)),
        (bob(), folder(&b)),
        (alice(), folder(&b)),
        (carol(), folder(&b)),
    ]
    .into_iter()
    .map(|(u, m)| (u.as_str().to_owned(), m))
    .collect();
    let mut got = Vec::new();
    while let Ok(change) = heard.try_recv() {
        got.push((change.user.as_str().to_owned(), change.mailbox));
    }
    assert_eq!(got, expected);
}
