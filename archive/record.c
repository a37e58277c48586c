/*
 * record.c - per-message records: records/<YYYY-MM-DD>.log.
 *
 * Content blobs are shared by identical copies, so what belongs to one
 * message alone - its envelope, the time it arrived, the header fields
 * the index shows - is kept in a record of its own: one JSON line, in the
 * segment of the day (UTC) the message was received, appended in group
 * commits.  With the blobs and the ledger, the records are what the
 * SQLite index is rebuilt from.
 */
#include "config.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

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

/* policy_json - the policy decision of a message as a JSON object */
static json_t *
policy_json(const archive_policy *pol)
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

/* record_policy_text - the decision as compact JSON text; caller frees */
char *
record_policy_text(const archive_policy *pol)
{
	json_t *obj = policy_json(pol);
	char *text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII
				| JSON_PRESERVE_ORDER);

	json_decref(obj);
	return text;
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

	bad |= json_object_set_new(obj, "v", json_integer(1));
	bad |= json_object_set_new(obj, "id", json_string(req->id));
	bad |= json_object_set_new(obj, "received_at",
				   json_integer(req->received_at));
	bad |= json_object_set_new(obj, "sha256", req->sha256[0]
				   ? json_string(req->sha256) : json_null());
	bad |= json_object_set_new(obj, "size", json_integer(req->size));
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
	bad |= json_object_set_new(obj, "policy", policy_json(&e->policy));
	json_decref(rcpts);
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* record_encode - the record line of one message, newline-terminated */
char *
record_encode(const commit_req *req)
{
	json_t *obj = record_json(req);
	char *text, *line;
	size_t n;

	if (obj == NULL)
		return NULL;
	text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	if ((line = realloc(text, n + 2)) == NULL) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
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

/* open_segment - make ar->records_fd the segment of day */
static int
open_segment(archive *ar, const char *day, mk_error *err)
{
	char rel[32];
	char *path;

	if (ar->records_fd >= 0 && strcmp(ar->records_day, day) == 0)
		return 0;
	if (ar->records_fd >= 0)
		close(ar->records_fd);
	ar->records_fd = -1;
	snprintf(rel, sizeof(rel), "records/%s.log", day);
	if ((path = path_join(ar->dir, rel)) == NULL)
		return mk_error_set(err, "out of memory");
	ar->records_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			      0600);
	if (ar->records_fd < 0)
		mk_error_errno(err, "open %s", path);
	else
		snprintf(ar->records_day, sizeof(ar->records_day), "%s", day);
	free(path);
	return ar->records_fd < 0 ? -1 : 0;
}

/* append_one - append the record of req to its day's segment */
static int
append_one(archive *ar, const commit_req *req, bool *new_segment,
	   mk_error *err)
{
	char day[11];
	char *line;
	int rc = 0;

	record_day(req->received_at, day);
	if (ar->records_fd >= 0 && strcmp(ar->records_day, day) != 0) {
		if (fdatasync(ar->records_fd) != 0)
			return mk_error_errno(err, "fsync records of %s",
					      ar->records_day);
	}
	if (ar->records_fd < 0 || strcmp(ar->records_day, day) != 0)
		*new_segment = true;
	if (open_segment(ar, day, err) != 0)
		return -1;
	if ((line = record_encode(req)) == NULL)
		return mk_error_set(err, "cannot encode the record of %s",
				    req->id);
	if (write_all(ar->records_fd, line, strlen(line)) != 0)
		rc = mk_error_errno(err, "append to records/%s.log", day);
	free(line);
	return rc;
}

/* record_append_batch - append and fsync the records of a batch */
int
record_append_batch(archive *ar, commit_req *batch, mk_error *err)
{
	bool new_segment = false;
	commit_req *r;
	char *dir;
	int rc;

	for (r = batch; r != NULL; r = r->next)
		if (append_one(ar, r, &new_segment, err) != 0)
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
