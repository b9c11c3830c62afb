//! The server's MSRP endpoint on each leg (back-to-back MSRP, specs/msrp.md):
//! creating it, the SDP the server puts on a leg, binding connections, and sending
//! MSRP on a leg.
//!
//! What it is *not*: the endpoint state (`msrp_media`), the handling of MSRP
//! requests and the relay (see `msrp_relay`), MSRP URIs (`wire::msrp_uri`) or the
//! MSRP codec (`wire::msrp`).

use std::collections::VecDeque;

use super::config::Mutation;
use super::id_gen::CORE_CONN_BASE;
use super::keys::LegKey;
use super::msrp_media::{MsrpLeg, PeerMedia, Setup, MAX_OUTGOING, MSRP_CONN_OFFSET};
use super::output::Command;
use super::Server;
use crate::ids::{ConnId, TransactionId};
use crate::msrp::reassembly::Reassembler;
use crate::msrp::{MsrpMessage, MsrpMethod, MsrpRequest};
use crate::wire;
use crate::wire::msrp_uri::{own_uri, uri_socket};

/// Default `a=accept-types` when the terminal's SDP named none.
const DEFAULT_ACCEPT: &str = "message/cpim";
/// Default `a=accept-wrapped-types`.
const DEFAULT_WRAPPED: &str = "text/plain message/imdn+xml";

impl Server {
    /// A new MSRP endpoint for `leg`: fresh session-id, the server's URI (`msrps:`
    /// on its TLS listener when `tls` and one is configured), the accept-types of
    /// `media` (the terminal's or the relayed SDP).
    fn new_msrp_leg(&mut self, leg: &LegKey, media: Option<&PeerMedia>, setup: Setup, tls: bool) {
        let session_id: std::sync::Arc<str> = self.ids.msrp_token().into();
        let tls = tls && self.config.msrp.advertised_tls.is_some();
        let local_path = own_uri(self.msrp_addr(tls), &session_id, tls);
        let msrp = MsrpLeg {
            session_id: session_id.clone(),
            local_path,
            peer_path: Vec::new(),
            setup,
            tls,
            conn: None,
            queue: VecDeque::new(),
            held: Vec::new(),
            accept_types: media
                .and_then(|m| m.accept_types.clone())
                .unwrap_or_else(|| DEFAULT_ACCEPT.to_owned()),
            accept_wrapped: media
                .and_then(|m| m.accept_wrapped.clone())
                .or_else(|| Some(DEFAULT_WRAPPED.to_owned())),
            reassembler: Reassembler::new(),
            from_ok: Default::default(),
            offer_lines: Vec::new(),
        };
        self.msrp.by_session.insert(session_id, leg.clone());
        self.msrp.legs.insert(leg.clone(), Box::new(msrp));
    }

    /// The server answers a terminal's offer on `leg` (MSRP-1): the terminal's path is
    /// known; offer `passive` → the server is active, anything else → passive.
    /// Returns the answer SDP (`accept` names the types to advertise; the offer's
    /// when `None`).
    pub(crate) fn msrp_answer_offer(
        &mut self,
        leg: &LegKey,
        offer: &PeerMedia,
        accept: Option<&PeerMedia>,
    ) -> Vec<u8> {
        let setup = if offer.setup.as_deref() == Some("passive") {
            Setup::Active
        } else {
            Setup::Passive
        };
        // TLS-11: the leg's protocol is the terminal's own choice.
        self.new_msrp_leg(leg, Some(accept.unwrap_or(offer)), setup, offer.tls);
        if let Some(m) = self.msrp.legs.get_mut(leg) {
            m.peer_path = offer.path.clone();
            m.offer_lines = offer.lines.clone();
        }
        self.msrp_sdp(leg)
    }

    /// The server offers MSRP to a terminal on `leg` (`actpass`, MSRP-1), with the
    /// accept-types of `relayed` (the SDP it stands for) and its protocol (TLS when
    /// the relayed offer was TLS; the terminal's answer decides, TLS-11). Returns the
    /// offer SDP.
    pub(crate) fn msrp_offer(&mut self, leg: &LegKey, relayed: Option<&PeerMedia>) -> Vec<u8> {
        let tls = relayed.is_some_and(|m| m.tls);
        self.new_msrp_leg(leg, relayed, Setup::Offered, tls);
        if self.config.mutation == Mutation::MsrpPathPassThrough {
            let theirs = relayed.and_then(|r| r.path.first().cloned());
            if let (Some(m), Some(path)) = (self.msrp.legs.get_mut(leg), theirs) {
                m.local_path = path;
            }
        }
        self.msrp_sdp(leg)
    }

    /// The terminal answered the server's offer on `leg`: `active` → it connects;
    /// `passive` or no `a=setup` (RFC 4975: the offerer connects) → the server does.
    pub(crate) fn msrp_offer_answered(&mut self, leg: &LegKey, answer: &PeerMedia) {
        // TLS-11: the terminal may answer a TLS offer with plain MSRP (or the
        // reverse, when the server has a TLS listener): its leg is what it answered,
        // and the server's URI on it follows (the bind SEND's From-Path tells it).
        let tls = answer.tls && self.config.msrp.advertised_tls.is_some();
        let addr = self.msrp_addr(tls);
        let Some(m) = self.msrp.legs.get_mut(leg) else {
            return;
        };
        m.peer_path = answer.path.clone();
        if m.tls != tls {
            m.tls = tls;
            m.local_path = own_uri(addr, &m.session_id, tls);
        }
        if m.setup == Setup::Offered {
            m.setup = if answer.setup.as_deref() == Some("active") {
                Setup::Passive
            } else {
                Setup::Active
            };
        }
        self.msrp_start(leg);
    }

    /// The accept-types the server advertises on `leg` become those of `media` (the
    /// other side's answer it stands for).
    pub(crate) fn msrp_accept_types(&mut self, leg: &LegKey, media: &PeerMedia) {
        if let Some(m) = self.msrp.legs.get_mut(leg) {
            if let Some(t) = &media.accept_types {
                m.accept_types = t.clone();
            }
            if media.accept_wrapped.is_some() {
                m.accept_wrapped = media.accept_wrapped.clone();
            }
        }
    }

    /// A re-offer or re-answer on `leg` (re-INVITE, UPDATE): the terminal's path may
    /// have changed; the connection stays (specs/msrp.md).
    pub(crate) fn msrp_learn(&mut self, leg: &LegKey, media: &PeerMedia) {
        if let Some(m) = self.msrp.legs.get_mut(leg) {
            if !media.path.is_empty() {
                m.peer_path = media.path.clone();
            }
        }
    }

    /// The SDP the server puts on `leg` (offer or answer): its own listener, path
    /// and setup role.
    pub(crate) fn msrp_sdp(&self, leg: &LegKey) -> Vec<u8> {
        let Some(m) = self.msrp.legs.get(leg) else {
            return Vec::new();
        };
        // Printed from the leg's parts; an answer has one m-line per offered one,
        // in order, those the server does not take with port 0 (RFC 3264 §6,
        // MSRP-11).
        let lines: &[_] = if self.config.mutation == Mutation::AnswerOnlyMsrpLine {
            &[]
        } else {
            &m.offer_lines
        };
        wire::sdp::encode_msrp(&wire::sdp::MsrpSdp {
            listener: self.msrp_addr(m.tls),
            tls: m.tls,
            accept_types: &m.accept_types,
            accept_wrapped: m.accept_wrapped.as_deref(),
            path: &m.local_path,
            setup: m.setup.token(),
            lines,
        })
        .into_bytes()
    }

    /// Once the SDP exchange of `leg` is complete: if the server is the active
    /// party, it connects to the first hop of the terminal's path and binds the
    /// connection with an empty SEND (MSRP-2).
    pub(crate) fn msrp_start(&mut self, leg: &LegKey) {
        let Some(m) = self.msrp.legs.get(leg) else {
            return;
        };
        if m.setup != Setup::Active || m.conn.is_some() {
            return;
        }
        let Some(peer) = m.peer_path.first().and_then(|u| uri_socket(u)) else {
            self.out.event(super::output::Event::MsrpRefused {
                conn: None,
                reason: "terminal's msrp path has no ip address to connect to".into(),
            });
            return;
        };
        // SEC-6: the first hop must be the terminal's own address or an allowed
        // relay; otherwise the leg stays unbound, as with a path without an address.
        let terminal = self.legs.get(leg).map(|l| l.terminal);
        if !terminal.is_some_and(|t| self.config.trust.may_connect(t, peer.ip())) {
            self.out.event(super::output::Event::MsrpRefused {
                conn: None,
                reason: format!(
                    "terminal's msrp path names {peer}, not the terminal's address nor \
                     an allowed relay: not connecting (SEC-6)"
                ),
            });
            return;
        }
        // Their own range above the core's SIP connections (CORE_CONN_BASE + n).
        let conn = ConnId::new(CORE_CONN_BASE + MSRP_CONN_OFFSET + self.ids.msrp_number());
        let tls = m.tls;
        self.out.command(Command::MsrpConnect { conn, peer, tls });
        let tid = TransactionId::new(self.ids.msrp_token());
        let message_id = self.ids.msrp_token();
        let Some(m) = self.msrp.legs.get_mut(leg) else {
            return;
        };
        let mut bind = MsrpRequest::new(
            tid.clone(),
            MsrpMethod::Send,
            m.peer_path.clone(),
            vec![m.local_path.clone()],
        );
        // RFC 4975 §7.1.1 and the §9 grammar: a SEND carries a Message-ID and a
        // Byte-Range; some stacks refuse an empty bind SEND without them.
        bind.message_id = Some(message_id);
        bind.byte_range = Some(crate::msrp::ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        });
        self.msrp.conns.entry(conn).or_default();
        self.out.command(Command::MsrpSend {
            conn,
            bytes: wire::msrp::encode(&MsrpMessage::Request(bind)),
        });
        self.note_outgoing(tid.as_str());
        self.msrp_bind(leg, conn);
    }

    /// The address the server advertises for MSRP (over TLS when `tls`).
    fn msrp_addr(&self, tls: bool) -> std::net::SocketAddr {
        match self.config.msrp.advertised_tls {
            Some(addr) if tls => addr,
            Some(_) | None => self.config.msrp.advertised,
        }
    }

    /// Binds `conn` to `leg` and flushes what was queued for it.
    pub(crate) fn msrp_bind(&mut self, leg: &LegKey, conn: ConnId) {
        let msrp = &mut *self.msrp;
        let Some(m) = msrp.legs.get_mut(leg) else {
            return;
        };
        if let Some(old) = m.conn.replace(conn) {
            if old != conn {
                if let Some(c) = msrp.conns.get_mut(&old) {
                    c.legs.remove(leg);
                }
            }
        }
        let queued: Vec<Vec<u8>> = m.queue.drain(..).collect();
        msrp.conns.entry(conn).or_default().legs.insert(leg.clone());
        for bytes in queued {
            self.out.command(Command::MsrpSend { conn, bytes });
        }
        self.held_sent(leg);
    }

    pub(crate) fn note_outgoing(&mut self, tid: &str) {
        // Every id the server sends is one of its tokens; anything else could not
        // be matched exactly by its bits, and no response to it is awaited.
        let Some(key) = super::msrp_media::own_tid_bits(tid) else {
            return;
        };
        let msrp = &mut *self.msrp;
        if msrp.outgoing.len() >= MAX_OUTGOING {
            if let Some((_, oldest)) = msrp.outgoing_order.pop_first() {
                msrp.outgoing.remove(&oldest);
            }
        }
        let n = msrp.outgoing_next;
        msrp.outgoing_next += 1;
        if let Some(old) = msrp.outgoing.insert(key, n) {
            // The same id again (ids are unique tokens; kept exact regardless).
            msrp.outgoing_order.remove(&old);
        }
        msrp.outgoing_order.insert(n, key);
    }

    /// A response to the server's own SEND `tid` arrived: it is no longer due.
    pub(crate) fn answered_outgoing(&mut self, tid: &str) {
        let Some(key) = super::msrp_media::own_tid_bits(tid) else {
            return;
        };
        let msrp = &mut *self.msrp;
        if let Some(n) = msrp.outgoing.remove(&key) {
            msrp.outgoing_order.remove(&n);
        }
    }

    /// Forgets the MSRP endpoint of a leg that is gone; a connection no leg uses any
    /// more is closed.
    pub(crate) fn forget_msrp_leg(&mut self, leg: &LegKey) {
        // A message still waiting for this leg's bind never went out (MSG-4).
        self.fail_held_on(leg);
        let Some(m) = self.msrp.legs.remove(leg) else {
            return;
        };
        self.msrp.by_session.remove(&m.session_id);
        self.msrp.pending_legs.remove(leg);
        if let Some(conn) = m.conn {
            let unused = self.msrp.conns.get_mut(&conn).is_some_and(|c| {
                c.legs.remove(leg);
                c.legs.is_empty()
            });
            if unused {
                self.msrp.conns.remove(&conn);
                self.out.command(Command::Close { conn });
            }
        }
    }

    /// Whether a message can be carried to `leg` over MSRP now or once bound: false
    /// only when its queue is full (MSRP-9).
    /// MSG-4: a leg with MSRP media can carry a message only once the terminal's
    /// `a=path` is known (a leg without MSRP media is delivered to typed).
    pub(crate) fn msrp_path_known(&self, leg: &LegKey) -> bool {
        self.msrp
            .legs
            .get(leg)
            .is_none_or(|m| !m.peer_path.is_empty())
    }

    pub(crate) fn msrp_has_room(&self, leg: &LegKey) -> bool {
        self.msrp.legs.get(leg).is_none_or(|m| {
            m.conn.is_some()
                || m.queue.len() < self.config.msrp.max_queued
                || self.config.mutation == Mutation::UnboundedMsrpQueue
        })
    }
}
