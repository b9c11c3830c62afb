//! Answers the focus got wrong (specs/group.md, GRP-41..GRP-44): a factory INVITE
//! naming an ended 1-to-1, a device's 2xx after its group ended, a participant
//! invited again after declining, and a REFER asking for no subscription.

use super::flows::*;
use super::util::*;
use crate::body::ResourceList;
use crate::ids::{ContributionId, Tag};
use crate::server::StoreError;
use crate::sip::{Method, Request, StatusCode};

/// An established 1-to-1 that alice ends (bob answers the relayed BYE): sealed.
fn ended_one_to_one(w: &mut World) -> OneToOneCall {
    let mut call = establish(w);
    let bye = w.a.in_dialog(&mut call.a_dialog, Method::Bye);
    w.h.send(&w.a, bye);
    let relayed = w.h.expect_request(&w.b, Method::Bye);
    let tag = relayed.headers.to.tag().expect("bob's tag");
    w.h.send(&w.b, w.b.response(&relayed, StatusCode::OK, &tag));
    w.h.expect_response(&w.a, StatusCode::OK);
    assert_eq!(w.h.sealed.len(), 1, "the 1-to-1 is sealed");
    call
}

/// alice's INVITE to the conference factory creating a group with bob and carol
/// (no session replaced), under `conversation` and `contribution`.
fn ad_hoc_group(w: &mut World, conversation: &str, contribution: &str) -> Request {
    let list = ResourceList {
        entries: vec![
            crate::testing::list_entry(sip_uri("bob", DOMAIN)),
            crate::testing::list_entry(sip_uri("carol", DOMAIN)),
        ],
    };
    let sdp = msrp_sdp("10.0.0.1", 7005, "a5");
    let ext = crate::testing::Extension {
        factory: sip_uri("conf-factory", DOMAIN),
        conversation,
        contribution,
        session_replaces: None,
        replaces: Vec::new(),
        list,
        sdp: &sdp,
        boundary: "cpmd-boundary",
    };
    crate::testing::extension(ext, w.a.sender())
}

/// alice's group (`ad_hoc_group`) in which bob joins and carol declines: alice's
/// and bob's group dialogs.
fn group_carol_declined(
    w: &mut World,
    conversation: &str,
    contribution: &str,
) -> (UaDialog, UaDialog) {
    let invite = ad_hoc_group(w, conversation, contribution);
    w.h.send(&w.a, invite.clone());
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let a_group = UaDialog::caller(&invite, &ok);
    let ack = w.a.ack(&a_group, invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let b_inv = w.h.expect_request(&w.b, Method::Invite);
    let c_inv = w.h.expect_request(&w.c, Method::Invite);
    let b_tag = Tag::new(format!("bob-{contribution}"));
    w.h.send(&w.b, w.b.response(&b_inv, StatusCode::OK, &b_tag));
    w.h.expect_request(&w.b, Method::Ack);
    let b_group = UaDialog::callee(&b_inv, &b_tag);
    w.h.send(
        &w.c,
        w.c.response(&c_inv, StatusCode::DECLINE, &Tag::new("carol-no")),
    );
    w.h.expect_request(&w.c, Method::Ack);
    (a_group, b_group)
}

/// bob's REFER in his group dialog inviting carol (again).
fn refer_carol(w: &mut World, b_group: &mut UaDialog) -> Request {
    let mut refer = w.b.in_dialog(b_group, Method::Refer);
    refer
        .headers
        .other
        .push(("Refer-To".into(), "<sip:carol@example.com>".into()));
    refer
}

/// GRP-41: a factory INVITE naming an ended 1-to-1 is refused with a 4xx, never a
/// 500: by `Session-Replaces` or `Replaces` 481 (RFC 3891 §3: no such dialog), by
/// its Conversation-ID and Contribution-ID (no session to replace) 404, the store
/// having refused the group's info as naming no ended group (`NoEndedGroup`).
#[test]
fn a_factory_invite_naming_an_ended_one_to_one_gets_a_4xx() {
    let mut w = World::new();
    let call = ended_one_to_one(&mut w);
    for form in [ReplaceForm::SessionReplaces, ReplaceForm::Rfc3891] {
        let req = extension_invite(&mut w, &call, form);
        w.h.send(&w.a, req);
        w.h.expect_response(&w.a, StatusCode::CALL_DOES_NOT_EXIST);
        w.h.expect_nothing(&w.b);
    }
    w.h.store_mode = StoreMode::Manual;
    let req = ad_hoc_group(&mut w, &call.conversation, call.contribution.as_str());
    w.h.send(&w.a, req);
    let (ticket, _) = w.h.store_queue.pop_front().expect("the info's Persist");
    w.h.server.handle_store_result(
        w.h.now,
        ticket,
        Err(StoreError::NoEndedGroup {
            contribution_id: call.contribution.as_str().into(),
        }),
    );
    w.h.drain();
    w.h.expect_response(&w.a, StatusCode::NOT_FOUND);
    w.h.expect_nothing(&w.b);
    w.h.expect_nothing(&w.c);
}

/// GRP-42: carol has two devices; the phone joins, the laptop's invitation is
/// CANCELled, everyone leaves and the group is sealed; then the laptop's 200,
/// which crossed the CANCEL, arrives: the focus ACKs it and ends the dialog with a
/// BYE, built from the 2xx as the group and the fork's leg are gone; a repeated
/// 2xx is ACKed again.
#[test]
fn a_2xx_after_the_group_ended_is_acked_and_ended_with_bye() {
    let mut w = World::new();
    let mut laptop = Ua::new("carol", 6, w.a.transport);
    w.h.register(&mut laptop);
    let invite = ad_hoc_group(&mut w, "conv-late", "group-late");
    w.h.send(&w.a, invite.clone());
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let mut a_group = UaDialog::caller(&invite, &ok);
    let ack = w.a.ack(&a_group, invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let b_inv = w.h.expect_request(&w.b, Method::Invite);
    let c_inv = w.h.expect_request(&w.c, Method::Invite);
    let l_inv = w.h.expect_request(&laptop, Method::Invite);
    let b_tag = Tag::new("bob-late");
    w.h.send(&w.b, w.b.response(&b_inv, StatusCode::OK, &b_tag));
    w.h.expect_request(&w.b, Method::Ack);
    let c_tag = Tag::new("carol-phone");
    w.h.send(&w.c, w.c.response(&c_inv, StatusCode::OK, &c_tag));
    w.h.expect_request(&w.c, Method::Ack);
    let cancel = w.h.expect_request(&laptop, Method::Cancel);
    let mut b_group = UaDialog::callee(&b_inv, &b_tag);
    let mut c_group = UaDialog::callee(&c_inv, &c_tag);
    for (ua, dialog) in [
        (&mut w.c, &mut c_group),
        (&mut w.b, &mut b_group),
        (&mut w.a, &mut a_group),
    ] {
        let bye = ua.in_dialog(dialog, Method::Bye);
        w.h.send(ua, bye);
        w.h.expect_response(ua, StatusCode::OK);
    }
    assert_eq!(w.h.sealed.len(), 1, "the group ended");
    assert_eq!(w.h.server.session_count(), 0);
    // The laptop's 200 to the INVITE crossed the CANCEL.
    let l_tag = Tag::new("carol-laptop");
    let late = laptop.response(&l_inv, StatusCode::OK, &l_tag);
    w.h.send(&laptop, late.clone());
    w.h.send(&laptop, laptop.response(&cancel, StatusCode::OK, &l_tag));
    let ack = w.h.expect_request(&laptop, Method::Ack);
    assert_eq!(ack.headers.to.tag(), Some(l_tag.clone()));
    assert_eq!(ack.headers.cseq.seq, l_inv.headers.cseq.seq);
    let bye = w.h.expect_request(&laptop, Method::Bye);
    assert_eq!(bye.headers.call_id, l_inv.headers.call_id);
    assert_eq!(bye.headers.to.tag(), Some(l_tag.clone()));
    assert!(bye.headers.cseq.seq > l_inv.headers.cseq.seq);
    w.h.send(&laptop, laptop.response(&bye, StatusCode::OK, &l_tag));
    // The laptop repeats the 2xx (it missed the ACK): ACKed again.
    w.h.send(&laptop, late);
    w.h.expect_request(&laptop, Method::Ack);
    w.h.expect_nothing(&laptop);
    assert_eq!(w.h.server.leg_count(), 0, "nothing of the group is kept");
}

/// GRP-43: carol declines, bob's REFER invites her again and she joins: her
/// declined dialog's leg is forgotten, so once the group ended no leg is left.
#[test]
fn a_participant_invited_again_after_declining_leaves_no_leg_behind() {
    let mut w = World::new();
    let (mut a_group, mut b_group) = group_carol_declined(&mut w, "conv-again", "group-again");
    let refer = refer_carol(&mut w, &mut b_group);
    w.h.send(&w.b, refer);
    w.h.expect_response(&w.b, StatusCode::ACCEPTED);
    w.h.expect_request(&w.b, Method::Notify);
    let c_again = w.h.expect_request(&w.c, Method::Invite);
    let c_tag = Tag::new("carol-yes");
    w.h.send(&w.c, w.c.response(&c_again, StatusCode::OK, &c_tag));
    w.h.expect_request(&w.c, Method::Ack);
    w.h.expect_request(&w.b, Method::Notify);
    let mut c_group = UaDialog::callee(&c_again, &c_tag);
    for (ua, dialog) in [
        (&mut w.c, &mut c_group),
        (&mut w.b, &mut b_group),
        (&mut w.a, &mut a_group),
    ] {
        let bye = ua.in_dialog(dialog, Method::Bye);
        w.h.send(ua, bye);
        w.h.expect_response(ua, StatusCode::OK);
    }
    assert_eq!(w.h.sealed.len(), 1, "the group ended");
    assert_eq!(
        w.h.server.leg_count(),
        0,
        "carol's declined leg was forgotten when she was invited again"
    );
}

/// GRP-44 (RFC 4488): bob's REFER with `Refer-Sub: false`: 202 carrying
/// `Refer-Sub: false`, carol is invited and joins, and bob gets no NOTIFY (no
/// implicit subscription, no sipfrag).
#[test]
fn a_refer_with_refer_sub_false_gets_no_notify() {
    let mut w = World::new();
    let (_, mut b_group) = group_carol_declined(&mut w, "conv-nosub", "group-nosub");
    let mut refer = refer_carol(&mut w, &mut b_group);
    refer
        .headers
        .other
        .push(("Refer-Sub".into(), "false".into()));
    w.h.send(&w.b, refer);
    let accepted = w.h.expect_response(&w.b, StatusCode::ACCEPTED);
    assert_eq!(accepted.headers.other("Refer-Sub"), Some("false"));
    let c_again = w.h.expect_request(&w.c, Method::Invite);
    let c_tag = Tag::new("carol-yes");
    w.h.send(&w.c, w.c.response(&c_again, StatusCode::OK, &c_tag));
    w.h.expect_request(&w.c, Method::Ack);
    w.h.expect_nothing(&w.b);
    let group = ContributionId::new("group-nosub");
    w.h.chat(&w.b, &group, "n1", "carol is back");
    assert!(w.h.delivered[&w.c.user()]
        .iter()
        .any(|m| m.message_id.as_str() == "n1"));
}
