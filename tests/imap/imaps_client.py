#!/usr/bin/env python3
"""A third-party IMAP-over-TLS client (Python's imaplib and ssl) for cpmd's tests.

It verifies the server certificate against CAFILE and the host name HOST (an IP
address checks the certificate's IP SANs), reports JSON on stdout; the tests assert.

  imaps_client.py implicit HOST PORT CAFILE USER PASS
      IMAP4_SSL (RFC 8314): CAPABILITY, LOGIN, LIST.
  imaps_client.py starttls HOST PORT CAFILE USER PASS
      IMAP4: CAPABILITY, LOGIN before STARTTLS (its answer), STARTTLS, CAPABILITY,
      LOGIN, LIST.
A refused handshake is reported as {"tls_error": "..."}.
"""

import imaplib
import json
import ssl
import sys


def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def caps(m):
    typ, data = m.capability()
    return data[0].decode().split()


def login_and_list(m, user, password, report):
    typ, _ = m.login(user, password)
    report["login"] = typ
    typ, data = m.list()
    report["list"] = len([d for d in data if d])
    report["cipher"] = m.sock.cipher()[0] if hasattr(m.sock, "cipher") else None
    report["version"] = m.sock.version() if hasattr(m.sock, "version") else None
    m.logout()


def main():
    mode, host, port, cafile, user, password = sys.argv[1:7]
    report = {}
    try:
        if mode == "implicit":
            m = imaplib.IMAP4_SSL(host, int(port), ssl_context=context(cafile), timeout=10)
            report["capability"] = caps(m)
            login_and_list(m, user, password, report)
        elif mode == "starttls":
            m = imaplib.IMAP4(host, int(port), timeout=10)
            report["capability_before"] = caps(m)
            try:
                m.login(user, password)
                report["login_before"] = "OK"
            except imaplib.IMAP4.error as e:
                report["login_before"] = str(e)
            m.starttls(ssl_context=context(cafile))
            report["capability"] = caps(m)
            login_and_list(m, user, password, report)
        else:
            raise SystemExit("unknown mode " + mode)
    except ssl.SSLError as e:
        report["tls_error"] = str(e)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
