//! `tls_bench`: the load generator of `bench/tls.sh`. Starts cpmd (`CPMD_BIN`) with
//! a certificate from a CA made here, then, in the same run, opens connections to
//! its plain SIP TCP listener and to its SIP TLS listener, and on each sends one SIP
//! OPTIONS, reads cpmd's 200 and closes: the same request on both, so the ratio is
//! what the TLS handshake adds to it (a full handshake, verified against that CA,
//! session resumption off). `--threads` threads, `--count` connections per listener.
//! Uses rustls (the `ring` provider) as the client, not cpmd's code.
//!
//! Output: one JSON line per listener `{"mode":"tcp"|"tls","count","threads",
//! "conn_per_s"}` (connections each answered one OPTIONS, per second) and a last one
//! with `"ratio"` (plain TCP over TLS).

use std::io::{Read, Write};
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

/// One OPTIONS over `stream` (plain or TLS), from `local`: waits for the whole 200.
fn options(stream: &mut impl ReadWrite, local: SocketAddr, transport: &str, n: u64) {
    let request = format!(
        "OPTIONS sip:cpmd@example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-bench-{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bench@example.com>;tag=b{n}\r\n\
         To: <sip:cpmd@example.com>\r\nCall-ID: bench-{n}@{local}\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send OPTIONS");
    stream.flush().expect("flush OPTIONS");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The answer has no body (Content-Length: 0): the end of its head is its end.
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).expect("read the answer");
        assert!(n > 0, "cpmd closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Runs `count` connections to `addr` from `threads` threads, one OPTIONS answered
/// on each; `tls` makes each one complete a full handshake first. Returns
/// connections per second.
fn run(addr: SocketAddr, tls: Option<Arc<ClientConfig>>, args: &Args) -> f64 {
    let left = Arc::new(AtomicU64::new(args.count));
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let left = Arc::clone(&left);
            let sent = Arc::clone(&sent);
            let tls = tls.clone();
            std::thread::spawn(move || {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    let mut sock = TcpStream::connect(addr).expect("connect");
                    let local = sock.local_addr().expect("local address");
                    match &tls {
                        Some(config) => {
                            let name = ServerName::IpAddress(addr.ip().into());
                            let mut conn =
                                ClientConnection::new(Arc::clone(config), name).expect("client");
                            while conn.is_handshaking() {
                                conn.complete_io(&mut sock).expect("tls handshake");
                            }
                            let mut stream = rustls::Stream::new(&mut conn, &mut sock);
                            options(&mut stream, local, "TLS", n);
                            conn.send_close_notify();
                            let _ = conn.complete_io(&mut sock);
                        }
                        None => options(&mut sock, local, "TCP", n),
                    }
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
