//! Property tests of the wire decoders: they never panic on hostile input, and what
//! they accept prints back to the same value.
//!
//! Inputs are arbitrary bytes and mutated corpus messages (byte flips, insertions of
//! random bytes or SIP-significant tokens, deletions, truncations of the files in
//! `tests/corpus/`). Input counts per run:
//! * `decoders_never_panic_on_100k_inputs`: 100,000 inputs, each fed to
//!   `decode_message`, `decode_datagram` and a randomly chunked `StreamDecoder`;
//! * `stream_framing_is_chunking_invariant`: 25,000 mutated streams;
//! * `uri_parser_never_panics_and_round_trips`: 25,000 strings;
//!
//! so 150,000 inputs in all (the crate is built at opt-level 3 in tests; the whole
//! file runs in seconds). `corpus_messages_round_trip` checks
//! `decode(encode(decode(x))) == decode(x)` for every corpus message that decodes.
//! What this is not: the per-case conformance assertions (see `corpus_sip.rs`).

use std::sync::OnceLock;

use cpmd_core::sip::SipMessage;
use cpmd_core::wire::uri::{parse_uri, print_uri};
use cpmd_core::wire::{
    decode_datagram, decode_message, encode_message, FrameError, Limits, StreamDecoder,
};
use proptest::prelude::*;

mod common;
use common::mutate::{apply, mutation};
use proptest::sample::Index;

/// Every file of the corpus (SIP messages, datagrams and streams).
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut files = Vec::new();
        for dir in ["sip", "datagram", "stream"] {
            let path = format!("{}/tests/corpus/{dir}", env!("CARGO_MANIFEST_DIR"));
            let mut paths: Vec<_> = std::fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .map(|e| e.expect("dir entry").path())
                .collect();
            paths.sort();
            files.extend(paths.iter().map(|p| std::fs::read(p).expect("corpus file")));
        }
        files
    })
}

/// Bytes that matter to a SIP parser, inserted to reach interesting states.
const TOKENS: &[&[u8]] = &[
    b":",
    b";",
    b",",
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"\r\n ",
    b" ",
    b"\t",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"@",
    b"[",
    b"]",
    b"%",
    b"=",
    b"?",
    b"/",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"Content-Length: 99999\r\n",
    b"l: 0\r\n",
    b"Via: SIP/2.0/UDP h\r\n",
    b"sip:",
    b"tel:",
    b"CSeq: 1 INVITE\r\n",
    b"Contact: *\r\n",
    b"SIP/2.0",
    b"99999999999999999999",
];

/// A corpus file with up to 6 mutations.
fn mutated_corpus() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<Index>(),
        prop::collection::vec(mutation(TOKENS), 0..6),
    )
        .prop_map(|(file, ms)| {
            let files = corpus();
            let mut bytes = files[file.index(files.len())].clone();
            for m in &ms {
                apply(&mut bytes, m);
            }
            bytes
        })
}

/// Half arbitrary bytes, half mutated corpus messages.
fn hostile_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..600), mutated_corpus(),]
}

/// Limits that a re-encoded message cannot exceed (the encoder may expand compact
/// names and split lists onto several lines).
fn generous() -> Limits {
    Limits {
        max_header_bytes: 1 << 24,
        max_header_count: 1 << 20,
        max_body_bytes: 1 << 24,
        ..Limits::default()
    }
}

fn assert_round_trip(msg: &SipMessage) {
    let again = decode_message(&encode_message(msg), &generous());
    assert_eq!(again.as_ref().ok(), Some(msg), "{again:?}");
}

/// Feeds `bytes` to a stream decoder in chunks of the given sizes (cycled).
fn frame_chunked(bytes: &[u8], sizes: &[usize]) -> Vec<Result<Vec<u8>, FrameError>> {
    let limits = Limits::default();
    let mut dec = StreamDecoder::default();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        dec.push(chunk);
        rest = tail;
        out.extend(std::iter::from_fn(|| dec.next_frame(&limits)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    /// 100,000 hostile inputs, each through all three byte decoders.
    #[test]
    fn decoders_never_panic_on_100k_inputs(
        input in hostile_input(),
        sizes in prop::collection::vec(1..200usize, 1..8),
    ) {
        let limits = Limits::default();
        if let Ok(msg) = decode_message(&input, &limits) {
            assert_round_trip(&msg);
        }
        if let Ok(msg) = decode_datagram(&input, &limits) {
            assert_round_trip(&msg);
        }
        for frame in frame_chunked(&input, &sizes).into_iter().flatten() {
            if let Ok(msg) = decode_message(&frame, &limits) {
                assert_round_trip(&msg);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(25_000))]

    /// However a (mutated) stream is cut into reads, the same frames come out.
    #[test]
    fn stream_framing_is_chunking_invariant(
        parts in prop::collection::vec(mutated_corpus(), 1..4),
        sizes in prop::collection::vec(1..300usize, 1..8),
    ) {
        let stream = parts.concat();
        prop_assert_eq!(frame_chunked(&stream, &sizes), frame_chunked(&stream, &[usize::MAX]));
    }

    /// `parse_uri` never panics, and what it accepts prints back to itself.
    #[test]
    fn uri_parser_never_panics_and_round_trips(
        text in prop_oneof![
            any::<String>(),
            "(sips?|tel|SIP|TEL|urn|im):[-a-zA-Z0-9@:;=.?&%+_!~*'()/\\[\\] \"<>]{0,60}",
        ],
    ) {
        if let Ok(uri) = parse_uri(&text) {
            let printed = print_uri(&uri);
            prop_assert_eq!(parse_uri(&printed), Ok(uri));
        }
    }
}

#[test]
fn corpus_messages_round_trip() {
    let limits = Limits::default();
    let mut decoded = 0;
    for bytes in corpus() {
        for msg in [
            decode_message(bytes, &limits),
            decode_datagram(bytes, &limits),
        ]
        .into_iter()
        .flatten()
        {
            assert_round_trip(&msg);
            decoded += 1;
        }
    }
    assert!(decoded >= 40, "only {decoded} corpus messages decoded");
}
