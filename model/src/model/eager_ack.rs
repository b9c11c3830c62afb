//! A sound reduction (`Setup::eager_acks`, UDP only): once the retransmission
//! budget is spent, every ACK of a 2xx on its way to the server is delivered in
//! the step that put it on the network, instead of at every later moment.
//!
//! Why it loses nothing. An ACK of a 2xx matches no server transaction (its branch
//! is its own, RFC 3261 §17.1.1.3), so the server's whole handling of it is
//! `on_ack` (`core/src/server/one_to_one.rs`): it clears the leg's unacknowledged
//! 2xx and disarms that leg's `Retransmit2xx` timer (nothing at all once the leg is
//! gone). Nothing else reads either but the firing of that timer (which resends
//! the 2xx, or after 64·T1 ends the dialog), and the model fires it only while a
//! retransmission is left (`CpmModel::enabled`); the BYE that ends a leg clears
//! both itself (`termination.rs`). So with no retransmission left, delivering
//! the ACK now or at any later moment, or never, leads to states that differ only
//! in those two unread entries and in the ACK's presence on the network, and it
//! commutes with every other action. A second copy (a re-ACK of a repeated 2xx)
//! has the same effect again. Losing or duplicating the ACK only spends a fault
//! budget, and a path with more budget left can do all that one with less can.
//! No property reads the server's legs or timers; the network is read only by
//! "is this an end state", and a state with the ACK in flight is not one while
//! the state after its delivery is the same state without it. Over TCP the ACK
//! may not overtake the packets before it on its connection: not applied.
//!
//! What it is not: a change of the server. The ACK goes in through
//! `Server::handle_message` like every other delivery.

use cpmd_core::sip::{Method, SipMessage};

use super::{describe, note_server, CpmModel, Log, Node, State};

/// Whether `msg` is a terminal's ACK of a 2xx (`terminal::ack_2xx` gives it the
/// branch `NAME-ack-CALLID`; the ACK of a non-2xx reuses its INVITE's branch).
fn ack_of_2xx(msg: &SipMessage) -> bool {
    let SipMessage::Request(r) = msg else {
        return false;
    };
    r.method == Method::Ack
        && r.headers
            .via
            .first()
            .and_then(|v| v.branch())
            .is_some_and(|b| b.contains("-ack-"))
}

impl CpmModel {
    /// Delivers every ACK of a 2xx in flight to the server, once no
    /// retransmission is left (when the setup asks for it, over UDP).
    pub(super) fn eager_acks(&self, st: &mut State, log: &mut Log) {
        if !self.setup.eager_acks || !self.udp() || st.budget.retransmits > 0 {
            return;
        }
        while let Some(i) = st
            .net
            .iter()
            .position(|p| p.dst == Node::Server && ack_of_2xx(&p.msg))
        {
            let p = st.net.remove(i);
            let Node::T(from) = p.src else { continue };
            note_server(log, format!("at once: {}", describe(&p.msg)));
            self.server_receives(
                st,
                from,
                cpmd_core::shared::Shared::unwrap_or_clone(p.msg),
                log,
            );
            self.drain(st, log);
        }
    }
}
