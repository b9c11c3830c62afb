//! RFC 3261 §8.2 UAS checks of a new request, before any flow looks at it
//! (specs/conformance.md): the Request-URI scheme (416), Max-Forwards when the
//! request would be relayed (483), `Require` (420 with `Unsupported`), the body type
//! of an INVITE (415 with `Accept`) and its `Accept` (406), and a REGISTER's To
//! (400). Also the one check on responses: a UAC discards a response with other than
//! one Via (RFC 3261 §8.1.3.3).
//!
//! What it is *not*: no syntax checks (the wire decoder did those, answering 400,
//! 505, 501, 413 and 513), no dialog or session checks (the flows do those), and
//! `Proxy-Require` is never looked at: cpmd is a UA (a B2BUA), not a proxy.

use super::refusal::Refusal;
use super::Config;
use crate::sip::{Method, Request, Response};
use crate::uri::Uri;

/// Option tags cpmd supports (RFC 5366 and RFC 5365 recipient lists, RFC 3891
/// Replaces, RFC 5368 resource-list REFERs to the focus: GRP-32); any other tag in
/// `Require` is refused with 420.
pub(crate) const SUPPORTED: &[&str] = &[
    "recipient-list-invite",
    "recipient-list-message",
    "replaces",
    "multiple-refer",
];

/// Body types an INVITE may carry (the offer, or a multipart with the offer and the
/// recipient list): the `Accept` of a 415.
const INVITE_BODIES: &str = "application/sdp, multipart/mixed, application/resource-lists+xml";

pub(crate) fn check(req: &Request, config: &Config) -> Result<(), Refusal> {
    if let Uri::Other(_) = req.uri {
        // CONF-4: only sip, sips and tel name anything here.
        return Err(Refusal::UnsupportedUriScheme);
    }
    if req.headers.max_forwards == Some(0) && would_relay(req, config) {
        // CONF-5: a request for cpmd itself is processed (RFC 4475 §3.3.11).
        return Err(Refusal::TooManyHops);
    }
    if !matches!(req.method, Method::Ack | Method::Cancel) && !unsupported(req).is_empty() {
        // CONF-6.
        return Err(Refusal::BadExtension);
    }
    let new_invite = req.method == Method::Invite && req.headers.to.tag().is_none();
    if new_invite {
        invite_body(req)?;
    }
    if req.method == Method::Register && matches!(req.headers.to.uri, Uri::Other(_)) {
        // RFC 4475 §3.3.4: an address-of-record is a SIP or SIPS URI.
        return Err(Refusal::RegisterToNotSip);
    }
    Ok(())
}

/// CONF-7: an INVITE's body must be of a type cpmd takes (415 with `Accept`), and
/// its `Accept`, when present, must allow the SDP answer cpmd sends (406).
fn invite_body(req: &Request) -> Result<(), Refusal> {
    if !req.body.is_empty() {
        let known = req.headers.content_type.as_ref().is_some_and(|ct| {
            ct.is("application", "sdp")
                || ct.is("multipart", "mixed")
                || ct.is("multipart", "related")
                || ct.is("application", "resource-lists+xml")
        });
        if !known {
            return Err(Refusal::UnsupportedBody);
        }
    }
    let accepts: Vec<&str> = req
        .headers
        .other
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Accept"))
        .map(|(_, v)| v.as_str())
        .collect();
    if accepts.is_empty() {
        return Ok(());
    }
    let takes_sdp = accepts
        .iter()
        .flat_map(|v| v.split(','))
        .map(|range| range.split(';').next().unwrap_or("").trim())
        .any(|range| {
            ["application/sdp", "application/*", "*/*"]
                .iter()
                .any(|ok| range.eq_ignore_ascii_case(ok))
        });
    if takes_sdp {
        Ok(())
    } else {
        Err(Refusal::NotAcceptable)
    }
}

/// Whether cpmd would pass the request on to another user (RFC 3261 §16.3 item 2
/// applies to relaying only): new INVITEs and MESSAGEs to users, and requests inside
/// a dialog, which the B2BUA relays to the other leg. OPTIONS, REGISTER, CANCEL and
/// ACK, and anything for the conference factory, are for cpmd itself.
fn would_relay(req: &Request, config: &Config) -> bool {
    let for_factory = req
        .uri
        .as_sip()
        .and_then(|u| u.user.as_deref())
        .is_some_and(|u| u == config.conference_factory_user);
    match req.method {
        Method::Options | Method::Register | Method::Cancel | Method::Ack => false,
        Method::Invite | Method::Message => !for_factory || req.headers.to.tag().is_some(),
        Method::Bye
        | Method::Update
        | Method::Info
        | Method::Prack
        | Method::Subscribe
        | Method::Notify
        | Method::Refer
        | Method::Publish
        | Method::Other(_) => req.headers.to.tag().is_some(),
    }
}

/// A UAC takes a response only with exactly one Via, its own (RFC 3261 §8.1.3.3;
/// RFC 4475 §3.3.10). `Err` says why it is discarded.
pub(crate) fn check_response(resp: &Response) -> Result<(), String> {
    match resp.headers.via.len() {
        1 => Ok(()),
        n => Err(format!(
            "response with {n} Via values discarded (RFC 3261 8.1.3.3)"
        )),
    }
}

/// The `Require` option tags of `req` that cpmd does not support (CONF-6).
fn unsupported(req: &Request) -> Vec<&str> {
    req.headers
        .require
        .iter()
        .filter(|t| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .map(String::as_str)
        .collect()
}

/// The header fields the answer to a refusal of `req` carries besides the usual
/// ones: `Unsupported` with a 420, `Accept` with a 415 (RFC 3261 §8.2.2.3, §8.2.3).
pub(crate) fn refusal_headers(why: Refusal, req: &Request) -> Vec<(String, String)> {
    if why == Refusal::BadExtension {
        vec![("Unsupported".to_owned(), unsupported(req).join(", "))]
    } else if why == Refusal::BadEvent {
        vec![("Allow-Events".to_owned(), "conference".to_owned())]
    } else if why == Refusal::UnsupportedBody {
        vec![("Accept".to_owned(), INVITE_BODIES.to_owned())]
    } else if why == Refusal::SipsOverInsecureHop {
        vec![(
            "Warning".to_owned(),
            super::sips::SIPS_REQUIRED_WARNING.to_owned(),
        )]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_message, Limits};

    fn req(text: &str) -> Request {
        match decode_message(text.as_bytes(), &Limits::default()).expect("decodes") {
            crate::sip::SipMessage::Request(r) => r,
            crate::sip::SipMessage::Response(_) => panic!("a request"),
        }
    }

    fn request(method: &str, uri: &str, extra: &str, body: &str) -> Request {
        req(&format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    fn status(r: &Request) -> Option<u16> {
        check(r, &Config::new("example.com"))
            .err()
            .map(|e| e.status().get())
    }

    #[test]
    fn uri_scheme_max_forwards_and_require() {
        assert_eq!(status(&request("OPTIONS", "urn:x:y", "", "")), Some(416));
        assert_eq!(status(&request("OPTIONS", "tel:+1555", "", "")), None);
        let mf0 = "Max-Forwards: 0\r\n";
        assert_eq!(
            status(&request("OPTIONS", "sip:b@example.com", mf0, "")),
            None
        );
        assert_eq!(
            status(&request("REGISTER", "sip:example.com", mf0, "")),
            None
        );
        assert_eq!(
            status(&request("MESSAGE", "sip:b@example.com", mf0, "")),
            Some(483)
        );
        let r = request(
            "OPTIONS",
            "sip:b@example.com",
            "Require: foo, replaces\r\n",
            "",
        );
        let refusal = check(&r, &Config::new("example.com")).unwrap_err();
        assert_eq!(refusal.status().get(), 420);
        assert_eq!(
            refusal_headers(refusal, &r),
            [("Unsupported".to_owned(), "foo".to_owned())]
        );
        let proxy = "Proxy-Require: foo\r\nRequire: recipient-list-invite\r\n";
        assert_eq!(
            status(&request("OPTIONS", "sip:b@example.com", proxy, "")),
            None
        );
    }

    #[test]
    fn invite_body_and_accept() {
        let ct = "Content-Type: application/unknownformat\r\n";
        let r = request("INVITE", "sip:b@example.com", ct, "<x/>");
        let refusal = check(&r, &Config::new("example.com")).unwrap_err();
        assert_eq!(refusal.status().get(), 415);
        assert_eq!(refusal_headers(refusal, &r)[0].0, "Accept");
        let sdp = "Content-Type: application/sdp\r\n";
        assert_eq!(
            status(&request("INVITE", "sip:b@example.com", sdp, "v=0\r\n")),
            None
        );
        let no_sdp = "Content-Type: application/sdp\r\nAccept: text/nobodyKnowsThis\r\n";
        assert_eq!(
            status(&request("INVITE", "sip:b@example.com", no_sdp, "v=0\r\n")),
            Some(406)
        );
        let any = "Accept: text/plain, application/*;q=0.5\r\n";
        assert_eq!(
            status(&request("INVITE", "sip:b@example.com", any, "")),
            None
        );
    }
}
