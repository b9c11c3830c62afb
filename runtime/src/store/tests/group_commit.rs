//! Group commits on SQLite (`history.rs`): a batch is written first without a
//! savepoint per record; when one of its records fails, the transaction is rolled
//! back and the batch written again with a savepoint per record, so every record
//! is still answered on its own and only committed ones `Ok` (MSG-1, HIST-2,
//! STORE-2).

use super::*;

fn writer(place: &Place) -> history::HistoryWriter<sqlite::SqliteConn> {
    drop(place.open()); // migrates the schema
    let StoreUrl::Sqlite(path) = place.url() else {
        unreachable!("an SQLite place")
    };
    let (feed, _) = broadcast::channel(8);
    history::HistoryWriter::new(sqlite::SqliteConn::open(&path).expect("opens"), 0, feed)
}

#[test]
fn a_failing_record_has_its_batch_written_again_in_savepoints() {
    let place = sqlite_place();
    let mut w = writer(&place);
    let p = |n: u64, r: Record| StoreJob::Persist(StoreTicket::new(n), r);
    let s = |n: u64, h: HistoryObject| StoreJob::Seal(StoreTicket::new(n), h);
    let ok = |answers: Vec<Result<(), StoreError>>| -> Vec<bool> {
        answers.iter().map(Result::is_ok).collect()
    };

    // Every record fine: one pass.
    let clean = w.write_batch(&[
        p(1, message(key(1, K1), 1, alice(), &[bob()])),
        p(2, message(key(1, K1), 2, bob(), &[alice()])),
    ]);
    assert_eq!(ok(clean), [true, true]);
    assert_eq!(w.retried_batches(), 0);

    // A second seal of the session and a message for it after its seal fail
    // (HIST-2) between records that succeed: the batch is written again and
    // each record answered alone.
    let mixed = w.write_batch(&[
        s(3, seal_of(one_to_one_info(), vec![1, 2], vec![])),
        s(4, seal_of(one_to_one_info(), vec![1, 2], vec![])),
        p(5, message(key(1, K1), 3, alice(), &[bob()])),
        p(6, message(key(3, "k3"), 1, alice(), &[bob()])),
    ]);
    assert_eq!(ok(mixed), [true, false, false, true]);
    assert_eq!(w.retried_batches(), 1);

    // And the next clean batch is one pass again.
    let clean = w.write_batch(&[p(7, message(key(3, "k3"), 2, bob(), &[alice()]))]);
    assert_eq!(ok(clean), [true]);
    assert_eq!(w.retried_batches(), 1);
    drop(w);

    // What is stored is what the answers said: the sealed 1-to-1 with its info
    // and two messages (not the third), both messages of k3.
    let store = place.open();
    let k1 = raw_text(&store, &bob(), &k1_box());
    assert_eq!(k1.len(), 3, "{k1:#?}");
    assert!(!k1.iter().any(|t| t.contains("message 3")), "{k1:#?}");
    let k3 = raw_text(&store, &bob(), &layout::session_mailbox(CONV, "k3"));
    assert!(k3.iter().any(|t| t.contains("imdn-1")), "{k3:#?}");
    assert!(k3.iter().any(|t| t.contains("imdn-2")), "{k3:#?}");
}

/// A group commit's chat message rows are written together (`row_batch.rs`), yet a
/// disposition and a seal later in the same batch see them: the batch passes in one
/// go, the displayed message is `\Seen` in Bob's copy and the seal keeps exactly
/// its final set (STORE-2, HIST-3).
#[test]
fn message_rows_written_together_are_seen_by_later_records_of_the_batch() {
    let place = sqlite_place();
    let mut w = writer(&place);
    let p = |n: u64, r: Record| StoreJob::Persist(StoreTicket::new(n), r);
    let displayed = Record::Disposition(DispositionRecord {
        conversation_id: ConversationId::new(CONV),
        contribution_id: Some(ContributionId::new(K1)),
        message_id: MessageId::new("imdn-1"),
        recipient: bob(),
        disposition: Disposition::Displayed,
    });
    let answers = w.write_batch(&[
        p(1, message(key(1, K1), 1, alice(), &[bob()])),
        p(2, message(key(1, K1), 2, bob(), &[alice()])),
        p(3, displayed),
        p(4, message(key(1, K1), 3, alice(), &[bob()])),
        StoreJob::Seal(
            StoreTicket::new(5),
            seal_of(one_to_one_info(), vec![1, 3], vec![]),
        ),
    ]);
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(w.retried_batches(), 0, "one pass");
    drop(w);

    let store = place.open();
    let bobs = store.mail.summaries(&bob(), &k1_box(), None).unwrap();
    let k1 = raw_text(&store, &bob(), &k1_box());
    assert!(k1.iter().any(|t| t.contains("message 1")), "{k1:#?}");
    assert!(k1.iter().any(|t| t.contains("message 3")), "{k1:#?}");
    assert!(!k1.iter().any(|t| t.contains("message 2")), "{k1:#?}");
    assert!(
        bobs.iter()
            .any(|s| s.flags.contains(&crate::mailstore::MailFlag::Seen)),
        "{bobs:#?}"
    );
}

/// A conflict among the batch's chat message rows, written together at its end
/// (`row_batch.rs`, `INSERT OR ROLLBACK`: the conflict ends the whole
/// transaction), has the batch written again record by record: of two messages
/// with the same number the first is stored and the second refused, the rest
/// of the batch stored, nothing written outside a transaction meanwhile
/// (STORE-2).
#[test]
fn a_conflict_among_the_batchs_message_rows_has_it_written_again() {
    let place = sqlite_place();
    let mut w = writer(&place);
    let p = |n: u64, r: Record| StoreJob::Persist(StoreTicket::new(n), r);
    let answers = w.write_batch(&[
        p(1, message(key(1, K1), 1, alice(), &[bob()])),
        p(2, message(key(1, K1), 1, bob(), &[alice()])),
        p(3, message(key(1, K1), 2, alice(), &[bob()])),
        p(4, message(key(3, "k3"), 1, alice(), &[bob()])),
    ]);
    let ok: Vec<bool> = answers.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, true, true]);
    assert_eq!(w.retried_batches(), 1);
    let clean = w.write_batch(&[p(5, message(key(3, "k3"), 2, bob(), &[alice()]))]);
    assert!(clean.iter().all(Result::is_ok), "{clean:?}");
    assert_eq!(w.retried_batches(), 1, "the next batch in one pass");
    drop(w);

    // Reopened, the store seals the open sessions as after a crash (an info
    // object each): the message objects are counted.
    let store = place.open();
    let messages = |texts: Vec<String>| -> Vec<String> {
        texts
            .into_iter()
            .filter(|t| t.contains("IMDN-Message-ID"))
            .collect()
    };
    let k1 = messages(raw_text(&store, &bob(), &k1_box()));
    assert_eq!(k1.len(), 2, "{k1:#?}");
    assert!(
        k1.iter().all(|t| t.contains("Message-Direction: received")),
        "{k1:#?}"
    );
    let k3 = messages(raw_text(
        &store,
        &alice(),
        &layout::session_mailbox(CONV, "k3"),
    ));
    assert_eq!(k3.len(), 2, "{k3:#?}");
}
