//! Outbound TCP connects on real loopback sockets: a refusal the kernel knows when
//! `connect` returns is reported at once, without a connection task; a connect
//! that succeeds carries the bytes queued before it was up.

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpmd_core::ConnId;
use tokio::sync::mpsc;

use super::tcp::{spawn_connect, TcpSettings};

fn settings() -> TcpSettings {
    TcpSettings {
        open: Arc::new(AtomicUsize::new(0)),
        max_connections: 16,
        idle_timeout: Duration::from_secs(30),
        write_queue_bytes: 1 << 20,
        write_timeout: Duration::from_secs(5),
        max_per_ip: 16,
        first_bytes_timeout: Duration::from_secs(5),
    }
}

/// A loopback address nothing listens on (a port bound, then released).
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn a_connect_refused_at_once_is_an_error_and_starts_no_task() {
    let s = settings();
    let (tx, mut rx) = mpsc::channel(4);
    let peer = closed_port();
    let got = spawn_connect(ConnId::new(7), 1, peer, &s, tx, None);
    let e = got.expect_err("loopback refuses a closed port before connect returns");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    // No connection was counted, and no task will report anything.
    assert_eq!(s.open.load(Ordering::Relaxed), 0);
    tokio::task::yield_now().await;
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_connect_that_succeeds_carries_the_queued_bytes() {
    let s = settings();
    let (tx, _rx) = mpsc::channel(4);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = listener.local_addr().unwrap();
    let writer = spawn_connect(ConnId::new(8), 2, peer, &s, tx, None).expect("the connect starts");
    // Counted from the start (until its task ends).
    assert_eq!(s.open.load(Ordering::Relaxed), 1);
    // Queued before the connection is up: sent once it is.
    writer.send(b"MSRP a SEND\r\n".to_vec()).unwrap();
    let (mut accepted, _) = tokio::task::spawn_blocking(move || listener.accept())
        .await
        .unwrap()
        .unwrap();
    accepted
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 13];
    tokio::task::spawn_blocking(move || accepted.read_exact(&mut buf).map(|()| buf))
        .await
        .unwrap()
        .map(|b| assert_eq!(&b, b"MSRP a SEND\r\n"))
        .unwrap();
}
