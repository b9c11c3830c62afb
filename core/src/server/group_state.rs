//! The group state object per change (CPM Message Storage; specs/group.md, GRP-20):
//! every change of a live group's participants (join, leave, add, removal, a
//! decline or no answer) — and of its subject — hands the store a new version of
//! the group state object, which files it as a new object in the group's session
//! folder (each version readable over IMAP).
//!
//! What it is *not*: the final group state object of the seal (`maybe_end_group`),
//! nor the store's filing (the runtime's `store::group_state`). Nothing waits for
//! these writes: they carry a ticket no use is registered for, so the store's
//! answer is ignored and the core's state (ticket numbering included) is the same
//! as without them.

use super::output::Command;
use super::session::{Group, GroupState, Session};
use super::Server;
use crate::ids::{SessionId, StoreTicket};
use crate::record::{GroupStateRecord, ParticipantRecord, Record};

/// The ticket of a write nothing waits for: never handed out by the ticket counter
/// (it starts at 1), so `handle_store_result` finds no use for it and ignores it.
pub(crate) const UNAWAITED: StoreTicket = StoreTicket::new(0);

/// The group's subject now. The hook for subject changes: today the creating
/// INVITE's `Subject`; a subject change records the new one in the group and
/// returns it here (and calls [`Server::record_group_state`]).
pub(crate) fn group_subject(group: &Group) -> Option<String> {
    group.info.subject.clone()
}

impl Server {
    /// GRP-20: hands the store a new version of `gid`'s group state object (a live
    /// group only: a group being created has no state yet, one being sealed gets
    /// its final object with the seal).
    pub(crate) fn record_group_state(&mut self, gid: SessionId) {
        let Some(Session::Group(g)) = self.sessions.get(&gid) else {
            return;
        };
        match g.state {
            GroupState::Active => {}
            GroupState::Creating(_) | GroupState::Sealing(_) => return,
        }
        let record = GroupStateRecord {
            info: (*g.info).clone(),
            subject: group_subject(g),
            focus: self.focus_record_uri(&g.focus_user),
            participants: g
                .participants
                .iter()
                .map(|(user, p)| ParticipantRecord {
                    user: user.clone(),
                    state: p.status.as_str().to_owned(),
                })
                .collect(),
        };
        self.out.command(Command::Persist {
            ticket: UNAWAITED,
            record: Record::GroupState(record),
        });
    }
}
