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
 *	keys.c		keys/: signing and data keys by generation, record
 *			keys by retention day; Ed25519 and AES-256-GCM
 *	blob.c		the blob format: zlib + AES-256-GCM, streamed
 *	content.c	content segments (content/GROUP/N.seg): where a blob
 *			goes, its copy there, deduplication in its group
 *	merkle.c	RFC 9162 Merkle tree hashing and proofs
 *	checkpoint.c	signed checkpoints of the ledger's Merkle tree
 *	ledgermap.c	the ledger's messages and keys in memory
 *	proof.c		inclusion and consistency proofs, checkpoint lists
 *	verify.c	archive_verify: everything checked against everything
 *	rebuild.c	archive_rebuild_index: the index from records + ledger
 *	expire.c	archive_expire: due groups forgotten, held messages
 *			re-keyed first
 *	rewrite.c	what expiry and re-decision share: a group that goes
 *			while some of its messages stay
 *	redecide.c	archive_redecide: stored messages under new decisions
 *	forward.c	writer forwarding, the other process's side: its
 *			stores sent over writer.sock to the writer
 *	serve.c		writer forwarding, the writer's side: writer.sock,
 *			the peers' stores through the writer's own spool
 *	envelope.c	an archive_envelope as JSON, and back (strictly)
 *
 * Commit order, and why: blob (copied into its content segment by the
 * submitting thread; the committer fdatasyncs each segment of a batch
 * once), then record, then ledger entry, then index row.  The ledger entry is the
 * commit point: a record without a "stored" ledger entry belongs to a
 * commit that failed (the MTA was told to retry) and is ignored by
 * whoever rebuilds the index; an index row only ever exists for a message
 * whose ledger entry is on disk.  A writer killed between the ledger
 * entry and the index row leaves a stored message without its row: the
 * next writer to open the archive inserts it (index_roll_forward).
 */
#ifndef MAILKEEP_ARCHIVE_INTERNAL_H
#define MAILKEEP_ARCHIVE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "archive/archive.h"
#include "archive/merkle.h"

#define ARCHIVE_INDEX_FILE	"index.sqlite"
#define ARCHIVE_LEDGER_FILE	"ledger/ledger.log"
#define ARCHIVE_CHECKPOINT_FILE	"ledger/checkpoints.log"
#define ARCHIVE_FORMAT		4	/* FORMAT: "mailkeep archive 4"; records' "v" */
#define ARCHIVE_FORMAT_BLOBS	3	/* the format before content segments */
#define ARCHIVE_LOCK_FILE	"writer.lock"
#define ARCHIVE_BATCH_MAX	256	/* commits one group commit takes */
#define ARCHIVE_LINGER_US	300	/* a batch waits at most this long for
					   messages still being received */
#define ARCHIVE_BUSY_MS		10000	/* SQLite busy timeout */

/* Writer forwarding (forward.c, serve.c; docs/FORMAT.md 1.4): the
 * writer serves stores of other processes of the archive's account on
 * writer.sock.  A frame is a type byte, a 32-bit big-endian length and
 * that many bytes. */
#define ARCHIVE_SOCK_FILE	"writer.sock"
#define FORWARD_CHUNK		65536	/* content bytes of a data frame, at
					   most */
#define FORWARD_MAX_JSON	(8 << 20)	/* bytes of an envelope frame */
#define FORWARD_PEERS_MAX	128	/* connections a writer serves at once:
					   an import has up to 65 spools open
					   (access.h, ACCESS_IMPORT_WINDOW) */
#define FORWARD_IDLE_SECONDS	300	/* the writer waits this long for a
					   peer's next frame (as an MTA's
					   milter_content_timeout) */
#define FORWARD_ANSWER_SECONDS	600	/* a peer waits this long for the
					   answer to a commit */
#define FORWARD_OPEN_MS		5000	/* an opener waits this long for the
					   writer's socket (a writer that has
					   just taken the lock) */
/* Frame types: from the peer, ... */
#define FWD_PING	'P'	/* empty: is a writer serving, and me? */
#define FWD_BEGIN	'B'	/* 8 bytes: retain_until, signed */
#define FWD_DATA	'D'	/* 1 to FORWARD_CHUNK content bytes */
#define FWD_COMMIT	'C'	/* the envelope (JSON, envelope.c) */
#define FWD_METADATA	'M'	/* {"size": N, "envelope": {...}} */
/* ... and from the writer */
#define FWD_OK		'O'	/* empty: served (ping, begin) */
#define FWD_ID		'I'	/* ARCHIVE_ID_LEN hex digits: stored */
#define FWD_ERROR	'E'	/* the writer's error text; it closes */

/* Sizes of key material (keys.c) and of the blob format (blob.c). */
#define KEYS_AES	32
#define KEYS_NONCE	12
#define KEYS_TAG	16
#define KEYS_PUBLIC	32
#define KEYS_SIG	64
#define KEYS_NAME_MAX	40
#define BLOB_HEADER	28
#define BLOB_VERSION	1
#define BLOB_CHUNK	65536
#define BLOB_CIPHER_NONE 0
#define BLOB_CIPHER_DATA 1	/* AES-256-GCM, data key of a generation */
#define BLOB_CIPHER_DAY	2	/* AES-256-GCM, its segment's day key */

/* Content segments (content.c): one append-only file after another per
 * group of messages that expire on the same day. */
#define CONTENT_DIR		"content"
#define CONTENT_GROUP_MAX	24	/* "YYYY-MM-DD", "YYYY-MM-DD.N" (a
					   re-key group) or "forever" */
#define CONTENT_REKEY_MAX	999999	/* the highest generation N */
#define CONTENT_FILE_MAX	48	/* "content/GROUP/NNNNNN.seg" */
#define CONTENT_OPEN_MAX	8	/* segments kept open for writing */

/* Compression contexts kept for reuse (blob.c): starting one (zlib's
 * deflateInit, zstd's tables and window) costs a small message more than
 * compressing it.  Each list holds at most CODEC_POOL_MAX. */
#define CODEC_POOL_MAX 32
typedef struct codec_list {
	void *free[CODEC_POOL_MAX];
	int n;
} codec_list;
typedef struct codec_pools {
	pthread_mutex_t lock;
	codec_list deflaters;		/* z_stream, deflate */
	codec_list zstd_c;		/* ZSTD_CCtx */
	codec_list zstd_d;		/* ZSTD_DCtx */
} codec_pools;

/* One generation of keys. */
typedef struct keyring_gen {
	EVP_PKEY *signing;		/* Ed25519 private key */
	unsigned char data[KEYS_AES];	/* blob key */
} keyring_gen;

/* Every key of an archive; record keys are loaded when first used. */
typedef struct keyring {
	char *dir;
	keyring_gen *gens;		/* generation g is gens[g - 1] */
	unsigned n;			/* the current generation */
	pthread_mutex_t lock;		/* guards record_keys */
	struct record_key *record_keys;
} keyring;

/* A segment being appended to. */
typedef struct content_seg {
	char group[CONTENT_GROUP_MAX];
	unsigned number;
	int fd;
	off_t end;			/* where the next blob goes */
	unsigned refs;			/* placed blobs not yet committed */
	bool retired;			/* full or evicted: no new blobs */
	uint64_t used;			/* when last placed into (a counter) */
	struct content_seg *next;
} content_seg;

/* The writer's segments, and its lookup of content already stored. */
typedef struct content_store {
	pthread_mutex_t lock;		/* guards segs, clock */
	content_seg *segs;
	uint64_t clock;
	pthread_mutex_t db_lock;	/* guards db, find */
	sqlite3 *db;			/* a connection for dedup only */
	sqlite3_stmt *find;
} content_store;

/* Spool files kept for the next message (store.c): anonymous files in
 * spool/ (O_TMPFILE), emptied and reused, so that a message costs no
 * file creation and removal. */
#define SPOOL_POOL_MAX 64
typedef struct spool_pool {
	pthread_mutex_t lock;
	int fds[SPOOL_POOL_MAX];
	int n;
} spool_pool;

/* One connection the writer serves (serve.c). */
typedef struct forward_peer {
	struct archive *ar;
	int fd;
	pthread_t thread;
	bool used;			/* a thread runs or ran in this slot */
	bool done;			/* ... and has finished: join it */
} forward_peer;

/* The writer's side of forwarding (serve.c). */
typedef struct forward_server {
	int listen_fd;			/* -1: not serving */
	int wake[2];			/* a byte in wake[1] at stop wakes
					   every poll; -1: none */
	pthread_t thread;		/* accepts connections */
	bool running;
	uid_t owner;			/* served: the directory's owner, root */
	char *sock_path;		/* removed at stop */
	pthread_mutex_t lock;		/* guards peers[].done */
	forward_peer peers[FORWARD_PEERS_MAX];
} forward_server;

/* Where a blob is: a file (blobs/, format 3) from off to its end (len
 * -1), or a span of a content segment, whose day key it may need. */
typedef struct blob_span {
	int fd;
	off_t off;
	off_t len;
	const unsigned char *day_key;
} blob_span;

/* One message waiting for the committer. */
typedef struct commit_req {
	const archive_envelope *env;
	char id[ARCHIVE_ID_LEN + 1];
	char sha256[ARCHIVE_SHA256_HEX + 1];	/* "": metadata only */
	int64_t size;
	char content_file[CONTENT_FILE_MAX];	/* "": metadata only */
	int64_t content_off, content_len;
	content_seg *seg;		/* written into by this message, to be
					   synced by the committer; or NULL */
	int64_t received_at;		/* env's, or the commit time */
	json_t *record;			/* the record (record_seal) */
	char *record_line;		/* its line in records/, sealed */
	char record_sha256[ARCHIVE_SHA256_HEX + 1];	/* of the signed text */
	unsigned signer;		/* key generation that signed */
	/* filled by the committer */
	int64_t ledger_seq;
	bool done;
	pthread_cond_t woken;		/* signalled when done is set */
	int rc;
	mk_error err;
	struct commit_req *next;
} commit_req;

/* The committer's queue and thread. */
typedef struct committer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* signalled when requests arrive */
	commit_req *head, *tail;
	int queued;			/* requests in the queue */
	bool stopping;
	bool running;
	bool wrote;			/* a batch was committed */
	bool index_behind;		/* rows failed: roll forward next */
	char broken[sizeof(((mk_error *)0)->msg)];	/* a failed commit that
					   could not be undone: every commit
					   fails until the archive reopens */
} committer;

/* The ledger as a writer keeps it between its appends (ledger.c): the
 * open file, and what this process's last append left at its end, so
 * that the next one need not find, read and hash the last line.  Under
 * the ledger's flock the cache is used only while the file is still the
 * same (device, inode) and exactly end bytes long; anything else (another
 * process appended, a torn line was cut, the file was replaced) sends the
 * append the slow way, which refreshes it.  A failed append drops it. */
typedef struct ledger_cache {
	bool keep;			/* archive_open_with (writer) set it up;
					   false: open the ledger per append */
	pthread_mutex_t lock;		/* held across an append or checkpoint */
	int fd;				/* the kept ledger, or -1 */
	dev_t dev;			/* its file */
	ino_t ino;
	bool valid;			/* end, seq and hash below are true */
	off_t end;			/* the file's size after that append */
	int64_t seq;			/* the seq of its last line */
	merkle_hash hash;		/* that line's leaf hash */
} ledger_cache;

struct archive {
	char *dir;
	archive_mode mode;
	archive_options opts;
	keyring keys;
	codec_pools codecs;
	int64_t last_checkpoint;	/* when this process last checked */
	sqlite3 *db;			/* writer: used by the committer only */
	sqlite3_stmt *lookup[3];	/* archive_lookup's message, recipients
					   and roles statements, prepared at
					   the first lookup, kept until close */
	int format;			/* of FORMAT: 3 (blobs/) or 4 */
	content_store content;		/* writer: its segments */
	spool_pool spools;		/* writer: spool files to reuse */
	int spools_open;		/* messages being received or committed
					   (guarded by com.lock) */
	int lock_fd;			/* writer lock, or -1 */
	int records_fd;			/* current records segment, or -1 */
	char records_day[11];		/* its date, YYYY-MM-DD */
	ledger_cache ledger;		/* zeroed: not kept (ledger.c) */
	committer com;
	bool forwarding;		/* opened ARCHIVE_WRITE while another
					   process writes: mode is
					   ARCHIVE_READ, stores go to it */
	forward_server serve;		/* writer: serving others' stores */
	pthread_mutex_t promote_lock;	/* guards inner */
	archive *inner;			/* forwarding, the writer gone: this
					   process's own writer, where stores
					   go from then on (forward_promote) */
};

/* archive.c */
int check_marker(const char *dir, int *format, mk_error *err);
int take_writer_lock(archive *ar, mk_error *err);
/* try_writer_lock - take_writer_lock(), *busy set when another process
 * holds the lock */
int try_writer_lock(archive *ar, bool *busy, mk_error *err);

/* serve.c: forward_start - serve others' stores on writer.sock (a
 * stale socket replaced); a failure to is told to opts.warn, not fatal:
 * the writer then works alone.  forward_stop - stop accepting, fail the
 * stores still being received, wait for those being committed, remove
 * writer.sock (before the lock goes) */
void forward_start(archive *ar);
void forward_stop(archive *ar);

/* forward.c: the side of a process that does not hold the lock */
/* forward_probe - does a writer serve this process on writer.sock? */
int forward_probe(archive *ar, mk_error *err);
/* forward_begin - a connection on which a spool is being begun at the
 * writer (its answer is not awaited: *unconfirmed says so until it is
 * read); the socket, or -1; -2 when no writer listens (then
 * forward_promote) */
int forward_begin(archive *ar, int64_t retain_until, bool *unconfirmed,
		  mk_error *err);
/* forward_write - content to the writer in FORWARD_CHUNK frames */
int forward_write(int fd, bool *unconfirmed, const void *buf, size_t len,
		  mk_error *err);
/* forward_commit - the envelope; 0 and the id once the writer's commit
 * returned 0 (durable); fd closed */
int forward_commit(int fd, bool *unconfirmed, const archive_envelope *env,
		   char id_out[ARCHIVE_ID_LEN + 1], mk_error *err);
/* forward_metadata - archive_store_metadata() at the writer (-2: as
 * forward_begin) */
int forward_metadata(archive *ar, const archive_envelope *env, int64_t size,
		     char id_out[ARCHIVE_ID_LEN + 1], mk_error *err);
/* forward_writer - the writer a forwarding handle became, or NULL */
archive *forward_writer(archive *ar);
/* forward_promote - the writer gone: become it (ar->inner); NULL with err
 * when another process holds the lock again */
archive *forward_promote(archive *ar, mk_error *err);
/* Frames, both sides (forward.c). */
int frame_send(int fd, char type, const void *buf, size_t len);
/* frame_recv - one frame: its type, its bytes into *buf (malloc'ed when
 * len > 0, else NULL), if its length is within limit(type) (-1: type not
 * allowed); waits at most ms (-1: forever) and stops when wake_fd (or
 * -1) becomes readable.  0, or -1 with why ("closed", "timed out", ...) */
typedef long (*frame_limit_fn)(char type);
int frame_recv(int fd, int wake_fd, int ms, frame_limit_fn limit,
	       char *type, char **buf, size_t *len, mk_error *why);
/* forward_addr - the socket address of dir's writer.sock (through
 * /proc/self/fd/ of dir_fd when the path is too long); 0 or -1 */
struct sockaddr_un;
int forward_addr(const char *dir, int dir_fd, struct sockaddr_un *sa,
		 mk_error *err);

/* envelope.c */
/* envelope_json - env as a new JSON object (strings that are not UTF-8
 * as {"base64": ...}); NULL when out of memory */
json_t *envelope_json(const archive_envelope *env);
/* envelope_parse - a JSON object made by envelope_json into env, every
 * string and array allocated (envelope_free); strictly: an unknown
 * member, a wrong type, a NUL in a string is an error naming it */
int envelope_parse(json_t *obj, archive_envelope *env, mk_error *err);
void envelope_free(archive_envelope *env);

/* store.c */
void spool_cleanup(archive *ar);
void spool_pool_init(archive *ar);
void spool_pool_free(archive *ar);

/* content.c */
/* content_group - the group of retain_until: "YYYY-MM-DD" or "forever" */
void content_group(int64_t retain_until, char group[CONTENT_GROUP_MAX]);
/* content_group_valid - g is "forever", "YYYY-MM-DD" or "YYYY-MM-DD.N" */
bool content_group_valid(const char *g, size_t len);
/* content_group_generation - N of "YYYY-MM-DD.N"; 0 of a day or forever */
unsigned content_group_generation(const char *group);
/* content_recopy - the blob at from (its content hashing to sha256, or
 * -1) written anew into group's segment, under its day key when cipher
 * says so (or the span group already holds of that content); the new
 * span into file, off, len, durable when it returns 0 */
int content_recopy(archive *ar, const blob_span *from, const char *sha256,
		   const char *group, char file[CONTENT_FILE_MAX],
		   int64_t *off, int64_t *len, mk_error *err);
/* content_file_valid - rel is "content/GROUP/NNNNNN.seg"; its group out */
bool content_file_valid(const char *rel, char group[CONTENT_GROUP_MAX]);
/* content_day_key - the key of a group (create: make it if new) */
int content_day_key(archive *ar, const char *group, bool create,
		    unsigned char key[KEYS_AES], mk_error *err);
int content_start(archive *ar, mk_error *err);
void content_stop(archive *ar);
/* content_place - put the blob of spool_fd (len bytes) in req's group: the
 * same content already stored there, or a copy at the end of its segment;
 * fills req's content_* and seg */
int content_place(archive *ar, int spool_fd, off_t len, commit_req *req,
		  int64_t retain_until, mk_error *err);
/* content_sync - fdatasync every segment the batch wrote into */
int content_sync(archive *ar, commit_req *batch, mk_error *err);
/* content_release - the committer is done with req's segment */
void content_release(archive *ar, commit_req *req);
/* content_open - open the blob of a message for reading into *span
 * (file: its record's "content" file; key: room for the day key) */
int content_open(archive *ar, const char *file, int64_t off, int64_t len,
		 unsigned char key[KEYS_AES], blob_span *span, mk_error *err);

/* committer.c */
int committer_start(archive *ar, mk_error *err);
void committer_stop(archive *ar);
int committer_submit(archive *ar, commit_req *req);
void committer_spools(archive *ar, int delta);

/* record.c */
/* record_seal - build req's record, sign it, encrypt it: fills record,
 * record_line, record_sha256, signer */
int record_seal(archive *ar, commit_req *req, mk_error *err);
/* record_open - decrypt and check one line of records/: the record's
 * signed text into *text (caller frees), its signer and signature */
typedef struct record_opened {
	char id[ARCHIVE_ID_LEN + 1];
	char *text;			/* the signed record text */
	unsigned signer;
	unsigned char sig[KEYS_SIG];
	bool is_signed;			/* false: written with sign = 0 */
} record_opened;
int record_open(archive *ar, const char *line, record_opened *out,
		mk_error *err);
void record_opened_free(record_opened *ro);
/* A records/ segment indexed by id, for many lookups in one day's
 * records (an export, a batch of proofs): about 40 bytes a line. */
typedef struct record_line_at {
	char id[ARCHIVE_ID_LEN + 1];
	off_t at;			/* offset of the line */
} record_line_at;
typedef struct record_day_map {
	char rel[32];			/* records/YYYY-MM-DD.log */
	FILE *fp;			/* NULL: nothing loaded */
	record_line_at *lines;		/* by id, then offset */
	size_t n, cap;
} record_day_map;
/* record_day_load - index the segment of received_at's day (what d held
 * before is freed) */
int record_day_load(archive *ar, int64_t received_at, record_day_map *d,
		    mk_error *err);
/* record_day_holds - is d the loaded segment of received_at's day? */
bool record_day_holds(const record_day_map *d, int64_t received_at);
/* record_day_open - open the first record of id in d's segment */
int record_day_open(archive *ar, record_day_map *d, const char *id,
		    record_opened *out, mk_error *err);
/* record_day_free - close and free d (zeroed or loaded) */
void record_day_free(record_day_map *d);
/* record_find - the record of id, in the segment of the day received_at */
int record_find(archive *ar, const char *id, int64_t received_at,
		record_opened *out, mk_error *err);
/* record_day_open_hash - the record of id in d's segment whose text
 * hashes to want (lines that do not open are passed over) */
int record_day_open_hash(archive *ar, record_day_map *d, const char *id,
			 const char *want, record_opened *out, mk_error *err);
/* record_find_hash - the same in the segment of the day received_at */
int record_find_hash(archive *ar, const char *id, int64_t received_at,
		     const char *want, record_opened *out, mk_error *err);
/* A record sealed anew (expire.c: a held message re-keyed). */
typedef struct record_resealed {
	char *line;			/* its line for records/, allocated */
	char sha256[ARCHIVE_SHA256_HEX + 1];	/* of the signed text */
	unsigned signer;
} record_resealed;
/* record_reseal - text signed by the current key and sealed under the
 * record key called key_name (made if missing) */
int record_reseal(archive *ar, const char *id, const char *text,
		  const char *key_name, record_resealed *out, mk_error *err);
/* record_append_line - append line to the segment of received_at's day
 * (a torn last line cut first) and fdatasync it; not for the writer's
 * batches (record_append_batch) */
int record_append_line(archive *ar, int64_t received_at, const char *line,
		       mk_error *err);
/* record_policy_json - a policy decision as the record keeps it (3.1);
 * NULL when out of memory */
json_t *record_policy_json(const archive_policy *pol);
/* record_key_group - the group of a records/ line's key name
 * ("record-GROUP.key") into group; false when it names none */
bool record_key_group(const char *line, char group[CONTENT_GROUP_MAX]);
/* record_scan - call fn with every line of every records/ segment, in
 * file name order; fn returns 0 to go on */
typedef int (*record_line_fn)(const char *file, const char *line, void *ctx);
int record_scan(archive *ar, record_line_fn fn, void *ctx, mk_error *err);
/* Where a batch's records begin in each segment it appends to. */
typedef struct record_marks {
	size_t n;
	struct {
		char day[11];
		off_t size;
	} at[ARCHIVE_BATCH_MAX];
} record_marks;
/* record_append_batch - append and fsync a batch's records; on failure
 * they are cut back out as far as possible: -1.  What stays is harmless:
 * a whole record without its ledger entry counts for nothing, a torn
 * line is cut off before the next append (FORMAT.md 1.1) */
int record_append_batch(archive *ar, commit_req *batch, record_marks *marks,
			mk_error *err);
/* record_undo_batch - cut the segments back to marks (the ledger entries
 * of the batch could not be written); 0 or -1 when one cannot be */
int record_undo_batch(archive *ar, const record_marks *marks, mk_error *err);
void commit_req_release(commit_req *req);

/* ledger.c: one entry is a JSON object without "seq" and "prev"; the
 * ledger adds them, and writes a checkpoint when one is due.  A failed
 * append is cut back out: -1; -2 when that failed too (the entries may
 * stay) */
int ledger_append(archive *ar, const char *const *entries, size_t n,
		  int64_t *first_seq, mk_error *err);
/* ledger_scan - call fn with every line (without its newline) in order */
typedef int (*ledger_line_fn)(int64_t seq, const char *line, size_t len,
			      void *ctx);
int ledger_scan(const char *dir, ledger_line_fn fn, void *ctx, mk_error *err);
int ledger_scan_from(const char *dir, int64_t offset, int64_t before,
		     ledger_line_fn fn, void *ctx, mk_error *err);
/* ledger_checkpoint_due - write a checkpoint if one is due (force: now);
 * takes the ledger lock itself */
int ledger_checkpoint_due(archive *ar, bool force, mk_error *err);
/* ledger_keep - keep the ledger open between appends (a writer; at open) */
void ledger_keep(archive *ar);
/* ledger_close - close what ledger_keep kept (at close) */
void ledger_close(archive *ar);

/* checkpoint.c */
typedef struct checkpoint {
	int64_t size;			/* leaves covered */
	merkle_hash root;
	int64_t time;			/* microseconds */
	unsigned key;			/* signing key generation */
	unsigned char sig[KEYS_SIG];
	int64_t offset;			/* bytes of ledger.log covered */
	merkle_frontier frontier;	/* its right edge, to go on from */
} checkpoint;
/* checkpoint_text - the signed text of cp into buf (>= 160 bytes) */
size_t checkpoint_text(const checkpoint *cp, char *buf, size_t size);
/* checkpoint_last - the newest checkpoint (size 0 when there is none) */
int checkpoint_last(const char *dir, checkpoint *cp, mk_error *err);
/* checkpoint_write - sign cp with the current key and append it */
int checkpoint_write(archive *ar, checkpoint *cp, mk_error *err);
/* checkpoint_scan - every checkpoint in order, parsed (not verified) */
typedef int (*checkpoint_fn)(const checkpoint *cp, const char *line,
			     void *ctx);
int checkpoint_scan(const char *dir, checkpoint_fn fn, void *ctx,
		    mk_error *err);

/* ledgermap.c: what the ledger says, in memory */
#define LEDGER_WHY 160
typedef struct ledger_msg {
	char id[ARCHIVE_ID_LEN + 1];
	int64_t seq;			/* of its "stored" entry */
	char sha256[ARCHIVE_SHA256_HEX + 1];	/* content; "" metadata */
	char record[ARCHIVE_SHA256_HEX + 1];	/* SHA-256 of the record */
	unsigned signer;
	bool expired;			/* an "expired" entry follows */
	bool has_record;		/* seen by whoever scans records/ */
	/* a message re-keyed by expiry (FORMAT.md 1.3): record above is
	 * then its last "rekeyed" entry's, signer that record's */
	int64_t rekey_seq;		/* of that entry (or of its last
					   "redecided" one); 0: neither */
	char group[CONTENT_GROUP_MAX];	/* the group it moved into */
	char prev_record[ARCHIVE_SHA256_HEX + 1];	/* the record before */
	char stored_record[ARCHIVE_SHA256_HEX + 1];	/* of "stored" */
	bool row_behind;		/* verify: its index row names
					   prev_record (a run that stopped) */
	bool has_prev;			/* verify: prev_record seen */
} ledger_msg;
/* A "rekeyed" or "redecided" entry, kept with the map (sorted by id and
 * seq once it is done: every record hash a message's entries name). */
typedef struct ledger_rekey {
	char id[ARCHIVE_ID_LEN + 1];
	char group[CONTENT_GROUP_MAX];
	char record[ARCHIVE_SHA256_HEX + 1];
	unsigned signer;
	int64_t seq;
	bool redecided;			/* its sha256 is the content's now */
	char sha256[ARCHIVE_SHA256_HEX + 1];	/* redecided: "" dropped */
} ledger_rekey;
typedef struct ledger_map {
	ledger_msg *msgs;		/* sorted by id after ledger_map_done */
	size_t n, cap;
	char (*expired)[ARCHIVE_ID_LEN + 1];
	size_t n_expired, expired_cap;
	ledger_rekey *rekeys;		/* in ledger order; by id when done */
	size_t n_rekeys, rekeys_cap;
	char (*goes)[CONTENT_GROUP_MAX];	/* groups an "expired" entry, or
					   a "redecided" one's "from" with
					   "from_goes", names (FORMAT.md 1.5) */
	size_t n_goes, goes_cap;
	unsigned char (*keys)[KEYS_PUBLIC];	/* generation g: keys[g - 1] */
	size_t n_keys, keys_cap;
	int64_t last_seq;		/* of the line before */
	/* the line taken in last, for verify's check of the chain */
	int64_t line_seq;		/* the seq it states; 0: not an entry */
	bool line_has_prev;		/* its "prev" is 64 hex digits, ... */
	merkle_hash line_prev;		/* ... these */
} ledger_map;
int ledger_map_line(ledger_map *m, int64_t pos, const char *line,
		    char why[LEDGER_WHY]);
void ledger_map_done(ledger_map *m);
/* ledger_map_load - the whole ledger of dir, mapped and done (bad lines
 * passed over: verify names them) */
int ledger_map_load(const char *dir, ledger_map *m, mk_error *err);
ledger_msg *ledger_map_find(const ledger_map *m, const char *id);
/* ledger_map_names - does an entry of id (stored, rekeyed, redecided)
 * name the record hash hex?  (the map done) */
bool ledger_map_names(const ledger_map *m, const ledger_msg *msg,
		      const char *hex);
void ledger_map_free(ledger_map *m);

/* keys.c */
int keyring_load(keyring *kr, const char *dir, mk_error *err);
void keyring_free(keyring *kr);
int keys_new_generation(const char *dir, unsigned gen,
			unsigned char pub[KEYS_PUBLIC], mk_error *err);
int keyring_public(const keyring *kr, unsigned gen,
		   unsigned char pub[KEYS_PUBLIC]);
const unsigned char *keyring_data_key(const keyring *kr, unsigned gen);
int keyring_sign(const keyring *kr, unsigned gen, const void *msg, size_t len,
		 unsigned char sig[KEYS_SIG], mk_error *err);
int ed25519_verify(const unsigned char pub[KEYS_PUBLIC], const void *msg,
		   size_t len, const unsigned char sig[KEYS_SIG]);
void keys_record_key_name(int64_t retain_until, char name[KEYS_NAME_MAX]);
int keyring_record_key(keyring *kr, const char *name, bool create,
		       unsigned char key[KEYS_AES], mk_error *err);
void keyring_forget(keyring *kr, const char *name);
int aead_seal(const unsigned char key[KEYS_AES],
	      const unsigned char nonce[KEYS_NONCE], const void *aad,
	      size_t aad_len, const void *in, size_t len, unsigned char *out,
	      unsigned char tag[KEYS_TAG]);
int aead_open(const unsigned char key[KEYS_AES],
	      const unsigned char nonce[KEYS_NONCE], const void *aad,
	      size_t aad_len, const void *in, size_t len, unsigned char *out,
	      const unsigned char tag[KEYS_TAG]);

/* blob.c */
typedef struct blob_writer blob_writer;
void codec_pools_init(codec_pools *p);
void codec_pools_free(codec_pools *p);
blob_writer *blob_writer_new(int fd, mk_codec codec, int level,
			     const unsigned char *key, unsigned key_gen,
			     codec_pools *pools, mk_error *err);
int blob_writer_write(blob_writer *w, const void *buf, size_t len,
		      mk_error *err);
int blob_writer_finish(blob_writer *w, mk_error *err);
void blob_writer_free(blob_writer *w);
int blob_read(const blob_span *span, const keyring *kr, codec_pools *pools,
	      archive_sink_fn sink, void *ctx, mk_error *err);

/* index.c */
int index_open(archive *ar, bool create, mk_error *err);
/* index_forget - finalize the statements kept on ar->db (before closing) */
void index_forget(archive *ar);
/* index_upgrade - the indexes of this version in an older index (a writer) */
int index_upgrade(archive *ar, mk_error *err);
int index_open_file(archive *ar, const char *path, sqlite3 **db,
		    bool create, mk_error *err);
int index_insert_batch(archive *ar, commit_req *batch, mk_error *err);
/* An index being filled: its prepared insert statements. */
typedef struct index_inserter {
	sqlite3 *db;
	sqlite3_stmt *msg, *rcpt, *role;
} index_inserter;
int index_inserter_open(index_inserter *ins, sqlite3 *db, mk_error *err);
void index_inserter_close(index_inserter *ins);
/* index_insert_record - the rows of one record (parsed signed text) */
int index_insert_record(index_inserter *ins, json_t *record,
			int64_t ledger_seq, const char *record_sha256,
			mk_error *err);
/* index_set_record - the rows of id (message, recipients, roles) made
 * anew from a newer record of it (a re-key, a re-decision), its
 * ledger_seq kept; 1 when a row changed, 0 when none did (no row, or
 * already so), -1 with err */
int index_set_record(sqlite3 *db, const char *id, json_t *record,
		     const char *record_sha256, mk_error *err);

/* rewrite.c: archive_expire_fault - NULL, or a test's hook called at
 * each step of an expiry or re-decision run ("rekey-copied",
 * "rekey-record", "rekey-entry", "rekey-row", "entries", "rows";
 * re-decision: "redecide-words", "redecide-copied", "redecide-record",
 * "redecide-entry", "redecide-row", "redecide-expired"): a unit test stops
 * the run there */
extern void (*archive_expire_fault)(const char *step);
void rewrite_fault(const char *step);

/*
 * rewrite.c: a group that goes while some of its messages stay (FORMAT.md
 * 1.2 to 1.5).  The messages that stay are re-keyed into a target group
 * (content copied under its key, record resealed, a "rekeyed" entry, the
 * row), the others get "expired" entries, lose their words and rows,
 * then the group's files and key go.  Expiry (expire.c) takes a due day
 * at a time, its held messages staying; re-decision (redecide.c) one
 * group at a time, whose every message stays but those it expired.
 */
typedef struct rewrite_msg {
	char id[ARCHIVE_ID_LEN + 1];
	int64_t size;
	int64_t received_at;		/* microseconds: its records' day */
	char group[CONTENT_GROUP_MAX];	/* the group it is in */
	bool expired;			/* its entry is in the ledger */
	bool held;			/* under a hold (and not expired) */
	bool goes;			/* expired by this run */
	bool moves;			/* re-keyed into the target */
} rewrite_msg;

/* The messages of one day (their index rows), and the groups of it. */
typedef struct rewrite_set {
	char name[CONTENT_GROUP_MAX];	/* the day, YYYY-MM-DD, or forever */
	int64_t start;			/* its first second; -1 forever */
	rewrite_msg *msgs;
	size_t n, cap;
	bool due;			/* every one's retention is over */
	bool held;			/* one of them is under a hold */
	char (*groups)[CONTENT_GROUP_MAX];	/* with rows, files or key */
	size_t n_groups, groups_cap;
	char target[CONTENT_GROUP_MAX];	/* where those that stay go; "" */
} rewrite_set;

/* The state of a run that rewrites groups. */
typedef struct rewrite_run {
	archive *ar;
	int64_t now;			/* seconds */
	bool dry_run;
	archive_held_fn held;		/* or NULL: nothing held */
	archive_forget_fn forget;	/* or NULL */
	void *ctx;			/* of held and forget */
	ledger_map map;			/* what the ledger says */
	uint64_t bytes_freed;		/* segment bytes removed */
} rewrite_run;

/* rewrite_take_lock - a lock file of the archive, without waiting: its
 * fd, or -1 with err "DIR: busy" (rewrite.c) */
int rewrite_take_lock(archive *ar, const char *name, const char *busy,
		      mk_error *err);

/* rewrite_lock - one expiry or re-decision run at a time (expire.lock);
 * the fd, or -1 with err */
int rewrite_lock(archive *ar, mk_error *err);
/* rewrite_index_caught_up - has the index a row of every stored message
 * that has not expired?  0 yes, -1 with err */
int rewrite_index_caught_up(rewrite_run *run, mk_error *err);
/* rewrite_day_of - the set of group's day, empty (name, start) */
void rewrite_day_of(const char *group, rewrite_set *g);
/* rewrite_take - the index's messages of g's day into g */
int rewrite_take(rewrite_run *run, rewrite_set *g, mk_error *err);
/* group_list_add - group into the list (*v, *n of *cap), once; 0 or -1
 * when out of memory (rewrite.c) */
int group_list_add(char (**v)[CONTENT_GROUP_MAX], size_t *n, size_t *cap,
		   const char *group);

/* rewrite_add_name - group into g's groups, once; -1 out of memory */
int rewrite_add_name(rewrite_set *g, const char *group);
/* rewrite_disk_groups - the groups of g's day with a directory in
 * content/ or a key in keys/ into g's groups */
int rewrite_disk_groups(rewrite_run *run, rewrite_set *g, mk_error *err);
/* rewrite_each_disk_group - fn(group, ctx) for each group that has a
 * directory in content/ or a key in keys/ (a group may come twice) */
int rewrite_each_disk_group(archive *ar, int (*fn)(const char *group,
			    void *ctx), void *ctx, mk_error *err);
/* rewrite_next_generation - the generation after the highest of day
 * (YYYY-MM-DD or forever) among groups into out; -1 past the last */
int rewrite_next_generation(const char *day, char (*groups)[CONTENT_GROUP_MAX],
			    size_t n, char out[CONTENT_GROUP_MAX], mk_error *err);
/* rewrite_copy_content - the content record rec names copied into group
 * (durably; or the span group already holds of it), rec's "content" set
 * to the copy; nothing for a record without content */
int rewrite_copy_content(rewrite_run *run, const char *group,
			 const ledger_msg *lm, json_t *rec, mk_error *err);
/* rewrite_move - re-key m into g's target (FORMAT.md 1.3) */
int rewrite_move(rewrite_run *run, const rewrite_set *g, rewrite_msg *m,
		 mk_error *err);
/* rewrite_finish - g's moves, the entries, words and rows of those that
 * go, then the files and key of every group of g but the target */
int rewrite_finish(rewrite_run *run, rewrite_set *g, mk_error *err);
/* rewrite_remove_group - a group's segments, directory and key; bytes
 * freed added to *freed */
int rewrite_remove_group(archive *ar, const char *group, uint64_t *freed,
			 mk_error *err);
/* rewrite_catch_up_rows - the row of every re-keyed or re-decided message
 * from its newest record, where it still names an older one */
int rewrite_catch_up_rows(rewrite_run *run, mk_error *err);
/* rewrite_set_free - what g holds */
void rewrite_set_free(rewrite_set *g);
/* rewrite_group_day - the day of a group ("YYYY-MM-DD" or "forever"),
 * without its generation */
void rewrite_group_day(const char *group, char day[CONTENT_GROUP_MAX]);

/* rebuild.c: index_roll_forward - give the index the rows of messages
 * whose "stored" ledger entry is on disk but whose index insert never
 * happened (a writer died between the two); at writer open */
int index_roll_forward(archive *ar, mk_error *err);

/* utf8_clean - a copy of s that is valid UTF-8 (bad bytes become U+FFFD),
 * with surrounding blanks removed, cut at ARCHIVE_MAX_FIELD bytes; NULL for
 * NULL; owned by the caller */
char *utf8_clean(const char *s);

/* address_domain - lowercased domain of an address ("" without "@") into
 * out[size] */
void address_domain(const char *addr, char *out, size_t size);

#endif /* MAILKEEP_ARCHIVE_INTERNAL_H */
