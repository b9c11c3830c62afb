//! Reusable scenario steps: registration, an established 1-to-1, the extension.

use super::util::*;
use crate::body::ResourceList;
use crate::ids::{ContributionId, Tag};
use crate::server::Transport;
use crate::sip::{MediaType, Method, Request, Response, StatusCode};
use crate::testing;

/// The three users of the claim and the server harness.
pub(crate) struct World {
    pub(crate) h: Harness,
    pub(crate) a: Ua,
    pub(crate) b: Ua,
    pub(crate) c: Ua,
}

impl World {
    pub(crate) fn new() -> Self {
        Self::with(Harness::new(), Transport::Udp)
    }

    pub(crate) fn with(mut h: Harness, transport: Transport) -> Self {
        let mut a = Ua::new("alice", 1, transport);
        let mut b = Ua::new("bob", 2, transport);
        let mut c = Ua::new("carol", 3, transport);
        h.register(&mut a);
        h.register(&mut b);
        h.register(&mut c);
        Self { h, a, b, c }
    }
}

/// An established 1-to-1 session as both terminals see it.
pub(crate) struct OneToOneCall {
    pub(crate) a_invite: Request,
    pub(crate) a_dialog: UaDialog,
    /// The server's 200 to A's INVITE (its SDP answer).
    pub(crate) a_ok: Response,
    pub(crate) b_invite: Request,
    pub(crate) b_dialog: UaDialog,
    pub(crate) conversation: String,
    pub(crate) contribution: ContributionId,
}

/// A's INVITE to B with the CPM headers and an MSRP offer.
pub(crate) fn invite_to(
    w: &mut World,
    callee_name: &str,
    conversation: &str,
    contribution: &str,
) -> Request {
    let to = sip_uri(callee_name, DOMAIN);
    let mut req = w.a.request(Method::Invite, to.clone(), to);
    req.headers.conversation_id = Some(conversation_id(conversation));
    req.headers.contribution_id = Some(ContributionId::new(contribution));
    req.headers
        .accept_contact
        .push("*;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"".into());
    with_sdp(req, &msrp_sdp("10.0.0.1", 7001, "a1"))
}

fn conversation_id(s: &str) -> crate::ids::ConversationId {
    crate::ids::ConversationId::new(s)
}

/// Runs A→server→B INVITE/180/200/ACK on both legs.
pub(crate) fn establish(w: &mut World) -> OneToOneCall {
    let conversation = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
    let contribution = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
    let a_invite = invite_to(w, "bob", conversation, contribution);
    w.h.send(&w.a, a_invite.clone());
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let b_tag = Tag::new("bob-leg-tag");
    let ringing = w.b.response(&b_invite, StatusCode::RINGING, &b_tag);
    w.h.send(&w.b, ringing);
    w.h.expect_response(&w.a, StatusCode::RINGING);
    let mut ok = w.b.response(&b_invite, StatusCode::OK, &b_tag);
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    ok.body = msrp_sdp("10.0.0.2", 7002, "b1").into_bytes();
    w.h.send(&w.b, ok);
    let _b_ack = w.h.expect_request(&w.b, Method::Ack);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    let a_dialog = UaDialog::caller(&a_invite, &a_ok);
    let ack = w.a.ack(&a_dialog, a_invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let b_dialog = UaDialog::callee(&b_invite, &b_tag);
    OneToOneCall {
        a_invite,
        a_dialog,
        a_ok,
        b_invite,
        b_dialog,
        conversation: conversation.into(),
        contribution: ContributionId::new(contribution),
    }
}

/// How the extension INVITE names the replaced session (EXT-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplaceForm {
    SessionReplaces,
    Rfc3891,
    ListEntryHeader,
}

pub(crate) const GROUP_CONTRIBUTION: &str = "5d9e0c2a-7b1f-4e3a-9c8d-2f6a1b0e4d77";

/// A's extension INVITE to the conference factory (specs/extension.md), built by
/// `testing::extension`.
pub(crate) fn extension_invite(w: &mut World, call: &OneToOneCall, form: ReplaceForm) -> Request {
    let mut b_entry = testing::list_entry(sip_uri("bob", DOMAIN));
    let mut session_replaces = None;
    let mut replaces = Vec::new();
    match form {
        ReplaceForm::SessionReplaces => session_replaces = Some(call.contribution.clone()),
        ReplaceForm::Rfc3891 => replaces.extend(call.a_dialog.replaces()),
        ReplaceForm::ListEntryHeader => {
            b_entry.method = Some("INVITE".into());
            b_entry.session_replaces = Some(call.contribution.clone());
        }
    }
    let list = ResourceList {
        entries: vec![b_entry, testing::list_entry(sip_uri("carol", DOMAIN))],
    };
    let sdp = msrp_sdp("10.0.0.1", 7003, "a2");
    let ext = testing::Extension {
        factory: sip_uri("conf-factory", DOMAIN),
        conversation: &call.conversation,
        contribution: GROUP_CONTRIBUTION,
        session_replaces,
        replaces,
        list,
        sdp: &sdp,
        boundary: "cpmd-boundary",
    };
    testing::extension(ext, w.a.sender())
}

/// The state after the extension: A's 200 received and ACKed; B and C invited.
pub(crate) struct Extended {
    pub(crate) call: OneToOneCall,
    pub(crate) ext_invite: Request,
    /// The focus's 200 to the extension INVITE (its SDP answer).
    pub(crate) a_ok: Response,
    pub(crate) a_group: UaDialog,
    pub(crate) b_group_invite: Request,
    pub(crate) c_group_invite: Request,
}

/// Steps 1–5 of the claim: established 1-to-1, extension INVITE, group created,
/// invitations out.
pub(crate) fn extend(w: &mut World, form: ReplaceForm) -> Extended {
    let call = establish(w);
    let ext_invite = extension_invite(w, &call, form);
    w.h.send(&w.a, ext_invite.clone());
    let a_ok: Response = w.h.expect_response(&w.a, StatusCode::OK);
    let a_group = UaDialog::caller(&ext_invite, &a_ok);
    let ack = w.a.ack(&a_group, ext_invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let b_group_invite = w.h.expect_request(&w.b, Method::Invite);
    let c_group_invite = w.h.expect_request(&w.c, Method::Invite);
    Extended {
        call,
        ext_invite,
        a_ok,
        a_group,
        b_group_invite,
        c_group_invite,
    }
}

/// B and C accept the group INVITEs (200, then the server ACKs).
pub(crate) fn join_group(w: &mut World, ext: &Extended) -> (UaDialog, UaDialog) {
    let b_tag = Tag::new("bob-group-tag");
    let ok = w.b.response(&ext.b_group_invite, StatusCode::OK, &b_tag);
    w.h.send(&w.b, ok);
    w.h.expect_request(&w.b, Method::Ack);
    let c_tag = Tag::new("carol-group-tag");
    let ok = w.c.response(&ext.c_group_invite, StatusCode::OK, &c_tag);
    w.h.send(&w.c, ok);
    w.h.expect_request(&w.c, Method::Ack);
    (
        UaDialog::callee(&ext.b_group_invite, &b_tag),
        UaDialog::callee(&ext.c_group_invite, &c_tag),
    )
}
