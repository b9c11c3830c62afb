#!/usr/bin/env python3
"""A third-party IMAP client (Python's standard imaplib) reading a cpmd message store.

Used by the Rust tests: it only reads and reports (JSON on stdout); the tests assert.

  imaplib_client.py dump HOST PORT USER PASS
      capability, LIST, and for every selectable mailbox: STATUS and every object
      (UID, FLAGS, BODY.PEEK[HEADER], BODY.PEEK[], BODYSTRUCTURE) in UID order.
  imaplib_client.py changedsince HOST PORT USER PASS MAILBOX MODSEQ
      ENABLE CONDSTORE, SELECT, UID FETCH 1:* (FLAGS) (CHANGEDSINCE MODSEQ): the UIDs.
  imaplib_client.py idle HOST PORT USER PASS MAILBOX SECONDS
      SELECT, IDLE; prints "idling" once the server accepted, then the first push
      (as JSON) or a timeout; DONE.
  imaplib_client.py denied HOST PORT USER PASS MAILBOX
      SELECT and STATUS of a mailbox the user must not see: the two answers.
"""

import imaplib
import json
import re
import socket
import sys


def connect(host, port, user, password):
    m = imaplib.IMAP4(host, int(port), timeout=10)
    m.login(user, password)
    return m


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_list_line(line):
    text = line.decode() if isinstance(line, bytes) else line
    match = re.match(r'\((.*?)\) (NIL|"[^"]*") (.*)$', text)
    flags, delim, name = match.group(1), match.group(2), match.group(3)
    if name.startswith('"'):
        name = name[1:-1]
    return {"flags": flags.split(), "delimiter": delim.strip('"'), "name": name}


def fetch_parts(data):
    """imaplib returns [(b'1 (UID 1 ... {n}', literal), ..., b')'] per message."""
    out = []
    current = None
    for item in data:
        if isinstance(item, tuple):
            head, literal = item
            head = head.decode()
            if re.match(r"^\d+ \(", head):
                current = {"meta": head, "literals": []}
                out.append(current)
            else:
                current["meta"] += " " + head
            current["literals"].append(literal.decode("utf-8", "replace"))
        elif item is not None and current is not None:
            current["meta"] += " " + item.decode()
        elif item is not None:
            out.append({"meta": item.decode(), "literals": []})
    return out


def dump(host, port, user, password):
    m = connect(host, port, user, password)
    report = {}
    typ, caps = m.capability()
    report["capability"] = caps[0].decode().split()
    typ, lines = m.list('""', "*")
    report["list"] = [parse_list_line(x) for x in lines if x]
    folders = {}
    for entry in report["list"]:
        name = entry["name"]
        typ, st = m.status(
            quote(name), "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)"
        )
        status = dict(
            re.findall(r"(MESSAGES|UIDNEXT|UIDVALIDITY|UNSEEN|HIGHESTMODSEQ) (\d+)",
                       st[0].decode())
        )
        status = {k: int(v) for k, v in status.items()}
        objects = []
        if status.get("MESSAGES", 0) > 0:
            m.select(quote(name), readonly=True)
            typ, found = m.uid("SEARCH", "ALL")
            uids = [int(u) for u in found[0].split()]
            if uids:
                typ, data = m.uid(
                    "FETCH", "1:*",
                    "(UID FLAGS RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER] BODY.PEEK[])"
                )
                for part in fetch_parts(data):
                    meta = part["meta"]
                    uid = int(re.search(r"UID (\d+)", meta).group(1))
                    flags = re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
                    size = int(re.search(r"RFC822.SIZE (\d+)", meta).group(1))
                    bs = re.search(r"BODYSTRUCTURE (\(.*?\))", meta)
                    objects.append({
                        "uid": uid,
                        "flags": flags,
                        "size": size,
                        "bodystructure": bs.group(1) if bs else None,
                        "header": part["literals"][0],
                        "raw": part["literals"][1],
                    })
            report.setdefault("searched", {})[name] = uids
            m.close()
        folders[name] = {"status": status, "objects": objects}
    report["folders"] = folders
    m.logout()
    print(json.dumps(report))


def changedsince(host, port, user, password, mailbox, modseq):
    m = connect(host, port, user, password)
    m.enable("CONDSTORE")
    m.select(quote(mailbox))
    typ, data = m.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % int(modseq))
    uids = []
    for item in data:
        if item is None:
            continue
        text = item[0].decode() if isinstance(item, tuple) else item.decode()
        found = re.search(r"UID (\d+)", text)
        if found:
            uids.append(int(found.group(1)))
    m.logout()
    print(json.dumps({"uids": uids}))


def idle(host, port, user, password, mailbox, seconds):
    m = connect(host, port, user, password)
    m.select(quote(mailbox))
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    cont = m.readline()
    if not cont.startswith(b"+"):
        raise SystemExit("IDLE refused: %r" % cont)
    print("idling", flush=True)
    m.sock.settimeout(float(seconds))
    pushes = []
    try:
        line = m.readline()
        pushes.append(line.decode().strip())
    except socket.timeout:
        pass
    m.sock.settimeout(10)
    m.send(b"DONE\r\n")
    done = m.readline()
    while not done.startswith(tag):
        pushes.append(done.decode().strip())
        done = m.readline()
    m.logout()
    print(json.dumps({"pushes": pushes, "done": done.decode().strip()}))


def denied(host, port, user, password, mailbox):
    m = connect(host, port, user, password)
    out = {}
    for name, call in (("select", lambda: m.select(quote(mailbox))),
                       ("status", lambda: m.status(quote(mailbox), "(MESSAGES)"))):
        try:
            typ, data = call()
            out[name] = typ
        except imaplib.IMAP4.error as e:
            out[name] = "error: %s" % e
    m.logout()
    print(json.dumps(out))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"dump": dump, "changedsince": changedsince, "idle": idle, "denied": denied}[cmd](*args)
