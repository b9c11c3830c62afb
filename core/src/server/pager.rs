//! Pager-mode messaging (RFC 3428): an out-of-dialog MESSAGE from an authenticated
//! user is captured as history, then routed to every device of the recipient (a
//! parallel fork), and the first 2xx or the best failure relayed back
//! (specs/one-to-one.md, "Pager mode", PAGER-1..6).
//!
//! Capture: every MESSAGE the server accepts is `Persist`ed before it is relayed
//! (PAGER-1). A `message/cpim` body carrying an IMDN (`message/imdn+xml`) becomes a
//! [`Record::Disposition`]; every other body (CPIM or not: RCS pager messages are
//! CPIM, but a plain `text/plain` MESSAGE is history too) a
//! [`Record::Standalone`] with its content type. The message waits in its store
//! ticket ([`TicketUse::Pager`]) until the store answers: ok → relayed; failed → 500
//! to the sender and nothing relayed (PAGER-2). A CPIM or IMDN body that does not
//! decode is refused with 400 and neither stored nor relayed (PAGER-3).
//!
//! Not store-and-forward: the sender's final answer is still the recipient's (or 408
//! when it never answered), so a stored standalone message means "accepted from its
//! sender", not "delivered". A recipient with no registered device is the business
//! of deferred messaging (`deferred.rs`, specs/deferred.md): kept and answered 202,
//! or 480 at once when deferral is not open to them. The bindings are chosen when
//! the MESSAGE arrives, so a binding that expires while the store works does not
//! lose the relay; their TCP connections are (re)opened only once the record is
//! durable.

use super::leg::server_via;
use super::one_to_one::copyable;
use super::output::Flow;
use super::refusal::Refusal;
use super::tickets::{PagerFork, PendingPager};
use super::transaction::{ClientRx, Owner};
use super::{Server, TicketUse, TxKey};
use crate::cpim::CpimMessage;
use crate::ids::{ContributionId, ConversationId, MessageId};
use crate::record::{DispositionRecord, Record, StandaloneMessage};
use crate::sip::{CSeq, Headers, Method, NameAddr, Request, Response, StatusCode};
use crate::time::Time;
use crate::uri::{Uri, UserUri};
use crate::wire::{cpim_codec as cpim, imdn, multipart::print_media_type};

impl Server {
    /// An out-of-dialog MESSAGE.
    pub(crate) fn on_message(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        // REG-2: only an authenticated user may send.
        let Some(sender) = self.identify(now, &key, &req, &flow) else {
            return;
        };
        if let Err(fault) = self.check_pager_sender(&req, &sender) {
            return self.refuse_request(now, &key, &req, fault.sip());
        }
        let target = UserUri::from_uri(&req.uri).filter(|u| self.is_local_user(u));
        let Some(target) = target else {
            return self.refuse_request(now, &key, &req, Refusal::UnknownUser);
        };
        // PAGER-6: every device of the recipient, newest first.
        let devices: Vec<(Flow, Uri)> = self
            .reachable_bindings(now, &target)
            .into_iter()
            .map(|b| (b.flow, b.contact.uri))
            .collect();
        let conversation_id = req
            .headers
            .conversation_id
            .clone()
            .unwrap_or_else(|| self.ids.conversation_id());
        let ct = req.headers.content_type.as_ref().map(print_media_type);
        if super::is_composing::is_composing(ct.as_deref().unwrap_or_default(), &req.body) {
            // An is-composing indication is relayed, never stored (PAGER-5) nor
            // deferred (DEF-1).
            if devices.is_empty() {
                return self.refuse_request(now, &key, &req, Refusal::NotRegistered);
            }
            let pending = PendingPager {
                server_tx: key,
                devices,
                conversation_id,
                request: req,
            };
            return self.on_pager_stored(now, pending, Ok(()));
        }
        let Some(record) =
            self.pager_record(&req, &conversation_id, sender.clone(), target.clone())
        else {
            // PAGER-3: a body we cannot read is neither stored nor relayed.
            return self.refuse_request(now, &key, &req, Refusal::UnreadableMessage);
        };
        if devices.is_empty() {
            // No device: kept for later, or 480 (specs/deferred.md).
            let incoming = super::deferred::Incoming {
                answer: super::tickets::DeferredAnswer::Sip(key),
                req,
                sender,
                target,
                conversation_id,
                history: Some(record),
            };
            return self.defer_message(now, incoming);
        }
        let ticket = self.ticket(TicketUse::Pager(Box::new(PendingPager {
            server_tx: key,
            devices,
            conversation_id,
            request: req,
        })));
        self.out.command(super::Command::Persist { ticket, record });
    }

    /// What a MESSAGE stores: a disposition for an IMDN, else a standalone message;
    /// `None` when a CPIM or IMDN body does not decode.
    pub(crate) fn pager_record(
        &self,
        req: &Request,
        conversation_id: &ConversationId,
        sender: UserUri,
        target: UserUri,
    ) -> Option<Record> {
        let ct = req.headers.content_type.as_ref();
        let cpim = match ct {
            Some(ct) if ct.is("message", "cpim") => {
                Some(cpim::decode_with(&req.body, &self.config.limits).ok()?)
            }
            _ => None,
        };
        if let Some(m) = cpim.as_ref().filter(|m| m.is_imdn()) {
            return self
                .pager_disposition(req, m, conversation_id, sender)
                .map(Record::Disposition);
        }
        let message_id = cpim
            .as_ref()
            .and_then(CpimMessage::imdn_message_id)
            .map_or_else(|| req.headers.call_id.as_str().to_owned(), str::to_owned);
        Some(Record::Standalone(StandaloneMessage {
            conversation_id: conversation_id.clone(),
            contribution_id: req.headers.contribution_id.clone(),
            sender,
            recipients: vec![target],
            message_id: MessageId::new(message_id),
            content_type: ct.map(print_media_type).unwrap_or_default(),
            body: req.body.clone(),
        }))
    }

    /// An IMDN's disposition record: the reporting recipient is the MESSAGE's
    /// authenticated sender. The Contribution-ID (RCS copies the original message's)
    /// is kept when it names a session this server holds; otherwise the original is
    /// taken to be a standalone message and the store matches it by conversation and
    /// message id.
    fn pager_disposition(
        &self,
        req: &Request,
        m: &CpimMessage,
        conversation_id: &ConversationId,
        sender: UserUri,
    ) -> Option<DispositionRecord> {
        let report = imdn::decode(&m.body).ok()?;
        let contribution_id: Option<ContributionId> = req
            .headers
            .contribution_id
            .clone()
            .filter(|c| self.by_contribution.contains_key(c));
        Some(DispositionRecord {
            conversation_id: conversation_id.clone(),
            contribution_id,
            message_id: MessageId::new(report.message_id),
            recipient: sender,
            disposition: report.disposition,
        })
    }

    /// The MESSAGE the server sends the recipient: a new transaction of its own, the
    /// body and CPM headers copied (Conversation-ID as stored, so a fresh one reaches
    /// the recipient too).
    pub(crate) fn pager_relay(
        &mut self,
        req: &Request,
        out_flow: Flow,
        contact: &Uri,
        conversation_id: ConversationId,
    ) -> Request {
        let mut relay = self.server_message(
            req.headers.from.clone(),
            NameAddr::new(req.headers.to.uri.clone()),
            out_flow,
            contact,
            req.body.clone(),
        );
        let headers = &mut relay.headers;
        headers.content_type = req.headers.content_type.clone();
        headers.conversation_id = Some(conversation_id);
        headers.contribution_id = req.headers.contribution_id.clone();
        headers.in_reply_to_contribution_id = req.headers.in_reply_to_contribution_id.clone();
        headers.accept_contact = req.headers.accept_contact.clone();
        headers.other = copyable(&req.headers.other);
        relay
    }

    /// A new out-of-dialog MESSAGE the server sends to `contact` on `out_flow` (a
    /// relayed pager message, or a notification of its own): `from` with a fresh tag,
    /// a fresh Call-ID, CSeq 1, the server's Via, Max-Forwards 70; the caller adds
    /// the content headers.
    pub(crate) fn server_message(
        &mut self,
        mut from: NameAddr,
        to: NameAddr,
        out_flow: Flow,
        contact: &Uri,
        body: Vec<u8>,
    ) -> Request {
        from.set_tag(&self.ids.tag());
        let mut headers = Headers::new(
            from,
            to,
            self.ids.call_id(),
            CSeq {
                seq: 1,
                method: Method::Message,
            },
        );
        headers.via = vec![server_via(&self.config, out_flow, &mut self.ids)];
        headers.max_forwards = Some(70);
        Request {
            method: Method::Message,
            uri: contact.to_request_uri(),
            headers,
            body,
        }
    }

    /// The store answered a pager MESSAGE's `Persist`: relay it (PAGER-1), or tell
    /// the sender it failed (PAGER-2).
    pub(crate) fn on_pager_stored(
        &mut self,
        now: Time,
        pending: PendingPager,
        answer: Result<(), Refusal>,
    ) {
        let PendingPager {
            server_tx,
            devices,
            conversation_id,
            request,
        } = pending;
        if let Err(why) = answer {
            // PAGER-2 (the store failed, 500) or LIM-14 (the sender is over quota, 403).
            return self.refuse_request(now, &server_tx, &request, why);
        }
        let timers = self.config.timers;
        for (flow, contact) in &devices {
            // The connection is reached only now: one that closed while the store
            // worked is reopened, and none is opened for a MESSAGE that is not
            // relayed.
            let out_flow = self.reach(*flow, Some(contact), flow.peer.ip());
            let relay = self.pager_relay(&request, out_flow, contact, conversation_id.clone());
            self.tx.send_request(
                now,
                out_flow,
                relay,
                Owner::Pager(server_tx.clone()),
                &timers,
                &mut self.out,
            );
        }
        self.pager_forks.insert(
            server_tx,
            PagerFork {
                outstanding: devices.len(),
                best_failure: None,
            },
        );
    }

    /// A device answered (or not), PAGER-6: the first 2xx is the sender's answer;
    /// when every device failed, the best failure (a 6xx, else the lowest 4xx, else
    /// the lowest 5xx; 408 for a device that never answered). Answers after the
    /// sender's are dropped.
    pub(crate) fn on_pager_answer(&mut self, now: Time, server_tx: &TxKey, rx: ClientRx) {
        let status = match rx {
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) if r.status.is_provisional() => {
                return
            }
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) => r.status,
            ClientRx::TimedOut => StatusCode::REQUEST_TIMEOUT,
        };
        let Some(fork) = self.pager_forks.get_mut(server_tx) else {
            return;
        };
        fork.outstanding = fork.outstanding.saturating_sub(1);
        let answer = if status.is_success() {
            status
        } else {
            let best = match fork.best_failure {
                Some(b) if failure_rank(b) <= failure_rank(status) => b,
                Some(_) | None => status,
            };
            fork.best_failure = Some(best);
            if fork.outstanding > 0 {
                return;
            }
            best
        };
        self.pager_forks.remove(server_tx);
        let Some(orig) = self.tx.request(server_tx).cloned() else {
            return;
        };
        let mut resp = Response::to_request(&orig, answer);
        resp.headers.to.set_tag(&self.ids.tag());
        let timers = self.config.timers;
        self.tx
            .respond(now, server_tx, resp, &timers, &mut self.out);
    }
}

/// How good a failure is for the sender (RFC 3261 §16.7 item 6, simplified): a 6xx
/// first, then 4xx, then 5xx, each lowest code first.
fn failure_rank(status: StatusCode) -> (u8, u16) {
    let code = status.get();
    let class = match code {
        600..=699 => 0,
        400..=499 => 1,
        _ => 2,
    };
    (class, code)
}
