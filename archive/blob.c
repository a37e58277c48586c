/*
 * blob.c - the blob format: content compressed with zstd or zlib, then
 * sealed with AES-256-GCM, written and read as a stream (docs/FORMAT.md,
 * "Blobs").
 *
 *	offset	size
 *	0	6	magic "MKBLOB"
 *	6	1	format version (1)
 *	7	1	compression: 0 none, 1 zlib (RFC 1950), 2 zstd (one
 *			RFC 8878 frame, window at most 2^BLOB_ZSTD_WINDOW_LOG)
 *	8	1	cipher: 0 none, 1 AES-256-GCM under data key G,
 *			2 AES-256-GCM under the day key of its content segment
 *	9	3	zero
 *	12	4	data key generation G, big-endian (0 for ciphers 0, 2)
 *	16	12	GCM nonce (zero without cipher)
 *	28	...	the (compressed) content, encrypted
 *	end-16	16	GCM tag (only with cipher)
 *
 * A blob is a file of its own (blobs/, format 3) or a span of a content
 * segment (content/, format 4), read through a blob_span either way.
 * The 28 header bytes are the additional authenticated data, so a header
 * that was changed (another key, another nonce, another codec) fails
 * authentication.  Neither side ever holds more than two buffers of
 * BLOB_CHUNK bytes, whatever the size of the message, besides the codec's
 * own state: zstd's window is bounded on both sides, so that a large
 * message (or a forged frame) cannot make a reader allocate more.
 * Compression contexts are pooled (codec_pools): starting one costs a
 * small message more than compressing it.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>
#include <zstd.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* zstd's window: 2 MiB at level 3 and above, the most a reader accepts;
 * 512 KiB below (zstd's own choice there), which halves the memory of a
 * compression context (1.3 MiB instead of 2.8 MiB at level 1). */
#define BLOB_ZSTD_WINDOW_LOG	21
#define BLOB_ZSTD_FAST_WINDOW_LOG 19

static const unsigned char blob_magic[6] = { 'M', 'K', 'B', 'L', 'O', 'B' };
static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

struct blob_writer {
	int fd;
	mk_codec codec;
	z_stream *z;			/* zlib: from the pool */
	ZSTD_CCtx *zc;			/* zstd: from the pool */
	codec_pools *pools;
	bool reusable;			/* z ended cleanly */
	EVP_CIPHER_CTX *gcm;		/* NULL: not encrypted */
	size_t used;			/* bytes waiting in out */
	unsigned char out[BLOB_CHUNK];
};

/* codec_pools_init - empty pools */
void
codec_pools_init(codec_pools *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
}

/* codec_pools_free - end every pooled context */
void
codec_pools_free(codec_pools *p)
{
	while (p->deflaters.n > 0) {
		z_stream *z = p->deflaters.free[--p->deflaters.n];

		deflateEnd(z);
		free(z);
	}
	while (p->zstd_c.n > 0)
		ZSTD_freeCCtx(p->zstd_c.free[--p->zstd_c.n]);
	while (p->zstd_d.n > 0)
		ZSTD_freeDCtx(p->zstd_d.free[--p->zstd_d.n]);
	pthread_mutex_destroy(&p->lock);
}

/* pool_take - a context from list l of p, or NULL (p NULL: no pooling) */
static void *
pool_take(codec_pools *p, codec_list *l)
{
	void *c = NULL;

	if (p == NULL)
		return NULL;
	pthread_mutex_lock(&p->lock);
	if (l->n > 0)
		c = l->free[--l->n];
	pthread_mutex_unlock(&p->lock);
	return c;
}

/* pool_keep - put c into list l of p; false when there is no room (the
 * caller frees c) */
static bool
pool_keep(codec_pools *p, codec_list *l, void *c)
{
	bool kept = false;

	if (p == NULL)
		return false;
	pthread_mutex_lock(&p->lock);
	if (l->n < CODEC_POOL_MAX) {
		l->free[l->n++] = c;
		kept = true;
	}
	pthread_mutex_unlock(&p->lock);
	return kept;
}

/* deflate_take - a deflate stream at level: a pooled one (deflateInit
 * allocates and clears ~256 KiB, which costs a small message more than
 * compressing it), or a new one; NULL when out of memory */
static z_stream *
deflate_take(codec_pools *p, int level)
{
	z_stream *z = pool_take(p, p != NULL ? &p->deflaters : NULL);

	if (z != NULL) {
		if (deflateParams(z, level, Z_DEFAULT_STRATEGY) == Z_OK)
			return z;
		deflateEnd(z);
		free(z);
	}
	if ((z = calloc(1, sizeof(*z))) != NULL && deflateInit(z, level) != Z_OK) {
		free(z);
		z = NULL;
	}
	return z;
}

/* deflate_give - back to the pool when it is reset cleanly and there is
 * room, else ended */
static void
deflate_give(codec_pools *p, z_stream *z, bool reusable)
{
	if (reusable && deflateReset(z) == Z_OK
	    && pool_keep(p, p != NULL ? &p->deflaters : NULL, z))
		return;
	deflateEnd(z);
	free(z);
}

/* zstd_take - a zstd compression context at level, window bounded, no
 * checksum (FORMAT.md 2): a pooled one, or a new one; NULL on failure */
static ZSTD_CCtx *
zstd_take(codec_pools *p, int level)
{
	ZSTD_CCtx *c = pool_take(p, p != NULL ? &p->zstd_c : NULL);

	if (c == NULL && (c = ZSTD_createCCtx()) == NULL)
		return NULL;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel,
						level))
	    || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog,
						   level < 3 ? BLOB_ZSTD_FAST_WINDOW_LOG
						   : BLOB_ZSTD_WINDOW_LOG))
	    || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0))) {
		ZSTD_freeCCtx(c);
		return NULL;
	}
	return c;
}

/* zstd_give - a compression context back to the pool, its frame
 * abandoned if unfinished, or freed */
static void
zstd_give(codec_pools *p, ZSTD_CCtx *c)
{
	if (!ZSTD_isError(ZSTD_CCtx_reset(c, ZSTD_reset_session_only))
	    && pool_keep(p, p != NULL ? &p->zstd_c : NULL, c))
		return;
	ZSTD_freeCCtx(c);
}

/* unzstd_take - a zstd decompression context that refuses a window over
 * 2^BLOB_ZSTD_WINDOW_LOG; NULL on failure */
static ZSTD_DCtx *
unzstd_take(codec_pools *p)
{
	ZSTD_DCtx *d = pool_take(p, p != NULL ? &p->zstd_d : NULL);

	if (d == NULL && (d = ZSTD_createDCtx()) == NULL)
		return NULL;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax,
						BLOB_ZSTD_WINDOW_LOG))) {
		ZSTD_freeDCtx(d);
		return NULL;
	}
	return d;
}

/* unzstd_give - a decompression context back to the pool, or freed */
static void
unzstd_give(codec_pools *p, ZSTD_DCtx *d)
{
	if (!ZSTD_isError(ZSTD_DCtx_reset(d, ZSTD_reset_session_only))
	    && pool_keep(p, p != NULL ? &p->zstd_d : NULL, d))
		return;
	ZSTD_freeDCtx(d);
}

/* blob_header - the header bytes of a blob */
static void
blob_header(unsigned char h[BLOB_HEADER], mk_codec codec, unsigned cipher,
	    unsigned key_gen, const unsigned char nonce[KEYS_NONCE])
{
	memset(h, 0, BLOB_HEADER);
	memcpy(h, blob_magic, sizeof(blob_magic));
	h[6] = BLOB_VERSION;
	h[7] = (unsigned char)codec;
	h[8] = (unsigned char)cipher;
	h[12] = (unsigned char)(key_gen >> 24);
	h[13] = (unsigned char)(key_gen >> 16);
	h[14] = (unsigned char)(key_gen >> 8);
	h[15] = (unsigned char)key_gen;
	if (cipher != BLOB_CIPHER_NONE)
		memcpy(h + 16, nonce, KEYS_NONCE);
}

/* start_cipher - the GCM context of a new blob, header as AAD */
static EVP_CIPHER_CTX *
start_cipher(const unsigned char *key, const unsigned char *nonce,
	     const unsigned char h[BLOB_HEADER], int encrypt)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;

	if (c == NULL
	    || EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce,
				 encrypt) != 1
	    || EVP_CipherUpdate(c, NULL, &n, h, BLOB_HEADER) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	return c;
}

/* blob_writer_new - write the header of a new blob to fd.  key NULL: not
 * encrypted; key_gen 0: key is a segment's day key (cipher 2), else data
 * key key_gen (cipher 1); codec MK_CODEC_NONE: not compressed, else at level; pools
 * NULL: contexts are not reused.  Caller frees with blob_writer_free */
blob_writer *
blob_writer_new(int fd, mk_codec codec, int level, const unsigned char *key,
		unsigned key_gen, codec_pools *pools, mk_error *err)
{
	blob_writer *w = calloc(1, sizeof(*w));
	unsigned char h[BLOB_HEADER], nonce[KEYS_NONCE];

	if (w == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	w->fd = fd;
	w->codec = codec;
	w->pools = pools;
	if (key != NULL && RAND_bytes(nonce, sizeof(nonce)) != 1) {
		mk_error_set(err, "no randomness for a nonce");
		goto fail;
	}
	blob_header(h, codec, key == NULL ? BLOB_CIPHER_NONE
		    : key_gen == 0 ? BLOB_CIPHER_DAY : BLOB_CIPHER_DATA,
		    key != NULL ? key_gen : 0, nonce);
	if (key != NULL && (w->gcm = start_cipher(key, nonce, h, 1)) == NULL) {
		mk_error_set(err, "cannot start AES-256-GCM");
		goto fail;
	}
	if (codec == MK_CODEC_ZLIB && (w->z = deflate_take(pools, level)) == NULL) {
		mk_error_set(err, "cannot start zlib");
		goto fail;
	}
	if (codec == MK_CODEC_ZSTD && (w->zc = zstd_take(pools, level)) == NULL) {
		mk_error_set(err, "cannot start zstd at level %d", level);
		goto fail;
	}
	if (write_all(fd, h, sizeof(h)) != 0) {
		mk_error_errno(err, "write blob header");
		goto fail;
	}
	return w;
fail:
	blob_writer_free(w);
	return NULL;
}

/* flush_out - encrypt what waits in w->out (in place) and write it */
static int
flush_out(blob_writer *w, mk_error *err)
{
	int n;

	if (w->used == 0)
		return 0;
	if (w->gcm != NULL
	    && EVP_EncryptUpdate(w->gcm, w->out, &n, w->out, (int)w->used) != 1)
		return mk_error_set(err, "AES-256-GCM failed");
	if (write_all(w->fd, w->out, w->used) != 0)
		return mk_error_errno(err, "write blob");
	w->used = 0;
	return 0;
}

/* deflate_into - run zlib on in (flush: Z_NO_FLUSH or Z_FINISH) */
static int
deflate_into(blob_writer *w, const void *in, size_t len, int flush,
	     mk_error *err)
{
	int zrc;

	w->z->next_in = (unsigned char *)in;
	w->z->avail_in = (uInt)len;
	do {
		w->z->next_out = w->out + w->used;
		w->z->avail_out = (uInt)(BLOB_CHUNK - w->used);
		zrc = deflate(w->z, flush);
		if (zrc == Z_STREAM_ERROR)
			return mk_error_set(err, "zlib deflate failed");
		w->used = BLOB_CHUNK - w->z->avail_out;
		if (w->used == BLOB_CHUNK && flush_out(w, err) != 0)
			return -1;
	} while (w->z->avail_in > 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
	return 0;
}

/* zstd_into - run zstd on in (end: ZSTD_e_continue or ZSTD_e_end) */
static int
zstd_into(blob_writer *w, const void *in, size_t len, ZSTD_EndDirective end,
	  mk_error *err)
{
	ZSTD_inBuffer src = { in, len, 0 };
	ZSTD_outBuffer dst;
	size_t left;

	do {
		dst = (ZSTD_outBuffer){ w->out, BLOB_CHUNK, w->used };
		left = ZSTD_compressStream2(w->zc, &dst, &src, end);
		if (ZSTD_isError(left))
			return mk_error_set(err, "zstd: %s",
					    ZSTD_getErrorName(left));
		w->used = dst.pos;
		if (w->used == BLOB_CHUNK && flush_out(w, err) != 0)
			return -1;
	} while (src.pos < src.size || (end == ZSTD_e_end && left != 0));
	return 0;
}

/* copy_into - append in to w->out uncompressed */
static int
copy_into(blob_writer *w, const unsigned char *in, size_t len, mk_error *err)
{
	size_t n;

	while (len > 0) {
		n = BLOB_CHUNK - w->used;
		n = n < len ? n : len;
		memcpy(w->out + w->used, in, n);
		w->used += n;
		in += n;
		len -= n;
		if (w->used == BLOB_CHUNK && flush_out(w, err) != 0)
			return -1;
	}
	return 0;
}

/* blob_writer_write - add content bytes */
int
blob_writer_write(blob_writer *w, const void *buf, size_t len, mk_error *err)
{
	const unsigned char *p = buf;
	size_t n;

	if (w->codec == MK_CODEC_NONE)
		return copy_into(w, p, len, err);
	if (w->codec == MK_CODEC_ZSTD)
		return zstd_into(w, p, len, ZSTD_e_continue, err);
	while (len > 0) {	/* avail_in is 32 bits */
		n = len > (1u << 30) ? (1u << 30) : len;
		if (deflate_into(w, p, n, Z_NO_FLUSH, err) != 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* release_codec - give w's compression context back to the pool as soon
 * as the content is compressed: a message waiting for its commit holds
 * none (a zstd context is 1.3 MiB; 200 sessions waiting held 80 MiB) */
static void
release_codec(blob_writer *w)
{
	if (w->z != NULL)
		deflate_give(w->pools, w->z, w->reusable);
	if (w->zc != NULL)
		zstd_give(w->pools, w->zc);
	w->z = NULL;
	w->zc = NULL;
}

/* blob_writer_finish - end the stream: last bytes and the GCM tag */
int
blob_writer_finish(blob_writer *w, mk_error *err)
{
	unsigned char tag[KEYS_TAG];
	int n;

	if (w->codec == MK_CODEC_ZLIB
	    && deflate_into(w, NULL, 0, Z_FINISH, err) != 0)
		return -1;
	if (w->codec == MK_CODEC_ZSTD
	    && zstd_into(w, NULL, 0, ZSTD_e_end, err) != 0)
		return -1;
	w->reusable = true;
	release_codec(w);
	if (flush_out(w, err) != 0)
		return -1;
	if (w->gcm == NULL)
		return 0;
	if (EVP_EncryptFinal_ex(w->gcm, tag, &n) != 1
	    || EVP_CIPHER_CTX_ctrl(w->gcm, EVP_CTRL_GCM_GET_TAG, KEYS_TAG,
				   tag) != 1)
		return mk_error_set(err, "AES-256-GCM tag failed");
	if (write_all(w->fd, tag, sizeof(tag)) != 0)
		return mk_error_errno(err, "write blob");
	return 0;
}

/* blob_writer_free - release w (the fd is the caller's); NULL ok */
void
blob_writer_free(blob_writer *w)
{
	if (w == NULL)
		return;
	if (w->z != NULL)
		deflate_give(w->pools, w->z, w->reusable);
	if (w->zc != NULL)
		zstd_give(w->pools, w->zc);
	EVP_CIPHER_CTX_free(w->gcm);
	free(w);
}

/* The state of one blob being read. */
typedef struct blob_reader {
	int fd;
	off_t pos;			/* where the next read starts */
	off_t left;			/* payload bytes still to read */
	mk_codec codec;
	z_stream z;			/* zlib */
	ZSTD_DCtx *zd;			/* zstd: from the pool */
	codec_pools *pools;
	unsigned magic;			/* zstd: bytes of its magic seen */
	bool frame_done;		/* zstd: the frame's end was read */
	EVP_CIPHER_CTX *gcm;
	archive_sink_fn sink;
	void *ctx;
	bool broken;			/* the codec or the sink failed:
					   drain only */
	mk_error why;			/* ... and why */
	unsigned char in[BLOB_CHUNK];
	unsigned char out[BLOB_CHUNK];
} blob_reader;

/* read_at - read exactly len bytes at r->pos; 0 or -1 */
static int
read_at(blob_reader *r, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		if ((n = pread(r->fd, (char *)buf + got, len - got, r->pos)) <= 0)
			return -1;
		got += (size_t)n;
		r->pos += n;
	}
	return 0;
}

/* header_key - the key a blob header names: data key G (cipher 1) or
 * the span's day key (cipher 2); NULL with err */
static const unsigned char *
header_key(const unsigned char h[BLOB_HEADER], const keyring *kr,
	   const blob_span *span, mk_error *err)
{
	unsigned gen = (unsigned)h[12] << 24 | (unsigned)h[13] << 16
	    | (unsigned)h[14] << 8 | h[15];
	const unsigned char *key;

	if (h[8] == BLOB_CIPHER_DAY) {
		if (span->day_key == NULL)
			mk_error_set(err, "a day-key blob outside a content"
				     " segment, or its day key is gone");
		return span->day_key;
	}
	if ((key = keyring_data_key(kr, gen)) == NULL)
		mk_error_set(err, "data key %u is not in keys/", gen);
	return key;
}

/* parse_header - check the header, find its key, start the cipher */
static int
parse_header(blob_reader *r, const keyring *kr, const blob_span *span,
	     off_t size, mk_error *err)
{
	unsigned char h[BLOB_HEADER];
	const unsigned char *key;

	if (size < BLOB_HEADER || read_at(r, h, BLOB_HEADER) != 0)
		return mk_error_set(err, "too short for a blob");
	if (memcmp(h, blob_magic, sizeof(blob_magic)) != 0)
		return mk_error_set(err, "not a mailkeep blob (bad magic)");
	if (h[6] != BLOB_VERSION || h[7] > MK_CODEC_ZSTD
	    || h[8] > BLOB_CIPHER_DAY)
		return mk_error_set(err, "unknown blob format %u/%u/%u",
				    h[6], h[7], h[8]);
	r->codec = h[7];
	r->left = size - BLOB_HEADER;
	if (h[8] == BLOB_CIPHER_NONE)
		return 0;
	if ((key = header_key(h, kr, span, err)) == NULL)
		return -1;
	if (r->left < KEYS_TAG)
		return mk_error_set(err, "too short for an encrypted blob");
	r->left -= KEYS_TAG;
	if ((r->gcm = start_cipher(key, h + 16, h, 0)) == NULL)
		return mk_error_set(err, "cannot start AES-256-GCM");
	return 0;
}

/* unzstd - pass plaintext on through zstd: one frame, and nothing after
 * it (not even a skippable frame) */
static int
unzstd(blob_reader *r, const unsigned char *buf, size_t len, mk_error *err)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	ZSTD_outBuffer out;
	size_t zrc;

	for (; r->magic < sizeof(zstd_magic) && in.pos < len; in.pos++)
		if (buf[in.pos] != zstd_magic[r->magic++])
			return mk_error_set(err, "zstd: not a zstd frame");
	in.pos = 0;
	do {
		if (r->frame_done) {
			if (in.pos < in.size)
				return mk_error_set(err, "bytes after the zstd"
						    " frame");
			break;
		}
		out = (ZSTD_outBuffer){ r->out, BLOB_CHUNK, 0 };
		zrc = ZSTD_decompressStream(r->zd, &out, &in);
		if (ZSTD_isError(zrc))
			return mk_error_set(err, "zstd: %s",
					    ZSTD_getErrorName(zrc));
		if (out.pos > 0 && r->sink(r->out, out.pos, r->ctx) != 0)
			return mk_error_set(err, "cannot write the content out");
		r->frame_done = zrc == 0;
	} while (in.pos < in.size || out.pos == out.size);
	return 0;
}

/* emit - pass plaintext on, through the codec when compressed */
static int
emit(blob_reader *r, unsigned char *buf, size_t len, mk_error *err)
{
	int zrc;

	if (r->codec == MK_CODEC_NONE)
		return r->sink(buf, len, r->ctx) == 0 ? 0
		    : mk_error_set(err, "cannot write the content out");
	if (r->codec == MK_CODEC_ZSTD)
		return unzstd(r, buf, len, err);
	r->z.next_in = buf;
	r->z.avail_in = (uInt)len;
	do {	/* until the input is used up and no output is pending */
		r->z.next_out = r->out;
		r->z.avail_out = BLOB_CHUNK;
		zrc = inflate(&r->z, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
			return mk_error_set(err, "zlib: %s", r->z.msg
					    ? r->z.msg : "inflate failed");
		if (zrc == Z_STREAM_END && r->z.avail_in > 0)
			return mk_error_set(err, "bytes after the zlib stream");
		if (BLOB_CHUNK - r->z.avail_out > 0
		    && r->sink(r->out, BLOB_CHUNK - r->z.avail_out, r->ctx) != 0)
			return mk_error_set(err, "cannot write the content out");
	} while (zrc == Z_OK && (r->z.avail_in > 0 || r->z.avail_out == 0));
	return 0;
}

/* read_payload - stream the payload through the cipher and the codec.
 * When the codec fails on an encrypted blob, the rest is still decrypted so that
 * the tag can say whether the bytes were altered (the likely cause). */
static int
read_payload(blob_reader *r, mk_error *err)
{
	ssize_t n;
	size_t want;
	int outl;

	while (r->left > 0) {
		want = r->left > BLOB_CHUNK ? BLOB_CHUNK : (size_t)r->left;
		if ((n = pread(r->fd, r->in, want, r->pos)) <= 0)
			return n == 0 ? mk_error_set(err, "cut short")
			    : mk_error_errno(err, "read");
		r->pos += n;
		r->left -= n;
		if (r->gcm != NULL
		    && EVP_DecryptUpdate(r->gcm, r->in, &outl, r->in, (int)n) != 1)
			return mk_error_set(err, "AES-256-GCM failed");
		if (!r->broken && emit(r, r->in, (size_t)n, &r->why) != 0) {
			if (r->gcm == NULL)
				return mk_error_set(err, "%s", r->why.msg);
			r->broken = true;
		}
	}
	return 0;
}

/* check_end - the GCM tag matches, and the zlib stream or zstd frame is
 * complete */
static int
check_end(blob_reader *r, mk_error *err)
{
	unsigned char tag[KEYS_TAG];
	int outl;

	if (r->gcm != NULL) {
		if (read_at(r, tag, KEYS_TAG) != 0)
			return mk_error_set(err, "cannot read the tag");
		if (EVP_CIPHER_CTX_ctrl(r->gcm, EVP_CTRL_GCM_SET_TAG, KEYS_TAG,
					tag) != 1
		    || EVP_DecryptFinal_ex(r->gcm, tag, &outl) != 1)
			return mk_error_set(err, "authentication failed"
					    " (AES-256-GCM tag): altered or"
					    " wrong key");
	}
	if (r->broken)
		return mk_error_set(err, "%s", r->why.msg);
	r->z.next_out = r->out;
	r->z.avail_out = BLOB_CHUNK;
	if (r->codec == MK_CODEC_ZLIB && inflate(&r->z, Z_FINISH) != Z_STREAM_END)
		return mk_error_set(err, "zlib stream cut short");
	if (r->codec == MK_CODEC_ZSTD && !r->frame_done)
		return mk_error_set(err, "zstd frame cut short");
	return 0;
}

/* span_size - the bytes of span: its length, or the rest of its file */
static int
span_size(const blob_span *span, off_t *size, mk_error *err)
{
	struct stat st;

	if (span->len >= 0) {
		*size = span->len;
		return 0;
	}
	if (fstat(span->fd, &st) != 0)
		return mk_error_errno(err, "stat");
	*size = st.st_size > span->off ? st.st_size - span->off : 0;
	return 0;
}

/* blob_read - stream the content of the blob at span to sink, with a
 * decompression context of pools (NULL: a new one).  The sink may see
 * bytes before a failure (of the tag, at the end) is known. */
int
blob_read(const blob_span *span, const keyring *kr, codec_pools *pools,
	  archive_sink_fn sink, void *ctx, mk_error *err)
{
	blob_reader *r = calloc(1, sizeof(*r));
	off_t size = 0;
	int rc = -1;

	if (r == NULL)
		return mk_error_set(err, "out of memory");
	r->fd = span->fd;
	r->pos = span->off;
	r->sink = sink;
	r->ctx = ctx;
	r->pools = pools;
	if (span_size(span, &size, err) != 0)
		;
	else if (parse_header(r, kr, span, size, err) != 0)
		;
	else if (r->codec == MK_CODEC_ZLIB && inflateInit(&r->z) != Z_OK)
		mk_error_set(err, "cannot start zlib");
	else if (r->codec == MK_CODEC_ZSTD
		 && (r->zd = unzstd_take(pools)) == NULL)
		mk_error_set(err, "cannot start zstd");
	else {
		rc = read_payload(r, err) == 0 && check_end(r, err) == 0 ? 0 : -1;
		if (r->codec == MK_CODEC_ZLIB)
			inflateEnd(&r->z);
		if (r->zd != NULL)
			unzstd_give(pools, r->zd);
	}
	EVP_CIPHER_CTX_free(r->gcm);
	free(r);
	return rc;
}
