/*
 * request.c - the access service's requests: parsed, checked, written.
 *
 * NAME
 *	request - one line of JSON into a typed access_request, and back
 *
 * DESCRIPTION
 *	A request is one JSON object: "op" names the operation, the other
 *	members are its arguments.  The parser is strict, because the other
 *	end may be anybody on the machine: a member the operation does not
 *	take, a value of the wrong type, an id that is not ARCHIVE_ID_LEN hex
 *	digits, a string over its bound or holding a control character, a
 *	negative number - each is refused with one line saying which, and
 *	nothing is done.  This file is what tests/fuzz/fuzz_request.c feeds.
 *
 *	Members, by operation (times are microseconds since the epoch):
 *
 *	  whoami, requests,      none
 *	  status
 *	  search, export         from, to, message_id (strings), since,
 *	                         until, limit (integers), q (a query in
 *	                         the language of discovery/query.c), newest
 *	                         (true: newest first), offset (matches to
 *	                         pass over), count (true: the number only)
 *	  show, get, proof       id
 *	  verify                 keys (PEM text of pinned public keys)
 *	  audit                  user, action, message, since, until, limit
 *	  request                asks ("get" or "show"), id, reason
 *	  approve, deny          request (the request's number)
 *	  hold                   name, reason (both required), and the terms
 *	                         of a search: from, to, message_id, since,
 *	                         until, q
 *	  holds                  name (one hold; none: every hold)
 *	  release                name, reason (both required)
 *	  expire                 dry_run (true: count, change nothing)
 *	  policy_apply           reason (required), the terms of a search
 *	                         (from, to, message_id, since, until, q;
 *	                         none: every message), dry_run
 *	  import                 kind ("mbox", "maildir", "eml"), sources
 *	                         (the paths, an array of strings: for the
 *	                         audit trail), received_at (optional); the
 *	                         messages follow as frames (access.h)
 *
 * DIAGNOSTICS
 *	access_request_parse() returns -1 with the problem in err.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "access/access.h"

#define MAX_TEXT	4096	/* bytes of an address, Message-ID, name */
#define MAX_KEYS	32768	/* bytes of pinned public keys */

/* The operations and their words. */
static const struct {
	access_op op;
	const char *name;
	const char *members;	/* what it takes, space-separated */
} ops[] = {
	{ACCESS_OP_WHOAMI, "whoami", ""},
	{ACCESS_OP_SEARCH, "search",
	 " from to message_id since until limit q newest offset count "},
	{ACCESS_OP_SHOW, "show", " id "},
	{ACCESS_OP_GET, "get", " id "},
	{ACCESS_OP_PROOF, "proof", " id "},
	{ACCESS_OP_VERIFY, "verify", " keys "},
	{ACCESS_OP_AUDIT, "audit", " user action message since until limit "},
	{ACCESS_OP_REQUEST, "request", " asks id reason "},
	{ACCESS_OP_REQUESTS, "requests", ""},
	{ACCESS_OP_APPROVE, "approve", " request "},
	{ACCESS_OP_DENY, "deny", " request "},
	{ACCESS_OP_STATUS, "status", ""},
	{ACCESS_OP_EXPORT, "export",
	 " from to message_id since until limit q newest "},
	{ACCESS_OP_HOLD, "hold",
	 " name reason from to message_id since until q "},
	{ACCESS_OP_HOLDS, "holds", " name "},
	{ACCESS_OP_RELEASE, "release", " name reason "},
	{ACCESS_OP_EXPIRE, "expire", " dry_run "},
	{ACCESS_OP_IMPORT, "import", " kind sources received_at "},
	{ACCESS_OP_POLICY_APPLY, "policy_apply",
	 " reason from to message_id since until q dry_run "},
};
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

/* access_op_name - the word of an operation */
const char *
access_op_name(access_op op)
{
	size_t i;

	for (i = 0; i < N_OPS; i++)
		if (ops[i].op == op)
			return ops[i].name;
	return "";
}

/* find_op - the table entry of a word, or NULL */
static int
find_op(const char *name)
{
	size_t i;

	for (i = 0; i < N_OPS; i++)
		if (strcmp(ops[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* takes_member - does operation entry k take member name? */
static bool
takes_member(int k, const char *name)
{
	char word[40];

	if (*name == '\0' || strlen(name) > sizeof(word) - 3
	    || strchr(name, ' ') != NULL)
		return false;
	snprintf(word, sizeof(word), " %s ", name);
	return strstr(ops[k].members, word) != NULL;
}

/* get_text - member name as a bounded string without control bytes:
 * a malloc'ed copy in *out (NULL when absent); 0 or -1 with err */
static int
get_text(json_t *obj, const char *name, size_t max, bool multiline,
	 char **out, mk_error *err)
{
	json_t *v = json_object_get(obj, name);
	const unsigned char *p;
	size_t len;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return mk_error_set(err, "%s must be a string", name);
	len = json_string_length(v);
	if (len == 0 || len > max)
		return mk_error_set(err, "%s must be 1 to %zu bytes", name, max);
	p = (const unsigned char *)json_string_value(v);
	if (memchr(p, '\0', len) != NULL)
		return mk_error_set(err, "%s holds a NUL byte", name);
	for (; *p; p++)
		if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\r')))
		    || *p == 0x7f)
			return mk_error_set(err, "%s holds a control character",
					    name);
	if ((*out = strdup(json_string_value(v))) == NULL)
		return mk_error_set(err, "out of memory");
	return 0;
}

/* get_count - member name as an integer in [min, max]; 0 when absent */
static int
get_count(json_t *obj, const char *name, json_int_t min, json_int_t max,
	  int64_t *out, mk_error *err)
{
	json_t *v = json_object_get(obj, name);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min
	    || json_integer_value(v) > max)
		return mk_error_set(err, "%s must be an integer from %lld to %lld",
				    name, (long long)min, (long long)max);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* get_id - member name as a message id (lower-cased) into id; "" when
 * absent; required: absent is an error */
static int
get_id(json_t *obj, const char *name, bool required,
       char id[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);
	size_t i;

	id[0] = '\0';
	if (v == NULL && !required)
		return 0;
	if (s == NULL || json_string_length(v) != ARCHIVE_ID_LEN)
		return mk_error_set(err, "%s must be a message id (%d hex"
				    " digits)", name, ARCHIVE_ID_LEN);
	for (i = 0; i < ARCHIVE_ID_LEN; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return mk_error_set(err, "%s must be a message id (%d"
					    " hex digits)", name, ARCHIVE_ID_LEN);
		id[i] = (char)tolower((unsigned char)s[i]);
	}
	id[ARCHIVE_ID_LEN] = '\0';
	return 0;
}

/* check_members - every member of obj is "op" or one op k takes */
static int
check_members(json_t *obj, int k, mk_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		(void)v;
		if (strcmp(key, "op") != 0 && !takes_member(k, key))
			return mk_error_set(err, "'%s' takes no member \"%.40s\"",
					    ops[k].name, key);
	}
	return 0;
}

/* parse_terms - from, to, message_id (search, export, hold, policy
 * apply) */
static int
parse_terms(json_t *obj, access_request *rq, mk_error *err)
{
	char *from, *to, *mid;

	if (get_text(obj, "from", MAX_TEXT, false, &from, err) != 0)
		return -1;
	rq->query.from = from;
	if (get_text(obj, "to", MAX_TEXT, false, &to, err) != 0)
		return -1;
	rq->query.to = to;
	if (get_text(obj, "message_id", MAX_TEXT, false, &mid, err) != 0)
		return -1;
	rq->query.message_id = mid;
	return 0;
}

/* parse_search - from, to, message_id, since, until, limit */
static int
parse_search(json_t *obj, access_request *rq, mk_error *err)
{
	int64_t limit, offset;

	if (parse_terms(obj, rq, err) != 0)
		return -1;
	if (get_count(obj, "limit", 0, ACCESS_MAX_RESULTS, &limit, err) != 0)
		return -1;
	rq->limit = rq->query.limit = (size_t)limit;
	if (get_text(obj, "q", DISCOVERY_MAX_QUERY, false, &rq->q, err) != 0)
		return -1;
	if (json_object_get(obj, "newest") != NULL
	    && !json_is_boolean(json_object_get(obj, "newest")))
		return mk_error_set(err, "newest must be true or false");
	rq->newest = json_is_true(json_object_get(obj, "newest"));
	rq->query.newest = rq->newest;
	if (json_object_get(obj, "count") != NULL
	    && !json_is_boolean(json_object_get(obj, "count")))
		return mk_error_set(err, "count must be true or false");
	rq->count = json_is_true(json_object_get(obj, "count"));
	if (get_count(obj, "offset", 0, INT32_MAX, &offset, err) != 0)
		return -1;
	rq->offset = (size_t)offset;
	return 0;
}

/* parse_times - since, until (both searches and audit listings) */
static int
parse_times(json_t *obj, access_request *rq, mk_error *err)
{
	if (get_count(obj, "since", INT64_MIN / 2, INT64_MAX / 2, &rq->since,
		      err) != 0
	    || get_count(obj, "until", INT64_MIN / 2, INT64_MAX / 2,
			 &rq->until, err) != 0)
		return -1;
	rq->query.since = rq->since;
	rq->query.until = rq->until;
	return 0;
}

/* parse_audit - user, action, message, limit */
static int
parse_audit(json_t *obj, access_request *rq, mk_error *err)
{
	int64_t limit;

	if (get_text(obj, "user", ACCESS_MAX_USER, false, &rq->user, err) != 0
	    || get_text(obj, "action", 32, false, &rq->action, err) != 0
	    || get_id(obj, "message", false, rq->message, err) != 0
	    || get_count(obj, "limit", 0, INT32_MAX, &limit, err) != 0)
		return -1;
	rq->limit = (size_t)limit;
	return 0;
}

/* parse_four_eyes_request - asks, id, reason (all required) */
static int
parse_four_eyes_request(json_t *obj, access_request *rq, mk_error *err)
{
	const char *asks = json_string_value(json_object_get(obj, "asks"));

	if (asks != NULL && strcmp(asks, "get") == 0)
		rq->asks = ACCESS_OP_GET;
	else if (asks != NULL && strcmp(asks, "show") == 0)
		rq->asks = ACCESS_OP_SHOW;
	else
		return mk_error_set(err, "asks must be \"get\" or \"show\"");
	if (get_id(obj, "id", true, rq->id, err) != 0
	    || get_text(obj, "reason", ACCESS_MAX_REASON, true, &rq->reason,
			err) != 0)
		return -1;
	if (rq->reason == NULL)
		return mk_error_set(err, "a request needs a reason");
	return 0;
}

/* get_hold_name - member name as a hold's name (required or not) */
static int
get_hold_name(json_t *obj, bool required, access_request *rq, mk_error *err)
{
	const char *p;

	if (get_text(obj, "name", ACCESS_MAX_HOLD_NAME, false, &rq->name,
		     err) != 0)
		return -1;
	if (rq->name == NULL)
		return required ? mk_error_set(err, "a hold needs a name") : 0;
	for (p = rq->name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return mk_error_set(err, "a hold's name is letters,"
					    " digits, '.', '_' and '-'");
	return 0;
}

/* parse_hold - hold: name, reason, the search's terms; release: name,
 * reason; holds: name */
static int
parse_hold(json_t *obj, access_op op, access_request *rq, mk_error *err)
{
	if (get_hold_name(obj, op != ACCESS_OP_HOLDS, rq, err) != 0)
		return -1;
	if (op == ACCESS_OP_HOLDS)
		return 0;
	if (get_text(obj, "reason", ACCESS_MAX_REASON, true, &rq->reason,
		     err) != 0)
		return -1;
	if (rq->reason == NULL)
		return mk_error_set(err, "a hold's %s needs a reason",
				    op == ACCESS_OP_HOLD ? "creation" : "release");
	if (op == ACCESS_OP_RELEASE)
		return 0;
	if (parse_terms(obj, rq, err) != 0)
		return -1;
	if (get_text(obj, "q", DISCOVERY_MAX_QUERY, false, &rq->q, err) != 0)
		return -1;
	return parse_times(obj, rq, err);
}

/* parse_sources - import's sources: a non-empty array of paths */
static int
parse_sources(json_t *obj, access_request *rq, mk_error *err)
{
	json_t *list = json_object_get(obj, "sources"), *wrap, *v;
	size_t i, n = json_array_size(list);
	int rc = 0;

	if (!json_is_array(list) || n == 0 || n > ACCESS_MAX_SOURCES)
		return mk_error_set(err, "sources must be 1 to %d paths",
				    ACCESS_MAX_SOURCES);
	if ((rq->sources = calloc(n, sizeof(*rq->sources))) == NULL)
		return mk_error_set(err, "out of memory");
	for (i = 0; rc == 0 && i < n; i++) {
		v = json_array_get(list, i);
		wrap = json_pack("{s:O}", "source", v);
		rc = get_text(wrap, "source", MAX_TEXT, false,
			      &rq->sources[i], err);
		json_decref(wrap);
		if (rc == 0 && rq->sources[i] == NULL)
			rc = mk_error_set(err, "sources must be strings");
		rq->n_sources += rc == 0;
	}
	return rc;
}

/* parse_import - kind, sources, received_at */
static int
parse_import(json_t *obj, access_request *rq, mk_error *err)
{
	if (get_text(obj, "kind", 16, false, &rq->kind, err) != 0)
		return -1;
	if (rq->kind == NULL || (strcmp(rq->kind, "mbox") != 0
				 && strcmp(rq->kind, "maildir") != 0
				 && strcmp(rq->kind, "eml") != 0))
		return mk_error_set(err, "kind must be \"mbox\", \"maildir\" or"
				    " \"eml\"");
	if (parse_sources(obj, rq, err) != 0)
		return -1;
	return get_count(obj, "received_at", 1, INT64_MAX / 2, &rq->received_at,
			 err);
}

/* parse_dry_run - dry_run: true or false (absent: false) */
static int
parse_dry_run(json_t *obj, access_request *rq, mk_error *err)
{
	if (json_object_get(obj, "dry_run") != NULL
	    && !json_is_boolean(json_object_get(obj, "dry_run")))
		return mk_error_set(err, "dry_run must be true or false");
	rq->dry_run = json_is_true(json_object_get(obj, "dry_run"));
	return 0;
}

/* parse_apply - policy_apply: reason, the search's terms, dry_run */
static int
parse_apply(json_t *obj, access_request *rq, mk_error *err)
{
	if (get_text(obj, "reason", ACCESS_MAX_REASON, true, &rq->reason,
		     err) != 0)
		return -1;
	if (rq->reason == NULL)
		return mk_error_set(err, "policy apply needs a reason");
	if (parse_terms(obj, rq, err) != 0)
		return -1;
	if (get_text(obj, "q", DISCOVERY_MAX_QUERY, false, &rq->q, err) != 0)
		return -1;
	return parse_times(obj, rq, err) != 0 ? -1
	    : parse_dry_run(obj, rq, err);
}

/* parse_members - the members of operation k into rq */
static int
parse_members(json_t *obj, int k, access_request *rq, mk_error *err)
{
	switch (ops[k].op) {
	case ACCESS_OP_SEARCH:
	case ACCESS_OP_EXPORT:
		return parse_search(obj, rq, err) != 0 ? -1
		    : parse_times(obj, rq, err);
	case ACCESS_OP_SHOW:
	case ACCESS_OP_GET:
	case ACCESS_OP_PROOF:
		return get_id(obj, "id", true, rq->id, err);
	case ACCESS_OP_VERIFY:
		return get_text(obj, "keys", MAX_KEYS, true, &rq->keys_pem, err);
	case ACCESS_OP_AUDIT:
		return parse_audit(obj, rq, err) != 0 ? -1
		    : parse_times(obj, rq, err);
	case ACCESS_OP_REQUEST:
		return parse_four_eyes_request(obj, rq, err);
	case ACCESS_OP_HOLD:
	case ACCESS_OP_HOLDS:
	case ACCESS_OP_RELEASE:
		return parse_hold(obj, ops[k].op, rq, err);
	case ACCESS_OP_IMPORT:
		return parse_import(obj, rq, err);
	case ACCESS_OP_POLICY_APPLY:
		return parse_apply(obj, rq, err);
	case ACCESS_OP_EXPIRE:
		if (json_object_get(obj, "dry_run") != NULL
		    && !json_is_boolean(json_object_get(obj, "dry_run")))
			return mk_error_set(err, "dry_run must be true or false");
		rq->dry_run = json_is_true(json_object_get(obj, "dry_run"));
		return 0;
	case ACCESS_OP_APPROVE:
	case ACCESS_OP_DENY:
		if (get_count(obj, "request", 1, INT64_MAX / 2, &rq->number,
			      err) != 0)
			return -1;
		return rq->number > 0 ? 0
		    : mk_error_set(err, "'%s' needs a request number",
				   ops[k].name);
	default:
		return 0;
	}
}

/* access_request_parse - one request line into out */
int
access_request_parse(const char *line, size_t len, access_request *out,
		     mk_error *err)
{
	json_t *obj;
	const char *op;
	int k, rc;

	memset(out, 0, sizeof(*out));
	if (len > ACCESS_MAX_REQUEST)
		return mk_error_set(err, "request longer than %d bytes",
				    ACCESS_MAX_REQUEST);
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return mk_error_set(err, "a request is one JSON object");
	}
	op = json_string_value(json_object_get(obj, "op"));
	if (op == NULL || (k = find_op(op)) < 0)
		rc = mk_error_set(err, "unknown operation (\"op\")");
	else if ((rc = check_members(obj, k, err)) == 0) {
		out->op = ops[k].op;
		rc = parse_members(obj, k, out, err);
	}
	json_decref(obj);
	if (rc != 0)
		access_request_free(out);
	return rc;
}

/* put_text / put_count - a member of the request object, when set */
static void
put_text(json_t *obj, const char *name, const char *value)
{
	if (value != NULL)
		json_object_set_new(obj, name, json_string(value));
}

static void
put_count(json_t *obj, const char *name, int64_t value)
{
	if (value != 0)
		json_object_set_new(obj, name, json_integer((json_int_t)value));
}

/* paths_json - import's sources as an array of strings (a byte that is
 * not UTF-8 written as '?': the names are for people) */
static json_t *
paths_json(const access_request *rq)
{
	json_t *list = json_array(), *v;
	char *copy;
	size_t i, k;

	for (i = 0; list != NULL && i < rq->n_sources; i++) {
		if ((v = json_string(rq->sources[i])) == NULL
		    && (copy = strdup(rq->sources[i])) != NULL) {
			for (k = 0; copy[k]; k++)
				if ((unsigned char)copy[k] >= 0x80)
					copy[k] = '?';
			v = json_string(copy);
			free(copy);
		}
		json_array_append_new(list, v);
	}
	return list;
}

/* format_members - the members of rq's operation into obj */
static void
format_members(json_t *obj, const access_request *rq)
{
	put_text(obj, "from", rq->query.from);
	put_text(obj, "to", rq->query.to);
	put_text(obj, "message_id", rq->query.message_id);
	put_text(obj, "q", rq->q);
	if (rq->newest)
		json_object_set_new(obj, "newest", json_true());
	if (rq->count)
		json_object_set_new(obj, "count", json_true());
	put_count(obj, "offset", (int64_t)rq->offset);
	if (rq->op == ACCESS_OP_SEARCH || rq->op == ACCESS_OP_AUDIT
	    || rq->op == ACCESS_OP_EXPORT || rq->op == ACCESS_OP_HOLD
	    || rq->op == ACCESS_OP_POLICY_APPLY) {
		put_count(obj, "since", rq->since);
		put_count(obj, "until", rq->until);
		put_count(obj, "limit", (int64_t)rq->limit);
	}
	if (rq->id[0] != '\0')
		put_text(obj, "id", rq->id);
	put_text(obj, "keys", rq->keys_pem);
	put_text(obj, "user", rq->user);
	put_text(obj, "action", rq->action);
	if (rq->message[0] != '\0')
		put_text(obj, "message", rq->message);
	if (rq->op == ACCESS_OP_REQUEST)
		put_text(obj, "asks", access_op_name(rq->asks));
	put_text(obj, "reason", rq->reason);
	put_count(obj, "request", rq->number);
	put_text(obj, "name", rq->name);
	if (rq->dry_run)
		json_object_set_new(obj, "dry_run", json_true());
	put_text(obj, "kind", rq->kind);
	if (rq->n_sources > 0)
		json_object_set_new(obj, "sources", paths_json(rq));
	put_count(obj, "received_at", rq->received_at);
}

/* access_request_format - rq as one line of JSON and its newline */
char *
access_request_format(const access_request *rq)
{
	json_t *obj = json_object();
	char *text, *line = NULL;

	if (obj == NULL)
		return NULL;
	json_object_set_new(obj, "op", json_string(access_op_name(rq->op)));
	format_members(obj, rq);
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (text != NULL && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	free(text);
	return line;
}

/* access_request_free - free the strings a parse or the caller set */
void
access_request_free(access_request *rq)
{
	free((char *)rq->query.from);
	free((char *)rq->query.to);
	free((char *)rq->query.message_id);
	free(rq->reason);
	free(rq->keys_pem);
	free(rq->user);
	free(rq->action);
	free(rq->q);
	free(rq->name);
	free(rq->kind);
	for (size_t i = 0; rq->sources != NULL && i < rq->n_sources; i++)
		free(rq->sources[i]);
	free(rq->sources);
	memset(rq, 0, sizeof(*rq));
}
