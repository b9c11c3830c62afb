//! Logging: `[log]` in the configuration file (`--log-format` on the command line)
//! and the subscriber the binary installs. Logs go to stderr, filtered by
//! `RUST_LOG` (default `info`), as text for people or one JSON object per line for
//! log shippers:
//!
//! ```json
//! {"timestamp":"2026-12-06T18:00:00.000000Z","level":"INFO","fields":{"message":"session ended","conversation_id":"…","contribution_id":"…","kind":"1-to-1","outcome":"sealed","messages":2},"target":"cpmd::event_loop"}
//! ```
//!
//! The one `session ended` line per session is on the loop's hot path, so the
//! pieces around tracing's formatter are cheap ones printing the same text:
//! the timestamp ([`time`]), the text format's fields ([`fields`]), and stderr
//! writes held per wake-up of the loop ([`held`], [`hold`]).
//!
//! What it is *not*: what is logged (each module logs its own events; the one line
//! per session end is `event_loop::log_event`).

mod fields;
mod held;
mod time;

use serde::Deserialize;

pub use held::{hold, Held};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`),
    /// `target`.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFileConfig {
    /// `text` (default) or `json`.
    pub format: LogFormat,
}

/// Installs the global subscriber writing to stderr in `format`.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(held::Stderr)
        .with_timer(time::UtcMicros);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .fmt_fields(fields::PlainFields)
            .init(),
        // No ANSI escapes inside JSON strings, terminal or not.
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_reads_from_the_file_section() {
        let c: LogFileConfig = toml::from_str("format = \"json\"").unwrap();
        assert_eq!(c.format, LogFormat::Json);
        let c: LogFileConfig = toml::from_str("").unwrap();
        assert_eq!(c.format, LogFormat::Text);
        assert!(toml::from_str::<LogFileConfig>("format = \"xml\"").is_err());
    }
}
