/*
 * test_merkle.c - unit tests of archive/merkle.c: the RFC 6962 known-answer
 * tree, then properties of roots, frontiers and proofs over every small
 * tree, and one large tree to catch quadratic proof generation.
 *
 * The known answers are the reference tree used across Certificate
 * Transparency implementations: the eight leaves below, their tree heads
 * for sizes 1..8, and the inclusion and consistency proofs, as published
 * in transparency-dev/merkle proof/verify_test.go (formerly
 * google/certificate-transparency-go merkle/log_verifier_test.go and the
 * C++ merkle_tree_test.cc of google/certificate-transparency).  There the
 * inclusion vectors number leaves from 1; here they are indexes from 0.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/merkle.h"
#include "tests/unit/unit.h"

#define EMPTY_ROOT "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char *const kat_leaves[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static const char *const kat_roots[8] = {	/* tree heads of sizes 1..8 */
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

typedef struct vector {
	uint64_t a, b;			/* index and size, or old and new size */
	int n;
	const char *path[3];
} vector;

static const vector kat_inclusion[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 8, 3, {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, {
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, {
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, {
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const vector kat_consistency[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, {
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, {
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, {
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

/* unhex - decode the hex string s into out; the number of bytes */
static size_t
unhex(const char *s, unsigned char *out)
{
	size_t i, n = strlen(s) / 2;
	unsigned int byte;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(sscanf(s + 2 * i, "%2x", &byte), 1);
		out[i] = (unsigned char)byte;
	}
	return n;
}

/* hash_is - assert that h is the hash written in hex as want */
static void
hash_is(const merkle_hash h, const char *want)
{
	merkle_hash w;

	ck_assert_uint_eq(unhex(want, w), MERKLE_HASH);
	ck_assert_mem_eq(h, w, MERKLE_HASH);
}

/* kat_tree - the leaf hashes of the eight reference leaves */
static void
kat_tree(merkle_hash leaves[8])
{
	unsigned char entry[16];
	int i;

	for (i = 0; i < 8; i++)
		merkle_leaf_hash(entry, unhex(kat_leaves[i], entry), leaves[i]);
}

/* make_leaves - n distinct leaf hashes (caller frees) */
static merkle_hash *
make_leaves(uint64_t n)
{
	merkle_hash *leaves = malloc((n ? n : 1) * sizeof(*leaves));
	char entry[32];
	uint64_t i;

	ck_assert_ptr_nonnull(leaves);
	for (i = 0; i < n; i++)
		merkle_leaf_hash(entry, (size_t)snprintf(entry, sizeof(entry),
				 "entry %llu", (unsigned long long)i), leaves[i]);
	return leaves;
}

/* reference_mth - RFC 9162 2.1.1 MTH, the plain recursive definition */
static void
reference_mth(const merkle_hash *d, uint64_t n, merkle_hash out)
{
	merkle_hash left, right;
	uint64_t k = 1;

	if (n == 1) {
		memcpy(out, d[0], MERKLE_HASH);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	reference_mth(d, k, left);
	reference_mth(d + k, n - k, right);
	merkle_node_hash(left, right, out);
}

/*
 * next_byte - the next byte of a proof hash to flip after byte at: every
 * byte in trees of up to 16 leaves, the first, a middle and the last byte
 * in larger ones (which differ only in how often each hash is used)
 */
static int
next_byte(int at, uint64_t size)
{
	if (size <= 16)
		return at + 1;
	return at == 0 ? MERKLE_HASH / 2 + (int)(size % 8)
	     : at < MERKLE_HASH - 1 ? MERKLE_HASH - 1 : MERKLE_HASH;
}

/* path_fails - whether the proof fails with byte `at` of path[i] flipped */
static int
path_fails(const merkle_hash leaf, uint64_t index, uint64_t size,
	   merkle_hash *path, int n, int i, int at, const merkle_hash root)
{
	int rc;

	path[i][at] ^= 0x10;
	rc = merkle_inclusion_verify(leaf, index, size, path, (size_t)n, root);
	path[i][at] ^= 0x10;
	return rc == -1;
}

/* proof_len - the depth of leaf m in a tree of n leaves: its path length */
static int
proof_len(uint64_t m, uint64_t n)
{
	uint64_t k = 1;

	if (n <= 1)
		return 0;
	while (k * 2 < n)
		k *= 2;
	return 1 + (m < k ? proof_len(m, k) : proof_len(m - k, n - k));
}

/* check_inclusion - the proof of index in size verifies, and only it */
static void
check_inclusion(const merkle_hash *leaves, uint64_t size, uint64_t index,
		const merkle_hash root)
{
	const uint64_t other[7] = { index - 1, index + 1, index ^ 1, index ^ 2,
				    0, size - 1, size };
	merkle_hash path[MERKLE_MAX_PATH + 1], leaf;
	uint64_t s;
	int n, i, at;

	n = merkle_inclusion_proof(leaves, size, index, path);
	ck_assert_int_eq(n, proof_len(index, size));
	ck_assert_int_le(n, MERKLE_MAX_PATH);
	ck_assert_int_eq(merkle_inclusion_verify(leaves[index], index, size,
						 path, (size_t)n, root), 0);
	/* another leaf */
	memcpy(leaf, leaves[index], MERKLE_HASH);
	leaf[MERKLE_HASH - 1] ^= 1;
	ck_assert_int_eq(merkle_inclusion_verify(leaf, index, size, path,
						 (size_t)n, root), -1);
	/* another index: for one size, each leaf has its own path shape */
	for (i = 0; i < 7; i++)
		if (other[i] != index)
			ck_assert_int_eq(merkle_inclusion_verify(leaves[index],
				other[i], size, path, (size_t)n, root), -1);
	/* another size: twice as large always fails; any size fails when its
	   proofs have another length (the loop must end with sn == 0) */
	ck_assert_int_eq(merkle_inclusion_verify(leaves[index], index,
				2 * size, path, (size_t)n, root), -1);
	for (s = index + 1; s <= size + 16; s++)
		if (s != size && proof_len(index, s) != n)
			ck_assert_int_eq(merkle_inclusion_verify(leaves[index],
				index, s, path, (size_t)n, root), -1);
	/* one hash too few or too many */
	if (n > 0)
		ck_assert_int_eq(merkle_inclusion_verify(leaves[index], index,
					size, path, (size_t)n - 1, root), -1);
	memcpy(path[n], root, MERKLE_HASH);
	ck_assert_int_eq(merkle_inclusion_verify(leaves[index], index, size,
					path, (size_t)n + 1, root), -1);
	merkle_node_hash(path[n], root, leaf);	/* the root one level up */
	ck_assert_int_eq(merkle_inclusion_verify(leaves[index], index, size,
					path, (size_t)n + 1, leaf), -1);
	/* any one byte of the path */
	for (i = 0; i < n; i++)
		for (at = 0; at < MERKLE_HASH; at = next_byte(at, size))
			ck_assert(path_fails(leaves[index], index, size, path,
					     n, i, at, root));
}

/* check_consistency - the proof from old to new verifies, and only it */
static void
check_consistency(const merkle_hash *leaves, uint64_t old, uint64_t new_,
		  const merkle_hash old_root, const merkle_hash new_root)
{
	const uint64_t sizes[5][2] = { { old - 1, new_ }, { old + 1, new_ },
		{ old ^ 2, new_ }, { old, 2 * new_ }, { old, new_ / 2 } };
	merkle_hash path[MERKLE_MAX_PATH + 1], wrong, up_old, up_new;
	int n, i, at;

	n = merkle_consistency_proof(leaves, old, new_, path);
	ck_assert_int_ge(n, old == new_ ? 0 : 1);
	ck_assert_int_le(n, MERKLE_MAX_PATH);
	ck_assert_int_eq(merkle_consistency_verify(old, new_, old_root,
				new_root, path, (size_t)n), 0);
	memcpy(wrong, old_root, MERKLE_HASH);
	wrong[0] ^= 1;
	ck_assert_int_eq(merkle_consistency_verify(old, new_, wrong, new_root,
				path, (size_t)n), -1);
	memcpy(wrong, new_root, MERKLE_HASH);
	wrong[0] ^= 1;
	ck_assert_int_eq(merkle_consistency_verify(old, new_, old_root, wrong,
				path, (size_t)n), -1);
	/* other sizes, as transparency-dev tries them */
	for (i = 0; i < 5; i++)
		if (sizes[i][0] != old || sizes[i][1] != new_)
			ck_assert_int_eq(merkle_consistency_verify(sizes[i][0],
				sizes[i][1], old_root, new_root, path,
				(size_t)n), -1);
	memcpy(path[n], new_root, MERKLE_HASH);
	ck_assert_int_eq(merkle_consistency_verify(old, new_, old_root,
				new_root, path, (size_t)n + 1), -1);
	/* both roots one level up: what the hashes alone would allow */
	merkle_node_hash(path[n], old_root, up_old);
	merkle_node_hash(path[n], new_root, up_new);
	ck_assert_int_eq(merkle_consistency_verify(old, new_, up_old, up_new,
				path, (size_t)n + 1), -1);
	if (n > 0)
		ck_assert_int_eq(merkle_consistency_verify(old, new_, old_root,
					new_root, path, (size_t)n - 1), -1);
	for (i = 0; i < n; i++)
		for (at = 0; at < MERKLE_HASH; at = next_byte(at, new_)) {
			path[i][at] ^= 0x10;
			ck_assert_int_eq(merkle_consistency_verify(old, new_,
					old_root, new_root, path, (size_t)n), -1);
			path[i][at] ^= 0x10;
		}
}

START_TEST(leaf_node_and_empty_hashes)
{
	merkle_hash leaf, node, root;
	merkle_frontier f;

	merkle_leaf_hash("", 0, leaf);
	hash_is(leaf, kat_roots[0]);
	merkle_node_hash(leaf, leaf, node);
	merkle_node_hash(leaf, leaf, leaf);		/* out may alias */
	ck_assert_mem_eq(leaf, node, MERKLE_HASH);
	merkle_root(NULL, 0, root);
	hash_is(root, EMPTY_ROOT);
	merkle_frontier_init(&f);
	merkle_frontier_root(&f, root);
	hash_is(root, EMPTY_ROOT);
}
END_TEST

START_TEST(known_roots)
{
	merkle_hash leaves[8], root;
	merkle_frontier f;
	int n;

	kat_tree(leaves);
	merkle_frontier_init(&f);
	for (n = 1; n <= 8; n++) {
		merkle_root(leaves, (uint64_t)n, root);
		hash_is(root, kat_roots[n - 1]);
		merkle_frontier_append(&f, leaves[n - 1]);
		merkle_frontier_root(&f, root);
		hash_is(root, kat_roots[n - 1]);
		ck_assert_uint_eq(f.size, (uint64_t)n);
		ck_assert_uint_eq(f.n_nodes, (unsigned)__builtin_popcount(n));
	}
}
END_TEST

START_TEST(known_inclusion_proofs)
{
	merkle_hash leaves[8], path[MERKLE_MAX_PATH], root;
	const vector *v;
	size_t k;
	int i, n;

	kat_tree(leaves);
	for (k = 0; k < sizeof(kat_inclusion) / sizeof(*v); k++) {
		v = &kat_inclusion[k];
		n = merkle_inclusion_proof(leaves, v->b, v->a, path);
		ck_assert_int_eq(n, v->n);
		for (i = 0; i < n; i++)
			hash_is(path[i], v->path[i]);
		unhex(kat_roots[v->b - 1], root);
		ck_assert_int_eq(merkle_inclusion_verify(leaves[v->a], v->a,
					v->b, path, (size_t)n, root), 0);
		check_inclusion(leaves, v->b, v->a, root);
	}
}
END_TEST

START_TEST(known_consistency_proofs)
{
	merkle_hash leaves[8], path[MERKLE_MAX_PATH], old_root, new_root;
	const vector *v;
	size_t k;
	int i, n;

	kat_tree(leaves);
	for (k = 0; k < sizeof(kat_consistency) / sizeof(*v); k++) {
		v = &kat_consistency[k];
		n = merkle_consistency_proof(leaves, v->a, v->b, path);
		ck_assert_int_eq(n, v->n);
		for (i = 0; i < n; i++)
			hash_is(path[i], v->path[i]);
		unhex(kat_roots[v->a - 1], old_root);
		unhex(kat_roots[v->b - 1], new_root);
		check_consistency(leaves, v->a, v->b, old_root, new_root);
	}
}
END_TEST

START_TEST(bad_sizes_and_indexes)
{
	merkle_hash leaves[8], path[MERKLE_MAX_PATH], root, empty;

	kat_tree(leaves);
	unhex(kat_roots[7], root);
	unhex(EMPTY_ROOT, empty);
	ck_assert_int_eq(merkle_inclusion_proof(leaves, 8, 8, path), -1);
	ck_assert_int_eq(merkle_inclusion_proof(leaves, 0, 0, path), -1);
	ck_assert_int_eq(merkle_inclusion_verify(leaves[0], 8, 8, path, 0,
						 root), -1);
	ck_assert_int_eq(merkle_inclusion_verify(leaves[0], 0, 0, path, 0,
						 empty), -1);
	/* a one-leaf tree: the root is the leaf hash, the path empty */
	ck_assert_int_eq(merkle_inclusion_verify(leaves[0], 0, 1, path, 0,
						 leaves[0]), 0);
	ck_assert_int_eq(merkle_inclusion_verify(leaves[0], 0, 1, path, 0,
						 empty), -1);
	ck_assert_int_eq(merkle_consistency_proof(leaves, 0, 8, path), -1);
	ck_assert_int_eq(merkle_consistency_proof(leaves, 0, 0, path), -1);
	ck_assert_int_eq(merkle_consistency_proof(leaves, 5, 4, path), -1);
	ck_assert_int_eq(merkle_consistency_verify(0, 8, empty, root, path, 0),
			 -1);
	ck_assert_int_eq(merkle_consistency_verify(5, 4, root, root, path, 0),
			 -1);
	/* equal sizes: the empty proof, and only for equal roots */
	ck_assert_int_eq(merkle_consistency_verify(8, 8, root, root, path, 0),
			 0);
	ck_assert_int_eq(merkle_consistency_verify(8, 8, root, empty, path, 0),
			 -1);
	memcpy(path[0], root, MERKLE_HASH);
	ck_assert_int_eq(merkle_consistency_verify(8, 8, root, root, path, 1),
			 -1);
	/* different sizes never verify with an empty proof */
	ck_assert_int_eq(merkle_consistency_verify(4, 8, root, root, path, 0),
			 -1);
}
END_TEST

START_TEST(frontier_and_root_match_the_definition)
{
	merkle_hash *leaves = make_leaves(300), want, root;
	merkle_frontier f;
	uint64_t n;

	merkle_frontier_init(&f);
	for (n = 0; n <= 300; n++) {
		if (n > 0) {
			reference_mth(leaves, n, want);
			merkle_frontier_append(&f, leaves[n - 1]);
		} else {
			unhex(EMPTY_ROOT, want);
		}
		merkle_frontier_root(&f, root);
		ck_assert_mem_eq(root, want, MERKLE_HASH);
		merkle_root(leaves, n, root);
		ck_assert_mem_eq(root, want, MERKLE_HASH);
		ck_assert_uint_eq(f.size, n);
		ck_assert_uint_eq(f.n_nodes, (unsigned)__builtin_popcountll(n));
	}
	free(leaves);
}
END_TEST

START_TEST(every_inclusion_proof_up_to_130)
{
	merkle_hash *leaves = make_leaves(130), root;
	uint64_t size, index;

	for (size = 1; size <= 130; size++) {
		reference_mth(leaves, size, root);
		for (index = 0; index < size; index++)
			check_inclusion(leaves, size, index, root);
	}
	free(leaves);
}
END_TEST

START_TEST(every_consistency_proof_up_to_70)
{
	merkle_hash *leaves = make_leaves(70), roots[71];
	uint64_t m, n;

	for (n = 1; n <= 70; n++)
		reference_mth(leaves, n, roots[n]);
	for (n = 1; n <= 70; n++)
		for (m = 1; m <= n; m++)
			check_consistency(leaves, m, n, roots[m], roots[n]);
	free(leaves);
}
END_TEST

START_TEST(large_tree_proofs_are_linear)
{
	const uint64_t size = 300007, old = 213001;
	const uint64_t idx[] = { 0, 1, 131071, 262144, old - 1, size - 1 };
	merkle_hash *leaves = make_leaves(size), root, old_root;
	merkle_hash path[MERKLE_MAX_PATH];
	merkle_frontier f;
	uint64_t i;
	int n;

	merkle_frontier_init(&f);
	for (i = 0; i < size; i++) {
		if (i == old)
			merkle_frontier_root(&f, old_root);
		merkle_frontier_append(&f, leaves[i]);
	}
	merkle_frontier_root(&f, root);
	for (i = 0; i < sizeof(idx) / sizeof(*idx); i++) {
		n = merkle_inclusion_proof(leaves, size, idx[i], path);
		ck_assert_int_eq(n, proof_len(idx[i], size));
		ck_assert_int_eq(merkle_inclusion_verify(leaves[idx[i]], idx[i],
					size, path, (size_t)n, root), 0);
	}
	n = merkle_consistency_proof(leaves, old, size, path);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(merkle_consistency_verify(old, size, old_root, root,
						   path, (size_t)n), 0);
	free(leaves);
}
END_TEST

/* tree_matches - a built tree of the first size leaves gives the reference
 * root and, for every index, merkle_inclusion_proof()'s path */
static void
tree_matches(const merkle_hash *leaves, uint64_t size)
{
	merkle_hash *copy = malloc((size ? size : 1) * sizeof(*copy));
	merkle_hash want[MERKLE_MAX_PATH], got[MERKLE_MAX_PATH], root, ref;
	merkle_tree t;
	uint64_t index;
	int n;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, leaves, size * sizeof(*copy));
	ck_assert_int_eq(merkle_tree_build(&t, &copy, size), 0);
	ck_assert_ptr_null(copy);
	ck_assert_uint_eq(t.size, size);
	merkle_tree_root(&t, root);
	merkle_root(leaves, size, ref);
	ck_assert_mem_eq(root, ref, MERKLE_HASH);
	for (index = 0; index < size; index++) {
		n = merkle_inclusion_proof(leaves, size, index, want);
		ck_assert_int_eq(merkle_tree_path(&t, index, got), n);
		ck_assert_mem_eq(got, want, (size_t)n * MERKLE_HASH);
		ck_assert_mem_eq(merkle_tree_leaf(&t, index), leaves[index],
				 MERKLE_HASH);
	}
	ck_assert_int_eq(merkle_tree_path(&t, size, got), -1);
	merkle_tree_free(&t);
}

START_TEST(whole_tree_paths_match_the_definition)
{
	merkle_hash *leaves = make_leaves(130);
	uint64_t size;

	for (size = 0; size <= 130; size++)
		tree_matches(leaves, size);
	free(leaves);
}
END_TEST

START_TEST(whole_tree_of_300007_leaves)
{
	const uint64_t size = 300007;
	const uint64_t idx[] = { 0, 1, 131071, 262144, 299999, size - 1 };
	merkle_hash *leaves = make_leaves(size), *mine = malloc(size * MERKLE_HASH);
	merkle_hash path[MERKLE_MAX_PATH], root;
	merkle_tree t;
	uint64_t i;
	int n;

	ck_assert_ptr_nonnull(mine);
	memcpy(mine, leaves, size * MERKLE_HASH);
	ck_assert_int_eq(merkle_tree_build(&t, &mine, size), 0);
	merkle_root(leaves, size, root);
	for (i = 0; i < sizeof(idx) / sizeof(*idx); i++) {
		n = merkle_tree_path(&t, idx[i], path);
		ck_assert_int_eq(n, proof_len(idx[i], size));
		ck_assert_int_eq(merkle_inclusion_verify(leaves[idx[i]], idx[i],
					size, path, (size_t)n, root), 0);
	}
	merkle_tree_free(&t);
	free(leaves);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("merkle");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, leaf_node_and_empty_hashes);
	tcase_add_test(tc, known_roots);
	tcase_add_test(tc, known_inclusion_proofs);
	tcase_add_test(tc, known_consistency_proofs);
	tcase_add_test(tc, bad_sizes_and_indexes);
	tcase_add_test(tc, frontier_and_root_match_the_definition);
	tcase_add_test(tc, every_inclusion_proof_up_to_130);
	tcase_add_test(tc, every_consistency_proof_up_to_70);
	tcase_add_test(tc, large_tree_proofs_are_linear);
	tcase_add_test(tc, whole_tree_paths_match_the_definition);
	tcase_add_test(tc, whole_tree_of_300007_leaves);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
