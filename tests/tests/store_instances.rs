//! SEC-7 end to end: two real `cpmd` processes (instances 1 and 2) on one PostgreSQL
//! database (a throw-away database in the server named by `CPMD_TEST_PG`; missing: a
//! failure under `CI=true`, a loud skip otherwise).
//!
//! Instance 1 runs the claim flow (the 1-to-1 sealed, the group left open). Then a
//! user of instance 2 opens a 1-to-1 that reuses instance 1's Conversation-ID and the
//! open group's Contribution-ID, and ends it with BYE. Instance 2's seal names a
//! session row instance 1 owns: the store refuses it, cpmd answers the BYE with its
//! store-failure response (500, TERM-5), and nothing of instance 1's sessions changes
//! (state, info, participants, messages, what each user sees). Instance 1 then seals
//! its group itself at its next start.
//!
//! Fails on the code before SEC-7: instance 2's seal turned instance 1's open group
//! into a sealed 1-to-1 (state, session type, From/To and SDP replaced).

use std::net::SocketAddr;
use std::time::Duration;

use cpmd::store::inspect::{open_mail_view, read_contents, StoreContents};
use cpmd::store::StoreUrl;
use cpmd_core::UserUri;
use cpmd_tests::pg_db::TestDb;
use cpmd_tests::{
    free_port, sipp_available, sipp_claim, sipp_keys, Cpmd, Sipp, SippRun, Transport,
};

const CONVERSATION: &str = "4e6a8c0d-2b4f-4a6c-8e0a-1c3e5a7b9d2f";
const ONE_TO_ONE: &str = "7b9d1f3a-5c7e-4b9d-a1c3-e5f7091b3d5f";
const GROUP: &str = "9c1e3a5b-7d9f-4c1e-b3a5-c7e9f1a3b5d7";

/// Instance 1's sessions and messages: everything of `CONVERSATION`.
fn of_instance_one(url: &StoreUrl) -> StoreContents {
    let all = read_contents(url).expect("read the store");
    StoreContents {
        sessions: all
            .sessions
            .into_iter()
            .filter(|s| s.conversation_id == CONVERSATION)
            .collect(),
        messages: all
            .messages
            .into_iter()
            .filter(|m| m.conversation_id == CONVERSATION)
            .collect(),
        standalone: Vec::new(),
        dispositions: Vec::new(),
    }
}

/// Every object in every folder of alice, bob and carol.
fn what_users_see(url: &StoreUrl) -> Vec<(String, String, Vec<Vec<u8>>)> {
    let mail = open_mail_view(url).expect("mailbox view");
    let mut out = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let user = UserUri::new_canonical(format!("sip:{user}@example.com"));
        for folder in mail.mailboxes(&user).expect("mailboxes") {
            let uids: Vec<u32> = mail
                .summaries(&user, &folder.name, None)
                .expect("summaries")
                .iter()
                .map(|s| s.uid)
                .collect();
            let objects = mail
                .fetch(&user, &folder.name, &uids)
                .expect("fetch")
                .into_iter()
                .map(|o| o.raw)
                .collect();
            out.push((user.as_str().to_owned(), folder.name, objects));
        }
    }
    out
}

#[test]
fn sec_7_another_instance_cannot_write_into_a_session() {
    if !sipp_available() {
        return;
    }
    let Some(db) = TestDb::create("instances") else {
        return;
    };
    let url = StoreUrl::parse(&db.url).expect("store URL");
    let sipp_run = |cpmd: &Cpmd, local, extra: &[&str], contrib1: &str| SippRun {
        server: cpmd.addr(Transport::Udp),
        transport: Transport::Udp,
        local,
        args: extra
            .iter()
            .map(|s| (*s).to_owned())
            .chain(sipp_keys(&[
                ("conv", CONVERSATION),
                ("contrib1", contrib1),
                ("contrib2", GROUP),
            ]))
            .collect(),
    };

    // Instance 1: the claim; the group stays open.
    let mut one = Cpmd::start(&[
        "--udp",
        "127.0.0.1:0",
        "--store",
        &db.url,
        "--instance",
        "1",
    ]);
    let ip = one.addr(Transport::Udp).ip();
    let at = || SocketAddr::new(ip, free_port(ip));
    let dir = one.dir.path().to_path_buf();
    let run = |local, extra: &[&str]| sipp_run(&one, local, extra, ONE_TO_ONE);
    let (a, b, c) = (at(), at(), at());
    sipp_claim(run, [a, b, c], &dir);
    let before = of_instance_one(&url);
    let states: Vec<(&str, &str)> = before
        .sessions
        .iter()
        .map(|s| (s.contribution_id.as_str(), s.state.as_str()))
        .collect();
    assert_eq!(states, vec![(GROUP, "open"), (ONE_TO_ONE, "sealed")]);
    let seen_before = what_users_see(&url);

    // Instance 2, same database: a 1-to-1 reusing the open group's IDs, ended by B.
    let two = Cpmd::start(&[
        "--udp",
        "127.0.0.1:0",
        "--store",
        &db.url,
        "--instance",
        "2",
    ]);
    let dir2 = two.dir.path().to_path_buf();
    let run2 = |local, extra: &[&str]| sipp_run(&two, local, extra, GROUP);
    let (a2, b2) = (at(), at());
    Sipp::spawn("register.xml", &run2(b2, &["-s", "bob", "-m", "1"]), &dir2).assert_success();
    let b2_uas = Sipp::spawn("b_call_bye_any.xml", &run2(b2, &["-m", "1"]), &dir2);
    std::thread::sleep(Duration::from_millis(200));
    Sipp::spawn("a_call.xml", &run2(a2, &["-m", "1"]), &dir2).assert_success();
    b2_uas.assert_success();

    assert_eq!(
        of_instance_one(&url),
        before,
        "instance 1's sessions and messages are as they were"
    );
    assert_eq!(
        what_users_see(&url),
        seen_before,
        "and so is every user's view"
    );

    assert!(
        two.log().contains("belongs to cpmd instance 1"),
        "instance 2's seal was refused by the store: {}",
        two.log()
    );

    // Instance 1 still owns its group: at its next start it seals it (as crashed).
    one.kill();
    one.restart();
    assert!(
        one.wait_log(
            "session left open by a crash sealed as crashed",
            Duration::from_secs(5)
        ),
        "{}",
        one.log()
    );
    let after = of_instance_one(&url);
    let group = after
        .sessions
        .iter()
        .find(|s| s.contribution_id == GROUP)
        .expect("the group");
    assert_eq!(group.state, "crashed");
    assert_eq!(
        group.info.as_ref().map(|i| i.session_type.as_str()),
        Some("Ad-Hoc"),
        "still instance 1's group"
    );
}
