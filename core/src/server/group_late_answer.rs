//! A device's 2xx to a focus INVITE that comes after its group ended (specs/group.md,
//! GRP-42): the group, and with it the fork's leg, is gone, yet the device now
//! thinks it is in a dialog with the focus and repeats its 2xx until ACKed. The
//! focus ACKs it and ends the dialog with a BYE, both built from the 2xx itself, as
//! it does for a losing device's 2xx while the group lives (GRP-31).
//!
//! What it is *not*: the live group's handling of a loser's 2xx (`group_fork.rs`,
//! which still has the fork's leg), nor a 2xx no client transaction matches (a
//! stray response, dropped: there is no flow to answer it on).

use super::keys::LegKey;
use super::leg::{Leg, LegState, Role};
use super::packed::Packed;
use super::transaction::{ClientRx, Owner};
use super::Server;
use crate::ids::SessionId;
use crate::sip::{Method, Response, SipMessage};
use crate::time::Time;
use crate::uri::UserUri;

impl Server {
    /// GRP-42: `rx` answers the focus's INVITE on `fork` of the group `gid`, which
    /// ended (or no longer holds the fork): a 2xx is ACKed and its dialog ended
    /// with a BYE (a repeated 2xx is ACKed again); anything else needs nothing.
    pub(crate) fn on_orphan_group_answer(
        &mut self,
        now: Time,
        gid: SessionId,
        user: &UserUri,
        fork: &LegKey,
        rx: ClientRx,
    ) {
        let (r, first) = match rx {
            ClientRx::Response(r) if r.status.is_success() => (r, true),
            ClientRx::Retransmitted2xx(r) => (r, false),
            ClientRx::Response(_) | ClientRx::TimedOut => return,
        };
        if self.legs.contains_key(fork) {
            // The fork's leg is still known: the live group's way (GRP-31).
            self.ack_callee(fork, &r);
            if first {
                self.send_bye(now, gid, fork);
            }
            return;
        }
        let Some(mut leg) = self.leg_of_late_2xx(gid, user, &r) else {
            return;
        };
        let (ack, _) = leg.ack(r.headers.cseq.seq, &self.config, &self.ids);
        self.out.transmit(leg.flow, SipMessage::Request(ack));
        if !first {
            return;
        }
        tracing::debug!(group = %gid, leg = %leg.key, "2xx after the group ended: ACK and BYE");
        let bye = leg.request(Method::Bye, &self.config, &self.ids);
        let timers = self.config.timers;
        self.tx
            .send_request(now, leg.flow, bye, Owner::Nobody, &timers, &mut self.out);
    }

    /// The dialog a 2xx to one of the focus's INVITEs establishes, built from the
    /// 2xx alone (its From is the focus's address with the focus's tag, its To the
    /// device's with its tag, its Contact the device's target); sent over the flow
    /// of the INVITE's transaction. `None` without that transaction or tags.
    fn leg_of_late_2xx(&mut self, gid: SessionId, user: &UserUri, r: &Response) -> Option<Leg> {
        let flow = self.tx.request_flow(r)?;
        let local_tag = r.headers.from.tag()?;
        let remote_tag = r.headers.to.tag()?;
        let remote_target = r
            .headers
            .contact
            .first()
            .map(|c| c.uri.clone())
            .unwrap_or_else(|| r.headers.to.uri.clone());
        Some(Leg {
            key: LegKey::new(r.headers.call_id.clone(), local_tag),
            remote_tag: Some(remote_tag),
            role: Role::Uac,
            local: Packed::new(r.headers.from.clone()),
            remote: Packed::new(r.headers.to.clone()),
            remote_target: Packed::new(remote_target),
            flow,
            terminal: flow.peer.ip(),
            local_cseq: r.headers.cseq.seq,
            remote_cseq: None,
            state: LegState::Confirmed,
            session: gid,
            user: user.clone(),
            unacked_2xx: None,
            last_ack: None,
            // A leg of its own: a new stream, though the 2xx names the dialog of
            // a fork that may have had one (its branches never repeat).
            branches: self.ids.leg_stream(),
        })
    }
}
