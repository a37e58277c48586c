/*
 * test_integrity.c - unit tests of what makes the archive evidence: the
 * blob format at every size, codec (zlib, zstd), level and cipher
 * setting, an archive with blobs of every codec, zstd frames a reader
 * must refuse (too large a window, bytes after the frame), checkpoints by
 * count and by time, proofs, key rotation, the chain of ledger entries
 * ("prev"), and verify on a whole archive.  Real files, real SQLite, real
 * OpenSSL, in a temporary directory.  The chain test appends through
 * ledger_append() (archive/internal.h) to choose its batches.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zstd.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "archive/merkle.h"
#include "tests/unit/archive_fixture.h"
#include "tests/unit/unit.h"

/* open_codec - the archive for writing with these options */
static archive *
open_codec(int encrypt, mk_codec codec, int level, unsigned entries,
	   unsigned seconds)
{
	archive_options o = ARCHIVE_OPTIONS_DEFAULT;
	mk_error err;
	archive *ar;

	o.encrypt = encrypt;
	o.codec = codec;
	o.compression = level;
	o.checkpoint_entries = entries;
	o.checkpoint_seconds = seconds;
	ar = archive_open_with(dir, ARCHIVE_WRITE, &o, &err);
	ck_assert_msg(ar != NULL, "%s", err.msg);
	return ar;
}

/* open_with - the archive for writing, zlib at level (0: none) */
static archive *
open_with(int encrypt, int level, unsigned entries, unsigned seconds)
{
	return open_codec(encrypt, level ? MK_CODEC_ZLIB : MK_CODEC_NONE,
			  level, entries, seconds);
}

/* store - one message of len bytes, written in chunks of chunk bytes */
static void
store(archive *ar, const unsigned char *text, size_t len, size_t chunk,
      char id[ARCHIVE_ID_LEN + 1])
{
	const char *rcpts[] = { "r@example.com" };
	archive_envelope env = { .mail_from = "s@example.com", .rcpts = rcpts,
				 .n_rcpts = 1, .subject = "t" };
	archive_spool *sp;
	mk_error err;
	size_t off, n;

	ck_assert_ptr_nonnull(sp = archive_spool_begin(ar, env.policy.retain_until, &err));
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		ck_assert_int_eq(archive_spool_write(sp, text + off, n, &err), 0);
	}
	ck_assert_msg(archive_spool_commit(sp, &env, id, &err) == 0, "%s", err.msg);
}

typedef struct buffer { unsigned char *data; size_t len; } buffer;

/* collect - archive_read sink appending to a buffer */
static int
collect(const void *buf, size_t len, void *ctx)
{
	buffer *b = ctx;

	b->data = realloc(b->data, b->len + len);
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return 0;
}

/* make_content - len bytes: text lines, with random bytes in the middle
 * so that compression has both kinds to deal with */
static unsigned char *
make_content(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (i % 3000 > 1500) ? (unsigned char)rand_r(&seed)
		    : (unsigned char)("Subject: words and more words\r\n"[i % 31]);
	if (len >= 4)		/* distinct per seed: no deduplication */
		memcpy(p, &seed, 4);
	return p;
}

/* read_back - the content of id */
static buffer
read_back(archive *ar, const char *id)
{
	buffer b = { 0 };
	mk_error err;

	ck_assert_msg(archive_read(ar, id, collect, &b, &err) == 0, "%s", err.msg);
	return b;
}

/* blob_header - the first 28 bytes of the blob of id */
static void
blob_header(archive *ar, const char *id, unsigned char h[28])
{
	archive_message *m;
	mk_error err;
	char path[256];
	FILE *fp;

	ck_assert_int_eq(archive_lookup(ar, id, &m, &err), 0);
	ck_assert_ptr_nonnull(m->content_file);
	snprintf(path, sizeof(path), "%s/%s", dir, m->content_file);
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	ck_assert_int_eq(fseek(fp, (long)m->content_off, SEEK_SET), 0);
	archive_message_free(m);
	ck_assert_int_eq(fread(h, 1, 28, fp), 28);
	fclose(fp);
}

START_TEST(blob_round_trip_every_size_level_and_cipher)
{
	static const size_t sizes[] = { 0, 1, 27, 65535, 65536, 65537, 1 << 20,
					(3 << 20) + 5 };	/* > the window */
	static const struct { mk_codec codec; int level; } levels[] = {
		{ MK_CODEC_NONE, 0 }, { MK_CODEC_ZLIB, 1 }, { MK_CODEC_ZLIB, 6 },
		{ MK_CODEC_ZLIB, 9 }, { MK_CODEC_ZSTD, MK_ZSTD_MIN_LEVEL },
		{ MK_CODEC_ZSTD, 1 }, { MK_CODEC_ZSTD, 3 }, { MK_CODEC_ZSTD, 12 }
	};
	char id[ARCHIVE_ID_LEN + 1];
	unsigned char h[28];
	size_t s, l;
	int enc;

	for (enc = 0; enc <= 1; enc++)
		for (l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
			archive *ar = open_codec(enc, levels[l].codec,
						 levels[l].level, 1000, 300);

			for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
				unsigned char *c = make_content(sizes[s],
					(unsigned)(s + 10 * l + 100 * enc));
				buffer b;

				store(ar, c, sizes[s], s % 2 ? 1000 : 65536, id);
				b = read_back(ar, id);
				ck_assert_uint_eq(b.len, sizes[s]);
				ck_assert(sizes[s] == 0 || memcmp(b.data, c, sizes[s]) == 0);
				if (sizes[s] < 4)
					goto next;	/* maybe stored before */
				blob_header(ar, id, h);
				ck_assert(memcmp(h, "MKBLOB\1", 7) == 0);
				ck_assert_int_eq(h[7], levels[l].codec);
				/* encrypted under the day key of its segment */
				ck_assert_int_eq(h[8], enc ? 2 : 0);
				ck_assert_int_eq(h[15], 0);	/* no key gen */
next:
				free(b.data);
				free(c);
			}
			archive_close(ar);
		}
}
END_TEST

START_TEST(compressed_blob_is_smaller_and_encrypted_is_unreadable)
{
	char id[ARCHIVE_ID_LEN + 1], cmd[256];
	unsigned char text[100000];
	archive *ar = open_with(1, 6, 1000, 300);
	size_t i;

	for (i = 0; i < sizeof(text); i++)
		text[i] = (unsigned char)("PLAINTEXT-MARKER words words\n"[i % 29]);
	store(ar, text, sizeof(text), 4096, id);
	archive_close(ar);
	snprintf(cmd, sizeof(cmd), "test $(find '%s/content' -type f -printf '%%s\\n'"
		 " | awk '{s+=$1} END {print s}') -lt 10000"
		 " && ! grep -rqa PLAINTEXT-MARKER '%s'", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The checkpoints seen by archive_checkpoints. */
typedef struct cps {
	int64_t sizes[64];
	int n, all_valid;
} cps;

/* keep_cp - archive_checkpoint_fn collecting sizes */
static int
keep_cp(const archive_checkpoint *cp, void *ctx)
{
	cps *c = ctx;

	if (c->n < 64)
		c->sizes[c->n++] = cp->size;
	c->all_valid &= cp->valid;
	return 0;
}

/* list_cps - the checkpoints of the archive */
static cps
list_cps(archive *ar)
{
	cps c = { .all_valid = 1 };
	mk_error err;

	ck_assert_int_eq(archive_checkpoints(ar, keep_cp, &c, &err), 0);
	return c;
}

START_TEST(checkpoints_every_n_entries_and_consistent)
{
	char id[ARCHIVE_ID_LEN + 1];
	archive *ar = open_with(1, 6, 5, 300);
	archive_consistency *con;
	mk_error err;
	cps c;
	int i;

	for (i = 0; i < 12; i++)
		store(ar, (const unsigned char *)"x", 1, 1, id);
	c = list_cps(ar);
	/* "created" is entry 1, signed at once; then every 5 more entries */
	ck_assert_int_eq(c.n, 3);
	ck_assert_int_eq(c.sizes[0], 1);
	ck_assert_int_eq(c.sizes[1], 6);
	ck_assert_int_eq(c.sizes[2], 11);
	ck_assert(c.all_valid);
	ck_assert_int_eq(archive_ledger_consistency(ar, 6, 11, &con, &err), 0);
	ck_assert(con->valid);
	ck_assert_uint_gt(con->path_len, 0);
	archive_consistency_free(con);
	ck_assert_int_eq(archive_ledger_consistency(ar, 1, 11, &con, &err), 0);
	ck_assert(con->valid);
	archive_consistency_free(con);
	ck_assert_int_eq(archive_ledger_consistency(ar, 5, 11, &con, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no checkpoint of size 5"));
	archive_close(ar);	/* signs the last entry too */
	ar = open_with(1, 6, 5, 300);
	c = list_cps(ar);
	ck_assert_int_eq(c.sizes[c.n - 1], 13);
	archive_close(ar);
}
END_TEST

START_TEST(checkpoint_after_interval_while_idle)
{
	char id[ARCHIVE_ID_LEN + 1];
	archive *ar = open_with(1, 6, 1000, 1);
	cps c;
	int i;

	store(ar, (const unsigned char *)"x", 1, 1, id);
	ck_assert_int_eq(list_cps(ar).n, 1);	/* only the first */
	for (i = 0; i < 50 && (c = list_cps(ar)).n < 2; i++)
		usleep(100000);
	ck_assert_int_eq(c.n, 2);
	ck_assert_int_eq(c.sizes[1], 2);
	archive_close(ar);
}
END_TEST

START_TEST(proof_of_every_message)
{
	char ids[20][ARCHIVE_ID_LEN + 1];
	archive *ar = open_with(1, 6, 1000, 300);
	archive_proof *p;
	mk_error err;
	int i;

	for (i = 0; i < 20; i++) {
		char text[32];

		snprintf(text, sizeof(text), "message %d", i);
		store(ar, (const unsigned char *)text, strlen(text), 5, ids[i]);
	}
	ck_assert_int_eq(archive_ledger_proof(ar, ids[3], &p, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not covered by a checkpoint"));
	ck_assert_int_eq(archive_checkpoint_now(ar, &err), 0);
	for (i = 0; i < 20; i++) {
		ck_assert_msg(archive_ledger_proof(ar, ids[i], &p, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(p->seq, i + 2);
		ck_assert_int_eq(p->checkpoint.size, 21);
		ck_assert(p->checkpoint.valid);
		ck_assert_ptr_nonnull(strstr(p->entry, ids[i]));
		ck_assert_ptr_nonnull(strstr(p->record, ids[i]));
		archive_proof_free(p);
	}
	ck_assert_int_eq(archive_ledger_proof(ar, "0123456789abcdef01234567", &p, &err), -1);
	archive_close(ar);
}
END_TEST

/* count_one - archive_search_fn counting */
static int
count_one(const archive_message *msg, void *ctx)
{
	(void)msg;
	(*(int *)ctx)++;
	return 0;
}

/* The problems verify found. */
typedef struct found {
	int n;
	char first[600];
} found;

/* note_problem - archive_problem_fn counting and keeping the first */
static void
note_problem(const char *kind, const char *object, const char *detail, void *ctx)
{
	found *f = ctx;

	if (f->n++ == 0)
		snprintf(f->first, sizeof(f->first), "%s %s: %s", kind, object, detail);
}

START_TEST(rotation_keeps_old_messages_readable_and_verified)
{
	char old_id[ARCHIVE_ID_LEN + 1], new_id[ARCHIVE_ID_LEN + 1];
	archive_verify_stats st;
	unsigned char h[28];
	archive *ar = open_with(1, 6, 1000, 300);
	found f = { 0 };
	unsigned gen;
	mk_error err;
	buffer b;

	store(ar, (const unsigned char *)"before rotation", 15, 4, old_id);
	ck_assert_int_eq(archive_rotate_keys(ar, &gen, &err), 0);
	ck_assert_uint_eq(gen, 2);
	archive_close(ar);
	ar = open_with(1, 6, 1000, 300);
	store(ar, (const unsigned char *)"after rotation", 14, 4, new_id);
	/* content keys are the day's, not a generation's: both alike */
	blob_header(ar, old_id, h);
	ck_assert_int_eq(h[8], 2);
	ck_assert_int_eq(h[15], 0);
	blob_header(ar, new_id, h);
	ck_assert_int_eq(h[8], 2);
	ck_assert_int_eq(h[15], 0);
	b = read_back(ar, old_id);
	ck_assert(b.len == 15 && memcmp(b.data, "before rotation", 15) == 0);
	free(b.data);
	ck_assert_int_eq(archive_verify(ar, NULL, note_problem, NULL, &f, &st, &err), 0);
	ck_assert_msg(f.n == 0, "%d problems, first: %s", f.n, f.first);
	ck_assert_uint_eq(st.records, 2);
	ck_assert_uint_eq(st.blobs, 2);
	archive_close(ar);
}
END_TEST

START_TEST(archive_of_every_codec_verified_and_read_back)
{
	static const struct { mk_codec codec; int level, encrypt; } runs[] = {
		{ MK_CODEC_ZLIB, 6, 1 }, { MK_CODEC_ZSTD, 1, 1 },
		{ MK_CODEC_NONE, 0, 1 }, { MK_CODEC_ZLIB, 1, 0 },
		{ MK_CODEC_ZSTD, 3, 0 }, { MK_CODEC_ZSTD, 3, 1 }
	};
	enum { PER_RUN = 3, N = 6 * PER_RUN };
	static const size_t sizes[PER_RUN] = { 700, 100 * 1024, 1 << 20 };
	char id[N][ARCHIVE_ID_LEN + 1];
	unsigned char *content[N], h[28];
	archive_verify_stats st;
	archive_rebuild_stats rs;
	archive *ar;
	mk_error err;
	size_t r, i;
	int pass;

	for (r = 0; r < 6; r++) {	/* one writer each: one codec each */
		ar = open_codec(runs[r].encrypt, runs[r].codec, runs[r].level,
				1000, 300);
		for (i = r * PER_RUN; i < (r + 1) * PER_RUN; i++) {
			content[i] = make_content(sizes[i % PER_RUN],
						  (unsigned)(5000 + i));
			store(ar, content[i], sizes[i % PER_RUN], 4096, id[i]);
			blob_header(ar, id[i], h);
			ck_assert_int_eq(h[7], runs[r].codec);
			ck_assert_int_eq(h[8], runs[r].encrypt ? 2 : 0);
		}
		archive_close(ar);
	}
	for (pass = 0; pass < 2; pass++) {	/* before and after a rebuild */
		found f = { 0 };

		ar = open_codec(1, MK_CODEC_ZSTD, 1, 1000, 300);
		ck_assert_int_eq(archive_verify(ar, NULL, note_problem, NULL,
						&f, &st, &err), 0);
		ck_assert_msg(f.n == 0, "%d problems, first: %s", f.n, f.first);
		ck_assert_uint_eq(st.blobs, N);
		ck_assert_uint_eq(st.index_rows, N);
		for (i = 0; i < N; i++) {
			buffer b = read_back(ar, id[i]);

			ck_assert_uint_eq(b.len, sizes[i % PER_RUN]);
			ck_assert(memcmp(b.data, content[i], b.len) == 0);
			free(b.data);
		}
		archive_close(ar);
		if (pass == 0)
			ck_assert_msg(archive_rebuild_index(dir, NULL, NULL, &rs,
							    &err) == 0, "%s", err.msg);
	}
	ck_assert_uint_eq(rs.messages, N);
	for (i = 0; i < N; i++)
		free(content[i]);
}
END_TEST

/* raw_blob - an unencrypted zstd blob of frame in a new file, open at
 * its start; its fd */
static int
raw_blob(const void *frame, size_t len)
{
	unsigned char h[28] = { 'M', 'K', 'B', 'L', 'O', 'B', 1, MK_CODEC_ZSTD };
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/raw.blob", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, h, sizeof(h)), sizeof(h));
	ck_assert_int_eq(write(fd, frame, len), (ssize_t)len);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* read_raw - blob_read of frame as an unencrypted zstd blob: 0, or -1
 * with the reason in why */
static int
read_raw(const void *frame, size_t len, buffer *b, mk_error *why)
{
	int fd = raw_blob(frame, len), rc;
	blob_span span = { fd, 0, -1, NULL };

	rc = blob_read(&span, NULL, NULL, collect, b, why);
	close(fd);
	return rc;
}

/* frame_of - content compressed into one zstd frame of window 2^wlog,
 * with a checksum when checksum; its length */
static size_t
frame_of(const void *content, size_t len, int wlog, int checksum,
	 unsigned char *out, size_t cap)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t n;

	ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, wlog);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
	n = ZSTD_compress2(c, out, cap, content, len);
	ck_assert_msg(!ZSTD_isError(n), "%s", ZSTD_getErrorName(n));
	ZSTD_freeCCtx(c);
	return n;
}

START_TEST(zstd_reader_bounds_its_window_and_takes_one_frame)
{
	size_t len = 4 << 20, cap = ZSTD_compressBound(4 << 20) + 64, n, m;
	unsigned char *content = make_content(len, 77), *frame = malloc(cap);
	static const unsigned char skippable[8] = { 0x50, 0x2a, 0x4d, 0x18 };
	buffer b = { 0 };
	mk_error why;

	/* any frame within the window reads, with or without checksum */
	n = frame_of(content, 100000, 21, 1, frame, cap);
	ck_assert_msg(read_raw(frame, n, &b, &why) == 0, "%s", why.msg);
	ck_assert(b.len == 100000 && memcmp(b.data, content, b.len) == 0);
	free(b.data);
	b = (buffer){ 0 };
	/* 4 MiB in one frame: a window of 4 MiB is refused before any output */
	n = frame_of(content, len, 23, 0, frame, cap);
	ck_assert_int_eq(read_raw(frame, n, &b, &why), -1);
	ck_assert_msg(strstr(why.msg, "zstd") != NULL, "%s", why.msg);
	ck_assert_uint_eq(b.len, 0);
	/* bytes after the frame; a second frame; a skippable frame first;
	 * a frame cut short; no frame */
	n = frame_of(content, 1000, 21, 0, frame, cap);
	frame[n] = 0;
	ck_assert_int_eq(read_raw(frame, n + 1, &b, &why), -1);
	ck_assert_msg(strstr(why.msg, "after the zstd frame"), "%s", why.msg);
	free(b.data);
	b = (buffer){ 0 };
	m = frame_of(content, 1000, 21, 0, frame + n, cap - n);
	ck_assert_int_eq(read_raw(frame, n + m, &b, &why), -1);
	free(b.data);
	b = (buffer){ 0 };
	memmove(frame + sizeof(skippable), frame, n);
	memcpy(frame, skippable, sizeof(skippable));
	ck_assert_int_eq(read_raw(frame, n + sizeof(skippable), &b, &why), -1);
	ck_assert_msg(strstr(why.msg, "not a zstd frame"), "%s", why.msg);
	ck_assert_int_eq(read_raw(frame + sizeof(skippable), n - 1, &b, &why), -1);
	ck_assert_msg(strstr(why.msg, "cut short"), "%s", why.msg);
	free(b.data);
	b = (buffer){ 0 };
	ck_assert_int_eq(read_raw(frame, 0, &b, &why), -1);
	ck_assert_msg(strstr(why.msg, "cut short"), "%s", why.msg);
	free(content);
	free(frame);
}
END_TEST

/* count_rows - the messages the index has */
static int
count_rows(archive *ar)
{
	archive_query q = { 0 };
	mk_error err;
	int n = 0;

	ck_assert_int_eq(archive_search(ar, &q, count_one, &n, &err), 0);
	return n;
}

START_TEST(index_rows_a_dead_writer_missed_are_rolled_forward)
{
	char id[ARCHIVE_ID_LEN + 1], path[128];
	archive_verify_stats st;
	found f = { 0 };
	archive *ar = open_with(1, 1, 1000, 300);
	mk_error err;
	sqlite3 *db;
	int i;

	for (i = 0; i < 6; i++) {
		char text[32];

		snprintf(text, sizeof(text), "message %d", i);
		store(ar, (const unsigned char *)text, strlen(text), 3, id);
	}
	archive_close(ar);
	/* the writer "died" after the ledger entries of the last two, before
	 * their index rows: take the rows away */
	snprintf(path, sizeof(path), "%s/index.sqlite", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
		"CREATE TEMP TABLE gone AS SELECT id FROM messages"
		" ORDER BY ledger_seq DESC LIMIT 2;"
		"DELETE FROM recipients WHERE message IN (SELECT id FROM gone);"
		"DELETE FROM roles WHERE message IN (SELECT id FROM gone);"
		"DELETE FROM messages WHERE id IN (SELECT id FROM gone);",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ar = archive_open(dir, ARCHIVE_READ, &err);
	ck_assert_int_eq(count_rows(ar), 4);
	archive_close(ar);
	ar = open_with(1, 1, 1000, 300);	/* a writer opens: rolls forward */
	ck_assert_int_eq(count_rows(ar), 6);
	ck_assert_int_eq(archive_verify(ar, NULL, note_problem, NULL, &f, &st, &err), 0);
	ck_assert_msg(f.n == 0, "%d problems, first: %s", f.n, f.first);
	archive_close(ar);
}
END_TEST

/* plan_sorts - does SQLite's plan for sql (on db) sort with a temporary
 * b-tree? */
static int
plan_sorts(sqlite3 *db, const char *sql)
{
	char *explain;
	sqlite3_stmt *st;
	int sorts = 0;

	ck_assert_int_ge(asprintf(&explain, "EXPLAIN QUERY PLAN %s", sql), 0);
	ck_assert_int_eq(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		sorts |= strstr((const char *)sqlite3_column_text(st, 3),
				"TEMP B-TREE") != NULL;
	sqlite3_finalize(st);
	free(explain);
	return sorts;
}

/* index_names - the names of the indexes of table messages, joined */
static void
index_names(sqlite3 *db, char *out, size_t size)
{
	sqlite3_stmt *st;

	out[0] = '\0';
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master"
		" WHERE type = 'index' AND tbl_name = 'messages' AND sql IS NOT NULL"
		" ORDER BY name", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out + strlen(out), size - strlen(out), "%s ",
			 sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* The searches of archive_search() must walk an index in their order: a
 * sort of every match before the first row took seconds on a million
 * messages (docs/PERFORMANCE.md, "Discovery on 1,000,000 messages").
 * An index made before the time indexes gets them from the next writer. */
START_TEST(searches_walk_time_indexes_and_old_indexes_are_upgraded)
{
	static const char *const shapes[] = {
		"SELECT id FROM messages m WHERE m.mail_from_domain = 'a'"
		" AND m.received_at >= 0 AND m.received_at < 9 ORDER BY"
		" m.received_at DESC, m.id DESC LIMIT -1",
		"SELECT id FROM messages m WHERE m.mail_from_lc = 'a@b'"
		" AND m.received_at >= 0 AND m.received_at < 9 ORDER BY"
		" m.received_at, m.id LIMIT -1",
		"SELECT id FROM messages m WHERE 1=1"
		" AND m.received_at >= 0 AND m.received_at < 9 ORDER BY"
		" m.received_at DESC, m.id DESC LIMIT -1",
	};
	char id[ARCHIVE_ID_LEN + 1], path[128], names[512];
	archive *ar = open_with(1, 1, 1000, 300);
	sqlite3 *db;
	size_t i;

	store(ar, (const unsigned char *)"x", 1, 1, id);
	archive_close(ar);
	snprintf(path, sizeof(path), "%s/index.sqlite", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	for (i = 0; i < sizeof(shapes) / sizeof(*shapes); i++)
		ck_assert_msg(!plan_sorts(db, shapes[i]), "sorts: %s", shapes[i]);
	/* as an earlier version made it */
	ck_assert_int_eq(sqlite3_exec(db,
		"DROP INDEX messages_time; DROP INDEX messages_from_time;"
		"DROP INDEX messages_from_domain_time;"
		"CREATE INDEX messages_received ON messages(received_at);"
		"CREATE INDEX messages_from ON messages(mail_from_lc);"
		"CREATE INDEX messages_from_domain ON messages(mail_from_domain);",
		NULL, NULL, NULL), SQLITE_OK);
	ck_assert(plan_sorts(db, shapes[0]));
	sqlite3_close(db);
	ar = open_with(1, 1, 1000, 300);	/* a writer upgrades it */
	archive_close(ar);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	index_names(db, names, sizeof(names));
	ck_assert_str_eq(names, "messages_from_domain_time messages_from_time"
			 " messages_message_id messages_retain messages_seq"
			 " messages_sha256 messages_time ");
	for (i = 0; i < sizeof(shapes) / sizeof(*shapes); i++)
		ck_assert_msg(!plan_sorts(db, shapes[i]), "sorts: %s", shapes[i]);
	sqlite3_close(db);
}
END_TEST

/* Ids of a search, in its order. */
typedef struct id_seq {
	char ids[8][ARCHIVE_ID_LEN + 1];
	int n;
} id_seq;

static int
seq_one(const archive_message *msg, void *ctx)
{
	id_seq *q = ctx;

	ck_assert_int_lt(q->n, 8);
	snprintf(q->ids[q->n++], ARCHIVE_ID_LEN + 1, "%s", msg->id);
	return 0;
}

/* search_to - the ids of a search by recipient to, newest first or not */
static id_seq
search_to(archive *ar, const char *to, const char *from, int newest)
{
	archive_query q = { .to = to, .from = from, .newest = newest };
	id_seq got = { .n = 0 };
	mk_error err;

	ck_assert_msg(archive_search(ar, &q, seq_one, &got, &err) == 0, "%s",
		      err.msg);
	return got;
}

/* A search by recipient starts from the recipient's rows when they are
 * few and walks the messages in time order when they are many
 * (index.c, to_is_rare): both find the same messages in the same
 * order, by address and by @domain, with a sender too. */
START_TEST(search_by_rare_and_frequent_recipient_alike)
{
	static const char *const tos[] = { "r@example.com", "R@Example.com",
		"@example.com", "@EXAMPLE.COM" };
	char ids[3][ARCHIVE_ID_LEN + 1], path[128];
	archive *ar = open_with(1, 1, 1000, 300);
	sqlite3 *db;
	id_seq got;
	size_t t;
	int pass, i, newest;

	for (i = 0; i < 3; i++)
		store(ar, (const unsigned char *)"abc", 3, 3, ids[i]);
	for (pass = 0; pass < 2; pass++) {
		for (t = 0; t < sizeof(tos) / sizeof(*tos); t++)
			for (newest = 0; newest < 2; newest++) {
				got = search_to(ar, tos[t], t % 2 ? "s@example.com"
						: NULL, newest);
				ck_assert_int_eq(got.n, 3);
				for (i = 0; i < 3; i++)
					ck_assert_str_eq(got.ids[i],
							 ids[newest ? 2 - i : i]);
			}
		got = search_to(ar, "nobody@example.com", NULL, 0);
		ck_assert_int_eq(got.n, 0);
		got = search_to(ar, "r@example.com", "t@example.com", 0);
		ck_assert_int_eq(got.n, 0);
		if (pass == 1)
			break;
		/* make the recipient frequent: rows of messages that are not
		 * there (they find nothing, but count) */
		archive_close(ar);
		snprintf(path, sizeof(path), "%s/index.sqlite", dir);
		ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(db,
			"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
			" FROM n WHERE i < 5001) INSERT INTO recipients"
			" SELECT 'none' || i, 0, 'r@example.com', 'r@example.com',"
			" 'example.com' FROM n;", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		ar = open_with(1, 1, 1000, 300);
	}
	archive_close(ar);
}
END_TEST

/* The lines of the ledger file, newlines cut off. */
typedef struct lines {
	char **line;
	size_t n;
} lines;

/* read_ledger - every line of the archive's ledger */
static lines
read_ledger(void)
{
	lines l = { 0 };
	char path[128], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/ledger/ledger.log", dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	while ((len = getline(&line, &cap, fp)) > 0) {
		ck_assert_int_eq(line[len - 1], '\n');
		line[len - 1] = '\0';
		l.line = realloc(l.line, (l.n + 1) * sizeof(*l.line));
		l.line[l.n++] = strdup(line);
	}
	free(line);
	fclose(fp);
	return l;
}

/* write_ledger - the ledger file made of l's lines */
static void
write_ledger(const lines *l)
{
	char path[128];
	FILE *fp;
	size_t i;

	snprintf(path, sizeof(path), "%s/ledger/ledger.log", dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	for (i = 0; i < l->n; i++)
		fprintf(fp, "%s\n", l->line[i]);
	ck_assert_int_eq(fclose(fp), 0);
}

/* lines_free - free what read_ledger returned */
static void
lines_free(lines *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->line[i]);
	free(l->line);
}

/* check_chain - line 1 has no prev, line k (k > 1) starts with
 * {"seq":k,"prev":"HEX", where HEX is the leaf hash of line k-1 */
static void
check_chain(const lines *l)
{
	static const char first[] = "{\"seq\":1,\"event\":\"created\",";
	merkle_hash leaf;
	char want[160];
	size_t i, k;
	int used;

	ck_assert_uint_gt(l->n, 0);
	ck_assert_msg(strncmp(l->line[0], first, sizeof(first) - 1) == 0,
		      "line 1: %.80s", l->line[0]);
	for (i = 1; i < l->n; i++) {
		merkle_leaf_hash(l->line[i - 1], strlen(l->line[i - 1]), leaf);
		used = snprintf(want, sizeof(want), "{\"seq\":%zu,\"prev\":\"", i + 1);
		for (k = 0; k < MERKLE_HASH; k++)
			used += snprintf(want + used, sizeof(want) - (size_t)used,
					 "%02x", leaf[k]);
		snprintf(want + used, sizeof(want) - (size_t)used, "\",");
		ck_assert_msg(strncmp(l->line[i], want, strlen(want)) == 0,
			      "line %zu: %.100s, want %s", i + 1, l->line[i], want);
	}
}

/* The problems verify found, all of them. */
typedef struct problems {
	char text[64][300];
	int n;
} problems;

/* keep_problem - archive_problem_fn keeping "kind object" of each */
static void
keep_problem(const char *kind, const char *object, const char *detail,
	     void *ctx)
{
	problems *p = ctx;

	(void)detail;
	if (p->n < 64)
		snprintf(p->text[p->n++], sizeof(p->text[0]), "%s %s", kind, object);
}

/* verify_problems - archive_verify on the archive, read only */
static problems
verify_problems(void)
{
	archive_verify_stats st;
	problems p = { .n = 0 };
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_READ, &err);

	ck_assert_msg(ar != NULL, "%s", err.msg);
	ck_assert_int_eq(archive_verify(ar, NULL, keep_problem, NULL, &p, &st,
					&err), 0);
	archive_close(ar);
	return p;
}

/* named_alone - verify names "ledger OBJECT" and blames nothing else
 * (the checkpoints over the ledger aside) */
static void
named_alone(const char *object)
{
	problems p = verify_problems();
	char want[300];
	int i, named = 0;

	snprintf(want, sizeof(want), "ledger %s", object);
	for (i = 0; i < p.n; i++) {
		named |= strcmp(p.text[i], want) == 0;
		ck_assert_msg(strcmp(p.text[i], want) == 0
			      || strncmp(p.text[i], "ledger checkpoint ", 18) == 0,
			      "blamed: %s", p.text[i]);
	}
	ck_assert_msg(named, "%s not named (%d problems)", want, p.n);
}

/* tear_ledger - half a line at the end of the ledger, as a crash leaves */
static void
tear_ledger(void)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/ledger/ledger.log", dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "a"));
	fputs("{\"seq\":14,\"prev\":\"00", fp);
	ck_assert_int_eq(fclose(fp), 0);
}

/* append_batch - n test entries in one ledger_append; the seq of the first */
static int64_t
append_batch(archive *ar, size_t n, const char *pad)
{
	char *entries[8];
	int64_t seq;
	mk_error err;
	size_t i;

	ck_assert_uint_le(n, 8);
	for (i = 0; i < n; i++)
		ck_assert_int_ge(asprintf(&entries[i], "\"event\":\"test\","
					  "\"time\":%zu,\"pad\":\"%s\"", i, pad), 0);
	ck_assert_msg(ledger_append(ar, (const char *const *)entries, n, &seq,
				    &err) == 0, "%s", err.msg);
	for (i = 0; i < n; i++)
		free(entries[i]);
	return seq;
}

START_TEST(ledger_entries_chained_and_an_edited_one_named)
{
	char id[ARCHIVE_ID_LEN + 1], *big = malloc(300001);
	archive *ar = open_with(1, 6, 4, 300);
	int64_t mid;
	problems p;
	lines l;
	char *t;

	/* batches of 1, 3 and 5, messages in between, and a 300 KB line
	 * (more than the ledger reads of its tail, or hashes, at once)
	 * before a batch */
	memset(big, 'b', 300000);
	big[300000] = '\0';
	append_batch(ar, 1, "one");
	store(ar, (const unsigned char *)"first", 5, 5, id);
	mid = append_batch(ar, 3, "three") + 1;
	append_batch(ar, 1, big);
	append_batch(ar, 5, "five");
	store(ar, (const unsigned char *)"second", 6, 6, id);
	archive_close(ar);
	free(big);
	/* a torn last line (a crash mid-append): the next append chains to
	 * the whole line before it */
	tear_ledger();
	ar = open_with(1, 6, 4, 300);
	append_batch(ar, 2, "after the tear");
	archive_close(ar);
	l = read_ledger();
	ck_assert_uint_eq(l.n, 15);
	check_chain(&l);
	p = verify_problems();
	ck_assert_msg(p.n == 0, "%d problems, first: %s", p.n, p.text[0]);

	/* one byte of the middle entry of the batch of 3 edited: verify names
	 * it, and no other entry */
	ck_assert_int_eq(mid, 5);
	ck_assert_ptr_nonnull(t = strstr(l.line[mid - 1], "\"time\":1,"));
	t[7] = '7';
	write_ledger(&l);
	named_alone("ledger seq 5");
	lines_free(&l);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("integrity");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, blob_round_trip_every_size_level_and_cipher);
	tcase_add_test(tc, compressed_blob_is_smaller_and_encrypted_is_unreadable);
	tcase_add_test(tc, archive_of_every_codec_verified_and_read_back);
	tcase_add_test(tc, zstd_reader_bounds_its_window_and_takes_one_frame);
	tcase_add_test(tc, checkpoints_every_n_entries_and_consistent);
	tcase_add_test(tc, checkpoint_after_interval_while_idle);
	tcase_add_test(tc, proof_of_every_message);
	tcase_add_test(tc, rotation_keeps_old_messages_readable_and_verified);
	tcase_add_test(tc, index_rows_a_dead_writer_missed_are_rolled_forward);
	tcase_add_test(tc, searches_walk_time_indexes_and_old_indexes_are_upgraded);
	tcase_add_test(tc, search_by_rare_and_frequent_recipient_alike);
	tcase_add_test(tc, ledger_entries_chained_and_an_edited_one_named);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
