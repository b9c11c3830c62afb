//! The seal of a session the store holds nothing of (`seal_new.rs`: the row made
//! sealed by one statement, the parties' info objects filed together,
//! `ops_many.rs`) leaves what the general seal leaves (HIST-1): the same session
//! row, the same folders, objects, UIDs and MODSEQs.

use super::*;
use crate::store::sql::Conn as _;

/// An SQLite store whose writer also gets `sql` run on a second connection first.
fn sqlite_with(place: &Place, sql: &str) -> OpenStore {
    let store = place.open();
    let StoreUrl::Sqlite(path) = place.url() else {
        unreachable!("an SQLite place")
    };
    let mut conn = sqlite::SqliteConn::open(&path).expect("opens");
    conn.batch(sql).expect("set-up statements");
    store
}

/// The session rows' columns (row ids aside).
fn sessions(place: &Place) -> Vec<String> {
    let StoreUrl::Sqlite(path) = place.url() else {
        unreachable!("an SQLite place")
    };
    let mut conn = sqlite::SqliteConn::open(&path).expect("opens");
    conn.query(
        "SELECT s.contribution_id, s.instance, s.core_session, s.session_type, s.from_uri, \
         s.to_uri, s.date, s.subject, s.in_reply_to, s.sdp, s.media_attributes, s.invited, \
         s.state, s.watermark, cv.conversation_id \
         FROM sessions s JOIN conversations cv ON s.conversation = cv.id ORDER BY s.contribution_id",
        &[],
    )
    .expect("sessions")
    .into_iter()
    .map(|r| format!("{:?}", r.0))
    .collect()
}

/// Three 1-to-1s sealed without messages, one of them between Bob and Carol, one
/// batch of two seals and one seal alone: through the one-statement path on a
/// fresh store; through the general path (its row already made open, as a stored
/// message would have made it) on the other. Everything users see is the same.
#[test]
fn hist_1_a_seal_of_an_unstored_session_writes_what_the_general_seal_writes() {
    let infos: Vec<SessionInfo> = [(11, "k11"), (12, "k12"), (13, "k13")]
        .into_iter()
        .map(|(n, k)| {
            let mut info = one_to_one_info();
            info.key = key(n, k);
            if n == 13 {
                info.from = bob();
                info.invited = vec![carol()];
                info.to = carol().as_str().to_owned();
            }
            info
        })
        .collect();
    let jobs = |infos: &[SessionInfo]| -> Vec<StoreJob> {
        infos
            .iter()
            .enumerate()
            .map(|(i, info)| {
                StoreJob::Seal(
                    StoreTicket::new(i as u64),
                    seal_of(info.clone(), vec![], vec![]),
                )
            })
            .collect()
    };
    let fresh = sqlite_place();
    let general = sqlite_place();
    let mut a = fresh.open();
    // The rows the general path finds: open, of instance 0, as `open_session`
    // makes them.
    let mut made = format!("INSERT INTO conversations (conversation_id) VALUES ('{CONV}');");
    for info in &infos {
        made.push_str(&format!(
            "INSERT INTO sessions (conversation, contribution_id, instance, core_session, state) \
             VALUES (1, '{}', 0, {}, 'open');",
            info.key.contribution_id.as_str(),
            info.key.session.get()
        ));
    }
    let mut b = sqlite_with(&general, &made);
    for batch in [&infos[..2], &infos[2..]] {
        for store in [&mut a, &mut b] {
            for answer in store.history.write_batch(&jobs(batch)) {
                answer.expect("seal");
            }
        }
    }
    let (seen_a, seen_b) = (view(&a), view(&b));
    assert_eq!(seen_a, seen_b);
    assert!(
        seen_a
            .iter()
            .any(|l| l.contains("k13") && l.contains("carol")),
        "{seen_a:#?}"
    );
    drop((a, b));
    // `sealed_at` aside (the write time), the rows are the same too.
    assert_eq!(sessions(&fresh), sessions(&general));
    assert_eq!(sessions(&fresh).len(), 3);
}

/// HIST-2: a seal of ids a sealed session holds is refused, as it was before the
/// one-statement path (which leaves an existing row to the general seal).
#[test]
fn hist_2_a_second_seal_of_an_unstored_session_is_refused() {
    let place = sqlite_place();
    let mut s = place.open();
    seal_one(&mut s, seal_of(one_to_one_info(), vec![], vec![]));
    let again = s
        .history
        .write_batch(&[StoreJob::Seal(
            StoreTicket::new(1),
            seal_of(one_to_one_info(), vec![], vec![]),
        )])
        .remove(0);
    assert!(again.is_err(), "sealed twice");
    assert_eq!(
        raw_text(&s, &alice(), &k1_box()).len(),
        1,
        "one info object"
    );
}
