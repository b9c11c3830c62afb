//! The UDP listener's batches on real loopback sockets: what one `recvmmsg` takes
//! and when it clears the socket's readiness, and a `sendmmsg` flush that keeps the
//! order and survives a datagram the kernel refuses.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use cpmd_core::ConnId;

use super::udp::{ready, UdpListener, RECV_BATCH};

async fn listener() -> UdpListener {
    UdpListener::bind("127.0.0.1:0".parse().unwrap(), ConnId::new(1))
        .await
        .unwrap()
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Waits (bounded) until the listener reports a datagram queued.
async fn wait_ready(l: &UdpListener) {
    tokio::time::timeout(Duration::from_secs(5), ready(std::slice::from_ref(l)))
        .await
        .expect("the socket turned readable");
}

fn taken(l: &UdpListener) -> Vec<(Vec<u8>, SocketAddr)> {
    l.datagrams().map(|(b, p)| (b.to_vec(), p)).collect()
}

#[tokio::test]
async fn a_batch_takes_what_is_queued_and_a_short_one_finds_the_socket_empty() {
    let mut l = listener().await;
    let a = peer();
    let b = peer();
    a.send_to(b"one", l.local).unwrap();
    b.send_to(&[7u8; 3000], l.local).unwrap();
    a.send_to(b"three", l.local).unwrap();
    wait_ready(&l).await;
    assert_eq!(l.recv_batch(RECV_BATCH), (3, true));
    let got = taken(&l);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], (b"one".to_vec(), a.local_addr().unwrap()));
    assert_eq!(got[1], (vec![7u8; 3000], b.local_addr().unwrap()));
    assert_eq!(got[2], (b"three".to_vec(), a.local_addr().unwrap()));
    // Cleared: nothing more to take, and a new datagram makes it ready again.
    assert_eq!(l.recv_batch(RECV_BATCH), (0, true));
    assert!(taken(&l).is_empty());
    a.send_to(b"four", l.local).unwrap();
    wait_ready(&l).await;
    assert_eq!(l.recv_batch(RECV_BATCH), (1, true));
    assert_eq!(taken(&l)[0].0, b"four");
}

#[tokio::test]
async fn a_full_batch_leaves_the_rest_queued_and_the_socket_ready() {
    let mut l = listener().await;
    let a = peer();
    for n in 0..RECV_BATCH + 2 {
        a.send_to(n.to_string().as_bytes(), l.local).unwrap();
    }
    wait_ready(&l).await;
    assert_eq!(l.recv_batch(2), (2, false), "bounded by the caller");
    assert_eq!(l.recv_batch(usize::MAX), (RECV_BATCH, false));
    let first: Vec<Vec<u8>> = taken(&l).into_iter().map(|(b, _)| b).collect();
    assert_eq!(first[0], b"2");
    assert_eq!(
        first[RECV_BATCH - 1],
        (RECV_BATCH + 1).to_string().into_bytes()
    );
    // Still ready without a new datagram: the batch was full.
    wait_ready(&l).await;
    assert_eq!(l.recv_batch(RECV_BATCH), (0, true));
}

#[tokio::test]
async fn a_flush_sends_in_order_and_a_refused_datagram_does_not_stop_the_rest() {
    let mut l = listener().await;
    let a = peer();
    let b = peer();
    let (pa, pb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    l.queue(pa, b"a1".to_vec());
    // An IPv6 destination on an IPv4 socket: refused by the kernel at once.
    l.queue("[::1]:9".parse().unwrap(), b"nowhere".to_vec());
    l.queue(pb, b"b1".to_vec());
    l.queue(pa, b"a2".to_vec());
    l.flush();
    let mut buf = [0u8; 64];
    for (sock, want) in [(&a, &b"a1"[..]), (&a, b"a2"), (&b, b"b1")] {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], want);
        assert_eq!(from, l.local, "from the listener's own address");
    }
    // The queue is empty after a flush: nothing is sent twice.
    l.flush();
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(a.recv_from(&mut buf).is_err());
}
