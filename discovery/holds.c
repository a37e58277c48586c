/*
 * holds.c - what each legal hold covers, beside the full-text index.
 *
 * NAME
 *	holds - the holds and hold_members tables of fulltext.sqlite
 *
 * DESCRIPTION
 *	The ledger is the record of every hold (discovery.h); these tables
 *	are what it says, made searchable.  A hold's messages are placed
 *	twice over, and both ways ask the same question of a message - do
 *	the hold's terms match it? - so together they give every message
 *	its terms match, whenever it arrived:
 *
 *	  discovery_hold_create()  the messages there are when the hold is
 *	                           made: the index's own search (full-text
 *	                           terms) or the archive's (envelope terms
 *	                           only, which also finds what is not yet
 *	                           indexed), each checked against the
 *	                           envelope terms;
 *	  hold_set_place()         each message as discovery_index_step()
 *	                           indexes it, in the same transaction, so
 *	                           a message is never indexed without having
 *	                           been weighed against every open hold.
 *
 *	Creation takes the index's write lock (BEGIN IMMEDIATE) before it
 *	looks: an index step runs wholly before it or wholly after it, and
 *	then sees the hold.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "discovery/fulltext.h"

/* One open hold, parsed. */
typedef struct open_hold {
	int64_t number;
	discovery_query q;
	bool text;			/* has terms the words answer */
} open_hold;

struct hold_set {
	open_hold *v;
	size_t n;
	sqlite3_stmt *add;		/* a member */
};

#define ADD_MEMBER_SQL "INSERT OR IGNORE INTO hold_members(hold, msg, id)" \
	" VALUES(?, ?, ?)"

/* add_member - seq (id) under hold number; 0 or -1 */
static int
add_member(sqlite3_stmt *add, int64_t number, int64_t seq, const char *id)
{
	sqlite3_reset(add);
	sqlite3_bind_int64(add, 1, number);
	sqlite3_bind_int64(add, 2, seq);
	sqlite3_bind_text(add, 3, id, -1, SQLITE_TRANSIENT);
	return sqlite3_step(add) == SQLITE_DONE ? 0 : -1;
}

/* hold_set_take - one row of the open holds into hs */
static int
hold_set_take(hold_set *hs, sqlite3_stmt *st, mk_error *err)
{
	open_hold *h = &hs->v[hs->n];
	const char *terms = (const char *)sqlite3_column_text(st, 1);

	memset(h, 0, sizeof(*h));
	h->number = sqlite3_column_int64(st, 0);
	if (discovery_query_parse(terms ? terms : "", &h->q, err) != 0)
		return mk_error_set(err, "hold %lld: its terms do not parse: %s",
				    (long long)h->number, err->msg);
	h->text = fulltext_has_text_terms(&h->q);
	hs->n++;
	return 0;
}

/* hold_set_load - the open holds of di */
hold_set *
hold_set_load(discovery_index *di, mk_error *err)
{
	hold_set *hs = calloc(1, sizeof(*hs));
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = 0;
	void *grown;

	if (hs == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if (sqlite3_prepare_v2(di->db, "SELECT number, terms FROM holds WHERE"
			       " released IS NULL ORDER BY number", -1, &st,
			       NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(di->db, ADD_MEMBER_SQL, -1, &hs->add, NULL)
	    != SQLITE_OK)
		rc = fulltext_fail(di, "holds", err);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		if (hs->n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((grown = reallocarray(hs->v, cap, sizeof(*hs->v))) == NULL) {
				rc = mk_error_set(err, "out of memory");
				break;
			}
			hs->v = grown;
		}
		rc = hold_set_take(hs, st, err);
	}
	sqlite3_finalize(st);
	if (rc != 0) {
		hold_set_free(hs);
		return NULL;
	}
	return hs;
}

/* hold_set_place - msg under every open hold whose terms it matches */
int
hold_set_place(hold_set *hs, discovery_index *di, const archive_message *msg,
	       int64_t seq, bool failed, mk_error *err)
{
	bool hit;
	size_t i;

	for (i = 0; i < hs->n; i++) {
		if (!discovery_envelope_matches(&hs->v[i].q, msg))
			continue;
		hit = true;
		if (hs->v[i].text && !failed
		    && fulltext_matches_one(di, &hs->v[i].q, seq, &hit, err) != 0)
			return -1;
		if (hit && add_member(hs->add, hs->v[i].number, seq, msg->id) != 0)
			return fulltext_fail(di, "hold member", err);
	}
	return 0;
}

/* hold_set_free - the parsed holds and the statement */
void
hold_set_free(hold_set *hs)
{
	size_t i;

	if (hs == NULL)
		return;
	for (i = 0; i < hs->n; i++)
		discovery_query_free(&hs->v[i].q);
	free(hs->v);
	sqlite3_finalize(hs->add);
	free(hs);
}

/* A hold being filled with what there is. */
typedef struct placing {
	discovery_index *di;
	archive *ar;
	const discovery_query *q;
	sqlite3_stmt *add;
	int64_t number;
	int64_t members;
	bool failed;			/* the index could not be written */
} placing;

/* place_message - archive_search: msg, if its envelope matches */
static int
place_message(const archive_message *msg, void *ctx)
{
	placing *p = ctx;

	if (!discovery_envelope_matches(p->q, msg))
		return 0;
	if (add_member(p->add, p->number, msg->ledger_seq, msg->id) != 0)
		return p->failed = true, 1;
	p->members += sqlite3_changes(p->di->db);
	return 0;
}

/* place_hit - a full-text hit (or a message whose text could not be
 * indexed): its index row, then as place_message */
static int
place_hit(const char *id, int64_t seq, void *ctx)
{
	placing *p = ctx;
	archive_message *msg;
	mk_error err;
	int rc;

	(void)seq;
	if (archive_lookup(p->ar, id, &msg, &err) != 0)
		return 0;	/* expired meanwhile */
	rc = place_message(msg, p);
	archive_message_free(msg);
	return rc;
}

/* lift - q's envelope terms that the archive's SQL can answer into aq
 * (a superset: each message is checked against q's terms after) */
static void
lift(const discovery_query *q, archive_query *aq)
{
	size_t i, from = 0, to = 0;
	bool negated = false;

	memset(aq, 0, sizeof(*aq));
	for (i = 0; i < q->n; i++) {
		const discovery_term *t = &q->terms[i];

		negated |= t->negated && (t->field == DQ_FROM || t->field == DQ_TO);
		if (t->negated)
			continue;
		if (t->field == DQ_FROM && from++ == 0)
			aq->from = t->value;
		else if (t->field == DQ_TO && to++ == 0)
			aq->to = t->value;
		else if (t->field == DQ_AFTER)
			aq->since = t->number;
		else if (t->field == DQ_BEFORE && t->number > 0)
			aq->until = t->number;
	}
	if (from != 1 || negated)
		aq->from = NULL;
	if (to != 1 || negated)
		aq->to = NULL;
}

/* place_failed - the messages whose text could not be indexed, by their
 * envelope alone */
static int
place_failed(placing *p, mk_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, stop = 0;

	if (sqlite3_prepare_v2(p->di->db, "SELECT seq, id FROM docs WHERE failed",
			       -1, &st, NULL) != SQLITE_OK)
		return fulltext_fail(p->di, "holds", err);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
		stop = place_hit((const char *)sqlite3_column_text(st, 1),
				 sqlite3_column_int64(st, 0), p);
	sqlite3_finalize(st);
	return stop || rc != SQLITE_DONE ? -1 : 0;
}

/* place_all - every message there is that q matches */
static int
place_all(placing *p, mk_error *err)
{
	archive_query aq;
	bool used;

	if (!fulltext_has_text_terms(p->q)) {
		lift(p->q, &aq);
		return archive_search(p->ar, &aq, place_message, p, err);
	}
	if (discovery_index_match(p->di, p->q, false, place_hit, p, &used,
				  err) != 0)
		return -1;
	return p->failed ? -1 : place_failed(p, err);
}

/* save_synced - the ledger position, in the open transaction */
static int
save_synced(discovery_index *di, int64_t offset, int64_t lines)
{
	return fulltext_set_state_int(di, "holds_offset", offset) == 0
	    && fulltext_set_state_int(di, "holds_lines", lines) == 0 ? 0 : -1;
}

/* discovery_hold_synced - how far holds have read the ledger */
int
discovery_hold_synced(discovery_index *di, int64_t *offset, int64_t *lines,
		      mk_error *err)
{
	(void)err;
	*offset = fulltext_state_int(di, "holds_offset");
	*lines = fulltext_state_int(di, "holds_lines");
	return 0;
}

/* discovery_hold_set_synced - the ledger read up to offset */
int
discovery_hold_set_synced(discovery_index *di, int64_t offset, int64_t lines,
			  mk_error *err)
{
	return save_synced(di, offset, lines) == 0 ? 0
	    : fulltext_fail(di, "save the holds' ledger position", err);
}

/* hold_exists - is hold number in holds? */
static bool
hold_exists(discovery_index *di, int64_t number)
{
	sqlite3_stmt *st = NULL;
	bool yes = false;

	if (sqlite3_prepare_v2(di->db, "SELECT 1 FROM holds WHERE number = ?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, number);
		yes = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return yes;
}

/* insert_hold - h's row */
static int
insert_hold(discovery_index *di, const discovery_hold *h)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(di->db, "INSERT INTO holds(number, name, terms,"
			       " time, by, reason) VALUES(?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, h->number);
		sqlite3_bind_text(st, 2, h->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, h->terms, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, h->time);
		sqlite3_bind_text(st, 5, h->by, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, h->reason, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* fill_hold - h's row and members, in the open transaction */
static int
fill_hold(discovery_index *di, archive *ar, const discovery_hold *h,
	  int64_t *members, mk_error *err)
{
	discovery_query q;
	placing p = { .di = di, .ar = ar, .q = &q, .number = h->number };
	int rc;

	if (discovery_query_parse(h->terms, &q, err) != 0)
		return -1;
	if (insert_hold(di, h) != 0
	    || sqlite3_prepare_v2(di->db, ADD_MEMBER_SQL, -1, &p.add, NULL)
	    != SQLITE_OK)
		rc = fulltext_fail(di, "hold", err);
	else if ((rc = place_all(&p, err)) != 0 && p.failed)
		fulltext_fail(di, "hold member", err);
	sqlite3_finalize(p.add);
	discovery_query_free(&q);
	*members = p.members;
	return rc;
}

/* end_transaction - commit when rc is 0, else roll back; rc */
static int
end_transaction(discovery_index *di, int rc, mk_error *err)
{
	if (rc == 0 && sqlite3_exec(di->db, "COMMIT", NULL, NULL, NULL)
	    == SQLITE_OK)
		return 0;
	if (rc == 0)
		rc = fulltext_fail(di, "commit", err);
	sqlite3_exec(di->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* discovery_hold_create - h and what it covers, one transaction */
int
discovery_hold_create(discovery_index *di, archive *ar,
		      const discovery_hold *h, int64_t ledger_end,
		      int64_t ledger_lines, int64_t *members, mk_error *err)
{
	int rc = 0;

	*members = 0;
	if (sqlite3_exec(di->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fulltext_fail(di, "begin", err);
	if (!hold_exists(di, h->number))
		rc = fill_hold(di, ar, h, members, err);
	if (rc == 0 && save_synced(di, ledger_end, ledger_lines) != 0)
		rc = fulltext_fail(di, "save the holds' ledger position", err);
	return end_transaction(di, rc, err);
}

/* discovery_hold_release - the release of h->number */
int
discovery_hold_release(discovery_index *di, const discovery_hold *h,
		       int64_t ledger_end, int64_t ledger_lines, mk_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_exec(di->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fulltext_fail(di, "begin", err);
	if (sqlite3_prepare_v2(di->db, "UPDATE holds SET released = ?,"
			       " released_time = ?, released_by = ?,"
			       " release_reason = ? WHERE number = ? AND"
			       " released IS NULL", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, h->released);
		sqlite3_bind_int64(st, 2, h->released_time);
		sqlite3_bind_text(st, 3, h->released_by, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, h->release_reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, h->number);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	if (rc == 0)
		rc = save_synced(di, ledger_end, ledger_lines);
	if (rc != 0)
		rc = fulltext_fail(di, "release", err);
	return end_transaction(di, rc, err);
}

/* column_str - a text column, "" for NULL */
static const char *
column_str(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? s : "";
}

/* row_hold - a row of the listing as a hold */
static void
row_hold(sqlite3_stmt *st, discovery_hold *h)
{
	h->number = sqlite3_column_int64(st, 0);
	h->name = column_str(st, 1);
	h->terms = column_str(st, 2);
	h->time = sqlite3_column_int64(st, 3);
	h->by = column_str(st, 4);
	h->reason = column_str(st, 5);
	h->released = sqlite3_column_int64(st, 6);
	h->released_time = sqlite3_column_int64(st, 7);
	h->released_by = column_str(st, 8);
	h->release_reason = column_str(st, 9);
	h->members = sqlite3_column_int64(st, 10);
}

/* discovery_hold_list - the holds, or the one named name */
int
discovery_hold_list(discovery_index *di, const char *name,
		    discovery_hold_fn fn, void *ctx, mk_error *err)
{
	sqlite3_stmt *st = NULL;
	discovery_hold h;
	int rc, stop = 0;

	if (sqlite3_prepare_v2(di->db, "SELECT h.number, h.name, h.terms,"
			       " h.time, h.by, h.reason, h.released,"
			       " h.released_time, h.released_by,"
			       " h.release_reason, (SELECT count(*) FROM"
			       " hold_members m WHERE m.hold = h.number)"
			       " FROM holds h WHERE ?1 IS NULL OR h.name = ?1"
			       " ORDER BY h.number", -1, &st, NULL) != SQLITE_OK)
		return fulltext_fail(di, "holds", err);
	if (name != NULL)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_hold(st, &h);
		stop = fn(&h, ctx);
	}
	sqlite3_finalize(st);
	if (!stop && rc != SQLITE_DONE)
		return fulltext_fail(di, "holds", err);
	return 0;
}

/* discovery_held - under an open hold, or not weighed yet */
int
discovery_held(discovery_index *di, const char *id, bool *held, mk_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	*held = true;
	if (sqlite3_prepare_v2(di->db, "SELECT EXISTS(SELECT 1 FROM"
			       " hold_members m JOIN holds h ON h.number ="
			       " m.hold WHERE m.id = ?1 AND h.released IS NULL),"
			       " EXISTS(SELECT 1 FROM docs WHERE id = ?1)", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*held = sqlite3_column_int(st, 0) != 0
			    || sqlite3_column_int(st, 1) == 0;
			rc = 0;
		}
	}
	sqlite3_finalize(st);
	return rc == 0 ? 0 : fulltext_fail(di, "holds", err);
}
