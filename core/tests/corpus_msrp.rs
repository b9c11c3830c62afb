//! MSRP corpus: the files of `tests/corpus/msrp/` are raw MSRP connection byte
//! streams (RFC 4975). Each test pushes a file into an [`MsrpDecoder`] whole, split
//! at every possible point, and byte by byte, and asserts the decoded messages field
//! by field. `01`–`14` must decode; `50`–`53` are negative cases. Every message that
//! decodes must also print back to itself. Not a fuzz test (see `msrp_props.rs`).

use cpmd_core::msrp::reassembly::{Reassembler, Reassembly};
use cpmd_core::msrp::{
    ByteRange, Continuation, FailureReport, MsrpMessage, MsrpMethod, MsrpRequest, MsrpResponse,
};
use cpmd_core::wire::msrp::{encode, MsrpDecoder, MsrpError};
use cpmd_core::wire::Limits;

const A: &str = "msrp://atlanta.example.com:7654/jshA7weztas;tcp";
const B: &str = "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp";
const R: &str = "msrp://relay.example.net:2855/aXk2;tcp";

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/corpus/msrp/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

type Decoded = Result<MsrpMessage, MsrpError>;

/// Pushes `chunks` one by one, collecting every message after each push.
fn decode_chunks(chunks: &[&[u8]], limits: &Limits) -> Vec<Decoded> {
    let mut dec = MsrpDecoder::default();
    let mut out = Vec::new();
    for chunk in chunks {
        dec.push(chunk);
        out.extend(std::iter::from_fn(|| dec.next_message(limits)));
    }
    out
}

/// Decodes a corpus file and checks that the result does not depend on how the
/// bytes arrive (every two-way split, and byte by byte), and that every decoded
/// message round-trips through `encode`.
fn decode_file_with(name: &str, limits: &Limits) -> Vec<Decoded> {
    let bytes = load(name);
    let whole = decode_chunks(&[&bytes], limits);
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(
            decode_chunks(&[a, b], limits),
            whole,
            "{name}: split at {cut}"
        );
    }
    let bytes_one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_chunks(&bytes_one_by_one, limits), whole, "{name}");
    for msg in whole.iter().flatten() {
        let again = decode_chunks(&[&encode(msg)], limits);
        assert_eq!(again, [Ok(msg.clone())], "{name}: round trip");
    }
    whole
}

fn decode_file(name: &str) -> Vec<Decoded> {
    decode_file_with(name, &Limits::default())
}

fn requests(name: &str) -> Vec<MsrpRequest> {
    decode_file(name)
        .into_iter()
        .map(|m| match m {
            Ok(MsrpMessage::Request(r)) => r,
            other => panic!("{name}: not a request: {other:?}"),
        })
        .collect()
}

fn one_request(name: &str) -> MsrpRequest {
    let mut all = requests(name);
    assert_eq!(all.len(), 1, "{name}");
    all.remove(0)
}

fn one_response(name: &str) -> MsrpResponse {
    match decode_file(name).as_slice() {
        [Ok(MsrpMessage::Response(r))] => r.clone(),
        other => panic!("{name}: not one response: {other:?}"),
    }
}

fn range(start: u64, end: Option<u64>, total: Option<u64>) -> Option<ByteRange> {
    Some(ByteRange { start, end, total })
}

fn paths(uris: &[&str]) -> Vec<String> {
    uris.iter().map(|u| (*u).to_owned()).collect()
}

fn text_chunk(r: &MsrpRequest, body: &[u8], continuation: Continuation) {
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    assert_eq!(r.body, body);
    assert_eq!(r.continuation, continuation);
}

#[test]
fn msrp_01_send_with_cpim_body() {
    let r = one_request("01-send-cpim.msrp");
    assert_eq!(r.transaction_id.as_str(), "a786hjs2");
    assert_eq!(r.method, MsrpMethod::Send);
    assert_eq!(r.to_path, paths(&[B]));
    assert_eq!(r.from_path, paths(&[A]));
    assert_eq!(r.message_id.as_deref(), Some("87652491"));
    let len = r.body.len() as u64;
    assert_eq!(r.byte_range, range(1, Some(len), Some(len)));
    assert_eq!(r.success_report, Some(false));
    assert_eq!(r.failure_report, FailureReport::Yes);
    assert_eq!(r.content_type.as_deref(), Some("message/cpim"));
    assert_eq!(r.status, None);
    assert!(r.other.is_empty());
    assert!(r
        .body
        .starts_with(b"From: <sip:anonymous@anonymous.invalid>\r\n"));
    assert!(r.body.ends_with(b"\r\n\r\nHello B\r\n"));
    assert_eq!(r.continuation, Continuation::Complete);
}

#[test]
fn msrp_02_empty_send_binds_the_connection() {
    let r = one_request("02-empty-send.msrp");
    assert_eq!(r.transaction_id.as_str(), "d93kswow");
    assert_eq!(r.method, MsrpMethod::Send);
    assert_eq!(r.message_id.as_deref(), Some("12339sdqwer"));
    assert_eq!(r.byte_range, range(1, Some(0), Some(0)));
    assert_eq!(r.content_type, None);
    assert!(r.body.is_empty());
    assert_eq!(r.continuation, Continuation::Complete);
    assert_eq!(encode(&MsrpMessage::Request(r)), load("02-empty-send.msrp"));
}

#[test]
fn msrp_03_chunked_send_reassembles() {
    let chunks = requests("03-chunked.msrp");
    assert_eq!(chunks.len(), 2);
    let [first, second] = [&chunks[0], &chunks[1]];
    assert_eq!(first.transaction_id.as_str(), "dkei38sd");
    assert_eq!(second.transaction_id.as_str(), "dkei38ia");
    assert_eq!(first.message_id, second.message_id);
    assert_eq!(first.byte_range, range(1, Some(10), Some(20)));
    assert_eq!(second.byte_range, range(11, Some(20), Some(20)));
    text_chunk(first, b"first half", Continuation::More);
    text_chunk(second, b", and rest", Continuation::Complete);

    let limits = Limits::default();
    let mut re = Reassembler::new();
    assert_eq!(
        re.accept_request(first, &limits),
        Ok(Reassembly::Incomplete)
    );
    assert_eq!(
        re.accept_request(second, &limits),
        Ok(Reassembly::Complete(b"first half, and rest".to_vec()))
    );
    let mut re = Reassembler::new();
    assert_eq!(
        re.accept_request(second, &limits),
        Ok(Reassembly::Incomplete)
    );
    assert_eq!(
        re.accept_request(first, &limits),
        Ok(Reassembly::Complete(b"first half, and rest".to_vec()))
    );
}

#[test]
fn msrp_04_aborted_chunk() {
    let r = one_request("04-aborted.msrp");
    assert_eq!(r.byte_range, range(1, None, Some(40)));
    text_chunk(&r, b"only part of it", Continuation::Aborted);
    let mut re = Reassembler::new();
    assert_eq!(
        re.accept_request(&r, &Limits::default()),
        Ok(Reassembly::Aborted)
    );
    assert_eq!(re.pending(), 0);
}

#[test]
fn msrp_05_report_with_status() {
    let r = one_request("05-report-status.msrp");
    assert_eq!(r.transaction_id.as_str(), "dkei38sd");
    assert_eq!(r.method, MsrpMethod::Report);
    assert_eq!(r.to_path, paths(&[A]));
    assert_eq!(r.from_path, paths(&[B]));
    assert_eq!(r.message_id.as_deref(), Some("12339sdqwer"));
    assert_eq!(r.byte_range, range(1, Some(106), Some(106)));
    assert_eq!(r.status, Some((200, Some("OK".to_owned()))));
    assert_eq!(r.content_type, None);
    assert!(r.body.is_empty());
}

#[test]
fn msrp_06_response_200() {
    let r = one_response("06-response-200.msrp");
    assert_eq!(r.transaction_id.as_str(), "a786hjs2");
    assert_eq!((r.status, r.comment.as_deref()), (200, Some("OK")));
    assert_eq!(r.to_path, paths(&[A]));
    assert_eq!(r.from_path, paths(&[B]));
    assert!(r.other.is_empty());
    assert_eq!(
        encode(&MsrpMessage::Response(r)),
        load("06-response-200.msrp")
    );
}

#[test]
fn msrp_07_error_response_with_comment() {
    let r = one_response("07-response-481-comment.msrp");
    assert_eq!(r.transaction_id.as_str(), "5sd8wq.2");
    assert_eq!(r.status, 481);
    assert_eq!(r.comment.as_deref(), Some("Session does not exist"));
}

#[test]
fn msrp_08_extra_headers_are_kept_in_order() {
    let r = one_request("08-content-disposition.msrp");
    assert_eq!(r.to_path, paths(&[R, B]));
    assert_eq!(r.message_id.as_deref(), Some("file-0001"));
    assert_eq!(r.byte_range, range(1, Some(12), Some(12)));
    let other: Vec<(&str, &str)> = r
        .other
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        other,
        [
            ("Content-Disposition", "attachment; filename=\"notes.txt\""),
            ("Content-Description", "meeting notes"),
        ]
    );
    text_chunk(&r, b"line1\r\nline2", Continuation::Complete);
    assert_eq!(
        encode(&MsrpMessage::Request(r)),
        load("08-content-disposition.msrp")
    );
}

#[test]
fn msrp_09_failure_report_partial() {
    let r = one_request("09-failure-report-partial.msrp");
    assert_eq!(r.failure_report, FailureReport::Partial);
    assert_eq!(r.success_report, None);
    assert_eq!(r.byte_range, None);
    text_chunk(&r, b"only tell me if it fails", Continuation::Complete);
}

#[test]
fn msrp_10_failure_report_no() {
    let r = one_request("10-failure-report-no.msrp");
    assert_eq!(r.failure_report, FailureReport::No);
    assert_eq!(r.success_report, Some(false));
    text_chunk(&r, b"fire and forget", Continuation::Complete);
}

#[test]
fn msrp_11_success_report_yes() {
    let r = one_request("11-success-report-yes.msrp");
    assert_eq!(r.success_report, Some(true));
    assert_eq!(r.failure_report, FailureReport::Yes);
    assert_eq!(r.byte_range, range(1, Some(5), Some(5)));
    text_chunk(&r, b"hello", Continuation::Complete);
}

#[test]
fn msrp_12_byte_range_with_unknown_end_and_total() {
    let r = one_request("12-byte-range-unknown.msrp");
    assert_eq!(r.byte_range, range(1, None, None));
    text_chunk(&r, b"size not known in advance", Continuation::Complete);
    let mut re = Reassembler::new();
    assert_eq!(
        re.accept_request(&r, &Limits::default()),
        Ok(Reassembly::Complete(b"size not known in advance".to_vec()))
    );
}

#[test]
fn msrp_13_two_messages_in_one_read() {
    let msgs = decode_file("13-two-messages.msrp");
    assert_eq!(msgs.len(), 2);
    let Ok(MsrpMessage::Request(send)) = &msgs[0] else {
        panic!("{msgs:?}");
    };
    let Ok(MsrpMessage::Response(ok)) = &msgs[1] else {
        panic!("{msgs:?}");
    };
    assert_eq!(send.transaction_id, ok.transaction_id);
    text_chunk(send, b"one", Continuation::Complete);
    assert_eq!(ok.status, 200);
    let total: usize = msgs.iter().map(|m| encode(m.as_ref().unwrap()).len()).sum();
    assert_eq!(total, load("13-two-messages.msrp").len());
}

#[test]
fn msrp_14_body_holds_end_line_lookalikes() {
    let r = one_request("14-body-end-line-lookalikes.msrp");
    text_chunk(
        &r,
        b"-------d4shes99$ is how it ends,\r\n-------other123$\r\n-------d4shes99x\r\n-------d4shes99",
        Continuation::Complete,
    );
}

#[test]
fn msrp_50_missing_to_path_is_an_error() {
    let msgs = decode_file("50-missing-to-path.msrp");
    assert_eq!(msgs, [Err(MsrpError::MissingToPath)]);
}

#[test]
fn msrp_51_oversized_chunk_is_an_error() {
    let limits = Limits {
        max_msrp_chunk_bytes: 32,
        ..Limits::default()
    };
    let msgs = decode_file_with("51-oversized-chunk.msrp", &limits);
    assert_eq!(msgs, [Err(MsrpError::ChunkTooLarge { limit: 32 })]);
    assert_eq!(decode_file("51-oversized-chunk.msrp").len(), 1);
    assert!(decode_file("51-oversized-chunk.msrp")[0].is_ok());

    let tight_head = Limits {
        max_msrp_header_bytes: 64,
        ..Limits::default()
    };
    let msgs = decode_file_with("51-oversized-chunk.msrp", &tight_head);
    assert_eq!(msgs, [Err(MsrpError::HeadersTooLarge { limit: 64 })]);
}

#[test]
fn msrp_default_limit_refuses_a_chunk_over_1_mib() {
    let limits = Limits::default();
    assert_eq!(limits.max_msrp_chunk_bytes, 1024 * 1024);
    assert_eq!(limits.max_msrp_header_bytes, 8 * 1024);
    let head = format!(
        "MSRP b1gchunk SEND\r\nTo-Path: {B}\r\nFrom-Path: {A}\r\nContent-Type: text/plain\r\n\r\n"
    );
    let mut dec = MsrpDecoder::default();
    dec.push(head.as_bytes());
    for _ in 0..1024 {
        dec.push(&[b'x'; 1024]);
        assert_eq!(dec.next_message(&limits), None);
    }
    dec.push(b"xx\r\n-------b1gchunk$\r\n");
    assert_eq!(
        dec.next_message(&limits),
        Some(Err(MsrpError::ChunkTooLarge { limit: 1024 * 1024 }))
    );
    assert!(dec.is_failed());
    assert_eq!(dec.next_message(&limits), None);

    let mut dec = MsrpDecoder::default();
    dec.push(b"MSRP abcd SEND\r\n");
    dec.push(&[b'X'; 8 * 1024]);
    assert_eq!(
        dec.next_message(&limits),
        Some(Err(MsrpError::HeadersTooLarge { limit: 8 * 1024 }))
    );
}

#[test]
fn msrp_52_end_line_with_another_transaction_id() {
    let msgs = decode_file("52-bad-end-line.msrp");
    assert_eq!(msgs, [Err(MsrpError::BadEndLine)]);
}

#[test]
fn msrp_53_bare_lf_lines_are_refused() {
    let msgs = decode_file("53-bare-lf.msrp");
    assert_eq!(msgs, [Err(MsrpError::BadLineEnding)]);
}

#[test]
fn msrp_whole_corpus_as_one_stream() {
    let names = [
        "01-send-cpim.msrp",
        "02-empty-send.msrp",
        "03-chunked.msrp",
        "04-aborted.msrp",
        "05-report-status.msrp",
        "06-response-200.msrp",
        "07-response-481-comment.msrp",
        "08-content-disposition.msrp",
        "09-failure-report-partial.msrp",
        "10-failure-report-no.msrp",
        "11-success-report-yes.msrp",
        "12-byte-range-unknown.msrp",
        "13-two-messages.msrp",
        "14-body-end-line-lookalikes.msrp",
    ];
    let stream: Vec<u8> = names.iter().flat_map(|n| load(n)).collect();
    let msgs = decode_chunks(&[&stream], &Limits::default());
    assert_eq!(msgs.len(), 16);
    assert!(msgs.iter().all(Result::is_ok));
    let chunks: Vec<&[u8]> = stream.chunks(7).collect();
    assert_eq!(decode_chunks(&chunks, &Limits::default()), msgs);
}
