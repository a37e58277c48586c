/*
 * source.c - open a source, walk its files, hand over one message a call.
 *
 * NAME
 *	source - mbox files, Maildirs, message files and their directories
 *
 * DESCRIPTION
 *	An mbox is one file split by mbox.c.  A Maildir and a directory of
 *	message files are walked here: a stack of directory listings, each
 *	sorted bytewise when it is read (a Maildir's cur/ and new/ are one
 *	listing), one file a call, each file one message through the
 *	message stage.  Entries are looked at with lstat() and files opened
 *	with O_NOFOLLOW | O_NONBLOCK and checked again with fstat(), so a
 *	symbolic link is never followed and a FIFO never blocks the import.
 *	import.h states what is skipped and why.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/internal.h"

/* One directory being walked: its entries, sorted. */
typedef struct walk_frame {
	char *dir;			/* NULL: names are whole paths */
	char **names;
	size_t n, i;
} walk_frame;

/* stat_us - a file's modification time in microseconds */
static int64_t
stat_us(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000
	       + st->st_mtim.tv_nsec / 1000;
}

/* by_name - qsort: bytewise name order; for a Maildir the name after
 * "cur/" or "new/", then cur/ first */
static int
by_name(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	const char *bx = strrchr(x, '/'), *by = strrchr(y, '/');
	int c = strcmp(bx ? bx + 1 : x, by ? by + 1 : y);

	return c != 0 ? c : strcmp(x, y);
}

/* frame_free - release one listing */
static void
frame_free(walk_frame *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->names[i]);
	free(f->names);
	free(f->dir);
}

/* list_add - name (prefixed) to a growing list; -1 when out of memory */
static int
list_add(walk_frame *f, size_t *cap, const char *prefix, const char *name)
{
	char **grown;

	if (f->n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		if ((grown = reallocarray(f->names, *cap, sizeof(char *))) == NULL)
			return -1;
		f->names = grown;
	}
	if (asprintf(&f->names[f->n], "%s%s", prefix, name) < 0)
		return -1;
	f->n++;
	return 0;
}

/* list_dir - the entries of dir/sub (but . and ..) into f, named
 * "sub" + name; -1 with errno */
static int
list_dir(walk_frame *f, size_t *cap, const char *dir, const char *sub)
{
	char *path;
	DIR *d;
	struct dirent *e;
	int rc = 0, saved;

	if (asprintf(&path, "%s%s%s", dir, *sub ? "/" : "", sub) < 0)
		return -1;
	d = opendir(path);
	free(path);
	if (d == NULL)
		return -1;
	errno = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			rc = list_add(f, cap, sub, e->d_name);
		errno = 0;
	}
	saved = rc != 0 ? ENOMEM : errno;
	closedir(d);
	errno = saved;
	return saved != 0 ? -1 : 0;
}

/* push - a new listing on the source's stack; -1 when out of memory */
static walk_frame *
push(import_source *s)
{
	walk_frame *grown;

	if (s->depth == s->frames_cap) {
		s->frames_cap = s->frames_cap ? 2 * s->frames_cap : 8;
		grown = reallocarray(s->frames, s->frames_cap, sizeof(*grown));
		if (grown == NULL)
			return NULL;
		s->frames = grown;
	}
	memset(&s->frames[s->depth], 0, sizeof(walk_frame));
	return &s->frames[s->depth++];
}

/* pop - drop the top listing */
static void
pop(import_source *s)
{
	frame_free(&s->frames[--s->depth]);
}

/* push_dir - dir's sorted listing (sub: "" or Maildir's "cur/", "new/"
 * read together) on the stack; -1 with errno */
static int
push_dir(import_source *s, const char *dir, const char *const *subs)
{
	walk_frame *f = push(s);
	size_t cap = 0;
	int saved;

	if (f == NULL)
		return errno = ENOMEM, -1;
	if ((f->dir = strdup(dir)) == NULL)
		errno = ENOMEM;
	for (; f->dir != NULL && *subs != NULL; subs++)
		if (list_dir(f, &cap, dir, *subs) != 0)
			break;
	if (f->dir == NULL || *subs != NULL) {
		saved = errno;
		pop(s);
		errno = saved;
		return -1;
	}
	if (f->n > 1)
		qsort(f->names, f->n, sizeof(char *), by_name);
	return 0;
}

/* skip_entry - begin and skip for one path; 1, or -1 when stopped */
static int
skip_entry(import_source *s, const import_sink *sink, void *ctx,
	   const char *path, const char *reason, mk_error *err)
{
	import_origin o = { .path = path };

	msg_begin(&s->m, sink, ctx, &o, 0);
	if (msg_finish(&s->m, reason) != 0)
		return mk_error_set(err, "stopped by the caller");
	return 1;
}

/* skip_errno - skip_entry with what, ": ", strerror(errno) */
static int
skip_errno(import_source *s, const import_sink *sink, void *ctx,
	   const char *path, const char *what, mk_error *err)
{
	char reason[MK_ERROR_MAX];

	snprintf(reason, sizeof(reason), "%s: %s", what, strerror(errno));
	return skip_entry(s, sink, ctx, path, reason, err);
}

/* read_file - the message of one open file through the stage */
static int
read_file(import_source *s, const import_sink *sink, void *ctx, FILE *f,
	  const char *path, int64_t mtime, mk_error *err)
{
	import_origin o = { .path = path };
	char reason[MK_ERROR_MAX] = "";
	size_t avail;

	s->rd.f = f;
	s->rd.pos = s->rd.len = 0;
	s->rd.off = 0;
	s->rd.eof = false;
	s->rd.err = 0;
	msg_begin(&s->m, sink, ctx, &o, mtime);
	while ((avail = reader_avail(&s->rd, 1)) > 0 && !s->m.stopped) {
		msg_emit(&s->m, reader_ptr(&s->rd), avail);
		reader_skip(&s->rd, avail);
	}
	if (s->rd.err != 0)
		snprintf(reason, sizeof(reason), "truncated: read error: %s",
			 strerror(s->rd.err));
	if (msg_finish(&s->m, *reason ? reason : NULL) != 0)
		return mk_error_set(err, s->m.nomem ? "out of memory"
				    : "stopped by the caller");
	return 1;
}

/* open_file - one message file (a symbolic link followed only when
 * follow: the path the user named); 1, or -1 when stopped */
static int
open_file(import_source *s, const import_sink *sink, void *ctx,
	  const char *path, bool follow, mk_error *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC
		      | (follow ? 0 : O_NOFOLLOW));
	struct stat st;
	FILE *f;
	int rc;

	if (fd < 0)
		return skip_errno(s, sink, ctx, path, "cannot open", err);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = errno;
		close(fd);
		errno = rc;
		return S_ISREG(st.st_mode) ? skip_errno(s, sink, ctx, path,
			"cannot read", err) : skip_entry(s, sink, ctx, path,
			"not a regular file", err);
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return skip_errno(s, sink, ctx, path, "cannot read", err);
	}
	rc = read_file(s, sink, ctx, f, path, stat_us(&st), err);
	fclose(f);
	s->rd.f = NULL;
	return rc;
}

/* entry - one entry of the top listing: a message, a skip, or a
 * directory pushed (0) */
static int
entry(import_source *s, const import_sink *sink, void *ctx, mk_error *err)
{
	static const char *const here[] = { "", NULL };
	walk_frame *f = &s->frames[s->depth - 1];
	const char *name = f->names[f->i++], *base = strrchr(name, '/');
	struct stat st;

	free(s->cur_path);
	s->cur_path = NULL;
	if (f->dir != NULL && asprintf(&s->cur_path, "%s/%s", f->dir, name) < 0)
		return mk_error_set(err, "out of memory");
	if (f->dir == NULL && (s->cur_path = strdup(name)) == NULL)
		return mk_error_set(err, "out of memory");
	base = base ? base + 1 : name;
	if (f->dir != NULL && base[0] == '.')
		return skip_entry(s, sink, ctx, s->cur_path, "hidden file", err);
	if ((f->dir != NULL ? lstat(s->cur_path, &st) : stat(s->cur_path, &st))
	    != 0)
		return skip_errno(s, sink, ctx, s->cur_path, "cannot read", err);
	if (S_ISDIR(st.st_mode) && s->kind == IMPORT_EML) {
		if (s->depth > IMPORT_MAX_DEPTH)
			return skip_entry(s, sink, ctx, s->cur_path,
					  "directory too deep", err);
		if (push_dir(s, s->cur_path, here) != 0)
			return skip_errno(s, sink, ctx, s->cur_path,
					  "cannot read directory", err);
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return skip_entry(s, sink, ctx, s->cur_path,
				  "not a regular file", err);
	return open_file(s, sink, ctx, s->cur_path, f->dir == NULL, err);
}

/* walk_next - the next message of a directory walk */
static int
walk_next(import_source *s, const import_sink *sink, void *ctx, mk_error *err)
{
	int rc;

	while (s->depth > 0) {
		if (s->frames[s->depth - 1].i == s->frames[s->depth - 1].n) {
			pop(s);
			continue;
		}
		if ((rc = entry(s, sink, ctx, err)) != 0)
			return rc;
	}
	return 0;
}

/* source_new - an empty source of kind for path; NULL when out of memory */
static import_source *
source_new(import_kind kind, const char *path)
{
	import_source *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->kind = kind;
	if ((s->path = strdup(path)) == NULL || msg_init(&s->m) != 0
	    || reader_init(&s->rd, NULL) != 0) {
		import_source_close(s);
		return NULL;
	}
	return s;
}

/* open_mbox - an mbox file */
static import_source *
open_mbox(const char *path, mk_error *err)
{
	FILE *f = fopen(path, "re");
	struct stat st;

	if (f == NULL) {
		mk_error_errno(err, "%s", path);
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		mk_error_set(err, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	return import_source_open_stream(f, path, stat_us(&st), err);
}

/* open_dir - a Maildir, or an EML file or directory */
static import_source *
open_dir(import_kind kind, const char *path, mk_error *err)
{
	static const char *const maildir[] = { "cur/", "new/", NULL };
	static const char *const here[] = { "", NULL };
	import_source *s;
	struct stat st, cur, nw;
	char *c = NULL, *n = NULL;
	walk_frame *f;

	if (stat(path, &st) != 0) {
		mk_error_errno(err, "%s", path);
		return NULL;
	}
	if (kind == IMPORT_MAILDIR) {
		if (asprintf(&c, "%s/cur", path) < 0 || asprintf(&n, "%s/new", path) < 0
		    || !S_ISDIR(st.st_mode) || stat(c, &cur) != 0 || stat(n, &nw) != 0
		    || !S_ISDIR(cur.st_mode) || !S_ISDIR(nw.st_mode)) {
			free(c);
			free(n);
			mk_error_set(err, "%s: not a Maildir (no cur/ and new/)", path);
			return NULL;
		}
		free(c);
		free(n);
	} else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		mk_error_set(err, "%s: not a file or directory", path);
		return NULL;
	}
	if ((s = source_new(kind, path)) == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if (S_ISREG(st.st_mode)) {
		if ((f = push(s)) == NULL || (f->names = malloc(sizeof(char *))) == NULL
		    || (f->names[0] = strdup(path)) == NULL) {
			import_source_close(s);
			mk_error_set(err, "out of memory");
			return NULL;
		}
		f->n = 1;
		return s;
	}
	if (push_dir(s, path, kind == IMPORT_MAILDIR ? maildir : here) != 0) {
		mk_error_errno(err, "%s", path);
		import_source_close(s);
		return NULL;
	}
	return s;
}

/* import_source_open_stream - an mbox read from f (owned from now on,
 * also on failure: fclose()d) named name, of mtime */
import_source *
import_source_open_stream(FILE *f, const char *name, int64_t mtime,
			  mk_error *err)
{
	import_source *s = source_new(IMPORT_MBOX, name);

	if (s == NULL) {
		fclose(f);
		mk_error_set(err, "out of memory");
		return NULL;
	}
	s->rd.f = f;
	s->mtime = mtime;
	return s;
}

/* import_source_open - open path as a source of kind */
import_source *
import_source_open(import_kind kind, const char *path, mk_error *err)
{
	if (kind == IMPORT_MBOX)
		return open_mbox(path, err);
	if (kind == IMPORT_MAILDIR || kind == IMPORT_EML)
		return open_dir(kind, path, err);
	mk_error_set(err, "unknown kind of source %d", (int)kind);
	return NULL;
}

/* import_next - hand the next message (or skip) to sink */
int
import_next(import_source *src, const import_sink *sink, void *ctx,
	    mk_error *err)
{
	if (src->kind == IMPORT_MBOX)
		return mbox_next(src, sink, ctx, err);
	return walk_next(src, sink, ctx, err);
}

/* import_source_close - release src */
void
import_source_close(import_source *src)
{
	if (src == NULL)
		return;
	if (src->kind == IMPORT_MBOX && src->rd.f != NULL)
		fclose(src->rd.f);
	while (src->depth > 0)
		pop(src);
	free(src->frames);
	reader_free(&src->rd);
	msg_free(&src->m);
	free(src->from_sender);
	free(src->failed);
	free(src->cur_path);
	free(src->path);
	free(src);
}
