//! Conformance corpus for the SIP decoder: one test per file of
//! `tests/corpus/sip/` (decoded with `decode_message`) and `tests/corpus/datagram/`
//! (decoded with `decode_datagram`), asserting the decoded fields one by one.
//!
//! The files are raw wire bytes (real CRLFs; some deliberately use bare LF, folding,
//! odd spacing). Every message that decodes is also checked to survive
//! `decode(encode(m)) == m`. This is not a fuzz test (see `decoder_props.rs`).

use cpmd_core::sip::{Method, Request, Response, SipMessage, StatusCode, Via};
use cpmd_core::uri::{Host, Param, SipUri, Uri};
use cpmd_core::wire::{
    decode_datagram, decode_message, encode_message, BadMessage, DecodeError, Limits,
};

fn load(dir: &str, name: &str) -> Vec<u8> {
    let path = format!("{}/tests/corpus/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decodes a corpus file and checks that it survives an encode/decode round trip.
fn decode_ok(name: &str) -> SipMessage {
    let msg = decode_message(&load("sip", name), &Limits::default())
        .unwrap_or_else(|e| panic!("{name}: {:?}", e.error));
    let again = decode_message(&encode_message(&msg), &Limits::default());
    assert_eq!(again.as_ref().ok(), Some(&msg), "{name}: round trip");
    msg
}

fn req(name: &str) -> Request {
    match decode_ok(name) {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("{name}: expected a request"),
    }
}

fn resp(name: &str) -> Response {
    match decode_ok(name) {
        SipMessage::Response(r) => r,
        SipMessage::Request(_) => panic!("{name}: expected a response"),
    }
}

fn bad(name: &str) -> BadMessage {
    match decode_message(&load("sip", name), &Limits::default()) {
        Err(e) => e,
        Ok(m) => panic!("{name}: decoded unexpectedly: {m:?}"),
    }
}

fn sip(uri: &Uri) -> &SipUri {
    uri.as_sip()
        .unwrap_or_else(|| panic!("not a sip uri: {uri:?}"))
}

fn name(n: &str) -> Host {
    Host::Name(n.into())
}

fn p(name: &str, value: Option<&str>) -> Param {
    Param::new(name, value.map(str::to_owned))
}

/// (transport, host, port, branch) of a Via.
fn via(v: &Via) -> (&str, &Host, Option<u16>, Option<&str>) {
    (&v.transport, &v.host, v.port, v.branch())
}

fn other(r: &Request) -> Vec<(&str, &str)> {
    r.headers
        .other
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

#[test]
fn sip_01_invite_basic() {
    let r = req("01-invite-basic.sip");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.to_string(), "sip:bob@example.com");
    let h = &r.headers;
    assert_eq!(h.via.len(), 1);
    assert_eq!(
        via(&h.via[0]),
        (
            "TCP",
            &Host::V4([192, 0, 2, 10].into()),
            Some(5060),
            Some("z9hG4bKa1")
        )
    );
    assert!(h.via[0].has_rport());
    assert_eq!(h.max_forwards, Some(70));
    assert_eq!(h.from.display.as_deref(), Some("Alice"));
    assert_eq!(h.from.uri.to_string(), "sip:alice@example.com");
    assert_eq!(h.from.tag().unwrap().as_str(), "a1");
    assert_eq!(h.to.display.as_deref(), Some("Bob"));
    assert_eq!(h.to.tag(), None);
    assert_eq!(h.call_id.as_str(), "1-abc@192.0.2.10");
    assert_eq!((h.cseq.seq, &h.cseq.method), (1, &Method::Invite));
    assert_eq!(h.contact.len(), 1);
    assert_eq!(sip(&h.contact[0].uri).params, [p("transport", Some("tcp"))]);
    assert_eq!(h.supported, ["timer", "gruu"]);
    assert!(h.content_type.as_ref().unwrap().is("application", "sdp"));
    assert!(r.body.starts_with(b"v=0\r\n"));
    assert_eq!(r.body.len(), 183);
    assert!(h.other.is_empty());
}

#[test]
fn sip_02_compact_headers() {
    let r = req("02-compact-headers.sip");
    let h = &r.headers;
    assert_eq!(r.method, Method::Message);
    assert_eq!(
        via(&h.via[0]),
        (
            "UDP",
            &Host::V4([192, 0, 2, 10].into()),
            None,
            Some("z9hG4bKc2")
        )
    );
    assert_eq!(h.from.tag().unwrap().as_str(), "c2");
    assert_eq!(h.to.uri.to_string(), "sip:bob@example.com");
    assert_eq!(h.call_id.as_str(), "compact-2@192.0.2.10");
    assert_eq!(h.contact[0].uri.to_string(), "sip:alice@192.0.2.10");
    assert_eq!(h.supported, ["100rel"]);
    assert!(h.content_type.as_ref().unwrap().is("text", "plain"));
    // `s:` is stored under its long name so that lookups by name work.
    assert_eq!(other(&r), [("Subject", "Lunch")]);
    assert_eq!(h.other("subject"), Some("Lunch"));
    assert_eq!(r.body, b"hello");
}

#[test]
fn sip_03_folding() {
    let r = req("03-folding.sip");
    let h = &r.headers;
    assert_eq!(h.via[0].branch(), Some("z9hG4bKf3"));
    assert_eq!(h.via[0].port, Some(5060));
    assert_eq!(h.to.uri.to_string(), "sip:bob@example.com");
    assert_eq!(
        h.other("Subject"),
        Some("I know you're there, pick up the phone and talk to me!")
    );
    assert_eq!(r.method, Method::Options);
    assert!(r.body.is_empty());
}

#[test]
fn sip_04_whitespace_before_colon() {
    let r = req("04-whitespace-before-colon.sip");
    let h = &r.headers;
    assert_eq!(h.via[0].branch(), Some("z9hG4bKw4"));
    assert_eq!(h.from.tag().unwrap().as_str(), "w4");
    assert_eq!(h.to.uri.to_string(), "sip:bob@example.com");
    assert_eq!(h.call_id.as_str(), "ws-4");
    assert_eq!((h.cseq.seq, &h.cseq.method), (4, &Method::Options));
    assert_eq!(h.max_forwards, Some(70));
}

#[test]
fn sip_05_several_vias_one_line() {
    let r = req("05-several-vias-one-line.sip");
    let v = &r.headers.via;
    assert_eq!(v.len(), 3);
    assert_eq!(
        via(&v[0]),
        ("UDP", &name("proxy1.example.com"), None, Some("z9hG4bKp1"))
    );
    let v6 = Host::V6("2001:db8::9".parse().unwrap());
    assert_eq!(via(&v[1]), ("TCP", &v6, Some(5070), Some("z9hG4bKp2")));
    assert_eq!(v[1].params[1], p("received", Some("2001:db8::10")));
    assert_eq!(v[2].branch(), Some("z9hG4bKa5"));
    assert_eq!(v[2].params[1], p("rport", Some("5060")));
    assert_eq!(r.headers.to.tag().unwrap().as_str(), "b5");
    assert_eq!(r.method, Method::Bye);
}

#[test]
fn sip_06_bare_lf() {
    let r = req("06-bare-lf.sip");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.headers.call_id.as_str(), "lf-6");
    assert_eq!(
        (r.headers.cseq.seq, &r.headers.cseq.method),
        (6, &Method::Invite)
    );
    assert_eq!(r.body, b"line1\nline2\n");
}

#[test]
fn sip_07_tel_uris() {
    let r = req("07-tel-uris.sip");
    let Uri::Tel(t) = &r.uri else {
        panic!("request uri {:?}", r.uri)
    };
    assert_eq!(t.number, "+15551234567");
    assert!(t.params.is_empty());
    assert_eq!(r.headers.from.uri.to_string(), "tel:+15557654321");
    assert_eq!(r.headers.from.tag().unwrap().as_str(), "t7");
    // addr-spec form: the parameter after the URI is a header parameter.
    let Uri::Tel(to) = &r.headers.to.uri else {
        panic!("to {:?}", r.headers.to.uri)
    };
    assert_eq!(to.number, "+1-555-123-4567");
    assert_eq!(
        r.headers.to.params,
        [p("phone-context", Some("example.com"))]
    );
    let ct = r.headers.content_type.as_ref().unwrap();
    assert_eq!(ct.param("charset"), Some("UTF-8"));
    assert_eq!(r.body, "héllo".as_bytes());
}

#[test]
fn sip_08_dotted_user() {
    let r = req("08-dotted-user.sip");
    let u = sip(&r.uri);
    assert_eq!(u.user.as_deref(), Some("alice.smith"));
    assert_eq!(u.host, name("example.com"));
    let from = sip(&r.headers.from.uri);
    assert_eq!(from.user.as_deref(), Some("bob.jones"));
    assert_eq!(from.host, name("example.org"), "host names are lower-cased");
    assert_eq!(r.headers.via[0].transport, "TLS");
    assert_eq!(r.headers.via[0].port, Some(5061));
}

#[test]
fn sip_09_sips_ipv6() {
    let r = req("09-sips-ipv6.sip");
    let u = sip(&r.uri);
    assert!(u.secure);
    assert_eq!(u.user.as_deref(), Some("bob"));
    assert_eq!(u.host, Host::V6("2001:db8::1".parse().unwrap()));
    assert_eq!(u.port, Some(5061));
    assert_eq!(r.uri.to_string(), "sips:bob@[2001:db8::1]:5061");
    let c = sip(&r.headers.contact[0].uri);
    assert_eq!(c.host, Host::V6("2001:db8::2".parse().unwrap()));
    assert_eq!(c.params, [p("transport", Some("tls"))]);
    assert_eq!(
        r.headers.via[0].host,
        Host::V6("2001:db8::2".parse().unwrap())
    );
}

#[test]
fn sip_10_gruu() {
    let gr = Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
    let r = req("10-gruu.sip");
    assert_eq!(sip(&r.uri).params, [p("gr", gr)]);
    let c = sip(&r.headers.contact[0].uri);
    assert_eq!(c.user.as_deref(), Some("alice"));
    assert_eq!(c.params, [p("gr", gr)]);
    assert_eq!(r.headers.supported, ["gruu"]);
}

#[test]
fn sip_11_user_phone() {
    let r = req("11-user-phone.sip");
    let u = sip(&r.uri);
    assert_eq!(u.user.as_deref(), Some("+15551234567"));
    assert_eq!(u.params, [p("user", Some("phone"))]);
    let from = cpmd_core::UserUri::from_uri(&r.headers.from.uri).unwrap();
    assert_eq!(from.as_str(), "tel:+15557654321");
}

#[test]
fn sip_12_unknown_method() {
    let r = req("12-unknown-method.sip");
    assert_eq!(r.method, Method::Other("FROBNICATE".into()));
    assert_eq!(r.headers.cseq.method, Method::Other("FROBNICATE".into()));
    assert_eq!(r.headers.cseq.seq, 12);
}

#[test]
fn sip_13_content_length_padding() {
    let r = req("13-content-length-padding.sip");
    assert_eq!(r.body, b"hello world!");
    assert_eq!(r.headers.call_id.as_str(), "pad-13");
}

#[test]
fn sip_14_oma_headers() {
    let r = req("14-oma-headers.sip");
    let h = &r.headers;
    assert_eq!(
        h.conversation_id.as_ref().unwrap().as_str(),
        "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    );
    assert_eq!(h.contribution_id.as_ref().unwrap().as_str(), "abcdef-1234");
    assert_eq!(
        h.in_reply_to_contribution_id.as_ref().unwrap().as_str(),
        "0000-prev"
    );
    assert_eq!(h.session_replaces, None);
    assert_eq!(
        other(&r),
        [(
            "P-Preferred-Service",
            "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session"
        )]
    );
}

#[test]
fn sip_15_oma_in_reply_to_alternate_spelling() {
    let r = req("15-oma-in-reply-to-alternate-spelling.sip");
    let h = &r.headers;
    assert_eq!(h.conversation_id.as_ref().unwrap().as_str(), "Conv-15");
    assert_eq!(h.contribution_id.as_ref().unwrap().as_str(), "Contrib-15");
    assert_eq!(
        h.in_reply_to_contribution_id.as_ref().unwrap().as_str(),
        "Contrib-14"
    );
    assert!(h.other.is_empty());
    let printed = String::from_utf8(encode_message(&SipMessage::Request(r))).unwrap();
    assert!(printed.contains("\r\nInReplyTo-Contribution-ID: Contrib-14\r\n"));
}

#[test]
fn sip_16_session_replaces() {
    let r = req("16-session-replaces.sip");
    let h = &r.headers;
    assert_eq!(
        h.session_replaces.as_ref().unwrap().as_str(),
        "contrib-1to1"
    );
    assert_eq!(
        h.contribution_id.as_ref().unwrap().as_str(),
        "contrib-group"
    );
    assert_eq!(h.conversation_id.as_ref().unwrap().as_str(), "conv-1to1");
    assert!(h.requires("recipient-list-invite"));
    let ct = h.content_type.as_ref().unwrap();
    assert!(ct.is("multipart", "mixed"));
    assert_eq!(ct.params, [p("boundary", Some("boundary42"))]);
    assert!(r.body.starts_with(b"--boundary42\r\n"));
    assert!(r.body.ends_with(b"--boundary42--\r\n"));
    assert!(h.replaces.is_empty());
}

#[test]
fn sip_17_replaces_one() {
    let r = req("17-replaces-one.sip");
    let rep = &r.headers.replaces;
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].call_id.as_str(), "425928@bobster.example.org");
    assert_eq!(rep[0].to_tag.as_str(), "7743");
    assert_eq!(rep[0].from_tag.as_str(), "6472");
    assert!(!rep[0].early_only);
    assert_eq!(r.headers.require, ["replaces"]);
}

#[test]
fn sip_18_replaces_two() {
    let r = req("18-replaces-two.sip");
    let rep = &r.headers.replaces;
    assert_eq!(rep.len(), 2, "both collected; the server answers 400");
    assert_eq!(
        (
            rep[0].call_id.as_str(),
            rep[0].to_tag.as_str(),
            rep[0].from_tag.as_str()
        ),
        ("first@host", "t1", "f1")
    );
    assert!(rep[0].early_only);
    assert_eq!(
        (
            rep[1].call_id.as_str(),
            rep[1].to_tag.as_str(),
            rep[1].from_tag.as_str()
        ),
        ("second@host", "t2", "f2")
    );
    assert!(!rep[1].early_only);
}

#[test]
fn sip_19_refer_referred_by() {
    let r = req("19-refer-referred-by.sip");
    assert_eq!(r.method, Method::Refer);
    let rb = r.headers.referred_by.as_ref().unwrap();
    assert_eq!(rb.display.as_deref(), Some("Alice"));
    assert_eq!(rb.uri.to_string(), "sip:alice@example.com");
    assert_eq!(
        rb.param("cid"),
        Some("\"20398823.2UWQFN309shb3@referrer.example\"")
    );
    assert_eq!(
        other(&r),
        [
            (
                "Refer-To",
                "<sip:carol@example.com?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>"
            ),
            ("Event", "refer"),
        ]
    );
}

#[test]
fn sip_20_accept_contact_icsi() {
    let r = req("20-accept-contact-icsi.sip");
    assert_eq!(
        r.headers.accept_contact,
        [
            "*;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\";require;explicit",
            "*;+g.oma.sip-im",
        ]
    );
}

#[test]
fn sip_21_contact_sip_instance() {
    let r = req("21-contact-sip-instance.sip");
    assert_eq!(r.method, Method::Register);
    let c = &r.headers.contact;
    assert_eq!(c.len(), 1);
    assert_eq!(
        sip(&c[0].uri).params,
        [p("transport", Some("tcp")), p("ob", None)]
    );
    assert_eq!(
        c[0].param("+sip.instance"),
        Some("\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"")
    );
    assert_eq!(c[0].param("reg-id"), Some("1"));
    assert_eq!(
        c[0].param("+g.3gpp.icsi-ref"),
        Some("\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"")
    );
    assert_eq!(c[0].param("expires"), Some("600"));
    assert_eq!(r.headers.supported, ["path", "gruu", "outbound"]);
}

#[test]
fn sip_22_route_record_route() {
    let r = req("22-route-record-route.sip");
    let h = &r.headers;
    let routes: Vec<String> = h.route.iter().map(|a| a.uri.to_string()).collect();
    assert_eq!(
        routes,
        [
            "sip:p1.example.com;lr",
            "sip:p2.example.com;lr;transport=tcp",
            "sip:[2001:db8::5]:5070;lr"
        ]
    );
    assert!(h.route.iter().all(|a| a.params.is_empty()));
    let rr: Vec<String> = h.record_route.iter().map(|a| a.uri.to_string()).collect();
    assert_eq!(rr, ["sip:rr2.example.com;lr", "sip:rr1.example.com;lr"]);
    assert_eq!(h.record_route[1].display.as_deref(), Some("Edge, Proxy"));
    assert_eq!(sip(&r.uri).port, Some(5060));
}

#[test]
fn sip_23_register_wildcard() {
    let r = req("23-register-wildcard.sip");
    assert_eq!(r.method, Method::Register);
    assert!(r.headers.contact_wildcard);
    assert!(r.headers.contact.is_empty());
    assert_eq!(r.headers.expires, Some(0));
    assert_eq!(sip(&r.uri).user, None);
}

#[test]
fn sip_24_register_expires() {
    let r = req("24-register-expires.sip");
    let h = &r.headers;
    assert_eq!(h.expires, Some(3600));
    assert_eq!(h.contact.len(), 2);
    assert_eq!(h.contact[0].param("expires"), Some("3600"));
    assert_eq!(h.contact[1].uri.to_string(), "sip:alice@198.51.100.7");
    assert_eq!(h.contact[1].param("q"), Some("0.5"));
    assert!(!h.contact_wildcard);
    assert_eq!(
        h.other("Authorization"),
        Some("Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:example.com\", response=\"0123\"")
    );
}

#[test]
fn sip_25_response_180() {
    let r = resp("25-response-180.sip");
    assert_eq!(r.status, StatusCode::RINGING);
    assert_eq!(r.reason, "Ringing");
    assert_eq!(r.headers.to.tag().unwrap().as_str(), "b25");
    assert_eq!(r.headers.cseq.method, Method::Invite);
    assert_eq!(r.headers.contact[0].uri.to_string(), "sip:bob@192.0.2.20");
}

#[test]
fn sip_26_response_200_to_tag() {
    let r = resp("26-response-200-to-tag.sip");
    let h = &r.headers;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.reason, "OK");
    assert_eq!(h.via.len(), 2);
    assert_eq!(h.via[0].host, name("proxy.example.com"));
    assert_eq!(h.to.display.as_deref(), Some("Bob"));
    assert_eq!(h.to.tag().unwrap().as_str(), "b26");
    assert_eq!(
        h.record_route[0].uri.to_string(),
        "sip:proxy.example.com;lr"
    );
    assert!(h.content_type.as_ref().unwrap().is("application", "sdp"));
    assert_eq!(r.body.len(), 183);
}

#[test]
fn sip_27_response_487() {
    let r = resp("27-response-487.sip");
    assert_eq!(r.status, StatusCode::REQUEST_TERMINATED);
    assert_eq!(r.reason, "Request Terminated");
    assert_eq!(r.headers.to.tag().unwrap().as_str(), "b27");
}

#[test]
fn sip_28_cancel() {
    let r = req("28-cancel.sip");
    assert_eq!(r.method, Method::Cancel);
    assert_eq!(
        (r.headers.cseq.seq, &r.headers.cseq.method),
        (1, &Method::Cancel)
    );
    assert_eq!(r.headers.via[0].branch(), Some("z9hG4bKa1"));
}

#[test]
fn sip_29_ack() {
    let r = req("29-ack.sip");
    assert_eq!(r.method, Method::Ack);
    assert_eq!(r.headers.cseq.method, Method::Ack);
    assert_eq!(
        r.headers.route[0].uri.to_string(),
        "sip:proxy.example.com;lr"
    );
    assert_eq!(sip(&r.uri).params, [p("transport", Some("tcp"))]);
}

#[test]
fn sip_30_bye() {
    let r = req("30-bye.sip");
    assert_eq!(r.method, Method::Bye);
    assert_eq!(
        (r.headers.cseq.seq, &r.headers.cseq.method),
        (2, &Method::Bye)
    );
    assert_eq!(
        r.headers.other("Reason"),
        Some("SIP;cause=200;text=\"Call completed\"")
    );
}

#[test]
fn sip_31_display_names_and_addr_spec() {
    let r = req("31-display-names-and-addr-spec.sip");
    let h = &r.headers;
    assert_eq!(h.from.display.as_deref(), Some("Alice \"Al\" Smith, Jr."));
    assert_eq!(h.from.tag().unwrap().as_str(), "q31");
    assert_eq!(h.to.display, None);
    assert_eq!(h.to.uri.to_string(), "sip:bob@example.com");
    assert_eq!(
        h.to.tag().unwrap().as_str(),
        "b31",
        "addr-spec params are header params"
    );
    assert_eq!(h.contact[0].display.as_deref(), Some("Alice Smith"));
}

#[test]
fn sip_32_header_name_case() {
    let r = req("32-header-name-case.sip");
    let h = &r.headers;
    assert_eq!(h.via[0].transport, "UDP", "transport is upper-cased");
    assert_eq!(h.via[0].branch(), Some("z9hG4bKCase"));
    assert_eq!(h.from.tag().unwrap().as_str(), "c32");
    assert_eq!(h.call_id.as_str(), "case-32");
    assert_eq!(h.max_forwards, Some(10));
    assert_eq!(other(&r), [("x-custom-header", "Keep Me")]);
}

#[test]
fn sip_33_other_headers_order() {
    let r = req("33-other-headers-order.sip");
    assert_eq!(
        other(&r),
        [
            ("User-Agent", "cpm-client/1.0"),
            (
                "P-Preferred-Service",
                "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg"
            ),
            ("Allow", "INVITE, ACK, CANCEL, BYE, MESSAGE"),
            ("P-Preferred-Identity", "<sip:alice@example.com>"),
            ("User-Agent", "second-instance"),
        ]
    );
    assert_eq!(
        r.headers.date.as_deref(),
        Some("Sat, 13 Nov 2010 23:29:00 GMT")
    );
    assert!(r
        .headers
        .content_type
        .as_ref()
        .unwrap()
        .is("message", "cpim"));
    assert!(r.body.ends_with(b"\r\n\r\nhi"));
}

#[test]
fn sip_34_leading_crlf() {
    let r = req("34-leading-crlf.sip");
    assert_eq!(r.method, Method::Options);
    assert_eq!(r.headers.call_id.as_str(), "lead-34");
}

#[test]
fn sip_35_no_content_length() {
    let r = req("35-no-content-length.sip");
    assert_eq!(r.body, b"all the rest");
}

#[test]
fn sip_36_lowercase_method_token() {
    // Methods are case-sensitive: `invite` is an unknown method, not INVITE.
    let r = req("36-lowercase-method-token.sip");
    assert_eq!(r.method, Method::Other("invite".into()));
    assert_eq!(r.headers.cseq.method, Method::Other("invite".into()));
}

#[test]
fn sip_37_session_timer_compact_x() {
    let r = req("37-session-timer-compact-x.sip");
    assert_eq!(r.method, Method::Update);
    assert_eq!(
        other(&r),
        [
            ("Session-Expires", "1800;refresher=uac"),
            ("Min-SE", "90"),
            ("Content-Encoding", "gzip"),
            ("Allow-Events", "conference"),
        ]
    );
}

// ---- negative cases ----

#[test]
fn sip_50_neg_missing_call_id() {
    let e = bad("50-neg-missing-call-id.sip");
    assert_eq!(e.error, DecodeError::MissingHeader("Call-ID"));
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    // CONF-2 (specs/conformance.md): answered with what is there, without a Call-ID.
    let ctx = e.reply.expect("a Via is there, so the 400 can be sent");
    assert_eq!(ctx.call_id, None);
}

#[test]
fn sip_51_neg_cseq_method_mismatch() {
    let e = bad("51-neg-cseq-method-mismatch.sip");
    assert_eq!(
        e.error,
        DecodeError::CSeqMismatch {
            method: "INVITE".into(),
            cseq: "BYE".into()
        }
    );
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    let ctx = e.reply.expect("answerable");
    assert_eq!(ctx.call_id.as_deref(), Some("neg-51"));
    assert_eq!(ctx.cseq.as_deref(), Some("51 BYE"));
    assert_eq!(
        ctx.via,
        ["SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKa1;rport"]
    );
    assert_eq!(ctx.from.as_deref(), Some("<sip:alice@example.com>;tag=a1"));
    assert_eq!(ctx.to.as_deref(), Some("<sip:bob@example.com>"));
}

#[test]
fn sip_52_neg_bad_status_code() {
    let e = bad("52-neg-bad-status-code.sip");
    assert!(
        matches!(e.error, DecodeError::BadStartLine(_)),
        "{:?}",
        e.error
    );
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    assert!(e.reply.is_none(), "responses are never answered");
}

#[test]
fn sip_53_neg_garbage_start_line() {
    let e = bad("53-neg-garbage-start-line.sip");
    assert!(
        matches!(e.error, DecodeError::BadStartLine(_)),
        "{:?}",
        e.error
    );
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    assert!(e.reply.is_none());
}

#[test]
fn sip_54_neg_max_forwards_not_numeric() {
    let e = bad("54-neg-max-forwards-not-numeric.sip");
    assert!(
        matches!(
            e.error,
            DecodeError::BadHeader {
                name: "Max-Forwards",
                ..
            }
        ),
        "{:?}",
        e.error
    );
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    assert!(e.reply.is_some());
}

#[test]
fn sip_55_neg_oversized_header_block() {
    let e = bad("55-neg-oversized-header-block.sip");
    assert!(matches!(
        e.error,
        DecodeError::HeadersTooLarge { limit: 16384, .. }
    ));
    assert_eq!(e.error.status(), StatusCode::MESSAGE_TOO_LARGE);
    assert_eq!(
        e.reply.expect("answerable").call_id.as_deref(),
        Some("neg-55")
    );
}

#[test]
fn sip_56_neg_body_too_large() {
    let e = bad("56-neg-body-too-large.sip");
    assert_eq!(
        e.error,
        DecodeError::BodyTooLarge {
            size: 70000,
            limit: 65536
        }
    );
    assert_eq!(e.error.status(), StatusCode::REQUEST_ENTITY_TOO_LARGE);
    assert!(e.reply.is_some());
}

#[test]
fn sip_57_neg_truncated_body() {
    let e = bad("57-neg-truncated-body.sip");
    assert_eq!(
        e.error,
        DecodeError::TruncatedBody {
            declared: 500,
            available: 16
        }
    );
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    assert!(e.reply.is_some());
}

#[test]
fn sip_58_neg_bad_request_uri() {
    let e = bad("58-neg-bad-request-uri.sip");
    assert!(
        matches!(e.error, DecodeError::BadStartLine(_)),
        "{:?}",
        e.error
    );
    assert!(e.reply.is_some(), "request-shaped start line: answer 400");
}

#[test]
fn sip_59_neg_duplicate_from() {
    let e = bad("59-neg-duplicate-from.sip");
    assert_eq!(e.error, DecodeError::DuplicateHeader("From"));
    let ctx = e.reply.expect("answerable");
    assert_eq!(
        ctx.from.as_deref(),
        Some("<sip:alice@example.com>;tag=a1"),
        "first From is echoed"
    );
}

#[test]
fn sip_60_neg_missing_via() {
    let e = bad("60-neg-missing-via.sip");
    assert_eq!(e.error, DecodeError::MissingHeader("Via"));
    assert!(e.reply.is_none(), "nowhere to send a response");
}

#[test]
fn sip_61_neg_not_utf8_header() {
    let e = bad("61-neg-not-utf8-header.sip");
    assert_eq!(e.error, DecodeError::NotUtf8);
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    assert!(e.reply.is_some(), "the other lines are readable");
}

#[test]
fn sip_62_neg_header_without_colon() {
    let e = bad("62-neg-header-without-colon.sip");
    assert!(
        matches!(e.error, DecodeError::BadHeaderLine(_)),
        "{:?}",
        e.error
    );
    assert!(e.reply.is_some());
}

#[test]
fn sip_63_neg_response_missing_cseq() {
    let e = bad("63-neg-response-missing-cseq.sip");
    assert_eq!(e.error, DecodeError::MissingHeader("CSeq"));
    assert!(e.reply.is_none());
}

// ---- datagram rule (RFC 3261 §18.3) ----

// Same signature as `decode_datagram`, whose Ok side is the larger one anyway.
#[allow(clippy::result_large_err)]
fn datagram(name: &str) -> Result<SipMessage, BadMessage> {
    decode_datagram(&load("datagram", name), &Limits::default())
}

#[test]
fn datagram_01_trailing_garbage_truncated() {
    let bytes = load("datagram", "01-trailing-garbage-truncated.sip");
    let Ok(SipMessage::Request(r)) = datagram("01-trailing-garbage-truncated.sip") else {
        panic!("expected a request")
    };
    assert_eq!(r.body, b"hello");
    // The same bytes as one framed message are refused: the framer cuts exactly.
    let e = decode_message(&bytes, &Limits::default()).unwrap_err();
    assert!(matches!(
        e.error,
        DecodeError::TrailingBytes { declared: 5, .. }
    ));
}

#[test]
fn datagram_02_short_body_rejected() {
    let e = datagram("02-short-body-rejected.sip").unwrap_err();
    assert_eq!(
        e.error,
        DecodeError::TruncatedBody {
            declared: 50,
            available: 5
        }
    );
    assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
    assert!(e.reply.is_some());
}

#[test]
fn datagram_03_absent_content_length() {
    let Ok(SipMessage::Request(r)) = datagram("03-absent-content-length.sip") else {
        panic!("expected a request")
    };
    assert_eq!(r.body, b"rest of datagram\r\n");
}

#[test]
fn datagram_04_keepalive() {
    let e = datagram("04-keepalive.sip").unwrap_err();
    assert_eq!(e.error, DecodeError::KeepAlive);
    assert!(e.reply.is_none());
}

#[test]
fn corpus_has_at_least_30_sip_cases() {
    let dir = format!("{}/tests/corpus/sip", env!("CARGO_MANIFEST_DIR"));
    let n = std::fs::read_dir(dir).unwrap().count();
    assert!(n >= 30, "{n}");
}
