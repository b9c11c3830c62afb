//! The input trace: with `--trace-input` (or `trace_input = true` in the
//! configuration file) every input the event loop feeds the core from the network is
//! appended, in the order fed, to `<data_dir>/input-trace.jsonl`, so a test can replay
//! exactly what cpmd received (e.g. into the model). One JSON object per line:
//!
//! ```json
//! {"t_ms":1234,"kind":"bytes","transport":"udp","conn":1,"peer":"127.0.0.1:5062","text":"REGISTER ..."}
//! {"t_ms":2345,"kind":"closed","transport":"tcp","conn":7}
//! ```
//!
//! `t_ms` is the core's clock (ms since start) passed with the input; `text` holds the
//! datagram or stream chunk when it is UTF-8, `bytes` (an array of numbers) otherwise.
//! Stream chunks are recorded as read from the socket, before framing. Write errors are
//! logged once and end the trace; they never stop the server.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cpmd_core::{ConnId, Time, Transport};
use serde_json::{json, Value};

/// File name of the trace in the data directory.
pub const TRACE_FILE: &str = "input-trace.jsonl";

/// An open input trace.
pub struct InputTrace {
    path: PathBuf,
    out: BufWriter<File>,
}

impl InputTrace {
    /// Opens (appending) `<data_dir>/input-trace.jsonl`.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(TRACE_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            out: BufWriter::new(file),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records bytes received on a flow.
    pub fn bytes(
        &mut self,
        now: Time,
        transport: Transport,
        conn: ConnId,
        peer: SocketAddr,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        let mut v = json!({
            "t_ms": now.as_ms(),
            "kind": "bytes",
            "transport": transport_name(transport),
            "conn": conn.get(),
            "peer": peer.to_string(),
        });
        match std::str::from_utf8(bytes) {
            Ok(text) => v["text"] = Value::from(text),
            Err(_) => v["bytes"] = Value::from(bytes.to_vec()),
        }
        self.line(&v)
    }

    /// Records the end of a TCP connection.
    pub fn closed(&mut self, now: Time, conn: ConnId) -> std::io::Result<()> {
        self.line(&json!({
            "t_ms": now.as_ms(),
            "kind": "closed",
            "transport": "tcp",
            "conn": conn.get(),
        }))
    }

    /// Writes what is buffered (called once per wake-up, after the inputs).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn line(&mut self, v: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")
    }
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_hold_flow_time_and_payload() {
        let dir = tempfile::tempdir().unwrap();
        let mut trace = InputTrace::open(dir.path()).unwrap();
        let peer: SocketAddr = "127.0.0.1:5062".parse().unwrap();
        trace
            .bytes(
                Time::from_ms(7),
                Transport::Udp,
                ConnId::new(1),
                peer,
                b"OPTIONS",
            )
            .unwrap();
        trace
            .bytes(
                Time::from_ms(8),
                Transport::Tcp,
                ConnId::new(2),
                peer,
                &[0xff, 0],
            )
            .unwrap();
        trace.closed(Time::from_ms(9), ConnId::new(2)).unwrap();
        trace.flush().unwrap();
        let text = std::fs::read_to_string(trace.path()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["t_ms"], 7);
        assert_eq!(lines[0]["transport"], "udp");
        assert_eq!(lines[0]["conn"], 1);
        assert_eq!(lines[0]["peer"], "127.0.0.1:5062");
        assert_eq!(lines[0]["text"], "OPTIONS");
        assert_eq!(lines[1]["bytes"], json!([255, 0]));
        assert_eq!(lines[2]["kind"], "closed");
    }
}
