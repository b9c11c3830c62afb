//! The IMAP server over real TCP against the in-memory store, driven by a tiny
//! client that sends raw command lines and reads responses (with literals): the
//! bytes a third-party client would see.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpmd_core::UserUri;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::memory::MemoryStore;
use super::{ImapListener, Settings, Users};
use crate::mailstore::{FlagChange, MailFlag, MailStore};

pub const CONV: &str = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
pub const ONE: &str = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
pub const GROUP: &str = "9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f";

pub fn alice() -> UserUri {
    UserUri::new_canonical("sip:alice@example.com")
}
fn carol() -> UserUri {
    UserUri::new_canonical("sip:carol@example.com")
}

/// A session info object as specs/protocol.md §5 shows it.
pub fn session_info(contribution: &str) -> Vec<u8> {
    format!(
        "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
         Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nSubject: lunch?\r\n\
         Conversation-ID: {CONV}\r\nContribution-ID: {contribution}\r\n\
         Content-Type: Application/X-CPM-Session\r\n\r\n\
         <session>\r\n  <session-type>1-1</session-type>\r\n  \
         <sdp>m=message 2855 TCP/MSRP *\r\na=accept-types:message/cpim</sdp>\r\n</session>\r\n"
    )
    .into_bytes()
}

/// A message object.
pub fn message(contribution: &str, n: u32) -> Vec<u8> {
    format!(
        "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
         Date: Thu, 26 Nov 2026 12:00:{:02} +0000\r\nConversation-ID: {CONV}\r\n\
         Contribution-ID: {contribution}\r\nIMDN-Message-ID: m{n}\r\n\
         Content-Type: Message/CPIM\r\n\r\n\
         From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
         DateTime: 2026-11-26T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nhello {n}\r\n",
        n % 60
    )
    .into_bytes()
}

/// Alice has the 1-to-1 and the group; Carol only the group.
pub fn seeded() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    let one = format!("Default/{CONV}/{ONE}");
    let group = format!("Default/{CONV}/{GROUP}");
    store.add(&alice(), &one, &session_info(ONE), 1_795_000_000);
    store.add(&alice(), &one, &message(ONE, 1), 1_795_000_001);
    store.add(&alice(), &one, &message(ONE, 2), 1_795_000_002);
    store.add(&alice(), &group, &session_info(GROUP), 1_795_000_003);
    store.add(&carol(), &group, &session_info(GROUP), 1_795_000_003);
    store
}

pub fn users() -> Users {
    let pw: BTreeMap<String, String> =
        [("alice", "a-pass"), ("bob", "b-pass"), ("carol", "c-pass")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
    Users::new("example.com", pw)
}

pub async fn start(store: Arc<dyn MailStore>, settings: Settings) -> SocketAddr {
    let l = ImapListener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = l.local;
    l.spawn(store, users(), settings);
    addr
}

/// The raw-line client.
pub struct Client {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    next: u32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> (Self, String) {
        let s = TcpStream::connect(addr).await.unwrap();
        let (rd, wr) = s.into_split();
        let mut c = Self {
            rd: BufReader::new(rd),
            wr,
            next: 1,
        };
        let greeting = c.response().await;
        (c, greeting)
    }

    /// One response: a line plus any literals it announces (`{n}` at line end).
    pub async fn response(&mut self) -> String {
        let mut all = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(
                Duration::from_secs(10),
                self.rd.read_until(b'\n', &mut line),
            )
            .await
            .expect("response within 10 s")
            .unwrap();
            assert!(
                n > 0,
                "connection closed; so far: {}",
                String::from_utf8_lossy(&all)
            );
            all.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line);
            let t = text.trim_end();
            let Some(open) = t.rfind('{').filter(|_| t.ends_with('}')) else {
                break;
            };
            let len: usize = t[open + 1..t.len() - 1]
                .trim_end_matches('+')
                .parse()
                .unwrap();
            let mut lit = vec![0; len];
            self.rd.read_exact(&mut lit).await.unwrap();
            all.extend_from_slice(&lit);
        }
        String::from_utf8(all).unwrap()
    }

    pub async fn send(&mut self, raw: &str) {
        self.wr.write_all(raw.as_bytes()).await.unwrap();
    }

    /// Sends `TAG command`; returns the untagged responses and the tagged one.
    pub async fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = format!("t{}", self.next);
        self.next += 1;
        self.send(&format!("{tag} {command}\r\n")).await;
        self.until(&tag).await
    }

    pub async fn until(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut untagged = Vec::new();
        loop {
            let r = self.response().await;
            if r.starts_with(&format!("{tag} ")) {
                return (untagged, r);
            }
            untagged.push(r);
        }
    }

    pub async fn login(addr: SocketAddr, user: &str, pass: &str) -> Self {
        let (mut c, _) = Self::connect(addr).await;
        let (_, done) = c.cmd(&format!("LOGIN {user} {pass}")).await;
        assert!(done.contains(" OK "), "{done}");
        c
    }
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[tokio::test]
async fn greeting_capability_login_and_namespace() {
    let addr = start(seeded() as Arc<dyn MailStore>, Settings::default()).await;
    let (mut c, greeting) = Client::connect(addr).await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4REV1"),
        "{greeting}"
    );
    let (caps, done) = c.cmd("CAPABILITY").await;
    assert!(done.starts_with("t1 OK"));
    for cap in [
        "IDLE",
        "CONDSTORE",
        "NAMESPACE",
        "UIDPLUS",
        "AUTH=PLAIN",
        "SASL-IR",
        "ENABLE",
    ] {
        assert!(caps[0].contains(cap), "{cap} missing in {}", caps[0]);
    }
    // Nothing but the unauthenticated commands before login.
    let (_, done) = c.cmd("LIST \"\" \"*\"").await;
    assert!(done.starts_with("t2 BAD"), "{done}");
    let (_, done) = c.cmd("LOGIN alice wrong").await;
    assert!(done.starts_with("t3 NO"), "{done}");
    let (_, done) = c.cmd("LOGIN alice@other.org a-pass").await;
    assert!(done.starts_with("t4 NO"), "{done}");
    let (_, done) = c.cmd("LOGIN alice@example.com a-pass").await;
    assert!(done.starts_with("t5 OK"), "{done}");
    let (ns, done) = c.cmd("NAMESPACE").await;
    assert!(done.starts_with("t6 OK"));
    assert_eq!(ns[0].trim_end(), "* NAMESPACE ((\"\" \"/\")) NIL NIL");
    let (_, done) = c.cmd("LOGOUT").await;
    assert!(done.starts_with("t7 OK"));
}

#[tokio::test]
async fn list_shows_the_layout_and_a_user_only_their_own() {
    let addr = start(seeded() as Arc<dyn MailStore>, Settings::default()).await;
    let mut a = Client::login(addr, "alice", "a-pass").await;
    let (list, _) = a.cmd("LIST \"\" \"*\"").await;
    assert!(
        has(&list, "* LIST (\\HasNoChildren) \"/\" INBOX"),
        "{list:?}"
    );
    assert!(
        has(&list, "* LIST (\\HasChildren) \"/\" Default\r\n"),
        "{list:?}"
    );
    assert!(has(
        &list,
        &format!("(\\HasChildren) \"/\" Default/{CONV}\r\n")
    ));
    assert!(has(
        &list,
        &format!("(\\HasNoChildren) \"/\" Default/{CONV}/{ONE}")
    ));
    assert!(has(
        &list,
        &format!("(\\HasNoChildren) \"/\" Default/{CONV}/{GROUP}")
    ));
    assert_eq!(list.len(), 5);
    let (top, _) = a.cmd("LIST \"\" %").await;
    assert_eq!(top.len(), 2, "{top:?}");
    let (under, _) = a.cmd(&format!("LIST \"Default/{CONV}/\" %")).await;
    assert_eq!(under.len(), 2, "{under:?}");
    let (root, _) = a.cmd("LIST \"\" \"\"").await;
    assert_eq!(root[0].trim_end(), "* LIST (\\Noselect) \"/\" \"\"");

    // Carol was invited to the group only: no 1-to-1, and naming it fails.
    let mut c = Client::login(addr, "carol", "c-pass").await;
    let (list, _) = c.cmd("LIST \"\" \"*\"").await;
    assert!(!has(&list, ONE), "{list:?}");
    assert!(has(&list, GROUP));
    let (_, done) = c.cmd(&format!("SELECT Default/{CONV}/{ONE}")).await;
    assert!(done.contains(" NO "), "{done}");
    let (_, done) = c
        .cmd(&format!("STATUS Default/{CONV}/{ONE} (MESSAGES)"))
        .await;
    assert!(done.contains(" NO "), "{done}");
}

#[tokio::test]
async fn select_status_fetch_and_search() {
    let addr = start(seeded() as Arc<dyn MailStore>, Settings::default()).await;
    let mut a = Client::login(addr, "alice", "a-pass").await;
    let folder = format!("Default/{CONV}/{ONE}");
    let (st, _) = a
        .cmd(&format!(
            "STATUS {folder} (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)"
        ))
        .await;
    assert!(
        st[0].contains("MESSAGES 3 UIDNEXT 4 UIDVALIDITY "),
        "{st:?}"
    );
    assert!(st[0].contains("UNSEEN 3 HIGHESTMODSEQ 3"), "{st:?}");
    let (sel, done) = a.cmd(&format!("SELECT {folder}")).await;
    assert!(done.contains("OK [READ-WRITE]"), "{done}");
    assert!(has(&sel, "* 3 EXISTS"));
    assert!(has(&sel, "[UIDVALIDITY "));
    assert!(has(&sel, "[UIDNEXT 4]"));
    assert!(has(&sel, "[HIGHESTMODSEQ 3]"));
    assert!(has(&sel, "[UNSEEN 1]"));

    // Order by UID: the session info object first, then the messages.
    let (f, _) = a
        .cmd("UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (Contribution-ID Content-Type)])")
        .await;
    assert_eq!(f.len(), 3);
    assert!(
        f[0].starts_with("* 1 FETCH (UID 1 FLAGS () RFC822.SIZE "),
        "{}",
        f[0]
    );
    assert!(f[0].contains("INTERNALDATE \""));
    assert!(f[0].contains(&format!(
        "Contribution-ID: {ONE}\r\nContent-Type: Application/X-CPM-Session\r\n\r\n"
    )));
    assert!(f[2].contains("Message/CPIM"));

    let (h, _) = a
        .cmd("UID FETCH 1 (BODY.PEEK[HEADER] BODYSTRUCTURE ENVELOPE)")
        .await;
    assert!(h[0].contains("From: <sip:alice@example.com>\r\n"));
    assert!(
        h[0].contains("BODYSTRUCTURE (\"Application\" \"X-CPM-Session\""),
        "{}",
        h[0]
    );
    assert!(
        h[0].contains("ENVELOPE (\"Thu, 26 Nov 2026 12:00:00 +0000\" \"lunch?\""),
        "{}",
        h[0]
    );

    // SEARCH by header; UID SEARCH answers UIDs.
    let (s, _) = a
        .cmd(&format!("UID SEARCH HEADER Contribution-ID {ONE}"))
        .await;
    assert_eq!(s[0].trim_end(), "* SEARCH 1 2 3");
    let (s, _) = a
        .cmd(&format!(
            "UID SEARCH HEADER Conversation-ID {CONV} HEADER Content-Type Message/CPIM"
        ))
        .await;
    assert_eq!(s[0].trim_end(), "* SEARCH 2 3");
    let (s, _) = a.cmd("SEARCH HEADER IMDN-Message-ID m2").await;
    assert_eq!(s[0].trim_end(), "* SEARCH 3");
    let (s, _) = a.cmd("UID SEARCH UID 2:* FROM alice TO bob").await;
    assert_eq!(s[0].trim_end(), "* SEARCH 2 3");

    // BODY[] (no PEEK) marks the object seen; BODY[TEXT] is the body only.
    let (b, _) = a.cmd("UID FETCH 2 (BODY[])").await;
    assert!(b[0].contains("IMDN-Message-ID: m1"));
    assert!(b[0].contains("FLAGS (\\Seen)"), "{}", b[0]);
    let (t, _) = a.cmd("UID FETCH 2 (BODY.PEEK[TEXT])").await;
    assert!(t[0].contains("BODY[TEXT] {"), "{}", t[0]);
    assert!(!t[0].contains("IMDN-Message-ID"));
    let (s, _) = a.cmd("UID SEARCH UNSEEN").await;
    assert_eq!(s[0].trim_end(), "* SEARCH 1 3");
    let (s, _) = a.cmd("UID SEARCH SEEN").await;
    assert_eq!(s[0].trim_end(), "* SEARCH 2");

    // Unsupported parts are refused, not crashed on.
    let (_, done) = a.cmd("UID FETCH 1 (BODY.PEEK[2])").await;
    assert!(done.contains(" BAD "), "{done}");
}

#[tokio::test]
async fn condstore_changedsince_unchangedsince_and_expunge() {
    let store = seeded();
    let addr = start(store.clone() as Arc<dyn MailStore>, Settings::default()).await;
    let mut a = Client::login(addr, "alice", "a-pass").await;
    let (en, _) = a.cmd("ENABLE CONDSTORE").await;
    assert_eq!(en[0].trim_end(), "* ENABLED CONDSTORE");
    let (_, done) = a
        .cmd(&format!("SELECT Default/{CONV}/{ONE} (CONDSTORE)"))
        .await;
    assert!(done.contains("OK"));
    let (f, _) = a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 2)").await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].contains("UID 3") && f[0].contains("MODSEQ (3)"),
        "{f:?}"
    );

    let (s, done) = a.cmd("UID STORE 2 +FLAGS (\\Seen)").await;
    assert!(done.contains("OK"), "{done}");
    assert!(
        s[0].contains("FLAGS (\\Seen)") && s[0].contains("MODSEQ ("),
        "{s:?}"
    );
    let (f, _) = a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3)").await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("UID 2"));
    let (s, _) = a.cmd("UID SEARCH MODSEQ 4").await;
    assert_eq!(s[0].trim_end(), "* SEARCH 2 (MODSEQ 5)");

    // UNCHANGEDSINCE below the object's MODSEQ: refused and reported.
    let (_, done) = a
        .cmd("UID STORE 2 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Flagged)")
        .await;
    assert!(done.contains("OK [MODIFIED 2]"), "{done}");

    // \Deleted then EXPUNGE: the user's copy is gone, numbering follows.
    let (_, done) = a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    assert!(done.contains("OK"));
    let (x, done) = a.cmd("EXPUNGE").await;
    assert!(done.contains("OK"));
    assert_eq!(x, vec!["* 2 EXPUNGE\r\n".to_owned()]);
    let (f, _) = a.cmd("FETCH 2 (UID)").await;
    assert!(f[0].starts_with("* 2 FETCH (UID 3"), "{f:?}");
    let folder = format!("Default/{CONV}/{ONE}");
    assert_eq!(store.status(&alice(), &folder).unwrap().messages, 2);

    // EXAMINE is read-only.
    let (_, done) = a.cmd(&format!("EXAMINE {folder}")).await;
    assert!(done.contains("[READ-ONLY]"));
    let (_, done) = a.cmd("STORE 1 +FLAGS (\\Seen)").await;
    assert!(done.contains(" NO "), "{done}");
}

#[tokio::test]
async fn idle_pushes_new_objects_and_flag_changes() {
    let store = seeded();
    let addr = start(store.clone() as Arc<dyn MailStore>, Settings::default()).await;
    let mut a = Client::login(addr, "alice", "a-pass").await;
    let folder = format!("Default/{CONV}/{ONE}");
    a.cmd(&format!("SELECT {folder}")).await;
    a.send("i1 IDLE\r\n").await;
    let cont = a.response().await;
    assert!(cont.starts_with("+ "), "{cont}");
    // Another user's change, or another mailbox's, is not told.
    store.add(
        &carol(),
        &format!("Default/{CONV}/{GROUP}"),
        &message(GROUP, 9),
        1_795_000_100,
    );
    store.add(&alice(), &folder, &message(ONE, 3), 1_795_000_101);
    let pushed = a.response().await;
    assert_eq!(pushed, "* 4 EXISTS\r\n");
    let flags = BTreeSet::from([MailFlag::Seen]);
    store
        .store_flags(&alice(), &folder, &[4], FlagChange::Add, &flags, None)
        .unwrap();
    let pushed = a.response().await;
    assert!(
        pushed.starts_with("* 4 FETCH (UID 4 FLAGS (\\Seen)"),
        "{pushed}"
    );
    a.send("DONE\r\n").await;
    let (_, done) = a.until("i1").await;
    assert!(done.starts_with("i1 OK"), "{done}");
    let (_, done) = a.cmd("NOOP").await;
    assert!(done.contains("OK"));
}

#[tokio::test]
async fn authenticate_plain_with_and_without_initial_response() {
    let addr = start(seeded() as Arc<dyn MailStore>, Settings::default()).await;
    // "\0alice\0a-pass" and "\0bob\0nope" in base64.
    let (mut c, _) = Client::connect(addr).await;
    let (_, done) = c.cmd("AUTHENTICATE PLAIN AGFsaWNlAGEtcGFzcw==").await;
    assert!(done.starts_with("t1 OK"), "{done}");
    let (_, done) = c.cmd("SELECT INBOX").await;
    assert!(done.contains("OK"), "{done}");

    let (mut c, _) = Client::connect(addr).await;
    c.send("p1 AUTHENTICATE PLAIN\r\n").await;
    let cont = c.response().await;
    assert_eq!(cont.trim_end(), "+");
    c.send("AGJvYgBub3Bl\r\n").await;
    let (_, done) = c.until("p1").await;
    assert!(done.starts_with("p1 NO"), "{done}");
    c.send("p2 AUTHENTICATE PLAIN\r\n").await;
    c.response().await;
    c.send("*\r\n").await;
    let (_, done) = c.until("p2").await;
    assert!(done.starts_with("p2 BAD"), "{done}");
    let (_, done) = c.cmd("AUTHENTICATE CRAM-MD5").await;
    assert!(done.contains(" NO "), "{done}");
}

#[tokio::test]
async fn bad_input_is_answered_and_limits_hold() {
    let settings = Settings {
        max_connections: 2,
        idle_timeout: Duration::from_millis(300),
        max_literal: 1024,
        ..Settings::default()
    };
    let addr = start(seeded() as Arc<dyn MailStore>, settings).await;
    let (mut c, _) = Client::connect(addr).await;
    let (_, done) = c.cmd("FROBNICATE now").await;
    assert!(done.starts_with("t1 BAD"), "{done}");
    c.send("garbage without a tag\r\n").await;
    let r = c.response().await;
    assert!(
        r.starts_with("* BAD") || r.starts_with("garbage BAD"),
        "{r}"
    );
    c.send("t9 LOGIN {5000}\r\n").await;
    let r = c.response().await;
    assert!(r.starts_with("t9 BAD"), "{r}");
    let (_, done) = c.cmd("LOGIN alice a-pass").await;
    assert!(done.contains("OK"), "{done}");
    let (_, done) = c.cmd("APPEND INBOX {3+}\r\nabc").await;
    assert!(done.contains(" NO "), "{done}");

    // A second connection is allowed, a third is greeted with BYE.
    let (_c2, g) = Client::connect(addr).await;
    assert!(g.starts_with("* OK"));
    let (_c3, g) = Client::connect(addr).await;
    assert!(g.starts_with("* BYE"), "{g}");

    // Silent past the idle timeout: BYE, then the connection closes.
    let started = Instant::now();
    let r = c.response().await;
    assert!(r.starts_with("* BYE"), "{r}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// IMAP-7: an item named many times is answered once; too many distinct items, or
/// an answer bigger than `MAX_FETCH_BYTES`, get `NO [LIMIT]` and nothing else.
#[tokio::test]
async fn fetch_repeats_are_answered_once_and_limits_hold() {
    let store = seeded();
    let big = format!("Default/{CONV}/big");
    let mut raw = b"Subject: big\r\n\r\n".to_vec();
    raw.resize(600 * 1024, b'x');
    store.add(&alice(), &big, &raw, 1_795_000_010);
    let addr = start(store as Arc<dyn MailStore>, Settings::default()).await;
    let mut c = Client::login(addr, "alice", "a-pass").await;
    let (_, done) = c.cmd(&format!("EXAMINE \"Default/{CONV}/{ONE}\"")).await;
    assert!(done.contains("OK"), "{done}");
    let repeated = ["BODY.PEEK[HEADER]"; 500].join(" ");
    let (lines, done) = c.cmd(&format!("FETCH 1:* (UID {repeated} UID)")).await;
    assert!(done.contains("OK"), "{done}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    for l in &lines {
        assert_eq!(l.matches("BODY[HEADER]").count(), 1, "{l}");
        assert_eq!(l.matches("UID ").count(), 1, "{l}");
    }
    let distinct: Vec<String> = (0..=super::fetch::MAX_FETCH_ITEMS)
        .map(|i| format!("BODY.PEEK[]<{i}.1>"))
        .collect();
    let (lines, done) = c.cmd(&format!("FETCH 1 ({})", distinct.join(" "))).await;
    assert!(lines.is_empty() && done.contains("NO [LIMIT]"), "{done}");
    // 60 partials of a 600 KiB object: over 32 MiB of content, refused unread.
    let (_, done) = c.cmd(&format!("EXAMINE \"{big}\"")).await;
    assert!(done.contains("OK"), "{done}");
    let (lines, done) = c
        .cmd(&format!("FETCH 1 ({})", distinct[..60].join(" ")))
        .await;
    assert!(lines.is_empty() && done.contains("NO [LIMIT]"), "{done}");
    let (lines, done) = c.cmd("FETCH 1 (BODY.PEEK[])").await;
    assert!(done.contains("OK") && lines.len() == 1, "{done}");
}
