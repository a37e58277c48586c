/*
 * rebuild.c - archive_rebuild_index: index.sqlite made anew from what the
 * archive directory holds.
 *
 * The index is derived data.  The ledger says which messages were stored
 * (a "stored" entry is the commit point) and which have expired; each one's
 * record (records/, sealed) says everything the index shows.  A record is
 * taken only when it opens, its Ed25519 signature holds under the key the
 * ledger recorded, and its SHA-256 is the one in its "stored" entry; a
 * record without such an entry belongs to a commit that failed and is
 * skipped.  Of a message expiry re-keyed or policy apply re-decided
 * (FORMAT.md 1.3, 1.5), the record taken is the one its last "rekeyed"
 * or "redecided" entry names (ledgermap.c).  Rows go
 * through index_insert_record(), the function the committer uses, so a
 * rebuilt index is the index the commits made.
 *
 * The new index is written beside the old one (index.sqlite.rebuild) and
 * renamed over it only when complete, under the writer lock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define REBUILD_TXN	10000	/* rows a transaction */

/* The state of a rebuild. */
typedef struct rebuild {
	archive *ar;
	sqlite3 *db;
	index_inserter ins;
	ledger_map map;
	archive_progress_fn progress;
	void *ctx;
	archive_rebuild_stats *stats;
	uint64_t in_txn;
	mk_error err;
	bool failed;
} rebuild;

/* record_checks - is ro the signed record the ledger says msg has? */
static bool
record_checks(const rebuild *rb, const ledger_msg *msg, const record_opened *ro)
{
	char hex[ARCHIVE_SHA256_HEX + 1];

	sha256_hex(ro->text, strlen(ro->text), hex);
	return ro->is_signed && strcmp(hex, msg->record) == 0
	    && ro->signer >= 1 && ro->signer <= rb->map.n_keys
	    && ed25519_verify(rb->map.keys[ro->signer - 1], ro->text,
			      strlen(ro->text), ro->sig) == 0;
}

/* insert_line - record_line_fn: the rows of one record, if it checks */
static int
insert_line(const char *file, const char *line, void *ctx)
{
	rebuild *rb = ctx;
	record_opened ro;
	ledger_msg *msg;
	json_t *rec;
	mk_error why;
	int rc = 0;

	(void)file;
	if (record_open(rb->ar, line, &ro, &why) != 0) {
		rb->stats->skipped++;
		return 0;
	}
	msg = ledger_map_find(&rb->map, ro.id);
	if (msg == NULL || msg->expired || msg->has_record
	    || !record_checks(rb, msg, &ro)
	    || (rec = json_loads(ro.text, 0, NULL)) == NULL) {
		rb->stats->skipped++;
	} else {
		msg->has_record = true;
		rc = index_insert_record(&rb->ins, rec, msg->seq, msg->record,
					 &rb->err);
		json_decref(rec);
		rb->stats->messages++;
		if (rc == 0 && ++rb->in_txn == REBUILD_TXN) {
			rb->in_txn = 0;
			if (sqlite3_exec(rb->db, "COMMIT; BEGIN", NULL, NULL,
					 NULL) != SQLITE_OK)
				rc = mk_error_set(&rb->err, "index: commit: %s",
						  sqlite3_errmsg(rb->db));
		}
	}
	record_opened_free(&ro);
	if (rb->progress != NULL)
		rb->progress("records", rb->stats->messages + rb->stats->skipped,
			     rb->map.n, rb->ctx);
	rb->failed |= rc != 0;
	return rc != 0 ? -1 : 0;
}

/* remove_index_files - path and its -wal and -shm */
static void
remove_index_files(const char *path)
{
	char side[4096];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

/* build - the new index at path */
static int
build(rebuild *rb, const char *path, mk_error *err)
{
	int rc;

	remove_index_files(path);
	if (index_open_file(rb->ar, path, &rb->db, true, err) != 0
	    || index_inserter_open(&rb->ins, rb->db, err) != 0)
		return -1;
	if (sqlite3_exec(rb->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return mk_error_set(err, "%s: begin: %s", path,
				    sqlite3_errmsg(rb->db));
	rc = record_scan(rb->ar, insert_line, rb, err);
	if (rb->failed)
		return mk_error_set(err, "%s", rb->err.msg);
	if (rc == 0 && sqlite3_exec(rb->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = mk_error_set(err, "%s: commit: %s", path,
				  sqlite3_errmsg(rb->db));
	return rc;
}

/* swap_in - replace the index by the one at path */
static int
swap_in(archive *ar, const char *path, mk_error *err)
{
	char *index = path_join(ar->dir, ARCHIVE_INDEX_FILE);
	int rc = 0;

	if (index == NULL)
		return mk_error_set(err, "out of memory");
	remove_index_files(index);	/* a stale WAL must not meet the new file */
	if (rename(path, index) != 0)
		rc = mk_error_errno(err, "rename %s to %s", path, index);
	else
		rc = fsync_path(ar->dir, err);
	free(index);
	return rc;
}

/* rebuild_locked - the whole rebuild, the writer lock held */
static int
rebuild_locked(rebuild *rb, mk_error *err)
{
	char *path = path_join(rb->ar->dir, ARCHIVE_INDEX_FILE ".rebuild");
	char entry[128];
	const char *entries[1] = { entry };
	int64_t seq;
	int rc;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if (ledger_map_load(rb->ar->dir, &rb->map, err) != 0) {
		free(path);
		return -1;
	}
	rc = build(rb, path, err);
	index_inserter_close(&rb->ins);
	if (rc == 0) {
		sqlite3_close(rb->db);
		rb->db = NULL;
		rc = swap_in(rb->ar, path, err);
	}
	if (rc != 0) {
		sqlite3_close(rb->db);
		rb->db = NULL;
		remove_index_files(path);
	}
	free(path);
	snprintf(entry, sizeof(entry), "\"event\":\"index_rebuilt\",\"time\":%lld,"
		 "\"messages\":%llu", (long long)now_micros(),
		 (unsigned long long)rb->stats->messages);
	return rc == 0 ? ledger_append(rb->ar, entries, 1, &seq, err) : -1;
}

/* archive_rebuild_index - make the index anew (archive.h) */
int
archive_rebuild_index(const char *dir, archive_progress_fn progress,
		      void *ctx, archive_rebuild_stats *stats, mk_error *err)
{
	archive ar = { .dir = (char *)dir, .mode = ARCHIVE_WRITE, .lock_fd = -1,
		       .records_fd = -1, .opts = ARCHIVE_OPTIONS_DEFAULT };
	rebuild rb = { .ar = &ar, .progress = progress, .ctx = ctx,
		       .stats = stats };
	int rc = -1;

	memset(stats, 0, sizeof(*stats));
	if (check_marker(dir, &ar.format, err) == 0
	    && take_writer_lock(&ar, err) == 0
	    && keyring_load(&ar.keys, dir, err) == 0)
		rc = rebuild_locked(&rb, err);
	sqlite3_close(rb.db);
	ledger_map_free(&rb.map);
	if (ar.keys.dir != NULL)
		keyring_free(&ar.keys);
	if (ar.lock_fd >= 0)
		close(ar.lock_fd);
	return rc;
}

/* The state of a roll-forward. */
typedef struct roll {
	archive *ar;
	index_inserter ins;
	int64_t indexed;		/* the highest ledger seq in the index */
	uint64_t added;
	mk_error err;
} roll;

/* row_received - the received_at of id's index row, or -1 */
static int64_t
row_received(sqlite3 *db, const char *id)
{
	sqlite3_stmt *st;
	int64_t at = -1;

	if (sqlite3_prepare_v2(db, "SELECT received_at FROM messages WHERE"
			       " id = ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		at = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return at;
}

/* roll_rekeyed - a "rekeyed" or "redecided" entry after the index's last
 * row: the rows of its message, if there is one, from the record it
 * names (FORMAT.md 1.3, 1.5).  Never a row inserted: a message without one has expired since,
 * or waits for its "stored" entry's turn */
static int
roll_rekeyed(roll *r, const char *line)
{
	json_t *entry = json_loads(line, 0, NULL), *rec = NULL;
	const char *id = json_string_value(json_object_get(entry, "id"));
	const char *want = json_string_value(json_object_get(entry, "record"));
	record_opened ro = { .text = NULL };
	int64_t at;
	int rc = 0;

	if (id != NULL && want != NULL
	    && (at = row_received(r->ar->db, id)) >= 0
	    && record_find_hash(r->ar, id, at, want, &ro, &r->err) == 0
	    && (rec = json_loads(ro.text, 0, NULL)) != NULL)
		rc = index_set_record(r->ar->db, id, rec, want, &r->err);
	json_decref(rec);
	record_opened_free(&ro);
	json_decref(entry);
	return rc < 0 ? -1 : 0;	/* what cannot be found is verify's */
}

/* roll_entry - ledger_line_fn: the row of one stored, unindexed message,
 * or the newer record of a re-keyed one */
static int
roll_entry(int64_t pos, const char *line, size_t len, void *ctx)
{
	roll *r = ctx;
	json_t *entry, *rec = NULL;
	const char *id, *want;
	char hex[ARCHIVE_SHA256_HEX + 1];
	record_opened ro = { .text = NULL };
	int rc = 0;

	(void)len;
	if (pos > r->indexed && (strstr(line, "\"event\":\"rekeyed\"") != NULL
				 || strstr(line, "\"event\":\"redecided\"") != NULL))
		return roll_rekeyed(r, line);
	if (pos <= r->indexed || strstr(line, "\"event\":\"stored\"") == NULL)
		return 0;
	entry = json_loads(line, 0, NULL);
	id = json_string_value(json_object_get(entry, "id"));
	want = json_string_value(json_object_get(entry, "record"));
	if (id != NULL && want != NULL
	    && record_find(r->ar, id, json_integer_value(json_object_get(entry,
			   "time")), &ro, &r->err) == 0) {
		sha256_hex(ro.text, strlen(ro.text), hex);
		if (strcmp(hex, want) == 0 && (rec = json_loads(ro.text, 0, NULL)) != NULL
		    && (rc = index_insert_record(&r->ins, rec, json_integer_value(
				json_object_get(entry, "seq")), want, &r->err)) == 0)
			r->added++;
	}
	json_decref(rec);
	record_opened_free(&ro);
	json_decref(entry);
	return rc != 0 ? -1 : 0;	/* what cannot be found is verify's */
}

/* indexed_up_to - the highest ledger seq the index has a row for */
static int64_t
indexed_up_to(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t max = 0;

	if (sqlite3_prepare_v2(db, "SELECT max(ledger_seq) FROM messages", -1,
			       &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		max = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return max;
}

/* index_roll_forward - the rows a dead writer did not insert (internal.h).
 * Reads the ledger from the last checkpoint at or below the index's
 * highest seq, so the cost is that of the tail, not of the archive. */
int
index_roll_forward(archive *ar, mk_error *err)
{
	roll r = { .ar = ar };
	checkpoint cp;
	int64_t offset = 0, before = 0;
	int rc;

	r.indexed = indexed_up_to(ar->db);
	if (checkpoint_last(ar->dir, &cp, err) != 0)
		return -1;
	if (cp.size > 0 && cp.size <= r.indexed) {
		offset = cp.offset;
		before = cp.size;
	}
	if (index_inserter_open(&r.ins, ar->db, err) != 0)
		return -1;
	rc = sqlite3_exec(ar->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
	    ? ledger_scan_from(ar->dir, offset, before, roll_entry, &r, err) : -1;
	index_inserter_close(&r.ins);
	if (rc == 0 && sqlite3_exec(ar->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	sqlite3_exec(ar->db, "ROLLBACK", NULL, NULL, NULL);
	return mk_error_set(err, "index roll-forward: %s", r.err.msg[0]
			    ? r.err.msg : sqlite3_errmsg(ar->db));
}
