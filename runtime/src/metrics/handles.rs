//! The event loop's own handles on the labelled counters it bumps per message
//! and per session: a label's counter is looked up in its family once and kept
//! (a `Counter` is a shared atomic, so the exposition sees every bump).
//! `Family::get_or_create` takes a read lock and hashes the label with SipHash,
//! about 300 instructions per SIP message sent, per store answer and per ended
//! session (bench/README.md "Session 10: the loop").
//!
//! Not here: the metrics themselves and their exposition (`metrics/mod.rs`);
//! counters bumped rarely, which go through [`Metrics`] directly.

use std::hash::Hash;
use std::time::Duration;

use cpmd_core::server::{Event, SessionEnd};
use cpmd_core::sip::SipMessage;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::{end_label, sent_label, EndLabel, Metrics, Sent, StoreLabel};
use super::{MethodLabel, ResponseLabel};

/// Most labels one family keeps handles for: beyond (a peer relaying odd
/// response codes), the family is asked each time, so a lookup stays short.
const MOST_HANDLES: usize = 64;

/// The handles on one family's counters, by label.
#[derive(Debug)]
struct Handles<L> {
    family: Family<L, Counter>,
    known: Vec<(L, Counter)>,
}

impl<L: Clone + Eq + Hash + EncodeLabelSet + std::fmt::Debug> Handles<L> {
    fn new(family: &Family<L, Counter>) -> Self {
        Self {
            family: family.clone(),
            known: Vec::new(),
        }
    }

    fn inc(&mut self, label: L) {
        if let Some((_, c)) = self.known.iter().find(|(l, _)| *l == label) {
            c.inc();
            return;
        }
        let counter = self.family.get_or_create(&label).clone();
        counter.inc();
        if self.known.len() < MOST_HANDLES {
            self.known.push((label, counter));
        }
    }
}

/// The counters the event loop bumps on its hot path.
#[derive(Debug)]
pub struct LoopCounters {
    requests: Handles<MethodLabel>,
    responses: Handles<ResponseLabel>,
    ended: Handles<EndLabel>,
    answers: Handles<StoreLabel>,
}

impl LoopCounters {
    /// Handles on `metrics`' families.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            requests: Handles::new(&metrics.sip_requests_sent),
            responses: Handles::new(&metrics.sip_responses_sent),
            ended: Handles::new(&metrics.sessions_ended),
            answers: Handles::new(&metrics.store_answers),
        }
    }

    /// A SIP message cpmd transmits ([`Metrics::transmitted`]).
    pub fn transmitted(&mut self, message: &SipMessage) {
        match sent_label(message) {
            Sent::Request(label) => self.requests.inc(label),
            Sent::Response(label) => self.responses.inc(label),
        }
    }

    /// An event of the core ([`Metrics::event`]).
    pub fn event(&mut self, metrics: &Metrics, ev: &Event) {
        if let Event::SessionEnded(end) = ev {
            self.session_ended(end);
        } else {
            metrics.event(ev);
        }
    }

    fn session_ended(&mut self, end: &SessionEnd) {
        self.ended.inc(end_label(end));
    }

    /// A store answer ([`Metrics::store_answered`]).
    pub fn store_answered(
        &mut self,
        metrics: &Metrics,
        seal: bool,
        result: &'static str,
        took: Duration,
    ) {
        self.answers.inc(StoreLabel::new(seal, result));
        metrics.store_latency.observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition_line(m: &Metrics, prefix: &str) -> Option<String> {
        m.encode()
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    }

    #[test]
    fn the_handles_count_into_the_exported_families() {
        let m = Metrics::new();
        let mut c = LoopCounters::new(&m);
        let text = "INVITE sip:bob@example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
            Max-Forwards: 70\r\n\
            From: <sip:alice@example.com>;tag=a\r\n\
            To: <sip:bob@example.com>\r\n\
            Call-ID: c1\r\n\
            CSeq: 1 INVITE\r\n\
            Contact: <sip:alice@127.0.0.1:5070>\r\n\
            Content-Length: 0\r\n\r\n";
        let invite =
            cpmd_core::wire::decode_datagram(text.as_bytes(), &cpmd_core::wire::Limits::default())
                .unwrap();
        for _ in 0..3 {
            c.transmitted(&invite);
        }
        m.transmitted(&invite);
        c.store_answered(&m, true, "ok", Duration::from_millis(2));
        c.store_answered(&m, true, "ok", Duration::from_millis(2));
        assert_eq!(
            exposition_line(&m, "cpmd_sip_requests_sent_total{method=\"INVITE\"}").as_deref(),
            Some("cpmd_sip_requests_sent_total{method=\"INVITE\"} 4")
        );
        assert_eq!(
            exposition_line(&m, "cpmd_store_answers_total{job=\"seal\",result=\"ok\"}").as_deref(),
            Some("cpmd_store_answers_total{job=\"seal\",result=\"ok\"} 2")
        );
        assert_eq!(
            exposition_line(&m, "cpmd_store_latency_seconds_count").as_deref(),
            Some("cpmd_store_latency_seconds_count 2")
        );
    }

    #[test]
    fn past_the_handle_cap_a_label_is_still_counted() {
        let m = Metrics::new();
        let mut h = Handles::new(&m.sip_responses_sent);
        for code in 100..(100 + u16::try_from(MOST_HANDLES).unwrap() + 10) {
            h.inc(ResponseLabel {
                method: "INVITE",
                code,
            });
        }
        h.inc(ResponseLabel {
            method: "INVITE",
            code: 100 + u16::try_from(MOST_HANDLES).unwrap() + 5,
        });
        assert_eq!(h.known.len(), MOST_HANDLES);
        let line = format!(
            "cpmd_sip_responses_sent_total{{method=\"INVITE\",code=\"{}\"}} 2",
            100 + MOST_HANDLES + 5
        );
        assert!(m.encode().lines().any(|l| l == line), "{line}");
    }
}
