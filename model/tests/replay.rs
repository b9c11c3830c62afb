//! Replays of recorded runtime traces through the real core (`cpmd_model::replay`).
//!
//! `traces/claim_udp_session_replaces.jsonl` was recorded by running the e2e test
//! `claim_udp_session_replaces` (tests/tests/claim.rs) with `--trace-input`: B and C
//! register, A sets up a 1-to-1 with B, extends it to a group with `Session-Replaces`,
//! B and C join, B sends BYE on the 1-to-1, cpmd relays it to A and seals. Its
//! `start` line holds the recorded configuration, the seed (token key) included.

use cpmd_core::server::{Config, Event, SessionType, Transport};
use cpmd_model::replay::{replay, Input, ReplayOutcome, Trace};

const CONVERSATION: &str = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
const ONE_TO_ONE: &str = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
const GROUP: &str = "5d9e0c2a-7b1f-4e3a-9c8d-2f6a1b0e4d77";

fn claim_trace() -> Trace {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("traces/claim_udp_session_replaces.jsonl");
    Trace::load(&path).expect("fixture trace")
}

/// The recorded run's configuration, from the trace's `start` line.
fn config_for(trace: &Trace) -> Config {
    trace.config().expect("the fixture has a start line")
}

fn no_dropped(out: &ReplayOutcome) {
    let dropped: Vec<&Event> = out
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Dropped { .. }))
        .collect();
    assert!(dropped.is_empty(), "{dropped:?}\n{}", out.chart());
}

#[test]
fn replay_claim_trace() {
    let trace = claim_trace();
    assert_eq!(trace.len(), 14);
    let out = replay(config_for(&trace), &trace);
    let chart = out.chart();
    assert_eq!(out.consumed, trace.len());
    no_dropped(&out);

    // The group's session info: the 1-to-1's Conversation-ID, a new Contribution-ID.
    let group_infos: Vec<_> = out
        .persisted()
        .into_iter()
        .filter_map(|r| r.session_info())
        .filter(|i| i.session_type == SessionType::AdHoc)
        .collect();
    assert_eq!(group_infos.len(), 1, "{chart}");
    let info = group_infos[0];
    assert_eq!(info.key.conversation_id.as_str(), CONVERSATION, "{chart}");
    assert_ne!(info.key.contribution_id.as_str(), ONE_TO_ONE, "{chart}");
    assert_eq!(info.key.contribution_id.as_str(), GROUP, "{chart}");
    assert_eq!(info.from.as_str(), "sip:alice@example.com");

    // Exactly one history object, the 1-to-1's.
    let sealed = out.sealed();
    assert_eq!(sealed.len(), 1, "{chart}");
    let (seal_step, history) = sealed[0];
    assert_eq!(history.info.key.contribution_id.as_str(), ONE_TO_ONE);
    assert_eq!(history.info.key.conversation_id.as_str(), CONVERSATION);
    assert_eq!(history.info.session_type, SessionType::OneToOne);
    assert!(history.messages.is_empty());

    // B (the sender of the BYE) got exactly one 200 to it, after the seal.
    let b_flow = trace
        .entries
        .iter()
        .find_map(|e| match &e.input {
            Input::Bytes { flow, bytes } => bytes.starts_with(b"BYE ").then_some(*flow),
            Input::Closed { .. } | Input::RemoteBinding(_) => None,
        })
        .expect("B's BYE in the trace");
    assert_eq!(b_flow.transport, Transport::Udp);
    let oks: Vec<_> = out
        .transmits()
        .into_iter()
        .filter(|s| s.flow == b_flow && s.cseq_method == Some("BYE") && s.status() == Some(200))
        .collect();
    assert_eq!(oks.len(), 1, "{chart}");
    assert!(oks[0].step > seal_step, "200 before the seal:\n{chart}");
    // And A got the relayed BYE.
    assert!(
        out.transmits()
            .iter()
            .any(|s| s.flow != b_flow && s.method() == Some("BYE")),
        "{chart}"
    );
}

/// A small deterministic generator (SplitMix64) for the corruption test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn replay_corrupted_claim_trace_does_not_panic() {
    let clean = claim_trace();
    let config = config_for(&clean);
    let mut rng = Rng(0x00C0_FFEE);
    for _ in 0..200 {
        let mut trace = clean.clone();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(trace.len());
            if let Input::Bytes { bytes, .. } = &mut trace.entries[i].input {
                if !bytes.is_empty() {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 + (rng.next() % 255) as u8;
                }
            }
        }
        let out = replay(config.clone(), &trace);
        assert_eq!(out.consumed, trace.len());
    }
}

/// Why the seed is recorded: under another token key the peers' answers quote
/// branches and tags the replayed server never minted, so the flow stops at the
/// first response (no group, no seal, B's BYE gets a 481).
#[test]
fn replay_claim_trace_under_another_seed_diverges() {
    let trace = claim_trace();
    let mut config = config_for(&trace);
    config.seed.key[0] ^= 1;
    let out = replay(config, &trace);
    assert_eq!(out.consumed, trace.len());
    assert!(out.sealed().is_empty());
    assert!(out
        .transmits()
        .iter()
        .any(|s| s.cseq_method == Some("BYE") && s.status() == Some(481)));
}
