//! A leg's dialog addresses kept packed ([`Packed`]): its From and To (`NameAddr`)
//! and its remote target (`Uri`) as their wire text, parsed again only when the
//! server sends a request on the dialog (a BYE, a NOTIFY: rare next to the time a
//! session sits idle).
//!
//! Why: a parsed `NameAddr` is 176 bytes inline plus a handful of strings (user,
//! host, each parameter's name and value), a `Uri` 128 plus its own; every leg kept
//! three of them for as long as its session lasted, most of an idle session's
//! bytes. The text of one is a single allocation of its length.
//!
//! What it is *not*: a cache of the parsed value, nor lossy. A value is kept as text
//! only when its text parses back to the very same value (known from its parts for
//! the plain shapes, `wire::prints_back`, else checked by parsing it back when it is
//! packed); any other is kept whole. So equality and hashing are those of the value:
//! equal values pack to the same variant and text, and different values to different
//! ones.

use crate::sip::NameAddr;
use crate::uri::Uri;
use crate::wire;

/// A value with a wire text that parses back to it (for most values).
pub(crate) trait WireText: Sized {
    /// The value's wire text.
    fn print(&self) -> String;
    /// The value of a wire text; `None` when it does not parse.
    fn parse(text: &str) -> Option<Self>;
    /// Whether the value's text surely parses back to it, judged from its parts
    /// (`false`: not known without parsing).
    fn surely_prints_back(&self) -> bool;
}

impl WireText for NameAddr {
    fn print(&self) -> String {
        wire::print_name_addr(self)
    }
    fn parse(text: &str) -> Option<Self> {
        wire::parse_name_addr(text).ok()
    }
    fn surely_prints_back(&self) -> bool {
        wire::prints_back_name_addr(self)
    }
}

impl WireText for Uri {
    fn print(&self) -> String {
        wire::print_uri(self)
    }
    fn parse(text: &str) -> Option<Self> {
        wire::parse_uri(text).ok()
    }
    fn surely_prints_back(&self) -> bool {
        wire::prints_back_uri(self)
    }
}

/// A value kept as its wire text when that round-trips exactly, else whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Packed<T> {
    /// The wire text, which parses back to the value.
    Text(Box<str>),
    /// A value whose text would not parse back to it.
    Whole(Box<T>),
}

impl<T: WireText + PartialEq + Clone> Packed<T> {
    /// Packs `value`.
    pub(crate) fn new(value: T) -> Self {
        let text = value.print();
        // The plain shapes (every address of an ordinary call) are known to read
        // back from their parts; only the others are parsed back to find out. The
        // outcome is the same either way (`wire::prints_back`'s property tests).
        if value.surely_prints_back() || T::parse(&text).as_ref() == Some(&value) {
            Packed::Text(text.into_boxed_str())
        } else {
            Packed::Whole(Box::new(value))
        }
    }

    /// The value.
    pub(crate) fn get(&self) -> T {
        match self {
            // It parsed to the value when it was packed; the parse is a pure
            // function of the text, so it does again.
            Packed::Text(text) => T::parse(text).unwrap_or_else(|| unreachable_parse(text)),
            Packed::Whole(value) => (**value).clone(),
        }
    }
}

/// A packed text that no longer parses: impossible (it was checked when packed).
#[cold]
fn unreachable_parse<T>(text: &str) -> T {
    unreachable!("a packed wire text parsed when packed and not now: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> NameAddr {
        wire::parse_name_addr(text).expect("a name-addr")
    }

    #[test]
    fn a_plain_address_is_kept_as_text_and_comes_back_the_same() {
        let a = addr(
            "\"Alice A.\" <sip:alice@example.com;transport=tcp>;tag=abc;+sip.instance=\"<urn:x>\"",
        );
        let packed = Packed::new(a.clone());
        assert!(matches!(packed, Packed::Text(_)), "{packed:?}");
        assert_eq!(packed.get(), a);
        let uri = a.uri.clone();
        let packed = Packed::new(uri.clone());
        assert!(matches!(packed, Packed::Text(_)), "{packed:?}");
        assert_eq!(packed.get(), uri);
    }

    #[test]
    fn a_value_whose_text_does_not_come_back_is_kept_whole() {
        // A URI the printer writes but the parser would read differently (an empty
        // `Other`): kept whole, and still equal to itself.
        let odd = Uri::Other(String::new());
        let packed = Packed::new(odd.clone());
        assert!(matches!(packed, Packed::Whole(_)), "{packed:?}");
        assert_eq!(packed.get(), odd);
    }

    #[test]
    fn equal_values_pack_equal_and_different_ones_differ() {
        let a = Packed::new(addr("<sip:bob@example.com>;tag=1"));
        let b = Packed::new(addr("<sip:bob@example.com>;tag=1"));
        let c = Packed::new(addr("<sip:bob@example.com>;tag=2"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
