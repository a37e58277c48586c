/*
 * apply.c - policy apply, as the access service serves it.
 *
 * NAME
 *	apply - stored messages re-decided under the policy in force now
 *
 * DESCRIPTION
 *	A stored message keeps the decision it was stored under; on the
 *	day a regime changes, an admin re-decides them (mailkeep policy
 *	apply --reason TEXT [QUERY]).  The request is audited first (an
 *	"access" entry, action "policy_apply", with the reason and the
 *	terms): no entry, no work.  Then, under the holds lock: the holds
 *	synced and the full-text index brought up to the archive (every
 *	message weighed against every open hold), the messages the terms
 *	match collected (all of them without terms), and each one's
 *	decision made again by policy_evaluate() from its stored envelope
 *	sender, recipients and time of receipt, and handed to the archive
 *	(archive_redecide, docs/FORMAT.md 1.5), which compares it with the
 *	stored one and knows nothing of policies or holds.
 *
 *	Holds: a message an open hold covers is never removed nor stripped
 *	of its content here.  When the policy would keep nothing of it, its
 *	stored decision stands; when it would keep only metadata, its
 *	content stays and the rest of the decision applies.  Either way it
 *	is counted as held.
 *
 *	The words of a message whose content is dropped, or that goes,
 *	leave the full-text index through discovery_forget_*, as in expiry.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/internal.h"
#include "ingest/ingest.h"

#define APPLY_PROGRESS_EVERY	100	/* messages between progress frames */

/* The ids a run takes, collected before any is changed. */
typedef struct apply_ids {
	char (*v)[ARCHIVE_ID_LEN + 1];
	size_t n, cap;
	bool nomem;
} apply_ids;

/* One policy apply run. */
typedef struct applying {
	forgetting g;			/* first: the callbacks' context */
	archive_redecider *rd;
	uint64_t held, failed;
	char first_error[MK_ERROR_MAX + ARCHIVE_ID_LEN + 4];	/* the first */
} applying;

/* collect_id - archive_search_fn: one matching message's id */
static int
collect_id(const archive_message *msg, void *ctx)
{
	apply_ids *ids = ctx;
	char (*grown)[ARCHIVE_ID_LEN + 1];

	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? 2 * ids->cap : 256;
		if ((grown = realloc(ids->v, ids->cap * sizeof(*grown))) == NULL) {
			ids->nomem = true;
			return 1;
		}
		ids->v = grown;
	}
	snprintf(ids->v[ids->n++], ARCHIVE_ID_LEN + 1, "%s", msg->id);
	return 0;
}

/* collect - the ids of the messages the request's terms match */
static int
collect(answer *a, apply_ids *ids, mk_error *err)
{
	search_plan p;
	int rc;

	if (plan_search(a, &p, err) != 0) {
		plan_free(&p);
		return -1;
	}
	rc = plan_walk_all(a, &p, collect_id, ids, err);
	plan_free(&p);
	if (rc == 0 && ids->nomem)
		rc = mk_error_set(err, "out of memory collecting the messages");
	return rc;
}


/* redecide_msg - msg under the current policy, holds respected */
static int
redecide_msg(applying *x, const archive_message *msg, mk_error *err)
{
	policy_decision d;
	kept_decision k;
	const archive_policy *pol;
	int rc;

	if (policy_evaluate(x->g.a->pol, msg->mail_from,
			    (const char *const *)msg->rcpts, msg->n_rcpts,
			    msg->received_at / 1000000, &d, err) != 0)
		return -1;
	rc = kept_decision_take(&k, &d);
	policy_decision_free(&d);
	if (rc != 0) {
		kept_decision_free(&k);
		return mk_error_set(err, "out of memory");
	}
	pol = k.mode == POLICY_NONE ? NULL : &k.ap;
	if ((pol == NULL || (pol->content == ARCHIVE_METADATA
			     && msg->content == ARCHIVE_FULL))
	    && forgetting_held(&x->g, msg->id)) {
		x->held++;
		if (pol == NULL) {	/* the stored decision stands */
			kept_decision_free(&k);
			return 0;
		}
		k.ap.content = ARCHIVE_FULL;	/* its content stays */
	}
	rc = archive_redecide(x->rd, msg->id, pol, NULL, err);
	kept_decision_free(&k);
	return rc;
}

/* apply_one - message id re-decided; one that cannot be is counted and
 * the run goes on (verify names what is wrong with it) */
static int
apply_one(applying *x, const char *id)
{
	archive_message *msg;
	mk_error err;
	int rc;

	if (archive_lookup(x->g.a->ar, id, &msg, &err) != 0)
		return 0;	/* gone meanwhile (expired) */
	rc = redecide_msg(x, msg, &err);
	archive_message_free(msg);
	if (rc != 0 && x->failed++ == 0)
		snprintf(x->first_error, sizeof(x->first_error), "%s: %s", id,
			 err.msg);
	return 0;
}

/* summary - the end frame's members */
static json_t *
summary(const applying *x, size_t matched, const archive_redecide_stats *st,
	const discovery_forget_stats *fs)
{
	json_t *obj = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
				"dry_run", x->g.a->rq->dry_run,
				"messages", (json_int_t)matched,
				"unchanged", (json_int_t)st->same,
				"resealed", (json_int_t)st->resealed,
				"moved", (json_int_t)st->moved,
				"stripped", (json_int_t)st->stripped,
				"removed", (json_int_t)st->removed);

	json_object_update_new(obj, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I,"
				" s:I}", "kept_metadata",
				(json_int_t)st->kept_metadata, "held",
				(json_int_t)x->held, "failed",
				(json_int_t)x->failed, "groups",
				(json_int_t)st->groups, "rekeyed",
				(json_int_t)st->rekeyed, "bytes_freed",
				(json_int_t)st->bytes_freed, "words_forgotten",
				(json_int_t)fs->words));
	if (x->failed > 0)
		json_object_set_new(obj, "first_error",
				    json_string(x->first_error));
	return obj;
}

/* run_redecide - the archive's run over ids; answered */
static int
run_redecide(applying *x, const apply_ids *ids)
{
	archive_redecide_options o = { .now = time(NULL),
				       .dry_run = x->g.a->rq->dry_run,
				       .forget = forgetting_message,
				       .forget_words = forgetting_words,
				       .progress = forgetting_progress, .ctx = x };
	archive_redecide_stats st = { 0 };
	discovery_forget_stats fs = { 0 };
	mk_error err, end_err;
	size_t i;
	int rc;

	if (archive_redecide_begin(x->g.a->ar, &o, &x->rd, &err) != 0)
		return answer_error(x->g.a, "%s", err.msg);
	for (i = 0; i < ids->n && !x->g.a->gone; i++) {
		apply_one(x, ids->v[i]);
		if ((i + 1) % APPLY_PROGRESS_EVERY == 0 || i + 1 == ids->n)
			forgetting_progress("messages", i + 1, ids->n, x);
	}
	rc = archive_redecide_end(x->rd, &st, &err);
	if (discovery_forget_end(x->g.forget, &fs, &end_err) != 0 && rc == 0) {
		rc = -1;
		err = end_err;
	}
	x->g.forget = NULL;
	if (rc != 0)
		return answer_error(x->g.a, "policy apply stopped (the next run"
				    " goes on from here): %s", err.msg);
	if (x->g.held_errors > 0)
		return answer_error(x->g.a, "the holds could not be read for %llu"
				    " messages, which were kept",
				    (unsigned long long)x->g.held_errors);
	return answer_ok(x->g.a, summary(x, ids->n, &st, &fs));
}

/* apply_synced - catch up, collect, re-decide; answered */
static int
apply_synced(applying *x)
{
	apply_ids ids = { .v = NULL };
	mk_error err;

	if (holds_catch_up(x->g.a, x->g.di, &err) != 0)
		return answer_error(x->g.a, "the full-text index could not catch"
				    " up, nothing was changed: %s", err.msg);
	if (collect(x->g.a, &ids, &err) != 0)
		answer_error(x->g.a, "%s", err.msg);
	else if ((x->g.forget = discovery_forget_begin(x->g.di, x->g.a->ar,
						     &err)) == NULL)
		answer_error(x->g.a, "%s", err.msg);
	else
		run_redecide(x, &ids);
	discovery_forget_end(x->g.forget, NULL, NULL);
	free(ids.v);
	return 0;
}

/* serve_policy_apply - re-decide the matching messages (admin) */
int
serve_policy_apply(answer *a)
{
	applying x = { .g = { .a = a } };

	if (answer_permitted(a) != 0)	/* the entry, with the reason */
		return 0;
	pthread_mutex_lock(&a->s->holds_lock);
	if ((x.g.di = holds_open_synced(a)) != NULL) {
		apply_synced(&x);
		discovery_index_close(x.g.di);
	}
	pthread_mutex_unlock(&a->s->holds_lock);
	return 0;
}
