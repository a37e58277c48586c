/*
 * query-bench.c - how long parsing a reviewer's query takes.
 *
 * NAME
 *	query-bench - time discovery_query_parse() on a 10-term query
 *
 * SYNOPSIS
 *	bench/query-bench [-n parses] [query]
 *
 * DESCRIPTION
 *	Parses the query (by default a 10-term one that uses quoting,
 *	negation, a date, a size and both kinds of address) n times
 *	(default 100,000), each parse timed on its own, wall clock
 *	(CLOCK_MONOTONIC) and the thread's CPU time (which a busy machine
 *	does not inflate), the query freed after each.  Prints the median,
 *	p99 and mean time per parse, and then the same for format and
 *	the FTS5 expression of the full text, which a search does once.
 *
 *	Figures only: it never passes or fails on time.  It exits 1 if the
 *	query does not parse.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "discovery/discovery.h"

#define DEFAULT_QUERY "from:alice@example.com to:@example.org " \
	"subject:\"board meeting\" after:2026-01-01 before:2026-07-01 " \
	"larger:10k merger acquisition -draft has:attachment"

/* What is timed: one step on text. */
typedef enum { STEP_PARSE, STEP_FORMAT_FTS } step;

/* now_ns - a clock in nanoseconds */
static double
now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* cmp_double - qsort order of doubles */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* run_step - one timed step on text; -1 if it failed */
static int
run_step(step s, const char *text)
{
	discovery_query q;
	mk_error err;
	bool none;
	char *a, *b;

	if (discovery_query_parse(text, &q, &err) != 0) {
		fprintf(stderr, "query-bench: %s\n", err.msg);
		return -1;
	}
	if (s == STEP_FORMAT_FTS) {
		a = discovery_query_format(&q);
		b = discovery_query_fts(&q, DQ_TEXT, &none);
		free(a);
		free(b);
	}
	discovery_query_free(&q);
	return 0;
}

/* report - median, p99 and mean of n samples in ns, as µs */
static void
report(const char *what, double *v, size_t n)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%-28s median %7.2f us  p99 %7.2f us  mean %7.2f us\n", what,
	       v[n / 2] / 1e3, v[n * 99 / 100] / 1e3, sum / (double)n / 1e3);
}

/* bench - n timed runs of step s on text */
static int
bench(step s, const char *label, const char *text, size_t n)
{
	double *wall = malloc(n * sizeof(*wall)), *cpu = malloc(n * sizeof(*cpu));
	double w0, c0;
	char name[64];
	size_t i;
	int rc = 0;

	if (wall == NULL || cpu == NULL) {
		fprintf(stderr, "query-bench: out of memory\n");
		rc = -1;
	}
	for (i = 0; rc == 0 && i < n; i++) {
		w0 = now_ns(CLOCK_MONOTONIC);
		c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
		rc = run_step(s, text);
		cpu[i] = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
		wall[i] = now_ns(CLOCK_MONOTONIC) - w0;
	}
	if (rc == 0) {
		snprintf(name, sizeof(name), "%s, wall", label);
		report(name, wall, n);
		snprintf(name, sizeof(name), "%s, CPU", label);
		report(name, cpu, n);
	}
	free(wall);
	free(cpu);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *text = DEFAULT_QUERY;
	size_t n = 100000;
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || (n = strtoul(optarg, NULL, 10)) == 0) {
			fprintf(stderr, "usage: query-bench [-n parses] "
				"[query]\n");
			return 2;
		}
	}
	if (optind < argc)
		text = argv[optind];
	printf("query (%zu bytes): %s\n%zu runs each\n", strlen(text), text, n);
	if (bench(STEP_PARSE, "parse", text, n) < 0 ||
	    bench(STEP_FORMAT_FTS, "parse+format+fts", text, n) < 0)
		return 1;
	return 0;
}
