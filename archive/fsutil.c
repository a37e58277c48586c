/*
 * fsutil.c - small file-system and encoding helpers of the store.  See
 * fsutil.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "archive/fsutil.h"

/* write_all - write len bytes to fd, retrying short and interrupted writes */
int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* mkdir_if_missing - mkdir(path, mode) unless a directory is there */
int
mkdir_if_missing(const char *path, int mode)
{
	struct stat st;

	if (mkdir(path, (mode_t)mode) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		errno = ENOTDIR;
	return -1;
}

/* fsync_path - open path read-only and fsync it (works on directories) */
int
fsync_path(const char *path, mk_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return mk_error_errno(err, "open %s", path);
	if (fsync(fd) != 0) {
		mk_error_errno(err, "fsync %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* hex_encode - lowercase hex of in[0..len) into out (2*len+1 bytes) */
void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* path_join - "dir/name", allocated; NULL when out of memory */
char *
path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

/* now_micros - wall-clock time in microseconds since the epoch */
int64_t
now_micros(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* nibble - the value of one hex digit, or -1 */
static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* hex_decode - 2*len hex digits of in into out[len]; 0, or -1 when in is
 * not exactly that */
int
hex_decode(const char *in, unsigned char *out, size_t len)
{
	int hi, lo;
	size_t i;

	if (in == NULL || strlen(in) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		if ((hi = nibble(in[2 * i])) < 0 || (lo = nibble(in[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* sha256_hex - the SHA-256 of buf as 64 hex digits into hex */
void
sha256_hex(const void *buf, size_t len, char hex[65])
{
	unsigned char md[32];

	SHA256(buf, len, md);
	hex_encode(md, sizeof(md), hex);
}

/* base64_encode - buf in Base64 (no line breaks), allocated; NULL when
 * out of memory */
char *
base64_encode(const unsigned char *buf, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return out;
}

/* base64_decode - Base64 text into a new buffer and its length; NULL
 * when the text is not Base64 */
unsigned char *
base64_decode(const char *text, size_t *len)
{
	size_t n = text != NULL ? strlen(text) : 0, pad = 0;
	unsigned char *out;
	int got;

	if (n == 0 || n % 4 != 0 || (out = malloc(3 * n / 4 + 1)) == NULL)
		return NULL;
	if ((got = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n)) < 0) {
		free(out);
		return NULL;
	}
	pad = (text[n - 1] == '=') + (text[n - 2] == '=');
	*len = (size_t)got - pad;
	return out;
}

/* own_like_dir - as root, give the new file at fd the owner of the
 * directory it is in (e.g. keys made by "mailkeep keys rotate" must stay
 * readable by the milter's user); 0 or -1/errno */
int
own_like_dir(int fd, const char *path)
{
	char *dir, *slash;
	struct stat st;
	int rc = 0;

	if (geteuid() != 0)
		return 0;
	if ((dir = strdup(path)) == NULL)
		return -1;
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (stat(slash != NULL ? dir : ".", &st) != 0
	    || fchown(fd, st.st_uid, st.st_gid) != 0)
		rc = -1;
	free(dir);
	return rc;
}

/* mkdir_owned - mkdir path (0700), owned like its parent (so that what
 * root makes stays the milter's); one that is there already is fine */
int
mkdir_owned(const char *path)
{
	int fd, rc;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = own_like_dir(fd, path);
	close(fd);
	return rc;
}

/* write_new_file - create dir/name (mode 0600, must not exist, owned
 * like its directory) holding len bytes, fsynced; with sync_dir its
 * directory too, so the name is durable.  A file that could not be
 * written whole is removed. */
int
write_new_file(const char *dir, const char *name, const void *buf,
	       size_t len, bool sync_dir, mk_error *err)
{
	char *path = path_join(dir, name);
	int fd, rc = 0;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = mk_error_errno(err, "create %s", path);
	else if (own_like_dir(fd, path) != 0)
		rc = mk_error_errno(err, "chown %s", path);
	else if (write_all(fd, buf, len) != 0 || fsync(fd) != 0)
		rc = mk_error_errno(err, "write %s", path);
	if (fd >= 0)
		close(fd);
	if (rc != 0 && fd >= 0)
		unlink(path);
	if (rc == 0 && sync_dir) {
		*strrchr(path, '/') = '\0';
		rc = fsync_path(path, err);
	}
	free(path);
	return rc;
}

/* fd_line_start - offset of the first byte after the last '\n' before
 * end in fd (0 when there is none) */
int
fd_line_start(int fd, const char *path, off_t end, off_t *start, mk_error *err)
{
	char buf[FD_TAIL_CHUNK];
	off_t pos = end;
	size_t want;
	char *nl;

	while (pos > 0) {
		want = pos > FD_TAIL_CHUNK ? FD_TAIL_CHUNK : (size_t)pos;
		if (pread(fd, buf, want, pos - (off_t)want) != (ssize_t)want)
			return mk_error_errno(err, "read %s", path);
		if ((nl = memrchr(buf, '\n', want)) != NULL) {
			*start = pos - (off_t)want + (nl - buf) + 1;
			return 0;
		}
		pos -= (off_t)want;
	}
	*start = 0;
	return 0;
}

/* fd_cut_torn_line - cut a last line without its '\n' (a write that
 * never finished) off the file fd; its new size into *end */
int
fd_cut_torn_line(int fd, const char *path, off_t *end, mk_error *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return mk_error_errno(err, "stat %s", path);
	if (fd_line_start(fd, path, st.st_size, end, err) != 0)
		return -1;
	if (*end != st.st_size && ftruncate(fd, *end) != 0)
		return mk_error_errno(err, "cut torn line off %s", path);
	return 0;
}
