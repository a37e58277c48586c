/*
 * sockspec.h - a milter socket specification, checked before libmilter
 * sees it.
 *
 * NAME
 *	mk_sockspec_parse, mk_sockspec_check - "unix:/path", "local:/path",
 *	"inet:PORT@HOST", "inet6:PORT@HOST"
 *
 * DESCRIPTION
 *	libmilter takes a spec as it is: a port of 99999 wraps to 34463, a
 *	port of 0 or 65536 becomes a random one, and every other mistake is
 *	only "cannot listen".  mk_sockspec_parse() checks the syntax and
 *	says which part is wrong: the scheme (unix, local, inet or inet6),
 *	the port (1 to 65535, decimal digits only), the host (present), the
 *	path (absolute, shorter than sun_path, its length named).
 *	mk_sockspec_check() checks what a start needs besides: the host is
 *	a literal address of the scheme's family or a name that resolves to
 *	one (the resolver's error named), and the path's directory exists.
 *	Shared by every program that takes a spec: mailkeep.conf's socket
 *	and mailkeep-milter -p.
 *
 * DIAGNOSTICS
 *	0, or -1 with the reason in why (no file or line: the caller adds
 *	them).  Nothing prints.
 */
#ifndef MAILKEEP_SOCKSPEC_H
#define MAILKEEP_SOCKSPEC_H

#include <stddef.h>

#define MK_SOCKSPEC_WHY		256
#define MK_SOCKSPEC_PATH	108	/* sizeof(sun_path) on Linux */

typedef enum { MK_SOCK_UNIX, MK_SOCK_INET, MK_SOCK_INET6 } mk_sock_kind;

typedef struct mk_sockspec {
	mk_sock_kind kind;
	char path[MK_SOCKSPEC_PATH];	/* unix: the socket file */
	unsigned port;			/* inet, inet6 */
	char host[256];
} mk_sockspec;

/* mk_sockspec_parse - the syntax of spec into out */
int mk_sockspec_parse(const char *spec, mk_sockspec *out,
		      char why[MK_SOCKSPEC_WHY]);

/* mk_sockspec_check - the host resolves; the path's directory exists */
int mk_sockspec_check(const mk_sockspec *s, char why[MK_SOCKSPEC_WHY]);

#endif /* MAILKEEP_SOCKSPEC_H */
