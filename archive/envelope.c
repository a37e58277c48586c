/*
 * envelope.c - an archive_envelope as JSON, and back.
 *
 * NAME
 *	envelope - the envelope of a forwarded store, whole
 *
 * DESCRIPTION
 *	A process that forwards its stores to the archive's writer
 *	(forward.c, serve.c) sends each message's envelope as one JSON
 *	object: a member for each member of archive_envelope, the policy's
 *	decision as a nested object.  Strings may be NULL (null) and need
 *	not be UTF-8 (header values are kept as the MTA passed them): such a
 *	string goes as {"base64": TEXT} and comes back byte for byte, as
 *	access/wire.c does for messages.
 *
 *	{"queue_id": S, "client_addr": S, "client_name": S, "helo": S,
 *	 "auth_user": S, "tls_version": S, "mail_from": S, "message_id": S,
 *	 "subject": S, "date": S, "origin": S, "rcpts": [S, ...],
 *	 "received_at": N,
 *	 "policy": {"content": "full"|"metadata", "direction": S,
 *	            "retain_until": N, "roles": [S, ...],
 *	            "parties": [{"address": S, "rule": S}, ...]}}
 *
 *	The parser is the writer's, and strict: a member it does not know
 *	is refused (the envelope must travel whole: a writer that cannot
 *	keep a member refuses the store rather than drop it), as is a
 *	value of the wrong type, a string holding a NUL, bad Base64, a
 *	negative time.  A member left out is NULL (or 0).
 *
 * DIAGNOSTICS
 *	envelope_parse() names the member that is wrong.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* The string members of an envelope, by offset. */
static const struct {
	const char *name;
	size_t offset;
} env_texts[] = {
	{"queue_id", offsetof(archive_envelope, queue_id)},
	{"client_addr", offsetof(archive_envelope, client_addr)},
	{"client_name", offsetof(archive_envelope, client_name)},
	{"helo", offsetof(archive_envelope, helo)},
	{"auth_user", offsetof(archive_envelope, auth_user)},
	{"tls_version", offsetof(archive_envelope, tls_version)},
	{"mail_from", offsetof(archive_envelope, mail_from)},
	{"message_id", offsetof(archive_envelope, message_id)},
	{"subject", offsetof(archive_envelope, subject)},
	{"date", offsetof(archive_envelope, date)},
	{"origin", offsetof(archive_envelope, origin)},
};
#define N_TEXTS (sizeof(env_texts) / sizeof(env_texts[0]))

/* text_slot - the const char * member at offset of env */
static const char **
text_slot(archive_envelope *env, size_t offset)
{
	return (const char **)((char *)env + offset);
}

/* text_json - s as a JSON string, {"base64": ...} when it is not UTF-8,
 * null when NULL; NULL when out of memory */
static json_t *
text_json(const char *s)
{
	json_t *v;
	char *b64;

	if (s == NULL)
		return json_null();
	if ((v = json_string(s)) != NULL)
		return v;
	if ((b64 = base64_encode((const unsigned char *)s, strlen(s))) == NULL)
		return NULL;
	v = json_pack("{s:s}", "base64", b64);
	free(b64);
	return v;
}

/* texts_json - an array of strings as a JSON array */
static json_t *
texts_json(const char *const *items, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < n; i++)
		if (items[i] == NULL
		    || json_array_append_new(arr, text_json(items[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* policy_json - the policy's decision as a JSON object */
static json_t *
policy_json(const archive_policy *p)
{
	json_t *obj = json_object(), *parties = json_array(), *party;
	size_t i;
	int bad = obj == NULL || parties == NULL;

	for (i = 0; !bad && i < p->n_parties; i++) {
		bad = (party = json_object()) == NULL;
		bad = bad || json_object_set_new(party, "address",
						 text_json(p->parties[i].address));
		bad = bad || json_object_set_new(party, "rule",
						 text_json(p->parties[i].rule));
		bad = bad || json_array_append_new(parties, party);
	}
	bad = bad || json_object_set_new(obj, "content", json_string(
		p->content == ARCHIVE_METADATA ? "metadata" : "full"));
	bad = bad || json_object_set_new(obj, "direction",
					 text_json(p->direction));
	bad = bad || json_object_set_new(obj, "retain_until",
					 json_integer(p->retain_until));
	bad = bad || json_object_set_new(obj, "roles",
					 texts_json(p->roles, p->n_roles));
	bad = bad || json_object_set(obj, "parties", parties);
	json_decref(parties);
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* envelope_json - env as a new JSON object (internal.h) */
json_t *
envelope_json(const archive_envelope *env)
{
	json_t *obj = json_object();
	size_t i;
	int bad = obj == NULL;

	for (i = 0; !bad && i < N_TEXTS; i++)
		bad = json_object_set_new(obj, env_texts[i].name, text_json(
			*text_slot((archive_envelope *)env, env_texts[i].offset)));
	bad = bad || json_object_set_new(obj, "rcpts",
					 texts_json(env->rcpts, env->n_rcpts));
	bad = bad || json_object_set_new(obj, "received_at",
					 json_integer(env->received_at));
	bad = bad || json_object_set_new(obj, "policy", policy_json(&env->policy));
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* text_parse - a value made by text_json into a new string in *out
 * (NULL for null); -1 when it is neither, or holds a NUL */
static int
text_parse(json_t *v, char **out)
{
	const char *b64;
	unsigned char *bytes;
	size_t len;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return -1;
		return (*out = strdup(json_string_value(v))) != NULL ? 0 : -1;
	}
	if (!json_is_object(v) || json_object_size(v) != 1
	    || (b64 = json_string_value(json_object_get(v, "base64"))) == NULL
	    || (bytes = base64_decode(b64, &len)) == NULL)
		return -1;
	if (memchr(bytes, '\0', len) != NULL
	    || (*out = malloc(len + 1)) == NULL) {
		free(bytes);
		return -1;
	}
	memcpy(*out, bytes, len);
	(*out)[len] = '\0';
	free(bytes);
	return 0;
}

/* texts_parse - a JSON array of strings (none null) into a new array in
 * *out, its size in *n; at most max */
static int
texts_parse(json_t *arr, size_t max, const char *const **out, size_t *n)
{
	char **items;
	size_t i;

	*out = NULL;
	*n = 0;
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > max)
		return -1;
	if ((items = calloc(json_array_size(arr) + 1, sizeof(*items))) == NULL)
		return -1;
	*out = (const char *const *)items;
	for (i = 0; i < json_array_size(arr); i++, (*n)++)
		if (text_parse(json_array_get(arr, i), &items[i]) != 0
		    || items[i] == NULL)
			return -1;
	return 0;
}

/* time_parse - a JSON integer >= 0 (or absent: 0) into *out */
static int
time_parse(json_t *v, int64_t *out)
{
	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* only_members - does obj have no member but those of names (a
 * NULL-terminated list)?  The name of another into *bad */
static bool
only_members(json_t *obj, const char *const *names, const char **bad)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v) {
		for (i = 0; names[i] != NULL && strcmp(names[i], key) != 0; i++)
			;
		if (names[i] == NULL) {
			*bad = key;
			return false;
		}
	}
	(void)v;
	return true;
}

/* party_parse - one {"address": S, "rule": S} into p */
static int
party_parse(json_t *obj, archive_party *p)
{
	static const char *const names[] = { "address", "rule", NULL };
	const char *bad;
	char *address, *rule;

	if (!json_is_object(obj) || !only_members(obj, names, &bad))
		return -1;
	if (text_parse(json_object_get(obj, "address"), &address) != 0)
		return -1;
	p->address = address;
	if (text_parse(json_object_get(obj, "rule"), &rule) != 0)
		return -1;
	p->rule = rule;
	return 0;
}

/* parties_parse - the policy's parties; at most max */
static int
parties_parse(json_t *arr, size_t max, archive_policy *p)
{
	archive_party *parties;
	size_t i;

	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > max)
		return -1;
	if ((parties = calloc(json_array_size(arr) + 1, sizeof(*parties))) == NULL)
		return -1;
	p->parties = parties;
	for (i = 0; i < json_array_size(arr); i++, p->n_parties++)
		if (party_parse(json_array_get(arr, i), &parties[i]) != 0) {
			p->n_parties++;	/* freed with the rest */
			return -1;
		}
	return 0;
}

/* content_parse - "full" or "metadata" (absent: full) */
static int
content_parse(json_t *v, archive_content *out)
{
	const char *s = json_string_value(v);

	*out = ARCHIVE_FULL;
	if (v == NULL || (s != NULL && strcmp(s, "full") == 0))
		return 0;
	if (s == NULL || strcmp(s, "metadata") != 0)
		return -1;
	*out = ARCHIVE_METADATA;
	return 0;
}

/* policy_parse - the policy's decision into p; the name of a bad member,
 * or NULL */
static const char *
policy_parse(json_t *obj, archive_policy *p, size_t max)
{
	static const char *const names[] = { "content", "direction",
		"retain_until", "roles", "parties", NULL };
	const char *bad = "policy";
	char *direction;

	if (obj == NULL)
		return NULL;
	if (!json_is_object(obj) || !only_members(obj, names, &bad))
		return bad;
	if (content_parse(json_object_get(obj, "content"), &p->content) != 0)
		return "policy.content";
	if (text_parse(json_object_get(obj, "direction"), &direction) != 0)
		return "policy.direction";
	p->direction = direction;
	if (time_parse(json_object_get(obj, "retain_until"), &p->retain_until))
		return "policy.retain_until";
	if (texts_parse(json_object_get(obj, "roles"), max, &p->roles,
			&p->n_roles) != 0)
		return "policy.roles";
	if (parties_parse(json_object_get(obj, "parties"), max, p) != 0)
		return "policy.parties";
	return NULL;
}

/* members_parse - obj's members into env; the name of a bad one, or
 * NULL */
static const char *
members_parse(json_t *obj, archive_envelope *env)
{
	static const char *const names[] = { "queue_id", "client_addr",
		"client_name", "helo", "auth_user", "tls_version", "mail_from",
		"message_id", "subject", "date", "origin", "rcpts",
		"received_at", "policy", NULL };
	const char *bad = "envelope";
	char *s;
	size_t i;

	if (!json_is_object(obj) || !only_members(obj, names, &bad))
		return bad;
	for (i = 0; i < N_TEXTS; i++) {
		if (text_parse(json_object_get(obj, env_texts[i].name), &s) != 0)
			return env_texts[i].name;
		*text_slot(env, env_texts[i].offset) = s;
	}
	if (texts_parse(json_object_get(obj, "rcpts"), ARCHIVE_MAX_RCPTS,
			&env->rcpts, &env->n_rcpts) != 0)
		return "rcpts";
	if (time_parse(json_object_get(obj, "received_at"), &env->received_at))
		return "received_at";
	/* a party a recipient, and the sender */
	return policy_parse(json_object_get(obj, "policy"), &env->policy,
			    ARCHIVE_MAX_RCPTS + 1);
}

/* envelope_parse - obj back into env, every part allocated (internal.h) */
int
envelope_parse(json_t *obj, archive_envelope *env, mk_error *err)
{
	const char *bad;

	memset(env, 0, sizeof(*env));
	if ((bad = members_parse(obj, env)) == NULL)
		return 0;
	envelope_free(env);
	return mk_error_set(err, "the envelope's %s is not valid", bad);
}

/* free_texts - free an array of n strings made by texts_parse */
static void
free_texts(const char *const *items, size_t n)
{
	size_t i;

	for (i = 0; items != NULL && i < n; i++)
		free((char *)items[i]);
	free((char **)items);
}

/* envelope_free - free what envelope_parse allocated in env */
void
envelope_free(archive_envelope *env)
{
	archive_policy *p = &env->policy;
	size_t i;

	for (i = 0; i < N_TEXTS; i++)
		free((char *)*text_slot(env, env_texts[i].offset));
	free_texts(env->rcpts, env->n_rcpts);
	free((char *)p->direction);
	free_texts(p->roles, p->n_roles);
	for (i = 0; p->parties != NULL && i < p->n_parties; i++) {
		free((char *)p->parties[i].address);
		free((char *)p->parties[i].rule);
	}
	free((archive_party *)p->parties);
	memset(env, 0, sizeof(*env));
}
