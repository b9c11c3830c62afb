//! A sound reduction (with `Setup::por_server`): once Mallory's refused INVITE is
//! over for the server (its transaction Confirmed by her ACK) and nothing of hers is
//! on its way to it, the server forgets that transaction at once, as its `Linger`
//! timer would (`core/src/server/transaction.rs`, `on_timer`).
//!
//! Why it loses nothing. The transaction keeps the final answer (403, 603 or 481,
//! by when the INVITE came: `por.rs`, "The outsider's INVITE") to repeat it to a
//! copy of the INVITE and absorb a copy of the ACK (`ack_in_server_tx`); its
//! `Retransmit` and `Timeout` are disarmed by the ACK, and the model never fires
//! `Linger`. Mallory sends nothing more once answered (her INVITE is off her
//! outstanding requests, so no retransmission; she re-ACKs only a 2xx), and with no
//! packet of hers on its way none can be lost, duplicated or delivered. So nothing
//! reads the transaction again: a state with it and the same state without it have
//! the same enabled actions (the `Linger` is not offered), the same properties'
//! verdicts (no property reads a transaction; TERM-2 reads only `ByeWait` timers)
//! and, step for step, successors that again differ in that transaction alone.
//! Forgetting it merges the states that differed only in the answer it kept.
//!
//! What it is not: a claim about time. The model's `Linger` stays unfired for every
//! other transaction; this one is dead data, and firing its timer is the core's own
//! way to drop it.

use cpmd_core::sip::Method;
use cpmd_core::Timer;

use super::{note_server, CpmModel, Log, Node, State};
use crate::terminal::Term;

impl CpmModel {
    /// Fires the `Linger` of Mallory's Confirmed INVITE transaction when nothing of
    /// hers is on its way to the server (module docs).
    pub(super) fn forget_spent_attack(&self, st: &mut State, log: &mut Log) {
        if !self.setup.attacker || !self.setup.por_server || !self.por_setup() {
            return;
        }
        let m = st.term(Term::M);
        if !m.extended || !m.outstanding.is_empty() {
            return;
        }
        if st.net.iter().any(|p| p.src == Node::T(Term::M)) {
            return;
        }
        let branch = format!("z9hG4bK{}", crate::terminal::ext_branch(Term::M));
        let Some((timer, _)) = st.server.armed_timers().find(
            |(t, _)| matches!(t, Timer::Linger(k) if k.is_server_of(&Method::Invite, &branch)),
        ) else {
            return;
        };
        let timer = timer.clone();
        note_server(log, format!("at once: timer {timer}"));
        let first = self.server_input(st, super::memo::Input::Fire(timer));
        self.drain_from(st, &first, log);
    }
}
