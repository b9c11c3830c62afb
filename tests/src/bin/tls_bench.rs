//! `tls_bench`: the load generator of `bench/tls.sh`. Starts cpmd (`CPMD_BIN`) with
//! a certificate from a CA made here, then, in the same run, opens connections to
//! its plain SIP TCP listener (connect, close) and to its SIP TLS listener (connect,
//! a full TLS handshake verified against that CA, close; session resumption off so
//! every handshake is a full one), from `--threads` threads, `--count` connections
//! per listener. Uses rustls (the `ring` provider) as the client, not cpmd's code.
//!
//! Output: one JSON line per listener `{"mode":"tcp"|"tls","count","threads",
//! "conn_per_s"}` and a last one with `"ratio"` (TCP connects/s over TLS
//! handshakes/s).

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cpmd_tests::test_ca::{server_files, TestCa};
use cpmd_tests::Cpmd;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

struct Args {
    threads: u64,
    count: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        threads: 4,
        count: 5000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--threads", Some(v)) => args.threads = v,
            ("--count", Some(v)) => args.count = v,
            _ => {
                eprintln!("usage: tls_bench [--threads N] [--count N]");
                std::process::exit(2);
            }
        }
    }
    args
}

/// Runs `count` connections to `addr` from `threads` threads; `tls` makes each one
/// complete a full handshake. Returns connections per second.
fn run(addr: SocketAddr, tls: Option<Arc<ClientConfig>>, args: &Args) -> f64 {
    let left = Arc::new(AtomicU64::new(args.count));
    let start = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let left = Arc::clone(&left);
            let tls = tls.clone();
            std::thread::spawn(move || {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let mut sock = TcpStream::connect(addr).expect("connect");
                    if let Some(config) = &tls {
                        let name = ServerName::IpAddress(addr.ip().into());
                        let mut conn =
                            ClientConnection::new(Arc::clone(config), name).expect("client");
                        while conn.is_handshaking() {
                            conn.complete_io(&mut sock).expect("tls handshake");
                        }
                        conn.send_close_notify();
                        let _ = conn.complete_io(&mut sock);
                    }
                    let _ = sock.flush();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    args.count as f64 / start.elapsed().as_secs_f64()
}

#[allow(deprecated)] // ring, as cpmd itself (runtime/src/tls/mod.rs, `provider`)
fn client_config(ca_file: &std::path::Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca_file).expect("CA pem"))
        .expect("CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

fn main() {
    let args = parse_args();
    let pki = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let (cert, key) = server_files(pki.path());
    ca.issue(&["127.0.0.1"], &cert, &key);
    let config = format!(
        "[tls]\ncertificate = {:?}\nkey = {:?}\n[limits]\nmax_connections_per_ip = 100000\n",
        cert.display().to_string(),
        key.display().to_string(),
    );
    let mut cpmd = Cpmd::start_with_config(
        Some(&config),
        &["--tcp", "127.0.0.1:0", "--tls", "127.0.0.1:0"],
    );
    let addr = |kind: &str| {
        cpmd.bound
            .iter()
            .find(|(t, _)| t == kind)
            .map(|(_, a)| *a)
            .expect("listener in the ready line")
    };
    let (tcp, tls) = (addr("tcp"), addr("tls"));
    let tcp_rate = run(tcp, None, &args);
    let tls_rate = run(tls, Some(client_config(&ca_file)), &args);
    for (mode, rate) in [("tcp", tcp_rate), ("tls", tls_rate)] {
        println!(
            "{{\"mode\":\"{mode}\",\"count\":{},\"threads\":{},\"conn_per_s\":{rate:.0}}}",
            args.count, args.threads
        );
    }
    println!("{{\"ratio\":{:.1}}}", tcp_rate / tls_rate);
    cpmd.stop();
}
