/*
 * policy.c - parsing the policy file and the data it becomes.
 *
 * The file becomes one rule per [defaults] / [domain NAME] section and
 * one role per [role NAME] section.  Domains are kept in canonical form
 * (lowercase A-label, no trailing dot) in hash tables: exact names in
 * one, the parents of "*.parent" wildcards in another, and the same
 * two for local_domains.  Evaluation lives in evaluate.c.
 *
 * Every problem is reported as "FILE:LINE: problem" (common/inifile.c
 * supplies the line): unknown section or key, bad mode or retention, a
 * section or a domain given twice, a role used but never defined, a file
 * with no [defaults].
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/inifile.h"
#include "policy/internal.h"

/* split_list - "a, b ,c" into a NULL-terminated array of copies */
static char **
split_list(const char *value, size_t *n)
{
	char **parts = g_strsplit(value, ",", -1);
	size_t i, k = 0;

	for (i = 0; parts[i] != NULL; i++) {
		g_strstrip(parts[i]);
		if (parts[i][0] == '\0')
			g_free(parts[i]);
		else
			parts[k++] = parts[i];
	}
	parts[k] = NULL;
	*n = k;
	return parts;
}

/* policy_canonical_domain - lowercase A-label of name, no trailing dot;
 * NULL when name is not a host name; g_free() it */
char *
policy_canonical_domain(const char *name)
{
	char *ascii, *lower;
	size_t n;

	if (name == NULL || *name == '\0')
		return NULL;
	/* g_hostname_to_ascii() takes valid UTF-8 only: given a bad
	 * sequence (an envelope address, a policy file) it reads past the
	 * end of its buffer (fuzz_policy, ASan) */
	if (!g_utf8_validate(name, -1, NULL))
		return NULL;
	if ((ascii = g_hostname_to_ascii(name)) == NULL)
		return NULL;
	lower = g_ascii_strdown(ascii, -1);
	g_free(ascii);
	n = strlen(lower);
	if (n > 0 && lower[n - 1] == '.')
		lower[n - 1] = '\0';
	if (*lower == '\0' || strchr(lower, '*') != NULL || strstr(lower, "..")
	    || *lower == '.') {
		g_free(lower);
		return NULL;
	}
	return lower;
}

/* policy_parse_retention - "60d", "18m", "7y", "90" or "forever" */
int
policy_parse_retention(const char *text, policy_retention *out)
{
	char *end;
	long n;

	if (strcasecmp(text, "forever") == 0) {
		*out = (policy_retention){ 0, '\0' };
		return 0;
	}
	if (!isdigit((unsigned char)*text))
		return -1;
	n = strtol(text, &end, 10);
	if (*end == '\0')
		out->unit = 'd';
	else if (strchr("dmy", *end) != NULL && end[1] == '\0')
		out->unit = *end;
	else
		return -1;
	if (n <= 0 || (out->unit == 'd' && n > 3660000)
	    || (out->unit == 'm' && n > 120000) || (out->unit == 'y' && n > 10000))
		return -1;
	out->count = (int)n;
	return 0;
}

/* parse_mode - "none", "metadata" or "full" */
static int
parse_mode(const char *text, policy_mode *mode)
{
	if (strcasecmp(text, "none") == 0)
		*mode = POLICY_NONE;
	else if (strcasecmp(text, "metadata") == 0)
		*mode = POLICY_METADATA;
	else if (strcasecmp(text, "full") == 0)
		*mode = POLICY_FULL;
	else
		return -1;
	return 0;
}

/* parse_bool - yes/no, true/false, on/off, 1/0 */
static int
parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(text, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

/* new_rule - an empty rule named name, owned by p */
static policy_rule *
new_rule(policy *p, const char *name, int line)
{
	policy_rule *r = g_new0(policy_rule, 1);

	r->name = g_strdup(name);
	r->line = line;
	g_ptr_array_add(p->rules, r);
	return r;
}

/* add_domain_section - [domain NAME]: a rule in the exact or wild table */
static int
add_domain_section(policy *p, const char *name, int line, char why[MK_INI_WHY])
{
	bool wild = strncmp(name, "*.", 2) == 0;
	char *canon = policy_canonical_domain(wild ? name + 2 : name);
	GHashTable *table = wild ? p->wild : p->exact;
	policy_rule *r, *other;

	if (canon == NULL)
		return mk_ini_why(why, "[domain %s]: not a domain name", name);
	if ((other = g_hash_table_lookup(table, canon)) != NULL) {
		mk_ini_why(why, "domain %s%s already has a section at line %d",
			   wild ? "*." : "", canon, other->line);
		g_free(canon);
		return -1;
	}
	r = new_rule(p, "", line);
	g_free(r->name);
	r->name = g_strdup_printf("domain %s%s", wild ? "*." : "", canon);
	r->domain = canon;
	r->wildcard = wild;
	g_hash_table_insert(table, r->domain, r);
	p->current_rule = r;
	return 0;
}

/* add_role_section - [role NAME] */
static int
add_role_section(policy *p, const char *name, int line, char why[MK_INI_WHY])
{
	policy_role *role;

	if (*name == '\0' || strpbrk(name, " \t,") != NULL)
		return mk_ini_why(why, "[role %s]: a role name is one word", name);
	if ((role = g_hash_table_lookup(p->roles, name)) != NULL)
		return mk_ini_why(why, "role %s already has a section at line %d",
				  name, role->line);
	role = g_new0(policy_role, 1);
	role->name = g_strdup(name);
	role->line = line;
	g_hash_table_insert(p->roles, role->name, role);
	g_ptr_array_add(p->role_list, role);
	p->current_role = role;
	return 0;
}

/* on_section - a section header: [defaults], [domain X] or [role X] */
static int
on_section(void *user, const char *section, int line, char why[MK_INI_WHY])
{
	policy *p = user;

	p->current_rule = NULL;
	p->current_role = NULL;
	if (strcmp(section, "defaults") == 0) {
		if (p->defaults_line != 0)
			return mk_ini_why(why, "[defaults] already given at line %d",
					  p->defaults_line);
		p->defaults_line = line;
		p->current_rule = &p->defaults;
		return 0;
	}
	if (strncmp(section, "domain ", 7) == 0) {
		char *name = g_strstrip(g_strdup(section + 7));
		int rc = add_domain_section(p, name, line, why);

		g_free(name);
		return rc;
	}
	if (strncmp(section, "role ", 5) == 0)
		return add_role_section(p, section + 5, line, why);
	return mk_ini_why(why, "unknown section [%s] (expected [defaults],"
			  " [domain NAME] or [role NAME])", section);
}

/* set_local_domains - local_domains = a.example, *.b.example */
static int
set_local_domains(policy *p, const char *value, char why[MK_INI_WHY])
{
	size_t i, n;
	char **names = split_list(value, &n);
	char *canon;
	int rc = 0;

	for (i = 0; rc == 0 && i < n; i++) {
		bool wild = strncmp(names[i], "*.", 2) == 0;

		if ((canon = policy_canonical_domain(wild ? names[i] + 2 : names[i])) == NULL) {
			rc = mk_ini_why(why, "local_domains: \"%s\" is not a domain name",
					names[i]);
			break;
		}
		g_hash_table_add(wild ? p->local_wild : p->local_exact, canon);
	}
	g_strfreev(names);
	return rc;
}

/* parse_hours - a positive number of hours (decimals allowed, at most a
 * year) as whole seconds, at least one */
static int
parse_hours(const char *text, int64_t *seconds)
{
	char *end;
	double h;

	if (!isdigit((unsigned char)*text))
		return -1;
	h = g_ascii_strtod(text, &end);
	if (*end != '\0' || !(h > 0) || h > POLICY_MAX_FOUR_EYES_HOURS)
		return -1;
	*seconds = (int64_t)(h * 3600.0 + 0.5);
	if (*seconds < 1)
		*seconds = 1;
	return 0;
}

/* set_four_eyes_key - four_eyes, four_eyes_metadata, four_eyes_hours */
static int
set_four_eyes_key(policy_rule *r, const char *name, const char *value,
		  char why[MK_INI_WHY])
{
	if (strcmp(name, "four_eyes") == 0) {
		if (parse_bool(value, &r->four_eyes) != 0)
			return mk_ini_why(why, "four_eyes must be yes or no, not"
					  " \"%s\"", value);
		r->has_four_eyes = true;
	} else if (strcmp(name, "four_eyes_metadata") == 0) {
		if (parse_bool(value, &r->four_eyes_metadata) != 0)
			return mk_ini_why(why, "four_eyes_metadata must be yes or"
					  " no, not \"%s\"", value);
		r->has_four_eyes_metadata = true;
	} else if (strcmp(name, "four_eyes_hours") == 0) {
		if (parse_hours(value, &r->four_eyes_seconds) != 0)
			return mk_ini_why(why, "four_eyes_hours must be a number of"
					  " hours above 0 and at most %d, not"
					  " \"%s\"", POLICY_MAX_FOUR_EYES_HOURS,
					  value);
		r->has_four_eyes_seconds = true;
	} else
		return mk_ini_why(why, "unknown key \"%s\" in [%s]", name,
				  r->name);
	return 0;
}

/* set_rule_key - mode, retention, roles, notice, four-eyes of a rule */
static int
set_rule_key(policy *p, policy_rule *r, const char *name, const char *value,
	     int line, char why[MK_INI_WHY])
{
	if (strcmp(name, "mode") == 0) {
		if (parse_mode(value, &r->mode) != 0)
			return mk_ini_why(why, "mode must be none, metadata or full,"
					  " not \"%s\"", value);
		r->has_mode = true;
	} else if (strcmp(name, "retention") == 0) {
		if (policy_parse_retention(value, &r->retention) != 0)
			return mk_ini_why(why, "bad retention \"%s\" (expected 60d,"
					  " 18m, 7y, a number of days, or forever)",
					  value);
		r->has_retention = true;
	} else if (strcmp(name, "roles") == 0) {
		g_strfreev(r->roles);
		r->roles = split_list(value, &r->n_roles);
		r->has_roles = true;
		r->roles_line = line;
	} else if (strcmp(name, "notice") == 0) {
		if (parse_bool(value, &r->notice) != 0)
			return mk_ini_why(why, "notice must be yes or no, not \"%s\"",
					  value);
		r->has_notice = true;
	} else if (strncmp(name, "four_eyes", 9) == 0)
		return set_four_eyes_key(r, name, value, why);
	else if (r == &p->defaults && strcmp(name, "local_domains") == 0)
		return set_local_domains(p, value, why);
	else if (r == &p->defaults && strcmp(name, "notice_header") == 0) {
		if (*value == '\0' || strpbrk(value, ": \t") != NULL)
			return mk_ini_why(why, "notice_header must be a header"
					  " name, not \"%s\"", value);
		g_free(p->notice_header);
		p->notice_header = g_strdup(value);
	} else
		return mk_ini_why(why, "unknown key \"%s\" in [%s]", name,
				  r == &p->defaults ? "defaults" : r->name);
	return 0;
}

/* set_role_key - users, groups of a role */
static int
set_role_key(policy_role *role, const char *name, const char *value,
	     char why[MK_INI_WHY])
{
	if (strcmp(name, "users") == 0) {
		g_strfreev(role->users);
		role->users = split_list(value, &role->n_users);
	} else if (strcmp(name, "groups") == 0) {
		g_strfreev(role->groups);
		role->groups = split_list(value, &role->n_groups);
	} else
		return mk_ini_why(why, "unknown key \"%s\" in [role %s]"
				  " (expected users or groups)", name, role->name);
	return 0;
}

/* on_key - one key of the section being read */
static int
on_key(void *user, const char *section, const char *name, const char *value,
       int line, char why[MK_INI_WHY])
{
	policy *p = user;

	if (p->current_rule != NULL)
		return set_rule_key(p, p->current_rule, name, value, line, why);
	if (p->current_role != NULL)
		return set_role_key(p->current_role, name, value, why);
	if (*section == '\0')
		return mk_ini_why(why, "\"%s\" stands before any section", name);
	return mk_ini_why(why, "key \"%s\" in a section that was refused", name);
}

/* check_roles - every role a rule names is defined; 0 or -1 with err */
static int
check_roles(const policy *p, const char *path, mk_error *err)
{
	guint i;
	size_t k;

	for (i = 0; i < p->rules->len; i++) {
		const policy_rule *r = g_ptr_array_index(p->rules, i);

		for (k = 0; k < r->n_roles; k++) {
			if (policy_role_is_builtin(r->roles[k]))
				return mk_error_set(err, "%s:%d: role \"%s\" is built"
						    " in and gives no content: it"
						    " cannot be a message's role",
						    path, r->roles_line, r->roles[k]);
			if (!g_hash_table_contains(p->roles, r->roles[k]))
				return mk_error_set(err, "%s:%d: role \"%s\" is not"
						    " defined (no [role %s] section)",
						    path, r->roles_line, r->roles[k],
						    r->roles[k]);
		}
	}
	return 0;
}

/* free_rule / free_role - destructors for the owning arrays */
static void
free_rule(gpointer data)
{
	policy_rule *r = data;

	g_free(r->name);
	g_free(r->domain);
	g_strfreev(r->roles);
	g_free(r);
}

static void
free_role(gpointer data)
{
	policy_role *role = data;

	g_free(role->name);
	g_strfreev(role->users);
	g_strfreev(role->groups);
	g_free(role);
}

/* policy_new - an empty policy: full, indefinitely, no roles */
static policy *
policy_new(void)
{
	policy *p = g_new0(policy, 1);

	p->defaults.name = g_strdup("defaults");
	p->defaults.mode = POLICY_FULL;
	p->defaults.has_mode = true;
	p->defaults.four_eyes_seconds = POLICY_DEFAULT_FOUR_EYES_HOURS * 3600;
	p->rules = g_ptr_array_new_with_free_func(free_rule);
	g_ptr_array_add(p->rules, &p->defaults);	/* not freed: see policy_free */
	p->role_list = g_ptr_array_new_with_free_func(free_role);
	p->exact = g_hash_table_new(g_str_hash, g_str_equal);
	p->wild = g_hash_table_new(g_str_hash, g_str_equal);
	p->local_exact = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	p->local_wild = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	p->roles = g_hash_table_new(g_str_hash, g_str_equal);
	p->notice_header = g_strdup(POLICY_DEFAULT_NOTICE_HEADER);
	return p;
}

/* policy_default - the built-in policy */
policy *
policy_default(void)
{
	return policy_new();
}

/* policy_load_stream - parse an open stream named name */
policy *
policy_load_stream(FILE *fp, const char *name, mk_error *err)
{
	policy *p = policy_new();

	p->defaults.has_mode = false;
	if (mk_ini_parse_fp(fp, name, on_section, on_key, p, err) != 0)
		goto fail;
	if (p->defaults_line == 0) {
		mk_error_set(err, "%s:1: no [defaults] section (an empty policy"
			     " decides nothing)", name);
		goto fail;
	}
	if (!p->defaults.has_mode) {
		mk_error_set(err, "%s:%d: [defaults] needs a mode (none, metadata"
			     " or full)", name, p->defaults_line);
		goto fail;
	}
	if (check_roles(p, name, err) != 0)
		goto fail;
	p->current_rule = NULL;
	p->current_role = NULL;
	return p;
fail:
	policy_free(p);
	return NULL;
}

/* policy_load - parse the policy file at path */
policy *
policy_load(const char *path, mk_error *err)
{
	FILE *fp = fopen(path, "r");
	policy *p;

	if (fp == NULL) {
		mk_error_errno(err, "%s: cannot read", path);
		return NULL;
	}
	p = policy_load_stream(fp, path, err);
	fclose(fp);
	return p;
}

/* policy_load_or_default - the file's policy, or the built-in one */
policy *
policy_load_or_default(const char *path, mk_error *err)
{
	policy *p;

	if (path != NULL)
		return policy_load(path, err);
	if ((p = policy_default()) == NULL)
		mk_error_set(err, "out of memory");
	return p;
}

/* policy_free - free a policy and everything it owns */
void
policy_free(policy *p)
{
	if (p == NULL)
		return;
	g_ptr_array_steal_index(p->rules, 0);	/* &p->defaults: embedded */
	g_free(p->defaults.name);
	g_strfreev(p->defaults.roles);
	g_ptr_array_free(p->rules, TRUE);
	g_ptr_array_free(p->role_list, TRUE);
	g_hash_table_destroy(p->exact);
	g_hash_table_destroy(p->wild);
	g_hash_table_destroy(p->local_exact);
	g_hash_table_destroy(p->local_wild);
	g_hash_table_destroy(p->roles);
	g_free(p->notice_header);
	g_free(p);
}
