//! LIM-17: a user's mailboxes are read a page at a time from the name index, never
//! all at once. A user with a few thousand mailboxes (made by SQL, as a soak makes
//! them one chat at a time): each page reads at most its limit of rows, the pages
//! together give every name once in byte order, a prefix narrows the rows read to
//! the names it starts (the range is in the query, not a filter after it), and a
//! mailbox's children are found by one probe (`-` sorts before the delimiter `/`,
//! so children are not simply the next names).

use super::*;
use crate::mailstore::{ListPage, ListQuery};

both_backends!(
    lim_17_list_pages_honour_their_limit_and_prefix,
    lim_17_status_and_has_children_by_name,
);

/// Mailboxes made per test (besides INBOX, Default and the children).
const MANY: i64 = 3_000;

/// Runs `sql` on the place's database directly.
fn batch(place: &Place, sql: &str) {
    match place.url() {
        StoreUrl::Sqlite(p) => rusqlite::Connection::open(p)
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        StoreUrl::Postgres(u) => ::postgres::Client::connect(&u, ::postgres::NoTls)
            .unwrap()
            .batch_execute(sql)
            .unwrap(),
    }
}

/// Alice with `Default/c1` … `Default/c{MANY}`, children `Default/c{7k}/s`, and
/// siblings `Default/c{7k}-x` that sort between a mailbox and its children.
/// Returns every name alice has, sorted by bytes.
fn seeded(place: &Place) -> (OpenStore, Vec<String>) {
    let store = place.open();
    // First sight creates alice with INBOX and Default.
    store.mail.status(&alice(), "INBOX").unwrap();
    batch(
        place,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MANY}) \
             INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
             SELECT u.id, x.name, 1, 1 FROM users u, \
             (SELECT 'Default/c' || i AS name FROM n \
              UNION ALL SELECT 'Default/c' || i || '/s' FROM n WHERE i % 7 = 0 \
              UNION ALL SELECT 'Default/c' || i || '-x' FROM n WHERE i % 7 = 0) x \
             WHERE u.uri = 'sip:alice@example.com'"
        ),
    );
    let mut names = vec!["INBOX".to_owned(), "Default".to_owned()];
    for i in 1..=MANY {
        names.push(format!("Default/c{i}"));
        if i % 7 == 0 {
            names.push(format!("Default/c{i}/s"));
            names.push(format!("Default/c{i}-x"));
        }
    }
    names.sort();
    (store, names)
}

/// Pages through alice's mailboxes under `prefix`, `limit` rows at a time.
pub(super) fn all_pages(store: &OpenStore, prefix: &str, limit: usize) -> Vec<ListPage> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .mail
            .list_page(
                &alice(),
                &ListQuery {
                    prefix,
                    after: after.as_deref(),
                    limit,
                    keep: &|_| true,
                },
            )
            .unwrap();
        after = page.next.clone();
        pages.push(page);
        if after.is_none() {
            return pages;
        }
    }
}

fn lim_17_list_pages_honour_their_limit_and_prefix(place: Place) {
    let (store, names) = seeded(&place);
    let pages = all_pages(&store, "", 100);
    assert!(pages.iter().all(|p| p.read <= 100), "a page read too much");
    assert_eq!(pages.len(), names.len() / 100 + 1);
    let listed: Vec<String> = pages
        .iter()
        .flat_map(|p| p.mailboxes.iter().map(|m| m.name.clone()))
        .collect();
    assert_eq!(listed, names, "every name once, in byte order");

    // A prefix narrows the rows read, not just the names kept.
    let under: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("Default/c7"))
        .collect();
    let pages = all_pages(&store, "Default/c7", 1_000);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].read, under.len());
    let listed: Vec<&String> = pages[0].mailboxes.iter().map(|m| &m.name).collect();
    assert_eq!(listed, under);

    // `keep` drops names without other lookups; the rows read are the same.
    let page = store
        .mail
        .list_page(
            &alice(),
            &ListQuery {
                prefix: "Default/c7",
                after: None,
                limit: 1_000,
                keep: &|n: &str| n.ends_with("/s"),
            },
        )
        .unwrap();
    assert_eq!(page.read, under.len());
    assert!(page.mailboxes.iter().all(|m| m.name.ends_with("/s")));
    assert_eq!(
        page.mailboxes.len(),
        under.iter().filter(|n| n.ends_with("/s")).count()
    );
}

fn lim_17_status_and_has_children_by_name(place: Place) {
    let (store, _) = seeded(&place);
    let children = |name: &str| store.mail.status(&alice(), name).unwrap().has_children;
    assert!(children("Default"));
    assert!(children("Default/c7"));
    assert!(!children("Default/c7-x"));
    assert!(!children("Default/c8"));
    assert!(!children("INBOX"));
    let page = store
        .mail
        .list_page(
            &alice(),
            &ListQuery {
                prefix: "Default/c7",
                after: None,
                limit: 3,
                keep: &|_| true,
            },
        )
        .unwrap();
    let got: Vec<(String, bool)> = page
        .mailboxes
        .into_iter()
        .map(|m| (m.name, m.has_children))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Default/c7".to_owned(), true),
            ("Default/c7-x".to_owned(), false),
            ("Default/c7/s".to_owned(), false),
        ]
    );
    assert_eq!(page.next.as_deref(), Some("Default/c7/s"));
    assert!(matches!(
        store.mail.status(&alice(), "Default/none"),
        Err(MailError::NoMailbox(_))
    ));
}
