/*
 * wire.c - what travels between the access service and its clients.
 *
 * NAME
 *	wire - frames, and archive messages as JSON
 *
 * DESCRIPTION
 *	A frame is a type byte, a 32-bit big-endian length and that many
 *	bytes (access.h lists the types).  access_frame_write() sends one
 *	with a single writev-like loop; the reading side is in client.c.
 *
 *	A message travels as a JSON object with one member a field of
 *	archive_message, times as integers, so that the client rebuilds the
 *	very struct the archive returned and prints it with the same code
 *	as an offline read.  Header values are kept as the MTA passed them
 *	and may not be UTF-8, which JSON cannot carry: such a string goes as
 *	{"base64": TEXT} and comes back byte for byte.
 *
 * DIAGNOSTICS
 *	access_message_parse() names the member that is wrong.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "access/internal.h"

/* The string members of a message, by offset. */
static const struct {
	const char *name;
	size_t offset;
} text_fields[] = {
	{"queue_id", offsetof(archive_message, queue_id)},
	{"client_addr", offsetof(archive_message, client_addr)},
	{"client_name", offsetof(archive_message, client_name)},
	{"helo", offsetof(archive_message, helo)},
	{"auth_user", offsetof(archive_message, auth_user)},
	{"tls_version", offsetof(archive_message, tls_version)},
	{"mail_from", offsetof(archive_message, mail_from)},
	{"message_id", offsetof(archive_message, message_id)},
	{"subject", offsetof(archive_message, subject)},
	{"date", offsetof(archive_message, date)},
	{"policy_json", offsetof(archive_message, policy_json)},
	{"origin", offsetof(archive_message, origin)},
};
#define N_TEXT (sizeof(text_fields) / sizeof(text_fields[0]))

/* field - the char * member at offset of msg */
static char **
field(archive_message *msg, size_t offset)
{
	return (char **)((char *)msg + offset);
}

/* access_message_obj - msg (and a snippet, or NULL) as the wire's JSON
 * object, new; NULL when out of memory */
json_t *
access_message_obj(const archive_message *msg, const char *snippet)
{
	json_t *obj = json_object();
	size_t i;
	int bad;

	if (obj == NULL)
		return NULL;
	bad = json_object_set_new(obj, "id", json_string(msg->id));
	bad |= json_object_set_new(obj, "sha256", json_string(msg->sha256));
	bad |= json_object_set_new(obj, "metadata_only",
				   json_boolean(msg->content == ARCHIVE_METADATA));
	bad |= json_object_set_new(obj, "retain_until",
				   json_integer(msg->retain_until));
	bad |= json_object_set_new(obj, "received_at",
				   json_integer(msg->received_at));
	bad |= json_object_set_new(obj, "size", json_integer(msg->size));
	bad |= json_object_set_new(obj, "roles", wire_strings((const char *const *)msg->roles,
							    msg->n_roles));
	bad |= json_object_set_new(obj, "rcpts", wire_strings((const char *const *)msg->rcpts,
							    msg->n_rcpts));
	for (i = 0; i < N_TEXT; i++)
		bad |= json_object_set_new(obj, text_fields[i].name,
			wire_text(*field((archive_message *)msg,
					  text_fields[i].offset)));
	if (snippet != NULL)
		bad |= json_object_set_new(obj, "snippet", wire_text(snippet));
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* access_message_json - the same as JSON text, new */
char *
access_message_json(const archive_message *msg, const char *snippet)
{
	json_t *obj = access_message_obj(msg, snippet);
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	return text;
}

/* list_of - a JSON array of texts into a NULL-terminated string array */
static int
list_of(json_t *arr, char ***out, size_t *n)
{
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr))
		return -1;
	if ((*out = calloc(json_array_size(arr) + 1, sizeof(**out))) == NULL)
		return -1;
	for (i = 0; i < json_array_size(arr); i++, (*n)++)
		if (wire_text_of(json_array_get(arr, i), &(*out)[i]) != 0
		    || (*out)[i] == NULL)
			return -1;
	return 0;
}

/* copy_fixed - id and sha256 into their arrays; -1 when they do not fit */
static int
copy_fixed(json_t *obj, archive_message *msg)
{
	const char *id = json_string_value(json_object_get(obj, "id"));
	const char *sha = json_string_value(json_object_get(obj, "sha256"));

	if (id == NULL || strlen(id) != ARCHIVE_ID_LEN || sha == NULL
	    || strlen(sha) > ARCHIVE_SHA256_HEX)
		return -1;
	memcpy(msg->id, id, ARCHIVE_ID_LEN + 1);
	memcpy(msg->sha256, sha, strlen(sha) + 1);
	return 0;
}

/* fill_message - obj's members into msg; the name of a bad one, or NULL */
static const char *
fill_message(json_t *obj, archive_message *msg)
{
	size_t i;

	if (copy_fixed(obj, msg) != 0)
		return "id";
	msg->content = json_is_true(json_object_get(obj, "metadata_only"))
	    ? ARCHIVE_METADATA : ARCHIVE_FULL;
	msg->retain_until = json_integer_value(json_object_get(obj, "retain_until"));
	msg->received_at = json_integer_value(json_object_get(obj, "received_at"));
	msg->size = json_integer_value(json_object_get(obj, "size"));
	if (list_of(json_object_get(obj, "roles"), &msg->roles, &msg->n_roles) != 0)
		return "roles";
	if (list_of(json_object_get(obj, "rcpts"), &msg->rcpts, &msg->n_rcpts) != 0)
		return "rcpts";
	for (i = 0; i < N_TEXT; i++)
		if (wire_text_of(json_object_get(obj, text_fields[i].name),
			    field(msg, text_fields[i].offset)) != 0)
			return text_fields[i].name;
	return NULL;
}

/* access_message_parse - the wire's JSON back into a message */
archive_message *
access_message_parse(const char *text, size_t len, mk_error *err)
{
	json_t *obj = json_loadb(text, len, 0, NULL);
	archive_message *msg = calloc(1, sizeof(*msg));
	const char *bad = "the object";

	if (json_is_object(obj) && msg != NULL)
		bad = fill_message(obj, msg);
	json_decref(obj);
	if (bad == NULL)
		return msg;
	archive_message_free(msg);
	mk_error_set(err, "the access service sent a message with a bad %s", bad);
	return NULL;
}

/* access_checkpoint_json - a checkpoint as a new JSON object */
json_t *
access_checkpoint_json(const archive_checkpoint *cp)
{
	return json_pack("{s:I, s:s, s:I, s:i, s:s, s:s, s:b}",
			 "size", (json_int_t)cp->size, "root", cp->root,
			 "time", (json_int_t)cp->time, "key", (int)cp->key,
			 "text", cp->text, "signature", cp->signature,
			 "valid", cp->valid);
}

/* access_path_json - an audit path as a JSON array of hex strings */
json_t *
access_path_json(char (*path)[ARCHIVE_SHA256_HEX + 1], size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(path[i]));
	return arr;
}

/* access_entry_proof_json - the proof of any ledger entry as a new JSON
 * object */
json_t *
access_entry_proof_json(const archive_proof *p)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:I, s:o, s:o}",
			 "seq", (json_int_t)p->seq,
			 "leaf_index", (json_int_t)(p->seq - 1),
			 "entry", p->entry, "leaf_hash", p->leaf_hash,
			 "tree_size", (json_int_t)p->checkpoint.size,
			 "path", access_path_json(p->path, p->path_len),
			 "checkpoint", access_checkpoint_json(&p->checkpoint));
}

/* access_proof_json - an inclusion proof as a new JSON object */
json_t *
access_proof_json(const archive_proof *p)
{
	json_t *obj = json_pack("{s:s}", "id", p->id);
	json_t *entry = access_entry_proof_json(p);

	if (obj == NULL || entry == NULL || json_object_update(obj, entry) != 0
	    || json_object_set_new(obj, "record", json_pack("{s:s, s:i, s:s}",
				   "text", p->record, "signer",
				   (int)p->record_signer, "signature",
				   p->record_signature)) != 0) {
		json_decref(obj);
		obj = NULL;
	}
	json_decref(entry);
	return obj;
}

/* access_verify_json - verify's counts as a new JSON object */
json_t *
access_verify_json(const archive_verify_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"ledger_entries", (json_int_t)st->ledger_entries,
		"uncovered_entries", (json_int_t)st->uncovered,
		"checkpoints", (json_int_t)st->checkpoints,
		"records", (json_int_t)st->records,
		"index_rows", (json_int_t)st->index_rows,
		"index_behind", (json_int_t)st->index_behind,
		"blobs", (json_int_t)st->blobs,
		"content_bytes", (json_int_t)st->content_bytes,
		"problems", (json_int_t)st->problems);
}

/* access_status_json - the full-text index's progress as a new JSON
 * object */
json_t *
access_status_json(const discovery_status *st)
{
	json_t *obj = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
				"stored", (json_int_t)st->stored,
				"indexed", (json_int_t)st->indexed,
				"lag_messages", (json_int_t)st->lag_messages,
				"lag_seconds", (json_int_t)st->lag_seconds,
				"last_seq", (json_int_t)st->last_seq,
				"errors", (json_int_t)st->errors);

	if (obj != NULL && st->last_error[0] != '\0')
		json_object_set_new(obj, "last_error", json_pack("{s:s, s:s, s:I}",
				    "id", st->last_error_id, "error",
				    st->last_error, "time",
				    (json_int_t)st->last_error_time));
	return obj;
}

/* write_full - all of buf to fd; 0 or -1 (errno set) */
static int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* access_frame_write - type, length, bytes to fd */
int
access_frame_write(int fd, char type, const void *buf, size_t len,
		   mk_error *err)
{
	unsigned char head[5];

	if (len > ACCESS_MAX_FRAME)
		return mk_error_set(err, "frame of %zu bytes: too long", len);
	head[0] = (unsigned char)type;
	head[1] = (unsigned char)(len >> 24);
	head[2] = (unsigned char)(len >> 16);
	head[3] = (unsigned char)(len >> 8);
	head[4] = (unsigned char)len;
	if (write_full(fd, head, sizeof(head)) != 0
	    || (len > 0 && write_full(fd, buf, len) != 0))
		return mk_error_errno(err, "send to the client");
	return 0;
}

/* read_exact - len bytes from fd: 1, 0 at a clean end before any, -1 */
static int
read_exact(int fd, void *buf, size_t len, mk_error *err)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mk_error_errno(err, "read a frame");
		if (n == 0)
			return got == 0 ? 0 : mk_error_set(err, "the connection"
							   " closed mid-frame");
		got += (size_t)n;
	}
	return 1;
}

/* access_frame_read - one frame of at most max bytes */
int
access_frame_read(int fd, char *type, char **buf, size_t *cap, size_t *len,
		  size_t max, mk_error *err)
{
	unsigned char head[5];
	size_t n;
	char *grown;
	int rc;

	if ((rc = read_exact(fd, head, sizeof(head), err)) <= 0)
		return rc;
	n = (size_t)head[1] << 24 | (size_t)head[2] << 16
	    | (size_t)head[3] << 8 | head[4];
	if (n > max)
		return mk_error_set(err, "a frame of %zu bytes (at most %zu)",
				    n, max);
	if (n + 1 > *cap) {
		if ((grown = realloc(*buf, n + 1)) == NULL)
			return mk_error_set(err, "out of memory");
		*buf = grown;
		*cap = n + 1;
	}
	if (n > 0 && read_exact(fd, *buf, n, err) != 1)
		return err->msg[0] ? -1 : mk_error_set(err, "the connection"
						       " closed mid-frame");
	(*buf)[n] = '\0';
	*type = (char)head[0];
	*len = n;
	return 1;
}
