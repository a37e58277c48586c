/*
 * test_import.c - unit tests of the import reader (import/import.h).
 *
 * NAME
 *	test_import - mbox splitting, Maildirs, message files, the derived
 *	envelope, every skip reason, a 100 MB message
 *
 * DESCRIPTION
 *	Every test runs a source through a recording sink that checks the
 *	order of the calls import.h promises (begin, then envelope,
 *	chunk..., end, or skip), that no chunk is longer than IMPORT_CHUNK,
 *	and keeps what each message was: its bytes, origin, envelope, notes
 *	or skip reason.  The mbox round trip builds the mbox of FORMAT.md
 *	9.1 here, independently of discovery/export.c, from every message of
 *	tests/corpus and tests/corpus/third-party (when install-deps.sh
 *	fetched it) and from hand-made awkward ones, and reads it back.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "import/import.h"
#include "import/internal.h"
#include "tests/unit/unit.h"

#define SEP	"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"

/* One message (or skip) as the sink saw it. */
typedef struct item {
	GString *bytes;
	char *reason;			/* skipped: why */
	char *path, *from_sender;
	int64_t offset, from_date;
	uint64_t number;
	bool has_from_date, has_env, ended;
	import_envelope env;		/* copies of the strings */
	unsigned notes;
	uint64_t size;
} item;

/* What a recording sink saw. */
typedef struct rec {
	GPtrArray *items;		/* item * */
	item *cur;
	int state;			/* 0 idle, 1 begun, 2 envelope, 3 chunks */
	bool keep;			/* keep bytes (not for 100 MB) */
	size_t max_chunk;
	uint64_t bytes;
	GChecksum *sha;
	int stop_at;			/* the call (1...) that says stop */
	int calls;
} rec;

/* answer - the sink's answer: stop at call stop_at */
static int
answer(rec *r)
{
	return ++r->calls == r->stop_at ? 1 : 0;
}

/* strv_dup - a copy of n strings */
static char **
strv_dup(char *const *v, size_t n)
{
	char **c = calloc(n + 1, sizeof(char *));
	size_t i;

	for (i = 0; i < n; i++)
		c[i] = strdup(v[i]);
	return c;
}

/* on_begin - sink->begin */
static int
on_begin(const import_origin *o, void *ctx)
{
	rec *r = ctx;
	item *it = calloc(1, sizeof(*it));

	ck_assert_int_eq(r->state, 0);
	ck_assert_ptr_nonnull(o->path);
	it->bytes = g_string_new(NULL);
	it->path = strdup(o->path);
	it->from_sender = o->from_sender ? strdup(o->from_sender) : NULL;
	it->offset = o->offset;
	it->number = o->number;
	it->has_from_date = o->has_from_date;
	it->from_date = o->from_date;
	g_ptr_array_add(r->items, it);
	r->cur = it;
	r->state = 1;
	if (r->sha != NULL)
		g_checksum_free(r->sha);
	r->sha = g_checksum_new(G_CHECKSUM_SHA256);
	r->bytes = 0;
	return answer(r);
}

/* on_envelope - sink->envelope */
static int
on_envelope(const import_envelope *e, void *ctx)
{
	rec *r = ctx;
	item *it = r->cur;

	ck_assert_int_eq(r->state, 1);
	ck_assert(e->derived);
	it->has_env = true;
	it->env = *e;
	it->env.mail_from = e->mail_from ? strdup(e->mail_from) : NULL;
	it->env.message_id = e->message_id ? strdup(e->message_id) : NULL;
	it->env.subject = e->subject ? strdup(e->subject) : NULL;
	it->env.date = e->date ? strdup(e->date) : NULL;
	it->env.rcpts = strv_dup(e->rcpts, e->n_rcpts);
	r->state = 2;
	return answer(r);
}

/* on_chunk - sink->chunk */
static int
on_chunk(const char *buf, size_t len, void *ctx)
{
	rec *r = ctx;

	ck_assert(r->state == 2 || r->state == 3);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, IMPORT_CHUNK);
	if (len > r->max_chunk)
		r->max_chunk = len;
	if (r->keep)
		g_string_append_len(r->cur->bytes, buf, (gssize)len);
	g_checksum_update(r->sha, (const guchar *)buf, (gssize)len);
	r->bytes += len;
	r->state = 3;
	return answer(r);
}

/* on_end - sink->end */
static int
on_end(const import_done *d, void *ctx)
{
	rec *r = ctx;

	ck_assert(r->state == 2 || r->state == 3);
	ck_assert_uint_eq(d->size, r->bytes);
	r->cur->ended = true;
	r->cur->notes = d->notes;
	r->cur->size = d->size;
	r->state = 0;
	return answer(r);
}

/* on_skip - sink->skip */
static int
on_skip(const char *reason, void *ctx)
{
	rec *r = ctx;

	ck_assert_int_ne(r->state, 0);
	ck_assert_ptr_nonnull(reason);
	r->cur->reason = strdup(reason);
	r->state = 0;
	return answer(r);
}

static const import_sink sink = { on_begin, on_envelope, on_chunk, on_end,
	on_skip };

static GPtrArray *recs;		/* every recording of a test, freed after it */

/* item_free - one item and its copies */
static void
item_free(gpointer p)
{
	item *it = p;
	size_t i;

	g_string_free(it->bytes, TRUE);
	free(it->reason);
	free(it->path);
	free(it->from_sender);
	for (i = 0; i < it->env.n_rcpts; i++)
		free(it->env.rcpts[i]);
	free(it->env.rcpts);
	free(it->env.mail_from);
	free(it->env.message_id);
	free(it->env.subject);
	free(it->env.date);
	free(it);
}

/* rec_free - a recording and its items */
static void
rec_free(gpointer p)
{
	rec *r = p;

	g_ptr_array_unref(r->items);
	if (r->sha != NULL)
		g_checksum_free(r->sha);
	free(r);
}

/* setup - no recordings yet */
static void
setup(void)
{
	recs = g_ptr_array_new_with_free_func(rec_free);
}

/* teardown - free the test's recordings */
static void
teardown(void)
{
	g_ptr_array_unref(recs);
}

/* rec_new - an empty recording, freed after the test */
static rec *
rec_new(void)
{
	rec *r = calloc(1, sizeof(*r));

	r->items = g_ptr_array_new_with_free_func(item_free);
	r->keep = true;
	g_ptr_array_add(recs, r);
	return r;
}

/* drain - every message of src into r; import_next's last answer */
static int
drain(import_source *src, rec *r, mk_error *err)
{
	int rc;

	while ((rc = import_next(src, &sink, r, err)) == 1)
		ck_assert_int_eq(r->state, 0);
	return rc;
}

/* read_source - every message of path as kind (must open, must end) */
static rec *
read_source(import_kind kind, const char *path)
{
	mk_error err = { "" };
	import_source *src = import_source_open(kind, path, &err);
	rec *r = rec_new();

	ck_assert_msg(src != NULL, "%s", err.msg);
	ck_assert_msg(drain(src, r, &err) == 0, "%s", err.msg);
	import_source_close(src);
	return r;
}

/* read_mbox_mem - every message of an mbox in memory */
static rec *
read_mbox_mem(const char *buf, size_t len)
{
	mk_error err = { "" };
	FILE *f = len > 0 ? fmemopen((void *)buf, len, "r")
		  : fopen("/dev/null", "r");
	import_source *src;
	rec *r = rec_new();

	ck_assert_ptr_nonnull(f);
	src = import_source_open_stream(f, "mem.mbox", 42000000, &err);
	ck_assert_ptr_nonnull(src);
	ck_assert_msg(drain(src, r, &err) == 0, "%s", err.msg);
	import_source_close(src);
	return r;
}

/* read_mbox_str - read_mbox_mem of a C string */
static rec *
read_mbox_str(const char *s)
{
	return read_mbox_mem(s, strlen(s));
}

/* nth - item i of r */
static item *
nth(rec *r, size_t i)
{
	ck_assert_uint_lt(i, r->items->len);
	return g_ptr_array_index(r->items, i);
}

/* is_msg - item i was handed over with exactly these bytes */
static void
is_msg(rec *r, size_t i, const char *bytes, size_t len)
{
	item *it = nth(r, i);

	ck_assert_msg(it->reason == NULL, "item %zu skipped: %s", i, it->reason);
	ck_assert(it->ended && it->has_env);
	ck_assert_msg(it->bytes->len == len && memcmp(it->bytes->str, bytes, len)
		      == 0, "item %zu: got [%.*s] (%zu bytes), want [%.*s]", i,
		      (int)it->bytes->len, it->bytes->str, it->bytes->len,
		      (int)len, bytes);
}

/* is_str - is_msg of a C string */
static void
is_str(rec *r, size_t i, const char *bytes)
{
	is_msg(r, i, bytes, strlen(bytes));
}

/* is_skip - item i was skipped for reason (a prefix of it) */
static void
is_skip(rec *r, size_t i, const char *reason)
{
	item *it = nth(r, i);

	ck_assert_msg(it->reason != NULL, "item %zu not skipped", i);
	ck_assert_msg(strncmp(it->reason, reason, strlen(reason)) == 0,
		      "item %zu: reason %s, want %s", i, it->reason, reason);
}

/* mboxrd - one message appended to out as FORMAT.md 9.1 writes it */
static void
mboxrd(GString *out, const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len, *nl;
	size_t n, i;

	g_string_append(out, SEP);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		for (i = 0; i < n && p[i] == '>'; i++)
			;
		if (n - i >= 5 && memcmp(p + i, "From ", 5) == 0)
			g_string_append_c(out, '>');
		g_string_append_len(out, p, (gssize)n);
		p += n;
	}
	g_string_append_c(out, '\n');
}

/* slurp - a whole file (caller frees) */
static GString *
slurp(const char *path)
{
	gchar *data;
	gsize len;
	GString *s;

	ck_assert_msg(g_file_get_contents(path, &data, &len, NULL), "%s", path);
	s = g_string_new_len(data, (gssize)len);
	g_free(data);
	return s;
}

/* put_file - write len bytes to dir/name */
static void
put_file(const char *dir, const char *name, const char *data, size_t len)
{
	char *path = g_build_filename(dir, name, NULL);

	ck_assert_msg(g_file_set_contents(path, data, (gssize)len, NULL), "%s",
		      path);
	g_free(path);
}

/* put_str - put_file of a C string */
static void
put_str(const char *dir, const char *name, const char *data)
{
	put_file(dir, name, data, strlen(data));
}

/* rm_one - nftw callback of rm_tree */
static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* rm_tree - remove a test directory */
static void
rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmp_dir - a new directory under TMPDIR (caller frees, removes) */
static char *
tmp_dir(void)
{
	char *d = g_build_filename(g_get_tmp_dir(), "test_import.XXXXXX", NULL);

	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

/* The awkward messages of the round trip, beside the corpus. */
static const char *const awkward[] = {
	"Subject: from lines\n\nFrom here on\n>From quoted\n>>From twice\n"
	"From x@y Mon Jan  1 00:00:00 2001\n> From not escaped\n>Fromage\n",
	"From x@y Mon Jan  1 00:00:00 2001\nSubject: starts with From\n\nb\n",
	"Subject: no newline\n\nlast line",
	"Subject: crlf\r\n\r\nbody\r\n",
	"Subject: ends in CR\n\nbody\r",
	"Subject: ends in a blank line\n\nbody\n\n",
	"Subject: >From at the end\n\n>From ",
	"Subject: From at the end\n\nFrom ",
	"Subject: gts\n\n>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>From x\n>>>>\n",
	"Subject: headers only\n",
	"Subject: no line end at all",
};

/* round_trip - the export mbox of n messages reads back the same */
static void
round_trip(GPtrArray *msgs, const char *dir)
{
	GString *mbox = g_string_new(NULL);
	char *path = g_build_filename(dir, "export.mbox", NULL);
	size_t i;
	rec *r;

	for (i = 0; i < msgs->len; i++) {
		GString *m = g_ptr_array_index(msgs, i);

		mboxrd(mbox, m->str, m->len);
	}
	put_file(dir, "export.mbox", mbox->str, mbox->len);
	r = read_source(IMPORT_MBOX, path);
	ck_assert_uint_eq(r->items->len, msgs->len);
	for (i = 0; i < msgs->len; i++) {
		GString *m = g_ptr_array_index(msgs, i);

		is_msg(r, i, m->str, m->len);
		ck_assert_uint_eq(nth(r, i)->number, i + 1);
		ck_assert_ptr_nonnull(nth(r, i)->from_sender);
		ck_assert_str_eq(nth(r, i)->from_sender, "MAILER-DAEMON");
		ck_assert(nth(r, i)->has_from_date);
		ck_assert_int_eq(nth(r, i)->from_date, 0);
		ck_assert_int_eq(memcmp(mbox->str + nth(r, i)->offset, "From ", 5), 0);
	}
	g_string_free(mbox, TRUE);
	g_free(path);
}

/* add_glob - every file matching pattern into msgs; how many */
static size_t
add_glob(GPtrArray *msgs, const char *pattern)
{
	glob_t g;
	size_t i, n = 0;
	struct stat st;

	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (i = 0; i < g.gl_pathc; i++)
		if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) {
			g_ptr_array_add(msgs, slurp(g.gl_pathv[i]));
			n++;
		}
	globfree(&g);
	return n;
}

START_TEST(test_round_trip_corpus)
{
	const char *top = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
	const char *build = getenv("top_builddir") ? getenv("top_builddir") : ".";
	GPtrArray *msgs = g_ptr_array_new();
	char *dir = tmp_dir(), *pat;
	size_t i, corpus, third = 0;

	pat = g_strdup_printf("%s/tests/corpus/*.eml", top);
	corpus = add_glob(msgs, pat);
	g_free(pat);
	ck_assert_uint_ge(corpus, 9);
	pat = g_strdup_printf("%s/tests/corpus/third-party/*/*", top);
	third = add_glob(msgs, pat);
	g_free(pat);
	if (third == 0 && strcmp(top, build) != 0) {
		pat = g_strdup_printf("%s/tests/corpus/third-party/*/*", build);
		third = add_glob(msgs, pat);
		g_free(pat);
	}
	for (i = 0; i < G_N_ELEMENTS(awkward); i++)
		g_ptr_array_add(msgs, g_string_new(awkward[i]));
	fprintf(stderr, "round trip: %zu corpus, %zu third-party, %zu awkward"
		" messages\n", corpus, third, G_N_ELEMENTS(awkward));
	round_trip(msgs, dir);
	rm_tree(dir);
	g_free(dir);
}
END_TEST

START_TEST(test_from_in_body)
{
	rec *r = read_mbox_str(
		"From a@x Mon Jan  1 00:00:00 2001\nSubject: 1\n\n"
		"From here on it is a body line\nFrom me\n"
		"From b@x in a sentence Mon Jan  1 00:00:00 2001\n\n"
		"From c@x Tue Jan  2 00:00:00 2001\nSubject: 2\n\nbody\n"
		"From d@x Wed Jan  3 00:00:00 2001\nSubject: 3\n\n");

	ck_assert_uint_eq(r->items->len, 3);
	is_str(r, 0, "Subject: 1\n\nFrom here on it is a body line\nFrom me\n"
	       "From b@x in a sentence Mon Jan  1 00:00:00 2001\n");
	is_str(r, 1, "Subject: 2\n\nbody");
	is_str(r, 2, "Subject: 3\n");
	ck_assert_str_eq(nth(r, 1)->from_sender, "c@x");
	ck_assert_int_eq(nth(r, 1)->from_date, (int64_t)978393600 * 1000000);
	ck_assert_uint_eq(nth(r, 2)->number, 3);
}
END_TEST

START_TEST(test_quoted_from)
{
	rec *r = read_mbox_str("From a@x Mon Jan  1 00:00:00 2001\n"
		"Subject: q\n\n>From a\n>>From b\n>>>From c\n> From d\n>Fromage\n"
		">From\n>\n>>\n>>From\n");

	ck_assert_uint_eq(r->items->len, 1);
	is_str(r, 0, "Subject: q\n\nFrom a\n>From b\n>>From c\n> From d\n>Fromage\n"
	       ">From\n>\n>>\n>>From");
}
END_TEST

START_TEST(test_truncated_last)
{
	rec *r = read_mbox_str("From a@x Mon Jan  1 00:00:00 2001\nSubject: 1\n\n"
		"one\n\nFrom a@x Mon Jan  1 00:00:00 2001\nSubject: 2\n\ncut he");

	ck_assert_uint_eq(r->items->len, 2);
	is_str(r, 0, "Subject: 1\n\none\n");
	is_str(r, 1, "Subject: 2\n\ncut he");
	ck_assert(!(nth(r, 0)->notes & (IMPORT_NOTE_TRUNCATED | IMPORT_NOTE_NO_NEWLINE)));
	ck_assert(nth(r, 1)->notes & IMPORT_NOTE_TRUNCATED);
	ck_assert(nth(r, 1)->notes & IMPORT_NOTE_NO_NEWLINE);
	ck_assert_str_eq(import_note_text(IMPORT_NOTE_TRUNCATED),
			 "truncated: the mbox ends inside a line");
}
END_TEST

START_TEST(test_crlf_mbox)
{
	rec *r = read_mbox_str(
		"From a@x Mon Jan  1 00:00:00 2001\r\nSubject: 1\r\n\r\none\r\n\r\n"
		"From b@x Mon Jan  1 00:00:00 2001\r\nSubject: 2\r\n\r\n>From two\r\n\r\n");

	ck_assert_uint_eq(r->items->len, 2);
	is_str(r, 0, "Subject: 1\r\n\r\none\r\n");
	is_str(r, 1, "Subject: 2\r\n\r\nFrom two\r\n");
	ck_assert_uint_eq(nth(r, 0)->notes & IMPORT_NOTE_BARE_CR, 0);
	ck_assert_str_eq(nth(r, 1)->from_sender, "b@x");
}
END_TEST

START_TEST(test_bare_cr_and_nul)
{
	static const char in[] = "From a@x Mon Jan  1 00:00:00 2001\n"
		"Subject: odd\n\na\rb\0c\r\r\nFrom x\0y\n\n";
	static const char want[] = "Subject: odd\n\na\rb\0c\r\r\nFrom x\0y\n";
	rec *r = read_mbox_mem(in, sizeof(in) - 1);

	ck_assert_uint_eq(r->items->len, 1);
	is_msg(r, 0, want, sizeof(want) - 1);
	ck_assert(nth(r, 0)->notes & IMPORT_NOTE_NUL);
	ck_assert(nth(r, 0)->notes & IMPORT_NOTE_BARE_CR);
}
END_TEST

/* The 100 MB message, made as it is read: its lines, with a "From " line
 * every 4096 and one 3 MiB line without a line end in between. */
typedef struct big {
	uint64_t total, made;		/* message bytes to make, made */
	uint64_t line;
	GString *pending;		/* mbox bytes not read yet */
	size_t pend_off;
	GChecksum *sha;			/* of the message */
	bool framed;			/* the separator and end written */
} big;

#define BIG_SIZE	(100ull * 1000 * 1000)

/* big_line - the next message line into b->pending (escaped) */
static void
big_line(big *b)
{
	char line[128];
	size_t n;

	if (b->line == 0)
		n = (size_t)snprintf(line, sizeof(line), "Subject: big\nTo: b@x\n\n");
	else if (b->line % 4096 == 0)
		n = (size_t)snprintf(line, sizeof(line), "From the line %llu\n",
				     (unsigned long long)b->line);
	else
		n = (size_t)snprintf(line, sizeof(line), "%079llu\n",
				     (unsigned long long)b->line);
	if (b->made + n > b->total)
		n = (size_t)(b->total - b->made);
	g_checksum_update(b->sha, (const guchar *)line, (gssize)n);
	if (n >= 5 && memcmp(line, "From ", 5) == 0)
		g_string_append_c(b->pending, '>');
	g_string_append_len(b->pending, line, (gssize)n);
	b->made += n;
	b->line++;
	if (b->line == 1000) {		/* 3 MiB of one line, no '\n' */
		n = 3 << 20;
		g_string_set_size(b->pending, b->pending->len + n);
		memset(b->pending->str + b->pending->len - n, 'x', n);
		g_checksum_update(b->sha, (const guchar *)b->pending->str
				  + b->pending->len - n, (gssize)n);
		b->made += n;
	}
}

/* big_read - fopencookie read: the mbox of the big message */
static ssize_t
big_read(void *cookie, char *buf, size_t size)
{
	big *b = cookie;
	size_t n;

	if (b->pend_off == b->pending->len) {
		g_string_truncate(b->pending, 0);
		b->pend_off = 0;
		if (b->made < b->total)
			big_line(b);
		else if (!b->framed) {
			g_string_append(b->pending, "\n");
			b->framed = true;
		} else
			return 0;
	}
	n = b->pending->len - b->pend_off;
	n = n < size ? n : size;
	memcpy(buf, b->pending->str + b->pend_off, n);
	b->pend_off += n;
	return (ssize_t)n;
}

START_TEST(test_big_message)
{
	big b = { .total = BIG_SIZE, .pending = g_string_new(SEP) };
	cookie_io_functions_t io = { .read = big_read };
	mk_error err = { "" };
	struct rusage before, after;
	import_source *src;
	FILE *f;
	rec *r = rec_new();

	b.sha = g_checksum_new(G_CHECKSUM_SHA256);
	r->keep = false;
	getrusage(RUSAGE_SELF, &before);
	f = fopencookie(&b, "r", io);
	src = import_source_open_stream(f, "big.mbox", 0, &err);
	ck_assert_int_eq(drain(src, r, &err), 0);
	getrusage(RUSAGE_SELF, &after);
	ck_assert_uint_eq(r->items->len, 1);
	ck_assert(nth(r, 0)->ended);
	ck_assert_uint_eq(nth(r, 0)->size, BIG_SIZE);
	ck_assert_uint_eq(r->bytes, BIG_SIZE);
	fprintf(stderr, "big: %llu bytes, largest chunk %zu, RSS +%ld KiB\n",
		(unsigned long long)r->bytes, r->max_chunk,
		after.ru_maxrss - before.ru_maxrss);
	ck_assert_str_eq(g_checksum_get_string(b.sha),
			 g_checksum_get_string(r->sha));
	ck_assert_uint_le(r->max_chunk, IMPORT_CHUNK);
	/* the reader's buffers are a few MiB; the 3 MiB line is the test's */
	ck_assert_msg(after.ru_maxrss - before.ru_maxrss < 16 * 1024,
		      "RSS grew by %ld KiB", after.ru_maxrss - before.ru_maxrss);
	ck_assert_str_eq(nth(r, 0)->env.rcpts[0], "b@x");
	import_source_close(src);
	g_string_free(b.pending, TRUE);
	g_checksum_free(b.sha);
}
END_TEST

START_TEST(test_maildir)
{
	char *dir = tmp_dir(), *sub, *path;
	static const char *const odd[] = { "1000.a b:2,S", "1000.\n:2,",
		"1001.\xff\xfe", "2000.M1P2.host:2,RS" };
	rec *r;
	size_t i;

	for (i = 0; i < 3; i++) {
		sub = g_build_filename(dir, (const char *[]){ "cur", "new", "tmp" }[i],
				       NULL);
		ck_assert_int_eq(mkdir(sub, 0700), 0);
		g_free(sub);
	}
	sub = g_build_filename(dir, "cur", NULL);
	put_str(sub, odd[0], "Subject: 0\n\nzero\n");
	put_str(sub, odd[2], "Subject: 2\n\ntwo\n");
	put_str(sub, ".hidden", "Subject: h\n\n");
	put_str(sub, "1500.empty", "");
	path = g_build_filename(sub, "1600.fifo", NULL);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	g_free(path);
	path = g_build_filename(sub, "1700.link", NULL);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	g_free(path);
	g_free(sub);
	sub = g_build_filename(dir, "new", NULL);
	put_str(sub, odd[1], "Subject: 1\n\none\n");
	put_str(sub, odd[3], "Subject: 3\n\nthree\n");
	put_str(sub, "1000.a b:2,S", "Subject: new twin\n\n");
	g_free(sub);
	sub = g_build_filename(dir, "tmp", NULL);
	put_str(sub, "0001.being-delivered", "Subject: tmp\n\n");
	g_free(sub);
	r = read_source(IMPORT_MAILDIR, dir);
	ck_assert_uint_eq(r->items->len, 9);
	is_skip(r, 0, "hidden file");			/* '.' sorts first */
	ck_assert(g_str_has_suffix(nth(r, 0)->path, "/cur/.hidden"));
	is_str(r, 1, "Subject: 1\n\none\n");		/* "1000.\n" */
	is_str(r, 2, "Subject: 0\n\nzero\n");		/* "1000.a", cur/ */
	is_str(r, 3, "Subject: new twin\n\n");		/* "1000.a", new/ */
	ck_assert(g_str_has_suffix(nth(r, 3)->path, "/new/1000.a b:2,S"));
	is_str(r, 4, "Subject: 2\n\ntwo\n");
	ck_assert(g_str_has_suffix(nth(r, 4)->path, "/cur/1001.\xff\xfe"));
	is_skip(r, 5, "empty message");
	is_skip(r, 6, "not a regular file");		/* FIFO */
	is_skip(r, 7, "not a regular file");		/* symlink */
	is_str(r, 8, "Subject: 3\n\nthree\n");
	rm_tree(dir);
	g_free(dir);
}
END_TEST

START_TEST(test_maildir_not)
{
	char *dir = tmp_dir();
	mk_error err = { "" };

	ck_assert_ptr_null(import_source_open(IMPORT_MAILDIR, dir, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "not a Maildir"));
	ck_assert_ptr_null(import_source_open(IMPORT_MBOX, dir, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
	ck_assert_ptr_null(import_source_open(IMPORT_EML, "/nonexistent/x", &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
	rm_tree(dir);
	g_free(dir);
}
END_TEST

START_TEST(test_eml_dir)
{
	char *dir = tmp_dir(), *sub, *one;
	rec *r;

	sub = g_build_filename(dir, "b-sub", NULL);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put_str(sub, "z.eml", "Subject: deep\n\n");
	put_str(dir, "a.eml", "Subject: a\n\n");
	put_str(dir, "c.eml", "From x@y Mon Jan  1 00:00:00 2001\nSubject: c\n\n");
	put_str(dir, "README", "An export, with its README.\n");
	put_str(dir, "manifest.json", "{\n  \"a\": 1\n}\n");
	r = read_source(IMPORT_EML, dir);
	ck_assert_uint_eq(r->items->len, 5);
	is_skip(r, 0, "not a message: no header block");	/* README */
	is_str(r, 1, "Subject: a\n\n");
	is_str(r, 2, "Subject: deep\n\n");
	is_str(r, 3, "From x@y Mon Jan  1 00:00:00 2001\nSubject: c\n\n");
	ck_assert_str_eq(nth(r, 3)->env.mail_from, "x@y");
	ck_assert_int_eq(nth(r, 3)->env.received_from, IMPORT_TIME_FROM_LINE);
	is_skip(r, 4, "not a message: no header block");	/* manifest */
	one = g_build_filename(dir, "a.eml", NULL);
	r = read_source(IMPORT_EML, one);
	ck_assert_uint_eq(r->items->len, 1);
	is_str(r, 0, "Subject: a\n\n");
	ck_assert_str_eq(nth(r, 0)->path, one);
	ck_assert_int_eq(nth(r, 0)->env.received_from, IMPORT_TIME_MTIME);
	ck_assert_int_gt(nth(r, 0)->env.received_at, 0);
	g_free(one);
	/* a symbolic link the user names is followed; one in a directory not */
	one = g_build_filename(dir, "link.eml", NULL);
	ck_assert_int_eq(symlink("a.eml", one), 0);
	r = read_source(IMPORT_EML, one);
	ck_assert_uint_eq(r->items->len, 1);
	is_str(r, 0, "Subject: a\n\n");
	r = read_source(IMPORT_EML, dir);
	ck_assert_uint_eq(r->items->len, 6);
	is_skip(r, 4, "not a regular file");
	ck_assert(g_str_has_suffix(nth(r, 4)->path, "/link.eml"));
	g_free(one);
	g_free(sub);
	rm_tree(dir);
	g_free(dir);
}
END_TEST

/* derive - the envelope of a header block given as a C string */
static import_envelope *
derive(const char *hdr, const char *from_sender, bool has_date, int64_t date)
{
	import_envelope *e = import_envelope_derive(hdr, strlen(hdr), from_sender,
						    has_date, date, 777);

	ck_assert_ptr_nonnull(e);
	ck_assert(e->derived);
	return e;
}

/* rcpts_are - e's recipients are the NULL-ended want */
static void
rcpts_are(const import_envelope *e, const char *const *want)
{
	size_t n;

	for (n = 0; want[n] != NULL; n++) {
		ck_assert_uint_gt(e->n_rcpts, n);
		ck_assert_str_eq(e->rcpts[n], want[n]);
	}
	ck_assert_uint_eq(e->n_rcpts, n);
}

START_TEST(test_envelope_sender)
{
	import_envelope *e;

	e = derive("Return-Path: <rp@x.test>\nFrom: f@x.test\n\n", "fl@x", false, 0);
	ck_assert_str_eq(e->mail_from, "rp@x.test");
	import_envelope_free(e);
	e = derive("Return-Path: <>\nFrom: f@x.test\n\n", NULL, false, 0);
	ck_assert_str_eq(e->mail_from, "");
	import_envelope_free(e);
	e = derive("From: F <f@x.test>\n\n", "fl@x", false, 0);
	ck_assert_str_eq(e->mail_from, "fl@x");
	import_envelope_free(e);
	e = derive("From: =?utf-8?q?J=C3=BCrgen?= <f@x.test>\n\n", "MAILER-DAEMON",
		   false, 0);
	ck_assert_str_eq(e->mail_from, "f@x.test");
	import_envelope_free(e);
	e = derive("Subject: nobody\n\n", NULL, false, 0);
	ck_assert_ptr_null(e->mail_from);
	ck_assert_uint_eq(e->n_rcpts, 0);
	ck_assert_ptr_null(e->message_id);
	ck_assert_ptr_null(e->date);
	ck_assert_str_eq(e->subject, "nobody");
	ck_assert_int_eq(e->received_from, IMPORT_TIME_MTIME);
	ck_assert_int_eq(e->received_at, 777);
	import_envelope_free(e);
}
END_TEST

START_TEST(test_envelope_rcpts)
{
	import_envelope *e;

	e = derive("Delivered-To: a@x.test\nTo: t@x.test\nDelivered-To: b@x.test\n"
		   "X-Original-To: A@X.test\nX-Original-To: c@x.test\n\n", NULL,
		   false, 0);
	rcpts_are(e, (const char *[]){ "a@x.test", "b@x.test", "c@x.test", NULL });
	import_envelope_free(e);
	e = derive("To: \"=?iso-8859-1?q?Ren=E9?=\" <r@x.test>, t@x.test\n"
		   "Cc: team: m1@x.test, \"M 2\" <m2@x.test>;, T@x.test\n"
		   "Bcc: b@x.test\nTo: undisclosed-recipients:;\n\n", NULL, false, 0);
	rcpts_are(e, (const char *[]){ "r@x.test", "t@x.test", "m1@x.test",
		  "m2@x.test", "b@x.test", NULL });
	import_envelope_free(e);
	e = derive("To: a@x.test,\n  b@x.test\n\t, c@x.test\n\n", NULL, false, 0);
	rcpts_are(e, (const char *[]){ "a@x.test", "b@x.test", "c@x.test", NULL });
	import_envelope_free(e);
}
END_TEST

START_TEST(test_envelope_fields)
{
	import_envelope *e;

	e = derive("Message-ID: <1@x>\nSubject: =?utf-8?q?caf=C3=A9?=\n folded\n"
		   "Subject: second\nDate: Tue, 2 Jan 2001 00:00:00 +0000\r\n\n",
		   NULL, false, 0);
	ck_assert_str_eq(e->message_id, "<1@x>");
	ck_assert_str_eq(e->subject, "=?utf-8?q?caf=C3=A9?=\n folded");
	ck_assert_str_eq(e->date, "Tue, 2 Jan 2001 00:00:00 +0000");
	ck_assert_int_eq(e->received_from, IMPORT_TIME_DATE);
	ck_assert_int_eq(e->received_at, (int64_t)978393600 * 1000000);
	import_envelope_free(e);
	/* the topmost Received: wins over Date: and the From line */
	e = derive("Received: from a by b; Wed, 3 Jan 2001 00:00:00 +0000\n"
		   "Received: from c by a; Tue, 2 Jan 2001 00:00:00 +0000\n"
		   "Date: Mon, 1 Jan 2001 00:00:00 +0000\n\n", NULL, true, 5);
	ck_assert_int_eq(e->received_from, IMPORT_TIME_RECEIVED);
	ck_assert_int_eq(e->received_at, (int64_t)978480000 * 1000000);
	import_envelope_free(e);
	/* unreadable Received: and Date: fall to the From line */
	e = derive("Received: from a by b\nDate: yesterday\n\n", NULL, true, 5);
	ck_assert_int_eq(e->received_from, IMPORT_TIME_FROM_LINE);
	ck_assert_int_eq(e->received_at, 5);
	import_envelope_free(e);
}
END_TEST

START_TEST(test_envelope_garbage)
{
	static const char hdr[] = "garbage line\nTo: a@x.test\n: no name\n"
		"\xff\xfe: eight bit\nSub ject: x\nTo : b@x.test\nSubject: a\0b\n"
		" continuation of nothing?\nTo: <<<>>>@@,,;;\n\n";
	import_envelope *e = import_envelope_derive(hdr, sizeof(hdr) - 1, NULL,
						    false, 0, 1);

	ck_assert_ptr_nonnull(e);
	rcpts_are(e, (const char *[]){ "a@x.test", "b@x.test", NULL });
	ck_assert_str_eq(e->subject, "a");
	import_envelope_free(e);
	e = import_envelope_derive("", 0, NULL, false, 0, 1);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(e->mail_from);
	import_envelope_free(e);
}
END_TEST

START_TEST(test_envelope_limits)
{
	GString *h = g_string_new("Subject: big\n");
	rec *r;
	size_t i;

	for (i = 0; i < IMPORT_MAX_RCPTS + 5; i++)
		g_string_append_printf(h, "To: r%zu@x.test\n", i);
	while (h->len < IMPORT_MAX_HEADER + 100)
		g_string_append(h, "X-Pad: 0123456789012345678901234567890123456789\n");
	g_string_append(h, "To: late@x.test\n\nbody\n");
	r = read_mbox_mem(NULL, 0);
	ck_assert_uint_eq(r->items->len, 0);
	{
		GString *mbox = g_string_new(NULL);

		mboxrd(mbox, h->str, h->len);
		r = read_mbox_mem(mbox->str, mbox->len);
		ck_assert_uint_eq(r->items->len, 1);
		is_msg(r, 0, h->str, h->len);
		ck_assert(nth(r, 0)->notes & IMPORT_NOTE_HEADER_CUT);
		ck_assert(nth(r, 0)->notes & IMPORT_NOTE_RCPTS_CUT);
		ck_assert_uint_eq(nth(r, 0)->env.n_rcpts, IMPORT_MAX_RCPTS);
		g_string_free(mbox, TRUE);
	}
	g_string_free(h, TRUE);
}
END_TEST

START_TEST(test_skips)
{
	rec *r = read_mbox_str("junk before\nthe first\n"
		"From a@x Mon Jan  1 00:00:00 2001\nSubject: 1\n\n"
		"From a@x Mon Jan  1 00:00:00 2001\n"
		"From a@x Mon Jan  1 00:00:00 2001\nnot a header\n\n"
		"From a@x Mon Jan  1 00:00:00 2001\n\nbody without headers\n\n"
		"From a@x Mon Jan  1 00:00:00 2001\n");

	ck_assert_uint_eq(r->items->len, 6);
	is_skip(r, 0, "mbox: file does not start with a From line");
	ck_assert_uint_eq(nth(r, 0)->number, 0);
	ck_assert_int_eq(nth(r, 0)->offset, 0);
	is_str(r, 1, "Subject: 1\n");
	ck_assert_int_eq(nth(r, 1)->offset, 22);
	is_skip(r, 2, "empty message");
	is_skip(r, 3, "not a message: no header block");
	is_skip(r, 4, "not a message: no header block");
	is_skip(r, 5, "empty message");
	r = read_mbox_str("Subject: not an mbox\n\nFrom here on\n");
	ck_assert_uint_eq(r->items->len, 1);
	is_skip(r, 0, "mbox: file does not start with a From line");
	/* a first line "From " without a date is still the first separator */
	r = read_mbox_str("From someone\nSubject: x\n\n");
	ck_assert_uint_eq(r->items->len, 1);
	is_str(r, 0, "Subject: x\n");
	ck_assert(!nth(r, 0)->has_from_date);
	ck_assert_ptr_null(nth(r, 0)->from_sender);
}
END_TEST

/* A stream that fails after its bytes. */
typedef struct failing {
	const char *data;
	size_t len, off;
} failing;

/* failing_read - fopencookie read: data, then EIO */
static ssize_t
failing_read(void *cookie, char *buf, size_t size)
{
	failing *f = cookie;
	size_t n = f->len - f->off < size ? f->len - f->off : size;

	if (n == 0) {
		errno = EIO;
		return -1;
	}
	memcpy(buf, f->data + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

START_TEST(test_read_error)
{
	static const char data[] = "From a@x Mon Jan  1 00:00:00 2001\nSubject: 1\n\n"
		"From a@x Mon Jan  1 00:00:00 2001\nSubject: 2\n\nhalf";
	failing fl = { data, sizeof(data) - 1, 0 };
	cookie_io_functions_t io = { .read = failing_read };
	mk_error err = { "" };
	import_source *src;
	rec *r = rec_new();

	src = import_source_open_stream(fopencookie(&fl, "r", io), "eio.mbox", 0,
					&err);
	ck_assert_int_eq(drain(src, r, &err), -1);
	ck_assert_uint_eq(r->items->len, 2);
	is_str(r, 0, "Subject: 1\n");
	is_skip(r, 1, "truncated: read error: Input/output error");
	ck_assert_ptr_nonnull(strstr(err.msg, "eio.mbox: truncated: read error"));
	import_source_close(src);
}
END_TEST

START_TEST(test_unreadable_file)
{
	char *dir = tmp_dir(), *path;
	rec *r;

	put_str(dir, "a.eml", "Subject: a\n\n");
	path = g_build_filename(dir, "a.eml", NULL);
	chmod(path, 0);
	r = read_source(IMPORT_EML, dir);
	ck_assert_uint_eq(r->items->len, 1);
	if (geteuid() != 0)
		is_skip(r, 0, "cannot open: Permission denied");
	else
		is_str(r, 0, "Subject: a\n\n");	/* root reads it anyway */
	g_free(path);
	rm_tree(dir);
	g_free(dir);
}
END_TEST

START_TEST(test_stop)
{
	static const char data[] = "From a@x Mon Jan  1 00:00:00 2001\nSubject: 1\n\n"
		"From a@x Mon Jan  1 00:00:00 2001\nSubject: 2\n\n";
	mk_error err = { "" };
	import_source *src;
	int at;

	for (at = 1; at <= 4; at++) {
		rec *r = rec_new();

		r->stop_at = at;
		src = import_source_open_stream(fmemopen((void *)data,
				sizeof(data) - 1, "r"), "stop.mbox", 0, &err);
		ck_assert_int_eq(import_next(src, &sink, r, &err), -1);
		ck_assert_str_eq(err.msg, "stopped by the caller");
		ck_assert_int_eq(r->calls, at);
		import_source_close(src);
	}
}
END_TEST

START_TEST(test_from_line)
{
	int64_t t = -1;
	char *s = NULL;

	ck_assert(import_from_line_parse("From MAILER-DAEMON Thu Jan  1 00:00:00 1970",
					 43, &s, &t));
	ck_assert_str_eq(s, "MAILER-DAEMON");
	ck_assert_int_eq(t, 0);
	free(s);
	/* Google Takeout: a zone before the year */
	ck_assert(import_from_line_parse("From 1234@xxx Mon Jan 01 01:00:00 +0100 2001\r\n",
					 46, &s, &t));
	ck_assert_int_eq(t, (int64_t)978307200 * 1000000);
	free(s);
	ck_assert(import_from_line_parse("From \"a b\"@x Mon Jan 1 00:00 2001 remote from y",
					 48, &s, &t));
	ck_assert_str_eq(s, "\"a b\"@x");
	free(s);
	ck_assert(import_from_line_parse("From Mon Jan  1 00:00:00 2001", 29, &s, &t));
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert(import_from_line_parse("From a Sat Feb 29 23:59:60 PST 2020", 35, NULL, &t));
	ck_assert(!import_from_line_parse("From here on, we", 16, NULL, &t));
	ck_assert(!import_from_line_parse("From a Mon Jan  1 00:00:00", 26, NULL, &t));
	ck_assert(!import_from_line_parse("From a Mon Jan 32 00:00:00 2001", 31, NULL, &t));
	ck_assert(!import_from_line_parse("From a Mon Foo  1 00:00:00 2001", 31, NULL, &t));
	ck_assert(!import_from_line_parse("From a Mon Jan  1 24:00:00 2001", 31, NULL, &t));
	ck_assert(!import_from_line_parse("From a Mon Jan  1 00:00:00 20011", 32, NULL, &t));
	ck_assert(!import_from_line_parse(">From a Mon Jan  1 00:00:00 2001", 32, NULL, &t));
	ck_assert(!import_from_line_parse("From", 4, NULL, &t));
}
END_TEST

/* import_suite - every test */
static Suite *
import_suite(void)
{
	Suite *s = suite_create("import");
	TCase *tc = tcase_create("import");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip_corpus);
	tcase_add_test(tc, test_from_in_body);
	tcase_add_test(tc, test_quoted_from);
	tcase_add_test(tc, test_truncated_last);
	tcase_add_test(tc, test_crlf_mbox);
	tcase_add_test(tc, test_bare_cr_and_nul);
	tcase_add_test(tc, test_big_message);
	tcase_add_test(tc, test_maildir);
	tcase_add_test(tc, test_maildir_not);
	tcase_add_test(tc, test_eml_dir);
	tcase_add_test(tc, test_envelope_sender);
	tcase_add_test(tc, test_envelope_rcpts);
	tcase_add_test(tc, test_envelope_fields);
	tcase_add_test(tc, test_envelope_garbage);
	tcase_add_test(tc, test_envelope_limits);
	tcase_add_test(tc, test_skips);
	tcase_add_test(tc, test_read_error);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_stop);
	tcase_add_test(tc, test_from_line);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int
main(void)
{
	return run_suite(import_suite());
}
