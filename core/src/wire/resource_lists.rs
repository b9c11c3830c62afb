//! RFC 4826 `resource-lists` documents (the RFC 5366 recipient list of a group
//! INVITE) ⇄ the core's flat [`ResourceList`].
//!
//! Decoding uses `roxmltree` with DTDs refused (no entity tricks) and a node limit
//! derived from [`Limits`]. Every `<entry>` of every `<list>`, nested or not, comes
//! out in document order. An entry URI may carry URI headers (`?Session-Replaces=..&
//! Replaces=..`, specs/extension.md): the XML parser has already unescaped the
//! attribute, we then split the headers off and percent-decode their values.
//!
//! What this is *not*: a full RFC 4826 model. `<entry-ref>`, `<external>`, list
//! names and display names of lists, and URI headers other than `Session-Replaces`
//! and `Replaces` are dropped; RFC 5364 copy control is printed (`to`) but not read.

use super::uri::{parse_replaces, parse_uri, print_uri};
use super::Limits;
use crate::body::{ListEntry, ResourceList};
use crate::ids::{CallId, ContributionId, Tag};
use crate::sip::Replaces;
use crate::uri::percent_decode;
use roxmltree::{Document, Node, ParsingOptions};

/// The RFC 4826 namespace.
pub const NAMESPACE: &str = "urn:ietf:params:xml:ns:resource-lists";
/// The RFC 5364 copy-control namespace, used by [`encode`].
pub const COPY_CONTROL_NAMESPACE: &str = "urn:ietf:params:xml:ns:copycontrol";

/// Why a body is not a usable resource list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceListError {
    /// The document is not UTF-8 (the only encoding we accept; RFC 4826 uses it).
    #[error("resource list is not utf-8")]
    NotUtf8,
    /// The document has a DOCTYPE; refused so that no entity can be declared.
    #[error("dtd not allowed")]
    Dtd,
    /// The document is not well-formed XML, or has too many nodes.
    #[error("xml: {0}")]
    Xml(String),
    /// The root element is not `resource-lists` (in the RFC 4826 namespace or none).
    #[error("root element is not resource-lists")]
    NotResourceLists,
    /// More entries than [`Limits::max_list_entries`].
    #[error("too many entries (limit {0})")]
    TooManyEntries(usize),
    /// An `<entry>` without its mandatory `uri` attribute.
    #[error("entry without uri")]
    MissingUri,
    /// The entry URI (without its headers) did not parse.
    #[error("bad entry uri: {0}")]
    BadUri(String),
    /// A `Session-Replaces` URI header with an empty value.
    #[error("empty session-replaces")]
    BadSessionReplaces,
    /// A `Replaces` URI header that is not `call-id;to-tag=..;from-tag=..`.
    #[error("bad replaces: {0}")]
    BadReplaces(String),
    /// `Session-Replaces` or `Replaces` given twice in one entry: which session
    /// is replaced would be ambiguous.
    #[error("duplicate uri header {0}")]
    DuplicateUriHeader(String),
}

/// Decodes a `resource-lists` document into its entries, in document order.
pub fn decode(xml: &[u8], limits: &Limits) -> Result<ResourceList, ResourceListError> {
    let text = std::str::from_utf8(xml).map_err(|_| ResourceListError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = Document::parse_with_options(text, options(limits)).map_err(xml_error)?;
    let root = doc.root_element();
    if !is_rl(root, "resource-lists") {
        return Err(ResourceListError::NotResourceLists);
    }
    let mut entries = Vec::new();
    for node in root.descendants().filter(|n| is_listed_entry(*n, root)) {
        if entries.len() >= limits.max_list_entries {
            return Err(ResourceListError::TooManyEntries(limits.max_list_entries));
        }
        entries.push(entry(node)?);
    }
    Ok(ResourceList { entries })
}

/// DTDs stay refused (the default, kept explicit); the node limit bounds memory
/// for a document far bigger than any list we accept needs (an entry with a
/// display name is about five nodes counting whitespace).
fn options<'a>(limits: &Limits) -> ParsingOptions<'a> {
    let nodes = limits
        .max_list_entries
        .saturating_mul(16)
        .saturating_add(256);
    ParsingOptions {
        allow_dtd: false,
        nodes_limit: u32::try_from(nodes).unwrap_or(u32::MAX),
        ..ParsingOptions::default()
    }
}

fn xml_error(e: roxmltree::Error) -> ResourceListError {
    if matches!(e, roxmltree::Error::DtdDetected) {
        ResourceListError::Dtd
    } else {
        ResourceListError::Xml(e.to_string().to_ascii_lowercase())
    }
}

/// An element with this local name in the RFC 4826 namespace or in none (some
/// clients forget the `xmlns`; the element names alone are unambiguous here).
fn is_rl(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && matches!(node.tag_name().namespace(), None | Some(NAMESPACE))
}

/// An `<entry>` whose ancestors up to the root are all `<list>`s (an `entry` inside
/// some extension element is not a list member).
fn is_listed_entry(node: Node<'_, '_>, root: Node<'_, '_>) -> bool {
    if !is_rl(node, "entry") {
        return false;
    }
    for a in node.ancestors().skip(1) {
        if a == root {
            return true;
        }
        if !is_rl(a, "list") {
            return false;
        }
    }
    false
}

fn entry(node: Node<'_, '_>) -> Result<ListEntry, ResourceListError> {
    let text = node.attribute("uri").ok_or(ResourceListError::MissingUri)?;
    let text = text.trim();
    let (base, headers) = match text.split_once('?') {
        Some((b, h)) => (b, Some(h)),
        None => (text, None),
    };
    if base.is_empty() {
        return Err(ResourceListError::BadUri("empty".into()));
    }
    let uri = parse_uri(base).map_err(|e| ResourceListError::BadUri(e.to_string()))?;
    let mut out = ListEntry {
        uri,
        display_name: display_name(node),
        method: method_param(base),
        session_replaces: None,
        replaces: None,
    };
    for (name, value) in headers.map(uri_headers).unwrap_or_default() {
        apply_header(&mut out, &name, value)?;
    }
    Ok(out)
}

/// All text inside `<display-name>`, trimmed; `None` when absent or blank.
fn display_name(node: Node<'_, '_>) -> Option<String> {
    let d = node.children().find(|c| is_rl(*c, "display-name"))?;
    let text: String = d
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The `method` parameter of a `sip:`/`sips:` URI. Parameters follow the host, so
/// they are looked for after the last `@` (a user part may contain `;`).
fn method_param(base: &str) -> Option<String> {
    let (scheme, rest) = base.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return None;
    }
    let host_and_params = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    host_and_params
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("method"))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `name=value&...`, names and values percent-decoded; empty pieces skipped.
fn uri_headers(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|h| !h.is_empty())
        .map(|h| {
            let (n, v) = h.split_once('=').unwrap_or((h, ""));
            (percent_decode(n), percent_decode(v))
        })
        .collect()
}

fn apply_header(e: &mut ListEntry, name: &str, value: String) -> Result<(), ResourceListError> {
    let duplicate = || ResourceListError::DuplicateUriHeader(name.to_owned());
    if name.eq_ignore_ascii_case("Session-Replaces") {
        if e.session_replaces.is_some() {
            return Err(duplicate());
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(ResourceListError::BadSessionReplaces);
        }
        e.session_replaces = Some(ContributionId::new(value));
    } else if name.eq_ignore_ascii_case("Replaces") {
        if e.replaces.is_some() {
            return Err(duplicate());
        }
        let parsed = parse_replaces(&value)
            .ok()
            .or_else(|| replaces_fallback(&value));
        e.replaces = Some(parsed.ok_or(ResourceListError::BadReplaces(value))?);
    }
    Ok(())
}

/// A minimal RFC 3891 `Replaces` reader, used only when `wire::uri::parse_replaces`
/// refuses a value (that parser is the reference; this keeps lists usable while it
/// is being written). Unknown parameters are ignored, as RFC 3891 allows.
fn replaces_fallback(text: &str) -> Option<Replaces> {
    let mut pieces = text.split(';');
    let call_id = pieces.next()?.trim();
    let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
    for p in pieces {
        match p.split_once('=') {
            Some((n, v)) if n.trim().eq_ignore_ascii_case("to-tag") => to_tag = Some(v.trim()),
            Some((n, v)) if n.trim().eq_ignore_ascii_case("from-tag") => {
                from_tag = Some(v.trim());
            }
            None if p.trim().eq_ignore_ascii_case("early-only") => early_only = true,
            _ => {}
        }
    }
    let (to_tag, from_tag) = (to_tag?, from_tag?);
    if call_id.is_empty() || to_tag.is_empty() || from_tag.is_empty() {
        return None;
    }
    Some(Replaces {
        call_id: CallId::new(call_id),
        to_tag: Tag::new(to_tag),
        from_tag: Tag::new(from_tag),
        early_only,
    })
}

/// Prints a `resource-lists` document with one `<list>` holding every entry, each
/// marked `cp:copyControl="to"` (RFC 5364). `Session-Replaces` and `Replaces` go
/// back into the URI as percent-encoded URI headers; `method` is not printed
/// separately (it is read from the URI, which still carries it). Characters XML 1.0
/// cannot carry at all (control characters other than tab, CR, LF) are dropped.
pub fn encode(list: &ResourceList) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n");
    out.push_str(&format!(
        "<resource-lists xmlns=\"{NAMESPACE}\" xmlns:cp=\"{COPY_CONTROL_NAMESPACE}\">\r\n<list>\r\n"
    ));
    for e in &list.entries {
        out.push_str(&format!(
            "<entry uri=\"{}\" cp:copyControl=\"to\"",
            escape_xml(&entry_uri(e), true)
        ));
        match &e.display_name {
            Some(d) => out.push_str(&format!(
                "><display-name>{}</display-name></entry>\r\n",
                escape_xml(d, false)
            )),
            None => out.push_str("/>\r\n"),
        }
    }
    out.push_str("</list>\r\n</resource-lists>\r\n");
    out
}

/// The entry's URI text with its `Session-Replaces` / `Replaces` URI headers.
fn entry_uri(e: &ListEntry) -> String {
    let mut text = print_uri(&e.uri);
    let mut headers = Vec::new();
    if let Some(s) = &e.session_replaces {
        headers.push(format!("Session-Replaces={}", percent_encode(s.as_str())));
    }
    if let Some(r) = &e.replaces {
        headers.push(format!("Replaces={}", percent_encode(&print_replaces(r))));
    }
    if !headers.is_empty() {
        // A URI that already has headers continues them with `&`.
        text.push(if text.contains('?') { '&' } else { '?' });
        text.push_str(&headers.join("&"));
    }
    text
}

fn print_replaces(r: &Replaces) -> String {
    let early = if r.early_only { ";early-only" } else { "" };
    format!(
        "{};to-tag={};from-tag={}{early}",
        r.call_id.as_str(),
        r.to_tag.as_str(),
        r.from_tag.as_str()
    )
}

/// Escapes everything but RFC 3986 unreserved marks and alphanumerics, so that `;`,
/// `=`, `@`, `&` and `?` inside a header value cannot be read as URI syntax.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// XML escaping for text and (with `attribute`) double-quoted attribute values.
/// In attributes, tab/CR/LF become character references so that attribute-value
/// normalisation does not turn them into spaces; in text, CR does (line-end
/// normalisation would drop it).
fn escape_xml(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' | '\n' if attribute => out.push_str(&format!("&#{};", u32::from(c))),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() && u32::from(c) < 0x20 => {}
            '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(body: &str) -> String {
        format!("<?xml version=\"1.0\"?><resource-lists xmlns=\"{NAMESPACE}\"><list>{body}</list></resource-lists>")
    }

    #[test]
    fn entries_of_nested_lists_in_document_order() {
        let xml = doc(
            "<entry uri=\"sip:a@x\"/><list><entry uri=\"sip:b@x\"/></list>\
             <entry uri=\"sip:c@x\"><display-name> C </display-name></entry>",
        );
        let list = decode(xml.as_bytes(), &Limits::default()).unwrap();
        let uris: Vec<_> = list.entries.iter().map(|e| print_uri(&e.uri)).collect();
        assert_eq!(uris, ["sip:a@x", "sip:b@x", "sip:c@x"]);
        assert_eq!(list.entries[2].display_name.as_deref(), Some("C"));
    }

    #[test]
    fn entries_outside_lists_are_not_members() {
        let xml = format!(
            "<resource-lists xmlns=\"{NAMESPACE}\"><x:ext xmlns:x=\"urn:x\">\
             <entry uri=\"sip:z@x\"/></x:ext><list><entry uri=\"sip:a@x\"/></list></resource-lists>"
        );
        let list = decode(xml.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(list.entries.len(), 1);
    }

    #[test]
    fn method_is_read_after_the_host() {
        assert_eq!(
            method_param("sip:a;method=X@h;method=INVITE").as_deref(),
            Some("INVITE")
        );
        assert_eq!(method_param("tel:+1;method=INVITE"), None);
        assert_eq!(method_param("sip:a@h"), None);
    }

    #[test]
    fn replaces_fallback_reads_rfc3891_values() {
        let r = replaces_fallback("abc@host;from-tag=2;to-tag=1;early-only;x=y").unwrap();
        assert_eq!(r.call_id.as_str(), "abc@host");
        assert_eq!(r.to_tag.as_str(), "1");
        assert_eq!(r.from_tag.as_str(), "2");
        assert!(r.early_only);
        assert_eq!(replaces_fallback("abc;to-tag=1"), None);
        assert_eq!(replaces_fallback(";to-tag=1;from-tag=2"), None);
    }

    #[test]
    fn header_errors() {
        let l = Limits::default();
        let bad = |uri: &str| decode(doc(&format!("<entry uri=\"{uri}\"/>")).as_bytes(), &l);
        assert_eq!(
            bad("sip:a@x?Session-Replaces="),
            Err(ResourceListError::BadSessionReplaces)
        );
        assert_eq!(
            bad("sip:a@x?Session-Replaces=1&amp;session-replaces=2"),
            Err(ResourceListError::DuplicateUriHeader(
                "session-replaces".into()
            ))
        );
        assert!(matches!(
            bad("sip:a@x?Replaces=x"),
            Err(ResourceListError::BadReplaces(_))
        ));
        assert!(matches!(bad("?x=y"), Err(ResourceListError::BadUri(_))));
        assert_eq!(
            decode(doc("<entry/>").as_bytes(), &l),
            Err(ResourceListError::MissingUri)
        );
        assert_eq!(
            decode(b"<other/>", &l),
            Err(ResourceListError::NotResourceLists)
        );
        assert_eq!(decode(b"\xff", &l), Err(ResourceListError::NotUtf8));
        assert!(matches!(decode(b"<a>", &l), Err(ResourceListError::Xml(_))));
    }

    #[test]
    fn encode_escapes_and_round_trips() {
        let list = ResourceList {
            entries: vec![ListEntry {
                uri: crate::wire::uri::parse_uri("sip:b@x;method=INVITE").expect("valid uri"),
                display_name: Some("B & \"co\" <b>\r\n\tx".into()),
                method: Some("INVITE".into()),
                session_replaces: Some(ContributionId::new("c&d=%?\t\"é")),
                replaces: Some(Replaces {
                    call_id: CallId::new("abc@host"),
                    to_tag: Tag::new("1"),
                    from_tag: Tag::new("2"),
                    early_only: true,
                }),
            }],
        };
        let xml = encode(&list);
        assert!(xml.contains("Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2%3Bearly-only"));
        assert_eq!(decode(xml.as_bytes(), &Limits::default()), Ok(list));
    }

    #[test]
    fn attribute_character_references_survive_normalisation() {
        let xml = doc("<entry uri=\"sip:a@x?Session-Replaces=a&#9;b\"/>");
        let list = decode(xml.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(
            list.entries[0].session_replaces,
            Some(ContributionId::new("a\tb"))
        );
    }
}
