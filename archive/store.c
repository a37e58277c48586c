/*
 * store.c - receiving one message: the spool file and its commit.
 *
 * A message streams into a spool file in the blob format
 * (blob.c: compressed, encrypted as it arrives, so the content is never
 * on disk in clear) while the SHA-256 of the raw bytes is computed;
 * memory does not grow with the message.  The content is encrypted under
 * the day key of the group it will be stored in (content.c), which the
 * message's retention names, so it is known when the spool begins.  At
 * commit the blob is finished and placed in its group's content segment
 * (copied there, or found there already: identical content is stored once
 * a group), without a sync of its own: the committer syncs each segment
 * once a batch.  The record is built, signed and sealed here too
 * (record.c), in the caller's thread, where many run at once.
 * Then the committer takes the record (committer.c) and answers when
 * everything is durable.  Spool files are anonymous (O_TMPFILE in spool/:
 * a crash leaves nothing behind) and reused, emptied, by later messages,
 * so that receiving a message creates and removes no file.
 * spool_cleanup() removes what writers of earlier versions left there.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

struct archive_spool {
	archive *ar;
	bool peer_unconfirmed;		/* forwarding: the writer's answer to
					   the begin not read yet */
	int peer_fd;			/* forwarding: the connection to the
					   writer (forward.c); else -1 */
	int fd;				/* anonymous (O_TMPFILE) */
	bool reusable;			/* its blob was placed: keep fd */
	bool counted;			/* in ar->spools_open */
	EVP_MD_CTX *sha;
	blob_writer *blob;		/* gathers small writes itself */
	int64_t size;
	int64_t retain_until;		/* names the group, and its key */
};

/* spool_cleanup - remove what a crashed writer left in spool/ */
void
spool_cleanup(archive *ar)
{
	char *dir = path_join(ar->dir, "spool");
	DIR *d;
	struct dirent *de;

	if (dir == NULL || (d = opendir(dir)) == NULL) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	free(dir);
}

/* spool_key - the key of retain_until's group into key, or NULL when
 * content is not encrypted */
static const unsigned char *
spool_key(archive *ar, int64_t retain_until, unsigned char key[KEYS_AES],
	  mk_error *err)
{
	char group[CONTENT_GROUP_MAX];

	if (!ar->opts.encrypt) {
		err->msg[0] = '\0';
		return NULL;
	}
	content_group(retain_until, group);
	return content_day_key(ar, group, true, key, err) == 0 ? key : NULL;
}

/* retention_over - does a retention that ends at retain_until end on a
 * day that has begun?  No message is stored into a group whose day has
 * come: expiry (expire.c) removes such groups beside the writer, and
 * their keys */
static int
retention_over(int64_t retain_until, mk_error *err)
{
	if (retain_until <= 0
	    || retain_until - retain_until % 86400 > (int64_t)time(NULL))
		return 0;
	return mk_error_set(err, "its retention ends at %lld, on a day that"
			    " has begun: not kept", (long long)retain_until);
}

/* spool_pool_init - no spool file kept yet */
void
spool_pool_init(archive *ar)
{
	pthread_mutex_init(&ar->spools.lock, NULL);
	ar->spools.n = 0;
}

/* spool_pool_free - close the spool files kept */
void
spool_pool_free(archive *ar)
{
	while (ar->spools.n > 0)
		close(ar->spools.fds[--ar->spools.n]);
}

/* named_then_unlinked - a new file in dir, removed at once (where the
 * file system has no O_TMPFILE); -1 with errno */
static int
named_then_unlinked(const char *dir)
{
	char *path = path_join(dir, "msg.XXXXXX");
	int fd, saved;

	if (path == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) >= 0 && unlink(path) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		fd = -1;
	}
	free(path);
	return fd;
}

/* spool_open - an empty spool file: one kept from an earlier message, or
 * a new anonymous file in spool/ (nothing to remove after a crash) */
static int
spool_open(archive *ar, mk_error *err)
{
	spool_pool *p = &ar->spools;
	char *dir;
	int fd = -1;

	pthread_mutex_lock(&p->lock);
	if (p->n > 0)
		fd = p->fds[--p->n];
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0)
		return fd;
	if ((dir = path_join(ar->dir, "spool")) == NULL)
		return mk_error_set(err, "out of memory");
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR))
		fd = named_then_unlinked(dir);	/* no O_TMPFILE there */
	if (fd < 0)
		mk_error_errno(err, "cannot create a spool file in %s", dir);
	free(dir);
	return fd;
}

/* spool_keep - give fd back for another message, emptied; closed when it
 * cannot be emptied or enough are kept */
static void
spool_keep(archive *ar, int fd)
{
	spool_pool *p = &ar->spools;

	if (ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0) {
		pthread_mutex_lock(&p->lock);
		if (p->n < SPOOL_POOL_MAX) {
			p->fds[p->n++] = fd;
			fd = -1;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (fd >= 0)
		close(fd);
}

/* forwarded_begin - a spool begun at the writer of the archive, which
 * another process holds (forward.c) */
static archive_spool *
forwarded_begin(archive *ar, int64_t retain_until, mk_error *err)
{
	archive *w = forward_writer(ar);
	archive_spool *sp;

	if (w != NULL)	/* this process became the writer */
		return archive_spool_begin(w, retain_until, err);
	/* what the writer would refuse is refused here, at once: its answer
	 * to the begin is read only later (forward.c) */
	if (retention_over(retain_until, err) != 0)
		return NULL;
	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	sp->ar = ar;
	sp->fd = -1;
	sp->retain_until = retain_until;
	if ((sp->peer_fd = forward_begin(ar, retain_until,
					 &sp->peer_unconfirmed, err)) >= 0)
		return sp;
	w = sp->peer_fd == -2 ? forward_promote(ar, err) : NULL;
	free(sp);
	return w != NULL ? archive_spool_begin(w, retain_until, err) : NULL;
}

/* forwarded_metadata - archive_store_metadata() at the writer, or at the
 * writer this process became */
static int
forwarded_metadata(archive *ar, const archive_envelope *env, int64_t size,
		   char id_out[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	archive *w = forward_writer(ar);
	int rc;

	if (w == NULL && (rc = forward_metadata(ar, env, size, id_out,
						 err)) != -2)
		return rc;
	if (w == NULL && (w = forward_promote(ar, err)) == NULL)
		return -1;
	return archive_store_metadata(w, env, size, id_out, err);
}

/* archive_spool_begin - create the spool file of a new message */
archive_spool *
archive_spool_begin(archive *ar, int64_t retain_until, mk_error *err)
{
	unsigned char key[KEYS_AES];
	const unsigned char *k;
	archive_spool *sp;

	if (ar->forwarding)
		return forwarded_begin(ar, retain_until, err);
	if (ar->mode != ARCHIVE_WRITE) {
		mk_error_set(err, "archive opened read-only");
		return NULL;
	}
	if (retention_over(retain_until, err) != 0)
		return NULL;
	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	sp->ar = ar;
	sp->peer_fd = -1;
	sp->fd = -1;
	sp->retain_until = retain_until;
	if ((sp->sha = EVP_MD_CTX_new()) == NULL
	    || EVP_DigestInit_ex(sp->sha, EVP_sha256(), NULL) != 1) {
		mk_error_set(err, "out of memory");
		goto fail;
	}
	if ((sp->fd = spool_open(ar, err)) < 0)
		goto fail;
	if ((k = spool_key(ar, retain_until, key, err)) == NULL
	    && err->msg[0] != '\0')
		goto fail;
	sp->blob = blob_writer_new(sp->fd, ar->opts.codec, ar->opts.compression,
				   k, 0, &ar->codecs, err);
	OPENSSL_cleanse(key, sizeof(key));
	if (sp->blob == NULL)
		goto fail;
	committer_spools(ar, +1);
	sp->counted = true;
	return sp;
fail:
	archive_spool_discard(sp);
	return NULL;
}

/* archive_spool_write - append bytes to the blob and to the digest */
int
archive_spool_write(archive_spool *sp, const void *buf, size_t len,
		    mk_error *err)
{
	mk_error why;

	if (sp->peer_fd >= 0)
		return forward_write(sp->peer_fd, &sp->peer_unconfirmed, buf,
				     len, err);
	if (EVP_DigestUpdate(sp->sha, buf, len) != 1)
		return mk_error_set(err, "SHA-256 update failed");
	sp->size += (int64_t)len;
	if (blob_writer_write(sp->blob, buf, len, &why) != 0)
		return mk_error_set(err, "spool file: %s", why.msg);
	return 0;
}

/* archive_spool_discard - remove the spool file and free sp */
void
archive_spool_discard(archive_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->peer_fd >= 0)	/* the writer discards its spool */
		close(sp->peer_fd);
	blob_writer_free(sp->blob);
	if (sp->counted)
		committer_spools(sp->ar, -1);
	if (sp->fd >= 0 && sp->reusable)
		spool_keep(sp->ar, sp->fd);
	else if (sp->fd >= 0)
		close(sp->fd);
	EVP_MD_CTX_free(sp->sha);
	free(sp);
}

/* new_message_id - 12 hex digits of milliseconds, 12 of randomness */
static int
new_message_id(int64_t received_at, char id[ARCHIVE_ID_LEN + 1],
	       mk_error *err)
{
	unsigned char rnd[6];
	char rhex[13];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return mk_error_set(err, "no randomness for a message id");
	hex_encode(rnd, sizeof(rnd), rhex);
	snprintf(id, ARCHIVE_ID_LEN + 1, "%012llx%s",
		 (unsigned long long)(received_at / 1000) & 0xffffffffffffULL,
		 rhex);
	return 0;
}

/* spool_to_content - finish the blob and place it in its group's
 * content segment (content.c) */
static int
spool_to_content(archive_spool *sp, commit_req *req, mk_error *err)
{
	unsigned char md[32];
	mk_error why;
	off_t len;

	if (EVP_DigestFinal_ex(sp->sha, md, NULL) != 1)
		return mk_error_set(err, "SHA-256 final failed");
	hex_encode(md, sizeof(md), req->sha256);
	req->size = sp->size;
	if (blob_writer_finish(sp->blob, &why) != 0)
		return mk_error_set(err, "spool file: %s", why.msg);
	if ((len = lseek(sp->fd, 0, SEEK_CUR)) < 0)
		return mk_error_errno(err, "spool file");
	if (content_place(sp->ar, sp->fd, len, req, sp->retain_until, err) != 0)
		return -1;
	sp->reusable = true;
	return 0;
}

/* prepare_req - check the envelope, give the message its id and time */
static int
prepare_req(const archive_envelope *env, commit_req *req, mk_error *err)
{
	if (env->n_rcpts > ARCHIVE_MAX_RCPTS)
		return mk_error_set(err, "%zu recipients, more than the limit of %d",
				    env->n_rcpts, ARCHIVE_MAX_RCPTS);
	if (retention_over(env->policy.retain_until, err) != 0)
		return -1;
	req->env = env;
	req->received_at = env->received_at ? env->received_at : now_micros();
	return new_message_id(req->received_at, req->id, err);
}

/* submit - seal req's record, hand it to the committer; the id out once
 * durable */
static int
submit(archive *ar, commit_req *req, char id_out[ARCHIVE_ID_LEN + 1],
       mk_error *err)
{
	int rc = record_seal(ar, req, err);

	if (rc == 0 && (rc = committer_submit(ar, req)) != 0)
		*err = req->err;
	if (rc == 0)
		memcpy(id_out, req->id, sizeof(req->id));
	commit_req_release(req);
	content_release(ar, req);
	return rc;
}

/* archive_spool_commit - store the message durably, then free sp */
int
archive_spool_commit(archive_spool *sp, const archive_envelope *env,
		     char id_out[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	commit_req req = { 0 };
	int rc = -1;

	if (sp->peer_fd >= 0) {	/* the writer checks and commits */
		rc = forward_commit(sp->peer_fd, &sp->peer_unconfirmed, env,
				    id_out, err);
		sp->peer_fd = -1;	/* closed */
		archive_spool_discard(sp);
		return rc;
	}
	if (env->policy.content != ARCHIVE_FULL)
		mk_error_set(err, "content spooled for a metadata-only message");
	else if (env->policy.retain_until != sp->retain_until)
		mk_error_set(err, "the retention of a message changed after its"
			     " content was spooled");
	else if (prepare_req(env, &req, err) == 0
		 && spool_to_content(sp, &req, err) == 0)
		rc = submit(sp->ar, &req, id_out, err);
	else
		content_release(sp->ar, &req);
	archive_spool_discard(sp);
	return rc;
}

/* archive_store_metadata - store the traffic data of a message */
int
archive_store_metadata(archive *ar, const archive_envelope *env, int64_t size,
		       char id_out[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	commit_req req = { 0 };

	if (ar->forwarding)
		return forwarded_metadata(ar, env, size, id_out, err);
	if (ar->mode != ARCHIVE_WRITE)
		return mk_error_set(err, "archive opened read-only");
	if (env->policy.content != ARCHIVE_METADATA)
		return mk_error_set(err, "metadata store of a full-content message");
	if (prepare_req(env, &req, err) != 0)
		return -1;
	req.size = size;
	return submit(ar, &req, id_out, err);
}
