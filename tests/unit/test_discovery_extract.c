/*
 * test_discovery_extract.c - unit tests of discovery_extract(): headers,
 * transfer encodings, charsets, RFC 2047 and RFC 2231, HTML, attached
 * messages, attachments, the limits, malformed and hostile MIME, the
 * sink stopping, threads, and every message of the corpora on the
 * machine (Python's email test data, SpamAssassin's samples, tests/corpus).
 *
 * Each test runs a message through a recording sink that checks every
 * string is valid UTF-8 and writes what it was called with, in order,
 * into a log ("from: ...", "attachment: NAME TYPE", "text: {...}") that
 * the test compares whole.
 */
#include "config.h"

#include <check.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "discovery/discovery.h"
#include "tests/unit/unit.h"

#define RUN_MAX	65536		/* TEXT_RUN of discovery/internal.h */

/* What a recording sink saw. */
typedef struct rec {
	GString *log;			/* every call, in order */
	GString *text;			/* all text runs */
	int calls;
	int fail_at;			/* the call (1...) that says stop */
	int fail_rc;
	bool quiet;			/* no text in the log (big messages) */
	bool bad;			/* a string was not valid UTF-8 */
	size_t longest;			/* the longest text run */
} rec;

static const char *const header_names[] = {
	"from", "to", "cc", "subject", "date", "message-id"
};

/* answer - 0, or r->fail_rc at call r->fail_at */
static int
answer(rec *r)
{
	return ++r->calls == r->fail_at ? r->fail_rc : 0;
}

/* rec_header - sink->header */
static int
rec_header(discovery_header which, const char *value, void *ctx)
{
	rec *r = ctx;

	if (!g_utf8_validate(value, -1, NULL) || (int)which < 0 || which > 5)
		r->bad = true;
	else
		g_string_append_printf(r->log, "%s: %s\n", header_names[which],
				       value);
	return answer(r);
}

/* rec_text - sink->text */
static int
rec_text(const char *utf8, size_t len, void *ctx)
{
	rec *r = ctx;

	if (len == 0 || !g_utf8_validate(utf8, (gssize)len, NULL))
		r->bad = true;
	if (len > r->longest)
		r->longest = len;
	g_string_append_len(r->text, utf8, (gssize)len);
	if (!r->quiet) {
		g_string_append(r->log, "text: {");
		g_string_append_len(r->log, utf8, (gssize)len);
		g_string_append(r->log, "}\n");
	}
	return answer(r);
}

/* rec_attachment - sink->attachment */
static int
rec_attachment(const char *filename, const char *type, void *ctx)
{
	rec *r = ctx;

	if ((filename != NULL && !g_utf8_validate(filename, -1, NULL))
	    || !g_utf8_validate(type, -1, NULL))
		r->bad = true;
	g_string_append_printf(r->log, "attachment: %s %s\n",
			       filename != NULL ? filename : "(none)", type);
	return answer(r);
}

/* rec_new - an empty recording */
static rec *
rec_new(void)
{
	rec *r = g_new0(rec, 1);

	r->log = g_string_new("");
	r->text = g_string_new("");
	return r;
}

/* rec_free - r and what it holds */
static void
rec_free(rec *r)
{
	g_string_free(r->log, TRUE);
	g_string_free(r->text, TRUE);
	g_free(r);
}

/* run - msg[0..len) through r; discovery_extract's value */
static int
run(rec *r, const char *msg, size_t len, discovery_stats *st, mk_error *err)
{
	discovery_sink sink = { rec_header, rec_text, rec_attachment, r };
	int rc = discovery_extract(msg, len, &sink, st, err);

	ck_assert_msg(!r->bad, "a callback string was not valid UTF-8");
	ck_assert_uint_le(r->longest, RUN_MAX);
	ck_assert_uint_le(st->text_bytes, DISCOVERY_MAX_TEXT);
	ck_assert_uint_le(st->parts, DISCOVERY_MAX_PARTS);
	ck_assert_uint_eq(st->text_bytes, r->text->len);
	return rc;
}

/* extract_log - the log of msg (a string) and its stats; g_malloc'ed */
static char *
extract_log(const char *msg, discovery_stats *st)
{
	rec *r = rec_new();
	mk_error err;
	char *log;

	ck_assert_int_eq(run(r, msg, strlen(msg), st, &err), 0);
	log = g_strdup(r->log->str);
	rec_free(r);
	return log;
}

/* expect_log - msg gives exactly want, clean */
static void
expect_log(const char *msg, const char *want)
{
	discovery_stats st;
	char *log = extract_log(msg, &st);

	ck_assert_str_eq(log, want);
	ck_assert_msg(!st.malformed && !st.truncated, "note: %s", st.note);
	g_free(log);
}

/* extract_text - all the text of msg[0..len); g_malloc'ed */
static char *
extract_text(const char *msg, size_t len, discovery_stats *st)
{
	rec *r = rec_new();
	mk_error err;
	char *text;

	r->quiet = true;
	ck_assert_int_eq(run(r, msg, len, st, &err), 0);
	text = g_strdup(r->text->str);
	rec_free(r);
	return text;
}

/* expect_text - the text of a one-part message of this Content-Type and
 * transfer encoding with this body is want */
static void
expect_text(const char *ctype, const char *cte, const char *body,
	    const char *want)
{
	char *msg = g_strdup_printf("Subject: t\nContent-Type: %s\n"
				    "Content-Transfer-Encoding: %s\n\n%s",
				    ctype, cte, body);
	discovery_stats st;
	char *text = extract_text(msg, strlen(msg), &st);

	ck_assert_str_eq(text, want);
	ck_assert_msg(!st.malformed && !st.truncated, "note: %s", st.note);
	g_free(text);
	g_free(msg);
}

static const char plain_msg[] =
	"From: Alice Example <alice@example.com>\n"
	"To: Bob <bob@example.org>, carol@example.org\n"
	"Cc: dave@example.net\n"
	"Subject: Quarterly numbers\n"
	"Date: Mon, 2 Mar 2026 10:00:00 +0100\n"
	"Message-ID: <q1@example.com>\n"
	"\n"
	"Hello Bob,\n"
	"the numbers are in.\n";

static const char plain_log[] =
	"from: Alice Example <alice@example.com>\n"
	"to: Bob <bob@example.org>, carol@example.org\n"
	"cc: dave@example.net\n"
	"subject: Quarterly numbers\n"
	"date: Mon, 2 Mar 2026 10:00:00 +0100\n"
	"message-id: <q1@example.com>\n"
	"text: {Hello Bob,\nthe numbers are in.\n}\n";

START_TEST(test_plain_ascii)
{
	discovery_stats st;
	char *log = extract_log(plain_msg, &st);

	ck_assert_str_eq(log, plain_log);
	ck_assert_uint_eq(st.parts, 1);
	ck_assert_uint_eq(st.attachments, 0);
	ck_assert_uint_eq(st.text_bytes, strlen("Hello Bob,\nthe numbers are in.\n"));
	ck_assert(!st.malformed && !st.truncated);
	ck_assert_str_eq(st.note, "");
	g_free(log);
}
END_TEST

START_TEST(test_crlf_and_folding)
{
	expect_log("From: Alice Example\r\n <alice@example.com>\r\n"
		   "To: Bob <bob@example.org>,\r\n\tcarol@example.org\r\n"
		   "Cc: dave@example.net\r\n"
		   "Subject: Quarterly\r\n numbers\r\n"
		   "Date: Mon, 2 Mar 2026\r\n 10:00:00 +0100\r\n"
		   "Message-ID:\r\n <q1@example.com>\r\n"
		   "\r\n"
		   "Hello Bob,\r\nthe numbers are in.\r\n", plain_log);
}
END_TEST

START_TEST(test_base64_part)
{
	static const char msg[] =
		"From: a@example.com\nSubject: b64\nMIME-Version: 1.0\n"
		"Content-Type: multipart/mixed; boundary=\"XX\"\n\n"
		"This is a multi-part message in MIME format.\n"
		"--XX\nContent-Type: text/plain; charset=us-ascii\n\n"
		"visible part\n"
		"--XX\nContent-Type: text/plain; charset=utf-8\n"
		"Content-Transfer-Encoding: base64\n\n"
		"VGhlIGhpZGRlbiB3b3JkIGlzIHphbnppYmFyLgo=\n"
		"--XX--\n";

	ck_assert_ptr_null(strstr(msg, "zanzibar"));
	expect_log(msg, "from: a@example.com\nsubject: b64\n"
		   "text: {visible part\n}\n"
		   "text: {The hidden word is zanzibar.\n}\n");
}
END_TEST

START_TEST(test_quoted_printable)
{
	expect_text("text/plain; charset=utf-8", "quoted-printable",
		    "The secret word is xylo=\nphone, caf=C3=A9 =3D ok.\n",
		    "The secret word is xylophone, caf\xc3\xa9 = ok.\n");
	expect_text("text/plain; charset=utf-8", "Quoted-Printable",
		    "The secret word is xylo=\r\nphone.=\r\n",
		    "The secret word is xylophone.\n");
}
END_TEST

START_TEST(test_uuencode)
{
	expect_text("text/plain", "x-uuencode",
		    "begin 644 note.txt\n"
		    "9=75E;F-O9&5D(&UA<FUA;&%D92!T97AT\"@``\n`\nend\n",
		    "uuencoded marmalade text\n");
}
END_TEST

START_TEST(test_charsets)
{
	expect_text("text/plain; charset=koi8-r", "8bit",
		    "\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2: \xcf\xd4\xde\xa3\xd4\n",
		    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
		    "\xd0\xbc\xd0\xb8\xd1\x80: "
		    "\xd0\xbe\xd1\x82\xd1\x87\xd1\x91\xd1\x82\n");
	expect_text("text/plain; charset=ISO-2022-JP", "7bit",
		    "\x1b$BF|K\\8l$N%F%-%9%H\x1b(B\n",
		    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
		    "\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88\n");
	expect_text("text/plain; charset=windows-1252", "8bit",
		    "na\xefve caf\xe9 \x96 \x93quoted\x94 \x80" "5\n",
		    "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x93 "
		    "\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac" "5\n");
	expect_text("text/plain; charset=UTF-7", "7bit",
		    "caf+AOk d+AOk-j+AOA vu +Jjo-\n",
		    "caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu \xe2\x98\xba\n");
	/* Latin-1 is read as Windows-1252: 0x80 is the euro sign */
	expect_text("text/plain; charset=\"iso-8859-1\"", "8bit",
		    "\x80 caf\xe9\n", "\xe2\x82\xac caf\xc3\xa9\n");
	/* UTF-16 declared, and undeclared with a byte order mark */
	expect_text("text/plain; charset=utf-16", "base64",
		    "//5HAHIA/ADfAGUAIABhAHUAcwAgAEsA9gBsAG4ACgA=\n",
		    "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\n");
	expect_text("text/plain", "base64",
		    "//5HAHIA/ADfAGUAIABhAHUAcwAgAEsA9gBsAG4ACgA=\n",
		    "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\n");
	/* no charset: UTF-8 where valid, Windows-1252 where not, the byte
	 * order mark dropped */
	expect_text("text/plain", "8bit", "\xef\xbb\xbf" "caf\xc3\xa9 caf\xe9\n",
		    "caf\xc3\xa9 caf\xc3\xa9\n");
}
END_TEST

START_TEST(test_unknown_charset)
{
	static const char msg[] =
		"Subject: u\nContent-Type: text/plain; charset=x-unknown\n\n"
		"caf\xe9 na\xc3\xafve\n";
	discovery_stats st;
	char *text = extract_text(msg, strlen(msg), &st);

	ck_assert_str_eq(text, "caf\xc3\xa9 na\xc3\xafve\n");
	ck_assert(st.malformed && !st.truncated);
	ck_assert_ptr_nonnull(strstr(st.note, "unknown charset \"x-unknown\""));
	g_free(text);
}
END_TEST

START_TEST(test_rfc2047)
{
	expect_log("From: =?iso-8859-1?Q?J=F6rg?= Schmidt <joerg@example.de>\n"
		   "To: =?utf-8?B?w4Zyw7g=?= <aero@example.dk>, "
		   "\"Doe, Jane\" <jane@example.com>\n"
		   "Subject: =?utf-8?B?w4Zyw7g=?= =?iso-8859-1?Q?_caf=E9?=\n"
		   " =?utf-8?q?_=E2=82=AC?= plain\n"
		   "\n"
		   "body\n",
		   "from: J\xc3\xb6rg Schmidt <joerg@example.de>\n"
		   "to: \xc3\x86r\xc3\xb8 <aero@example.dk>, "
		   "\"Doe, Jane\" <jane@example.com>\n"
		   "subject: \xc3\x86r\xc3\xb8 caf\xc3\xa9 \xe2\x82\xac plain\n"
		   "text: {body\n}\n");
}
END_TEST

START_TEST(test_8bit_headers)
{
	/* raw 8-bit in headers: UTF-8 as is, else Windows-1252 */
	expect_log("From: J\xc3\xb6rg <j@example.de>\n"
		   "Subject: caf\xe9 \x80" "5\n\nbody\n",
		   "from: J\xc3\xb6rg <j@example.de>\n"
		   "subject: caf\xc3\xa9 \xe2\x82\xac" "5\n"
		   "text: {body\n}\n");
}
END_TEST

START_TEST(test_attachments)
{
	static const char msg[] =
		"Subject: files\nContent-Type: multipart/mixed; boundary=B\n\n"
		"--B\nContent-Type: text/plain\n\nSee the files.\n"
		"--B\nContent-Type: application/pdf\n"
		"Content-Disposition: attachment;"
		" filename*=utf-8''%E2%82%AC%20rates.pdf\n"
		"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
		"--B\nContent-Type: Application/PDF\n"
		"Content-Disposition: attachment;\n"
		" filename*0*=utf-8''%E2%82%AC%20ra;\n"
		" filename*1*=tes%20Q1.pdf\n\n%PDF\n"
		"--B\nContent-Type: image/png; name=\"chart.png\"\n\nPNG\n"
		"--B\nContent-Type: application/octet-stream\n\nxx\n"
		"--B\nContent-Type: text/plain; charset=utf-8\n"
		"Content-Disposition: attachment; filename=\"notes.txt\"\n\n"
		"attached notes text\n"
		"--B\nContent-Type: text/csv\nContent-Disposition: attachment\n\n"
		"a,b\n"
		"--B\nContent-Type: application/msword;"
		" name=\"=?utf-8?q?r=C3=A9sum=C3=A9.doc?=\"\n\ndoc\n"
		"--B--\n";
	discovery_stats st;
	char *log = extract_log(msg, &st);

	ck_assert_str_eq(log, "subject: files\n"
			 "text: {See the files.\n}\n"
			 "attachment: \xe2\x82\xac rates.pdf application/pdf\n"
			 "attachment: \xe2\x82\xac rates Q1.pdf application/pdf\n"
			 "attachment: chart.png image/png\n"
			 "attachment: (none) application/octet-stream\n"
			 "attachment: notes.txt text/plain\n"
			 "text: {attached notes text\n}\n"
			 "attachment: (none) text/csv\n"
			 "text: {a,b\n}\n"
			 "attachment: r\xc3\xa9sum\xc3\xa9.doc application/msword\n");
	ck_assert_uint_eq(st.attachments, 7);
	ck_assert_uint_eq(st.parts, 9);
	ck_assert(!st.malformed && !st.truncated);
	g_free(log);
}
END_TEST

START_TEST(test_html)
{
	static const char msg[] =
		"Subject: h\nContent-Type: text/html; charset=utf-8\n\n"
		"<!DOCTYPE html><html><head><title>T</title>\n"
		"<style>p { color: red } .hidden { x: \"</p>\" }</style>\n"
		"<script type=\"text/javascript\">var secret = \"<p>nope</p>\";"
		" if (a < b && c > d) {}</script >\n"
		"</head><body onload='x > y'>\n"
		"<p class=\"a > b\">Fish &amp; chips &lt;tag&gt; caf&eacute;"
		" &#233;t&#xE9; &#x263a;\n a&nbsp;b</p><!-- hidden -- comment -->"
		"<div>Second<br/>line</div><SCRIPT>more()</SCRIPT>"
		"<table><tr><td>cell1</td><td>cell2</td></tr></table>"
		"a < b, c<3, <?php x ?>in<span>line</span>"
		"</body></html>\n";

	expect_log(msg, "subject: h\n"
		   "text: {T\nFish & chips <tag> caf\xc3\xa9 \xc3\xa9t\xc3\xa9"
		   " \xe2\x98\xba a b\nSecond\nline\ncell1\ncell2\n"
		   "a < b, c<3, inline\n}\n");
}
END_TEST

START_TEST(test_html_entities)
{
	expect_text("text/html; charset=utf-8", "8bit",
		    "&AElig; &zeta; &Yuml; &apos; &zwnj;x &#0; &#xD800;"
		    " &#x110000; &#128; &#99999999999999999999; &bogus; AT&T"
		    " &amp &lt3 &#65 &#x41; &#; &#x; & ;",
		    "\xc3\x86 \xce\xb6 \xc5\xb8 ' \xe2\x80\x8cx \xef\xbf\xbd"
		    " \xef\xbf\xbd \xef\xbf\xbd \xe2\x82\xac \xef\xbf\xbd"
		    " &bogus; AT&T & &lt3 A A &#; &#x; & ;\n");
}
END_TEST

START_TEST(test_html_charset)
{
	/* no charset parameter: the <meta> names it */
	expect_text("text/html", "8bit",
		    "<html><head><meta http-equiv=\"Content-Type\""
		    " content=\"text/html; charset=koi8-r\"></head>"
		    "<body>\xf0\xd2\xc9\xd7\xc5\xd4</body></html>",
		    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n");
	expect_text("text/html", "quoted-printable",
		    "<meta charset=3D'windows-1252'><p>caf=E9 =80</p>",
		    "caf\xc3\xa9 \xe2\x82\xac\n");
	/* the parameter wins over the <meta> */
	expect_text("text/html; charset=utf-8", "8bit",
		    "<meta charset=koi8-r><p>caf\xc3\xa9</p>",
		    "caf\xc3\xa9\n");
}
END_TEST

START_TEST(test_html_unterminated)
{
	/* a document that ends inside a tag, a comment, a script, an entity */
	expect_text("text/html", "8bit", "one <b", "one\n");
	expect_text("text/html", "8bit", "two <!-- never closed", "two\n");
	expect_text("text/html", "8bit", "three <script>x()", "three\n");
	expect_text("text/html", "8bit", "four &amp", "four &\n");
	expect_text("text/html", "8bit", "five &eacute", "five &eacute\n");
	expect_text("text/html", "8bit", "six <", "six <\n");
	expect_text("text/html", "8bit", "<a href=\"x>y\" title='z'>seven</a>",
		    "seven\n");
}
END_TEST

static const char rfc822_msg[] =
	"Subject: fwd\nContent-Type: multipart/mixed; boundary=B\n\n"
	"--B\nContent-Type: text/plain\n\nSee attached.\n"
	"--B\nContent-Type: message/rfc822\n"
	"Content-Disposition: attachment; filename=\"forward.eml\"\n\n"
	"From: Eve <eve@example.net>\n"
	"To: Mallory <m@example.net>\n"
	"Subject: =?utf-8?q?Inner_subj=C3=A9ct?=\n"
	"Content-Type: text/html\n\n"
	"<p>inner zebra words</p>\n"
	"--B--\n";

START_TEST(test_message_rfc822)
{
	discovery_stats st;
	char *log = extract_log(rfc822_msg, &st);

	ck_assert_str_eq(log, "subject: fwd\n"
			 "text: {See attached.\n}\n"
			 "attachment: forward.eml message/rfc822\n"
			 "text: {Eve <eve@example.net>\nMallory <m@example.net>\n"
			 "Inner subj\xc3\xa9" "ct\n}\n"
			 "text: {inner zebra words\n}\n");
	ck_assert_uint_eq(st.parts, 4);
	ck_assert_uint_eq(st.attachments, 1);
	g_free(log);
}
END_TEST

START_TEST(test_alternative)
{
	expect_log("Subject: alt\nContent-Type: multipart/alternative;"
		   " boundary=\"=_alt\"\n\n"
		   "--=_alt\nContent-Type: text/plain; charset=utf-8\n\n"
		   "Plain version\n"
		   "--=_alt\nContent-Type: text/html; charset=utf-8\n\n"
		   "<p>HTML <b>version</b></p>\n"
		   "--=_alt--\n",
		   "subject: alt\n"
		   "text: {Plain version\n}\n"
		   "text: {HTML version\n}\n");
}
END_TEST

START_TEST(test_signed)
{
	expect_log("Subject: s\nContent-Type: multipart/signed;"
		   " protocol=\"application/pgp-signature\"; micalg=pgp-sha256;"
		   " boundary=S\n\n"
		   "--S\nContent-Type: text/plain\n\nsigned text\n"
		   "--S\nContent-Type: application/pgp-signature;"
		   " name=\"signature.asc\"\n\n"
		   "-----BEGIN PGP SIGNATURE-----\nabc\n"
		   "-----END PGP SIGNATURE-----\n"
		   "--S--\n",
		   "subject: s\ntext: {signed text\n}\n");
}
END_TEST

START_TEST(test_broken_boundary)
{
	discovery_stats st;
	char *log;

	/* no closing boundary */
	log = extract_log("Subject: x\nContent-Type: multipart/mixed;"
			  " boundary=zz\n\n--zz\nContent-Type: text/plain\n\n"
			  "hello\n--zz\n\nworld\n", &st);
	ck_assert_str_eq(log, "subject: x\ntext: {hello\n}\ntext: {world\n}\n");
	ck_assert(st.malformed);
	ck_assert_ptr_nonnull(strstr(st.note, "closing boundary"));
	g_free(log);
	/* a boundary never used: everything is in the preamble */
	log = extract_log("Subject: x\nContent-Type: multipart/mixed;"
			  " boundary=\"abc\"\n\npreamble\n--abd\n\nwrong"
			  " boundary body\n--abd--\n", &st);
	ck_assert_ptr_nonnull(strstr(log, "wrong boundary body"));
	ck_assert(st.malformed);
	g_free(log);
	/* no boundary parameter */
	log = extract_log("Subject: x\nContent-Type: multipart/mixed\n\n"
			  "--zz\n\nlost words\n", &st);
	ck_assert_ptr_nonnull(strstr(log, "lost words"));
	ck_assert(st.malformed);
	ck_assert_ptr_nonnull(strstr(st.note, "without a boundary"));
	g_free(log);
}
END_TEST

START_TEST(test_bad_base64)
{
	discovery_stats st;
	char *text;
	const char *msg = "Subject: b\nContent-Transfer-Encoding: base64\n\n"
			  "Zm9v!!!YmFy\n";

	text = extract_text(msg, strlen(msg), &st);
	ck_assert_str_eq(text, "foobar\n");
	ck_assert(st.malformed);
	ck_assert_ptr_nonnull(strstr(st.note, "base64 with bytes outside"));
	g_free(text);
	msg = "Subject: b\nContent-Transfer-Encoding: base64\n\nZm9vYmE\n";
	text = extract_text(msg, strlen(msg), &st);
	ck_assert_str_eq(text, "foo\n");	/* GMime drops the broken quantum */
	ck_assert(st.malformed);
	ck_assert_ptr_nonnull(strstr(st.note, "cut inside a quantum"));
	g_free(text);
}
END_TEST

/* nested - a message of n nested multiparts, "deepword" at the bottom */
static char *
nested(int n)
{
	GString *s = g_string_new("Subject: nest\n");
	int i;

	for (i = 0; i < n; i++)
		g_string_append_printf(s, "Content-Type: multipart/mixed;"
				       " boundary=b%d\n\n--b%d\n", i, i);
	g_string_append(s, "Content-Type: text/plain\n\ndeepword\n");
	for (i = n - 1; i >= 0; i--)
		g_string_append_printf(s, "--b%d--\n", i);
	return g_string_free(s, FALSE);
}

START_TEST(test_deep_nesting)
{
	discovery_stats st;
	char *msg = nested(1000), *text;

	text = extract_text(msg, strlen(msg), &st);
	ck_assert_ptr_null(strstr(text, "deepword"));
	ck_assert(st.truncated);
	ck_assert_uint_eq(st.parts, DISCOVERY_MAX_DEPTH + 1);
	ck_assert_ptr_nonnull(strstr(st.note, "nested deeper than 64"));
	g_free(text);
	g_free(msg);
	/* just within the limit: the word is found */
	msg = nested(DISCOVERY_MAX_DEPTH);
	text = extract_text(msg, strlen(msg), &st);
	ck_assert_ptr_nonnull(strstr(text, "deepword"));
	ck_assert(!st.truncated && !st.malformed);
	g_free(text);
	g_free(msg);
}
END_TEST

START_TEST(test_deep_messages)
{
	GString *s = g_string_new("");
	discovery_stats st;
	char *text;
	int i;

	for (i = 0; i < 2000; i++)
		g_string_append_printf(s, "Subject: level %d\n"
				       "Content-Type: message/rfc822\n\n", i);
	g_string_append(s, "Subject: inner\n\ninnerword\n");
	text = extract_text(s->str, s->len, &st);
	ck_assert_ptr_null(strstr(text, "innerword"));
	ck_assert(st.truncated);
	g_free(text);
	g_string_free(s, TRUE);
}
END_TEST

START_TEST(test_many_parts)
{
	GString *s = g_string_new("Subject: many\n"
				  "Content-Type: multipart/mixed; boundary=b\n\n");
	discovery_stats st;
	char *text;
	int i;

	for (i = 0; i < 1500; i++)
		g_string_append_printf(s, "--b\n\nword%d\n", i);
	g_string_append(s, "--b--\n");
	text = extract_text(s->str, s->len, &st);
	ck_assert_uint_eq(st.parts, DISCOVERY_MAX_PARTS);
	ck_assert(st.truncated);
	ck_assert_ptr_nonnull(strstr(text, "word998\n"));
	ck_assert_ptr_null(strstr(text, "word999\n"));	/* part 1000 + 1 */
	ck_assert_ptr_nonnull(strstr(st.note, "after the first 1000"));
	g_free(text);
	g_string_free(s, TRUE);
}
END_TEST

/* big_message - head then n bytes of unit repeated (one line); g_malloc'ed */
static char *
big_message(const char *head, const char *unit, size_t n, size_t *len)
{
	size_t h = strlen(head), u = strlen(unit), i;
	char *m = g_malloc(h + n + 1);

	memcpy(m, head, h);
	for (i = 0; i < n; i++)
		m[h + i] = unit[i % u];
	m[h + n] = '\0';
	*len = h + n;
	return m;
}

START_TEST(test_huge_line)
{
	static const char *const kinds[][2] = {
		{ "Subject: big\nContent-Type: text/plain\n\n", "a" },
		{ "Subject: big\nContent-Type: text/html\n\n", "<b>word</b>&amp; " },
		{ "Subject: big\nContent-Transfer-Encoding: base64\n\n", "YWFh" },
		{ "Subject: big\nContent-Type: text/plain; charset=koi8-r\n\n",
		  "\xf0\xd2\xc9" }
	};
	discovery_stats st;
	size_t k, len;
	char *msg, *text;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		msg = big_message(kinds[k][0], kinds[k][1], 20u << 20, &len);
		text = extract_text(msg, len, &st);
		ck_assert_uint_eq(st.text_bytes, DISCOVERY_MAX_TEXT);
		ck_assert(st.truncated);
		ck_assert_ptr_nonnull(strstr(st.note, "text cut at"));
		g_free(text);
		g_free(msg);
	}
}
END_TEST

START_TEST(test_max_parse)
{
	discovery_stats st;
	size_t len;
	char *msg = big_message("Subject: long\n\n", "word ",
				(size_t)DISCOVERY_MAX_PARSE + 100, &len);
	char *text;

	text = extract_text(msg, len, &st);
	ck_assert(st.truncated);
	ck_assert_str_eq(st.note, "only the first 33554432 bytes parsed");
	ck_assert_uint_eq(st.text_bytes, DISCOVERY_MAX_TEXT);
	g_free(text);
	g_free(msg);
}
END_TEST

START_TEST(test_empty)
{
	discovery_stats st;
	char *log = extract_log("", &st);

	ck_assert_str_eq(log, "");
	ck_assert_uint_eq(st.parts, 0);
	ck_assert(st.malformed);
	ck_assert_str_eq(st.note, "empty message");
	g_free(log);
	log = extract_log("\n", &st);		/* an empty header, no body */
	ck_assert_str_eq(log, "");
	g_free(log);
}
END_TEST

START_TEST(test_no_headers)
{
	discovery_stats st;
	char *log = extract_log("Just some text\nwith no header\n", &st);

	ck_assert_str_eq(log, "text: {Just some text\nwith no header\n}\n");
	ck_assert(st.malformed);
	ck_assert_uint_eq(st.parts, 1);
	g_free(log);
	log = extract_log("\nbody after an empty header\n", &st);
	ck_assert_str_eq(log, "text: {body after an empty header\n}\n");
	g_free(log);
}
END_TEST

START_TEST(test_no_empty_line)
{
	discovery_stats st;
	char *log;

	/* a body that starts right after the header: GMime skips its lines
	 * as broken header fields; they are text */
	log = extract_log("From: a@example.com\nSubject: x\n"
			  "the body starts here\nand goes on\n"
			  "\nafter an empty line\n", &st);
	ck_assert_str_eq(log, "from: a@example.com\nsubject: x\n"
			 "text: {the body starts here\nand goes on\n}\n"
			 "text: {after an empty line\n}\n");
	ck_assert(st.malformed);
	ck_assert_ptr_nonnull(strstr(st.note, "invalid header field name"));
	g_free(log);
}
END_TEST

START_TEST(test_type_without_subtype)
{
	discovery_stats st;
	char *log;

	/* RFC 2045 5.2: an invalid Content-Type means text/plain */
	log = extract_log("Subject: t\nContent-Type: text; charset=us-ascii\n\n"
			  "readable words\n", &st);
	ck_assert_str_eq(log, "subject: t\ntext: {readable words\n}\n");
	ck_assert(st.malformed);
	g_free(log);
	/* a real application/octet-stream stays an attachment */
	log = extract_log("Subject: t\nContent-Type: application/octet-stream\n"
			  "\nbinary\n", &st);
	ck_assert_str_eq(log, "subject: t\n"
			 "attachment: (none) application/octet-stream\n");
	g_free(log);
}
END_TEST

START_TEST(test_nul_bytes)
{
	static const char msg[] = "Subject: a\0b\nFrom: x\0@y\n\n"
				  "before\0after\0\n\0";
	discovery_stats st;
	char *text = extract_text(msg, sizeof(msg) - 1, &st);

	ck_assert_str_eq(text, "beforeafter\n");
	g_free(text);
	/* only NULs */
	text = extract_text("\0\0\0\0", 4, &st);
	ck_assert_str_eq(text, "");
	g_free(text);
}
END_TEST

/* stop_at - msg with the sink saying stop (rc) at call n: the log */
static char *
stop_at(const char *msg, int n, int rc, mk_error *err)
{
	rec *r = rec_new();
	discovery_stats st;
	char *log;

	r->fail_at = n;
	r->fail_rc = rc;
	ck_assert_int_eq(run(r, msg, strlen(msg), &st, err), -1);
	ck_assert_int_eq(r->calls, n);
	log = g_strdup(r->log->str);
	rec_free(r);
	return log;
}

START_TEST(test_sink_stops)
{
	mk_error err;
	char *log;

	log = stop_at(plain_msg, 1, 1, &err);
	ck_assert_str_eq(log, "from: Alice Example <alice@example.com>\n");
	ck_assert_str_eq(err.msg, "discovery_extract: the sink's header"
			 " callback returned 1");
	g_free(log);
	log = stop_at(rfc822_msg, 2, 7, &err);
	ck_assert_str_eq(log, "subject: fwd\ntext: {See attached.\n}\n");
	ck_assert_str_eq(err.msg, "discovery_extract: the sink's text"
			 " callback returned 7");
	g_free(log);
	/* found by fuzz_extract: text after a header callback said stop */
	log = stop_at("From: a@example.com\nSubject: x\nno empty line\n", 2, 1,
		      &err);
	ck_assert_str_eq(log, "from: a@example.com\nsubject: x\n");
	g_free(log);
	log = stop_at(rfc822_msg, 3, -2, &err);
	ck_assert_ptr_nonnull(strstr(log, "attachment: forward.eml"));
	ck_assert_str_eq(err.msg, "discovery_extract: the sink's attachment"
			 " callback returned -2");
	g_free(log);
}
END_TEST

START_TEST(test_null_callbacks)
{
	discovery_sink sink = { NULL, NULL, NULL, NULL };
	discovery_stats st;
	mk_error err;

	ck_assert_int_eq(discovery_extract(rfc822_msg, strlen(rfc822_msg),
					   &sink, &st, &err), 0);
	ck_assert_uint_eq(st.parts, 4);
	ck_assert_uint_gt(st.text_bytes, 0);
	ck_assert_int_eq(discovery_extract(plain_msg, strlen(plain_msg),
					   &sink, NULL, NULL), 0);
}
END_TEST

/* Hostile headers guard.c keeps from GMime (see its DESCRIPTION). */

START_TEST(test_guard_parameters)
{
	GString *s = g_string_new("Subject: p\nContent-Type: text/plain");
	discovery_stats st;
	char *text;
	int i;

	for (i = 0; i < 40000; i++)
		g_string_append_printf(s, "; p%d=v", i);
	g_string_append(s, "\n\nthe body survives\n");
	text = extract_text(s->str, s->len, &st);
	ck_assert_str_eq(text, "the body survives\n");
	ck_assert(st.truncated);
	ck_assert_ptr_nonnull(strstr(st.note, "too many parameters"));
	g_free(text);
	g_string_free(s, TRUE);
}
END_TEST

/* nested_groups - extract "To: g:g:g:..." (what crashes GMime's stack
 * unguarded), in a thread with a small stack */
static void *
nested_groups(void *arg)
{
	GString *s = g_string_new("Subject: g\nTo: ");
	discovery_stats st;
	char *text;
	int i;

	(void)arg;
	for (i = 0; i < 20000; i++)
		g_string_append(s, "g:");
	g_string_append(s, "\n\nbody\n");
	text = extract_text(s->str, s->len, &st);
	ck_assert_str_eq(text, "body\n");
	ck_assert(st.truncated);
	ck_assert_ptr_nonnull(strstr(st.note, "nested too deep"));
	g_free(text);
	g_string_free(s, TRUE);
	return NULL;
}

START_TEST(test_guard_groups)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	ck_assert_int_eq(pthread_create(&t, &attr, nested_groups, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&attr);
}
END_TEST

START_TEST(test_guard_addresses)
{
	GString *s = g_string_new("Subject: a\nTo: ");
	discovery_stats st;
	rec *r = rec_new();
	mk_error err;
	int i;

	for (i = 0; i < 200000; i++)
		g_string_append_printf(s, "u%d@example.com, ", i);
	g_string_append(s, "last@example.com\n\nbody\n");
	r->quiet = true;
	ck_assert_int_eq(run(r, s->str, s->len, &st, &err), 0);
	ck_assert_str_eq(r->text->str, "body\n");
	ck_assert_ptr_nonnull(strstr(r->log->str, "u49998@example.com"));
	ck_assert_ptr_null(strstr(r->log->str, "last@example.com"));
	ck_assert(st.truncated);
	rec_free(r);
	g_string_free(s, TRUE);
}
END_TEST

START_TEST(test_guard_encoded_words)
{
	GString *s = g_string_new("Subject:");
	discovery_stats st;
	char *log;
	int i;

	for (i = 0; i < 30000; i++)
		g_string_append_printf(s, " =?iso-8859-%d?q?a?=", 1 + i % 9);
	g_string_append(s, "\n\nbody\n");
	log = extract_log(s->str, &st);
	ck_assert(g_str_has_prefix(log, "subject: aaa"));
	ck_assert(g_str_has_suffix(log, "text: {body\n}\n"));
	ck_assert(st.truncated);
	ck_assert_ptr_nonnull(strstr(st.note, "encoded words"));
	g_free(log);
	g_string_free(s, TRUE);
}
END_TEST

START_TEST(test_guard_structure)
{
	GString *s = g_string_new("Subject: parts\n"
				  "Content-Type: multipart/mixed; boundary=b\n\n");
	discovery_stats st;
	char *text;
	int i;

	/* a part every 7 bytes: 1.3 KB of GMime objects each */
	for (i = 0; i < 200000; i++)
		g_string_append(s, "--b\n\nx\n");
	text = extract_text(s->str, s->len, &st);
	ck_assert(st.truncated);
	ck_assert_uint_eq(st.parts, DISCOVERY_MAX_PARTS);
	ck_assert_ptr_nonnull(strstr(st.note, "too many header and boundary"));
	g_free(text);
	g_string_free(s, TRUE);
	/* 1,000 open boundaries, then millions of lines to compare */
	s = g_string_new("Subject: work\n");
	for (i = 0; i < 1000; i++)
		g_string_append_printf(s, "Content-Type: multipart/mixed;"
				       " boundary=%06d%06d%06d\n\n--%06d%06d%06d\n",
				       i, i, i, i, i, i);
	g_string_append(s, "Content-Type: text/plain\n\n");
	for (i = 0; i < 2000000; i++)
		g_string_append(s, "--\n");
	text = extract_text(s->str, s->len, &st);
	ck_assert(st.truncated);
	ck_assert_ptr_nonnull(strstr(st.note, "too many header and boundary"));
	g_free(text);
	g_string_free(s, TRUE);
}
END_TEST

/* One thread of test_threads. */
typedef struct thread_job {
	const char *want;
	int rounds;
	bool ok;
} thread_job;

/* thread_main - extract rfc822_msg job->rounds times, compare logs */
static void *
thread_main(void *arg)
{
	thread_job *job = arg;
	discovery_sink sink = { rec_header, rec_text, rec_attachment, NULL };
	discovery_stats st;
	mk_error err;
	int i;

	job->ok = true;
	for (i = 0; i < job->rounds; i++) {
		rec *r = rec_new();

		sink.ctx = r;
		if (discovery_extract(rfc822_msg, strlen(rfc822_msg), &sink, &st,
				      &err) != 0
		    || strcmp(r->log->str, job->want) != 0)
			job->ok = false;
		rec_free(r);
	}
	return NULL;
}

START_TEST(test_threads)
{
	discovery_stats st;
	char *want = extract_log(rfc822_msg, &st);
	thread_job jobs[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		jobs[i] = (thread_job){ want, 200, false };
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_main,
						&jobs[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert(jobs[i].ok);
	}
	g_free(want);
}
END_TEST

/* corpus_file - extract one file: 0 and valid UTF-8 everywhere; whether
 * it was malformed */
static bool
corpus_file(const char *path)
{
	discovery_stats st;
	rec *r = rec_new();
	mk_error err;
	gchar *data;
	gsize len;

	ck_assert_msg(g_file_get_contents(path, &data, &len, NULL), "%s", path);
	r->quiet = true;
	ck_assert_msg(run(r, data, len, &st, &err) == 0, "%s", path);
	ck_assert_msg(st.parts > 0 || len == 0, "%s: no part", path);
	rec_free(r);
	g_free(data);
	return st.malformed;
}

/* corpus_glob - every file pattern matches; how many */
static size_t
corpus_glob(const char *pattern, size_t *malformed)
{
	glob_t g;
	size_t i;

	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (i = 0; i < g.gl_pathc; i++)
		*malformed += corpus_file(g.gl_pathv[i]);
	globfree(&g);
	return i;
}

START_TEST(test_corpora)
{
	const char *top = getenv("top_srcdir");
	const char *py = getenv("MAILKEEP_EMAIL_TESTDATA");
	size_t n, bad = 0;
	char *pattern;

	if (top == NULL)
		top = ".";
	if (py == NULL)
		py = "/usr/lib/python3*/test/test_email/data";
	pattern = g_strdup_printf("%s/msg_*.txt", py);
	n = corpus_glob(pattern, &bad);
	if (n == 0)
		fprintf(stderr, "test_corpora: no %s (package"
			" libpython3.11-testsuite): skipped\n", pattern);
	g_free(pattern);
	pattern = g_strdup_printf("%s/tests/corpus/third-party/spamassassin/"
				  "*.txt", top);
	n += corpus_glob(pattern, &bad);
	g_free(pattern);
	pattern = g_strdup_printf("%s/tests/corpus/*.eml", top);
	n += corpus_glob(pattern, &bad);
	g_free(pattern);
	fprintf(stderr, "test_corpora: %zu messages extracted, %zu of them"
		" malformed\n", n, bad);
}
END_TEST

/* suite - every test above */
static Suite *
suite(void)
{
	Suite *s = suite_create("discovery_extract");
	TCase *tc = tcase_create("extract");
	TCase *big = tcase_create("hostile");

	tcase_add_test(tc, test_plain_ascii);
	tcase_add_test(tc, test_crlf_and_folding);
	tcase_add_test(tc, test_base64_part);
	tcase_add_test(tc, test_quoted_printable);
	tcase_add_test(tc, test_uuencode);
	tcase_add_test(tc, test_charsets);
	tcase_add_test(tc, test_unknown_charset);
	tcase_add_test(tc, test_rfc2047);
	tcase_add_test(tc, test_8bit_headers);
	tcase_add_test(tc, test_attachments);
	tcase_add_test(tc, test_html);
	tcase_add_test(tc, test_html_entities);
	tcase_add_test(tc, test_html_charset);
	tcase_add_test(tc, test_html_unterminated);
	tcase_add_test(tc, test_message_rfc822);
	tcase_add_test(tc, test_alternative);
	tcase_add_test(tc, test_signed);
	tcase_add_test(tc, test_broken_boundary);
	tcase_add_test(tc, test_bad_base64);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_no_headers);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_no_empty_line);
	tcase_add_test(tc, test_type_without_subtype);
	tcase_add_test(tc, test_sink_stops);
	tcase_add_test(tc, test_null_callbacks);
	suite_add_tcase(s, tc);
	/* big inputs: generous time for sanitizer builds, no timing asserted */
	tcase_set_timeout(big, 300);
	tcase_add_test(big, test_deep_nesting);
	tcase_add_test(big, test_deep_messages);
	tcase_add_test(big, test_many_parts);
	tcase_add_test(big, test_huge_line);
	tcase_add_test(big, test_max_parse);
	tcase_add_test(big, test_guard_parameters);
	tcase_add_test(big, test_guard_groups);
	tcase_add_test(big, test_guard_addresses);
	tcase_add_test(big, test_guard_encoded_words);
	tcase_add_test(big, test_guard_structure);
	tcase_add_test(big, test_threads);
	tcase_add_test(big, test_corpora);
	suite_add_tcase(s, big);
	return s;
}

/* main - run the suite */
int
main(void)
{
	return run_suite(suite());
}
