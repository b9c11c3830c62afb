#!/usr/bin/env python3
"""Group chat terminals for cpmd's end-to-end tests (Python 3, standard library only).

Written from RFC 3261 (framing by Content-Length over TCP, dialogs), RFC 6665
(SUBSCRIBE/NOTIFY), RFC 4575 (the conference event package) and RFC 4579 (the focus)
without looking at cpmd's codec, so that the server and the test client cannot share
a bug. Each terminal has its own TCP connection to cpmd, registers over it and
receives cpmd's requests on it. Every NOTIFY a terminal receives is answered 200 and
its body written to `--out DIR/notify-<n>-<user>.xml` (n counts all NOTIFYs, in
arrival order), for the caller to validate against the RFC 4575 schema.

Scenario `conference` (specs/group.md, GRP-10..GRP-13):
  alice, bob, carol, dave register; alice creates a group with bob and carol
  (INVITE to the conference factory with a resource list, Subject); bob and carol
  answer 200. dave (not a participant) SUBSCRIBEs to the focus: 403. alice and carol
  subscribe: 200, then a full-state NOTIFY each (version 1, everyone connected, the
  subject). bob leaves (BYE): both get a partial NOTIFY naming bob `departed`.
  alice refreshes: full state again; alice unsubscribes (Expires: 0): terminated
  NOTIFY. alice leaves: carol's partial NOTIFY. carol leaves last: her own departure,
  then `terminated;reason=noresource`, then the 200 to her BYE.
  Versions count 1, 2, 3... per subscription, with no gap.

Scenario `refer` (GRP-14, GRP-15): alice creates a group with bob and carol and
  subscribes; erin (outside the group) REFERs dave: 403; bob REFERs dave in his group
  dialog: 202, sipfrag `100` then `200`, dave invited and joined, alice sees dave
  pending then connected; bob (not the chairman) REFERs carol with `method=BYE`: 403;
  alice (the chairman) does, outside any dialog: 202, carol gets a BYE, alice sees
  carol `booted` and the sipfrag `200`. Then everyone leaves. With real MSRP for
  alice, carol and dave: alice's message after dave joined reaches dave (and
  carol); her message after carol's removal reaches dave and never carol. bob
  REFERs erin with `Refer-Sub: false` (RFC 4488): 202 with `Refer-Sub: false`, no
  sipfrag NOTIFY, erin invited and joined (alice sees her pending, connected).

Scenario `rejoin` (GRP-21, GRP-22), with real MSRP (one `tests/msrp/msrp_client.py`
  per leg, listening: cpmd dials each): alice creates a group with bob and carol and
  subscribes; a message of alice's reaches bob and carol; bob leaves (alice sees him
  `departed`); bob INVITEs the focus URI with the group's Contribution-ID from a new
  MSRP leg: 200 (isfocus, the focus's MSRP path), alice sees him `connected`, and
  carol's next message reaches both alice and bob's new leg (the first message it
  gets), bob's reaches alice and carol; dave (never in the group) is refused 403. Everyone leaves; bob's INVITE to the ended group's focus: 404.

Scenario `restart` (GRP-23), with real MSRP: alice creates a group with bob and
  carol; alice's message reaches both; everyone leaves (bob's INVITE to the ended
  focus: 404); alice restarts the group with an INVITE to the conference factory
  carrying its Conversation-ID and Contribution-ID and the list (new MSRP legs):
  200 with both ids and a new focus URI, bob and carol invited with the same ids
  and joining; alice's next message reaches both; everyone leaves, the last 200
  after the seal.

Scenario `restart-stored` (GRP-40), with real MSRP: alice creates a group with bob,
  carol and dave; alice (the chairman) removes dave; everyone else leaves; alice
  restarts the group with an INVITE to the conference factory carrying its ids and
  no list (the SDP offer alone): bob and carol, the members of the group's last
  stored state, are invited and join, alice's next message reaches both; dave,
  removed, is not invited.

Output: one JSON object per line on stdout ({"ok": ...} steps, {"error": ...} on
failure); exit status 0 only when the scenario completed.
"""

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time

TIMEOUT_S = 10
DOMAIN = "example.com"
NOTIFY_COUNT = [0]


def log(**kv):
    print(json.dumps(kv), flush=True)


def fail(what):
    log(error=what)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


class Msg:
    """One SIP message: start line, headers (name lower-cased, in order), body."""

    def __init__(self, start, headers, body):
        self.start = start
        self.headers = headers
        self.body = body

    def is_request(self, method=None):
        if self.start.startswith("SIP/2.0"):
            return False
        return method is None or self.start.split(" ", 1)[0] == method

    def status(self):
        if not self.start.startswith("SIP/2.0"):
            return None
        return int(self.start.split(" ")[1])

    def method(self):
        return self.start.split(" ", 1)[0]

    def h(self, name):
        for n, v in self.headers:
            if n == name.lower():
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]


COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact",
           "l": "content-length", "c": "content-type", "o": "event", "s": "subject"}


def tag_of(value):
    m = re.search(r";\s*tag=([^;>\s]+)", value)
    return m.group(1) if m else None


def uri_of(value):
    m = re.search(r"<([^>]+)>", value)
    return m.group(1) if m else value.split(";")[0].strip()


class Term:
    """One terminal: its TCP connection, identity and dialogs."""

    def __init__(self, name, server, out):
        self.name = name
        self.out = out
        self.sock = socket.create_connection(server, timeout=TIMEOUT_S)
        self.host, self.port = self.sock.getsockname()[:2]
        self.buf = b""
        self.pending = []
        self.notifies = []
        self.cseq = 0

    @property
    def aor(self):
        return f"sip:{self.name}@{DOMAIN}"

    @property
    def contact(self):
        return f"<sip:{self.name}@{self.host}:{self.port};transport=tcp>"

    def via(self):
        return f"SIP/2.0/TCP {self.host}:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport"

    def send(self, start, headers, body=b""):
        text = start + "\r\n"
        for n, v in headers:
            text += f"{n}: {v}\r\n"
        text += f"Content-Length: {len(body)}\r\n\r\n"
        self.sock.sendall(text.encode() + body)

    def read(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode()
                lines = head.split("\r\n")
                headers = []
                for line in lines[1:]:
                    if line[:1] in (" ", "\t") and headers:
                        n, v = headers[-1]
                        headers[-1] = (n, v + " " + line.strip())
                        continue
                    n, _, v = line.partition(":")
                    n = n.strip().lower()
                    headers.append((COMPACT.get(n, n), v.strip()))
                length = 0
                for n, v in headers:
                    if n == "content-length":
                        length = int(v)
                total = end + 4 + length
                if len(self.buf) >= total:
                    body = self.buf[end + 4:total]
                    self.buf = self.buf[total:]
                    return Msg(lines[0], headers, body)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                fail(f"{self.name}: nothing from cpmd within {TIMEOUT_S} s")
            if not chunk:
                fail(f"{self.name}: cpmd closed the connection")
            self.buf += chunk

    def next(self, what, pred):
        """The next message matching `pred`; NOTIFYs are answered and recorded on
        the way, 100 Trying skipped, anything else kept for later."""
        for i, m in enumerate(self.pending):
            if pred(m):
                return self.pending.pop(i)
        while True:
            m = self.read()
            if m.status() == 100:
                continue
            if m.is_request("NOTIFY"):
                self.take_notify(m)
            if pred(m):
                return m
            self.pending.append(m)

    def take_notify(self, m):
        self.respond(m, 200, "OK")
        self.notifies.append(m)
        if m.h("event") != "conference":
            return
        NOTIFY_COUNT[0] += 1
        path = os.path.join(self.out, f"notify-{NOTIFY_COUNT[0]:02}-{self.name}.xml")
        with open(path, "wb") as f:
            f.write(m.body)

    def expect_status(self, what, method, code):
        m = self.next(what, lambda m: m.status() is not None and m.status() >= 200
                      and (m.h("cseq") or "").split()[-1] == method)
        check(m.status() == code, f"{self.name} {what}: expected {code}, got {m.start}")
        return m

    def request(self, method, ruri, to, extra=(), body=b"", call_id=None, from_tag=None):
        self.cseq += 1
        call_id = call_id or f"{self.name}-{secrets.token_hex(6)}"
        from_tag = from_tag or secrets.token_hex(4)
        headers = [("Via", self.via()), ("Max-Forwards", "70"),
                   ("From", f"<{self.aor}>;tag={from_tag}"), ("To", to),
                   ("Call-ID", call_id), ("CSeq", f"{self.cseq} {method}"),
                   ("Contact", self.contact)] + list(extra)
        self.send(f"{method} {ruri} SIP/2.0", headers, body)
        return call_id, from_tag

    def respond(self, req, code, reason, extra=(), body=b"", to_tag=None):
        to = req.h("to")
        if to_tag and tag_of(to) is None:
            to += f";tag={to_tag}"
        headers = [("Via", v) for v in req.all("via")]
        headers += [("From", req.h("from")), ("To", to), ("Call-ID", req.h("call-id")),
                    ("CSeq", req.h("cseq"))]
        if code < 300 and req.method() != "NOTIFY":
            headers.append(("Contact", self.contact))
        headers += list(extra)
        self.send(f"SIP/2.0 {code} {reason}", headers, body)

    def register(self):
        self.request("REGISTER", f"sip:{DOMAIN}", f"<{self.aor}>", [("Expires", "600")])
        self.expect_status("REGISTER", "REGISTER", 200)


class Dialog:
    """A dialog as this terminal sees it (RFC 3261 §12)."""

    def __init__(self, call_id, local, remote, target):
        self.call_id = call_id
        self.local = local      # our From value, with our tag
        self.remote = remote    # their address, with their tag
        self.target = target    # their Contact URI

    def request(self, term, method, extra=(), body=b""):
        term.cseq += 1
        headers = [("Via", term.via()), ("Max-Forwards", "70"), ("From", self.local),
                   ("To", self.remote), ("Call-ID", self.call_id),
                   ("CSeq", f"{term.cseq} {method}"), ("Contact", term.contact)]
        term.send(f"{method} {self.target} SIP/2.0", headers + list(extra), body)


MSRP_CLIENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "msrp", "msrp_client.py")


class Msrp:
    """One MSRP leg of one terminal: the independent MSRP client, listening (cpmd
    dials it: the SDP offers `a=setup:passive`)."""

    def __init__(self, owner):
        self.owner = owner
        self.proc = subprocess.Popen(
            [sys.executable, MSRP_CLIENT, "--listen", "127.0.0.1:0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.events = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.path = self.expect("ready", lambda e: e.get("ev") == "ready")["path"]

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()

    def expect(self, what, pred):
        deadline = time.monotonic() + TIMEOUT_S
        with self.cond:
            while True:
                for i, ev in enumerate(self.events):
                    if pred(ev):
                        return self.events.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(f"{self.owner} MSRP: no {what} within {TIMEOUT_S} s")
                self.cond.wait(left)

    def command(self, cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def send(self, text):
        self.command({"cmd": "wait_bound"})
        self.expect("bind", lambda e: e.get("ev") == "bound")
        mid = secrets.token_hex(6)
        self.command({"cmd": "send", "text": text, "message_id": mid,
                      "from": f"sip:{self.owner}@{DOMAIN}", "to": f"sip:{self.owner}@{DOMAIN}"})
        r = self.expect(f"answer to {text!r}",
                        lambda e: e.get("ev") == "response" and e.get("message_id") == mid)
        check(r["code"] == 200, f"{self.owner}'s message {text!r}: MSRP {r['code']}")

    def receive(self, what):
        ev = self.expect(what, lambda e: e.get("ev") == "message")
        return ev["cpim"]["content"]

    def close(self):
        try:
            self.command({"cmd": "quit"})
        except OSError:
            pass
        self.proc.terminate()


def msrp_sdp(path):
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
        "a=accept-wrapped-types:text/plain message/imdn+xml\r\n"
        f"a=path:{path}\r\na=setup:passive\r\na=sendrecv\r\n"
    ).encode()


def sdp(term, session):
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
        "a=accept-wrapped-types:text/plain message/imdn+xml\r\n"
        f"a=path:msrp://127.0.0.1:9/{session};tcp\r\na=setup:active\r\na=sendrecv\r\n"
    ).encode()


def group_invite_body(alice, invitees, offer=None):
    entries = "".join(f'<entry uri="sip:{u}@{DOMAIN}"/>' for u in invitees)
    return (
        b"--b1\r\nContent-Type: application/sdp\r\n\r\n" + (offer or sdp(alice, "a1")) +
        b"\r\n--b1\r\nContent-Type: application/resource-lists+xml\r\n"
        b"Content-Disposition: recipient-list\r\n\r\n"
        b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
        b'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>' +
        entries.encode() + b"</list></resource-lists>\r\n--b1--\r\n"
    )


def join(term, session, answer=None):
    """An invitee answers the focus's INVITE with 200 and waits for the ACK."""
    inv = term.next("group INVITE", lambda m: m.is_request("INVITE"))
    check("isfocus" in (inv.h("contact") or ""), f"{term.name}: the INVITE's Contact is the focus")
    tag = secrets.token_hex(4)
    term.respond(inv, 200, "OK", [("Content-Type", "application/sdp")],
                 answer or sdp(term, session), to_tag=tag)
    term.next("ACK", lambda m: m.is_request("ACK"))
    return Dialog(inv.h("call-id"), f"{inv.h('to')};tag={tag}", inv.h("from"),
                  uri_of(inv.h("contact")))


def subscribe(term, focus, expires=None):
    extra = [("Event", "conference"), ("Accept", "application/conference-info+xml")]
    if expires is not None:
        extra.append(("Expires", str(expires)))
    call_id, tag = term.request("SUBSCRIBE", focus, f"<{focus}>", extra)
    return call_id, tag


def notify(term, what):
    """The next NOTIFY to `term`: (Subscription-State, version, document state, body)."""
    m = term.next(what, lambda m: m.is_request("NOTIFY") and m.h("event") == "conference")
    check((m.h("content-type") or "").startswith("application/conference-info+xml"),
          f"{term.name} {what}: Content-Type {m.h('content-type')}")
    body = m.body.decode()
    head = re.search(r"<conference-info[^>]*>", body)
    check(head is not None, f"{term.name} {what}: no conference-info in {body!r}")
    version = int(re.search(r'version="(\d+)"', head.group(0)).group(1))
    state = re.search(r'state="(\w+)"', head.group(0)).group(1)
    return m.h("subscription-state"), version, state, body


def user_status(body, user):
    m = re.search(rf'<user entity="sip:{user}@{DOMAIN}"[^>]*>(.*?)</user>', body, re.S)
    if not m:
        return None
    status = re.search(r"<status>([^<]+)</status>", m.group(1))
    how = re.search(r"<disconnection-method>([^<]+)<", m.group(1))
    return (status.group(1) if status else None, how.group(1) if how else None)


def conference(args):
    server = (args.host, args.port)
    alice, bob, carol, dave = (Term(n, server, args.out) for n in ("alice", "bob", "carol", "dave"))
    for t in (alice, bob, carol, dave):
        t.register()
    log(ok="registered")

    body = group_invite_body(alice, ["bob", "carol"])
    call_id, a_tag = alice.request(
        "INVITE", f"sip:conf-factory@{DOMAIN}", f"<sip:conf-factory@{DOMAIN}>",
        [("Require", "recipient-list-invite"), ("Subject", args.subject),
         ("Conversation-ID", secrets.token_hex(16)), ("Contribution-ID", secrets.token_hex(16)),
         ("Content-Type", "multipart/mixed;boundary=b1")], body)
    ok = alice.expect_status("group INVITE", "INVITE", 200)
    focus = uri_of(ok.h("contact"))
    check("isfocus" in ok.h("contact"), "the focus's 200 carries isfocus")
    a_group = Dialog(call_id, f"<{alice.aor}>;tag={a_tag}", ok.h("to"), focus)
    cseq = ok.h("cseq").split()[0]
    alice.send(f"ACK {focus} SIP/2.0",
               [("Via", alice.via()), ("Max-Forwards", "70"), ("From", a_group.local),
                ("To", a_group.remote), ("Call-ID", call_id), ("CSeq", f"{cseq} ACK")])
    b_group = join(bob, "b1")
    c_group = join(carol, "c1")
    log(ok="group created", focus=focus)

    subscribe(dave, focus)
    dave.expect_status("SUBSCRIBE of a non-participant", "SUBSCRIBE", 403)
    log(ok="non-participant refused 403")

    a_sub_call, a_sub_tag = subscribe(alice, focus, 600)
    a_ok = alice.expect_status("SUBSCRIBE", "SUBSCRIBE", 200)
    check(a_ok.h("expires") == "600", f"granted Expires {a_ok.h('expires')}")
    sub_state, v, state, doc = notify(alice, "first NOTIFY")
    check(sub_state.startswith("active"), f"alice first NOTIFY: {sub_state}")
    check((v, state) == (1, "full"), f"alice first NOTIFY version {v} state {state}")
    for u in ("alice", "bob", "carol"):
        check(user_status(doc, u) == ("connected", None), f"{u} in {doc}")
    check(f"<subject>{args.subject}</subject>" in doc, f"subject in {doc}")
    subscribe(carol, focus)
    carol.expect_status("SUBSCRIBE", "SUBSCRIBE", 200)
    _, v, state, _ = notify(carol, "carol's first NOTIFY")
    check((v, state) == (1, "full"), f"carol first NOTIFY version {v} state {state}")
    log(ok="subscribed: full state")

    b_group.request(bob, "BYE")
    bob.expect_status("BYE", "BYE", 200)
    for term, want in ((alice, 2), (carol, 2)):
        _, v, state, doc = notify(term, "NOTIFY of bob's departure")
        check((v, state) == (want, "partial"), f"{term.name}: version {v} state {state}")
        check(user_status(doc, "bob") == ("disconnected", "departed"), f"bob in {doc}")
        check(user_status(doc, "alice") is None, f"partial names only bob: {doc}")
    log(ok="bob left: partial NOTIFYs")

    a_sub = Dialog(a_sub_call, f"<{alice.aor}>;tag={a_sub_tag}", a_ok.h("to"),
                   uri_of(a_ok.h("contact")))
    a_sub.request(alice, "SUBSCRIBE", [("Event", "conference"), ("Expires", "600")])
    alice.expect_status("refresh", "SUBSCRIBE", 200)
    sub_state, v, state, _ = notify(alice, "NOTIFY after refresh")
    check((v, state) == (3, "full") and sub_state.startswith("active"),
          f"refresh: version {v} state {state} {sub_state}")
    a_sub.request(alice, "SUBSCRIBE", [("Event", "conference"), ("Expires", "0")])
    alice.expect_status("unsubscribe", "SUBSCRIBE", 200)
    sub_state, v, _, _ = notify(alice, "NOTIFY after Expires: 0")
    check(v == 4 and sub_state.startswith("terminated"), f"unsubscribe: {v} {sub_state}")
    log(ok="refresh and unsubscribe")

    a_group.request(alice, "BYE")
    alice.expect_status("alice's BYE", "BYE", 200)
    _, v, state, doc = notify(carol, "NOTIFY of alice's departure")
    check((v, state) == (3, "partial"), f"carol: version {v} state {state}")
    check(user_status(doc, "alice") == ("disconnected", "departed"), f"alice in {doc}")
    c_group.request(carol, "BYE")
    _, v, _, doc = notify(carol, "NOTIFY of carol's own departure")
    check(v == 4 and user_status(doc, "carol") == ("disconnected", "departed"), doc)
    sub_state, v, _, _ = notify(carol, "terminated NOTIFY")
    check(v == 5 and sub_state == "terminated;reason=noresource", f"{v} {sub_state}")
    carol.expect_status("carol's BYE", "BYE", 200)
    log(ok="group ended: terminated NOTIFY", notifies=NOTIFY_COUNT[0])


def sipfrag(term, what):
    """The next `Event: refer` NOTIFY to `term`: (Subscription-State, status line)."""
    m = term.next(what, lambda m: m.is_request("NOTIFY") and m.h("event") == "refer")
    check((m.h("content-type") or "").startswith("message/sipfrag"),
          f"{term.name} {what}: Content-Type {m.h('content-type')}")
    return m.h("subscription-state"), m.body.decode().split("\r\n")[0]


def refer(args):
    server = (args.host, args.port)
    alice, bob, carol, dave, erin = (
        Term(n, server, args.out) for n in ("alice", "bob", "carol", "dave", "erin"))
    for t in (alice, bob, carol, dave, erin):
        t.register()
    legs = [Msrp("alice"), Msrp("carol"), Msrp("dave")]
    try:
        refer_with_msrp(args, (alice, bob, carol, dave, erin), legs)
    finally:
        for leg in legs:
            leg.close()


def refer_with_msrp(args, terms, legs):
    alice, bob, carol, dave, erin = terms
    a_msrp, c_msrp, d_msrp = legs
    call_id, a_tag = alice.request(
        "INVITE", f"sip:conf-factory@{DOMAIN}", f"<sip:conf-factory@{DOMAIN}>",
        [("Require", "recipient-list-invite"), ("Subject", args.subject),
         ("Conversation-ID", secrets.token_hex(16)), ("Contribution-ID", secrets.token_hex(16)),
         ("Content-Type", "multipart/mixed;boundary=b1")],
        group_invite_body(alice, ["bob", "carol"], msrp_sdp(a_msrp.path)))
    ok = alice.expect_status("group INVITE", "INVITE", 200)
    focus = uri_of(ok.h("contact"))
    a_group = Dialog(call_id, f"<{alice.aor}>;tag={a_tag}", ok.h("to"), focus)
    alice.send(f"ACK {focus} SIP/2.0",
               [("Via", alice.via()), ("Max-Forwards", "70"), ("From", a_group.local),
                ("To", a_group.remote), ("Call-ID", call_id),
                ("CSeq", f"{ok.h('cseq').split()[0]} ACK")])
    b_group = join(bob, "b1")
    join(carol, "c1", msrp_sdp(c_msrp.path))
    subscribe(alice, focus)
    alice.expect_status("SUBSCRIBE", "SUBSCRIBE", 200)
    notify(alice, "full state")
    log(ok="group created, alice subscribed")

    erin.request("REFER", focus, f"<{focus}>", [("Refer-To", f"<sip:dave@{DOMAIN}>")])
    erin.expect_status("REFER from outside the group", "REFER", 403)
    b_group.request(bob, "REFER", [("Refer-To", f"<sip:dave@{DOMAIN}>")])
    bob.expect_status("REFER adding dave", "REFER", 202)
    state, line = sipfrag(bob, "first sipfrag")
    check(state.startswith("active") and line.startswith("SIP/2.0 100"), f"{state} {line}")
    d_group = join(dave, "d1", msrp_sdp(d_msrp.path))
    state, line = sipfrag(bob, "final sipfrag")
    check(state.startswith("terminated") and line.startswith("SIP/2.0 200"), f"{state} {line}")
    _, _, _, doc = notify(alice, "dave pending")
    check(user_status(doc, "dave") == ("pending", None), f"dave pending in {doc}")
    _, _, _, doc = notify(alice, "dave connected")
    check(user_status(doc, "dave") == ("connected", None), f"dave connected in {doc}")
    # GRP-14: dave, added by REFER, gets the group's next message over MSRP.
    a_msrp.send("welcome dave")
    check(d_msrp.receive("alice's welcome") == "welcome dave", "dave gets alice's message")
    check(c_msrp.receive("alice's welcome") == "welcome dave", "carol gets alice's message")
    log(ok="bob added dave by REFER, dave receives")

    b_group.request(bob, "REFER", [("Refer-To", f"<sip:carol@{DOMAIN};method=BYE>")])
    bob.expect_status("REFER removing carol by a non-chairman", "REFER", 403)
    alice.request("REFER", focus, f"<{focus}>",
                  [("Refer-To", f"<sip:carol@{DOMAIN};method=BYE>")])
    alice.expect_status("REFER removing carol by the chairman", "REFER", 202)
    bye = carol.next("BYE", lambda m: m.is_request("BYE"))
    carol.respond(bye, 200, "OK")
    _, _, _, doc = notify(alice, "carol removed")
    check(user_status(doc, "carol") == ("disconnected", "booted"), f"carol booted in {doc}")
    state, line = sipfrag(alice, "removal sipfrag")
    check(state.startswith("terminated") and line.startswith("SIP/2.0 200"), f"{state} {line}")
    # GRP-15: a message after the removal reaches dave, never carol.
    a_msrp.send("carol is gone")
    check(d_msrp.receive("alice's after the removal") == "carol is gone",
          "dave gets alice's message after the removal")
    log(ok="alice removed carol")

    # GRP-44 (RFC 4488): bob adds erin asking for no subscription: the 202 says
    # `Refer-Sub: false` and bob gets no sipfrag NOTIFY; erin is invited all the same.
    refer_notifies = len(bob.notifies)
    b_group.request(bob, "REFER", [("Refer-To", f"<sip:erin@{DOMAIN}>"),
                                   ("Refer-Sub", "false")])
    accepted = bob.expect_status("REFER adding erin, no subscription", "REFER", 202)
    check((accepted.h("refer-sub") or "").lower() == "false",
          f"the 202 honours Refer-Sub: false: {accepted.headers}")
    e_group = join(erin, "e1")
    _, _, _, doc = notify(alice, "erin pending")
    check(user_status(doc, "erin") == ("pending", None), f"erin pending in {doc}")
    _, _, _, doc = notify(alice, "erin connected")
    check(user_status(doc, "erin") == ("connected", None), f"erin connected in {doc}")
    log(ok="bob added erin without a subscription")

    for term, dialog in ((bob, b_group), (erin, e_group), (dave, d_group), (alice, a_group)):
        dialog.request(term, "BYE")
        term.expect_status("BYE", "BYE", 200)
    # Every NOTIFY on bob's connection came before his BYE's 200: none was a sipfrag
    # of the REFER without a subscription.
    check(len(bob.notifies) == refer_notifies,
          f"bob got no NOTIFY for erin's REFER: {[n.body for n in bob.notifies]}")
    for _ in range(5):
        state, _, _, _ = notify(alice, "the group's end")
        if state.startswith("terminated"):
            break
    check(state == "terminated;reason=noresource", f"alice's last NOTIFY: {state}")
    # The removal's message was fanned out with dave's copy, and the group has
    # ended since: a copy for carol would be in her MSRP client's events by now.
    with c_msrp.cond:
        late = [e for e in c_msrp.events if e.get("ev") == "message"]
    check(not late, f"carol (removed) got nothing more: {late}")
    log(ok="group ended", notifies=NOTIFY_COUNT[0])


def create_group(alice, args, invitees, offer, ids=None):
    """alice's INVITE to the conference factory; returns (her group dialog, focus,
    the group's Contribution-ID) once she ACKed the focus's 200. `ids`
    (Conversation-ID, Contribution-ID): an ended group's, to restart it."""
    conversation, contribution = ids or (secrets.token_hex(16), secrets.token_hex(16))
    ids_headers = [("Conversation-ID", conversation), ("Contribution-ID", contribution)]
    if invitees is None:
        # GRP-40: a restart naming no one: the SDP offer alone, no list.
        headers, body = ids_headers + [("Content-Type", "application/sdp")], offer
    else:
        headers = [("Require", "recipient-list-invite"), ("Subject", args.subject)]
        headers += ids_headers + [("Content-Type", "multipart/mixed;boundary=b1")]
        body = group_invite_body(alice, invitees, offer)
    call_id, a_tag = alice.request(
        "INVITE", f"sip:conf-factory@{DOMAIN}", f"<sip:conf-factory@{DOMAIN}>", headers, body)
    ok = alice.expect_status("group INVITE", "INVITE", 200)
    check(ok.h("contribution-id") == contribution, "the 200 names the group's Contribution-ID")
    check(ok.h("conversation-id") == conversation, "the 200 names the group's Conversation-ID")
    args.conversation = conversation
    focus = uri_of(ok.h("contact"))
    a_group = Dialog(call_id, f"<{alice.aor}>;tag={a_tag}", ok.h("to"), focus)
    alice.send(f"ACK {focus} SIP/2.0",
               [("Via", alice.via()), ("Max-Forwards", "70"), ("From", a_group.local),
                ("To", a_group.remote), ("Call-ID", call_id),
                ("CSeq", f"{ok.h('cseq').split()[0]} ACK")])
    return a_group, focus, contribution


def invite_focus(term, focus, contribution, offer):
    """An INVITE outside any dialog to the focus URI (a rejoin); returns its call."""
    call_id, tag = term.request(
        "INVITE", focus, f"<{focus}>",
        [("Contribution-ID", contribution), ("Content-Type", "application/sdp")], offer)
    return call_id, tag


def rejoin(args):
    server = (args.host, args.port)
    alice, bob, carol, dave = (Term(n, server, args.out) for n in ("alice", "bob", "carol", "dave"))
    for t in (alice, bob, carol, dave):
        t.register()
    a_msrp, b_msrp, c_msrp = Msrp("alice"), Msrp("bob"), Msrp("carol")
    legs = [a_msrp, b_msrp, c_msrp]
    try:
        a_group, focus, contribution = create_group(
            alice, args, ["bob", "carol"], msrp_sdp(a_msrp.path))
        b_group = join(bob, "b1", msrp_sdp(b_msrp.path))
        c_group = join(carol, "c1", msrp_sdp(c_msrp.path))
        subscribe(alice, focus)
        alice.expect_status("SUBSCRIBE", "SUBSCRIBE", 200)
        notify(alice, "full state")
        a_msrp.send("hello all")
        check(b_msrp.receive("alice's first") == "hello all", "bob gets alice's message")
        check(c_msrp.receive("alice's first") == "hello all", "carol gets alice's message")
        log(ok="group up, messages flow")

        b_group.request(bob, "BYE")
        bob.expect_status("bob's BYE", "BYE", 200)
        _, _, _, doc = notify(alice, "bob departed")
        check(user_status(doc, "bob") == ("disconnected", "departed"), f"bob in {doc}")
        a_msrp.send("while bob is away")
        check(c_msrp.receive("alice's second") == "while bob is away", "carol gets it")
        log(ok="bob left")

        invite_focus(dave, focus, contribution, msrp_sdp("msrp://127.0.0.1:9/d1;tcp"))
        dave.expect_status("INVITE to the focus from outside", "INVITE", 403)
        b2_msrp = Msrp("bob")
        legs.append(b2_msrp)
        call_id, b_tag = invite_focus(bob, focus, contribution, msrp_sdp(b2_msrp.path))
        ok = bob.expect_status("rejoin INVITE", "INVITE", 200)
        check("isfocus" in (ok.h("contact") or ""), "the rejoin's 200 names the focus")
        check(ok.h("contribution-id") == contribution, "the group's Contribution-ID")
        check(b"a=path:msrp://" in ok.body, "the focus's MSRP path")
        b_again = Dialog(call_id, f"<{bob.aor}>;tag={b_tag}", ok.h("to"), uri_of(ok.h("contact")))
        bob.send(f"ACK {b_again.target} SIP/2.0",
                 [("Via", bob.via()), ("Max-Forwards", "70"), ("From", b_again.local),
                  ("To", b_again.remote), ("Call-ID", call_id),
                  ("CSeq", f"{ok.h('cseq').split()[0]} ACK")])
        _, _, _, doc = notify(alice, "bob connected again")
        check(user_status(doc, "bob") == ("connected", None), f"bob back in {doc}")
        c_msrp.send("welcome back")
        check(a_msrp.receive("carol's") == "welcome back", "alice gets carol's message")
        check(b2_msrp.receive("carol's") == "welcome back",
              "bob's new leg: carol's message is the first it gets")
        b2_msrp.send("glad to be back")
        check(a_msrp.receive("bob's") == "glad to be back", "alice gets bob's message")
        check(c_msrp.receive("bob's") == "glad to be back", "carol gets bob's message")
        log(ok="bob rejoined")

        for term, dialog in ((bob, b_again), (carol, c_group), (alice, a_group)):
            dialog.request(term, "BYE")
            term.expect_status("BYE", "BYE", 200)
        invite_focus(bob, focus, contribution, msrp_sdp(b2_msrp.path))
        bob.expect_status("INVITE to the ended group's focus", "INVITE", 404)
        log(ok="group ended: focus 404", notifies=NOTIFY_COUNT[0])
    finally:
        for leg in legs:
            leg.close()


def restart(args):
    server = (args.host, args.port)
    alice, bob, carol = (Term(n, server, args.out) for n in ("alice", "bob", "carol"))
    for t in (alice, bob, carol):
        t.register()
    legs = [Msrp("alice"), Msrp("bob"), Msrp("carol")]
    a_msrp, b_msrp, c_msrp = legs
    try:
        a_group, focus, contribution = create_group(
            alice, args, ["bob", "carol"], msrp_sdp(a_msrp.path))
        conversation = args.conversation
        b_group = join(bob, "b1", msrp_sdp(b_msrp.path))
        c_group = join(carol, "c1", msrp_sdp(c_msrp.path))
        a_msrp.send("before the end")
        check(b_msrp.receive("alice's first") == "before the end", "bob gets alice's message")
        check(c_msrp.receive("alice's first") == "before the end", "carol gets alice's message")
        for term, dialog in ((bob, b_group), (carol, c_group), (alice, a_group)):
            dialog.request(term, "BYE")
            term.expect_status("BYE", "BYE", 200)
        invite_focus(bob, focus, contribution, msrp_sdp(b_msrp.path))
        bob.expect_status("INVITE to the ended group's focus", "INVITE", 404)
        log(ok="group ended: focus 404")

        # GRP-23: alice restarts it through the conference factory with its ids.
        a2, b2, c2 = Msrp("alice"), Msrp("bob"), Msrp("carol")
        legs += [a2, b2, c2]
        a_again, focus2, _ = create_group(
            alice, args, ["bob", "carol"], msrp_sdp(a2.path), (conversation, contribution))
        check(focus2 != focus, "the restarted group has a new focus URI")
        for term in (bob, carol):
            inv = term.next("restart INVITE", lambda m: m.is_request("INVITE"))
            check(inv.h("contribution-id") == contribution, f"{term.name}: same Contribution-ID")
            check(inv.h("conversation-id") == conversation, f"{term.name}: same Conversation-ID")
            term.pending.insert(0, inv)
        b_again = join(bob, "b2", msrp_sdp(b2.path))
        c_again = join(carol, "c2", msrp_sdp(c2.path))
        a2.send("after the restart")
        check(b2.receive("alice's after the restart") == "after the restart",
              "bob gets alice's message in the restarted group")
        check(c2.receive("alice's after the restart") == "after the restart",
              "carol gets alice's message in the restarted group")
        log(ok="group restarted, messages flow")
        # The last 200 (alice's) comes once the seal is durable.
        for term, dialog in ((bob, b_again), (carol, c_again), (alice, a_again)):
            dialog.request(term, "BYE")
            term.expect_status("BYE", "BYE", 200)
        log(ok="restarted group ended")
    finally:
        for leg in legs:
            leg.close()


def restart_stored(args):
    server = (args.host, args.port)
    alice, bob, carol, dave = (Term(n, server, args.out) for n in ("alice", "bob", "carol", "dave"))
    for t in (alice, bob, carol, dave):
        t.register()
    legs = [Msrp("alice"), Msrp("bob"), Msrp("carol")]
    a_msrp, b_msrp, c_msrp = legs
    try:
        a_group, focus, contribution = create_group(
            alice, args, ["bob", "carol", "dave"], msrp_sdp(a_msrp.path))
        conversation = args.conversation
        b_group = join(bob, "b1", msrp_sdp(b_msrp.path))
        c_group = join(carol, "c1", msrp_sdp(c_msrp.path))
        join(dave, "d1")
        # GRP-15: the chairman removes dave: he is out for good.
        alice.request("REFER", focus, f"<{focus}>",
                      [("Refer-To", f"<sip:dave@{DOMAIN};method=BYE>")])
        alice.expect_status("REFER removing dave", "REFER", 202)
        bye = dave.next("BYE", lambda m: m.is_request("BYE"))
        dave.respond(bye, 200, "OK")
        a_msrp.send("before the end")
        check(b_msrp.receive("alice's first") == "before the end", "bob gets alice's message")
        check(c_msrp.receive("alice's first") == "before the end", "carol gets alice's message")
        for term, dialog in ((bob, b_group), (carol, c_group), (alice, a_group)):
            dialog.request(term, "BYE")
            term.expect_status("BYE", "BYE", 200)
        log(ok="group ended, dave removed")

        # GRP-40: alice restarts it naming no one: the stored state says who.
        a2, b2, c2 = Msrp("alice"), Msrp("bob"), Msrp("carol")
        legs += [a2, b2, c2]
        a_again, focus2, _ = create_group(
            alice, args, None, msrp_sdp(a2.path), (conversation, contribution))
        check(focus2 != focus, "the restarted group has a new focus URI")
        for term in (bob, carol):
            inv = term.next("restart INVITE", lambda m: m.is_request("INVITE"))
            check(inv.h("contribution-id") == contribution, f"{term.name}: same Contribution-ID")
            check(inv.h("conversation-id") == conversation, f"{term.name}: same Conversation-ID")
            term.pending.insert(0, inv)
        b_again = join(bob, "b2", msrp_sdp(b2.path))
        c_again = join(carol, "c2", msrp_sdp(c2.path))
        a2.send("after the restart")
        check(b2.receive("alice's after the restart") == "after the restart",
              "bob gets alice's message in the restarted group")
        check(c2.receive("alice's after the restart") == "after the restart",
              "carol gets alice's message in the restarted group")
        log(ok="group restarted from its stored state, messages flow")
        for term, dialog in ((bob, b_again), (carol, c_again), (alice, a_again)):
            dialog.request(term, "BYE")
            term.expect_status("BYE", "BYE", 200)
        # The focus invited bob and carol in the same step as it would have
        # invited dave; their sessions have come and gone since: whatever the
        # focus sent dave is in his socket by now.
        dave.sock.setblocking(False)
        try:
            while True:
                chunk = dave.sock.recv(65536)
                if not chunk:
                    break
                dave.buf += chunk
        except BlockingIOError:
            pass
        check(b"INVITE sip:" not in dave.buf and
              not any(m.is_request("INVITE") for m in dave.pending),
              f"dave (removed) was not invited: {dave.buf[:200]!r}")
        log(ok="restarted group ended, dave not invited")
    finally:
        for leg in legs:
            leg.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario",
                   choices=["conference", "refer", "rejoin", "restart", "restart-stored"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--subject", default="Weekend plans")
    args = p.parse_args()
    {"conference": conference, "refer": refer, "rejoin": rejoin,
     "restart": restart, "restart-stored": restart_stored}[args.scenario](args)


if __name__ == "__main__":
    main()
