//! TLS-15 (RFC 5922 §7.2) on real sockets: `transport::tls::connect` verifies the DNS
//! name it is given in the peer's certificate (subjectAltName DNS), and the peer's IP
//! address (subjectAltName IP) when it is given none. Certificates from a CA made
//! here (rcgen).

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::tls::peer::PeerTls;
use crate::tls::test_pki::Ca;
use crate::tls::{Tls, TlsFiles};

/// Connects to a listener presenting a certificate for `names`, verifying
/// `server_name` (or the address); true when one byte made the round trip.
async fn dial(names: &[&str], server_name: Option<&str>) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let ca_file = dir.path().join("ca.pem");
    ca.write(&ca_file);
    let (cert, key) = ca.leaf(dir.path(), "terminal", names);
    let server = Tls::load(TlsFiles {
        certificate: cert,
        key,
        client_ca: None,
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = server.acceptor();
    tokio::spawn(async move {
        if let Ok((s, _)) = listener.accept().await {
            if let Ok(mut s) = acceptor.accept(s).await {
                let mut b = [0u8; 1];
                if s.read_exact(&mut b).await.is_ok() {
                    let _ = s.write_all(&b).await;
                    let _ = s.flush().await;
                }
            }
        }
    });
    let tls = Arc::new(PeerTls::load(true, Some(ca_file)).unwrap());
    let stream = TcpStream::connect(addr).await.unwrap();
    let Ok(mut stream) =
        super::tls::connect(&tls, stream, addr, server_name.map(str::to_owned)).await
    else {
        return false;
    };
    let mut b = [0u8; 1];
    stream.write_all(b"x").await.is_ok() && stream.read_exact(&mut b).await.is_ok()
}

#[tokio::test]
async fn a_dns_name_is_verified_by_name_and_an_address_by_address() {
    // A DNS-name Contact: the certificate must carry that name.
    assert!(dial(&["terminal.test"], Some("terminal.test")).await);
    assert!(
        !dial(&["other.test"], Some("terminal.test")).await,
        "another name"
    );
    assert!(
        !dial(&["127.0.0.1"], Some("terminal.test")).await,
        "the address alone does not vouch for a name"
    );
    // An address Contact: the certificate must carry the address.
    assert!(dial(&["127.0.0.1"], None).await);
    assert!(
        !dial(&["terminal.test"], None).await,
        "a name does not vouch for the address"
    );
}
