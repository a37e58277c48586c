/*
 * index-bench.c - how fast the full-text indexer takes an archive, beside
 * reading the same messages without indexing them.
 *
 * NAME
 *	index-bench - messages/s and MB/s of discovery_index_rebuild()
 *
 * SYNOPSIS
 *	bench/index-bench ARCHIVE [RUNS]
 *
 * DESCRIPTION
 *	RUNS times (default 3), interleaved:
 *	  read   every message's content through archive_read() (decrypt,
 *	         inflate, SHA-256), the part of indexing that is not
 *	         discovery's: the baseline;
 *	  index  discovery_index_rebuild(): the same reads, MIME extraction
 *	         (GMime) and the FTS5 inserts, from an empty fulltext.sqlite.
 *	Prints each run and the medians, messages/s and MB/s of original
 *	bytes, and the size of fulltext.sqlite per message.  Run it pinned to
 *	one core (taskset -c 0) to measure "one core" (bench/index-bench.sh
 *	does).  Prints figures; passes or fails nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "discovery/discovery.h"

#define MAX_RUNS 15

/* A pass of reading. */
typedef struct reading {
	archive *ar;
	int64_t bytes, messages;
} reading;

/* seconds - a monotonic clock */
static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* count_bytes - archive_read sink */
static int
count_bytes(const void *buf, size_t len, void *ctx)
{
	(void)buf;
	((reading *)ctx)->bytes += (int64_t)len;
	return 0;
}

/* read_one - archive_stored_fn: read a message's content */
static int
read_one(const archive_message *msg, int64_t seq, void *ctx)
{
	reading *r = ctx;
	mk_error err;

	(void)seq;
	if (msg->content == ARCHIVE_FULL
	    && archive_read(r->ar, msg->id, count_bytes, r, &err) != 0) {
		fprintf(stderr, "index-bench: %s\n", err.msg);
		return -1;
	}
	r->messages++;
	return 0;
}

/* compare - qsort order of doubles */
static int
compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* median - of n values (sorted in place) */
static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), compare);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	double read_s[MAX_RUNS], index_s[MAX_RUNS], t;
	int runs = argc > 2 ? atoi(argv[2]) : 3, i;
	reading r = { NULL, 0, 0 };
	char path[4096];
	struct stat st;
	int64_t indexed;
	mk_error err;

	if (argc < 2 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: index-bench ARCHIVE [RUNS (1-%d)]\n", MAX_RUNS);
		return 2;
	}
	if ((r.ar = archive_open(argv[1], ARCHIVE_READ, &err)) == NULL) {
		fprintf(stderr, "index-bench: %s\n", err.msg);
		return 1;
	}
	for (i = 0; i < runs; i++) {
		r.bytes = r.messages = 0;
		t = seconds();
		if (archive_each_stored(r.ar, 0, 0, read_one, &r, &err) != 0)
			return 1;
		read_s[i] = seconds() - t;
		t = seconds();
		if (discovery_index_rebuild(argv[1], r.ar, NULL, NULL, &indexed,
					    &err) != 0) {
			fprintf(stderr, "index-bench: %s\n", err.msg);
			return 1;
		}
		index_s[i] = seconds() - t;
		printf("run %d: %lld messages, %.1f MB: read %.2f s, index %.2f s\n",
		       i + 1, (long long)r.messages, (double)r.bytes / 1e6,
		       read_s[i], index_s[i]);
	}
	snprintf(path, sizeof(path), "%s/%s", argv[1], DISCOVERY_INDEX_FILE);
	t = median(index_s, runs);
	printf("median read:  %.0f messages/s, %.1f MB/s\n",
	       (double)r.messages / median(read_s, runs),
	       (double)r.bytes / 1e6 / median(read_s, runs));
	printf("median index: %.0f messages/s, %.1f MB/s (%.2fx the read time)\n",
	       (double)r.messages / t, (double)r.bytes / 1e6 / t,
	       t / median(read_s, runs));
	if (stat(path, &st) == 0 && r.messages > 0)
		printf("fulltext.sqlite: %.0f bytes a message\n",
		       (double)st.st_size / (double)r.messages);
	archive_close(r.ar);
	return 0;
}
