/*
 * daemon.c - mailkeep-access: the socket, the peers, the signals.
 *
 * NAME
 *	mailkeep-access - the only reader of the archive for people
 *
 * SYNOPSIS
 *	mailkeep-access [-c FILE] [-f] [-s SOCKETPATH]
 *
 * DESCRIPTION
 *	Reads mailkeep.conf and the policy, binds the Unix socket
 *	access_socket (mode 0666: anyone may ask, the kernel says who is
 *	asking), detaches unless -f, drops to the configured user, hardens
 *	the process (common/daemon.h) and serves.
 *
 *	Each connection gets a thread (at most ACCESS_MAX_CLIENTS at once;
 *	one more is told "busy").  The thread reads the peer's uid with
 *	SO_PEERCRED, reads one request line within ACCESS_READ_SECONDS,
 *	parses it (a malformed one is answered with an error and changes
 *	nothing) and hands it to access_serve() with frames written under
 *	a send timeout of ACCESS_WRITE_SECONDS, so a client that stops
 *	reading is dropped.
 *
 *	A thread of its own keeps the full-text index (discovery/) behind
 *	the archive: every INDEXER_IDLE_SECONDS, or at once after a batch,
 *	it indexes what was stored since, INDEXER_BATCH messages a
 *	transaction.  The milter never waits for it.
 *
 *	The main thread waits for connections and signals (a self-pipe):
 *	SIGHUP reloads the policy (a broken one is refused, the running one
 *	kept), SIGTERM and SIGINT stop accepting and wait for the requests
 *	being answered.
 *
 *	-n checks instead of starting (check/check.h): every problem on
 *	stderr, or OK; exit 0 or 1.
 *
 * DIAGNOSTICS
 *	Logs to syslog (mail facility), or stderr with -f.  Exit 0 after a
 *	clean stop, 1 when start-up fails, 2 on a usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "access/access.h"
#include "check/check.h"
#include "common/daemon.h"
#include "discovery/discovery.h"

#define PROGNAME "mailkeep-access"
#define INDEXER_BATCH		200	/* messages a transaction */
#define INDEXER_IDLE_SECONDS	2	/* between rounds when caught up */

static bool foreground;
static bool check_only;			/* -n */
static int signal_fd = -1;	/* the read end of the signal pipe */
static access_service *service;
static pthread_mutex_t indexer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t indexer_wake = PTHREAD_COND_INITIALIZER;
static atomic_bool indexer_stop;	/* read by the indexer unlocked */
static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t clients_done = PTHREAD_COND_INITIALIZER;
static unsigned clients;

/* usage - the synopsis; exit 2 */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: " PROGNAME " [-c FILE] [-f] [-n] [-s SOCKETPATH]\n");
	exit(2);
}

/* bind_socket - the listening socket at path, mode 0666; fd or -1 */
static int
bind_socket(const char *path, mk_error *err)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return mk_error_set(err, "%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);	/* left by a stopped service */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return mk_error_errno(err, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
	    || chmod(path, 0666) != 0 || listen(fd, 64) != 0) {
		mk_error_errno(err, "cannot listen on %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* One client's connection while its request is answered. */
typedef struct connection {
	int fd;
	char *buf;			/* the last frame it sent (import) */
	size_t cap;
} connection;

/* emit_frame - access_emit_fn: one frame to the connection */
static int
emit_frame(char type, const void *buf, size_t len, void *ctx)
{
	connection *c = ctx;
	mk_error err;

	return access_frame_write(c->fd, type, buf, len, &err);
}

/* recv_frame - access_recv_fn: the client's next frame, within
 * ACCESS_READ_SECONDS (SO_RCVTIMEO) */
static int
recv_frame(char *type, const char **buf, size_t *len, void *ctx)
{
	connection *c = ctx;
	size_t max = ARCHIVE_MAX_RCPTS * (ARCHIVE_MAX_FIELD + 16) + 65536;
	mk_error err;

	if (max < ACCESS_MAX_CHUNK)
		max = ACCESS_MAX_CHUNK;
	if (access_frame_read(c->fd, type, &c->buf, &c->cap, len, max,
			      &err) != 1)
		return -1;
	*buf = c->buf;
	return 1;
}

/* send_error - an end frame with an error, before any request ran */
static void
send_error(int fd, const char *msg)
{
	json_t *obj = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	char *text = json_dumps(obj, JSON_COMPACT);
	mk_error err;

	if (text != NULL)
		(void)access_frame_write(fd, ACCESS_FRAME_END, text,
					 strlen(text), &err);
	free(text);
	json_decref(obj);
}

/* ms_since - milliseconds of CLOCK_MONOTONIC since start */
static long
ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000
	    + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* read_request - one line (without its newline) into buf, the whole of
 * it within ACCESS_READ_SECONDS (a client sending a byte now and then
 * holds its thread no longer than a silent one); its length, or -1 with
 * the reason in err */
static ssize_t
read_request(int fd, char *buf, size_t size, mk_error *err)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct timespec start;
	size_t got = 0;
	long left;
	ssize_t n;
	char *nl;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (got < size) {
		left = ACCESS_READ_SECONDS * 1000L - ms_since(&start);
		rc = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return mk_error_errno(err, "waiting for the request");
		if (rc == 0)
			return mk_error_set(err, "no whole request within %d"
					    " seconds", ACCESS_READ_SECONDS);
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mk_error_errno(err, "reading the request");
		if (n == 0)
			return mk_error_set(err, "the request ended without a"
					    " newline");
		if ((nl = memchr(buf + got, '\n', (size_t)n)) != NULL)
			return nl - buf;
		got += (size_t)n;
	}
	return mk_error_set(err, "request longer than %d bytes",
			    ACCESS_MAX_REQUEST);
}

/* set_timeouts - bound the time to send the request and to take frames */
static void
set_timeouts(int fd)
{
	struct timeval rd = { ACCESS_READ_SECONDS, 0 };
	struct timeval wr = { ACCESS_WRITE_SECONDS, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rd, sizeof(rd));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wr, sizeof(wr));
}

/* serve_parsed - identity, then the answer */
static void
serve_parsed(int fd, uid_t uid, const access_request *rq)
{
	connection c = { .fd = fd };
	access_identity who;
	mk_error err;

	if (access_service_identity(service, uid, "socket", &who, &err) != 0) {
		mk_log(LOG_ERR, "uid %lu: %s", (unsigned long)uid, err.msg);
		send_error(fd, err.msg);
		return;
	}
	if (access_serve_stream(service, &who, rq, emit_frame, recv_frame,
				&c) != 0)
		mk_log(LOG_INFO, "%s (uid %lu): %s: the client left mid-answer",
		     who.user, (unsigned long)uid, access_op_name(rq->op));
	access_identity_free(&who);
	free(c.buf);
}

/* serve_connection - one client: credentials, request, answer */
static void
serve_connection(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char *line = malloc(ACCESS_MAX_REQUEST + 1);
	access_request rq;
	mk_error err;
	ssize_t n;

	set_timeouts(fd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		mk_log(LOG_ERR, "SO_PEERCRED: %s", strerror(errno));
		send_error(fd, "cannot tell who is asking");
	} else if (line == NULL)
		send_error(fd, "out of memory");
	else if ((n = read_request(fd, line, ACCESS_MAX_REQUEST + 1, &err)) < 0
		 || access_request_parse(line, (size_t)n, &rq, &err) != 0) {
		mk_log(LOG_NOTICE, "uid %lu: bad request: %s",
		     (unsigned long)cred.uid, err.msg);
		send_error(fd, err.msg);
	} else {
		serve_parsed(fd, cred.uid, &rq);
		access_request_free(&rq);
	}
	free(line);
}

/* client_thread - thread body: serve one connection, then count down */
static void *
client_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;

	serve_connection(fd);
	close(fd);
	pthread_mutex_lock(&clients_lock);
	if (--clients == 0)
		pthread_cond_broadcast(&clients_done);
	pthread_mutex_unlock(&clients_lock);
	return NULL;
}

/* start_client - a thread for connection fd, or "busy" */
static void
start_client(int fd)
{
	pthread_attr_t attr;
	pthread_t t;
	bool full;

	pthread_mutex_lock(&clients_lock);
	full = clients >= ACCESS_MAX_CLIENTS;
	if (!full)
		clients++;
	pthread_mutex_unlock(&clients_lock);
	if (full) {
		send_error(fd, "busy: too many requests at once, try again");
		close(fd);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, client_thread, (void *)(intptr_t)fd) != 0) {
		send_error(fd, "cannot start a thread");
		close(fd);
		pthread_mutex_lock(&clients_lock);
		clients--;
		pthread_mutex_unlock(&clients_lock);
	}
	pthread_attr_destroy(&attr);
}

/* reload - SIGHUP: the policy anew, or keep the running one */
static void
reload(const char *config_path)
{
	mk_config *cfg;
	policy *pol = NULL;
	mk_error err;

	if ((cfg = mk_config_load(config_path, &err)) == NULL
	    || (pol = policy_load_or_default(cfg->policy, &err)) == NULL) {
		mk_log(LOG_ERR, "reload: keeping the running policy: %s", err.msg);
		mk_config_free(cfg);
		return;
	}
	access_service_set_policy(service, pol);
	mk_log(LOG_INFO, "reloaded the policy %s", cfg->policy ? cfg->policy
	     : "(built-in)");
	mk_config_free(cfg);
}

/* take_signals - the signals in the pipe; true to stop */
static bool
take_signals(const char *config_path)
{
	unsigned char sig;

	while (read(signal_fd, &sig, 1) == 1) {
		if (sig != SIGHUP) {
			mk_log(LOG_INFO, "stopping on signal %d", sig);
			return true;
		}
		reload(config_path);
	}
	return false;
}

/* indexer_wait - sleep INDEXER_IDLE_SECONDS or until told to stop; true
 * to stop */
static bool
indexer_wait(void)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += INDEXER_IDLE_SECONDS;
	pthread_mutex_lock(&indexer_lock);
	if (!indexer_stop)
		pthread_cond_timedwait(&indexer_wake, &indexer_lock, &until);
	stop = indexer_stop;
	pthread_mutex_unlock(&indexer_lock);
	return stop;
}

/* index_round - index what the archive stored since the last round; a
 * new error is logged once */
static void
index_round(const mk_config *cfg, archive_options *opts, char *last_error)
{
	discovery_index *di = NULL;
	size_t done = 1;
	archive *ar;
	mk_error err;
	int rc = -1;

	ar = archive_open_with(cfg->archive, ARCHIVE_READ, opts, &err);
	if (ar != NULL && (di = discovery_index_open(cfg->archive, &err)) != NULL)
		for (rc = 0; rc == 0 && done > 0 && !indexer_stop;)
			rc = discovery_index_step(di, ar, INDEXER_BATCH, &done,
						  &err);
	if (rc != 0 && strcmp(err.msg, last_error) != 0) {
		mk_log(LOG_ERR, "full-text index: %s", err.msg);
		snprintf(last_error, MK_ERROR_MAX, "%s", err.msg);
	}
	discovery_index_close(di);
	archive_close(ar);
}

/* indexer_thread - thread body: the full-text index trails the archive */
static void *
indexer_thread(void *arg)
{
	const mk_config *cfg = arg;
	archive_options opts;
	char last_error[MK_ERROR_MAX] = "";
	sigset_t set;

	sigemptyset(&set);	/* the main thread takes the signals */
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	archive_options_of(cfg, &opts);
	do
		index_round(cfg, &opts, last_error);
	while (!indexer_wait());
	return NULL;
}

/* stop_indexer - wake the indexer thread and wait for it */
static void
stop_indexer(pthread_t thread)
{
	pthread_mutex_lock(&indexer_lock);
	indexer_stop = true;
	pthread_cond_signal(&indexer_wake);
	pthread_mutex_unlock(&indexer_lock);
	pthread_join(thread, NULL);
}

/* serve - accept connections until a signal says stop */
static void
serve(int listen_fd, const char *config_path)
{
	struct pollfd fds[2] = { { listen_fd, POLLIN, 0 },
				 { signal_fd, POLLIN, 0 } };
	int fd;

	for (;;) {
		if (poll(fds, 2, -1) < 0)
			continue;	/* EINTR: the handler wrote the pipe */
		if ((fds[1].revents & POLLIN) && take_signals(config_path))
			break;
		if (!(fds[0].revents & POLLIN))
			continue;
		if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			start_client(fd);
	}
	pthread_mutex_lock(&clients_lock);
	while (clients > 0)
		pthread_cond_wait(&clients_done, &clients_lock);
	pthread_mutex_unlock(&clients_lock);
}

/* start - bind, detach, drop, harden, open; the listening fd or -1 */
static int
start(const mk_config *cfg, const char *socket_path, policy *pol)
{
	struct passwd *pw = NULL;
	mk_error err;
	int fd;

	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL) {
		mk_log(LOG_ERR, "%s:%d: user = %s: no such user", cfg->path,
		       cfg->line.user, cfg->user);
		policy_free(pol);
		return -1;
	}
	umask(077);
	if ((fd = bind_socket(socket_path, &err)) < 0
	    || (!foreground && daemon(0, 0) != 0 && mk_error_errno(&err, "detach"))
	    || (pw != NULL ? mk_drop_privileges(pw, &err) : mk_harden(&err)) != 0
	    || (signal_fd = mk_signals_install(&err)) < 0) {
		mk_log(LOG_ERR, "%s", err.msg);
		policy_free(pol);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((service = access_service_new(cfg, pol, &err)) == NULL) {
		mk_log(LOG_ERR, "%s", err.msg);	/* pol is freed with it */
		close(fd);
		return -1;
	}
	return fd;
}

/* print_problem - mk_check_fn: one line on stderr */
static void
print_problem(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, PROGNAME ": %s\n", problem);
}

/* check - -n: the start-up checks without starting; the exit status */
static int
check(const char *config_path, const char *socket_path)
{
	int n = mk_check_setup(config_path, MK_CHECK_ACCESS, socket_path,
			       print_problem, NULL);

	if (n == 0)
		printf("OK\n");
	else
		fprintf(stderr, PROGNAME ": %d problem%s\n", n, n == 1 ? "" : "s");
	return n == 0 ? 0 : 1;
}

/* main - options, configuration, serve */
int
main(int argc, char **argv)
{
	const char *config_path = MK_DEFAULT_CONFIG, *socket_path = NULL;
	mk_config *cfg;
	pthread_t indexer;
	policy *pol;
	mk_error err;
	int ch, fd;

	while ((ch = getopt(argc, argv, "c:fns:h")) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'f': foreground = true; break;
		case 'n': check_only = true; break;
		case 's': socket_path = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (check_only)
		return check(config_path, socket_path);
	mk_log_open(PROGNAME, foreground);
	if ((cfg = mk_config_load(config_path, &err)) == NULL
	    || (pol = policy_load_or_default(cfg->policy, &err)) == NULL) {
		fprintf(stderr, PROGNAME ": %s\n", err.msg);
		mk_config_free(cfg);
		return 1;
	}
	if (socket_path == NULL)
		socket_path = cfg->access_socket;
	if ((fd = start(cfg, socket_path, pol)) < 0) {
		if (!foreground)
			fprintf(stderr, PROGNAME ": start-up failed, see the mail log\n");
		mk_config_free(cfg);
		return 1;
	}
	if (pthread_create(&indexer, NULL, indexer_thread, cfg) != 0) {
		mk_log(LOG_ERR, "cannot start the full-text indexer thread");
		close(fd);
		access_service_free(service);
		mk_config_free(cfg);
		return 1;
	}
	mk_log(LOG_INFO, "started, listening on %s, archive %s", socket_path,
	     cfg->archive);
	serve(fd, config_path);
	stop_indexer(indexer);
	close(fd);
	access_service_free(service);
	mk_config_free(cfg);
	mk_log(LOG_INFO, "stopped");
	return 0;
}
