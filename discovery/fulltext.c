/*
 * fulltext.c - the full-text index: fulltext.sqlite beside the archive.
 *
 * NAME
 *	fulltext - FTS5 over the decoded text of every stored message
 *
 * DESCRIPTION
 *	The index is derived data, like index.sqlite: it can be deleted and
 *	is filled again from the blobs.  It is a file of its own so that the
 *	indexer, which trails ingest, never holds a lock the milter waits on.
 *
 *	  words   FTS5, contentless (content=''): the tokens of subject,
 *	          body, attachment names, From and To/Cc of each message,
 *	          rowid = the ledger seq of its "stored" entry.  No text is
 *	          kept verbatim; the tokens are in clear (docs/SECURITY.md).
 *	          A contentless table forgets a row only when given the same
 *	          values again ('delete'), which expiry can re-extract.
 *	          Characters of scripts written without spaces (Han, kana,
 *	          Hangul) are tokens of their own (cjk_spaced()), here and in
 *	          queries, so a word of them is found as a phrase.
 *	  docs    one row a message taken: seq, id, whether it has
 *	          attachments, whether it could not be indexed, and what
 *	          went wrong or was odd, if anything
 *	  state   key/value: the last seq taken, the last error
 *
 *	discovery_index_step() takes the messages the archive's index holds
 *	above the last seq, in ledger order: reads each one's content
 *	(archive_read(), checked against its SHA-256; at most
 *	DISCOVERY_MAX_PARSE bytes are kept for parsing), extracts its text
 *	(extract.c) and inserts it, all of a batch in one transaction with
 *	the new last seq, so a crash repeats a batch and never skips one.
 *	A message that cannot be read or parsed is recorded in docs and
 *	state and passed over: the index never freezes behind it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <sqlite3.h>

#include "common/timeparse.h"
#include "discovery/fulltext.h"

#define BUSY_MS		10000
#define STRINGIFY_(x)	#x
#define STRINGIFY(x)	STRINGIFY_(x)

static const char schema_sql[] =
	"CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5("
	" subject, body, attachment, hdr_from, hdr_to, content='',"
	" tokenize='unicode61 remove_diacritics 2');"
	"CREATE TABLE IF NOT EXISTS docs(seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL, attachments INTEGER NOT NULL,"
	" failed INTEGER NOT NULL, note TEXT, digest TEXT);"
	"CREATE TABLE IF NOT EXISTS state(k TEXT PRIMARY KEY, v);"
	"CREATE TABLE IF NOT EXISTS holds(number INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE, terms TEXT NOT NULL,"
	" time INTEGER NOT NULL, by TEXT NOT NULL, reason TEXT NOT NULL,"
	" released INTEGER, released_time INTEGER, released_by TEXT,"
	" release_reason TEXT);"
	"CREATE TABLE IF NOT EXISTS hold_members(hold INTEGER NOT NULL,"
	" msg INTEGER NOT NULL, id TEXT NOT NULL, PRIMARY KEY(hold, msg))"
	" WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS hold_members_id ON hold_members(id);";

/* An index made before the holds: docs gets the digest of the words
 * (NULL in older rows) and an index by id. */
static const char upgrade_sql[] =
	"CREATE INDEX IF NOT EXISTS docs_id ON docs(id);";

/* is_cjk - a character of a script written without spaces between words
 * (Han, kana, Hangul), which the unicode61 tokenizer would keep in one
 * token with its neighbours */
static bool
is_cjk(gunichar c)
{
	return (c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf)
	    || (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af)
	    || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff66 && c <= 0xff9f)
	    || (c >= 0x20000 && c <= 0x2ffff);
}

/* cjk_spaced - s with a space around every CJK character, so that each
 * is a token of its own, in the index and in a query alike (a word of
 * such a script is then found as the phrase of its characters);
 * g_free() it */
static char *
cjk_spaced(const char *s)
{
	GString *out = g_string_sized_new(strlen(s) + 16);
	const char *p, *run;
	gunichar c;

	for (p = s; *p; p = g_utf8_next_char(p)) {
		if ((unsigned char)*p < 0x80) {
			/* a run of ASCII, copied as the loop would copy it
			 * character by character (no CJK in it) */
			for (run = p; *p && (unsigned char)*p < 0x80; p++)
				;
			g_string_append_len(out, run, p - run);
			if (*p == '\0')
				break;
		}
		c = g_utf8_get_char(p);
		if (is_cjk(c))
			g_string_append_c(out, ' ');
		g_string_append_unichar(out, c);
		if (is_cjk(c))
			g_string_append_c(out, ' ');
	}
	return g_string_free(out, FALSE);
}

/* fulltext_fail - err from the index's last error; -1 */
int
fulltext_fail(discovery_index *di, const char *what, mk_error *err)
{
	return mk_error_set(err, "%s: %s: %s", di->path, what,
			    sqlite3_errmsg(di->db));
}

/* add_digest_column - docs.digest in an index made before it */
static int
add_digest_column(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool has = sqlite3_prepare_v2(db, "SELECT digest FROM docs LIMIT 0", -1,
				      &st, NULL) == SQLITE_OK;

	sqlite3_finalize(st);
	if (has)
		return 0;
	return sqlite3_exec(db, "ALTER TABLE docs ADD COLUMN digest TEXT", NULL,
			    NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* discovery_index_open - open (create) dir's full-text index */
discovery_index *
discovery_index_open(const char *dir, mk_error *err)
{
	discovery_index *di = calloc(1, sizeof(*di));
	mode_t old;
	int rc;

	if (di == NULL || asprintf(&di->path, "%s/%s", dir,
				   DISCOVERY_INDEX_FILE) < 0) {
		free(di);
		mk_error_set(err, "out of memory");
		return NULL;
	}
	old = umask(077);	/* it holds the words of every message */
	rc = sqlite3_open_v2(di->path, &di->db, SQLITE_OPEN_READWRITE
			     | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	umask(old);
	if (rc != SQLITE_OK
	    || sqlite3_busy_timeout(di->db, BUSY_MS) != SQLITE_OK
	    || sqlite3_exec(di->db, "PRAGMA journal_mode=WAL;"
			    "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL)
	    != SQLITE_OK
	    || sqlite3_exec(di->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK
	    || add_digest_column(di->db) != 0
	    || sqlite3_exec(di->db, upgrade_sql, NULL, NULL, NULL) != SQLITE_OK) {
		fulltext_fail(di, "open", err);
		discovery_index_close(di);
		return NULL;
	}
	return di;
}

/* discovery_index_close - close and free */
void
discovery_index_close(discovery_index *di)
{
	if (di == NULL)
		return;
	sqlite3_close(di->db);
	free(di->path);
	free(di);
}

/* append - text to field f, a space between pieces, within the bound */
static void
append(doc_text *d, int f, const char *s, size_t n)
{
	char *grown;
	size_t total = 0;
	int i;

	for (i = 0; i < F_COUNT; i++)
		total += d->len[i];
	if (total + n + 1 > DISCOVERY_MAX_TEXT)
		return;
	if (d->len[f] + n + 2 > d->cap[f]) {
		d->cap[f] = (d->len[f] + n + 2) * 2;
		if ((grown = realloc(d->field[f], d->cap[f])) == NULL) {
			d->nomem = true;
			return;
		}
		d->field[f] = grown;
	}
	if (d->len[f] > 0)
		d->field[f][d->len[f]++] = ' ';
	memcpy(d->field[f] + d->len[f], s, n);
	d->len[f] += n;
	d->field[f][d->len[f]] = '\0';
}

/* on_header - discovery_sink: the headers searched by field */
static int
on_header(discovery_header which, const char *value, void *ctx)
{
	doc_text *d = ctx;

	if (which == DISCOVERY_HDR_SUBJECT)
		append(d, F_SUBJECT, value, strlen(value));
	else if (which == DISCOVERY_HDR_FROM)
		append(d, F_FROM, value, strlen(value));
	else if (which == DISCOVERY_HDR_TO || which == DISCOVERY_HDR_CC)
		append(d, F_TO, value, strlen(value));
	return d->nomem;
}

/* on_text - discovery_sink: body text */
static int
on_text(const char *utf8, size_t len, void *ctx)
{
	doc_text *d = ctx;

	append(d, F_BODY, utf8, len);
	return d->nomem;
}

/* on_attachment - discovery_sink: an attachment's name */
static int
on_attachment(const char *filename, const char *content_type, void *ctx)
{
	doc_text *d = ctx;

	(void)content_type;
	d->attachments++;
	if (filename != NULL)
		append(d, F_ATTACHMENT, filename, strlen(filename));
	return d->nomem;
}

/* A message's content while it is read. */
typedef struct content_buf {
	char *buf;
	size_t len, cap;
} content_buf;

/* keep_content - archive_read sink: the first DISCOVERY_MAX_PARSE bytes */
static int
keep_content(const void *buf, size_t len, void *ctx)
{
	content_buf *c = ctx;
	size_t room = DISCOVERY_MAX_PARSE - c->len, n = len < room ? len : room;
	char *grown;

	if (n == 0)
		return 0;	/* past the bound: read on, keep nothing */
	if (c->len + n > c->cap) {
		c->cap = c->cap ? c->cap * 2 : 65536;
		while (c->cap < c->len + n)
			c->cap *= 2;
		if (c->cap > DISCOVERY_MAX_PARSE)
			c->cap = DISCOVERY_MAX_PARSE;
		if ((grown = realloc(c->buf, c->cap)) == NULL)
			return -1;
		c->buf = grown;
	}
	memcpy(c->buf + c->len, buf, n);
	c->len += n;
	return 0;
}

/* fulltext_extract - the text of msg into d (fulltext.h) */
int
fulltext_extract(archive *ar, const archive_message *msg, doc_text *d,
		 char note[MK_ERROR_MAX])
{
	discovery_sink sink = { on_header, on_text, on_attachment, d };
	content_buf c = { NULL, 0, 0 };
	discovery_stats st;
	mk_error err;
	int rc;

	note[0] = '\0';
	if (archive_read(ar, msg->id, keep_content, &c, &err) != 0) {
		snprintf(note, MK_ERROR_MAX, "%s", err.msg);
		free(c.buf);
		return 1;	/* recorded, passed over */
	}
	rc = discovery_extract(c.buf ? c.buf : "", c.len, &sink, &st, &err);
	free(c.buf);
	if (rc != 0)
		return d->nomem ? -1 : (snprintf(note, MK_ERROR_MAX, "%s",
						 err.msg), 1);
	if (st.malformed || st.truncated)
		snprintf(note, MK_ERROR_MAX, "%s%s", st.truncated ?
			 "indexed in part: " : "", st.note);
	return 0;
}

/* The statements of a batch. */
typedef struct batch {
	discovery_index *di;
	archive *ar;
	sqlite3_stmt *text, *doc, *state;
	hold_set *holds;		/* the open holds, to place each in */
	size_t done;
	int64_t last_seq;
	bool failed;
	mk_error *err;
} batch;

/* set_state - state[k] = the integer or text value */
static int
set_state(batch *b, const char *k, int64_t n, const char *text)
{
	sqlite3_reset(b->state);
	sqlite3_bind_text(b->state, 1, k, -1, SQLITE_STATIC);
	if (text != NULL)
		sqlite3_bind_text(b->state, 2, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(b->state, 2, n);
	return sqlite3_step(b->state) == SQLITE_DONE ? 0 : -1;
}

/* record_error - a message that could not be indexed: the state says so */
static int
record_error(batch *b, const archive_message *msg, const char *note)
{
	char *line = NULL;
	int rc;

	if (asprintf(&line, "%s: %s", msg->id, note) < 0)
		return -1;
	rc = set_state(b, "error", 0, line);
	if (rc == 0)
		rc = set_state(b, "error_time", mk_now_usec(), NULL);
	free(line);
	return rc;
}

/* fulltext_bind_text - d's fields, CJK spaced, from parameter first */
void
fulltext_bind_text(sqlite3_stmt *st, int first, const doc_text *d)
{
	int i;

	for (i = 0; i < F_COUNT; i++)
		sqlite3_bind_text(st, first + i, cjk_spaced(d->field[i] ?
				  d->field[i] : ""), -1, g_free);
}

/* fulltext_digest - SHA-256 of the fields as bound, each ended by NUL */
void
fulltext_digest(const doc_text *d, char out[ARCHIVE_SHA256_HEX + 1])
{
	GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
	char *spaced;
	int i;

	for (i = 0; i < F_COUNT; i++) {
		spaced = cjk_spaced(d->field[i] ? d->field[i] : "");
		g_checksum_update(sum, (const guchar *)spaced, strlen(spaced) + 1);
		g_free(spaced);
	}
	snprintf(out, ARCHIVE_SHA256_HEX + 1, "%s", g_checksum_get_string(sum));
	g_checksum_free(sum);
}

/* insert_text - the text row of seq */
static int
insert_text(batch *b, int64_t seq, const doc_text *d)
{
	sqlite3_reset(b->text);
	sqlite3_bind_int64(b->text, 1, seq);
	fulltext_bind_text(b->text, 2, d);
	return sqlite3_step(b->text) == SQLITE_DONE ? 0 : -1;
}

/* insert_doc - the docs row of seq; words: whether d went into words */
static int
insert_doc(batch *b, int64_t seq, const archive_message *msg,
	   const doc_text *d, bool failed, bool words, const char *note)
{
	char digest[ARCHIVE_SHA256_HEX + 1];

	sqlite3_reset(b->doc);
	sqlite3_bind_int64(b->doc, 1, seq);
	sqlite3_bind_text(b->doc, 2, msg->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(b->doc, 3, d->attachments > 0);
	sqlite3_bind_int(b->doc, 4, failed);
	if (note[0] != '\0')
		sqlite3_bind_text(b->doc, 5, note, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(b->doc, 5);
	if (words) {
		fulltext_digest(d, digest);
		sqlite3_bind_text(b->doc, 6, digest, -1, SQLITE_TRANSIENT);
	} else
		sqlite3_bind_null(b->doc, 6);
	return sqlite3_step(b->doc) == SQLITE_DONE ? 0 : -1;
}

/* fulltext_free_text - the fields of d */
void
fulltext_free_text(doc_text *d)
{
	int i;

	for (i = 0; i < F_COUNT; i++)
		free(d->field[i]);
}

/* take_message - archive_stored_fn: index one message */
static int
take_message(const archive_message *msg, int64_t seq, void *ctx)
{
	batch *b = ctx;
	doc_text d;
	char note[MK_ERROR_MAX] = "metadata only: no content was kept";
	int rc = 0, got = 0;
	bool words = false;
	mk_error why;

	memset(&d, 0, sizeof(d));
	if (msg->content == ARCHIVE_FULL) {
		got = fulltext_extract(b->ar, msg, &d, note);
		words = got == 0;
		rc = got < 0 ? -1 : words ? insert_text(b, seq, &d) : 0;
	}
	if (rc == 0)
		rc = insert_doc(b, seq, msg, &d, got == 1, words, note);
	if (rc == 0 && got == 1)
		rc = record_error(b, msg, note);
	fulltext_free_text(&d);
	if (rc == 0)	/* a failure here is the index's: b->failed */
		rc = hold_set_place(b->holds, b->di, msg, seq, got == 1, &why);
	if (rc != 0) {
		b->failed = true;
		return -1;
	}
	b->last_seq = seq;
	b->done++;
	return 0;
}

/* fulltext_set_state_int - state[k] = v */
int
fulltext_set_state_int(discovery_index *di, const char *k, int64_t v)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(di->db, "INSERT OR REPLACE INTO state(k, v)"
			       " VALUES(?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, v);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* fulltext_state_int - state[k] as an integer, 0 when absent */
int64_t
fulltext_state_int(discovery_index *di, const char *k)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	if (sqlite3_prepare_v2(di->db, "SELECT v FROM state WHERE k = ?", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return v;
}

/* prepare_batch - the statements of a batch */
static int
prepare_batch(batch *b)
{
	sqlite3 *db = b->di->db;

	return sqlite3_prepare_v2(db, "INSERT INTO words(rowid, subject, body,"
				  " attachment, hdr_from, hdr_to)"
				  " VALUES(?, ?, ?, ?, ?, ?)", -1, &b->text,
				  NULL) == SQLITE_OK
	    && sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO docs(seq, id,"
				  " attachments, failed, note, digest)"
				  " VALUES(?, ?, ?, ?, ?, ?)", -1,
				  &b->doc, NULL) == SQLITE_OK
	    && sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO state(k, v)"
				  " VALUES(?, ?)", -1, &b->state, NULL)
	    == SQLITE_OK ? 0 : -1;
}

/* finalize_batch - its statements */
static void
finalize_batch(batch *b)
{
	sqlite3_finalize(b->text);
	sqlite3_finalize(b->doc);
	sqlite3_finalize(b->state);
	hold_set_free(b->holds);
}

/* run_batch - the messages after the last seq, in the open transaction */
static int
run_batch(batch *b, size_t size, mk_error *err)
{
	mk_error why;

	if (prepare_batch(b) != 0)
		return fulltext_fail(b->di, "prepare", err);
	if ((b->holds = hold_set_load(b->di, err)) == NULL)
		return -1;
	why.msg[0] = '\0';
	if (archive_each_stored(b->ar, b->last_seq, size, take_message, b,
				&why) != 0)
		return b->failed ? fulltext_fail(b->di, "insert", err)
		    : mk_error_set(err, "%s", why.msg);
	if (b->done > 0 && set_state(b, "last_seq", b->last_seq, NULL) != 0)
		return fulltext_fail(b->di, "save progress", err);
	return 0;
}

/* discovery_index_step - index up to size new messages, one transaction */
int
discovery_index_step(discovery_index *di, archive *ar, size_t size,
		     size_t *done, mk_error *err)
{
	batch b = { .di = di, .ar = ar, .err = err };
	int rc;

	*done = 0;
	if (sqlite3_exec(di->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fulltext_fail(di, "begin", err);
	b.last_seq = fulltext_state_int(di, "last_seq");
	rc = run_batch(&b, size, err);
	finalize_batch(&b);
	if (rc == 0 && sqlite3_exec(di->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = fulltext_fail(di, "commit", err);
	if (rc != 0)
		sqlite3_exec(di->db, "ROLLBACK", NULL, NULL, NULL);
	else
		*done = b.done;
	return rc;
}

/* count_of - the one integer a query gives, 0 when none */
static int64_t
count_of(discovery_index *di, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	if (sqlite3_prepare_v2(di->db, sql, -1, &st, NULL) == SQLITE_OK
	    && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* last_error - the state's last error into st */
static void
last_error(discovery_index *di, discovery_status *st)
{
	sqlite3_stmt *q = NULL;
	const char *text, *colon;

	if (sqlite3_prepare_v2(di->db, "SELECT v FROM state WHERE k = 'error'",
			       -1, &q, NULL) == SQLITE_OK
	    && sqlite3_step(q) == SQLITE_ROW
	    && (text = (const char *)sqlite3_column_text(q, 0)) != NULL) {
		colon = strchr(text, ':');
		if (colon != NULL && colon - text == ARCHIVE_ID_LEN) {
			memcpy(st->last_error_id, text, ARCHIVE_ID_LEN);
			text = colon + 2;
		}
		snprintf(st->last_error, sizeof(st->last_error), "%s", text);
	}
	sqlite3_finalize(q);
	st->last_error_time = fulltext_state_int(di, "error_time");
}

/* oldest_waiting - archive_stored_fn: the first message not indexed */
static int
oldest_waiting(const archive_message *msg, int64_t seq, void *ctx)
{
	(void)seq;
	*(int64_t *)ctx = msg->received_at;
	return 1;
}

/* discovery_index_status - how far the index has got */
int
discovery_index_status(discovery_index *di, archive *ar,
		       discovery_status *st, mk_error *err)
{
	int64_t max_seq, received = 0;

	memset(st, 0, sizeof(*st));
	if (archive_stored_count(ar, &st->stored, &max_seq, err) != 0)
		return -1;
	st->last_seq = fulltext_state_int(di, "last_seq");
	st->indexed = count_of(di, "SELECT count(*) FROM docs");
	st->errors = count_of(di, "SELECT count(*) FROM docs WHERE failed");
	st->lag_messages = st->stored > st->indexed ? st->stored - st->indexed : 0;
	if (max_seq > st->last_seq
	    && archive_each_stored(ar, st->last_seq, 1, oldest_waiting,
				   &received, err) != 0)
		return -1;
	if (received > 0)
		st->lag_seconds = (mk_now_usec() - received) / 1000000;
	last_error(di, st);
	return 0;
}

/* The FTS5 column filters of the fields that the full text answers. */
static const struct {
	discovery_field field;
	const char *column;		/* NULL: every column */
} text_fields[] = {
	{DQ_TEXT, NULL},
	{DQ_SUBJECT, "subject"},
	{DQ_ATTACHMENT, "attachment"},
	{DQ_HEADER_FROM, "hdr_from"},
	{DQ_HEADER_TO, "hdr_to"},
};
#define N_TEXT_FIELDS (sizeof(text_fields) / sizeof(text_fields[0]))

/* The MATCH expressions of a query: what must match, and what must not
 * (a field with negated terms only, discovery.h); and its hold: terms. */
typedef struct match_exprs {
	char *must;			/* NULL: nothing positive */
	char *must_not[N_TEXT_FIELDS];
	size_t n_not;
	bool attachments;		/* has:attachment */
	const char *hold_in[DISCOVERY_MAX_TERMS];	/* names: one of them */
	size_t n_in;
	const char *hold_out[DISCOVERY_MAX_TERMS];	/* none of them */
	size_t n_out;
	int64_t one;			/* only this seq; 0: every one */
} match_exprs;

/* The parameters of a match's statement: ?1 must, ?2.. the must_nots,
 * then ONE_PARAM, then the hold names from HOLD_PARAM on. */
#define ONE_PARAM	9
#define HOLD_PARAM	10

/* scoped - expr for column (NULL: every column), CJK spaced as in the
 * index (every value in expr is an FTS5 string, so the spaces land
 * inside strings); malloc'ed */
static char *
scoped(const char *column, const char *expr)
{
	char *spaced = cjk_spaced(expr), *out = NULL;
	int n = column != NULL ? asprintf(&out, "{%s} : (%s)", column, spaced)
			       : asprintf(&out, "(%s)", spaced);

	g_free(spaced);
	return n < 0 ? NULL : out;
}

/* add_field - q's terms of text field k into m; -1 when out of memory */
static int
add_field(const discovery_query *q, size_t k, match_exprs *m)
{
	bool none, none_not;
	char *pos = discovery_query_fts(q, text_fields[k].field, &none);
	char *neg = discovery_query_fts_not(q, text_fields[k].field, &none_not);
	char *part, *joined = NULL;
	int rc = 0;

	if ((pos == NULL && !none) || (neg == NULL && !none_not))
		rc = -1;
	else if (pos != NULL) {
		part = scoped(text_fields[k].column, pos);
		if (part == NULL || asprintf(&joined, "%s%s%s", m->must ? m->must
					     : "", m->must ? " AND " : "",
					     part) < 0)
			rc = -1;
		free(part);
		free(m->must);
		m->must = rc == 0 ? joined : NULL;
	} else if (neg != NULL) {
		if ((m->must_not[m->n_not] = scoped(text_fields[k].column,
						    neg)) == NULL)
			rc = -1;
		else
			m->n_not++;
	}
	free(pos);
	free(neg);
	return rc;
}

/* add_others - q's has:attachment and hold: terms into m */
static void
add_others(const discovery_query *q, match_exprs *m)
{
	const discovery_term *t;
	size_t i;

	for (i = 0; i < q->n; i++) {
		t = &q->terms[i];
		if (t->field == DQ_HAS_ATTACHMENT && !t->negated)
			m->attachments = true;
		else if (t->field == DQ_HOLD && t->negated)
			m->hold_out[m->n_out++] = t->value;
		else if (t->field == DQ_HOLD)
			m->hold_in[m->n_in++] = t->value;
	}
}

/* match_build - m from q; -1 when out of memory */
static int
match_build(const discovery_query *q, match_exprs *m)
{
	size_t k;

	memset(m, 0, sizeof(*m));
	add_others(q, m);
	for (k = 0; k < N_TEXT_FIELDS; k++)
		if (add_field(q, k, m) != 0)
			return -1;
	return 0;
}

/* match_used - has m anything for the index to answer? */
static bool
match_used(const match_exprs *m)
{
	return m->must != NULL || m->n_not > 0 || m->attachments
	    || m->n_in > 0 || m->n_out > 0;
}

/* match_free - the expressions */
static void
match_free(match_exprs *m)
{
	size_t i;

	free(m->must);
	for (i = 0; i < m->n_not; i++)
		free(m->must_not[i]);
}

/* hold_clause - " AND d.seq [NOT] IN (the members of n holds named by
 * the parameters from first on)" into buf */
static void
hold_clause(char *buf, size_t size, bool in, size_t first, size_t n)
{
	size_t i, len;

	snprintf(buf, size, " AND d.seq %sIN (SELECT m.msg FROM hold_members m"
		 " JOIN holds h ON h.number = m.hold WHERE h.name IN (",
		 in ? "" : "NOT ");
	for (i = 0; i < n; i++) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s?%zu", i ? "," : "", first + i);
	}
	len = strlen(buf);
	snprintf(buf + len, size - len, "))");
}

/* match_sql - the SELECT of seq and id for m */
static char *
match_sql(const match_exprs *m, bool newest)
{
	char nots[N_TEXT_FIELDS * 80] = "", in[2048] = "", out[2048] = "";
	char *sql = NULL;
	size_t i;

	for (i = 0; i < m->n_not; i++)
		snprintf(nots + strlen(nots), sizeof(nots) - strlen(nots),
			 " AND d.seq NOT IN (SELECT rowid FROM words"
			 " WHERE words MATCH ?%zu)", i + 2);
	if (m->n_in > 0)
		hold_clause(in, sizeof(in), true, HOLD_PARAM, m->n_in);
	if (m->n_out > 0)
		hold_clause(out, sizeof(out), false, HOLD_PARAM + m->n_in,
			    m->n_out);
	/* Ordered by words.rowid, not d.seq (the same number), when there is
	 * a MATCH: FTS5 then hands the hits in that order itself and the
	 * first ones come at once; ordered by d.seq, SQLite collected and
	 * sorted every hit first (a common word: most of the archive).  A
	 * hold's messages are its messages, indexed or not (failed). */
	if (asprintf(&sql, "SELECT d.seq, d.id FROM docs d%s WHERE %s%s%s%s%s%s"
		     " ORDER BY %s %s",
		     m->must ? " JOIN words ON words.rowid = d.seq" : "",
		     m->must ? "words MATCH ?1" : m->n_in ? "1" : "NOT d.failed",
		     m->attachments ? " AND d.attachments" : "", nots, in, out,
		     m->one ? " AND d.seq = ?" STRINGIFY(ONE_PARAM) : "",
		     m->must ? "words.rowid" : "d.seq",
		     newest ? "DESC" : "ASC") < 0)
		return NULL;
	return sql;
}

/* match_prepare - m's statement, its parameters bound; NULL and err */
static sqlite3_stmt *
match_prepare(discovery_index *di, const match_exprs *m, bool newest,
	      mk_error *err)
{
	char *sql = match_sql(m, newest);
	sqlite3_stmt *st = NULL;
	size_t i;

	if (sql == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if (sqlite3_prepare_v2(di->db, sql, -1, &st, NULL) != SQLITE_OK)
		fulltext_fail(di, "prepare search", err);
	free(sql);
	if (st == NULL)
		return NULL;
	if (m->must != NULL)
		sqlite3_bind_text(st, 1, m->must, -1, SQLITE_STATIC);
	for (i = 0; i < m->n_not; i++)
		sqlite3_bind_text(st, (int)i + 2, m->must_not[i], -1,
				  SQLITE_STATIC);
	for (i = 0; i < m->n_in; i++)
		sqlite3_bind_text(st, HOLD_PARAM + (int)i, m->hold_in[i], -1,
				  SQLITE_STATIC);
	for (i = 0; i < m->n_out; i++)
		sqlite3_bind_text(st, HOLD_PARAM + (int)(m->n_in + i),
				  m->hold_out[i], -1, SQLITE_STATIC);
	if (m->one)
		sqlite3_bind_int64(st, ONE_PARAM, m->one);
	return st;
}

/* run_match - step through the hits */
static int
run_match(discovery_index *di, const match_exprs *m, bool newest,
	  discovery_hit_fn fn, void *ctx, mk_error *err)
{
	sqlite3_stmt *st = match_prepare(di, m, newest, err);
	int rc = SQLITE_DONE, stop = 0;

	if (st == NULL)
		return -1;
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
		stop = fn((const char *)sqlite3_column_text(st, 1),
			  sqlite3_column_int64(st, 0), ctx);
	sqlite3_finalize(st);
	if (!stop && rc != SQLITE_DONE)
		return fulltext_fail(di, "search", err);
	return 0;
}

/* discovery_index_match - the messages whose text matches q */
int
discovery_index_match(discovery_index *di, const discovery_query *q,
		      bool newest, discovery_hit_fn fn, void *ctx, bool *used,
		      mk_error *err)
{
	match_exprs m;
	int rc = 0;

	if (match_build(q, &m) != 0)
		rc = mk_error_set(err, "out of memory");
	else if ((*used = match_used(&m)))
		rc = run_match(di, &m, newest, fn, ctx, err);
	match_free(&m);
	return rc;
}

/* fulltext_has_text_terms - a term of the words, has: or hold: */
bool
fulltext_has_text_terms(const discovery_query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (!discovery_is_envelope_field(q->terms[i].field))
			return true;
	return false;
}

/* fulltext_matches_one - q's index terms against the message of seq */
int
fulltext_matches_one(discovery_index *di, const discovery_query *q,
		     int64_t seq, bool *hit, mk_error *err)
{
	match_exprs m;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	*hit = false;
	if (match_build(q, &m) != 0)
		rc = mk_error_set(err, "out of memory");
	else if (!match_used(&m))
		*hit = true;
	else {
		m.one = seq;
		if ((st = match_prepare(di, &m, false, err)) == NULL)
			rc = -1;
		else if ((step = sqlite3_step(st)) == SQLITE_ROW)
			*hit = true;
		else if (step != SQLITE_DONE)
			rc = fulltext_fail(di, "match", err);
		sqlite3_finalize(st);
	}
	match_free(&m);
	return rc;
}

/* remove_files - fulltext.sqlite and its WAL and shared memory */
static int
remove_files(const char *dir, mk_error *err)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char *path;
	size_t i;

	for (i = 0; i < 3; i++) {
		if (asprintf(&path, "%s/%s%s", dir, DISCOVERY_INDEX_FILE,
			     suffixes[i]) < 0)
			return mk_error_set(err, "out of memory");
		if (unlink(path) != 0 && errno != ENOENT) {
			mk_error_errno(err, "remove %s", path);
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

/* discovery_index_rebuild - the full-text index anew, with progress */
int
discovery_index_rebuild(const char *dir, archive *ar,
			archive_progress_fn progress, void *ctx,
			int64_t *messages, mk_error *err)
{
	discovery_index *di;
	int64_t total, max_seq;
	size_t done = 1;
	int rc = 0;

	*messages = 0;
	if (archive_stored_count(ar, &total, &max_seq, err) != 0
	    || remove_files(dir, err) != 0
	    || (di = discovery_index_open(dir, err)) == NULL)
		return -1;
	while (rc == 0 && done > 0) {
		rc = discovery_index_step(di, ar, 500, &done, err);
		*messages += (int64_t)done;
		if (progress != NULL)
			progress("full text", (uint64_t)*messages,
				 (uint64_t)total, ctx);
	}
	discovery_index_close(di);
	return rc;
}
