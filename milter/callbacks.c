/*
 * callbacks.c - mailkeep-milter's libmilter callbacks.
 *
 * One conn_ctx per SMTP connection (smfi_setpriv), holding the client
 * and, for the message under way, its envelope and the archive spool its
 * bytes stream into.  The message is rebuilt as the MTA passes it:
 * each header as "Name:" + value + CRLF (the value keeps its leading
 * space: SMFIP_HDR_LEADSPC), an empty line, then the body chunks as they
 * come (CRLF line ends).  At end of message the spool is committed
 * together with the envelope; only when the archive says it is durable
 * does the MTA hear "accept".  Any failure to store answers TEMPFAIL, so
 * the sender tries again, unless the administrator chose on_error = accept.
 *
 * Postfix sends an abort after every transaction, successful ones
 * included: abort means "forget the message state", never "lost".
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "milter/milter.h"

/* The message under way on a connection. */
typedef struct msg_ctx {
	char *mail_from;
	char *auth_user;
	char *tls_version;
	char *queue_id;
	char **rcpts;
	size_t n_rcpts, cap_rcpts;
	char *message_id, *subject, *date;
	kept_decision dec;	/* the policy's decision */
	bool decided;		/* policy evaluated (at the first header) */
	bool header_done;	/* the empty line after the headers written */
	bool failed;		/* storing is impossible; why is in fail */
	mk_error fail;
	int64_t size;		/* bytes of the message so far */
	archive_spool *spool;	/* full mode only: where the bytes go */
} msg_ctx;

typedef struct conn_ctx {
	bool leadspc;		/* header values keep their leading space */
	bool noreply;		/* the MTA does not wait after header, end of
				   headers and body chunks (SMFIP_NR_*) */
	char *client_addr;
	char *client_name;
	char *helo;
	msg_ctx msg;
} conn_ctx;

/* str_replace - free *slot and set it to a copy of value (or NULL) */
static void
str_replace(char **slot, const char *value)
{
	free(*slot);
	*slot = value != NULL ? strdup(value) : NULL;
}

/* strip_angles - a copy of an SMTP path without its <>; caller frees */
static char *
strip_angles(const char *arg)
{
	size_t n;

	if (arg == NULL)
		return strdup("");
	n = strlen(arg);
	if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>')
		return strndup(arg + 1, n - 2);
	return strdup(arg);
}

/* msg_reset - forget the message under way */
static void
msg_reset(msg_ctx *m)
{
	size_t i;

	archive_spool_discard(m->spool);
	free(m->mail_from);
	free(m->auth_user);
	free(m->tls_version);
	free(m->queue_id);
	for (i = 0; i < m->n_rcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->message_id);
	free(m->subject);
	free(m->date);
	kept_decision_free(&m->dec);
	memset(m, 0, sizeof(*m));
}

/* on_error_answer - what the MTA hears when storing is impossible */
static sfsistat
on_error_answer(SMFICTX *ctx, const char *why)
{
	const char *qid = smfi_getsymval(ctx, "i");
	mk_on_error policy_on_error;

	if (qid == NULL)
		qid = "NOQUEUE";
	pthread_rwlock_rdlock(&g_state.lock);
	policy_on_error = g_state.cfg->on_error;
	pthread_rwlock_unlock(&g_state.lock);
	if (policy_on_error == MK_ON_ERROR_ACCEPT) {
		mlog(LOG_ERR, "%s: NOT ARCHIVED, accepted anyway (on_error = accept): %s",
		     qid, why);
		return SMFIS_ACCEPT;
	}
	mlog(LOG_ERR, "%s: tempfail: %s", qid, why);
	smfi_setreply(ctx, "451", "4.3.0", "Message not archived, try again later");
	return SMFIS_TEMPFAIL;
}

/* content_ok - the answer to a header, end-of-headers or body step */
static sfsistat
content_ok(const conn_ctx *c)
{
	return c->noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* content_failed - storing became impossible during the content steps.
 * Without no-reply the MTA hears it at once; with no-reply it cannot be
 * told before the end of the message, so the failure waits for mk_eom. */
static sfsistat
content_failed(SMFICTX *ctx, conn_ctx *c, const mk_error *err)
{
	if (!c->noreply)
		return on_error_answer(ctx, err->msg);
	if (!c->msg.failed) {
		c->msg.failed = true;
		c->msg.fail = *err;
		archive_spool_discard(c->msg.spool);	/* write nothing more */
		c->msg.spool = NULL;
	}
	return SMFIS_NOREPLY;
}

/* format_addr - the text form of a socket address into buf */
static void
format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *src = NULL;

	if (sa != NULL && sa->sa_family == AF_INET)
		src = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa != NULL && sa->sa_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (src == NULL || inet_ntop(sa->sa_family, src, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "unknown");
}

/* conn_get - the connection's context, made on first use; NULL: no memory */
static conn_ctx *
conn_get(SMFICTX *ctx)
{
	conn_ctx *c = smfi_getpriv(ctx);

	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL)
		smfi_setpriv(ctx, c);
	return c;
}

/* mk_connect - a new SMTP client: remember who it is */
static sfsistat
mk_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	conn_ctx *c = conn_get(ctx);
	char addr[INET6_ADDRSTRLEN];
	const char *macro;

	if (c == NULL)
		return on_error_answer(ctx, "out of memory");
	format_addr(hostaddr, addr, sizeof(addr));
	if (strcmp(addr, "unknown") == 0
	    && (macro = smfi_getsymval(ctx, "{client_addr}")) != NULL)
		snprintf(addr, sizeof(addr), "%s", macro);
	str_replace(&c->client_addr, addr);
	str_replace(&c->client_name, hostname);
	return SMFIS_CONTINUE;
}

/* mk_helo - remember the HELO/EHLO argument */
static sfsistat
mk_helo(SMFICTX *ctx, char *helohost)
{
	conn_ctx *c = smfi_getpriv(ctx);

	if (c != NULL)
		str_replace(&c->helo, helohost);
	return SMFIS_CONTINUE;
}

/* mk_envfrom - a new transaction: sender, auth, TLS, queue id so far */
static sfsistat
mk_envfrom(SMFICTX *ctx, char **argv)
{
	conn_ctx *c = smfi_getpriv(ctx);

	if (c == NULL)
		return on_error_answer(ctx, "MAIL without connection context");
	msg_reset(&c->msg);
	c->msg.mail_from = strip_angles(argv[0]);
	str_replace(&c->msg.auth_user, smfi_getsymval(ctx, "{auth_authen}"));
	str_replace(&c->msg.tls_version, smfi_getsymval(ctx, "{tls_version}"));
	str_replace(&c->msg.queue_id, smfi_getsymval(ctx, "i"));
	return SMFIS_CONTINUE;
}

/* mk_envrcpt - one more envelope recipient (BCC ones included) */
static sfsistat
mk_envrcpt(SMFICTX *ctx, char **argv)
{
	conn_ctx *c = smfi_getpriv(ctx);
	msg_ctx *m;
	char **grown;

	if (c == NULL)
		return on_error_answer(ctx, "RCPT without connection context");
	m = &c->msg;
	if (m->n_rcpts >= ARCHIVE_MAX_RCPTS) {
		smfi_setreply(ctx, "452", "4.5.3", "Too many recipients to archive");
		return SMFIS_TEMPFAIL;	/* this recipient only; it is retried */
	}
	if (m->n_rcpts == m->cap_rcpts) {
		m->cap_rcpts = m->cap_rcpts ? 2 * m->cap_rcpts : 8;
		if ((grown = realloc(m->rcpts, m->cap_rcpts * sizeof(char *))) == NULL)
			return on_error_answer(ctx, "out of memory");
		m->rcpts = grown;
	}
	if ((m->rcpts[m->n_rcpts] = strip_angles(argv[0])) == NULL)
		return on_error_answer(ctx, "out of memory");
	m->n_rcpts++;
	return SMFIS_CONTINUE;
}

/* decide - evaluate the policy once the recipients are known; open the
 * spool when the content is to be kept.  0 or -1 with err. */
static int
decide(msg_ctx *m, mk_error *err)
{
	policy_decision d;
	int rc = 0;

	m->decided = true;
	pthread_rwlock_rdlock(&g_state.lock);
	if (policy_evaluate(g_state.pol, m->mail_from,
			    (const char *const *)m->rcpts, m->n_rcpts,
			    (int64_t)time(NULL), &d, err) != 0
	    || kept_decision_take(&m->dec, &d) != 0)
		rc = mk_error_set(err, "out of memory evaluating the policy");
	policy_decision_free(&d);
	if (rc == 0 && m->dec.mode == POLICY_FULL) {
		if (g_state.ar == NULL)
			rc = mk_error_set(err, "shutting down");
		else if ((m->spool = archive_spool_begin(g_state.ar,
								m->dec.ap.retain_until, err)) == NULL)
			rc = -1;
	}
	pthread_rwlock_unlock(&g_state.lock);
	return rc;
}

/* msg_write - bytes of the message: counted, and spooled in full mode.
 * In metadata and none modes the content goes nowhere. */
static int
msg_write(msg_ctx *m, const void *buf, size_t len, mk_error *err)
{
	m->size += (int64_t)len;
	if (m->spool == NULL || m->failed)
		return 0;
	return archive_spool_write(m->spool, buf, len, err);
}

/* write_header - "name:value\r\n", LFs made CRLF */
static int
write_header(msg_ctx *m, const char *name, const char *value, bool leadspc,
	     mk_error *err)
{
	const char *p, *lf;

	if (msg_write(m, name, strlen(name), err) != 0
	    || msg_write(m, leadspc ? ":" : ": ", leadspc ? 1 : 2, err) != 0)
		return -1;
	for (p = value; (lf = strchr(p, '\n')) != NULL; p = lf + 1) {
		size_t n = (size_t)(lf - p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (msg_write(m, p, n, err) != 0
		    || msg_write(m, "\r\n", 2, err) != 0)
			return -1;
	}
	return msg_write(m, p, strlen(p), err) != 0
	    || msg_write(m, "\r\n", 2, err) != 0 ? -1 : 0;
}

/* remember_header - keep the fields the index shows (first occurrence);
 * the Subject only when the content is kept */
static void
remember_header(msg_ctx *m, const char *name, const char *value)
{
	if (strcasecmp(name, "Message-ID") == 0 && m->message_id == NULL)
		m->message_id = strdup(value);
	else if (m->dec.mode == POLICY_FULL && strcasecmp(name, "Subject") == 0
		 && m->subject == NULL)
		m->subject = strdup(value);
	else if (strcasecmp(name, "Date") == 0 && m->date == NULL)
		m->date = strdup(value);
}

/* mk_header - one header, streamed to the spool */
static sfsistat
mk_header(SMFICTX *ctx, char *name, char *value)
{
	conn_ctx *c = smfi_getpriv(ctx);
	mk_error err;

	if (c == NULL)
		return on_error_answer(ctx, "header without connection context");
	if (c->msg.failed)
		return content_ok(c);
	if (!c->msg.decided && decide(&c->msg, &err) != 0)
		return content_failed(ctx, c, &err);
	if (c->msg.dec.mode == POLICY_NONE)
		return content_ok(c);
	remember_header(&c->msg, name, value);
	if (write_header(&c->msg, name, value, c->leadspc, &err) != 0)
		return content_failed(ctx, c, &err);
	return content_ok(c);
}

/* end_headers - write the empty line between headers and body, once */
static int
end_headers(msg_ctx *m, mk_error *err)
{
	if (!m->decided && decide(m, err) != 0)
		return -1;
	if (m->header_done)
		return 0;
	m->header_done = true;
	return msg_write(m, "\r\n", 2, err);
}

/* mk_eoh - the headers are complete */
static sfsistat
mk_eoh(SMFICTX *ctx)
{
	conn_ctx *c = smfi_getpriv(ctx);
	mk_error err;

	if (c == NULL)
		return on_error_answer(ctx, "EOH without connection context");
	if (!c->msg.failed && end_headers(&c->msg, &err) != 0)
		return content_failed(ctx, c, &err);
	return content_ok(c);
}

/* mk_body - a chunk of the body (CRLF line ends, any bytes) */
static sfsistat
mk_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	conn_ctx *c = smfi_getpriv(ctx);
	mk_error err;

	if (c == NULL)
		return on_error_answer(ctx, "body without connection context");
	if (!c->msg.failed && (end_headers(&c->msg, &err) != 0
			       || msg_write(&c->msg, chunk, len, &err) != 0))
		return content_failed(ctx, c, &err);
	return content_ok(c);
}

/* store - commit the spool (full) or the traffic data (metadata) with
 * the envelope; 0 or -1 with err */
static int
store(conn_ctx *c, char id[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	msg_ctx *m = &c->msg;
	archive_envelope env = {
		.queue_id = m->queue_id, .client_addr = c->client_addr,
		.client_name = c->client_name, .helo = c->helo,
		.auth_user = m->auth_user, .tls_version = m->tls_version,
		.mail_from = m->mail_from,
		.rcpts = (const char *const *)m->rcpts, .n_rcpts = m->n_rcpts,
		.message_id = m->message_id, .subject = m->subject,
		.date = m->date, .received_at = 0, .policy = m->dec.ap,
	};
	archive_spool *sp = m->spool;
	int rc;

	m->spool = NULL;	/* commit consumes it */
	pthread_rwlock_rdlock(&g_state.lock);
	if (g_state.ar == NULL) {
		archive_spool_discard(sp);
		rc = mk_error_set(err, "shutting down");
	} else if (sp != NULL)
		rc = archive_spool_commit(sp, &env, id, err);
	else
		rc = archive_store_metadata(g_state.ar, &env, m->size, id, err);
	pthread_rwlock_unlock(&g_state.lock);
	return rc;
}

/* add_notice - tell the recipients the message was archived, if the
 * policy says so (never for mode none: nothing was archived) */
static void
add_notice(SMFICTX *ctx, const kept_decision *dec, const char *id)
{
	char value[256];

	if (!dec->notice || dec->mode == POLICY_NONE || dec->notice_header == NULL)
		return;
	kept_decision_notice(dec, id, value, sizeof(value));
	if (smfi_addheader(ctx, dec->notice_header, value) != MI_SUCCESS)
		mlog(LOG_WARNING, "could not add the %s header (the MTA did not"
		     " allow header changes)", dec->notice_header);
}

/* mk_eom - end of message: store durably, then accept */
static sfsistat
mk_eom(SMFICTX *ctx)
{
	conn_ctx *c = smfi_getpriv(ctx);
	char id[ARCHIVE_ID_LEN + 1];
	const char *qid;
	mk_error err;
	sfsistat answer = SMFIS_ACCEPT;

	if (c == NULL)
		return on_error_answer(ctx, "EOM without connection context");
	if ((qid = smfi_getsymval(ctx, "i")) != NULL)
		str_replace(&c->msg.queue_id, qid);
	if (c->msg.failed)
		answer = on_error_answer(ctx, c->msg.fail.msg);
	else if (end_headers(&c->msg, &err) != 0)
		answer = on_error_answer(ctx, err.msg);
	else if (c->msg.dec.mode == POLICY_NONE)
		mlog(LOG_INFO, "%s: not archived (policy: none)",
		     c->msg.queue_id ? c->msg.queue_id : "NOQUEUE");
	else if (store(c, id, &err) != 0)
		answer = on_error_answer(ctx, err.msg);
	else {
		mlog(LOG_INFO, "%s: archived as %s (%s), from=<%s>, nrcpt=%zu",
		     c->msg.queue_id ? c->msg.queue_id : "NOQUEUE", id,
		     policy_mode_name(c->msg.dec.mode),
		     c->msg.mail_from ? c->msg.mail_from : "", c->msg.n_rcpts);
		add_notice(ctx, &c->msg.dec, id);
	}
	msg_reset(&c->msg);
	return answer;
}

/* mk_abort - the transaction is over (or failed): forget it */
static sfsistat
mk_abort(SMFICTX *ctx)
{
	conn_ctx *c = smfi_getpriv(ctx);

	if (c != NULL)
		msg_reset(&c->msg);
	return SMFIS_CONTINUE;
}

/* mk_close - the connection is gone */
static sfsistat
mk_close(SMFICTX *ctx)
{
	conn_ctx *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	msg_reset(&c->msg);
	free(c->client_addr);
	free(c->client_name);
	free(c->helo);
	free(c);
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

/* Macros asked for at each stage; an MTA that lacks one simply omits it. */
static const struct { int stage; const char *macros; } wanted_macros[] = {
	{ SMFIM_CONNECT, "j {client_addr} {client_name} {daemon_name}" },
	{ SMFIM_HELO, "{tls_version} {cipher}" },
	{ SMFIM_ENVFROM, "i {auth_authen} {auth_type} {tls_version}" },
	{ SMFIM_ENVRCPT, "i" },
	{ SMFIM_EOM, "i" },
};

/* Steps the MTA need not wait for: the content, where mailkeep only
 * listens.  Worth it over a Unix socket only (see docs/PERFORMANCE.md:
 * over TCP the saved replies turn into Nagle/delayed-ACK stalls). */
#define CONTENT_NOREPLY	(SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)

/* unix_socket - is the milter listening on a Unix socket? */
static bool
unix_socket(void)
{
	bool is_unix;

	pthread_rwlock_rdlock(&g_state.lock);
	is_unix = strncmp(g_state.cfg->socket, "unix:", 5) == 0
	    || strncmp(g_state.cfg->socket, "local:", 6) == 0;
	pthread_rwlock_unlock(&g_state.lock);
	return is_unix;
}

/* mk_negotiate - take the whole message; keep header leading spaces; on a
 * Unix socket, no replies during the content */
static sfsistat
mk_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
	     unsigned long f2, unsigned long f3, unsigned long *pf0,
	     unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	conn_ctx *c = conn_get(ctx);
	unsigned long noreply = (f1 & CONTENT_NOREPLY) == CONTENT_NOREPLY
	    && unix_socket() ? CONTENT_NOREPLY : 0;
	size_t i;

	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_SETSYMLIST);
	/* libmilter has put SMFIP_NODATA and SMFIP_NOUNKNOWN (callbacks we
	 * do not have) into *pf1 already: add to it, do not replace it */
	*pf1 |= (f1 & SMFIP_HDR_LEADSPC) | noreply;
	*pf2 = 0;
	*pf3 = 0;
	if (c != NULL) {	/* else mk_connect tempfails the client */
		c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
		c->noreply = noreply != 0;
	}
	for (i = 0; i < sizeof(wanted_macros) / sizeof(wanted_macros[0]); i++)
		smfi_setsymlist(ctx, wanted_macros[i].stage,
				(char *)wanted_macros[i].macros);
	return SMFIS_CONTINUE;
}

/* milter_register - hand libmilter the callbacks */
int
milter_register(void)
{
	struct smfiDesc desc = {
		.xxfi_name = "mailkeep",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_SETSYMLIST | SMFIF_ADDHDRS,
		.xxfi_connect = mk_connect,
		.xxfi_helo = mk_helo,
		.xxfi_envfrom = mk_envfrom,
		.xxfi_envrcpt = mk_envrcpt,
		.xxfi_header = mk_header,
		.xxfi_eoh = mk_eoh,
		.xxfi_body = mk_body,
		.xxfi_eom = mk_eom,
		.xxfi_abort = mk_abort,
		.xxfi_close = mk_close,
		.xxfi_negotiate = mk_negotiate,
	};

	return smfi_register(desc) == MI_SUCCESS ? 0 : -1;
}
