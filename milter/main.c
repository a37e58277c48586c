/*
 * main.c - mailkeep-milter: start, signals, reload, stop.
 *
 * NAME
 *	mailkeep-milter - archive every message an MTA accepts
 *
 * SYNOPSIS
 *	mailkeep-milter [-c FILE] [-f] [-n] [-p SOCKETSPEC]
 *
 * DESCRIPTION
 *	Reads mailkeep.conf and the policy, opens the listening socket
 *	(so a bad socket fails at start), detaches unless -f, drops to the
 *	configured user, hardens the process (umask 077, no core dumps, not
 *	dumpable: it holds the archive's keys), opens the archive and runs
 *	libmilter.
 *
 *	libmilter's own signal thread stops the milter on SIGHUP.  To give
 *	SIGHUP the meaning administrators expect (reload), smfi_main() runs
 *	in a thread of its own and the main thread keeps SIGHUP, SIGTERM and
 *	SIGINT unblocked with handlers that write to a self-pipe: Linux
 *	hands a process-directed signal to the main thread when it does not
 *	block it, so libmilter's sigwait() never sees them.  Every other
 *	thread is started with the three blocked.
 *
 *	-n checks instead of starting (check/check.h): every problem on
 *	stderr, or OK; exit 0 or 1.
 *
 *	SIGHUP re-reads the configuration and policy; on error the running
 *	ones stay and the reason is logged.  SIGTERM/SIGINT stop accepting
 *	connections, wait for messages being stored, close the archive.
 *
 * DIAGNOSTICS
 *	Exit 0 after a clean stop, 1 when start-up fails (the reason is on
 *	stderr and in the log), 2 on a usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"
#include "common/daemon.h"
#include "common/sockspec.h"
#include "milter/milter.h"

daemon_state g_state = { .lock = PTHREAD_RWLOCK_INITIALIZER };

static bool foreground;
static const char *socket_override;	/* -p: wins over the file, reloads too */
static int signal_fd = -1;	/* the read end of the signal pipe */
static bool check_only;		/* -n */

/* mlog - log a line through common/daemon.c */
void
mlog(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mk_vlog(priority, fmt, ap);
	va_end(ap);
}

/* usage - print the synopsis and exit 2 */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mailkeep-milter [-c FILE] [-f] [-n] [-p SOCKETSPEC]\n");
	exit(2);
}

/* socket_path - the file of a unix: socket spec, or NULL */
static const char *
socket_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	return NULL;
}

/* socket_ready - the socket spec's host resolves, its directory exists:
 * else an error naming where the spec came from */
static int
socket_ready(const mk_config *cfg)
{
	char why[MK_SOCKSPEC_WHY];
	mk_sockspec spec;

	if (mk_sockspec_parse(cfg->socket, &spec, why) == 0
	    && mk_sockspec_check(&spec, why) == 0)
		return 0;
	if (socket_override != NULL)
		mlog(LOG_ERR, "-p %s: %s", cfg->socket, why);
	else if (cfg->line.socket > 0)
		mlog(LOG_ERR, "%s:%d: socket = %s: %s", cfg->path,
		     cfg->line.socket, cfg->socket, why);
	else
		mlog(LOG_ERR, "the default socket %s: %s", cfg->socket, why);
	return -1;
}

/* open_socket - bind the listening socket now, so errors show at start */
static int
open_socket(const mk_config *cfg, const struct passwd *pw)
{
	const char *path = socket_path(cfg->socket);

	if (socket_ready(cfg) != 0)
		return -1;
	if (smfi_setconn(cfg->socket) != MI_SUCCESS
	    || smfi_opensocket(true) != MI_SUCCESS) {
		mlog(LOG_ERR, "cannot listen on %s", cfg->socket);
		return -1;
	}
	if (path == NULL)
		return 0;
	if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) != 0) {
		mlog(LOG_ERR, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, (mode_t)cfg->socket_mode) != 0) {
		mlog(LOG_ERR, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* block_signals - block (or restore) HUP/TERM/INT in the calling thread */
static void
block_signals(bool block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* apply_socket_override - -p SOCKETSPEC replaces the file's socket */
static int
apply_socket_override(mk_config *cfg, mk_error *err)
{
	char why[MK_SOCKSPEC_WHY];
	mk_sockspec spec;

	if (socket_override == NULL)
		return 0;
	if (mk_sockspec_parse(socket_override, &spec, why) != 0)
		return mk_error_set(err, "-p %s: %s", socket_override, why);
	free(cfg->socket);
	if ((cfg->socket = strdup(socket_override)) == NULL)
		return mk_error_set(err, "out of memory");
	return 0;
}

/* load_config - the configuration file with -p applied; NULL and err */
static mk_config *
load_config(const char *path, mk_error *err)
{
	mk_config *cfg = mk_config_load(path, err);

	if (cfg != NULL && apply_socket_override(cfg, err) != 0) {
		mk_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* reload - SIGHUP: new config and policy, or keep the old ones */
static void
reload(const char *path)
{
	mk_config *cfg;
	policy *pol;
	mk_error err;

	if ((cfg = load_config(path, &err)) == NULL) {
		mlog(LOG_ERR, "reload: keeping the running configuration: %s", err.msg);
		return;
	}
	if ((pol = policy_load_or_default(cfg->policy, &err)) == NULL) {
		mlog(LOG_ERR, "reload: keeping the running policy: %s", err.msg);
		mk_config_free(cfg);
		return;
	}
	if (strcmp(cfg->archive, g_state.cfg->archive) != 0
	    || strcmp(cfg->socket, g_state.cfg->socket) != 0)
		mlog(LOG_WARNING, "reload: a new socket or archive takes effect"
		     " only after a restart; keeping %s and %s",
		     g_state.cfg->socket, g_state.cfg->archive);
	pthread_rwlock_wrlock(&g_state.lock);
	mk_config_free(g_state.cfg);
	policy_free(g_state.pol);
	g_state.cfg = cfg;
	g_state.pol = pol;
	pthread_rwlock_unlock(&g_state.lock);
	mlog(LOG_INFO, "reloaded %s", path);
	/* the reload thread is the only one that changes cfg: no lock needed */
	if (g_state.ar != NULL
	    && archive_log_policy(g_state.ar, cfg->policy, &err) != 0)
		mlog(LOG_ERR, "reload: the policy now applied is not in the"
		     " ledger: %s", err.msg);
}

/* run_libmilter - thread body: smfi_main() until smfi_stop() */
static void *
run_libmilter(void *arg)
{
	int *status = arg;

	*status = smfi_main();
	return NULL;
}

/* wait_for_signals - serve signals until told to stop */
static void
wait_for_signals(const char *config_path)
{
	unsigned char sig;
	ssize_t n;
	fd_set fds;

	for (;;) {
		FD_ZERO(&fds);
		FD_SET(signal_fd, &fds);
		if (select(signal_fd + 1, &fds, NULL, NULL, NULL) < 0)
			continue;	/* EINTR: the handler wrote the pipe */
		while ((n = read(signal_fd, &sig, 1)) == 1) {
			if (sig == SIGHUP) {
				reload(config_path);
				continue;
			}
			mlog(LOG_INFO, "stopping on signal %d", sig);
			return;
		}
	}
}

/* serve - run libmilter and the signal loop; returns the exit status */
static int
serve(const char *config_path)
{
	pthread_t thread;
	int status = MI_SUCCESS;

	block_signals(true);	/* libmilter's threads inherit this */
	if (pthread_create(&thread, NULL, run_libmilter, &status) != 0) {
		mlog(LOG_ERR, "cannot start the libmilter thread");
		return 1;
	}
	block_signals(false);
	mlog(LOG_INFO, "started, listening on %s, archive %s",
	     g_state.cfg->socket, g_state.cfg->archive);
	wait_for_signals(config_path);
	smfi_stop();
	pthread_join(thread, NULL);
	return status == MI_SUCCESS ? 0 : 1;
}

/* shutdown_archive - wait for messages being stored, then close */
static void
shutdown_archive(void)
{
	archive *ar;

	pthread_rwlock_wrlock(&g_state.lock);
	ar = g_state.ar;
	g_state.ar = NULL;
	pthread_rwlock_unlock(&g_state.lock);
	archive_close(ar);
}

/* archive_warning - what the archive's committer says that fails no
 * commit (the index fell behind, or caught up), logged */
static void
archive_warning(void *ctx, const char *msg)
{
	(void)ctx;
	mlog(LOG_WARNING, "%s", msg);
}

/* start - everything up to serving; 0 or -1 (already logged) */
static int
start(void)
{
	mk_config *cfg = g_state.cfg;
	struct passwd *pw = NULL;
	archive_options opts;
	mk_error err;

	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL) {
		mlog(LOG_ERR, "%s:%d: user = %s: no such user", cfg->path,
		     cfg->line.user, cfg->user);
		return -1;
	}
	if (milter_register() != 0 || open_socket(cfg, pw) != 0)
		return -1;
	if (!foreground && daemon(0, 0) != 0) {
		mlog(LOG_ERR, "cannot detach: %s", strerror(errno));
		return -1;
	}
	if (mk_write_pidfile(cfg->pidfile, &err) != 0) {
		mlog(LOG_ERR, "%s:%d: pidfile = %s: %s", cfg->path,
		     cfg->line.pidfile, cfg->pidfile, err.msg);
		return -1;
	}
	if ((pw != NULL ? mk_drop_privileges(pw, &err) : mk_harden(&err)) != 0) {
		mlog(LOG_ERR, "%s", err.msg);
		return -1;
	}
	archive_options_of(cfg, &opts);
	opts.warn = archive_warning;
	block_signals(true);	/* the committer thread inherits this */
	g_state.ar = archive_open_with(cfg->archive, ARCHIVE_WRITE, &opts, &err);
	block_signals(false);
	if (g_state.ar == NULL && cfg->line.archive > 0) {
		mlog(LOG_ERR, "%s:%d: archive = %s: %s", cfg->path,
		     cfg->line.archive, cfg->archive, err.msg);
		return -1;
	}
	if (g_state.ar == NULL
	    || archive_log_policy(g_state.ar, cfg->policy, &err) != 0) {
		mlog(LOG_ERR, "%s", err.msg);
		return -1;
	}
	if ((signal_fd = mk_signals_install(&err)) < 0) {
		mlog(LOG_ERR, "%s", err.msg);
		return -1;
	}
	return 0;
}

/* print_problem - mk_check_fn: one line on stderr */
static void
print_problem(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "mailkeep-milter: %s\n", problem);
}

/* check - -n: the start-up checks without starting; the exit status */
static int
check(const char *config_path)
{
	int n = mk_check_setup(config_path, MK_CHECK_MILTER, socket_override,
			       print_problem, NULL);

	if (n == 0)
		printf("OK\n");
	else
		fprintf(stderr, "mailkeep-milter: %d problem%s\n", n,
			n == 1 ? "" : "s");
	return n == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	const char *config_path = MK_DEFAULT_CONFIG;
	mk_error err;
	int ch, status;

	while ((ch = getopt(argc, argv, "c:fnp:h")) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'f': foreground = true; break;
		case 'n': check_only = true; break;
		case 'p': socket_override = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (check_only)
		return check(config_path);
	mk_log_open("mailkeep-milter", foreground);
	if ((g_state.cfg = load_config(config_path, &err)) == NULL
	    || (g_state.pol = policy_load_or_default(g_state.cfg->policy, &err)) == NULL) {
		if (!foreground)	/* in the foreground mlog is stderr */
			fprintf(stderr, "mailkeep-milter: %s\n", err.msg);
		mlog(LOG_ERR, "%s", err.msg);
		return 1;
	}
	if (start() != 0) {
		if (!foreground)
			fprintf(stderr, "mailkeep-milter: start-up failed, see the mail log\n");
		return 1;
	}
	status = serve(config_path);
	shutdown_archive();
	if (g_state.cfg->pidfile != NULL)
		unlink(g_state.cfg->pidfile);
	mk_config_free(g_state.cfg);
	policy_free(g_state.pol);
	mlog(LOG_INFO, "stopped");
	return status;
}
