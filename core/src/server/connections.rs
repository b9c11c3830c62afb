//! Which TCP connections are up, and opening new ones (`Command::Connect`) when the
//! server must reach a terminal whose connection closed (RFC 3261 §18.1.1: a client
//! opens a connection to the target when none exists).
//!
//! Connection numbers the core chooses live in their own range, far above the
//! numbers a runtime hands out, so the two never collide.

use std::net::{IpAddr, SocketAddr};

use super::id_gen::CORE_CONN_BASE;
use super::keys::LegKey;
use super::output::{Command, Event, Flow};
use super::Server;
use crate::ids::ConnId;
use crate::uri::{Host, Uri};

impl Server {
    /// Notes that bytes arrived on a TCP connection: it is up.
    pub(crate) fn tcp_alive(&mut self, conn: ConnId) {
        // Read first: writing a shared set copies it.
        if !self.live_tcp.contains(&conn) {
            self.live_tcp.insert(conn);
        }
    }

    /// `flow` if it can carry a message now; otherwise a new outbound TCP connection to
    /// `contact`'s address (or the flow's peer), announced with `Command::Connect`.
    /// Bindings that used the dead flow move to the new one. SEC-6: the contact's
    /// address (a Contact, a remote target: the terminal's word) is used only when it
    /// is on the `terminal`'s own address or in `[trust] connect_allow`; otherwise the
    /// flow's peer, where the terminal (or its trusted proxy) signalled from. TLS-15:
    /// when the contact's host is a DNS name, the runtime verifies that name in the
    /// peer's certificate (RFC 5922 §7.2), else the address connected to.
    pub(crate) fn reach(&mut self, flow: Flow, contact: Option<&Uri>, terminal: IpAddr) -> Flow {
        if !flow.transport.is_reliable() || self.live_tcp.contains(&flow.conn) {
            return flow;
        }
        let target = contact.and_then(socket_of);
        let server_name = contact.and_then(dns_name_of);
        let conn = ConnId::new(CORE_CONN_BASE + self.ids.next_number());
        let allowed = target.filter(|t| self.config.trust.may_connect(terminal, t.ip()));
        if let (Some(refused), None) = (target, allowed) {
            self.out.event(Event::ConnectRefused {
                target: refused,
                terminal,
            });
        }
        let peer = allowed.unwrap_or(flow.peer);
        // A terminal reached over TLS is reached over TLS again (the runtime
        // verifies its certificate, specs/tls.md).
        let transport = flow.transport;
        self.out.command(Command::Connect {
            conn,
            peer,
            transport,
            server_name,
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
        let (flow, target, terminal) = {
            let leg = self.legs.get(key)?;
            (leg.flow, leg.remote_target.get(), leg.terminal)
        };
        let flow = self.reach(flow, Some(&target), terminal);
        if let Some(leg) = self.legs.get_mut(key) {
            leg.flow = flow;
        }
        Some(flow)
    }
}

/// The host of a `sip:`/`sips:` URI when it is a DNS name (lower-cased, without a
/// trailing dot): the name a TLS peer's certificate must carry (RFC 5922 §7.2).
pub(crate) fn dns_name_of(uri: &Uri) -> Option<String> {
    match &uri.as_sip()?.host {
        Host::Name(name) => Some(name.trim_end_matches('.').to_ascii_lowercase()),
        Host::V4(_) | Host::V6(_) => None,
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
