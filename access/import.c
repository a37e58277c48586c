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
 *	stores to it.  Each message's outcome is one item, sent after its
 *	last frame; the counts end the answer.  A message whose store fails
 *	is "refused" with the reason and leaves nothing behind; the run
 *	goes on.  Memory: one DATA frame at a time.
 */
#include "config.h"

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

/* One message being received. */
typedef struct incoming {
	access_import_msg m;
	kept_decision k;
	bool decided;			/* k holds a decision */
	archive_spool *sp;		/* kept in full: its spool */
	EVP_MD_CTX *sha;
	int64_t size;
	outcome early;			/* NOT_KEPT or REFUSED when why is set */
	char why[MK_ERROR_MAX];		/* not stored, and why; "" so far none */
} incoming;

/* One import run. */
typedef struct import_run {
	answer *a;
	archive *w;			/* opened for writing */
	incoming in;
	bool open;			/* a message is under way */
	uint64_t count[N_OUTCOMES];
} import_run;

/* reject - the message under way will not be stored, for why */
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

/* incoming_end - free what the message under way holds */
static void
incoming_end(incoming *in)
{
	archive_spool_discard(in->sp);
	EVP_MD_CTX_free(in->sha);
	if (in->decided)
		kept_decision_free(&in->k);
	access_import_msg_free(&in->m);
	memset(in, 0, sizeof(*in));
}

/* decide - the policy's decision for the message under way */
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

/* begin_message - a MESSAGE frame: the envelope, the decision, a spool */
static void
begin_message(import_run *r, const char *buf, size_t len)
{
	incoming *in = &r->in;
	mk_error err;

	memset(in, 0, sizeof(*in));
	r->open = true;
	if (access_import_msg_parse(buf, len, &in->m, &err) != 0)
		return reject(in, REFUSED, err.msg);
	if ((in->sha = EVP_MD_CTX_new()) == NULL
	    || EVP_DigestInit_ex(in->sha, EVP_sha256(), NULL) != 1)
		return reject(in, REFUSED, "out of memory");
	decide(r, in);
	if (in->why[0] == '\0' && in->k.ap.content == ARCHIVE_FULL
	    && (in->sp = archive_spool_begin(r->w, in->k.ap.retain_until,
					     &err)) == NULL)
		reject(in, REFUSED, err.msg);
}

/* take_data - a DATA frame of the message under way */
static void
take_data(import_run *r, const char *buf, size_t len)
{
	incoming *in = &r->in;
	mk_error err;

	if (in->why[0] != '\0')
		return;		/* drained */
	in->size += (int64_t)len;
	if (EVP_DigestUpdate(in->sha, buf, len) != 1)
		return reject(in, REFUSED, "hashing failed");
	if (in->sp != NULL && archive_spool_write(in->sp, buf, len, &err) != 0)
		reject(in, REFUSED, err.msg);
}

/* envelope_of - the archive's envelope of the message under way */
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

/* sha_hex - the digest of the message under way as 64 hex digits */
static int
sha_hex(incoming *in, char out[ARCHIVE_SHA256_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	size_t i;

	if (EVP_DigestFinal_ex(in->sha, md, NULL) != 1)
		return -1;
	for (i = 0; i < sizeof(md); i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * sizeof(md)] = '\0';
	return 0;
}

/* store - the message under way, unless the archive has it; its id */
static outcome
store(import_run *r, incoming *in, char id[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	char sha[ARCHIVE_SHA256_HEX + 1];
	bool full = in->k.ap.content == ARCHIVE_FULL;
	archive_envelope env = envelope_of(in);
	archive_spool *sp = in->sp;
	int found;

	if (sha_hex(in, sha) != 0)
		return mk_error_set(err, "hashing failed"), REFUSED;
	found = archive_find_same(r->w, full ? sha : NULL, in->m.message_id,
				  env.mail_from, in->m.received_at, id, err);
	if (found != 0)
		return found > 0 ? DUPLICATE : REFUSED;
	if (!full)
		return archive_store_metadata(r->w, &env, in->size, id, err) == 0
		    ? IMPORTED : REFUSED;
	in->sp = NULL;		/* commit consumes it */
	return archive_spool_commit(sp, &env, id, err) == 0 ? IMPORTED
	    : REFUSED;
}

/* finish_message - a FINISH or CANCEL frame: store or not, and say so */
static int
finish_message(import_run *r, bool cancel)
{
	incoming *in = &r->in;
	char id[ARCHIVE_ID_LEN + 1] = "";
	mk_error err;
	outcome o;
	json_t *item;

	err.msg[0] = '\0';
	if (cancel)
		o = CANCELLED;
	else if (in->why[0] != '\0')
		o = in->early;
	else if ((o = store(r, in, id, &err)) == REFUSED)
		snprintf(in->why, sizeof(in->why), "%s", err.msg);
	r->count[o]++;
	item = json_pack("{s:s, s:s?}", "outcome", outcome_names[o],
			 "source", in->m.source);
	if (item != NULL && id[0] != '\0')
		json_object_set_new(item, "id", json_string(id));
	if (item != NULL && (o == NOT_KEPT || o == REFUSED))
		json_object_set_new(item, "why", json_string(in->why));
	incoming_end(in);
	r->open = false;
	return answer_json(r->a, ACCESS_FRAME_ITEM, item);
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

/* take_frames - the client's frames until EXIT; 0, or -1 after an error
 * answer (the message under way, if any, is dropped) */
static int
take_frames(import_run *r)
{
	const char *buf;
	size_t len;
	char type;

	while (r->a->recv(&type, &buf, &len, r->a->ctx) == 1) {
		if (type == ACCESS_FRAME_MESSAGE && !r->open)
			begin_message(r, buf, len);
		else if (type == ACCESS_FRAME_DATA && r->open)
			take_data(r, buf, len);
		else if ((type == ACCESS_FRAME_FINISH
			  || type == ACCESS_FRAME_CANCEL) && r->open) {
			if (finish_message(r, type == ACCESS_FRAME_CANCEL) != 0)
				return -1;
		} else if (type == ACCESS_FRAME_EXIT && !r->open)
			return 0;
		else
			return answer_error(r->a, "import: a frame '%c' out of"
					    " order", type), -1;
	}
	return answer_error(r->a, "import: the client went away or stopped"
			    " sending"), -1;
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
	if (r.w == NULL)
		return answer_error(a, "import: cannot open the archive for"
				    " writing: %s", err.msg);
	if (answer_json(a, ACCESS_FRAME_ITEM, json_pack("{s:b}", "ready", 1))
	    == 0 && take_frames(&r) == 0)
		answer_ok(a, summary(&r));
	incoming_end(&r.in);
	archive_close(r.w);
	return 0;
}
