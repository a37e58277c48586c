/*
 * fuzz_verify_export.c - libFuzzer target for verify-export, the check of
 * an export someone else hands over.
 *
 * NAME
 *	fuzz_verify_export - run discovery_export_verify() on an export
 *	made of arbitrary bytes
 *
 * SYNOPSIS
 *	make fuzz-verify-export [FUZZ_SECONDS=60]
 *	tests/fuzz/fuzz_verify_export [libFuzzer options] CORPUS_DIR...
 *	MAILKEEP_FUZZ_VERBOSE=1 tests/fuzz/fuzz_verify_export INPUT...
 *
 * DESCRIPTION
 *	mailkeep verify-export reads a directory, or a zip, that came from
 *	elsewhere: its manifest rows, the records and proofs in them,
 *	keys.pem, the messages and the mbox are all untrusted.  An input is
 *	a whole export in a small container format:
 *
 *	  byte 0      how: (byte & 3) 1 - the members are packed into a zip
 *	              (libarchive, in input order, names as given: "../x",
 *	              duplicates and a NAME/ directory entry included);
 *	              2 - the member "@zip" is the zip file itself; 0 or 3 -
 *	              the members are files of a directory (NAME or
 *	              DIR/NAME of [A-Za-z0-9._-], not "." or "..", NAME/ a
 *	              directory; other names are skipped).  (byte & 4): the
 *	              keys are pinned, the member "@keys" is what --keys
 *	              gives ("" without one).
 *	  members     each starts with a line "==> NAME"; its content is
 *	              every byte after that line up to the newline before
 *	              the next "==> " line, or to the end of the input
 *	              (bytes before the first such line are skipped).
 *
 *	Names starting with '@' are never files of the export.  The export
 *	is written afresh (no fsync) in a directory made once - in /dev/shm
 *	when there is one, else in $TMPDIR or /tmp - verified, and removed.
 *	Besides the sanitizers, the target checks what discovery.h and
 *	verify_export.c promise: 0 (it could look) exactly when err is
 *	empty; one problem() call for every problem counted, of a known
 *	kind, its object and detail printable ASCII; progress() counts the
 *	rows; no more rows with content than rows; and nothing is left in
 *	the temporary directory a zip is taken apart in ($TMPDIR is set to
 *	one of the target's own).  A broken promise aborts, which libFuzzer
 *	reports as a crash.  MAILKEEP_FUZZ_VERBOSE prints each input's
 *	problems and stats (to check what a seed reaches).
 *	Seeds: tests/fuzz/corpus/verify_export/, made by
 *	tests/fuzz/seed_verify_export.c; words: tests/fuzz/verify_export.dict.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discovery/discovery.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MEMBERS	256
#define MAX_NAME	200

/* One member of an input. */
typedef struct member {
	char name[MAX_NAME + 1];
	const uint8_t *data;
	size_t len;
} member;

/* What the callbacks saw. */
typedef struct seen {
	uint64_t problems, progress;
} seen;

static char base[PATH_MAX];	/* made once */
static char tree[PATH_MAX];	/* base/export: the export directory */
static char zip[PATH_MAX];	/* base/export.zip */
static char tmp[PATH_MAX];	/* base/tmp: $TMPDIR while verifying */
static int verbose;

/* require - abort, naming the line, when a promise does not hold */
#define require(ok) require_at((ok), __LINE__)

/* require_at - what require() calls */
static void
require_at(int ok, int line)
{
	if (!ok) {
		fprintf(stderr, "fuzz_verify_export.c:%d: promise broken\n", line);
		abort();
	}
}

/* remove_one - nftw: remove a file or an emptied directory */
static int
remove_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p) == 0 || errno == ENOENT ? 0 : -1;
}

/* LLVMFuzzerInitialize - the scratch directory, once: in /dev/shm when
 * there is one (a tmpfs: on ext4, allocating the inodes of the files
 * made and removed for every input took most of the time), else in
 * $TMPDIR or /tmp */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *t = getenv("TMPDIR");

	(void)argc, (void)argv;
	if (access("/dev/shm", W_OK | X_OK) == 0)
		t = "/dev/shm";
	snprintf(base, sizeof(base), "%s/mailkeep-fuzz-vx-XXXXXX",
		 t && *t ? t : "/tmp");
	require(mkdtemp(base) != NULL);
	snprintf(tree, sizeof(tree), "%s/export", base);
	snprintf(zip, sizeof(zip), "%s/export.zip", base);
	snprintf(tmp, sizeof(tmp), "%s/tmp", base);
	require(mkdir(tmp, 0700) == 0);
	require(setenv("TMPDIR", tmp, 1) == 0);
	verbose = getenv("MAILKEEP_FUZZ_VERBOSE") != NULL;
	return 0;
}

/* cleanup_base - at exit: the scratch directory goes */
static void __attribute__((destructor))
cleanup_base(void)
{
	if (base[0] != '\0')
		nftw(base, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* split - the members of the input after its first byte; how many */
static size_t
split(const uint8_t *p, size_t len, member *m)
{
	const uint8_t *end = p + len, *name, *nl, *next;
	size_t n = 0, k;

	if (len < 4 || memcmp(p, "==> ", 4) != 0) {
		next = memmem(p, len, "\n==> ", 5);
		p = next ? next + 1 : end;
	}
	while (p < end && n < MAX_MEMBERS) {
		name = p + 4;
		nl = name < end ? memchr(name, '\n', (size_t)(end - name)) : NULL;
		if (nl == NULL)
			nl = end;
		k = (size_t)(nl - name) < MAX_NAME ? (size_t)(nl - name) : MAX_NAME;
		memcpy(m[n].name, name, k);
		m[n].name[k] = '\0';
		next = nl < end ? memmem(nl, (size_t)(end - nl), "\n==> ", 5) : NULL;
		m[n].data = nl < end ? nl + 1 : end;
		m[n].len = next == NULL ? (size_t)(end - m[n].data)
		    : next > nl ? (size_t)(next - m[n].data) : 0;
		n++;
		p = next ? next + 1 : end;
	}
	return n;
}

/* find - the member called name, or NULL */
static const member *
find(const member *m, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(m[i].name, name) == 0)
			return &m[i];
	return NULL;
}

/* write_file - len bytes into a new file at path (no fsync); 0 or -1 */
static int
write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t w = 0;
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len && (w = write(fd, data + off, len - off)) > 0)
		off += (size_t)w;
	close(fd);
	return off == len ? 0 : -1;
}

/* safe_component - [A-Za-z0-9._-]+ of n bytes, not "." or ".." */
static int
safe_component(const char *s, size_t n)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._-";
	size_t i;

	if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.'
						  && s[1] == '.'))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
			return 0;
	return 1;
}

/* make_tree - the members as files of the export directory */
static void
make_tree(const member *m, size_t n)
{
	char path[PATH_MAX + MAX_NAME + 2];
	const char *slash;
	size_t i, len;

	require(mkdir(tree, 0700) == 0);
	for (i = 0; i < n; i++) {
		const char *name = m[i].name;

		len = strlen(name);
		if (name[0] == '@' || len == 0)
			continue;
		slash = strchr(name, '/');
		if (slash == NULL) {
			if (!safe_component(name, len))
				continue;
		} else if (!safe_component(name, (size_t)(slash - name))
			   || (slash[1] != '\0'
			       && !safe_component(slash + 1, strlen(slash + 1))))
			continue;
		snprintf(path, sizeof(path), "%s/%.*s", tree,
			 (int)(slash ? slash - name : (ptrdiff_t)len), name);
		if (slash == NULL) {
			write_file(path, m[i].data, m[i].len);
			continue;
		}
		mkdir(path, 0700);
		if (slash[1] != '\0') {
			snprintf(path, sizeof(path), "%s/%s", tree, name);
			write_file(path, m[i].data, m[i].len);
		}
	}
}

/* make_zip - the members as entries of a zip, names as they are */
static void
make_zip(const member *m, size_t n)
{
	struct archive *za = archive_write_new();
	struct archive_entry *e;
	size_t i, len;

	require(za != NULL && archive_write_set_format_zip(za) == ARCHIVE_OK);
	archive_write_set_options(za, "zip:compression=store");
	require(archive_write_open_filename(za, zip) == ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		len = strlen(m[i].name);
		if (m[i].name[0] == '@')
			continue;
		require((e = archive_entry_new()) != NULL);
		archive_entry_set_pathname(e, m[i].name);
		if (len > 0 && m[i].name[len - 1] == '/') {
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0700);
			archive_entry_set_size(e, 0);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0600);
			archive_entry_set_size(e, (la_int64_t)m[i].len);
		}
		if (archive_write_header(za, e) >= ARCHIVE_WARN
		    && archive_entry_filetype(e) == AE_IFREG)
			archive_write_data(za, m[i].data, m[i].len);
		archive_entry_free(e);
	}
	archive_write_close(za);
	archive_write_free(za);
}

/* printable - is s printable ASCII (what a terminal shows as it is)? */
static int
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* on_problem - archive_problem_fn: a known kind, printable text */
static void
on_problem(const char *kind, const char *object, const char *detail,
	   void *ctx)
{
	static const char *kinds[] = { "missing", "added", "content",
				       "signature", "proof", "checkpoint",
				       "keys", "manifest" };
	seen *s = ctx;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kind != NULL && strcmp(kind, kinds[i]) == 0)
			break;
	require(i < sizeof(kinds) / sizeof(kinds[0]));
	require(object != NULL && printable(object));
	require(detail != NULL && detail[0] != '\0' && printable(detail));
	s->problems++;
	if (verbose)
		fprintf(stderr, "PROBLEM %s %s: %s\n", kind, object, detail);
}

/* on_progress - archive_progress_fn: rows, one at a time */
static void
on_progress(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	seen *s = ctx;

	require(strcmp(phase, "messages") == 0 && total == 0);
	require(done >= s->progress);
	s->progress = done;
}

/* tmp_is_empty - nothing left where a zip is taken apart */
static int
tmp_is_empty(void)
{
	DIR *d = opendir(tmp);
	struct dirent *de;
	int empty = 1;

	require(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

/* LLVMFuzzerTestOneInput - one export: write it, verify it, remove it */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static member m[MAX_MEMBERS];
	discovery_export_stats st;
	const member *keys, *z;
	const char *path;
	char *pinned = NULL;
	seen s = { 0, 0 };
	mk_error err;
	size_t n;
	int rc;

	if (size == 0)
		return 0;
	n = split(data + 1, size - 1, m);
	if (data[0] & 4) {
		keys = find(m, n, "@keys");
		pinned = keys ? strndup((const char *)keys->data, keys->len)
		    : strdup("");
		require(pinned != NULL);
	}
	switch (data[0] & 3) {
	case 1:
		make_zip(m, n);
		path = zip;
		break;
	case 2:
		z = find(m, n, "@zip");
		require(write_file(zip, z ? z->data : NULL, z ? z->len : 0) == 0);
		path = zip;
		break;
	default:
		make_tree(m, n);
		path = tree;
	}
	rc = discovery_export_verify(path, pinned, on_problem, on_progress, &s,
				     &st, &err);
	if (verbose)
		fprintf(stderr, "rc %d%s%s: %llu messages, %llu with content,"
			" %llu bytes, %llu problems\n", rc, rc ? " " : "",
			rc ? err.msg : "", (unsigned long long)st.messages,
			(unsigned long long)st.content,
			(unsigned long long)st.bytes,
			(unsigned long long)st.problems);
	require(rc == 0 || rc == -1);
	require((rc == 0) == (err.msg[0] == '\0'));
	require(st.problems == s.problems);
	require(st.content <= st.messages);
	require(s.progress == (rc == 0 ? st.messages : s.progress));
	require(tmp_is_empty());
	nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	unlink(zip);
	free(pinned);
	return 0;
}
