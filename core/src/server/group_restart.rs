//! Restarting an ended group from its stored group state (specs/group.md,
//! GRP-40): the members the store read from the ended group's last group state
//! object, fed back as an input with the answer to the restarted group's info, join
//! the invitees of the restart INVITE's list.
//!
//! What it is *not*: the store's reading (the runtime's `store::restart`), the
//! decision who may restart (GRP-24, the store's) or the creation itself
//! (`extension.rs`, `group.rs`). The core keeps no memory of ended groups: what it
//! learns of one comes in here, so the same inputs give the same invitations.

use super::session::{GroupState, Session};
use super::tickets::TicketUse;
use super::Server;
use crate::ids::StoreTicket;
use crate::shared::Shared;
use crate::uri::UserUri;

impl Server {
    /// Input: the members of the ended group a restart's session info reopened
    /// (GRP-40), as the store read them from that group's last group state object
    /// (every participant but the removed ones and those who never joined). Fed
    /// before the `handle_store_result` of the same ticket, which then invites them
    /// with the INVITE's own list: each once, never the requester. Ignored for a
    /// ticket that is not a group's info in creation.
    pub fn handle_group_restored(&mut self, ticket: StoreTicket, members: Vec<UserUri>) {
        let Some(TicketUse::GroupInfo(gid)) = self.tickets.get(&ticket) else {
            return;
        };
        let Some(Session::Group(group)) = self.sessions.get_mut(gid) else {
            return;
        };
        let GroupState::Creating(creating) = &mut group.state else {
            return;
        };
        let mut added = Vec::new();
        for user in members {
            if user != creating.requester && !creating.invitees.contains(&user) {
                creating.invitees.push(user.clone());
                added.push(user);
            }
        }
        if added.is_empty() {
            return;
        }
        tracing::debug!(group = %gid, added = added.len(), "restart invites the stored members");
        // The group's history and its group state versions name them as invited.
        let info = Shared::make_mut(&mut group.info);
        for user in added {
            if !info.invited.contains(&user) {
                info.invited.push(user);
            }
        }
    }
}
