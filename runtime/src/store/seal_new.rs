//! The seal of a session the store holds nothing of yet: a 1-to-1 whose parties
//! sent no message (its info arrives only with the seal), the usual case of a
//! call-like session. Its row is made already sealed, info included, by one
//! `INSERT`; and since nothing can refer to a row made by this very statement, the
//! general seal's reads are skipped: no stored messages to mark (HIST-3), no filed
//! objects to replace, no participants to delete. The parties' info objects are
//! filed in few statements (`ops_many.rs`).
//!
//! What it is not: a different outcome. The row, its columns, the filed objects,
//! their UIDs and MODSEQs are those of the general seal (`history.rs`); when the
//! row exists (messages were stored, a group's info was, another instance's or a
//! sealed session holds the ids: HIST-2, SEC-7), the `INSERT` does nothing and
//! the general seal runs, with its checks.

use cpmd_core::server::HistoryObject;

use crate::store::history::{file_sealed, info_parties, info_values, Filed};
use crate::store::ops::Ops;
use crate::store::sql::{Conn, DbError};

/// Seals `h` by making its row sealed if the store has no row of it; `false`
/// (nothing written) when it has one, or this writer holds it open.
pub(crate) fn seal_unstored<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    h: &HistoryObject,
) -> Result<bool, DbError> {
    let key = &h.info.key;
    let conversation = ops.conversation(key.conversation_id.as_str())?;
    let contribution = key.contribution_id.as_str();
    if ops
        .cache
        .open_sessions
        .contains_key(&(conversation, contribution.to_owned()))
    {
        return Ok(false);
    }
    let core_session = i64::try_from(key.session.get()).map_err(DbError::data)?;
    // As the general seal computes it for a first run (no base).
    let watermark = h
        .messages
        .last()
        .map(|s| i64::try_from(*s))
        .transpose()
        .map_err(DbError::data)?;
    let mut values = info_values(&h.info);
    values.extend([
        conversation.into(),
        contribution.into(),
        instance.into(),
        core_session.into(),
        watermark.into(),
        ops.now.into(),
    ]);
    let made = ops.conn.insert_id(
        "INSERT INTO sessions (session_type, from_uri, to_uri, date, subject, in_reply_to, sdp, \
         media_attributes, invited, conversation, contribution_id, instance, core_session, state, \
         watermark, sealed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'sealed', $14, $15) \
         ON CONFLICT (conversation, contribution_id) DO NOTHING",
        &values,
    )?;
    let Some(session) = made else {
        return Ok(false);
    };
    let parties = info_parties(h);
    file_sealed(ops, session, h, &parties, false, Filed::None)?;
    Ok(true)
}
