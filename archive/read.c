/*
 * read.c - the read side of the archive: reading content back, and the
 * ledger entry every access leaves behind (search and lookup are index.c's).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* The sink of archive_read: hash, then pass on. */
typedef struct hashing_sink {
	EVP_MD_CTX *sha;
	archive_sink_fn sink;
	void *ctx;
} hashing_sink;

/* hash_and_pass - archive_sink_fn that hashes and forwards */
static int
hash_and_pass(const void *buf, size_t len, void *ctx)
{
	hashing_sink *hs = ctx;

	if (EVP_DigestUpdate(hs->sha, buf, len) != 1)
		return -1;
	return hs->sink(buf, len, hs->ctx);
}

/* open_content - the span of msg's blob: in its content segment (format
 * 4), or its own file in blobs/ (format 3); *where names it for errors */
static int
open_content(archive *ar, const archive_message *msg,
	     unsigned char key[KEYS_AES], blob_span *span, char *where,
	     size_t size, mk_error *err)
{
	char *path;

	if (msg->content_file != NULL) {
		snprintf(where, size, "%s at %lld", msg->content_file,
			 (long long)msg->content_off);
		return content_open(ar, msg->content_file, msg->content_off,
				    msg->content_len, key, span, err);
	}
	snprintf(where, size, "blobs/%.2s/%s", msg->sha256, msg->sha256);
	if ((path = path_join(ar->dir, where)) == NULL)
		return mk_error_set(err, "out of memory");
	*span = (blob_span){ open(path, O_RDONLY | O_CLOEXEC), 0, -1, NULL };
	free(path);
	return span->fd >= 0 ? 0 : mk_error_errno(err, "open %s", where);
}

/* read_checked - stream msg's blob to sink, checking its SHA-256 */
static int
read_checked(archive *ar, const archive_message *msg, archive_sink_fn sink,
	     void *ctx, mk_error *err)
{
	unsigned char key[KEYS_AES], md[32];
	char where[CONTENT_FILE_MAX + 32], hex[ARCHIVE_SHA256_HEX + 1];
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	blob_span span = { -1, 0, 0, NULL };
	hashing_sink hs = { sha, sink, ctx };
	mk_error why;
	int rc = -1;

	if (sha == NULL || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		mk_error_set(err, "out of memory");
	else if (open_content(ar, msg, key, &span, where, sizeof(where),
			      &why) != 0)
		mk_error_set(err, "content of %s: %s", msg->id, why.msg);
	else if (blob_read(&span, &ar->keys, &ar->codecs, hash_and_pass, &hs,
			   &why) != 0)
		mk_error_set(err, "content of %s: %s: %s", msg->id, where,
			     why.msg);
	else if (EVP_DigestFinal_ex(sha, md, NULL) == 1) {
		hex_encode(md, sizeof(md), hex);
		rc = strcmp(hex, msg->sha256) == 0 ? 0
		    : mk_error_set(err, "content of %s does not match its"
				   " SHA-256 (%s damaged)", msg->id, where);
	}
	if (span.fd >= 0)
		close(span.fd);
	OPENSSL_cleanse(key, sizeof(key));
	EVP_MD_CTX_free(sha);
	return rc;
}

/* archive_read - stream the content of message id, checking its hash */
int
archive_read(archive *ar, const char *id, archive_sink_fn sink, void *ctx,
	     mk_error *err)
{
	archive_message *msg;
	int rc = -1;

	if (archive_lookup(ar, id, &msg, err) != 0)
		return -1;
	if (msg->content != ARCHIVE_FULL)
		mk_error_set(err, "message %s was archived as metadata only:"
			     " its content was never kept", id);
	else
		rc = read_checked(ar, msg, sink, ctx, err);
	archive_message_free(msg);
	return rc;
}

/* entry_members - obj as a ledger entry: compact JSON without its
 * braces (the ledger puts "seq" first); consumes obj; caller frees */
static char *
entry_members(json_t *obj)
{
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT
					      | JSON_ENSURE_ASCII
					      | JSON_PRESERVE_ORDER) : NULL;
	size_t len;

	json_decref(obj);
	if (text != NULL && (len = strlen(text)) >= 2) {
		memmove(text, text + 1, len - 2);
		text[len - 2] = '\0';
	}
	return text;
}

/* The events only the archive itself writes. */
static const char *const own_events[] = {
	"created", "stored", "keys_rotated", "index_rebuilt", "policy",
	"expired", "rekeyed", "redecided", NULL
};

/* check_event - obj is an entry a caller may append: an object whose
 * "event" is a word of its own; 0 or -1 with err */
static int
check_event(json_t *obj, mk_error *err)
{
	const char *event = json_string_value(json_object_get(obj, "event"));
	size_t i;

	if (!json_is_object(obj) || event == NULL || *event == '\0')
		return mk_error_set(err, "a ledger entry is a JSON object with"
				    " an \"event\"");
	if (json_object_get(obj, "seq") != NULL
	    || json_object_get(obj, "prev") != NULL)
		return mk_error_set(err, "a ledger entry's seq and prev are the"
				    " ledger's to write");
	for (i = 0; own_events[i] != NULL; i++)
		if (strcmp(event, own_events[i]) == 0)
			return mk_error_set(err, "\"%s\" entries are the"
					    " archive's own", event);
	return 0;
}

/* archive_log_event - append a caller's entry to the ledger, durably */
int
archive_log_event(archive *ar, const char *object_json, int64_t *seq,
		  mk_error *err)
{
	json_t *obj = json_loads(object_json, JSON_REJECT_DUPLICATES, NULL);
	const char *entries[1];
	int64_t first;
	char *text;
	int rc;

	if (check_event(obj, err) != 0) {
		json_decref(obj);
		return -1;
	}
	if ((text = entry_members(obj)) == NULL)
		return mk_error_set(err, "out of memory");
	entries[0] = text;
	rc = ledger_append(ar, entries, 1, &first, err);
	free(text);
	if (rc == 0 && seq != NULL)
		*seq = first;
	return rc;
}

/* archive_ledger_each - fn for every whole ledger line, oldest first */
int
archive_ledger_each(archive *ar, archive_entry_fn fn, void *ctx,
		    mk_error *err)
{
	return ledger_scan(ar->dir, fn, ctx, err);
}

/* archive_ledger_each_from - fn for the whole lines from offset on */
int
archive_ledger_each_from(archive *ar, int64_t offset, int64_t before,
			 archive_entry_fn fn, void *ctx, mk_error *err)
{
	return ledger_scan_from(ar->dir, offset, before, fn, ctx, err);
}

/* hash_file - the SHA-256 of the file at path as hex */
static int
hash_file(const char *path, char hex[ARCHIVE_SHA256_HEX + 1], mk_error *err)
{
	unsigned char buf[8192], md[32];
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok;

	ok = fd >= 0 && sha != NULL && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1;
	while (ok && (n = read(fd, buf, sizeof(buf))) > 0)
		ok = EVP_DigestUpdate(sha, buf, (size_t)n) == 1;
	ok = ok && n == 0 && EVP_DigestFinal_ex(sha, md, NULL) == 1;
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(sha);
	if (!ok)
		return mk_error_errno(err, "read %s", path);
	hex_encode(md, sizeof(md), hex);
	return 0;
}

/* archive_log_policy - a "policy" entry: which policy applies from now */
int
archive_log_policy(archive *ar, const char *path, mk_error *err)
{
	char hex[ARCHIVE_SHA256_HEX + 1], *clean, *text;
	const char *entries[1];
	int64_t seq;
	int rc;

	if (path != NULL && hash_file(path, hex, err) != 0)
		return -1;
	clean = utf8_clean(path);
	text = entry_members(json_pack("{s:s, s:I, s:o, s:o}", "event", "policy",
			"time", (json_int_t)now_micros(),
			"file", clean ? json_string(clean) : json_null(),
			"sha256", path ? json_string(hex) : json_null()));
	free(clean);
	if (text == NULL)
		return mk_error_set(err, "out of memory");
	entries[0] = text;
	rc = ledger_append(ar, entries, 1, &seq, err);
	free(text);
	return rc;
}
