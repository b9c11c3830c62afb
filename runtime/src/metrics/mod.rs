//! Operational metrics: the counters, gauges and the histogram cpmd exports on its
//! metrics listener in the Prometheus text format (OpenMetrics, via
//! `prometheus-client`), and the `/health` and `/ready` states ([`http`] serves them;
//! [`config`] is the `[metrics]` section).
//!
//! Everything here is observed by the runtime from what the core commands and
//! reports (the messages it transmits, its events, the store answers) and from the
//! core's tables once a second; nothing is counted inside the core, whose whole state
//! the model hashes. Not here: per-user or per-session series (unbounded label
//! cardinality). The store writer's batch sizes are reported by the store task
//! itself ([`Metrics::store_batch`]).

pub mod config;
mod handles;
pub mod http;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cpmd_core::record::SessionType;
use cpmd_core::server::{Event, SessionEnd, SessionOutcome};
use cpmd_core::sip::{Method, SipMessage};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use config::MetricsFileConfig;
pub use handles::LoopCounters;

/// A transmitted message's label.
enum Sent {
    Request(MethodLabel),
    Response(ResponseLabel),
}

fn sent_label(message: &SipMessage) -> Sent {
    match message {
        SipMessage::Request(req) => Sent::Request(MethodLabel {
            method: method_label(&req.method),
        }),
        SipMessage::Response(resp) => Sent::Response(ResponseLabel {
            method: method_label(&resp.headers.cseq.method),
            code: resp.status.get(),
        }),
    }
}

fn end_label(end: &SessionEnd) -> EndLabel {
    let outcome = match end.outcome {
        SessionOutcome::Failed => "failed",
        SessionOutcome::Cancelled => "cancelled",
        SessionOutcome::Sealed => "sealed",
        SessionOutcome::SealFailed => "seal_failed",
    };
    EndLabel {
        kind: kind_label(end.kind),
        outcome,
    }
}

impl StoreLabel {
    fn new(seal: bool, result: &'static str) -> Self {
        let job = if seal { "seal" } else { "record" };
        Self { job, result }
    }
}

/// A request method as a label (`other` for extension methods, so that a peer cannot
/// create series at will).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MethodLabel {
    method: &'static str,
}

/// A response: its code and the method of its request (from CSeq).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResponseLabel {
    method: &'static str,
    code: u16,
}

/// A session kind: `1-to-1` or `group`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    kind: &'static str,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndLabel {
    kind: &'static str,
    outcome: &'static str,
}

/// A store answer: the job (`record` or `seal`) and its result (`ok`, `failed`,
/// `over_quota`, `not_a_party`: a group restart refused, GRP-24; `no_ended_group`:
/// a restart naming no one whose ids name no ended group, GRP-40).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StoreLabel {
    job: &'static str,
    result: &'static str,
}

/// A connection protocol: `sip` or `msrp` (TCP and TLS), `imap`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProtocolLabel {
    protocol: &'static str,
}

/// Why input was refused without a SIP answer of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    reason: &'static str,
}

/// The `reason` labels of `cpmd_refusals_total`.
const REFUSALS: [&str; 5] = [
    "dropped",
    "msrp",
    "connect_policy",
    "store_overloaded",
    "deferred_undecodable",
];

/// Every metric cpmd exports, and the readiness flag.
pub struct Metrics {
    registry: Registry,
    sip_requests_sent: Family<MethodLabel, Counter>,
    sip_responses_sent: Family<ResponseLabel, Counter>,
    registrations: Gauge,
    sessions: Family<KindLabel, Gauge>,
    sessions_established: Counter,
    groups_created: Counter,
    extensions: Counter,
    sessions_ended: Family<EndLabel, Counter>,
    msrp_sends: Counter,
    deferred: Counter,
    store_answers: Family<StoreLabel, Counter>,
    store_latency: Histogram,
    store_batch_size: Histogram,
    store_queue: Gauge,
    connections: Family<ProtocolLabel, Gauge>,
    refusals: Family<ReasonLabel, Counter>,
    /// Listeners bound and the store open; cleared when the store task is gone.
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the `cpmd_` prefix; not ready.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cpmd");
        let m = Self {
            registry: Registry::default(),
            sip_requests_sent: Family::default(),
            sip_responses_sent: Family::default(),
            registrations: Gauge::default(),
            sessions: Family::default(),
            sessions_established: Counter::default(),
            groups_created: Counter::default(),
            extensions: Counter::default(),
            sessions_ended: Family::default(),
            msrp_sends: Counter::default(),
            deferred: Counter::default(),
            store_answers: Family::default(),
            // 100 µs .. ~3.3 s: a group commit is a few ms; beyond seconds the store
            // is failing its peers anyway.
            store_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            // 1 .. 256 (`store::MAX_BATCH`): jobs one commit covers.
            store_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            store_queue: Gauge::default(),
            connections: Family::default(),
            refusals: Family::default(),
            ready: AtomicBool::new(false),
        };
        registry.register(
            "sip_requests_sent",
            "SIP requests cpmd sent, by method",
            m.sip_requests_sent.clone(),
        );
        registry.register(
            "sip_responses_sent",
            "SIP responses cpmd sent (retransmissions included), by request method and code",
            m.sip_responses_sent.clone(),
        );
        registry.register(
            "registrations",
            "Registered contacts (bindings) of all users",
            m.registrations.clone(),
        );
        registry.register(
            "sessions",
            "Live chat sessions, by kind",
            m.sessions.clone(),
        );
        registry.register(
            "sessions_established",
            "1-to-1 sessions established (both legs confirmed)",
            m.sessions_established.clone(),
        );
        registry.register(
            "groups_created",
            "Group sessions created",
            m.groups_created.clone(),
        );
        registry.register(
            "extensions",
            "Group sessions created by extending a 1-to-1",
            m.extensions.clone(),
        );
        registry.register(
            "sessions_ended",
            "Sessions ended, by kind and outcome (sealed, seal failed, cancelled, failed)",
            m.sessions_ended.clone(),
        );
        registry.register(
            "msrp_sends",
            "MSRP SEND requests cpmd sent (message chunks relayed, binds included)",
            m.msrp_sends.clone(),
        );
        registry.register(
            "messages_deferred",
            "Pager messages stored for a recipient with no device (specs/deferred.md)",
            m.deferred.clone(),
        );
        registry.register(
            "store_answers",
            "Store answers: records (messages, session info, pager, dispositions) and seals, by result",
            m.store_answers.clone(),
        );
        registry.register(
            "store_latency_seconds",
            "Time from handing a record or seal to the store to its durable answer",
            m.store_latency.clone(),
        );
        registry.register(
            "store_batch_size",
            "Records and seals written by one store commit (group commit)",
            m.store_batch_size.clone(),
        );
        registry.register(
            "store_queue",
            "Records and seals waiting for the store",
            m.store_queue.clone(),
        );
        registry.register(
            "connections",
            "Open connections, by protocol (SIP and MSRP over TCP or TLS, IMAP)",
            m.connections.clone(),
        );
        registry.register(
            "refusals",
            "Input refused or dropped without a SIP answer of its own, by reason",
            m.refusals.clone(),
        );
        // The label sets known in advance start at zero, so that `rate()` and
        // dashboards see them before the first occurrence.
        for reason in REFUSALS {
            let _ = m.refusals.get_or_create(&ReasonLabel { reason });
        }
        for job in ["record", "seal"] {
            for result in [
                "ok",
                "failed",
                "over_quota",
                "not_a_party",
                "no_ended_group",
            ] {
                let _ = m.store_answers.get_or_create(&StoreLabel { job, result });
            }
        }
        for kind in ["1-to-1", "group"] {
            for outcome in ["sealed", "seal_failed", "cancelled", "failed"] {
                let _ = m.sessions_ended.get_or_create(&EndLabel { kind, outcome });
            }
        }
        Self { registry, ..m }
    }

    /// The exposition, in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Whether cpmd is ready to serve (`/ready`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Sets readiness: on once everything is bound and open, off when the store is gone.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// A SIP message cpmd transmits (the event loop counts through its
    /// [`LoopCounters`]).
    pub fn transmitted(&self, message: &SipMessage) {
        match sent_label(message) {
            Sent::Request(label) => {
                self.sip_requests_sent.get_or_create(&label).inc();
            }
            Sent::Response(label) => {
                self.sip_responses_sent.get_or_create(&label).inc();
            }
        }
    }

    /// An already encoded SIP message cpmd transmits (the answers to input it could
    /// not decode): counted by its status code, its method unknown.
    pub fn transmitted_raw(&self, bytes: &[u8]) {
        let code = bytes
            .strip_prefix(b"SIP/2.0 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok());
        if let Some(code) = code {
            let label = ResponseLabel {
                method: "unknown",
                code,
            };
            self.sip_responses_sent.get_or_create(&label).inc();
        }
    }

    /// MSRP bytes cpmd sends on a leg: a SEND request is counted.
    pub fn msrp_sent(&self, bytes: &[u8]) {
        // RFC 4975 §7: `MSRP SP transact-id SP method`.
        let is_send = bytes
            .strip_prefix(b"MSRP ")
            .and_then(|rest| rest.iter().position(|&b| b == b' ').map(|i| &rest[i..]))
            .is_some_and(|rest| rest.starts_with(b" SEND"));
        if is_send {
            self.msrp_sends.inc();
        }
    }

    /// An event of the core.
    pub fn event(&self, ev: &Event) {
        match ev {
            Event::Dropped { .. } => self.refused("dropped"),
            Event::SessionEstablished(_) => {
                self.sessions_established.inc();
            }
            Event::GroupCreated { replaces, .. } => {
                self.groups_created.inc();
                if replaces.is_some() {
                    self.extensions.inc();
                }
            }
            Event::SessionSealed(_) | Event::SealFailed(_) => {}
            Event::SessionEnded(end) => self.session_ended(end),
            Event::MsrpRefused { .. } => self.refused("msrp"),
            Event::ConnectRefused { .. } => self.refused("connect_policy"),
            Event::MessageDeferred { .. } => {
                self.deferred.inc();
            }
            Event::DeferredDropped { .. } => self.refused("deferred_undecodable"),
            Event::BindingsChanged { .. } => {}
        }
    }

    fn session_ended(&self, end: &SessionEnd) {
        self.sessions_ended.get_or_create(&end_label(end)).inc();
    }

    /// Input refused for `reason` (a fixed word).
    pub fn refused(&self, reason: &'static str) {
        self.refusals.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// A store answer: `seal` or a record, its result, and how long it took.
    pub fn store_answered(&self, seal: bool, result: &'static str, took: Duration) {
        self.store_answers
            .get_or_create(&StoreLabel::new(seal, result))
            .inc();
        self.store_latency.observe(took.as_secs_f64());
    }

    /// The store task is about to commit a batch of `jobs` records and seals.
    pub fn store_batch(&self, jobs: usize) {
        // Precision: a batch holds at most `store::MAX_BATCH` (256) jobs.
        #[allow(clippy::cast_precision_loss)]
        self.store_batch_size.observe(jobs as f64);
    }

    /// The gauges, from the core's tables and the runtime's connection maps.
    pub fn publish(&self, gauges: Gauges) {
        self.registrations.set(as_i64(gauges.bindings));
        for (kind, n) in [("1-to-1", gauges.one_to_one), ("group", gauges.groups)] {
            self.sessions
                .get_or_create(&KindLabel { kind })
                .set(as_i64(n));
        }
        for (protocol, n) in [
            ("sip", gauges.sip_connections),
            ("msrp", gauges.msrp_connections),
            ("imap", gauges.imap_connections),
        ] {
            self.connections
                .get_or_create(&ProtocolLabel { protocol })
                .set(as_i64(n));
        }
        self.store_queue.set(as_i64(gauges.store_queue));
    }
}

/// The values of the gauges at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Registered contacts.
    pub bindings: usize,
    /// Live 1-to-1 sessions.
    pub one_to_one: usize,
    /// Live group sessions.
    pub groups: usize,
    /// Open SIP connections (TCP and TLS).
    pub sip_connections: usize,
    /// Open MSRP connections.
    pub msrp_connections: usize,
    /// Open IMAP connections.
    pub imap_connections: usize,
    /// Store jobs waiting for their answer.
    pub store_queue: usize,
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn kind_label(kind: SessionType) -> &'static str {
    match kind {
        SessionType::OneToOne => "1-to-1",
        SessionType::AdHoc => "group",
    }
}

/// A method's label: its token for the methods cpmd knows, `other` for the rest.
fn method_label(method: &Method) -> &'static str {
    method.known_token().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_and_counts_raw_and_msrp_sends() {
        let m = Metrics::new();
        m.transmitted_raw(b"SIP/2.0 400 Bad Request\r\nVia: x\r\n\r\n");
        m.transmitted_raw(b"garbage");
        m.msrp_sent(b"MSRP a1b2 SEND\r\nTo-Path: msrp://x\r\n");
        m.msrp_sent(b"MSRP a1b2 200 OK\r\nTo-Path: msrp://x\r\n");
        m.refused("store_overloaded");
        m.store_answered(false, "ok", Duration::from_millis(3));
        m.store_batch(3);
        m.publish(Gauges {
            bindings: 2,
            one_to_one: 1,
            ..Gauges::default()
        });
        let text = m.encode();
        for line in [
            "cpmd_sip_responses_sent_total{method=\"unknown\",code=\"400\"} 1",
            "cpmd_msrp_sends_total 1",
            "cpmd_refusals_total{reason=\"store_overloaded\"} 1",
            "cpmd_store_answers_total{job=\"record\",result=\"ok\"} 1",
            "cpmd_store_latency_seconds_count 1",
            "cpmd_store_batch_size_count 1",
            "cpmd_store_batch_size_sum 3.0",
            "cpmd_registrations 2",
            "cpmd_sessions{kind=\"1-to-1\"} 1",
            "cpmd_sessions{kind=\"group\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
