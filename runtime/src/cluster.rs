//! The node's part in a cluster (specs/scale-out.md): a plain thread that renews
//! this node's lease every third of the lease (SCALE-1) and, each time, takes over
//! the nodes whose lease ran out and whose connection is gone (SCALE-2); and that
//! writes this node's binding changes to the location rows (SCALE-4) and feeds
//! the rows that changed to the event loop, for the core (SCALE-5), every
//! [`LOCATION_POLL`].
//!
//! A plain thread, not a tokio task: the PostgreSQL client blocks (`store/postgres.rs`).
//! A database error is logged and retried at the next beat over a new connection.
//!
//! What it is *not*: the rows and the take-over itself (`store/cluster.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use cpmd_core::server::{Flow, RemoteBinding, SharedBinding};
use cpmd_core::{ConnId, Transport, UserUri};
use tokio::sync::{broadcast, mpsc};

use crate::mailstore::MailChange;
use crate::store::cluster::{BindingRow, Cluster, LocationRow};
use crate::store::sql::DbError;
use crate::transport::NetEvent;

/// How often the location rows are written and read: a user registered through
/// one node is reachable from the others about this much later.
pub const LOCATION_POLL: Duration = Duration::from_millis(100);

/// This node's bindings of one user changed (the core's `BindingsChanged`).
#[derive(Debug, Clone)]
pub struct LocationChange {
    /// The address-of-record.
    pub aor: String,
    /// All its bindings on this node now.
    pub bindings: Vec<SharedBinding>,
}

/// How the thread talks to the event loop.
pub struct LocationLinks {
    /// Binding changes from the event loop.
    pub changes: std_mpsc::Receiver<LocationChange>,
    /// Where other nodes' rows go (as `NetEvent::RemoteBinding`).
    pub net: mpsc::Sender<NetEvent>,
    /// The UDP socket other nodes' bindings are reached over (none: no UDP
    /// listener, rows are written but not read).
    pub udp: Option<ConnId>,
}

/// The running heartbeat; stops when dropped.
pub struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the heartbeat needs.
pub struct NodeSettings {
    /// The store's PostgreSQL URL.
    pub url: String,
    /// This node's instance number.
    pub instance: i64,
    /// Where this node's SIP is reached.
    pub sip_address: String,
    /// How long a lease lasts.
    pub lease: Duration,
}

impl Heartbeat {
    /// Writes the first lease (blocking: call it off the async threads), then
    /// renews it on a thread of its own.
    pub fn start(
        node: NodeSettings,
        feed: broadcast::Sender<MailChange>,
        links: LocationLinks,
    ) -> Result<Self, DbError> {
        let lease_ms = u64::try_from(node.lease.as_millis()).unwrap_or(u64::MAX);
        let mut cluster = Cluster::connect(&node.url, node.instance, &node.sip_address)?;
        cluster.heartbeat(lease_ms)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let beat = (node.lease / 3).max(Duration::from_millis(100));
        let thread = std::thread::Builder::new()
            .name("cpmd-cluster".into())
            .spawn(move || {
                let mut conn = Some(cluster);
                let mut next = Instant::now();
                let mut read_up_to = 0;
                while !stopping.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        next = Instant::now() + beat;
                        if let Err(e) = beat_once(&mut conn, &node, lease_ms, &feed) {
                            tracing::warn!(error = %e, "cluster heartbeat failed; retrying");
                            conn = None;
                        }
                    }
                    if let Err(e) = sync_locations(&mut conn, &node, &links, &mut read_up_to) {
                        tracing::warn!(error = %e, "location rows not synced; retrying");
                        conn = None;
                    }
                    std::thread::sleep(LOCATION_POLL);
                }
            })
            .map_err(|e| DbError(format!("cluster thread: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

/// One beat: renew the lease, take over the dead (SCALE-1, SCALE-2).
fn beat_once(
    conn: &mut Option<Cluster>,
    node: &NodeSettings,
    lease_ms: u64,
    feed: &broadcast::Sender<MailChange>,
) -> Result<(), DbError> {
    if conn.is_none() {
        *conn = Some(Cluster::connect(
            &node.url,
            node.instance,
            &node.sip_address,
        )?);
    }
    let Some(cluster) = conn.as_mut() else {
        return Ok(());
    };
    cluster.heartbeat(lease_ms)?;
    // Rows gone for a minute (or a lease, if longer) were seen go by every node
    // that polls (every `LOCATION_POLL`); a node that starts reads all there are.
    cluster.purge_gone(lease_ms.max(60_000))?;
    for taken in cluster.take_over_expired(feed)? {
        tracing::warn!(
            node = taken.instance,
            sealed = taken.sealed.len(),
            bindings = taken.bindings,
            "took over a dead node: its open sessions sealed as crashed"
        );
        for contribution_id in &taken.sealed {
            tracing::warn!(node = taken.instance, %contribution_id, "session of a dead node sealed as crashed");
        }
    }
    Ok(())
}

/// Writes this node's binding changes, then feeds the rows changed since
/// `read_up_to` (SCALE-4, SCALE-5). A change that failed to be written is lost
/// until that user's next REGISTER or expiry (logged).
fn sync_locations(
    conn: &mut Option<Cluster>,
    node: &NodeSettings,
    links: &LocationLinks,
    read_up_to: &mut i64,
) -> Result<(), DbError> {
    if conn.is_none() {
        *conn = Some(Cluster::connect(
            &node.url,
            node.instance,
            &node.sip_address,
        )?);
    }
    let Some(cluster) = conn.as_mut() else {
        return Ok(());
    };
    while let Ok(change) = links.changes.try_recv() {
        let rows: Vec<(String, String)> = change
            .bindings
            .iter()
            .map(|b| {
                (
                    transport_word(b.flow.transport).to_owned(),
                    b.flow.peer.to_string(),
                )
            })
            .collect();
        let bindings: Vec<BindingRow<'_>> = change
            .bindings
            .iter()
            .zip(&rows)
            .map(|(b, (transport, peer))| BindingRow {
                contact_key: &b.contact_key,
                contact: &b.contact,
                expires_ms: b.expires_in_ms,
                transport,
                flow_peer: peer,
            })
            .collect();
        cluster.replace_bindings(&change.aor, &bindings)?;
    }
    let Some(udp) = links.udp else {
        return Ok(());
    };
    for row in cluster.changed_since(*read_up_to)? {
        *read_up_to = row.version;
        if let Some(binding) = remote_binding(&row, udp) {
            if links
                .net
                .blocking_send(NetEvent::RemoteBinding(binding))
                .is_err()
            {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn transport_word(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}

/// A row as the core takes it: only bindings registered over UDP are reached from
/// another node (a TCP or TLS binding's connection is its node's own).
fn remote_binding(row: &LocationRow, udp: ConnId) -> Option<RemoteBinding> {
    if row.transport != "udp" {
        return None;
    }
    let peer: SocketAddr = row.flow_peer.parse().ok()?;
    Some(RemoteBinding {
        aor: UserUri::new_canonical(row.aor.clone()),
        contact_key: row.contact_key.clone(),
        flow: Flow {
            transport: Transport::Udp,
            conn: udp,
            peer,
        },
        left_ms: row.left_ms,
    })
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
