//! SIP digest authentication (RFC 3261 §22, RFC 8760): challenges for REGISTER (401)
//! and for out-of-dialog requests of local users (407), checked against the
//! configured passwords, with nonces the server signs (`nonces`), SEC-4a..SEC-4e of
//! specs/security.md. With authentication off (benchmarks, tests), identity is the
//! registration flow alone (REG-2).

use md5::Md5;
use sha2::{Digest, Sha256};

use super::config::DigestAlgorithm;
use super::failures::LoginVerdict;
use super::nonces::{self, Count};
use super::output::Flow;
use super::refusal::Refusal;
use super::{Server, TxKey};
use crate::sip::{Request, Response, StatusCode};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire::digest::{parse_credentials, print_challenge, DigestCredentials};
use crate::wire::uri::{parse_uri, print_uri};

/// What the credentials of a request say.
enum Verdict {
    Authenticated(UserUri),
    Challenge {
        stale: bool,
    },
    Forbidden,
    /// SEC-4f: a wrong password (or user name), answered after `delay_ms`.
    Failed {
        delay_ms: u64,
    },
    /// SEC-4f: too many failures; refused whatever the password.
    Blocked {
        retry_after_ms: u64,
    },
}

impl Server {
    /// REG-2 for an out-of-dialog request: the identity the server authenticated, or
    /// `None` after answering the request (407 challenge or 403).
    pub(crate) fn identify(
        &mut self,
        now: Time,
        key: &TxKey,
        req: &Request,
        flow: &Flow,
    ) -> Option<UserUri> {
        let claimed = UserUri::from_uri(&req.headers.from.uri);
        if self.config.auth.is_none() {
            let known = claimed.and_then(|c| self.registrar.authenticate(&c, flow));
            if known.is_none() {
                self.refuse_request(now, key, req, Refusal::NotAuthenticated);
            }
            return known;
        }
        let source = self.config.trust.terminal_ip(flow, req);
        match self.check_digest(now, req, "Proxy-Authorization", source) {
            Verdict::Authenticated(user) if Some(&user) == claimed.as_ref() => Some(user),
            Verdict::Challenge { stale } => {
                self.challenge(now, key, req, StatusCode::PROXY_AUTH_REQUIRED, stale);
                None
            }
            Verdict::Failed { delay_ms } => {
                self.refuse_failed(now, key, req, delay_ms);
                None
            }
            Verdict::Blocked { retry_after_ms } => {
                self.refuse_blocked(now, key, req, retry_after_ms);
                None
            }
            Verdict::Authenticated(_) | Verdict::Forbidden => {
                self.refuse_request(now, key, req, Refusal::NotAuthenticated);
                None
            }
        }
    }

    /// A REGISTER's credentials for `aor`: `true` to go on; otherwise the request was
    /// answered (401 or 403).
    pub(crate) fn register_allowed(
        &mut self,
        now: Time,
        key: &TxKey,
        req: &Request,
        flow: &Flow,
        aor: &UserUri,
    ) -> bool {
        if self.config.auth.is_none() {
            return true;
        }
        let source = self.config.trust.terminal_ip(flow, req);
        match self.check_digest(now, req, "Authorization", source) {
            Verdict::Authenticated(user) if user == *aor => true,
            Verdict::Challenge { stale } => {
                self.challenge(now, key, req, StatusCode::UNAUTHORIZED, stale);
                false
            }
            Verdict::Failed { delay_ms } => {
                self.refuse_failed(now, key, req, delay_ms);
                false
            }
            Verdict::Blocked { retry_after_ms } => {
                self.refuse_blocked(now, key, req, retry_after_ms);
                false
            }
            Verdict::Authenticated(_) | Verdict::Forbidden => {
                self.refuse_request(now, key, req, Refusal::NotAuthenticated);
                false
            }
        }
    }

    /// The order is the rule (SEC-4a): everything that does not depend on the password
    /// (realm, algorithm, `qop`, the nonce's signature, `uri`) is checked first, so a
    /// made-up nonce gets the same challenge whether the password was right or not;
    /// then the password (in constant time, SEC-4d); then freshness (expiry, `nc`),
    /// which only a client that knows the password learns about. The password's
    /// verdict passes the failure table (SEC-4f) keyed by the terminal's `source`:
    /// a blocked attempt is refused whether the password was right or not.
    fn check_digest(
        &mut self,
        now: Time,
        req: &Request,
        header: &str,
        source: std::net::IpAddr,
    ) -> Verdict {
        let Some(auth) = self.config.auth.clone() else {
            return Verdict::Forbidden;
        };
        let creds = req
            .headers
            .other
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(header))
            .filter_map(|(_, v)| parse_credentials(v))
            .find(|c| c.realm == auth.realm);
        let Some(creds) = creds else {
            return Verdict::Challenge { stale: false };
        };
        let Some(algorithm) =
            DigestAlgorithm::from_token(&creds.algorithm).filter(|a| auth.algorithms.contains(a))
        else {
            return Verdict::Challenge { stale: false };
        };
        // SEC-4a: a nonce the server did not sign is answered like no credentials at
        // all, before anything looks at the password.
        let Some(expiry) = nonces::verify(&self.config.seed, &creds.nonce) else {
            return Verdict::Challenge { stale: false };
        };
        // SEC-4e: `qop=auth` with a count and a client nonce; RFC 2069 responses
        // (no qop) cannot be checked for replays.
        let Some(nc) = qop_auth_count(&creds) else {
            return Verdict::Forbidden;
        };
        // SEC-4c: the response covers the `uri` parameter, so it must be this
        // request's Request-URI, not one captured from another request.
        if !same_uri(&creds.uri, req) {
            return Verdict::Forbidden;
        }
        // An unknown user name counts as a wrong password (SEC-4f).
        let password_ok = auth.passwords.get(&creds.username).is_some_and(|password| {
            let expected = expected_response(algorithm, &creds, password, req.method.as_str());
            nonces::constant_time_eq(expected.as_bytes(), creds.response.as_bytes())
        });
        let policy = self.config.login_failures;
        match self
            .failures
            .judge(&policy, now, &creds.username, source, password_ok)
        {
            LoginVerdict::Pass => {}
            LoginVerdict::Fail { delay_ms } => return Verdict::Failed { delay_ms },
            LoginVerdict::Blocked { retry_after_ms } => return Verdict::Blocked { retry_after_ms },
        }
        if expiry <= now {
            // Right password, old nonce: RFC 7616 `stale=true` lets the client retry
            // without asking its user again.
            return Verdict::Challenge { stale: true };
        }
        // SEC-4b: each count once per nonce; a replay is challenged again (the
        // replayer cannot answer a fresh nonce without the password).
        match self.nonces.count(now, &creds.nonce, expiry, nc) {
            Count::Fresh => {}
            Count::Replayed => return Verdict::Challenge { stale: true },
        }
        Verdict::Authenticated(UserUri::new_canonical(format!(
            "sip:{}@{}",
            creds.username, self.config.domain
        )))
    }

    /// Answers with a challenge per configured algorithm (SHA-256 first, RFC 8760 §2.4).
    fn challenge(
        &mut self,
        now: Time,
        key: &TxKey,
        req: &Request,
        status: StatusCode,
        stale: bool,
    ) {
        let Some(auth) = self.config.auth.clone() else {
            return;
        };
        // SEC-4a: signed, not stored: challenges cost no state and cannot push a
        // genuine nonce out of anything.
        let expiry = now.plus_ms(auth.nonce_ttl_ms);
        let nonce = nonces::mint(&self.config.seed, expiry, &self.ids.hex_token());
        let header = if status == StatusCode::UNAUTHORIZED {
            "WWW-Authenticate"
        } else {
            "Proxy-Authenticate"
        };
        let mut resp = Response::to_request(req, status);
        resp.headers.to.set_tag(&self.ids.tag());
        for algorithm in &auth.algorithms {
            let value = print_challenge(&auth.realm, &nonce, algorithm.token(), stale);
            resp.headers.other.push((header.to_owned(), value));
        }
        let timers = self.config.timers;
        self.tx.respond(now, key, resp, &timers, &mut self.out);
    }
}

/// SEC-4e: the `nc` of `qop=auth` credentials (8 hex digits, RFC 7616 §3.4), with a
/// `cnonce`; `None` for any other qop or none.
fn qop_auth_count(c: &DigestCredentials) -> Option<u32> {
    let auth = c
        .qop
        .as_deref()
        .is_some_and(|q| q.eq_ignore_ascii_case("auth"));
    let cnonce = c.cnonce.as_deref().is_some_and(|n| !n.is_empty());
    let nc = c.nc.as_deref().filter(|n| n.len() == 8)?;
    (auth && cnonce)
        .then(|| u32::from_str_radix(nc, 16).ok())
        .flatten()
}

/// SEC-4c: the credentials' `uri` names the Request-URI (RFC 3261 §22.4: the same
/// URI; compared parsed, so spelling differences the URI grammar allows pass).
fn same_uri(uri: &str, req: &Request) -> bool {
    parse_uri(uri).is_ok_and(|u| u == req.uri) || uri == print_uri(&req.uri)
}

/// RFC 7616 §3.4.1 with `qop=auth` (RFC 2069 form without qop).
fn expected_response(
    algorithm: DigestAlgorithm,
    c: &DigestCredentials,
    password: &str,
    method: &str,
) -> String {
    let h = |text: String| hash(algorithm, &text);
    let ha1 = h(format!("{}:{}:{password}", c.username, c.realm));
    let ha2 = h(format!("{method}:{}", c.uri));
    match (&c.qop, &c.nc, &c.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            h(format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", c.nonce))
        }
        _ => h(format!("{ha1}:{}:{ha2}", c.nonce)),
    }
}

fn hash(algorithm: DigestAlgorithm, text: &str) -> String {
    let bytes: Vec<u8> = match algorithm {
        DigestAlgorithm::Md5 => Md5::digest(text.as_bytes()).to_vec(),
        DigestAlgorithm::Sha256 => Sha256::digest(text.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's example (MD5, qop=auth), with SIP's method in HA2.
    #[test]
    fn md5_matches_the_rfc_2617_example() {
        let c = DigestCredentials {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: String::new(),
            algorithm: "MD5".into(),
            qop: Some("auth".into()),
            cnonce: Some("0a4f113b".into()),
            nc: Some("00000001".into()),
        };
        assert_eq!(
            expected_response(DigestAlgorithm::Md5, &c, "Circle Of Life", "GET"),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    /// RFC 7616 §3.9.1's SHA-256 example.
    #[test]
    fn sha256_matches_the_rfc_7616_example() {
        let c = DigestCredentials {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            response: String::new(),
            algorithm: "SHA-256".into(),
            qop: Some("auth".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            nc: Some("00000001".into()),
        };
        assert_eq!(
            expected_response(DigestAlgorithm::Sha256, &c, "Circle of Life", "GET"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }
}
