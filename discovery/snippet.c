/*
 * snippet.c - a few words around a match, for a search's results.
 *
 * NAME
 *	snippet - where the words of a full-text search occur in a message
 *
 * DESCRIPTION
 *	The full-text index keeps no text (fulltext.c), so a snippet is cut
 *	from the message itself: its content is read again (archive_read(),
 *	at most DISCOVERY_MAX_PARSE bytes), its text extracted (extract.c),
 *	and the first place where one of the query's full-text words
 *	occurs, compared without regard to case, is given with
 *	DISCOVERY_SNIPPET_CONTEXT characters on each side, the word between
 *	[[ and ]], white space folded to single spaces.  Only the first DISCOVERY_SNIPPETS
 *	results of a search get one: it costs a read and a parse each.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "discovery/discovery.h"

/* What the snippet's extraction keeps: the message's text. */
typedef struct text_buf {
	GString *text;
} text_buf;

static int
keep_header(discovery_header which, const char *value, void *ctx)
{
	(void)which; (void)value; (void)ctx;
	return 0;
}

static int
keep_text(const char *utf8, size_t len, void *ctx)
{
	text_buf *t = ctx;

	g_string_append_len(t->text, utf8, (gssize)len);
	g_string_append_c(t->text, ' ');
	return 0;
}

static int
keep_attachment(const char *filename, const char *type, void *ctx)
{
	(void)filename; (void)type; (void)ctx;
	return 0;
}

/* keep_bytes - archive_read sink: the first DISCOVERY_MAX_PARSE bytes */
static int
keep_bytes(const void *buf, size_t len, void *ctx)
{
	GByteArray *b = ctx;

	if (b->len < DISCOVERY_MAX_PARSE)
		g_byte_array_append(b, buf, (guint)MIN(len,
				    DISCOVERY_MAX_PARSE - b->len));
	return 0;
}

/* message_text - the extracted text of msg; g_string_free() it */
static GString *
message_text(archive *ar, const archive_message *msg)
{
	GByteArray *bytes = g_byte_array_new();
	text_buf t = { g_string_new("") };
	discovery_sink sink = { keep_header, keep_text, keep_attachment, &t };
	discovery_stats st;
	mk_error err;

	if (archive_read(ar, msg->id, keep_bytes, bytes, &err) == 0)
		(void)discovery_extract(bytes->data, bytes->len, &sink, &st, &err);
	g_byte_array_unref(bytes);
	return t.text;
}

/* find_word - the byte offset of word in text, case folded, or -1; the
 * match's length in *len (the folded forms may differ in bytes: then
 * none is given) */
static gssize
find_word(const char *text, const char *word, size_t *len)
{
	gchar *ft = g_utf8_strdown(text, -1), *fw = g_utf8_strdown(word, -1);
	const char *hit = strlen(ft) == strlen(text) ? strstr(ft, fw) : NULL;
	gssize at = hit ? hit - ft : -1;

	*len = strlen(fw);
	g_free(ft);
	g_free(fw);
	return at;
}

/* fold_space - s with every run of white space one space, none at the
 * ends; in place, returned */
static char *
fold_space(char *s)
{
	char *r = s, *w = s;
	bool space = true;	/* drops leading space */

	for (; *r; r++) {
		if (g_ascii_isspace(*r)) {
			if (!space)
				*w++ = ' ';
			space = true;
		} else {
			*w++ = *r;
			space = false;
		}
	}
	if (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
	return s;
}

/* cut - CONTEXT characters around text[at..at+len), word marked */
static char *
cut(const char *text, gssize at, size_t len)
{
	const char *start = text + at, *end = text + at + len;
	GString *out = g_string_new("");
	int i;

	for (i = 0; i < DISCOVERY_SNIPPET_CONTEXT && start > text; i++)
		start = g_utf8_prev_char(start);
	for (i = 0; i < DISCOVERY_SNIPPET_CONTEXT && *end; i++)
		end = g_utf8_next_char(end);
	if (start > text)
		g_string_append(out, "...");
	g_string_append_len(out, start, text + at - start);
	g_string_append(out, "[[");
	g_string_append_len(out, text + at, (gssize)len);
	g_string_append(out, "]]");
	g_string_append_len(out, text + at + len, end - (text + at + len));
	if (*end)
		g_string_append(out, "...");
	return fold_space(g_string_free(out, FALSE));
}

/* discovery_snippet - a few words around the first full-text match */
char *
discovery_snippet(archive *ar, const archive_message *msg,
		  const discovery_query *q)
{
	GString *text;
	char *snippet = NULL, *out;
	size_t i, len;
	gssize at;

	if (msg->content != ARCHIVE_FULL)
		return NULL;
	text = message_text(ar, msg);
	for (i = 0; i < q->n && snippet == NULL; i++) {
		const discovery_term *t = &q->terms[i];

		if (t->field != DQ_TEXT || t->negated || t->value == NULL)
			continue;
		if ((at = find_word(text->str, t->value, &len)) >= 0)
			snippet = cut(text->str, at, len);
	}
	g_string_free(text, TRUE);
	if (snippet == NULL)
		return NULL;
	out = strdup(snippet);	/* the caller frees with free() */
	g_free(snippet);
	return out;
}
