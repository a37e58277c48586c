/*
 * ledger.c - the append-only ledger: ledger/ledger.log.
 *
 * One event a line: {"seq":N,...}\n with N counting from 1 without gaps.
 * Both the milter (messages stored) and the mailkeep command (accesses)
 * append, so every append takes an exclusive flock() on the file, reads
 * the last sequence number from the tail, writes its lines with one
 * write() and fsyncs before it lets go.  A torn last line (a crash in the
 * middle of a write) never received its fsync, so was never reported
 * durable: the next appender cuts it off.  Later releases hash these
 * lines into a Merkle tree (GUIDE.md section 2); the lines stay as they are.
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

#define LEDGER_TAIL 8192	/* bytes read to find the last line */

/* parse_seq - the seq of the line starting at p, or -1 */
static int64_t
parse_seq(const char *p)
{
	long long seq;

	if (sscanf(p, "{\"seq\":%lld,", &seq) != 1 || seq < 1)
		return -1;
	return seq;
}

/* line_start - offset of the first byte after the last '\n' before end */
static int
line_start(int fd, const char *path, off_t end, off_t *start, mk_error *err)
{
	char buf[LEDGER_TAIL];
	off_t pos = end;
	size_t want;
	ssize_t n;
	char *nl;

	while (pos > 0) {
		want = pos > LEDGER_TAIL ? LEDGER_TAIL : (size_t)pos;
		if ((n = pread(fd, buf, want, pos - (off_t)want)) != (ssize_t)want)
			return mk_error_errno(err, "read %s", path);
		if ((nl = memrchr(buf, '\n', want)) != NULL) {
			*start = pos - (off_t)want + (nl - buf) + 1;
			return 0;
		}
		pos -= (off_t)want;
	}
	*start = 0;
	return 0;
}

/* last_seq - the seq of the last whole line; cuts off a torn line */
static int
last_seq(int fd, const char *path, int64_t *seq, mk_error *err)
{
	char head[64] = { 0 };
	struct stat st;
	off_t end, start;

	*seq = 0;
	if (fstat(fd, &st) != 0)
		return mk_error_errno(err, "stat %s", path);
	if (line_start(fd, path, st.st_size, &end, err) != 0)
		return -1;
	if (end != st.st_size && ftruncate(fd, end) != 0)
		return mk_error_errno(err, "cut torn line off %s", path);
	if (end == 0)
		return 0;
	if (line_start(fd, path, end - 1, &start, err) != 0)
		return -1;
	if (pread(fd, head, sizeof(head) - 1, start) < 0)
		return mk_error_errno(err, "read %s", path);
	if ((*seq = parse_seq(head)) < 0)
		return mk_error_set(err, "%s: last line has no sequence number",
				    path);
	return 0;
}

/* format_lines - the entries as numbered lines, one buffer (caller frees) */
static char *
format_lines(const char *const *entries, size_t n, int64_t seq, size_t *len)
{
	size_t cap = 0, i, used = 0;
	char *buf;
	int k;

	for (i = 0; i < n; i++)
		cap += strlen(entries[i]) + 32;
	if ((buf = malloc(cap + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		k = snprintf(buf + used, cap + 1 - used, "{\"seq\":%" PRId64 ",%s}\n",
			     seq + (int64_t)i, entries[i]);
		used += (size_t)k;
	}
	*len = used;
	return buf;
}

/* append_locked - append the entries to the locked ledger at fd */
static int
append_locked(int fd, const char *path, const char *const *entries,
	      size_t n, int64_t *first_seq, mk_error *err)
{
	int64_t seq;
	size_t len;
	off_t size;
	char *buf;
	int rc = 0;

	if (last_seq(fd, path, &seq, err) != 0)
		return -1;
	if ((size = lseek(fd, 0, SEEK_END)) < 0)
		return mk_error_errno(err, "seek %s", path);
	if ((buf = format_lines(entries, n, seq + 1, &len)) == NULL)
		return mk_error_set(err, "out of memory");
	if (write_all(fd, buf, len) != 0)
		rc = mk_error_errno(err, "append to %s", path);
	else if (fdatasync(fd) != 0)
		rc = mk_error_errno(err, "fsync %s", path);
	if (rc != 0 && ftruncate(fd, size) != 0)
		rc = mk_error_errno(err, "append to %s failed, then truncate", path);
	free(buf);
	*first_seq = seq + 1;
	return rc;
}

/* ledger_append - append entries (JSON members without braces) durably;
 * *first_seq receives the seq of the first one */
int
ledger_append(const char *dir, const char *const *entries, size_t n,
	      int64_t *first_seq, mk_error *err)
{
	char *path = path_join(dir, ARCHIVE_LEDGER_FILE);
	int fd, rc = -1;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		mk_error_errno(err, "open %s", path);
		goto out;
	}
	if (flock(fd, LOCK_EX) != 0)
		mk_error_errno(err, "lock %s", path);
	else
		rc = append_locked(fd, path, entries, n, first_seq, err);
	close(fd);	/* releases the lock */
out:
	free(path);
	return rc;
}
