//! The `eager_acks` reduction (`model/src/model/eager_ack.rs`) hides no
//! violation: the lossy configuration with it holds every property and reaches
//! every `sometimes` in fewer states, and each mutant the small UDP
//! configurations can show still breaks its property with the reduction on
//! (with no retransmission budget, so that it applies from the first step).

use cpmd_core::server::{Mutation, Transport};

use crate::configs;
use crate::model::Setup;
use crate::tests::{assert_breaks, assert_clean};

/// `lossy` is 24 243 states without the reduction.
const PINNED_LOSSY_EAGER_ACKS: usize = 13_368;

#[test]
fn pinned_lossy_with_eager_acks() {
    let setup = Setup {
        eager_acks: true,
        ..configs::lossy()
    };
    assert_clean(setup, PINNED_LOSSY_EAGER_ACKS);
}

/// SIP over UDP without faults, ACKs delivered at once from the start.
fn eager(msgs: u8) -> Setup {
    Setup {
        transport: Transport::Udp,
        eager_acks: true,
        ..Setup::base(msgs)
    }
}

#[test]
fn mutants_still_break_their_properties_with_eager_acks() {
    assert_breaks(eager(1), Mutation::AckBeforeStore);
    assert_breaks(eager(2), Mutation::DeliverOnStore);
    assert_breaks(eager(1), Mutation::SilentDropOnClosedLeg);
    assert_breaks(eager(1), Mutation::SealOnByeArrival);
    assert_breaks(eager(2), Mutation::HistoryInStoreOrder);
    assert_breaks(eager(0), Mutation::OkBeforeDurableSeal);
    let silent = Setup {
        silent_a: true,
        ..eager(0)
    };
    assert_breaks(silent, Mutation::IgnoreByeWait);
    let glare = Setup {
        glare: true,
        ..eager(0)
    };
    assert_breaks(glare, Mutation::UnansweredGlareBye);
    let dups = Setup {
        dups: 1,
        ..eager(0)
    };
    assert_breaks(dups, Mutation::NoRetransmissionAbsorb);
    let attack = Setup {
        attacker: true,
        ..eager(0)
    };
    assert_breaks(attack, Mutation::ReplaceWithoutAuth);
    let extend = Setup {
        extend: true,
        ..eager(0)
    };
    assert_breaks(extend, Mutation::ReuseContributionId);
}
