/*
 * evaluate.c - the decision of the policy for one message.  Pure: no I/O.
 *
 * Each party (the envelope sender when its domain is local, and each
 * local envelope recipient) picks a rule by its domain: the exact
 * [domain] section, else the longest "*.parent" wildcard that matches,
 * else [defaults].  The message gets the strongest mode, the latest
 * retention end and the union of the roles of those rules.  Lookups are
 * hash probes: a party costs one probe for its exact name and one per
 * label of its domain for wildcards, whatever the size of the policy.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/internal.h"

/* address_domain - canonical domain of an address, or NULL; g_free() */
static char *
address_domain(const char *addr)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	return at != NULL ? policy_canonical_domain(at + 1) : NULL;
}

/* lookup_suffix - the entry of table for the longest proper parent of
 * domain ("a.b.c" tries "b.c", then "c"), or NULL */
static gpointer
lookup_suffix(GHashTable *table, const char *domain)
{
	const char *dot;
	gpointer hit;

	if (g_hash_table_size(table) == 0)
		return NULL;
	for (dot = strchr(domain, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		if ((hit = g_hash_table_lookup(table, dot + 1)) != NULL)
			return hit;
	return NULL;
}

/* find_rule - exact section, else longest wildcard, else [defaults] */
static const policy_rule *
find_rule(const policy *p, const char *domain)
{
	const policy_rule *r;

	if (domain == NULL)
		return &p->defaults;
	if ((r = g_hash_table_lookup(p->exact, domain)) != NULL)
		return r;
	if ((r = lookup_suffix(p->wild, domain)) != NULL)
		return r;
	return &p->defaults;
}

/* is_local - is domain one of local_domains (or under a "*.parent")? */
static bool
is_local(const policy *p, const char *domain)
{
	return domain != NULL
	    && (g_hash_table_contains(p->local_exact, domain)
		|| lookup_suffix(p->local_wild, domain) != NULL);
}

/* rule_is_local - can a local party ever pick rule r? */
static bool
rule_is_local(const policy *p, const policy_rule *r)
{
	char *probe;
	bool local;

	if (!r->wildcard)
		return is_local(p, r->domain);
	probe = g_strconcat("x.", r->domain, NULL);	/* any name under it */
	local = is_local(p, probe);
	g_free(probe);
	return local;
}

/* days_in_month - days in month m (0-11) of year y (years since 1900) */
static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int year = y + 1900;
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return m == 1 && leap ? 29 : days[m];
}

/* policy_retention_until - the UTC midnight after the last day kept */
int64_t
policy_retention_until(int64_t received_at, policy_retention r)
{
	time_t t = (time_t)received_at;
	struct tm tm;
	int months;

	if (r.count == 0)
		return 0;
	gmtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = 0;
	if (r.unit == 'd')
		tm.tm_mday += r.count;
	else {
		months = tm.tm_mon + (r.unit == 'y' ? 12 * r.count : r.count);
		tm.tm_year += months / 12;
		tm.tm_mon = months % 12;
		if (tm.tm_mday > days_in_month(tm.tm_year, tm.tm_mon))
			tm.tm_mday = days_in_month(tm.tm_year, tm.tm_mon);
	}
	tm.tm_mday += 1;	/* kept through the last day */
	return (int64_t)timegm(&tm);
}

/* merge - fold one rule into the decision under construction */
static void
merge(const policy *p, const policy_rule *r, int64_t received_at,
      policy_decision *d, bool *forever, GPtrArray *roles)
{
	const policy_rule *def = &p->defaults;
	policy_mode mode = r->has_mode ? r->mode : def->mode;
	policy_retention ret = r->has_retention ? r->retention : def->retention;
	char **names = r->has_roles ? r->roles : def->roles;
	size_t n = r->has_roles ? r->n_roles : def->n_roles, i;
	int64_t until = policy_retention_until(received_at, ret);

	if (mode > d->mode)
		d->mode = mode;
	if (until == 0)
		*forever = true;
	else if (until > d->retain_until)
		d->retain_until = until;
	for (i = 0; i < n; i++)
		g_ptr_array_add(roles, names[i]);
	if (r->has_notice ? r->notice : def->notice)
		d->notice = true;
}

/* compare_names - qsort order of role names */
static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* unique_sorted - sort names and drop repeats; returns the new count */
static size_t
unique_sorted(const char **names, size_t n)
{
	size_t i, k = 0;

	if (n == 0)
		return 0;
	qsort(names, n, sizeof(*names), compare_names);
	for (i = 1; i < n; i++)
		if (strcmp(names[i], names[k]) != 0)
			names[++k] = names[i];
	return k + 1;
}

/* add_party - one local party and the rule its domain picks */
static const policy_rule *
add_party(const policy *p, policy_decision *d, const char *address,
	  const char *domain)
{
	const policy_rule *r = find_rule(p, domain);

	d->parties[d->n_parties].address = address;
	d->parties[d->n_parties].rule = r->name;
	d->n_parties++;
	return r;
}

/* policy_evaluate - the decision for one message */
int
policy_evaluate(const policy *p, const char *mail_from,
		const char *const *rcpts, size_t n_rcpts, int64_t received_at,
		policy_decision *d, mk_error *err)
{
	GPtrArray *roles = g_ptr_array_new();
	char *sender = address_domain(mail_from), *domain;
	bool sender_local = is_local(p, sender), any_local = false;
	bool all_local = n_rcpts > 0, forever = false;
	size_t i;

	(void)err;	/* GLib aborts rather than return NULL */
	memset(d, 0, sizeof(*d));
	d->notice_header = p->notice_header;
	d->parties = g_new0(policy_party, n_rcpts + 1);
	if (sender_local)
		merge(p, add_party(p, d, mail_from, sender), received_at, d,
		      &forever, roles);
	for (i = 0; i < n_rcpts; i++) {
		domain = address_domain(rcpts[i]);
		if (is_local(p, domain)) {
			any_local = true;
			merge(p, add_party(p, d, rcpts[i], domain), received_at,
			      d, &forever, roles);
		} else
			all_local = false;
		g_free(domain);
	}
	g_free(sender);
	if (d->n_parties == 0)
		merge(p, &p->defaults, received_at, d, &forever, roles);
	d->direction = sender_local ? (all_local ? POLICY_INTERNAL : POLICY_OUTBOUND)
				    : (any_local ? POLICY_INBOUND : POLICY_EXTERNAL);
	if (forever)
		d->retain_until = 0;
	if (d->mode == POLICY_NONE)
		d->notice = false;
	d->n_roles = unique_sorted((const char **)roles->pdata, roles->len);
	d->roles = (const char **)g_ptr_array_free(roles, FALSE);
	return 0;
}

/* policy_decision_free - free the arrays of a decision */
void
policy_decision_free(policy_decision *d)
{
	g_free(d->roles);
	g_free(d->parties);
	d->roles = NULL;
	d->parties = NULL;
	d->n_roles = d->n_parties = 0;
}

/* in_list - is name one of list[0..n)? */
static bool
in_list(char **list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

/* policy_roles_of - the roles of a user with these group names */
size_t
policy_roles_of(const policy *p, const char *user, const char *const *groups,
		size_t n_groups, const char ***roles)
{
	const char **out = calloc(p->role_list->len + 1, sizeof(*out));
	size_t n = 0, k;
	guint i;

	*roles = out;
	if (out == NULL)
		return 0;

	for (i = 0; i < p->role_list->len; i++) {
		const policy_role *role = g_ptr_array_index(p->role_list, i);
		bool member = in_list(role->users, role->n_users, user);

		for (k = 0; !member && k < n_groups; k++)
			member = in_list(role->groups, role->n_groups, groups[k]);
		if (member)
			out[n++] = role->name;
	}
	return unique_sorted(out, n);
}

/* policy_role_is_builtin - admin and auditor, which give no content */
bool
policy_role_is_builtin(const char *name)
{
	return strcmp(name, POLICY_ROLE_ADMIN) == 0
	    || strcmp(name, POLICY_ROLE_AUDITOR) == 0;
}

/* fold_four_eyes - rule r's four-eyes settings into out */
static void
fold_four_eyes(const policy *p, const policy_rule *r, policy_four_eyes_rule *out)
{
	const policy_rule *def = &p->defaults;
	bool on = r->has_four_eyes ? r->four_eyes : def->four_eyes;
	bool meta = r->has_four_eyes_metadata ? r->four_eyes_metadata
					      : def->four_eyes_metadata;
	int64_t secs = r->has_four_eyes_seconds ? r->four_eyes_seconds
						: def->four_eyes_seconds;

	if (!on)
		return;
	if (!out->content || secs < out->seconds)
		out->seconds = secs;
	out->content = true;
	out->metadata = out->metadata || meta;
}

/* policy_four_eyes - the four-eyes rule for a message with these parties */
void
policy_four_eyes(const policy *p, const char *const *addresses, size_t n,
		 policy_four_eyes_rule *out)
{
	char *domain;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		domain = address_domain(addresses[i]);
		fold_four_eyes(p, find_rule(p, domain), out);
		g_free(domain);
	}
	if (n == 0)
		fold_four_eyes(p, &p->defaults, out);
}

/* policy_mode_name - the word for a mode */
const char *
policy_mode_name(policy_mode mode)
{
	switch (mode) {
	case POLICY_NONE: return "none";
	case POLICY_METADATA: return "metadata";
	case POLICY_FULL: return "full";
	}
	return "unknown";
}

/* policy_direction_name - the word for a direction */
const char *
policy_direction_name(policy_direction direction)
{
	switch (direction) {
	case POLICY_EXTERNAL: return "external";
	case POLICY_INBOUND: return "inbound";
	case POLICY_OUTBOUND: return "outbound";
	case POLICY_INTERNAL: return "internal";
	}
	return "unknown";
}

/* describe_four_eyes - a rule's effective four-eyes keys into out */
static void
describe_four_eyes(const policy_rule *r, const policy_rule *def, GString *out)
{
	bool on = r->has_four_eyes ? r->four_eyes : def->four_eyes;
	bool meta = r->has_four_eyes_metadata ? r->four_eyes_metadata
					      : def->four_eyes_metadata;
	int64_t secs = r->has_four_eyes_seconds ? r->four_eyes_seconds
						: def->four_eyes_seconds;
	char hours[G_ASCII_DTOSTR_BUF_SIZE];

	g_ascii_formatd(hours, sizeof(hours), "%.4g", (double)secs / 3600.0);
	g_string_append_printf(out, "  four_eyes = %s\n", on ? "yes" : "no");
	if (on)
		g_string_append_printf(out, "  four_eyes_metadata = %s\n"
				       "  four_eyes_hours = %s\n",
				       meta ? "yes" : "no", hours);
}

/* describe_rule - one rule's effective settings into out */
static void
describe_rule(const policy *p, const policy_rule *r, GString *out)
{
	const policy_rule *def = &p->defaults;
	policy_retention ret = r->has_retention ? r->retention : def->retention;
	char **roles = r->has_roles ? r->roles : def->roles;
	size_t n = r->has_roles ? r->n_roles : def->n_roles, i;

	g_string_append_printf(out, "[%s]\n  mode = %s\n  retention = ", r->name,
			       policy_mode_name(r->has_mode ? r->mode : def->mode));
	if (ret.count == 0)
		g_string_append(out, "forever\n");
	else
		g_string_append_printf(out, "%d%c\n", ret.count, ret.unit);
	g_string_append(out, "  roles =");
	for (i = 0; i < n; i++)
		g_string_append_printf(out, "%s %s", i ? "," : "", roles[i]);
	g_string_append_printf(out, "\n  notice = %s\n",
			       (r->has_notice ? r->notice : def->notice) ? "yes" : "no");
	describe_four_eyes(r, def, out);
	if (r != def && !rule_is_local(p, r))
		g_string_append(out, "  ; warning: not within local_domains,"
				" this rule never applies\n");
}

/* append_keys - the keys of a set, sorted, comma-separated */
static void
append_keys(GHashTable *set, const char *prefix, GString *out, bool *first)
{
	GList *keys = g_list_sort(g_hash_table_get_keys(set), (GCompareFunc)strcmp), *k;

	for (k = keys; k != NULL; k = k->next) {
		g_string_append_printf(out, "%s%s%s", *first ? " " : ", ", prefix,
				       (const char *)k->data);
		*first = false;
	}
	g_list_free(keys);
}

/* policy_describe - the parsed policy, every rule with effective values */
char *
policy_describe(const policy *p)
{
	GString *out = g_string_new("");
	bool first = true;
	char *text;
	guint i;
	size_t k;

	g_string_append(out, "local_domains =");
	append_keys(p->local_exact, "", out, &first);
	append_keys(p->local_wild, "*.", out, &first);
	g_string_append_printf(out, "\nnotice_header = %s\n", p->notice_header);
	for (i = 0; i < p->rules->len; i++)
		describe_rule(p, g_ptr_array_index(p->rules, i), out);
	for (i = 0; i < p->role_list->len; i++) {
		const policy_role *role = g_ptr_array_index(p->role_list, i);

		g_string_append_printf(out, "[role %s]\n  users =", role->name);
		for (k = 0; k < role->n_users; k++)
			g_string_append_printf(out, "%s %s", k ? "," : "", role->users[k]);
		g_string_append(out, "\n  groups =");
		for (k = 0; k < role->n_groups; k++)
			g_string_append_printf(out, "%s %s", k ? "," : "", role->groups[k]);
		g_string_append(out, "\n");
	}
	text = strdup(out->str);
	g_string_free(out, TRUE);
	return text;
}
