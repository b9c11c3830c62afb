//! The digest nonces the server issued (RFC 7616 §3.3) and when each expires: part
//! of the server state, kept bounded.
//!
//! What it is *not*: checking credentials (`auth`).

use std::collections::BTreeMap;

use crate::time::Time;

/// Most nonces remembered at once; the oldest is forgotten beyond (its client is
/// simply challenged again).
pub(crate) const MAX_NONCES: usize = 4096;

/// Issued nonces and their expiry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Nonces {
    pub(crate) expiry: BTreeMap<String, Time>,
}
