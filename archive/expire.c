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
 * is the newest of the day, and the day has another: the one it was
 * leaving), an index row that still names a message's previous record is
 * updated first, and a past group with no index row left has its files
 * and key removed.
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

#include <openssl/crypto.h>

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

/* group_start - the first second of group's day (of a re-key group
 * YYYY-MM-DD.N too); -1 for "forever" or a name that is no day */
static int64_t
group_start(const char *group)
{
	struct tm tm = { 0 };
	char *end;

	end = strptime(group, "%Y-%m-%d", &tm);
	if (end == NULL || (*end != '\0' && *end != '.')
	    || !content_group_valid(group, strlen(group)))
		return -1;	/* YYYY-MM-DD.N: the day before the dot */
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

/* A message of a day, as the index and the ledger have it. */
typedef struct group_msg {
	char id[ARCHIVE_ID_LEN + 1];
	int64_t size;
	int64_t received_at;		/* microseconds: its records' day */
	char group[CONTENT_GROUP_MAX];	/* the group it is in */
	bool expired;			/* its entry is in the ledger */
	bool held;			/* under a hold (and not expired) */
	bool goes;			/* expired by this run */
} group_msg;

/* The messages of one day, and the groups of that day. */
typedef struct day_group {
	char name[CONTENT_GROUP_MAX];	/* the day, YYYY-MM-DD */
	int64_t start;
	group_msg *msgs;
	size_t n, cap;
	bool due;			/* every one's retention is over */
	bool held;			/* one of them is under a hold */
	char (*groups)[CONTENT_GROUP_MAX];	/* with rows, files or key */
	size_t n_groups, groups_cap;
	char target[CONTENT_GROUP_MAX];	/* where the held ones go; "" */
} day_group;

/* add_name - group into g's groups, once */
static int
add_name(day_group *g, const char *group)
{
	char (*grown)[CONTENT_GROUP_MAX];
	size_t i;

	for (i = 0; i < g->n_groups; i++)
		if (strcmp(g->groups[i], group) == 0)
			return 0;
	if (g->n_groups == g->groups_cap) {
		g->groups_cap = g->groups_cap ? 2 * g->groups_cap : 4;
		grown = realloc(g->groups, g->groups_cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		g->groups = grown;
	}
	snprintf(g->groups[g->n_groups++], CONTENT_GROUP_MAX, "%s", group);
	return 0;
}

/* take_row - one row of group_take's statement into g */
static int
take_row(expire_run *run, day_group *g, sqlite3_stmt *st)
{
	group_msg *m;
	ledger_msg *lm;

	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		if ((m = realloc(g->msgs, g->cap * sizeof(*m))) == NULL)
			return -1;
		g->msgs = m;
	}
	m = &g->msgs[g->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", sqlite3_column_text(st, 0));
	m->size = sqlite3_column_int64(st, 1);
	g->due &= sqlite3_column_int64(st, 2) <= run->now;
	m->received_at = sqlite3_column_int64(st, 3);
	lm = ledger_map_find(&run->map, m->id);
	m->expired = lm != NULL && lm->expired;
	snprintf(m->group, sizeof(m->group), "%s", lm != NULL && lm->group[0]
		 ? lm->group : g->name);
	m->held = !m->expired && run->held != NULL
	    && run->held(m->id, run->held_ctx);
	g->held |= m->held;
	return add_name(g, m->group);
}

/* group_take - the index's messages of g's day into g */
static int
group_take(expire_run *run, day_group *g, mk_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(run->ar->db, "SELECT id, size, retain_until,"
			       " received_at FROM messages WHERE retain_until"
			       " >= ?1 AND retain_until < ?2", -1, &st,
			       NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(run->ar->db));
	sqlite3_bind_int64(st, 1, g->start);
	sqlite3_bind_int64(st, 2, g->start + SEC_PER_DAY);
	g->due = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (take_row(run, g, st) != 0) {
			sqlite3_finalize(st);
			return mk_error_set(err, "out of memory");
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mk_error_set(err, "index: %s",
						      sqlite3_errmsg(run->ar->db));
}

/* on_disk_group - the group a name in content/ ("GROUP") or keys/
 * ("record-GROUP.key") stands for, into group; false: none */
static bool
on_disk_group(const char *name, bool key, char group[CONTENT_GROUP_MAX])
{
	size_t len = strlen(name);

	if (key) {
		if (strncmp(name, "record-", 7) != 0 || len < 12
		    || strcmp(name + len - 4, ".key") != 0)
			return false;
		name += 7;
		len -= 11;
	}
	if (!content_group_valid(name, len))
		return false;
	snprintf(group, CONTENT_GROUP_MAX, "%.*s", (int)len, name);
	return true;
}

/* each_disk_group - fn(group, ctx) for each group that has a directory
 * in content/ or a key in keys/ (a group may come twice) */
static int
each_disk_group(archive *ar, int (*fn)(const char *group, void *ctx),
		void *ctx, mk_error *err)
{
	static const char *const dirs[] = { CONTENT_DIR, "keys" };
	char group[CONTENT_GROUP_MAX], *path;
	struct dirent *de;
	size_t i;
	DIR *d;
	int rc = 0;

	for (i = 0; rc == 0 && i < 2; i++) {
		if ((path = path_join(ar->dir, dirs[i])) == NULL)
			return mk_error_set(err, "out of memory");
		d = opendir(path);
		free(path);
		while (rc == 0 && d != NULL && (de = readdir(d)) != NULL)
			if (on_disk_group(de->d_name, i == 1, group))
				rc = fn(group, ctx);
		if (d != NULL)
			closedir(d);
	}
	return rc;
}

/* note_disk_group - each_disk_group fn: a group of g's day into g */
static int
note_disk_group(const char *group, void *ctx)
{
	day_group *g = ctx;
	size_t day = strlen(g->name);

	if (strncmp(group, g->name, day) != 0
	    || (group[day] != '\0' && group[day] != '.'))
		return 0;
	return add_name(g, group) == 0 ? 0 : -1;
}

/* choose_target - the group g's held messages go into (FORMAT.md 1.3):
 * the newest of the day's groups when there are several (a stopped run
 * was moving into it), else the next generation of the only one */
static int
choose_target(day_group *g, mk_error *err)
{
	unsigned gen, newest = 0;
	size_t i, at = 0;

	for (i = 0; i < g->n_groups; i++)
		if ((gen = content_group_generation(g->groups[i])) >= newest) {
			newest = gen;
			at = i;
		}
	if (g->n_groups > 1) {
		snprintf(g->target, sizeof(g->target), "%s", g->groups[at]);
		return 0;
	}
	if (newest >= CONTENT_REKEY_MAX)
		return mk_error_set(err, "%s: no re-key group after %s",
				    g->name, g->groups[at]);
	snprintf(g->target, sizeof(g->target), "%s.%u", g->name, newest + 1);
	return 0;
}

/* expired_entry - the ledger entry of one message's expiry into buf */
static void
expired_entry(const expire_run *run, const group_msg *m, const ledger_msg *lm,
	      char *buf, size_t size)
{
	snprintf(buf, size, "\"event\":\"expired\",\"time\":%lld,\"id\":\"%s\","
		 "\"group\":\"%s\",\"sha256\":%s%s%s,\"record\":\"%s\"",
		 (long long)run->now * 1000000LL, lm->id, m->group,
		 lm->sha256[0] ? "\"" : "", lm->sha256[0] ? lm->sha256 : "null",
		 lm->sha256[0] ? "\"" : "", lm->record);
}

/* write_entries - step 1: an "expired" entry for each message of g that
 * goes and has none yet */
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
		if (i == g->n || !g->msgs[i].goes || g->msgs[i].expired)
			continue;
		if ((lm = ledger_map_find(&run->map, g->msgs[i].id)) == NULL)
			return mk_error_set(err, "message %s is in the index but"
					    " not in the ledger", g->msgs[i].id);
		expired_entry(run, &g->msgs[i], lm, lines[n], sizeof(lines[n]));
		entries[n] = lines[n];
		n++;
	}
	return 0;
}

/* forget_group - between steps 1 and 2: each message of g that goes,
 * whole, to the caller's forget (the full-text index's words go), then
 * NULL */
static int
forget_group(expire_run *run, const day_group *g, mk_error *err)
{
	archive_message *msg;
	size_t i;
	int rc = 0;

	if (run->forget == NULL)
		return 0;
	for (i = 0; rc == 0 && i < g->n; i++) {
		if (!g->msgs[i].goes)
			continue;
		if (archive_lookup(run->ar, g->msgs[i].id, &msg, err) != 0)
			return -1;
		rc = run->forget(msg, run->held_ctx, err);
		archive_message_free(msg);
	}
	return rc == 0 ? run->forget(NULL, run->held_ctx, err) : -1;
}


/* The statements of delete_rows: the messages that go are listed in a
 * temporary table first. */
static const char *const delete_sql[] = {
	"DELETE FROM recipients WHERE message IN (SELECT id FROM temp.gone)",
	"DELETE FROM roles WHERE message IN (SELECT id FROM temp.gone)",
	"DELETE FROM messages WHERE id IN (SELECT id FROM temp.gone)",
};

/* list_gone - the ids of g's messages that go into temp.gone */
static int
list_gone(sqlite3 *db, const day_group *g)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	if (sqlite3_exec(db, "CREATE TEMP TABLE IF NOT EXISTS gone(id TEXT"
			 " PRIMARY KEY); DELETE FROM temp.gone", NULL, NULL,
			 NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO temp.gone"
				  " VALUES (?1)", -1, &st, NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	for (i = 0, rc = SQLITE_OK; rc == SQLITE_OK && i < g->n; i++) {
		if (!g->msgs[i].goes)
			continue;
		sqlite3_bind_text(st, 1, g->msgs[i].id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* delete_rows - step 2: the rows of g's messages that go, zeroed
 * (secure_delete) */
static int
delete_rows(expire_run *run, const day_group *g, mk_error *err)
{
	sqlite3 *db = run->ar->db;
	size_t i;
	int rc;

	if (sqlite3_exec(db, "PRAGMA secure_delete=ON; BEGIN IMMEDIATE", NULL,
			 NULL, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(db));
	rc = list_gone(db, g);
	for (i = 0; rc == SQLITE_OK && i < sizeof(delete_sql) / sizeof(*delete_sql); i++)
		rc = sqlite3_exec(db, delete_sql[i], NULL, NULL, NULL);
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

/* fault - the test hook (internal.h): a step of a run just ended */
static void
fault(const char *step)
{
	if (archive_expire_fault != NULL)
		archive_expire_fault(step);
}
void (*archive_expire_fault)(const char *step);

/* new_text - the text of m's new record: its current one, with content
 * naming the copy in the target (made here); metadata: unchanged.
 * Caller frees */
static char *
new_text(expire_run *run, const day_group *g, const ledger_msg *lm,
	 const record_opened *ro, mk_error *err)
{
	json_t *rec = json_loads(ro->text, 0, NULL), *c;
	unsigned char key[KEYS_AES];
	char file[CONTENT_FILE_MAX], *text = NULL;
	int64_t off, len;
	blob_span span;
	int rc;

	c = json_object_get(rec, "content");
	if (rec == NULL || !json_is_object(c)) {	/* nothing to copy */
		json_decref(rec);
		if ((text = strdup(ro->text)) == NULL)
			mk_error_set(err, "out of memory");
		return text;
	}
	rc = content_open(run->ar, json_string_value(json_object_get(c, "file")),
			  json_integer_value(json_object_get(c, "offset")),
			  json_integer_value(json_object_get(c, "length")),
			  key, &span, err);
	if (rc == 0) {
		rc = content_recopy(run->ar, &span, lm->sha256, g->target, file,
				    &off, &len, err);
		close(span.fd);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0 && (json_object_set_new(c, "file", json_string(file)) != 0
			|| json_object_set_new(c, "offset", json_integer(off)) != 0
			|| json_object_set_new(c, "length", json_integer(len)) != 0
			|| (text = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII
					      | JSON_PRESERVE_ORDER)) == NULL))
		mk_error_set(err, "out of memory");
	json_decref(rec);
	return text;
}

/* rekeyed_entry - the ledger entry of m's move into buf */
static void
rekeyed_entry(const expire_run *run, const day_group *g, const group_msg *m,
	      const ledger_msg *lm, const record_resealed *rs, char *buf,
	      size_t size)
{
	snprintf(buf, size, "\"event\":\"rekeyed\",\"time\":%lld,\"id\":\"%s\","
		 "\"group\":\"%s\",\"from\":\"%s\",\"sha256\":%s%s%s,"
		 "\"record\":\"%s\",\"signer\":%u,\"stored\":%lld",
		 (long long)run->now * 1000000LL, m->id, g->target, m->group,
		 lm->sha256[0] ? "\"" : "", lm->sha256[0] ? lm->sha256 : "null",
		 lm->sha256[0] ? "\"" : "", rs->sha256, rs->signer,
		 (long long)lm->seq);
}

/* commit_move - steps 2 to 4 of a move (FORMAT.md 1.3): the new record
 * appended, the "rekeyed" entry (the commit point), the index row */
static int
commit_move(expire_run *run, const day_group *g, group_msg *m, ledger_msg *lm,
	    const char *text, mk_error *err)
{
	char key[KEYS_NAME_MAX], entry[512];
	const char *entries[1] = { entry };
	record_resealed rs;
	json_t *rec;
	int64_t seq;
	int rc;

	snprintf(key, sizeof(key), "record-%s.key", g->target);
	if (record_reseal(run->ar, m->id, text, key, &rs, err) != 0)
		return -1;
	rc = record_append_line(run->ar, m->received_at, rs.line, err);
	free(rs.line);
	if (rc != 0)
		return -1;
	fault("rekey-record");
	rekeyed_entry(run, g, m, lm, &rs, entry, sizeof(entry));
	if (ledger_append(run->ar, entries, 1, &seq, err) != 0)
		return -1;
	fault("rekey-entry");
	memcpy(lm->prev_record, lm->record, sizeof(lm->record));
	memcpy(lm->record, rs.sha256, sizeof(lm->record));
	snprintf(lm->group, sizeof(lm->group), "%s", g->target);
	snprintf(m->group, sizeof(m->group), "%s", g->target);
	lm->rekey_seq = seq;
	if ((rec = json_loads(text, 0, NULL)) == NULL)
		return mk_error_set(err, "out of memory");
	rc = index_set_record(run->ar->db, m->id, rec, rs.sha256, err);
	json_decref(rec);
	if (rc >= 0)
		fault("rekey-row");
	return rc < 0 ? -1 : 0;
}

/* rekey_msg - move the held message m into g's target (FORMAT.md 1.3) */
static int
rekey_msg(expire_run *run, const day_group *g, group_msg *m, mk_error *err)
{
	ledger_msg *lm = ledger_map_find(&run->map, m->id);
	record_opened ro;
	char *text;
	int rc;

	if (lm == NULL)
		return mk_error_set(err, "message %s is in the index but not in"
				    " the ledger", m->id);
	if (record_find_hash(run->ar, m->id, m->received_at, lm->record, &ro,
			     err) != 0)
		return mk_error_set(err, "re-key %s: %s", m->id, err->msg);
	text = new_text(run, g, lm, &ro, err);
	record_opened_free(&ro);
	if (text == NULL)
		return mk_error_set(err, "re-key %s: %s", m->id, err->msg);
	fault("rekey-copied");
	rc = commit_move(run, g, m, lm, text, err);
	free(text);
	return rc;
}

/* plan_day - which of g's messages go, which move, which stay; counted */
static void
plan_day(expire_run *run, day_group *g, size_t *moves)
{
	group_msg *m;
	size_t i, gone = 0;

	*moves = 0;
	for (i = 0; i < g->n; i++) {
		m = &g->msgs[i];
		if (m->held) {
			run->stats->kept_held++;
			*moves += strcmp(m->group, g->target) != 0;
		} else if (g->target[0] == '\0'
			   || strcmp(m->group, g->target) != 0) {
			m->goes = true;	/* not yet in the target: goes */
			gone++;
			run->stats->bytes += (uint64_t)m->size;
		}
	}
	run->stats->rekeyed += *moves;
	run->stats->messages += gone;
	run->stats->groups += gone > 0;
}

/* all_held - is every message of g held, and the day one group (on
 * disk too: no group a stopped run left)? */
static bool
all_held(const day_group *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (!g->msgs[i].held)
			return false;
	return g->n > 0 && g->n_groups == 1;
}

/* expire_day - the due day g: its held messages moved, the rest gone,
 * and every group of the day but the target */
static int
expire_day(expire_run *run, day_group *g, mk_error *err)
{
	uint64_t freed = 0;
	size_t i, moves;

	if (g->held && each_disk_group(run->ar, note_disk_group, g, err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "out of memory");
	if (all_held(g))	/* nothing goes: nothing to move */
		snprintf(g->target, sizeof(g->target), "%s", g->groups[0]);
	else if (g->held && choose_target(g, err) != 0)
		return -1;
	plan_day(run, g, &moves);
	if (run->dry_run)
		return 0;
	for (i = 0; i < g->n; i++)
		if (g->msgs[i].held && strcmp(g->msgs[i].group, g->target) != 0
		    && rekey_msg(run, g, &g->msgs[i], err) != 0)
			return -1;
	if (write_entries(run, g, err) != 0 || forget_group(run, g, err) != 0)
		return -1;
	fault("entries");
	if (delete_rows(run, g, err) != 0)
		return -1;
	fault("rows");
	for (i = 0; i < g->n_groups; i++)
		if (strcmp(g->groups[i], g->target) != 0
		    && remove_group_files(run->ar, g->groups[i], &freed, err) != 0)
			return -1;
	run->stats->bytes_freed += freed;
	return 0;
}

/* add_group - the day of retain_until to the list, once */
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

/* due_groups - the days with a message whose retention is over */
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

/* The state of sweep. */
typedef struct sweeping {
	expire_run *run;
	mk_error *err;
} sweeping;

/* sweep_group - each_disk_group fn: remove group when it is past and its
 * day has no index row left (a run stopped after its rows went) */
static int
sweep_group(const char *group, void *ctx)
{
	sweeping *sw = ctx;
	day_group g = { .n = 0 };
	int rc;

	snprintf(g.name, sizeof(g.name), "%.10s", group);
	g.start = group_start(g.name);
	if (g.start < 0 || g.start > sw->run->now)
		return 0;	/* forever, not a day, or to come */
	if ((rc = group_take(sw->run, &g, sw->err)) == 0 && g.n == 0
	    && !sw->run->dry_run)
		rc = remove_group_files(sw->run->ar, group,
					&sw->run->stats->bytes_freed, sw->err);
	free(g.msgs);
	free(g.groups);
	return rc;
}

/* sweep - the files and keys of past groups without rows */
static int
sweep(expire_run *run, mk_error *err)
{
	sweeping sw = { run, err };

	return each_disk_group(run->ar, sweep_group, &sw, err);
}

/* catch_up_row - the row of the re-keyed lm from its newest record, if
 * it still names an older one (a run stopped before the row) */
static int
catch_up_row(expire_run *run, const ledger_msg *lm, mk_error *err)
{
	sqlite3_stmt *st;
	record_opened ro;
	json_t *rec;
	int64_t received_at = 0;
	bool behind = false;
	int rc = 0;

	if (sqlite3_prepare_v2(run->ar->db, "SELECT received_at, record_sha256"
			       " FROM messages WHERE id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(run->ar->db));
	sqlite3_bind_text(st, 1, lm->id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		received_at = sqlite3_column_int64(st, 0);
		behind = sqlite3_column_text(st, 1) == NULL
		    || strcmp((const char *)sqlite3_column_text(st, 1),
			      lm->record) != 0;
	}
	sqlite3_finalize(st);
	if (!behind)
		return 0;
	if (record_find_hash(run->ar, lm->id, received_at, lm->record, &ro,
			     err) != 0)
		return -1;
	if ((rec = json_loads(ro.text, 0, NULL)) == NULL)
		rc = mk_error_set(err, "out of memory");
	else
		rc = index_set_record(run->ar->db, lm->id, rec, lm->record, err);
	json_decref(rec);
	record_opened_free(&ro);
	return rc < 0 ? -1 : 0;
}

/* catch_up_rows - every re-keyed message's row from its newest record */
static int
catch_up_rows(expire_run *run, mk_error *err)
{
	size_t i;

	for (i = 0; i < run->map.n; i++)
		if (run->map.msgs[i].rekey_seq > 0 && !run->map.msgs[i].expired
		    && catch_up_row(run, &run->map.msgs[i], err) != 0)
			return -1;
	return 0;
}

/* expire_groups - every due day, in order */
static int
expire_groups(expire_run *run, mk_error *err)
{
	day_group *list = NULL;
	size_t n = 0, i;
	int rc = due_groups(run, &list, &n, err);

	for (i = 0; rc == 0 && i < n; i++) {
		if ((rc = group_take(run, &list[i], err)) != 0)
			break;
		if (list[i].due)
			rc = expire_day(run, &list[i], err);
		if (run->progress != NULL)
			run->progress("groups", i + 1, n, run->ctx);
	}
	for (i = 0; i < n; i++) {
		free(list[i].msgs);
		free(list[i].groups);
	}
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
		    && (run.dry_run || catch_up_rows(&run, err) == 0)
		    && expire_groups(&run, err) == 0 && sweep(&run, err) == 0)
			rc = 0;
		if (!run.dry_run && stats->groups > 0)
			scrub_index(&run);
		if (rc == 0 && !run.dry_run && stats->rekeyed > 0)
			rc = ledger_checkpoint_due(ar, true, err);	/* the
					   moves provable at once (4.4) */
	}
	ledger_map_free(&run.map);
	close(lock);
	return rc;
}
