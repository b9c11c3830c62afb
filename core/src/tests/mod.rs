//! Scenario tests of the core: the real `Server`, scripted terminals, virtual time
//! (specs/README.md). Each test names the claim step or spec invariant it checks.

mod caps;
mod claim;
mod conference;
mod connect_policy;
mod counting_alloc;
mod deferred;
mod deferred_session;
mod edge;
mod failures;
mod flows;
mod group_answers;
mod group_features;
mod group_lifecycle;
mod group_restart;
mod id_streams;
mod idle_bytes;
mod msrp;
mod pager;
mod prop_machine;
mod registration;
mod scale_out;
mod sips;
mod tls;
mod tls_names;
mod trust;
mod util;
