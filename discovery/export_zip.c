/*
 * export_zip.c - an export's tree into a .zip and back, with libarchive.
 *
 * NAME
 *	export_zip - export_zip_pack(), export_zip_unpack()
 *
 * DESCRIPTION
 *	A zip export is the eml tree (FORMAT.md, section 9) in one .zip
 *	file.  The writer makes the tree in a directory beside the target,
 *	then export_zip_pack() streams each file into the zip (64 KiB at a
 *	time: memory does not grow with the export) and fsyncs it.
 *
 *	export_zip_unpack() takes a zip apart into a new private temporary
 *	directory for verify-export, writing at most ZIP_MAX_RATIO times the
 *	zip's size plus ZIP_SLACK (a zip bomb is refused, not unpacked).  Only regular files named like an
 *	export's files are written ("NAME" or "messages/NAME", NAME of
 *	letters, digits, '.', '_', '-', not starting with '.'); any other
 *	entry is reported as added and skipped, so no path of the zip can
 *	reach outside the directory.
 *
 * DIAGNOSTICS
 *	-1 with the problem in err.  Nothing prints.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "discovery/exportrow.h"

#define ZIP_CHUNK	65536
/* What verify-export unpacks a zip into at most: ZIP_MAX_RATIO times the
 * zip's size (mail packs 2-5 times), plus ZIP_SLACK for highly
 * compressible messages (one repeated byte packs a thousandfold); a zip
 * bomb stops there, and an export beyond it is verified unpacked. */
#define ZIP_MAX_RATIO	100
#define ZIP_SLACK	((uint64_t)1 << 30)

/* add_file - one file of the tree as entry name */
static int
add_file(struct archive *za, const char *tree, const char *name,
	 mk_error *err)
{
	struct archive_entry *e;
	char *p, *buf = NULL;
	struct stat st;
	ssize_t n = 0;
	int fd, rc = 0;

	if (asprintf(&p, "%s/%s", tree, name) < 0)
		return mk_error_set(err, "out of memory");
	if ((fd = open(p, O_RDONLY)) < 0 || fstat(fd, &st) != 0) {
		rc = mk_error_set(err, "%s: %s", p, strerror(errno));
		goto out;
	}
	if ((e = archive_entry_new()) == NULL || (buf = malloc(ZIP_CHUNK)) == NULL) {
		archive_entry_free(e);
		rc = mk_error_set(err, "out of memory");
		goto out;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, st.st_size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	if (archive_write_header(za, e) != ARCHIVE_OK)
		rc = mk_error_set(err, "zip: %s", archive_error_string(za));
	while (rc == 0 && (n = read(fd, buf, ZIP_CHUNK)) > 0)
		if (archive_write_data(za, buf, (size_t)n) != n)
			rc = mk_error_set(err, "zip: %s", archive_error_string(za));
	if (rc == 0 && n < 0)
		rc = mk_error_set(err, "%s: %s", p, strerror(errno));
	archive_entry_free(e);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(p);
	return rc;
}

/* add_messages - every file of the tree's messages/ */
static int
add_messages(struct archive *za, const char *tree, mk_error *err)
{
	char *p, *name;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (asprintf(&p, "%s/messages", tree) < 0)
		return mk_error_set(err, "out of memory");
	if ((d = opendir(p)) == NULL)
		rc = mk_error_set(err, "%s: %s", p, strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&name, "messages/%s", de->d_name) < 0)
			return closedir(d), free(p), mk_error_set(err, "out of memory");
		rc = add_file(za, tree, name, err);
		free(name);
	}
	if (d != NULL)
		closedir(d);
	free(p);
	return rc;
}

/* export_zip_pack - the tree at dir into a new zip file at zip, fsync'ed */
int
export_zip_pack(const char *tree, const char *zip, mk_error *err)
{
	static const char *top[] = { "README.txt", "keys.pem", "custody.json",
				     "manifest.json", "manifest.csv",
				     "edrm.xml" };
	struct archive *za = archive_write_new();
	size_t i;
	int rc = 0, fd;

	if (za == NULL || archive_write_set_format_zip(za) != ARCHIVE_OK
	    || archive_write_open_filename(za, zip) != ARCHIVE_OK)
		rc = mk_error_set(err, "%s: %s", zip, za ? archive_error_string(za)
				  : "out of memory");
	for (i = 0; rc == 0 && i < sizeof(top) / sizeof(top[0]); i++)
		rc = add_file(za, tree, top[i], err);
	if (rc == 0)
		rc = add_messages(za, tree, err);
	if (za != NULL && archive_write_close(za) != ARCHIVE_OK && rc == 0)
		rc = mk_error_set(err, "%s: %s", zip, archive_error_string(za));
	archive_write_free(za);
	if (rc == 0 && ((fd = open(zip, O_RDONLY)) < 0 || fsync(fd) != 0
			|| close(fd) != 0))
		rc = mk_error_set(err, "%s: %s", zip, strerror(errno));
	return rc;
}

/* safe_name - "NAME" or "messages/NAME", NAME of [A-Za-z0-9._-], not
 * starting with '.' */
static bool
safe_name(const char *name)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._-";
	const char *base = strncmp(name, "messages/", 9) == 0 ? name + 9 : name;

	return base[0] != '.' && base[0] != '\0' && strspn(base, ok) == strlen(base);
}

/* extract_entry - the current entry's data into dir/name, at most
 * *left bytes (what it writes is taken off) */
static int
extract_entry(struct archive *za, const char *dir, const char *name,
	      uint64_t *left, mk_error *err)
{
	char *p, *sub;
	const void *buf;
	size_t len;
	la_int64_t off;
	FILE *f;
	int r, rc = 0;

	if (strncmp(name, "messages/", 9) == 0 && asprintf(&sub, "%s/messages",
							    dir) >= 0) {
		mkdir(sub, 0700);
		free(sub);
	}
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return mk_error_set(err, "out of memory");
	if ((f = fopen(p, "wx")) == NULL)
		rc = mk_error_set(err, "%s: %s", p, strerror(errno));
	while (rc == 0 && (r = archive_read_data_block(za, &buf, &len, &off))
	       == ARCHIVE_OK) {
		if (len > *left)
			rc = mk_error_set(err, "zip: it unpacks to more than %d"
					  " times its size and 1 GiB (a zip"
					  " bomb?); nothing was checked",
					  ZIP_MAX_RATIO);
		else if (fwrite(buf, 1, len, f) != len)
			rc = mk_error_set(err, "%s: %s", p, strerror(errno));
		else
			*left -= len;
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = mk_error_set(err, "zip: %s", archive_error_string(za));
	if (f != NULL && fclose(f) != 0 && rc == 0)
		rc = mk_error_set(err, "%s: %s", p, strerror(errno));
	free(p);
	return rc;
}

/* export_zip_unpack - zip's export files into a new temporary directory
 * (malloc'ed name, the caller removes it); entries that are not an
 * export's go to added(name, ctx) */
char *
export_zip_unpack(const char *zip, void (*added)(const char *, void *),
		  void *ctx, mk_error *err)
{
	const char *tmp = getenv("TMPDIR");
	struct archive *za = archive_read_new();
	struct archive_entry *e;
	char *dir = NULL;
	uint64_t left = ZIP_SLACK;
	struct stat sb;
	int r, rc = 0;

	if (stat(zip, &sb) == 0)
		left += (uint64_t)sb.st_size * ZIP_MAX_RATIO;
	if (za == NULL || asprintf(&dir, "%s/mailkeep-verify-XXXXXX",
				   tmp && *tmp ? tmp : "/tmp") < 0
	    || mkdtemp(dir) == NULL) {
		mk_error_set(err, "temporary directory: %s", strerror(errno));
		archive_read_free(za);
		free(dir);
		return NULL;
	}
	archive_read_support_format_zip(za);
	if (archive_read_open_filename(za, zip, ZIP_CHUNK) != ARCHIVE_OK)
		rc = mk_error_set(err, "%s: %s", zip, archive_error_string(za));
	while (rc == 0 && (r = archive_read_next_header(za, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);

		if (name == NULL || archive_entry_filetype(e) != AE_IFREG
		    || !safe_name(name))
			added(name ? name : "(unnamed entry)", ctx);
		else
			rc = extract_entry(za, dir, name, &left, err);
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = mk_error_set(err, "%s: %s", zip, archive_error_string(za));
	archive_read_free(za);
	if (rc == 0)
		return dir;
	export_tree_remove(dir);
	free(dir);
	return NULL;
}
