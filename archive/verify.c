/*
 * verify.c - archive_verify: every part of the archive checked against
 * every other, streaming, and every disagreement named.
 *
 * In this order (docs/FORMAT.md, "What verify checks"):
 *
 *   1. ledger	each line is an entry whose seq is its position (an entry
 *		removed, added or moved breaks the count); each entry's
 *		"prev" is the leaf hash of the entry before it (an edited
 *		entry is named); its leaf hashes
 *		recompute the root of every checkpoint; every checkpoint's
 *		signature holds under the public key the ledger recorded
 *		for its generation; no checkpoint covers more entries than
 *		the ledger has (a truncated ledger).
 *   2. keys	the key files in keys/ are the ones the ledger recorded (and
 *		the pinned public keys, when given).
 *   3. records	each record opens (AES-256-GCM), its signature holds, and
 *		its SHA-256 is the one in its "stored" entry (of a message
 *		expiry re-keyed or policy apply re-decided: in its last
 *		"rekeyed" or "redecided" entry); every stored, unexpired
 *		message has its record.  A moved message's earlier records
 *		are expected not to open (their group went); one that does
 *		must be one the ledger named.
 *   4. index	the index is compared with an index built in memory from
 *		the signed records (the rows the committer would have
 *		written): every row there, and nothing else, and no row of
 *		an expired message.
 *   5. content	each span of a content segment that a signed record names
 *		decrypts, decompresses and hashes to the record's SHA-256;
 *		each blob of blobs/ (format 3) to its name, and every
 *		format-3 record's content is there.
 *
 * A problem is reported through the caller's function as it is found;
 * archive_verify() fails only when it cannot look (out of memory, an
 * unreadable directory).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* A checkpoint and the root the ledger gave at its size. */
typedef struct vcheck {
	checkpoint cp;
	bool parsed, seen;
	merkle_hash computed;
} vcheck;

/* The state of one verify run. */
typedef struct verify {
	archive *ar;
	archive_problem_fn problem;
	archive_progress_fn progress;
	void *ctx;
	archive_verify_stats *stats;
	ledger_map map;
	vcheck *checks;
	size_t n_checks, checks_cap;
	vcheck **by_size;		/* the parsed ones, smallest first */
	size_t n_by_size, next;		/* ... and the next to meet */
	merkle_frontier tree;
	int64_t chain_seq;		/* the seq the line before states */
	merkle_hash chain_leaf;		/* ... and its leaf hash */
	sqlite3 *mem;			/* the index the records make */
	index_inserter ins;		/* ... and its statements */
	blob_span seg;			/* the segment open in phase 5 */
	char seg_file[CONTENT_FILE_MAX];	/* ... its name ("": none) */
	unsigned char seg_key[KEYS_AES];	/* ... its day key */
	char (*blobs)[ARCHIVE_SHA256_HEX + 1];	/* good blobs, sorted */
	size_t n_blobs, blobs_cap;
	bool oom;
} verify;

/* report - one problem */
static void __attribute__((format(printf, 4, 5)))
report(verify *v, const char *kind, const char *object, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	v->stats->problems++;
	if (v->problem != NULL)
		v->problem(kind, object, detail, v->ctx);
}

/* progress - tell the caller how far a phase is */
static void
progress(verify *v, const char *phase, uint64_t done, uint64_t total)
{
	if (v->progress != NULL)
		v->progress(phase, done, total, v->ctx);
}

/* keep_check - checkpoint_fn collecting every checkpoint */
static int
keep_check(const checkpoint *cp, const char *line, void *ctx)
{
	verify *v = ctx;
	vcheck *grown;

	(void)line;
	if (v->n_checks == v->checks_cap) {
		v->checks_cap = v->checks_cap ? 2 * v->checks_cap : 64;
		grown = realloc(v->checks, v->checks_cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		v->checks = grown;
	}
	memset(&v->checks[v->n_checks], 0, sizeof(*v->checks));
	v->checks[v->n_checks].cp = *cp;
	v->checks[v->n_checks].parsed = cp->size > 0;
	v->n_checks++;
	return 0;
}

/* check_chain - the "prev" of the line just mapped against the leaf hash
 * of the line before, compared only when its seq follows that line's:
 * a line removed, added or moved is named by the seq check, and the
 * lines around it are not blamed a second time */
static void
check_chain(verify *v, const merkle_hash leaf)
{
	const ledger_map *m = &v->map;
	long long k = (long long)v->chain_seq;
	char object[32];

	if (m->line_seq > 1 && !m->line_has_prev) {
		snprintf(object, sizeof(object), "ledger seq %lld",
			 (long long)m->line_seq);
		report(v, "ledger", object, "has no \"prev\" of 64 hex digits"
		       " (the hash of entry %lld)", (long long)m->line_seq - 1);
	} else if (m->line_seq > 1 && m->line_seq == v->chain_seq + 1
		   && memcmp(m->line_prev, v->chain_leaf, MERKLE_HASH) != 0) {
		snprintf(object, sizeof(object), "ledger seq %lld", k);
		report(v, "ledger", object, "its hash is not the \"prev\" that"
		       " entry %lld recorded: entry %lld (or the prev of entry"
		       " %lld) was edited", k + 1, k, k + 1);
	}
	v->chain_seq = m->line_seq;
	memcpy(v->chain_leaf, leaf, MERKLE_HASH);
}

/* ledger_leaf - ledger_line_fn: hash, count, map, chain, meet checkpoints */
static int
ledger_leaf(int64_t pos, const char *line, size_t len, void *ctx)
{
	verify *v = ctx;
	char why[LEDGER_WHY], object[32];
	merkle_hash leaf;
	int rc;

	merkle_leaf_hash(line, len, leaf);
	merkle_frontier_append(&v->tree, leaf);
	v->stats->ledger_entries++;
	snprintf(object, sizeof(object), "ledger seq %lld", (long long)pos);
	if ((rc = ledger_map_line(&v->map, pos, line, why)) < 0)
		return -1;
	if (rc > 0)
		report(v, "ledger", object, "%s", why);
	check_chain(v, leaf);
	while (v->next < v->n_by_size && v->by_size[v->next]->cp.size <= pos) {
		merkle_frontier_root(&v->tree, v->by_size[v->next]->computed);
		v->by_size[v->next++]->seen = true;
	}
	if ((v->stats->ledger_entries & 4095) == 0)
		progress(v, "ledger", v->stats->ledger_entries, 0);
	return 0;
}

/* check_checkpoint - one checkpoint against the recomputed tree */
static void
check_checkpoint(verify *v, size_t i, int64_t *last_size)
{
	vcheck *c = &v->checks[i];
	char object[48], text[256];
	size_t len;

	snprintf(object, sizeof(object), "checkpoint %zu", i + 1);
	if (!c->parsed) {
		report(v, "checkpoint", object, "not a checkpoint line");
		return;
	}
	snprintf(object, sizeof(object), "checkpoint %zu (size %lld)", i + 1,
		 (long long)c->cp.size);
	len = checkpoint_text(&c->cp, text, sizeof(text));
	if (c->cp.key < 1 || c->cp.key > v->map.n_keys
	    || ed25519_verify(v->map.keys[c->cp.key - 1], text, len, c->cp.sig) != 0)
		report(v, "checkpoint", object, "signature does not verify with"
		       " key %u", c->cp.key);
	if (c->cp.size <= *last_size)
		report(v, "checkpoint", object, "does not come after the"
		       " checkpoint of size %lld", (long long)*last_size);
	*last_size = c->cp.size;
	if (!c->seen)
		report(v, "ledger", object, "the ledger has %llu entries, the"
		       " checkpoint covers %lld: entries are missing (truncated)",
		       (unsigned long long)v->stats->ledger_entries,
		       (long long)c->cp.size);
	else if (memcmp(c->computed, c->cp.root, MERKLE_HASH) != 0)
		report(v, "ledger", object, "the first %lld entries do not hash"
		       " to the signed root: an entry was altered, removed or"
		       " reordered", (long long)c->cp.size);
}

/* by_cp_size - qsort order of vcheck pointers */
static int
by_cp_size(const void *a, const void *b)
{
	int64_t x = (*(vcheck *const *)a)->cp.size, y = (*(vcheck *const *)b)->cp.size;

	return x < y ? -1 : x > y;
}

/* sort_checks - the parsed checkpoints by size, for ledger_leaf */
static int
sort_checks(verify *v)
{
	size_t i;

	if ((v->by_size = calloc(v->n_checks + 1, sizeof(*v->by_size))) == NULL)
		return -1;
	for (i = 0; i < v->n_checks; i++)
		if (v->checks[i].parsed)
			v->by_size[v->n_by_size++] = &v->checks[i];
	if (v->n_by_size > 0)
		qsort(v->by_size, v->n_by_size, sizeof(*v->by_size), by_cp_size);
	return 0;
}

/* verify_ledger - phase 1 */
static int
verify_ledger(verify *v, mk_error *err)
{
	int64_t last = 0;
	size_t i;

	merkle_frontier_init(&v->tree);
	if (checkpoint_scan(v->ar->dir, keep_check, v, err) != 0
	    || sort_checks(v) != 0
	    || ledger_scan(v->ar->dir, ledger_leaf, v, err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "out of memory");
	ledger_map_done(&v->map);
	if (v->n_checks == 0)
		report(v, "checkpoint", ARCHIVE_CHECKPOINT_FILE, "no checkpoint");
	for (i = 0; i < v->n_checks; i++)
		check_checkpoint(v, i, &last);
	v->stats->checkpoints = v->n_checks;
	if (v->n_by_size > 0 && v->by_size[v->n_by_size - 1]->cp.size
	    < (int64_t)v->stats->ledger_entries)
		v->stats->uncovered = v->stats->ledger_entries
		    - (uint64_t)v->by_size[v->n_by_size - 1]->cp.size;
	progress(v, "ledger", v->stats->ledger_entries, v->stats->ledger_entries);
	return 0;
}

/* check_pinned - each pinned PEM key is the ledger's key of its generation */
static void
check_pinned(verify *v, const char *pinned)
{
	unsigned char raw[KEYS_PUBLIC];
	size_t len, gen = 0;
	BIO *mem = BIO_new_mem_buf(pinned, -1);
	EVP_PKEY *key;
	char object[32];

	while (mem != NULL && (key = PEM_read_bio_PUBKEY(mem, NULL, NULL, NULL)) != NULL) {
		gen++;
		len = sizeof(raw);
		snprintf(object, sizeof(object), "key %zu", gen);
		if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1
		    || len != KEYS_PUBLIC || gen > v->map.n_keys
		    || memcmp(raw, v->map.keys[gen - 1], KEYS_PUBLIC) != 0)
			report(v, "key", object, "the ledger's public key is not"
			       " the pinned (exported) one");
		EVP_PKEY_free(key);
	}
	BIO_free(mem);
	if (gen == 0)
		report(v, "key", "pinned keys", "no public key in the file given");
}

/* verify_keys - phase 2 */
static void
verify_keys(verify *v, const char *pinned)
{
	unsigned char pub[KEYS_PUBLIC];
	char object[48];
	unsigned gen;

	for (gen = 1; gen <= v->ar->keys.n; gen++) {
		snprintf(object, sizeof(object), "keys/signing-%u.pem", gen);
		if (gen > v->map.n_keys)
			report(v, "key", object, "not recorded in the ledger");
		else if (keyring_public(&v->ar->keys, gen, pub) != 0
			 || memcmp(pub, v->map.keys[gen - 1], KEYS_PUBLIC) != 0)
			report(v, "key", object, "is not the key the ledger"
			       " recorded for generation %u (replaced)", gen);
	}
	if (v->map.n_keys > v->ar->keys.n)
		report(v, "key", "keys/", "the ledger records %zu key"
		       " generations, keys/ holds %u", v->map.n_keys,
		       v->ar->keys.n);
	if (pinned != NULL)
		check_pinned(v, pinned);
}

/* line_of_gone - is this records/ line the record of a message the
 * ledger says expired, or an earlier record of one it says was re-keyed?
 * Its day key is destroyed (FORMAT.md 1.2, 1.3): that it cannot be
 * opened is what expiry is for.  (A re-keyed message's current record
 * must open: verify_records names it when none does.) */
static bool
line_of_gone(verify *v, const char *line)
{
	json_t *obj = json_loads(line, 0, NULL);
	const char *id = json_string_value(json_object_get(obj, "id"));
	ledger_msg *msg = id != NULL ? ledger_map_find(&v->map, id) : NULL;
	bool gone = msg != NULL && (msg->expired || msg->rekey_seq > 0);

	json_decref(obj);
	return gone;
}

/* signature_holds - does ro's signature hold under the ledger's key? */
static bool
signature_holds(const verify *v, const record_opened *ro)
{
	return ro->signer >= 1 && ro->signer <= v->map.n_keys
	    && ed25519_verify(v->map.keys[ro->signer - 1], ro->text,
			      strlen(ro->text), ro->sig) == 0;
}

/* earlier_record - ro (hashing to hex, not msg's current record) is an
 * earlier record of the re-keyed or re-decided msg (any its entries
 * name), or a move or re-decision that never committed (signed, named by
 * no entry: its run stopped before the entry, FORMAT.md 1.3, 1.5), or a re-key that never committed
 * (sealed under a re-key group's key, signed, named by no entry): fine
 * (FORMAT.md 1.3).  Its row when the index still names it: kept */
static bool
earlier_record(verify *v, ledger_msg *msg, const record_opened *ro,
	       const char *hex)
{
	json_t *rec;
	mk_error why;

	if (!ro->is_signed || !signature_holds(v, ro))
		return false;
	if (msg->rekey_seq > 0 && ledger_map_names(&v->map, msg, hex)) {
		if (msg->row_behind && !msg->has_prev
		    && strcmp(hex, msg->prev_record) == 0
		    && (rec = json_loads(ro->text, 0, NULL)) != NULL) {
			msg->has_prev = true;
			if (index_insert_record(&v->ins, rec, msg->seq,
						msg->prev_record, &why) != 0)
				report(v, "record", ro->id, "%s", why.msg);
			json_decref(rec);
		}
		return true;
	}
	return true;	/* signed, named by no entry: never committed */
}

/* record_line - record_line_fn: phase 3 for one record */
static int
record_line(const char *file, const char *line, void *ctx)
{
	verify *v = ctx;
	char hex[ARCHIVE_SHA256_HEX + 1], object[64];
	record_opened ro;
	ledger_msg *msg;
	json_t *rec = NULL;
	mk_error why;

	v->stats->records++;
	if (record_open(v->ar, line, &ro, &why) != 0) {
		if (!line_of_gone(v, line)) {
			snprintf(object, sizeof(object), "records/%s", file);
			report(v, "record", object, "%s", why.msg);
		}
		return 0;
	}
	msg = ledger_map_find(&v->map, ro.id);
	sha256_hex(ro.text, strlen(ro.text), hex);
	if (msg == NULL)
		;	/* a commit that failed: the MTA was told to retry */
	else if (!ro.is_signed)
		report(v, "record", ro.id, "is not signed");
	else if (strcmp(hex, msg->record) != 0
		 && earlier_record(v, msg, &ro, hex))
		;	/* re-keyed: counted, not reported */
	else if (strcmp(hex, msg->record) != 0)
		report(v, "record", ro.id, "SHA-256 %s is not the %s of its"
		       " ledger entry (seq %lld)", hex, msg->record,
		       (long long)msg->seq);
	else if (!signature_holds(v, &ro))
		report(v, "record", ro.id, "signature does not verify with key %u",
		       ro.signer);
	else if (!msg->has_record && (rec = json_loads(ro.text, 0, NULL)) != NULL) {
		msg->has_record = true;
		if (!msg->row_behind
		    && index_insert_record(&v->ins, rec, msg->seq, msg->record, &why) != 0)
			report(v, "record", ro.id, "%s", why.msg);
	}
	json_decref(rec);
	record_opened_free(&ro);
	if ((v->stats->records & 1023) == 0)
		progress(v, "records", v->stats->records, v->map.n);
	return 0;
}

/* rows_behind - mark each re-keyed message whose index row still names
 * its previous record (a run that stopped between its "rekeyed" entry
 * and its row, FORMAT.md 1.3): its row is compared with that record */
static void
rows_behind(verify *v)
{
	sqlite3_stmt *st = NULL;
	ledger_msg *msg;
	size_t i;

	if (v->ar->db == NULL || sqlite3_prepare_v2(v->ar->db, "SELECT"
			" record_sha256 FROM messages WHERE id = ?1", -1, &st,
			NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return;
	}
	for (i = 0; i < v->map.n; i++) {
		msg = &v->map.msgs[i];
		if (msg->rekey_seq == 0 || msg->expired
		    || strcmp(msg->prev_record, msg->record) == 0)
			continue;
		sqlite3_bind_text(st, 1, msg->id, -1, SQLITE_STATIC);
		msg->row_behind = sqlite3_step(st) == SQLITE_ROW
		    && sqlite3_column_text(st, 0) != NULL
		    && strcmp((const char *)sqlite3_column_text(st, 0),
			      msg->prev_record) == 0;
		v->stats->index_behind += msg->row_behind;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

/* verify_records - phase 3 */
static int
verify_records(verify *v, mk_error *err)
{
	size_t i;

	int rc = -1;

	rows_behind(v);
	if (index_open_file(v->ar, ":memory:", &v->mem, true, err) == 0
	    && index_inserter_open(&v->ins, v->mem, err) == 0
	    && sqlite3_exec(v->mem, "BEGIN", NULL, NULL, NULL) == SQLITE_OK
	    && record_scan(v->ar, record_line, v, err) == 0
	    && sqlite3_exec(v->mem, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
	index_inserter_close(&v->ins);
	if (rc != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "in-memory index failed");
	for (i = 0; i < v->map.n; i++)
		if (!v->map.msgs[i].has_record && !v->map.msgs[i].expired)
			report(v, "record", v->map.msgs[i].id, "stored (ledger seq"
			       " %lld) but no valid record in records/",
			       (long long)v->map.msgs[i].seq);
	progress(v, "records", v->stats->records, v->stats->records);
	return 0;
}

/* The rows of the index on disk that phase 1 can judge: those whose
 * ledger entry it read; a message committed since is for the next run,
 * unless its row points past the end of the ledger as it is now. */
static const char views_sql[] =
	"CREATE TEMP VIEW dm AS SELECT * FROM disk.messages"
	" WHERE ledger_seq <= %lld;"
	"CREATE TEMP VIEW drc AS SELECT r.* FROM disk.recipients r"
	" WHERE r.message IN (SELECT id FROM dm);"
	"CREATE TEMP VIEW dro AS SELECT r.* FROM disk.roles r"
	" WHERE r.message IN (SELECT id FROM dm);";

/* The index comparisons, each id reported once. */
static const struct {
	const char *sql, *what;
} index_diffs[] = {
	{ "SELECT id FROM dm WHERE id NOT IN (SELECT id FROM main.messages)",
	  "index row without a signed record (added)" },
	{ "SELECT id FROM main.messages WHERE id NOT IN (SELECT id FROM dm)"
	  " AND ledger_seq <= (SELECT coalesce(max(ledger_seq), 0) FROM dm)",
	  "signed record's row is missing from the index (deleted)" },
	{ "SELECT x FROM ("
	  " SELECT id AS x FROM (SELECT * FROM dm EXCEPT SELECT * FROM main.messages)"
	  " UNION SELECT message FROM (SELECT * FROM drc EXCEPT"
	  "  SELECT * FROM main.recipients)"
	  " UNION SELECT message FROM (SELECT * FROM main.recipients EXCEPT"
	  "  SELECT * FROM drc)"
	  " UNION SELECT message FROM (SELECT * FROM dro EXCEPT SELECT * FROM main.roles)"
	  " UNION SELECT message FROM (SELECT * FROM main.roles EXCEPT SELECT * FROM dro))"
	  " WHERE x IN (SELECT id FROM dm) AND x IN (SELECT id FROM main.messages)",
	  "index row differs from its signed record (edited)" },
};

/* run_diff - report each id one comparison yields */
static int
run_diff(verify *v, const char *sql, const char *what)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(v->mem, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		report(v, "index", (const char *)sqlite3_column_text(st, 0),
		       "%s", what);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* count_behind - messages after the index's last row: the tail a writer
 * has not indexed yet (its next commit, or the next open, rolls the index
 * forward to them), not rows deleted */
static void
count_behind(verify *v)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(v->mem, "SELECT count(*) FROM main.messages"
			       " WHERE ledger_seq > (SELECT coalesce("
			       "max(ledger_seq), 0) FROM dm)", -1, &st, NULL)
	    == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v->stats->index_behind += (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
}

/* count_line - ledger_line_fn counting lines */
static int
count_line(int64_t pos, const char *line, size_t len, void *ctx)
{
	(void)line;
	(void)len;
	*(int64_t *)ctx = pos;
	return 0;
}

/* rows_beyond - how many index rows point past ledger seq n */
static int64_t
rows_beyond(verify *v, int64_t n)
{
	sqlite3_stmt *st;
	int64_t count = 0;

	if (sqlite3_prepare_v2(v->mem, "SELECT count(*) FROM disk.messages"
			       " WHERE ledger_seq > ?", -1, &st, NULL) == SQLITE_OK
	    && sqlite3_bind_int64(st, 1, n) == SQLITE_OK
	    && sqlite3_step(st) == SQLITE_ROW)
		count = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return count;
}

/* check_beyond - rows that point past the end of the ledger (which is
 * read again, to its end now, only when there are rows past phase 1's) */
static int
check_beyond(verify *v, mk_error *err)
{
	sqlite3_stmt *st;
	int64_t now = (int64_t)v->stats->ledger_entries;
	int rc;

	if (rows_beyond(v, now) == 0)
		return 0;
	if (ledger_scan(v->ar->dir, count_line, &now, err) != 0)
		return -1;
	if (sqlite3_prepare_v2(v->mem, "SELECT id, ledger_seq FROM disk.messages"
			       " WHERE ledger_seq > ?", -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(v->mem));
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		report(v, "index", (const char *)sqlite3_column_text(st, 0),
		       "index row points to ledger seq %lld, past the ledger's"
		       " end (%lld)", (long long)sqlite3_column_int64(st, 1),
		       (long long)now);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mk_error_set(err, "index: %s",
						    sqlite3_errmsg(v->mem));
}

/* count_rows - the rows of disk.messages */
static void
count_rows(verify *v)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(v->mem, "SELECT count(*) FROM disk.messages",
			       -1, &st, NULL) == SQLITE_OK
	    && sqlite3_step(st) == SQLITE_ROW)
		v->stats->index_rows = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
}

/* verify_index - phase 4 */
static int
verify_index(verify *v, mk_error *err)
{
	char *path = path_join(v->ar->dir, ARCHIVE_INDEX_FILE);
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc = 0;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	char views[sizeof(views_sql) + 32];

	if (sqlite3_prepare_v2(v->mem, "ATTACH ? AS disk", -1, &st, NULL) != SQLITE_OK
	    || sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC) != SQLITE_OK
	    || sqlite3_step(st) != SQLITE_DONE)
		rc = mk_error_set(err, "attach %s: %s", path, sqlite3_errmsg(v->mem));
	sqlite3_finalize(st);
	free(path);
	snprintf(views, sizeof(views), views_sql, (long long)v->stats->ledger_entries);
	if (rc == 0 && sqlite3_exec(v->mem, views, NULL, NULL, NULL) != SQLITE_OK)
		rc = mk_error_set(err, "index views: %s", sqlite3_errmsg(v->mem));
	for (i = 0; rc == 0 && i < sizeof(index_diffs) / sizeof(index_diffs[0]); i++)
		if (run_diff(v, index_diffs[i].sql, index_diffs[i].what) != 0)
			rc = mk_error_set(err, "index: %s", sqlite3_errmsg(v->mem));
	if (rc == 0)
		rc = check_beyond(v, err);
	if (rc == 0) {
		count_rows(v);
		count_behind(v);
	}
	progress(v, "index", 1, 1);
	for (i = 0; rc == 0 && i < v->map.n; i++)
		if (v->map.msgs[i].expired && v->map.msgs[i].has_record)
			report(v, "expiry", v->map.msgs[i].id, "expired, but its"
			       " record can still be read");
	return rc;
}

/* The state of hashing one blob. */
typedef struct blob_hash {
	EVP_MD_CTX *sha;
	uint64_t bytes;
} blob_hash;

/* hash_sink - archive_sink_fn hashing what a blob holds */
static int
hash_sink(const void *buf, size_t len, void *ctx)
{
	blob_hash *bh = ctx;

	bh->bytes += len;
	return EVP_DigestUpdate(bh->sha, buf, len) == 1 ? 0 : -1;
}

/* keep_blob - note a good blob's name */
static void
keep_blob(verify *v, const char *name)
{
	char (*grown)[ARCHIVE_SHA256_HEX + 1];

	if (v->n_blobs == v->blobs_cap) {
		v->blobs_cap = v->blobs_cap ? 2 * v->blobs_cap : 4096;
		if ((grown = realloc(v->blobs, v->blobs_cap * sizeof(*grown))) == NULL) {
			v->oom = true;
			return;
		}
		v->blobs = grown;
	}
	memcpy(v->blobs[v->n_blobs++], name, ARCHIVE_SHA256_HEX + 1);	/* checked */
}

/* check_blob - one blob file: it opens and hashes to its name */
static void
check_blob(verify *v, int dirfd, const char *sub, const char *name)
{
	blob_hash bh = { EVP_MD_CTX_new(), 0 };
	unsigned char md[32];
	char hex[ARCHIVE_SHA256_HEX + 1], object[300];
	mk_error why;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	blob_span span = { fd, 0, -1, NULL };

	snprintf(object, sizeof(object), "blobs/%s/%s", sub, name);
	v->stats->blobs++;
	if (fd < 0 || bh.sha == NULL
	    || EVP_DigestInit_ex(bh.sha, EVP_sha256(), NULL) != 1)
		report(v, "blob", object, "cannot be opened");
	else if (blob_read(&span, &v->ar->keys, &v->ar->codecs, hash_sink, &bh,
			   &why) != 0)
		report(v, "blob", object, "%s", why.msg);
	else {
		EVP_DigestFinal_ex(bh.sha, md, NULL);
		hex_encode(md, sizeof(md), hex);
		v->stats->content_bytes += bh.bytes;
		if (strcmp(hex, name) != 0 || strncmp(name, sub, 2) != 0)
			report(v, "blob", object, "content hashes to %s, not to"
			       " its name (altered or swapped)", hex);
		else
			keep_blob(v, name);
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(bh.sha);
}

/* check_blob_dir - every blob of blobs/XX */
static void
check_blob_dir(verify *v, const char *blobs, int i)
{
	char sub[3], *path;
	struct dirent *de;
	DIR *d;

	snprintf(sub, sizeof(sub), "%02x", i);
	if ((path = path_join(blobs, sub)) == NULL || (d = opendir(path)) == NULL) {
		free(path);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			check_blob(v, dirfd(d), sub, de->d_name);
	closedir(d);
	free(path);
	progress(v, "blobs", (uint64_t)i + 1, 256);
}

/* by_name - qsort/bsearch order of blob names */
static int
by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* span_hash - the SHA-256 of what span holds into hex, or -1 with why */
static int
span_hash(verify *v, const blob_span *span, char hex[ARCHIVE_SHA256_HEX + 1],
	  mk_error *why)
{
	blob_hash bh = { EVP_MD_CTX_new(), 0 };
	unsigned char md[32];
	int rc = -1;

	if (bh.sha == NULL || EVP_DigestInit_ex(bh.sha, EVP_sha256(), NULL) != 1)
		mk_error_set(why, "out of memory");
	else if (blob_read(span, &v->ar->keys, &v->ar->codecs, hash_sink, &bh,
			   why) == 0 && EVP_DigestFinal_ex(bh.sha, md, NULL) == 1) {
		hex_encode(md, sizeof(md), hex);
		v->stats->content_bytes += bh.bytes;
		rc = 0;
	}
	EVP_MD_CTX_free(bh.sha);
	return rc;
}

/* open_span - v->seg set to a span of file (kept open from the span
 * before when it is in the same file: the rows come in file order) */
static int
open_span(verify *v, const char *file, int64_t off, int64_t len,
	  mk_error *why)
{
	if (v->seg.fd >= 0 && strcmp(file, v->seg_file) == 0 && off >= 0
	    && len >= BLOB_HEADER) {
		v->seg.off = off;
		v->seg.len = len;
		return 0;
	}
	if (v->seg.fd >= 0)
		close(v->seg.fd);
	v->seg_file[0] = '\0';
	if (content_open(v->ar, file, off, len, v->seg_key, &v->seg, why) != 0) {
		v->seg.fd = -1;
		return -1;
	}
	snprintf(v->seg_file, sizeof(v->seg_file), "%s", file);
	return 0;
}

/* check_span - one span that records name (row of spans_sql) */
static void
check_span(verify *v, sqlite3_stmt *st)
{
	const char *file = (const char *)sqlite3_column_text(st, 0);
	const char *want = (const char *)sqlite3_column_text(st, 3);
	const char *id = (const char *)sqlite3_column_text(st, 4);
	int64_t off = sqlite3_column_int64(st, 1);
	char hex[ARCHIVE_SHA256_HEX + 1];
	mk_error why;

	v->stats->blobs++;
	if (open_span(v, file, off, sqlite3_column_int64(st, 2), &why) != 0
	    || span_hash(v, &v->seg, hex, &why) != 0)
		report(v, "content", id, "%s at %lld: %s", file, (long long)off,
		       why.msg);
	else if (want == NULL || strcmp(hex, want) != 0)
		report(v, "content", id, "%s at %lld hashes to %s, not to the"
		       " record's %s (altered)", file, (long long)off, hex,
		       want != NULL ? want : "null");
}

/* Every distinct span the signed records name, in file order, with the
 * first message that names it. */
static const char spans_sql[] =
	"SELECT content_file, content_off, content_len, sha256, min(id)"
	" FROM messages WHERE content_file IS NOT NULL"
	" GROUP BY content_file, content_off, content_len, sha256"
	" ORDER BY content_file, content_off";

/* verify_spans - phase 5 for content segments */
static int
verify_spans(verify *v, mk_error *err)
{
	sqlite3_stmt *st;
	uint64_t n = 0;
	int rc;

	if (sqlite3_prepare_v2(v->mem, spans_sql, -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "spans: %s", sqlite3_errmsg(v->mem));
	v->seg.fd = -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		check_span(v, st);
		if ((++n & 255) == 0)
			progress(v, "content", n, 0);
	}
	sqlite3_finalize(st);
	if (v->seg.fd >= 0)
		close(v->seg.fd);
	OPENSSL_cleanse(v->seg_key, sizeof(v->seg_key));
	progress(v, "content", n, n);
	return rc == SQLITE_DONE ? 0 : mk_error_set(err, "spans: %s",
						      sqlite3_errmsg(v->mem));
}

/* verify_blob_files - phase 5 for blobs/ (format 3): every blob, and the
 * blob of every record that names no span */
static int
verify_blob_files(verify *v, mk_error *err)
{
	char *blobs = path_join(v->ar->dir, "blobs");
	sqlite3_stmt *st;
	const char *sha;
	int d, rc;

	if (blobs == NULL)
		return mk_error_set(err, "out of memory");
	for (d = 0; d < 256; d++)
		check_blob_dir(v, blobs, d);
	free(blobs);
	if (v->oom)
		return mk_error_set(err, "out of memory");
	if (v->n_blobs > 0)
		qsort(v->blobs, v->n_blobs, sizeof(*v->blobs), by_name);
	if (sqlite3_prepare_v2(v->mem, "SELECT id, sha256 FROM messages"
			       " WHERE sha256 IS NOT NULL AND content_file IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "blobs: %s", sqlite3_errmsg(v->mem));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sha = (const char *)sqlite3_column_text(st, 1);
		if (v->n_blobs == 0 || bsearch(sha, v->blobs, v->n_blobs,
					       sizeof(*v->blobs), by_name) == NULL)
			report(v, "blob", (const char *)sqlite3_column_text(st, 0),
			       "content blob %s is missing or damaged", sha);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mk_error_set(err, "blobs: %s",
						      sqlite3_errmsg(v->mem));
}

/* archive_verify - check everything (archive.h) */
int
archive_verify(archive *ar, const char *pinned_pem, archive_problem_fn problem,
	       archive_progress_fn progress_fn, void *ctx,
	       archive_verify_stats *stats, mk_error *err)
{
	verify v = { .ar = ar, .problem = problem, .progress = progress_fn,
		     .ctx = ctx, .stats = stats };
	int rc;

	memset(stats, 0, sizeof(*stats));
	err->msg[0] = '\0';
	rc = verify_ledger(&v, err);
	if (rc == 0)
		verify_keys(&v, pinned_pem);
	if (rc == 0)
		rc = verify_records(&v, err);
	if (rc == 0)
		rc = verify_index(&v, err);
	if (rc == 0)
		rc = verify_spans(&v, err);
	if (rc == 0)
		rc = verify_blob_files(&v, err);
	sqlite3_close(v.mem);
	ledger_map_free(&v.map);
	free(v.checks);
	free(v.by_size);
	free(v.blobs);
	return rc;
}
