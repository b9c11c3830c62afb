//! Whether a URI or a name-addr surely reads back as itself once printed, decided
//! from its parts alone: `prints_back_uri(u)` implies `parse_uri(&print_uri(u)) ==
//! Ok(u)`, and `prints_back_name_addr(a)` the same for the name-addr printer and
//! parser. The server packs a leg's dialog addresses as text only when that holds
//! (`server::packed`); printing then parsing back to find out cost about 8,000
//! instructions and a dozen allocations per address, this a scan of its characters.
//!
//! What it is *not*: an exact test. It says yes only for the plain shapes (every
//! part made of characters no parser step splits on, trims, re-cases or
//! re-interprets); `false` means "not shown here", and the caller then prints and
//! parses back to decide. A `tel:` URI's number, `Other` URIs and display names
//! with characters outside printable ASCII always take that way.

use super::sip_decode::syntax::is_token_char;
use crate::sip::NameAddr;
use crate::uri::{Host, Param, SipUri, Uri};

/// A character of a URI part that no URI parser step splits on: the URI characters
/// (`wire::uri`: graphic ASCII but `<>"`) without `;?&=@:`.
fn plain(c: u8) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            b'<' | b'>' | b'"' | b';' | b'?' | b'&' | b'=' | b'@' | b':'
        )
}

/// A non-empty run of [`plain`] characters, plus those of `also`.
fn plain_part(s: &str, also: &[u8]) -> bool {
    !s.is_empty() && s.bytes().all(|c| plain(c) || also.contains(&c))
}

/// URI parameters `;name[=value]`: the value may hold `=` (the parser splits at the
/// first) and may be empty (`;x=` reads back as an empty value).
fn uri_params(params: &[Param]) -> bool {
    params.iter().all(|p| {
        plain_part(&p.name, &[])
            && p.value
                .as_deref()
                .is_none_or(|v| v.is_empty() || plain_part(v, b"="))
    })
}

/// A host name the parser keeps as it is: lower case, its own character set, and
/// not an IPv4 literal (which would come back as `Host::V4`).
fn plain_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_'))
        && !name.bytes().all(|c| c.is_ascii_digit() || c == b'.')
}

fn sip_uri(s: &SipUri) -> bool {
    let userinfo = match (&s.user, s.password()) {
        (None, None) => true,
        // A password is printed only after a user.
        (None, Some(_)) => false,
        (Some(user), password) => {
            plain_part(user, &[])
                // The first `:` of the userinfo ends the user; the password may hold more.
                && password.is_none_or(|p| p.is_empty() || plain_part(p, b":"))
        }
    };
    let host = match &s.host {
        Host::Name(name) => plain_host_name(name),
        Host::V4(_) | Host::V6(_) => true,
    };
    userinfo
        && host
        && uri_params(&s.params)
        && s.headers().iter().all(|(name, value)| {
            plain_part(name, &[]) && (value.is_empty() || plain_part(value, b"="))
        })
}

/// Whether `uri` surely prints to text that parses back to it.
pub(crate) fn prints_back_uri(uri: &Uri) -> bool {
    match uri {
        Uri::Sip(s) => sip_uri(s),
        Uri::Tel(_) | Uri::Other(_) => false,
    }
}

/// A header parameter value: a plain one (the decoder's unquoted value characters),
/// possibly empty, or a quoted string with no escapes inside.
fn header_param_value(v: &str) -> bool {
    let unquoted = |c: u8| c.is_ascii_graphic() && !matches!(c, b'"' | b'<' | b'>' | b',' | b';');
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').is_some_and(|inner| {
            inner
                .bytes()
                .all(|c| (c.is_ascii_graphic() || c == b' ') && c != b'"' && c != b'\\')
        }),
        None => v.bytes().all(unquoted),
    }
}

/// Whether `addr` surely prints (`"display" <uri>;params`) to text that parses back
/// to it.
pub(crate) fn prints_back_name_addr(addr: &NameAddr) -> bool {
    // The printer quotes the display name (escaping `"` and `\`); the parser
    // unquotes it. Printable ASCII and spaces come back as they were.
    let display = addr
        .display
        .as_deref()
        .is_none_or(|d| d.bytes().all(|c| c.is_ascii_graphic() || c == b' '));
    display
        && prints_back_uri(&addr.uri)
        && addr.params.iter().all(|p| {
            !p.name.is_empty()
                && p.name.chars().all(is_token_char)
                && p.value.as_deref().is_none_or(header_param_value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::SipUriExtra;
    use crate::wire::{parse_name_addr, parse_uri, print_name_addr, print_uri};
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// Text from an alphabet of what the parsers split on, trim, quote or re-case,
    /// next to the plain characters, or plain text only, so both answers of the
    /// predicate come up often.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![soup(), "[a-z0-9.+_-]{1,8}"]
    }

    fn soup() -> impl Strategy<Value = String> {
        vec(
            prop::sample::select(vec![
                'a', 'b', 'z', 'A', 'Z', '0', '1', '9', '.', '-', '_', '+', '%', '~', '!', ';',
                '?', '&', '=', '@', ':', '"', '\\', '<', '>', ',', ' ', '\t', '\r', 'é', '[', ']',
                '/',
            ]),
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn param() -> impl Strategy<Value = Param> {
        (
            text(),
            option::of(prop_oneof![text(), text().prop_map(|t| format!("\"{t}\""))]),
        )
            .prop_map(|(name, value)| Param::new(name, value))
    }

    fn host() -> impl Strategy<Value = Host> {
        prop_oneof![
            text().prop_map(|t| Host::Name(t.into())),
            any::<[u8; 4]>().prop_map(|o| Host::V4(o.into())),
            any::<[u16; 8]>().prop_map(|s| Host::V6(s.into())),
            // Names that are digits and dots, or plain: the IPv4 and the kept case.
            "[0-9.]{1,9}".prop_map(|t| Host::Name(t.into())),
            "[a-z][a-z0-9.-]{0,8}".prop_map(|t| Host::Name(t.into())),
        ]
    }

    fn uri() -> impl Strategy<Value = Uri> {
        let sip = (
            any::<bool>(),
            option::of(prop_oneof![text(), "[a-z0-9.+]{1,8}"]),
            option::of(text()),
            host(),
            option::of(any::<u16>()),
            vec(param(), 0..3),
            vec((text(), text()), 0..2),
        )
            .prop_map(|(secure, user, password, host, port, params, headers)| {
                Uri::Sip(SipUri {
                    secure,
                    user: user.map(Into::into),
                    host,
                    port,
                    params,
                    extra: SipUriExtra::boxed(password, headers),
                })
            });
        prop_oneof![
            4 => sip,
            1 => text().prop_map(Uri::Other),
        ]
    }

    fn name_addr() -> impl Strategy<Value = NameAddr> {
        (option::of(text()), uri(), vec(param(), 0..3)).prop_map(|(display, uri, params)| {
            NameAddr {
                display,
                uri,
                params,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn a_uri_said_to_print_back_does(uri in uri()) {
            if prints_back_uri(&uri) {
                prop_assert_eq!(parse_uri(&print_uri(&uri)), Ok(uri));
            }
        }

        #[test]
        fn a_name_addr_said_to_print_back_does(addr in name_addr()) {
            if prints_back_name_addr(&addr) {
                let text = print_name_addr(&addr);
                prop_assert_eq!(parse_name_addr(&text), Ok(addr), "{}", text);
            }
        }
    }

    proptest! {
        /// The parts held inline (up to 24 bytes) or on the heap (longer) read and
        /// print the same: a name-addr whose user, host, parameter names and values
        /// and tag run from 1 to 40 characters, across the inline limit, decodes to
        /// exactly those parts and prints back to the text it came from.
        #[test]
        fn parts_across_the_inline_limit_decode_and_print_back(
            user in "[a-z0-9.+_-]{1,40}",
            host in "[a-z][a-z0-9-]{0,39}",
            name in "[a-z][a-z0-9-]{0,39}",
            value in "[a-z0-9.+_-]{1,40}",
            tag in "[A-Za-z0-9]{1,40}",
        ) {
            let text = format!("<sip:{user}@{host};{name}={value}>;tag={tag}");
            let addr = parse_name_addr(&text).expect("a name-addr");
            let sip = addr.uri.as_sip().expect("a sip uri");
            prop_assert_eq!(sip.user.as_deref(), Some(user.as_str()));
            prop_assert_eq!(&sip.host, &Host::Name(host.as_str().into()));
            prop_assert_eq!(sip.params.len(), 1);
            prop_assert_eq!(sip.params[0].name.as_str(), name.as_str());
            prop_assert_eq!(sip.params[0].value.as_deref(), Some(value.as_str()));
            prop_assert_eq!(addr.tag().map(|t| t.as_str().to_owned()), Some(tag.clone()));
            prop_assert_eq!(print_name_addr(&addr), text);
        }
    }

    /// The properties above test something only for values the predicate accepts:
    /// the generators must make enough of them.
    #[test]
    fn the_generators_make_values_of_both_answers() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut uris, mut addrs) = (0, 0);
        for _ in 0..2000 {
            let u = uri().new_tree(&mut runner).expect("a value").current();
            uris += usize::from(prints_back_uri(&u));
            let a = name_addr()
                .new_tree(&mut runner)
                .expect("a value")
                .current();
            addrs += usize::from(prints_back_name_addr(&a));
        }
        assert!((100..1900).contains(&uris), "{uris} of 2000 URIs");
        assert!((50..1900).contains(&addrs), "{addrs} of 2000 name-addrs");
    }

    #[test]
    fn the_addresses_of_a_call_are_shown_to_print_back() {
        // What sipp and the server's own legs use: packed without printing them twice.
        for text in [
            "sip:service@127.0.0.1:5060;tag=4711SIPpTag001",
            "\"Alice A.\" <sip:alice@example.com;transport=tcp>;tag=abc;+sip.instance=\"<urn:x>\"",
            "<sip:bob@example.com>",
            "<sips:+15551234567@[2001:db8::1]:5061;user=phone?Subject=x>;expires=60",
        ] {
            let addr = parse_name_addr(text).expect("a name-addr");
            assert!(prints_back_name_addr(&addr), "{text}");
        }
        for text in [
            "sip:127.0.0.1:5061",
            "sip:bob@client.example.com:5070;transport=udp",
        ] {
            assert!(prints_back_uri(&parse_uri(text).expect("a uri")), "{text}");
        }
    }

    #[test]
    fn shapes_it_cannot_vouch_for_are_left_to_the_caller() {
        let mut addr = parse_name_addr("<sip:bob@example.com>").expect("a name-addr");
        addr.display = Some("Bö".into());
        assert!(!prints_back_name_addr(&addr));
        if let Uri::Sip(s) = &mut addr.uri {
            s.host = Host::Name("Example.com".into());
        }
        addr.display = None;
        assert!(!prints_back_name_addr(&addr), "upper case comes back lower");
        assert!(!prints_back_uri(&Uri::Other("urn:x".into())));
        assert!(
            !prints_back_uri(&Uri::Sip(SipUri {
                secure: false,
                user: None,
                host: Host::Name("10.0.0.1".into()),
                port: None,
                params: Vec::new(),
                extra: None,
            })),
            "comes back as an IPv4 literal"
        );
    }
}
