/*
 * holds.c - legal holds and expiry, as the access service serves them.
 *
 * NAME
 *	holds - hold, holds, release, expire
 *
 * DESCRIPTION
 *	A hold is an audit entry (event "access", action "hold", outcome
 *	"granted") with the hold's name, its terms (a canonical query) and
 *	the reason; its number is the seq of that entry.  A release is an
 *	entry with action "release", the name and the reason.  The ledger
 *	is the only record: holds_sync() hands every such entry appended
 *	since it last looked to the full-text index (discovery.h, "Legal
 *	holds"), which keeps what each hold covers and how far it has read,
 *	in the transaction that applies the entry.  So a hold whose entry is
 *	written is in force even if the service dies before placing its
 *	messages: the next sync - before any listing, hold change or expiry
 *	- places them.
 *
 *	Only admin makes, releases and expires; admin and auditor list.
 *	Every request, granted or not, is an audit entry.  Hold changes
 *	and expiry run one at a time (holds_lock).
 *
 *	Expiry: the holds are synced, the full-text index brought up to
 *	the archive (so every stored message has been weighed against every
 *	open hold), then archive_expire() runs with the index saying which
 *	messages are held and taking out the words of each one that goes
 *	(discovery_forget_*), before its content goes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "access/internal.h"
#include "discovery/discovery.h"

#define EXPIRE_INDEX_BATCH	500	/* messages an index step, catching up */

/* A pass over the ledger's new entries. */
typedef struct hold_sync {
	discovery_index *di;
	archive *ar;
	int64_t offset, lines;		/* where the pass is */
	mk_error *err;
} hold_sync;

/* open_number_fn - discovery_hold_fn: the number of the hold if open */
static int
open_number_fn(const discovery_hold *h, void *ctx)
{
	if (h->released == 0)
		*(int64_t *)ctx = h->number;
	return 0;
}

/* take_hold - a granted "hold" entry into the index */
static int
take_hold(hold_sync *s, json_t *obj)
{
	discovery_hold h = {
		.number = json_integer_value(json_object_get(obj, "seq")),
		.name = json_string_value(json_object_get(obj, "hold")),
		.terms = json_string_value(json_object_get(obj, "terms")),
		.time = json_integer_value(json_object_get(obj, "time")),
		.by = json_string_value(json_object_get(obj, "user")),
		.reason = json_string_value(json_object_get(obj, "reason")),
	};
	int64_t members;

	if (h.name == NULL || h.terms == NULL || h.by == NULL || h.reason == NULL)
		return 0;	/* not one of ours: verify's business */
	return discovery_hold_create(s->di, s->ar, &h, s->offset, s->lines,
				     &members, s->err);
}

/* take_release - a granted "release" entry into the index */
static int
take_release(hold_sync *s, json_t *obj)
{
	discovery_hold h = {
		.name = json_string_value(json_object_get(obj, "hold")),
		.released = json_integer_value(json_object_get(obj, "seq")),
		.released_time = json_integer_value(json_object_get(obj, "time")),
		.released_by = json_string_value(json_object_get(obj, "user")),
		.release_reason = json_string_value(json_object_get(obj, "reason")),
	};

	if (h.name == NULL || h.released_by == NULL || h.release_reason == NULL)
		return 0;
	if (discovery_hold_list(s->di, h.name, open_number_fn, &h.number,
				s->err) != 0)
		return -1;
	if (h.number == 0)
		return 0;	/* released already, or never made */
	return discovery_hold_release(s->di, &h, s->offset, s->lines, s->err);
}

/* sync_line - archive_entry_fn: one ledger line */
static int
sync_line(int64_t pos, const char *line, size_t len, void *ctx)
{
	hold_sync *s = ctx;
	const char *action;
	json_t *obj;
	int rc;

	s->offset += (int64_t)len + 1;
	s->lines = pos;
	if ((strstr(line, "\"action\":\"hold\"") == NULL
	     && strstr(line, "\"action\":\"release\"") == NULL)
	    || (obj = granted_entry(line, len, &action)) == NULL)
		return 0;
	rc = strcmp(action, "hold") == 0 ? take_hold(s, obj)
	    : strcmp(action, "release") == 0 ? take_release(s, obj) : 0;
	json_decref(obj);
	return rc != 0 ? -1 : 0;
}

/* holds_sync - the hold entries appended since the index last looked */
static int
holds_sync(discovery_index *di, archive *ar, mk_error *err)
{
	hold_sync s = { .di = di, .ar = ar, .err = err };

	err->msg[0] = '\0';
	if (discovery_hold_synced(di, &s.offset, &s.lines, err) != 0)
		return -1;
	if (archive_ledger_each_from(ar, s.offset, s.lines, sync_line, &s,
				     err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "reading the"
						       " ledger failed");
	return discovery_hold_set_synced(di, s.offset, s.lines, err);
}

/* open_synced - the full-text index, its holds up to the ledger; NULL
 * after answering with the error (internal.h: holds_open_synced) */
discovery_index *
holds_open_synced(answer *a)
{
	discovery_index *di;
	mk_error err;

	if ((di = discovery_index_open(a->s->archive_dir, &err)) == NULL) {
		answer_error(a, "%s", err.msg);
		return NULL;
	}
	if (holds_sync(di, a->ar, &err) != 0) {
		answer_error(a, "reading the holds from the ledger: %s", err.msg);
		discovery_index_close(di);
		return NULL;
	}
	return di;
}

/* append_term - " field:"value"" to buf (quotes and backslashes escaped) */
static void
append_term(GString *buf, const char *field, const char *value)
{
	const char *p;

	g_string_append_printf(buf, " %s:\"", field);
	for (p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(buf, '\\');
		g_string_append_c(buf, *p);
	}
	g_string_append_c(buf, '"');
}

/* hold_terms - the request's terms as one canonical query (malloc'ed):
 * its q, and from, to, message_id, since, until as terms of their own;
 * NULL and err when they do not make a query a hold can have */
static char *
hold_terms(const access_request *rq, mk_error *err)
{
	GString *buf = g_string_new(rq->q ? rq->q : "");
	discovery_query q;
	char *text = NULL;
	size_t i;

	if (rq->query.from)
		append_term(buf, "from", rq->query.from);
	if (rq->query.to)
		append_term(buf, "to", rq->query.to);
	if (rq->query.message_id)
		append_term(buf, "message-id", rq->query.message_id);
	if (rq->since != 0)
		g_string_append_printf(buf, " after:@%lld",
				       (long long)(rq->since / 1000000));
	if (rq->until > 0)
		g_string_append_printf(buf, " before:@%lld",
				       (long long)((rq->until + 999999) / 1000000));
	if (discovery_query_parse(buf->str, &q, err) == 0) {
		for (i = 0; i < q.n && q.terms[i].field != DQ_HOLD; i++)
			;
		if (i < q.n)
			mk_error_set(err, "a hold's terms cannot name a hold");
		else if ((text = discovery_query_format(&q)) == NULL)
			mk_error_set(err, "out of memory");
		discovery_query_free(&q);
	}
	g_string_free(buf, TRUE);
	return text;
}

/* A hold looked up by name. */
typedef struct hold_found {
	bool found;
	bool open;
	int64_t number, members;
	json_t *item;			/* as a listing's item, when asked */
} hold_found;

/* hold_item - h as a listing's JSON object */
static json_t *
hold_item(const discovery_hold *h)
{
	json_t *obj = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:s, s:I}",
				"name", h->name, "number", (json_int_t)h->number,
				"state", h->released ? "released" : "open",
				"terms", h->terms, "time", (json_int_t)h->time,
				"by", h->by, "reason", h->reason,
				"messages", (json_int_t)h->members);

	if (obj != NULL && h->released)
		json_object_update_new(obj, json_pack("{s:I, s:I, s:s, s:s}",
				       "released", (json_int_t)h->released,
				       "released_time", (json_int_t)h->released_time,
				       "released_by", h->released_by,
				       "release_reason", h->release_reason));
	return obj;
}

/* found_fn - discovery_hold_fn: the hold asked for */
static int
found_fn(const discovery_hold *h, void *ctx)
{
	hold_found *f = ctx;

	f->found = true;
	f->open = h->released == 0;
	f->number = h->number;
	f->members = h->members;
	json_decref(f->item);
	f->item = hold_item(h);
	return 0;
}

/* find_hold - the hold named name into f; 0 or -1 with err */
static int
find_hold(discovery_index *di, const char *name, hold_found *f, mk_error *err)
{
	memset(f, 0, sizeof(*f));
	return discovery_hold_list(di, name, found_fn, f, err);
}

/* refuse_change - the audited refusal (or error) of a hold change */
static int
refuse_change(answer *a, access_outcome outcome, const char *why)
{
	access_audit entry = { .outcome = outcome, .why = why,
			       .hold = a->rq->name, .reason = a->rq->reason };

	if (answer_audit(a, &entry, NULL) == 0)
		answer_error(a, "%s", why);
	return 0;
}

/* decided_admin - may the caller change holds?  Audited when not */
static bool
decided_admin(answer *a)
{
	access_verdict v = access_decide(a->who, a->rq->op, NULL);

	if (v == ACCESS_OK)
		return true;
	refuse_change(a, ACCESS_REFUSED, "permission denied: holds are"
		      " placed and released by the role admin");
	return false;
}

/* create_entry - the hold's entry, then its messages placed; answered */
static int
create_entry(answer *a, discovery_index *di, const char *terms)
{
	access_audit entry = { .outcome = ACCESS_GRANTED, .hold = a->rq->name,
			       .terms = terms, .reason = a->rq->reason };
	hold_found f;
	int64_t seq;
	mk_error err;

	if (answer_audit(a, &entry, &seq) != 0)
		return 0;
	if (holds_sync(di, a->ar, &err) != 0 || find_hold(di, a->rq->name, &f,
							  &err) != 0)
		return answer_error(a, "the hold is recorded (ledger entry"
				    " %lld) and in force, but its messages could"
				    " not be listed yet (they will be at the next"
				    " hold command or expiry): %s",
				    (long long)seq, err.msg);
	json_decref(f.item);
	return answer_ok(a, json_pack("{s:s, s:I, s:s, s:I}", "hold",
				      a->rq->name, "number", (json_int_t)seq,
				      "terms", terms, "messages",
				      (json_int_t)f.members));
}

/* serve_hold - place a legal hold */
int
serve_hold(answer *a)
{
	discovery_index *di;
	hold_found f;
	char *terms;
	mk_error err;

	if (!decided_admin(a))
		return 0;
	if ((terms = hold_terms(a->rq, &err)) == NULL)
		return refuse_change(a, ACCESS_ERROR, err.msg);
	pthread_mutex_lock(&a->s->holds_lock);
	if ((di = holds_open_synced(a)) != NULL) {
		if (find_hold(di, a->rq->name, &f, &err) != 0)
			answer_error(a, "%s", err.msg);
		else if (f.found)
			refuse_change(a, ACCESS_ERROR, f.open ? "a hold of that"
				      " name is open" : "a hold of that name was"
				      " released; hold names are not reused");
		else
			create_entry(a, di, terms);
		json_decref(f.item);
		discovery_index_close(di);
	}
	pthread_mutex_unlock(&a->s->holds_lock);
	free(terms);
	return 0;
}

/* release_found - the release entry of an open hold f; answered */
static int
release_found(answer *a, discovery_index *di, const hold_found *f)
{
	access_audit entry = { .outcome = ACCESS_GRANTED, .hold = a->rq->name,
			       .reason = a->rq->reason };
	int64_t seq;
	mk_error err;

	if (answer_audit(a, &entry, &seq) != 0)
		return 0;
	if (holds_sync(di, a->ar, &err) != 0)
		return answer_error(a, "the release is recorded (ledger entry"
				    " %lld) but not yet applied: %s",
				    (long long)seq, err.msg);
	return answer_ok(a, json_pack("{s:s, s:I, s:I}", "hold", a->rq->name,
				      "released", (json_int_t)seq, "messages",
				      (json_int_t)f->members));
}

/* serve_release - release a legal hold */
int
serve_release(answer *a)
{
	discovery_index *di;
	hold_found f;
	mk_error err;

	if (!decided_admin(a))
		return 0;
	pthread_mutex_lock(&a->s->holds_lock);
	if ((di = holds_open_synced(a)) != NULL) {
		if (find_hold(di, a->rq->name, &f, &err) != 0)
			answer_error(a, "%s", err.msg);
		else if (!f.found)
			refuse_change(a, ACCESS_ERROR, "no hold of that name");
		else if (!f.open)
			refuse_change(a, ACCESS_ERROR, "that hold is released"
				      " already");
		else
			release_found(a, di, &f);
		json_decref(f.item);
		discovery_index_close(di);
	}
	pthread_mutex_unlock(&a->s->holds_lock);
	return 0;
}

/* list_item - discovery_hold_fn: one hold as an item */
static int
list_item(const discovery_hold *h, void *ctx)
{
	return answer_json(ctx, ACCESS_FRAME_ITEM, hold_item(h)) != 0;
}

/* serve_holds - the holds, or the one named */
int
serve_holds(answer *a)
{
	discovery_index *di;
	hold_found f = { .found = false };
	mk_error err;
	int rc;

	if (answer_permitted(a) != 0)
		return 0;
	pthread_mutex_lock(&a->s->holds_lock);
	di = holds_open_synced(a);
	pthread_mutex_unlock(&a->s->holds_lock);
	if (di == NULL)
		return 0;
	if (a->rq->name != NULL && (rc = find_hold(di, a->rq->name, &f, &err)) == 0) {
		if (f.found)
			answer_json(a, ACCESS_FRAME_ITEM, f.item);
		else
			json_decref(f.item);
		if (!f.found)
			answer_error(a, "no hold named %s", a->rq->name);
		else
			answer_ok(a, NULL);
	} else if (a->rq->name != NULL)
		answer_error(a, "%s", err.msg);
	else if (discovery_hold_list(di, NULL, list_item, a, &err) != 0)
		answer_error(a, "%s", err.msg);
	else
		answer_ok(a, NULL);
	discovery_index_close(di);
	return 0;
}

/* forgetting_held - the index's word; held when it cannot say */
bool
forgetting_held(forgetting *g, const char *id)
{
	mk_error err;
	bool held;

	if (discovery_held(g->di, id, &held, &err) != 0) {
		g->held_errors++;
		return true;
	}
	return held;
}

/* is_held - archive_held_fn (ctx a forgetting) */
static bool
is_held(const char *id, void *ctx)
{
	return forgetting_held(ctx, id);
}

/* forgetting_message - a message that goes; NULL: durably */
int
forgetting_message(const archive_message *msg, void *ctx, mk_error *err)
{
	forgetting *g = ctx;

	return msg == NULL ? discovery_forget_commit(g->forget, err)
	    : discovery_forget_message(g->forget, msg, err);
}

/* forgetting_words - the words of a dropped content; NULL: durably */
int
forgetting_words(const archive_message *msg, void *ctx, mk_error *err)
{
	forgetting *g = ctx;

	return msg == NULL ? discovery_forget_commit(g->forget, err)
	    : discovery_forget_words(g->forget, msg, err);
}

/* forgetting_progress - a progress frame */
void
forgetting_progress(const char *phase, uint64_t done, uint64_t total,
		    void *ctx)
{
	forgetting *g = ctx;

	answer_json(g->a, ACCESS_FRAME_PROGRESS, json_pack("{s:s, s:I, s:I}",
		    "phase", phase, "done", (json_int_t)done,
		    "total", (json_int_t)total));
}

/* holds_catch_up - the full-text index up to the archive, so that every
 * stored message has been weighed against every open hold; progress
 * frames while it runs (internal.h) */
int
holds_catch_up(answer *a, discovery_index *di, mk_error *err)
{
	discovery_status st;
	uint64_t indexed = 0;
	size_t done = 1;

	if (discovery_index_status(di, a->ar, &st, err) != 0)
		return -1;
	while (done > 0) {
		if (discovery_index_step(di, a->ar, EXPIRE_INDEX_BATCH, &done,
					 err) != 0)
			return -1;
		indexed += done;
		if (st.lag_messages > 0)
			answer_json(a, ACCESS_FRAME_PROGRESS, json_pack("{s:s,"
				    " s:I, s:I}", "phase", "full text", "done",
				    (json_int_t)indexed, "total",
				    (json_int_t)st.lag_messages));
	}
	return 0;
}

/* expire_summary - the end frame's members */
static json_t *
expire_summary(const forgetting *x, const archive_expire_stats *st,
	       const discovery_forget_stats *fs)
{
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "dry_run", x->a->rq->dry_run,
			 "groups", (json_int_t)st->groups,
			 "expired", (json_int_t)st->messages,
			 "rekeyed", (json_int_t)st->rekeyed,
			 "bytes", (json_int_t)st->bytes,
			 "bytes_freed", (json_int_t)st->bytes_freed,
			 "kept_held", (json_int_t)st->kept_held,
			 "words_forgotten", (json_int_t)fs->words,
			 "words_mismatched", (json_int_t)fs->mismatched);
}

/* run_expiry - sync, catch up, expire; answered */
static int
run_expiry(forgetting *x)
{
	archive_expire_options o = { .now = time(NULL),
				     .dry_run = x->a->rq->dry_run,
				     .held = is_held, .forget = forgetting_message,
				     .progress = forgetting_progress, .ctx = x };
	archive_expire_stats st;
	discovery_forget_stats fs = { 0 };
	mk_error err, end_err;
	int rc;

	if (holds_catch_up(x->a, x->di, &err) != 0)
		return answer_error(x->a, "the full-text index could not catch"
				    " up, nothing was expired: %s", err.msg);
	if ((x->forget = discovery_forget_begin(x->di, x->a->ar, &err)) == NULL)
		return answer_error(x->a, "%s", err.msg);
	rc = archive_expire(x->a->ar, &o, &st, &err);
	if (discovery_forget_end(x->forget, &fs, &end_err) != 0 && rc == 0) {
		rc = -1;
		err = end_err;
	}
	if (rc != 0)
		return answer_error(x->a, "expiry stopped (the next run goes on"
				    " from here): %s", err.msg);
	if (x->held_errors > 0)
		return answer_error(x->a, "the holds could not be read for %llu"
				    " messages, which were kept",
				    (unsigned long long)x->held_errors);
	return answer_ok(x->a, expire_summary(x, &st, &fs));
}

/* serve_expire - forget every message due and not held */
int
serve_expire(answer *a)
{
	forgetting x = { .a = a };

	if (answer_permitted(a) != 0)
		return 0;
	pthread_mutex_lock(&a->s->holds_lock);
	if ((x.di = holds_open_synced(a)) != NULL) {
		run_expiry(&x);
		discovery_index_close(x.di);
	}
	pthread_mutex_unlock(&a->s->holds_lock);
	return 0;
}
