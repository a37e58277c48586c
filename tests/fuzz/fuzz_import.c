/*
 * fuzz_import.c - libFuzzer target for the import reader's mbox splitter
 * and envelope derivation.
 *
 * NAME
 *	fuzz_import - split arbitrary bytes as an mbox, derive envelopes
 *
 * SYNOPSIS
 *	make fuzz-import [FUZZ_SECONDS=60]
 *	tests/fuzz/fuzz_import [libFuzzer options] CORPUS_DIR...
 *
 * DESCRIPTION
 *	mailkeep import reads mbox files from anywhere.  Each input is read
 *	as an mbox (through fmemopen and the internal
 *	import_source_open_stream()) by a checking sink, and the target
 *	checks what import.h promises:
 *
 *	  - the calls come in order: begin, then envelope, chunk..., end, or
 *	    skip; chunks are 1..IMPORT_CHUNK bytes; end's size is the sum of
 *	    the chunks; notes are known bits; a skip has a printable reason;
 *	    message numbers count up from 1 (0 only for bytes before the
 *	    first From line, at offset 0); offsets rise and start "From ";
 *	  - an envelope is derived, has at most IMPORT_MAX_RCPTS recipients,
 *	    none empty and no two equal ignoring ASCII case;
 *	  - nothing is invented: the bytes handed over are at most the input;
 *	  - the round trip: the messages handed over, written again as
 *	    FORMAT.md 9.1's mboxrd, read back as exactly those messages,
 *	    none skipped.
 *	The input is also given whole to import_envelope_derive() as a
 *	header block.
 *
 *	The import sources are compiled in with READER_BUF (the read
 *	buffer) of 1,024 + 16 bytes and HEADER_MAX (the header block) of
 *	4,096, so that small inputs cross the buffer's end and cut header
 *	blocks.  A broken promise aborts, which libFuzzer reports as a
 *	crash.  Seeds: tests/fuzz/corpus/import/; words: import.dict.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import/import.h"
#include "import/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One message handed over. */
typedef struct msg {
	char *bytes;
	size_t len;
} msg;

/* What the checking sink saw. */
typedef struct seen {
	int state;			/* 0 idle, 1 begun, 2 envelope, 3 chunks */
	char *cur;			/* the message being handed over */
	size_t cur_len;
	msg *msgs;
	size_t n, cap;
	size_t skipped, total;
	uint64_t number;
	int64_t offset;
	const char *input;		/* to check offsets against */
	size_t input_len;
} seen;

/* require - abort, naming the line, when a promise does not hold */
#define require(ok) require_at((ok), __LINE__)

/* require_at - what require() calls */
static void
require_at(int ok, int line)
{
	if (!ok) {
		fprintf(stderr, "fuzz_import.c:%d: promise broken\n", line);
		abort();
	}
}

/* check_envelope - the promises of an envelope */
static void
check_envelope(const import_envelope *e)
{
	size_t i, j;

	require(e->derived);
	require(e->n_rcpts <= IMPORT_MAX_RCPTS);
	require((e->notes & ~(unsigned)(2 * IMPORT_NOTE_LAST - 1)) == 0);
	require(e->received_from <= IMPORT_TIME_MTIME);
	for (i = 0; i < e->n_rcpts; i++) {
		require(e->rcpts[i] != NULL && e->rcpts[i][0] != '\0');
		for (j = 0; j < i && e->n_rcpts < 200; j++)
			require(strcasecmp(e->rcpts[i], e->rcpts[j]) != 0);
	}
}

/* on_begin - sink->begin */
static int
on_begin(const import_origin *o, void *ctx)
{
	seen *s = ctx;

	require(s->state == 0 && o->path != NULL);
	if (o->number == 0)
		require(o->offset == 0 && s->number == 0);
	else {
		require(o->number == s->number + 1);
		require(o->offset >= s->offset && o->offset >= 0);
		require((size_t)o->offset + 5 <= s->input_len
			&& memcmp(s->input + o->offset, "From ", 5) == 0);
		s->number = o->number;
		s->offset = o->offset;
	}
	s->cur_len = 0;
	s->state = 1;
	return 0;
}

/* on_envelope - sink->envelope */
static int
on_envelope(const import_envelope *e, void *ctx)
{
	seen *s = ctx;

	require(s->state == 1);
	check_envelope(e);
	s->state = 2;
	return 0;
}

/* on_chunk - sink->chunk */
static int
on_chunk(const char *buf, size_t len, void *ctx)
{
	seen *s = ctx;

	require(s->state == 2 || s->state == 3);
	require(len > 0 && len <= IMPORT_CHUNK);
	require(s->cur_len + len <= s->input_len);
	s->cur = realloc(s->cur, s->cur_len + len);
	require(s->cur != NULL);
	memcpy(s->cur + s->cur_len, buf, len);
	s->cur_len += len;
	s->state = 3;
	return 0;
}

/* on_end - sink->end */
static int
on_end(const import_done *d, void *ctx)
{
	seen *s = ctx;

	require(s->state == 2 || s->state == 3);
	require(d->size == s->cur_len && d->size > 0);
	require((d->notes & ~(unsigned)(2 * IMPORT_NOTE_LAST - 1)) == 0);
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->msgs = realloc(s->msgs, s->cap * sizeof(msg));
		require(s->msgs != NULL);
	}
	s->msgs[s->n++] = (msg){ s->cur, s->cur_len };
	s->total += s->cur_len;
	require(s->total <= s->input_len);
	s->cur = NULL;
	s->cur_len = 0;
	s->state = 0;
	return 0;
}

/* on_skip - sink->skip */
static int
on_skip(const char *reason, void *ctx)
{
	seen *s = ctx;
	const char *p;

	require(s->state != 0 && reason != NULL && *reason != '\0');
	for (p = reason; *p; p++)
		require(*p >= ' ' && *p <= '~');
	free(s->cur);
	s->cur = NULL;
	s->skipped++;
	s->state = 0;
	return 0;
}

static const import_sink sink = { on_begin, on_envelope, on_chunk, on_end,
	on_skip };

/* split - every message of buf (len bytes) as an mbox into s */
static void
split(seen *s, const char *buf, size_t len)
{
	FILE *f = len > 0 ? fmemopen((void *)buf, len, "r")
		  : fopen("/dev/null", "r");
	mk_error err = { "" };
	import_source *src;
	int rc;

	require(f != NULL);
	s->input = buf;
	s->input_len = len;
	src = import_source_open_stream(f, "fuzz.mbox", 0, &err);
	require(src != NULL);
	while ((rc = import_next(src, &sink, s, &err)) == 1)
		require(s->state == 0);
	require(rc == 0);
	import_source_close(src);
}

/* mboxrd - the messages of s as FORMAT.md 9.1 writes them (caller
 * frees), its length in *len */
static char *
mboxrd(const seen *s, size_t *len)
{
	static const char sep[] = "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n";
	char *out = NULL;
	size_t cap = 0, i;
	FILE *f = open_memstream(&out, &cap);
	const char *p, *end, *nl;
	size_t n, k;

	require(f != NULL);
	for (i = 0; i < s->n; i++) {
		fputs(sep, f);
		for (p = s->msgs[i].bytes, end = p + s->msgs[i].len; p < end;
		     p += n) {
			nl = memchr(p, '\n', (size_t)(end - p));
			n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
			for (k = 0; k < n && p[k] == '>'; k++)
				;
			if (n - k >= 5 && memcmp(p + k, "From ", 5) == 0)
				fputc('>', f);
			fwrite(p, 1, n, f);
		}
		fputc('\n', f);
	}
	require(fclose(f) == 0);
	*len = cap;
	return out;
}

/* seen_free - release what s kept */
static void
seen_free(seen *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->msgs[i].bytes);
	free(s->msgs);
	free(s->cur);
}

/* round_trip - the messages of first, written and read again, are the
 * same messages */
static void
round_trip(const seen *first)
{
	seen again = { 0 };
	size_t len, i;
	char *mbox = mboxrd(first, &len);

	split(&again, mbox, len);
	require(again.skipped == 0 && again.n == first->n);
	for (i = 0; i < first->n; i++)
		require(again.msgs[i].len == first->msgs[i].len
			&& memcmp(again.msgs[i].bytes, first->msgs[i].bytes,
				  first->msgs[i].len) == 0);
	seen_free(&again);
	free(mbox);
}

/* LLVMFuzzerTestOneInput - one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	seen s = { 0 };
	import_envelope *e;

	split(&s, (const char *)data, size);
	round_trip(&s);
	seen_free(&s);
	e = import_envelope_derive((const char *)data, size, NULL, false, 0, 0);
	require(e != NULL);
	check_envelope(e);
	import_envelope_free(e);
	return 0;
}
