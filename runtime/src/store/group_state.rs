//! The group state object per change (specs/group.md, GRP-20; table `group_states`
//! of `schema/*/0005_group_states.sql`): each version the core hands over
//! (`Record::GroupState`) becomes a row numbered 1, 2, 3… per group and a new
//! object (`entries.kind` `group_state_version`) in the group's session folder of
//! every party, so an IMAP client reads every version, in order.
//!
//! What it is *not*: the final group state object the seal files (`history.rs`,
//! kind `group_state`, replaced rather than added), nor the core's decision of when
//! a version is due (`server/group_state.rs`).

use cpmd_core::server::GroupStateRecord;
use cpmd_core::UserUri;

use crate::store::history::{add_parties, open_session};
use crate::store::layout;
use crate::store::ops::{NewEntry, Ops};
use crate::store::sql::{Conn, DbError};

/// The `entries.kind` of a per-change version.
pub const KIND: &str = "group_state_version";

/// Stores one version: its row (the next version number of the group) and its
/// object for the creator, every invitee and every participant. A group that is no
/// longer open (sealed) takes no version (the refusal of `open_session`).
pub fn persist<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    g: &GroupStateRecord,
) -> Result<(), DbError> {
    let session = open_session(ops, instance, &g.info.key)?;
    let version = ops
        .conn
        .query_one(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM group_states WHERE session = $1",
            &[session.into()],
        )?
        .int(0)?;
    let lines: Vec<String> = g
        .participants
        .iter()
        .map(|p| format!("{} {}", p.state, p.user.as_str()))
        .collect();
    let id = ops
        .conn
        .insert_id(
            "INSERT INTO group_states (session, version, focus, subject, participants, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                session.into(),
                version.into(),
                g.focus.as_str().into(),
                g.subject.clone().into(),
                lines.join("\n").into(),
                ops.now.into(),
            ],
        )?
        .ok_or_else(|| DbError("a group state row was not inserted".into()))?;
    let raw = layout::group_state_with_subject(
        &g.info,
        g.subject.as_deref(),
        &g.participants,
        &g.focus,
        &layout::rfc5322_date(ops.now),
        &layout::iso8601(ops.now),
    );
    let mailbox = layout::session_mailbox(
        g.info.key.conversation_id.as_str(),
        g.info.key.contribution_id.as_str(),
    );
    let mut parties = vec![g.info.from.as_str().to_owned()];
    add_parties(&mut parties, g.info.invited.iter().map(UserUri::as_str));
    add_parties(&mut parties, g.participants.iter().map(|p| p.user.as_str()));
    for p in &parties {
        let entry = NewEntry {
            kind: KIND,
            ref_id: id,
            flags: 0,
            raw: &raw,
            body_elsewhere: 0,
            from_session_row: false,
        };
        ops.add_entry(p, &mailbox, entry)?;
    }
    Ok(())
}
