/*
 * internal.h - what the files of access/ share behind access.h.
 */
#ifndef MAILKEEP_ACCESS_INTERNAL_H
#define MAILKEEP_ACCESS_INTERNAL_H

#include <pthread.h>

#include "access/access.h"
#include "common/timeparse.h"

/* The state of one four-eyes request. */
typedef enum {
	BOOK_PENDING = 0,
	BOOK_APPROVED,
	BOOK_DENIED
} book_state;

/* One four-eyes request, as its ledger entries tell it. */
typedef struct book_entry {
	int64_t number;			/* the ledger seq of the request */
	uid_t uid;			/* who asked */
	char user[ACCESS_MAX_USER + 1];
	char id[ARCHIVE_ID_LEN + 1];
	access_op asks;			/* ACCESS_OP_GET or ACCESS_OP_SHOW */
	char *reason;
	int64_t time;			/* when asked, usec */
	book_state state;
	uid_t decider;			/* who approved or denied */
	char decider_name[ACCESS_MAX_USER + 1];
	int64_t decided;		/* when, usec */
	int64_t until;			/* approved: released until, usec */
} book_entry;

/* Every four-eyes request of the archive, in ledger order, as far as
 * the ledger has been read.  The ledger is the only record: before each
 * decision the book reads what was appended since (book_sync()), so a
 * request another process wrote counts at once. */
typedef struct access_book {
	pthread_mutex_t lock;		/* held across sync, check, append */
	book_entry *v;
	size_t n, cap;
	int64_t offset;			/* bytes of ledger.log read */
	int64_t lines;			/* lines read */
} access_book;

/* book_sync - read the ledger's new lines into the book; b->lock held */
int book_sync(access_book *b, archive *ar, mk_error *err);

/* book_free - free the entries (not b) */
void book_free(access_book *b);

/* book_find - request number, or NULL; b->lock held */
book_entry *book_find(access_book *b, int64_t number);

/* book_live - does uid hold a live approval for op on message id at now?
 * (an approval to get also releases show); b->lock held */
bool book_live(const access_book *b, uid_t uid, const char *id,
	       access_op op, int64_t now);

/* book_entry_json - e as the JSON object text of a "requests" item, its
 * state at now; malloc'ed */
char *book_entry_json(const book_entry *e, int64_t now);

/* A policy and the requests that still use it. */
typedef struct policy_ref {
	policy *pol;
	unsigned refs;			/* the service's own counts as one */
} policy_ref;

struct access_service {
	char *archive_dir;
	archive_options opts;
	pthread_mutex_t policy_lock;
	policy_ref *current;		/* replaced by set_policy */
	access_book book;
	pthread_mutex_t holds_lock;	/* one hold change or expiry at a time */
};

/* service_policy_take - the current policy, held until dropped */
policy_ref *service_policy_take(access_service *s);

/* service_policy_drop - let go of r; the last user frees it */
void service_policy_drop(access_service *s, policy_ref *r);

/* One answer being given (service.c). */
typedef struct answer {
	access_service *s;
	const access_identity *who;
	const access_request *rq;
	const policy *pol;
	archive *ar;
	access_emit_fn emit;
	access_recv_fn recv;		/* the client's frames, or NULL */
	void *ctx;
	bool gone;			/* emit failed: the client left */
} answer;

/* answer_frame - one frame to the client; -1 once it is gone */
int answer_frame(answer *a, char type, const void *buf, size_t len);

/* answer_json - obj (consumed) as a frame of type */
int answer_json(answer *a, char type, json_t *obj);

/* answer_ok - the end frame of a good answer, with extra's members
 * (consumed; NULL: none) */
int answer_ok(answer *a, json_t *extra);

/* answer_error - the end frame of a refused or failed answer */
int answer_error(answer *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* answer_audit - write the entry of this answer; 0, or -1 after telling
 * the client that the access is refused for want of its record */
int answer_audit(answer *a, access_audit *entry, int64_t *seq);

/* answer_permitted - an operation without a message (verify, audit,
 * status, holds, expire): decided and audited; 0 when granted, else -1
 * with the client told */
int answer_permitted(answer *a);

/* serve_hold, serve_holds, serve_release, serve_expire - legal holds
 * and expiry (holds.c) */
int serve_hold(answer *a);
int serve_holds(answer *a);
int serve_release(answer *a);
int serve_expire(answer *a);

/* holds_open_synced - the full-text index, its holds up to the ledger;
 * NULL after answering with the error; call under s->holds_lock */
discovery_index *holds_open_synced(answer *a);

/* What an expiry or a policy apply run keeps while the archive forgets
 * (holds.c): the first member of each run's own state, so that the
 * archive's callbacks below take either. */
typedef struct forgetting {
	answer *a;
	discovery_index *di;
	discovery_forget *forget;	/* open while the archive works */
	uint64_t held_errors;		/* held for want of an answer */
} forgetting;

/* forgetting_held - does an open hold cover id?  Held when the index
 * cannot say (counted in held_errors) */
bool forgetting_held(forgetting *g, const char *id);

/* forgetting_message - archive_forget_fn (ctx a forgetting): a message
 * that goes, its words and rows out; NULL: make that durable */
int forgetting_message(const archive_message *msg, void *ctx,
		       mk_error *err);

/* forgetting_words - archive_forget_fn: the words of a dropped content;
 * NULL: durably */
int forgetting_words(const archive_message *msg, void *ctx, mk_error *err);

/* forgetting_progress - archive_progress_fn: a progress frame */
void forgetting_progress(const char *phase, uint64_t done, uint64_t total,
			 void *ctx);

/* holds_catch_up - the full-text index up to the archive (every stored
 * message weighed against every open hold), with progress frames */
int holds_catch_up(answer *a, discovery_index *di, mk_error *err);

/* serve_policy_apply - stored messages re-decided under the current
 * policy (apply.c) */
int serve_policy_apply(answer *a);

/* How one search runs (service.c): the envelope filters of the request,
 * which the index's SQL answers, and the parsed query text, whose
 * full-text terms the full-text index answers and whose envelope terms
 * are checked on each row (discovery/envelope.c). */
typedef struct search_plan {
	archive_query q;
	discovery_query dq;
	discovery_index *di;		/* open when dq has full-text terms */
} search_plan;

/* plan_search - the plan of the request's search; -1 with err */
int plan_search(answer *a, search_plan *p, mk_error *err);

/* plan_walk_all - fn for every message of the plan, in its order */
int plan_walk_all(answer *a, search_plan *p, archive_search_fn fn, void *ctx,
		  mk_error *err);

/* plan_free - what the plan holds */
void plan_free(search_plan *p);

/* serve_import - mail that predates the milter, streamed by the client
 * (import.c) */
int serve_import(answer *a);

/* granted_entry - a ledger line as a granted access entry: the parsed
 * object (json_decref() it) and its action, or NULL for any other line
 * (audit.c; the four-eyes book and the holds read the ledger so) */
json_t *granted_entry(const char *line, size_t len, const char **action);

/* wire_text - s as a JSON string, {"base64": ...} when it is not UTF-8,
 * null when NULL; NULL when out of memory (wiretext.c) */
json_t *wire_text(const char *s);

/* wire_text_of - a value made by wire_text() back into a malloc'ed string
 * in *out (NULL for null); -1 when it is neither */
int wire_text_of(json_t *v, char **out);

/* wire_strings - strings as a JSON array (those that are not UTF-8 as
 * {"base64": ...}); NULL when out of memory */
json_t *wire_strings(const char *const *items, size_t n);



#endif /* MAILKEEP_ACCESS_INTERNAL_H */
