//! The conference event package of a group's focus (specs/group.md, GRP-10..GRP-13):
//! SUBSCRIBE by participants only, full then partial NOTIFYs in version order,
//! refresh, `Expires: 0`, expiry, and the terminated NOTIFY when the group ends.

use super::flows::*;
use super::util::*;
use crate::ids::Tag;
use crate::sip::{Method, Request, Response, StatusCode};
use crate::uri::Uri;

/// The focus URI A talks to (the Contact of the focus's 200).
fn focus(ext: &Extended) -> Uri {
    ext.a_ok.headers.contact[0].uri.clone()
}

fn subscribe(ua: &mut Ua, target: &Uri, event: &str, expires: Option<u32>) -> Request {
    let mut req = ua.request(Method::Subscribe, target.clone(), target.clone());
    req.headers.other.push(("Event".into(), event.into()));
    req.headers
        .other
        .push(("Accept".into(), "application/conference-info+xml".into()));
    req.headers.expires = expires;
    req
}

/// The next NOTIFY to `ua`, answered 200: its Subscription-State and body.
fn next_notify(w: &mut World, who: char) -> (String, String) {
    let ua = match who {
        'a' => w.a.clone(),
        'b' => w.b.clone(),
        _ => w.c.clone(),
    };
    let n = w.h.expect_request(&ua, Method::Notify);
    assert_eq!(n.headers.other("Event"), Some("conference"));
    let ct = n.headers.content_type.as_ref().expect("a Content-Type");
    assert_eq!(
        (ct.kind.as_str(), ct.subtype.as_str()),
        ("application", "conference-info+xml")
    );
    assert!(
        n.headers
            .contact
            .first()
            .is_some_and(|c| c.params.iter().any(|p| p.name == "isfocus")),
        "the NOTIFY's Contact is the focus"
    );
    let tag = n.headers.to.tag().expect("the subscriber's tag");
    w.h.send(&ua, ua.response(&n, StatusCode::OK, &tag));
    (
        n.headers
            .other("Subscription-State")
            .unwrap_or("")
            .to_owned(),
        String::from_utf8(n.body.clone()).expect("utf-8"),
    )
}

fn user_block<'a>(doc: &'a str, user: &str) -> Option<&'a str> {
    let start = doc.find(&format!("<user entity=\"sip:{user}@example.com\""))?;
    let end = doc[start..].find("</user>")? + start;
    Some(&doc[start..end])
}

/// GRP-10, GRP-12, GRP-11, GRP-13 in one group's life.
#[test]
fn participants_subscribe_and_see_every_change_in_order() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let focus = focus(&ext);
    let b_tag = Tag::new("bg");
    w.h.send(
        &w.b,
        w.b.response(&ext.b_group_invite, StatusCode::OK, &b_tag),
    );
    w.h.expect_request(&w.b, Method::Ack);

    // GRP-10: someone who is not a participant is refused; so is another package and
    // a focus URI naming no group.
    let mut dave = Ua::new("dave", 4, w.a.transport);
    w.h.register(&mut dave);
    let req = subscribe(&mut dave, &focus, "conference", None);
    w.h.send(&dave, req);
    w.h.expect_response(&dave, StatusCode::FORBIDDEN);
    let req = subscribe(&mut w.a, &focus, "presence", None);
    w.h.send(&w.a, req);
    let bad = w.h.expect_response(&w.a, StatusCode::BAD_EVENT);
    assert_eq!(bad.headers.other("Allow-Events"), Some("conference"));
    let nowhere = sip_uri("conf-none", DOMAIN);
    let req = subscribe(&mut w.a, &nowhere, "conference", None);
    w.h.send(&w.a, req);
    w.h.expect_response(&w.a, StatusCode::NOT_FOUND);

    // GRP-10: A subscribes: 200 with the granted Expires, then the full state.
    let sub = subscribe(&mut w.a, &focus, "conference", Some(600));
    w.h.send(&w.a, sub.clone());
    let ok: Response = w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(ok.headers.expires, Some(600));
    let (state, doc) = next_notify(&mut w, 'a');
    assert_eq!(state, "active;expires=600");
    assert!(doc.contains("state=\"full\" version=\"1\""), "{doc}");
    let alice = user_block(&doc, "alice").expect("alice listed");
    assert!(alice.contains("<status>connected</status>") && alice.contains("chairman"));
    assert!(user_block(&doc, "bob").is_some_and(|b| b.contains("<status>connected")));
    assert!(user_block(&doc, "carol").is_some_and(|c| c.contains("<status>pending")));
    assert!(doc.contains("<user-count>2</user-count>"), "{doc}");

    // GRP-12: C declines, B leaves: one partial NOTIFY each, in order, naming only them.
    w.h.send(
        &w.c,
        w.c.response(&ext.c_group_invite, StatusCode::DECLINE, &Tag::new("cg")),
    );
    w.h.expect_request(&w.c, Method::Ack);
    let (_, doc) = next_notify(&mut w, 'a');
    assert!(doc.contains("state=\"partial\" version=\"2\""), "{doc}");
    assert!(user_block(&doc, "alice").is_none() && user_block(&doc, "bob").is_none());
    let carol = user_block(&doc, "carol").expect("carol");
    assert!(
        carol.contains("disconnected") && carol.contains("busy"),
        "{carol}"
    );
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let bye = w.b.in_dialog(&mut b_group, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_response(&w.b, StatusCode::OK);
    let (_, doc) = next_notify(&mut w, 'a');
    assert!(doc.contains("version=\"3\""), "{doc}");
    let bob = user_block(&doc, "bob").expect("bob");
    assert!(
        bob.contains("disconnected") && bob.contains("departed"),
        "{bob}"
    );

    // GRP-11: a refresh gets the full state again; Expires: 0 ends it (terminated).
    let mut sub_dialog = UaDialog::caller(&sub, &ok);
    let mut refresh = w.a.in_dialog(&mut sub_dialog, Method::Subscribe);
    refresh
        .headers
        .other
        .push(("Event".into(), "conference".into()));
    refresh.headers.expires = Some(300);
    w.h.send(&w.a, refresh);
    let ok2 = w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(ok2.headers.expires, Some(300));
    let (state, doc) = next_notify(&mut w, 'a');
    assert_eq!(state, "active;expires=300");
    assert!(doc.contains("state=\"full\" version=\"4\""), "{doc}");
    let mut end = w.a.in_dialog(&mut sub_dialog, Method::Subscribe);
    end.headers
        .other
        .push(("Event".into(), "conference".into()));
    end.headers.expires = Some(0);
    w.h.send(&w.a, end);
    w.h.expect_response(&w.a, StatusCode::OK);
    let (state, doc) = next_notify(&mut w, 'a');
    assert_eq!(state, "terminated;reason=timeout");
    assert!(doc.contains("version=\"5\""), "{doc}");
    let mut again = w.a.in_dialog(&mut sub_dialog, Method::Subscribe);
    again
        .headers
        .other
        .push(("Event".into(), "conference".into()));
    w.h.send(&w.a, again);
    w.h.expect_response(&w.a, StatusCode::CALL_DOES_NOT_EXIST);

    // GRP-11: an unrefreshed subscription expires with a terminated NOTIFY.
    let short = subscribe(&mut w.a, &focus, "conference", Some(2));
    w.h.send(&w.a, short);
    w.h.expect_response(&w.a, StatusCode::OK);
    let (state, _) = next_notify(&mut w, 'a');
    assert_eq!(state, "active;expires=2");
    w.h.advance(2_000);
    let (state, doc) = next_notify(&mut w, 'a');
    assert_eq!(state, "terminated;reason=timeout");
    assert!(
        doc.contains("version=\"2\""),
        "a new subscription counts anew: {doc}"
    );

    // GRP-13: A subscribes again and leaves last: its own departure, then the
    // terminated NOTIFY, then the 200 to its BYE once the group is sealed.
    let last = subscribe(&mut w.a, &focus, "conference", None);
    w.h.send(&w.a, last);
    let ok3 = w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(ok3.headers.expires, Some(3600));
    next_notify(&mut w, 'a');
    let mut a_group = ext.a_group;
    let bye = w.a.in_dialog(&mut a_group, Method::Bye);
    w.h.send(&w.a, bye);
    let (state, doc) = next_notify(&mut w, 'a');
    assert!(state.starts_with("active"), "{state}");
    assert!(user_block(&doc, "alice").is_some_and(|a| a.contains("departed")));
    let (state, _) = next_notify(&mut w, 'a');
    assert_eq!(state, "terminated;reason=noresource");
    w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(w.h.sealed.len(), 1, "the group is sealed (GRP-4)");
    // The ended group's focus answers no more subscriptions.
    let late = subscribe(&mut w.a, &focus, "conference", None);
    w.h.send(&w.a, late);
    w.h.expect_response(&w.a, StatusCode::NOT_FOUND);
}

/// The next NOTIFY to `ua` of package `event`, answered 200: (state, body).
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

fn refer_to(req: &mut Request, target: &str) {
    req.headers.other.push(("Refer-To".into(), target.into()));
}

/// GRP-14: a participant's REFER adds a user (202, sipfrag NOTIFYs, the invitation,
/// subscribers told, the new participant gets the group's next messages). GRP-15:
/// only the chairman removes (others 403); the removed one gets a BYE and nothing
/// more.
#[test]
fn refer_adds_a_participant_and_the_chairman_removes_one() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let focus = focus(&ext);
    let b_tag = Tag::new("bg");
    w.h.send(
        &w.b,
        w.b.response(&ext.b_group_invite, StatusCode::OK, &b_tag),
    );
    w.h.expect_request(&w.b, Method::Ack);
    let c_tag = Tag::new("cg");
    w.h.send(
        &w.c,
        w.c.response(&ext.c_group_invite, StatusCode::OK, &c_tag),
    );
    w.h.expect_request(&w.c, Method::Ack);
    let mut dave = Ua::new("dave", 4, w.a.transport);
    w.h.register(&mut dave);
    let mut erin = Ua::new("erin", 5, w.a.transport);
    w.h.register(&mut erin);
    let sub = subscribe(&mut w.a, &focus, "conference", None);
    w.h.send(&w.a, sub);
    w.h.expect_response(&w.a, StatusCode::OK);
    let a = w.a.clone();
    next_event(&mut w, &a, "conference");

    // GRP-14: someone outside the group cannot add; B (a participant) can, in its
    // group dialog.
    let mut req = erin.request(Method::Refer, focus.clone(), focus.clone());
    refer_to(&mut req, "<sip:dave@example.com>");
    w.h.send(&erin, req);
    w.h.expect_response(&erin, StatusCode::FORBIDDEN);
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let mut refer = w.b.in_dialog(&mut b_group, Method::Refer);
    refer_to(&mut refer, "<sip:dave@example.com>");
    w.h.send(&w.b, refer);
    w.h.expect_response(&w.b, StatusCode::ACCEPTED);
    let b = w.b.clone();
    let (state, frag) = next_event(&mut w, &b, "refer");
    assert!(
        state.starts_with("active") && frag.starts_with("SIP/2.0 100"),
        "{frag}"
    );
    let (_, doc) = next_event(&mut w, &a, "conference");
    assert!(
        user_block(&doc, "dave").is_some_and(|d| d.contains("pending")),
        "{doc}"
    );
    let d_invite = w.h.expect_request(&dave, Method::Invite);
    assert!(d_invite
        .headers
        .referred_by
        .as_ref()
        .is_some_and(|r| r.uri == w.b.uri()));
    let d_tag = Tag::new("dg");
    w.h.send(&dave, dave.response(&d_invite, StatusCode::OK, &d_tag));
    w.h.expect_request(&dave, Method::Ack);
    let (_, doc) = next_event(&mut w, &a, "conference");
    assert!(
        user_block(&doc, "dave").is_some_and(|d| d.contains("connected")),
        "{doc}"
    );
    let (state, frag) = next_event(&mut w, &b, "refer");
    assert_eq!(state, "terminated;reason=noresource");
    assert!(frag.starts_with("SIP/2.0 200"), "{frag}");
    let group = crate::ids::ContributionId::new(GROUP_CONTRIBUTION);
    w.h.chat(&w.a, &group, "g1", "welcome dave");
    assert!(w.h.delivered[&dave.user()]
        .iter()
        .any(|m| m.message_id.as_str() == "g1"));

    // GRP-15: B is not the chairman; A is.
    let mut refer = w.b.in_dialog(&mut b_group, Method::Refer);
    refer_to(&mut refer, "<sip:carol@example.com;method=BYE>");
    w.h.send(&w.b, refer);
    w.h.expect_response(&w.b, StatusCode::FORBIDDEN);
    let mut refer = w.a.request(Method::Refer, focus.clone(), focus.clone());
    refer_to(&mut refer, "<sip:carol@example.com;method=BYE>");
    w.h.send(&w.a, refer);
    let accepted = w.h.expect_response(&w.a, StatusCode::ACCEPTED);
    assert!(
        accepted.headers.to.tag().is_some(),
        "the REFER's own dialog"
    );
    let (_, doc) = next_event(&mut w, &a, "conference");
    let carol = user_block(&doc, "carol").expect("carol");
    assert!(
        carol.contains("disconnected") && carol.contains("booted"),
        "{carol}"
    );
    let (state, frag) = next_event(&mut w, &a, "refer");
    assert_eq!(state, "terminated;reason=noresource");
    assert!(frag.starts_with("SIP/2.0 200"), "{frag}");
    let bye = w.h.expect_request(&w.c, Method::Bye);
    w.h.send(&w.c, w.c.response(&bye, StatusCode::OK, &c_tag));
    let carol_had = w.h.delivered.get(&w.c.user()).map_or(0, Vec::len);
    w.h.chat(&w.a, &group, "g2", "carol is gone");
    assert_eq!(
        w.h.delivered.get(&w.c.user()).map_or(0, Vec::len),
        carol_had,
        "the removed participant gets nothing more"
    );
    assert!(w.h.delivered[&dave.user()]
        .iter()
        .any(|m| m.message_id.as_str() == "g2"));
    assert!(w.h.delivered[&w.b.user()]
        .iter()
        .any(|m| m.message_id.as_str() == "g2"));
}
