//! SEC-2: a response is accepted only from the flow its request went to. Matching by
//! branch and method alone (RFC 3261 §17.1.3) would let anyone who learns or guesses a
//! branch answer for the callee: a forged 200 with SDP would connect the caller to the
//! forger, a forged 486 would end a ringing call. Over UDP the response must come from
//! the address and port the request was sent to (on the same socket); over TCP, on the
//! same connection. Anything else is dropped and reported (`Event::Dropped`).
//!
//! Not covered: RFC 3261 §18.1.2's fallback where a UAS whose connection broke opens a
//! new one to the Via sent-by to deliver its response; cpmd drops such a response and
//! the transaction times out (the terminal keeps its registration flow up anyway).

use super::output::{Event, Flow, Transport};
use super::Server;
use crate::sip::Response;

/// Whether `got` is the flow a request sent on `sent` is answered on.
fn same_flow(sent: &Flow, got: &Flow) -> bool {
    match (sent.transport, got.transport) {
        (Transport::Udp, Transport::Udp) => {
            sent.conn == got.conn
                && sent.peer.ip() == got.peer.ip()
                && sent.peer.port() == got.peer.port()
        }
        (Transport::Tcp, Transport::Tcp) | (Transport::Tls, Transport::Tls) => {
            sent.conn == got.conn
        }
        (Transport::Udp | Transport::Tcp | Transport::Tls, _) => false,
    }
}

impl Server {
    /// `true` (and the response is dropped and reported) when `resp` matches a client
    /// transaction whose request went out on another flow than `flow`.
    pub(crate) fn response_from_elsewhere(&mut self, flow: &Flow, resp: &Response) -> bool {
        let Some(sent) = self.tx.request_flow(resp) else {
            return false;
        };
        if same_flow(&sent, flow) {
            return false;
        }
        self.counters.dropped += 1;
        self.out.event(Event::Dropped {
            flow: *flow,
            reason: format!(
                "SEC-2: {} response from {} for a request sent to {}",
                resp.status.get(),
                flow.peer,
                sent.peer
            ),
        });
        true
    }
}
