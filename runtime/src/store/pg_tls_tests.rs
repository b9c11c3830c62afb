//! PostgreSQL over TLS (specs/tls.md, TLS-PG-1..5), against the server of
//! `CPMD_TEST_PG` with the certificate `scripts/test` made for it: `ssl = on`, a
//! server certificate for `localhost` only, its CA in `CPMD_TEST_PG_TLS_CA`. Without
//! those two variables the tests fail under `CI=true` and are skipped loudly
//! otherwise. The untrusted CA is made here (`tls::test_pki`). Each connection asks
//! the server whether it is encrypted (`pg_stat_ssl`), so a mode that silently fell
//! back to plain text would fail.

use super::*;
use crate::store::postgres::PgConn;
use crate::store::sql::Conn as _;

/// `CPMD_TEST_PG` and `CPMD_TEST_PG_TLS_CA`, or `None` (skip) outside CI.
fn server(test: &str) -> Option<(String, String)> {
    match (
        std::env::var("CPMD_TEST_PG"),
        std::env::var("CPMD_TEST_PG_TLS_CA"),
    ) {
        (Ok(url), Ok(ca)) => Some((url, ca)),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CPMD_TEST_PG and CPMD_TEST_PG_TLS_CA must be set under CI=true (scripts/test sets them up)"
            );
            eprintln!(
                "SKIPPED {test}: CPMD_TEST_PG or CPMD_TEST_PG_TLS_CA is not set (run scripts/test)"
            );
            None
        }
    }
}

/// `url` with its host replaced by `host` and `query` appended.
fn at(url: &str, host: &str, query: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    let (cred, after) = rest.rsplit_once('@').expect("user@host");
    let (_, port_db) = after.split_once(':').expect("host:port/db");
    format!("{scheme}://{cred}@{host}:{port_db}?{query}")
}

/// Whether the connection is encrypted, as the server sees it.
fn encrypted(conn: &mut PgConn) -> bool {
    let row = conn
        .query_one(
            "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl");
    row.int(0).expect("an integer") == 1
}

fn refused(url: &str) -> String {
    match PgConn::connect(url) {
        Ok(_) => panic!("connected: {url}"),
        Err(e) => e.0,
    }
}

#[test]
fn verify_full_with_the_right_host_connects_encrypted() {
    let Some((url, ca)) = server("verify_full_with_the_right_host_connects_encrypted") else {
        return;
    };
    let url = at(
        &url,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let mut conn = PgConn::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert!(encrypted(&mut conn), "TLS-PG-1");
}

#[test]
fn verify_full_refuses_a_certificate_for_another_host() {
    let Some((url, ca)) = server("verify_full_refuses_a_certificate_for_another_host") else {
        return;
    };
    // The certificate names `localhost`, not 127.0.0.1.
    let url = at(
        &url,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let e = refused(&url);
    assert!(
        e.contains("not valid for name \"127.0.0.1\""),
        "TLS-PG-3: {e}"
    );
}

#[test]
fn verify_ca_checks_the_chain_only() {
    let Some((url, ca)) = server("verify_ca_checks_the_chain_only") else {
        return;
    };
    let url = at(
        &url,
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    let mut conn = PgConn::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert!(encrypted(&mut conn), "TLS-PG-2");
}

#[test]
fn an_untrusted_ca_is_refused() {
    let Some((url, _)) = server("an_untrusted_ca_is_refused") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.crt");
    crate::tls::test_pki::Ca::new().write(&other);
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = at(
            &url,
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", other.display()),
        );
        let e = refused(&url);
        assert!(e.contains("UnknownIssuer"), "TLS-PG-2 ({mode}): {e}");
    }
}

#[test]
fn require_encrypts_without_verifying() {
    let Some((url, _)) = server("require_encrypts_without_verifying") else {
        return;
    };
    // No root certificate: any certificate, any name (libpq's `require`).
    let mut conn = PgConn::connect(&at(&url, "127.0.0.1", "sslmode=require")).unwrap();
    assert!(encrypted(&mut conn), "TLS-PG-4");
    let mut plain = PgConn::connect(&at(&url, "127.0.0.1", "sslmode=disable")).unwrap();
    assert!(!encrypted(&mut plain), "disable stays plain text");
}

#[test]
fn scram_channel_binding_is_used_over_tls() {
    let Some((url, _)) = server("scram_channel_binding_is_used_over_tls") else {
        return;
    };
    // `channel_binding=require`: SCRAM-SHA-256-PLUS or no connection (the test role
    // logs in with SCRAM over TCP, scripts/test).
    let url = at(&url, "127.0.0.1", "sslmode=require&channel_binding=require");
    let mut conn = PgConn::connect(&url).unwrap_or_else(|e| panic!("TLS-PG-5 {url}: {e}"));
    assert!(encrypted(&mut conn));
}

#[test]
fn store_url_tls_options_are_read_and_stripped() {
    let t = PgTarget::parse(
        "postgres://u:p@db:5432/cpmd?application_name=cpmd&sslmode=verify-full&sslrootcert=/etc/ca%20dir/r%26d.pem",
    )
    .unwrap();
    assert_eq!(t.mode, SslMode::VerifyFull);
    assert_eq!(
        t.root_cert,
        Some(std::path::PathBuf::from("/etc/ca dir/r&d.pem"))
    );
    assert_eq!(
        t.client_url,
        "postgres://u:p@db:5432/cpmd?application_name=cpmd&sslmode=require"
    );
    let t = PgTarget::parse("postgres://u:p@db/cpmd?sslmode=verify-ca&sslrootcert=ca.pem").unwrap();
    assert_eq!(
        (t.mode, t.client_url.as_str()),
        (SslMode::VerifyCa, "postgres://u:p@db/cpmd?sslmode=require")
    );
    let t = PgTarget::parse("postgres://u:p@db/cpmd").unwrap();
    assert_eq!(
        (t.mode, t.client_url.as_str(), t.root_cert),
        (SslMode::Prefer, "postgres://u:p@db/cpmd", None)
    );
    let t = PgTarget::parse("postgres://u:p@db/cpmd?sslmode=disable").unwrap();
    assert_eq!(t.client_url, "postgres://u:p@db/cpmd?sslmode=disable");
    // Verification without a root certificate, unknown modes, `system`: refused.
    for bad in [
        "postgres://u:p@db/cpmd?sslmode=verify-full",
        "postgres://u:p@db/cpmd?sslmode=verify-ca",
        "postgres://u:p@db/cpmd?sslmode=allow",
        "postgres://u:p@db/cpmd?sslmode=verify-full&sslrootcert=system",
        "postgres://u:p@db/cpmd?sslmode=verify-full&sslrootcert=%zz",
    ] {
        assert!(PgTarget::parse(bad).is_err(), "{bad}");
    }
    // A root file that is missing fails before any connection.
    let t =
        PgTarget::parse("postgres://u:p@db/cpmd?sslmode=verify-ca&sslrootcert=/nonexistent.pem")
            .unwrap();
    assert!(t.connector().is_err());
}
