/*
 * rewrite.c - a group that goes while some of its messages stay: the
 * machinery expiry (expire.c, docs/FORMAT.md 1.2, 1.3) and re-decision
 * (redecide.c, 1.5) share.
 *
 * NAME
 *	rewrite - re-key the messages that stay, forget those that go, then
 *	remove the group
 *
 * DESCRIPTION
 *	A group (content.c: the messages whose retention ends on the same
 *	day, their segments and the key that also seals their records) is
 *	never rewritten in place: it goes whole, its files removed and its
 *	key destroyed.  The messages that must outlive it are first moved
 *	into a target group: content copied under the target's key
 *	(content_recopy), record sealed anew under it and appended to the
 *	records of the day received, a "rekeyed" ledger entry (the commit
 *	point of the move), the index row.  Then, each step durable before
 *	the next: an "expired" entry for each message that goes and has
 *	none yet; its words out of the full-text index (the caller's
 *	forget, while the content can still be read); its index rows,
 *	deleted with secure_delete; the segments, directory and key of every
 *	group of the set but the target.
 *
 *	Expiry builds the set of a due day: its held messages move, the
 *	rest goes.  Re-decision builds the set of one group whose old
 *	copies must go: every message still in it moves, but those it
 *	expired itself.
 *
 *	A run stopped anywhere leaves nothing the next run cannot finish:
 *	a copy or record before its entry counts for nothing (the message
 *	is moved again); a row behind its entry is made anew first
 *	(rewrite_catch_up_rows); entries already written are not written
 *	again.
 *
 * DIAGNOSTICS
 *	Functions return 0, or -1 with err.
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
#define REWRITE_BATCH 256		/* ledger entries an append */
#define SEC_PER_DAY 86400

/* archive_expire_fault - the test hook (internal.h) */
void (*archive_expire_fault)(const char *step);

/* rewrite_fault - a step of a run just ended: the test hook, if set */
void
rewrite_fault(const char *step)
{
	if (archive_expire_fault != NULL)
		archive_expire_fault(step);
}

/* rewrite_take_lock - the lock file name of ar, taken without waiting:
 * its fd, or -1 with err (busy, when another holds it) */
int
rewrite_take_lock(archive *ar, const char *name, const char *busy,
		  mk_error *err)
{
	char *path = path_join(ar->dir, name);
	int fd;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		mk_error_errno(err, "open %s", path);
	else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		mk_error_set(err, "%s: %s", ar->dir, busy);
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* rewrite_lock - expire.lock, taken without waiting */
int
rewrite_lock(archive *ar, mk_error *err)
{
	return rewrite_take_lock(ar, EXPIRE_LOCK_FILE, "another expiry or"
				 " policy apply is running", err);
}

/* rewrite_index_caught_up - a row for every live stored message? */
int
rewrite_index_caught_up(rewrite_run *run, mk_error *err)
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
				    " changed until the writer has caught up",
				    (unsigned long long)live,
				    (unsigned long long)rows);
	return 0;
}

/* rewrite_group_day - group without its generation */
void
rewrite_group_day(const char *group, char day[CONTENT_GROUP_MAX])
{
	snprintf(day, CONTENT_GROUP_MAX, "%.*s", (int)strcspn(group, "."),
		 group);
}

/* rewrite_day_of - an empty set for group's day */
void
rewrite_day_of(const char *group, rewrite_set *g)
{
	struct tm tm = { 0 };
	char *end;

	memset(g, 0, sizeof(*g));
	rewrite_group_day(group, g->name);
	end = strptime(g->name, "%Y-%m-%d", &tm);
	g->start = end != NULL && *end == '\0' ? (int64_t)timegm(&tm) : -1;
}

/* group_list_add - group into the list (*v, *n of *cap), once; 0 or -1
 * when out of memory */
int
group_list_add(char (**v)[CONTENT_GROUP_MAX], size_t *n, size_t *cap,
	       const char *group)
{
	char (*grown)[CONTENT_GROUP_MAX];
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], group) == 0)
			return 0;
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		if ((grown = realloc(*v, *cap * sizeof(*grown))) == NULL)
			return -1;
		*v = grown;
	}
	snprintf((*v)[(*n)++], CONTENT_GROUP_MAX, "%s", group);
	return 0;
}

/* rewrite_add_name - group into g's groups, once */
int
rewrite_add_name(rewrite_set *g, const char *group)
{
	return group_list_add(&g->groups, &g->n_groups, &g->groups_cap, group);
}

/* take_row - one row of rewrite_take's statement into g */
static int
take_row(rewrite_run *run, rewrite_set *g, sqlite3_stmt *st)
{
	rewrite_msg *m;
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
	g->due &= sqlite3_column_type(st, 2) != SQLITE_NULL
	    && sqlite3_column_int64(st, 2) <= run->now;
	m->received_at = sqlite3_column_int64(st, 3);
	lm = ledger_map_find(&run->map, m->id);
	m->expired = lm != NULL && lm->expired;
	snprintf(m->group, sizeof(m->group), "%s", lm != NULL && lm->group[0]
		 ? lm->group : g->name);
	m->held = !m->expired && run->held != NULL
	    && run->held(m->id, run->ctx);
	g->held |= m->held;
	return rewrite_add_name(g, m->group);
}

/* rewrite_take - the index's messages of g's day into g (forever: those
 * kept indefinitely) */
int
rewrite_take(rewrite_run *run, rewrite_set *g, mk_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(run->ar->db, g->start < 0
			       ? "SELECT id, size, retain_until, received_at"
			       " FROM messages WHERE retain_until IS NULL"
			       " OR retain_until <= 0"
			       : "SELECT id, size, retain_until, received_at"
			       " FROM messages WHERE retain_until >= ?1 AND"
			       " retain_until < ?2", -1, &st,
			       NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(run->ar->db));
	if (g->start >= 0) {
		sqlite3_bind_int64(st, 1, g->start);
		sqlite3_bind_int64(st, 2, g->start + SEC_PER_DAY);
	}
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

/* rewrite_each_disk_group - fn for each group on disk */
int
rewrite_each_disk_group(archive *ar, int (*fn)(const char *group, void *ctx),
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

/* note_disk_group - rewrite_each_disk_group fn: a group of g's day */
static int
note_disk_group(const char *group, void *ctx)
{
	rewrite_set *g = ctx;
	char day[CONTENT_GROUP_MAX];

	rewrite_group_day(group, day);
	if (strcmp(day, g->name) != 0)
		return 0;
	return rewrite_add_name(g, group) == 0 ? 0 : -1;
}

/* rewrite_disk_groups - g's day's groups on disk into g */
int
rewrite_disk_groups(rewrite_run *run, rewrite_set *g, mk_error *err)
{
	err->msg[0] = '\0';
	if (rewrite_each_disk_group(run->ar, note_disk_group, g, err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "out of memory");
	return 0;
}

/* rewrite_next_generation - day.(highest + 1) */
int
rewrite_next_generation(const char *day, char (*groups)[CONTENT_GROUP_MAX],
			size_t n, char out[CONTENT_GROUP_MAX], mk_error *err)
{
	unsigned gen, newest = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if ((gen = content_group_generation(groups[i])) > newest)
			newest = gen;
	if (newest >= CONTENT_REKEY_MAX)
		return mk_error_set(err, "%s: no group after generation %u", day,
				    newest);
	snprintf(out, CONTENT_GROUP_MAX, "%s.%u", day, newest + 1);
	return 0;
}

/* expired_entry - the ledger entry of one message's expiry into buf */
static void
expired_entry(const rewrite_run *run, const rewrite_msg *m,
	      const ledger_msg *lm, char *buf, size_t size)
{
	snprintf(buf, size, "\"event\":\"expired\",\"time\":%lld,\"id\":\"%s\","
		 "\"group\":\"%s\",\"sha256\":%s%s%s,\"record\":\"%s\"",
		 (long long)run->now * 1000000LL, lm->id, m->group,
		 lm->sha256[0] ? "\"" : "", lm->sha256[0] ? lm->sha256 : "null",
		 lm->sha256[0] ? "\"" : "", lm->record);
}

/* write_entries - an "expired" entry for each message of g that goes and
 * has none yet */
static int
write_entries(rewrite_run *run, rewrite_set *g, mk_error *err)
{
	char lines[REWRITE_BATCH][256];
	const char *entries[REWRITE_BATCH];
	ledger_msg *lm;
	int64_t seq;
	size_t i, n = 0;

	for (i = 0; i <= g->n; i++) {
		if (n == REWRITE_BATCH || (i == g->n && n > 0)) {
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
		lm->expired = true;
	}
	return 0;
}

/* forget_group - each message of g that goes, whole, to the caller's
 * forget (its words go), then NULL: durably */
static int
forget_group(rewrite_run *run, const rewrite_set *g, mk_error *err)
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
		rc = run->forget(msg, run->ctx, err);
		archive_message_free(msg);
	}
	return rc == 0 ? run->forget(NULL, run->ctx, err) : -1;
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
list_gone(sqlite3 *db, const rewrite_set *g)
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

/* delete_rows - the rows of g's messages that go, zeroed (secure_delete),
 * the write-ahead log then checkpointed and truncated */
static int
delete_rows(rewrite_run *run, const rewrite_set *g, mk_error *err)
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
	    && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
					  NULL, NULL);
		return 0;
	}
	mk_error_set(err, "index: delete the rows of %s: %s", g->name,
		     sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* remove_dir - the segments of content/GROUP and the directory */
static int
remove_dir(archive *ar, const char *group, uint64_t *freed, mk_error *err)
{
	char rel[CONTENT_FILE_MAX + 16], *dir;
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
	return rc;
}

/* rewrite_remove_group - the segments of group, its directory and its
 * day key; what is already gone is fine */
int
rewrite_remove_group(archive *ar, const char *group, uint64_t *freed,
		     mk_error *err)
{
	char key[KEYS_NAME_MAX], *path, *file;
	int rc;

	if (remove_dir(ar, group, freed, err) != 0)
		return -1;
	snprintf(key, sizeof(key), "record-%s.key", group);
	if ((path = path_join(ar->dir, "keys")) == NULL)
		return mk_error_set(err, "out of memory");
	if ((file = path_join(path, key)) == NULL)
		rc = mk_error_set(err, "out of memory");
	else if (unlink(file) != 0 && errno != ENOENT)
		rc = mk_error_errno(err, "remove keys/%s", key);
	else
		rc = fsync_path(path, err);
	keyring_forget(&ar->keys, key);		/* nor in this process */
	free(file);
	free(path);
	return rc;
}

/* rewrite_copy_content - the content rec names copied into group (or
 * the span group holds of it), rec's "content" set to the copy; nothing
 * for a record without content (metadata, format 3) */
int
rewrite_copy_content(rewrite_run *run, const char *group, const ledger_msg *lm,
		     json_t *rec, mk_error *err)
{
	json_t *c = json_object_get(rec, "content");
	unsigned char key[KEYS_AES];
	char file[CONTENT_FILE_MAX];
	int64_t off, len;
	blob_span span;
	int rc;

	if (!json_is_object(c))
		return 0;
	rc = content_open(run->ar, json_string_value(json_object_get(c, "file")),
			  json_integer_value(json_object_get(c, "offset")),
			  json_integer_value(json_object_get(c, "length")),
			  key, &span, err);
	if (rc == 0) {
		rc = content_recopy(run->ar, &span, lm->sha256, group, file,
				    &off, &len, err);
		close(span.fd);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0 && (json_object_set_new(c, "file", json_string(file)) != 0
			|| json_object_set_new(c, "offset", json_integer(off)) != 0
			|| json_object_set_new(c, "length", json_integer(len)) != 0))
		rc = mk_error_set(err, "out of memory");
	return rc;
}

/* new_text - the text of a message's new record: its current one (ro),
 * with content naming the copy in group (made here).  Caller frees */
static char *
new_text(rewrite_run *run, const char *group, const ledger_msg *lm,
	 const record_opened *ro, mk_error *err)
{
	json_t *rec = json_loads(ro->text, 0, NULL);
	char *text = NULL;

	if (rec == NULL)
		mk_error_set(err, "its record is not JSON");
	else if (rewrite_copy_content(run, group, lm, rec, err) == 0
		 && (text = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII
				       | JSON_PRESERVE_ORDER)) == NULL)
		mk_error_set(err, "out of memory");
	json_decref(rec);
	return text;
}

/* rekeyed_entry - the ledger entry of m's move into buf */
static void
rekeyed_entry(const rewrite_run *run, const rewrite_set *g,
	      const rewrite_msg *m, const ledger_msg *lm,
	      const record_resealed *rs, char *buf, size_t size)
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
commit_move(rewrite_run *run, const rewrite_set *g, rewrite_msg *m,
	    ledger_msg *lm, const char *text, mk_error *err)
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
	rewrite_fault("rekey-record");
	rekeyed_entry(run, g, m, lm, &rs, entry, sizeof(entry));
	if (ledger_append(run->ar, entries, 1, &seq, err) != 0)
		return -1;
	rewrite_fault("rekey-entry");
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
		rewrite_fault("rekey-row");
	return rc < 0 ? -1 : 0;
}

/* rewrite_move - move m into g's target (FORMAT.md 1.3) */
int
rewrite_move(rewrite_run *run, const rewrite_set *g, rewrite_msg *m,
	     mk_error *err)
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
	text = new_text(run, g->target, lm, &ro, err);
	record_opened_free(&ro);
	if (text == NULL)
		return mk_error_set(err, "re-key %s: %s", m->id, err->msg);
	rewrite_fault("rekey-copied");
	rc = commit_move(run, g, m, lm, text, err);
	free(text);
	return rc;
}

/* rewrite_finish - the moves, then the rest of g goes (see above) */
int
rewrite_finish(rewrite_run *run, rewrite_set *g, mk_error *err)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (g->msgs[i].moves && rewrite_move(run, g, &g->msgs[i], err) != 0)
			return -1;
	if (write_entries(run, g, err) != 0 || forget_group(run, g, err) != 0)
		return -1;
	rewrite_fault("entries");
	if (delete_rows(run, g, err) != 0)
		return -1;
	rewrite_fault("rows");
	for (i = 0; i < g->n_groups; i++)
		if (strcmp(g->groups[i], g->target) != 0
		    && rewrite_remove_group(run->ar, g->groups[i],
					    &run->bytes_freed, err) != 0)
			return -1;
	return 0;
}

/* catch_up_row - the rows of the moved lm from its newest record, if its
 * row still names an older one (a run stopped before the row) */
static int
catch_up_row(rewrite_run *run, const ledger_msg *lm, mk_error *err)
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

/* rewrite_catch_up_rows - every moved message's row from its newest
 * record */
int
rewrite_catch_up_rows(rewrite_run *run, mk_error *err)
{
	size_t i;

	for (i = 0; i < run->map.n; i++)
		if (run->map.msgs[i].rekey_seq > 0 && !run->map.msgs[i].expired
		    && catch_up_row(run, &run->map.msgs[i], err) != 0)
			return -1;
	return 0;
}

/* rewrite_set_free - what g holds (g itself is the caller's) */
void
rewrite_set_free(rewrite_set *g)
{
	free(g->msgs);
	free(g->groups);
	g->msgs = NULL;
	g->groups = NULL;
	g->n = g->cap = g->n_groups = g->groups_cap = 0;
}
