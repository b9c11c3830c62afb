//! IMDN (RFC 5438) notification bodies (`message/imdn+xml`, carried inside CPIM) ⇄
//! [`Imdn`].
//!
//! Decoding uses `roxmltree` with DTDs refused (no entity tricks) and a small node
//! limit: a notification is a dozen elements. The root is `<imdn>` in the
//! `urn:ietf:params:xml:ns:imdn` namespace (or in none: the element names alone are
//! unambiguous, and some clients forget the `xmlns`). It must hold a non-empty
//! `<message-id>` and exactly one `<delivery-notification>` or
//! `<display-notification>` whose `<status>` names one disposition:
//!
//! | notification | status | [`Disposition`] |
//! |---|---|---|
//! | delivery | `delivered` | `Delivered` |
//! | delivery | `failed`, `forbidden`, `error` | `Failed` |
//! | display | `displayed` | `Displayed` |
//! | display | `forbidden`, `error` | `Failed` |
//!
//! What this is *not*: `<processing-notification>` (RFC 5438 §7.2.1.3, a
//! store-and-forward server's report; RCS does not use it) is refused as
//! [`ImdnError::UnsupportedNotification`]; `<subject>` and extension elements are
//! ignored; texts are trimmed but not validated (URIs and the date stay text).

use crate::record::Disposition;
use roxmltree::{Document, Node, ParsingOptions};

/// The RFC 5438 XML namespace.
pub const NAMESPACE: &str = "urn:ietf:params:xml:ns:imdn";

/// Largest document accepted, in bytes (a notification is a few hundred).
pub const MAX_IMDN_BYTES: usize = 16 * 1024;

/// One delivery or display notification.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Imdn {
    /// The `imdn.Message-ID` of the message this reports on.
    pub message_id: String,
    /// When the original message was sent (`<datetime>`, RFC 3339).
    pub datetime: Option<String>,
    /// The recipient that reports (`<recipient-uri>`).
    pub recipient_uri: Option<String>,
    /// The recipient the original message was addressed to (`<original-recipient-uri>`).
    pub original_recipient_uri: Option<String>,
    /// What happened.
    pub disposition: Disposition,
}

/// Why a body is not a usable IMDN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ImdnError {
    /// Larger than [`MAX_IMDN_BYTES`].
    #[error("imdn too large (limit {MAX_IMDN_BYTES} bytes)")]
    TooLarge,
    /// The document is not UTF-8.
    #[error("imdn is not utf-8")]
    NotUtf8,
    /// The document has a DOCTYPE; refused so that no entity can be declared.
    #[error("dtd not allowed")]
    Dtd,
    /// Not well-formed XML, or too many nodes.
    #[error("xml: {0}")]
    Xml(String),
    /// The root element is not `imdn`.
    #[error("root element is not imdn")]
    NotImdn,
    /// No (or an empty) `<message-id>`.
    #[error("imdn without message-id")]
    MissingMessageId,
    /// Neither a delivery nor a display notification, or more than one.
    #[error("imdn needs exactly one delivery or display notification")]
    NoNotification,
    /// A notification kind we do not take (`processing-notification`).
    #[error("unsupported notification {0}")]
    UnsupportedNotification(String),
    /// The `<status>` is missing or names no disposition this notification allows.
    #[error("bad status in {0}")]
    BadStatus(String),
}

/// Decodes an IMDN document.
pub fn decode(xml: &[u8]) -> Result<Imdn, ImdnError> {
    if xml.len() > MAX_IMDN_BYTES {
        return Err(ImdnError::TooLarge);
    }
    let text = std::str::from_utf8(xml).map_err(|_| ImdnError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: 512,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| {
        if matches!(e, roxmltree::Error::DtdDetected) {
            ImdnError::Dtd
        } else {
            ImdnError::Xml(e.to_string().to_ascii_lowercase())
        }
    })?;
    let root = doc.root_element();
    if !is_imdn(root, "imdn") {
        return Err(ImdnError::NotImdn);
    }
    let message_id = child_text(root, "message-id")
        .filter(|s| !s.is_empty())
        .ok_or(ImdnError::MissingMessageId)?;
    let imdn = Imdn {
        message_id,
        datetime: child_text(root, "datetime"),
        recipient_uri: child_text(root, "recipient-uri"),
        original_recipient_uri: child_text(root, "original-recipient-uri"),
        disposition: disposition(root)?,
    };
    // What is accepted must print to a document that is accepted again (LIM-10), and
    // printing can be longer than the input: text may hold a raw `>` (printed `&gt;`)
    // or CDATA. Found by the `imdn` fuzz target (core/fuzz/regressions/imdn/).
    if encode(&imdn).len() > MAX_IMDN_BYTES {
        return Err(ImdnError::TooLarge);
    }
    Ok(imdn)
}

/// Prints an IMDN document. `Delivered` and `Failed` become delivery notifications
/// (`<delivered/>`, `<failed/>`), `Displayed` a display notification.
pub fn encode(imdn: &Imdn) -> String {
    let mut out =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<imdn xmlns=\"{NAMESPACE}\">\r\n");
    let mut element = |name: &str, value: &str| {
        out.push_str(&format!("<{name}>{}</{name}>\r\n", escape_text(value)));
    };
    element("message-id", &imdn.message_id);
    let optional = [
        ("datetime", &imdn.datetime),
        ("recipient-uri", &imdn.recipient_uri),
        ("original-recipient-uri", &imdn.original_recipient_uri),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            element(name, v);
        }
    }
    let (kind, status) = match imdn.disposition {
        Disposition::Delivered => ("delivery-notification", "delivered"),
        Disposition::Failed => ("delivery-notification", "failed"),
        Disposition::Displayed => ("display-notification", "displayed"),
    };
    out.push_str(&format!(
        "<{kind}><status><{status}/></status></{kind}>\r\n</imdn>\r\n"
    ));
    out
}

fn is_imdn(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && matches!(node.tag_name().namespace(), None | Some(NAMESPACE))
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| is_imdn(*c, name))
}

/// The trimmed text of the first `name` child, if there is one.
fn child_text(node: Node<'_, '_>, name: &str) -> Option<String> {
    let c = child(node, name)?;
    let text: String = c
        .children()
        .filter(|t| t.is_text())
        .filter_map(|t| t.text())
        .collect();
    Some(text.trim().to_owned())
}

fn disposition(root: Node<'_, '_>) -> Result<Disposition, ImdnError> {
    const KINDS: [&str; 3] = [
        "delivery-notification",
        "display-notification",
        "processing-notification",
    ];
    let mut found = root
        .children()
        .filter(|c| KINDS.iter().any(|k| is_imdn(*c, k)));
    let (Some(note), None) = (found.next(), found.next()) else {
        return Err(ImdnError::NoNotification);
    };
    let kind = note.tag_name().name();
    let allowed: &[(&str, Disposition)] = match kind {
        "delivery-notification" => &[
            ("delivered", Disposition::Delivered),
            ("failed", Disposition::Failed),
            ("forbidden", Disposition::Failed),
            ("error", Disposition::Failed),
        ],
        "display-notification" => &[
            ("displayed", Disposition::Displayed),
            ("forbidden", Disposition::Failed),
            ("error", Disposition::Failed),
        ],
        other => return Err(ImdnError::UnsupportedNotification(other.to_owned())),
    };
    let bad = || ImdnError::BadStatus(kind.to_owned());
    let status = child(note, "status").ok_or_else(bad)?;
    let mut values = status.children().filter(|c| c.is_element());
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(bad());
    };
    allowed
        .iter()
        .find(|(name, _)| is_imdn(value, name))
        .map(|(_, d)| *d)
        .ok_or_else(bad)
}

/// Escapes element text (no attribute values are printed); control characters XML
/// 1.0 cannot carry are dropped.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
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

    fn doc(inner: &str) -> String {
        format!("<?xml version=\"1.0\"?><imdn xmlns=\"{NAMESPACE}\">{inner}</imdn>")
    }

    #[test]
    fn delivered_round_trips() {
        let imdn = Imdn {
            message_id: "a<b&c".into(),
            datetime: Some("2024-01-02T03:04:05Z".into()),
            recipient_uri: Some("sip:bob@example.com".into()),
            original_recipient_uri: None,
            disposition: Disposition::Delivered,
        };
        assert_eq!(decode(encode(&imdn).as_bytes()), Ok(imdn.clone()));
        let displayed = Imdn {
            disposition: Disposition::Displayed,
            ..imdn
        };
        assert_eq!(decode(encode(&displayed).as_bytes()), Ok(displayed));
    }

    #[test]
    fn statuses_map_per_notification_kind() {
        let case = |kind: &str, status: &str| {
            decode(
                doc(&format!(
                    "<message-id>m</message-id><{kind}><status><{status}/></status></{kind}>"
                ))
                .as_bytes(),
            )
            .map(|i| i.disposition)
        };
        let dn = "delivery-notification";
        let sn = "display-notification";
        assert_eq!(case(dn, "delivered"), Ok(Disposition::Delivered));
        assert_eq!(case(dn, "failed"), Ok(Disposition::Failed));
        assert_eq!(case(dn, "forbidden"), Ok(Disposition::Failed));
        assert_eq!(case(dn, "error"), Ok(Disposition::Failed));
        assert_eq!(case(sn, "displayed"), Ok(Disposition::Displayed));
        assert_eq!(case(sn, "forbidden"), Ok(Disposition::Failed));
        assert_eq!(case(sn, "error"), Ok(Disposition::Failed));
        assert_eq!(case(dn, "displayed"), Err(ImdnError::BadStatus(dn.into())));
        assert_eq!(case(sn, "delivered"), Err(ImdnError::BadStatus(sn.into())));
        assert_eq!(
            case("processing-notification", "processed"),
            Err(ImdnError::UnsupportedNotification(
                "processing-notification".into()
            ))
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            decode(
                doc("<delivery-notification><status><delivered/></status></delivery-notification>")
                    .as_bytes()
            ),
            Err(ImdnError::MissingMessageId)
        );
        assert_eq!(
            decode(doc("<message-id>m</message-id>").as_bytes()),
            Err(ImdnError::NoNotification)
        );
        assert_eq!(decode(b"<x/>"), Err(ImdnError::NotImdn));
        assert_eq!(
            decode(b"<!DOCTYPE imdn [<!ENTITY a \"b\">]><imdn/>"),
            Err(ImdnError::Dtd)
        );
        assert_eq!(decode(b"\xff"), Err(ImdnError::NotUtf8));
        assert_eq!(
            decode(&vec![b' '; MAX_IMDN_BYTES + 1]),
            Err(ImdnError::TooLarge)
        );
    }

    /// LIM-10: a document under the limit whose text would print longer than the
    /// limit (a raw `>` prints as `&gt;`) is refused, so everything accepted prints
    /// to a document that decodes to the same report.
    #[test]
    fn lim_10_text_that_would_print_past_the_limit_is_refused() {
        let notification =
            "<delivery-notification><status><delivered/></status></delivery-notification>";
        let big = doc(&format!(
            "<message-id>m</message-id><datetime>{}</datetime>{notification}",
            ">".repeat(MAX_IMDN_BYTES / 2)
        ));
        assert!(big.len() <= MAX_IMDN_BYTES);
        assert_eq!(decode(big.as_bytes()), Err(ImdnError::TooLarge));
        let small = doc(&format!(
            "<message-id>m</message-id><datetime>{}</datetime>{notification}",
            ">".repeat(100)
        ));
        let report = decode(small.as_bytes()).expect("accepted");
        assert_eq!(decode(encode(&report).as_bytes()), Ok(report));
    }
}
