//! The partial-order reduction (`model/src/model/por.rs`) hides nothing:
//!
//! * its conditions (commutation, invisibility, the cycle measure) hold at every
//!   state of the unreduced graph of each configuration it applies to (`por_check`),
//!   and the check does fail on a wrong classification;
//! * with it on, each configuration holds every property and reaches every
//!   `sometimes`, in fewer states (the counts are pinned; without it, `tests.rs`'s
//!   counts are unchanged);
//! * each mutant its configuration catches is still caught with it on.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault};

use cpmd_core::server::{Mutation, Transport};

use crate::configs;
use crate::model::{CpmModel, Node, Setup};
use crate::properties::names;
use crate::tests::{assert_breaks, assert_clean, exhaust};

/// The check over the unreduced graph, of the wider classification (the
/// terminals' safe receipts and the server's, `por_server`): it checks every
/// receipt the narrower one takes, with the same conditions.
fn checked(setup: Setup) -> Setup {
    Setup {
        por_check: true,
        por_server: true,
        ..setup
    }
}

fn reduced(setup: Setup) -> Setup {
    Setup {
        por: true,
        por_server: false,
        ..setup
    }
}

fn server_side(setup: Setup) -> Setup {
    Setup {
        por: true,
        por_server: true,
        ..setup
    }
}

fn udp(setup: Setup) -> Setup {
    Setup {
        transport: Transport::Udp,
        ..setup
    }
}

fn extension_with_message() -> Setup {
    Setup {
        msgs: 1,
        missing_bye: false,
        ..configs::extension()
    }
}

fn lossy_silent() -> Setup {
    Setup {
        silent_a: true,
        ..configs::lossy()
    }
}

// Session 15: 34 052 / 26 756 / 25 276 before a 1-to-1 message's failure was
// recorded as one value, a late chat stopped counting as a mint and a silent A's
// BYEs were taken alone.
const LOSSY_SILENT: (usize, usize, usize) = (29_936, 24_672, 22_144);

fn lossy_eager() -> Setup {
    Setup {
        eager_acks: true,
        ..configs::lossy()
    }
}

/// (configuration, unique states of its canonical unreduced graph, with the
/// reduction, with the reduction widened to the server's safe receipts). The
/// canonical graph keeps the remembered answers sorted and, over TCP, the network
/// sorted by connection: over TCP that alone merges orders of packets on different
/// connections (`glare` is 84 725 states without it).
fn cases() -> Vec<(&'static str, Setup, usize, usize, usize)> {
    // Session 15 (model/README.md, "Session 15"): a 1-to-1 message's failure is
    // recorded as one value in the canonical state (the unreduced column merges
    // the states that differed only in why a message failed), a chat after the
    // 1-to-1 ended no longer counts as a mint, C no longer counts as a 1-to-1
    // chatter, A's 2xx to its extension is taken over UDP, and a BYE that
    // disables nothing is taken alone. Before: glare
    // 69 511 / 53 863 / 52 785, lossy 24 243 / 18 687 / 17 168, lossy eager_acks
    // 13 368 / 10 696 / 9 827, extension udp 7 985 / 2 385 / 605, attack 3 538 /
    // 2 516 / 1 318, attack udp 4 957 / 3 524 / 1 760.
    vec![
        ("glare", configs::glare(), 62_281, 50_499, 49_421),
        ("lossy", configs::lossy(), 21_287, 17_307, 14_640),
        ("lossy eager_acks", lossy_eager(), 11_812, 9_952, 8_355),
        // A may ignore a retransmitted copy of the server's BYE after answering the
        // first: the case `may_turn_silent` excludes.
        (
            "lossy silent_a",
            lossy_silent(),
            LOSSY_SILENT.0,
            LOSSY_SILENT.1,
            LOSSY_SILENT.2,
        ),
        ("extension", configs::extension(), 1_275, 498, 169),
        (
            "extension udp",
            udp(configs::extension()),
            7_985,
            1_529,
            381,
        ),
        // Session 14: 4 113 / 2 933 / 2 783 and 5 725 / 4 083 / 3 671 before the
        // attack was taken alone, and with `por_server` Mallory's INVITE once its
        // answer is fixed, her ACK, and her spent transaction forgotten
        // (`por.rs`, "The outsider's INVITE"; `spent_attack.rs`).
        ("attack", configs::attack(), 3_178, 2_356, 1_298),
        ("attack udp", udp(configs::attack()), 4_301, 3_236, 1_556),
        // Leaves may seal the group (a ticket): the answers to the server's BYEs
        // are never taken, the 2xx to its INVITEs are (session 13).
        ("group-end", configs::group_end(), 1_295, 546, 270),
    ]
}

#[test]
fn conditions_hold_at_every_state() {
    for (name, setup, canonical, _, _) in cases() {
        eprintln!("checking {name}");
        assert_clean(checked(setup), canonical);
    }
}

/// The attack over UDP with a loss and a retransmission and `eager_acks`, as in
/// `combined`: Mallory's ACK with its companion (the answer's repeat) and absorbed
/// by the actions that spend the retransmission, which no configuration above has
/// (116 413 states before session 14's reductions, 97 669 before session 15's
/// one recorded failure).
#[test]
fn conditions_hold_for_the_attack_with_a_retransmission() {
    let setup = Setup {
        retransmits: 1,
        drops: 1,
        eager_acks: true,
        ..udp(configs::attack())
    };
    assert_clean(checked(setup), 83_565);
}

/// 9 234 states before session 15's one recorded failure.
#[test]
fn conditions_hold_with_a_message_in_the_extension() {
    assert_clean(checked(extension_with_message()), 8_802);
}

#[test]
fn reduced_configurations_hold_and_reach_everything() {
    for (name, setup, canonical, pinned, wider) in cases() {
        eprintln!("reducing {name}");
        assert!(wider <= pinned && pinned <= canonical);
        assert_clean(reduced(setup), pinned);
        assert_clean(server_side(setup), wider);
    }
    // Session 15: 3 071 and 2 309 before (C's 2xx to the focus was kept out
    // while a 1-to-1 message was still to come, `may_chat_on`).
    assert_clean(reduced(extension_with_message()), 2_981);
    assert_clean(server_side(extension_with_message()), 1_069);
}

/// UDP loss *with* the extension, which no configuration without the reduction
/// exhausts in the test budget: `combined` without the messages, glare, silent A
/// and the attacker (the extension with C over UDP, one loss, one retransmission,
/// B's missing BYE). 1 017 718 states without the reduction (80 s, release, before
/// the dialogs' own id streams); 14 677 with the server's side too (`combined`'s
/// own setting; 27 767 before session 15 took A's 2xx to its extension over UDP
/// and B's BYE after its own was answered,
/// 59 419 before the retransmission joined the ample set as a
/// companion, 90 670 before the server's side took the 2xx to its INVITEs,
/// 186 144 before the id streams, model/README.md "Session 12", "Session 13",
/// "Session 13b", "Session 15"); 50 082 with the terminals' side only (89 893
/// before session 15, 93 704 before the companion).
#[test]
fn pinned_lossy_extension_with_the_reduction() {
    let setup = Setup {
        msgs: 0,
        glare: false,
        silent_a: false,
        attacker: false,
        ..configs::combined()
    };
    assert!(setup.por && setup.drops == 1 && setup.retransmits == 1 && setup.extend);
    assert!(setup.por_server);
    assert_clean(setup, 14_677);
    assert_clean(
        Setup {
            por_server: false,
            ..setup
        },
        50_082,
    );
}

/// Where the reduction is not argued (MSRP, a restart, the group races, REFERs)
/// it is off whatever the setting: the same states.
#[test]
fn off_where_not_argued() {
    let (with, _, _) = exhaust(reduced(configs::msrp()));
    let (without, _, _) = exhaust(configs::msrp());
    assert_eq!(with, without);
}

/// The check is not vacuous: taking every delivery to a terminal as safe (BYEs
/// and the 2xx that creates a caller's dialog included) breaks it in `lossy`.
#[test]
fn the_check_fails_on_a_wrong_classification() {
    let model = CpmModel::new(configs::lossy());
    let every = |st: &crate::model::State, i: usize| st.net[i].dst != Node::Server;
    let why = first_por_failure(&model, &every, |_| {}).expect("a wrong classification is caught");
    eprintln!("{why}");
}

/// Walks `model`'s states depth first and returns the first failure of the
/// reduction's conditions with `safe` as the classification (and no companion:
/// every safe receipt alone); `at_each` runs on every
/// state visited before it is checked.
fn first_por_failure(
    model: &CpmModel,
    safe: &dyn Fn(&crate::model::State, usize) -> bool,
    at_each: impl Fn(&crate::model::State),
) -> Option<String> {
    let mut seen = HashSet::new();
    let mut stack = vec![model.initial()];
    while let Some(st) = stack.pop() {
        at_each(&st);
        if let Some(why) = model.por_failure_of(&st, safe, &|_, _| None) {
            return Some(why);
        }
        let mut actions = Vec::new();
        model.enabled(&st, &mut actions);
        for a in actions {
            let next = model.step(&st, &a, &mut None);
            if seen.insert(fingerprint(&next)) {
                stack.push(next);
            }
        }
    }
    None
}

/// The same for the server's side: every answer to the server's BYE taken as safe
/// whatever else holds (no retransmission clause, no `may_mint`), in `lossy`, where
/// the answer ends the BYE's client transaction and so disables that BYE's
/// retransmission timer, which it does not absorb (the retransmitted BYE is a
/// step of its own). Before the dialogs' own id streams (model/README.md,
/// "Session 12") `attack` failed here too, on the minting clause (the answer's
/// seal and Mallory's INVITE took the one counter's numbers in either order); now
/// the seal's ticket and the INVITE's tags come from different counters, the two
/// commute, and no exhaustible configuration shows the minting clause needed
/// (it stays: it only narrows the reduction).
#[test]
fn the_check_fails_on_a_wrong_server_classification() {
    use cpmd_core::sip::{Method, SipMessage};
    let model = CpmModel::new(checked(configs::lossy()));
    let every = |st: &crate::model::State, i: usize| {
        st.net[i].dst == Node::Server
            && matches!(&*st.net[i].msg, SipMessage::Response(r)
                if r.headers.cseq.method == Method::Bye && r.status.is_final())
    };
    // The narrower classification holds at every state (the check passes).
    let why = first_por_failure(&model, &every, |st| assert!(model.por_sound_at(st)))
        .expect("a wrong classification is caught");
    assert!(why.contains("does not absorb"), "{why}");
    eprintln!("{why}");
}

/// The same for the 2xx to the server's INVITEs: every such 2xx taken as safe
/// (no clause) breaks the check in `glare` (B's chat before the server has B's 2xx
/// is taken differently than after: hence `may_chat_on`).
#[test]
fn the_check_fails_on_a_wrong_2xx_classification() {
    use cpmd_core::sip::{Method, SipMessage};
    let model = CpmModel::new(checked(configs::glare()));
    let every = |st: &crate::model::State, i: usize| {
        st.net[i].dst == Node::Server
            && matches!(&*st.net[i].msg, SipMessage::Response(r)
                if r.headers.cseq.method == Method::Invite && r.status.is_success())
    };
    let why = first_por_failure(&model, &every, |_| {}).expect("a wrong classification is caught");
    assert!(why.contains("Chat(B"), "{why}");
    eprintln!("{why}");
}

/// The outsider's INVITE is taken alone only once its answer is fixed (`por.rs`,
/// "The outsider's INVITE"): taking the server's receipt of Mallory's INVITE
/// whenever it is on its way breaks the check in `attack`, where the 1-to-1's end
/// (a BYE's receipt, the seal's answer) changes the answer (403, 603, 481).
#[test]
fn the_check_fails_on_an_early_attack_receipt() {
    use cpmd_core::sip::{Method, SipMessage};
    let model = CpmModel::new(checked(configs::attack()));
    let every = |st: &crate::model::State, i: usize| {
        st.net[i].dst == Node::Server
            && st.net[i].src == Node::T(crate::terminal::Term::M)
            && matches!(&*st.net[i].msg, SipMessage::Request(r) if r.method == Method::Invite)
    };
    let why = first_por_failure(&model, &every, |st| assert!(model.por_sound_at(st)))
        .expect("an early receipt of the attack is caught");
    assert!(why.contains("INVITE mallory"), "{why}");
    eprintln!("{why}");
}

/// The companion is needed (model/README.md "Session 13b"): the real
/// classification with every safe receipt alone, no retransmission beside it,
/// breaks the check in `lossy` with `eager_acks`: a final answer to the oldest
/// request ends a retransmission that is still enabled, which it does not absorb.
#[test]
fn the_check_fails_without_the_companion() {
    let model = CpmModel::new(checked(lossy_eager()));
    let safe = |st: &crate::model::State, i: usize| model.safe_receipt(st, i);
    let why = first_por_failure(&model, &safe, |_| {}).expect("a missing companion is caught");
    assert!(why.contains("Retransmit"), "{why}");
    eprintln!("{why}");
}

/// `lossy` without a retransmission, checked: every receipt stands alone, as
/// `first_por_failure` takes them.
fn lossy_alone() -> CpmModel {
    CpmModel::new(checked(Setup {
        retransmits: 0,
        ..configs::lossy()
    }))
}

/// Session 15: the caller's 2xx that creates its group dialog is safe over UDP
/// when the focus never sends a BYE on that dialog (no leaves, no declines; REFERs
/// and the group races are outside the reduction). The same for the 2xx that
/// creates the 1-to-1 would not be: in `lossy` without a retransmission (so that
/// every receipt stands alone, as `first_por_failure` takes them) the server relays
/// B's BYE while its 2xx to A is still on its way, and the BYE then finds no dialog.
#[test]
fn the_check_fails_when_the_one_to_ones_2xx_is_taken() {
    use cpmd_core::sip::{Method, SipMessage};
    let model = lossy_alone();
    let creating = |st: &crate::model::State, i: usize| {
        let p = &st.net[i];
        p.dst == Node::T(crate::terminal::Term::A)
            && matches!(&*p.msg, SipMessage::Response(r)
                if r.headers.cseq.method == Method::Invite && r.status.is_success())
    };
    let wider = |st: &crate::model::State, i: usize| model.safe_receipt(st, i) || creating(st, i);
    let why = first_por_failure(&model, &wider, |st| assert!(model.por_sound_at(st)))
        .expect("the 1-to-1's 2xx taken as safe is caught");
    assert!(why.contains("BYE"), "{why}");
    eprintln!("{why}");
}

/// Session 15: a BYE's receipt is safe only when it disables none of the
/// terminal's moves (`por.rs`, `bye_disables_nothing`). Taking every BYE on a
/// terminal's 1-to-1 dialog breaks the check in `lossy` without a retransmission:
/// the relayed BYE disables A's chat, which does not commute with it.
#[test]
fn the_check_fails_on_a_bye_that_disables_a_move() {
    use cpmd_core::sip::{Method, SipMessage};
    let model = lossy_alone();
    let any_bye = |st: &crate::model::State, i: usize| {
        let p = &st.net[i];
        p.dst != Node::Server
            && matches!(&*p.msg, SipMessage::Request(r) if r.method == Method::Bye)
    };
    let wider = |st: &crate::model::State, i: usize| model.safe_receipt(st, i) || any_bye(st, i);
    let why = first_por_failure(&model, &wider, |st| assert!(model.por_sound_at(st)))
        .expect("a BYE that disables a move is caught");
    assert!(why.contains("disables"), "{why}");
    eprintln!("{why}");
}

/// Session 15: the canonical state records a 1-to-1 message's failure as one
/// value (`por.rs`, `canonical_outcome`). That merges only states no property tells
/// apart: at every state of the unreduced, uncanonical graph of two configurations
/// where 1-to-1 messages fail for several reasons (a store failure, a closed leg, a
/// forgotten session), and of a mutant's, every property's verdict is the same with
/// the results recorded either way. The check is not vacuous: recording acceptance
/// as a failure too changes MSG-1's verdict where the mutant acknowledges before
/// the store.
#[test]
fn no_property_reads_why_a_one_to_one_message_failed() {
    use crate::model::{Ghost, Msg, State};
    use cpmd_core::server::{ChatFailure, ChatOutcome};
    use stateright::Model;
    fn remapped(st: &State, map: &dyn Fn(Msg, ChatOutcome) -> ChatOutcome) -> State {
        let mut st = st.clone();
        let g: &mut Ghost = &mut st.ghost;
        for r in &mut g.results {
            r.1 = map(r.0, r.1);
        }
        g.results.sort();
        st
    }
    fn first_change(setup: Setup, map: &dyn Fn(Msg, ChatOutcome) -> ChatOutcome) -> Option<String> {
        let model = CpmModel::new(setup);
        let properties = model.properties();
        let mut seen = HashSet::new();
        let mut stack = vec![model.initial()];
        while let Some(st) = stack.pop() {
            let other = remapped(&st, map);
            for p in &properties {
                if (p.condition)(&model, &st) != (p.condition)(&model, &other) {
                    return Some(p.name.to_owned());
                }
            }
            let mut actions = Vec::new();
            model.enabled(&st, &mut actions);
            for a in actions {
                let next = model.step(&st, &a, &mut None);
                if seen.insert(fingerprint(&next)) {
                    stack.push(next);
                }
            }
        }
        None
    }
    let canonical = |m, o| crate::model::canonical_outcome(m, o);
    let glare = Setup {
        msgs: 1,
        ..configs::glare()
    };
    let ended = Setup {
        msgs: 1,
        ..configs::extension()
    };
    let mutant = Setup::base(1).with_mutation(Mutation::AckBeforeStore);
    for setup in [glare, ended, mutant] {
        assert_eq!(first_change(setup, &canonical), None, "{setup:?}");
    }
    let everything = |_: Msg, _: ChatOutcome| ChatOutcome::Failed(ChatFailure::RecipientGone);
    let changed = first_change(mutant, &everything).expect("acceptance is read");
    assert_eq!(changed, names::MSG_1);
}

/// The mutants of the configurations the reduction applies to, each on the
/// configuration `small(msgs)` makes (also the sleep sets' test in `dfs.rs`).
pub(crate) fn mutant_cases(small: impl Fn(u8) -> Setup) -> Vec<(Setup, Mutation)> {
    vec![
        (small(1), Mutation::AckBeforeStore),
        (small(2), Mutation::DeliverOnStore),
        (small(1), Mutation::SilentDropOnClosedLeg),
        (small(1), Mutation::SealOnByeArrival),
        (small(2), Mutation::HistoryInStoreOrder),
        (small(0), Mutation::OkBeforeDurableSeal),
        (
            Setup {
                silent_a: true,
                ..small(0)
            },
            Mutation::IgnoreByeWait,
        ),
        (
            Setup {
                attacker: true,
                ..small(0)
            },
            Mutation::ReplaceWithoutAuth,
        ),
        (
            Setup {
                extend: true,
                ..small(0)
            },
            Mutation::ReuseContributionId,
        ),
        (
            Setup {
                glare: true,
                ..small(0)
            },
            Mutation::UnansweredGlareBye,
        ),
    ]
}

/// Each mutant of a configuration the reduction applies to, as `tests.rs` runs it,
/// with the reduction on, over TCP (as pinned) and over UDP.
#[test]
fn mutants_still_break_their_properties_with_the_reduction() {
    let small = |msgs| reduced(Setup::base(msgs));
    let cases = mutant_cases(small);
    for (setup, mutation) in cases {
        for setup in [setup, server_side(setup)] {
            assert_breaks(setup, mutation);
            assert_breaks(udp(setup), mutation);
        }
    }
    let dups = Setup {
        dups: 1,
        ..udp(small(0))
    };
    assert_breaks(dups, Mutation::NoRetransmissionAbsorb);
    assert_breaks(server_side(dups), Mutation::NoRetransmissionAbsorb);
    for setup in [small(1), server_side(small(1))] {
        let (_, violated, _) = exhaust(setup.with_mutation(Mutation::SealOnByeArrival));
        assert!(violated.contains(&names::TERM_1), "{violated:?}");
    }
}

#[test]
fn group_mutants_still_break_their_properties_with_the_reduction() {
    let group_chat = |group_msgs, leavers| {
        reduced(Setup {
            group_msgs,
            leavers,
            ..configs::group()
        })
    };
    assert_breaks(group_chat(1, 0), Mutation::GroupEchoToSender);
    let one_into_group = Setup {
        msgs: 1,
        ..group_chat(0, 0)
    };
    assert_breaks(one_into_group, Mutation::OneToOneIntoGroup);
    assert_breaks(
        reduced(configs::group_end()),
        Mutation::SealGroupOnFirstLeave,
    );
    assert_breaks(group_chat(1, 1), Mutation::GroupByeRemovesAll);
    // With the server's side too (it applies where no group message or leave may
    // still come: of these, only the 1-to-1 message's case).
    assert_breaks(server_side(one_into_group), Mutation::OneToOneIntoGroup);
}

fn fingerprint(st: &crate::model::State) -> u64 {
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(st)
}
