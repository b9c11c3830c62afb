//! `sips:` URIs (specs/tls.md, TLS-13; RFC 3261 §19.1, §12.1, RFC 5630): over TLS a
//! `sips:` REGISTER, INVITE or MESSAGE is served like `sip:` for the same user, and
//! cpmd's Contact in a dialog set up with `sips:` is `sips:`; a `sips:` request over
//! TCP or UDP is answered 480 with `Warning: 381`.

use crate::server::Config;
use crate::sip::{Method, NameAddr, Request, StatusCode};
use crate::tests::flows::{invite_to, World};
use crate::tests::util::{sip_uri_host, Harness, Ua, DOMAIN};
use crate::uri::Uri;
use crate::{Tag, Transport};

/// `uri` with the `sips:` scheme.
fn sips(uri: &Uri) -> Uri {
    let mut uri = uri.clone();
    if let Uri::Sip(s) = &mut uri {
        s.secure = true;
    }
    uri
}

/// `req` rewritten to `sips:`: Request-URI, From, To and Contact.
fn secure(mut req: Request) -> Request {
    req.uri = sips(&req.uri);
    req.headers.from.uri = sips(&req.headers.from.uri);
    req.headers.to.uri = sips(&req.headers.to.uri);
    for c in &mut req.headers.contact {
        c.uri = sips(&c.uri);
    }
    req
}

fn is_sips(contact: &NameAddr) -> bool {
    matches!(&contact.uri, Uri::Sip(s) if s.secure)
        && contact
            .uri
            .as_sip()
            .is_some_and(|s| s.params.iter().all(|p| p.name != "transport"))
}

/// Alice and dave on TLS, dave registered with `sips:` To, From and Contact.
fn tls_world() -> World {
    let mut config = Config::new(DOMAIN);
    config.advertised_tls_port = Some(5061);
    let mut w = World::with(Harness::with_config(config), Transport::Tls);
    w.b = Ua::new("dave", 22, Transport::Tls);
    let mut reg =
        w.b.request(Method::Register, sip_uri_host(DOMAIN), w.b.uri());
    reg.headers.expires = Some(3600);
    let reg = secure(reg);
    w.h.send(&w.b, reg);
    let ok = w.h.expect_response(&w.b, StatusCode::OK);
    assert!(
        ok.headers.contact.iter().any(is_sips),
        "the sips: binding is listed: {:?}",
        ok.headers.contact
    );
    w
}

/// TLS-13: a `sips:` INVITE over TLS reaches the user `sips:dave` names (registered
/// with `sips:`), at its `sips:` Contact; cpmd's Contact on both legs is `sips:`
/// (no `transport=tls`); a `sips:` MESSAGE to the same user is delivered too.
#[test]
fn sips_over_tls_is_served_like_sip_with_sips_contacts() {
    let mut w = tls_world();
    let invite = secure(invite_to(&mut w, "dave", "c-sips", "k-sips"));
    w.h.send(&w.a, invite);
    let at_b = w.h.expect_request(&w.b, Method::Invite);
    assert!(
        matches!(&at_b.uri, Uri::Sip(s) if s.secure),
        "to dave's sips: binding: {}",
        at_b.uri
    );
    let contact = at_b.headers.contact.first().expect("a Contact");
    assert!(is_sips(contact), "cpmd's Contact to dave: {contact:?}");
    w.h.send(&w.b, w.b.response(&at_b, StatusCode::OK, &Tag::new("d")));
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let contact = ok.headers.contact.first().expect("a Contact");
    assert!(is_sips(contact), "cpmd's Contact to alice: {contact:?}");
    w.h.expect_request(&w.b, Method::Ack);

    let to = sips(&w.b.uri());
    let mut message = w.a.request(Method::Message, to.clone(), to);
    message.headers.content_type = Some(crate::sip::MediaType::new("text", "plain"));
    message.body = b"hello sips".to_vec();
    let message = secure(message);
    w.h.send(&w.a, message);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    assert_eq!(at_b.body, b"hello sips");
}

/// TLS-13: a `sip:` INVITE over TLS keeps `sip:` Contacts with `transport=tls`
/// (only a `sips:` request makes the dialog secure).
#[test]
fn sip_over_tls_keeps_sip_contacts() {
    let mut w = tls_world();
    let invite = invite_to(&mut w, "dave", "c-sip", "k-sip");
    w.h.send(&w.a, invite);
    let at_b = w.h.expect_request(&w.b, Method::Invite);
    w.h.send(&w.b, w.b.response(&at_b, StatusCode::OK, &Tag::new("d")));
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let contact = ok.headers.contact.first().expect("a Contact");
    assert!(
        matches!(&contact.uri, Uri::Sip(s) if !s.secure),
        "{contact:?}"
    );
}

/// TLS-13: a `sips:` REGISTER or INVITE over UDP or TCP is refused with 480 and
/// `Warning: 381 ... "SIPS Required"`, and reaches nobody.
#[test]
fn sips_over_udp_or_tcp_is_refused() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut w = World::with(Harness::new(), transport);
        let mut reg =
            w.a.request(Method::Register, sip_uri_host(DOMAIN), w.a.uri());
        reg.headers.expires = Some(3600);
        w.h.send(&w.a, secure(reg));
        let refused =
            w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
        let warning = refused
            .headers
            .other
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Warning"))
            .map(|(_, v)| v.clone())
            .expect("a Warning");
        assert!(warning.starts_with("381 "), "{warning}");
        assert!(warning.contains("SIPS Required"), "{warning}");

        let invite = secure(invite_to(&mut w, "bob", "c", "k"));
        w.h.send(&w.a, invite);
        w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
        w.h.expect_nothing(&w.b);
    }
}
