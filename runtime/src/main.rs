//! # cpmd
//!
//! The cpmd server binary: a tokio runtime around the sans-IO protocol core
//! `cpmd-core`. It binds the SIP listeners (UDP and TCP, IPv4 and IPv6), prints a
//! machine-readable ready line, and runs one event loop that owns the core.
//! It also binds the MSRP listeners of the back-to-back MSRP endpoint (the core
//! decides what to do with their bytes). What the core persists goes to the
//! message store (`store/`: SQLite by default, PostgreSQL by URL). Not here yet:
//! TLS, metrics.

mod config;
mod event_loop;
mod files;
mod imap;
mod mailstore;
mod ready;
mod store;
mod trace;
mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser};
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

/// cpmd: an OMA CPM (RCS chat) SIP server.
///
/// Listener flags replace the configuration file's `[listen]` section; the first
/// listener given is the address advertised in Via and Contact. Port 0 picks a free
/// port; the bound addresses are printed on one line: `cpmd ready udp=ADDR tcp=ADDR
/// msrp=ADDR imap=ADDR`.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML configuration file (see cpmd.example.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen for SIP over UDP on ADDR (repeatable), e.g. 127.0.0.1:5060 or [::1]:0.
    #[arg(long, value_name = "ADDR")]
    udp: Vec<SocketAddr>,
    /// Listen for SIP over TCP on ADDR (repeatable).
    #[arg(long, value_name = "ADDR")]
    tcp: Vec<SocketAddr>,
    /// Listen for MSRP over TCP on ADDR (repeatable; the first is advertised in
    /// SDP). Default: the first SIP listener's IP, port 2855 (0 if that one uses 0).
    #[arg(long, value_name = "ADDR")]
    msrp: Vec<SocketAddr>,
    /// The SIP domain served.
    #[arg(long)]
    domain: Option<String>,
    /// Data directory (the default SQLite store `cpmd.db`, the input trace).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The message store: `sqlite:PATH` or `postgres://USER:PASSWORD@HOST/DB`
    /// (default: `sqlite:<data-dir>/cpmd.db`).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Serve IMAP (the users' message store) on ADDR (default 127.0.0.1:1143;
    /// port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    imap: Option<SocketAddr>,
    /// Instance number (part of the ID seed).
    #[arg(long)]
    instance: Option<u64>,
    /// User part of the conference-factory URI.
    #[arg(long, value_name = "USER")]
    conference_factory_user: Option<String>,
    /// Also write the ready line to this file.
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// Append every network input (datagram, stream chunk, closed connection) with
    /// its flow and time to input-trace.jsonl in the data directory (for replay).
    #[arg(long)]
    trace_input: bool,
}

/// A listener to bind, in command-line (or file) order.
#[derive(Debug, Clone, Copy)]
enum Listen {
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

/// The listeners in the order given: flags (ordered by position on the command
/// line) when any, else the file's UDP then TCP lists.
fn listeners(matches: &clap::ArgMatches, cli: &Cli, file: &FileConfig) -> Vec<Listen> {
    if cli.udp.is_empty() && cli.tcp.is_empty() {
        let udp = file.listen.udp.iter().map(|a| Listen::Udp(*a));
        return udp
            .chain(file.listen.tcp.iter().map(|a| Listen::Tcp(*a)))
            .collect();
    }
    let mut ordered: Vec<(usize, Listen)> = Vec::new();
    let positions = |name: &str| -> Vec<usize> {
        matches
            .indices_of(name)
            .map(|i| i.collect())
            .unwrap_or_default()
    };
    for (i, a) in positions("udp").into_iter().zip(&cli.udp) {
        ordered.push((i, Listen::Udp(*a)));
    }
    for (i, a) in positions("tcp").into_iter().zip(&cli.tcp) {
        ordered.push((i, Listen::Tcp(*a)));
    }
    ordered.sort_by_key(|(i, _)| *i);
    ordered.into_iter().map(|(_, l)| l).collect()
}

fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).context("reading the command line")?;
    init_logging();
    let mut file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let order = listeners(&matches, &cli, &file);
    if let Some(d) = &cli.domain {
        file.domain.clone_from(d);
    }
    if let Some(d) = &cli.data_dir {
        file.data_dir.clone_from(d);
    }
    if let Some(s) = &cli.store {
        file.store = Some(s.clone());
    }
    if let Some(a) = cli.imap {
        file.imap.listen = a;
    }
    if let Some(i) = cli.instance {
        file.instance = i;
    }
    if let Some(u) = &cli.conference_factory_user {
        file.conference_factory_user.clone_from(u);
    }
    file.trace_input |= cli.trace_input;
    anyhow::ensure!(!order.is_empty(), "no listener configured");
    let msrp = msrp_listeners(&cli, &file, &order);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(file, order, msrp, cli.ready_file))
}

/// The MSRP listeners: `--msrp` flags, else the file's `[listen] msrp`, else one
/// on the first SIP listener's IP, port 2855 (port 0 when that one uses port 0, so
/// test instances never collide).
fn msrp_listeners(cli: &Cli, file: &FileConfig, order: &[Listen]) -> Vec<SocketAddr> {
    if !cli.msrp.is_empty() {
        return cli.msrp.clone();
    }
    if !file.listen.msrp.is_empty() {
        return file.listen.msrp.clone();
    }
    let first = match order.first() {
        Some(Listen::Udp(a) | Listen::Tcp(a)) => *a,
        None => return Vec::new(),
    };
    let port = if first.port() == 0 { 0 } else { 2855 };
    vec![SocketAddr::new(first.ip(), port)]
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn serve(
    file: FileConfig,
    order: Vec<Listen>,
    msrp: Vec<SocketAddr>,
    ready_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let origin = Instant::now();
    let ids = ConnIds::new();
    let (net_tx, net_rx) = mpsc::channel(NET_QUEUE);
    let tcp_settings = TcpSettings {
        open: Arc::new(AtomicUsize::new(0)),
        max_connections: file.limits.max_connections,
        idle_timeout: Duration::from_secs(file.limits.tcp_idle_timeout_s.max(1)),
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
        Bound::Udp(a) | Bound::Tcp(a) | Bound::Msrp(a) | Bound::Imap(a) => a,
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
    imap.spawn(opened.mail.clone(), users, file.imap.settings());
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
