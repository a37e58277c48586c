/*
 * extract.c - the text of a message, for the full-text index (issue 9).
 *
 * NAME
 *	discovery_extract - a message's headers, text and attachment names
 *
 * SYNOPSIS
 *	#include "discovery/discovery.h"
 *
 *	int discovery_extract(const void *msg, size_t len,
 *			      const discovery_sink *sink,
 *			      discovery_stats *stats, mk_error *err);
 *
 * DESCRIPTION
 *	GMime 3 parses the message (guard.c first decides how much of it
 *	GMime may see); what a reviewer may search for goes to the sink,
 *	in this order:
 *
 *	  header      From, To, Cc, Subject, Date, Message-ID of the
 *	              top-level message, each once when present and not
 *	              empty.  Addresses as "Name <addr>, ..." with RFC 2047
 *	              names decoded; Subject decoded; Date and Message-ID
 *	              as written (unfolded), like the archive's own record.
 *	  then, part by part in the order of the message (depth first):
 *	  attachment  a part with a file name (Content-Disposition filename
 *	              or Content-Type name, RFC 2231 and RFC 2047 decoded),
 *	              a text part marked "attachment", any part that is not
 *	              text (name NULL when it has none), and every attached
 *	              message (message/rfc822); its type in lower case.  Not
 *	              the signature of multipart/signed nor the version part
 *	              of multipart/encrypted: they are protocol, not content.
 *	  text        every part of type text, attachments included: transfer
 *	              encoding undone (base64, quoted-printable, uuencode),
 *	              charset converted to UTF-8; text/html reduced to its
 *	              text (html.c).  Every alternative of a
 *	              multipart/alternative is read: a word any mail client
 *	              can show must be found.  An attached message gives its
 *	              From, To, Cc and Subject as a text run of their own,
 *	              then its parts.  Each part's text ends with a line
 *	              break, and no run holds the text of two parts.
 *
 *	Where GMime gives up on structure, the words are still read: lines
 *	it skips as broken header fields (a body with no empty line before
 *	it) come first as text, a multipart without usable parts gives its
 *	preamble and epilogue (where everything then is), a Content-Type
 *	without a subtype is text/plain (RFC 2045, 5.2; GMime would say
 *	application/octet-stream), and bytes GMime cannot read as a message
 *	at all (no header) are read as plain text.
 *
 *	Charsets: a charset iconv knows is converted; us-ascii, utf-8, a
 *	missing one and one iconv does not know (noted as malformed) are
 *	read as UTF-8 where the bytes are valid UTF-8 and as Windows-1252
 *	where they are not (text.c); iso-8859-1 is read as its superset
 *	Windows-1252, as browsers do.  An HTML part without a charset
 *	parameter may name one in a <meta>; a text part without one that
 *	starts with a UTF-16 byte order mark is UTF-16.  So every part
 *	gives text, whatever it claims.
 *
 *	Limits (discovery.h): DISCOVERY_MAX_PARSE bytes parsed,
 *	DISCOVERY_MAX_TEXT bytes of text, DISCOVERY_MAX_PARTS parts,
 *	DISCOVERY_MAX_DEPTH levels of nesting; and guard.c's.  Meeting one
 *	sets stats->truncated.  Structure GMime reports as broken
 *	(a multipart without its closing boundary or without a boundary,
 *	conflicting headers, ...), base64 with bytes outside its alphabet
 *	or cut inside a quantum, an unknown charset and a message without
 *	a header (read as plain text) set stats->malformed.  stats->note
 *	keeps the first of these, in ASCII.
 *
 *	Thread-safe: g_mime_init() runs once (pthread_once); everything
 *	else belongs to the call.
 *
 * DIAGNOSTICS
 *	0 whatever the MIME.  -1 with err filled when a sink callback
 *	returned non-zero (nothing more is called after it) or memory ran
 *	out before parsing began (GLib, under GMime, aborts on allocation
 *	failure; there is no later -1 for memory).
 */
#include "config.h"

#include <iconv.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "discovery/internal.h"

#define RAW_CHUNK	65536	/* bytes of a part read at a time */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

/* gmime_start - GMime's one-time initialisation */
static void
gmime_start(void)
{
	g_mime_init();
}

/* The way of one text part from its raw bytes to the text. */
typedef struct pipeline {
	GMimeObject *part;
	size_t partno;			/* for notes: 1 is the first part */
	GMimeFilter *decode;		/* transfer encoding, or NULL */
	GMimeFilter *convert;		/* charset to UTF-8, or NULL */
	bool decided;			/* convert was chosen */
	bool html;
	bool base64;			/* raw bytes are checked as base64 */
	bool b64_bad;
	size_t b64_chars;
	utf8_fix fix;
	html_state hs;
} pipeline;

#define MAX_SKIPPED	256	/* header lines GMime skipped, kept as text */

/* One extraction. */
typedef struct extraction {
	const discovery_sink *sink;
	discovery_stats *stats;
	gint64 skipped[MAX_SKIPPED];	/* where they start */
	size_t nskipped;
	bool stopped;			/* a header or attachment callback */
	int sink_rc;			/* said stop with this */
	const char *stopped_by;
	pipeline pl;
	text_out text;
	char raw[RAW_CHUNK];
} extraction;

/* stopped - whether the sink said stop */
static bool
stopped(const extraction *ex)
{
	return ex->stopped || ex->text.failed;
}

/* sink_said - note a callback's answer; whether it said stop */
static bool
sink_said(extraction *ex, int rc, const char *which)
{
	if (rc == 0)
		return false;
	ex->stopped = true;
	ex->sink_rc = rc;
	ex->stopped_by = which;
	ex->text.failed = true;		/* no text after it either */
	return true;
}

/* What GMime's warnings mean for stats; NULL: not worth a note (common,
 * and GMime reads them exactly). */
static const char *const warnings[] = {
	[GMIME_WARN_DUPLICATED_HEADER] = NULL,
	[GMIME_WARN_DUPLICATED_PARAMETER] = NULL,
	[GMIME_WARN_UNENCODED_8BIT_HEADER] = NULL,
	[GMIME_WARN_INVALID_CONTENT_TYPE] = "an invalid Content-Type",
	[GMIME_WARN_INVALID_RFC2047_HEADER_VALUE] =
		"an invalid RFC 2047 encoded word",
	[GMIME_WARN_MALFORMED_MULTIPART] = "a multipart without parts",
	[GMIME_WARN_TRUNCATED_MESSAGE] =
		"the message ends inside a multipart (no closing boundary)",
	[GMIME_WARN_MALFORMED_MESSAGE] = "malformed MIME",
	[GMIME_CRIT_INVALID_HEADER_NAME] = "an invalid header field name",
	[GMIME_CRIT_CONFLICTING_HEADER] = "conflicting header fields",
	[GMIME_CRIT_CONFLICTING_PARAMETER] = "conflicting parameters",
	[GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY] = "a multipart without a boundary",
	[GMIME_WARN_INVALID_PARAMETER] = "an invalid header parameter",
	[GMIME_WARN_INVALID_ADDRESS_LIST] = "an invalid address list",
	[GMIME_CRIT_NESTING_OVERFLOW] = "MIME nesting beyond GMime's limit",
	[GMIME_WARN_PART_WITHOUT_CONTENT] = "a part without content",
	[GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT] = "a part without content"
};

/* parser_warning - GMimeParserWarningFunc: what GMime found broken */
static void
parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
	       gpointer ctx)
{
	extraction *ex = ctx;
	discovery_stats *st = ex->stats;
	const char *what = (size_t)code < sizeof(warnings) / sizeof(warnings[0])
		? warnings[code] : "malformed MIME";

	if (code == GMIME_CRIT_INVALID_HEADER_NAME && offset >= 0
	    && ex->nskipped < MAX_SKIPPED)
		ex->skipped[ex->nskipped++] = offset;
	if (code == GMIME_CRIT_NESTING_OVERFLOW)
		stats_note(st, false, "%s", what);	/* parts left out */
	if (what == NULL)
		return;
	if (offset >= 0)
		stats_note(st, true, "%s (%.40s) near byte %lld", what,
			   item != NULL ? item : "", (long long)offset);
	else
		stats_note(st, true, "%s", what);
}

/* report_header - one header field to the sink, as valid UTF-8 */
static void
report_header(extraction *ex, discovery_header which, const char *value)
{
	char *v;

	if (stopped(ex) || value == NULL || value[0] == '\0'
	    || ex->sink->header == NULL)
		return;
	if ((v = utf8_fix_dup(value)) == NULL)
		return;		/* out of memory: the field is left out */
	sink_said(ex, ex->sink->header(which, v, ex->sink->ctx), "header");
	free(v);
}

/* addresses - a message's addresses of one kind as "Name <addr>, ...",
 * names decoded (g_malloc'ed, NULL when none); the field as written,
 * RFC 2047 words decoded, when GMime found no address in it */
static char *
addresses(GMimeMessage *m, GMimeAddressType type, const char *field)
{
	InternetAddressList *list = g_mime_message_get_addresses(m, type);
	char *s = list != NULL
		? internet_address_list_to_string(list, NULL, FALSE) : NULL;
	const char *raw;

	if (s != NULL && s[0] != '\0')
		return s;
	g_free(s);
	raw = g_mime_object_get_header(GMIME_OBJECT(m), field);
	return raw != NULL ? g_mime_utils_header_decode_text(NULL, raw) : NULL;
}

/* report_address - one address header to the sink */
static void
report_address(extraction *ex, GMimeMessage *m, discovery_header which,
	       GMimeAddressType type, const char *field)
{
	char *s = addresses(m, type, field);

	report_header(ex, which, s);
	g_free(s);
}

/* report_headers - the top-level message's header fields */
static void
report_headers(extraction *ex, GMimeMessage *m)
{
	GMimeObject *obj = GMIME_OBJECT(m);

	report_address(ex, m, DISCOVERY_HDR_FROM, GMIME_ADDRESS_TYPE_FROM,
		       "From");
	report_address(ex, m, DISCOVERY_HDR_TO, GMIME_ADDRESS_TYPE_TO, "To");
	report_address(ex, m, DISCOVERY_HDR_CC, GMIME_ADDRESS_TYPE_CC, "Cc");
	report_header(ex, DISCOVERY_HDR_SUBJECT, g_mime_message_get_subject(m));
	report_header(ex, DISCOVERY_HDR_DATE, g_mime_object_get_header(obj, "Date"));
	report_header(ex, DISCOVERY_HDR_MESSAGE_ID,
		      g_mime_object_get_header(obj, "Message-ID"));
}

/* text_line - s (a header value) as one line of text */
static void
text_line(extraction *ex, const char *s)
{
	char *v;

	if (s == NULL || s[0] == '\0' || (v = utf8_fix_dup(s)) == NULL)
		return;
	if (text_put(&ex->text, v, strlen(v)) == 0)
		text_put(&ex->text, "\n", 1);
	free(v);
}

/* inner_headers - an attached message's From, To, Cc, Subject as text */
static void
inner_headers(extraction *ex, GMimeMessage *m)
{
	static const struct {
		GMimeAddressType type;
		const char *field;
	} kinds[] = {
		{ GMIME_ADDRESS_TYPE_FROM, "From" },
		{ GMIME_ADDRESS_TYPE_TO, "To" },
		{ GMIME_ADDRESS_TYPE_CC, "Cc" }
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		s = addresses(m, kinds[i].type, kinds[i].field);
		text_line(ex, s);
		g_free(s);
	}
	text_line(ex, g_mime_message_get_subject(m));
	text_end_part(&ex->text);
}

/* mime_type - "type/subtype" of obj in lower case, valid UTF-8;
 * malloc'ed, NULL when out of memory */
static char *
mime_type(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *g = ct != NULL ? g_mime_content_type_get_mime_type(ct) : NULL;
	char *s = utf8_fix_dup(g != NULL ? g : "application/octet-stream");
	size_t i;

	g_free(g);
	for (i = 0; s != NULL && s[i] != '\0'; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] + 32);
	return s;
}

/* object_filename - the file name of any part (what
 * g_mime_part_get_filename() gives for leaves), NULL when none */
static const char *
object_filename(GMimeObject *obj)
{
	const char *name;

	if (GMIME_IS_PART(obj))
		name = g_mime_part_get_filename(GMIME_PART(obj));
	else if ((name = g_mime_object_get_content_disposition_parameter(
			  obj, "filename")) == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	return name != NULL && name[0] != '\0' ? name : NULL;
}

/* report_attachment - obj, named name (or NULL), to the sink */
static void
report_attachment(extraction *ex, GMimeObject *obj, const char *name)
{
	char *type = mime_type(obj);
	char *fixed = name != NULL ? utf8_fix_dup(name) : NULL;

	ex->stats->attachments++;
	if (!stopped(ex) && ex->sink->attachment != NULL && type != NULL
	    && (name == NULL || fixed != NULL))
		sink_said(ex, ex->sink->attachment(fixed, type, ex->sink->ctx),
			  "attachment");
	free(type);
	free(fixed);
}

/* plain_out - utf8_fn of text/plain: straight to the text */
static int
plain_out(void *ctx, const char *utf8, size_t len)
{
	return text_put(ctx, utf8, len);
}

/* charset_is - whether cs is one of names (any case) */
static bool
charset_is(const char *cs, const char *const *names)
{
	for (; *names != NULL; names++)
		if (g_ascii_strcasecmp(cs, *names) == 0)
			return true;
	return false;
}

/* Charsets utf8_fix reads by itself: UTF-8 and its subset. */
static const char *const fix_charsets[] = {
	"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us",
	"us", "unicode-1-1-utf-8", NULL
};

/* Charsets read as Windows-1252, which contains them. */
static const char *const cp1252_charsets[] = {
	"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1",
	"cp819", "ibm819", "iso-ir-100", "windows-1252", "cp1252",
	"x-cp1252", NULL
};

/* iconv_knows - whether iconv converts cs (by GMime's name for it) to
 * UTF-8.  Asked first because GMime reads "x-unknown" as the locale's
 * charset, which would make the index depend on the daemon's locale. */
static bool
iconv_knows(const char *cs)
{
	iconv_t cd = iconv_open("UTF-8", g_mime_charset_iconv_name(cs));

	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

/* choose_charset - how the decoded bytes s[0..n) of a part become
 * UTF-8: its charset parameter, or what the bytes say of themselves */
static void
choose_charset(extraction *ex, pipeline *pl, const char *s, size_t n)
{
	const char *cs = g_mime_object_get_content_type_parameter(pl->part,
								  "charset");
	const unsigned char *u = (const unsigned char *)s;
	char sniffed[48];

	pl->decided = true;
	if (cs == NULL || cs[0] == '\0') {
		if (n >= 2 && ((u[0] == 0xff && u[1] == 0xfe)
			       || (u[0] == 0xfe && u[1] == 0xff)))
			cs = "UTF-16";
		else if (pl->html && html_sniff_charset(s, n, sniffed,
							sizeof(sniffed)))
			cs = sniffed;
	}
	if (cs == NULL || cs[0] == '\0' || charset_is(cs, fix_charsets))
		return;
	if (charset_is(cs, cp1252_charsets))
		cs = "windows-1252";
	if (iconv_knows(cs))
		pl->convert = g_mime_filter_charset_new(cs, "UTF-8");
	if (pl->convert == NULL)
		stats_note(ex->stats, true, "part %zu: unknown charset \"%.40s\""
			   " read as UTF-8 or Windows-1252", pl->partno, cs);
}

/* decoded - bytes with their transfer encoding undone, on their way */
static int
decoded(extraction *ex, pipeline *pl, char *s, size_t n)
{
	char *out = s;
	size_t outlen = n, pre;

	if (!pl->decided && n > 0)
		choose_charset(ex, pl, s, n);
	if (pl->convert != NULL && n > 0)
		g_mime_filter_filter(pl->convert, s, n, 0, &out, &outlen, &pre);
	return utf8_fix_feed(&pl->fix, out, outlen);
}

/* base64_scan - check raw base64 bytes: the alphabet, and count */
static void
base64_scan(pipeline *pl, const char *s, size_t n)
{
	size_t i;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		    || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=')
			pl->b64_chars++;
		else if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
			pl->b64_bad = true;
	}
}

/* pipe_open - pl ready for part, a text part in transfer encoding enc */
static void
pipe_open(extraction *ex, pipeline *pl, GMimeObject *part,
	  GMimeContentEncoding enc, bool html)
{
	memset(pl, 0, offsetof(pipeline, fix));
	pl->part = part;
	pl->partno = ex->stats->parts;
	pl->html = html;
	pl->base64 = enc == GMIME_CONTENT_ENCODING_BASE64;
	if (enc == GMIME_CONTENT_ENCODING_BASE64
	    || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
	    || enc == GMIME_CONTENT_ENCODING_UUENCODE)
		pl->decode = g_mime_filter_basic_new(enc, FALSE);
	if (html) {
		html_init(&pl->hs, &ex->text);
		utf8_fix_init(&pl->fix, html_feed, &pl->hs);
	} else {
		utf8_fix_init(&pl->fix, plain_out, &ex->text);
	}
}

/* pipe_feed - raw bytes of the part in */
static int
pipe_feed(extraction *ex, pipeline *pl, char *s, size_t n)
{
	char *out = s;
	size_t outlen = n, pre;

	if (pl->base64)
		base64_scan(pl, s, n);
	if (pl->decode != NULL)
		g_mime_filter_filter(pl->decode, s, n, 0, &out, &outlen, &pre);
	return decoded(ex, pl, out, outlen);
}

/* pipe_finish - the end of the part: what every stage still holds */
static int
pipe_finish(extraction *ex, pipeline *pl)
{
	static char none[1];
	char *out;
	size_t outlen, pre;

	if (pl->decode != NULL) {
		g_mime_filter_complete(pl->decode, none, 0, 0, &out, &outlen, &pre);
		if (decoded(ex, pl, out, outlen) != 0)
			return -1;
	}
	if (!pl->decided)
		choose_charset(ex, pl, none, 0);
	if (pl->convert != NULL) {
		g_mime_filter_complete(pl->convert, none, 0, 0, &out, &outlen, &pre);
		if (utf8_fix_feed(&pl->fix, out, outlen) != 0)
			return -1;
	}
	if (utf8_fix_finish(&pl->fix) != 0)
		return -1;
	return pl->html ? html_finish(&pl->hs) : 0;
}

/* pipe_close - what pl holds let go; notes on its base64 */
static void
pipe_close(extraction *ex, pipeline *pl, bool whole)
{
	if (pl->base64 && pl->b64_bad)
		stats_note(ex->stats, true, "part %zu: base64 with bytes outside"
			   " its alphabet", pl->partno);
	else if (pl->base64 && whole && pl->b64_chars % 4 != 0)
		stats_note(ex->stats, true, "part %zu: base64 cut inside a"
			   " quantum", pl->partno);
	if (pl->decode != NULL)
		g_object_unref(pl->decode);
	if (pl->convert != NULL)
		g_object_unref(pl->convert);
	pl->decode = pl->convert = NULL;
}

/* part_text - the text of a leaf of type text */
static void
part_text(extraction *ex, GMimePart *part, bool html)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *raw = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
	pipeline *pl = &ex->pl;
	ssize_t n = 0;

	if (raw == NULL)
		return;
	pipe_open(ex, pl, GMIME_OBJECT(part),
		  g_mime_data_wrapper_get_encoding(w), html);
	g_mime_stream_reset(raw);
	while (text_wants(&ex->text)
	       && (n = g_mime_stream_read(raw, ex->raw, sizeof(ex->raw))) > 0)
		if (pipe_feed(ex, pl, ex->raw, (size_t)n) != 0)
			break;
	if (text_wants(&ex->text))
		pipe_finish(ex, pl);
	pipe_close(ex, pl, n <= 0);
	text_end_part(&ex->text);
}

/* type_without_subtype - whether GMime read obj's Content-Type as
 * application/octet-stream because it has no subtype ("text;
 * charset=us-ascii"), which RFC 2045 (5.2) reads as text/plain */
static bool
type_without_subtype(GMimeObject *obj, GMimeContentType *ct)
{
	const char *raw = g_mime_object_get_header(obj, "Content-Type");
	size_t n;

	if (raw == NULL || ct == NULL
	    || !g_mime_content_type_is_type(ct, "application", "octet-stream"))
		return false;
	n = strcspn(raw, ";");
	return memchr(raw, '/', n) == NULL;
}

/* walk_leaf - a part that holds content: attachment, text, or both */
static void
walk_leaf(extraction *ex, GMimePart *part)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	bool text = (ct != NULL && g_mime_content_type_is_type(ct, "text", "*"))
		    || type_without_subtype(obj, ct);
	bool html = text && g_mime_content_type_is_type(ct, "text", "html");
	const char *name = object_filename(obj);
	const char *disp = g_mime_object_get_disposition(obj);
	bool attached = disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0;

	if (name != NULL || !text || attached)
		report_attachment(ex, obj, name);
	if (text && !stopped(ex) && text_wants(&ex->text))
		part_text(ex, part, html);
}

static void walk(extraction *ex, GMimeObject *obj, int depth);

/* plain_bytes - bytes of unknown charset to the text */
static void
plain_bytes(extraction *ex, const char *s, size_t n)
{
	utf8_fix fix;

	utf8_fix_init(&fix, plain_out, &ex->text);
	if (utf8_fix_feed(&fix, s, n) == 0)
		utf8_fix_finish(&fix);
}

/* plain_text - bytes of unknown charset as the text of a part */
static void
plain_text(extraction *ex, const char *s, size_t n)
{
	plain_bytes(ex, s, n);
	text_end_part(&ex->text);
}

/* partless - a multipart in which GMime found no part (its boundary is
 * missing or never used): all of it is in its preamble and epilogue,
 * which are read as text then (otherwise they are what no mail client
 * shows: "This is a multi-part message in MIME format.") */
static void
partless(extraction *ex, GMimeMultipart *mp)
{
	const char *pre = g_mime_multipart_get_prologue(mp);
	const char *post = g_mime_multipart_get_epilogue(mp);

	if (pre != NULL && text_wants(&ex->text))
		plain_text(ex, pre, strlen(pre));
	if (post != NULL && text_wants(&ex->text))
		plain_text(ex, post, strlen(post));
}

/* walk_multipart - the parts of a multipart, in order */
static void
walk_multipart(extraction *ex, GMimeMultipart *mp, int depth)
{
	int i, n = g_mime_multipart_get_count(mp), skip = -1;

	if (n == 0)
		partless(ex, mp);
	if (GMIME_IS_MULTIPART_SIGNED(mp))
		skip = 1;		/* the signature */
	else if (GMIME_IS_MULTIPART_ENCRYPTED(mp))
		skip = 0;		/* "Version: 1" */
	for (i = 0; i < n && !stopped(ex); i++)
		if (i != skip)
			walk(ex, g_mime_multipart_get_part(mp, i), depth + 1);
}

/* walk_message - an attached message: named, its headers, its parts */
static void
walk_message(extraction *ex, GMimeObject *obj, int depth)
{
	GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

	report_attachment(ex, obj, object_filename(obj));
	if (m == NULL || stopped(ex))
		return;
	if (text_wants(&ex->text))
		inner_headers(ex, m);
	walk(ex, g_mime_message_get_mime_part(m), depth + 1);
}

/* walk - obj and what it holds, within the limits of parts and depth */
static void
walk(extraction *ex, GMimeObject *obj, int depth)
{
	if (obj == NULL || stopped(ex))
		return;
	if (depth > DISCOVERY_MAX_DEPTH) {
		stats_note(ex->stats, false, "parts nested deeper than %d levels"
			   " not read", DISCOVERY_MAX_DEPTH);
		return;
	}
	if (ex->stats->parts >= DISCOVERY_MAX_PARTS) {
		stats_note(ex->stats, false, "parts after the first %d not read",
			   DISCOVERY_MAX_PARTS);
		return;
	}
	ex->stats->parts++;
	if (GMIME_IS_MULTIPART(obj))
		walk_multipart(ex, GMIME_MULTIPART(obj), depth);
	else if (GMIME_IS_MESSAGE_PART(obj))
		walk_message(ex, obj, depth);
	else if (GMIME_IS_PART(obj))
		walk_leaf(ex, GMIME_PART(obj));
}

/* skipped_lines - the lines GMime skipped in a header because they are
 * no header field (a body without the empty line before it, say), as
 * text: a reader may see them as the start of the body */
static void
skipped_lines(extraction *ex, const GByteArray *copy)
{
	const char *s = (const char *)copy->data, *nl;
	size_t i, at, n;

	for (i = 0; i < ex->nskipped && text_wants(&ex->text); i++) {
		if ((at = (size_t)ex->skipped[i]) >= copy->len)
			continue;
		nl = memchr(s + at, '\n', copy->len - at);
		n = nl != NULL ? (size_t)(nl - (s + at)) + 1 : copy->len - at;
		plain_bytes(ex, s + at, n);
	}
	if (ex->nskipped > 0)
		text_end_part(&ex->text);
}

/* headerless - what GMime could not read as a message (no header at
 * all), read as plain text of unknown charset */
static void
headerless(extraction *ex, const char *s, size_t n)
{
	stats_note(ex->stats, true, "no header: read as plain text");
	ex->stats->parts = 1;
	plain_text(ex, s, n);
}

/* parser_options - GMime's options for one message (freed by the
 * caller, after the message: its objects keep a pointer to them) */
static GMimeParserOptions *
parser_options(extraction *ex)
{
	static const char *fallback[] = { "utf-8", "windows-1252", NULL };
	GMimeParserOptions *o = g_mime_parser_options_new();

	g_mime_parser_options_set_fallback_charsets(o, fallback);
	g_mime_parser_options_set_allow_addresses_without_domain(o, TRUE);
	g_mime_parser_options_set_warning_callback(o, parser_warning, ex);
	return o;
}

/* extract_message - guard, parse, report, walk, free */
static void
extract_message(extraction *ex, const char *msg, size_t len)
{
	GByteArray *copy = g_byte_array_sized_new((guint)len);
	GMimeParserOptions *opts = parser_options(ex);
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *m;
	guard_report rep;

	guard_copy(msg, len, copy, &rep);
	if (rep.why != NULL && rep.why_cut)
		stats_note(ex->stats, false, "%s: parsed up to byte %zu",
			   rep.why, rep.at);
	else if (rep.why != NULL)
		stats_note(ex->stats, false, "%s: header fields shortened",
			   rep.why);
	stream = g_mime_stream_mem_new_with_byte_array(copy);	/* owns it */
	parser = g_mime_parser_new_with_stream(stream);
	m = g_mime_parser_construct_message(parser, opts);
	if (m != NULL) {
		report_headers(ex, m);
		skipped_lines(ex, copy);
		walk(ex, g_mime_message_get_mime_part(m), 0);
		g_object_unref(m);
	} else {
		headerless(ex, (const char *)copy->data, copy->len);
	}
	g_object_unref(parser);
	g_object_unref(stream);
	g_mime_parser_options_free(opts);
}

/* discovery_extract - headers, text and attachment names to sink */
int
discovery_extract(const void *msg, size_t len, const discovery_sink *sink,
		  discovery_stats *stats, mk_error *err)
{
	discovery_stats local;
	extraction *ex;
	int rc = 0;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (len > DISCOVERY_MAX_PARSE) {
		len = DISCOVERY_MAX_PARSE;
		stats_note(stats, false, "only the first %d bytes parsed",
			   DISCOVERY_MAX_PARSE);
	}
	if (len == 0) {
		stats_note(stats, true, "empty message");
		return 0;
	}
	if ((ex = malloc(sizeof(*ex))) == NULL)
		return mk_error_set(err, "discovery_extract: out of memory");
	memset(ex, 0, offsetof(extraction, text));
	ex->sink = sink;
	ex->stats = stats;
	text_init(&ex->text, sink, stats);
	pthread_once(&gmime_once, gmime_start);
	extract_message(ex, msg, len);
	if (ex->stopped || ex->text.failed)
		rc = mk_error_set(err, "discovery_extract: the sink's %s callback"
				  " returned %d", ex->stopped ? ex->stopped_by
				  : "text", ex->stopped ? ex->sink_rc
				  : ex->text.sink_rc);
	free(ex);
	return rc;
}
