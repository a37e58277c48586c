/*
 * message.c - one message's way from a source to the caller's sink.
 *
 * NAME
 *	message - header block, envelope, chunks, end or skip
 *
 * DESCRIPTION
 *	Whatever the source, a message's bytes (the mbox framing already
 *	removed) come here in pieces of any size.  The first IMPORT_MAX_HEADER
 *	bytes are kept until the header block ends (a blank line): then the
 *	envelope is derived from them and handed over, and the kept bytes
 *	and all that follow go out in chunks of IMPORT_CHUNK.  A message
 *	whose first line is no header field is dropped as it comes and
 *	skipped at its end; so is an empty one.
 *
 *	The sink's calls are made in the order import.h promises: begin,
 *	then envelope, chunk..., end, or skip.  Once the sink says stop, no
 *	further call is made and msg_finish() returns -1.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

#define NO_HEADER	"not a message: no header block"

/* msg_init - the stage's buffers; -1 when out of memory */
int
msg_init(msgout *m)
{
	memset(m, 0, sizeof(*m));
	m->hdr = malloc(HEADER_MAX);
	m->out = malloc(IMPORT_CHUNK);
	return m->hdr == NULL || m->out == NULL ? -1 : 0;
}

/* msg_free - release the stage's buffers */
void
msg_free(msgout *m)
{
	free(m->hdr);
	free(m->out);
	m->hdr = m->out = NULL;
}

/* told - note the sink's answer: false when it said stop */
static bool
told(msgout *m, int rc)
{
	if (rc != 0)
		m->stopped = true;
	return !m->stopped;
}

/* msg_begin - a new message from origin: the sink's begin */
void
msg_begin(msgout *m, const import_sink *sink, void *ctx,
	  const import_origin *origin, int64_t mtime)
{
	m->sink = sink;
	m->ctx = ctx;
	m->origin = *origin;
	m->mtime = mtime;
	m->phase = MSG_HEAD;
	m->reason = NULL;
	m->hdr_len = m->scan = m->out_len = 0;
	m->size = 0;
	m->notes = 0;
	m->last = 0;
	m->stopped = m->nomem = false;
	told(m, sink->begin(&m->origin, ctx));
}

/* msg_discard - drop this message's bytes; it is skipped for reason */
void
msg_discard(msgout *m, const char *reason)
{
	m->phase = MSG_DISCARD;
	m->reason = reason;
}

/* out_flush - hand the gathered chunk to the sink */
static void
out_flush(msgout *m)
{
	if (m->out_len > 0 && !m->stopped)
		told(m, m->sink->chunk(m->out, m->out_len, m->ctx));
	m->out_len = 0;
}

/* out_put - bytes into chunks of at most IMPORT_CHUNK */
static void
out_put(msgout *m, const char *buf, size_t len)
{
	size_t n;

	while (len > 0 && !m->stopped) {
		if (m->out_len == 0 && len >= IMPORT_CHUNK) {
			told(m, m->sink->chunk(buf, IMPORT_CHUNK, m->ctx));
			buf += IMPORT_CHUNK, len -= IMPORT_CHUNK;
			continue;
		}
		n = IMPORT_CHUNK - m->out_len < len ? IMPORT_CHUNK - m->out_len
		    : len;
		memcpy(m->out + m->out_len, buf, n);
		m->out_len += n;
		buf += n, len -= n;
		if (m->out_len == IMPORT_CHUNK)
			out_flush(m);
	}
}

/* first_line - is the header start a header field or a From line?
 * 1 yes, 0 no, -1 not known yet */
static int
first_line(const char *p, size_t n)
{
	size_t i;

	if (n >= 5 && memcmp(p, "From ", 5) == 0)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ':')
			return i > 0 ? 1 : 0;
		if (c == ' ' || c == '\t') {
			while (i < n && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (i == n)
				return -1;
			return p[i] == ':' && p[0] != ' ' && p[0] != '\t' ? 1 : 0;
		}
		if (c < 33 || c > 126)
			return 0;
	}
	return -1;
}

/* head_done - the header block is hdr[0..block): envelope, then the
 * kept bytes as chunks */
static void
head_done(msgout *m, size_t block)
{
	import_envelope *env;

	env = import_envelope_derive(m->hdr, block, m->origin.from_sender,
				     m->origin.has_from_date,
				     m->origin.from_date, m->mtime);
	if (env == NULL) {
		m->nomem = m->stopped = true;
		return;
	}
	m->notes |= env->notes;
	told(m, m->sink->envelope(env, m->ctx));
	import_envelope_free(env);
	m->phase = MSG_BODY;
	out_put(m, m->hdr, m->hdr_len);
}

/* blank_line - the end of the header block in hdr (after the line end
 * before a blank line), or 0 while there is none yet */
static size_t
blank_line(msgout *m)
{
	const char *h = m->hdr;
	const char *nl;
	size_t i = m->scan;

	while (i < m->hdr_len
	       && (nl = memchr(h + i, '\n', m->hdr_len - i)) != NULL) {
		i = (size_t)(nl - h);
		if (i + 1 >= m->hdr_len || (h[i + 1] == '\r' && i + 2 >= m->hdr_len)) {
			m->scan = i;
			return 0;
		}
		if (h[i + 1] == '\n' || (h[i + 1] == '\r' && h[i + 2] == '\n'))
			return i + 1;
		i++;
	}
	m->scan = m->hdr_len;
	return 0;
}

/* head_put - bytes into the header block; how many were taken */
static size_t
head_put(msgout *m, const char *buf, size_t len)
{
	size_t n = HEADER_MAX - m->hdr_len < len
		   ? HEADER_MAX - m->hdr_len : len;
	size_t end;
	int first;

	memcpy(m->hdr + m->hdr_len, buf, n);
	m->hdr_len += n;
	first = first_line(m->hdr, m->hdr_len);
	if (first == 0 || (first < 0 && m->hdr_len == HEADER_MAX)) {
		msg_discard(m, NO_HEADER);
		return len;
	}
	if (first < 0)
		return n;
	if ((end = blank_line(m)) > 0)
		head_done(m, end);
	else if (m->hdr_len == HEADER_MAX) {
		m->notes |= IMPORT_NOTE_HEADER_CUT;
		head_done(m, m->hdr_len);
	}
	return n;
}

/* notice - NUL bytes and bare CRs in buf */
static void
notice(msgout *m, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	if (memchr(buf, '\0', len) != NULL)
		m->notes |= IMPORT_NOTE_NUL;
	if (m->last == '\r' && buf[0] != '\n')
		m->notes |= IMPORT_NOTE_BARE_CR;
	while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL
	       && !(m->notes & IMPORT_NOTE_BARE_CR)) {
		if (p + 1 < end && p[1] != '\n')
			m->notes |= IMPORT_NOTE_BARE_CR;
		p++;
	}
	m->last = buf[len - 1];
}

/* msg_emit - len bytes of the message */
void
msg_emit(msgout *m, const char *buf, size_t len)
{
	size_t n;

	if (len == 0 || m->stopped)
		return;
	m->size += len;
	notice(m, buf, len);
	while (len > 0 && !m->stopped) {
		if (m->phase == MSG_DISCARD)
			return;
		if (m->phase == MSG_BODY) {
			out_put(m, buf, len);
			return;
		}
		n = head_put(m, buf, len);
		buf += n, len -= n;
	}
}

/* msg_finish - the message's end: end, or skip for skip_reason (or the
 * stage's own); 0, or -1 when the sink said stop or memory ran out */
int
msg_finish(msgout *m, const char *skip_reason)
{
	if (m->stopped)
		return -1;
	if (skip_reason == NULL && m->phase == MSG_DISCARD)
		skip_reason = m->reason;
	if (skip_reason == NULL && m->size == 0)
		skip_reason = "empty message";
	if (skip_reason == NULL && m->phase == MSG_HEAD
	    && first_line(m->hdr, m->hdr_len) != 1)
		skip_reason = NO_HEADER;
	if (skip_reason != NULL)
		return told(m, m->sink->skip(skip_reason, m->ctx)) ? 0 : -1;
	if (m->phase == MSG_HEAD) {
		m->notes |= IMPORT_NOTE_NO_BODY;
		head_done(m, m->hdr_len);
	}
	out_flush(m);
	if (m->last != '\n')
		m->notes |= IMPORT_NOTE_NO_NEWLINE;
	if (m->last == '\r')
		m->notes |= IMPORT_NOTE_BARE_CR;
	if (m->stopped)
		return -1;
	return told(m, m->sink->end(&(import_done){ m->size, m->notes },
				    m->ctx)) ? 0 : -1;
}
