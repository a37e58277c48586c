/*
 * daemon.c - privilege drop and process hardening (daemon.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/daemon.h"

static const char *log_name = "mailkeep";
static bool log_foreground;
static int signal_pipe[2] = { -1, -1 };

/* mk_harden - umask 077, no core, not dumpable */
int
mk_harden(mk_error *err)
{
	struct rlimit none = { 0, 0 };

	umask(077);
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		return mk_error_errno(err, "setrlimit RLIMIT_CORE");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return mk_error_errno(err, "prctl PR_SET_DUMPABLE");
	return 0;
}

/* mk_drop_privileges - become pw for good */
int
mk_drop_privileges(const struct passwd *pw, mk_error *err)
{
	if (initgroups(pw->pw_name, pw->pw_gid) != 0
	    || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		return mk_error_errno(err, "cannot become user %s", pw->pw_name);
	if (setuid(0) == 0 && pw->pw_uid != 0)
		return mk_error_set(err, "could become root again after"
				    " dropping to %s", pw->pw_name);
	return mk_harden(err);
}

/* mk_write_pidfile - our pid into path */
int
mk_write_pidfile(const char *path, mk_error *err)
{
	FILE *fp;

	if (path == NULL)
		return 0;
	if ((fp = fopen(path, "w")) == NULL)
		return mk_error_errno(err, "cannot write %s", path);
	if (fprintf(fp, "%ld\n", (long)getpid()) < 0) {
		fclose(fp);
		return mk_error_errno(err, "cannot write %s", path);
	}
	if (fclose(fp) != 0)
		return mk_error_errno(err, "cannot write %s", path);
	return 0;
}

/* mk_log_open - where mk_log() writes */
void
mk_log_open(const char *name, bool foreground)
{
	log_name = name;
	log_foreground = foreground;
	openlog(name, LOG_PID, LOG_MAIL);
}

/* mk_vlog - one line to stderr (foreground) or syslog */
void
mk_vlog(int priority, const char *fmt, va_list ap)
{
	char stamp[32];
	struct tm tm;
	time_t now;

	if (!log_foreground) {
		vsyslog(priority, fmt, ap);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s %s[%ld]: ", stamp, log_name, (long)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* mk_log - one line at priority */
void
mk_log(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mk_vlog(priority, fmt, ap);
	va_end(ap);
}

/* on_signal - async-signal-safe: the signal's number into the pipe */
static void
on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(signal_pipe[1], &b, 1) < 0) {
		/* the pipe is full: a signal of this kind is already queued */
	}
	errno = saved;
}

/* mk_signals_install - the self-pipe and the handlers */
int
mk_signals_install(mk_error *err)
{
	struct sigaction sa;

	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return mk_error_errno(err, "pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signal_pipe[0];
}
