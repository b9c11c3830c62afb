//! Property tests of the MSRP codec and reassembly.
//!
//! * `msrp_decoder_never_panics_and_is_chunking_invariant`: 25,000 inputs (half
//!   arbitrary bytes, half files of `tests/corpus/msrp/` concatenated and mutated:
//!   byte flips, insertions of random bytes or MSRP-significant tokens, deletions,
//!   truncations), each fed to an [`MsrpDecoder`] in random read sizes: no panic, the
//!   same messages as when fed whole, every decoded message prints back to
//!   itself, and `next_frame` (responses as their start line) gives the same
//!   results and errors as `next_message`;
//! * `generated_messages_round_trip`: 10,000 generated requests and responses,
//!   `decode(encode(m)) == m`, also when the printed bytes arrive in random reads;
//! * `reassembly_of_shuffled_chunks`: 5,000 random bodies split with a random chunk
//!   size, shuffled, reassembled to the original (completing on the last chunk);
//!
//! so 40,000 inputs in all. What this is not: the per-case conformance assertions
//! (see `corpus_msrp.rs`).

use std::sync::OnceLock;

use cpmd_core::msrp::reassembly::{split, Reassembler, Reassembly};
use cpmd_core::msrp::{
    ByteRange, Continuation, FailureReport, MsrpFrame, MsrpMessage, MsrpMethod, MsrpRequest,
    MsrpResponse,
};
use cpmd_core::wire::msrp::{encode, MsrpDecoder, MsrpError};
use cpmd_core::wire::Limits;
use cpmd_core::TransactionId;
use proptest::prelude::*;

mod common;
use common::mutate::{apply, mutation};
use proptest::sample::Index;

/// Every file of the MSRP corpus.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let path = format!("{}/tests/corpus/msrp", env!("CARGO_MANIFEST_DIR"));
        let mut paths: Vec<_> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read(p).expect("corpus file"))
            .collect()
    })
}

/// Bytes that matter to an MSRP parser, inserted to reach interesting states.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b" ",
    b":",
    b"-",
    b"/",
    b"*",
    b"$",
    b"+",
    b"#",
    b"-------",
    b"\r\n-------",
    b"MSRP ",
    b"To-Path: msrp://x/1\r\n",
    b"From-Path: msrp://y/2\r\n",
    b"Byte-Range: 1-*/*\r\n",
    b"Content-Type: a/b\r\n",
    b"Status: 000 ",
    b"99999999999999999999",
    b"\xff",
    b"\x00",
];

/// One to three corpus files, concatenated, with up to 6 mutations.
fn mutated_corpus() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<Index>(), 1..4),
        prop::collection::vec(mutation(TOKENS), 0..6),
    )
        .prop_map(|(picks, ms)| {
            let files = corpus();
            let mut bytes: Vec<u8> = picks
                .iter()
                .flat_map(|i| files[i.index(files.len())].iter().copied())
                .collect();
            for m in &ms {
                apply(&mut bytes, m);
            }
            bytes
        })
}

/// Limits a re-encoded message cannot exceed (the printer may add bytes, e.g. the
/// empty line of a request that has a Content-Type but no body).
fn generous() -> Limits {
    Limits {
        max_msrp_header_bytes: 1 << 20,
        max_msrp_chunk_bytes: 1 << 20,
        max_header_count: 1 << 16,
        ..Limits::default()
    }
}

/// Feeds `bytes` to a decoder in reads of the given sizes (cycled), taking out
/// after each read whatever `next` gives.
fn feed_chunked<T>(
    bytes: &[u8],
    sizes: &[usize],
    mut next: impl FnMut(&mut MsrpDecoder) -> Option<T>,
) -> Vec<T> {
    let mut dec = MsrpDecoder::default();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        dec.push(chunk);
        rest = tail;
        out.extend(std::iter::from_fn(|| next(&mut dec)));
    }
    out
}

/// [`feed_chunked`] with `next_message`.
fn decode_chunked(
    bytes: &[u8],
    sizes: &[usize],
    limits: &Limits,
) -> Vec<Result<MsrpMessage, MsrpError>> {
    feed_chunked(bytes, sizes, |dec| dec.next_message(limits))
}

/// [`feed_chunked`] with `next_frame`: responses as their start line.
fn frames_chunked(
    bytes: &[u8],
    sizes: &[usize],
    limits: &Limits,
) -> Vec<Result<MsrpFrame, MsrpError>> {
    feed_chunked(bytes, sizes, |dec| dec.next_frame(limits))
}

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.+%=-]{3,31}"
}

fn uri() -> impl Strategy<Value = String> {
    "msrps?://[a-z0-9.]{1,12}(:[0-9]{1,5})?/[a-zA-Z0-9]{1,10};tcp"
}

fn path() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(uri(), 1..4)
}

/// Printable text with no leading or trailing blank (values are trimmed).
fn value() -> impl Strategy<Value = String> {
    "([!-~]([ -~]{0,18}[!-~])?)?"
}

/// Extension headers: names that are not one of the typed headers.
fn other_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("Content-Disposition".to_owned()),
        Just("Content-ID".to_owned()),
        Just("Content-Description".to_owned()),
        Just("WWW-Authenticate".to_owned()),
        "X-[A-Za-z0-9-]{1,10}",
    ];
    prop::collection::vec((name, value()), 0..4)
}

fn byte_range() -> impl Strategy<Value = ByteRange> {
    (1..1_000_000u64, prop::option::of(0..1000u64), any::<bool>()).prop_map(
        |(start, len, with_total)| {
            let end = len.map(|l| start + l - 1);
            let total = with_total.then(|| end.unwrap_or(start) + 7);
            ByteRange { start, end, total }
        },
    )
}

fn request() -> impl Strategy<Value = MsrpRequest> {
    let method = prop_oneof![
        Just(MsrpMethod::Send),
        Just(MsrpMethod::Report),
        Just(MsrpMethod::Auth),
        "X[A-Z]{0,8}".prop_map(MsrpMethod::Other),
    ];
    let failure = prop_oneof![
        Just(FailureReport::Yes),
        Just(FailureReport::No),
        Just(FailureReport::Partial),
    ];
    let flag = prop_oneof![
        Just(Continuation::Complete),
        Just(Continuation::More),
        Just(Continuation::Aborted),
    ];
    // The Status value is trimmed like every header value: no blank at the ends.
    let status = prop::option::of((100..1000u16, prop::option::of("[!-~]([ -~]{0,14}[!-~])?")));
    let content = prop::option::of((
        "(text/plain|message/cpim|application/octet-stream)(;charset=UTF-8)?",
        prop::collection::vec(any::<u8>(), 0..300),
    ));
    (
        (ident(), method, path(), path(), prop::option::of(ident())),
        (
            prop::option::of(byte_range()),
            prop::option::of(any::<bool>()),
            failure,
            status,
        ),
        (other_headers(), content, flag),
    )
        .prop_map(
            |((tid, method, to, from, mid), (br, sr, fr, st), (other, content, flag))| {
                let mut r = MsrpRequest::new(TransactionId::new(tid), method, to, from);
                r.message_id = mid;
                r.byte_range = br;
                r.success_report = sr;
                r.failure_report = fr;
                r.status = st;
                r.other = other;
                if let Some((ct, body)) = content {
                    r.content_type = Some(ct);
                    r.body = body;
                }
                r.continuation = flag;
                r
            },
        )
}

fn response() -> impl Strategy<Value = MsrpResponse> {
    (
        ident(),
        100..1000u16,
        prop::option::of("[ -~]{0,20}"),
        path(),
        path(),
        other_headers(),
    )
        .prop_map(
            |(tid, status, comment, to_path, from_path, other)| MsrpResponse {
                transaction_id: TransactionId::new(tid),
                status,
                comment,
                to_path,
                from_path,
                other,
            },
        )
}

fn message() -> impl Strategy<Value = MsrpMessage> {
    prop_oneof![
        3 => request().prop_map(MsrpMessage::Request),
        1 => response().prop_map(MsrpMessage::Response),
    ]
}

/// Whether the printed body would contain its own end-line (the sender must avoid
/// that, RFC 4975 §7.1; random bodies hit it only by design of a test).
fn body_is_framable(msg: &MsrpMessage) -> bool {
    let MsrpMessage::Request(r) = msg else {
        return true;
    };
    let mut delimiter = b"\r\n-------".to_vec();
    delimiter.extend_from_slice(r.transaction_id.as_str().as_bytes());
    let printed = [r.body.as_slice(), delimiter.as_slice()].concat();
    let first = printed
        .windows(delimiter.len())
        .position(|w| w == delimiter.as_slice());
    first == Some(r.body.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(25_000))]

    /// 25,000 hostile inputs through a randomly chunked decoder.
    #[test]
    fn msrp_decoder_never_panics_and_is_chunking_invariant(
        input in prop_oneof![prop::collection::vec(any::<u8>(), 0..600), mutated_corpus()],
        sizes in prop::collection::vec(1..200usize, 1..8),
    ) {
        let limits = Limits::default();
        let chunked = decode_chunked(&input, &sizes, &limits);
        let whole = decode_chunked(&input, &[usize::MAX], &limits);
        prop_assert_eq!(&chunked, &whole);
        prop_assert!(chunked.iter().filter(|m| m.is_err()).count() <= 1);
        // The lazy form checks what the full one does: same frames, same error.
        let frames = frames_chunked(&input, &sizes, &limits);
        let expected: Vec<_> = chunked.iter().cloned().map(|m| m.map(MsrpFrame::from)).collect();
        prop_assert_eq!(frames, expected);
        for msg in chunked.iter().flatten() {
            let again = decode_chunked(&encode(msg), &[usize::MAX], &generous());
            prop_assert_eq!(again, vec![Ok(msg.clone())]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// Generated messages print and decode back to themselves, whole or in reads.
    #[test]
    fn generated_messages_round_trip(
        msg in message(),
        sizes in prop::collection::vec(1..64usize, 1..6),
    ) {
        prop_assume!(body_is_framable(&msg));
        let bytes = encode(&msg);
        prop_assert_eq!(decode_chunked(&bytes, &[usize::MAX], &generous()), vec![Ok(msg.clone())]);
        let two = [bytes.clone(), bytes].concat();
        prop_assert_eq!(decode_chunked(&two, &sizes, &generous()), vec![Ok(msg.clone()), Ok(msg)]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// Any chunking of a body, delivered in any order, reassembles to the body, and
    /// only the last chunk delivered completes it.
    #[test]
    fn reassembly_of_shuffled_chunks(
        body in prop::collection::vec(any::<u8>(), 0..2000),
        chunk_size in 1..400usize,
        order in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let mut chunks = split(&body, chunk_size);
        for (i, pick) in order.iter().enumerate() {
            let n = chunks.len();
            chunks.swap(i % n, pick.index(n));
        }
        let limits = Limits::default();
        let mut re = Reassembler::new();
        let last = chunks.len() - 1;
        for (i, (range, flag, data)) in chunks.iter().enumerate() {
            let got = re.accept("msg-0001", *range, *flag, data, &limits);
            if i == last {
                prop_assert_eq!(got, Ok(Reassembly::Complete(body.clone())));
            } else {
                prop_assert_eq!(got, Ok(Reassembly::Incomplete));
            }
        }
        prop_assert_eq!(re.pending(), 0);
    }
}
