//! The named configurations: the pinned CI ones and a few for experiments.

use cpmd_core::server::{Mutation, Transport};

use crate::model::Setup;

/// Every configuration name.
pub const NAMES: [&str; 25] = [
    "base",
    "glare",
    "extension",
    "lossy",
    "attack",
    "group",
    "group-end",
    "ci",
    "msrp",
    "msrp-switch",
    "group-refer",
    "faults",
    "group-rejoin",
    "group-remove-rejoin",
    "group-devices",
    "group-subject",
    "combined",
    "msrp-restart",
    "cancel",
    "group-decline",
    "msrp-wrong-path",
    "second-mline",
    "group-subscribe",
    "group-resubscribe",
    "msrp-reconnect",
];

/// Mutation names for the command line.
pub const MUTATIONS: [(&str, Mutation); 47] = [
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
    ("group-echo-to-sender", Mutation::GroupEchoToSender),
    ("one-to-one-into-group", Mutation::OneToOneIntoGroup),
    ("seal-group-on-first-leave", Mutation::SealGroupOnFirstLeave),
    ("group-bye-removes-all", Mutation::GroupByeRemovesAll),
    (
        "msrp-ignore-failure-report",
        Mutation::MsrpIgnoreFailureReport,
    ),
    ("msrp-answer-responses", Mutation::MsrpAnswerResponses),
    (
        "msrp-relay-sender-message-id",
        Mutation::MsrpRelaySenderMessageId,
    ),
    ("msrp-abort-completes", Mutation::MsrpAbortCompletes),
    ("msrp-silent-failure", Mutation::MsrpSilentFailure),
    ("refer-from-anyone", Mutation::ReferFromAnyone),
    ("anyone-removes", Mutation::AnyoneRemoves),
    ("removed-rejoins", Mutation::RemovedRejoins),
    ("rejoin-while-sealing", Mutation::RejoinWhileSealing),
    ("second-device-joins", Mutation::SecondDeviceJoins),
    ("subject-not-announced", Mutation::SubjectNotAnnounced),
    ("msrp-path-pass-through", Mutation::MsrpPathPassThrough),
    ("msrp-answer-reports", Mutation::MsrpAnswerReports),
    ("group-info-without-media", Mutation::GroupInfoWithoutMedia),
    ("group-on-failed-info", Mutation::GroupOnFailedInfo),
    ("focus-named-factory", Mutation::FocusNamedFactory),
    ("focus-contact-plain", Mutation::FocusContactPlain),
    ("no-ack-of-answer", Mutation::NoAckOfAnswer),
    ("crossed-answer-not-ended", Mutation::CrossedAnswerNotEnded),
    ("cancel-without-487", Mutation::CancelWithout487),
    ("all-failures-declined", Mutation::AllFailuresDeclined),
    ("decline-ends-group", Mutation::DeclineEndsGroup),
    (
        "replaced-bye-leaves-group",
        Mutation::ReplacedByeLeavesGroup,
    ),
    ("msrp-from-path-unchecked", Mutation::MsrpFromPathUnchecked),
    ("answer-only-msrp-line", Mutation::AnswerOnlyMsrpLine),
    ("caller-ok-before-answer", Mutation::CallerOkBeforeAnswer),
    (
        "bye-wait-at-transaction-timeout",
        Mutation::ByeWaitAtTransactionTimeout,
    ),
    ("subscribe-from-anyone", Mutation::SubscribeFromAnyone),
    ("refresh-without-state", Mutation::RefreshWithoutState),
    (
        "subscriptions-end-after-seal",
        Mutation::SubscriptionsEndAfterSeal,
    ),
    ("closed-conn-stays-bound", Mutation::ClosedConnStaysBound),
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
        "attack" => attack(),
        "group" => group(),
        "group-end" => group_end(),
        "ci" => ci(),
        "msrp" => msrp(),
        "msrp-switch" => msrp_switch(),
        "group-refer" => group_refer(),
        "faults" => faults(),
        "group-rejoin" => crate::group_races::rejoin(),
        "group-remove-rejoin" => crate::group_races::remove_rejoin(),
        "group-devices" => crate::group_races::devices(),
        "group-subject" => crate::group_races::subject(),
        "group-subscribe" => crate::group_races::subscribe(),
        "group-resubscribe" => crate::group_races::resubscribe(),
        "msrp-reconnect" => msrp_reconnect(),
        "combined" => combined(),
        "msrp-restart" => msrp_restart(),
        "cancel" => cancel(),
        "group-decline" => group_decline(),
        "msrp-wrong-path" => msrp_wrong_path(),
        "second-mline" => second_mline(),
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

/// The claim's flow over TCP: A extends to a group with B and C; B's BYE comes after
/// joining the group, or never (the server's `replaced_bye_timeout`). No chat
/// messages: with them the state space outgrows the CI budget (see README).
pub fn extension() -> Setup {
    Setup {
        extend: true,
        b_bye_early: false,
        missing_bye: true,
        ..Setup::base(0)
    }
}

/// The attacker against an established 1-to-1 with one message each way.
pub fn attack() -> Setup {
    Setup {
        attacker: true,
        ..Setup::base(1)
    }
}

/// The 1-to-1 over lossy UDP: one loss, one retransmission, one message each way.
pub fn lossy() -> Setup {
    Setup {
        transport: Transport::Udp,
        drops: 1,
        retransmits: 1,
        ..Setup::base(1)
    }
}

/// Group chat after the extension: C joins, each participant sends one group message,
/// C may leave, B's BYE on the replaced 1-to-1 comes after it joined and races the
/// group messages.
pub fn group() -> Setup {
    Setup {
        group_msgs: 1,
        leavers: 1,
        missing_bye: false,
        ..extension()
    }
}

/// The group's end: no messages, every participant may leave; the last one out seals
/// it (GRP-4).
pub fn group_end() -> Setup {
    Setup {
        leavers: 3,
        missing_bye: false,
        ..extension()
    }
}

/// The largest single pinned configuration: the 1-to-1 with two messages per
/// sender, glare, silent A and a store failure.
pub fn ci() -> Setup {
    glare()
}

/// The 1-to-1 over MSRP (specs/msrp.md): one message each way in two chunks, one
/// of them possibly aborted, BYE glare, one store failure.
pub fn msrp() -> Setup {
    Setup {
        msrp: true,
        chunks: 2,
        aborts: 1,
        glare: true,
        store_fails: 1,
        ..Setup::base(1)
    }
}

/// The switch window over MSRP: the extension with one 1-to-1 message each way
/// on the MSRP legs racing it (specs/extension.md, MSRP-10).
pub fn msrp_switch() -> Setup {
    Setup {
        msrp: true,
        msgs: 1,
        missing_bye: false,
        ..extension()
    }
}

/// Group REFERs after the extension (GRP-14, GRP-15): the chairman A may remove C,
/// B may try to, Mallory may try to add herself, once the replaced 1-to-1 is sealed
/// (`--set leavers=1` adds C's own leave racing its removal: 649,472 states).
pub fn group_refer() -> Setup {
    Setup {
        refers: true,
        leavers: 0,
        missing_bye: false,
        ..extension()
    }
}

/// Everything at once with random faults, for `check sim` (too large to exhaust):
/// SIP over UDP with losses, duplicates (and so reordering) and retransmissions,
/// store failures, the extension with group messages from all three and every
/// participant leaving, the group REFERs, glare, a silent A, a missing BYE, the
/// attacker, chat over MSRP in two chunks with an abort, and a terminal's restart.
pub fn faults() -> Setup {
    Setup {
        transport: Transport::Udp,
        msgs: 2,
        group_msgs: 1,
        leavers: 3,
        extend: true,
        glare: true,
        b_bye_early: false,
        missing_bye: true,
        silent_a: true,
        attacker: true,
        refers: true,
        drops: 2,
        dups: 2,
        retransmits: 3,
        store_fails: 2,
        msrp: true,
        chunks: 2,
        aborts: 1,
        restarts: 1,
        races: crate::model::Races::default(),
        eager_acks: false,
        por: false,
        por_server: false,
        por_check: false,
        cancel: false,
        info_fails: false,
        declines: false,
        wrong_paths: false,
        second_mline: false,
        msrp_reconnect: false,
        mutation: Mutation::None,
    }
}

/// A terminal's restart on the 1-to-1 over MSRP (`model/src/model/restart.rs`):
/// one whole message each way; A or B may lose its dialog and its connection and
/// register again at any moment. What the server holds for the vanished leg
/// waits, and what it sealed must be what was delivered (HIST-3, MSRP-9).
pub fn msrp_restart() -> Setup {
    Setup {
        msrp: true,
        restarts: 1,
        ..Setup::base(1)
    }
}

/// A's CANCEL of its 1-to-1 INVITE racing B's 200 (ONE-4, ONE-9): A may CANCEL
/// while its INVITE is unanswered; B answers 200 at once, so the server's CANCEL
/// always finds B's 200 on its way (it crosses), or the CANCEL comes after A's 200.
/// One message each way when the call is set up; B may BYE at any moment.
pub fn cancel() -> Setup {
    Setup {
        cancel: true,
        ..Setup::base(1)
    }
}

/// The group's end where C may decline the group's INVITE (603) or not answer it
/// (480) (GRP-1, GRP-7): the group goes on for A and B, its history records C's
/// outcome.
pub fn group_decline() -> Setup {
    Setup {
        declines: true,
        ..group_end()
    }
}

/// The 1-to-1 over MSRP where A also sends a SEND to an unknown session-id (481)
/// and one with another's From-Path (403) on its leg (MSRP-3), racing one whole
/// message each way and the BYE.
pub fn msrp_wrong_path() -> Setup {
    Setup {
        msrp: true,
        wrong_paths: true,
        ..Setup::base(1)
    }
}

/// The 1-to-1 over MSRP, one whole message each way, where B's MSRP connection
/// may break once and B connect again (MSRP-9).
pub fn msrp_reconnect() -> Setup {
    Setup {
        msrp: true,
        msrp_reconnect: true,
        ..Setup::base(1)
    }
}

/// The 1-to-1 over MSRP where A's INVITE offers an audio stream before the MSRP
/// one (MSRP-11: the server's answer declines it with port 0, in its place), one
/// whole message each way.
pub fn second_mline() -> Setup {
    Setup {
        msrp: true,
        second_mline: true,
        ..Setup::base(1)
    }
}

/// Everything of the 1-to-1 and its extension at once (issue 16's combined
/// configuration): the extension with C, two messages per sender on the 1-to-1,
/// SIP over UDP with one loss and one retransmission, BYE glare, a silent A, B's
/// missing BYE and the attacker; once the retransmission is spent, ACKs go in at
/// once (`eager_acks`, a sound reduction), and a terminal's safe receipts are
/// explored alone (`por`, the partial-order reduction of `model/por.rs`), as are
/// the terminals' answers to the server's BYE once nothing else may mint
/// (`por_server`). Not exhausted yet (model/README.md, "The combined
/// configuration"): no pinned count.
pub fn combined() -> Setup {
    Setup {
        transport: Transport::Udp,
        msgs: 2,
        extend: true,
        glare: true,
        b_bye_early: false,
        missing_bye: true,
        silent_a: true,
        attacker: true,
        drops: 1,
        retransmits: 1,
        eager_acks: true,
        por: true,
        por_server: true,
        ..Setup::base(2)
    }
}

/// Sets one field of `setup` from the command line (`msgs=2`, `glare=false`, ...).
pub fn tweak(setup: &mut Setup, field: &str, value: &str) -> bool {
    let num = || value.parse::<u8>().ok();
    let flag = || value.parse::<bool>().ok();
    let done = match field {
        "msgs" => num().map(|v| setup.msgs = v),
        "group_msgs" => num().map(|v| setup.group_msgs = v),
        "leavers" => num().map(|v| setup.leavers = v),
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
        "msrp" => flag().map(|v| setup.msrp = v),
        "refers" => flag().map(|v| setup.refers = v),
        "chunks" => num().map(|v| setup.chunks = v),
        "aborts" => num().map(|v| setup.aborts = v),
        "restarts" => num().map(|v| setup.restarts = v),
        "rejoin" => flag().map(|v| setup.races.rejoin = v),
        "remove" => flag().map(|v| setup.races.remove = v),
        "devices" => flag().map(|v| setup.races.devices = v),
        "subject" => flag().map(|v| setup.races.subject = v),
        "subscriptions" => flag().map(|v| setup.races.subscriptions = v),
        "resubscribe" => flag().map(|v| setup.races.resubscribe = v),
        "eager_acks" => flag().map(|v| setup.eager_acks = v),
        "por" => flag().map(|v| setup.por = v),
        "por_check" => flag().map(|v| setup.por_check = v),
        "por_server" => flag().map(|v| setup.por_server = v),
        "cancel" => flag().map(|v| setup.cancel = v),
        "info_fails" => flag().map(|v| setup.info_fails = v),
        "declines" => flag().map(|v| setup.declines = v),
        "wrong_paths" => flag().map(|v| setup.wrong_paths = v),
        "second_mline" => flag().map(|v| setup.second_mline = v),
        "msrp_reconnect" => flag().map(|v| setup.msrp_reconnect = v),
        "udp" => flag().map(|v| setup.transport = if v { Transport::Udp } else { Transport::Tcp }),
        _ => None,
    };
    done.is_some()
}
