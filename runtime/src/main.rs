//! # cpmd
//!
//! The cpmd server binary: reads the command line and the configuration file,
//! merges them (flags win), starts logging and a tokio runtime, and calls
//! [`cpmd::serve`]. Everything else (listeners, store, IMAP, the event loop around
//! the core) is the `cpmd` library (`lib.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser};

use cpmd::config::FileConfig;
use cpmd::logging::{self, LogFormat};
use cpmd::{serve, Listen};

mod c_arenas;

/// mimalloc instead of glibc's malloc: the event loop allocates and frees many small
/// short-lived values per SIP message (decoded headers, encoded responses, timer
/// keys); under glibc that was about a fifth of the loop thread's CPU in a profile of
/// `bench/calls.sh` (`_int_malloc`, `_int_free`, `malloc_consolidate`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// cpmd: an OMA CPM (RCS chat) SIP server.
///
/// Listener flags replace the configuration file's `[listen]` section; the first
/// listener given is the address advertised in Via and Contact. Port 0 picks a free
/// port; the bound addresses are printed on one line: `cpmd ready udp=ADDR tcp=ADDR
/// [tls=ADDR] msrp=ADDR [msrps=ADDR] imap=ADDR [imaps=ADDR] [metrics=ADDR]`.
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
    /// Listen for SIP over TLS on ADDR (repeatable; replaces `[listen] tls`; needs
    /// `[tls]`). Default with `[tls]`: the first SIP listener's IP, port 5061 (0 if
    /// that one uses 0).
    #[arg(long, value_name = "ADDR")]
    tls: Vec<SocketAddr>,
    /// Listen for MSRP over TCP on ADDR (repeatable; the first is advertised in
    /// SDP). Default: the first SIP listener's IP, port 2855 (0 if that one uses 0).
    #[arg(long, value_name = "ADDR")]
    msrp: Vec<SocketAddr>,
    /// Listen for MSRP over TLS on ADDR (repeatable; replaces `[listen] msrps`;
    /// needs `[tls]`; the first is advertised in `TCP/TLS/MSRP` SDP).
    #[arg(long, value_name = "ADDR")]
    msrps: Vec<SocketAddr>,
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
    /// Serve IMAP over implicit TLS on ADDR (repeatable; replaces `[listen] imaps`;
    /// needs `[tls]`).
    #[arg(long, value_name = "ADDR")]
    imaps: Vec<SocketAddr>,
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
    /// Log format on stderr: `text`, or `json` (one object per line, for log
    /// shippers). Replaces `[log] format`; default text.
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Serve `/metrics`, `/health` and `/ready` on ADDR (replaces `[metrics] listen`;
    /// default 127.0.0.1:9464, or port 0 when the first SIP listener uses port 0).
    #[arg(long, value_name = "ADDR", conflicts_with = "no_metrics")]
    metrics: Option<SocketAddr>,
    /// No metrics listener (`[metrics] enabled = false`).
    #[arg(long)]
    no_metrics: bool,
    /// Load and validate the configuration (file and flags, TLS files, store URL,
    /// the core's checks) without binding or opening anything; print
    /// `configuration ok` and exit 0, or the error and exit 2.
    #[arg(long)]
    check_config: bool,
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
    c_arenas::one_arena();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).context("reading the command line")?;
    if cli.check_config {
        return match configure(&matches, &cli).and_then(|(file, order, msrp)| {
            Ok(cpmd::check_config::check_config(&file, &order, &msrp)?)
        }) {
            Ok(()) => {
                println!("configuration ok");
                Ok(())
            }
            Err(e) => {
                eprintln!("configuration error: {e:#}");
                std::process::exit(2);
            }
        };
    }
    let (file, order, msrp) = configure(&matches, &cli)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(file, order, msrp, cli.ready_file))?;
    Ok(())
}

/// The configuration file merged with the flags (flags win), the SIP listeners in
/// order and the MSRP listeners; logging starts here, in the format configured.
fn configure(
    matches: &clap::ArgMatches,
    cli: &Cli,
) -> anyhow::Result<(FileConfig, Vec<Listen>, Vec<SocketAddr>)> {
    let mut file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    logging::init(cli.log_format.unwrap_or(file.log.format));
    let order = listeners(matches, cli, &file);
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
    if !cli.tls.is_empty() {
        file.listen.tls.clone_from(&cli.tls);
    }
    if !cli.msrps.is_empty() {
        file.listen.msrps.clone_from(&cli.msrps);
    }
    if !cli.imaps.is_empty() {
        file.listen.imaps.clone_from(&cli.imaps);
    }
    if let Some(i) = cli.instance {
        file.instance = i;
    }
    if let Some(u) = &cli.conference_factory_user {
        file.conference_factory_user.clone_from(u);
    }
    file.trace_input |= cli.trace_input;
    if let Some(a) = cli.metrics {
        file.metrics.listen = Some(a);
        file.metrics.enabled = true;
    }
    if cli.no_metrics {
        file.metrics.enabled = false;
    }
    anyhow::ensure!(!order.is_empty(), "no listener configured");
    let msrp = msrp_listeners(cli, &file, &order);
    Ok((file, order, msrp))
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
