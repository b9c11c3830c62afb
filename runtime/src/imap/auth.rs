//! Who may log in to IMAP: the `[auth.passwords]` users of the configuration,
//! checked by LOGIN and AUTHENTICATE PLAIN (RFC 4616).
//!
//! The login name is `alice` or `alice@<domain>`; the user is then
//! `sip:alice@<domain>`. Whatever a client sends after login never changes who it
//! is. Not here: other SASL mechanisms, TLS.

use std::collections::BTreeMap;

use cpmd_core::UserUri;

use super::login_limit::LoginGate;

/// The users and passwords IMAP accepts, and where failed attempts are counted
/// (SEC-4f, `login_limit.rs`).
#[derive(Debug, Clone, Default)]
pub struct Users {
    domain: String,
    passwords: BTreeMap<String, String>,
    gate: LoginGate,
}

/// Equal-length comparison that does not stop at the first difference, so the
/// time taken does not tell how much of a password was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Users {
    /// Users of `domain` with these passwords (name → password).
    pub fn new(domain: &str, passwords: BTreeMap<String, String>) -> Self {
        Self {
            domain: domain.to_ascii_lowercase(),
            passwords,
            gate: LoginGate::default(),
        }
    }

    /// These users with attempts judged by `gate` (in `cpmd`: the core's table,
    /// shared with SIP digest).
    pub fn with_gate(mut self, gate: LoginGate) -> Self {
        self.gate = gate;
        self
    }

    /// Where attempts are judged.
    pub fn gate(&self) -> &LoginGate {
        &self.gate
    }

    /// The failure-table key of a login name: the user name, as a SIP digest
    /// `username` names it (`alice` for `alice@<domain>` too).
    pub fn key_of(&self, login: &[u8]) -> String {
        let login = String::from_utf8_lossy(login);
        match login.rsplit_once('@') {
            Some((name, domain)) if domain.eq_ignore_ascii_case(&self.domain) => name.to_owned(),
            Some(_) | None => login.into_owned(),
        }
    }

    /// The failure-table key of a SASL PLAIN message (its authcid).
    pub fn key_of_plain(&self, message: &[u8]) -> String {
        let authc = message.split(|&b| b == 0).nth(1).unwrap_or_default();
        self.key_of(authc)
    }

    /// The configured user name a login names (`alice` or `alice@<domain>`) and
    /// its password.
    fn known<'s>(&'s self, login: &[u8]) -> Option<(&'s str, &'s str)> {
        let login = std::str::from_utf8(login).ok()?;
        let name = match login.rsplit_once('@') {
            Some((name, domain)) if domain.eq_ignore_ascii_case(&self.domain) => name,
            Some(_) => return None,
            None => login,
        };
        self.passwords
            .get_key_value(name)
            .map(|(n, p)| (n.as_str(), p.as_str()))
    }

    fn uri(&self, name: &str) -> UserUri {
        UserUri::new_canonical(format!("sip:{name}@{}", self.domain))
    }

    /// The user a login name and password identify, if they are right.
    pub fn check(&self, login: &[u8], password: &[u8]) -> Option<UserUri> {
        let (name, expected) = self.known(login)?;
        same(expected.as_bytes(), password).then(|| self.uri(name))
    }

    /// Checks a SASL PLAIN message `authzid NUL authcid NUL password`; an authzid,
    /// when given, must name the same user (no proxy authorisation).
    pub fn check_plain(&self, message: &[u8]) -> Option<UserUri> {
        let mut parts = message.split(|&b| b == 0);
        let (authz, authc, password) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let user = self.check(authc, password)?;
        if authz.is_empty() {
            return Some(user);
        }
        let (other, _) = self.known(authz)?;
        (self.uri(other) == user).then_some(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        Users::new(
            "Example.com",
            [("alice".to_owned(), "a-pass".to_owned())].into(),
        )
    }

    #[test]
    fn bare_and_qualified_names_log_in_as_the_sip_user() {
        let u = users();
        let alice = UserUri::new_canonical("sip:alice@example.com");
        assert_eq!(u.check(b"alice", b"a-pass"), Some(alice.clone()));
        assert_eq!(u.check(b"alice@EXAMPLE.com", b"a-pass"), Some(alice));
        assert_eq!(u.check(b"alice", b"a-pas"), None);
        assert_eq!(u.check(b"alice@other.com", b"a-pass"), None);
        assert_eq!(u.check(b"bob", b"a-pass"), None);
    }

    #[test]
    fn plain_needs_a_matching_authzid() {
        let u = users();
        assert!(u.check_plain(b"\0alice\0a-pass").is_some());
        assert!(u.check_plain(b"alice\0alice\0a-pass").is_some());
        assert!(u.check_plain(b"bob\0alice\0a-pass").is_none());
        assert!(u.check_plain(b"alice\0a-pass").is_none());
        assert!(u.check_plain(b"\0alice\0a-pass\0x").is_none());
    }
}
