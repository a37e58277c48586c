/*
 * policy.h - which messages mailkeep keeps, how, for how long, for whom.
 *
 * NAME
 *	policy - the per-domain archiving policy
 *
 * SYNOPSIS
 *	#include "policy/policy.h"
 *
 * DESCRIPTION
 *	A policy file (INI, see mailkeep.conf(5)) has a [defaults] section,
 *	[domain NAME] sections (NAME an exact domain or "*.parent"), and
 *	[role NAME] sections naming Unix users and groups.  Keys of a domain
 *	section that it does not set come from [defaults].
 *
 *	Evaluation is pure: the envelope in, a decision out, no I/O.  The
 *	parties of a message are its envelope sender and each envelope
 *	recipient whose domain is local (local_domains); each party's
 *	domain picks a rule: an exact [domain] section, else the longest
 *	matching "*.parent" section, else [defaults].  The decision takes the
 *	strongest mode (full > metadata > none), the longest retention, and
 *	the union of the roles.  A message with no local party uses
 *	[defaults].  Domains are compared case-insensitively in their ASCII
 *	(A-label) form, so an IDN written in Unicode or in punycode is the
 *	same domain.
 *
 *	Lookups are hashed: evaluating a message costs a few hash probes per
 *	party, whatever the number of sections.
 *
 * DIAGNOSTICS
 *	policy_load() fails with "FILE:LINE: problem" in err.
 */
#ifndef MAILKEEP_POLICY_H
#define MAILKEEP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

#define POLICY_DEFAULT_NOTICE_HEADER	"X-Archived"
#define POLICY_DEFAULT_FOUR_EYES_HOURS	24	/* an approval lasts */
#define POLICY_MAX_FOUR_EYES_HOURS	8760	/* a year at most */

/* The built-in roles: they give no content, so no message carries them. */
#define POLICY_ROLE_ADMIN	"admin"		/* keys, holds, expiry, ledger */
#define POLICY_ROLE_AUDITOR	"auditor"	/* the audit trail, verify */

typedef enum {
	POLICY_NONE = 0,	/* keep nothing about the message */
	POLICY_METADATA,	/* traffic data only */
	POLICY_FULL		/* the whole message */
} policy_mode;

typedef enum {
	POLICY_EXTERNAL = 0,	/* no local party: relayed */
	POLICY_INBOUND,		/* local recipient(s), foreign sender */
	POLICY_OUTBOUND,	/* local sender, some foreign recipient */
	POLICY_INTERNAL		/* local sender, only local recipients */
} policy_direction;

/* A retention period as written: so many days, months or years. */
typedef struct policy_retention {
	int count;		/* 0 with unit '\0': keep indefinitely */
	char unit;		/* 'd', 'm' or 'y' */
} policy_retention;

typedef struct policy policy;	/* opaque */

/* Which rule decided for one party of a message. */
typedef struct policy_party {
	const char *address;	/* the envelope address (caller's string) */
	const char *rule;	/* "defaults", "domain example.com",
				   "domain *.example.net" (policy's string) */
} policy_party;

/*
 * The decision for one message.  Strings point into the policy and the
 * caller's envelope: valid while both live.  Owned arrays are freed by
 * policy_decision_free().
 */
typedef struct policy_decision {
	policy_mode mode;
	policy_direction direction;
	int64_t retain_until;	/* seconds since the epoch (UTC midnight
				   after the last day), 0: indefinitely */
	const char **roles;	/* sorted, no duplicates */
	size_t n_roles;
	policy_party *parties;	/* sender first, then local recipients */
	size_t n_parties;
	bool notice;		/* add the notice header */
	const char *notice_header;
} policy_decision;

/* policy_default - the built-in policy: everything in full, kept
 * indefinitely, no roles; owned by the caller: policy_free() */
policy *policy_default(void);

/* policy_load - parse a policy file; NULL and err ("FILE:LINE: ...") */
policy *policy_load(const char *path, mk_error *err);

/* policy_load_or_default - policy_load(path), or the built-in policy
 * when path is NULL (no "policy" in mailkeep.conf) */
policy *policy_load_or_default(const char *path, mk_error *err);

/* policy_load_stream - the same from an open stream named name (fuzzing,
 * tests) */
policy *policy_load_stream(FILE *fp, const char *name, mk_error *err);

/* policy_free - free a policy; NULL is fine */
void policy_free(policy *p);

/*
 * policy_evaluate - the decision for a message received at received_at
 * (seconds since the epoch).  Returns 0, or -1 only when out of memory.
 */
int policy_evaluate(const policy *p, const char *mail_from,
		    const char *const *rcpts, size_t n_rcpts,
		    int64_t received_at, policy_decision *out, mk_error *err);

/* policy_decision_free - free what policy_evaluate() allocated in d */
void policy_decision_free(policy_decision *d);

/* policy_retention_until - received_at + r as the UTC midnight that ends
 * the retention (months and years by the calendar: 31 Jan + 1m ends with
 * 28/29 Feb); 0 for an indefinite r */
int64_t policy_retention_until(int64_t received_at, policy_retention r);

/* policy_parse_retention - "60d", "18m", "7y" or "90"; 0 or -1 */
int policy_parse_retention(const char *text, policy_retention *out);

/*
 * policy_roles_of - the roles (sorted) a Unix user has: named in the
 * role's users, or a member of one of its groups.  groups: the names of
 * the user's groups, as the caller got them from the system.  Returns
 * the count; *roles is allocated with malloc (strings point into p),
 * free() it.
 */
size_t policy_roles_of(const policy *p, const char *user,
		       const char *const *groups, size_t n_groups,
		       const char ***roles);

/* What four-eyes asks of a message's reader (policy_four_eyes()). */
typedef struct policy_four_eyes_rule {
	bool content;		/* get needs a second user's approval */
	bool metadata;		/* so do show, search results and proofs */
	int64_t seconds;	/* how long an approval lasts (the shortest
				   among the rules that ask for four-eyes) */
} policy_four_eyes_rule;

/*
 * policy_four_eyes - what four-eyes the current policy asks for a message
 * whose parties (envelope sender and local recipients, as stored with it)
 * are these addresses: each address's domain picks its rule as in
 * evaluation, and any rule with four_eyes = yes makes it apply.
 */
void policy_four_eyes(const policy *p, const char *const *addresses,
		      size_t n, policy_four_eyes_rule *out);

/* policy_role_is_builtin - is name "admin" or "auditor"? */
bool policy_role_is_builtin(const char *name);

/* policy_describe - the parsed policy as text (for "policy check");
 * malloc'ed, owned by the caller: free() */
char *policy_describe(const policy *p);

/* policy_mode_name / policy_direction_name - the word for the value */
const char *policy_mode_name(policy_mode mode);
const char *policy_direction_name(policy_direction direction);

#endif /* MAILKEEP_POLICY_H */
