//! SCRAM channel binding for PostgreSQL over TLS: `tls-server-end-point` (RFC 5929
//! §4.1), the hash of the server's certificate with the hash function of the
//! certificate's signature algorithm (SHA-256 for MD5 and SHA-1). The client sends it
//! inside SCRAM (`SCRAM-SHA-256-PLUS`), so a man in the middle who terminates TLS with
//! another certificate cannot relay the authentication, even with `sslmode=require`
//! and no certificate check (TLS-PG-5).
//!
//! Only the certificate's outer `signatureAlgorithm` is read (a few bytes of DER);
//! the certificate itself was parsed and checked by the verifier. An algorithm
//! without a defined hash here (Ed25519, RSASSA-PSS) gives no binding: SCRAM then runs
//! without `-PLUS`, and `channel_binding=require` fails, as with libpq for Ed25519.

use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// The `tls-server-end-point` value for the DER certificate `cert`, if its signature
/// algorithm names a hash.
pub fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    let oid = signature_algorithm(cert)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    let hash = match oid {
        // md5WithRSA (4), sha1WithRSA (5), sha256WithRSA (11); ecdsa-with-SHA1/SHA256.
        [p @ .., 4 | 5 | 11] if p == RSA => Hash::Sha256,
        [p @ .., 2] if p == ECDSA_SHA2 => Hash::Sha256,
        o if o == ECDSA_SHA1 => Hash::Sha256,
        [p @ .., 12] if p == RSA => Hash::Sha384,
        [p @ .., 3] if p == ECDSA_SHA2 => Hash::Sha384,
        [p @ .., 13] if p == RSA => Hash::Sha512,
        [p @ .., 4] if p == ECDSA_SHA2 => Hash::Sha512,
        _ => return None,
    };
    Some(match hash {
        Hash::Sha256 => Sha256::digest(cert).to_vec(),
        Hash::Sha384 => Sha384::digest(cert).to_vec(),
        Hash::Sha512 => Sha512::digest(cert).to_vec(),
    })
}

enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm
/// AlgorithmIdentifier, signature }`: the content bytes of the algorithm's OID.
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = element(cert, 0x30)?;
    let (_, after_tbs) = element(certificate, 0x30)?;
    let (algorithm, _) = element(after_tbs, 0x30)?;
    let (oid, _) = element(algorithm, 0x06)?;
    Some(oid)
}

/// One DER element with tag `tag` at the start of `der`: (content, rest).
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_the_signature_algorithm() {
        // rcgen's default: ECDSA P-256 with SHA-256.
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        assert_eq!(
            signature_algorithm(&der),
            Some(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02][..])
        );
        assert_eq!(
            tls_server_end_point(&der),
            Some(Sha256::digest(&der).to_vec())
        );
        // P-384 signs with SHA-384.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        assert_eq!(
            tls_server_end_point(&der),
            Some(Sha384::digest(&der).to_vec())
        );
        // Ed25519: no hash, no binding.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(tls_server_end_point(cert.der()), None);
        // Not DER: nothing, no panic.
        assert_eq!(tls_server_end_point(b"\x30\x85\xff"), None);
        assert_eq!(tls_server_end_point(&[]), None);
    }
}
