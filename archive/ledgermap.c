/*
 * ledgermap.c - what the ledger says about the archive, in memory: each
 * stored message (its seq, content hash, record hash, whether it has
 * expired, and, when expiry re-keyed or policy apply re-decided it, the
 * group it is in and its newest record), the groups whose old copies
 * must go (FORMAT.md 1.5) and the public key of each key generation.  verify.c and
 * rebuild.c read the ledger once into a map and check or rebuild the rest
 * against it.  About 200 bytes a message.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* by_id - qsort/bsearch order of ledger_msg */
static int
by_id(const void *a, const void *b)
{
	return strcmp(((const ledger_msg *)a)->id, ((const ledger_msg *)b)->id);
}

/* grow - room for one more element in *arr */
static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *bigger;

	if (n < *cap)
		return 0;
	*cap = *cap ? 2 * *cap : 1024;
	if ((bigger = realloc(*arr, *cap * size)) == NULL)
		return -1;
	*arr = bigger;
	return 0;
}

/* copy_hex - a 64-hex-digit member of obj into out, or "" */
static void
copy_hex(json_t *obj, const char *key, char out[ARCHIVE_SHA256_HEX + 1])
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(out, ARCHIVE_SHA256_HEX + 1, "%s",
		 s != NULL && strlen(s) == ARCHIVE_SHA256_HEX ? s : "");
}

/* add_stored - a "stored" entry */
static int
add_stored(ledger_map *m, int64_t seq, json_t *obj, const char *id)
{
	ledger_msg *msg;

	if (grow((void **)&m->msgs, &m->cap, m->n, sizeof(*m->msgs)) != 0)
		return -1;
	msg = &m->msgs[m->n++];
	memset(msg, 0, sizeof(*msg));
	snprintf(msg->id, sizeof(msg->id), "%s", id);
	msg->seq = seq;
	copy_hex(obj, "sha256", msg->sha256);
	copy_hex(obj, "record", msg->record);
	memcpy(msg->stored_record, msg->record, sizeof(msg->record));
	msg->signer = (unsigned)json_integer_value(json_object_get(obj, "signer"));
	return 0;
}

/* add_goes - a group whose old copies must go (an "expired" entry's, a
 * "redecided" one's "from" with "from_goes") */
static int
add_goes(ledger_map *m, const char *group)
{
	if (group == NULL || !content_group_valid(group, strlen(group)))
		return 0;
	if (m->n_goes > 0 && strcmp(m->goes[m->n_goes - 1], group) == 0)
		return 0;	/* the same as the last: once */
	if (grow((void **)&m->goes, &m->goes_cap, m->n_goes,
		 sizeof(*m->goes)) != 0)
		return -1;
	snprintf(m->goes[m->n_goes++], CONTENT_GROUP_MAX, "%s", group);
	return 0;
}

/* add_rekey - a "rekeyed" or "redecided" entry, applied to its message
 * when the map is done (the message is found by id only then) */
static int
add_rekey(ledger_map *m, int64_t seq, json_t *obj, const char *id,
	  bool redecided)
{
	const char *group = json_string_value(json_object_get(obj, "group"));
	ledger_rekey *rk;

	if (group == NULL || !content_group_valid(group, strlen(group)))
		return 0;	/* not a re-key: verify's to name */
	if (grow((void **)&m->rekeys, &m->rekeys_cap, m->n_rekeys,
		 sizeof(*m->rekeys)) != 0)
		return -1;
	rk = &m->rekeys[m->n_rekeys++];
	snprintf(rk->id, sizeof(rk->id), "%s", id);
	snprintf(rk->group, sizeof(rk->group), "%s", group);
	copy_hex(obj, "record", rk->record);
	copy_hex(obj, "sha256", rk->sha256);
	rk->signer = (unsigned)json_integer_value(json_object_get(obj, "signer"));
	rk->seq = seq;
	rk->redecided = redecided;
	if (redecided && json_is_true(json_object_get(obj, "from_goes")))
		return add_goes(m, json_string_value(json_object_get(obj, "from")));
	return 0;
}

/* add_key - a "created" or "keys_rotated" entry: generation gen's key */
static int
add_key(ledger_map *m, json_t *obj, char why[LEDGER_WHY])
{
	json_int_t gen = json_integer_value(json_object_get(obj, "key"));
	const char *hex = json_string_value(json_object_get(obj, "public_key"));

	if (gen != (json_int_t)m->n_keys + 1) {
		snprintf(why, LEDGER_WHY, "key generation %lld out of order",
			 (long long)gen);
		return 1;
	}
	if (grow((void **)&m->keys, &m->keys_cap, m->n_keys, sizeof(*m->keys)) != 0)
		return -1;
	if (hex_decode(hex, m->keys[m->n_keys], KEYS_PUBLIC) != 0) {
		snprintf(why, LEDGER_WHY, "bad public_key");
		return 1;
	}
	m->n_keys++;
	return 0;
}

/* map_event - what one entry says, under the seq it states */
static int
map_event(ledger_map *m, json_t *obj, int64_t seq, const char *event,
	  char why[LEDGER_WHY])
{
	const char *id = json_string_value(json_object_get(obj, "id"));

	if (strcmp(event, "stored") == 0 && id != NULL
	    && strlen(id) == ARCHIVE_ID_LEN)
		return add_stored(m, seq, obj, id);
	if (strcmp(event, "expired") == 0 && id != NULL) {
		if (grow((void **)&m->expired, &m->expired_cap, m->n_expired,
			 sizeof(*m->expired)) != 0)
			return -1;
		snprintf(m->expired[m->n_expired++], ARCHIVE_ID_LEN + 1, "%s", id);
		return add_goes(m, json_string_value(json_object_get(obj,
								      "group")));
	}
	if ((strcmp(event, "rekeyed") == 0 || strcmp(event, "redecided") == 0)
	    && id != NULL && strlen(id) == ARCHIVE_ID_LEN)
		return add_rekey(m, seq, obj, id,
				 strcmp(event, "redecided") == 0);
	if (strcmp(event, "created") == 0 || strcmp(event, "keys_rotated") == 0)
		return add_key(m, obj, why);
	return 0;
}

/* note_link - the seq and "prev" the line states, for the caller */
static void
note_link(ledger_map *m, json_t *obj, json_int_t seq)
{
	const char *prev = json_string_value(json_object_get(obj, "prev"));

	m->line_seq = (int64_t)seq;
	m->line_has_prev = prev != NULL && strlen(prev) == 2 * MERKLE_HASH
	    && hex_decode(prev, m->line_prev, MERKLE_HASH) == 0;
}

/* ledger_map_line - take in the line at position pos; 0, 1 with why when
 * the line is not what it should be, -1 when out of memory.  An entry
 * whose seq is not its position is named (once for a run of them
 * shifted by a removed or added line), and still taken in
 * under the seq it states (the one index rows refer to), so that one
 * removed or moved line is named where it was and hides nothing after it.
 * (The Merkle tree, checked by the caller, is over positions.  So is
 * the chain: each line's "prev" is the hash of the line before it, which
 * the caller compares, from line_seq, line_has_prev and line_prev.) */
int
ledger_map_line(ledger_map *m, int64_t pos, const char *line,
		char why[LEDGER_WHY])
{
	json_t *obj = json_loads(line, 0, NULL);
	const char *event = json_string_value(json_object_get(obj, "event"));
	json_int_t seq = json_integer_value(json_object_get(obj, "seq"));
	int rc = 0;

	m->line_seq = 0;
	m->line_has_prev = false;
	if (obj == NULL || event == NULL || seq < 1) {
		snprintf(why, LEDGER_WHY, "not a ledger entry");
		json_decref(obj);
		return 1;
	}
	note_link(m, obj, seq);
	rc = map_event(m, obj, (int64_t)seq, event, why);
	/* named: where a line's seq leaves its position, not each line
	 * of a run that goes on shifted after a removed or added one */
	if (rc == 0 && seq != pos
	    && !(m->last_seq != pos - 1 && seq == m->last_seq + 1)) {
		snprintf(why, LEDGER_WHY, "says seq %lld at position %lld, after"
			 " seq %lld (an entry was removed, added or moved)",
			 (long long)seq, (long long)pos, (long long)m->last_seq);
		rc = 1;
	}
	m->last_seq = (int64_t)seq;
	json_decref(obj);
	return rc;
}

/* load_line - ledger_line_fn: one line into the map; a bad line is
 * verify's to name */
static int
load_line(int64_t seq, const char *line, size_t len, void *ctx)
{
	char why[LEDGER_WHY];

	(void)len;
	return ledger_map_line(ctx, seq, line, why) < 0 ? -1 : 0;
}

/* ledger_map_load - map the whole ledger of dir into m, done */
int
ledger_map_load(const char *dir, ledger_map *m, mk_error *err)
{
	err->msg[0] = '\0';
	if (ledger_scan(dir, load_line, m, err) != 0)
		return err->msg[0] ? -1 : mk_error_set(err, "out of memory");
	ledger_map_done(m);
	return 0;
}

/* rekey_by_id - qsort/bsearch order of ledger_rekey: id, then seq */
static int
rekey_by_id(const void *a, const void *b)
{
	const ledger_rekey *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* ledger_map_done - sort the messages, then mark the expired ones and
 * give the moved ones their newest record (and a re-decided one its
 * content hash), in ledger order; the moves then sorted by id */
void
ledger_map_done(ledger_map *m)
{
	ledger_rekey *rk;
	ledger_msg *msg;
	size_t i;

	if (m->n > 0)
		qsort(m->msgs, m->n, sizeof(*m->msgs), by_id);
	for (i = 0; i < m->n_expired; i++)
		if ((msg = ledger_map_find(m, m->expired[i])) != NULL)
			msg->expired = true;
	for (i = 0; i < m->n_rekeys; i++) {
		rk = &m->rekeys[i];
		if ((msg = ledger_map_find(m, rk->id)) == NULL || rk->seq < msg->seq)
			continue;
		memcpy(msg->prev_record, msg->record, sizeof(msg->record));
		memcpy(msg->record, rk->record, sizeof(msg->record));
		memcpy(msg->group, rk->group, sizeof(msg->group));
		if (rk->redecided)
			memcpy(msg->sha256, rk->sha256, sizeof(msg->sha256));
		msg->signer = rk->signer;
		msg->rekey_seq = rk->seq;
	}
	if (m->n_rekeys > 0)
		qsort(m->rekeys, m->n_rekeys, sizeof(*m->rekeys), rekey_by_id);
}

/* ledger_map_names - is hex msg's stored record, or one a move names? */
bool
ledger_map_names(const ledger_map *m, const ledger_msg *msg, const char *hex)
{
	size_t lo = 0, hi = m->n_rekeys, mid;

	if (strcmp(hex, msg->stored_record) == 0)
		return true;
	while (lo < hi) {	/* the first of its id */
		mid = lo + (hi - lo) / 2;
		if (strcmp(m->rekeys[mid].id, msg->id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->n_rekeys && strcmp(m->rekeys[lo].id, msg->id) == 0; lo++)
		if (strcmp(m->rekeys[lo].record, hex) == 0)
			return true;
	return false;
}

/* ledger_map_find - the stored message id, or NULL */
ledger_msg *
ledger_map_find(const ledger_map *m, const char *id)
{
	ledger_msg key;

	if (m->n == 0)
		return NULL;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, m->msgs, m->n, sizeof(*m->msgs), by_id);
}

/* ledger_map_free - free the map's arrays */
void
ledger_map_free(ledger_map *m)
{
	free(m->msgs);
	free(m->expired);
	free(m->rekeys);
	free(m->goes);
	free(m->keys);
	memset(m, 0, sizeof(*m));
}
