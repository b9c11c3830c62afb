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

    /// The newest binding of `aor` (the tests' view; requests fork to every
    /// binding through [`Registrar::lookup_all`], group invitations too: GRP-31).
    #[cfg(test)]
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

#[cfg(test)]
mod tests {
    //! The registrar's rules (specs/registration.md): REG-1 (bindings expire), REG-2
    //! (identity by the flow a binding was registered over), REG-3 (a 200 lists the
    //! current bindings with their remaining seconds).

    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

    use super::*;
    use crate::ids::{CallId, ConnId, Tag};
    use crate::testing;
    use crate::Transport;

    const A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5060);
    const B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5060);

    fn flow(transport: Transport, peer: SocketAddrV4) -> Flow {
        Flow {
            transport,
            conn: ConnId::new(1),
            peer: SocketAddr::V4(peer),
        }
    }

    fn alice() -> UserUri {
        UserUri::from_uri(&testing::sip_uri("alice", "example.com")).expect("a user URI")
    }

    /// A REGISTER of alice's contact at `addr` with header Expires `expires`.
    fn register(addr: SocketAddrV4, expires: u32) -> Request {
        let sender = testing::Sender::new(
            testing::sip_uri("alice", "example.com"),
            &Tag::new("t"),
            CallId::new("reg"),
            testing::via(Transport::Udp, addr, "r"),
            testing::contact("alice", addr),
        );
        testing::register(
            "example.com",
            testing::sip_uri("alice", "example.com"),
            expires,
            sender,
        )
    }

    fn contact_key(addr: SocketAddrV4) -> String {
        print_uri(&testing::contact("alice", addr).uri)
    }

    fn apply(
        reg: &mut Registrar,
        out: &mut Outbox,
        now_ms: u64,
        req: &Request,
        f: Flow,
    ) -> Vec<u32> {
        let outcome = reg.register(
            Time::from_ms(now_ms),
            &alice(),
            req,
            f,
            &Timers::default(),
            out,
        );
        let RegisterOutcome::Bindings(bindings) = outcome else {
            panic!("a valid REGISTER");
        };
        bindings.into_iter().map(|(_, secs)| secs).collect()
    }

    fn expiry(out: &Outbox, addr: SocketAddrV4) -> Option<u64> {
        let timer = Timer::BindingExpiry(alice(), contact_key(addr));
        out.armed()
            .find(|(t, _)| **t == timer)
            .map(|(_, at)| at.as_ms())
    }

    #[test]
    fn register_adds_a_binding_and_arms_its_expiry() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        let f = flow(Transport::Udp, A);
        assert_eq!(
            apply(&mut reg, &mut out, 1_000, &register(A, 600), f),
            [600]
        );
        assert_eq!(expiry(&out, A), Some(1_000 + 600_000));
        let b = reg.lookup(&alice()).expect("bound");
        assert_eq!(
            (b.flow, b.contact.uri.clone()),
            (f, testing::contact("alice", A).uri)
        );
        assert_eq!(
            b.contact.param("expires"),
            None,
            "stored without its expires"
        );
    }

    #[test]
    fn the_200_lists_the_remaining_seconds_rounded_up_reg_3() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 600),
            flow(Transport::Udp, A),
        );
        let outcome = reg.register(
            Time::from_ms(100_500),
            &alice(),
            &register(B, 60),
            flow(Transport::Udp, B),
            &Timers::default(),
            &mut out,
        );
        let RegisterOutcome::Bindings(listed) = outcome else {
            panic!("valid");
        };
        let mut secs: Vec<(Option<String>, u32)> = listed
            .iter()
            .map(|(c, s)| (c.param("expires").map(str::to_owned), *s))
            .collect();
        secs.sort_by_key(|(_, s)| *s);
        assert_eq!(
            secs,
            [(Some("60".into()), 60), (Some("500".into()), 500)],
            "A's binding has 499.5 s left: listed as 500"
        );
    }

    #[test]
    fn expires_is_capped_at_the_default() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        let secs = apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 1_000_000),
            flow(Transport::Udp, A),
        );
        assert_eq!(secs, [3_600]);
        assert_eq!(expiry(&out, A), Some(3_600_000));
    }

    #[test]
    fn contact_expires_overrides_the_header() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        let mut req = register(A, 600);
        req.headers.contact[0]
            .params
            .push(Param::new("expires", Some("30")));
        assert_eq!(
            apply(&mut reg, &mut out, 0, &req, flow(Transport::Udp, A)),
            [30]
        );
    }

    #[test]
    fn a_refresh_replaces_the_binding_and_re_arms_its_expiry() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 600),
            flow(Transport::Udp, A),
        );
        let moved = flow(Transport::Tcp, A);
        assert_eq!(
            apply(&mut reg, &mut out, 300_000, &register(A, 600), moved),
            [600]
        );
        assert_eq!(
            reg.lookup_all(&alice()).len(),
            1,
            "the same contact binds once"
        );
        assert_eq!(expiry(&out, A), Some(900_000));
        assert_eq!(out.armed().count(), 1);
        assert_eq!(reg.lookup(&alice()).map(|b| b.flow), Some(moved));
    }

    #[test]
    fn expires_0_removes_the_binding_and_its_timer() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 600),
            flow(Transport::Udp, A),
        );
        apply(
            &mut reg,
            &mut out,
            0,
            &register(B, 600),
            flow(Transport::Udp, B),
        );
        let left = apply(
            &mut reg,
            &mut out,
            1_000,
            &register(A, 0),
            flow(Transport::Udp, A),
        );
        assert_eq!(left, [599], "only B's binding is listed");
        assert_eq!(expiry(&out, A), None);
        assert!(expiry(&out, B).is_some());
        let remaining: Vec<SocketAddr> = reg
            .lookup_all(&alice())
            .iter()
            .map(|b| b.flow.peer)
            .collect();
        assert_eq!(remaining, [SocketAddr::V4(B)]);
    }

    #[test]
    fn wildcard_with_expires_0_removes_every_binding() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 600),
            flow(Transport::Udp, A),
        );
        apply(
            &mut reg,
            &mut out,
            0,
            &register(B, 600),
            flow(Transport::Udp, B),
        );
        let mut star = register(A, 0);
        star.headers.contact.clear();
        star.headers.contact_wildcard = true;
        assert!(apply(&mut reg, &mut out, 0, &star, flow(Transport::Udp, A)).is_empty());
        assert!(reg.lookup(&alice()).is_none());
        assert_eq!(out.armed().count(), 0, "every expiry disarmed");
    }

    #[test]
    fn wildcard_with_a_non_zero_expires_or_a_contact_is_invalid() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 600),
            flow(Transport::Udp, A),
        );
        let t = Timers::default();
        let mut star = register(A, 600);
        star.headers.contact.clear();
        star.headers.contact_wildcard = true;
        let f = flow(Transport::Udp, A);
        let outcome = reg.register(Time::ZERO, &alice(), &star, f, &t, &mut out);
        assert!(matches!(outcome, RegisterOutcome::Invalid));
        let mut star_and_contact = register(A, 0);
        star_and_contact.headers.contact_wildcard = true;
        let outcome = reg.register(Time::ZERO, &alice(), &star_and_contact, f, &t, &mut out);
        assert!(matches!(outcome, RegisterOutcome::Invalid));
        assert!(
            reg.lookup(&alice()).is_some(),
            "an invalid REGISTER changes nothing"
        );
    }

    #[test]
    fn an_expired_binding_is_gone_reg_1() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        let f = flow(Transport::Udp, A);
        apply(&mut reg, &mut out, 0, &register(A, 600), f);
        reg.expire(&alice(), &contact_key(A));
        assert!(reg.lookup(&alice()).is_none());
        assert_eq!(
            reg.authenticate(&alice(), &f),
            None,
            "no binding, no identity"
        );
    }

    #[test]
    fn lookup_prefers_the_newest_binding_and_forks_newest_first() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        apply(
            &mut reg,
            &mut out,
            0,
            &register(B, 600),
            flow(Transport::Udp, B),
        );
        apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 600),
            flow(Transport::Udp, A),
        );
        assert_eq!(
            reg.lookup(&alice()).map(|b| b.flow.peer),
            Some(SocketAddr::V4(A))
        );
        let order: Vec<SocketAddr> = reg
            .lookup_all(&alice())
            .iter()
            .map(|b| b.flow.peer)
            .collect();
        assert_eq!(order, [SocketAddr::V4(A), SocketAddr::V4(B)]);
        // Refreshing B makes it the newest.
        apply(
            &mut reg,
            &mut out,
            0,
            &register(B, 600),
            flow(Transport::Udp, B),
        );
        assert_eq!(
            reg.lookup(&alice()).map(|b| b.flow.peer),
            Some(SocketAddr::V4(B))
        );
    }

    #[test]
    fn identity_holds_only_over_the_registered_transport_and_address_reg_2() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        apply(
            &mut reg,
            &mut out,
            0,
            &register(A, 600),
            flow(Transport::Udp, A),
        );
        let mut other_conn = flow(Transport::Udp, A);
        other_conn.conn = ConnId::new(7);
        assert_eq!(
            reg.authenticate(&alice(), &other_conn),
            Some(alice()),
            "same transport and peer"
        );
        assert_eq!(
            reg.authenticate(&alice(), &flow(Transport::Tcp, A)),
            None,
            "other transport"
        );
        assert_eq!(
            reg.authenticate(&alice(), &flow(Transport::Udp, B)),
            None,
            "other address"
        );
        let bob = UserUri::from_uri(&testing::sip_uri("bob", "example.com")).expect("user");
        assert_eq!(
            reg.authenticate(&bob, &flow(Transport::Udp, A)),
            None,
            "alice's flow is not bob's"
        );
    }

    #[test]
    fn rebind_moves_the_bindings_of_a_flow() {
        let (mut reg, mut out) = (Registrar::default(), Outbox::default());
        let old = flow(Transport::Tcp, A);
        apply(&mut reg, &mut out, 0, &register(A, 600), old);
        apply(
            &mut reg,
            &mut out,
            0,
            &register(B, 600),
            flow(Transport::Tcp, B),
        );
        let mut new = old;
        new.conn = ConnId::new(2);
        reg.rebind(&old, new);
        let flows: Vec<Flow> = reg.lookup_all(&alice()).iter().map(|b| b.flow).collect();
        assert_eq!(
            flows,
            [flow(Transport::Tcp, B), new],
            "only the old flow's binding moved"
        );
    }
}
