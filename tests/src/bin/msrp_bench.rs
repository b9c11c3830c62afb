//! `msrp_bench`: the load generator of `bench/msrp.sh`. Pairs of MSRP terminals (a
//! sender and a receiver each: one 1-to-1 session) pump CPIM messages one way and
//! measure messages/s and MB/s over all sessions, either through cpmd or through a
//! plain TCP forwarder this binary runs itself (the baseline: the same bytes and the
//! same 200s on the same number of connection pairs, with nothing but byte copying
//! between).
//!
//! Like the Python test client it writes and reads MSRP on its own (RFC 4975 framing:
//! start line, headers, body, `-------tid$`), never with `cpmd_core::msrp`. Only what a
//! benchmark needs: one SEND per message (the server may re-chunk; the receiver counts
//! a message at its `$` chunk), a 200 for every SEND that asks for one, a window of
//! outstanding SENDs at each sender (its own window per session).
//!
//! ```text
//! msrp_bench forwarder --size 100 --count 20000 [--sessions 16] [--window 128]
//!     the baseline: receiver <- forwarder <- sender, per session, all in this process
//! msrp_bench cpmd --size 100 --count 20000 --paths FILE [--sessions 16]
//!     passive terminals: writes `a=path` of each session's sender and receiver to
//!     FILE (two lines per session, in session order), waits for cpmd to connect to
//!     all of them and bind (empty SEND), then pumps every session at once
//! ```
//! `--count` is the total over all sessions (split evenly); the clock runs from the
//! moment every session is bound to the last message at the last receiver.
//! Output: one JSON line `{"mode","size","count","sessions","seconds","msg_per_s",
//! "mb_per_s"}`; MB/s counts the message text only (10^6 bytes).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most SENDs a sender has outstanding (unanswered) at once, by default.
const WINDOW: u64 = 128;

struct Args {
    mode: String,
    size: usize,
    count: u64,
    paths: Option<String>,
    /// Concurrent 1-to-1 sessions (sender/receiver pairs).
    sessions: u64,
    /// Most SENDs outstanding per sender.
    window: u64,
}

impl Args {
    /// The messages session `i` sends: `count` split evenly, the remainder to the
    /// first sessions.
    fn count_of(&self, i: u64) -> u64 {
        self.count / self.sessions + u64::from(i < self.count % self.sessions)
    }

    /// What session `i`'s sender sends.
    fn load_of(&self, i: u64) -> Load {
        Load {
            session: i,
            size: self.size,
            count: self.count_of(i),
            window: self.window,
        }
    }
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    let mut args = Args {
        mode,
        size: 100,
        count: 10_000,
        paths: None,
        sessions: 1,
        window: WINDOW,
    };
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--size" => args.size = value.parse().unwrap_or_else(|_| usage()),
            "--count" => args.count = value.parse().unwrap_or_else(|_| usage()),
            "--paths" => args.paths = Some(value),
            "--sessions" => args.sessions = value.parse().unwrap_or_else(|_| usage()),
            "--window" => args.window = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if args.sessions == 0 || args.window == 0 || args.count < args.sessions {
        usage();
    }
    args
}

fn usage() -> ! {
    eprintln!(
        "usage: msrp_bench (forwarder|cpmd) [--size BYTES] [--count N] [--paths FILE] \
         [--sessions N] [--window N] (count >= sessions >= 1)"
    );
    std::process::exit(2)
}

/// One parsed frame: what the benchmark needs of it.
struct Frame {
    tid: String,
    is_send: bool,
    last_chunk: bool,
    has_body: bool,
    from_path: String,
    wants_response: bool,
}

/// Incremental MSRP frame reader over a TCP stream. Its work per frame is kept
/// small because it is the load generator's, spent alike in the cpmd and the
/// forwarder runs: reads go straight into one buffer (no zeroed array per read,
/// no copy out of it), and a frame is found by its head and `Byte-Range` (the body
/// is not scanned for its end-line unless the range does not say where it ends).
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    /// `buf[start..end]`: read, not yet parsed.
    start: usize,
    end: usize,
}

/// Bytes read at most per `read`; the buffer holds this much behind a partial frame.
const READ_BYTES: usize = 1 << 16;

impl Reader {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0; 4 * READ_BYTES],
            start: 0,
            end: 0,
        }
    }

    /// The next frame already read, if a whole one is buffered.
    fn buffered(&mut self) -> Option<Frame> {
        let (frame, used) = parse(&self.buf[self.start..self.end])?;
        self.start += used;
        Some(frame)
    }

    /// Reads more bytes (moving a partial frame to the front first when the room
    /// behind it is short); `false` at end of stream.
    fn fill(&mut self) -> bool {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.buf.len() - self.end < READ_BYTES {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() - self.end < READ_BYTES {
                self.buf.resize(self.end + READ_BYTES, 0);
            }
        }
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(n) if n > 0 => {
                self.end += n;
                true
            }
            Ok(_) | Err(_) => false,
        }
    }

    /// The next frame, or `None` at end of stream.
    fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.buffered() {
                return Some(frame);
            }
            if !self.fill() {
                return None;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let j = hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == needle[0])?;
        i += j;
        if hay[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The value of header `name` in `head` (header lines, each ending CRLF), trimmed.
fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (k, v) = line.split_at(colon);
        k.eq_ignore_ascii_case(name).then(|| v[1..].trim_ascii())
    })
}

/// The body length a `Byte-Range: start-end/total` gives (`end - start + 1`).
fn range_len(value: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(value).ok()?;
    let (range, _) = text.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (usize, usize) = (start.parse().ok()?, end.parse().ok()?);
    (end + 1).checked_sub(start)
}

/// Parses one frame at the start of `buf`: `(frame, bytes used)` when complete.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    let eol = find(buf, b"\r\n", 0)?;
    let start = std::str::from_utf8(&buf[..eol]).ok()?;
    let mut parts = start.split(' ');
    let _msrp = parts.next()?;
    let tid = parts.next()?;
    let what = parts.next()?;
    let mut marker = Vec::with_capacity(9 + tid.len());
    marker.extend_from_slice(b"\r\n-------");
    marker.extend_from_slice(tid.as_bytes());
    // The head's lines: an empty one ends it before a body, an end-line ends a
    // frame without one.
    let mut at = eol + 2;
    let (head_end, body_at) = loop {
        let nl = find(buf, b"\r\n", at)?;
        if nl == at {
            break (at, Some(at + 2));
        }
        if buf[at..].starts_with(b"-------") {
            break (at, None);
        }
        at = nl + 2;
    };
    let head = &buf[eol + 2..head_end];
    let end = match body_at {
        None => head_end - 2,
        Some(body_at) => {
            // Where `Byte-Range` says the body ends, if the end-line is there; else
            // (a range with `*`, or one that is wrong) the end-line searched.
            let by_range = header(head, b"Byte-Range")
                .and_then(range_len)
                .map(|n| body_at + n)
                .filter(|&e| buf.get(e..e + marker.len()) == Some(&marker[..]));
            match by_range {
                Some(e) => e,
                None => find(buf, &marker, body_at - 2)?,
            }
        }
    };
    if buf.get(end..end + marker.len()) != Some(&marker[..]) {
        return None;
    }
    let flag_at = end + marker.len();
    if buf.len() < flag_at + 3 {
        return None;
    }
    let text = |v: Option<&[u8]>| String::from_utf8_lossy(v.unwrap_or_default()).into_owned();
    let failure_report = header(head, b"Failure-Report");
    let frame = Frame {
        is_send: what == "SEND",
        last_chunk: buf[flag_at] == b'$',
        has_body: body_at.is_some_and(|b| end > b),
        from_path: text(header(head, b"From-Path")),
        wants_response: what == "SEND"
            && failure_report.is_none_or(|v| v.is_empty() || v == b"yes"),
        tid: tid.to_owned(),
    };
    Some((frame, flag_at + 3))
}

/// A transaction response (RFC 4975 §7.2): To-Path is the previous hop.
fn response(frame: &Frame, own: &str) -> Vec<u8> {
    let mut out = Vec::new();
    push_response(&mut out, frame, own);
    out
}

/// [`response`], appended to `out`.
fn push_response(out: &mut Vec<u8>, frame: &Frame, own: &str) {
    let prev = frame
        .from_path
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let tid = frame.tid.as_bytes();
    for part in [
        b"MSRP ",
        tid,
        b" 200 OK\r\nTo-Path: ",
        prev.as_bytes(),
        b"\r\nFrom-Path: ",
        own.as_bytes(),
        b"\r\n-------",
        tid,
        b"$\r\n",
    ] {
        out.extend_from_slice(part);
    }
}

fn send(tid: &str, to: &str, from: &str, id: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: {id}\r\n\
         Byte-Range: 1-{n}/{n}\r\nContent-Type: message/cpim\r\n\r\n",
        n = body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
    out
}

fn cpim(id: &str, text: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {id}\r\n\
         DateTime: 2026-11-26T12:00:00.000Z\r\n\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        text.len()
    )
    .into_bytes();
    out.extend_from_slice(text);
    out
}

/// The receiver: answers every SEND that asks for it, counts complete non-empty
/// messages; returns the instant the `count`-th arrived. The 200s to the frames of
/// one read go out in one write (a write per 200 was most of the receiver's CPU).
fn receive(stream: TcpStream, own: String, count: u64, bound: Arc<Gate>) -> Instant {
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = Reader::new(stream);
    let mut out = Vec::with_capacity(READ_BYTES);
    let mut got = 0;
    loop {
        while let Some(frame) = reader.buffered() {
            if !frame.is_send {
                continue;
            }
            if frame.wants_response {
                push_response(&mut out, &frame, &own);
            }
            if !frame.has_body {
                bound.open(frame.from_path.clone());
                continue;
            }
            if frame.last_chunk {
                got += 1;
                if got == count {
                    writer.write_all(&out).expect("write 200");
                    return Instant::now();
                }
            }
        }
        if !out.is_empty() {
            writer.write_all(&out).expect("write 200");
            out.clear();
        }
        if !reader.fill() {
            break;
        }
    }
    panic!("receiver: stream ended after {got} of {count} messages");
}

/// A one-shot latch carrying the peer path learned from a bind SEND.
struct Gate {
    path: Mutex<Option<String>>,
    cv: Condvar,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            path: Mutex::new(None),
            cv: Condvar::new(),
        })
    }

    fn open(&self, path: String) {
        let mut p = self.path.lock().expect("gate lock");
        if p.is_none() {
            *p = Some(path);
            self.cv.notify_all();
        }
    }

    fn wait(&self) -> String {
        let mut p = self.path.lock().expect("gate lock");
        while p.is_none() {
            p = self.cv.wait(p).expect("gate wait");
        }
        p.clone().expect("set")
    }
}

/// What one sender sends: `count` SENDs of a `size`-byte text, at most `window`
/// unanswered; `session` keeps transaction and message ids apart between sessions.
struct Load {
    session: u64,
    size: usize,
    count: u64,
    window: u64,
}

/// The sender: the SENDs of `load` to `to`; returns when all are written and
/// answered.
fn pump(stream: TcpStream, to: &str, own: &str, load: &Load) {
    let count = load.count;
    let answered = Arc::new((AtomicU64::new(0), Mutex::new(()), Condvar::new()));
    let reader_stream = stream.try_clone().expect("clone stream");
    let seen = Arc::clone(&answered);
    let reader = named("acks", move || {
        let mut reader = Reader::new(reader_stream);
        while let Some(frame) = reader.next() {
            // SENDs are not ours to count, nor the 200 of the forwarder run's bind.
            if frame.is_send || frame.tid == "bind0" {
                continue;
            }
            let n = seen.0.fetch_add(1, Ordering::AcqRel) + 1;
            let _guard = seen.1.lock().expect("lock");
            seen.2.notify_all();
            if n >= count {
                return;
            }
        }
    });
    let text: Vec<u8> = (0..load.size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stream);
    let s = load.session;
    for i in 0..count {
        let (done, lock, cv) = &*answered;
        if i - done.load(Ordering::Acquire).min(i) >= load.window {
            out.flush().expect("flush");
            let mut guard = lock.lock().expect("lock");
            while i - done.load(Ordering::Acquire).min(i) >= load.window {
                guard = cv
                    .wait_timeout(guard, Duration::from_millis(50))
                    .expect("wait")
                    .0;
            }
        }
        let id = format!("msg{s:03}x{i:08}");
        let body = cpim(&id, &text);
        out.write_all(&send(&format!("tx{s:03}x{i:08}"), to, own, &id, &body))
            .expect("write SEND");
    }
    out.flush().expect("flush");
    reader.join().expect("sender reader");
}

fn bind(stream: &mut TcpStream, to: &str, own: &str) {
    let frame = format!(
        "MSRP bind0 SEND\r\nTo-Path: {to}\r\nFrom-Path: {own}\r\nMessage-ID: bind\r\n\
         Byte-Range: 1-0/0\r\n-------bind0$\r\n"
    );
    stream.write_all(frame.as_bytes()).expect("write bind");
}

/// Copies bytes both ways between `a` and `b` until either side closes.
fn forward(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = (a.try_clone().expect("clone"), b.try_clone().expect("clone"));
    let (mut a, mut b) = (a, b);
    let up = named("forwarder", move || {
        let _ = std::io::copy(&mut a, &mut b2);
        let _ = b2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut b, &mut a2);
    let _ = a2.shutdown(Shutdown::Write);
    let _ = up.join();
}

fn listen() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().expect("addr").port();
    (l, format!("msrp://127.0.0.1:{port}/bench{port};tcp"))
}

fn report(mode: &str, args: &Args, started: Instant, ended: Instant) {
    let secs = ended.duration_since(started).as_secs_f64();
    let rate = args.count as f64 / secs;
    let mb = rate * args.size as f64 / 1e6;
    println!(
        "{{\"mode\":\"{mode}\",\"size\":{},\"count\":{},\"sessions\":{},\"seconds\":{secs:.3},\"msg_per_s\":{rate:.0},\"mb_per_s\":{mb:.2}}}",
        args.size, args.count, args.sessions
    );
}

/// Each session's receiver, started: it returns when the session's last message
/// arrived.
type Receivers = Vec<JoinHandle<Instant>>;

/// Starts the receiver of session `i` on `listener` (its bind opens `gate`).
fn spawn_receiver(
    listener: TcpListener,
    own: String,
    count: u64,
    gate: Arc<Gate>,
) -> JoinHandle<Instant> {
    named("receiver", move || {
        let (s, _) = listener.accept().expect("receiver accept");
        let _ = s.set_nodelay(true);
        receive(s, own, count, gate)
    })
}

/// The baseline: per session a forwarder (a thread pair copying bytes) between the
/// sender and the receiver; every sender bound before the clock starts.
fn run_forwarder(args: &Args, start: &Arc<Barrier>) -> (Receivers, Vec<JoinHandle<()>>) {
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for i in 0..args.sessions {
        let (rx_listener, rx_path) = listen();
        let (fwd_listener, fwd_path) = listen();
        let receiver_addr = rx_listener.local_addr().expect("addr");
        named("forwarder", move || {
            let (inbound, _) = fwd_listener.accept().expect("forwarder accept");
            let upstream = TcpStream::connect(receiver_addr).expect("forwarder connect");
            let _ = inbound.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            forward(inbound, upstream);
        });
        let gate = Gate::new();
        receivers.push(spawn_receiver(
            rx_listener,
            rx_path.clone(),
            args.count_of(i),
            Arc::clone(&gate),
        ));
        let mut tx = TcpStream::connect(fwd_listener_addr(&fwd_path)).expect("connect");
        let _ = tx.set_nodelay(true);
        let tx_path = format!("msrp://127.0.0.1:9/benchsender{i};tcp");
        let to = format!("{fwd_path} {rx_path}");
        bind(&mut tx, &to, &tx_path);
        gate.wait();
        let load = args.load_of(i);
        let start = Arc::clone(start);
        senders.push(named("sender", move || {
            start.wait();
            pump(tx, &to, &tx_path, &load);
        }));
    }
    (receivers, senders)
}

/// Through cpmd: passive terminals whose paths go to `--paths`; each session's
/// sender waits for cpmd's bind on both of its connections, then for the start.
fn run_cpmd(args: &Args, start: &Arc<Barrier>) -> (Receivers, Vec<JoinHandle<()>>) {
    let mut lines = String::new();
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for i in 0..args.sessions {
        let (rx_listener, rx_path) = listen();
        let (tx_listener, tx_path) = listen();
        lines.push_str(&format!("{tx_path}\n{rx_path}\n"));
        let gate = Gate::new();
        receivers.push(spawn_receiver(
            rx_listener,
            rx_path,
            args.count_of(i),
            Arc::clone(&gate),
        ));
        let load = args.load_of(i);
        let start = Arc::clone(start);
        senders.push(named("sender", move || {
            // cpmd connects to the sender too and binds; its From-Path is where the
            // sender's SENDs go.
            let (tx, _) = tx_listener.accept().expect("sender accept");
            let _ = tx.set_nodelay(true);
            let mut reader = Reader::new(tx.try_clone().expect("clone"));
            let frame = reader.next().expect("bind SEND from cpmd");
            let mut w = tx.try_clone().expect("clone");
            if frame.wants_response {
                w.write_all(&response(&frame, &tx_path)).expect("write 200");
            }
            let to = frame.from_path.clone();
            gate.wait();
            drop(reader);
            start.wait();
            pump(tx, &to, &tx_path, &load);
        }));
    }
    // Written whole and then renamed: the script reads it as soon as it exists.
    let file = args.paths.clone().unwrap_or_else(|| usage());
    let partial = format!("{file}.partial");
    std::fs::write(&partial, lines).expect("write paths");
    std::fs::rename(&partial, &file).expect("rename paths");
    (receivers, senders)
}

fn main() {
    let args = parse_args();
    let sessions = usize::try_from(args.sessions).unwrap_or_else(|_| usage());
    // Every sender and this thread: the clock starts when all are bound.
    let start = Arc::new(Barrier::new(sessions + 1));
    let (receivers, senders) = match args.mode.as_str() {
        "forwarder" => run_forwarder(&args, &start),
        "cpmd" => run_cpmd(&args, &start),
        _ => usage(),
    };
    start.wait();
    let started = Instant::now();
    let ended = receivers
        .into_iter()
        .map(|r| r.join().expect("receiver"))
        .max()
        .expect("at least one session");
    for s in senders {
        s.join().expect("sender");
    }
    report(&args.mode, &args, started, ended);
}

/// A thread named for its part (sender, acks, receiver, forwarder): `bench/msrp.sh
/// THREADS=1` sums the CPU of each part by this name.
fn named<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("spawn thread")
}

fn fwd_listener_addr(path: &str) -> String {
    let rest = path.trim_start_matches("msrp://");
    rest.split('/').next().expect("authority").to_owned()
}
