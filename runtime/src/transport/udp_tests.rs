//! The UDP listener's batches on real loopback sockets: what one `recvmmsg` takes
//! and when it clears the socket's readiness, and a flush, on the loop or through
//! the send thread, that keeps the order (also across many batches, and when a
//! small batch could overtake what the thread still holds), survives a datagram the
//! kernel refuses, and at stop sends everything queued before it.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use cpmd_core::ConnId;

use super::udp::{ready, UdpListener, RECV_BATCH};
use super::udp_send::{Payload, UdpSender};

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
    l.queue(pa, raw(b"a1"));
    // An IPv6 destination on an IPv4 socket: refused by the kernel at once.
    l.queue("[::1]:9".parse().unwrap(), raw(b"nowhere"));
    l.queue(pb, raw(b"b1"));
    l.queue(pa, raw(b"a2"));
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

fn raw(bytes: &[u8]) -> Payload {
    Payload::Raw(bytes.to_vec())
}

/// A receiving peer with room for everything a test sends before reading.
fn roomy_peer() -> UdpSocket {
    let s = peer();
    socket2::SockRef::from(&s)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    s
}

/// Many wake-ups' batches, of many sizes, to two destinations: each destination
/// gets its datagrams in the order they were queued, none lost or repeated.
#[tokio::test]
async fn batches_to_one_destination_arrive_in_the_order_queued() {
    let mut l = listener().await;
    let (a, b) = (roomy_peer(), roomy_peer());
    let (pa, pb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let mut n = 0u32;
    for wake in 0..200u32 {
        // 1 to 70 datagrams per wake-up: some batches span several `sendmmsg`s.
        for _ in 0..(wake * 7) % 70 + 1 {
            let to = if n % 3 == 0 { pb } else { pa };
            l.queue(to, raw(&n.to_be_bytes()));
            n += 1;
        }
        l.flush();
    }
    let mut buf = [0u8; 16];
    for (sock, every) in [(&a, false), (&b, true)] {
        let want: Vec<u32> = (0..n).filter(|k| (k % 3 == 0) == every).collect();
        for w in want {
            let (len, _) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(buf[..len], w.to_be_bytes(), "in order, none lost");
        }
    }
}

/// Shutdown: what was queued and flushed, or only queued, before `stop_sending`
/// is all on the wire when it returns; the thread is gone after it.
#[tokio::test]
async fn stop_sends_everything_queued_before_it() {
    let mut l = listener().await;
    let a = roomy_peer();
    let pa = a.local_addr().unwrap();
    for k in 0..500u32 {
        l.queue(pa, raw(&k.to_be_bytes()));
        if k % 50 == 49 {
            l.flush();
        }
    }
    // The last ones are queued on the listener, not yet flushed.
    l.queue(pa, raw(b"last"));
    l.stop_sending();
    a.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    for k in 0..500u32 {
        let (len, _) = a.recv_from(&mut buf).expect("sent before stop returned");
        assert_eq!(buf[..len], k.to_be_bytes());
    }
    let (len, _) = a.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"last");
    // Stopped: later datagrams go nowhere (and do not panic).
    l.queue(pa, raw(b"late"));
    l.flush();
    std::thread::sleep(Duration::from_millis(50));
    assert!(a.recv_from(&mut buf).is_err());
}

/// The loop never waits for the thread: with the queue full (the thread behind),
/// a batch is dropped and the call returns at once; what was queued before it
/// still leaves, in order.
#[test]
fn a_full_queue_drops_a_batch_instead_of_waiting() {
    let a = roomy_peer();
    let pa = a.local_addr().unwrap();
    let (mut sender, rx) = UdpSender::unstarted(ConnId::new(1), 2);
    assert!(sender.send(vec![(pa, raw(b"1")), (pa, raw(b"2"))]));
    assert!(sender.send(vec![(pa, raw(b"3"))]));
    assert!(
        !sender.send(vec![(pa, raw(b"dropped"))]),
        "full: not queued"
    );
    assert_eq!(sender.held(), 2, "a dropped batch is not waited for");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.spawn(sock, rx).unwrap();
    let mut buf = [0u8; 16];
    for want in [b"1", b"2", b"3"] {
        let (len, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], want);
    }
    // Everything queued is sent: the thread is idle again (the loop may send).
    wait_until(|| sender.idle());
    assert_eq!(sender.held(), 0);
    sender.stop();
    assert!(!sender.idle(), "stopped: nothing is sent any more");
    a.set_nonblocking(true).unwrap();
    assert!(
        a.recv_from(&mut buf).is_err(),
        "the dropped batch never leaves"
    );
}

/// Polls `cond` until it holds (bounded: 5 s).
fn wait_until(mut cond: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(std::time::Instant::now() < give_up, "condition never held");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A small batch is sent on the loop while the send thread holds nothing, and
/// handed to the thread while it holds a batch, so it never overtakes what the
/// thread still has to send to the same destination. The thread is started late:
/// until then, what reaches the peer went out on the loop.
#[tokio::test]
async fn a_small_batch_is_sent_on_the_loop_only_while_the_thread_holds_nothing() {
    let (mut l, rx) =
        UdpListener::bind_unstarted("127.0.0.1:0".parse().unwrap(), ConnId::new(1), 16).unwrap();
    l.set_inline_max(2);
    let a = roomy_peer();
    let pa = a.local_addr().unwrap();
    let mut buf = [0u8; 16];
    let mut next = |sock: &UdpSocket| {
        let (len, _) = sock.recv_from(&mut buf).expect("sent");
        buf[..len].to_vec()
    };
    // Idle and small: on the loop (no thread runs yet).
    l.queue(pa, raw(b"1"));
    l.queue(pa, raw(b"2"));
    l.flush();
    assert_eq!(next(&a), b"1");
    assert_eq!(next(&a), b"2");
    assert!(l.send_thread_idle());
    // Larger than the limit: to the thread, which holds it.
    for k in [b"3", b"4", b"5"] {
        l.queue(pa, raw(k));
    }
    l.flush();
    assert!(!l.send_thread_idle());
    // Small, but the thread holds a batch: queued behind it, not sent now.
    l.queue(pa, raw(b"6"));
    l.flush();
    a.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        a.recv_from(&mut [0u8; 16]).is_err(),
        "nothing overtakes the held batch"
    );
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    l.start_sender(rx).unwrap();
    for want in [b"3", b"4", b"5", b"6"] {
        assert_eq!(next(&a), want, "in the order queued");
    }
    // Sent: idle again, and a small batch goes on the loop once more.
    wait_until(|| l.send_thread_idle());
    l.queue(pa, raw(b"7"));
    l.flush();
    assert_eq!(next(&a), b"7");
    l.stop_sending();
}

/// One round's datagrams in one buffer: each is read back as it was encoded
/// (messages with the core's encoder, raw bytes as they were), from any index on,
/// and a round that grew the buffer past what is kept gives the rest back.
#[test]
fn encoded_datagrams_read_back_as_encoded_from_any_index() {
    use super::udp_send::Encoded;
    let a: SocketAddr = "127.0.0.1:5061".parse().unwrap();
    let b: SocketAddr = "127.0.0.1:5062".parse().unwrap();
    let message = cpmd_core::wire::decode_message(
        b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
          Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
          Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        &cpmd_core::wire::Limits::default(),
    )
    .unwrap();
    let expected: Vec<(SocketAddr, Vec<u8>)> = vec![
        (a, b"first".to_vec()),
        (b, cpmd_core::wire::encode_message(&message)),
        (a, Vec::new()),
        (b, vec![b'x'; 300_000]),
        (a, b"last".to_vec()),
    ];
    let mut out = Encoded::default();
    for (i, (peer, bytes)) in expected.iter().enumerate() {
        let payload = if i == 1 {
            Payload::Message(cpmd_core::shared::Shared::new(message.clone()))
        } else {
            Payload::Raw(bytes.clone())
        };
        out.push(*peer, payload);
    }
    assert_eq!(out.len(), expected.len());
    for from in 0..=expected.len() {
        let got: Vec<(SocketAddr, Vec<u8>)> = out
            .datagrams_from(from)
            .map(|(p, bytes)| (p, bytes.to_vec()))
            .collect();
        assert_eq!(got, expected[from..], "from {from}");
    }
    out.clear();
    assert_eq!(out.len(), 0);
    assert!(out.capacity() <= super::udp_send::KEPT_BYTES);
}
