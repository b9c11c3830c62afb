//! The client side of TLS: the `rustls::ClientConfig` cpmd uses when it opens a TLS
//! connection itself (to a terminal that registered over TLS and whose connection is
//! gone, RFC 3261 §18.1.1, or for an MSRP leg where cpmd is the active party).
//!
//! The peer is verified (RFC 5922 §7.2) against `[tls] peer_ca` or, without it, the
//! system's CA bundle, unless `[tls] verify_peers = false`. The name checked is the
//! DNS name of the terminal's Contact host when it has one (a DNS SAN), else the
//! peer's IP address (an IP SAN); see `transport::tls::connect` (TLS-15).
//!
//! Not here: the server configuration (`mod.rs`), the handshake (`transport::tls`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::{certificates, provider, TlsError};

/// Where Debian, Fedora and Alpine keep the system's CA bundle.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The client configuration: verifying against `peer_ca` (or the system bundle)
/// when `verify`, accepting any certificate otherwise.
pub fn client_config(verify: bool, peer_ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let config = if verify {
        let mut roots = RootCertStore::empty();
        let bundle = match peer_ca {
            Some(path) => Some(path.to_owned()),
            None => SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file()),
        };
        match &bundle {
            Some(path) => {
                // A system bundle may hold a certificate webpki cannot parse: skip it.
                let (added, skipped) = roots.add_parsable_certificates(certificates(path, "CA certificate")?);
                tracing::debug!(path = %path.display(), added, skipped, "peer CA certificates");
            }
            None => tracing::warn!(
                "no [tls] peer_ca and no system CA bundle: outbound TLS connections will fail verification"
            ),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `verify_peers = false`: any certificate is accepted (the handshake's signatures
/// are still checked, so the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
