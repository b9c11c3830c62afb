//! GRP-20 on the store: each `Record::GroupState` becomes a numbered row of
//! `group_states` and a new object in the group's session folder of every party
//! (the older versions stay, each under its own UID); a sealed group takes none.

use cpmd_core::server::GroupStateRecord;

use super::*;

both_backends!(each_group_state_version_is_a_new_object);

fn version(participants: &[(&UserUri, &str)], subject: Option<&str>) -> Record {
    Record::GroupState(GroupStateRecord {
        info: group_info(),
        subject: subject.map(str::to_owned),
        focus: "sip:conf-7@example.com".into(),
        participants: participants
            .iter()
            .map(|(u, s)| ParticipantRecord {
                user: (*u).clone(),
                state: (*s).into(),
            })
            .collect(),
    })
}

fn each_group_state_version_is_a_new_object(place: Place) {
    let mut s = place.open();
    let (a, b, c) = (alice(), bob(), carol());
    write(
        &mut s,
        &[
            Record::SessionInfo(group_info()),
            version(&[(&a, "joined")], None),
            version(&[(&a, "joined"), (&b, "invited"), (&c, "invited")], None),
        ],
    );
    write(
        &mut s,
        &[version(
            &[(&a, "joined"), (&b, "joined"), (&c, "declined")],
            Some("lunch & more"),
        )],
    );
    for user in [&a, &b, &c] {
        let objects = raw_text(&s, user, &k2_box());
        // The info, then the three versions in order.
        assert_eq!(objects.len(), 4, "{user}: {objects:#?}");
        assert!(objects[0].contains("Application/X-CPM-Session"));
        for v in &objects[1..] {
            assert!(v.contains("Content-Type: application/group-state-object+xml"));
            assert!(v.contains("Conversation-ID: ") && v.contains("Contribution-ID: k2-group"));
            assert!(v.contains("lastfocussessionid=\"sip:conf-7@example.com\""));
        }
        assert!(
            !objects[1].contains("sip:bob@example.com"),
            "{}",
            objects[1]
        );
        assert!(objects[2].contains("comm-addr=\"sip:carol@example.com\" state=\"invited\""));
        assert!(objects[3].contains("comm-addr=\"sip:carol@example.com\" state=\"declined\""));
        assert!(
            objects[3].contains("Subject: lunch & more\r\n"),
            "{}",
            objects[3]
        );
        assert!(!objects[2].contains("Subject:"));
    }
    // The seal files the final object beside the versions; a version after the seal
    // is refused (nothing is added to a sealed session, HIST-2).
    seal_one(
        &mut s,
        seal_of(
            group_info(),
            vec![],
            vec![ParticipantRecord {
                user: a.clone(),
                state: "left".into(),
            }],
        ),
    );
    let late = [StoreJob::Persist(
        StoreTicket::new(9),
        version(&[(&a, "left")], None),
    )];
    assert!(s.history.write_batch(&late)[0].is_err());
    let objects = raw_text(&s, &a, &k2_box());
    assert_eq!(objects.len(), 5, "{objects:#?}");
    assert!(objects[4].contains("state=\"left\""));
}
