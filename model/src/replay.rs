//! Replay of a recorded input trace through a fresh `cpmd_core::Server`: a regression
//! test made of what cpmd really received.
//!
//! The runtime writes the trace with `--trace-input` (`runtime/src/trace.rs`,
//! `tests/README.md` "Replay traces"): one JSON object per network input, in the order
//! the event loop fed the core, with the core clock (`t_ms`) and the flow (transport,
//! connection number, peer). [`Trace::parse`] reads it; [`replay`] feeds every entry
//! to a new server with the same [`Time`] and the same [`Flow`] (`handle_bytes` /
//! `handle_closed`) and collects what the server did.
//!
//! A trace recorded by a current runtime opens with a `start` line: the core
//! configuration the server ran with (seed, domain, advertised address,
//! conference-factory user, users list, MSRP port, timers, limits, and whether digest
//! authentication was on, without the passwords). [`Trace::parse`] keeps it in
//! [`Trace::start`] and [`Start::config`] rebuilds the `Config` from it. Older traces
//! have none: for them the server's address is read back from the inputs
//! ([`Trace::server_addr`]) and the rest is the runtime's defaults, but the seed is
//! lost (see below).
//!
//! What the trace does **not** hold, and how the replay stands in for it:
//!
//! * **Store answers.** Every `Persist` and `SealSession` is answered `Ok` at once, at
//!   the time of the input that caused it (the runtime's store answers later, from
//!   another task). Store failures are never replayed.
//! * **Timer firings.** Before each input at time `t` the replay calls
//!   `handle_timeout(t)`, so every timer due by then fires first, as it would have in
//!   the runtime's loop (which may have fired it a little earlier). Nothing fires after
//!   the last input.
//! * **Wall clock.** Never set: `Date`s the server fills in itself differ from the
//!   recorded run.
//! * **Passwords.** A `start` line says `auth: true` when digest authentication was
//!   on, but the passwords are never recorded, so [`Start::config`] replays with
//!   authentication off: requests the recorded server challenged are accepted, and the
//!   replay diverges from the recording there.
//! * **Seed (traces without a `start` line).** The tokens the core mints (tags,
//!   branches, Call-IDs, nonces, UUIDs) are a keyed PRF of `Config.seed`, whose key is
//!   random per boot. Responses and in-dialog requests in the trace quote the recorded
//!   run's tokens, so a replay under another seed does not match them. The `start`
//!   line records the seed; a trace without one cannot be replayed past the first
//!   server-minted token (the tokens cannot be inverted: that is the point). Either
//!   way, compare outputs **structurally** (methods, status codes, counts,
//!   Contribution-IDs), never byte for byte: the `Date`s and timer interleavings still
//!   differ.
//! * **The server's own address (traces without a `start` line).**
//!   `Config.advertised_host`/`advertised_port` should be the recorded server's;
//!   [`Trace::server_addr`] reads it from the top `Via` of the first response in the
//!   trace.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use cpmd_core::server::{
    Command, Config, Event, Flow, HistoryObject, Record, RemoteBinding, Seed, Server, Timers,
    Transport,
};
use cpmd_core::wire::Limits;
use cpmd_core::{ConnId, Time, UserUri};
use serde::Deserialize;

/// One recorded network input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes received: one datagram (UDP) or one read (TCP, before framing).
    Bytes {
        /// Where they came from.
        flow: Flow,
        /// The payload.
        bytes: Vec<u8>,
    },
    /// A TCP connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// Another node's location row (a cluster node's trace, SCALE-5).
    RemoteBinding(RemoteBinding),
}

/// One trace line: an input and the core time it was fed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The core clock passed with the input.
    pub at: Time,
    /// The input.
    pub input: Input,
}

/// The recorded server's core configuration, from the trace's `start` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The ID seed (instance and per-boot token key).
    pub seed: Seed,
    /// The SIP domain.
    pub domain: String,
    /// The address advertised in Via and Contact.
    pub advertised: SocketAddr,
    /// The user part of the conference-factory URI.
    pub conference_factory_user: String,
    /// The users list (canonical URIs; empty: anyone in the domain).
    pub users: Vec<String>,
    /// Whether digest authentication was on (the passwords are not recorded).
    pub auth: bool,
    /// The MSRP port, when recorded.
    pub msrp_port: Option<u16>,
    /// Whether the core reported its bindings for location rows (`[cluster]`).
    pub share_locations: bool,
    /// The timers, when recorded.
    pub timers: Option<Timers>,
    /// The input limits, when recorded.
    pub limits: Option<Limits>,
}

impl Start {
    /// The core configuration to replay with: the recorded one, with authentication
    /// off (see the module documentation); what the line does not hold keeps
    /// `Config::new`'s default.
    pub fn config(&self) -> Config {
        let mut c = Config::new(&self.domain);
        c.conference_factory_user
            .clone_from(&self.conference_factory_user);
        c.advertised_host = self.advertised.ip().to_string();
        c.advertised_port = self.advertised.port();
        c.users = self
            .users
            .iter()
            .map(|u| UserUri::new_canonical(u.clone()))
            .collect();
        if let Some(port) = self.msrp_port {
            c.msrp.advertised.set_port(port);
        }
        if let Some(timers) = &self.timers {
            c.timers = *timers;
        }
        if let Some(limits) = &self.limits {
            c.limits = limits.clone();
        }
        c.seed = self.seed;
        c.share_locations = self.share_locations;
        c.auth = None;
        c
    }
}

/// A parsed input trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The recorded configuration, when the trace opens with a `start` line.
    pub start: Option<Start>,
    /// The inputs in the order fed.
    pub entries: Vec<Entry>,
}

/// A trace line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trace line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

// One line is parsed at a time and moved out at once: the size of the rare `start`
// variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Line {
    Start {
        instance: u64,
        key: String,
        domain: String,
        advertised: String,
        conference_factory_user: String,
        #[serde(default)]
        users: Vec<String>,
        #[serde(default)]
        auth: bool,
        msrp_port: Option<u16>,
        #[serde(default)]
        share_locations: bool,
        timers: Option<TimersLine>,
        limits: Option<LimitsLine>,
    },
    Bytes {
        t_ms: u64,
        transport: String,
        conn: u64,
        peer: String,
        text: Option<String>,
        bytes: Option<Vec<u8>>,
    },
    Closed {
        t_ms: u64,
        conn: u64,
    },
    /// Another node's location row, as fed to the core.
    #[serde(rename = "remote_binding")]
    RemoteBinding {
        t_ms: u64,
        aor: String,
        contact_key: String,
        transport: String,
        conn: u64,
        peer: String,
        left_ms: u64,
    },
    /// An IMAP login attempt (SEC-4f). Skipped: a replay runs with authentication
    /// off, where the password-failure table is never consulted.
    Login {},
}

/// The `timers` object of a `start` line (missing fields keep the core's default).
#[derive(Deserialize)]
struct TimersLine {
    t1_ms: Option<u64>,
    t2_ms: Option<u64>,
    t4_ms: Option<u64>,
    timer_c_ms: Option<u64>,
    bye_wait_ms: Option<u64>,
    replaced_bye_timeout_ms: Option<u64>,
    default_expires_s: Option<u32>,
}

impl TimersLine {
    fn timers(self) -> Timers {
        let d = Timers::default();
        Timers {
            t1_ms: self.t1_ms.unwrap_or(d.t1_ms),
            t2_ms: self.t2_ms.unwrap_or(d.t2_ms),
            t4_ms: self.t4_ms.unwrap_or(d.t4_ms),
            timer_c_ms: self.timer_c_ms.unwrap_or(d.timer_c_ms),
            bye_wait_ms: self.bye_wait_ms.unwrap_or(d.bye_wait_ms),
            replaced_bye_timeout_ms: self
                .replaced_bye_timeout_ms
                .unwrap_or(d.replaced_bye_timeout_ms),
            default_expires_s: self.default_expires_s.unwrap_or(d.default_expires_s),
        }
    }
}

/// The `limits` object of a `start` line (missing fields keep the core's default).
#[derive(Deserialize)]
struct LimitsLine {
    max_header_bytes: Option<usize>,
    max_body_bytes: Option<usize>,
    max_header_count: Option<usize>,
    max_multipart_parts: Option<usize>,
    max_list_entries: Option<usize>,
}

impl LimitsLine {
    fn limits(self) -> Limits {
        let d = Limits::default();
        Limits {
            max_header_bytes: self.max_header_bytes.unwrap_or(d.max_header_bytes),
            max_body_bytes: self.max_body_bytes.unwrap_or(d.max_body_bytes),
            max_header_count: self.max_header_count.unwrap_or(d.max_header_count),
            max_multipart_parts: self.max_multipart_parts.unwrap_or(d.max_multipart_parts),
            max_list_entries: self.max_list_entries.unwrap_or(d.max_list_entries),
            // MSRP limits are not recorded yet (the runtime has no MSRP): defaults.
            ..d
        }
    }
}

/// A `start` line's `advertised`: `ip:port` or `[v6]:port`.
fn advertised_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("advertised {text:?}: {e} (expected ip:port)"))
}

fn transport(name: &str) -> Option<Transport> {
    [Transport::Udp, Transport::Tcp, Transport::Tls]
        .into_iter()
        .find(|t| t.via_token().eq_ignore_ascii_case(name))
}

impl Trace {
    /// Parses `input-trace.jsonl` text (blank lines are skipped). A `start` line is
    /// read only as the first line: a later one begins another boot (the runtime
    /// appends to the file), which one replay cannot follow, and is an error.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut start = None;
        let mut entries = Vec::new();
        let mut first = true;
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let err = |reason: String| ParseError {
                line: i + 1,
                reason,
            };
            let line: Line = serde_json::from_str(raw).map_err(|e| err(e.to_string()))?;
            let was_first = std::mem::replace(&mut first, false);
            entries.push(match line {
                Line::Start {
                    instance,
                    key,
                    domain,
                    advertised,
                    conference_factory_user,
                    users,
                    auth,
                    msrp_port,
                    share_locations,
                    timers,
                    limits,
                } => {
                    if !was_first {
                        return Err(err(
                            "a start line after the first line: the trace holds more than \
                             one boot; split it at the start lines and replay each"
                                .into(),
                        ));
                    }
                    start = Some(Start {
                        seed: Seed {
                            instance,
                            key: Seed::key_from_hex(&key)
                                .ok_or_else(|| err("key: not 64 hex digits".into()))?,
                        },
                        domain,
                        advertised: advertised_addr(&advertised).map_err(err)?,
                        conference_factory_user,
                        users,
                        auth,
                        msrp_port,
                        share_locations,
                        timers: timers.map(TimersLine::timers),
                        limits: limits.map(LimitsLine::limits),
                    });
                    continue;
                }
                Line::Bytes {
                    t_ms,
                    transport: t,
                    conn,
                    peer,
                    text,
                    bytes,
                } => {
                    let transport =
                        transport(&t).ok_or_else(|| err(format!("unknown transport {t:?}")))?;
                    let peer: SocketAddr = peer
                        .parse()
                        .map_err(|e| err(format!("peer {peer:?}: {e}")))?;
                    let bytes = match (text, bytes) {
                        (Some(text), None) => text.into_bytes(),
                        (None, Some(bytes)) => bytes,
                        _ => return Err(err("exactly one of text and bytes expected".into())),
                    };
                    Entry {
                        at: Time::from_ms(t_ms),
                        input: Input::Bytes {
                            flow: Flow {
                                transport,
                                conn: ConnId::new(conn),
                                peer,
                            },
                            bytes,
                        },
                    }
                }
                Line::RemoteBinding {
                    t_ms,
                    aor,
                    contact_key,
                    transport: t,
                    conn,
                    peer,
                    left_ms,
                } => Entry {
                    at: Time::from_ms(t_ms),
                    input: Input::RemoteBinding(RemoteBinding {
                        aor: UserUri::new_canonical(aor),
                        contact_key,
                        flow: Flow {
                            transport: transport(&t)
                                .ok_or_else(|| err(format!("unknown transport {t:?}")))?,
                            conn: ConnId::new(conn),
                            peer: peer
                                .parse()
                                .map_err(|e| err(format!("peer {peer:?}: {e}")))?,
                        },
                        left_ms,
                    }),
                },
                Line::Login {} => continue,
                Line::Closed { t_ms, conn } => Entry {
                    at: Time::from_ms(t_ms),
                    input: Input::Closed {
                        conn: ConnId::new(conn),
                    },
                },
            });
        }
        Ok(Self { start, entries })
    }

    /// Reads and parses a trace file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the trace holds no input.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The recorded configuration from the `start` line ([`Start::config`]), if the
    /// trace has one.
    pub fn config(&self) -> Option<Config> {
        self.start.as_ref().map(Start::config)
    }

    /// The recorded server's address: the sent-by of the top `Via` of the first
    /// response in the trace (a response to a request the server sent).
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.entries.iter().find_map(|e| {
            let Input::Bytes { bytes, .. } = &e.input else {
                return None;
            };
            let text = std::str::from_utf8(bytes).ok()?;
            if !text.starts_with("SIP/2.0 ") {
                return None;
            }
            let via = text.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                let name = name.trim();
                (name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v"))
                    .then_some(value)
            })?;
            let sent_by = via.split(',').next()?.split(';').next()?;
            let sent_by = sent_by.split_whitespace().nth(1)?;
            sent_by.parse().ok()
        })
    }
}

/// Something the replayed server received or did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Input number `index` of the trace was fed.
    Received {
        /// Index in [`Trace::entries`].
        index: usize,
        /// When.
        at: Time,
        /// The input.
        input: Input,
    },
    /// A SIP message (or raw error reply) sent.
    Transmit {
        /// When.
        at: Time,
        /// Where.
        flow: Flow,
        /// The encoded message.
        text: String,
    },
    /// A record persisted (answered `Ok`).
    Persisted {
        /// When.
        at: Time,
        /// The record.
        record: Record,
    },
    /// A session sealed (answered `Ok`).
    Sealed {
        /// When.
        at: Time,
        /// The history object.
        history: HistoryObject,
    },
    /// An event.
    Event {
        /// When.
        at: Time,
        /// The event.
        event: Event,
    },
    /// Any other command (`Connect`, `Close`, `ChatDeliver`, `ChatResult`), as Debug.
    Other {
        /// When.
        at: Time,
        /// The command.
        command: String,
    },
}

/// What a replay produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Inputs and outputs, in order.
    pub steps: Vec<Step>,
    /// How many inputs were fed (the whole trace unless the replay panicked).
    pub consumed: usize,
}

/// A transmitted message, structurally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent<'a> {
    /// Position in [`ReplayOutcome::steps`].
    pub step: usize,
    /// Where.
    pub flow: Flow,
    /// The first line (`INVITE sip:… SIP/2.0`, `SIP/2.0 200 OK`).
    pub first_line: &'a str,
    /// The CSeq method (`BYE`), if there is a CSeq header.
    pub cseq_method: Option<&'a str>,
}

impl Sent<'_> {
    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        self.first_line
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<&str> {
        if self.first_line.starts_with("SIP/2.0 ") {
            None
        } else {
            self.first_line.split(' ').next()
        }
    }
}

/// The value of the first header named `name` (or its compact form) in `text`.
fn header<'a>(text: &'a str, names: &[&str]) -> Option<&'a str> {
    text.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            names
                .iter()
                .any(|x| n.trim().eq_ignore_ascii_case(x))
                .then_some(v.trim())
        })
}

/// The first line of a received payload, with the CSeq for a response.
fn summary(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.split(['\r', '\n']).next().unwrap_or("");
    match header(&text, &["CSeq"]) {
        Some(cseq) if line.starts_with("SIP/2.0 ") => format!("{line} ({cseq})"),
        _ => line.to_owned(),
    }
}

impl ReplayOutcome {
    /// Every transmitted message, in order.
    pub fn transmits(&self) -> Vec<Sent<'_>> {
        self.steps
            .iter()
            .enumerate()
            .filter_map(|(step, s)| {
                let Step::Transmit { flow, text, .. } = s else {
                    return None;
                };
                Some(Sent {
                    step,
                    flow: *flow,
                    first_line: text.split("\r\n").next().unwrap_or(""),
                    cseq_method: header(text, &["CSeq"]).and_then(|v| v.split_whitespace().nth(1)),
                })
            })
            .collect()
    }

    /// Every persisted record, in order.
    pub fn persisted(&self) -> Vec<&Record> {
        self.steps
            .iter()
            .filter_map(|s| {
                let Step::Persisted { record, .. } = s else {
                    return None;
                };
                Some(record)
            })
            .collect()
    }

    /// Every sealed history object with its step position, in order.
    pub fn sealed(&self) -> Vec<(usize, &HistoryObject)> {
        self.steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let Step::Sealed { history, .. } = s else {
                    return None;
                };
                Some((i, history))
            })
            .collect()
    }

    /// Every event, in order.
    pub fn events(&self) -> Vec<&Event> {
        self.steps
            .iter()
            .filter_map(|s| {
                let Step::Event { event, .. } = s else {
                    return None;
                };
                Some(event)
            })
            .collect()
    }

    /// The replay as a message-sequence chart: one column per peer (in order of
    /// appearance), then the server and the store.
    pub fn chart(&self) -> String {
        let mut peers: Vec<SocketAddr> = Vec::new();
        let mut conn_peer: BTreeMap<ConnId, SocketAddr> = BTreeMap::new();
        let mut note = |p: SocketAddr| {
            if !peers.contains(&p) {
                peers.push(p);
            }
        };
        for s in &self.steps {
            if let Step::Received {
                input: Input::Bytes { flow, .. },
                ..
            } = s
            {
                conn_peer.insert(flow.conn, flow.peer);
                note(flow.peer);
            } else if let Step::Transmit { flow, .. } = s {
                note(flow.peer);
            }
        }
        let server = peers.len();
        let store = server + 1;
        let col = |p: &SocketAddr| peers.iter().position(|x| x == p).unwrap_or(server);
        let mut names: Vec<String> = (1..=peers.len()).map(|i| format!("peer{i}")).collect();
        names.extend(["cpmd".to_owned(), "store".to_owned()]);
        let mut rows = Vec::new();
        for s in &self.steps {
            rows.push(match s {
                Step::Received { at, input, .. } => match input {
                    Input::Bytes { flow, bytes } => (
                        col(&flow.peer),
                        server,
                        format!("{:>6} ms  {}", at.as_ms(), summary(bytes)),
                    ),
                    Input::Closed { conn } => (
                        conn_peer.get(conn).map_or(server, col),
                        server,
                        format!("{:>6} ms  connection {conn} closed", at.as_ms()),
                    ),
                    Input::RemoteBinding(b) => (
                        store,
                        server,
                        format!(
                            "{:>6} ms  location row {} {} ({} ms left)",
                            at.as_ms(),
                            b.aor,
                            b.contact_key,
                            b.left_ms
                        ),
                    ),
                },
                Step::Transmit { at, flow, text } => {
                    let cseq = header(text, &["CSeq"]).unwrap_or("");
                    let line = text.split("\r\n").next().unwrap_or("");
                    let label = if line.starts_with("SIP/2.0 ") {
                        format!("{:>6} ms  {line} ({cseq})", at.as_ms())
                    } else {
                        format!("{:>6} ms  {line}", at.as_ms())
                    };
                    (server, col(&flow.peer), label)
                }
                Step::Persisted { at, record } => {
                    let what = match record {
                        Record::Message(m) => {
                            format!("persist message {} of {}", m.seq, m.key.contribution_id)
                        }
                        Record::SessionInfo(i) => format!(
                            "persist session info {}/{}",
                            i.key.conversation_id, i.key.contribution_id
                        ),
                        Record::Standalone(m) => format!("persist standalone {}", m.message_id),
                        Record::Disposition(d) => {
                            format!("persist {:?} of {}", d.disposition, d.message_id)
                        }
                        Record::Deferred(d) => format!(
                            "persist deferred {} for {}",
                            d.message.id, d.message.recipient
                        ),
                        Record::DeferredDone(d) => {
                            format!("persist deferred {} {:?}", d.id, d.end)
                        }
                        Record::KnownUser(u) => format!("persist known user {u}"),
                        Record::GroupState(g) => {
                            format!("persist group state of {}", g.info.key.contribution_id)
                        }
                    };
                    (server, store, format!("{:>6} ms  {what}", at.as_ms()))
                }
                Step::Sealed { at, history } => (
                    server,
                    store,
                    format!(
                        "{:>6} ms  seal {}/{} ({} messages)",
                        at.as_ms(),
                        history.info.key.conversation_id,
                        history.info.key.contribution_id,
                        history.messages.len()
                    ),
                ),
                Step::Event { at, event } => {
                    (server, server, format!("{:>6} ms  {event:?}", at.as_ms()))
                }
                Step::Other { at, command } => {
                    (server, server, format!("{:>6} ms  {command}", at.as_ms()))
                }
            });
        }
        let mut out = String::new();
        for (i, p) in peers.iter().enumerate() {
            out.push_str(&format!("peer{} = {p}\n", i + 1));
        }
        out.push_str(&crate::msc::header_of(&names));
        out.push('\n');
        out.push_str(&crate::msc::render_rows(names.len(), &rows));
        out
    }
}

/// Feeds `trace` into a fresh `Server::new(config)` (see the module documentation for
/// what stands in for the store, the timers and the clock) and collects its outputs.
pub fn replay(config: Config, trace: &Trace) -> ReplayOutcome {
    let mut server = Server::new(config);
    let mut out = ReplayOutcome::default();
    for (index, entry) in trace.entries.iter().enumerate() {
        let at = entry.at;
        server.handle_timeout(at);
        drain(&mut server, at, &mut out.steps);
        out.steps.push(Step::Received {
            index,
            at,
            input: entry.input.clone(),
        });
        match &entry.input {
            Input::Bytes { flow, bytes } => server.handle_bytes(at, *flow, bytes),
            Input::Closed { conn } => server.handle_closed(at, *conn),
            Input::RemoteBinding(b) => server.handle_remote_binding(at, b.clone()),
        }
        drain(&mut server, at, &mut out.steps);
        out.consumed = index + 1;
    }
    out
}

/// Drains commands and events until the server is quiet, answering the store at once.
fn drain(server: &mut Server, at: Time, steps: &mut Vec<Step>) {
    loop {
        let mut any = false;
        while let Some(cmd) = server.poll_command() {
            any = true;
            match cmd {
                Command::Transmit { flow, message } => steps.push(Step::Transmit {
                    at,
                    flow,
                    text: String::from_utf8_lossy(&cpmd_core::wire::encode_message(&message))
                        .into_owned(),
                }),
                Command::TransmitRaw { flow, bytes } => steps.push(Step::Transmit {
                    at,
                    flow,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                }),
                Command::Persist { ticket, record } => {
                    steps.push(Step::Persisted { at, record });
                    server.handle_store_result(at, ticket, Ok(()));
                }
                Command::SealSession { ticket, history } => {
                    steps.push(Step::Sealed { at, history });
                    server.handle_store_result(at, ticket, Ok(()));
                }
                other @ (Command::Connect { .. }
                | Command::Close { .. }
                | Command::MsrpConnect { .. }
                | Command::MsrpSend { .. }
                | Command::ChatDeliver { .. }
                | Command::ChatResult { .. }) => steps.push(Step::Other {
                    at,
                    command: format!("{other:?}"),
                }),
            }
        }
        while let Some(event) = server.poll_event() {
            any = true;
            steps.push(Step::Event { at, event });
        }
        if !any {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_both_kinds_and_payload_forms() {
        let text = r#"{"t_ms":7,"kind":"bytes","transport":"udp","conn":1,"peer":"127.0.0.1:5062","text":"OPTIONS"}
{"t_ms":8,"kind":"bytes","transport":"tcp","conn":2,"peer":"[::1]:5062","bytes":[255,0]}
{"t_ms":9,"kind":"closed","transport":"tcp","conn":2}
{"t_ms":9,"kind":"login","user":"alice","source":"127.0.0.1","ok":false}
"#;
        let t = Trace::parse(text).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.entries[0].at, Time::from_ms(7));
        let Input::Bytes { flow, bytes } = &t.entries[1].input else {
            panic!()
        };
        assert_eq!(flow.transport, Transport::Tcp);
        assert_eq!(bytes, &[255, 0]);
        assert_eq!(
            t.entries[2].input,
            Input::Closed {
                conn: ConnId::new(2)
            }
        );
        assert!(Trace::parse("{\"kind\":\"bytes\"}").is_err());
        assert_eq!(t.start, None);
        assert_eq!(t.config(), None);
    }

    /// A trace as the runtime writes it now: the `start` line gives the whole config,
    /// seed included, without reading anything back from the inputs.
    #[test]
    fn start_line_rebuilds_the_config() {
        let text = r#"{"kind":"start","instance":3,"key":"fefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefe","domain":"example.org","advertised":"[::1]:5070","conference_factory_user":"factory","users":["sip:alice@example.org","tel:+15551234"],"auth":true,"msrp_port":2856,"timers":{"t1_ms":100,"t2_ms":400,"t4_ms":500,"timer_c_ms":180000,"bye_wait_ms":1000,"replaced_bye_timeout_ms":2000,"default_expires_s":600},"limits":{"max_header_bytes":1000,"max_body_bytes":2000,"max_header_count":30,"max_multipart_parts":4,"max_list_entries":5}}
{"t_ms":7,"kind":"bytes","transport":"udp","conn":1,"peer":"[::1]:5062","text":"OPTIONS"}
"#;
        let t = Trace::parse(text).unwrap();
        assert_eq!(t.len(), 1, "the start line is not an input");
        let start = t.start.as_ref().expect("start line");
        assert!(start.auth);
        let c = t.config().expect("config from the start line");
        assert_eq!(
            c.seed,
            Seed {
                instance: 3,
                key: [0xfe; 32]
            }
        );
        assert_eq!(c.domain, "example.org");
        assert_eq!(c.advertised_host, "::1");
        assert_eq!(c.advertised_port, 5070);
        assert_eq!(c.conference_factory_user, "factory");
        let users: Vec<&str> = c.users.iter().map(UserUri::as_str).collect();
        assert_eq!(users, ["sip:alice@example.org", "tel:+15551234"]);
        assert_eq!(c.auth, None, "no passwords recorded: replayed without auth");
        assert_eq!(c.msrp.advertised.port(), 2856);
        assert_eq!(c.timers.t1_ms, 100);
        assert_eq!(c.timers.bye_wait_ms, 1000);
        assert_eq!(c.timers.default_expires_s, 600);
        assert_eq!(c.limits.max_header_bytes, 1000);
        assert_eq!(c.limits.max_list_entries, 5);
        c.validate().expect("a valid config");

        // Only the required fields: the rest keeps the core's defaults.
        let minimal = r#"{"kind":"start","instance":0,"key":"0505050505050505050505050505050505050505050505050505050505050505","domain":"example.com","advertised":"127.0.0.1:5060","conference_factory_user":"conf-factory","users":[],"auth":false}"#;
        let c = Trace::parse(minimal).unwrap().config().unwrap();
        let d = Config::new("example.com");
        assert_eq!(
            c.seed,
            Seed {
                instance: 0,
                key: [5; 32]
            }
        );
        assert_eq!(
            (c.advertised_host.as_str(), c.advertised_port),
            ("127.0.0.1", 5060)
        );
        assert_eq!(c.timers, d.timers);
        assert_eq!(c.limits, d.limits);
        assert_eq!(c.msrp, d.msrp);

        // A second boot appended to the same file is refused, as is a bad address.
        let two_boots = format!("{text}{minimal}\n");
        let e = Trace::parse(&two_boots).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(Trace::parse(&minimal.replace("127.0.0.1:5060", "nowhere")).is_err());
        assert!(
            Trace::parse(&minimal.replace(&"05".repeat(32), "05")).is_err(),
            "a key that is not 64 hex digits"
        );
    }

    /// A cluster node's trace (specs/scale-out.md): the `remote_binding` line is fed
    /// to the core as the runtime fed it, so the replay reaches bob, registered
    /// through another node, where the row says (SCALE-5), and `share_locations`
    /// comes back from the start line.
    #[test]
    fn a_cluster_nodes_location_rows_replay() {
        let key = "05".repeat(32);
        let register = "REGISTER sip:example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-r1;rport\r\nMax-Forwards: 70\r\n\
            From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\n\
            Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\n\
            Contact: <sip:alice@127.0.0.1:5062>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
        let message = "MESSAGE sip:bob@example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-m1;rport\r\nMax-Forwards: 70\r\n\
            From: <sip:alice@example.com>;tag=a2\r\nTo: <sip:bob@example.com>\r\n\
            Call-ID: msg-1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
            Content-Length: 2\r\n\r\nhi";
        let lines = [
            serde_json::json!({"kind": "start", "instance": 1, "key": key,
                "domain": "example.com", "advertised": "127.0.0.1:5060",
                "conference_factory_user": "conf-factory", "users": [], "auth": false,
                "share_locations": true}),
            serde_json::json!({"t_ms": 5, "kind": "bytes", "transport": "udp", "conn": 1,
                "peer": "127.0.0.1:5062", "text": register}),
            serde_json::json!({"t_ms": 6, "kind": "remote_binding",
                "aor": "sip:bob@example.com", "contact_key": "sip:bob@127.0.0.1:5064",
                "transport": "udp", "conn": 1, "peer": "127.0.0.1:5064",
                "left_ms": 600_000}),
            serde_json::json!({"t_ms": 7, "kind": "bytes", "transport": "udp", "conn": 1,
                "peer": "127.0.0.1:5062", "text": message}),
        ];
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let t = Trace::parse(&text).unwrap();
        let config = t.config().expect("config");
        assert!(config.share_locations);
        let Input::RemoteBinding(b) = &t.entries[1].input else {
            panic!("{:?}", t.entries[1]);
        };
        assert_eq!((b.flow.peer.port(), b.left_ms), (5064, 600_000));
        let out = replay(config, &t);
        assert_eq!(out.consumed, 3);
        let to_bob: Vec<&str> = out
            .steps
            .iter()
            .filter_map(|s| {
                let Step::Transmit { flow, text, .. } = s else {
                    return None;
                };
                (flow.peer.port() == 5064)
                    .then(|| text.split("\r\n").next())
                    .flatten()
            })
            .collect();
        assert_eq!(
            to_bob,
            ["MESSAGE sip:bob@127.0.0.1:5064 SIP/2.0"],
            "{out:#?}"
        );
    }

    /// A `start` line anywhere but first is refused (a later boot, or a damaged file).
    #[test]
    fn start_line_must_come_first() {
        let text = r#"{"t_ms":7,"kind":"closed","transport":"tcp","conn":2}
{"kind":"start","instance":0,"key":"0505050505050505050505050505050505050505050505050505050505050505","domain":"example.com","advertised":"127.0.0.1:5060","conference_factory_user":"conf-factory","users":[],"auth":false}
"#;
        assert_eq!(Trace::parse(text).unwrap_err().line, 2);
    }
}
