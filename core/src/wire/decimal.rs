//! Numbers and IPv4 addresses printed into a `String` by hand: what `write!(out,
//! "{n}")` and `Ipv4Addr`'s `Display` print, without the formatting machinery
//! (`fmt::write`, padding checks, a `&dyn Write` call per piece).
//!
//! Why: every message the server prints carries several (its status code, CSeq
//! number, Content-Length, ports, the IPv4 hosts of its Via, Contact and
//! Request-URI), and the formatting machinery cost more than the rest of printing
//! them (`bench/core_ir.sh`: `Ipv4Addr::fmt` alone ~15k instructions per session).
//!
//! What it is *not*: a general formatter (no width, sign or radix); IPv6 addresses
//! keep `Display`, whose zero-run compression is not worth repeating here.

use std::net::Ipv4Addr;

/// Appends `n` in decimal, as `Display` prints it.
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        // `rest % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8, pushed as one piece rather than a char at a time.
    if let Ok(text) = std::str::from_utf8(digits.get(at..).unwrap_or_default()) {
        out.push_str(text);
    }
}

/// Appends an IPv4 address in dotted decimal, as `Display` prints it.
pub(crate) fn push_ipv4(out: &mut String, addr: Ipv4Addr) {
    for (i, octet) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(out, u64::from(octet));
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
    }

    #[test]
    fn edges() {
        for (n, text) in [
            (0, "0"),
            (9, "9"),
            (10, "10"),
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
