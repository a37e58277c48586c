/*
 * check.c - the start-up checks, without starting.  See check.h.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/archive.h"
#include "check/check.h"
#include "common/mkconfig.h"
#include "common/sockspec.h"
#include "policy/policy.h"

#define CHECK_LINE 1024

/* One check run. */
typedef struct checker {
	mk_check_fn fn;
	void *ctx;
	int problems;
	const mk_config *cfg;
} checker;

/* say - one problem */
static void __attribute__((format(printf, 2, 3)))
say(checker *c, const char *fmt, ...)
{
	char line[CHECK_LINE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->problems++;
	c->fn(c->ctx, line);
}

/* where - "FILE:LINE" of a key, or "FILE" when the key was not set */
static const char *
where(const checker *c, int line, char buf[CHECK_LINE / 2])
{
	if (line > 0)
		snprintf(buf, CHECK_LINE / 2, "%s:%d", c->cfg->path, line);
	else
		snprintf(buf, CHECK_LINE / 2, "%s", c->cfg->path);
	return buf;
}

/* config_line - mk_ini_problem_fn: a line of mailkeep.conf */
static void
config_line(void *ctx, const char *name, int line, const char *why)
{
	say(ctx, "%s:%d: %s", name, line, why);
}

/* check_user - user names an account */
static void
check_user(checker *c)
{
	char at[CHECK_LINE / 2];

	if (c->cfg->line.user >= 0 && c->cfg->user != NULL
	    && getpwnam(c->cfg->user) == NULL)
		say(c, "%s: user = %s: no such user", where(c, c->cfg->line.user,
		    at), c->cfg->user);
}

/* check_pidfile - the pidfile's directory exists */
static void
check_pidfile(checker *c)
{
	char at[CHECK_LINE / 2], dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (c->cfg->pidfile == NULL || c->cfg->line.pidfile < 0)
		return;
	snprintf(dir, sizeof(dir), "%s", c->cfg->pidfile);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		say(c, "%s: pidfile = %s: the directory %s does not exist",
		    where(c, c->cfg->line.pidfile, at), c->cfg->pidfile, dir);
}

/* unix_in_use - a Unix socket file at path: live (someone accepts), or
 * stale (a start replaces it); 1 live, 0 stale or absent, -1 not a socket */
static int
unix_in_use(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

/* bind_unix - bind path now and remove it again; 0 or -1 with errno */
static int
bind_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc, saved;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	saved = errno;
	close(fd);
	if (rc == 0)
		unlink(path);
	errno = saved;
	return rc;
}

/* bind_inet - bind PORT@HOST now and release it; 0, or -1 with why */
static int
bind_inet(const mk_sockspec *s, char why[MK_SOCKSPEC_WHY])
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];
	int fd, rc, one = 1;

	hints.ai_family = s->kind == MK_SOCK_INET ? AF_INET : AF_INET6;
	snprintf(port, sizeof(port), "%u", s->port);
	if ((rc = getaddrinfo(s->host, port, &hints, &res)) != 0)
		return snprintf(why, MK_SOCKSPEC_WHY, "%s", gai_strerror(rc)), -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = fd < 0 ? -1 : setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				      sizeof(one));
	if (rc == 0)
		rc = bind(fd, res->ai_addr, res->ai_addrlen);
	if (rc != 0)
		snprintf(why, MK_SOCKSPEC_WHY, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return rc;
}

/* check_bind - the socket can be bound now */
static void
check_bind(checker *c, const char *at, const char *key, const char *spec,
	   const mk_sockspec *s)
{
	char why[MK_SOCKSPEC_WHY];
	int used;

	if (s->kind != MK_SOCK_UNIX) {
		if (bind_inet(s, why) != 0)
			say(c, "%s: %s = %s: cannot be bound: %s", at, key, spec,
			    why);
		return;
	}
	if ((used = unix_in_use(s->path)) > 0)
		say(c, "%s: %s = %s: in use: a daemon is listening on it", at,
		    key, spec);
	else if (used < 0)
		say(c, "%s: %s = %s: %s is there and is not a socket", at, key,
		    spec, s->path);
	else if (access(s->path, F_OK) != 0 && bind_unix(s->path) != 0)
		say(c, "%s: %s = %s: cannot be bound: %s", at, key, spec,
		    strerror(errno));
}

/* check_socket - a socket spec: syntax (for -p), host or directory, bind */
static void
check_socket(checker *c, const char *at, const char *key, const char *spec)
{
	char why[MK_SOCKSPEC_WHY];
	mk_sockspec s;

	if (mk_sockspec_parse(spec, &s, why) != 0
	    || mk_sockspec_check(&s, why) != 0)
		say(c, "%s: %s = %s: %s", at, key, spec, why);
	else
		check_bind(c, at, key, spec, &s);
}

/* check_sockets - the sockets of the daemons asked for */
static void
check_sockets(checker *c, unsigned what, const char *override)
{
	char at[CHECK_LINE / 2], spec[MK_SOCKSPEC_PATH + 8];

	if ((what & MK_CHECK_MILTER) && (override != NULL
					   || c->cfg->line.socket >= 0)) {
		if (override != NULL)
			check_socket(c, "-p", "socket", override);
		else
			check_socket(c, where(c, c->cfg->line.socket, at),
				     "socket", c->cfg->socket);
	}
	if ((what & MK_CHECK_ACCESS) && c->cfg->line.access_socket >= 0) {
		snprintf(spec, sizeof(spec), "unix:%s", override != NULL
			 && !(what & MK_CHECK_MILTER) ? override
			 : c->cfg->access_socket);
		if (override != NULL && !(what & MK_CHECK_MILTER))
			check_socket(c, "-s", "access_socket", spec);
		else
			check_socket(c, where(c, c->cfg->line.access_socket, at),
				     "access_socket", spec);
	}
}

/* child_problem - archive_problem_fn of the child: a line to the pipe */
static void
child_problem(const char *kind, const char *object, const char *detail,
	      void *ctx)
{
	(void)kind;
	dprintf(*(int *)ctx, "%s: %s\n", object, detail);
}

/* become - take the account of the daemons (as root); "" or why not */
static const char *
become(const char *user)
{
	struct passwd *pw;

	if (user == NULL || geteuid() != 0)
		return "";
	if ((pw = getpwnam(user)) == NULL)
		return "no such user";
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0
	    || setuid(pw->pw_uid) != 0)
		return strerror(errno);
	return "";
}

/* archive_child - in the child: the account, then the archive's files
 * and an open as a reader; problems as lines to fd */
static void __attribute__((noreturn))
archive_child(const mk_config *cfg, int fd)
{
	const char *why = become(cfg->user);
	archive *ar;
	mk_error err;

	if (why[0] != '\0') {
		dprintf(fd, "cannot take the account %s: %s\n", cfg->user, why);
		_exit(0);
	}
	if (archive_check_access(cfg->archive, child_problem, &fd) == 0) {
		if ((ar = archive_open(cfg->archive, ARCHIVE_READ, &err)) == NULL)
			dprintf(fd, "%s\n", err.msg);
		archive_close(ar);
	}
	_exit(0);
}

/* check_archive - what the daemon's account can do in the archive */
static void
check_archive(checker *c)
{
	char at[CHECK_LINE / 2], as[300], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int fds[2], status;
	FILE *in;
	pid_t pid;

	where(c, c->cfg->line.archive, at);
	if (c->cfg->line.archive < 0 || c->cfg->line.user < 0
	    || (c->cfg->user != NULL && getpwnam(c->cfg->user) == NULL))
		return;		/* a problem of its own already */
	if (c->cfg->user != NULL && geteuid() == 0)
		snprintf(as, sizeof(as), "user %s", c->cfg->user);
	else
		snprintf(as, sizeof(as), "uid %u, who runs the check",
			 (unsigned)geteuid());
	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		say(c, "%s: archive = %s: cannot check: %s", at, c->cfg->archive,
		    strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		archive_child(c->cfg, fds[1]);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (in != NULL && (n = getline(&line, &cap, in)) > 0) {
		line[n - 1] = '\0';
		say(c, "%s: archive = %s: %s (as %s)", at, c->cfg->archive, line,
		    as);
	}
	free(line);
	if (in != NULL)
		fclose(in);
	waitpid(pid, &status, 0);
}

/* check_policy - the policy loads */
static void
check_policy(checker *c)
{
	char at[CHECK_LINE / 2];
	mk_error err;
	policy *p;

	if (c->cfg->line.policy < 0)
		return;
	if (c->cfg->policy != NULL && access(c->cfg->policy, R_OK) != 0) {
		say(c, "%s: policy = %s: cannot read: %s", where(c,
		    c->cfg->line.policy, at), c->cfg->policy, strerror(errno));
		return;
	}
	if ((p = policy_load_or_default(c->cfg->policy, &err)) == NULL)
		say(c, "%s", err.msg);
	policy_free(p);
}

/* mk_check_setup - see check.h */
int
mk_check_setup(const char *path, unsigned what, const char *socket,
	       mk_check_fn fn, void *ctx)
{
	checker c = { .fn = fn, .ctx = ctx };
	mk_config *cfg;
	mk_error err;
	int problems;

	if ((cfg = mk_config_read(path, config_line, &c, &problems, &err)) == NULL) {
		say(&c, "%s", err.msg);
		return c.problems;
	}
	c.cfg = cfg;
	check_user(&c);
	check_pidfile(&c);
	check_sockets(&c, what, socket);
	check_archive(&c);
	check_policy(&c);
	mk_config_free(cfg);
	return c.problems;
}
