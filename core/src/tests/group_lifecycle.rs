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

/// A restart INVITE from alice to the conference factory: the ended group's
/// Conversation-ID and Contribution-ID and a resource list, no Replaces.
fn restart_invite(w: &mut World, conversation: &str) -> crate::sip::Request {
    let list = crate::body::ResourceList {
        entries: vec![
            crate::testing::list_entry(sip_uri("bob", DOMAIN)),
            crate::testing::list_entry(sip_uri("carol", DOMAIN)),
        ],
    };
    let sdp = msrp_sdp("10.0.0.1", 7005, "a5");
    let ext = crate::testing::Extension {
        factory: sip_uri("conf-factory", DOMAIN),
        conversation,
        contribution: GROUP_CONTRIBUTION,
        session_replaces: None,
        replaces: Vec::new(),
        list,
        sdp: &sdp,
        boundary: "cpmd-boundary",
    };
    crate::testing::extension(ext, w.a.sender())
}

#[test]
fn an_ended_group_is_restarted_through_the_factory_with_its_ids() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let (mut b_group, mut c_group) = join_group(&mut w, &ext);
    let conversation = ext.call.conversation.clone();
    let mut a_group = ext.a_group.clone();
    for (ua, dialog) in [
        (&mut w.a, &mut a_group),
        (&mut w.b, &mut b_group),
        (&mut w.c, &mut c_group),
    ] {
        let bye = ua.in_dialog(dialog, Method::Bye);
        w.h.send(ua, bye);
        w.h.expect_response(ua, StatusCode::OK);
    }
    assert_eq!(w.h.sealed.len(), 1, "the group ended");
    let infos_before = w.h.stored.len();

    // GRP-23: alice restarts it: the store gets the session info under the same
    // Conversation-ID and Contribution-ID before anything is answered, then the
    // focus answers her (a new focus URI) and invites the listed others with the
    // group's ids.
    let invite = restart_invite(&mut w, &conversation);
    w.h.send(&w.a, invite.clone());
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let info = w.h.stored[infos_before..]
        .iter()
        .find_map(crate::tests::util::stored_info)
        .expect("the restarted group's info was stored");
    assert_eq!(info.key.conversation_id.as_str(), conversation);
    assert_eq!(info.key.contribution_id.as_str(), GROUP_CONTRIBUTION);
    assert_eq!(
        ok.headers.contribution_id.as_ref().map(|c| c.as_str()),
        Some(GROUP_CONTRIBUTION)
    );
    assert_eq!(
        ok.headers.conversation_id.as_ref().map(|c| c.as_str()),
        Some(conversation.as_str())
    );
    assert_ne!(
        ok.headers.contact[0].uri, ext.a_ok.headers.contact[0].uri,
        "a new focus URI: the ended one stays gone (GRP-22)"
    );
    let a_restarted = UaDialog::caller(&invite, &ok);
    let ack = w.a.ack(&a_restarted, invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    for ua in [&w.b, &w.c] {
        let inv = w.h.expect_request(ua, Method::Invite);
        assert_eq!(
            inv.headers.contribution_id.as_ref().map(|c| c.as_str()),
            Some(GROUP_CONTRIBUTION)
        );
        assert_eq!(
            inv.headers.conversation_id.as_ref().map(|c| c.as_str()),
            Some(conversation.as_str())
        );
        assert!(inv.headers.replaces.is_empty() && inv.headers.session_replaces.is_none());
    }

    // GRP-25: while the restarted group lives, a second restart naming it is
    // refused (the live group is rejoined at its focus URI, GRP-21), never a 500.
    let again = restart_invite(&mut w, &conversation);
    w.h.send(&w.a, again);
    w.h.expect_response(&w.a, StatusCode::FORBIDDEN);
}

/// GRP-24: the store refuses the restart of one who was not in the ended group
/// (`StoreError::NotAParty`): the INVITE gets 403 (never 500) and nobody is invited.
#[test]
fn a_restart_by_one_not_in_the_group_is_refused() {
    let mut w = World::new();
    let ext = extend(&mut w, ReplaceForm::SessionReplaces);
    let conversation = ext.call.conversation.clone();
    w.h.store_mode = StoreMode::Manual;
    let invite = restart_invite(&mut w, &conversation);
    // The live group holds this Contribution-ID (GRP-25): use another one, as a
    // client naming an ended group the core no longer knows would.
    let mut invite = invite;
    invite.headers.contribution_id = Some(crate::ids::ContributionId::new("ended-group"));
    w.h.send(&w.a, invite);
    let (ticket, _) = w.h.store_queue.pop_front().expect("the info's Persist");
    w.h.server.handle_store_result(
        w.h.now,
        ticket,
        Err(crate::server::StoreError::NotAParty {
            user: "sip:alice@example.com".into(),
        }),
    );
    w.h.drain();
    w.h.expect_response(&w.a, StatusCode::FORBIDDEN);
    w.h.expect_nothing(&w.b);
}
