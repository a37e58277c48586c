/*
 * archive.h - the one interface of mailkeep's store.
 *
 * NAME
 *	archive - durable, content-addressed mail archive
 *
 * SYNOPSIS
 *	#include "archive/archive.h"
 *
 * DESCRIPTION
 *	An archive is a directory that holds
 *
 *	  blobs/XX/<sha256>     message content, addressed by the SHA-256 of
 *	                        the raw bytes, so identical copies are stored once
 *	  records/<date>.log    per-message records (envelope, one JSON line
 *	                        each), appended in group commits
 *	  ledger/ledger.log     the append-only event ledger (one JSON line an
 *	                        event: stored, accessed, ...)
 *	  index.sqlite          the SQLite index (WAL); derived data, rebuildable
 *	                        from the three above
 *	  spool/                messages being received; leftovers are removed
 *	                        when a writer opens the archive
 *	  keys/                 key material (0700)
 *
 *	A writer receives a message through a spool: archive_spool_begin(),
 *	archive_spool_write() as bytes arrive, then archive_spool_commit() with
 *	the envelope.  Commit returns 0 only once the blob, the record, the
 *	ledger entry and the index row are on disk; commits from many threads
 *	are batched so that one round of fsyncs serves them all.
 *
 *	Readers search the index, look up one message and stream its content.
 *	Every read is recorded in the ledger by the caller through
 *	archive_log_access().
 *
 * DIAGNOSTICS
 *	Functions that can fail return 0 on success and -1 on failure, and
 *	describe the failure in the caller's mk_error.  Nothing here prints.
 */
#ifndef MAILKEEP_ARCHIVE_H
#define MAILKEEP_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Limits a user can meet; documented in mailkeep.conf(5). */
#define ARCHIVE_ID_LEN		24	/* hex characters in a message id */
#define ARCHIVE_SHA256_HEX	64
#define ARCHIVE_MAX_RCPTS	10000	/* envelope recipients per message */
#define ARCHIVE_MAX_FIELD	4096	/* bytes of an envelope field or header
					   value kept in records and index;
					   the content is never cut */

typedef struct archive archive;			/* opaque */
typedef struct archive_spool archive_spool;	/* opaque */

/* How archive_open() opens the directory. */
typedef enum {
	ARCHIVE_READ = 0,	/* search, lookup, read, log access */
	ARCHIVE_WRITE = 1	/* also store; starts the committer thread */
} archive_mode;

/* What is kept of a message. */
typedef enum {
	ARCHIVE_FULL = 0,	/* content and envelope */
	ARCHIVE_METADATA = 1	/* traffic data only: no content, no Subject */
} archive_content;

/* Which rule of the policy decided for one party of a message. */
typedef struct archive_party {
	const char *address;
	const char *rule;
} archive_party;

/* The policy's decision, kept with the message.  All zero: full content,
 * kept indefinitely, no roles. */
typedef struct archive_policy {
	archive_content content;
	const char *direction;		/* "inbound", "outbound", ... or NULL */
	int64_t retain_until;		/* seconds since the epoch; 0: forever */
	const char *const *roles;	/* who may see the message */
	size_t n_roles;
	const archive_party *parties;
	size_t n_parties;
} archive_policy;

/*
 * The envelope of one message: what the MTA told the milter.  Every
 * string may be NULL when the MTA did not say.  The archive copies what it
 * keeps; the caller keeps ownership.
 */
typedef struct archive_envelope {
	const char *queue_id;		/* the MTA's {i} */
	const char *client_addr;	/* connecting IP address */
	const char *client_name;	/* its host name as the MTA resolved it */
	const char *helo;
	const char *auth_user;		/* {auth_authen} */
	const char *tls_version;	/* {tls_version} */
	const char *mail_from;		/* envelope sender, without <> */
	const char *const *rcpts;	/* envelope recipients, without <> */
	size_t n_rcpts;
	const char *message_id;		/* header values as received */
	const char *subject;
	const char *date;
	int64_t received_at;		/* microseconds since the epoch, UTC */
	archive_policy policy;
} archive_envelope;

/*
 * One archived message as the index knows it.  Returned by
 * archive_lookup() (owned by the caller: archive_message_free()) and
 * passed to archive_search()'s callback (owned by the archive, valid
 * during the call only).
 */
typedef struct archive_message {
	char id[ARCHIVE_ID_LEN + 1];
	char sha256[ARCHIVE_SHA256_HEX + 1];	/* "" when metadata only */
	archive_content content;
	int64_t retain_until;		/* seconds since the epoch; 0: forever */
	char **roles;
	size_t n_roles;
	char *policy_json;		/* the decision as stored: {"content":
					   ..., "direction": ..., "retain_until":
					   ..., "roles": [...], "parties":
					   [{"address": ..., "rule": ...}]} */
	int64_t received_at;		/* microseconds since the epoch, UTC */
	int64_t size;			/* bytes of content (also when only
					   metadata was kept) */
	char *queue_id;			/* each string may be NULL */
	char *client_addr;
	char *client_name;
	char *helo;
	char *auth_user;
	char *tls_version;
	char *mail_from;
	char *message_id;
	char *subject;
	char *date;
	char **rcpts;
	size_t n_rcpts;
} archive_message;

/*
 * A search.  Unset fields (NULL, or 0 for times) do not restrict.
 * from/to: a whole address (case-insensitive) or "@domain" for every
 * address of that domain.  since/until: received_at >= since, < until.
 */
typedef struct archive_query {
	const char *from;
	const char *to;
	const char *message_id;
	int64_t since;
	int64_t until;
	size_t limit;			/* 0: no limit */
} archive_query;

/* archive_create - make a new, empty archive at dir (created if needed) */
int archive_create(const char *dir, mk_error *err);

/* archive_open - open an existing archive; NULL on failure */
archive *archive_open(const char *dir, archive_mode mode, mk_error *err);

/* archive_close - finish pending commits, stop the committer, free */
void archive_close(archive *ar);

/* archive_spool_begin - start receiving one message; NULL on failure */
archive_spool *archive_spool_begin(archive *ar, mk_error *err);

/* archive_spool_write - append content bytes (any bytes, NULs included) */
int archive_spool_write(archive_spool *sp, const void *buf, size_t len,
			mk_error *err);

/*
 * archive_spool_commit - store the spooled content with its envelope.
 * Returns 0 once everything is durable and writes the new message id to
 * id_out.  Consumes sp whatever the result.
 */
int archive_spool_commit(archive_spool *sp, const archive_envelope *env,
			 char id_out[ARCHIVE_ID_LEN + 1], mk_error *err);

/*
 * archive_store_metadata - store the traffic data of a message whose
 * content is not kept (env->policy.content must be ARCHIVE_METADATA;
 * env->subject is ignored); size is the message's size in bytes.  Durable
 * when it returns 0; the new id in id_out.
 */
int archive_store_metadata(archive *ar, const archive_envelope *env,
			   int64_t size, char id_out[ARCHIVE_ID_LEN + 1],
			   mk_error *err);

/* archive_spool_discard - drop a message being received; sp may be NULL */
void archive_spool_discard(archive_spool *sp);

/*
 * archive_search - call fn for each message matching q, oldest first.
 * fn returns 0 to go on, non-zero to stop (then archive_search returns 0).
 */
typedef int (*archive_search_fn)(const archive_message *msg, void *ctx);
int archive_search(archive *ar, const archive_query *q,
		   archive_search_fn fn, void *ctx, mk_error *err);

/* archive_lookup - one message by id; *out owned by the caller.
 * Returns 0 and sets *out, or -1 (err says "no message ...") */
int archive_lookup(archive *ar, const char *id, archive_message **out,
		   mk_error *err);

/* archive_message_free - free what archive_lookup() returned; NULL ok */
void archive_message_free(archive_message *msg);

/*
 * archive_read - stream the content of message id to sink, in chunks
 * (an error for a message kept as metadata only).
 * The bytes are checked against the message's SHA-256 as they pass; a
 * mismatch is an error (reported after the last chunk).
 */
typedef int (*archive_sink_fn)(const void *buf, size_t len, void *ctx);
int archive_read(archive *ar, const char *id, archive_sink_fn sink,
		 void *ctx, mk_error *err);

/*
 * archive_log_access - record in the ledger that uid performed action
 * ("search", "show", "get") with detail (the query, or NULL) and saw the
 * listed message ids.  Durable when it returns 0.
 */
int archive_log_access(archive *ar, uid_t uid, const char *action,
		       const char *detail, const char *const *ids,
		       size_t n_ids, mk_error *err);

#endif /* MAILKEEP_ARCHIVE_H */
