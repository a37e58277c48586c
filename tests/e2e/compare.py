#!/usr/bin/env python3
"""tests/e2e/compare.py - is an archived message the original, byte for byte?

SYNOPSIS
    compare.py [--raw] [--trace N] ARCHIVED ORIGINAL

DESCRIPTION
    ARCHIVED is what `mailkeep get` printed; ORIGINAL is the file the test
    sent.  What mailkeep archives is the message as the MTA handed it to the
    milter, and the MTA changed it in exactly these ways, which this program
    applies to ORIGINAL to make the expected bytes:

    1. Line ends.  SMTP carries lines ending in CRLF, and a milter receives
       headers and body with CRLF line ends.  So every LF and CRLF of the
       original becomes CRLF (a lone CR stays as it is), and a message
       whose last line has no line end gets one (SMTP's DATA cannot end
       otherwise).  With --raw, ORIGINAL is taken to have been sent as it
       is (only the final CRLF is added when missing).
    2. Trace headers.  Postfix does not hand a milter its own Received:
       header (verified with Postfix 3.7 for smtpd_milters and for
       non_smtpd_milters: the milter's first header is the client's first
       header), and the test Postfix adds or drops nothing else
       (local_header_rewrite_clients and message_drop_headers are empty).
       ARCHIVED may still begin with complete "Received:" header fields
       (an MTA that passes its own; CRLF line ends) before the expected
       bytes; --trace N demands exactly N of them (the tests use 0).
    3. Postfix's cleanup(8) repairs two kinds of malformed header sections,
       and the milter sees the repaired form.  Each is reported by name:
       - "from_line": a first line "From ..." (an mbox separator) becomes
         the header "X-Mailbox-Line: From ...";
       - "blank_line": when the header section ends with a line that is not
         a header (or the message has no headers at all), cleanup inserts
         the missing empty line between headers and body.
       And one repair of line content (seen in the queue file itself):
       - "bare_cr": a CR that is not part of a CRLF line end becomes a
         space (Postfix 3.7's smtpd).

    Prints "exact" or "exact after postfix rewrites: a,b" and exits 0, or
    prints where the bytes first differ and exits 1.
"""
import argparse
import re
import sys

HEADER = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def postfix_rewrites(msg):
    """Apply cleanup(8)'s header repairs to CRLF message MSG."""
    applied = []
    fixed = re.sub(rb"\r(?!\n)", b" ", msg)
    if fixed != msg:
        msg = fixed
        applied.append("bare_cr")
    if msg.startswith(b"From "):
        msg = b"X-Mailbox-Line: " + msg
        applied.append("from_line")
    pos = 0
    seen_header = False
    while pos < len(msg):
        end = msg.find(b"\r\n", pos)
        if end < 0:
            end = len(msg)
        line = msg[pos:end]
        if line == b"":
            break  # regular end of headers
        if seen_header and line[:1] in (b" ", b"\t"):
            pos = end + 2
            continue
        if HEADER.match(line):
            seen_header = True
            pos = end + 2
            continue
        # a non-header line inside the header section: cleanup ends the
        # headers here and inserts the separating empty line.
        msg = msg[:pos] + b"\r\n" + msg[pos:]
        applied.append("blank_line")
        break
    return msg, applied


def split_trace(archived):
    """Return (number of leading Received: fields, offset after them)."""
    pos = 0
    n = 0
    while archived[pos:pos + 9].lower() == b"received:":
        end = archived.find(b"\r\n", pos)
        while end >= 0 and archived[end + 2:end + 3] in (b" ", b"\t"):
            end = archived.find(b"\r\n", end + 2)
        if end < 0:
            break
        n += 1
        pos = end + 2
    return n, pos


def split_trace_one(archived, pos):
    """Offset after the header field starting at POS."""
    end = archived.find(b"\r\n", pos)
    while end >= 0 and archived[end + 2:end + 3] in (b" ", b"\t"):
        end = archived.find(b"\r\n", end + 2)
    return len(archived) if end < 0 else end + 2


def show(b):
    return repr(b)[2:-1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--raw", action="store_true")
    p.add_argument("--trace", type=int)
    p.add_argument("archived")
    p.add_argument("original")
    a = p.parse_args()
    archived = open(a.archived, "rb").read()
    orig = open(a.original, "rb").read()
    if not a.raw:
        orig = crlf(orig)
    if not orig.endswith(b"\r\n"):
        orig += b"\r\n"
    expected, applied = postfix_rewrites(orig)
    if archived.endswith(expected):
        off = len(archived) - len(expected)
        ntrace, toff = split_trace(archived[:off])
        if toff != off:
            print("archived = original preceded by %d bytes that are not"
                  " (only) Received: header fields: %s"
                  % (off, show(archived[:off])))
            return 1
        if a.trace is not None and ntrace != a.trace:
            print("%d Received: trace headers, expected %d" % (ntrace, a.trace))
            return 1
        if b"\n" in archived[:off].replace(b"\r\n", b""):
            print("trace header has a bare LF: %s" % show(archived[:off]))
            return 1
        print("exact" + (" after postfix rewrites: " + ",".join(applied)
                         if applied else ""))
        return 0
    # Find where they part: skip the MTA's own trace header(s).
    ntrace, off = split_trace(archived)
    ntrace = min(ntrace, a.trace or 1)
    off = 0
    for _ in range(ntrace):
        off = split_trace_one(archived, off)
    body = archived[off:]
    i = 0
    n = min(len(body), len(expected))
    while i < n and body[i] == expected[i]:
        i += 1
    print("differs at byte %d after %d trace header(s) (archived %d bytes,"
          " expected %d%s):\n  archived: ...%s\n  expected: ...%s" % (
              i, ntrace, len(body), len(expected),
              "; postfix rewrites " + ",".join(applied) if applied else "",
              show(body[max(0, i - 40):i + 60]),
              show(expected[max(0, i - 40):i + 60])))
    return 1


if __name__ == "__main__":
    sys.exit(main())
