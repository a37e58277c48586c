/*
 * html.c - the text of an HTML part, for the full-text index.
 *
 * NAME
 *	html_feed - HTML in, the words a reader sees out
 *
 * SYNOPSIS
 *	html_init(&h, &text); html_feed(&h, utf8, len)...; html_finish(&h);
 *
 * DESCRIPTION
 *	A small state machine after HTML5's tokenizer, cut down to what an
 *	index needs: tags and their attributes are dropped; the contents
 *	of <script> and <style>, comments, <!DOCTYPE> and <?...?> are
 *	dropped; character references are decoded (&amp; &#233; &#x263a;
 *	and HTML 4's named ones, html_entities.h); block elements (p, div,
 *	br, li, tr, td, h1...) end a line; runs of white space become one
 *	space, &nbsp; included.  A '<' that starts no tag is text ("a < b").
 *
 *	Why not libxml2's HTML parser: this is all an index needs, it is
 *	one pass with constant state (linear time, memory independent of
 *	the document, output capped as it goes), and it adds no library -
 *	and no tree of a hostile 32 MB document - to the indexer.  The cost
 *	is fidelity where it does not matter for search: HTML5's script
 *	escapes ("<!--" inside <script>), foreign content and the 2,000
 *	HTML5-only entity names are not handled; at worst some script
 *	text or an entity's name is indexed.
 *
 *	Input is valid UTF-8 (utf8_fix comes first); the machine only ever
 *	cuts at ASCII bytes, so its output is valid UTF-8 too.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "discovery/html_entities.h"
#include "discovery/internal.h"

/* Where in the markup the machine is. */
enum {
	H_TEXT,			/* text */
	H_TAG_OPEN,		/* after '<' */
	H_TAG_NAME,		/* <name or </name */
	H_ATTRS,		/* after the name, up to '>' */
	H_ATTR_VALUE,		/* inside a quoted attribute value */
	H_MARKUP,		/* after "<!" */
	H_COMMENT,		/* inside <!-- --> */
	H_BOGUS,		/* <!DOCTYPE ...>, <?...>, </ ...>: up to '>' */
	H_RAW,			/* inside <script> or <style> */
	H_ENTITY		/* after '&' */
};

/* What a tag does to the text. */
enum { TAG_INLINE, TAG_BLOCK, TAG_SCRIPT, TAG_STYLE };

/* What white space is owed before the next visible character. */
enum { OWE_NONE, OWE_SPACE, OWE_LINE };

/* Elements after which a reader sees a new line; sorted for bsearch. */
static const char *const block_tags[] = {
	"address", "article", "aside", "blockquote", "body", "br",
	"caption", "center", "dd", "details", "dialog", "dir", "div", "dl",
	"dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
	"h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr",
	"html", "legend", "li", "main", "menu", "nav", "ol", "option", "p",
	"pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
	"thead", "title", "tr", "ul"
};

/* html_init - h at the start of a document */
void
html_init(html_state *h, text_out *t)
{
	memset(h, 0, sizeof(*h));
	h->t = t;
	h->state = H_TEXT;
}

/* is_space - HTML's white space */
static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* is_alpha - an ASCII letter */
static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_alnum - an ASCII letter or digit */
static bool
is_alnum(unsigned char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* lower - ASCII lower case */
static char
lower(unsigned char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* out_flush - hand what h->out holds to the text */
static int
out_flush(html_state *h)
{
	int rc = text_put(h->t, h->out, h->nout);

	h->nout = 0;
	return rc;
}

/* out_bytes - visible text out, after the white space it is owed */
static int
out_bytes(html_state *h, const char *s, size_t n)
{
	if (h->pending != OWE_NONE && h->begun) {
		if (h->nout == sizeof(h->out) && out_flush(h) != 0)
			return -1;
		h->out[h->nout++] = h->pending == OWE_LINE ? '\n' : ' ';
	}
	h->pending = OWE_NONE;
	h->begun = true;
	while (n > 0) {
		size_t room = sizeof(h->out) - h->nout, k = n < room ? n : room;

		memcpy(h->out + h->nout, s, k);
		h->nout += k;
		s += k;
		n -= k;
		if (n > 0 && out_flush(h) != 0)
			return -1;
	}
	return 0;
}

/* owe - white space (OWE_SPACE) or a line break (OWE_LINE) is owed */
static void
owe(html_state *h, int what)
{
	if (what > h->pending)
		h->pending = what;
}

/* out_code - code point c out (white space only owed) */
static int
out_code(html_state *h, unsigned c)
{
	char u[4];

	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
	    || c == 0xa0) {
		owe(h, OWE_SPACE);
		return 0;
	}
	return out_bytes(h, u, utf8_put(c, u));
}

/* entity_cmp - bsearch comparison of a name with an html_entity */
static int
entity_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const html_entity *)elem)->name);
}

/* entity_code - the code point of a named reference, 0 when unknown */
static unsigned
entity_code(const char *name)
{
	const html_entity *e = bsearch(name, html_entities,
				       sizeof(html_entities) / sizeof(html_entities[0]),
				       sizeof(html_entities[0]), entity_cmp);

	return e != NULL ? e->code : 0;
}

/* legacy_code - the few names browsers take without ';', 0 otherwise */
static unsigned
legacy_code(const char *name)
{
	static const char *const legacy[] = {
		"amp", "lt", "gt", "quot", "nbsp", "copy", "reg"
	};
	size_t i;

	for (i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
		if (strcmp(name, legacy[i]) == 0)
			return entity_code(name);
	return 0;
}

/* numeric_code - the code point of "#123" or "#x1F600" as HTML5 maps
 * it: NUL, surrogates and beyond U+10FFFF are U+FFFD, 0x80-0x9F
 * Windows-1252; 0 when there are no digits */
static unsigned
numeric_code(const char *ref)
{
	bool hex = ref[1] == 'x' || ref[1] == 'X';
	const char *p = ref + (hex ? 2 : 1);
	unsigned long v = 0;

	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++) {
		unsigned d = *p <= '9' ? (unsigned)(*p - '0')
				       : (unsigned)(lower((unsigned char)*p) - 'a' + 10);

		v = v * (hex ? 16 : 10) + d;
		if (v > 0x10ffff)
			return 0xfffd;
	}
	if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
		return 0xfffd;
	if (v >= 0x80 && v <= 0x9f)
		return cp1252_char((unsigned char)v);
	return (unsigned)v;
}

/* entity_end - the reference in h->name ends (with ';' when semi): its
 * character out, or what was written when it is none */
static int
entity_end(html_state *h, bool semi)
{
	unsigned c;

	h->name[h->nname] = '\0';
	h->state = H_TEXT;
	if (h->name[0] == '#')
		c = numeric_code(h->name);
	else
		c = semi ? entity_code(h->name) : legacy_code(h->name);
	if (c != 0)
		return out_code(h, c);
	if (out_bytes(h, "&", 1) != 0 || out_bytes(h, h->name, h->nname) != 0)
		return -1;
	return semi ? out_bytes(h, ";", 1) : 0;
}

/* step_entity - one byte of a reference; 1 consumed, 0 to read it again */
static int
step_entity(html_state *h, unsigned char c)
{
	bool numeric = h->nname > 0 && h->name[0] == '#';
	bool hexref = numeric && h->nname > 1 && (h->name[1] | 0x20) == 'x';
	bool fits = h->nname < HTML_ENTITY;

	if (c == ';' && h->nname > 0)
		return entity_end(h, true) != 0 ? -1 : 1;
	if (fits && h->nname == 0 && c == '#') {
		h->name[h->nname++] = '#';
		return 1;
	}
	if (fits && numeric && h->nname == 1 && (c == 'x' || c == 'X')) {
		h->name[h->nname++] = (char)c;
		return 1;
	}
	if (fits && (numeric ? (c >= '0' && c <= '9')
			       || (hexref && is_alnum(c) && lower(c) <= 'f')
			     : is_alnum(c))) {
		h->name[h->nname++] = (char)c;
		return 1;
	}
	return entity_end(h, false) != 0 ? -1 : 0;
}

/* name_cmp - bsearch comparison of a tag name with a block_tags entry */
static int
name_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

/* tag_named - the name is read: what the tag does */
static void
tag_named(html_state *h)
{
	h->name[h->nname < HTML_NAME ? h->nname : HTML_NAME] = '\0';
	h->after_eq = false;
	if (h->nname > HTML_NAME)
		h->tagkind = TAG_INLINE;
	else if (strcmp(h->name, "script") == 0)
		h->tagkind = TAG_SCRIPT;
	else if (strcmp(h->name, "style") == 0)
		h->tagkind = TAG_STYLE;
	else if (bsearch(h->name, block_tags,
			 sizeof(block_tags) / sizeof(block_tags[0]),
			 sizeof(block_tags[0]), name_cmp) != NULL)
		h->tagkind = TAG_BLOCK;
	else
		h->tagkind = TAG_INLINE;
}

/* tag_closed - '>' ends the tag */
static void
tag_closed(html_state *h)
{
	if (h->tagkind == TAG_BLOCK)
		owe(h, OWE_LINE);
	if (!h->endtag && (h->tagkind == TAG_SCRIPT || h->tagkind == TAG_STYLE)) {
		h->state = H_RAW;
		h->rawkind = h->tagkind;
		h->rawmatch = 0;
	} else {
		h->state = H_TEXT;
	}
}

/* step_tag_open - the byte after '<' */
static int
step_tag_open(html_state *h, unsigned char c)
{
	h->nname = 0;
	h->endtag = false;
	if (c == '!') {
		h->state = H_MARKUP;
		h->dashes = 0;
	} else if (c == '/') {
		h->endtag = true;
		h->state = H_TAG_NAME;
	} else if (c == '?') {
		h->state = H_BOGUS;
	} else if (is_alpha(c)) {
		h->name[h->nname++] = lower(c);
		h->state = H_TAG_NAME;
	} else {
		h->state = H_TEXT;		/* "a < b": the '<' is text */
		return out_bytes(h, "<", 1) != 0 ? -1 : 0;
	}
	return 1;
}

/* step_tag_name - a byte of <name or </name */
static int
step_tag_name(html_state *h, unsigned char c)
{
	if (h->nname == 0 && !is_alpha(c)) {	/* "</>" or "</ x>" */
		h->state = c == '>' ? H_TEXT : H_BOGUS;
		return 1;
	}
	if (c == '>' || c == '/' || is_space(c)) {
		tag_named(h);
		if (c == '>')
			tag_closed(h);
		else
			h->state = H_ATTRS;
		return 1;
	}
	if (h->nname < HTML_NAME)
		h->name[h->nname] = lower(c);
	if (h->nname <= HTML_NAME)
		h->nname++;
	return 1;
}

/* step_attrs - a byte between a tag's name and its '>' */
static int
step_attrs(html_state *h, unsigned char c)
{
	if (c == '>')
		tag_closed(h);
	else if (c == '=')
		h->after_eq = true;
	else if ((c == '"' || c == '\'') && h->after_eq) {
		h->quote = (char)c;
		h->state = H_ATTR_VALUE;
	} else if (!is_space(c))
		h->after_eq = false;
	return 1;
}

/* step_markup - after "<!": a comment, or something to skip */
static int
step_markup(html_state *h, unsigned char c)
{
	if (c == '-' && h->dashes == 0) {
		h->dashes = 1;
		return 1;
	}
	if (c == '-') {
		h->state = H_COMMENT;
		h->dashes = 2;		/* so "<!-->" ends at once, as in HTML5 */
		return 1;
	}
	h->state = H_BOGUS;
	return 0;
}

/* step_comment - a byte of a comment */
static int
step_comment(html_state *h, unsigned char c)
{
	if (c == '-')
		h->dashes++;
	else if (c == '>' && h->dashes >= 2)
		h->state = H_TEXT;
	else
		h->dashes = 0;
	return 1;
}

/* step_raw - a byte of <script> or <style>: only its end tag counts */
static int
step_raw(html_state *h, unsigned char c)
{
	const char *end = h->rawkind == TAG_SCRIPT ? "</script" : "</style";
	size_t n = strlen(end);

	if (h->rawmatch == n) {
		h->rawmatch = 0;
		if (c == '>' || c == '/' || is_space(c)) {
			h->endtag = true;
			h->tagkind = h->rawkind;
			h->after_eq = false;
			if (c == '>')
				tag_closed(h);
			else
				h->state = H_ATTRS;
			return 1;
		}
	}
	if (lower(c) == end[h->rawmatch])
		h->rawmatch++;
	else
		h->rawmatch = c == '<' ? 1 : 0;
	return 1;
}

/* step_text - text up to the next '<', '&' or white space; the bytes
 * consumed */
static int
step_text(html_state *h, const unsigned char *s, size_t n)
{
	size_t i = 0;

	if (s[0] == '<') {
		h->state = H_TAG_OPEN;
		return 1;
	}
	if (s[0] == '&') {
		h->state = H_ENTITY;
		h->nname = 0;
		return 1;
	}
	if (is_space(s[0])) {
		owe(h, OWE_SPACE);
		return 1;
	}
	while (i < n && s[i] != '<' && s[i] != '&' && !is_space(s[i]))
		i++;
	return out_bytes(h, (const char *)s, i) != 0 ? -1 : (int)i;
}

/* step - what s[0] (and maybe more of s) does in the current state; the
 * bytes consumed (0: read s[0] again in the new state), -1 on stop */
static int
step(html_state *h, const unsigned char *s, size_t n)
{
	switch (h->state) {
	case H_TEXT:
		return step_text(h, s, n);
	case H_TAG_OPEN:
		return step_tag_open(h, s[0]);
	case H_TAG_NAME:
		return step_tag_name(h, s[0]);
	case H_ATTRS:
		return step_attrs(h, s[0]);
	case H_ATTR_VALUE:
		if (s[0] == (unsigned char)h->quote) {
			h->state = H_ATTRS;
			h->after_eq = false;
		}
		return 1;
	case H_MARKUP:
		return step_markup(h, s[0]);
	case H_COMMENT:
		return step_comment(h, s[0]);
	case H_BOGUS:
		if (s[0] == '>')
			h->state = H_TEXT;
		return 1;
	case H_RAW:
		return step_raw(h, s[0]);
	default:
		return step_entity(h, s[0]);
	}
}

/* html_feed - more of the document */
int
html_feed(void *ctx, const char *utf8, size_t len)
{
	html_state *h = ctx;
	const unsigned char *s = (const unsigned char *)utf8;
	int k;

	while (len > 0) {
		k = step(h, s, len);
		if (k < 0)
			return -1;
		s += k;
		len -= (size_t)k;
	}
	return 0;
}

/* html_finish - the end of the document */
int
html_finish(html_state *h)
{
	int rc = 0;

	if (h->state == H_ENTITY && h->nname > 0)
		rc = entity_end(h, false);
	else if (h->state == H_ENTITY)
		rc = out_bytes(h, "&", 1);
	else if (h->state == H_TAG_OPEN)
		rc = out_bytes(h, "<", 1);
	h->state = H_TEXT;
	return rc != 0 ? -1 : out_flush(h);
}

/* ci_at - whether s[0..n) begins with lit (lower case), any case */
static bool
ci_at(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; lit[i] != '\0'; i++)
		if (i >= n || lower((unsigned char)s[i]) != lit[i])
			return false;
	return true;
}

/* meta_charset - the charset named inside one <meta ...> tag, s[0..n) */
static bool
meta_charset(const char *s, size_t n, char *cs, size_t size)
{
	size_t i = 0, k = 0;

	while (i < n && !ci_at(s + i, n - i, "charset"))
		i++;
	if (i >= n)
		return false;
	for (i += 7; i < n && is_space((unsigned char)s[i]); i++)
		;
	if (i >= n || s[i] != '=')
		return false;
	for (i++; i < n && (is_space((unsigned char)s[i]) || s[i] == '"'
			    || s[i] == '\''); i++)
		;
	while (i < n && k + 1 < size && (is_alnum((unsigned char)s[i])
					 || strchr("-_.:", s[i]) != NULL))
		cs[k++] = s[i++];
	cs[k] = '\0';
	return k > 0;
}

/* html_sniff_charset - the charset a <meta> in the first 1024 bytes names */
bool
html_sniff_charset(const char *doc, size_t len, char *cs, size_t size)
{
	size_t i, end;

	if (len > 1024)
		len = 1024;
	for (i = 0; i + 5 <= len; i++) {
		if (!ci_at(doc + i, len - i, "<meta"))
			continue;
		for (end = i + 5; end < len && doc[end] != '>'; end++)
			;
		if (meta_charset(doc + i + 5, end - i - 5, cs, size))
			return true;
		i = end;
	}
	return false;
}
