//! The deferred queue on the store, on both backends (specs/deferred.md): a
//! deferred record files its standalone message once and adds a queue row in the
//! same write (DEF-2, DEF-8); the row and the known users are read back by a new
//! open (DEF-9: a restart), each instance its own rows; `DeferredDone` removes the
//! row and nothing else; a notification of the server's own has a row and files
//! nothing (DEF-13).

use cpmd_core::server::{DeferredDone, DeferredEnd, DeferredMessage, DeferredRecord};

use super::*;

both_backends!(
    deferred_rows_survive_a_reopen_and_leave_when_done_def_9,
    a_notification_row_files_nothing_def_13,
);

const DEFERRED_CONV: &str = "2d6b2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";

fn user(name: &str) -> UserUri {
    UserUri::new_canonical(format!("sip:{name}@example.com"))
}

fn deferred(id: &str, seq: u64) -> Record {
    Record::Deferred(DeferredRecord {
        message: DeferredMessage {
            id: id.into(),
            recipient: user("bob"),
            sender: user("alice"),
            seq,
            expires_at_unix_s: 1_795_694_400 + seq,
            request: format!("MESSAGE sip:bob@example.com SIP/2.0\r\n{id}").into_bytes(),
        },
        history: Some(Box::new(Record::Standalone(StandaloneMessage {
            conversation_id: ConversationId::new(DEFERRED_CONV),
            contribution_id: None,
            sender: user("alice"),
            recipients: vec![user("bob")],
            message_id: MessageId::new(id),
            content_type: "text/plain".into(),
            body: format!("body {id}").into_bytes(),
        }))),
    })
}

fn filed(store: &OpenStore, who: &str) -> usize {
    let mailbox = layout::conversation_mailbox(DEFERRED_CONV);
    store
        .mail
        .summaries(&user(who), &mailbox, None)
        .map(|s| s.len())
        .unwrap_or(0)
}

fn deferred_rows_survive_a_reopen_and_leave_when_done_def_9(place: Place) {
    let mut store = place.open();
    assert!(store.deferred.messages.is_empty());
    for r in [
        deferred("d2", 2),
        deferred("d1", 1),
        Record::KnownUser(user("bob")),
        Record::KnownUser(user("bob")),
    ] {
        store.history.persist(&r).unwrap();
    }
    store.history.sync().unwrap();
    // DEF-8: the standalone message is filed once for each party, at acceptance.
    assert_eq!((filed(&store, "alice"), filed(&store, "bob")), (2, 2));
    drop(store);

    let mut store = place.open();
    let ids: Vec<&str> = store
        .deferred
        .messages
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(ids, ["d1", "d2"], "in queue order");
    let Record::Deferred(d1) = deferred("d1", 1) else {
        unreachable!()
    };
    assert_eq!(
        store.deferred.messages[0], d1.message,
        "read back as written"
    );
    assert_eq!(store.deferred.known_users, [user("bob")]);
    assert!(
        place.open_as(1).deferred.messages.is_empty(),
        "another instance's rows are not its own"
    );
    store
        .history
        .persist(&Record::DeferredDone(DeferredDone {
            id: "d1".into(),
            end: DeferredEnd::Delivered,
        }))
        .unwrap();
    store.history.sync().unwrap();
    drop(store);
    let store = place.open();
    assert_eq!(store.deferred.messages.len(), 1);
    assert_eq!(
        (filed(&store, "alice"), filed(&store, "bob")),
        (2, 2),
        "history stays"
    );
}

/// DEF-13: the server's `stored` to an offline alice is a row of alice's queue with
/// no history: nothing is filed for anyone, and the row reads back as written.
fn a_notification_row_files_nothing_def_13(place: Place) {
    let mut store = place.open();
    let Record::Deferred(mut note) = deferred("n1", 7) else {
        unreachable!()
    };
    note.message.recipient = user("alice");
    note.message.sender = user("bob");
    note.history = None;
    store
        .history
        .persist(&Record::Deferred(note.clone()))
        .unwrap();
    store.history.sync().unwrap();
    drop(store);
    let store = place.open();
    assert_eq!(store.deferred.messages, [note.message]);
    assert_eq!((filed(&store, "alice"), filed(&store, "bob")), (0, 0));
}
