//! SIP over UDP: one receive task per socket forwards each datagram, with its
//! source address, to the event loop. Sending happens in the loop itself
//! (`try_send_to`, never blocking it).

use std::net::SocketAddr;
use std::sync::Arc;

use cpmd_core::ConnId;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::NetEvent;

/// The largest datagram we accept (the IPv4 UDP payload limit).
const MAX_DATAGRAM_BYTES: usize = 65_535;

/// A bound UDP socket.
#[derive(Debug, Clone)]
pub struct UdpListener {
    /// The connection number the core sees for this socket.
    pub conn: ConnId,
    /// The socket, shared by the receive task and the event loop.
    pub socket: Arc<UdpSocket>,
    /// The bound address (port 0 resolved).
    pub local: SocketAddr,
}

impl UdpListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, conn: ConnId) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        Ok(Self {
            conn,
            socket: Arc::new(socket),
            local,
        })
    }

    /// Starts the receive task.
    pub fn spawn_receiver(&self, events: mpsc::Sender<NetEvent>) {
        let socket = Arc::clone(&self.socket);
        let conn = self.conn;
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM_BYTES];
            loop {
                match socket.recv_from(&mut buf).await {
                    Ok((n, peer)) => {
                        let bytes = buf[..n].to_vec();
                        let event = NetEvent::Datagram { conn, peer, bytes };
                        if events.send(event).await.is_err() {
                            return; // The event loop ended.
                        }
                    }
                    // ICMP port-unreachable from an earlier send surfaces here on
                    // some systems: not fatal for the socket.
                    Err(e) => tracing::debug!(%conn, error = %e, "udp receive error"),
                }
            }
        });
    }

    /// Sends one datagram without waiting; a full socket buffer drops it (the SIP
    /// transaction layer retransmits over UDP).
    pub fn send(&self, peer: SocketAddr, bytes: &[u8]) {
        match self.socket.try_send_to(bytes, peer) {
            Ok(_) => {}
            Err(e) => tracing::warn!(conn = %self.conn, %peer, error = %e, "udp send failed"),
        }
    }
}
