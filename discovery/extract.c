/*
 * extract.c - the text of a message, for the full-text index.
 *
 * NAME
 *	extract - MIME in, UTF-8 text out (GMime 3)
 *
 * DESCRIPTION
 *	GMime parses the message from memory and does what MIME asks:
 *	g_mime_message_get_subject() and internet_address_list_to_string()
 *	decode RFC 2047 words, g_mime_part_get_filename() RFC 2231 (and
 *	RFC 2047) file names, a part's data wrapper its content transfer
 *	encoding (base64, quoted-printable, uuencode), and a charset filter
 *	converts the part's charset to UTF-8.  A charset iconv does not know
 *	is read as windows-1252 (the usual truth of mislabelled mail), and
 *	whatever is still not UTF-8 afterwards becomes U+FFFD, so the index
 *	always gets valid UTF-8.
 *
 *	The walk visits multiparts, attached messages (message/rfc822:
 *	their Subject and text count as text) and leaf parts, at most
 *	DISCOVERY_MAX_PARTS parts and DISCOVERY_MAX_DEPTH levels deep.
 *	text/plain goes to the sink as it is, text/html reduced to its text
 *	(html_text(): tags dropped, <script>, <style> and comments with
 *	their contents, character references decoded); any other part, and
 *	any part with a file name, is an attachment.  At most
 *	DISCOVERY_MAX_TEXT bytes of text are given.
 *
 *	GMime is lenient: a missing closing boundary, bad base64 or a part
 *	that never ends give what can be read, which is what is wanted
 *	here; the message itself is archived byte for byte regardless.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "discovery/discovery.h"

/* One extraction in progress. */
typedef struct walk {
	const discovery_sink *sink;
	discovery_stats *st;
	int stopped;			/* the sink said stop */
} walk;

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

/* init_gmime - g_mime_init(), once per process */
static void
init_gmime(void)
{
	g_mime_init();
}

/* note - the first oddity, for the stats */
static void
note(walk *w, const char *what)
{
	if (!w->st->malformed)
		snprintf(w->st->note, sizeof(w->st->note), "%s", what);
	w->st->malformed = true;
}

/* give_text - UTF-8 text to the sink, within DISCOVERY_MAX_TEXT */
static void
give_text(walk *w, const char *text, size_t len)
{
	size_t room = DISCOVERY_MAX_TEXT - w->st->text_bytes;
	gchar *valid;

	if (w->stopped || len == 0)
		return;
	if (len > room) {
		len = room;
		w->st->truncated = true;
	}
	if (len == 0)
		return;
	valid = g_utf8_make_valid(text, (gssize)len);
	w->st->text_bytes += len;
	if (w->sink->text(valid, strlen(valid), w->sink->ctx) != 0)
		w->stopped = 1;
	g_free(valid);
}

/* give_header - one decoded header, valid UTF-8, to the sink */
static void
give_header(walk *w, discovery_header which, const char *value)
{
	gchar *valid;

	if (w->stopped || value == NULL || *value == '\0')
		return;
	valid = g_utf8_make_valid(value, -1);
	if (w->sink->header(which, valid, w->sink->ctx) != 0)
		w->stopped = 1;
	g_free(valid);
}

/* give_addresses - an address list, names decoded */
static void
give_addresses(walk *w, discovery_header which, InternetAddressList *list)
{
	char *text;

	if (list == NULL || internet_address_list_length(list) == 0)
		return;
	text = internet_address_list_to_string(list, NULL, FALSE);
	give_header(w, which, text);
	g_free(text);
}

/* give_headers - the top-level message's headers */
static void
give_headers(walk *w, GMimeMessage *msg)
{
	give_addresses(w, DISCOVERY_HDR_FROM, g_mime_message_get_from(msg));
	give_addresses(w, DISCOVERY_HDR_TO, g_mime_message_get_to(msg));
	give_addresses(w, DISCOVERY_HDR_CC, g_mime_message_get_cc(msg));
	give_header(w, DISCOVERY_HDR_SUBJECT, g_mime_message_get_subject(msg));
	give_header(w, DISCOVERY_HDR_DATE,
		    g_mime_object_get_header(GMIME_OBJECT(msg), "Date"));
	give_header(w, DISCOVERY_HDR_MESSAGE_ID,
		    g_mime_message_get_message_id(msg));
}

/* charset_filter - a filter from the part's charset to UTF-8 (windows-1252
 * for a charset iconv does not know); NULL for us-ascii and UTF-8 */
static GMimeFilter *
charset_filter(GMimeObject *part, walk *w)
{
	const char *cs = g_mime_object_get_content_type_parameter(part, "charset");
	GMimeFilter *f;

	if (cs == NULL || g_ascii_strcasecmp(cs, "utf-8") == 0
	    || g_ascii_strcasecmp(cs, "us-ascii") == 0)
		return NULL;
	if ((f = g_mime_filter_charset_new(cs, "UTF-8")) != NULL)
		return f;
	note(w, "unknown charset, read as windows-1252");
	return g_mime_filter_charset_new("windows-1252", "UTF-8");
}

/* decoded_text - the part's content, transfer encoding undone, in UTF-8;
 * a GByteArray owned by the caller (g_byte_array_unref), NUL-terminated */
static GByteArray *
decoded_text(GMimePart *part, walk *w)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GByteArray *bytes = g_byte_array_new();
	GMimeStream *mem, *filtered;
	GMimeFilter *f;

	if (content == NULL)
		return g_byte_array_append(bytes, (const guint8 *)"", 1);
	mem = g_mime_stream_mem_new_with_byte_array(bytes);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	filtered = g_mime_stream_filter_new(mem);
	if ((f = charset_filter(GMIME_OBJECT(part), w)) != NULL) {
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), f);
		g_object_unref(f);
	}
	if (g_mime_data_wrapper_write_to_stream(content, filtered) < 0)
		note(w, "a part could not be decoded");
	g_mime_stream_flush(filtered);
	g_object_unref(filtered);
	g_object_unref(mem);
	return g_byte_array_append(bytes, (const guint8 *)"", 1);
}

/* The named character references html_text() knows; others stay as
 * written. */
static const struct {
	const char *name;
	gunichar c;
} entities[] = {
	{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
	{"nbsp", ' '}, {"copy", 0xa9}, {"reg", 0xae}, {"euro", 0x20ac},
	{"ndash", 0x2013}, {"mdash", 0x2014}, {"hellip", 0x2026},
	{"laquo", 0xab}, {"raquo", 0xbb}, {"auml", 0xe4}, {"ouml", 0xf6},
	{"uuml", 0xfc}, {"Auml", 0xc4}, {"Ouml", 0xd6}, {"Uuml", 0xdc},
	{"szlig", 0xdf}, {"eacute", 0xe9}, {"egrave", 0xe8}, {"agrave", 0xe0},
	{"aacute", 0xe1}, {"ccedil", 0xe7}, {"ntilde", 0xf1}, {"oacute", 0xf3},
	{"iacute", 0xed}, {"uacute", 0xfa}, {"Eacute", 0xc9},
};

/* find_ci - the offset of needle in s[from..len), case-insensitive, or len */
static size_t
find_ci(const char *s, size_t len, size_t from, const char *needle)
{
	size_t n = strlen(needle);

	for (; from + n <= len; from++)
		if (g_ascii_strncasecmp(s + from, needle, n) == 0)
			return from;
	return len;
}

/* skip_tag - past the tag at s[i] ('<'), and past the contents of a
 * script or style element or a comment; a space for it in out */
static size_t
skip_tag(const char *s, size_t len, size_t i, GString *out)
{
	size_t end;

	g_string_append_c(out, ' ');
	if (len - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
		end = find_ci(s, len, i + 4, "-->");
		return end < len ? end + 3 : len;
	}
	if (g_ascii_strncasecmp(s + i, "<script", 7) == 0
	    || g_ascii_strncasecmp(s + i, "<style", 6) == 0) {
		end = find_ci(s, len, i + 1, s[i + 2] == 'c' || s[i + 2] == 'C'
			      ? "</script" : "</style");
		i = end;
	}
	end = i;
	while (end < len && s[end] != '>')
		end++;
	return end < len ? end + 1 : len;
}

/* entity_char - the character of the reference s[0..n) (without & and
 * ;), or 0 */
static gunichar
entity_char(const char *s, size_t n)
{
	char name[16];
	gunichar c;
	size_t i;

	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, s, n);
	name[n] = '\0';
	if (name[0] == '#') {
		c = (gunichar)strtoul(name + 1 + (name[1] == 'x' || name[1] == 'X'),
				      NULL, name[1] == 'x' || name[1] == 'X' ? 16 : 10);
		return g_unichar_validate(c) && c != 0 ? c : 0;
	}
	for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
		if (strcmp(entities[i].name, name) == 0)
			return entities[i].c;
	return 0;
}

/* take_entity - the reference at s[i] ('&') into out; past it */
static size_t
take_entity(const char *s, size_t len, size_t i, GString *out)
{
	size_t semi = i + 1;
	gunichar c;

	while (semi < len && semi - i < 12 && s[semi] != ';' && s[semi] != '&'
	       && s[semi] != '<' && !g_ascii_isspace(s[semi]))
		semi++;
	if (semi < len && s[semi] == ';'
	    && (c = entity_char(s + i + 1, semi - i - 1)) != 0) {
		g_string_append_unichar(out, c);
		return semi + 1;
	}
	g_string_append_c(out, '&');
	return i + 1;
}

/* html_text - the text of an HTML part to the sink */
static void
html_text(walk *w, const char *s, size_t len)
{
	GString *out = g_string_sized_new(len / 2 + 1);
	size_t i = 0;

	while (i < len) {
		if (s[i] == '<')
			i = skip_tag(s, len, i, out);
		else if (s[i] == '&')
			i = take_entity(s, len, i, out);
		else
			g_string_append_c(out, s[i++]);
	}
	give_text(w, out->str, out->len);
	g_string_free(out, TRUE);
}

/* give_attachment - an attachment's name (an 8-bit name that is not
 * UTF-8 made valid) and type to the sink */
static void
give_attachment(walk *w, const char *name, GMimeContentType *ct)
{
	char *type = g_mime_content_type_get_mime_type(ct);
	gchar *vtype = g_utf8_make_valid(type ? type : "application/octet-stream", -1);
	gchar *vname = name ? g_utf8_make_valid(name, -1) : NULL;

	w->st->attachments++;
	if (!w->stopped && w->sink->attachment(vname, vtype, w->sink->ctx) != 0)
		w->stopped = 1;
	g_free(vname);
	g_free(vtype);
	g_free(type);
}

/* leaf_part - one part that is not a container */
static void
leaf_part(walk *w, GMimePart *part)
{
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	const char *name = g_mime_part_get_filename(part);
	bool plain = g_mime_content_type_is_type(ct, "text", "plain");
	bool html = g_mime_content_type_is_type(ct, "text", "html");
	GByteArray *bytes;

	if (name != NULL || (!plain && !html))
		give_attachment(w, name, ct);
	if ((!plain && !html) || w->stopped)
		return;
	bytes = decoded_text(part, w);
	if (html)
		html_text(w, (const char *)bytes->data, bytes->len - 1);
	else
		give_text(w, (const char *)bytes->data, bytes->len - 1);
	g_byte_array_unref(bytes);
}

static void walk_object(walk *w, GMimeObject *obj, int depth);

/* attached_message - a message/rfc822 part: its Subject and text */
static void
attached_message(walk *w, GMimeMessagePart *mp, int depth)
{
	GMimeMessage *inner = g_mime_message_part_get_message(mp);
	const char *subject;

	if (inner == NULL)
		return;
	if ((subject = g_mime_message_get_subject(inner)) != NULL)
		give_text(w, subject, strlen(subject));
	walk_object(w, g_mime_message_get_mime_part(inner), depth + 1);
}

/* walk_object - one MIME object and what it contains */
static void
walk_object(walk *w, GMimeObject *obj, int depth)
{
	int i, n;

	if (obj == NULL || w->stopped)
		return;
	if (depth > DISCOVERY_MAX_DEPTH || w->st->parts >= DISCOVERY_MAX_PARTS) {
		w->st->truncated = true;
		return;
	}
	w->st->parts++;
	if (GMIME_IS_MULTIPART(obj)) {
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (i = 0; i < n && !w->stopped; i++)
			walk_object(w, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i),
				    depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj))
		attached_message(w, GMIME_MESSAGE_PART(obj), depth);
	else if (GMIME_IS_PART(obj))
		leaf_part(w, GMIME_PART(obj));
}

/* discovery_extract - headers, text and attachment names of a message */
int
discovery_extract(const void *msg, size_t len, const discovery_sink *sink,
		  discovery_stats *stats, mk_error *err)
{
	walk w = { sink, stats, 0 };
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *message;

	memset(stats, 0, sizeof(*stats));
	pthread_once(&gmime_once, init_gmime);
	if (len > DISCOVERY_MAX_PARSE) {
		len = DISCOVERY_MAX_PARSE;
		stats->truncated = true;
	}
	stream = g_mime_stream_mem_new_with_buffer(msg, len);
	parser = g_mime_parser_new_with_stream(stream);
	message = g_mime_parser_construct_message(parser, NULL);
	if (message == NULL)
		note(&w, "not a message GMime could parse");
	else {
		give_headers(&w, message);
		walk_object(&w, g_mime_message_get_mime_part(message), 0);
		g_object_unref(message);
	}
	g_object_unref(parser);
	g_object_unref(stream);
	if (w.stopped)
		return mk_error_set(err, "extraction stopped by its sink");
	return 0;
}
