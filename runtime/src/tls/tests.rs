//! The TLS configuration over in-memory streams with certificates made here (rcgen):
//! loading, reload without dropping established connections, a failed reload,
//! mutual TLS and incomplete `[tls]` sections.

use std::path::{Path, PathBuf};

use rustls::pki_types::ServerName;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;

use super::test_pki::Ca;
use super::{Tls, TlsError, TlsFileConfig, TlsFiles};

/// Handshakes a client against `tls` over an in-memory pipe; the server echoes.
/// Returns the client stream and the certificate the server presented.
async fn connect(
    tls: &Tls,
    client: &TlsConnector,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::io::DuplexStream>,
        Vec<u8>,
    ),
    std::io::Error,
> {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let acceptor = tls.acceptor();
    tokio::spawn(async move {
        if let Ok(mut s) = acceptor.accept(s).await {
            let mut buf = [0u8; 64];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 || s.write_all(&buf[..n]).await.is_err() || s.flush().await.is_err() {
                    break;
                }
            }
        }
    });
    let name = ServerName::try_from("cpmd.test").unwrap();
    let mut stream = client.connect(name, c).await?;
    // TLS 1.3 reports a refused client certificate only on the first read.
    stream.write_all(b"ping").await?;
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).await?;
    assert_eq!(&back, b"ping");
    let presented = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    Ok((stream, presented))
}

fn der(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

#[tokio::test]
async fn reload_swaps_the_certificate_for_new_handshakes_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.leaf(dir.path(), "server", &["cpmd.test"]);
    let first = der(&cert);
    let tls = Tls::load(TlsFiles {
        certificate: cert.clone(),
        key: key.clone(),
        client_ca: None,
    })
    .unwrap();
    let client = ca.client(None);
    let (mut old, presented) = connect(&tls, &client).await.unwrap();
    assert_eq!(presented, first);

    // A renewed certificate is written over the old files, then reloaded (TLS-2).
    let (renewed, renewed_key) = ca.leaf(dir.path(), "renewed", &["cpmd.test"]);
    std::fs::rename(&renewed, &cert).unwrap();
    std::fs::rename(&renewed_key, &key).unwrap();
    let second = der(&cert);
    assert_ne!(first, second);
    tls.reload().unwrap();
    let (_new, presented) = connect(&tls, &client).await.unwrap();
    assert_eq!(
        presented, second,
        "a new handshake gets the reloaded certificate"
    );
    // The connection accepted before the reload still carries data.
    old.write_all(b"more").await.unwrap();
    let mut back = [0u8; 4];
    old.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"more");
}

#[tokio::test]
async fn a_failed_reload_keeps_the_certificate_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.leaf(dir.path(), "server", &["cpmd.test"]);
    let first = der(&cert);
    let tls = Tls::load(TlsFiles {
        certificate: cert.clone(),
        key: key.clone(),
        client_ca: None,
    })
    .unwrap();
    // A key that does not match the certificate (TLS-3).
    let (_, other_key) = ca.leaf(dir.path(), "other", &["cpmd.test"]);
    std::fs::rename(&other_key, &key).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(matches!(err, TlsError::Rustls(_)), "{err}");
    // Garbage instead of the key.
    std::fs::write(&key, "not a key").unwrap();
    assert!(matches!(tls.reload().unwrap_err(), TlsError::Pem { .. }));
    let (_c, presented) = connect(&tls, &ca.client(None)).await.unwrap();
    assert_eq!(presented, first);
}

#[tokio::test]
async fn a_client_ca_requires_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.leaf(dir.path(), "server", &["cpmd.test"]);
    let ca_file = dir.path().join("clients.crt");
    ca.write(&ca_file);
    let tls = Tls::load(TlsFiles {
        certificate: cert,
        key,
        client_ca: Some(ca_file),
    })
    .unwrap();
    assert!(
        connect(&tls, &ca.client(None)).await.is_err(),
        "no client certificate"
    );
    let stranger = Ca::new();
    let (sc, sk) = stranger.leaf(dir.path(), "stranger", &["alice.test"]);
    assert!(
        connect(&tls, &ca.client(Some((&sc, &sk)))).await.is_err(),
        "a client certificate from another CA"
    );
    let (cc, ck) = ca.leaf(dir.path(), "alice", &["alice.test"]);
    connect(&tls, &ca.client(Some((&cc, &ck)))).await.unwrap();
}

#[test]
fn tls_section_needs_certificate_and_key_together() {
    let parse = |s: &str| toml::from_str::<TlsFileConfig>(s).unwrap().files();
    assert!(parse("").unwrap().is_none());
    assert!(matches!(
        parse("certificate = \"a.crt\""),
        Err(TlsError::Incomplete)
    ));
    assert!(matches!(
        parse("key = \"a.key\""),
        Err(TlsError::Incomplete)
    ));
    assert!(matches!(
        parse("client_ca = \"ca.crt\""),
        Err(TlsError::Incomplete)
    ));
    let files = parse("certificate = \"a.crt\"\nkey = \"a.key\"")
        .unwrap()
        .unwrap();
    assert_eq!(files.certificate, PathBuf::from("a.crt"));
    assert!(
        toml::from_str::<TlsFileConfig>("cert = \"a\"").is_err(),
        "unknown key"
    );
}

#[test]
fn missing_or_empty_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let files = |c: &Path| TlsFiles {
        certificate: c.to_owned(),
        key: empty.clone(),
        client_ca: None,
    };
    assert!(matches!(
        Tls::load(files(&dir.path().join("absent.pem"))).unwrap_err(),
        TlsError::Pem { .. }
    ));
    assert!(matches!(
        Tls::load(files(&empty)).unwrap_err(),
        TlsError::Empty { .. }
    ));
}
