//! Crash recovery's view of an open session: the history object built from what
//! the store holds (the session's info, or for a 1-to-1, whose info only comes with
//! its seal, one built from its first message; and every stored message in
//! sequence order). `HistoryWriter::recover` seals it as ended by crash. Not here:
//! the sealing itself (`history.rs`).

use cpmd_core::server::{HistoryObject, ParticipantRecord, SessionInfo, SessionKey, SessionType};
use cpmd_core::{ContributionId, ConversationId, SessionId, UserUri};

use crate::store::ops::{split_list, Ops};
use crate::store::sql::{Conn, DbError, Row};

/// The history object of an open session from what the store holds: its info
/// (or, for a 1-to-1 whose info only comes with the seal, one built from its first
/// message) and every stored message in sequence order.
pub fn stored_history<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    session: i64,
) -> Result<HistoryObject, DbError> {
    let s = ops.conn.query_one(
        "SELECT cv.conversation_id, s.contribution_id, s.core_session, s.session_type, s.from_uri, \
         s.to_uri, s.date, s.subject, s.in_reply_to, s.sdp, s.media_attributes, s.invited \
         FROM sessions s JOIN conversations cv ON s.conversation = cv.id WHERE s.id = $1",
        &[session.into()],
    )?;
    let key = SessionKey {
        session: SessionId::new(u64::try_from(s.int(2)?).map_err(DbError::data)?),
        conversation_id: ConversationId::new(s.text(0)?),
        contribution_id: ContributionId::new(s.text(1)?),
    };
    // GRP-23: a restarted group's run is its messages after the base, numbered
    // as the core numbered them (the seal adds the base back).
    let base = crate::store::restart::base(ops, session)?.unwrap_or(0);
    let messages = ops.conn.query(
        "SELECT seq, sender, recipients, date FROM messages WHERE session = $1 AND seq > $2 ORDER BY seq",
        &[session.into(), base.into()],
    )?;
    let seqs = messages
        .iter()
        .map(|m| {
            m.int(0)
                .and_then(|v| u64::try_from(v - base).map_err(DbError::data))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let info = match s.opt_text(3)? {
        Some(t) => info_from_row(key, &t, &s)?,
        None => info_from_message(key, messages.first())?,
    };
    Ok(HistoryObject {
        info,
        messages: seqs,
        participants: Vec::<ParticipantRecord>::new(),
        focus: None,
    })
}

fn info_from_row(key: SessionKey, session_type: &str, s: &Row) -> Result<SessionInfo, DbError> {
    Ok(SessionInfo {
        key,
        session_type: if session_type == "1-1" {
            SessionType::OneToOne
        } else {
            SessionType::AdHoc
        },
        from: UserUri::new_canonical(s.opt_text(4)?.unwrap_or_default()),
        to: s.opt_text(5)?.unwrap_or_default(),
        date: s.opt_text(6)?.unwrap_or_default(),
        subject: s.opt_text(7)?,
        in_reply_to: s.opt_text(8)?.map(ContributionId::new),
        sdp: s.opt_text(9)?.unwrap_or_default(),
        media_attributes: split_list(&s.opt_text(10)?.unwrap_or_default()),
        invited: split_list(&s.opt_text(11)?.unwrap_or_default())
            .into_iter()
            .map(UserUri::new_canonical)
            .collect(),
    })
}

/// A 1-to-1's info when only its messages were stored: the first message's sender
/// as `From`, its recipients as `To` and invited, its date.
fn info_from_message(key: SessionKey, first: Option<&Row>) -> Result<SessionInfo, DbError> {
    let first = first.ok_or_else(|| DbError::data("open session without info or messages"))?;
    let recipients = split_list(&first.text(2)?);
    Ok(SessionInfo {
        key,
        session_type: SessionType::OneToOne,
        from: UserUri::new_canonical(first.text(1)?),
        to: recipients.first().cloned().unwrap_or_default(),
        date: first.text(3)?,
        subject: None,
        in_reply_to: None,
        sdp: String::new(),
        media_attributes: Vec::new(),
        invited: recipients.into_iter().map(UserUri::new_canonical).collect(),
    })
}
