/*
 * query.c - the query language reviewers type: parsed into typed terms,
 * written back canonically, turned into FTS5 MATCH expressions.
 *
 * NAME
 *	query - "from:alice subject:\"board meeting\" merger -draft"
 *
 * SYNOPSIS
 *	#include "discovery/discovery.h"
 *
 *	discovery_query q;
 *	if (discovery_query_parse(text, &q, &err) == 0) {
 *		expr = discovery_query_fts(&q, DQ_TEXT, &none);
 *		...
 *		discovery_query_free(&q);
 *	}
 *
 * DESCRIPTION
 *	The grammar (mailkeep(1), QUERIES, says the same for users):
 *
 *	  query   = *ws [ term *( 1*ws term ) ] *ws
 *	  term    = [ "-" ] ( NAME ":" value | quoted | word )
 *	  value   = quoted | word
 *	  quoted  = DQUOTE *( char | "\" DQUOTE | "\\" ) DQUOTE
 *	  word    = 1*( any character but ws and DQUOTE )
 *	  ws      = SP | TAB | CR | LF
 *
 *	A word that does not start with '"' is looked at for a field: when
 *	it starts with NAME ":" (NAME a letter, then letters and '-'), NAME
 *	is a field, compared without regard to case.  A NAME that is no
 *	field is an error - a typo like "form:alice" must not silently
 *	become a search of the text - unless "//" follows the colon: then
 *	the word is a URL and searched as text.  Any other word is text,
 *	colons and all ("10:30", ":-)").  A word with a colon is searched
 *	as text when quoted.
 *
 *	Outside quotes a backslash is an ordinary character; inside, only
 *	\" and \\ are escapes.  A closing quote must be followed by white
 *	space or the end.  A '"' inside a word, a '-' with nothing after
 *	it, and "--" are errors.
 *
 *	Values are checked and made canonical here, so that whoever
 *	searches compares like with like: message ids get their <>, dates
 *	become RFC 3339 UTC (common/timeparse.c, the parser of the command
 *	line's --since), sizes become bytes, IP addresses their inet_ntop()
 *	form, has:'s value is dropped.  For those typed values "phrase" is
 *	false whatever the quoting; for the others it records the quotes.
 *
 *	discovery_query_format() writes each term as the parser reads it
 *	back: a value is quoted when it was, or when it could not be read
 *	bare; so parse(format(q)) gives q's terms exactly.  The canonical
 *	text is bounded like the query itself: a query whose canonical
 *	text would pass DISCOVERY_MAX_QUERY bytes (short dates written out)
 *	is refused, so whatever records the canonical text has a bound.
 *
 *	FTS5 expressions quote every value as an FTS5 string ("..." with
 *	'"' doubled), which FTS5 tokenizes like the indexed text: a word
 *	becomes the phrase of its tokens ("don't" is "don" "t"), and no
 *	operator, column filter, '*' or '^' a user types is ever syntax.
 *	A full-text value without a token (a letter, digit or private-use
 *	character, as unicode61 has it; GLib classifies non-ASCII) is
 *	refused at parse time: FTS5 would match it nowhere, silently.
 *
 *	Nothing depends on the locale: names, units and "attachment" are
 *	compared with GLib's g_ascii_ functions (a Turkish locale would
 *	make strcasecmp() miss "CLIENT-IP").
 *
 * DIAGNOSTICS
 *	discovery_query_parse() returns -1 with "at byte N: problem" in
 *	err (N counted from 0), and q empty.  Nothing here prints.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "common/timeparse.h"
#include "discovery/discovery.h"

/* What a field's value is. */
typedef enum {
	V_WORDS,		/* full text: needs a token */
	V_TEXT,			/* any text */
	V_ADDRESS,		/* addr or @domain */
	V_MSGID,		/* a Message-ID, <> added */
	V_HAS,			/* "attachment" */
	V_DATE,			/* a DATE into usec */
	V_SIZE,			/* N[kMG] into bytes */
	V_IP,			/* IPv4 or IPv6 */
	V_WORD			/* text without white space */
} value_kind;

/* The fields, in the order of discovery_field. */
static const struct {
	const char *name;
	value_kind kind;
	bool once;		/* may be given once only */
} fields[] = {
	[DQ_TEXT] = {"", V_WORDS, false},
	[DQ_FROM] = {"from", V_ADDRESS, false},
	[DQ_TO] = {"to", V_ADDRESS, false},
	[DQ_HEADER_FROM] = {"header-from", V_TEXT, false},
	[DQ_HEADER_TO] = {"header-to", V_TEXT, false},
	[DQ_SUBJECT] = {"subject", V_WORDS, false},
	[DQ_MESSAGE_ID] = {"message-id", V_MSGID, false},
	[DQ_ATTACHMENT] = {"attachment", V_WORDS, false},
	[DQ_HAS_ATTACHMENT] = {"has", V_HAS, true},
	[DQ_AFTER] = {"after", V_DATE, true},
	[DQ_BEFORE] = {"before", V_DATE, true},
	[DQ_LARGER] = {"larger", V_SIZE, true},
	[DQ_SMALLER] = {"smaller", V_SIZE, true},
	[DQ_CLIENT_IP] = {"client-ip", V_IP, false},
	[DQ_QUEUE_ID] = {"queue-id", V_WORD, false},
	[DQ_HOLD] = {"hold", V_WORD, false},
	[DQ_PARTY] = {"party", V_ADDRESS, false},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

#define KNOWN_FIELDS "from to header-from header-to subject message-id " \
	"attachment has after before larger smaller client-ip queue-id hold party"

#define SHOW_MAX 60		/* bytes of a value quoted in an error */

/* What the parser holds while it reads one query. */
typedef struct parser {
	const char *s;				/* the query */
	size_t len;
	size_t pos;				/* next byte to read */
	discovery_term t[DISCOVERY_MAX_TERMS];	/* terms so far */
	size_t at[DISCOVERY_MAX_TERMS];		/* where each starts */
	size_t n;
	unsigned once_seen;			/* bit per field */
	char buf[DISCOVERY_MAX_QUERY + 3];	/* a value, unquoted (+ <>) */
	size_t buflen;
	mk_error *err;
} parser;

/* Where the writers write: at most size bytes kept, every byte counted. */
typedef struct outbuf {
	char *buf;		/* NULL: count only */
	size_t size;
	size_t len;
} outbuf;

/* How a word with a colon reads. */
typedef enum {
	COLON_NONE,		/* text: no NAME ":", or a URL */
	COLON_FIELD,		/* a field */
	COLON_UNKNOWN		/* NAME ":" with NAME no field: an error */
} colon_kind;

/* discovery_field_name - the word before the colon ("" for DQ_TEXT) */
const char *
discovery_field_name(discovery_field f)
{
	if ((size_t)f >= N_FIELDS)
		return "";
	return fields[f].name;
}

/* is_ws - a byte that separates terms */
static bool
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* fail - "at byte N: ..." into the parser's err; returns -1 */
__attribute__((format(printf, 3, 4)))
static int
fail(parser *p, size_t at, const char *fmt, ...)
{
	char what[MK_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mk_error_set(p->err, "at byte %zu: %s", at, what);
}

/* utf8_len - length of the valid UTF-8 character at s (1 to 4) and its
 * code point, 0 when s holds none (overlong, surrogate, past U+10FFFF) */
static size_t
utf8_len(const unsigned char *s, uint32_t *cp)
{
	gunichar c = g_utf8_get_char_validated((const char *)s, -1);

	if (c == (gunichar)-1 || c == (gunichar)-2)
		return 0;
	*cp = c;
	return (size_t)g_utf8_skip[s[0]];
}

/* check_chars - the whole query is UTF-8 without control characters
 * (C0 but white space, DEL, C1) */
static int
check_chars(parser *p)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t i = 0, n;
	uint32_t cp;

	while (i < p->len) {
		if ((n = utf8_len(s + i, &cp)) == 0)
			return fail(p, i, "not valid UTF-8");
		if ((cp < 0x20 && !is_ws((unsigned char)cp)) ||
		    (cp >= 0x7f && cp <= 0x9f))
			return fail(p, i, "a control character");
		i += n;
	}
	return 0;
}

/* shown - how many bytes of s (at most SHOW_MAX, whole characters) an
 * error message quotes */
static int
shown(const char *s)
{
	size_t n = strlen(s);
	uint32_t cp;
	size_t i = 0, k;

	if (n <= SHOW_MAX)
		return (int)n;
	while ((k = utf8_len((const unsigned char *)s + i, &cp)) != 0 &&
	       i + k <= SHOW_MAX - 3)
		i += k;
	return (int)i;
}

/* name_len - length of NAME in "NAME:..." at s (a letter, then letters
 * and '-'), 0 when s does not start so */
static size_t
name_len(const char *s)
{
	size_t n = 0;

	if (!g_ascii_isalpha(s[0]))
		return 0;
	while (g_ascii_isalpha(s[n]) || s[n] == '-')
		n++;
	return s[n] == ':' ? n : 0;
}

/* find_field - the field named by s[0..n) in any case, or -1 */
static int
find_field(const char *s, size_t n)
{
	size_t f;

	for (f = 1; f < N_FIELDS; f++)
		if (strlen(fields[f].name) == n &&
		    g_ascii_strncasecmp(fields[f].name, s, n) == 0)
			return (int)f;
	return -1;
}

/* colon_of - how the word at s reads: field, unknown field, or text */
static colon_kind
colon_of(const char *s)
{
	size_t n = name_len(s);

	if (n == 0)
		return COLON_NONE;
	if (find_field(s, n) >= 0)
		return COLON_FIELD;
	return strncmp(s + n + 1, "//", 2) == 0 ? COLON_NONE : COLON_UNKNOWN;
}

/* edit_distance - optimal string alignment distance of a[0..n) (any
 * case) and the lower-case field name b (both at most 32 bytes) */
static size_t
edit_distance(const char *a, size_t n, const char *b)
{
	size_t m = strlen(b), d[33][33], i, j, best, cost;
	char x[33];

	for (i = 0; i < n; i++)
		x[i] = g_ascii_tolower(a[i]);
	for (i = 0; i <= n; i++)
		d[i][0] = i;
	for (j = 0; j <= m; j++)
		d[0][j] = j;
	for (i = 1; i <= n; i++)
		for (j = 1; j <= m; j++) {
			cost = x[i - 1] != b[j - 1];
			best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && cost && x[i - 1] == b[j - 2] &&
			    x[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[n][m];
}

/* closest_field - the field name nearest s[0..n) (at most 1 edit for
 * names up to 4 letters, 2 for longer ones), or NULL */
static const char *
closest_field(const char *s, size_t n)
{
	size_t f, d, best = n <= 4 ? 2 : 3;
	const char *name = NULL;

	if (n > 32)
		return NULL;
	for (f = 1; f < N_FIELDS; f++)
		if (strlen(fields[f].name) <= 32 &&
		    (d = edit_distance(s, n, fields[f].name)) < best) {
			best = d;
			name = fields[f].name;
		}
	return name;
}

/* unknown_field - the error for "NAME:" at pos, NAME no field */
static int
unknown_field(parser *p, size_t pos, size_t n)
{
	const char *near = closest_field(p->s + pos, n);
	char hint[48] = "";

	if (near != NULL)
		snprintf(hint, sizeof(hint), " (did you mean '%s:'?)", near);
	return fail(p, pos, "unknown field '%.*s:'%s; the fields are "
		    KNOWN_FIELDS "; put a word with a colon in quotes to "
		    "search for it as text", n > 40 ? 40 : (int)n,
		    p->s + pos, hint);
}

/* append - one byte to the value being read (a value is part of a
 * query of at most DISCOVERY_MAX_QUERY bytes: it fits) */
static void
append(parser *p, char c)
{
	assert(p->buflen < DISCOVERY_MAX_QUERY);
	p->buf[p->buflen++] = c;
}

/* read_quoted - the "..." at p->pos, unescaped into p->buf */
static int
read_quoted(parser *p)
{
	size_t open = p->pos++;
	char c, e;

	for (;;) {
		if ((c = p->s[p->pos]) == '\0')
			return fail(p, open, "unterminated quote");
		if (c == '"')
			break;
		if (c == '\t' || c == '\n' || c == '\r')
			return fail(p, p->pos, "a tab or line break inside "
				    "quotes");
		if (c == '\\') {
			if ((e = p->s[p->pos + 1]) == '\0')
				return fail(p, open, "unterminated quote");
			if (e != '"' && e != '\\')
				return fail(p, p->pos, "a backslash inside quotes "
					    "must come before '\"' or '\\'");
			c = e;
			p->pos++;
		}
		append(p, c);
		p->pos++;
	}
	p->pos++;
	if (p->s[p->pos] != '\0' && !is_ws((unsigned char)p->s[p->pos]))
		return fail(p, p->pos, "white space needed after a closing "
			    "quote");
	return 0;
}

/* read_bare - the word at p->pos into p->buf */
static int
read_bare(parser *p)
{
	char c;

	while ((c = p->s[p->pos]) != '\0' && !is_ws((unsigned char)c)) {
		if (c == '"')
			return fail(p, p->pos, "'\"' inside a word (put the "
				    "whole value in quotes)");
		append(p, c);
		p->pos++;
	}
	return 0;
}

/* read_value - a quoted or bare value at p->pos into p->buf; *phrase
 * says which */
static int
read_value(parser *p, bool *phrase)
{
	int rc;

	p->buflen = 0;
	*phrase = p->s[p->pos] == '"';
	rc = *phrase ? read_quoted(p) : read_bare(p);
	p->buf[p->buflen] = '\0';
	return rc;
}

/* has_token - does s hold a character FTS5's unicode61 keeps in a token
 * (categories L*, N*, Co)? */
static bool
has_token(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	GUnicodeType t;
	uint32_t cp;
	size_t n;

	for (; *u; u += n) {
		if ((n = utf8_len(u, &cp)) == 0)
			return false;
		if (cp < 0x80) {
			if (g_ascii_isalnum(*u))
				return true;
			continue;
		}
		t = g_unichar_type(cp);
		if (t == G_UNICODE_LOWERCASE_LETTER ||
		    t == G_UNICODE_MODIFIER_LETTER ||
		    t == G_UNICODE_OTHER_LETTER ||
		    t == G_UNICODE_TITLECASE_LETTER ||
		    t == G_UNICODE_UPPERCASE_LETTER ||
		    t == G_UNICODE_DECIMAL_NUMBER ||
		    t == G_UNICODE_LETTER_NUMBER ||
		    t == G_UNICODE_OTHER_NUMBER || t == G_UNICODE_PRIVATE_USE)
			return true;
	}
	return false;
}

/* parse_size - "N", "Nk", "NM", "NG" (any case; powers of 1024) into
 * bytes; -1 when malformed, -2 when past INT64_MAX */
static int
parse_size(const char *s, int64_t *bytes)
{
	uint64_t v = 0;
	int shift = 0;

	if (!g_ascii_isdigit(*s))
		return -1;
	for (; g_ascii_isdigit(*s); s++) {
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -2;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	switch (g_ascii_tolower(*s)) {
	case 'k': shift = 10; s++; break;
	case 'm': shift = 20; s++; break;
	case 'g': shift = 30; s++; break;
	}
	if (*s != '\0')
		return -1;
	if (v > (uint64_t)INT64_MAX >> shift)
		return -2;
	*bytes = (int64_t)(v << shift);
	return 0;
}

/* value_date - after:/before: DATE into t->number, canonical in p->buf */
static int
value_date(parser *p, discovery_term *t, size_t at)
{
	const char *name = fields[t->field].name;
	char text[MK_TIME_TEXT_MAX];

	if (mk_time_parse(p->buf, &t->number) < 0)
		return fail(p, at, "%s: bad date '%.*s' (use YYYY-MM-DD, "
			    "YYYY-MM-DDTHH:MM:SSZ or @SECONDS)", name,
			    shown(p->buf), p->buf);
	if (mk_time_format(t->number, text, sizeof(text)) < 0)
		return fail(p, at, "%s: '%.*s' is outside the years 0000 to "
			    "9999", name, shown(p->buf), p->buf);
	p->buflen = (size_t)snprintf(p->buf, sizeof(p->buf), "%s", text);
	return 0;
}

/* value_size - larger:/smaller: SIZE into t->number, canonical in p->buf */
static int
value_size(parser *p, discovery_term *t, size_t at)
{
	const char *name = fields[t->field].name;
	int rc = parse_size(p->buf, &t->number);

	if (rc == -1)
		return fail(p, at, "%s: bad size '%.*s' (use N, Nk, NM or NG: "
			    "bytes, or units of 1024)", name, shown(p->buf),
			    p->buf);
	if (rc == -2)
		return fail(p, at, "%s: '%.*s' is more than %lld bytes", name,
			    shown(p->buf), p->buf, (long long)INT64_MAX);
	p->buflen = (size_t)snprintf(p->buf, sizeof(p->buf), "%lld",
				     (long long)t->number);
	return 0;
}

/* value_ip - client-ip: an IPv4 or IPv6 address, in inet_ntop() form */
static int
value_ip(parser *p, size_t at)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char text[INET6_ADDRSTRLEN];
	int af = AF_INET;

	if (inet_pton(af, p->buf, addr) != 1 &&
	    inet_pton(af = AF_INET6, p->buf, addr) != 1)
		return fail(p, at, "client-ip: '%.*s' is not an IPv4 or IPv6 "
			    "address", shown(p->buf), p->buf);
	if (inet_ntop(af, addr, text, sizeof(text)) == NULL)
		return fail(p, at, "client-ip: '%.*s' cannot be written back",
			    shown(p->buf), p->buf);
	p->buflen = (size_t)snprintf(p->buf, sizeof(p->buf), "%s", text);
	return 0;
}

/* value_msgid - message-id: wrapped in <> when given without */
static void
value_msgid(parser *p)
{
	if (p->buf[0] == '<')
		return;
	memmove(p->buf + 1, p->buf, p->buflen);
	p->buf[0] = '<';
	p->buf[p->buflen + 1] = '>';
	p->buflen += 2;
	p->buf[p->buflen] = '\0';
}

/* value_text - the checks of the free-text kinds */
static int
value_text(parser *p, discovery_term *t, size_t at)
{
	const char *name = fields[t->field].name;

	switch (fields[t->field].kind) {
	case V_WORDS:
		if (!has_token(p->buf))
			return fail(p, at, "'%.*s' holds no letter or digit, "
				    "and the full-text index holds only words "
				    "(leave it out, or quote it with words)",
				    shown(p->buf), p->buf);
		return 0;
	case V_ADDRESS:
		if (strcmp(p->buf, "@") == 0)
			return fail(p, at, "%s: '@' needs a domain after it",
				    name);
		return 0;
	case V_WORD:
		if (strpbrk(p->buf, " \t\r\n") != NULL)
			return fail(p, at, "%s: takes one word, without "
				    "spaces", name);
		return 0;
	default:
		return 0;
	}
}

/* check_value - p->buf as a value of t's field: checked, made canonical,
 * t->number set; at is where the value starts */
static int
check_value(parser *p, discovery_term *t, size_t at)
{
	switch (fields[t->field].kind) {
	case V_HAS:
		t->phrase = false;
		if (g_ascii_strcasecmp(p->buf, "attachment") != 0)
			return fail(p, at, "has: takes only 'attachment'");
		return 0;
	case V_DATE:
		t->phrase = false;
		return value_date(p, t, at);
	case V_SIZE:
		t->phrase = false;
		return value_size(p, t, at);
	case V_IP:
		t->phrase = false;
		return value_ip(p, at);
	case V_MSGID:
		value_msgid(p);
		return 0;
	default:
		return value_text(p, t, at);
	}
}

/* take_field - the field of the word at p->pos: DQ_TEXT when it names
 * none, else the field, p->pos moved past its colon */
static int
take_field(parser *p, discovery_field *field)
{
	size_t n = name_len(p->s + p->pos);
	int f;

	*field = DQ_TEXT;
	switch (colon_of(p->s + p->pos)) {
	case COLON_NONE:
		return 0;
	case COLON_UNKNOWN:
		return unknown_field(p, p->pos, n);
	case COLON_FIELD:
		break;
	}
	f = find_field(p->s + p->pos, n);
	*field = (discovery_field)f;
	p->pos += n + 1;
	if (p->s[p->pos] == '\0' || is_ws((unsigned char)p->s[p->pos]))
		return fail(p, p->pos - n - 1, "%s: needs a value (and no "
			    "space after the colon)", fields[f].name);
	if (fields[f].once && (p->once_seen & 1u << f))
		return fail(p, p->pos - n - 1, "%s: given twice",
			    fields[f].name);
	p->once_seen |= 1u << f;
	return 0;
}

/* take_negation - a leading '-' of the term at p->pos */
static int
take_negation(parser *p, bool *negated)
{
	size_t start = p->pos;
	char c;

	*negated = p->s[p->pos] == '-';
	if (!*negated)
		return 0;
	c = p->s[++p->pos];
	if (c == '\0' || is_ws((unsigned char)c))
		return fail(p, start, "'-' with nothing after it");
	if (c == '-')
		return fail(p, start, "'--' (a term is negated once; put a "
			    "word that starts with '-' in quotes)");
	return 0;
}

/* parse_term - the term at p->pos into p->t[p->n] */
static int
parse_term(parser *p)
{
	discovery_term *t = &p->t[p->n];
	size_t vstart;

	memset(t, 0, sizeof(*t));
	p->at[p->n] = p->pos;
	if (take_negation(p, &t->negated) < 0)
		return -1;
	if (p->s[p->pos] != '"' && take_field(p, &t->field) < 0)
		return -1;
	vstart = p->pos;
	if (read_value(p, &t->phrase) < 0)
		return -1;
	if (p->buflen == 0 && t->field == DQ_TEXT)
		return fail(p, vstart, "empty quotes");
	if (p->buflen == 0)
		return fail(p, vstart, "%s: needs a value",
			    fields[t->field].name);
	if (check_value(p, t, vstart) < 0)
		return -1;
	if (t->field != DQ_HAS_ATTACHMENT &&
	    (t->value = strdup(p->buf)) == NULL)
		return mk_error_set(p->err, "out of memory");
	p->n++;
	return 0;
}

/* out_put - n bytes of s to o */
static void
out_put(outbuf *o, const char *s, size_t n)
{
	if (o->buf != NULL && o->len < o->size)
		memcpy(o->buf + o->len, s,
		       n < o->size - o->len ? n : o->size - o->len);
	o->len += n;
}

/* out_str - a string to o */
static void
out_str(outbuf *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* out_quoted - s between q's, each q in s written as esc followed by q,
 * and each esc (when esc is '\\') doubled too */
static void
out_quoted(outbuf *o, const char *s, char q, const char *esc)
{
	const char *run = s;

	out_put(o, &q, 1);
	for (; *s; s++)
		if (*s == q || (*esc == '\\' && *s == '\\')) {
			out_put(o, run, (size_t)(s - run));
			out_str(o, esc);
			run = s;
		}
	out_str(o, run);
	out_put(o, &q, 1);
}

/* out_alloc - after a counting pass, room for what was counted; the next
 * pass fills it.  false when out of memory */
static bool
out_alloc(outbuf *o)
{
	o->size = o->len;
	o->len = 0;
	return (o->buf = malloc(o->size + 1)) != NULL;
}

/* out_end - the filled buffer, NUL-terminated */
static char *
out_end(outbuf *o)
{
	o->buf[o->size] = '\0';
	return o->buf;
}

/* needs_quotes - can value of field not be read back bare? */
static bool
needs_quotes(discovery_field field, const char *value)
{
	const unsigned char *u = (const unsigned char *)value;

	if (*u == '\0')
		return true;
	for (; *u; u++)
		if (is_ws(*u) || *u == '"' || *u < 0x20 || *u == 0x7f)
			return true;
	return field == DQ_TEXT &&
	       (value[0] == '-' || colon_of(value) != COLON_NONE);
}

/* write_term - one term as canonical text */
static void
write_term(outbuf *o, const discovery_term *t)
{
	const char *v = t->value != NULL ? t->value : "";

	if (t->negated)
		out_str(o, "-");
	if (t->field != DQ_TEXT) {
		out_str(o, discovery_field_name(t->field));
		out_str(o, ":");
	}
	if (t->field == DQ_HAS_ATTACHMENT)
		out_str(o, "attachment");
	else if (t->phrase || needs_quotes(t->field, v))
		out_quoted(o, v, '"', "\\");
	else
		out_str(o, v);
}

/* write_query - the terms, one space between each */
static void
write_query(outbuf *o, const discovery_query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		if (i > 0)
			out_str(o, " ");
		write_term(o, &q->terms[i]);
	}
}

/* check_canonical - the canonical text of the parsed terms fits in
 * DISCOVERY_MAX_QUERY bytes */
static int
check_canonical(parser *p)
{
	outbuf o = {NULL, 0, 0};
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (i > 0)
			out_str(&o, " ");
		write_term(&o, &p->t[i]);
		if (o.len > DISCOVERY_MAX_QUERY)
			return fail(p, p->at[i], "the query is longer than %d "
				    "bytes once written out in full (dates, "
				    "sizes)", DISCOVERY_MAX_QUERY);
	}
	return 0;
}

/* parse_terms - every term of p->s into p->t */
static int
parse_terms(parser *p)
{
	for (;;) {
		while (is_ws((unsigned char)p->s[p->pos]))
			p->pos++;
		if (p->s[p->pos] == '\0')
			return 0;
		if (p->n == DISCOVERY_MAX_TERMS)
			return fail(p, p->pos, "more than %d terms",
				    DISCOVERY_MAX_TERMS);
		if (parse_term(p) < 0)
			return -1;
	}
}

/* free_terms - the values of n terms */
static void
free_terms(discovery_term *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(t[i].value);
}

/* run_parser - text into p's terms; 0 or -1 with err */
static int
run_parser(parser *p)
{
	if ((p->len = strnlen(p->s, DISCOVERY_MAX_QUERY + 1)) >
	    DISCOVERY_MAX_QUERY)
		return fail(p, DISCOVERY_MAX_QUERY, "the query is longer than "
			    "%d bytes", DISCOVERY_MAX_QUERY);
	if (check_chars(p) < 0 || parse_terms(p) < 0 || check_canonical(p) < 0)
		return -1;
	return 0;
}

/* discovery_query_parse - text into q (owned: discovery_query_free()) */
int
discovery_query_parse(const char *text, discovery_query *q, mk_error *err)
{
	parser *p;
	int rc;

	q->terms = NULL;
	q->n = 0;
	if (text == NULL)
		return mk_error_set(err, "at byte 0: no query");
	if ((p = malloc(sizeof(*p))) == NULL)
		return mk_error_set(err, "out of memory");
	p->s = text;
	p->pos = p->n = 0;
	p->once_seen = 0;
	p->err = err;
	rc = run_parser(p);
	if (rc == 0 && p->n > 0) {
		if ((q->terms = malloc(p->n * sizeof(*q->terms))) == NULL)
			rc = mk_error_set(err, "out of memory");
		else {
			memcpy(q->terms, p->t, p->n * sizeof(*q->terms));
			q->n = p->n;
		}
	}
	if (rc != 0)
		free_terms(p->t, p->n);
	free(p);
	return rc;
}

/* discovery_query_free - free q's terms */
void
discovery_query_free(discovery_query *q)
{
	if (q == NULL)
		return;
	free_terms(q->terms, q->n);
	free(q->terms);
	q->terms = NULL;
	q->n = 0;
}

/* discovery_query_format - q as canonical query text; malloc'ed */
char *
discovery_query_format(const discovery_query *q)
{
	outbuf o = {NULL, 0, 0};

	write_query(&o, q);
	if (!out_alloc(&o))
		return NULL;
	write_query(&o, q);
	return out_end(&o);
}

/* is_fts_field - is f searched in the full-text index? */
static bool
is_fts_field(discovery_field f)
{
	return f == DQ_TEXT || f == DQ_SUBJECT || f == DQ_ATTACHMENT
	    || f == DQ_HEADER_FROM || f == DQ_HEADER_TO;
}

/* count_terms - q's terms of field f that are negated, or not */
static size_t
count_terms(const discovery_query *q, discovery_field f, bool negated)
{
	size_t i, n = 0;

	for (i = 0; i < q->n; i++)
		n += q->terms[i].field == f && q->terms[i].negated == negated;
	return n;
}

/* write_fts_list - q's terms of f (negated, or not) as FTS5 strings
 * joined by op; in parentheses when paren and there are several */
static void
write_fts_list(outbuf *o, const discovery_query *q, discovery_field f,
	       bool negated, const char *op, bool paren)
{
	bool group = paren && count_terms(q, f, negated) > 1;
	const discovery_term *t;
	size_t i, k = 0;

	if (group)
		out_str(o, "(");
	for (i = 0; i < q->n; i++) {
		t = &q->terms[i];
		if (t->field != f || t->negated != negated)
			continue;
		if (k++ > 0)
			out_str(o, op);
		out_quoted(o, t->value != NULL ? t->value : "", '"', "\"");
	}
	if (group)
		out_str(o, ")");
}

/* write_fts - the positive terms of f, less the negated ones */
static void
write_fts(outbuf *o, const discovery_query *q, discovery_field f)
{
	bool negs = count_terms(q, f, true) > 0;

	write_fts_list(o, q, f, false, f == DQ_TEXT ? " AND " : " OR ", negs);
	if (negs) {
		out_str(o, " NOT ");
		write_fts_list(o, q, f, true, " OR ", true);
	}
}

/* write_fts_not - the negated terms of f, any of which excludes */
static void
write_fts_not(outbuf *o, const discovery_query *q, discovery_field f)
{
	write_fts_list(o, q, f, true, " OR ", false);
}

/* render - what w writes for q and f, malloc'ed; NULL out of memory */
static char *
render(void (*w)(outbuf *, const discovery_query *, discovery_field),
       const discovery_query *q, discovery_field f)
{
	outbuf o = {NULL, 0, 0};

	w(&o, q, f);
	if (!out_alloc(&o))
		return NULL;
	w(&o, q, f);
	return out_end(&o);
}

/* discovery_query_fts - the FTS5 expression of q's terms of field; NULL
 * with *none when field has no positive term */
char *
discovery_query_fts(const discovery_query *q, discovery_field field,
		    bool *none)
{
	*none = !is_fts_field(field) || count_terms(q, field, false) == 0;
	return *none ? NULL : render(write_fts, q, field);
}

/* discovery_query_fts_not - the FTS5 expression of q's negated terms of
 * a field that has no positive term; NULL with *none otherwise */
char *
discovery_query_fts_not(const discovery_query *q, discovery_field field,
			bool *none)
{
	*none = !is_fts_field(field) || count_terms(q, field, false) > 0 ||
		count_terms(q, field, true) == 0;
	return *none ? NULL : render(write_fts_not, q, field);
}
