//! Body codecs against the corpus in `tests/corpus/`: one test per file, each
//! asserting the decoded fields one by one (or the exact error for a file that must
//! be refused).
//!
//! Not here: property tests (`body_props.rs`) and SIP message decoding.

use cpmd_core::body::{BodyPart, ListEntry, ResourceList};
use cpmd_core::sdp::{Sdp, SdpAttribute};
use cpmd_core::sip::MediaType;
use cpmd_core::wire::multipart::{self, parse_media_type, MultipartError};
use cpmd_core::wire::resource_lists::{self, ResourceListError};
use cpmd_core::wire::sdp::{self, SdpError};
use cpmd_core::wire::uri::print_uri;
use cpmd_core::wire::Limits;

fn corpus(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/corpus/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn sdp_file(name: &str) -> Sdp {
    let bytes = corpus(&format!("sdp/{name}"));
    let sdp = sdp::decode(&bytes).unwrap();
    assert_eq!(
        sdp.raw.as_bytes(),
        bytes.as_slice(),
        "raw is the body as received"
    );
    sdp
}

fn attr(name: &str, value: Option<&str>) -> SdpAttribute {
    SdpAttribute {
        name: name.into(),
        value: value.map(str::to_owned),
    }
}

fn multipart_file(name: &str, content_type: &str) -> Result<Vec<BodyPart>, MultipartError> {
    let ct = parse_media_type(content_type).unwrap();
    multipart::decode(
        &ct,
        &corpus(&format!("multipart/{name}")),
        &Limits::default(),
    )
}

fn list_file(name: &str) -> Result<ResourceList, ResourceListError> {
    resource_lists::decode(
        &corpus(&format!("resource-lists/{name}")),
        &Limits::default(),
    )
}

fn uri_text(e: &ListEntry) -> String {
    print_uri(&e.uri)
}

fn header(part: &BodyPart, i: usize) -> (&str, &str) {
    let (n, v) = &part.headers[i];
    (n.as_str(), v.as_str())
}

// ---------------------------------------------------------------- SDP

#[test]
fn sdp_host_names() {
    let sdp = sdp_file("host-names.sdp");
    assert_eq!(sdp.origin_address, "client.atlanta.example.com");
    assert_eq!(
        sdp.connection_address.as_deref(),
        Some("client.atlanta.example.com")
    );
    assert!(sdp.attributes.is_empty());
    assert_eq!(sdp.media.len(), 1);
    let m = &sdp.media[0];
    assert_eq!(m.media, "message");
    assert_eq!(m.port, 7394);
    assert_eq!(m.proto, "TCP/MSRP");
    assert_eq!(m.formats, vec!["*"]);
    assert_eq!(m.connection_address, None);
    assert!(m.is_msrp());
    assert!(!m.is_msrp_tls());
    assert_eq!(
        m.attributes,
        vec![
            attr("accept-types", Some("message/cpim text/plain")),
            attr(
                "path",
                Some("msrp://client.atlanta.example.com:7394/2s93i93idj;tcp")
            ),
            attr("sendrecv", None),
        ]
    );
}

#[test]
fn sdp_without_trailing_crlf_keeps_last_attribute() {
    let sdp = sdp_file("no-trailing-crlf.sdp");
    assert!(!sdp.raw.ends_with('\n'));
    assert_eq!(sdp.origin_address, "192.0.2.10");
    let m = sdp.message_media().unwrap();
    assert_eq!(m.port, 12763);
    assert_eq!(m.attributes.len(), 3);
    assert_eq!(m.attribute("setup"), Some("active"));
    assert_eq!(m.attributes[2], attr("setup", Some("active")));
    assert_eq!(
        m.msrp_path(),
        vec!["msrp://192.0.2.10:12763/kjhd37s2s20w2a;tcp"]
    );
}

#[test]
fn sdp_msrp_path_with_two_uris() {
    let sdp = sdp_file("msrp-path-two-uris.sdp");
    assert_eq!(sdp.origin_address, "relay.example.net");
    let m = sdp.message_media().unwrap();
    assert_eq!(
        m.msrp_path(),
        vec![
            "msrp://relay.example.net:2855/xyzzy;tcp",
            "msrp://client.biloxi.example.com:7777/3ab9;tcp",
        ]
    );
    assert_eq!(m.attribute("accept-types"), Some("message/cpim"));
}

#[test]
fn sdp_tcp_tls_msrp_offer_decodes() {
    let sdp = sdp_file("tcp-tls-msrp.sdp");
    assert_eq!(sdp.origin_address, "198.51.100.7");
    assert_eq!(sdp.connection_address.as_deref(), Some("198.51.100.7"));
    let m = sdp.message_media().unwrap();
    assert_eq!(m.proto, "TCP/TLS/MSRP");
    assert_eq!(m.port, 12345);
    assert!(m.is_msrp_tls());
    assert!(!m.is_msrp());
    assert_eq!(m.msrp_path(), vec!["msrps://198.51.100.7:12345/tls7cd;tcp"]);
}

#[test]
fn sdp_accept_types_wrapped_types_and_setup() {
    let sdp = sdp_file("accept-types-setup.sdp");
    assert_eq!(sdp.connection_address, None);
    assert_eq!(sdp.attributes, vec![attr("group", Some("BUNDLE 0"))]);
    let m = sdp.message_media().unwrap();
    assert_eq!(m.port, 9);
    assert_eq!(m.connection_address.as_deref(), Some("203.0.113.5"));
    assert_eq!(
        m.attribute("accept-types"),
        Some("message/cpim application/im-iscomposing+xml")
    );
    assert_eq!(
        m.attribute("accept-wrapped-types"),
        Some("text/plain message/imdn+xml application/vnd.gsma.rcs-ft-http+xml")
    );
    assert_eq!(m.attribute("setup"), Some("actpass"));
    assert_eq!(m.attributes.last(), Some(&attr("sendrecv", None)));
    assert_eq!(
        sdp.media_attribute_lines(),
        vec![
            "accept-types:message/cpim application/im-iscomposing+xml",
            "accept-wrapped-types:text/plain message/imdn+xml application/vnd.gsma.rcs-ft-http+xml",
            "setup:actpass",
            "path:msrp://203.0.113.5:9/a1b2c3;tcp",
            "sendrecv",
        ]
    );
}

#[test]
fn sdp_ipv6_connection() {
    let sdp = sdp_file("ipv6.sdp");
    assert_eq!(sdp.origin_address, "2001:db8::7");
    assert_eq!(sdp.connection_address.as_deref(), Some("::1"));
    let m = sdp.message_media().unwrap();
    assert_eq!(m.msrp_path(), vec!["msrp://[2001:db8::7]:7000/v6path;tcp"]);
    assert_eq!(m.attribute("setup"), Some("passive"));
    let printed = sdp::encode(&sdp);
    assert!(printed.contains("c=IN IP6 ::1\r\n"));
}

#[test]
fn sdp_bare_lf_with_two_media() {
    let sdp = sdp_file("bare-lf-two-media.sdp");
    assert!(!sdp.raw.contains('\r'));
    assert_eq!(sdp.origin_address, "carol.example.org");
    assert_eq!(sdp.connection_address, None);
    assert_eq!(sdp.media.len(), 2);
    let audio = &sdp.media[0];
    assert_eq!(audio.media, "audio");
    assert_eq!(audio.port, 49170);
    assert_eq!(audio.proto, "RTP/AVP");
    assert_eq!(audio.formats, vec!["0", "8", "97"]);
    assert_eq!(audio.connection_address.as_deref(), Some("198.51.100.20"));
    assert_eq!(audio.attributes, vec![attr("rtpmap", Some("97 iLBC/8000"))]);
    let m = sdp.message_media().unwrap();
    assert_eq!(m.port, 7654);
    assert_eq!(
        m.attributes,
        vec![
            attr("path", Some("msrp://carol.example.org:7654/lf;tcp")),
            attr("recvonly", None),
        ]
    );
}

#[test]
fn sdp_without_origin_is_refused() {
    assert_eq!(
        sdp::decode(&corpus("sdp/no-origin.sdp")),
        Err(SdpError::MissingOrigin)
    );
}

// ---------------------------------------------------------------- multipart

#[test]
fn multipart_quoted_boundary_preamble_epilogue() {
    let parts = multipart_file(
        "quoted-boundary-preamble-epilogue.txt",
        "multipart/mixed;boundary=\"unique-boundary:1\"",
    )
    .unwrap();
    assert_eq!(parts.len(), 2);
    let sdp_part = &parts[0];
    assert_eq!(
        sdp_part.content_type,
        Some(MediaType::new("application", "sdp"))
    );
    assert_eq!(sdp_part.disposition, None);
    assert_eq!(sdp_part.headers.len(), 1);
    assert!(sdp_part.body.starts_with(b"v=0\r\n"));
    assert!(sdp_part.body.ends_with(b"a=setup:active\r\n"));
    let sdp = sdp::decode(&sdp_part.body).unwrap();
    assert_eq!(sdp.origin_address, "alice.example.com");
    let list_part = &parts[1];
    assert!(list_part
        .content_type
        .as_ref()
        .unwrap()
        .is("application", "resource-lists+xml"));
    assert_eq!(list_part.disposition.as_deref(), Some("recipient-list"));
    assert_eq!(
        header(list_part, 0),
        ("Content-Type", "application/resource-lists+xml")
    );
    assert_eq!(
        header(list_part, 1),
        ("Content-Disposition", "recipient-list")
    );
    assert!(list_part.body.ends_with(b"</resource-lists>\r\n"));
    let list = resource_lists::decode(&list_part.body, &Limits::default()).unwrap();
    assert_eq!(list.entries.len(), 2);
}

#[test]
fn multipart_bare_lf_and_folded_header() {
    let parts = multipart_file("bare-lf.txt", "multipart/mixed; boundary=lf-boundary").unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(header(&parts[0], 0), ("content-type", "application/sdp"));
    assert!(parts[0].body.ends_with(b"a=setup:active\n"));
    assert!(!parts[0].body.contains(&b'\r'));
    assert_eq!(
        sdp::decode(&parts[0].body).unwrap().origin_address,
        "alice.example.com"
    );
    let ct = parts[1].content_type.as_ref().unwrap();
    assert!(ct.is("application", "resource-lists+xml"));
    assert_eq!(ct.param("charset"), Some("UTF-8"));
    assert_eq!(
        header(&parts[1], 0),
        (
            "CONTENT-TYPE",
            "application/resource-lists+xml;  charset=UTF-8"
        )
    );
    assert_eq!(parts[1].disposition.as_deref(), Some("recipient-list"));
    assert!(parts[1].body.ends_with(b"</resource-lists>\n"));
}

#[test]
fn multipart_missing_close_delimiter_is_refused() {
    assert_eq!(
        multipart_file("missing-close-delimiter.txt", "multipart/mixed;boundary=b7"),
        Err(MultipartError::MissingCloseDelimiter)
    );
}

#[test]
fn multipart_binary_part_near_miss_delimiters_and_empty_body() {
    let parts = multipart_file("three-parts-binary.txt", "multipart/mixed;boundary=x").unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts[0].content_type,
        Some(MediaType::new("application", "octet-stream"))
    );
    assert_eq!(parts[0].body, b"\x00\x01--x not a delimiter\r\n--xy\r\n");
    assert_eq!(parts[1].content_type, None);
    assert!(parts[1].headers.is_empty());
    assert_eq!(parts[1].body, b"no headers, default text/plain");
    let ct = parts[2].content_type.as_ref().unwrap();
    assert!(ct.is("text", "plain"));
    assert_eq!(ct.param("charset"), Some("us-ascii"));
    assert_eq!(header(&parts[2], 1), ("Content-ID", "<p3@example.com>"));
    assert_eq!(parts[2].body, b"");
}

// ---------------------------------------------------------------- resource lists

#[test]
fn resource_list_b_and_c() {
    let list = list_file("b-and-c.xml").unwrap();
    assert_eq!(list.entries.len(), 2);
    let b = &list.entries[0];
    assert_eq!(uri_text(b), "sip:bob@example.com;method=INVITE");
    assert_eq!(b.method.as_deref(), Some("INVITE"));
    assert_eq!(
        b.session_replaces.as_ref().map(|c| c.as_str()),
        Some("1b8e5f0c-6a3d")
    );
    assert_eq!(b.replaces, None);
    assert_eq!(b.display_name, None);
    let c = &list.entries[1];
    assert_eq!(uri_text(c), "sip:carol@example.com");
    assert_eq!(c.method, None);
    assert_eq!(c.session_replaces, None);
    assert_eq!(c.replaces, None);
}

#[test]
fn resource_list_xml_escaped_session_replaces() {
    let list = list_file("session-replaces-escaped.xml").unwrap();
    assert_eq!(list.entries.len(), 1);
    let b = &list.entries[0];
    assert_eq!(uri_text(b), "sip:bob@example.com;method=INVITE");
    assert_eq!(b.method.as_deref(), Some("INVITE"));
    // `&amp;` separated two URI headers; `%40` decoded to `@`; `X-Other` dropped.
    assert_eq!(
        b.session_replaces.as_ref().map(|c| c.as_str()),
        Some("c0ffee@alice.example.com")
    );
    assert_eq!(b.replaces, None);
}

#[test]
fn resource_list_replaces_uri_header() {
    let list = list_file("replaces-header.xml").unwrap();
    let b = &list.entries[0];
    assert_eq!(uri_text(b), "sip:bob@example.com;method=INVITE");
    assert_eq!(
        b.session_replaces.as_ref().map(|c| c.as_str()),
        Some("1b8e5f0c-6a3d")
    );
    let r = b.replaces.as_ref().unwrap();
    assert_eq!(r.call_id.as_str(), "abc@host");
    assert_eq!(r.to_tag.as_str(), "1");
    assert_eq!(r.from_tag.as_str(), "2");
    assert!(!r.early_only);
}

#[test]
fn resource_list_nested_lists_with_prefix_and_display_names() {
    let list = list_file("nested-display-names.xml").unwrap();
    let uris: Vec<_> = list.entries.iter().map(uri_text).collect();
    assert_eq!(
        uris,
        vec![
            "sip:bob@example.com",
            "tel:+15551234567",
            "sip:dave@example.com"
        ]
    );
    let names: Vec<_> = list
        .entries
        .iter()
        .map(|e| e.display_name.as_deref())
        .collect();
    assert_eq!(names, vec![Some("Bob"), Some("Carol & Co"), None]);
    assert!(list.entries.iter().all(|e| e.method.is_none()));
}

#[test]
fn resource_list_without_namespace_is_tolerated() {
    let list = list_file("no-namespace.xml").unwrap();
    assert_eq!(list.entries.len(), 1);
    assert_eq!(uri_text(&list.entries[0]), "sip:bob@example.com");
}

#[test]
fn resource_list_with_doctype_is_refused() {
    assert_eq!(list_file("doctype.xml"), Err(ResourceListError::Dtd));
}

#[test]
fn resource_list_with_too_many_entries_is_refused() {
    assert_eq!(
        list_file("too-many-entries.xml"),
        Err(ResourceListError::TooManyEntries(64))
    );
    let roomy = Limits {
        max_list_entries: 65,
        ..Limits::default()
    };
    let list =
        resource_lists::decode(&corpus("resource-lists/too-many-entries.xml"), &roomy).unwrap();
    assert_eq!(list.entries.len(), 65);
    assert_eq!(uri_text(&list.entries[64]), "sip:user64@example.com");
}

#[test]
fn resource_list_round_trips_through_encode() {
    let list = list_file("replaces-header.xml").unwrap();
    let printed = resource_lists::encode(&list);
    assert_eq!(
        resource_lists::decode(printed.as_bytes(), &Limits::default()),
        Ok(list)
    );
}
