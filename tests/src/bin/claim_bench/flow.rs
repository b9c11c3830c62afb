//! One flow of `claim_bench`: the whole claim with three users A, B, C of one worker
//! (specs/claim.md C1–C10; the message shapes of specs/one-to-one.md,
//! specs/extension.md, specs/termination.md, specs/group.md, specs/msrp.md):
//!
//! 1. A INVITEs B (MSRP, `a=setup:active` on both terminals), 200, ACK; both legs
//!    connect and bind;
//! 2. 10 MSRP messages each way on the 1-to-1 (each answered 200 by cpmd once stored,
//!    MSG-1, and delivered to the other side);
//! 3. A extends it: INVITE to the conference factory with `Session-Replaces`, a new
//!    Contribution-ID and the resource list (B, C); cpmd invites B (with
//!    `Session-Replaces` and `Replaces`) and C; all answer 200, all ACK, the three
//!    group legs bind;
//! 4. the BYE handshake: B BYEs the 1-to-1, cpmd relays the BYE to A, A answers 200,
//!    cpmd seals the 1-to-1 and answers B 200;
//! 5. 10 group messages, sent in turn by A, B, C, each delivered to the two others;
//! 6. A, B and C leave the group (BYE, 200 each; the last one once the group is
//!    sealed).
//!
//! The flow is ok only when every final answer was a 200 and every message and every
//! MSRP 200 arrived. Every wait is bounded (`--timeout`).

use std::collections::BTreeSet;

use crate::msrp::{own_path, Leg};
use crate::sip::{body, header, sdp_path, uri_in, Failure, SipUser};

/// Messages each way on the 1-to-1.
pub const ONE_TO_ONE_EACH_WAY: usize = 10;
/// Messages in the group.
pub const GROUP_MESSAGES: usize = 10;

/// A worker's three users.
pub struct Trio {
    pub a: SipUser,
    pub b: SipUser,
    pub c: SipUser,
}

fn sdp(path: &str, version: u32) -> String {
    format!(
        "v=0\r\no=- {version} {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain message/imdn+xml\r\na=path:{path}\r\n\
         a=setup:active\r\na=sendrecv\r\n"
    )
}

fn server_path(user: &SipUser, msg: &str) -> Result<String, Failure> {
    sdp_path(body(msg)).ok_or_else(|| {
        format!(
            "{}: no a=path in {:?}",
            user.name,
            crate::sip::first_line(msg)
        )
    })
}

/// The CSeq number of a response (its ACK carries it).
fn cseq_of(msg: &str) -> Option<u32> {
    header(msg, "CSeq")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
}

/// Answers cpmd's INVITE (Contribution-ID `contribution`) at `user` with 200 and an
/// active SDP for `session`, waits for the ACK, opens and binds the leg; returns the
/// INVITE, the To of the 200 (the dialog as the callee sees it) and the leg.
async fn join(
    user: &mut SipUser,
    contribution: &str,
    session: &str,
    check: impl Fn(&str) -> Result<(), Failure>,
) -> Result<(String, String, Leg), Failure> {
    let invite = user
        .request_with("INVITE", "Contribution-ID", contribution)
        .await?;
    check(&invite)?;
    let peer = server_path(user, &invite)?;
    let own = own_path(session);
    let tag = user.fresh("tag");
    let (ok, ok_to) = user.answer(&invite, "200 OK", &tag, Some(&sdp(&own, 1)));
    user.send(&ok).await?;
    let call_id = header(&invite, "Call-ID");
    user.request_with("ACK", "Call-ID", &call_id).await?;
    let leg = Leg::open(format!("{}/{session}", user.name), own, peer, user.limit).await?;
    Ok((invite, ok_to, leg))
}

/// What a passing flow stored: its message count (every one answered 200).
pub struct Stored {
    pub messages: usize,
}

/// Runs flow `id` (unique in the run) with `trio`.
pub async fn run(trio: &mut Trio, id: &str, domain: &str) -> Result<Stored, Failure> {
    let Trio { a, b, c } = trio;
    let conversation = format!("conv-{id}");
    let (k1, k2) = (format!("one-{id}"), format!("group-{id}"));
    let factory = format!("sip:conf-factory@{domain}");
    let (alice, bob, carol) = (a.aor(), b.aor(), c.aor());

    // 1. The 1-to-1.
    let call1 = a.fresh(&format!("one-{id}"));
    let a_tag = a.fresh("tag");
    let extra = format!(
        "Conversation-ID: {conversation}\r\nContribution-ID: {k1}\r\n\
         Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"\r\n\
         Content-Type: application/sdp\r\n"
    );
    let a1_own = own_path(&format!("{id}-a1"));
    let invite = a.request(
        "INVITE",
        &bob,
        &a_tag,
        &format!("<{bob}>"),
        &call1,
        None,
        &extra,
        &sdp(&a1_own, 1),
    );
    a.send(&invite).await?;
    let b1_session = format!("{id}-b1");
    let b_side = join(b, &k1, &b1_session, |_| Ok(()));
    let a_side = a.final_ok("INVITE", &call1);
    let (b_side, ok) = tokio::join!(b_side, a_side);
    let (b_invite1, b_to1, mut b1) = b_side?;
    let ok = ok?;
    let a_to1 = header(&ok, "To");
    let a_target1 = uri_in(&header(&ok, "Contact"));
    let ack = a.request(
        "ACK",
        &a_target1,
        &a_tag,
        &a_to1,
        &call1,
        cseq_of(&ok),
        "",
        "",
    );
    a.send(&ack).await?;
    let mut a1 = Leg::open(
        format!("{}/{id}-a1", a.name),
        a1_own,
        server_path(a, &ok)?,
        a.limit,
    )
    .await?;

    // 2. Ten messages each way.
    let (mut a_tids, mut b_tids, mut to_a, mut to_b) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for i in 0..ONE_TO_ONE_EACH_WAY {
        let (ma, mb) = (format!("{id}-a{i}"), format!("{id}-b{i}"));
        a_tids.insert(a1.say(&ma, &alice, &bob)?);
        b_tids.insert(b1.say(&mb, &bob, &alice)?);
        to_b.insert(ma);
        to_a.insert(mb);
    }
    let (ra, rb) = tokio::join!(a1.collect(&a_tids, &to_a), b1.collect(&b_tids, &to_b));
    ra?;
    rb?;

    // 3. The extension to a group with B and C.
    let call2 = a.fresh(&format!("ext-{id}"));
    let a2_own = own_path(&format!("{id}-a2"));
    let boundary = "claim-bench-boundary";
    let list = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\r\n<list>\r\n\
         <entry uri=\"{bob}\"/>\r\n<entry uri=\"{carol}\"/>\r\n</list>\r\n</resource-lists>\r\n"
    );
    let multipart = format!(
        "--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Type: application/resource-lists+xml\r\n\
         Content-Disposition: recipient-list\r\n\r\n{list}--{boundary}--\r\n",
        sdp(&a2_own, 2)
    );
    let extra = format!(
        "Conversation-ID: {conversation}\r\nContribution-ID: {k2}\r\nSession-Replaces: {k1}\r\n\
         Require: recipient-list-invite\r\n\
         Content-Type: multipart/mixed;boundary={boundary}\r\n"
    );
    let ext = a.request(
        "INVITE",
        &factory,
        &a_tag,
        &format!("<{factory}>"),
        &call2,
        None,
        &extra,
        &multipart,
    );
    a.send(&ext).await?;
    let k1_check = k1.clone();
    let (b2_session, c_session) = (format!("{id}-b2"), format!("{id}-c"));
    let b_side = join(b, &k2, &b2_session, move |inv| {
        if header(inv, "Session-Replaces") != k1_check || header(inv, "Replaces").is_empty() {
            return Err(format!(
                "group INVITE to B does not name the 1-to-1 {k1_check}"
            ));
        }
        Ok(())
    });
    let c_side = join(c, &k2, &c_session, |inv| {
        if !header(inv, "Replaces").is_empty() {
            return Err("group INVITE to C names a session".into());
        }
        Ok(())
    });
    let a_side = async {
        let ok = a.final_ok("INVITE", &call2).await?;
        let to = header(&ok, "To");
        let target = uri_in(&header(&ok, "Contact"));
        let ack = a.request("ACK", &target, &a_tag, &to, &call2, cseq_of(&ok), "", "");
        a.send(&ack).await?;
        let leg = Leg::open(
            format!("{}/{id}-a2", a.name),
            a2_own.clone(),
            server_path(a, &ok)?,
            a.limit,
        )
        .await?;
        Ok::<_, Failure>((to, target, leg))
    };
    let (bs, cs, as_) = tokio::join!(b_side, c_side, a_side);
    let (b_invite2, b_to2, mut b2) = bs?;
    let (c_invite, c_to, mut c2) = cs?;
    let (a_to2, a_target2, mut a2) = as_?;

    // 4. The BYE handshake on the replaced 1-to-1.
    let bye = b.bye_as_callee(&b_invite1, &b_to1);
    b.send(&bye).await?;
    let relayed = a.request_with("BYE", "Call-ID", &call1).await?;
    let (ok, _) = a.answer(&relayed, "200 OK", &a_tag, None);
    a.send(&ok).await?;
    b.final_ok("BYE", &header(&b_invite1, "Call-ID")).await?;
    drop((a1, b1));

    // 5. Ten group messages, A, B, C in turn.
    let mut legs = [(&mut a2, &alice), (&mut b2, &bob), (&mut c2, &carol)];
    let mut tids: [BTreeSet<String>; 3] = Default::default();
    let mut wanted: [BTreeSet<String>; 3] = Default::default();
    for i in 0..GROUP_MESSAGES {
        let from = i % 3;
        let mid = format!("{id}-g{i}");
        let (leg, who) = &mut legs[from];
        tids[from].insert(leg.say(&mid, who, &factory)?);
        for (to, want) in wanted.iter_mut().enumerate() {
            if to != from {
                want.insert(mid.clone());
            }
        }
    }
    let (ra, rb, rc) = tokio::join!(
        a2.collect(&tids[0], &wanted[0]),
        b2.collect(&tids[1], &wanted[1]),
        c2.collect(&tids[2], &wanted[2])
    );
    ra?;
    rb?;
    rc?;

    // 6. Everyone leaves; the last BYE is answered once the group is sealed.
    let bye = a.request("BYE", &a_target2, &a_tag, &a_to2, &call2, None, "", "");
    a.send(&bye).await?;
    a.final_ok("BYE", &call2).await?;
    for (user, invite, to) in [(b, &b_invite2, &b_to2), (c, &c_invite, &c_to)] {
        let bye = user.bye_as_callee(invite, to);
        user.send(&bye).await?;
        user.final_ok("BYE", &header(invite, "Call-ID")).await?;
    }
    Ok(Stored {
        messages: 2 * ONE_TO_ONE_EACH_WAY + GROUP_MESSAGES,
    })
}
