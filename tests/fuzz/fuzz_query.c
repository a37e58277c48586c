/*
 * fuzz_query.c - libFuzzer target for the query language
 * (discovery/query.c).
 *
 * NAME
 *	fuzz_query - run discovery_query_parse() on arbitrary bytes
 *
 * SYNOPSIS
 *	make fuzz-query [FUZZ_SECONDS=60]
 *	tests/fuzz/fuzz_query [libFuzzer options] CORPUS_DIR...
 *
 * DESCRIPTION
 *	Reviewers type queries into the command line and the web, so the
 *	parser meets whatever anybody types.  Each input (up to its first
 *	NUL) is parsed as one query.  Besides the sanitizers, the target
 *	checks what query.c promises: a refusal says "at byte N: ..." and
 *	leaves the query empty; an accepted query has known fields, values
 *	without control characters, and its canonical text is at most
 *	DISCOVERY_MAX_QUERY bytes and parses back to the same terms, and
 *	to the same text again.  The FTS5 expressions of the full-text
 *	fields, at most one of fts and fts_not for each, are run by a real
 *	SQLite FTS5 (an in-memory table made once): none may be an FTS5
 *	error.  A broken promise aborts, which libFuzzer reports as a
 *	crash.  Seeds: tests/fuzz/corpus/query/.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "discovery/discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;
static sqlite3_stmt *match;

/* require - abort when a promise does not hold */
static void
require(int ok)
{
	if (!ok)
		abort();
}

/* open_fts - the in-memory FTS5 table the expressions run against */
static void
open_fts(void)
{
	require(sqlite3_open(":memory:", &db) == SQLITE_OK);
	require(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(body);"
			     "INSERT INTO t VALUES('merger board meeting');"
			     "INSERT INTO t VALUES('draft near a b or not');"
			     "INSERT INTO t VALUES('caf\xc3\xa9 x y z 2026');",
			     NULL, NULL, NULL) == SQLITE_OK);
	require(sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE t MATCH ?",
				   -1, &match, NULL) == SQLITE_OK);
}

/* check_fts_expr - expr is a valid FTS5 expression */
static void
check_fts_expr(const char *expr)
{
	int rc;

	require(sqlite3_bind_text(match, 1, expr, -1, SQLITE_STATIC)
		== SQLITE_OK);
	while ((rc = sqlite3_step(match)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		abort();	/* sqlite3_errmsg(db) in a debugger says why */
	sqlite3_reset(match);
	sqlite3_clear_bindings(match);
}

/* check_fts - each full-text field gives at most one expression, and
 * FTS5 takes it */
static void
check_fts(const discovery_query *q)
{
	static const discovery_field f[] = { DQ_TEXT, DQ_SUBJECT,
					     DQ_ATTACHMENT };
	bool none, none_not;
	char *e, *e_not;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		e = discovery_query_fts(q, f[i], &none);
		e_not = discovery_query_fts_not(q, f[i], &none_not);
		require((e == NULL) == none && (e_not == NULL) == none_not);
		require(e == NULL || e_not == NULL);
		if (e != NULL)
			check_fts_expr(e);
		if (e_not != NULL)
			check_fts_expr(e_not);
		free(e);
		free(e_not);
	}
	e = discovery_query_fts(q, DQ_FROM, &none);
	require(e == NULL && none);
}

/* check_terms - fields known, values present but for has:, no control
 * bytes */
static void
check_terms(const discovery_query *q)
{
	const unsigned char *v;
	size_t i;

	require(q->n <= DISCOVERY_MAX_TERMS && (q->n == 0) == (q->terms == NULL));
	for (i = 0; i < q->n; i++) {
		require(q->terms[i].field <= DQ_PARTY);	/* the last field */
		require((q->terms[i].value == NULL) ==
			(q->terms[i].field == DQ_HAS_ATTACHMENT));
		v = (const unsigned char *)q->terms[i].value;
		for (; v != NULL && *v; v++)
			require(*v >= 0x20 && *v != 0x7f);
	}
}

/* same_terms - a and b have the same terms */
static void
same_terms(const discovery_query *a, const discovery_query *b)
{
	const discovery_term *s, *t;
	size_t i;

	require(a->n == b->n);
	for (i = 0; i < a->n; i++) {
		s = &a->terms[i];
		t = &b->terms[i];
		require(s->field == t->field && s->negated == t->negated);
		require(s->phrase == t->phrase && s->number == t->number);
		require((s->value == NULL && t->value == NULL) ||
			(s->value && t->value &&
			 strcmp(s->value, t->value) == 0));
	}
}

/* check_round_trip - q formatted parses back to q, and formats the same */
static void
check_round_trip(const discovery_query *q)
{
	char *text = discovery_query_format(q), *again_text;
	discovery_query again;
	mk_error err;

	require(text != NULL && strlen(text) <= DISCOVERY_MAX_QUERY);
	require(discovery_query_parse(text, &again, &err) == 0);
	same_terms(q, &again);
	again_text = discovery_query_format(&again);
	require(again_text != NULL && strcmp(text, again_text) == 0);
	free(again_text);
	discovery_query_free(&again);
	free(text);
}

/* LLVMFuzzerTestOneInput - one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	discovery_query q;
	mk_error err;

	if (db == NULL)
		open_fts();
	require(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	err.msg[0] = '\0';
	if (discovery_query_parse(text, &q, &err) != 0) {
		require(strncmp(err.msg, "at byte ", 8) == 0 ||
			strcmp(err.msg, "out of memory") == 0);
		require(q.terms == NULL && q.n == 0);
		free(text);
		return 0;
	}
	check_terms(&q);
	check_round_trip(&q);
	check_fts(&q);
	discovery_query_free(&q);
	free(text);
	return 0;
}
