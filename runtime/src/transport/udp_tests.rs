//! The UDP sockets' threads on real loopback sockets: the receive thread hands on
//! datagrams in arrival order, decoded (or as bytes for the input trace), and ends
//! at stop whether it waits in `recvmmsg` or for room in the loop's queue; the send
//! thread keeps the order (also across many batches), survives a datagram the
//! kernel refuses, and at stop sends everything queued before it.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use cpmd_core::sip::SipMessage;
use cpmd_core::wire::Limits;
use cpmd_core::ConnId;
use tokio::sync::mpsc;

use super::udp::UdpListener;
use super::udp_recv::{Received, UdpBatch};
use super::udp_send::{Payload, UdpSender};

fn listener() -> UdpListener {
    UdpListener::bind("127.0.0.1:0".parse().unwrap(), ConnId::new(1)).unwrap()
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

const OPTIONS: &[u8] = b"OPTIONS sip:cpmd@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:cpmd@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

/// The next `n` datagrams the loop would get, as (source, what), batch by batch.
fn take(rx: &mut mpsc::Receiver<UdpBatch>, n: usize) -> Vec<(SocketAddr, Received)> {
    let mut got = Vec::new();
    while got.len() < n {
        let batch = rx.blocking_recv().expect("the thread is running");
        assert_eq!(batch.conn, ConnId::new(1));
        assert!(!batch.datagrams.is_empty(), "no empty batches");
        got.extend(batch.datagrams);
    }
    assert_eq!(got.len(), n, "nothing more than sent");
    got
}

/// Decoded on the thread: a request, a refusal (with what the core needs to answer
/// it), each with its source, in arrival order.
#[test]
fn datagrams_arrive_decoded_in_order_with_their_sources() {
    let mut l = listener();
    let (tx, mut rx) = mpsc::channel(8);
    l.start_receiving(Some(Limits::default()), tx).unwrap();
    let (a, b) = (peer(), peer());
    a.send_to(OPTIONS, l.local).unwrap();
    b.send_to(b"NOT SIP AT ALL\r\n\r\n", l.local).unwrap();
    a.send_to(OPTIONS, l.local).unwrap();
    let got = take(&mut rx, 3);
    assert_eq!(got[0].0, a.local_addr().unwrap());
    assert_eq!(got[1].0, b.local_addr().unwrap());
    assert_eq!(got[2].0, a.local_addr().unwrap());
    for k in [0, 2] {
        assert!(
            matches!(got[k].1, Received::Decoded(Ok(SipMessage::Request(_)))),
            "a decoded request: {:?}",
            got[k].1
        );
    }
    assert!(
        matches!(got[1].1, Received::Decoded(Err(_))),
        "{:?}",
        got[1].1
    );
    l.stop_receiving();
}

/// Oversized input is refused by the decoder's limits on the thread, as the core
/// refuses it from bytes.
#[test]
fn a_datagram_over_the_limits_arrives_refused() {
    let mut l = listener();
    let (tx, mut rx) = mpsc::channel(8);
    let limits = Limits {
        max_header_bytes: 100,
        ..Limits::default()
    };
    l.start_receiving(Some(limits.clone()), tx).unwrap();
    let a = peer();
    a.send_to(OPTIONS, l.local).unwrap();
    let got = take(&mut rx, 1);
    let Received::Decoded(Err(bad)) = &got[0].1 else {
        panic!("refused: {:?}", got[0].1);
    };
    let from_bytes = cpmd_core::wire::decode_datagram(OPTIONS, &limits).unwrap_err();
    assert_eq!(*bad, from_bytes, "the same refusal as from bytes");
    l.stop_receiving();
}

/// With the input trace on the loop gets the bytes (it records them), in order,
/// also when they span many `recvmmsg` calls.
#[test]
fn without_limits_the_bytes_arrive_in_order() {
    let mut l = listener();
    let (tx, mut rx) = mpsc::channel(4);
    l.start_receiving(None, tx).unwrap();
    let a = peer();
    for k in 0..300u32 {
        a.send_to(&k.to_be_bytes(), l.local).unwrap();
    }
    let got = take(&mut rx, 300);
    for (k, (from, what)) in got.iter().enumerate() {
        assert_eq!(*from, a.local_addr().unwrap());
        let Received::Bytes(bytes) = what else {
            panic!("bytes: {what:?}");
        };
        assert_eq!(bytes[..], u32::try_from(k).unwrap().to_be_bytes());
    }
    l.stop_receiving();
}

/// Stop ends a thread waiting in `recvmmsg` with nothing to read, and one waiting
/// for room in the loop's full queue once the loop closed it; sending still works
/// after the read side is shut.
#[test]
fn stop_ends_the_receive_thread_waiting_to_read_or_for_room() {
    let mut idle = listener();
    let (tx, _rx) = mpsc::channel(1);
    idle.start_receiving(Some(Limits::default()), tx).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    idle.stop_receiving();
    assert!(started.elapsed() < Duration::from_secs(2));
    let a = peer();
    idle.queue(a.local_addr().unwrap(), raw(b"still sends"));
    idle.stop_sending();
    let mut buf = [0u8; 32];
    let (n, _) = a.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"still sends");

    let mut full = listener();
    let (tx, mut rx) = mpsc::channel(1);
    full.start_receiving(None, tx).unwrap();
    for k in 0..50u32 {
        a.send_to(&k.to_be_bytes(), full.local).unwrap();
    }
    // One batch fits; the thread then waits for room with the rest.
    std::thread::sleep(Duration::from_millis(100));
    rx.close();
    let started = Instant::now();
    full.stop_receiving();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        rx.blocking_recv().is_some(),
        "what was queued stays readable"
    );
}

#[test]
fn a_flush_sends_in_order_and_a_refused_datagram_does_not_stop_the_rest() {
    let mut l = listener();
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
#[test]
fn batches_to_one_destination_arrive_in_the_order_queued() {
    let mut l = listener();
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
#[test]
fn stop_sends_everything_queued_before_it() {
    let mut l = listener();
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
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.spawn(sock, rx).unwrap();
    sender.stop();
    a.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    for want in [b"1", b"2", b"3"] {
        let (len, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], want);
    }
    assert!(
        a.recv_from(&mut buf).is_err(),
        "the dropped batch never leaves"
    );
}
