//! The users a resource-list REFER names (RFC 5368): `Refer-To` is a `cid:` URL
//! (RFC 2392) naming the request's `application/resource-lists+xml` body — the whole
//! body, or the `multipart/mixed` part whose `Content-ID` it names (specs/group.md,
//! GRP-32).
//!
//! What it is not: what the focus does with the users (group_refer.rs) nor the
//! parsers (`wire::multipart`, `wire::resource_lists`).

use crate::body::ResourceList;
use crate::sip::{MediaType, Request};
use crate::uri::UserUri;
use crate::wire::{self, Limits};

/// What a `cid:` Refer-To stands for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ListAsk {
    /// The Refer-To is not a `cid:` URL: an ordinary REFER.
    NotAList,
    /// The listed users, each once, in document order.
    Users(Vec<UserUri>),
    /// The list cannot be used: no such body part, not a resource list, an entry
    /// that is not a user or asks another method than INVITE, or no entry at all.
    Unusable,
}

/// The content id a `Refer-To: <cid:…>` names, percent-decoded (RFC 2392 §2).
fn cid_of(req: &Request) -> Option<String> {
    let value = req.headers.other("Refer-To")?.trim();
    let inner = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next()?,
    };
    let scheme = inner.get(..4)?;
    if !scheme.eq_ignore_ascii_case("cid:") {
        return None;
    }
    Some(percent_decode(&inner[4..]))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_resource_list(ct: Option<&MediaType>) -> bool {
    ct.is_some_and(|ct| {
        ct.kind.eq_ignore_ascii_case("application")
            && ct.subtype.eq_ignore_ascii_case("resource-lists+xml")
    })
}

/// The resource-list REFER's users (GRP-32).
pub(crate) fn refer_list(req: &Request, limits: &Limits) -> ListAsk {
    let Some(cid) = cid_of(req) else {
        return ListAsk::NotAList;
    };
    let ct = req.headers.content_type.as_ref();
    let xml: Option<Vec<u8>> = if is_resource_list(ct) {
        Some(req.body.clone())
    } else if ct.is_some_and(|ct| {
        ct.kind.eq_ignore_ascii_case("multipart") && ct.subtype.eq_ignore_ascii_case("mixed")
    }) {
        let parts = ct
            .and_then(|ct| wire::multipart::decode(ct, &req.body, limits).ok())
            .unwrap_or_default();
        parts
            .into_iter()
            .find(|p| {
                is_resource_list(p.content_type.as_ref())
                    && p.headers.iter().any(|(n, v)| {
                        n.eq_ignore_ascii_case("Content-ID")
                            && v.trim().trim_start_matches('<').trim_end_matches('>') == cid
                    })
            })
            .map(|p| p.body)
    } else {
        None
    };
    let Some(list) = xml.and_then(|x| wire::resource_lists::decode(&x, limits).ok()) else {
        return ListAsk::Unusable;
    };
    users_of(&list)
}

fn users_of(list: &ResourceList) -> ListAsk {
    let mut users: Vec<UserUri> = Vec::new();
    for entry in &list.entries {
        let invite = entry
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case("INVITE"));
        let Some(user) = UserUri::from_uri(&entry.uri).filter(|_| invite) else {
            return ListAsk::Unusable;
        };
        if !users.contains(&user) {
            users.push(user);
        }
    }
    if users.is_empty() {
        ListAsk::Unusable
    } else {
        ListAsk::Users(users)
    }
}
