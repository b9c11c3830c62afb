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
    let mut h = Harness::with_config(shared());
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
