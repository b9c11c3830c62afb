//! Session state: 1-to-1 sessions and group sessions, each an enum of states with
//! the fields valid in that state (specs/one-to-one.md, termination.md, group.md).
//!
//! ```text
//! 1-to-1:  Calling ──B 2xx──▶ Established ──BYE (either side, or ReplacedBye)──▶ Terminating
//!             │ CANCEL / every fork ≥300 / timeout   Terminating ──answers or bye_wait──▶ Sealing
//!             ▼                                      Sealing ──store confirms──▶ (removed)
//!          Cancelling ──B final──▶ (removed)
//!
//! group:   Creating ──store confirms info──▶ Active ──last participant left──▶ Sealing ──▶ (removed)
//! ```
//!
//! Every change of state is a method here, named for its arrow ([`OneToOne::establish`],
//! [`OneToOne::cancel`], [`OneToOne::terminate`], [`OneToOne::seal`], [`Group::activate`],
//! [`Group::seal`]): the server's handlers route inputs and decide with these (the
//! quinn-proto shape: the endpoint routes, the connection decides), so this file
//! answers "what can happen to a session in state X". Each emits a `trace!`.

use std::collections::{BTreeMap, BTreeSet};

use super::chat_log::ChatLog;
use super::keys::LegKey;
use super::keys::TxKey;
use super::received::Received;
use crate::ids::{SessionId, StoreTicket};
use crate::record::SessionInfo;
use crate::shared::Shared;
use crate::sip::{Request, StatusCode};
use crate::uri::UserUri;

/// A session the server relays or hosts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
///
/// Each variant is boxed: the session table is a B-tree, whose nodes keep room for
/// eleven values whether they hold them or not, and a 1-to-1 is some 240 bytes; a
/// boxed entry costs the table 8 (issue 15's bytes per idle session).
pub(crate) enum Session {
    One(Box<OneToOne>),
    Group(Box<Group>),
}

impl Session {
    pub(crate) fn chat_mut(&mut self) -> &mut ChatLog {
        match self {
            Session::One(s) => &mut s.chat,
            Session::Group(g) => &mut g.chat,
        }
    }

    pub(crate) fn info(&self) -> &SessionInfo {
        match self {
            Session::One(s) => &s.info,
            Session::Group(g) => &g.info,
        }
    }
}

/// A 1-to-1 session relayed between a caller (A) and a callee (B).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OneToOne {
    pub(crate) id: SessionId,
    /// Shared: set at creation, cloned with every model state.
    pub(crate) info: Shared<SessionInfo>,
    pub(crate) caller: UserUri,
    pub(crate) callee: UserUri,
    /// The caller's leg (server is UAS).
    pub(crate) a_leg: LegKey,
    /// The callee's leg (server is UAC).
    pub(crate) b_leg: LegKey,
    pub(crate) chat: ChatLog,
    /// The group session that replaces this one, once A extended it.
    pub(crate) replaced_by: Option<SessionId>,
    /// Forks that lost to another device's 2xx; a late 2xx of theirs is ACKed and
    /// ended with BYE.
    pub(crate) losers: BTreeSet<LegKey>,
    pub(crate) state: OneState,
}

impl OneToOne {
    /// The leg of `user`, if it is a party.
    pub(crate) fn leg_of(&self, user: &UserUri) -> Option<&LegKey> {
        if *user == self.caller {
            Some(&self.a_leg)
        } else if *user == self.callee {
            Some(&self.b_leg)
        } else {
            None
        }
    }

    /// The other leg.
    pub(crate) fn other_leg(&self, leg: &LegKey) -> &LegKey {
        if *leg == self.a_leg {
            &self.b_leg
        } else {
            &self.a_leg
        }
    }

    /// Calling (with one fork fewer): the INVITE to B goes on.
    pub(crate) fn keep_calling(&mut self, calling: Calling) {
        self.state = OneState::Calling(Box::new(calling));
    }

    /// Calling → Established: fork `winner` of B answered 2xx; the other forks lose
    /// (a late 2xx of theirs is ACKed and ended with BYE).
    pub(crate) fn establish(&mut self, winner: &LegKey, forks: &BTreeMap<LegKey, TxKey>) {
        self.b_leg = winner.clone();
        self.losers = forks.keys().filter(|l| *l != winner).cloned().collect();
        self.state = OneState::Established;
        tracing::trace!(session = %self.id, "1-to-1 established");
    }

    /// Calling → Cancelling: A cancelled; the final answers of `forks` are awaited.
    pub(crate) fn cancel(&mut self, forks: BTreeSet<LegKey>) {
        self.state = OneState::Cancelling(forks);
        tracing::trace!(session = %self.id, "1-to-1 cancelling");
    }

    /// Established → Terminating: a BYE came (`initiator`: its server transaction)
    /// or the server ends the session itself (`None`, TERM-3); the answers of the
    /// `awaiting` legs are waited for (TERM-1..TERM-5).
    pub(crate) fn terminate(&mut self, initiator: Option<TxKey>, awaiting: BTreeSet<LegKey>) {
        self.state = OneState::Terminating(Terminating {
            initiator,
            awaiting,
            relayed: false,
        });
        tracing::trace!(session = %self.id, "1-to-1 terminating");
    }

    /// Terminating → Sealing: the history object is being stored (HIST-1).
    pub(crate) fn seal(&mut self, sealing: Sealing) {
        self.state = OneState::Sealing(sealing);
        tracing::trace!(session = %self.id, "1-to-1 sealing");
    }
}

/// States of a 1-to-1 session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum OneState {
    /// The INVITE to B is in progress.
    Calling(Box<Calling>),
    /// A cancelled; waiting for the final answers of these forks to our INVITE.
    Cancelling(BTreeSet<LegKey>),
    /// Both legs confirmed: messages flow.
    Established,
    /// The termination handshake (TERM-1..TERM-5).
    Terminating(Terminating),
    /// The history object is being sealed.
    Sealing(Sealing),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Calling {
    /// A's INVITE server transaction.
    pub(crate) a_tx: TxKey,
    /// A's INVITE (answered when B answers). Shared: every answer of B's works on a
    /// copy of the `Calling` state, and a copy of the request is a count; it is the
    /// very request A's server transaction holds.
    pub(crate) a_invite: Received,
    /// Parallel forking: our INVITE to each registered device of B, by leg.
    pub(crate) forks: BTreeMap<LegKey, TxKey>,
    /// The best failure so far, answered to A if every fork fails.
    pub(crate) best_failure: Option<StatusCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Terminating {
    /// The BYE server transaction to answer once sealed (`None` when the server
    /// itself ended the session).
    pub(crate) initiator: Option<TxKey>,
    /// Legs whose BYE answer the server still waits for.
    pub(crate) awaiting: BTreeSet<LegKey>,
    /// Whether the BYEs were sent (they wait for in-flight persists: TERM-5).
    pub(crate) relayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sealing {
    pub(crate) ticket: StoreTicket,
    pub(crate) reply_to: Option<TxKey>,
}

/// A group session hosted by the server's focus.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Group {
    pub(crate) id: SessionId,
    /// Shared: set at creation, cloned with every model state.
    pub(crate) info: Shared<SessionInfo>,
    /// The focus's user part (its Contact and From for invitations).
    pub(crate) focus_user: String,
    pub(crate) replaces: Option<SessionId>,
    pub(crate) chat: ChatLog,
    pub(crate) participants: BTreeMap<UserUri, Participant>,
    /// The last participant's BYE, answered once the group is sealed (HIST-5).
    pub(crate) held_bye: Option<TxKey>,
    /// Conference-event subscriptions to the focus, by dialog (GRP-10..GRP-13).
    pub(crate) subscriptions: BTreeMap<LegKey, Subscription>,
    /// REFERs to add someone, waiting for that invitee's answer (GRP-14).
    pub(crate) refers: Vec<ReferWatch>,
    pub(crate) state: GroupState,
}

/// One subscriber's subscription to a group's conference state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Subscription {
    /// The subscription's dialog (the focus is its UAS).
    pub(crate) dialog: super::leg::Leg,
    /// RFC 4575 §4.1: the version of the last document sent on it.
    pub(crate) version: u32,
    /// When it ends unless refreshed.
    pub(crate) expires_at: crate::time::Time,
}

/// A REFER's implicit subscription (RFC 3515): where its sipfrag NOTIFYs go, and
/// whose invitation it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ReferWatch {
    pub(crate) dialog: NotifyDialog,
    pub(crate) awaits: ReferAwaits,
    /// Whether the referrer gets the sipfrag NOTIFYs: not after `Refer-Sub: false`
    /// (RFC 4488, GRP-44: no implicit subscription).
    pub(crate) notify: bool,
}

/// What a REFER's final sipfrag waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ReferAwaits {
    /// One user (RFC 4579 §5.5): its outcome is the final sipfrag (GRP-14).
    One(UserUri),
    /// A resource list (RFC 5368): `200 OK` once each of these users' invitation has
    /// an outcome; each outcome is in the conference state (GRP-32).
    List(BTreeSet<UserUri>),
}

/// The dialog of a REFER's NOTIFYs: the referrer's group leg (a REFER in that
/// dialog) or a dialog of its own (a REFER outside any dialog).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum NotifyDialog {
    Leg(LegKey),
    Own(Box<super::leg::Leg>),
}

/// One participant of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Participant {
    pub(crate) leg: Option<LegKey>,
    pub(crate) status: ParticipantStatus,
    /// The focus's INVITEs to this user's devices still awaiting an answer (GRP-31).
    pub(crate) invitation: Invitation,
}

/// A group INVITE forked to every registered device of one user (GRP-31): the
/// first 2xx joins the user on that device, the other forks are CANCELled (a late
/// 2xx of theirs is ACKed and ended with BYE).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Invitation {
    /// Each fork's leg and its INVITE client transaction, until its final answer.
    pub(crate) forks: BTreeMap<LegKey, TxKey>,
    /// Whether a device refused (a final non-2xx other than 408/480/487): when every
    /// fork failed the user declined, else it did not answer (GRP-7).
    pub(crate) refused: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ParticipantStatus {
    Invited,
    Joined,
    Declined,
    /// Invited but never answered (no device, timeout, 408/480/487): not a refusal.
    NoAnswer,
    Left,
    /// Removed by the chairman (GRP-15).
    Removed,
}

impl ParticipantStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ParticipantStatus::Invited => "invited",
            ParticipantStatus::Joined => "joined",
            ParticipantStatus::Declined => "declined",
            ParticipantStatus::NoAnswer => "no-answer",
            ParticipantStatus::Left => "left",
            ParticipantStatus::Removed => "removed",
        }
    }
}

impl Group {
    /// Creating → Active: the store confirmed the group's info (EXT-4); returns what
    /// the creation waited with (`None` if the group was not being created).
    pub(crate) fn activate(&mut self) -> Option<Box<Creating>> {
        match std::mem::replace(&mut self.state, GroupState::Active) {
            GroupState::Creating(creating) => {
                tracing::trace!(group = %self.id, "group active");
                Some(creating)
            }
            other @ (GroupState::Active | GroupState::Sealing(_)) => {
                self.state = other;
                None
            }
        }
    }

    /// Active → Sealing: the last participant left; the held BYE is answered once the
    /// history object is stored (HIST-5).
    pub(crate) fn seal(&mut self, ticket: StoreTicket) {
        let reply_to = self.held_bye.take();
        self.state = GroupState::Sealing(Sealing { ticket, reply_to });
        tracing::trace!(group = %self.id, "group sealing");
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum GroupState {
    /// The group's info is being stored (EXT-4); A waits for its 200 (EXT-5).
    Creating(Box<Creating>),
    /// Up.
    Active,
    /// Being sealed.
    Sealing(Sealing),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Creating {
    pub(crate) ticket: StoreTicket,
    pub(crate) a_tx: TxKey,
    pub(crate) a_invite: Request,
    pub(crate) requester: UserUri,
    pub(crate) invitees: Vec<UserUri>,
}
