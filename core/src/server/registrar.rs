//! The registrar (RFC 3261 §10) and the identity check built on it
//! (specs/registration.md, REG-1..REG-4).

use std::collections::BTreeMap;

use super::config::Timers;
use super::outbox::Outbox;
use super::output::Flow;
use super::timer::Timer;
use crate::sip::{NameAddr, Request};
use crate::time::Time;
use crate::uri::{Param, UserUri};
use crate::wire::uri::print_uri;

/// One registered contact of a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Binding {
    /// The Contact as registered (its URI is the target of requests to the user).
    pub(crate) contact: NameAddr,
    /// The flow the REGISTER came over: requests to the user go back over it, and
    /// requests arriving over it are attributed to the user (REG-2).
    pub(crate) flow: Flow,
    pub(crate) expires_at: Time,
    /// Order of registration: the newest binding is preferred.
    pub(crate) order: u64,
}

/// Bindings per address-of-record, keyed by the printed contact URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Registrar {
    bindings: BTreeMap<UserUri, BTreeMap<String, Binding>>,
    order: u64,
}

/// What a REGISTER asked for, after validation.
pub(crate) enum RegisterOutcome {
    /// The current bindings, each with its remaining seconds (REG-3).
    Bindings(Vec<(NameAddr, u32)>),
    /// A malformed request (e.g. `*` with a non-zero Expires).
    Invalid,
}

impl Registrar {
    /// Applies a REGISTER for `aor` received over `flow`.
    pub(crate) fn register(
        &mut self,
        now: Time,
        aor: &UserUri,
        req: &Request,
        flow: Flow,
        timers: &Timers,
        out: &mut Outbox,
    ) -> RegisterOutcome {
        let default = req.headers.expires.unwrap_or(timers.default_expires_s);
        if req.headers.contact_wildcard {
            if req.headers.expires != Some(0) || !req.headers.contact.is_empty() {
                // RFC 3261 §10.3 step 6: `*` only with Expires 0 and alone.
                return RegisterOutcome::Invalid;
            }
            for key in self.bindings.remove(aor).unwrap_or_default().into_keys() {
                out.disarm(&Timer::BindingExpiry(aor.clone(), key));
            }
            return RegisterOutcome::Bindings(Vec::new());
        }
        for contact in &req.headers.contact {
            let expires = contact
                .param("expires")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(default)
                .min(timers.default_expires_s);
            let key = print_uri(&contact.uri);
            let timer = Timer::BindingExpiry(aor.clone(), key.clone());
            let user = self.bindings.entry(aor.clone()).or_default();
            if expires == 0 {
                user.remove(&key);
                out.disarm(&timer);
                continue;
            }
            self.order += 1;
            let mut stored = contact.clone();
            stored
                .params
                .retain(|p| !p.name.eq_ignore_ascii_case("expires"));
            let expires_at = now.plus_ms(u64::from(expires) * 1000);
            user.insert(
                key,
                Binding {
                    contact: stored,
                    flow,
                    expires_at,
                    order: self.order,
                },
            );
            out.arm(timer, expires_at);
        }
        self.bindings.retain(|_, b| !b.is_empty());
        RegisterOutcome::Bindings(self.current(now, aor))
    }

    /// How many bindings `aor` has now and would have once `req` is applied (SEC-5).
    pub(crate) fn user_count_after(
        &self,
        aor: &UserUri,
        req: &Request,
        default_expires_s: u32,
    ) -> (usize, usize) {
        let mut keys: std::collections::BTreeSet<String> = self
            .bindings
            .get(aor)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default();
        let before = keys.len();
        if req.headers.contact_wildcard {
            return (before, 0);
        }
        let default = req.headers.expires.unwrap_or(default_expires_s);
        for contact in &req.headers.contact {
            let expires = contact
                .param("expires")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(default);
            let key = print_uri(&contact.uri);
            if expires == 0 {
                keys.remove(&key);
            } else {
                keys.insert(key);
            }
        }
        (before, keys.len())
    }

    /// How many bindings the server holds in all.
    pub(crate) fn total(&self) -> usize {
        self.bindings.values().map(BTreeMap::len).sum()
    }

    /// The current bindings of `aor` with their remaining seconds, as a 200 lists them.
    fn current(&self, now: Time, aor: &UserUri) -> Vec<(NameAddr, u32)> {
        let Some(user) = self.bindings.get(aor) else {
            return Vec::new();
        };
        user.values()
            .map(|b| {
                let left_ms = b.expires_at.as_ms().saturating_sub(now.as_ms());
                let mut c = b.contact.clone();
                let secs = u32::try_from(left_ms.div_ceil(1000)).unwrap_or(u32::MAX);
                c.params.push(Param::new("expires", Some(secs.to_string())));
                (c, secs)
            })
            .collect()
    }

    /// A binding expired (REG-1).
    pub(crate) fn expire(&mut self, aor: &UserUri, contact: &str) {
        if let Some(user) = self.bindings.get_mut(aor) {
            user.remove(contact);
            if user.is_empty() {
                self.bindings.remove(aor);
            }
        }
    }

    /// The binding a single request to `aor` uses: the newest one.
    pub(crate) fn lookup(&self, aor: &UserUri) -> Option<&Binding> {
        self.bindings.get(aor)?.values().max_by_key(|b| b.order)
    }

    /// Every binding of `aor`, newest first: the devices an INVITE forks to.
    pub(crate) fn lookup_all(&self, aor: &UserUri) -> Vec<Binding> {
        let mut all: Vec<Binding> = self
            .bindings
            .get(aor)
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by_key(|b| std::cmp::Reverse(b.order));
        all
    }

    /// Moves every binding registered over `old` to `new` (the server reconnected).
    pub(crate) fn rebind(&mut self, old: &Flow, new: Flow) {
        for user in self.bindings.values_mut() {
            for b in user.values_mut().filter(|b| b.flow == *old) {
                b.flow = new;
            }
        }
    }

    /// REG-2: the identity the server authenticated for a request claiming to be from
    /// `claimed` and arriving over `flow`: the claim holds only when that user has a
    /// binding registered over the same transport from the same address.
    pub(crate) fn authenticate(&self, claimed: &UserUri, flow: &Flow) -> Option<UserUri> {
        let user = self.bindings.get(claimed)?;
        user.values()
            .any(|b| b.flow.transport == flow.transport && b.flow.peer == flow.peer)
            .then(|| claimed.clone())
    }
}
