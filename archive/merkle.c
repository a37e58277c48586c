/*
 * merkle.c - Merkle tree hashing of Certificate Transparency, in memory:
 * leaf and node hashes, the incremental frontier (right edge) of a tree,
 * tree hashes, and the generation and verification of inclusion and
 * consistency proofs.
 *
 * Everything follows RFC 9162 (which keeps the tree of RFC 6962 2.1):
 *   2.1.1    the Merkle Tree Hash MTH and its leaf/node domain separation
 *   2.1.3.1  inclusion proof generation, PATH(m, D[n])
 *   2.1.3.2  inclusion proof verification (the fn/sn bit-shifting loop)
 *   2.1.4.1  consistency proof generation, PROOF(m, D[n]) and SUBPROOF
 *   2.1.4.2  consistency proof verification (the fn/sn bit-shifting loop)
 * The verifiers are written as the RFC's numbered steps so that a third
 * party can check them against the text; the generators are its recursive
 * definitions, with every subtree hash computed once from the leaf hashes,
 * so a proof costs O(n) hashes.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "archive/merkle.h"

#define LEAF_PREFIX	0x00
#define NODE_PREFIX	0x01

/* equal - whether two hashes are the same */
static int
equal(const merkle_hash a, const merkle_hash b)
{
	return memcmp(a, b, MERKLE_HASH) == 0;
}

/* split - the largest power of two smaller than n (n >= 2): RFC 9162 k */
static uint64_t
split(uint64_t n)
{
	return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* is_power_of_two - whether n (n >= 1) is an exact power of two */
static int
is_power_of_two(uint64_t n)
{
	return (n & (n - 1)) == 0;
}

/* shift - right-shift fn and sn once, as RFC 9162's loops do */
static void
shift(uint64_t *fn, uint64_t *sn)
{
	*fn >>= 1;
	*sn >>= 1;
}

/* climb - right-shift fn and sn until the LSB of fn is set or fn is 0 */
static void
climb(uint64_t *fn, uint64_t *sn)
{
	while ((*fn & 1) == 0 && *fn != 0)
		shift(fn, sn);
}

static EVP_MD *sha256_md;			/* fetched once, never freed */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* fetch_sha256 - the SHA-256 implementation, fetched once: with
 * EVP_sha256() every digest fetches it again, under a lock (a prover or a
 * verify hashes every ledger line) */
static void
fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* sha256_impl - the fetched SHA-256; aborts if OpenSSL has none */
static const EVP_MD *
sha256_impl(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	if (sha256_md == NULL)
		abort();
	return sha256_md;
}

/* sha256 - SHA-256 of len bytes into out; aborts if OpenSSL cannot */
static void
sha256(const void *data, size_t len, unsigned char *out)
{
	if (EVP_Digest(data, len, out, NULL, sha256_impl(), NULL) != 1)
		abort();
}

void
merkle_leaf_hash(const void *entry, size_t len, merkle_hash out)
{
	static const unsigned char prefix = LEAF_PREFIX;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL
	    && EVP_DigestInit_ex(ctx, sha256_impl(), NULL) == 1
	    && EVP_DigestUpdate(ctx, &prefix, 1) == 1
	    && EVP_DigestUpdate(ctx, entry, len) == 1
	    && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		abort();
}

void
merkle_node_hash(const merkle_hash left, const merkle_hash right,
		 merkle_hash out)
{
	unsigned char buf[1 + 2 * MERKLE_HASH];

	buf[0] = NODE_PREFIX;
	memcpy(buf + 1, left, MERKLE_HASH);
	memcpy(buf + 1 + MERKLE_HASH, right, MERKLE_HASH);
	sha256(buf, sizeof(buf), out);	/* out may be left or right */
}

void
merkle_frontier_init(merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

void
merkle_frontier_append(merkle_frontier *f, const merkle_hash leaf_hash)
{
	merkle_hash carry;
	uint64_t bits;

	/* each trailing set bit of size is a perfect subtree the new leaf's
	   subtree is now as large as: merge them, as in binary addition */
	memcpy(carry, leaf_hash, MERKLE_HASH);
	for (bits = f->size; bits & 1; bits >>= 1)
		merkle_node_hash(f->nodes[--f->n_nodes], carry, carry);
	memcpy(f->nodes[f->n_nodes++], carry, MERKLE_HASH);
	f->size++;
}

void
merkle_frontier_root(const merkle_frontier *f, merkle_hash out)
{
	merkle_hash r;
	unsigned i;

	if (f->n_nodes == 0) {
		sha256("", 0, out);
		return;
	}
	/* MTH splits off the largest perfect subtree on the left, so the
	   root folds the subtrees from the smallest (rightmost) up */
	i = f->n_nodes - 1;
	memcpy(r, f->nodes[i], MERKLE_HASH);
	while (i-- > 0)
		merkle_node_hash(f->nodes[i], r, r);
	memcpy(out, r, MERKLE_HASH);
}

void
merkle_root(const merkle_hash *leaves, uint64_t n, merkle_hash out)
{
	merkle_frontier f;
	uint64_t i;

	merkle_frontier_init(&f);
	for (i = 0; i < n; i++)
		merkle_frontier_append(&f, leaves[i]);
	merkle_frontier_root(&f, out);
}

/* path_of - PATH(m, D[0:n]) of RFC 9162 2.1.3.1, appended to path */
static void
path_of(const merkle_hash *d, uint64_t n, uint64_t m, merkle_hash *path,
	int *len)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = split(n);
	if (m < k) {
		path_of(d, k, m, path, len);
		merkle_root(d + k, n - k, path[(*len)++]);
	} else {
		path_of(d + k, n - k, m - k, path, len);
		merkle_root(d, k, path[(*len)++]);
	}
}

int
merkle_inclusion_proof(const merkle_hash *leaves, uint64_t size,
		       uint64_t index, merkle_hash path[MERKLE_MAX_PATH])
{
	int len = 0;

	if (index >= size)
		return -1;
	path_of(leaves, size, index, path, &len);
	return len;
}

int
merkle_inclusion_verify(const merkle_hash leaf_hash, uint64_t index,
			uint64_t size, const merkle_hash *path,
			size_t path_len, const merkle_hash root)
{
	uint64_t fn, sn;
	merkle_hash r;
	size_t i;

	if (index >= size)					/* 1 */
		return -1;
	fn = index;						/* 2 */
	sn = size - 1;
	memcpy(r, leaf_hash, MERKLE_HASH);			/* 3 */
	for (i = 0; i < path_len; i++) {			/* 4 */
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], r, r);
			climb(&fn, &sn);
		} else {
			merkle_node_hash(r, path[i], r);
		}
		shift(&fn, &sn);
	}
	return sn == 0 && equal(r, root) ? 0 : -1;		/* 5 */
}

/* subproof - SUBPROOF(m, D[0:n], b) of RFC 9162 2.1.4.1, appended to path */
static void
subproof(const merkle_hash *d, uint64_t n, uint64_t m, int whole,
	 merkle_hash *path, int *len)
{
	uint64_t k;

	if (m == n) {
		if (!whole)
			merkle_root(d, n, path[(*len)++]);
		return;
	}
	k = split(n);
	if (m <= k) {
		subproof(d, k, m, whole, path, len);
		merkle_root(d + k, n - k, path[(*len)++]);
	} else {
		subproof(d + k, n - k, m - k, 0, path, len);
		merkle_root(d, k, path[(*len)++]);
	}
}

int
merkle_consistency_proof(const merkle_hash *leaves, uint64_t old_size,
			 uint64_t new_size, merkle_hash path[MERKLE_MAX_PATH])
{
	int len = 0;

	/* above 2^63 leaves a proof could exceed MERKLE_MAX_PATH hashes */
	if (old_size == 0 || old_size > new_size
	    || new_size > UINT64_C(1) << 63)
		return -1;
	subproof(leaves, new_size, old_size, 1, path, &len);
	return len;
}

int
merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
			  const merkle_hash old_root,
			  const merkle_hash new_root,
			  const merkle_hash *path, size_t path_len)
{
	const unsigned char *first;
	uint64_t fn, sn;
	merkle_hash fr, sr;
	size_t i;

	if (old_size == 0 || old_size > new_size)
		return -1;
	if (old_size == new_size)		/* the proof is empty */
		return path_len == 0 && equal(old_root, new_root) ? 0 : -1;
	if (path_len == 0)					/* 1 */
		return -1;
	/* 2: "prepend first_hash" is starting with old_root instead of
	   path[0] */
	i = is_power_of_two(old_size) ? 0 : 1;
	first = i == 0 ? old_root : path[0];
	fn = old_size - 1;					/* 3 */
	sn = new_size - 1;
	while (fn & 1)						/* 4 */
		shift(&fn, &sn);
	memcpy(fr, first, MERKLE_HASH);				/* 5 */
	memcpy(sr, first, MERKLE_HASH);
	for (; i < path_len; i++) {				/* 6 */
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], fr, fr);
			merkle_node_hash(path[i], sr, sr);
			climb(&fn, &sn);
		} else {
			merkle_node_hash(sr, path[i], sr);
		}
		shift(&fn, &sn);
	}
	return sn == 0 && equal(fr, old_root) && equal(sr, new_root)	/* 7 */
	    ? 0 : -1;
}

/* tree_total - the nodes of every level of a tree of n leaves */
static uint64_t
tree_total(uint64_t n)
{
	uint64_t total = n;

	while (n > 1) {
		n = (n + 1) / 2;
		total += n;
	}
	return total;
}

/* merkle_tree_build - every level above the leaves (merkle.h) */
int
merkle_tree_build(merkle_tree *t, merkle_hash **leaves, uint64_t n)
{
	uint64_t total = tree_total(n), i, below, at;
	merkle_hash *nodes;

	memset(t, 0, sizeof(*t));
	if (total > SIZE_MAX / sizeof(merkle_hash))
		return -1;
	nodes = realloc(*leaves, (size_t)(total ? total : 1) * sizeof(merkle_hash));
	if (nodes == NULL)
		return -1;
	*leaves = NULL;
	t->nodes = nodes;
	t->size = n;
	t->len[0] = n;
	t->levels = 1;
	for (at = n; t->len[t->levels - 1] > 1; t->levels++) {
		below = t->start[t->levels - 1];
		t->start[t->levels] = at;
		t->len[t->levels] = (t->len[t->levels - 1] + 1) / 2;
		for (i = 0; i + 1 < t->len[t->levels - 1]; i += 2)
			merkle_node_hash(nodes[below + i], nodes[below + i + 1],
					 nodes[at++]);
		if (i < t->len[t->levels - 1])	/* unpaired: carried up */
			memcpy(nodes[at++], nodes[below + i], MERKLE_HASH);
	}
	return 0;
}

/* merkle_tree_root - the top level's one node (merkle.h) */
void
merkle_tree_root(const merkle_tree *t, merkle_hash out)
{
	if (t->size == 0)
		merkle_root(NULL, 0, out);
	else
		memcpy(out, t->nodes[t->start[t->levels - 1]], MERKLE_HASH);
}

/* merkle_tree_leaf - a node of level 0 (merkle.h) */
const unsigned char *
merkle_tree_leaf(const merkle_tree *t, uint64_t index)
{
	return t->nodes[index];
}

/* merkle_tree_path - each level's sibling, leaf upwards (merkle.h) */
int
merkle_tree_path(const merkle_tree *t, uint64_t index,
		 merkle_hash path[MERKLE_MAX_PATH])
{
	uint64_t m = index, sibling;
	unsigned level;
	int len = 0;

	if (index >= t->size)
		return -1;
	for (level = 0; level + 1 < t->levels; level++, m /= 2) {
		sibling = m ^ 1;
		if (sibling < t->len[level])	/* else m is carried up */
			memcpy(path[len++], t->nodes[t->start[level] + sibling],
			       MERKLE_HASH);
	}
	return len;
}

/* merkle_tree_free - release the nodes (merkle.h) */
void
merkle_tree_free(merkle_tree *t)
{
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}
