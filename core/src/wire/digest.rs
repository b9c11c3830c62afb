//! HTTP Digest credentials and challenges as SIP carries them (RFC 3261 §22.4,
//! RFC 7616 syntax, RFC 8760 SHA-256 for SIP): parsing `Authorization` /
//! `Proxy-Authorization` values and printing `WWW-Authenticate` /
//! `Proxy-Authenticate` values. The hashing and checking live in the server.

/// The parameters of a `Digest` credentials value the server checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DigestCredentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce` the server issued.
    pub nonce: String,
    /// `uri` the client hashed (the Request-URI).
    pub uri: String,
    /// `response`, lower-case hex.
    pub response: String,
    /// `algorithm` (`MD5` when absent).
    pub algorithm: String,
    /// `qop` (`auth`), if the client used it.
    pub qop: Option<String>,
    /// `cnonce`, with qop.
    pub cnonce: Option<String>,
    /// `nc`, with qop.
    pub nc: Option<String>,
}

/// Parses `Digest k=v, k="v", ...`; `None` for another scheme or a value missing a
/// required parameter.
pub fn parse_credentials(value: &str) -> Option<DigestCredentials> {
    let rest = value.trim_start();
    let (scheme, params) = rest.split_at(rest.find(char::is_whitespace)?);
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut c = DigestCredentials {
        algorithm: "MD5".into(),
        ..DigestCredentials::default()
    };
    for (name, value) in split_params(params) {
        match name.to_ascii_lowercase().as_str() {
            "username" => c.username = value,
            "realm" => c.realm = value,
            "nonce" => c.nonce = value,
            "uri" => c.uri = value,
            "response" => c.response = value.to_ascii_lowercase(),
            "algorithm" => c.algorithm = value,
            "qop" => c.qop = Some(value),
            "cnonce" => c.cnonce = Some(value),
            "nc" => c.nc = Some(value),
            _ => {}
        }
    }
    let complete = !c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty();
    complete.then_some(c)
}

/// Splits `a=1, b="x, y"` into `(name, unquoted value)` pairs; commas inside quotes
/// do not split, `\"` escapes are honoured.
fn split_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.trim().is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

/// A `Digest` challenge value.
pub fn print_challenge(realm: &str, nonce: &str, algorithm: &str, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={algorithm}, qop=\"auth\"{stale}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sipp_and_rfc_examples() {
        let c = parse_credentials(
            "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
             response=\"6629FAE49393A05397450978507C4EF1\", algorithm=MD5",
        )
        .expect("complete credentials");
        assert_eq!(c.username, "bob");
        assert_eq!(c.uri, "sip:bob@biloxi.com");
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        assert_eq!(c.response, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn refuses_other_schemes_and_incomplete_values() {
        assert_eq!(parse_credentials("Basic Ym9iOnNlY3JldA=="), None);
        assert_eq!(parse_credentials("Digest username=\"bob\""), None);
        assert_eq!(parse_credentials(""), None);
        assert_eq!(parse_credentials("Digest"), None);
    }

    #[test]
    fn quoted_commas_and_escapes() {
        let p = split_params(" a=\"x, \\\"y\\\"\", b=2");
        assert_eq!(
            p,
            vec![("a".into(), "x, \"y\"".into()), ("b".into(), "2".into())]
        );
    }
}
