//! MSRP URIs (RFC 4975 §6): printing the server's own, parsing a terminal's, and
//! comparing `From-Path` with the `a=path` of the SDP (RFC 4975 §7.3; RFC 6714).
//!
//! What it is *not*: the MSRP message codec (`wire::msrp`).

use std::net::{IpAddr, SocketAddr};

/// The server's MSRP URI: `msrp://<ip>:<port>/<session-id>;tcp` (`msrps://` when
/// `secure`, RFC 4975 §6).
pub(crate) fn own_uri(addr: SocketAddr, session_id: &str, secure: bool) -> String {
    // Printed piece by piece, not through `format!` and the address's `Display`
    // (~4,000 instructions per session, `bench/core_ir.sh`).
    // Sized exactly for an IPv4 address: every session keeps two of these URIs for
    // as long as it lives (the idle session's bytes, issue 15).
    let host_len = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().iter().map(|&o| decimal_len(o)).sum::<usize>() + 3,
        IpAddr::V6(_) => 41,
    };
    let scheme_len = if secure { 8 } else { 7 };
    let port_len = decimal_len_u16(addr.port());
    let mut out =
        String::with_capacity(scheme_len + host_len + 1 + port_len + 1 + session_id.len() + 4);
    out.push_str(if secure { "msrps://" } else { "msrp://" });
    match addr.ip() {
        IpAddr::V4(ip) => crate::decimal::push_ipv4(&mut out, ip),
        IpAddr::V6(ip) => {
            out.push('[');
            crate::decimal::push_ip(&mut out, IpAddr::V6(ip));
            out.push(']');
        }
    }
    out.push(':');
    crate::decimal::push_decimal(&mut out, u64::from(addr.port()));
    out.push('/');
    out.push_str(session_id);
    out.push_str(";tcp");
    out
}

/// Digits of an octet in decimal.
fn decimal_len(n: u8) -> usize {
    decimal_len_u16(u16::from(n))
}

/// Digits of a port in decimal.
fn decimal_len_u16(n: u16) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    }
}

/// An MSRP URI's parts as RFC 4975 §6.1 compares them: scheme and host
/// case-insensitive, port, session-id case-sensitive, transport case-insensitive.
/// Borrowed from the URI's text (a request's paths are parsed for every SEND: a
/// `String` per part cost the loop ~2,000 instructions per message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MsrpUri<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
    pub(crate) session_id: &'a str,
    transport: &'a str,
}

impl PartialEq for MsrpUri<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.scheme.eq_ignore_ascii_case(other.scheme)
            && self.host.eq_ignore_ascii_case(other.host)
            && self.port == other.port
            && self.session_id == other.session_id
            && self.transport.eq_ignore_ascii_case(other.transport)
    }
}

impl Eq for MsrpUri<'_> {}

/// Parses `msrp[s]://[userinfo@]host[:port][/session-id];transport`.
pub(crate) fn parse_msrp_uri(uri: &str) -> Option<MsrpUri<'_>> {
    // Every delimiter is ASCII, so each cut is at a character boundary; found by
    // byte loops (a `char` searcher per cut cost ~1,300 instructions per URI, three
    // URIs per SEND).
    let first = |s: &str, c: u8| s.bytes().position(|b| b == c);
    let last = |s: &str, c: u8| s.bytes().rposition(|b| b == c);
    // The first `:` must open `://` (were it further on, the scheme would hold a
    // `:` and be no MSRP scheme).
    let colon = first(uri, b':')?;
    let scheme = uri.get(..colon)?;
    let rest = uri.get(colon..)?.strip_prefix("://")?;
    if !scheme.eq_ignore_ascii_case("msrp") && !scheme.eq_ignore_ascii_case("msrps") {
        return None;
    }
    let (rest, transport) = match first(rest, b';') {
        Some(i) => (rest.get(..i)?, rest.get(i + 1..)?),
        None => (rest, ""),
    };
    let transport = match first(transport, b';') {
        Some(i) => transport.get(..i)?,
        None => transport,
    };
    let (authority, session_id) = match first(rest, b'/') {
        Some(i) => (rest.get(..i)?, rest.get(i + 1..)?),
        None => (rest, ""),
    };
    let authority = match last(authority, b'@') {
        Some(i) => authority.get(i + 1..)?,
        None => authority,
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = first(v6, b']')?;
        (v6.get(..close)?, v6.get(close + 1..)?.strip_prefix(':'))
    } else {
        match last(authority, b':') {
            Some(i) => (authority.get(..i)?, Some(authority.get(i + 1..)?)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some(MsrpUri {
        scheme,
        host,
        port,
        session_id,
        transport,
    })
}

/// Whether every URI of an SDP `a=path` is an MSRP URI, so that the path can be
/// printed as a `To-Path` the MSRP decoder reads back (LIM-10; found by the `server`
/// fuzz target: `a=path:msrp://h:1/x up:active` was relayed into a To-Path no peer
/// could parse).
pub(crate) fn is_msrp_path(uris: &[&str]) -> bool {
    !uris.is_empty() && uris.iter().all(|u| parse_msrp_uri(u).is_some())
}

/// The session-id of an MSRP URI (`None` when it does not parse).
pub(crate) fn session_of(uri: &str) -> Option<&str> {
    parse_msrp_uri(uri).map(|u| u.session_id)
}

/// Where to connect for an MSRP URI whose host is an IP literal (the core resolves
/// no names).
pub(crate) fn uri_socket(uri: &str) -> Option<SocketAddr> {
    let u = parse_msrp_uri(uri)?;
    let ip: IpAddr = u.host.parse().ok()?;
    Some(SocketAddr::new(ip, u.port?))
}

/// RFC 4975 §7.3: the `From-Path` of a request must match the terminal's `a=path`
/// URI by URI; RFC 6714 relaxed: only the session-id of the last URI (the terminal's
/// own) counts.
pub(crate) fn paths_match(from_path: &[String], sdp_path: &[String], relaxed: bool) -> bool {
    if relaxed {
        fn last(p: &[String]) -> Option<&str> {
            p.last().and_then(|u| session_of(u))
        }
        return last(from_path).is_some() && last(from_path) == last(sdp_path);
    }
    from_path.len() == sdp_path.len()
        && from_path.iter().zip(sdp_path).all(|(a, b)| {
            // The same text (a terminal repeats its a=path as it wrote it) is
            // the same URI once it parses: one parse, not two.
            if a == b {
                return parse_msrp_uri(a).is_some();
            }
            let (Some(a), Some(b)) = (parse_msrp_uri(a), parse_msrp_uri(b)) else {
                return false;
            };
            a == b
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_compare_per_rfc4975() {
        let a = vec!["msrp://Host.Example:7394/abcD;TCP".to_owned()];
        let b = vec!["MSRP://host.example:7394/abcD;tcp".to_owned()];
        let c = vec!["msrp://host.example:7394/abcd;tcp".to_owned()];
        assert!(paths_match(&a, &b, false));
        assert!(!paths_match(&a, &c, false), "session-id is case-sensitive");
        let relay = vec![
            "msrp://10.0.0.9:2856/relay;tcp".to_owned(),
            "msrp://10.1.1.1:9/abcD;tcp".to_owned(),
        ];
        assert!(!paths_match(&relay, &a, false));
        assert!(paths_match(&relay, &a, true), "relaxed: last session-id");
        assert!(!paths_match(&c, &a, true));
    }

    /// The byte-loop parser cuts where the `str` searchers it replaced did.
    #[test]
    fn parser_cuts_as_the_str_searchers_did() {
        type Parts = (String, String, Option<u16>, String, String);
        fn reference(uri: &str) -> Option<Parts> {
            let colon = uri.find(':')?;
            let scheme = uri.get(..colon)?;
            let rest = uri.get(colon..)?.strip_prefix("://")?;
            if !scheme.eq_ignore_ascii_case("msrp") && !scheme.eq_ignore_ascii_case("msrps") {
                return None;
            }
            let (rest, transport) = rest.split_once(';').unwrap_or((rest, ""));
            let transport = transport.split(';').next().unwrap_or_default();
            let (authority, session_id) = rest.split_once('/').unwrap_or((rest, ""));
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
                let (h, after) = v6.split_once(']')?;
                (h, after.strip_prefix(':'))
            } else {
                match authority.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (authority, None),
                }
            };
            let port = match port {
                Some(p) => Some(p.parse().ok()?),
                None => None,
            };
            Some((
                scheme.into(),
                host.into(),
                port,
                session_id.into(),
                transport.into(),
            ))
        }
        for uri in [
            "msrp://h:1/s;tcp",
            "MSRPS://u@v@[::1]:2855/a/b;tcp;x=1",
            "msrp://[::1]/s;tcp",
            "msrp://[::1]x:9/s",
            "msrp://[::1",
            "msrp://h:99999/s;tcp",
            "msrp://h:/s;tcp",
            "msrp://h;tcp/x",
            "msrp:/h:1/s;tcp",
            "sip:h:1/s;tcp",
            "msrp://h\u{e9}:1/s\u{e9};tcp",
            "msrp://",
            "",
        ] {
            let ours = parse_msrp_uri(uri).map(|u| {
                let p: Parts = (
                    u.scheme.into(),
                    u.host.into(),
                    u.port,
                    u.session_id.into(),
                    u.transport.into(),
                );
                p
            });
            assert_eq!(ours, reference(uri), "{uri}");
        }
    }

    #[test]
    fn uri_socket_needs_an_ip_literal() {
        assert_eq!(
            uri_socket("msrp://[::1]:2855/s;tcp"),
            Some("[::1]:2855".parse().unwrap())
        );
        assert_eq!(
            uri_socket("msrp://10.0.0.1:7/s;tcp"),
            Some("10.0.0.1:7".parse().unwrap())
        );
        assert_eq!(uri_socket("msrp://host.example:7/s;tcp"), None);
        assert_eq!(uri_socket("sip:x@y"), None);
        assert_eq!(
            own_uri("[::1]:9".parse().unwrap(), "x", false),
            "msrp://[::1]:9/x;tcp"
        );
    }

    proptest::proptest! {
        /// The hand-built URI is the text `format!` printed, and for IPv4 its
        /// buffer is exactly as long as the text.
        #[test]
        fn own_uri_prints_as_format_did(
            v4 in proptest::prelude::any::<u32>(), v6 in proptest::prelude::any::<u128>(),
            six in proptest::prelude::any::<bool>(), port in proptest::prelude::any::<u16>(),
            secure in proptest::prelude::any::<bool>(), id in "[a-zA-Z0-9]{0,30}",
        ) {
            let ip = if six {
                IpAddr::from(std::net::Ipv6Addr::from(v6))
            } else {
                IpAddr::from(std::net::Ipv4Addr::from(v4))
            };
            let host = match ip {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => format!("[{a}]"),
            };
            let scheme = if secure { "msrps" } else { "msrp" };
            let uri = own_uri(SocketAddr::new(ip, port), &id, secure);
            proptest::prop_assert_eq!(&uri, &format!("{scheme}://{host}:{port}/{id};tcp"));
            if !six {
                proptest::prop_assert_eq!(uri.capacity(), uri.len());
            }
        }
    }
}
