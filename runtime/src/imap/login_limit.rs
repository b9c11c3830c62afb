//! SEC-4f for IMAP (specs/security.md): LOGIN and AUTHENTICATE attempts pass the
//! core's password-failure table, the same one SIP digest failures count in, since
//! both use the `[auth.passwords]` passwords.
//!
//! In `cpmd` the table lives in the core, which the event loop owns: a
//! [`LoginGate`] sends each attempt there ([`LoginQuery`], answered by
//! `Server::login_attempt`) and waits for the verdict. A gate without an event loop
//! (IMAP served alone, as its tests do) keeps a table of the same core type itself.
//! A failing answer waits the verdict's delay here; a blocked attempt is refused at
//! once, right password or not.
//!
//! What it is *not*: the password check (`auth.rs`), which runs before, in constant
//! time, whatever the verdict.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpmd_core::server::{FailurePolicy, Failures, LoginVerdict};
use cpmd_core::Time;
use tokio::sync::{mpsc, oneshot};

use crate::transport::NetEvent;

/// One attempt, asked of the event loop.
#[derive(Debug)]
pub struct LoginQuery {
    /// The user name as logged in with (the configured name when known).
    pub user: String,
    /// The client's address.
    pub source: IpAddr,
    /// Whether the password was right.
    pub password_ok: bool,
    /// Where the verdict goes.
    pub reply: oneshot::Sender<LoginVerdict>,
}

/// Where attempts are judged.
#[derive(Debug, Clone)]
pub struct LoginGate(Route);

#[derive(Debug, Clone)]
enum Route {
    Core(mpsc::Sender<NetEvent>),
    Local(Arc<Mutex<(Failures, FailurePolicy, Instant)>>),
}

impl Default for LoginGate {
    fn default() -> Self {
        Self::local(FailurePolicy::default())
    }
}

impl LoginGate {
    /// Attempts go to the core through the event loop's input channel.
    pub fn core(net: mpsc::Sender<NetEvent>) -> Self {
        Self(Route::Core(net))
    }

    /// A table of this gate's own (IMAP without a SIP core).
    pub fn local(policy: FailurePolicy) -> Self {
        Self(Route::Local(Arc::new(Mutex::new((
            Failures::default(),
            policy,
            Instant::now(),
        )))))
    }

    /// The verdict on one attempt. An event loop that is gone refuses (it only goes
    /// at shutdown).
    pub async fn judge(&self, user: &str, source: IpAddr, password_ok: bool) -> LoginVerdict {
        match &self.0 {
            Route::Core(net) => {
                let (reply, answer) = oneshot::channel();
                let query = LoginQuery {
                    user: user.to_owned(),
                    source,
                    password_ok,
                    reply,
                };
                if net.send(NetEvent::Login(query)).await.is_err() {
                    return LoginVerdict::Blocked { retry_after_ms: 0 };
                }
                answer
                    .await
                    .unwrap_or(LoginVerdict::Blocked { retry_after_ms: 0 })
            }
            Route::Local(table) => {
                let mut guard = table.lock().unwrap_or_else(|e| e.into_inner());
                let (failures, policy, origin) = &mut *guard;
                let now =
                    Time::from_ms(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX));
                failures.judge(policy, now, user, source, password_ok)
            }
        }
    }
}

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login<U> {
    /// Logged in.
    Ok(U),
    /// Wrong name or password (answered after the delay).
    Failed,
    /// Too many failures: refused for this long whatever the password.
    Blocked(Duration),
}

/// Passes a checked attempt through `gate`: `checked` is the user when the
/// password was right. Waits the delay of a failure before returning.
pub async fn gate_login<U>(
    gate: &LoginGate,
    name: &str,
    source: IpAddr,
    checked: Option<U>,
) -> Login<U> {
    match gate.judge(name, source, checked.is_some()).await {
        LoginVerdict::Pass => checked.map_or(Login::Failed, Login::Ok),
        LoginVerdict::Fail { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            Login::Failed
        }
        LoginVerdict::Blocked { retry_after_ms } => {
            Login::Blocked(Duration::from_millis(retry_after_ms))
        }
    }
}
