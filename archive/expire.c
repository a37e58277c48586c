/*
 * expire.c - archive_expire: forgetting the messages whose retention is
 * over (docs/FORMAT.md 1.2), re-keying the held ones first (1.3).
 *
 * The unit is a group (content.c): the messages whose retention ends on
 * the same UTC day, their content segments and that group's key, which
 * also seals their records.  A group goes whole: its files removed, its
 * key destroyed, never a file rewritten.  So a held message is first
 * moved out of it, into a re-key group of the same day, YYYY-MM-DD.N: its
 * content copied under the new group's key (content_recopy), its record
 * sealed anew under that key and appended to the records of the day it
 * was received, then a "rekeyed" ledger entry (the commit point of the
 * move), then its index row.  Then, each step durable before the next:
 *   1. an "expired" ledger entry for each message that is not held (id,
 *	group, content and record hash): the commit point; from here the
 *	messages count as gone;
 *   2. their index rows, deleted with secure_delete (the freed pages are
 *	zeroed), then the write-ahead log checkpointed and truncated;
 *   3. the content segments of every group of the day but the re-key
 *	group, then their directories;
 *   4. those groups' keys: their records, in the records/ files of the
 *	days they were received, can no longer be opened by anyone
 *	(crypto-shredding).
 * A run that stops anywhere (SIGKILL, a full disk) is finished by the
 * next: entries already written are not written again, a message already
 * in the group the stopped run moved into is not moved again (that group
 * is the newest of the day, and every message in it is held), an index
 * row that still names a message's previous record is updated first, and
 * a past group with no index row left has its files and key removed.
 * The moving, forgetting and removing is rewrite.c's, which re-decision
 * (redecide.c) shares.
 *
 * It runs beside the writer, without the writer lock: no writer stores
 * into a group whose day has come (store.c refuses a retention that ends
 * on a day that has begun), and none ever into a re-key group; the ledger
 * is appended under its own lock, the index through SQLite's.  Two runs
 * at once are kept apart by expire.lock.  It refuses to run while the
 * index is behind the ledger: a stored message without its row would
 * otherwise lose its content without an entry.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/internal.h"

#define SEC_PER_DAY 86400

/* The state of one run. */
typedef struct expire_run {
	rewrite_run rw;			/* archive, clock, ledger map, ... */
	archive_progress_fn progress;
	void *ctx;
	archive_expire_stats *stats;
} expire_run;

/* newest_all_held - is every message of g in its newest group held? The
 * group then is the target (a stopped run was moving into it, or the
 * day is all held): none is moved again */
static bool
newest_all_held(const rewrite_set *g, const char *newest)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->msgs[i].group, newest) == 0 && !g->msgs[i].held)
			return false;
	return true;
}

/* choose_target - the group g's held messages go into (FORMAT.md 1.3):
 * the newest of the day's groups when every message in it is held, else
 * the next generation */
static int
choose_target(rewrite_set *g, mk_error *err)
{
	unsigned gen, newest = 0;
	size_t i, at = 0;

	for (i = 0; i < g->n_groups; i++)
		if ((gen = content_group_generation(g->groups[i])) >= newest) {
			newest = gen;
			at = i;
		}
	if (newest_all_held(g, g->groups[at])) {
		snprintf(g->target, sizeof(g->target), "%s", g->groups[at]);
		return 0;
	}
	return rewrite_next_generation(g->name, g->groups, g->n_groups,
				       g->target, err);
}

/* plan_day - which of g's messages go, which move, which stay; counted */
static void
plan_day(expire_run *run, rewrite_set *g)
{
	rewrite_msg *m;
	size_t i, gone = 0, moves = 0;

	for (i = 0; i < g->n; i++) {
		m = &g->msgs[i];
		if (m->held) {
			run->stats->kept_held++;
			m->moves = strcmp(m->group, g->target) != 0;
			moves += m->moves;
		} else {
			m->goes = true;	/* never in the target: goes */
			gone++;
			run->stats->bytes += (uint64_t)m->size;
		}
	}
	run->stats->rekeyed += moves;
	run->stats->messages += gone;
	run->stats->groups += gone > 0;
}

/* expire_day - the due day g: its held messages moved, the rest gone,
 * and every group of the day but the target */
static int
expire_day(expire_run *run, rewrite_set *g, mk_error *err)
{
	if (g->held && (rewrite_disk_groups(&run->rw, g, err) != 0
			|| choose_target(g, err) != 0))
		return -1;
	plan_day(run, g);
	if (run->rw.dry_run)
		return 0;
	return rewrite_finish(&run->rw, g, err);
}

/* add_group - the day of retain_until to the list, once */
static int
add_group(rewrite_set **list, size_t *n, size_t *cap, int64_t retain_until)
{
	char name[CONTENT_GROUP_MAX];
	rewrite_set *grown;
	size_t i;

	content_group(retain_until, name);
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0)
			return 0;
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		if ((grown = realloc(*list, *cap * sizeof(*grown))) == NULL)
			return -1;
		*list = grown;
	}
	rewrite_day_of(name, &(*list)[(*n)++]);
	return 0;
}

/* due_groups - the days with a message whose retention is over */
static int
due_groups(expire_run *run, rewrite_set **list, size_t *n, mk_error *err)
{
	sqlite3 *db = run->rw.ar->db;
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT DISTINCT retain_until FROM"
			       " messages WHERE retain_until > 0 AND"
			       " retain_until <= ?1 ORDER BY retain_until",
			       -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, run->rw.now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (add_group(list, n, &cap, sqlite3_column_int64(st, 0)) != 0) {
			sqlite3_finalize(st);
			return mk_error_set(err, "out of memory");
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mk_error_set(err, "index: %s",
						      sqlite3_errmsg(db));
}

/* The state of sweep. */
typedef struct sweeping {
	expire_run *run;
	mk_error *err;
} sweeping;

/* sweep_group - rewrite_each_disk_group fn: remove group when it is past
 * and its day has no index row left (a run stopped after its rows went) */
static int
sweep_group(const char *group, void *ctx)
{
	sweeping *sw = ctx;
	rewrite_set g;
	int rc;

	rewrite_day_of(group, &g);
	if (g.start < 0 || g.start > sw->run->rw.now)
		return 0;	/* forever, not a day, or to come */
	if ((rc = rewrite_take(&sw->run->rw, &g, sw->err)) == 0 && g.n == 0
	    && !sw->run->rw.dry_run)
		rc = rewrite_remove_group(sw->run->rw.ar, group,
					  &sw->run->stats->bytes_freed, sw->err);
	rewrite_set_free(&g);
	return rc;
}

/* sweep - the files and keys of past groups without rows */
static int
sweep(expire_run *run, mk_error *err)
{
	sweeping sw = { run, err };

	return rewrite_each_disk_group(run->rw.ar, sweep_group, &sw, err);
}

/* expire_groups - every due day, in order */
static int
expire_groups(expire_run *run, mk_error *err)
{
	rewrite_set *list = NULL;
	size_t n = 0, i;
	int rc = due_groups(run, &list, &n, err);

	for (i = 0; rc == 0 && i < n; i++) {
		if ((rc = rewrite_take(&run->rw, &list[i], err)) != 0)
			break;
		if (list[i].due)
			rc = expire_day(run, &list[i], err);
		if (run->progress != NULL)
			run->progress("groups", i + 1, n, run->ctx);
	}
	for (i = 0; i < n; i++)
		rewrite_set_free(&list[i]);
	free(list);
	return rc;
}

/* archive_expire - forget every message past its retention (archive.h) */
int
archive_expire(archive *ar, const archive_expire_options *o,
	       archive_expire_stats *stats, mk_error *err)
{
	expire_run run = { .rw = { .ar = ar, .now = o->now,
				   .dry_run = o->dry_run, .held = o->held,
				   .forget = o->forget, .ctx = o->ctx },
			   .progress = o->progress, .ctx = o->ctx,
			   .stats = stats };
	int lock, rc = -1;

	memset(stats, 0, sizeof(*stats));
	err->msg[0] = '\0';
	if ((lock = rewrite_lock(ar, err)) < 0)
		return -1;
	if (ledger_map_load(ar->dir, &run.rw.map, err) == 0) {
		if (rewrite_index_caught_up(&run.rw, err) == 0
		    && (run.rw.dry_run || rewrite_catch_up_rows(&run.rw, err) == 0)
		    && expire_groups(&run, err) == 0 && sweep(&run, err) == 0)
			rc = 0;
		stats->bytes_freed += run.rw.bytes_freed;
		if (rc == 0 && !run.rw.dry_run && stats->rekeyed > 0)
			rc = ledger_checkpoint_due(ar, true, err);	/* the
					   moves provable at once (4.4) */
	}
	ledger_map_free(&run.rw.map);
	close(lock);
	return rc;
}
