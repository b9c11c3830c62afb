//! Reading back what the store holds, record by record, for tests and operators:
//! every session (its info, state, final message set and participants), every chat
//! message, standalone message and IMAP disposition, on either backend.
//!
//! This is the one place outside the writer that knows the tables (`schema/`); the
//! end-to-end tests read a real cpmd's store through it rather than with SQL of
//! their own. It only reads. It is not what users see: that is the per-user
//! [`MailStore`] view ([`open_mail_view`]), made of RFC 5322 objects.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::mailstore::MailStore;
use crate::store::mail::MailView;
use crate::store::ops::split_list;
use crate::store::sql::{Conn, DbError, Row};
use crate::store::{postgres, sqlite, StoreUrl, FEED_CAPACITY};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Its Conversation-ID.
    pub conversation_id: String,
    /// Its Contribution-ID.
    pub contribution_id: String,
    /// The session info, when known (a group's from its `Persist`, a 1-to-1's
    /// from its seal): `None` until then.
    pub info: Option<StoredInfo>,
    /// `open`, `sealed` or `crashed` (sealed at start-up after a crash).
    pub state: String,
    /// The sequence numbers of the final message set (empty while open).
    pub final_set: Vec<u64>,
    /// The participants recorded at the seal, in order: (URI, state).
    pub participants: Vec<(String, String)>,
}

/// The session info fields of a stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInfo {
    /// `1-1` or the group's session type token.
    pub session_type: String,
    /// From.
    pub from: Option<String>,
    /// To.
    pub to: Option<String>,
    /// Date.
    pub date: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// The SDP of the session.
    pub sdp: Option<String>,
    /// Its media attributes (`a=` lines without `a=`).
    pub media_attributes: Vec<String>,
    /// The invited users.
    pub invited: Vec<String>,
}

/// A chat message (session mode) or a standalone (pager mode) message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The Conversation-ID of its session (or of the standalone message).
    pub conversation_id: String,
    /// The Contribution-ID of its session (standalone: its own, if any).
    pub contribution_id: Option<String>,
    /// The server's sequence number in its session (`None` for standalone).
    pub seq: Option<u64>,
    /// The sender.
    pub sender: String,
    /// The recipients.
    pub recipients: Vec<String>,
    /// imdn.Message-ID.
    pub message_id: String,
    /// Its Content-Type.
    pub content_type: String,
    /// The body as received.
    pub body: Vec<u8>,
}

/// Which IMDN state a recipient reached for a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDisposition {
    /// Delivered (and not displayed).
    Delivered,
    /// Displayed.
    Displayed,
    /// Delivery failed.
    Failed,
}

/// One recipient's disposition of a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDispositionOf {
    /// The Conversation-ID of the message.
    pub conversation_id: String,
    /// imdn.Message-ID of the message.
    pub message_id: String,
    /// The recipient.
    pub recipient: String,
    /// The state reached.
    pub disposition: StoredDisposition,
}

/// Everything the store holds, in storage order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreContents {
    /// Sessions.
    pub sessions: Vec<StoredSession>,
    /// Chat messages of sessions.
    pub messages: Vec<StoredMessage>,
    /// Standalone (pager mode) messages.
    pub standalone: Vec<StoredMessage>,
    /// IMDN dispositions.
    pub dispositions: Vec<StoredDispositionOf>,
}

/// Reads the store at `url` (connects without migrating or recovering anything).
pub fn read_contents(url: &StoreUrl) -> Result<StoreContents, DbError> {
    match url {
        StoreUrl::Sqlite(path) => read(&mut sqlite::SqliteConn::open(path)?),
        StoreUrl::Postgres(u) => read(&mut postgres::PgConn::connect(u)?),
    }
}

/// The per-user mailbox view of the store at `url`, as the IMAP server reads it
/// (connects without migrating or recovering anything; the change feed hears only
/// of this view's own changes).
pub fn open_mail_view(url: &StoreUrl) -> Result<Arc<dyn MailStore>, DbError> {
    let (feed, _) = broadcast::channel(FEED_CAPACITY);
    Ok(match url {
        StoreUrl::Sqlite(path) => Arc::new(MailView::new(sqlite::SqliteConn::open(path)?, feed)),
        StoreUrl::Postgres(u) => Arc::new(MailView::new(postgres::PgConn::connect(u)?, feed)),
    })
}

fn seq(v: i64) -> Result<u64, DbError> {
    u64::try_from(v).map_err(DbError::data)
}

/// Reads everything over `conn`.
pub fn read<C: Conn + ?Sized>(conn: &mut C) -> Result<StoreContents, DbError> {
    Ok(StoreContents {
        sessions: sessions(conn)?,
        messages: messages(conn)?,
        standalone: standalone(conn)?,
        dispositions: dispositions(conn)?,
    })
}

fn sessions<C: Conn + ?Sized>(conn: &mut C) -> Result<Vec<StoredSession>, DbError> {
    let rows = conn.query(
        "SELECT s.id, cv.conversation_id, s.contribution_id, s.session_type, s.from_uri, s.to_uri, \
         s.date, s.subject, s.sdp, s.media_attributes, s.invited, s.state \
         FROM sessions s JOIN conversations cv ON s.conversation = cv.id ORDER BY s.id",
        &[],
    )?;
    let mut out = Vec::new();
    for r in rows {
        let id = r.int(0)?;
        let state = r.text(11)?;
        let (final_set, participants) = if state == "open" {
            (Vec::new(), Vec::new())
        } else {
            let set = conn
                .query(
                    "SELECT seq FROM messages WHERE session = $1 AND in_history = 1 ORDER BY seq",
                    &[id.into()],
                )?
                .iter()
                .map(|m| m.int(0).and_then(seq))
                .collect::<Result<_, _>>()?;
            let parts = conn
                .query(
                    "SELECT uri, state FROM participants WHERE session = $1 ORDER BY position",
                    &[id.into()],
                )?
                .iter()
                .map(|p| Ok((p.text(0)?, p.text(1)?)))
                .collect::<Result<_, DbError>>()?;
            (set, parts)
        };
        out.push(StoredSession {
            conversation_id: r.text(1)?,
            contribution_id: r.text(2)?,
            info: info(&r)?,
            state,
            final_set,
            participants,
        });
    }
    Ok(out)
}

fn info(r: &Row) -> Result<Option<StoredInfo>, DbError> {
    let Some(session_type) = r.opt_text(3)? else {
        return Ok(None);
    };
    let list = |i| -> Result<Vec<String>, DbError> {
        Ok(r.opt_text(i)?.map(|t| split_list(&t)).unwrap_or_default())
    };
    Ok(Some(StoredInfo {
        session_type,
        from: r.opt_text(4)?,
        to: r.opt_text(5)?,
        date: r.opt_text(6)?,
        subject: r.opt_text(7)?,
        sdp: r.opt_text(8)?,
        media_attributes: list(9)?,
        invited: list(10)?,
    }))
}

fn messages<C: Conn + ?Sized>(conn: &mut C) -> Result<Vec<StoredMessage>, DbError> {
    conn.query(
        "SELECT cv.conversation_id, s.contribution_id, m.seq, m.sender, m.recipients, m.message_id, \
         m.content_type, m.body FROM messages m JOIN sessions s ON m.session = s.id \
         JOIN conversations cv ON s.conversation = cv.id ORDER BY m.id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(StoredMessage {
            conversation_id: r.text(0)?,
            contribution_id: Some(r.text(1)?),
            seq: Some(seq(r.int(2)?)?),
            sender: r.text(3)?,
            recipients: split_list(&r.text(4)?),
            message_id: r.text(5)?,
            content_type: r.text(6)?,
            body: r.bytes(7)?,
        })
    })
    .collect()
}

fn standalone<C: Conn + ?Sized>(conn: &mut C) -> Result<Vec<StoredMessage>, DbError> {
    conn.query(
        "SELECT cv.conversation_id, st.contribution_id, st.sender, st.recipients, st.message_id, \
         st.content_type, st.body FROM standalone st JOIN conversations cv ON st.conversation = cv.id \
         ORDER BY st.id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(StoredMessage {
            conversation_id: r.text(0)?,
            contribution_id: r.opt_text(1)?,
            seq: None,
            sender: r.text(2)?,
            recipients: split_list(&r.text(3)?),
            message_id: r.text(4)?,
            content_type: r.text(5)?,
            body: r.bytes(6)?,
        })
    })
    .collect()
}

fn dispositions<C: Conn + ?Sized>(conn: &mut C) -> Result<Vec<StoredDispositionOf>, DbError> {
    conn.query(
        "SELECT cv.conversation_id, COALESCE(m.message_id, st.message_id), d.recipient, \
         d.delivered, d.displayed, d.failed FROM dispositions d \
         LEFT JOIN messages m ON d.kind = 'message' AND d.ref_id = m.id \
         LEFT JOIN sessions s ON m.session = s.id \
         LEFT JOIN standalone st ON d.kind = 'standalone' AND d.ref_id = st.id \
         JOIN conversations cv ON cv.id = COALESCE(s.conversation, st.conversation) \
         ORDER BY d.kind, d.ref_id, d.recipient",
        &[],
    )?
    .iter()
    .map(|r| {
        let disposition = match (r.int(4)?, r.int(5)?) {
            (_, 1) => StoredDisposition::Failed,
            (1, _) => StoredDisposition::Displayed,
            _ => StoredDisposition::Delivered,
        };
        Ok(StoredDispositionOf {
            conversation_id: r.text(0)?,
            message_id: r.text(1)?,
            recipient: r.text(2)?,
            disposition,
        })
    })
    .collect()
}
