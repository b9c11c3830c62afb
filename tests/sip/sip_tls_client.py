#!/usr/bin/env python3
"""SIP over TLS terminals for cpmd's end-to-end tests (Python 3, standard library only).

Written from RFC 3261 (§18 framing by Content-Length, §26 TLS, §20.42 Via) without
looking at cpmd's codec, so that the server and the test client cannot share a bug.
Each terminal opens its own TLS connection to cpmd and verifies cpmd's certificate
against `--cafile` (the name checked is the address connected to).

Scenarios (the first argument):
  call       alice and bob register over TLS; alice INVITEs bob (MSRP SDP), bob answers
             200, alice ACKs; alice sends a pager MESSAGE (CPIM) to bob, bob answers
             200; alice BYEs, bob answers 200. Every request cpmd sends over TLS must
             carry a top Via `SIP/2.0/TLS` and, when it has a Contact, `transport=tls`.
  reconnect  bob registers over TLS from a fixed port, closes the connection, then
             listens for TLS on that port with `--bob-cert/--bob-key`; alice sends a
             MESSAGE to bob, which cpmd must deliver over a TLS connection it opens
             itself (and verifies, when configured). `--expect-delivery no`: the
             delivery must not happen (cpmd refuses bob's certificate); alice's
             MESSAGE then gets a final failure response or none.
             `--bob-contact-host NAME`: bob's Contact names its host NAME (a DNS
             name) instead of his address; cpmd must verify NAME (RFC 5922 §7.2).

  claim      alice, bob and carol register over TLS (or plain TCP with `--plain`) (MSRP over TLS: the a=path of
             each leg is given, `--a1-path` ...); alice calls bob (the 1-to-1), then
             extends it: an INVITE to the conference factory with Session-Replaces,
             Contribution-ID and the resource list bob, carol (multipart/mixed); bob
             and carol answer the group INVITEs (bob's carries Session-Replaces and
             Replaces); bob BYEs the 1-to-1 and cpmd relays that BYE to alice, who
             answers 200 before bob gets his; then all three BYE the group. At each
             step it prints {"ok": ...} and, with `--steps`, waits for a line on stdin
             before going on (the test sends MSRP messages in between).

`call --sips`: alice and bob use `sips:` URIs (Request-URI, From, To, Contact) over
TLS; every Contact cpmd sends them must then be `sips:` without `transport=`.
`sips-refused --tcp IP:PORT`: a `sips:` REGISTER and INVITE over plain TCP must be
answered 480 with `Warning: 381`.

`call --bob-tcp IP:PORT`: bob registers and is reached over plain TCP (his requests
from cpmd must then say `SIP/2.0/TCP` and no `transport=tls`) while alice stays on TLS.

Output: one JSON object per line on stdout ({"ok": "..."} steps, {"error": ...}
on failure); exit status 0 only when the scenario completed.
"""

import argparse
import json
import re
import secrets
import socket
import ssl
import sys
import threading

TIMEOUT_S = 10


def log(**kv):
    print(json.dumps(kv), flush=True)


def fail(what):
    log(error=what)
    sys.exit(1)


class Stream:
    """A SIP message stream over one (TLS) socket: framing by Content-Length."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, text):
        self.sock.sendall(text.encode())

    def recv(self):
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buf[:head_end].decode()
                m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)\s*$", head)
                length = int(m.group(1)) if m else 0
                total = head_end + 4 + length
                if len(self.buf) >= total:
                    msg = self.buf[:total].decode()
                    self.buf = self.buf[total:]
                    return msg
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("connection closed by cpmd")
            self.buf += chunk

    def expect(self, start, skip=("SIP/2.0 100",)):
        """The next message starting with `start`, skipping provisional noise."""
        while True:
            msg = self.recv()
            if any(msg.startswith(s) for s in skip):
                continue
            if not msg.startswith(start):
                fail(f"expected {start!r}, got {msg.splitlines()[0]!r}")
            return msg


def header(msg, name):
    m = re.search(rf"(?im)^{name}\s*:\s*(.*?)\s*$", msg.split("\r\n\r\n", 1)[0])
    return m.group(1) if m else None


def headers(msg, name):
    return re.findall(rf"(?im)^{name}\s*:\s*(.*?)\s*$", msg.split("\r\n\r\n", 1)[0])


def check_tls_request(msg):
    """A request cpmd sent over TLS: Via SIP/2.0/TLS; Contact (if any) transport=tls."""
    via = headers(msg, "Via")
    if not via or not via[0].upper().startswith("SIP/2.0/TLS "):
        fail(f"top Via is not SIP/2.0/TLS: {via!r}")
    contact = header(msg, "Contact")
    if contact is not None and "transport=tls" not in contact.lower():
        fail(f"Contact without transport=tls: {contact!r}")


def check_sips_request(msg):
    """A request cpmd sent in a sips: dialog: Via TLS, sips: Request-URI and Contact."""
    via = headers(msg, "Via")
    if not via or not via[0].upper().startswith("SIP/2.0/TLS "):
        fail(f"top Via is not SIP/2.0/TLS: {via!r}")
    if not msg.startswith(msg.split(" ", 1)[0] + " sips:"):
        fail(f"Request-URI is not sips: {msg.splitlines()[0]!r}")
    contact = header(msg, "Contact")
    if contact is not None and not sips_contact(contact):
        fail(f"Contact is not a plain sips: URI: {contact!r}")


def sips_contact(contact):
    return contact.lstrip().startswith("<sips:") and "transport=" not in contact.lower()


def check_tcp_request(msg):
    """A request cpmd sent over plain TCP: Via SIP/2.0/TCP; no transport=tls."""
    via = headers(msg, "Via")
    if not via or not via[0].upper().startswith("SIP/2.0/TCP "):
        fail(f"top Via is not SIP/2.0/TCP: {via!r}")
    contact = header(msg, "Contact")
    if contact is not None and "transport=tls" in contact.lower():
        fail(f"Contact with transport=tls on a TCP leg: {contact!r}")


def answer(msg, status, extra="", body=""):
    """A response to request `msg`, copying Via, From, To (tag added), Call-ID, CSeq."""
    lines = [f"SIP/2.0 {status}"]
    for v in headers(msg, "Via"):
        lines.append(f"Via: {v}")
    lines.append(f"From: {header(msg, 'From')}")
    to = header(msg, "To")
    if ";tag=" not in to:
        to += ";tag=" + secrets.token_hex(4)
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {header(msg, 'Call-ID')}")
    lines.append(f"CSeq: {header(msg, 'CSeq')}")
    return "\r\n".join(lines) + "\r\n" + extra + f"Content-Length: {len(body.encode())}\r\n\r\n" + body


class Terminal:
    def __init__(self, name, server, ctx, domain, bind_port=0):
        self.name = name
        self.domain = domain
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        raw.bind(("127.0.0.1", bind_port))
        raw.settimeout(TIMEOUT_S)
        raw.connect(server)
        # ctx None: plain TCP (the TCP leg of a mixed session).
        self.tls = ctx is not None
        self.sock = ctx.wrap_socket(raw, server_hostname=server[0]) if self.tls else raw
        self.local = self.sock.getsockname()
        self.stream = Stream(self.sock)
        self.tag = secrets.token_hex(4)
        self.cseq = 0
        # The host of its Contact: its address unless a DNS name is set.
        self.contact_host = None

    scheme = "sip"

    def aor(self):
        return f"{self.scheme}:{self.name}@{self.domain}"

    def contact(self):
        host = self.contact_host or self.local[0]
        if self.scheme == "sips":
            return f"<sips:{self.name}@{host}:{self.local[1]}>"
        if not self.tls:
            return f"<sip:{self.name}@{host}:{self.local[1]};transport=tcp>"
        return f"<sip:{self.name}@{host}:{self.local[1]};transport=tls>"

    def check(self, msg):
        """A request cpmd sent to this terminal names its transport."""
        if self.scheme == "sips":
            check_sips_request(msg)
        elif self.tls:
            check_tls_request(msg)
        else:
            check_tcp_request(msg)

    def request(self, method, uri, to, call_id, extra="", body="", to_tag=None, cseq=None):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        to_hdr = f"<{to}>" + (f";tag={to_tag}" if to_tag else "")
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/{'TLS' if self.tls else 'TCP'} {self.local[0]}:{self.local[1]};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <{self.aor()}>;tag={self.tag}\r\n"
            f"To: {to_hdr}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: {self.contact()}\r\n"
            + extra
            + f"Content-Length: {len(body.encode())}\r\n\r\n"
            + body
        )

    def register(self):
        self.stream.send(
            self.request("REGISTER", f"{self.scheme}:{self.domain}", self.aor(), f"reg-{self.name}-{secrets.token_hex(4)}",
                         extra="Expires: 300\r\n")
        )
        self.stream.expect("SIP/2.0 200")
        log(ok=f"{self.name} registered over {'TLS' if self.tls else 'TCP'}")


def sdp(port, session, setup):
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=message {port} TCP/MSRP *\r\n"
        "a=accept-types:message/cpim\r\n"
        "a=accept-wrapped-types:text/plain message/imdn+xml\r\n"
        f"a=path:msrp://127.0.0.1:{port}/{session};tcp\r\n"
        f"a=setup:{setup}\r\na=sendrecv\r\n"
    )


CPIM = (
    "From: <sip:anonymous@anonymous.invalid>\r\n"
    "To: <sip:anonymous@anonymous.invalid>\r\n"
    "NS: imdn <urn:ietf:params:imdn>\r\n"
    "imdn.Message-ID: tls-pm-1\r\n"
    "DateTime: 2026-12-06T17:00:00Z\r\n\r\n"
    "Content-Type: text/plain;charset=UTF-8\r\n\r\nhello over TLS"
)


def pager(alice, bob_stream, conv, expect_delivery=True, check=check_tls_request):
    """alice MESSAGEs bob; bob (on `bob_stream`) answers 200; alice gets the 200."""
    call_id = f"pm-{secrets.token_hex(4)}"
    bob_aor = f"{alice.scheme}:bob@{alice.domain}"
    alice.stream.send(alice.request(
        "MESSAGE", bob_aor, bob_aor, call_id,
        extra=f"Conversation-ID: {conv}\r\nContent-Type: message/cpim\r\n", body=CPIM))
    if not expect_delivery:
        try:
            return alice.stream.expect("SIP/2.0 ")
        except TimeoutError:
            return "(no final response)"

    at_bob = bob_stream.expect("MESSAGE ")
    check(at_bob)
    if at_bob.split("\r\n\r\n", 1)[1] != CPIM:
        fail("MESSAGE body changed on the way")
    bob_stream.send(answer(at_bob, "200 OK"))
    alice.stream.expect("SIP/2.0 200")
    log(ok="pager MESSAGE delivered and answered")


def scenario_call(args, ctx):
    alice = Terminal("alice", args.server, ctx, args.domain)
    if args.bob_tcp:
        host, port = args.bob_tcp.rsplit(":", 1)
        bob = Terminal("bob", (host, int(port)), None, args.domain)
    else:
        bob = Terminal("bob", args.server, ctx, args.domain)
    if args.sips:
        alice.scheme = bob.scheme = "sips"
    alice.register()
    bob.register()

    call_id = f"call-{secrets.token_hex(4)}"
    bob_aor = f"{bob.scheme}:bob@{args.domain}"
    extra = (
        f"Conversation-ID: conv-tls-{call_id}\r\nContribution-ID: contrib-{call_id}\r\n"
        'Accept-Contact: *;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session"\r\n'
        "Content-Type: application/sdp\r\n"
    )
    alice.stream.send(alice.request("INVITE", bob_aor, bob_aor, call_id, extra=extra,
                                    body=sdp(9, "a1", "active")))
    invite = bob.stream.expect("INVITE ")
    bob.check(invite)
    log(ok="INVITE reached bob with his transport in Via and Contact")
    bob.stream.send(answer(invite, "200 OK",
                           extra=f"Contact: {bob.contact()}\r\nContent-Type: application/sdp\r\n",
                           body=sdp(9, "b1", "active")))
    ok = alice.stream.expect("SIP/2.0 200", skip=("SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 183"))
    server_contact = header(ok, "Contact")
    if args.sips:
        if server_contact is None or not sips_contact(server_contact):
            fail(f"200 to alice: Contact is not a plain sips: URI: {server_contact!r}")
        log(ok="sips: call answered with a sips: Contact")
    elif server_contact is None or "transport=tls" not in server_contact.lower():
        fail(f"200 to alice: Contact without transport=tls: {server_contact!r}")
    target = re.search(r"<([^>]+)>", server_contact).group(1)
    to_tag = re.search(r";tag=([^;>\s]+)", header(ok, "To")).group(1)
    alice.stream.send(alice.request("ACK", target, bob_aor, call_id, to_tag=to_tag, cseq=1))
    ack = bob.stream.expect("ACK ")
    bob.check(ack)
    log(ok="call established (INVITE, 200, ACK)")

    pager(alice, bob.stream, f"conv-tls-{call_id}", check=bob.check)

    alice.stream.send(alice.request("BYE", target, bob_aor, call_id, to_tag=to_tag))
    bye = bob.stream.expect("BYE ")
    bob.check(bye)
    bob.stream.send(answer(bye, "200 OK"))
    alice.stream.expect("SIP/2.0 200")
    log(ok="BYE relayed and answered")


def scenario_reconnect(args, ctx):
    alice = Terminal("alice", args.server, ctx, args.domain)
    alice.register()
    bob = Terminal("bob", args.server, ctx, args.domain)
    port = bob.local[1]
    bob.contact_host = args.bob_contact_host
    bob.register()
    # Bob's connection goes away; he listens for TLS on the same port.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bob.sock.close()
    listener.bind(("127.0.0.1", port))
    listener.listen(4)
    listener.settimeout(TIMEOUT_S)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(args.bob_cert, args.bob_key)
    log(ok=f"bob closed his connection and listens for TLS on {port}")

    if args.expect_delivery == "no":
        # cpmd must refuse bob's certificate: no request may reach bob.
        got = []

        def serve():
            try:
                conn, _ = listener.accept()
                tls = server_ctx.wrap_socket(conn, server_side=True)
                got.append(Stream(tls).recv())
            except (OSError, ssl.SSLError):
                pass

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        resp = pager(alice, None, "conv-tls-reconnect", expect_delivery=False)
        t.join(TIMEOUT_S)
        if got:
            fail("a request reached bob over an unverified connection")
        if resp.startswith("SIP/2.0 200"):
            fail("alice got a 200 for an undelivered MESSAGE")
        log(ok=f"no delivery to an unverified bob; alice got {resp.splitlines()[0]!r}")
        return

    alice_done = {}

    def send():
        try:
            call_id = f"pm-{secrets.token_hex(4)}"
            bob_aor = f"sip:bob@{args.domain}"
            alice.stream.send(alice.request(
                "MESSAGE", bob_aor, bob_aor, call_id,
                extra="Conversation-ID: conv-tls-reconnect\r\nContent-Type: message/cpim\r\n", body=CPIM))
            alice_done["resp"] = alice.stream.expect("SIP/2.0 ")
        except SystemExit:
            alice_done["resp"] = None

    t = threading.Thread(target=send, daemon=True)
    t.start()
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT_S)
    tls = server_ctx.wrap_socket(conn, server_side=True)
    log(ok="cpmd opened a TLS connection to bob")
    stream = Stream(tls)
    at_bob = stream.expect("MESSAGE ")
    check_tls_request(at_bob)
    stream.send(answer(at_bob, "200 OK"))
    t.join(TIMEOUT_S)
    resp = alice_done.get("resp")
    if not resp or not resp.startswith("SIP/2.0 200"):
        fail(f"alice did not get the 200: {resp!r}")
    log(ok="MESSAGE delivered over the TLS connection cpmd opened, 200 back to alice")


def sdp_for(path, setup, version=1):
    """An MSRP SDP for the MSRP client at `path` (msrps: -> TCP/TLS/MSRP)."""
    port = int(re.match(r"msrps?://[^:/]+:(\d+)/", path).group(1))
    proto = "TCP/TLS/MSRP" if path.startswith("msrps:") else "TCP/MSRP"
    return (
        f"v=0\r\no=- {version} {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=message {port} {proto} *\r\n"
        "a=accept-types:message/cpim\r\n"
        "a=accept-wrapped-types:text/plain message/imdn+xml\r\n"
        f"a=path:{path}\r\n"
        f"a=setup:{setup}\r\na=sendrecv\r\n"
    )


def step(args, what):
    """Reports a step; with --steps, waits for the test's go-ahead on stdin."""
    log(ok=what)
    if args.steps and not sys.stdin.readline():
        fail("stdin closed before the go-ahead")


def uri_of(contact):
    return re.search(r"<([^>]+)>", contact).group(1)


def tag_of(hdr):
    return re.search(r";tag=([^;>\s]+)", hdr).group(1)


class Dialog:
    """One side of a dialog: what a BYE from this terminal needs."""

    def __init__(self, call_id, local_from, remote_to, target):
        self.call_id, self.local_from, self.remote_to, self.target = call_id, local_from, remote_to, target

    def bye(self, term):
        term.cseq += 1
        return (
            f"BYE {self.target} SIP/2.0\r\n"
            f"Via: SIP/2.0/{'TLS' if term.tls else 'TCP'} {term.local[0]}:{term.local[1]};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: {self.local_from}\r\nTo: {self.remote_to}\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: {term.cseq} BYE\r\nContent-Length: 0\r\n\r\n"
        )


def answer_invite(term, invite, path, setup, version=1):
    """200 to an INVITE cpmd sent `term` (SDP for `path`), then its ACK; the dialog."""
    term.check(invite)
    ok = answer(invite, "200 OK",
                extra=f"Contact: {term.contact()}\r\nContent-Type: application/sdp\r\n",
                body=sdp_for(path, setup, version))
    ok_to = header(ok, "To")  # with the tag answer() made
    term.stream.send(ok)
    ack = term.stream.expect("ACK ")
    term.check(ack)
    return Dialog(header(invite, "Call-ID"), ok_to, header(invite, "From"), uri_of(header(invite, "Contact")))


def multipart_extension(args, path2):
    boundary = "cpmd-tls-boundary"
    lst = (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">\r\n<list>\r\n'
        f'<entry uri="sip:bob@{args.domain}"/>\r\n<entry uri="sip:carol@{args.domain}"/>\r\n'
        "</list>\r\n</resource-lists>\r\n"
    )
    return boundary, (
        f"--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{sdp_for(path2, 'passive', 2)}\r\n"
        f"--{boundary}\r\nContent-Type: application/resource-lists+xml\r\n"
        f"Content-Disposition: recipient-list\r\n\r\n{lst}"
        f"--{boundary}--\r\n"
    )


def scenario_claim(args, ctx):
    alice = Terminal("alice", args.server, ctx, args.domain)
    bob = Terminal("bob", args.server, ctx, args.domain)
    carol = Terminal("carol", args.server, ctx, args.domain)
    for t in (alice, bob, carol):
        t.register()
    bob_aor = f"sip:bob@{args.domain}"

    # The 1-to-1, alice -> bob (both MSRP legs passive: cpmd dials the clients).
    call_id = f"one-{secrets.token_hex(4)}"
    common = f"Conversation-ID: {args.conversation}\r\n"
    alice.stream.send(alice.request(
        "INVITE", bob_aor, bob_aor, call_id,
        extra=common + f"Contribution-ID: {args.contrib1}\r\n"
        'Accept-Contact: *;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session"\r\n'
        "Content-Type: application/sdp\r\n",
        body=sdp_for(args.a1_path, "passive")))
    invite = bob.stream.expect("INVITE ")
    over = "TLS" if ctx is not None else "TCP"
    if ctx is not None and ("TCP/TLS/MSRP" not in invite or "msrps://" not in invite):
        fail("cpmd's offer to bob does not relay MSRP over TLS")
    bob_one = answer_invite(bob, invite, args.b1_path, "passive")
    ok = alice.stream.expect("SIP/2.0 200", skip=("SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 183"))
    if ctx is not None and ("TCP/TLS/MSRP" not in ok or "msrps://" not in ok):
        fail("cpmd's answer to alice is not MSRP over TLS")
    server_tag = tag_of(header(ok, "To"))
    a_one_target = uri_of(header(ok, "Contact"))
    alice.stream.send(alice.request("ACK", a_one_target, bob_aor, call_id, to_tag=server_tag, cseq=1))
    step(args, f"one-to-one up over SIP/{over} and MSRP/{over}")

    # The extension: INVITE to the conference factory replacing the 1-to-1.
    factory = f"sip:conf-factory@{args.domain}"
    ext_id = f"ext-{secrets.token_hex(4)}"
    boundary, body = multipart_extension(args, args.a2_path)
    alice.stream.send(alice.request(
        "INVITE", factory, factory, ext_id,
        extra=common + f"Contribution-ID: {args.contrib2}\r\nSession-Replaces: {args.contrib1}\r\n"
        "Require: recipient-list-invite\r\nDate: Thu, 26 Nov 2026 12:30:00 GMT\r\n"
        f"Content-Type: multipart/mixed;boundary={boundary}\r\n",
        body=body))
    invitees = {}

    def join(term, path):
        inv = term.stream.expect("INVITE ")
        if term is bob:
            if header(inv, "Session-Replaces") != args.contrib1:
                fail(f"bob's group INVITE: Session-Replaces {header(inv, 'Session-Replaces')!r}")
            if header(inv, "Replaces") is None:
                fail("bob's group INVITE has no Replaces")
        if header(inv, "Contribution-ID") != args.contrib2:
            fail(f"{term.name}'s group INVITE: Contribution-ID {header(inv, 'Contribution-ID')!r}")
        if "isfocus" not in (header(inv, "Contact") or ""):
            fail(f"{term.name}'s group INVITE: no isfocus Contact")
        invitees[term.name] = answer_invite(term, inv, path, "passive", 2)

    threads = [threading.Thread(target=join, args=(t, p), daemon=True)
               for t, p in ((bob, args.b2_path), (carol, args.c_path))]
    for t in threads:
        t.start()
    ok = alice.stream.expect("SIP/2.0 200", skip=("SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 183"))
    if "isfocus" not in (header(ok, "Contact") or ""):
        fail("the group 200 to alice has no isfocus Contact")
    a_group = Dialog(ext_id, f"<{alice.aor()}>;tag={alice.tag}", header(ok, "To"), uri_of(header(ok, "Contact")))
    alice.stream.send(alice.request("ACK", a_group.target, factory, ext_id,
                                    to_tag=tag_of(header(ok, "To")), cseq=alice.cseq))
    for t in threads:
        t.join(TIMEOUT_S)
    if set(invitees) != {"bob", "carol"}:
        fail(f"group INVITEs answered: {sorted(invitees)}")
    step(args, f"group up: alice, bob, carol over SIP/{over} and MSRP/{over}")

    # Bob leaves the 1-to-1: cpmd relays his BYE to alice, and answers him after.
    bob.stream.send(bob_one.bye(bob))
    relayed = alice.stream.expect("BYE ")
    alice.check(relayed)
    if header(relayed, "Call-ID") != call_id:
        fail("the relayed BYE is not on alice's 1-to-1 leg")
    alice.stream.send(answer(relayed, "200 OK"))
    bob.stream.expect("SIP/2.0 200")
    step(args, f"bob's BYE of the 1-to-1 relayed to alice over {over}, both answered")

    # Teardown: everyone leaves the group; the last BYE is answered once sealed.
    alice.stream.send(a_group.bye(alice))
    alice.stream.expect("SIP/2.0 200")
    for term in (bob, carol):
        term.stream.send(invitees[term.name].bye(term))
        term.stream.expect("SIP/2.0 200")
    step(args, "group torn down: alice, bob and carol left")


def scenario_sips_refused(args, ctx):
    host, port = args.tcp.rsplit(":", 1)
    alice = Terminal("alice", (host, int(port)), None, args.domain)
    alice.scheme = "sips"
    reg = alice.request("REGISTER", f"sips:{args.domain}", alice.aor(), f"reg-{secrets.token_hex(4)}",
                        extra="Expires: 300\r\n")
    for what, req in (("REGISTER", reg),
                      ("INVITE", alice.request("INVITE", f"sips:bob@{args.domain}", f"sips:bob@{args.domain}",
                                               f"inv-{secrets.token_hex(4)}"))):
        alice.stream.send(req)
        resp = alice.stream.expect("SIP/2.0 ")
        warning = header(resp, "Warning") or ""
        if not resp.startswith("SIP/2.0 480") or not warning.startswith("381 "):
            fail(f"sips: {what} over TCP: {resp.splitlines()[0]!r}, Warning {warning!r}")
        log(ok=f"sips: {what} over TCP refused: 480, Warning {warning}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["call", "reconnect", "claim", "sips-refused"])
    p.add_argument("--server", required=True, help="cpmd's SIP TLS listener, ip:port")
    p.add_argument("--cafile", help="CA that cpmd's certificate chains to (TLS)")
    p.add_argument("--plain", action="store_true",
                   help="claim: plain TCP instead of TLS (--server is then cpmd's TCP listener; scripts/demo)")
    p.add_argument("--domain", default="example.com")
    p.add_argument("--bob-cert")
    p.add_argument("--bob-key")
    p.add_argument("--expect-delivery", choices=["yes", "no"], default="yes")
    p.add_argument("--bob-contact-host", help="reconnect: a DNS name as the host of bob's Contact")
    p.add_argument("--bob-tcp", help="call: bob uses cpmd's plain TCP listener, ip:port")
    p.add_argument("--sips", action="store_true", help="call: sips: URIs throughout")
    p.add_argument("--tcp", help="sips-refused: cpmd's plain TCP listener, ip:port")
    p.add_argument("--steps", action="store_true", help="claim: wait for a stdin line after each step")
    for leg in ("a1", "a2", "b1", "b2", "c"):
        p.add_argument(f"--{leg}-path", help="claim: that leg's MSRP client a=path")
    p.add_argument("--conversation", default="conv-tls-claim")
    p.add_argument("--contrib1", default="contrib-tls-one")
    p.add_argument("--contrib2", default="contrib-tls-group")
    args = p.parse_args()
    host, port = args.server.rsplit(":", 1)
    args.server = (host, int(port))
    if args.plain:
        ctx = None
    elif args.cafile:
        ctx = ssl.create_default_context(cafile=args.cafile)
    else:
        p.error("--cafile is required over TLS")
    try:
        {"call": scenario_call, "reconnect": scenario_reconnect, "claim": scenario_claim,
         "sips-refused": scenario_sips_refused}[args.scenario](args, ctx)
    except (OSError, ssl.SSLError) as e:
        fail(f"{type(e).__name__}: {e}")
    log(ok="done")


if __name__ == "__main__":
    main()
