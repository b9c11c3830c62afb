//! Parsers for structured header values: name-addr/addr-spec, Via, CSeq and media
//! types. Each takes one (already comma-split) value and returns the typed value or
//! a short reason.
//!
//! What it is *not*: no knowledge of which header a value came from, no list
//! splitting and no duplicate checks (see `headers`).

use super::syntax::{
    cut, excerpt, find_top, is_token, is_token_char, parse_digits, parse_header_params,
    take_quoted, trim_lws,
};
use crate::sip::{CSeq, MediaType, Method, NameAddr, Via};
use crate::uri::Param;
use crate::wire::uri::{parse_host_port, parse_uri};

/// `name-addr` (`["display"] <uri> *(;param)`) or `addr-spec` (`uri *(;param)`).
/// In the addr-spec form everything after the first `;` is a header parameter
/// (RFC 3261 §20.10), so such a URI carries no URI parameters.
pub(super) fn parse_name_addr(value: &str) -> Result<NameAddr, String> {
    let value = trim_lws(value);
    let (display, after_display) = if value.starts_with('"') {
        let (display, rest) = take_quoted(value).ok_or("unterminated display name")?;
        let rest = trim_lws(rest);
        if !rest.starts_with('<') {
            return Err("display name without <uri>".into());
        }
        (Some(display), rest)
    } else if let Some(lt) = find_top(value, '<') {
        let (display, rest) = value.split_at(lt);
        (token_display(display)?, rest)
    } else {
        return parse_addr_spec(value);
    };
    let inner = after_display.strip_prefix('<').ok_or("missing <")?;
    let (uri, params) = cut(inner, b'>').ok_or("missing >")?;
    if trim_lws(uri) != uri {
        // RFC 4475 §3.1.2.14: an addr-spec has no spaces, not even next to < and >.
        return Err("spaces inside <>".into());
    }
    Ok(NameAddr {
        display,
        uri: parse_uri(uri).map_err(|e| e.to_string())?,
        params: parse_header_params(params)?,
    })
}

/// An unquoted display name: tokens separated by whitespace (anything else would
/// need quoting). Empty means no display name.
fn token_display(text: &str) -> Result<Option<String>, String> {
    let text = trim_lws(text);
    if text.is_empty() {
        return Ok(None);
    }
    if text
        .chars()
        .all(|c| is_token_char(c) || c == ' ' || c == '\t' || !c.is_ascii())
    {
        Ok(Some(text.to_owned()))
    } else {
        Err(format!("bad display name {}", excerpt(text)))
    }
}

fn parse_addr_spec(value: &str) -> Result<NameAddr, String> {
    let (uri, params) = match value.bytes().position(|b| b == b';') {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let uri = parse_uri(trim_lws(uri)).map_err(|e| e.to_string())?;
    if uri.as_sip().is_some_and(|u| !u.headers().is_empty()) {
        // RFC 3261 §20.10: a URI with headers (or `,` or `;`) must be in <> (RFC 4475
        // §3.1.2.13).
        return Err("a URI with headers must be enclosed in <>".into());
    }
    Ok(NameAddr {
        display: None,
        uri,
        params: parse_header_params(params)?,
    })
}

/// One Via value: `SIP / 2.0 / transport sent-by *(;param)`.
pub(super) fn parse_via(value: &str) -> Result<Via, String> {
    let (proto, params) = match find_top(value, ';') {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    // `splitn(3, '/')` by byte scans (see `syntax::cut`).
    let Some((name, rest)) = cut(proto, b'/') else {
        return Err("expected SIP/2.0/transport".into());
    };
    let Some((version, rest)) = cut(rest, b'/') else {
        return Err("expected SIP/2.0/transport".into());
    };
    let (name, version, rest) = (trim_lws(name), trim_lws(version), trim_lws(rest));
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return Err("expected SIP/2.0".into());
    }
    let (transport, sent_by) = rest.split_once([' ', '\t']).ok_or("missing sent-by")?;
    if !is_token(transport) {
        return Err("bad transport".into());
    }
    let (host, port) = parse_host_port(trim_lws(sent_by)).map_err(|e| e.to_string())?;
    Ok(Via {
        transport: {
            let mut t = compact_str::CompactString::from(transport);
            // Usually already upper case (`UDP`): then no second pass.
            if transport.bytes().any(|b| b.is_ascii_lowercase()) {
                t.make_ascii_uppercase();
            }
            t
        },
        host,
        port,
        params: parse_header_params(params)?,
    })
}

/// `CSeq: number method`.
pub(super) fn parse_cseq(value: &str) -> Result<CSeq, String> {
    // Exactly two words, read without collecting them.
    let mut parts = value.split([' ', '\t']).filter(|p| !p.is_empty());
    let (Some(seq), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected number and method".into());
    };
    let seq = parse_digits::<u32>(seq).ok_or("bad sequence number")?;
    if !is_token(method) {
        return Err("bad method".into());
    }
    Ok(CSeq {
        seq,
        method: Method::from_token(method),
    })
}

/// `type/subtype *(;param)`: type and subtype lower-cased, quotes removed from
/// parameter values.
pub(super) fn parse_media_type(value: &str) -> Result<MediaType, String> {
    let (mt, params) = match find_top(value, ';') {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let (kind, subtype) = cut(mt, b'/').ok_or("expected type/subtype")?;
    let (kind, subtype) = (trim_lws(kind), trim_lws(subtype));
    if !is_token(kind) || !is_token(subtype) {
        return Err("bad type/subtype".into());
    }
    let params = parse_header_params(params)?
        .into_iter()
        .map(|p| Param {
            value: p.value.map(|v| match take_quoted(&v) {
                Some((inner, _)) => inner.into(),
                None => v,
            }),
            name: p.name,
        })
        .collect();
    let mut media = MediaType::new(kind, subtype);
    media.params = params;
    Ok(media)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Host;

    #[test]
    fn name_addr_forms() {
        let a = parse_name_addr(r#""Alice \"A\"" <sip:alice@a.example>;tag=1"#).unwrap();
        assert_eq!(a.display.as_deref(), Some(r#"Alice "A""#));
        assert_eq!(a.tag().unwrap().as_str(), "1");
        let b = parse_name_addr("Bob Smith <sip:bob@b.example;transport=tcp> ; tag = 2").unwrap();
        assert_eq!(b.display.as_deref(), Some("Bob Smith"));
        assert_eq!(b.uri.as_sip().unwrap().params.len(), 1);
        assert_eq!(b.param("tag"), Some("2"));
        let c =
            parse_name_addr("sip:carol@c.example;tag=3;+sip.instance=\"<urn:uuid:x>\"").unwrap();
        assert_eq!(c.display, None);
        assert!(c.uri.as_sip().unwrap().params.is_empty());
        assert_eq!(c.param("+sip.instance"), Some("\"<urn:uuid:x>\""));
        assert!(parse_name_addr("< sip:a@b>").is_err(), "RFC 4475 3.1.2.14");
        assert!(
            parse_name_addr("sip:a@b?Route=x").is_err(),
            "RFC 4475 3.1.2.13"
        );
        assert!(parse_name_addr("<sip:a@b?Route=x>").is_ok());
        for bad in [
            "\"open <sip:a@b>",
            "\"x\" sip:a@b",
            "<sip:a@b",
            "a,b <sip:a@b>",
            "<sip:a@b> junk",
            "",
        ] {
            assert!(parse_name_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn via_forms() {
        let v = parse_via("SIP / 2.0 / tcp [2001:db8::1]:5061 ;branch=z9hG4bK1;rport").unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.host, Host::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert!(v.has_rport());
        for bad in [
            "SIP/2.0/UDP",
            "SIP/3.0/UDP h",
            "SIP/2.0 h",
            "SIP/2.0/U;DP h",
        ] {
            assert!(parse_via(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cseq_and_media_type() {
        let c = parse_cseq(" 4711\tINVITE ").unwrap();
        assert_eq!((c.seq, c.method), (4711, Method::Invite));
        assert!(parse_cseq("1").is_err());
        assert!(parse_cseq("-1 INVITE").is_err());
        assert!(parse_cseq("1 INVITE x").is_err());
        let m = parse_media_type(r#"Multipart/Mixed; boundary="a b;c""#).unwrap();
        assert!(m.is("multipart", "mixed"));
        assert_eq!(m.param("boundary"), Some("a b;c"));
        assert!(parse_media_type("text").is_err());
    }
}
