//! SEC-4f (specs/security.md): repeated password failures are delayed, then refused.
//!
//! One [`Failures`] table counts wrong passwords (and unknown user names) within a
//! window, three ways:
//!
//! - per (user, source): after `max_per_user_source` failures every further attempt
//!   of that user from that source is refused, right password or not, until the
//!   window of the first failure passes;
//! - per source (an IPv4 address, an IPv6 /64): after `max_per_source` failures every
//!   user is refused from it, the same way;
//! - per user alone: only a delay, at most `max_user_delay_ms`, never a refusal, so
//!   that nobody can lock a victim out by failing on purpose from elsewhere.
//!
//! A failing answer waits `delay_step_ms` per failure counted (capped): the caller
//! holds it that long (SIP: a timer, `Timer::HeldAnswer`; IMAP: the session waits).
//! Blocked attempts are not counted (they test no password) and do not extend the
//! window. A right password clears its (user, source) count only: one known account
//! cannot reset a source's count.
//!
//! Bounded: each table holds at most `capacity` entries. A new key in a full table
//! first drops entries whose window passed, then the entry with the lowest count
//! (oldest first): a flood of fresh keys (count 1) evicts other fresh keys, never an
//! entry that holds a source or a user near or at its limit.
//!
//! What it is *not*: the password check itself (`auth.rs`, the runtime's IMAP
//! `Users`), nor a limit on requests that test no password (challenges, made-up
//! nonces: SEC-4a makes those cost no state).
//!
//! Shared: the SIP digest check calls [`Failures::judge`] from inside the core; IMAP
//! LOGIN/AUTHENTICATE reach the same table through `Server::login_attempt` (the
//! runtime's event loop), since both use the same passwords.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::time::Time;

/// How many failures are tolerated, how answers are delayed, how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FailurePolicy {
    /// How long failures count, from the first one of a key.
    pub window_ms: u64,
    /// Failures of one user from one source before both are refused.
    pub max_per_user_source: u32,
    /// Failures from one source (any users) before it is refused.
    pub max_per_source: u32,
    /// Delay per counted failure of a failing answer.
    pub delay_step_ms: u64,
    /// Most delay a (user, source) or source count gives.
    pub max_delay_ms: u64,
    /// Most delay a user's count alone gives (nobody is locked out per user).
    pub max_user_delay_ms: u64,
    /// Most entries per table.
    pub capacity: usize,
}

impl Default for FailurePolicy {
    /// 5 failures per user and source, 30 per source, within 5 minutes; answers
    /// delayed 0.5 s per failure up to 4 s (2 s from a user's count alone).
    fn default() -> Self {
        Self {
            window_ms: 300_000,
            max_per_user_source: 5,
            max_per_source: 30,
            delay_step_ms: 500,
            max_delay_ms: 4_000,
            max_user_delay_ms: 2_000,
            capacity: 4_096,
        }
    }
}

/// What to do with one password attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginVerdict {
    /// The password was right and the attempt not blocked.
    Pass,
    /// The password was wrong: answer it no earlier than `delay_ms` from now.
    Fail {
        /// How long to hold the answer.
        delay_ms: u64,
    },
    /// Too many failures: refused whatever the password, for `retry_after_ms` more.
    Blocked {
        /// Until the window passes.
        retry_after_ms: u64,
    },
}

/// The failures of one key within its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Tally {
    count: u32,
    since: Time,
}

/// The three tables (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Failures {
    user_source: BTreeMap<(String, IpAddr), Tally>,
    source: BTreeMap<IpAddr, Tally>,
    user: BTreeMap<String, Tally>,
}

/// The key of a source: the address, or an IPv6 address's /64 (one host usually owns
/// a whole /64, so counting single IPv6 addresses would count nothing).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = !0u128 << 64;
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        },
    }
}

impl Failures {
    /// Judges one attempt of `user` from `source` whose password was `password_ok`,
    /// and counts it when it failed.
    pub fn judge(
        &mut self,
        policy: &FailurePolicy,
        now: Time,
        user: &str,
        source: IpAddr,
        password_ok: bool,
    ) -> LoginVerdict {
        let src = source_key(source);
        let us_key = (user.to_owned(), src);
        let live = |t: Option<&Tally>| t.copied().filter(|t| !passed(policy, now, t));
        let blocked_until = [
            live(self.user_source.get(&us_key))
                .filter(|t| t.count >= policy.max_per_user_source)
                .map(|t| t.since.plus_ms(policy.window_ms)),
            live(self.source.get(&src))
                .filter(|t| t.count >= policy.max_per_source)
                .map(|t| t.since.plus_ms(policy.window_ms)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(until) = blocked_until {
            return LoginVerdict::Blocked {
                retry_after_ms: until.as_ms().saturating_sub(now.as_ms()),
            };
        }
        if password_ok {
            self.user_source.remove(&us_key);
            return LoginVerdict::Pass;
        }
        let n_us = bump(&mut self.user_source, us_key, policy, now);
        let n_src = bump(&mut self.source, src, policy, now);
        let n_user = bump(&mut self.user, user.to_owned(), policy, now);
        let step = |n: u32| policy.delay_step_ms.saturating_mul(u64::from(n));
        let delay = step(n_us.max(n_src))
            .min(policy.max_delay_ms)
            .max(step(n_user).min(policy.max_user_delay_ms));
        LoginVerdict::Fail { delay_ms: delay }
    }

    /// Entries held, per table (user and source, source, user): for tests.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.user_source.len(), self.source.len(), self.user.len())
    }
}

fn passed(policy: &FailurePolicy, now: Time, t: &Tally) -> bool {
    t.since.plus_ms(policy.window_ms) <= now
}

/// Counts one failure of `key`; returns its count within the window.
fn bump<K: Ord + Clone>(
    table: &mut BTreeMap<K, Tally>,
    key: K,
    policy: &FailurePolicy,
    now: Time,
) -> u32 {
    if !table.contains_key(&key) && table.len() >= policy.capacity {
        table.retain(|_, t| !passed(policy, now, t));
        if table.len() >= policy.capacity {
            // The least evidence goes first: lowest count, then oldest.
            let victim = table
                .iter()
                .min_by_key(|(_, t)| (t.count, t.since))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                table.remove(&victim);
            }
        }
    }
    let tally = table.entry(key).or_insert(Tally {
        count: 0,
        since: now,
    });
    if passed(policy, now, tally) {
        *tally = Tally {
            count: 0,
            since: now,
        };
    }
    tally.count = tally.count.saturating_add(1);
    tally.count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn policy() -> FailurePolicy {
        FailurePolicy {
            window_ms: 10_000,
            max_per_user_source: 3,
            max_per_source: 5,
            delay_step_ms: 100,
            max_delay_ms: 250,
            max_user_delay_ms: 150,
            capacity: 4,
        }
    }

    /// SEC-4f: delays grow, then the right password is refused too until the window
    /// passes; the source's other users are unaffected below the source limit.
    #[test]
    fn per_user_source_delays_then_blocks_until_the_window_passes() {
        let (p, mut f, a) = (policy(), Failures::default(), ip("192.0.2.1"));
        let t = Time::from_ms(1_000);
        assert_eq!(
            f.judge(&p, t, "alice", a, false),
            LoginVerdict::Fail { delay_ms: 100 }
        );
        assert_eq!(
            f.judge(&p, t, "alice", a, false),
            LoginVerdict::Fail { delay_ms: 200 }
        );
        assert_eq!(
            f.judge(&p, t, "alice", a, false),
            LoginVerdict::Fail { delay_ms: 250 }
        );
        let later = Time::from_ms(4_000);
        assert_eq!(
            f.judge(&p, later, "alice", a, true),
            LoginVerdict::Blocked {
                retry_after_ms: 7_000
            }
        );
        assert_eq!(f.judge(&p, later, "bob", a, true), LoginVerdict::Pass);
        assert_eq!(
            f.judge(&p, later, "alice", ip("192.0.2.2"), true),
            LoginVerdict::Pass
        );
        assert_eq!(
            f.judge(&p, Time::from_ms(11_000), "alice", a, true),
            LoginVerdict::Pass
        );
    }

    /// SEC-4f: per user alone only a bounded delay, never a refusal.
    #[test]
    fn a_user_failing_from_many_sources_is_never_locked_out() {
        let (p, mut f) = (policy(), Failures::default());
        let mut p = p;
        p.capacity = 100;
        for i in 0..50u8 {
            let v = f.judge(
                &p,
                Time::ZERO,
                "alice",
                ip(&format!("198.51.100.{i}")),
                false,
            );
            assert!(
                matches!(v, LoginVerdict::Fail { delay_ms } if delay_ms <= 150),
                "{v:?}"
            );
        }
        assert_eq!(
            f.judge(&p, Time::ZERO, "alice", ip("192.0.2.9"), true),
            LoginVerdict::Pass
        );
    }

    /// SEC-4f: per source, whatever the user names.
    #[test]
    fn a_source_trying_many_users_is_blocked() {
        let (mut p, mut f, a) = (policy(), Failures::default(), ip("2001:db8::1"));
        p.capacity = 100;
        for i in 0..5 {
            let v = f.judge(&p, Time::ZERO, &format!("user{i}"), a, false);
            assert!(matches!(v, LoginVerdict::Fail { .. }));
        }
        // Another address of the same /64 is the same source.
        assert!(matches!(
            f.judge(&p, Time::ZERO, "alice", ip("2001:db8::2"), true),
            LoginVerdict::Blocked { .. }
        ));
        assert_eq!(
            f.judge(&p, Time::ZERO, "alice", ip("2001:db9::1"), true),
            LoginVerdict::Pass
        );
    }

    /// SEC-4f: a right password clears its (user, source) count, not the source's.
    #[test]
    fn success_clears_only_its_own_count() {
        let (p, mut f, a) = (policy(), Failures::default(), ip("192.0.2.1"));
        for _ in 0..2 {
            f.judge(&p, Time::ZERO, "alice", a, false);
        }
        assert_eq!(
            f.judge(&p, Time::ZERO, "alice", a, true),
            LoginVerdict::Pass
        );
        assert_eq!(
            f.judge(&p, Time::ZERO, "alice", a, false),
            LoginVerdict::Fail { delay_ms: 250 }
        );
        assert_eq!(
            f.judge(&p, Time::ZERO, "alice", a, false),
            LoginVerdict::Fail { delay_ms: 250 }
        );
        // The source kept its count through alice's success: 2 + 2, then bob's makes 5.
        assert!(matches!(
            f.judge(&p, Time::ZERO, "bob", a, false),
            LoginVerdict::Fail { .. }
        ));
        assert!(matches!(
            f.judge(&p, Time::ZERO, "bob", a, true),
            LoginVerdict::Blocked { .. }
        ));
    }

    /// SEC-4f: a flood of fresh keys evicts fresh keys, not a blocked entry.
    #[test]
    fn a_flood_does_not_evict_a_blocked_entry() {
        let (p, mut f, a) = (policy(), Failures::default(), ip("192.0.2.1"));
        for _ in 0..3 {
            f.judge(&p, Time::ZERO, "alice", a, false);
        }
        for i in 0..1_000u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            f.judge(&p, Time::from_ms(1), &format!("u{i}"), src, false);
        }
        let (us, s, u) = f.sizes();
        assert!(us <= 4 && s <= 4 && u <= 4, "{:?}", f.sizes());
        assert!(matches!(
            f.judge(&p, Time::from_ms(2), "alice", a, true),
            LoginVerdict::Blocked { .. }
        ));
    }
}
