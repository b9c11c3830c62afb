//! `[trust]` in the configuration file: trusted proxies and connection targets
//! (SEC-6) and the password-failure limits shared by SIP digest and IMAP (SEC-4f),
//! translated into the core's [`TrustConfig`] and [`FailurePolicy`]
//! (specs/security.md).
//!
//! What it is *not*: the rules themselves (`core/src/server/connect_policy.rs`,
//! `core/src/server/failures.rs`).

use cpmd_core::server::{Cidr, CidrError, FailurePolicy, TrustConfig};
use serde::Deserialize;

/// `[trust]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustFileConfig {
    /// Proxies (CIDR blocks) whose Via says which terminal a request came from.
    pub trusted_proxies: Vec<String>,
    /// Addresses (CIDR blocks) cpmd may connect to besides a terminal's own
    /// signalling address: MSRP relays, SBCs.
    pub connect_allow: Vec<String>,
    /// Failures of one user from one source (IPv4 address, IPv6 /64) before both
    /// are refused until the window passes.
    pub max_failures_per_user_source: u32,
    /// Failures from one source, any users, before it is refused.
    pub max_failures_per_source: u32,
    /// How long failures count, from the first one, in seconds.
    pub failure_window_s: u64,
    /// Delay of a failing answer per failure counted, in milliseconds.
    pub failure_delay_ms: u64,
    /// Most delay of a failing answer, in milliseconds.
    pub max_failure_delay_ms: u64,
    /// Most delay a user's failures from all sources give, in milliseconds (per
    /// user there is no refusal, so nobody can lock a victim out).
    pub max_user_failure_delay_ms: u64,
}

impl Default for TrustFileConfig {
    fn default() -> Self {
        let p = FailurePolicy::default();
        Self {
            trusted_proxies: Vec::new(),
            connect_allow: Vec::new(),
            max_failures_per_user_source: p.max_per_user_source,
            max_failures_per_source: p.max_per_source,
            failure_window_s: p.window_ms / 1000,
            failure_delay_ms: p.delay_step_ms,
            max_failure_delay_ms: p.max_delay_ms,
            max_user_failure_delay_ms: p.max_user_delay_ms,
        }
    }
}

impl TrustFileConfig {
    /// The core's trust rules; a block that does not parse is an error.
    pub fn core(&self) -> Result<TrustConfig, CidrError> {
        let parse = |list: &[String]| -> Result<Vec<Cidr>, CidrError> {
            list.iter().map(|s| s.parse()).collect()
        };
        Ok(TrustConfig {
            trusted_proxies: parse(&self.trusted_proxies)?,
            connect_allow: parse(&self.connect_allow)?,
        })
    }

    /// The core's failure policy.
    pub fn failures(&self) -> FailurePolicy {
        FailurePolicy {
            window_ms: self.failure_window_s.saturating_mul(1000),
            max_per_user_source: self.max_failures_per_user_source,
            max_per_source: self.max_failures_per_source,
            delay_step_ms: self.failure_delay_ms,
            max_delay_ms: self.max_failure_delay_ms,
            max_user_delay_ms: self.max_user_failure_delay_ms,
            ..FailurePolicy::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_parse_and_bad_ones_are_refused() {
        let t: TrustFileConfig = toml::from_str(
            "trusted_proxies = [\"10.0.0.0/8\"]\nconnect_allow = [\"192.0.2.7\", \"2001:db8::/32\"]\nmax_failures_per_source = 7",
        )
        .expect("parses");
        let core = t.core().expect("valid");
        assert_eq!(core.trusted_proxies.len(), 1);
        assert_eq!(core.connect_allow.len(), 2);
        assert_eq!(t.failures().max_per_source, 7);
        assert_eq!(t.failures().max_per_user_source, 5);
        let bad: TrustFileConfig =
            toml::from_str("connect_allow = [\"10.0.0.0/40\"]").expect("parses");
        assert!(bad.core().is_err());
    }
}
