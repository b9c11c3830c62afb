//! The location service several nodes share (specs/scale-out.md): this node's
//! bindings leave the core as [`Event::BindingsChanged`] (SCALE-4; the runtime
//! writes them to the store's location rows), and the other nodes' bindings come
//! back in as [`RemoteBinding`] inputs (SCALE-5; the runtime reads the rows that
//! changed). A request for a user with no binding here goes to a remote binding:
//! over UDP from this node to the address that binding was registered from (the
//! terminal, or the balancer in front of the nodes), so the session lives on this
//! node and so does its media; so do the messages this node deferred for that
//! user (SCALE-7), sent when the other node's row arrives.
//!
//! What it is *not*: REGISTER handling (`registrar.rs`), nor identity: a remote
//! binding never says who a request is from (REG-2 stays on this node's own
//! bindings; behind a balancer identity comes from digest authentication, SCALE-6).

use super::output::{Event, RemoteBinding, SharedBinding};
use super::registrar::Binding;
use super::Server;
use crate::sip::NameAddr;
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire::print_name_addr;
use crate::wire::uri::{parse_uri, print_uri};

impl Server {
    /// SCALE-5: another node's binding changed (`left_ms` 0: it is gone). A
    /// binding this node holds itself is not replaced by a row about it.
    pub fn handle_remote_binding(&mut self, now: Time, update: RemoteBinding) {
        let local = self
            .registrar
            .lookup_all(&update.aor)
            .iter()
            .any(|b| print_uri(&b.contact.uri) == update.contact_key);
        let remote = crate::shared::Shared::make_mut(&mut self.remote);
        if update.left_ms == 0 || local {
            if let Some(user) = remote.bindings.get_mut(&update.aor) {
                user.remove(&update.contact_key);
                if user.is_empty() {
                    remote.bindings.remove(&update.aor);
                }
            }
            return;
        }
        let Ok(uri) = parse_uri(&update.contact_key) else {
            return;
        };
        remote.order += 1;
        let binding = Binding {
            contact: NameAddr::new(uri),
            flow: update.flow,
            expires_at: now.plus_ms(update.left_ms),
            order: remote.order,
        };
        remote
            .bindings
            .entry(update.aor.clone())
            .or_default()
            .insert(update.contact_key, binding);
        // SCALE-7: a device registered through another node is a device of the
        // user's: the user is known (DEF-1; that node stored it) and what this node
        // deferred for them goes out now, as after a REGISTER here (DEF-3).
        self.deferred.known.insert(update.aor.clone());
        self.deliver_deferred(now, &update.aor);
    }

    /// The bindings a request to `user` goes to, newest first: this node's own,
    /// else (SCALE-5) the other nodes' that have not expired.
    pub(crate) fn reachable_bindings(&self, now: Time, user: &UserUri) -> Vec<Binding> {
        let local = self.registrar.lookup_all(user);
        if !local.is_empty() {
            return local;
        }
        let mut remote: Vec<Binding> = self
            .remote
            .bindings
            .get(user)
            .map(|b| b.values().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        remote.sort_by_key(|b| std::cmp::Reverse(b.order));
        remote
    }

    /// SCALE-4: reports this node's bindings of `aor` (with `share_locations` on).
    pub(crate) fn share_bindings(&mut self, now: Time, aor: &UserUri) {
        if !self.config.share_locations {
            return;
        }
        let bindings = self
            .registrar
            .lookup_all(aor)
            .into_iter()
            .map(|b| SharedBinding {
                contact_key: print_uri(&b.contact.uri),
                contact: print_name_addr(&b.contact),
                flow: b.flow,
                expires_in_ms: b.expires_at.as_ms().saturating_sub(now.as_ms()),
            })
            .collect();
        self.out.event(Event::BindingsChanged {
            aor: aor.clone(),
            bindings,
        });
    }
}
