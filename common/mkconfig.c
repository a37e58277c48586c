/*
 * mkconfig.c - reading mailkeep.conf.  See mkconfig.h.
 *
 * common/inifile.c reads the file and turns the first key parse_key()
 * refuses into "FILE:LINE: why".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/inifile.h"
#include "common/mkconfig.h"

/* set_string - replace *slot with a copy of value; 0 on success */
static int
set_string(char **slot, const char *value, char out[MK_INI_WHY])
{
	char *copy;

	if (*value == '\0')
		return mk_ini_why(out, "empty value");
	if ((copy = strdup(value)) == NULL)
		return mk_ini_why(out, "out of memory");
	free(*slot);
	*slot = copy;
	return 0;
}

/* parse_on_error - on_error = tempfail | accept */
static int
parse_on_error(mk_config *cfg, const char *value, char out[MK_INI_WHY])
{
	if (strcasecmp(value, "tempfail") == 0)
		cfg->on_error = MK_ON_ERROR_TEMPFAIL;
	else if (strcasecmp(value, "accept") == 0)
		cfg->on_error = MK_ON_ERROR_ACCEPT;
	else
		return mk_ini_why(out,
			      "on_error must be tempfail or accept, not \"%s\"",
			      value);
	return 0;
}

/* parse_mode - socket_mode = octal permission bits */
static int
parse_mode(mk_config *cfg, const char *value, char out[MK_INI_WHY])
{
	char *end;
	long mode;

	errno = 0;
	mode = strtol(value, &end, 8);
	if (errno != 0 || *value == '\0' || *end != '\0' || mode < 0
	    || mode > 0777)
		return mk_ini_why(out,
			   "socket_mode must be octal permission bits such as 0660, not \"%s\"",
			   value);
	cfg->socket_mode = (int)mode;
	return 0;
}

/* parse_bool - yes/no/true/false/on/off/1/0 into *out */
static int
parse_bool(const char *name, const char *value, int *out, char why[MK_INI_WHY])
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(value, no[i]) == 0)
			return *out = 0, 0;
	}
	return mk_ini_why(why, "%s must be yes or no, not \"%s\"", name, value);
}

/* parse_number - a whole number in [min, max] into *out */
static int
parse_number(const char *name, const char *value, long min, long max,
	     long *out, char why[MK_INI_WHY])
{
	char *end;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno != 0 || *value == '\0' || *end != '\0' || n < min || n > max)
		return mk_ini_why(why, "%s must be a number from %ld to %ld,"
				  " not \"%s\"", name, min, max, value);
	*out = n;
	return 0;
}

/* parse_store_key - the keys of how the archive stores; 1 if name is not
 * one of them */
static int
parse_store_key(mk_config *cfg, const char *name, const char *value,
		char out[MK_INI_WHY])
{
	long n;

	if (strcmp(name, "encrypt") == 0)
		return parse_bool(name, value, &cfg->encrypt, out);
	if (strcmp(name, "compression") == 0)
		return mk_compression_parse(value, &cfg->codec,
					    &cfg->compression, out, MK_INI_WHY);
	if (strcmp(name, "checkpoint_entries") == 0) {
		if (parse_number(name, value, 1, 100000000, &n, out) != 0)
			return -1;
		cfg->checkpoint_entries = (unsigned)n;
		return 0;
	}
	if (strcmp(name, "checkpoint_interval") == 0) {
		if (parse_number(name, value, 1, 86400, &n, out) != 0)
			return -1;
		cfg->checkpoint_interval = (unsigned)n;
		return 0;
	}
	return 1;
}

/* set_access_socket - access_socket = an absolute path that fits
 * sun_path */
static int
set_access_socket(mk_config *cfg, const char *value, char out[MK_INI_WHY])
{
	if (value[0] != '/' || strlen(value) >= MK_MAX_SOCKET_PATH)
		return mk_ini_why(out, "access_socket must be an absolute path"
				  " shorter than %d bytes, not \"%s\"",
				  MK_MAX_SOCKET_PATH, value);
	return set_string(&cfg->access_socket, value, out);
}

/* set_socket - socket = a milter socket spec, its syntax checked */
static int
set_socket(mk_config *cfg, const char *value, char out[MK_INI_WHY])
{
	char why[MK_SOCKSPEC_WHY];
	mk_sockspec spec;

	if (mk_sockspec_parse(value, &spec, why) != 0)
		return mk_ini_why(out, "socket = %s: %s", value, why);
	return set_string(&cfg->socket, value, out);
}

/* key_line - where the line of key name is kept, or NULL */
static int *
key_line(mk_config *cfg, const char *name)
{
	if (strcmp(name, "socket") == 0)
		return &cfg->line.socket;
	if (strcmp(name, "archive") == 0)
		return &cfg->line.archive;
	if (strcmp(name, "policy") == 0)
		return &cfg->line.policy;
	if (strcmp(name, "user") == 0)
		return &cfg->line.user;
	if (strcmp(name, "pidfile") == 0)
		return &cfg->line.pidfile;
	if (strcmp(name, "access_socket") == 0)
		return &cfg->line.access_socket;
	return NULL;
}

/* parse_named - a key that names a thing (key_line()) */
static int
parse_named(mk_config *cfg, const char *name, const char *value,
	    char out[MK_INI_WHY])
{
	if (strcmp(name, "socket") == 0)
		return set_socket(cfg, value, out);
	if (strcmp(name, "archive") == 0)
		return set_string(&cfg->archive, value, out);
	if (strcmp(name, "policy") == 0)
		return set_string(&cfg->policy, value, out);
	if (strcmp(name, "user") == 0)
		return set_string(&cfg->user, value, out);
	if (strcmp(name, "pidfile") == 0)
		return set_string(&cfg->pidfile, value, out);
	return set_access_socket(cfg, value, out);
}

/* parse_section - a section header: only [mailkeep] */
static int
parse_section(void *user, const char *section, int line, char out[MK_INI_WHY])
{
	(void)user;
	(void)line;
	if (strcmp(section, "mailkeep") == 0)
		return 0;
	return mk_ini_why(out, "unknown section [%s] (keys belong before any"
			  " section or under [mailkeep])", section);
}

/* parse_key - one key of mailkeep.conf; 0, or -1 with the reason */
static int
parse_key(void *user, const char *section, const char *name,
	  const char *value, int line, char out[MK_INI_WHY])
{
	mk_config *cfg = user;
	int rc, *at;

	if (*section != '\0' && strcmp(section, "mailkeep") != 0)
		return mk_ini_why(out, "\"%s\" is under the unknown section [%s]"
				  " (keys belong before any section or under"
				  " [mailkeep])", name, section);
	if ((at = key_line(cfg, name)) != NULL) {
		rc = parse_named(cfg, name, value, out);
		*at = rc == 0 ? line : -line;
		return rc;
	}
	if (strcmp(name, "on_error") == 0)
		return parse_on_error(cfg, value, out);
	if (strcmp(name, "socket_mode") == 0)
		return parse_mode(cfg, value, out);
	if ((rc = parse_store_key(cfg, name, value, out)) <= 0)
		return rc;
	return mk_ini_why(out, "unknown key \"%s\"", name);
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
	if (cfg->access_socket == NULL
	    && (cfg->access_socket = strdup(MK_DEFAULT_ACCESS_SOCKET)) == NULL)
		return -1;
	return 0;
}

/* config_new - a config of path with the built-in values; NULL */
static mk_config *
config_new(const char *path)
{
	mk_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
		free(cfg);
		return NULL;
	}
	cfg->socket_mode = 0660;
	cfg->encrypt = 1;
	cfg->codec = MK_DEFAULT_CODEC;
	cfg->compression = MK_DEFAULT_LEVEL;
	cfg->checkpoint_entries = 1000;
	cfg->checkpoint_interval = 300;
	return cfg;
}

/* mk_config_read - parse path, every problem to problem() (mkconfig.h) */
mk_config *
mk_config_read(const char *path, mk_ini_problem_fn problem, void *ctx,
	       int *problems, mk_error *err)
{
	FILE *fp = fopen(path, "r");
	mk_config *cfg;

	if (fp == NULL) {
		mk_error_errno(err, "%s: cannot read", path);
		return NULL;
	}
	cfg = mk_config_read_stream(fp, path, problem, ctx, problems, err);
	fclose(fp);
	return cfg;
}

/* mk_config_read_stream - the same from an open stream (mkconfig.h) */
mk_config *
mk_config_read_stream(FILE *fp, const char *name, mk_ini_problem_fn problem,
		      void *ctx, int *problems, mk_error *err)
{
	mk_config *cfg = config_new(name);

	if (cfg == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if ((*problems = mk_ini_each_fp(fp, name, parse_section, parse_key,
					cfg, problem, ctx, err)) < 0
	    || set_defaults(cfg) != 0) {
		if (*problems >= 0)
			mk_error_set(err, "out of memory");
		mk_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* mk_config_load - parse path into a new config */
mk_config *
mk_config_load(const char *path, mk_error *err)
{
	mk_error first = { "" };
	mk_config *cfg;
	int problems;

	if ((cfg = mk_config_read(path, mk_ini_keep_first, &first, &problems, err))
	    != NULL && problems > 0) {
		*err = first;
		mk_config_free(cfg);
		return NULL;
	}
	return cfg;
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
	free(cfg->access_socket);
	free(cfg);
}
