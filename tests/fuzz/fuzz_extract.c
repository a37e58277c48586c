/*
 * fuzz_extract.c - libFuzzer target for the MIME text extractor.
 *
 * NAME
 *	fuzz_extract - run discovery_extract() on arbitrary bytes
 *
 * SYNOPSIS
 *	make fuzz-extract [FUZZ_SECONDS=60]
 *	tests/fuzz/fuzz_extract [libFuzzer options] CORPUS_DIR...
 *
 * DESCRIPTION
 *	Every archived message reaches the extractor, so any byte string a
 *	sender can write does.  Each input is extracted with a sink that
 *	checks what extract.c promises (discovery.h): every string it hands
 *	out is valid UTF-8, the text stays within DISCOVERY_MAX_TEXT, the
 *	parts within DISCOVERY_MAX_PARTS, and it returns 0 whatever the
 *	MIME.  A broken promise aborts.  Seeds: tests/fuzz/corpus/extract/
 *	(the messages of tests/e2e/gen_mime.py).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "discovery/discovery.h"

/* require - abort when a promise does not hold */
static void
require(int ok)
{
	if (!ok)
		abort();
}

static int
on_header(discovery_header which, const char *value, void *ctx)
{
	(void)ctx;
	require(which <= DISCOVERY_HDR_MESSAGE_ID);
	require(g_utf8_validate(value, -1, NULL));
	return 0;
}

static int
on_text(const char *utf8, size_t len, void *ctx)
{
	*(size_t *)ctx += len;
	require(g_utf8_validate(utf8, (gssize)len, NULL));
	return 0;
}

static int
on_attachment(const char *filename, const char *type, void *ctx)
{
	(void)ctx;
	require(filename == NULL || g_utf8_validate(filename, -1, NULL));
	require(type != NULL);
	return 0;
}

/* LLVMFuzzerTestOneInput - one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t text = 0;
	discovery_sink sink = { on_header, on_text, on_attachment, &text };
	discovery_stats st;
	mk_error err;

	require(discovery_extract(data, size, &sink, &st, &err) == 0);
	require(st.text_bytes <= DISCOVERY_MAX_TEXT);
	require(st.parts <= DISCOVERY_MAX_PARTS);
	return 0;
}
