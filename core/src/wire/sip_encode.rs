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
//! Messages are written as bytes straight into the caller's buffer
//! ([`encode_message_into`]; [`encode_message`] makes one): header names with
//! their `": "` as literal pieces, numbers and IPv4 addresses cut on the stack
//! (`wire::sink`), no string per message, header, URI or number.
//!
//! What it is *not*: no validation. Values built by the server are trusted; values
//! that came from the decoder are already safe to print (no CR/LF).

use super::sink::{Measure, Sink};
use super::sip_decode::syntax::{is_token, quote};
use super::uri::{write_host, write_uri};
use super::ReplyContext;
use crate::sip::{Headers, MediaType, NameAddr, SipMessage, StatusCode, Via};
use crate::uri::Param;

/// Room for a message's start line and headers: most of the server's messages fit,
/// so their buffer grows once at most (for the body).
const HEAD_ROOM: usize = 768;

/// Prints a message with a computed `Content-Length` into a new buffer
/// ([`encode_message_into`]).
pub fn encode_message(msg: &SipMessage) -> Vec<u8> {
    let body = match msg {
        SipMessage::Request(r) => r.body.len(),
        SipMessage::Response(r) => r.body.len(),
    };
    let mut out = Vec::with_capacity(HEAD_ROOM + body);
    encode_message_into(msg, &mut out);
    out
}

/// Appends a message, with a computed `Content-Length`, to `out`. Everything is
/// written straight into `out` (no intermediate string per header, URI or number):
/// this runs for every message the server sends, and a caller that sends many
/// (the event loop, the UDP send thread) reuses one buffer for all of them.
pub fn encode_message_into(msg: &SipMessage, out: &mut Vec<u8>) {
    let (headers, body) = match msg {
        SipMessage::Request(r) => (&r.headers, &r.body),
        SipMessage::Response(r) => (&r.headers, &r.body),
    };
    out.reserve(HEAD_ROOM + body.len());
    match msg {
        SipMessage::Request(r) => {
            out.text(r.method.as_str());
            out.push(b' ');
            write_uri(out, &r.uri);
            out.extend_from_slice(b" SIP/2.0\r\n");
        }
        SipMessage::Response(r) => {
            out.extend_from_slice(b"SIP/2.0 ");
            out.decimal(u64::from(r.status.get()));
            out.push(b' ');
            line(out, &r.reason);
        }
    }
    print_headers(out, headers);
    out.extend_from_slice(b"Content-Length: ");
    out.decimal(body.len() as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

fn line(out: &mut Vec<u8>, text: &str) {
    out.text(text);
    out.extend_from_slice(b"\r\n");
}

/// `name` (with its `": "`, a literal: copied as a constant-length piece), `value`
/// and CRLF.
#[inline]
fn header(out: &mut Vec<u8>, name: &[u8], value: &str) {
    out.extend_from_slice(name);
    line(out, value);
}

/// `name` (as for [`header`]), then what `value` writes, then CRLF.
#[inline]
fn header_with(out: &mut Vec<u8>, name: &[u8], value: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(name);
    value(out);
    out.extend_from_slice(b"\r\n");
}

fn print_headers(out: &mut Vec<u8>, h: &Headers) {
    for via in &h.via {
        header_with(out, b"Via: ", |o| write_via(o, via));
    }
    header_with(out, b"From: ", |o| write_name_addr(o, &h.from));
    header_with(out, b"To: ", |o| write_name_addr(o, &h.to));
    header(out, b"Call-ID: ", h.call_id.as_str());
    header_with(out, b"CSeq: ", |o| {
        o.decimal(u64::from(h.cseq.seq));
        o.push(b' ');
        o.text(h.cseq.method.as_str());
    });
    if let Some(n) = h.max_forwards {
        header_with(out, b"Max-Forwards: ", |o| o.decimal(u64::from(n)));
    }
    if h.contact_wildcard {
        out.extend_from_slice(b"Contact: *\r\n");
    }
    for addr in &h.contact {
        header_with(out, b"Contact: ", |o| write_name_addr(o, addr));
    }
    for addr in &h.route {
        header_with(out, b"Route: ", |o| write_name_addr(o, addr));
    }
    for addr in &h.record_route {
        header_with(out, b"Record-Route: ", |o| write_name_addr(o, addr));
    }
    if !h.require.is_empty() {
        header_with(out, b"Require: ", |o| write_tags(o, &h.require));
    }
    if !h.supported.is_empty() {
        header_with(out, b"Supported: ", |o| write_tags(o, &h.supported));
    }
    if let Some(ct) = &h.content_type {
        header_with(out, b"Content-Type: ", |o| write_media_type(o, ct));
    }
    print_more_headers(out, h);
}

/// An option-tag list, `a, b`.
fn write_tags<T: AsRef<str>>(out: &mut Vec<u8>, tags: &[T]) {
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.text(tag.as_ref());
    }
}

/// The headers after Content-Type, in their canonical order.
fn print_more_headers(out: &mut Vec<u8>, h: &Headers) {
    if let Some(date) = &h.date {
        header(out, b"Date: ", date);
    }
    if let Some(n) = h.expires {
        header_with(out, b"Expires: ", |o| o.decimal(u64::from(n)));
    }
    if let Some(id) = &h.conversation_id {
        header(out, b"Conversation-ID: ", id.as_str());
    }
    if let Some(id) = &h.contribution_id {
        header(out, b"Contribution-ID: ", id.as_str());
    }
    if let Some(id) = &h.in_reply_to_contribution_id {
        header(out, b"InReplyTo-Contribution-ID: ", id.as_str());
    }
    if let Some(id) = &h.session_replaces {
        header(out, b"Session-Replaces: ", id.as_str());
    }
    for r in &h.replaces {
        header_with(out, b"Replaces: ", |o| {
            o.text(r.call_id.as_str());
            o.extend_from_slice(b";to-tag=");
            o.text(r.to_tag.as_str());
            o.extend_from_slice(b";from-tag=");
            o.text(r.from_tag.as_str());
            if r.early_only {
                o.extend_from_slice(b";early-only");
            }
        });
    }
    if let Some(rb) = &h.referred_by {
        header_with(out, b"Referred-By: ", |o| write_name_addr(o, rb));
    }
    for ac in &h.accept_contact {
        header(out, b"Accept-Contact: ", ac);
    }
    for (name, value) in &h.other {
        out.text(name);
        out.extend_from_slice(b": ");
        line(out, value);
    }
}

/// `;name[=value]` for each header parameter (values printed as stored, quotes kept).
fn push_params<S: Sink>(out: &mut S, params: &[Param]) {
    for p in params {
        out.ascii(b';');
        out.text(&p.name);
        if let Some(v) = &p.value {
            out.ascii(b'=');
            out.text(v);
        }
    }
}

/// `"Display" <uri>;params`, or `<uri>;params` without a display name. Angle
/// brackets are always used so that URI parameters and header parameters stay apart.
/// Sized exactly (measured first): the text is usually kept as a `Box<str>`
/// (`server::packed`), so it neither grows on the way nor shrinks at the end.
pub(crate) fn print_name_addr(addr: &NameAddr) -> String {
    let mut size = Measure::default();
    write_name_addr(&mut size, addr);
    let mut out = String::with_capacity(size.0);
    write_name_addr(&mut out, addr);
    out
}

/// [`print_name_addr`] into `out`.
fn write_name_addr<S: Sink>(out: &mut S, addr: &NameAddr) {
    if let Some(d) = &addr.display {
        // Rare (the server's own addresses have none): `quote`'s string is fine.
        out.text(&quote(d));
        out.ascii(b' ');
    }
    out.ascii(b'<');
    write_uri(out, &addr.uri);
    out.ascii(b'>');
    push_params(out, &addr.params);
}

/// `SIP/2.0/TRANSPORT host[:port];params`, into `out`.
fn write_via(out: &mut Vec<u8>, via: &Via) {
    out.extend_from_slice(b"SIP/2.0/");
    out.text(&via.transport);
    out.push(b' ');
    write_host(out, &via.host);
    if let Some(port) = via.port {
        out.push(b':');
        out.decimal(u64::from(port));
    }
    push_params(out, &via.params);
}

/// `type/subtype;name=value`, quoting values that are not tokens, into `out`.
fn write_media_type(out: &mut Vec<u8>, mt: &MediaType) {
    out.text(&mt.kind);
    out.push(b'/');
    out.text(&mt.subtype);
    for p in &mt.params {
        out.push(b';');
        out.text(&p.name);
        if let Some(v) = &p.value {
            out.push(b'=');
            if is_token(v) {
                out.text(v);
            } else {
                out.text(&quote(v));
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
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"SIP/2.0 ");
    out.decimal(u64::from(status.get()));
    out.push(b' ');
    line(&mut out, reason);
    for via in &ctx.via {
        header(&mut out, b"Via: ", via);
    }
    let singles: [(&[u8], _); 4] = [
        (b"From: ", &ctx.from),
        (b"To: ", &ctx.to),
        (b"Call-ID: ", &ctx.call_id),
        (b"CSeq: ", &ctx.cseq),
    ];
    for (name, value) in singles {
        if let Some(v) = value {
            header(&mut out, name, v);
        }
    }
    if status == StatusCode::NOT_IMPLEMENTED {
        // RFC 3261 §8.2.1: say what is implemented.
        header(&mut out, b"Allow: ", crate::sip::ALLOW);
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
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
    fn messages_appended_to_a_buffer_are_the_messages_encoded_alone() {
        let request = SipMessage::Request(sample());
        let response = SipMessage::Response(Response::to_request(&sample(), StatusCode::OK));
        let mut out = b"left as it was".to_vec();
        encode_message_into(&request, &mut out);
        encode_message_into(&response, &mut out);
        let expected = [
            b"left as it was".to_vec(),
            encode_message(&request),
            encode_message(&response),
        ]
        .concat();
        assert_eq!(out, expected);
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
