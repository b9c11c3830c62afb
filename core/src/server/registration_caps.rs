//! SEC-5: caps on the registrar. Without them one user (or, with authentication
//! off, anyone who can send a REGISTER) could add bindings until the server's memory
//! is gone, and every INVITE to a user forks to all of its devices. A REGISTER that
//! would give its user more than `max_devices_per_user` bindings is answered 403,
//! one that would take the server beyond `max_bindings` in all 503, each with the
//! reason in its reason phrase; refreshing or removing bindings is always allowed.

use super::refusal::Refusal;
use super::Server;
use crate::sip::Request;
use crate::uri::UserUri;

impl Server {
    /// The refusal a REGISTER for `aor` gets under the caps, if any.
    pub(crate) fn registration_refusal(&self, aor: &UserUri, req: &Request) -> Option<Refusal> {
        let caps = self.config.registration;
        let default_expires = self.config.timers.default_expires_s;
        let (user_before, user_after) = self.registrar.user_count_after(aor, req, default_expires);
        if user_after > user_before && user_after > caps.max_devices_per_user {
            return Some(Refusal::TooManyDevices);
        }
        let total_before = self.registrar.total();
        let total_after = (total_before + user_after).saturating_sub(user_before);
        if total_after > total_before && total_after > caps.max_bindings {
            return Some(Refusal::RegistrarFull);
        }
        None
    }
}
