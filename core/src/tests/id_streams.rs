//! The server's minted ids stay unique when the network repeats itself: a reused
//! Call-ID and From tag, and a replayed INVITE, make new dialogs whose tags,
//! Call-IDs and branches are all new (`server/id_gen.rs`, "Unique": a leg's branch
//! stream is numbered by the server, never keyed by input).
//!
//! Not here: the PRF itself (`server/token.rs`) and the streams' arithmetic
//! (`server/id_gen.rs`'s unit tests).

use std::collections::BTreeMap;

use super::flows::{invite_to, World};
use super::util::UaDialog;
use crate::ids::Tag;
use crate::sip::{Method, Request, SipMessage, StatusCode};

/// What the server minted in what it sent to `ua` since the last call: the branch
/// of every request it originated (its own Via), the From tag and Call-ID of every
/// INVITE (a dialog the server starts) and the To tag of every 200 to an INVITE
/// (a dialog it answers), each with where it was seen. Reads the inbox without
/// taking from it.
fn minted_to(w: &mut World, who: char, seen: &mut BTreeMap<String, Vec<String>>) {
    let addr = if who == 'a' { w.a.addr } else { w.b.addr };
    let inbox = w.h.inboxes.entry(addr).or_default();
    for msg in inbox.iter() {
        let mut note = |what: &str, token: String| {
            seen.entry(token)
                .or_default()
                .push(format!("{what} to {who}"));
        };
        match msg {
            SipMessage::Request(r) => {
                let branch = r.headers.via[0].branch().unwrap_or_default().to_owned();
                note(&format!("{} branch", r.method), branch);
                if r.method == Method::Invite {
                    note(
                        "INVITE From tag",
                        r.headers.from.tag().expect("tag").to_string(),
                    );
                    note("INVITE Call-ID", r.headers.call_id.to_string());
                }
            }
            SipMessage::Response(r) => {
                if r.status == StatusCode::OK && r.headers.cseq.method == Method::Invite {
                    note(
                        "200 To tag",
                        r.headers.to.tag().expect("to-tag").to_string(),
                    );
                }
            }
        }
    }
}

/// One 1-to-1 from `invite` to its end by A's BYE, everything the server sent
/// noted in `seen`.
fn call_and_hang_up(w: &mut World, invite: Request, seen: &mut BTreeMap<String, Vec<String>>) {
    w.h.send(&w.a, invite.clone());
    minted_to(w, 'b', seen);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let b_tag = Tag::new("bob-same-tag");
    let ok = w.b.response(&b_invite, StatusCode::OK, &b_tag);
    w.h.send(&w.b, ok);
    minted_to(w, 'a', seen);
    minted_to(w, 'b', seen);
    w.h.expect_request(&w.b, Method::Ack);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    let mut a_dialog = UaDialog::caller(&invite, &a_ok);
    let ack = w.a.ack(&a_dialog, invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let bye = w.a.in_dialog(&mut a_dialog, Method::Bye);
    w.h.send(&w.a, bye);
    minted_to(w, 'b', seen);
    let b_bye = w.h.expect_request(&w.b, Method::Bye);
    let ok = w.b.response(&b_bye, StatusCode::OK, &b_tag);
    w.h.send(&w.b, ok);
    minted_to(w, 'a', seen);
    w.h.expect_response(&w.a, StatusCode::OK);
    // Past every transaction's linger: a replay is a new request.
    w.h.advance(64 * 500 + 10_000);
    w.h.inboxes.clear();
}

/// A reused Call-ID and From tag, then a byte-for-byte replay of the first INVITE
/// (the same branch, after its transaction is gone): three dialogs, and every tag,
/// Call-ID and branch the server minted in them is different. Fails if a leg's
/// branch stream were keyed by the dialog's Call-ID or tags (the second and third
/// calls would repeat the first's branches).
#[test]
fn a_replayed_invite_mints_new_ids() {
    let mut w = World::new();
    let mut seen = BTreeMap::new();
    let first = invite_to(&mut w, "bob", "conv-replay-1", "contrib-replay-1");
    call_and_hang_up(&mut w, first.clone(), &mut seen);
    let mut reused = invite_to(&mut w, "bob", "conv-replay-2", "contrib-replay-2");
    reused.headers.call_id = first.headers.call_id.clone();
    reused.headers.from = first.headers.from.clone();
    call_and_hang_up(&mut w, reused, &mut seen);
    call_and_hang_up(&mut w, first, &mut seen);
    let repeated: Vec<_> = seen.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(repeated.is_empty(), "minted twice: {repeated:?}");
    // Per call: INVITE, ACK and BYE branches, the INVITE's tag and Call-ID, A's tag.
    assert_eq!(seen.len(), 3 * 6, "{seen:?}");
}
