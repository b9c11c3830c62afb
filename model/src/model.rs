//! The model: the real `cpmd_core::Server` plus nondeterministic terminals, a network
//! and a store, as a custom [`stateright::Model`].
//!
//! A state is the `Server` value itself (it is `Clone + Eq + Hash`; kept behind
//! `Shared`, and its steps memoised, `memo.rs`), the terminals'
//! small views, the messages in flight, the store's unanswered requests, the
//! remaining fault budgets and a [`Ghost`] observer that records what the server did
//! (what the properties need to look back at). An action is one input to one actor:
//! deliver a message, lose or duplicate it, fire one of the server's own named timers
//! (`Server::expire`), let a terminal act, or let the store answer. After every
//! server input the driver drains `poll_command` exactly as the runtime would, so the
//! server is driven through its public API only.
//!
//! Time is a constant: `expire` fires a named timer whatever its deadline, which is
//! how an untimed model explores every order of timeouts and messages, and a constant
//! clock keeps deadlines (part of the server's state) from splitting equal states.

use cpmd_core::server::{ChatFailure, ChatOutcome, Command, Mutation, Record, Transport};
use cpmd_core::shared::Shared;
use cpmd_core::sip::{Method, Request, Response, SipMessage, StatusCode};
use cpmd_core::{
    CallId, ContributionId, MessageId, Server, StoreTicket, Tag, Time, Timer, WallClock,
};

use crate::terminal::{self, Dialog, Term};

mod call_checks;
mod eager_ack;
mod group_isolation;
mod group_races;
mod invitee_answers;
mod memo;
mod msrp_io;
mod msrp_reconnect;
mod por;
mod restart;
mod spent_attack;
mod wrong_path;

pub use group_races::{props as race_props, RaceAction, RaceState, Races};
pub use invitee_answers::refused_then_sealed;
#[cfg(test)]
pub(crate) use por::canonical_outcome;
pub(crate) use por::on_packet;

/// The model's one clock value.
pub const NOW: Time = Time::from_ms(1_000);

/// What the model explores: which behaviours the actors may show and how many faults
/// the network and the store may inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Setup {
    /// SIP transport of every terminal.
    pub transport: Transport,
    /// Chat messages A and B each send on the 1-to-1.
    pub msgs: u8,
    /// Chat messages each participant (A, B, C) sends in the group.
    pub group_msgs: u8,
    /// How many participants may leave the group (BYE on their group dialog), taken
    /// in the order C, B, A; the last one out ends it (GRP-4, GRP-5).
    pub leavers: u8,
    /// A extends the 1-to-1 to a group with B and C.
    pub extend: bool,
    /// A may send its own BYE on the 1-to-1 (BYE glare with B's).
    pub glare: bool,
    /// B may send its BYE before it joined the group (otherwise only after, as the
    /// claim's flow has it; without an extension B may always).
    pub b_bye_early: bool,
    /// The server's `replaced_bye_timeout` may fire (B never sends its BYE).
    pub missing_bye: bool,
    /// A may never answer the relayed BYE.
    pub silent_a: bool,
    /// The attacker tries to replace the 1-to-1.
    pub attacker: bool,
    /// Group REFERs (specs/group.md GRP-14, GRP-15): A, the chairman, may remove C;
    /// B may try to; Mallory, no participant, may try to add herself.
    pub refers: bool,
    /// UDP: messages the network may lose.
    pub drops: u8,
    /// UDP: messages the network may duplicate.
    pub dups: u8,
    /// Retransmissions (terminal resends and the server's retransmission timers).
    pub retransmits: u8,
    /// `Persist`s the store may fail.
    pub store_fails: u8,
    /// Chat travels over MSRP on each terminal's leg (specs/msrp.md) instead of as
    /// typed `handle_chat` inputs.
    pub msrp: bool,
    /// MSRP: SENDs per message a terminal sends (1 or 2); the server's deliveries are
    /// cut at [`crate::msrp::CHUNK`] bytes (two chunks per message).
    pub chunks: u8,
    /// MSRP: messages a terminal may abort after the first chunk (`#`).
    pub aborts: u8,
    /// Restarts of a terminal (`restart.rs`): A, B or C loses its dialogs and
    /// connections and registers again.
    pub restarts: u8,
    /// The group's membership races (`group_races.rs`: rejoin, removal, two
    /// devices, subject).
    pub races: Races,
    /// UDP: once no retransmission is left, deliver every terminal's ACK to the
    /// server in the step that put it on the network (`eager_ack.rs`): a sound
    /// reduction, model/README.md "The combined configuration".
    pub eager_acks: bool,
    /// A partial-order reduction (`por.rs`): where a packet's receipt by a terminal
    /// commutes with everything else, explore only that packet's fate.
    pub por: bool,
    /// Widens the reduction's safe receipts to one kind of the server's inputs: a
    /// terminal's final answer to the server's BYE once no retransmission can follow
    /// (`por.rs`, "Server-side receipts"). With `por` (the reduction) or `por_check`
    /// (its check); off by default, so the counts pinned without it stay.
    pub por_server: bool,
    /// Adds the property that checks the reduction's conditions at every state
    /// (`por.rs`; for tests over the unreduced graph).
    pub por_check: bool,
    /// A may CANCEL its 1-to-1 INVITE while it is unanswered (ONE-4, ONE-9;
    /// `call_checks.rs`).
    pub cancel: bool,
    /// The store may fail the group's info `Persist` too (with `store_fails`; EXT-5).
    pub info_fails: bool,
    /// C may decline the group's INVITE (603) or not answer it (480) (GRP-1,
    /// GRP-7; `invitee_answers.rs`).
    pub declines: bool,
    /// MSRP: A may send a SEND with a wrong To-Path and one with a wrong From-Path
    /// on its 1-to-1 leg (MSRP-3; `wrong_path.rs`).
    pub wrong_paths: bool,
    /// A's 1-to-1 INVITE offers an audio stream before the MSRP one (MSRP-11).
    pub second_mline: bool,
    /// MSRP: B's connection of its 1-to-1 leg may break once, and B may connect
    /// again (MSRP-9; `msrp_reconnect.rs`).
    pub msrp_reconnect: bool,
    /// The core's mutation (`Mutation::None`: the real server).
    pub mutation: Mutation,
}

impl Setup {
    /// Nothing optional: A and B open the 1-to-1 over TCP, send `msgs` each, B ends it.
    pub fn base(msgs: u8) -> Self {
        Self {
            transport: Transport::Tcp,
            msgs,
            group_msgs: 0,
            leavers: 0,
            extend: false,
            glare: false,
            b_bye_early: true,
            missing_bye: false,
            silent_a: false,
            attacker: false,
            refers: false,
            drops: 0,
            dups: 0,
            retransmits: 0,
            store_fails: 0,
            msrp: false,
            chunks: 1,
            aborts: 0,
            restarts: 0,
            races: Races {
                rejoin: false,
                remove: false,
                devices: false,
                subject: false,
                subscriptions: false,
                resubscribe: false,
            },
            eager_acks: false,
            por: false,
            por_server: false,
            por_check: false,
            cancel: false,
            info_fails: false,
            declines: false,
            wrong_paths: false,
            second_mline: false,
            msrp_reconnect: false,
            mutation: Mutation::None,
        }
    }

    /// The same setup running a mutant core.
    pub fn with_mutation(mut self, mutation: Mutation) -> Self {
        self.mutation = mutation;
        self
    }
}

/// Which session a chat message or a stored record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sess {
    /// The 1-to-1 (K1).
    One,
    /// The group (K2).
    Group,
    /// Anything else (the attacker's group, a mutant's).
    Other,
}

impl Sess {
    fn of(c: &ContributionId) -> Sess {
        match c.as_str() {
            terminal::ONE_CONTRIBUTION => Sess::One,
            terminal::GROUP_CONTRIBUTION => Sess::Group,
            _ => Sess::Other,
        }
    }

    fn contribution(self) -> ContributionId {
        ContributionId::new(match self {
            Sess::One => terminal::ONE_CONTRIBUTION,
            Sess::Group => terminal::GROUP_CONTRIBUTION,
            Sess::Other => terminal::ATTACK_CONTRIBUTION,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Sess::One => "one",
            Sess::Group => "group",
            Sess::Other => "other",
        }
    }
}

/// A chat message's identity: sender, session, the sender's running number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msg {
    /// Sender.
    pub sender: Term,
    /// Session.
    pub sess: Sess,
    /// 1, 2, ... in the sender's send order.
    pub n: u8,
}

impl Msg {
    /// The Message-ID the sender gives it (and, over MSRP, its body).
    pub fn id(self) -> MessageId {
        MessageId::new(format!(
            "{}-{}-{}",
            self.sender.name(),
            self.sess.label(),
            self.n
        ))
    }

    /// The message a Message-ID of [`Msg::id`] names.
    pub fn parse(id: &MessageId) -> Option<Msg> {
        let mut parts = id.as_str().split('-');
        let name = parts.next()?;
        let sender = Term::ALL.into_iter().find(|t| t.name() == name)?;
        let sess = match parts.next()? {
            "one" => Sess::One,
            "group" => Sess::Group,
            _ => Sess::Other,
        };
        let n = parts.next()?.parse().ok()?;
        Some(Msg { sender, sess, n })
    }
}

/// What a terminal writes back on its MSRP leg after a step's commands were
/// drained: a 200 to one of the server's SENDs, or a REPORT on a relayed message.
pub(crate) struct MsrpAnswer {
    pub(crate) t: Term,
    pub(crate) leg: usize,
    pub(crate) bytes: Vec<u8>,
    pub(crate) report: bool,
}

/// A node of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// The server.
    Server,
    /// A terminal.
    T(Term),
}

/// A SIP message in flight.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Packet {
    /// Receiver.
    pub dst: Node,
    /// Sender.
    pub src: Node,
    /// The message (shared: delivered, duplicated and kept for retransmission, and
    /// cloned with every state).
    pub msg: Shared<SipMessage>,
}

/// What the store was asked to make durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreReq {
    /// A chat message's `Persist`.
    Msg(Msg),
    /// A session info `Persist` (a group's, EXT-4).
    Info,
    /// A `SealSession` of a session.
    Seal(Sess),
}

/// A terminal's state: its dialogs and what it still may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TermState {
    /// Number of requests sent (for unique branches).
    pub counter: u16,
    /// The 1-to-1 dialog (A: after the 2xx; B: after answering).
    pub one: Option<Dialog>,
    /// B: the server ACKed its 200 on the 1-to-1.
    pub one_confirmed: bool,
    /// The group dialog.
    pub group: Option<Dialog>,
    /// Client requests without a final response (retransmitted on demand).
    /// Shared: a step that writes another field of the terminal copies a pointer,
    /// not the messages (their deep copies were a tenth of a `combined` step).
    pub outstanding: Shared<Vec<Request>>,
    /// Final responses sent, repeated when the request is retransmitted (shared,
    /// as `outstanding`).
    pub answered: Shared<Vec<Response>>,
    /// Chat messages sent on the 1-to-1 / in the group.
    pub sent_one: u8,
    /// Chat messages sent in the group.
    pub sent_group: u8,
    /// Sent its BYE on the 1-to-1.
    pub bye_sent: bool,
    /// Received a BYE on the 1-to-1.
    pub bye_received: bool,
    /// A: decided never to answer the server's BYE.
    pub silent: bool,
    /// A: sent the extension; M: sent the attack.
    pub extended: bool,
    /// Sent its BYE on the group dialog.
    pub left_group: bool,
    /// MSRP: the server's `a=path` URI on the terminal's 1-to-1 and group legs.
    pub paths: [Option<String>; 2],
    /// MSRP: the terminal's connection for that leg is open and bound.
    pub bound: [bool; 2],
    /// MSRP: the message whose first chunk went out and whose last has not.
    pub sending: Option<Msg>,
    /// Sent its group REFER.
    pub referred: bool,
    /// Restarted (`restart.rs`): lost its dialogs and connections.
    pub restarted: bool,
    /// The Call-IDs of the 1-to-1 and group dialogs it had before its restart (the
    /// observers still tell the server's traffic on them apart).
    pub lost_calls: [Option<CallId>; 2],
    /// A: sent its CANCEL (`Setup::cancel`).
    pub cancelled: bool,
    /// A: the wrong-path SENDs it sent (`wrong_path::KINDS` bits).
    pub wrong_sent: u8,
    /// MSRP: its 1-to-1 leg's connection broke (1) and it bound again (2)
    /// (`msrp_reconnect.rs`).
    pub msrp_lost: u8,
}

/// Fault budgets left on this path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Losses.
    pub drops: u8,
    /// Duplications.
    pub dups: u8,
    /// Retransmissions.
    pub retransmits: u8,
    /// Store failures.
    pub store_fails: u8,
    /// Aborted MSRP messages.
    pub aborts: u8,
    /// Terminal restarts.
    pub restarts: u8,
}

/// Verdicts of the safety observers, recorded at the moment the server acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flaw {
    /// HIST-2: a seal before the termination handshake completed.
    SealBeforeHandshake,
    /// HIST-2: a 1-to-1 message delivered after its seal.
    AddedAfterSeal,
    /// HIST-3: the sealed set differs from what was delivered.
    SealedSetWrong,
    /// HIST-5: the BYE sender's 200 before the seal was durable.
    OkBeforeDurableSeal,
    /// TERM-1: the BYE sender's 200 before the other side answered (or bye_wait).
    OkBeforeAnswer,
    /// EXT-3: the group lost the conversation or kept the Contribution-ID.
    GroupIds,
    /// EXT-2: the attacker replaced the 1-to-1.
    AttackerReplaced,
    /// MSG-2: a message delivered out of its sender's order, or twice.
    Reordered,
    /// ONE-7: a retransmission created a second transaction or dialog.
    SecondDialog,
    /// The server answered with raw bytes (the model never sends undecodable input).
    RawAnswer,
    /// GRP-2: a group message delivered to its own sender, or persisted twice.
    GroupEchoOrTwice,
    /// GRP-3: a 1-to-1 message delivered to C, or stored in the group.
    OneInGroup,
    /// GRP-4: the group sealed before its last participant left, or twice.
    GroupSealEarly,
    /// GRP-5: a participant's message refused although it had joined and not left,
    /// or a delivery to a participant after its BYE.
    OthersRemoved,
    /// MSRP-4: a response its sender's `Failure-Report` forbids, or a final 200 or a
    /// success REPORT before the store confirmed the message (or not asked for).
    MsrpAnswer,
    /// MSRP-6: the server answered a response to one of its own SENDs.
    MsrpResponseAnswered,
    /// MSRP-7: a relayed SEND with the sender's Message-ID or wrong paths.
    MsrpRelay,
    /// GRP-14: a REFER from someone not in the group accepted, or its user invited.
    OutsiderAdds,
    /// GRP-15: a participant removed without the chairman's REFER, or a delivery to
    /// one removed.
    RemovedWrongly,
    /// MSRP-8: a delivery not whole (a chunk out of its range, a body that is not
    /// the message), or an aborted message stored or delivered.
    MsrpNotWhole,
    /// MSRP-1: the server's SDP on a leg carries a terminal's path, a path already on
    /// another leg, or the wrong setup role.
    MsrpPath,
    /// MSRP-5: the server answered a REPORT.
    MsrpReportAnswered,
    /// ONE-3: A's 200 before B's 200 reached the server.
    CallerOkEarly,
    /// ONE-4: A's INVITE, CANCELled before any final answer, answered other than 487.
    CancelAnswer,
    /// ONE-9: A's INVITE got two different final responses.
    SecondFinal,
    /// EXT-4: the group's session info stored with a wrong field.
    GroupInfo,
    /// EXT-5: A's 200 to the extension before the group's info was durable.
    GroupOkEarly,
    /// GRP-8: a group state object names no focus URI, or another than the
    /// terminals talk to.
    FocusUri,
    /// GRP-9: a Contact of the focus without the focus URI, `isfocus` or the CPM
    /// feature tags.
    FocusContact,
    /// GRP-1: a participant still in recorded otherwise, or an invitee without its
    /// outcome at the group's seal.
    GroupEndedForOthers,
    /// GRP-7: declined without a refusal, no-answer after one, left without joining.
    OutcomeWrong,
    /// GRP-6: the group changed in a step of the replaced 1-to-1's handshake.
    GroupTouchedByOne,
    /// MSRP-3: a wrong-path SEND answered otherwise than 481 / 403, unanswered, or
    /// taken on (persisted).
    MsrpWrongPath,
    /// MSRP-11: an SDP answer to A whose m-lines do not mirror A's offer.
    MsrpMlines,
    /// MSRP-9: the server wrote on a connection it had been told closed.
    MsrpLost,
}

/// Races and paths the `sometimes` properties prove reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reached {
    /// The server received both A's and B's BYE on the 1-to-1.
    ByeGlare,
    /// The first BYE arrived while a 1-to-1 message waited for the store.
    ByeRacesMessage,
    /// The extension INVITE arrived while a 1-to-1 message waited for the store.
    ExtensionRacesMessage,
    /// B's BYE was lost, B retransmitted it, and B got its final response.
    ByeLostRetransmitted,
    /// A never answered the relayed BYE and the 1-to-1 was sealed anyway.
    SilentASealed,
    /// `replaced_bye_timeout` fired and the 1-to-1 was sealed anyway.
    MissingByeSealed,
    /// The 1-to-1's seal was confirmed durable.
    Sealed,
    /// B and C joined the group.
    GroupJoined,
    /// The attacker's INVITE was answered.
    AttackRefused,
    /// B's BYE on the replaced 1-to-1 arrived while a group message waited for the store.
    ByeRacesGroupMessage,
    /// A group message was delivered after a participant left.
    GroupGoesOnAfterLeave,
    /// The group's seal was emitted.
    GroupSealed,
    /// An MSRP message was aborted after its first chunk.
    MsrpAborted,
    /// The chairman's REFER removed C.
    ChairRemoved,
    /// A non-chairman's REFER to remove was refused.
    NonChairRefused,
    /// A 1-to-1 message over MSRP was delivered after the extension INVITE arrived
    /// (the switch window, MSRP-10).
    MsrpSwitchWindow,
    /// A terminal restarted (`restart.rs`).
    Restarted,
    /// A session was sealed after a terminal restarted.
    SealedAfterRestart,
    /// A message that waited for B's new connection was written out at its bind.
    MsrpHeldDelivered,
}

/// What the server did, as far as the properties need to look back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Chat messages the terminals sent, in order.
    pub sent: Vec<Msg>,
    /// Chat results: (message, outcome).
    pub results: Vec<(Msg, ChatOutcome)>,
    /// Messages the store confirmed durable.
    pub stored: Vec<Msg>,
    /// Messages delivered (to anyone), sorted.
    pub delivered: Vec<Msg>,
    /// Sequence numbers delivered on the 1-to-1, in delivery order (HIST-3).
    pub one_delivered: Vec<u64>,
    /// Per (recipient, session, sender): the last number delivered (MSG-2).
    pub watermarks: Vec<(Term, Sess, Term, u8)>,
    /// `SealSession`s emitted, per session.
    pub seals: Vec<Sess>,
    /// The 1-to-1's seal was confirmed durable.
    pub seal_durable: bool,
    /// A BYE from a terminal on the 1-to-1 arrived, or the server ended it itself.
    pub one_ended: bool,
    /// A's / B's side of the 1-to-1's handshake is done (own BYE received, answer
    /// to the server's BYE received, or `bye_wait` expired).
    pub leg_done: [bool; 2],
    /// Who sent the first BYE on the 1-to-1.
    pub initiator: Option<Term>,
    /// B's leg Call-ID(s) as the server chose them.
    pub b_one_calls: Vec<CallId>,
    /// To-tags of 2xx responses to A's INVITEs: (Call-ID, tag).
    pub a_ok_tags: Vec<(CallId, Tag)>,
    /// Server BYEs: (terminal, Call-ID, branch).
    pub server_byes: Vec<(Term, CallId, String)>,
    /// Group session infos persisted.
    pub group_infos: u8,
    /// B's BYE was lost once.
    pub b_bye_lost: bool,
    /// B retransmitted its BYE after that.
    pub b_bye_resent: bool,
    /// `replaced_bye_timeout` fired.
    pub replaced_bye_fired: bool,
    /// Messages persisted (each once, GRP-2), sorted.
    pub persisted: Vec<Msg>,
    /// Per terminal: the server took it into the group (its 200 to A's extension, its
    /// ACK of B's or C's 200).
    pub group_joined: [bool; 4],
    /// Per terminal: its BYE on the group dialog reached the server.
    pub group_left: [bool; 4],
    /// MSRP: messages whose last chunk was sent (or that went whole).
    pub completed: Vec<Msg>,
    /// MSRP: messages aborted after their first chunk.
    pub aborted: Vec<Msg>,
    /// MSRP: the sequence number each persisted message got (HIST-3 over MSRP).
    pub seqs: Vec<(Msg, u64)>,
    /// MSRP: chunks received per (recipient, leg): the server's Message-ID and the
    /// bytes so far; empty once each message is whole (MSRP-8).
    pub rx: Vec<(Term, usize, String, Vec<u8>)>,
    /// The extension INVITE reached the server.
    pub extension_arrived: bool,
    /// The chairman's REFER removing C reached the server.
    pub chair_refer_arrived: bool,
    /// Per terminal: the focus ended its group leg (a removal).
    pub removed: [bool; 4],
    /// The messages persisted when the focus removed C: only those may still reach
    /// it (GRP-15: nothing accepted after the removal).
    pub before_removal: Vec<Msg>,
    /// ONE-3: B's 200 to the 1-to-1's INVITE reached the server.
    pub b_ok_arrived: bool,
    /// ONE-9: the status of the first final response to A's 1-to-1 INVITE.
    pub a_final: Option<u16>,
    /// ONE-4: A's CANCEL reached the server before any final answer to its INVITE.
    pub cancel_first: bool,
    /// EXT-5: the store confirmed the group's info.
    pub info_stored: bool,
    /// GRP-6: the step being drained handed the server an input of the replaced
    /// 1-to-1's handshake (cleared once drained: never set in a stored state).
    pub in_handshake: bool,
    /// MSRP-3: the status due to the wrong-path SEND of the step being drained
    /// (cleared once drained: never set in a stored state).
    pub wrong_due: Option<u16>,
    /// Safety verdicts.
    pub flaws: Vec<Flaw>,
    /// Reached races.
    pub reached: Vec<Reached>,
}

impl Ghost {
    fn flaw(&mut self, f: Flaw) {
        if !self.flaws.contains(&f) {
            self.flaws.push(f);
            self.flaws.sort();
        }
    }

    fn reach(&mut self, r: Reached) {
        if !self.reached.contains(&r) {
            self.reached.push(r);
            self.reached.sort();
        }
    }
}

/// A model state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// The real server (shared: a step that does not feed it copies nothing, and
    /// its hash is computed once per value; the step cache keys on it, `memo.rs`).
    pub server: Shared<Server>,
    /// Terminals A, B, C, M (shared: one step changes at most one or two).
    pub terms: [Shared<TermState>; 4],
    /// Messages in flight: sorted (a multiset) over UDP, in send order over TCP.
    pub net: Vec<Packet>,
    /// The store's unanswered requests.
    pub store: Vec<(StoreTicket, StoreReq)>,
    /// Faults left.
    pub budget: Budget,
    /// The observer.
    pub ghost: Shared<Ghost>,
    /// The group races' actors and observers (`group_races.rs`).
    pub races: Shared<RaceState>,
}

impl State {
    /// A terminal's state.
    pub fn term(&self, t: Term) -> &TermState {
        &self.terms[t.index()]
    }

    fn term_mut(&mut self, t: Term) -> &mut TermState {
        Shared::make_mut(&mut self.terms[t.index()])
    }

    /// The remote target of a terminal's group dialog (the focus URI its rejoin,
    /// the group's SUBSCRIBEs and outsiders' requests go to), once it holds one.
    pub(crate) fn group_focus(&self, t: Term) -> Option<cpmd_core::uri::Uri> {
        self.term(t).group.as_ref().map(|d| d.remote_target.clone())
    }
}

/// One step of one actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// The network delivers packet `i` of `State::net`.
    Deliver(usize),
    /// A receives the server's BYE (packet `i`) and decides never to answer.
    IgnoreBye(usize),
    /// The network loses packet `i` (UDP).
    Drop(usize),
    /// The network duplicates packet `i` (UDP).
    Duplicate(usize),
    /// The server's timer fires (`Server::expire`).
    Fire(Timer),
    /// The store confirms a request.
    StoreOk(StoreTicket),
    /// The store fails a request.
    StoreFail(StoreTicket),
    /// A terminal sends a chat message (MSRP over its TCP leg: FIFO and lossless,
    /// so sending and the server's receipt are one step).
    Chat(Term, Sess),
    /// A sends the extension INVITE.
    Extend,
    /// A terminal sends BYE on the 1-to-1.
    Bye(Term),
    /// A terminal retransmits its oldest unanswered request.
    Retransmit(Term),
    /// The attacker sends its extension INVITE.
    Attack,
    /// A participant sends BYE on its group dialog.
    Leave(Term),
    /// MSRP: the terminal sends the last chunk of the message it is sending.
    ChunkEnd(Term),
    /// MSRP: the terminal aborts the message it is sending (`#`).
    Abort(Term),
    /// A group REFER: A or B asks the focus to remove C, Mallory to add herself.
    Refer(Term),
    /// A move of a group race (`group_races.rs`).
    Race(RaceAction),
    /// A terminal restarts (`restart.rs`).
    Restart(Term),
    /// A CANCELs its 1-to-1 INVITE (`call_checks.rs`).
    Cancel,
    /// C declines the group's INVITE (packet `i`) with 603 (`invitee_answers.rs`).
    Decline(usize),
    /// C answers the group's INVITE (packet `i`) 480: it does not answer.
    NoAnswer(usize),
    /// A sends a SEND with a wrong path, due this status (`wrong_path.rs`).
    WrongPath(u16),
    /// MSRP: the terminal's 1-to-1 connection breaks (`msrp_reconnect.rs`).
    MsrpBreak(Term),
    /// MSRP: the terminal connects again and binds its 1-to-1 leg.
    MsrpRebind(Term),
}

/// The model.
#[derive(Debug, Clone)]
pub struct CpmModel {
    /// The configuration.
    pub setup: Setup,
    /// Server steps are looked up in the per-thread step cache (`memo.rs`): the same
    /// states and verdicts, computed once per (server, input).
    memo: bool,
}

impl CpmModel {
    /// A model of `setup`.
    pub fn new(setup: Setup) -> Self {
        Self { setup, memo: true }
    }

    /// The same model without the step cache (`memo.rs`): every server step
    /// computed, as before the cache existed (`--no-memo`).
    pub fn without_memo(setup: Setup) -> Self {
        Self { setup, memo: false }
    }

    fn transport(&self) -> Transport {
        self.setup.transport
    }

    fn udp(&self) -> bool {
        self.setup.transport == Transport::Udp
    }

    /// The initial state: every terminal registered (registration is not what the
    /// properties are about, so it runs once, deterministically, through the same
    /// API), and A's INVITE to B on the network.
    pub fn initial(&self) -> State {
        let mut config = cpmd_core::Config::new(terminal::DOMAIN);
        config.mutation = self.setup.mutation;
        config.msrp.chunk_size = crate::msrp::CHUNK;
        let mut server = Server::new(config);
        server.set_wall_clock(WallClock::from_unix_secs(1_795_694_400));
        let s = &self.setup;
        let mut st = State {
            server: Shared::new(server),
            terms: Default::default(),
            net: Vec::new(),
            store: Vec::new(),
            budget: Budget {
                drops: s.drops,
                dups: s.dups,
                retransmits: s.retransmits,
                store_fails: s.store_fails,
                aborts: s.aborts,
                restarts: s.restarts,
            },
            ghost: Default::default(),
            races: Default::default(),
        };
        for t in Term::ALL {
            let flow = t.flow(self.transport());
            st.server.handle_message(
                NOW,
                flow,
                SipMessage::Request(terminal::register(t, self.transport())),
            );
            // The 200s are not needed: registration is the fixed prefix.
            while st.server.poll_command().is_some() {}
            while st.server.poll_event().is_some() {}
        }
        self.races_init(&mut st);
        let invite = terminal::invite_one(self.transport(), self.setup.second_mline);
        self.send(&mut st, Term::A, invite, true, &mut None);
        self.eager_acks(&mut st, &mut None);
        st
    }

    /// Puts a packet on the network: UDP keeps a sorted multiset (order is
    /// meaningless), TCP keeps send order (each connection is FIFO).
    fn push(&self, st: &mut State, p: Packet) {
        if self.udp() {
            let at = st.net.partition_point(|q| q <= &p);
            st.net.insert(at, p);
        } else {
            let at = self.tcp_at(&st.net, &p);
            st.net.insert(at, p);
        }
    }

    /// A terminal sends `req`; `track` keeps it for retransmission until answered.
    fn send(&self, st: &mut State, t: Term, req: Request, track: bool, log: &mut Log) {
        if track {
            st.term_mut(t).outstanding.push(req.clone());
        }
        let msg = SipMessage::Request(req);
        // The chart's line only when a chart is drawn: the checker passes no log.
        if log.is_some() {
            note(log, Node::T(t), Node::Server, describe(&msg));
        }
        self.push(
            st,
            Packet {
                dst: Node::Server,
                src: Node::T(t),
                msg: msg.into(),
            },
        );
    }

    fn reply(&self, st: &mut State, t: Term, resp: Response, log: &mut Log) {
        if resp.status.is_final() {
            let at = self.answered_at(&st.term(t).answered, &resp);
            st.term_mut(t).answered.insert(at, resp.clone());
        }
        let msg = SipMessage::Response(resp);
        if log.is_some() {
            note(log, Node::T(t), Node::Server, describe(&msg));
        }
        self.push(
            st,
            Packet {
                dst: Node::Server,
                src: Node::T(t),
                msg: msg.into(),
            },
        );
    }

    fn branch(st: &mut State, t: Term, what: &str) -> String {
        let ts = st.term_mut(t);
        ts.counter += 1;
        format!("{}-{what}-{}", t.name(), ts.counter)
    }

    /// Carries out the server's commands, exactly in order, and records them. The
    /// terminals answer the server's MSRP SENDs at once (their legs are FIFO and
    /// lossless); those answers go back in after the commands are drained, and must
    /// produce no output (MSRP-6).
    fn drain(&self, st: &mut State, log: &mut Log) {
        self.drain_from(st, &[], log);
    }

    /// `drain`, carrying out `first` (the commands of a cached step, `memo.rs`)
    /// before any the server still holds.
    fn drain_from(&self, st: &mut State, first: &[memo::Out], log: &mut Log) {
        let mut answers: Vec<MsrpAnswer> = Vec::new();
        let mut reports: Vec<MsrpAnswer> = Vec::new();
        let mut after_answers = false;
        for out in first {
            self.command(st, out.clone(), &mut answers, after_answers, log);
        }
        loop {
            self.drain_once(st, &mut answers, after_answers, log);
            if answers.is_empty() {
                break;
            }
            for a in answers.drain(..) {
                if a.report {
                    reports.push(a);
                    continue;
                }
                note(log, Node::T(a.t), Node::Server, "MSRP 200".into());
                st.server.handle_msrp_bytes(
                    NOW,
                    crate::msrp::conn(a.t, a.leg),
                    a.t.addr(),
                    &a.bytes,
                );
            }
            after_answers = true;
        }
        // MSRP-5: a REPORT is never answered; whatever comes out is the flaw, and
        // goes nowhere.
        for a in reports {
            note(log, Node::T(a.t), Node::Server, "MSRP REPORT".into());
            st.server
                .handle_msrp_bytes(NOW, crate::msrp::conn(a.t, a.leg), a.t.addr(), &a.bytes);
            if st.server.poll_command().is_some() {
                st.ghost.flaw(Flaw::MsrpReportAnswered);
                while st.server.poll_command().is_some() {}
            }
        }
        // Asked first: polling through `Shared` copies a server shared with the
        // last state, and a cached step left nothing to poll.
        if st.server.has_output() {
            while st.server.poll_event().is_some() {}
        }
        self.handshake_drained(st);
        self.wrong_path_drained(st);
    }

    fn drain_once(
        &self,
        st: &mut State,
        answers: &mut Vec<MsrpAnswer>,
        after_answers: bool,
        log: &mut Log,
    ) {
        while st.server.has_output() {
            let Some(cmd) = st.server.poll_command() else {
                break;
            };
            self.command(st, cmd.into(), answers, after_answers, log);
        }
    }

    /// Carries out one command of the server's.
    fn command(
        &self,
        st: &mut State,
        out: memo::Out,
        answers: &mut Vec<MsrpAnswer>,
        after_answers: bool,
        log: &mut Log,
    ) {
        if after_answers {
            st.ghost.flaw(Flaw::MsrpResponseAnswered);
        }
        let cmd = match out {
            memo::Out::Transmit(flow, message) => {
                self.observe_transmit(st, flow.peer, &message);
                if self.race_consumes(flow.peer, &message) {
                    return;
                }
                // Terminals ignore provisional responses: they are not put on the
                // network at all, which keeps 100 Trying from multiplying states.
                if let SipMessage::Response(r) = &*message {
                    if r.status.is_provisional() {
                        return;
                    }
                }
                let Some(t) = Term::from_addr(flow.peer) else {
                    self.device_transmit(st, flow.peer, Shared::unwrap_or_clone(message), log);
                    return;
                };
                if log.is_some() {
                    note(log, Node::Server, Node::T(t), describe(&message));
                }
                self.push(
                    st,
                    Packet {
                        dst: Node::T(t),
                        src: Node::Server,
                        msg: message,
                    },
                );
                return;
            }
            memo::Out::Other(cmd) => cmd,
        };
        {
            match cmd {
                // `memo::Out::from` takes every transmit.
                Command::Transmit { flow, message } => {
                    let out = memo::Out::Transmit(flow, message);
                    self.command(st, out, answers, false, log);
                }
                Command::TransmitRaw { .. } => st.ghost.flaw(Flaw::RawAnswer),
                // The terminals are the active MSRP party (their SDP says
                // `a=setup:active`) and SIP runs on their own connections.
                Command::Connect { .. } | Command::MsrpConnect { .. } => {}
                Command::Close { conn } => self.msrp_closed(st, conn, log),
                Command::MsrpSend { conn, bytes } => {
                    self.msrp_received(st, conn, &bytes, answers, log)
                }
                Command::Persist { ticket, record } => {
                    let req = match record {
                        // The modelled terminals send neither pager messages nor IMDNs,
                        // and register only in the fixed prefix (specs/deferred.md is
                        // not modelled).
                        Record::Standalone(_)
                        | Record::Disposition(_)
                        | Record::Deferred(_)
                        | Record::DeferredDone(_)
                        | Record::KnownUser(_) => return,
                        // Group state versions (GRP-20) carry an unawaited ticket;
                        // GRP-8 reads the focus they name.
                        Record::GroupState(g) => {
                            self.group_touched(st);
                            self.check_focus_record(st, Some(&g.focus));
                            self.check_outcomes(st, &g.participants, false);
                            return;
                        }
                        Record::Message(m) => {
                            if wrong_path::is_wrong(m.message_id.as_str()) {
                                st.ghost.flaw(Flaw::MsrpWrongPath);
                            }
                            let Some(msg) = Msg::parse(&m.message_id) else {
                                return;
                            };
                            note_store(log, format!("Persist {} (seq {})", m.message_id, m.seq));
                            if msg.sess == Sess::Group {
                                self.group_touched(st);
                            }
                            let g = &mut st.ghost;
                            if g.aborted.contains(&msg) {
                                g.flaw(Flaw::MsrpNotWhole);
                            }
                            if self.setup.msrp {
                                g.seqs.push((msg, m.seq));
                                g.seqs.sort();
                            }
                            // GRP-2: stored once; GRP-3: a 1-to-1 message never in the group.
                            match g.persisted.binary_search(&msg) {
                                Ok(_) => g.flaw(Flaw::GroupEchoOrTwice),
                                Err(at) => g.persisted.insert(at, msg),
                            }
                            if msg.sess == Sess::One
                                && Sess::of(&m.key.contribution_id) != Sess::One
                            {
                                g.flaw(Flaw::OneInGroup);
                            }
                            StoreReq::Msg(msg)
                        }
                        Record::SessionInfo(info) => {
                            note_store(
                                log,
                                format!(
                                    "Persist info {} from {}",
                                    info.key.contribution_id, info.from
                                ),
                            );
                            if info.key.conversation_id.as_str() != terminal::CONVERSATION
                                || info.key.contribution_id.as_str() == terminal::ONE_CONTRIBUTION
                            {
                                st.ghost.flaw(Flaw::GroupIds);
                            }
                            if info.from == Term::M.user() {
                                st.ghost.flaw(Flaw::AttackerReplaced);
                            } else {
                                self.check_group_info(st, &info);
                                st.ghost.group_infos += 1;
                                if st.ghost.group_infos > 1 {
                                    st.ghost.flaw(Flaw::SecondDialog);
                                }
                            }
                            StoreReq::Info
                        }
                    };
                    st.store.push((ticket, req));
                }
                Command::SealSession { ticket, history } => {
                    let sess = Sess::of(&history.info.key.contribution_id);
                    note_store(
                        log,
                        format!(
                            "SealSession {} {:?}",
                            history.info.key.contribution_id, history.messages
                        ),
                    );
                    if sess == Sess::One {
                        let g = &mut st.ghost;
                        if !(g.leg_done[0] && g.leg_done[1]) {
                            g.flaw(Flaw::SealBeforeHandshake);
                        }
                        if history.messages != g.one_delivered {
                            g.flaw(Flaw::SealedSetWrong);
                        }
                        if st.terms[0].silent {
                            g.reach(Reached::SilentASealed);
                        }
                        if g.replaced_bye_fired {
                            g.reach(Reached::MissingByeSealed);
                        }
                    }
                    if sess == Sess::Group {
                        self.group_touched(st);
                        self.check_focus_record(st, history.focus.as_deref());
                        self.check_outcomes(st, &history.participants, true);
                        // GRP-4: once, and only when every participant left.
                        let g = &mut st.ghost;
                        let someone_in =
                            (0..3).any(|i| g.group_joined[i] && !g.group_left[i] && !g.removed[i]);
                        if someone_in || g.seals.contains(&Sess::Group) {
                            g.flaw(Flaw::GroupSealEarly);
                        }
                        g.reach(Reached::GroupSealed);
                    }
                    if st.ghost.reached.contains(&Reached::Restarted) {
                        st.ghost.reach(Reached::SealedAfterRestart);
                    }
                    st.ghost.seals.push(sess);
                    st.store.push((ticket, StoreReq::Seal(sess)));
                }
                Command::ChatDeliver { recipient, message } => {
                    let (Some(to), Some(msg)) = (
                        Term::ALL.into_iter().find(|t| t.user() == recipient),
                        Msg::parse(&message.message_id),
                    ) else {
                        return;
                    };
                    if msg.sess == Sess::Group {
                        self.group_touched(st);
                    }
                    self.delivered(st, to, msg, message.seq, log);
                }
                Command::ChatResult {
                    message_id,
                    outcome,
                    ..
                } => {
                    if let Some(msg) = Msg::parse(&message_id) {
                        if msg.sess == Sess::Group {
                            self.group_touched(st);
                        }
                        self.result(st, msg, outcome, log);
                    }
                }
            }
        }
    }

    /// A chat message reached its recipient `to` (typed, or whole over MSRP).
    fn delivered(&self, st: &mut State, to: Term, msg: Msg, seq: u64, log: &mut Log) {
        note_chat(log, msg.sender, to, format!("deliver {}", msg.id()));
        if msg.sess == Sess::One && st.ghost.seals.contains(&Sess::One) {
            st.ghost.flaw(Flaw::AddedAfterSeal);
        }
        let g = &mut st.ghost;
        if g.aborted.contains(&msg) {
            g.flaw(Flaw::MsrpNotWhole);
        }
        if msg.sess == Sess::Group && g.removed[to.index()] && !g.before_removal.contains(&msg) {
            g.flaw(Flaw::RemovedWrongly);
        }
        if msg.sess == Sess::One && g.extension_arrived && self.setup.msrp {
            g.reach(Reached::MsrpSwitchWindow);
        }
        match msg.sess {
            // GRP-2: never back to its sender; GRP-5: never to one who left.
            Sess::Group => {
                if to == msg.sender {
                    g.flaw(Flaw::GroupEchoOrTwice);
                }
                if g.group_left[to.index()] {
                    g.flaw(Flaw::OthersRemoved);
                }
                if g.group_left.iter().any(|l| *l) {
                    g.reach(Reached::GroupGoesOnAfterLeave);
                }
            }
            // GRP-3: C (and Mallory) never see the 1-to-1.
            Sess::One if matches!(to, Term::C | Term::M) => g.flaw(Flaw::OneInGroup),
            Sess::One | Sess::Other => {}
        }
        // MSG-2 needs, per recipient, sender and session, only the last
        // delivered number: a later delivery must carry a larger one.
        match g
            .watermarks
            .iter_mut()
            .find(|(t, s, f, _)| *t == to && *s == msg.sess && *f == msg.sender)
        {
            Some(w) if w.3 >= msg.n => g.flaw(Flaw::Reordered),
            Some(w) => w.3 = msg.n,
            None => {
                g.watermarks.push((to, msg.sess, msg.sender, msg.n));
                g.watermarks.sort();
            }
        }
        if msg.sess == Sess::One {
            g.one_delivered.push(seq);
        }
        let at = g.delivered.partition_point(|x| *x <= msg);
        g.delivered.insert(at, msg);
    }

    /// The sender learnt its message's outcome (typed result, or the MSRP response
    /// to its last chunk).
    fn result(&self, st: &mut State, msg: Msg, outcome: ChatOutcome, log: &mut Log) {
        note_chat(
            log,
            msg.sender,
            msg.sender,
            format!("result {} {outcome:?}", msg.id()),
        );
        // Order of results is irrelevant to the properties: keep them sorted so that
        // interleavings differing only there merge.
        let g = &mut st.ghost;
        // GRP-5: another's BYE never removes a participant that joined and has not
        // left.
        if msg.sess == Sess::Group
            && outcome == ChatOutcome::Failed(ChatFailure::NotAParty)
            && g.group_joined[msg.sender.index()]
            && !g.group_left[msg.sender.index()]
            && !g.removed[msg.sender.index()]
        {
            g.flaw(Flaw::OthersRemoved);
        }
        let outcome = self.recorded_outcome(msg, outcome);
        let at = g.results.partition_point(|r| *r <= (msg, outcome));
        g.results.insert(at, (msg, outcome));
    }

    /// The observers of what the server transmits (ONE-7, EXT-2, HIST-5, TERM-1).
    fn observe_transmit(&self, st: &mut State, peer: std::net::SocketAddr, msg: &SipMessage) {
        let Some(t) = Term::from_addr(peer) else {
            return;
        };
        self.race_transmit(st, t, msg);
        self.check_transmit(st, t, msg);
        let on_group = group_call_of(st, t, &msg.headers().call_id)
            || (t == Term::A && msg.headers().call_id.as_str() == terminal::A_EXT_CALL)
            || group_races::rejoin_call(t, &msg.headers().call_id);
        if self.setup.msrp {
            let group_contribution = msg
                .headers()
                .contribution_id
                .as_ref()
                .is_some_and(|c| c.as_str() == terminal::GROUP_CONTRIBUTION);
            self.msrp_observe_sdp(st, t, usize::from(on_group || group_contribution), msg);
        }
        let g = &mut st.ghost;
        // The server took `t` into the group: its 200 to A's extension, its ACK of B's
        // or C's 200 on the group dialog.
        let joins = match msg {
            SipMessage::Request(r) => r.method == Method::Ack && t != Term::A,
            SipMessage::Response(r) => {
                t == Term::A && r.headers.cseq.method == Method::Invite && r.status.is_success()
            }
        };
        if on_group && joins && t != Term::M {
            g.group_joined[t.index()] = true;
        }
        match msg {
            SipMessage::Request(r) => {
                // B's 1-to-1 leg: the INVITE of the 1-to-1's Contribution-ID (the
                // group's INVITE to B carries no Session-Replaces once the 1-to-1
                // ended before the group was created).
                let one_contribution = r
                    .headers
                    .contribution_id
                    .as_ref()
                    .is_some_and(|c| c.as_str() == terminal::ONE_CONTRIBUTION);
                if r.method == Method::Invite
                    && t == Term::B
                    && r.headers.session_replaces.is_none()
                    && one_contribution
                    && !g.b_one_calls.contains(&r.headers.call_id)
                {
                    g.b_one_calls.push(r.headers.call_id.clone());
                    if g.b_one_calls.len() > 1 {
                        g.flaw(Flaw::SecondDialog);
                    }
                }
                if r.method == Method::Bye && on_group {
                    self.group_touched(st);
                }
                let g = &mut st.ghost;
                if r.method == Method::Bye && on_group && t != Term::A {
                    // GRP-15: the focus ends a participant's leg only on the
                    // chairman's REFER.
                    if !g.chair_refer_arrived {
                        g.flaw(Flaw::RemovedWrongly);
                    }
                    if !g.removed[t.index()] {
                        g.before_removal = g.persisted.clone();
                    }
                    g.removed[t.index()] = true;
                    g.reach(Reached::ChairRemoved);
                }
                if r.method == Method::Invite
                    && t == Term::M
                    && r.headers.session_replaces.is_none()
                {
                    g.flaw(Flaw::OutsiderAdds);
                }
                if r.method == Method::Bye {
                    let branch = r
                        .headers
                        .via
                        .first()
                        .and_then(|v| v.branch())
                        .unwrap_or("")
                        .to_owned();
                    let same = |e: &&(Term, CallId, String)| e.0 == t && e.1 == r.headers.call_id;
                    match g.server_byes.iter().find(same) {
                        Some(e) if e.2 != branch => g.flaw(Flaw::SecondDialog),
                        Some(_) => {}
                        None => g.server_byes.push((t, r.headers.call_id.clone(), branch)),
                    }
                }
            }
            SipMessage::Response(r) => {
                let call = &r.headers.call_id;
                if r.headers.cseq.method == Method::Invite && r.status.is_success() {
                    if t == Term::M {
                        g.flaw(Flaw::AttackerReplaced);
                    }
                    if t == Term::A {
                        if let Some(tag) = r.headers.to.tag() {
                            match g.a_ok_tags.iter().find(|(c, _)| c == call) {
                                Some((_, old)) if *old != tag => g.flaw(Flaw::SecondDialog),
                                Some(_) => {}
                                None => g.a_ok_tags.push((call.clone(), tag)),
                            }
                        }
                    }
                }
                if r.headers.cseq.method == Method::Refer && r.status.is_final() {
                    match t {
                        Term::M if r.status.is_success() => g.flaw(Flaw::OutsiderAdds),
                        Term::B if r.status.is_success() => g.flaw(Flaw::RemovedWrongly),
                        Term::B => g.reach(Reached::NonChairRefused),
                        Term::A | Term::C | Term::M => {}
                    }
                }
                if r.headers.cseq.method == Method::Invite && t == Term::M && r.status.is_final() {
                    g.reach(Reached::AttackRefused);
                }
                if r.headers.cseq.method == Method::Bye
                    && r.status.is_success()
                    && Some(t) == g.initiator
                    && one_call_of(st, t).as_ref() == Some(call)
                {
                    let g = &mut st.ghost;
                    if !g.seal_durable {
                        g.flaw(Flaw::OkBeforeDurableSeal);
                    }
                    if !(g.leg_done[0] && g.leg_done[1]) {
                        g.flaw(Flaw::OkBeforeAnswer);
                    }
                }
            }
        }
    }

    /// The server receives a packet from a terminal.
    /// Returns the commands of a cached step (`memo.rs`), for `drain_from`.
    fn server_receives(
        &self,
        st: &mut State,
        from: Term,
        msg: Shared<SipMessage>,
        log: &mut Log,
    ) -> memo::Outs {
        self.race_receives(st, from, &msg);
        self.check_receive(st, from, &msg);
        self.mark_handshake_input(st, from, &msg);
        let one_call = one_call_of(st, from);
        let on_one = one_call.as_ref() == Some(&msg.headers().call_id);
        let one_pending = st
            .store
            .iter()
            .any(|(_, r)| matches!(r, StoreReq::Msg(m) if m.sess == Sess::One));
        let group_pending = st
            .store
            .iter()
            .any(|(_, r)| matches!(r, StoreReq::Msg(m) if m.sess == Sess::Group));
        if let SipMessage::Request(r) = &*msg {
            if r.method == Method::Bye && group_call_of(st, from, &r.headers.call_id) {
                st.ghost.group_left[from.index()] = true;
            }
            if r.method == Method::Refer && from == Term::A {
                st.ghost.chair_refer_arrived = true;
            }
            if r.method == Method::Bye && on_one && from == Term::B && group_pending {
                st.ghost.reach(Reached::ByeRacesGroupMessage);
            }
        }
        match &*msg {
            // A BYE on a 1-to-1 that A's CANCEL ended starts no handshake (ONE-4).
            SipMessage::Request(r)
                if r.method == Method::Bye && on_one && !st.ghost.cancel_first =>
            {
                let g = &mut st.ghost;
                if g.initiator.is_none() && !g.one_ended {
                    // The first BYE starts the handshake, unless the server already
                    // ended the session itself (TERM-3): then B's BYE is glare.
                    g.initiator = Some(from);
                    if one_pending {
                        g.reach(Reached::ByeRacesMessage);
                    }
                } else if g.initiator.is_some() && g.initiator != Some(from) {
                    g.reach(Reached::ByeGlare);
                }
                g.one_ended = true;
                g.leg_done[leg_index(from)] = true;
            }
            SipMessage::Request(r)
                if r.method == Method::Invite
                    && from == Term::A
                    && r.headers.call_id.as_str() == terminal::A_EXT_CALL
                    && one_pending =>
            {
                st.ghost.reach(Reached::ExtensionRacesMessage);
            }
            SipMessage::Response(r)
                if r.headers.cseq.method == Method::Bye && on_one && r.status.is_final() =>
            {
                st.ghost.leg_done[leg_index(from)] = true;
            }
            SipMessage::Request(_) | SipMessage::Response(_) => {}
        }
        if let SipMessage::Request(r) = &*msg {
            if r.method == Method::Invite
                && from == Term::A
                && r.headers.call_id.as_str() == terminal::A_EXT_CALL
                && self.setup.msrp
            {
                st.ghost.extension_arrived = true;
            }
        }
        let _ = log;
        let flow = from.flow(self.transport());
        self.server_input(st, memo::Input::Message(flow, msg))
    }

    /// A terminal receives a packet from the server.
    /// Read by reference: the packet is shared with the state before the step, so
    /// taking it by value copied the whole message once per delivery.
    fn terminal_receives(&self, st: &mut State, t: Term, msg: &SipMessage, log: &mut Log) {
        match msg {
            SipMessage::Request(req) => self.terminal_request(st, t, req, log),
            SipMessage::Response(resp) => self.terminal_response(st, t, resp, log),
        }
    }

    fn terminal_request(&self, st: &mut State, t: Term, req: &Request, log: &mut Log) {
        if req.method == Method::Ack {
            let on =
                |d: &Option<Dialog>| d.as_ref().is_some_and(|d| d.call_id == req.headers.call_id);
            if on(&st.term(t).one) {
                st.term_mut(t).one_confirmed = true;
                self.msrp_bind(st, t, 0, log);
            }
            if on(&st.term(t).group) {
                self.msrp_bind(st, t, 1, log);
            }
            return;
        }
        // A retransmission: repeat the answer.
        let again = st.term(t).answered.iter().find(|r| {
            r.headers.call_id == req.headers.call_id && r.headers.cseq == req.headers.cseq
        });
        if let Some(resp) = again.cloned() {
            return self.reply(st, t, resp, log);
        }
        if req.method == Method::Bye && st.term(t).silent {
            return;
        }
        if self.lost_dialog(st, t, req) {
            return self.reply_481(st, t, req, log);
        }
        match req.method {
            Method::Invite => {
                let ts = st.term(t);
                // B's only INVITE of the 1-to-1 carries K1; after a restart B no longer
                // knows the 1-to-1, and the group's INVITE (without Session-Replaces
                // once the 1-to-1 was sealed) must still be taken for the group's.
                let one_contribution = req
                    .headers
                    .contribution_id
                    .as_ref()
                    .is_some_and(|c| c.as_str() == terminal::ONE_CONTRIBUTION);
                let group = t != Term::B
                    || ts.one.is_some()
                    || req.headers.session_replaces.is_some()
                    || !one_contribution;
                let tag = Tag::new(format!(
                    "{}-{}",
                    t.name(),
                    if group { "group" } else { "one" }
                ));
                let dialog = Dialog::callee(req, &tag);
                let ts = st.term_mut(t);
                let leg = usize::from(group);
                if group {
                    ts.group = Some(dialog);
                    if st.terms[1].group.is_some() && st.terms[2].group.is_some() {
                        st.ghost.reach(Reached::GroupJoined);
                    }
                } else {
                    ts.one = Some(dialog);
                }
                self.msrp_learn_path(st, t, leg, &req.body);
                let resp = terminal::answer(t, req, StatusCode::OK, &tag);
                self.reply(st, t, resp, log);
            }
            // BYE and anything else in a dialog: a plain 200.
            Method::Ack
            | Method::Bye
            | Method::Cancel
            | Method::Register
            | Method::Options
            | Method::Message
            | Method::Update
            | Method::Info
            | Method::Prack
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Publish
            | Method::Other(_) => {
                let is_bye = req.method == Method::Bye;
                if is_bye
                    && st
                        .term(t)
                        .one
                        .as_ref()
                        .is_some_and(|d| d.call_id == req.headers.call_id)
                {
                    st.term_mut(t).bye_received = true;
                }
                if is_bye
                    && st
                        .term(t)
                        .group
                        .as_ref()
                        .is_some_and(|d| d.call_id == req.headers.call_id)
                {
                    st.term_mut(t).left_group = true;
                }
                let tag = Tag::new(format!("{}-x", t.name()));
                let resp = terminal::answer(t, req, StatusCode::OK, &tag);
                self.reply(st, t, resp, log);
            }
        }
    }

    fn terminal_response(&self, st: &mut State, t: Term, resp: &Response, log: &mut Log) {
        let Some(pos) = st.term(t).outstanding.iter().position(|r| {
            r.headers.call_id == resp.headers.call_id && r.headers.cseq == resp.headers.cseq
        }) else {
            // A retransmitted 2xx to an INVITE whose transaction is over: re-ACK.
            if resp.headers.cseq.method == Method::Invite && resp.status.is_success() {
                self.ack_2xx(st, t, resp, log);
            }
            return;
        };
        if !resp.status.is_final() {
            return;
        }
        let req = st.term_mut(t).outstanding.remove(pos);
        if req.method == Method::Bye && t == Term::B && st.ghost.b_bye_resent {
            st.ghost.reach(Reached::ByeLostRetransmitted);
        }
        if req.method != Method::Invite {
            return;
        }
        if resp.status.is_success() {
            let d = Dialog::caller(&req, resp);
            let ts = st.term_mut(t);
            let leg = match req.headers.call_id.as_str() {
                terminal::A_ONE_CALL => {
                    ts.one = Some(d);
                    0
                }
                _ => {
                    ts.group = Some(d);
                    1
                }
            };
            self.ack_2xx(st, t, resp, log);
            if t != Term::M {
                self.msrp_learn_path(st, t, leg, &resp.body);
                self.msrp_bind(st, t, leg, log);
            }
        } else {
            let ack = terminal::ack_non_2xx(&req, resp);
            self.send(st, t, ack, false, log);
        }
    }

    fn ack_2xx(&self, st: &mut State, t: Term, resp: &Response, log: &mut Log) {
        let ts = st.term(t);
        let d = [&ts.one, &ts.group]
            .into_iter()
            .flatten()
            .find(|d| d.call_id == resp.headers.call_id)
            .cloned();
        if let Some(d) = d {
            let ack = terminal::ack_2xx(t, self.transport(), &d, resp.headers.cseq.seq);
            self.send(st, t, ack, false, log);
        }
    }

    /// Every action enabled in `st`.
    pub fn enabled(&self, st: &State, out: &mut Vec<Action>) {
        let s = &self.setup;
        // Network.
        let mut seen_pairs: Vec<(Node, Node)> = Vec::new();
        for (i, p) in st.net.iter().enumerate() {
            if self.udp() {
                // Identical copies are one choice.
                if i > 0 && st.net[i - 1] == *p {
                    continue;
                }
            } else if seen_pairs.contains(&(p.src, p.dst)) {
                continue;
            } else {
                seen_pairs.push((p.src, p.dst));
            }
            out.push(Action::Deliver(i));
            if s.silent_a
                && p.dst == Node::T(Term::A)
                && !st.term(Term::A).silent
                && matches!(&*p.msg, SipMessage::Request(r) if r.method == Method::Bye)
            {
                out.push(Action::IgnoreBye(i));
            }
            if s.declines
                && p.dst == Node::T(Term::C)
                && invitee_answers::unanswered_group_invite(st, &p.msg)
            {
                out.push(Action::Decline(i));
                out.push(Action::NoAnswer(i));
            }
            if self.udp() && st.budget.drops > 0 {
                out.push(Action::Drop(i));
            }
            if self.udp() && st.budget.dups > 0 {
                out.push(Action::Duplicate(i));
            }
        }
        // The server's timers. Over MSRP a terminal connects its leg within moments
        // of the answer (a 200 to A, the server's ACK to B or C): the timers of
        // seconds wait until no such answer is still on its way.
        let connect_due = s.msrp
            && st.net.iter().any(|p| {
                p.src == Node::Server && {
                    match &*p.msg {
                        SipMessage::Request(r) => r.method == Method::Ack,
                        SipMessage::Response(r) => {
                            r.headers.cseq.method == Method::Invite && r.status.is_success()
                        }
                    }
                }
            });
        for (timer, _) in st.server.armed_timers() {
            let offer = match timer {
                Timer::Retransmit(_) | Timer::Retransmit2xx(_) => {
                    self.udp() && st.budget.retransmits > 0
                }
                Timer::ByeWait(_) => !connect_due,
                Timer::ReplacedBye(_) => s.missing_bye && !connect_due,
                // Transaction timeouts and lingering (32 s) outlast bye_wait (8 s), and
                // registrations (1 h) outlast everything: not part of this model.
                Timer::Timeout(_)
                | Timer::Linger(_)
                | Timer::BindingExpiry(..)
                | Timer::HeldAnswer(_) => false,
                // A subscription's 600 s: only where the subscriptions' race asks.
                Timer::SubscriptionExpiry(_) => self.fires_subscription_expiry(),
                Timer::DeferredExpiry(..) => false,
            };
            if offer {
                out.push(Action::Fire(timer.clone()));
            }
        }
        // The store.
        for (ticket, req) in &st.store {
            out.push(Action::StoreOk(*ticket));
            let fallible = match req {
                StoreReq::Msg(_) => true,
                StoreReq::Info => s.info_fails,
                StoreReq::Seal(_) => false,
            };
            if st.budget.store_fails > 0 && fallible {
                out.push(Action::StoreFail(*ticket));
            }
        }
        // Terminals.
        let a = st.term(Term::A);
        let b = st.term(Term::B);
        // Over MSRP a terminal chats on a bound leg, one message at a time.
        let may_chat =
            |ts: &TermState, leg: usize| !s.msrp || (ts.bound[leg] && ts.sending.is_none());
        if a.one.is_some()
            && a.sent_one < s.msgs
            && !a.bye_sent
            && !a.bye_received
            && may_chat(a, 0)
        {
            out.push(Action::Chat(Term::A, Sess::One));
        }
        if b.one.is_some()
            && b.sent_one < s.msgs
            && !b.bye_sent
            && !b.bye_received
            && may_chat(b, 0)
        {
            out.push(Action::Chat(Term::B, Sess::One));
        }
        for t in [Term::A, Term::B, Term::C] {
            let ts = st.term(t);
            if ts.group.is_some()
                && !ts.left_group
                && ts.sent_group < s.group_msgs
                && may_chat(ts, 1)
            {
                out.push(Action::Chat(t, Sess::Group));
            }
            // A message under way is finished (or aborted) whatever else happened.
            if let Some(m) = ts.sending {
                let bound = crate::msrp::leg_index(m.sess).is_some_and(|l| ts.bound[l]);
                if bound {
                    out.push(Action::ChunkEnd(t));
                    if st.budget.aborts > 0 {
                        out.push(Action::Abort(t));
                    }
                }
            }
            let may_leave = match t {
                Term::C => s.leavers >= 1,
                Term::B => s.leavers >= 2,
                Term::A | Term::M => s.leavers >= 3,
            };
            // A participant leaves after its own group messages and its part of the
            // 1-to-1's end (the races of interest are B's BYE on the 1-to-1 against the
            // group messages, and the others' messages against a leave; leaving earlier
            // multiplies the states without a new race).
            let one_done = match t {
                Term::A => ts.bye_received || ts.bye_sent,
                Term::B => ts.bye_sent && ts.outstanding.is_empty(),
                Term::C | Term::M => true,
            };
            let ready = ts.sent_group == s.group_msgs && one_done && ts.sending.is_none();
            if may_leave && ready && ts.group.is_some() && !ts.left_group {
                out.push(Action::Leave(t));
            }
        }
        let a_may_extend = a.one.is_some() && !a.bye_sent && !a.bye_received && !a.extended;
        if s.extend && a_may_extend {
            out.push(Action::Extend);
        }
        if s.glare && a.one.is_some() && !a.bye_sent && !a.bye_received && (!s.extend || a.extended)
        {
            out.push(Action::Bye(Term::A));
        }
        let b_ready = b.one_confirmed && !b.bye_sent && !b.bye_received;
        if b_ready && (!s.extend || s.b_bye_early || b.group.is_some()) {
            out.push(Action::Bye(Term::B));
        }
        // The REFERs come once the replaced 1-to-1 is sealed: their races are with
        // each other, C's leave and the group's traffic, not with the switch.
        if s.refers && st.ghost.seal_durable {
            let c_in = st.term(Term::C).group.is_some() && !st.term(Term::C).left_group;
            for t in [Term::A, Term::B] {
                let ts = st.term(t);
                if !ts.referred && ts.group.is_some() && !ts.left_group && c_in {
                    out.push(Action::Refer(t));
                }
            }
            if !st.term(Term::M).referred && a.group.is_some() {
                out.push(Action::Refer(Term::M));
            }
        }
        if s.attacker && !st.term(Term::M).extended && a.one.is_some() {
            out.push(Action::Attack);
        }
        self.race_actions(st, out);
        if self.may_cancel(st) {
            out.push(Action::Cancel);
        }
        out.extend(self.wrong_paths_enabled(st).map(Action::WrongPath));
        self.msrp_reconnect_enabled(st, out);
        for t in [Term::A, Term::B, Term::C] {
            if self.may_restart(st, t) {
                out.push(Action::Restart(t));
            }
        }
        if st.budget.retransmits > 0 {
            for t in Term::ALL {
                if !st.term(t).outstanding.is_empty() {
                    out.push(Action::Retransmit(t));
                }
            }
        }
    }

    /// The state after `action`, with the message-sequence lines of the step in `log`.
    pub fn step(&self, last: &State, action: &Action, log: &mut Log) -> State {
        let mut st = self.step_alone(last, action, log);
        self.eager_acks(&mut st, log);
        self.forget_spent_attack(&mut st, log);
        st
    }

    /// The step of `action` itself, before `eager_acks`.
    fn step_alone(&self, last: &State, action: &Action, log: &mut Log) -> State {
        let mut st = last.clone();
        // The commands of a cached server step (`memo.rs`), carried out first.
        let mut first: memo::Outs = std::rc::Rc::from([]);
        match action {
            Action::Deliver(i) => {
                let p = st.net.remove(*i);
                match (p.src, p.dst) {
                    (Node::T(t), Node::Server) => {
                        first = self.server_receives(&mut st, t, p.msg, log);
                    }
                    (Node::Server, Node::T(t)) => self.terminal_receives(&mut st, t, &p.msg, log),
                    _ => {}
                }
            }
            Action::IgnoreBye(i) => {
                st.net.remove(*i);
                st.term_mut(Term::A).silent = true;
                note_local(log, Term::A, "ignores the BYE".into());
            }
            Action::Drop(i) => {
                let p = st.net.remove(*i);
                st.budget.drops -= 1;
                if p.src == Node::T(Term::B)
                    && matches!(&*p.msg, SipMessage::Request(r) if r.method == Method::Bye)
                {
                    st.ghost.b_bye_lost = true;
                }
                if log.is_some() {
                    note_net(log, format!("network loses {}", describe(&p.msg)));
                }
            }
            Action::Duplicate(i) => {
                let p = st.net[*i].clone();
                st.budget.dups -= 1;
                if log.is_some() {
                    note_net(log, format!("network duplicates {}", describe(&p.msg)));
                }
                self.push(&mut st, p);
            }
            Action::Fire(timer) => {
                match timer {
                    Timer::Retransmit(_) | Timer::Retransmit2xx(_) => st.budget.retransmits -= 1,
                    Timer::ByeWait(_) => {
                        st.ghost.leg_done = [true, true];
                        self.mark_handshake(&mut st);
                    }
                    Timer::ReplacedBye(_) => {
                        self.mark_handshake(&mut st);
                        st.ghost.replaced_bye_fired = true;
                        st.ghost.one_ended = true;
                    }
                    Timer::Timeout(_)
                    | Timer::Linger(_)
                    | Timer::BindingExpiry(..)
                    | Timer::HeldAnswer(_) => {}
                    Timer::SubscriptionExpiry(_) => self.subscription_timer(&mut st, timer),
                    Timer::DeferredExpiry(..) => {}
                }
                if log.is_some() {
                    note_server(log, format!("timer {timer}"));
                }
                first = self.server_input(&mut st, memo::Input::Fire(timer.clone()));
            }
            Action::StoreOk(ticket) | Action::StoreFail(ticket) => {
                let ok = matches!(action, Action::StoreOk(_));
                let pos = st
                    .store
                    .iter()
                    .position(|(t, _)| t == ticket)
                    .expect("pending");
                let (_, req) = st.store.remove(pos);
                if req == StoreReq::Seal(Sess::One) {
                    self.mark_handshake(&mut st);
                }
                if ok {
                    match req {
                        StoreReq::Msg(m) => {
                            let at = st.ghost.stored.partition_point(|x| *x <= m);
                            st.ghost.stored.insert(at, m);
                        }
                        StoreReq::Seal(Sess::One) => {
                            st.ghost.seal_durable = true;
                            st.ghost.reach(Reached::Sealed);
                        }
                        StoreReq::Info => st.ghost.info_stored = true,
                        StoreReq::Seal(_) => {}
                    }
                } else {
                    st.budget.store_fails -= 1;
                }
                if log.is_some() {
                    note_store_answer(
                        log,
                        format!("{ticket} {}", if ok { "ok" } else { "failed" }),
                    );
                }
                first = self.server_input(&mut st, memo::Input::Store(*ticket, ok));
            }
            Action::Chat(t, sess) => {
                let ts = st.term_mut(*t);
                let n = match sess {
                    Sess::Group => {
                        ts.sent_group += 1;
                        ts.sent_group
                    }
                    Sess::One | Sess::Other => {
                        ts.sent_one += 1;
                        ts.sent_one
                    }
                };
                let msg = Msg {
                    sender: *t,
                    sess: *sess,
                    n,
                };
                let at = st.ghost.sent.partition_point(|x| *x <= msg);
                st.ghost.sent.insert(at, msg);
                if self.setup.msrp {
                    self.msrp_chat(&mut st, msg, log);
                    self.drain(&mut st, log);
                    return st;
                }
                if log.is_some() {
                    note(log, Node::T(*t), Node::Server, format!("chat {}", msg.id()));
                }
                first = self.server_input(&mut st, memo::Input::Chat(msg));
            }
            Action::Extend => {
                st.term_mut(Term::A).extended = true;
                let req = terminal::extension(
                    Term::A,
                    self.transport(),
                    terminal::A_EXT_CALL,
                    terminal::GROUP_CONTRIBUTION,
                    None,
                );
                self.send(&mut st, Term::A, req, true, log);
            }
            Action::Bye(t) => {
                let branch = Self::branch(&mut st, *t, "bye");
                let ts = st.term_mut(*t);
                ts.bye_sent = true;
                let Some(d) = ts.one.as_mut() else {
                    return st;
                };
                let req = terminal::in_dialog(*t, self.transport(), d, Method::Bye, &branch);
                self.send(&mut st, *t, req, true, log);
            }
            Action::Leave(t) => {
                let branch = Self::branch(&mut st, *t, "leave");
                let ts = st.term_mut(*t);
                ts.left_group = true;
                let Some(d) = ts.group.as_mut() else {
                    return st;
                };
                let req = terminal::in_dialog(*t, self.transport(), d, Method::Bye, &branch);
                self.send(&mut st, *t, req, true, log);
            }
            Action::Retransmit(t) => {
                st.budget.retransmits -= 1;
                let req = st.term(*t).outstanding[0].clone();
                if *t == Term::B && req.method == Method::Bye && st.ghost.b_bye_lost {
                    st.ghost.b_bye_resent = true;
                }
                self.send(&mut st, *t, req, false, log);
            }
            Action::ChunkEnd(t) => self.msrp_finish(&mut st, *t, false, log),
            Action::Refer(t) => self.refer(&mut st, *t, log),
            Action::Race(a) => self.race_step(&mut st, *a, log),
            Action::Restart(t) => self.restart(&mut st, *t, log),
            Action::Abort(t) => self.msrp_finish(&mut st, *t, true, log),
            Action::Cancel => self.cancel(&mut st, log),
            Action::WrongPath(status) => self.wrong_path(&mut st, *status, log),
            Action::MsrpBreak(t) => self.msrp_break(&mut st, *t, log),
            Action::MsrpRebind(t) => self.msrp_rebind(&mut st, *t, log),
            Action::Decline(i) => self.refuse_invite(&mut st, *i, StatusCode::DECLINE, log),
            Action::NoAnswer(i) => {
                self.refuse_invite(&mut st, *i, StatusCode::TEMPORARILY_UNAVAILABLE, log)
            }
            Action::Attack => {
                st.term_mut(Term::M).extended = true;
                // Mallory learnt K1 and A's Call-ID and both tags (e.g. by sniffing).
                let replaces = st
                    .term(Term::A)
                    .one
                    .as_ref()
                    .and_then(terminal::replaces_of);
                let req = terminal::extension(
                    Term::M,
                    self.transport(),
                    terminal::M_CALL,
                    terminal::ATTACK_CONTRIBUTION,
                    replaces,
                );
                self.send(&mut st, Term::M, req, true, log);
            }
        }
        self.drain_from(&mut st, &first, log);
        st
    }

    /// A group REFER (RFC 4579 §5.5): A and B in their group dialog name C with
    /// `method=BYE`; Mallory, who learnt the focus URI, sends one outside any dialog
    /// naming herself.
    fn refer(&self, st: &mut State, t: Term, log: &mut Log) {
        let branch = Self::branch(st, t, "refer");
        st.term_mut(t).referred = true;
        let req = match t {
            Term::A | Term::B | Term::C => {
                let ts = st.term_mut(t);
                let Some(d) = ts.group.as_mut() else {
                    return;
                };
                let mut req = terminal::in_dialog(t, self.transport(), d, Method::Refer, &branch);
                req.headers.other.push((
                    "Refer-To".into(),
                    format!("<sip:{}@{};method=BYE>", Term::C.name(), terminal::DOMAIN),
                ));
                req
            }
            Term::M => {
                let Some(focus) = st.group_focus(Term::A) else {
                    return;
                };
                let mut req = terminal::request(
                    t,
                    self.transport(),
                    Method::Refer,
                    focus.clone(),
                    focus,
                    terminal::M_REFER_CALL,
                    &branch,
                );
                req.headers.other.push((
                    "Refer-To".into(),
                    format!("<sip:{}@{}>", Term::M.name(), terminal::DOMAIN),
                ));
                req
            }
        };
        self.send(st, t, req, true, log);
    }

    /// Whether no action is enabled (an end state).
    pub fn is_end(&self, st: &State) -> bool {
        // Exact shortcuts for the common case (the properties ask this of every
        // state, several times): `enabled` offers a delivery of every packet in
        // flight (the first of each identical copy or of each connection) and the
        // store's answer to every pending request, whatever else holds.
        if !st.net.is_empty() || !st.store.is_empty() {
            return false;
        }
        let mut v = Vec::new();
        self.enabled(st, &mut v);
        v.is_empty()
    }
}

/// The Call-ID of `t`'s leg of the 1-to-1, as the terminal knows it.
fn one_call_of(st: &State, t: Term) -> Option<CallId> {
    match t {
        Term::A => Some(CallId::new(terminal::A_ONE_CALL)),
        Term::B => {
            let b = st.term(Term::B);
            b.one
                .as_ref()
                .map(|d| d.call_id.clone())
                .or_else(|| b.lost_calls[0].clone())
        }
        Term::C | Term::M => None,
    }
}

/// Whether `call` is `t`'s group dialog, or the one it had before a restart.
fn group_call_of(st: &State, t: Term, call: &CallId) -> bool {
    let ts = st.term(t);
    ts.group.as_ref().is_some_and(|d| d.call_id == *call) || ts.lost_calls[1].as_ref() == Some(call)
}

fn leg_index(t: Term) -> usize {
    match t {
        Term::A => 0,
        Term::B | Term::C | Term::M => 1,
    }
}

/// A one-line description of a SIP message.
pub fn describe(msg: &SipMessage) -> String {
    match msg {
        SipMessage::Request(r) => format!(
            "{} {} cseq={}",
            r.method, r.headers.call_id, r.headers.cseq.seq
        ),
        SipMessage::Response(r) => format!(
            "{} {} {}",
            r.status, r.headers.cseq.method, r.headers.call_id
        ),
    }
}

/// Message-sequence lines of one step: (from, to, label); `None` is the store.
pub type Log = Option<Vec<(Option<Node>, Option<Node>, String)>>;

fn note(log: &mut Log, from: Node, to: Node, label: String) {
    if let Some(l) = log {
        l.push((Some(from), Some(to), label));
    }
}

fn note_store(log: &mut Log, label: String) {
    if let Some(l) = log {
        l.push((Some(Node::Server), None, label));
    }
}

fn note_store_answer(log: &mut Log, label: String) {
    if let Some(l) = log {
        l.push((None, Some(Node::Server), label));
    }
}

fn note_server(log: &mut Log, label: String) {
    if let Some(l) = log {
        l.push((Some(Node::Server), Some(Node::Server), label));
    }
}

fn note_local(log: &mut Log, t: Term, label: String) {
    if let Some(l) = log {
        l.push((Some(Node::T(t)), Some(Node::T(t)), label));
    }
}

fn note_net(log: &mut Log, label: String) {
    if let Some(l) = log {
        l.push((None, None, label));
    }
}

fn note_chat(log: &mut Log, _from: Term, to: Term, label: String) {
    if let Some(l) = log {
        l.push((Some(Node::Server), Some(Node::T(to)), label));
    }
}
