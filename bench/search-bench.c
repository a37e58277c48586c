/*
 * search-bench.c - the time the access service takes to answer searches,
 * in process: the same access_serve() that mailkeep-access runs for each
 * request, without the socket, the client or any process start-up.
 *
 * NAME
 *	search-bench - milliseconds of access_serve() per request
 *
 * SYNOPSIS
 *	bench/search-bench [-r RUNS] [-u UID] CONFIG REQUESTS
 *
 * DESCRIPTION
 *	CONFIG is a mailkeep.conf (its archive and policy); REQUESTS a file
 *	of lines "NAME TAB REQUEST", each REQUEST one JSON request line as
 *	the CLI sends it to mailkeep-access (e.g. {"op": "search", "from":
 *	"@corp.example", "limit": 100, "newest": true}).  Each run answers
 *	every request once, in file order, as the user UID (default 0: root,
 *	with the roles the policy gives it); RUNS runs (default 7), so the
 *	requests are interleaved and the cache is warm after the first.
 *	Prints for each request the median, minimum and maximum wall time of
 *	its answers (parse of the request line included; the query text is
 *	parsed inside access_serve, as in the daemon), the items it returned
 *	and its answer's count.  Every search writes its audit entry to the
 *	ledger, as in the service.  Prints figures; passes or fails nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access/access.h"
#include "common/mkconfig.h"
#include "policy/policy.h"

#define MAX_REQUESTS	64
#define MAX_RUNS	51

/* What one answer gave. */
typedef struct tally {
	size_t items;
	char end[256];		/* the end frame's text, cut */
} tally;

/* count_frame - access_emit_fn: count items, keep the end frame */
static int
count_frame(char type, const void *buf, size_t len, void *ctx)
{
	tally *t = ctx;

	if (type == ACCESS_FRAME_ITEM)
		t->items++;
	else if (type == ACCESS_FRAME_END) {
		if (len >= sizeof(t->end))
			len = sizeof(t->end) - 1;
		memcpy(t->end, buf, len);
		t->end[len] = '\0';
	}
	return 0;
}

/* now_ms - a monotonic clock in milliseconds */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* cmp_double - qsort order */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static double ms[MAX_REQUESTS][MAX_RUNS];
	char *names[MAX_REQUESTS], *lines[MAX_REQUESTS], *line = NULL, *tab;
	tally last[MAX_REQUESTS];
	size_t cap = 0, n = 0, i;
	int c, runs = 7, r;
	uid_t uid = 0;
	access_identity who;
	access_service *s;
	mk_config *cfg;
	policy *pol;
	mk_error err;
	ssize_t got;
	FILE *fp;

	while ((c = getopt(argc, argv, "r:u:")) != -1) {
		switch (c) {
		case 'r': runs = atoi(optarg); break;
		case 'u': uid = (uid_t)atol(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind != 2 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: search-bench [-r RUNS] [-u UID] CONFIG"
			" REQUESTS\n");
		return 2;
	}
	if ((fp = fopen(argv[optind + 1], "r")) == NULL) {
		perror(argv[optind + 1]);
		return 1;
	}
	while (n < MAX_REQUESTS && (got = getline(&line, &cap, fp)) > 0) {
		if (line[0] == '#' || (tab = strchr(line, '\t')) == NULL)
			continue;
		line[got - 1] = line[got - 1] == '\n' ? '\0' : line[got - 1];
		*tab = '\0';
		names[n] = strdup(line);
		lines[n++] = strdup(tab + 1);
	}
	fclose(fp);
	free(line);
	if ((cfg = mk_config_load(argv[optind], &err)) == NULL
	    || (pol = policy_load_or_default(cfg->policy, &err)) == NULL
	    || (s = access_service_new(cfg, pol, &err)) == NULL
	    || access_service_identity(s, uid, "bench", &who, &err) != 0) {
		fprintf(stderr, "search-bench: %s\n", err.msg);
		return 1;
	}
	for (r = 0; r < runs; r++)
		for (i = 0; i < n; i++) {
			access_request rq;
			double t0 = now_ms();

			memset(&last[i], 0, sizeof(last[i]));
			if (access_request_parse(lines[i], strlen(lines[i]), &rq,
						 &err) != 0) {
				fprintf(stderr, "search-bench: %s: %s\n", names[i],
					err.msg);
				return 1;
			}
			access_serve(s, &who, &rq, count_frame, &last[i]);
			ms[i][r] = now_ms() - t0;
			access_request_free(&rq);
		}
	printf("%-28s %10s %10s %10s %7s  %s\n", "request", "median ms",
	       "min ms", "max ms", "items", "end");
	for (i = 0; i < n; i++) {
		double sorted[MAX_RUNS];

		memcpy(sorted, ms[i], (size_t)runs * sizeof(double));
		qsort(sorted, (size_t)runs, sizeof(double), cmp_double);
		printf("%-28s %10.2f %10.2f %10.2f %7zu  %s\n", names[i],
		       sorted[runs / 2], sorted[0], sorted[runs - 1],
		       last[i].items, last[i].end);
		free(names[i]);
		free(lines[i]);
	}
	access_identity_free(&who);
	access_service_free(s);
	mk_config_free(cfg);
	return 0;
}
