//! GRP-6: the termination handshake of the replaced 1-to-1 (a BYE on its legs, an
//! answer to the server's BYE there, `bye_wait`, `replaced_bye_timeout`, the
//! store's answer to its seal) never changes the group's participants or its
//! messages.
//!
//! A step that hands the server such an input marks the ghost
//! (`Ghost::in_handshake`) before the server's commands are drained and clears the
//! mark once they were, so no stored state carries it (the pinned counts do not
//! move). What the group may not see during such a step: a new version of its
//! state object (a participant's status changed), a group message persisted,
//! delivered or answered, a BYE from the focus on a group leg, the group's seal.
//! Not checked here: the other direction (the group's events never change the
//! 1-to-1), which HIST-2/HIST-3 and TERM-1 already watch from the 1-to-1's side.

use cpmd_core::sip::{Method, SipMessage};

use super::{one_call_of, CpmModel, Flaw, State};
use crate::terminal::Term;

impl CpmModel {
    /// Marks a step whose server input from `from` belongs to the 1-to-1's
    /// handshake: a BYE on its leg, or a final answer to a BYE there.
    pub(super) fn mark_handshake_input(&self, st: &mut State, from: Term, msg: &SipMessage) {
        if !self.setup.extend || one_call_of(st, from).as_ref() != Some(&msg.headers().call_id) {
            return;
        }
        let handshake = match msg {
            SipMessage::Request(r) => r.method == Method::Bye,
            SipMessage::Response(r) => r.headers.cseq.method == Method::Bye && r.status.is_final(),
        };
        if handshake {
            st.ghost.in_handshake = true;
        }
    }

    /// Marks a step whose input is a timer or store answer of the 1-to-1's handshake.
    pub(super) fn mark_handshake(&self, st: &mut State) {
        if self.setup.extend {
            st.ghost.in_handshake = true;
        }
    }

    /// The server touched the group while the step's input was the 1-to-1's
    /// handshake.
    pub(super) fn group_touched(&self, st: &mut State) {
        if st.ghost.in_handshake {
            st.ghost.flaw(Flaw::GroupTouchedByOne);
        }
    }

    /// The step's commands were drained: the mark goes.
    pub(super) fn handshake_drained(&self, st: &mut State) {
        if st.ghost.in_handshake {
            st.ghost.in_handshake = false;
        }
    }
}
