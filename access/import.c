/*
 * import.c - mail that predates the milter, stored as if it had arrived
 * then.
 *
 * NAME
 *	import - the service's side of "mailkeep import"
 *
 * DESCRIPTION
 *	The client reads the mbox, Maildir or message files with its own
 *	permissions (import/: the service never opens a path a caller
 *	names) and streams each message: its envelope, derived from its
 *	headers (access_import_msg), then its bytes (access.h, "What an
 *	import client sends").  The service, for an admin only and after
 *	one audit entry for the whole run, takes each message as the milter
 *	would have taken it at its received time:
 *
 *	  - the policy in force decides (policy_evaluate() at received_at,
 *	    ingest/'s kept_decision): mode none, or a retention already
 *	    over, keeps nothing of it ("not_kept", with why);
 *	  - it is a duplicate when the archive holds the same content in
 *	    full (its SHA-256, computed here as the bytes arrive), or - kept
 *	    as metadata only, where there is no content to compare - the
 *	    same Message-ID, sender and received time: nothing is stored;
 *	  - otherwise it is stored (archive_spool_*, or archive_store_
 *	    metadata()) with origin "import", so its record says the
 *	    envelope was derived, not given by an MTA.
 *
 *	The archive is opened for writing for the run; while mailkeep-
 *	milter holds the archive's writer lock, the archive forwards the
 *	stores to it.  The connection's thread receives each message into
 *	its spool and checks it for a duplicate (of what is archived, or of
 *	a message of this run still being stored); STORE_WORKERS threads
 *	commit, so that many messages share the archive's round of syncs
 *	as concurrent SMTP sessions do.  Each message's outcome is one item
 *	(with its number in the run), sent once it is stored; the counts end
 *	the answer.  A message whose store fails is "refused" with the
 *	reason and leaves nothing behind; the run goes on.  Memory: at most
 *	ACCESS_IMPORT_WINDOW messages' spools and envelopes, and one DATA
 *	frame.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "access/internal.h"
#include "ingest/ingest.h"

/* What became of one message. */
typedef enum {
	IMPORTED, DUPLICATE, NOT_KEPT, REFUSED, CANCELLED, N_OUTCOMES
} outcome;

static const char *const outcome_names[N_OUTCOMES] = {
	"imported", "duplicate", "not_kept", "refused", "cancelled"
};

#define STORE_WORKERS	16	/* stores under way at once */

/* One message: received, then waiting for a worker, then stored. */
typedef struct incoming {
	uint64_t n;			/* its number in the run, from 1 */
	access_import_msg m;
	kept_decision k;
	bool decided;			/* k holds a decision */
	archive_spool *sp;		/* kept in full: its spool */
	EVP_MD_CTX *sha;
	int64_t size;
	char key[ARCHIVE_SHA256_HEX + 1];	/* what a duplicate shares */
	outcome early;			/* NOT_KEPT or REFUSED when why is set */
	char why[MK_ERROR_MAX];		/* not stored, and why; "" so far none */
} incoming;

/* One import run.  The connection's thread receives; the workers store,
 * so that the archive's committer makes one round of syncs for many
 * messages; lock guards what they share, the answer frames included. */
typedef struct import_run {
	answer *a;
	archive *w;			/* opened for writing: the stores */
	archive *rd;			/* read: duplicate checks (receiver) */
	incoming *in;			/* the message being received */
	uint64_t last_n;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	incoming *queue[ACCESS_IMPORT_WINDOW];	/* received, to be stored */
	size_t head, queued;
	char flying[ACCESS_IMPORT_WINDOW][ARCHIVE_SHA256_HEX + 1];
	size_t n_flying;		/* keys queued or being stored */
	bool closing;			/* no more messages: workers drain */
	pthread_t workers[STORE_WORKERS];
	size_t n_workers;
	uint64_t count[N_OUTCOMES];
} import_run;

/* reject - the message will not be stored, for why */
static void
reject(incoming *in, outcome o, const char *why)
{
	if (in->why[0] != '\0')
		return;		/* the first reason stands */
	in->early = o;
	snprintf(in->why, sizeof(in->why), "%s", why);
	archive_spool_discard(in->sp);
	in->sp = NULL;
}

/* incoming_free - a message and what it holds; NULL is fine */
static void
incoming_free(incoming *in)
{
	if (in == NULL)
		return;
	archive_spool_discard(in->sp);
	EVP_MD_CTX_free(in->sha);
	if (in->decided)
		kept_decision_free(&in->k);
	access_import_msg_free(&in->m);
	free(in);
}

/* decide - the policy's decision for the message */
static void
decide(import_run *r, incoming *in)
{
	policy_decision d;
	char day[16];
	time_t t;
	mk_error err;

	if (policy_evaluate(r->a->pol, in->m.mail_from ? in->m.mail_from : "",
			    (const char *const *)in->m.rcpts, in->m.n_rcpts,
			    in->m.received_at / 1000000, &d, &err) != 0)
		return reject(in, REFUSED, err.msg);
	if (d.mode == POLICY_NONE)
		reject(in, NOT_KEPT, "the policy keeps nothing of it (mode none)");
	else if (kept_decision_take(&in->k, &d) != 0)
		reject(in, REFUSED, "out of memory");
	in->decided = d.mode != POLICY_NONE;
	policy_decision_free(&d);
	if (in->decided && in->k.ap.retain_until != 0
	    && in->k.ap.retain_until <= time(NULL)) {
		t = (time_t)in->k.ap.retain_until - 86400;
		strftime(day, sizeof(day), "%Y-%m-%d", gmtime(&t));
		snprintf(err.msg, sizeof(err.msg), "its retention under the"
			 " policy ended with %s: it may not be kept", day);
		reject(in, NOT_KEPT, err.msg);
	}
}

/* begin_message - a MESSAGE frame: a new message, its envelope, the
 * decision, a spool; NULL when out of memory */
static incoming *
begin_message(import_run *r, const char *buf, size_t len)
{
	incoming *in = calloc(1, sizeof(*in));
	mk_error err;

	if (in == NULL)
		return NULL;
	in->n = ++r->last_n;
	if (access_import_msg_parse(buf, len, &in->m, &err) != 0)
		return reject(in, REFUSED, err.msg), in;
	if ((in->sha = EVP_MD_CTX_new()) == NULL
	    || EVP_DigestInit_ex(in->sha, EVP_sha256(), NULL) != 1)
		return reject(in, REFUSED, "out of memory"), in;
	decide(r, in);
	if (in->why[0] == '\0' && in->k.ap.content == ARCHIVE_FULL
	    && (in->sp = archive_spool_begin(r->w, in->k.ap.retain_until,
					     &err)) == NULL)
		reject(in, REFUSED, err.msg);
	return in;
}

/* take_data - a DATA frame of the message under way */
static void
take_data(incoming *in, const char *buf, size_t len)
{
	mk_error err;

	if (in->why[0] != '\0')
		return;		/* drained */
	in->size += (int64_t)len;
	if (EVP_DigestUpdate(in->sha, buf, len) != 1)
		return reject(in, REFUSED, "hashing failed");
	if (in->sp != NULL && archive_spool_write(in->sp, buf, len, &err) != 0)
		reject(in, REFUSED, err.msg);
}

/* hex_of - 32 bytes as 64 hex digits */
static void
hex_of(const unsigned char md[32], char out[ARCHIVE_SHA256_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

/* take_key - what the message's duplicates share: its content's SHA-256
 * (kept in full), or one of its Message-ID, sender and time (metadata
 * only); its content's digest into sha (full) */
static int
take_key(incoming *in, char sha[ARCHIVE_SHA256_HEX + 1])
{
	unsigned char md[32];
	char *meta = NULL;
	int rc;

	if (EVP_DigestFinal_ex(in->sha, md, NULL) != 1)
		return -1;
	hex_of(md, sha);
	if (in->k.ap.content == ARCHIVE_FULL) {
		memcpy(in->key, sha, sizeof(in->key));
		return 0;
	}
	if (asprintf(&meta, "%s\n%s\n%lld", in->m.message_id ? in->m.message_id
		     : "", in->m.mail_from ? in->m.mail_from : "",
		     (long long)in->m.received_at) < 0)
		return -1;
	rc = EVP_Digest(meta, strlen(meta), md, NULL, EVP_sha256(), NULL) == 1
	    ? 0 : -1;
	free(meta);
	hex_of(md, in->key);
	return rc;
}

/* envelope_of - the archive's envelope of the message */
static archive_envelope
envelope_of(const incoming *in)
{
	archive_envelope env = {
		.mail_from = in->m.mail_from ? in->m.mail_from : "",
		.rcpts = (const char *const *)in->m.rcpts,
		.n_rcpts = in->m.n_rcpts,
		.message_id = in->m.message_id,
		.subject = in->m.subject,
		.date = in->m.date,
		.received_at = in->m.received_at,
		.policy = in->k.ap,
		.origin = "import",
	};

	return env;
}

/* answer_message - the item saying what became of in; r->lock held */
static int
answer_message(import_run *r, const incoming *in, outcome o, const char *id)
{
	json_t *item = json_pack("{s:I, s:s, s:s?}", "n", (json_int_t)in->n,
				 "outcome", outcome_names[o], "source",
				 in->m.source);

	r->count[o]++;
	if (item != NULL && id != NULL && id[0] != '\0')
		json_object_set_new(item, "id", json_string(id));
	if (item != NULL && (o == NOT_KEPT || o == REFUSED))
		json_object_set_new(item, "why", json_string(in->why));
	return answer_json(r->a, ACCESS_FRAME_ITEM, item);
}

/* answered - answer_message under the lock */
static int
answered(import_run *r, const incoming *in, outcome o, const char *id)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = answer_message(r, in, o, id);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* store - in, with the archive: committed, or why not */
static outcome
store(import_run *r, incoming *in, char id[ARCHIVE_ID_LEN + 1])
{
	archive_envelope env = envelope_of(in);
	archive_spool *sp = in->sp;
	mk_error err;
	int rc;

	in->sp = NULL;		/* commit consumes it */
	rc = in->k.ap.content == ARCHIVE_FULL
	    ? archive_spool_commit(sp, &env, id, &err)
	    : archive_store_metadata(r->w, &env, in->size, id, &err);
	if (rc == 0)
		return IMPORTED;
	snprintf(in->why, sizeof(in->why), "%s", err.msg);
	return REFUSED;
}

/* land - in is stored (or not): say so, and no longer in flight */
static void
land(import_run *r, incoming *in, outcome o, const char *id)
{
	size_t i;

	pthread_mutex_lock(&r->lock);
	answer_message(r, in, o, id);
	for (i = 0; i < r->n_flying; i++)
		if (strcmp(r->flying[i], in->key) == 0) {
			memcpy(r->flying[i], r->flying[--r->n_flying],
			       sizeof(r->flying[i]));
			break;
		}
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

/* store_worker - thread body: store what is queued until the run ends */
static void *
store_worker(void *arg)
{
	import_run *r = arg;
	char id[ARCHIVE_ID_LEN + 1];
	incoming *in;
	outcome o;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (r->queued == 0 && !r->closing)
			pthread_cond_wait(&r->changed, &r->lock);
		if (r->queued == 0) {
			pthread_mutex_unlock(&r->lock);
			return NULL;
		}
		in = r->queue[r->head];
		r->head = (r->head + 1) % ACCESS_IMPORT_WINDOW;
		r->queued--;
		pthread_cond_broadcast(&r->changed);
		pthread_mutex_unlock(&r->lock);
		id[0] = '\0';
		o = store(r, in, id);
		land(r, in, o, id);
		incoming_free(in);
	}
}

/* in_flight - is a message sharing key queued or being stored?  r->lock
 * held */
static bool
in_flight(const import_run *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n_flying; i++)
		if (strcmp(r->flying[i], key) == 0)
			return true;
	return false;
}

/* enqueue - in to the workers (waits for room); its key in flight */
static void
enqueue(import_run *r, incoming *in)
{
	pthread_mutex_lock(&r->lock);
	while (r->queued == ACCESS_IMPORT_WINDOW
	       || r->n_flying == ACCESS_IMPORT_WINDOW)
		pthread_cond_wait(&r->changed, &r->lock);
	r->queue[(r->head + r->queued++) % ACCESS_IMPORT_WINDOW] = in;
	memcpy(r->flying[r->n_flying++], in->key, sizeof(in->key));
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

/* finish_message - a FINISH frame: a duplicate, or to the workers */
static int
finish_message(import_run *r, incoming *in)
{
	char sha[ARCHIVE_SHA256_HEX + 1], id[ARCHIVE_ID_LEN + 1] = "";
	bool flying;
	mk_error err;
	int found, rc;

	if (in->why[0] == '\0' && take_key(in, sha) != 0)
		reject(in, REFUSED, "hashing failed");
	if (in->why[0] != '\0') {
		rc = answered(r, in, in->early, NULL);
		incoming_free(in);
		return rc;
	}
	pthread_mutex_lock(&r->lock);	/* first in flight, then stored: a
					   store leaves flight once it is in
					   the index */
	flying = in_flight(r, in->key);
	pthread_mutex_unlock(&r->lock);
	found = flying ? 1 : archive_find_same(r->rd, in->k.ap.content ==
					       ARCHIVE_FULL ? sha : NULL,
					       in->m.message_id,
					       envelope_of(in).mail_from,
					       in->m.received_at, id, &err);
	if (found != 0) {
		if (found < 0)
			reject(in, REFUSED, err.msg);
		rc = answered(r, in, found > 0 ? DUPLICATE : REFUSED, id);
		incoming_free(in);
		return rc;
	}
	enqueue(r, in);
	return 0;
}

/* summary - the counts, for the end frame */
static json_t *
summary(const import_run *r)
{
	json_t *obj = json_object();
	int i;

	for (i = 0; obj != NULL && i < N_OUTCOMES; i++)
		json_object_set_new(obj, outcome_names[i],
				    json_integer((json_int_t)r->count[i]));
	return obj;
}

/* take_frame - one frame of the client's: 1 go on, 0 EXIT, -1 wrong */
static int
take_frame(import_run *r, char type, const char *buf, size_t len)
{
	int rc = 1;

	if (type == ACCESS_FRAME_MESSAGE && r->in == NULL)
		return (r->in = begin_message(r, buf, len)) != NULL ? 1 : -1;
	if (type == ACCESS_FRAME_DATA && r->in != NULL)
		return take_data(r->in, buf, len), 1;
	if (type == ACCESS_FRAME_FINISH && r->in != NULL)
		rc = finish_message(r, r->in) == 0 ? 1 : -1;
	else if (type == ACCESS_FRAME_CANCEL && r->in != NULL) {
		rc = answered(r, r->in, CANCELLED, NULL) == 0 ? 1 : -1;
		incoming_free(r->in);
	} else
		return type == ACCESS_FRAME_EXIT && r->in == NULL ? 0 : -1;
	r->in = NULL;
	return rc;
}

/* take_frames - the client's frames until EXIT; 0, or -1 with why */
static int
take_frames(import_run *r, char *why, size_t size)
{
	const char *buf;
	size_t len;
	char type;
	int rc;

	while (r->a->recv(&type, &buf, &len, r->a->ctx) == 1) {
		if ((rc = take_frame(r, type, buf, len)) == 0)
			return 0;
		if (rc < 0) {
			snprintf(why, size, r->a->gone ? "the client went away"
				 : "import: a frame '%c' out of order, or out"
				 " of memory", type);
			return -1;
		}
	}
	snprintf(why, size, "import: the client went away or stopped"
		 " sending");
	return -1;
}

/* start_workers - the store workers; 0 or -1 */
static int
start_workers(import_run *r)
{
	for (r->n_workers = 0; r->n_workers < STORE_WORKERS; r->n_workers++)
		if (pthread_create(&r->workers[r->n_workers], NULL, store_worker,
				   r) != 0)
			break;
	return r->n_workers > 0 ? 0 : -1;
}

/* stop_workers - let them store what is queued, then end them */
static void
stop_workers(import_run *r)
{
	size_t i;

	pthread_mutex_lock(&r->lock);
	r->closing = true;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < r->n_workers; i++)
		pthread_join(r->workers[i], NULL);
}

/* run_import - the messages, stored by the workers; answered */
static void
run_import(import_run *r)
{
	char why[MK_ERROR_MAX];
	int rc;

	if (answer_json(r->a, ACCESS_FRAME_ITEM, json_pack("{s:b}", "ready", 1))
	    != 0)
		return;
	if (start_workers(r) != 0) {
		answer_error(r->a, "import: cannot start a thread");
		return;
	}
	rc = take_frames(r, why, sizeof(why));
	incoming_free(r->in);
	r->in = NULL;
	stop_workers(r);
	if (rc == 0)
		answer_ok(r->a, summary(r));
	else
		answer_error(r->a, "%s", why);
}

/* serve_import - the run: admin, audit, the writer, the messages */
int
serve_import(answer *a)
{
	import_run r = { .a = a };
	mk_error err;

	if (answer_permitted(a) != 0)
		return 0;
	if (a->recv == NULL)
		return answer_error(a, "import: the messages must follow the"
				    " request (use mailkeep import)");
	r.w = archive_open_with(a->s->archive_dir, ARCHIVE_WRITE, &a->s->opts,
				&err);
	if (r.w != NULL)
		r.rd = archive_open_with(a->s->archive_dir, ARCHIVE_READ,
					 &a->s->opts, &err);
	if (r.w == NULL || r.rd == NULL) {
		archive_close(r.w);
		return answer_error(a, "import: cannot open the archive for"
				    " writing: %s", err.msg);
	}
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.changed, NULL);
	run_import(&r);
	pthread_cond_destroy(&r.changed);
	pthread_mutex_destroy(&r.lock);
	archive_close(r.rd);
	archive_close(r.w);
	return 0;
}
