//! (tests only) Where the server's heap goes: [`Server::dismantle`] frees its
//! per-session state one part at a time and reads the live heap after each, so the
//! idle-session probe (`tests/idle_bytes.rs`) can say what an established session
//! keeps, field by field. Destroys the server: for a probe's last step only.
//!
//! What it is *not*: an estimate from type sizes. Each figure is what the allocator
//! got back when that part was dropped (strings, vectors, boxes, tree nodes, with
//! their slack), so the parts add up to the whole.

use super::keys::LegKey;
use super::packed::Packed;
use super::session::Session;
use super::Server;
use crate::ids::{CallId, Tag};
use crate::sip::NameAddr;
use crate::uri::Uri;

impl Server {
    /// Frees the server's state part by part; returns each part's name and the bytes
    /// of live heap (`live()`) its dropping gave back.
    pub(crate) fn dismantle(&mut self, live: &dyn Fn() -> usize) -> Vec<(&'static str, i64)> {
        let mut parts = Vec::new();
        // One key that owns nothing to speak of, put where a leg's was.
        let no_leg = LegKey::new(CallId::new(String::new()), Tag::new(String::new()));
        let mut last = live();
        let mut note = |name: &'static str, parts: &mut Vec<(&'static str, i64)>| {
            let now = live();
            parts.push((name, last as i64 - now as i64));
            last = now;
        };
        // Sessions: the info's fields, then the 1-to-1's own.
        for session in self.sessions.values_mut() {
            if let Session::One(one) = session {
                let info = crate::shared::Shared::make_mut(&mut one.info);
                drop(std::mem::take(&mut info.sdp));
                drop(std::mem::take(&mut info.media_attributes));
            }
        }
        note("session info: SDP text and media attributes", &mut parts);
        for session in self.sessions.values_mut() {
            if let Session::One(one) = session {
                let info = crate::shared::Shared::make_mut(&mut one.info);
                drop(std::mem::take(&mut info.invited));
                drop(std::mem::take(&mut info.to));
                drop(std::mem::take(&mut info.date));
                drop(info.subject.take());
                drop(info.in_reply_to.take());
                info.key.conversation_id = crate::ids::ConversationId::new(String::new());
                info.key.contribution_id = crate::ids::ContributionId::new(String::new());
                info.from = crate::uri::UserUri::new_canonical(String::new());
            }
        }
        note("session info: ids, from, to, date, invited", &mut parts);
        for session in self.sessions.values_mut() {
            if let Session::One(one) = session {
                one.caller = crate::uri::UserUri::new_canonical(String::new());
                one.callee = crate::uri::UserUri::new_canonical(String::new());
                one.a_leg = no_leg.clone();
                one.b_leg = no_leg.clone();
                drop(std::mem::take(&mut one.losers));
                drop(std::mem::take(&mut one.chat));
            }
        }
        note("1-to-1: caller, callee, leg keys, chat, losers", &mut parts);
        drop(std::mem::take(&mut *self.by_contribution));
        note("sessions by Contribution-ID", &mut parts);
        drop(std::mem::take(&mut *self.sessions));
        note(
            "session table (entries, OneToOne inline, info Arc)",
            &mut parts,
        );
        // Legs, field by field.
        for leg in self.legs.values_mut() {
            let leg = crate::shared::Shared::make_mut(leg);
            leg.local = Packed::Text("".into());
            leg.remote = Packed::Text("".into());
        }
        note("legs: local and remote addresses (From/To)", &mut parts);
        for leg in self.legs.values_mut() {
            let leg = crate::shared::Shared::make_mut(leg);
            leg.remote_target = Packed::Text("".into());
        }
        note("legs: remote target (Contact)", &mut parts);
        for leg in self.legs.values_mut() {
            let leg = crate::shared::Shared::make_mut(leg);
            leg.key = no_leg.clone();
            leg.remote_tag = None;
            leg.user = crate::uri::UserUri::new_canonical(String::new());
        }
        note("legs: key, remote tag, user", &mut parts);
        for leg in self.legs.values_mut() {
            let leg = crate::shared::Shared::make_mut(leg);
            drop(leg.unacked_2xx.take());
            leg.last_ack = None;
        }
        note("legs: unACKed 2xx, last ACK", &mut parts);
        drop(std::mem::take(&mut *self.legs));
        note("leg table (keys, Leg inline, Arc)", &mut parts);
        // MSRP endpoints.
        let msrp = crate::shared::Shared::make_mut(&mut self.msrp);
        for m in msrp.legs.values_mut() {
            drop(std::mem::take(&mut m.session_id));
            drop(std::mem::take(&mut m.local_path));
            drop(std::mem::take(&mut m.peer_path));
        }
        note("MSRP: session-id, own and peer paths", &mut parts);
        for m in msrp.legs.values_mut() {
            drop(std::mem::take(&mut m.accept_types));
            drop(m.accept_wrapped.take());
            drop(std::mem::take(&mut m.offer_lines));
        }
        note("MSRP: accept-types, offer lines", &mut parts);
        for m in msrp.legs.values_mut() {
            drop(std::mem::take(&mut m.queue));
            drop(std::mem::take(&mut m.held));
            drop(std::mem::take(&mut m.reassembler));
        }
        note("MSRP: queue, held, reassembler", &mut parts);
        drop(std::mem::take(&mut msrp.by_session));
        note("MSRP: by session-id", &mut parts);
        drop(std::mem::take(&mut msrp.legs));
        note("MSRP: leg table (keys, MsrpLeg inline)", &mut parts);
        // What is not per session (or should not be, once idle).
        drop(std::mem::take(&mut *self.tx));
        note("transactions", &mut parts);
        drop(std::mem::take(&mut self.out));
        note("outbox (commands, events, timers)", &mut parts);
        drop(std::mem::take(&mut *self.tickets));
        note("store tickets", &mut parts);
        drop(std::mem::take(&mut *self.nonces));
        note("nonces", &mut parts);
        drop(std::mem::take(&mut *self.registrar));
        drop(std::mem::take(&mut *self.failures));
        drop(std::mem::take(&mut *self.held));
        drop(std::mem::take(&mut *self.remote));
        drop(std::mem::take(&mut self.deferred));
        drop(std::mem::take(&mut *self.decoders));
        drop(std::mem::take(&mut self.pager_forks));
        note(
            "registrar, failures, held, remote, deferred, decoders, pager",
            &mut parts,
        );
        parts
    }
}

/// The inline sizes of the per-session types, for the probe's report.
pub(crate) fn inline_sizes() -> String {
    use std::mem::size_of;
    format!(
        "Session {}, OneToOne {}, SessionInfo {}, Leg {}, LegKey {}, NameAddr {}, Uri {}, \
         MsrpLeg {}, TxKey {}",
        size_of::<Session>(),
        size_of::<super::session::OneToOne>(),
        size_of::<crate::record::SessionInfo>(),
        size_of::<super::leg::Leg>(),
        size_of::<super::keys::LegKey>(),
        size_of::<NameAddr>(),
        size_of::<Uri>(),
        size_of::<super::msrp_media::MsrpLeg>(),
        size_of::<super::keys::TxKey>(),
    )
}
