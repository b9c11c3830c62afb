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

Output: one JSON object per line on stdout ({"ok": ...} steps, {"error": ...} on
failure); exit status 0 only when the scenario completed.
"""

import argparse
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from group_client import (  # noqa: E402
    DOMAIN, NOTIFY_COUNT, Dialog, Term, check, group_invite_body, join, log, uri_of,
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["allow"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--subject", default="Weekend plans")
    args = p.parse_args()
    {"allow": allow}[args.scenario](args)


if __name__ == "__main__":
    main()
