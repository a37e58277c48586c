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

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define ARCHIVE_MARKER		"FORMAT"
#define ARCHIVE_MARKER_TEXT	"mailkeep archive 1\n"

static const char *const subdirs[] = {
	"blobs", "records", "ledger", "spool", "keys", NULL
};

/* make_dirs - the archive directory and its fixed subdirectories */
static int
make_dirs(const char *dir, mk_error *err)
{
	char rel[16], *path;
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
	for (i = 0; rc == 0 && i < 256; i++) {
		snprintf(rel, sizeof(rel), "blobs/%02x", i);
		if ((path = path_join(dir, rel)) == NULL)
			return mk_error_set(err, "out of memory");
		if (mkdir_if_missing(path, 0700) != 0)
			rc = mk_error_errno(err, "mkdir %s", path);
		free(path);
	}
	return rc;
}

/* write_new_file - create dir/name (mode 0600) holding len bytes, fsynced */
static int
write_new_file(const char *dir, const char *name, const void *buf,
	       size_t len, mk_error *err)
{
	char *path = path_join(dir, name);
	int fd, rc = 0;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = mk_error_errno(err, "create %s", path);
	else if (write_all(fd, buf, len) != 0 || fsync(fd) != 0)
		rc = mk_error_errno(err, "write %s", path);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* make_signing_key - a new Ed25519 private key as PEM in keys/ */
static int
make_signing_key(const char *dir, mk_error *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *mem = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int rc;

	if (key == NULL || mem == NULL
	    || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = mk_error_set(err, "cannot generate an Ed25519 key");
	} else {
		len = BIO_get_mem_data(mem, &pem);
		rc = write_new_file(dir, "keys/signing-1.pem", pem,
				    (size_t)len, err);
	}
	BIO_free(mem);
	EVP_PKEY_free(key);
	return rc;
}

/* make_data_key - 32 random bytes for AES-256-GCM in keys/ */
static int
make_data_key(const char *dir, mk_error *err)
{
	unsigned char key[32];
	int rc;

	if (RAND_priv_bytes(key, sizeof(key)) != 1)
		return mk_error_set(err, "no randomness for a data key");
	rc = write_new_file(dir, "keys/data-1.key", key, sizeof(key), err);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* archive_create - make a new, empty archive at dir */
int
archive_create(const char *dir, mk_error *err)
{
	archive ar = { .dir = (char *)dir, .lock_fd = -1, .records_fd = -1 };
	const char *entry = "\"event\":\"created\",\"format\":1";
	char *marker = path_join(dir, ARCHIVE_MARKER);
	int64_t seq;
	int exists, rc;

	if (marker == NULL)
		return mk_error_set(err, "out of memory");
	exists = access(marker, F_OK) == 0;
	free(marker);
	if (exists)
		return mk_error_set(err, "%s is already a mailkeep archive", dir);
	rc = make_dirs(dir, err);
	if (rc == 0)
		rc = make_signing_key(dir, err);
	if (rc == 0)
		rc = make_data_key(dir, err);
	if (rc == 0)
		rc = index_open(&ar, true, err);
	sqlite3_close(ar.db);
	if (rc == 0)
		rc = ledger_append(dir, &entry, 1, &seq, err);
	if (rc == 0)	/* last: the marker says the archive is whole */
		rc = write_new_file(dir, ARCHIVE_MARKER, ARCHIVE_MARKER_TEXT,
				    strlen(ARCHIVE_MARKER_TEXT), err);
	if (rc == 0)
		rc = fsync_path(dir, err);
	return rc;
}

/* check_marker - is dir a mailkeep archive of a format we read? */
static int
check_marker(const char *dir, mk_error *err)
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
	if (strcmp(buf, ARCHIVE_MARKER_TEXT) != 0)
		return mk_error_set(err, "%s: unknown archive format", dir);
	return 0;
}

/* take_writer_lock - the exclusive right to append to the archive */
static int
take_writer_lock(archive *ar, mk_error *err)
{
	char *path = path_join(ar->dir, ARCHIVE_LOCK_FILE);
	int rc = 0;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	ar->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ar->lock_fd < 0)
		rc = mk_error_errno(err, "open %s", path);
	else if (flock(ar->lock_fd, LOCK_EX | LOCK_NB) != 0)
		rc = mk_error_errno(err, "%s is in use by another writer",
				    ar->dir);
	free(path);
	return rc;
}

/* archive_open - open an existing archive for reading or writing */
archive *
archive_open(const char *dir, archive_mode mode, mk_error *err)
{
	archive *ar = calloc(1, sizeof(*ar));

	if (ar == NULL || (ar->dir = strdup(dir)) == NULL) {
		free(ar);
		mk_error_set(err, "out of memory");
		return NULL;
	}
	ar->mode = mode;
	ar->lock_fd = -1;
	ar->records_fd = -1;
	if (check_marker(dir, err) != 0)
		goto fail;
	if (mode == ARCHIVE_WRITE && take_writer_lock(ar, err) != 0)
		goto fail;
	if (mode == ARCHIVE_WRITE)
		spool_cleanup(ar);
	if (index_open(ar, false, err) != 0)
		goto fail;
	if (mode == ARCHIVE_WRITE && committer_start(ar, err) != 0)
		goto fail;
	return ar;
fail:
	archive_close(ar);
	return NULL;
}

/* archive_close - drain and stop the committer, release everything */
void
archive_close(archive *ar)
{
	if (ar == NULL)
		return;
	committer_stop(ar);
	sqlite3_close(ar->db);
	if (ar->records_fd >= 0)
		close(ar->records_fd);
	if (ar->lock_fd >= 0)
		close(ar->lock_fd);
	free(ar->dir);
	free(ar);
}
