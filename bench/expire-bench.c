/*
 * expire-bench.c - where the time of an expiry run goes (issue 11,
 * docs/PERFORMANCE.md "Holds and expiry").
 *
 * SYNOPSIS
 *	expire-bench [-x] [-M AUTOMERGE] [-N NOW] ARCHIVE
 *
 * DESCRIPTION
 *	Does in one process what `mailkeep expire` has mailkeep-access do
 *	(access/holds.c, run_expiry), with the same calls and callbacks, and
 *	times each part: the full-text index brought up to the archive; a
 *	dry run first (archive_expire with dry_run: the ledger read into a
 *	map, the due groups and each message's hold looked up); then the
 *	real run, split into
 *	  held      discovery_held() for each message of a due group;
 *	  forget    discovery_forget_message() for each message that goes:
 *	            its content read and its text extracted again, the FTS5
 *	            'delete', its docs row and hold memberships deleted;
 *	  commit    discovery_forget_commit(): the index's transaction of a
 *	            group, made durable;
 *	  archive   the rest of archive_expire(): the ledger map, the
 *	            "expired" entries (appended and fsynced), the index rows
 *	            deleted under secure_delete, the segments and day key
 *	            removed, the WAL truncated;
 *	  end       discovery_forget_end(): 'optimize' (every segment of the
 *	            words merged into one, freed pages zeroed), then the WAL
 *	            checkpointed and truncated.
 *	With -x, a pass before the dry run reads and extracts the text of
 *	every due message kept in full, as forget does, without touching the
 *	index (the baseline of forget: what re-extraction alone costs; it
 *	uses discovery/fulltext.h, which only discovery/ includes otherwise).
 *	-M sets FTS5's automerge of the words table to AUTOMERGE for the
 *	real run and back to the default (4) after it (an experiment: how
 *	much of forget is FTS5 merging segments that 'optimize' rewrites
 *	anyway).
 *	NOW (seconds since the epoch) defaults to the clock.  THE RUN EXPIRES
 *	THE ARCHIVE'S DUE MESSAGES: give it a copy.  The holds are not
 *	synced from the ledger first (the service does that before); a hold
 *	already in fulltext.sqlite counts.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "discovery/discovery.h"
#include "discovery/fulltext.h"

typedef struct bench {
	discovery_index *di;
	discovery_forget *forget;
	double held, forget_msg, commit;	/* seconds in each */
	double last_group, max_group;		/* the slowest group */
	uint64_t held_calls, forget_calls, held_errors;
} bench;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
held_fn(const char *id, void *ctx)
{
	bench *b = ctx;
	double t = now_s();
	mk_error err;
	bool held;

	if (discovery_held(b->di, id, &held, &err) != 0) {
		b->held_errors++;
		held = true;
	}
	b->held += now_s() - t;
	b->held_calls++;
	return held;
}

/* The extraction-only pass (-x). */
typedef struct extracting {
	archive *ar;
	int64_t now;
	uint64_t n, failed;
} extracting;

static int
extract_fn(const archive_message *msg, void *ctx)
{
	extracting *x = ctx;
	char note[MK_ERROR_MAX], digest[ARCHIVE_SHA256_HEX + 1];
	doc_text d;

	if (msg->retain_until <= 0 || msg->retain_until > x->now
	    || msg->content != ARCHIVE_FULL)
		return 0;
	memset(&d, 0, sizeof(d));
	if (fulltext_extract(x->ar, msg, &d, note) == 0)
		fulltext_digest(&d, digest);
	else
		x->failed++;
	fulltext_free_text(&d);
	x->n++;
	return 0;
}

static int
forget_fn(const archive_message *msg, void *ctx, mk_error *err)
{
	bench *b = ctx;
	double t = now_s();
	int rc;

	if (msg == NULL) {
		rc = discovery_forget_commit(b->forget, err);
		b->commit += now_s() - t;
		return rc;
	}
	rc = discovery_forget_message(b->forget, msg, err);
	b->forget_msg += now_s() - t;
	b->forget_calls++;
	return rc;
}

static void
progress_fn(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	bench *b = ctx;
	double t = now_s();

	(void)phase; (void)done; (void)total;
	if (t - b->last_group > b->max_group)
		b->max_group = t - b->last_group;
	b->last_group = t;
}

/* set_automerge - FTS5's automerge of the words table (persistent) */
static int
set_automerge(discovery_index *di, int n)
{
	char sql[96];

	snprintf(sql, sizeof(sql), "INSERT INTO words(words, rank)"
		 " VALUES('automerge', %d)", n);
	return sqlite3_exec(di->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
main(int argc, char **argv)
{
	int64_t now = (int64_t)time(NULL);
	archive_expire_options o = { 0 };
	archive_expire_stats st, dry;
	discovery_forget_stats fs = { 0 };
	discovery_status ds;
	bench b = { 0 };
	archive *ar;
	mk_error err;
	double t0, t1, t2, t3, t4, t5;
	size_t done = 1, caught = 0;
	bool extract_only = false;
	int automerge = -1;
	int c;

	while ((c = getopt(argc, argv, "xM:N:")) != -1) {
		switch (c) {
		case 'M': automerge = atoi(optarg); break;
		case 'x': extract_only = true; break;
		case 'N': now = atoll(optarg); break;
		default:
			fprintf(stderr, "usage: expire-bench [-x] [-M AUTOMERGE] [-N NOW] ARCHIVE\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: expire-bench [-x] [-M AUTOMERGE] [-N NOW] ARCHIVE\n");
		return 2;
	}
	t0 = now_s();
	if ((ar = archive_open(argv[optind], ARCHIVE_READ, &err)) == NULL
	    || (b.di = discovery_index_open(argv[optind], &err)) == NULL) {
		fprintf(stderr, "expire-bench: %s\n", err.msg);
		return 1;
	}
	if (discovery_index_status(b.di, ar, &ds, &err) != 0)
		goto fail;
	while (done > 0) {
		if (discovery_index_step(b.di, ar, 500, &done, &err) != 0)
			goto fail;
		caught += done;
	}
	t1 = now_s();
	printf("open + catch-up   %9.3f s  (%zu messages indexed first)\n",
	       t1 - t0, caught);
	if (extract_only) {
		extracting x = { .ar = ar, .now = now };
		archive_query aq = { 0 };
		double tx = now_s();

		if (archive_search(ar, &aq, extract_fn, &x, &err) != 0)
			goto fail;
		printf("extract only      %9.3f s  (%llu due messages read and"
		       " extracted, %llu could not be)\n", now_s() - tx,
		       (unsigned long long)x.n, (unsigned long long)x.failed);
		t1 = now_s();
	}
	o.now = now;
	o.held = held_fn;
	o.progress = progress_fn;
	o.ctx = &b;
	o.dry_run = true;
	if (archive_expire(ar, &o, &dry, &err) != 0)
		goto fail;
	t2 = now_s();
	printf("dry run           %9.3f s  %llu groups, %llu messages due, %llu"
	       " kept held; held look-ups %.3f s (%llu)\n", t2 - t1,
	       (unsigned long long)dry.groups, (unsigned long long)dry.messages,
	       (unsigned long long)dry.kept_held, b.held,
	       (unsigned long long)b.held_calls);
	fflush(stdout);

	b.held = 0;
	b.held_calls = 0;
	b.max_group = 0;
	if (automerge >= 0 && set_automerge(b.di, automerge) != 0)
		goto fail_db;
	if ((b.forget = discovery_forget_begin(b.di, ar, &err)) == NULL)
		goto fail;
	o.dry_run = false;
	o.forget = forget_fn;
	t3 = now_s();
	b.last_group = t3;
	if (archive_expire(ar, &o, &st, &err) != 0)
		goto fail;
	t4 = now_s();
	if (discovery_forget_end(b.forget, &fs, &err) != 0)
		goto fail;
	t5 = now_s();
	if (automerge >= 0 && set_automerge(b.di, 4) != 0)
		goto fail_db;
	printf("expire            %9.3f s  %llu groups, %llu messages, %llu bytes"
	       " freed, %llu kept held\n", t5 - t3,
	       (unsigned long long)st.groups, (unsigned long long)st.messages,
	       (unsigned long long)st.bytes_freed,
	       (unsigned long long)st.kept_held);
	printf("  held            %9.3f s  (%llu look-ups)\n", b.held,
	       (unsigned long long)b.held_calls);
	printf("  forget          %9.3f s  (%llu messages: read, extract, FTS5"
	       " delete; %llu words deleted, %llu mismatched)\n", b.forget_msg,
	       (unsigned long long)b.forget_calls, (unsigned long long)fs.words,
	       (unsigned long long)fs.mismatched);
	printf("  forget commits  %9.3f s\n", b.commit);
	printf("  archive         %9.3f s  (ledger map and entries, index rows,"
	       " segments and keys)\n",
	       (t4 - t3) - b.held - b.forget_msg - b.commit);
	printf("  optimize + WAL  %9.3f s\n", t5 - t4);
	printf("  slowest group   %9.3f s\n", b.max_group);
	discovery_index_close(b.di);
	archive_close(ar);
	return 0;
fail:
	fprintf(stderr, "expire-bench: %s\n", err.msg);
	return 1;
fail_db:
	fprintf(stderr, "expire-bench: automerge: %s\n", sqlite3_errmsg(b.di->db));
	return 1;
}
