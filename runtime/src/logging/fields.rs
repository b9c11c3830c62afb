//! The text format's fields (`name=value ...` after the message), printed as
//! tracing's `DefaultFields` prints them without ANSI colours, byte for byte,
//! but without its styling calls: with colours off, `DefaultFields` still
//! painted each field's name and `=` through `nu_ansi_term`'s no-op styles
//! (about 4,000 of the 11,600 instructions of the loop's `session ended` line),
//! and escaped the message character by character. On a terminal (colours on)
//! `DefaultFields` itself prints them.
//!
//! Not here: the JSON format (its own fields), the level, target and time.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;

/// The text format's fields (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let sanitize = writer.sanitizes_ansi_escapes();
        let mut v = PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
            sanitize,
        };
        fields.record(&mut v);
        v.result
    }
}

/// `DefaultVisitor` without ANSI styles.
struct PlainVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
    sanitize: bool,
}

impl PlainVisitor<'_> {
    fn maybe_pad(&mut self) {
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.result = self.writer.write_char(' ');
        }
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let sanitize = self.sanitize;
        if let Some(source) = value.source() {
            self.record_debug(
                field,
                &format_args!(
                    "{} {}.sources={}",
                    Escaped::new(format_args!("{value}"), sanitize),
                    field.name(),
                    Sources {
                        first: source,
                        sanitize
                    },
                ),
            );
        } else {
            self.record_debug(
                field,
                &format_args!("{}", Escaped::new(format_args!("{value}"), sanitize)),
            );
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // `log` crate records carry their metadata as fields, printed elsewhere.
        if name.starts_with("log.") {
            return;
        }
        self.maybe_pad();
        if self.result.is_err() {
            return;
        }
        self.result = match name {
            "message" => write!(self.writer, "{:?}", Escaped::new(value, self.sanitize)),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                self.writer
                    .write_str(name)
                    .and_then(|()| self.writer.write_char('='))
                    .and_then(|()| write!(self.writer, "{value:?}"))
            }
        };
    }
}

/// An error's sources as tracing prints them: a debug list of their texts.
struct Sources<'a> {
    first: &'a (dyn std::error::Error + 'static),
    sanitize: bool,
}

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut at = Some(self.first);
        while let Some(e) = at {
            list.entry(&Escaped::new(format_args!("{e}"), self.sanitize));
            at = e.source();
        }
        list.finish()
    }
}

/// A value printed with the terminal control characters tracing escapes
/// (ESC, BEL, BS, FF, DEL and the C1 controls) written as escapes, when
/// `sanitize` is on.
struct Escaped<T> {
    value: T,
    sanitize: bool,
}

impl<T> Escaped<T> {
    fn new(value: T, sanitize: bool) -> Self {
        Self { value, sanitize }
    }
}

impl<T: fmt::Debug> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sanitize {
            write!(Escaping { inner: f }, "{:?}", self.value)
        } else {
            write!(f, "{:?}", self.value)
        }
    }
}

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sanitize {
            write!(Escaping { inner: f }, "{}", self.value)
        } else {
            write!(f, "{}", self.value)
        }
    }
}

/// Writes through to `inner`, escaping as tracing's `EscapingWriter` does; text
/// without such characters (all of cpmd's own) goes through in one piece.
struct Escaping<'a, 'b> {
    inner: &'a mut fmt::Formatter<'b>,
}

/// Whether `s` holds a character [`Escaping`] rewrites: ESC, BEL, BS, FF, DEL,
/// or a C1 control (U+0080..=U+009F, in UTF-8 `C2 80`..=`C2 9F`).
fn needs_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| match c {
        0x1b | 0x07 | 0x08 | 0x0c | 0x7f => true,
        0xc2 => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        _ => false,
    })
}

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !needs_escape(s) {
            return self.inner.write_str(s);
        }
        for ch in s.chars() {
            match ch {
                '\x1b' => self.inner.write_str("\\x1b")?,
                '\x07' => self.inner.write_str("\\x07")?,
                '\x08' => self.inner.write_str("\\x08")?,
                '\x0c' => self.inner.write_str("\\x0c")?,
                '\x7f' => self.inner.write_str("\\x7f")?,
                ch if ('\u{80}'..='\u{9f}').contains(&ch) => {
                    write!(self.inner, "\\u{{{:x}}}", ch as u32)?;
                }
                _ => self.inner.write_char(ch)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
