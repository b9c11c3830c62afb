//! The machine-readable start-up line: `cpmd ready udp=ADDR tcp=ADDR msrp=ADDR ...`,
//! one `transport=address` per bound listener in listener order (MSRP last), printed on stdout and
//! optionally written to a file, so tests and scripts can use port 0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One bound listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A UDP socket.
    Udp(SocketAddr),
    /// A TCP listener.
    Tcp(SocketAddr),
    /// A SIP-over-TLS listener (after the plain SIP ones).
    Tls(SocketAddr),
    /// An MSRP (TCP) listener.
    Msrp(SocketAddr),
    /// An MSRP-over-TLS listener (after the plain MSRP ones).
    Msrps(SocketAddr),
    /// The IMAP listener.
    Imap(SocketAddr),
    /// An IMAP listener with implicit TLS (after the plain one).
    Imaps(SocketAddr),
    /// The metrics listener (last).
    Metrics(SocketAddr),
}

/// The ready line, without a trailing newline.
pub fn ready_line(bound: &[Bound]) -> String {
    let mut line = String::from("cpmd ready");
    for b in bound {
        let (name, addr) = match b {
            Bound::Udp(a) => ("udp", a),
            Bound::Tcp(a) => ("tcp", a),
            Bound::Tls(a) => ("tls", a),
            Bound::Msrp(a) => ("msrp", a),
            Bound::Msrps(a) => ("msrps", a),
            Bound::Imap(a) => ("imap", a),
            Bound::Imaps(a) => ("imaps", a),
            Bound::Metrics(a) => ("metrics", a),
        };
        line.push_str(&format!(" {name}={addr}"));
    }
    line
}

/// Why the ready line could not be announced.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// Writing or flushing stdout failed.
    #[error("printing the ready line")]
    Print(#[source] std::io::Error),
    /// Flushing stdout failed.
    #[error("flushing stdout")]
    Flush(#[source] std::io::Error),
    /// The ready file (its temporary name) cannot be written.
    #[error("writing {}", path.display())]
    Write {
        /// The temporary file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The temporary file cannot be renamed to the ready file.
    #[error("renaming to {}", path.display())]
    Rename {
        /// The ready file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Prints the line (flushed) and writes it to `file` if given: first to a
/// temporary name, then renamed, so a reader never sees half a line.
pub fn announce(bound: &[Bound], file: Option<&Path>) -> Result<(), AnnounceError> {
    use std::io::Write as _;
    let line = ready_line(bound);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(AnnounceError::Print)?;
    out.flush().map_err(AnnounceError::Flush)?;
    if let Some(path) = file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{line}\n")).map_err(|source| AnnounceError::Write {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, path).map_err(|source| AnnounceError::Rename {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_lists_listeners_in_order() {
        let bound = [
            Bound::Udp("127.0.0.1:40001".parse().unwrap()),
            Bound::Tcp("[::1]:40002".parse().unwrap()),
            Bound::Msrp("127.0.0.1:40003".parse().unwrap()),
            Bound::Imap("127.0.0.1:40004".parse().unwrap()),
            Bound::Imaps("127.0.0.1:40005".parse().unwrap()),
        ];
        assert_eq!(
            ready_line(&bound),
            "cpmd ready udp=127.0.0.1:40001 tcp=[::1]:40002 msrp=127.0.0.1:40003 imap=127.0.0.1:40004 imaps=127.0.0.1:40005"
        );
    }
}
