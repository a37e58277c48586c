/*
 * proof.c - what the ledger proves to someone who holds only the public
 * keys: the list of signed checkpoints, the inclusion proof of a message's
 * "stored" entry (with its signed record), and the consistency proof
 * between two checkpoints (RFC 9162 sections 2.1.3 and 2.1.4).
 *
 * Proofs are computed from the leaf hashes of the ledger as it is on disk
 * (one pass over ledger.log, 32 bytes a leaf in memory), and each is
 * checked against the signed checkpoint before it is handed out: a proof
 * that would not verify is an error, not an answer.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* The leaf hashes of the ledger, and the stored entry looked for. */
typedef struct leaves {
	merkle_hash *hash;
	uint64_t n, cap;
	const char *want_id;		/* find its "stored" entry, or NULL */
	int64_t found_seq;
	char *found_line;
} leaves;

/* is_stored_entry - is line the "stored" entry of message id? */
static bool
is_stored_entry(const char *line, const char *id)
{
	char needle[ARCHIVE_ID_LEN + 16];

	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
	return strstr(line, "\"event\":\"stored\"") != NULL
	    && strstr(line, needle) != NULL;
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
	merkle_leaf_hash(line, len, lv->hash[lv->n++]);
	if (lv->want_id != NULL && lv->found_line == NULL
	    && is_stored_entry(line, lv->want_id)) {
		lv->found_seq = seq;
		if ((lv->found_line = strdup(line)) == NULL)
			return -1;
	}
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

/* fill_record - the signed record of p->id (received at the time its
 * entry says) into p */
static int
fill_record(archive *ar, archive_proof *p, mk_error *err)
{
	json_t *entry = json_loads(p->entry, 0, NULL);
	int64_t when = json_integer_value(json_object_get(entry, "time"));
	record_opened ro;

	json_decref(entry);
	if (record_find(ar, p->id, when, &ro, err) != 0)
		return -1;
	p->record = ro.text;
	p->record_signer = ro.signer;
	p->record_signature = base64_encode(ro.sig, KEYS_SIG);
	return p->record_signature != NULL ? 0
	    : mk_error_set(err, "out of memory");
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

/* build_proof - the audit path of p->seq in the checkpoint cp */
static int
build_proof(archive *ar, const leaves *lv, const checkpoint *cp,
	    archive_proof *p, mk_error *err)
{
	merkle_hash path[MERKLE_MAX_PATH];
	uint64_t index = (uint64_t)p->seq - 1;
	int n;

	if ((uint64_t)cp->size > lv->n)
		return mk_error_set(err, "the ledger has %llu entries, fewer"
				    " than the %lld of its latest checkpoint",
				    (unsigned long long)lv->n,
				    (long long)cp->size);
	n = merkle_inclusion_proof((const merkle_hash *)lv->hash,
				   (uint64_t)cp->size, index, path);
	if (n < 0 || merkle_inclusion_verify(lv->hash[index], index,
					     (uint64_t)cp->size, (const merkle_hash *)path,
					     (size_t)n, cp->root) != 0)
		return mk_error_set(err, "the ledger does not hash to its latest"
				    " checkpoint (run mailkeep verify)");
	hex_encode(lv->hash[index], MERKLE_HASH, p->leaf_hash);
	p->path_len = (size_t)n;
	if ((p->path = hex_path((const merkle_hash *)path, (size_t)n)) == NULL
	    || to_public(ar, cp, &p->checkpoint) != 0)
		return mk_error_set(err, "out of memory");
	return 0;
}

/* archive_ledger_proof - inclusion proof of message id (archive.h) */
int
archive_ledger_proof(archive *ar, const char *id, archive_proof **out,
		     mk_error *err)
{
	leaves lv = { .want_id = id };
	archive_proof *p = calloc(1, sizeof(*p));
	checkpoint cp;
	int rc = -1;

	*out = NULL;
	if (p == NULL)
		return mk_error_set(err, "out of memory");
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (load_leaves(ar, &lv, err) != 0 || checkpoint_last(ar->dir, &cp, err) != 0)
		goto out;
	if (lv.found_line == NULL) {
		mk_error_set(err, "no \"stored\" ledger entry for message %s", id);
		goto out;
	}
	p->seq = lv.found_seq;
	p->entry = lv.found_line;
	lv.found_line = NULL;
	if (cp.size < p->seq) {
		mk_error_set(err, "ledger entry %lld of %s is not covered by a"
			     " checkpoint yet (the latest covers %lld); run"
			     " \"mailkeep ledger checkpoint\"", (long long)p->seq,
			     id, (long long)cp.size);
		goto out;
	}
	if (build_proof(ar, &lv, &cp, p, err) == 0 && fill_record(ar, p, err) == 0)
		rc = 0;
out:
	free(lv.hash);
	free(lv.found_line);
	if (rc == 0)
		*out = p;
	else
		archive_proof_free(p);
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
