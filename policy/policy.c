/*
 * policy.c - the policy mailkeep applies.  See policy.h.
 */
#include "config.h"

#include <stdlib.h>

#include "policy/policy.h"

struct policy {
	policy_mode default_mode;
};

/* policy_default - archive everything in full */
policy *
policy_default(void)
{
	policy *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->default_mode = POLICY_FULL;
	return p;
}

/* policy_load - per-domain policy files are not read by this release */
policy *
policy_load(const char *path, mk_error *err)
{
	mk_error_set(err, "%s: per-domain policy files are not supported by"
		     " this release of mailkeep; remove the \"policy\" key to"
		     " archive every message in full", path);
	return NULL;
}

/* policy_free - free a policy */
void
policy_free(policy *p)
{
	free(p);
}

/* policy_evaluate - the default mode applies to every message */
policy_decision
policy_evaluate(const policy *p, const char *mail_from,
		const char *const *rcpts, size_t n_rcpts)
{
	policy_decision d = { p->default_mode, "default" };

	(void)mail_from;
	(void)rcpts;
	(void)n_rcpts;
	return d;
}

/* policy_mode_name - the word for a mode */
const char *
policy_mode_name(policy_mode mode)
{
	switch (mode) {
	case POLICY_NONE:
		return "none";
	case POLICY_METADATA:
		return "metadata";
	case POLICY_FULL:
		return "full";
	}
	return "unknown";
}
