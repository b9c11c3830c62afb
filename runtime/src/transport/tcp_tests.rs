//! Outbound TCP connects on real loopback sockets: a refusal the kernel knows when
//! `connect` returns is reported at once, without a connection task; a connect
//! that succeeds carries the bytes queued before it was up; a refused connect's
//! socket serves the next connect.

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpmd_core::ConnId;
use tokio::sync::mpsc;

use super::tcp::{spawn_connect, Spare, TcpSettings};

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
    let got = spawn_connect(ConnId::new(7), 1, peer, &s, tx, None, &mut Spare::default());
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
    let writer = spawn_connect(ConnId::new(8), 2, peer, &s, tx, None, &mut Spare::default())
        .expect("the connect starts");
    // Counted from the start (until its task ends).
    assert_eq!(s.open.load(Ordering::Relaxed), 1);
    // Queued before the connection is up: sent once it is.
    writer.send(b"MSRP a SEND\r\n".to_vec()).unwrap();
    receives(listener, b"MSRP a SEND\r\n").await;
}

/// The socket of a refused connect is kept, refused again by the same closed
/// port, and then connects to a live listener and carries bytes like a new one.
#[tokio::test]
async fn a_refused_connects_socket_serves_the_next_connect() {
    let s = settings();
    let (tx, _rx) = mpsc::channel(4);
    let mut spare = Spare::default();
    let closed = closed_port();
    for serial in 1..=2 {
        let e = spawn_connect(
            ConnId::new(9),
            serial,
            closed,
            &s,
            tx.clone(),
            None,
            &mut spare,
        )
        .expect_err("a closed port refuses");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        assert!(spare.holds(closed), "the refused socket is kept");
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = listener.local_addr().unwrap();
    let writer = spawn_connect(ConnId::new(9), 3, peer, &s, tx, None, &mut spare)
        .expect("the kept socket connects");
    assert!(!spare.holds(peer), "the kept socket was used");
    writer.send(b"MSRP b SEND\r\n".to_vec()).unwrap();
    receives(listener, b"MSRP b SEND\r\n").await;
}

/// Accepts one connection on `listener` and reads `want` from it (5 s at most).
async fn receives(listener: TcpListener, want: &'static [u8; 13]) {
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
        .map(|b| assert_eq!(&b, want))
        .unwrap();
}
