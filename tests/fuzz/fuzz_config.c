/*
 * fuzz_config.c - libFuzzer target for mailkeep.conf and socket specs.
 *
 * NAME
 *	fuzz_config - run mk_config_read_stream() on arbitrary bytes
 *
 * SYNOPSIS
 *	make fuzz [FUZZ_SECONDS=60] [FUZZ_FLAGS="-jobs=2"]
 *	tests/fuzz/fuzz_config [libFuzzer options] CORPUS_DIR...
 *
 * DESCRIPTION
 *	Each input is read as mailkeep.conf through fmemopen() and
 *	mk_config_read_stream(), which reports every wrong line; then the
 *	value of every line is also given to mk_sockspec_parse() as a
 *	socket spec (the parser -p uses), so specs the config never reaches
 *	get parsed too.  Everything is freed, so LeakSanitizer checks
 *	ownership.
 *
 *	Besides the sanitizers, the target checks what the parser promises
 *	(mkconfig.h, sockspec.h): the count of problems equals the problems
 *	reported, each names a line from 1 to the number of lines, a config
 *	is returned whenever the stream could be read, every path in it is
 *	set after the defaults, a refused key's line is negative; a spec that
 *	parses has a port from 1 to 65535 or an absolute path shorter than
 *	sun_path.  A broken promise aborts, which libFuzzer reports as a
 *	crash.
 *
 *	The seed corpus is tests/fuzz/corpus/config/; tests/fuzz/config.dict
 *	holds the keys and the words of socket specs.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mkconfig.h"
#include "common/sockspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the parser reported. */
typedef struct seen {
	int problems;
	int lines;			/* lines in the input */
} seen;

/* note_problem - mk_ini_problem_fn: count it, check its line */
static void
note_problem(void *ctx, const char *name, int line, const char *why)
{
	seen *s = ctx;

	if (name == NULL || why == NULL || why[0] == '\0' || line < 1
	    || line > s->lines + 1)
		abort();
	s->problems++;
}

/* count_lines - the lines of the input (the last may lack its newline) */
static int
count_lines(const uint8_t *data, size_t size)
{
	int n = size > 0 && data[size - 1] != '\n';
	size_t i;

	for (i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

/* check_spec - a value as a socket spec: if it parses, it is sane */
static void
check_spec(const char *value)
{
	char why[MK_SOCKSPEC_WHY];
	mk_sockspec s;

	if (mk_sockspec_parse(value, &s, why) != 0) {
		if (why[0] == '\0')
			abort();
		return;
	}
	if (s.kind == MK_SOCK_UNIX ? s.path[0] != '/'
	    || strlen(s.path) >= MK_SOCKSPEC_PATH
	    : s.port < 1 || s.port > 65535 || s.host[0] == '\0')
		abort();
}

/* each_value - every "= value" of the input as a socket spec */
static void
each_value(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *line, *save = NULL, *eq;

	if (copy == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		check_spec(eq != NULL ? eq + 1 + (eq[1] == ' ') : line);
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	seen s = { 0, count_lines(data, size) };
	mk_config *cfg;
	mk_error err;
	int problems = -1;
	FILE *fp;

	if (size == 0 || (fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	cfg = mk_config_read_stream(fp, "fuzz.conf", note_problem, &s,
				    &problems, &err);
	fclose(fp);
	if (cfg == NULL || problems != s.problems || cfg->socket == NULL
	    || cfg->archive == NULL || cfg->access_socket == NULL)
		abort();
	if (problems == 0 && (cfg->line.socket < 0 || cfg->line.user < 0))
		abort();
	mk_config_free(cfg);
	each_value(data, size);
	return 0;
}
