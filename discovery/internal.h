/*
 * internal.h - what the files of text extraction share; nothing outside
 * discovery/ includes it.
 *
 * NAME
 *	discovery internals - the stages a message's text goes through
 *
 * DESCRIPTION
 *	extract.c drives the stages below for every text part GMime finds:
 *
 *	  guard.c  before GMime sees a message: the bytes it may parse, so
 *	           that its time and memory stay in proportion to the
 *	           message (GMime has a few inputs on which it is slow, huge
 *	           or crashes; guard.c says which and why)
 *	  text.c   bytes of any provenance into valid UTF-8 (utf8_fix), and
 *	           valid UTF-8 into the sink's text callback in runs, within
 *	           DISCOVERY_MAX_TEXT (text_out)
 *	  html.c   HTML (already UTF-8) into its text, streaming
 *
 *	Every stage is streaming: it keeps what it needs between two
 *	calls, so a part is never held whole in memory in decoded form.
 */
#ifndef MAILKEEP_DISCOVERY_INTERNAL_H
#define MAILKEEP_DISCOVERY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

#include "discovery/discovery.h"

/* stats_note - mark stats malformed (or truncated when !malformed) and
 * keep the first note, as printable ASCII */
void stats_note(discovery_stats *st, bool malformed, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * guard.c
 */

/* What the guard did to a message. */
typedef struct guard_report {
	bool cut;			/* the rest was left out from byte 'at' */
	bool trimmed;			/* header fields were shortened */
	size_t at;
	const char *why;		/* the first limit met, or NULL */
	bool why_cut;			/* and it cut the message */
} guard_report;

/* guard_copy - append to out the bytes of msg[0..len) that GMime may
 * parse: all of them unless a limit of guard.c is met */
void guard_copy(const char *msg, size_t len, GByteArray *out,
		guard_report *rep);

/*
 * text.c
 */

#define TEXT_RUN	65536	/* bytes of the sink's longest text run */

/* Where text goes: text_put() buffers runs for sink->text. */
typedef struct text_out {
	const discovery_sink *sink;
	discovery_stats *stats;
	size_t used;			/* bytes in buf */
	bool full;			/* DISCOVERY_MAX_TEXT was reached */
	bool failed;			/* the sink said stop */
	int sink_rc;			/* what it returned */
	bool part_empty;		/* nothing of this part yet */
	char last;			/* the last byte of this part */
	char buf[TEXT_RUN];
} text_out;

/* text_init - t empty, its runs for sink */
void text_init(text_out *t, const discovery_sink *sink, discovery_stats *st);

/* text_put - valid UTF-8 to the sink, in order; 0, or -1 once the sink
 * said stop.  Beyond DISCOVERY_MAX_TEXT nothing more is taken */
int text_put(text_out *t, const char *utf8, size_t len);

/* text_wants - whether text_put() would still take anything */
bool text_wants(const text_out *t);

/* text_end_part - end the current part's text with a line break and
 * hand it on, so no run holds two parts; 0 or -1 as text_put() */
int text_end_part(text_out *t);

/* A consumer of valid UTF-8: 0 to go on, -1 to stop. */
typedef int (*utf8_fn)(void *ctx, const char *utf8, size_t len);

/* The state of turning a stream of bytes into valid UTF-8. */
typedef struct utf8_fix {
	utf8_fn out;
	void *ctx;
	unsigned char seq[4];		/* an incomplete sequence */
	size_t nseq;
	bool cr;			/* the last byte was a CR */
	bool begun;			/* a character came out */
} utf8_fix;

/* utf8_fix_init - a fixer handing its output to out(ctx) */
void utf8_fix_init(utf8_fix *f, utf8_fn out, void *ctx);

/* utf8_fix_feed - bytes in: valid UTF-8 passes, every other byte is
 * read as Windows-1252; NUL dropped, CR LF and CR become LF, a leading
 * byte order mark dropped.  0, or -1 when out() said stop */
int utf8_fix_feed(utf8_fix *f, const char *in, size_t len);

/* utf8_fix_finish - an incomplete sequence at the end, as Windows-1252 */
int utf8_fix_finish(utf8_fix *f);

/* utf8_fix_dup - s (NUL-terminated) as valid UTF-8 on one line; malloc'ed,
 * NULL when out of memory */
char *utf8_fix_dup(const char *s);

/* cp1252_char - the code point of byte b (0x80-0xff) in Windows-1252;
 * U+FFFD for the five bytes it leaves undefined */
unsigned cp1252_char(unsigned char b);

/* utf8_put - code point c as UTF-8 into out (4 bytes room); its length */
size_t utf8_put(unsigned c, char *out);

/*
 * html.c
 */

#define HTML_NAME	16	/* bytes of a tag name looked at */
#define HTML_ENTITY	32	/* bytes of a character reference */

/* The state of reducing one HTML part to text. */
typedef struct html_state {
	text_out *t;
	int state;			/* where in the markup we are */
	int tagkind;			/* what kind of tag is being read */
	bool endtag;			/* </...> */
	bool after_eq;			/* an attribute's '=' was seen */
	char quote;			/* quote of the attribute value we are in */
	int dashes;			/* '-' in a row (comments) */
	size_t nname;			/* bytes of name/entity so far */
	size_t rawmatch;		/* bytes of "</script" matched */
	int rawkind;			/* script or style: what ends it */
	int pending;			/* space or line break owed */
	bool begun;			/* visible text came out */
	char name[HTML_ENTITY + 1];	/* tag name or entity being read */
	size_t nout;
	char out[4096];
} html_state;

/* html_init - h at the start of a document, its text to t */
void html_init(html_state *h, text_out *t);

/* html_feed - more of the document (valid UTF-8); 0 or -1 as text_put */
int html_feed(void *h, const char *utf8, size_t len);

/* html_finish - the end of the document: what is still owed to t */
int html_finish(html_state *h);

/* html_sniff_charset - the charset a <meta> in the first bytes of an
 * HTML document names, into cs (size n); false when none */
bool html_sniff_charset(const char *doc, size_t len, char *cs, size_t n);

#endif /* MAILKEEP_DISCOVERY_INTERNAL_H */
