/*
 * mkconfig.c - reading mailkeep.conf.  See mkconfig.h.
 *
 * inih calls parse_key() once a key; the first key it rejects stops the
 * parse, and ini_parse() returns that key's line number, which goes into
 * the error together with the reason parse_key() left behind.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "common/mkconfig.h"

typedef struct parse_state {
	mk_config *cfg;
	FILE *fp;
	int line;		/* line being parsed, counted by read_line() */
	int bad_line;		/* first line parse_key() rejected, or 0 */
	int at_line_start;	/* the last chunk read ended a line */
	char why[256];		/* and why */
} parse_state;

/* read_line - inih reader over st->fp that keeps count of lines */
static char *
read_line(char *buf, int size, void *stream)
{
	parse_state *st = stream;
	char *got = fgets(buf, size, st->fp);

	if (got != NULL && (st->line == 0 || st->at_line_start))
		st->line++;
	if (got != NULL)
		st->at_line_start = strchr(buf, '\n') != NULL;
	return got;
}

/* reject - remember why the key on the current line is refused */
static int __attribute__((format(printf, 2, 3)))
reject(parse_state *st, const char *fmt, ...)
{
	va_list ap;

	if (st->bad_line == 0) {
		st->bad_line = st->line;
		va_start(ap, fmt);
		vsnprintf(st->why, sizeof(st->why), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* set_string - replace *slot with a copy of value; 0 on success */
static int
set_string(char **slot, const char *value, parse_state *st)
{
	char *copy;

	if (*value == '\0')
		return reject(st, "empty value");
	if ((copy = strdup(value)) == NULL)
		return reject(st, "out of memory");
	free(*slot);
	*slot = copy;
	return 0;
}

/* parse_on_error - on_error = tempfail | accept */
static int
parse_on_error(const char *value, parse_state *st)
{
	if (strcasecmp(value, "tempfail") == 0)
		st->cfg->on_error = MK_ON_ERROR_TEMPFAIL;
	else if (strcasecmp(value, "accept") == 0)
		st->cfg->on_error = MK_ON_ERROR_ACCEPT;
	else
		return reject(st,
			      "on_error must be tempfail or accept, not \"%s\"",
			      value);
	return 0;
}

/* parse_mode - socket_mode = octal permission bits */
static int
parse_mode(const char *value, parse_state *st)
{
	char *end;
	long mode;

	errno = 0;
	mode = strtol(value, &end, 8);
	if (errno != 0 || *value == '\0' || *end != '\0' || mode < 0
	    || mode > 0777)
		return reject(st,
			      "socket_mode must be octal permission bits such as 0660, not \"%s\"",
			      value);
	st->cfg->socket_mode = (int)mode;
	return 0;
}

/* parse_key - inih callback: one key; returns 1 to go on, 0 to stop */
static int
parse_key(void *user, const char *section, const char *name,
	  const char *value)
{
	parse_state *st = user;
	mk_config *cfg = st->cfg;
	int rc;

	if (*section != '\0' && strcmp(section, "mailkeep") != 0) {
		reject(st, "unknown section [%s] (keys belong before any section or under [mailkeep])",
		       section);
		return 0;
	}
	if (strcmp(name, "socket") == 0)
		rc = set_string(&cfg->socket, value, st);
	else if (strcmp(name, "archive") == 0)
		rc = set_string(&cfg->archive, value, st);
	else if (strcmp(name, "policy") == 0)
		rc = set_string(&cfg->policy, value, st);
	else if (strcmp(name, "user") == 0)
		rc = set_string(&cfg->user, value, st);
	else if (strcmp(name, "pidfile") == 0)
		rc = set_string(&cfg->pidfile, value, st);
	else if (strcmp(name, "on_error") == 0)
		rc = parse_on_error(value, st);
	else if (strcmp(name, "socket_mode") == 0)
		rc = parse_mode(value, st);
	else
		rc = reject(st, "unknown key \"%s\"", name);
	return rc == 0;
}

/* set_defaults - fill what the file did not set; 0 on success */
static int
set_defaults(mk_config *cfg)
{
	if (cfg->socket == NULL
	    && (cfg->socket = strdup(MK_DEFAULT_SOCKET)) == NULL)
		return -1;
	if (cfg->archive == NULL
	    && (cfg->archive = strdup(MK_DEFAULT_ARCHIVE)) == NULL)
		return -1;
	return 0;
}

/* mk_config_load - parse path into a new config */
mk_config *
mk_config_load(const char *path, mk_error *err)
{
	parse_state st = { 0 };
	int line;

	if ((st.cfg = calloc(1, sizeof(*st.cfg))) == NULL
	    || (st.cfg->path = strdup(path)) == NULL) {
		mk_error_set(err, "out of memory");
		goto fail;
	}
	st.cfg->socket_mode = 0660;
	if ((st.fp = fopen(path, "r")) == NULL) {
		mk_error_errno(err, "%s: cannot read", path);
		goto fail;
	}
	line = ini_parse_stream(read_line, &st, parse_key, &st);
	fclose(st.fp);
	if (line < 0) {
		mk_error_set(err, "%s: out of memory", path);
		goto fail;
	}
	if (line > 0) {
		if (st.bad_line != 0 && st.bad_line <= line)
			mk_error_set(err, "%s:%d: %s", path, st.bad_line,
				     st.why);
		else
			mk_error_set(err,
				     "%s:%d: syntax error (expected \"key = value\" or \"[section]\")",
				     path, line);
		goto fail;
	}
	if (set_defaults(st.cfg) != 0) {
		mk_error_set(err, "out of memory");
		goto fail;
	}
	return st.cfg;
fail:
	mk_config_free(st.cfg);
	return NULL;
}

/* mk_config_free - free a config */
void
mk_config_free(mk_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->socket);
	free(cfg->archive);
	free(cfg->policy);
	free(cfg->user);
	free(cfg->pidfile);
	free(cfg);
}
