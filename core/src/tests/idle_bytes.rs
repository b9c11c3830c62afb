//! The core's bytes per established, idle 1-to-1 session (issue 15's memory floor,
//! ≤ 4 KiB per idle session): a probe, not a test. It sets up sessions as
//! `bench/idle.sh` does (INVITE / 200 / ACK on both legs over UDP, both terminals'
//! SDP `a=setup:active`, so no MSRP connection), every message sent to the server
//! as bytes (decoded as the runtime's are), lets virtual time pass until the
//! setups' transactions stop lingering (64·T1), and prints the growth of the live
//! heap (`counting_alloc.rs`) per session, then where it goes: the server's state
//! dropped part by part (`Server::dismantle`), each part's bytes per session held.
//! Run it alone, so no other test allocates meanwhile:
//!
//! ```sh
//! cargo test -p cpmd-core --lib idle_bytes -- --ignored --nocapture
//! ```

use super::counting_alloc::{live_allocations, live_bytes};
use super::util::*;
use crate::ids::{ContributionId, ConversationId, Tag};
use crate::server::Transport;
use crate::sip::{MediaType, Method, SipMessage, StatusCode};
use crate::wire::encode_message;

/// Sessions per phase (warm-up, then measured).
const SESSIONS: usize = 400;

/// Sends `msg` to the server as bytes, the way the runtime hands them over.
fn send_encoded(h: &mut Harness, ua: &Ua, msg: impl Into<SipMessage>) {
    let bytes = encode_message(&msg.into());
    h.send_bytes(ua, &bytes);
}

/// Forgets what the harness observed (its logs and inboxes), so the live heap is
/// the server's.
fn forget_observations(h: &mut Harness) {
    h.inboxes = Default::default();
    h.log = Vec::new();
    h.sent_flows = Vec::new();
    h.stored = Vec::new();
    h.stored_log = Vec::new();
    h.sealed = Vec::new();
    h.bookkeeping = Vec::new();
    h.ended = Vec::new();
}

/// One session A → B set up and left idle: INVITE, 200, ACK on both legs.
fn establish_idle(h: &mut Harness, a: &mut Ua, b: &Ua, n: usize) {
    let to = sip_uri(&b.name, DOMAIN);
    let mut invite = a.request(Method::Invite, to.clone(), to);
    invite.headers.conversation_id = Some(ConversationId::new(format!("conv-4711-{n}")));
    invite.headers.contribution_id = Some(ContributionId::new(format!("contrib-4711-{n}")));
    invite
        .headers
        .accept_contact
        .push("*;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"".into());
    let invite = with_sdp(invite, &msrp_sdp("10.0.0.1", 7001, &format!("a{n}")));
    send_encoded(h, a, invite.clone());
    let b_invite = h.expect_request(b, Method::Invite);
    let b_tag = Tag::new(format!("4711i{n}"));
    let mut ok = b.response(&b_invite, StatusCode::OK, &b_tag);
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    ok.body = msrp_sdp("10.0.0.2", 7002, &format!("b{n}")).into_bytes();
    send_encoded(h, b, ok);
    let _b_ack = h.expect_request(b, Method::Ack);
    let a_ok = h.expect_response(a, StatusCode::OK);
    let dialog = UaDialog::caller(&invite, &a_ok);
    let ack = a.ack(&dialog, invite.headers.cseq.seq);
    send_encoded(h, a, ack);
}

/// Prints the core's live heap growth per established idle 1-to-1 session, after
/// as many warm-up sessions (so the tables are past their first growth) and 40 s
/// of virtual time. Ignored: a figure to read (README, Performance), not a check.
#[test]
#[ignore = "a probe: prints bytes per idle session; run alone with --ignored --nocapture"]
fn idle_bytes_per_established_one_to_one() {
    let mut h = Harness::new();
    let mut a = Ua::new("alice", 1, Transport::Udp);
    let mut b = Ua::new("bob", 2, Transport::Udp);
    h.register(&mut a);
    h.register(&mut b);
    for n in 0..SESSIONS {
        establish_idle(&mut h, &mut a, &b, n);
    }
    h.advance(40_000);
    forget_observations(&mut h);
    let before = live_bytes();
    let allocations_before = live_allocations();
    for n in SESSIONS..2 * SESSIONS {
        establish_idle(&mut h, &mut a, &b, n);
    }
    h.advance(40_000);
    forget_observations(&mut h);
    let after = live_bytes();
    let allocations = (live_allocations() as f64 - allocations_before as f64) / SESSIONS as f64;
    let per_session = (after as f64 - before as f64) / SESSIONS as f64;
    println!(
        "idle_bytes: {SESSIONS} established idle 1-to-1 sessions: {per_session:.0} bytes each \
         in {allocations:.1} live allocations (live heap {before} -> {after})"
    );
    assert!(after > before, "the sessions are held");
    // Where it goes: every part of the server's state dropped in turn, over all
    // 2 × SESSIONS sessions it holds (the warm-up ones are idle too).
    let held = (2 * SESSIONS) as f64;
    let parts = h.server.dismantle(&live_bytes);
    for (part, bytes) in &parts {
        println!("idle_bytes:   {:>7.0} B  {part}", *bytes as f64 / held);
    }
    let total: i64 = parts.iter().map(|(_, b)| b).sum();
    println!(
        "idle_bytes:   {:>7.0} B  all parts (per session held)",
        total as f64 / held
    );
    println!(
        "idle_bytes: inline sizes: {}",
        crate::server::inline_sizes()
    );
    // The same parts again on a second server, counted in live allocations (each
    // allocation costs the allocator's rounding on top of its bytes).
    let mut h2 = Harness::new();
    let mut a2 = Ua::new("alice", 1, Transport::Udp);
    let mut b2 = Ua::new("bob", 2, Transport::Udp);
    h2.register(&mut a2);
    h2.register(&mut b2);
    for n in 0..2 * SESSIONS {
        establish_idle(&mut h2, &mut a2, &b2, n);
    }
    h2.advance(40_000);
    forget_observations(&mut h2);
    for (part, allocations) in h2.server.dismantle(&live_allocations) {
        println!(
            "idle_bytes:   {:>7.2} allocations  {part}",
            allocations as f64 / held
        );
    }
    drop((h2, a2, b2));
    let left = live_bytes();
    drop(h);
    let harness = live_bytes();
    drop((a, b));
    println!(
        "idle_bytes: then the rest of the harness {:.0} B, the test's UAs {:.0} B per session",
        (left as f64 - harness as f64) / held,
        (harness as f64 - live_bytes() as f64) / held
    );
}
