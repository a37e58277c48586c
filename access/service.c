/*
 * service.c - the choke point: every read of the archive by a person.
 *
 * NAME
 *	service - decide, audit, answer
 *
 * DESCRIPTION
 *	access_serve() answers one typed request for one identity.  Each
 *	operation follows the same three steps (access.h): the decision
 *	(decide.c), the audit entry (audit.c), then the answer - never the
 *	answer before its entry is on disk.
 *
 *	A message the caller may not see and a message that does not exist
 *	get the same answer ("no message ID"), and the same work: one index
 *	lookup and one ledger append (refused, with the true reason for the
 *	auditors).
 *
 *	A search runs twice over the index, like the offline one: the first
 *	pass collects the ids the caller may see (at most ACCESS_MAX_RESULTS;
 *	ids only, ARCHIVE_ID_LEN + 1 bytes each), the entry records them,
 *	the second pass streams those messages out one frame at a time.
 *
 *	An export is a search whose ids are decided as a get each (a role
 *	covering the message, a live four-eyes approval where the policy
 *	asks for one): one audit entry names every id exported, a checkpoint
 *	is signed so that each proof has one covering it, then the keys
 *	frame, and for each message a 'J' frame (its metadata, inclusion
 *	proof and signed record) followed by its content as 'D' frames.
 *	The service holds one message's chunk at a time: the client writes.
 *
 *	Each request opens the archive for itself (ARCHIVE_READ): requests
 *	share nothing but the policy (reference-counted, so a reload never
 *	frees one in use) and the four-eyes book (one mutex).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/internal.h"
#include "discovery/discovery.h"

#define DATA_CHUNK	65536	/* bytes of content in one 'D' frame */

/* answer_frame - one frame to the client, once it is gone no more */
int
answer_frame(answer *a, char type, const void *buf, size_t len)
{
	if (!a->gone && a->emit(type, buf, len, a->ctx) != 0)
		a->gone = true;
	return a->gone ? -1 : 0;
}

/* answer_json - obj (consumed) as a frame of type */
int
answer_json(answer *a, char type, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)
			 : NULL;
	int rc;

	json_decref(obj);
	if (text == NULL)
		return answer_frame(a, ACCESS_FRAME_END,
				 "{\"ok\":false,\"error\":\"out of memory\"}", 37);
	rc = answer_frame(a, type, text, strlen(text));
	free(text);
	return rc;
}

/* answer_ok - the end frame of a good answer, with extra members */
int
answer_ok(answer *a, json_t *extra)
{
	json_t *obj = extra ? extra : json_object();

	json_object_set_new(obj, "ok", json_true());
	return answer_json(a, ACCESS_FRAME_END, obj);
}

/* answer_error - the end frame of a refused or failed answer */
int
answer_error(answer *a, const char *fmt, ...)
{
	char msg[MK_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return answer_json(a, ACCESS_FRAME_END,
			json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

/* answer_audit - write the entry of this answer; 0, or -1 after telling the
 * client that the access is refused for want of its record */
int
answer_audit(answer *a, access_audit *entry, int64_t *seq)
{
	char *query = access_audit_query(a->rq);
	mk_error err;
	int rc;

	entry->op = a->rq->op;
	if (entry->op == ACCESS_OP_POLICY_APPLY && entry->apply_reason == NULL)
		entry->apply_reason = a->rq->reason;
	entry->query_json = query;
	rc = access_audit_write(a->ar, a->who, entry, seq, &err);
	free(query);
	if (rc != 0)
		answer_error(a, "cannot record the access, refusing it: %s",
			     err.msg);
	return rc;
}

/* party_addresses - the addresses of the parties stored with msg, into
 * a malloc'ed array (strings point into *doc, which the caller frees) */
static size_t
party_addresses(const archive_message *msg, json_t **doc,
		const char ***out)
{
	json_t *parties, *v;
	size_t i, n = 0;

	*doc = msg->policy_json ? json_loads(msg->policy_json, 0, NULL) : NULL;
	parties = json_object_get(*doc, "parties");
	*out = calloc(json_array_size(parties) + 1, sizeof(**out));
	if (*out == NULL)
		return 0;
	json_array_foreach(parties, i, v) {
		const char *addr = json_string_value(json_object_get(v, "address"));

		if (addr != NULL)
			(*out)[n++] = addr;
	}
	return n;
}

/* subject_rule - msg's roles and four-eyes rule, without the caller's
 * approvals (so without the book's lock, which approve and deny hold) */
static void
subject_rule(answer *a, const archive_message *msg, access_subject *sub)
{
	const char **addrs;
	json_t *doc;
	size_t n = party_addresses(msg, &doc, &addrs);

	memset(sub, 0, sizeof(*sub));
	sub->roles = (const char *const *)msg->roles;
	sub->n_roles = msg->n_roles;
	policy_four_eyes(a->pol, addrs, n, &sub->four_eyes);
	free(addrs);
	json_decref(doc);
}

/* subject_of - what the decision needs to know of msg for the caller;
 * takes the book's lock: not for callers holding it */
static void
subject_of(answer *a, const archive_message *msg, access_subject *sub)
{
	int64_t now = mk_now_usec();
	mk_error err;

	subject_rule(a, msg, sub);
	if (!sub->four_eyes.content)
		return;
	pthread_mutex_lock(&a->s->book.lock);
	if (book_sync(&a->s->book, a->ar, &err) == 0) {	/* else: none */
		sub->approved_get = book_live(&a->s->book, a->who->uid,
					      msg->id, ACCESS_OP_GET, now);
		sub->approved_show = book_live(&a->s->book, a->who->uid,
					       msg->id, ACCESS_OP_SHOW, now);
	}
	pthread_mutex_unlock(&a->s->book.lock);
}

/* refuse - the answer to a refused operation on message id: one that
 * is not the caller's to see is answered as one that does not exist */
static int
refuse(answer *a, access_verdict v, const char *id)
{
	switch (v) {
	case ACCESS_NEEDS_APPROVAL:
		return answer_error(a, "message %s is released only after a"
				    " second person approves: mailkeep request"
				    " %s %s --reason TEXT", id,
				    a->rq->op == ACCESS_OP_GET ? "get" : "show",
				    id);
	case ACCESS_NOT_NEEDED:
		return answer_error(a, "message %s needs no approval: four-eyes"
				    " does not apply to it", id);
	default:
		return answer_error(a, "no message %s", id);
	}
}

/* lookup_decided - the message rq->id and the decision for op on it,
 * audited; *msg owned by the caller.  0 when granted; -1 when the answer
 * is already given (refused, unknown, or the audit failed). */
static int
lookup_decided(answer *a, access_op op, archive_message **msg,
	       access_subject *sub)
{
	const char *ids[1] = { a->rq->id };
	access_audit entry = { .ids = ids, .n_ids = 1 };
	access_verdict v = ACCESS_NO_ROLE;
	bool recorded;
	mk_error err;

	*msg = NULL;
	if (archive_lookup(a->ar, a->rq->id, msg, &err) == 0) {
		subject_of(a, *msg, sub);
		sub->asks = a->rq->asks;
		v = access_decide(a->who, op, sub);
	}
	entry.outcome = v == ACCESS_OK ? ACCESS_GRANTED : ACCESS_REFUSED;
	entry.why = *msg == NULL ? "no such message" : access_verdict_text(v);
	entry.asks = a->rq->asks;
	entry.reason = a->rq->reason;
	if (op == ACCESS_OP_REQUEST && v == ACCESS_OK)
		return 0;	/* its entry is the request: serve_request */
	recorded = answer_audit(a, &entry, NULL) == 0;	/* else answer_audit() refused it */
	if (recorded && v != ACCESS_OK)
		refuse(a, v, a->rq->id);
	if (!recorded || v != ACCESS_OK || a->gone) {
		archive_message_free(*msg);
		*msg = NULL;
		return -1;
	}
	return 0;
}

/* serve_show - the metadata of one message */
static int
serve_show(answer *a)
{
	access_subject sub;
	archive_message *msg;
	char *text;

	if (lookup_decided(a, ACCESS_OP_SHOW, &msg, &sub) != 0)
		return 0;
	text = access_message_json(msg, NULL);
	archive_message_free(msg);
	if (text == NULL)
		return answer_error(a, "out of memory");
	answer_frame(a, ACCESS_FRAME_ITEM, text, strlen(text));
	free(text);
	return answer_ok(a, NULL);
}

/* content_sink - archive_read: content bytes as 'D' frames */
static int
content_sink(const void *buf, size_t len, void *ctx)
{
	answer *a = ctx;
	const char *p = buf;
	size_t n;

	while (len > 0) {
		n = len > DATA_CHUNK ? DATA_CHUNK : len;
		if (answer_frame(a, ACCESS_FRAME_DATA, p, n) != 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* failed_after_grant - a granted read of rq->id that could not be given:
 * an "error" entry after the "granted" one, then the error to the client */
static int
failed_after_grant(answer *a, const char *why)
{
	const char *ids[1] = { a->rq->id };
	access_audit failed = { .outcome = ACCESS_ERROR, .why = why,
				.ids = ids, .n_ids = 1 };

	if (a->gone)
		return 0;
	if (answer_audit(a, &failed, NULL) == 0)
		answer_error(a, "%s", why);
	return 0;
}

/* serve_get - the content of one message */
static int
serve_get(answer *a)
{
	access_subject sub;
	archive_message *msg;
	mk_error err;
	int rc;

	if (lookup_decided(a, ACCESS_OP_GET, &msg, &sub) != 0)
		return 0;
	if (msg->content == ARCHIVE_METADATA) {
		archive_message_free(msg);
		snprintf(err.msg, sizeof(err.msg), "message %s was kept as"
			 " metadata only: there is no content to get", a->rq->id);
		return failed_after_grant(a, err.msg);
	}
	rc = archive_read(a->ar, msg->id, content_sink, a, &err);
	archive_message_free(msg);
	if (rc == 0)
		return answer_ok(a, NULL);
	return failed_after_grant(a, err.msg);
}

/* serve_proof - the inclusion proof of one message */
static int
serve_proof(answer *a)
{
	access_subject sub;
	archive_message *msg;
	archive_proof *p;
	mk_error err;

	if (lookup_decided(a, ACCESS_OP_PROOF, &msg, &sub) != 0)
		return 0;
	archive_message_free(msg);
	if (archive_ledger_proof(a->ar, a->rq->id, &p, &err) != 0)
		return failed_after_grant(a, err.msg);
	answer_json(a, ACCESS_FRAME_ITEM, access_proof_json(p));
	archive_proof_free(p);
	return answer_ok(a, NULL);
}

/* answer_permitted - verify, audit, status, holds, expire: decided and
 * audited; 0 when granted */
int
answer_permitted(answer *a)
{
	access_verdict v = access_decide(a->who, a->rq->op, NULL);
	access_audit entry = { .outcome = v == ACCESS_OK ? ACCESS_GRANTED
						      : ACCESS_REFUSED,
			       .why = access_verdict_text(v) };

	if (answer_audit(a, &entry, NULL) != 0)
		return -1;
	if (v == ACCESS_OK)
		return 0;
	if (v == ACCESS_NO_ROLES)
		answer_error(a, "permission denied: %s needs a role in the"
			     " policy", access_op_name(a->rq->op));
	else if (v == ACCESS_NEEDS_ADMIN)
		answer_error(a, "permission denied: %s needs the role admin",
			     access_op_name(a->rq->op));
	else
		answer_error(a, "permission denied: %s needs the role auditor"
			     " or admin", access_op_name(a->rq->op));
	return -1;
}

/* verify_problem - archive_problem_fn: one problem as an item */
static void
verify_problem(const char *kind, const char *object, const char *detail,
	       void *ctx)
{
	answer_json(ctx, ACCESS_FRAME_ITEM, json_pack("{s:s, s:s, s:s}", "kind",
		 kind, "object", object, "detail", detail));
}

/* verify_progress - archive_progress_fn: a progress frame per phase and
 * every 1 % of it */
static void
verify_progress(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	if (total > 100 && done % (total / 100) != 0 && done != total)
		return;
	answer_json(ctx, ACCESS_FRAME_PROGRESS, json_pack("{s:s, s:I, s:I}",
		 "phase", phase, "done", (json_int_t)done,
		 "total", (json_int_t)total));
}

/* serve_verify - check the archive, for auditors and admins */
static int
serve_verify(answer *a)
{
	archive_verify_stats st;
	mk_error err;

	if (answer_permitted(a) != 0)
		return 0;
	if (archive_verify(a->ar, a->rq->keys_pem, verify_problem,
			   verify_progress, a, &st, &err) != 0)
		return answer_error(a, "verify could not finish: %s", err.msg);
	return answer_ok(a, access_verify_json(&st));
}

/* audit_item - access_entry_fn: one audit entry as an item */
static int
audit_item(const char *entry, size_t len, void *ctx)
{
	return answer_frame(ctx, ACCESS_FRAME_ITEM, entry, len) != 0 ? -1 : 0;
}

/* serve_audit - the audit trail, for auditors and admins */
static int
serve_audit(answer *a)
{
	const access_request *rq = a->rq;
	access_audit_filter f = { rq->user, rq->message, rq->action,
				  rq->since, rq->until, rq->limit };
	mk_error err;

	if (answer_permitted(a) != 0)
		return 0;
	err.msg[0] = '\0';
	if (access_audit_list(a->ar, &f, audit_item, a, &err) != 0) {
		if (a->gone)
			return 0;
		return answer_error(a, "reading the ledger: %s", err.msg);
	}
	return answer_ok(a, NULL);
}

/* serve_status - how far the full-text index has got */
static int
serve_status(answer *a)
{
	discovery_index *di;
	discovery_status st;
	mk_error err;
	int rc;

	if (answer_permitted(a) != 0)
		return 0;
	if ((di = discovery_index_open(a->s->archive_dir, &err)) == NULL)
		return answer_error(a, "%s", err.msg);
	rc = discovery_index_status(di, a->ar, &st, &err);
	discovery_index_close(di);
	if (rc != 0)
		return answer_error(a, "%s", err.msg);
	answer_json(a, ACCESS_FRAME_ITEM, access_status_json(&st));
	return answer_ok(a, NULL);
}

/* serve_whoami - the caller as the service sees them */
static int
serve_whoami(answer *a)
{
	json_t *roles = json_array();
	size_t i;

	for (i = 0; i < a->who->n_roles; i++)
		json_array_append_new(roles, json_string(a->who->roles[i]));
	answer_json(a, ACCESS_FRAME_ITEM, json_pack("{s:I, s:s, s:o, s:s}",
		 "uid", (json_int_t)a->who->uid, "user", a->who->user,
		 "roles", roles, "via", a->who->via));
	return answer_ok(a, NULL);
}

/* The ids a search may show, and which of them are withheld. */
typedef struct found_ids {
	char (*ids)[ARCHIVE_ID_LEN + 2];	/* id, then '1' if withheld */
	size_t n, cap;
	size_t max;
	size_t skip;			/* visible matches still to pass over */
	bool truncated;
	bool nomem;
	size_t withheld;		/* export: four-eyes, not approved */
	answer *a;
} found_ids;

/* found_add - keep id (withheld: listed by id only) unless the bound is
 * reached; 1 to stop the pass */
static int
found_add(found_ids *f, const char *id, bool withheld)
{
	void *grown;

	if (f->n == f->max) {
		f->truncated = f->max == ACCESS_MAX_RESULTS;
		return 1;
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		if ((grown = reallocarray(f->ids, f->cap, sizeof(*f->ids))) == NULL)
			return f->nomem = true, 1;
		f->ids = grown;
	}
	memcpy(f->ids[f->n], id, ARCHIVE_ID_LEN);
	f->ids[f->n][ARCHIVE_ID_LEN] = withheld ? '1' : '\0';
	f->ids[f->n][ARCHIVE_ID_LEN + 1] = '\0';
	f->n++;
	return 0;
}

/* collect - first search pass: keep msg's id if the caller may see it */
static int
collect(const archive_message *msg, void *ctx)
{
	found_ids *f = ctx;
	access_subject sub;
	access_verdict v;

	subject_of(f->a, msg, &sub);
	v = access_decide(f->a->who, ACCESS_OP_SEARCH, &sub);
	if (v != ACCESS_OK && v != ACCESS_NEEDS_APPROVAL)
		return 0;
	if (f->skip > 0) {	/* --offset: visible, but before the page */
		f->skip--;
		return 0;
	}
	return found_add(f, msg->id, v != ACCESS_OK);
}

/* compare_found - qsort/bsearch order of collected ids */
static int
compare_found(const void *x, const void *y)
{
	return memcmp(x, y, ARCHIVE_ID_LEN);
}

/* audit_search - the search's entry, with every id it will show */
static int
audit_search(answer *a, const found_ids *f, int64_t *seq)
{
	const char **ptrs = calloc(f->n + 1, sizeof(*ptrs));
	char (*copies)[ARCHIVE_ID_LEN + 1] = calloc(f->n + 1, sizeof(*copies));
	access_audit entry = { .outcome = ACCESS_GRANTED };
	size_t i;
	int rc = -1;

	if (ptrs == NULL || copies == NULL)
		answer_error(a, "out of memory");
	else {
		for (i = 0; i < f->n; i++) {
			memcpy(copies[i], f->ids[i], ARCHIVE_ID_LEN);
			ptrs[i] = copies[i];
		}
		entry.ids = ptrs;
		entry.n_ids = f->n;
		rc = answer_audit(a, &entry, seq);
	}
	free(ptrs);
	free(copies);
	return rc;
}

/* A search's second pass. */
typedef struct shown {
	found_ids *f;
	const discovery_query *dq;	/* snippets of its words, or NULL */
	size_t sent;
} shown;

/* show_one - second search pass: a collected message as an item */
static int
show_one(const archive_message *msg, void *ctx)
{
	shown *sh = ctx;
	char (*hit)[ARCHIVE_ID_LEN + 2];
	char *text, *snippet;
	int rc;

	hit = bsearch(msg->id, sh->f->ids, sh->f->n, sizeof(*sh->f->ids),
		      compare_found);
	if (hit == NULL)
		return 0;
	if ((*hit)[ARCHIVE_ID_LEN] == '1')
		return answer_json(sh->f->a, ACCESS_FRAME_ITEM, json_pack("{s:s, s:s}",
				"id", msg->id, "withheld", "four-eyes")) != 0
		    || ++sh->sent == sh->f->n;
	snippet = sh->dq != NULL && sh->sent < DISCOVERY_SNIPPETS
	    ? discovery_snippet(sh->f->a->ar, msg, sh->dq) : NULL;
	text = access_message_json(msg, snippet);
	free(snippet);
	if (text == NULL)
		return 1;
	rc = answer_frame(sh->f->a, ACCESS_FRAME_ITEM, text, strlen(text));
	free(text);
	return rc != 0 || ++sh->sent == sh->f->n;
}

/* A pass over the messages a plan finds. */
typedef struct plan_walk {
	answer *a;
	search_plan *p;
	archive_search_fn fn;
	void *ctx;
} plan_walk;

/* via_envelope - archive_search: the row passes dq's envelope terms */
static int
via_envelope(const archive_message *msg, void *ctx)
{
	plan_walk *w = ctx;

	return discovery_envelope_matches(&w->p->dq, msg) ? w->fn(msg, w->ctx)
	    : 0;
}

/* via_hit - discovery_index_match: the hit's row, through the request's
 * filters and dq's envelope terms (a hit no longer in the index, e.g.
 * expired, is passed over) */
static int
via_hit(const char *id, int64_t seq, void *ctx)
{
	plan_walk *w = ctx;
	const archive_query *q = &w->p->q;
	archive_message *msg;
	mk_error err;
	int rc = 0;

	(void)seq;
	if (archive_lookup(w->a->ar, id, &msg, &err) != 0)
		return 0;
	if (msg->received_at >= q->since
	    && (q->until == 0 || msg->received_at < q->until)
	    && discovery_envelope_matches(&w->p->dq, msg))
		rc = w->fn(msg, w->ctx);
	archive_message_free(msg);
	return rc;
}

/* plan_walk_all - fn for every message of the plan, in its order */
int
plan_walk_all(answer *a, search_plan *p, archive_search_fn fn, void *ctx,
	      mk_error *err)
{
	plan_walk w = { a, p, fn, ctx };
	bool used = false;

	if (p->di != NULL && discovery_index_match(p->di, &p->dq, p->q.newest,
						   via_hit, &w, &used, err) != 0)
		return -1;
	if (used)
		return 0;
	return archive_search(a->ar, &p->q, via_envelope, &w, err);
}

/* member_terms - the request's from, to and message-id as query terms,
 * for the full-text path, where no SQL applies them */
static int
member_terms(search_plan *p, mk_error *err)
{
	const char *values[3] = { p->q.from, p->q.to, p->q.message_id };
	const discovery_field fields[3] = { DQ_FROM, DQ_TO, DQ_MESSAGE_ID };
	discovery_term *grown;
	size_t i;

	for (i = 0; i < 3; i++) {
		if (values[i] == NULL)
			continue;
		grown = realloc(p->dq.terms, (p->dq.n + 1) * sizeof(*grown));
		if (grown == NULL)
			return mk_error_set(err, "out of memory");
		p->dq.terms = grown;
		memset(&grown[p->dq.n], 0, sizeof(*grown));
		grown[p->dq.n].field = fields[i];
		if ((grown[p->dq.n].value = strdup(values[i])) == NULL)
			return mk_error_set(err, "out of memory");
		p->dq.n++;
	}
	return 0;
}

/* needs_fulltext - does dq have a term only the full-text index answers? */
static bool
needs_fulltext(const discovery_query *dq)
{
	size_t i;

	for (i = 0; i < dq->n; i++)
		if (!discovery_is_envelope_field(dq->terms[i].field))
			return true;
	return false;
}

/* plan_search - the plan of the request's search; -1 with err */
int
plan_search(answer *a, search_plan *p, mk_error *err)
{
	memset(p, 0, sizeof(*p));
	p->q = a->rq->query;
	p->q.limit = 0;		/* the caller's limit counts what it may see */
	if (a->rq->q != NULL && discovery_query_parse(a->rq->q, &p->dq, err) != 0)
		return -1;
	if (!needs_fulltext(&p->dq))
		return 0;
	if (member_terms(p, err) != 0)
		return -1;
	p->di = discovery_index_open(a->s->archive_dir, err);
	return p->di != NULL ? 0 : -1;
}

/* plan_free - what the plan holds */
void
plan_free(search_plan *p)
{
	discovery_query_free(&p->dq);
	discovery_index_close(p->di);
}

/* search_planned - collect, audit, show */
static void
search_planned(answer *a, search_plan *p, found_ids *f)
{
	shown sh = { f, p->di != NULL ? &p->dq : NULL, 0 };
	mk_error err;

	if (plan_walk_all(a, p, collect, f, &err) != 0)
		answer_error(a, "%s", err.msg);
	else if (f->nomem)
		answer_error(a, "out of memory collecting search results");
	else if (audit_search(a, f, NULL) == 0) {
		if (f->n > 0)
			qsort(f->ids, f->n, sizeof(*f->ids), compare_found);
		if (a->rq->count)	/* the number only, no item */
			answer_ok(a, json_pack("{s:I, s:b}", "count",
				  (json_int_t)f->n, "truncated", f->truncated));
		else if (f->n > 0 && plan_walk_all(a, p, show_one, &sh, &err) != 0)
			answer_error(a, "%s", err.msg);
		else if (!a->gone)
			answer_ok(a, json_pack("{s:I, s:b}", "count",
				  (json_int_t)sh.sent, "truncated", f->truncated));
	}
}

/* serve_planned - plan the request's search and hand it to run (search
 * or export), with the ids found bounded by the request's limit and
 * ACCESS_MAX_RESULTS; a query that cannot be planned is audited as an
 * error and answered with why */
static int
serve_planned(answer *a, size_t skip,
	      void (*run)(answer *, search_plan *, found_ids *))
{
	found_ids f = { .a = a, .max = ACCESS_MAX_RESULTS, .skip = skip };
	access_audit refused = { .outcome = ACCESS_ERROR };
	search_plan p;
	mk_error err;

	if (a->rq->query.limit > 0 && a->rq->query.limit < f.max)
		f.max = a->rq->query.limit;
	if (plan_search(a, &p, &err) != 0) {
		refused.why = err.msg;
		if (answer_audit(a, &refused, NULL) == 0)
			answer_error(a, "%s", err.msg);
	} else
		run(a, &p, &f);
	plan_free(&p);
	free(f.ids);
	return 0;
}

/* serve_search - the messages matching the query that the caller may see */
static int
serve_search(answer *a)
{
	return serve_planned(a, a->rq->offset, search_planned);
}

/* collect_export - first export pass: keep msg's id if the caller may
 * get it (the '1' mark: withheld, four-eyes) */
static int
collect_export(const archive_message *msg, void *ctx)
{
	found_ids *f = ctx;
	access_subject sub;
	access_verdict v;

	subject_of(f->a, msg, &sub);
	v = access_decide(f->a->who, ACCESS_OP_GET, &sub);
	if (v == ACCESS_NEEDS_APPROVAL)
		f->withheld++;
	if (v != ACCESS_OK)
		return 0;
	return found_add(f, msg->id, false);
}

/* put_key - archive_key_fn: one public key into the JSON array ctx */
static int
put_key(unsigned gen, const char *pem, size_t len, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:I, s:s%}", "gen",
				     (json_int_t)gen, "pem", pem, len));
}

/* put_keys - the first export frame: {"keys": [{gen, pem}, ...],
 * "custody": the proof of the export's own audit entry (seq)} */
static int
put_keys(answer *a, archive_prover *pv, int64_t seq, mk_error *err)
{
	json_t *keys = json_array(), *custody;
	archive_proof *p = NULL;

	if (keys == NULL)
		return mk_error_set(err, "out of memory");
	if (archive_public_keys(a->ar, put_key, keys, err) != 0
	    || archive_prover_entry(pv, seq, &p, err) != 0) {
		json_decref(keys);
		return -1;
	}
	custody = access_entry_proof_json(p);
	archive_proof_free(p);
	if (custody == NULL) {
		json_decref(keys);
		return mk_error_set(err, "out of memory");
	}
	return answer_json(a, ACCESS_FRAME_ITEM, json_pack("{s:o, s:o}", "keys",
			keys, "custody", custody));
}

/* An export's second pass. */
typedef struct exporting {
	found_ids *f;
	archive_prover *prover;		/* of the checkpoint signed for it */
	size_t sent;
	mk_error err;
	bool failed;
} exporting;

/* export_item - the 'J' frame of one exported message */
static int
export_item(answer *a, archive_prover *pv, const archive_message *msg,
	    mk_error *err)
{
	json_t *m = access_message_obj(msg, NULL);
	archive_proof *p;

	if (m == NULL)
		return mk_error_set(err, "out of memory");
	if (archive_prover_proof(pv, msg, &p, err) != 0) {
		json_decref(m);
		return -1;
	}
	answer_json(a, ACCESS_FRAME_ITEM, json_pack("{s:o, s:o}", "message", m,
		 "proof", access_proof_json(p)));
	archive_proof_free(p);
	return 0;
}

/* export_one - second export pass: a collected message, its item and its
 * content */
static int
export_one(const archive_message *msg, void *ctx)
{
	exporting *ex = ctx;
	answer *a = ex->f->a;

	if (bsearch(msg->id, ex->f->ids, ex->f->n, sizeof(*ex->f->ids),
		    compare_found) == NULL)
		return 0;
	if (export_item(a, ex->prover, msg, &ex->err) != 0
	    || (!a->gone && msg->content == ARCHIVE_FULL
		&& archive_read(a->ar, msg->id, content_sink, a, &ex->err) != 0)) {
		ex->failed = true;
		return 1;
	}
	return a->gone || ++ex->sent == ex->f->n;
}

/* export_failed - an export that broke after it was granted: its "error"
 * entry, then the error to the client */
static void
export_failed(answer *a, const char *why)
{
	access_audit failed = { .outcome = ACCESS_ERROR, .why = why };

	if (!a->gone && answer_audit(a, &failed, NULL) == 0)
		answer_error(a, "export failed: %s", why);
}

/* export_planned - collect, audit, sign a checkpoint, stream */
static void
export_planned(answer *a, search_plan *p, found_ids *f)
{
	exporting ex = { .f = f };
	int64_t seq = 0;
	mk_error err;

	if (plan_walk_all(a, p, collect_export, f, &err) != 0)
		answer_error(a, "%s", err.msg);
	else if (f->nomem)
		answer_error(a, "out of memory collecting the export");
	else if (audit_search(a, f, &seq) != 0)
		return;
	else if (archive_checkpoint_now(a->ar, &err) != 0
		 || archive_prover_open(a->ar, &ex.prover, &err) != 0
		 || put_keys(a, ex.prover, seq, &err) != 0)
		export_failed(a, err.msg);
	else {
		if (f->n > 0)
			qsort(f->ids, f->n, sizeof(*f->ids), compare_found);
		if (f->n > 0 && plan_walk_all(a, p, export_one, &ex, &err) != 0)
			export_failed(a, err.msg);
		else if (ex.failed)
			export_failed(a, ex.err.msg);
		else if (!a->gone && ex.sent != f->n)
			export_failed(a, "a message to export left the archive"
				      " while it was being exported");
		else if (!a->gone)
			answer_ok(a, json_pack("{s:I, s:b, s:I}", "count",
				  (json_int_t)ex.sent, "truncated", f->truncated,
				  "withheld", (json_int_t)f->withheld));
	}
	archive_prover_free(ex.prover);
}

/* serve_export - the matching messages the caller may get, streamed */
static int
serve_export(answer *a)
{
	return serve_planned(a, 0, export_planned);
}

/* entry_text - request number's book entry as JSON (book locked after a
 * sync); NULL when it is not there */
static char *
entry_text(access_book *b, int64_t number)
{
	book_entry *e = book_find(b, number);

	return e != NULL ? book_entry_json(e, mk_now_usec()) : NULL;
}

/* serve_request - ask a second person to release a message */
static int
serve_request(answer *a)
{
	const char *ids[1] = { a->rq->id };
	access_audit entry = { .outcome = ACCESS_GRANTED, .ids = ids,
			       .n_ids = 1, .asks = a->rq->asks,
			       .reason = a->rq->reason };
	access_book *b = &a->s->book;
	access_subject sub;
	archive_message *msg;
	int64_t number = 0;
	char *text = NULL;
	mk_error err;
	int rc;

	if (lookup_decided(a, ACCESS_OP_REQUEST, &msg, &sub) != 0)
		return 0;
	archive_message_free(msg);
	pthread_mutex_lock(&b->lock);
	rc = answer_audit(a, &entry, &number);
	if (rc == 0 && book_sync(b, a->ar, &err) == 0)
		text = entry_text(b, number);
	pthread_mutex_unlock(&b->lock);
	if (rc != 0)
		return 0;
	if (text == NULL)
		return answer_error(a, "request %lld is in the ledger, but could"
				    " not be read back", (long long)number);
	answer_frame(a, ACCESS_FRAME_ITEM, text, strlen(text));
	free(text);
	return answer_ok(a, NULL);
}

/* may_decide - does who cover the message of request e (and so see it in
 * "requests", and approve or deny it if it is not theirs)? */
static bool
may_decide(answer *a, const book_entry *e)
{
	archive_message *msg;
	mk_error err;
	bool covers;

	if (archive_lookup(a->ar, e->id, &msg, &err) != 0)
		return false;
	covers = access_covers(a->who, (const char *const *)msg->roles,
			       msg->n_roles);
	archive_message_free(msg);
	return covers;
}

/* serve_requests - your requests, and those you may decide */
static int
serve_requests(answer *a)
{
	access_audit entry = { .outcome = ACCESS_GRANTED };
	access_book *b = &a->s->book;
	int64_t now = mk_now_usec();
	size_t i, n;
	mk_error err;
	char *text;
	int rc;

	if (answer_audit(a, &entry, NULL) != 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	rc = book_sync(b, a->ar, &err);
	n = b->n;
	pthread_mutex_unlock(&b->lock);
	if (rc != 0)
		return answer_error(a, "reading the ledger: %s", err.msg);
	for (i = 0; i < n && !a->gone; i++) {
		book_entry e;

		pthread_mutex_lock(&b->lock);
		e = b->v[i];
		text = e.uid == a->who->uid || may_decide(a, &e)
		    ? book_entry_json(&e, now) : NULL;
		pthread_mutex_unlock(&b->lock);
		if (text != NULL)
			answer_frame(a, ACCESS_FRAME_ITEM, text, strlen(text));
		free(text);
	}
	return answer_ok(a, NULL);
}

/* decide_request - the verdict on approving or denying e (book locked:
 * the approvals of the decider do not matter here) */
static access_verdict
decide_request(answer *a, const book_entry *e, policy_four_eyes_rule *fe)
{
	access_subject sub;
	archive_message *msg;
	access_verdict v;
	mk_error err;

	if (archive_lookup(a->ar, e->id, &msg, &err) != 0)
		return ACCESS_NO_ROLE;
	subject_rule(a, msg, &sub);
	sub.has_requester = true;
	sub.requester = e->uid;
	v = access_decide(a->who, a->rq->op, &sub);
	*fe = sub.four_eyes;
	archive_message_free(msg);
	return v;
}

/* settle - approve or deny request e (book locked), audited; the book
 * learns the outcome from the ledger (book_sync()) */
static int
settle(answer *a, const book_entry *e)
{
	bool approve = a->rq->op == ACCESS_OP_APPROVE;
	const char *ids[1] = { e->id };
	access_audit entry = { .ids = ids, .n_ids = 1, .number = e->number };
	policy_four_eyes_rule fe = { false, false, 0 };
	access_verdict v = decide_request(a, e, &fe);
	int64_t now = mk_now_usec();

	entry.outcome = v == ACCESS_OK && e->state == BOOK_PENDING
	    ? ACCESS_GRANTED : ACCESS_REFUSED;
	entry.why = v != ACCESS_OK ? access_verdict_text(v) : "not pending";
	if (approve && entry.outcome == ACCESS_GRANTED)
		entry.until = now + (fe.content ? fe.seconds
			: POLICY_DEFAULT_FOUR_EYES_HOURS * 3600) * 1000000;
	if (answer_audit(a, &entry, NULL) != 0)
		return -1;
	if (v == ACCESS_SELF_APPROVAL)
		return answer_error(a, "request %lld is your own: a second"
				    " person must decide it",
				    (long long)e->number), -1;
	if (v != ACCESS_OK)
		return answer_error(a, "no request %lld",
				    (long long)e->number), -1;
	if (entry.outcome != ACCESS_GRANTED)
		return answer_error(a, "request %lld is not pending",
				    (long long)e->number), -1;
	return 0;
}

/* serve_decision - approve or deny a request */
static int
serve_decision(answer *a)
{
	access_book *b = &a->s->book;
	access_audit entry = { .outcome = ACCESS_REFUSED,
			       .why = "no such request",
			       .number = a->rq->number };
	book_entry *e;
	char *text = NULL;
	mk_error err;
	int rc;

	pthread_mutex_lock(&b->lock);
	if (book_sync(b, a->ar, &err) != 0) {
		pthread_mutex_unlock(&b->lock);
		return answer_error(a, "reading the ledger: %s", err.msg);
	}
	if ((e = book_find(b, a->rq->number)) == NULL) {
		pthread_mutex_unlock(&b->lock);
		if (answer_audit(a, &entry, NULL) == 0)
			answer_error(a, "no request %lld",
				     (long long)a->rq->number);
		return 0;
	}
	rc = settle(a, e);
	if (rc == 0 && book_sync(b, a->ar, &err) == 0)
		text = entry_text(b, a->rq->number);
	pthread_mutex_unlock(&b->lock);
	if (rc != 0)
		return 0;
	if (text != NULL)
		answer_frame(a, ACCESS_FRAME_ITEM, text, strlen(text));
	free(text);
	return answer_ok(a, NULL);
}

/* dispatch - the handler of rq's operation */
static int
dispatch(answer *a)
{
	switch (a->rq->op) {
	case ACCESS_OP_WHOAMI: return serve_whoami(a);
	case ACCESS_OP_STATUS: return serve_status(a);
	case ACCESS_OP_SEARCH: return serve_search(a);
	case ACCESS_OP_EXPORT: return serve_export(a);
	case ACCESS_OP_SHOW: return serve_show(a);
	case ACCESS_OP_GET: return serve_get(a);
	case ACCESS_OP_PROOF: return serve_proof(a);
	case ACCESS_OP_VERIFY: return serve_verify(a);
	case ACCESS_OP_AUDIT: return serve_audit(a);
	case ACCESS_OP_REQUEST: return serve_request(a);
	case ACCESS_OP_REQUESTS: return serve_requests(a);
	case ACCESS_OP_APPROVE:
	case ACCESS_OP_DENY: return serve_decision(a);
	case ACCESS_OP_HOLD: return serve_hold(a);
	case ACCESS_OP_HOLDS: return serve_holds(a);
	case ACCESS_OP_RELEASE: return serve_release(a);
	case ACCESS_OP_EXPIRE: return serve_expire(a);
	case ACCESS_OP_IMPORT: return serve_import(a);
	case ACCESS_OP_POLICY_APPLY: return serve_policy_apply(a);
	default: return answer_error(a, "unknown operation");
	}
}

/* access_serve - answer rq for who */
int
access_serve(access_service *s, const access_identity *who,
	     const access_request *rq, access_emit_fn emit, void *ctx)
{
	return access_serve_stream(s, who, rq, emit, NULL, ctx);
}

/* access_serve_stream - answer rq for who, with the client's frames */
int
access_serve_stream(access_service *s, const access_identity *who,
		    const access_request *rq, access_emit_fn emit,
		    access_recv_fn recv, void *ctx)
{
	answer a = { .s = s, .who = who, .rq = rq, .emit = emit, .recv = recv,
		     .ctx = ctx };
	policy_ref *ref = service_policy_take(s);
	mk_error err;

	a.pol = ref->pol;
	a.ar = archive_open_with(s->archive_dir, ARCHIVE_READ, &s->opts, &err);
	if (a.ar == NULL)
		answer_error(&a, "cannot open the archive: %s", err.msg);
	else {
		dispatch(&a);
		archive_close(a.ar);
	}
	service_policy_drop(s, ref);
	return a.gone ? -1 : 0;
}

/* service_policy_take - the current policy, held */
policy_ref *
service_policy_take(access_service *s)
{
	policy_ref *r;

	pthread_mutex_lock(&s->policy_lock);
	r = s->current;
	r->refs++;
	pthread_mutex_unlock(&s->policy_lock);
	return r;
}

/* service_policy_drop - let go of r */
void
service_policy_drop(access_service *s, policy_ref *r)
{
	bool last;

	pthread_mutex_lock(&s->policy_lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&s->policy_lock);
	if (last) {
		policy_free(r->pol);
		free(r);
	}
}

/* access_service_set_policy - pol applies from the next request */
void
access_service_set_policy(access_service *s, policy *pol)
{
	policy_ref *r = calloc(1, sizeof(*r)), *old;

	if (r == NULL) {
		policy_free(pol);
		return;
	}
	r->pol = pol;
	r->refs = 1;
	pthread_mutex_lock(&s->policy_lock);
	old = s->current;
	s->current = r;
	pthread_mutex_unlock(&s->policy_lock);
	if (old != NULL)
		service_policy_drop(s, old);
}

/* access_service_identity - who uid is under the current policy */
int
access_service_identity(access_service *s, uid_t uid, const char *via,
			access_identity *out, mk_error *err)
{
	policy_ref *ref = service_policy_take(s);
	int rc = access_identity_of(ref->pol, uid, via, out, err);

	service_policy_drop(s, ref);
	return rc;
}

/* access_service_new - a service over cfg's archive */
access_service *
access_service_new(const mk_config *cfg, policy *pol, mk_error *err)
{
	access_service *s = calloc(1, sizeof(*s));
	archive *ar;

	if (s == NULL || (s->archive_dir = strdup(cfg->archive)) == NULL) {
		free(s);
		policy_free(pol);
		mk_error_set(err, "out of memory");
		return NULL;
	}
	archive_options_of(cfg, &s->opts);
	pthread_mutex_init(&s->policy_lock, NULL);
	pthread_mutex_init(&s->book.lock, NULL);
	pthread_mutex_init(&s->holds_lock, NULL);
	access_service_set_policy(s, pol);
	err->msg[0] = '\0';
	ar = archive_open_with(s->archive_dir, ARCHIVE_READ, &s->opts, err);
	if (s->current == NULL || ar == NULL || book_sync(&s->book, ar, err) != 0) {
		if (s->current == NULL)
			mk_error_set(err, "out of memory");
		archive_close(ar);
		access_service_free(s);
		return NULL;
	}
	archive_close(ar);
	return s;
}

/* access_service_free - free everything */
void
access_service_free(access_service *s)
{
	if (s == NULL)
		return;
	if (s->current != NULL)
		service_policy_drop(s, s->current);
	book_free(&s->book);
	pthread_mutex_destroy(&s->policy_lock);
	pthread_mutex_destroy(&s->book.lock);
	pthread_mutex_destroy(&s->holds_lock);
	free(s->archive_dir);
	free(s);
}
