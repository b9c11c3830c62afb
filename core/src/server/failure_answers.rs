//! SEC-4f in the server: password attempts judged by the failure table
//! ([`super::failures`]), failing SIP answers held back on a timer, blocked ones
//! refused with `Retry-After`, and the input through which IMAP logins share the
//! table.
//!
//! A delay is a timer: the failing answer waits in `held` (by server transaction)
//! until `Timer::HeldAnswer` fires. Retransmissions of the request meanwhile are
//! absorbed by the transaction as usual. `held` is bounded: when full, the answer
//! goes at once (every attempt was already counted, so the count limit still
//! holds; only the pace of answers changes).
//!
//! What it is *not*: the digest check (`auth.rs`), nor the IMAP session (the
//! runtime asks [`Server::login_attempt`] and waits itself).

use std::net::IpAddr;

use super::failures::LoginVerdict;
use super::refusal::Refusal;
use super::timer::Timer;
use super::{refusal_response, Server, TxKey};
use crate::sip::Request;
use crate::time::Time;

/// Most failing answers held at once.
const MAX_HELD: usize = 1_024;

impl Server {
    /// Input (SEC-4f): a password attempt outside SIP (an IMAP LOGIN or
    /// AUTHENTICATE of `user`, the configured user name, from `source`) whose password
    /// was `password_ok`. Counted in the same table as SIP digest failures; the
    /// caller waits `delay_ms` before a failing answer and refuses a blocked login
    /// even with the right password.
    pub fn login_attempt(
        &mut self,
        now: Time,
        user: &str,
        source: IpAddr,
        password_ok: bool,
    ) -> LoginVerdict {
        let policy = self.config.login_failures;
        self.failures.judge(&policy, now, user, source, password_ok)
    }

    /// A wrong password's refusal, sent after `delay_ms`.
    pub(crate) fn refuse_failed(&mut self, now: Time, key: &TxKey, req: &Request, delay_ms: u64) {
        let resp = refusal_response(req, Refusal::NotAuthenticated);
        if delay_ms == 0 || self.held.len() >= MAX_HELD || self.held.contains_key(key) {
            return self.send_reply(now, key, resp);
        }
        self.held.insert(key.clone(), resp);
        self.out
            .arm(Timer::HeldAnswer(key.clone()), now.plus_ms(delay_ms));
    }

    /// A blocked attempt's refusal: 403 `Too many failed attempts` with
    /// `Retry-After` (seconds, rounded up) until the window passes.
    pub(crate) fn refuse_blocked(
        &mut self,
        now: Time,
        key: &TxKey,
        req: &Request,
        retry_after_ms: u64,
    ) {
        let mut resp = refusal_response(req, Refusal::TooManyFailures);
        let seconds = retry_after_ms.div_ceil(1000).max(1);
        resp.headers
            .other
            .push(("Retry-After".into(), seconds.to_string()));
        self.send_reply(now, key, resp);
    }

    /// `Timer::HeldAnswer` fired: the held answer goes now.
    pub(crate) fn release_held(&mut self, now: Time, key: &TxKey) {
        if let Some(resp) = self.held.remove(key) {
            self.send_reply(now, key, resp);
        }
    }
}
