//! SEC-6 (specs/security.md): where the server may connect, and who the terminal
//! behind a request is.
//!
//! cpmd opens connections on a peer's word: the first URI of an MSRP `a=path` when
//! the server is the active party, and a Contact (or remote target) when a TCP
//! connection to a terminal is gone. Without a rule it would connect to any host
//! and port a peer names, a "connection cannon" aimed at third parties. The rule:
//! connect only to the IP address the terminal signals from (its *terminal
//! address*), or to an address in `[trust] connect_allow` (an MSRP relay, an SBC).
//!
//! The terminal address is the request's source, unless the source is a trusted
//! proxy (`[trust] trusted_proxies`): then it is the address the proxy received the
//! request from, which the proxy wrote in the Via below its own (`received`, else
//! the Via's host when it is an IP literal); through a chain of trusted proxies, the
//! first untrusted hop. The same address keys password failures (SEC-4f). A
//! registration's terminal address is noted on its binding's flow only as the
//! source; the core keeps the terminal address of each leg and binding at the time
//! it learns them.
//!
//! What it is *not*: name resolution (the core never resolves; URIs with a host
//! name are not connected to), nor the `Path` header (RFC 3327): cpmd does not route
//! by Path yet, so only the Via counts.

use std::net::IpAddr;
use std::str::FromStr;

use super::output::Flow;
use crate::sip::{Request, Via};
use crate::uri::Host;

/// An address block: `192.0.2.0/24`, `2001:db8::/32`, or one address (`/32`,
/// `/128` implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR block that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an address or address/prefix: {0:?}")]
pub struct CidrError(pub String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CidrError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// `[trust]`: trusted proxies and extra connection targets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TrustConfig {
    /// Proxies whose Via says where a request really came from.
    pub trusted_proxies: Vec<Cidr>,
    /// Addresses the server may connect to besides the terminal's own (relays).
    pub connect_allow: Vec<Cidr>,
}

impl TrustConfig {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// The terminal behind a request received on `flow` (see the module docs).
    pub fn terminal_ip(&self, flow: &Flow, req: &Request) -> IpAddr {
        let mut ip = flow.peer.ip();
        // The top Via is the last hop's own; each Via below was received by the hop
        // above it.
        for via in req.headers.via.iter().skip(1) {
            if !self.trusted(ip) {
                break;
            }
            match via_source(via) {
                Some(next) => ip = next,
                None => break,
            }
        }
        ip
    }

    /// SEC-6: whether the server may connect to `target` on behalf of a terminal
    /// whose address is `terminal`.
    pub fn may_connect(&self, terminal: IpAddr, target: IpAddr) -> bool {
        same_host(terminal, target) || self.connect_allow.iter().any(|c| c.contains(target))
    }
}

fn same_host(a: IpAddr, b: IpAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    canon(a) == canon(b)
}

/// Where the hop that wrote `via` sent from: its `received`, else its host when it
/// is an IP literal.
fn via_source(via: &Via) -> Option<IpAddr> {
    let received = via
        .params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("received"))
        .and_then(|p| p.value.as_deref());
    if let Some(received) = received {
        return received.trim_matches(['[', ']']).parse().ok();
    }
    match &via.host {
        Host::V4(a) => Some(IpAddr::V4(*a)),
        Host::V6(a) => Some(IpAddr::V6(*a)),
        Host::Name(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("cidr")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cidr_blocks_contain_their_addresses_only() {
        assert!(cidr("192.0.2.0/24").contains(ip("192.0.2.77")));
        assert!(!cidr("192.0.2.0/24").contains(ip("192.0.3.1")));
        assert!(cidr("10.0.0.1").contains(ip("10.0.0.1")));
        assert!(!cidr("10.0.0.1").contains(ip("10.0.0.2")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(cidr("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!cidr("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(cidr("127.0.0.0/8").contains(ip("::ffff:127.0.0.2")));
        assert!(!cidr("::/0").contains(ip("127.0.0.1")));
        for bad in ["", "1.2.3.4/33", "::/129", "host/8", "1.2.3.4/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(cidr("10.1.0.0/16").to_string(), "10.1.0.0/16");
    }
}
