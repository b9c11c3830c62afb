//! A sound reduction (`Setup::eager_acks`, UDP only): once the retransmission
//! budget is spent, every terminal's ACK on its way to the server is delivered
//! in the step that put it on the network, instead of at every later moment.
//!
//! Why it loses nothing. What the server does with an ACK
//! (`core/src/server/transaction.rs`, `ack_in_server_tx`; `one_to_one.rs`,
//! `on_ack`):
//!
//! * The ACK of a 2xx matches no server transaction (its branch is its own, RFC
//!   3261 §17.1.1.3): the server clears the leg's unacknowledged 2xx and disarms
//!   that leg's `Retransmit2xx` timer (nothing at all once the leg is gone).
//!   Nothing else reads either but the firing of that timer (which resends the
//!   2xx, or after 64·T1 ends the dialog); the BYE that ends a leg clears both
//!   itself (`termination.rs`).
//! * The ACK of a non-2xx final response moves the INVITE server transaction
//!   from Completed to Confirmed (absorbed in any other state), disarms its
//!   `Retransmit` and `Timeout` timers and arms `Linger`. Both states answer a
//!   copy of the INVITE alike (the stored final response) and absorb a copy of
//!   the ACK; nothing else reads the difference but those timers.
//!
//! The model fires `Retransmit` and `Retransmit2xx` only while a retransmission
//! is left and never fires `Timeout` or `Linger` (`CpmModel::enabled`). So with
//! no retransmission left, delivering the ACK now, at any later moment, or never
//! leads to states that differ only in those unread entries and in the ACK's
//! presence on the network, and it commutes with every other action. A second
//! copy (a re-ACK of a repeated 2xx) has the same effect again. Losing or
//! duplicating the ACK only spends a fault budget, and a path with more budget
//! left can do all that one with less can. No property reads the server's legs,
//! transactions or timers; the network is read only by "is this an end state",
//! and a state with the ACK in flight is not one while the state after its
//! delivery is the same state without it. Over TCP the ACK may not overtake the
//! packets before it on its connection: not applied.
//!
//! What it is not: a change of the server. The ACK goes in through
//! `Server::handle_message` like every other delivery.

use cpmd_core::sip::{Method, SipMessage};

use super::{describe, note_server, CpmModel, Log, Node, State};

/// Whether `msg` is an ACK.
fn is_ack(msg: &SipMessage) -> bool {
    matches!(msg, SipMessage::Request(r) if r.method == Method::Ack)
}

impl CpmModel {
    /// Delivers every ACK in flight to the server, once no
    /// retransmission is left (when the setup asks for it, over UDP).
    pub(super) fn eager_acks(&self, st: &mut State, log: &mut Log) {
        if !self.setup.eager_acks || !self.udp() || st.budget.retransmits > 0 {
            return;
        }
        while let Some(i) = st
            .net
            .iter()
            .position(|p| p.dst == Node::Server && is_ack(&p.msg))
        {
            let p = st.net.remove(i);
            let Node::T(from) = p.src else { continue };
            note_server(log, format!("at once: {}", describe(&p.msg)));
            let first = self.server_receives(st, from, p.msg, log);
            self.drain_from(st, &first, log);
        }
    }
}
