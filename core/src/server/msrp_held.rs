//! 1-to-1 messages waiting for the recipient's MSRP connection (specs/msrp.md,
//! "Held until bound"): a stored message whose recipient's leg is open but has no
//! bound MSRP connection is queued on that leg (MSRP-9), and it is *not yet
//! delivered*: it joins the session's delivered set (the sealed history, HIST-3) and
//! its sender is acknowledged (MSG-1) only when the bind writes it out. If the leg
//! is never bound before the 1-to-1 is sealed (or the leg goes away), the message
//! fails back to its sender (MSG-4), stays out of the history, and the queue is
//! emptied so nothing reaches the recipient after the seal (HIST-2).
//!
//! What it is *not*: group messages. A group message is the focus's once fanned out
//! (group.md step 3): queued for a participant's unbound leg, it counts as delivered
//! and its sender is answered at once.

use super::chat_log::{ChatSend, HeldMessage, Origin};
use super::keys::LegKey;
use super::output::{ChatFailure, ChatOutcome};
use super::session::Session;
use super::Server;
use crate::ids::SessionId;

impl Server {
    /// Keeps `held` with the leg it is queued on until that leg is bound.
    pub(crate) fn hold_for_bind(&mut self, leg: &LegKey, held: HeldMessage) {
        match self.msrp.legs.get_mut(leg) {
            Some(m) => m.held.push(held),
            // The leg went away in the same step: the message did not go out.
            None => self.answer_held(held, false),
        }
    }

    /// The queue of `leg` was written out on its new connection: its held messages
    /// are delivered.
    pub(crate) fn held_sent(&mut self, leg: &LegKey) {
        let held = self
            .msrp
            .legs
            .get_mut(leg)
            .map(|m| std::mem::take(&mut m.held))
            .unwrap_or_default();
        for h in held {
            self.answer_held(h, true);
        }
    }

    /// The 1-to-1 `sid` is being sealed: what still waits on its legs never went
    /// out; it fails, and the queues are emptied (HIST-2, HIST-3).
    pub(crate) fn fail_held_of(&mut self, sid: SessionId) {
        let legs: Vec<LegKey> = match self.sessions.get(&sid) {
            Some(Session::One(one)) => vec![one.a_leg.clone(), one.b_leg.clone()],
            Some(Session::Group(_)) | None => return,
        };
        for leg in legs {
            self.fail_held_on(&leg);
        }
    }

    /// Fails what waits on `leg` and empties its queue (the leg is sealed or gone).
    pub(crate) fn fail_held_on(&mut self, leg: &LegKey) {
        let held = match self.msrp.legs.get_mut(leg) {
            Some(m) if !m.held.is_empty() => {
                m.queue.clear();
                std::mem::take(&mut m.held)
            }
            Some(_) | None => return,
        };
        for h in held {
            self.answer_held(h, false);
        }
    }

    /// MSG-6: a repeat of a message held for a bind gets the original's answer when
    /// that comes. Returns whether `chat` was such a repeat.
    pub(crate) fn held_repeat(&mut self, sid: SessionId, chat: &ChatSend, origin: &Origin) -> bool {
        let log = match self.sessions.get(&sid) {
            Some(Session::One(one)) => &one.chat,
            Some(Session::Group(_)) | None => return false,
        };
        let Some(seq) = log.seen_seq(&chat.sender, &chat.message_id) else {
            return false;
        };
        let found = self
            .msrp
            .legs
            .values_mut()
            .flat_map(|m| m.held.iter_mut())
            .find(|h| h.sid == sid && h.seq == seq);
        match found {
            Some(h) => {
                h.origins.push(origin.clone());
                true
            }
            None => false,
        }
    }

    /// Delivered (`sent`): into the session's delivered set, the sender
    /// acknowledged; else a failure to the sender (MSG-4).
    fn answer_held(&mut self, held: HeldMessage, sent: bool) {
        let outcome = if sent {
            if let Some(s) = self.sessions.get_mut(&held.sid) {
                s.chat_mut().delivered.push(held.seq);
            }
            ChatOutcome::Accepted
        } else {
            ChatOutcome::Failed(ChatFailure::RecipientGone)
        };
        for origin in &held.origins {
            self.answer_chat(
                &held.contribution_id,
                &held.sender,
                &held.message_id,
                origin,
                outcome,
            );
        }
    }
}
