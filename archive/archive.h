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
 *	  content/<day>/N.seg   message content, appended to one segment
 *	                        after another for each day on which messages
 *	                        expire, compressed and encrypted under that
 *	                        day's key (AES-256-GCM); identical content is
 *	                        stored once a day (blobs/XX/<sha256> in
 *	                        archives of format 3 is still read)
 *	  records/<date>.log    per-message records (envelope and policy
 *	                        decision), signed (Ed25519) and encrypted,
 *	                        appended in group commits
 *	  ledger/ledger.log     the append-only event ledger (one JSON line an
 *	                        event: stored, access, keys_rotated, ...), the
 *	                        leaves of a Merkle tree
 *	  ledger/checkpoints.log signed checkpoints of that tree
 *	  index.sqlite          the SQLite index (WAL); derived data, rebuildable
 *	                        from the three above
 *	  spool/                messages being received; leftovers are removed
 *	                        when a writer opens the archive
 *	  keys/                 key material (0700)
 *	  writer.lock           held (flock) by the one process that writes
 *	  writer.sock           where that writer takes the stores of other
 *	                        processes of the archive's account (0600)
 *
 *	docs/FORMAT.md describes every file byte by byte.
 *
 *	A writer receives a message through a spool: archive_spool_begin(),
 *	archive_spool_write() as bytes arrive, then archive_spool_commit() with
 *	the envelope.  Commit returns 0 only once the blob, the record, the
 *	ledger entry and the index row are on disk; commits from many threads
 *	are batched so that one round of fsyncs serves them all.
 *
 *	One process writes an archive: the one that holds writer.lock (an
 *	exclusive flock, for as long as it has the archive open).  It also
 *	stores for other processes of the archive's account (the
 *	directory's owner, and root): a process that opens the archive
 *	ARCHIVE_WRITE while another holds the lock gets a forwarding
 *	handle, which reads on its own as ARCHIVE_READ does and sends
 *	archive_spool_begin/write/commit/discard and archive_store_metadata
 *	to the writer over writer.sock.  The writer stores them through its
 *	own spool and committer, exactly as its own messages; commit returns
 *	0 only once the writer's commit returned 0, and otherwise -1 with
 *	the writer's error, or with the broken connection's (a writer that
 *	stops or dies keeps nothing of a message it had not committed).
 *	When the writer has gone, the forwarding handle's next store takes
 *	the lock and makes this process the writer.
 *	docs/FORMAT.md 1.4 describes the protocol.  ARCHIVE_WRITE_ALONE
 *	takes the lock or fails, and serves nobody.
 *
 *	Readers search the index, look up one message and stream its content.
 *	The archive decides nothing about who may read: access/ does, and
 *	records every read in the ledger through archive_log_event().
 *
 * DIAGNOSTICS
 *	Functions that can fail return 0 on success and -1 on failure, and
 *	describe the failure in the caller's mk_error.  Nothing here prints.
 */
#ifndef MAILKEEP_ARCHIVE_H
#define MAILKEEP_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/mkconfig.h"

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
	ARCHIVE_WRITE = 1,	/* also store: with the writer lock, start the
				   committer thread and take the stores of
				   other processes on writer.sock; while
				   another process holds the lock, send the
				   stores to it (waits up to 5 s for a writer
				   that has just taken the lock to serve;
				   fails, "in use by another writer", when
				   the lock's holder serves nobody) */
	ARCHIVE_WRITE_ALONE = 2	/* the lock or "in use by another writer":
				   no forwarding either way (for what needs
				   the archive to itself) */
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
	const char *origin;		/* NULL: an MTA's envelope (the
					   milter); "import": derived from
					   the headers by mailkeep import */
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
	int64_t ledger_seq;		/* seq of its "stored" ledger entry */
	char *content_file;		/* its content segment (format 4), or
					   NULL: blobs/ (format 3), metadata */
	int64_t content_off, content_len;	/* its span there */
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
	char *origin;			/* NULL: an MTA's envelope; "import" */
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
	int newest;			/* newest first (else oldest first) */
} archive_query;

/* How an archive stores; from mailkeep.conf (mailkeep.conf(5)). */
typedef struct archive_options {
	int encrypt;			/* blobs: AES-256-GCM (1) or clear (0) */
	mk_codec codec;			/* blobs: compressed with (mkconfig.h) */
	int compression;		/* ... at this level: zlib 1-9, zstd
					   MK_ZSTD_MIN_LEVEL to _MAX_LEVEL
					   but 0; 0 with MK_CODEC_NONE */
	unsigned checkpoint_entries;	/* a checkpoint at least every N ... */
	unsigned checkpoint_seconds;	/* ... or T seconds */
	int sign;			/* records signed and sealed; 0 only
					   for benchmarks (verify rejects) */
	int64_t segment_bytes;		/* a content segment is full at this
					   size (docs/FORMAT.md 2.2: 1 GiB);
					   smaller only for tests */
	void (*warn)(void *ctx, const char *msg);	/* what the committer
					   thread has to say that fails no
					   commit (the index fell behind and
					   caught up), or NULL */
	void *warn_ctx;
} archive_options;
#define ARCHIVE_OPTIONS_DEFAULT { .encrypt = 1, .codec = MK_DEFAULT_CODEC, \
	.compression = MK_DEFAULT_LEVEL, .checkpoint_entries = 1000, \
	.checkpoint_seconds = 300, .sign = 1, .segment_bytes = 1LL << 30, \
	.warn = NULL, .warn_ctx = NULL }

/* archive_options_of - the options mailkeep.conf sets */
void archive_options_of(const mk_config *cfg, archive_options *opts);

/* archive_check_access - can the calling process (its uid and groups)
 * run a writer on the archive at dir: the directories and files it
 * writes, the keys it reads?  problem("archive", path, why, ctx) for
 * each that it cannot; how many (0: all is well).  For check modes,
 * which call it in a child that took the daemon's account.
 * archive_problem_fn: one thing found wrong (here or by verify): kind (a
 * short word), the object (a file, a message id, a ledger seq) and what
 * is wrong with it. */
typedef void (*archive_problem_fn)(const char *kind, const char *object,
				   const char *detail, void *ctx);
int archive_check_access(const char *dir, archive_problem_fn problem,
			 void *ctx);

/* archive_create - make a new, empty archive at dir (created if needed),
 * with generation 1 of the keys and a first signed checkpoint */
int archive_create(const char *dir, mk_error *err);

/* archive_open - open an existing archive with default options; NULL on
 * failure */
archive *archive_open(const char *dir, archive_mode mode, mk_error *err);

/* archive_open_with - open an existing archive with these options */
archive *archive_open_with(const char *dir, archive_mode mode,
			   const archive_options *opts, mk_error *err);

/* archive_close - stop taking others' stores (those being received
 * fail, those being committed finish; writer.sock removed), finish
 * pending commits, stop the committer, free */
void archive_close(archive *ar);

/* archive_spool_begin - start receiving one message that is to be kept
 * until retain_until (seconds since the epoch; 0: forever), the policy's
 * decision: its content is stored and encrypted with the messages that
 * expire the same day.  NULL on failure */
archive_spool *archive_spool_begin(archive *ar, int64_t retain_until,
				   mk_error *err);

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
 * archive_search - call fn for each message matching q, oldest first
 * (newest first with q->newest).
 * fn returns 0 to go on, non-zero to stop (then archive_search returns 0).
 */
typedef int (*archive_search_fn)(const archive_message *msg, void *ctx);
int archive_search(archive *ar, const archive_query *q,
		   archive_search_fn fn, void *ctx, mk_error *err);

/* archive_find_same - is a message like this one archived already?  The
 * same content (sha256 hex) kept in full; or, given sha256 NULL (metadata
 * only: no content to compare), the same Message-ID, envelope sender and
 * received_at.  1 with its id in id_out, 0 when none, -1 with err */
int archive_find_same(archive *ar, const char *sha256, const char *message_id,
		      const char *mail_from, int64_t received_at,
		      char id_out[ARCHIVE_ID_LEN + 1], mk_error *err);

/* archive_lookup - one message by id; *out owned by the caller.
 * Returns 0 and sets *out, or -1 (err says "no message ...") */
int archive_lookup(archive *ar, const char *id, archive_message **out,
		   mk_error *err);

/*
 * archive_each_stored - fn(msg, its "stored" ledger seq, ctx) for the
 * messages of the index whose seq is above after, in ledger order, at
 * most limit (0: all).  fn returns 0 to go on, > 0 to stop, < 0 to stop
 * with an error (then -1, err left to fn).  The full-text indexer walks
 * the archive with it.
 */
typedef int (*archive_stored_fn)(const archive_message *msg, int64_t seq,
				 void *ctx);
int archive_each_stored(archive *ar, int64_t after, size_t limit,
			archive_stored_fn fn, void *ctx, mk_error *err);

/* archive_stored_count - messages in the index, and the largest ledger
 * seq among them */
int archive_stored_count(archive *ar, int64_t *count, int64_t *max_seq,
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
 * archive_log_event - append one entry to the ledger, durably: a compact
 * JSON object text with an "event" member (the archive's own events -
 * created, stored, keys_rotated, index_rebuilt, policy, expired,
 * rekeyed, redecided - are
 * refused, as are "seq" and "prev", which the ledger writes).  Its seq
 * into *seq (may be NULL).  access/ writes the audit trail through this.
 */
int archive_log_event(archive *ar, const char *object_json, int64_t *seq,
		      mk_error *err);

/* archive_ledger_each - fn(position, line, length, ctx) for every whole
 * ledger line, oldest first; fn returns 0 to go on, > 0 to stop, < 0 to
 * stop with an error (then -1, err untouched: fn's to fill) */
typedef int (*archive_entry_fn)(int64_t pos, const char *line, size_t len,
				void *ctx);
int archive_ledger_each(archive *ar, archive_entry_fn fn, void *ctx,
			mk_error *err);

/* archive_ledger_each_from - the same from byte offset of ledger.log
 * (the start of a line: the sum of the lengths plus newlines of the
 * lines before it), that line being at position before + 1 */
int archive_ledger_each_from(archive *ar, int64_t offset, int64_t before,
			     archive_entry_fn fn, void *ctx, mk_error *err);

/*
 * archive_log_policy - record in the ledger that the policy file at path
 * (its SHA-256), or the built-in policy when path is NULL, now applies.
 * Durable when it returns 0.
 */
int archive_log_policy(archive *ar, const char *path, mk_error *err);

/*
 * archive_rotate_keys - make key generation N+1 (signing and data key);
 * new blobs and signatures use it, older ones stay for reading and
 * verifying.  The new public key goes into the ledger.  A writer that has
 * the archive open keeps its keys until it opens it again.
 */
int archive_rotate_keys(archive *ar, unsigned *gen_out, mk_error *err);

/* archive_public_keys - fn(gen, PEM text, length) for each generation */
typedef int (*archive_key_fn)(unsigned gen, const char *pem, size_t len,
			      void *ctx);
int archive_public_keys(archive *ar, archive_key_fn fn, void *ctx,
			mk_error *err);

/* Progress of a long operation: phase, done so far, of total (0: unknown). */
typedef void (*archive_progress_fn)(const char *phase, uint64_t done,
				    uint64_t total, void *ctx);

/*
 * archive_expire - forget every message whose retention is over and that
 * is not held (docs/FORMAT.md 1.2): for each group of messages that
 * expire the same day, an "expired" ledger entry a message, then its
 * index rows (zeroed), its content segments and its day key, which also
 * makes its records unreadable.  The held messages of such a group are
 * first re-keyed (1.3) into a fresh group of the same day, YYYY-MM-DD.N:
 * content and record copied under its new key, a "rekeyed" ledger entry,
 * the index row; they keep their ids.  Runs beside the writer; refuses
 * while the index is behind the ledger.  A run that stopped anywhere is
 * finished by the next.  dry_run: count only, change nothing.
 */
typedef bool (*archive_held_fn)(const char *id, void *ctx);
typedef int (*archive_forget_fn)(const archive_message *msg, void *ctx,
				 mk_error *err);
typedef struct archive_expire_options {
	int64_t now;			/* seconds since the epoch */
	bool dry_run;
	archive_held_fn held;		/* is this message held? or NULL */
	archive_forget_fn forget;	/* or NULL: each message of a group
					   that goes, after its entry and
					   while its row and content are
					   still there; then NULL: make that
					   durable.  -1 stops the run. */
	archive_progress_fn progress;	/* or NULL */
	void *ctx;			/* of held and progress */
} archive_expire_options;
typedef struct archive_expire_stats {
	uint64_t groups;		/* days whose messages went */
	uint64_t messages;		/* ... those messages */
	uint64_t bytes;			/* ... their original size */
	uint64_t bytes_freed;		/* segment bytes removed */
	uint64_t kept_held;		/* due, but kept for a hold */
	uint64_t rekeyed;		/* ... of those, moved into a new group
					   by this run (FORMAT.md 1.3) */
} archive_expire_stats;
int archive_expire(archive *ar, const archive_expire_options *opts,
		   archive_expire_stats *stats, mk_error *err);

/*
 * archive_redecide_begin, archive_redecide, archive_redecide_end -
 * stored messages under new decisions (docs/FORMAT.md 1.5).  The caller
 * (the access service) decides; the archive knows no policy and no
 * hold.  For each message, archive_redecide() compares the new decision
 * with the stored one: the same changes nothing; other roles, direction
 * or parties reseal its record in place; another retention day moves it
 * (content copied) into that day's group; full to metadata drops its
 * content; pol NULL (the policy keeps nothing now) expires it.  Each
 * change is committed by a "redecided" (or "expired") ledger entry, its
 * index rows made anew after.  A metadata message asked to be kept in
 * full stays metadata (its content was never kept).  archive_redecide_end
 * then rewrites every group whose old copies must not outlive the new
 * decisions (a retention shortened, content dropped, a message expired):
 * its other messages re-keyed into the day's next generation, its files
 * and key removed - expiry's machinery - also those a stopped run left.
 * A run holds the writer lock (no milter or import meanwhile) and
 * expire.lock; a dry run takes neither and changes nothing.
 */
typedef enum archive_redecided {
	ARCHIVE_REDECIDE_SAME = 0,	/* the stored decision stands */
	ARCHIVE_REDECIDE_RESEALED,	/* roles, direction, parties only */
	ARCHIVE_REDECIDE_MOVED,		/* another retention day */
	ARCHIVE_REDECIDE_STRIPPED,	/* full to metadata: content gone */
	ARCHIVE_REDECIDE_REMOVED	/* none: the message went */
} archive_redecided;
typedef struct archive_redecide_options {
	int64_t now;			/* seconds since the epoch */
	bool dry_run;
	archive_forget_fn forget;	/* or NULL: an expired message whole
					   (as expiry's), then NULL: durably */
	archive_forget_fn forget_words;	/* or NULL: the words of a message
					   whose content is dropped, while
					   it can be read; then NULL */
	archive_progress_fn progress;	/* or NULL */
	void *ctx;			/* of the three */
} archive_redecide_options;
typedef struct archive_redecide_stats {
	uint64_t same, resealed, moved, stripped, removed;
	uint64_t kept_metadata;		/* full asked of a metadata message */
	uint64_t groups;		/* groups rewritten (old copies gone) */
	uint64_t rekeyed;		/* ... their other messages moved */
	uint64_t bytes_freed;		/* segment bytes removed */
} archive_redecide_stats;
typedef struct archive_redecider archive_redecider;
int archive_redecide_begin(archive *ar, const archive_redecide_options *o,
			   archive_redecider **out, mk_error *err);
/* archive_redecide - message id under pol (NULL: none); what was done
 * into *done (may be NULL) */
int archive_redecide(archive_redecider *rd, const char *id,
		     const archive_policy *pol, archive_redecided *done,
		     mk_error *err);
/* archive_redecide_end - the groups rewritten, the counts into st, the
 * locks let go; rd freed whatever the result */
int archive_redecide_end(archive_redecider *rd, archive_redecide_stats *st,
			 mk_error *err);

/* What verify looked at. */
typedef struct archive_verify_stats {
	uint64_t ledger_entries, checkpoints, records, index_rows, blobs;
	uint64_t content_bytes;		/* original bytes of the blobs */
	uint64_t uncovered;		/* ledger entries after the last
					   checkpoint (not yet signed) */
	uint64_t index_behind;		/* stored messages after the index's
					   last row (not yet indexed) */
	uint64_t problems;
} archive_verify_stats;

/*
 * archive_verify - check everything against everything (docs/FORMAT.md,
 * "What verify checks"): blobs decrypt, decompress and hash to their
 * names; records decrypt and their signatures hold; ledger sequence and
 * tree match every signed checkpoint; the keys match the public keys the
 * ledger recorded (and pinned_pem, exported public keys, when not NULL);
 * index rows, records, ledger entries and blobs all agree.  Returns 0
 * when it could look at everything (stats->problems says what it found),
 * -1 when it could not run.
 */
int archive_verify(archive *ar, const char *pinned_pem,
		   archive_problem_fn problem, archive_progress_fn progress,
		   void *ctx, archive_verify_stats *stats, mk_error *err);

/* What rebuild-index did. */
typedef struct archive_rebuild_stats {
	uint64_t messages;		/* rows made */
	uint64_t skipped;		/* records of failed commits */
} archive_rebuild_stats;

/*
 * archive_rebuild_index - make index.sqlite anew from the records and the
 * ledger (only messages with a "stored" ledger entry and no "expired"
 * one), as a writer: fails while the milter has the archive open.  The
 * new index replaces the old one only when complete; an "index_rebuilt"
 * entry goes into the ledger.
 */
int archive_rebuild_index(const char *dir, archive_progress_fn progress,
			  void *ctx, archive_rebuild_stats *stats,
			  mk_error *err);

/* A signed checkpoint of the ledger. */
typedef struct archive_checkpoint {
	int64_t size;			/* ledger entries covered */
	char root[ARCHIVE_SHA256_HEX + 1];
	int64_t time;			/* microseconds */
	unsigned key;			/* signing key generation */
	char *text;			/* the signed text */
	char *signature;		/* Base64 Ed25519 signature */
	int valid;			/* the signature holds */
} archive_checkpoint;

/* archive_checkpoints - fn for each checkpoint, oldest first */
typedef int (*archive_checkpoint_fn)(const archive_checkpoint *cp,
				     void *ctx);
int archive_checkpoints(archive *ar, archive_checkpoint_fn fn, void *ctx,
			mk_error *err);

/* archive_checkpoint_now - sign a checkpoint of the whole ledger now (none
 * when the last one already covers it) */
int archive_checkpoint_now(archive *ar, mk_error *err);

/* An inclusion proof of a message's "stored" entry (owned by the caller:
 * archive_proof_free). */
typedef struct archive_proof {
	char id[ARCHIVE_ID_LEN + 1];	/* "" for another entry than "stored" */
	int64_t seq;			/* the entry's seq; leaf index seq - 1 */
	char *entry;			/* the ledger line, the leaf's bytes */
	char leaf_hash[ARCHIVE_SHA256_HEX + 1];
	char (*path)[ARCHIVE_SHA256_HEX + 1];	/* audit path, leaf upwards */
	size_t path_len;
	archive_checkpoint checkpoint;	/* the latest, which covers it */
	char *record;			/* the signed record text */
	unsigned record_signer;
	char *record_signature;		/* Base64 */
} archive_proof;

/* archive_ledger_proof - the proof of message id against the latest
 * checkpoint (an error if no checkpoint covers its entry yet) */
int archive_ledger_proof(archive *ar, const char *id, archive_proof **out,
			 mk_error *err);
void archive_proof_free(archive_proof *p);

/*
 * A prover: many inclusion proofs against one checkpoint, the latest when
 * it was opened (an export proves all it holds against one).  Opening
 * reads the ledger once and holds its Merkle tree, about 72 bytes a
 * ledger entry; each proof then costs O(log n).  Not for concurrent use.
 */
typedef struct archive_prover archive_prover;
int archive_prover_open(archive *ar, archive_prover **out, mk_error *err);
/* archive_prover_size - the ledger entries its checkpoint covers */
int64_t archive_prover_size(const archive_prover *pv);
/* archive_prover_proof - the proof of msg (as the index gives it: its
 * ledger_seq is checked against the entry there) */
int archive_prover_proof(archive_prover *pv, const archive_message *msg,
			 archive_proof **out, mk_error *err);
/* archive_prover_entry - the proof of ledger entry seq, whatever its
 * event (id "", no record: record and record_signature NULL) */
int archive_prover_entry(archive_prover *pv, int64_t seq, archive_proof **out,
			 mk_error *err);
void archive_prover_free(archive_prover *pv);

/* A consistency proof between two checkpoints. */
typedef struct archive_consistency {
	archive_checkpoint old_cp, new_cp;
	char (*path)[ARCHIVE_SHA256_HEX + 1];
	size_t path_len;
	int valid;			/* the proof checks out */
} archive_consistency;

/* archive_ledger_consistency - prove that the checkpoint of new_size
 * entries extends the one of old_size (both must exist) */
int archive_ledger_consistency(archive *ar, int64_t old_size,
			       int64_t new_size, archive_consistency **out,
			       mk_error *err);
void archive_consistency_free(archive_consistency *c);

#endif /* MAILKEEP_ARCHIVE_H */
