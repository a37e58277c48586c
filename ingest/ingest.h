/*
 * ingest.h - what every way into the archive shares: the policy's
 * decision in the form the archive stores.
 *
 * NAME
 *	ingest - a message's policy decision, kept
 *
 * SYNOPSIS
 *	#include "ingest/ingest.h"
 *
 * DESCRIPTION
 *	Mail comes into the archive two ways: mailkeep-milter, as the MTA
 *	receives it, and mailkeep import (through mailkeep-access), for
 *	mail that predates the milter.  Both ask the policy
 *	(policy_evaluate()) and hand the archive the answer as an
 *	archive_policy; this is that translation, in one place.
 *
 *	policy_evaluate() answers with strings that live in the policy; a
 *	reload may replace the policy while a message is still arriving,
 *	so the caller keeps its own copy (kept_decision) until the message
 *	is stored.
 *
 *	It knows the policy's and the archive's types and nothing else: no
 *	milter, no service.
 */
#ifndef MAILKEEP_INGEST_H
#define MAILKEEP_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "archive/archive.h"
#include "policy/policy.h"

/* A policy decision copied for one message, in the archive's form. */
typedef struct kept_decision {
	policy_mode mode;
	bool notice;
	char *notice_header;
	char *direction;
	char **roles;
	archive_party *parties;
	archive_policy ap;	/* points into the fields above */
} kept_decision;

/* kept_decision_take - copy d into k (k zeroed first); 0 or -1 (memory;
 * k is then still safe to kept_decision_free()) */
int kept_decision_take(kept_decision *k, const policy_decision *d);

/* kept_decision_free - free what kept_decision_take() copied */
void kept_decision_free(kept_decision *k);

/* kept_decision_notice - the notice header's value for message id */
void kept_decision_notice(const kept_decision *k, const char *id, char *buf,
			  size_t size);

#endif /* MAILKEEP_INGEST_H */
