//! # cpmd
//!
//! The cpmd server as a library: a tokio runtime around the sans-IO protocol core
//! `cpmd-core`. [`serve`] binds the SIP listeners (UDP and TCP, IPv4 and IPv6) and
//! the MSRP listeners of the back-to-back MSRP endpoint (the core decides what to do
//! with their bytes), opens the message store ([`store`]: SQLite by default,
//! PostgreSQL by URL), serves IMAP over it ([`imap`], reading the [`mailstore`]
//! view), prints a machine-readable ready line ([`ready`]) and runs one event loop
//! ([`event_loop`]) that owns the core until SIGINT/SIGTERM.
//!
//! The binary `cpmd` (`main.rs`) only parses flags and the configuration file
//! ([`config`]) and calls [`serve`]; benches and tests use the same modules (the
//! store's write path, the [`mailstore::MailStore`] reader).
//!
//! TLS ([`tls`]): one certificate configuration, reloaded on SIGHUP, used by the
//! SIP-over-TLS listeners (`transport::tls`), the IMAPS listeners and IMAP
//! STARTTLS; a client configuration for the TLS connections cpmd opens itself.
//!
//! Not here: the protocol logic (all of it is in `cpmd-core`), metrics.

pub mod check_config;
pub mod cluster;
pub mod cluster_config;
pub mod config;
pub mod deferred_config;
pub mod event_loop;
pub mod files;
pub mod imap;
pub mod logging;
pub mod mailstore;
pub mod metrics;
pub mod push;
pub mod ready;
pub mod store;
pub mod tls;
pub mod trace;
pub mod transport;
pub mod trust_config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::{FileConfig, FileConfigError};
use crate::event_loop::{EventLoop, Parts};
use crate::imap::ImapListener;
use crate::metrics::http::MetricsListener;
use crate::metrics::Metrics;
use crate::ready::{AnnounceError, Bound};
use crate::store::sql::DbError;
use crate::transport::tcp::{TcpSettings, TcpSipListener};
use crate::transport::udp::UdpListener;
use crate::transport::ConnIds;

/// Capacity of the channel from the socket tasks to the event loop.
const NET_QUEUE: usize = 4096;

/// A listener to bind, in command-line (or file) order.
#[derive(Debug, Clone, Copy)]
pub enum Listen {
    /// SIP over UDP.
    Udp(SocketAddr),
    /// SIP over TCP.
    Tcp(SocketAddr),
}

/// Why [`serve`] could not start or stop cleanly. Each message names the step and
/// the address or path; the cause is the error's source.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A SIP or MSRP listener cannot be bound.
    #[error("binding {what} {addr}")]
    Bind {
        /// `udp`, `tcp`, `msrp` or `imaps`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The IMAP listener cannot be bound.
    #[error("binding imap {addr}")]
    BindImap {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No SIP listener was given (the first is the advertised address).
    #[error("no sip listener configured")]
    NoSipListener,
    /// No MSRP listener was given.
    #[error("no msrp listener configured")]
    NoMsrpListener,
    /// The configuration file's values cannot be used.
    #[error(transparent)]
    Config(#[from] FileConfigError),
    /// The data directory cannot be created or made private (SEC-8).
    #[error("creating the data directory {}", dir.display())]
    DataDir {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `[tls]` certificate, key or client CA cannot be loaded.
    #[error("tls")]
    Tls(#[from] tls::TlsError),
    /// `[listen] imaps` without a `[tls]` certificate and key.
    #[error("[listen] imaps needs a [tls] certificate and key")]
    ImapsWithoutTls,
    /// `[listen] msrps` (`--msrps`) without a `[tls]` certificate and key.
    #[error("[listen] msrps needs a [tls] certificate and key")]
    MsrpsWithoutTls,
    /// `[listen] tls` (`--tls`) without a `[tls]` certificate and key.
    #[error("[listen] tls needs a [tls] certificate and key")]
    SipTlsWithoutTls,
    /// The core refuses the configuration.
    #[error("invalid configuration")]
    InvalidConfig(#[source] cpmd_core::server::ConfigError),
    /// The task opening the store did not finish.
    #[error("store open task")]
    StoreOpenTask(#[source] tokio::task::JoinError),
    /// The message store cannot be opened.
    #[error("opening the message store {url}")]
    StoreOpen {
        /// The store's URL.
        url: store::StoreUrl,
        /// Why.
        source: DbError,
    },
    /// The input trace cannot be opened.
    #[error("opening the input trace in {}", dir.display())]
    Trace {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The ready line cannot be announced.
    #[error(transparent)]
    Announce(#[from] AnnounceError),
    /// `[push] url` does not parse.
    #[error(transparent)]
    Push(#[from] push::PushUrlError),
    /// `[cluster] enabled` with a store that is not PostgreSQL.
    #[error("[cluster] enabled needs a PostgreSQL store (store = \"postgres://…\")")]
    ClusterNeedsPostgres,
    /// The cluster lease cannot be written (specs/scale-out.md).
    #[error("starting the cluster heartbeat")]
    Cluster(#[source] DbError),
    /// The store task ended abnormally.
    #[error("store task")]
    StoreTask(#[source] tokio::task::JoinError),
}

/// Runs the server until SIGINT or SIGTERM: binds the SIP listeners in `order` (the
/// first is the address advertised in Via and Contact) and the `msrp` listeners,
/// opens the store, serves IMAP, announces the bound addresses (stdout and
/// `ready_file`), then runs the event loop and shuts down gracefully.
pub async fn serve(
    file: FileConfig,
    order: Vec<Listen>,
    msrp: Vec<SocketAddr>,
    ready_file: Option<PathBuf>,
) -> Result<(), ServeError> {
    let origin = Instant::now();
    // TLS first: a bad certificate refuses to start before anything is bound.
    let tls = tls::load(&file)?;
    let ids = ConnIds::new();
    let (net_tx, net_rx) = mpsc::channel(NET_QUEUE);
    let tcp_settings = TcpSettings {
        open: Arc::new(AtomicUsize::new(0)),
        max_connections: file.limits.max_connections,
        idle_timeout: Duration::from_secs(file.limits.tcp_idle_timeout_s.max(1)),
        write_queue_bytes: file.limits.tcp_write_queue_bytes,
        write_timeout: Duration::from_secs(file.limits.tcp_write_timeout_s.max(1)),
        max_per_ip: file.limits.max_connections_per_ip,
        first_bytes_timeout: Duration::from_secs(file.limits.tcp_first_bytes_timeout_s.max(1)),
    };
    // The first SIP listener as asked for (port 0 not yet resolved).
    let requested = order.first().map(|l| match l {
        Listen::Udp(a) | Listen::Tcp(a) => *a,
    });
    let requested_first = requested;
    let mut bound = Vec::new();
    let mut udp = Vec::new();
    for l in order {
        match l {
            Listen::Udp(addr) => {
                let sock = UdpListener::bind(addr, ids.conn())
                    .await
                    .map_err(|source| ServeError::Bind {
                        what: "udp",
                        addr,
                        source,
                    })?;
                bound.push(Bound::Udp(sock.local));
                udp.push(sock);
            }
            Listen::Tcp(addr) => {
                let listener =
                    TcpSipListener::bind(addr)
                        .await
                        .map_err(|source| ServeError::Bind {
                            what: "tcp",
                            addr,
                            source,
                        })?;
                bound.push(Bound::Tcp(listener.local));
                listener.spawn_acceptor(
                    ids.clone(),
                    tcp_settings.clone(),
                    net_tx.clone(),
                    false,
                    None,
                );
            }
        }
    }
    let advertised = match bound.first().ok_or(ServeError::NoSipListener)? {
        Bound::Udp(a)
        | Bound::Tcp(a)
        | Bound::Tls(a)
        | Bound::Msrp(a)
        | Bound::Msrps(a)
        | Bound::Imap(a)
        | Bound::Imaps(a)
        | Bound::Metrics(a) => *a,
    };
    // SIP over TLS: after the plain listeners, so the first of those stays the
    // advertised address; Via and Contact on TLS flows name the first TLS port.
    let mut tls_port = None;
    let requested = requested.unwrap_or(advertised);
    for addr in sip_tls_listeners(&file, requested, tls.is_some()) {
        let server_tls = tls.clone().ok_or(ServeError::SipTlsWithoutTls)?;
        let listener = TcpSipListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "tls",
                addr,
                source,
            })?;
        bound.push(Bound::Tls(listener.local));
        tls_port.get_or_insert(listener.local.port());
        listener.spawn_acceptor(
            ids.clone(),
            tcp_settings.clone(),
            net_tx.clone(),
            false,
            Some(server_tls),
        );
    }
    let client_tls = tls.as_ref().and_then(tls::Tls::peer);
    // The MSRP listeners are bound before the core exists, so the port the OS
    // picked (port 0) is what every SDP advertises.
    let mut msrp_advertised = None;
    for addr in msrp {
        let listener = TcpSipListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "msrp",
                addr,
                source,
            })?;
        bound.push(Bound::Msrp(listener.local));
        let local = listener.local;
        let shown = if local.ip().is_unspecified() {
            // An unspecified address cannot be put in SDP: the SIP address stands in.
            SocketAddr::new(advertised.ip(), local.port())
        } else {
            local
        };
        msrp_advertised.get_or_insert(shown);
        listener.spawn_acceptor(
            ids.clone(),
            tcp_settings.clone(),
            net_tx.clone(),
            true,
            None,
        );
    }
    let msrp_advertised = msrp_advertised.ok_or(ServeError::NoMsrpListener)?;
    let mut msrps_advertised = None;
    for addr in &file.listen.msrps {
        let server_tls = tls.clone().ok_or(ServeError::MsrpsWithoutTls)?;
        let listener = TcpSipListener::bind(*addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "msrps",
                addr: *addr,
                source,
            })?;
        bound.push(Bound::Msrps(listener.local));
        let local = listener.local;
        let shown = if local.ip().is_unspecified() {
            SocketAddr::new(advertised.ip(), local.port())
        } else {
            local
        };
        msrps_advertised.get_or_insert(shown);
        listener.spawn_acceptor(
            ids.clone(),
            tcp_settings.clone(),
            net_tx.clone(),
            true,
            Some(server_tls),
        );
    }
    let mut core = file.core_config(advertised, msrp_advertised, config::token_key()?)?;
    core.advertised_tls_port = tls_port;
    core.msrp.advertised_tls = msrps_advertised;
    core.share_locations = file.cluster.enabled;
    core.validate().map_err(ServeError::InvalidConfig)?;
    if core.auth.is_none() {
        // SEC-5: one loud line, so nobody runs this in production by accident.
        tracing::warn!(
            "digest authentication is off: the server trusts source addresses (a request \
             is the user registered from its address and port; anyone who can send from, \
             or spoof over UDP, that address is that user); set [auth] enabled = true"
        );
    }
    tracing::info!(domain = %core.domain, %advertised, msrp = %msrp_advertised, data_dir = %file.data_dir.display(), "starting");
    // SEC-8: the data directory holds the database and the trace: owner only.
    files::private_dir(&file.data_dir).map_err(|source| ServeError::DataDir {
        dir: file.data_dir.clone(),
        source,
    })?;
    let url = file.store_url()?;
    let cluster_url = match (&url, file.cluster.enabled) {
        (store::StoreUrl::Postgres(u), true) => Some(u.clone()),
        (store::StoreUrl::Sqlite(_), true) => return Err(ServeError::ClusterNeedsPostgres),
        (_, false) => None,
    };
    let instance = file.instance;
    let store_at = url.clone();
    let quota = file.limits.user_quota_bytes;
    // Opening blocks (and the PostgreSQL client must not run on a runtime thread).
    let opened =
        tokio::task::spawn_blocking(move || store::open_limited(&store_at, instance, quota))
            .await
            .map_err(ServeError::StoreOpenTask)?
            .map_err(|source| ServeError::StoreOpen {
                url: url.clone(),
                source,
            })?;
    tracing::info!(store = %url, "message store open");
    for contribution_id in &opened.recovered {
        tracing::warn!(%contribution_id, "session left open by a crash sealed as crashed");
    }
    // specs/scale-out.md: this node's lease, taking over dead nodes, location rows.
    let mut locations = None;
    let _heartbeat = match cluster_url {
        Some(url) => {
            let node = cluster::NodeSettings {
                url,
                instance: i64::try_from(instance).unwrap_or(i64::MAX),
                sip_address: file.cluster.node_address.unwrap_or(advertised).to_string(),
                lease: Duration::from_secs(file.cluster.lease_s.max(1)),
            };
            let feed = opened.feed.clone();
            let (tx, changes) = std::sync::mpsc::channel();
            locations = Some(tx);
            let links = cluster::LocationLinks {
                changes,
                net: net_tx.clone(),
                udp: udp.first().map(|u| u.conn),
            };
            let beat =
                tokio::task::spawn_blocking(move || cluster::Heartbeat::start(node, feed, links))
                    .await
                    .map_err(ServeError::StoreOpenTask)?
                    .map_err(ServeError::Cluster)?;
            tracing::info!(instance, "cluster lease written");
            Some(beat)
        }
        None => None,
    };
    // The mailbox view, read by the IMAP server's connections.
    let imap = ImapListener::bind(file.imap.listen)
        .await
        .map_err(|source| ServeError::BindImap {
            addr: file.imap.listen,
            source,
        })?;
    bound.push(Bound::Imap(imap.local));
    // SEC-4f: IMAP failures count in the core's table, with SIP digest's.
    let users = imap::Users::new(&core.domain, file.auth.passwords.clone())
        .with_gate(imap::login_limit::LoginGate::core(net_tx.clone()));
    let plain_mode = match &tls {
        Some(tls) => imap::Mode::StartTls {
            tls: tls.clone(),
            plaintext_login_on_loopback: file.imap.plaintext_login_on_loopback,
        },
        None => imap::Mode::Plain,
    };
    let mut imap_open = vec![imap.spawn_with(
        opened.mail.clone(),
        users.clone(),
        file.imap.settings(),
        plain_mode,
    )];
    for addr in &file.listen.imaps {
        let tls = tls.clone().ok_or(ServeError::ImapsWithoutTls)?;
        let imaps = ImapListener::bind(*addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "imaps",
                addr: *addr,
                source,
            })?;
        bound.push(Bound::Imaps(imaps.local));
        let mode = imap::Mode::Implicit(tls);
        imap_open.push(imaps.spawn_with(
            opened.mail.clone(),
            users.clone(),
            file.imap.settings(),
            mode,
        ));
    }
    let store = opened.history;
    let trace = if file.trace_input {
        let trace =
            trace::InputTrace::open(&file.data_dir, &core).map_err(|source| ServeError::Trace {
                dir: file.data_dir.clone(),
                source,
            })?;
        tracing::info!(path = %trace.path().display(), "recording network input");
        Some(trace)
    } else {
        None
    };
    // The metrics listener last: `/ready` answers 503 until the ready line is out.
    let metrics = match file.metrics.address(requested_first) {
        Some(addr) => {
            let listener =
                MetricsListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Bind {
                        what: "metrics",
                        addr,
                        source,
                    })?;
            bound.push(Bound::Metrics(listener.local));
            let metrics = Arc::new(Metrics::new());
            listener.spawn(Arc::clone(&metrics));
            Some(metrics)
        }
        None => None,
    };
    let (store_tx, store_jobs) = mpsc::unbounded_channel();
    let (store_done, store_rx) = mpsc::unbounded_channel();
    let batches = metrics.clone();
    let store_task = store::spawn_store_task_observed(store, store_jobs, store_done, move |n| {
        if let Some(m) = &batches {
            m.store_batch(n);
        }
    });
    // Deferred messaging (specs/deferred.md): what the store still holds, as inputs
    // before any network input, and the push hook.
    let mut server = cpmd_core::Server::new(core);
    server.set_wall_clock(cpmd_core::WallClock::from_unix_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    ));
    let restored = opened.deferred;
    if !restored.messages.is_empty() {
        tracing::info!(
            messages = restored.messages.len(),
            "deferred messages restored"
        );
    }
    server.add_known_users(restored.known_users);
    let since_origin = u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
    server.restore_deferred(cpmd_core::Time::from_ms(since_origin), restored.messages);
    let push = push::PushHook::start(&file.push).map_err(ServeError::Push)?;
    let parts = Parts {
        server,
        udp,
        ids,
        tcp_settings,
        net: (net_tx, net_rx),
        store_tx,
        store_rx,
        trace,
        client_tls,
        metrics: metrics.clone(),
        imap_open,
    };
    ready::announce(&bound, ready_file.as_deref())?;
    if let Some(m) = &metrics {
        m.set_ready(true);
    }
    EventLoop::new(parts, origin)
        .with_push(push)
        .with_locations(locations)
        .run(shutdown_signal())
        .await;
    store_task.await.map_err(ServeError::StoreTask)?;
    tracing::info!("stopped");
    Ok(())
}

/// The SIP-over-TLS listeners: `[listen] tls` (or `--tls`), else, with `[tls]`
/// configured, one on the first SIP listener's IP, port 5061 (port 0 when that one
/// asks for port 0, so test instances never collide).
fn sip_tls_listeners(file: &FileConfig, first: SocketAddr, configured: bool) -> Vec<SocketAddr> {
    if !file.listen.tls.is_empty() {
        return file.listen.tls.clone();
    }
    if !configured {
        return Vec::new();
    }
    let port = if first.port() == 0 { 0 } else { 5061 };
    vec![SocketAddr::new(first.ip(), port)]
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        _ = term.recv() => tracing::info!("SIGTERM"),
    }
}
