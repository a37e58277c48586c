/*
 * committer.c - group commit: one thread makes many messages durable at once.
 *
 * Milter threads hand their commit_req to committer_submit() and sleep.
 * Their blobs are written into content segments already (content.c), not
 * yet synced.  The committer thread takes everything queued (up to
 * ARCHIVE_BATCH_MAX), then for the whole batch: fdatasyncs each segment
 * it wrote into, appends and fsyncs the records, appends and fsyncs the ledger entries,
 * and inserts the index rows in one SQLite transaction.
 * It then wakes the submitters.  While idle it wakes every
 * checkpoint_seconds to sign a checkpoint of the ledger if one is due.  Under load a batch holds many messages,
 * so durability costs a handful of fsyncs per batch, not per message.
 * A failure anywhere fails every message of the batch: each one's MTA
 * is told to retry, and nothing is reported stored that is not.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

#define INDEX_RETRY_SECONDS 1	/* while the index is behind */

/* ledger_stored - append one "stored" ledger entry a message of the
 * batch; ledger_append()'s result */
static int
ledger_stored(archive *ar, commit_req *batch, mk_error *err)
{
	const char *entries[ARCHIVE_BATCH_MAX] = { 0 };
	char lines[ARCHIVE_BATCH_MAX][384];
	int64_t seq;
	commit_req *r;
	size_t n = 0;
	int rc;

	for (r = batch; r != NULL; r = r->next, n++) {
		snprintf(lines[n], sizeof(lines[n]),
			 "\"event\":\"stored\",\"time\":%lld,\"id\":\"%s\",\"content\":\"%s\",\"sha256\":%s%s%s,\"size\":%lld,\"record\":\"%s\",\"signer\":%u",
			 (long long)r->received_at, r->id,
			 r->sha256[0] ? "full" : "metadata",
			 r->sha256[0] ? "\"" : "", r->sha256[0] ? r->sha256 : "null",
			 r->sha256[0] ? "\"" : "", (long long)r->size,
			 r->record_sha256, r->signer);
		entries[n] = lines[n];
	}
	if ((rc = ledger_append(ar, entries, n, &seq, err)) != 0)
		return rc;
	for (r = batch; r != NULL; r = r->next)
		r->ledger_seq = seq++;
	return 0;
}

/* warn - tell the archive's owner something that fails no commit */
static void __attribute__((format(printf, 2, 3)))
warn(archive *ar, const char *fmt, ...)
{
	char msg[sizeof(((mk_error *)0)->msg) + 128];
	va_list ap;

	if (ar->opts.warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ar->opts.warn(ar->opts.warn_ctx, msg);
}

/* index_batch - the batch's index rows.  The messages are stored
 * already (ledger): if the rows fail, the index is behind, and the next
 * batch (or an idle moment; batch NULL) rolls it forward from the ledger
 * instead (so it has no holes), as the next open would. */
static void
index_batch(archive *ar, commit_req *batch)
{
	committer *c = &ar->com;
	mk_error err;

	if ((c->index_behind ? index_roll_forward(ar, &err)
	     : index_insert_batch(ar, batch, &err)) != 0) {
		if (!c->index_behind)
			warn(ar, "the index is behind (the messages are stored;"
			     " it catches up from the ledger at the next"
			     " commit): %s", err.msg);
		c->index_behind = true;
	} else if (c->index_behind) {
		warn(ar, "the index has caught up with the ledger");
		c->index_behind = false;
	}
}

/* give_up - a failed commit that could not be undone: no more commits
 * until the archive is opened again (which cuts torn lines off) */
static int
give_up(archive *ar, mk_error *err)
{
	snprintf(ar->com.broken, sizeof(ar->com.broken), "%s", err->msg);
	warn(ar, "a failed commit could not be undone; storing stops until"
	     " the archive is opened again: %s", err->msg);
	return -1;
}

/* commit_batch - make a whole batch durable: a message is stored once
 * its blob, its record and its ledger entry are (docs/FORMAT.md, section
 * 1.1); a batch that fails before its ledger entries are durable is cut
 * back out of the records and the ledger, so nothing of it counts and
 * the MTA's retry stores it once.  0, or -1 with err. */
static int
commit_batch(archive *ar, commit_req *batch, mk_error *err)
{
	record_marks marks;
	mk_error undo;
	int rc;

	if (ar->com.broken[0] != '\0')
		return mk_error_set(err, "storing has stopped until the archive"
				    " is reopened: %s", ar->com.broken);
	if (content_sync(ar, batch, err) != 0
	    || record_append_batch(ar, batch, &marks, err) != 0)
		return -1;
	if ((rc = ledger_stored(ar, batch, err)) != 0) {
		if (rc == -2)
			return give_up(ar, err);
		if (record_undo_batch(ar, &marks, &undo) != 0)
			warn(ar, "records of a failed commit stay (they count"
			     " for nothing without their ledger entries): %s",
			     undo.msg);
		return -1;
	}
	index_batch(ar, batch);
	return 0;
}

/* take_batch - detach up to ARCHIVE_BATCH_MAX queued requests; locked */
static commit_req *
take_batch(committer *c)
{
	commit_req *batch = c->head, *last = c->head;
	int n = 1;

	while (last->next != NULL && n < ARCHIVE_BATCH_MAX) {
		last = last->next;
		n++;
	}
	c->head = last->next;
	if (c->head == NULL)
		c->tail = NULL;
	last->next = NULL;
	c->queued -= n;
	return batch;
}

/* finish_batch - publish the result of a batch and wake its submitters */
static void
finish_batch(committer *c, commit_req *batch, int rc, const mk_error *err)
{
	commit_req *r, *next;

	pthread_mutex_lock(&c->lock);
	for (r = batch; r != NULL; r = next) {
		next = r->next;	/* r may vanish once done is set */
		r->rc = rc;
		if (rc != 0)
			r->err = *err;
		r->done = true;
		pthread_cond_signal(&r->woken);	/* its submitter only */
	}
	pthread_mutex_unlock(&c->lock);
}

/* idle_wait - sleep until work arrives; when the ledger has had no
 * checkpoint for checkpoint_seconds, write one meanwhile, and while the
 * index is behind, roll it forward every INDEX_RETRY_SECONDS.  Locked. */
static void
idle_wait(archive *ar, committer *c)
{
	struct timespec until;
	mk_error err;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += c->index_behind ? INDEX_RETRY_SECONDS
	    : ar->opts.checkpoint_seconds;
	if (pthread_cond_timedwait(&c->work, &c->lock, &until) != ETIMEDOUT)
		return;
	pthread_mutex_unlock(&c->lock);
	/* a failure here loses nothing: the next append tries again */
	(void)ledger_checkpoint_due(ar, false, &err);
	if (c->index_behind)
		index_batch(ar, NULL);	/* catch up without waiting for mail */
	pthread_mutex_lock(&c->lock);
}

/* linger - wait up to ARCHIVE_LINGER_US for the messages that are still
 * being received to join the queue, so that one round of syncs serves
 * them too (PostgreSQL's commit_delay, with the spools open as its
 * siblings): only while some are, and not beyond a full batch.  Locked. */
static void
linger(archive *ar, committer *c)
{
	struct timespec until;

	if (ar->spools_open <= c->queued || c->queued >= ARCHIVE_BATCH_MAX)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += ARCHIVE_LINGER_US * 1000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (ar->spools_open > c->queued && c->queued < ARCHIVE_BATCH_MAX
	       && !c->stopping
	       && pthread_cond_timedwait(&c->work, &c->lock, &until) == 0)
		;
}

/* committer_main - the committer thread */
static void *
committer_main(void *arg)
{
	archive *ar = arg;
	committer *c = &ar->com;
	commit_req *batch;
	mk_error err;
	int rc;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->head == NULL && !c->stopping)
			idle_wait(ar, c);
		if (c->head == NULL) {
			if (c->index_behind)	/* a last try before closing */
				index_batch(ar, NULL);
			break;
		}
		linger(ar, c);
		batch = take_batch(c);
		pthread_mutex_unlock(&c->lock);
		rc = commit_batch(ar, batch, &err);
		c->wrote |= rc == 0;
		finish_batch(c, batch, rc, &err);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* committer_start - start the committer thread of a writer */
int
committer_start(archive *ar, mk_error *err)
{
	committer *c = &ar->com;
	int rc;

	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	if ((rc = pthread_create(&c->thread, NULL, committer_main, ar)) != 0)
		return mk_error_set(err, "cannot start committer thread: %s",
				    strerror(rc));
	c->running = true;
	return 0;
}

/* committer_stop - let the committer drain the queue, then join it */
void
committer_stop(archive *ar)
{
	committer *c = &ar->com;

	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	c->running = false;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->work);
}

/* committer_spools - count a message being received (+1) or no longer
 * (-1): the batches linger for those (linger()) */
void
committer_spools(archive *ar, int delta)
{
	pthread_mutex_lock(&ar->com.lock);
	ar->spools_open += delta;
	pthread_mutex_unlock(&ar->com.lock);
}

/* committer_submit - queue req and wait until it is durable or failed */
int
committer_submit(archive *ar, commit_req *req)
{
	committer *c = &ar->com;

	req->next = NULL;
	req->done = false;
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		return mk_error_set(&req->err, "archive is closing");
	}
	pthread_cond_init(&req->woken, NULL);
	if (c->tail != NULL)
		c->tail->next = req;
	else
		c->head = req;
	c->tail = req;
	c->queued++;
	pthread_cond_signal(&c->work);
	while (!req->done)
		pthread_cond_wait(&req->woken, &c->lock);
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&req->woken);
	return req->rc;
}
