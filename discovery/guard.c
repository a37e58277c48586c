/*
 * guard.c - how much of a message GMime may parse.
 *
 * NAME
 *	guard_copy - the bytes of a message handed to GMime, within limits
 *
 * DESCRIPTION
 *	GMime 3.2 (Debian 12: 3.2.13) parses most hostile mail in time and
 *	memory proportional to its size, but not all of it.  Measured here
 *	(one core of an AMD EPYC virtual machine):
 *
 *	  - a header with 40,000 parameters (390 KB): 5.9 s, and quadratic
 *	    beyond (500,000 did not finish in 120 s);
 *	  - "To: g:g:g:..." (nested groups): one recursion a ':', a crash
 *	    (stack overflow) at 5,000 with a 1 MB stack, 1,000,000 with 8 MB;
 *	  - every line that starts with "--" is compared with every open
 *	    boundary (up to 1,024 nested multiparts): 10.7 s for 8 MB;
 *	  - RFC 2047 words cycling through 8 charsets defeat GMime's iconv
 *	    cache: 26 s for a 10 MB Subject;
 *	  - each header line, part and address is an object of 0.5-1.3 KB:
 *	    7 MB of "--b\n\nx\n" became 1.3 GB, 16 MB of "To: a@b," 1.2 GB.
 *
 *	So before GMime sees a message, one linear pass over its lines
 *	counts what drives those costs, over-estimating where it cannot
 *	know (it does not parse MIME: any line that looks like a header
 *	field counts as one):
 *
 *	  - header fields that go over a limit of their own (parameters of
 *	    Content-Type and Content-Disposition, addresses, ':' of one
 *	    address field, encoded words) are shortened: the rest of the
 *	    field is left out and the message goes on after it;
 *	  - when header-like and "--" lines together go over their limit,
 *	    the message is cut before that line.  That bounds GMime's
 *	    objects (50,000 at most, 65 MB) and its boundary comparisons
 *	    too: 50,000 "--" lines times GMime's 1,024 open boundaries at
 *	    most is 51 million, 0.2 s.
 *
 *	The limits are far above what real mail needs (a digest of
 *	DISCOVERY_MAX_PARTS parts needs a few tens of thousands of such
 *	lines), so mail that meets one is hostile or broken; what was left
 *	out is not indexed and stats->truncated says so.  The archived
 *	message is never changed: this is a copy for the index.
 */
#include "config.h"

#include <string.h>

#include "discovery/internal.h"

#define GUARD_LINES		50000	/* header-like and "--" lines */
#define GUARD_WORDS		10000	/* "=?" in header fields */
#define GUARD_ADDRESSES		50000	/* ',' ';' ':' in address fields */
#define GUARD_COLONS		256	/* ':' in one address field */
#define GUARD_PARAMS		10000	/* ';' in Content-Type/-Disposition */
#define GUARD_FIELD_PARAMS	128	/* ';' in one such field */

/* What kind of header field a line starts (or continues). */
enum { FIELD_NONE, FIELD_OTHER, FIELD_ADDRESS, FIELD_CONTENT };

/* The pass over one message. */
typedef struct guard {
	const char *msg;
	size_t len;
	GByteArray *out;
	guard_report *rep;
	size_t kept;			/* msg[kept..) is not yet in out */
	size_t lines, words, addrs, params;
	int kind;			/* of the field we are in */
	size_t colons, fparams;		/* of this field */
	bool dropping;			/* the rest of this field goes */
} guard;

/* Header fields GMime parses into address lists. */
static const char *const address_fields[] = {
	"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from",
	"resent-sender", "resent-reply-to", "resent-to", "resent-cc",
	"resent-bcc"
};

/* name_is - whether s[0..n) is lit (lower case), any case */
static bool
name_is(const char *s, size_t n, const char *lit)
{
	size_t i;

	if (strlen(lit) != n)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];

		if (c != lit[i])
			return false;
	}
	return true;
}

/* field_kind - FIELD_NONE unless s[0..n) looks like "Name:", "Name :" */
static int
field_kind(const char *s, size_t n)
{
	size_t i = 0, name, k;

	while (i < n && (unsigned char)s[i] > 32 && (unsigned char)s[i] < 127
	       && s[i] != ':')
		i++;
	name = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (name == 0 || i >= n || s[i] != ':')
		return FIELD_NONE;
	if (name_is(s, name, "content-type")
	    || name_is(s, name, "content-disposition"))
		return FIELD_CONTENT;
	for (k = 0; k < sizeof(address_fields) / sizeof(address_fields[0]); k++)
		if (name_is(s, name, address_fields[k]))
			return FIELD_ADDRESS;
	return FIELD_OTHER;
}

/* keep_to - msg[kept..end) into the copy */
static void
keep_to(guard *g, size_t end)
{
	if (end > g->kept)
		g_byte_array_append(g->out, (const guint8 *)g->msg + g->kept,
				    (guint)(end - g->kept));
	g->kept = end;
}

/* trim - leave out this field from byte at to the end of its line (the
 * line end stays) and its continuation lines */
static void
trim(guard *g, size_t at, size_t line_end, const char *why)
{
	keep_to(g, at);
	g->kept = line_end;
	g->dropping = true;
	if (g->rep->why == NULL)
		g->rep->why = why;
	g->rep->trimmed = true;
}

/* over - count one of a field's items; whether its limit is passed */
static bool
over(size_t *count, size_t limit)
{
	return ++*count > limit;
}

/* field_byte - what byte i of a field line counts for; the reason to
 * trim there, or NULL */
static const char *
field_byte(guard *g, size_t i, size_t end)
{
	const char *s = g->msg;
	char c = s[i];

	if (c == '=' && i + 1 < end && s[i + 1] == '?'
	    && over(&g->words, GUARD_WORDS))
		return "too many encoded words in headers";
	if (g->kind == FIELD_ADDRESS && (c == ',' || c == ';' || c == ':')) {
		if (over(&g->addrs, GUARD_ADDRESSES))
			return "too many addresses";
		if (c == ':' && over(&g->colons, GUARD_COLONS))
			return "an address field nested too deep";
	}
	if (g->kind == FIELD_CONTENT && c == ';') {
		if (over(&g->params, GUARD_PARAMS))
			return "too many Content-Type parameters";
		if (over(&g->fparams, GUARD_FIELD_PARAMS))
			return "a header field with too many parameters";
	}
	return NULL;
}

/* field_line - one line [start, end) of a header field, its line end
 * running to next */
static void
field_line(guard *g, size_t start, size_t end, size_t next)
{
	const char *why;
	size_t i;

	if (g->dropping) {
		keep_to(g, start);
		g->kept = next;
		return;
	}
	for (i = start; i < end; i++)
		if ((why = field_byte(g, i, end)) != NULL) {
			trim(g, i, end, why);
			return;
		}
}

/* structure_line - count a line GMime makes an object of (a header
 * field, a part); false (and the message cut before it) past the limit */
static bool
structure_line(guard *g, size_t at)
{
	if (++g->lines <= GUARD_LINES)
		return true;
	g->rep->cut = true;
	g->rep->at = at;
	if (g->rep->why == NULL) {
		g->rep->why = "too many header and boundary lines";
		g->rep->why_cut = true;
	}
	return false;
}

/* line - one line [p, end), its line end running to next; false when
 * the message is cut here */
static bool
line(guard *g, size_t p, size_t end, size_t next)
{
	const char *s = g->msg;
	int kind;

	if (g->kind != FIELD_NONE && p < end && (s[p] == ' ' || s[p] == '\t')) {
		field_line(g, p, end, next);
		return true;
	}
	g->kind = FIELD_NONE;
	g->dropping = false;
	if (end - p >= 2 && s[p] == '-' && s[p + 1] == '-')
		return structure_line(g, p);
	kind = field_kind(s + p, end - p);
	if (kind == FIELD_NONE)
		return true;
	if (!structure_line(g, p))
		return false;
	g->kind = kind;
	g->colons = 0;
	g->fparams = 0;
	field_line(g, p, end, next);
	return true;
}

/* guard_copy - the bytes of msg[0..len) GMime may parse, into out */
void
guard_copy(const char *msg, size_t len, GByteArray *out, guard_report *rep)
{
	guard g;
	size_t p, next, end;
	const char *nl;

	memset(&g, 0, sizeof(g));
	memset(rep, 0, sizeof(*rep));
	g.msg = msg;
	g.len = len;
	g.out = out;
	g.rep = rep;
	for (p = 0; p < len; p = next) {
		nl = memchr(msg + p, '\n', len - p);
		next = nl != NULL ? (size_t)(nl - msg) + 1 : len;
		end = nl != NULL ? next - 1 : len;
		if (end > p && msg[end - 1] == '\r')
			end--;
		if (!line(&g, p, end, next))
			break;
	}
	keep_to(&g, rep->cut ? rep->at : len);
}
