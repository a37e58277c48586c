/*
 * record.c - per-message records: records/<YYYY-MM-DD>.log.
 *
 * Content blobs are shared by identical copies, so what belongs to one
 * message alone - its envelope, the time it arrived, the header fields
 * the index shows - is kept in a record of its own, in the segment of the
 * day (UTC) the message was received, appended in group commits.  With
 * the blobs and the ledger, the records are what the SQLite index is
 * rebuilt from (docs/FORMAT.md, "Records").
 *
 * The record is compact JSON text; that exact text is what is signed
 * (Ed25519, the current key) and hashed into the ledger's "stored" entry.
 * Text, signer and signature are then sealed with AES-256-GCM under the
 * record key of the day the message may be expired (keys.c), the message
 * id as additional data, so that destroying that key forgets the
 * envelopes of every message due that day:
 *
 *	{"v":3,"id":ID,"key":"record-DAY.key","nonce":B64,"data":B64}
 *
 * where data decrypts to {"record":TEXT,"signer":N,"sig":B64}.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* utf8_length - bytes of the valid UTF-8 sequence at p, or 0 */
static size_t
utf8_length(const unsigned char *p)
{
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0)
	    || (n == 3 && p[0] == 0xed && p[1] >= 0xa0)
	    || (n == 4 && p[0] == 0xf0 && p[1] < 0x90)
	    || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

/* utf8_clean - valid UTF-8 copy of s, blanks trimmed, at most
 * ARCHIVE_MAX_FIELD bytes of s (a cut character becomes U+FFFD); caller frees */
char *
utf8_clean(const char *s)
{
	const unsigned char *p, *end;
	char *out, *o;
	size_t n;

	if (s == NULL)
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	end = (const unsigned char *)s + strnlen(s, ARCHIVE_MAX_FIELD);
	while (end > (const unsigned char *)s && isspace(end[-1]))
		end--;
	if ((out = malloc(3 * (size_t)(end - (const unsigned char *)s) + 1)) == NULL)
		return NULL;
	for (p = (const unsigned char *)s, o = out; p < end; p += n) {
		n = utf8_length(p);
		if (n == 0 || p + n > end) {
			memcpy(o, "\xef\xbf\xbd", 3);	/* U+FFFD */
			o += 3;
			n = 1;
		} else {
			memcpy(o, p, n);
			o += n;
		}
	}
	*o = '\0';
	return out;
}

/* address_domain - the lowercased domain of addr into out */
void
address_domain(const char *addr, char *out, size_t size)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	size_t i;

	for (i = 0; at != NULL && at[1 + i] != '\0' && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)at[1 + i]);
	if (size > 0)
		out[i] = '\0';
}

/* set_text - obj[key] = the cleaned string, or null */
static int
set_text(json_t *obj, const char *key, const char *value)
{
	char *clean = utf8_clean(value);
	json_t *v;

	if (value != NULL && clean == NULL)
		return -1;
	v = clean != NULL ? json_string(clean) : json_null();
	free(clean);
	return json_object_set_new(obj, key, v);
}

/* record_policy_json - the policy decision of a message as a JSON
 * object (internal.h) */
json_t *
record_policy_json(const archive_policy *pol)
{
	json_t *obj = json_object(), *roles = json_array(), *parties = json_array();
	size_t i;

	json_object_set_new(obj, "content", json_string(
		pol->content == ARCHIVE_METADATA ? "metadata" : "full"));
	set_text(obj, "direction", pol->direction);
	json_object_set_new(obj, "retain_until", pol->retain_until
			    ? json_integer(pol->retain_until) : json_null());
	for (i = 0; i < pol->n_roles; i++)
		json_array_append_new(roles, json_string(pol->roles[i]));
	for (i = 0; i < pol->n_parties; i++) {
		json_t *party = json_object();

		set_text(party, "address", pol->parties[i].address);
		set_text(party, "rule", pol->parties[i].rule);
		json_array_append_new(parties, party);
	}
	json_object_set_new(obj, "roles", roles);
	json_object_set_new(obj, "parties", parties);
	return obj;
}

/* content_json - where req's content is: {"file","offset","length"},
 * or null (metadata only) */
static json_t *
content_json(const commit_req *req)
{
	if (req->content_file[0] == '\0')
		return json_null();
	return json_pack("{s:s,s:I,s:I}", "file", req->content_file,
			 "offset", (json_int_t)req->content_off,
			 "length", (json_int_t)req->content_len);
}

/* record_json - the record of one message as a JSON object */
static json_t *
record_json(const commit_req *req)
{
	const archive_envelope *e = req->env;
	json_t *obj = json_object(), *rcpts = json_array();
	char *clean;
	size_t i;
	int bad = obj == NULL || rcpts == NULL;

	bad |= json_object_set_new(obj, "v", json_integer(ARCHIVE_FORMAT));
	bad |= json_object_set_new(obj, "id", json_string(req->id));
	bad |= json_object_set_new(obj, "received_at",
				   json_integer(req->received_at));
	bad |= json_object_set_new(obj, "sha256", req->sha256[0]
				   ? json_string(req->sha256) : json_null());
	bad |= json_object_set_new(obj, "size", json_integer(req->size));
	bad |= json_object_set_new(obj, "content", content_json(req));
	bad |= set_text(obj, "queue_id", e->queue_id);
	bad |= set_text(obj, "client_addr", e->client_addr);
	bad |= set_text(obj, "client_name", e->client_name);
	bad |= set_text(obj, "helo", e->helo);
	bad |= set_text(obj, "auth_user", e->auth_user);
	bad |= set_text(obj, "tls_version", e->tls_version);
	bad |= set_text(obj, "mail_from", e->mail_from ? e->mail_from : "");
	for (i = 0; !bad && i < e->n_rcpts; i++) {
		clean = utf8_clean(e->rcpts[i]);
		bad |= clean == NULL
		    || json_array_append_new(rcpts, json_string(clean));
		free(clean);
	}
	bad |= json_object_set(obj, "rcpts", rcpts);
	bad |= set_text(obj, "message_id", e->message_id);
	bad |= set_text(obj, "subject", e->policy.content == ARCHIVE_FULL
			? e->subject : NULL);	/* metadata mode: never */
	bad |= set_text(obj, "date", e->date);
	if (e->origin != NULL)
		bad |= set_text(obj, "origin", e->origin);
	bad |= json_object_set_new(obj, "policy",
				   record_policy_json(&e->policy));
	json_decref(rcpts);
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* seal_payload - the encrypted line of message id's signed payload,
 * under the record key called name */
static char *
seal_payload(archive *ar, const char *id, const char *name,
	     const char *payload, mk_error *err)
{
	unsigned char key[KEYS_AES], nonce[KEYS_NONCE], *ct;
	char *nonce64 = NULL, *data64 = NULL, *line = NULL;
	size_t len = strlen(payload);

	if (keyring_record_key(&ar->keys, name, true, key, err) != 0)
		return NULL;
	if ((ct = malloc(len + KEYS_TAG)) == NULL
	    || RAND_bytes(nonce, sizeof(nonce)) != 1
	    || aead_seal(key, nonce, id, strlen(id), payload, len,
			 ct, ct + len) != 0) {
		mk_error_set(err, "cannot encrypt the record of %s", id);
	} else if ((nonce64 = base64_encode(nonce, sizeof(nonce))) == NULL
		   || (data64 = base64_encode(ct, len + KEYS_TAG)) == NULL
		   || asprintf(&line, "{\"v\":%d,\"id\":\"%s\",\"key\":\"%s\","
			       "\"nonce\":\"%s\",\"data\":\"%s\"}\n",
			       ARCHIVE_FORMAT, id, name, nonce64,
			       data64) < 0) {
		mk_error_set(err, "out of memory");
		line = NULL;
	}
	OPENSSL_cleanse(key, sizeof(key));
	free(ct);
	free(nonce64);
	free(data64);
	return line;
}

/* signed_payload - {"record":TEXT,"signer":N,"sig":B64} of text, signed
 * by the current key (its generation into *signer) */
static char *
signed_payload(archive *ar, unsigned *signer, const char *text,
	       mk_error *err)
{
	unsigned char sig[KEYS_SIG];
	json_t *obj;
	char *sig64, *out = NULL;

	*signer = ar->keys.n;
	if (keyring_sign(&ar->keys, *signer, text, strlen(text), sig,
			 err) != 0)
		return NULL;
	if ((sig64 = base64_encode(sig, sizeof(sig))) != NULL
	    && (obj = json_pack("{s:s, s:i, s:s}", "record", text, "signer",
				(int)*signer, "sig", sig64)) != NULL) {
		out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(obj);
	}
	free(sig64);
	if (out == NULL)
		mk_error_set(err, "out of memory");
	return out;
}

/* plain_line - the line of an unsigned, unencrypted record (sign = 0) */
static char *
plain_line(const char *id, const char *text, mk_error *err)
{
	char *line;

	if (asprintf(&line, "{\"v\":%d,\"id\":\"%s\",\"key\":null,"
		     "\"record\":%s}\n", ARCHIVE_FORMAT, id, text) < 0) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	return line;
}

/* record_seal - the record of req, its hash, signature and sealed line */
int
record_seal(archive *ar, commit_req *req, mk_error *err)
{
	char *text, *payload = NULL, name[KEYS_NAME_MAX];

	if ((req->record = record_json(req)) == NULL)
		return mk_error_set(err, "cannot encode the record of %s",
				    req->id);
	text = json_dumps(req->record, JSON_COMPACT | JSON_ENSURE_ASCII
			  | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return mk_error_set(err, "out of memory");
	sha256_hex(text, strlen(text), req->record_sha256);
	keys_record_key_name(req->env->policy.retain_until, name);
	if (!ar->opts.sign)
		req->record_line = plain_line(req->id, text, err);
	else if ((payload = signed_payload(ar, &req->signer, text, err)) != NULL)
		req->record_line = seal_payload(ar, req->id, name, payload, err);
	free(payload);
	free(text);
	return req->record_line != NULL ? 0 : -1;
}

/* record_reseal - a record text of id signed anew and sealed under the
 * record key called key_name (internal.h) */
int
record_reseal(archive *ar, const char *id, const char *text,
	      const char *key_name, record_resealed *out, mk_error *err)
{
	char *payload = NULL;

	memset(out, 0, sizeof(*out));
	sha256_hex(text, strlen(text), out->sha256);
	if (!ar->opts.sign)
		out->line = plain_line(id, text, err);
	else if ((payload = signed_payload(ar, &out->signer, text, err)) != NULL)
		out->line = seal_payload(ar, id, key_name, payload, err);
	free(payload);
	return out->line != NULL ? 0 : -1;
}

/* record_key_group - the group a records/ line is sealed for: GROUP of
 * its "key":"record-GROUP.key" */
bool
record_key_group(const char *line, char group[CONTENT_GROUP_MAX])
{
	const char *p = strstr(line, "\"key\":\"record-"), *end;

	if (p == NULL || (end = strstr(p += 14, ".key\"")) == NULL
	    || !content_group_valid(p, (size_t)(end - p)))
		return false;
	snprintf(group, CONTENT_GROUP_MAX, "%.*s", (int)(end - p), p);
	return true;
}

/* commit_req_release - free what record_seal() made */
void
commit_req_release(commit_req *req)
{
	json_decref(req->record);
	req->record = NULL;
	free(req->record_line);
	req->record_line = NULL;
}

/* open_sealed - decrypt the payload of a sealed line into *payload */
static int
open_sealed(archive *ar, json_t *line, const char *id, char **payload,
	    mk_error *err)
{
	const char *name = json_string_value(json_object_get(line, "key"));
	unsigned char key[KEYS_AES], *nonce = NULL, *data = NULL;
	size_t nlen = 0, dlen = 0;
	int rc = -1;

	*payload = NULL;
	if (strchr(name, '/') != NULL || strncmp(name, "record-", 7) != 0)
		return mk_error_set(err, "record of %s: bad key name", id);
	if (keyring_record_key(&ar->keys, name, false, key, err) != 0)
		return mk_error_set(err, "record of %s: key %s is gone"
				    " (destroyed or missing)", id, name);
	nonce = base64_decode(json_string_value(json_object_get(line, "nonce")), &nlen);
	data = base64_decode(json_string_value(json_object_get(line, "data")), &dlen);
	if (nonce == NULL || data == NULL || nlen != KEYS_NONCE
	    || dlen < KEYS_TAG || (*payload = malloc(dlen - KEYS_TAG + 1)) == NULL)
		mk_error_set(err, "record of %s: bad nonce or data", id);
	else if (aead_open(key, nonce, id, strlen(id), data, dlen - KEYS_TAG,
			   (unsigned char *)*payload, data + dlen - KEYS_TAG) != 0)
		mk_error_set(err, "record of %s: authentication failed"
			     " (AES-256-GCM): altered, or not this key", id);
	else {
		(*payload)[dlen - KEYS_TAG] = '\0';
		rc = 0;
	}
	OPENSSL_cleanse(key, sizeof(key));
	free(nonce);
	free(data);
	if (rc != 0) {
		free(*payload);
		*payload = NULL;
	}
	return rc;
}

/* parse_payload - the record text, signer and signature of a payload */
static int
parse_payload(const char *payload, record_opened *ro, mk_error *err)
{
	json_t *obj = json_loads(payload, 0, NULL);
	const char *text = json_string_value(json_object_get(obj, "record"));
	json_int_t signer = json_integer_value(json_object_get(obj, "signer"));
	unsigned char *sig = NULL;
	size_t len = 0;
	int rc = -1;

	if (text == NULL || signer < 1 || (sig = base64_decode(json_string_value(
		json_object_get(obj, "sig")), &len)) == NULL || len != KEYS_SIG)
		mk_error_set(err, "record of %s: bad signed payload", ro->id);
	else if ((ro->text = strdup(text)) == NULL)
		mk_error_set(err, "out of memory");
	else {
		ro->signer = (unsigned)signer;
		memcpy(ro->sig, sig, KEYS_SIG);
		ro->is_signed = true;
		rc = 0;
	}
	free(sig);
	json_decref(obj);
	return rc;
}

/* record_open - the signed text of one line of records/ (record.h) */
int
record_open(archive *ar, const char *text, record_opened *ro, mk_error *err)
{
	json_t *line = json_loads(text, 0, NULL), *plain;
	const char *id = json_string_value(json_object_get(line, "id"));
	json_int_t v = json_integer_value(json_object_get(line, "v"));
	char *payload = NULL;
	int rc = -1;

	memset(ro, 0, sizeof(*ro));
	if (id == NULL || strlen(id) != ARCHIVE_ID_LEN
	    || (v != ARCHIVE_FORMAT && v != ARCHIVE_FORMAT_BLOBS)) {
		json_decref(line);
		return mk_error_set(err, "not a record line");
	}
	memcpy(ro->id, id, ARCHIVE_ID_LEN + 1);
	if (json_is_null(json_object_get(line, "key"))) {
		plain = json_object_get(line, "record");
		ro->text = json_dumps(plain, JSON_COMPACT | JSON_ENSURE_ASCII
				      | JSON_PRESERVE_ORDER);
		rc = ro->text != NULL ? 0 : mk_error_set(err, "record of %s:"
							   " bad record", id);
	} else if (json_is_string(json_object_get(line, "key"))
		   && open_sealed(ar, line, ro->id, &payload, err) == 0) {
		rc = parse_payload(payload, ro, err);
	}
	free(payload);
	json_decref(line);
	return rc;
}

/* record_opened_free - free what record_open() filled in */
void
record_opened_free(record_opened *ro)
{
	free(ro->text);
	ro->text = NULL;
}

/* scan_segment - fn for each line of one records/ file */
static int
scan_segment(const char *path, const char *name, record_line_fn fn,
	     void *ctx, mk_error *err)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int stop = 0;

	if (fp == NULL)
		return mk_error_errno(err, "open %s", path);
	while (!stop && (n = getline(&line, &cap, fp)) > 0) {
		if (line[n - 1] != '\n')
			break;		/* a torn last line: never committed */
		line[n - 1] = '\0';
		stop = fn(name, line, ctx);
	}
	free(line);
	fclose(fp);
	return stop < 0 ? -1 : 0;
}

/* record_scan - every line of records/, segments in name (day) order */
int
record_scan(archive *ar, record_line_fn fn, void *ctx, mk_error *err)
{
	char *dir = path_join(ar->dir, "records"), *path;
	struct dirent **names = NULL;
	int i, n, rc = 0;

	if (dir == NULL)
		return mk_error_set(err, "out of memory");
	if ((n = scandir(dir, &names, NULL, alphasort)) < 0)
		rc = mk_error_errno(err, "read %s", dir);
	for (i = 0; i < n; i++) {
		if (rc == 0 && strstr(names[i]->d_name, ".log") != NULL
		    && names[i]->d_name[0] != '.') {
			if ((path = path_join(dir, names[i]->d_name)) == NULL)
				rc = mk_error_set(err, "out of memory");
			else
				rc = scan_segment(path, names[i]->d_name, fn,
						  ctx, err);
			free(path);
		}
		free(names[i]);
	}
	free(names);
	free(dir);
	return rc;
}

/* record_day - the UTC date of t (microseconds) as YYYY-MM-DD */
static void
record_day(int64_t t, char day[11])
{
	time_t secs = (time_t)(t / 1000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(day, 11, "%Y-%m-%d", &tm);
}

/* segment_path - the path of records/DAY.log, allocated */
static char *
segment_path(archive *ar, const char *day)
{
	char rel[32];

	snprintf(rel, sizeof(rel), "records/%s.log", day);
	return path_join(ar->dir, rel);
}

/* close_segment - forget the open segment (the next append reopens it
 * and cuts what a failed write left) */
static void
close_segment(archive *ar)
{
	if (ar->records_fd >= 0)
		close(ar->records_fd);
	ar->records_fd = -1;
	ar->records_day[0] = '\0';
}

/* open_segment - make ar->records_fd the segment of day, a torn last
 * line (a write that never finished: never committed) cut off */
static int
open_segment(archive *ar, const char *day, mk_error *err)
{
	char *path;
	off_t end;
	int rc = 0;

	if (ar->records_fd >= 0 && strcmp(ar->records_day, day) == 0)
		return 0;
	close_segment(ar);
	if ((path = segment_path(ar, day)) == NULL)
		return mk_error_set(err, "out of memory");
	ar->records_fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
			      0600);
	if (ar->records_fd < 0)
		rc = mk_error_errno(err, "open %s", path);
	else if ((rc = fd_cut_torn_line(ar->records_fd, path, &end, err)) != 0)
		close_segment(ar);
	else
		snprintf(ar->records_day, sizeof(ar->records_day), "%s", day);
	free(path);
	return rc;
}

/* mark_segment - where this batch begins in the open segment, once */
static int
mark_segment(archive *ar, record_marks *marks, mk_error *err)
{
	struct stat st;
	size_t i;

	for (i = 0; i < marks->n; i++)
		if (strcmp(marks->at[i].day, ar->records_day) == 0)
			return 0;
	if (fstat(ar->records_fd, &st) != 0)
		return mk_error_errno(err, "stat records/%s.log", ar->records_day);
	if (marks->n == ARCHIVE_BATCH_MAX)	/* one segment a request */
		return mk_error_set(err, "internal error: too many segments");
	snprintf(marks->at[marks->n].day, sizeof(marks->at[0].day), "%s",
		 ar->records_day);
	marks->at[marks->n++].size = st.st_size;
	return 0;
}

/* append_one - append the record of req to its day's segment */
static int
append_one(archive *ar, const commit_req *req, record_marks *marks,
	   bool *new_segment, mk_error *err)
{
	char day[11];

	record_day(req->received_at, day);
	if (ar->records_fd >= 0 && strcmp(ar->records_day, day) != 0) {
		if (fdatasync(ar->records_fd) != 0)
			return mk_error_errno(err, "fsync records of %s",
					      ar->records_day);
	}
	if (ar->records_fd < 0 || strcmp(ar->records_day, day) != 0)
		*new_segment = true;
	if (open_segment(ar, day, err) != 0 || mark_segment(ar, marks, err) != 0)
		return -1;
	if (write_all(ar->records_fd, req->record_line,
		      strlen(req->record_line)) != 0)
		return mk_error_errno(err, "append to records/%s.log", day);
	return 0;
}

/* append_and_sync - append and fsync the records of a batch */
static int
append_and_sync(archive *ar, commit_req *batch, record_marks *marks,
		mk_error *err)
{
	bool new_segment = false;
	commit_req *r;
	char *dir;
	int rc;

	for (r = batch; r != NULL; r = r->next)
		if (append_one(ar, r, marks, &new_segment, err) != 0)
			return -1;
	if (fdatasync(ar->records_fd) != 0)
		return mk_error_errno(err, "fsync records/%s.log",
				      ar->records_day);
	if (!new_segment)
		return 0;
	if ((dir = path_join(ar->dir, "records")) == NULL)
		return mk_error_set(err, "out of memory");
	rc = fsync_path(dir, err);	/* make the new segment's name durable */
	free(dir);
	return rc;
}

/* record_append_batch - append and fsync the records of a batch; on
 * failure they are cut back out (internal.h) */
int
record_append_batch(archive *ar, commit_req *batch, record_marks *marks,
		    mk_error *err)
{
	mk_error undo_err;
	size_t used;

	marks->n = 0;
	if (append_and_sync(ar, batch, marks, err) == 0)
		return 0;
	if (record_undo_batch(ar, marks, &undo_err) != 0) {	/* harmless: */
		used = strlen(err->msg);	/* see internal.h */
		snprintf(err->msg + used, sizeof(err->msg) - used, "; then %s",
			 undo_err.msg);
	}
	return -1;
}

/* record_undo_batch - cut each segment the batch appended to back to
 * where the batch began (internal.h) */
int
record_undo_batch(archive *ar, const record_marks *marks, mk_error *err)
{
	char *path;
	size_t i;
	int fd, rc = 0;

	close_segment(ar);
	for (i = 0; rc == 0 && i < marks->n; i++) {
		if ((path = segment_path(ar, marks->at[i].day)) == NULL)
			return mk_error_set(err, "out of memory");
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, marks->at[i].size) != 0)
			rc = mk_error_errno(err, "cut the failed commit off %s",
					    path);
		else
			(void)fdatasync(fd);	/* lines a crash brings back
						   are as harmless */
		if (fd >= 0)
			close(fd);
		free(path);
	}
	return rc;
}

/* by_line_id - qsort/bsearch order of record_line_at: id, then offset */
static int
by_line_id(const void *a, const void *b)
{
	const record_line_at *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : (x->at > y->at) - (x->at < y->at);
}

/* line_id - the id a records/ line names first (its own), or false */
static bool
line_id(const char *line, char id[ARCHIVE_ID_LEN + 1])
{
	const char *p = strstr(line, "\"id\":\"");

	if (p == NULL || strlen(p += 6) < ARCHIVE_ID_LEN + 1
	    || p[ARCHIVE_ID_LEN] != '"')
		return false;
	memcpy(id, p, ARCHIVE_ID_LEN);
	id[ARCHIVE_ID_LEN] = '\0';
	return true;
}

/* day_add - one line's id and offset into d */
static int
day_add(record_day_map *d, const char *id, off_t at)
{
	record_line_at *grown;

	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 256;
		if ((grown = realloc(d->lines, d->cap * sizeof(*grown))) == NULL)
			return -1;
		d->lines = grown;
	}
	snprintf(d->lines[d->n].id, sizeof(d->lines[d->n].id), "%s", id);
	d->lines[d->n++].at = at;
	return 0;
}

/* day_index - the offset of every whole line of d->fp, by id */
static int
day_index(record_day_map *d, mk_error *err)
{
	char *line = NULL, id[ARCHIVE_ID_LEN + 1];
	size_t cap = 0;
	off_t at = 0;
	ssize_t n;
	int rc = 0;

	while (rc == 0 && (n = getline(&line, &cap, d->fp)) > 0
	       && line[n - 1] == '\n') {	/* a torn last line: never committed */
		if (line_id(line, id))
			rc = day_add(d, id, at);
		at += n;
	}
	free(line);
	if (rc != 0)
		return mk_error_set(err, "out of memory");
	if (ferror(d->fp))
		return mk_error_errno(err, "read %s", d->rel);
	qsort(d->lines, d->n, sizeof(*d->lines), by_line_id);
	return 0;
}

/* record_day_load - the segment of received_at's day into d, indexed */
int
record_day_load(archive *ar, int64_t received_at, record_day_map *d,
		mk_error *err)
{
	char day[11], *path;

	record_day_free(d);
	record_day(received_at, day);
	snprintf(d->rel, sizeof(d->rel), "records/%s.log", day);
	if ((path = path_join(ar->dir, d->rel)) == NULL)
		return mk_error_set(err, "out of memory");
	d->fp = fopen(path, "re");
	free(path);
	if (d->fp == NULL)
		return mk_error_errno(err, "open %s", d->rel);
	if (day_index(d, err) != 0) {
		record_day_free(d);
		return -1;
	}
	return 0;
}

/* record_day_holds - is d the loaded segment of received_at's day? */
bool
record_day_holds(const record_day_map *d, int64_t received_at)
{
	char day[11], rel[32];

	record_day(received_at, day);
	snprintf(rel, sizeof(rel), "records/%s.log", day);
	return d->fp != NULL && strcmp(d->rel, rel) == 0;
}

/* first_line_of - the first line of id in d (lines sorted by id, then
 * offset), or NULL */
static const record_line_at *
first_line_of(const record_day_map *d, const char *id)
{
	size_t lo = 0, hi = d->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(d->lines[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->n && strcmp(d->lines[lo].id, id) == 0 ? &d->lines[lo]
	    : NULL;
}

/* record_day_open - the first record of id in the loaded segment */
int
record_day_open(archive *ar, record_day_map *d, const char *id,
		record_opened *out, mk_error *err)
{
	const record_line_at *hit = first_line_of(d, id);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc;

	if (hit == NULL)
		return mk_error_set(err, "no record of %s in %s", id, d->rel);
	if (fseeko(d->fp, hit->at, SEEK_SET) != 0
	    || (n = getline(&line, &cap, d->fp)) <= 0 || line[n - 1] != '\n') {
		free(line);
		return mk_error_errno(err, "read %s", d->rel);
	}
	line[n - 1] = '\0';
	rc = record_open(ar, line, out, err);
	free(line);
	return rc;
}

/* record_day_open_hash - the record of id in d whose text hashes to
 * want: each line of id in turn (an earlier record sealed under a key
 * that is gone does not open, and is passed over) */
int
record_day_open_hash(archive *ar, record_day_map *d, const char *id,
		     const char *want, record_opened *out, mk_error *err)
{
	const record_line_at *hit = first_line_of(d, id), *end = d->lines + d->n;
	char *line = NULL, hex[ARCHIVE_SHA256_HEX + 1];
	size_t cap = 0;
	ssize_t n;
	mk_error why;

	for (; hit != NULL && hit < end && strcmp(hit->id, id) == 0; hit++) {
		if (fseeko(d->fp, hit->at, SEEK_SET) != 0
		    || (n = getline(&line, &cap, d->fp)) <= 0
		    || line[n - 1] != '\n')
			break;
		line[n - 1] = '\0';
		if (record_open(ar, line, out, &why) != 0)
			continue;
		sha256_hex(out->text, strlen(out->text), hex);
		if (strcmp(hex, want) == 0) {
			free(line);
			return 0;
		}
		record_opened_free(out);
	}
	free(line);
	return mk_error_set(err, "no record of %s with SHA-256 %s that opens"
			    " in %s", id, want, d->rel);
}

/* record_find_hash - the record of id whose hash is want, in the
 * segment of the day received_at */
int
record_find_hash(archive *ar, const char *id, int64_t received_at,
		 const char *want, record_opened *out, mk_error *err)
{
	record_day_map d = { .fp = NULL };
	int rc;

	rc = record_day_load(ar, received_at, &d, err) == 0
	    ? record_day_open_hash(ar, &d, id, want, out, err) : -1;
	record_day_free(&d);
	return rc;
}

/* record_append_line - one line appended to the segment of received_at's
 * day, fdatasynced (internal.h).  Expiry's: the segment of a day that is
 * over, which no writer appends to any more */
int
record_append_line(archive *ar, int64_t received_at, const char *line,
		   mk_error *err)
{
	char day[11], *path;
	off_t end;
	int fd, rc;

	record_day(received_at, day);
	if ((path = segment_path(ar, day)) == NULL)
		return mk_error_set(err, "out of memory");
	if ((fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC)) < 0)
		rc = mk_error_errno(err, "open %s", path);
	else if ((rc = fd_cut_torn_line(fd, path, &end, err)) == 0
		 && (write_all(fd, line, strlen(line)) != 0
		     || fdatasync(fd) != 0))
		rc = mk_error_errno(err, "append to %s", path);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* record_day_free - close and free d; it may be zeroed or loaded */
void
record_day_free(record_day_map *d)
{
	if (d->fp != NULL)
		fclose(d->fp);
	free(d->lines);
	memset(d, 0, sizeof(*d));
}

/* record_find - open the record of message id, received at received_at
 * (microseconds: it is in that day's segment); -1 with err when it is
 * not there or does not open */
int
record_find(archive *ar, const char *id, int64_t received_at,
	    record_opened *out, mk_error *err)
{
	record_day_map d = { .fp = NULL };
	int rc;

	rc = record_day_load(ar, received_at, &d, err) == 0
	    ? record_day_open(ar, &d, id, out, err) : -1;
	record_day_free(&d);
	return rc;
}
