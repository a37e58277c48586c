/*
 * forward.c - a store sent to the archive's writer over writer.sock.
 *
 * NAME
 *	forward - writer forwarding, the side of the other process
 *
 * DESCRIPTION
 *	Only one process writes an archive: the one that holds writer.lock
 *	(archive.c), usually mailkeep-milter.  Another process of the
 *	archive's account that opens it ARCHIVE_WRITE meanwhile (mailkeep
 *	import) gets a forwarding handle: it reads on its own, as a reader
 *	does, and sends each store to the writer, which stores it through
 *	its own spool and committer (serve.c), so that batching, fsyncs, the
 *	ledger and the index are exactly the writer's.
 *
 *	One connection carries one store (docs/FORMAT.md 1.4).  The answer to
 *	B is not awaited: the content follows at once, and the answer is
 *	read when it has come (before the next write) or, at the latest,
 *	before the commit, so that a stream of stores costs no round trip
 *	each to begin:
 *
 *	  peer                                writer
 *	  B retain_until (8 bytes)     ->
 *	                               <-     O   (or E text: not begun)
 *	  D content (1..FORWARD_CHUNK) ->     ... any number, no answer
 *	  C envelope (JSON)            ->
 *	                               <-     I id (durable)  or  E text
 *
 *	or M {"size": N, "envelope": ...} -> I id or E text (metadata only),
 *	or P -> O (is a writer serving me?).  A frame is a type byte, a
 *	32-bit big-endian length, that many bytes.  A peer that closes the
 *	connection before its commit has stored nothing: the writer drops
 *	the spool.  The writer may send E at any time (a failed write of the
 *	content): the next archive_spool_write() sees it.
 *
 *	The frame functions here serve both sides.
 *
 * DIAGNOSTICS
 *	A store the writer refused fails with the writer's own error text;
 *	a connection lost fails with one that says so.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* frame_send - type, length, bytes to fd; 0 or -1 (errno set) */
int
frame_send(int fd, char type, const void *buf, size_t len)
{
	unsigned char head[5];
	struct iovec iov[2] = { { head, sizeof(head) }, { (void *)buf, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1 };
	ssize_t n;

	if (len > UINT32_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	head[0] = (unsigned char)type;
	head[1] = (unsigned char)(len >> 24);
	head[2] = (unsigned char)(len >> 16);
	head[3] = (unsigned char)(len >> 8);
	head[4] = (unsigned char)len;
	while (mh.msg_iovlen > 0) {
		if ((n = sendmsg(fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* ms_left - milliseconds from now to deadline (CLOCK_MONOTONIC, ms);
 * -1 for no deadline */
static int
ms_left(int64_t deadline)
{
	struct timespec ts;
	int64_t now;

	if (deadline < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* deadline_in - the deadline ms from now (-1: none) */
static int64_t
deadline_in(int ms)
{
	struct timespec ts;

	if (ms < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
}

/* read_exact - len bytes from fd by deadline, unless wake_fd becomes
 * readable; 0, or -1 with why */
static int
read_exact(int fd, int wake_fd, int64_t deadline, void *buf, size_t len,
	   mk_error *why)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { wake_fd, POLLIN, 0 } };
	char *at = buf;
	ssize_t n;
	int r;

	while (len > 0) {
		r = poll(p, wake_fd >= 0 ? 2 : 1, ms_left(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mk_error_errno(why, "poll");
		if (wake_fd >= 0 && p[1].revents != 0)
			return mk_error_set(why, "the archive's writer is closing");
		if (r == 0)
			return mk_error_set(why, "timed out");
		if ((n = read(fd, at, len)) < 0 && (errno == EINTR
						    || errno == EAGAIN))
			continue;
		if (n < 0)
			return mk_error_errno(why, "read");
		if (n == 0)
			return mk_error_set(why, "connection closed");
		at += n;
		len -= (size_t)n;
	}
	return 0;
}

/* frame_recv - one frame within limit(type) (internal.h) */
int
frame_recv(int fd, int wake_fd, int ms, frame_limit_fn limit, char *type,
	   char **buf, size_t *len, mk_error *why)
{
	int64_t deadline = deadline_in(ms);
	unsigned char head[5];
	long max;

	*buf = NULL;
	*len = 0;
	if (read_exact(fd, wake_fd, deadline, head, sizeof(head), why) != 0)
		return -1;
	*type = (char)head[0];
	*len = (size_t)head[1] << 24 | (size_t)head[2] << 16
	    | (size_t)head[3] << 8 | head[4];
	if ((max = limit(*type)) < 0)
		return mk_error_set(why, "malformed frame: type 0x%02x is not"
				    " expected here", head[0]);
	if (*len > (size_t)max)
		return mk_error_set(why, "malformed frame: %zu bytes of type"
				    " '%c', more than %ld", *len, *type, max);
	if (*len == 0)
		return 0;
	if ((*buf = malloc(*len + 1)) == NULL)
		return mk_error_set(why, "out of memory");
	(*buf)[*len] = '\0';	/* texts end there */
	if (read_exact(fd, wake_fd, deadline, *buf, *len, why) == 0)
		return 0;
	free(*buf);
	*buf = NULL;
	return -1;
}

/* forward_addr - the address of dir's writer.sock (internal.h) */
int
forward_addr(const char *dir, int dir_fd, struct sockaddr_un *sa,
	     mk_error *err)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir,
		     ARCHIVE_SOCK_FILE);
	if (n > 0 && (size_t)n < sizeof(sa->sun_path))
		return 0;
	if (dir_fd < 0)		/* too long: through the directory's fd */
		return mk_error_set(err, "%s/%s: path too long for a socket",
				    dir, ARCHIVE_SOCK_FILE);
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s",
		 dir_fd, ARCHIVE_SOCK_FILE);
	return 0;
}

/* connect_writer - a connection to the writer's socket; -1 with err */
static int
connect_writer(archive *ar, mk_error *err)
{
	struct timeval wr = { FORWARD_IDLE_SECONDS, 0 };
	struct sockaddr_un sa;
	int dfd = open(ar->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = -1;

	if (forward_addr(ar->dir, dfd, &sa, err) != 0)
		;
	else if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		mk_error_errno(err, "socket");
	else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		mk_error_errno(err, "no writer of %s takes stores on %s",
			       ar->dir, ARCHIVE_SOCK_FILE);
		close(fd);
		fd = -1;
	} else
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wr, sizeof(wr));
	if (dfd >= 0)
		close(dfd);
	return fd;
}

/* answer_limit - the frames a peer takes from the writer */
static long
answer_limit(char type)
{
	switch (type) {
	case FWD_OK:	return 0;
	case FWD_ID:	return ARCHIVE_ID_LEN;
	case FWD_ERROR:	return MK_ERROR_MAX - 1;
	default:	return -1;
	}
}

/* valid_id - 24 lowercase hex digits */
static bool
valid_id(const char *s, size_t len)
{
	size_t i;

	if (len != ARCHIVE_ID_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* await_answer - the writer's answer: want (FWD_OK, or FWD_ID with the id
 * into id), or its error text into err: -2; -1 when the connection fails */
static int
await_answer(int fd, int ms, char want, char id[ARCHIVE_ID_LEN + 1],
	     mk_error *err)
{
	mk_error why;
	char type, *buf;
	size_t len;
	int rc = -1;

	if (frame_recv(fd, -1, ms, answer_limit, &type, &buf, &len, &why) != 0)
		return mk_error_set(err, "the archive's writer did not answer:"
				    " %s", why.msg);
	if (type == FWD_ERROR) {
		mk_error_set(err, "%s", buf != NULL ? buf : "(no reason)");
		rc = -2;
	} else if (type != want || (want == FWD_ID && !valid_id(buf, len)))
		mk_error_set(err, "the archive's writer answered a frame of"
			     " type '%c' instead of '%c'", type, want);
	else {
		if (want == FWD_ID)
			memcpy(id, buf, ARCHIVE_ID_LEN + 1);
		rc = 0;
	}
	free(buf);
	return rc;
}

/* forward_probe - does a writer serve this process on writer.sock?  0;
 * -2 when it refuses (its reason in err), -1 when none answers */
int
forward_probe(archive *ar, mk_error *err)
{
	int fd = connect_writer(ar, err), rc = -1;

	if (fd < 0)
		return -1;
	if (frame_send(fd, FWD_PING, NULL, 0) != 0)
		mk_error_errno(err, "the archive's writer: send");
	else
		rc = await_answer(fd, FORWARD_OPEN_MS, FWD_OK, NULL, err);
	close(fd);
	return rc;
}

/* forward_begin - a spool being begun at the writer: the connection
 * (its answer read later: *unconfirmed); -1, or -2 when no writer
 * listens */
int
forward_begin(archive *ar, int64_t retain_until, bool *unconfirmed,
	      mk_error *err)
{
	unsigned char be[8];
	uint64_t v = (uint64_t)retain_until;
	int fd, i;

	if ((fd = connect_writer(ar, err)) < 0)
		return -2;
	for (i = 7; i >= 0; i--, v >>= 8)
		be[i] = (unsigned char)v;
	if (frame_send(fd, FWD_BEGIN, be, sizeof(be)) == 0) {
		*unconfirmed = true;
		return fd;
	}
	mk_error_errno(err, "the archive's writer: send");
	close(fd);
	return -1;
}

/* early_error - what the writer sent ahead: the answer to the begin
 * (once: *unconfirmed), or an error (a failed begin or write of the
 * content, a close), if any: -1 with it in err; 0 when all is well */
static int
early_error(int fd, bool *unconfirmed, mk_error *err)
{
	struct pollfd p = { fd, POLLIN, 0 };

	while (poll(&p, 1, 0) > 0) {
		if (await_answer(fd, 1000, FWD_OK, NULL, err) != 0)
			return -1;
		if (!*unconfirmed)
			return mk_error_set(err, "the archive's writer"
					    " answered before the commit");
		*unconfirmed = false;
	}
	return 0;
}

/* confirmed - the answer to the begin, waited for if not read yet */
static int
confirmed(int fd, bool *unconfirmed, mk_error *err)
{
	if (!*unconfirmed)
		return 0;
	if (await_answer(fd, FORWARD_ANSWER_SECONDS * 1000, FWD_OK, NULL,
			 err) != 0)
		return -1;
	*unconfirmed = false;
	return 0;
}

/* lost - a send failed: the writer's reason if it sent one, else the
 * broken connection */
static int
lost(int fd, bool *unconfirmed, mk_error *err)
{
	int saved = errno;

	if (early_error(fd, unconfirmed, err) != 0)
		return -1;
	errno = saved;
	return mk_error_errno(err, "the connection to the archive's writer"
			      " broke (nothing of this message is kept)");
}

/* forward_write - content to the writer in FORWARD_CHUNK frames */
int
forward_write(int fd, bool *unconfirmed, const void *buf, size_t len,
	      mk_error *err)
{
	const char *at = buf;
	size_t n;

	if (early_error(fd, unconfirmed, err) != 0)
		return -1;
	while (len > 0) {
		n = len < FORWARD_CHUNK ? len : FORWARD_CHUNK;
		if (frame_send(fd, FWD_DATA, at, n) != 0)
			return lost(fd, unconfirmed, err);
		at += n;
		len -= n;
	}
	return 0;
}

/* send_json - obj (consumed) as one frame of type; 0 or -1 with err */
static int
send_json(int fd, bool *unconfirmed, char type, json_t *obj, mk_error *err)
{
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(obj);
	if (text == NULL)
		mk_error_set(err, "out of memory");
	else if (strlen(text) > FORWARD_MAX_JSON)
		mk_error_set(err, "an envelope of %zu bytes: more than the %d"
			     " a writer takes", strlen(text), FORWARD_MAX_JSON);
	else if (frame_send(fd, type, text, strlen(text)) != 0)
		lost(fd, unconfirmed, err);
	else
		rc = 0;
	free(text);
	return rc;
}

/* forward_commit - the envelope to the writer; 0 with the id once its
 * commit returned 0; closes fd */
int
forward_commit(int fd, bool *unconfirmed, const archive_envelope *env,
	       char id_out[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	int rc = -1;

	if (early_error(fd, unconfirmed, err) == 0
	    && confirmed(fd, unconfirmed, err) == 0
	    && send_json(fd, unconfirmed, FWD_COMMIT, envelope_json(env),
			 err) == 0)
		rc = await_answer(fd, FORWARD_ANSWER_SECONDS * 1000, FWD_ID,
				  id_out, err) == 0 ? 0 : -1;
	close(fd);
	return rc;
}

/* forward_metadata - archive_store_metadata() at the writer; -2 when
 * no writer listens */
int
forward_metadata(archive *ar, const archive_envelope *env, int64_t size,
		 char id_out[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	json_t *obj = json_object(), *e = envelope_json(env);
	int fd, rc = -1;

	if (obj == NULL || e == NULL
	    || json_object_set_new(obj, "size", json_integer(size)) != 0
	    || json_object_set(obj, "envelope", e) != 0) {
		json_decref(obj);
		json_decref(e);
		return mk_error_set(err, "out of memory");
	}
	json_decref(e);
	if ((fd = connect_writer(ar, err)) < 0) {
		json_decref(obj);
		return -2;
	}
	if (send_json(fd, &(bool){ false }, FWD_METADATA, obj, err) == 0)
		rc = await_answer(fd, FORWARD_ANSWER_SECONDS * 1000, FWD_ID,
				  id_out, err) == 0 ? 0 : -1;
	close(fd);
	return rc;
}

/* forward_writer - the writer this handle became (forward_promote), or
 * NULL */
archive *
forward_writer(archive *ar)
{
	archive *w;

	pthread_mutex_lock(&ar->promote_lock);
	w = ar->inner;
	pthread_mutex_unlock(&ar->promote_lock);
	return w;
}

/* forward_promote - no writer listens any more (it closed the archive,
 * or died): this handle opens the archive for writing inside itself and
 * stores there from now on (and serves others in turn).  The writer, or
 * NULL with err (another process took the lock meanwhile: the next store
 * forwards to it) */
archive *
forward_promote(archive *ar, mk_error *err)
{
	mk_error why = { "" };
	archive *w;

	pthread_mutex_lock(&ar->promote_lock);
	if ((w = ar->inner) == NULL) {
		w = archive_open_with(ar->dir, ARCHIVE_WRITE, &ar->opts, &why);
		if (w != NULL && w->forwarding) {
			archive_close(w);
			w = NULL;
			mk_error_set(&why, "another process has just taken the"
				     " writer lock");
		}
		ar->inner = w;
	}
	pthread_mutex_unlock(&ar->promote_lock);
	if (w == NULL)
		mk_error_set(err, "the archive's writer has gone, and this"
			     " process cannot become it: %s", why.msg);
	return w;
}
