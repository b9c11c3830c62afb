//! TLS for cpmd's listeners: the `[tls]` configuration section, the one shared
//! `rustls::ServerConfig` built from it (certificate chain and private key from PEM
//! files, optional client CA for mutual TLS, TLS 1.2 at least, the `ring` provider)
//! and its reload on SIGHUP.
//!
//! SIGHUP also rebuilds the client configuration of outbound TLS ([`peer::PeerTls`],
//! `verify_peers`/`peer_ca`, TLS-14).
//!
//! A reload swaps the configuration used for *new* handshakes only: a connection
//! already established keeps the `Arc<ServerConfig>` it was accepted with, so nothing
//! is dropped (specs/tls.md, TLS-2). A reload that fails (unreadable file, key not
//! matching the certificate) keeps the configuration in force and logs why (TLS-3).
//!
//! Not here: what each protocol does over TLS (IMAP STARTTLS and IMAPS are in
//! `imap/`, SIP and MSRP streams in `transport::tls`), PostgreSQL. Client-side TLS
//! for outbound connections is [`client`].

pub mod client;
#[cfg(test)]
mod client_tests;
pub mod peer;
#[cfg(test)]
mod peer_tests;
#[cfg(test)]
pub(crate) mod test_pki;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

/// `[tls]`: the server's certificate and key (both or neither) and, for mutual TLS,
/// the CA that client certificates must chain to.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFileConfig {
    /// PEM file with the certificate chain, leaf first.
    pub certificate: Option<PathBuf>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// PEM file of CA certificates: when set, every TLS client must present a
    /// certificate chaining to one of them (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Whether cpmd verifies the certificate of a terminal it connects to over TLS
    /// itself (RFC 5922; default on).
    pub verify_peers: bool,
    /// PEM file of CA certificates for that verification; default: the system's CA
    /// bundle.
    pub peer_ca: Option<PathBuf>,
}

impl Default for TlsFileConfig {
    fn default() -> Self {
        Self {
            certificate: None,
            key: None,
            client_ca: None,
            verify_peers: true,
            peer_ca: None,
        }
    }
}

/// The files a [`Tls`] is (re)built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub certificate: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// Client CA for mutual TLS (PEM).
    pub client_ca: Option<PathBuf>,
}

impl TlsFileConfig {
    /// The files, `None` when TLS is not configured; a certificate without a key
    /// (or the reverse) is an error.
    pub fn files(&self) -> Result<Option<TlsFiles>, TlsError> {
        match (&self.certificate, &self.key) {
            (Some(certificate), Some(key)) => Ok(Some(TlsFiles {
                certificate: certificate.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
            })),
            (None, None) if self.client_ca.is_none() => Ok(None),
            (Some(_), None) | (None, Some(_)) | (None, None) => Err(TlsError::Incomplete),
        }
    }
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `[tls]` names only some of `certificate` and `key`.
    #[error("[tls] needs both `certificate` and `key` (and `client_ca` only with them)")]
    Incomplete,
    /// A PEM file could not be read or parsed.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file holds no item of the kind wanted.
    #[error("{path}: no {what} found")]
    Empty {
        /// The file.
        path: PathBuf,
        /// "certificate" or "CA certificate".
        what: &'static str,
    },
    /// rustls refused the material (for example a key not matching the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA could not be turned into a verifier.
    #[error("client CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The SIGHUP handler that reloads the certificate could not be installed.
    #[error("installing the SIGHUP handler")]
    SigHup(#[source] std::io::Error),
}

pub(crate) fn certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| TlsError::Pem {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_owned(),
            what,
        });
    }
    Ok(certs)
}

/// The crypto provider of every TLS configuration: `ring`. rustls 0.23.48 marks it
/// deprecated because it has no post-quantum key exchange (only aws-lc-rs has);
/// aws-lc-rs needs cmake and a C toolchain build far heavier than ring's, so ring it
/// is until that changes (README, dependencies).
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server configuration from `files`: TLS 1.3 and 1.2 only (TLS-1), the
/// `ring` provider, client certificates required when a client CA is named.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match &files.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(path, "CA certificate")? {
                roots.add(ca)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = certificates(&files.certificate, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| TlsError::Pem {
        path: files.key.clone(),
        source,
    })?;
    Ok(Arc::new(builder.with_single_cert(chain, key)?))
}

/// The server's TLS configuration from `[tls]`, `None` when not configured; once
/// loaded, it is reloaded on every SIGHUP.
pub fn load(file: &crate::config::FileConfig) -> Result<Option<Tls>, TlsError> {
    let Some(files) = file.tls.files()? else {
        return Ok(None);
    };
    let mut tls = Tls::load(files)?;
    tls.peer = Some(Arc::new(peer::PeerTls::load(
        file.tls.verify_peers,
        file.tls.peer_ca.clone(),
    )?));
    tls.spawn_reload_on_sighup().map_err(TlsError::SigHup)?;
    tracing::info!(certificate = %tls.files.certificate.display(), mutual = tls.files.client_ca.is_some(), "TLS configured");
    Ok(Some(tls))
}

/// The server's TLS configuration, shared by every TLS listener and swapped as a
/// whole by [`Tls::reload`].
#[derive(Clone)]
pub struct Tls {
    files: Arc<TlsFiles>,
    current: Arc<RwLock<Arc<ServerConfig>>>,
    /// Outbound TLS, reloaded with the certificate ([`load`] sets it).
    peer: Option<Arc<peer::PeerTls>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

impl Tls {
    /// Loads the configuration from `files` (an error refuses to start).
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self {
            files: Arc::new(files),
            current: Arc::new(RwLock::new(config)),
            peer: None,
        })
    }

    /// The client configuration of outbound TLS (`None` before [`load`] set it).
    pub fn peer(&self) -> Option<Arc<peer::PeerTls>> {
        self.peer.clone()
    }

    /// An acceptor for one new connection, with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        TlsAcceptor::from(config)
    }

    /// Rereads the files; on success new handshakes use them, on failure the
    /// configuration in force stays (TLS-3).
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        match self.current.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// Reloads on every SIGHUP, for ever (a task of the current runtime).
    pub fn spawn_reload_on_sighup(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        let tls = self.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let files = tls.files.clone();
                let again = tls.clone();
                // Reading files and parsing keys blocks: off the runtime threads.
                let result = tokio::task::spawn_blocking(move || again.reload()).await;
                match result {
                    Ok(Ok(())) => {
                        tracing::info!(certificate = %files.certificate.display(), "SIGHUP: TLS certificate reloaded")
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "SIGHUP: TLS reload failed, keeping the certificate in force")
                    }
                    Err(e) => tracing::error!(error = %e, "SIGHUP: TLS reload task failed"),
                }
                let Some(peer) = tls.peer.clone() else {
                    continue;
                };
                match tokio::task::spawn_blocking(move || peer.reload()).await {
                    Ok(Ok(())) => tracing::info!("SIGHUP: peer CA reloaded"),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "SIGHUP: peer CA reload failed, keeping the one in force")
                    }
                    Err(e) => tracing::error!(error = %e, "SIGHUP: peer CA reload task failed"),
                }
            }
        });
        Ok(())
    }
}
