//! The named configurations: the pinned CI ones and a few for experiments.

use cpmd_core::server::{Mutation, Transport};

use crate::model::Setup;

/// Every configuration name.
pub const NAMES: [&str; 5] = ["base", "glare", "extension", "lossy", "ci"];

/// Mutation names for the command line.
pub const MUTATIONS: [(&str, Mutation); 5] = [
    ("none", Mutation::None),
    ("ack-before-store", Mutation::AckBeforeStore),
    ("seal-on-bye-arrival", Mutation::SealOnByeArrival),
    ("replace-without-auth", Mutation::ReplaceWithoutAuth),
    ("reuse-contribution-id", Mutation::ReuseContributionId),
];

/// A mutation by name.
pub fn mutation(name: &str) -> Option<Mutation> {
    MUTATIONS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// A configuration by name.
pub fn by_name(name: &str) -> Option<Setup> {
    Some(match name {
        "base" => Setup::base(2),
        "glare" => glare(),
        "extension" => extension(),
        "lossy" => lossy(),
        "ci" => ci(),
        _ => return None,
    })
}

/// The 1-to-1 over TCP, two messages each, BYE glare, silent A, store failures.
pub fn glare() -> Setup {
    Setup {
        glare: true,
        silent_a: true,
        store_fails: 1,
        ..Setup::base(2)
    }
}

/// The claim's flow over TCP: extension with C, B's BYE after joining or missing,
/// glare, silent A, the attacker.
pub fn extension() -> Setup {
    Setup {
        extend: true,
        group_msgs: 1,
        glare: true,
        b_bye_early: false,
        missing_bye: true,
        silent_a: true,
        attacker: true,
        ..Setup::base(2)
    }
}

/// The 1-to-1 over lossy UDP.
pub fn lossy() -> Setup {
    Setup {
        transport: Transport::Udp,
        drops: 1,
        dups: 1,
        retransmits: 1,
        ..Setup::base(1)
    }
}

/// The pinned CI configuration.
pub fn ci() -> Setup {
    extension()
}
