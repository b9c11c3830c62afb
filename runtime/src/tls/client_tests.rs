//! The client configuration of the TLS connections cpmd opens itself (TLS-10), over
//! in-memory streams with certificates made here: the peer must chain to `peer_ca`
//! and name the address dialled, and must not be expired; `verify_peers = false`
//! accepts anything.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;

use super::client::client_config;
use super::test_pki::Ca;
use super::{Tls, TlsFiles};

/// A handshake (and one echoed byte) of `client` against a server presenting
/// `cert`/`key`, dialled as 127.0.0.1 like `transport::tls::connect` does.
async fn handshake(cert: &Path, key: &Path, verify: bool, peer_ca: Option<&Path>) -> bool {
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
    let connector = TlsConnector::from(client_config(verify, peer_ca).unwrap());
    let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    let Ok(mut stream) = connector.connect(name, c).await else {
        return false;
    };
    let mut b = [0u8; 1];
    stream.write_all(b"x").await.is_ok() && stream.read_exact(&mut b).await.is_ok()
}

/// TLS-10: only a certificate from `peer_ca`, naming the address, unexpired, passes.
#[tokio::test]
async fn peers_are_verified_against_peer_ca_and_their_address() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let ca_file = dir.path().join("ca.pem");
    ca.write(&ca_file);
    let rogue = Ca::new();
    let (good, good_key) = ca.leaf(dir.path(), "good", &["127.0.0.1"]);
    let (other, other_key) = ca.leaf(dir.path(), "other", &["other.test"]);
    let (old, old_key) = ca.expired_leaf(dir.path(), "old", &["127.0.0.1"]);
    let (bad, bad_key) = rogue.leaf(dir.path(), "bad", &["127.0.0.1"]);
    assert!(handshake(&good, &good_key, true, Some(&ca_file)).await);
    assert!(
        !handshake(&other, &other_key, true, Some(&ca_file)).await,
        "wrong host"
    );
    assert!(
        !handshake(&old, &old_key, true, Some(&ca_file)).await,
        "expired"
    );
    assert!(
        !handshake(&bad, &bad_key, true, Some(&ca_file)).await,
        "another CA"
    );
    // verify_peers = false: anything goes (the operator's explicit choice).
    assert!(handshake(&bad, &bad_key, false, None).await);
}
