//! The RFC 4475 §3 and RFC 5118 §4 torture messages against a real cpmd, one test
//! per message, each over UDP and over TCP (a fresh cpmd per transport, so that
//! messages reusing Call-IDs and branches do not meet), asserting the verdict of
//! `tests/torture/verdicts.toml` (specs/conformance.md, CONF-1 … CONF-9). Requests are
//! sent as they are; after the verdict a probe OPTIONS must be the next thing
//! answered, so a message cpmd should have ignored cannot have been answered after
//! all. Torture *responses* answer the INVITE cpmd sends to a registered callee
//! (CONF-8). `whole_corpus_then_options` sends every message to one cpmd and then
//! requires an answer on every transport (CONF-9).

use std::collections::BTreeMap;
use std::path::PathBuf;

use cpmd_tests::sip_peer::{first_line, head_of, header_value, status_of, Peer, Received};
use cpmd_tests::{workspace_root, Cpmd, Transport};

fn corpus_dir() -> PathBuf {
    workspace_root().join("tests/torture")
}

/// One entry of `verdicts.toml`.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    bytes: Vec<u8>,
    section: String,
    response: bool,
    status: u16,
    reason: Option<String>,
    header: Option<String>,
    tcp_status: Option<u16>,
    tcp_reason: Option<String>,
    tcp_close: bool,
    tcp_next: Option<u16>,
    tcp_tail: bool,
    adapt: Vec<String>,
    caller: u16,
    dropped: bool,
    known_failure: Vec<String>,
}

fn table() -> BTreeMap<String, Case> {
    let text = std::fs::read_to_string(corpus_dir().join("verdicts.toml")).expect("verdicts");
    let table: toml::Table = text.parse().expect("verdicts.toml parses");
    table
        .into_iter()
        .map(|(name, v)| {
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            let n = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_integer())
                    .map(|x| u16::try_from(x).expect("status fits"))
            };
            let list = |k: &str| -> Vec<String> {
                v.get(k)
                    .and_then(|x| x.as_array())
                    .map(|a| {
                        a.iter()
                            .map(|x| x.as_str().expect("string").to_owned())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let file = s("file").expect("file");
            let bytes = std::fs::read(corpus_dir().join(&file)).expect("message file");
            let kind = s("kind").expect("kind");
            assert!(matches!(kind.as_str(), "request" | "response"), "{name}");
            assert!(
                matches!(s("rfc").as_deref(), Some("valid" | "invalid")),
                "{name}: rfc"
            );
            let mut adapt = list("adapt");
            if adapt.is_empty() {
                adapt = ["Via", "From", "To", "Call-ID", "CSeq"]
                    .map(String::from)
                    .to_vec();
            }
            let case = Case {
                section: s("section").expect("section"),
                response: kind == "response",
                status: n("status").unwrap_or(0),
                reason: s("reason"),
                header: s("header"),
                tcp_status: n("tcp_status"),
                tcp_reason: s("tcp_reason"),
                tcp_close: v.get("tcp_close").and_then(|x| x.as_bool()) == Some(true),
                tcp_next: n("tcp_next"),
                tcp_tail: v.get("tcp_tail").and_then(|x| x.as_bool()) == Some(true),
                adapt,
                caller: n("caller").unwrap_or(0),
                dropped: v.get("dropped").and_then(|x| x.as_bool()) == Some(true),
                known_failure: list("known_failure"),
                name: name.clone(),
                bytes,
            };
            (name, case)
        })
        .collect()
}

fn case(name: &str) -> Case {
    table()
        .remove(name)
        .unwrap_or_else(|| panic!("{name} is not in verdicts.toml"))
}

fn start() -> Cpmd {
    Cpmd::start(&["--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
}

/// Runs one case over one transport; `Err` says how cpmd missed the verdict.
fn check(case: &Case, transport: Transport) -> Result<(), String> {
    let cpmd = start();
    let result = if case.response {
        check_response(case, &cpmd, transport)
    } else {
        check_request(case, &cpmd, transport)
    };
    result.map_err(|e| format!("{e}\n--- cpmd log tail ---\n{}", log_tail(&cpmd)))
}

fn log_tail(cpmd: &Cpmd) -> String {
    let log = cpmd.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn describe(msg: &[u8]) -> String {
    String::from_utf8_lossy(head_of(msg)).into_owned()
}

fn check_request(case: &Case, cpmd: &Cpmd, transport: Transport) -> Result<(), String> {
    let mut peer = Peer::connect(transport, cpmd.addr(transport));
    peer.send(&case.bytes);
    let tcp = transport == Transport::Tcp;
    let status = if tcp {
        case.tcp_status.unwrap_or(case.status)
    } else {
        case.status
    };
    let reason = if tcp && case.tcp_reason.is_some() {
        &case.tcp_reason
    } else {
        &case.reason
    };
    if status == 0 {
        // Nothing may be answered. UDP: the probe's answer comes first. TCP: the frame
        // is incomplete, so the probe becomes body bytes; at the end of our side cpmd
        // closes without a word.
        return if tcp {
            peer.finish();
            match peer.recv() {
                Received::Closed => Ok(()),
                Received::Nothing => Err("not closed".into()),
                Received::Message(m) => Err(format!("answered: {}", first_line(&m))),
            }
        } else {
            expect_probe_next(&mut peer, "silent", None)
        };
    }
    let Some(answer) = peer.final_response() else {
        return Err("no answer".into());
    };
    let got = status_of(&answer).unwrap_or(0);
    if got != status {
        return Err(format!("expected {status}, got:\n{}", describe(&answer)));
    }
    let line = first_line(&answer);
    if let Some(want) = reason {
        let phrase = line.get(12..).unwrap_or("").to_ascii_lowercase();
        if !phrase.contains(&want.to_ascii_lowercase()) {
            return Err(format!("reason phrase does not name {want:?}: {line}"));
        }
    }
    if let Some(want) = &case.header {
        let head = describe(&answer);
        if !head.split("\r\n").any(|l| l.starts_with(want.as_str())) {
            return Err(format!("no {want:?} header in:\n{head}"));
        }
    }
    if tcp && case.tcp_close {
        return match peer.recv() {
            Received::Closed => Ok(()),
            Received::Nothing => Err("not closed".into()),
            Received::Message(m) => Err(format!("not closed; then: {}", first_line(&m))),
        };
    }
    let next = if tcp { case.tcp_next } else { None };
    if tcp && case.tcp_tail {
        // Bytes beyond Content-Length stay in the stream and start the next message:
        // the probe goes on a connection of its own.
        if let Some(want) = next {
            let got = peer.final_response().and_then(|m| status_of(&m));
            if got != Some(want) {
                return Err(format!("second message: expected {want}, got {got:?}"));
            }
        }
        let mut fresh = Peer::connect(transport, cpmd.addr(transport));
        return expect_probe_next(&mut fresh, &case.name, None);
    }
    expect_probe_next(&mut peer, &case.name, next.map(|n| (n, &answer)))
}

/// Sends a probe OPTIONS; the next final response must be the probe's 200 (after
/// the `extra` final status, when the same bytes held a second message), ignoring
/// retransmissions of `first`.
fn expect_probe_next(
    peer: &mut Peer,
    tag: &str,
    extra: Option<(u16, &Vec<u8>)>,
) -> Result<(), String> {
    let mut extra = extra;
    let first = extra.map(|(_, m)| m.clone());
    let probe = peer.probe(tag);
    peer.send(&probe);
    loop {
        let Some(msg) = peer.final_response() else {
            return Err("connection closed before the probe's answer".into());
        };
        if first.as_ref() == Some(&msg) {
            continue;
        }
        if let Some((want, _)) = extra.take() {
            let got = status_of(&msg).unwrap_or(0);
            if got != want {
                return Err(format!("second message: expected {want}, got {got}"));
            }
            continue;
        }
        let call_id = header_value(&msg, "Call-ID").unwrap_or_default();
        if call_id == format!("probe-{tag}") && status_of(&msg) == Some(200) {
            return Ok(());
        }
        return Err(format!(
            "expected the probe's 200 next, got:\n{}",
            describe(&msg)
        ));
    }
}

/// REGISTERs `user` from `peer` and waits for the 200.
fn register(peer: &mut Peer, user: &str) {
    let local = peer.local();
    let t = peer.via_transport();
    let msg = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/{t} {local};branch=z9hG4bK-reg-{user}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag=r-{user}\r\n\
         To: <sip:{user}@example.com>\r\nCall-ID: reg-{user}\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@{local};transport={tl}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
        tl = t.to_ascii_lowercase(),
    );
    peer.send(msg.as_bytes());
    let ok = peer.final_response().expect("answer to REGISTER");
    assert_eq!(status_of(&ok), Some(200), "{}", describe(&ok));
}

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=message 7001 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n\
    a=path:msrp://127.0.0.1:7001/torture;tcp\r\na=setup:active\r\na=sendrecv\r\n";

/// The torture response answers the INVITE cpmd sends to the callee, with the
/// transaction's header lines put in; then the callee sends a plain 486. The
/// caller's final status says which of the two cpmd acted on.
fn check_response(case: &Case, cpmd: &Cpmd, transport: Transport) -> Result<(), String> {
    let server = cpmd.addr(transport);
    let (mut alice, mut bob) = (
        Peer::connect(transport, server),
        Peer::connect(transport, server),
    );
    register(&mut alice, "alice");
    register(&mut bob, "bob");
    let local = alice.local();
    let t = alice.via_transport();
    let invite = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/{t} {local};branch=z9hG4bK-inv-{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a-{n}\r\n\
         To: <sip:bob@example.com>\r\nCall-ID: call-{n}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{local};transport={tl}>\r\nConversation-ID: conv-{n}\r\n\
         Contribution-ID: contrib-{n}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{OFFER}",
        n = case.name,
        tl = t.to_ascii_lowercase(),
        len = OFFER.len(),
    );
    alice.send(invite.as_bytes());
    let at_bob = loop {
        match bob.recv() {
            Received::Message(m) if first_line(&m).starts_with("INVITE ") => break m,
            Received::Message(_) => {}
            Received::Closed | Received::Nothing => {
                return Err("no INVITE reached the callee".into())
            }
        }
    };
    let to = format!(
        "{};tag=bob-{}",
        header_value(&at_bob, "To").unwrap_or_default(),
        case.name
    );
    let adapted = adapt(&case.bytes, &at_bob, &case.adapt, &to);
    bob.send(&adapted);
    let busy = format!(
        "SIP/2.0 486 Busy Here\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Content-Length: 0\r\n\r\n",
        header_value(&at_bob, "Via").unwrap_or_default(),
        header_value(&at_bob, "From").unwrap_or_default(),
        header_value(&at_bob, "Call-ID").unwrap_or_default(),
        header_value(&at_bob, "CSeq").unwrap_or_default(),
    );
    bob.send(busy.as_bytes());
    let Some(answer) = alice.final_response() else {
        return Err("caller connection closed".into());
    };
    let got = status_of(&answer).unwrap_or(0);
    if got != case.caller {
        return Err(format!(
            "caller expected {}, got:\n{}",
            case.caller,
            describe(&answer)
        ));
    }
    // A round trip after the caller's answer: cpmd logged whatever it did with the
    // torture response by the time it answers a later request.
    let probe = bob.probe(&case.name);
    bob.send(&probe);
    if bob.final_response().is_none() {
        return Err("no answer to the probe after the responses".into());
    }
    let dropped = cpmd.log().contains("dropped input");
    if dropped != case.dropped {
        return Err(format!(
            "logged as dropped: {dropped}, want {}",
            case.dropped
        ));
    }
    Ok(())
}

/// The torture response with the named header lines replaced by the values of the
/// request it answers (only the first Via: further Vias stay as printed).
fn adapt(response: &[u8], request: &[u8], names: &[String], to: &str) -> Vec<u8> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let (head, body) = response.split_at(split);
    let mut lines: Vec<Vec<u8>> = head.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    for name in names {
        let value = if name == "To" {
            to.to_owned()
        } else {
            header_value(request, name).unwrap_or_default()
        };
        if let Some(line) = lines.iter_mut().skip(1).find(|l| {
            let text = String::from_utf8_lossy(l);
            text.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        }) {
            *line = format!("{name}: {value}\r").into_bytes();
        }
    }
    let mut out = lines.join(&b'\n');
    out.extend_from_slice(body);
    out
}

fn run(name: &str) {
    let case = case(name);
    let mut report = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        let known = case.known_failure.iter().any(|t| t == transport.name());
        match (check(&case, transport), known) {
            (Ok(()), false) | (Err(_), true) => {}
            (Ok(()), true) => report.push(format!(
                "{}: passes now: drop the known_failure mark in verdicts.toml",
                transport.name()
            )),
            (Err(e), false) => report.push(format!("{}: {e}", transport.name())),
        }
    }
    assert!(
        report.is_empty(),
        "{} ({}):\n{}",
        case.name,
        case.section,
        report.join("\n")
    );
}

macro_rules! torture {
    ($($test:ident = $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run($name);
            }
        )*
        /// Every case of the table has its test, and every message file its case.
        const TESTED: &[&str] = &[$($name),*];
    };
}

torture! {
    wsinv = "wsinv",
    intmeth = "intmeth",
    esc01 = "esc01",
    escnull = "escnull",
    esc02 = "esc02",
    lwsdisp = "lwsdisp",
    longreq = "longreq",
    dblreq = "dblreq",
    semiuri = "semiuri",
    transports = "transports",
    mpart01 = "mpart01",
    unreason = "unreason",
    noreason = "noreason",
    badinv01 = "badinv01",
    clerr = "clerr",
    ncl = "ncl",
    scalar02 = "scalar02",
    scalarlg = "scalarlg",
    quotbal = "quotbal",
    ltgtruri = "ltgtruri",
    lwsruri = "lwsruri",
    lwsstart = "lwsstart",
    trws = "trws",
    escruri = "escruri",
    baddate = "baddate",
    regbadct = "regbadct",
    badaspec = "badaspec",
    baddn = "baddn",
    badvers = "badvers",
    mismatch01 = "mismatch01",
    mismatch02 = "mismatch02",
    bigcode = "bigcode",
    badbranch = "badbranch",
    insuf = "insuf",
    unkscm = "unkscm",
    novelsc = "novelsc",
    unksm2 = "unksm2",
    bext01 = "bext01",
    invut = "invut",
    regaut01 = "regaut01",
    multi01 = "multi01",
    mcl01 = "mcl01",
    bcast = "bcast",
    zeromf = "zeromf",
    cparam01 = "cparam01",
    cparam02 = "cparam02",
    regescrt = "regescrt",
    sdp01 = "sdp01",
    inv2543 = "inv2543",
    ipv6_good = "ipv6-good",
    ipv6_bad = "ipv6-bad",
    port_ambiguous = "port-ambiguous",
    port_unambiguous = "port-unambiguous",
    via_received_param_with_delim = "via-received-param-with-delim",
    via_received_param_no_delim = "via-received-param-no-delim",
    ipv6_in_sdp = "ipv6-in-sdp",
    mult_ip_in_header = "mult-ip-in-header",
    mult_ip_in_sdp = "mult-ip-in-sdp",
    ipv4_mapped_ipv6 = "ipv4-mapped-ipv6",
    ipv6_bug_abnf_3_colons = "ipv6-bug-abnf-3-colons",
    ipv6_correct_abnf_2_colons = "ipv6-correct-abnf-2-colons",
}

#[test]
fn every_message_has_a_verdict_and_a_test() {
    let table = table();
    let mut files: Vec<String> = ["rfc4475", "rfc5118"]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(corpus_dir().join(dir))
                .expect("corpus dir")
                .map(move |e| format!("{dir}/{}", e.expect("entry").file_name().to_string_lossy()))
        })
        .collect();
    files.sort();
    let text = std::fs::read_to_string(corpus_dir().join("verdicts.toml")).expect("verdicts");
    let parsed: toml::Table = text.parse().expect("parses");
    let mut named: Vec<String> = parsed
        .values()
        .map(|v| v["file"].as_str().expect("file").to_owned())
        .collect();
    named.sort();
    assert_eq!(files, named, "message files and verdict entries differ");
    let mut tested: Vec<&str> = TESTED.to_vec();
    tested.sort_unstable();
    let cases: Vec<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(tested, cases, "every verdict has its #[test]");
    // RFC 4475 §3 has 49 messages, RFC 5118 §4 has 12.
    assert_eq!(
        files.iter().filter(|f| f.starts_with("rfc4475/")).count(),
        49
    );
    assert_eq!(
        files.iter().filter(|f| f.starts_with("rfc5118/")).count(),
        12
    );
}

/// CONF-9: the whole corpus, requests and responses alike sent as requests would
/// be, to one cpmd over both transports; it must still answer OPTIONS on each.
#[test]
fn whole_corpus_then_options() {
    let cpmd = start();
    for case in table().values() {
        for transport in [Transport::Udp, Transport::Tcp] {
            let mut peer = Peer::connect(transport, cpmd.addr(transport));
            peer.send(&case.bytes);
            peer.finish();
        }
    }
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut peer = Peer::connect(transport, cpmd.addr(transport));
        let probe = peer.probe(&format!("after-corpus-{}", transport.name()));
        peer.send(&probe);
        let tag = format!("probe-after-corpus-{}", transport.name());
        loop {
            let answer = peer
                .final_response()
                .unwrap_or_else(|| panic!("{}: closed without answering", transport.name()));
            if header_value(&answer, "Call-ID").as_deref() == Some(tag.as_str()) {
                assert_eq!(status_of(&answer), Some(200), "{}", describe(&answer));
                break;
            }
        }
    }
}
