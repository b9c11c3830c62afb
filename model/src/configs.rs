//! The named configurations: the pinned CI ones and a few for experiments.

use cpmd_core::server::{Mutation, Transport};

use crate::model::Setup;

/// Every configuration name.
pub const NAMES: [&str; 5] = ["base", "glare", "extension", "lossy", "ci"];

/// Mutation names for the command line.
pub const MUTATIONS: [(&str, Mutation); 12] = [
    ("none", Mutation::None),
    ("ack-before-store", Mutation::AckBeforeStore),
    ("seal-on-bye-arrival", Mutation::SealOnByeArrival),
    ("replace-without-auth", Mutation::ReplaceWithoutAuth),
    ("reuse-contribution-id", Mutation::ReuseContributionId),
    ("deliver-on-store", Mutation::DeliverOnStore),
    ("history-in-store-order", Mutation::HistoryInStoreOrder),
    ("ok-before-durable-seal", Mutation::OkBeforeDurableSeal),
    ("ignore-bye-wait", Mutation::IgnoreByeWait),
    ("silent-drop-on-closed-leg", Mutation::SilentDropOnClosedLeg),
    ("no-retransmission-absorb", Mutation::NoRetransmissionAbsorb),
    ("unanswered-glare-bye", Mutation::UnansweredGlareBye),
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

/// Sets one field of `setup` from the command line (`msgs=2`, `glare=false`, ...).
pub fn tweak(setup: &mut Setup, field: &str, value: &str) -> bool {
    let num = || value.parse::<u8>().ok();
    let flag = || value.parse::<bool>().ok();
    let done = match field {
        "msgs" => num().map(|v| setup.msgs = v),
        "group_msgs" => num().map(|v| setup.group_msgs = v),
        "drops" => num().map(|v| setup.drops = v),
        "dups" => num().map(|v| setup.dups = v),
        "retransmits" => num().map(|v| setup.retransmits = v),
        "store_fails" => num().map(|v| setup.store_fails = v),
        "extend" => flag().map(|v| setup.extend = v),
        "glare" => flag().map(|v| setup.glare = v),
        "b_bye_early" => flag().map(|v| setup.b_bye_early = v),
        "missing_bye" => flag().map(|v| setup.missing_bye = v),
        "silent_a" => flag().map(|v| setup.silent_a = v),
        "attacker" => flag().map(|v| setup.attacker = v),
        "udp" => flag().map(|v| {
            setup.transport = if v { Transport::Udp } else { Transport::Tcp }
        }),
        _ => None,
    };
    done.is_some()
}
