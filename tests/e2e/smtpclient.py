#!/usr/bin/env python3
"""tests/e2e/smtpclient.py - SMTP client for mailkeep's end-to-end tests.

SYNOPSIS
    smtpclient.py send --port P [--helo H] --from ADDR --to ADDR [--to ...]
                  [--to-file F] [--raw] [--auth USER:PASSWORD] FILE...
    smtpclient.py burst --port P --count N --sessions S --out FILE
                  [--prefix P] [--deadline SEC] [--size BYTES]

DESCRIPTION
    send: one SMTP session to 127.0.0.1:P; each FILE ('-' = stdin) is sent as
    one message, bytes as they are except that line ends are made CRLF
    (LF and CRLF both become CRLF; a lone CR is left alone), as any SMTP
    client must do.  --raw sends the file unchanged.  For each FILE, prints
    one line: "CODE QUEUE-ID TEXT" (QUEUE-ID is "-" when the server did not
    say "queued as", or for Sendmail "ID Message accepted"); a refused
    MAIL/RCPT prints that reply's code.  --auth logs in with SMTP AUTH
    (smtplib's choice of mechanism among those offered) after EHLO.  Exit 0
    when every message got 250, 1 otherwise, 2 on a usage or connection
    error.

    burst: S parallel sessions send N messages in all, each with a unique
    Message-ID <PREFIX.K@mailkeep.test>.  A message that gets anything but
    250 (or a broken connection) is retried on a new connection until
    DEADLINE seconds have passed since the start.  Writes one line per
    message that got 250 to OUT: "MESSAGE-ID QUEUE-ID", and prints a summary
    "accepted A of N, tempfailed T times, connection errors E".  Exit 0 if
    all N were accepted, 1 otherwise.
"""
import argparse
import re
import smtplib
import socket
import sys
import threading
import time

# Postfix: "2.0.0 Ok: queued as 4dKx9T3mZ1z2"; Sendmail: "2.0.0
# 5AO6B2Xq000123 Message accepted for delivery".
QUEUED = re.compile(rb"queued as ([0-9A-Za-z]+)|"
                    rb"^(?:[245]\.\d+\.\d+ )?([0-9A-Za-z]+) Message accepted")


def crlf(data):
    """Make every line end CRLF: CRLF and LF become CRLF, lone CR stays."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def queue_id(msg):
    m = QUEUED.search(msg or b"")
    return (m.group(1) or m.group(2)).decode() if m else "-"


def send_one(s, sender, rcpts, data):
    """One transaction on an open session. Returns (code, text)."""
    code, msg = s.mail(sender)
    if code != 250:
        s.rset()
        return code, msg
    ok = 0
    last = (code, msg)
    for r in rcpts:
        code, msg = s.rcpt(r)
        if code in (250, 251):
            ok += 1
        else:
            last = (code, msg)
    if ok == 0:
        s.rset()
        return last
    if ok != len(rcpts):
        s.rset()
        return last
    # smtplib.data() does the dot-stuffing and adds the final CRLF if
    # missing; it does not touch the line ends of bytes.
    code, msg = s.docmd("data")
    if code != 354:
        s.rset()
        return code, msg
    q = re.sub(rb"(?m)^\.", b"..", data)
    if q[-2:] != b"\r\n":
        q += b"\r\n"
    s.send(q + b".\r\n")
    return s.getreply()


def cmd_send(a):
    rcpts = list(a.to or [])
    if a.to_file:
        with open(a.to_file) as f:
            rcpts += [l.strip() for l in f if l.strip()]
    if not rcpts:
        print("smtpclient: no recipients", file=sys.stderr)
        return 2
    try:
        s = smtplib.SMTP("127.0.0.1", a.port, local_hostname=a.helo,
                         timeout=a.timeout)
        s.ehlo(a.helo)
        if a.auth:
            user, _, password = a.auth.partition(":")
            s.login(user, password)
    except (OSError, smtplib.SMTPException) as e:
        print("smtpclient: connect: %s" % e, file=sys.stderr)
        return 2
    rc = 0
    for fn in a.files:
        if fn == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(fn, "rb") as f:
                data = f.read()
        if not a.raw:
            data = crlf(data)
        try:
            code, msg = send_one(s, a.sender, rcpts, data)
        except (OSError, smtplib.SMTPException) as e:
            print("000 - connection error: %s" % e)
            return 1
        print("%d %s %s" % (code, queue_id(msg),
                            msg.decode("utf-8", "replace")), flush=True)
        if code != 250:
            rc = 1
    try:
        s.quit()
    except (OSError, smtplib.SMTPException):
        pass
    return rc


def burst_message(prefix, k, size):
    mid = "<%s.%d@mailkeep.test>" % (prefix, k)
    body = ("burst message %d of %s\r\n" % (k, prefix)).encode()
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
    while len(body) < size:
        body += line
    hdr = ("From: burst <burst@mailkeep.test>\r\n"
           "To: sink <sink@example.com>\r\n"
           "Subject: burst %d\r\n"
           "Date: Mon, 24 Nov 2025 05:00:00 +0000\r\n"
           "Message-ID: %s\r\n\r\n" % (k, mid)).encode()
    return mid, hdr + body


def cmd_burst(a):
    lock = threading.Lock()
    todo = list(range(a.count))
    accepted = []
    stats = {"tempfail": 0, "conn": 0}
    t_end = time.monotonic() + a.deadline

    def take():
        with lock:
            return todo.pop(0) if todo else None

    def give_back(k):
        with lock:
            todo.append(k)

    def worker():
        s = None
        while time.monotonic() < t_end:
            k = take()
            if k is None:
                break
            mid, data = burst_message(a.prefix, k, a.size)
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", a.port,
                                     local_hostname="burst.mailkeep.test",
                                     timeout=a.timeout)
                    s.ehlo("burst.mailkeep.test")
                code, msg = send_one(s, "burst@mailkeep.test",
                                     ["sink@example.com"], data)
            except (OSError, smtplib.SMTPException):
                with lock:
                    stats["conn"] += 1
                give_back(k)
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                time.sleep(0.05)
                continue
            if code == 250:
                with lock:
                    accepted.append((mid, queue_id(msg)))
            else:
                with lock:
                    stats["tempfail"] += 1
                give_back(k)
                # Postfix keeps refusing on a session whose milter failed:
                # start a new one.
                try:
                    s.quit()
                except (OSError, smtplib.SMTPException):
                    pass
                s = None
                time.sleep(0.05)
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    threads = [threading.Thread(target=worker) for _ in range(a.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(a.out, "w") as f:
        for mid, qid in accepted:
            f.write("%s %s\n" % (mid, qid))
    print("accepted %d of %d, tempfailed %d times, connection errors %d"
          % (len(accepted), a.count, stats["tempfail"], stats["conn"]))
    return 0 if len(accepted) == a.count else 1


def main():
    p = argparse.ArgumentParser(description="mailkeep e2e SMTP client")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--helo", default="client.mailkeep.test")
    s.add_argument("--from", dest="sender", required=True)
    s.add_argument("--to", action="append")
    s.add_argument("--to-file")
    s.add_argument("--raw", action="store_true")
    s.add_argument("--auth", help="USER:PASSWORD for SMTP AUTH")
    s.add_argument("--timeout", type=float, default=600)
    s.add_argument("files", nargs="+")
    b = sub.add_parser("burst")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--count", type=int, default=300)
    b.add_argument("--sessions", type=int, default=10)
    b.add_argument("--out", required=True)
    b.add_argument("--prefix", default="burst")
    b.add_argument("--deadline", type=float, default=120)
    b.add_argument("--size", type=int, default=2000)
    b.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    socket.setdefaulttimeout(a.timeout)
    return cmd_send(a) if a.cmd == "send" else cmd_burst(a)


if __name__ == "__main__":
    sys.exit(main())
