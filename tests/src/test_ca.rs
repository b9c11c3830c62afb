//! A certificate authority made at test time (rcgen) for the end-to-end TLS tests:
//! server certificates written as PEM files next to the test's cpmd. No private key
//! is ever committed.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};

/// A CA made for one test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A new self-signed CA.
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: OpenSSL takes a leaf named like its issuer for self-signed.
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "cpmd e2e test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self { cert, key }
    }

    /// Writes the CA certificate to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).expect("write CA");
    }

    /// A server certificate for `names` (DNS names or IP addresses), written to
    /// `cert` and `key`; returns the certificate's PEM.
    pub fn issue(&self, names: &[&str], cert: &Path, key: &Path) -> String {
        let leaf_key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        let leaf = params
            .signed_by(&leaf_key, &self.cert, &self.key)
            .expect("leaf certificate");
        let pem = leaf.pem();
        std::fs::write(cert, &pem).expect("write certificate");
        std::fs::write(key, leaf_key.serialize_pem()).expect("write key");
        pem
    }
}

/// The base64 body of the first PEM certificate in `text` (for comparing what a
/// server presented with a file).
pub fn pem_body(text: &str) -> String {
    text.lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect()
}

/// Paths of a server certificate and key in `dir`.
pub fn server_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("server.crt"), dir.join("server.key"))
}
