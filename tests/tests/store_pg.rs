//! The message store on PostgreSQL in the real binary (STORE-1, STORE-4, STORE-5):
//! cpmd runs with `--store postgres://…` (a throw-away database in the server named
//! by `CPMD_TEST_PG`, which `scripts/test` sets up; missing: a failure under
//! `CI=true`, a loud skip otherwise). The claim flow runs (the 1-to-1 sealed, the
//! group left open), cpmd is killed with SIGKILL and restarted on the same database:
//! the 1-to-1 is sealed, the group sealed as crashed, and C has the group's folder
//! but nothing of the 1-to-1.

use std::net::SocketAddr;
use std::time::Duration;

use cpmd::store::inspect::{open_mail_view, read_contents};
use cpmd::store::StoreUrl;
use cpmd_core::UserUri;
use cpmd_tests::pg_db::TestDb;
use cpmd_tests::{free_port, sipp_available, sipp_claim, sipp_keys, Cpmd, SippRun, Transport};

const CONVERSATION: &str = "2b7c9d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
const ONE_TO_ONE: &str = "6e8f0a2b-3c4d-4e5f-9a6b-7c8d9e0f1a2b";
const GROUP: &str = "8a0b2c4d-6e8f-4a1b-8c3d-5e7f9a1b3c5d";

#[test]
fn postgres_store_claim_crash_and_views() {
    if !sipp_available() {
        return;
    }
    let Some(db) = TestDb::create("claim") else {
        return;
    };
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0", "--store", &db.url]);
    let server = cpmd.addr(Transport::Udp);
    let dir = cpmd.dir.path().to_path_buf();
    let ip = server.ip();
    let at = || SocketAddr::new(ip, free_port(ip));
    let run = |local, extra: &[&str]| SippRun {
        server,
        transport: Transport::Udp,
        local,
        args: extra
            .iter()
            .map(|s| (*s).to_owned())
            .chain(sipp_keys(&[
                ("conv", CONVERSATION),
                ("contrib1", ONE_TO_ONE),
                ("contrib2", GROUP),
            ]))
            .collect(),
    };
    let (a, b, c) = (at(), at(), at());
    sipp_claim(run, [a, b, c], &dir);

    cpmd.kill();
    cpmd.restart();
    assert!(
        cpmd.wait_log(
            "session left open by a crash sealed as crashed",
            Duration::from_secs(5)
        ),
        "the open group was sealed at start-up"
    );
    assert!(cpmd.stop().success(), "{}", cpmd.log());

    // Read back through the runtime's own reader and mailbox view (no SQL here).
    let url = StoreUrl::parse(&db.url).expect("store URL");
    let contents = read_contents(&url).expect("read the store");
    let state = |contribution: &str| -> String {
        contents
            .sessions
            .iter()
            .find(|s| s.contribution_id == contribution)
            .expect("session row")
            .state
            .clone()
    };
    assert_eq!(state(ONE_TO_ONE), "sealed");
    assert_eq!(state(GROUP), "crashed");
    let mail = open_mail_view(&url).expect("mailbox view");
    let folders = |user: &str| -> Vec<String> {
        mail.mailboxes(&UserUri::new_canonical(user))
            .expect("mailboxes")
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    let conv = format!("Default/{CONVERSATION}");
    assert_eq!(
        folders("sip:carol@example.com"),
        vec![
            "Default".to_owned(),
            conv.clone(),
            format!("{conv}/{GROUP}"),
            "INBOX".into()
        ],
        "C has the group's folder and nothing of the 1-to-1"
    );
    assert!(folders("sip:alice@example.com").contains(&format!("{conv}/{ONE_TO_ONE}")));
    // The 1-to-1 carried no chat message: its folder holds the session info object
    // alone (exactly one object, as the SQL query_one this replaces required).
    let bob = UserUri::new_canonical("sip:bob@example.com");
    let folder = format!("{conv}/{ONE_TO_ONE}");
    let uids: Vec<u32> = mail
        .summaries(&bob, &folder, None)
        .expect("B's 1-to-1 folder")
        .iter()
        .map(|s| s.uid)
        .collect();
    let mut objects = mail.fetch(&bob, &folder, &uids).expect("fetch");
    assert_eq!(
        objects.len(),
        1,
        "B's copy of the 1-to-1's session info object"
    );
    let info = objects.remove(0).raw;
    let info = String::from_utf8(info).expect("utf-8");
    assert!(
        info.contains("Content-Type: Application/X-CPM-Session\r\n"),
        "{info}"
    );
    assert!(
        info.contains("From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n"),
        "{info}"
    );
}
