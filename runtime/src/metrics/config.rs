//! `[metrics]`: where the metrics listener binds, or that there is none. Not here:
//! what is exported (the parent module) and how it is served ([`super::http`]).

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;

/// The port operators expect for a Prometheus exporter of this kind (the
/// OpenTelemetry/Prometheus exporter default).
pub const DEFAULT_PORT: u16 = 9464;

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsFileConfig {
    /// Serve `/metrics`, `/health` and `/ready` (default on).
    pub enabled: bool,
    /// Where; unset: 127.0.0.1:9464, or 127.0.0.1:0 when the first SIP listener asks
    /// for port 0 (so instances in tests never collide).
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsFileConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

impl MetricsFileConfig {
    /// The address to bind, if any; `first_sip` is the first SIP listener as asked for.
    pub fn address(&self, first_sip: Option<SocketAddr>) -> Option<SocketAddr> {
        if !self.enabled {
            return None;
        }
        let port = match first_sip {
            Some(a) if a.port() == 0 => 0,
            _ => DEFAULT_PORT,
        };
        Some(
            self.listen
                .unwrap_or_else(|| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_follows_the_first_sip_listener_and_can_be_turned_off() {
        let c = MetricsFileConfig::default();
        let fixed: SocketAddr = "0.0.0.0:5060".parse().unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(
            c.address(Some(fixed)),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(c.address(Some(any)), Some("127.0.0.1:0".parse().unwrap()));
        let set = MetricsFileConfig {
            listen: Some("[::1]:9100".parse().unwrap()),
            ..c.clone()
        };
        assert_eq!(set.address(Some(any)), Some("[::1]:9100".parse().unwrap()));
        let off = MetricsFileConfig {
            enabled: false,
            ..set
        };
        assert_eq!(off.address(Some(fixed)), None);
    }
}
