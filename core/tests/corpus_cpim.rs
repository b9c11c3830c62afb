//! CPIM (RFC 3862) and IMDN (RFC 5438) corpus: the files of `tests/corpus/cpim/` are
//! `message/cpim` bodies as terminals send them over MSRP or in a pager MESSAGE. One
//! test per file, asserting the decoded fields one by one; `01`–`08` must decode (and
//! print back to the same value), `50`–`54` are refused with the asserted error. Not a
//! fuzz test (see `cpim_props.rs`).

use cpmd_core::cpim::{addr_uri, unescape, CpimHeader, CpimMessage};
use cpmd_core::server::Disposition;
use cpmd_core::wire::cpim_codec::{self as cpim, CpimError};
use cpmd_core::wire::imdn::{self, Imdn};
use cpmd_core::wire::Limits;

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/corpus/cpim/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decodes a file that must decode, and checks that printing it decodes to the same
/// value (files with CRLF and no escapes also print back byte for byte).
fn file(name: &str) -> CpimMessage {
    let bytes = load(name);
    let m = cpim::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(cpim::decode(&cpim::encode(&m)), Ok(m.clone()), "{name}");
    m
}

fn names(m: &CpimMessage) -> Vec<&str> {
    m.headers.iter().map(|h| h.name.as_str()).collect()
}

fn content_headers(m: &CpimMessage) -> Vec<(&str, &str)> {
    m.content_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

#[test]
fn cpim_01_plain_text() {
    let m = file("01-plain-text.cpim");
    assert_eq!(
        names(&m),
        [
            "From",
            "To",
            "DateTime",
            "NS",
            "imdn.Message-ID",
            "imdn.Disposition-Notification"
        ]
    );
    assert_eq!(m.from(), Some("Alice <sip:alice@example.com>"));
    assert_eq!(addr_uri(m.from().unwrap()), "sip:alice@example.com");
    assert_eq!(m.to(), ["Bob <sip:bob@example.com>"]);
    assert_eq!(m.datetime(), Some("2024-05-06T07:08:09.123Z"));
    assert_eq!(m.imdn_message_id(), Some("Uo323jsd2"));
    assert_eq!(
        m.disposition_notification(),
        ["positive-delivery", "display"]
    );
    assert!(!m.is_imdn());
    assert_eq!(m.content_type, "text/plain; charset=utf-8");
    assert_eq!(content_headers(&m), [("Content-Length", "13")]);
    assert_eq!(m.body, b"Hello, Bob!\r\n");
    assert_eq!(cpim::encode(&m), load("01-plain-text.cpim"));
}

#[test]
fn cpim_02_imdn_delivered() {
    let m = file("02-imdn-delivered.cpim");
    assert_eq!(m.from(), Some("<sip:bob@example.com>"));
    assert_eq!(m.to(), ["<sip:alice@example.com>"]);
    assert_eq!(m.imdn_message_id(), Some("d834jied93"));
    assert_eq!(m.datetime(), Some("2024-05-06T07:08:10Z"));
    assert!(m.disposition_notification().is_empty());
    assert!(m.is_imdn());
    assert_eq!(m.content_type, "message/imdn+xml");
    assert_eq!(
        content_headers(&m),
        [
            ("Content-Disposition", "notification"),
            ("Content-Length", "410")
        ]
    );
    assert_eq!(m.body.len(), 410);
    assert!(m.body.starts_with(b"<?xml"));
    assert_eq!(
        imdn::decode(&m.body),
        Ok(Imdn {
            message_id: "Uo323jsd2".into(),
            datetime: Some("2024-05-06T07:08:09.123Z".into()),
            recipient_uri: Some("sip:bob@example.com".into()),
            original_recipient_uri: Some("sip:bob@example.com".into()),
            disposition: Disposition::Delivered,
        })
    );
    assert_eq!(cpim::encode(&m), load("02-imdn-delivered.cpim"));
}

#[test]
fn cpim_03_ns_with_another_prefix() {
    let m = file("03-ns-other-prefix.cpim");
    // `imdn.` is not declared: only `rcs.` is the IMDN namespace here.
    assert_eq!(m.imdn_message_id(), Some("7da2c5a1-real"));
    assert_eq!(m.disposition_notification(), ["display"]);
    assert_eq!(
        m.prefixes_of("urn:ietf:params:imdn").collect::<Vec<_>>(),
        ["rcs"]
    );
    assert_eq!(
        m.ns_header_values("mid:MessageFeatures@id.foo.com", "VitalMessageOption"),
        ["Confirmation-requested"]
    );
    assert_eq!(m.datetime(), Some("2024-05-06T07:08:11+02:00"));
    assert_eq!(m.content_type, "text/plain");
    assert!(m.content_headers.is_empty());
    assert_eq!(m.body, b"prefix is rcs\r\n");
}

#[test]
fn cpim_04_anonymous_from() {
    let m = file("04-anonymous-from.cpim");
    assert_eq!(m.from(), Some("<sip:anonymous@anonymous.invalid>"));
    assert_eq!(
        addr_uri(m.from().unwrap()),
        "sip:anonymous@anonymous.invalid"
    );
    assert_eq!(m.to(), ["<sip:anonymous@anonymous.invalid>"]);
    assert_eq!(m.imdn_message_id(), Some("anon-1"));
    assert_eq!(m.content_type, "text/plain;charset=UTF-8");
    assert_eq!(m.body, b"who am I\r\n");
}

#[test]
fn cpim_05_multiple_to_cc_and_escaped_subject() {
    let m = file("05-multiple-to.cpim");
    assert_eq!(m.from(), Some("\"Alice A.\" <sip:alice@example.com>"));
    assert_eq!(
        m.to(),
        [
            "<sip:bob@example.com>",
            "Carol <sip:carol@example.com>",
            "<tel:+15551234567>"
        ]
    );
    let uris: Vec<_> = m.to().into_iter().map(addr_uri).collect();
    assert_eq!(
        uris,
        [
            "sip:bob@example.com",
            "sip:carol@example.com",
            "tel:+15551234567"
        ]
    );
    assert_eq!(
        m.header_values("cc").collect::<Vec<_>>(),
        ["<sip:dave@example.com>"]
    );
    let subject = m.header_values("Subject").next().unwrap();
    assert_eq!(subject, r";lang=fr Bonjour\u00e0 tous");
    assert_eq!(unescape(subject), ";lang=fr Bonjour\u{e0} tous");
    assert_eq!(m.imdn_message_id(), Some("grp-42"));
    assert_eq!(
        m.headers[6],
        CpimHeader::new("NS", "imdn <urn:ietf:params:imdn>")
    );
    assert_eq!(m.body, b"hi all\r\n");
}

#[test]
fn cpim_06_binary_body_is_kept_byte_for_byte() {
    let m = file("06-binary-body.cpim");
    let mut expected: Vec<u8> = (0..=255u8).collect();
    expected.extend_from_slice(b"\r\n\r\n\n\x00");
    assert_eq!(m.body, expected);
    assert_eq!(m.content_type, "application/octet-stream");
    assert_eq!(
        content_headers(&m),
        [("Content-Transfer-Encoding", "binary")]
    );
    assert_eq!(m.imdn_message_id(), Some("bin-1"));
    assert_eq!(cpim::encode(&m), load("06-binary-body.cpim"));
}

#[test]
fn cpim_07_bare_lf_is_accepted() {
    let m = file("07-bare-lf.cpim");
    assert_eq!(m.from(), Some("<sip:alice@example.com>"));
    assert_eq!(m.to(), ["<sip:bob@example.com>"]);
    assert_eq!(m.imdn_message_id(), Some("lf-1"));
    assert_eq!(m.content_type, "text/plain");
    // The content after the empty line is exact, LF and no final line end included.
    assert_eq!(m.body, b"line one\nline two");
    // The printer writes CRLF in the header blocks.
    let printed = cpim::encode(&m);
    assert!(printed.starts_with(b"From: <sip:alice@example.com>\r\n"));
    assert!(printed.ends_with(b"\r\n\r\nline one\nline two"));
}

#[test]
fn cpim_08_imdn_displayed_without_ns_header() {
    let m = file("08-imdn-displayed-no-ns.cpim");
    // No NS header: the conventional `imdn.` prefix is accepted.
    assert_eq!(m.imdn_message_id(), Some("disp-7"));
    assert_eq!(m.from(), Some("<sip:anonymous@anonymous.invalid>"));
    assert!(m.is_imdn());
    assert_eq!(m.content_type, "message/imdn+xml; charset=utf-8");
    assert_eq!(
        content_headers(&m),
        [("Content-Disposition", "notification")]
    );
    let report = imdn::decode(&m.body).unwrap();
    assert_eq!(report.message_id, "grp-42");
    assert_eq!(report.datetime.as_deref(), Some("2024-05-06T07:08:13Z"));
    assert_eq!(report.recipient_uri, None);
    assert_eq!(report.original_recipient_uri, None);
    assert_eq!(report.disposition, Disposition::Displayed);
}

#[test]
fn cpim_50_missing_blank_line_is_refused() {
    assert_eq!(
        cpim::decode(&load("50-missing-blank-line.cpim")),
        Err(CpimError::UnterminatedContentHeaders)
    );
}

#[test]
fn cpim_51_header_without_colon_is_refused() {
    assert_eq!(
        cpim::decode(&load("51-bad-header.cpim")),
        Err(CpimError::BadHeader("bad header name".into()))
    );
}

#[test]
fn cpim_52_oversized_headers_are_refused() {
    let bytes = load("52-oversized-headers.cpim");
    let tight = Limits {
        max_header_bytes: 128,
        ..Limits::default()
    };
    assert_eq!(
        cpim::decode_with(&bytes, &tight),
        Err(CpimError::HeadersTooLarge { limit: 128 })
    );
    let few = Limits {
        max_header_count: 3,
        ..Limits::default()
    };
    assert_eq!(
        cpim::decode_with(&bytes, &few),
        Err(CpimError::TooManyHeaders { limit: 3 })
    );
    // Within the default limits the same file decodes.
    let m = cpim::decode(&bytes).unwrap();
    assert_eq!(m.header_values("X-Padding").next().map(str::len), Some(200));
    assert_eq!(m.body, b"hello\r\n");
}

#[test]
fn cpim_default_limit_refuses_16_kib_of_headers() {
    let mut body = b"From: <sip:a@example.com>\r\nX-Big: ".to_vec();
    body.extend(std::iter::repeat_n(b'x', 16 * 1024));
    body.extend_from_slice(b"\r\n\r\nContent-Type: text/plain\r\n\r\nx");
    assert_eq!(
        cpim::decode(&body),
        Err(CpimError::HeadersTooLarge { limit: 16 * 1024 })
    );
    // A body with no line end at all is refused without scanning all of it.
    let flat = vec![b'y'; 1 << 20];
    assert_eq!(
        cpim::decode(&flat),
        Err(CpimError::HeadersTooLarge { limit: 16 * 1024 })
    );
}

#[test]
fn cpim_53_missing_content_type_is_refused() {
    assert_eq!(
        cpim::decode(&load("53-missing-content-type.cpim")),
        Err(CpimError::MissingContentType)
    );
}

#[test]
fn cpim_54_body_without_blank_line_reads_as_a_bad_header() {
    assert_eq!(
        cpim::decode(&load("54-no-blank-line-before-body.cpim")),
        Err(CpimError::BadHeader("no colon".into()))
    );
}
