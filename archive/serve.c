/*
 * serve.c - the writer takes stores of other processes on writer.sock.
 *
 * NAME
 *	serve - writer forwarding, the writer's side
 *
 * DESCRIPTION
 *	A process that opens an archive ARCHIVE_WRITE and takes the writer
 *	lock binds writer.sock in the archive directory (mode 0600, a stale
 *	one from a killed writer replaced: the lock, not the socket, says
 *	who writes) and a thread accepts connections on it.  Only the
 *	directory's owner and root are served (SO_PEERCRED); others hear why
 *	and are closed.  Each connection is served by a thread of its own,
 *	at most FORWARD_PEERS_MAX at once, and carries one store
 *	(forward.c has the protocol): the content goes into this writer's
 *	own spool as it arrives, the commit through its own committer, the
 *	answer only once that commit returned.
 *
 *	The peer is trusted only as far as its uid: a frame of a type not
 *	expected, longer than its limit or shorter than its minimum, an
 *	envelope that does not parse (envelope.c), a silence longer than
 *	FORWARD_IDLE_SECONDS end the connection, and the spool being
 *	received is discarded: nothing changes.  A peer that hangs up
 *	before its commit has its spool discarded the same way.
 *
 *	At close (forward_stop) the writer stops accepting, fails the
 *	stores still being received (E, spool discarded), lets those whose
 *	commit was submitted finish (the committer still runs), and removes
 *	writer.sock while it still holds the lock.
 *
 * DIAGNOSTICS
 *	A socket that cannot be made is told to the archive's warn
 *	callback, and the writer works alone; peers' failures go back to
 *	them as E frames.  Nothing here prints.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "archive/internal.h"

/* refuse - tell the peer why (best effort) */
static void
refuse(int fd, const mk_error *why)
{
	(void)frame_send(fd, FWD_ERROR, why->msg, strlen(why->msg));
}

/* first_limit - the frames that may open a connection */
static long
first_limit(char type)
{
	switch (type) {
	case FWD_PING:		return 0;
	case FWD_BEGIN:		return 8;
	case FWD_METADATA:	return FORWARD_MAX_JSON;
	default:		return -1;
	}
}

/* spool_limit - the frames of a spool begun */
static long
spool_limit(char type)
{
	switch (type) {
	case FWD_DATA:		return FORWARD_CHUNK;
	case FWD_COMMIT:	return FORWARD_MAX_JSON;
	default:		return -1;
	}
}

/* next_frame - the peer's next frame of the types limit allows */
static int
next_frame(archive *ar, int fd, frame_limit_fn limit, char *type,
	   char **buf, size_t *len, mk_error *why)
{
	return frame_recv(fd, ar->serve.wake[0], FORWARD_IDLE_SECONDS * 1000,
			  limit, type, buf, len, why);
}

/* load_object - a frame's JSON object (duplicate members refused) */
static json_t *
load_object(const char *buf, size_t len, mk_error *err)
{
	json_error_t jerr;
	json_t *obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

	if (json_is_object(obj))
		return obj;
	json_decref(obj);
	mk_error_set(err, "malformed frame: not a JSON object: %s", jerr.text);
	return NULL;
}

/* answer_id - the result of a store: its id, or its error */
static void
answer_id(int fd, int rc, const char id[ARCHIVE_ID_LEN + 1],
	  const mk_error *err)
{
	if (rc == 0)
		(void)frame_send(fd, FWD_ID, id, ARCHIVE_ID_LEN);
	else
		refuse(fd, err);
}

/* commit_spool - the commit frame's envelope, and sp's commit */
static int
commit_spool(archive *ar, archive_spool *sp, const char *buf, size_t len,
	     char id[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	archive_envelope env;
	json_t *obj = load_object(buf, len, err);
	int rc = -1;

	(void)ar;
	if (obj == NULL || envelope_parse(obj, &env, err) != 0)
		archive_spool_discard(sp);
	else {
		rc = archive_spool_commit(sp, &env, id, err);
		envelope_free(&env);
	}
	json_decref(obj);
	return rc;
}

/* receive_spool - the content frames of sp, then its commit; the
 * spool is consumed whatever happens */
static void
receive_spool(archive *ar, int fd, archive_spool *sp)
{
	char id[ARCHIVE_ID_LEN + 1], type, *buf;
	mk_error err;
	size_t len;
	int rc;

	for (;;) {
		rc = next_frame(ar, fd, spool_limit, &type, &buf, &len, &err);
		if (rc == 0 && type == FWD_COMMIT)
			break;
		if (rc == 0 && len == 0)
			rc = mk_error_set(&err, "malformed frame: empty content");
		if (rc == 0)
			rc = archive_spool_write(sp, buf, len, &err);
		free(buf);
		if (rc != 0) {
			archive_spool_discard(sp);
			refuse(fd, &err);
			return;
		}
	}
	rc = commit_spool(ar, sp, buf, len, id, &err);
	free(buf);
	answer_id(fd, rc, id, &err);
}

/* serve_begin - a begin frame: the spool begun here, its content
 * received, committed */
static void
serve_begin(archive *ar, int fd, const unsigned char *be, size_t len)
{
	archive_spool *sp;
	uint64_t v = 0;
	mk_error err;
	size_t i;

	if (len != 8) {
		mk_error_set(&err, "malformed frame: a begin frame of %zu bytes",
			     len);
		refuse(fd, &err);
		return;
	}
	for (i = 0; i < 8; i++)
		v = v << 8 | be[i];
	if ((sp = archive_spool_begin(ar, (int64_t)v, &err)) == NULL) {
		refuse(fd, &err);
		return;
	}
	if (frame_send(fd, FWD_OK, NULL, 0) != 0) {
		archive_spool_discard(sp);
		return;
	}
	receive_spool(ar, fd, sp);
}

/* serve_metadata - a metadata frame: {"size": N, "envelope": {...}} */
static void
serve_metadata(archive *ar, int fd, const char *buf, size_t len)
{
	char id[ARCHIVE_ID_LEN + 1];
	archive_envelope env;
	json_t *obj = load_object(buf, len, &(mk_error){ 0 }), *size;
	mk_error err;
	int rc = -1;

	size = json_object_get(obj, "size");
	if (obj == NULL || json_object_size(obj) != 2 || !json_is_integer(size)
	    || json_integer_value(size) < 0)
		mk_error_set(&err, "malformed frame: a metadata frame is"
			     " {\"size\": N, \"envelope\": {...}}");
	else if (envelope_parse(json_object_get(obj, "envelope"), &env,
				&err) == 0) {
		rc = archive_store_metadata(ar, &env, json_integer_value(size),
					    id, &err);
		envelope_free(&env);
	}
	json_decref(obj);
	answer_id(fd, rc, id, &err);
}

/* serve_peer - the one store of a connection */
static void
serve_peer(archive *ar, int fd)
{
	char type, *buf;
	mk_error err;
	size_t len;

	if (next_frame(ar, fd, first_limit, &type, &buf, &len, &err) != 0) {
		refuse(fd, &err);
		return;
	}
	if (type == FWD_PING)
		(void)frame_send(fd, FWD_OK, NULL, 0);
	else if (type == FWD_BEGIN)
		serve_begin(ar, fd, (const unsigned char *)buf, len);
	else
		serve_metadata(ar, fd, buf != NULL ? buf : "", len);
	free(buf);
}

/* peer_main - the thread of one connection */
static void *
peer_main(void *arg)
{
	forward_peer *p = arg;
	forward_server *s = &p->ar->serve;

	serve_peer(p->ar, p->fd);
	close(p->fd);
	pthread_mutex_lock(&s->lock);
	p->done = true;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* reap - join the finished peer threads; a free slot, or NULL */
static forward_peer *
reap(forward_server *s)
{
	forward_peer *free_slot = NULL;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < FORWARD_PEERS_MAX; i++) {
		if (s->peers[i].used && s->peers[i].done) {
			pthread_join(s->peers[i].thread, NULL);
			s->peers[i].used = false;
		}
		if (!s->peers[i].used && free_slot == NULL)
			free_slot = &s->peers[i];
	}
	pthread_mutex_unlock(&s->lock);
	return free_slot;
}

/* peer_allowed - is the peer the directory's owner or root? */
static int
peer_allowed(archive *ar, int fd, mk_error *why)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return mk_error_errno(why, "SO_PEERCRED");
	if (cred.uid == ar->serve.owner || cred.uid == 0)
		return 0;
	return mk_error_set(why, "uid %u may not store in %s: its writer takes"
			    " stores of uid %u (the archive's owner) and root"
			    " only", (unsigned)cred.uid, ar->dir,
			    (unsigned)ar->serve.owner);
}

/* admit - serve a new connection in a thread of its own, or say why
 * not and close it */
static void
admit(archive *ar, int fd)
{
	struct timeval wr = { FORWARD_IDLE_SECONDS, 0 };
	forward_server *s = &ar->serve;
	forward_peer *p;
	mk_error why;
	int rc;

	if (peer_allowed(ar, fd, &why) != 0)
		p = NULL;
	else if ((p = reap(s)) == NULL)
		mk_error_set(&why, "the archive's writer serves %d connections"
			     " already", FORWARD_PEERS_MAX);
	if (p != NULL) {
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wr, sizeof(wr));
		*p = (forward_peer){ .ar = ar, .fd = fd, .used = true };
		if ((rc = pthread_create(&p->thread, NULL, peer_main, p)) == 0)
			return;
		p->used = false;
		mk_error_set(&why, "cannot start a thread: %s", strerror(rc));
	}
	refuse(fd, &why);
	close(fd);
}

/* accept_main - the thread that accepts connections until stopped */
static void *
accept_main(void *arg)
{
	archive *ar = arg;
	forward_server *s = &ar->serve;
	struct pollfd p[2] = { { s->listen_fd, POLLIN, 0 },
			       { s->wake[0], POLLIN, 0 } };
	int fd;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		if ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			admit(ar, fd);
		else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			poll(NULL, 0, 100);	/* do not spin */
	}
	return NULL;
}

/* warn_alone - tell the owner that stores of others are not taken */
static void
warn_alone(archive *ar, const mk_error *why)
{
	char msg[MK_ERROR_MAX + 128];

	if (ar->opts.warn == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s/%s: %s; stores of other processes are"
		 " not taken while this writer runs", ar->dir,
		 ARCHIVE_SOCK_FILE, why->msg);
	ar->opts.warn(ar->opts.warn_ctx, msg);
}

/* bind_socket - a listening writer.sock (a stale one replaced), 0600,
 * owned as the directory; the socket, or -1 with why */
static int
bind_socket(archive *ar, int dfd, mk_error *why)
{
	struct sockaddr_un sa;
	int fd;

	if (forward_addr(ar->dir, dfd, &sa, why) != 0)
		return -1;
	if (unlinkat(dfd, ARCHIVE_SOCK_FILE, 0) != 0 && errno != ENOENT)
		return mk_error_errno(why, "remove the stale socket");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return mk_error_errno(why, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		mk_error_errno(why, "bind");
	else if (fchmodat(dfd, ARCHIVE_SOCK_FILE, 0600, 0) != 0)
		mk_error_errno(why, "chmod");
	else if (geteuid() == 0 && fchownat(dfd, ARCHIVE_SOCK_FILE,
					    ar->serve.owner, (gid_t)-1, 0) != 0)
		mk_error_errno(why, "chown");
	else if (listen(fd, FORWARD_PEERS_MAX) != 0)
		mk_error_errno(why, "listen");
	else
		return fd;
	close(fd);
	unlinkat(dfd, ARCHIVE_SOCK_FILE, 0);
	return -1;
}

/* serve_setup - the socket and the wake pipe; 0 or -1 with why */
static int
serve_setup(archive *ar, int dfd, mk_error *why)
{
	forward_server *s = &ar->serve;
	struct stat st;

	if (fstat(dfd, &st) != 0)
		return mk_error_errno(why, "stat");
	s->owner = st.st_uid;
	if (pipe2(s->wake, O_CLOEXEC) != 0)
		return mk_error_errno(why, "pipe");
	if ((s->listen_fd = bind_socket(ar, dfd, why)) < 0)
		return -1;
	return 0;
}

/* serve_teardown - close what serve_setup made and remove the socket */
static void
serve_teardown(archive *ar, int dfd)
{
	forward_server *s = &ar->serve;

	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlinkat(dfd, ARCHIVE_SOCK_FILE, 0);
	}
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	s->listen_fd = s->wake[0] = s->wake[1] = -1;
}

/* forward_start - serve others' stores on writer.sock (internal.h) */
void
forward_start(archive *ar)
{
	forward_server *s = &ar->serve;
	int dfd = open(ar->dir, O_PATH | O_DIRECTORY | O_CLOEXEC), rc;
	mk_error why;

	s->listen_fd = s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (dfd < 0)
		mk_error_errno(&why, "open %s", ar->dir);
	else if (serve_setup(ar, dfd, &why) != 0)
		serve_teardown(ar, dfd);
	else if ((rc = pthread_create(&s->thread, NULL, accept_main, ar)) != 0) {
		mk_error_set(&why, "cannot start a thread: %s", strerror(rc));
		serve_teardown(ar, dfd);
	} else
		s->running = true;
	if (dfd >= 0)
		close(dfd);
	if (!s->running)
		warn_alone(ar, &why);
}

/* forward_stop - stop serving; remove writer.sock (internal.h) */
void
forward_stop(archive *ar)
{
	forward_server *s = &ar->serve;
	int dfd;
	size_t i;

	if (!s->running)
		return;
	if (write(s->wake[1], "", 1) != 1) {
		/* a new pipe with nothing in it: cannot fail */
	}
	pthread_join(s->thread, NULL);
	dfd = open(ar->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	close(s->listen_fd);	/* connections not accepted are refused */
	s->listen_fd = -1;
	if (dfd >= 0)	/* else the next writer replaces it */
		unlinkat(dfd, ARCHIVE_SOCK_FILE, 0);
	for (i = 0; i < FORWARD_PEERS_MAX; i++)
		if (s->peers[i].used)
			pthread_join(s->peers[i].thread, NULL);
	serve_teardown(ar, dfd);
	if (dfd >= 0)
		close(dfd);
	pthread_mutex_destroy(&s->lock);
	s->running = false;
}
