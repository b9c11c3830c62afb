#!/usr/bin/env python3
"""An MSRP test terminal for cpmd's end-to-end tests (Python 3, standard library only).

Written from the RFCs (RFC 4975 MSRP, RFC 4976 relays/AUTH, RFC 3862 CPIM, RFC 5438
imdn.Message-ID), deliberately without looking at cpmd's own codec, so that the server
and the test client cannot share a bug. It is one terminal's MSRP side; sipp plays the
SIP side and carries this client's a=path in its SDP.

What it does:
- listens (passive, `--listen 127.0.0.1:0`) and/or connects (active) to a peer or to
  an RFC 4976 relay (`--relay msrp://127.0.0.1:PORT;tcp --user U --password P`: AUTH
  with digest MD5, qop=auth, opaque optional; the 200's Use-Path is put in front of
  the client's own URI to form its a=path);
- answers every incoming SEND with 200 per its Failure-Report (absent/yes: always,
  partial/no: never, since nothing fails here), never answers a REPORT;
- reassembles chunked SENDs (Byte-Range, continuation `+`/`$`/`#`) and reports each
  complete message once;
- sends CPIM messages (imdn.Message-ID, DateTime, From, To), optionally chunked, with
  Failure-Report yes/partial/no and Success-Report yes/no;
- MSRP over TLS (RFC 4975 §14, Python's `ssl`): `--tls-cert/--tls-key` make its
  listener TLS and its URI `msrps://`; an `msrps://` URI it dials is reached over TLS,
  verified against `--tls-cafile` (the name checked is the URI's host).

Driving it: one JSON object per line on stdin (commands), one JSON object per line on
stdout (events), flushed at once. `--record FILE` also appends every received message
event to FILE (JSON lines). Events:
  {"ev":"ready","path":"msrp://...;tcp [...]","listen":"127.0.0.1:PORT"}   first line
  {"ev":"connected","peer":"ip:port"}        an incoming or outgoing connection is up
  {"ev":"bound","peer_path":"..."}           the first SEND (e.g. an empty bind SEND)
                                             taught us the peer's path (its From-Path)
  {"ev":"message","seq":N,"message_id":..,"content_type":..,"body":..,"cpim":{..},
   "chunks":K,"from_path":..,"to_path":..}   a complete non-empty SEND
  {"ev":"response","tid":..,"code":..,"comment":..,"message_id":..}
  {"ev":"report","message_id":..,"status":..,"byte_range":..}
  {"ev":"sent","message_id":..,"chunks":K,"tid":[..]}   all chunks written
  {"ev":"error","what":..}
  {"ev":"closed","peer":..}
Commands:
  {"cmd":"connect","to_path":"msrp://h:p/s;tcp ..."}   connect to the first hop (or use
      the relay connection) and send an empty bind SEND with that To-Path
  {"cmd":"send","text":"hi","message_id":"m1","chunk":0,"failure_report":"yes",
   "success_report":false,"from":"sip:alice@example.com","to":"sip:bob@example.com",
   "content_type":"text/plain","raw_body":null,"to_path":null,"from_path":null}
      a CPIM message (or raw_body with content_type) to to_path (default: the bound
      peer's path); chunk > 0 splits the body into chunks of that many bytes;
      from_path overrides the From-Path (to test the server's RFC 4975 §7.3 check)
  {"cmd":"chunk","message_id":"m1","start":N,"total":T,"data":"x"}
      one `+` chunk of a message/cpim SEND to the bound peer's path, its bytes at
      Byte-Range N-(N+len-1)/T, whatever N and T are (attack tests: a chunk far
      into a large message)
  {"cmd":"wait_bound"}  emits {"ev":"bound",...} once a peer path is known
  {"cmd":"quit"}
"""

import argparse
import ssl
import hashlib
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from datetime import datetime, timezone

CRLF = b"\r\n"

OUT_LOCK = threading.Lock()

# RFC 4975 §9: ident = ALPHANUM 3*31ident-char (Message-ID, transaction id).
IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}")


def emit(event, record=None):
    """Writes one event line to stdout (and a message to the record file)."""
    line = json.dumps(event, sort_keys=True)
    with OUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if record is not None and event.get("ev") == "message":
            with open(record, "a", encoding="utf-8") as f:
                f.write(line + "\n")


def new_id(n=10):
    """A fresh token of the MSRP `ident` alphabet (RFC 4975 §9)."""
    return secrets.token_hex(n // 2 + 1)[:n]


class Frame:
    """One parsed MSRP request or response (RFC 4975 §7)."""

    def __init__(self, tid, method, code, comment, headers, body, flag):
        self.tid = tid
        self.method = method  # None for a response
        self.code = code  # None for a request
        self.comment = comment
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body  # bytes or None
        self.flag = flag  # b"$", b"+" or b"#"

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


class FrameError(Exception):
    pass


def parse_frame(buf):
    """Returns (Frame, consumed) for the first complete frame in `buf`, or None.

    RFC 4975 §7: a start line `MSRP SP transact-id SP (method / status-code [SP
    comment])`, header lines, an optional body after an empty line, and the end line
    `-------` transact-id continuation-flag CRLF. A body never contains the end line,
    so the first `CRLF -------tid` after the start line ends the frame.
    """
    eol = buf.find(CRLF)
    if eol < 0:
        if len(buf) > 4096:
            raise FrameError("start line too long")
        return None
    start = buf[:eol].decode("utf-8", "replace")
    parts = start.split(" ", 3)
    if len(parts) < 3 or parts[0] != "MSRP":
        raise FrameError("bad start line %r" % start)
    tid = parts[1]
    end_marker = CRLF + b"-------" + tid.encode()
    pos = eol
    while True:
        end = buf.find(end_marker, pos)
        if end < 0:
            return None
        flag_at = end + len(end_marker)
        if len(buf) < flag_at + 3:
            return None
        flag = buf[flag_at:flag_at + 1]
        if flag in (b"$", b"+", b"#") and buf[flag_at + 1:flag_at + 3] == CRLF:
            break
        pos = end + 1
    inner = buf[eol + 2:end + 2]  # header lines (each ending CRLF) [+ CRLF + body + CRLF]
    split = inner.find(CRLF + CRLF)
    if split >= 0:
        head, body = inner[:split + 2], inner[split + 4:-2]
    else:
        head, body = inner, None
    headers = {}
    for line in head.split(CRLF):
        if not line:
            continue
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        if not sep:
            raise FrameError("bad header line %r" % line)
        headers[name.strip().lower()] = value.strip()
    method = code = None
    comment = ""
    if parts[2].isdigit() and len(parts[2]) == 3:
        code = int(parts[2])
        comment = " ".join(parts[3:])
    else:
        method = parts[2]
    return Frame(tid, method, code, comment, headers, body, flag), flag_at + 3


def build_request(tid, method, to_path, from_path, headers, body, flag=b"$"):
    """Serialises a request (RFC 4975 §7.1): To-Path and From-Path first.

    A client's From-Path is its own URI only, also behind a relay: each RFC 4976
    relay puts its own URI in front of the From-Path as it forwards (RFC 4976 §7.1),
    so the far end sees the sender's whole a=path."""
    lines = ["MSRP %s %s" % (tid, method), "To-Path: " + to_path, "From-Path: " + from_path]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    out = ("\r\n".join(lines) + "\r\n").encode()
    if body is not None:
        out += CRLF + body + CRLF
    return out + b"-------" + tid.encode() + flag + CRLF


def build_response(req, code, comment, own_uri):
    """A transaction response (RFC 4975 §7.2): To-Path is the previous hop only, the
    first URI of the request's From-Path; From-Path is this hop's URI."""
    prev_hop = req.header("From-Path", "").split()[0]
    text = "MSRP %s %d %s\r\nTo-Path: %s\r\nFrom-Path: %s\r\n-------%s$\r\n" % (
        req.tid, code, comment, prev_hop, own_uri, req.tid)
    return text.encode()


def cpim_body(sender, recipient, message_id, content_type, text):
    """A message/cpim body (RFC 3862) with the imdn namespace (RFC 5438 §7.1.1)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    payload = text.encode("utf-8")
    head = (
        "From: <%s>\r\n"
        "To: <%s>\r\n"
        "NS: imdn <urn:ietf:params:imdn>\r\n"
        "imdn.Message-ID: %s\r\n"
        "DateTime: %s\r\n"
        "imdn.Disposition-Notification: positive-delivery\r\n"
        "\r\n"
        "Content-Type: %s; charset=utf-8\r\n"
        "Content-Length: %d\r\n"
        "\r\n" % (sender, recipient, message_id, now, content_type, len(payload))
    )
    return head.encode() + payload


def parse_cpim(body):
    """Splits a CPIM body into message headers, MIME headers and the inner content."""
    text = body.decode("utf-8", "replace")
    msg_head, _, rest = text.partition("\r\n\r\n")
    mime_head, _, content = rest.partition("\r\n\r\n")
    out = {"headers": {}, "mime": {}, "content": content}
    for line in msg_head.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out["headers"][name.strip()] = value.strip()
    for line in mime_head.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out["mime"][name.strip().lower()] = value.strip()
    out["imdn_id"] = out["headers"].get("imdn.Message-ID")
    return out


def digest_authorization(challenge, user, password, method, uri):
    """An RFC 2617 digest (MD5) Authorization for an AUTH challenge (RFC 4976 §5).
    Kamailio's challenge carries realm, nonce and qop="auth" and no opaque."""
    params = {}
    rest = challenge.strip()
    if rest.lower().startswith("digest"):
        rest = rest[6:]
    for item in split_params(rest):
        k, _, v = item.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    realm, nonce = params.get("realm", ""), params["nonce"]
    ha1 = hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
    ha2 = hashlib.md5(("%s:%s" % (method, uri)).encode()).hexdigest()
    fields = [("username", user), ("realm", realm), ("nonce", nonce), ("uri", uri)]
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce, nc = new_id(16), "00000001"
        response = hashlib.md5(
            ("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2)).encode()).hexdigest()
        fields += [("response", response), ("qop", None), ("nc", None), ("cnonce", cnonce)]
        qop_nc = {"qop": "auth", "nc": nc}
    else:
        response = hashlib.md5(("%s:%s:%s" % (ha1, nonce, ha2)).encode()).hexdigest()
        fields.append(("response", response))
        qop_nc = {}
    if "opaque" in params:
        fields.append(("opaque", params["opaque"]))
    fields.append(("algorithm", None))
    rendered = []
    for k, v in fields:
        if k in qop_nc:
            rendered.append("%s=%s" % (k, qop_nc[k]))
        elif k == "algorithm":
            rendered.append("algorithm=MD5")
        else:
            rendered.append('%s="%s"' % (k, v))
    return "Digest " + ", ".join(rendered)


def split_params(text):
    """Splits `a="x,y", b=z` at commas outside quotes."""
    items, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur)
    return items


def host_port(uri):
    """(host, port) of an msrp URI `msrp://host:port/session;tcp`."""
    rest = uri.split("://", 1)[1]
    authority = rest.split("/", 1)[0].split(";", 1)[0]
    if "@" in authority:
        authority = authority.split("@", 1)[1]
    if authority.startswith("["):
        host, _, port = authority[1:].partition("]:")
    else:
        host, _, port = authority.rpartition(":")
    return host, int(port or 2855)


class Connection:
    """One TCP connection: a reader thread that parses frames, and locked writes."""

    def __init__(self, client, sock):
        self.client = client
        self.sock = sock
        self.peer = "%s:%d" % sock.getpeername()[:2]
        self.lock = threading.Lock()
        # OpenSSL's SSL object must not read and write at once from two threads, and
        # Python's SSLSocket does not serialize them: a write racing the reader's
        # blocked read (TLS 1.3 handles the server's session tickets there) could
        # leave the write unsent. Over TLS every read and write holds `io`, and the
        # reader holds it only for short receive timeouts.
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.io = threading.Lock()
        self.closed = False
        self.waiters = {}  # tid -> [Event, Frame]
        threading.Thread(target=self.read_loop, daemon=True).start()

    def write(self, data):
        with self.lock:
            if not self.tls:
                self.sock.sendall(data)
                return
            with self.io:
                self.sock.settimeout(10)
                self.sock.sendall(data)

    def recv(self):
        if not self.tls:
            return self.sock.recv(65536)
        while True:
            with self.io:
                self.sock.settimeout(0.02)
                try:
                    return self.sock.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    pass
            # Let a waiting writer take `io` before the next read.
            time.sleep(0.001)

    def read_loop(self):
        buf = b""
        try:
            while True:
                data = self.recv()
                if not data:
                    break
                buf += data
                while True:
                    parsed = parse_frame(buf)
                    if parsed is None:
                        break
                    frame, used = parsed
                    buf = buf[used:]
                    self.client.on_frame(self, frame)
        except (OSError, FrameError) as e:
            emit({"ev": "error", "what": "read %s: %s" % (self.peer, e)})
        self.closed = True
        emit({"ev": "closed", "peer": self.peer})

    def request(self, data, tid, timeout=10.0):
        """Writes a request and waits for its transaction response (AUTH only)."""
        waiter = [threading.Event(), None]
        self.waiters[tid] = waiter
        self.write(data)
        if not waiter[0].wait(timeout):
            raise TimeoutError("no response to %s" % tid)
        return waiter[1]


class Client:
    """The terminal: its path, its connections, and what it received."""

    def __init__(self, args):
        self.args = args
        self.record = args.record
        self.session = args.session or new_id(12)
        self.lock = threading.Lock()
        self.conn = None  # the connection messages go out on
        self.relay_conn = None
        self.use_path = []  # the relay's Use-Path URIs (RFC 4976)
        self.peer_path = None  # learned from the first SEND's From-Path
        self.bound = threading.Event()
        self.partial = {}  # Message-ID -> {"buf": bytearray, "chunks": n, ...}
        self.seq = 0
        self.sent_ids = {}  # tid -> Message-ID
        self.listener = None
        self.own_uri = None

    def path(self):
        return " ".join(self.use_path + [self.own_uri])

    def start(self):
        if self.args.listen:
            host, _, port = self.args.listen.rpartition(":")
            host = host.strip("[]")
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.listener = socket.socket(family, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((host, int(port)))
            self.listener.listen(16)
            bound = self.listener.getsockname()
            authority = ("[%s]" % bound[0] if family == socket.AF_INET6 else bound[0])
            scheme = "msrps" if self.args.tls_cert else "msrp"
            self.own_uri = "%s://%s:%d/%s;tcp" % (scheme, authority, bound[1], self.session)
            threading.Thread(target=self.accept_loop, daemon=True).start()
            listen = "%s:%d" % (authority, bound[1])
        else:
            # An active-only terminal is never connected to: its URI only names it
            # (RFC 4975 §6: the authority of an active endpoint's URI is not dialled).
            listen = None
            scheme = "msrps" if self.args.tls_cert else "msrp"
            self.own_uri = "%s://127.0.0.1:9/%s;tcp" % (scheme, self.session)
        if self.args.relay:
            self.auth_with_relay()
        emit({"ev": "ready", "path": self.path(), "listen": listen})

    def accept_loop(self):
        while True:
            sock, _ = self.listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.args.tls_cert:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(self.args.tls_cert, self.args.tls_key)
                try:
                    sock = ctx.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError) as e:
                    emit({"ev": "error", "what": "tls accept: %s" % e})
                    continue
            conn = Connection(self, sock)
            with self.lock:
                if self.conn is None or self.conn.closed:
                    self.conn = conn
            emit({"ev": "connected", "peer": conn.peer, "direction": "in"})

    def dial(self, uri):
        host, port = host_port(uri)
        sock = socket.create_connection((host, port), timeout=10)
        if uri.lower().startswith("msrps://"):
            ctx = ssl.create_default_context(cafile=self.args.tls_cafile)
            sock = ctx.wrap_socket(sock, server_hostname=host)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(self, sock)
        emit({"ev": "connected", "peer": conn.peer, "direction": "out"})
        return conn

    def auth_with_relay(self):
        """RFC 4976 §5: AUTH, 401 with a digest challenge, AUTH with credentials, 200
        with Use-Path. The relay URI (without session) is the To-Path."""
        relay = self.args.relay
        conn = self.dial(relay)
        self.relay_conn = conn
        self.conn = conn
        tid = new_id()
        first = conn.request(build_request(tid, "AUTH", relay, self.own_uri, [], None), tid)
        if first.code != 401:
            raise SystemExit("relay answered AUTH with %s" % first.code)
        auth = digest_authorization(first.header("WWW-Authenticate"), self.args.user,
                                    self.args.password, "AUTH", relay)
        tid = new_id()
        second = conn.request(
            build_request(tid, "AUTH", relay, self.own_uri, [("Authorization", auth)], None), tid)
        if second.code != 200:
            raise SystemExit("relay refused AUTH: %s %s" % (second.code, second.comment))
        self.use_path = second.header("Use-Path", "").split()
        if not self.use_path:
            raise SystemExit("relay's 200 has no Use-Path")

    # --- incoming frames -------------------------------------------------------

    def on_frame(self, conn, frame):
        if frame.code is not None:
            waiter = conn.waiters.pop(frame.tid, None)
            if waiter is not None:
                waiter[1] = frame
                waiter[0].set()
                return
            emit({"ev": "response", "tid": frame.tid, "code": frame.code,
                  "comment": frame.comment, "message_id": self.sent_ids.get(frame.tid)})
            return
        if frame.method == "SEND":
            self.on_send(conn, frame)
        elif frame.method == "REPORT":
            # RFC 4975 §7.1.2: a REPORT is never answered.
            emit({"ev": "report", "message_id": frame.header("Message-ID"),
                  "status": frame.header("Status"), "byte_range": frame.header("Byte-Range"),
                  "from_path": frame.header("From-Path")})
        else:
            # RFC 4975 §12: an unknown method gets 501 (unless Failure-Report says no).
            if frame.header("Failure-Report", "yes") != "no":
                conn.write(build_response(frame, 501, "Not Implemented", self.own_uri))

    def on_send(self, conn, frame):
        with self.lock:
            if self.conn is None or self.conn.closed:
                self.conn = conn
        if frame.header("Failure-Report", "yes") == "yes":
            conn.write(build_response(frame, 200, "OK", self.own_uri))
        if self.peer_path is None:
            self.peer_path = frame.header("From-Path")
            self.bound.set()
            emit({"ev": "bound", "peer_path": self.peer_path})
        if not frame.body and frame.flag == b"$" and frame.header("Message-ID") not in self.partial:
            return  # an empty SEND: it only binds the connection (RFC 4975 §5.4)
        self.take_chunk(frame)

    def take_chunk(self, frame):
        """Reassembles by Message-ID and Byte-Range (RFC 4975 §7.1.1 and §9)."""
        mid = frame.header("Message-ID")
        start, total = 1, None
        br = frame.header("Byte-Range")
        if br:
            rng, _, tot = br.partition("/")
            start = int(rng.split("-")[0])
            total = None if tot == "*" else int(tot)
        with self.lock:
            part = self.partial.setdefault(mid, {"buf": bytearray(), "chunks": 0, "ranges": []})
            body = frame.body or b""
            end = start - 1 + len(body)
            if len(part["buf"]) < end:
                part["buf"].extend(b"\0" * (end - len(part["buf"])))
            part["buf"][start - 1:end] = body
            part["chunks"] += 1
            part["ranges"].append((start, end))
            if frame.flag == b"#":
                del self.partial[mid]
                emit({"ev": "aborted", "message_id": mid})
                return
            if frame.flag != b"$":
                return
            length = total if total is not None else end
            covered = 0
            for s, e in sorted(part["ranges"]):
                if s > covered + 1:
                    break
                covered = max(covered, e)
            if covered < length:
                return  # the last chunk came before an earlier one
            del self.partial[mid]
            self.seq += 1
            seq = self.seq
        data = bytes(part["buf"][:length])
        event = {"ev": "message", "seq": seq, "message_id": mid,
                 "content_type": frame.header("Content-Type"),
                 "chunks": part["chunks"], "from_path": frame.header("From-Path"),
                 "to_path": frame.header("To-Path"), "length": len(data)}
        event["body"] = data.decode("utf-8", "replace")
        if (frame.header("Content-Type") or "").lower().startswith("message/cpim"):
            event["cpim"] = parse_cpim(data)
        emit(event, self.record)
        if frame.header("Success-Report", "no") == "yes":
            # RFC 4975 §7.1.2: the end point reports success for the whole message.
            conn = self.relay_conn or self.conn
            report = build_request(new_id(), "REPORT", frame.header("From-Path"), self.own_uri,
                                   [("Message-ID", mid),
                                    ("Byte-Range", "1-%d/%d" % (len(data), len(data))),
                                    ("Status", "000 200 OK")], None)
            if conn is not None and not conn.closed:
                conn.write(report)

    # --- commands --------------------------------------------------------------

    def out_conn(self, to_path):
        """The connection a request to `to_path` goes out on: the relay's, the one
        the peer opened, or a new one to the first hop."""
        with self.lock:
            if self.relay_conn is not None:
                return self.relay_conn
            if self.conn is not None and not self.conn.closed:
                return self.conn
        conn = self.dial(to_path.split()[0])
        with self.lock:
            self.conn = conn
        return conn

    def cmd_connect(self, cmd):
        """Active side: connect and bind with an empty SEND (RFC 4975 §5.4)."""
        to_path = " ".join(self.use_path + cmd["to_path"].split()) if self.use_path \
            and cmd.get("via_relay", True) else cmd["to_path"]
        conn = self.out_conn(to_path)
        tid = new_id()
        mid = cmd.get("message_id") or new_id(12)
        self.sent_ids[tid] = mid
        conn.write(build_request(tid, "SEND", to_path, self.own_uri,
                                 [("Message-ID", mid), ("Byte-Range", "1-0/0")], None))
        emit({"ev": "sent", "message_id": mid, "chunks": 1, "tid": [tid], "bind": True})

    def cmd_send(self, cmd):
        to_path = cmd.get("to_path")
        if to_path is None:
            if not self.bound.wait(10):
                emit({"ev": "error", "what": "send before any peer path is known"})
                return
            to_path = self.peer_path
        mid = cmd.get("message_id") or new_id(12)
        if not IDENT.fullmatch(mid):
            emit({"ev": "error", "what": "Message-ID %r is not an RFC 4975 ident" % mid})
            return
        if cmd.get("raw_body") is not None:
            body = cmd["raw_body"].encode("utf-8")
            content_type = cmd.get("content_type", "text/plain")
        else:
            body = cpim_body(cmd.get("from", "sip:anonymous@anonymous.invalid"),
                             cmd.get("to", "sip:anonymous@anonymous.invalid"), mid,
                             cmd.get("content_type", "text/plain"), cmd.get("text", ""))
            content_type = "message/cpim"
        chunk = int(cmd.get("chunk") or 0) or len(body)
        conn = self.out_conn(to_path)
        tids = []
        total = len(body)
        offset = 0
        while True:
            piece = body[offset:offset + chunk]
            last = offset + len(piece) >= total
            tid = new_id()
            tids.append(tid)
            self.sent_ids[tid] = mid
            headers = [("Message-ID", mid)]
            fr = cmd.get("failure_report")
            if fr:
                headers.append(("Failure-Report", fr))
            if cmd.get("success_report"):
                headers.append(("Success-Report", "yes"))
            headers.append(("Byte-Range", "%d-%d/%d" % (offset + 1, offset + len(piece), total)))
            headers.append(("Content-Type", content_type))
            conn.write(build_request(tid, "SEND", to_path, cmd.get("from_path") or self.own_uri,
                                     headers, piece,
                                     b"$" if last else b"+"))
            offset += len(piece)
            if last:
                break
        emit({"ev": "sent", "message_id": mid, "chunks": len(tids), "tid": tids})

    def cmd_chunk(self, cmd):
        if not self.bound.wait(10):
            emit({"ev": "error", "what": "chunk before any peer path is known"})
            return
        to_path = self.peer_path
        mid = cmd["message_id"]
        data = cmd["data"].encode("utf-8")
        start = int(cmd["start"])
        tid = new_id()
        self.sent_ids[tid] = mid
        headers = [("Message-ID", mid),
                   ("Byte-Range", "%d-%d/%d" % (start, start + len(data) - 1, int(cmd["total"]))),
                   ("Content-Type", "message/cpim")]
        self.out_conn(to_path).write(build_request(tid, "SEND", to_path, self.own_uri,
                                                   headers, data, b"+"))
        emit({"ev": "sent", "message_id": mid, "chunks": 1, "tid": [tid]})

    def run(self):
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                name = cmd.get("cmd")
                if name == "quit":
                    break
                if name == "connect":
                    self.cmd_connect(cmd)
                elif name == "send":
                    self.cmd_send(cmd)
                elif name == "chunk":
                    self.cmd_chunk(cmd)
                elif name == "wait_bound":
                    ok = self.bound.wait(float(cmd.get("timeout", 10)))
                    emit({"ev": "bound" if ok else "error",
                          "peer_path": self.peer_path, "what": None if ok else "not bound"})
                elif name == "sleep":
                    time.sleep(float(cmd.get("seconds", 0.1)))
                    emit({"ev": "slept"})
                else:
                    emit({"ev": "error", "what": "unknown command %r" % name})
            except (OSError, ValueError, KeyError, TimeoutError) as e:
                emit({"ev": "error", "what": "%s: %s" % (type(e).__name__, e)})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", help="HOST:PORT to accept MSRP connections on (port 0 ok)")
    p.add_argument("--session", help="session-id of this client's own URI")
    p.add_argument("--relay", help="msrp://HOST:PORT;tcp of an RFC 4976 relay to AUTH with")
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="")
    p.add_argument("--record", help="append each received message event to this file")
    p.add_argument("--tls-cert", help="PEM certificate: listen with TLS, URI msrps://")
    p.add_argument("--tls-key", help="PEM key of --tls-cert")
    p.add_argument("--tls-cafile", help="CA to verify msrps:// peers it dials against")
    args = p.parse_args()
    client = Client(args)
    client.start()
    client.run()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
