//! Other nodes' bindings as this node's core holds them (specs/scale-out.md,
//! SCALE-5): per address-of-record and contact key, beside the registrar, never in
//! it. What it is *not*: how they come in and are used (`location.rs`).

use std::collections::BTreeMap;

use super::registrar::Binding;
use crate::uri::UserUri;

/// Other nodes' bindings, per address-of-record and contact key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct RemoteLocations {
    pub(crate) bindings: BTreeMap<UserUri, BTreeMap<String, Binding>>,
    pub(crate) order: u64,
}
