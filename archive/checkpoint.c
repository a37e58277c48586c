/*
 * checkpoint.c - signed checkpoints of the ledger: ledger/checkpoints.log.
 *
 * A checkpoint says "the first SIZE lines of ledger.log are the leaves of
 * the Merkle tree whose root is ROOT, as of TIME", signed with Ed25519.
 * The signed text is four lines (docs/FORMAT.md, "Checkpoints"):
 *
 *	mailkeep-checkpoint/1
 *	SIZE
 *	ROOT (64 hex digits)
 *	TIME (microseconds since the epoch)
 *
 * One checkpoint a line of checkpoints.log, appended under the ledger's
 * lock by whoever writes it (ledger.c):
 *
 *	{"size":N,"root":HEX,"time":T,"key":G,"sig":B64,
 *	 "offset":BYTES,"frontier":[HEX,...]}
 *
 * key is the generation of the signing key; offset (bytes of ledger.log
 * the checkpoint covers) and frontier (the roots of the perfect subtrees
 * on the tree's right edge) are not signed: they only let the next
 * checkpoint go on without rereading the ledger.  verify recomputes
 * everything from the ledger itself.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define CHECKPOINT_TAIL	16384	/* bytes read from the end for the last line */

/* checkpoint_text - the signed text of cp */
size_t
checkpoint_text(const checkpoint *cp, char *buf, size_t size)
{
	char root[2 * MERKLE_HASH + 1];
	int n;

	hex_encode(cp->root, MERKLE_HASH, root);
	n = snprintf(buf, size, "mailkeep-checkpoint/1\n%" PRId64 "\n%s\n%"
		     PRId64 "\n", cp->size, root, cp->time);
	return n < 0 ? 0 : (size_t)n;
}

/* parse_frontier - the frontier array of a checkpoint line */
static int
parse_frontier(json_t *arr, checkpoint *cp)
{
	size_t i;
	uint64_t bits = (uint64_t)cp->size;
	unsigned expect = 0;

	for (; bits != 0; bits &= bits - 1)
		expect++;
	if (!json_is_array(arr) || json_array_size(arr) != expect)
		return -1;
	merkle_frontier_init(&cp->frontier);
	for (i = 0; i < expect; i++)
		if (hex_decode(json_string_value(json_array_get(arr, i)),
			       cp->frontier.nodes[i], MERKLE_HASH) != 0)
			return -1;
	cp->frontier.n_nodes = expect;
	cp->frontier.size = (uint64_t)cp->size;
	return 0;
}

/* checkpoint_parse - one line of checkpoints.log into cp; 0 or -1 */
static int
checkpoint_parse(const char *line, checkpoint *cp)
{
	json_t *obj = json_loads(line, 0, NULL);
	unsigned char *sig = NULL;
	size_t len = 0;
	int rc = -1;

	memset(cp, 0, sizeof(*cp));
	if (obj == NULL)
		return -1;
	cp->size = json_integer_value(json_object_get(obj, "size"));
	cp->time = json_integer_value(json_object_get(obj, "time"));
	cp->key = (unsigned)json_integer_value(json_object_get(obj, "key"));
	cp->offset = json_integer_value(json_object_get(obj, "offset"));
	sig = base64_decode(json_string_value(json_object_get(obj, "sig")), &len);
	if (cp->size > 0 && cp->key > 0 && sig != NULL && len == KEYS_SIG
	    && hex_decode(json_string_value(json_object_get(obj, "root")),
			  cp->root, MERKLE_HASH) == 0
	    && parse_frontier(json_object_get(obj, "frontier"), cp) == 0) {
		memcpy(cp->sig, sig, KEYS_SIG);
		rc = 0;
	}
	free(sig);
	json_decref(obj);
	return rc;
}

/* checkpoint_scan_end - scan, and the offset after the last whole line */
static int
checkpoint_scan_end(const char *dir, checkpoint_fn fn, void *ctx,
		    off_t *good_end, mk_error *err)
{
	char *path = path_join(dir, ARCHIVE_CHECKPOINT_FILE), *line = NULL;
	checkpoint cp;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;
	int stop = 0;

	*good_end = 0;
	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if ((fp = fopen(path, "re")) == NULL) {
		free(path);
		return 0;	/* no checkpoint yet */
	}
	while (!stop && (n = getline(&line, &cap, fp)) > 0 && line[n - 1] == '\n') {
		*good_end += n;
		line[n - 1] = '\0';
		if (checkpoint_parse(line, &cp) != 0)
			memset(&cp, 0, sizeof(cp));	/* fn sees size 0 */
		stop = fn(&cp, line, ctx);
	}
	free(line);
	fclose(fp);
	free(path);
	return stop < 0 ? -1 : 0;
}

/* checkpoint_scan - every checkpoint, in order (size 0: unparsable) */
int
checkpoint_scan(const char *dir, checkpoint_fn fn, void *ctx, mk_error *err)
{
	off_t end;

	return checkpoint_scan_end(dir, fn, ctx, &end, err);
}

/* keep_last - checkpoint_fn that keeps the last parsable checkpoint */
static int
keep_last(const checkpoint *cp, const char *line, void *ctx)
{
	(void)line;
	if (cp->size > 0)
		*(checkpoint *)ctx = *cp;
	return 0;
}

/* read_tail - the last CHECKPOINT_TAIL bytes (or fewer) of fd into buf;
 * their number, or -1 */
static ssize_t
read_tail(int fd, off_t size, char *buf, off_t *start)
{
	size_t want = size > CHECKPOINT_TAIL ? CHECKPOINT_TAIL : (size_t)size;

	*start = size - (off_t)want;
	return pread(fd, buf, want, *start) == (ssize_t)want ? (ssize_t)want : -1;
}

/* tail_checkpoint - the last line of checkpoints.log, read from its end
 * (a checkpoint line is far shorter than CHECKPOINT_TAIL), so that the
 * cost does not grow with the file; 0, or -1 when that line does not
 * parse or is not whole (then the caller scans the file) */
static int
tail_checkpoint(const char *path, checkpoint *cp, off_t *good_end)
{
	char *buf = malloc(CHECKPOINT_TAIL + 1), *end, *begin;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	struct stat st;
	off_t start;
	ssize_t n;

	if (buf != NULL && fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0) {
		*good_end = 0;
		rc = 0;		/* no checkpoint yet */
	} else if (buf != NULL && fd >= 0 && fstat(fd, &st) == 0
		   && (n = read_tail(fd, st.st_size, buf, &start)) > 0
		   && buf[n - 1] == '\n') {
		buf[n - 1] = '\0';
		end = buf + n - 1;
		begin = memrchr(buf, '\n', (size_t)(end - buf));
		begin = begin != NULL ? begin + 1 : buf;
		if ((begin > buf || start == 0) && checkpoint_parse(begin, cp) == 0) {
			*good_end = st.st_size;
			rc = 0;
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* checkpoint_find_last - the newest checkpoint and where the whole lines
 * of the file end */
static int
checkpoint_find_last(const char *dir, checkpoint *cp, off_t *good_end,
		     mk_error *err)
{
	char *path = path_join(dir, ARCHIVE_CHECKPOINT_FILE);
	int rc;

	memset(cp, 0, sizeof(*cp));
	merkle_frontier_init(&cp->frontier);
	if (path == NULL)
		return mk_error_set(err, "out of memory");
	*good_end = 0;
	if (access(path, F_OK) != 0)
		rc = 0;		/* no checkpoint yet */
	else if ((rc = tail_checkpoint(path, cp, good_end)) != 0)
		rc = checkpoint_scan_end(dir, keep_last, cp, good_end, err);
	free(path);
	return rc;
}

/* checkpoint_last - the newest checkpoint, or one of size 0 */
int
checkpoint_last(const char *dir, checkpoint *cp, mk_error *err)
{
	off_t end;

	return checkpoint_find_last(dir, cp, &end, err);
}

/* checkpoint_line - cp as its line of checkpoints.log; caller frees */
static char *
checkpoint_line(const checkpoint *cp)
{
	json_t *obj, *front = json_array();
	char hex[2 * MERKLE_HASH + 1], *sig64 = base64_encode(cp->sig, KEYS_SIG);
	char *text = NULL;
	unsigned i;

	for (i = 0; front != NULL && i < cp->frontier.n_nodes; i++) {
		hex_encode(cp->frontier.nodes[i], MERKLE_HASH, hex);
		json_array_append_new(front, json_string(hex));
	}
	hex_encode(cp->root, MERKLE_HASH, hex);
	obj = json_pack("{s:I, s:s, s:I, s:i, s:s, s:I, s:o}",
			"size", (json_int_t)cp->size, "root", hex,
			"time", (json_int_t)cp->time, "key", (int)cp->key,
			"sig", sig64 != NULL ? sig64 : "",
			"offset", (json_int_t)cp->offset, "frontier", front);
	if (obj != NULL)
		text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	free(sig64);
	return text;
}

/* append_line - add text + "\n" to checkpoints.log, cutting a torn tail */
static int
append_line(const char *dir, const char *text, mk_error *err)
{
	char *path = path_join(dir, ARCHIVE_CHECKPOINT_FILE);
	off_t good_end;
	int fd, rc = 0;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if (checkpoint_find_last(dir, &(checkpoint){ 0 }, &good_end, err) != 0) {
		free(path);
		return -1;
	}
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = mk_error_errno(err, "open %s", path);
	else if (ftruncate(fd, good_end) != 0
		 || write_all(fd, text, strlen(text)) != 0
		 || write_all(fd, "\n", 1) != 0 || fdatasync(fd) != 0)
		rc = mk_error_errno(err, "append to %s", path);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* checkpoint_write - sign cp with the current key, append it durably */
int
checkpoint_write(archive *ar, checkpoint *cp, mk_error *err)
{
	char text[256], *line;
	size_t len = checkpoint_text(cp, text, sizeof(text));
	int rc;

	cp->key = ar->keys.n;
	if (keyring_sign(&ar->keys, cp->key, text, len, cp->sig, err) != 0)
		return -1;
	if ((line = checkpoint_line(cp)) == NULL)
		return mk_error_set(err, "out of memory");
	rc = append_line(ar->dir, line, err);
	free(line);
	return rc;
}
