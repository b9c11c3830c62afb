//! Pager mode (RFC 3428 MESSAGE): capture before relay, store failure, IMDNs as
//! dispositions, refused bodies (specs/one-to-one.md, PAGER-1..PAGER-4).

use super::flows::*;
use super::util::*;
use crate::ids::{ContributionId, ConversationId, MessageId, Tag};
use crate::server::{Disposition, DispositionRecord, Record, StandaloneMessage};
use crate::sip::{MediaType, Method, Request, StatusCode};

const CPIM_TEXT: &str = "From: <sip:anonymous@anonymous.invalid>\r\n\
    To: <sip:anonymous@anonymous.invalid>\r\n\
    NS: imdn <urn:ietf:params:imdn>\r\n\
    imdn.Message-ID: pm-1\r\n\
    imdn.Disposition-Notification: positive-delivery, display\r\n\
    DateTime: 2024-05-06T07:08:09Z\r\n\r\n\
    Content-Type: text/plain;charset=UTF-8\r\n\r\nhello by pager";

fn imdn_cpim(message_id: &str, status: &str) -> String {
    format!(
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
         NS: rcs <urn:ietf:params:imdn>\r\nrcs.Message-ID: imdn-9\r\n\
         DateTime: 2024-05-06T07:09:00Z\r\n\r\n\
         Content-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n\r\n\
         <?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>{message_id}</message-id>\
         <display-notification><status><{status}/></status></display-notification></imdn>"
    )
}

/// A MESSAGE from `from` to `to` with a body of the given type.
fn pager(from: &mut Ua, to: &Ua, ct: (&str, &str), body: &str) -> Request {
    let mut msg = from.request(Method::Message, to.uri(), to.uri());
    msg.headers.content_type = Some(MediaType::new(ct.0, ct.1));
    msg.body = body.as_bytes().to_vec();
    msg
}

fn cpm_headers(mut msg: Request, conversation: &str, contribution: &str) -> Request {
    msg.headers.conversation_id = Some(ConversationId::new(conversation));
    msg.headers.contribution_id = Some(ContributionId::new(contribution));
    msg
}

/// B answers the relayed MESSAGE; A gets the same answer.
fn answer_relay(w: &mut World, at_b: &Request, status: StatusCode) {
    w.h.send(&w.b, w.b.response(at_b, status, &Tag::new("b")));
    w.h.expect_response(&w.a, status);
}

/// PAGER-1: the standalone message is durable before the recipient sees it; its
/// sender is the authenticated user, never the CPIM From; a retransmission while
/// the store works is absorbed (one record).
#[test]
fn pager_cpim_message_is_stored_before_it_is_relayed() {
    let mut w = World::new();
    w.h.store_mode = StoreMode::Manual;
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), CPIM_TEXT);
    let msg = cpm_headers(msg, "conv-1", "contrib-1");
    w.h.send(&w.a, msg.clone());
    w.h.expect_nothing(&w.b);
    w.h.expect_nothing(&w.a);
    w.h.send(&w.a, msg.clone());
    assert_eq!(w.h.store_queue.len(), 1, "the retransmission is absorbed");
    w.h.store_answer(true);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    assert!(
        w.h.log_index("persist") < w.h.log_index("server -> 10.0.0.2:5060: MESSAGE"),
        "stored before relayed"
    );
    assert_eq!(at_b.body, msg.body);
    assert_eq!(at_b.headers.content_type, msg.headers.content_type);
    assert_eq!(at_b.headers.conversation_id, msg.headers.conversation_id);
    assert_eq!(at_b.headers.contribution_id, msg.headers.contribution_id);
    let expected = StandaloneMessage {
        conversation_id: ConversationId::new("conv-1"),
        contribution_id: Some(ContributionId::new("contrib-1")),
        sender: w.a.user(),
        recipients: vec![w.b.user()],
        message_id: MessageId::new("pm-1"),
        content_type: "message/cpim".into(),
        body: CPIM_TEXT.as_bytes().to_vec(),
    };
    assert_eq!(w.h.stored, [Record::Standalone(expected)]);
    answer_relay(&mut w, &at_b, StatusCode::OK);
}

/// PAGER-2: the store fails → 500 to the sender, nothing relayed, nothing recorded.
#[test]
fn pager_store_failure_gives_500_and_nothing_is_relayed() {
    let mut w = World::new();
    w.h.store_mode = StoreMode::Manual;
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&w.a, msg);
    w.h.store_answer(false);
    w.h.expect_response(&w.a, StatusCode::SERVER_INTERNAL_ERROR);
    w.h.expect_nothing(&w.b);
    assert!(w.h.stored.is_empty());
}

/// PAGER-4: an IMDN by pager is recorded as a disposition of the original message,
/// reported by the authenticated sender; without a Conversation-ID the server gives
/// one, and the recipient sees that one too. Then relayed like any pager message.
#[test]
fn pager_imdn_is_recorded_as_a_disposition() {
    let mut w = World::new();
    let body = imdn_cpim("pm-1", "displayed");
    let msg = pager(&mut w.b, &w.a, ("message", "cpim"), &body);
    w.h.send(&w.b, msg);
    let at_a = w.h.expect_request(&w.a, Method::Message);
    let Some(conversation_id) = at_a.headers.conversation_id.clone() else {
        panic!("the relayed IMDN carries the server's Conversation-ID");
    };
    let expected = DispositionRecord {
        conversation_id,
        contribution_id: None,
        message_id: MessageId::new("pm-1"),
        recipient: w.b.user(),
        disposition: Disposition::Displayed,
    };
    assert_eq!(w.h.stored, [Record::Disposition(expected)]);
    assert_eq!(at_a.body, body.as_bytes());
    w.h.send(&w.a, w.a.response(&at_a, StatusCode::OK, &Tag::new("a")));
    w.h.expect_response(&w.b, StatusCode::OK);
}

/// PAGER-4: the IMDN of a message of a live session keeps that session's
/// Contribution-ID; a negative display notification is recorded as `Failed`.
#[test]
fn pager_imdn_for_a_session_message_names_the_session() {
    let mut w = World::new();
    let call = establish(&mut w);
    let body = imdn_cpim("chat-7", "error");
    let msg = pager(&mut w.b, &w.a, ("message", "cpim"), &body);
    let msg = cpm_headers(msg, &call.conversation, call.contribution.as_str());
    w.h.send(&w.b, msg);
    w.h.expect_request(&w.a, Method::Message);
    let Some(Record::Disposition(d)) = w.h.stored.last() else {
        panic!("a disposition was stored: {:?}", w.h.stored);
    };
    assert_eq!(d.contribution_id.as_ref(), Some(&call.contribution));
    assert_eq!(d.conversation_id.as_str(), call.conversation);
    assert_eq!(d.message_id.as_str(), "chat-7");
    assert_eq!(d.recipient, w.b.user());
    assert_eq!(d.disposition, Disposition::Failed);
}

/// A body that is not CPIM is stored too, with its content type; without an IMDN
/// Message-ID the SIP Call-ID names the message.
#[test]
fn pager_plain_text_is_stored_with_its_call_id() {
    let mut w = World::new();
    let msg = pager(&mut w.a, &w.b, ("text", "plain"), "plain hello");
    let call_id = msg.headers.call_id.as_str().to_owned();
    w.h.send(&w.a, msg);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    let Some(Record::Standalone(m)) = w.h.stored.first() else {
        panic!("a standalone message was stored: {:?}", w.h.stored);
    };
    assert_eq!(m.message_id.as_str(), call_id);
    assert_eq!(m.content_type, "text/plain");
    assert_eq!(m.body, b"plain hello");
    assert_eq!(m.contribution_id, None);
    assert_eq!(
        Some(&m.conversation_id),
        at_b.headers.conversation_id.as_ref()
    );
    answer_relay(&mut w, &at_b, StatusCode::ACCEPTED);
}

/// PAGER-3: refused MESSAGEs are neither stored nor relayed: unreadable CPIM or IMDN
/// (400), a recipient that is not registered (480), an unauthenticated sender (403).
#[test]
fn pager_refused_messages_are_not_stored() {
    let mut w = World::new();
    let bad_cpim = "From: <sip:a@example.com>\r\n\r\nContent-Type: text/plain\r\nhi";
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), bad_cpim);
    w.h.send(&w.a, msg);
    w.h.expect_response(&w.a, StatusCode::BAD_REQUEST);
    let bad_imdn = imdn_cpim("pm-1", "delivered");
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), &bad_imdn);
    w.h.send(&w.a, msg);
    w.h.expect_response(&w.a, StatusCode::BAD_REQUEST);
    let mut dave = Ua::new("dave", 4, crate::server::Transport::Udp);
    let msg = pager(&mut w.a, &dave, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&w.a, msg);
    w.h.expect_response(&w.a, StatusCode::TEMPORARILY_UNAVAILABLE);
    let msg = pager(&mut dave, &w.b, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&dave, msg);
    w.h.expect_response(&dave, StatusCode::FORBIDDEN);
    w.h.expect_nothing(&w.b);
    assert!(w.h.stored.is_empty(), "{:?}", w.h.stored);
}

/// PAGER-1 over TCP: the recipient's connection closed while the store worked; the
/// server reconnects only once the record is durable, and relays over the new
/// connection. A failed store opens nothing.
#[test]
fn pager_reaches_a_closed_tcp_recipient_after_the_store() {
    let mut w = World::with(Harness::new(), crate::server::Transport::Tcp);
    w.h.store_mode = StoreMode::Manual;
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&w.a, msg);
    w.h.server.handle_closed(w.h.now, w.b.flow().conn);
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&w.a, msg);
    assert!(
        w.h.connects.is_empty(),
        "nothing opened before the store answers"
    );
    w.h.store_answer(false);
    w.h.expect_response(&w.a, StatusCode::SERVER_INTERNAL_ERROR);
    assert!(w.h.connects.is_empty(), "nothing opened for a failed store");
    w.h.store_answer(true);
    let (conn, peer) = *w.h.connects.first().expect("a Connect for B");
    assert_eq!(peer, w.b.addr);
    w.h.expect_request(&w.b, Method::Message);
    assert_eq!(w.h.sent_flows.last().map(|f| f.conn), Some(conn));
}

/// PAGER-1 from the bytes up: a MESSAGE datagram whose CPIM body declares the IMDN
/// namespace under another prefix (`rcs.`, corpus file `03`) is stored under the
/// NS-resolved Message-ID, not the decoy `imdn.Message-ID`.
#[test]
fn pager_datagram_with_ns_prefixed_message_id() {
    let mut w = World::new();
    let body: &[u8] = include_bytes!("../../tests/corpus/cpim/03-ns-other-prefix.cpim");
    let mut datagram = format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKraw1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=raw1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: raw-call-1\r\n\
         CSeq: 1 MESSAGE\r\n\
         Conversation-ID: conv-raw\r\n\
         Content-Type: message/cpim\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    datagram.extend_from_slice(body);
    w.h.send_bytes(&w.a, &datagram);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    assert_eq!(at_b.body, body);
    let Some(Record::Standalone(m)) = w.h.stored.first() else {
        panic!("a standalone message was stored: {:?}", w.h.stored);
    };
    assert_eq!(m.message_id.as_str(), "7da2c5a1-real");
    assert_eq!(m.conversation_id.as_str(), "conv-raw");
    assert_eq!(m.sender, w.a.user());
    assert_eq!(m.recipients, [w.b.user()]);
    assert_eq!(m.content_type, "message/cpim");
    assert_eq!(m.body, body);
}

/// SEC-3: a pager MESSAGE whose CPIM From names another user (display name or not)
/// is refused 403 and neither stored nor relayed; the sender's own identity in
/// another form (display name, `sips:`, host case) and an anonymous From pass. An
/// IMDN whose `<recipient-uri>` is someone else is refused the same way.
#[test]
fn sec_3_pager_cpim_from_must_be_the_sender() {
    let mut w = World::new();
    let posing = CPIM_TEXT.replace(
        "From: <sip:anonymous@anonymous.invalid>",
        "From: Alice <sip:carol@example.com>",
    );
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), &posing);
    w.h.send(&w.a, msg);
    let refused = w.h.expect_response(&w.a, StatusCode::FORBIDDEN);
    assert_eq!(refused.reason, "CPIM From is not the sender");
    w.h.expect_nothing(&w.b);
    assert!(w.h.stored.is_empty(), "{:?}", w.h.stored);

    let own = CPIM_TEXT.replace(
        "From: <sip:anonymous@anonymous.invalid>",
        "From: \"Someone Else\" <sips:alice@EXAMPLE.com>",
    );
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), &own);
    w.h.send(&w.a, msg);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    answer_relay(&mut w, &at_b, StatusCode::OK);
    assert_eq!(w.h.stored.len(), 1);

    let forged = imdn_cpim("pm-1", "displayed").replace(
        "<message-id>pm-1</message-id>",
        "<message-id>pm-1</message-id><recipient-uri>sip:carol@example.com</recipient-uri>",
    );
    let msg = pager(&mut w.b, &w.a, ("message", "cpim"), &forged);
    w.h.send(&w.b, msg);
    let refused = w.h.expect_response(&w.b, StatusCode::FORBIDDEN);
    assert_eq!(refused.reason, "IMDN not from a recipient");
    w.h.expect_nothing(&w.a);
    assert_eq!(w.h.stored.len(), 1, "{:?}", w.h.stored);
}

/// PAGER-5: an is-composing indication (RFC 3994) by pager, bare or in CPIM, is
/// relayed but not stored.
#[test]
fn pager_is_composing_is_relayed_not_stored() {
    let mut w = World::new();
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state>\
        </isComposing>";
    let wrapped = format!(
        "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
         DateTime: 2026-11-26T12:00:00Z\r\n\r\n\
         Content-Type: application/im-iscomposing+xml\r\n\r\n{xml}"
    );
    for (ct, body) in [
        (("application", "im-iscomposing+xml"), xml.to_owned()),
        (("message", "cpim"), wrapped),
    ] {
        let msg = pager(&mut w.a, &w.b, ct, &body);
        w.h.send(&w.a, msg);
        let at_b = w.h.expect_request(&w.b, Method::Message);
        assert_eq!(at_b.body, body.as_bytes());
        answer_relay(&mut w, &at_b, StatusCode::OK);
    }
    assert!(w.h.stored.is_empty(), "{:?}", w.h.stored);
}

/// PAGER-6: a MESSAGE goes to every device of the recipient; the sender gets the
/// first 2xx (a later answer changes nothing), or, when every device failed, the
/// best failure (a 6xx before a 4xx).
#[test]
fn pager_message_forks_to_every_device() {
    let mut w = World::new();
    let mut tablet = Ua::new("bob", 12, crate::server::Transport::Udp);
    w.h.register(&mut tablet);
    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&w.a, msg);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    let at_tablet = w.h.expect_request(&tablet, Method::Message);
    assert_eq!(at_b.body, at_tablet.body);
    w.h.send(
        &tablet,
        tablet.response(&at_tablet, StatusCode::BUSY_HERE, &Tag::new("t")),
    );
    w.h.expect_nothing(&w.a);
    w.h.send(&w.b, w.b.response(&at_b, StatusCode::OK, &Tag::new("b")));
    w.h.expect_response(&w.a, StatusCode::OK);
    w.h.expect_nothing(&w.a);

    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&w.a, msg);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    let at_tablet = w.h.expect_request(&tablet, Method::Message);
    w.h.send(&w.b, w.b.response(&at_b, StatusCode::OK, &Tag::new("b")));
    w.h.expect_response(&w.a, StatusCode::OK);
    w.h.send(
        &tablet,
        tablet.response(&at_tablet, StatusCode::BUSY_HERE, &Tag::new("t")),
    );
    w.h.expect_nothing(&w.a);

    let msg = pager(&mut w.a, &w.b, ("message", "cpim"), CPIM_TEXT);
    w.h.send(&w.a, msg);
    let at_b = w.h.expect_request(&w.b, Method::Message);
    let at_tablet = w.h.expect_request(&tablet, Method::Message);
    w.h.send(
        &w.b,
        w.b.response(&at_b, StatusCode::BUSY_HERE, &Tag::new("b")),
    );
    w.h.send(
        &tablet,
        tablet.response(&at_tablet, StatusCode::DECLINE, &Tag::new("t")),
    );
    w.h.expect_response(&w.a, StatusCode::DECLINE);
}
