//! PostgreSQL over TLS: the store URL's TLS options and the rustls connector the
//! `postgres` client runs its handshakes with (ring provider, no OpenSSL).
//!
//! The `postgres` crates understand only `sslmode=disable|prefer|require` and nothing
//! about certificates. cpmd reads libpq's other two modes and the root certificate
//! itself ([`PgTarget::parse`]), hands the client the URL without them (`verify-ca`
//! and `verify-full` become `require`), and enforces them in its certificate
//! verifier ([`PgVerifier`]); specs/tls.md, TLS-PG-1..5:
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | chain checked against `sslrootcert` when given, else not checked |
//! | `require` | always | as `prefer` (libpq: a root file makes `require` act as `verify-ca`) |
//! | `verify-ca` | always | chain to `sslrootcert` (required) |
//! | `verify-full` | always | chain to `sslrootcert` (required) and the URL's host name (or IP) in the certificate |
//!
//! SCRAM channel binding (`tls-server-end-point`) is `pg_tls_binding.rs`. Not here:
//! client certificates (`sslcert`/`sslkey`, refused as unknown options by the
//! client) and `sslrootcert=system`.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::store::sql::DbError;

/// libpq's `sslmode`, as cpmd enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it (the default).
    Prefer,
    /// TLS or no connection.
    Require,
    /// TLS, the chain checked against `sslrootcert`.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

/// A `postgres://` store URL split into what the client gets and what cpmd enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// The URL for the `postgres` client: `sslrootcert` removed, `verify-ca` and
    /// `verify-full` replaced by `require`.
    pub client_url: String,
    /// The mode asked for.
    pub mode: SslMode,
    /// The CA certificates (PEM) the server's chain must lead to.
    pub root_cert: Option<PathBuf>,
}

impl PgTarget {
    /// Reads `sslmode` and `sslrootcert` from the URL's query. `verify-ca` and
    /// `verify-full` without `sslrootcert` are an error (cpmd has no default trust
    /// store for the database); other parameters pass through untouched.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut mode = SslMode::Prefer;
        let mut root_cert = None;
        let mut kept: Vec<String> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslrootcert" => {
                    let path = percent_decode(value)?;
                    if path.is_empty() || path == "system" {
                        return Err(DbError(format!(
                            "store URL: sslrootcert={path:?} is not supported: give the path of a PEM file of CA certificates"
                        )));
                    }
                    root_cert = Some(PathBuf::from(path));
                }
                "sslmode" => {
                    mode = match value {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(DbError(format!(
                                "store URL: unknown sslmode={other:?} (disable, prefer, require, verify-ca, verify-full)"
                            )))
                        }
                    };
                    let for_client = match mode {
                        SslMode::VerifyCa | SslMode::VerifyFull => "require",
                        SslMode::Disable | SslMode::Prefer | SslMode::Require => value,
                    };
                    kept.push(format!("sslmode={for_client}"));
                }
                _ => kept.push(pair.to_owned()),
            }
        }
        if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && root_cert.is_none() {
            return Err(DbError(
                "store URL: sslmode=verify-ca and verify-full need sslrootcert=PATH (the CA certificates, PEM)".into(),
            ));
        }
        let client_url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(Self {
            client_url,
            mode,
            root_cert,
        })
    }

    /// The connector for this target's handshakes (reads `sslrootcert` now, so a
    /// missing or empty file fails the connection, not the handshake).
    pub fn connector(&self) -> Result<RustlsConnect, DbError> {
        let provider = crate::tls::provider();
        let roots = match &self.root_cert {
            Some(path) => Some(Arc::new(read_roots(path)?)),
            None => None,
        };
        let verifier = PgVerifier {
            roots,
            check_name: self.mode == SslMode::VerifyFull,
            provider: provider.clone(),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError(format!("postgres TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(RustlsConnect {
            config: Arc::new(config),
        })
    }
}

/// `%XX` escapes of a URL query value (a path may hold `&`, `=`, `%` or spaces).
fn percent_decode(value: &str) -> Result<String, DbError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| DbError(format!("store URL: bad %-escape in {value:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DbError(format!("store URL: {value:?} is not UTF-8")))
}

fn read_roots(path: &std::path::Path) -> Result<RootCertStore, DbError> {
    let bad = |e: String| DbError(format!("sslrootcert {}: {e}", path.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(roots)
}

/// The server certificate check of one [`PgTarget`]: the chain against `roots`
/// when there are roots, the name when `check_name`; the handshake signatures
/// always (so even `require` talks to the holder of the certificate's key).
#[derive(Debug)]
struct PgVerifier {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // TLS-PG-2: without roots (prefer/require) nothing is checked, as libpq.
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
            if self.check_name {
                verify_server_name(&cert, server_name)?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The `postgres` client's TLS connector over rustls.
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
}

impl MakeTlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnectTo;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnectTo, io::Error> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnectTo {
            config: self.config.clone(),
            name,
        })
    }
}

/// One handshake, to `name`.
pub struct RustlsConnectTo {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for RustlsConnectTo {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(tls))
        })
    }
}

/// An established TLS connection to the database.
pub struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

impl TlsStream for RustlsStream {
    /// TLS-PG-5: `tls-server-end-point` of the server's certificate.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, connection) = self.0.get_ref();
        connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| binding::tls_server_end_point(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[path = "pg_tls_binding.rs"]
mod binding;
#[cfg(test)]
#[path = "pg_tls_tests.rs"]
mod tests;
