//! The properties, one per numbered invariant of `specs/`, and the
//! [`stateright::Model`] implementation that carries them.
//!
//! Safety observers that must look at the server's output at the moment it happens
//! (a seal, a 200 to a BYE, a persisted group info) record a [`Flaw`] in the ghost
//! state; the `always` properties here read those verdicts, or check the ghost's
//! logs directly. End-state properties are `always` properties that hold trivially
//! outside end states (stateright's `eventually` ignores paths ending in cycles).

use cpmd_core::msrp::FailureReport;
use cpmd_core::server::{ChatOutcome, Mutation};
use stateright::{Model, Property};

use crate::model::{race_props, Action, CpmModel, Flaw, Reached, Sess, State};
use crate::terminal::Term;

/// Property names, as the checker reports them.
pub mod names {
    /// MSG-1.
    pub const MSG_1: &str = "MSG-1 acknowledged implies stored";
    /// MSG-2.
    pub const MSG_2: &str = "MSG-2 per-sender FIFO, no duplication";
    /// EXT-8 / MSG-4.
    pub const EXT_8: &str = "EXT-8 no silent loss across the extension";
    /// HIST-1.
    pub const HIST_1: &str = "HIST-1 sealed exactly once";
    /// HIST-2.
    pub const HIST_2: &str = "HIST-2 seal after handshake, nothing after seal";
    /// HIST-3.
    pub const HIST_3: &str = "HIST-3 sealed set equals delivered, in order";
    /// HIST-5.
    pub const HIST_5: &str = "HIST-5 200 to BYE sender after durable seal";
    /// TERM-1.
    pub const TERM_1: &str = "TERM-1 200 to BYE sender after A's answer";
    /// EXT-2.
    pub const EXT_2: &str = "EXT-2 only a party replaces";
    /// EXT-3.
    pub const EXT_3: &str = "EXT-3 same conversation, new contribution";
    /// ONE-7.
    pub const ONE_7: &str = "ONE-7 no second transaction or dialog";
    /// GRP-2.
    pub const GRP_2: &str = "GRP-2 group message stored once, never back to its sender";
    /// GRP-3.
    pub const GRP_3: &str = "GRP-3 no 1-to-1 message in the group";
    /// GRP-4.
    pub const GRP_4: &str = "GRP-4 group sealed once, when the last participant left";
    /// GRP-5.
    pub const GRP_5: &str = "GRP-5 a participant's BYE removes only that participant";
    /// GRP-14.
    pub const GRP_14: &str = "GRP-14 only a participant adds by REFER";
    /// GRP-15.
    pub const GRP_15: &str = "GRP-15 only the chairman removes, the removed get nothing more";
    /// Sometimes: the chairman removed C.
    pub const S_REMOVED: &str = "sometimes the chairman removes C";
    /// Sometimes: a non-chairman's removal refused.
    pub const S_NON_CHAIR: &str = "sometimes B's removal is refused";
    /// MSRP-1.
    pub const MSRP_1: &str = "MSRP-1 the server's own fresh path per leg, the right setup role";
    /// MSRP-3.
    pub const MSRP_3: &str = "MSRP-3 a SEND on a wrong path gets 481 / 403 and is taken on nowhere";
    /// Sometimes: both of A's wrong-path SENDs went out (and were answered).
    pub const S_WRONG_PATHS: &str = "sometimes A sent both wrong-path SENDs";
    /// MSRP-11.
    pub const MSRP_11: &str = "MSRP-11 an SDP answer mirrors the offer's m-lines, others port 0";
    /// MSRP-5.
    pub const MSRP_5: &str = "MSRP-5 a REPORT is never answered";
    /// MSRP-4.
    pub const MSRP_4: &str = "MSRP-4 answered as Failure-Report asks, 200 and REPORT after durable";
    /// MSRP-6.
    pub const MSRP_6: &str = "MSRP-6 responses to the server's SENDs produce no output";
    /// MSRP-7.
    pub const MSRP_7: &str = "MSRP-7 relayed as the server's own SEND on the recipient's path";
    /// MSRP-8.
    pub const MSRP_8: &str = "MSRP-8 chunked message delivered whole, aborted one never";
    /// MSRP-9.
    pub const MSRP_9: &str =
        "MSRP-9 nothing written on a closed connection, held for the next bind";
    /// Sometimes: a message waited for B's new connection.
    pub const S_HELD_DELIVERED: &str =
        "sometimes a message waits for B's new MSRP connection and goes out at its bind";
    /// MSRP-10.
    pub const MSRP_10: &str = "MSRP-10 a finished message is answered, never silence";
    /// TERM-2, timed.
    pub const TERM_2: &str = "TERM-2 bye_wait armed for at most bye_wait, below 64*T1";
    /// ONE-3.
    pub const ONE_3: &str = "ONE-3 A's 200 after B's 200, every 2xx ACKed or its leg ended";
    /// ONE-4.
    pub const ONE_4: &str = "ONE-4 a CANCELled INVITE gets 487, a crossing 2xx is ended";
    /// ONE-9.
    pub const ONE_9: &str = "ONE-9 A's INVITE gets exactly one final response";
    /// EXT-4.
    pub const EXT_4: &str = "EXT-4 the group's info stored with From, To, ids and media";
    /// EXT-5.
    pub const EXT_5: &str = "EXT-5 A's 200 only once the group exists";
    /// GRP-8.
    pub const GRP_8: &str = "GRP-8 the group state names the focus URI";
    /// GRP-9.
    pub const GRP_9: &str = "GRP-9 every focus Contact is the focus URI with isfocus and CPM tags";
    /// GRP-1.
    pub const GRP_1: &str =
        "GRP-1 every invitee's outcome recorded, a refusal ends nothing for the others";
    /// GRP-6.
    pub const GRP_6: &str = "GRP-6 the replaced 1-to-1's handshake never changes the group";
    /// GRP-7.
    pub const GRP_7: &str =
        "GRP-7 declined after a refusal, no-answer without one, left after joining";
    /// Sometimes: C declined and the group went on to its seal.
    pub const S_DECLINED: &str = "sometimes C declines and the group goes on to its end";
    /// Sometimes: C did not answer and the group went on to its seal.
    pub const S_NO_ANSWER: &str = "sometimes C does not answer and the group goes on to its end";
    /// Sometimes: A's CANCEL crossed B's 200 (B's leg ACKed and ended by BYE).
    pub const S_CANCEL_CROSSED: &str = "sometimes A's CANCEL crosses B's 200";
    /// Sometimes: A's CANCEL came after its 200 (the INVITE stays answered 200).
    pub const S_CANCEL_LATE: &str = "sometimes A's CANCEL comes after its 200";
    /// Sometimes: the store failed the group's info, A got a failure, no group.
    pub const S_INFO_FAILED: &str = "sometimes the group's info fails and A is refused";
    /// End states.
    pub const END: &str = "no bad end state";
    /// Sometimes: an MSRP message aborted.
    pub const S_ABORTED: &str = "sometimes an MSRP message is aborted";
    /// Sometimes: the switch window over MSRP.
    pub const S_SWITCH: &str = "sometimes a 1-to-1 MSRP message is delivered after the extension";
    /// Sometimes: B's BYE on the replaced 1-to-1 races a group message.
    pub const S_BYE_GROUP_MSG: &str = "sometimes B's 1-to-1 BYE races a group message";
    /// Sometimes: the group goes on after a participant left.
    pub const S_GROUP_ON: &str = "sometimes the group goes on after a participant left";
    /// Sometimes: the group sealed.
    pub const S_GROUP_SEALED: &str = "sometimes the group is sealed";
    /// Sometimes: glare.
    pub const S_GLARE: &str = "sometimes BYE glare";
    /// Sometimes: BYE races a message.
    pub const S_BYE_MSG: &str = "sometimes BYE races an in-flight message";
    /// Sometimes: extension races a message.
    pub const S_EXT_MSG: &str = "sometimes extension while a message is in flight";
    /// Sometimes: B's BYE lost.
    pub const S_BYE_LOST: &str = "sometimes B's BYE lost and retransmitted";
    /// Sometimes: silent A.
    pub const S_SILENT: &str = "sometimes A silent on the relayed BYE";
    /// Sometimes: missing BYE.
    pub const S_MISSING: &str = "sometimes B's BYE missing, server ends the 1-to-1";
    /// Sometimes: sealed.
    pub const S_SEALED: &str = "sometimes the 1-to-1 is sealed";
    /// Sometimes: group joined.
    pub const S_JOINED: &str = "sometimes B and C join the group";
    /// Sometimes: a terminal restarted.
    pub const S_RESTART: &str = "sometimes a terminal restarts";
    /// Sometimes: a seal after a terminal's restart.
    pub const S_SEALED_AFTER_RESTART: &str =
        "sometimes a session is sealed after a terminal restarted";
    /// The reduction's conditions (`model/src/model/por.rs`), with `por_check`.
    pub const POR: &str = "POR safe receipts commute, are invisible, end no cycle";
    /// Sometimes: attacker answered.
    pub const S_ATTACK: &str = "sometimes the attacker is answered";
}

fn flawless(st: &State, f: Flaw) -> bool {
    !st.ghost.flaws.contains(&f)
}

fn msg_1(_: &CpmModel, st: &State) -> bool {
    st.ghost
        .results
        .iter()
        .filter(|(_, o)| *o == ChatOutcome::Accepted)
        .all(|(m, _)| st.ghost.stored.contains(m))
}

fn msg_2(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::Reordered)
}

/// Whether the model can tell `m`'s outcome: a typed message always; over MSRP
/// one whose sender asked for every response (`Failure-Report: yes`) and that it
/// did not abort.
fn answer_expected(model: &CpmModel, st: &State, m: &crate::model::Msg) -> bool {
    !model.setup.msrp
        || (crate::msrp::reports(*m).0 == FailureReport::Yes && !st.ghost.aborted.contains(m))
}

/// The outcome of `m` as far as its sender knows: its result, or over MSRP with
/// `Failure-Report: partial`, acceptance when a finished message got no failure.
fn outcome(model: &CpmModel, st: &State, m: &crate::model::Msg) -> Option<ChatOutcome> {
    let g = &st.ghost;
    if let Some((_, o)) = g.results.iter().find(|(r, _)| r == m) {
        return Some(*o);
    }
    let silent_ok = model.setup.msrp
        && crate::msrp::reports(*m).0 == FailureReport::Partial
        && g.completed.contains(m);
    silent_ok.then_some(ChatOutcome::Accepted)
}

fn ext_8(model: &CpmModel, st: &State) -> bool {
    let g = &st.ghost;
    let at_most_once = g
        .sent
        .iter()
        .all(|m| g.results.iter().filter(|(r, _)| r == m).count() <= 1);
    if !at_most_once {
        return false;
    }
    if !judged_end(model, st) {
        return true;
    }
    // In an end state every message has its answer, and every acknowledged 1-to-1
    // message reached its recipient.
    g.sent
        .iter()
        .filter(|m| answer_expected(model, st, m))
        .all(|m| g.results.iter().any(|(r, _)| r == m))
        && g.sent
            .iter()
            .filter(|m| m.sess == Sess::One)
            .filter(|m| outcome(model, st, m) == Some(ChatOutcome::Accepted))
            .all(|m| g.delivered.contains(m))
}

fn grp_14(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::OutsiderAdds)
}

fn grp_15(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::RemovedWrongly)
}

fn msrp_1(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpPath)
}

fn msrp_3(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpWrongPath)
}

fn msrp_11(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpMlines)
}

fn msrp_5(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpReportAnswered)
}

fn msrp_4(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpAnswer)
}

fn msrp_6(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpResponseAnswered)
}

fn msrp_7(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpRelay)
}

fn msrp_8(model: &CpmModel, st: &State) -> bool {
    if !flawless(st, Flaw::MsrpNotWhole) {
        return false;
    }
    // In an end state no relayed message is left in part on a leg still bound.
    !judged_end(model, st)
        || st
            .ghost
            .rx
            .iter()
            .all(|(t, leg, _, _)| !st.term(*t).bound[*leg])
}

/// MSRP-9: the server never wrote on a connection after it was told it closed
/// (`msrp_reconnect.rs`); that the messages held meanwhile reach B or fail back is
/// EXT-8's and MSRP-10's.
fn msrp_9(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::MsrpLost)
}

fn msrp_10(model: &CpmModel, st: &State) -> bool {
    if !model.setup.msrp || !judged_end(model, st) {
        return true;
    }
    // Every message whose sender finished it and asked for every response got its
    // final answer.
    let g = &st.ghost;
    g.completed
        .iter()
        .filter(|m| answer_expected(model, st, m))
        .all(|m| g.results.iter().any(|(r, _)| r == m))
}

fn hist_1(model: &CpmModel, st: &State) -> bool {
    let seals = st.ghost.seals.iter().filter(|s| **s == Sess::One).count();
    if seals > 1 {
        return false;
    }
    !(judged_end(model, st) && st.ghost.one_ended && seals != 1)
}

fn hist_2(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::SealBeforeHandshake) && flawless(st, Flaw::AddedAfterSeal)
}

fn hist_3(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::SealedSetWrong)
}

fn hist_5(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::OkBeforeDurableSeal)
}

fn term_1(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::OkBeforeAnswer)
}

/// TERM-2's timed half: every `ByeWait` the server armed runs out at most
/// `bye_wait` after it was armed, and `bye_wait` is below 64·T1, so a silent A's
/// peer gets its answer (seal plus the store's latency) before its BYE transaction
/// times out. The model's clock is the constant [`crate::model::NOW`], so a
/// deadline minus `NOW` is the wait the server chose. Read off the server's own
/// armed timers: no ghost field, no pinned count moves. That the timer, once fired,
/// seals (and B gets its 200) is HIST-1's and TERM-1's.
fn term_2(_: &CpmModel, st: &State) -> bool {
    let timers = st.server.config().timers;
    let now = crate::model::NOW.as_ms();
    timers.bye_wait_ms < timers.t64_ms()
        && st.server.armed_timers().all(|(t, at)| {
            !matches!(t, cpmd_core::Timer::ByeWait(_))
                || at.as_ms().saturating_sub(now) <= timers.bye_wait_ms
        })
}

fn ext_2(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::AttackerReplaced)
}

fn ext_3(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::GroupIds)
}

fn one_7(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::SecondDialog)
}

fn grp_2(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::GroupEchoOrTwice)
}

fn grp_3(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::OneInGroup)
}

fn grp_4(model: &CpmModel, st: &State) -> bool {
    if !flawless(st, Flaw::GroupSealEarly) {
        return false;
    }
    // In an end state where everyone who joined left, the group was sealed.
    let g = &st.ghost;
    // One the focus removed is out as one who left.
    let all_left = (0..3)
        .all(|i| g.group_joined[i] == g.group_left[i] || (g.group_joined[i] && g.removed[i]))
        && g.group_joined[0];
    !(all_left && judged_end(model, st)) || g.seals.contains(&Sess::Group)
}

/// An end state the server is judged on: not one where a message was lost and no
/// retransmission is left (the server then waits for a transaction timeout the model
/// does not fire, e.g. an invitee's lost INVITE keeps the group open).
fn judged_end(model: &CpmModel, st: &State) -> bool {
    model.is_end(st) && !lossy_end(model, st)
}

fn lossy_end(model: &CpmModel, st: &State) -> bool {
    st.budget.retransmits == 0 && st.budget.drops < model.setup.drops || unjudged_end(model, st)
}

/// An end state after a terminal's restart: the sessions of the terminal that
/// vanished end by timers the model does not fire (transaction timeouts, session
/// expiry, `model/src/model/restart.rs`), so only the safety properties judge it.
fn unjudged_end(model: &CpmModel, st: &State) -> bool {
    st.budget.restarts < model.setup.restarts
}

fn grp_5(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::OthersRemoved)
}

fn one_3(model: &CpmModel, st: &State) -> bool {
    if !flawless(st, Flaw::CallerOkEarly) {
        return false;
    }
    // In an end state B's 2xx was ACKed by the server, or the server ended B's leg.
    // Not after a loss: B does not repeat its 2xx by itself (model/README.md "Not
    // done"), so a lost ACK is the model's, not the server's.
    if !judged_end(model, st) || st.budget.drops < model.setup.drops {
        return true;
    }
    let b = st.term(Term::B);
    b.one.is_none() || b.one_confirmed || b.bye_received
}

fn one_4(model: &CpmModel, st: &State) -> bool {
    if !flawless(st, Flaw::CancelAnswer) {
        return false;
    }
    // B's INVITE was cancelled, or its 2xx that crossed the CANCEL was ended.
    let b = st.term(Term::B);
    !(st.ghost.cancel_first && judged_end(model, st)) || b.one.is_none() || b.bye_received
}

fn one_9(model: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::SecondFinal) && (!judged_end(model, st) || st.ghost.a_final.is_some())
}

fn ext_4(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::GroupInfo)
}

fn ext_5(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::GroupOkEarly)
}

fn grp_8(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::FocusUri)
}

fn grp_9(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::FocusContact)
}

fn grp_1(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::GroupEndedForOthers)
}

fn grp_6(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::GroupTouchedByOne)
}

fn grp_7(_: &CpmModel, st: &State) -> bool {
    flawless(st, Flaw::OutcomeWrong)
}

fn end(model: &CpmModel, st: &State) -> bool {
    if !flawless(st, Flaw::RawAnswer) {
        return false;
    }
    if !model.is_end(st) {
        return true;
    }
    // A lost message with no retransmission left is the budget's end, not the
    // server's: such end states are not judged.
    if lossy_end(model, st) {
        return true;
    }
    // Every request a terminal sent got its final response, and the store has
    // nothing pending (the store actor is always enabled, so it has not).
    let answered = Term::ALL
        .into_iter()
        .all(|t| st.term(t).outstanding.is_empty());
    answered && (!st.ghost.one_ended || st.ghost.seals.contains(&Sess::One))
}

fn reached(st: &State, r: Reached) -> bool {
    st.ghost.reached.contains(&r)
}

impl Model for CpmModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.initial()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled(state, actions);
        self.reduce(state, actions);
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        Some(self.step(last, &action, &mut None))
    }

    fn format_action(&self, action: &Action) -> String {
        format!("{action:?}")
    }

    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let mut log = Some(Vec::new());
        self.step(last, &action, &mut log);
        Some(crate::msc::render(&log.unwrap_or_default()))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        use names::*;
        let mut p = vec![
            Property::always(MSG_1, msg_1),
            Property::always(MSG_2, msg_2),
            Property::always(EXT_8, ext_8),
            Property::always(HIST_1, hist_1),
            Property::always(HIST_2, hist_2),
            Property::always(HIST_3, hist_3),
            Property::always(HIST_5, hist_5),
            Property::always(TERM_1, term_1),
            Property::always(TERM_2, term_2),
            Property::always(EXT_2, ext_2),
            Property::always(EXT_3, ext_3),
            Property::always(ONE_7, one_7),
            Property::always(GRP_2, grp_2),
            Property::always(GRP_3, grp_3),
            Property::always(GRP_4, grp_4),
            Property::always(GRP_5, grp_5),
            Property::always(GRP_14, grp_14),
            Property::always(GRP_15, grp_15),
            Property::always(MSRP_1, msrp_1),
            Property::always(MSRP_3, msrp_3),
            Property::always(MSRP_4, msrp_4),
            Property::always(MSRP_5, msrp_5),
            Property::always(MSRP_6, msrp_6),
            Property::always(MSRP_7, msrp_7),
            Property::always(MSRP_8, msrp_8),
            Property::always(MSRP_9, msrp_9),
            Property::always(MSRP_10, msrp_10),
            Property::always(MSRP_11, msrp_11),
            Property::always(ONE_3, one_3),
            Property::always(ONE_4, one_4),
            Property::always(ONE_9, one_9),
            Property::always(EXT_4, ext_4),
            Property::always(EXT_5, ext_5),
            Property::always(GRP_8, grp_8),
            Property::always(GRP_9, grp_9),
            Property::always(GRP_1, grp_1),
            Property::always(GRP_6, grp_6),
            Property::always(GRP_7, grp_7),
            Property::always(END, end),
            Property::sometimes(S_SEALED, |_, s| reached(s, Reached::Sealed)),
        ];
        let s = &self.setup;
        if s.glare {
            p.push(Property::sometimes(S_GLARE, |_, s| {
                reached(s, Reached::ByeGlare)
            }));
        }
        if s.msgs > 0 {
            p.push(Property::sometimes(S_BYE_MSG, |_, s| {
                reached(s, Reached::ByeRacesMessage)
            }));
        }
        if s.extend {
            p.push(Property::sometimes(S_JOINED, |_, s| {
                reached(s, Reached::GroupJoined)
            }));
            if s.msgs > 0 {
                p.push(Property::sometimes(S_EXT_MSG, |_, s| {
                    reached(s, Reached::ExtensionRacesMessage)
                }));
            }
        }
        if s.extend && s.group_msgs > 0 && !s.b_bye_early {
            p.push(Property::sometimes(S_BYE_GROUP_MSG, |_, s| {
                reached(s, Reached::ByeRacesGroupMessage)
            }));
        }
        if s.extend && s.leavers >= 3 {
            p.push(Property::sometimes(S_GROUP_SEALED, |_, s| {
                reached(s, Reached::GroupSealed)
            }));
        }
        if s.extend && s.leavers > 0 && s.group_msgs > 0 {
            p.push(Property::sometimes(S_GROUP_ON, |_, s| {
                reached(s, Reached::GroupGoesOnAfterLeave)
            }));
        }
        if s.drops > 0 && s.retransmits > 0 {
            p.push(Property::sometimes(S_BYE_LOST, |_, s| {
                reached(s, Reached::ByeLostRetransmitted)
            }));
        }
        if s.silent_a {
            p.push(Property::sometimes(S_SILENT, |_, s| {
                reached(s, Reached::SilentASealed)
            }));
        }
        if s.missing_bye {
            p.push(Property::sometimes(S_MISSING, |_, s| {
                reached(s, Reached::MissingByeSealed)
            }));
        }
        if s.refers {
            p.push(Property::sometimes(S_REMOVED, |_, s| {
                reached(s, Reached::ChairRemoved)
            }));
            p.push(Property::sometimes(S_NON_CHAIR, |_, s| {
                reached(s, Reached::NonChairRefused)
            }));
        }
        if s.msrp && s.aborts > 0 && s.chunks >= 2 {
            p.push(Property::sometimes(S_ABORTED, |_, s| {
                reached(s, Reached::MsrpAborted)
            }));
        }
        if s.msrp && s.extend && s.msgs > 0 {
            p.push(Property::sometimes(S_SWITCH, |_, s| {
                reached(s, Reached::MsrpSwitchWindow)
            }));
        }
        if s.msrp && s.msrp_reconnect && s.msgs > 0 {
            p.push(Property::sometimes(S_HELD_DELIVERED, |_, s| {
                reached(s, Reached::MsrpHeldDelivered)
            }));
        }
        if s.restarts > 0 {
            p.push(Property::sometimes(S_RESTART, |_, s| {
                reached(s, Reached::Restarted)
            }));
            p.push(Property::sometimes(S_SEALED_AFTER_RESTART, |_, s| {
                reached(s, Reached::SealedAfterRestart)
            }));
        }
        if s.declines {
            p.push(Property::sometimes(S_DECLINED, |_, s: &State| {
                crate::model::refused_then_sealed(s, 603)
            }));
            p.push(Property::sometimes(S_NO_ANSWER, |_, s: &State| {
                crate::model::refused_then_sealed(s, 480)
            }));
        }
        if s.msrp && s.wrong_paths {
            p.push(Property::sometimes(S_WRONG_PATHS, |_, s: &State| {
                s.term(Term::A).wrong_sent == 3
            }));
        }
        if s.cancel {
            p.push(Property::sometimes(S_CANCEL_CROSSED, |_, s: &State| {
                s.ghost.cancel_first && s.term(Term::B).bye_received
            }));
            p.push(Property::sometimes(S_CANCEL_LATE, |_, s: &State| {
                s.term(Term::A).cancelled && s.ghost.a_final == Some(200)
            }));
        }
        if s.extend && s.info_fails && s.store_fails > 0 {
            p.push(Property::sometimes(S_INFO_FAILED, |_, s: &State| {
                let a = s.term(Term::A);
                a.extended
                    && a.group.is_none()
                    && !a
                        .outstanding
                        .iter()
                        .any(|r| r.headers.call_id.as_str() == crate::terminal::A_EXT_CALL)
            }));
        }
        if s.attacker {
            p.push(Property::sometimes(S_ATTACK, |_, s| {
                reached(s, Reached::AttackRefused)
            }));
        }
        p.extend(race_props::of(self));
        if s.por_check {
            p.push(Property::always(POR, |m, s| m.por_sound_at(s)));
        }
        p
    }
}

/// The property each mutant must break.
pub fn expected_violation(mutation: Mutation) -> Option<&'static str> {
    use names::*;
    match mutation {
        Mutation::None => None,
        Mutation::AckBeforeStore => Some(MSG_1),
        Mutation::SealOnByeArrival => Some(HIST_2),
        Mutation::ReplaceWithoutAuth => Some(EXT_2),
        Mutation::ReuseContributionId => Some(EXT_3),
        Mutation::DeliverOnStore => Some(MSG_2),
        Mutation::HistoryInStoreOrder => Some(HIST_3),
        Mutation::OkBeforeDurableSeal => Some(HIST_5),
        Mutation::IgnoreByeWait => Some(HIST_1),
        Mutation::SilentDropOnClosedLeg => Some(EXT_8),
        Mutation::NoRetransmissionAbsorb => Some(ONE_7),
        Mutation::UnansweredGlareBye => Some(END),
        Mutation::GroupEchoToSender => Some(GRP_2),
        Mutation::OneToOneIntoGroup => Some(GRP_3),
        Mutation::SealGroupOnFirstLeave => Some(GRP_4),
        Mutation::GroupByeRemovesAll => Some(GRP_5),
        Mutation::MsrpIgnoreFailureReport => Some(MSRP_4),
        Mutation::MsrpAnswerResponses => Some(MSRP_6),
        Mutation::MsrpRelaySenderMessageId => Some(MSRP_7),
        Mutation::MsrpAbortCompletes => Some(MSRP_8),
        Mutation::MsrpSilentFailure => Some(MSRP_10),
        Mutation::ReferFromAnyone => Some(GRP_14),
        Mutation::AnyoneRemoves => Some(GRP_15),
        Mutation::RemovedRejoins => Some(race_props::GRP_21),
        Mutation::RejoinWhileSealing => Some(race_props::GRP_22),
        Mutation::SecondDeviceJoins => Some(race_props::GRP_31),
        Mutation::SubjectNotAnnounced => Some(race_props::GRP_33),
        Mutation::MsrpPathPassThrough => Some(MSRP_1),
        Mutation::MsrpAnswerReports => Some(MSRP_5),
        Mutation::GroupInfoWithoutMedia => Some(EXT_4),
        Mutation::GroupOnFailedInfo => Some(EXT_5),
        Mutation::FocusNamedFactory => Some(GRP_8),
        Mutation::FocusContactPlain => Some(GRP_9),
        Mutation::NoAckOfAnswer => Some(ONE_3),
        Mutation::CrossedAnswerNotEnded => Some(ONE_4),
        Mutation::CancelWithout487 => Some(ONE_9),
        Mutation::AllFailuresDeclined => Some(GRP_7),
        Mutation::DeclineEndsGroup => Some(GRP_1),
        Mutation::ReplacedByeLeavesGroup => Some(GRP_6),
        Mutation::MsrpFromPathUnchecked => Some(MSRP_3),
        Mutation::AnswerOnlyMsrpLine => Some(MSRP_11),
        Mutation::CallerOkBeforeAnswer => Some(ONE_3),
        Mutation::ByeWaitAtTransactionTimeout => Some(TERM_2),
        Mutation::SubscribeFromAnyone => Some(race_props::GRP_10),
        Mutation::RefreshWithoutState => Some(race_props::GRP_11),
        Mutation::SubscriptionsEndAfterSeal => Some(race_props::GRP_13),
        Mutation::ClosedConnStaysBound => Some(MSRP_9),
        // MSRP-9's bound is the core scenario test's
        // (`msrp_9_a_full_queue_fails_the_message`), not a model property.
        Mutation::UnboundedMsrpQueue => None,
    }
}
