//! STORE-13 for session info objects: a sealed 1-to-1's info object is stored
//! once, as its `sessions` row; each party's entry keeps only its size
//! (`body_elsewhere` 2) and the IMAP view prints the object from the row, byte
//! for byte the object `layout.rs` builds from the info. On PostgreSQL both the
//! pipelined batch and the record-by-record path file it so; a group's seal
//! keeps the whole object.

use super::*;
use crate::store::sql::Conn as _;

/// `(contribution, kind, stored bytes, size, body_elsewhere)` of every info entry.
fn info_entries(place: &Place) -> Vec<(String, usize, i64, i64)> {
    let sql = "SELECT s.contribution_id, e.raw, e.size, e.body_elsewhere FROM entries e \
               JOIN sessions s ON s.id = e.ref_id WHERE e.kind = 'info' AND e.expunged = 0 \
               ORDER BY s.contribution_id, e.mailbox";
    let rows = match place.url() {
        StoreUrl::Sqlite(p) => sqlite::SqliteConn::open(&p).unwrap().query(sql, &[]),
        StoreUrl::Postgres(u) => postgres::PgConn::connect(&u).unwrap().query(sql, &[]),
    }
    .expect("info entries");
    rows.iter()
        .map(|r| {
            (
                r.text(0).unwrap(),
                r.bytes(1).unwrap().len(),
                r.int(2).unwrap(),
                r.int(3).unwrap(),
            )
        })
        .collect()
}

fn store_13_a_sealed_one_to_ones_info_is_printed_from_its_row(place: Place) {
    let mut store = place.open();
    // What the row must give back exactly: XML and header specials, a bare LF in
    // the SDP, an InReplyTo, two invited.
    let mut fresh = one_to_one_info();
    fresh.key = key(21, "info-fresh");
    fresh.subject = Some("a <b> & \"c\"".into());
    fresh.in_reply_to = Some(ContributionId::new("earlier-1"));
    fresh.sdp = "v=0\nm=message 7001 TCP/MSRP *\r\na=x:<&>\r\n".into();
    fresh.invited = vec![bob(), carol()];
    // A session with a stored message: sealed by the general seal.
    let mut stored = one_to_one_info();
    stored.key = key(22, "info-stored");
    write(
        &mut store,
        &[message(stored.key.clone(), 1, alice(), &[bob()])],
    );
    seal_one(&mut store, seal_of(fresh.clone(), vec![], vec![]));
    seal_one(&mut store, seal_of(stored.clone(), vec![1], vec![]));
    // A standalone in the same commit: on PostgreSQL the record-by-record path.
    let mut shared = one_to_one_info();
    shared.key = key(23, "info-shared");
    let pager = Record::Standalone(StandaloneMessage {
        conversation_id: ConversationId::new(CONV),
        contribution_id: None,
        sender: alice(),
        recipients: vec![bob()],
        message_id: MessageId::new("info-pager"),
        content_type: "text/plain".into(),
        body: b"hi".to_vec(),
    });
    let jobs = [
        StoreJob::Persist(StoreTicket::new(1), pager),
        StoreJob::Seal(StoreTicket::new(2), seal_of(shared.clone(), vec![], vec![])),
    ];
    for answer in store.history.write_batch(&jobs) {
        answer.expect("stored");
    }
    // A group's seal keeps its object whole.
    let group = group_info();
    seal_one(&mut store, seal_of(group.clone(), vec![], vec![]));

    for info in [&fresh, &stored, &shared] {
        let expected = layout::session_info_object(info, false);
        let contribution = info.key.contribution_id.as_str();
        let rows: Vec<_> = info_entries(&place)
            .into_iter()
            .filter(|r| r.0 == contribution)
            .collect();
        let parties = if info.invited.len() == 2 { 3 } else { 2 };
        assert_eq!(rows.len(), parties, "{contribution}: one per party");
        for (_, raw, size, elsewhere) in &rows {
            assert_eq!(
                (*raw, *elsewhere),
                (0, 2),
                "{contribution}: not stored per party"
            );
            assert_eq!(usize::try_from(*size).unwrap(), expected.len());
        }
        let mailbox = layout::session_mailbox(CONV, contribution);
        let mut users = vec![alice()];
        users.extend(info.invited.iter().cloned());
        for user in users {
            let summaries = store.mail.summaries(&user, &mailbox, None).expect("list");
            let uids: Vec<u32> = summaries.iter().map(|s| s.uid).collect();
            let objects = store.mail.fetch(&user, &mailbox, &uids).expect("fetch");
            let info_objects: Vec<&Vec<u8>> = objects
                .iter()
                .map(|o| &o.raw)
                .filter(|raw| raw.windows(9).any(|w| w == b"<session>"))
                .collect();
            assert_eq!(info_objects, vec![&expected], "{contribution} for {user:?}");
        }
    }
    let group_rows: Vec<_> = info_entries(&place)
        .into_iter()
        .filter(|r| r.0 == K2)
        .collect();
    assert_eq!(group_rows.len(), 3);
    for (_, raw, _, elsewhere) in group_rows {
        assert_eq!(elsewhere, 0, "a group's info object is kept whole");
        assert_eq!(raw, layout::session_info_object(&group, false).len());
    }
}

both_backends!(store_13_a_sealed_one_to_ones_info_is_printed_from_its_row);
