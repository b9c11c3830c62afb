//! MSRP-3: A sends a SEND with a wrong path on its bound 1-to-1 connection
//! (`Setup::wrong_paths`): once with a To-Path whose session-id names no leg (the
//! server must answer 481), once with a From-Path that is not A's `a=path` on the
//! leg (403). Either is taken on nowhere: never persisted (so never delivered,
//! MSG-1) and answered in the step that sent it, with that status.
//!
//! The SENDs' transaction ids (`alice-wrong-481`, `alice-wrong-403`) say what
//! answer is due; their Message-ID (`alice-wrong-1`) marks a message that must not
//! reach the store. The due answer is a mark in the ghost cleared once the step's
//! commands were drained (never in a stored state). Not here: wrong paths on the
//! group's legs or from B and C (the same check in the core, `on_msrp_send`), a
//! wrong path on a connection not bound yet (MSRP-2's binding is by the first
//! SEND with the right paths).

use cpmd_core::msrp::{MsrpMessage, MsrpMethod, MsrpRequest, MsrpResponse};
use cpmd_core::{wire, TransactionId};

use super::{note, CpmModel, Flaw, Log, Node, State};
use crate::msrp;
use crate::terminal::Term;

/// The two wrong SENDs: the status due and the bit A keeps once it sent it.
pub(super) const KINDS: [(u16, u8); 2] = [(481, 1), (403, 2)];

/// The Message-ID of a wrong SEND's message.
const WRONG_ID: &str = "alice-wrong-1";

/// The status a transaction id of a wrong SEND asks for.
fn due_of(tid: &TransactionId) -> Option<u16> {
    tid.as_str().strip_prefix("alice-wrong-")?.parse().ok()
}

/// Whether a message id is a wrong SEND's.
pub(super) fn is_wrong(message_id: &str) -> bool {
    message_id == WRONG_ID
}

impl CpmModel {
    /// The wrong SENDs A may send now (MSRP-3).
    pub(super) fn wrong_paths_enabled(&self, st: &State) -> impl Iterator<Item = u16> + '_ {
        let a = st.term(Term::A);
        let ready = self.setup.wrong_paths && a.bound[0] && a.sending.is_none();
        let sent = a.wrong_sent;
        KINDS
            .into_iter()
            .filter(move |(_, bit)| ready && sent & bit == 0)
            .map(|(status, _)| status)
    }

    /// A sends the wrong SEND that is due `status`.
    pub(super) fn wrong_path(&self, st: &mut State, status: u16, log: &mut Log) {
        let bit = KINDS
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, b)| *b);
        st.term_mut(Term::A).wrong_sent |= bit;
        let Some(server_path) = st.term(Term::A).paths[0].clone() else {
            return;
        };
        let (to, from) = if status == 481 {
            // The server's URI with a session-id of no leg.
            let unknown = match server_path.rsplit_once('/') {
                Some((base, _)) => format!("{base}/no-such-session;tcp"),
                None => server_path.clone(),
            };
            (unknown, msrp::own_path(Term::A))
        } else {
            // A path that is not A's on this leg (another terminal's).
            (server_path, msrp::own_path(Term::C))
        };
        let mut req = MsrpRequest::new(
            TransactionId::new(format!("alice-wrong-{status}")),
            MsrpMethod::Send,
            vec![to],
            vec![from],
        );
        req.message_id = Some(WRONG_ID.into());
        req.content_type = Some("text/plain".into());
        req.body = WRONG_ID.as_bytes().to_vec();
        req.byte_range = Some(cpmd_core::msrp::ByteRange {
            start: 1,
            end: Some(WRONG_ID.len() as u64),
            total: Some(WRONG_ID.len() as u64),
        });
        note(
            log,
            Node::T(Term::A),
            Node::Server,
            format!("MSRP SEND wrong path (due {status})"),
        );
        st.ghost.wrong_due = Some(status);
        let bytes = wire::msrp::encode(&MsrpMessage::Request(req));
        st.server
            .handle_msrp_bytes(super::NOW, msrp::conn(Term::A, 0), Term::A.addr(), &bytes);
    }

    /// A response on A's connection: whether it answers a wrong SEND (then it is
    /// judged here, and the caller leaves it).
    pub(super) fn wrong_path_answered(&self, st: &mut State, r: &MsrpResponse) -> bool {
        let Some(due) = due_of(&r.transaction_id) else {
            return false;
        };
        if st.ghost.wrong_due != Some(due) || r.status != due {
            st.ghost.flaw(Flaw::MsrpWrongPath);
        }
        st.ghost.wrong_due = None;
        true
    }

    /// The step's commands were drained: a wrong SEND still unanswered is silence.
    pub(super) fn wrong_path_drained(&self, st: &mut State) {
        if st.ghost.wrong_due.is_some() {
            st.ghost.flaw(Flaw::MsrpWrongPath);
            st.ghost.wrong_due = None;
        }
    }
}
