//! Restarting an ended group from its stored group state (specs/group.md, GRP-40):
//! a factory INVITE with the group's ids and no list (or a shorter one) invites
//! the members the store read from the ended group's last state, fed back with the
//! answer to the restarted group's info.

use super::flows::*;
use super::util::*;
use crate::ids::{ContributionId, ConversationId};
use crate::server::StoreError;
use crate::sip::{Method, Request, StatusCode};
use crate::uri::UserUri;

fn user(name: &str) -> UserUri {
    UserUri::from_uri(&sip_uri(name, DOMAIN)).expect("a user")
}

/// Ends the group every party joined (each BYEs); returns its Conversation-ID.
fn ended_group(w: &mut World) -> String {
    let ext = extend(w, ReplaceForm::SessionReplaces);
    let (mut b_group, mut c_group) = join_group(w, &ext);
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
    ext.call.conversation.clone()
}

/// alice's restart INVITE naming no one: the group's ids, an SDP offer, no list.
fn restart_without_list(w: &mut World, conversation: &str) -> Request {
    let factory = sip_uri("conf-factory", DOMAIN);
    let mut req = crate::testing::request(Method::Invite, factory.clone(), factory, w.a.sender());
    req.headers.conversation_id = Some(ConversationId::new(conversation));
    req.headers.contribution_id = Some(ContributionId::new(GROUP_CONTRIBUTION));
    crate::testing::with_sdp(req, &msrp_sdp("10.0.0.1", 7005, "a5"))
}

/// alice's restart INVITE whose list names bob only.
fn restart_naming_bob(w: &mut World, conversation: &str) -> Request {
    let list = crate::body::ResourceList {
        entries: vec![crate::testing::list_entry(sip_uri("bob", DOMAIN))],
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

/// The info of the restarted group, as the store got it.
fn restarted_info(w: &World) -> crate::record::SessionInfo {
    w.h.stored
        .iter()
        .rev()
        .find_map(crate::tests::util::stored_info)
        .expect("an info was stored")
}

/// GRP-40: no list: the core asks the store with the group's info (naming no
/// invitee); the store's members of the ended group (alice herself among them)
/// are invited, alice is not, each once, and the 200 comes after the store.
#[test]
fn a_restart_without_a_list_invites_the_stored_members() {
    let mut w = World::new();
    let conversation = ended_group(&mut w);
    w.h.store_mode = StoreMode::Manual;
    let invite = restart_without_list(&mut w, &conversation);
    w.h.send(&w.a, invite);
    w.h.expect_nothing(&w.a);
    let (ticket, _) = *w.h.store_queue.front().expect("the info's Persist");
    w.h.server
        .handle_group_restored(ticket, vec![user("alice"), user("bob"), user("carol")]);
    w.h.store_answer(true);
    w.h.expect_response(&w.a, StatusCode::OK);
    for ua in [&w.b, &w.c] {
        let inv = w.h.expect_request(ua, Method::Invite);
        assert_eq!(
            inv.headers.contribution_id.as_ref().map(|c| c.as_str()),
            Some(GROUP_CONTRIBUTION)
        );
        w.h.expect_nothing(ua);
    }
    let info = restarted_info(&w);
    assert!(
        info.invited.is_empty(),
        "the info the store got names no one: it reads the members itself"
    );
}

/// GRP-40: a list naming fewer than the stored members: the listed and the stored
/// ones are invited, each once.
#[test]
fn a_restart_with_a_shorter_list_also_invites_the_stored_members() {
    let mut w = World::new();
    let conversation = ended_group(&mut w);
    w.h.store_mode = StoreMode::Manual;
    let invite = restart_naming_bob(&mut w, &conversation);
    w.h.send(&w.a, invite);
    let (ticket, _) = *w.h.store_queue.front().expect("the info's Persist");
    w.h.server
        .handle_group_restored(ticket, vec![user("bob"), user("carol")]);
    w.h.store_answer(true);
    w.h.expect_response(&w.a, StatusCode::OK);
    w.h.expect_request(&w.b, Method::Invite);
    w.h.expect_request(&w.c, Method::Invite);
    w.h.expect_nothing(&w.b);
    w.h.expect_nothing(&w.c);
}

/// GRP-40: no list and the store knows no ended group under these ids
/// (`StoreError::NoEndedGroup`): 404 (no such group), never 500, nobody
/// invited. A factory INVITE without a list and without the group's ids is
/// refused at once, without asking the store.
#[test]
fn a_restart_naming_no_one_and_no_ended_group_is_refused() {
    let mut w = World::new();
    w.h.store_mode = StoreMode::Manual;
    let invite = restart_without_list(&mut w, "no-such-conversation");
    w.h.send(&w.a, invite);
    let (ticket, _) = w.h.store_queue.pop_front().expect("the info's Persist");
    w.h.server.handle_store_result(
        w.h.now,
        ticket,
        Err(StoreError::NoEndedGroup {
            contribution_id: GROUP_CONTRIBUTION.into(),
        }),
    );
    w.h.drain();
    w.h.expect_response(&w.a, StatusCode::NOT_FOUND);
    w.h.expect_nothing(&w.b);

    let mut plain = restart_without_list(&mut w, "no-such-conversation");
    plain.headers.conversation_id = None;
    w.h.send(&w.a, plain);
    w.h.expect_response(&w.a, StatusCode::BAD_REQUEST);
    assert!(w.h.store_queue.is_empty(), "the store was not asked");
}
