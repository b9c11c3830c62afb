//! `PlainFields` prints what `DefaultFields` prints without colours, byte for
//! byte, for every kind of field value: the two subscribers log the same events.

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

use super::PlainFields;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("outer \x1b[31mfailure")]
struct Outer(#[source] Inner);

#[derive(Debug, thiserror::Error)]
#[error("inner\u{85}cause")]
struct Inner;

#[derive(Debug, thiserror::Error)]
#[error("plain failure")]
struct Plain;

/// Every shape of field the runtime logs, and the characters tracing escapes.
fn events() {
    let id = "c0ffee-\u{e9}t\u{e9}";
    tracing::info!(session = %id, conversation_id = %"conv", kind = "1-to-1",
        outcome = "sealed", replaced_by = Option::<u32>::None.map(tracing::field::display),
        messages = 3u32, "session ended");
    tracing::warn!(conn = 7u64, peer = %"127.0.0.1:5060", reason = ?"a \"quoted\"\nline", "connection gone; reconnecting");
    tracing::error!(
        error = &Outer(Inner) as &(dyn std::error::Error + 'static),
        "store write failed"
    );
    tracing::error!(
        error = &Plain as &(dyn std::error::Error + 'static),
        "plain"
    );
    tracing::info!(
        "message with \x1b[1mescape\x07 \x08 \x0c \x7f and C1 \u{9b} \u{80} kept \u{a0}"
    );
    tracing::info!(
        r#type = "raw",
        flag = true,
        n = -5i64,
        f = 1.5f64,
        "raw names"
    );
    tracing::info!(message = "message as a field", other = 1u8);
    tracing::info!(text = "ends in ESC \x1b", "escapes only in the message");
    tracing::info!("");
}

fn printed<N>(fields: N) -> String
where
    N: for<'w> FormatFields<'w> + Send + Sync + 'static,
{
    let out = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(out.clone())
        .with_ansi(false)
        .without_time()
        .fmt_fields(fields)
        .finish();
    tracing::subscriber::with_default(subscriber, events);
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn plain_fields_print_what_default_fields_print_without_colours() {
    let plain = printed(PlainFields);
    let default = printed(DefaultFields::new());
    assert_eq!(plain.lines().count(), 9, "{plain}");
    assert!(plain.contains("\\x1b[1mescape\\x07"), "{plain}");
    assert!(plain.contains("kind=\"1-to-1\""), "{plain}");
    for (p, d) in plain.lines().zip(default.lines()) {
        assert_eq!(p, d);
    }
    assert_eq!(plain, default);
}

#[test]
fn the_escape_check_finds_exactly_the_escaped_characters() {
    for c in ['\x1b', '\x07', '\x08', '\x0c', '\x7f', '\u{80}', '\u{9f}'] {
        assert!(super::needs_escape(&format!("a{c}b")), "{c:?}");
    }
    for c in [
        '\n',
        '\t',
        '\x00',
        '\u{a0}',
        '\u{7e}',
        '\u{100}',
        '\u{2028}',
        '\u{1f600}',
    ] {
        assert!(!super::needs_escape(&format!("a{c}b")), "{c:?}");
    }
}
