//! The input trace: with `--trace-input` (or `trace_input = true` in the
//! configuration file) every input the event loop feeds the core from the network is
//! appended, in the order fed, to `<data_dir>/input-trace.jsonl`, so a test can replay
//! exactly what cpmd received (e.g. into the model). One JSON object per line:
//!
//! ```json
//! {"kind":"start","instance":0,"key":"5f0e…(64 hex digits)","domain":"example.com","advertised":"127.0.0.1:5060","conference_factory_user":"conf-factory","users":[],"auth":false,"msrp_port":2855,"timers":{...},"limits":{...}}
//! {"t_ms":1234,"kind":"bytes","transport":"udp","conn":1,"peer":"127.0.0.1:5062","text":"REGISTER ..."}
//! {"t_ms":2345,"kind":"closed","transport":"tcp","conn":7}
//! {"t_ms":3456,"kind":"login","user":"alice","source":"127.0.0.1","ok":false}
//! {"t_ms":4567,"kind":"remote_binding","aor":"sip:bob@example.com","contact_key":"sip:bob@127.0.0.1:5064","transport":"udp","conn":1,"peer":"127.0.0.1:5064","left_ms":3600000}
//! ```
//!
//! A `remote_binding` line is another node's location row as the cluster thread fed
//! it to the core (specs/scale-out.md, SCALE-5); `share_locations` on the start line
//! says whether the core reported its own bindings for the rows (`[cluster]` on).
//!
//! The first line a boot writes, `kind: "start"`, is the core configuration the server
//! runs with, all a replay needs to rebuild it: the seed (`instance` and the per-boot
//! token `key`, from which the core mints its tags, branches, nonces and IDs), the domain, the
//! advertised address (Via/Contact), the conference-factory user, the users list
//! (canonical URIs), the MSRP port, the timers and the input limits. Of digest
//! authentication only whether it is on is recorded (`auth`), never the passwords: a
//! replay of a trace with `auth: true` cannot verify the recorded digests. The file is
//! opened for appending, so a data directory reused across boots holds one `start`
//! line per boot; a replay reads one boot (split the file at the `start` lines).
//!
//! `t_ms` is the core's clock (ms since start) passed with the input; `text` holds the
//! datagram or stream chunk when it is UTF-8, `bytes` (an array of numbers) otherwise.
//! Stream chunks are recorded as read from the socket, before framing. Write errors are
//! logged once and end the trace; they never stop the server.
//!
//! The trace holds the token key (whoever has it can predict every tag, nonce and ID
//! of that boot) and message bodies: the file is created, and kept, readable by its
//! owner only (mode 0600).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::net::{IpAddr, SocketAddr};
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
    /// Opens (appending) `<data_dir>/input-trace.jsonl` and writes the `start` line
    /// for the core configuration `config` (flushed at once).
    pub fn open(data_dir: &Path, config: &cpmd_core::Config) -> std::io::Result<Self> {
        crate::files::private_dir(data_dir)?;
        let path = data_dir.join(TRACE_FILE);
        let file =
            crate::files::create_private(OpenOptions::new().create(true).append(true), &path)?;
        let mut trace = Self {
            path,
            out: BufWriter::new(file),
        };
        trace.line(&start_line(config))?;
        trace.flush()?;
        Ok(trace)
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

    /// Records an IMAP login attempt judged by the core (SEC-4f; never the
    /// password, only whether it was right).
    pub fn login(
        &mut self,
        now: Time,
        user: &str,
        source: IpAddr,
        password_ok: bool,
    ) -> std::io::Result<()> {
        self.line(&json!({
            "t_ms": now.as_ms(),
            "kind": "login",
            "user": user,
            "source": source.to_string(),
            "ok": password_ok,
        }))
    }

    /// Records another node's location row as fed to the core (SCALE-5): the
    /// binding, the flow this node reaches it over, the time it has left.
    pub fn remote_binding(
        &mut self,
        now: Time,
        b: &cpmd_core::server::RemoteBinding,
    ) -> std::io::Result<()> {
        self.line(&json!({
            "t_ms": now.as_ms(),
            "kind": "remote_binding",
            "aor": b.aor.as_str(),
            "contact_key": b.contact_key,
            "transport": transport_name(b.flow.transport),
            "conn": b.flow.conn.get(),
            "peer": b.flow.peer.to_string(),
            "left_ms": b.left_ms,
        }))
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

/// The `start` line: what a replay needs to rebuild `config` (no passwords).
fn start_line(config: &cpmd_core::Config) -> Value {
    // The core keeps an IPv6 host unbracketed; `SocketAddr` brackets it.
    let advertised = match config.advertised_host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, config.advertised_port).to_string(),
        Err(_) => format!("{}:{}", config.advertised_host, config.advertised_port),
    };
    let t = &config.timers;
    let l = &config.limits;
    json!({
        "kind": "start",
        "instance": config.seed.instance,
        "key": config.seed.key_hex(),
        "domain": config.domain,
        "advertised": advertised,
        "conference_factory_user": config.conference_factory_user,
        "users": config.users.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "auth": config.auth.is_some(),
        "msrp_port": config.msrp.advertised.port(),
        "share_locations": config.share_locations,
        "timers": {
            "t1_ms": t.t1_ms,
            "t2_ms": t.t2_ms,
            "t4_ms": t.t4_ms,
            "timer_c_ms": t.timer_c_ms,
            "bye_wait_ms": t.bye_wait_ms,
            "replaced_bye_timeout_ms": t.replaced_bye_timeout_ms,
            "default_expires_s": t.default_expires_s,
        },
        "limits": {
            "max_header_bytes": l.max_header_bytes,
            "max_body_bytes": l.max_body_bytes,
            "max_header_count": l.max_header_count,
            "max_multipart_parts": l.max_multipart_parts,
            "max_list_entries": l.max_list_entries,
        },
    })
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        // Decrypted bytes: a replay feeds them as the core got them.
        Transport::Tls => "tls",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_hold_flow_time_and_payload() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = cpmd_core::Config::new("example.com");
        config.advertised_host = "::1".into();
        config.advertised_port = 5070;
        config.conference_factory_user = "factory".into();
        config.users = vec![cpmd_core::UserUri::new_canonical("sip:alice@example.com")];
        config.seed = cpmd_core::server::Seed {
            instance: 3,
            key: [0xfe; 32],
        };
        let mut trace = InputTrace::open(dir.path(), &config).unwrap();
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
        assert_eq!(lines.len(), 4);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(trace.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the trace holds the token key");
        let start = &lines[0];
        assert_eq!(start["kind"], "start");
        assert_eq!(start["instance"], 3);
        assert_eq!(start["key"], "fe".repeat(32));
        assert_eq!(start["domain"], "example.com");
        assert_eq!(start["advertised"], "[::1]:5070");
        assert_eq!(start["conference_factory_user"], "factory");
        assert_eq!(start["users"], json!(["sip:alice@example.com"]));
        assert_eq!(start["auth"], false);
        assert_eq!(start["msrp_port"], config.msrp.advertised.port());
        assert_eq!(start["timers"]["t1_ms"], config.timers.t1_ms);
        assert_eq!(
            start["limits"]["max_body_bytes"],
            config.limits.max_body_bytes
        );
        assert_eq!(lines[1]["t_ms"], 7);
        assert_eq!(lines[1]["transport"], "udp");
        assert_eq!(lines[1]["conn"], 1);
        assert_eq!(lines[1]["peer"], "127.0.0.1:5062");
        assert_eq!(lines[1]["text"], "OPTIONS");
        assert_eq!(lines[2]["bytes"], json!([255, 0]));
        assert_eq!(lines[3]["kind"], "closed");
    }
}
