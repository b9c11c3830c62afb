//! The liveness probe of the attack tests (specs/limits.md, LIM-1): while an attack
//! runs against a real `cpmd`, a SIP terminal sends an out-of-dialog OPTIONS over UDP
//! every [`PING_EVERY`] and each must be answered (any final response with its
//! Call-ID) within [`ANSWER_WITHIN`]. A server whose one event loop is held up by the
//! attack misses that deadline and the test fails at once, without waiting for the
//! attack to end (dropping [`crate::Cpmd`] then kills the process, which also ends
//! the attack's blocked reads).
//!
//! The deadline is generous on purpose: it tells "the loop is stuck" from "the
//! machine is busy", not a latency figure (latency under attack belongs in a bench,
//! never in a test).

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// How long an OPTIONS may wait for its answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// Time between two OPTIONS.
pub const PING_EVERY: Duration = Duration::from_millis(100);

/// A SIP terminal that pings cpmd with OPTIONS.
pub struct Pinger {
    sock: UdpSocket,
    server: SocketAddr,
    sent: u32,
}

impl Pinger {
    /// A pinger of cpmd's UDP listener `server`.
    pub fn new(server: SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind pinger");
        Self {
            sock,
            server,
            sent: 0,
        }
    }

    /// Sends one OPTIONS and waits for its final answer; `Err` says what went wrong.
    pub fn ping(&mut self) -> Result<Duration, String> {
        self.sent += 1;
        let call_id = format!("liveness-{}-{}", std::process::id(), self.sent);
        let port = self.sock.local_addr().expect("addr").port();
        let request = format!(
            "OPTIONS sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:prober@example.com>;tag=probe\r\n\
             To: <sip:example.com>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let start = Instant::now();
        self.sock
            .send_to(request.as_bytes(), self.server)
            .map_err(|e| format!("send OPTIONS: {e}"))?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let left = ANSWER_WITHIN
                .checked_sub(start.elapsed())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("OPTIONS {call_id} unanswered after {ANSWER_WITHIN:?}"))?;
            self.sock.set_read_timeout(Some(left)).expect("timeout");
            let n = match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(format!("recv: {e}")),
            };
            let text = String::from_utf8_lossy(&buf[..n]);
            // A late answer to an earlier ping, or a provisional one: keep waiting.
            let ours = text
                .lines()
                .any(|l| l.trim_end() == format!("Call-ID: {call_id}"));
            if ours && text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
                return Ok(start.elapsed());
            }
        }
    }
}

/// Where `scripts/bench-latency` collects round-trip times: with
/// `CPMD_LATENCY_OUT=FILE` set, each ping's round trip is appended to FILE as one line
/// `TEST MICROSECONDS` (TEST: the test thread's name). Unset: nothing is written (the
/// tests never assert on time, LIM-1's 2 s aside).
pub struct LatencyRecord {
    out: Option<std::fs::File>,
    label: String,
}

impl LatencyRecord {
    /// A record to `CPMD_LATENCY_OUT`, if set, labelled with the current thread's name.
    pub fn from_env() -> Self {
        let label = thread::current().name().unwrap_or("unnamed").to_owned();
        Self::to(
            std::env::var_os("CPMD_LATENCY_OUT").map(std::path::PathBuf::from),
            &label,
        )
    }

    /// A record to `path` (none: nothing is written), each line labelled `label`.
    pub fn to(path: Option<std::path::PathBuf>, label: &str) -> Self {
        let out = path.map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
        });
        Self {
            out,
            label: label.replace(char::is_whitespace, "_"),
        }
    }

    /// Appends one round trip.
    pub fn add(&mut self, rtt: Duration) {
        if let Some(f) = &mut self.out {
            use std::io::Write;
            writeln!(f, "{} {}", self.label, rtt.as_micros()).expect("write latency record");
        }
    }
}

/// Runs `attack` on its own thread and pings cpmd's UDP listener `sip` until it
/// returns, then once more; panics as soon as one OPTIONS is not answered within
/// [`ANSWER_WITHIN`], and with the attack's own panic. Returns the attack's value and
/// how many pings were answered while it ran.
pub fn answers_during<T: Send + 'static>(
    sip: SocketAddr,
    attack: impl FnOnce() -> T + Send + 'static,
) -> (T, u32) {
    let mut pinger = Pinger::new(sip);
    // The loop must answer before the attack, or the probe proves nothing.
    pinger
        .ping()
        .expect("cpmd answers OPTIONS before the attack");
    let handle = thread::spawn(attack);
    let mut during = 0;
    let mut record = LatencyRecord::from_env();
    loop {
        let finished = handle.is_finished();
        match pinger.ping() {
            Ok(rtt) => record.add(rtt),
            Err(e) => panic!("cpmd stopped answering SIP during the attack: {e}"),
        }
        if finished {
            break;
        }
        during += 1;
        thread::sleep(PING_EVERY);
    }
    match handle.join() {
        Ok(v) => (v, during),
        Err(p) => std::panic::resume_unwind(p),
    }
}
