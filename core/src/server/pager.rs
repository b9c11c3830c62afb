//! Pager-mode messaging (RFC 3428): an out-of-dialog MESSAGE from an authenticated
//! user is routed to the recipient's newest device and the answer relayed back.
//! Capturing its CPIM body as a standalone history message comes with the MSRP work;
//! this is the routing only.

use super::command::Flow;
use super::leg::server_via;
use super::one_to_one::copyable;
use super::transaction::{ClientRx, Owner};
use super::{Server, TxKey};
use crate::sip::{CSeq, Headers, Method, NameAddr, Request, Response, StatusCode};
use crate::time::Time;
use crate::uri::UserUri;

impl Server {
    /// An out-of-dialog MESSAGE.
    pub(crate) fn on_message(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        // REG-2: only an authenticated user may send.
        if self.identify(now, &key, &req, &flow).is_none() {
            return;
        }
        let target = UserUri::from_uri(&req.uri).filter(|u| self.is_local_user(u));
        let Some(target) = target else {
            return self.reply(now, &key, &req, StatusCode::NOT_FOUND);
        };
        let Some(binding) = self.registrar.lookup(&target).cloned() else {
            return self.reply(now, &key, &req, StatusCode::TEMPORARILY_UNAVAILABLE);
        };
        let out_flow = self.reach(
            binding.flow,
            super::connections::socket_of(&binding.contact.uri),
        );
        let mut from = req.headers.from.clone();
        from.set_tag(&self.ids.tag());
        let mut headers = Headers::new(
            from,
            NameAddr::new(req.headers.to.uri.clone()),
            self.ids.call_id(&self.config.domain),
            CSeq {
                seq: 1,
                method: Method::Message,
            },
        );
        headers.via = vec![server_via(&self.config, out_flow, &mut self.ids)];
        headers.max_forwards = Some(70);
        headers.content_type = req.headers.content_type.clone();
        headers.conversation_id = req.headers.conversation_id.clone();
        headers.contribution_id = req.headers.contribution_id.clone();
        headers.in_reply_to_contribution_id = req.headers.in_reply_to_contribution_id.clone();
        headers.accept_contact = req.headers.accept_contact.clone();
        headers.other = copyable(&req.headers.other);
        let message = Request {
            method: Method::Message,
            uri: binding.contact.uri.clone(),
            headers,
            body: req.body.clone(),
        };
        let timers = self.config.timers.clone();
        self.tx.send_request(
            now,
            out_flow,
            message,
            Owner::Pager(key),
            &timers,
            &mut self.out,
        );
    }

    /// The recipient answered (or not): the sender gets the same final answer.
    pub(crate) fn on_pager_answer(&mut self, now: Time, server_tx: &TxKey, rx: ClientRx) {
        let Some(orig) = self.tx.request(server_tx).cloned() else {
            return;
        };
        let status = match rx {
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) if r.status.is_provisional() => {
                return
            }
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) => r.status,
            ClientRx::TimedOut => StatusCode::REQUEST_TIMEOUT,
        };
        let mut resp = Response::to_request(&orig, status);
        resp.headers.to.set_tag(&self.ids.tag());
        let timers = self.config.timers.clone();
        self.tx
            .respond(now, server_tx, resp, &timers, &mut self.out);
    }
}
