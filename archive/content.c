/*
 * content.c - content segments: where the writer puts message content,
 * and where readers find it (docs/FORMAT.md, "Content segments").
 *
 * A group is the set of messages whose retention ends on the same UTC day
 * ("YYYY-MM-DD", or "forever"): what expires together is stored together,
 * under that day's key (keys/record-GROUP.key), in append-only files
 * content/GROUP/000001.seg, 000002.seg, ...; a file is closed for new
 * blobs once it holds segment_bytes (archive_options: 1 GiB).
 *
 * The thread that received a message places its blob (content_place):
 * when the group already holds the same content (the index says where),
 * the message names those bytes; otherwise it reserves the next span at
 * the end of the group's open segment, under a short lock, and copies the
 * spooled blob there without the lock, while other threads copy theirs.
 * Nothing is synced here: the committer fdatasyncs each segment a batch
 * wrote into once, before the batch's records (content_sync).  A span
 * whose message failed, or that a crash left half written, is named by no
 * record and is never read.
 *
 * Expiry writes too, into the re-key groups YYYY-MM-DD.N of a day (FORMAT.md
 * 1.3): content_recopy reads a held message's blob under its old group's
 * key and writes it anew into the fresh group, so that the old group can
 * go whole.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define COPY_CHUNK 65536

/* content_group - the group of retain_until (seconds; 0: forever) */
void
content_group(int64_t retain_until, char group[CONTENT_GROUP_MAX])
{
	time_t t = (time_t)retain_until;
	struct tm tm;

	if (retain_until <= 0) {
		snprintf(group, CONTENT_GROUP_MAX, "forever");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(group, CONTENT_GROUP_MAX, "%Y-%m-%d", &tm);
}

/* content_group_valid - g (len bytes) is "forever", a date YYYY-MM-DD
 * (digits in place), or a re-key group YYYY-MM-DD.N or forever.N (N from
 * 1 to CONTENT_REKEY_MAX, no leading zero) */
bool
content_group_valid(const char *g, size_t len)
{
	static const char shape[] = "DDDD-DD-DD";
	size_t i, day = sizeof(shape) - 1;

	if (len >= 7 && strncmp(g, "forever", 7) == 0)	/* forever.N */
		return len == 7 || (len >= 9 && len <= 14 && g[7] == '.'
				    && g[8] != '0'
				    && strspn(g + 8, "0123456789") == len - 8);
	if (len < day || (len > day && (len < day + 2 || len > day + 7
					 || g[day] != '.' || g[day + 1] == '0')))
		return false;
	for (i = 0; i < day; i++)
		if (shape[i] == 'D' ? g[i] < '0' || g[i] > '9' : g[i] != shape[i])
			return false;
	for (i = day + 1; i < len; i++)
		if (g[i] < '0' || g[i] > '9')
			return false;
	return true;
}

/* content_group_generation - N of a re-key group "YYYY-MM-DD.N", else 0 */
unsigned
content_group_generation(const char *group)
{
	const char *dot = strchr(group, '.');

	return dot != NULL ? (unsigned)strtoul(dot + 1, NULL, 10) : 0;
}

/* content_file_valid - rel is "content/GROUP/NNNNNN.seg" */
bool
content_file_valid(const char *rel, char group[CONTENT_GROUP_MAX])
{
	const char *g = rel + sizeof(CONTENT_DIR), *slash;
	size_t i;

	if (strncmp(rel, CONTENT_DIR "/", sizeof(CONTENT_DIR)) != 0
	    || (slash = strchr(g, '/')) == NULL
	    || !content_group_valid(g, (size_t)(slash - g)))
		return false;
	for (i = 1; i <= 6; i++)
		if (slash[i] < '0' || slash[i] > '9')
			return false;
	if (strcmp(slash + 7, ".seg") != 0)
		return false;
	snprintf(group, CONTENT_GROUP_MAX, "%.*s", (int)(slash - g), g);
	return true;
}

/* content_day_key - the day key of group into key (the record key of
 * that day: keys_record_key_name) */
int
content_day_key(archive *ar, const char *group, bool create,
		unsigned char key[KEYS_AES], mk_error *err)
{
	char name[KEYS_NAME_MAX];

	snprintf(name, sizeof(name), "record-%s.key", group);
	return keyring_record_key(&ar->keys, name, create, key, err);
}

/* segment_rel - "content/GROUP/NNNNNN.seg" (rel) of a segment */
static void
segment_rel(const char *group, unsigned number, char rel[CONTENT_FILE_MAX])
{
	snprintf(rel, CONTENT_FILE_MAX, CONTENT_DIR "/%s/%06u.seg", group,
		 number % 1000000);
}

/* last_number - the highest segment number in dir (0: none) */
static unsigned
last_number(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n, last = 0;
	char tail[8];

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (sscanf(de->d_name, "%6u%7s", &n, tail) == 2
		    && strcmp(tail, ".seg") == 0 && n > last)
			last = n;
	closedir(d);
	return last;
}

/* group_dir - content/GROUP, made (durably) if missing.  content/ itself
 * is made with the archive (or its upgrade to format 4) and never here:
 * when it is gone, nothing is stored.  Caller frees */
static char *
group_dir(archive *ar, const char *group, mk_error *err)
{
	char rel[CONTENT_FILE_MAX], *dir, *parent;
	struct stat st;

	snprintf(rel, sizeof(rel), CONTENT_DIR "/%s", group);
	if ((dir = path_join(ar->dir, rel)) == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if (stat(dir, &st) == 0)
		return dir;
	parent = path_join(ar->dir, CONTENT_DIR);
	if (parent == NULL)
		mk_error_set(err, "out of memory");
	else if (mkdir_owned(dir) != 0)
		mk_error_errno(err, "mkdir %s", dir);
	else if (fsync_path(parent, err) == 0) {
		free(parent);
		return dir;
	}
	free(parent);
	free(dir);
	return NULL;
}

/* open_segment - the segment to append to in group: its last one while
 * under segment_bytes, else a new one after it (after: a number
 * that is full already, 0 for none) */
static content_seg *
open_segment(archive *ar, const char *group, unsigned after, mk_error *err)
{
	content_seg *seg = calloc(1, sizeof(*seg));
	char rel[CONTENT_FILE_MAX], *dir = NULL, *path = NULL;
	struct stat st;

	if (seg != NULL)
		seg->fd = -1;
	if (seg == NULL || (dir = group_dir(ar, group, err)) == NULL)
		goto fail;
	snprintf(seg->group, sizeof(seg->group), "%s", group);
	seg->number = last_number(dir);
	if (seg->number <= after)
		seg->number = after + 1;
	segment_rel(group, seg->number, rel);
	if ((path = path_join(ar->dir, rel)) == NULL)
		goto fail;
	seg->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (seg->fd < 0 || fstat(seg->fd, &st) != 0) {
		mk_error_errno(err, "open %s", path);
		goto fail;
	}
	if (st.st_size >= ar->opts.segment_bytes) {	/* full: the next */
		close(seg->fd);
		free(dir);
		free(path);
		after = seg->number;
		free(seg);
		return open_segment(ar, group, after, err);
	}
	seg->end = st.st_size;
	if (st.st_size == 0 && own_like_dir(seg->fd, path) != 0) {
		mk_error_errno(err, "chown %s", path);
		goto fail;
	}
	if (st.st_size == 0 && fsync_path(dir, err) != 0)
		goto fail;
	free(dir);
	free(path);
	return seg;
fail:
	if (seg != NULL && seg->fd >= 0)
		close(seg->fd);
	if (seg == NULL || (dir != NULL && path == NULL))
		mk_error_set(err, "out of memory");
	free(seg);
	free(dir);
	free(path);
	return NULL;
}

/* unlink_segment - take seg out of the list and close it; locked */
static void
unlink_segment(content_store *cs, content_seg *seg)
{
	content_seg **p;

	for (p = &cs->segs; *p != NULL; p = &(*p)->next)
		if (*p == seg) {
			*p = seg->next;
			break;
		}
	close(seg->fd);
	free(seg);
}

/* retire - no new blobs into seg; closed now or by its last release */
static void
retire(content_store *cs, content_seg *seg)
{
	seg->retired = true;
	if (seg->refs == 0)
		unlink_segment(cs, seg);
}

/* evict - keep at most CONTENT_OPEN_MAX segments open: retire the least
 * recently used idle ones; locked */
static void
evict(content_store *cs)
{
	content_seg *s, *lru;
	size_t n;

	for (;;) {
		n = 0;
		lru = NULL;
		for (s = cs->segs; s != NULL; s = s->next) {
			n += !s->retired;
			if (!s->retired && s->refs == 0
			    && (lru == NULL || s->used < lru->used))
				lru = s;
		}
		if (n <= CONTENT_OPEN_MAX || lru == NULL)
			return;
		retire(cs, lru);
	}
}

/* current_segment - the open segment of group with room for len more
 * bytes, opened when needed; locked */
static content_seg *
current_segment(archive *ar, const char *group, off_t len, mk_error *err)
{
	content_store *cs = &ar->content;
	content_seg *seg;
	unsigned after = 0;

	for (seg = cs->segs; seg != NULL; seg = seg->next)
		if (!seg->retired && strcmp(seg->group, group) == 0)
			break;
	if (seg != NULL && seg->end > 0
	    && seg->end + len > ar->opts.segment_bytes) {
		after = seg->number;
		retire(cs, seg);
		seg = NULL;
	}
	if (seg == NULL && (seg = open_segment(ar, group, after, err)) != NULL) {
		seg->next = cs->segs;
		cs->segs = seg;
	}
	return seg;
}

/* reserve - the span [*off, *off + len) at the end of group's segment,
 * and a reference to the segment; NULL with err */
static content_seg *
reserve(archive *ar, const char *group, off_t len, off_t *off, mk_error *err)
{
	content_store *cs = &ar->content;
	content_seg *seg;

	pthread_mutex_lock(&cs->lock);
	if ((seg = current_segment(ar, group, len, err)) != NULL) {
		*off = seg->end;
		seg->end += len;
		seg->refs++;
		seg->used = ++cs->clock;
		evict(cs);
	}
	pthread_mutex_unlock(&cs->lock);
	return seg;
}

/* pwrite_all - all of buf at off; 0 or -1 with errno */
static int
pwrite_all(int fd, const unsigned char *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(fd, buf, len, off)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* copy_span - len bytes of in (from 0) to out (called rel) at off: in
 * the kernel when it can, else through a buffer */
static int
copy_span(int in, int out, const char *rel, off_t off, off_t len,
	  mk_error *err)
{
	loff_t from = 0, to = off;
	unsigned char buf[COPY_CHUNK];
	ssize_t n;

	while (len > 0) {
		n = copy_file_range(in, &from, out, &to, (size_t)len, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS
			      || errno == EINVAL || errno == EOPNOTSUPP)) {
			n = pread(in, buf, len > COPY_CHUNK ? COPY_CHUNK
				  : (size_t)len, from);
			if (n > 0 && pwrite_all(out, buf, (size_t)n, to) != 0)
				n = -1;
			from += n > 0 ? n : 0;
			to += n > 0 ? n : 0;
		}
		if (n <= 0)
			return n == 0 ? mk_error_set(err, "spool file cut short")
			    : mk_error_errno(err, "write %s", rel);
		len -= n;
	}
	return 0;
}

/* find_stored - the span of sha256's content in group, if the index
 * knows one: 1 found, 0 not, -1 on error (then stored anew) */
static int
find_stored(archive *ar, const char *sha256, const char *group,
	    commit_req *req)
{
	content_store *cs = &ar->content;
	char lo[CONTENT_FILE_MAX], hi[CONTENT_FILE_MAX];
	const unsigned char *file;
	int rc = 0;

	if (cs->find == NULL)
		return 0;
	snprintf(lo, sizeof(lo), CONTENT_DIR "/%s/", group);
	snprintf(hi, sizeof(hi), CONTENT_DIR "/%s0", group);	/* '/' + 1 */
	pthread_mutex_lock(&cs->db_lock);
	sqlite3_reset(cs->find);
	sqlite3_bind_text(cs->find, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(cs->find, 2, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(cs->find, 3, hi, -1, SQLITE_STATIC);
	if (sqlite3_step(cs->find) == SQLITE_ROW
	    && (file = sqlite3_column_text(cs->find, 0)) != NULL
	    && strlen((const char *)file) < CONTENT_FILE_MAX) {
		snprintf(req->content_file, sizeof(req->content_file), "%s",
			 (const char *)file);
		req->content_off = sqlite3_column_int64(cs->find, 1);
		req->content_len = sqlite3_column_int64(cs->find, 2);
		rc = 1;
	}
	sqlite3_reset(cs->find);
	pthread_mutex_unlock(&cs->db_lock);
	return rc;
}

/* content_place - put the blob in spool_fd into req's group */
int
content_place(archive *ar, int spool_fd, off_t len, commit_req *req,
	      int64_t retain_until, mk_error *err)
{
	char group[CONTENT_GROUP_MAX];
	content_seg *seg;
	off_t off;

	content_group(retain_until, group);
	if (find_stored(ar, req->sha256, group, req) == 1)
		return 0;	/* deduplicated */
	if ((seg = reserve(ar, group, len, &off, err)) == NULL)
		return -1;
	req->seg = seg;		/* released with req, whatever happens */
	segment_rel(group, seg->number, req->content_file);
	req->content_off = off;
	req->content_len = len;
	if (copy_span(spool_fd, seg->fd, req->content_file, off, len,
		      err) != 0) {
		req->content_file[0] = '\0';
		return -1;
	}
	return 0;
}

/* content_sync - fdatasync each segment of the batch once */
int
content_sync(archive *ar, commit_req *batch, mk_error *err)
{
	commit_req *r, *s;
	char rel[CONTENT_FILE_MAX];

	(void)ar;
	for (r = batch; r != NULL; r = r->next) {
		if (r->seg == NULL)
			continue;
		for (s = batch; s != r && s->seg != r->seg; s = s->next)
			;
		if (s != r)
			continue;	/* synced already */
		if (fdatasync(r->seg->fd) != 0) {
			segment_rel(r->seg->group, r->seg->number, rel);
			return mk_error_errno(err, "fdatasync %s", rel);
		}
	}
	return 0;
}

/* content_release - drop req's reference to its segment */
void
content_release(archive *ar, commit_req *req)
{
	content_store *cs = &ar->content;

	if (req->seg == NULL)
		return;
	pthread_mutex_lock(&cs->lock);
	if (--req->seg->refs == 0 && req->seg->retired)
		unlink_segment(cs, req->seg);
	pthread_mutex_unlock(&cs->lock);
	req->seg = NULL;
}

/* content_start - the writer's segment list and dedup lookup */
int
content_start(archive *ar, mk_error *err)
{
	content_store *cs = &ar->content;
	char *path = path_join(ar->dir, ARCHIVE_INDEX_FILE);
	int rc = 0;

	pthread_mutex_init(&cs->lock, NULL);
	pthread_mutex_init(&cs->db_lock, NULL);
	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if (sqlite3_open_v2(path, &cs->db, SQLITE_OPEN_READONLY
			    | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(cs->db, "SELECT content_file, content_off,"
				  " content_len FROM messages WHERE sha256 = ?1"
				  " AND content_file >= ?2 AND content_file < ?3"
				  " LIMIT 1", -1, &cs->find, NULL) != SQLITE_OK)
		rc = mk_error_set(err, "%s: dedup lookup: %s", path,
				  sqlite3_errmsg(cs->db));
	else
		sqlite3_busy_timeout(cs->db, ARCHIVE_BUSY_MS);
	free(path);
	return rc;
}

/* content_stop - close every segment and the lookup (no reservation is
 * left: the committer has stopped) */
void
content_stop(archive *ar)
{
	content_store *cs = &ar->content;

	while (cs->segs != NULL)
		unlink_segment(cs, cs->segs);
	sqlite3_finalize(cs->find);
	sqlite3_close(cs->db);
	cs->find = NULL;
	cs->db = NULL;
}

/* content_open - the span of a message's blob, for reading */
int
content_open(archive *ar, const char *file, int64_t off, int64_t len,
	     unsigned char key[KEYS_AES], blob_span *span, mk_error *err)
{
	char group[CONTENT_GROUP_MAX], *path;
	mk_error why;

	if (!content_file_valid(file, group) || off < 0 || len < BLOB_HEADER)
		return mk_error_set(err, "content at \"%s\" %lld+%lld is not a"
				    " span of a content segment", file,
				    (long long)off, (long long)len);
	if ((path = path_join(ar->dir, file)) == NULL)
		return mk_error_set(err, "out of memory");
	span->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (span->fd < 0)
		return mk_error_errno(err, "open %s", file);
	span->off = off;
	span->len = len;
	span->day_key = content_day_key(ar, group, false, key, &why) == 0
	    ? key : NULL;	/* needed only by an encrypted blob */
	return 0;
}

/* The state of a re-copy: the new blob, and the hash of what it holds. */
typedef struct recopy {
	blob_writer *w;
	EVP_MD_CTX *sha;
} recopy;

/* recopy_sink - archive_sink_fn: the old blob's bytes into the new */
static int
recopy_sink(const void *buf, size_t len, void *ctx)
{
	recopy *rc = ctx;
	mk_error why;

	if (EVP_DigestUpdate(rc->sha, buf, len) != 1)
		return -1;
	return blob_writer_write(rc->w, buf, len, &why);
}

/* blob_codec - the compression (codec and level) and whether a day key
 * encrypts the blob at span (its header), for writing it anew */
static int
blob_codec(archive *ar, const blob_span *span, mk_codec *codec, int *level,
	   bool *encrypted, mk_error *err)
{
	unsigned char h[BLOB_HEADER];

	if (pread(span->fd, h, sizeof(h), span->off) != (ssize_t)sizeof(h)
	    || memcmp(h, "MKBLOB", 6) != 0 || h[7] > MK_CODEC_ZSTD)
		return mk_error_set(err, "not a blob header");
	*codec = (mk_codec)h[7];
	*encrypted = h[8] != BLOB_CIPHER_NONE;
	*level = *codec == ar->opts.codec ? ar->opts.compression
	    : *codec == MK_CODEC_ZLIB ? 6 : *codec == MK_CODEC_ZSTD
	    ? MK_DEFAULT_LEVEL : 0;
	return 0;
}

/* recopy_into - the blob at from, written at the end of seg (fd at its
 * end), its content checked against sha256 */
static int
recopy_into(archive *ar, const blob_span *from, const char *sha256,
	    content_seg *seg, const unsigned char *key, mk_codec codec,
	    int level, mk_error *err)
{
	recopy rc = { NULL, EVP_MD_CTX_new() };
	unsigned char md[32];
	char hex[ARCHIVE_SHA256_HEX + 1];
	int ok = -1;

	if (rc.sha == NULL || EVP_DigestInit_ex(rc.sha, EVP_sha256(), NULL) != 1)
		mk_error_set(err, "out of memory");
	else if ((rc.w = blob_writer_new(seg->fd, codec, level, key, 0,
					 &ar->codecs, err)) != NULL
		 && blob_read(from, &ar->keys, &ar->codecs, recopy_sink, &rc,
			      err) == 0
		 && blob_writer_finish(rc.w, err) == 0
		 && EVP_DigestFinal_ex(rc.sha, md, NULL) == 1) {
		hex_encode(md, sizeof(md), hex);
		ok = strcmp(hex, sha256) == 0 ? 0 : mk_error_set(err, "content"
			" hashes to %s, not to its record's %s", hex, sha256);
	}
	blob_writer_free(rc.w);
	EVP_MD_CTX_free(rc.sha);
	return ok;
}

/* find_in_group - the span of sha256's content that group already holds
 * (the index knows it): 1 found, 0 not, -1 with err */
static int
find_in_group(archive *ar, const char *sha256, const char *group,
	      char file[CONTENT_FILE_MAX], int64_t *off, int64_t *len,
	      mk_error *err)
{
	char lo[CONTENT_FILE_MAX], hi[CONTENT_FILE_MAX];
	const unsigned char *f;
	sqlite3_stmt *st;
	int rc = 0;

	snprintf(lo, sizeof(lo), CONTENT_DIR "/%s/", group);
	snprintf(hi, sizeof(hi), CONTENT_DIR "/%s0", group);	/* '/' + 1 */
	if (sqlite3_prepare_v2(ar->db, "SELECT content_file, content_off,"
			       " content_len FROM messages WHERE sha256 = ?1"
			       " AND content_file >= ?2 AND content_file < ?3"
			       " LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(ar->db));
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW
	    && (f = sqlite3_column_text(st, 0)) != NULL
	    && strlen((const char *)f) < CONTENT_FILE_MAX) {
		snprintf(file, CONTENT_FILE_MAX, "%s", (const char *)f);
		*off = sqlite3_column_int64(st, 1);
		*len = sqlite3_column_int64(st, 2);
		rc = 1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* content_recopy - the blob at from anew in group (internal.h).  Only
 * expiry writes into a re-key group, one run at a time (expire.lock), so
 * the segment is appended to here without the writer's reservations. */
int
content_recopy(archive *ar, const blob_span *from, const char *sha256,
	       const char *group, char file[CONTENT_FILE_MAX], int64_t *off,
	       int64_t *len, mk_error *err)
{
	unsigned char key[KEYS_AES];
	content_seg *seg;
	bool encrypted = false;
	mk_codec codec = MK_CODEC_NONE;
	int level = 0, rc;
	off_t end = 0;

	if ((rc = find_in_group(ar, sha256, group, file, off, len, err)) != 0)
		return rc > 0 ? 0 : -1;		/* deduplicated */
	if (blob_codec(ar, from, &codec, &level, &encrypted, err) != 0
	    || (encrypted && content_day_key(ar, group, true, key, err) != 0))
		return -1;
	if ((seg = open_segment(ar, group, 0, err)) == NULL) {
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	rc = lseek(seg->fd, seg->end, SEEK_SET) < 0 ? mk_error_errno(err, "seek")
	    : recopy_into(ar, from, sha256, seg, encrypted ? key : NULL, codec,
			  level, err);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0 && ((end = lseek(seg->fd, 0, SEEK_CUR)) < 0
			|| fdatasync(seg->fd) != 0))
		rc = mk_error_errno(err, "fdatasync a segment of %s", group);
	if (rc == 0) {
		segment_rel(group, seg->number, file);
		*off = seg->end;
		*len = end - seg->end;
	}
	close(seg->fd);
	free(seg);
	return rc;
}
