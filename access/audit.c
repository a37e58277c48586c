/*
 * audit.c - the audit trail: written into the ledger, read back from it.
 *
 * NAME
 *	audit - one ledger entry for every access, and the listing of them
 *
 * DESCRIPTION
 *	An audit entry is a ledger entry of event "access" (docs/FORMAT.md):
 *
 *	  {"event":"access","time":USEC,"uid":U,"user":NAME,"via":HOW,
 *	   "action":WORD,"query":{...}|null,"ids":[...],
 *	   "outcome":"granted"|"refused"|"error", "why":TEXT (not granted),
 *	   "asks":WORD,"reason":TEXT (request), "request":N (approve,
 *	   deny), "until":USEC (approve)}
 *
 *	It is appended, and fsynced, before the answer it records leaves:
 *	the caller of access_audit_write() answers only when it returned 0.
 *	The ledger is a Merkle tree whose entries also hash their
 *	predecessor, so verify names an entry that was edited.
 *
 *	access_audit_list() reads the ledger line by line (memory does not
 *	grow with it) and passes on the access entries a filter lets
 *	through.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "access/internal.h"

/* outcome_name - the word of an outcome */
static const char *
outcome_name(access_outcome o)
{
	return o == ACCESS_GRANTED ? "granted"
	    : o == ACCESS_REFUSED ? "refused" : "error";
}

/* query_value - the query terms, parsed, or null */
static json_t *
query_value(const char *query_json)
{
	json_t *q;

	if (query_json == NULL)
		return json_null();
	q = json_loads(query_json, 0, NULL);
	return q != NULL ? q : json_null();
}

/* add_extras - the members of requests, approvals and denials */
static int
add_extras(json_t *obj, const access_audit *a)
{
	int bad = 0;

	if (a->op == ACCESS_OP_REQUEST) {
		bad |= json_object_set_new(obj, "asks",
					   json_string(access_op_name(a->asks)));
		bad |= json_object_set_new(obj, "reason", a->reason ?
					   json_string(a->reason) : json_null());
	}
	if (a->hold != NULL)
		bad |= json_object_set_new(obj, "hold", json_string(a->hold));
	if (a->terms != NULL)
		bad |= json_object_set_new(obj, "terms", json_string(a->terms));
	if (a->hold != NULL && a->op != ACCESS_OP_HOLDS)
		bad |= json_object_set_new(obj, "reason", a->reason ?
					   json_string(a->reason) : json_null());
	if (a->op == ACCESS_OP_POLICY_APPLY)
		bad |= json_object_set_new(obj, "reason", a->apply_reason ?
					   json_string(a->apply_reason)
					   : json_null());
	if (a->number > 0)
		bad |= json_object_set_new(obj, "request", json_integer(a->number));
	if (a->until > 0)
		bad |= json_object_set_new(obj, "until", json_integer(a->until));
	if (a->outcome != ACCESS_GRANTED)
		bad |= json_object_set_new(obj, "why", json_string(a->why ?
					   a->why : outcome_name(a->outcome)));
	return bad;
}

/* audit_object - the entry as a JSON object, or NULL */
static json_t *
audit_object(const access_identity *who, const access_audit *a)
{
	json_t *obj = json_object();
	int bad;

	if (obj == NULL)
		return NULL;
	bad = json_object_set_new(obj, "event", json_string("access"));
	bad |= json_object_set_new(obj, "time", json_integer(mk_now_usec()));
	bad |= json_object_set_new(obj, "uid", json_integer(who->uid));
	bad |= json_object_set_new(obj, "user", json_string(who->user));
	bad |= json_object_set_new(obj, "via", json_string(who->via));
	bad |= json_object_set_new(obj, "action",
				   json_string(access_op_name(a->op)));
	bad |= json_object_set_new(obj, "query", query_value(a->query_json));
	bad |= json_object_set_new(obj, "ids", wire_strings(a->ids, a->n_ids));
	bad |= json_object_set_new(obj, "outcome",
				   json_string(outcome_name(a->outcome)));
	bad |= add_extras(obj, a);
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* access_audit_write - the entry into the ledger, durably */
int
access_audit_write(archive *ar, const access_identity *who,
		   const access_audit *a, int64_t *seq, mk_error *err)
{
	json_t *obj = audit_object(who, a);
	char *text;
	int rc;

	text = obj != NULL ? json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII
					| JSON_PRESERVE_ORDER) : NULL;
	json_decref(obj);
	if (text == NULL)
		return mk_error_set(err, "out of memory");
	rc = archive_log_event(ar, text, seq, err);
	free(text);
	return rc;
}

/* put_term - a query term into q when set */
static void
put_term(json_t *q, const char *name, const char *value)
{
	if (value != NULL && *value != '\0')
		json_object_set_new(q, name, json_string(value));
}

/* put_number - a numeric term into q when non-zero */
static void
put_number(json_t *q, const char *name, int64_t value)
{
	if (value != 0)
		json_object_set_new(q, name, json_integer(value));
}

/* access_audit_query - the query terms of rq as JSON text, or NULL */
char *
access_audit_query(const access_request *rq)
{
	json_t *q = json_object();
	char *text = NULL;

	if (q == NULL)
		return NULL;
	put_term(q, "from", rq->query.from);
	put_term(q, "to", rq->query.to);
	put_term(q, "message_id", rq->query.message_id);
	put_term(q, "q", rq->q);
	put_term(q, "user", rq->user);
	put_term(q, "action", rq->action);
	put_term(q, "message", rq->message);
	put_number(q, "since", rq->since);
	put_number(q, "until", rq->until);
	put_number(q, "limit", (int64_t)rq->limit);
	put_number(q, "offset", (int64_t)rq->offset);
	if (rq->count)
		json_object_set_new(q, "count", json_true());
	put_term(q, "name", rq->name);
	put_term(q, "kind", rq->kind);
	if (rq->n_sources > 0)
		json_object_set_new(q, "sources", wire_strings(
				    (const char *const *)rq->sources,
				    rq->n_sources));
	put_number(q, "received_at", rq->received_at);
	if (rq->dry_run)
		json_object_set_new(q, "dry_run", json_true());
	if (rq->keys_pem != NULL)
		json_object_set_new(q, "pinned_keys", json_true());
	if (json_object_size(q) > 0)
		text = json_dumps(q, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(q);
	return text;
}

/* granted_entry - line as a granted access entry, with its action */
json_t *
granted_entry(const char *line, size_t len, const char **action)
{
	json_t *obj;
	const char *outcome;

	if (strstr(line, "\"event\":\"access\"") == NULL
	    || (obj = json_loadb(line, len, 0, NULL)) == NULL)
		return NULL;
	*action = json_string_value(json_object_get(obj, "action"));
	outcome = json_string_value(json_object_get(obj, "outcome"));
	if (*action != NULL && outcome != NULL && strcmp(outcome, "granted") == 0)
		return obj;
	json_decref(obj);
	return NULL;
}

/* A listing in progress. */
typedef struct audit_walk {
	const access_audit_filter *f;
	access_entry_fn fn;
	void *ctx;
	size_t passed;
} audit_walk;

/* has_id - is id among the entry's ids? */
static bool
has_id(json_t *obj, const char *id)
{
	json_t *ids = json_object_get(obj, "ids"), *v;
	size_t i;

	json_array_foreach(ids, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return true;
	return false;
}

/* user_matches - the entry's user name or uid is f->user */
static bool
user_matches(json_t *obj, const char *want)
{
	const char *user = json_string_value(json_object_get(obj, "user"));
	char uid[32];

	snprintf(uid, sizeof(uid), "%lld",
		 (long long)json_integer_value(json_object_get(obj, "uid")));
	return (user != NULL && strcmp(user, want) == 0)
	    || strcmp(uid, want) == 0;
}

/* entry_passes - is obj an access entry the filter lets through? */
static bool
entry_passes(json_t *obj, const access_audit_filter *f)
{
	const char *event = json_string_value(json_object_get(obj, "event"));
	const char *action = json_string_value(json_object_get(obj, "action"));
	json_int_t when = json_integer_value(json_object_get(obj, "time"));

	if (event == NULL || strcmp(event, "access") != 0)
		return false;
	if (f->user != NULL && !user_matches(obj, f->user))
		return false;
	if (f->action != NULL && (action == NULL || strcmp(action, f->action) != 0))
		return false;
	if (f->message != NULL && *f->message && !has_id(obj, f->message))
		return false;
	if (f->since != 0 && when < f->since)
		return false;
	return f->until == 0 || when < f->until;
}

/* walk_line - archive_ledger_each: one ledger line */
static int
walk_line(int64_t pos, const char *line, size_t len, void *ctx)
{
	audit_walk *w = ctx;
	json_t *obj;
	int rc = 0;

	(void)pos;
	if (strstr(line, "\"event\":\"access\"") == NULL)
		return 0;	/* cheap: most lines are "stored" */
	obj = json_loadb(line, len, 0, NULL);
	if (obj != NULL && entry_passes(obj, w->f)) {
		rc = w->fn(line, len, w->ctx);
		if (rc == 0 && w->f->limit > 0 && ++w->passed >= w->f->limit)
			rc = 1;
	}
	json_decref(obj);
	return rc;
}

/* access_audit_list - the access entries f lets through, oldest first */
int
access_audit_list(archive *ar, const access_audit_filter *f,
		  access_entry_fn fn, void *ctx, mk_error *err)
{
	audit_walk w = { f, fn, ctx, 0 };

	return archive_ledger_each(ar, walk_line, &w, err);
}
