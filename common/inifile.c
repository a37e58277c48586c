/*
 * inifile.c - INI files with line-exact errors.  See inifile.h.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>

#include <ini.h>

#include "common/inifile.h"

typedef struct ini_state {
	FILE *fp;
	mk_ini_section_fn on_section;
	mk_ini_key_fn on_key;
	void *user;
	int line;		/* the line inih is parsing */
	char *pending;		/* that line, as read (getline) */
	size_t pending_cap;
	size_t pending_len;
	size_t handed;		/* bytes of it given to inih so far */
	int bad_line;		/* first line refused, or 0 */
	char why[MK_INI_WHY];
} ini_state;

static pthread_once_t ini_once = PTHREAD_ONCE_INIT;

/* ini_setup - let inih take lines of any length up to MK_INI_MAX_LINE
 * (Debian's libinih reads these at run time; its default is 200 bytes,
 * too short for a long local_domains list) */
static void
ini_setup(void)
{
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = MK_INI_MAX_LINE + 2;
}

/* refuse_line - remember the first line that is refused outright */
static void
refuse_line(ini_state *st, const char *why)
{
	if (st->bad_line == 0) {
		st->bad_line = st->line;
		snprintf(st->why, sizeof(st->why), "%s", why);
	}
}

/* mk_ini_why - format a handler's reason into out */
int
mk_ini_why(char out[MK_INI_WHY], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, MK_INI_WHY, fmt, ap);
	va_end(ap);
	return -1;
}

/* note_section - pass a "[name]" line to the section handler */
static void
note_section(ini_state *st, const char *text)
{
	char name[MK_INI_WHY], why[MK_INI_WHY] = "";
	const char *end;
	size_t n;

	while (isspace((unsigned char)*text))
		text++;
	if (*text != '[' || (end = strchr(text, ']')) == NULL)
		return;		/* not a section header: inih will say so */
	text++;
	while (text < end && isspace((unsigned char)*text))
		text++;
	n = (size_t)(end - text);
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, text, n);
	name[n] = '\0';
	if (st->on_section != NULL
	    && st->on_section(st->user, name, st->line, why) != 0
	    && st->bad_line == 0) {
		st->bad_line = st->line;
		memcpy(st->why, why, sizeof(why));
	}
}

/* next_line - read the next whole line into st->pending; 0 at the end */
static int
next_line(ini_state *st)
{
	ssize_t n = getline(&st->pending, &st->pending_cap, st->fp);

	if (n <= 0)
		return 0;
	st->line++;
	st->pending_len = (size_t)n;
	st->handed = 0;
	if (strlen(st->pending) != (size_t)n) {
		refuse_line(st, "NUL byte in the line");
		strcpy(st->pending, "\n");	/* keep inih in step */
		st->pending_len = 1;
	} else if (st->pending_len > MK_INI_MAX_LINE) {
		refuse_line(st, "line longer than " MK_INI_MAX_LINE_TEXT " bytes");
		strcpy(st->pending, "\n");
		st->pending_len = 1;
	} else
		note_section(st, st->pending);
	return 1;
}

/* read_line - inih's reader: hand over st->pending, in pieces when inih's
 * buffer is smaller (it then grows the buffer and asks for the rest) */
static char *
read_line(char *buf, int size, void *stream)
{
	ini_state *st = stream;
	size_t n;

	if (size < 2)
		return NULL;
	if (st->handed == st->pending_len && !next_line(st))
		return NULL;
	n = st->pending_len - st->handed;
	if (n > (size_t)size - 1)
		n = (size_t)size - 1;
	memcpy(buf, st->pending + st->handed, n);
	buf[n] = '\0';
	st->handed += n;
	return buf;
}

/* on_key - inih's handler: pass the key on with its line */
static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	ini_state *st = user;
	char why[MK_INI_WHY] = "";

	if (st->on_key(st->user, section, name, value, st->line, why) == 0)
		return 1;
	if (st->bad_line == 0) {
		st->bad_line = st->line;
		memcpy(st->why, why, sizeof(why));
	}
	return 0;
}

/* mk_ini_parse_fp - parse an open stream */
int
mk_ini_parse_fp(FILE *fp, const char *name, mk_ini_section_fn on_section,
		mk_ini_key_fn on_key_fn, void *user, mk_error *err)
{
	ini_state st = { .fp = fp, .on_section = on_section,
			 .on_key = on_key_fn, .user = user };
	int line;

	pthread_once(&ini_once, ini_setup);
	line = ini_parse_stream(read_line, &st, on_key, &st);
	free(st.pending);

	if (line < 0)
		return mk_error_set(err, "%s: out of memory", name);
	if (st.bad_line != 0 && (line == 0 || st.bad_line <= line))
		return mk_error_set(err, "%s:%d: %s", name, st.bad_line, st.why);
	if (line > 0)
		return mk_error_set(err, "%s:%d: syntax error (expected"
				    " \"key = value\" or \"[section]\")",
				    name, line);
	return 0;
}

/* mk_ini_parse - parse the file at path */
int
mk_ini_parse(const char *path, mk_ini_section_fn on_section,
	     mk_ini_key_fn on_key_fn, void *user, mk_error *err)
{
	FILE *fp = fopen(path, "r");
	int rc;

	if (fp == NULL)
		return mk_error_errno(err, "%s: cannot read", path);
	rc = mk_ini_parse_fp(fp, path, on_section, on_key_fn, user, err);
	fclose(fp);
	return rc;
}
