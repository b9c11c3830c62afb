//! Claim 1 of US 9,350,695 B2, step by step: one test per step, each on the real
//! server. The invariant each test checks is cited from `specs/`.

use super::flows::*;
use crate::ids::Tag;
use crate::server::{ChatOutcome, SessionInfo, SessionType};
use crate::sip::{Method, StatusCode};
use crate::uri::UserUri;

/// The whole claim flow up to B's 200, with two messages each way on the 1-to-1.
struct ClaimRun {
    w: World,
    ext: Extended,
}

fn run_claim(form: ReplaceForm) -> ClaimRun {
    let mut w = World::new();
    let ext = extend(&mut w, form);
    join_group(&mut w, &ext);
    ClaimRun { w, ext }
}

/// The session info the store made durable for the group (the only one in a run).
fn stored_group_info(run: &ClaimRun) -> SessionInfo {
    run.w
        .h
        .stored
        .iter()
        .find_map(crate::tests::util::stored_info)
        .expect("the group's info was stored")
}

/// Step 1: "transmitting, by the server, one or more messages via a one-to-one
/// session established between a first terminal ... and a second terminal".
#[test]
fn claim_step1_relays_messages_on_the_one_to_one_session() {
    let mut w = World::new();
    let call = establish(&mut w);
    w.h.chat(&w.a, &call.contribution, "m1", "hello bob");
    w.h.chat(&w.b, &call.contribution, "m2", "hi alice");
    let bob = w.b.user();
    let alice = w.a.user();
    assert_eq!(w.h.delivered[&bob].len(), 1);
    assert_eq!(w.h.delivered[&bob][0].body, b"hello bob");
    assert_eq!(w.h.delivered[&alice][0].body, b"hi alice");
    // MSG-1: acknowledged only after the store made it durable.
    assert!(w.h.log_index("persist") < w.h.log_index("result m1 Accepted"));
    assert!(w.h.log_index("store -> server") < w.h.log_index("deliver m1"));
    assert_eq!(
        w.h.chat_results[&alice],
        vec![(crate::ids::MessageId::new("m1"), ChatOutcome::Accepted)]
    );
    // ONE-1: two legs with distinct Call-IDs.
    assert_ne!(call.a_dialog.call_id, call.b_dialog.call_id);
    // ONE-2: B sees A's conversation and contribution.
    assert_eq!(
        call.b_invite.headers.contribution_id,
        Some(call.contribution.clone())
    );
    assert_eq!(
        call.b_invite.headers.conversation_id,
        call.a_invite.headers.conversation_id
    );
}

/// Step 2: "receiving ... a first SIP invite message for extending the one-to-one
/// session to a group session ... [with] a header indicating the one-to-one session
/// to be replaced ... and a field indicating an identifier of the second terminal ...
/// and an identifier of a third user" — in all three forms (EXT-1).
#[test]
fn claim_step2_recognises_the_extension_invite_in_every_form() {
    for form in [
        ReplaceForm::SessionReplaces,
        ReplaceForm::Rfc3891,
        ReplaceForm::ListEntryHeader,
    ] {
        let run = run_claim(form);
        let b_invite = &run.ext.b_group_invite;
        assert_eq!(
            b_invite.headers.session_replaces,
            Some(run.ext.call.contribution.clone()),
            "{form:?}: B is told which session is replaced"
        );
    }
}

/// Step 3: "extracting and locally storing ... a 'From' header, a 'To' header, a
/// 'Date' header, a same conversation ID and a new contribution ID" (EXT-3, EXT-4).
#[test]
fn claim_step3_stores_from_to_date_and_ids_of_the_group_session() {
    let run = run_claim(ReplaceForm::SessionReplaces);
    let info = stored_group_info(&run);
    assert_eq!(info.session_type, SessionType::AdHoc);
    assert_eq!(info.from, run.w.a.user());
    assert_eq!(info.to, "sip:conf-factory@example.com");
    assert_eq!(Some(&info.date), run.ext.ext_invite.headers.date.as_ref());
    assert_eq!(info.key.conversation_id.as_str(), run.ext.call.conversation);
    assert_eq!(info.key.contribution_id.as_str(), GROUP_CONTRIBUTION);
    assert_ne!(info.key.contribution_id, run.ext.call.contribution);
    assert_eq!(info.invited, vec![run.w.b.user(), run.w.c.user()]);
    // EXT-4/EXT-5: stored before A's 200.
    let persisted = run.w.h.log_index("store -> server");
    let group_ok = run
        .w
        .h
        .log
        .iter()
        .rposition(|l| l.contains("200 INVITE alice"))
        .expect("A got its 200");
    assert!(persisted < group_ok);
}

/// Step 4: "extracting and locally storing at least part of SDP attributes
/// associated with media streams ... if [it] includes SDP content".
#[test]
fn claim_step4_stores_the_sdp_media_attributes() {
    let run = run_claim(ReplaceForm::SessionReplaces);
    let info = stored_group_info(&run);
    assert!(info.sdp.contains("m=message 7003 TCP/MSRP *"));
    assert!(info
        .media_attributes
        .contains(&"path:msrp://10.0.0.1:7003/a2;tcp".to_owned()));
    assert!(info
        .media_attributes
        .contains(&"accept-types:message/cpim".to_owned()));
}

/// Step 5: "transmitting ... a second SIP invite message to the second terminal"
/// (EXT-6): it names the replaced session, carries Referred-By A and an isfocus
/// Contact; C's INVITE names nothing.
#[test]
fn claim_step5_invites_b_naming_the_replaced_session() {
    let run = run_claim(ReplaceForm::Rfc3891);
    let b = &run.ext.b_group_invite;
    let call = &run.ext.call;
    assert_eq!(b.headers.session_replaces, Some(call.contribution.clone()));
    let replaces = b
        .headers
        .replaces
        .first()
        .expect("RFC 3891 Replaces for B's own leg");
    assert_eq!(replaces.call_id, call.b_dialog.call_id);
    assert_eq!(
        replaces.to_tag,
        call.b_dialog.local_tag(),
        "to-tag is B's own tag"
    );
    assert_eq!(replaces.from_tag, call.b_dialog.remote_tag());
    let referred = b.headers.referred_by.as_ref().expect("Referred-By");
    assert_eq!(UserUri::from_uri(&referred.uri), Some(run.w.a.user()));
    assert!(b.headers.contact[0].has_param("isfocus"));
    assert_eq!(
        b.headers.contribution_id.as_ref().map(|c| c.as_str()),
        Some(GROUP_CONTRIBUTION)
    );
    let c = &run.ext.c_group_invite;
    assert!(c.headers.session_replaces.is_none() && c.headers.replaces.is_empty());
    assert!(c.headers.referred_by.is_some());
}

/// Steps 6–10: B's BYE is received (6), relayed to A (7), A's 200 received (8), the
/// history object built (9) and only then B answered (10). TERM-1, HIST-2, HIST-5.
#[test]
fn claim_steps6_to_10_run_the_termination_handshake_in_order() {
    let mut run = run_claim(ReplaceForm::SessionReplaces);
    let w = &mut run.w;
    let mut call = run.ext.call;
    w.h.chat(&w.a, &call.contribution, "m1", "before bye");
    // Step 6: B's BYE on the 1-to-1.
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_nothing(&w.b);
    // Step 7: the server relays it to A.
    let a_bye = w.h.expect_request(&w.a, Method::Bye);
    assert_eq!(a_bye.headers.call_id, call.a_dialog.call_id);
    assert!(
        w.h.sealed.is_empty(),
        "HIST-2: nothing sealed before A answered"
    );
    // Step 8: A answers 200.
    let ok = w.a.response(&a_bye, StatusCode::OK, &Tag::new("unused"));
    let mut ok = ok;
    ok.headers.to = a_bye.headers.to.clone();
    w.h.send(&w.a, ok);
    // Step 9: the history object of the 1-to-1.
    assert_eq!(w.h.sealed.len(), 1);
    let history = &w.h.sealed[0];
    assert_eq!(history.info.key.contribution_id, call.contribution);
    assert_eq!(history.info.session_type, SessionType::OneToOne);
    assert_eq!(
        history.messages,
        vec![1],
        "HIST-3: exactly the delivered message"
    );
    // Step 10: B's 200 after the seal.
    w.h.expect_response(&w.b, StatusCode::OK);
    let seal = w.h.log_index("seal ");
    let b_ok =
        w.h.log
            .iter()
            .rposition(|l| l.contains("200 BYE"))
            .expect("B got 200");
    assert!(seal < b_ok, "HIST-5: 200 to B only after the seal");
    assert_eq!(w.h.server.session_count(), 1, "only the group remains");
}
