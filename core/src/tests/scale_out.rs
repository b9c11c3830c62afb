//! Several nodes sharing one location service (specs/scale-out.md): this node
//! reports its bindings (SCALE-4), reaches users registered through another node
//! (SCALE-5), and never takes another node's binding for an identity (SCALE-6).
//! The harness is node 1; the other node exists only as the rows the runtime feeds.

use super::flows::*;
use super::util::*;
use crate::ids::{ConnId, Tag};
use crate::server::{Config, Flow, RemoteBinding, Transport};
use crate::sip::{Method, StatusCode};
use crate::wire::print_uri;

fn shared() -> Config {
    let mut config = Config::new(DOMAIN);
    config.share_locations = true;
    config
}

/// What node 2's location row for `ua` says, as the runtime feeds it to node 1:
/// reached over node 1's UDP socket at the address `ua` registered from.
fn remote_of(ua: &Ua, left_ms: u64) -> RemoteBinding {
    RemoteBinding {
        aor: ua.user(),
        contact_key: print_uri(&ua.contact().uri),
        flow: Flow {
            transport: Transport::Udp,
            conn: ConnId::new(1),
            peer: ua.addr,
        },
        left_ms,
    }
}

/// SCALE-4: with `share_locations`, each change of a user's bindings is reported
/// with all of them (a REGISTER, a removal, an expiry); without it, nothing.
#[test]
fn scale_4_binding_changes_are_reported_for_the_location_rows() {
    let mut h = Harness::with_config(shared());
    let mut bob = Ua::new("bob", 2, Transport::Udp);
    h.register(&mut bob);
    let (aor, bindings) = h.bindings_changed.last().cloned().expect("reported");
    assert_eq!(aor, bob.user());
    assert_eq!(bindings.len(), 1);
    assert_eq!(
        (
            bindings[0].contact_key.clone(),
            bindings[0].flow,
            bindings[0].expires_in_ms
        ),
        (print_uri(&bob.contact().uri), bob.flow(), 3_600_000)
    );
    // Removed with Expires 0: reported empty.
    let mut unreg = bob.request(Method::Register, sip_uri_host(DOMAIN), bob.uri());
    unreg.headers.expires = Some(0);
    h.send(&bob, unreg);
    h.expect_response(&bob, StatusCode::OK);
    assert_eq!(h.bindings_changed.last().map(|(_, b)| b.len()), Some(0));
    // Registered again, then expired: reported empty again.
    h.register(&mut bob);
    let before = h.bindings_changed.len();
    h.advance(3_600_001);
    assert_eq!(
        h.bindings_changed.len(),
        before + 1,
        "the expiry is reported"
    );
    assert!(h.bindings_changed[before].1.is_empty());

    let mut single = Harness::new();
    single.register(&mut bob);
    assert!(
        single.bindings_changed.is_empty(),
        "one node: no such events"
    );
}

/// SCALE-5: alice (on node 1) calls bob, who registered through node 2: node 1
/// sends the INVITE to where bob registered from, and the session is node 1's;
/// once node 2's row says bob is gone (or his binding expires), bob is not
/// registered for node 1 either.
#[test]
fn scale_5_a_user_registered_through_another_node_is_reached_from_this_one() {
    // Deferral off: a known user with no device gets 480, not a stand-in session
    // (DEF-12; a row makes bob known, SCALE-7).
    let mut config = shared();
    config.deferred.expiry_s = 0;
    let mut h = Harness::with_config(config);
    let mut a = Ua::new("alice", 1, Transport::Udp);
    h.register(&mut a);
    let b = Ua::new("bob", 2, Transport::Udp);
    let c = Ua::new("carol", 3, Transport::Udp);
    let mut w = World { h, a, b, c };
    // Without a row, bob is not registered here.
    let invite = invite_to(&mut w, "bob", "conv-s5", "contrib-s5-0");
    w.h.send(&w.a, invite);
    w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
    w.h.server
        .handle_remote_binding(w.h.now, remote_of(&w.b, 600_000));
    let invite = invite_to(&mut w, "bob", "conv-s5", "contrib-s5-1");
    w.h.send(&w.a, invite);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    assert_eq!(b_invite.uri, w.b.contact().uri, "to bob's contact");
    let mut ok = w.b.response(&b_invite, StatusCode::OK, &Tag::new("b-s5"));
    ok.headers.content_type = Some(crate::sip::MediaType::new("application", "sdp"));
    ok.body = msrp_sdp("10.0.0.2", 7002, "b1").into_bytes();
    w.h.send(&w.b, ok);
    w.h.expect_response(&w.a, StatusCode::OK);
    // Node 2's row: bob is gone.
    w.h.server
        .handle_remote_binding(w.h.now, remote_of(&w.b, 0));
    let invite = invite_to(&mut w, "bob", "conv-s5", "contrib-s5-2");
    w.h.send(&w.a, invite);
    w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
    // A row whose binding runs out is not used after it ran out.
    w.h.server
        .handle_remote_binding(w.h.now, remote_of(&w.b, 1_000));
    w.h.advance(1_001);
    let invite = invite_to(&mut w, "bob", "conv-s5", "contrib-s5-3");
    w.h.send(&w.a, invite);
    w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
}

/// SCALE-6: bob's binding on node 2 says nothing about who sends from bob's
/// address to node 1: without a binding here, bob's INVITE is not bob's.
#[test]
fn scale_6_another_nodes_binding_is_no_identity() {
    let mut h = Harness::with_config(shared());
    let mut a = Ua::new("alice", 1, Transport::Udp);
    h.register(&mut a);
    let mut b = Ua::new("bob", 2, Transport::Udp);
    h.server
        .handle_remote_binding(h.now, remote_of(&b, 600_000));
    let to = crate::testing::sip_uri("alice", DOMAIN);
    let mut invite = b.request(Method::Invite, to.clone(), to);
    invite.headers.contribution_id = Some(crate::ids::ContributionId::new("k-s6"));
    let invite = crate::testing::with_sdp(invite, &msrp_sdp("10.0.0.2", 7002, "b1"));
    h.send(&b, invite);
    h.expect_nothing(&a);
    let refused = h.next(&b).expect("an answer");
    let crate::sip::SipMessage::Response(r) = refused else {
        panic!("a response, got {refused:?}");
    };
    assert!(r.status.get() >= 400, "refused: {r:?}");
}

/// A CPIM pager MESSAGE from `from` to `to` with imdn.Message-ID `id`.
fn pager(from: &mut Ua, to: &Ua, id: &str) -> crate::sip::Request {
    let mut msg = from.request(Method::Message, to.uri(), to.uri());
    msg.headers.content_type = Some(crate::sip::MediaType::new("message", "cpim"));
    msg.body = format!(
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {id}\r\n\
         DateTime: 2024-05-06T07:08:09Z\r\n\r\n\
         Content-Type: text/plain;charset=UTF-8\r\n\r\n{id}"
    )
    .into_bytes();
    msg
}

/// Node 2's row for `ua` reaches node 1, which runs what follows from it.
fn row(h: &mut Harness, ua: &Ua, left_ms: u64) {
    h.server
        .handle_remote_binding(h.now, remote_of(ua, left_ms));
    h.drain();
}

/// SCALE-7: bob, unknown to node 1, is registered through node 2 (a row) and
/// leaves: he is known now, so alice's MESSAGE to him through node 1 is deferred
/// (202, DEF-1). When node 2's next row says bob is back, node 1 delivers it to
/// where that row says he is, and bob's 200 takes it out of node 1's queue.
#[test]
fn scale_7_a_deferred_message_goes_to_a_device_registered_through_another_node() {
    let mut h = Harness::with_config(shared());
    let mut a = Ua::new("alice", 1, Transport::Udp);
    h.register(&mut a);
    let b = Ua::new("bob", 2, Transport::Udp);
    // Never seen by node 1: not known, nothing kept.
    let msg = pager(&mut a, &b, "s7-unknown");
    h.send(&a, msg);
    h.expect_response(&a, StatusCode::TEMPORARILY_UNAVAILABLE);
    assert!(h.server.deferred_for(&b.user()).is_empty());
    // Registered through node 2, then gone: known, offline.
    row(&mut h, &b, 600_000);
    row(&mut h, &b, 0);
    h.expect_nothing(&b);
    let msg = pager(&mut a, &b, "s7-m1");
    h.send(&a, msg);
    h.expect_response(&a, StatusCode::ACCEPTED);
    assert_eq!(h.server.deferred_for(&b.user()).len(), 1);
    // Back through node 2: node 1 sends it to bob's address, once.
    row(&mut h, &b, 600_000);
    let at_b = h.expect_request(&b, Method::Message);
    assert!(String::from_utf8_lossy(&at_b.body).ends_with("s7-m1"));
    assert_eq!(at_b.uri, b.contact().uri, "to bob's contact");
    row(&mut h, &b, 600_000);
    h.expect_nothing(&b);
    h.send(&b, b.response(&at_b, StatusCode::OK, &Tag::new("b-s7")));
    assert!(h.server.deferred_for(&b.user()).is_empty());
    row(&mut h, &b, 600_000);
    h.expect_nothing(&b);
}
