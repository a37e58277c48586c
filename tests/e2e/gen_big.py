#!/usr/bin/env python3
"""tests/e2e/gen_big.py - write a message with a large base64 attachment.

    gen_big.py OUT MBYTES

Writes to OUT a MIME message (LF line ends) whose attachment is MBYTES
megabytes of pseudo-random data, base64-encoded in 76-character lines, so
the message is a little over MBYTES * 4/3 MB.  Deterministic (seeded), so a
failure can be reproduced.
"""
import base64
import random
import sys

out, mb = sys.argv[1], float(sys.argv[2])
rnd = random.Random(20251124)
n = int(mb * 1024 * 1024)
with open(out, "wb") as f:
    f.write(b"From: big@sender.test\nTo: big@rcpt.test\n"
            b"Subject: a message with a large attachment\n"
            b"Date: Mon, 24 Nov 2025 13:00:00 +0100\n"
            b"Message-ID: <big-attachment@sender.test>\nMIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"=-=big=-=\"\n\n"
            b"--=-=big=-=\nContent-Type: text/plain\n\nSee the attachment.\n\n"
            b"--=-=big=-=\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename=\"big.bin\"\n"
            b"Content-Transfer-Encoding: base64\n\n")
    chunk = 57 * 16384  # whole 76-character lines per chunk
    left = n
    while left > 0:
        k = min(chunk, left)
        b64 = base64.encodebytes(rnd.randbytes(k))  # 76 chars + LF a line
        f.write(b64)
        left -= k
    f.write(b"\n--=-=big=-=--\n")
