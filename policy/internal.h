/*
 * internal.h - what policy.c (parsing) and evaluate.c (decisions) share.
 */
#ifndef MAILKEEP_POLICY_INTERNAL_H
#define MAILKEEP_POLICY_INTERNAL_H

#include <glib.h>

#include "policy/policy.h"

/* One [defaults] or [domain NAME] section.  A key it does not set
 * (has_* false) comes from [defaults]. */
typedef struct policy_rule {
	char *name;		/* "defaults", "domain x.example", "domain *.x" */
	char *domain;		/* canonical name (the parent for a wildcard) */
	bool wildcard;
	int line;
	policy_mode mode;
	bool has_mode;
	policy_retention retention;
	bool has_retention;
	char **roles;
	size_t n_roles;
	bool has_roles;
	int roles_line;
	bool notice;
	bool has_notice;
	bool four_eyes;		/* content released after a second approval */
	bool has_four_eyes;
	bool four_eyes_metadata;	/* metadata too */
	bool has_four_eyes_metadata;
	int64_t four_eyes_seconds;	/* how long an approval lasts */
	bool has_four_eyes_seconds;
} policy_rule;

typedef struct policy_role {
	char *name;
	int line;
	char **users;
	size_t n_users;
	char **groups;
	size_t n_groups;
} policy_role;

struct policy {
	policy_rule defaults;
	int defaults_line;
	GPtrArray *rules;		/* every rule, file order; owns all but
					   defaults (element 0) */
	GPtrArray *role_list;		/* every role, file order; owns them */
	GHashTable *exact;		/* domain -> rule */
	GHashTable *wild;		/* parent of "*.parent" -> rule */
	GHashTable *local_exact;	/* set of local domains */
	GHashTable *local_wild;		/* set of parents of local wildcards */
	GHashTable *roles;		/* name -> role */
	char *notice_header;
	/* while parsing */
	policy_rule *current_rule;
	policy_role *current_role;
};

/* policy_canonical_domain - lowercase A-label, no trailing dot; NULL when
 * not a domain name; g_free() the result */
char *policy_canonical_domain(const char *name);

#endif /* MAILKEEP_POLICY_INTERNAL_H */
