//! # cpmd-tests
//!
//! End-to-end tests that start the built `cpmd` binary as a process and drive it
//! with real peers on loopback. This library holds the helpers: locating the binary
//! (`CPMD_BIN`, else `target/debug/cpmd` under `CARGO_TARGET_DIR` or the workspace;
//! run `cargo build -p cpmd` first), starting it on port 0 and reading its ready
//! line, killing (SIGKILL) and restarting it on the same data, picking free ports,
//! running sipp scenarios from `tests/sipp/`, and reading what cpmd stored from its
//! SQLite message store through the `cpmd` library's reader ([`store_records`]).
//!
//! sipp (Debian package `sip-tester`) is required under `CI=true`; elsewhere a test
//! without it is skipped with a message. [`msrp`] drives the independent Python MSRP
//! client and the Kamailio MSRP relay.

pub mod conference_schema;
pub mod dispatcher;
pub mod imap_raw;
pub mod kamailio;
pub mod liveness;
pub mod msrp;
pub mod pg_db;
pub mod sip_peer;
pub mod test_ca;
pub mod udp_ua;

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// SIP transport of a test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP (sipp `-t t1`).
    Tcp,
}

impl Transport {
    /// The cpmd flag and ready-line name.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }

    /// sipp's transport flag value.
    fn sipp_mode(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// The sipp scenario directory.
pub fn scenario(name: &str) -> PathBuf {
    workspace_root().join("tests/sipp").join(name)
}

/// The cpmd binary to test.
pub fn cpmd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CPMD_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_relative() {
                workspace_root().join(t)
            } else {
                t
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = target.join("debug/cpmd");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p cpmd` first or set CPMD_BIN",
        bin.display()
    );
    bin
}

/// Every file of the repository, sorted, skipping build output (`target`), VCS
/// data and hidden directories, and Python caches.
pub fn repository_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name == "target" || name.starts_with('.') || name == "__pycache__" {
                    continue;
                }
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&workspace_root(), &mut out);
    out.sort();
    out
}

/// Whether `program` runs (`program args…` exits 0). Under `CI=true` a missing
/// tool fails the test; otherwise the caller skips (returns early) after this
/// printed why and which Debian package has it.
pub fn tool_available(program: &str, args: &[&str], package: &str) -> bool {
    let found = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} not found (install the Debian package {package}); required under CI=true"
        );
        eprintln!("SKIPPED: {program} not found (apt-get install {package})");
    }
    found
}

/// Whether sipp can be run. Under `CI=true` a missing sipp fails the test;
/// otherwise the caller skips (returns early) after this printed why.
pub fn sipp_available() -> bool {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sipp not found (install the Debian package sip-tester); required under CI=true"
        );
        eprintln!("SKIPPED: sipp not found (apt-get install sip-tester)");
    }
    found
}

/// A port free for both UDP and TCP on `ip` right now (sipp binds both with `-t t1`
/// and the test may use either).
pub fn free_port(ip: IpAddr) -> u16 {
    for _ in 0..100 {
        let tcp = TcpListener::bind((ip, 0)).expect("bind tcp port 0");
        let port = tcp.local_addr().expect("local addr").port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both udp and tcp on {ip}");
}

/// Waits for `child` at most `limit`; kills it (it is ours) when it overruns.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running cpmd, stopped (SIGKILL) on drop unless [`Cpmd::stop`] ran.
pub struct Cpmd {
    child: Option<Child>,
    /// Its data directory (and scratch space for the test).
    pub dir: tempfile::TempDir,
    /// `(transport, address)` from the ready line, in listener order.
    pub bound: Vec<(String, SocketAddr)>,
    /// Command-line arguments (before `--data-dir` and `--ready-file`).
    args: Vec<String>,
}

impl Cpmd {
    /// Starts cpmd with `args` (listener flags) plus a temp data dir and a ready
    /// file, and waits for the ready line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_config(None, args)
    }

    /// Like [`Cpmd::start`], with a configuration file holding `config` (TOML, e.g.
    /// short timers: `"[timers]\nbye_wait_ms = 1000\n"`) written to the data
    /// directory's parent and passed with `--config`.
    pub fn start_with_config(config: Option<&str>, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut all_args = Vec::new();
        if let Some(text) = config {
            let path = dir.path().join("cpmd.toml");
            std::fs::write(&path, text).expect("write config file");
            all_args.push("--config".to_owned());
            all_args.push(path.to_str().expect("utf-8 temp path").to_owned());
        }
        all_args.extend(args.iter().map(|a| (*a).to_owned()));
        // Tests run in parallel: the IMAP listener must not take the default port.
        if !args.contains(&"--imap") {
            all_args.extend(["--imap".to_owned(), "127.0.0.1:0".to_owned()]);
        }
        let mut me = Self {
            child: None,
            dir,
            bound: Vec::new(),
            args: all_args,
        };
        me.launch();
        me
    }

    /// Starts the process (appending to `cpmd.log`) and waits for its ready line.
    fn launch(&mut self) {
        let ready = self.dir.path().join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("cpmd.log"))
            .expect("log file");
        let child = Command::new(cpmd_bin())
            .args(&self.args)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--ready-file")
            .arg(&ready)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cpmd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let line = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if text.ends_with('\n') {
                    break text;
                }
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "cpmd exited early: {exited:?}\n{}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "no ready line within 10 s\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.bound = parse_ready_line(&line);
    }

    /// Kills the process with SIGKILL (a crash: nothing is flushed or answered).
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("cpmd running");
        child.kill().expect("SIGKILL cpmd");
        let _ = child.wait();
    }

    /// Starts cpmd again with the same arguments and data directory (after
    /// [`Cpmd::kill`] or [`Cpmd::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "cpmd still running");
        self.launch();
    }

    /// The first bound address of `transport`.
    pub fn addr(&self, transport: Transport) -> SocketAddr {
        self.bound
            .iter()
            .find(|(t, _)| t == transport.name())
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {} listener in {:?}", transport.name(), self.bound))
    }

    /// The first MSRP listener (`msrp=ADDR` in the ready line).
    pub fn msrp_addr(&self) -> SocketAddr {
        self.bound
            .iter()
            .find(|(t, _)| t == "msrp")
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no msrp listener in {:?}", self.bound))
    }

    /// cpmd's resident set size in KiB (`VmRSS` of `/proc/PID/status`; Linux).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("cpmd running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// cpmd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cpmd.log")).unwrap_or_default()
    }

    /// The SQLite message store of this cpmd (the default `<data>/cpmd.db`).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data/cpmd.db")
    }

    /// What the store holds, as JSON objects (see [`store_records`]).
    pub fn history(&self) -> Vec<serde_json::Value> {
        store_records(&self.db_path())
    }

    /// The sealed history objects (`kind` `history`) of the session with
    /// Contribution-ID `contribution_id`.
    pub fn sealed(&self, contribution_id: &str) -> Vec<serde_json::Value> {
        self.history()
            .into_iter()
            .filter(|l| l["kind"] == "history" && l["contribution_id"] == contribution_id)
            .collect()
    }

    /// The chat messages the server recorded for the session with Contribution-ID
    /// `contribution_id`, in the order of their server sequence numbers. This is the
    /// one place that knows how the store lays records out (the SQLite store, read
    /// through [`store_records`]).
    pub fn recorded_messages(&self, contribution_id: &str) -> Vec<RecordedMessage> {
        let mut out: Vec<RecordedMessage> = self
            .history()
            .into_iter()
            .filter(|l| l["kind"] == "message" && l["contribution_id"] == contribution_id)
            .map(|l| RecordedMessage {
                seq: l["seq"].as_u64().expect("message seq"),
                sender: l["sender"].as_str().unwrap_or_default().to_owned(),
                message_id: l["message_id"].as_str().unwrap_or_default().to_owned(),
                content_type: l["content_type"].as_str().unwrap_or_default().to_owned(),
                body: l["body"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        out.sort_by_key(|m| m.seq);
        out
    }

    /// Waits (at most `limit`) until `n` messages of `contribution_id` are recorded.
    pub fn wait_recorded(
        &self,
        contribution_id: &str,
        n: usize,
        limit: Duration,
    ) -> Vec<RecordedMessage> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.recorded_messages(contribution_id);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most `limit`) until cpmd's log contains `needle`.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends SIGHUP (reload the TLS certificate).
    pub fn hangup(&self) {
        let child = self.child.as_ref().expect("cpmd running");
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
    }

    /// Sends SIGTERM and waits for a clean exit (graceful shutdown).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("cpmd running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        wait_for(&mut child, Duration::from_secs(10)).expect("cpmd did not stop on SIGTERM")
    }
}

impl Drop for Cpmd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- cpmd log ----\n{}", self.log());
        }
    }
}

/// One chat message as the server recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// The server's sequence number.
    pub seq: u64,
    /// The sender (the SIP identity of its leg).
    pub sender: String,
    /// The message's id (imdn.Message-ID).
    pub message_id: String,
    /// Its Content-Type.
    pub content_type: String,
    /// Its body as text.
    pub body: String,
}

/// Reads a cpmd SQLite message store through the runtime's reader
/// ([`cpmd::store::inspect`]) into JSON objects, one per stored thing, each with a
/// `kind`:
///
/// - `session_info`: a session whose info is stored (a group's from its
///   `Persist`, a 1-to-1's from its seal): `conversation_id`, `contribution_id`,
///   `session_type`, `from`, `to`, `date`, `subject`, `sdp`, `media_attributes`,
///   `invited`, `state` (`open`, `sealed`, `crashed`);
/// - `history`: a sealed (or crash-sealed) session: `contribution_id`,
///   `conversation_id`, `state`, `info` (the fields above), `messages` (the final
///   set's sequence numbers), `participants` (`user`, `state`);
/// - `message`: a stored chat message: `conversation_id`, `contribution_id`,
///   `seq`, `sender`, `recipients`, `message_id`, `content_type`, `body`;
/// - `standalone`: a stored pager-mode message (same fields, no `seq`);
/// - `disposition`: an IMDN state of a stored message: `conversation_id`,
///   `message_id`, `recipient`, `disposition` (`Delivered`, `Displayed`, `Failed`).
///
/// A missing file reads as empty.
pub fn store_records(db: &Path) -> Vec<serde_json::Value> {
    use cpmd::store::inspect::{read_contents, StoredDisposition, StoredMessage};
    use cpmd::store::StoreUrl;
    use serde_json::json;
    if !db.exists() {
        return Vec::new();
    }
    let contents = read_contents(&StoreUrl::Sqlite(db.to_owned()))
        .unwrap_or_else(|e| panic!("read {}: {e}", db.display()));
    let mut out = Vec::new();
    for s in &contents.sessions {
        let mut info = json!({
            "conversation_id": s.conversation_id,
            "contribution_id": s.contribution_id,
            "session_type": null,
            "from": null,
            "to": null,
            "date": null,
            "subject": null,
            "sdp": null,
            "media_attributes": [],
            "invited": [],
            "state": s.state,
        });
        if let Some(i) = &s.info {
            info["session_type"] = json!(i.session_type);
            info["from"] = json!(i.from);
            info["to"] = json!(i.to);
            info["date"] = json!(i.date);
            info["subject"] = json!(i.subject);
            info["sdp"] = json!(i.sdp);
            info["media_attributes"] = json!(i.media_attributes);
            info["invited"] = json!(i.invited);
            let mut line = info.clone();
            line["kind"] = json!("session_info");
            out.push(line);
        }
        if s.state == "open" {
            continue;
        }
        let participants: Vec<serde_json::Value> = s
            .participants
            .iter()
            .map(|(user, state)| json!({"user": user, "state": state}))
            .collect();
        out.push(json!({
            "kind": "history",
            "contribution_id": s.contribution_id,
            "conversation_id": s.conversation_id,
            "state": s.state,
            "info": info,
            "messages": s.final_set,
            "participants": participants,
        }));
    }
    let message = |kind: &str, m: &StoredMessage| {
        let mut line = json!({
            "kind": kind,
            "conversation_id": m.conversation_id,
            "contribution_id": m.contribution_id,
            "sender": m.sender,
            "recipients": m.recipients,
            "message_id": m.message_id,
            "content_type": m.content_type,
            "body": String::from_utf8_lossy(&m.body),
        });
        if let Some(seq) = m.seq {
            line["seq"] = json!(seq);
        }
        line
    };
    out.extend(contents.messages.iter().map(|m| message("message", m)));
    out.extend(contents.standalone.iter().map(|m| message("standalone", m)));
    out.extend(contents.dispositions.iter().map(|d| {
        let state = match d.disposition {
            StoredDisposition::Delivered => "Delivered",
            StoredDisposition::Displayed => "Displayed",
            StoredDisposition::Failed => "Failed",
        };
        json!({
            "kind": "disposition",
            "conversation_id": d.conversation_id,
            "message_id": d.message_id,
            "recipient": d.recipient,
            "disposition": state,
        })
    }));
    out
}

/// Parses `cpmd ready udp=ADDR tcp=ADDR ...`.
pub fn parse_ready_line(line: &str) -> Vec<(String, SocketAddr)> {
    let rest = line
        .trim()
        .strip_prefix("cpmd ready")
        .unwrap_or_else(|| panic!("not a ready line: {line:?}"));
    rest.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("transport=addr");
            (k.to_owned(), v.parse().expect("socket address"))
        })
        .collect()
}

/// sipp `-key NAME VALUE` arguments for each pair.
pub fn sipp_keys(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| ["-key".to_owned(), (*k).to_owned(), (*v).to_owned()])
        .collect()
}

/// One sipp process playing one terminal.
pub struct Sipp {
    /// Scenario file name under `tests/sipp/`.
    pub scenario: String,
    child: Child,
    dir: PathBuf,
}

/// How to run sipp against a cpmd listener.
#[derive(Debug, Clone)]
pub struct SippRun {
    /// cpmd's address.
    pub server: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// Local address and port sipp binds.
    pub local: SocketAddr,
    /// Extra arguments (`-s`, `-key`, `-m`, ...).
    pub args: Vec<String>,
}

impl Sipp {
    /// Starts `scenario` with `run`; trace files go to `dir`.
    pub fn spawn(scenario_name: &str, run: &SippRun, dir: &Path) -> Self {
        let out =
            std::fs::File::create(dir.join(format!("{scenario_name}.{}.out", run.local.port())))
                .expect("sipp output file");
        let child = Command::new("sipp")
            .current_dir(dir)
            .arg(run.server.to_string())
            .arg("-sf")
            .arg(scenario(scenario_name))
            .args(["-i", &run.local.ip().to_string()])
            .args(["-p", &run.local.port().to_string()])
            .args(["-t", run.transport.sipp_mode()])
            .args(["-timeout", "30s", "-trace_err", "-trace_msg"])
            .args(&run.args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn sipp");
        Self {
            scenario: scenario_name.into(),
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Like [`Sipp::assert_success`], then returns what the scenario's `<log>` actions
    /// wrote (the run needs `-trace_logs`).
    pub fn assert_success_logs(self) -> String {
        let path = self.dir.join(format!(
            "{}_{}_logs.log",
            self.scenario.trim_end_matches(".xml"),
            self.child.id()
        ));
        self.assert_success();
        std::fs::read_to_string(&path).unwrap_or_default()
    }

    /// Waits (at most 45 s) for sipp to end by itself, whatever its exit code.
    pub fn wait(mut self) -> Option<ExitStatus> {
        wait_for(&mut self.child, Duration::from_secs(45))
    }

    /// Waits (at most 45 s) and asserts exit code 0, printing sipp's error log
    /// otherwise.
    pub fn assert_success(mut self) {
        let status = wait_for(&mut self.child, Duration::from_secs(45));
        if status.is_some_and(|s| s.success()) {
            return;
        }
        let mut report = format!("sipp {} ended with {status:?}\n", self.scenario);
        let stem = self.scenario.trim_end_matches(".xml");
        let pid = self.child.id();
        for suffix in ["errors.log", "messages.log"] {
            let path = self.dir.join(format!("{stem}_{pid}_{suffix}"));
            if let Ok(text) = std::fs::read_to_string(&path) {
                let tail: String = text
                    .chars()
                    .rev()
                    .take(6000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                report.push_str(&format!("---- {} (tail) ----\n{tail}\n", path.display()));
            }
        }
        panic!("{report}");
    }
}

impl Drop for Sipp {
    /// A sipp still running when its test ends (e.g. another terminal's assertion
    /// failed first) is ours: kill it so no stray process outlives the test.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The claim played by sipp terminals at `a`, `b` and `c`: B and C register, B
/// answers the 1-to-1 and then the group, C the group, A runs
/// `a_claim_session_replaces.xml` (the 1-to-1, the extension and B's BYE handshake);
/// asserts that every terminal's scenario succeeded. `run` builds each sipp run from
/// its local address and extra arguments (the caller adds its IDs as keys); the
/// group is left open.
pub fn sipp_claim(
    run: impl Fn(SocketAddr, &[&str]) -> SippRun,
    [a, b, c]: [SocketAddr; 3],
    dir: &Path,
) {
    Sipp::spawn("register.xml", &run(b, &["-s", "bob", "-m", "1"]), dir).assert_success();
    Sipp::spawn("register.xml", &run(c, &["-s", "carol", "-m", "1"]), dir).assert_success();
    let b_uas = Sipp::spawn("b_claim.xml", &run(b, &["-m", "2"]), dir);
    let c_uas = Sipp::spawn("c_claim.xml", &run(c, &["-m", "1"]), dir);
    // The terminals' sipp must be listening before A's INVITE reaches them.
    std::thread::sleep(Duration::from_millis(300));
    Sipp::spawn("a_claim_session_replaces.xml", &run(a, &["-m", "1"]), dir).assert_success();
    b_uas.assert_success();
    c_uas.assert_success();
}
