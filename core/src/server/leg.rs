//! Legs: the server's end of each dialog it takes part in, and the builders of the
//! requests and responses it sends on them.
//!
//! A 1-to-1 session has two legs (ONE-1): the caller's, where the server is the UAS,
//! and the callee's, where it is the UAC. A group session has one leg per
//! participant. Each leg is an RFC 3261 dialog of its own:
//!
//! ```text
//!           2xx sent/received          BYE sent            answer / bye_wait
//! Early ───────────────────────▶ Confirmed ───────▶ Closing ─────────────────▶ Closed
//!                                     └──────── BYE received ─────────────────▶ Closed
//! ```

use super::config::Config;
use super::id_gen::{IdGen, LegStream};
use super::keys::LegKey;
use super::output::Flow;
use super::packed::Packed;
use crate::ids::{SessionId, Tag};
use crate::shared::Shared;
use crate::sip::{CSeq, Headers, Method, NameAddr, Request, Response, SipMessage, StatusCode, Via};
use crate::uri::{Host, Param, SipUri, Uri, UserUri};

/// Who initiated the dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Role {
    /// The terminal sent the INVITE; the server answered.
    Uas,
    /// The server sent the INVITE.
    Uac,
}

/// Where a leg is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum LegState {
    /// INVITE in progress.
    Early,
    /// 2xx exchanged.
    Confirmed,
    /// The server sent a BYE and waits for its answer: no new messages to this leg.
    Closing,
    /// Ended (a BYE was received, or ours was answered).
    Closed,
}

/// One dialog the server takes part in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Leg {
    pub(crate) key: LegKey,
    pub(crate) remote_tag: Option<Tag>,
    pub(crate) role: Role,
    /// The server's address on this dialog (with its tag). Packed, as are the next
    /// two: an idle leg keeps them as text (`packed`).
    pub(crate) local: Packed<NameAddr>,
    /// The terminal's address (with its tag once known).
    pub(crate) remote: Packed<NameAddr>,
    /// The terminal's Contact: Request-URI of in-dialog requests.
    pub(crate) remote_target: Packed<Uri>,
    pub(crate) flow: Flow,
    /// The terminal's signalling address (SEC-6): the only host the server connects
    /// to for this leg, besides `[trust] connect_allow`.
    pub(crate) terminal: std::net::IpAddr,
    pub(crate) local_cseq: u32,
    pub(crate) remote_cseq: Option<u32>,
    pub(crate) state: LegState,
    pub(crate) session: SessionId,
    /// The authenticated user at the other end of this leg.
    pub(crate) user: UserUri,
    /// The 2xx the server sent on this (UAS) leg, until the ACK arrives. Boxed: a
    /// parsed response is about 1 KiB inline, and every established leg would carry
    /// that room for nothing once the ACK came.
    pub(crate) unacked_2xx: Option<Box<Unacked2xx>>,
    /// The ACK the server sent for the 2xx of this (UAC) leg, repeated when the 2xx
    /// is: kept as what it was made of besides the leg (16 bytes, not the few
    /// hundred of its encoding, for as long as the dialog lives), and made again
    /// byte for byte only on the rare repeated 2xx ([`Leg::ack_again`]).
    pub(crate) last_ack: Option<SentAck>,
    /// The branches of the requests and ACKs the server sends on this dialog: a
    /// stream of the leg's own (`id_gen`), so what a step on one dialog mints
    /// does not depend on steps on others.
    pub(crate) branches: LegStream,
}

/// What an ACK for a 2xx was made of besides its leg: the INVITE's CSeq number and
/// the place of its branch in the leg's stream. The leg's addresses, target and
/// transport do not change after the 2xx that confirmed it (`ack_callee` sets them
/// before the ACK), so the ACK made again is the one sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SentAck {
    seq: u32,
    branch: u64,
}

/// A 2xx sent on a UAS leg over UDP and not yet ACKed (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Unacked2xx {
    /// The 2xx, shared with the transmit that sent it (`Command::Transmit`).
    pub(crate) response: Shared<SipMessage>,
    /// The next retransmission interval (T1 doubling up to T2).
    pub(crate) interval_ms: u64,
    /// 64·T1 after the first send: then the dialog is ended with BYE.
    pub(crate) give_up_at: crate::time::Time,
}

impl Leg {
    /// Early → Confirmed: the 2xx was sent (UAS) or received (UAC).
    pub(crate) fn confirm(&mut self) {
        self.state = LegState::Confirmed;
        tracing::trace!(leg = %self.key, "leg confirmed");
    }

    /// → Closing: the server sent a BYE on this leg; nothing more is sent on it.
    pub(crate) fn start_closing(&mut self) {
        self.state = LegState::Closing;
        tracing::trace!(leg = %self.key, "leg closing");
    }

    /// → Closed: a BYE came, ours was answered, or the invitation failed.
    pub(crate) fn close(&mut self) {
        self.state = LegState::Closed;
        tracing::trace!(leg = %self.key, "leg closed");
    }

    /// Whether messages may still be delivered to the terminal on this leg.
    pub(crate) fn is_open(&self) -> bool {
        self.state == LegState::Confirmed
    }

    /// A new in-dialog request from the server (RFC 3261 §12.2.1.1).
    pub(crate) fn request(&mut self, method: Method, cfg: &Config, ids: &IdGen) -> Request {
        self.local_cseq += 1;
        let mut headers = Headers::new(
            self.local.get(),
            self.remote.get(),
            self.key.call_id().clone(),
            CSeq {
                seq: self.local_cseq,
                method: method.clone(),
            },
        );
        let branch = ids.leg_branch(&mut self.branches);
        headers.via = vec![server_via_with(cfg, self.flow, &branch)];
        headers.max_forwards = Some(70);
        Request {
            method,
            uri: self.remote_target.get().to_request_uri(),
            headers,
            body: Vec::new(),
        }
    }

    /// The ACK for a 2xx to the server's INVITE on this leg (§13.2.2.4: a new
    /// transaction, same CSeq number).
    pub(crate) fn ack(
        &mut self,
        invite_cseq: u32,
        cfg: &Config,
        ids: &IdGen,
    ) -> (Request, SentAck) {
        let (branch, number) = ids.numbered_leg_branch(&mut self.branches);
        let sent = SentAck {
            seq: invite_cseq,
            branch: number,
        };
        (self.ack_with(invite_cseq, cfg, branch), sent)
    }

    /// The ACK [`Leg::ack`] sent as `sent`, made again (the callee repeated its 2xx).
    pub(crate) fn ack_again(&self, sent: SentAck, cfg: &Config, ids: &IdGen) -> Request {
        self.ack_with(
            sent.seq,
            cfg,
            ids.leg_branch_at(&self.branches, sent.branch),
        )
    }

    fn ack_with(&self, invite_cseq: u32, cfg: &Config, branch: crate::ids::Branch) -> Request {
        let mut headers = Headers::new(
            self.local.get(),
            self.remote.get(),
            self.key.call_id().clone(),
            CSeq {
                seq: invite_cseq,
                method: Method::Ack,
            },
        );
        headers.via = vec![server_via_with(cfg, self.flow, &branch)];
        headers.max_forwards = Some(70);
        Request {
            method: Method::Ack,
            uri: self.remote_target.get().to_request_uri(),
            headers,
            body: Vec::new(),
        }
    }

    /// A response on this (UAS) leg to `req`, carrying the server's tag.
    pub(crate) fn response(&self, req: &Request, status: StatusCode) -> Response {
        let mut resp = Response::to_request(req, status);
        resp.headers.to.set_tag(self.key.local_tag());
        resp
    }
}

/// The server's own Via for a request it originates over `flow`.
pub(crate) fn server_via(cfg: &Config, flow: Flow, ids: &mut IdGen) -> Via {
    server_via_with(cfg, flow, &ids.branch())
}

/// The server's own Via over `flow` with a given branch.
fn server_via_with(cfg: &Config, flow: Flow, branch: &crate::ids::Branch) -> Via {
    Via {
        transport: flow.transport.via_token().into(),
        host: host_of(&cfg.advertised_host),
        port: Some(cfg.port_for(flow.transport)),
        params: vec![
            Param::new("branch", Some(branch.as_str())),
            Param::new("rport", None::<String>),
        ],
    }
}

/// The server's Contact (a plain B2BUA contact, or a focus with `isfocus`).
pub(crate) fn server_contact(cfg: &Config, user: &str, flow: Flow, focus: bool) -> NameAddr {
    let mut params = Vec::new();
    if let Some(transport) = flow.transport.uri_param() {
        params.push(Param::new("transport", Some(transport)));
    }
    let mut contact = NameAddr::new(Uri::Sip(SipUri {
        secure: false,
        user: Some(user.into()),
        host: host_of(&cfg.advertised_host),
        port: Some(cfg.port_for(flow.transport)),
        params,
        extra: None,
    }));
    if focus {
        contact.params.push(Param::new("isfocus", None::<String>));
    }
    contact
}

/// A `sip:user@domain` URI in the server's domain.
pub(crate) fn domain_uri(cfg: &Config, user: &str) -> Uri {
    Uri::Sip(SipUri {
        secure: false,
        user: Some(user.into()),
        host: host_of(&cfg.domain),
        port: None,
        params: Vec::new(),
        extra: None,
    })
}

fn host_of(text: &str) -> Host {
    let trimmed = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(v4) = trimmed.parse() {
        Host::V4(v4)
    } else if let Ok(v6) = trimmed.parse() {
        Host::V6(v6)
    } else {
        Host::Name(crate::wire::uri::lower_case(text))
    }
}

/// The CPM feature tags an RCS terminal expects on the Contact of a CPM session
/// INVITE or answer, the focus's included (OMA CPM, 3GPP ICSI for the CPM session).
pub(crate) fn cpm_contact(mut contact: NameAddr) -> NameAddr {
    contact
        .params
        .push(Param::new("+g.oma.sip-im", None::<String>));
    contact.params.push(Param::new(
        "+g.3gpp.icsi-ref",
        Some("\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\""),
    ));
    contact
}
