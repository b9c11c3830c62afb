//! A direct reader for SDP bodies of the plain shape terminals send (`v=0` first,
//! one `o=`, `s=`, `c=`, `t=`, `a=` lines, `m=` sections holding only `c=` and
//! `a=` lines, printable ASCII, CRLF or LF line ends).
//!
//! [`read`] gives `Some` only for such a text, and then exactly the [`Sdp`] that
//! the full decoder ([`super::sdp::decode`] through the `sdp-types` crate) gives for
//! it (a property test holds the two against each other over generated and mangled
//! bodies). Every 1-to-1 session decodes two SDPs (A's offer, B's answer), and the
//! crate's parser builds a substring searcher and an owned string per field: ~19,000
//! instructions per body in `bench/core_ir.sh`, this a few thousand.
//!
//! What it is *not*: an SDP parser of its own. Anything outside the plain shape (a
//! control character or non-ASCII byte, a line key other than those above, a
//! number with a sign or more digits than fit, a port range, a second `o=`, `s=`
//! or session `c=`, a field the crate would refuse) gives `None`, and the caller
//! takes the full decoder, which accepts or refuses it and says why.

// Cuts at an ASCII byte by a plain scan, not `str::split`'s `CharSearcher` (a
// `memchr` set-up per call, more than the short SDP lines and fields it cuts).
use super::ascii::printable;
use super::sip_decode::syntax::{cut, pieces};
use crate::sdp::{Sdp, SdpAttribute, SdpMedia};

/// The plain-shaped SDP `text` decoded, or `None` to take the full decoder.
pub(super) fn read(text: &str) -> Option<Sdp> {
    // Lines cut at LF with a CR before it dropped, empty lines skipped:
    // `sdp-types`' reading, which keeps a CR that ends the text (and refuses it).
    // Every line must then be printable ASCII, so a CR anywhere else, a control
    // character or a non-ASCII byte sends the text the full way.
    if text.ends_with('\r') {
        return None;
    }
    let mut lines = pieces(text, b'\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty());
    if lines.next()? != "v=0" {
        return None;
    }
    let mut origin = None;
    let mut name_seen = false;
    let mut connection = None;
    let mut attributes = Vec::new();
    let mut media: Vec<SdpMedia> = Vec::new();
    for line in lines {
        if !printable(line.as_bytes()) {
            return None;
        }
        let (key, value) = split_line(line)?;
        match (key, media.last_mut()) {
            (b'o', None) if origin.is_none() => origin = Some(origin_address(value)?),
            (b's', None) if !name_seen => name_seen = true,
            (b'c', None) if connection.is_none() => connection = Some(connection_address(value)?),
            (b't', None) => {
                let [start, stop] = fields::<2>(value)?;
                if !(is_u64(start) && is_u64(stop)) {
                    return None;
                }
            }
            (b'a', None) => attributes.push(attribute(value)?),
            (b'm', _) => media.push(m_line(value)?),
            (b'c', Some(m)) => {
                let address = connection_address(value)?;
                // The first `c=` of a section is the one kept (as `wire::sdp`).
                if m.connection_address.is_none() {
                    m.connection_address = Some(address);
                }
            }
            (b'a', Some(m)) => m.attributes.push(attribute(value)?),
            _ => return None,
        }
    }
    Some(Sdp {
        raw: text.to_owned(),
        origin_address: origin?,
        connection_address: connection,
        attributes,
        media,
    })
}

/// `k=value` with a one-character key other than `=`.
fn split_line(line: &str) -> Option<(u8, &str)> {
    let bytes = line.as_bytes();
    match bytes {
        [key, b'=', ..] if *key != b'=' => Some((*key, line.get(2..)?)),
        _ => None,
    }
}

/// Exactly `N` fields separated by runs of spaces.
fn fields<const N: usize>(value: &str) -> Option<[&str; N]> {
    let mut parts = pieces(value, b' ').filter(|p| !p.is_empty());
    let mut out = [""; N];
    for slot in &mut out {
        *slot = parts.next()?;
    }
    parts.next().is_none().then_some(out)
}

/// `<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`:
/// the address.
fn origin_address(value: &str) -> Option<String> {
    let [_, _, version, nettype, addrtype, address] = fields::<6>(value)?;
    (is_u64(version) && is_token(nettype) && is_token(addrtype)).then(|| address.to_owned())
}

/// `<nettype> <addrtype> <connection-address>`: the address.
fn connection_address(value: &str) -> Option<String> {
    let [nettype, addrtype, address] = fields::<3>(value)?;
    (is_token(nettype) && is_token(addrtype)).then(|| address.to_owned())
}

/// `<media> <port> <proto> <fmt> ...` with one space between the first four.
fn m_line(value: &str) -> Option<SdpMedia> {
    // `splitn(4, ' ')`: the format list is the rest of the line.
    let (media, rest) = cut(value, b' ')?;
    let (port, rest) = cut(rest, b' ')?;
    let (proto, fmt) = cut(rest, b' ')?;
    let port_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    if media.is_empty() || !port_ok || proto.trim().is_empty() || fmt.trim().is_empty() {
        return None;
    }
    Some(SdpMedia {
        media: media.to_owned(),
        port: port.parse().ok()?,
        proto: proto.to_owned(),
        formats: fmt.split_ascii_whitespace().map(str::to_owned).collect(),
        connection_address: None,
        attributes: Vec::new(),
    })
}

/// `name[:value]`, both trimmed (as `wire::sdp`'s attribute lines).
fn attribute(value: &str) -> Option<SdpAttribute> {
    if value.is_empty() {
        return None;
    }
    Some(match cut(value, b':') {
        Some((name, value)) => SdpAttribute {
            name: name.trim().to_owned(),
            value: Some(value.trim().to_owned()),
        },
        None => SdpAttribute {
            name: value.trim().to_owned(),
            value: None,
        },
    })
}

/// Digits only, few enough that they fit a `u64` whatever they are.
fn is_u64(s: &str) -> bool {
    !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 8866 §9 `token` (as `sdp-types` checks a nettype and an addrtype).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| {
        matches!(
            b,
            0x21 | 0x23..=0x27 | 0x2a..=0x2b | 0x2d..=0x2e | 0x30..=0x39 | 0x41..=0x5a | 0x5e..=0x7e
        )
    })
}
