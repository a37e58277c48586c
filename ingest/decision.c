/*
 * decision.c - a message's policy decision, kept (ingest.h).
 *
 * NAME
 *	decision - policy_decision into archive_policy, owned by the caller
 *
 * DESCRIPTION
 *	policy_evaluate() answers with strings that live in the policy; a
 *	SIGHUP may replace the policy while the message is still arriving,
 *	so the milter (from the first header to the end of the message) and
 *	import (for each message) keep their own copy, in the form the
 *	archive takes (archive_policy).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/ingest.h"

/* dup_or_null - strdup that keeps NULL */
static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* kept_decision_take - copy d into k (k zeroed first); 0 or -1 (memory;
 * k is then still safe to kept_decision_free()) */
int
kept_decision_take(kept_decision *k, const policy_decision *d)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	k->mode = d->mode;
	k->notice = d->notice;
	k->roles = calloc(d->n_roles + 1, sizeof(char *));
	k->parties = calloc(d->n_parties + 1, sizeof(archive_party));
	if (k->roles == NULL || k->parties == NULL)
		return -1;
	k->ap.n_roles = d->n_roles;	/* counts first: free walks them */
	k->ap.n_parties = d->n_parties;
	if ((k->notice_header = dup_or_null(d->notice_header)) == NULL
	    || (k->direction = strdup(policy_direction_name(d->direction))) == NULL)
		return -1;
	for (i = 0; i < d->n_roles; i++)
		if ((k->roles[i] = strdup(d->roles[i])) == NULL)
			return -1;
	for (i = 0; i < d->n_parties; i++)
		if ((k->parties[i].address = dup_or_null(d->parties[i].address)) == NULL
		    || (k->parties[i].rule = strdup(d->parties[i].rule)) == NULL)
			return -1;
	k->ap.content = d->mode == POLICY_METADATA ? ARCHIVE_METADATA : ARCHIVE_FULL;
	k->ap.direction = k->direction;
	k->ap.retain_until = d->retain_until;
	k->ap.roles = (const char *const *)k->roles;
	k->ap.parties = k->parties;
	return 0;
}

/* kept_decision_free - free what kept_decision_take() copied */
void
kept_decision_free(kept_decision *k)
{
	size_t i;

	for (i = 0; k->roles != NULL && i < k->ap.n_roles; i++)
		free(k->roles[i]);
	for (i = 0; k->parties != NULL && i < k->ap.n_parties; i++) {
		free((char *)k->parties[i].address);
		free((char *)k->parties[i].rule);
	}
	free(k->roles);
	free(k->parties);
	free(k->direction);
	free(k->notice_header);
	memset(k, 0, sizeof(*k));
}

/* kept_decision_notice - the notice header's value into buf */
void
kept_decision_notice(const kept_decision *k, const char *id, char *buf,
		     size_t size)
{
	char until[32] = "indefinitely";
	time_t t = (time_t)k->ap.retain_until - 86400;	/* the last day kept */
	struct tm tm;

	if (k->ap.retain_until != 0) {
		gmtime_r(&t, &tm);
		strftime(until, sizeof(until), "through %Y-%m-%d", &tm);
	}
	snprintf(buf, size, "this message was archived by mailkeep (%s, kept %s,"
		 " archive id %s)", policy_mode_name(k->mode), until, id);
}
