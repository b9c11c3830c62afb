//! Property tests of the CPIM (RFC 3862) and IMDN (RFC 5438) codecs.
//!
//! * `cpim_decoder_never_panics_and_is_stable`: 20,000 inputs (a quarter arbitrary
//!   bytes, the rest files of `tests/corpus/cpim/` mutated: byte flips, insertions of
//!   random bytes or CPIM-significant tokens, deletions, truncations): no panic, and
//!   whatever decodes prints to bytes that decode to the same value;
//! * `generated_messages_round_trip`: 5,000 generated messages,
//!   `decode(encode(m)) == m`;
//! * `imdn_decoder_never_panics` and `generated_imdns_round_trip`: 5,000 mutated
//!   IMDN documents and 2,000 generated ones.
//!
//! What this is not: the per-case conformance assertions (`corpus_cpim.rs`).

use std::sync::OnceLock;

use cpmd_core::cpim::{CpimHeader, CpimMessage};
use cpmd_core::server::Disposition;
use cpmd_core::wire::cpim_codec as cpim;
use cpmd_core::wire::imdn::{self, Imdn};
use proptest::prelude::*;
use proptest::sample::Index;

mod common;
use common::mutate::{apply, mutation};

/// Every file of the CPIM corpus.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let path = format!("{}/tests/corpus/cpim", env!("CARGO_MANIFEST_DIR"));
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

/// The IMDN documents inside the corpus (bodies of the `message/imdn+xml` files).
fn imdn_corpus() -> Vec<Vec<u8>> {
    corpus()
        .iter()
        .filter_map(|f| cpim::decode(f).ok())
        .filter(|m| m.is_imdn())
        .map(|m| m.body)
        .collect()
}

/// Bytes that matter to a CPIM parser, inserted to reach interesting states.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b"\n\n",
    b" ",
    b"\t",
    b":",
    b".",
    b"<",
    b">",
    b"\\",
    b"\\u00e9",
    b"NS: x <urn:ietf:params:imdn>\r\n",
    b"imdn.Message-ID: q\r\n",
    b"Content-Type: message/cpim\r\n\r\n",
    b"Content-Type: message/imdn+xml\r\n",
    b"To: <sip:x@y>\r\n",
    b"\xff",
    b"\x00",
    b"\xc3\xa9",
];

const XML_TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"/>",
    b"</",
    b"&amp;",
    b"&",
    b"<!DOCTYPE x>",
    b"<status>",
    b"<displayed/>",
    b"<failed/>",
    b"<message-id>",
    b"</message-id>",
    b"xmlns=\"urn:ietf:params:xml:ns:imdn\"",
    b"\xff",
];

fn mutated(
    files: Vec<Vec<u8>>,
    tokens: &'static [&'static [u8]],
) -> impl Strategy<Value = Vec<u8>> {
    (
        any::<Index>(),
        prop::collection::vec(mutation(tokens), 0..6),
    )
        .prop_map(move |(pick, ms)| {
            let mut bytes = files[pick.index(files.len())].clone();
            for m in &ms {
                apply(&mut bytes, m);
            }
            bytes
        })
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,12}"
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("From".to_owned()),
        Just("To".to_owned()),
        Just("DateTime".to_owned()),
        Just("NS".to_owned()),
        Just("imdn.Message-ID".to_owned()),
        (token(), token()).prop_map(|(p, n)| format!("{p}.{n}")),
        token(),
    ]
}

/// A header value: printable text and non-ASCII letters, trimmed, no controls.
fn value() -> impl Strategy<Value = String> {
    "([!-~éü€]([ -~éü€\t]{0,24}[!-~éü€])?)?"
}

fn message() -> impl Strategy<Value = CpimMessage> {
    (
        prop::collection::vec((header_name(), value()), 0..8),
        "(text/plain|message/imdn\\+xml|application/octet-stream)(; ?charset=[a-zA-Z0-9-]{1,8})?",
        prop::collection::vec(
            (
                prop_oneof![
                    Just("Content-Disposition".to_owned()),
                    Just("Content-Length".to_owned()),
                    "X-[A-Za-z0-9]{1,8}"
                ],
                value(),
            ),
            0..3,
        ),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(headers, content_type, content_headers, body)| CpimMessage {
                headers: headers
                    .into_iter()
                    .map(|(n, v)| CpimHeader::new(n, v))
                    .collect(),
                content_type,
                content_headers,
                body,
            },
        )
}

fn generated_imdn() -> impl Strategy<Value = Imdn> {
    let text = "[!-~]([ -~]{0,20}[!-~])?";
    (
        text,
        prop::option::of(text),
        prop::option::of(text),
        prop::option::of(text),
        prop_oneof![
            Just(Disposition::Delivered),
            Just(Disposition::Displayed),
            Just(Disposition::Failed)
        ],
    )
        .prop_map(
            |(message_id, datetime, recipient_uri, original, disposition)| Imdn {
                message_id,
                datetime,
                recipient_uri,
                original_recipient_uri: original,
                disposition,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn cpim_decoder_never_panics_and_is_stable(
        bytes in prop_oneof![
            1 => prop::collection::vec(any::<u8>(), 0..300),
            3 => mutated(corpus().to_vec(), TOKENS),
        ]
    ) {
        if let Ok(m) = cpim::decode(&bytes) {
            let printed = cpim::encode(&m);
            prop_assert_eq!(cpim::decode(&printed), Ok(m));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    #[test]
    fn generated_messages_round_trip(m in message()) {
        prop_assert_eq!(cpim::decode(&cpim::encode(&m)), Ok(m));
    }

    #[test]
    fn imdn_decoder_never_panics(
        bytes in prop_oneof![
            1 => prop::collection::vec(any::<u8>(), 0..200),
            4 => mutated(imdn_corpus(), XML_TOKENS),
        ]
    ) {
        if let Ok(report) = imdn::decode(&bytes) {
            prop_assert!(!report.message_id.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn generated_imdns_round_trip(report in generated_imdn()) {
        prop_assert_eq!(imdn::decode(imdn::encode(&report).as_bytes()), Ok(report));
    }
}
