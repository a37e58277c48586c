/*
 * fuzz_extract.c - libFuzzer target for the text extraction of messages.
 *
 * NAME
 *	fuzz_extract - run discovery_extract() on arbitrary bytes
 *
 * SYNOPSIS
 *	make fuzz-extract [FUZZ_SECONDS=60]
 *	tests/fuzz/fuzz_extract [libFuzzer options] CORPUS_DIR...
 *
 * DESCRIPTION
 *	Every archived message goes through discovery_extract(), and anyone
 *	can send one.  Each input is extracted twice, in a thread with a
 *	1 MB stack (smaller than a main thread's 8 MB, so that recursion on
 *	hostile nesting shows as a crash here rather than in a daemon's
 *	thread), and the target checks what discovery.h promises:
 *
 *	  - it returns 0 whatever the bytes; every header value, text run,
 *	    file name and type is valid UTF-8; no text run is empty or
 *	    longer than TEXT_RUN; header kinds are known;
 *	  - stats add up: text_bytes is the sum of the runs and at most
 *	    DISCOVERY_MAX_TEXT, attachments the number of attachment
 *	    calls, parts at most DISCOVERY_MAX_PARTS; a note is there
 *	    exactly when malformed or truncated is set, in printable ASCII;
 *	  - a sink that says stop at call k (k from the input's length)
 *	    gets exactly k calls, the same as the first k of a full run,
 *	    and discovery_extract() then returns -1 with a message.
 *
 *	A broken promise aborts, which libFuzzer reports as a crash.  Seeds:
 *	tests/fuzz/corpus/extract/; words: tests/fuzz/extract.dict.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "discovery/discovery.h"
#include "discovery/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a checking sink saw. */
typedef struct seen {
	GString *log;			/* every call, as text */
	size_t calls, stop_at;		/* stop_at 0: never */
	size_t text_bytes, attachments;
} seen;

/* require - abort, naming the line, when a promise does not hold */
#define require(ok) require_at((ok), __LINE__)

/* require_at - what require() calls */
static void
require_at(int ok, int line)
{
	if (!ok) {
		fprintf(stderr, "fuzz_extract.c:%d: promise broken\n", line);
		abort();
	}
}

/* answer - the sink's answer to its next call */
static int
answer(seen *s)
{
	return ++s->calls == s->stop_at ? 1 : 0;
}

/* on_header - sink->header */
static int
on_header(discovery_header which, const char *value, void *ctx)
{
	seen *s = ctx;

	require(which >= DISCOVERY_HDR_FROM && which <= DISCOVERY_HDR_MESSAGE_ID);
	require(value[0] != '\0' && g_utf8_validate(value, -1, NULL));
	g_string_append_printf(s->log, "H%d %s\n", (int)which, value);
	return answer(s);
}

/* on_text - sink->text */
static int
on_text(const char *utf8, size_t len, void *ctx)
{
	seen *s = ctx;

	require(len > 0 && len <= TEXT_RUN);
	require(g_utf8_validate(utf8, (gssize)len, NULL));
	s->text_bytes += len;
	g_string_append_printf(s->log, "T%zu ", len);
	g_string_append_len(s->log, utf8, (gssize)len);
	return answer(s);
}

/* on_attachment - sink->attachment */
static int
on_attachment(const char *filename, const char *type, void *ctx)
{
	seen *s = ctx;

	require(filename == NULL || (filename[0] != '\0'
				     && g_utf8_validate(filename, -1, NULL)));
	require(type[0] != '\0' && g_utf8_validate(type, -1, NULL));
	s->attachments++;
	g_string_append_printf(s->log, "A %s %s\n",
			       filename != NULL ? filename : "-", type);
	return answer(s);
}

/* check_note - a note exactly when something was wrong, in ASCII */
static void
check_note(const discovery_stats *st)
{
	size_t i, n = strnlen(st->note, sizeof(st->note));

	require(n < sizeof(st->note));
	require((n > 0) == (st->malformed || st->truncated));
	for (i = 0; i < n; i++)
		require(st->note[i] >= 0x20 && st->note[i] <= 0x7e);
}

/* One input. */
typedef struct job {
	const uint8_t *data;
	size_t size;
} job;

/* fuzz_one - extract, check, extract again stopping early, compare */
static void *
fuzz_one(void *arg)
{
	const job *j = arg;
	discovery_sink sink = { on_header, on_text, on_attachment, NULL };
	seen full = { g_string_new(""), 0, 0, 0, 0 };
	seen part = { g_string_new(""), 0, 0, 0, 0 };
	discovery_stats st;
	mk_error err;

	sink.ctx = &full;
	require(discovery_extract(j->data, j->size, &sink, &st, &err) == 0);
	require(st.text_bytes == full.text_bytes);
	require(st.text_bytes <= DISCOVERY_MAX_TEXT);
	require(st.attachments == full.attachments);
	require(st.parts <= DISCOVERY_MAX_PARTS);
	check_note(&st);

	part.stop_at = 1 + j->size % 3;
	sink.ctx = &part;
	err.msg[0] = '\0';
	if (full.calls >= part.stop_at) {
		require(discovery_extract(j->data, j->size, &sink, &st, &err) == -1);
		require(err.msg[0] != '\0');
		require(part.calls == part.stop_at);
		require(strncmp(full.log->str, part.log->str, part.log->len) == 0);
	}
	g_string_free(full.log, TRUE);
	g_string_free(part.log, TRUE);
	return NULL;
}

/* LLVMFuzzerTestOneInput - one input, in a thread with a 1 MB stack */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	job j = { data, size };
	pthread_attr_t attr;
	pthread_t t;

	require(pthread_attr_init(&attr) == 0);
	require(pthread_attr_setstacksize(&attr, 1 << 20) == 0);
	require(pthread_create(&t, &attr, fuzz_one, &j) == 0);
	require(pthread_join(t, NULL) == 0);
	pthread_attr_destroy(&attr);
	return 0;
}
