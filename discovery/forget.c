/*
 * forget.c - an expired message's words out of the full-text index.
 *
 * NAME
 *	forget - the full-text side of expiry (discovery.h)
 *
 * DESCRIPTION
 *	The words table keeps no text (content=''), so FTS5 can remove a
 *	row only when it is told the values the row was made of.  They are
 *	made again the way they were made the first time: the message's
 *	content read through the archive (it is still there: expiry calls
 *	this before the content goes), extracted, CJK spaced.  Whether
 *	that gave the same values is known from the digest kept in docs;
 *	if not (the extractor changed in between), telling FTS5 other
 *	values would corrupt its counts, so the row is left, counted as
 *	mismatched, and only a rebuild of the index removes its words.
 *
 *	Everything runs in one open transaction, committed when the caller
 *	says (once a group's messages are all given, before expiry removes
 *	their index rows).  A docs row goes with its words: a repeat after
 *	a crash finds nothing left to do for what was committed.
 *
 *	At the end, if anything went (now, or in a run that stopped before
 *	its end: state "scrub_pending", set with the first deletion and
 *	cleared after the merge), the words are merged into a single
 *	segment ('optimize'): FTS5 otherwise marks deleted rows and keeps
 *	their tokens in the older segments until a merge happens to rewrite
 *	them.  With secure_delete on, every page freed by the deletes and
 *	by the merge is zeroed, and a truncating checkpoint empties the
 *	WAL, so no token of an expired message stays in any file.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "discovery/fulltext.h"

/* The note of a docs row whose message's content policy apply dropped. */
#define DROPPED_NOTE "content dropped by policy apply"

struct discovery_forget {
	discovery_index *di;
	archive *ar;
	sqlite3_stmt *doc, *words, *del_doc, *del_members, *pending, *dropped;
	bool open;			/* a transaction is open */
	discovery_forget_stats st;
};

/* begin - the run's next transaction */
static int
begin(discovery_forget *f, mk_error *err)
{
	if (f->open)
		return 0;
	if (sqlite3_exec(f->di->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)
	    != SQLITE_OK)
		return fulltext_fail(f->di, "begin", err);
	f->open = true;
	return 0;
}

/* discovery_forget_begin - secure_delete on, the statements ready */
discovery_forget *
discovery_forget_begin(discovery_index *di, archive *ar, mk_error *err)
{
	discovery_forget *f = calloc(1, sizeof(*f));
	sqlite3 *db = di->db;

	if (f == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	f->di = di;
	f->ar = ar;
	if (sqlite3_exec(db, "PRAGMA secure_delete=ON", NULL, NULL, NULL)
	    != SQLITE_OK
	    || sqlite3_prepare_v2(db, "SELECT seq, failed, digest, note FROM docs"
				  " WHERE id = ?", -1, &f->doc, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "INSERT INTO words(words, rowid, subject,"
				  " body, attachment, hdr_from, hdr_to)"
				  " VALUES('delete', ?, ?, ?, ?, ?, ?)", -1,
				  &f->words, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "DELETE FROM docs WHERE seq = ?", -1,
				  &f->del_doc, NULL) != SQLITE_OK
	    /* by id, which hold_members_id answers: by msg, every message
	     * scanned the whole table (its key is (hold, msg)) */
	    || sqlite3_prepare_v2(db, "DELETE FROM hold_members WHERE id = ?",
				  -1, &f->del_members, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "UPDATE docs SET digest = NULL,"
				  " attachments = 0, note = '" DROPPED_NOTE "'"
				  " WHERE seq = ?", -1, &f->dropped,
				  NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO state(k, v)"
				  " VALUES('scrub_pending', ?)", -1, &f->pending,
				  NULL) != SQLITE_OK) {
		fulltext_fail(di, "forget", err);
		discovery_forget_end(f, NULL, NULL);
		return NULL;
	}
	return f;
}

/* delete_words - msg's words (row seq) out, if its text comes out as it
 * went in (digest); *deleted says whether they went */
static int
delete_words(discovery_forget *f, const archive_message *msg, int64_t seq,
	     const char *digest, bool *deleted, mk_error *err)
{
	char note[MK_ERROR_MAX], again[ARCHIVE_SHA256_HEX + 1];
	doc_text d;
	int got, rc = 0;

	*deleted = false;
	memset(&d, 0, sizeof(d));
	got = fulltext_extract(f->ar, msg, &d, note);
	if (got < 0)
		rc = mk_error_set(err, "out of memory");
	else if (got == 0) {
		fulltext_digest(&d, again);
		if (digest == NULL || strcmp(digest, again) == 0) {
			sqlite3_reset(f->words);
			sqlite3_bind_int64(f->words, 1, seq);
			fulltext_bind_text(f->words, 2, &d);
			if (sqlite3_step(f->words) != SQLITE_DONE)
				rc = fulltext_fail(f->di, "delete words", err);
			*deleted = rc == 0;
		}
	}
	fulltext_free_text(&d);
	return rc;
}

/* run_seq - stmt with seq bound, stepped once; 0 or -1 */
static int
run_seq(sqlite3_stmt *st, int64_t seq)
{
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, seq);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/* run_id - stmt with id bound, stepped once; 0 or -1 */
static int
run_id(sqlite3_stmt *st, const char *id)
{
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/* take_words - msg's words out, as the docs row says it was indexed
 * (skip_dropped: not when its content was dropped already): *seq its
 * row, *had whether it had words, *deleted whether they went.  1 when
 * it has no docs row, 0, or -1 with err */
static int
take_words(discovery_forget *f, const archive_message *msg, bool skip_dropped,
	   int64_t *seq, bool *had, bool *deleted, mk_error *err)
{
	const char *digest, *note;
	char *copy = NULL;
	int rc = 0;

	*had = *deleted = false;
	if (begin(f, err) != 0)
		return -1;
	sqlite3_reset(f->doc);
	sqlite3_bind_text(f->doc, 1, msg->id, -1, SQLITE_STATIC);
	if (sqlite3_step(f->doc) != SQLITE_ROW)
		return 1;	/* never indexed, or forgotten already */
	*seq = sqlite3_column_int64(f->doc, 0);
	digest = (const char *)sqlite3_column_text(f->doc, 2);
	note = (const char *)sqlite3_column_text(f->doc, 3);
	*had = msg->content == ARCHIVE_FULL && !sqlite3_column_int(f->doc, 1)
	    && !(skip_dropped && note != NULL && strcmp(note, DROPPED_NOTE) == 0)
	    && (digest == NULL || (copy = strdup(digest)) != NULL);
	sqlite3_reset(f->doc);
	if (*had && digest != NULL && copy == NULL)
		return mk_error_set(err, "out of memory");
	if (*had)
		rc = delete_words(f, msg, *seq, copy, deleted, err);
	free(copy);
	return rc;
}

/* discovery_forget_message - msg's words, docs row and memberships */
int
discovery_forget_message(discovery_forget *f, const archive_message *msg,
			 mk_error *err)
{
	bool had, deleted;
	int64_t seq = 0;
	int rc = take_words(f, msg, false, &seq, &had, &deleted, err);

	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (run_seq(f->del_doc, seq) != 0 || run_id(f->del_members, msg->id) != 0
	    || run_seq(f->pending, 1) != 0)
		return fulltext_fail(f->di, "forget", err);
	f->st.messages++;
	f->st.words += deleted;
	f->st.mismatched += had && !deleted;
	return 0;
}

/* discovery_forget_words - msg's words out, its docs row kept (see
 * discovery.h) */
int
discovery_forget_words(discovery_forget *f, const archive_message *msg,
		       mk_error *err)
{
	bool had, deleted;
	int64_t seq = 0;
	int rc = take_words(f, msg, true, &seq, &had, &deleted, err);

	if (rc != 0 || !had)
		return rc > 0 ? 0 : rc;
	if (run_seq(f->dropped, seq) != 0
	    || (deleted && run_seq(f->pending, 1) != 0))
		return fulltext_fail(f->di, "forget words", err);
	f->st.words += deleted;
	f->st.mismatched += !deleted;
	return 0;
}

/* discovery_forget_commit - what was forgotten so far, durably */
int
discovery_forget_commit(discovery_forget *f, mk_error *err)
{
	if (!f->open)
		return 0;
	f->open = false;
	if (sqlite3_exec(f->di->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	fulltext_fail(f->di, "commit", err);
	sqlite3_exec(f->di->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* scrub - the words in one segment, the WAL emptied */
static int
scrub(discovery_forget *f, mk_error *err)
{
	sqlite3 *db = f->di->db;

	if (sqlite3_exec(db, "INSERT INTO words(words) VALUES('optimize');"
			 "DELETE FROM state WHERE k = 'scrub_pending'",
			 NULL, NULL, NULL) != SQLITE_OK)
		return fulltext_fail(f->di, "optimize", err);
	if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
				      NULL, NULL) != SQLITE_OK)
		return fulltext_fail(f->di, "checkpoint", err);
	return 0;
}

/* discovery_forget_end - commit, scrub, free */
int
discovery_forget_end(discovery_forget *f, discovery_forget_stats *st,
		     mk_error *err)
{
	mk_error ignored;
	int rc = 0;

	if (f == NULL)
		return 0;
	if (err == NULL)
		err = &ignored;
	sqlite3_finalize(f->doc);
	sqlite3_finalize(f->words);
	sqlite3_finalize(f->del_doc);
	sqlite3_finalize(f->del_members);
	sqlite3_finalize(f->dropped);
	sqlite3_finalize(f->pending);
	rc = discovery_forget_commit(f, err);
	if (rc == 0 && (f->st.messages > 0 || f->st.words > 0
			|| fulltext_state_int(f->di, "scrub_pending") != 0))
		rc = scrub(f, err);
	sqlite3_exec(f->di->db, "PRAGMA secure_delete=OFF", NULL, NULL, NULL);
	if (st != NULL)
		*st = f->st;
	free(f);
	return rc;
}
