/*
 * expire.c - archive_expire: forgetting the messages whose retention is
 * over (docs/FORMAT.md 1.2).
 *
 * The unit is a group (content.c): the messages whose retention ends on
 * the same UTC day, their content segments and that day's key, which
 * also seals their records.  A group whose every message is due, and none
 * of them held, goes in this order, each step durable before the next:
 *   1. an "expired" ledger entry a message (id, content and record hash):
 *	the commit point; from here the messages count as gone;
 *   2. its index rows, deleted with secure_delete (the freed pages are
 *	zeroed), then the write-ahead log checkpointed and truncated;
 *   3. its content segments, then its directory;
 *   4. its day key: its records, in the records/ files of the days they
 *	were received, can no longer be opened by anyone (crypto-shredding).
 * A run that stops anywhere (SIGKILL, a full disk) is finished by the
 * next: entries already written are not written again, and a past group
 * with no index row left has its files and key removed.
 *
 * It runs beside the writer, without the writer lock: no writer stores
 * into a group whose day has come (store.c refuses a retention that ends
 * on a day that has begun), the ledger is appended under its own lock, the index through
 * SQLite's.  Two runs at once are kept apart by expire.lock.  It refuses
 * to run while the index is behind the ledger: a stored message without
 * its row would otherwise lose its content without an entry.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define EXPIRE_LOCK_FILE "expire.lock"
#define EXPIRE_BATCH 256		/* ledger entries an append */
#define SEC_PER_DAY 86400

/* The state of one run. */
typedef struct expire_run {
	archive *ar;
	int64_t now;			/* seconds */
	bool dry_run;
	archive_held_fn held;
	archive_forget_fn forget;
	void *held_ctx;
	archive_progress_fn progress;
	void *ctx;
	archive_expire_stats *stats;
	ledger_map map;			/* what the ledger says */
} expire_run;

/* group_start - the first second of group's day; -1 for "forever" or a
 * name that is no day */
static int64_t
group_start(const char *group)
{
	struct tm tm = { 0 };
	char *end;

	end = strptime(group, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	return (int64_t)timegm(&tm);
}

/* index_caught_up - does the index have a row of every stored message
 * that has not expired?  0 yes, -1 with err */
static int
index_caught_up(expire_run *run, mk_error *err)
{
	sqlite3_stmt *st;
	uint64_t live = 0, rows = 0;
	size_t i;

	for (i = 0; i < run->map.n; i++)
		live += !run->map.msgs[i].expired;
	if (sqlite3_prepare_v2(run->ar->db, "SELECT count(*) FROM messages",
			       -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(run->ar->db));
	if (sqlite3_step(st) == SQLITE_ROW)
		rows = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rows < live)
		return mk_error_set(err, "the index is behind the ledger (%llu"
				    " stored messages, %llu rows): nothing is"
				    " expired until the writer has caught up",
				    (unsigned long long)live,
				    (unsigned long long)rows);
	return 0;
}

/* A message of a group, as the index has it. */
typedef struct group_msg {
	char id[ARCHIVE_ID_LEN + 1];
	int64_t size;
	bool expired;			/* its entry is in the ledger */
} group_msg;

/* The messages of one group. */
typedef struct day_group {
	char name[CONTENT_GROUP_MAX];
	int64_t start;
	group_msg *msgs;
	size_t n, cap;
	bool due;			/* every one's retention is over */
	bool held;			/* one of them is under a hold */
} day_group;

/* group_take - the index's messages of g's day into g */
static int
group_take(expire_run *run, day_group *g, mk_error *err)
{
	sqlite3_stmt *st;
	group_msg *m;
	ledger_msg *lm;
	int rc;

	if (sqlite3_prepare_v2(run->ar->db, "SELECT id, size, retain_until"
			       " FROM messages WHERE retain_until >= ?1 AND"
			       " retain_until < ?2", -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(run->ar->db));
	sqlite3_bind_int64(st, 1, g->start);
	sqlite3_bind_int64(st, 2, g->start + SEC_PER_DAY);
	g->due = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (g->n == g->cap) {
			g->cap = g->cap ? 2 * g->cap : 64;
			if ((m = realloc(g->msgs, g->cap * sizeof(*m))) == NULL) {
				sqlite3_finalize(st);
				return mk_error_set(err, "out of memory");
			}
			g->msgs = m;
		}
		m = &g->msgs[g->n++];
		snprintf(m->id, sizeof(m->id), "%s", sqlite3_column_text(st, 0));
		m->size = sqlite3_column_int64(st, 1);
		g->due &= sqlite3_column_int64(st, 2) <= run->now;
		lm = ledger_map_find(&run->map, m->id);
		m->expired = lm != NULL && lm->expired;
		if (run->held != NULL && run->held(m->id, run->held_ctx))
			g->held = true;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mk_error_set(err, "index: %s",
						      sqlite3_errmsg(run->ar->db));
}

/* expired_entry - the ledger entry of one message's expiry into buf */
static void
expired_entry(const expire_run *run, const day_group *g, const ledger_msg *lm,
	      char *buf, size_t size)
{
	snprintf(buf, size, "\"event\":\"expired\",\"time\":%lld,\"id\":\"%s\","
		 "\"group\":\"%s\",\"sha256\":%s%s%s,\"record\":\"%s\"",
		 (long long)run->now * 1000000LL, lm->id, g->name,
		 lm->sha256[0] ? "\"" : "", lm->sha256[0] ? lm->sha256 : "null",
		 lm->sha256[0] ? "\"" : "", lm->record);
}

/* write_entries - step 1: an "expired" entry for each message of g that
 * has none yet */
static int
write_entries(expire_run *run, day_group *g, mk_error *err)
{
	char lines[EXPIRE_BATCH][256];
	const char *entries[EXPIRE_BATCH];
	ledger_msg *lm;
	int64_t seq;
	size_t i, n = 0;

	for (i = 0; i <= g->n; i++) {
		if (n == EXPIRE_BATCH || (i == g->n && n > 0)) {
			if (ledger_append(run->ar, entries, n, &seq, err) != 0)
				return -1;
			n = 0;
		}
		if (i == g->n || g->msgs[i].expired)
			continue;
		if ((lm = ledger_map_find(&run->map, g->msgs[i].id)) == NULL)
			return mk_error_set(err, "message %s is in the index but"
					    " not in the ledger", g->msgs[i].id);
		expired_entry(run, g, lm, lines[n], sizeof(lines[n]));
		entries[n] = lines[n];
		n++;
	}
	return 0;
}

/* forget_group - between steps 1 and 2: each message of g, whole, to
 * the caller's forget (the full-text index's words go), then NULL */
static int
forget_group(expire_run *run, const day_group *g, mk_error *err)
{
	archive_message *msg;
	size_t i;
	int rc = 0;

	if (run->forget == NULL)
		return 0;
	for (i = 0; rc == 0 && i < g->n; i++) {
		if (archive_lookup(run->ar, g->msgs[i].id, &msg, err) != 0)
			return -1;
		rc = run->forget(msg, run->held_ctx, err);
		archive_message_free(msg);
	}
	return rc == 0 ? run->forget(NULL, run->held_ctx, err) : -1;
}

/* delete_rows - step 2: g's index rows, zeroed (secure_delete) */
static int
delete_rows(expire_run *run, const day_group *g, mk_error *err)
{
	static const char *const sql[] = {
		"DELETE FROM recipients WHERE message IN (SELECT id FROM"
		" messages WHERE retain_until >= ?1 AND retain_until < ?2)",
		"DELETE FROM roles WHERE message IN (SELECT id FROM"
		" messages WHERE retain_until >= ?1 AND retain_until < ?2)",
		"DELETE FROM messages WHERE retain_until >= ?1 AND"
		" retain_until < ?2",
	};
	sqlite3 *db = run->ar->db;
	sqlite3_stmt *st;
	size_t i;
	int rc = SQLITE_OK;

	if (sqlite3_exec(db, "PRAGMA secure_delete=ON; BEGIN IMMEDIATE", NULL,
			 NULL, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(db));
	for (i = 0; rc == SQLITE_OK && i < sizeof(sql) / sizeof(sql[0]); i++) {
		if ((rc = sqlite3_prepare_v2(db, sql[i], -1, &st, NULL)) != SQLITE_OK)
			break;
		sqlite3_bind_int64(st, 1, g->start);
		sqlite3_bind_int64(st, 2, g->start + SEC_PER_DAY);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_OK
	    && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	mk_error_set(err, "index: delete the rows of %s: %s", g->name,
		     sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* remove_group_files - steps 3 and 4: the segments of group, its
 * directory and its day key; what is already gone is fine.  Bytes freed
 * into *freed. */
static int
remove_group_files(archive *ar, const char *group, uint64_t *freed,
		   mk_error *err)
{
	char rel[CONTENT_FILE_MAX + 16], key[KEYS_NAME_MAX], *dir, *path;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	snprintf(rel, sizeof(rel), CONTENT_DIR "/%s", group);
	if ((dir = path_join(ar->dir, rel)) == NULL)
		return mk_error_set(err, "out of memory");
	if ((d = opendir(dir)) != NULL) {
		while (rc == 0 && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, 0) == 0)
				*freed += (uint64_t)st.st_size;
			if (unlinkat(dirfd(d), de->d_name, 0) != 0)
				rc = mk_error_errno(err, "remove %s/%s", rel,
						    de->d_name);
		}
		closedir(d);
		if (rc == 0 && rmdir(dir) != 0 && errno != ENOENT)
			rc = mk_error_errno(err, "remove %s", rel);
		*strrchr(dir, '/') = '\0';
		if (rc == 0)
			rc = fsync_path(dir, err);
	}
	free(dir);
	snprintf(key, sizeof(key), "record-%s.key", group);
	if (rc == 0 && (path = path_join(ar->dir, "keys")) != NULL) {
		if ((dir = path_join(path, key)) == NULL)
			rc = mk_error_set(err, "out of memory");
		else if (unlink(dir) != 0 && errno != ENOENT)
			rc = mk_error_errno(err, "remove keys/%s", key);
		else
			rc = fsync_path(path, err);
		keyring_forget(&ar->keys, key);	/* nor in this process */
		free(dir);
		free(path);
	}
	return rc;
}

/* scrub_index - what deleted rows left in the write-ahead log goes:
 * checkpoint it into the database (whose freed pages secure_delete
 * zeroed) and truncate it */
static void
scrub_index(expire_run *run)
{
	sqlite3_wal_checkpoint_v2(run->ar->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
				  NULL, NULL);
}

/* expire_group - g, whose every message is due and none held */
static int
expire_group(expire_run *run, day_group *g, mk_error *err)
{
	uint64_t freed = 0;
	size_t i;

	run->stats->groups++;
	run->stats->messages += g->n;
	for (i = 0; i < g->n; i++)
		run->stats->bytes += (uint64_t)g->msgs[i].size;
	if (run->dry_run)
		return 0;
	if (write_entries(run, g, err) != 0 || forget_group(run, g, err) != 0
	    || delete_rows(run, g, err) != 0
	    || remove_group_files(run->ar, g->name, &freed, err) != 0)
		return -1;
	run->stats->bytes_freed += freed;
	return 0;
}

/* add_group - the name of retain_until's group to the list, once */
static int
add_group(day_group **list, size_t *n, size_t *cap, int64_t retain_until)
{
	char name[CONTENT_GROUP_MAX];
	day_group *grown;
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
	memset(&(*list)[*n], 0, sizeof(**list));
	snprintf((*list)[*n].name, CONTENT_GROUP_MAX, "%s", name);
	(*list)[*n].start = group_start(name);
	(*n)++;
	return 0;
}

/* due_groups - the groups with a message whose retention is over */
static int
due_groups(expire_run *run, day_group **list, size_t *n, mk_error *err)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if (sqlite3_prepare_v2(run->ar->db, "SELECT DISTINCT retain_until FROM"
			       " messages WHERE retain_until > 0 AND"
			       " retain_until <= ?1 ORDER BY retain_until",
			       -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(run->ar->db));
	sqlite3_bind_int64(st, 1, run->now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (add_group(list, n, &cap, sqlite3_column_int64(st, 0)) != 0) {
			sqlite3_finalize(st);
			return mk_error_set(err, "out of memory");
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mk_error_set(err, "index: %s",
						      sqlite3_errmsg(run->ar->db));
}

/* sweep - a past group with no index row left (a run stopped after its
 * rows went) whose segments or key are still there: remove them */
static int
sweep(expire_run *run, mk_error *err)
{
	char *dir = path_join(run->ar->dir, CONTENT_DIR);
	day_group g = { .n = 0 };
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (dir == NULL)
		return mk_error_set(err, "out of memory");
	d = opendir(dir);
	free(dir);
	while (rc == 0 && d != NULL && (de = readdir(d)) != NULL) {
		snprintf(g.name, sizeof(g.name), "%.*s", CONTENT_GROUP_MAX - 1,
			 de->d_name);
		g.start = group_start(g.name);
		if (g.start < 0 || g.start > run->now)
			continue;	/* forever, not a day, or to come */
		g.n = 0;
		if ((rc = group_take(run, &g, err)) == 0 && g.n == 0
		    && !run->dry_run)
			rc = remove_group_files(run->ar, g.name,
						&run->stats->bytes_freed, err);
	}
	if (d != NULL)
		closedir(d);
	free(g.msgs);
	return rc;
}

/* expire_groups - every due group, in order of day */
static int
expire_groups(expire_run *run, mk_error *err)
{
	day_group *list = NULL;
	size_t n = 0, i;
	int rc = due_groups(run, &list, &n, err);

	for (i = 0; rc == 0 && i < n; i++) {
		if ((rc = group_take(run, &list[i], err)) != 0)
			break;
		if (list[i].held)
			run->stats->kept_held += list[i].n;
		else if (list[i].due)
			rc = expire_group(run, &list[i], err);
		if (run->progress != NULL)
			run->progress("groups", i + 1, n, run->ctx);
	}
	for (i = 0; i < n; i++)
		free(list[i].msgs);
	free(list);
	return rc;
}

/* take_expire_lock - one run at a time; the fd, or -1 with err */
static int
take_expire_lock(archive *ar, mk_error *err)
{
	char *path = path_join(ar->dir, EXPIRE_LOCK_FILE);
	int fd;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		mk_error_errno(err, "open %s", path);
	else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		mk_error_set(err, "%s: another expiry is running", ar->dir);
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* archive_expire - forget every message past its retention (archive.h) */
int
archive_expire(archive *ar, const archive_expire_options *o,
	       archive_expire_stats *stats, mk_error *err)
{
	expire_run run = { .ar = ar, .now = o->now, .dry_run = o->dry_run,
			   .held = o->held, .forget = o->forget,
			   .held_ctx = o->ctx,
			   .progress = o->progress, .ctx = o->ctx,
			   .stats = stats };
	int lock, rc = -1;

	memset(stats, 0, sizeof(*stats));
	err->msg[0] = '\0';
	if ((lock = take_expire_lock(ar, err)) < 0)
		return -1;
	if (ledger_map_load(ar->dir, &run.map, err) == 0) {
		if (index_caught_up(&run, err) == 0
		    && expire_groups(&run, err) == 0 && sweep(&run, err) == 0)
			rc = 0;
		if (!run.dry_run && stats->groups > 0)
			scrub_index(&run);
	}
	ledger_map_free(&run.map);
	close(lock);
	return rc;
}
