//! SIP message encoding: [`SipMessage`] → canonical CRLF-terminated bytes, and the
//! minimal error response to a request that failed to decode.
//!
//! The output is canonical: long header names in a fixed order (start line, Via
//! (one line each), From, To, Call-ID, CSeq, Max-Forwards, Contact, Route,
//! Record-Route, Require, Supported, Content-Type, Date, Expires, the OMA headers,
//! Replaces, Referred-By, Accept-Contact, the untyped headers in order, then a
//! computed Content-Length), addresses always in `<...>`. For every message the
//! decoder produces, decoding the encoding gives the same message back.
//!
//! What it is *not*: no validation. Values built by the server are trusted; values
//! that came from the decoder are already safe to print (no CR/LF).

use super::sip_decode::syntax::{is_token, quote};
use super::uri::{write_host, write_uri};
use super::ReplyContext;
use crate::sip::{Headers, MediaType, NameAddr, SipMessage, StatusCode, Via};
use crate::uri::Param;

/// Prints a message with a computed `Content-Length`. Everything is written into
/// one buffer (no intermediate string per header or URI): this runs for every
/// message the server sends.
pub fn encode_message(msg: &SipMessage) -> Vec<u8> {
    let (headers, body) = match msg {
        SipMessage::Request(r) => (&r.headers, &r.body),
        SipMessage::Response(r) => (&r.headers, &r.body),
    };
    let mut out = String::with_capacity(768 + body.len());
    match msg {
        SipMessage::Request(r) => {
            out.push_str(r.method.as_str());
            out.push(' ');
            write_uri(&mut out, &r.uri);
            out.push_str(" SIP/2.0\r\n");
        }
        SipMessage::Response(r) => {
            out.push_str("SIP/2.0 ");
            push_num(&mut out, r.status.get());
            out.push(' ');
            line(&mut out, &r.reason);
        }
    }
    print_headers(&mut out, headers);
    out.push_str("Content-Length: ");
    push_num(&mut out, body.len() as u64);
    out.push_str("\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Appends a number in decimal without a temporary string.
fn push_num(out: &mut String, n: impl Into<u64>) {
    crate::decimal::push_decimal(out, n.into());
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push_str("\r\n");
}

fn header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    line(out, value);
}

/// `name: ` then what `value` writes, then CRLF.
fn header_with(out: &mut String, name: &str, value: impl FnOnce(&mut String)) {
    out.push_str(name);
    out.push_str(": ");
    value(out);
    out.push_str("\r\n");
}

fn print_headers(out: &mut String, h: &Headers) {
    for via in &h.via {
        header_with(out, "Via", |o| write_via(o, via));
    }
    header_with(out, "From", |o| write_name_addr(o, &h.from));
    header_with(out, "To", |o| write_name_addr(o, &h.to));
    header(out, "Call-ID", h.call_id.as_str());
    header_with(out, "CSeq", |o| {
        push_num(o, h.cseq.seq);
        o.push(' ');
        o.push_str(h.cseq.method.as_str());
    });
    if let Some(n) = h.max_forwards {
        header_with(out, "Max-Forwards", |o| push_num(o, n));
    }
    if h.contact_wildcard {
        header(out, "Contact", "*");
    }
    let addr_lists = [
        ("Contact", &h.contact),
        ("Route", &h.route),
        ("Record-Route", &h.record_route),
    ];
    for (name, list) in addr_lists {
        for addr in list {
            header_with(out, name, |o| write_name_addr(o, addr));
        }
    }
    for (name, tags) in [("Require", &h.require), ("Supported", &h.supported)] {
        if !tags.is_empty() {
            header_with(out, name, |o| {
                for (i, tag) in tags.iter().enumerate() {
                    if i > 0 {
                        o.push_str(", ");
                    }
                    o.push_str(tag);
                }
            });
        }
    }
    if let Some(ct) = &h.content_type {
        header_with(out, "Content-Type", |o| write_media_type(o, ct));
    }
    print_more_headers(out, h);
}

/// The headers after Content-Type, in their canonical order.
fn print_more_headers(out: &mut String, h: &Headers) {
    if let Some(date) = &h.date {
        header(out, "Date", date);
    }
    if let Some(n) = h.expires {
        header_with(out, "Expires", |o| push_num(o, n));
    }
    let ids = [
        (
            "Conversation-ID",
            h.conversation_id.as_ref().map(|i| i.as_str()),
        ),
        (
            "Contribution-ID",
            h.contribution_id.as_ref().map(|i| i.as_str()),
        ),
        (
            "InReplyTo-Contribution-ID",
            h.in_reply_to_contribution_id.as_ref().map(|i| i.as_str()),
        ),
        (
            "Session-Replaces",
            h.session_replaces.as_ref().map(|i| i.as_str()),
        ),
    ];
    for (name, value) in ids {
        if let Some(v) = value {
            header(out, name, v);
        }
    }
    for r in &h.replaces {
        header_with(out, "Replaces", |o| {
            o.push_str(r.call_id.as_str());
            o.push_str(";to-tag=");
            o.push_str(r.to_tag.as_str());
            o.push_str(";from-tag=");
            o.push_str(r.from_tag.as_str());
            if r.early_only {
                o.push_str(";early-only");
            }
        });
    }
    if let Some(rb) = &h.referred_by {
        header_with(out, "Referred-By", |o| write_name_addr(o, rb));
    }
    for ac in &h.accept_contact {
        header(out, "Accept-Contact", ac);
    }
    for (name, value) in &h.other {
        header(out, name, value);
    }
}

/// `;name[=value]` for each header parameter (values printed as stored, quotes kept).
fn push_params(out: &mut String, params: &[Param]) {
    for p in params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// `"Display" <uri>;params`, or `<uri>;params` without a display name. Angle
/// brackets are always used so that URI parameters and header parameters stay apart.
pub(crate) fn print_name_addr(addr: &NameAddr) -> String {
    let mut out = String::new();
    write_name_addr(&mut out, addr);
    out
}

/// [`print_name_addr`] into `out`.
fn write_name_addr(out: &mut String, addr: &NameAddr) {
    if let Some(d) = &addr.display {
        out.push_str(&quote(d));
        out.push(' ');
    }
    out.push('<');
    write_uri(out, &addr.uri);
    out.push('>');
    push_params(out, &addr.params);
}

/// `SIP/2.0/TRANSPORT host[:port];params`, into `out`.
fn write_via(out: &mut String, via: &Via) {
    out.push_str("SIP/2.0/");
    out.push_str(&via.transport);
    out.push(' ');
    write_host(out, &via.host);
    if let Some(port) = via.port {
        out.push(':');
        push_num(out, port);
    }
    push_params(out, &via.params);
}

/// `type/subtype;name=value`, quoting values that are not tokens, into `out`.
fn write_media_type(out: &mut String, mt: &MediaType) {
    out.push_str(&mt.kind);
    out.push('/');
    out.push_str(&mt.subtype);
    for p in &mt.params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            if is_token(v) {
                out.push_str(v);
            } else {
                out.push_str(&quote(v));
            }
        }
    }
}

/// Prints a body-less response to a request that failed to decode, echoing the raw
/// Via, From, To, Call-ID and CSeq values. `detail` becomes the reason phrase only if
/// it is short printable ASCII (it may quote hostile input); otherwise the standard
/// reason phrase of `status` is used.
pub fn encode_error_reply(ctx: &ReplyContext, status: StatusCode, detail: &str) -> Vec<u8> {
    let safe = !detail.is_empty()
        && detail.len() <= 128
        && detail.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let reason = if safe { detail } else { status.reason() };
    let mut out = String::with_capacity(256);
    out.push_str("SIP/2.0 ");
    push_num(&mut out, status.get());
    out.push(' ');
    line(&mut out, reason);
    for via in &ctx.via {
        header(&mut out, "Via", via);
    }
    let singles = [
        ("From", &ctx.from),
        ("To", &ctx.to),
        ("Call-ID", &ctx.call_id),
        ("CSeq", &ctx.cseq),
    ];
    for (name, value) in singles {
        if let Some(v) = value {
            header(&mut out, name, v);
        }
    }
    if status == StatusCode::NOT_IMPLEMENTED {
        // RFC 3261 §8.2.1: say what is implemented.
        header(&mut out, "Allow", crate::sip::ALLOW);
    }
    header(&mut out, "Content-Length", "0");
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CallId, ContributionId, ConversationId, Tag};
    use crate::sip::{CSeq, Method, Replaces, Request, Response};
    use crate::uri::Host;
    use crate::wire::uri::parse_uri;
    use crate::wire::{decode_message, Limits};

    fn addr(uri: &str, display: Option<&str>, tag: Option<&str>) -> NameAddr {
        let mut a = NameAddr::new(parse_uri(uri).unwrap());
        a.display = display.map(str::to_owned);
        if let Some(t) = tag {
            a.set_tag(&Tag::new(t));
        }
        a
    }

    fn sample() -> Request {
        let mut h = Headers::new(
            addr("sip:alice@a.example", Some("Alice \"A\" \\"), Some("1")),
            addr("tel:+15551234567", None, None),
            CallId::new("c1@a.example"),
            CSeq {
                seq: 7,
                method: Method::Invite,
            },
        );
        h.via.push(Via {
            transport: "TCP".into(),
            host: Host::V6("2001:db8::1".parse().unwrap()),
            port: Some(5061),
            params: vec![
                Param::new("branch", Some("z9hG4bK1")),
                Param::new("rport", None::<String>),
            ],
        });
        h.max_forwards = Some(70);
        h.contact
            .push(addr("sip:alice@10.0.0.1;transport=tcp", None, None));
        h.route.push(addr("sip:p.example;lr", None, None));
        h.supported = vec!["timer".into(), "gruu".into()];
        let mut ct = MediaType::new("multipart", "mixed");
        ct.params.push(Param::new("boundary", Some("a b")));
        h.content_type = Some(ct);
        h.expires = Some(300);
        h.conversation_id = Some(ConversationId::new("conv"));
        h.contribution_id = Some(ContributionId::new("contrib"));
        h.in_reply_to_contribution_id = Some(ContributionId::new("prev"));
        h.session_replaces = Some(ContributionId::new("old"));
        h.replaces.push(Replaces {
            call_id: CallId::new("x@y"),
            to_tag: Tag::new("t"),
            from_tag: Tag::new("f"),
            early_only: true,
        });
        h.referred_by = Some(Box::new(addr("sip:bob@b.example", None, None)));
        h.accept_contact.push("*;+g.oma.sip-im".into());
        h.other.push(("P-Custom".into(), "x, y".into()));
        Request {
            method: Method::Invite,
            uri: parse_uri("sip:bob@b.example").unwrap(),
            headers: h,
            body: b"hello".to_vec(),
        }
    }

    #[test]
    fn encoded_request_decodes_to_itself() {
        let msg = SipMessage::Request(sample());
        let bytes = encode_message(&msg);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK1;rport\r\n"));
        assert!(text.contains("\r\nFrom: \"Alice \\\"A\\\" \\\\\" <sip:alice@a.example>;tag=1\r\n"));
        assert!(text.contains("\r\nContent-Type: multipart/mixed;boundary=\"a b\"\r\n"));
        assert!(text.contains("\r\nReplaces: x@y;to-tag=t;from-tag=f;early-only\r\n"));
        assert!(text.ends_with("\r\nContent-Length: 5\r\n\r\nhello"));
        assert_eq!(decode_message(&bytes, &Limits::default()).unwrap(), msg);
    }

    #[test]
    fn encoded_response_decodes_to_itself() {
        let mut resp = Response::to_request(&sample(), StatusCode::OK);
        resp.headers.contact_wildcard = true;
        let msg = SipMessage::Response(resp);
        let bytes = encode_message(&msg);
        assert!(bytes.starts_with(b"SIP/2.0 200 OK\r\n"));
        assert_eq!(decode_message(&bytes, &Limits::default()).unwrap(), msg);
    }

    #[test]
    fn error_reply_echoes_raw_values_and_sanitises_reason() {
        let ctx = ReplyContext {
            via: vec![
                "SIP/2.0/UDP h;branch=z9hG4bK1".into(),
                "SIP/2.0/UDP g".into(),
            ],
            from: Some("<sip:a@b>;tag=1".into()),
            to: Some("<sip:c@d>".into()),
            call_id: Some("cid".into()),
            cseq: Some("1 FOO".into()),
        };
        let text = String::from_utf8(encode_error_reply(
            &ctx,
            StatusCode::BAD_REQUEST,
            "missing Max-Forwards",
        ))
        .unwrap();
        assert_eq!(
            text,
            "SIP/2.0 400 missing Max-Forwards\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Via: SIP/2.0/UDP g\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: cid\r\n\
             CSeq: 1 FOO\r\nContent-Length: 0\r\n\r\n"
        );
        let text = encode_error_reply(&ctx, StatusCode::MESSAGE_TOO_LARGE, "bad\r\nX: y");
        assert!(text.starts_with(b"SIP/2.0 513 Message Too Large\r\n"));
        let text = encode_error_reply(&ctx, StatusCode::BAD_REQUEST, "caf\u{e9}");
        assert!(text.starts_with(b"SIP/2.0 400 Bad Request\r\n"));
    }
}
