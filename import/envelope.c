/*
 * envelope.c - the envelope a message's headers imply.
 *
 * NAME
 *	envelope - derive sender, recipients and received time from headers
 *
 * DESCRIPTION
 *	Mail imported from an mbox or a Maildir never met the milter, so no
 *	MTA said who sent it to whom.  What the headers say is the next
 *	best thing, and it is recorded as derived (import.h, "Derived
 *	envelope", states the rules).  The header block is split into fields
 *	here, byte by byte, so that garbage lines, NUL bytes and 8-bit bytes
 *	are handled the same predictable way the fuzzer checks; addresses
 *	and dates are GMime's (InternetAddressList, the RFC 5322 date
 *	parser).
 *
 *	Only the fields that matter are kept, each as a pointer into the
 *	header block: a block of IMPORT_MAX_HEADER bytes of "To: x" lines
 *	costs a GMime parse a line and a hash table of IMPORT_MAX_RCPTS
 *	addresses, not an array of every field.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "import/import.h"

/* One header field: name and raw value (continuation lines included). */
typedef struct field {
	const char *name, *value;
	size_t name_len, value_len;
} field;

/* A list of addresses without duplicates, in the order first seen. */
typedef struct addrs {
	GPtrArray *list;		/* char * (g_strdup) */
	GHashTable *seen;		/* lower-cased copies */
	bool cut;			/* IMPORT_MAX_RCPTS reached */
} addrs;

/* What the derivation gathers from the fields. */
typedef struct gather {
	field return_path, from, message_id, subject, date, received;
	addrs delivered;		/* Delivered-To, X-Original-To */
	addrs visible;			/* To, Cc, Bcc */
} gather;

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

/* gmime_start - GMime's one-time initialisation */
static void
gmime_start(void)
{
	g_mime_init();
}

/* addrs_init - an empty list */
static void
addrs_init(addrs *a)
{
	a->list = g_ptr_array_new_with_free_func(g_free);
	a->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	a->cut = false;
}

/* addrs_free - release a list */
static void
addrs_free(addrs *a)
{
	g_ptr_array_unref(a->list);
	g_hash_table_unref(a->seen);
}

/* addrs_add - addr at the end of a unless seen (case-insensitively) */
static void
addrs_add(addrs *a, const char *addr)
{
	char *key;

	if (addr == NULL || *addr == '\0')
		return;
	key = g_ascii_strdown(addr, -1);
	if (g_hash_table_contains(a->seen, key)) {
		g_free(key);
		return;
	}
	if (a->list->len >= IMPORT_MAX_RCPTS) {
		a->cut = true;
		g_free(key);
		return;
	}
	g_hash_table_add(a->seen, key);
	g_ptr_array_add(a->list, g_strdup(addr));
}

/* addrs_from_list - every mailbox of list into a, groups flattened */
static void
addrs_from_list(addrs *a, InternetAddressList *list)
{
	int i, n = list ? internet_address_list_length(list) : 0;

	for (i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_GROUP(ia))
			addrs_from_list(a, internet_address_group_get_members(
					    INTERNET_ADDRESS_GROUP(ia)));
		else if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			addrs_add(a, internet_address_mailbox_get_addr(
					  INTERNET_ADDRESS_MAILBOX(ia)));
	}
}

/* value_copy - a field's value: leading blanks and the last line end
 * removed, cut at a NUL byte (caller frees); NULL for no field */
static char *
value_copy(const field *f)
{
	const char *v = f->value;
	size_t n = f->value_len;

	if (v == NULL)
		return NULL;
	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	if (n > 0 && v[n - 1] == '\n')
		n--;
	if (n > 0 && v[n - 1] == '\r')
		n--;
	return strndup(v, n);
}

/* addrs_parse - the addresses of a field's value into a */
static void
addrs_parse(addrs *a, const field *f)
{
	char *v = value_copy(f);
	InternetAddressList *list;

	if (v == NULL)
		return;
	list = internet_address_list_parse(NULL, v);
	addrs_from_list(a, list);
	if (list != NULL)
		g_object_unref(list);
	free(v);
}

/* is_named - is f's name this (case-insensitively)? */
static bool
is_named(const field *f, const char *name)
{
	return f->name_len == strlen(name)
	    && strncasecmp(f->name, name, f->name_len) == 0;
}

/* keep_first - *slot = f unless already set */
static void
keep_first(field *slot, const field *f)
{
	if (slot->value == NULL)
		*slot = *f;
}

/* take - one complete field into g */
static void
take(gather *g, const field *f)
{
	if (is_named(f, "Return-Path"))
		keep_first(&g->return_path, f);
	else if (is_named(f, "From"))
		keep_first(&g->from, f);
	else if (is_named(f, "Message-ID"))
		keep_first(&g->message_id, f);
	else if (is_named(f, "Subject"))
		keep_first(&g->subject, f);
	else if (is_named(f, "Date"))
		keep_first(&g->date, f);
	else if (is_named(f, "Received"))
		keep_first(&g->received, f);
	else if (is_named(f, "Delivered-To") || is_named(f, "X-Original-To"))
		addrs_parse(&g->delivered, f);
	else if (is_named(f, "To") || is_named(f, "Cc") || is_named(f, "Bcc"))
		addrs_parse(&g->visible, f);
}

/* field_start - does the line at p (n bytes) start a field?  Then f's
 * name and value are set */
static bool
field_start(const char *p, size_t n, field *f)
{
	size_t i = 0, name_len;

	while (i < n && (unsigned char)p[i] > 32 && (unsigned char)p[i] < 127
	       && p[i] != ':')
		i++;
	name_len = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (name_len == 0 || i == n || p[i] != ':')
		return false;
	f->name = p;
	f->name_len = name_len;
	f->value = p + i + 1;
	f->value_len = n - i - 1;
	return true;
}

/* split_fields - every field of the header block into g; a first "From "
 * line is left to the caller */
static void
split_fields(gather *g, const char *hdr, size_t len)
{
	const char *p = hdr, *end = hdr + len, *nl;
	field cur = { 0 };
	size_t n;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if ((n == 1 && *p == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n'))
			break;
		if ((*p == ' ' || *p == '\t') && cur.name != NULL) {
			cur.value_len += n;
		} else {
			if (cur.name != NULL)
				take(g, &cur);
			if (!field_start(p, n, &cur))
				cur.name = NULL;
		}
		p += n;
	}
	if (cur.name != NULL)
		take(g, &cur);
}

/* angle_addr - a Return-Path value without <>: "" for "<>" (caller
 * frees) */
static char *
angle_addr(const field *f)
{
	char *v = value_copy(f), *lt, *gt;

	if (v == NULL || (lt = strchr(v, '<')) == NULL)
		return v != NULL ? g_strstrip(v) : NULL;
	if ((gt = strchr(lt + 1, '>')) != NULL)
		*gt = '\0';
	memmove(v, lt + 1, strlen(lt + 1) + 1);
	return g_strstrip(v);
}

/* first_mailbox - the first address of a From: value (caller frees) */
static char *
first_mailbox(const field *f)
{
	addrs a;
	char *addr;

	addrs_init(&a);
	addrs_parse(&a, f);
	addr = a.list->len > 0 ? strdup(g_ptr_array_index(a.list, 0)) : NULL;
	addrs_free(&a);
	return addr;
}

/* header_date - the date of text as microseconds since the epoch, when
 * GMime reads it and it is not before 1970 */
static bool
header_date(const char *text, int64_t *when)
{
	GDateTime *dt;
	gint64 secs;

	if (text == NULL || (dt = g_mime_utils_header_decode_date(text)) == NULL)
		return false;
	secs = g_date_time_to_unix(dt);
	*when = secs * 1000000 + g_date_time_get_microsecond(dt);
	g_date_time_unref(dt);
	return secs >= 0;
}

/* received_date - the date after the last ';' of a Received: field */
static bool
received_date(const field *f, int64_t *when)
{
	char *v = value_copy(f), *semi;
	bool ok;

	if (v == NULL || (semi = strrchr(v, ';')) == NULL) {
		free(v);
		return false;
	}
	ok = header_date(semi + 1, when);
	free(v);
	return ok;
}

/* received_at - when the message arrived, and how that is known */
static void
received_at(import_envelope *env, const gather *g, bool has_from_date,
	    int64_t from_date, int64_t mtime)
{
	char *date = value_copy(&g->date);

	if (g->received.value != NULL && received_date(&g->received,
						       &env->received_at))
		env->received_from = IMPORT_TIME_RECEIVED;
	else if (header_date(date, &env->received_at))
		env->received_from = IMPORT_TIME_DATE;
	else if (has_from_date) {
		env->received_at = from_date;
		env->received_from = IMPORT_TIME_FROM_LINE;
	} else {
		env->received_at = mtime;
		env->received_from = IMPORT_TIME_MTIME;
	}
	free(date);
}

/* sender - the mail_from of the rules (caller frees), or NULL */
static char *
sender(const gather *g, const char *from_sender)
{
	if (g->return_path.value != NULL)
		return angle_addr(&g->return_path);
	if (from_sender != NULL && *from_sender != '\0'
	    && strcasecmp(from_sender, "MAILER-DAEMON") != 0)
		return strdup(from_sender);
	return first_mailbox(&g->from);
}

/* rcpts - the recipients of the rules into env; -1 when out of memory */
static int
rcpts(import_envelope *env, const gather *g)
{
	const addrs *a = g->delivered.list->len > 0 ? &g->delivered
			 : &g->visible;
	size_t i;

	if (a->cut)
		env->notes |= IMPORT_NOTE_RCPTS_CUT;
	if (a->list->len == 0)
		return 0;
	if ((env->rcpts = calloc(a->list->len, sizeof(char *))) == NULL)
		return -1;
	for (i = 0; i < a->list->len; i++, env->n_rcpts++)
		if ((env->rcpts[i] = strdup(g_ptr_array_index(a->list, i))) == NULL)
			return -1;
	return 0;
}

/* from_line - a first "From " line of hdr: its length, sender and date */
static size_t
from_line(const char *hdr, size_t len, char **sender, bool *has_date,
	  int64_t *when)
{
	const char *nl;
	size_t n;

	if (len < 5 || memcmp(hdr, "From ", 5) != 0)
		return 0;
	nl = memchr(hdr, '\n', len);
	n = nl ? (size_t)(nl - hdr) + 1 : len;
	if (sender != NULL && *has_date == false && n <= IMPORT_MAX_FROM_LINE)
		*has_date = import_from_line_parse(hdr, n, sender, when);
	return n;
}

/* import_envelope_derive - the envelope of a header block */
import_envelope *
import_envelope_derive(const char *hdr, size_t len, const char *from_sender,
		       bool has_from_date, int64_t from_date, int64_t mtime)
{
	import_envelope *env = calloc(1, sizeof(*env));
	char *line_sender = NULL;
	gather g = { 0 };
	size_t skip;
	int rc = 0;

	if (env == NULL)
		return NULL;
	pthread_once(&gmime_once, gmime_start);
	skip = from_line(hdr, len, from_sender ? NULL : &line_sender,
			 &has_from_date, &from_date);
	addrs_init(&g.delivered);
	addrs_init(&g.visible);
	split_fields(&g, hdr + skip, len - skip);
	env->derived = true;
	received_at(env, &g, has_from_date, from_date, mtime);
	env->mail_from = sender(&g, from_sender ? from_sender : line_sender);
	env->message_id = value_copy(&g.message_id);
	env->subject = value_copy(&g.subject);
	env->date = value_copy(&g.date);
	rc = rcpts(env, &g);
	addrs_free(&g.delivered);
	addrs_free(&g.visible);
	free(line_sender);
	if (rc != 0) {
		import_envelope_free(env);
		return NULL;
	}
	return env;
}

/* import_envelope_free - free env and its strings */
void
import_envelope_free(import_envelope *env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; i < env->n_rcpts; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	free(env->mail_from);
	free(env->message_id);
	free(env->subject);
	free(env->date);
	free(env);
}

/* import_note_text - a note bit as a few words */
const char *
import_note_text(unsigned note)
{
	switch (note) {
	case IMPORT_NOTE_NO_NEWLINE: return "the last line has no line end";
	case IMPORT_NOTE_HEADER_CUT: return "header block over 1 MiB:"
		" envelope from its first 1 MiB";
	case IMPORT_NOTE_NO_BODY: return "no blank line after the headers";
	case IMPORT_NOTE_RCPTS_CUT: return "more recipients than the envelope"
		" keeps";
	case IMPORT_NOTE_NUL: return "NUL bytes";
	case IMPORT_NOTE_BARE_CR: return "a CR not followed by LF";
	case IMPORT_NOTE_TRUNCATED: return "truncated: the mbox ends inside"
		" a line";
	default: return NULL;
	}
}

/* import_kind_name - "mbox", "maildir", "eml" */
const char *
import_kind_name(import_kind kind)
{
	return kind == IMPORT_MBOX ? "mbox" : kind == IMPORT_MAILDIR
	       ? "maildir" : "eml";
}
