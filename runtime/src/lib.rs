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
//! IMAPS listeners and IMAP STARTTLS.
//!
//! Not here: the protocol logic (all of it is in `cpmd-core`), SIP and MSRP over
//! TLS, metrics.

pub mod config;
pub mod event_loop;
pub mod files;
pub mod imap;
pub mod mailstore;
pub mod ready;
pub mod store;
pub mod tls;
pub mod trace;
pub mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::config::FileConfig;
use crate::event_loop::{EventLoop, Parts};
use crate::imap::ImapListener;
use crate::ready::Bound;
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

/// Runs the server until SIGINT or SIGTERM: binds the SIP listeners in `order` (the
/// first is the address advertised in Via and Contact) and the `msrp` listeners,
/// opens the store, serves IMAP, announces the bound addresses (stdout and
/// `ready_file`), then runs the event loop and shuts down gracefully.
pub async fn serve(
    file: FileConfig,
    order: Vec<Listen>,
    msrp: Vec<SocketAddr>,
    ready_file: Option<PathBuf>,
) -> anyhow::Result<()> {
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
    let mut bound = Vec::new();
    let mut udp = Vec::new();
    for l in order {
        match l {
            Listen::Udp(addr) => {
                let sock = UdpListener::bind(addr, ids.conn())
                    .await
                    .with_context(|| format!("binding udp {addr}"))?;
                sock.spawn_receiver(net_tx.clone());
                bound.push(Bound::Udp(sock.local));
                udp.push(sock);
            }
            Listen::Tcp(addr) => {
                let listener = TcpSipListener::bind(addr)
                    .await
                    .with_context(|| format!("binding tcp {addr}"))?;
                bound.push(Bound::Tcp(listener.local));
                listener.spawn_acceptor(ids.clone(), tcp_settings.clone(), net_tx.clone(), false);
            }
        }
    }
    let advertised = match bound[0] {
        Bound::Udp(a) | Bound::Tcp(a) | Bound::Msrp(a) | Bound::Imap(a) | Bound::Imaps(a) => a,
    };
    // The MSRP listeners are bound before the core exists, so the port the OS
    // picked (port 0) is what every SDP advertises.
    let mut msrp_advertised = None;
    for addr in msrp {
        let listener = TcpSipListener::bind(addr)
            .await
            .with_context(|| format!("binding msrp {addr}"))?;
        bound.push(Bound::Msrp(listener.local));
        let local = listener.local;
        let shown = if local.ip().is_unspecified() {
            // An unspecified address cannot be put in SDP: the SIP address stands in.
            SocketAddr::new(advertised.ip(), local.port())
        } else {
            local
        };
        msrp_advertised.get_or_insert(shown);
        listener.spawn_acceptor(ids.clone(), tcp_settings.clone(), net_tx.clone(), true);
    }
    let msrp_advertised = msrp_advertised.context("no msrp listener configured")?;
    let core = file.core_config(advertised, msrp_advertised, config::token_key()?)?;
    core.validate().context("invalid configuration")?;
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
    files::private_dir(&file.data_dir)
        .with_context(|| format!("creating the data directory {}", file.data_dir.display()))?;
    let url = file.store_url()?;
    let instance = file.instance;
    let store_at = url.clone();
    // Opening blocks (and the PostgreSQL client must not run on a runtime thread).
    let opened = tokio::task::spawn_blocking(move || store::open(&store_at, instance))
        .await
        .context("store open task")?
        .with_context(|| format!("opening the message store {url}"))?;
    tracing::info!(store = %url, "message store open");
    for contribution_id in &opened.recovered {
        tracing::warn!(%contribution_id, "session left open by a crash sealed as crashed");
    }
    // The mailbox view, read by the IMAP server's connections.
    let imap = ImapListener::bind(file.imap.listen)
        .await
        .with_context(|| format!("binding imap {}", file.imap.listen))?;
    bound.push(Bound::Imap(imap.local));
    let users = imap::Users::new(&core.domain, file.auth.passwords.clone());
    let plain_mode = match &tls {
        Some(tls) => imap::Mode::StartTls {
            tls: tls.clone(),
            plaintext_login_on_loopback: file.imap.plaintext_login_on_loopback,
        },
        None => imap::Mode::Plain,
    };
    imap.spawn_with(
        opened.mail.clone(),
        users.clone(),
        file.imap.settings(),
        plain_mode,
    );
    for addr in &file.listen.imaps {
        let tls = tls
            .clone()
            .context("[listen] imaps needs a [tls] certificate and key")?;
        let imaps = ImapListener::bind(*addr)
            .await
            .with_context(|| format!("binding imaps {addr}"))?;
        bound.push(Bound::Imaps(imaps.local));
        let mode = imap::Mode::Implicit(tls);
        imaps.spawn_with(
            opened.mail.clone(),
            users.clone(),
            file.imap.settings(),
            mode,
        );
    }
    let store = opened.history;
    let trace = if file.trace_input {
        let trace = trace::InputTrace::open(&file.data_dir, &core)
            .with_context(|| format!("opening the input trace in {}", file.data_dir.display()))?;
        tracing::info!(path = %trace.path().display(), "recording network input");
        Some(trace)
    } else {
        None
    };
    let (store_tx, store_jobs) = mpsc::unbounded_channel();
    let (store_done, store_rx) = mpsc::unbounded_channel();
    let store_task = store::spawn_store_task(store, store_jobs, store_done);
    let parts = Parts {
        server: cpmd_core::Server::new(core),
        udp,
        ids,
        tcp_settings,
        net: (net_tx, net_rx),
        store_tx,
        store_rx,
        trace,
    };
    ready::announce(&bound, ready_file.as_deref())?;
    EventLoop::new(parts, origin).run(shutdown_signal()).await;
    store_task.await.context("store task")?;
    tracing::info!("stopped");
    Ok(())
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
