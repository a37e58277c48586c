/*
 * archive.c - creating, opening and closing an archive directory.
 *
 * The layout is described in archive.h.  A writer holds an exclusive
 * lock on writer.lock for as long as it is open, so two daemons never
 * append to one archive; readers take no such lock (SQLite's WAL lets
 * them read while the writer commits, and ledger appends lock the ledger
 * file itself).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define ARCHIVE_MARKER		"FORMAT"
#define ARCHIVE_MARKER_TEXT	"mailkeep archive 4\n"
#define ARCHIVE_MARKER_BLOBS	"mailkeep archive 3\n"	/* blobs/ */

static const char *const subdirs[] = {
	CONTENT_DIR, "records", "ledger", "spool", "keys", NULL
};

/* make_dirs - the archive directory and its fixed subdirectories */
static int
make_dirs(const char *dir, mk_error *err)
{
	char *path;
	int i, rc = 0;

	if (mkdir_if_missing(dir, 0700) != 0)
		return mk_error_errno(err, "mkdir %s", dir);
	for (i = 0; rc == 0 && subdirs[i] != NULL; i++) {
		if ((path = path_join(dir, subdirs[i])) == NULL)
			return mk_error_set(err, "out of memory");
		if (mkdir_if_missing(path, 0700) != 0)
			rc = mk_error_errno(err, "mkdir %s", path);
		free(path);
	}
	return rc;
}

/* key_event - the ledger entry of a new key generation */
static void
key_event(const char *event, unsigned gen, const unsigned char pub[KEYS_PUBLIC],
	  char *buf, size_t size)
{
	char hex[2 * KEYS_PUBLIC + 1];

	hex_encode(pub, KEYS_PUBLIC, hex);
	snprintf(buf, size, "\"event\":\"%s\",\"time\":%lld,\"format\":%d,"
		 "\"key\":%u,\"public_key\":\"%s\"", event,
		 (long long)now_micros(), ARCHIVE_FORMAT, gen, hex);
}

/* create_contents - keys, index and first ledger entry of a new archive */
static int
create_contents(archive *ar, mk_error *err)
{
	unsigned char pub[KEYS_PUBLIC];
	char entry[256];
	const char *entries[1] = { entry };
	int64_t seq;
	int rc;

	if (keys_new_generation(ar->dir, 1, pub, err) != 0
	    || keyring_load(&ar->keys, ar->dir, err) != 0)
		return -1;
	rc = index_open(ar, true, err);
	sqlite3_close(ar->db);
	ar->db = NULL;
	key_event("created", 1, pub, entry, sizeof(entry));
	if (rc == 0)	/* the first checkpoint comes with it */
		rc = ledger_append(ar, entries, 1, &seq, err);
	return rc;
}

/* archive_create - make a new, empty archive at dir */
int
archive_create(const char *dir, mk_error *err)
{
	archive ar = { .dir = (char *)dir, .lock_fd = -1, .records_fd = -1,
		       .opts = ARCHIVE_OPTIONS_DEFAULT };
	char *marker = path_join(dir, ARCHIVE_MARKER);
	int exists, rc;

	if (marker == NULL)
		return mk_error_set(err, "out of memory");
	exists = access(marker, F_OK) == 0;
	free(marker);
	if (exists)
		return mk_error_set(err, "%s is already a mailkeep archive", dir);
	rc = make_dirs(dir, err);
	if (rc == 0)
		rc = create_contents(&ar, err);
	if (ar.keys.dir != NULL)
		keyring_free(&ar.keys);
	if (rc == 0)	/* last: the marker says the archive is whole */
		rc = write_new_file(dir, ARCHIVE_MARKER, ARCHIVE_MARKER_TEXT,
				    strlen(ARCHIVE_MARKER_TEXT), false, err);
	if (rc == 0)
		rc = fsync_path(dir, err);
	return rc;
}

/* check_marker - is dir a mailkeep archive of a format we read?  Its
 * format (3 or 4) into *format */
int
check_marker(const char *dir, int *format, mk_error *err)
{
	char buf[64] = { 0 };
	char *path = path_join(dir, ARCHIVE_MARKER);
	FILE *fp;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	fp = fopen(path, "r");
	free(path);
	if (fp == NULL)
		return mk_error_errno(err, "%s is not a mailkeep archive"
				      " (create one with \"mailkeep init\")", dir);
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	if (strcmp(buf, "mailkeep archive 1\n") == 0)
		return mk_error_set(err, "%s: archive format 1 (unencrypted, no"
				    " signatures) is not read by this version;"
				    " create a new archive", dir);
	if (strcmp(buf, "mailkeep archive 2\n") == 0)
		return mk_error_set(err, "%s: archive format 2 (ledger entries"
				    " not chained) is not read by this version;"
				    " create a new archive", dir);
	*format = strcmp(buf, ARCHIVE_MARKER_BLOBS) == 0 ? ARCHIVE_FORMAT_BLOBS
	    : ARCHIVE_FORMAT;
	if (strcmp(buf, ARCHIVE_MARKER_TEXT) != 0
	    && *format != ARCHIVE_FORMAT_BLOBS)
		return mk_error_set(err, "%s: unknown archive format", dir);
	return 0;
}

/* upgrade_marker - a writer of format 4 content in a format-3 archive
 * says so first: FORMAT is replaced (rename) with "mailkeep archive 4" */
static int
upgrade_marker(archive *ar, mk_error *err)
{
	char *tmp = path_join(ar->dir, ARCHIVE_MARKER ".new");
	char *path = path_join(ar->dir, ARCHIVE_MARKER);
	char *content = path_join(ar->dir, CONTENT_DIR);
	int rc = -1;

	if (tmp == NULL || path == NULL || content == NULL)
		mk_error_set(err, "out of memory");
	else if (mkdir_owned(content) != 0)
		mk_error_errno(err, "mkdir %s", content);
	else if (unlink(tmp) != 0 && errno != ENOENT)
		mk_error_errno(err, "unlink %s", tmp);
	else if (write_new_file(ar->dir, ARCHIVE_MARKER ".new",
				ARCHIVE_MARKER_TEXT, strlen(ARCHIVE_MARKER_TEXT),
				false, err) != 0)
		;
	else if (rename(tmp, path) != 0)
		mk_error_errno(err, "rename %s", tmp);
	else if (fsync_path(ar->dir, err) == 0) {
		ar->format = ARCHIVE_FORMAT;
		rc = 0;
	}
	free(content);
	free(tmp);
	free(path);
	return rc;
}

/* try_writer_lock - the exclusive right to append to the archive;
 * *busy when another open file description holds it */
int
try_writer_lock(archive *ar, bool *busy, mk_error *err)
{
	char *path = path_join(ar->dir, ARCHIVE_LOCK_FILE);
	int rc = 0;

	*busy = false;
	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if (ar->lock_fd < 0)
		ar->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ar->lock_fd < 0)
		rc = mk_error_errno(err, "open %s", path);
	else if (flock(ar->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		*busy = errno == EWOULDBLOCK;
		rc = mk_error_errno(err, "%s is in use by another writer",
				    ar->dir);
	}
	free(path);
	return rc;
}

/* take_writer_lock - the exclusive right to append to the archive */
int
take_writer_lock(archive *ar, mk_error *err)
{
	bool busy;

	return try_writer_lock(ar, &busy, err);
}

/* writer_or_forwarder - the writer lock; or, for ARCHIVE_WRITE while
 * another process holds it, a writer that takes this process's stores
 * (forward.c): ar->forwarding.  A writer that has just taken the lock
 * may not serve yet: wait for it up to FORWARD_OPEN_MS, and take the
 * lock if it goes meanwhile. */
static int
writer_or_forwarder(archive *ar, archive_mode mode, mk_error *err)
{
	int waited = 0, rc;
	mk_error why;
	bool busy;

	for (;;) {
		if (try_writer_lock(ar, &busy, err) == 0)
			return 0;
		if (!busy || mode == ARCHIVE_WRITE_ALONE)
			return -1;
		if ((rc = forward_probe(ar, &why)) == 0) {
			ar->forwarding = true;
			return 0;
		}
		if (rc == -2)	/* a writer that refuses us */
			return mk_error_set(err, "%s", why.msg);
		if (waited >= FORWARD_OPEN_MS)
			return mk_error_set(err, "%s is in use by another writer,"
					    " which takes no stores from other"
					    " processes (%s)", ar->dir, why.msg);
		poll(NULL, 0, 50);
		waited += 50;
	}
}

/* check_options - are the options usable? */
static int
check_options(const archive_options *o, mk_error *err)
{
	if (o->codec == MK_CODEC_ZLIB
	    && (o->compression < 1 || o->compression > 9))
		return mk_error_set(err, "zlib level %d is not 1 to 9",
				    o->compression);
	if (o->codec == MK_CODEC_ZSTD
	    && (o->compression < MK_ZSTD_MIN_LEVEL
		|| o->compression > MK_ZSTD_MAX_LEVEL || o->compression == 0))
		return mk_error_set(err, "zstd level %d is not %d to %d (but"
				    " 0)", o->compression, MK_ZSTD_MIN_LEVEL,
				    MK_ZSTD_MAX_LEVEL);
	if (o->codec != MK_CODEC_NONE && o->codec != MK_CODEC_ZLIB
	    && o->codec != MK_CODEC_ZSTD)
		return mk_error_set(err, "unknown compression codec %d",
				    (int)o->codec);
	if (o->checkpoint_entries < 1 || o->checkpoint_seconds < 1)
		return mk_error_set(err, "checkpoints need at least 1 entry"
				    " and 1 second");
	if (o->segment_bytes < 1)
		return mk_error_set(err, "content segments need at least"
				    " 1 byte");
	return 0;
}

/* archive_options_of - the options mailkeep.conf sets (archive.h) */
void
archive_options_of(const mk_config *cfg, archive_options *opts)
{
	*opts = (archive_options)ARCHIVE_OPTIONS_DEFAULT;
	opts->encrypt = cfg->encrypt;
	opts->codec = cfg->codec;
	opts->compression = cfg->compression;
	opts->checkpoint_entries = cfg->checkpoint_entries;
	opts->checkpoint_seconds = cfg->checkpoint_interval;
}

/* archive_open - open an existing archive with the default options */
archive *
archive_open(const char *dir, archive_mode mode, mk_error *err)
{
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;

	return archive_open_with(dir, mode, &opts, err);
}

/* writer_prepare - what a writer does before it opens the index: keep
 * the ledger open, say format 4, clear the spool */
static int
writer_prepare(archive *ar, mk_error *err)
{
	ledger_keep(ar);
	if (ar->format != ARCHIVE_FORMAT && upgrade_marker(ar, err) != 0)
		return -1;
	spool_cleanup(ar);
	return 0;
}

/* writer_start - the writer's index brought up to date, its content
 * segments and committer started, and (ARCHIVE_WRITE) its socket for
 * the stores of other processes */
static int
writer_start(archive *ar, archive_mode mode, mk_error *err)
{
	if (index_upgrade(ar, err) != 0 || index_roll_forward(ar, err) != 0
	    || content_start(ar, err) != 0 || committer_start(ar, err) != 0)
		return -1;
	if (mode == ARCHIVE_WRITE)
		forward_start(ar);
	return 0;
}

/* archive_open_with - open an existing archive for reading or writing */
archive *
archive_open_with(const char *dir, archive_mode mode,
		  const archive_options *opts, mk_error *err)
{
	archive *ar;

	if (check_options(opts, err) != 0)
		return NULL;
	ar = calloc(1, sizeof(*ar));

	if (ar == NULL || (ar->dir = strdup(dir)) == NULL) {
		free(ar);
		mk_error_set(err, "out of memory");
		return NULL;
	}
	ar->mode = mode == ARCHIVE_READ ? ARCHIVE_READ : ARCHIVE_WRITE;
	ar->opts = *opts;
	codec_pools_init(&ar->codecs);
	ar->lock_fd = -1;
	ar->records_fd = -1;
	spool_pool_init(ar);
	pthread_mutex_init(&ar->promote_lock, NULL);
	if (check_marker(dir, &ar->format, err) != 0
	    || keyring_load(&ar->keys, dir, err) != 0)
		goto fail;
	if (mode != ARCHIVE_READ && writer_or_forwarder(ar, mode, err) != 0)
		goto fail;
	if (ar->forwarding) {	/* reads here, stores at the writer */
		ar->mode = ARCHIVE_READ;
		close(ar->lock_fd);
		ar->lock_fd = -1;
	}
	if (ar->mode == ARCHIVE_WRITE && writer_prepare(ar, err) != 0)
		goto fail;
	if (index_open(ar, false, err) != 0)
		goto fail;
	if (ar->mode == ARCHIVE_WRITE && writer_start(ar, mode, err) != 0)
		goto fail;
	return ar;
fail:
	archive_close(ar);
	return NULL;
}

/* archive_close - drain and stop the committer, sign a checkpoint of
 * what it wrote, release everything */
void
archive_close(archive *ar)
{
	mk_error err;

	if (ar == NULL)
		return;
	archive_close(ar->inner);	/* the writer a forwarder became */
	forward_stop(ar);	/* its last stores go through the committer */
	committer_stop(ar);
	if (ar->mode == ARCHIVE_WRITE && ar->com.wrote)
		(void)ledger_checkpoint_due(ar, true, &err);	/* best effort */
	if (ar->mode == ARCHIVE_WRITE)
		content_stop(ar);
	ledger_close(ar);
	spool_pool_free(ar);
	index_forget(ar);
	sqlite3_close(ar->db);
	if (ar->keys.dir != NULL)
		keyring_free(&ar->keys);
	codec_pools_free(&ar->codecs);
	if (ar->records_fd >= 0)
		close(ar->records_fd);
	if (ar->lock_fd >= 0)
		close(ar->lock_fd);
	pthread_mutex_destroy(&ar->promote_lock);
	free(ar->dir);
	free(ar);
}

/* archive_rotate_keys - a new signing key and data key (archive.h) */
int
archive_rotate_keys(archive *ar, unsigned *gen_out, mk_error *err)
{
	unsigned char pub[KEYS_PUBLIC];
	unsigned gen = ar->keys.n + 1;
	char entry[256];
	const char *entries[1] = { entry };
	int64_t seq;

	if (keys_new_generation(ar->dir, gen, pub, err) != 0)
		return -1;
	keyring_free(&ar->keys);
	if (keyring_load(&ar->keys, ar->dir, err) != 0)
		return -1;
	if (ar->keys.n != gen)
		return mk_error_set(err, "keys/: generation %u did not load", gen);
	key_event("keys_rotated", gen, pub, entry, sizeof(entry));
	*gen_out = gen;
	return ledger_append(ar, entries, 1, &seq, err);
}

/* archive_public_keys - every generation's public key as PEM (archive.h) */
int
archive_public_keys(archive *ar, archive_key_fn fn, void *ctx, mk_error *err)
{
	unsigned gen;
	BIO *mem;
	char *pem;
	long len;
	int rc = 0;

	for (gen = 1; rc == 0 && gen <= ar->keys.n; gen++) {
		if ((mem = BIO_new(BIO_s_mem())) == NULL
		    || PEM_write_bio_PUBKEY(mem, ar->keys.gens[gen - 1].signing) != 1) {
			rc = mk_error_set(err, "cannot write public key %u", gen);
		} else {
			len = BIO_get_mem_data(mem, &pem);
			rc = fn(gen, pem, (size_t)len, ctx);
		}
		BIO_free(mem);
	}
	return rc;
}

/* check_path - one access(2) check of dir/rel, reported when refused */
static int
check_path(const char *dir, const char *rel, int how, const char *what,
	   archive_problem_fn problem, void *ctx)
{
	char *path = rel[0] ? path_join(dir, rel) : strdup(dir);
	int bad = path == NULL || access(path, how) != 0;

	if (bad && problem != NULL)
		problem("archive", path ? path : rel, what, ctx);
	free(path);
	return bad;
}

/* check_keys - every file of keys/ opens for reading */
static int
check_keys(const char *dir, archive_problem_fn problem, void *ctx)
{
	char *keys = path_join(dir, "keys");
	struct dirent *de;
	int bad = 0;
	DIR *d = keys != NULL ? opendir(keys) : NULL;

	if (d == NULL) {
		bad = 1;
		if (problem != NULL)
			problem("archive", keys ? keys : "keys", "cannot be read:"
				" the keys are out of reach", ctx);
	}
	while (d != NULL && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			bad += check_path(keys, de->d_name, R_OK, "key file cannot"
					  " be read", problem, ctx);
	if (d != NULL)
		closedir(d);
	free(keys);
	return bad;
}

/* archive_check_access - can this process use the archive as a writer
 * (archive.h) */
int
archive_check_access(const char *dir, archive_problem_fn problem, void *ctx)
{
	static const char *const files[] = { ARCHIVE_LEDGER_FILE,
		ARCHIVE_CHECKPOINT_FILE, ARCHIVE_INDEX_FILE, ARCHIVE_LOCK_FILE,
		NULL };
	int i, bad;

	if (check_path(dir, "", R_OK | W_OK | X_OK, "is not a directory this"
		       " account can write", problem, ctx) != 0)
		return 1;
	bad = check_path(dir, ARCHIVE_MARKER, R_OK, "cannot be read (is this"
			 " an archive? mailkeep init makes one)", problem, ctx);
	for (i = 0; subdirs[i] != NULL; i++)
		bad += check_path(dir, subdirs[i], strcmp(subdirs[i], "keys") == 0
				  ? R_OK | X_OK : R_OK | W_OK | X_OK,
				  "directory cannot be written (or read)",
				  problem, ctx);
	for (i = 0; files[i] != NULL; i++)	/* a writer makes those missing */
		if (check_path(dir, files[i], F_OK, "", NULL, NULL) == 0)
			bad += check_path(dir, files[i], R_OK | W_OK, "cannot be"
					  " written (or read)", problem, ctx);
	return bad + check_keys(dir, problem, ctx);
}
