//! The claim with MSRP across two nodes behind Kamailio (specs/scale-out.md, issue
//! 19's scale-out test): two `cpmd` nodes with `[cluster]` on one PostgreSQL
//! database (a throw-away database in the server named by `CPMD_TEST_PG`; missing:
//! a failure under `CI=true`, a loud skip otherwise), Kamailio's `dispatcher` in
//! front ([`cpmd_tests::dispatcher::Balancer`]: alice's initial requests to node 1,
//! everyone else's to node 2), digest authentication on both nodes (every
//! terminal's flow is Kamailio's, SCALE-6).
//!
//! Alice registers through node 1, bob and carol through node 2; sipp plays each
//! terminal's SIP side and an independent Python MSRP client
//! (`tests/msrp/msrp_client.py`) each MSRP leg. Alice's 1-to-1 to bob reaches bob
//! through node 1 (SCALE-5): node 1 runs the session, so the MSRP of both parties
//! connects to node 1's MSRP listener and none to node 2's (asserted on every
//! leg's bind). Messages go both ways; alice extends to a group with carol (the
//! focus is node 1's too); bob leaves the replaced 1-to-1 (his BYE relayed to
//! alice, sealed); the group talks. The history read over IMAP is the same from
//! node 1 and from node 2 (the same mailboxes, the same objects, byte for byte);
//! then node 1 is killed with SIGKILL while the group is open, and node 2 seals the
//! group as crashed (SCALE-2): carol reads that from node 2, and alice's binding
//! row is node 2's.
//!
//! sipp can hash one digest URI per run (`-auth_uri`) and cpmd checks it against
//! the Request-URI (SEC-4c), so alice's 1-to-1 (`msrp_a_call_auth.xml`) and her
//! extension (`msrp_a_extend_auth.xml`) are two sipp runs from two sockets: two
//! dialogs of the same authenticated user, which is all the extension needs
//! (EXT-2 looks at who sent it, not where from).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use cpmd::store::inspect::read_contents;
use cpmd::store::layout::session_mailbox;
use cpmd::store::StoreUrl;
use cpmd_tests::dispatcher::Balancer;
use cpmd_tests::imap_raw::Imap;
use cpmd_tests::msrp::{content, imdn_id, python_available, ClientOptions, MsrpClient};
use cpmd_tests::pg_db::TestDb;
use cpmd_tests::{
    free_port, sipp_available, sipp_keys, tool_available, Cpmd, Sipp, SippRun, Transport,
};
use serde_json::json;

const CONVERSATION: &str = "5d7f9b13-4e6a-4c8d-9f0b-2a3c4d5e6f70";
const ONE_TO_ONE: &str = "6e8a0c24-5f7b-4d9e-8a1c-3b4d5e6f7a81";
const GROUP: &str = "7f9b1d35-6a8c-4e0f-9b2d-4c5e6f7a8b92";
const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";
const CAROL: &str = "sip:carol@example.com";
const FACTORY: &str = "sip:conf-factory@example.com";
const WAIT: Duration = Duration::from_secs(15);
const PASSWORDS: [(&str, &str); 3] = [
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
    ("carol", "carol-secret"),
];

fn node_config() -> String {
    let mut config = String::from(
        "[cluster]\nenabled = true\nlease_s = 1\n\n\
         [auth]\nenabled = true\nalgorithms = [\"MD5\"]\n\n[auth.passwords]\n",
    );
    for (user, password) in PASSWORDS {
        config.push_str(&format!("{user} = \"{password}\"\n"));
    }
    config
}

fn password(user: &str) -> &'static str {
    PASSWORDS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .expect("a test user")
}

fn local() -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    SocketAddr::new(ip, free_port(ip))
}

fn listener(node: &Cpmd, name: &str) -> SocketAddr {
    node.bound
        .iter()
        .find(|(t, _)| t == name)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no {name} listener in {:?}", node.bound))
}

/// A passive MSRP terminal (cpmd dials it and binds with an empty SEND).
fn client(name: &str, dir: &Path) -> MsrpClient {
    MsrpClient::spawn(
        name,
        &ClientOptions {
            listen: true,
            ..ClientOptions::default()
        },
        dir,
    )
}

/// sipp `-key` arguments for an MSRP leg of `c` (`suffix` "" or "2").
fn leg(c: &MsrpClient, suffix: &str) -> Vec<(String, String)> {
    vec![
        (format!("msrp_proto{suffix}"), "TCP/MSRP".to_owned()),
        (format!("msrp_path{suffix}"), c.path.clone()),
        (format!("msrp_port{suffix}"), c.port().to_string()),
        (format!("msrp_setup{suffix}"), "passive".to_owned()),
    ]
}

/// Waits until `c` is bound and asserts the binding came from node 1's MSRP
/// listener (SCALE-5: the session's node carries both parties' media).
fn bound_to(c: &mut MsrpClient, node1_msrp: SocketAddr, node2_msrp: SocketAddr) {
    let peer = c.wait_bound(WAIT);
    assert!(
        peer.contains(&node1_msrp.to_string()),
        "{}'s MSRP is node 1's ({node1_msrp}): {peer}",
        c.name
    );
    assert!(
        !peer.contains(&node2_msrp.to_string()),
        "{}: nothing of node 2's: {peer}",
        c.name
    );
}

fn say(c: &mut MsrpClient, id: &str, text: &str, from: &str, to: &str) {
    c.send_text(id, text, json!({"from": from, "to": to}));
}

/// The next messages at `c`, as (imdn id, content), sorted by id.
fn received(c: &mut MsrpClient, n: usize) -> Vec<(String, String)> {
    let mut got: Vec<(String, String)> = c
        .messages(n, WAIT)
        .iter()
        .map(|e| (imdn_id(e), content(e)))
        .collect();
    got.sort();
    got
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    out.sort();
    out
}

/// The (message id, sender) pairs stored for `contribution`, sorted.
fn stored(url: &StoreUrl, contribution: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = read_contents(url)
        .expect("read the store")
        .messages
        .into_iter()
        .filter(|m| m.contribution_id.as_deref() == Some(contribution))
        .map(|m| (m.message_id, m.sender))
        .collect();
    out.sort();
    out
}

/// The value of the sample `name` on `node`'s metrics listener (0 when absent).
fn metric(node: &Cpmd, name: &str) -> f64 {
    use std::io::{Read as _, Write as _};
    let addr = listener(node, "metrics");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// What `user` sees over IMAP on `imap`: the mailbox list, then each session
/// folder's objects (`FETCH 1:* (UID BODY.PEEK[])`), as text.
fn imap_view(imap: SocketAddr, user: &str) -> (String, Vec<(String, String)>) {
    let mut c = Imap::login(imap, WAIT, user, password(user));
    let list = c.command("LIST \"\" \"*\"");
    assert!(list.status.starts_with("OK"), "{list:?}");
    let mut folders = Vec::new();
    for folder in [
        session_mailbox(CONVERSATION, ONE_TO_ONE),
        session_mailbox(CONVERSATION, GROUP),
    ] {
        let selected = c.command(&format!("SELECT \"{folder}\""));
        if !selected.status.starts_with("OK") {
            continue;
        }
        let fetched = c.command("FETCH 1:* (UID BODY.PEEK[])");
        assert!(fetched.status.starts_with("OK"), "{fetched:?}");
        folders.push((
            folder,
            String::from_utf8_lossy(&fetched.untagged).into_owned(),
        ));
    }
    (
        String::from_utf8_lossy(&list.untagged).into_owned(),
        folders,
    )
}

#[test]
fn the_claim_with_msrp_across_two_nodes_behind_kamailio() {
    if !sipp_available() || !python_available() || !tool_available("kamailio", &["-v"], "kamailio")
    {
        return;
    }
    let Some(db) = TestDb::create("scale_claim") else {
        return;
    };
    let url = StoreUrl::parse(&db.url).expect("store URL");
    let config = node_config();
    let node = |instance: &str| {
        Cpmd::start_with_config(
            Some(&config),
            &[
                "--udp",
                "127.0.0.1:0",
                "--msrp",
                "127.0.0.1:0",
                "--store",
                &db.url,
                "--instance",
                instance,
            ],
        )
    };
    let (mut one, two) = (node("1"), node("2"));
    let (msrp1, msrp2) = (listener(&one, "msrp"), listener(&two, "msrp"));
    let dir = one.dir.path().to_path_buf();
    let balancer = Balancer::start(&dir, [one.addr(Transport::Udp), two.addr(Transport::Udp)]);
    let run = |at: SocketAddr, extra: &[&str], legs: &[Vec<(String, String)>]| {
        let mut keys: Vec<(&str, &str)> = vec![
            ("conv", CONVERSATION),
            ("contrib1", ONE_TO_ONE),
            ("contrib2", GROUP),
        ];
        for l in legs {
            keys.extend(l.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        SippRun {
            server: balancer.addr,
            transport: Transport::Udp,
            local: at,
            args: extra
                .iter()
                .map(|s| (*s).to_owned())
                .chain(sipp_keys(&keys))
                .collect(),
        }
    };

    // Bob and carol register through node 2, alice through node 1 (Kamailio's
    // choice by From); node 1 learns bob's and carol's rows (SCALE-4, SCALE-5).
    let (a1, a2, b, c) = (local(), local(), local(), local());
    for (user, at) in [("bob", b), ("carol", c), ("alice", a1)] {
        let args = [
            "-s",
            user,
            "-ap",
            password(user),
            "-auth_uri",
            "example.com",
        ];
        let args: Vec<&str> = args.into_iter().chain(["-m", "1"]).collect();
        let reg = Sipp::spawn("register_auth.xml", &run(at, &args, &[]), &dir);
        assert!(
            reg.wait().is_some_and(|s| s.success()),
            "{user} registers\n{}",
            balancer.log()
        );
    }
    let owners =
        || db.query_text("SELECT aor || ' ' || instance::text FROM locations ORDER BY aor");
    let want_owners = [
        format!("{ALICE} 1"),
        format!("{BOB} 2"),
        format!("{CAROL} 2"),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    while owners() != want_owners && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(owners(), want_owners, "{}", balancer.log());
    for aor in [BOB, CAROL] {
        assert!(
            one.wait_log(
                &format!("location row of another node aor={aor}"),
                Duration::from_secs(20)
            ),
            "node 1 learned {aor}\n{}",
            one.log()
        );
    }

    let mut alice1 = client("alice-1to1", &dir);
    let mut alice2 = client("alice-group", &dir);
    let mut bob1 = client("bob-1to1", &dir);
    let mut bob2 = client("bob-group", &dir);
    let mut carol = client("carol", &dir);

    // Bob answers node 1's INVITEs (the 1-to-1, then the group's) and leaves the
    // 1-to-1 8 s after it is up: by then alice has extended and bob has joined.
    let b_uas = Sipp::spawn(
        "msrp_b_claim.xml",
        &run(
            b,
            &["-m", "2"],
            &[
                leg(&bob1, ""),
                leg(&bob2, "2"),
                vec![("b_pause_ms".to_owned(), "8000".to_owned())],
            ],
        ),
        &dir,
    );
    let c_uas = Sipp::spawn(
        "msrp_answer.xml",
        &run(c, &["-s", "carol", "-m", "1"], &[leg(&carol, "")]),
        &dir,
    );
    std::thread::sleep(Duration::from_millis(300));
    let a_call = Sipp::spawn(
        "msrp_a_call_auth.xml",
        &run(
            a1,
            &[
                "-s",
                "alice",
                "-ap",
                password("alice"),
                "-auth_uri",
                "bob@example.com",
                "-m",
                "1",
            ],
            &[leg(&alice1, "")],
        ),
        &dir,
    );

    // The 1-to-1: node 1's session, both parties' MSRP on node 1.
    bound_to(&mut alice1, msrp1, msrp2);
    bound_to(&mut bob1, msrp1, msrp2);
    for i in 0..3 {
        say(
            &mut alice1,
            &format!("one-a{i}"),
            &format!("hi bob {i}"),
            ALICE,
            BOB,
        );
        say(
            &mut bob1,
            &format!("one-b{i}"),
            &format!("hi alice {i}"),
            BOB,
            ALICE,
        );
    }
    let to_bob = [
        ("one-a0", "hi bob 0"),
        ("one-a1", "hi bob 1"),
        ("one-a2", "hi bob 2"),
    ];
    let to_alice = [
        ("one-b0", "hi alice 0"),
        ("one-b1", "hi alice 1"),
        ("one-b2", "hi alice 2"),
    ];
    assert_eq!(received(&mut bob1, 3), pairs(&to_bob));
    assert_eq!(received(&mut alice1, 3), pairs(&to_alice));

    // Alice extends to a group with carol: node 1's focus; every group leg on
    // node 1.
    Sipp::spawn(
        "msrp_a_extend_auth.xml",
        &run(
            a2,
            &[
                "-s",
                "alice",
                "-ap",
                password("alice"),
                "-auth_uri",
                "conf-factory@example.com",
                "-m",
                "1",
            ],
            &[leg(&alice2, "")],
        ),
        &dir,
    )
    .assert_success();
    for c in [&mut alice2, &mut bob2, &mut carol] {
        bound_to(c, msrp1, msrp2);
    }
    c_uas.assert_success();
    // Bob's BYE of the 1-to-1, relayed to alice through Kamailio; its 200 came
    // after the seal (HIST-5).
    b_uas.assert_success();
    a_call.assert_success();
    assert_eq!(db.session_state(ONE_TO_ONE).as_deref(), Some("sealed"));

    // The group talks.
    say(&mut alice2, "grp-a0", "hello group", ALICE, FACTORY);
    say(&mut bob2, "grp-b0", "bob to the group", BOB, FACTORY);
    say(&mut carol, "grp-c0", "carol to the group", CAROL, FACTORY);
    let (ga, gb, gc) = (
        ("grp-a0", "hello group"),
        ("grp-b0", "bob to the group"),
        ("grp-c0", "carol to the group"),
    );
    assert_eq!(received(&mut alice2, 2), pairs(&[gb, gc]));
    assert_eq!(received(&mut bob2, 2), pairs(&[ga, gc]));
    assert_eq!(received(&mut carol, 2), pairs(&[ga, gb]));
    // Node 1 relayed every MSRP message (and bound every leg); node 2 sent none.
    let sends = metric(&one, "cpmd_msrp_sends_total");
    assert!(sends >= 12.0, "node 1's MSRP SENDs: {sends}");
    assert_eq!(metric(&two, "cpmd_msrp_sends_total"), 0.0, "node 2's");
    // Each message was answered after it was stored: the store has them all.
    assert_eq!(
        stored(&url, ONE_TO_ONE),
        pairs(&[
            ("one-a0", ALICE),
            ("one-a1", ALICE),
            ("one-a2", ALICE),
            ("one-b0", BOB),
            ("one-b1", BOB),
            ("one-b2", BOB)
        ])
    );
    let deadline = Instant::now() + WAIT;
    let want_group = pairs(&[("grp-a0", ALICE), ("grp-b0", BOB), ("grp-c0", CAROL)]);
    while stored(&url, GROUP) != want_group && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stored(&url, GROUP), want_group);
    assert_eq!(
        db.query_text(&format!(
            "SELECT contribution_id || ' ' || instance::text FROM sessions \
                 WHERE contribution_id IN ('{ONE_TO_ONE}', '{GROUP}') \
                 ORDER BY contribution_id"
        )),
        [format!("{ONE_TO_ONE} 1"), format!("{GROUP} 1")],
        "both sessions are node 1's"
    );

    // The history over IMAP: the same from either node, for each user.
    let (imap1, imap2) = (listener(&one, "imap"), listener(&two, "imap"));
    for (user, sees_one_to_one) in [("alice", true), ("bob", true), ("carol", false)] {
        let from_one = imap_view(imap1, user);
        let from_two = imap_view(imap2, user);
        assert_eq!(from_one, from_two, "{user}'s store from node 1 and node 2");
        let folders: Vec<&str> = from_one.1.iter().map(|(f, _)| f.as_str()).collect();
        let want = if sees_one_to_one { 2 } else { 1 };
        assert_eq!(folders.len(), want, "{user}: {folders:?}\n{}", from_one.0);
        let all: String = from_one.1.iter().map(|(_, t)| t.as_str()).collect();
        assert!(all.contains("carol to the group"), "{user}: {all}");
        assert_eq!(
            all.contains("hi bob 2"),
            sees_one_to_one,
            "{user} and the 1-to-1: {all}"
        );
    }

    // Node 1 dies mid-session: node 2 seals its group as crashed (SCALE-2).
    assert_eq!(db.session_state(GROUP).as_deref(), Some("open"));
    one.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.session_state(GROUP).as_deref() == Some("open") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        db.session_state(GROUP).as_deref(),
        Some("crashed"),
        "{}",
        two.log()
    );
    let (_, folders) = imap_view(imap2, "carol");
    let group_text = &folders[0].1;
    assert!(
        group_text.contains("<ended-by>crash</ended-by>"),
        "carol reads the group ended by crash from node 2:\n{group_text}"
    );
    // Alice's binding is node 2's now: she is still reachable.
    assert!(owners().contains(&format!("{ALICE} 2")), "{:?}", owners());
}
