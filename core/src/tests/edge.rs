//! Edge cases of the claim flow and the 1-to-1 session, each citing its invariant.

use super::flows::*;
use super::util::*;
use crate::ids::{ContributionId, MessageId, Tag};
use crate::server::{ChatFailure, ChatOutcome, Config, Mutation, Transport};
use crate::sip::{Method, Replaces, Request, StatusCode};
use crate::uri::UserUri;

/// A terminal's 200 to a request it received (To as received: the server's tag).
fn answer(ua: &Ua, req: &Request, status: StatusCode) -> crate::sip::Response {
    let mut resp = ua.response(req, status, &Tag::new("x"));
    resp.headers.to = req.headers.to.clone();
    resp
}

fn outcomes(w: &World, ua: &Ua) -> Vec<(MessageId, ChatOutcome)> {
    w.h.chat_results
        .get(&ua.user())
        .cloned()
        .unwrap_or_default()
}

/// TERM-4: A and B both send BYE: both answered, exactly one history object.
#[test]
fn bye_glare_ends_in_exactly_one_history_object() {
    let mut w = World::new();
    let mut call = establish(&mut w);
    let b_bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, b_bye);
    let relayed = w.h.expect_request(&w.a, Method::Bye);
    let a_bye = w.a.in_dialog(&mut call.a_dialog, Method::Bye);
    w.h.send(&w.a, a_bye);
    w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(w.h.sealed.len(), 1, "A's own BYE completes the handshake");
    // A's late answer to the relayed BYE changes nothing.
    w.h.send(
        &w.a,
        answer(&w.a, &relayed, StatusCode::CALL_DOES_NOT_EXIST),
    );
    w.h.expect_response(&w.b, StatusCode::OK);
    w.h.advance(40_000);
    assert_eq!(w.h.sealed.len(), 1);
    assert_eq!(w.h.server.session_count(), 0);
}

/// TERM-3: B joined the group but never sends its BYE: after 32 s the server ends
/// the 1-to-1 itself and seals it once.
#[test]
fn missing_bye_from_b_ends_the_replaced_session_after_the_timer() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    join_group(&mut w, &ext);
    w.h.advance(31_000);
    w.h.expect_nothing(&w.a);
    w.h.advance(1_000);
    let a_bye = w.h.expect_request(&w.a, Method::Bye);
    let b_bye = w.h.expect_request(&w.b, Method::Bye);
    assert_eq!(a_bye.headers.call_id, ext.call.a_dialog.call_id);
    assert_eq!(b_bye.headers.call_id, ext.call.b_dialog.call_id);
    w.h.send(&w.a, answer(&w.a, &a_bye, StatusCode::OK));
    assert!(w.h.sealed.is_empty(), "waits for both answers");
    w.h.send(&w.b, answer(&w.b, &b_bye, StatusCode::OK));
    assert_eq!(w.h.sealed.len(), 1);
    assert_eq!(
        w.h.sealed[0].info.key.contribution_id,
        ext.call.contribution
    );
}

/// TERM-2: A never answers the relayed BYE: the server seals and answers B after
/// bye_wait (8 s), well before B's own transaction timeout (32 s).
#[test]
fn silent_a_is_given_up_on_after_bye_wait() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    join_group(&mut w, &ext);
    let mut call = ext.call;
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_request(&w.a, Method::Bye);
    w.h.advance(7_900);
    assert!(w.h.sealed.is_empty());
    w.h.expect_nothing(&w.b);
    w.h.advance(100);
    assert_eq!(w.h.sealed.len(), 1);
    w.h.expect_response(&w.b, StatusCode::OK);
}

/// EXT-8 and MSG-4: during the switch messages on the old session are delivered and
/// recorded while the recipient's leg is open; afterwards they fail, never vanish.
#[test]
fn switch_window_messages_are_delivered_then_refused_once_the_leg_closes() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    join_group(&mut w, &ext);
    let mut call = ext.call;
    w.h.chat(&w.a, &call.contribution, "late-1", "still on 1-1");
    w.h.chat(&w.b, &call.contribution, "late-2", "me too");
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.chat(&w.a, &call.contribution, "late-3", "after B's BYE");
    assert_eq!(
        outcomes(&w, &w.a).last(),
        Some(&(
            MessageId::new("late-3"),
            ChatOutcome::Failed(ChatFailure::RecipientGone)
        ))
    );
    let a_bye = w.h.expect_request(&w.a, Method::Bye);
    w.h.send(&w.a, answer(&w.a, &a_bye, StatusCode::OK));
    assert_eq!(
        w.h.sealed[0].messages,
        vec![1, 2],
        "HIST-3: both switch-window messages, in order"
    );
    assert_eq!(w.h.delivered[&w.b.user()].len(), 1);
    assert_eq!(w.h.delivered[&w.a.user()].len(), 1);
}

/// TERM-5: B's BYE waits for a message of B still waiting for the store, so the
/// message reaches A before the BYE.
#[test]
fn bye_relay_never_overtakes_a_message_waiting_for_the_store() {
    let mut w = World::new();
    let mut call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    w.h.chat(&w.b, &call.contribution, "m1", "last words");
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_nothing(&w.a);
    w.h.store_answer(true);
    assert_eq!(w.h.delivered[&w.a.user()].len(), 1);
    let a_bye = w.h.expect_request(&w.a, Method::Bye);
    assert!(w.h.log_index("deliver m1") < w.h.log_index("server -> 10.0.0.1:5060: BYE"));
    w.h.send(&w.a, answer(&w.a, &a_bye, StatusCode::OK));
    w.h.store_answer(true); // the seal
    assert_eq!(w.h.sealed[0].messages, vec![1]);
    w.h.expect_response(&w.b, StatusCode::OK);
}

/// MSG-2: the store may answer out of order; delivery stays in sequence order.
#[test]
fn out_of_order_store_answers_keep_per_sender_fifo() {
    let mut w = World::new();
    let call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    for i in 1..=3 {
        w.h.chat(&w.a, &call.contribution, &format!("m{i}"), "x");
    }
    // Answer the third first, then the second, then the first.
    let q: Vec<_> = w.h.store_queue.drain(..).collect();
    for (ticket, _) in q.iter().rev() {
        w.h.server.handle_store_result(w.h.now, *ticket, Ok(()));
        if *ticket != q[0].0 {
            w.h.drain();
            assert!(
                !w.h.delivered.contains_key(&w.b.user()),
                "nothing overtakes m1"
            );
        }
    }
    w.h.drain();
    let ids: Vec<_> = w.h.delivered[&w.b.user()]
        .iter()
        .map(|m| m.message_id.clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            MessageId::new("m1"),
            MessageId::new("m2"),
            MessageId::new("m3")
        ]
    );
}

/// MSG-3: a store failure gives the sender a failure and delivers nothing.
#[test]
fn store_failure_is_reported_to_the_sender_and_nothing_is_delivered() {
    let mut w = World::new();
    let call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    w.h.chat(&w.a, &call.contribution, "m1", "x");
    w.h.store_answer(false);
    assert_eq!(
        outcomes(&w, &w.a),
        vec![(
            MessageId::new("m1"),
            ChatOutcome::Failed(ChatFailure::StoreFailed)
        )]
    );
    assert!(!w.h.delivered.contains_key(&w.b.user()));
}

/// The mutation the model uses for MSG-1 really acknowledges before the store.
#[test]
fn ack_before_store_mutation_breaks_msg1() {
    let mut config = Config::new(DOMAIN);
    config.mutation = Mutation::AckBeforeStore;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    w.h.chat(&w.a, &call.contribution, "m1", "x");
    assert_eq!(
        outcomes(&w, &w.a).len(),
        1,
        "acknowledged with the store still silent"
    );
}

/// EXT-2: a registered user who is not a party, knowing every ID, cannot replace
/// the session; nor can someone forging A's From from another address.
#[test]
fn only_a_party_can_replace_the_session() {
    let mut w = World::new();
    let call = establish(&mut w);
    let mut mallory = Ua::new("mallory", 9, Transport::Udp);
    w.h.register(&mut mallory);
    let mut attack = extension_invite(&mut w, &call, ReplaceForm::Rfc3891);
    let mut m = mallory.request(
        Method::Invite,
        attack.uri.clone(),
        attack.headers.to.uri.clone(),
    );
    m.headers.require = attack.headers.require.clone();
    m.headers.replaces = attack.headers.replaces.clone();
    m.headers.session_replaces = Some(call.contribution.clone());
    m.headers.conversation_id = attack.headers.conversation_id.clone();
    m.headers.contribution_id = Some(ContributionId::new("evil"));
    m.headers.content_type = attack.headers.content_type.clone();
    m.body = attack.body.clone();
    w.h.send(&mallory, m);
    w.h.expect_response(&mallory, StatusCode::FORBIDDEN);
    // Forged From: A's identity, Mallory's address.
    attack.headers.via[0].host = crate::uri::Host::V4([10, 0, 0, 9].into());
    w.h.send(&mallory, attack);
    w.h.expect_response(&mallory, StatusCode::FORBIDDEN);
    w.h.expect_nothing(&w.b);
    w.h.expect_nothing(&w.c);
}

/// EXT-7: RFC 3891 answers.
#[test]
fn rfc3891_error_codes() {
    let mut w = World::new();
    let call = establish(&mut w);
    let good = Replaces {
        call_id: call.a_dialog.call_id.clone(),
        to_tag: call.a_dialog.remote_tag(),
        from_tag: call.a_dialog.local_tag(),
        early_only: false,
    };
    let cases = [
        (vec![good.clone(), good.clone()], StatusCode::BAD_REQUEST),
        (
            vec![Replaces {
                to_tag: Tag::new("nope"),
                ..good.clone()
            }],
            StatusCode::CALL_DOES_NOT_EXIST,
        ),
        (
            vec![Replaces {
                early_only: true,
                ..good.clone()
            }],
            StatusCode::BUSY_HERE,
        ),
    ];
    for (replaces, status) in cases {
        let mut req = extension_invite(&mut w, &call, ReplaceForm::Rfc3891);
        req.headers.replaces = replaces;
        w.h.send(&w.a, req);
        w.h.expect_response(&w.a, status);
    }
    // 603 once the dialog is ending.
    let mut call = call;
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    let mut req = extension_invite(&mut w, &call, ReplaceForm::Rfc3891);
    req.headers.replaces = vec![good];
    w.h.send(&w.a, req);
    w.h.expect_request(&w.a, Method::Bye);
    w.h.expect_response(&w.a, StatusCode::DECLINE);
}

/// EXT-3: a different Conversation-ID or the replaced session's Contribution-ID is
/// refused.
#[test]
fn group_must_keep_the_conversation_and_get_a_new_contribution() {
    let mut w = World::new();
    let call = establish(&mut w);
    let mut req = extension_invite(&mut w, &call, ReplaceForm::SessionReplaces);
    req.headers.conversation_id = Some(conversation("another-conversation"));
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::BAD_REQUEST);
    let mut req = extension_invite(&mut w, &call, ReplaceForm::SessionReplaces);
    req.headers.contribution_id = Some(call.contribution.clone());
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::BAD_REQUEST);
}

/// EXT-5: if the group's info cannot be stored, A gets 500 and nobody is invited.
#[test]
fn group_info_store_failure_answers_500_and_invites_nobody() {
    let mut w = World::new();
    let call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    let req = extension_invite(&mut w, &call, ReplaceForm::SessionReplaces);
    w.h.send(&w.a, req);
    w.h.expect_nothing(&w.a);
    w.h.store_answer(false);
    w.h.expect_response(&w.a, StatusCode::SERVER_INTERNAL_ERROR);
    w.h.expect_nothing(&w.b);
    w.h.expect_nothing(&w.c);
    // The group that never was ends as failed; the 1-to-1 goes on.
    let ended: Vec<_> = w.h.ended.iter().map(|e| (e.kind, e.outcome)).collect();
    assert_eq!(
        ended,
        [(
            crate::record::SessionType::AdHoc,
            crate::server::SessionOutcome::Failed
        )]
    );
    assert_ne!(w.h.ended[0].key.contribution_id, call.contribution);
}

/// ONE-6: BYE for an unknown dialog gets 481.
#[test]
fn unknown_dialog_gets_481() {
    let mut w = World::new();
    let to = w.b.uri();
    let mut bye = w.a.request(Method::Bye, to.clone(), to);
    bye.headers.to.set_tag(&Tag::new("no-such-dialog"));
    w.h.send(&w.a, bye);
    w.h.expect_response(&w.a, StatusCode::CALL_DOES_NOT_EXIST);
}

/// ONE-7 (RFC 6026 bug class): a retransmitted INVITE, before and after the 2xx,
/// never creates a second transaction or dialog.
#[test]
fn retransmitted_invite_never_creates_a_second_call() {
    let mut w = World::new();
    let invite = invite_to(&mut w, "bob", "conv-r", "contrib-r");
    w.h.send(&w.a, invite.clone());
    w.h.send(&w.a, invite.clone());
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    w.h.expect_nothing(&w.b);
    let tag = Tag::new("b");
    w.h.send(&w.b, w.b.response(&b_invite, StatusCode::OK, &tag));
    w.h.expect_request(&w.b, Method::Ack);
    w.h.expect_response(&w.a, StatusCode::OK);
    w.h.send(&w.a, invite);
    w.h.expect_nothing(&w.b);
    assert_eq!(w.h.server.session_count(), 1);
    assert_eq!(w.h.server.leg_count(), 2);
}

/// ONE-4: CANCEL before B answers: 200 to the CANCEL, 487 to the INVITE, CANCEL to B.
#[test]
fn cancel_before_answer() {
    let mut w = World::new();
    let invite = invite_to(&mut w, "bob", "conv-c", "contrib-c");
    w.h.send(&w.a, invite.clone());
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    w.h.send(&w.a, crate::testing::cancel(&invite));
    let mut got: Vec<u16> = Vec::new();
    while let Some(crate::sip::SipMessage::Response(r)) = w.h.next(&w.a) {
        got.push(r.status.get());
    }
    assert_eq!(got, vec![200, 487]);
    let b_cancel = w.h.expect_request(&w.b, Method::Cancel);
    assert_eq!(b_cancel.headers.call_id, b_invite.headers.call_id);
    let tag = Tag::new("b");
    w.h.send(
        &w.b,
        w.b.response(&b_invite, StatusCode::REQUEST_TERMINATED, &tag),
    );
    w.h.expect_request(&w.b, Method::Ack);
    assert_eq!(w.h.server.session_count(), 0);
    // One end, told with its IDs and why.
    assert_eq!(w.h.ended.len(), 1, "{:?}", w.h.ended);
    let end = &w.h.ended[0];
    assert_eq!(end.key.conversation_id, conversation("conv-c"));
    assert_eq!(end.key.contribution_id.as_str(), "contrib-c");
    assert_eq!(end.kind, crate::record::SessionType::OneToOne);
    assert_eq!(end.outcome, crate::server::SessionOutcome::Cancelled);
    assert_eq!((end.replaced_by, end.messages), (None, 0));
}

/// ONE-8: bad input gets its specific answer.
#[test]
fn bad_requests_get_their_specific_answers() {
    let mut w = World::new();
    let mut req = invite_to(&mut w, "bob", "c1", "k1");
    req.headers.max_forwards = Some(0);
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::TOO_MANY_HOPS);

    let req = invite_to(&mut w, "bob", "c2", "k2");
    let tls = with_sdp(
        req,
        &msrp_sdp("10.0.0.1", 7001, "x").replace("TCP/MSRP", "TCP/TLS/MSRP"),
    );
    w.h.send(&w.a, tls);
    w.h.expect_response(&w.a, StatusCode::NOT_ACCEPTABLE_HERE);

    let mut req = invite_to(&mut w, "bob", "c3", "k3");
    req.body.clear();
    req.headers.content_type = None;
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::NOT_ACCEPTABLE_HERE);

    let req = invite_to(&mut w, "bob", "c4", "k4");
    let garbage = with_sdp(req, "this is not sdp");
    w.h.send(&w.a, garbage);
    w.h.expect_response(&w.a, StatusCode::NOT_ACCEPTABLE_HERE);

    let to = w.b.uri();
    let req =
        w.a.request(Method::Other("FROB".into()), to.clone(), to.clone());
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::NOT_IMPLEMENTED);

    let req = w.a.request(Method::Subscribe, to.clone(), to);
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::METHOD_NOT_ALLOWED);
}

/// REG-2: an INVITE from an address that registered nobody is refused.
#[test]
fn unauthenticated_invite_is_refused() {
    let mut w = World::new();
    let stranger = Ua::new("alice", 77, Transport::Udp);
    let mut s = stranger.clone();
    let to = w.b.uri();
    let req = with_sdp(
        s.request(Method::Invite, to.clone(), to),
        &msrp_sdp("10.0.0.77", 1, "s"),
    );
    w.h.send(&stranger, req);
    w.h.expect_response(&stranger, StatusCode::FORBIDDEN);
    w.h.expect_nothing(&w.b);
}

/// REG-1: a binding is used only until it expires.
#[test]
fn expired_binding_is_not_used() {
    let mut w = World::new();
    w.h.advance(3_600_000);
    let req = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, req);
    // A's own binding expired too: the server no longer knows who A is.
    w.h.expect_response(&w.a, StatusCode::FORBIDDEN);
}

/// UDP: the server retransmits its INVITE to a silent B (Timer A) and answers A 408
/// after Timer B.
#[test]
fn silent_callee_is_retransmitted_to_then_timed_out() {
    let mut w = World::new();
    let req = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, req);
    w.h.expect_request(&w.b, Method::Invite);
    w.h.advance(500);
    w.h.expect_request(&w.b, Method::Invite);
    w.h.advance(1_000);
    w.h.expect_request(&w.b, Method::Invite);
    w.h.advance(31_000);
    w.h.expect_response(&w.a, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(w.h.server.session_count(), 0);
}

/// §13.3.1.4: the 2xx to A is repeated over UDP until A's ACK.
#[test]
fn two_hundred_is_retransmitted_until_ack() {
    let mut w = World::new();
    let invite = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite.clone());
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    w.h.send(
        &w.b,
        w.b.response(&b_invite, StatusCode::OK, &Tag::new("b")),
    );
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    w.h.advance(500);
    w.h.expect_response(&w.a, StatusCode::OK);
    let d = UaDialog::caller(&invite, &ok);
    let ack = w.a.ack(&d, 1);
    w.h.send(&w.a, ack);
    w.h.advance(10_000);
    w.h.expect_nothing(&w.a);
}

/// GRP-1..GRP-4: C declines, the group goes on; group messages fan out and never
/// include the 1-to-1's; the group is sealed once when the last participant leaves.
#[test]
fn group_lives_on_after_a_decline_and_is_sealed_when_empty() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let mut call = ext.call;
    w.h.chat(&w.a, &call.contribution, "one-1", "private");
    let b_tag = Tag::new("bg");
    w.h.send(
        &w.b,
        w.b.response(&ext.b_group_invite, StatusCode::OK, &b_tag),
    );
    w.h.expect_request(&w.b, Method::Ack);
    w.h.send(
        &w.c,
        w.c.response(&ext.c_group_invite, StatusCode::DECLINE, &Tag::new("cg")),
    );
    w.h.expect_request(&w.c, Method::Ack);
    let group = ContributionId::new(GROUP_CONTRIBUTION);
    w.h.chat(&w.b, &group, "g1", "hello group");
    assert_eq!(
        w.h.delivered[&w.a.user()]
            .last()
            .map(|m| m.message_id.clone()),
        Some(MessageId::new("g1"))
    );
    assert!(
        !w.h.delivered.contains_key(&w.c.user()),
        "GRP-3: C got nothing"
    );
    // The 1-to-1 ends by B's BYE.
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    let a_bye = w.h.expect_request(&w.a, Method::Bye);
    w.h.send(&w.a, answer(&w.a, &a_bye, StatusCode::OK));
    w.h.expect_response(&w.b, StatusCode::OK);
    assert_eq!(w.h.sealed.len(), 1);
    assert_eq!(
        w.h.sealed[0].messages,
        vec![1],
        "HIST-6: the group message is not in the 1-to-1"
    );
    // Everyone leaves the group.
    let mut a_group = ext.a_group;
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let bye = w.a.in_dialog(&mut a_group, Method::Bye);
    w.h.send(&w.a, bye);
    w.h.expect_response(&w.a, StatusCode::OK);
    let bye = w.b.in_dialog(&mut b_group, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_response(&w.b, StatusCode::OK);
    assert_eq!(w.h.sealed.len(), 2);
    let g = &w.h.sealed[1];
    assert_eq!(g.info.key.contribution_id, group);
    assert_eq!(g.messages, vec![1]);
    let states: Vec<(UserUri, String)> = g
        .participants
        .iter()
        .map(|p| (p.user.clone(), p.state.clone()))
        .collect();
    assert!(states.contains(&(w.c.user(), "declined".into())));
    assert_eq!(w.h.server.session_count(), 0);
}

/// ONE-8 on bytes: an unparsable request gets a 400 built from what could be read;
/// a CSeq/method mismatch is a 400 too; garbage with no request line is dropped and
/// counted.
#[test]
fn undecodable_bytes_get_400_or_are_counted() {
    let mut w = World::new();
    let bad =
        b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\n\
From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\n\
CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    w.h.send_bytes(&w.a, bad);
    let (peer, bytes) = w.h.raw.pop().expect("a 400 was sent");
    assert_eq!(peer, w.a.addr);
    assert!(
        bytes.starts_with(b"SIP/2.0 400"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(String::from_utf8_lossy(&bytes).contains("Call-ID: c1"));
    w.h.send_bytes(&w.a, b"\x00\x01garbage");
    assert!(w.h.raw.is_empty());
    assert_eq!(w.h.server.counters().dropped, 1);
}

/// Over TCP the core frames the stream: two requests in one read, and one request
/// split across reads, each get exactly one answer.
#[test]
fn tcp_stream_is_framed_by_the_core() {
    let mut w = World::with(Harness::new(), Transport::Tcp);
    let options = |n: u32| {
        format!(
            "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKo{n}\r\n\
From: <sip:alice@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: o{n}\r\n\
CSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let two = format!("{}{}", options(1), options(2));
    w.h.send_bytes(&w.a, two.as_bytes());
    w.h.expect_response(&w.a, StatusCode::OK);
    w.h.expect_response(&w.a, StatusCode::OK);
    let third = options(3);
    let (head, tail) = third.as_bytes().split_at(40);
    w.h.send_bytes(&w.a, head);
    w.h.expect_nothing(&w.a);
    w.h.send_bytes(&w.a, tail);
    w.h.expect_response(&w.a, StatusCode::OK);
}

/// EXT-9: a 1-to-1 is replaced by at most one group: a second extension gets 603.
#[test]
fn second_extension_of_the_same_session_is_declined() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let mut again = extension_invite(&mut w, &ext.call, ReplaceForm::SessionReplaces);
    again.headers.contribution_id = Some(ContributionId::new("yet-another-group"));
    w.h.send(&w.a, again);
    w.h.expect_response(&w.a, StatusCode::DECLINE);
}

/// REG-5: a BYE with the right Call-ID and tags from another terminal's flow is
/// refused and ends nothing.
#[test]
fn in_dialog_request_from_a_foreign_flow_is_forbidden() {
    let mut w = World::new();
    let mut call = establish(&mut w);
    let mut mallory = Ua::new("mallory", 9, Transport::Udp);
    w.h.register(&mut mallory);
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&mallory, bye);
    w.h.expect_response(&mallory, StatusCode::FORBIDDEN);
    w.h.expect_nothing(&w.a);
    w.h.chat(&w.a, &call.contribution, "m1", "still up");
    assert_eq!(
        outcomes(&w, &w.a),
        vec![(MessageId::new("m1"), ChatOutcome::Accepted)]
    );
}

/// MSG-6: a message repeated with the same id is stored and delivered once; the
/// repeat gets the same answer.
#[test]
fn repeated_message_id_is_stored_and_delivered_once() {
    let mut w = World::new();
    let call = establish(&mut w);
    w.h.store_mode = StoreMode::Manual;
    w.h.chat(&w.a, &call.contribution, "m1", "once");
    w.h.chat(&w.a, &call.contribution, "m1", "once");
    assert_eq!(w.h.store_queue.len(), 1, "one Persist for both");
    w.h.store_answer(true);
    w.h.chat(&w.a, &call.contribution, "m1", "once");
    assert_eq!(w.h.delivered[&w.b.user()].len(), 1);
    assert_eq!(outcomes(&w, &w.a).len(), 3);
    assert!(outcomes(&w, &w.a)
        .iter()
        .all(|(_, o)| *o == ChatOutcome::Accepted));
    assert_eq!(w.h.stored.len(), 1);
}

/// Timer C: a callee that only rings is CANCELled after 180 s and A gets 408 (ONE-9:
/// exactly one final response).
#[test]
fn ringing_forever_is_cancelled_by_timer_c() {
    let mut w = World::new();
    let invite = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let tag = Tag::new("b");
    w.h.send(&w.b, w.b.response(&b_invite, StatusCode::RINGING, &tag));
    w.h.expect_response(&w.a, StatusCode::RINGING);
    w.h.advance(60_000);
    w.h.expect_nothing(&w.a);
    w.h.advance(120_000);
    w.h.expect_request(&w.b, Method::Cancel);
    w.h.expect_response(&w.a, StatusCode::REQUEST_TIMEOUT);
    w.h.send(
        &w.b,
        w.b.response(&b_invite, StatusCode::REQUEST_TERMINATED, &tag),
    );
    w.h.expect_request(&w.b, Method::Ack);
    w.h.expect_nothing(&w.a);
}

/// ONE-5: UPDATE, INFO and re-INVITE are relayed to the other leg and their answers
/// relayed back; the server ACKs the re-INVITE's 2xx on the other leg itself.
/// A re-INVITE's SDP is the server's own on each leg (MSRP-1).
#[test]
fn in_dialog_requests_are_relayed_both_ways() {
    let mut w = World::new();
    let mut call = establish(&mut w);
    for method in [Method::Update, Method::Info] {
        let req = w.a.in_dialog(&mut call.a_dialog, method.clone());
        w.h.send(&w.a, req);
        let at_b = w.h.expect_request(&w.b, method.clone());
        assert_eq!(at_b.headers.call_id, call.b_dialog.call_id);
        w.h.send(&w.b, answer(&w.b, &at_b, StatusCode::OK));
        let ok = w.h.expect_response(&w.a, StatusCode::OK);
        assert_eq!(ok.headers.cseq.method, method);
    }
    let reinvite = with_sdp(
        w.b.in_dialog(&mut call.b_dialog, Method::Invite),
        &msrp_sdp("10.0.0.2", 7010, "b2"),
    );
    w.h.send(&w.b, reinvite);
    let at_a = w.h.expect_request(&w.a, Method::Invite);
    // MSRP-1: the re-offer reaches A as the server's own SDP, not B's path.
    let relayed = String::from_utf8_lossy(&at_a.body);
    assert!(!relayed.contains("7010"), "{relayed}");
    assert!(
        relayed.contains("a=path:msrp://127.0.0.1:2855/"),
        "{relayed}"
    );
    w.h.send(&w.a, answer(&w.a, &at_a, StatusCode::OK));
    w.h.expect_request(&w.a, Method::Ack);
    w.h.expect_response(&w.b, StatusCode::OK);
}

/// REG-2/REG-4: a terminal's P-Asserted-Identity is ignored, and a `tel:` target
/// reaches the user registered as `sip:+1…;user=phone`.
#[test]
fn identity_is_the_authenticated_one_and_tel_targets_are_normalised() {
    let mut w = World::new();
    let mut phone = Ua::new("+15551234567", 5, Transport::Udp);
    let mut reg = phone.request(Method::Register, sip_uri_host(DOMAIN), phone.uri());
    if let crate::uri::Uri::Sip(sip) = &mut reg.headers.to.uri {
        sip.params
            .push(crate::uri::Param::new("user", Some("phone")));
    }
    w.h.send(&phone, reg);
    w.h.expect_response(&phone, StatusCode::OK);
    let tel = crate::wire::uri::parse_uri("tel:+1-555-123-4567").expect("tel uri");
    let mut req = with_sdp(
        w.a.request(Method::Invite, tel.clone(), tel),
        &msrp_sdp("10.0.0.1", 1, "a"),
    );
    req.headers.other.push((
        "P-Asserted-Identity".into(),
        "<sip:boss@example.com>".into(),
    ));
    w.h.send(&w.a, req);
    let at_phone = w.h.expect_request(&phone, Method::Invite);
    assert_eq!(
        at_phone.headers.other("P-Asserted-Identity"),
        Some(format!("<{}>", w.a.user()).as_str()),
        "the terminal's own is never relayed: the server asserts A's identity"
    );
    assert_eq!(
        UserUri::from_uri(&at_phone.headers.from.uri),
        Some(w.a.user())
    );
}

/// Parallel forking (ONE-3, ONE-9): B's two devices ring; the first 2xx wins, the
/// other device is CANCELled, A gets exactly one 200.
#[test]
fn invite_forks_to_every_device_and_the_first_answer_wins() {
    let mut w = World::new();
    let mut b2 = Ua::new("bob", 12, Transport::Udp);
    w.h.register(&mut b2);
    let invite = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite);
    let at_b1 = w.h.expect_request(&w.b, Method::Invite);
    let at_b2 = w.h.expect_request(&b2, Method::Invite);
    assert_ne!(
        at_b1.headers.call_id, at_b2.headers.call_id,
        "one leg per device"
    );
    w.h.send(&b2, b2.response(&at_b2, StatusCode::OK, &Tag::new("b2")));
    w.h.expect_request(&b2, Method::Ack);
    w.h.expect_response(&w.a, StatusCode::OK);
    let cancel = w.h.expect_request(&w.b, Method::Cancel);
    assert_eq!(cancel.headers.call_id, at_b1.headers.call_id);
    w.h.send(
        &w.b,
        w.b.response(&at_b1, StatusCode::REQUEST_TERMINATED, &Tag::new("b1")),
    );
    w.h.expect_request(&w.b, Method::Ack);
    w.h.expect_nothing(&w.a);
    assert_eq!(
        w.h.server.leg_count(),
        2,
        "A's leg and the winning device's leg"
    );
}

/// A device's 2xx that crossed the CANCEL of its fork is ACKed and ended with BYE.
#[test]
fn late_answer_of_a_losing_device_is_ended() {
    let mut w = World::new();
    let mut b2 = Ua::new("bob", 12, Transport::Udp);
    w.h.register(&mut b2);
    let invite = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite);
    let at_b1 = w.h.expect_request(&w.b, Method::Invite);
    let at_b2 = w.h.expect_request(&b2, Method::Invite);
    w.h.send(&b2, b2.response(&at_b2, StatusCode::OK, &Tag::new("b2")));
    w.h.expect_request(&w.b, Method::Cancel);
    w.h.send(&w.b, w.b.response(&at_b1, StatusCode::OK, &Tag::new("b1")));
    w.h.expect_request(&w.b, Method::Ack);
    w.h.expect_request(&w.b, Method::Bye);
}

/// Every device declines: A gets the best failure (a 6xx over a 486).
#[test]
fn every_device_declining_gives_a_the_best_failure() {
    let mut w = World::new();
    let mut b2 = Ua::new("bob", 12, Transport::Udp);
    w.h.register(&mut b2);
    let invite = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite);
    let at_b1 = w.h.expect_request(&w.b, Method::Invite);
    let at_b2 = w.h.expect_request(&b2, Method::Invite);
    w.h.send(
        &w.b,
        w.b.response(&at_b1, StatusCode::BUSY_HERE, &Tag::new("b1")),
    );
    w.h.expect_nothing(&w.a);
    w.h.send(
        &b2,
        b2.response(&at_b2, StatusCode::DECLINE, &Tag::new("b2")),
    );
    w.h.expect_response(&w.a, StatusCode::DECLINE);
    assert_eq!(w.h.server.session_count(), 0);
}

/// A terminal registered over TCP whose connection closed is reached over a new
/// connection the server opens itself (`Command::Connect`) to its Contact.
#[test]
fn closed_tcp_connection_is_reopened_with_connect() {
    let mut w = World::with(Harness::new(), Transport::Tcp);
    let old = w.b.flow();
    w.h.server.handle_closed(w.h.now, old.conn);
    let invite = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite);
    let (conn, peer) = *w.h.connects.first().expect("a Connect for B");
    assert_eq!(peer, w.b.addr, "to B's Contact");
    assert!(conn.get() >= crate::server::CORE_CONN_BASE);
    w.h.expect_request(&w.b, Method::Invite);
    let last = *w.h.sent_flows.last().expect("the INVITE was sent");
    assert_eq!(last.conn, conn, "over the new connection");
    // A second INVITE reuses it: the binding moved to the new connection.
    let invite = invite_to(&mut w, "bob", "c2", "k2");
    w.h.send(&w.a, invite);
    assert_eq!(w.h.connects.len(), 1);
}

/// RFC 3428 pager mode: a MESSAGE from an authenticated user reaches the recipient's
/// device and the answer comes back; an unauthenticated one is refused (REG-2).
#[test]
fn pager_message_is_routed_and_answered() {
    let mut w = World::new();
    let to = w.b.uri();
    let mut msg = w.a.request(Method::Message, to.clone(), to);
    msg.headers.content_type = Some(crate::sip::MediaType::new("message", "cpim"));
    msg.body = b"From: <sip:anonymous@anonymous.invalid>\r\n\r\nContent-Type: text/plain\r\n\r\nhi"
        .to_vec();
    w.h.send(&w.a, msg.clone());
    let at_b = w.h.expect_request(&w.b, Method::Message);
    assert_eq!(at_b.body, msg.body);
    assert_eq!(UserUri::from_uri(&at_b.headers.from.uri), Some(w.a.user()));
    w.h.send(
        &w.b,
        w.b.response(&at_b, StatusCode::ACCEPTED, &Tag::new("b")),
    );
    w.h.expect_response(&w.a, StatusCode::ACCEPTED);
    let mut stranger = Ua::new("alice", 66, Transport::Udp);
    let to = w.b.uri();
    let forged = stranger.request(Method::Message, to.clone(), to);
    w.h.send(&stranger, forged);
    w.h.expect_response(&stranger, StatusCode::FORBIDDEN);
    w.h.expect_nothing(&w.b);
}

/// RFC 3581: a request with `rport` gets its response with `rport=<source port>` and
/// `received=<source address>`; one whose sent-by is not its source gets `received`.
#[test]
fn responses_carry_received_and_rport() {
    let mut w = World::new();
    let to = w.b.uri();
    let mut req = w.a.request(Method::Options, to.clone(), to.clone());
    req.headers.via[0]
        .params
        .push(crate::uri::Param::new("rport", None::<String>));
    req.headers.via[0].host = crate::uri::Host::Name("alice.invalid".into());
    w.h.send(&w.a, req);
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let via = &ok.headers.via[0];
    assert_eq!(crate::uri::param_value(&via.params, "rport"), Some("5060"));
    assert_eq!(
        crate::uri::param_value(&via.params, "received"),
        Some("10.0.0.1")
    );
    let plain = w.a.request(Method::Options, to.clone(), to);
    w.h.send(&w.a, plain);
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(
        crate::uri::param_value(&ok.headers.via[0].params, "received"),
        None,
        "sent-by is the source"
    );
}

/// ONE-2 step 3: B's INVITE asserts A's authenticated identity and its Contact
/// carries the CPM feature tags RCS terminals look for.
#[test]
fn callee_invite_carries_asserted_identity_and_cpm_feature_tags() {
    let mut w = World::new();
    let call = establish(&mut w);
    let h = &call.b_invite.headers;
    assert_eq!(
        h.other("P-Asserted-Identity"),
        Some("<sip:alice@example.com>")
    );
    let contact = h.contact.first().expect("a Contact");
    assert!(contact.has_param("+g.oma.sip-im"));
    assert_eq!(
        contact.param("+g.3gpp.icsi-ref"),
        Some("\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"")
    );
}

/// The Contact of a CPM session carries the CPM feature tags (`+g.oma.sip-im` and
/// the CPM session ICSI).
fn assert_cpm_feature_tags(what: &str, contact: Option<&crate::sip::NameAddr>) {
    let contact = contact.unwrap_or_else(|| panic!("{what}: a Contact"));
    assert!(contact.has_param("+g.oma.sip-im"), "{what}: {contact:?}");
    assert_eq!(
        contact.param("+g.3gpp.icsi-ref"),
        Some("\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\""),
        "{what}"
    );
}

/// ONE-3: the answer relayed to A (A's remote target for the session) carries the
/// CPM feature tags like the INVITE to B.
#[test]
fn answer_to_the_caller_carries_cpm_feature_tags() {
    let mut w = World::new();
    let call = establish(&mut w);
    assert_cpm_feature_tags("200 to A", call.a_ok.headers.contact.first());
}

/// GRP-9: the focus's INVITEs to B and C and its 200 to A carry `isfocus` and the
/// CPM feature tags.
#[test]
fn group_contacts_carry_isfocus_and_cpm_feature_tags() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    for (what, contact) in [
        ("200 to A", ext.a_ok.headers.contact.first()),
        ("INVITE to B", ext.b_group_invite.headers.contact.first()),
        ("INVITE to C", ext.c_group_invite.headers.contact.first()),
    ] {
        assert_cpm_feature_tags(what, contact);
        assert!(contact.is_some_and(|c| c.has_param("isfocus")), "{what}");
    }
}

/// MSRP-11 (RFC 3264 §6): the answer to A has one m-line per offered one, in order;
/// the streams the server does not take (audio, video) get port 0.
#[test]
fn sdp_answer_mirrors_every_offered_m_line() {
    let mut w = World::new();
    let offer = msrp_sdp("10.0.0.1", 7001, "a1")
        .replace("m=message", "m=audio 49170 RTP/AVP 0\r\nm=message")
        + "m=video 51372 RTP/AVP 31 32\r\na=rtpmap:31 H261/90000\r\n";
    let a_invite = with_sdp(
        invite_to(&mut w, "bob", "conv-mirror", "contrib-mirror"),
        &offer,
    );
    w.h.send(&w.a, a_invite);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let b_tag = Tag::new("bob-mirror");
    let mut ok = w.b.response(&b_invite, StatusCode::OK, &b_tag);
    ok.headers.content_type = Some(crate::sip::MediaType::new("application", "sdp"));
    ok.body = msrp_sdp("10.0.0.2", 7002, "b1").into_bytes();
    w.h.send(&w.b, ok);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    let answer = crate::wire::sdp::decode(&a_ok.body).expect("an SDP answer");
    let lines: Vec<(&str, bool, &str)> = answer
        .media
        .iter()
        .map(|m| (m.media.as_str(), m.port == 0, m.proto.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("audio", true, "RTP/AVP"),
            ("message", false, "TCP/MSRP"),
            ("video", true, "RTP/AVP")
        ]
    );
    assert_eq!(answer.media[2].formats, ["31", "32"]);
}

/// EXT-10: a list naming only the new party (C) still invites B, the replaced
/// session's other party, with the replacement; HIST-8: the group's To is the
/// configured conference-factory URI, not the Request-URI as the client wrote it.
#[test]
fn list_with_only_the_new_party_still_invites_b_and_to_is_the_factory_uri() {
    let mut w = World::new();
    let call = establish(&mut w);
    let mut ext = extension_invite(&mut w, &call, ReplaceForm::SessionReplaces);
    ext.uri =
        crate::wire::uri::parse_uri("sip:conf-factory@127.0.0.1:5060;transport=udp").expect("uri");
    let only_c = crate::body::ResourceList {
        entries: vec![crate::testing::list_entry(sip_uri("carol", DOMAIN))],
    };
    let ext = crate::testing::recipient_list_body(
        ext,
        &msrp_sdp("10.0.0.1", 7003, "a2"),
        &only_c,
        "only-c",
    );
    w.h.send(&w.a, ext);
    w.h.expect_response(&w.a, StatusCode::OK);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    assert_eq!(
        b_invite.headers.session_replaces.as_ref(),
        Some(&call.contribution),
        "B is invited with the replacement"
    );
    w.h.expect_request(&w.c, Method::Invite);
    let info =
        w.h.stored
            .iter()
            .find_map(crate::tests::util::stored_info)
            .expect("the group's info");
    assert_eq!(info.to, "sip:conf-factory@example.com");
    assert_eq!(info.invited, vec![w.b.user(), w.c.user()]);
}

/// GRP-7: an invitee who never answers is `no-answer`, one who refuses `declined`;
/// neither is ever listed as having left. GRP-8: the seal carries the focus URI.
#[test]
fn unanswered_invitee_is_no_answer_not_declined_nor_left() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let b_tag = Tag::new("bg");
    w.h.send(
        &w.b,
        w.b.response(&ext.b_group_invite, StatusCode::OK, &b_tag),
    );
    w.h.expect_request(&w.b, Method::Ack);
    w.h.send(
        &w.c,
        w.c.response(
            &ext.c_group_invite,
            StatusCode::TEMPORARILY_UNAVAILABLE,
            &Tag::new("cg"),
        ),
    );
    w.h.expect_request(&w.c, Method::Ack);
    // B ends the replaced 1-to-1, then A and B leave the group.
    let mut call = ext.call;
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    let a_bye = w.h.expect_request(&w.a, Method::Bye);
    w.h.send(&w.a, answer(&w.a, &a_bye, StatusCode::OK));
    w.h.expect_response(&w.b, StatusCode::OK);
    let mut a_group = ext.a_group;
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let bye = w.a.in_dialog(&mut a_group, Method::Bye);
    w.h.send(&w.a, bye);
    w.h.expect_response(&w.a, StatusCode::OK);
    let bye = w.b.in_dialog(&mut b_group, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_response(&w.b, StatusCode::OK);
    let g = w.h.sealed.last().expect("the group sealed");
    let states: Vec<(UserUri, String)> = g
        .participants
        .iter()
        .map(|p| (p.user.clone(), p.state.clone()))
        .collect();
    assert!(
        states.contains(&(w.c.user(), "no-answer".into())),
        "{states:?}"
    );
    assert!(states.contains(&(w.b.user(), "left".into())), "{states:?}");
    // GRP-8: the group state object names the focus the terminals talked to.
    let focus_user = ext.a_ok.headers.contact[0]
        .uri
        .as_sip()
        .and_then(|u| u.user.clone())
        .expect("the focus's Contact user");
    assert!(focus_user.starts_with("conf-"), "{focus_user}");
    assert_eq!(g.focus, Some(format!("sip:{focus_user}@example.com")));
}

/// RFC 3261 §13.2.2.4: B repeats its 2xx (its copy of our ACK was lost): the server
/// sends the same ACK again, seconds later (the leg keeps that ACK encoded for the
/// dialog's life, not as a parsed request).
#[test]
fn a_repeated_2xx_of_the_callee_gets_the_same_ack_again() {
    let mut w = World::new();
    let a_invite = invite_to(&mut w, "bob", "conv-ack", "contrib-ack");
    w.h.send(&w.a, a_invite.clone());
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let b_tag = Tag::new("bob-ack-tag");
    let mut ok = w.b.response(&b_invite, StatusCode::OK, &b_tag);
    ok.headers.content_type = Some(crate::sip::MediaType::new("application", "sdp"));
    ok.body = msrp_sdp("10.0.0.2", 7002, "b1").into_bytes();
    w.h.send(&w.b, ok.clone());
    let first = w.h.expect_request(&w.b, Method::Ack);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    let a_dialog = UaDialog::caller(&a_invite, &a_ok);
    let ack = w.a.ack(&a_dialog, a_invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    // Within the 64·T1 the client transaction accepts a repeated 2xx (RFC 6026).
    w.h.advance(8_000);
    w.h.inboxes.clear();
    w.h.send(&w.b, ok);
    let again = w.h.expect_request(&w.b, Method::Ack);
    assert_eq!(again, first);
    w.h.expect_nothing(&w.b);
}
