//! SDP bodies (RFC 4566 / RFC 8866) ⇄ the core's [`Sdp`] value.
//!
//! Decoding rides on the `sdp-types` crate: it accepts CRLF or bare-LF line ends, a
//! last line without a line end, host names as well as IP literals in `o=`/`c=`, and
//! fields in a lax order. Its types stay in this file. On top of it we keep the body
//! text as received (the history stores it) and reduce the session to what the
//! server acts on. A body of the plain shape terminals send is read directly to the
//! same value (`wire::sdp_plain`, a fraction of the crate's cost); every other body
//! takes the crate.
//!
//! What this is *not*: SDP offer/answer logic, or any judgement on the media
//! offered (an SDP without `m=` decodes fine; the server decides what to refuse).
//! The printer writes a minimal, fresh SDP from the typed value; it does not try to
//! reproduce the received text (that is [`Sdp::raw`]).

use super::sip_decode::syntax::{cut, pieces};
use crate::decimal::{push_decimal, push_ipv4};
use crate::sdp::{Sdp, SdpAttribute, SdpMedia};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Why a body is not a usable SDP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is empty (or only whitespace).
    #[error("empty sdp")]
    Empty,
    /// The body is not UTF-8; [`Sdp::raw`] is a `String`, and SDP text is UTF-8.
    #[error("sdp is not utf-8")]
    NotUtf8,
    /// There is no `o=` line. RFC 4566 §5 makes it mandatory, and the server needs
    /// the origin address; `sdp-types` would silently invent `0.0.0.0`.
    #[error("sdp has no origin line")]
    MissingOrigin,
    /// An `m=` line without a protocol or without a format. RFC 8866 §5.14 requires
    /// both (`m=<media> <port> <proto> <fmt> ...`; MSRP's format is `*`), and a value
    /// without them would not print back to itself (LIM-10).
    #[error("sdp m= line without a protocol or a format")]
    MediaLine,
    /// `sdp-types` refused the text (bad line format, bad field, duplicate line...).
    #[error("{0}")]
    Parse(String),
}

/// Decodes an SDP body. `raw` keeps the text exactly as received.
pub fn decode(body: &[u8]) -> Result<Sdp, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(SdpError::Empty);
    }
    // The plain shape terminals send is read directly, to the same value
    // (`wire::sdp_plain`); anything else takes the crate's parser.
    match super::sdp_plain::read(text) {
        Some(sdp) => Ok(sdp),
        None => decode_full(text),
    }
}

/// [`decode`] through `sdp-types`, for a non-empty UTF-8 text.
fn decode_full(text: &str) -> Result<Sdp, SdpError> {
    // `sdp-types` already takes the last line without a line end (it splits with
    // `bstr::lines`), so the text goes in unchanged.
    let session = sdp_types::Session::parse(text.as_bytes())
        .map_err(|e| SdpError::Parse(e.to_string().to_ascii_lowercase()))?;
    if !text.lines().any(|l| l.starts_with("o=")) {
        return Err(SdpError::MissingOrigin);
    }
    // `sdp-types` takes `m=message 7394` with nothing after the port.
    if session
        .medias
        .iter()
        .any(|m| m.proto.trim().is_empty() || m.fmt.trim().is_empty())
    {
        return Err(SdpError::MediaLine);
    }
    Ok(Sdp {
        raw: text.to_owned(),
        origin_address: session.origin.unicast_address,
        connection_address: session.connection.map(|c| c.connection_address),
        attributes: session.attributes.into_iter().map(attribute).collect(),
        media: session.medias.into_iter().map(media).collect(),
    })
}

/// The media-level attribute lines of an SDP text that [`decode`]s, as
/// `name[:value]` strings: what [`Sdp::media_attribute_lines`] gives for its
/// decoded value, read by a line scan (a session's info keeps the offer's text,
/// and decoding it again at the seal only for these was ~19,000 instructions).
/// The same reading as the decoder's: lines split at LF (a CR before it dropped,
/// empty lines skipped), the lines after the first `m=` line, `a=` lines cut at
/// their first `:`, name and value trimmed. For a text that does not decode the
/// result means nothing.
pub fn media_attribute_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_media = false;
    for line in pieces(text, b'\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match line.as_bytes().first() {
            Some(b'm') => in_media = true,
            Some(b'a') if in_media => {
                let value = line.get(2..).unwrap_or_default();
                lines.push(match cut(value, b':') {
                    Some((name, value)) => {
                        let (name, value) = (name.trim(), value.trim());
                        let mut line = String::with_capacity(name.len() + 1 + value.len());
                        line.push_str(name);
                        line.push(':');
                        line.push_str(value);
                        line
                    }
                    None => value.trim().to_owned(),
                });
            }
            _ => {}
        }
    }
    lines
}

/// One `a=` line. Surrounding whitespace is dropped: some clients leave a trailing
/// space, and `sendrecv ` must still read as `sendrecv`.
fn attribute(a: sdp_types::Attribute) -> SdpAttribute {
    SdpAttribute {
        name: a.attribute.trim().to_owned(),
        value: a.value.map(|v| v.trim().to_owned()),
    }
}

fn media(m: sdp_types::Media) -> SdpMedia {
    SdpMedia {
        media: m.media,
        port: m.port,
        proto: m.proto,
        formats: m.fmt.split_ascii_whitespace().map(str::to_owned).collect(),
        // RFC 4566 allows several `c=` per media (layered multicast); the server only
        // ever needs one address, the first.
        connection_address: m
            .connections
            .into_iter()
            .next()
            .map(|c| c.connection_address),
        attributes: m.attributes.into_iter().map(attribute).collect(),
    }
}

/// Prints a fresh SDP from the typed value: `v=0`, `o=- 0 0 IN IP4|IP6 <origin>`,
/// `s=-`, the session `c=` (if any), `t=0 0`, session attributes, then each `m=`
/// section with its `c=` and attributes. Lines end with CRLF. [`Sdp::raw`] is not
/// used; decoding the output gives back every other field. Written into one buffer
/// (no string per line): the server prints an SDP for every leg it sets up.
pub fn encode(sdp: &Sdp) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("v=0\r\no=- 0 0 IN ");
    out.push_str(addr_type(&sdp.origin_address));
    out.push(' ');
    out.push_str(&sdp.origin_address);
    out.push_str("\r\ns=-\r\n");
    connection(&mut out, sdp.connection_address.as_deref());
    out.push_str("t=0 0\r\n");
    attributes(&mut out, &sdp.attributes);
    for m in &sdp.media {
        out.push_str("m=");
        out.push_str(&m.media);
        // Writing to a String cannot fail.
        let _ = write!(out, " {} ", m.port);
        out.push_str(&m.proto);
        out.push(' ');
        if m.formats.is_empty() {
            // `m=` needs at least one format; `*` is what MSRP uses.
            out.push('*');
        }
        for (i, format) in m.formats.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(format);
        }
        out.push_str("\r\n");
        connection(&mut out, m.connection_address.as_deref());
        attributes(&mut out, &m.attributes);
    }
    out
}

/// The parts of the SDP the server puts on one of its MSRP legs (offer or answer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MsrpSdp<'a> {
    /// The MSRP listener: the origin, the connection address and the port.
    pub(crate) listener: SocketAddr,
    /// `TCP/TLS/MSRP`, not `TCP/MSRP`.
    pub(crate) tls: bool,
    pub(crate) accept_types: &'a str,
    pub(crate) accept_wrapped: Option<&'a str>,
    /// The server's own MSRP URI (`a=path`).
    pub(crate) path: &'a str,
    /// `a=setup` (`actpass`, `active`, `passive`).
    pub(crate) setup: &'a str,
    /// The offer's m-lines an answer mirrors (empty for an offer): `None` is the
    /// server's MSRP stream, `Some((media, proto, formats))` one declined with port 0.
    pub(crate) lines: &'a [Option<(String, String, Vec<String>)>],
}

/// Prints the server's own SDP straight from its parts: what [`encode`] prints for
/// the [`Sdp`] value of those parts (tested), without building that value and its
/// strings first (~30,000 instructions per session, the server prints two).
pub(crate) fn encode_msrp(sdp: &MsrpSdp<'_>) -> String {
    let mut out = String::with_capacity(256);
    let kind = if sdp.listener.is_ipv6() { "IP6" } else { "IP4" };
    out.push_str("v=0\r\no=- 0 0 IN ");
    out.push_str(kind);
    out.push(' ');
    push_ip(&mut out, sdp.listener.ip());
    out.push_str("\r\ns=-\r\nc=IN ");
    out.push_str(kind);
    out.push(' ');
    push_ip(&mut out, sdp.listener.ip());
    out.push_str("\r\nt=0 0\r\n");
    if sdp.lines.is_empty() {
        msrp_media(&mut out, sdp);
    }
    for line in sdp.lines {
        match line {
            None => msrp_media(&mut out, sdp),
            Some((media, proto, formats)) => {
                out.push_str("m=");
                out.push_str(media);
                out.push_str(" 0 ");
                out.push_str(proto);
                out.push(' ');
                if formats.is_empty() {
                    out.push('*');
                }
                for (i, format) in formats.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(format);
                }
                out.push_str("\r\n");
            }
        }
    }
    out
}

/// The server's MSRP m-line and its attributes.
fn msrp_media(out: &mut String, sdp: &MsrpSdp<'_>) {
    out.push_str("m=message ");
    push_decimal(out, u64::from(sdp.listener.port()));
    out.push_str(if sdp.tls {
        " TCP/TLS/MSRP *\r\n"
    } else {
        " TCP/MSRP *\r\n"
    });
    out.push_str("a=accept-types:");
    out.push_str(sdp.accept_types);
    if let Some(w) = sdp.accept_wrapped {
        out.push_str("\r\na=accept-wrapped-types:");
        out.push_str(w);
    }
    out.push_str("\r\na=path:");
    out.push_str(sdp.path);
    out.push_str("\r\na=setup:");
    out.push_str(sdp.setup);
    out.push_str("\r\na=sendrecv\r\n");
}

/// An IP address as `Display` prints it (IPv4 by hand, without `fmt`).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        // Writing to a String cannot fail.
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn connection(out: &mut String, address: Option<&str>) {
    if let Some(a) = address {
        out.push_str("c=IN ");
        out.push_str(addr_type(a));
        out.push(' ');
        out.push_str(a);
        out.push_str("\r\n");
    }
}

fn attributes(out: &mut String, attrs: &[SdpAttribute]) {
    for a in attrs {
        out.push_str("a=");
        out.push_str(&a.name);
        if let Some(v) = &a.value {
            out.push(':');
            out.push_str(v);
        }
        out.push_str("\r\n");
    }
}

/// `IP6` for an IPv6 literal, `IP4` for anything else (IPv4 literals and host
/// names, which RFC 4566 lets either address type carry).
fn addr_type(address: &str) -> &'static str {
    if address.parse::<Ipv6Addr>().is_ok() {
        "IP6"
    } else {
        "IP4"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 2890844526 2890844527 IN IP4 client.example.com\r\n\
        s=-\r\nc=IN IP4 client.example.com\r\nt=0 0\r\n\
        m=message 7394 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
        a=path:msrp://client.example.com:7394/2s93i93idj;tcp\r\na=sendrecv\r\n";

    #[test]
    fn decodes_msrp_offer() {
        let sdp = decode(OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.raw, OFFER);
        assert_eq!(sdp.origin_address, "client.example.com");
        assert_eq!(
            sdp.connection_address.as_deref(),
            Some("client.example.com")
        );
        let m = sdp.message_media().unwrap();
        assert!(m.is_msrp());
        assert_eq!(m.port, 7394);
        assert_eq!(m.formats, vec!["*"]);
        assert_eq!(
            m.msrp_path(),
            vec!["msrp://client.example.com:7394/2s93i93idj;tcp"]
        );
        assert_eq!(m.attributes[2].value, None);
    }

    #[test]
    fn empty_non_utf8_and_originless_bodies_are_errors() {
        assert_eq!(decode(b""), Err(SdpError::Empty));
        assert_eq!(decode(b" \r\n"), Err(SdpError::Empty));
        assert_eq!(decode(b"v=0\r\ns=\xff\r\n"), Err(SdpError::NotUtf8));
        assert_eq!(
            decode(b"v=0\r\ns=-\r\nt=0 0\r\n"),
            Err(SdpError::MissingOrigin)
        );
        assert!(matches!(decode(b"hello"), Err(SdpError::Parse(_))));
        // Found by the `sdp` fuzz target: an m= line without proto or format decoded,
        // and printed back with `*` as a different value (LIM-10).
        let head = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n";
        assert!(decode(format!("{head}m=message 7394 \r\n").as_bytes()).is_err());
        assert!(decode(format!("{head}m=message 7394 TCP/MSRP\r\n").as_bytes()).is_err());
        for m in [
            "m=message 7394  *\r\n",
            "m=message 7394 TCP/MSRP \r\n",
            "m=message 7394   \r\n",
        ] {
            let body = format!("{head}{m}");
            assert_eq!(decode(body.as_bytes()), Err(SdpError::MediaLine), "{m:?}");
        }
        assert!(decode(format!("{head}m=message 7394 TCP/MSRP *\r\n").as_bytes()).is_ok());
    }

    #[test]
    fn trailing_space_in_attribute_is_dropped() {
        let sdp = decode(b"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\na=sendrecv \n").unwrap();
        assert_eq!(sdp.attributes[0].name, "sendrecv");
    }

    #[test]
    fn encode_then_decode_gives_the_same_fields() {
        let sdp = decode(OFFER.as_bytes()).unwrap();
        let printed = encode(&sdp);
        let again = decode(printed.as_bytes()).unwrap();
        assert_eq!(
            again,
            Sdp {
                raw: printed,
                ..sdp
            }
        );
    }

    proptest::proptest! {
        /// The line scan gives the decoded value's media attribute lines, for SDPs
        /// with CRLF or LF, blank lines, no final line end, session attributes,
        /// several m-lines, attributes with and without values, colons and spaces
        /// in names and values.
        #[test]
        fn media_attribute_lines_are_the_decoded_ones(
            session_attrs in proptest::collection::vec(ATTR, 0..3),
            media in proptest::collection::vec(proptest::collection::vec(ATTR, 0..5), 0..3),
            crlf in proptest::bool::ANY,
            blank in proptest::bool::ANY,
            last_end in proptest::bool::ANY,
        ) {
            let mut lines = vec!["v=0".to_owned(), "o=- 1 1 IN IP4 1.2.3.4".into(), "s=-".into()];
            lines.push("t=0 0".into());
            if blank {
                lines.push(String::new());
            }
            lines.extend(session_attrs.iter().map(|a| format!("a={a}")));
            for (i, attrs) in media.iter().enumerate() {
                lines.push(format!("m=message {} TCP/MSRP *", 7000 + i));
                lines.push("c=IN IP4 1.2.3.4".into());
                lines.extend(attrs.iter().map(|a| format!("a={a}")));
            }
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(end);
            if last_end {
                text.push_str(end);
            }
            let decoded = decode(text.as_bytes());
            if let Ok(sdp) = decoded {
                proptest::prop_assert_eq!(media_attribute_lines(&text), sdp.media_attribute_lines());
            } else {
                // What the generator makes decodes: the comparison above is not idle.
                proptest::prop_assert!(false, "{:?} did not decode: {:?}", text, decoded);
            }
        }
    }

    /// Attribute values: a name, maybe spaces, maybe a colon and a value with
    /// colons and spaces, maybe empty.
    const ATTR: &str = "[ ]?[a-z][a-z-]{0,8}[ ]?(:[ ]?[a-z0-9:/ .;*-]{0,12})?";

    /// The [`Sdp`] value [`encode_msrp`] prints, built as the server built it
    /// before printing it directly.
    fn msrp_sdp_value(p: &MsrpSdp<'_>) -> Sdp {
        let attr = |name: &str, value: Option<&str>| SdpAttribute {
            name: name.into(),
            value: value.map(str::to_owned),
        };
        let mut attributes = vec![attr("accept-types", Some(p.accept_types))];
        if let Some(w) = p.accept_wrapped {
            attributes.push(attr("accept-wrapped-types", Some(w)));
        }
        attributes.push(attr("path", Some(p.path)));
        attributes.push(attr("setup", Some(p.setup)));
        attributes.push(attr("sendrecv", None));
        let ours = SdpMedia {
            media: "message".into(),
            port: p.listener.port(),
            proto: if p.tls { "TCP/TLS/MSRP" } else { "TCP/MSRP" }.into(),
            formats: vec!["*".into()],
            connection_address: None,
            attributes,
        };
        let media = if p.lines.is_empty() {
            vec![ours]
        } else {
            p.lines
                .iter()
                .map(|line| match line {
                    None => ours.clone(),
                    Some((media, proto, formats)) => SdpMedia {
                        media: media.clone(),
                        port: 0,
                        proto: proto.clone(),
                        formats: formats.clone(),
                        connection_address: None,
                        attributes: Vec::new(),
                    },
                })
                .collect()
        };
        let ip = p.listener.ip().to_string();
        Sdp {
            raw: String::new(),
            origin_address: ip.clone(),
            connection_address: Some(ip),
            attributes: Vec::new(),
            media,
        }
    }

    proptest::proptest! {
        /// The server's SDP printed from its parts is the typed value's print, and
        /// decodes to that value: IPv4 and IPv6 listeners, TLS or not, with and
        /// without wrapped types, offers and answers mirroring declined m-lines.
        #[test]
        fn msrp_sdp_printed_directly_is_the_typed_print(
            v4 in proptest::bool::ANY,
            octets in proptest::array::uniform16(proptest::num::u8::ANY),
            port in proptest::num::u16::ANY,
            tls in proptest::bool::ANY,
            accept_types in "[a-z/*]{1,10}( [a-z/*]{1,10}){0,2}",
            accept_wrapped in proptest::option::of("[a-z/*]{1,10}( [a-z/*]{1,10})?"),
            session in "[a-z0-9]{1,32}",
            setup in "(actpass|active|passive)",
            lines in proptest::collection::vec(
                proptest::option::of(("[a-z]{1,8}", "[A-Z/]{1,12}", proptest::collection::vec("[a-z0-9]{1,4}", 1..3))),
                0..4,
            ),
        ) {
            let ip = if v4 {
                IpAddr::from([octets[0], octets[1], octets[2], octets[3]])
            } else {
                IpAddr::from(octets)
            };
            let path = format!("msrp://{}/{session};tcp", SocketAddr::new(ip, port));
            let parts = MsrpSdp {
                listener: SocketAddr::new(ip, port),
                tls,
                accept_types: &accept_types,
                accept_wrapped: accept_wrapped.as_deref(),
                path: &path,
                setup: &setup,
                lines: &lines,
            };
            let value = msrp_sdp_value(&parts);
            let printed = encode_msrp(&parts);
            proptest::prop_assert_eq!(&printed, &encode(&value));
            let again = decode(printed.as_bytes());
            proptest::prop_assert_eq!(again, Ok(Sdp { raw: printed, ..value }));
        }
    }

    /// A plain SDP as lines: `v=0`, `o=`, `s=`, maybe a session `c=`, `t=`,
    /// session attributes, then `m=` sections with maybe a `c=` and attributes.
    fn plain_sdp_lines() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
        use proptest::prelude::*;
        let attr = (
            "[a-z-]{1,8}",
            proptest::option::of("[ a-zA-Z0-9/:;*.-]{0,12}"),
        )
            .prop_map(|(n, v)| match v {
                Some(v) => format!("a={n}:{v}"),
                None => format!("a={n}"),
            });
        let conn = proptest::option::of("[a-z0-9.]{1,9}".prop_map(|a| format!("c=IN IP4 {a}")));
        let section = (
            "(message|audio)",
            any::<u16>(),
            "(TCP/MSRP|TCP/TLS/MSRP|RTP/AVP)",
            "(\\*|0 8|31)",
            conn.clone(),
            proptest::collection::vec(attr.clone(), 0..4),
        )
            .prop_map(|(m, port, proto, fmt, c, attrs)| {
                let mut lines = vec![format!("m={m} {port} {proto} {fmt}")];
                lines.extend(c);
                lines.extend(attrs);
                lines
            });
        (
            "(-|alice)",
            "[0-9]{1,6}",
            "[0-9]{1,6}",
            "[a-z0-9.]{1,9}",
            "[a-z-]{1,4}",
            conn,
            proptest::collection::vec(attr, 0..3),
            proptest::collection::vec(section, 0..3),
        )
            .prop_map(|(user, id, version, addr, name, c, attrs, sections)| {
                let mut lines = vec![
                    "v=0".to_owned(),
                    format!("o={user} {id} {version} IN IP4 {addr}"),
                    format!("s={name}"),
                ];
                lines.extend(c);
                lines.push("t=0 0".to_owned());
                lines.extend(attrs);
                lines.extend(sections.into_iter().flatten());
                lines
            })
    }

    /// A line near the plain shape: signs, long numbers, tabs, double spaces,
    /// extra or missing fields, port ranges, other keys, non-ASCII.
    fn near_miss_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("o=- 1 +1 IN IP4 127.0.0.1".to_owned()),
            Just("o=- 1 12345678901234567890 IN IP4 h".to_owned()),
            Just("o=-  1  1  IN IP4 h".to_owned()),
            Just("o=- 1 1 IN IP4 127.0.0.1 extra".to_owned()),
            Just("o=- 1 1 I\"N IP4 127.0.0.1".to_owned()),
            Just("o=-\t1 1 IN IP4 h".to_owned()),
            Just("c=IN IP4".to_owned()),
            Just("c=IN  IP4  h".to_owned()),
            Just("c=IN IP4 h/127".to_owned()),
            Just("t=0".to_owned()),
            Just("t=+0 0".to_owned()),
            Just("a=".to_owned()),
            Just("a=:x".to_owned()),
            Just("a= setup : active ".to_owned()),
            Just("m=message 7000/2 TCP/MSRP *".to_owned()),
            Just("m=message 99999 TCP/MSRP *".to_owned()),
            Just("m=message  7000 TCP/MSRP *".to_owned()),
            Just("m=message 7000 TCP/MSRP".to_owned()),
            Just("m=message 7000 TCP/MSRP  ".to_owned()),
            Just("m= 7000 TCP/MSRP *".to_owned()),
            Just("m=message +7000 TCP/MSRP *".to_owned()),
            Just("v=0".to_owned()),
            Just("s=".to_owned()),
            Just("novalue".to_owned()),
            Just("=x".to_owned()),
            Just("xy=z".to_owned()),
            Just("é=x".to_owned()),
            Just("a=caf\u{e9}".to_owned()),
            "[bikeuzrptxX]=[a-z0-9 :]{0,6}",
        ]
    }

    /// A generated SDP text: a plain SDP, mostly left as it is, else with one line
    /// replaced by a near miss, one inserted, two swapped or one repeated; then
    /// CRLF, LF, blank lines, a stray CR or no last line end.
    fn sdp_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let end =
            prop_oneof![8 => Just("\r\n"), 4 => Just("\n"), 1 => Just("\n\n"), 1 => Just("\r")];
        (
            plain_sdp_lines(),
            0..5u8,
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            near_miss_line(),
            proptest::collection::vec(end, 40),
            any::<bool>(),
        )
            .prop_map(|(mut lines, change, i, j, miss, ends, last_end)| {
                let (i, j) = (i.index(lines.len()), j.index(lines.len()));
                match change {
                    1 => lines[i] = miss,
                    2 => lines.insert(i, miss),
                    3 => lines.swap(i, j),
                    4 => lines.insert(i, lines[j].clone()),
                    _ => {}
                }
                let mut text = String::new();
                for (k, line) in lines.iter().enumerate() {
                    text.push_str(line);
                    if k + 1 < lines.len() || last_end {
                        text.push_str(ends[k % ends.len()]);
                    }
                }
                text
            })
    }

    /// The generator gives the property below both answers: texts the plain reader
    /// reads and texts it leaves to the full decoder (among them some the full
    /// decoder accepts and some it refuses).
    #[test]
    fn sdp_texts_exercise_both_readers() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut plain, mut full_ok, mut full_err) = (0, 0, 0);
        for _ in 0..2000 {
            let text = sdp_text().new_tree(&mut runner).expect("a text").current();
            match (super::super::sdp_plain::read(&text), decode_full(&text)) {
                (Some(_), _) => plain += 1,
                (None, Ok(_)) => full_ok += 1,
                (None, Err(_)) => full_err += 1,
            }
        }
        assert!(
            plain >= 100 && full_ok >= 100 && full_err >= 100,
            "{plain} read plainly, {full_ok} decoded in full, {full_err} refused"
        );
    }

    proptest::proptest! {
        /// The plain-shape reader agrees with the full decoder on every text it
        /// reads (its `Some` is the full decoder's `Ok`), over generated SDPs of
        /// plain lines and their near misses in any order.
        #[test]
        fn the_plain_reader_reads_what_the_full_decoder_decodes(text in sdp_text()) {
            if let Some(plain) = super::super::sdp_plain::read(&text) {
                proptest::prop_assert_eq!(Ok(plain), decode_full(&text), "{:?}", text);
            }
        }

        /// The plain shapes terminals send are read directly: an offer or answer
        /// of the usual lines, in either line end.
        #[test]
        fn plain_offers_are_read_directly(
            port in 1u16..,
            path in "[a-z0-9]{1,10}",
            crlf in proptest::bool::ANY,
            setup in "(active|passive|actpass)",
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let text = [
                "v=0".to_owned(),
                "o=- 1 1 IN IP4 127.0.0.1".to_owned(),
                "s=-".to_owned(),
                "c=IN IP4 127.0.0.1".to_owned(),
                "t=0 0".to_owned(),
                format!("m=message {port} TCP/MSRP *"),
                "a=accept-types:message/cpim".to_owned(),
                format!("a=path:msrp://127.0.0.1:{port}/{path};tcp"),
                format!("a=setup:{setup}"),
                "a=sendrecv".to_owned(),
            ]
            .join(end)
                + end;
            let plain = super::super::sdp_plain::read(&text);
            proptest::prop_assert!(plain.is_some(), "{:?}", text);
            proptest::prop_assert_eq!(plain.map(Ok), Some(decode_full(&text)));
        }
    }

    #[test]
    fn encode_marks_ipv6_addresses() {
        let sdp = Sdp {
            raw: String::new(),
            origin_address: "::1".into(),
            connection_address: Some("2001:db8::2".into()),
            attributes: vec![],
            media: vec![],
        };
        let printed = encode(&sdp);
        assert!(printed.contains("o=- 0 0 IN IP6 ::1\r\n"));
        assert!(printed.contains("c=IN IP6 2001:db8::2\r\n"));
    }
}
