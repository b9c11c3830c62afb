//! STORE-13 (SQLite): a message's body is stored once, in its `messages` or
//! `standalone` row; its mailbox entries keep the object without it and the IMAP
//! view serves the whole object, byte for byte as built by `layout.rs`.

use cpmd_core::server::{Record, SessionKey, StandaloneMessage, StoredMessage};
use cpmd_core::{ContributionId, ConversationId, MessageId, SessionId, UserUri};

use super::layout::{self, Direction, MessageParts};
use super::*;

const CONV: &str = "0e6f1c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn user(name: &str) -> UserUri {
    UserUri::new_canonical(format!("sip:{name}@example.com"))
}

/// The body and the stored bytes of every live message entry.
fn stored(path: &std::path::Path) -> Vec<(String, Vec<u8>, i64, i64)> {
    let db = rusqlite::Connection::open(path).expect("open the database");
    let rows = db
        .prepare(
            "SELECT kind, raw, size, body_elsewhere FROM entries \
         WHERE kind IN ('message', 'standalone') ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

#[test]
fn store_13_a_body_is_stored_once_and_served_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("once.db");
    let mut store = open(&StoreUrl::Sqlite(path.clone()), 0).expect("open");
    // Bytes that are not UTF-8, and a CRLF, so nothing is read as text.
    let body = b"Content-Type: text/plain\r\n\r\nhi \xff\xfe bob".to_vec();
    let key = SessionKey {
        session: SessionId::new(1),
        conversation_id: ConversationId::new(CONV),
        contribution_id: ContributionId::new("once-1"),
    };
    let message = StoredMessage {
        key,
        seq: 1,
        sender: user("alice"),
        recipients: vec![user("bob")],
        message_id: MessageId::new("once-m1"),
        content_type: "message/cpim".into(),
        body: body.clone(),
    };
    let pager = StandaloneMessage {
        conversation_id: ConversationId::new(CONV),
        contribution_id: None,
        sender: user("bob"),
        recipients: vec![user("alice")],
        message_id: MessageId::new("once-p1"),
        content_type: "text/plain".into(),
        body: b"pager \x00 body".to_vec(),
    };
    let jobs = [
        StoreJob::Persist(cpmd_core::StoreTicket::new(1), Record::Message(message)),
        StoreJob::Persist(cpmd_core::StoreTicket::new(2), Record::Standalone(pager)),
    ];
    for answer in store.history.write_batch(&jobs) {
        answer.expect("stored");
    }

    let rows = stored(&path);
    assert_eq!(rows.len(), 4, "sender's and recipient's copy of each");
    let pager_body: &[u8] = b"pager \x00 body";
    for (kind, raw, size, elsewhere) in &rows {
        assert_eq!(*elsewhere, 1, "{kind}: body kept in its row");
        let tail: &[u8] = if kind == "message" { &body } else { pager_body };
        assert!(!raw.ends_with(tail), "{kind}: the body is not stored again");
        assert_eq!(
            usize::try_from(*size).unwrap(),
            raw.len() + tail.len(),
            "{kind}: the size is the whole object's"
        );
    }

    // What IMAP reads: the whole object, as layout.rs builds it.
    let mailbox = layout::session_mailbox(CONV, "once-1");
    let bobs = store
        .mail
        .fetch(&user("bob"), &mailbox, &[1])
        .expect("fetch");
    assert_eq!(bobs.len(), 1);
    let date = String::from_utf8_lossy(&bobs[0].raw)
        .lines()
        .find_map(|l| l.strip_prefix("Date: ").map(str::to_owned))
        .expect("a Date header");
    let recipients = vec![user("bob").as_str().to_owned()];
    let expected = layout::message_object(
        &MessageParts {
            conversation_id: CONV,
            contribution_id: Some("once-1"),
            sender: user("alice").as_str(),
            recipients: &recipients,
            message_id: "once-m1",
            content_type: "message/cpim",
            body: &body,
            date: &date,
            date_time: "",
        },
        Direction::Received,
    );
    assert_eq!(bobs[0].raw, expected, "byte for byte");
    assert_eq!(bobs[0].summary.size as usize, expected.len());

    let conversation = layout::conversation_mailbox(CONV);
    let alices = store
        .mail
        .fetch(&user("alice"), &conversation, &[1])
        .expect("fetch");
    assert_eq!(alices.len(), 1);
    assert!(alices[0].raw.ends_with(b"\r\n\r\npager \x00 body"));
    assert_eq!(alices[0].summary.size as usize, alices[0].raw.len());
}

/// STORE-13: a body whose bare LFs the object writes as CRLF (a multi-line text
/// message from a terminal that ends its lines with LF) does not end the object
/// byte for byte: the entry keeps its whole object, and IMAP serves exactly what
/// `layout.rs` built, not the object's head followed by the row's body.
#[test]
fn store_13_a_body_with_bare_lf_is_served_as_built() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lf.db");
    let mut store = open(&StoreUrl::Sqlite(path.clone()), 0).expect("open");
    let body = b"Content-Type: text/plain\r\n\r\nline one\nline two\n".to_vec();
    let key = SessionKey {
        session: SessionId::new(1),
        conversation_id: ConversationId::new(CONV),
        contribution_id: ContributionId::new("lf-1"),
    };
    let message = StoredMessage {
        key,
        seq: 1,
        sender: user("alice"),
        recipients: vec![user("bob")],
        message_id: MessageId::new("lf-m1"),
        content_type: "message/cpim".into(),
        body: body.clone(),
    };
    let jobs = [StoreJob::Persist(
        cpmd_core::StoreTicket::new(1),
        Record::Message(message),
    )];
    for answer in store.history.write_batch(&jobs) {
        answer.expect("stored");
    }
    for (kind, raw, size, elsewhere) in stored(&path) {
        assert_eq!(elsewhere, 0, "{kind}: the whole object kept");
        assert_eq!(usize::try_from(size).unwrap(), raw.len(), "{kind}");
    }
    let mailbox = layout::session_mailbox(CONV, "lf-1");
    let bobs = store
        .mail
        .fetch(&user("bob"), &mailbox, &[1])
        .expect("fetch");
    assert_eq!(bobs.len(), 1);
    assert!(
        bobs[0].raw.ends_with(b"line one\r\nline two\r\n"),
        "{}",
        String::from_utf8_lossy(&bobs[0].raw)
    );
    assert_eq!(bobs[0].summary.size as usize, bobs[0].raw.len());
}
