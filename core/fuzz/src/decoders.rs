//! The decoder targets: every `core::wire` decoder fed arbitrary bytes.
//!
//! Rules checked for every input (a broken rule panics, which AFL records as a
//! crash; specs/limits.md):
//! * LIM-9: no decoder panics, whatever the bytes;
//! * LIM-10: what a decoder accepts prints back to the same value (SIP messages,
//!   URIs, SDP except its `raw` copy, media types, resource lists, MSRP messages,
//!   CPIM, IMDN); the stream decoders (SIP framing, MSRP) give the same messages
//!   whether the stream arrives whole or cut into reads, and fail at most once.
//!
//! Stream targets take the read size from the input's first byte, so that the
//! fuzzer also explores how a stream is cut.

use cpmd_core::ids::CallId;
use cpmd_core::msrp::MsrpMessage;
use cpmd_core::sip::{CSeq, Headers, Method, NameAddr, SipMessage, StatusCode};
use cpmd_core::uri::Uri;
use cpmd_core::wire::msrp::{MsrpDecoder, MsrpError};
use cpmd_core::wire::{
    self, cpim_codec, digest, imdn, multipart, resource_lists, sdp, FrameError, Limits,
    StreamDecoder,
};

/// Limits a re-printed value cannot exceed (the printer may expand compact names and
/// split lists onto several lines, so a message at the default limit prints longer).
pub fn generous() -> Limits {
    Limits {
        max_header_bytes: 1 << 24,
        max_header_count: 1 << 20,
        max_body_bytes: 1 << 24,
        max_msrp_header_bytes: 1 << 20,
        max_msrp_chunk_bytes: 1 << 20,
        ..Limits::default()
    }
}

/// A SIP message prints to bytes that decode to the same message.
fn assert_sip_round_trip(msg: &SipMessage) {
    let printed = wire::encode_message(msg);
    let again = wire::decode_message(&printed, &generous());
    assert_eq!(
        again.as_ref().ok(),
        Some(msg),
        "printed as {:?}",
        String::from_utf8_lossy(&printed)
    );
}

/// Target `sip-message`: one message through `decode_message` and `decode_datagram`;
/// the answer to an undecodable request is printed.
pub fn sip_message(data: &[u8]) {
    let limits = Limits::default();
    match wire::decode_message(data, &limits) {
        Ok(msg) => assert_sip_round_trip(&msg),
        Err(bad) => answer(&bad),
    }
    match wire::decode_datagram(data, &limits) {
        Ok(msg) => assert_sip_round_trip(&msg),
        Err(bad) => answer(&bad),
    }
    if let Some(ctx) = wire::reply_context_of(data) {
        let _ = wire::encode_error_reply(&ctx, StatusCode::BAD_REQUEST, "fuzz");
    }
}

/// Prints the answer the server would send to a message that did not decode.
fn answer(bad: &wire::BadMessage) {
    if let Some(ctx) = &bad.reply {
        let _ = wire::encode_error_reply(ctx, bad.error.status(), &bad.error.to_string());
    }
}

/// The read size a stream target uses: from the first byte, 1 to 97 bytes.
fn split_read_size(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (usize::from(*first) % 97 + 1, rest),
        None => (1, data),
    }
}

/// Feeds `bytes` to a SIP stream decoder in reads of `size` bytes.
fn frames(bytes: &[u8], size: usize, limits: &Limits) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut dec = StreamDecoder::default();
    let mut out = Vec::new();
    for chunk in bytes.chunks(size.max(1)) {
        dec.push(chunk);
        out.extend(std::iter::from_fn(|| dec.next_frame(limits)));
        if dec.is_failed() {
            break;
        }
    }
    out
}

/// Target `sip-stream`: a TCP byte stream framed whole and in reads; every frame
/// decoded.
pub fn sip_stream(data: &[u8]) {
    let (size, stream) = split_read_size(data);
    let limits = Limits::default();
    let cut = frames(stream, size, &limits);
    let whole = frames(stream, usize::MAX, &limits);
    assert_eq!(cut, whole, "framing depends on the read size {size}");
    assert!(cut.iter().filter(|f| f.is_err()).count() <= 1);
    for frame in cut.iter().flatten() {
        if let Ok(msg) = wire::decode_message(frame, &limits) {
            assert_sip_round_trip(&msg);
        }
    }
}

/// Target `uri`: `parse_uri` and `parse_replaces`; an accepted URI prints back to
/// itself.
pub fn uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = wire::parse_uri(text) {
        let printed = wire::print_uri(&uri);
        assert_eq!(wire::parse_uri(&printed), Ok(uri), "printed as {printed:?}");
    }
    let _ = wire::parse_replaces(text);
}

/// Target `sdp`: an accepted SDP prints to one that decodes to the same fields.
pub fn sdp(data: &[u8]) {
    let Ok(mut parsed) = sdp::decode(data) else {
        return;
    };
    let printed = sdp::encode(&parsed);
    let mut again = sdp::decode(printed.as_bytes())
        .unwrap_or_else(|e| panic!("printed SDP refused ({e}): {printed:?}"));
    // `raw` is the body as received, kept for the history; everything else must match.
    parsed.raw.clear();
    again.raw.clear();
    assert_eq!(again, parsed, "printed as {printed:?}");
}

/// Target `multipart`: the first line is the Content-Type value, the rest the body.
/// The body goes through `multipart::decode` and the INVITE body rules
/// (`decode_invite_body`: SDP, multipart, resource lists); an accepted media type
/// prints back to itself.
pub fn multipart(data: &[u8]) {
    let (line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let Some(ct) = multipart::parse_media_type(line.trim_end_matches('\r')) else {
        return;
    };
    let printed = multipart::print_media_type(&ct);
    assert_eq!(
        multipart::parse_media_type(&printed).as_ref(),
        Some(&ct),
        "printed as {printed:?}"
    );
    let limits = Limits::default();
    let _ = multipart::decode(&ct, body, &limits);
    let mut headers = invite_headers();
    headers.content_type = Some(ct);
    let _ = wire::decode_invite_body(&headers, body, &limits);
}

/// The headers of an INVITE, for `decode_invite_body`, which reads Content-Type only.
fn invite_headers() -> Headers {
    let addr = || NameAddr::new(Uri::Other("sip:fuzz@example.com".into()));
    let cseq = CSeq {
        seq: 1,
        method: Method::Invite,
    };
    Headers::new(addr(), addr(), CallId::new("fuzz"), cseq)
}

/// Target `resource-lists`: an accepted list prints to one that decodes the same.
pub fn resource_lists(data: &[u8]) {
    let limits = Limits::default();
    let Ok(list) = resource_lists::decode(data, &limits) else {
        return;
    };
    let printed = resource_lists::encode(&list);
    assert_eq!(
        resource_lists::decode(printed.as_bytes(), &generous()),
        Ok(list),
        "printed as {printed:?}"
    );
}

/// Feeds `bytes` to an MSRP decoder in reads of `size` bytes.
fn msrp_messages(
    bytes: &[u8],
    size: usize,
    limits: &Limits,
) -> Vec<Result<MsrpMessage, MsrpError>> {
    let mut dec = MsrpDecoder::default();
    let mut out = Vec::new();
    for chunk in bytes.chunks(size.max(1)) {
        dec.push(chunk);
        out.extend(std::iter::from_fn(|| dec.next_message(limits)));
        if dec.is_failed() {
            break;
        }
    }
    out
}

/// Target `msrp-stream`: an MSRP connection's bytes decoded whole and in reads; every
/// message prints back to itself.
pub fn msrp_stream(data: &[u8]) {
    let (size, stream) = split_read_size(data);
    let limits = Limits::default();
    let cut = msrp_messages(stream, size, &limits);
    let whole = msrp_messages(stream, usize::MAX, &limits);
    assert_eq!(cut, whole, "MSRP framing depends on the read size {size}");
    assert!(cut.iter().filter(|m| m.is_err()).count() <= 1);
    for msg in cut.iter().flatten() {
        let printed = wire::msrp::encode(msg);
        let again = msrp_messages(&printed, usize::MAX, &generous());
        assert_eq!(
            again,
            vec![Ok(msg.clone())],
            "printed as {:?}",
            String::from_utf8_lossy(&printed)
        );
    }
}

/// Target `cpim`: an accepted CPIM message prints back to itself.
pub fn cpim(data: &[u8]) {
    if let Ok(msg) = cpim_codec::decode(data) {
        let printed = cpim_codec::encode(&msg);
        assert_eq!(
            cpim_codec::decode(&printed),
            Ok(msg),
            "printed as {:?}",
            String::from_utf8_lossy(&printed)
        );
    }
}

/// Target `imdn`: an accepted IMDN names a message and prints back to itself.
pub fn imdn(data: &[u8]) {
    if let Ok(report) = imdn::decode(data) {
        assert!(!report.message_id.is_empty());
        let printed = imdn::encode(&report);
        assert_eq!(
            imdn::decode(printed.as_bytes()),
            Ok(report),
            "printed as {printed:?}"
        );
    }
}

/// Target `digest`: `Authorization` values; the parser returns every field the
/// server's check needs (username, nonce, response), or nothing.
pub fn digest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(c) = digest::parse_credentials(text) {
        assert!(!c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty());
        assert!(c.response.bytes().all(|b| !b.is_ascii_uppercase()));
    }
}
