/*
 * fulltext.h - what the files of the full-text index share; nothing
 * outside discovery/ includes it.
 *
 * NAME
 *	fulltext internals - fulltext.sqlite's connection, a message's
 *	indexed text, the legal holds kept beside it
 *
 * DESCRIPTION
 *	fulltext.c  the words table, the docs table, indexing and matching
 *	holds.c     the holds and hold_members tables: what each legal hold
 *	            covers, placed when a hold is made and when a message is
 *	            indexed
 *	forget.c    taking an expired message's words out again
 */
#ifndef MAILKEEP_DISCOVERY_FULLTEXT_H
#define MAILKEEP_DISCOVERY_FULLTEXT_H

#include <sqlite3.h>

#include "discovery/discovery.h"

struct discovery_index {
	sqlite3 *db;
	char *path;
};

/* The fields of the words table, in its column order. */
enum { F_SUBJECT, F_BODY, F_ATTACHMENT, F_FROM, F_TO, F_COUNT };

/* One message's text while it is extracted. */
typedef struct doc_text {
	char *field[F_COUNT];		/* subject, body, attachment, from, to */
	size_t len[F_COUNT], cap[F_COUNT];
	size_t attachments;
	bool nomem;
} doc_text;

/* fulltext_fail - err from the index's last error; -1 */
int fulltext_fail(discovery_index *di, const char *what, mk_error *err);

/* fulltext_extract - the text of msg into d (free_text() it): 0 (note:
 * "" or a remark on its MIME), 1 when it could not be indexed (note:
 * why), -1 when memory ran out.  The same message always gives the
 * same text, which a contentless table needs to forget it. */
int fulltext_extract(archive *ar, const archive_message *msg, doc_text *d,
		     char note[MK_ERROR_MAX]);

/* fulltext_free_text - the fields of d */
void fulltext_free_text(doc_text *d);

/* fulltext_bind_text - d's fields, as the words table takes them (CJK
 * spaced), to st's parameters first .. first + 4 */
void fulltext_bind_text(sqlite3_stmt *st, int first, const doc_text *d);

/* fulltext_digest - the SHA-256 (hex) of d's fields as indexed, kept in
 * docs so that forgetting can tell whether it gives the same values */
void fulltext_digest(const doc_text *d, char out[ARCHIVE_SHA256_HEX + 1]);

/* fulltext_state_int - state[k] as an integer, 0 when absent */
int64_t fulltext_state_int(discovery_index *di, const char *k);

/* fulltext_set_state_int - state[k] = v, in the caller's transaction if
 * one is open; 0 or -1 */
int fulltext_set_state_int(discovery_index *di, const char *k, int64_t v);

/* fulltext_matches_one - does the message of seq match q's full-text
 * terms (has:attachment included)?  Its docs row and words must be in
 * the index (the current transaction counts). */
int fulltext_matches_one(discovery_index *di, const discovery_query *q,
			 int64_t seq, bool *hit, mk_error *err);

/* fulltext_has_text_terms - has q a term that only the words answer? */
bool fulltext_has_text_terms(const discovery_query *q);

/* Open holds while a batch is indexed (holds.c). */
typedef struct hold_set hold_set;

/* hold_set_load - the open holds of di, parsed; NULL and err */
hold_set *hold_set_load(discovery_index *di, mk_error *err);

/* hold_set_place - msg (just indexed as seq; failed: its text could not
 * be) under every open hold whose terms it matches */
int hold_set_place(hold_set *hs, discovery_index *di,
		   const archive_message *msg, int64_t seq, bool failed,
		   mk_error *err);

/* hold_set_free - free; NULL is fine */
void hold_set_free(hold_set *hs);

#endif /* MAILKEEP_DISCOVERY_FULLTEXT_H */
