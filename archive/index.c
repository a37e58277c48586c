/*
 * index.c - the SQLite index of the archive (index.sqlite, WAL).
 *
 * Derived data: one row a message in "messages", one a recipient in
 * "recipients", one a role in "roles", all of it made from the message's
 * signed record (index_insert_record), at commit and when the index is
 * rebuilt (rebuild.c) alike, so the two cannot differ.  The
 * committer inserts a whole batch in one transaction; with
 * synchronous=FULL the commit is one WAL fsync.  Addresses are matched
 * lowercased; a "@domain" query matches the domain column.  Every
 * statement is prepared with bound parameters.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

/* gmime_start - GMime's one-time initialisation */
static void
gmime_start(void)
{
	g_mime_init();
}

/*
 * The indexes a search walks in its order (archive_search: received_at,
 * then id, either way), so that "the first 100, newest first" reads about
 * 100 rows and sorts none, whatever the number of matches: the time, and
 * the sender or its domain followed by the time.  Archives made before
 * them had (received_at), (mail_from_lc) and (mail_from_domain), with
 * which SQLite sorted every match before the first row (seconds on a
 * million messages); a writer replaces those when it opens the archive
 * (index_upgrade()).
 */
#define TIME_INDEXES \
	"CREATE INDEX IF NOT EXISTS messages_time ON messages(received_at, id);" \
	"CREATE INDEX IF NOT EXISTS messages_from_time" \
	" ON messages(mail_from_lc, received_at, id);" \
	"CREATE INDEX IF NOT EXISTS messages_from_domain_time" \
	" ON messages(mail_from_domain, received_at, id);"

static const char upgrade_sql[] =
	TIME_INDEXES
	"DROP INDEX IF EXISTS messages_received;"
	"DROP INDEX IF EXISTS messages_from;"
	"DROP INDEX IF EXISTS messages_from_domain;";

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS messages("
	" id TEXT PRIMARY KEY, received_at INTEGER NOT NULL,"
	" sha256 TEXT, size INTEGER NOT NULL, queue_id TEXT,"
	" client_addr TEXT, client_name TEXT, helo TEXT, auth_user TEXT,"
	" tls_version TEXT, mail_from TEXT NOT NULL, mail_from_lc TEXT NOT NULL,"
	" mail_from_domain TEXT NOT NULL, message_id TEXT, subject TEXT,"
	" date_hdr TEXT, ledger_seq INTEGER NOT NULL,"
	" content TEXT NOT NULL, retain_until INTEGER, direction TEXT,"
	" policy_json TEXT NOT NULL, record_sha256 TEXT NOT NULL,"
	" content_file TEXT, content_off INTEGER, content_len INTEGER,"
	" origin TEXT);"
	"CREATE INDEX IF NOT EXISTS messages_retain ON messages(retain_until);"
	"CREATE INDEX IF NOT EXISTS messages_seq ON messages(ledger_seq);"
	"CREATE TABLE IF NOT EXISTS roles("
	" message TEXT NOT NULL, role TEXT NOT NULL,"
	" PRIMARY KEY(message, role)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS roles_role ON roles(role);"
	TIME_INDEXES
	"CREATE INDEX IF NOT EXISTS messages_message_id ON messages(message_id);"
	"CREATE INDEX IF NOT EXISTS messages_sha256 ON messages(sha256);"
	"CREATE TABLE IF NOT EXISTS recipients("
	" message TEXT NOT NULL, pos INTEGER NOT NULL, addr TEXT NOT NULL,"
	" addr_lc TEXT NOT NULL, domain TEXT NOT NULL,"
	" PRIMARY KEY(message, pos)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS recipients_addr ON recipients(addr_lc);"
	"CREATE INDEX IF NOT EXISTS recipients_domain ON recipients(domain);";

/* db_error - err from the connection's last error */
static int
db_error(archive *ar, mk_error *err, const char *what)
{
	return mk_error_set(err, "%s/%s: %s: %s", ar->dir, ARCHIVE_INDEX_FILE,
			    what, sqlite3_errmsg(ar->db));
}

/* The columns of a message's content span (format 4), added at the end
 * of the messages table of an index made before them. */
static const char content_columns_sql[] =
	"BEGIN IMMEDIATE;"
	"ALTER TABLE messages ADD COLUMN content_file TEXT;"
	"ALTER TABLE messages ADD COLUMN content_off INTEGER;"
	"ALTER TABLE messages ADD COLUMN content_len INTEGER;"
	"COMMIT;";

/* has_content_columns - does db's messages table have content_file? */
static bool
has_content_columns(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool yes = sqlite3_prepare_v2(db, "SELECT content_file FROM messages"
				      " LIMIT 0", -1, &st, NULL) == SQLITE_OK;

	sqlite3_finalize(st);
	return yes;
}

/* add_content_columns - give an older index the content columns (any
 * opener may be first: another one may have done it meanwhile) */
static int
add_content_columns(sqlite3 *db, const char *path, mk_error *err)
{
	if (has_content_columns(db))
		return 0;
	if (sqlite3_exec(db, content_columns_sql, NULL, NULL, NULL) != SQLITE_OK) {
		mk_error_set(err, "%s: add the content columns: %s", path,
			     sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return has_content_columns(db) ? 0 : -1;
	}
	return 0;
}

/* add_origin_column - messages.origin (where the envelope came from:
 * NULL an MTA, "import") in an index made before it; as above */
static int
add_origin_column(sqlite3 *db, const char *path, mk_error *err)
{
	sqlite3_stmt *st = NULL;
	bool has = sqlite3_prepare_v2(db, "SELECT origin FROM messages LIMIT 0",
				      -1, &st, NULL) == SQLITE_OK;

	sqlite3_finalize(st);
	if (has || sqlite3_exec(db, "ALTER TABLE messages ADD COLUMN origin"
				" TEXT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	st = NULL;
	has = sqlite3_prepare_v2(db, "SELECT origin FROM messages LIMIT 0", -1,
				 &st, NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	return has ? 0 : mk_error_set(err, "%s: add the origin column: %s",
				      path, sqlite3_errmsg(db));
}

/* index_open_file - open (create) an index file at path into *db, WAL
 * and full durability (index_open() relaxes it for the writer) */
int
index_open_file(archive *ar, const char *path, sqlite3 **db, bool create,
		mk_error *err)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
	    | (create ? SQLITE_OPEN_CREATE : 0);

	if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK)
		return mk_error_set(err, "%s: open: %s", path, sqlite3_errmsg(*db));
	sqlite3_busy_timeout(*db, ARCHIVE_BUSY_MS);
	if (sqlite3_exec(*db, "PRAGMA journal_mode=WAL;"
			 "PRAGMA synchronous=FULL;"
			 "PRAGMA foreign_keys=OFF;", NULL, NULL, NULL) != SQLITE_OK)
		return mk_error_set(err, "%s: set up: %s", path, sqlite3_errmsg(*db));
	if (create && sqlite3_exec(*db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		return mk_error_set(err, "%s: create schema: %s", path,
				    sqlite3_errmsg(*db));
	(void)ar;
	if (!create && add_content_columns(*db, path, err) != 0)
		return -1;
	return create ? 0 : add_origin_column(*db, path, err);
}

/* index_open - open (create) the archive's index */
int
index_open(archive *ar, bool create, mk_error *err)
{
	char *path = path_join(ar->dir, ARCHIVE_INDEX_FILE);
	int rc;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	rc = index_open_file(ar, path, &ar->db, create, err);
	free(path);
	/* the writer's rows are off the durability path (FORMAT.md 1.1): a
	 * tail lost with the power is rolled forward at the next open */
	if (rc == 0 && ar->mode == ARCHIVE_WRITE
	    && sqlite3_exec(ar->db, "PRAGMA synchronous=NORMAL;", NULL, NULL,
			    NULL) != SQLITE_OK)
		rc = db_error(ar, err, "set up");
	return rc;
}

/* index_upgrade - the indexes of this version in an index made by an
 * earlier one (a writer, once: a no-op when they are there) */
int
index_upgrade(archive *ar, mk_error *err)
{
	if (sqlite3_exec(ar->db, upgrade_sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(ar, err, "upgrade the indexes");
	return 0;
}

/* lowercase - a lowercased copy of s; caller frees; NULL for NULL */
static char *
lowercase(const char *s)
{
	char *out, *p;

	if (s == NULL || (out = strdup(s)) == NULL)
		return NULL;
	for (p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

/* bind_text - bind a string (NULL binds SQL NULL), SQLite copies it */
static int
bind_text(sqlite3_stmt *st, int col, const char *s)
{
	return s != NULL ? sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT)
			 : sqlite3_bind_null(st, col);
}

/* bind_decoded - bind a header value with its RFC 2047 words decoded
 * (GMime); the raw value stays in the record, this is for people */
static int
bind_decoded(sqlite3_stmt *st, int col, const char *raw)
{
	char *clean = utf8_clean(raw), *decoded = NULL;
	int rc;

	if (clean != NULL) {
		pthread_once(&gmime_once, gmime_start);
		decoded = g_mime_utils_header_decode_text(NULL, clean);
	}
	rc = bind_text(st, col, decoded != NULL ? decoded : clean);
	g_free(decoded);
	free(clean);
	return rc;
}

/* jtext - the string member key of obj, or NULL */
static const char *
jtext(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* bind_content - the content span of a record (format 4) into
 * parameters col..col+2, or NULLs (metadata only, or a format-3 blob) */
static void
bind_content(sqlite3_stmt *st, int col, json_t *content)
{
	const char *file = json_string_value(json_object_get(content, "file"));
	json_t *off = json_object_get(content, "offset");
	json_t *len = json_object_get(content, "length");

	if (file == NULL || !json_is_integer(off) || !json_is_integer(len)) {
		sqlite3_bind_null(st, col);
		sqlite3_bind_null(st, col + 1);
		sqlite3_bind_null(st, col + 2);
		return;
	}
	bind_text(st, col, file);
	sqlite3_bind_int64(st, col + 1, json_integer_value(off));
	sqlite3_bind_int64(st, col + 2, json_integer_value(len));
}

/* insert_message - one row into messages, from a record */
static int
insert_message(sqlite3_stmt *st, json_t *rec, int64_t seq, const char *rsha)
{
	json_t *pol = json_object_get(rec, "policy");
	const char *from = jtext(rec, "mail_from"), *content = jtext(pol, "content");
	char *from_lc = lowercase(from != NULL ? from : "");
	char *policy_text = json_dumps(pol, JSON_COMPACT | JSON_ENSURE_ASCII
				       | JSON_PRESERVE_ORDER);
	json_t *ru = json_object_get(pol, "retain_until");
	char domain[256];
	int rc;

	address_domain(from_lc, domain, sizeof(domain));
	sqlite3_reset(st);
	bind_text(st, 1, jtext(rec, "id"));
	sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(rec, "received_at")));
	bind_text(st, 3, jtext(rec, "sha256"));
	sqlite3_bind_int64(st, 4, json_integer_value(json_object_get(rec, "size")));
	bind_text(st, 5, jtext(rec, "queue_id"));
	bind_text(st, 6, jtext(rec, "client_addr"));
	bind_text(st, 7, jtext(rec, "client_name"));
	bind_text(st, 8, jtext(rec, "helo"));
	bind_text(st, 9, jtext(rec, "auth_user"));
	bind_text(st, 10, jtext(rec, "tls_version"));
	bind_text(st, 11, from != NULL ? from : "");
	bind_text(st, 12, from_lc != NULL ? from_lc : "");
	bind_text(st, 13, domain);
	bind_text(st, 14, jtext(rec, "message_id"));
	bind_decoded(st, 15, jtext(rec, "subject"));	/* metadata: null */
	bind_text(st, 16, jtext(rec, "date"));
	sqlite3_bind_int64(st, 17, seq);
	bind_text(st, 18, content != NULL ? content : "full");
	if (json_is_integer(ru))
		sqlite3_bind_int64(st, 19, json_integer_value(ru));
	else
		sqlite3_bind_null(st, 19);
	bind_text(st, 20, jtext(pol, "direction"));
	bind_text(st, 21, policy_text != NULL ? policy_text : "{}");
	bind_text(st, 22, rsha);
	bind_content(st, 23, json_object_get(rec, "content"));
	bind_text(st, 26, jtext(rec, "origin"));
	rc = sqlite3_step(st);
	free(policy_text);
	free(from_lc);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* insert_recipients - the rows of one message's envelope recipients */
static int
insert_recipients(sqlite3_stmt *st, json_t *rec)
{
	json_t *rcpts = json_object_get(rec, "rcpts"), *v;
	const char *id = jtext(rec, "id"), *addr;
	char domain[256], *lc;
	size_t i;
	int rc = 0;

	json_array_foreach(rcpts, i, v) {
		addr = json_string_value(v) != NULL ? json_string_value(v) : "";
		lc = lowercase(addr);
		address_domain(lc, domain, sizeof(domain));
		sqlite3_reset(st);
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_text(st, 3, addr);
		bind_text(st, 4, lc != NULL ? lc : "");
		bind_text(st, 5, domain);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		free(lc);
		if (rc != 0)
			break;
	}
	return rc;
}

/* insert_roles - the roles that may see one message */
static int
insert_roles(sqlite3_stmt *st, json_t *rec)
{
	json_t *roles = json_object_get(json_object_get(rec, "policy"), "roles");
	json_t *v;
	size_t i;

	json_array_foreach(roles, i, v) {
		sqlite3_reset(st);
		bind_text(st, 1, jtext(rec, "id"));
		bind_text(st, 2, json_string_value(v));
		if (sqlite3_step(st) != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* index_inserter_open - prepare the insert statements on db */
int
index_inserter_open(index_inserter *ins, sqlite3 *db, mk_error *err)
{
	memset(ins, 0, sizeof(*ins));
	ins->db = db;
	if (sqlite3_prepare_v2(db, "INSERT INTO messages"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	    -1, &ins->msg, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db,
	    "INSERT INTO recipients VALUES(?,?,?,?,?)", -1, &ins->rcpt, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db,
	    "INSERT OR IGNORE INTO roles VALUES(?,?)", -1, &ins->role, NULL) != SQLITE_OK) {
		mk_error_set(err, "index: prepare insert: %s", sqlite3_errmsg(db));
		index_inserter_close(ins);
		return -1;
	}
	return 0;
}

/* index_inserter_close - finalize the statements */
void
index_inserter_close(index_inserter *ins)
{
	sqlite3_finalize(ins->msg);
	sqlite3_finalize(ins->rcpt);
	sqlite3_finalize(ins->role);
	memset(ins, 0, sizeof(*ins));
}

/* index_insert_record - the rows of one record; inside the caller's
 * transaction */
int
index_insert_record(index_inserter *ins, json_t *rec, int64_t seq,
		    const char *rsha, mk_error *err)
{
	const char *id = jtext(rec, "id");

	if (id == NULL || insert_message(ins->msg, rec, seq, rsha) != 0
	    || insert_recipients(ins->rcpt, rec) != 0
	    || insert_roles(ins->role, rec) != 0)
		return mk_error_set(err, "index: insert %s: %s",
				    id != NULL ? id : "(no id)",
				    sqlite3_errmsg(ins->db));
	return 0;
}

/* row_state - the ledger_seq of id's row into *seq; 1 when its record
 * hash is other than rsha, 0 when it is rsha or there is no row, -1 */
static int
row_state(sqlite3 *db, const char *id, const char *rsha, int64_t *seq)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT ledger_seq, record_sha256 IS NOT ?2"
			       " FROM messages WHERE id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rsha, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		rc = sqlite3_column_int(st, 1) ? 1 : 0;
	} else
		rc = rc == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

/* The statements that clear a message's rows before they are made anew. */
static const char *const clear_sql[] = {
	"DELETE FROM recipients WHERE message = ?1",
	"DELETE FROM roles WHERE message = ?1",
	"DELETE FROM messages WHERE id = ?1",
};

/* redo_rows - id's rows deleted (zeroed) and made from record */
static int
redo_rows(sqlite3 *db, const char *id, json_t *record, int64_t seq,
	  const char *rsha, mk_error *err)
{
	index_inserter ins;
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(clear_sql) / sizeof(*clear_sql); i++) {
		if (sqlite3_prepare_v2(db, clear_sql[i], -1, &st, NULL) != SQLITE_OK)
			return mk_error_set(err, "index: %s", sqlite3_errmsg(db));
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = mk_error_set(err, "index: clear %s: %s", id,
					  sqlite3_errmsg(db));
		sqlite3_finalize(st);
	}
	if (rc != 0 || index_inserter_open(&ins, db, err) != 0)
		return -1;
	rc = index_insert_record(&ins, record, seq, rsha, err);
	index_inserter_close(&ins);
	return rc;
}

/* index_set_record - id's rows made anew from a newer record of it, in
 * a savepoint (inside the caller's transaction, if any); 1 when they
 * changed, 0 when none did (internal.h) */
int
index_set_record(sqlite3 *db, const char *id, json_t *record,
		 const char *record_sha256, mk_error *err)
{
	int64_t seq = 0;
	int rc = row_state(db, id, record_sha256, &seq);

	if (rc <= 0)
		return rc < 0 ? mk_error_set(err, "index: the row of %s: %s",
					     id, sqlite3_errmsg(db)) : 0;
	if (sqlite3_exec(db, "PRAGMA secure_delete=ON; SAVEPOINT redo", NULL,
			 NULL, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: %s", sqlite3_errmsg(db));
	if (redo_rows(db, id, record, seq, record_sha256, err) != 0) {
		sqlite3_exec(db, "ROLLBACK TO redo; RELEASE redo", NULL, NULL,
			     NULL);
		return -1;
	}
	if (sqlite3_exec(db, "RELEASE redo", NULL, NULL, NULL) != SQLITE_OK)
		return mk_error_set(err, "index: the rows of %s: %s", id,
				    sqlite3_errmsg(db));
	return 1;
}

/* insert_all - the rows of every message of the batch */
static int
insert_all(archive *ar, commit_req *batch, mk_error *err)
{
	index_inserter ins;
	commit_req *r;
	int rc = 0;

	if (index_inserter_open(&ins, ar->db, err) != 0)
		return -1;
	for (r = batch; rc == 0 && r != NULL; r = r->next)
		rc = index_insert_record(&ins, r->record, r->ledger_seq,
					 r->record_sha256, err);
	index_inserter_close(&ins);
	return rc;
}

/* index_insert_batch - insert a batch in one durable transaction */
int
index_insert_batch(archive *ar, commit_req *batch, mk_error *err)
{
	if (sqlite3_exec(ar->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(ar, err, "begin");
	if (insert_all(ar, batch, err) != 0) {
		sqlite3_exec(ar->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(ar->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_error(ar, err, "commit");
		sqlite3_exec(ar->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

#define MESSAGE_COLUMNS \
	"m.id, m.received_at, m.sha256, m.size, m.queue_id, m.client_addr," \
	" m.client_name, m.helo, m.auth_user, m.tls_version, m.mail_from," \
	" m.message_id, m.subject, m.date_hdr, m.content, m.retain_until," \
	" m.policy_json, m.ledger_seq, m.content_file, m.content_off," \
	" m.content_len, m.origin"
#define MESSAGE_N_COLUMNS 22	/* the columns above */

/* column_dup - a copy of a text column, NULL for SQL NULL */
static char *
column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? strdup((const char *)s) : NULL;
}

/* load_list - the first column of st's rows for msg's id into *list */
static int
load_list(sqlite3_stmt *st, const char *id, char ***list, size_t *n)
{
	size_t cap = 0;
	char **grown;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((grown = realloc(*list, cap * sizeof(char *))) == NULL)
				return -1;
			*list = grown;
		}
		if (((*list)[*n] = column_dup(st, 0)) == NULL)
			return -1;
		(*n)++;
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The statements that read the lists of a message. */
typedef struct list_stmts {
	sqlite3_stmt *rcpts;
	sqlite3_stmt *roles;
} list_stmts;

/* prepare_lists - prepare the list statements; 0 or -1 */
static int
prepare_lists(archive *ar, list_stmts *ls)
{
	return sqlite3_prepare_v2(ar->db, "SELECT addr FROM recipients"
				  " WHERE message = ? ORDER BY pos", -1,
				  &ls->rcpts, NULL) == SQLITE_OK
	    && sqlite3_prepare_v2(ar->db, "SELECT role FROM roles"
				  " WHERE message = ? ORDER BY role", -1,
				  &ls->roles, NULL) == SQLITE_OK ? 0 : -1;
}

/* finalize_lists - finalize the list statements */
static void
finalize_lists(list_stmts *ls)
{
	sqlite3_finalize(ls->rcpts);
	sqlite3_finalize(ls->roles);
}

/* row_message - the current row of st as a new archive_message */
static archive_message *
row_message(sqlite3_stmt *st, list_stmts *ls)
{
	archive_message *msg = calloc(1, sizeof(*msg));

	if (msg == NULL)
		return NULL;
	snprintf(msg->id, sizeof(msg->id), "%s", sqlite3_column_text(st, 0));
	msg->received_at = sqlite3_column_int64(st, 1);
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		snprintf(msg->sha256, sizeof(msg->sha256), "%s",
			 sqlite3_column_text(st, 2));
	msg->size = sqlite3_column_int64(st, 3);
	msg->queue_id = column_dup(st, 4);
	msg->client_addr = column_dup(st, 5);
	msg->client_name = column_dup(st, 6);
	msg->helo = column_dup(st, 7);
	msg->auth_user = column_dup(st, 8);
	msg->tls_version = column_dup(st, 9);
	msg->mail_from = column_dup(st, 10);
	msg->message_id = column_dup(st, 11);
	msg->subject = column_dup(st, 12);
	msg->date = column_dup(st, 13);
	msg->content = strcmp((const char *)sqlite3_column_text(st, 14),
			      "metadata") == 0 ? ARCHIVE_METADATA : ARCHIVE_FULL;
	msg->retain_until = sqlite3_column_int64(st, 15);	/* NULL: 0 */
	msg->policy_json = column_dup(st, 16);
	msg->ledger_seq = sqlite3_column_int64(st, 17);
	msg->content_file = column_dup(st, 18);
	msg->content_off = sqlite3_column_int64(st, 19);
	msg->content_len = sqlite3_column_int64(st, 20);
	msg->origin = column_dup(st, 21);
	if (load_list(ls->rcpts, msg->id, &msg->rcpts, &msg->n_rcpts) != 0
	    || load_list(ls->roles, msg->id, &msg->roles, &msg->n_roles) != 0) {
		archive_message_free(msg);
		return NULL;
	}
	return msg;
}

/* archive_message_free - free a message and its strings */
void
archive_message_free(archive_message *msg)
{
	size_t i;

	if (msg == NULL)
		return;
	free(msg->queue_id);
	free(msg->client_addr);
	free(msg->client_name);
	free(msg->helo);
	free(msg->auth_user);
	free(msg->tls_version);
	free(msg->mail_from);
	free(msg->message_id);
	free(msg->subject);
	free(msg->date);
	free(msg->origin);
	free(msg->content_file);
	for (i = 0; i < msg->n_rcpts; i++)
		free(msg->rcpts[i]);
	free(msg->rcpts);
	for (i = 0; i < msg->n_roles; i++)
		free(msg->roles[i]);
	free(msg->roles);
	free(msg->policy_json);
	free(msg);
}

/* A search under construction: SQL text and the values to bind. */
typedef struct query_sql {
	char sql[1024];
	char *values[8];	/* owned; bound in order */
	int n;
	int64_t since, until;
} query_sql;

/* add_address - the WHERE clause of a from/to address or @domain */
static int
add_address(query_sql *qs, const char *addr, const char *domain_clause,
	    const char *addr_clause)
{
	bool domain = addr[0] == '@';
	char *lc = lowercase(domain ? addr + 1 : addr);

	if (lc == NULL)
		return -1;
	strcat(qs->sql, domain ? domain_clause : addr_clause);
	qs->values[qs->n++] = lc;
	return 0;
}

/* add_message_id - match a Message-ID with or without its <> */
static int
add_message_id(query_sql *qs, const char *id)
{
	char *bare = utf8_clean(id), *angled;
	size_t n;

	if (bare == NULL)
		return -1;
	n = strlen(bare);
	if (n >= 2 && bare[0] == '<' && bare[n - 1] == '>') {
		memmove(bare, bare + 1, n - 2);
		bare[n - 2] = '\0';
	}
	if (asprintf(&angled, "<%s>", bare) < 0) {
		free(bare);
		return -1;
	}
	strcat(qs->sql, " AND m.message_id IN (?, ?)");
	qs->values[qs->n++] = angled;
	qs->values[qs->n++] = bare;
	return 0;
}

/*
 * How a search by recipient runs.  Walking the messages in time order and
 * checking each one's recipients finds the first 100 of a frequent
 * recipient at once, but reads every message for a rare one (0.6-0.9 us a
 * message: most of a second on a million); starting from the
 * recipient's k rows and sorting them costs about 4 us a row, whatever
 * the number wanted (the service asks for every match: it counts only
 * what the caller may see).  The walk meets the first 100 after about
 * 100 N / k of the N messages, so the two cost the same near
 * k = sqrt(16 N) (4,000 rows and 16 ms on a million): the recipient's
 * rows are counted up to that, and when there are no more the search
 * starts from them (an IN list, the time terms kept off the time index
 * with a unary +), else it walks.  N is the largest rowid, which costs
 * nothing to read and is near the number of messages.
 */
#define TO_DRIVE_FLOOR	100	/* rows of a recipient always taken first */

/* to_is_rare - does the recipient address or @domain to have few enough
 * rows to start from them? (false also when it cannot tell) */
static bool
to_is_rare(archive *ar, const char *to)
{
	bool domain = to[0] == '@';
	char *lc = lowercase(domain ? to + 1 : to);
	sqlite3_stmt *st = NULL;
	int64_t n = 0, cap = TO_DRIVE_FLOOR;
	bool rare = false;

	if (sqlite3_prepare_v2(ar->db, "SELECT coalesce(max(rowid), 0) FROM"
			       " messages", -1, &st, NULL) == SQLITE_OK
	    && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	while (cap * cap < 16 * n)
		cap += cap / 2 + 1;
	if (lc != NULL && sqlite3_prepare_v2(ar->db, domain
		? "SELECT count(*) FROM (SELECT 1 FROM recipients WHERE domain = ?"
		  " LIMIT ?)"
		: "SELECT count(*) FROM (SELECT 1 FROM recipients WHERE addr_lc = ?"
		  " LIMIT ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, lc, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, cap + 1);
		rare = sqlite3_step(st) == SQLITE_ROW
		    && sqlite3_column_int64(st, 0) <= cap;
	}
	sqlite3_finalize(st);
	free(lc);
	return rare;
}

/* build_query - the SELECT for q (to_rare: from the recipient's rows);
 * values to bind in qs */
static int
build_query(const archive_query *q, bool to_rare, query_sql *qs)
{
	int rc = 0;

	snprintf(qs->sql, sizeof(qs->sql),
		 "SELECT " MESSAGE_COLUMNS " FROM messages m WHERE 1=1");
	if (q->from != NULL)
		rc |= add_address(qs, q->from, " AND m.mail_from_domain = ?",
				  " AND m.mail_from_lc = ?");
	if (q->to != NULL && to_rare)
		rc |= add_address(qs, q->to,
			" AND m.id IN (SELECT r.message FROM recipients r"
			" WHERE r.domain = ?)",
			" AND m.id IN (SELECT r.message FROM recipients r"
			" WHERE r.addr_lc = ?)");
	else if (q->to != NULL)
		rc |= add_address(qs, q->to,
			" AND EXISTS (SELECT 1 FROM recipients r"
			" WHERE r.message = m.id AND r.domain = ?)",
			" AND EXISTS (SELECT 1 FROM recipients r"
			" WHERE r.message = m.id AND r.addr_lc = ?)");
	if (q->message_id != NULL)
		rc |= add_message_id(qs, q->message_id);
	strcat(qs->sql, to_rare && q->to != NULL
	       ? " AND +m.received_at >= ? AND +m.received_at < ?"
	       : " AND m.received_at >= ? AND m.received_at < ?");
	strcat(qs->sql, q->newest
	       ? " ORDER BY m.received_at DESC, m.id DESC LIMIT ?"
	       : " ORDER BY m.received_at, m.id LIMIT ?");
	qs->since = q->since;
	qs->until = q->until > 0 ? q->until : INT64_MAX;
	return rc;
}

/* run_search - step through the prepared search, calling fn each row */
static int
run_search(archive *ar, sqlite3_stmt *st, archive_search_fn fn, void *ctx,
	   mk_error *err)
{
	list_stmts ls = { NULL, NULL };
	archive_message *msg;
	int rc = SQLITE_DONE, stop = 0;

	if (prepare_lists(ar, &ls) != 0) {
		finalize_lists(&ls);
		return db_error(ar, err, "prepare");
	}
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((msg = row_message(st, &ls)) == NULL) {
			finalize_lists(&ls);
			return db_error(ar, err, "read recipients");
		}
		stop = fn(msg, ctx);
		archive_message_free(msg);
	}
	finalize_lists(&ls);
	if (!stop && rc != SQLITE_DONE)
		return db_error(ar, err, "search");
	return 0;
}

/* archive_search - call fn for each message matching q (archive.h) */
int
archive_search(archive *ar, const archive_query *q, archive_search_fn fn,
	     void *ctx, mk_error *err)
{
	query_sql qs = { .n = 0 };
	sqlite3_stmt *st = NULL;
	int i, rc = -1;

	if (build_query(q, q->to != NULL && to_is_rare(ar, q->to), &qs) != 0) {
		mk_error_set(err, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(ar->db, qs.sql, -1, &st, NULL) != SQLITE_OK) {
		db_error(ar, err, "prepare search");
		goto out;
	}
	for (i = 0; i < qs.n; i++)
		sqlite3_bind_text(st, i + 1, qs.values[i], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, qs.n + 1, qs.since);
	sqlite3_bind_int64(st, qs.n + 2, qs.until);
	sqlite3_bind_int64(st, qs.n + 3, q->limit > 0 ? (sqlite3_int64)q->limit : -1);
	rc = run_search(ar, st, fn, ctx, err);
out:
	sqlite3_finalize(st);
	for (i = 0; i < qs.n; i++)
		free(qs.values[i]);
	return rc;
}

/* index_forget - finalize archive_lookup's statements (internal.h) */
void
index_forget(archive *ar)
{
	size_t i;

	for (i = 0; i < sizeof(ar->lookup) / sizeof(*ar->lookup); i++) {
		sqlite3_finalize(ar->lookup[i]);
		ar->lookup[i] = NULL;
	}
}

/* archive_lookup - the message with this id into *out, caller frees
 * (archive.h).  Its statements are prepared once per archive handle: a
 * search of the full-text index looks up every hit, and preparing three
 * statements each time cost more than running them. */
int
archive_lookup(archive *ar, const char *id, archive_message **out,
	     mk_error *err)
{
	list_stmts ls;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (ar->lookup[0] == NULL) {
		ls.rcpts = ls.roles = NULL;
		if (sqlite3_prepare_v2(ar->db, "SELECT " MESSAGE_COLUMNS
				       " FROM messages m WHERE m.id = ?", -1,
				       &ar->lookup[0], NULL) != SQLITE_OK
		    || prepare_lists(ar, &ls) != 0) {
			rc = db_error(ar, err, "prepare lookup");
			finalize_lists(&ls);
			index_forget(ar);
			return rc;
		}
		ar->lookup[1] = ls.rcpts;
		ar->lookup[2] = ls.roles;
	}
	st = ar->lookup[0];
	ls.rcpts = ar->lookup[1];
	ls.roles = ar->lookup[2];
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (*out = row_message(st, &ls)) != NULL)
		rc = 0;
	else if (rc == SQLITE_DONE)
		rc = mk_error_set(err, "no message %s", id);
	else
		rc = db_error(ar, err, "lookup");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_reset(ls.rcpts);
	sqlite3_reset(ls.roles);
	return rc;
}

/* archive_each_stored - messages stored after ledger seq after, in ledger
 * order, at most limit (archive.h) */
int
archive_each_stored(archive *ar, int64_t after, size_t limit,
		    archive_stored_fn fn, void *ctx, mk_error *err)
{
	sqlite3_stmt *st = NULL;
	list_stmts ls = { NULL, NULL };
	archive_message *msg;
	int rc = SQLITE_DONE, stop = 0;

	if (sqlite3_prepare_v2(ar->db, "SELECT " MESSAGE_COLUMNS
			       " FROM messages m WHERE m.ledger_seq > ?"
			       " ORDER BY m.ledger_seq LIMIT ?", -1, &st,
			       NULL) != SQLITE_OK || prepare_lists(ar, &ls) != 0) {
		rc = db_error(ar, err, "prepare");
		goto out;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit > 0 ? (sqlite3_int64)limit : -1);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((msg = row_message(st, &ls)) == NULL) {
			rc = db_error(ar, err, "read recipients");
			goto out;
		}
		stop = fn(msg, msg->ledger_seq, ctx);
		archive_message_free(msg);
	}
	rc = stop < 0 || (!stop && rc != SQLITE_DONE)
	    ? (stop < 0 ? -1 : db_error(ar, err, "list stored messages")) : 0;
out:
	sqlite3_finalize(st);
	finalize_lists(&ls);
	return rc;
}

/* archive_stored_count - how many messages the index holds, and the
 * largest ledger seq among them (archive.h) */
int
archive_stored_count(archive *ar, int64_t *count, int64_t *max_seq,
		     mk_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(ar->db, "SELECT count(*), coalesce(max(ledger_seq),"
			       " 0) FROM messages", -1, &st, NULL) != SQLITE_OK)
		return db_error(ar, err, "prepare count");
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		*max_seq = sqlite3_column_int64(st, 1);
		rc = 0;
	} else
		rc = db_error(ar, err, "count");
	sqlite3_finalize(st);
	return rc;
}

/* archive_find_same - an archived message the same as the one described:
 * the same content (sha256) kept in full, or - metadata only, where no
 * content is kept to compare - the same Message-ID, sender and time */
int
archive_find_same(archive *ar, const char *sha256, const char *message_id,
		  const char *mail_from, int64_t received_at,
		  char id_out[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	id_out[0] = '\0';
	if (sha256 == NULL && message_id == NULL)
		return 0;	/* nothing to know it by */
	rc = sha256 != NULL
	    ? sqlite3_prepare_v2(ar->db, "SELECT id FROM messages WHERE"
				 " sha256 = ?1 AND content = 'full' LIMIT 1",
				 -1, &st, NULL)
	    : sqlite3_prepare_v2(ar->db, "SELECT id FROM messages WHERE"
				 " message_id = ?2 AND mail_from = ?3 AND"
				 " received_at = ?4 LIMIT 1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(ar, err, "prepare a duplicate check");
	if (sha256 != NULL)
		sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	else {
		sqlite3_bind_text(st, 2, message_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, mail_from ? mail_from : "", -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, received_at);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(id_out, ARCHIVE_ID_LEN + 1, "%s",
			 sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(ar, err, "duplicate check");
	return rc == SQLITE_ROW ? 1 : 0;
}
