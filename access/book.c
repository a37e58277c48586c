/*
 * book.c - the four-eyes requests, as the ledger tells them.
 *
 * NAME
 *	book - requests, approvals and denials of content releases
 *
 * DESCRIPTION
 *	A request, its approval and its denial are audit entries (event
 *	"access", action "request", "approve" or "deny", outcome
 *	"granted"); the request's number is the seq of its entry.  The
 *	ledger is the only record: book_sync() reads what was appended
 *	since it last looked (all of it the first time), before every
 *	four-eyes decision and after every four-eyes entry the service
 *	writes, so every process that reads the ledger agrees.  An
 *	approval releases the
 *	message to the requester until the "until" its entry carries (the
 *	policy's four_eyes_hours at the time of approval).
 *
 *	Requests are few (people write them), so the book is an array in
 *	ledger order, searched from the end.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "access/internal.h"

/* book_add - append a copy of e */
static int
book_add(access_book *b, const book_entry *e)
{
	book_entry *grown;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		if ((grown = reallocarray(b->v, b->cap, sizeof(*grown))) == NULL)
			return -1;
		b->v = grown;
	}
	b->v[b->n] = *e;
	if (e->reason != NULL && (b->v[b->n].reason = strdup(e->reason)) == NULL)
		return -1;
	b->n++;
	return 0;
}

/* book_find - request number, or NULL */
book_entry *
book_find(access_book *b, int64_t number)
{
	size_t i;

	for (i = b->n; i-- > 0;)
		if (b->v[i].number == number)
			return &b->v[i];
	return NULL;
}

/* book_live - a live approval for uid to do op on id */
bool
book_live(const access_book *b, uid_t uid, const char *id, access_op op,
	  int64_t now)
{
	const book_entry *e;
	size_t i;

	for (i = b->n; i-- > 0;) {
		e = &b->v[i];
		if (e->uid != uid || e->state != BOOK_APPROVED || now >= e->until
		    || strcmp(e->id, id) != 0)
			continue;
		if (e->asks == ACCESS_OP_GET || op != ACCESS_OP_GET)
			return true;
	}
	return false;
}

/* take_request - a granted "request" entry into the book */
static int
take_request(access_book *b, json_t *obj, int64_t seq)
{
	json_t *ids = json_object_get(obj, "ids");
	const char *id = json_string_value(json_array_get(ids, 0));
	const char *asks = json_string_value(json_object_get(obj, "asks"));
	const char *user = json_string_value(json_object_get(obj, "user"));
	book_entry e;

	if (id == NULL || strlen(id) != ARCHIVE_ID_LEN || asks == NULL)
		return 0;	/* not one of ours: verify's business */
	memset(&e, 0, sizeof(e));
	e.number = seq;
	e.uid = (uid_t)json_integer_value(json_object_get(obj, "uid"));
	snprintf(e.user, sizeof(e.user), "%s", user ? user : "");
	memcpy(e.id, id, ARCHIVE_ID_LEN + 1);
	e.asks = strcmp(asks, "show") == 0 ? ACCESS_OP_SHOW : ACCESS_OP_GET;
	e.reason = (char *)json_string_value(json_object_get(obj, "reason"));
	e.time = json_integer_value(json_object_get(obj, "time"));
	return book_add(b, &e);
}

/* take_decision - a granted "approve" or "deny" entry */
static void
take_decision(access_book *b, json_t *obj, bool approve)
{
	book_entry *e = book_find(b, json_integer_value(json_object_get(obj,
								"request")));
	const char *user = json_string_value(json_object_get(obj, "user"));

	if (e == NULL || e->state != BOOK_PENDING)
		return;
	e->state = approve ? BOOK_APPROVED : BOOK_DENIED;
	e->decider = (uid_t)json_integer_value(json_object_get(obj, "uid"));
	snprintf(e->decider_name, sizeof(e->decider_name), "%s",
		 user ? user : "");
	e->decided = json_integer_value(json_object_get(obj, "time"));
	e->until = approve ? json_integer_value(json_object_get(obj, "until")) : 0;
}

/* load_line - archive_ledger_each: one line into the book */
static int
load_line(int64_t pos, const char *line, size_t len, void *ctx)
{
	access_book *b = ctx;
	const char *action;
	json_t *obj;
	int rc = 0;

	b->offset += (int64_t)len + 1;
	b->lines = pos;
	if ((obj = granted_entry(line, len, &action)) == NULL)
		return 0;
	if (strcmp(action, "request") == 0)
		rc = take_request(b, obj, json_integer_value(
				  json_object_get(obj, "seq")));
	else if (strcmp(action, "approve") == 0)
		take_decision(b, obj, true);
	else if (strcmp(action, "deny") == 0)
		take_decision(b, obj, false);
	json_decref(obj);
	return rc;
}

/* book_sync - the four-eyes entries appended since the last look */
int
book_sync(access_book *b, archive *ar, mk_error *err)
{
	err->msg[0] = '\0';
	if (archive_ledger_each_from(ar, b->offset, b->lines, load_line, b,
				     err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "out of memory"
						       " reading the ledger");
	return 0;
}

/* book_free - free the entries */
void
book_free(access_book *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->v[i].reason);
	free(b->v);
	b->v = NULL;
	b->n = b->cap = 0;
}

/* state_name - the word of e's state at now */
static const char *
state_name(const book_entry *e, int64_t now)
{
	switch (e->state) {
	case BOOK_PENDING: return "pending";
	case BOOK_DENIED: return "denied";
	case BOOK_APPROVED: return now < e->until ? "approved" : "expired";
	}
	return "unknown";
}

/* book_entry_json - e as a "requests" item */
char *
book_entry_json(const book_entry *e, int64_t now)
{
	json_t *obj = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:I, s:s}",
				"request", (json_int_t)e->number,
				"user", e->user, "uid", (json_int_t)e->uid,
				"id", e->id, "asks", access_op_name(e->asks),
				"reason", e->reason ? e->reason : "",
				"time", (json_int_t)e->time,
				"state", state_name(e, now));
	char *text;

	if (obj != NULL && e->state != BOOK_PENDING) {
		json_object_set_new(obj, "decided_by", json_string(e->decider_name));
		json_object_set_new(obj, "decided", json_integer(e->decided));
	}
	if (obj != NULL && e->state == BOOK_APPROVED)
		json_object_set_new(obj, "until", json_integer(e->until));
	text = obj != NULL ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)
			   : NULL;
	json_decref(obj);
	return text;
}
