//! TLS-14: the outbound client configuration follows `peer_ca` across reloads, over
//! in-memory streams: a peer from a CA that `peer_ca` does not hold is refused until
//! the file names that CA and the configuration is reloaded; a reload that fails
//! keeps the configuration in force.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;

use super::peer::PeerTls;
use super::test_pki::Ca;
use super::{Tls, TlsFiles};

/// A handshake (and one echoed byte) with the configuration `peer` has in force,
/// against a server presenting `cert`/`key`, dialled as 127.0.0.1.
async fn handshake(peer: &PeerTls, cert: &Path, key: &Path) -> bool {
    let server = Tls::load(TlsFiles {
        certificate: cert.to_owned(),
        key: key.to_owned(),
        client_ca: None,
    })
    .unwrap();
    let (c, s) = tokio::io::duplex(64 * 1024);
    let acceptor = server.acceptor();
    tokio::spawn(async move {
        if let Ok(mut s) = acceptor.accept(s).await {
            let mut b = [0u8; 1];
            if s.read_exact(&mut b).await.is_ok() {
                let _ = s.write_all(&b).await;
                let _ = s.flush().await;
            }
        }
    });
    let connector = TlsConnector::from(peer.config());
    let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    let Ok(mut stream) = connector.connect(name, c).await else {
        return false;
    };
    let mut b = [0u8; 1];
    stream.write_all(b"x").await.is_ok() && stream.read_exact(&mut b).await.is_ok()
}

#[tokio::test]
async fn a_reload_rereads_peer_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new(), Ca::new());
    let ca_file = dir.path().join("peer-ca.pem");
    old_ca.write(&ca_file);
    let (cert, key) = new_ca.leaf(dir.path(), "terminal", &["127.0.0.1"]);
    let peer = PeerTls::load(true, Some(ca_file.clone())).unwrap();
    assert!(
        !handshake(&peer, &cert, &key).await,
        "a CA peer_ca does not hold"
    );

    // The file changes: nothing changes until the reload.
    new_ca.write(&ca_file);
    assert!(!handshake(&peer, &cert, &key).await, "before the reload");
    peer.reload().unwrap();
    assert!(handshake(&peer, &cert, &key).await, "after the reload");

    // A reload that fails (an empty file) keeps the configuration in force.
    std::fs::write(&ca_file, "").unwrap();
    assert!(peer.reload().is_err());
    assert!(handshake(&peer, &cert, &key).await, "after a failed reload");
}
