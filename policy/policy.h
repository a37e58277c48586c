/*
 * policy.h - which messages mailkeep keeps, and how.
 *
 * Pure functions: a policy is data, evaluating it does no I/O.  This
 * release knows one policy, the default: every message is archived in
 * full and kept indefinitely.  The per-domain policy file (modes none,
 * metadata and full per domain, retention, access roles) is built on this
 * interface next.
 */
#ifndef MAILKEEP_POLICY_H
#define MAILKEEP_POLICY_H

#include <stddef.h>

#include "common/error.h"

typedef enum {
	POLICY_NONE = 0,	/* keep nothing about the message */
	POLICY_METADATA,	/* traffic data only */
	POLICY_FULL		/* the whole message */
} policy_mode;

typedef struct policy policy;	/* opaque */

typedef struct policy_decision {
	policy_mode mode;
	const char *rule;	/* which rule decided, for the record */
} policy_decision;

/* policy_default - the built-in policy: everything in full; caller frees */
policy *policy_default(void);

/* policy_load - parse a policy file; NULL and err naming file:line on error */
policy *policy_load(const char *path, mk_error *err);

/* policy_free - free a policy; NULL is fine */
void policy_free(policy *p);

/* policy_evaluate - the decision for a message with these parties */
policy_decision policy_evaluate(const policy *p, const char *mail_from,
				const char *const *rcpts, size_t n_rcpts);

/* policy_mode_name - "none", "metadata" or "full" */
const char *policy_mode_name(policy_mode mode);

#endif /* MAILKEEP_POLICY_H */
