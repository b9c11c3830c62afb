//! History storage behind the [`HistoryStore`] trait, and the store task that runs it
//! off the event loop.
//!
//! Until the storage issue brings SQLite/PostgreSQL, the default store
//! ([`JsonlStore`]) appends one JSON object per record to `history.jsonl` in the data
//! directory and `fsync`s (`sync_data`) before it reports success: a record the core
//! is told is durable is on disk. Every object has a `kind`: `message`,
//! `session_info` or `history`.
//!
//! Group commit: the store task writes every job already queued (up to
//! [`MAX_BATCH`]) and then `fsync`s once for all of them, so durability costs one
//! fsync per batch rather than one per record; no job is answered before that fsync.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use cpmd_core::server::{
    HistoryObject, ParticipantRecord, Record, SessionInfo, SessionKey, SessionType, StoredMessage,
};
use cpmd_core::StoreTicket;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The error type the core takes back.
pub use cpmd_core::server::StoreError;

/// Where records become durable. Implementations block; the store task runs them on
/// a blocking thread.
pub trait HistoryStore: Send + 'static {
    /// Writes one record (a chat message or a session info object); durable only
    /// after the next successful [`HistoryStore::sync`].
    fn persist(&mut self, record: &Record) -> Result<(), StoreError>;
    /// Writes a session history object (seals the session); durable only after the
    /// next successful [`HistoryStore::sync`].
    fn seal(&mut self, history: &HistoryObject) -> Result<(), StoreError>;
    /// Makes everything written so far durable.
    fn sync(&mut self) -> Result<(), StoreError>;
}

/// Most jobs one fsync covers.
pub const MAX_BATCH: usize = 256;

/// Work for the store task.
#[derive(Debug)]
pub enum StoreJob {
    /// A `Persist` command.
    Persist(StoreTicket, Record),
    /// A `SealSession` command.
    Seal(StoreTicket, HistoryObject),
}

/// The store's answer, fed back with `handle_store_result`.
pub type StoreDone = (StoreTicket, Result<(), StoreError>);

/// Runs `store` on a blocking thread: jobs in, answers out, in order. The thread
/// ends when the job channel closes (shutdown), after finishing every queued job.
pub fn spawn_store_task(
    mut store: impl HistoryStore,
    mut jobs: mpsc::UnboundedReceiver<StoreJob>,
    done: mpsc::UnboundedSender<StoreDone>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        while let Some(first) = jobs.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let mut answers: Vec<StoreDone> = batch
                .iter()
                .map(|job| match job {
                    StoreJob::Persist(ticket, record) => (*ticket, store.persist(record)),
                    StoreJob::Seal(ticket, history) => (*ticket, store.seal(history)),
                })
                .collect();
            // One fsync makes the whole batch durable; if it fails, nothing in the
            // batch may be reported durable.
            if let Err(e) = store.sync() {
                for answer in answers.iter_mut().filter(|a| a.1.is_ok()) {
                    answer.1 = Err(e.clone());
                }
            }
            for answer in answers {
                if let Err(e) = &answer.1 {
                    tracing::error!(ticket = %answer.0, error = %e, "store write failed");
                }
                if done.send(answer).is_err() {
                    tracing::warn!("event loop gone; store answer dropped");
                }
            }
        }
    })
}

/// The embedded default store: JSON lines in `<data_dir>/history.jsonl`.
pub struct JsonlStore {
    path: PathBuf,
    file: File,
}

impl JsonlStore {
    /// Opens (creating the directory and file when missing) the history file.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("history.jsonl");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self { path, file })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, value: &Value) -> Result<(), StoreError> {
        let mut line = value.to_string();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| self.error(&e))
    }

    fn error(&self, e: &std::io::Error) -> StoreError {
        StoreError {
            reason: format!("{}: {e}", self.path.display()),
        }
    }
}

impl HistoryStore for JsonlStore {
    fn persist(&mut self, record: &Record) -> Result<(), StoreError> {
        let value = match record {
            Record::Message(m) => message_json(m),
            Record::SessionInfo(info) => {
                let mut v = info_json(info);
                v["kind"] = json!("session_info");
                v
            }
            Record::Standalone(m) => json!({
                "kind": "standalone",
                "conversation_id": m.conversation_id.as_str(),
                "contribution_id": m.contribution_id.as_ref().map(|c| c.as_str()),
                "sender": m.sender.as_str(),
                "recipients": m.recipients.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                "message_id": m.message_id.as_str(),
                "content_type": m.content_type,
                "body": String::from_utf8_lossy(&m.body),
            }),
            Record::Disposition(d) => json!({
                "kind": "disposition",
                "conversation_id": d.conversation_id.as_str(),
                "contribution_id": d.contribution_id.as_ref().map(|c| c.as_str()),
                "message_id": d.message_id.as_str(),
                "recipient": d.recipient.as_str(),
                "disposition": format!("{:?}", d.disposition),
            }),
        };
        self.append(&value)
    }

    fn seal(&mut self, history: &HistoryObject) -> Result<(), StoreError> {
        self.append(&history_json(history))
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|e| self.error(&e))
    }
}

fn key_json(key: &SessionKey) -> Value {
    json!({
        "session": key.session.get(),
        "conversation_id": key.conversation_id.as_str(),
        "contribution_id": key.contribution_id.as_str(),
    })
}

fn session_type_str(t: SessionType) -> &'static str {
    match t {
        SessionType::OneToOne => "1-1",
        SessionType::AdHoc => "Ad-Hoc",
    }
}

/// The session info object (without `kind`).
fn info_json(info: &SessionInfo) -> Value {
    let mut v = key_json(&info.key);
    let fields = json!({
        "session_type": session_type_str(info.session_type),
        "from": info.from.as_str(),
        "to": info.to,
        "date": info.date,
        "subject": info.subject,
        "in_reply_to_contribution_id": info.in_reply_to.as_ref().map(|c| c.as_str()),
        "sdp": info.sdp,
        "media_attributes": info.media_attributes,
        "invited": info.invited.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
    });
    merge(&mut v, fields);
    v
}

fn message_json(m: &StoredMessage) -> Value {
    let mut v = key_json(&m.key);
    let body = String::from_utf8(m.body.clone());
    let fields = json!({
        "kind": "message",
        "seq": m.seq,
        "sender": m.sender.as_str(),
        "recipients": m.recipients.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "message_id": m.message_id.as_str(),
        "content_type": m.content_type,
        // Text bodies stay readable; anything else is kept as its bytes.
        "body": body.as_ref().ok(),
        "body_bytes": body.as_ref().err().map(|e| e.as_bytes()),
    });
    merge(&mut v, fields);
    v
}

fn participant_json(p: &ParticipantRecord) -> Value {
    json!({ "user": p.user.as_str(), "state": p.state })
}

fn history_json(h: &HistoryObject) -> Value {
    json!({
        "kind": "history",
        "info": info_json(&h.info),
        "contribution_id": h.info.key.contribution_id.as_str(),
        "conversation_id": h.info.key.conversation_id.as_str(),
        "messages": h.messages,
        "participants": h.participants.iter().map(participant_json).collect::<Vec<_>>(),
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpmd_core::{ContributionId, ConversationId, SessionId, UserUri};

    fn info() -> SessionInfo {
        SessionInfo {
            key: SessionKey {
                session: SessionId::new(3),
                conversation_id: ConversationId::new("conv"),
                contribution_id: ContributionId::new("k2"),
            },
            session_type: SessionType::AdHoc,
            from: UserUri::new_canonical("sip:alice@example.com"),
            to: "sip:conf-factory@example.com".into(),
            date: "Thu, 26 Nov 2026 12:30:00 GMT".into(),
            subject: None,
            in_reply_to: None,
            sdp: "v=0\r\n".into(),
            media_attributes: vec!["setup:active".into()],
            invited: vec![UserUri::new_canonical("sip:bob@example.com")],
        }
    }

    #[test]
    fn records_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = JsonlStore::open(&dir.path().join("d")).unwrap();
        store.persist(&Record::SessionInfo(info())).unwrap();
        store
            .seal(&HistoryObject {
                info: info(),
                messages: vec![1, 2],
                participants: vec![ParticipantRecord {
                    user: UserUri::new_canonical("sip:bob@example.com"),
                    state: "joined".into(),
                }],
            })
            .unwrap();
        store.sync().unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["kind"], "session_info");
        assert_eq!(lines[0]["contribution_id"], "k2");
        assert_eq!(lines[0]["session_type"], "Ad-Hoc");
        assert_eq!(lines[0]["media_attributes"][0], "setup:active");
        assert_eq!(lines[1]["kind"], "history");
        assert_eq!(lines[1]["info"]["from"], "sip:alice@example.com");
        assert_eq!(lines[1]["messages"], json!([1, 2]));
        assert_eq!(lines[1]["participants"][0]["state"], "joined");
    }
}
