//! GRP-23, GRP-24 on the store: the session info of an ended group (same
//! Conversation-ID and Contribution-ID) reopens its sealed session for a
//! participant; the restarted run's messages are numbered after the first run's,
//! and its seal leaves the first run's history as it was. A user who was not in
//! the group (or was removed from it) is refused and nothing is written.
//! GRP-40: a restart naming no one gets the members of the ended group's last
//! stored state (not the removed ones, nor those who never joined).

use cpmd_core::server::StoreError;

use super::*;

both_backends!(
    a_restart_reopens_the_ended_group_and_keeps_its_history,
    a_crash_during_the_restarted_run_keeps_both_runs,
    a_restart_naming_no_one_gets_the_stored_members,
    a_group_info_under_an_ended_one_to_ones_ids_is_refused
);

fn left(users: &[(&UserUri, &str)]) -> Vec<ParticipantRecord> {
    users
        .iter()
        .map(|(u, s)| ParticipantRecord {
            user: (*u).clone(),
            state: (*s).into(),
        })
        .collect()
}

/// The message objects of `user`'s group folder, by their text.
fn texts(store: &OpenStore, user: &UserUri) -> Vec<String> {
    raw_text(store, user, &k2_box())
        .into_iter()
        .filter(|r| r.contains("imdn.Message-ID"))
        .map(|r| r.rsplit("\r\n\r\n").next().unwrap_or_default().to_owned())
        .collect()
}

fn a_restart_reopens_the_ended_group_and_keeps_its_history(place: Place) {
    let mut s = place.open();
    let (a, b, c) = (alice(), bob(), carol());
    let run1 = key(2, K2);
    write(
        &mut s,
        &[
            Record::SessionInfo(group_info()),
            message(run1.clone(), 1, a.clone(), &[b.clone(), c.clone()]),
            message(run1.clone(), 2, b.clone(), &[a.clone(), c.clone()]),
            // Accepted but never delivered: dropped at the seal (HIST-3).
            message(run1.clone(), 3, a.clone(), &[b.clone(), c.clone()]),
        ],
    );
    seal_one(
        &mut s,
        seal_of(
            group_info(),
            vec![1, 2],
            left(&[(&a, "left"), (&b, "left"), (&c, "removed")]),
        ),
    );
    assert_eq!(texts(&s, &b), ["message 1", "message 2"]);

    // GRP-24: carol was removed: her restart is refused, nothing written.
    let mut by_carol = group_info();
    by_carol.key.session = SessionId::new(5);
    by_carol.from = c.clone();
    by_carol.invited = vec![a.clone(), b.clone()];
    let job = [StoreJob::Persist(
        StoreTicket::new(1),
        Record::SessionInfo(by_carol),
    )];
    let answer = s.history.write_batch(&job).remove(0);
    assert!(
        matches!(answer, Err(StoreError::NotAParty { .. })),
        "{answer:?}"
    );

    // GRP-23: bob restarts it: the same folder, the run's messages after the first's.
    let mut by_bob = group_info();
    by_bob.key.session = SessionId::new(6);
    by_bob.from = b.clone();
    by_bob.invited = vec![a.clone(), c.clone()];
    let run2 = by_bob.key.clone();
    write(
        &mut s,
        &[
            Record::SessionInfo(by_bob.clone()),
            message(run2.clone(), 1, b.clone(), std::slice::from_ref(&a)),
            message(run2.clone(), 2, a.clone(), std::slice::from_ref(&b)),
        ],
    );
    seal_one(
        &mut s,
        seal_of(by_bob.clone(), vec![1], left(&[(&a, "left"), (&b, "left")])),
    );
    // The first run's two, then the restarted run's delivered one (its seq 2 was
    // never delivered and leaves at the seal); the first run's stay.
    assert_eq!(texts(&s, &b), ["message 1", "message 2", "message 1"]);
    assert_eq!(texts(&s, &a), ["message 1", "message 2", "message 1"]);
    // Sealed again: nothing more is added (HIST-2).
    let late = [StoreJob::Persist(
        StoreTicket::new(2),
        message(run2, 3, a.clone(), std::slice::from_ref(&b)),
    )];
    assert!(s.history.write_batch(&late)[0].is_err());
}

/// GRP-23 and crash recovery: the process dies during the restarted run; the
/// start-up seal keeps the first run's messages and the restarted run's stored
/// ones (numbered after the base), expunging none of either.
fn a_crash_during_the_restarted_run_keeps_both_runs(place: Place) {
    let mut s = place.open();
    let (a, b, c) = (alice(), bob(), carol());
    write(
        &mut s,
        &[
            Record::SessionInfo(group_info()),
            message(key(2, K2), 1, a.clone(), &[b.clone(), c.clone()]),
        ],
    );
    seal_one(
        &mut s,
        seal_of(group_info(), vec![1], left(&[(&a, "left"), (&b, "left")])),
    );
    let mut by_alice = group_info();
    by_alice.key.session = SessionId::new(8);
    let run2 = by_alice.key.clone();
    write(
        &mut s,
        &[
            Record::SessionInfo(by_alice),
            message(run2.clone(), 1, a.clone(), &[b.clone(), c.clone()]),
            message(run2, 2, b.clone(), &[a.clone(), c.clone()]),
        ],
    );
    // The process dies: no seal arrives.
    drop(s);
    let s = place.open();
    assert_eq!(s.recovered, vec![K2.to_owned()]);
    assert_eq!(texts(&s, &c), ["message 1", "message 1", "message 2"]);
}

/// GRP-40: bob's restart names no one: the store reopens the group and hands back
/// its members from the seal's group state (alice and bob, who left; not carol,
/// removed, nor dave, who declined), in its order, once. The same info with ids
/// naming no ended group is refused (`NoEndedGroup`) and writes nothing.
fn a_restart_naming_no_one_gets_the_stored_members(place: Place) {
    let mut s = place.open();
    let (a, b, c) = (alice(), bob(), carol());
    let d = UserUri::new_canonical("sip:dave@example.com");
    write(&mut s, &[Record::SessionInfo(group_info())]);
    seal_one(
        &mut s,
        seal_of(
            group_info(),
            vec![],
            left(&[
                (&a, "left"),
                (&b, "left"),
                (&c, "removed"),
                (&d, "declined"),
            ]),
        ),
    );
    let mut unknown = group_info();
    unknown.key.session = SessionId::new(5);
    unknown.key.contribution_id = ContributionId::new("never-a-group");
    unknown.invited = Vec::new();
    let job = [StoreJob::Persist(
        StoreTicket::new(1),
        Record::SessionInfo(unknown.clone()),
    )];
    let answer = s.history.write_batch(&job).remove(0);
    assert!(
        matches!(answer, Err(StoreError::NoEndedGroup { .. })),
        "{answer:?}"
    );
    assert_eq!(s.history.take_restored(&unknown.key), None);

    let mut by_bob = group_info();
    by_bob.key.session = SessionId::new(6);
    by_bob.from = b.clone();
    by_bob.invited = Vec::new();
    let job = [StoreJob::Persist(
        StoreTicket::new(2),
        Record::SessionInfo(by_bob.clone()),
    )];
    s.history.write_batch(&job).remove(0).expect("the restart");
    assert_eq!(s.history.take_restored(&by_bob.key), Some(vec![a, b]));
    assert_eq!(
        s.history.take_restored(&by_bob.key),
        None,
        "handed over once"
    );
}

/// GRP-41: a group info under the Conversation-ID and Contribution-ID of a sealed
/// 1-to-1 is refused as naming no ended group (`NoEndedGroup`, 404 to the INVITE)
/// rather than failing as a write to a sealed session (500); nothing is written.
fn a_group_info_under_an_ended_one_to_ones_ids_is_refused(place: Place) {
    let mut s = place.open();
    let one = one_to_one_info();
    write(&mut s, &[Record::SessionInfo(one.clone())]);
    seal_one(&mut s, seal_of(one.clone(), vec![], vec![]));
    let mut group = group_info();
    group.key = one.key.clone();
    group.key.session = SessionId::new(9);
    let job = [StoreJob::Persist(
        StoreTicket::new(1),
        Record::SessionInfo(group.clone()),
    )];
    let answer = s.history.write_batch(&job).remove(0);
    assert!(
        matches!(answer, Err(StoreError::NoEndedGroup { .. })),
        "{answer:?}"
    );
    assert_eq!(s.history.take_restored(&group.key), None);
}
