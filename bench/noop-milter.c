/*
 * noop-milter.c - the smallest correct libmilter milter: the benchmark ceiling.
 *
 * NAME
 *	noop-milter - a milter that receives everything and does nothing
 *
 * SYNOPSIS
 *	noop-milter -p SOCKETSPEC [-n] [-d LEVEL]
 *
 * DESCRIPTION
 *	noop-milter registers every callback mailkeep-milter needs (negotiate,
 *	connect, helo, envfrom, envrcpt, header, eoh, body, eom, abort,
 *	close), and each one returns at once: SMFIS_CONTINUE, or SMFIS_ACCEPT
 *	at end of message.  Because it asks for every protocol step, the MTA
 *	sends it the whole message exactly as it would send it to
 *	mailkeep-milter, so its throughput is the ceiling that any milter,
 *	mailkeep included, can reach on a given machine.  bench/run.sh
 *	compares Postfix without a milter, with this milter and with
 *	mailkeep-milter.
 *
 *	It runs in the foreground until SIGTERM or SIGINT (libmilter's own
 *	signal handling), and opens its socket with smfi_opensocket() before
 *	smfi_main() so that a bad socket spec fails at start.  A Unix socket
 *	is created with the process umask; run it with umask 0 (or chmod the
 *	socket) when the MTA runs as another user.
 *
 * OPTIONS
 *	-p SOCKETSPEC	libmilter socket: unix:/path or inet:PORT@127.0.0.1
 *	-n		negotiate the SMFIP_NR_* "no reply" flags for every
 *			step that has a callback (connect, helo, mail, rcpt,
 *			header, eoh, body), so the MTA does not wait for a
 *			reply to each of them.  Over TCP this can stall each
 *			message on Nagle/delayed ACK; measure before using.
 *	-d LEVEL	libmilter debug level (smfi_setdbg)
 *
 * DIAGNOSTICS
 *	Exit status 0 after a clean shutdown, 1 on a start-up error, 2 on a
 *	usage error; messages go to stderr.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

/*
 * The "no reply" steps that have a callback below.  libmilter offers all of
 * them to the negotiate callback, faking those the MTA does not support.
 */
#define NOOP_NR_FLAGS	(SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | \
			 SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_EOH | \
			 SMFIP_NR_BODY)

static unsigned long want_nr;		/* NR flags asked for (-n) */

/* conn_nr - the NR flags granted on this connection (0 before negotiate) */
static unsigned long
conn_nr(SMFICTX *ctx)
{
	unsigned long *granted = smfi_getpriv(ctx);

	return granted == NULL ? 0 : *granted;
}

/* reply - the answer for a step: no reply if its NR flag was granted */
static sfsistat
reply(SMFICTX *ctx, unsigned long nr_flag)
{
	return (conn_nr(ctx) & nr_flag) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* noop_negotiate - ask for no actions, every step, and optionally no replies */
static sfsistat
noop_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long *granted;

	(void)f0; (void)f2; (void)f3;
	*pf0 = 0;		/* no modification actions needed */
	/*
	 * *pf1 arrives holding the steps libmilter already knows we do not
	 * need (SMFIP_NODATA, SMFIP_NOUNKNOWN: no callback); keep them.
	 */
	*pf1 |= want_nr & f1;
	*pf2 = 0;
	*pf3 = 0;
	if ((granted = malloc(sizeof(*granted))) == NULL)
		return SMFIS_TEMPFAIL;
	*granted = want_nr & f1;
	free(smfi_getpriv(ctx));
	smfi_setpriv(ctx, granted);
	return SMFIS_CONTINUE;
}

/* noop_connect - connection information: ignored */
static sfsistat
noop_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	(void)host; (void)addr;
	return reply(ctx, SMFIP_NR_CONN);
}

/* noop_helo - HELO/EHLO: ignored */
static sfsistat
noop_helo(SMFICTX *ctx, char *helo)
{
	(void)helo;
	return reply(ctx, SMFIP_NR_HELO);
}

/* noop_envfrom - MAIL FROM: ignored */
static sfsistat
noop_envfrom(SMFICTX *ctx, char **argv)
{
	(void)argv;
	return reply(ctx, SMFIP_NR_MAIL);
}

/* noop_envrcpt - RCPT TO: ignored */
static sfsistat
noop_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)argv;
	return reply(ctx, SMFIP_NR_RCPT);
}

/* noop_header - one header field: ignored */
static sfsistat
noop_header(SMFICTX *ctx, char *name, char *value)
{
	(void)name; (void)value;
	return reply(ctx, SMFIP_NR_HDR);
}

/* noop_eoh - end of headers: ignored */
static sfsistat
noop_eoh(SMFICTX *ctx)
{
	return reply(ctx, SMFIP_NR_EOH);
}

/* noop_body - one body chunk: ignored */
static sfsistat
noop_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)chunk; (void)len;
	return reply(ctx, SMFIP_NR_BODY);
}

/* noop_eom - end of message: accept */
static sfsistat
noop_eom(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_ACCEPT;
}

/* noop_abort - message reset (Postfix sends it after every message) */
static sfsistat
noop_abort(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

/* noop_close - end of connection: free the per-connection flags */
static sfsistat
noop_close(SMFICTX *ctx)
{
	free(smfi_getpriv(ctx));
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

static struct smfiDesc noop_desc = {
	.xxfi_name = "noop-milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = 0,
	.xxfi_connect = noop_connect,
	.xxfi_helo = noop_helo,
	.xxfi_envfrom = noop_envfrom,
	.xxfi_envrcpt = noop_envrcpt,
	.xxfi_header = noop_header,
	.xxfi_eoh = noop_eoh,
	.xxfi_body = noop_body,
	.xxfi_eom = noop_eom,
	.xxfi_abort = noop_abort,
	.xxfi_close = noop_close,
	.xxfi_unknown = NULL,
	.xxfi_data = NULL,
	.xxfi_negotiate = noop_negotiate,
};

/* usage - print the synopsis and exit 2 */
static void
usage(void)
{
	fprintf(stderr, "usage: noop-milter -p SOCKETSPEC [-n] [-d LEVEL]\n"
	    "  SOCKETSPEC: unix:/path or inet:PORT@127.0.0.1\n"
	    "  -n  negotiate the SMFIP_NR_* no-reply flags\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	char *spec = NULL;
	int c, rc;

	while ((c = getopt(argc, argv, "p:nd:h")) != -1) {
		switch (c) {
		case 'p':
			spec = optarg;
			break;
		case 'n':
			want_nr = NOOP_NR_FLAGS;
			break;
		case 'd':
			if (smfi_setdbg(atoi(optarg)) != MI_SUCCESS) {
				fprintf(stderr, "noop-milter: bad debug level\n");
				return 1;
			}
			break;
		default:
			usage();
		}
	}
	if (spec == NULL || optind != argc)
		usage();

	if (smfi_setconn(spec) != MI_SUCCESS) {
		fprintf(stderr, "noop-milter: bad socket spec %s\n", spec);
		return 1;
	}
	if (smfi_register(noop_desc) != MI_SUCCESS) {
		fprintf(stderr, "noop-milter: smfi_register failed\n");
		return 1;
	}
	/* Remove a stale Unix socket; fail now if the spec cannot be bound. */
	if (smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "noop-milter: cannot open socket %s\n", spec);
		return 1;
	}
	fprintf(stderr, "noop-milter: listening on %s%s\n", spec,
	    want_nr ? " (SMFIP_NR_* negotiated)" : "");
	rc = smfi_main();
	return rc == MI_SUCCESS ? 0 : 1;
}
