//! The 1-to-1 session through the B2BUA: INVITE A→server→B, provisional and final
//! answers relayed back, CANCEL, the 2xx/ACK exchange on each leg, and in-dialog
//! requests relayed between the legs (specs/one-to-one.md, ONE-1..ONE-8).

use super::config::Mutation;
use super::keys::LegKey;
use super::leg::{cpm_contact, server_contact, Leg, LegState, Role, Unacked2xx};
use super::msrp_media::PeerMedia;
use super::output::{Event, Flow, SessionEnd, SessionOutcome};
use super::packed::Packed;
use super::received::Received;
use super::refusal::Refusal;
use super::session::{Calling, OneState, OneToOne, Session};
use super::timer::Timer;
use super::transaction::{ClientRx, Owner};
use super::{Server, TxKey};
use crate::body::InviteBody;
use crate::ids::{ContributionId, SessionId};
use crate::record::{SessionInfo, SessionKey, SessionType};
use crate::shared::Shared;
use crate::sip::{Method, NameAddr, Request, Response, SipMessage, StatusCode};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire;

/// Headers a B2BUA must not copy from one leg to the other: they describe the hop,
/// or carry credentials or identities that are not the server's to assert.
const HOP_BY_HOP: &[&str] = &[
    "p-asserted-identity",
    "p-preferred-identity",
    "authorization",
    "proxy-authorization",
    "proxy-require",
    "content-length",
    "l",
    "allow",
    "server",
    "user-agent",
];

impl Server {
    /// An out-of-dialog INVITE: to the conference factory (a group / the claim's
    /// extension), or to a user (a 1-to-1 session).
    pub(crate) fn on_invite(&mut self, now: Time, flow: Flow, key: TxKey, req: Received) {
        if self.names_a_focus(&req) {
            // GRP-21, GRP-22: a rejoin adds no session (the group is there, or gone).
            return self.on_focus_invite(now, flow, key, req.into_request());
        }
        if self.session_table_full() {
            // LIM-12: a new session (1-to-1 or group) needs room in the table.
            return self.refuse_request(now, &key, &req, Refusal::Overloaded);
        }
        let factory = req
            .uri
            .as_sip()
            .and_then(|u| u.user.as_deref())
            .is_some_and(|u| u == self.config.conference_factory_user);
        if factory {
            return self.on_factory_invite(now, flow, key, req.into_request());
        }
        // REG-2: act only on the identity the server authenticated.
        let Some(caller) = self.identify(now, &key, &req, &flow) else {
            return;
        };
        let body = match self.offer_of(&req) {
            Ok(body) => body,
            Err(why) => return self.refuse_request(now, &key, &req, why),
        };
        let Some(callee) = UserUri::from_uri(&req.uri) else {
            return self.refuse_request(now, &key, &req, Refusal::UnknownUser);
        };
        if !self.is_local_user(&callee) {
            return self.refuse_request(now, &key, &req, Refusal::UnknownUser);
        }
        let bindings = self.reachable_bindings(now, &callee);
        if bindings.is_empty() {
            // Kept for later, or 480 (specs/deferred.md, DEF-12).
            return self.stand_in_for(now, flow, key, req.into_request(), caller, callee, &body);
        }
        let info = self.session_info(
            &req,
            &caller,
            callee.as_str().to_owned(),
            &body,
            vec![callee.clone()],
            SessionType::OneToOne,
        );
        if self.by_contribution.contains_key(&info.key.contribution_id) {
            // A Contribution-ID names one session (HIST-1).
            return self.refuse_request(now, &key, &req, Refusal::ContributionIdTaken);
        }
        let sid = info.key.session;
        let a_leg = self.new_uas_leg(sid, &req, flow, caller.clone());
        if self.config.mutation == Mutation::CallerOkBeforeAnswer {
            // A hears 200 for a session B has not accepted (ONE-3's first half).
            let early = a_leg.response(&req, StatusCode::OK);
            self.out.transmit(a_leg.flow, SipMessage::Response(early));
        }
        // The offer's MSRP media, read once for A's answer and for B's offer.
        let offer = body.sdp.as_ref().and_then(PeerMedia::of);
        if let Some(offer) = &offer {
            // MSRP-1: the server answers A's offer itself, with its own path.
            self.msrp_answer_offer(&a_leg.key, offer, None);
        }
        let forks = self.fork_invites(now, sid, &req, &info, &callee, bindings, offer.as_ref());
        let first = forks
            .keys()
            .next()
            .cloned()
            .expect("one fork per binding, at least one");
        let one = OneToOne {
            id: sid,
            info: info.into(),
            caller,
            callee,
            a_leg: a_leg.key.clone(),
            b_leg: first,
            chat: Default::default(),
            replaced_by: None,
            losers: Default::default(),
            state: OneState::Calling(Box::new(Calling {
                a_tx: key,
                a_invite: req,
                forks,
                best_failure: None,
            })),
        };
        self.legs.insert(a_leg.key.clone(), a_leg.into());
        self.by_contribution
            .insert(one.info.key.contribution_id.clone(), sid);
        self.sessions.insert(sid, Session::One(Box::new(one)));
    }

    /// The INVITE's body as the server needs it, or the status to refuse it with:
    /// no usable SDP → 488; `TCP/TLS/MSRP` without an MSRP-over-TLS listener → 488; a
    /// broken multipart container → 400.
    pub(crate) fn offer_of(&self, req: &Request) -> Result<InviteBody, Refusal> {
        let body = wire::decode_invite_body(&req.headers, &req.body, &self.config.limits).map_err(
            |e| match e {
                wire::BodyError::Multipart(_)
                | wire::BodyError::ResourceList(_)
                | wire::BodyError::MissingContentType => Refusal::MalformedBody,
                wire::BodyError::Sdp(_) | wire::BodyError::UnsupportedType(_) => {
                    Refusal::NoUsableOffer
                }
            },
        )?;
        let Some(sdp) = &body.sdp else {
            return Err(Refusal::NoUsableOffer);
        };
        if self.config.msrp.advertised_tls.is_none() && sdp.media.iter().any(|m| m.is_msrp_tls()) {
            return Err(Refusal::MsrpTlsUnsupported);
        }
        let Some(media) = sdp.message_media() else {
            return Err(Refusal::NoUsableOffer);
        };
        // An `a=path` that is present must be MSRP URIs only (LIM-10).
        let path = media.msrp_path();
        if !path.is_empty() && !wire::msrp_uri::is_msrp_path(&path) {
            return Err(Refusal::NoUsableOffer);
        }
        Ok(body)
    }

    /// The info the server extracts and stores for a new session (HIST-4, EXT-4).
    pub(crate) fn session_info(
        &mut self,
        req: &Request,
        from: &UserUri,
        to: String,
        body: &InviteBody,
        invited: Vec<UserUri>,
        session_type: SessionType,
    ) -> SessionInfo {
        let h = &req.headers;
        let sid = SessionId::new(self.ids.next_number());
        let conversation_id = h
            .conversation_id
            .clone()
            .unwrap_or_else(|| self.ids.conversation_id());
        let contribution_id = h
            .contribution_id
            .clone()
            .unwrap_or_else(|| ContributionId::new(self.ids.uuid()));
        let sdp = body.sdp.as_ref();
        SessionInfo {
            key: SessionKey {
                session: sid,
                conversation_id,
                contribution_id,
            },
            session_type,
            from: from.clone(),
            to,
            date: h
                .date
                .clone()
                .unwrap_or_else(|| self.wall_clock.to_http_date()),
            subject: h
                .other("Subject")
                .or_else(|| h.other("s"))
                .map(str::to_owned),
            in_reply_to: h.in_reply_to_contribution_id.clone(),
            sdp: sdp.map(|s| s.raw.clone()).unwrap_or_default(),
            // A 1-to-1's info is stored only when it is sealed: its media attributes
            // are derived from the SDP then (`seal_one`), not kept while it lasts.
            media_attributes: match session_type {
                SessionType::OneToOne => Vec::new(),
                SessionType::AdHoc if self.config.mutation == Mutation::GroupInfoWithoutMedia => {
                    Vec::new()
                }
                SessionType::AdHoc => sdp.map(|s| s.media_attribute_lines()).unwrap_or_default(),
            },
            invited,
        }
    }

    /// The server's UAS leg for a terminal's INVITE.
    pub(crate) fn new_uas_leg(
        &mut self,
        sid: SessionId,
        req: &Request,
        flow: Flow,
        user: UserUri,
    ) -> Leg {
        let key = LegKey::new(req.headers.call_id.clone(), self.ids.tag());
        let mut local = req.headers.to.clone();
        local.set_tag(key.local_tag());
        let terminal = self.config.trust.terminal_ip(&flow, req);
        Leg {
            remote_tag: req.headers.from.tag(),
            role: Role::Uas,
            local: Packed::new(local),
            remote: Packed::new(req.headers.from.clone()),
            remote_target: Packed::new(
                req.headers
                    .contact
                    .first()
                    .map(|c| c.uri.clone())
                    .unwrap_or_else(|| req.headers.from.uri.clone()),
            ),
            flow,
            terminal,
            local_cseq: 0,
            remote_cseq: Some(req.headers.cseq.seq),
            state: LegState::Early,
            session: sid,
            user,
            unacked_2xx: None,
            last_ack: None,
            branches: self.ids.leg_stream(),
            key,
        }
    }

    /// The server's UAC leg towards a registered contact.
    pub(crate) fn new_uac_leg(
        &mut self,
        sid: SessionId,
        user: UserUri,
        contact: &NameAddr,
        flow: Flow,
        mut from: NameAddr,
    ) -> Leg {
        let key = LegKey::new(self.ids.call_id(), self.ids.tag());
        from.set_tag(key.local_tag());
        // SEC-6: a callee's terminal address is where its binding's REGISTER came
        // from (behind a trusted proxy: the proxy).
        let terminal = flow.peer.ip();
        let flow = self.reach(flow, Some(&contact.uri), terminal);
        let mut to = NameAddr::new(contact.uri.clone());
        if user.as_str().starts_with("sip:") {
            // The identity's text is already the `sip:` URI (no copy through `format!`).
            to = NameAddr::new(wire::uri::parse_uri(user.as_str()).unwrap_or(contact.uri.clone()));
        }
        Leg {
            key,
            remote_tag: None,
            role: Role::Uac,
            local: Packed::new(from),
            remote: Packed::new(to),
            remote_target: Packed::new(contact.uri.clone()),
            flow,
            terminal,
            local_cseq: 0,
            remote_cseq: None,
            state: LegState::Early,
            session: sid,
            user,
            unacked_2xx: None,
            last_ack: None,
            branches: self.ids.leg_stream(),
        }
    }

    /// B's INVITE: a new request on B's leg carrying A's identity, the CPM IDs and
    /// A's body (ONE-2).
    pub(crate) fn callee_invite(
        &mut self,
        a_invite: &Request,
        b_leg: &mut Leg,
        info: &SessionInfo,
        relayed: Option<&PeerMedia>,
    ) -> Request {
        let mut invite = b_leg.request(Method::Invite, &self.config, &self.ids);
        let h = &mut invite.headers;
        let a = &a_invite.headers;
        let secure = super::sips::secure(&b_leg.remote_target.get(), b_leg.flow);
        h.contact = vec![cpm_contact(super::sips::contact(
            server_contact(&self.config, "cpmd", b_leg.flow, false),
            secure,
        ))];
        h.conversation_id = Some(info.key.conversation_id.clone());
        h.contribution_id = Some(info.key.contribution_id.clone());
        h.in_reply_to_contribution_id = a.in_reply_to_contribution_id.clone();
        h.accept_contact = a.accept_contact.clone();
        h.supported = a.supported.clone();
        h.require = a.require.clone();
        h.content_type = a.content_type.clone();
        h.date = a.date.clone();
        h.other = copyable(&a.other);
        // ONE-2 step 3: the trusted server asserts the identity it authenticated.
        let from = info.from.as_str();
        let mut asserted = String::with_capacity(from.len() + 2);
        asserted.push('<');
        asserted.push_str(from);
        asserted.push('>');
        h.other.push(("P-Asserted-Identity".into(), asserted));
        // MSRP-1: B gets the server's own offer (actpass), not A's path; `relayed` is
        // A's offer's MSRP media (`offer_of` of `a_invite`, read once by the caller).
        invite.headers.content_type = Some(crate::sip::MediaType::new("application", "sdp"));
        invite.body = self.msrp_offer(&b_leg.key, relayed);
        invite
    }

    /// Relays B's provisional or 2xx answer to A on A's leg (ONE-3); `answer` is the
    /// MSRP media of its body (`PeerMedia::of_body`, read once by the caller).
    pub(crate) fn relay_answer(
        &mut self,
        now: Time,
        c: &Calling,
        a_leg: &LegKey,
        resp: &Response,
        answer: Option<&PeerMedia>,
    ) {
        let Some(leg) = self.legs.get(a_leg) else {
            return;
        };
        let mut out = leg.response(&c.a_invite, resp.status);
        out.reason = resp.reason.clone();
        // The answer's Contact is A's remote target for the session: the same CPM
        // feature tags as the INVITE to B.
        let secure = super::sips::secure(&c.a_invite.uri, leg.flow);
        out.headers.contact = vec![cpm_contact(super::sips::contact(
            server_contact(&self.config, "cpmd", leg.flow, false),
            secure,
        ))];
        out.headers.conversation_id = c.a_invite.headers.conversation_id.clone();
        out.headers.contribution_id = c.a_invite.headers.contribution_id.clone();
        out.headers.content_type = resp.headers.content_type.clone();
        out.body = resp.body.clone();
        if let Some(answer) = answer {
            // MSRP-1: A gets the server's answer on A's leg, with B's accept-types.
            self.msrp_accept_types(a_leg, answer);
            out.body = self.msrp_sdp(a_leg);
        }
        if resp.status.is_success() {
            return self.respond_2xx(now, a_leg, &c.a_tx, out);
        }
        let timers = self.config.timers;
        self.tx.respond(now, &c.a_tx, out, &timers, &mut self.out);
    }

    /// Answers the server transaction `tx` with a 2xx to an INVITE and keeps it on
    /// the UAS leg for retransmission ([`Self::send_2xx`]): one shared message for
    /// the transmit and the leg, not a copy for each.
    pub(crate) fn respond_2xx(&mut self, now: Time, leg_key: &LegKey, tx: &TxKey, resp: Response) {
        let message = Shared::new(SipMessage::Response(resp));
        self.send_2xx(now, leg_key, message.clone());
        let timers = self.config.timers;
        self.tx
            .respond_shared(now, tx, message, &timers, &mut self.out);
    }

    /// Records a 2xx sent on a UAS leg and arms its retransmission over UDP
    /// (RFC 3261 §13.3.1.4: the UAS core repeats the 2xx, T1 doubling up to T2, until
    /// the ACK arrives or 64·T1 passed).
    pub(crate) fn send_2xx(&mut self, now: Time, leg_key: &LegKey, resp: Shared<SipMessage>) {
        let timers = &self.config.timers;
        let Some(leg) = self.legs.get_mut(leg_key) else {
            return;
        };
        leg.confirm();
        if !leg.flow.transport.is_reliable() {
            let give_up_at = now.plus_ms(timers.t64_ms());
            leg.unacked_2xx = Some(Box::new(Unacked2xx {
                response: resp,
                interval_ms: timers.t1_ms,
                give_up_at,
            }));
            self.out.arm(
                Timer::Retransmit2xx(leg_key.clone()),
                now.plus_ms(timers.t1_ms),
            );
        }
    }

    pub(crate) fn retransmit_2xx(&mut self, now: Time, leg_key: &LegKey) {
        let t2 = self.config.timers.t2_ms;
        let Some(leg) = self.legs.get_mut(leg_key) else {
            return;
        };
        let Some(mut unacked) = leg.unacked_2xx.take() else {
            return;
        };
        if now >= unacked.give_up_at {
            // No ACK within 64·T1: §13.3.1.4 says the dialog must be ended with BYE.
            let sid = leg.session;
            return self.end_unacknowledged(now, sid, leg_key);
        }
        self.out.transmit_shared(leg.flow, unacked.response.clone());
        let next = unacked.interval_ms.saturating_mul(2).min(t2);
        unacked.interval_ms = next;
        leg.unacked_2xx = Some(unacked);
        self.out
            .arm(Timer::Retransmit2xx(leg_key.clone()), now.plus_ms(next));
    }

    /// ACKs B's 2xx on B's leg and confirms the leg.
    pub(crate) fn ack_callee(&mut self, b_leg: &LegKey, resp: &Response) {
        let Some(leg) = self.legs.get_mut(b_leg) else {
            return;
        };
        leg.remote_tag = resp.headers.to.tag();
        leg.remote = Packed::new(resp.headers.to.clone());
        if let Some(contact) = resp.headers.contact.first() {
            leg.remote_target = Packed::new(contact.uri.clone());
        }
        leg.confirm();
        let (ack, sent) = leg.ack(resp.headers.cseq.seq, &self.config, &self.ids);
        leg.last_ack = Some(sent);
        if self.config.mutation == Mutation::NoAckOfAnswer {
            return;
        }
        self.out.transmit(leg.flow, SipMessage::Request(ack));
    }

    pub(crate) fn repeat_ack(&mut self, leg_key: &LegKey) {
        if let Some(leg) = self.legs.get(leg_key) {
            // Made again from the leg: only when B repeats its 2xx.
            if let Some(sent) = leg.last_ack {
                let ack = leg.ack_again(sent, &self.config, &self.ids);
                self.out.transmit(leg.flow, SipMessage::Request(ack));
            }
        }
    }

    /// The ACK for a 2xx the server sent: stops the 2xx retransmission.
    pub(crate) fn on_ack(&mut self, now: Time, req: &Request) {
        let _ = now;
        let Some(tag) = req.headers.to.tag() else {
            return;
        };
        let key = LegKey::new(req.headers.call_id.clone(), tag);
        if let Some(leg) = self.legs.get_mut(&key) {
            leg.unacked_2xx = None;
            self.out.disarm(&Timer::Retransmit2xx(key));
        }
    }

    /// CANCEL of a pending INVITE (ONE-4).
    pub(crate) fn on_cancel(&mut self, now: Time, key: TxKey, req: Request) {
        let invite_key = key.invite_of_cancel();
        if !self.tx.is_pending(&invite_key) {
            return self.refuse_request(now, &key, &req, Refusal::NoTransactionToCancel);
        }
        self.reply(now, &key, &req, StatusCode::OK);
        let found = self.sessions.iter().find_map(|(sid, s)| {
            let Session::One(one) = s else { return None };
            let OneState::Calling(c) = &one.state else {
                return None;
            };
            (c.a_tx == invite_key).then(|| (*sid, c.clone()))
        });
        if self.config.mutation != Mutation::CancelWithout487 {
            self.reply_to_tx(now, &invite_key, StatusCode::REQUEST_TERMINATED);
        }
        let Some((sid, calling)) = found else {
            return;
        };
        for tx in calling.forks.values() {
            self.send_cancel(now, tx);
        }
        if let Some(Session::One(one)) = self.sessions.get_mut(&sid) {
            one.cancel(calling.forks.keys().cloned().collect());
        }
    }

    /// CANCELs our pending INVITE towards B.
    pub(crate) fn send_cancel(&mut self, now: Time, invite_tx: &TxKey) {
        let timers = self.config.timers;
        self.tx.cancel(now, invite_tx, &timers, &mut self.out);
    }

    /// A request inside a dialog: BYE runs the termination handshake; re-INVITE,
    /// UPDATE and INFO are relayed to the other leg (ONE-5); unknown dialog → 481
    /// (ONE-6).
    pub(crate) fn on_in_dialog(&mut self, now: Time, flow: Flow, key: TxKey, req: Received) {
        let Some(leg_key) = self.leg_of_request(&req) else {
            return self.refuse_request(now, &key, &req, Refusal::NoDialog);
        };
        let leg = self
            .legs
            .get_mut(&leg_key)
            .expect("leg_of_request returns live legs");
        if leg.flow.transport != flow.transport || leg.flow.peer != flow.peer {
            // REG-5: Call-ID and tags are not credentials; only the party's own flow
            // speaks for its leg.
            return self.refuse_request(now, &key, &req, Refusal::NotTheLegsFlow);
        }
        if leg.remote_cseq.is_some_and(|c| req.headers.cseq.seq <= c) {
            // §12.2.2: a lower CSeq in a dialog is out of order.
            return self.refuse_request(now, &key, &req, Refusal::CSeqOutOfOrder);
        }
        leg.remote_cseq = Some(req.headers.cseq.seq);
        let sid = leg.session;
        if self.is_stand_in(&leg_key) {
            return self.stand_in_in_dialog(now, &leg_key, key, req.into_request());
        }
        match req.method {
            Method::Bye => self.on_bye(now, sid, &leg_key, key, req),
            Method::Invite | Method::Update | Method::Info => {
                self.relay_in_dialog(now, sid, &leg_key, key, req.into_request())
            }
            Method::Options => self.reply(now, &key, &req, StatusCode::OK),
            Method::Refer if matches!(self.sessions.get(&sid), Some(Session::Group(_))) => {
                // GRP-14/15: a participant's REFER to the focus in its group dialog.
                self.on_group_refer_in_dialog(now, sid, &leg_key, key, req.into_request())
            }
            Method::Ack | Method::Cancel => {}
            Method::Register
            | Method::Message
            | Method::Prack
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Publish => self.refuse_request(now, &key, &req, Refusal::MethodNotAllowed),
            Method::Other(_) => self.refuse_request(now, &key, &req, Refusal::UnknownMethod),
        }
    }

    /// The leg an in-dialog request belongs to: Call-ID and To tag name the server's
    /// end, the From tag must be the terminal's.
    fn leg_of_request(&self, req: &Request) -> Option<LegKey> {
        let key = LegKey::new(req.headers.call_id.clone(), req.headers.to.tag()?);
        let leg = self.legs.get(&key)?;
        let from_tag = req.headers.from.tag();
        (leg.remote_tag.is_none() || leg.remote_tag == from_tag).then_some(key)
    }

    fn relay_in_dialog(
        &mut self,
        now: Time,
        sid: SessionId,
        leg_key: &LegKey,
        key: TxKey,
        req: Request,
    ) {
        let other = match self.sessions.get(&sid) {
            Some(Session::One(one)) if one.state == OneState::Established => {
                one.other_leg(leg_key).clone()
            }
            Some(Session::Group(_)) => return self.answer_group_in_dialog(now, leg_key, key, req),
            Some(Session::One(_)) => {
                return self.refuse_request(now, &key, &req, Refusal::SessionNotEstablished)
            }
            None => return self.refuse_request(now, &key, &req, Refusal::NoDialog),
        };
        if self.leg_flow(&other).is_none() {
            return self.refuse_request(now, &key, &req, Refusal::NoDialog);
        }
        let Some(leg) = self.legs.get_mut(&other) else {
            return self.refuse_request(now, &key, &req, Refusal::NoDialog);
        };
        let mut relayed = leg.request(req.method.clone(), &self.config, &self.ids);
        relayed.headers.content_type = req.headers.content_type.clone();
        relayed.headers.contact = vec![super::sips::contact(
            server_contact(&self.config, "cpmd", leg.flow, false),
            super::sips::secure(&leg.remote_target.get(), leg.flow),
        )];
        relayed.headers.other = copyable(&req.headers.other);
        relayed.body = req.body.clone();
        let flow = leg.flow;
        if let Some(offer) = PeerMedia::of_body(&req.body) {
            // A re-offer: the sender's path may change; the other leg gets the
            // server's own SDP (its connection stays).
            self.msrp_learn(leg_key, &offer);
            relayed.body = self.msrp_sdp(&other);
        }
        let timers = self.config.timers;
        self.tx.send_request(
            now,
            flow,
            relayed,
            Owner::Relay(key),
            &timers,
            &mut self.out,
        );
    }

    /// The other leg answered a relayed in-dialog request: answer the original.
    pub(crate) fn on_relay_answer(&mut self, now: Time, server_tx: &TxKey, rx: ClientRx) {
        let Some(orig) = self.tx.request(server_tx).cloned() else {
            return;
        };
        let resp = match rx {
            ClientRx::Response(r) => r,
            ClientRx::Retransmitted2xx(_) => return,
            ClientRx::TimedOut => {
                return self.reply(now, server_tx, &orig, StatusCode::REQUEST_TIMEOUT)
            }
        };
        if resp.status == StatusCode::TRYING {
            return;
        }
        let (Some(tag), Some(other)) = (orig.headers.to.tag(), self.leg_answering(&resp)) else {
            return;
        };
        if orig.method == Method::Invite && resp.status.is_success() {
            // We are the UAC of the re-INVITE on the other leg: ACK it ourselves.
            self.ack_callee(&other, &resp);
        }
        let mut out = Response::to_request(&orig, resp.status);
        out.headers.to.set_tag(&tag);
        out.reason = resp.reason.clone();
        out.headers.content_type = resp.headers.content_type.clone();
        out.body = resp.body.clone();
        let a_leg = LegKey::new(orig.headers.call_id.clone(), tag);
        if let Some(answer) = PeerMedia::of_body(&resp.body) {
            self.msrp_learn(&other, &answer);
            out.body = self.msrp_sdp(&a_leg);
        }
        if orig.method == Method::Invite && resp.status.is_success() {
            return self.respond_2xx(now, &a_leg, server_tx, out);
        }
        let timers = self.config.timers;
        self.tx.respond(now, server_tx, out, &timers, &mut self.out);
    }

    /// The leg a response to one of the server's in-dialog requests came on.
    fn leg_answering(&self, resp: &Response) -> Option<LegKey> {
        let key = LegKey::new(resp.headers.call_id.clone(), resp.headers.from.tag()?);
        self.legs.contains_key(&key).then_some(key)
    }

    /// Forgets a session and its legs (no history: it never became a session, or it
    /// was sealed), telling how it ended (`outcome`) in `Event::SessionEnded`.
    pub(crate) fn drop_session(&mut self, sid: SessionId, outcome: SessionOutcome) {
        let Some(session) = self.sessions.remove(&sid) else {
            return;
        };
        let legs: Vec<LegKey> = match &session {
            Session::One(one) => {
                let mut legs = vec![one.a_leg.clone(), one.b_leg.clone()];
                legs.extend(one.losers.iter().cloned());
                match &one.state {
                    OneState::Calling(c) => legs.extend(c.forks.keys().cloned()),
                    OneState::Cancelling(forks) => legs.extend(forks.iter().cloned()),
                    OneState::Established | OneState::Terminating(_) | OneState::Sealing(_) => {}
                }
                legs
            }
            Session::Group(g) => g
                .participants
                .values()
                .flat_map(|p| p.leg.iter().chain(p.invitation.forks.keys()))
                .cloned()
                .collect(),
        };
        for leg in legs {
            self.out.disarm(&Timer::Retransmit2xx(leg.clone()));
            self.legs.remove(&leg);
            self.forget_msrp_leg(&leg);
        }
        self.out.disarm(&Timer::ByeWait(sid));
        self.out.disarm(&Timer::ReplacedBye(sid));
        if let Session::Group(g) = &session {
            if matches!(g.state, super::session::GroupState::Creating(_)) {
                self.release_replaced(g.replaces);
            }
        }
        let contribution = &session.info().key.contribution_id;
        if self.by_contribution.get(contribution) == Some(&sid) {
            self.by_contribution.remove(contribution);
        }
        let info = session.info();
        let (replaced_by, messages) = match &session {
            Session::One(one) => (one.replaced_by, one.chat.delivered.len()),
            Session::Group(g) => (None, g.chat.delivered.len()),
        };
        self.out.event(Event::SessionEnded(SessionEnd {
            key: info.key.clone(),
            kind: info.session_type,
            outcome,
            replaced_by,
            messages,
        }));
    }
}

impl Server {
    /// A group that was never created releases the 1-to-1 it meant to replace, which
    /// may then be extended again (EXT-9 counts created groups only).
    pub(crate) fn release_replaced(&mut self, one: Option<SessionId>) {
        if let Some(Session::One(one)) = one.and_then(|id| self.sessions.get_mut(&id)) {
            one.replaced_by = None;
        }
    }
}

/// The untyped headers of one leg that may be copied to the other.
pub(crate) fn copyable(other: &[(String, String)]) -> Vec<(String, String)> {
    other
        .iter()
        .filter(|(n, _)| !HOP_BY_HOP.iter().any(|h| n.eq_ignore_ascii_case(h)))
        .cloned()
        .collect()
}
