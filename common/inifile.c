/*
 * inifile.c - INI files with line-exact errors.  See inifile.h.
 */
#include "config.h"

#include <ctype.h>
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
	int at_line_start;	/* the last chunk read ended a line */
	int bad_line;		/* first line a handler rejected, or 0 */
	char why[MK_INI_WHY];
} ini_state;

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

/* read_line - inih's reader: count lines, spot section headers */
static char *
read_line(char *buf, int size, void *stream)
{
	ini_state *st = stream;
	char *got = fgets(buf, size, st->fp);

	if (got == NULL)
		return NULL;
	if (st->line == 0 || st->at_line_start) {
		st->line++;
		note_section(st, buf);
	}
	st->at_line_start = strchr(buf, '\n') != NULL;
	return got;
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
	int line = ini_parse_stream(read_line, &st, on_key, &st);

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
