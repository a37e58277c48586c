/*
 * mbox.c - split an mbox into its messages, streaming.
 *
 * NAME
 *	mbox - the separator rule, mboxrd unquoting, the framing line end
 *
 * DESCRIPTION
 *	import.h states the rule; this is how it runs.  The file is read
 *	line by line through reader.c, never a whole line at once: at each
 *	line start up to IMPORT_MAX_FROM_LINE bytes are looked at (is it a
 *	separator?), then the line goes to the message stage in pieces.
 *
 *	Two things are held back while a line is passed through:
 *	  - its line end ("\n" or "\r\n", in pend): if the next line is a
 *	    separator, or the file ends, that line end is the framing's and
 *	    is dropped; otherwise it is the message's and goes out first;
 *	  - at a line start, one '>': a line "^>+From " loses one '>'.  The
 *	    rest of a run of '>' goes out as it comes (a run loses "one" '>'
 *	    whichever it is), then "From " decides about the held one.
 *	A CR at the end of what is available is not passed on until the
 *	next byte is known, so that "\r\n" is always seen whole.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

#define NOT_MBOX	"mbox: file does not start with a From line"

/* The framing line end held back (pend). */
enum { PEND_NONE = 0, PEND_LF = 1, PEND_CRLF = 2 };

/* sep_line - is a separator at the reader's position?  Its length with
 * the line end, or 0; strict: the whole rule, else any "From " line */
static size_t
sep_line(reader *rd, bool strict, bool *crlf)
{
	size_t avail = reader_avail(rd, IMPORT_MAX_FROM_LINE + 1);
	size_t win = avail < IMPORT_MAX_FROM_LINE ? avail : IMPORT_MAX_FROM_LINE;
	const char *p = reader_ptr(rd), *nl;
	size_t n;
	int64_t when;

	if (avail < 5 || memcmp(p, "From ", 5) != 0)
		return 0;
	nl = memchr(p, '\n', win);
	if (nl == NULL && !(rd->eof && avail <= IMPORT_MAX_FROM_LINE)) {
		*crlf = false;
		return strict ? 0 : (size_t)-1;	/* longer than the window */
	}
	n = nl ? (size_t)(nl - p) + 1 : avail;
	*crlf = n >= 2 && nl != NULL && p[n - 2] == '\r';
	if (strict && !import_from_line_parse(p, n, NULL, &when))
		return 0;
	return n;
}

/* emit_pend - the held line end is the message's after all */
static void
emit_pend(msgout *m, int *pend)
{
	if (*pend == PEND_LF)
		msg_emit(m, "\n", 1);
	else if (*pend == PEND_CRLF)
		msg_emit(m, "\r\n", 2);
	*pend = PEND_NONE;
}

/* gt_run - a line start of '>': the run, one '>' fewer before "From " */
static void
gt_run(reader *rd, msgout *m)
{
	const char *p;
	size_t avail, k;

	reader_skip(rd, 1);			/* the '>' held back */
	while ((avail = reader_avail(rd, 1)) > 0) {
		p = reader_ptr(rd);
		for (k = 0; k < avail && p[k] == '>'; k++)
			;
		msg_emit(m, p, k);
		reader_skip(rd, k);
		if (k < avail)
			break;
	}
	avail = reader_avail(rd, 5);
	if (avail < 5 || memcmp(reader_ptr(rd), "From ", 5) != 0)
		msg_emit(m, ">", 1);
}

/* line_rest - the rest of a line to m, its line end into *pend; false
 * when the file (or the readable part of it) ends inside the line */
static bool
line_rest(reader *rd, msgout *m, int *pend)
{
	const char *p, *nl;
	size_t avail, n;
	bool cr;

	while ((avail = reader_avail(rd, 2)) > 0) {
		p = reader_ptr(rd);
		if ((nl = memchr(p, '\n', avail)) != NULL) {
			n = (size_t)(nl - p);
			cr = n > 0 && p[n - 1] == '\r';
			msg_emit(m, p, n - cr);
			reader_skip(rd, n + 1);
			*pend = cr ? PEND_CRLF : PEND_LF;
			return true;
		}
		n = avail;
		if (p[n - 1] == '\r' && !rd->eof && rd->err == 0)
			n--;			/* maybe the start of "\r\n" */
		msg_emit(m, p, n);
		reader_skip(rd, n);
		if (n == 0)
			break;			/* a read error after a CR */
	}
	return false;
}

/* body - a message's lines up to the next separator or the end of the
 * file; crlf: its From line ended in "\r\n".  -1 when a read error
 * cut it short */
static int
body(import_source *s, bool crlf)
{
	reader *rd = &s->rd;
	int pend = PEND_NONE;
	bool sep_crlf;

	for (;;) {
		if (reader_avail(rd, IMPORT_MAX_FROM_LINE + 1) == 0)
			break;
		if (sep_line(rd, true, &sep_crlf) > 0)
			break;
		emit_pend(&s->m, &pend);
		if (*reader_ptr(rd) == '>')
			gt_run(rd, &s->m);
		if (!line_rest(rd, &s->m, &pend)) {
			if (rd->err != 0)
				return -1;
			s->m.notes |= IMPORT_NOTE_TRUNCATED;
			return 0;
		}
	}
	if (rd->err != 0 && reader_avail(rd, 1) == 0)
		return -1;
	if (pend == PEND_CRLF && !crlf)
		msg_emit(&s->m, "\r", 1);
	return 0;
}

/* skip_line - past the line at the reader (of any length) */
static void
skip_line(reader *rd)
{
	const char *nl;
	size_t avail;

	while ((avail = reader_avail(rd, 1)) > 0) {
		nl = memchr(reader_ptr(rd), '\n', avail);
		if (nl != NULL) {
			reader_skip(rd, (size_t)(nl - reader_ptr(rd)) + 1);
			return;
		}
		reader_skip(rd, avail);
	}
}

/* separator - read the From line at the reader into origin; its line
 * ended in "\r\n"? */
static bool
separator(import_source *s, import_origin *o)
{
	reader *rd = &s->rd;
	bool crlf = false;
	size_t n = sep_line(rd, false, &crlf);

	o->offset = rd->off + (int64_t)rd->pos;
	o->number = ++s->number;
	free(s->from_sender);
	s->from_sender = NULL;
	if (n != (size_t)-1)
		o->has_from_date = import_from_line_parse(reader_ptr(rd), n,
						&s->from_sender, &o->from_date);
	o->from_sender = s->from_sender;
	skip_line(rd);
	return crlf;
}

/* finish - the message's end, or its skip when cut (a read error,
 * kept for the next call); -1 when the sink said stop */
static int
finish(import_source *s, bool cut, mk_error *err)
{
	char why[MK_ERROR_MAX];
	const char *reason = NULL;

	if (cut) {
		snprintf(why, sizeof(why), "truncated: read error: %s",
			 strerror(s->rd.err));
		s->failed = strdup(why);
		reason = s->failed ? s->failed : "truncated: read error";
	}
	if (msg_finish(&s->m, reason) != 0)
		return mk_error_set(err, s->m.nomem ? "out of memory"
				    : "stopped by the caller");
	return 1;
}

/* mbox_next - the next message of an mbox source */
int
mbox_next(import_source *s, const import_sink *sink, void *ctx, mk_error *err)
{
	import_origin o = { .path = s->path };
	bool crlf;

	if (s->failed != NULL)
		return mk_error_set(err, "%s: %s", s->path, s->failed);
	if (reader_avail(&s->rd, IMPORT_MAX_FROM_LINE + 1) == 0)
		return s->rd.err == 0 ? 0 : mk_error_set(err, "%s: read error: %s",
							 s->path, strerror(s->rd.err));
	if (!s->started && sep_line(&s->rd, false, &crlf) == 0) {
		s->started = true;
		msg_begin(&s->m, sink, ctx, &o, s->mtime);
		msg_discard(&s->m, NOT_MBOX);
		return finish(s, body(s, false) != 0, err);
	}
	s->started = true;
	crlf = separator(s, &o);
	msg_begin(&s->m, sink, ctx, &o, s->mtime);
	return finish(s, body(s, crlf) != 0, err);
}
