/*
 * inifile.c - INI files with line-exact errors.  See inifile.h.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
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
	const char *name;	/* the file, for problems */
	mk_ini_problem_fn problem;
	void *problem_ctx;
	int *bad_lines;		/* lines refused, in order */
	size_t n_bad, cap_bad;
	bool oom;
} ini_state;

static pthread_once_t ini_once = PTHREAD_ONCE_INIT;

/* ini_setup - let inih take lines of any length up to MK_INI_MAX_LINE
 * in one buffer (Debian's libinih reads these at run time; its default
 * is 200 bytes, too short for a long local_domains list) */
static void
ini_setup(void)
{
	ini_use_stack = false;
	/* One buffer for the longest line from the start, so that inih's
	 * grow-by-realloc path never runs: under fuzzing (fuzz_policy, CI,
	 * 2026-12-02) ASan found a heap chunk header overwritten by code it
	 * does not instrument, inih or libc; the input did not reproduce it
	 * alone, and this is the part of inih that manages its buffer. */
	ini_allow_realloc = false;
	ini_initial_alloc = MK_INI_MAX_LINE + 2;
	ini_max_line = MK_INI_MAX_LINE + 2;
}

/* refuse - report line as refused, once a line (out of memory: st->oom) */
static void
refuse(ini_state *st, int line, const char *why)
{
	int *grown;

	if (st->n_bad > 0 && st->bad_lines[st->n_bad - 1] == line)
		return;
	if (st->n_bad == st->cap_bad) {
		st->cap_bad = st->cap_bad ? 2 * st->cap_bad : 8;
		if ((grown = realloc(st->bad_lines, st->cap_bad
				     * sizeof(*grown))) == NULL) {
			st->oom = true;
			return;
		}
		st->bad_lines = grown;
	}
	st->bad_lines[st->n_bad++] = line;
	st->problem(st->problem_ctx, st->name, line, why);
}

/* refused - was line reported? */
static bool
refused(const ini_state *st, int line)
{
	size_t i;

	for (i = 0; i < st->n_bad; i++)
		if (st->bad_lines[i] == line)
			return true;
	return false;
}

/* syntax_problem - why a line inih will not take is wrong, or NULL: a
 * line that starts in column 1 must be blank, a comment, a "[section]"
 * or hold "key = value" (an indented one may continue a value) */
static const char *
syntax_problem(const char *text)
{
	const char *p = text;

	if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\0'
	    || *p == ';' || *p == '#')
		return NULL;
	if (*p == '[')
		return strchr(p, ']') != NULL ? NULL : "a section header without"
		    " its ']'";
	return strpbrk(p, "=:") != NULL ? NULL : "syntax error (expected"
	    " \"key = value\" or \"[section]\")";
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
	    && st->on_section(st->user, name, st->line, why) != 0)
		refuse(st, st->line, why);
}

/* next_line - read the next whole line into st->pending; 0 at the end */
static int
next_line(ini_state *st)
{
	ssize_t n = getline(&st->pending, &st->pending_cap, st->fp);
	const char *why;

	if (n <= 0)
		return 0;
	st->line++;
	st->pending_len = (size_t)n;
	st->handed = 0;
	if (strlen(st->pending) != (size_t)n) {
		refuse(st, st->line, "NUL byte in the line");
		strcpy(st->pending, "\n");	/* keep inih in step */
		st->pending_len = 1;
	} else if (st->pending_len > MK_INI_MAX_LINE) {
		refuse(st, st->line, "line longer than " MK_INI_MAX_LINE_TEXT
		       " bytes");
		strcpy(st->pending, "\n");
		st->pending_len = 1;
	} else if ((why = syntax_problem(st->pending)) != NULL)
		refuse(st, st->line, why);
	else
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
	refuse(st, st->line, why);
	return 0;
}

/* mk_ini_each_fp - parse an open stream, every problem reported */
int
mk_ini_each_fp(FILE *fp, const char *name, mk_ini_section_fn on_section,
	       mk_ini_key_fn on_key_fn, void *user, mk_ini_problem_fn problem,
	       void *problem_ctx, mk_error *err)
{
	ini_state st = { .fp = fp, .on_section = on_section,
			 .on_key = on_key_fn, .user = user, .name = name,
			 .problem = problem, .problem_ctx = problem_ctx };
	int line, n;

	pthread_once(&ini_once, ini_setup);
	line = ini_parse_stream(read_line, &st, on_key, &st);
	free(st.pending);
	if (line > 0 && !refused(&st, line))	/* inih's own first complaint */
		refuse(&st, line, "syntax error (expected \"key = value\" or"
		       " \"[section]\")");
	free(st.bad_lines);
	n = (int)st.n_bad;
	if (line < 0 || st.oom)
		return mk_error_set(err, "%s: out of memory", name);
	return n;
}

/* mk_ini_each - parse the file at path, every problem reported */
int
mk_ini_each(const char *path, mk_ini_section_fn on_section,
	    mk_ini_key_fn on_key_fn, void *user, mk_ini_problem_fn problem,
	    void *problem_ctx, mk_error *err)
{
	FILE *fp = fopen(path, "r");
	int rc;

	if (fp == NULL)
		return mk_error_errno(err, "%s: cannot read", path);
	rc = mk_ini_each_fp(fp, path, on_section, on_key_fn, user, problem,
			    problem_ctx, err);
	fclose(fp);
	return rc;
}

/* mk_ini_keep_first - mk_ini_problem_fn keeping the first problem in
 * the mk_error ctx (inifile.h) */
void
mk_ini_keep_first(void *ctx, const char *name, int line, const char *why)
{
	mk_error *err = ctx;

	if (err->msg[0] == '\0')
		mk_error_set(err, "%s:%d: %s", name, line, why);
}

/* mk_ini_parse_fp - parse an open stream; the first problem */
int
mk_ini_parse_fp(FILE *fp, const char *name, mk_ini_section_fn on_section,
		mk_ini_key_fn on_key_fn, void *user, mk_error *err)
{
	mk_error first = { "" };
	int n = mk_ini_each_fp(fp, name, on_section, on_key_fn, user,
			       mk_ini_keep_first, &first, err);

	if (n > 0)
		*err = first;
	return n == 0 ? 0 : -1;
}

/* mk_ini_parse - parse the file at path; the first problem */
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
