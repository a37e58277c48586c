/*
 * ledger.c - the append-only ledger: ledger/ledger.log.
 *
 * One event a line: {"seq":N,"prev":"HEX",...}\n with N counting from 1
 * without gaps, and HEX the leaf hash (below) of the line of seq N-1: a
 * hash chain, so that verify can name the entry that was edited, where the
 * Merkle tree only says that something under a checkpoint was.  The first
 * line (seq 1, "created") has no "prev".  Both the milter (messages
 * stored) and the mailkeep command (accesses) append, so every append
 * takes an exclusive flock() on the file, reads the last line from the
 * tail (its seq, and all of it for its hash: an access entry can be
 * megabytes, so it is hashed in chunks), writes its lines with one
 * write() and fsyncs before it lets go.  A torn last line (a crash in the
 * middle of a write) never received its fsync, so was never reported
 * durable: the next appender cuts it off.
 *
 * A writer (an archive opened ARCHIVE_WRITE: the milter's committer does
 * one append per batch) keeps the file open between its appends, and
 * remembers where its last append ended, that line's seq and its hash
 * (ledger_cache, internal.h).  Under the flock, if the file is still the
 * same one (device and inode of the path) and exactly that long, nobody
 * appended or cut since, and the append skips finding, reading and
 * hashing the last line; otherwise it takes the long way above, which
 * also cuts a torn line.  A failed append closes the kept file and drops
 * what it remembered.  A mutex keeps the threads of one process (the
 * committer, its idle checkpoints, archive_log_event) from sharing the
 * descriptor's flock at once.  Readers open the file for every append.
 *
 * The lines are the leaves of an RFC 9162 Merkle tree (leaf N-1 is the
 * line of seq N, without its newline).  After an append, still under the
 * lock, the appender signs a checkpoint of the tree (checkpoint.c) when
 * checkpoint_entries lines have come since the last one, or when it is
 * checkpoint_seconds old; it continues from the right edge the last
 * checkpoint kept, so it hashes only the new lines.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define LEDGER_CHUNK 16384	/* bytes of the last line hashed at a time */
#define LEDGER_PREV_MEMBER 74	/* "prev":"<64 hex digits>", */

/* parse_seq - the seq of the line starting at p, or -1 */
static int64_t
parse_seq(const char *p)
{
	long long seq;

	if (sscanf(p, "{\"seq\":%lld,", &seq) != 1 || seq < 1)
		return -1;
	return seq;
}

/* The last whole line of the ledger: its seq and its bytes' place. */
typedef struct last_line {
	int64_t seq;			/* 0: the ledger is empty */
	off_t start, end;		/* [start, end): the line, no newline */
} last_line;

/* find_last - the last whole line; cuts off a torn line */
static int
find_last(int fd, const char *path, last_line *ll, mk_error *err)
{
	char head[64] = { 0 };
	struct stat st;
	off_t end;

	memset(ll, 0, sizeof(*ll));
	if (fstat(fd, &st) != 0)
		return mk_error_errno(err, "stat %s", path);
	if (fd_cut_torn_line(fd, path, &end, err) != 0)
		return -1;
	if (end == 0)
		return 0;
	ll->end = end - 1;
	if (fd_line_start(fd, path, ll->end, &ll->start, err) != 0)
		return -1;
	if (pread(fd, head, sizeof(head) - 1, ll->start) < 0)
		return mk_error_errno(err, "read %s", path);
	if ((ll->seq = parse_seq(head)) < 0)
		return mk_error_set(err, "%s: last line has no sequence number",
				    path);
	return 0;
}

/* last_seq - the seq of the last whole line; cuts off a torn line */
static int
last_seq(int fd, const char *path, int64_t *seq, mk_error *err)
{
	last_line ll;

	if (find_last(fd, path, &ll, err) != 0)
		return -1;
	*seq = ll.seq;
	return 0;
}

/* hash_line - the leaf hash (merkle_leaf_hash: SHA-256 of 0x00 and the
 * line) of the bytes [start, end) of fd, read in chunks: a line has no
 * bound (an access entry may list 100,000 message ids) */
static int
hash_line(int fd, const char *path, off_t start, off_t end, merkle_hash out,
	  mk_error *err)
{
	static const unsigned char leaf_prefix = 0x00;
	unsigned char buf[LEDGER_CHUNK];
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	size_t want;
	ssize_t n = 1;
	int ok;

	ok = sha != NULL && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1
	    && EVP_DigestUpdate(sha, &leaf_prefix, 1) == 1;
	while (ok && start < end) {
		want = end - start > LEDGER_CHUNK ? LEDGER_CHUNK
		    : (size_t)(end - start);
		if ((n = pread(fd, buf, want, start)) <= 0)
			break;
		ok = EVP_DigestUpdate(sha, buf, (size_t)n) == 1;
		start += n;
	}
	ok = ok && start == end && EVP_DigestFinal_ex(sha, out, NULL) == 1;
	EVP_MD_CTX_free(sha);
	if (ok)
		return 0;
	if (n < 0)
		return mk_error_errno(err, "read %s", path);
	return mk_error_set(err, "%s: cannot hash its last line", path);
}

/* format_line - {"seq":seq,"prev":"HEX",members} and a newline at out
 * (no "prev" when prev is NULL); the bytes written */
static size_t
format_line(char *out, size_t room, int64_t seq, const merkle_hash prev,
	    const char *members)
{
	char hex[2 * MERKLE_HASH + 1];
	int k;

	if (prev == NULL)
		k = snprintf(out, room, "{\"seq\":%" PRId64 ",%s}\n", seq, members);
	else {
		hex_encode(prev, MERKLE_HASH, hex);
		k = snprintf(out, room, "{\"seq\":%" PRId64 ",\"prev\":\"%s\",%s}\n",
			     seq, hex, members);
	}
	return (size_t)k;
}

/* format_lines - the entries as numbered, chained lines, one buffer
 * (caller frees): the first one's prev is prev (NULL for seq 1), each
 * next one's the leaf hash of the line before it; the leaf hash of the
 * last line into last (prev's when n is 0) */
static char *
format_lines(const char *const *entries, size_t n, int64_t seq,
	     const merkle_hash prev, size_t *len, merkle_hash last)
{
	size_t cap = 0, i, used = 0, k;
	merkle_hash leaf;
	char *buf;

	for (i = 0; i < n; i++)
		cap += strlen(entries[i]) + 32 + LEDGER_PREV_MEMBER;
	if ((buf = malloc(cap + 1)) == NULL)
		return NULL;
	if (prev != NULL)
		memcpy(leaf, prev, MERKLE_HASH);
	for (i = 0; i < n; i++) {
		k = format_line(buf + used, cap + 1 - used, seq + (int64_t)i,
				i == 0 ? prev : leaf, entries[i]);
		merkle_leaf_hash(buf + used, k - 1, leaf);
		used += k;
	}
	if (n > 0 || prev != NULL)
		memcpy(last, leaf, MERKLE_HASH);
	*len = used;
	return buf;
}

/* The end of the ledger an append continues from. */
typedef struct ledger_tail {
	int64_t seq;			/* of the last line; 0: none */
	merkle_hash hash;		/* its leaf hash, when seq > 0 */
	off_t size;			/* bytes in the file */
} ledger_tail;

/* tail_cached - the tail this process's last append left, if the kept
 * ledger at fd (locked) is still exactly as long as it left it */
static bool
tail_cached(const ledger_cache *lc, int fd, ledger_tail *t)
{
	struct stat st;

	if (!lc->keep || !lc->valid || fstat(fd, &st) != 0
	    || st.st_size != lc->end)
		return false;
	t->seq = lc->seq;
	memcpy(t->hash, lc->hash, MERKLE_HASH);
	t->size = lc->end;
	return true;
}

/* tail_read - the tail as the file says; cuts off a torn line */
static int
tail_read(int fd, const char *path, ledger_tail *t, mk_error *err)
{
	last_line ll;

	if (find_last(fd, path, &ll, err) != 0)
		return -1;
	if (ll.seq > 0 && hash_line(fd, path, ll.start, ll.end, t->hash, err) != 0)
		return -1;
	t->seq = ll.seq;
	if ((t->size = lseek(fd, 0, SEEK_END)) < 0)
		return mk_error_errno(err, "seek %s", path);
	return 0;
}

/* append_locked - append the entries to the locked ledger at fd; a kept
 * ledger's cache (lc) is dropped first and set again only on success */
static int
append_locked(ledger_cache *lc, int fd, const char *path,
	      const char *const *entries, size_t n, int64_t *first_seq,
	      mk_error *err)
{
	merkle_hash last;
	ledger_tail t;
	size_t len;
	char *buf;
	int rc = 0;

	if (!tail_cached(lc, fd, &t) && tail_read(fd, path, &t, err) != 0)
		return -1;
	if (lc->keep)
		lc->valid = false;
	if ((buf = format_lines(entries, n, t.seq + 1, t.seq > 0 ? t.hash : NULL,
				&len, last)) == NULL)
		return mk_error_set(err, "out of memory");
	if (write_all(fd, buf, len) != 0)
		rc = mk_error_errno(err, "append to %s", path);
	else if (fdatasync(fd) != 0)
		rc = mk_error_errno(err, "fsync %s", path);
	if (rc != 0 && ftruncate(fd, t.size) != 0)	/* entries may stay */
		rc = mk_error_errno(err, "append to %s failed, then truncate",
				    path) - 1;
	free(buf);
	*first_seq = t.seq + 1;
	if (rc == 0 && lc->keep) {
		lc->end = t.size + (off_t)len;
		lc->seq = t.seq + (int64_t)n;
		memcpy(lc->hash, last, MERKLE_HASH);
		lc->valid = true;
	}
	return rc;
}

/* extend_frontier - hash the lines of fd from cp->offset into cp */
static int
extend_frontier(int fd, const char *path, checkpoint *cp, mk_error *err)
{
	int dupfd = dup(fd);
	FILE *fp = dupfd >= 0 ? fdopen(dupfd, "r") : NULL;
	merkle_hash leaf;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL) {
		if (dupfd >= 0)
			close(dupfd);
		return mk_error_errno(err, "read %s", path);
	}
	if (fseeko(fp, cp->offset, SEEK_SET) != 0) {
		fclose(fp);
		return mk_error_errno(err, "seek %s", path);
	}
	while ((n = getline(&line, &cap, fp)) > 0 && line[n - 1] == '\n') {
		merkle_leaf_hash(line, (size_t)n - 1, leaf);
		merkle_frontier_append(&cp->frontier, leaf);
		cp->offset += n;
	}
	free(line);
	fclose(fp);
	cp->size = (int64_t)cp->frontier.size;
	return 0;
}

/* checkpoint_locked - sign a new checkpoint if due; the ledger at fd
 * (locked) holds size lines */
static int
checkpoint_locked(archive *ar, int fd, const char *path, int64_t size,
		  bool force, mk_error *err)
{
	checkpoint cp;
	int64_t now = now_micros();

	if (checkpoint_last(ar->dir, &cp, err) != 0)
		return -1;
	ar->last_checkpoint = now;
	if (cp.size >= size)
		return 0;
	if (!force && cp.size > 0
	    && size - cp.size < (int64_t)ar->opts.checkpoint_entries
	    && now - cp.time < (int64_t)ar->opts.checkpoint_seconds * 1000000)
		return 0;
	if (extend_frontier(fd, path, &cp, err) != 0)
		return -1;
	if (cp.size != size)
		return mk_error_set(err, "%s: %lld lines after the last"
				    " checkpoint's offset, expected %lld", path,
				    (long long)cp.size, (long long)size);
	merkle_frontier_root(&cp.frontier, cp.root);
	cp.time = now;
	return checkpoint_write(ar, &cp, err);
}

/* open_locked - open and lock the ledger; the fd, or -1 */
static int
open_locked(const char *path, mk_error *err)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return mk_error_errno(err, "open %s", path);
	if (flock(fd, LOCK_EX) != 0) {
		mk_error_errno(err, "lock %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* ledger_drop - close the kept ledger and forget its tail */
static void
ledger_drop(ledger_cache *lc)
{
	if (lc->fd >= 0)
		close(lc->fd);
	lc->fd = -1;
	lc->valid = false;
}

/* kept_locked - the kept ledger, locked; opened first when it is not
 * open or when path names another file now (replaced, removed); the fd,
 * or -1 */
static int
kept_locked(ledger_cache *lc, const char *path, mk_error *err)
{
	struct stat st;

	if (lc->fd >= 0 && (stat(path, &st) != 0 || st.st_dev != lc->dev
			    || st.st_ino != lc->ino))
		ledger_drop(lc);
	if (lc->fd < 0) {
		if ((lc->fd = open_locked(path, err)) < 0)
			return -1;
		if (fstat(lc->fd, &st) != 0) {
			mk_error_errno(err, "stat %s", path);
			ledger_drop(lc);
			return -1;
		}
		lc->dev = st.st_dev;
		lc->ino = st.st_ino;
		return lc->fd;
	}
	if (flock(lc->fd, LOCK_EX) != 0) {
		mk_error_errno(err, "lock %s", path);
		ledger_drop(lc);
		return -1;
	}
	return lc->fd;
}

/* ledger_lock - ar's ledger open and locked: the kept one (its mutex
 * held until ledger_unlock) or, not kept, a new descriptor; or -1 */
static int
ledger_lock(archive *ar, const char *path, mk_error *err)
{
	ledger_cache *lc = &ar->ledger;
	int fd;

	if (!lc->keep)
		return open_locked(path, err);
	pthread_mutex_lock(&lc->lock);
	if ((fd = kept_locked(lc, path, err)) < 0)
		pthread_mutex_unlock(&lc->lock);
	return fd;
}

/* ledger_unlock - let go of what ledger_lock gave; failed: an append
 * failed, so a kept ledger is closed (the next one opens it anew) */
static void
ledger_unlock(archive *ar, int fd, bool failed)
{
	ledger_cache *lc = &ar->ledger;

	if (!lc->keep) {
		close(fd);	/* releases the lock */
		return;
	}
	if (failed || flock(fd, LOCK_UN) != 0)
		ledger_drop(lc);
	pthread_mutex_unlock(&lc->lock);
}

/* ledger_keep - keep ar's ledger open between appends (internal.h) */
void
ledger_keep(archive *ar)
{
	ledger_cache *lc = &ar->ledger;

	memset(lc, 0, sizeof(*lc));
	pthread_mutex_init(&lc->lock, NULL);
	lc->fd = -1;
	lc->keep = true;
}

/* ledger_close - close the kept ledger (internal.h) */
void
ledger_close(archive *ar)
{
	ledger_cache *lc = &ar->ledger;

	if (!lc->keep)
		return;
	ledger_drop(lc);
	pthread_mutex_destroy(&lc->lock);
	lc->keep = false;
}

/* ledger_append - append entries (JSON members without braces) durably,
 * each given its seq and the prev that chains it to the line before;
 * *first_seq receives the seq of the first one.  A checkpoint that is due
 * is written too, at best: once the entries are on disk the append has
 * happened (failing it would have the MTA retry a message that is
 * stored), and the next append tries the checkpoint again; verify counts
 * the entries no checkpoint covers. */
int
ledger_append(archive *ar, const char *const *entries, size_t n,
	      int64_t *first_seq, mk_error *err)
{
	char *path = path_join(ar->dir, ARCHIVE_LEDGER_FILE);
	mk_error cp_err;
	int fd, rc = -1;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if ((fd = ledger_lock(ar, path, err)) >= 0) {
		rc = append_locked(&ar->ledger, fd, path, entries, n, first_seq,
				   err);
		if (rc == 0)
			(void)checkpoint_locked(ar, fd, path,
						*first_seq + (int64_t)n - 1,
						false, &cp_err);
		ledger_unlock(ar, fd, rc != 0);
	}
	free(path);
	return rc;
}

/* ledger_checkpoint_due - a checkpoint now if due (or if force) */
int
ledger_checkpoint_due(archive *ar, bool force, mk_error *err)
{
	char *path = path_join(ar->dir, ARCHIVE_LEDGER_FILE);
	ledger_tail t;
	int64_t size;
	int fd, rc = -1;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if ((fd = ledger_lock(ar, path, err)) >= 0) {
		if (tail_cached(&ar->ledger, fd, &t))
			size = t.seq;
		else if (last_seq(fd, path, &size, err) != 0)
			size = -1;
		if (size >= 0)
			rc = checkpoint_locked(ar, fd, path, size, force, err);
		ledger_unlock(ar, fd, false);
	}
	free(path);
	return rc;
}

/* ledger_scan - fn(seq, line, len) for every whole line, in order; the
 * seq passed is the line's position (1, 2, ...), not what it says */
int
ledger_scan(const char *dir, ledger_line_fn fn, void *ctx, mk_error *err)
{
	return ledger_scan_from(dir, 0, 0, fn, ctx, err);
}

/* ledger_scan_from - the same from byte offset, the line there being
 * at position before + 1 */
int
ledger_scan_from(const char *dir, int64_t offset, int64_t before,
		 ledger_line_fn fn, void *ctx, mk_error *err)
{
	char *path = path_join(dir, ARCHIVE_LEDGER_FILE), *line = NULL;
	FILE *fp;
	size_t cap = 0;
	ssize_t n;
	int64_t pos = before;
	int stop = 0;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if ((fp = fopen(path, "re")) == NULL
	    || fseeko(fp, (off_t)offset, SEEK_SET) != 0) {
		mk_error_errno(err, "open %s", path);
		if (fp != NULL)
			fclose(fp);
		free(path);
		return -1;
	}
	while (!stop && (n = getline(&line, &cap, fp)) > 0 && line[n - 1] == '\n') {
		line[n - 1] = '\0';
		stop = fn(++pos, line, (size_t)n - 1, ctx);
	}
	free(line);
	fclose(fp);
	free(path);
	return stop < 0 ? -1 : 0;
}
