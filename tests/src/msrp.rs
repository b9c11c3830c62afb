//! Helpers for the MSRP end-to-end tests: the independent Python MSRP terminal
//! (`tests/msrp/msrp_client.py`, driven as a subprocess over JSON lines) and a
//! Kamailio MSRP relay (RFC 4976) started from the `tests/kamailio/kamailio.cfg`
//! template.
//!
//! This module only spawns and talks to those processes; it holds no MSRP codec of its
//! own, so the tests cannot share a bug with `cpmd_core::msrp`. Python 3 and Kamailio
//! (Debian `kamailio`, which ships `msrp.so`) are required under `CI=true`; elsewhere a
//! test without them is skipped with a message.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{free_port, wait_for, workspace_root};

/// Whether python3 can run the MSRP test client.
pub fn python_available() -> bool {
    crate::tool_available("python3", &["--version"], "python3")
}

/// Whether kamailio and its msrp module are installed.
pub fn kamailio_available() -> bool {
    if !crate::tool_available("kamailio", &["-v"], "kamailio") {
        return false;
    }
    let module = Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules/msrp.so").exists()
        || Path::new("/usr/lib/kamailio/modules/msrp.so").exists()
        || Path::new("/usr/lib/aarch64-linux-gnu/kamailio/modules/msrp.so").exists();
    if !module {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kamailio's msrp.so not found; required under CI=true"
        );
        eprintln!("SKIPPED: kamailio's msrp module not found");
    }
    module
}

/// How a [`MsrpClient`] starts.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Session id of its own URI (fresh when `None`).
    pub session: Option<String>,
    /// Listen on 127.0.0.1:0 (the passive terminal of `a=setup:passive`).
    pub listen: bool,
    /// AUTH with this relay first (`msrp://127.0.0.1:PORT;tcp`, user, password).
    pub relay: Option<(String, String, String)>,
    /// MSRP over TLS: `(certificate, key)` of its TLS listener (URI `msrps://`) and
    /// the CA file `msrps://` peers it dials are verified against.
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

/// One Python MSRP terminal. Killed on drop.
pub struct MsrpClient {
    /// A name for failure messages (`alice`, `bob-group`, ...).
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Value>,
    /// Events already read but not yet taken by an `expect`.
    backlog: Vec<Value>,
    /// Its `a=path` (relay Use-Path first, then its own URI).
    pub path: String,
}

impl MsrpClient {
    /// Starts the client; its stderr goes to `dir/msrp-NAME.err`, every received
    /// message to `dir/msrp-NAME.jsonl`.
    pub fn spawn(name: &str, opts: &ClientOptions, dir: &Path) -> Self {
        let script = workspace_root().join("tests/msrp/msrp_client.py");
        let mut cmd = Command::new("python3");
        cmd.arg("-u").arg(script);
        if opts.listen {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if let Some(s) = &opts.session {
            cmd.args(["--session", s]);
        }
        if let Some((uri, user, password)) = &opts.relay {
            cmd.args(["--relay", uri, "--user", user, "--password", password]);
        }
        if let Some((cert, key, ca)) = &opts.tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
            cmd.arg("--tls-cafile").arg(ca);
        }
        cmd.arg("--record")
            .arg(dir.join(format!("msrp-{name}.jsonl")));
        let err = std::fs::File::create(dir.join(format!("msrp-{name}.err"))).expect("err file");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("spawn python3 msrp_client.py");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("msrp client printed a non-JSON line: {line}");
                    continue;
                };
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut me = Self {
            name: name.to_owned(),
            child,
            stdin,
            events,
            backlog: Vec::new(),
            path: String::new(),
        };
        let ready = me.expect(Duration::from_secs(10), |e| e["ev"] == "ready");
        me.path = ready["path"].as_str().expect("ready path").to_owned();
        me
    }

    /// The port of the first URI of its path (for the SDP `m=` line).
    pub fn port(&self) -> u16 {
        let first = self.path.split_whitespace().next().expect("path");
        let authority = first
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .expect("msrp uri");
        authority
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in msrp uri")
    }

    /// Sends one command line.
    pub fn command(&mut self, cmd: Value) {
        writeln!(self.stdin, "{cmd}").expect("write to msrp client");
        self.stdin.flush().expect("flush msrp client");
    }

    /// Sends a CPIM text message with Message-ID (and imdn.Message-ID) `id`; `extra`
    /// adds or overrides command fields (`chunk`, `failure_report`, ...).
    pub fn send_text(&mut self, id: &str, text: &str, extra: Value) {
        let mut cmd = json!({"cmd": "send", "message_id": id, "text": text});
        if let (Some(obj), Value::Object(more)) = (cmd.as_object_mut(), extra) {
            obj.extend(more);
        }
        self.command(cmd);
    }

    /// The next event matching `pred` within `limit` (events before it that do not
    /// match are kept for later calls). Panics on timeout, listing what came.
    pub fn expect(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) if pred(&ev) => return ev,
                Ok(ev) => self.backlog.push(ev),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "msrp client {}: no expected event within {limit:?}; got {:#?}",
                    self.name, self.backlog
                ),
            }
        }
    }

    /// Waits until the server bound a connection to this client (the bind SEND's
    /// From-Path); returns the peer path.
    pub fn wait_bound(&mut self, limit: Duration) -> String {
        let ev = self.expect(limit, |e| e["ev"] == "bound");
        ev["peer_path"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits for `n` complete messages; returns them in arrival order.
    pub fn messages(&mut self, n: usize, limit: Duration) -> Vec<Value> {
        (0..n)
            .map(|_| self.expect(limit, |e| e["ev"] == "message"))
            .collect()
    }

    /// Every event that arrives within `window` (plus the unread backlog).
    pub fn drain(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut out = std::mem::take(&mut self.backlog);
        while let Ok(ev) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            out.push(ev);
        }
        out
    }
}

impl Drop for MsrpClient {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"cmd": "quit"}));
        if wait_for(&mut self.child, Duration::from_millis(500)).is_none() {
            let _ = self.child.kill();
        }
    }
}

/// The imdn.Message-ID of a received message event (the client parses CPIM).
pub fn imdn_id(event: &Value) -> String {
    event["cpim"]["imdn_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The inner content of a received CPIM message event.
pub fn content(event: &Value) -> String {
    event["cpim"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A running Kamailio MSRP relay on 127.0.0.1, stopped (SIGTERM) on drop.
pub struct Kamailio {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    /// The password every AUTH user gives.
    pub password: String,
    log: std::path::PathBuf,
}

impl Kamailio {
    /// Fills in the config template and starts kamailio in the foreground; waits
    /// until its TCP port accepts.
    pub fn start(dir: &Path) -> Self {
        let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let password = "relay-secret".to_owned();
        let template =
            std::fs::read_to_string(workspace_root().join("tests/kamailio/kamailio.cfg"))
                .expect("kamailio.cfg template");
        let cfg = template
            .replace("@PORT@", &port.to_string())
            .replace("@REALM@", "cpmd-test")
            .replace("@PASSWORD@", &password);
        let run = dir.join("kamailio");
        std::fs::create_dir_all(&run).expect("kamailio run dir");
        let (child, log) = crate::kamailio::spawn(&run, &cfg);
        let me = Self {
            child: Some(child),
            port,
            password,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "kamailio did not listen within 10 s\n{}",
                me.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    /// The relay URI a client AUTHs with.
    pub fn uri(&self) -> String {
        format!("msrp://127.0.0.1:{};tcp", self.port)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Client options that AUTH with this relay as `user`.
    pub fn client(&self, user: &str) -> ClientOptions {
        ClientOptions {
            relay: Some((self.uri(), user.to_owned(), self.password.clone())),
            ..ClientOptions::default()
        }
    }
}

impl Drop for Kamailio {
    /// SIGTERM: kamailio's main process stops its children before it exits.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::kamailio::stop(&mut child);
        }
        if std::thread::panicking() {
            eprintln!("---- kamailio log ----\n{}", self.log());
        }
    }
}
