//! Group features beyond the roster (specs/group.md, GRP-30..): the `Allow` cpmd
//! advertises, group invitations forked to every device of a user, resource-list
//! REFERs and the subject change.

use super::flows::*;
use super::util::*;
use crate::ids::Tag;
use crate::server::Transport;
use crate::sip::{Method, Request, SipMessage, StatusCode};
use crate::uri::UserUri;

fn allow_of(headers: &crate::sip::Headers) -> Vec<String> {
    headers
        .other("Allow")
        .unwrap_or_default()
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect()
}

/// GRP-30: OPTIONS, the focus's 200 and its INVITEs list SUBSCRIBE, NOTIFY and
/// REFER; a 405 never lists the method it refused.
#[test]
fn allow_lists_subscribe_notify_and_refer() {
    let mut w = World::new();
    let to = w.b.uri();
    let req = w.a.request(Method::Options, to.clone(), to.clone());
    w.h.send(&w.a, req);
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let allow = allow_of(&ok.headers);
    for m in ["INVITE", "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER"] {
        assert!(allow.iter().any(|a| a == m), "{m} in {allow:?}");
    }

    let req = w.a.request(Method::Subscribe, to.clone(), to);
    w.h.send(&w.a, req);
    let refused = w.h.expect_response(&w.a, StatusCode::METHOD_NOT_ALLOWED);
    let allow = allow_of(&refused.headers);
    assert!(!allow.iter().any(|a| a == "SUBSCRIBE"), "{allow:?}");
    assert!(allow.iter().any(|a| a == "REFER"), "{allow:?}");

    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    for headers in [&ext.a_ok.headers, &ext.c_group_invite.headers] {
        let allow = allow_of(headers);
        assert!(
            ["SUBSCRIBE", "REFER"]
                .iter()
                .all(|m| allow.iter().any(|a| a == m)),
            "{allow:?}"
        );
    }
}

/// B ends the replaced 1-to-1, then A and B leave the group: the sealed group's
/// participants and their final states.
fn end_group(w: &mut World, ext: Extended, b_group: &mut UaDialog) -> Vec<(UserUri, String)> {
    let mut call = ext.call;
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    let a_bye = w.h.expect_request(&w.a, Method::Bye);
    w.h.send(&w.a, answer(&w.a, &a_bye, StatusCode::OK));
    w.h.expect_response(&w.b, StatusCode::OK);
    let mut a_group = ext.a_group;
    let bye = w.a.in_dialog(&mut a_group, Method::Bye);
    w.h.send(&w.a, bye);
    // A may be a subscriber: its NOTIFYs (answered) come before or after the 200.
    loop {
        match w.h.next(&w.a) {
            Some(SipMessage::Request(n)) if n.method == Method::Notify => {
                let tag = n.headers.to.tag().expect("the subscriber's tag");
                w.h.send(&w.a, w.a.response(&n, StatusCode::OK, &tag));
            }
            Some(SipMessage::Response(r)) if r.status == StatusCode::OK => break,
            other => panic!("A expected the 200 to its BYE, got {other:?}"),
        }
    }
    let bye = w.b.in_dialog(b_group, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_response(&w.b, StatusCode::OK);
    let g = w.h.sealed.last().expect("the group sealed");
    g.participants
        .iter()
        .map(|p| (p.user.clone(), p.state.clone()))
        .collect()
}

/// A group with carol registered on two devices; B joined. Returns the extension,
/// B's tag, carol's second device and the INVITE it got.
fn group_with_two_carols(w: &mut World) -> (Extended, Tag, Ua, Request) {
    let mut c2 = Ua::new("carol", 13, Transport::Udp);
    w.h.register(&mut c2);
    let ext = extend(w, ReplaceForm::SessionReplaces);
    let at_c2 = w.h.expect_request(&c2, Method::Invite);
    assert_ne!(
        ext.c_group_invite.headers.call_id, at_c2.headers.call_id,
        "one leg per device"
    );
    assert_eq!(
        ext.c_group_invite.headers.contribution_id, at_c2.headers.contribution_id,
        "both devices are invited to the same group"
    );
    let b_tag = Tag::new("bg");
    w.h.send(
        &w.b,
        w.b.response(&ext.b_group_invite, StatusCode::OK, &b_tag),
    );
    w.h.expect_request(&w.b, Method::Ack);
    (ext, b_tag, c2, at_c2)
}

/// GRP-31: the group INVITE rings every device of carol; the first 2xx joins her on
/// that device and the other is CANCELled; its 2xx crossing the CANCEL is ACKed and
/// ended with BYE; the group's messages reach carol once, on the winning device.
#[test]
fn group_invite_forks_to_every_device_and_the_first_answer_joins() {
    let mut w = World::new();
    let (ext, b_tag, c2, at_c2) = group_with_two_carols(&mut w);
    w.h.send(&c2, c2.response(&at_c2, StatusCode::OK, &Tag::new("c2")));
    w.h.expect_request(&c2, Method::Ack);
    let cancel = w.h.expect_request(&w.c, Method::Cancel);
    assert_eq!(cancel.headers.call_id, ext.c_group_invite.headers.call_id);
    w.h.send(&w.c, answer(&w.c, &cancel, StatusCode::OK));
    // Carol's first device answered 200 before it saw the CANCEL.
    w.h.send(
        &w.c,
        w.c.response(&ext.c_group_invite, StatusCode::OK, &Tag::new("c1")),
    );
    w.h.expect_request(&w.c, Method::Ack);
    w.h.expect_request(&w.c, Method::Bye);

    let contribution = ext.ext_invite.headers.contribution_id.clone().unwrap();
    w.h.chat(&w.a, &contribution, "m1", "hello group");
    let to_carol = w.h.delivered.get(&w.c.user()).map_or(0, Vec::len);
    assert_eq!(to_carol, 1, "carol gets the message once");
    // Carol's leg is the winning device's: her BYE from there is her departure.
    let mut c_group = UaDialog::callee(&at_c2, &Tag::new("c2"));
    let bye = c2.clone().in_dialog(&mut c_group, Method::Bye);
    w.h.send(&c2, bye);
    w.h.expect_response(&c2, StatusCode::OK);
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let states = end_group(&mut w, ext, &mut b_group);
    assert!(states.contains(&(w.c.user(), "left".into())), "{states:?}");
}

/// GRP-31, GRP-7: carol is `declined` only when every device failed and one
/// refused; a device's failure alone changes nothing.
#[test]
fn every_device_failing_declines_the_invitation() {
    let mut w = World::new();
    let (ext, b_tag, c2, at_c2) = group_with_two_carols(&mut w);
    w.h.send(
        &w.c,
        w.c.response(&ext.c_group_invite, StatusCode::DECLINE, &Tag::new("c1")),
    );
    w.h.expect_request(&w.c, Method::Ack);
    w.h.expect_nothing(&c2);
    w.h.send(
        &c2,
        c2.response(&at_c2, StatusCode::TEMPORARILY_UNAVAILABLE, &Tag::new("c2")),
    );
    w.h.expect_request(&c2, Method::Ack);
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let states = end_group(&mut w, ext, &mut b_group);
    assert!(
        states.contains(&(w.c.user(), "declined".into())),
        "{states:?}"
    );
}

/// A terminal's answer to a request it received (To as received: the server's tag).
fn answer(ua: &Ua, req: &Request, status: StatusCode) -> crate::sip::Response {
    let mut resp = ua.response(req, status, &Tag::new("x"));
    resp.headers.to = req.headers.to.clone();
    resp
}

/// The next NOTIFY to `ua` of `event`, answered 200: (Subscription-State, body).
fn next_event(w: &mut World, ua: &Ua, event: &str) -> (String, String) {
    let n = w.h.expect_request(ua, Method::Notify);
    assert_eq!(n.headers.other("Event"), Some(event), "{n:?}");
    let tag = n.headers.to.tag().expect("the subscriber's tag");
    w.h.send(ua, ua.response(&n, StatusCode::OK, &tag));
    (
        n.headers
            .other("Subscription-State")
            .unwrap_or("")
            .to_owned(),
        String::from_utf8(n.body.clone()).expect("utf-8"),
    )
}

fn list_xml(users: &[&str]) -> String {
    let entries: String = users
        .iter()
        .map(|u| format!("<entry uri=\"sip:{u}@example.com\"/>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<resource-lists \
         xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>{entries}</list></resource-lists>\r\n"
    )
}

/// A REFER to the focus whose Refer-To is `cid:` naming a multipart part with
/// Content-ID `part_cid` holding a resource list of `users` (RFC 5368).
fn list_refer(
    ua: &mut Ua,
    focus: &crate::uri::Uri,
    refer_cid: &str,
    part_cid: &str,
    users: &[&str],
) -> Request {
    let mut req = ua.request(Method::Refer, focus.clone(), focus.clone());
    let h = &mut req.headers;
    h.other
        .push(("Refer-To".into(), format!("<cid:{refer_cid}>")));
    h.require.push("multiple-refer".into());
    let mut ct = crate::sip::MediaType::new("multipart", "mixed");
    ct.params
        .push(crate::uri::Param::new("boundary", Some("rl1")));
    h.content_type = Some(ct);
    req.body = format!(
        "--rl1\r\nContent-Type: application/resource-lists+xml\r\n\
         Content-Disposition: recipient-list\r\nContent-ID: <{part_cid}>\r\n\r\n{}\r\n--rl1--\r\n",
        list_xml(users)
    )
    .into_bytes();
    req
}

/// GRP-32: a REFER naming a resource list invites each listed user not in the group
/// (bob, already joined, is not invited again); the referrer gets `100`, then one
/// final `200` once each has an outcome (dave joined, erin declined); subscribers
/// see each. A `cid:` naming no part is a 400.
#[test]
fn resource_list_refer_invites_each_listed_user() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let focus = ext.a_ok.headers.contact[0].uri.clone();
    let b_tag = Tag::new("bg");
    w.h.send(
        &w.b,
        w.b.response(&ext.b_group_invite, StatusCode::OK, &b_tag),
    );
    w.h.expect_request(&w.b, Method::Ack);
    let mut dave = Ua::new("dave", 4, w.a.transport);
    w.h.register(&mut dave);
    let mut erin = Ua::new("erin", 5, w.a.transport);
    w.h.register(&mut erin);

    let req = list_refer(&mut w.a, &focus, "list1@a", "other@a", &["dave", "erin"]);
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::BAD_REQUEST);
    w.h.expect_nothing(&dave);

    let req = list_refer(
        &mut w.a,
        &focus,
        "list1@a",
        "list1@a",
        &["bob", "dave", "erin"],
    );
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::ACCEPTED);
    let a = w.a.clone();
    let (state, frag) = next_event(&mut w, &a, "refer");
    assert!(
        state.starts_with("active") && frag.starts_with("SIP/2.0 100"),
        "{frag}"
    );
    w.h.expect_nothing(&w.b);
    let d_invite = w.h.expect_request(&dave, Method::Invite);
    let e_invite = w.h.expect_request(&erin, Method::Invite);
    assert!(d_invite
        .headers
        .referred_by
        .as_ref()
        .is_some_and(|r| r.uri == w.a.uri()));
    w.h.send(
        &dave,
        dave.response(&d_invite, StatusCode::OK, &Tag::new("dg")),
    );
    w.h.expect_request(&dave, Method::Ack);
    w.h.expect_nothing(&w.a);
    w.h.send(
        &erin,
        erin.response(&e_invite, StatusCode::DECLINE, &Tag::new("eg")),
    );
    w.h.expect_request(&erin, Method::Ack);
    let (state, frag) = next_event(&mut w, &a, "refer");
    assert_eq!(state, "terminated;reason=noresource");
    assert!(frag.starts_with("SIP/2.0 200"), "{frag}");
    let group = ext.ext_invite.headers.contribution_id.clone().unwrap();
    w.h.chat(&w.a, &group, "g1", "welcome dave");
    assert!(w.h.delivered[&dave.user()]
        .iter()
        .any(|m| m.message_id.as_str() == "g1"));
    assert!(!w.h.delivered.contains_key(&erin.user()));
}

/// GRP-33: B's UPDATE in its group dialog with a new `Subject` is answered 200, the
/// subscribers get a partial NOTIFY carrying only the new subject, the same subject
/// again changes nothing, and the group's history keeps the new subject.
#[test]
fn a_participant_changes_the_subject() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let focus = ext.a_ok.headers.contact[0].uri.clone();
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
    let mut sub = w.a.request(Method::Subscribe, focus.clone(), focus);
    sub.headers
        .other
        .push(("Event".into(), "conference".into()));
    w.h.send(&w.a, sub);
    w.h.expect_response(&w.a, StatusCode::OK);
    let a = w.a.clone();
    next_event(&mut w, &a, "conference");

    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    for _ in 0..2 {
        let mut update = w.b.in_dialog(&mut b_group, Method::Update);
        update
            .headers
            .other
            .push(("Subject".into(), "Weekend & <plans>".into()));
        w.h.send(&w.b, update);
        w.h.expect_response(&w.b, StatusCode::OK);
    }
    let (_, doc) = next_event(&mut w, &a, "conference");
    assert!(doc.contains("state=\"partial\""), "{doc}");
    assert!(
        doc.contains("<subject>Weekend &amp; &lt;plans&gt;</subject>"),
        "{doc}"
    );
    assert!(
        !doc.contains("<user "),
        "a subject change names no user: {doc}"
    );
    w.h.expect_nothing(&w.a);
    let states = end_group(&mut w, ext, &mut b_group);
    assert!(states.contains(&(w.b.user(), "left".into())), "{states:?}");
    let g = w.h.sealed.last().expect("sealed");
    assert_eq!(g.info.subject.as_deref(), Some("Weekend & <plans>"));
}
