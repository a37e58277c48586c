/*
 * text.c - bytes into valid UTF-8, and UTF-8 into the sink in runs.
 *
 * NAME
 *	utf8_fix, text_out - the last two stages of every text part
 *
 * DESCRIPTION
 *	The sink is promised valid UTF-8 (discovery.h), but what arrives
 *	here is whatever a sender wrote: a part without a charset, a
 *	charset iconv does not know, UTF-8 with stray Latin-1 bytes, NULs.
 *	utf8_fix passes every valid UTF-8 sequence and reads every other
 *	byte as Windows-1252 (which is what "8-bit text of unknown
 *	charset" is, overwhelmingly, in mail; Latin-1 is its subset for
 *	printable text).  It never fails and never guesses across a whole
 *	part, so it is streaming: a sequence split between two reads is
 *	held back until the next.
 *
 *	text_out cuts the result into runs of at most TEXT_RUN bytes, never
 *	inside a character, ends each part with a line break (so the last
 *	word of one part and the first of the next stay two words), and
 *	stops taking text at DISCOVERY_MAX_TEXT.
 *
 * DIAGNOSTICS
 *	text_put() and the fixer return -1 only when the sink said stop;
 *	the sink's value is kept in text_out.sink_rc.
 */
#include "config.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/internal.h"

/* stats_note - mark stats and keep the first note (printable ASCII) */
void
stats_note(discovery_stats *st, bool malformed, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	if (malformed)
		st->malformed = true;
	else
		st->truncated = true;
	if (st->note[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(st->note, sizeof(st->note), fmt, ap);
	va_end(ap);
	for (i = 0; st->note[i] != '\0'; i++)
		if ((unsigned char)st->note[i] < 0x20
		    || (unsigned char)st->note[i] > 0x7e)
			st->note[i] = '?';
}

/* Windows-1252's 0x80-0x9f; 0 where it defines nothing. */
static const unsigned short cp1252_c1[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178
};

/* cp1252_char - the code point of byte b in Windows-1252 */
unsigned
cp1252_char(unsigned char b)
{
	if (b >= 0x80 && b < 0xa0)
		return cp1252_c1[b - 0x80] != 0 ? cp1252_c1[b - 0x80] : 0xfffd;
	return b;
}

/* utf8_put - code point c as UTF-8 */
size_t
utf8_put(unsigned c, char *out)
{
	unsigned char *o = (unsigned char *)out;

	if (c < 0x80) {
		o[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (unsigned char)(0xc0 | (c >> 6));
		o[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (c >> 12));
		o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | (c >> 18));
	o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * seq_len - how long the UTF-8 sequence that starts with s[0..n) is: its
 * length when s holds all of it and it is valid (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when s is a valid
 * beginning that n cut short, -1 when s[0] starts nothing valid
 */
static int
seq_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	int need;
	size_t i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return -1;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i < (size_t)need; i++) {
		if (i >= n)
			return 0;
		if (s[i] < lo || s[i] > hi)
			return -1;
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/* utf8_fix_init - a fixer handing its output to out(ctx) */
void
utf8_fix_init(utf8_fix *f, utf8_fn out, void *ctx)
{
	memset(f, 0, sizeof(*f));
	f->out = out;
	f->ctx = ctx;
}

/* The output of one feed, handed on when full. */
typedef struct fix_buf {
	utf8_fix *f;
	size_t n;
	char b[8192];
} fix_buf;

/* fix_flush - hand on what fb holds */
static int
fix_flush(fix_buf *fb)
{
	int rc = 0;

	if (fb->n > 0)
		rc = fb->f->out(fb->f->ctx, fb->b, fb->n);
	fb->n = 0;
	return rc;
}

/* fix_room - make room for 4 bytes in fb */
static int
fix_room(fix_buf *fb)
{
	return fb->n + 4 > sizeof(fb->b) ? fix_flush(fb) : 0;
}

/* fix_seq - one valid sequence of n bytes out (not a leading BOM) */
static int
fix_seq(fix_buf *fb, const unsigned char *s, size_t n)
{
	bool bom = n == 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;

	if (bom && !fb->f->begun)
		return 0;
	fb->f->begun = true;
	if (fix_room(fb) != 0)
		return -1;
	memcpy(fb->b + fb->n, s, n);
	fb->n += n;
	return 0;
}

/* fix_byte - one byte that starts nothing valid, read as Windows-1252 */
static int
fix_byte(fix_buf *fb, unsigned char b)
{
	fb->f->begun = true;
	if (fix_room(fb) != 0)
		return -1;
	fb->n += utf8_put(cp1252_char(b), fb->b + fb->n);
	return 0;
}

/* fix_ascii - one ASCII byte out: NUL dropped, CR and CR LF become LF */
static int
fix_ascii(fix_buf *fb, unsigned char c)
{
	utf8_fix *f = fb->f;
	bool lf_after_cr = c == '\n' && f->cr;

	f->cr = c == '\r';
	if (c == '\0' || lf_after_cr)
		return 0;
	f->begun = true;
	if (fb->n == sizeof(fb->b) && fix_flush(fb) != 0)
		return -1;
	fb->b[fb->n++] = c == '\r' ? '\n' : (char)c;
	return 0;
}

/* fix_one - what starts at s[0..n): one character (or one stray byte)
 * out; the bytes used, 0 when s is a valid beginning cut short by n, -1
 * when out() said stop */
static int
fix_one(fix_buf *fb, const unsigned char *s, size_t n)
{
	int k;

	if (s[0] < 0x80)
		return fix_ascii(fb, s[0]) != 0 ? -1 : 1;
	fb->f->cr = false;
	k = seq_len(s, n);
	if (k == 0)
		return 0;
	if (k < 0)
		return fix_byte(fb, s[0]) != 0 ? -1 : 1;
	return fix_seq(fb, s, (size_t)k) != 0 ? -1 : k;
}

/* fix_held - the sequence held from the last feed, completed or found
 * invalid with the first bytes of in[] (3 more settle any sequence) */
static int
fix_held(fix_buf *fb, const unsigned char **in, size_t *len)
{
	utf8_fix *f = fb->f;
	size_t held = f->nseq, more = *len < 3 ? *len : 3, n, i = 0;
	unsigned char tmp[7];
	int k;

	memcpy(tmp, f->seq, held);
	memcpy(tmp + held, *in, more);
	n = held + more;
	f->nseq = 0;
	while (i < held) {
		k = fix_one(fb, tmp + i, n - i);
		if (k < 0)
			return -1;
		if (k == 0) {		/* only when all of in[] is in tmp */
			memcpy(f->seq, tmp + i, n - i);
			f->nseq = n - i;
			*in += *len;
			*len = 0;
			return 0;
		}
		i += (size_t)k;
	}
	*in += i - held;
	*len -= i - held;
	return 0;
}

/* utf8_fix_feed - bytes in, valid UTF-8 out */
int
utf8_fix_feed(utf8_fix *f, const char *data, size_t len)
{
	const unsigned char *in = (const unsigned char *)data;
	fix_buf fb;
	int k;

	fb.f = f;
	fb.n = 0;
	if (f->nseq > 0 && fix_held(&fb, &in, &len) != 0)
		return -1;
	while (len > 0) {
		k = fix_one(&fb, in, len);
		if (k < 0)
			return -1;
		if (k == 0) {			/* at most 3 bytes */
			memcpy(f->seq, in, len);
			f->nseq = len;
			break;
		}
		in += k;
		len -= (size_t)k;
	}
	return fix_flush(&fb);
}

/* utf8_fix_finish - bytes still held, each read as Windows-1252 */
int
utf8_fix_finish(utf8_fix *f)
{
	unsigned char held[4];
	size_t n = f->nseq, i;
	fix_buf fb;

	memcpy(held, f->seq, n);
	f->nseq = 0;
	fb.f = f;
	fb.n = 0;
	for (i = 0; i < n; i++)
		if (fix_byte(&fb, held[i]) != 0)
			return -1;
	return fix_flush(&fb);
}

/* The output of utf8_fix_dup. */
typedef struct dup_buf {
	char *s;
	size_t n, size;
	bool nomem;
} dup_buf;

/* dup_append - utf8_fn collecting into a dup_buf; line ends as spaces */
static int
dup_append(void *ctx, const char *utf8, size_t len)
{
	dup_buf *d = ctx;
	size_t i;

	if (d->n + len + 1 > d->size) {
		size_t size = (d->n + len + 1) * 2;
		char *s = realloc(d->s, size);

		if (s == NULL) {
			d->nomem = true;
			return -1;
		}
		d->s = s;
		d->size = size;
	}
	for (i = 0; i < len; i++)
		d->s[d->n++] = utf8[i] == '\n' ? ' ' : utf8[i];
	return 0;
}

/* utf8_fix_dup - s as valid UTF-8 on one line; malloc'ed */
char *
utf8_fix_dup(const char *s)
{
	dup_buf d = { NULL, 0, 0, false };
	utf8_fix f;

	utf8_fix_init(&f, dup_append, &d);
	f.begun = true;		/* a header keeps a leading U+FEFF */
	if (dup_append(&d, "", 0) != 0 || utf8_fix_feed(&f, s, strlen(s)) != 0
	    || utf8_fix_finish(&f) != 0) {
		free(d.s);
		return NULL;
	}
	d.s[d.n] = '\0';
	return d.s;
}

/* text_init - t empty, its runs for sink */
void
text_init(text_out *t, const discovery_sink *sink, discovery_stats *st)
{
	t->sink = sink;
	t->stats = st;
	t->used = 0;
	t->full = false;
	t->failed = false;
	t->sink_rc = 0;
	t->part_empty = true;
	t->last = '\0';
}

/* text_wants - whether text_put() would still take anything */
bool
text_wants(const text_out *t)
{
	return !t->full && !t->failed;
}

/* text_flush - hand the buffered run to the sink */
static int
text_flush(text_out *t)
{
	int rc;

	if (t->used == 0 || t->failed)
		return t->failed ? -1 : 0;
	rc = t->sink->text != NULL
		? t->sink->text(t->buf, t->used, t->sink->ctx) : 0;
	t->stats->text_bytes += t->used;
	t->used = 0;
	if (rc != 0) {
		t->failed = true;
		t->sink_rc = rc;
		return -1;
	}
	return 0;
}

/* char_cut - the longest prefix of s[0..n) no longer than max that ends
 * between two characters */
static size_t
char_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* text_put - valid UTF-8 to the sink, within DISCOVERY_MAX_TEXT */
int
text_put(text_out *t, const char *utf8, size_t len)
{
	size_t left, n;

	if (t->failed)
		return -1;
	while (len > 0 && !t->full) {
		left = DISCOVERY_MAX_TEXT - t->stats->text_bytes - t->used;
		if (len > left) {
			len = char_cut(utf8, len, left);
			t->full = true;
			stats_note(t->stats, false, "text cut at %d bytes",
				   DISCOVERY_MAX_TEXT);
		}
		n = char_cut(utf8, len, sizeof(t->buf) - t->used);
		assert(n > 0 || t->used > 0 || len == 0); /* a character fits */
		memcpy(t->buf + t->used, utf8, n);
		t->used += n;
		if (n > 0) {
			t->part_empty = false;
			t->last = utf8[n - 1];
		}
		utf8 += n;
		len -= n;
		if ((len > 0 || t->used == sizeof(t->buf)) && text_flush(t) != 0)
			return -1;
	}
	return 0;
}

/* text_end_part - a line break after the part's text, and hand it on */
int
text_end_part(text_out *t)
{
	bool owed = !t->part_empty && t->last != '\n';

	t->part_empty = true;
	t->last = '\0';
	if (owed && text_put(t, "\n", 1) != 0)
		return -1;
	t->part_empty = true;
	return text_flush(t);
}
