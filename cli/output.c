/*
 * output.c - archived messages as JSON and as text for a terminal.
 *
 * NAME
 *	output - formatting for the mailkeep command
 *
 * SYNOPSIS
 *	#include "cli/cli.h"
 *
 * DESCRIPTION
 *	Everything mailkeep prints about a message goes through here, so
 *	that search and show agree on names and formats:
 *
 *	  - time stamps: RFC 3339 in UTC with microseconds for JSON
 *	    (cli_format_time), seconds for people;
 *	  - retention ends (cli_retention_json/text): the UTC midnight from
 *	    which a message may be expired, null or "indefinitely" for 0;
 *	  - JSON: one object a message with fixed keys (cli_message_json),
 *	    a streamed array for search (cli_json_begin/put/end); the
 *	    stored policy decision is passed through as the "policy" object;
 *	  - text: aligned columns for search, "key: value" lines for show.
 *	    A message kept as metadata only has no Subject: its column says
 *	    "(metadata only)".
 *
 *	Header values are stored as the MTA passed them, so they may hold
 *	bytes that are not UTF-8 (8-bit headers) or control characters.
 *	JSON needs UTF-8: an invalid byte becomes U+FFFD there.  A terminal
 *	must not receive escape sequences from a stranger's Subject: on
 *	text output, folded lines are unfolded, a tab becomes a space, and
 *	every other control character or invalid byte prints as '?'.  The
 *	exact bytes are always available through "mailkeep get".
 *
 * DIAGNOSTICS
 *	Writers return -1 when the stream fails (errno is left as the
 *	failed write set it) or memory runs out.  Nothing here prints to
 *	stderr.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/timeparse.h"

#define USEC_PER_SEC	INT64_C(1000000)
#define SEC_PER_DAY	INT64_C(86400)

/* Column widths of the search listing, in characters. */
#define COL_RECEIVED	19
#define COL_FROM	32
#define COL_TO		36

/* The JSON replacement character for a byte that is not UTF-8. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/* cli_format_time - microseconds since the epoch as UTC text in buf */
void
cli_format_time(int64_t usec, cli_time_style style, char *buf, size_t size)
{
	mk_time_parts t;

	mk_time_split(usec, &t);
	if (style == CLI_TIME_DATE)
		snprintf(buf, size, "%04" PRId64 "-%02u-%02u", t.year, t.month,
			 t.day);
	else if (style == CLI_TIME_HUMAN)
		snprintf(buf, size, "%04" PRId64 "-%02u-%02u %02u:%02u:%02u",
			 t.year, t.month, t.day, t.hour, t.minute, t.second);
	else
		snprintf(buf, size,
			 "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%06" PRId64 "Z",
			 t.year, t.month, t.day, t.hour, t.minute, t.second,
			 t.usec);
}

/* utf8_next - length of the valid UTF-8 character at s, 0 if invalid */
static size_t
utf8_next(const unsigned char *s, uint32_t *cp)
{
	size_t len, i;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* utf8_fix - copy of s with invalid bytes as U+FFFD; caller frees */
static char *
utf8_fix(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(strlen(s) * 3 + 1);
	size_t o = 0, n;
	uint32_t cp;

	if (out == NULL)
		return NULL;
	while (*p != '\0') {
		if ((n = utf8_next(p, &cp)) == 0) {
			memcpy(out + o, UTF8_REPLACEMENT, 3);
			o += 3;
			p++;
		} else {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		}
	}
	out[o] = '\0';
	return out;
}

/* json_text - s as a JSON string (null when s is NULL); new reference */
static json_t *
json_text(const char *s)
{
	json_t *j;
	char *fixed;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	if ((fixed = utf8_fix(s)) == NULL)	/* json_string: not UTF-8 */
		return NULL;
	j = json_string(fixed);
	free(fixed);
	return j;
}

/* json_put - add value under key, taking the reference; -1 on failure */
static int
json_put(json_t *obj, const char *key, json_t *value)
{
	if (value == NULL)
		return -1;
	return json_object_set_new(obj, key, value);
}

/* cli_retention_json - RFC 3339 text of retain_until, or null for 0 */
json_t *
cli_retention_json(int64_t retain_until)
{
	char when[CLI_TIME_MAX];

	if (retain_until == 0)
		return json_null();
	cli_format_time(retain_until * USEC_PER_SEC, CLI_TIME_RFC3339, when,
			sizeof(when));
	return json_string(when);
}

/* cli_retention_text - retain_until for people, in buf */
void
cli_retention_text(int64_t retain_until, char *buf, size_t size)
{
	char when[CLI_TIME_MAX], last[CLI_TIME_MAX];

	if (retain_until == 0) {
		snprintf(buf, size, "indefinitely");
		return;
	}
	cli_format_time(retain_until * USEC_PER_SEC, CLI_TIME_RFC3339, when,
			sizeof(when));
	cli_format_time((retain_until - SEC_PER_DAY) * USEC_PER_SEC,
			CLI_TIME_DATE, last, sizeof(last));
	snprintf(buf, size, "%s (kept through %s)", when, last);
}

/* strings_json - n strings as a new JSON array */
static json_t *
strings_json(char *const *strs, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		json_t *r = json_text(strs[i]);

		if (r == NULL || json_array_append_new(arr, r) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* policy_json - the stored decision (JSON text) as a new JSON value:
 * the object, or null when none was stored or it does not parse */
static json_t *
policy_json(const archive_message *msg)
{
	json_t *obj;

	if (msg->policy_json == NULL)
		return json_null();
	obj = json_loads(msg->policy_json, 0, NULL);
	return obj != NULL ? obj : json_null();
}

/* content_name - "full" or "metadata" */
static const char *
content_name(const archive_message *msg)
{
	return msg->content == ARCHIVE_METADATA ? "metadata" : "full";
}

/* cli_message_json - msg as a new JSON object (caller owns it) */
json_t *
cli_message_json(const archive_message *msg)
{
	char when[CLI_TIME_MAX];
	json_t *obj = json_object();
	int bad = 0;

	if (obj == NULL)
		return NULL;
	cli_format_time(msg->received_at, CLI_TIME_RFC3339, when, sizeof(when));
	bad |= json_put(obj, "id", json_text(msg->id));
	bad |= json_put(obj, "queue_id", json_text(msg->queue_id));
	bad |= json_put(obj, "message_id", json_text(msg->message_id));
	bad |= json_put(obj, "from", json_text(msg->mail_from));
	bad |= json_put(obj, "to", strings_json(msg->rcpts, msg->n_rcpts));
	bad |= json_put(obj, "received_at", json_string(when));
	bad |= json_put(obj, "size", json_integer(msg->size));
	bad |= json_put(obj, "sha256",
			json_text(msg->sha256[0] ? msg->sha256 : NULL));
	bad |= json_put(obj, "client_addr", json_text(msg->client_addr));
	bad |= json_put(obj, "client_name", json_text(msg->client_name));
	bad |= json_put(obj, "helo", json_text(msg->helo));
	bad |= json_put(obj, "auth_user", json_text(msg->auth_user));
	bad |= json_put(obj, "tls_version", json_text(msg->tls_version));
	bad |= json_put(obj, "subject", json_text(msg->subject));
	bad |= json_put(obj, "date", json_text(msg->date));
	bad |= json_put(obj, "content", json_string(content_name(msg)));
	bad |= json_put(obj, "retain_until",
			cli_retention_json(msg->retain_until));
	bad |= json_put(obj, "roles", strings_json(msg->roles, msg->n_roles));
	bad |= json_put(obj, "policy", policy_json(msg));
	if (msg->origin != NULL)
		bad |= json_put(obj, "origin", json_text(msg->origin));
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* cli_json_begin - open the array */
int
cli_json_begin(cli_json_stream *js, FILE *fp)
{
	js->fp = fp;
	js->count = 0;
	return fputc('[', fp) == EOF ? -1 : 0;
}

/* cli_json_put_object - write one element, on a line of its own */
int
cli_json_put_object(cli_json_stream *js, json_t *obj)
{
	int rc = fputs(js->count ? ",\n" : "\n", js->fp) == EOF ? -1 : 0;

	if (rc == 0)
		rc = json_dumpf(obj, js->fp, JSON_PRESERVE_ORDER);
	if (rc == 0)
		js->count++;
	return rc;
}

/* cli_json_put - write one message, on a line of its own */
int
cli_json_put(cli_json_stream *js, const archive_message *msg)
{
	json_t *obj = cli_message_json(msg);
	int rc;

	if (obj == NULL)
		return -1;
	rc = cli_json_put_object(js, obj);
	json_decref(obj);
	return rc;
}

/* cli_json_end - close the array */
int
cli_json_end(cli_json_stream *js)
{
	return fputs(js->count ? "\n]\n" : "]\n", js->fp) == EOF ? -1 : 0;
}

/* cli_show_json - one message as an indented JSON object */
int
cli_show_json(FILE *fp, const archive_message *msg)
{
	json_t *obj = cli_message_json(msg);
	int rc;

	if (obj == NULL)
		return -1;
	rc = json_dumpf(obj, fp, JSON_INDENT(2));
	json_decref(obj);
	if (rc == 0 && fputc('\n', fp) == EOF)
		rc = -1;
	return rc;
}

/*
 * next_unit - the next character of s as a terminal should see it.
 * Advances *s; writes 1-4 bytes to out and returns their count, or 0 at
 * the end.  CR and LF vanish (header unfolding), a tab is a space, other
 * control characters (C0, DEL, C1) and invalid bytes are '?'.
 */
static size_t
next_unit(const char **s, char out[4])
{
	const unsigned char *p;
	uint32_t cp;
	size_t n;

	for (;;) {
		p = (const unsigned char *)*s;
		if (*p == '\0')
			return 0;
		if (*p != '\r' && *p != '\n')
			break;
		(*s)++;
	}
	if ((n = utf8_next(p, &cp)) == 0) {
		(*s)++;
		out[0] = '?';
		return 1;
	}
	*s += n;
	if (cp == '\t')
		cp = ' ';
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
		out[0] = '?';
		return 1;
	}
	if (n == 1)
		out[0] = (char)cp;
	else
		memcpy(out, p, n);
	return n;
}

/* text_width - how many characters next_unit() makes of s */
static size_t
text_width(const char *s)
{
	char unit[4];
	size_t w = 0;

	while (next_unit(&s, unit) > 0)
		w++;
	return w;
}

/* put_units - write at most max characters of s (safely); returns count */
static size_t
put_units(FILE *fp, const char *s, size_t max)
{
	char unit[4];
	size_t n, w = 0;

	while (w < max && (n = next_unit(&s, unit)) > 0) {
		fwrite(unit, 1, n, fp);
		w++;
	}
	return w;
}

/* put_cut - write s safely, cut with "..." past width characters (0: no
 * limit); returns the characters written */
static size_t
put_cut(FILE *fp, const char *s, size_t width)
{
	size_t w;

	if (width == 0)
		return put_units(fp, s, SIZE_MAX);
	if (width > 3 && text_width(s) > width) {
		w = put_units(fp, s, width - 3);
		fputs("...", fp);
		return w + 3;
	}
	return put_units(fp, s, width);
}

/* pad - spaces from column w to column width */
static void
pad(FILE *fp, size_t w, size_t width)
{
	for (; w < width; w++)
		fputc(' ', fp);
}

/* sender_text - the envelope sender for people: "<>" when null, "-" unknown */
static const char *
sender_text(const archive_message *msg)
{
	if (msg->mail_from == NULL)
		return "-";
	return msg->mail_from[0] ? msg->mail_from : "<>";
}

/* put_rcpts_column - first recipient and "(+N)" for the rest, in width */
static void
put_rcpts_column(FILE *fp, const archive_message *msg, size_t width)
{
	char more[32] = "";
	size_t w;

	if (msg->n_rcpts == 0) {
		pad(fp, put_cut(fp, "-", width), width);
		return;
	}
	if (msg->n_rcpts > 1)
		snprintf(more, sizeof(more), " (+%zu)", msg->n_rcpts - 1);
	w = put_cut(fp, msg->rcpts[0], width - strlen(more));
	fputs(more, fp);
	pad(fp, w + strlen(more), width);
}

/* cli_human_header - the column titles above cli_human_line() */
int
cli_human_header(FILE *fp)
{
	fprintf(fp, "%-*s  %-*s  %-*s  %-*s  %s\n",
		ARCHIVE_ID_LEN, "ID", COL_RECEIVED, "RECEIVED (UTC)",
		COL_FROM, "FROM", COL_TO, "TO", "SUBJECT");
	return ferror(fp) ? -1 : 0;
}

/* cli_put_text - s for a terminal (no control characters), padded to
 * width characters (0: as long as it is) */
void
cli_put_text(FILE *fp, const char *s, size_t width)
{
	pad(fp, put_cut(fp, s, width), width);
}

/* cli_human_withheld - a search line for a message withheld by four-eyes */
int
cli_human_withheld(FILE *fp, json_t *stub)
{
	const char *id = json_string_value(json_object_get(stub, "id"));

	fprintf(fp, "%-*s  (withheld: four-eyes; mailkeep request show %s"
		" --reason TEXT)\n", ARCHIVE_ID_LEN, id ? id : "?", id ? id : "ID");
	return ferror(fp) ? -1 : 0;
}

/* cli_human_line - one message as one aligned line for a terminal */
int
cli_human_line(FILE *fp, const archive_message *msg)
{
	char when[CLI_TIME_MAX];

	cli_format_time(msg->received_at, CLI_TIME_HUMAN, when, sizeof(when));
	fprintf(fp, "%-*s  %-*s  ", ARCHIVE_ID_LEN, msg->id, COL_RECEIVED, when);
	pad(fp, put_cut(fp, sender_text(msg), COL_FROM), COL_FROM);
	fputs("  ", fp);
	put_rcpts_column(fp, msg, COL_TO);
	fputs("  ", fp);
	if (msg->content == ARCHIVE_METADATA)
		fputs("(metadata only)", fp);
	else
		put_cut(fp, msg->subject ? msg->subject : "", 0);
	fputc('\n', fp);
	return ferror(fp) ? -1 : 0;
}

/* show_line - "key: value" for show; a missing value leaves "key:" */
static void
show_line(FILE *fp, const char *key, const char *value)
{
	fprintf(fp, "%s:", key);
	if (value != NULL) {
		fprintf(fp, "%*s", (int)(13 - strlen(key)), "");
		put_cut(fp, value, 0);
	}
	fputc('\n', fp);
}

/* show_roles - "roles: a, b" (the key alone when there are none) */
static void
show_roles(FILE *fp, char *const *roles, size_t n)
{
	size_t i;

	fputs("roles:", fp);
	for (i = 0; i < n; i++) {
		fputs(i ? ", " : "        ", fp);
		put_cut(fp, roles[i], 0);
	}
	fputc('\n', fp);
}

/* show_parties - "direction:" and one "party:" line each, from the
 * stored decision (nothing when it is missing or does not parse) */
static void
show_parties(FILE *fp, const archive_message *msg)
{
	json_t *pol = policy_json(msg), *party;
	size_t i;

	show_line(fp, "direction",
		  json_string_value(json_object_get(pol, "direction")));
	json_array_foreach(json_object_get(pol, "parties"), i, party) {
		const char *addr = json_string_value(json_object_get(party,
								     "address"));
		const char *rule = json_string_value(json_object_get(party,
								     "rule"));
		char *line;

		if (asprintf(&line, "%s [%s]", addr ? addr : "-",
			     rule ? rule : "-") < 0)
			continue;
		show_line(fp, "party", line);
		free(line);
	}
	json_decref(pol);
}

/* show_policy - content, retention, roles and parties for show */
static void
show_policy(FILE *fp, const archive_message *msg)
{
	char until[2 * CLI_TIME_MAX + 32];

	cli_retention_text(msg->retain_until, until, sizeof(until));
	show_line(fp, "content", content_name(msg));
	show_line(fp, "retain_until", until);
	show_roles(fp, msg->roles, msg->n_roles);
	show_parties(fp, msg);
}

/* cli_human_show - one message as "key: value" lines */
int
cli_human_show(FILE *fp, const archive_message *msg)
{
	char when[CLI_TIME_MAX], size[32];
	size_t i;

	cli_format_time(msg->received_at, CLI_TIME_RFC3339, when, sizeof(when));
	snprintf(size, sizeof(size), "%" PRId64, msg->size);
	show_line(fp, "id", msg->id);
	show_line(fp, "received_at", when);
	show_line(fp, "size", size);
	show_line(fp, "sha256", msg->sha256[0] ? msg->sha256 : NULL);
	show_line(fp, "queue_id", msg->queue_id);
	show_line(fp, "from", msg->mail_from ? sender_text(msg) : NULL);
	for (i = 0; i < msg->n_rcpts; i++)
		show_line(fp, "to", msg->rcpts[i]);
	show_line(fp, "client_addr", msg->client_addr);
	show_line(fp, "client_name", msg->client_name);
	show_line(fp, "helo", msg->helo);
	show_line(fp, "auth_user", msg->auth_user);
	show_line(fp, "tls_version", msg->tls_version);
	show_line(fp, "message_id", msg->message_id);
	show_line(fp, "date", msg->date);
	show_line(fp, "subject", msg->subject);
	if (msg->origin != NULL)
		show_line(fp, "origin", strcmp(msg->origin, "import") == 0
			  ? "import (envelope derived from the headers)"
			  : msg->origin);
	show_policy(fp, msg);
	return ferror(fp) ? -1 : 0;
}
