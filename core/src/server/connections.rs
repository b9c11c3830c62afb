//! Which TCP connections are up, and opening new ones (`Command::Connect`) when the
//! server must reach a terminal whose connection closed (RFC 3261 §18.1.1: a client
//! opens a connection to the target when none exists).
//!
//! Connection numbers the core chooses live in their own range, far above the
//! numbers a runtime hands out, so the two never collide.

use std::net::SocketAddr;

use super::id_gen::CORE_CONN_BASE;
use super::keys::LegKey;
use super::output::{Command, Flow};
use super::Server;
use crate::ids::ConnId;
use crate::uri::{Host, Uri};

impl Server {
    /// Notes that bytes arrived on a TCP connection: it is up.
    pub(crate) fn tcp_alive(&mut self, conn: ConnId) {
        self.live_tcp.insert(conn);
    }

    /// `flow` if it can carry a message now; otherwise a new outbound TCP connection to
    /// `target` (or the flow's peer), announced with `Command::Connect`. Bindings that
    /// used the dead flow move to the new one.
    pub(crate) fn reach(&mut self, flow: Flow, target: Option<SocketAddr>) -> Flow {
        if !flow.transport.is_reliable() || self.live_tcp.contains(&flow.conn) {
            return flow;
        }
        let conn = ConnId::new(CORE_CONN_BASE + self.ids.next_number());
        let peer = target.unwrap_or(flow.peer);
        // A terminal reached over TLS is reached over TLS again (the runtime
        // verifies its certificate, specs/tls.md).
        let transport = flow.transport;
        self.out.command(Command::Connect {
            conn,
            peer,
            transport,
        });
        self.live_tcp.insert(conn);
        let new = Flow {
            transport,
            conn,
            peer,
        };
        self.registrar.rebind(&flow, new);
        new
    }

    /// The flow of a leg, reconnected if its connection closed.
    pub(crate) fn leg_flow(&mut self, key: &LegKey) -> Option<Flow> {
        let (flow, target) = {
            let leg = self.legs.get(key)?;
            (leg.flow, socket_of(&leg.remote_target))
        };
        let flow = self.reach(flow, target);
        if let Some(leg) = self.legs.get_mut(key) {
            leg.flow = flow;
        }
        Some(flow)
    }
}

/// The address of a URI whose host is an IP literal (default port 5060, 5061 for
/// `sips:`); `None` for
/// a host name, which the core cannot resolve (the flow's peer is used instead).
pub(crate) fn socket_of(uri: &Uri) -> Option<SocketAddr> {
    let sip = uri.as_sip()?;
    let port = sip.port.unwrap_or(if sip.secure { 5061 } else { 5060 });
    match sip.host {
        Host::V4(ip) => Some(SocketAddr::from((ip, port))),
        Host::V6(ip) => Some(SocketAddr::from((ip, port))),
        Host::Name(_) => None,
    }
}
