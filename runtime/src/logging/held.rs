//! Log lines held for one wake-up of the event loop and written with one `write`.
//!
//! The loop calls [`hold`] when it wakes; until the returned guard is dropped (at
//! the end of that wake-up, or when a panic unwinds through it), every line its
//! thread logs is appended to a buffer instead of being written to stderr at
//! once, and the guard writes the buffer whole. At a high rate a wake-up ends
//! several sessions, whose `session ended` lines then leave in one system call
//! instead of one each. Lines of other threads, and of the loop's thread between
//! wake-ups (tokio tasks run there too, and may log while the loop waits for a
//! long time), are written at once, as before.
//!
//! Not here: formatting (the subscriber formats a whole line, then hands it to
//! [`Stderr`] in one `write_all`).

use std::cell::RefCell;
use std::io::Write;

/// Held bytes past which the buffer is written at once (a burst of warnings).
const HELD_MAX_BYTES: usize = 64 * 1024;

thread_local! {
    /// Whether this thread holds its lines, and what it holds.
    static HELD: RefCell<(bool, Vec<u8>)> = const { RefCell::new((false, Vec::new())) };
}

/// The subscriber's writer: stderr, or this thread's held buffer while a [`Held`]
/// guard lives on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let kept = HELD.with(|h| {
            // A line logged while the buffer is being written (cannot happen:
            // writing it logs nothing) goes straight out.
            let Ok(mut h) = h.try_borrow_mut() else {
                return false;
            };
            keep(&mut h, buf, HELD_MAX_BYTES, &mut std::io::stderr())
        });
        if kept {
            Ok(())
        } else {
            std::io::stderr().write_all(buf)
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Appends `buf` to the held lines when `state` is holding (writing them to
/// `out` once they reach `max` bytes); `false` when it is not.
fn keep(state: &mut (bool, Vec<u8>), buf: &[u8], max: usize, out: &mut dyn Write) -> bool {
    let (holding, held) = state;
    if !*holding {
        return false;
    }
    held.extend_from_slice(buf);
    if held.len() >= max {
        write_out(held, out);
    }
    true
}

/// Writes `held` to `out` and empties it (keeping its capacity). A failed write
/// loses the lines, as a failed direct write does.
fn write_out(held: &mut Vec<u8>, out: &mut dyn Write) {
    if !held.is_empty() {
        let _ = out.write_all(held);
        held.clear();
    }
}

/// Holds this thread's log lines until the guard is dropped.
#[derive(Debug)]
#[must_use = "the lines are written when the guard is dropped"]
pub struct Held {
    /// Whether this guard started the holding (a nested one leaves it to the outer).
    outer: bool,
}

/// Starts holding this thread's log lines (see the module doc).
pub fn hold() -> Held {
    let outer = HELD.with(|h| {
        let mut h = h.borrow_mut();
        !std::mem::replace(&mut h.0, true)
    });
    Held { outer }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        HELD.with(|h| {
            // Borrowed only if a panic unwound out of `keep` itself: then the
            // lines stay held rather than a second panic aborting.
            if let Ok(mut h) = h.try_borrow_mut() {
                h.0 = false;
                write_out(&mut h.1, &mut std::io::stderr());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (bool, Vec<u8>) {
        HELD.with(|h| h.borrow().clone())
    }

    #[test]
    fn a_line_is_held_while_a_guard_lives_and_the_outer_guard_ends_the_holding() {
        assert!(!state().0);
        let guard = hold();
        assert!(state().0);
        {
            // A nested hold leaves the holding to the outer guard.
            let _inner = hold();
        }
        assert!(state().0);
        drop(guard);
        assert_eq!(state(), (false, Vec::new()));
    }

    #[test]
    fn held_lines_go_out_whole_once_they_reach_the_cap() {
        let mut out = Vec::new();
        let mut s = (true, Vec::new());
        assert!(keep(&mut s, b"one\n", 8, &mut out));
        assert!(keep(&mut s, b"two\n", 8, &mut out));
        assert_eq!(
            (s.1.as_slice(), out.as_slice()),
            (&b""[..], &b"one\ntwo\n"[..])
        );
        assert!(keep(&mut s, b"three\n", 8, &mut out));
        assert_eq!(s.1, b"three\n");
        // Not holding: the caller writes the line itself.
        let mut idle = (false, Vec::new());
        assert!(!keep(&mut idle, b"four\n", 8, &mut out));
        assert!(idle.1.is_empty());
    }

    #[test]
    fn another_thread_is_not_held() {
        let _guard = hold();
        std::thread::spawn(|| assert!(!state().0)).join().unwrap();
        assert!(state().0);
    }
}
