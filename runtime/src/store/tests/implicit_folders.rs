//! STORE-15: a conversation folder has no `mailboxes` row until an object is
//! filed in it (a standalone message); as the parent of session folders it is
//! implicit, and IMAP shows it as it showed the row: listed once, with children,
//! selectable, empty, its UIDVALIDITY stable (the user's `Default`'s, which its
//! row takes if one is ever made). A store of the layout before (every
//! conversation folder a row) reads the same.

use super::*;
use crate::mailstore::ListQuery;

both_backends!(
    store_15_a_seal_makes_no_conversation_folder_and_imap_shows_it,
    store_15_a_store_with_conversation_folder_rows_reads_the_same,
    store_15_implicit_parents_are_listed_once_on_every_page_size,
);

/// Runs `sql` on the place's database directly; the first column of the first
/// row when it returns rows.
fn sql(place: &Place, sql: &str) -> Option<i64> {
    match place.url() {
        StoreUrl::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            let mut st = c.prepare(sql).unwrap();
            let mut rows = st.query([]).unwrap();
            rows.next().unwrap().map(|r| r.get(0).unwrap())
        }
        StoreUrl::Postgres(u) => ::postgres::Client::connect(&u, ::postgres::NoTls)
            .unwrap()
            .query(sql, &[])
            .unwrap()
            .first()
            .map(|r| r.get(0)),
    }
}

fn conversation_rows(place: &Place) -> i64 {
    sql(
        place,
        "SELECT count(*) FROM mailboxes WHERE name LIKE 'Default/%' AND name NOT LIKE 'Default/%/%'",
    )
    .unwrap()
}

fn pager(conversation: &str) -> Record {
    Record::Standalone(StandaloneMessage {
        conversation_id: ConversationId::new(conversation),
        contribution_id: None,
        sender: alice(),
        recipients: vec![bob()],
        message_id: MessageId::new("pager-1"),
        content_type: "text/plain".into(),
        body: b"hello".to_vec(),
    })
}

/// A 1-to-1 sealed with one message and one sealed without any (the store
/// bench's seal), each in a conversation of its own.
fn two_sealed_sessions(s: &mut OpenStore) {
    write(s, &[message(key(1, K1), 1, alice(), &[bob()])]);
    seal_one(s, seal_of(one_to_one_info(), vec![1], vec![]));
    let mut info = one_to_one_info();
    info.key = SessionKey {
        session: SessionId::new(3),
        conversation_id: ConversationId::new("conv-two"),
        contribution_id: ContributionId::new("k3"),
    };
    seal_one(s, seal_of(info, vec![], vec![]));
}

fn store_15_a_seal_makes_no_conversation_folder_and_imap_shows_it(place: Place) {
    let mut s = place.open();
    two_sealed_sessions(&mut s);
    assert_eq!(conversation_rows(&place), 0, "no conversation folder row");
    let conv = layout::conversation_mailbox(CONV);
    let two = layout::conversation_mailbox("conv-two");
    for user in [alice(), bob()] {
        let listed = s.mail.mailboxes(&user).unwrap();
        let names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
        let k3 = layout::session_mailbox("conv-two", "k3");
        assert_eq!(
            names,
            [
                "Default",
                conv.as_str(),
                k1_box().as_str(),
                two.as_str(),
                k3.as_str(),
                "INBOX"
            ],
            "listed once each, in byte order"
        );
        let root = s.mail.status(&user, "Default").unwrap();
        for name in [&conv, &two] {
            let st = s.mail.status(&user, name).unwrap();
            assert_eq!(
                (
                    st.uid_validity,
                    st.uid_next,
                    st.messages,
                    st.unseen,
                    st.highest_modseq
                ),
                (root.uid_validity, 1, 0, 0, 1),
                "{name}: empty, stable"
            );
            assert!(st.has_children);
            assert!(s.mail.summaries(&user, name, None).unwrap().is_empty());
            assert!(s.mail.fetch(&user, name, &[1]).unwrap().is_empty());
            assert!(s.mail.expunge(&user, name, None).unwrap().is_empty());
            let flags = BTreeSet::from([MailFlag::Seen]);
            let outcome = s
                .mail
                .store_flags(&user, name, &[1], FlagChange::Add, &flags, None)
                .unwrap();
            assert!(outcome.updated.is_empty());
        }
    }
    // Carol has no folder there, and a name with no child is no folder.
    assert!(matches!(
        s.mail.status(&carol(), &conv),
        Err(MailError::NoMailbox(_))
    ));
    assert!(matches!(
        s.mail
            .status(&alice(), &layout::conversation_mailbox("none")),
        Err(MailError::NoMailbox(_))
    ));

    // A standalone message makes the row, with the UIDVALIDITY IMAP showed.
    let before = s.mail.status(&bob(), &conv).unwrap();
    write(&mut s, &[pager(CONV)]);
    assert_eq!(
        conversation_rows(&place),
        2,
        "the sender's and the recipient's"
    );
    let after = s.mail.status(&bob(), &conv).unwrap();
    assert_eq!(after.uid_validity, before.uid_validity);
    assert_eq!((after.uid_next, after.messages), (2, 1));
    assert_eq!(raw_text(&s, &bob(), &conv).len(), 1);
    assert_eq!(
        names(&s, &bob()).iter().filter(|n| **n == conv).count(),
        1,
        "listed once"
    );
}

fn store_15_a_store_with_conversation_folder_rows_reads_the_same(place: Place) {
    let mut s = place.open();
    two_sealed_sessions(&mut s);
    let implicit: Vec<_> = [alice(), bob()]
        .iter()
        .map(|u| s.mail.mailboxes(u).unwrap())
        .collect();
    // The layout before: every conversation folder a row, made with the first
    // session folder under it (`uid_next` 1, UIDVALIDITY that folder's).
    sql(
        &place,
        "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
         SELECT m.user_id, 'Default/' || cv.conversation_id, 4242, 1 \
         FROM mailboxes m JOIN conversations cv ON m.name LIKE 'Default/' || cv.conversation_id || '/%'",
    );
    assert_eq!(conversation_rows(&place), 4);
    drop(s);
    let mut s = place.open();
    for (user, before) in [alice(), bob()].iter().zip(&implicit) {
        let rows = s.mail.mailboxes(user).unwrap();
        let mut expected = before.clone();
        for m in &mut expected {
            if layout::is_conversation_mailbox(&m.name) {
                m.uid_validity = 4242;
            }
        }
        assert_eq!(&rows, &expected, "the same folders, objects and counters");
    }
    // Filing goes into the row.
    write(&mut s, &[pager(CONV)]);
    assert_eq!(conversation_rows(&place), 4);
    let conv = layout::conversation_mailbox(CONV);
    let st = s.mail.status(&bob(), &conv).unwrap();
    assert_eq!((st.uid_validity, st.uid_next, st.messages), (4242, 2, 1));
}

/// Alice with `Default/c{i}/s` for i in 1..=40, `Default/c{7k}-x` (sorting
/// between a parent and its children) and, for i % 5 == 0, a row for
/// `Default/c{i}` too (a store of the layout before). Every conversation folder
/// is listed once, rows and implicit ones alike, however the pages fall.
fn store_15_implicit_parents_are_listed_once_on_every_page_size(place: Place) {
    let store = place.open();
    store.mail.status(&alice(), "INBOX").unwrap();
    let mut names = vec!["INBOX".to_owned(), "Default".to_owned()];
    let mut made = Vec::new();
    for i in 1..=40 {
        names.push(format!("Default/c{i}"));
        names.push(format!("Default/c{i}/s"));
        made.push(format!("Default/c{i}/s"));
        if i % 7 == 0 {
            names.push(format!("Default/c{i}-x"));
            made.push(format!("Default/c{i}-x"));
        }
        if i % 5 == 0 {
            made.push(format!("Default/c{i}"));
        }
    }
    names.sort();
    let values: Vec<String> = made
        .iter()
        .map(|n| format!("SELECT '{n}' AS name"))
        .collect();
    sql(
        &place,
        &format!(
            "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
             SELECT u.id, x.name, 1, 1 FROM users u, ({}) x \
             WHERE u.uri = 'sip:alice@example.com'",
            values.join(" UNION ALL ")
        ),
    );
    for limit in [1, 2, 3, 5, 8, 1_000] {
        let mut listed = Vec::new();
        for page in super::mail_list::all_pages(&store, "", limit) {
            assert!(page.read <= limit);
            for m in &page.mailboxes {
                let children = names.iter().any(|n| n.starts_with(&format!("{}/", m.name)));
                assert_eq!(m.has_children, children, "{}", m.name);
            }
            listed.extend(page.mailboxes.into_iter().map(|m| m.name));
        }
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(sorted, names, "limit {limit}: every name once");
        if limit == 1_000 {
            assert_eq!(listed, names, "one page: in byte order");
        }
    }
    // A prefix below the parent: the parent is not listed.
    let page = store
        .mail
        .list_page(
            &alice(),
            &ListQuery {
                prefix: "Default/c7/",
                after: None,
                limit: 100,
                keep: &|_| true,
            },
        )
        .unwrap();
    let got: Vec<&str> = page.mailboxes.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(got, ["Default/c7/s"]);
    // `keep` applies to implicit parents too.
    let page = store
        .mail
        .list_page(
            &alice(),
            &ListQuery {
                prefix: "Default/c1",
                after: None,
                limit: 100,
                keep: &|n: &str| !n.ends_with("/s"),
            },
        )
        .unwrap();
    let got: Vec<&str> = page.mailboxes.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        got,
        [
            "Default/c1",
            "Default/c10",
            "Default/c11",
            "Default/c12",
            "Default/c13",
            "Default/c14",
            "Default/c14-x",
            "Default/c15",
            "Default/c16",
            "Default/c17",
            "Default/c18",
            "Default/c19"
        ]
    );
}
