/*
 * test_discovery.c - unit tests of discovery/: text extraction from MIME
 * (extract.c), the envelope terms (envelope.c) and the full-text index
 * (fulltext.c) over a real archive.  The query language has its own
 * program, test_discovery_query.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>

#include <glib.h>
#include <sqlite3.h>

#include "discovery/discovery.h"
#include "tests/unit/archive_fixture.h"
#include "tests/unit/unit.h"

/* What a sink collected. */
typedef struct seen {
	GString *text, *headers, *attachments;
} seen;

static int
on_header(discovery_header which, const char *value, void *ctx)
{
	seen *s = ctx;

	ck_assert(g_utf8_validate(value, -1, NULL));
	g_string_append_printf(s->headers, "%d=%s\n", (int)which, value);
	return 0;
}

static int
on_text(const char *utf8, size_t len, void *ctx)
{
	seen *s = ctx;

	ck_assert(g_utf8_validate(utf8, (gssize)len, NULL));
	g_string_append_len(s->text, utf8, (gssize)len);
	g_string_append_c(s->text, '\n');
	return 0;
}

static int
on_attachment(const char *filename, const char *type, void *ctx)
{
	seen *s = ctx;

	g_string_append_printf(s->attachments, "%s|%s\n",
			       filename ? filename : "-", type);
	return 0;
}

/* extract - run discovery_extract over text; the caller frees with
 * seen_free */
static seen
extract(const char *text, size_t len, discovery_stats *st)
{
	seen s = { g_string_new(""), g_string_new(""), g_string_new("") };
	discovery_sink sink = { on_header, on_text, on_attachment, &s };
	mk_error err;

	ck_assert_msg(discovery_extract(text, len, &sink, st, &err) == 0,
		      "%s", err.msg);
	return s;
}

static void
seen_free(seen *s)
{
	g_string_free(s->text, TRUE);
	g_string_free(s->headers, TRUE);
	g_string_free(s->attachments, TRUE);
}

START_TEST(decodes_what_mime_encodes)
{
	static const char msg[] =
		"From: =?iso-8859-1?Q?J=FCrgen?= <j@example.com>\r\n"
		"To: a@example.com, \"B\" <b@example.com>\r\n"
		"Subject: =?utf-8?Q?Quartals=C3=BC?= =?utf-8?B?YmVyYmxpY2s=?=\r\n"
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
		"--b\r\nContent-Type: text/plain; charset=koi8-r\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n"
		"8NLJ18XUIMvSwcvP2tHC0sEK\r\n"
		"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		"flummoxed=\r\npelican\r\n"
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		"<p>hippo&amp;potamus&#233;</p><script>secret()</script><!-- x -->\r\n"
		"--b\r\nContent-Type: application/pdf\r\n"
		"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.pdf\r\n\r\n"
		"%PDF\r\n--b--\r\n";
	discovery_stats st;
	seen s = extract(msg, sizeof(msg) - 1, &st);

	ck_assert_ptr_nonnull(strstr(s.headers->str, "3=Quartalsüberblick"));
	ck_assert_ptr_nonnull(strstr(s.headers->str, "0=Jürgen <j@example.com>"));
	ck_assert_ptr_nonnull(strstr(s.text->str, "Привет кракозябра"));
	ck_assert_ptr_nonnull(strstr(s.text->str, "flummoxedpelican"));
	ck_assert_ptr_nonnull(strstr(s.text->str, "hippo&potamusé"));
	ck_assert_ptr_null(strstr(s.text->str, "secret"));
	ck_assert_str_eq(s.attachments->str, "€ rates.pdf|application/pdf\n");
	ck_assert_int_eq(st.attachments, 1);
	ck_assert(!st.truncated);
	seen_free(&s);
}
END_TEST

START_TEST(unknown_charset_still_gives_text)
{
	static const char msg[] = "Subject: x\r\nContent-Type: text/plain;"
		" charset=x-no-such-charset\r\n\r\ncaf\xe9 au lait\r\n";
	discovery_stats st;
	seen s = extract(msg, sizeof(msg) - 1, &st);

	ck_assert_ptr_nonnull(strstr(s.text->str, "café au lait"));
	ck_assert(st.malformed);
	seen_free(&s);
}
END_TEST

START_TEST(hostile_mime_is_bounded)
{
	GString *deep = g_string_new("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
	char *line = malloc(5 << 20);
	discovery_stats st;
	seen s;
	int i;

	for (i = 1; i < 1000; i++)
		g_string_append_printf(deep, "--b%d\r\nContent-Type: multipart/mixed;"
				       " boundary=\"b%d\"\r\n\r\n", i - 1, i);
	g_string_append(deep, "--b999\r\nContent-Type: text/plain\r\n\r\ndeepword\r\n");
	s = extract(deep->str, deep->len, &st);
	ck_assert(st.truncated);	/* DISCOVERY_MAX_DEPTH */
	ck_assert_int_le(st.parts, DISCOVERY_MAX_PARTS);
	seen_free(&s);
	g_string_free(deep, TRUE);
	/* one 5 MB line, empty input, no headers, NUL bytes */
	memcpy(line, "Subject: long\r\n\r\n", 17);
	memset(line + 17, 'a', (5 << 20) - 17);
	s = extract(line, 5 << 20, &st);
	ck_assert_int_le(st.text_bytes, DISCOVERY_MAX_TEXT);
	ck_assert(st.truncated);
	seen_free(&s);
	free(line);
	s = extract("", 0, &st);
	seen_free(&s);
	s = extract("no headers at all\r\n", 19, &st);
	seen_free(&s);
	s = extract("Subject: a\0b\r\n\r\nnul\0byte\r\n", 27, &st);
	seen_free(&s);
}
END_TEST

/* store - one message into the fixture's archive */
static void
store(archive *ar, const char *text, const char *from, const char *to,
      int64_t when, char id[ARCHIVE_ID_LEN + 1])
{
	const char *rcpts[] = { to };
	archive_envelope env = { .mail_from = from, .rcpts = rcpts, .n_rcpts = 1,
				 .received_at = when, .client_addr = "192.0.2.7" };
	mk_error err;
	archive_spool *sp = archive_spool_begin(ar, env.policy.retain_until, &err);

	ck_assert_msg(sp != NULL, "%s", err.msg);
	ck_assert_int_eq(archive_spool_write(sp, text, strlen(text), &err), 0);
	ck_assert_msg(archive_spool_commit(sp, &env, id, &err) == 0, "%s", err.msg);
}

/* Hits of a match. */
typedef struct hits {
	char ids[8][ARCHIVE_ID_LEN + 1];
	int n;
} hits;

static int
on_hit(const char *id, int64_t seq, void *ctx)
{
	hits *h = ctx;

	(void)seq;
	ck_assert_int_lt(h->n, 8);
	snprintf(h->ids[h->n++], ARCHIVE_ID_LEN + 1, "%s", id);
	return 0;
}

/* match - the ids query text finds, newest first */
static hits
match(discovery_index *di, const char *text)
{
	discovery_query q;
	mk_error err;
	hits h = { .n = 0 };
	bool used;

	ck_assert_msg(discovery_query_parse(text, &q, &err) == 0, "%s", err.msg);
	ck_assert_msg(discovery_index_match(di, &q, true, on_hit, &h, &used,
					    &err) == 0, "%s", err.msg);
	ck_assert(used);
	discovery_query_free(&q);
	return h;
}

START_TEST(index_trails_the_archive)
{
	char a[ARCHIVE_ID_LEN + 1], b[ARCHIVE_ID_LEN + 1], c[ARCHIVE_ID_LEN + 1];
	discovery_status st;
	discovery_index *di;
	mk_error err;
	size_t done;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	hits h;

	ck_assert_msg(ar != NULL, "%s", err.msg);
	store(ar, "Subject: budget\r\n\r\nThe merger talks.\r\n", "x@a.test", "y@b.test", 1, a);
	store(ar, "Subject: lunch\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n"
	      "\x1b$BM=;;JT@.\x1b(B\r\n", "x@a.test", "y@b.test", 2, b);
	ck_assert_ptr_nonnull(di = discovery_index_open(dir, &err));
	ck_assert_int_eq(discovery_index_status(di, ar, &st, &err), 0);
	ck_assert_int_eq(st.stored, 2);
	ck_assert_int_eq(st.lag_messages, 2);
	ck_assert_int_eq(discovery_index_step(di, ar, 1, &done, &err), 0);
	ck_assert_int_eq(done, 1);	/* batches of what was asked */
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert_int_eq(done, 0);	/* caught up */
	store(ar, "Subject: merger\r\n\r\nno body words\r\n", "z@c.test", "y@b.test", 3, c);
	ck_assert_int_eq(discovery_index_status(di, ar, &st, &err), 0);
	ck_assert_int_eq(st.lag_messages, 1);
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert_int_eq(discovery_index_status(di, ar, &st, &err), 0);
	ck_assert_int_eq(st.indexed, 3);
	ck_assert_int_eq(st.lag_messages, 0);
	ck_assert_int_eq(st.errors, 0);
	h = match(di, "merger");		/* body or subject, newest first */
	ck_assert_int_eq(h.n, 2);
	ck_assert_str_eq(h.ids[0], c);
	ck_assert_str_eq(h.ids[1], a);
	h = match(di, "subject:merger");
	ck_assert_int_eq(h.n, 1);
	ck_assert_str_eq(h.ids[0], c);
	h = match(di, "-merger");		/* negation alone */
	ck_assert_int_eq(h.n, 1);
	ck_assert_str_eq(h.ids[0], b);
	h = match(di, "\xe4\xba\x88\xe7\xae\x97");	/* a CJK word in ISO-2022-JP */
	ck_assert_int_eq(h.n, 1);
	ck_assert_str_eq(h.ids[0], b);
	h = match(di, "\"talks merger\"");	/* a phrase keeps its order */
	ck_assert_int_eq(h.n, 0);
	discovery_index_close(di);
	archive_close(ar);
}
END_TEST

/* First hits - stop after the first one */
static int
first_hit(const char *id, int64_t seq, void *ctx)
{
	(void)seq;
	snprintf(ctx, ARCHIVE_ID_LEN + 1, "%s", id);
	return 1;
}

/* The hits of a word come in ledger order either way, and a search that
 * stops at the first gets the newest (or oldest) one: FTS5 hands them in
 * rowid order, so the first come before all are found. */
START_TEST(hits_in_order_either_way)
{
	char ids[5][ARCHIVE_ID_LEN + 1], first[ARCHIVE_ID_LEN + 1] = "";
	discovery_query q;
	discovery_index *di;
	mk_error err;
	size_t done;
	bool used;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	int i;

	ck_assert_msg(ar != NULL, "%s", err.msg);
	for (i = 0; i < 5; i++)
		store(ar, "Subject: orchard\r\n\r\napple pie\r\n", "x@a.test",
		      "y@b.test", 1000 + i, ids[i]);
	ck_assert_ptr_nonnull(di = discovery_index_open(dir, &err));
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert_int_eq(discovery_query_parse("apple orchard", &q, &err), 0);
	ck_assert_int_eq(discovery_index_match(di, &q, true, first_hit, first,
					       &used, &err), 0);
	ck_assert_str_eq(first, ids[4]);
	ck_assert_int_eq(discovery_index_match(di, &q, false, first_hit, first,
					       &used, &err), 0);
	ck_assert_str_eq(first, ids[0]);
	discovery_query_free(&q);
	discovery_index_close(di);
	archive_close(ar);
}
END_TEST

START_TEST(envelope_terms)
{
	char *rcpts[] = { "Boss@Example.com", NULL };
	archive_message m = { .mail_from = "alice@a.test", .rcpts = rcpts,
			      .n_rcpts = 1, .received_at = 5000000, .size = 2048,
			      .client_addr = "2001:db8::1", .queue_id = "4ABC" };
	discovery_query q;
	mk_error err;
	struct { const char *text; bool want; } cases[] = {
		{"from:alice@a.test", true}, {"from:@A.TEST", true},
		{"from:bob@a.test from:alice@a.test", true},	/* OR */
		{"from:bob@a.test", false}, {"-from:alice@a.test", false},
		{"to:@example.com", true}, {"to:boss@example.com larger:2k", false},
		{"larger:1k smaller:3k", true}, {"client-ip:2001:db8:0::1", true},
		{"queue-id:4abc", true}, {"after:@4 before:@6", true},
		{"after:@6", false}, {"merger", true},	/* not an envelope term */
		{"party:alice@a.test", true}, {"party:@example.com", true},
		{"party:carol@a.test", false},
		{"party:carol@a.test party:boss@example.com", true},	/* OR */
		{"-party:@example.com", false},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(discovery_query_parse(cases[i].text, &q, &err) == 0,
			      "%s: %s", cases[i].text, err.msg);
		ck_assert_msg(discovery_envelope_matches(&q, &m) == cases[i].want,
			      "%s", cases[i].text);
		discovery_query_free(&q);
	}
}
END_TEST


/* held - discovery_held() of id */
static bool
held(discovery_index *di, const char *id)
{
	mk_error err;
	bool yes;

	ck_assert_msg(discovery_held(di, id, &yes, &err) == 0, "%s", err.msg);
	return yes;
}

/* hold_of - a hold as the service would hand it over */
static discovery_hold
hold_of(int64_t number, const char *name, const char *terms)
{
	discovery_hold h = { .number = number, .name = name, .terms = terms,
			     .time = 1, .by = "root", .reason = "case 1" };

	return h;
}

/* counted - discovery_hold_fn: the members of the hold listed */
static int
counted(const discovery_hold *h, void *ctx)
{
	*(int64_t *)ctx = h->members;
	return 0;
}

/* A hold covers what matches when it is made and what is indexed after,
 * the envelope alone when the text could not be read; released, it
 * covers nothing that expiry asks about. */
START_TEST(holds_cover_now_and_later)
{
	char a[ARCHIVE_ID_LEN + 1], b[ARCHIVE_ID_LEN + 1], c[ARCHIVE_ID_LEN + 1];
	char d[ARCHIVE_ID_LEN + 1], e[ARCHIVE_ID_LEN + 1];
	discovery_hold h = hold_of(1000, "case-1", "party:alice@a.test merger");
	discovery_hold env = hold_of(1001, "bob", "from:bob@a.test");
	int64_t members, offset, lines;
	discovery_index *di;
	mk_error err;
	size_t done;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	hits found;

	ck_assert_msg(ar != NULL, "%s", err.msg);
	store(ar, "Subject: x\r\n\r\nthe merger\r\n", "alice@a.test", "y@b.test", 1, a);
	store(ar, "Subject: x\r\n\r\nthe merger\r\n", "bob@a.test", "y@b.test", 2, b);
	store(ar, "Subject: x\r\n\r\nlunch\r\n", "y@b.test", "alice@a.test", 3, c);
	ck_assert_ptr_nonnull(di = discovery_index_open(dir, &err));
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert_msg(discovery_hold_create(di, ar, &h, 500, 7, &members, &err)
		      == 0, "%s", err.msg);
	ck_assert_int_eq(members, 1);
	ck_assert(held(di, a) && !held(di, b) && !held(di, c));
	ck_assert_int_eq(discovery_hold_synced(di, &offset, &lines, &err), 0);
	ck_assert(offset == 500 && lines == 7);
	/* made again (a repeat after a crash): left as it is */
	ck_assert_int_eq(discovery_hold_create(di, ar, &h, 600, 8, &members,
					       &err), 0);
	ck_assert_int_eq(members, 0);
	/* later mail: weighed as it is indexed; not yet indexed: kept */
	store(ar, "Subject: merger\r\n\r\nhi\r\n", "y@b.test", "Alice@A.test", 4, d);
	ck_assert(held(di, d));
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert(held(di, d));
	/* envelope terms only: the archive's search, indexed or not */
	store(ar, "Subject: q\r\n\r\nbody\r\n", "bob@a.test", "z@b.test", 5, e);
	ck_assert_int_eq(discovery_hold_create(di, ar, &env, 700, 9, &members,
					       &err), 0);
	ck_assert_int_eq(members, 2);
	found = match(di, "hold:case-1");
	ck_assert_int_eq(found.n, 2);
	ck_assert_str_eq(found.ids[0], d);
	ck_assert_str_eq(found.ids[1], a);
	ck_assert_int_eq(match(di, "hold:case-1 lunch").n, 0);
	ck_assert_int_eq(match(di, "merger -hold:bob").n, 2);
	ck_assert_int_eq(discovery_hold_list(di, "case-1", counted, &members,
					     &err), 0);
	ck_assert_int_eq(members, 2);
	/* released: no longer kept, still listed */
	h.released = 2000;
	h.released_by = "root";
	h.release_reason = "settled";
	ck_assert_int_eq(discovery_hold_release(di, &h, 800, 10, &err), 0);
	ck_assert(!held(di, a) && !held(di, d) && held(di, b));
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert(!held(di, c));
	discovery_index_close(di);
	archive_close(ar);
}
END_TEST

/* file_has - does the file at dir/name (or its WAL) hold text? */
static bool
file_has(const char *name, const char *text)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cat '%s/%s' '%s/%s-wal' 2>/dev/null |"
		 " grep -qaF '%s'", dir, name, dir, name, text);
	return system(cmd) == 0;
}

/* fts_ok - FTS5's own integrity check of the words table */
static void
fts_ok(void)
{
	char path[256], *msg = NULL;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", dir, DISCOVERY_INDEX_FILE);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, "INSERT INTO words(words) VALUES("
				   "'integrity-check')", NULL, NULL, &msg)
		      == SQLITE_OK, "%s", msg ? msg : "");
	sqlite3_close(db);
}

/* member_rows - hold_members rows of message id; with plan, whether the
 * delete forgetting does finds them through an index (no table scan) */
static int
member_rows(const char *id, bool *indexed)
{
	char path[256], *plan = NULL;
	sqlite3_stmt *st;
	sqlite3 *db;
	int n = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, DISCOVERY_INDEX_FILE);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM"
					    " hold_members WHERE id = ?", -1,
					    &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN DELETE FROM"
					    " hold_members WHERE id = ?", -1,
					    &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		plan = g_strdup((const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	*indexed = plan != NULL && strncmp(plan, "SEARCH", 6) == 0;
	g_free(plan);
	sqlite3_close(db);
	return n;
}

/* Forgetting takes a message's words out of every file of the index,
 * and its hold memberships (a released hold keeps them until then),
 * leaves the others findable, and may be repeated. */
START_TEST(forget_takes_the_words_out)
{
	char a[ARCHIVE_ID_LEN + 1], b[ARCHIVE_ID_LEN + 1];
	discovery_hold h = hold_of(1000, "all", "from:x@a.test");
	int64_t members;
	bool indexed;
	discovery_forget_stats st;
	discovery_forget *f;
	discovery_index *di;
	archive_message *m;
	mk_error err;
	size_t done;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	int i;

	ck_assert_msg(ar != NULL, "%s", err.msg);
	store(ar, "Subject: Zanzibarquux\r\n\r\nplover qwertyuniq 日本語\r\n",
	      "x@a.test", "y@b.test", 1, a);
	store(ar, "Subject: x\r\n\r\nplover keepme\r\n", "x@a.test", "y@b.test", 2, b);
	ck_assert_ptr_nonnull(di = discovery_index_open(dir, &err));
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	ck_assert_int_eq(match(di, "qwertyuniq").n, 1);
	ck_assert(file_has(DISCOVERY_INDEX_FILE, "qwertyuniq"));
	ck_assert_msg(discovery_hold_create(di, ar, &h, 500, 7, &members, &err)
		      == 0, "%s", err.msg);
	ck_assert_int_eq(members, 2);
	h.released = 2000;
	h.released_by = "root";
	h.release_reason = "settled";
	ck_assert_int_eq(discovery_hold_release(di, &h, 600, 8, &err), 0);
	ck_assert_int_eq(member_rows(a, &indexed), 1);
	ck_assert_msg(indexed, "hold_members_id does not serve a delete by id");
	ck_assert_int_eq(archive_lookup(ar, a, &m, &err), 0);
	for (i = 0; i < 2; i++) {	/* the second time: nothing to do */
		ck_assert_ptr_nonnull(f = discovery_forget_begin(di, ar, &err));
		ck_assert_msg(discovery_forget_message(f, m, &err) == 0, "%s",
			      err.msg);
		ck_assert_msg(discovery_forget_end(f, &st, &err) == 0, "%s",
			      err.msg);
		ck_assert_uint_eq(st.messages, i == 0);
		ck_assert_uint_eq(st.words, i == 0);
		ck_assert_uint_eq(st.mismatched, 0);
	}
	archive_message_free(m);
	ck_assert_int_eq(member_rows(a, &indexed), 0);
	ck_assert_int_eq(member_rows(b, &indexed), 1);
	ck_assert_int_eq(match(di, "qwertyuniq").n, 0);
	ck_assert_int_eq(match(di, "plover").n, 1);
	ck_assert_int_eq(match(di, "keepme").n, 1);
	ck_assert(!file_has(DISCOVERY_INDEX_FILE, "qwertyuniq"));
	ck_assert(!file_has(DISCOVERY_INDEX_FILE, "zanzibarquux"));
	fts_ok();
	discovery_index_close(di);
	archive_close(ar);
}
END_TEST


/* A run that stops after its deletions and before the merge leaves the
 * words in the file; the next run merges them even with nothing to
 * forget of its own. */
START_TEST(forget_stopped_before_the_merge_is_finished_later)
{
	char a[ARCHIVE_ID_LEN + 1];
	discovery_forget_stats st;
	discovery_forget *f;
	discovery_index *di;
	archive_message *m;
	mk_error err;
	size_t done;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	pid_t pid;
	int status;

	ck_assert_msg(ar != NULL, "%s", err.msg);
	store(ar, "Subject: s\r\n\r\nplover vorpalunique\r\n", "x@a.test",
	      "y@b.test", 1, a);
	ck_assert_ptr_nonnull(di = discovery_index_open(dir, &err));
	ck_assert_int_eq(discovery_index_step(di, ar, 100, &done, &err), 0);
	archive_close(ar);	/* no writer's thread across the fork */
	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_int_eq(archive_lookup(ar, a, &m, &err), 0);
	if ((pid = fork()) == 0) {	/* deletes, commits, dies */
		f = discovery_forget_begin(di, ar, &err);
		_exit(f == NULL || discovery_forget_message(f, m, &err) != 0
		      || discovery_forget_commit(f, &err) != 0 ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	archive_message_free(m);
	ck_assert_int_eq(match(di, "vorpalunique").n, 0);
	ck_assert(file_has(DISCOVERY_INDEX_FILE, "vorpalunique"));
	ck_assert_ptr_nonnull(f = discovery_forget_begin(di, ar, &err));
	ck_assert_msg(discovery_forget_end(f, &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.messages, 0);
	ck_assert(!file_has(DISCOVERY_INDEX_FILE, "vorpalunique"));
	fts_ok();
	discovery_index_close(di);
	archive_close(ar);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("discovery");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, decodes_what_mime_encodes);
	tcase_add_test(tc, unknown_charset_still_gives_text);
	tcase_add_test(tc, hostile_mime_is_bounded);
	tcase_add_test(tc, index_trails_the_archive);
	tcase_add_test(tc, hits_in_order_either_way);
	tcase_add_test(tc, envelope_terms);
	tcase_add_test(tc, holds_cover_now_and_later);
	tcase_add_test(tc, forget_takes_the_words_out);
	tcase_add_test(tc, forget_stopped_before_the_merge_is_finished_later);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
