//! The node's part in a cluster (specs/scale-out.md): a plain thread that renews
//! this node's lease every third of the lease (SCALE-1) and, each time, takes over
//! the nodes whose lease ran out and whose connection is gone (SCALE-2).
//!
//! A plain thread, not a tokio task: the PostgreSQL client blocks (`store/postgres.rs`).
//! A database error is logged and retried at the next beat over a new connection.
//!
//! What it is *not*: the rows and the take-over itself (`store/cluster.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::mailstore::MailChange;
use crate::store::cluster::Cluster;
use crate::store::sql::DbError;

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
    pub fn start(node: NodeSettings, feed: broadcast::Sender<MailChange>) -> Result<Self, DbError> {
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
                while !stopping.load(Ordering::Relaxed) {
                    if Instant::now() < next {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    next = Instant::now() + beat;
                    if let Err(e) = beat_once(&mut conn, &node, lease_ms, &feed) {
                        tracing::warn!(error = %e, "cluster heartbeat failed; retrying");
                        conn = None;
                    }
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

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
