//! Store-and-forward sessions (specs/deferred.md, "Sessions to an offline user",
//! DEF-12): a chat INVITE to a known user with no device is answered by the
//! server, each MSRP message is stored before its 200 and delivered later as a
//! pager MESSAGE, in order, with the session's IDs.

use std::net::SocketAddr;

use super::flows::*;
use super::util::*;
use crate::ids::{ConnId, TransactionId};
use crate::msrp::{FailureReport, MsrpMessage, MsrpMethod, MsrpRequest};
use crate::record::{DeferredEnd, Record};
use crate::server::Config;
use crate::sip::{Method, StatusCode};
use crate::uri::UserUri;
use crate::wire;
use crate::{Tag, Transport};

const CONVERSATION: &str = "9d7b0c1e-2f3a-4b5c-8d9e-0a1b2c3d4e5f";
const CONTRIBUTION: &str = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c";

/// Alice's MSRP side on the stand-in session.
struct Peer {
    path: String,
    conn: ConnId,
    addr: SocketAddr,
    n: u32,
}

impl Peer {
    fn alice() -> Self {
        Self {
            path: "msrp://10.0.0.1:7001/a1;tcp".into(),
            conn: ConnId::new(601),
            addr: "10.0.0.1:7001".parse().unwrap(),
            n: 0,
        }
    }

    fn request(&mut self, to: &str) -> MsrpRequest {
        self.n += 1;
        let mut req = MsrpRequest::new(
            TransactionId::new(format!("tid-a{}", self.n)),
            MsrpMethod::Send,
            vec![to.to_owned()],
            vec![self.path.clone()],
        );
        req.failure_report = FailureReport::Yes;
        req
    }

    /// A SEND of a CPIM text message `id` asking for `notify`.
    fn send(&mut self, to: &str, id: &str, notify: &str) -> MsrpRequest {
        let mut req = self.request(to);
        req.message_id = Some(format!("mid-{id}"));
        req.content_type = Some("message/cpim".into());
        req.body = format!(
            "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
             NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {id}\r\n\
             imdn.Disposition-Notification: {notify}\r\n\
             DateTime: 2026-12-06T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\ntext of {id}"
        )
        .into_bytes();
        req
    }
}

fn msrp_in(h: &mut Harness, peer: &Peer, req: MsrpRequest) {
    let bytes = wire::msrp::encode(&MsrpMessage::Request(req));
    h.server
        .handle_msrp_bytes(h.now, peer.conn, peer.addr, &bytes);
    h.drain();
}

/// (responses' statuses, requests' bodies) the server wrote to `peer`.
fn written(h: &mut Harness, peer: &Peer) -> (Vec<u16>, Vec<String>) {
    let (mut statuses, mut sends) = (Vec::new(), Vec::new());
    for m in h.msrp_take(peer.conn) {
        match m {
            MsrpMessage::Response(r) => statuses.push(r.status),
            MsrpMessage::Request(r) => sends.push(String::from_utf8_lossy(&r.body).into_owned()),
        }
    }
    (statuses, sends)
}

/// Alice and bob registered, bob then unregistered (known, no device).
fn offline_bob(config: Config) -> World {
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let mut off =
        w.b.request(Method::Register, sip_uri_host(DOMAIN), w.b.uri());
    off.headers.expires = Some(0);
    w.h.send(&w.b, off);
    w.h.expect_response(&w.b, StatusCode::OK);
    w
}

/// Alice's INVITE to offline bob answered by the server itself: ACKed, MSRP bound.
/// Returns the server's MSRP path and alice's dialog.
fn stand_in(w: &mut World, peer: &mut Peer) -> (String, UaDialog) {
    let invite = invite_to(w, "bob", CONVERSATION, CONTRIBUTION);
    w.h.send(&w.a, invite.clone());
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(
        ok.headers.contribution_id.as_ref().map(|c| c.as_str()),
        Some(CONTRIBUTION)
    );
    let sdp = wire::sdp::decode(&ok.body).expect("the server's answer");
    let media = sdp.message_media().expect("m=message");
    assert_eq!(media.attribute("setup"), Some("passive"));
    let path = media.attribute("path").expect("a=path").to_owned();
    let dialog = UaDialog::caller(&invite, &ok);
    let ack = w.a.ack(&dialog, invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let bind = peer.request(&path);
    msrp_in(&mut w.h, peer, bind);
    let log = w.h.log.join("\n");
    assert_eq!(written(&mut w.h, peer).0, [200], "{log}");
    (path, dialog)
}

/// DEF-12: the server answers a session to offline bob; each MSRP message gets
/// its 200 only once durable (and a `stored` IMDN in the session when asked); the
/// caller's BYE ends the session; bob's device gets the messages as pager
/// MESSAGEs, in order, with the session's Conversation-ID and Contribution-ID, and
/// the history is the standalone message of each.
#[test]
fn a_session_to_an_offline_user_is_stored_and_delivered_as_pager_messages_def_12() {
    let mut w = offline_bob(Config::new(DOMAIN));
    let mut alice = Peer::alice();
    let (path, mut dialog) = stand_in(&mut w, &mut alice);
    assert_eq!(w.h.server.stand_in_sessions(), 1);

    w.h.store_mode = StoreMode::Manual;
    let m1 = alice.send(&path, "s1", "positive-delivery, processing");
    msrp_in(&mut w.h, &alice, m1);
    assert_eq!(
        written(&mut w.h, &alice),
        (vec![], vec![]),
        "no 200 before durable"
    );
    w.h.store_answer(true);
    let (statuses, sends) = written(&mut w.h, &alice);
    assert_eq!(statuses, [200]);
    let [stored] = sends.as_slice() else {
        panic!("one stored IMDN in the session: {sends:?}")
    };
    assert!(stored.contains("<stored/>") && stored.contains("<message-id>s1</message-id>"));
    // A store failure is the MSRP 500 and nothing waits (DEF-2).
    let m2 = alice.send(&path, "s2", "positive-delivery");
    msrp_in(&mut w.h, &alice, m2);
    w.h.store_answer(false);
    assert_eq!(written(&mut w.h, &alice).0, [500]);
    w.h.store_mode = StoreMode::Auto;
    let m3 = alice.send(&path, "s3", "positive-delivery");
    msrp_in(&mut w.h, &alice, m3);
    assert_eq!(written(&mut w.h, &alice), (vec![200], vec![]));
    assert_eq!(w.h.server.deferred_for(&w.b.user()).len(), 2);

    let bye = w.a.in_dialog(&mut dialog, Method::Bye);
    w.h.send(&w.a, bye);
    w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(w.h.server.stand_in_sessions(), 0);

    for id in ["s1", "s3"] {
        let history =
            w.h.stored
                .iter()
                .find_map(|r| {
                    let Record::Deferred(d) = r else { return None };
                    let Some(Record::Standalone(s)) = d.history.as_deref() else {
                        return None;
                    };
                    (s.message_id.as_str() == id).then(|| s.clone())
                })
                .expect("the standalone message is the history");
        assert_eq!(history.sender, w.a.user());
        assert_eq!(history.recipients, vec![w.b.user()]);
        assert_eq!(
            history.contribution_id.as_ref().map(|c| c.as_str()),
            Some(CONTRIBUTION)
        );
    }

    w.h.register(&mut w.b);
    let b = w.b.clone();
    for id in ["s1", "s3"] {
        let at_b = w.h.expect_request(&b, Method::Message);
        let body = String::from_utf8_lossy(&at_b.body);
        assert!(body.ends_with(&format!("text of {id}")), "{id}: {body}");
        assert!(body.contains(&format!("imdn.Message-ID: {id}")));
        assert_eq!(
            at_b.headers.conversation_id.as_ref().map(|c| c.as_str()),
            Some(CONVERSATION)
        );
        assert_eq!(
            at_b.headers.contribution_id.as_ref().map(|c| c.as_str()),
            Some(CONTRIBUTION)
        );
        assert_eq!(UserUri::from_uri(&at_b.headers.from.uri), Some(w.a.user()));
        w.h.expect_nothing(&b);
        w.h.send(&b, b.response(&at_b, StatusCode::OK, &Tag::new("b")));
    }
    assert!(w.h.server.deferred_for(&w.b.user()).is_empty());
    let delivered =
        w.h.bookkeeping
            .iter()
            .filter(|r| matches!(r, Record::DeferredDone(d) if d.end == DeferredEnd::Delivered))
            .count();
    assert_eq!(delivered, 2);
}

/// DEF-1, DEF-6, DEF-12: a user nobody knows still gets 480 (nothing answered for
/// them); a full queue refuses the next MSRP message with 413 and a new session
/// with 480 and Retry-After; an is-composing is answered and never kept.
#[test]
fn stand_in_sessions_keep_the_deferral_rules_def_12() {
    let mut w = offline_bob(Config::new(DOMAIN));
    let invite = invite_to(&mut w, "nobody", CONVERSATION, CONTRIBUTION);
    w.h.send(&w.a, invite);
    w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
    assert_eq!(w.h.server.stand_in_sessions(), 0);

    let mut config = Config::new(DOMAIN);
    config.deferred.max_messages_per_user = 1;
    let mut w = offline_bob(config);
    let mut alice = Peer::alice();
    let (path, _) = stand_in(&mut w, &mut alice);
    let mut typing = alice.request(&path);
    typing.message_id = Some("mid-typing".into());
    typing.content_type = Some("message/cpim".into());
    typing.body = b"From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\r\nContent-Type: application/im-iscomposing+xml\r\n\r\n<?xml version=\"1.0\"?><isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state></isComposing>".to_vec();
    msrp_in(&mut w.h, &alice, typing);
    assert_eq!(written(&mut w.h, &alice).0, [200]);
    assert!(w.h.server.deferred_for(&w.b.user()).is_empty());
    let m1 = alice.send(&path, "s1", "positive-delivery");
    msrp_in(&mut w.h, &alice, m1);
    assert_eq!(written(&mut w.h, &alice).0, [200]);
    let m2 = alice.send(&path, "s2", "positive-delivery");
    msrp_in(&mut w.h, &alice, m2);
    assert_eq!(written(&mut w.h, &alice).0, [413]);
    assert_eq!(w.h.server.deferred_for(&w.b.user()).len(), 1);

    let second = invite_to(&mut w, "bob", CONVERSATION, "another-contribution");
    w.h.send(&w.a, second);
    let full =
        w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
    assert!(full.headers.other("Retry-After").is_some());

    // The bytes cap counts session messages the same way.
    let mut config = Config::new(DOMAIN);
    config.deferred.max_bytes_per_user = 400;
    let mut w = offline_bob(config);
    let mut alice = Peer::alice();
    let (path, _) = stand_in(&mut w, &mut alice);
    let m1 = alice.send(&path, "s1", "positive-delivery");
    assert!(m1.body.len() <= 400 && 2 * m1.body.len() > 400);
    msrp_in(&mut w.h, &alice, m1);
    assert_eq!(written(&mut w.h, &alice).0, [200]);
    let m2 = alice.send(&path, "s2", "positive-delivery");
    msrp_in(&mut w.h, &alice, m2);
    assert_eq!(written(&mut w.h, &alice).0, [413]);
    assert_eq!(w.h.server.deferred_for(&w.b.user()).len(), 1);
}
