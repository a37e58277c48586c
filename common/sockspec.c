/*
 * sockspec.c - checking a milter socket specification.  See sockspec.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/sockspec.h"

/* fail - the reason into why; returns -1 */
static int __attribute__((format(printf, 2, 3)))
fail(char why[MK_SOCKSPEC_WHY], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, MK_SOCKSPEC_WHY, fmt, ap);
	va_end(ap);
	return -1;
}

/* parse_path - the file of a unix: or local: spec */
static int
parse_path(const char *path, mk_sockspec *out, char why[MK_SOCKSPEC_WHY])
{
	size_t len = strlen(path);

	if (len == 0)
		return fail(why, "the path after the scheme is empty");
	if (path[0] != '/')
		return fail(why, "the path \"%.200s\" is not absolute", path);
	if (len >= sizeof(((struct sockaddr_un *)0)->sun_path)
	    || len >= sizeof(out->path))
		return fail(why, "the path is %zu bytes long; a Unix socket's"
			    " path must be shorter than %zu", len,
			    sizeof(((struct sockaddr_un *)0)->sun_path));
	out->kind = MK_SOCK_UNIX;
	memcpy(out->path, path, len + 1);
	return 0;
}

/* parse_port - PORT of PORT@HOST: decimal digits, 1 to 65535 */
static int
parse_port(const char *text, size_t len, unsigned *port,
	   char why[MK_SOCKSPEC_WHY])
{
	unsigned long n = 0;
	size_t i;

	if (len == 0)
		return fail(why, "the port is missing (want PORT@HOST)");
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return fail(why, "the port \"%.*s\" is not a decimal"
				    " number", (int)(len > 32 ? 32 : len), text);
		if ((n = n * 10 + (unsigned long)(text[i] - '0')) > 65535)
			break;
	}
	if (n < 1 || n > 65535)
		return fail(why, "the port %.*s is out of range (1 to 65535)",
			    (int)(len > 32 ? 32 : len), text);
	*port = (unsigned)n;
	return 0;
}

/* parse_inet - PORT@HOST of an inet: or inet6: spec */
static int
parse_inet(const char *rest, mk_sock_kind kind, mk_sockspec *out,
	   char why[MK_SOCKSPEC_WHY])
{
	const char *at = strchr(rest, '@');
	const char *host = at != NULL ? at + 1 : NULL;

	if (at == NULL)
		return fail(why, "no '@' between port and host (want PORT@HOST,"
			    " e.g. 8894@127.0.0.1)");
	if (parse_port(rest, (size_t)(at - rest), &out->port, why) != 0)
		return -1;
	if (*host == '\0')
		return fail(why, "the host after '@' is empty");
	if (strlen(host) >= sizeof(out->host))
		return fail(why, "the host is longer than %zu bytes",
			    sizeof(out->host) - 1);
	out->kind = kind;
	snprintf(out->host, sizeof(out->host), "%s", host);
	return 0;
}

/* mk_sockspec_parse - see sockspec.h */
int
mk_sockspec_parse(const char *spec, mk_sockspec *out,
		  char why[MK_SOCKSPEC_WHY])
{
	const char *colon = strchr(spec, ':');
	size_t scheme;

	memset(out, 0, sizeof(*out));
	if (colon == NULL)
		return fail(why, "no scheme (want unix:/PATH, local:/PATH,"
			    " inet:PORT@HOST or inet6:PORT@HOST)");
	scheme = (size_t)(colon - spec);
	if ((scheme == 4 && strncmp(spec, "unix", 4) == 0)
	    || (scheme == 5 && strncmp(spec, "local", 5) == 0))
		return parse_path(colon + 1, out, why);
	if (scheme == 4 && strncmp(spec, "inet", 4) == 0)
		return parse_inet(colon + 1, MK_SOCK_INET, out, why);
	if (scheme == 5 && strncmp(spec, "inet6", 5) == 0)
		return parse_inet(colon + 1, MK_SOCK_INET6, out, why);
	return fail(why, "unknown scheme \"%.*s\" (want unix, local, inet or"
		    " inet6)", (int)(scheme > 32 ? 32 : scheme), spec);
}

/* check_host - a literal of the family, or a name that resolves to one */
static int
check_host(const mk_sockspec *s, char why[MK_SOCKSPEC_WHY])
{
	int family = s->kind == MK_SOCK_INET ? AF_INET : AF_INET6;
	struct addrinfo hints, *res = NULL;
	unsigned char buf[sizeof(struct in6_addr)];
	int rc;

	if (inet_pton(family, s->host, buf) == 1)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(s->host, NULL, &hints, &res);
	if (res != NULL)
		freeaddrinfo(res);
	if (rc == 0)
		return 0;
	return fail(why, "the host \"%s\" is not an %s address, and as a name"
		    " it does not resolve: %s", s->host,
		    family == AF_INET ? "IPv4" : "IPv6", gai_strerror(rc));
}

/* check_dir - the directory of a unix: socket's path exists */
static int
check_dir(const mk_sockspec *s, char why[MK_SOCKSPEC_WHY])
{
	char dir[MK_SOCKSPEC_PATH];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", s->path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';	/* "/name": the root */
	else
		*slash = '\0';
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return fail(why, "the directory %s of the path does not exist",
			    dir);
	return 0;
}

/* mk_sockspec_check - see sockspec.h */
int
mk_sockspec_check(const mk_sockspec *s, char why[MK_SOCKSPEC_WHY])
{
	return s->kind == MK_SOCK_UNIX ? check_dir(s, why) : check_host(s, why);
}
