/*
 * proof.c - what the ledger proves to someone who holds only the public
 * keys: the list of signed checkpoints, the inclusion proof of a message's
 * "stored" entry (with its signed record), and the consistency proof
 * between two checkpoints (RFC 9162 sections 2.1.3 and 2.1.4).
 *
 * Inclusion proofs come from a prover: one pass over ledger.log up to the
 * latest checkpoint builds the whole Merkle tree in memory (64 bytes a
 * ledger entry, plus 8 for where each line starts), after which each
 * proof costs O(log n) hashes, one read of its ledger line and a lookup
 * in its day's records segment (indexed once per day and prover).  An
 * export proves every message it holds with one prover; a single proof
 * opens one for itself.  Consistency proofs come from the leaf hashes (32
 * bytes a leaf).  Each proof is checked against the signed checkpoint
 * before it is handed out: a proof that would not verify is an error, not
 * an answer.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* The leaf hashes of the ledger (for consistency proofs). */
typedef struct leaves {
	merkle_hash *hash;
	uint64_t n, cap;
} leaves;

/* Many inclusion proofs against one checkpoint (archive.h). */
struct archive_prover {
	archive *ar;
	checkpoint cp;			/* the latest when opened */
	archive_checkpoint pub;		/* cp made public, signature checked */
	merkle_tree tree;		/* the first cp.size leaves */
	int64_t *offset;		/* ledger offset of line i + 1, and the
					   end of line cp.size at [cp.size] */
	int fd;				/* ledger.log */
	record_day_map day;		/* the records segment last read */
	struct moved *moved;		/* re-keyed messages, by id */
	size_t n_moved, moved_cap;
};

/* A message re-keyed by expiry or re-decided (FORMAT.md 1.3, 1.5): its
 * last "rekeyed" or "redecided" entry, the one that names its current
 * record. */
struct moved {
	char id[ARCHIVE_ID_LEN + 1];
	int64_t seq;
};

/* is_stored_entry - is line the "stored" entry of message id? */
static bool
is_stored_entry(const char *line, const char *id)
{
	char needle[ARCHIVE_ID_LEN + 16];

	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
	return strstr(line, "\"event\":\"stored\"") != NULL
	    && strstr(line, needle) != NULL;
}

/* is_move - is line a "rekeyed" or "redecided" entry (one that names a
 * message's new current record)? */
static bool
is_move(const char *line)
{
	return strstr(line, "\"event\":\"rekeyed\"") != NULL
	    || strstr(line, "\"event\":\"redecided\"") != NULL;
}

/* by_moved_id - qsort/bsearch order of struct moved: id, then seq */
static int
by_moved_id(const void *a, const void *b)
{
	const struct moved *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* note_moved - a "rekeyed" entry line at seq into pv's list */
static int
note_moved(archive_prover *pv, int64_t seq, const char *line)
{
	const char *p = strstr(line, "\"id\":\"");
	struct moved *grown;

	if (p == NULL || strlen(p += 6) <= ARCHIVE_ID_LEN
	    || p[ARCHIVE_ID_LEN] != '"')
		return 0;
	if (pv->n_moved == pv->moved_cap) {
		pv->moved_cap = pv->moved_cap ? 2 * pv->moved_cap : 64;
		grown = realloc(pv->moved, pv->moved_cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		pv->moved = grown;
	}
	memcpy(pv->moved[pv->n_moved].id, p, ARCHIVE_ID_LEN);
	pv->moved[pv->n_moved].id[ARCHIVE_ID_LEN] = '\0';
	pv->moved[pv->n_moved++].seq = seq;
	return 0;
}

/* last_move - the seq of id's last "rekeyed" entry, or 0 */
static int64_t
last_move(const archive_prover *pv, const char *id)
{
	size_t lo = 0, hi = pv->n_moved, mid;
	int64_t seq = 0;

	while (lo < hi) {	/* the first of id */
		mid = lo + (hi - lo) / 2;
		if (strcmp(pv->moved[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < pv->n_moved && strcmp(pv->moved[lo].id, id) == 0; lo++)
		seq = pv->moved[lo].seq;
	return seq;
}

/* add_leaf - ledger_line_fn collecting leaf hashes */
static int
add_leaf(int64_t seq, const char *line, size_t len, void *ctx)
{
	leaves *lv = ctx;
	merkle_hash *grown;

	if (lv->n == lv->cap) {
		lv->cap = lv->cap ? 2 * lv->cap : 4096;
		if ((grown = realloc(lv->hash, lv->cap * sizeof(*grown))) == NULL)
			return -1;
		lv->hash = grown;
	}
	(void)seq;
	merkle_leaf_hash(line, len, lv->hash[lv->n++]);
	return 0;
}

/* load_leaves - every leaf hash of the ledger */
static int
load_leaves(archive *ar, leaves *lv, mk_error *err)
{
	err->msg[0] = '\0';
	if (ledger_scan(ar->dir, add_leaf, lv, err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "out of memory");
	return 0;
}

/* to_public - cp as an archive_checkpoint, its signature checked */
static int
to_public(archive *ar, const checkpoint *cp, archive_checkpoint *out)
{
	unsigned char pub[KEYS_PUBLIC];
	char text[256];
	size_t len = checkpoint_text(cp, text, sizeof(text));

	memset(out, 0, sizeof(*out));
	out->size = cp->size;
	hex_encode(cp->root, MERKLE_HASH, out->root);
	out->time = cp->time;
	out->key = cp->key;
	out->valid = keyring_public(&ar->keys, cp->key, pub) == 0
	    && ed25519_verify(pub, text, len, cp->sig) == 0;
	out->text = strdup(text);
	out->signature = base64_encode(cp->sig, KEYS_SIG);
	return out->text != NULL && out->signature != NULL ? 0 : -1;
}

/* free_public - what to_public() allocated */
static void
free_public(archive_checkpoint *cp)
{
	free(cp->text);
	free(cp->signature);
	cp->text = cp->signature = NULL;
}

/* The state of archive_checkpoints(). */
typedef struct cp_walk {
	archive *ar;
	archive_checkpoint_fn fn;
	void *ctx;
	int64_t want_old, want_new;	/* for consistency: sizes looked for */
	checkpoint old_cp, new_cp;
} cp_walk;

/* pass_checkpoint - checkpoint_fn handing each one on, made public */
static int
pass_checkpoint(const checkpoint *cp, const char *line, void *ctx)
{
	cp_walk *w = ctx;
	archive_checkpoint pub;
	int rc;

	(void)line;
	if (to_public(w->ar, cp, &pub) != 0) {
		free_public(&pub);
		return -1;
	}
	rc = w->fn(&pub, w->ctx);
	free_public(&pub);
	return rc;
}

/* archive_checkpoints - every checkpoint, oldest first (archive.h) */
int
archive_checkpoints(archive *ar, archive_checkpoint_fn fn, void *ctx,
		    mk_error *err)
{
	cp_walk w = { .ar = ar, .fn = fn, .ctx = ctx };

	return checkpoint_scan(ar->dir, pass_checkpoint, &w, err);
}

/* archive_checkpoint_now - a checkpoint of the whole ledger (archive.h) */
int
archive_checkpoint_now(archive *ar, mk_error *err)
{
	return ledger_checkpoint_due(ar, true, err);
}

/* hex_path - n hashes as hex strings, allocated */
static char (*hex_path(const merkle_hash *path, size_t n))[ARCHIVE_SHA256_HEX + 1]
{
	char (*out)[ARCHIVE_SHA256_HEX + 1] = calloc(n + 1, sizeof(*out));
	size_t i;

	for (i = 0; out != NULL && i < n; i++)
		hex_encode(path[i], MERKLE_HASH, out[i]);
	return out;
}

/* The state of the prover's pass over the ledger. */
typedef struct prover_scan {
	archive_prover *pv;
	merkle_hash *hash;		/* leaf hashes, cp.size of them */
	int64_t at;			/* offset of the next line */
	const char *want_id;		/* find its "stored" entry, or NULL */
	int64_t found_seq;		/* 0: not found */
} prover_scan;

/* scan_line - ledger_line_fn: the leaves and line offsets the checkpoint
 * covers, and the entry looked for (which may come after them) */
static int
scan_line(int64_t seq, const char *line, size_t len, void *ctx)
{
	prover_scan *ps = ctx;
	archive_prover *pv = ps->pv;

	if (seq <= pv->cp.size) {
		merkle_leaf_hash(line, len, ps->hash[seq - 1]);
		pv->offset[seq - 1] = ps->at;
		ps->at += (int64_t)len + 1;
		pv->offset[seq] = ps->at;
	}
	if (ps->want_id != NULL && ps->found_seq == 0
	    && is_stored_entry(line, ps->want_id))
		ps->found_seq = seq;
	if (is_move(line) && note_moved(pv, seq, line) != 0)
		return -1;
	return 0;	/* to the end: a "rekeyed" entry may come later */
}

/* prover_alloc - the arrays for cp.size leaves */
static int
prover_alloc(archive_prover *pv, prover_scan *ps, mk_error *err)
{
	size_t n = (size_t)pv->cp.size;

	ps->hash = malloc((n ? n : 1) * sizeof(*ps->hash));
	pv->offset = calloc(n + 1, sizeof(*pv->offset));
	return ps->hash != NULL && pv->offset != NULL ? 0
	    : mk_error_set(err, "out of memory");
}

/* prover_load - the pass over the ledger and the tree it gives; -1 */
static int
prover_load(archive_prover *pv, prover_scan *ps, mk_error *err)
{
	merkle_hash root;

	if (prover_alloc(pv, ps, err) != 0)
		return -1;
	err->msg[0] = '\0';
	if (ledger_scan(pv->ar->dir, scan_line, ps, err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "out of memory");
	if (pv->cp.size > 0 && pv->offset[pv->cp.size] == 0)	/* not reached */
		return mk_error_set(err, "the ledger has fewer entries than the"
				    " %lld of its latest checkpoint",
				    (long long)pv->cp.size);
	if (pv->n_moved > 0)
		qsort(pv->moved, pv->n_moved, sizeof(*pv->moved), by_moved_id);
	if (merkle_tree_build(&pv->tree, &ps->hash, (uint64_t)pv->cp.size) != 0)
		return mk_error_set(err, "out of memory");
	merkle_tree_root(&pv->tree, root);
	if (memcmp(root, pv->cp.root, MERKLE_HASH) != 0)
		return mk_error_set(err, "the ledger does not hash to its latest"
				    " checkpoint (run mailkeep verify)");
	return to_public(pv->ar, &pv->cp, &pv->pub) == 0 ? 0
	    : mk_error_set(err, "out of memory");
}

/* prover_open - a prover of the latest checkpoint; with want_id, also
 * the seq of that message's "stored" entry into *found (0: none) */
static int
prover_open(archive *ar, const char *want_id, int64_t *found,
	    archive_prover **out, mk_error *err)
{
	archive_prover *pv = calloc(1, sizeof(*pv));
	prover_scan ps = { .pv = pv, .want_id = want_id };
	char *path = NULL;
	int rc = -1;

	*out = NULL;
	if (pv == NULL)
		return mk_error_set(err, "out of memory");
	pv->ar = ar;
	pv->fd = -1;
	if (checkpoint_last(ar->dir, &pv->cp, err) == 0
	    && prover_load(pv, &ps, err) == 0) {
		if ((path = path_join(ar->dir, ARCHIVE_LEDGER_FILE)) == NULL)
			mk_error_set(err, "out of memory");
		else if ((pv->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			mk_error_errno(err, "open %s", path);
		else
			rc = 0;
	}
	free(path);
	free(ps.hash);
	if (found != NULL)
		*found = ps.found_seq;
	if (rc == 0)
		*out = pv;
	else
		archive_prover_free(pv);
	return rc;
}

/* archive_prover_open - one pass over the ledger (archive.h) */
int
archive_prover_open(archive *ar, archive_prover **out, mk_error *err)
{
	return prover_open(ar, NULL, NULL, out, err);
}

/* archive_prover_size - the checkpoint's size (archive.h) */
int64_t
archive_prover_size(const archive_prover *pv)
{
	return pv->cp.size;
}

/* read_entry - ledger line seq (covered by the checkpoint), allocated,
 * and checked against its leaf */
static char *
read_entry(archive_prover *pv, int64_t seq, mk_error *err)
{
	int64_t at = pv->offset[seq - 1], len = pv->offset[seq] - at - 1;
	merkle_hash leaf;
	char *line = malloc((size_t)len + 1);

	if (line == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if (pread(pv->fd, line, (size_t)len, (off_t)at) != (ssize_t)len) {
		mk_error_errno(err, "read %s", ARCHIVE_LEDGER_FILE);
		free(line);
		return NULL;
	}
	line[len] = '\0';
	merkle_leaf_hash(line, (size_t)len, leaf);
	if (memcmp(leaf, merkle_tree_leaf(&pv->tree, (uint64_t)seq - 1),
		   MERKLE_HASH) != 0) {
		mk_error_set(err, "ledger entry %lld changed while it was being"
			     " proved (run mailkeep verify)", (long long)seq);
		free(line);
		return NULL;
	}
	return line;
}

/* copy_public - a copy of a public checkpoint (its strings too) */
static int
copy_public(const archive_checkpoint *from, archive_checkpoint *to)
{
	*to = *from;
	to->text = strdup(from->text);
	to->signature = strdup(from->signature);
	return to->text != NULL && to->signature != NULL ? 0 : -1;
}

/* prove_path - p's audit path, checked against the checkpoint */
static int
prove_path(archive_prover *pv, archive_proof *p, mk_error *err)
{
	merkle_hash path[MERKLE_MAX_PATH];
	uint64_t index = (uint64_t)p->seq - 1;
	const unsigned char *leaf = merkle_tree_leaf(&pv->tree, index);
	int n = merkle_tree_path(&pv->tree, index, path);

	if (n < 0 || merkle_inclusion_verify(leaf, index, (uint64_t)pv->cp.size,
					     (const merkle_hash *)path,
					     (size_t)n, pv->cp.root) != 0)
		return mk_error_set(err, "the ledger does not hash to its latest"
				    " checkpoint (run mailkeep verify)");
	hex_encode(leaf, MERKLE_HASH, p->leaf_hash);
	p->path_len = (size_t)n;
	if ((p->path = hex_path((const merkle_hash *)path, (size_t)n)) == NULL
	    || copy_public(&pv->pub, &p->checkpoint) != 0)
		return mk_error_set(err, "out of memory");
	return 0;
}

/* entry_time - the "time" of the ledger entry at seq (covered) */
static int
entry_time(archive_prover *pv, int64_t seq, int64_t *when, mk_error *err)
{
	char *line = read_entry(pv, seq, err);
	json_t *entry;

	if (line == NULL)
		return -1;
	entry = json_loads(line, 0, NULL);
	*when = json_integer_value(json_object_get(entry, "time"));
	json_decref(entry);
	free(line);
	return 0;
}

/* prove_record - the signed record of p->id into p: the one its entry
 * names, in the segment of the day its "stored" entry's time says
 * (stored: the entry p proves, or the one a "rekeyed" entry names) */
static int
prove_record(archive_prover *pv, archive_proof *p, int64_t stored,
	     mk_error *err)
{
	json_t *entry = json_loads(p->entry, 0, NULL);
	const char *named = json_string_value(json_object_get(entry, "record"));
	char want[ARCHIVE_SHA256_HEX + 1];
	int64_t when = json_integer_value(json_object_get(entry, "time"));
	record_opened ro;
	int rc;

	snprintf(want, sizeof(want), "%s", named != NULL ? named : "");
	json_decref(entry);
	if (stored != p->seq && entry_time(pv, stored, &when, err) != 0)
		return -1;
	if (!record_day_holds(&pv->day, when)
	    && record_day_load(pv->ar, when, &pv->day, err) != 0)
		return -1;
	rc = stored == p->seq ? record_day_open(pv->ar, &pv->day, p->id, &ro, err)
	    : record_day_open_hash(pv->ar, &pv->day, p->id, want, &ro, err);
	if (rc != 0)
		return -1;
	p->record = ro.text;
	p->record_signer = ro.signer;
	p->record_signature = base64_encode(ro.sig, KEYS_SIG);
	return p->record_signature != NULL ? 0
	    : mk_error_set(err, "out of memory");
}

/* covered - is seq an entry of the prover's checkpoint? 0, or -1 with
 * err naming what (id: whose entry, or NULL) */
static int
covered(const archive_prover *pv, int64_t seq, const char *id, mk_error *err)
{
	if (seq > pv->cp.size)
		return mk_error_set(err, "ledger entry %lld%s%s is not covered"
				    " by a checkpoint yet (the latest covers"
				    " %lld); run \"mailkeep ledger checkpoint\"",
				    (long long)seq, id ? " of " : "", id ? id : "",
				    (long long)pv->cp.size);
	if (seq < 1)
		return id ? mk_error_set(err, "no \"stored\" ledger entry for"
					 " message %s", id)
		    : mk_error_set(err, "no ledger entry %lld", (long long)seq);
	return 0;
}

/* prove_entry - a new proof of entry seq (covered), without a record */
static archive_proof *
prove_entry(archive_prover *pv, int64_t seq, mk_error *err)
{
	archive_proof *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	p->seq = seq;
	if ((p->entry = read_entry(pv, seq, err)) == NULL
	    || prove_path(pv, p, err) != 0) {
		archive_proof_free(p);
		return NULL;
	}
	return p;
}

/* is_entry_of - is line the entry of message id that p must prove: its
 * "stored" entry, or (moved) its last "rekeyed" one? */
static bool
is_entry_of(const char *line, const char *id, bool moved)
{
	char needle[ARCHIVE_ID_LEN + 16];

	if (!moved)
		return is_stored_entry(line, id);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
	return is_move(line) && strstr(line, needle) != NULL;
}

/* prove_seq - the proof of id, whose "stored" entry is at seq: of that
 * entry, or of its last "rekeyed" entry when expiry re-keyed it (that
 * one names its current record, FORMAT.md 4.4) */
static int
prove_seq(archive_prover *pv, const char *id, int64_t seq,
	  archive_proof **out, mk_error *err)
{
	int64_t moved = last_move(pv, id), proved = moved > 0 ? moved : seq;
	archive_proof *p;

	*out = NULL;
	if (covered(pv, proved, id, err) != 0
	    || (p = prove_entry(pv, proved, err)) == NULL)
		return -1;
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (!is_entry_of(p->entry, id, moved > 0)) {
		mk_error_set(err, "ledger entry %lld is not the \"%s\" entry"
			     " of %s (run mailkeep verify)", (long long)proved,
			     moved > 0 ? "rekeyed\" or \"redecided" : "stored", id);
		archive_proof_free(p);
		return -1;
	}
	if (prove_record(pv, p, seq, err) != 0) {
		archive_proof_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* archive_prover_entry - the proof of any entry seq (archive.h) */
int
archive_prover_entry(archive_prover *pv, int64_t seq, archive_proof **out,
		     mk_error *err)
{
	*out = NULL;
	if (covered(pv, seq, NULL, err) != 0)
		return -1;
	return (*out = prove_entry(pv, seq, err)) != NULL ? 0 : -1;
}

/* archive_prover_proof - the proof of one indexed message (archive.h) */
int
archive_prover_proof(archive_prover *pv, const archive_message *msg,
		     archive_proof **out, mk_error *err)
{
	return prove_seq(pv, msg->id, msg->ledger_seq, out, err);
}

/* archive_prover_free - close and free a prover; NULL ok */
void
archive_prover_free(archive_prover *pv)
{
	if (pv == NULL)
		return;
	merkle_tree_free(&pv->tree);
	free_public(&pv->pub);
	free(pv->offset);
	if (pv->fd >= 0)
		close(pv->fd);
	record_day_free(&pv->day);
	free(pv->moved);
	free(pv);
}

/* archive_ledger_proof - inclusion proof of message id, its entry found
 * in the ledger itself, not the index (archive.h) */
int
archive_ledger_proof(archive *ar, const char *id, archive_proof **out,
		     mk_error *err)
{
	archive_prover *pv;
	int64_t seq = 0;
	int rc;

	*out = NULL;
	if (prover_open(ar, id, &seq, &pv, err) != 0)
		return -1;
	rc = seq > 0 ? prove_seq(pv, id, seq, out, err)
	    : mk_error_set(err, "no \"stored\" ledger entry for message %s", id);
	archive_prover_free(pv);
	return rc;
}

/* archive_proof_free - free a proof; NULL ok */
void
archive_proof_free(archive_proof *p)
{
	if (p == NULL)
		return;
	free(p->entry);
	free(p->path);
	free_public(&p->checkpoint);
	free(p->record);
	free(p->record_signature);
	free(p);
}

/* find_sizes - checkpoint_fn keeping the checkpoints of two sizes */
static int
find_sizes(const checkpoint *cp, const char *line, void *ctx)
{
	cp_walk *w = ctx;

	(void)line;
	if (cp->size > 0 && cp->size == w->want_old)
		w->old_cp = *cp;
	if (cp->size > 0 && cp->size == w->want_new)
		w->new_cp = *cp;
	return 0;
}

/* consistency_of - the proof between w's two checkpoints into c */
static int
consistency_of(archive *ar, const cp_walk *w, const leaves *lv,
	       archive_consistency *c, mk_error *err)
{
	merkle_hash path[MERKLE_MAX_PATH], root;
	int n;

	if ((uint64_t)w->new_cp.size > lv->n)
		return mk_error_set(err, "the ledger has %llu entries, fewer"
				    " than checkpoint %lld covers",
				    (unsigned long long)lv->n,
				    (long long)w->new_cp.size);
	n = merkle_consistency_proof((const merkle_hash *)lv->hash,
				     (uint64_t)w->old_cp.size,
				     (uint64_t)w->new_cp.size, path);
	if (n < 0)
		return mk_error_set(err, "no consistency proof for %lld -> %lld",
				    (long long)w->old_cp.size,
				    (long long)w->new_cp.size);
	merkle_root((const merkle_hash *)lv->hash, (uint64_t)w->new_cp.size, root);
	c->path_len = (size_t)n;
	if ((c->path = hex_path((const merkle_hash *)path, (size_t)n)) == NULL
	    || to_public(ar, &w->old_cp, &c->old_cp) != 0
	    || to_public(ar, &w->new_cp, &c->new_cp) != 0)
		return mk_error_set(err, "out of memory");
	c->valid = c->old_cp.valid && c->new_cp.valid
	    && memcmp(root, w->new_cp.root, MERKLE_HASH) == 0
	    && merkle_consistency_verify((uint64_t)w->old_cp.size,
					 (uint64_t)w->new_cp.size, w->old_cp.root,
					 w->new_cp.root, (const merkle_hash *)path,
					 (size_t)n) == 0;
	return 0;
}

/* archive_ledger_consistency - checkpoint new_size extends old_size */
int
archive_ledger_consistency(archive *ar, int64_t old_size, int64_t new_size,
			   archive_consistency **out, mk_error *err)
{
	cp_walk w = { .ar = ar, .want_old = old_size, .want_new = new_size };
	archive_consistency *c = calloc(1, sizeof(*c));
	leaves lv = { 0 };
	int rc = -1;

	*out = NULL;
	if (c == NULL)
		return mk_error_set(err, "out of memory");
	if (old_size < 1 || old_size > new_size)
		mk_error_set(err, "want 1 <= OLD <= NEW, got %lld and %lld",
			     (long long)old_size, (long long)new_size);
	else if (checkpoint_scan(ar->dir, find_sizes, &w, err) != 0)
		;
	else if (w.old_cp.size == 0 || w.new_cp.size == 0)
		mk_error_set(err, "no checkpoint of size %lld (see \"mailkeep"
			     " ledger checkpoints\")", (long long)(w.old_cp.size
			     == 0 ? old_size : new_size));
	else if (load_leaves(ar, &lv, err) == 0)
		rc = consistency_of(ar, &w, &lv, c, err);
	free(lv.hash);
	if (rc == 0)
		*out = c;
	else
		archive_consistency_free(c);
	return rc;
}

/* archive_consistency_free - free a consistency proof; NULL ok */
void
archive_consistency_free(archive_consistency *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free_public(&c->old_cp);
	free_public(&c->new_cp);
	free(c);
}
