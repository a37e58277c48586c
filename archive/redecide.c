/*
 * redecide.c - archive_redecide: stored messages under new decisions
 * (docs/FORMAT.md 1.5).
 *
 * NAME
 *	redecide - a message's stored decision replaced, its old copy gone
 *
 * DESCRIPTION
 *	A stored message keeps the decision it was stored under until an
 *	admin re-decides it (mailkeep policy apply).  The caller hands each
 *	message's new decision (an archive_policy, or none); the archive
 *	knows no policy and no hold.  Per message, each step durable before
 *	the next: the words of a dropped content out of the full-text index
 *	(the caller's forget_words), the content copied into the target
 *	group when the retention day changes, the new record sealed under
 *	the target's key and appended to the records of the day received,
 *	the "redecided" ledger entry (the commit point), its index rows made
 *	anew.  A message the policy no longer keeps goes with the rewrite of
 *	its group (below), as in an expiry: its "expired" entry, its words,
 *	its rows.
 *
 *	The old copy: when a retention is shortened, a content dropped or
 *	a message expired, the group it was in must not outlive the new
 *	decision.  A group is never rewritten in place, so at the end of
 *	the run each such group is rewritten through rewrite.c, expiry's
 *	machinery: its other messages re-keyed into the day's rewrite
 *	group (the next generation), its files and key removed.  The
 *	ledger says which groups those are ("expired" entries, "redecided"
 *	ones with from_goes), so a run that stopped is finished by the next.
 *
 *	A run holds the writer lock as well as expire.lock: it may append to
 *	today's records, write into a day group a writer stores into, and
 *	remove one.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* A day's rewrite group in this run (its next generation). */
typedef struct day_target {
	char day[CONTENT_GROUP_MAX];
	char target[CONTENT_GROUP_MAX];
} day_target;

/* A message that leaves its group in this run: one the policy no longer
 * keeps (it goes with its group's rewrite), or, in a dry run, one that
 * would have moved. */
typedef struct leaving {
	char id[ARCHIVE_ID_LEN + 1];
	bool removes;
} leaving;

struct archive_redecider {
	rewrite_run rw;
	archive_redecide_options o;
	archive_redecide_stats st;
	int expire_lock, writer_lock;
	char (*pending)[CONTENT_GROUP_MAX];	/* groups that go this run */
	size_t n_pending, pending_cap;
	day_target *targets;
	size_t n_targets;
	leaving *leaving;
	size_t n_leaving, leaving_cap;
};

/* add_leaving - id leaves its group in this run */
static int
add_leaving(archive_redecider *rd, const char *id, bool removes)
{
	leaving *grown;

	if (rd->n_leaving == rd->leaving_cap) {
		rd->leaving_cap = rd->leaving_cap ? 2 * rd->leaving_cap : 64;
		grown = realloc(rd->leaving, rd->leaving_cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		rd->leaving = grown;
	}
	snprintf(rd->leaving[rd->n_leaving].id, ARCHIVE_ID_LEN + 1, "%s", id);
	rd->leaving[rd->n_leaving++].removes = removes;
	return 0;
}

/* find_leaving - id's entry among those leaving, or NULL */
static const leaving *
find_leaving(const archive_redecider *rd, const char *id)
{
	size_t i;

	for (i = 0; i < rd->n_leaving; i++)
		if (strcmp(rd->leaving[i].id, id) == 0)
			return &rd->leaving[i];
	return NULL;
}

/* writer_lock - the writer lock, or -1 with err saying who has it */
static int
writer_lock(archive *ar, mk_error *err)
{
	return rewrite_take_lock(ar, ARCHIVE_LOCK_FILE, "in use by a writer"
				 " (mailkeep-milter or an import): re-deciding"
				 " stored messages needs the archive to itself;"
				 " stop mailkeep-milter (the MTA keeps the mail"
				 " meanwhile) and run it again (a dry run needs"
				 " no stop)", err);
}

/* add_pending - group to the groups that go, once */
static int
add_pending(archive_redecider *rd, const char *group)
{
	return group_list_add(&rd->pending, &rd->n_pending, &rd->pending_cap,
			      group);
}

/* known_groups - every group of day the disk or the ledger names, into
 * g's groups (the next generation must be new to all of them) */
static int
known_groups(archive_redecider *rd, rewrite_set *g, mk_error *err)
{
	const ledger_map *m = &rd->rw.map;
	char day[CONTENT_GROUP_MAX];
	size_t i;
	int rc = rewrite_disk_groups(&rd->rw, g, err);

	for (i = 0; rc == 0 && i < m->n_rekeys + m->n_goes; i++) {
		const char *group = i < m->n_rekeys ? m->rekeys[i].group
		    : m->goes[i - m->n_rekeys];

		rewrite_group_day(group, day);
		if (strcmp(day, g->name) == 0 && rewrite_add_name(g, group) != 0)
			rc = mk_error_set(err, "out of memory");
	}
	for (i = 0; rc == 0 && i < rd->n_pending; i++) {
		rewrite_group_day(rd->pending[i], day);
		if (strcmp(day, g->name) == 0
		    && rewrite_add_name(g, rd->pending[i]) != 0)
			rc = mk_error_set(err, "out of memory");
	}
	return rc;
}

/* day_target_of - the rewrite group of group's day in this run, chosen
 * when first needed, into out */
static int
day_target_of(archive_redecider *rd, const char *group,
	      char out[CONTENT_GROUP_MAX], mk_error *err)
{
	day_target *grown, *t;
	rewrite_set g;
	size_t i;
	int rc;

	rewrite_day_of(group, &g);
	for (i = 0; i < rd->n_targets; i++)
		if (strcmp(rd->targets[i].day, g.name) == 0) {
			snprintf(out, CONTENT_GROUP_MAX, "%s", rd->targets[i].target);
			return 0;
		}
	grown = realloc(rd->targets, (rd->n_targets + 1) * sizeof(*grown));
	if (grown == NULL)
		return mk_error_set(err, "out of memory");
	rd->targets = grown;
	t = &rd->targets[rd->n_targets];
	snprintf(t->day, sizeof(t->day), "%s", g.name);
	rc = known_groups(rd, &g, err);
	if (rc == 0)
		rc = rewrite_next_generation(g.name, g.groups, g.n_groups,
					     t->target, err);
	rewrite_set_free(&g);
	if (rc != 0)
		return -1;
	rd->n_targets++;
	snprintf(out, CONTENT_GROUP_MAX, "%s", t->target);
	return 0;
}

/* archive_redecide_begin - locks, the ledger, rows caught up */
int
archive_redecide_begin(archive *ar, const archive_redecide_options *o,
		       archive_redecider **out, mk_error *err)
{
	archive_redecider *rd = calloc(1, sizeof(*rd));

	*out = NULL;
	err->msg[0] = '\0';
	if (rd == NULL)
		return mk_error_set(err, "out of memory");
	rd->o = *o;
	rd->rw = (rewrite_run){ .ar = ar, .now = o->now, .dry_run = o->dry_run,
				.forget = o->forget, .ctx = o->ctx };
	rd->writer_lock = -1;
	if ((rd->expire_lock = rewrite_lock(ar, err)) < 0
	    || (!o->dry_run && (rd->writer_lock = writer_lock(ar, err)) < 0)
	    || ledger_map_load(ar->dir, &rd->rw.map, err) != 0
	    || rewrite_index_caught_up(&rd->rw, err) != 0
	    || (!o->dry_run && rewrite_catch_up_rows(&rd->rw, err) != 0)) {
		archive_redecide_end(rd, NULL, NULL);
		return -1;
	}
	*out = rd;
	return 0;
}

/* One message being re-decided. */
typedef struct redeciding {
	archive_message *msg;		/* its index row */
	ledger_msg *lm;
	json_t *rec;			/* its current record */
	char from[CONTENT_GROUP_MAX];	/* the group it is in */
	char target[CONTENT_GROUP_MAX];	/* the group of its new record */
	bool from_goes;
	archive_redecided kind;
} redeciding;

/* load_message - id's row, ledger state and current record into m; 1
 * when it has expired already */
static int
load_message(archive_redecider *rd, const char *id, redeciding *m,
	     mk_error *err)
{
	record_opened ro;
	json_t *ru;

	if ((m->lm = ledger_map_find(&rd->rw.map, id)) == NULL)
		return mk_error_set(err, "no message %s", id);
	if (m->lm->expired)
		return 1;	/* expired by a run that stopped: its group
				   is the ledger's to name (map.goes) */
	if (archive_lookup(rd->rw.ar, id, &m->msg, err) != 0)
		return -1;
	if (record_find_hash(rd->rw.ar, id, m->msg->received_at, m->lm->record,
			     &ro, err) != 0)
		return mk_error_set(err, "%s: its record: %s", id, err->msg);
	m->rec = json_loads(ro.text, 0, NULL);
	record_opened_free(&ro);
	if (m->rec == NULL)
		return mk_error_set(err, "%s: its record is not JSON", id);
	ru = json_object_get(json_object_get(m->rec, "policy"), "retain_until");
	if (m->lm->group[0])
		snprintf(m->from, sizeof(m->from), "%s", m->lm->group);
	else
		content_group(json_integer_value(ru), m->from);
	return 0;
}

/* later_day - does day a end later than day b ("forever" latest)? */
static bool
later_day(const char *a, const char *b)
{
	if (strcmp(a, "forever") == 0 || strcmp(b, "forever") == 0)
		return strcmp(a, "forever") == 0 && strcmp(b, "forever") != 0;
	return strcmp(a, b) > 0;
}

/* plan - what changes for m under pol (content already settled): kind,
 * target, from_goes; pol's JSON into *pj (caller frees) */
static int
plan(archive_redecider *rd, redeciding *m, const archive_policy *pol,
     json_t **pj, mk_error *err)
{
	char from_day[CONTENT_GROUP_MAX], new_day[CONTENT_GROUP_MAX];
	bool stripped, moved;

	if ((*pj = record_policy_json(pol)) == NULL)
		return mk_error_set(err, "out of memory");
	if (json_equal(*pj, json_object_get(m->rec, "policy"))) {
		m->kind = ARCHIVE_REDECIDE_SAME;
		return 0;
	}
	stripped = m->msg->content == ARCHIVE_FULL
	    && pol->content == ARCHIVE_METADATA;
	rewrite_group_day(m->from, from_day);
	content_group(pol->retain_until, new_day);
	moved = strcmp(from_day, new_day) != 0;
	m->from_goes = stripped || (moved && later_day(from_day, new_day));
	m->kind = stripped ? ARCHIVE_REDECIDE_STRIPPED : moved
	    ? ARCHIVE_REDECIDE_MOVED : ARCHIVE_REDECIDE_RESEALED;
	if (moved)
		snprintf(m->target, sizeof(m->target), "%s", new_day);
	else if (stripped)
		return day_target_of(rd, m->from, m->target, err);
	else
		snprintf(m->target, sizeof(m->target), "%s", m->from);
	return 0;
}

/* forget_words - the words of m's content out, durably (it is dropped) */
static int
forget_words(archive_redecider *rd, const redeciding *m, mk_error *err)
{
	if (rd->o.forget_words == NULL)
		return 0;
	if (rd->o.forget_words(m->msg, rd->o.ctx, err) != 0
	    || rd->o.forget_words(NULL, rd->o.ctx, err) != 0)
		return -1;
	rewrite_fault("redecide-words");
	return 0;
}

/* new_record - m's record with the decision pj (consumed): content
 * copied into the target or dropped; its text, allocated */
static char *
new_record(archive_redecider *rd, redeciding *m, json_t *pj, mk_error *err)
{
	json_t *rec = m->rec;
	char *text = NULL;
	int rc = 0;

	json_object_set_new(rec, "policy", pj);
	if (m->kind == ARCHIVE_REDECIDE_STRIPPED)
		rc = json_object_set_new(rec, "sha256", json_null())
		    | json_object_set_new(rec, "content", json_null())
		    | json_object_set_new(rec, "subject", json_null());
	else if (strcmp(m->target, m->from) != 0)
		rc = rewrite_copy_content(&rd->rw, m->target, m->lm, rec, err);
	if (rc != 0) {
		if (err->msg[0] == '\0')
			mk_error_set(err, "out of memory");
		return NULL;
	}
	rewrite_fault("redecide-copied");
	if ((text = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII
			       | JSON_PRESERVE_ORDER)) == NULL)
		mk_error_set(err, "out of memory");
	return text;
}

/* redecided_entry - the ledger entry of m's new decision into buf */
static void
redecided_entry(const archive_redecider *rd, const redeciding *m,
		const record_resealed *rs, char *buf, size_t size)
{
	const char *sha = m->kind == ARCHIVE_REDECIDE_STRIPPED ? ""
	    : m->lm->sha256;

	snprintf(buf, size, "\"event\":\"redecided\",\"time\":%lld,\"id\":\"%s\","
		 "\"group\":\"%s\",\"from\":\"%s\",\"from_goes\":%s,"
		 "\"sha256\":%s%s%s,\"record\":\"%s\",\"signer\":%u,"
		 "\"stored\":%lld", (long long)rd->rw.now * 1000000LL,
		 m->lm->id, m->target, m->from, m->from_goes ? "true" : "false",
		 sha[0] ? "\"" : "", sha[0] ? sha : "null", sha[0] ? "\"" : "",
		 rs->sha256, rs->signer, (long long)m->lm->seq);
}

/* note_committed - the ledger map after m's entry at seq */
static void
note_committed(redeciding *m, const record_resealed *rs, int64_t seq)
{
	ledger_msg *lm = m->lm;

	memcpy(lm->prev_record, lm->record, sizeof(lm->record));
	memcpy(lm->record, rs->sha256, sizeof(lm->record));
	snprintf(lm->group, sizeof(lm->group), "%s", m->target);
	if (m->kind == ARCHIVE_REDECIDE_STRIPPED)
		lm->sha256[0] = '\0';
	lm->rekey_seq = seq;
}

/* commit - m's new record (text) appended, its entry, its rows */
static int
commit(archive_redecider *rd, redeciding *m, const char *text, mk_error *err)
{
	char key[KEYS_NAME_MAX], entry[640];
	const char *entries[1] = { entry };
	record_resealed rs;
	int64_t seq;
	int rc;

	snprintf(key, sizeof(key), "record-%s.key", m->target);
	if (record_reseal(rd->rw.ar, m->lm->id, text, key, &rs, err) != 0)
		return -1;
	rc = record_append_line(rd->rw.ar, m->msg->received_at, rs.line, err);
	free(rs.line);
	if (rc != 0)
		return -1;
	rewrite_fault("redecide-record");
	redecided_entry(rd, m, &rs, entry, sizeof(entry));
	if (ledger_append(rd->rw.ar, entries, 1, &seq, err) != 0)
		return -1;
	rewrite_fault("redecide-entry");
	note_committed(m, &rs, seq);
	if (index_set_record(rd->rw.ar->db, m->lm->id, m->rec, rs.sha256,
			     err) < 0)
		return -1;
	if (m->kind == ARCHIVE_REDECIDE_STRIPPED)	/* the subject's page */
		sqlite3_wal_checkpoint_v2(rd->rw.ar->db, NULL,
					  SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	rewrite_fault("redecide-row");
	return 0;
}

/* apply_change - m under the decision pj (consumed) */
static int
apply_change(archive_redecider *rd, redeciding *m, json_t *pj, mk_error *err)
{
	char *text;
	int rc;

	if (m->kind == ARCHIVE_REDECIDE_STRIPPED && forget_words(rd, m, err) != 0) {
		json_decref(pj);
		return -1;
	}
	if ((text = new_record(rd, m, pj, err)) == NULL)
		return -1;
	rc = commit(rd, m, text, err);
	free(text);
	return rc;
}

/* count - the run's counts for one message */
static void
count(archive_redecider *rd, archive_redecided kind)
{
	uint64_t *c[] = { &rd->st.same, &rd->st.resealed, &rd->st.moved,
			  &rd->st.stripped, &rd->st.removed };

	(*c[kind])++;
}

/* decide - m under pol (NULL: none) */
static int
decide(archive_redecider *rd, redeciding *m, const archive_policy *pol,
       mk_error *err)
{
	archive_policy kept;
	json_t *pj = NULL;

	if (pol == NULL) {	/* goes with its group's rewrite */
		m->kind = ARCHIVE_REDECIDE_REMOVED;
		m->from_goes = true;
		return add_leaving(rd, m->lm->id, true) == 0 ? 0
		    : mk_error_set(err, "out of memory");
	}
	kept = *pol;
	if (m->msg->content == ARCHIVE_METADATA && pol->content == ARCHIVE_FULL) {
		kept.content = ARCHIVE_METADATA;	/* never kept: stays so */
		rd->st.kept_metadata++;
	}
	if (plan(rd, m, &kept, &pj, err) != 0 || m->kind == ARCHIVE_REDECIDE_SAME
	    || rd->o.dry_run) {
		json_decref(pj);
		if (err->msg[0] == '\0' && rd->o.dry_run
		    && m->kind != ARCHIVE_REDECIDE_SAME
		    && strcmp(m->target, m->from) != 0
		    && add_leaving(rd, m->lm->id, false) != 0)
			mk_error_set(err, "out of memory");
		return err->msg[0] ? -1 : 0;
	}
	return apply_change(rd, m, pj, err);
}

/* archive_redecide - message id under pol (archive.h) */
int
archive_redecide(archive_redecider *rd, const char *id,
		 const archive_policy *pol, archive_redecided *done,
		 mk_error *err)
{
	redeciding m = { .msg = NULL };
	int rc;

	err->msg[0] = '\0';
	if ((rc = load_message(rd, id, &m, err)) == 0)
		rc = decide(rd, &m, pol, err);
	else if (rc == 1) {
		m.kind = ARCHIVE_REDECIDE_REMOVED;
		rc = 0;
	}
	if (rc == 0) {
		count(rd, m.kind);
		if (done != NULL)
			*done = m.kind;
		if (m.from_goes && add_pending(rd, m.from) != 0)
			rc = mk_error_set(err, "out of memory");
	}
	archive_message_free(m.msg);
	json_decref(m.rec);
	return rc;
}

/* on_disk - has group a directory in content/ or a key in keys/? */
static bool
on_disk(archive *ar, const char *group)
{
	char rel[CONTENT_FILE_MAX + 24], *path;
	bool there;
	int i;

	for (i = 0, there = false; !there && i < 2; i++) {
		snprintf(rel, sizeof(rel), i == 0 ? CONTENT_DIR "/%s"
			 : "keys/record-%s.key", group);
		if ((path = path_join(ar->dir, rel)) == NULL)
			return true;	/* when in doubt, rewrite */
		there = access(path, F_OK) == 0;
		free(path);
	}
	return there;
}

/* plan_group - g (group's day) as the rewrite of group: its messages
 * move, those expired or removed by this run go (in a dry run, those
 * that would have left are passed over); only group is removed */
static int
plan_group(archive_redecider *rd, rewrite_set *g, const char *group,
	   mk_error *err)
{
	size_t i;

	if (day_target_of(rd, group, g->target, err) != 0
	    || rewrite_take(&rd->rw, g, err) != 0)
		return -1;
	g->n_groups = 0;
	if (rewrite_add_name(g, group) != 0)
		return mk_error_set(err, "out of memory");
	for (i = 0; i < g->n; i++) {
		rewrite_msg *m = &g->msgs[i];
		const leaving *l = find_leaving(rd, m->id);

		if (strcmp(m->group, group) != 0 || (l != NULL && !l->removes))
			continue;	/* another group's, or would move */
		m->goes = m->expired || l != NULL;
		m->moves = !m->goes;
		rd->st.rekeyed += m->moves;
	}
	return 0;
}

/* rewrite_one - the group that goes, rewritten (dry: counted) */
static int
rewrite_one(archive_redecider *rd, const char *group, mk_error *err)
{
	rewrite_set g;
	int rc;

	if (strcmp(group, "") == 0 || !on_disk(rd->rw.ar, group))
		return 0;
	rewrite_day_of(group, &g);
	rc = plan_group(rd, &g, group, err);
	if (rc == 0 && strcmp(g.target, group) == 0)
		rc = mk_error_set(err, "%s: its rewrite group is itself", group);
	if (rc == 0 && !rd->rw.dry_run)
		rc = rewrite_finish(&rd->rw, &g, err);
	rd->st.groups += rc == 0;
	rewrite_set_free(&g);
	return rc;
}

/* rewrite_pending - every group that goes: this run's, and those the
 * ledger names that are still on disk (a run that stopped) */
static int
rewrite_pending(archive_redecider *rd, mk_error *err)
{
	size_t i;

	for (i = 0; i < rd->rw.map.n_goes; i++)
		if (add_pending(rd, rd->rw.map.goes[i]) != 0)
			return mk_error_set(err, "out of memory");
	for (i = 0; i < rd->n_pending; i++) {
		if (rewrite_one(rd, rd->pending[i], err) != 0)
			return -1;
		if (rd->o.progress != NULL)
			rd->o.progress("groups", i + 1, rd->n_pending, rd->o.ctx);
	}
	return 0;
}

/* archive_redecide_end - rewrite, count, let go (archive.h) */
int
archive_redecide_end(archive_redecider *rd, archive_redecide_stats *st,
		     mk_error *err)
{
	mk_error ignored;
	int rc = 0;

	if (err == NULL)
		err = &ignored;
	if (st != NULL) {
		err->msg[0] = '\0';
		rc = rewrite_pending(rd, err);
		rd->st.bytes_freed = rd->rw.bytes_freed;
		if (rc == 0 && !rd->rw.dry_run)
			rc = ledger_checkpoint_due(rd->rw.ar, true, err);
		*st = rd->st;
	}
	ledger_map_free(&rd->rw.map);
	if (rd->writer_lock >= 0)
		close(rd->writer_lock);
	if (rd->expire_lock >= 0)
		close(rd->expire_lock);
	free(rd->pending);
	free(rd->targets);
	free(rd->leaving);
	free(rd);
	return rc;
}
