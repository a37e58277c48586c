/*
 * discovery.h - the one interface of mailkeep's discovery tools.
 *
 * NAME
 *	discovery - what reviewers search with: text out of MIME, the query
 *	language
 *
 * SYNOPSIS
 *	#include "discovery/discovery.h"
 *
 * DESCRIPTION
 *	Discovery turns archived messages into what a reviewer can search,
 *	and a reviewer's words into a search.  It knows nothing of the
 *	milter, the access service or the web: they call it.
 *
 *	  extract.c  the text of a message: GMime parses the MIME structure,
 *	             decodes base64 and quoted-printable, converts every
 *	             charset to UTF-8, decodes RFC 2047 words in headers and
 *	             RFC 2231 file names; HTML parts are reduced to their text.
 *	             What it finds is handed to a sink as it goes.
 *	  fulltext.c the full-text index, fulltext.sqlite in the archive
 *	             directory: an FTS5 table without content (the words of
 *	             every message are in it, not its text), one row a stored
 *	             message keyed by its ledger seq, filled in ledger order
 *	             by discovery_index_step() from the archive's blobs, with
 *	             how far it got and its last error kept beside it.
 *	  snippet.c  a few words around a match, cut from the message
 *	  envelope.c the terms a message's index row answers (sender,
 *	             recipients, dates, size, client, queue id)
 *	  query.c    the query language people type ("from:alice subject:
 *	             \"board meeting\" after:2026-01-01 merger -draft"), parsed
 *	             into typed terms, written back canonically, and turned
 *	             into an FTS5 MATCH expression for the full-text terms.
 *
 *	Malformed MIME is extracted as far as it goes and never stops the
 *	caller: the message is archived byte-exact whatever its MIME; only
 *	its index is affected.
 *
 * DIAGNOSTICS
 *	Functions that can fail return 0 or -1 and fill the caller's
 *	mk_error.  Nothing here prints.
 */
#ifndef MAILKEEP_DISCOVERY_H
#define MAILKEEP_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "common/error.h"

/* Limits; documented in mailkeep(1) where a user can meet them. */
#define DISCOVERY_MAX_PARSE	(32 << 20)	/* bytes of a message parsed;
						   the rest is not indexed */
#define DISCOVERY_MAX_TEXT	(4 << 20)	/* bytes of text a message
						   gives the index */
#define DISCOVERY_MAX_PARTS	1000		/* MIME parts looked at */
#define DISCOVERY_MAX_DEPTH	64		/* nesting of multiparts and
						   attached messages */
#define DISCOVERY_MAX_QUERY	4096		/* bytes of a query */
#define DISCOVERY_MAX_TERMS	64		/* terms of a query */

/* The header fields the extractor reports, decoded to UTF-8. */
typedef enum {
	DISCOVERY_HDR_FROM,
	DISCOVERY_HDR_TO,
	DISCOVERY_HDR_CC,
	DISCOVERY_HDR_SUBJECT,
	DISCOVERY_HDR_DATE,
	DISCOVERY_HDR_MESSAGE_ID
} discovery_header;

/*
 * Where extraction goes.  Each callback returns 0 to go on, non-zero to
 * stop.  Strings are valid UTF-8, valid during the call only.
 *   header      a header field of the top-level message (addresses as
 *               "Name <addr>, ..." with names decoded)
 *   text        a run of body text (text/plain as is, text/html reduced
 *               to its text), in part order; runs of one part follow
 *               each other
 *   attachment  a part with a file name, or any part that is not text
 *               (filename NULL when it has none); its content type
 */
typedef struct discovery_sink {
	int (*header)(discovery_header which, const char *value, void *ctx);
	int (*text)(const char *utf8, size_t len, void *ctx);
	int (*attachment)(const char *filename, const char *content_type,
			  void *ctx);
	void *ctx;
} discovery_sink;

/* What extraction saw. */
typedef struct discovery_stats {
	size_t parts;			/* MIME parts looked at */
	size_t text_bytes;		/* bytes given to sink->text */
	size_t attachments;
	bool truncated;			/* a limit above was reached */
	bool malformed;			/* something was not as MIME says; what
					   could be read was */
	char note[160];			/* the first thing that was wrong */
} discovery_stats;

/*
 * discovery_extract - the headers, text and attachment names of the
 * message in msg[0..len) (the caller passes at most DISCOVERY_MAX_PARSE
 * bytes) to sink.  Returns 0 whatever the MIME (problems are in stats),
 * -1 only when memory ran out or the sink stopped it with an error.
 */
int discovery_extract(const void *msg, size_t len, const discovery_sink *sink,
		      discovery_stats *stats, mk_error *err);

/* The fields of the query language (mailkeep(1), QUERIES; the grammar is
 * in query.c).  Field names are compared without regard to case. */
typedef enum {
	DQ_TEXT = 0,		/* bare words, "phrases": the full text */
	DQ_FROM,		/* from:      envelope sender, addr or @domain */
	DQ_TO,			/* to:        envelope recipient */
	DQ_HEADER_FROM,		/* header-from: the From header */
	DQ_HEADER_TO,		/* header-to: the To and Cc headers */
	DQ_SUBJECT,		/* subject:   words of the Subject */
	DQ_MESSAGE_ID,		/* message-id: */
	DQ_ATTACHMENT,		/* attachment: words of an attachment's name */
	DQ_HAS_ATTACHMENT,	/* has:attachment */
	DQ_AFTER,		/* after:DATE  received at or after */
	DQ_BEFORE,		/* before:DATE received before */
	DQ_LARGER,		/* larger:SIZE more than SIZE bytes (bytes, or
				   10k, 5M, 1G: units of 1024) */
	DQ_SMALLER,		/* smaller:SIZE fewer than SIZE bytes */
	DQ_CLIENT_IP,		/* client-ip: an IPv4 or IPv6 address */
	DQ_QUEUE_ID,		/* queue-id: */
	DQ_HOLD,		/* hold:NAME   a legal hold's messages */
	DQ_PARTY		/* party:     envelope sender or any recipient
				   (a custodian), addr or @domain; the last
				   field (tests/fuzz/fuzz_query.c checks) */
} discovery_field;

/*
 * One term: a field and its value, negated with a leading '-'.  Values
 * are canonical, so a search compares like with like:
 *   message-id  with its <> ("abc@x" becomes "<abc@x>")
 *   after/before  RFC 3339 UTC ("2026-01-01T00:00:00Z"), number in usec
 *   larger/smaller  decimal bytes ("10240"), number the same
 *   client-ip  as inet_ntop() writes it
 *   has         value NULL
 *   the others  as typed, unquoted
 */
typedef struct discovery_term {
	discovery_field field;
	char *value;			/* UTF-8, unquoted, no control
					   characters; NULL for has: */
	bool phrase;			/* was "quoted" (always false for has,
					   dates, sizes, client-ip) */
	bool negated;
	int64_t number;			/* after/before: usec since the epoch;
					   larger/smaller: bytes */
} discovery_term;

/*
 * A parsed query: its terms in the order written.  Terms of different
 * fields combine with AND.  Positive terms of one field combine with OR
 * (from:a from:b: either sender) - except full text (DQ_TEXT), whose
 * words and phrases combine with AND, as in every search engine
 * ("merger acquisition": both).  Negated terms combine with AND (none of
 * them).  after, before, larger, smaller and has may each be given once.
 * No terms (an empty query) is valid and selects every message.
 */
typedef struct discovery_query {
	discovery_term *terms;		/* n terms; each value malloc'ed */
	size_t n;
} discovery_query;

/* discovery_query_parse - text (at most DISCOVERY_MAX_QUERY bytes of
 * UTF-8, at most DISCOVERY_MAX_TERMS terms) into q (owned:
 * discovery_query_free()); a refusal names the problem and where ("at
 * byte 12: ...", counted from 0) and leaves q empty */
int discovery_query_parse(const char *text, discovery_query *q,
			  mk_error *err);

/* discovery_query_free - free q's terms and values; q is left empty */
void discovery_query_free(discovery_query *q);

/* discovery_query_format - q as canonical query text: lower-case field
 * names, one space between terms, values quoted when they were or must
 * be; a parsed q parses back to the same terms; malloc'ed, NULL when
 * out of memory */
char *discovery_query_format(const discovery_query *q);

/*
 * The full-text fields (DQ_TEXT, DQ_SUBJECT, DQ_ATTACHMENT, and the
 * decoded headers DQ_HEADER_FROM, DQ_HEADER_TO) as FTS5
 * MATCH expressions.  Every value is an FTS5 string ("..." with '"'
 * doubled), which FTS5 tokenizes like the indexed text, so nothing a
 * user types is FTS5 syntax (AND, OR, NOT, NEAR, *, ^, column filters).
 * Positive terms are joined with AND (DQ_TEXT) or OR (the others), the
 * negated ones subtracted with NOT:
 *
 *	merger "board meeting" -draft  ("merger" AND "board meeting") NOT "draft"
 *	subject:a subject:b -subject:c  ("a" OR "b") NOT "c"
 *	-draft -spam                   (none; fts_not: "draft" OR "spam")
 *
 * FTS5 has no NOT without something positive before it, so a field
 * whose terms are all negated is given by discovery_query_fts_not(), to
 * be used the other way round.  A caller asks for both, for each field,
 * and uses what it gets (the column is on the left of MATCH):
 *
 *	rowid IN (SELECT rowid FROM fts WHERE col MATCH :fts)
 *	rowid NOT IN (SELECT rowid FROM fts WHERE col MATCH :fts_not)
 *
 * At most one of the two is not NULL.  A message the indexer has not
 * reached is in neither: only the first condition leaves it out.
 */

/* discovery_query_fts - the expression of q's terms of field when it has
 * a positive term; malloc'ed; NULL with *none set when it has none (or
 * field is no full-text field), NULL alone when out of memory */
char *discovery_query_fts(const discovery_query *q, discovery_field field,
			  bool *none);

/* discovery_query_fts_not - when field has negated terms and no positive
 * one, the expression of the negated terms joined with OR: what to
 * exclude; malloc'ed; NULL with *none set otherwise, NULL alone when out
 * of memory */
char *discovery_query_fts_not(const discovery_query *q,
			      discovery_field field, bool *none);

/* discovery_field_name - the word before the colon ("" for DQ_TEXT) */
const char *discovery_field_name(discovery_field f);

/* discovery_is_envelope_field - is f answered by a message's index row
 * (from, to, message-id, after, before, larger, smaller, client-ip,
 * queue-id) rather than by the full-text index? */
bool discovery_is_envelope_field(discovery_field f);

/* discovery_envelope_matches - do q's envelope terms hold for msg (its
 * other terms are not looked at)? (envelope.c) */
bool discovery_envelope_matches(const discovery_query *q,
				const archive_message *msg);

#define DISCOVERY_SNIPPETS	50	/* results of a search with a snippet */
#define DISCOVERY_SNIPPET_CONTEXT 60	/* characters on each side */

/* discovery_snippet - the first place in msg's text where one of q's
 * full-text words occurs, with some context and the word in [[ ]];
 * malloc'ed, NULL when q has no such word, msg has no content or the
 * word is not found verbatim (snippet.c) */
char *discovery_snippet(archive *ar, const archive_message *msg,
			const discovery_query *q);

/* The full-text index of one archive (fulltext.c). */
typedef struct discovery_index discovery_index;

#define DISCOVERY_INDEX_FILE	"fulltext.sqlite"

/* How far the full-text index has got. */
typedef struct discovery_status {
	int64_t stored;			/* messages in the archive's index */
	int64_t indexed;		/* of them, taken by the full-text index
					   (metadata-only ones count: there is
					   nothing to index) */
	int64_t lag_messages;		/* stored - indexed */
	int64_t lag_seconds;		/* how long ago the oldest message not
					   yet indexed was received; 0 none */
	int64_t last_seq;		/* ledger seq of the last one indexed */
	int64_t errors;			/* messages that could not be indexed */
	char last_error[MK_ERROR_MAX];	/* the latest such error, or "" */
	char last_error_id[ARCHIVE_ID_LEN + 1];
	int64_t last_error_time;	/* usec */
} discovery_status;

/* discovery_index_open - the full-text index of the archive at dir,
 * created (mode 0600) when missing; NULL and err */
discovery_index *discovery_index_open(const char *dir, mk_error *err);

/* discovery_index_close - close; NULL is fine */
void discovery_index_close(discovery_index *di);

/*
 * discovery_index_step - index up to batch messages that the archive
 * stored after the last one indexed, in ledger order, in one
 * transaction; *done receives how many (0: caught up).  A message whose
 * content cannot be read or parsed is recorded as an error and passed
 * over, so the index never stops at it; -1 only when the index itself
 * cannot be written.
 */
int discovery_index_step(discovery_index *di, archive *ar, size_t batch,
			 size_t *done, mk_error *err);

/*
 * discovery_index_rebuild - the full-text index of the archive at dir
 * anew: the old files removed, every message of ar's index taken again,
 * progress(phase, done, total, ctx) as it goes; *messages receives how
 * many.  For "mailkeep rebuild-index", with mailkeep-access stopped.
 */
int discovery_index_rebuild(const char *dir, archive *ar,
			    archive_progress_fn progress, void *ctx,
			    int64_t *messages, mk_error *err);

/* discovery_index_status - counts, lag and last error */
int discovery_index_status(discovery_index *di, archive *ar,
			   discovery_status *st, mk_error *err);

/*
 * discovery_index_match - fn(message id, its ledger seq, ctx) for each
 * message whose full text, subject and attachment names match q's terms
 * of those fields, newest first when newest, else oldest first; fn
 * returns 0 to go on, non-zero to stop.  *used says whether q had such
 * terms at all (if not, fn is never called: the caller searches the
 * envelope alone).
 */
typedef int (*discovery_hit_fn)(const char *id, int64_t seq, void *ctx);
int discovery_index_match(discovery_index *di, const discovery_query *q,
			  bool newest, discovery_hit_fn fn, void *ctx,
			  bool *used, mk_error *err);

/*
 * Legal holds (holds.c).  The ledger is their record: the access service
 * writes a hold's creation and release as audit entries and hands each
 * to the index here, where two tables say what every hold covers, so
 * that expiry and search ask one place:
 *
 *   holds         number (the ledger seq of the entry that made it),
 *                 name, terms (a canonical query: discovery_query_format),
 *                 who made it, when and why; the same of its release
 *   hold_members  hold number, message seq and id
 *
 * A hold covers every message its terms match: those indexed when it is
 * made (discovery_hold_create()) and each one indexed later while it is
 * open (discovery_index_step(), in the transaction that indexes it).  A
 * message whose text could not be indexed is covered when the terms'
 * envelope part matches it: what cannot be read cannot be ruled out.
 */
typedef struct discovery_hold {
	int64_t number;			/* ledger seq of its "hold" entry */
	const char *name;
	const char *terms;		/* canonical query text */
	int64_t time;			/* usec */
	const char *by;			/* user name */
	const char *reason;
	int64_t released;		/* seq of its "release" entry; 0 open */
	int64_t released_time;
	const char *released_by;
	const char *release_reason;
	int64_t members;		/* messages it covers (listing) */
} discovery_hold;

/* discovery_hold_create - h (number, name, terms, time, by, reason) into
 * di with every message of ar it covers now (*members: how many), and
 * the ledger read up to ledger_end (discovery_hold_synced()), in one
 * transaction.  A hold whose number is already there is left as it is. */
int discovery_hold_create(discovery_index *di, archive *ar,
			  const discovery_hold *h, int64_t ledger_end,
			  int64_t ledger_lines, int64_t *members,
			  mk_error *err);

/* discovery_hold_release - hold h->number released (h->released,
 * released_time, released_by, release_reason), and the ledger read up
 * to ledger_end, in one transaction */
int discovery_hold_release(discovery_index *di, const discovery_hold *h,
			   int64_t ledger_end, int64_t ledger_lines,
			   mk_error *err);

/* discovery_hold_synced - how far holds have taken the ledger: the byte
 * offset after the last entry taken and the number of lines before it
 * (0, 0 at first); discovery_hold_set_synced() moves it on */
int discovery_hold_synced(discovery_index *di, int64_t *offset,
			  int64_t *lines, mk_error *err);
int discovery_hold_set_synced(discovery_index *di, int64_t offset,
			      int64_t lines, mk_error *err);

/* discovery_hold_list - fn(hold, ctx) for the hold named name (NULL:
 * every hold, oldest first), with its members counted; the hold's
 * strings are valid during the call.  fn returns non-zero to stop. */
typedef int (*discovery_hold_fn)(const discovery_hold *h, void *ctx);
int discovery_hold_list(discovery_index *di, const char *name,
			discovery_hold_fn fn, void *ctx, mk_error *err);

/* discovery_held - must message id be kept for a hold?  Yes when an open
 * hold covers it, and when the index has not taken it yet (no hold has
 * been weighed against it) */
int discovery_held(discovery_index *di, const char *id, bool *held,
		   mk_error *err);

/*
 * Forgetting (forget.c): the full-text side of expiry.  A contentless
 * FTS5 table forgets a row only when given the values it was given, so
 * each message's text is extracted again (the digest kept in docs says
 * whether it came out the same) and handed to FTS5's 'delete'; its docs
 * row and hold memberships go in the same transaction, which makes a
 * repeat harmless.  discovery_forget_end() then rewrites the words into
 * one segment ('optimize'), so the deleted tokens leave the file, with
 * secure_delete zeroing every freed page, and truncates the WAL.
 */
typedef struct discovery_forget discovery_forget;
typedef struct discovery_forget_stats {
	uint64_t messages;		/* docs rows removed */
	uint64_t words;			/* ... of which words were deleted */
	uint64_t mismatched;		/* text came out different: its
					   words could not be deleted (the
					   index needs a rebuild) */
} discovery_forget_stats;

/* discovery_forget_begin - a forgetting run on di, reading through ar */
discovery_forget *discovery_forget_begin(discovery_index *di, archive *ar,
					 mk_error *err);

/* discovery_forget_message - msg's words, docs row and hold memberships
 * out, in the run's open transaction (nothing when it has none) */
int discovery_forget_message(discovery_forget *f, const archive_message *msg,
			     mk_error *err);

/* discovery_forget_words - msg's words out, its docs row kept as that
 * of a metadata-only message (its content is being dropped, policy
 * apply: FORMAT.md 1.5), its hold memberships kept; a repeat does
 * nothing */
int discovery_forget_words(discovery_forget *f, const archive_message *msg,
			   mk_error *err);

/* discovery_forget_commit - make what was forgotten so far durable */
int discovery_forget_commit(discovery_forget *f, mk_error *err);

/* discovery_forget_end - commit, scrub (above) when anything went, free;
 * its counts into st (may be NULL); f may be NULL */
int discovery_forget_end(discovery_forget *f, discovery_forget_stats *st,
			 mk_error *err);

/*
 * Exports (export_writer.c, export.c, verify_export.c; docs/FORMAT.md,
 * section 9).  The writer takes the frames of the access service's
 * "export" answer one at a time; nothing of the export is held but the
 * message being written.
 */
typedef enum {
	DISCOVERY_EXPORT_EML = 0,	/* messages/ID.eml */
	DISCOVERY_EXPORT_MBOX = 1,	/* messages.mbox (mboxrd) */
	DISCOVERY_EXPORT_ZIP = 2	/* the eml tree in a .zip */
} discovery_export_format;

typedef struct discovery_export discovery_export;

/* discovery_export_begin - an export into path (which must not exist),
 * written into path.partial; NULL with err */
discovery_export *discovery_export_begin(const char *path,
					 discovery_export_format format,
					 mk_error *err);

/* discovery_export_item - one 'J' frame: the keys, or the proof of the
 * next message (the previous one is then whole) */
int discovery_export_item(discovery_export *x, const char *buf, size_t len,
			  mk_error *err);

/* discovery_export_data - one 'D' frame: content of the current message */
int discovery_export_data(discovery_export *x, const void *buf, size_t len,
			  mk_error *err);

/* discovery_export_finish - finish, fsync and rename path.partial to
 * path; the number of rows into *rows; frees x whatever the result (on
 * failure the partial output is removed) */
int discovery_export_finish(discovery_export *x, size_t *rows, mk_error *err);

/* discovery_export_abort - remove the partial output and free x; NULL ok */
void discovery_export_abort(discovery_export *x);

/* What verify-export looked at. */
typedef struct discovery_export_stats {
	uint64_t messages;		/* manifest rows */
	uint64_t content;		/* of which with content */
	uint64_t bytes;			/* content bytes hashed */
	uint64_t problems;
} discovery_export_stats;

/*
 * discovery_export_verify - check the export at path with the public
 * keys in keys_pem (NULL: the export's own keys.pem): every message's
 * digests, record signature, ledger inclusion proof and checkpoint
 * signature; every manifest row (JSON, CSV, EDRM) against what the
 * signed record and the message make; no message missing, none added.
 * problem() for each thing wrong (archive_problem_fn; object and detail
 * are printable ASCII, a name from the export shown with \\ and \xNN
 * escapes), progress() as it goes.  Returns 0 when it could look
 * (problems are in st), -1 with err when it could not (no export at
 * path).
 */
int discovery_export_verify(const char *path, const char *keys_pem,
			    archive_problem_fn problem,
			    archive_progress_fn progress, void *ctx,
			    discovery_export_stats *st, mk_error *err);

#endif /* MAILKEEP_DISCOVERY_H */
