//! Connection counts per source address (specs/limits.md, LIM-7): each listener
//! keeps its own, so one address cannot take a listener's whole budget. A slot is
//! held while its connection lives and given back on drop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections by source address, capped at `max` each.
#[derive(Debug)]
pub struct PerIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// One connection's place in a [`PerIp`] count; released on drop.
#[derive(Debug)]
pub struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// A table allowing `max` connections per address.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            counts: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// A slot for `ip`, or `None` when it holds `max` already.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LIM-7: an address gets `max` slots; a released slot can be taken again;
    /// other addresses are not affected.
    #[test]
    fn caps_each_address_and_releases_on_drop() {
        let t = PerIp::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = t.take(a).unwrap();
        let _s2 = t.take(a).unwrap();
        assert!(t.take(a).is_none());
        assert!(t.take(b).is_some());
        drop(s1);
        assert!(t.take(a).is_some());
    }
}
