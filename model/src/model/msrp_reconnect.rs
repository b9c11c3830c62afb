//! A terminal's MSRP connection breaks and the terminal connects again (specs/msrp.md
//! MSRP-9; `Setup::msrp_reconnect`): B's connection of its 1-to-1 leg goes away once
//! while bound (the server hears `Server::handle_closed`), then B may connect again
//! and bind the leg with an empty SEND, as long as its 1-to-1 dialog lasts.
//!
//! MSRP-9 is judged on what the server writes: nothing on a connection after it was
//! told the connection closed (such bytes are lost, as a write to a dead socket is);
//! what it relays to the unbound leg waits for the next bind (or fails back to its
//! sender at the seal, `core/src/server/msrp_held.rs`), so in a judged end state
//! every acknowledged message still reached B (EXT-8). What it is not: the restart
//! (`restart.rs`: the terminal forgets everything), nor a full queue (the bound of
//! `max_queued`, scenario-tested: model/README.md "The MSRP path").

use super::{note_local, Action, CpmModel, Flaw, Log, Reached, State};
use crate::terminal::Term;

impl CpmModel {
    /// The connection moves enabled in `st`.
    pub(super) fn msrp_reconnect_enabled(&self, st: &State, out: &mut Vec<Action>) {
        if !self.setup.msrp_reconnect {
            return;
        }
        let b = st.term(Term::B);
        if b.msrp_lost == 0 && b.bound[0] && b.sending.is_none() {
            out.push(Action::MsrpBreak(Term::B));
        }
        let in_dialog = b.one.is_some() && !b.bye_sent && !b.bye_received;
        if b.msrp_lost == 1 && in_dialog && b.paths[0].is_some() {
            out.push(Action::MsrpRebind(Term::B));
        }
    }

    /// `t`'s connection of its 1-to-1 leg breaks: both ends see it close.
    pub(super) fn msrp_break(&self, st: &mut State, t: Term, log: &mut Log) {
        note_local(log, t, "MSRP connection of leg 0 breaks".into());
        let ts = st.term_mut(t);
        ts.msrp_lost = 1;
        ts.bound[0] = false;
        // A relayed message it had in part is gone with the connection.
        st.ghost.rx.retain(|(rt, rl, _, _)| !(*rt == t && *rl == 0));
        st.server.handle_closed(super::NOW, crate::msrp::conn(t, 0));
    }

    /// `t` connects again and binds its 1-to-1 leg: what waited for it is written
    /// out now.
    pub(super) fn msrp_rebind(&self, st: &mut State, t: Term, log: &mut Log) {
        st.term_mut(t).msrp_lost = 2;
        let before = st.ghost.delivered.len();
        self.msrp_bind(st, t, 0, log);
        self.drain(st, log);
        if st.ghost.delivered.len() > before {
            st.ghost.reach(Reached::MsrpHeldDelivered);
        }
    }

    /// MSRP-9: the server wrote on `t`'s leg `leg` while its connection was broken
    /// (after `handle_closed`, before the new bind).
    pub(super) fn msrp_written_to_broken(&self, st: &mut State, t: Term, leg: usize) -> bool {
        let broken = self.setup.msrp_reconnect && leg == 0 && st.term(t).msrp_lost == 1;
        if broken {
            st.ghost.flaw(Flaw::MsrpLost);
        }
        broken
    }
}
