//! Numbers and IPv4 addresses printed into a `String` by hand: what `write!(out,
//! "{n}")` and `Ipv4Addr`'s `Display` print, without the formatting machinery
//! (`fmt::write`, padding checks, a `&dyn Write` call per piece).
//!
//! Why: every message the server prints carries several (its status code, CSeq
//! number, Content-Length, ports, the IPv4 hosts of its Via, Contact and
//! Request-URI), and the formatting machinery cost more than the rest of printing
//! them (`bench/core_ir.sh`: `Ipv4Addr::fmt` alone ~15k instructions per session).
//!
//! A value-layer module (it names nothing else of the crate), so the values (`time`,
//! `uri`) print with it as well as `wire` and `server`.
//!
//! What it is *not*: a general formatter (no width, sign or radix); IPv6 addresses
//! keep `Display`, whose zero-run compression is not worth repeating here.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use compact_str::CompactString;

/// Text a number is appended to: a `String`, or a `CompactString` where the
/// result is a short part of a message (a Via's `rport` and `received`), so the
/// number is printed into its inline bytes with no allocation.
pub(crate) trait Text: Write {
    /// Appends one ASCII character.
    fn push_ascii(&mut self, c: char);
    /// Room for `n` more bytes.
    fn reserve_bytes(&mut self, n: usize);
}

impl Text for String {
    fn push_ascii(&mut self, c: char) {
        self.push(c);
    }
    fn reserve_bytes(&mut self, n: usize) {
        self.reserve(n);
    }
}

impl Text for CompactString {
    fn push_ascii(&mut self, c: char) {
        self.push(c);
    }
    fn reserve_bytes(&mut self, n: usize) {
        self.reserve(n);
    }
}

/// Appends `n` in decimal, as `Display` prints it.
///
/// Most numbers the server prints are short (an IPv4 octet, a status code, a CSeq
/// number, a Content-Length), so up to three digits are pushed straight as ASCII
/// characters; longer ones are cut into a buffer first. ASCII digits are pushed one
/// `char` at a time: a `push_str` of a two-byte slice was a `memcpy` call and a
/// `from_utf8` check per number (`bench/core_ir.sh`, session 12: ~130 instructions
/// per octet).
pub(crate) fn push_decimal<T: Text>(out: &mut T, n: u64) {
    if n < 1000 {
        // Below 1000, so the casts cannot truncate.
        push_small(out, n as u16);
        return;
    }
    let mut buf = [0u8; 20];
    let digits = decimal_digits(n, &mut buf);
    out.reserve_bytes(digits.len());
    for d in digits {
        out.push_ascii(char::from(*d));
    }
}

/// Appends `n` (below 1000) in decimal.
fn push_small<T: Text>(out: &mut T, n: u16) {
    // `d % 10` is below 10, so the cast cannot truncate.
    let digit = |d: u16| char::from(b'0' + (d % 10) as u8);
    if n >= 100 {
        out.push_ascii(digit(n / 100));
    }
    if n >= 10 {
        out.push_ascii(digit(n / 10));
    }
    out.push_ascii(digit(n));
}

/// The ASCII decimal digits of `n`, written at the end of `buf` (u64::MAX has 20
/// digits): the one digit loop of the core's printers, for text (`push_decimal`)
/// and for byte buffers (the MSRP printer).
pub(crate) fn decimal_digits(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut rest = n;
    loop {
        at -= 1;
        // `rest % 10` is below 10, so the cast cannot truncate.
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buf.get(at..).unwrap_or_default()
}

/// Appends an IPv4 address in dotted decimal, as `Display` prints it.
pub(crate) fn push_ipv4<T: Text>(out: &mut T, addr: Ipv4Addr) {
    // "255.255.255.255" is 15 bytes: one growth check for the whole address.
    out.reserve_bytes(15);
    for (i, octet) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            out.push_ascii('.');
        }
        push_small(out, u16::from(octet));
    }
}

/// `addr` as `Display` prints it: dotted decimal for IPv4 (by hand), `Display`'s
/// text for IPv6.
pub(crate) fn push_ip<T: Text>(out: &mut T, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        // Writing to a String or CompactString cannot fail.
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn numbers_print_as_display_does(n in any::<u64>()) {
            let mut out = String::from("x");
            push_decimal(&mut out, n);
            prop_assert_eq!(out, format!("x{n}"));
        }

        #[test]
        fn addresses_print_as_display_does(bits in any::<u32>()) {
            let addr = Ipv4Addr::from(bits);
            let mut out = String::new();
            push_ipv4(&mut out, addr);
            prop_assert_eq!(out, addr.to_string());
        }

        #[test]
        fn ip_addresses_print_as_display_does_inline_too(
            v4 in any::<u32>(), v6 in any::<u128>(), n in any::<u64>(), six in any::<bool>(),
        ) {
            let addr = if six {
                IpAddr::from(std::net::Ipv6Addr::from(v6))
            } else {
                IpAddr::from(Ipv4Addr::from(v4))
            };
            let mut text = String::new();
            push_ip(&mut text, addr);
            prop_assert_eq!(&text, &addr.to_string());
            let mut inline = CompactString::default();
            push_ip(&mut inline, addr);
            push_decimal(&mut inline, n);
            prop_assert_eq!(inline.as_str(), format!("{addr}{n}"));
        }
    }

    #[test]
    fn edges() {
        for (n, text) in [
            (0, "0"),
            (9, "9"),
            (10, "10"),
            (99, "99"),
            (100, "100"),
            (999, "999"),
            (1000, "1000"),
            (u64::MAX, "18446744073709551615"),
        ] {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, text);
        }
        let mut out = String::new();
        push_ipv4(&mut out, Ipv4Addr::new(0, 10, 100, 255));
        assert_eq!(out, "0.10.100.255");
    }
}
