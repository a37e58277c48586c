#!/usr/bin/env python3
"""gen_mime.py - write the MIME test messages of tests/e2e/fulltext.sh.

Usage: gen_mime.py DIR

Each message hides one word where only real MIME decoding finds it: in a
base64 or quoted-printable part (split by a soft line break), in a
koi8-r, ISO-2022-JP, windows-1252 or UTF-7 part, in an RFC 2047 Subject,
in an RFC 2231 attachment name, in HTML (and a word in a <script> that
must NOT be found), in an attached message.  DIR/words.tsv lists, a line
each: the file, its Message-ID, how to search (text, subject,
attachment, none) and the word.  The messages are built byte by byte
here (not with the email package's generator) so that the encodings are
exactly the ones named.
"""
import base64
import codecs
import os
import quopri
import sys

OUT = sys.argv[1]
ROWS = []


def header(name, subject, extra=""):
    """The headers of a test message; its Message-ID is derived from name."""
    mid = "<%s.fulltext@sender.test>" % name
    return mid, ("From: Sender <sender@sender.test>\r\n"
                 "To: Reader <reader@example.com>\r\n"
                 "Subject: %s\r\n"
                 "Date: Mon, 24 Nov 2025 09:00:00 +0100\r\n"
                 "Message-ID: %s\r\nMIME-Version: 1.0\r\n%s" % (subject, mid, extra))


def write(name, how, word, subject, body_headers, body):
    """One message file, and its row in words.tsv."""
    mid, head = header(name, subject, body_headers)
    with open(os.path.join(OUT, name + ".eml"), "wb") as f:
        f.write(head.encode("ascii") + b"\r\n" + body)
    ROWS.append("%s\t%s\t%s\t%s" % (name, mid, how, word))


def b64(data):
    """Base64 in 76-column lines."""
    text = base64.b64encode(data).decode("ascii")
    return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76)).encode() + b"\r\n"


def text_part(charset, cte, payload):
    return ("Content-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: %s\r\n"
            % (charset, cte)), payload


def main():
    os.makedirs(OUT, exist_ok=True)
    h, p = text_part("us-ascii", "base64", b64(b"Minutes of the meeting: zanzibarquill approved.\n"))
    write("base64", "text", "zanzibarquill", "plain subject one", h, p)
    qp = b"The flummoxed=\r\npelican flew over the estuary at dawn.\r\n"
    h, p = text_part("us-ascii", "quoted-printable", qp)
    write("qp", "text", "flummoxedpelican", "plain subject two", h, p)
    h, p = text_part("koi8-r", "8bit", "Привет, кракозябра в отчёте.\r\n".encode("koi8-r"))
    write("koi8r", "text", "кракозябра", "plain subject three", h, p)
    h, p = text_part("iso-2022-jp", "7bit", "明日の議題は予算編成です。\r\n".encode("iso-2022-jp"))
    write("iso2022jp", "text", "予算編成", "plain subject four", h, p)
    h, p = text_part("windows-1252", "quoted-printable",
                     quopri.encodestring("Die Quittung über 100 € für Glühwürmchen.\n"
                                         .encode("cp1252")).replace(b"\n", b"\r\n"))
    write("cp1252", "text", "Glühwürmchen", "plain subject five", h, p)
    h, p = text_part("utf-7", "7bit", codecs.encode("Résumé of the wombatfestival in Zürich.\r\n", "utf-7"))
    write("utf7", "text", "wombatfestival", "plain subject six", h, p)
    # adjacent encoded words join without the space between them (RFC 2047)
    subject = "=?utf-8?Q?Quartals=C3=BC?= =?utf-8?B?%s?= und =?iso-8859-1?Q?Gr=FC=DFe?=" % (
        base64.b64encode(b"berblick").decode())
    h, p = text_part("us-ascii", "7bit", b"Nothing to see in the body.\r\n")
    write("rfc2047", "subject", "Quartalsüberblick", subject, h, p)
    boundary = "=-=-boundary-=-="
    body = ("--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n"
            "--%s\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment;\r\n filename*0*=utf-8''%%E2%%82%%AC%%20tariff;\r\n"
            " filename*1*=%%20xylophonic%%20schedule.pdf\r\n\r\n" % (boundary, boundary)).encode()
    body += b64(b"%PDF-1.4 not really a pdf\n") + ("--%s--\r\n" % boundary).encode()
    write("rfc2231", "attachment", "xylophonic", "plain subject seven",
          'Content-Type: multipart/mixed; boundary="%s"\r\n' % boundary, body)
    html = ("<html><head><style>p {color: red}</style><script>var a = 'secretscriptword';</script>"
            "</head><body><p>The hippopotamus&nbsp;parade &amp; fireworks</p></body></html>\r\n").encode()
    h = "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    write("html", "text", "hippopotamus", "plain subject eight", h, html)
    ROWS.append("html\t<html.fulltext@sender.test>\tnone\tsecretscriptword")
    inner = (b"From: inner@sender.test\r\nSubject: inner\r\n\r\nThe quixotic narwhal report.\r\n")
    body = ("--%s\r\nContent-Type: text/plain\r\n\r\nForwarded.\r\n--%s\r\n"
            "Content-Type: message/rfc822\r\n\r\n" % (boundary, boundary)).encode()
    body += inner + ("--%s--\r\n" % boundary).encode()
    write("rfc822", "text", "narwhal", "plain subject nine",
          'Content-Type: multipart/mixed; boundary="%s"\r\n' % boundary, body)
    # a part with bad base64, and no closing boundary at all
    body = ("--%s\r\nContent-Type: text/plain\r\n\r\n"
            "The malformed message still says marmalade.\r\n--%s\r\n"
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            "!!!! not base64 at all ####\r\n" % (boundary, boundary)).encode()
    write("malformed", "text", "marmalade", "plain subject ten",
          'Content-Type: multipart/mixed; boundary="%s"\r\n' % boundary, body)
    with open(os.path.join(OUT, "words.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(ROWS) + "\n")


main()
