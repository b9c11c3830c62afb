//! The group races' configurations (specs/group.md GRP-21, GRP-22, GRP-31, GRP-33,
//! and the subscriptions' GRP-10, GRP-11, GRP-13):
//! the actors and observers are in `model/group_races.rs`, the pinned counts and
//! mutant tests in `group_races/tests.rs`.
//!
//! What it is not: the group's other configurations (`configs.rs`).

use crate::configs;
use crate::model::{Races, Setup};

/// C leaves and may rejoin at the focus URI while B and A leave too: the rejoin
/// races C's own BYE and the group's end (GRP-21, GRP-22).
pub fn rejoin() -> Setup {
    Setup {
        races: Races {
            rejoin: true,
            ..Races::default()
        },
        ..configs::group_end()
    }
}

/// The chairman's removal of C racing C's leave and rejoin (GRP-21: the removed stay
/// out); nobody else leaves.
pub fn remove_rejoin() -> Setup {
    Setup {
        leavers: 1,
        races: Races {
            rejoin: true,
            remove: true,
            ..Races::default()
        },
        ..configs::group_end()
    }
}

/// Carol on two devices: the focus forks its group INVITE to both (GRP-31).
pub fn devices() -> Setup {
    Setup {
        missing_bye: false,
        races: Races {
            devices: true,
            ..Races::default()
        },
        ..configs::extension()
    }
}

/// A subscribes, B changes the subject, C leaves, in any order (GRP-33, GRP-12).
pub fn subject() -> Setup {
    Setup {
        leavers: 1,
        missing_bye: false,
        races: Races {
            subject: true,
            ..Races::default()
        },
        ..configs::extension()
    }
}

/// The group's end (C, B and A leave) with A's subscription and Mallory's
/// SUBSCRIBE racing it (GRP-10, GRP-13).
pub fn subscribe() -> Setup {
    Setup {
        races: Races {
            subscriptions: true,
            ..Races::default()
        },
        ..configs::group_end()
    }
}

/// A's subscription refreshed, ended with `Expires: 0` or run out, racing C's
/// leave (GRP-11).
pub fn resubscribe() -> Setup {
    Setup {
        leavers: 1,
        missing_bye: false,
        races: Races {
            resubscribe: true,
            ..Races::default()
        },
        ..configs::extension()
    }
}

#[cfg(test)]
mod tests;
