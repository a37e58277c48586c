/*
 * merkle.h - Certificate Transparency (RFC 6962 / RFC 9162) Merkle trees.
 *
 * NAME
 *	merkle - Merkle tree hashes, inclusion and consistency proofs
 *
 * SYNOPSIS
 *	#include "archive/merkle.h"
 *
 * DESCRIPTION
 *	The tree is the Merkle Hash Tree of RFC 9162 section 2.1.1 with
 *	SHA-256: a leaf hash is SHA-256(0x00 || entry), an interior node is
 *	SHA-256(0x01 || left || right), a tree of n > 1 leaves is split after
 *	the largest power of two smaller than n, and the tree of no leaves
 *	hashes to SHA-256 of the empty string.  Everything is in memory.
 *
 *	A merkle_frontier is the right edge of a growing tree: the roots of
 *	its perfect subtrees, one for each set bit of the leaf count, largest
 *	first.  It takes O(log n) memory; merkle_frontier_append() adds one
 *	leaf hash and merkle_frontier_root() gives the tree hash at any time.
 *
 *	merkle_root(), merkle_inclusion_proof() and merkle_consistency_proof()
 *	work from an array of leaf hashes owned by the caller, in O(n) time.
 *	Proofs are written in the order of RFC 9162 (leaf end first, root end
 *	last) into a caller's array of MERKLE_MAX_PATH hashes.
 *
 *	merkle_inclusion_verify() and merkle_consistency_verify() are the
 *	verification algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2, step
 *	by step; they need nothing but their arguments.  A consistency proof
 *	between two trees of the same size is empty and verifies when the two
 *	roots are equal.  The empty tree has no proofs: old_size 0 and index
 *	>= size are errors.
 *
 * DIAGNOSTICS
 *	The proof functions return the number of hashes written, or -1 for
 *	sizes or an index out of range.  The verify functions return 0 when
 *	the proof holds and -1 otherwise.  Nothing here prints.  Hashing
 *	cannot fail in a useful way: if OpenSSL cannot compute SHA-256 (no
 *	memory, no provider) the process aborts rather than return a wrong
 *	hash.
 */
#ifndef MAILKEEP_MERKLE_H
#define MAILKEEP_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH	32	/* bytes of a SHA-256 hash */
#define MERKLE_MAX_PATH	64	/* hashes in any proof for trees up to 2^63 leaves */

typedef unsigned char merkle_hash[MERKLE_HASH];

/* merkle_leaf_hash - SHA-256(0x00 || entry) into out */
void merkle_leaf_hash(const void *entry, size_t len, merkle_hash out);

/* merkle_node_hash - SHA-256(0x01 || left || right) into out */
void merkle_node_hash(const merkle_hash left, const merkle_hash right,
		      merkle_hash out);

/*
 * An incremental right edge ("compact range") of a tree: O(log n) memory,
 * append leaves, get the root at any time.
 */
typedef struct merkle_frontier {
	uint64_t size;			/* leaves appended */
	merkle_hash nodes[64];		/* roots of the perfect subtrees, one
					   per set bit of size, largest first */
	unsigned n_nodes;
} merkle_frontier;

/* merkle_frontier_init - the frontier of the empty tree */
void merkle_frontier_init(merkle_frontier *f);

/* merkle_frontier_append - add the leaf with hash leaf_hash at the right */
void merkle_frontier_append(merkle_frontier *f, const merkle_hash leaf_hash);

/* merkle_frontier_root - the tree hash (MTH) of the leaves so far */
void merkle_frontier_root(const merkle_frontier *f, merkle_hash out);

/* merkle_root - the tree hash of the n leaf hashes leaves[0..n-1] */
void merkle_root(const merkle_hash *leaves, uint64_t n, merkle_hash out);

/*
 * merkle_inclusion_proof - the audit path (RFC 9162 2.1.3.1) of leaf index
 * in the tree of the first size leaves; the number of hashes written to
 * path (<= MERKLE_MAX_PATH), or -1 if index >= size
 */
int merkle_inclusion_proof(const merkle_hash *leaves, uint64_t size,
			   uint64_t index, merkle_hash path[MERKLE_MAX_PATH]);

/*
 * merkle_inclusion_verify - RFC 9162 2.1.3.2: 0 if leaf_hash at index with
 * path hashes to root for a tree of size leaves, else -1
 */
int merkle_inclusion_verify(const merkle_hash leaf_hash, uint64_t index,
			    uint64_t size, const merkle_hash *path,
			    size_t path_len, const merkle_hash root);

/*
 * merkle_consistency_proof - the proof (RFC 9162 2.1.4.1) that the tree of
 * the first old_size leaves is a prefix of the tree of the first new_size
 * (0 < old_size <= new_size <= 2^63); the number of hashes, or -1 on bad
 * sizes
 */
int merkle_consistency_proof(const merkle_hash *leaves, uint64_t old_size,
			     uint64_t new_size,
			     merkle_hash path[MERKLE_MAX_PATH]);

/*
 * merkle_consistency_verify - RFC 9162 2.1.4.2: 0 if the trees with roots
 * old_root and new_root are consistent by path, -1 otherwise
 */
int merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
			      const merkle_hash old_root,
			      const merkle_hash new_root,
			      const merkle_hash *path, size_t path_len);

/*
 * A whole tree held in memory, every level of it, for many inclusion
 * proofs at O(log n) each (an export proves every message it holds):
 * about 2n hashes.  Level 0 is the leaves; each level above pairs the
 * one below left to right and carries a last unpaired node up as it is,
 * which gives the tree of RFC 9162 2.1.1 (the split after the largest
 * power of two is the same pairing seen from the top).
 */
typedef struct merkle_tree {
	merkle_hash *nodes;		/* every level, leaves first */
	uint64_t size;			/* leaves */
	uint64_t start[MERKLE_MAX_PATH + 1];	/* first node of each level */
	uint64_t len[MERKLE_MAX_PATH + 1];	/* nodes in each level */
	unsigned levels;
} merkle_tree;

/*
 * merkle_tree_build - the tree over the n leaf hashes *leaves (allocated
 * with malloc), which it takes over: on success *leaves is NULL and t owns
 * them; -1 when out of memory, *leaves left to the caller
 */
int merkle_tree_build(merkle_tree *t, merkle_hash **leaves, uint64_t n);

/* merkle_tree_root - the tree hash of all of t's leaves */
void merkle_tree_root(const merkle_tree *t, merkle_hash out);

/* merkle_tree_leaf - the hash of leaf index (< t->size) */
const unsigned char *merkle_tree_leaf(const merkle_tree *t, uint64_t index);

/*
 * merkle_tree_path - the audit path of leaf index in the tree of all of
 * t's leaves, the same as merkle_inclusion_proof(); its length, or -1 if
 * index >= size
 */
int merkle_tree_path(const merkle_tree *t, uint64_t index,
		     merkle_hash path[MERKLE_MAX_PATH]);

/* merkle_tree_free - free what t holds; t may be zeroed or built */
void merkle_tree_free(merkle_tree *t);

#endif /* MAILKEEP_MERKLE_H */
