/*
 * faultinject.c - an LD_PRELOAD shim that makes chosen file-system calls
 * fail (ENOSPC, EIO, ...) or kills the process at them: the fault
 * injection of the tests in tests/faults/.  Built only as a test tool
 * (tests/tools/faultinject.so, never installed); nothing in mailkeep
 * links it or knows of it, so production cannot take its paths.
 *
 * SYNOPSIS
 *	LD_PRELOAD=tests/tools/faultinject.so \
 *	MK_FAULT='OP:PATH:NTH:ACTION[,...]' [MK_FAULT_FLAG=FILE] \
 *	[MK_FAULT_LOG=FILE] [MK_FAULT_COUNT=PATH] program ...
 *
 *	Under ASan (configure --enable-sanitizers) the sanitizer runtime
 *	must come first:  LD_PRELOAD="$(gcc -print-file-name=libasan.so)
 *	tests/tools/faultinject.so"  (tests/faults/lib.sh does this; the
 *	shim itself is built without sanitizers).
 *
 * DESCRIPTION
 *	The shim wraps, by their libc names: write, pwrite, pwrite64,
 *	writev, pwritev, pwritev64, copy_file_range (the data writes);
 *	fsync, fdatasync;
 *	rename, renameat, renameat2; link, linkat; open, open64, openat,
 *	openat64 (and the fortified __open_2 forms); ftruncate,
 *	ftruncate64.  A call's PATH is the file its descriptor names
 *	(readlink of /proc/self/fd/N, taken at the call), the path argument
 *	of open, or "OLD -> NEW" for rename and link (made absolute).  SQLite (a shared
 *	libsqlite3) calls pwrite64, fsync/fdatasync, open64 and ftruncate
 *	through these symbols, so its writes are seen as well as mailkeep's.
 *	(Calls libc makes internally, such as the open(2) of mkostemp or
 *	the write(2) of stdio, are not seen.)
 *
 *	MK_FAULT, read once at load, is a comma-separated list of rules
 *	OP:PATH:NTH:ACTION (PATH may itself hold ':'; the first field is OP,
 *	the last two NTH and ACTION):
 *	  OP	a call name above, or a group: "writes" (every data write),
 *		"syncs" (fsync, fdatasync), "renames", "links", "opens",
 *		"ftruncates", "*" (every call); several joined by '|'
 *	  PATH	a substring of the call's path (empty: any path); a
 *		trailing '$' anchors it at the end of the path
 *	  NTH	"N": the N-th matching call only (counting from 1);
 *		"N+": the N-th and every later one (a fault that persists)
 *	  ACTION  an errno name (ENOSPC, EIO, EDQUOT, EROFS, EFBIG,
 *		EINTR, EAGAIN, ENOMEM, EACCES, EPERM): the call does
 *		nothing and fails with it;
 *		"kill": SIGKILL before the call (it does not happen);
 *		"kill-after": the call is made, then SIGKILL before it returns;
 *		"torn": a data write writes the first half of its bytes, then
 *		SIGKILL (other calls: as "kill").
 *	Each rule counts the calls it matches, across threads, separately.
 *
 *	MK_FAULT_FLAG=FILE arms the rules only while FILE exists: a test
 *	removes it to end the fault ("the disk has space again") while the
 *	process runs.  Calls made while disarmed are not counted.
 *
 *	MK_FAULT_LOG=FILE receives one line for every fault the rules fire,
 *	"fired RULE OP NTH ACTION PATH" (RULE counts from 1), written before
 *	the fault takes effect; without it these lines go to stderr.
 *
 *	MK_FAULT_COUNT=PATH is the count mode: every wrapped call whose path
 *	contains PATH (empty: every call) is logged to MK_FAULT_LOG as
 *	"call OP RESULT PATH" once it returned (RESULT: the return value,
 *	or -ERRNO), so a test can enumerate the points of a commit and then
 *	kill at each one with a rule OP:PATH:NTH:kill.
 *	Fields of log lines are separated by one tab; PATH is last.
 *
 * DIAGNOSTICS
 *	A malformed MK_FAULT is reported on stderr and the process exits
 *	with status 86 at load, so a test never runs with no fault by
 *	mistake.
 */
#include "config.h"

#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FI_MAX_RULES	32
#define FI_PATH_MAX	4200

/* The groups an OP can name, as bits. */
enum {
	FI_WRITE = 1 << 0, FI_PWRITE = 1 << 1, FI_PWRITE64 = 1 << 2,
	FI_WRITEV = 1 << 3, FI_PWRITEV = 1 << 4, FI_FSYNC = 1 << 5,
	FI_FDATASYNC = 1 << 6, FI_RENAME = 1 << 7, FI_RENAMEAT = 1 << 8,
	FI_RENAMEAT2 = 1 << 9, FI_LINK = 1 << 10, FI_LINKAT = 1 << 11,
	FI_OPEN = 1 << 12, FI_OPENAT = 1 << 13, FI_FTRUNCATE = 1 << 14,
	FI_COPY = 1 << 15,
	FI_WRITES = FI_WRITE | FI_PWRITE | FI_PWRITE64 | FI_WRITEV | FI_PWRITEV
	    | FI_COPY,
	FI_SYNCS = FI_FSYNC | FI_FDATASYNC,
	FI_RENAMES = FI_RENAME | FI_RENAMEAT | FI_RENAMEAT2,
	FI_LINKS = FI_LINK | FI_LINKAT,
	FI_OPENS = FI_OPEN | FI_OPENAT,
	FI_ALL = 0xffff
};

static const struct {
	const char *name;
	unsigned bits;
} fi_ops[] = {
	{ "write", FI_WRITE }, { "pwrite", FI_PWRITE },
	{ "pwrite64", FI_PWRITE64 }, { "writev", FI_WRITEV },
	{ "pwritev", FI_PWRITEV }, { "fsync", FI_FSYNC },
	{ "fdatasync", FI_FDATASYNC }, { "rename", FI_RENAME },
	{ "renameat", FI_RENAMEAT }, { "renameat2", FI_RENAMEAT2 },
	{ "link", FI_LINK }, { "linkat", FI_LINKAT }, { "open", FI_OPEN },
	{ "openat", FI_OPENAT }, { "ftruncate", FI_FTRUNCATE },
	{ "copy_file_range", FI_COPY }, { "writes", FI_WRITES }, { "syncs", FI_SYNCS },
	{ "renames", FI_RENAMES }, { "links", FI_LINKS },
	{ "opens", FI_OPENS }, { "ftruncates", FI_FTRUNCATE }, { "*", FI_ALL },
};

static const struct {
	const char *name;
	int value;
} fi_errnos[] = {
	{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EDQUOT", EDQUOT },
	{ "EROFS", EROFS }, { "EFBIG", EFBIG }, { "EINTR", EINTR },
	{ "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES },
	{ "EPERM", EPERM },
};

enum fi_action { FI_ERRNO, FI_KILL, FI_KILL_AFTER, FI_TORN };

/* One rule of MK_FAULT. */
typedef struct fi_rule {
	unsigned ops;
	char path[256];
	bool anchored;			/* path must end the call's path */
	long nth;
	bool persist;			/* "N+" */
	enum fi_action action;
	int err;			/* FI_ERRNO: the errno */
	char action_name[16];
	atomic_long seen;		/* matching calls so far */
} fi_rule;

static fi_rule fi_rules[FI_MAX_RULES];
static int fi_n_rules;
static const char *fi_flag;		/* MK_FAULT_FLAG */
static const char *fi_count;		/* MK_FAULT_COUNT, NULL: off */
static int fi_log_fd = 2;

/* The fate of one call, as decided before it is made. */
typedef struct fi_fate {
	enum fi_action action;
	int err;
	bool fire;
} fi_fate;

/* real - the next definition of name (libc's, or the sanitizer's) */
static void *
real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		fprintf(stderr, "faultinject: no %s after the shim\n", name);
		abort();
	}
	return p;
}

/* The real functions, found on first use (and kept: a race finds the
 * same pointer twice). */
#define REAL(name) \
	static __typeof__(&name) real_##name; \
	if (real_##name == NULL) \
		real_##name = (__typeof__(&name))real(#name)

/* raw_write - write to the log with libc's write, never the shim's */
static void
raw_write(const char *buf, size_t len)
{
	static ssize_t (*w)(int, const void *, size_t);

	if (w == NULL)
		w = (ssize_t (*)(int, const void *, size_t))real("write");
	while (len > 0) {
		ssize_t n = w(fi_log_fd, buf, len);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* log_line - one line to the log, in one write */
static void
log_line(const char *fmt, ...)
{
	char buf[FI_PATH_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	raw_write(buf, (size_t)n);
}

/* die_config - a malformed MK_FAULT: say so and exit at load */
static void
die_config(const char *rule, const char *why)
{
	fprintf(stderr, "faultinject: MK_FAULT rule '%s': %s\n", rule, why);
	_exit(86);
}

/* parse_ops - OP ("name|group|...") into bits; 0 if unknown */
static unsigned
parse_ops(char *text)
{
	unsigned bits = 0, one;
	char *save = NULL, *tok;
	size_t i;

	for (tok = strtok_r(text, "|", &save); tok != NULL;
	     tok = strtok_r(NULL, "|", &save)) {
		for (one = 0, i = 0; i < sizeof(fi_ops) / sizeof(fi_ops[0]); i++)
			if (strcmp(tok, fi_ops[i].name) == 0)
				one = fi_ops[i].bits;
		if (one == 0)
			return 0;
		bits |= one;
	}
	return bits;
}

/* parse_action - ACTION into r */
static bool
parse_action(const char *text, fi_rule *r)
{
	size_t i;

	snprintf(r->action_name, sizeof(r->action_name), "%s", text);
	if (strcmp(text, "kill") == 0)
		return r->action = FI_KILL, true;
	if (strcmp(text, "kill-after") == 0)
		return r->action = FI_KILL_AFTER, true;
	if (strcmp(text, "torn") == 0)
		return r->action = FI_TORN, true;
	for (i = 0; i < sizeof(fi_errnos) / sizeof(fi_errnos[0]); i++)
		if (strcmp(text, fi_errnos[i].name) == 0) {
			r->action = FI_ERRNO;
			r->err = fi_errnos[i].value;
			return true;
		}
	return false;
}

/* parse_rule - one OP:PATH:NTH:ACTION */
static void
parse_rule(char *text, fi_rule *r)
{
	char *copy = strdup(text), *first, *last, *nth, *end;
	size_t len;

	if (copy == NULL)
		die_config(text, "out of memory");
	first = strchr(copy, ':');
	last = strrchr(copy, ':');
	if (first == NULL || last == first)
		die_config(text, "want OP:PATH:NTH:ACTION");
	*last = '\0';
	if ((nth = strrchr(copy, ':')) == first)
		die_config(text, "want OP:PATH:NTH:ACTION");
	*nth++ = '\0';
	*first = '\0';
	if ((r->ops = parse_ops(copy)) == 0)
		die_config(text, "unknown OP");
	len = strlen(first + 1);
	if (len >= sizeof(r->path))
		die_config(text, "PATH too long");
	memcpy(r->path, first + 1, len + 1);
	if (len > 0 && r->path[len - 1] == '$') {
		r->path[len - 1] = '\0';
		r->anchored = true;
	}
	r->nth = strtol(nth, &end, 10);
	if (end == nth || r->nth < 1 || (*end != '\0' && strcmp(end, "+") != 0))
		die_config(text, "NTH must be N or N+ (N >= 1)");
	r->persist = *end == '+';
	if (!parse_action(last + 1, r))
		die_config(text, "unknown ACTION");
	atomic_init(&r->seen, 0);
	free(copy);
}

/* fi_load - read the environment, once, as the shim is loaded */
__attribute__((constructor)) static void
fi_load(void)
{
	const char *spec = getenv("MK_FAULT"), *log = getenv("MK_FAULT_LOG");
	char *copy, *save = NULL, *tok;
	int fd;

	fi_flag = getenv("MK_FAULT_FLAG");
	if (log != NULL && *log != '\0') {
		fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "faultinject: cannot open %s\n", log);
			_exit(86);
		}
		fi_log_fd = fd;
	}
	fi_count = getenv("MK_FAULT_COUNT");	/* after the log's own open */
	if (spec == NULL || *spec == '\0')
		return;
	if ((copy = strdup(spec)) == NULL)
		die_config(spec, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (fi_n_rules == FI_MAX_RULES)
			die_config(tok, "too many rules");
		parse_rule(tok, &fi_rules[fi_n_rules++]);
	}
	free(copy);
}

/* fd_path - the path fd names now, into buf */
static void
fd_path(int fd, char *buf, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	if (n < 0)
		snprintf(buf, size, "fd:%d", fd);
	else
		buf[n] = '\0';
}

/* path_matches - does path contain r's PATH (at its end, if anchored)? */
static bool
path_matches(const fi_rule *r, const char *path)
{
	size_t plen, rlen;

	if (!r->anchored)
		return strstr(path, r->path) != NULL;
	plen = strlen(path);
	rlen = strlen(r->path);
	return plen >= rlen && strcmp(path + plen - rlen, r->path) == 0;
}

/* armed - may the rules fire now (MK_FAULT_FLAG exists, or is unset)? */
static bool
armed(void)
{
	return fi_flag == NULL || *fi_flag == '\0' || access(fi_flag, F_OK) == 0;
}

/* decide - the fate of one call of op (bit, name) on path */
static fi_fate
decide(unsigned bit, const char *name, const char *path)
{
	fi_fate f = { FI_ERRNO, 0, false };
	long n;
	int i;

	if (fi_n_rules == 0 || !armed())
		return f;
	for (i = 0; i < fi_n_rules; i++) {
		fi_rule *r = &fi_rules[i];

		if (!(r->ops & bit) || !path_matches(r, path))
			continue;
		n = atomic_fetch_add(&r->seen, 1) + 1;
		if (f.fire || n < r->nth || (n > r->nth && !r->persist))
			continue;
		log_line("fired\t%d\t%s\t%ld\t%s\t%s", i + 1, name, n,
			 r->action_name, path);
		f.fire = true;
		f.action = r->action;
		f.err = r->err;
	}
	return f;
}

/* die_now - the "kill" of a rule: SIGKILL this process */
static void
die_now(void)
{
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

/* traced - log the call in count mode; returns rc, errno kept */
static long
traced(const char *name, const char *path, long rc)
{
	int saved = errno;

	if (fi_count != NULL && path[0] != '\0' && strstr(path, fi_count) != NULL)
		log_line("call\t%s\t%ld\t%s", name, rc < 0 ? -(long)saved : rc,
			 path);
	errno = saved;
	return rc;
}

/* before - the fault of a call, if any: true when the call must fail
 * now with errno set (kill actions do not return) */
static bool
before(const fi_fate *f)
{
	if (!f->fire)
		return false;
	if (f->action == FI_KILL)
		die_now();
	if (f->action == FI_ERRNO) {
		errno = f->err;
		return true;
	}
	return false;
}

/* after - kill-after: the call was made, now die */
static void
after(const fi_fate *f)
{
	if (f->fire && (f->action == FI_KILL_AFTER || f->action == FI_TORN))
		die_now();
}

/* fd_fate - decide for a call on fd; its path into path */
static fi_fate
fd_fate(unsigned bit, const char *name, int fd, char *path, size_t size)
{
	if (fi_n_rules == 0 && fi_count == NULL) {
		path[0] = '\0';
		return (fi_fate){ FI_ERRNO, 0, false };
	}
	fd_path(fd, path, size);
	return decide(bit, name, path);
}

/* torn_len - what a torn write writes: the first half */
static size_t
torn_len(const fi_fate *f, size_t len)
{
	return f->fire && f->action == FI_TORN ? len / 2 : len;
}

/* FATED - the end of a wrapper whose fate f was decided for path: fail
 * without making the call, or make it (call, an expression, which may
 * shorten a torn write through f) and note what it returned */
#define FATED(type, name, path, call) do { \
	type rc_; \
	if (before(&f)) \
		return (type)traced(name, path, -1); \
	rc_ = (call); \
	after(&f); \
	return (type)traced(name, path, rc_); \
} while (0)

/* write - write(2) */
ssize_t
write(int fd, const void *buf, size_t len)
{
	REAL(write);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_WRITE, "write", fd, path, sizeof(path));

	FATED(ssize_t, "write", path, real_write(fd, buf, torn_len(&f, len)));
}

/* pwrite - pwrite(2) */
ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_PWRITE, "pwrite", fd, path, sizeof(path));

	FATED(ssize_t, "pwrite", path,
	      real_pwrite(fd, buf, torn_len(&f, len), off));
}

/* pwrite64 - pwrite(2) with a 64-bit offset (SQLite's) */
ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	REAL(pwrite64);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_PWRITE64, "pwrite64", fd, path, sizeof(path));

	FATED(ssize_t, "pwrite64", path,
	      real_pwrite64(fd, buf, torn_len(&f, len), off));
}

/* copy_file_range - copy_file_range(2): a data write to fd_out (the
 * archive's copy of a spooled blob into its content segment) */
ssize_t
copy_file_range(int fd_in, off64_t *off_in, int fd_out, off64_t *off_out,
		size_t len, unsigned flags)
{
	REAL(copy_file_range);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_COPY, "copy_file_range", fd_out, path,
			    sizeof(path));

	FATED(ssize_t, "copy_file_range", path,
	      real_copy_file_range(fd_in, off_in, fd_out, off_out,
				   torn_len(&f, len), flags));
}

/* iov_torn - a torn writev writes the first half of the first buffer */
static int
iov_torn(const fi_fate *f, const struct iovec *iov, int n, struct iovec *one)
{
	if (!f->fire || f->action != FI_TORN || n < 1)
		return n;
	one->iov_base = iov[0].iov_base;
	one->iov_len = iov[0].iov_len / 2;
	return 1;
}

/* writev - writev(2) */
ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	REAL(writev);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_WRITEV, "writev", fd, path, sizeof(path));
	struct iovec one;
	int k;

	FATED(ssize_t, "writev", path, (k = iov_torn(&f, iov, n, &one),
	      real_writev(fd, k == n ? iov : &one, k)));
}

/* pwritev - pwritev(2) */
ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	REAL(pwritev);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_PWRITEV, "pwritev", fd, path, sizeof(path));
	struct iovec one;
	int k;

	FATED(ssize_t, "pwritev", path, (k = iov_torn(&f, iov, n, &one),
	      real_pwritev(fd, k == n ? iov : &one, k, off)));
}

/* pwritev64 - pwritev(2) with a 64-bit offset */
ssize_t
pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
	REAL(pwritev64);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_PWRITEV, "pwritev", fd, path, sizeof(path));
	struct iovec one;
	int k;

	FATED(ssize_t, "pwritev", path, (k = iov_torn(&f, iov, n, &one),
	      real_pwritev64(fd, k == n ? iov : &one, k, off)));
}

/* fsync - fsync(2) */
int
fsync(int fd)
{
	REAL(fsync);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_FSYNC, "fsync", fd, path, sizeof(path));

	FATED(int, "fsync", path, real_fsync(fd));
}

/* fdatasync - fdatasync(2) */
int
fdatasync(int fd)
{
	REAL(fdatasync);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_FDATASYNC, "fdatasync", fd, path, sizeof(path));

	FATED(int, "fdatasync", path, real_fdatasync(fd));
}

/* ftruncate - ftruncate(2) */
int
ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_FTRUNCATE, "ftruncate", fd, path, sizeof(path));

	FATED(int, "ftruncate", path, real_ftruncate(fd, len));
}

/* ftruncate64 - ftruncate(2) with a 64-bit length */
int
ftruncate64(int fd, off64_t len)
{
	REAL(ftruncate64);
	char path[FI_PATH_MAX];
	fi_fate f = fd_fate(FI_FTRUNCATE, "ftruncate", fd, path, sizeof(path));

	FATED(int, "ftruncate", path, real_ftruncate64(fd, len));
}

/* abs_path - path made absolute: relative to dirfd's directory, or to
 * the working directory for AT_FDCWD */
static void
abs_path(int dirfd, const char *path, char *buf, size_t size)
{
	char dir[FI_PATH_MAX];

	int n;

	if (path[0] == '/') {
		n = snprintf(buf, size, "%s", path);
	} else {
		if (dirfd == AT_FDCWD) {
			if (getcwd(dir, sizeof(dir)) == NULL)
				snprintf(dir, sizeof(dir), ".");
		} else {
			fd_path(dirfd, dir, sizeof(dir));
		}
		n = snprintf(buf, size, "%s/%s", dir, path);
	}
	if (n < 0 || (size_t)n >= size)	/* cut: still a prefix to match */
		buf[size - 1] = '\0';
}

/* pair_fate - decide for a call on two paths ("OLD -> NEW", absolute) */
static fi_fate
pair_fate(unsigned bit, const char *name, int adir, const char *a, int bdir,
	  const char *b, char *path, size_t size)
{
	char pa[FI_PATH_MAX], pb[FI_PATH_MAX];

	if (fi_n_rules == 0 && fi_count == NULL) {
		path[0] = '\0';
		return (fi_fate){ FI_ERRNO, 0, false };
	}
	abs_path(adir, a, pa, sizeof(pa));
	abs_path(bdir, b, pb, sizeof(pb));
	if (snprintf(path, size, "%s -> %s", pa, pb) >= (int)size)
		path[size - 1] = '\0';
	return decide(bit, name, path);
}

/* rename - rename(2) */
int
rename(const char *from, const char *to)
{
	REAL(rename);
	char path[2 * FI_PATH_MAX];
	fi_fate f = pair_fate(FI_RENAME, "rename", AT_FDCWD, from, AT_FDCWD, to,
				path, sizeof(path));

	FATED(int, "rename", path, real_rename(from, to));
}

/* renameat - renameat(2) */
int
renameat(int fromdir, const char *from, int todir, const char *to)
{
	REAL(renameat);
	char path[2 * FI_PATH_MAX];
	fi_fate f = pair_fate(FI_RENAMEAT, "renameat", fromdir, from, todir, to, path,
			      sizeof(path));

	FATED(int, "renameat", path, real_renameat(fromdir, from, todir, to));
}

/* renameat2 - renameat2(2) */
int
renameat2(int fromdir, const char *from, int todir, const char *to,
	  unsigned flags)
{
	REAL(renameat2);
	char path[2 * FI_PATH_MAX];
	fi_fate f = pair_fate(FI_RENAMEAT2, "renameat2", fromdir, from, todir, to, path,
			      sizeof(path));

	FATED(int, "renameat2", path,
	      real_renameat2(fromdir, from, todir, to, flags));
}

/* link - link(2) */
int
link(const char *from, const char *to)
{
	REAL(link);
	char path[2 * FI_PATH_MAX];
	fi_fate f = pair_fate(FI_LINK, "link", AT_FDCWD, from, AT_FDCWD, to, path,
			     sizeof(path));

	FATED(int, "link", path, real_link(from, to));
}

/* linkat - linkat(2) (also how an O_TMPFILE file is given its name) */
int
linkat(int fromdir, const char *from, int todir, const char *to, int flags)
{
	REAL(linkat);
	char path[2 * FI_PATH_MAX];
	fi_fate f = pair_fate(FI_LINKAT, "linkat", fromdir, from, todir, to, path,
			     sizeof(path));

	FATED(int, "linkat", path,
	      real_linkat(fromdir, from, todir, to, flags));
}

/* open_mode - the mode argument open takes with O_CREAT or O_TMPFILE */
#define OPEN_MODE(flags, mode, last) do { \
	va_list ap_; \
	(mode) = 0; \
	if ((flags) & (O_CREAT | O_TMPFILE)) { \
		va_start(ap_, last); \
		(mode) = (mode_t)va_arg(ap_, int); \
		va_end(ap_); \
	} \
} while (0)

/* open_common - an open-like call through fn, with its fault */
static int
open_common(unsigned bit, const char *name, int dirfd, const char *path,
	    int flags, mode_t mode,
	    int (*fn)(int, const char *, int, mode_t, void *), void *real_fn)
{
	char full[FI_PATH_MAX];
	fi_fate f = { FI_ERRNO, 0, false };
	int rc;

	full[0] = '\0';
	if (fi_n_rules > 0 || fi_count != NULL) {
		abs_path(dirfd, path, full, sizeof(full));
		f = decide(bit, name, full);
	}
	if (before(&f))
		return (int)traced(name, full, -1);
	rc = fn(dirfd, path, flags, mode, real_fn);
	after(&f);
	return (int)traced(name, full, rc);
}

/* call_open - fn for open and open64 */
static int
call_open(int dirfd, const char *path, int flags, mode_t mode, void *fn)
{
	(void)dirfd;
	return ((int (*)(const char *, int, ...))fn)(path, flags, mode);
}

/* call_openat - fn for openat and openat64 */
static int
call_openat(int dirfd, const char *path, int flags, mode_t mode, void *fn)
{
	return ((int (*)(int, const char *, int, ...))fn)(dirfd, path, flags, mode);
}

/* open - open(2) */
int
open(const char *path, int flags, ...)
{
	REAL(open);
	mode_t mode;

	OPEN_MODE(flags, mode, flags);
	return open_common(FI_OPEN, "open", AT_FDCWD, path, flags, mode,
			   call_open, (void *)real_open);
}

/* open64 - open(2) under _FILE_OFFSET_BITS=64 (SQLite's) */
int
open64(const char *path, int flags, ...)
{
	REAL(open64);
	mode_t mode;

	OPEN_MODE(flags, mode, flags);
	return open_common(FI_OPEN, "open", AT_FDCWD, path, flags, mode,
			   call_open, (void *)real_open64);
}

/* openat - openat(2) */
int
openat(int dirfd, const char *path, int flags, ...)
{
	REAL(openat);
	mode_t mode;

	OPEN_MODE(flags, mode, flags);
	return open_common(FI_OPENAT, "openat", dirfd, path, flags, mode,
			   call_openat, (void *)real_openat);
}

/* openat64 - openat(2) under _FILE_OFFSET_BITS=64 */
int
openat64(int dirfd, const char *path, int flags, ...)
{
	REAL(openat64);
	mode_t mode;

	OPEN_MODE(flags, mode, flags);
	return open_common(FI_OPENAT, "openat", dirfd, path, flags, mode,
			   call_openat, (void *)real_openat64);
}

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);

/* __open_2 - the fortified open without a mode */
int
__open_2(const char *path, int flags)
{
	REAL(open);

	return open_common(FI_OPEN, "open", AT_FDCWD, path, flags, 0,
			   call_open, (void *)real_open);
}

/* __open64_2 - the fortified open64 without a mode */
int
__open64_2(const char *path, int flags)
{
	REAL(open64);

	return open_common(FI_OPEN, "open", AT_FDCWD, path, flags, 0,
			   call_open, (void *)real_open64);
}
