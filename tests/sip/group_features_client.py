#!/usr/bin/env python3
"""Group-feature terminals for cpmd's end-to-end tests (Python 3, standard library).

Builds on `group_client.py` (same directory: its terminals, dialogs and NOTIFY
recording, written from the RFCs without looking at cpmd's codec) for the features of
specs/group.md GRP-30 and on. Every conference NOTIFY a terminal receives is written
to `--out DIR/notify-<n>-<user>.xml` for the caller's RFC 4575 schema check.

Scenario `allow` (GRP-30): alice's OPTIONS to cpmd is answered 200 with an `Allow`
  naming SUBSCRIBE, NOTIFY and REFER; alice creates a group with bob: the focus's 200
  and its INVITE to bob carry the same; a SUBSCRIBE to bob (not a focus) gets 405 whose
  `Allow` does not name SUBSCRIBE. Then both leave.

Scenario `devices` (GRP-31): bob is registered on two devices, dave on two. alice
  creates a group with bob and carol: both of bob's devices ring (two dialogs); the
  second answers 200 and the first gets a CANCEL (200 to it, 487 to the INVITE, ACK).
  alice subscribes: bob is one user, connected. alice REFERs dave: both of dave's
  devices ring; one answers 486, the other 200: dave joined (sipfrag 200, alice sees
  dave connected). Everyone leaves; the group ends.

Scenario `list` (GRP-32): alice creates a group with bob and subscribes; she REFERs
  the focus with `Refer-To: <cid:…>` and a multipart/mixed body whose resource-list
  part (that Content-ID) names bob, carol and dave: 202, sipfrag 100; carol and dave
  are invited (bob, already in, is not); carol joins, dave declines: one final
  sipfrag 200; alice's conference NOTIFYs show carol and dave pending, then carol
  connected and dave disconnected (busy). Everyone leaves.

Scenario `subject` (GRP-33): alice creates a group with bob (Subject "Weekend
  plans") and subscribes: the full state carries that subject. bob sends an UPDATE in
  his group dialog with `Subject: Dinner & <drinks>`: 200; alice gets a partial NOTIFY
  with only the new subject. The same subject again: 200 and no NOTIFY. Everyone
  leaves.

Output: one JSON object per line on stdout ({"ok": ...} steps, {"error": ...} on
failure); exit status 0 only when the scenario completed.
"""

import argparse
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from group_client import (  # noqa: E402
    DOMAIN, NOTIFY_COUNT, Dialog, Term, check, group_invite_body, join, log, notify, sdp,
    sipfrag, subscribe, uri_of, user_status,
)


def allow_of(msg):
    return {m.strip() for m in (msg.h("allow") or "").split(",") if m.strip()}


def create_group(alice, invitees, subject):
    """alice's INVITE to the conference factory naming `invitees`: (dialog, focus, 200)."""
    call_id, a_tag = alice.request(
        "INVITE", f"sip:conf-factory@{DOMAIN}", f"<sip:conf-factory@{DOMAIN}>",
        [("Require", "recipient-list-invite"), ("Subject", subject),
         ("Conversation-ID", secrets.token_hex(16)), ("Contribution-ID", secrets.token_hex(16)),
         ("Content-Type", "multipart/mixed;boundary=b1")],
        group_invite_body(alice, invitees))
    ok = alice.expect_status("group INVITE", "INVITE", 200)
    focus = uri_of(ok.h("contact"))
    dialog = Dialog(call_id, f"<{alice.aor}>;tag={a_tag}", ok.h("to"), focus)
    alice.send(f"ACK {focus} SIP/2.0",
               [("Via", alice.via()), ("Max-Forwards", "70"), ("From", dialog.local),
                ("To", dialog.remote), ("Call-ID", call_id),
                ("CSeq", f"{ok.h('cseq').split()[0]} ACK")])
    return dialog, focus, ok


def leave(term, dialog):
    dialog.request(term, "BYE")
    term.expect_status("BYE", "BYE", 200)


def allow(args):
    server = (args.host, args.port)
    alice, bob = (Term(n, server, args.out) for n in ("alice", "bob"))
    for t in (alice, bob):
        t.register()
    wanted = {"SUBSCRIBE", "NOTIFY", "REFER", "INVITE", "MESSAGE"}
    alice.request("OPTIONS", f"sip:{DOMAIN}", f"<sip:{DOMAIN}>")
    ok = alice.expect_status("OPTIONS", "OPTIONS", 200)
    check(wanted <= allow_of(ok), f"OPTIONS Allow: {ok.h('allow')}")
    log(ok="OPTIONS Allow", allow=ok.h("allow"))

    a_group, _, ok = create_group(alice, ["bob"], args.subject)
    check(wanted <= allow_of(ok), f"the focus's 200 Allow: {ok.h('allow')}")
    inv = bob.next("group INVITE", lambda m: m.is_request("INVITE"))
    check(wanted <= allow_of(inv), f"the focus's INVITE Allow: {inv.h('allow')}")
    bob.pending.insert(0, inv)
    b_group = join(bob, "b1")
    log(ok="the focus advertises SUBSCRIBE and REFER")

    alice.request("SUBSCRIBE", bob.aor, f"<{bob.aor}>", [("Event", "conference")])
    no = alice.expect_status("SUBSCRIBE to a user", "SUBSCRIBE", 405)
    check("SUBSCRIBE" not in allow_of(no) and "REFER" in allow_of(no),
          f"405 Allow: {no.h('allow')}")
    log(ok="405 Allow omits the refused method")
    leave(bob, b_group)
    leave(alice, a_group)
    log(ok="group ended", notifies=NOTIFY_COUNT[0])


def answer_invite(term, inv, session):
    """`term` answers a group INVITE it holds with 200 and waits for the ACK."""
    tag = secrets.token_hex(4)
    term.respond(inv, 200, "OK", [("Content-Type", "application/sdp")], sdp(term, session),
                 to_tag=tag)
    term.next("ACK", lambda m: m.is_request("ACK") and m.h("call-id") == inv.h("call-id"))
    return Dialog(inv.h("call-id"), f"{inv.h('to')};tag={tag}", inv.h("from"),
                  uri_of(inv.h("contact")))


def cancelled(term, inv):
    """`term` gets the CANCEL of the INVITE it holds: 200 to it, 487 to the INVITE."""
    cancel = term.next("CANCEL", lambda m: m.is_request("CANCEL"))
    check(cancel.h("call-id") == inv.h("call-id"), f"{term.name}: CANCEL of its INVITE")
    tag = secrets.token_hex(4)
    term.respond(cancel, 200, "OK", to_tag=tag)
    term.respond(inv, 487, "Request Terminated", to_tag=tag)
    term.next("ACK of 487", lambda m: m.is_request("ACK"))


def ring_both(first, second, what):
    inv1 = first.next(what, lambda m: m.is_request("INVITE"))
    inv2 = second.next(what, lambda m: m.is_request("INVITE"))
    check(inv1.h("call-id") != inv2.h("call-id"), f"{what}: one dialog per device")
    return inv1, inv2


def devices(args):
    server = (args.host, args.port)
    alice, bob1, bob2, carol, dave1, dave2 = (
        Term(n, server, args.out) for n in ("alice", "bob", "bob", "carol", "dave", "dave"))
    for t in (alice, bob1, bob2, carol, dave1, dave2):
        t.register()
    a_group, focus, _ = create_group(alice, ["bob", "carol"], args.subject)
    inv1, inv2 = ring_both(bob1, bob2, "bob's group INVITE")
    b_group = answer_invite(bob2, inv2, "b2")
    cancelled(bob1, inv1)
    c_group = join(carol, "c1")
    log(ok="bob's two devices rang; the second joined, the first was cancelled")

    subscribe(alice, focus)
    alice.expect_status("SUBSCRIBE", "SUBSCRIBE", 200)
    _, v, state, doc = notify(alice, "full state")
    check(doc.count(f'<user entity="sip:bob@{DOMAIN}"') == 1, f"bob is one user: {doc}")
    check(user_status(doc, "bob") == ("connected", None), f"bob connected in {doc}")

    alice.request("REFER", focus, f"<{focus}>", [("Refer-To", f"<sip:dave@{DOMAIN}>")])
    alice.expect_status("REFER adding dave", "REFER", 202)
    state, line = sipfrag(alice, "first sipfrag")
    check(line.startswith("SIP/2.0 100"), f"{state} {line}")
    inv1, inv2 = ring_both(dave1, dave2, "dave's group INVITE")
    dave1.respond(inv1, 486, "Busy Here", to_tag=secrets.token_hex(4))
    dave1.next("ACK of 486", lambda m: m.is_request("ACK"))
    d_group = answer_invite(dave2, inv2, "d2")
    state, line = sipfrag(alice, "final sipfrag")
    check(state.startswith("terminated") and line.startswith("SIP/2.0 200"), f"{state} {line}")
    statuses = []
    while ("connected", None) not in statuses:
        _, _, _, doc = notify(alice, "dave's progress")
        statuses.append(user_status(doc, "dave"))
    check(statuses == [("pending", None), ("connected", None)], f"dave: {statuses}")
    log(ok="dave's busy device did not decline him; the other joined")

    for term, dialog in ((bob2, b_group), (carol, c_group), (dave2, d_group)):
        leave(term, dialog)
    leave(alice, a_group)
    log(ok="group ended", notifies=NOTIFY_COUNT[0])


def list_body(users, cid):
    entries = "".join(f'<entry uri="sip:{u}@{DOMAIN}"/>' for u in users)
    return (
        b"--rl\r\nContent-Type: application/resource-lists+xml\r\n"
        b"Content-Disposition: recipient-list\r\n" + f"Content-ID: <{cid}>".encode() +
        b"\r\n\r\n"
        b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
        b'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>' +
        entries.encode() + b"</list></resource-lists>\r\n--rl--\r\n"
    )


def resource_list(args):
    server = (args.host, args.port)
    alice, bob, carol, dave = (Term(n, server, args.out) for n in ("alice", "bob", "carol", "dave"))
    for t in (alice, bob, carol, dave):
        t.register()
    a_group, focus, _ = create_group(alice, ["bob"], args.subject)
    b_group = join(bob, "b1")
    subscribe(alice, focus)
    alice.expect_status("SUBSCRIBE", "SUBSCRIBE", 200)
    notify(alice, "full state")
    cid = f"{secrets.token_hex(6)}@{DOMAIN}"
    alice.request("REFER", focus, f"<{focus}>",
                  [("Refer-To", f"<cid:{cid}>"), ("Require", "multiple-refer"),
                   ("Content-Type", "multipart/mixed;boundary=rl")],
                  list_body(["bob", "carol", "dave"], cid))
    alice.expect_status("resource-list REFER", "REFER", 202)
    state, line = sipfrag(alice, "first sipfrag")
    check(state.startswith("active") and line.startswith("SIP/2.0 100"), f"{state} {line}")
    c_group = join(carol, "c1")
    inv = dave.next("dave's INVITE", lambda m: m.is_request("INVITE"))
    check(f"sip:{alice.name}@" in (inv.h("referred-by") or ""), f"Referred-By {inv.h('referred-by')}")
    dave.respond(inv, 603, "Decline", to_tag=secrets.token_hex(4))
    dave.next("ACK of 603", lambda m: m.is_request("ACK"))
    state, line = sipfrag(alice, "final sipfrag")
    check(state.startswith("terminated") and line.startswith("SIP/2.0 200"), f"{state} {line}")
    seen = {"carol": [], "dave": []}
    while seen["carol"][-1:] != [("connected", None)] or \
            seen["dave"][-1:] != [("disconnected", "busy")]:
        _, _, _, doc = notify(alice, "the listed users' progress")
        for u in seen:
            if user_status(doc, u):
                seen[u].append(user_status(doc, u))
    check(seen["carol"] == [("pending", None), ("connected", None)], f"carol: {seen}")
    check(seen["dave"] == [("pending", None), ("disconnected", "busy")], f"dave: {seen}")
    check(user_status(doc, "bob") is None, f"bob not invited again: {doc}")
    log(ok="the list's users were invited; one final sipfrag")
    for term, dialog in ((bob, b_group), (carol, c_group)):
        leave(term, dialog)
    leave(alice, a_group)
    log(ok="group ended", notifies=NOTIFY_COUNT[0])


def subject(args):
    server = (args.host, args.port)
    alice, bob = (Term(n, server, args.out) for n in ("alice", "bob"))
    for t in (alice, bob):
        t.register()
    a_group, focus, _ = create_group(alice, ["bob"], args.subject)
    b_group = join(bob, "b1")
    subscribe(alice, focus)
    alice.expect_status("SUBSCRIBE", "SUBSCRIBE", 200)
    _, _, _, doc = notify(alice, "full state")
    check(f"<subject>{args.subject}</subject>" in doc, f"first subject in {doc}")
    for _ in range(2):
        b_group.request(bob, "UPDATE", [("Subject", "Dinner & <drinks>")])
        bob.expect_status("UPDATE with a Subject", "UPDATE", 200)
    _, v, state, doc = notify(alice, "the new subject")
    check(state == "partial" and v == 2, f"version {v} state {state}")
    check("<subject>Dinner &amp; &lt;drinks&gt;</subject>" in doc, f"new subject in {doc}")
    check("<user " not in doc, f"a subject change names no user: {doc}")
    log(ok="bob changed the subject; alice was told once")
    leave(bob, b_group)
    _, v, _, doc = notify(alice, "bob's departure")
    check(v == 3 and user_status(doc, "bob") == ("disconnected", "departed"),
          f"the same subject again sent nothing: version {v} {doc}")
    leave(alice, a_group)
    log(ok="group ended", notifies=NOTIFY_COUNT[0])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["allow", "devices", "list", "subject"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--subject", default="Weekend plans")
    args = p.parse_args()
    {"allow": allow, "devices": devices, "list": resource_list,
     "subject": subject}[args.scenario](args)


if __name__ == "__main__":
    main()
