/*
 * test_discovery_query.c - unit tests of the query language
 * (discovery/query.c) and of the date parser it shares with the command
 * line (common/timeparse.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/timeparse.h"
#include "discovery/discovery.h"
#include "tests/unit/unit.h"

#define JAN_1_2026 INT64_C(1767225600000000)	/* usec */

/* parse_ok - text parsed; fails the test when refused */
static discovery_query
parse_ok(const char *text)
{
	discovery_query q;
	mk_error err = { { 0 } };

	ck_assert_msg(discovery_query_parse(text, &q, &err) == 0,
		      "'%s' refused: %s", text, err.msg);
	return q;
}

/* one_term - text of one term parsed: that term (value copied into q's
 * ownership, which the caller frees) */
static discovery_term
one_term(const char *text, discovery_query *q)
{
	*q = parse_ok(text);
	ck_assert_msg(q->n == 1, "'%s' gave %zu terms", text, q->n);
	return q->terms[0];
}

/* expect_field - text is one term of field f with value v */
static void
expect_field(const char *text, discovery_field f, const char *v)
{
	discovery_query q;
	discovery_term t = one_term(text, &q);

	ck_assert_int_eq(t.field, f);
	if (v == NULL)
		ck_assert_ptr_null(t.value);
	else
		ck_assert_str_eq(t.value, v);
	discovery_query_free(&q);
}

/* expect_error - text is refused with an error containing want, and q
 * is left empty */
static void
expect_error(const char *text, const char *want)
{
	discovery_query q = { (discovery_term *)&q, 99 };
	mk_error err = { { 0 } };

	ck_assert_msg(discovery_query_parse(text, &q, &err) == -1,
		      "'%s' accepted", text);
	ck_assert_ptr_null(q.terms);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_msg(strstr(err.msg, want) != NULL,
		      "'%s': error \"%s\" lacks \"%s\"", text, err.msg, want);
}

/* same_terms - a and b have the same terms */
static void
same_terms(const discovery_query *a, const discovery_query *b)
{
	size_t i;

	ck_assert_uint_eq(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		ck_assert_int_eq(a->terms[i].field, b->terms[i].field);
		ck_assert_int_eq(a->terms[i].negated, b->terms[i].negated);
		ck_assert_int_eq(a->terms[i].phrase, b->terms[i].phrase);
		ck_assert(a->terms[i].number == b->terms[i].number);
		if (a->terms[i].value == NULL)
			ck_assert_ptr_null(b->terms[i].value);
		else
			ck_assert_str_eq(a->terms[i].value, b->terms[i].value);
	}
}

/* expect_format - text written canonically is want, which parses back
 * to the same terms */
static void
expect_format(const char *text, const char *want)
{
	discovery_query q = parse_ok(text), again;
	char *out = discovery_query_format(&q);

	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, want);
	again = parse_ok(out);
	same_terms(&q, &again);
	discovery_query_free(&again);
	discovery_query_free(&q);
	free(out);
}

/* expect_fts - the expressions of field f for text: fts and fts_not
 * (NULL: none) */
static void
expect_fts(const char *text, discovery_field f, const char *fts,
	   const char *fts_not)
{
	discovery_query q = parse_ok(text);
	bool none = false;
	char *e = discovery_query_fts(&q, f, &none);

	if (fts == NULL) {
		ck_assert_ptr_null(e);
		ck_assert(none);
	} else {
		ck_assert_msg(e != NULL && strcmp(e, fts) == 0,
			      "'%s': fts %s, not %s", text, e ? e : "NULL", fts);
		ck_assert(!none);
	}
	free(e);
	e = discovery_query_fts_not(&q, f, &none);
	if (fts_not == NULL) {
		ck_assert_ptr_null(e);
		ck_assert(none);
	} else {
		ck_assert_msg(e != NULL && strcmp(e, fts_not) == 0,
			      "'%s': fts_not %s, not %s", text, e ? e : "NULL",
			      fts_not);
		ck_assert(!none);
	}
	free(e);
	discovery_query_free(&q);
}

START_TEST(every_field)
{
	expect_field("from:alice@example.com", DQ_FROM, "alice@example.com");
	expect_field("from:@example.com", DQ_FROM, "@example.com");
	expect_field("to:bob@example.org", DQ_TO, "bob@example.org");
	expect_field("header-from:\"Alice Smith\"", DQ_HEADER_FROM,
		     "Alice Smith");
	expect_field("header-to:carol", DQ_HEADER_TO, "carol");
	expect_field("subject:budget", DQ_SUBJECT, "budget");
	expect_field("message-id:<a1@x.example>", DQ_MESSAGE_ID,
		     "<a1@x.example>");
	expect_field("attachment:report.pdf", DQ_ATTACHMENT, "report.pdf");
	expect_field("has:attachment", DQ_HAS_ATTACHMENT, NULL);
	expect_field("after:2026-01-01", DQ_AFTER, "2026-01-01T00:00:00Z");
	expect_field("before:2026-01-01", DQ_BEFORE, "2026-01-01T00:00:00Z");
	expect_field("larger:10k", DQ_LARGER, "10240");
	expect_field("smaller:5M", DQ_SMALLER, "5242880");
	expect_field("client-ip:192.0.2.1", DQ_CLIENT_IP, "192.0.2.1");
	expect_field("queue-id:4Fq2xK1z9Bz6", DQ_QUEUE_ID, "4Fq2xK1z9Bz6");
	expect_field("hold:case-17", DQ_HOLD, "case-17");
	expect_field("party:Alice@Example.COM", DQ_PARTY, "Alice@Example.COM");
	expect_field("party:@example.com", DQ_PARTY, "@example.com");
	expect_field("merger", DQ_TEXT, "merger");
	expect_field("\"board meeting\"", DQ_TEXT, "board meeting");
}
END_TEST

START_TEST(field_names)
{
	static const char *names[] = { "", "from", "to", "header-from",
		"header-to", "subject", "message-id", "attachment", "has",
		"after", "before", "larger", "smaller", "client-ip",
		"queue-id", "hold" };
	size_t f;

	for (f = 0; f < sizeof(names) / sizeof(names[0]); f++)
		ck_assert_str_eq(discovery_field_name((discovery_field)f),
				 names[f]);
	ck_assert_str_eq(discovery_field_name((discovery_field)99), "");
	expect_field("FROM:a@b", DQ_FROM, "a@b");
	expect_field("Header-From:a", DQ_HEADER_FROM, "a");
	expect_field("HAS:Attachment", DQ_HAS_ATTACHMENT, NULL);
}
END_TEST

START_TEST(the_example_of_the_issue)
{
	discovery_query q = parse_ok("from:alice@example.com subject:\"board"
				     " meeting\" after:2026-01-01 merger -draft");

	ck_assert_uint_eq(q.n, 5);
	ck_assert_int_eq(q.terms[0].field, DQ_FROM);
	ck_assert_int_eq(q.terms[1].field, DQ_SUBJECT);
	ck_assert_str_eq(q.terms[1].value, "board meeting");
	ck_assert(q.terms[1].phrase);
	ck_assert_int_eq(q.terms[2].field, DQ_AFTER);
	ck_assert(q.terms[2].number == JAN_1_2026);
	ck_assert_int_eq(q.terms[3].field, DQ_TEXT);
	ck_assert(!q.terms[3].negated && !q.terms[3].phrase);
	ck_assert_int_eq(q.terms[4].field, DQ_TEXT);
	ck_assert_str_eq(q.terms[4].value, "draft");
	ck_assert(q.terms[4].negated);
	discovery_query_free(&q);
	discovery_query_free(&q);	/* twice is harmless */
}
END_TEST

START_TEST(quoting_and_escapes)
{
	discovery_query q;

	expect_field("\"a \\\"b\\\" \\\\ c\"", DQ_TEXT, "a \"b\" \\ c");
	expect_field("a\\b", DQ_TEXT, "a\\b");	/* no escapes outside */
	expect_field("subject:\"x:y\"", DQ_SUBJECT, "x:y");
	expect_field("\"from:x\"", DQ_TEXT, "from:x");
	expect_field("  \t\n merger\r\n", DQ_TEXT, "merger");
	ck_assert(one_term("from:\"a@b\"", &q).phrase);
	discovery_query_free(&q);
	ck_assert(!one_term("from:a@b", &q).phrase);
	discovery_query_free(&q);
	expect_error("\"a\\n\"", "at byte 2: a backslash inside quotes");
	expect_error("ab\"c\"", "at byte 2: '\"' inside a word");
	expect_error("\"a\"b", "at byte 3: white space needed after a "
		     "closing quote");
	expect_error("\"a\tb\"", "at byte 2: a tab or line break");
	expect_error("x \"\"", "at byte 2: empty quotes");
	expect_error("from:\"\"", "at byte 5: from: needs a value");
	expect_error("from: alice", "at byte 0: from: needs a value");
	expect_error("from:", "at byte 0: from: needs a value");
}
END_TEST

START_TEST(negation)
{
	discovery_query q;
	discovery_term t;

	t = one_term("-draft", &q);
	ck_assert(t.negated && t.field == DQ_TEXT);
	ck_assert_str_eq(t.value, "draft");
	discovery_query_free(&q);
	t = one_term("-from:bob@x", &q);
	ck_assert(t.negated && t.field == DQ_FROM);
	discovery_query_free(&q);
	t = one_term("-\"x y\"", &q);
	ck_assert(t.negated && t.phrase);
	discovery_query_free(&q);
	t = one_term("e-mail", &q);
	ck_assert(!t.negated);
	discovery_query_free(&q);
	t = one_term("subject:-x", &q);		/* a value may start with - */
	ck_assert(!t.negated);
	ck_assert_str_eq(t.value, "-x");
	discovery_query_free(&q);
	expect_error("-", "at byte 0: '-' with nothing after it");
	expect_error("merger -", "at byte 7: '-' with nothing after it");
	expect_error("- merger", "at byte 0: '-' with nothing after it");
	expect_error("--x", "at byte 0: '--'");
}
END_TEST

START_TEST(dates)
{
	static const struct {
		const char *text;
		int64_t usec;
	} ok[] = {
		{ "after:2026-01-01", JAN_1_2026 },
		{ "after:2026-01-01T00:00:00Z", JAN_1_2026 },
		{ "after:2026-01-01t01:00:00+01:00", JAN_1_2026 },
		{ "after:2025-12-31T19:00:00-05:00", JAN_1_2026 },
		{ "after:2026-01-01T00:00:00.25z", JAN_1_2026 + 250000 },
		{ "after:2026-01-01T00:00:00.0000019", JAN_1_2026 + 1 },
		{ "after:\"2026-01-01 00:00:01\"", JAN_1_2026 + 1000000 },
		{ "after:@1767225600", JAN_1_2026 },
		{ "after:@-1", -1000000 },
		{ "after:2025-12-31T23:59:60Z", JAN_1_2026 },
		{ "before:0000-01-01", INT64_C(-62167219200000000) },
		{ "before:9999-12-31T23:59:59.999999Z",
		  INT64_C(253402300799999999) },
	};
	discovery_query q;
	discovery_term t;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		t = one_term(ok[i].text, &q);
		ck_assert_msg(t.number == ok[i].usec, "%s: %lld", ok[i].text,
			      (long long)t.number);
		ck_assert(!t.phrase);
		discovery_query_free(&q);
	}
	expect_error("after:2026-13-01", "at byte 6: after: bad date "
		     "'2026-13-01' (use YYYY-MM-DD");
	expect_error("after:2026-02-29", "bad date");
	expect_error("before:2026-1-1", "at byte 7: before: bad date");
	expect_error("after:yesterday", "bad date");
	expect_error("after:2026-01-01T25:00:00Z", "bad date");
	expect_error("after:2026-01-01T10:00", "bad date");
	expect_error("after:@", "bad date");
	expect_error("after:@1x", "bad date");
	expect_error("after:@99999999999999999999", "bad date");
	expect_error("after:@-62167219201", "outside the years 0000 to 9999");
	expect_error("after:@253402300800", "outside the years 0000 to 9999");
	expect_error("after:2026-01-01 merger after:2026-02-01",
		     "at byte 24: after: given twice");
	expect_error("-before:2026-01-01 before:2027-01-01", "given twice");
}
END_TEST

START_TEST(sizes)
{
	static const struct {
		const char *text;
		int64_t bytes;
	} ok[] = {
		{ "larger:0", 0 }, { "larger:100", 100 },
		{ "larger:10k", 10240 }, { "larger:10K", 10240 },
		{ "larger:5m", 5242880 }, { "larger:1G", 1073741824 },
		{ "larger:007k", 7168 },
		{ "larger:9223372036854775807", INT64_MAX },
		{ "larger:8589934591G", INT64_C(8589934591) << 30 },
	};
	discovery_query q;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert(one_term(ok[i].text, &q).number == ok[i].bytes);
		discovery_query_free(&q);
	}
	expect_error("larger:k", "at byte 7: larger: bad size 'k'");
	expect_error("smaller:10kb", "smaller: bad size");
	expect_error("larger:1.5M", "bad size");
	expect_error("larger:-1", "bad size");
	expect_error("larger:10T", "bad size");
	expect_error("larger:9223372036854775808", "is more than "
		     "9223372036854775807 bytes");
	expect_error("larger:8589934592G", "is more than");
	expect_error("larger:99999999999999999999999k", "is more than");
	expect_error("larger:1k larger:2k", "given twice");
}
END_TEST

START_TEST(message_ids)
{
	expect_field("message-id:abc@x", DQ_MESSAGE_ID, "<abc@x>");
	expect_field("message-id:<abc@x>", DQ_MESSAGE_ID, "<abc@x>");
	expect_field("Message-ID:\"a b@x\"", DQ_MESSAGE_ID, "<a b@x>");
	expect_field("message-id:<abc", DQ_MESSAGE_ID, "<abc");	/* as cli */
}
END_TEST

START_TEST(ip_addresses)
{
	expect_field("client-ip:127.0.0.1", DQ_CLIENT_IP, "127.0.0.1");
	expect_field("client-ip:::1", DQ_CLIENT_IP, "::1");
	expect_field("client-ip:2001:DB8:0:0:0:0:0:1", DQ_CLIENT_IP,
		     "2001:db8::1");
	expect_field("client-ip:::ffff:192.0.2.1", DQ_CLIENT_IP,
		     "::ffff:192.0.2.1");
	expect_error("client-ip:256.1.1.1", "at byte 10: client-ip: "
		     "'256.1.1.1' is not an IPv4 or IPv6 address");
	expect_error("client-ip:1.2.3", "not an IPv4 or IPv6");
	expect_error("client-ip:fe80::1%eth0", "not an IPv4 or IPv6");
	expect_error("client-ip:[::1]", "not an IPv4 or IPv6");
	expect_error("client-ip:::g", "not an IPv4 or IPv6");
	expect_error("client-ip:mail.example.com", "not an IPv4 or IPv6");
}
END_TEST

START_TEST(other_values)
{
	expect_error("from:@", "at byte 5: from: '@' needs a domain");
	expect_error("to:@", "to: '@' needs a domain");
	expect_error("queue-id:\"a b\"", "at byte 9: queue-id: takes one word");
	expect_error("hold:\"a b\"", "hold: takes one word");
	expect_field("hold:\"a\"", DQ_HOLD, "a");
	expect_error("has:attachments", "at byte 4: has: takes only "
		     "'attachment'");
	expect_error("has:attachment -has:attachment", "has: given twice");
}
END_TEST

START_TEST(words_with_colons)
{
	expect_error("form:alice", "at byte 0: unknown field 'form:' (did you "
		     "mean 'from:'?); the fields are from to header-from "
		     "header-to subject message-id attachment has after before "
		     "larger smaller client-ip queue-id hold party; put a word with a "
		     "colon in quotes");
	expect_error("merger subjct:x", "at byte 7: unknown field 'subjct:' "
		     "(did you mean 'subject:'?)");
	expect_error("re:budget", "unknown field 're:'; the fields");
	expect_error("mailto:bob@x", "unknown field 'mailto:'; the fields");
	expect_error("-frm:x", "at byte 1: unknown field 'frm:'");
	expect_field("http://example.com/a?b=c", DQ_TEXT,
		     "http://example.com/a?b=c");
	expect_field("10:30", DQ_TEXT, "10:30");
	expect_field("\"re:budget\"", DQ_TEXT, "re:budget");
	expect_field("from:a:b", DQ_FROM, "a:b");
}
END_TEST

START_TEST(tokens)
{
	expect_error("research & development", "at byte 9: '&' holds no "
		     "letter or digit");
	expect_error("*", "'*' holds no letter or digit");
	expect_error("-!!!", "at byte 1: '!!!' holds no letter");
	expect_error("subject:\"...\"", "at byte 8: '...' holds no letter");
	expect_error("\xe2\x80\xa6", "holds no letter");	/* U+2026 */
	expect_error("\xf0\x9f\x8e\x89", "holds no letter");	/* emoji */
	expect_field("\"& co\"", DQ_TEXT, "& co");
	expect_field("caf\xc3\xa9", DQ_TEXT, "caf\xc3\xa9");
	expect_field("\xe6\x97\xa5\xe6\x9c\xac", DQ_TEXT,
		     "\xe6\x97\xa5\xe6\x9c\xac");
	expect_field("\xe2\x85\xa2", DQ_TEXT, "\xe2\x85\xa2");	/* Nl */
	expect_field("header-from:&", DQ_HEADER_FROM, "&");	/* not FTS */
}
END_TEST

START_TEST(unterminated_quotes)
{
	expect_error("merger \"board meeting", "at byte 7: unterminated "
		     "quote");
	expect_error("subject:\"abc", "at byte 8: unterminated quote");
	expect_error("\"abc\\\"", "at byte 0: unterminated quote");
	expect_error("\"abc\\", "at byte 0: unterminated quote");
}
END_TEST

START_TEST(limits)
{
	char text[DISCOVERY_MAX_QUERY + 2];
	discovery_query q;
	size_t i;

	memset(text, 'a', DISCOVERY_MAX_QUERY);
	text[DISCOVERY_MAX_QUERY] = '\0';
	q = parse_ok(text);
	discovery_query_free(&q);
	strcpy(text + DISCOVERY_MAX_QUERY, "a");
	expect_error(text, "at byte 4096: the query is longer than 4096 bytes");
	for (i = 0; i < DISCOVERY_MAX_TERMS; i++)
		memcpy(text + 2 * i, "a ", 2);
	text[2 * DISCOVERY_MAX_TERMS - 1] = '\0';
	q = parse_ok(text);
	ck_assert_uint_eq(q.n, DISCOVERY_MAX_TERMS);
	discovery_query_free(&q);
	strcpy(text + 2 * DISCOVERY_MAX_TERMS - 1, " b");
	expect_error(text, "at byte 128: more than 64 terms");
}
END_TEST

START_TEST(canonical_text_is_bounded_too)
{
	char text[DISCOVERY_MAX_QUERY + 1];
	size_t i, n = 0;

	for (i = 0; i < 63; i++)
		n += (size_t)sprintf(text + n, "message-id:a ");
	memset(text + n, 'w', DISCOVERY_MAX_QUERY - n);
	text[DISCOVERY_MAX_QUERY] = '\0';
	expect_error(text, "at byte 819: the query is longer than 4096 bytes "
		     "once written out in full");
}
END_TEST

START_TEST(utf8_and_control_characters)
{
	expect_error("caf\xc3", "at byte 3: not valid UTF-8");
	expect_error("a \xff", "at byte 2: not valid UTF-8");
	expect_error("\xc0\xaf", "at byte 0: not valid UTF-8");	/* overlong */
	expect_error("x\xed\xa0\x80", "at byte 1: not valid UTF-8");
	expect_error("\xf4\x90\x80\x80", "not valid UTF-8");	/* > 10FFFF */
	expect_error("subject:\"\xe2\x82\"", "at byte 9: not valid UTF-8");
	expect_error("a\x01" "b", "at byte 1: a control character");
	expect_error("a\x7f", "at byte 1: a control character");
	expect_error("a\xc2\x85", "at byte 1: a control character");	/* NEL */
	expect_error("\"a\x1b\"", "at byte 2: a control character");
}
END_TEST

START_TEST(empty_query_selects_everything)
{
	discovery_query q;
	bool none = false;
	char *s;

	q = parse_ok("");
	ck_assert_uint_eq(q.n, 0);
	ck_assert_ptr_null(q.terms);
	s = discovery_query_format(&q);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_ptr_null(discovery_query_fts(&q, DQ_TEXT, &none));
	ck_assert(none);
	discovery_query_free(&q);
	q = parse_ok(" \t\r\n ");
	ck_assert_uint_eq(q.n, 0);
	discovery_query_free(&q);
	expect_error(NULL, "at byte 0: no query");
}
END_TEST

START_TEST(format_round_trips)
{
	expect_format("FROM:alice@example.com  Subject:\"board meeting\"   "
		      "after:2026-01-01 merger -draft",
		      "from:alice@example.com subject:\"board meeting\" "
		      "after:2026-01-01T00:00:00Z merger -draft");
	expect_format("larger:10k SMALLER:1g", "larger:10240 smaller:1073741824");
	expect_format("after:\"2026-01-01 10:00:00.5+01:00\"",
		      "after:2026-01-01T09:00:00.500000Z");
	expect_format("before:@0", "before:1970-01-01T00:00:00Z");
	expect_format("message-id:abc@x", "message-id:<abc@x>");
	expect_format("message-id:\"a b\"", "message-id:\"<a b>\"");
	expect_format("\"from:x\" \"-x\" \"x\"", "\"from:x\" \"-x\" \"x\"");
	expect_format("\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\"");
	expect_format("a\\b", "a\\b");
	expect_format("has:\"ATTACHMENT\"", "has:attachment");
	expect_format("client-ip:\"2001:DB8:0:0::1\"", "client-ip:2001:db8::1");
	expect_format("http://x.example/ 10:30", "http://x.example/ 10:30");
	expect_format("subject:-x -subject:a:b", "subject:-x -subject:a:b");
	expect_format("hold:\"h1\" queue-id:Q1", "hold:\"h1\" queue-id:Q1");
	expect_format("-\"x y\" -has:attachment", "-\"x y\" -has:attachment");
}
END_TEST

START_TEST(format_quotes_what_must_be)
{
	discovery_term t[] = {
		{ DQ_TEXT, "-x", false, false, 0 },
		{ DQ_TEXT, "from:x", false, false, 0 },
		{ DQ_TEXT, "form:x", false, true, 0 },
		{ DQ_TEXT, "a b", false, false, 0 },
		{ DQ_TEXT, "http://x", false, false, 0 },
		{ DQ_FROM, "a\"b", false, false, 0 },
		{ DQ_SUBJECT, "-x", false, false, 0 },
	};
	discovery_query q = { t, sizeof(t) / sizeof(t[0]) };
	char *s = discovery_query_format(&q);

	ck_assert_str_eq(s, "\"-x\" \"from:x\" -\"form:x\" \"a b\" http://x "
			 "from:\"a\\\"b\" subject:-x");
	free(s);
}
END_TEST

START_TEST(fts_expressions)
{
	expect_fts("merger", DQ_TEXT, "\"merger\"", NULL);
	expect_fts("merger acquisition", DQ_TEXT,
		   "\"merger\" AND \"acquisition\"", NULL);
	expect_fts("\"board meeting\" merger -draft", DQ_TEXT,
		   "(\"board meeting\" AND \"merger\") NOT \"draft\"", NULL);
	expect_fts("merger -draft -\"to do\"", DQ_TEXT,
		   "\"merger\" NOT (\"draft\" OR \"to do\")", NULL);
	expect_fts("-draft -spam", DQ_TEXT, NULL, "\"draft\" OR \"spam\"");
	expect_fts("subject:a subject:b -subject:c", DQ_SUBJECT,
		   "(\"a\" OR \"b\") NOT \"c\"", NULL);
	expect_fts("subject:a subject:b -subject:c", DQ_TEXT, NULL, NULL);
	expect_fts("-subject:c", DQ_SUBJECT, NULL, "\"c\"");
	expect_fts("attachment:report attachment:\"q3 plan\"", DQ_ATTACHMENT,
		   "\"report\" OR \"q3 plan\"", NULL);
	expect_fts("from:a@b merger", DQ_FROM, NULL, NULL);
	expect_fts("merger", DQ_SUBJECT, NULL, NULL);
}
END_TEST

START_TEST(fts_of_hostile_input)
{
	expect_fts("NEAR(a b)", DQ_TEXT, "\"NEAR(a\" AND \"b)\"", NULL);
	expect_fts("\"NEAR(a b)\"", DQ_TEXT, "\"NEAR(a b)\"", NULL);
	expect_fts("a OR b", DQ_TEXT, "\"a\" AND \"OR\" AND \"b\"", NULL);
	expect_fts("NOT a", DQ_TEXT, "\"NOT\" AND \"a\"", NULL);
	expect_fts("\"\\\"x\"", DQ_TEXT, "\"\"\"x\"", NULL);
	expect_fts("\"col:val\"", DQ_TEXT, "\"col:val\"", NULL);
	expect_fts("a* ^b", DQ_TEXT, "\"a*\" AND \"^b\"", NULL);
	expect_fts("\"a\\\" OR \\\"b\"", DQ_TEXT, "\"a\"\" OR \"\"b\"", NULL);
	expect_fts("subject:\"x\\\" OR subject:\\\"y\"", DQ_SUBJECT,
		   "\"x\"\" OR subject:\"\"y\"", NULL);
	expect_fts("subject:{a}+b", DQ_SUBJECT, "\"{a}+b\"", NULL);
}
END_TEST

/* fts_count - rows of t the text query's DQ_TEXT terms select, as a
 * caller of discovery.h would ask SQLite; -1 on an SQLite error */
static int
fts_count(sqlite3 *db, const char *text)
{
	discovery_query q = parse_ok(text);
	bool none, none_not;
	char *e = discovery_query_fts(&q, DQ_TEXT, &none);
	char *e_not = discovery_query_fts_not(&q, DQ_TEXT, &none_not);
	sqlite3_stmt *st;
	int n = -1;

	ck_assert(sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE "
		  "(?1 IS NULL OR rowid IN (SELECT rowid FROM t WHERE t MATCH "
		  "?1)) AND (?2 IS NULL OR rowid NOT IN (SELECT rowid FROM t "
		  "WHERE t MATCH ?2))", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, e, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e_not, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	free(e);
	free(e_not);
	discovery_query_free(&q);
	return n;
}

START_TEST(fts_in_sqlite)
{
	static const char *rows[] = {
		"the merger was agreed at the board meeting",
		"draft: merger and acquisition",
		"a OR b near(a b) col:val",
		"spam spam spam",
		"caf\xc3\xa9 \"quoted\" text",
	};
	sqlite3 *db;
	size_t i;
	char sql[200];

	ck_assert(sqlite3_open(":memory:", &db) == SQLITE_OK);
	ck_assert(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(body)",
			       NULL, NULL, NULL) == SQLITE_OK);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *s = sqlite3_mprintf("%Q", rows[i]);

		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES(%s)", s);
		sqlite3_free(s);
		ck_assert(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	}
	ck_assert_int_eq(fts_count(db, ""), 5);
	ck_assert_int_eq(fts_count(db, "merger"), 2);
	ck_assert_int_eq(fts_count(db, "merger -draft"), 1);
	ck_assert_int_eq(fts_count(db, "\"board meeting\""), 1);
	ck_assert_int_eq(fts_count(db, "\"meeting board\""), 0);
	ck_assert_int_eq(fts_count(db, "-merger"), 3);
	ck_assert_int_eq(fts_count(db, "-merger -spam"), 2);
	ck_assert_int_eq(fts_count(db, "a OR b"), 1);
	ck_assert_int_eq(fts_count(db, "NEAR(a b)"), 1);
	ck_assert_int_eq(fts_count(db, "\"col:val\""), 1);
	ck_assert_int_eq(fts_count(db, "\"\\\"quoted\\\"\""), 1);
	ck_assert_int_eq(fts_count(db, "CAF\xc3\x89"), 1);
	ck_assert_int_eq(fts_count(db, "merger* ^merger"), 2);
	sqlite3_close(db);
}
END_TEST

START_TEST(timeparse_forms)
{
	static const struct {
		const char *text;
		int64_t usec;
	} ok[] = {
		{ "1970-01-01", 0 },
		{ "2026-01-01", JAN_1_2026 },
		{ "2024-02-29", INT64_C(1709164800000000) },
		{ "2026-01-01T00:00:00Z", JAN_1_2026 },
		{ "2026-01-01T00:00:00", JAN_1_2026 },
		{ "2026-01-01 00:00:00z", JAN_1_2026 },
		{ "2026-01-01t02:30:00+02:30", JAN_1_2026 },
		{ "2026-01-01T00:00:00.123456789Z", JAN_1_2026 + 123456 },
		{ "2025-12-31T23:59:60Z", JAN_1_2026 },
		{ "@0", 0 },
		{ "@-86400", INT64_C(-86400000000) },
		{ "@9223372036854", INT64_C(9223372036854000000) },
	};
	static const char *bad[] = { "", "2026", "2026-01", "2026-1-01",
		"2026-00-10", "2026-01-32", "2025-02-29", "2026-01-01T",
		"2026-01-01T00:00", "2026-01-01T24:00:00", "2026-01-01T00:60:00",
		"2026-01-01T00:00:61", "2026-01-01T00:00:00.", "2026-01-01T00:00:00+1",
		"2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00ZZ",
		"2026-01-01x", "@", "@-", "@+1", "@1.5", "@9223372036855",
		"yesterday", " 2026-01-01" };
	int64_t usec;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(mk_time_parse(ok[i].text, &usec) == 0, "%s",
			      ok[i].text);
		ck_assert_msg(usec == ok[i].usec, "%s: %lld", ok[i].text,
			      (long long)usec);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(mk_time_parse(bad[i], &usec) == -1, "'%s' "
			      "accepted", bad[i]);
}
END_TEST

START_TEST(timeparse_format)
{
	static const struct {
		int64_t usec;
		const char *text;
	} ok[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ 1, "1970-01-01T00:00:00.000001Z" },
		{ -1, "1969-12-31T23:59:59.999999Z" },
		{ JAN_1_2026 + 500000, "2026-01-01T00:00:00.500000Z" },
		{ INT64_C(-62167219200000000), "0000-01-01T00:00:00Z" },
		{ INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z" },
	};
	char buf[MK_TIME_TEXT_MAX];
	int64_t back;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(mk_time_format(ok[i].usec, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, ok[i].text);
		ck_assert_int_eq(mk_time_parse(buf, &back), 0);
		ck_assert(back == ok[i].usec);
	}
	ck_assert_int_eq(mk_time_format(INT64_C(-62167219200000001), buf,
					sizeof(buf)), -1);
	ck_assert_int_eq(mk_time_format(INT64_C(253402300800000000), buf,
					sizeof(buf)), -1);
	ck_assert_int_eq(mk_time_format(INT64_MIN, buf, sizeof(buf)), -1);
	ck_assert_int_eq(mk_time_format(INT64_MAX, buf, sizeof(buf)), -1);
	ck_assert_int_eq(mk_time_format(1, buf, 20), -1);	/* too small */
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("discovery_query");
	TCase *tc = tcase_create("query");
	TCase *tt = tcase_create("timeparse");

	tcase_add_test(tc, every_field);
	tcase_add_test(tc, field_names);
	tcase_add_test(tc, the_example_of_the_issue);
	tcase_add_test(tc, quoting_and_escapes);
	tcase_add_test(tc, negation);
	tcase_add_test(tc, dates);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, message_ids);
	tcase_add_test(tc, ip_addresses);
	tcase_add_test(tc, other_values);
	tcase_add_test(tc, words_with_colons);
	tcase_add_test(tc, tokens);
	tcase_add_test(tc, unterminated_quotes);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, canonical_text_is_bounded_too);
	tcase_add_test(tc, utf8_and_control_characters);
	tcase_add_test(tc, empty_query_selects_everything);
	tcase_add_test(tc, format_round_trips);
	tcase_add_test(tc, format_quotes_what_must_be);
	tcase_add_test(tc, fts_expressions);
	tcase_add_test(tc, fts_of_hostile_input);
	tcase_add_test(tc, fts_in_sqlite);
	suite_add_tcase(s, tc);
	tcase_add_test(tt, timeparse_forms);
	tcase_add_test(tt, timeparse_format);
	suite_add_tcase(s, tt);
	return run_suite(s);
}
