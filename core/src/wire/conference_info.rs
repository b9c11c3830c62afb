//! Prints a [`ConferenceInfo`] as an RFC 4575 `application/conference-info+xml`
//! document, in the schema's element order (conference-description, conference-state,
//! users; in an endpoint: status, joining-method, disconnection-method) so that it
//! validates against the RFC's XSD (tests/schemas/conference-info.xsd).
//!
//! Only a printer: cpmd never reads these documents.

use std::fmt::Write;

use crate::conference::{ConferenceInfo, ConferenceUser};

/// The media type of the documents.
pub const CONFERENCE_INFO_TYPE: (&str, &str) = ("application", "conference-info+xml");

/// The document's bytes (UTF-8).
pub fn encode_conference_info(info: &ConferenceInfo) -> Vec<u8> {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"{}\" state=\"{}\" version=\"{}\">",
        escape(&info.entity),
        info.state.as_str(),
        info.version
    );
    if let Some(subject) = &info.subject {
        let _ = write!(
            x,
            " <conference-description>\n  <subject>{}</subject>\n </conference-description>\n",
            escape(subject)
        );
    }
    if let Some(count) = info.user_count {
        let _ = write!(
            x,
            " <conference-state>\n  <user-count>{count}</user-count>\n  <active>true</active>\n </conference-state>\n"
        );
    }
    let _ = writeln!(x, " <users state=\"{}\">", info.state.as_str());
    for user in &info.users {
        user_element(&mut x, user, info.state.as_str());
    }
    x.push_str(" </users>\n</conference-info>\n");
    x.into_bytes()
}

fn user_element(x: &mut String, user: &ConferenceUser, state: &str) {
    let entity = escape(&user.entity);
    let _ = writeln!(x, "  <user entity=\"{entity}\" state=\"{state}\">");
    if !user.roles.is_empty() {
        x.push_str("   <roles>");
        for role in &user.roles {
            let _ = write!(x, "<entry>{}</entry>", escape(role));
        }
        x.push_str("</roles>\n");
    }
    let _ = writeln!(x, "   <endpoint entity=\"{entity}\" state=\"{state}\">");
    let _ = writeln!(x, "    <status>{}</status>", user.status.as_str());
    if let Some(joining) = user.joining {
        let _ = writeln!(
            x,
            "    <joining-method>{}</joining-method>",
            joining.as_str()
        );
    }
    if let Some(how) = user.disconnection {
        let _ = writeln!(
            x,
            "    <disconnection-method>{}</disconnection-method>",
            how.as_str()
        );
    }
    x.push_str("   </endpoint>\n  </user>\n");
}

/// XML text and attribute escaping (the five predefined entities).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference::{DisconnectionMethod, DocState, EndpointStatus, JoiningMethod};

    fn doc(state: DocState) -> ConferenceInfo {
        ConferenceInfo {
            entity: "sip:conf-1@example.com".into(),
            version: 3,
            state,
            subject: Some("a <b> & \"c\"".into()),
            user_count: Some(1),
            users: vec![
                ConferenceUser {
                    entity: "sip:alice@example.com".into(),
                    roles: vec!["chairman".into()],
                    status: EndpointStatus::Connected,
                    joining: Some(JoiningMethod::DialedIn),
                    disconnection: None,
                },
                ConferenceUser {
                    entity: "sip:bob@example.com".into(),
                    roles: vec![],
                    status: EndpointStatus::Disconnected,
                    joining: Some(JoiningMethod::DialedOut),
                    disconnection: Some(DisconnectionMethod::Departed),
                },
            ],
        }
    }

    /// GRP-10: the document names the focus, its version and state, and escapes text.
    #[test]
    fn prints_users_in_schema_order_and_escapes_text() {
        let text = String::from_utf8(encode_conference_info(&doc(DocState::Full))).unwrap();
        assert!(text.contains("entity=\"sip:conf-1@example.com\" state=\"full\" version=\"3\""));
        assert!(text.contains("<subject>a &lt;b&gt; &amp; &quot;c&quot;</subject>"));
        let status = text.find("<status>disconnected").unwrap();
        let joining = text.rfind("<joining-method>dialed-out").unwrap();
        let gone = text.find("<disconnection-method>departed").unwrap();
        assert!(status < joining && joining < gone, "{text}");
        assert!(text.contains("<roles><entry>chairman</entry></roles>"));
        // roxmltree reads it back as well-formed XML.
        let parsed = roxmltree::Document::parse(&text).expect("well-formed");
        assert_eq!(parsed.root_element().tag_name().name(), "conference-info");
    }
}
