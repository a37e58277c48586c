/*
 * internal.h - what the files of archive/ share and nobody else sees.
 *
 * The parts of the store:
 *	archive.c	create, open, close; the directory layout
 *	store.c		the spool a message is received into; commit requests
 *	committer.c	the group-commit thread: one round of fsyncs per batch
 *	record.c	per-message records (records/<date>.log)
 *	ledger.c	the append-only ledger (ledger/ledger.log)
 *	index.c		the SQLite index: schema, insert, archive_search,
 *			archive_lookup
 *	read.c		archive_read and the access log
 *
 * Commit order, and why: blob (fsync file, rename, fsync directory),
 * then record, then ledger entry, then index row.  The ledger entry is the
 * commit point: a record without a "stored" ledger entry belongs to a
 * commit that failed (the MTA was told to retry) and is ignored by
 * whoever rebuilds the index; an index row only ever exists for a message
 * whose ledger entry is on disk.
 */
#ifndef MAILKEEP_ARCHIVE_INTERNAL_H
#define MAILKEEP_ARCHIVE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <sqlite3.h>

#include "archive/archive.h"

#define ARCHIVE_INDEX_FILE	"index.sqlite"
#define ARCHIVE_LEDGER_FILE	"ledger/ledger.log"
#define ARCHIVE_LOCK_FILE	"writer.lock"
#define ARCHIVE_BATCH_MAX	256	/* commits one group commit takes */
#define ARCHIVE_BUSY_MS		10000	/* SQLite busy timeout */

/* One message waiting for the committer. */
typedef struct commit_req {
	const archive_envelope *env;
	char id[ARCHIVE_ID_LEN + 1];
	char sha256[ARCHIVE_SHA256_HEX + 1];	/* "": metadata only */
	int64_t size;
	int64_t received_at;		/* env's, or the commit time */
	/* filled by the committer */
	int64_t ledger_seq;
	bool done;
	int rc;
	mk_error err;
	struct commit_req *next;
} commit_req;

/* The committer's queue and thread. */
typedef struct committer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* signalled when requests arrive */
	pthread_cond_t done;		/* broadcast when a batch is finished */
	commit_req *head, *tail;
	bool stopping;
	bool running;
} committer;

struct archive {
	char *dir;
	archive_mode mode;
	sqlite3 *db;			/* writer: used by the committer only */
	int lock_fd;			/* writer lock, or -1 */
	int records_fd;			/* current records segment, or -1 */
	char records_day[11];		/* its date, YYYY-MM-DD */
	committer com;
};

/* store.c */
void spool_cleanup(archive *ar);

/* committer.c */
int committer_start(archive *ar, mk_error *err);
void committer_stop(archive *ar);
int committer_submit(archive *ar, commit_req *req);

/* record.c */
/* record_encode - the record line of one message, newline-terminated;
 * allocated, owned by the caller; NULL when out of memory */
char *record_encode(const commit_req *req);
/* record_policy_text - a policy decision as compact JSON; caller frees */
char *record_policy_text(const archive_policy *pol);
int record_append_batch(archive *ar, commit_req *batch, mk_error *err);

/* ledger.c: one entry is a JSON object without "seq"; the ledger adds it */
int ledger_append(const char *dir, const char *const *entries, size_t n,
		  int64_t *first_seq, mk_error *err);

/* index.c */
int index_open(archive *ar, bool create, mk_error *err);
int index_insert_batch(archive *ar, commit_req *batch, mk_error *err);

/* utf8_clean - a copy of s that is valid UTF-8 (bad bytes become U+FFFD),
 * with surrounding blanks removed, cut at ARCHIVE_MAX_FIELD bytes; NULL for
 * NULL; owned by the caller */
char *utf8_clean(const char *s);

/* address_domain - lowercased domain of an address ("" without "@") into
 * out[size] */
void address_domain(const char *addr, char *out, size_t size);

#endif /* MAILKEEP_ARCHIVE_INTERNAL_H */
