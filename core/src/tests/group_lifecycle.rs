//! A group's life beyond its creation (specs/group.md, GRP-20..GRP-29): the group
//! state object per change, rejoining a live group, restarting an ended one.

use super::flows::*;
use super::util::*;
use crate::ids::Tag;
use crate::server::GroupStateRecord;
use crate::sip::{Method, StatusCode};

/// Each version as `user=state` pairs.
fn states(v: &GroupStateRecord) -> Vec<String> {
    v.participants
        .iter()
        .map(|p| {
            format!(
                "{}={}",
                p.user.as_str().trim_end_matches("@example.com"),
                p.state
            )
        })
        .collect()
}

#[test]
fn every_change_is_a_new_version_of_the_group_state_object() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    // GRP-20: the creation is three changes: A joined, B and C invited.
    let versions: Vec<Vec<String>> = w.h.group_states.iter().map(states).collect();
    assert_eq!(
        versions,
        [
            vec!["sip:alice=joined"],
            vec!["sip:alice=joined", "sip:bob=invited"],
            vec!["sip:alice=joined", "sip:bob=invited", "sip:carol=invited"],
        ]
    );
    let first = &w.h.group_states[0];
    assert_eq!(first.info.key.contribution_id.as_str(), GROUP_CONTRIBUTION);
    assert!(first.focus.starts_with("sip:conf-"), "{}", first.focus);
    assert_eq!(
        first.subject, first.info.subject,
        "the subject is the creating INVITE's until changed"
    );
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
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let bye = w.b.in_dialog(&mut b_group, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_response(&w.b, StatusCode::OK);
    let mut a_group = ext.a_group;
    let bye = w.a.in_dialog(&mut a_group, Method::Bye);
    w.h.send(&w.a, bye);
    w.h.expect_response(&w.a, StatusCode::OK);
    // GRP-20: B joined, C declined, B left, A left: one version each, in order.
    let versions: Vec<Vec<String>> = w.h.group_states.iter().skip(3).map(states).collect();
    assert_eq!(
        versions,
        [
            vec!["sip:alice=joined", "sip:bob=joined", "sip:carol=invited"],
            vec!["sip:alice=joined", "sip:bob=joined", "sip:carol=declined"],
            vec!["sip:alice=joined", "sip:bob=left", "sip:carol=declined"],
            vec!["sip:alice=left", "sip:bob=left", "sip:carol=declined"],
        ]
    );
    // The last version is the sealed group's final set; nothing follows the seal.
    assert_eq!(w.h.sealed.len(), 1);
    let last = w.h.group_states.last().expect("versions");
    assert_eq!(last.participants, w.h.sealed[0].participants);
    assert_eq!(w.h.group_states.len(), 7);
}

/// A rejoin INVITE from `ua` to `focus` naming `contribution`.
fn rejoin_invite(ua: &mut Ua, focus: &crate::uri::Uri, contribution: &str) -> crate::sip::Request {
    let mut req = ua.request(Method::Invite, focus.clone(), focus.clone());
    req.headers.contribution_id = Some(crate::ids::ContributionId::new(contribution));
    with_sdp(req, &msrp_sdp("10.0.0.2", 7010, "b9"))
}

#[test]
fn a_participant_who_left_rejoins_the_live_group() {
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
        w.c.response(&ext.c_group_invite, StatusCode::OK, &Tag::new("cg")),
    );
    w.h.expect_request(&w.c, Method::Ack);
    let mut sub = w.a.request(Method::Subscribe, focus.clone(), focus.clone());
    sub.headers
        .other
        .push(("Event".into(), "conference".into()));
    w.h.send(&w.a, sub);
    w.h.expect_response(&w.a, StatusCode::OK);
    w.h.expect_request(&w.a, Method::Notify);
    let mut b_group = UaDialog::callee(&ext.b_group_invite, &b_tag);
    let bye = w.b.in_dialog(&mut b_group, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_response(&w.b, StatusCode::OK);
    w.h.expect_request(&w.a, Method::Notify);
    let group = crate::ids::ContributionId::new(GROUP_CONTRIBUTION);
    w.h.chat(&w.a, &group, "g1", "bob is away");
    let bob_had = w.h.delivered.get(&w.b.user()).map_or(0, Vec::len);

    // GRP-21: who may not rejoin: a stranger, someone still in the group, and bob
    // naming another Contribution-ID.
    let mut dave = Ua::new("dave", 4, w.a.transport);
    w.h.register(&mut dave);
    let req = rejoin_invite(&mut dave, &focus, GROUP_CONTRIBUTION);
    w.h.send(&dave, req);
    w.h.expect_response(&dave, StatusCode::FORBIDDEN);
    let req = rejoin_invite(&mut w.c, &focus, GROUP_CONTRIBUTION);
    w.h.send(&w.c, req);
    w.h.expect_response(&w.c, StatusCode::FORBIDDEN);
    let req = rejoin_invite(&mut w.b, &focus, "another-group");
    w.h.send(&w.b, req);
    w.h.expect_response(&w.b, StatusCode::FORBIDDEN);

    // GRP-21: bob rejoins: the focus answers (isfocus, its own MSRP path), the
    // subscribers see him connected, the state object gets a version, and the
    // others' next message reaches him.
    let versions = w.h.group_states.len();
    let legs = w.h.server.leg_count();
    let invite = rejoin_invite(&mut w.b, &focus, GROUP_CONTRIBUTION);
    w.h.send(&w.b, invite.clone());
    let ok = w.h.expect_response(&w.b, StatusCode::OK);
    let contact = crate::wire::encode_message(&crate::sip::SipMessage::Response(ok.clone()));
    let text = String::from_utf8_lossy(&contact);
    assert!(text.contains("isfocus"), "{text}");
    assert!(text.contains("a=path:msrp://"), "{text}");
    assert_eq!(
        ok.headers.contribution_id.as_ref().map(|c| c.as_str()),
        Some(GROUP_CONTRIBUTION)
    );
    let b_again = UaDialog::caller(&invite, &ok);
    let ack = w.b.ack(&b_again, invite.headers.cseq.seq);
    w.h.send(&w.b, ack);
    let n = w.h.expect_request(&w.a, Method::Notify);
    let doc = String::from_utf8_lossy(&n.body).into_owned();
    assert!(
        doc.contains("sip:bob@example.com") && doc.contains("<status>connected</status>"),
        "{doc}"
    );
    assert_eq!(w.h.group_states.len(), versions + 1);
    assert_eq!(
        w.h.server.leg_count(),
        legs,
        "the new leg replaces bob's old one (nothing left behind at the group's end)"
    );
    assert_eq!(
        states(w.h.group_states.last().expect("a version")),
        ["sip:alice=joined", "sip:bob=joined", "sip:carol=joined"]
    );
    w.h.chat(&w.c, &group, "g2", "welcome back");
    let bob_has = &w.h.delivered[&w.b.user()];
    assert_eq!(bob_has.len(), bob_had + 1);
    assert_eq!(bob_has.last().map(|m| m.message_id.as_str()), Some("g2"));
    // In the group he is joined again; his BYE on the new dialog leaves again.
    let mut b_again = b_again;
    let bye = w.b.in_dialog(&mut b_again, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_response(&w.b, StatusCode::OK);
    w.h.expect_request(&w.a, Method::Notify);
    assert_eq!(
        states(w.h.group_states.last().expect("a version")),
        ["sip:alice=joined", "sip:bob=left", "sip:carol=joined"]
    );

    // GRP-22: once the group ended, its focus URI answers 404 to a rejoin.
    let mut a_group = ext.a_group;
    let bye = w.a.in_dialog(&mut a_group, Method::Bye);
    w.h.send(&w.a, bye);
    w.h.expect_request(&w.a, Method::Notify);
    w.h.expect_response(&w.a, StatusCode::OK);
    let mut c_group = UaDialog::callee(&ext.c_group_invite, &Tag::new("cg"));
    let bye = w.c.in_dialog(&mut c_group, Method::Bye);
    w.h.send(&w.c, bye);
    w.h.expect_response(&w.c, StatusCode::OK);
    assert_eq!(w.h.sealed.len(), 1, "the group ended");
    let req = rejoin_invite(&mut w.b, &focus, GROUP_CONTRIBUTION);
    w.h.send(&w.b, req);
    w.h.expect_response(&w.b, StatusCode::NOT_FOUND);
}
