//! Deferred messaging (specs/deferred.md, DEF-1..DEF-10): a pager MESSAGE to a known
//! user with no device is stored, answered 202, and delivered when a device
//! registers, in order, each message until a device takes it or it expires.

use proptest::prelude::*;

use super::util::*;
use crate::record::{DeferredDone, DeferredEnd, Disposition, Record};
use crate::server::Config;
use crate::sip::{MediaType, Method, Request, SipMessage, StatusCode};
use crate::uri::UserUri;
use crate::{Tag, Transport};

fn cpim(message_id: &str, notify: &str, text: &str) -> String {
    format!(
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {message_id}\r\n\
         imdn.Disposition-Notification: {notify}\r\n\
         DateTime: 2024-05-06T07:08:09Z\r\n\r\n\
         Content-Type: text/plain;charset=UTF-8\r\n\r\n{text}"
    )
}

/// A CPIM MESSAGE from `from` to `to`.
fn pager(from: &mut Ua, to: &Ua, message_id: &str, notify: &str) -> Request {
    let mut msg = from.request(Method::Message, to.uri(), to.uri());
    msg.headers.content_type = Some(MediaType::new("message", "cpim"));
    msg.body = cpim(message_id, notify, message_id).into_bytes();
    msg
}

/// Sends alice's CPIM MESSAGE to `to`.
fn send(h: &mut Harness, from: &mut Ua, to: &Ua, message_id: &str, notify: &str) {
    let msg = pager(from, to, message_id, notify);
    h.send(from, msg);
}

/// Removes every binding of `ua`'s contact (REGISTER with Expires 0).
fn unregister(h: &mut Harness, ua: &mut Ua) {
    let mut req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
    req.headers.expires = Some(0);
    h.send(ua, req);
    h.expect_response(ua, StatusCode::OK);
}

/// alice registered; bob known (registered once) but with no device now.
fn offline_bob() -> (Harness, Ua, Ua) {
    offline_bob_with(Config::new(DOMAIN))
}

fn offline_bob_with(config: Config) -> (Harness, Ua, Ua) {
    let mut h = Harness::with_config(config);
    let (mut a, mut b) = (
        Ua::new("alice", 1, Transport::Udp),
        Ua::new("bob", 2, Transport::Udp),
    );
    h.register(&mut a);
    h.register(&mut b);
    unregister(&mut h, &mut b);
    (h, a, b)
}

/// The CPIM text of a MESSAGE's body.
fn text(req: &Request) -> String {
    String::from_utf8_lossy(&req.body).into_owned()
}

fn done(h: &Harness) -> Vec<DeferredEnd> {
    h.bookkeeping
        .iter()
        .filter_map(|r| match r {
            Record::DeferredDone(DeferredDone { end, .. }) => Some(*end),
            Record::KnownUser(_) => None,
            other @ (Record::Message(_)
            | Record::SessionInfo(_)
            | Record::Standalone(_)
            | Record::Disposition(_)
            | Record::Deferred(_)
            | Record::GroupState(_)) => panic!("not bookkeeping: {other:?}"),
        })
        .collect()
}

/// DEF-1: a user nobody configured, who has no password and never registered,
/// gets nothing kept: 480 and nothing stored; an is-composing is never deferred.
#[test]
fn a_never_registered_user_gets_480_and_nothing_is_kept_def_1() {
    let mut h = Harness::new();
    let (mut a, stranger) = (
        Ua::new("alice", 1, Transport::Udp),
        Ua::new("nobody", 9, Transport::Udp),
    );
    h.register(&mut a);
    send(&mut h, &mut a, &stranger, "m1", "positive-delivery");
    h.expect_response(&a, StatusCode::TEMPORARILY_UNAVAILABLE);
    assert!(h.stored.is_empty());
    assert!(h.server.deferred_for(&stranger.user()).is_empty());

    let (mut h, mut a, b) = offline_bob();
    let mut typing = a.request(Method::Message, b.uri(), b.uri());
    typing.headers.content_type = Some(MediaType::new("application", "im-iscomposing+xml"));
    typing.body = b"<?xml version=\"1.0\"?><isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state></isComposing>".to_vec();
    h.send(&a, typing);
    h.expect_response(&a, StatusCode::TEMPORARILY_UNAVAILABLE);
    assert!(h.server.deferred_for(&b.user()).is_empty());
}

/// DEF-1: with a configured user list, or a password, a user who never
/// registered is known.
#[test]
fn configured_and_password_users_are_known_def_1() {
    let bob = UserUri::from_uri(&sip_uri("bob", DOMAIN)).expect("user");
    let mut listed = Config::new(DOMAIN);
    listed.users = vec![
        UserUri::from_uri(&sip_uri("alice", DOMAIN)).expect("user"),
        bob.clone(),
    ];
    let mut with_password = Config::new(DOMAIN);
    with_password.auth = Some(crate::server::AuthConfig::new(
        DOMAIN,
        [("bob".to_owned(), "pw".to_owned())].into(),
    ));
    let mut h = Harness::with_config(listed);
    let mut a = Ua::new("alice", 1, Transport::Udp);
    let b = Ua::new("bob", 2, Transport::Udp);
    h.register(&mut a);
    send(&mut h, &mut a, &b, "m1", "positive-delivery");
    h.expect_response(&a, StatusCode::ACCEPTED);
    assert_eq!(h.server.deferred_for(&bob).len(), 1);
    // A password makes bob known without a users list (checked on the core's rule
    // directly: digest flows are the auth tests' business).
    assert!(crate::Server::new(with_password).deferral_open_to(&bob));
    assert!(!crate::Server::new(Config::new(DOMAIN)).deferral_open_to(&bob));
}

/// DEF-2, DEF-8: the message and its history are one record, durable before the
/// 202; the history is the standalone message any pager MESSAGE files.
#[test]
fn the_202_comes_only_after_the_store_made_it_durable_def_2() {
    let (mut h, mut a, b) = offline_bob();
    h.store_mode = StoreMode::Manual;
    send(&mut h, &mut a, &b, "m1", "positive-delivery");
    h.expect_nothing(&a);
    assert_eq!(h.store_queue.len(), 1);
    h.store_answer(true);
    h.expect_response(&a, StatusCode::ACCEPTED);
    let [Record::Deferred(d)] = h.stored.as_slice() else {
        panic!("one deferred record: {:?}", h.stored);
    };
    assert_eq!(d.message.recipient, b.user());
    assert_eq!(d.message.sender, a.user());
    let Some(Record::Standalone(s)) = d.history.as_deref() else {
        panic!("history is the standalone message");
    };
    assert_eq!(
        (s.message_id.as_str(), s.recipients.clone()),
        ("m1", vec![b.user()])
    );
    assert_eq!(h.deferred_events, [(b.user(), a.user())]);
}

/// DEF-2: a store failure is the sender's 500, and nothing waits.
#[test]
fn a_store_failure_gives_500_and_nothing_waits_def_2() {
    let (mut h, mut a, mut b) = offline_bob();
    h.store_mode = StoreMode::Manual;
    send(&mut h, &mut a, &b, "m1", "positive-delivery");
    h.store_answer(false);
    h.expect_response(&a, StatusCode::SERVER_INTERNAL_ERROR);
    assert!(h.server.deferred_for(&b.user()).is_empty());
    h.store_mode = StoreMode::Auto;
    h.register(&mut b);
    h.expect_nothing(&b);
}

/// DEF-3, DEF-4, DEF-5: when bob registers, the oldest message goes out after the
/// 200; the next only once a device took the previous; each leaves the queue
/// with its 2xx and is never sent again.
#[test]
fn messages_are_delivered_in_order_when_a_device_registers_def_3() {
    let (mut h, mut a, mut b) = offline_bob();
    for id in ["m1", "m2", "m3"] {
        send(&mut h, &mut a, &b, id, "positive-delivery");
        h.expect_response(&a, StatusCode::ACCEPTED);
    }
    h.register(&mut b);
    for id in ["m1", "m2", "m3"] {
        let at_b = h.expect_request(&b, Method::Message);
        assert!(text(&at_b).ends_with(id), "{id} next: {}", text(&at_b));
        h.expect_nothing(&b);
        h.send(&b, b.response(&at_b, StatusCode::OK, &Tag::new("b")));
    }
    h.expect_nothing(&b);
    assert!(h.server.deferred_for(&b.user()).is_empty());
    assert_eq!(done(&h), [DeferredEnd::Delivered; 3]);
    // A re-registration sends nothing again (DEF-5).
    h.register(&mut b);
    h.expect_nothing(&b);
}

/// DEF-3: every device that registers while the message waits gets it, once (a
/// parallel fork); the first 2xx takes it out of the queue, a later answer of the
/// other device changes nothing.
#[test]
fn every_registered_device_gets_the_message_def_3() {
    let (mut h, mut a, b) = offline_bob();
    send(&mut h, &mut a, &b, "m1", "positive-delivery");
    h.expect_response(&a, StatusCode::ACCEPTED);
    // The phone registers: delivery starts; the tablet registers while it is in
    // flight and gets it too.
    let mut phone = Ua::new("bob", 12, Transport::Udp);
    let mut tablet = Ua::new("bob", 13, Transport::Udp);
    h.register(&mut phone);
    let at_phone = h.expect_request(&phone, Method::Message);
    h.register(&mut tablet);
    let at_tablet = h.expect_request(&tablet, Method::Message);
    h.register(&mut phone);
    h.expect_nothing(&phone);
    assert_eq!(at_phone.body, at_tablet.body);
    h.send(
        &tablet,
        tablet.response(&at_tablet, StatusCode::OK, &Tag::new("t")),
    );
    h.send(
        &phone,
        phone.response(&at_phone, StatusCode::BUSY_HERE, &Tag::new("p")),
    );
    assert_eq!(done(&h), [DeferredEnd::Delivered]);
    h.register(&mut tablet);
    h.expect_nothing(&tablet);
    h.expect_nothing(&phone);
}

/// DEF-5: when every device refuses, the message stays and goes again at the next
/// registration.
#[test]
fn a_refused_delivery_waits_for_the_next_registration_def_5() {
    let (mut h, mut a, mut b) = offline_bob();
    send(&mut h, &mut a, &b, "m1", "positive-delivery");
    h.expect_response(&a, StatusCode::ACCEPTED);
    h.register(&mut b);
    let at_b = h.expect_request(&b, Method::Message);
    h.send(&b, b.response(&at_b, StatusCode::BUSY_HERE, &Tag::new("b")));
    assert_eq!(h.server.deferred_for(&b.user()).len(), 1);
    h.register(&mut b);
    let again = h.expect_request(&b, Method::Message);
    assert_eq!(again.body, at_b.body);
    h.send(&b, b.response(&again, StatusCode::OK, &Tag::new("b")));
    assert!(h.server.deferred_for(&b.user()).is_empty());
}

/// DEF-6: beyond the per-recipient count or bytes: 480 with Retry-After, nothing
/// stored.
#[test]
fn a_full_queue_refuses_with_480_and_retry_after_def_6() {
    let mut config = Config::new(DOMAIN);
    config.deferred.max_messages_per_user = 2;
    let (mut h, mut a, b) = offline_bob_with(config);
    for id in ["m1", "m2"] {
        send(&mut h, &mut a, &b, id, "positive-delivery");
        h.expect_response(&a, StatusCode::ACCEPTED);
    }
    send(&mut h, &mut a, &b, "m3", "positive-delivery");
    let full = h.expect_response(&a, StatusCode::TEMPORARILY_UNAVAILABLE);
    assert!(full
        .headers
        .other
        .iter()
        .any(|(n, v)| n == "Retry-After" && v == "600"));
    assert_eq!(h.stored.len(), 2);

    let mut config = Config::new(DOMAIN);
    config.deferred.max_bytes_per_user = 300;
    let (mut h, mut a, b) = offline_bob_with(config);
    send(&mut h, &mut a, &b, "m1", "positive-delivery");
    h.expect_response(&a, StatusCode::ACCEPTED);
    send(&mut h, &mut a, &b, "m2", "positive-delivery");
    h.expect_response(&a, StatusCode::TEMPORARILY_UNAVAILABLE);
}

/// DEF-7, DEF-10: at its expiry the message leaves the queue, the failure is
/// recorded against it, and a sender who asked for negative-delivery gets an IMDN
/// `failed`; a sender who asked for processing got `stored` at once.
#[test]
fn an_expired_message_is_dropped_and_its_sender_told_def_7() {
    let mut config = Config::new(DOMAIN);
    config.deferred.expiry_s = 60;
    let (mut h, mut a, mut b) = offline_bob_with(config);
    send(
        &mut h,
        &mut a,
        &b,
        "m1",
        "positive-delivery, negative-delivery, processing",
    );
    h.expect_response(&a, StatusCode::ACCEPTED);
    let stored = h.expect_request(&a, Method::Message);
    let stored_text = text(&stored);
    assert!(stored_text.contains("<stored/>"), "{stored_text}");
    assert!(stored_text.contains("<message-id>m1</message-id>"));
    assert_eq!(stored.headers.from.uri, b.uri(), "in the recipient's name");
    h.send(&a, a.response(&stored, StatusCode::OK, &Tag::new("a")));
    h.advance(59_000);
    assert_eq!(h.server.deferred_for(&b.user()).len(), 1);
    h.advance(1_000);
    assert!(h.server.deferred_for(&b.user()).is_empty());
    assert_eq!(done(&h), [DeferredEnd::Expired]);
    let failed = h.expect_request(&a, Method::Message);
    let failed_text = text(&failed);
    assert!(failed_text.contains("<failed/>"), "{failed_text}");
    assert!(failed_text.contains("<message-id>m1</message-id>"));
    assert!(h.stored.iter().any(|r| matches!(
        r,
        Record::Disposition(d) if d.disposition == Disposition::Failed && d.recipient == b.user()
    )));
    h.register(&mut b);
    h.expect_nothing(&b);
}

/// DEF-9: what the store still holds is delivered by a new server value (a
/// restart), expiring at its stored wall-clock time.
#[test]
fn restored_messages_are_delivered_after_a_restart_def_9() {
    let (mut h, mut a, b) = offline_bob();
    send(&mut h, &mut a, &b, "m1", "positive-delivery");
    h.expect_response(&a, StatusCode::ACCEPTED);
    let Record::Deferred(d) = h.stored[0].clone() else {
        panic!("deferred");
    };
    let mut fresh = Harness::new();
    fresh.server.add_known_users([b.user()]);
    fresh
        .server
        .restore_deferred(fresh.now, vec![d.message.clone()]);
    assert_eq!(
        fresh.server.deferred_for(&b.user()),
        [d.message.id.as_str()]
    );
    let mut b = Ua::new("bob", 2, Transport::Udp);
    fresh.register(&mut b);
    let at_b = fresh.expect_request(&b, Method::Message);
    assert!(text(&at_b).ends_with("m1"));
    // Expiry follows the stored wall-clock time (7 days after the harness's clock).
    let armed = fresh
        .server
        .armed_timers()
        .find(|(t, _)| matches!(t, crate::Timer::DeferredExpiry(..)))
        .map(|(_, at)| at.as_ms());
    assert_eq!(armed, Some(fresh.now.as_ms() + 7 * 24 * 3600 * 1000));
}

/// One step of the property test's world: bob's devices come and go and answer;
/// alice sends; time passes.
#[derive(Debug, Clone)]
enum Step {
    Send,
    Register(u8),
    Unregister(u8),
    Answer(u8, bool),
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Send),
        2 => (0u8..2).prop_map(Step::Register),
        1 => (0u8..2).prop_map(Step::Unregister),
        4 => (0u8..2, any::<bool>()).prop_map(|(d, ok)| Step::Answer(d, ok)),
        1 => (1u64..40_000).prop_map(Step::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// DEF-3..DEF-5, DEF-7: whatever the order of sends, registrations, answers
    /// and time, no device is given a message it already took, and every accepted
    /// message ends exactly once: delivered or expired (or still waiting, then
    /// delivered when a willing device registers at the end).
    #[test]
    fn nothing_is_lost_or_delivered_twice_per_device(steps in prop::collection::vec(step(), 1..40)) {
        let mut config = Config::new(DOMAIN);
        config.deferred.expiry_s = 100;
        let (mut h, mut a, _) = offline_bob_with(config);
        let mut devices = [Ua::new("bob", 12, Transport::Udp), Ua::new("bob", 13, Transport::Udp)];
        let target = Ua::new("bob", 2, Transport::Udp);
        let mut accepted = 0usize;
        let mut took: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        let mut inbox: [Vec<Request>; 2] = [Vec::new(), Vec::new()];
        let mut sent = 0;
        // What reached each device; a message it already took must never come again.
        let collect = |h: &mut Harness, devices: &[Ua; 2], inbox: &mut [Vec<Request>; 2], took: &[Vec<Vec<u8>>; 2]| {
            for (i, d) in devices.iter().enumerate() {
                while let Some(m) = h.next(d) {
                    match m {
                        SipMessage::Request(r) if r.method == Method::Message => {
                            if took[i].contains(&r.body) {
                                return Err(format!("device {i} got {:?} again", text(&r)));
                            }
                            inbox[i].push(r);
                        }
                        SipMessage::Request(_) | SipMessage::Response(_) => {}
                    }
                }
            }
            Ok(())
        };
        for s in steps {
            match s {
                Step::Send => {
                    sent += 1;
                    send(&mut h, &mut a, &target, &format!("p{sent}"), "positive-delivery");
                    while let Some(m) = h.next(&a) {
                        match m {
                            SipMessage::Response(r) if r.status == StatusCode::ACCEPTED => accepted += 1,
                            SipMessage::Response(_) | SipMessage::Request(_) => {}
                        }
                    }
                }
                Step::Register(d) => {
                    let ua = &mut devices[usize::from(d)];
                    let mut req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
                    req.headers.expires = Some(3600);
                    h.send(ua, req);
                }
                Step::Unregister(d) => {
                    let ua = &mut devices[usize::from(d)];
                    let mut req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
                    req.headers.expires = Some(0);
                    h.send(ua, req);
                }
                Step::Answer(d, ok) => {
                    let i = usize::from(d);
                    if !inbox[i].is_empty() {
                        let r = inbox[i].remove(0);
                        let status = if ok { StatusCode::OK } else { StatusCode::BUSY_HERE };
                        let before = done(&h).len();
                        h.send(&devices[i], devices[i].response(&r, status, &Tag::new("d")));
                        // Taken: the server heard the 2xx (a 2xx after the
                        // transaction timed out is not heard: DEF-5's redelivery).
                        if ok && done(&h).len() > before {
                            took[i].push(r.body.clone());
                        }
                    }
                }
                Step::Advance(ms) => h.advance(ms),
            }
            if let Err(twice) = collect(&mut h, &devices, &mut inbox, &took) {
                prop_assert!(false, "{}", twice);
            }
        }
        // Every accepted message has ended once, or still waits.
        let ends = done(&h).len();
        let waiting = h.server.deferred_for(&target.user()).len();
        prop_assert_eq!(ends + waiting, accepted);
        let delivered = done(&h).iter().filter(|e| **e == DeferredEnd::Delivered).count();
        let taken: usize = took.iter().map(Vec::len).sum();
        prop_assert!(delivered <= taken, "a delivery needs a device's 2xx");
    }
}

/// DEF-13: the server's own notifications to a sender with no device are deferred
/// like any message to them: `stored` (alice left before the store answered) and
/// `failed` (at expiry) wait in alice's queue, with no history of their own, and
/// reach her next device in order, in bob's name.
#[test]
fn the_servers_notifications_to_an_offline_sender_are_deferred_def_13() {
    let mut config = Config::new(DOMAIN);
    config.deferred.expiry_s = 60;
    let (mut h, mut a, b) = offline_bob_with(config);
    h.store_mode = StoreMode::Manual;
    send(
        &mut h,
        &mut a,
        &b,
        "m1",
        "positive-delivery, negative-delivery, processing",
    );
    unregister(&mut h, &mut a);
    h.store_answer(true);
    h.expect_response(&a, StatusCode::ACCEPTED);
    h.expect_nothing(&a);
    // The notification's own write: a queue row, no history (nothing new filed).
    assert_eq!(h.store_queue.len(), 1);
    h.store_answer(true);
    let Some(Record::Deferred(note)) = h.stored.last() else {
        panic!("the notification is deferred: {:?}", h.stored);
    };
    assert!(note.history.is_none());
    assert_eq!(
        (note.message.recipient.clone(), note.message.sender.clone()),
        (a.user(), b.user())
    );
    h.store_mode = StoreMode::Auto;
    assert_eq!(h.server.deferred_for(&a.user()).len(), 1);

    // alice's next device gets `stored`; she leaves again; at m1's expiry `failed`
    // waits for her in turn.
    let mut want = vec!["<stored/>"];
    for round in 0..2 {
        h.register(&mut a);
        for w in want.drain(..) {
            let note = h.expect_request(&a, Method::Message);
            let note_text = text(&note);
            assert!(note_text.contains(w), "{w}: {note_text}");
            assert!(note_text.contains("<message-id>m1</message-id>"));
            assert_eq!(note.headers.from.uri, b.uri(), "in the recipient's name");
            h.expect_nothing(&a);
            h.send(&a, a.response(&note, StatusCode::OK, &Tag::new("a")));
        }
        assert!(h.server.deferred_for(&a.user()).is_empty());
        if round == 0 {
            unregister(&mut h, &mut a);
            h.advance(60_000);
            assert!(h.server.deferred_for(&b.user()).is_empty());
            assert_eq!(h.server.deferred_for(&a.user()).len(), 1);
            want.push("<failed/>");
        }
    }
}
