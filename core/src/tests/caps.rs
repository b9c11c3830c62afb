//! The core's table caps under attack (specs/limits.md, LIM-11..LIM-14): each test
//! fills one table the way a hostile peer would and checks the defined answer.

use super::flows::*;
use super::util::*;
use crate::ids::{ContributionId, MessageId};
use crate::server::{ChatFailure, ChatOutcome, Config, MsrpRefusal, StoreError, Transport};
use crate::sip::{Method, Response, StatusCode};

fn retry_after(resp: &Response) -> Option<&str> {
    resp.headers
        .other
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Retry-After"))
        .map(|(_, v)| v.as_str())
}

fn outcomes(w: &World, ua: &Ua) -> Vec<(MessageId, ChatOutcome)> {
    w.h.chat_results
        .get(&ua.user())
        .cloned()
        .unwrap_or_default()
}

/// LIM-11: a flood of new requests fills the transaction table (UDP transactions
/// linger 64·T1); beyond the cap each new request is answered 503 with
/// `Retry-After` and enters no table, a retransmission of an admitted request
/// still gets its own answer, and once the lingering transactions end requests
/// pass again.
#[test]
fn lim_11_a_full_transaction_table_answers_503_with_retry_after() {
    let mut config = Config::new(DOMAIN);
    config.caps.max_transactions = 8;
    config.caps.retry_after_s = 7;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let mut eve = Ua::new("eve", 66, Transport::Udp);
    let mut admitted = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        let req = eve.request(Method::Options, sip_uri_host(DOMAIN), sip_uri_host(DOMAIN));
        w.h.send(&eve, req.clone());
        let Some(crate::sip::SipMessage::Response(resp)) = w.h.next(&eve) else {
            panic!("every OPTIONS is answered");
        };
        if resp.status == StatusCode::OK {
            admitted.push(req);
        } else {
            assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(resp.reason, "Server overloaded");
            assert_eq!(retry_after(&resp), Some("7"));
            assert!(resp.headers.to.tag().is_some());
            refused += 1;
        }
    }
    // Three REGISTERs of the World linger too: 8 - 3 admitted.
    assert_eq!((admitted.len(), refused), (5, 35));
    // A retransmission of an admitted request is absorbed and answered 200 again.
    w.h.send(&eve, admitted[0].clone());
    w.h.expect_response(&eve, StatusCode::OK);
    // Timer J (64·T1) ends the lingering transactions: room again.
    w.h.advance(32_001);
    let req = eve.request(Method::Options, sip_uri_host(DOMAIN), sip_uri_host(DOMAIN));
    w.h.send(&eve, req);
    w.h.expect_response(&eve, StatusCode::OK);
}

/// LIM-12: beyond `max_sessions` a new INVITE is answered 503 with `Retry-After`;
/// the session in place is not affected.
#[test]
fn lim_12_a_full_session_table_answers_503() {
    let mut config = Config::new(DOMAIN);
    config.caps.max_sessions = 1;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let call = establish(&mut w);
    let second = invite_to(&mut w, "carol", &call.conversation, "another-contribution");
    w.h.send(&w.a, second);
    let refused = w.h.expect_response(&w.a, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&refused), Some("5"));
    w.h.expect_nothing(&w.c);
    w.h.chat(&w.a, &call.contribution, "m1", "still here");
    assert_eq!(w.h.delivered[&w.b.user()].len(), 1);
}

/// LIM-13: a session with `max_pending_per_session` messages waiting for the store
/// refuses one more (SessionBusy: MSRP 413) and takes messages again once the store
/// answered; a session that took `max_messages_per_session` refuses every new one
/// (SessionFull: MSRP 413), while a repeat of a delivered one is still accepted
/// (MSG-6).
#[test]
fn lim_13_pending_and_seen_lists_are_capped() {
    let mut config = Config::new(DOMAIN);
    config.caps.max_pending_per_session = 2;
    config.caps.max_messages_per_session = 3;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    for id in ["m1", "m2", "m3"] {
        w.h.chat(&w.a, &call.contribution, id, "x");
    }
    assert_eq!(w.h.store_queue.len(), 2, "m3 never reached the store");
    assert_eq!(
        outcomes(&w, &w.a),
        [(
            MessageId::new("m3"),
            ChatOutcome::Failed(ChatFailure::SessionBusy)
        )]
    );
    w.h.store_answer(true);
    w.h.store_answer(true);
    w.h.chat(&w.a, &call.contribution, "m3", "x");
    w.h.store_answer(true);
    w.h.chat(&w.a, &call.contribution, "m4", "x");
    w.h.chat(&w.a, &call.contribution, "m1", "x");
    let last: Vec<_> = outcomes(&w, &w.a).into_iter().skip(4).collect();
    assert_eq!(
        last,
        [
            (
                MessageId::new("m4"),
                ChatOutcome::Failed(ChatFailure::SessionFull)
            ),
            (MessageId::new("m1"), ChatOutcome::Accepted),
        ]
    );
    assert!(w.h.store_queue.is_empty());
    assert_eq!(w.h.delivered[&w.b.user()].len(), 3);
    assert_eq!(MsrpRefusal::SessionBusy.status(), 413);
    assert_eq!(MsrpRefusal::SessionFull.status(), 413);
}

/// LIM-14: the store refuses a record of a sender over quota with the typed
/// `OverQuota`; the chat sender gets `OverQuota` (MSRP 413) and nothing is
/// delivered, a pager MESSAGE's sender 403 "Quota exceeded" and nothing relayed.
#[test]
fn lim_14_a_sender_over_quota_is_refused_through_the_store_answer() {
    let over = || {
        Err(StoreError::OverQuota {
            user: "sip:alice@example.com".into(),
        })
    };
    let mut w = World::new();
    let call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    w.h.chat(&w.a, &call.contribution, "q1", "x");
    let (ticket, _) = w.h.store_queue.pop_front().expect("a Persist");
    w.h.server.handle_store_result(w.h.now, ticket, over());
    w.h.drain();
    assert_eq!(
        outcomes(&w, &w.a),
        [(
            MessageId::new("q1"),
            ChatOutcome::Failed(ChatFailure::OverQuota)
        )]
    );
    assert!(!w.h.delivered.contains_key(&w.b.user()));
    assert_eq!(MsrpRefusal::OverQuota.status(), 413);

    let mut msg = w.a.request(Method::Message, w.b.uri(), w.b.uri());
    msg.headers.content_type = Some(crate::sip::MediaType::new("text", "plain"));
    msg.body = b"hello".to_vec();
    msg.headers.contribution_id = Some(ContributionId::new("pager-q"));
    w.h.send(&w.a, msg);
    let (ticket, _) = w.h.store_queue.pop_front().expect("a Persist");
    w.h.server.handle_store_result(w.h.now, ticket, over());
    w.h.drain();
    let refused = w.h.expect_response(&w.a, StatusCode::FORBIDDEN);
    assert_eq!(refused.reason, "Quota exceeded");
    w.h.expect_nothing(&w.b);
}
