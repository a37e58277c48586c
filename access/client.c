/*
 * client.c - the one way to speak to mailkeep-access.
 *
 * NAME
 *	client - connect, send one request, read the answer's frames
 *
 * DESCRIPTION
 *	access_client_open() connects to the service's Unix socket and
 *	sends the request line; access_client_next() reads one frame at a
 *	time into a buffer that grows to the largest frame (at most
 *	ACCESS_MAX_FRAME), so memory does not depend on the size of the
 *	answer.  The connection carries nothing about who is asking: the
 *	service reads that from the kernel.
 *
 * DIAGNOSTICS
 *	A service that is not there gives one line saying so and how to
 *	start it; a connection that ends before the end frame is an error
 *	("the access service closed the connection").
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "access/access.h"

struct access_client {
	int fd;
	char *buf;
	size_t cap;
	bool ended;
};

/* connect_to - a connected stream socket to path, or -1 with err */
static int
connect_to(const char *path, mk_error *err)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return mk_error_set(err, "access socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return mk_error_errno(err, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		mk_error_set(err, "the access service is not running (connect"
			     " %s: %s); start it: systemctl start"
			     " mailkeep-access, or mailkeep-access -c FILE",
			     path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* send_all - the request line; 0 or -1 with err */
static int
send_all(int fd, const char *line, mk_error *err)
{
	size_t len = strlen(line), off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mk_error_errno(err, "send the request to the"
					      " access service");
		off += (size_t)n;
	}
	return 0;
}

/* access_client_open - connect and send rq */
access_client *
access_client_open(const char *socket_path, const access_request *rq,
		   mk_error *err)
{
	access_client *c;
	char *line;

	if ((line = access_request_format(rq)) == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if (strlen(line) > ACCESS_MAX_REQUEST) {
		free(line);
		mk_error_set(err, "request longer than %d bytes",
			     ACCESS_MAX_REQUEST);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free(line);
		mk_error_set(err, "out of memory");
		return NULL;
	}
	c->fd = connect_to(socket_path, err);
	if (c->fd < 0 || send_all(c->fd, line, err) != 0) {
		free(line);
		access_client_close(c);
		return NULL;
	}
	free(line);
	return c;
}

/* read_full - exactly len bytes; 1, 0 at a clean end, -1 with err */
static int
read_full(int fd, void *buf, size_t len, mk_error *err)
{
	char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mk_error_errno(err, "read from the access service");
		if (n == 0)
			return got == 0 ? 0 : mk_error_set(err, "the access"
				" service closed the connection mid-frame");
		got += (size_t)n;
	}
	return 1;
}

/* grow - make room for len bytes and a NUL */
static int
grow(access_client *c, size_t len, mk_error *err)
{
	char *bigger;

	if (len + 1 <= c->cap)
		return 0;
	if ((bigger = realloc(c->buf, len + 1)) == NULL)
		return mk_error_set(err, "out of memory");
	c->buf = bigger;
	c->cap = len + 1;
	return 0;
}

/* access_client_next - the next frame */
int
access_client_next(access_client *c, char *type, const char **buf,
		   size_t *len, mk_error *err)
{
	unsigned char head[5];
	size_t n;
	int rc;

	if (c->ended)
		return 0;
	if ((rc = read_full(c->fd, head, sizeof(head), err)) <= 0)
		return rc < 0 ? -1 : mk_error_set(err, "the access service"
			" closed the connection before the end of its answer");
	n = (size_t)head[1] << 24 | (size_t)head[2] << 16
	    | (size_t)head[3] << 8 | head[4];
	if (n > ACCESS_MAX_FRAME)
		return mk_error_set(err, "the access service sent a frame of"
				    " %zu bytes", n);
	if (grow(c, n, err) != 0)
		return -1;
	if (n > 0 && (rc = read_full(c->fd, c->buf, n, err)) != 1)
		return rc < 0 ? -1 : mk_error_set(err, "the access service"
			" closed the connection mid-frame");
	c->buf[n] = '\0';
	*type = (char)head[0];
	*buf = c->buf;
	*len = n;
	if (*type == ACCESS_FRAME_END)
		c->ended = true;
	return 1;
}

/* access_client_send - one frame to the service */
int
access_client_send(access_client *c, char type, const void *buf, size_t len,
		   mk_error *err)
{
	return access_frame_write(c->fd, type, buf, len, err);
}

/* access_client_fd - the connection's socket */
int
access_client_fd(const access_client *c)
{
	return c->fd;
}

/* access_client_close - close the connection and free c */
void
access_client_close(access_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}
