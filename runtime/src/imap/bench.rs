//! Benchmark (run on demand, not in the ordinary test run): the time to FETCH a
//! 1,000-message session folder over IMAP (`UID FETCH 1:* (UID BODY.PEEK[])`,
//! every byte read by a client on loopback), against a baseline measured in the
//! same run: reading the same objects straight from the [`MailStore`] on a
//! blocking thread, as the server does.
//!
//! ```sh
//! cargo test -p cpmd --release imap::bench -- --ignored --nocapture
//! ```
//!
//! Two stores: the in-memory test store (the server's own cost) and the SQLite
//! backend (the default store) filled through its history writer. It asserts only
//! that every object arrived (a benchmark, not a timed test).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::memory::MemoryStore;
use super::tests::{alice, message, session_info, start, Client, CONV, ONE};
use super::Settings;
use crate::mailstore::MailStore;

const MESSAGES: u32 = 1000;
const ROUNDS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the benchmark against `store`, whose `folder` holds the session.
pub async fn run(label: &str, store: Arc<dyn MailStore>, folder: &str, objects: usize) {
    let uids: Vec<u32> = store
        .summaries(&alice(), folder, None)
        .unwrap()
        .iter()
        .map(|s| s.uid)
        .collect();
    assert_eq!(uids.len(), objects);
    let mut direct = Vec::new();
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let (s, f, u) = (store.clone(), folder.to_owned(), uids.clone());
        let started = Instant::now();
        let got = tokio::task::spawn_blocking(move || s.fetch(&alice(), &f, &u).unwrap())
            .await
            .unwrap();
        direct.push(started.elapsed());
        assert_eq!(got.len(), objects);
        bytes = got.iter().map(|o| o.raw.len()).sum::<usize>();
    }
    let addr = start(store, Settings::default()).await;
    let mut imap = Vec::new();
    for _ in 0..ROUNDS {
        let mut c = Client::login(addr, "alice", "a-pass").await;
        c.cmd(&format!("SELECT {folder}")).await;
        let started = Instant::now();
        let (got, done) = c.cmd("UID FETCH 1:* (UID BODY.PEEK[])").await;
        imap.push(started.elapsed());
        assert!(done.contains(" OK "), "{done}");
        assert_eq!(got.len(), objects);
        c.cmd("LOGOUT").await;
    }
    let (d, i) = (median(direct), median(imap));
    println!(
        "imap fetch [{label}]: {objects} objects, {bytes} bytes; direct MailStore::fetch {:.2} ms, \
         IMAP UID FETCH 1:* BODY.PEEK[] {:.2} ms (x{:.1}); median of {ROUNDS}",
        d.as_secs_f64() * 1e3,
        i.as_secs_f64() * 1e3,
        i.as_secs_f64() / d.as_secs_f64().max(1e-9),
    );
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture (release build)"]
async fn fetch_1000_message_folder_memory_store() {
    let store = Arc::new(MemoryStore::default());
    let folder = format!("Default/{CONV}/{ONE}");
    store.add(&alice(), &folder, &session_info(ONE), 1_795_000_000);
    for n in 1..=MESSAGES {
        store.add(
            &alice(),
            &folder,
            &message(ONE, n),
            1_795_000_000 + i64::from(n),
        );
    }
    run("memory", store, &folder, MESSAGES as usize + 1).await;
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture (release build)"]
async fn fetch_1000_message_folder_sqlite_store() {
    use cpmd_core::server::{Record, SessionInfo, SessionKey, SessionType, StoredMessage};
    use cpmd_core::{ContributionId, ConversationId, MessageId, SessionId, UserUri};

    let dir = tempfile::tempdir().unwrap();
    let url = crate::store::StoreUrl::Sqlite(dir.path().join("bench.db"));
    let mut store = crate::store::open(&url, 0).unwrap();
    let key = SessionKey {
        session: SessionId::new(1),
        conversation_id: ConversationId::new(CONV),
        contribution_id: ContributionId::new(ONE),
    };
    let bob = UserUri::new_canonical("sip:bob@example.com");
    let info = Record::SessionInfo(SessionInfo {
        key: key.clone(),
        session_type: SessionType::OneToOne,
        from: alice(),
        to: bob.as_str().to_owned(),
        date: "Thu, 26 Nov 2026 12:00:00 GMT".into(),
        subject: None,
        in_reply_to: None,
        sdp: "v=0\r\nm=message 7001 TCP/MSRP *\r\n".into(),
        media_attributes: vec![],
        invited: vec![bob.clone()],
    });
    store.history.persist(&info).unwrap();
    for seq in 1..=u64::from(MESSAGES) {
        let body = String::from_utf8(message(ONE, u32::try_from(seq).unwrap())).unwrap();
        let cpim = body.split_once("\r\n\r\n").unwrap().1.as_bytes().to_vec();
        store
            .history
            .persist(&Record::Message(StoredMessage {
                key: key.clone(),
                seq,
                sender: alice(),
                recipients: vec![bob.clone()],
                message_id: MessageId::new(format!("m{seq}")),
                content_type: "message/cpim".into(),
                body: cpim,
            }))
            .unwrap();
    }
    store.history.sync().unwrap();
    let folder = crate::store::layout::session_mailbox(CONV, ONE);
    run("sqlite", store.mail.clone(), &folder, MESSAGES as usize + 1).await;
}
