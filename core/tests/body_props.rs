//! Property tests of the body codecs: the three decoders (SDP, multipart,
//! resource lists) never panic, whether fed arbitrary bytes or corpus files with a
//! few random mutations; multipart and resource-list printing round-trip.
//!
//! Not here: fixed expectations per corpus file (`corpus_bodies.rs`).

use cpmd_core::body::{BodyPart, ListEntry, ResourceList};
use cpmd_core::ids::ContributionId;
use cpmd_core::sip::MediaType;
use cpmd_core::uri::Param;
use cpmd_core::wire::multipart::{self, parse_media_type};
use cpmd_core::wire::{resource_lists, sdp, Limits};
use proptest::prelude::*;

const CORPUS: &[&str] = &[
    "sdp/host-names.sdp",
    "sdp/no-trailing-crlf.sdp",
    "sdp/msrp-path-two-uris.sdp",
    "sdp/tcp-tls-msrp.sdp",
    "sdp/accept-types-setup.sdp",
    "sdp/ipv6.sdp",
    "sdp/bare-lf-two-media.sdp",
    "sdp/no-origin.sdp",
    "multipart/quoted-boundary-preamble-epilogue.txt",
    "multipart/bare-lf.txt",
    "multipart/missing-close-delimiter.txt",
    "multipart/three-parts-binary.txt",
    "resource-lists/b-and-c.xml",
    "resource-lists/session-replaces-escaped.xml",
    "resource-lists/replaces-header.xml",
    "resource-lists/nested-display-names.xml",
    "resource-lists/no-namespace.xml",
    "resource-lists/doctype.xml",
    "resource-lists/too-many-entries.xml",
];

/// Boundaries of the multipart corpus files, so that mutated files still reach
/// the part parser rather than stopping at "no delimiter".
const BOUNDARIES: &[&str] = &["unique-boundary:1", "lf-boundary", "b7", "x"];

fn corpus(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/corpus/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 10_000,
        ..ProptestConfig::default()
    }
}

fn mixed(boundary: &str) -> MediaType {
    let mut ct = MediaType::new("multipart", "mixed");
    ct.params.push(Param::new("boundary", Some(boundary)));
    ct
}

/// Runs every decoder on `bytes`; only a panic fails.
fn decode_all(bytes: &[u8]) {
    let limits = Limits::default();
    let _ = sdp::decode(bytes);
    let _ = resource_lists::decode(bytes, &limits);
    for b in BOUNDARIES {
        let _ = multipart::decode(&mixed(b), bytes, &limits);
    }
}

/// One edit: overwrite a byte, insert a byte, delete a run, or truncate.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to the grammars are drawn more often than random ones.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"\r\n-:;=<>&\"'?%/ \t@".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Set(i, b) if len > 0 => bytes[i % len] = b,
        Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
        Mutation::Delete(i, n) if len > 0 => {
            let start = i % len;
            bytes.drain(start..(start + n).min(len));
        }
        Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
        Mutation::Set(..) | Mutation::Delete(..) => {}
    }
}

/// A part whose typed fields agree with its headers, as `decode` would build it.
fn consistent_part(headers: Vec<(String, String)>, body: Vec<u8>) -> BodyPart {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    BodyPart {
        content_type: find("Content-Type").as_deref().and_then(parse_media_type),
        disposition: find("Content-Disposition"),
        headers,
        body,
    }
}

/// A string of `len` characters drawn from `alphabet`. Cheaper than proptest's
/// regex strategies, which dominated the run time of the round-trip properties.
fn text(alphabet: &'static [u8], len: std::ops::Range<usize>) -> BoxedStrategy<String> {
    prop::collection::vec(prop::sample::select(alphabet), len)
        .prop_map(|b| String::from_utf8(b).unwrap_or_default())
        .boxed()
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";
/// RFC 2046 `bchars` without the space (a trailing space is not allowed).
const BCHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=?";

/// Printable ASCII, trimmed, as a decoder returns header values.
fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(0x20u8..0x7f, 0..24)
        .prop_map(|b| String::from_utf8(b).unwrap_or_default().trim().to_owned())
}

fn part_header() -> impl Strategy<Value = (String, String)> {
    let types = prop::sample::select(vec![
        "application/sdp",
        "application/resource-lists+xml",
        "message/cpim",
        "text/plain",
        "Multipart/Mixed",
    ]);
    let param = prop::option::of((text(LOWER, 1..6), text(TOKEN, 1..6)));
    let dispositions = prop::sample::select(vec![
        "recipient-list",
        "session",
        "render;handling=optional",
    ]);
    prop_oneof![
        (types, param).prop_map(|(t, p)| {
            let v = p.map_or(t.to_owned(), |(n, v)| format!("{t}; {n}={v}"));
            ("Content-Type".to_owned(), v)
        }),
        dispositions.prop_map(|d| ("content-disposition".to_owned(), d.to_owned())),
        (text(TOKEN, 1..12), value()).prop_map(|(n, v)| (format!("X{n}"), v)),
    ]
}

fn part() -> impl Strategy<Value = BodyPart> {
    (
        prop::collection::vec(part_header(), 0..4),
        prop::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(h, b)| consistent_part(h, b))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn list_entry() -> impl Strategy<Value = ListEntry> {
    let display = prop::collection::vec(
        prop::sample::select("aZ9 &<>\"'é\t".chars().collect::<Vec<_>>()),
        0..16,
    );
    (
        (text(LOWER, 1..8), text(LOWER, 1..8), any::<bool>()),
        prop::option::of(value().prop_filter("non-empty", |v| !v.is_empty())),
        prop::option::of(display),
    )
        .prop_map(|((user, host, method), session_replaces, display)| {
            let params = if method { ";method=INVITE" } else { "" };
            let display: Option<String> = display.map(|d| format!("[{}]", String::from_iter(d)));
            ListEntry {
                uri: cpmd_core::wire::uri::parse_uri(&format!("sip:{user}@{host}.com{params}"))
                    .expect("generated URIs are valid"),
                display_name: display,
                method: method.then(|| "INVITE".to_owned()),
                session_replaces: session_replaces.map(ContributionId::new),
                replaces: None,
            }
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decoders_survive_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn decoders_survive_mutated_corpus(
        file in 0..CORPUS.len(),
        edits in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut bytes = corpus(CORPUS[file]);
        for m in &edits {
            apply(&mut bytes, m);
        }
        decode_all(&bytes);
    }

    #[test]
    fn media_type_parser_survives_arbitrary_text(text in ".{0,64}") {
        if let Some(ct) = parse_media_type(&text) {
            prop_assert_eq!(parse_media_type(&multipart::print_media_type(&ct)), Some(ct));
        }
    }

    #[test]
    fn multipart_round_trips(
        boundary in text(BCHARS, 1..40),
        parts in prop::collection::vec(part(), 1..8),
    ) {
        let delimiter = format!("--{boundary}");
        prop_assume!(parts.iter().all(|p| !contains(&p.body, delimiter.as_bytes())));
        let printed = multipart::encode(&boundary, &parts);
        let decoded = multipart::decode(&mixed(&boundary), &printed, &Limits::default());
        prop_assert_eq!(decoded, Ok(parts));
    }

    #[test]
    fn resource_list_round_trips(entries in prop::collection::vec(list_entry(), 0..8)) {
        let list = ResourceList { entries };
        let printed = resource_lists::encode(&list);
        prop_assert_eq!(resource_lists::decode(printed.as_bytes(), &Limits::default()), Ok(list));
    }
}
