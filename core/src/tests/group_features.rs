//! Group features beyond the roster (specs/group.md, GRP-30..): the `Allow` cpmd
//! advertises, group invitations forked to every device of a user, resource-list
//! REFERs and the subject change.

use super::flows::*;
use crate::sip::{Method, StatusCode};

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
