//! SEC-7: several cpmd instances on one database. Every session row belongs to the
//! instance that created it; a record or seal from another instance that names the
//! same Conversation-ID and Contribution-ID is refused with a store error, before
//! anything of the session is touched, and sealing one's own session never touches
//! another instance's messages. Run on both backends (the rule is the store's, not
//! PostgreSQL's), though only PostgreSQL is shared by several instances in practice.
//!
//! Before SEC-7 `attack_on_another_instances_session_changes_nothing` failed (run
//! on the base: the first refusal it expects was an `Ok`; the message and info went
//! into instance 1's session, and the seal marked it sealed, replaced its info and
//! participants and expunged its messages).
//! `sealing_own_session_leaves_another_instances_messages` passed there too: it
//! guards that a seal works by session row, never by Contribution-ID or sequence
//! number alone.

use super::*;
use crate::store::inspect::{read_contents, StoreContents};

both_backends!(
    attack_on_another_instances_session_changes_nothing,
    sealing_own_session_leaves_another_instances_messages,
);

const CONV2: &str = "5d1e0c3b-2a49-4f87-b6d5-c4b3a2918070";

fn dave() -> UserUri {
    UserUri::new_canonical("sip:dave@example.com")
}

/// Instance 1's sessions and messages (conversation `CONV`, sessions K1 and K2).
fn of_conv(contents: StoreContents) -> StoreContents {
    let ours = |conversation: &str, contribution: &str| {
        conversation == CONV && [K1, K2].contains(&contribution)
    };
    StoreContents {
        sessions: contents
            .sessions
            .into_iter()
            .filter(|s| ours(&s.conversation_id, &s.contribution_id))
            .collect(),
        messages: contents
            .messages
            .into_iter()
            .filter(|m| {
                ours(
                    &m.conversation_id,
                    m.contribution_id.as_deref().unwrap_or(""),
                )
            })
            .collect(),
        standalone: Vec::new(),
        dispositions: Vec::new(),
    }
}

/// What users see of instance 1's two sessions (`None`: no such folder).
fn views(s: &OpenStore) -> Vec<Option<Vec<String>>> {
    let mut out = Vec::new();
    for user in [alice(), bob(), carol()] {
        for mailbox in [k1_box(), k2_box()] {
            let there = names(s, &user).contains(&mailbox);
            out.push(there.then(|| raw_text(s, &user, &mailbox)));
        }
    }
    out
}

fn attack_on_another_instances_session_changes_nothing(place: Place) {
    let mut one = place.open_as(1);
    write(
        &mut one,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, bob(), &[alice()]),
            Record::SessionInfo(group_info()),
            message(key(2, K2), 1, carol(), &[alice(), bob()]),
        ],
    );
    let before = of_conv(read_contents(&place.url()).unwrap());
    let seen_before = views(&one);
    assert_eq!(before.sessions.len(), 2);
    assert_eq!(before.messages.len(), 3);

    // Instance 2's user (Dave) reuses both sessions' Conversation-ID and
    // Contribution-ID: every write is refused, each alone (its own session still
    // works in the same batch).
    let mut two = place.open_as(2);
    assert!(
        two.recovered.is_empty(),
        "instance 1's open sessions are not 2's"
    );
    let refused = |r: Result<(), StoreError>, what: &str| {
        let e = r.expect_err(what);
        assert!(
            e.to_string().contains("belongs to cpmd instance 1"),
            "{what}: {e}"
        );
    };
    refused(
        two.history
            .persist(&message(key(9, K1), 3, dave(), &[alice()])),
        "a message into instance 1's 1-to-1",
    );
    let mut info = group_info();
    info.key = key(9, K2);
    info.from = dave();
    info.invited = vec![dave()];
    refused(
        two.history.persist(&Record::SessionInfo(info.clone())),
        "a session info over instance 1's group",
    );
    let mut one_to_one = one_to_one_info();
    one_to_one.key = key(9, K1);
    one_to_one.from = dave();
    refused(
        two.history.seal(&seal_of(one_to_one, vec![], vec![])),
        "a seal of instance 1's 1-to-1 (would expunge its messages)",
    );
    let participants = vec![ParticipantRecord {
        user: dave(),
        state: "joined".into(),
    }];
    refused(
        two.history.seal(&seal_of(info, vec![], participants)),
        "a seal of instance 1's group with other participants",
    );
    two.history
        .persist(&message(key(9, "k-dave"), 1, dave(), &[alice()]))
        .expect("instance 2's own session");
    two.history.sync().expect("the batch commits");

    assert_eq!(
        of_conv(read_contents(&place.url()).unwrap()),
        before,
        "instance 1's sessions and messages are as they were"
    );
    assert_eq!(views(&one), seen_before, "and so is what users see of them");
    assert!(
        !names(&one, &dave()).contains(&k1_box()),
        "Dave got nothing of the 1-to-1"
    );
    // Instance 2 restarting (crash recovery) leaves instance 1's sessions open.
    drop(two);
    let two = place.open_as(2);
    assert_eq!(two.recovered, vec!["k-dave".to_owned()]);
    assert_eq!(of_conv(read_contents(&place.url()).unwrap()), before);

    // Instance 1 still owns and seals its session, with its messages.
    one.history
        .seal(&seal_of(one_to_one_info(), vec![1, 2], vec![]))
        .expect("the owner seals");
    one.history.sync().unwrap();
    assert_eq!(
        raw_text(&one, &bob(), &k1_box()).len(),
        3,
        "two messages and the info"
    );
}

fn sealing_own_session_leaves_another_instances_messages(place: Place) {
    let mut one = place.open_as(1);
    write(
        &mut one,
        &[
            message(key(1, K1), 1, alice(), &[bob()]),
            message(key(1, K1), 2, alice(), &[bob()]),
        ],
    );
    // Instance 2 has a session of its own with the same Contribution-ID in another
    // conversation, with the same sequence numbers; it seals it with an empty final
    // set, which expunges its own stored messages and nothing else.
    let mut two = place.open_as(2);
    let theirs = SessionKey {
        session: SessionId::new(1),
        conversation_id: ConversationId::new(CONV2),
        contribution_id: ContributionId::new(K1),
    };
    write(
        &mut two,
        &[
            message(theirs.clone(), 1, alice(), &[bob()]),
            message(theirs.clone(), 2, alice(), &[bob()]),
        ],
    );
    let mut info = one_to_one_info();
    info.key = theirs;
    two.history.seal(&seal_of(info, vec![], vec![])).unwrap();
    two.history.sync().unwrap();
    let their_box = layout::session_mailbox(CONV2, K1);
    assert_eq!(raw_text(&two, &bob(), &their_box).len(), 1, "the info only");
    for user in [alice(), bob()] {
        let ours = raw_text(&one, &user, &k1_box());
        assert_eq!(ours.len(), 2, "instance 1's messages stay: {ours:#?}");
    }
    let contents = read_contents(&place.url()).unwrap();
    let ours = contents
        .sessions
        .iter()
        .find(|s| s.conversation_id == CONV)
        .expect("instance 1's session");
    assert_eq!(ours.state, "open");
}

/// SEC-7 rests on distinct instance numbers: on PostgreSQL a second process with
/// the same number is refused at start-up (it would otherwise own, and crash-seal,
/// the first one's live sessions); once the first is gone, it starts.
#[test]
fn one_instance_number_one_process_on_postgres() {
    let Some(place) = postgres_place("one_instance_number_one_process_on_postgres") else {
        return;
    };
    let mut first = place.open_as(3);
    write(&mut first, &[message(key(1, K1), 1, alice(), &[bob()])]);
    let e = match open(&place.url(), 3) {
        Ok(_) => panic!("a second instance 3 started"),
        Err(e) => e.0,
    };
    assert!(
        e.contains("another cpmd with instance 3 is connected"),
        "{e}"
    );
    let other = place.open_as(4);
    assert!(other.recovered.is_empty(), "instance 4 is another instance");
    drop(first);
    let again = place.open_as(3);
    assert_eq!(
        again.recovered,
        vec![K1.to_owned()],
        "instance 3's own session"
    );
}
