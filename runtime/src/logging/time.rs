//! The timestamp of every log line, in the form tracing's `SystemTime` prints
//! (`2026-12-07T12:23:41.374038Z`: UTC, microseconds), with the date and time of
//! day formatted once per second per thread and only the microseconds per line:
//! tracing's formatter spent about 2,400 instructions per line on the calendar
//! arithmetic and its `write!`s, the loop's one `session ended` line per session
//! included (bench/README.md "Session 10: the loop").
//!
//! Not here: the core's clock (`event_loop` reads its own) or any other format.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// UTC with microseconds (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcMicros;

thread_local! {
    /// The second last printed by this thread and its `YYYY-MM-DDTHH:MM:SS.`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        SECOND.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => {
                let (second, prefix) = &mut *s;
                if *second != since.as_secs() {
                    *second = since.as_secs();
                    prefix.clear();
                    push_second(prefix, since.as_secs());
                }
                w.write_str(prefix)?;
                push_micros(w, since)
            }
            // Cannot happen (nothing here logs); printed the slow way.
            Err(_) => {
                let mut prefix = String::new();
                push_second(&mut prefix, since.as_secs());
                w.write_str(&prefix)?;
                push_micros(w, since)
            }
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` of `secs` after the epoch, UTC.
fn push_second(out: &mut String, secs: u64) {
    let at = i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default();
    let _ = write!(out, "{}.", at.format("%Y-%m-%dT%H:%M:%S"));
}

/// The six digits of the microseconds and the `Z`.
fn push_micros(w: &mut impl fmt::Write, since: Duration) -> fmt::Result {
    let mut micros = since.subsec_micros();
    let mut digits = [b'0'; 7];
    digits[6] = b'Z';
    for d in digits[..6].iter_mut().rev() {
        // `micros % 10` is one digit.
        #[allow(clippy::cast_possible_truncation)]
        {
            *d = b'0' + (micros % 10) as u8;
        }
        micros /= 10;
    }
    // ASCII digits and `Z`.
    w.write_str(std::str::from_utf8(&digits).unwrap_or("000000Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(since: Duration) -> String {
        let mut out = String::new();
        push_second(&mut out, since.as_secs());
        push_micros(&mut out, since).unwrap();
        out
    }

    /// What tracing's `SystemTime` prints, by chrono's formatter.
    fn reference(since: Duration) -> String {
        let at = chrono::DateTime::from_timestamp(
            i64::try_from(since.as_secs()).unwrap(),
            since.subsec_nanos(),
        )
        .unwrap();
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }

    #[test]
    fn prints_utc_with_six_digits_of_microseconds() {
        for (secs, nanos) in [
            (0, 0),
            (1_796_646_221, 374_038_123),
            (1_796_646_221, 999_999_999),
            (1_796_646_221, 1_000),
            (951_782_400, 5_000),     // 2000-02-29
            (4_102_444_799, 999_000), // 2099-12-31T23:59:59
        ] {
            let since = Duration::new(secs, nanos);
            assert_eq!(printed(since), reference(since), "{secs}.{nanos}");
        }
        assert_eq!(
            printed(Duration::new(1_796_646_221, 374_038_123)),
            "2026-12-07T12:23:41.374038Z"
        );
    }

    #[test]
    fn the_cached_second_is_printed_again_within_it_and_renewed_after() {
        let mut w1 = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut w1)).unwrap();
        let mut w2 = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut w2)).unwrap();
        // Both lines have the form, and the cache holds the second printed last.
        for w in [&w1, &w2] {
            assert_eq!(w.len(), "2026-12-07T12:23:41.374038Z".len(), "{w}");
            assert!(w.ends_with('Z') && w.as_bytes()[19] == b'.', "{w}");
        }
        let (second, prefix) = SECOND.with(|s| s.borrow().clone());
        let mut expected = String::new();
        push_second(&mut expected, second);
        assert_eq!(prefix, expected);
        assert!(w2.starts_with(&prefix), "{w2} {prefix}");
    }
}
