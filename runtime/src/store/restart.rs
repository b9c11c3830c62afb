//! Restarting an ended group in the store (specs/group.md, GRP-23, GRP-24): the
//! session info of a group whose Conversation-ID and Contribution-ID name a group
//! session this instance sealed *reopens* that session row, instead of being
//! refused as a write to a sealed session (HIST-2). The restarted run's messages
//! are numbered after every message the row already holds (its *base*, kept in the
//! `watermark` column while the row is open again), so the first run's messages
//! stay as they are — in the history, in every party's session folder — and the
//! next seal touches only the restarted run's.
//!
//! What it is *not*: reopening a 1-to-1 (its Contribution-ID is never reused:
//! HIST-2 stands), another instance's session (SEC-7), or a session for someone
//! who was not in the group (refused as [`StoreError::NotAParty`]); nor the
//! writing itself (`history.rs`).

use cpmd_core::server::{SessionInfo, SessionType, StoreError};
use cpmd_core::UserUri;

use crate::store::layout;
use crate::store::ops::Ops;
use crate::store::sql::{Conn, DbError};

/// An ended group the info names, owned by `instance`: `(row id, requester was
/// in it)`; `None` when the info is not a group's or names no ended group of ours.
fn ended_group<C: Conn + ?Sized>(
    conn: &mut C,
    instance: i64,
    info: &SessionInfo,
) -> Result<Option<(i64, bool)>, DbError> {
    if info.session_type != SessionType::AdHoc {
        return Ok(None);
    }
    let Some(row) = conn.query_opt(
        "SELECT s.id, s.from_uri FROM sessions s JOIN conversations cv ON s.conversation = cv.id \
         WHERE cv.conversation_id = $1 AND s.contribution_id = $2 AND s.instance = $3 \
         AND s.state IN ('sealed', 'crashed') AND s.session_type = $4",
        &[
            info.key.conversation_id.as_str().into(),
            info.key.contribution_id.as_str().into(),
            instance.into(),
            layout::session_type_token(SessionType::AdHoc).into(),
        ],
    )?
    else {
        return Ok(None);
    };
    let id = row.int(0)?;
    let requester = info.from.as_str();
    // The creator, or a participant the chairman did not remove (GRP-15).
    let member = row.opt_text(1)?.as_deref() == Some(requester)
        || conn
            .query_opt(
                "SELECT 1 FROM participants WHERE session = $1 AND uri = $2 AND state <> 'removed'",
                &[id.into(), requester.into()],
            )?
            .is_some();
    Ok(Some((id, member)))
}

/// GRP-24: a restart by someone who was not in the ended group is refused before
/// anything is written. GRP-40: so is a group info that invites nobody (a restart
/// naming no one) when its ids name no ended group: there is no stored state to
/// take the participants from. GRP-41: so is a group info under the ids of an
/// ended 1-to-1.
pub fn refusal<C: Conn + ?Sized>(
    conn: &mut C,
    instance: i64,
    info: &SessionInfo,
) -> Result<Option<StoreError>, DbError> {
    Ok(match ended_group(conn, instance, info)? {
        Some((_, false)) => Some(StoreError::NotAParty {
            user: info.from.as_str().to_owned(),
        }),
        Some((_, true)) => None,
        None if info.session_type == SessionType::AdHoc
            && (info.invited.is_empty() || ended_session(conn, instance, info)?) =>
        {
            Some(StoreError::NoEndedGroup {
                contribution_id: info.key.contribution_id.as_str().to_owned(),
            })
        }
        None => None,
    })
}

/// GRP-41: whether the info's ids name a session of ours that ended and is no
/// group to restart (a sealed 1-to-1's): a group info under them is refused with
/// `NoEndedGroup` (404) rather than failing as a write to a sealed session (500).
fn ended_session<C: Conn + ?Sized>(
    conn: &mut C,
    instance: i64,
    info: &SessionInfo,
) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM sessions s JOIN conversations cv ON s.conversation = cv.id \
             WHERE cv.conversation_id = $1 AND s.contribution_id = $2 AND s.instance = $3 \
             AND s.state IN ('sealed', 'crashed')",
            &[
                info.key.conversation_id.as_str().into(),
                info.key.contribution_id.as_str().into(),
                instance.into(),
            ],
        )?
        .is_some())
}

/// The statuses of a stored group state whose users a restart invites again
/// (GRP-40): the members (joined at some time: `joined`, `left`) and the ones
/// still being invited. Not `removed` (GRP-15: out for good), nor `declined`,
/// `no-answer` or `failed` (never members of the group).
const RESTARTED: [&str; 3] = ["joined", "left", "invited"];

/// GRP-40: the users of the ended group the info names that its restart invites,
/// from the group's last stored group state object (the seal's participants; for
/// a group a crash sealed, its last per-change version, GRP-20), in its order;
/// `None` when the info restarts no ended group of ours or its requester may not.
pub fn members<C: Conn + ?Sized>(
    conn: &mut C,
    instance: i64,
    info: &SessionInfo,
) -> Result<Option<Vec<UserUri>>, DbError> {
    let Some((id, true)) = ended_group(conn, instance, info)? else {
        return Ok(None);
    };
    let mut states: Vec<(String, String)> = Vec::new();
    for row in conn.query(
        "SELECT state, uri FROM participants WHERE session = $1 ORDER BY position",
        &[id.into()],
    )? {
        states.push((row.text(0)?, row.text(1)?));
    }
    if states.is_empty() {
        if let Some(row) = conn.query_opt(
            "SELECT participants FROM group_states WHERE session = $1 ORDER BY version DESC LIMIT 1",
            &[id.into()],
        )? {
            for line in row.text(0)?.lines() {
                if let Some((state, uri)) = line.split_once(' ') {
                    states.push((state.to_owned(), uri.to_owned()));
                }
            }
        }
    }
    Ok(Some(
        states
            .into_iter()
            .filter(|(state, _)| RESTARTED.contains(&state.as_str()))
            .map(|(_, uri)| UserUri::new_canonical(uri))
            .collect(),
    ))
}

/// GRP-23: reopens the ended group the info names (if any) for the restarted run:
/// open again, this boot's core session, its base the highest sequence number it
/// holds (the dropped messages of HIST-3 included: their rows stay).
pub(crate) fn reopen<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    info: &SessionInfo,
) -> Result<(), DbError> {
    let Some((id, member)) = ended_group(ops.conn, instance, info)? else {
        return Ok(());
    };
    if !member {
        return Err(DbError(format!(
            "{} was not in the group {}",
            info.from.as_str(),
            info.key.contribution_id.as_str()
        )));
    }
    let core_session = i64::try_from(info.key.session.get()).map_err(DbError::data)?;
    ops.conn.exec(
        "UPDATE sessions SET state = 'open', core_session = $1, sealed_at = NULL, \
         watermark = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session = $2) WHERE id = $2",
        &[core_session.into(), id.into()],
    )?;
    Ok(())
}

/// The base of an open session's sequence numbers: `None` for a session in its
/// first run, the highest stored sequence number before the restart for a
/// reopened one (GRP-23).
pub(crate) fn base<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    session: i64,
) -> Result<Option<i64>, DbError> {
    if let Some(base) = ops.cache.session_bases.get(&session) {
        return Ok(*base);
    }
    // -1: no base (sequence numbers are never negative).
    let base = ops
        .conn
        .query_one(
            "SELECT COALESCE(watermark, -1) FROM sessions WHERE id = $1 AND state = 'open'",
            &[session.into()],
        )?
        .int(0)?;
    let base = (base >= 0).then_some(base);
    ops.cache.session_bases.insert(session, base);
    Ok(base)
}
