//! Where the printers write: [`Sink`], text appended to a `String` (a URI or an
//! address printed on its own, `print_uri`, `print_name_addr`) or to a byte buffer
//! (a whole message, `encode_message_into`). One set of printing functions serves
//! both, generic over the sink.
//!
//! Why bytes for messages: a message goes to the wire as bytes, and the event loop
//! and the UDP send thread append each one to a buffer they reuse (one allocation
//! per message fewer than a `String` each, bench/README.md "Session 15"). On bytes,
//! numbers and IPv4 addresses are cut into a small stack buffer and appended in one
//! piece, not pushed as `char`s one by one.
//!
//! What it is *not*: a formatter (no width, no escaping) nor a validator: what is
//! appended must already be valid in its place (every sink receives UTF-8 text or
//! single ASCII bytes only, so a `String` stays valid).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::decimal;

/// Text appended to a buffer.
pub(crate) trait Sink {
    /// Appends `s`.
    fn text(&mut self, s: &str);
    /// Appends one ASCII byte (`b` below 128).
    fn ascii(&mut self, b: u8);
    /// Appends `n` in decimal, as `Display` prints it.
    fn decimal(&mut self, n: u64);
    /// Appends an IPv4 address in dotted decimal, as `Display` prints it.
    fn ipv4(&mut self, a: Ipv4Addr);
    /// Appends `[addr]`, the address as `Display` prints it (rare: not by hand).
    fn ipv6_reference(&mut self, a: Ipv6Addr);
}

impl Sink for String {
    fn text(&mut self, s: &str) {
        self.push_str(s);
    }
    fn ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
    fn decimal(&mut self, n: u64) {
        decimal::push_decimal(self, n);
    }
    fn ipv4(&mut self, a: Ipv4Addr) {
        decimal::push_ipv4(self, a);
    }
    fn ipv6_reference(&mut self, a: Ipv6Addr) {
        // Writing to a String cannot fail.
        let _ = write!(self, "[{a}]");
    }
}

impl Sink for Vec<u8> {
    fn text(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn ascii(&mut self, b: u8) {
        self.push(b);
    }
    fn decimal(&mut self, n: u64) {
        // The short numbers (status codes, CSeq numbers, Content-Lengths, ports of
        // three digits) as constant-length pieces: no `memcpy` call.
        let digit = |d: u64| b'0' + (d % 10) as u8;
        match n {
            0..=9 => self.push(digit(n)),
            10..=99 => self.extend_from_slice(&[digit(n / 10), digit(n)]),
            100..=999 => self.extend_from_slice(&[digit(n / 100), digit(n / 10), digit(n)]),
            _ => {
                let mut buf = [0u8; 20];
                self.extend_from_slice(decimal::decimal_digits(n, &mut buf));
            }
        }
    }
    fn ipv4(&mut self, a: Ipv4Addr) {
        // Each octet's text from a table as a fixed four-byte copy into a stack
        // buffer, kept as long as its digits; the address appended in one piece.
        let mut buf = [0u8; 19];
        let mut at = 0;
        for (i, octet) in a.octets().into_iter().enumerate() {
            let (text, len) = OCTETS[usize::from(octet)];
            if let Some(room) = buf.get_mut(at..at + 4) {
                room.copy_from_slice(&text);
            }
            at += usize::from(len);
            if i < 3 {
                if let Some(dot) = buf.get_mut(at) {
                    *dot = b'.';
                }
                at += 1;
            }
        }
        self.extend_from_slice(buf.get(..at).unwrap_or_default());
    }
    fn ipv6_reference(&mut self, a: Ipv6Addr) {
        let mut text = String::with_capacity(48);
        text.ipv6_reference(a);
        self.extend_from_slice(text.as_bytes());
    }
}

/// Each octet value's decimal digits (padded to four bytes) and their count.
static OCTETS: [([u8; 4], u8); 256] = {
    let mut table = [([0u8; 4], 0u8); 256];
    let mut n = 0;
    while n < 256 {
        // Below 256, so the casts are exact.
        let (h, t, o) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
        table[n] = if n >= 100 {
            ([b'0' + h, b'0' + t, b'0' + o, 0], 3)
        } else if n >= 10 {
            ([b'0' + t, b'0' + o, 0, 0], 2)
        } else {
            ([b'0' + o, 0, 0, 0], 1)
        };
        n += 1;
    }
    table
};

/// Counts the bytes a print appends, to size its buffer exactly (a value printed
/// to be kept, `print_uri`, `print_name_addr`: no growth on the way, no shrink at
/// the end).
#[derive(Debug, Default)]
pub(crate) struct Measure(pub(crate) usize);

impl Sink for Measure {
    fn text(&mut self, s: &str) {
        self.0 += s.len();
    }
    fn ascii(&mut self, _: u8) {
        self.0 += 1;
    }
    fn decimal(&mut self, n: u64) {
        let mut buf = [0u8; 20];
        self.0 += decimal::decimal_digits(n, &mut buf).len();
    }
    fn ipv4(&mut self, a: Ipv4Addr) {
        self.0 += 3 + a
            .octets()
            .into_iter()
            .map(|o| usize::from(OCTETS[usize::from(o)].1))
            .sum::<usize>();
    }
    fn ipv6_reference(&mut self, a: Ipv6Addr) {
        let mut text = String::with_capacity(48);
        text.ipv6_reference(a);
        self.0 += text.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write_all<S: Sink>(s: &mut S, text: &str, n: u64, v4: Ipv4Addr, v6: Ipv6Addr) {
        s.text(text);
        s.ascii(b';');
        s.decimal(n);
        s.ascii(b' ');
        s.ipv4(v4);
        s.ipv6_reference(v6);
    }

    proptest! {
        #[test]
        fn bytes_and_text_print_as_display_does(
            text in "[ -~]{0,12}", n in any::<u64>(), v4 in any::<u32>(), v6 in any::<u128>(),
        ) {
            let (v4, v6) = (Ipv4Addr::from(v4), Ipv6Addr::from(v6));
            let expected = format!("{text};{n} {v4}[{v6}]");
            let mut s = String::new();
            write_all(&mut s, &text, n, v4, v6);
            prop_assert_eq!(&s, &expected);
            let mut b = b"x".to_vec();
            write_all(&mut b, &text, n, v4, v6);
            prop_assert_eq!(b, format!("x{expected}").into_bytes());
            let mut size = Measure::default();
            write_all(&mut size, &text, n, v4, v6);
            prop_assert_eq!(size.0, expected.len());
        }
    }

    #[test]
    fn edges() {
        for (a, text) in [
            (Ipv4Addr::new(0, 0, 0, 0), "0.0.0.0"),
            (Ipv4Addr::new(255, 255, 255, 255), "255.255.255.255"),
            (Ipv4Addr::new(10, 100, 9, 99), "10.100.9.99"),
        ] {
            let mut b = Vec::new();
            b.ipv4(a);
            assert_eq!(b, text.as_bytes());
        }
        for n in [0, 9, 10, 999, 1000, u64::MAX] {
            let mut b = Vec::new();
            b.decimal(n);
            assert_eq!(b, n.to_string().into_bytes());
        }
    }
}
