/*
 * test_archive.c - unit tests of the store (archive/), on real files and
 * a real SQLite index in a temporary directory.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "archive/archive.h"
#include "tests/unit/archive_fixture.h"
#include "tests/unit/unit.h"

/* expire.c's test hook (archive/internal.h) */
extern void (*archive_expire_fault)(const char *step);

/* store_bytes - archive one message with content text; its id into id */
static void
store_bytes(archive *ar, const void *text, size_t len, const char *from,
	    const char *const *rcpts, size_t n, const char *msgid,
	    int64_t when, char id[ARCHIVE_ID_LEN + 1])
{
	archive_envelope env = {
		.queue_id = "4ABCD", .client_addr = "127.0.0.1",
		.client_name = "localhost", .helo = "client.example",
		.mail_from = from, .rcpts = rcpts, .n_rcpts = n,
		.message_id = msgid, .subject = "hello", .date = "today",
		.received_at = when,
	};
	mk_error err;
	archive_spool *sp = archive_spool_begin(ar, env.policy.retain_until, &err);

	ck_assert_msg(sp != NULL, "%s", err.msg);
	ck_assert_int_eq(archive_spool_write(sp, text, len, &err), 0);
	ck_assert_msg(archive_spool_commit(sp, &env, id, &err) == 0, "%s", err.msg);
}

typedef struct buffer { char *data; size_t len; } buffer;

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

/* count_files - regular files under dir/sub, recursively */
static int
count_files(const char *sub)
{
	char cmd[256], out[32] = "";
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "find '%s/%s' -type f | wc -l", dir, sub);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), fp));
	pclose(fp);
	return atoi(out);
}

/* content_bytes - bytes of every content segment */
static long long
content_bytes(void)
{
	char cmd[256], out[32] = "";
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "find '%s/content' -type f -printf '%%s\\n'"
		 " | awk '{ n += $1 } END { print n + 0 }'", dir);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), fp));
	pclose(fp);
	return atoll(out);
}

START_TEST(store_and_read_back_byte_exact)
{
	static const char msg[] = "Subject: hi\r\n\r\nbody\0with NUL\r\n\xff\xfe\r\n";
	const char *rcpts[] = { "a@example.com", "B@Example.ORG" };
	char id[ARCHIVE_ID_LEN + 1];
	archive_message *m;
	buffer b = { 0 };
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);

	ck_assert_msg(ar != NULL, "%s", err.msg);
	store_bytes(ar, msg, sizeof(msg) - 1, "s@example.net", rcpts, 2,
		    "<m1@example.net>", 0, id);
	ck_assert_int_eq(strlen(id), ARCHIVE_ID_LEN);
	ck_assert_int_eq(archive_lookup(ar, id, &m, &err), 0);
	ck_assert_str_eq(m->mail_from, "s@example.net");
	ck_assert_int_eq(m->n_rcpts, 2);
	ck_assert_str_eq(m->rcpts[1], "B@Example.ORG");
	ck_assert_str_eq(m->queue_id, "4ABCD");
	ck_assert_str_eq(m->message_id, "<m1@example.net>");
	ck_assert_int_eq(m->size, sizeof(msg) - 1);
	ck_assert_int_gt(m->received_at, 1700000000LL * 1000000);
	archive_message_free(m);
	ck_assert_int_eq(archive_read(ar, id, collect, &b, &err), 0);
	ck_assert_int_eq(b.len, sizeof(msg) - 1);
	ck_assert_int_eq(memcmp(b.data, msg, b.len), 0);
	free(b.data);
	archive_close(ar);
	ck_assert_int_eq(count_files("spool"), 0);
}
END_TEST

START_TEST(identical_content_is_one_blob)
{
	const char *rcpts[] = { "a@example.com" };
	char id1[ARCHIVE_ID_LEN + 1], id2[ARCHIVE_ID_LEN + 1];
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);

	archive_message *m1, *m2;

	store_bytes(ar, "same", 4, "x@y", rcpts, 1, NULL, 0, id1);
	store_bytes(ar, "same", 4, "z@y", rcpts, 1, NULL, 0, id2);
	ck_assert_str_ne(id1, id2);
	ck_assert_int_eq(archive_lookup(ar, id1, &m1, &err), 0);
	ck_assert_int_eq(archive_lookup(ar, id2, &m2, &err), 0);
	/* the second names the first one's bytes: one blob in one segment */
	ck_assert_ptr_nonnull(m1->content_file);
	ck_assert_str_eq(m1->content_file, m2->content_file);
	ck_assert_int_eq(m1->content_off, m2->content_off);
	ck_assert_int_eq(count_files("content"), 1);
	ck_assert_int_eq(content_bytes(), m1->content_len);
	archive_message_free(m1);
	archive_message_free(m2);
	archive_close(ar);
}
END_TEST

typedef struct search_result { int n; char ids[16][ARCHIVE_ID_LEN + 1]; } search_result;

/* The spans of the messages a search found. */
typedef struct spans {
	int n;
	long long bytes;
	int64_t off[256];
	bool in_one_file;
	char file[64];
} spans;

/* gather_span - archive_search callback: note each message's span */
static int
gather_span(const archive_message *m, void *ctx)
{
	spans *s = ctx;

	ck_assert_ptr_nonnull(m->content_file);
	if (s->n == 0)
		snprintf(s->file, sizeof(s->file), "%s", m->content_file);
	s->in_one_file &= strcmp(s->file, m->content_file) == 0;
	if (s->n < 256)
		s->off[s->n] = m->content_off;
	s->bytes += m->content_len;
	s->n++;
	return 0;
}

/* by_offset - qsort order of offsets */
static int
by_offset(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
gather(const archive_message *m, void *ctx)
{
	search_result *r = ctx;

	if (r->n < 16)
		strcpy(r->ids[r->n], m->id);
	r->n++;
	return 0;
}

/* search_count - how many messages q finds */
static int
search_count(archive *ar, archive_query q)
{
	search_result r = { 0 };
	mk_error err;

	ck_assert_msg(archive_search(ar, &q, gather, &r, &err) == 0, "%s", err.msg);
	return r.n;
}

START_TEST(search_filters)
{
	const char *r1[] = { "Alice@Example.com", "bob@example.org" };
	const char *r2[] = { "carol@example.org" };
	char id[ARCHIVE_ID_LEN + 1];
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	int64_t day = 86400LL * 1000000, t0 = 1767225600LL * 1000000; /* 2026-01-01 */

	store_bytes(ar, "one", 3, "Sender@Example.NET", r1, 2, " <one@x> ", t0, id);
	store_bytes(ar, "two", 3, "other@example.com", r2, 1, "<two@x>", t0 + day, id);
	store_bytes(ar, "three", 5, "", r2, 1, NULL, t0 + 2 * day, id);

	ck_assert_int_eq(search_count(ar, (archive_query){ 0 }), 3);
	ck_assert_int_eq(search_count(ar, (archive_query){ .from = "sender@example.net" }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .from = "@EXAMPLE.net" }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .from = "@example.com" }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .to = "alice@example.com" }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .to = "@example.org" }), 3);
	ck_assert_int_eq(search_count(ar, (archive_query){ .to = "@example.com" }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .to = "nobody@example.org" }), 0);
	ck_assert_int_eq(search_count(ar, (archive_query){ .message_id = "one@x" }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .message_id = "<two@x>" }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .since = t0 + day }), 2);
	ck_assert_int_eq(search_count(ar, (archive_query){ .until = t0 + day }), 1);
	ck_assert_int_eq(search_count(ar, (archive_query){ .since = t0, .until = t0 + 2 * day,
							   .to = "@example.org" }), 2);
	ck_assert_int_eq(search_count(ar, (archive_query){ .limit = 2 }), 2);
	archive_close(ar);
}
END_TEST

typedef struct thread_arg { archive *ar; int n; } thread_arg;

static void *
store_many(void *p)
{
	thread_arg *a = p;
	const char *rcpts[] = { "r@example.com" };
	char body[64], id[ARCHIVE_ID_LEN + 1];
	int i;

	for (i = 0; i < 25; i++) {
		snprintf(body, sizeof(body), "thread %d message %d\r\n", a->n, i);
		store_bytes(a->ar, body, strlen(body), "s@example.com", rcpts, 1,
			    NULL, 0, id);
	}
	return NULL;
}

START_TEST(concurrent_commits_all_land)
{
	pthread_t t[8];
	thread_arg args[8];
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	int i;

	for (i = 0; i < 8; i++) {
		args[i] = (thread_arg){ ar, i };
		pthread_create(&t[i], NULL, store_many, &args[i]);
	}
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	spans sp = { .in_one_file = true };

	ck_assert_int_eq(search_count(ar, (archive_query){ 0 }), 200);
	/* 200 blobs side by side in one segment, none overlapping */
	ck_assert_int_eq(archive_search(ar, &(archive_query){ 0 }, gather_span,
					&sp, &err), 0);
	ck_assert_int_eq(sp.n, 200);
	ck_assert(sp.in_one_file);
	ck_assert_int_eq(count_files("content"), 1);
	ck_assert_int_eq(content_bytes(), sp.bytes);
	qsort(sp.off, 200, sizeof(sp.off[0]), by_offset);
	for (i = 1; i < 200; i++)
		ck_assert_int_gt(sp.off[i], sp.off[i - 1]);
	archive_close(ar);
	/* reopen: everything still there */
	ar = archive_open(dir, ARCHIVE_READ, &err);
	ck_assert_int_eq(search_count(ar, (archive_query){ 0 }), 200);
	archive_close(ar);
}
END_TEST

/* ledger_lines - the number of lines in the ledger and the last one */
static int
ledger_lines(char *last, size_t size)
{
	char path[128], line[4096];
	FILE *fp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/ledger/ledger.log", dir);
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		n++;
		snprintf(last, size, "%s", line);
	}
	fclose(fp);
	return n;
}

START_TEST(ledger_records_stores_and_accesses)
{
	const char *rcpts[] = { "a@example.com" };
	char id[ARCHIVE_ID_LEN + 1], last[4096], want[128], path[128];
	const char *ids[1] = { id };
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	int fd;

	store_bytes(ar, "x", 1, "s@x", rcpts, 1, NULL, 0, id);
	ck_assert_int_eq(ledger_lines(last, sizeof(last)), 2);	/* created, stored */
	snprintf(want, sizeof(want), "\"id\":\"%s\"", id);
	ck_assert_ptr_nonnull(strstr(last, "{\"seq\":2,\"prev\":\""));
	ck_assert_ptr_nonnull(strstr(last, "\",\"event\":\"stored\","));
	ck_assert_ptr_nonnull(strstr(last, want));
	archive_close(ar);

	/* a torn last line (crash mid-append) is cut off by the next append */
	snprintf(path, sizeof(path), "%s/ledger/ledger.log", dir);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "{\"seq\":3,\"ev", 12), 12);
	close(fd);
	ar = archive_open(dir, ARCHIVE_READ, &err);
	snprintf(want, sizeof(want), "{\"event\":\"access\",\"uid\":1000,"
		 "\"ids\":[\"%s\"]}", ids[0]);
	ck_assert_msg(archive_log_event(ar, want, NULL, &err) == 0, "%s", err.msg);
	/* the archive's own events, seq and prev are not the caller's */
	ck_assert_int_eq(archive_log_event(ar, "{\"event\":\"stored\"}", NULL, &err), -1);
	ck_assert_int_eq(archive_log_event(ar, "{\"event\":\"x\",\"seq\":9}", NULL, &err), -1);
	ck_assert_int_eq(archive_log_event(ar, "[1]", NULL, &err), -1);
	ck_assert_int_eq(ledger_lines(last, sizeof(last)), 3);
	ck_assert_ptr_nonnull(strstr(last, "{\"seq\":3,\"prev\":\""));
	ck_assert_ptr_nonnull(strstr(last, "\",\"event\":\"access\","));
	ck_assert_ptr_nonnull(strstr(last, "\"uid\":1000"));
	snprintf(want, sizeof(want), "\"ids\":[\"%s\"]", id);
	ck_assert_ptr_nonnull(strstr(last, want));
	archive_close(ar);
}
END_TEST

/* index_sql - run sql on the archive's index from a second connection */
static void
index_sql(const char *sql)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/index.sqlite", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* What the committer warned about. */
typedef struct warnings {
	int n;
	char last[512];
} warnings;

/* keep_warning - archive_options.warn */
static void
keep_warning(void *ctx, const char *msg)
{
	warnings *w = ctx;

	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
}

/* print_problem - archive_problem_fn: on stderr, for the log */
static void
print_problem(const char *kind, const char *object, const char *detail,
	      void *ctx)
{
	(void)ctx;
	fprintf(stderr, "PROBLEM %s %s: %s\n", kind, object, detail);
}

/* verify_clean - archive_verify finds nothing; how many are not indexed */
static uint64_t
verify_clean(archive *ar)
{
	archive_verify_stats st;
	mk_error err;

	ck_assert_msg(archive_verify(ar, NULL, print_problem, NULL, NULL, &st,
				     &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.problems, 0);
	return st.index_behind;
}

/* store_until - one message of text kept until retain_until */
static void
store_until(archive *ar, const char *text, int64_t retain_until,
	    char id[ARCHIVE_ID_LEN + 1])
{
	const char *rcpts[] = { "r@example.com" };
	archive_envelope env = { .mail_from = "s@example.com", .rcpts = rcpts,
				 .n_rcpts = 1,
				 .policy = { .content = ARCHIVE_FULL,
					     .retain_until = retain_until } };
	archive_spool *sp;
	mk_error err;

	ck_assert_msg((sp = archive_spool_begin(ar, retain_until, &err)) != NULL,
		      "%s", err.msg);
	ck_assert_int_eq(archive_spool_write(sp, text, strlen(text), &err), 0);
	ck_assert_msg(archive_spool_commit(sp, &env, id, &err) == 0, "%s", err.msg);
}

/* group_files - "GROUPS FILES LARGEST": group directories under content/,
 * segment files, and the largest segment's size */
static void
group_files(char *out, size_t size)
{
	char cmd[512];
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "cd '%s/content' && echo $(ls | wc -l)"
		 " $(find . -type f | wc -l) $(find . -type f -printf '%%s\\n'"
		 " | sort -n | tail -n 1)", dir);
	ck_assert_ptr_nonnull(fp = popen(cmd, "r"));
	ck_assert_ptr_nonnull(fgets(out, (int)size, fp));
	out[strcspn(out, "\n")] = '\0';
	pclose(fp);
}

#define ROT_MSGS 60
#define ROT_GROUPS 12	/* more than CONTENT_OPEN_MAX: segments evicted */
START_TEST(segments_rotate_and_groups_evict)
{
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;
	char ids[ROT_MSGS + 1][ARCHIVE_ID_LEN + 1], text[ROT_MSGS + 1][1200];
	char layout[128];
	int64_t day0 = 2000000000 / 86400 * 86400;
	int groups, files, largest, i;
	archive_message *m;
	buffer b;
	mk_error err;
	archive *ar;

	opts.segment_bytes = 2048;	/* a few blobs a segment */
	opts.codec = MK_CODEC_NONE;	/* sizes as written */
	opts.compression = 0;
	ck_assert_msg((ar = archive_open_with(dir, ARCHIVE_WRITE, &opts, &err))
		      != NULL, "%s", err.msg);
	for (i = 0; i < ROT_MSGS; i++) {
		snprintf(text[i], sizeof(text[i]), "Subject: %d\r\n\r\n%0*d\r\n",
			 i, 600 + 7 * i, i);
		store_until(ar, text[i], day0 + (i % ROT_GROUPS) * 86400, ids[i]);
	}
	verify_clean(ar);
	archive_close(ar);
	group_files(layout, sizeof(layout));
	ck_assert_int_eq(sscanf(layout, "%d %d %d", &groups, &files, &largest), 3);
	ck_assert_int_eq(groups, ROT_GROUPS);
	ck_assert_msg(files > ROT_GROUPS, "no segment was full: %s", layout);
	/* a segment takes blobs until the next would cross 2048 bytes; one
	 * blob is at most 1200 + header and tag */
	ck_assert_msg(largest <= 2048 + 1300, "a segment grew past its size: %s",
		      layout);
	/* a new writer appends to each group's last segment or starts one */
	ck_assert_msg((ar = archive_open_with(dir, ARCHIVE_WRITE, &opts, &err))
		      != NULL, "%s", err.msg);
	snprintf(text[ROT_MSGS], sizeof(text[ROT_MSGS]), "after reopening");
	store_until(ar, text[ROT_MSGS], day0, ids[ROT_MSGS]);
	for (i = 0; i <= ROT_MSGS; i++) {
		b = (buffer){ 0 };
		ck_assert_int_eq(archive_read(ar, ids[i], collect, &b, &err), 0);
		ck_assert(b.len == strlen(text[i])
			  && memcmp(b.data, text[i], b.len) == 0);
		free(b.data);
	}
	ck_assert_int_eq(archive_lookup(ar, ids[ROT_MSGS], &m, &err), 0);
	ck_assert_ptr_nonnull(strstr(m->content_file, "content/"));
	archive_message_free(m);
	verify_clean(ar);
	archive_close(ar);
}
END_TEST

/* store_token - a message from sender with token in its body, kept until
 * retain_until */
static void
store_token(archive *ar, const char *sender, const char *token,
	    int64_t retain_until, char id[ARCHIVE_ID_LEN + 1])
{
	const char *rcpts[] = { "r@example.com" };
	archive_envelope env = { .mail_from = sender, .rcpts = rcpts,
				 .n_rcpts = 1, .subject = "expiry",
				 .policy = { .content = ARCHIVE_FULL,
					     .retain_until = retain_until } };
	char text[256];
	archive_spool *sp;
	mk_error err;

	snprintf(text, sizeof(text), "Subject: expiry\r\n\r\n%s\r\n", token);
	ck_assert_msg((sp = archive_spool_begin(ar, retain_until, &err)) != NULL,
		      "%s", err.msg);
	ck_assert_int_eq(archive_spool_write(sp, text, strlen(text), &err), 0);
	ck_assert_msg(archive_spool_commit(sp, &env, id, &err) == 0, "%s", err.msg);
}

/* found_in_archive - does any file under the archive hold text? */
static bool
found_in_archive(const char *text)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "grep -rqaF '%s' '%s'", text, dir);
	return system(cmd) == 0;
}

/* held_is - archive_held_fn: the message whose id is ctx is held */
static bool
held_is(const char *id, void *ctx)
{
	return strcmp(id, ctx) == 0;
}

START_TEST(expiry_forgets_whole_groups)
{
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;
	archive_expire_options eo = { 0 };
	archive_expire_stats st;
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	char a1[ARCHIVE_ID_LEN + 1], a2[ARCHIVE_ID_LEN + 1];
	char b1[ARCHIVE_ID_LEN + 1], c1[ARCHIVE_ID_LEN + 1], path[512];
	archive_message *m;
	archive *ar, *ex;
	mk_error err;

	opts.encrypt = 0;		/* the tokens in clear in the segments */
	opts.codec = MK_CODEC_NONE;
	opts.compression = 0;
	ck_assert_msg((ar = archive_open_with(dir, ARCHIVE_WRITE, &opts, &err))
		      != NULL, "%s", err.msg);
	store_token(ar, "uniq-a1@sender.test", "TOKEN-A1-XYZZY", day0, a1);
	store_token(ar, "uniq-a2@sender.test", "TOKEN-A2-XYZZY", day0, a2);
	store_token(ar, "uniq-b1@sender.test", "TOKEN-B1-XYZZY", day0 + 86400, b1);
	store_token(ar, "uniq-c1@sender.test", "TOKEN-C1-XYZZY", 0, c1);
	ck_assert(found_in_archive("TOKEN-A1-XYZZY"));
	/* a retention already over is refused, not stored into a past day */
	ck_assert_ptr_null(archive_spool_begin(ar, 1000000000, &err));
	ck_assert_msg(strstr(err.msg, "has begun") != NULL, "%s", err.msg);

	/* expiry runs beside the writer, on a handle of its own */
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	eo.now = day0 + 60;
	ck_assert_msg(archive_expire(ex, &eo, &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.groups, 1);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_uint_gt(st.bytes_freed, 0);
	ck_assert_int_eq(archive_lookup(ex, a1, &m, &err), -1);
	ck_assert_int_eq(archive_lookup(ex, a2, &m, &err), -1);
	ck_assert_int_eq(archive_lookup(ex, b1, &m, &err), 0);
	archive_message_free(m);
	snprintf(path, sizeof(path), "%s/content/2033-05-18", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/keys/record-2033-05-18.key", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	/* nothing of them in any file: segments, index and its log, records */
	ck_assert(!found_in_archive("TOKEN-A1-XYZZY"));
	ck_assert(!found_in_archive("uniq-a1@sender.test"));
	ck_assert(!found_in_archive("uniq-a2@sender.test"));
	ck_assert(found_in_archive("TOKEN-B1-XYZZY"));
	verify_clean(ex);

	/* again: nothing more; a dry run of the next day changes nothing */
	ck_assert_int_eq(archive_expire(ex, &eo, &st, &err), 0);
	ck_assert_uint_eq(st.groups, 0);
	eo.now = day0 + 86400 + 60;
	eo.dry_run = true;
	ck_assert_int_eq(archive_expire(ex, &eo, &st, &err), 0);
	ck_assert_uint_eq(st.messages, 1);
	ck_assert(found_in_archive("TOKEN-B1-XYZZY"));
	/* held, it stays; released, it goes */
	eo.dry_run = false;
	eo.held = held_is;
	eo.ctx = b1;
	ck_assert_int_eq(archive_expire(ex, &eo, &st, &err), 0);
	ck_assert_uint_eq(st.groups, 0);
	ck_assert_uint_eq(st.kept_held, 1);
	ck_assert(found_in_archive("TOKEN-B1-XYZZY"));
	eo.held = NULL;
	ck_assert_int_eq(archive_expire(ex, &eo, &st, &err), 0);
	ck_assert_uint_eq(st.messages, 1);
	ck_assert(!found_in_archive("TOKEN-B1-XYZZY"));
	ck_assert(!found_in_archive("uniq-b1@sender.test"));
	verify_clean(ex);
	archive_close(ex);
	/* kept forever: still there, and the writer goes on */
	ck_assert_int_eq(archive_lookup(ar, c1, &m, &err), 0);
	archive_message_free(m);
	store_token(ar, "later@sender.test", "TOKEN-LATER", day0 + 5 * 86400, a1);
	archive_close(ar);
	/* verify in a process of its own: the writer still holds in memory
	 * the day keys it used (FORMAT.md 1.2) */
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	verify_clean(ex);
	archive_close(ex);
}
END_TEST

/* count_expired_entries - "expired" entries in the ledger */
static int
count_expired_entries(void)
{
	char cmd[512], out[32] = "";
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "grep -c '\"event\":\"expired\"' '%s/ledger/ledger.log'",
		 dir);
	ck_assert_ptr_nonnull(fp = popen(cmd, "r"));
	if (fgets(out, sizeof(out), fp) == NULL)
		out[0] = '\0';
	pclose(fp);
	return atoi(out);
}

START_TEST(expiry_stopped_midway_is_finished_by_the_next_run)
{
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;
	archive_expire_options eo = { 0 };
	archive_expire_stats st;
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	char a1[ARCHIVE_ID_LEN + 1], a2[ARCHIVE_ID_LEN + 1], cmd[1024];
	sqlite3 *blocker;
	archive *ar, *ex;
	mk_error err;

	opts.encrypt = 0;
	opts.codec = MK_CODEC_NONE;
	opts.compression = 0;
	ck_assert_ptr_nonnull(ar = archive_open_with(dir, ARCHIVE_WRITE, &opts, &err));
	store_token(ar, "mid-a1@sender.test", "TOKEN-MID-A1", day0, a1);
	store_token(ar, "mid-a2@sender.test", "TOKEN-MID-A2", day0, a2);
	archive_close(ar);
	/* a copy of the group's segments and key, to put back below */
	/* kept beside this test's archive, not in the shared /tmp */
	snprintf(cmd, sizeof(cmd), "mkdir '%s.saved' && cp -a '%s/content/2033-05-18'"
		 " '%s/keys/record-2033-05-18.key' '%s.saved/'", dir, dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);

	/* 1. stopped after the entries: the index is locked by another
	 * connection, so the rows cannot go (SQLite's busy timeout) */
	snprintf(cmd, sizeof(cmd), "%s/index.sqlite", dir);
	ck_assert_int_eq(sqlite3_open(cmd, &blocker), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	eo.now = day0 + 60;
	ck_assert_int_eq(archive_expire(ex, &eo, &st, &err), -1);
	ck_assert_int_eq(count_expired_entries(), 2);
	ck_assert(found_in_archive("TOKEN-MID-A1"));	/* nothing else went */
	sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(blocker);
	archive_close(ex);
	/* the next run finishes it, without writing the entries again */
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_msg(archive_expire(ex, &eo, &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_int_eq(count_expired_entries(), 2);
	ck_assert(!found_in_archive("TOKEN-MID-A1"));
	ck_assert(!found_in_archive("mid-a2@sender.test"));
	archive_close(ex);

	/* 2. stopped after the rows, before the files: put the segments
	 * and the key back as a run killed there leaves them */
	snprintf(cmd, sizeof(cmd), "mv '%s.saved/2033-05-18' '%s/content/' && mv"
		 " '%s.saved/record-2033-05-18.key' '%s/keys/' && rmdir '%s.saved'",
		 dir, dir, dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert(found_in_archive("TOKEN-MID-A1"));
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_msg(archive_expire(ex, &eo, &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.groups, 0);		/* no row left to expire */
	ck_assert_uint_gt(st.bytes_freed, 0);		/* the files swept */
	ck_assert_int_eq(count_expired_entries(), 2);
	ck_assert(!found_in_archive("TOKEN-MID-A1"));
	archive_close(ex);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	verify_clean(ex);
	archive_close(ex);
}
END_TEST

/* held_in - archive_held_fn: the message is one of the NULL-ended list
 * of ids ctx */
static bool
held_in(const char *id, void *ctx)
{
	char **ids = ctx;

	for (; *ids != NULL; ids++)
		if (strcmp(id, *ids) == 0)
			return true;
	return false;
}

/* count_entries - ledger entries of event in the archive at path */
static int
count_entries(const char *path, const char *event)
{
	char cmd[512], out[32] = "";
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "grep -c '\"event\":\"%s\"' '%s/ledger/ledger.log'",
		 event, path);
	ck_assert_ptr_nonnull(fp = popen(cmd, "r"));
	if (fgets(out, sizeof(out), fp) == NULL)
		out[0] = '\0';
	pclose(fp);
	return atoi(out);
}

/* exists_in - does path/rel exist? */
static bool
exists_in(const char *path, const char *rel)
{
	char full[512];

	snprintf(full, sizeof(full), "%s/%s", path, rel);
	return access(full, F_OK) == 0;
}

/* reads_back - message id of ar reads back as the token's text */
static void
reads_back(archive *ar, const char *id, const char *token)
{
	char text[256];
	buffer b = { 0 };
	mk_error err;

	snprintf(text, sizeof(text), "Subject: expiry\r\n\r\n%s\r\n", token);
	ck_assert_msg(archive_read(ar, id, collect, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(b.len, strlen(text));
	ck_assert_int_eq(memcmp(b.data, text, b.len), 0);
	free(b.data);
}

/* gone - message id no longer in the index */
static void
gone(archive *ar, const char *id)
{
	archive_message *m;
	mk_error err;

	ck_assert_int_eq(archive_lookup(ar, id, &m, &err), -1);
}

/* in_group - message id's content is in a segment of group */
static void
in_group(archive *ar, const char *id, const char *group)
{
	char want[64];
	archive_message *m;
	mk_error err;

	ck_assert_msg(archive_lookup(ar, id, &m, &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "content/%s/", group);
	ck_assert_msg(strncmp(m->content_file, want, strlen(want)) == 0,
		      "%s is in %s, not in %s", id, m->content_file, want);
	archive_message_free(m);
}

/* store_meta - a metadata-only message from sender kept until retain_until */
static void
store_meta(archive *ar, const char *sender, int64_t retain_until,
	   char id[ARCHIVE_ID_LEN + 1])
{
	const char *rcpts[] = { "r@example.com" };
	archive_envelope env = { .mail_from = sender, .rcpts = rcpts,
				 .n_rcpts = 1,
				 .policy = { .content = ARCHIVE_METADATA,
					     .retain_until = retain_until } };
	mk_error err;

	ck_assert_msg(archive_store_metadata(ar, &env, 123, id, &err) == 0,
		      "%s", err.msg);
}

/* expire_at - one run of archive_expire on dir at now, ids held */
static archive_expire_stats
expire_at(archive *ex, int64_t now, char **held, bool dry_run)
{
	archive_expire_options eo = { .now = now, .dry_run = dry_run,
				      .held = held != NULL ? held_in : NULL,
				      .ctx = held };
	archive_expire_stats st;
	mk_error err;

	ck_assert_msg(archive_expire(ex, &eo, &st, &err) == 0, "%s", err.msg);
	return st;
}

START_TEST(expiry_rekeys_held_messages_so_the_rest_goes)
{
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	char h1[ARCHIVE_ID_LEN + 1], h2[ARCHIVE_ID_LEN + 1];
	char u1[ARCHIVE_ID_LEN + 1], u2[ARCHIVE_ID_LEN + 1];
	char hm[ARCHIVE_ID_LEN + 1], later[ARCHIVE_ID_LEN + 1];
	char *held3[] = { h1, h2, hm, NULL }, *held1[] = { h1, NULL };
	archive_rebuild_stats rs;
	archive_expire_stats st;
	archive_message *m;
	archive_proof *p;
	archive *ar, *ex;
	mk_error err;

	/* encrypted, compressed (the defaults): the copies are cipher 2 */
	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	store_token(ar, "h1@sender.test", "SHARED-BODY", day0, h1);
	store_token(ar, "u1@sender.test", "SHARED-BODY", day0, u1);
	store_token(ar, "h2@sender.test", "BODY-OF-H2", day0, h2);
	store_token(ar, "u2@sender.test", "BODY-OF-U2", day0, u2);
	store_meta(ar, "hm@sender.test", day0, hm);
	store_token(ar, "l@sender.test", "BODY-LATER", day0 + 86400, later);
	archive_close(ar);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));

	/* a dry run counts and changes nothing */
	st = expire_at(ex, day0 + 60, held3, true);
	ck_assert_uint_eq(st.rekeyed, 3);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_int_eq(count_entries(dir, "rekeyed"), 0);
	ck_assert(!exists_in(dir, "keys/record-2033-05-18.1.key"));
	ck_assert(!exists_in(dir, "content/2033-05-18.1"));

	/* 1: three held move to 2033-05-18.1, the two others go */
	st = expire_at(ex, day0 + 60, held3, false);
	ck_assert_uint_eq(st.rekeyed, 3);
	ck_assert_uint_eq(st.kept_held, 3);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_uint_eq(st.groups, 1);
	ck_assert_int_eq(count_entries(dir, "rekeyed"), 3);
	ck_assert_int_eq(count_entries(dir, "expired"), 2);
	gone(ex, u1);
	gone(ex, u2);
	reads_back(ex, h1, "SHARED-BODY");
	reads_back(ex, h2, "BODY-OF-H2");
	in_group(ex, h1, "2033-05-18.1");
	ck_assert_int_eq(archive_lookup(ex, hm, &m, &err), 0);
	ck_assert_str_eq(m->mail_from, "hm@sender.test");
	archive_message_free(m);
	ck_assert(!exists_in(dir, "content/2033-05-18"));
	ck_assert(!exists_in(dir, "keys/record-2033-05-18.key"));
	ck_assert(exists_in(dir, "keys/record-2033-05-18.1.key"));
	ck_assert_uint_eq(verify_clean(ex), 0);
	/* the proof of a moved message is that of its rekeyed entry */
	ck_assert_msg(archive_ledger_proof(ex, h1, &p, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(strstr(p->entry, "\"event\":\"rekeyed\""));
	ck_assert_ptr_nonnull(strstr(p->record, "content/2033-05-18.1/"));
	archive_proof_free(p);
	archive_close(ex);
	/* a rebuilt index takes the moved messages' newest records */
	ck_assert_msg(archive_rebuild_index(dir, NULL, NULL, &rs, &err) == 0,
		      "%s", err.msg);
	ck_assert_uint_eq(rs.messages, 4);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	in_group(ex, h2, "2033-05-18.1");
	reads_back(ex, h1, "SHARED-BODY");
	ck_assert_uint_eq(verify_clean(ex), 0);

	/* 2: h1 still held moves on to .2, h2 and hm go; .1 goes */
	st = expire_at(ex, day0 + 120, held1, true);
	ck_assert_uint_eq(st.rekeyed, 1);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert(exists_in(dir, "content/2033-05-18.1"));
	st = expire_at(ex, day0 + 120, held1, false);
	ck_assert_uint_eq(st.rekeyed, 1);
	ck_assert_uint_eq(st.messages, 2);
	gone(ex, h2);
	gone(ex, hm);
	reads_back(ex, h1, "SHARED-BODY");
	in_group(ex, h1, "2033-05-18.2");
	ck_assert(!exists_in(dir, "content/2033-05-18.1"));
	ck_assert(!exists_in(dir, "keys/record-2033-05-18.1.key"));
	ck_assert_uint_eq(verify_clean(ex), 0);
	/* every message of the day held: nothing moves */
	st = expire_at(ex, day0 + 180, held1, false);
	ck_assert_uint_eq(st.rekeyed, 0);
	ck_assert_uint_eq(st.kept_held, 1);
	in_group(ex, h1, "2033-05-18.2");

	/* 3: released, it goes with its group */
	st = expire_at(ex, day0 + 240, NULL, false);
	ck_assert_uint_eq(st.messages, 1);
	gone(ex, h1);
	ck_assert(!exists_in(dir, "content/2033-05-18.2"));
	ck_assert(!exists_in(dir, "keys/record-2033-05-18.2.key"));
	ck_assert_int_eq(count_entries(dir, "rekeyed"), 4);
	ck_assert_int_eq(count_entries(dir, "expired"), 5);
	reads_back(ex, later, "BODY-LATER");
	ck_assert_uint_eq(verify_clean(ex), 0);
	archive_close(ex);
}
END_TEST

START_TEST(expiry_rekey_leaves_nothing_of_the_unheld_in_clear)
{
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	char h1[ARCHIVE_ID_LEN + 1], u1[ARCHIVE_ID_LEN + 1];
	char u2[ARCHIVE_ID_LEN + 1], *held[] = { h1, NULL };
	archive_expire_stats st;
	archive *ar, *ex;
	mk_error err;

	opts.encrypt = 0;		/* the tokens in clear in the segments */
	opts.codec = MK_CODEC_NONE;
	opts.compression = 0;
	ck_assert_ptr_nonnull(ar = archive_open_with(dir, ARCHIVE_WRITE, &opts, &err));
	store_token(ar, "held-h1@sender.test", "TOKEN-SHARED-QQQ", day0, h1);
	store_token(ar, "gone-u1@sender.test", "TOKEN-SHARED-QQQ", day0, u1);
	store_token(ar, "gone-u2@sender.test", "TOKEN-UNIQUE-U2-QQQ", day0, u2);
	archive_close(ar);
	ck_assert(found_in_archive("TOKEN-UNIQUE-U2-QQQ"));
	ck_assert(found_in_archive("gone-u2@sender.test"));
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	st = expire_at(ex, day0 + 60, held, false);
	ck_assert_uint_eq(st.rekeyed, 1);
	ck_assert_uint_eq(st.messages, 2);
	archive_close(ex);
	/* no file under the archive, SQLite's included, holds them */
	ck_assert(!found_in_archive("TOKEN-UNIQUE-U2-QQQ"));
	ck_assert(!found_in_archive("gone-u2@sender.test"));
	ck_assert(!found_in_archive("gone-u1@sender.test"));
	ck_assert(found_in_archive("TOKEN-SHARED-QQQ"));	/* h1's copy */
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	gone(ex, u1);
	reads_back(ex, h1, "TOKEN-SHARED-QQQ");
	in_group(ex, h1, "2033-05-18.1");
	ck_assert_uint_eq(verify_clean(ex), 0);
	archive_close(ex);
}
END_TEST

/* The step a child run is stopped at, and the how-manieth time. */
static const char *stop_step;
static int stop_nth;

/* stop_at - archive_expire_fault: end the process at the chosen step,
 * as a SIGKILL there would */
static void
stop_at(const char *step)
{
	if (strcmp(step, stop_step) == 0 && --stop_nth == 0)
		_exit(42);
}

/* stopped_run - a run on path killed at the nth step */
static void
stopped_run(const char *path, int64_t now, char **held, const char *step,
	    int nth)
{
	archive_expire_stats st;
	mk_error err;
	archive *ex;
	pid_t pid;
	int status;

	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		archive_expire_options eo = { .now = now, .held = held_in,
					      .ctx = held };

		stop_step = step;
		stop_nth = nth;
		archive_expire_fault = stop_at;
		if ((ex = archive_open(path, ARCHIVE_READ, &err)) == NULL)
			_exit(1);
		archive_expire(ex, &eo, &st, &err);
		_exit(2);		/* never stopped: the test fails */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 42,
		      "step %s #%d was not reached (status %d)", step, nth, status);
}

START_TEST(expiry_rekey_stopped_anywhere_is_finished_by_the_next_run)
{
	static const struct { const char *step; int nth; bool clean; } at[] = {
		{ "rekey-copied", 1, true }, { "rekey-record", 1, true },
		{ "rekey-entry", 1, true }, { "rekey-row", 1, true },
		{ "rekey-copied", 2, true }, { "rekey-record", 2, true },
		{ "rekey-entry", 2, true }, { "rekey-row", 2, true },
		{ "entries", 1, false }, { "rows", 1, false },
	};
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	char h1[ARCHIVE_ID_LEN + 1], h2[ARCHIVE_ID_LEN + 1];
	char u1[ARCHIVE_ID_LEN + 1], *held[] = { h1, h2, NULL };
	char work[128], cmd[512];
	archive_expire_stats st;
	archive *ar, *ex;
	mk_error err;
	size_t i;

	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	store_token(ar, "k-h1@sender.test", "KILL-SHARED", day0, h1);
	store_token(ar, "k-u1@sender.test", "KILL-SHARED", day0, u1);
	store_token(ar, "k-h2@sender.test", "KILL-H2", day0, h2);
	archive_close(ar);
	snprintf(work, sizeof(work), "%s.work", dir);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'",
			 work, dir, work);
		ck_assert_int_eq(system(cmd), 0);
		stopped_run(work, day0 + 60, held, at[i].step, at[i].nth);
		ck_assert_ptr_nonnull(ex = archive_open(work, ARCHIVE_READ, &err));
		if (at[i].clean)	/* the moves: verify clean at once */
			verify_clean(ex);
		reads_back(ex, h1, "KILL-SHARED");
		reads_back(ex, h2, "KILL-H2");
		st = expire_at(ex, day0 + 60, held, false);
		/* nothing moved twice, nothing expired twice */
		ck_assert_int_eq(count_entries(work, "rekeyed"), 2);
		ck_assert_int_eq(count_entries(work, "expired"), 1);
		gone(ex, u1);
		reads_back(ex, h1, "KILL-SHARED");
		reads_back(ex, h2, "KILL-H2");
		in_group(ex, h1, "2033-05-18.1");
		in_group(ex, h2, "2033-05-18.1");
		ck_assert_msg(!exists_in(work, "content/2033-05-18")
			      && !exists_in(work, "keys/record-2033-05-18.key")
			      && !exists_in(work, "keys/record-2033-05-18.2.key"),
			      "stopped at %s #%d: a group is left", at[i].step,
			      at[i].nth);
		ck_assert_uint_eq(verify_clean(ex), 0);
		archive_close(ex);
		(void)st;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The decisions of a re-decision test: id and its new policy (NULL
 * none); ids NULL end the list. */
typedef struct decision { const char *id; const archive_policy *pol; } decision;

/* words_forgotten - archive_forget_fn: counts the messages handed over */
static int
words_forgotten(const archive_message *msg, void *ctx, mk_error *err)
{
	(void)err;
	if (msg != NULL)
		(*(int *)ctx)++;
	return 0;
}

/* redecide_on - one run of archive_redecide on ex; its counts */
static archive_redecide_stats
redecide_on(archive *ex, const decision *d, bool dry_run)
{
	int forgotten = 0;
	archive_redecide_options o = { .now = time(NULL), .dry_run = dry_run,
				       .forget = words_forgotten,
				       .forget_words = words_forgotten,
				       .ctx = &forgotten };
	archive_redecide_stats st;
	archive_redecider *rd;
	mk_error err;

	ck_assert_msg(archive_redecide_begin(ex, &o, &rd, &err) == 0, "%s",
		      err.msg);
	for (; d->id != NULL; d++)
		ck_assert_msg(archive_redecide(rd, d->id, d->pol, NULL, &err) == 0,
			      "%s: %s", d->id, err.msg);
	ck_assert_msg(archive_redecide_end(rd, &st, &err) == 0, "%s", err.msg);
	return st;
}

/* group_of - the group of id's content segment, into out */
static void
group_of(archive *ar, const char *id, char out[32])
{
	archive_message *m;
	mk_error err;

	ck_assert_msg(archive_lookup(ar, id, &m, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(m->content_file);
	snprintf(out, 32, "%.*s", (int)strcspn(m->content_file + 8, "/"),
		 m->content_file + 8);
	archive_message_free(m);
}

START_TEST(redecide_roles_only_reseals_in_place)
{
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	const char *roles[] = { "hr" };
	archive_policy hr = { .content = ARCHIVE_FULL, .retain_until = day0,
			      .direction = "inbound", .roles = roles,
			      .n_roles = 1 };
	char a[ARCHIVE_ID_LEN + 1], b[ARCHIVE_ID_LEN + 1];
	decision d[] = { { a, &hr }, { b, NULL /* set below */ }, { NULL, NULL } };
	archive_policy same = { .content = ARCHIVE_FULL, .retain_until = day0 };
	archive_rebuild_stats rs;
	archive_redecide_stats st;
	archive_message *m;
	archive_proof *p;
	archive *ar, *ex;
	mk_error err;

	d[1].pol = &same;
	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	store_token(ar, "a@sender.test", "ROLES-A", day0, a);
	store_token(ar, "b@sender.test", "ROLES-B", day0, b);
	archive_close(ar);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	st = redecide_on(ex, d, true);		/* a dry run: counts only */
	ck_assert_uint_eq(st.resealed, 1);
	ck_assert_uint_eq(st.same, 1);
	ck_assert_int_eq(count_entries(dir, "redecided"), 0);
	st = redecide_on(ex, d, false);
	ck_assert_uint_eq(st.resealed, 1);
	ck_assert_uint_eq(st.same, 1);
	ck_assert_uint_eq(st.groups, 0);
	ck_assert_int_eq(count_entries(dir, "redecided"), 1);
	ck_assert_msg(archive_lookup(ex, a, &m, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(m->n_roles, 1);
	ck_assert_str_eq(m->roles[0], "hr");
	ck_assert_ptr_nonnull(strstr(m->policy_json, "\"inbound\""));
	archive_message_free(m);
	in_group(ex, a, "2033-05-18");		/* in place: same group */
	reads_back(ex, a, "ROLES-A");
	ck_assert_uint_eq(verify_clean(ex), 0);
	ck_assert_msg(archive_ledger_proof(ex, a, &p, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(strstr(p->entry, "\"event\":\"redecided\""));
	ck_assert_ptr_nonnull(strstr(p->record, "\"hr\""));
	archive_proof_free(p);
	st = redecide_on(ex, d, false);		/* again: nothing to do */
	ck_assert_uint_eq(st.same, 2);
	ck_assert_int_eq(count_entries(dir, "redecided"), 1);
	/* and again, in place once more: both earlier records still open */
	roles[0] = "legal";
	st = redecide_on(ex, d, false);
	ck_assert_uint_eq(st.resealed, 1);
	ck_assert_uint_eq(verify_clean(ex), 0);
	archive_close(ex);
	ck_assert_msg(archive_rebuild_index(dir, NULL, NULL, &rs, &err) == 0,
		      "%s", err.msg);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_msg(archive_lookup(ex, a, &m, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(m->roles[0], "legal");
	archive_message_free(m);
	ck_assert_uint_eq(verify_clean(ex), 0);
	archive_close(ex);
}
END_TEST

START_TEST(redecide_shortened_moves_and_rewrites_the_old_group)
{
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	int64_t late = day0 + 400 * 86400;		/* 2034-06-22 */
	archive_policy shorter = { .content = ARCHIVE_FULL, .retain_until = day0 };
	char a[ARCHIVE_ID_LEN + 1], b[ARCHIVE_ID_LEN + 1], c[ARCHIVE_ID_LEN + 1];
	char m[ARCHIVE_ID_LEN + 1], g[32];
	decision d[] = { { a, &shorter }, { NULL, NULL } };
	archive_redecide_stats st;
	archive *ar, *ex;
	mk_error err;

	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	store_token(ar, "a@sender.test", "SHARED-MOVE", late, a);
	store_token(ar, "b@sender.test", "SHARED-MOVE", late, b);
	store_token(ar, "c@sender.test", "BODY-C", late, c);
	store_meta(ar, "m@sender.test", late, m);
	archive_close(ar);
	/* the writer holds its lock: no re-decision beside it */
	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	{
		archive_redecide_options o = { .now = time(NULL) };
		archive_redecider *rd;

		ck_assert_int_eq(archive_redecide_begin(ar, &o, &rd, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "mailkeep-milter"));
	}
	archive_close(ar);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	st = redecide_on(ex, d, true);
	ck_assert_uint_eq(st.moved, 1);
	ck_assert_uint_eq(st.groups, 1);
	ck_assert_uint_eq(st.rekeyed, 3);
	ck_assert(exists_in(dir, "content/2034-06-22"));
	st = redecide_on(ex, d, false);
	ck_assert_uint_eq(st.moved, 1);
	ck_assert_uint_eq(st.groups, 1);
	ck_assert_uint_eq(st.rekeyed, 3);
	in_group(ex, a, "2033-05-18");
	in_group(ex, b, "2034-06-22.1");
	in_group(ex, c, "2034-06-22.1");
	reads_back(ex, a, "SHARED-MOVE");
	reads_back(ex, b, "SHARED-MOVE");
	reads_back(ex, c, "BODY-C");
	ck_assert(!exists_in(dir, "content/2034-06-22"));
	ck_assert(!exists_in(dir, "keys/record-2034-06-22.key"));
	ck_assert(exists_in(dir, "keys/record-2034-06-22.1.key"));
	ck_assert_int_eq(count_entries(dir, "redecided"), 1);
	ck_assert_int_eq(count_entries(dir, "rekeyed"), 3);
	ck_assert_uint_eq(verify_clean(ex), 0);
	group_of(ex, a, g);
	ck_assert_str_eq(g, "2033-05-18");
	/* the moved message expires on its new day; the others stay */
	expire_at(ex, day0 + 60, NULL, false);
	gone(ex, a);
	reads_back(ex, b, "SHARED-MOVE");
	ck_assert_uint_eq(verify_clean(ex), 0);
	archive_close(ex);
}
END_TEST

START_TEST(redecide_lengthened_leaves_the_old_copy_to_its_expiry)
{
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	int64_t late = day0 + 400 * 86400;		/* 2034-06-22 */
	archive_policy longer = { .content = ARCHIVE_FULL, .retain_until = late };
	char a[ARCHIVE_ID_LEN + 1], b[ARCHIVE_ID_LEN + 1];
	decision d[] = { { a, &longer }, { NULL, NULL } };
	archive_redecide_stats st;
	archive_expire_stats es;
	archive *ar, *ex;
	mk_error err;

	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	store_token(ar, "a@sender.test", "LONGER-A", day0, a);
	store_token(ar, "b@sender.test", "LONGER-B", day0, b);
	archive_close(ar);
	ck_assert_ptr_nonnull(ex = archive_open(dir, ARCHIVE_READ, &err));
	st = redecide_on(ex, d, false);
	ck_assert_uint_eq(st.moved, 1);
	ck_assert_uint_eq(st.groups, 0);	/* the old group stays */
	in_group(ex, a, "2034-06-22");
	in_group(ex, b, "2033-05-18");
	ck_assert(exists_in(dir, "content/2033-05-18"));
	ck_assert_uint_eq(verify_clean(ex), 0);
	/* the old day comes: b goes with the group, a is not touched */
	es = expire_at(ex, day0 + 60, NULL, false);
	ck_assert_uint_eq(es.messages, 1);
	gone(ex, b);
	reads_back(ex, a, "LONGER-A");
	in_group(ex, a, "2034-06-22");
	ck_assert(!exists_in(dir, "content/2033-05-18"));
	ck_assert(!exists_in(dir, "keys/record-2033-05-18.key"));
	ck_assert_int_eq(count_entries(dir, "expired"), 1);
	ck_assert_uint_eq(verify_clean(ex), 0);
	archive_close(ex);
}
END_TEST

/* clear_options - no encryption, no compression: a body's word is seen
 * by grep in any file that holds it */
static archive_options
clear_options(void)
{
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;

	opts.encrypt = 0;
	opts.codec = MK_CODEC_NONE;
	opts.compression = 0;
	return opts;
}

START_TEST(redecide_metadata_and_none_leave_nothing_of_the_content)
{
	archive_options opts = clear_options();
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	archive_policy meta = { .content = ARCHIVE_METADATA, .retain_until = day0 };
	archive_policy full = { .content = ARCHIVE_FULL, .retain_until = day0 };
	char s[ARCHIVE_ID_LEN + 1], r[ARCHIVE_ID_LEN + 1], k[ARCHIVE_ID_LEN + 1];
	char mm[ARCHIVE_ID_LEN + 1];
	decision d[] = { { s, &meta }, { r, NULL }, { mm, &full }, { k, &full },
			 { NULL, NULL } };
	archive_redecide_stats st;
	archive_message *m;
	archive *ar, *ex;
	mk_error err;

	ck_assert_ptr_nonnull(ar = archive_open_with(dir, ARCHIVE_WRITE, &opts, &err));
	store_token(ar, "strip-s@sender.test", "TOKEN-STRIP-S-QQQ", day0, s);
	store_token(ar, "gone-r@sender.test", "TOKEN-GONE-R-QQQ", day0, r);
	store_token(ar, "keep-k@sender.test", "TOKEN-KEEP-K-QQQ", day0, k);
	store_meta(ar, "meta-m@sender.test", day0, mm);
	archive_close(ar);
	ck_assert(found_in_archive("TOKEN-STRIP-S-QQQ"));
	ck_assert(found_in_archive("gone-r@sender.test"));
	ck_assert_ptr_nonnull(ex = archive_open_with(dir, ARCHIVE_READ, &opts, &err));
	st = redecide_on(ex, d, false);
	ck_assert_uint_eq(st.stripped, 1);
	ck_assert_uint_eq(st.removed, 1);
	ck_assert_uint_eq(st.kept_metadata, 1);	/* full asked: stays */
	ck_assert_uint_eq(st.same, 2);
	ck_assert_uint_eq(st.groups, 1);
	ck_assert_int_eq(count_entries(dir, "expired"), 1);
	ck_assert_int_eq(count_entries(dir, "redecided"), 1);
	archive_close(ex);
	/* no file under the archive, SQLite's included, holds them */
	ck_assert(!found_in_archive("TOKEN-STRIP-S-QQQ"));
	ck_assert(!found_in_archive("TOKEN-GONE-R-QQQ"));
	ck_assert(!found_in_archive("gone-r@sender.test"));
	ck_assert(found_in_archive("TOKEN-KEEP-K-QQQ"));
	ck_assert_ptr_nonnull(ex = archive_open_with(dir, ARCHIVE_READ, &opts, &err));
	gone(ex, r);
	ck_assert_msg(archive_lookup(ex, s, &m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(m->content, ARCHIVE_METADATA);
	ck_assert_ptr_null(m->subject);
	ck_assert_ptr_null(m->content_file);
	ck_assert_str_eq(m->sha256, "");
	ck_assert_str_eq(m->mail_from, "strip-s@sender.test");
	archive_message_free(m);
	ck_assert_msg(archive_lookup(ex, mm, &m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(m->content, ARCHIVE_METADATA);
	archive_message_free(m);
	reads_back(ex, k, "TOKEN-KEEP-K-QQQ");
	in_group(ex, k, "2033-05-18.1");
	ck_assert(!exists_in(dir, "content/2033-05-18"));
	ck_assert(!exists_in(dir, "keys/record-2033-05-18.key"));
	ck_assert_uint_eq(verify_clean(ex), 0);
	/* they expire on their day like any other */
	expire_at(ex, day0 + 60, NULL, false);
	gone(ex, s);
	gone(ex, k);
	ck_assert_uint_eq(verify_clean(ex), 0);
	archive_close(ex);
}
END_TEST

/* The decisions of the stopped runs: a shortened (a), stripped (s),
 * removed (r), kept (k) in the group of late. */
static archive_policy stop_short, stop_meta;
static decision stop_decisions[5];

/* stopped_redecide - a re-decision run on path killed at the nth step */
static void
stopped_redecide(const char *path, const char *step, int nth)
{
	archive *ex;
	mk_error err;
	pid_t pid;
	int status;

	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		stop_step = step;
		stop_nth = nth;
		archive_expire_fault = stop_at;
		if ((ex = archive_open(path, ARCHIVE_READ, &err)) == NULL)
			_exit(1);
		redecide_on(ex, stop_decisions, false);
		_exit(2);		/* never stopped: the test fails */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 42,
		      "step %s #%d was not reached (status %d)", step, nth, status);
}

START_TEST(redecide_stopped_anywhere_is_finished_by_the_next_run)
{
	/* in the order of a run: a's re-decision, s's, then the old group's
	 * rewrite (k moved; r's entry, words, rows; the files) */
	static const struct { const char *step; int nth; bool clean; } at[] = {
		{ "redecide-copied", 1, true }, { "redecide-record", 1, true },
		{ "redecide-entry", 1, true }, { "redecide-row", 1, true },
		{ "redecide-words", 1, true }, { "redecide-copied", 2, true },
		{ "redecide-record", 2, true }, { "redecide-entry", 2, true },
		{ "redecide-row", 2, true }, { "rekey-copied", 1, true },
		{ "rekey-record", 1, true }, { "rekey-entry", 1, true },
		{ "rekey-row", 1, true }, { "entries", 1, false },
		{ "rows", 1, false },
	};
	int64_t day0 = 2000000000 / 86400 * 86400;	/* 2033-05-18 */
	int64_t late = day0 + 400 * 86400;		/* 2034-06-22 */
	char a[ARCHIVE_ID_LEN + 1], s[ARCHIVE_ID_LEN + 1];
	char r[ARCHIVE_ID_LEN + 1], k[ARCHIVE_ID_LEN + 1];
	char work[128], cmd[512];
	archive_message *m;
	archive *ar, *ex;
	mk_error err;
	size_t i;

	stop_short = (archive_policy){ .content = ARCHIVE_FULL,
				       .retain_until = day0 };
	stop_meta = (archive_policy){ .content = ARCHIVE_METADATA,
				      .retain_until = late };
	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	store_token(ar, "k-a@sender.test", "STOP-A", late, a);
	store_token(ar, "k-s@sender.test", "STOP-S", late, s);
	store_token(ar, "k-r@sender.test", "STOP-R", late, r);
	store_token(ar, "k-k@sender.test", "STOP-K", late, k);
	archive_close(ar);
	stop_decisions[0] = (decision){ a, &stop_short };
	stop_decisions[1] = (decision){ s, &stop_meta };
	stop_decisions[2] = (decision){ r, NULL };
	stop_decisions[3] = (decision){ NULL, NULL };
	snprintf(work, sizeof(work), "%s.work", dir);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'",
			 work, dir, work);
		ck_assert_int_eq(system(cmd), 0);
		stopped_redecide(work, at[i].step, at[i].nth);
		ck_assert_ptr_nonnull(ex = archive_open(work, ARCHIVE_READ, &err));
		if (at[i].clean)	/* no problem; a row may be behind */
			verify_clean(ex);
		reads_back(ex, a, "STOP-A");
		reads_back(ex, k, "STOP-K");
		redecide_on(ex, stop_decisions, false);
		/* nothing re-decided or expired twice, no group left */
		ck_assert_int_eq(count_entries(work, "redecided"), 2);
		ck_assert_int_eq(count_entries(work, "expired"), 1);
		gone(ex, r);
		reads_back(ex, a, "STOP-A");
		reads_back(ex, k, "STOP-K");
		in_group(ex, a, "2033-05-18");
		ck_assert_msg(archive_lookup(ex, s, &m, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(m->content, ARCHIVE_METADATA);
		archive_message_free(m);
		ck_assert_msg(!exists_in(work, "content/2034-06-22")
			      && !exists_in(work, "keys/record-2034-06-22.key"),
			      "stopped at %s #%d: the old group is left",
			      at[i].step, at[i].nth);
		ck_assert_msg(verify_clean(ex) == 0, "stopped at %s #%d: verify"
			      " after the next run", at[i].step, at[i].nth);
		archive_close(ex);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(index_failure_after_the_ledger_is_stored_and_caught_up)
{
	const char *rcpts[] = { "a@example.com" };
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;
	char id1[ARCHIVE_ID_LEN + 1], id2[ARCHIVE_ID_LEN + 1];
	char id3[ARCHIVE_ID_LEN + 1];
	archive_message *msg;
	warnings w = { 0, "" };
	mk_error err;
	archive *ar;

	opts.warn = keep_warning;
	opts.warn_ctx = &w;
	ar = archive_open_with(dir, ARCHIVE_WRITE, &opts, &err);
	ck_assert_ptr_nonnull(ar);
	index_sql("CREATE TRIGGER no_rows BEFORE INSERT ON messages"
		  " BEGIN SELECT RAISE(ABORT, 'injected'); END;");
	/* the SQLite commit fails: the message is stored all the same */
	store_bytes(ar, "one", 3, "s@x", rcpts, 1, "<1@x>", 0, id1);
	ck_assert_int_eq(w.n, 1);
	ck_assert_msg(strstr(w.last, "the index is behind") != NULL, "%s", w.last);
	ck_assert_int_eq(archive_lookup(ar, id1, &msg, &err), -1);
	ck_assert_uint_eq(verify_clean(ar), 1);	/* behind, not deleted */
	store_bytes(ar, "two", 3, "s@x", rcpts, 1, "<2@x>", 0, id2);
	ck_assert_int_eq(w.n, 1);		/* still behind: said once */
	ck_assert_uint_eq(verify_clean(ar), 2);
	index_sql("DROP TRIGGER no_rows");
	/* the next commit rolls the index forward: no hole, no copy */
	store_bytes(ar, "three", 5, "s@x", rcpts, 1, "<3@x>", 0, id3);
	ck_assert_int_eq(w.n, 2);
	ck_assert_msg(strstr(w.last, "caught up") != NULL, "%s", w.last);
	ck_assert_int_eq(archive_lookup(ar, id1, &msg, &err), 0);
	archive_message_free(msg);
	ck_assert_int_eq(archive_lookup(ar, id2, &msg, &err), 0);
	archive_message_free(msg);
	ck_assert_uint_eq(verify_clean(ar), 0);
	archive_close(ar);
}
END_TEST

/* ledger_seqs_consecutive - every line of the ledger has the seq of its
 * position; their number */
static int
ledger_seqs_consecutive(void)
{
	char path[128], line[4096], want[32];
	FILE *fp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/ledger/ledger.log", dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	while (fgets(line, sizeof(line), fp) != NULL) {
		snprintf(want, sizeof(want), "{\"seq\":%d,", ++n);
		ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
			      "line %d: %.40s", n, line);
	}
	fclose(fp);
	return n;
}

/* first_problem - archive_problem_fn keeping the first one found */
static void
first_problem(const char *kind, const char *object, const char *detail,
	      void *ctx)
{
	char *first = ctx;

	if (first[0] == '\0')
		snprintf(first, 512, "%s %s: %s", kind, object, detail);
}

/* verify_chain - archive_verify finds nothing, the chain included */
static void
verify_chain(archive *ar)
{
	archive_verify_stats st;
	char first[512] = "";
	mk_error err;

	ck_assert_msg(archive_verify(ar, NULL, first_problem, NULL, first, &st,
				     &err) == 0, "%s", err.msg);
	ck_assert_msg(st.problems == 0, "%llu problems, first: %s",
		      (unsigned long long)st.problems, first);
}

/* The writer keeps the ledger open and remembers its last line between
 * appends (ledger.c); whatever changed the file behind its back (another
 * process's entry, a torn line, the file replaced) must be seen. */
START_TEST(writer_ledger_cache_sees_other_appends)
{
	const char *rcpts[] = { "a@example.com" };
	archive_options opts = ARCHIVE_OPTIONS_DEFAULT;
	char id[ARCHIVE_ID_LEN + 1], path[128], tmp[160], cmd[1024];
	mk_error err;
	archive *w, *r;
	int fd;

	opts.checkpoint_entries = 1;	/* a checkpoint in every append */
	ck_assert_ptr_nonnull(w = archive_open_with(dir, ARCHIVE_WRITE, &opts,
						    &err));
	store_bytes(w, "one", 3, "s@x", rcpts, 1, NULL, 0, id);
	/* another handle (as another process would) appends in between */
	ck_assert_ptr_nonnull(r = archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_msg(archive_log_event(r, "{\"event\":\"access\",\"uid\":1}",
					NULL, &err) == 0, "%s", err.msg);
	store_bytes(w, "two", 3, "s@x", rcpts, 1, NULL, 0, id);
	ck_assert_int_eq(ledger_seqs_consecutive(), 4);
	/* the writer's own entries in a row: the cached way */
	store_bytes(w, "three", 5, "s@x", rcpts, 1, NULL, 0, id);
	ck_assert_msg(archive_log_event(w, "{\"event\":\"access\",\"uid\":2}",
					NULL, &err) == 0, "%s", err.msg);
	/* a torn line behind the writer's back is cut, then chained past */
	snprintf(path, sizeof(path), "%s/ledger/ledger.log", dir);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "{\"seq\":7,\"ev", 12), 12);
	close(fd);
	store_bytes(w, "four", 4, "s@x", rcpts, 1, NULL, 0, id);
	ck_assert_int_eq(ledger_seqs_consecutive(), 7);
	/* the file replaced by a copy: the next entry goes into the new one */
	snprintf(tmp, sizeof(tmp), "%s.copy", path);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && mv '%s' '%s'", path, tmp,
		 tmp, path);
	ck_assert_int_eq(system(cmd), 0);
	store_bytes(w, "five", 4, "s@x", rcpts, 1, NULL, 0, id);
	ck_assert_int_eq(ledger_seqs_consecutive(), 8);
	ck_assert_msg(archive_log_event(r, "{\"event\":\"access\",\"uid\":3}",
					NULL, &err) == 0, "%s", err.msg);
	store_bytes(w, "six", 3, "s@x", rcpts, 1, NULL, 0, id);
	ck_assert_int_eq(ledger_seqs_consecutive(), 10);
	verify_chain(w);
	archive_close(r);
	archive_close(w);
	ck_assert_ptr_nonnull(r = archive_open(dir, ARCHIVE_READ, &err));
	verify_chain(r);
	archive_close(r);
}
END_TEST

START_TEST(torn_record_line_is_cut_before_the_next_append)
{
	const char *rcpts[] = { "a@example.com" };
	char id1[ARCHIVE_ID_LEN + 1], id2[ARCHIVE_ID_LEN + 1], path[400];
	archive_message *msg;
	struct dirent *de;
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	DIR *d;
	int fd;

	store_bytes(ar, "one", 3, "s@x", rcpts, 1, NULL, 0, id1);
	archive_close(ar);
	/* a crash in the middle of the next record's write */
	snprintf(path, sizeof(path), "%s/records", dir);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL && strstr(de->d_name, ".log") == NULL)
		;
	ck_assert_ptr_nonnull(de);
	snprintf(path, sizeof(path), "%s/records/%s", dir, de->d_name);
	closedir(d);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_APPEND), 0);
	ck_assert_int_eq(write(fd, "{\"v\":2,\"id\":\"0123", 18), 18);
	close(fd);
	ar = archive_open(dir, ARCHIVE_WRITE, &err);
	store_bytes(ar, "two", 3, "s@x", rcpts, 1, NULL, 0, id2);
	ck_assert_int_eq(archive_lookup(ar, id2, &msg, &err), 0);
	archive_message_free(msg);
	ck_assert_uint_eq(verify_clean(ar), 0);
	archive_close(ar);
}
END_TEST

START_TEST(damaged_blob_is_reported)
{
	const char *rcpts[] = { "a@example.com" };
	char id[ARCHIVE_ID_LEN + 1], cmd[256];
	archive_message *m;
	buffer b = { 0 };
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);

	store_bytes(ar, "original", 8, "s@x", rcpts, 1, NULL, 0, id);
	ck_assert_int_eq(archive_lookup(ar, id, &m, &err), 0);
	/* one byte of the encrypted content changed */
	snprintf(cmd, sizeof(cmd), "printf 'X' | dd of='%s/%s' bs=1"
		 " seek=%lld conv=notrunc 2>/dev/null", dir, m->content_file,
		 (long long)m->content_off + 30);
	ck_assert_int_eq(system(cmd), 0);
	archive_message_free(m);
	ck_assert_int_eq(archive_read(ar, id, collect, &b, &err), -1);
	ck_assert_msg(strstr(err.msg, "authentication failed") != NULL, "%s", err.msg);
	free(b.data);
	ck_assert_int_eq(archive_lookup(ar, "000000000000000000000000", &m, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no message"));
	archive_close(ar);
}
END_TEST

START_TEST(open_errors)
{
	mk_error err;
	archive *ar, *second;

	ck_assert_ptr_null(archive_open("/nonexistent", ARCHIVE_READ, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "not a mailkeep archive"));
	ck_assert_int_eq(archive_create(dir, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "already a mailkeep archive"));
	ar = archive_open(dir, ARCHIVE_WRITE, &err);
	ck_assert_ptr_nonnull(ar);
	/* a second writer forwards (test_archive's forward tests), unless
	 * it wants the archive to itself */
	second = archive_open(dir, ARCHIVE_WRITE_ALONE, &err);
	ck_assert_ptr_null(second);
	ck_assert_ptr_nonnull(strstr(err.msg, "in use by another writer"));
	archive_close(ar);
	ar = archive_open(dir, ARCHIVE_READ, &err);
	ck_assert_ptr_null(archive_spool_begin(ar, 0, &err));
	archive_close(ar);
}
END_TEST

/* set_format - the FORMAT file of the archive made to hold text */
static void
set_format(const char *text)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(older_formats_refused)
{
	mk_error err;

	set_format("mailkeep archive 2\n");
	ck_assert_ptr_null(archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_msg(strstr(err.msg, "archive format 2 (ledger entries not"
			     " chained) is not read") != NULL, "%s", err.msg);
	set_format("mailkeep archive 1\n");
	ck_assert_ptr_null(archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_msg(strstr(err.msg, "archive format 1") != NULL, "%s", err.msg);
	set_format("mailkeep archive 5\n");
	ck_assert_ptr_null(archive_open(dir, ARCHIVE_READ, &err));
	ck_assert_msg(strstr(err.msg, "unknown archive format") != NULL, "%s",
		      err.msg);
}
END_TEST

START_TEST(leftover_spool_removed_and_failed_spool_reported)
{
	char path[128];
	mk_error err;
	archive *ar;
	int fd;

	snprintf(path, sizeof(path), "%s/spool/msg.crashed", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	ar = archive_open(dir, ARCHIVE_WRITE, &err);
	ck_assert_int_eq(count_files("spool"), 0);
	snprintf(path, sizeof(path), "%s/spool", dir);
	ck_assert_int_eq(chmod(path, 0500), 0);
	if (geteuid() != 0) {	/* root ignores the mode */
		ck_assert_ptr_null(archive_spool_begin(ar, 0, &err));
		ck_assert_ptr_nonnull(strstr(err.msg, "cannot create spool file"));
	}
	chmod(path, 0700);
	archive_close(ar);
}
END_TEST

START_TEST(subject_decoded_for_the_index_raw_in_the_record)
{
	const char *rcpts[] = { "a@example.com" };
	archive_envelope env = { .mail_from = "s@x", .rcpts = rcpts, .n_rcpts = 1,
				 .subject = " =?ISO-8859-1?Q?Caf=E9?= \xff" };
	char id[ARCHIVE_ID_LEN + 1], cmd[160];
	archive_message *m;
	archive_proof *p;
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	archive_spool *sp = archive_spool_begin(ar, env.policy.retain_until, &err);

	ck_assert_int_eq(archive_spool_write(sp, "x", 1, &err), 0);
	ck_assert_int_eq(archive_spool_commit(sp, &env, id, &err), 0);
	ck_assert_int_eq(archive_lookup(ar, id, &m, &err), 0);
	ck_assert_str_eq(m->subject, "Caf\xc3\xa9 \xef\xbf\xbd");	/* "Café \uFFFD" */
	archive_message_free(m);
	/* the record keeps the raw value, and is encrypted on disk */
	ck_assert_int_eq(archive_checkpoint_now(ar, &err), 0);
	ck_assert_int_eq(archive_ledger_proof(ar, id, &p, &err), 0);
	ck_assert_ptr_nonnull(strstr(p->record, "=?ISO-8859-1?Q?Caf=E9?="));
	archive_proof_free(p);
	archive_close(ar);
	snprintf(cmd, sizeof(cmd), "grep -rq 'ISO-8859-1' %s/records", dir);
	ck_assert_int_ne(system(cmd), 0);
}
END_TEST

START_TEST(long_fields_cut_content_kept)
{
	const char *rcpts[] = { "a@example.com" };
	static char subject[3 * ARCHIVE_MAX_FIELD];
	archive_envelope env = { .mail_from = "s@x", .rcpts = rcpts, .n_rcpts = 1,
				 .subject = subject };
	char id[ARCHIVE_ID_LEN + 1];
	archive_message *m;
	buffer b = { 0 };
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	archive_spool *sp = archive_spool_begin(ar, env.policy.retain_until, &err);

	memset(subject, 'a', sizeof(subject) - 1);
	ck_assert_int_eq(archive_spool_write(sp, subject, sizeof(subject) - 1, &err), 0);
	ck_assert_int_eq(archive_spool_commit(sp, &env, id, &err), 0);
	ck_assert_int_eq(archive_lookup(ar, id, &m, &err), 0);
	ck_assert_int_eq(strlen(m->subject), ARCHIVE_MAX_FIELD);
	archive_message_free(m);
	ck_assert_int_eq(archive_read(ar, id, collect, &b, &err), 0);
	ck_assert_int_eq(b.len, sizeof(subject) - 1);
	free(b.data);
	archive_close(ar);
}
END_TEST

START_TEST(metadata_only_keeps_no_content_and_no_subject)
{
	const char *rcpts[] = { "a@example.com", "b@example.org" };
	const char *roles[] = { "compliance", "legal" };
	archive_party parties[] = { { "a@example.com", "domain example.com" } };
	archive_envelope env = {
		.mail_from = "s@x", .rcpts = rcpts, .n_rcpts = 2,
		.subject = "SECRET-SUBJECT-TOKEN", .message_id = "<m@x>",
		.date = "Tue, 24 Nov 2026 05:00:00 +0000",
		.policy = { .content = ARCHIVE_METADATA, .direction = "inbound",
			    .retain_until = 1900000000, .roles = roles, .n_roles = 2,
			    .parties = parties, .n_parties = 1 },
	};
	char id[ARCHIVE_ID_LEN + 1], cmd[256];
	archive_message *m;
	buffer b = { 0 };
	mk_error err;
	archive *ar = archive_open(dir, ARCHIVE_WRITE, &err);
	archive_spool *sp;

	/* a spool is for full content only */
	sp = archive_spool_begin(ar, env.policy.retain_until, &err);
	ck_assert_int_eq(archive_spool_commit(sp, &env, id, &err), -1);
	ck_assert_msg(archive_store_metadata(ar, &env, 12345, id, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(archive_lookup(ar, id, &m, &err), 0);
	ck_assert_int_eq(m->content, ARCHIVE_METADATA);
	ck_assert_str_eq(m->sha256, "");
	ck_assert_int_eq(m->size, 12345);
	ck_assert_ptr_null(m->subject);
	ck_assert_str_eq(m->message_id, "<m@x>");
	ck_assert_int_eq(m->retain_until, 1900000000);
	ck_assert_int_eq(m->n_roles, 2);
	ck_assert_str_eq(m->roles[1], "legal");
	ck_assert_ptr_nonnull(strstr(m->policy_json, "\"rule\":\"domain example.com\""));
	archive_message_free(m);
	ck_assert_int_eq(archive_read(ar, id, collect, &b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "metadata only"));
	free(b.data);
	archive_close(ar);
	ck_assert_int_eq(count_files("content"), 0);
	snprintf(cmd, sizeof(cmd), "grep -rqa SECRET-SUBJECT-TOKEN '%s'", dir);
	ck_assert_int_ne(system(cmd), 0);	/* nowhere: records, index, WAL */
	/* and a full message cannot go through the metadata door */
	env.policy.content = ARCHIVE_FULL;
	ar = archive_open(dir, ARCHIVE_WRITE, &err);
	ck_assert_int_eq(archive_store_metadata(ar, &env, 1, id, &err), -1);
	archive_close(ar);
}
END_TEST

START_TEST(keys_created_private)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/keys/signing-1.pem", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/keys/data-1.key", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 32);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

/*
 * Writer forwarding (archive/forward.c, serve.c): a process that holds
 * the writer lock stores for another that opens the archive
 * ARCHIVE_WRITE.  The holder is a real process: forked, or (for the
 * fault shim, which must be preloaded) this program run again with
 * --holder DIR.
 */

/* A holder process: its pid, the pipe that stops it (closed: stop). */
typedef struct holder {
	pid_t pid;
	int stop_fd;
} holder;

/* holder_main - open dir for writing, say "R" on ready_fd (or "F" and
 * why), wait until stop_fd reaches its end, close; the exit status */
static int
holder_main(const char *path, int ready_fd, int stop_fd)
{
	archive *ar;
	mk_error err;
	char c;

	if ((ar = archive_open(path, ARCHIVE_WRITE, &err)) == NULL) {
		if (write(ready_fd, "F", 1) < 0 || write(ready_fd, err.msg,
			  strlen(err.msg)) < 0)
			return 2;
		return 1;
	}
	if (write(ready_fd, "R", 1) != 1)
		return 2;
	while (read(stop_fd, &c, 1) > 0)
		;
	archive_close(ar);
	return 0;
}

/* with_sanitizer - preload with the sanitizer's runtime first when this
 * program runs with one (ASan refuses to start otherwise: the fault
 * tests' ft_preload does the same), into out */
static void
with_sanitizer(const char *preload, char *out, size_t size)
{
	char line[600], *path;
	FILE *maps = fopen("/proc/self/maps", "r");

	snprintf(out, size, "%s", preload);
	while (maps != NULL && fgets(line, sizeof(line), maps) != NULL) {
		if (strstr(line, "libasan.so") == NULL
		    || (path = strchr(line, '/')) == NULL)
			continue;
		path[strcspn(path, "\n")] = '\0';
		snprintf(out, size, "%s %s", path, preload);
		break;
	}
	if (maps != NULL)
		fclose(maps);
}

/* holder_start - a holder of the archive for writing in a new process;
 * with preload (a shim) and fault (MK_FAULT), this program run anew */
static holder
holder_start(const char *preload, const char *fault, const char *flag)
{
	int ready[2], stop[2];
	char buf[600] = "", rfd[16], sfd[16], libs[1200];
	holder h;
	ssize_t n;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(stop), 0);
	ck_assert_int_ge(h.pid = fork(), 0);
	if (h.pid == 0) {
		close(ready[0]);
		close(stop[1]);
		if (preload == NULL)
			_exit(holder_main(dir, ready[1], stop[0]));
		snprintf(rfd, sizeof(rfd), "%d", ready[1]);
		snprintf(sfd, sizeof(sfd), "%d", stop[0]);
		with_sanitizer(preload, libs, sizeof(libs));
		setenv("LD_PRELOAD", libs, 1);
		setenv("MK_FAULT", fault, 1);
		setenv("MK_FAULT_FLAG", flag, 1);
		setenv("MK_FAULT_LOG", "/dev/null", 1);
		execl("/proc/self/exe", "test_archive", "--holder", dir, rfd,
		      sfd, (char *)NULL);
		_exit(3);
	}
	close(ready[1]);
	close(stop[0]);
	n = read(ready[0], buf, sizeof(buf) - 1);
	close(ready[0]);
	ck_assert_msg(n > 0 && buf[0] == 'R', "holder: %s", n > 0 ? buf : "died");
	h.stop_fd = stop[1];
	return h;
}

/* exit_status - wait for the child pid; its exit status (-1: killed) */
static int
exit_status(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* holder_stop - close the holder's archive; its exit status */
static int
holder_stop(holder *h)
{
	int status;

	close(h->stop_fd);
	ck_assert_int_eq(waitpid(h->pid, &status, 0), h->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* sock_exists - is there a socket at dir/writer.sock, mode 0600? */
static bool
sock_exists(void)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/writer.sock", dir);
	if (stat(path, &st) != 0)
		return false;
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	return true;
}

/* Pseudo-random content, made again to check it: xorshift64. */
typedef struct noise {
	uint64_t x;
	size_t left;			/* bytes still expected */
	bool differs;
} noise;

/* noise_fill - the next len bytes of the stream into buf */
static void
noise_fill(noise *g, unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		g->x ^= g->x << 13;
		g->x ^= g->x >> 7;
		g->x ^= g->x << 17;
		buf[i] = (unsigned char)g->x;
	}
}

/* noise_check - archive_sink_fn comparing with the stream */
static int
noise_check(const void *buf, size_t len, void *ctx)
{
	noise *g = ctx;
	unsigned char want[65536];
	size_t n;

	for (n = 0; !g->differs && n < len; n += sizeof(want)) {
		size_t k = len - n < sizeof(want) ? len - n : sizeof(want);

		if (k > g->left) {
			g->differs = true;
			break;
		}
		noise_fill(g, want, k);
		g->differs = memcmp(want, (const char *)buf + n, k) != 0;
		g->left -= k;
	}
	return 0;
}

/* store_noise - a message of size bytes of noise from seed, written in
 * pieces of 1 MiB (never whole in memory); 0 and its id, or -1 with err */
static int
store_noise(archive *ar, uint64_t seed, size_t size,
	    char id[ARCHIVE_ID_LEN + 1], mk_error *err)
{
	static unsigned char piece[1 << 20];
	const char *rcpts[] = { "big@example.com" };
	archive_envelope env = { .mail_from = "s@example.net", .rcpts = rcpts,
				 .n_rcpts = 1, .subject = "noise" };
	noise g = { .x = seed };
	archive_spool *sp = archive_spool_begin(ar, 0, err);
	size_t n;

	if (sp == NULL)
		return -1;
	for (; size > 0; size -= n) {
		n = size < sizeof(piece) ? size : sizeof(piece);
		noise_fill(&g, piece, n);
		if (archive_spool_write(sp, piece, n, err) != 0) {
			archive_spool_discard(sp);
			return -1;
		}
	}
	return archive_spool_commit(sp, &env, id, err);
}

/* reads_noise - message id reads back as size bytes of seed's noise */
static void
reads_noise(archive *ar, const char *id, uint64_t seed, size_t size)
{
	noise g = { .x = seed, .left = size };
	mk_error err;

	ck_assert_msg(archive_read(ar, id, noise_check, &g, &err) == 0, "%s",
		      err.msg);
	ck_assert(!g.differs);
	ck_assert_uint_eq(g.left, 0);
}

/* The whole envelope of a forwarded message, strings that are not UTF-8
 * among them. */
static const char *const fw_rcpts[] = { "a@example.com", "B@Example.ORG" };
static const char *const fw_roles[] = { "compliance", "legal" };
static const archive_party fw_parties[] = {
	{ "a@example.com", "domain example.com" }, { "s@example.net", NULL },
};
static const archive_envelope fw_env = {
	.queue_id = "4QID", .client_addr = "192.0.2.7",
	.client_name = "mx.example.net", .helo = "h\xffo",
	.auth_user = "alice", .tls_version = "TLSv1.3",
	.mail_from = "s@example.net", .rcpts = fw_rcpts, .n_rcpts = 2,
	.message_id = "<fw@example.net>", .subject = "Caf\xe9",
	.date = "Tue, 1 Dec 2026 10:00:00 +0000", .origin = "import",
	.received_at = 1795000000123456LL,
	.policy = { .content = ARCHIVE_FULL, .direction = "inbound",
		    .retain_until = 4102444800LL, .roles = fw_roles,
		    .n_roles = 2, .parties = fw_parties, .n_parties = 2 },
};

/* envelope_kept - the index has fw_env's members for id */
static void
envelope_kept(archive *ar, const char *id, archive_content content)
{
	archive_message *m;
	mk_error err;

	ck_assert_msg(archive_lookup(ar, id, &m, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(m->queue_id, "4QID");
	ck_assert_str_eq(m->client_addr, "192.0.2.7");
	ck_assert_str_eq(m->client_name, "mx.example.net");
	ck_assert_str_eq(m->helo, "h\xef\xbf\xbdo");	/* U+FFFD: it came */
	ck_assert_str_eq(m->auth_user, "alice");
	ck_assert_str_eq(m->tls_version, "TLSv1.3");
	ck_assert_str_eq(m->mail_from, "s@example.net");
	ck_assert_int_eq(m->n_rcpts, 2);
	ck_assert_str_eq(m->rcpts[1], "B@Example.ORG");
	ck_assert_str_eq(m->message_id, "<fw@example.net>");
	ck_assert_str_eq(m->date, "Tue, 1 Dec 2026 10:00:00 +0000");
	ck_assert_str_eq(m->origin, "import");
	ck_assert_int_eq(m->received_at, 1795000000123456LL);
	ck_assert_int_eq(m->retain_until, 4102444800LL);
	ck_assert_int_eq(m->content, content);
	ck_assert_int_eq(m->n_roles, 2);
	ck_assert_str_eq(m->roles[1], "legal");
	ck_assert_ptr_nonnull(strstr(m->policy_json, "\"direction\":\"inbound\""));
	ck_assert_ptr_nonnull(strstr(m->policy_json,
				     "{\"address\":\"a@example.com\",\"rule\":"
				     "\"domain example.com\"}"));
	if (content == ARCHIVE_FULL)
		ck_assert_str_eq(m->subject, "Caf\xef\xbf\xbd");
	else
		ck_assert_ptr_null(m->subject);
	archive_message_free(m);
}

/* max_rss_kb - the largest resident set of this process so far */
static long
max_rss_kb(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

START_TEST(forwarded_stores_are_the_holders)
{
	static const char small[] = "Subject: x\r\n\r\nNUL\0and \xff bytes\r\n";
	enum { N_NOISE = 3 };
	static const size_t sizes[N_NOISE] = { 1, 20 << 20, 200000 };
	char ids[N_NOISE + 2][ARCHIVE_ID_LEN + 1];
	archive *fw, *rd;
	archive_spool *sp;
	buffer b = { 0 };
	holder h = holder_start(NULL, NULL, NULL);
	long rss_before;
	mk_error err;
	int i;

	ck_assert(sock_exists());
	fw = archive_open(dir, ARCHIVE_WRITE, &err);
	ck_assert_msg(fw != NULL, "%s", err.msg);
	rss_before = max_rss_kb();
	for (i = 0; i < N_NOISE; i++)
		ck_assert_msg(store_noise(fw, 77 + i, sizes[i], ids[i], &err) == 0,
			      "%s", err.msg);
	/* 20 MiB went through in frames: the sender never held it whole */
	ck_assert_int_lt(max_rss_kb() - rss_before, 10 * 1024);
	sp = archive_spool_begin(fw, fw_env.policy.retain_until, &err);
	ck_assert_msg(sp != NULL, "%s", err.msg);
	ck_assert_int_eq(archive_spool_write(sp, small, sizeof(small) - 1, &err), 0);
	ck_assert_msg(archive_spool_commit(sp, &fw_env, ids[N_NOISE], &err) == 0,
		      "%s", err.msg);
	{
		archive_envelope md = fw_env;

		md.policy.content = ARCHIVE_METADATA;
		ck_assert_msg(archive_store_metadata(fw, &md, 4242,
			      ids[N_NOISE + 1], &err) == 0, "%s", err.msg);
	}
	/* a discarded spool and a refused one store nothing */
	sp = archive_spool_begin(fw, 0, &err);
	ck_assert_int_eq(archive_spool_write(sp, "gone", 4, &err), 0);
	archive_spool_discard(sp);
	ck_assert_ptr_null(archive_spool_begin(fw, 86400, &err));
	ck_assert_msg(strstr(err.msg, "on a day that has begun") != NULL, "%s",
		      err.msg);
	/* through the forwarding handle and a reader of its own */
	rd = archive_open(dir, ARCHIVE_READ, &err);
	for (i = 0; i < N_NOISE; i++) {
		reads_noise(fw, ids[i], 77 + i, sizes[i]);
		reads_noise(rd, ids[i], 77 + i, sizes[i]);
	}
	envelope_kept(fw, ids[N_NOISE], ARCHIVE_FULL);
	envelope_kept(rd, ids[N_NOISE + 1], ARCHIVE_METADATA);
	ck_assert_int_eq(archive_read(rd, ids[N_NOISE], collect, &b, &err), 0);
	ck_assert_int_eq(b.len, sizeof(small) - 1);
	ck_assert_int_eq(memcmp(b.data, small, b.len), 0);
	free(b.data);
	archive_close(rd);
	archive_close(fw);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert(!sock_exists());	/* the holder removed it */
	ck_assert_int_eq(count_entries(dir, "stored"), N_NOISE + 2);
	rd = archive_open(dir, ARCHIVE_WRITE, &err);	/* the lock is free */
	ck_assert_uint_eq(verify_clean(rd), 0);
	archive_close(rd);
}
END_TEST

/* spool_some - a forwarded spool begun, with 1 MiB of content */
static archive_spool *
spool_some(archive *fw)
{
	static unsigned char piece[1 << 20];
	archive_spool *sp;
	mk_error err;

	memset(piece, 'x', sizeof(piece));
	ck_assert_msg((sp = archive_spool_begin(fw, 0, &err)) != NULL, "%s",
		      err.msg);
	ck_assert_msg(archive_spool_write(sp, piece, sizeof(piece), &err) == 0,
		      "%s", err.msg);
	return sp;
}

START_TEST(forwarded_store_fails_whole_when_the_holder_does)
{
	const char *rcpts[] = { "a@example.com" };
	archive_envelope env = { .mail_from = "s@x", .rcpts = rcpts, .n_rcpts = 1 };
	char id[ARCHIVE_ID_LEN + 1];
	archive_spool *sp;
	archive *fw;
	mk_error err;
	holder h;

	/* the holder is killed in the middle of a message */
	h = holder_start(NULL, NULL, NULL);
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	sp = spool_some(fw);
	kill(h.pid, SIGKILL);
	ck_assert_int_eq(holder_stop(&h), 128 + SIGKILL);
	ck_assert(sock_exists());	/* a stale one: nobody removed it */
	ck_assert_int_eq(archive_spool_commit(sp, &env, id, &err), -1);
	ck_assert_msg(strstr(err.msg, "writer") != NULL, "%s", err.msg);
	archive_close(fw);
	/* the holder closes while a message is being received */
	h = holder_start(NULL, NULL, NULL);	/* replaced the stale socket */
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	sp = spool_some(fw);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert(!sock_exists());
	ck_assert_int_eq(archive_spool_commit(sp, &env, id, &err), -1);
	ck_assert_msg(strstr(err.msg, "writer is closing") != NULL
		      || strstr(err.msg, "broke") != NULL, "%s", err.msg);
	archive_close(fw);
	ck_assert_int_eq(count_entries(dir, "stored"), 0);
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_uint_eq(verify_clean(fw), 0);
	archive_close(fw);
}
END_TEST

/* child_stores - in a child process, open ARCHIVE_WRITE and store one
 * message: its exit status, 0 when stored */
static int
child_stores(uint64_t seed)
{
	char id[ARCHIVE_ID_LEN + 1];
	mk_error err;
	pid_t pid;

	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		archive *fw = archive_open(dir, ARCHIVE_WRITE, &err);

		_exit(fw != NULL && store_noise(fw, seed, 3000, id, &err) == 0
		      ? 0 : 1);
	}
	return exit_status(pid);
}

START_TEST(a_forwarder_becomes_the_writer_when_the_holder_goes)
{
	char id[ARCHIVE_ID_LEN + 1];
	archive *fw;
	mk_error err;
	holder h;

	/* the milter started while an import held the archive: once the
	 * import is done, the milter's next store takes the lock */
	h = holder_start(NULL, NULL, NULL);
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_msg(store_noise(fw, 1, 100, id, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert(!sock_exists());
	ck_assert_msg(store_noise(fw, 2, 100, id, &err) == 0, "%s", err.msg);
	reads_noise(fw, id, 2, 100);
	ck_assert(sock_exists());	/* and it serves others in turn */
	ck_assert_int_eq(child_stores(3), 0);
	{
		archive_envelope md = fw_env;

		md.policy.content = ARCHIVE_METADATA;
		ck_assert_msg(archive_store_metadata(fw, &md, 1, id, &err) == 0,
			      "%s", err.msg);
	}
	archive_close(fw);
	ck_assert(!sock_exists());
	ck_assert_int_eq(count_entries(dir, "stored"), 4);
	/* killed, too: the next store of a forwarder takes over */
	h = holder_start(NULL, NULL, NULL);
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	kill(h.pid, SIGKILL);
	ck_assert_int_eq(holder_stop(&h), 128 + SIGKILL);
	ck_assert_int_eq(archive_store_metadata(fw, &(archive_envelope){
		.policy.content = ARCHIVE_METADATA }, 1, id, &err), 0);
	archive_close(fw);
	ck_assert_int_eq(count_entries(dir, "stored"), 5);
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_uint_eq(verify_clean(fw), 0);
	archive_close(fw);
}
END_TEST

START_TEST(forwarded_store_fails_with_the_holders_write_error)
{
	const char *shim = getenv("FAULTINJECT");
	char flag[128], id[ARCHIVE_ID_LEN + 1];
	archive_envelope env = fw_env;
	archive_spool *sp;
	archive *fw;
	mk_error err;
	holder h;
	int fd;

	if (shim == NULL || access(shim, R_OK) != 0) {
		fprintf(stderr, "skipped: FAULTINJECT (tests/tools/faultinject.so)"
			" not set: run through make check\n");
		return;
	}
	snprintf(flag, sizeof(flag), "%s.armed", dir);
	h = holder_start(shim, "fdatasync|fsync:ledger.log:1+:EIO", flag);
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_int_ge(fd = open(flag, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	env.policy.retain_until = 0;	/* spool_some's */
	sp = spool_some(fw);
	ck_assert_int_eq(archive_spool_commit(sp, &env, id, &err), -1);
	ck_assert_msg(strstr(err.msg, "Input/output error") != NULL, "%s",
		      err.msg);
	ck_assert_int_eq(unlink(flag), 0);	/* the disk is well again */
	sp = spool_some(fw);
	ck_assert_msg(archive_spool_commit(sp, &env, id, &err) == 0, "%s",
		      err.msg);
	archive_close(fw);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert_int_eq(count_entries(dir, "stored"), 1);
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_uint_eq(verify_clean(fw), 0);
	archive_close(fw);
}
END_TEST

/* raw_connect - a connection to writer.sock, as the test speaks it (not
 * through archive/forward.c: the protocol of FORMAT.md 1.4 by hand) */
static int
raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 10, 0 };	/* no answer: a failure, not a hang */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/writer.sock", dir);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* sent_or_refused - a send went whole, or the writer had already hung up
 * (it may refuse a frame on its header alone: its E waits to be read) */
static void
sent_or_refused(ssize_t n, size_t len)
{
	ck_assert_msg(n == (ssize_t)len || (n < 0 && (errno == EPIPE
						    || errno == ECONNRESET)),
		      "send: %zd of %zu (%s)", n, len, strerror(errno));
}

/* raw_send - a frame: type, 32-bit big-endian length (said), bytes */
static void
raw_send(int fd, char type, uint32_t said, const void *buf, size_t len)
{
	unsigned char head[5] = { (unsigned char)type, said >> 24, said >> 16,
				  said >> 8, said };

	sent_or_refused(send(fd, head, 5, MSG_NOSIGNAL), 5);
	if (len > 0)
		sent_or_refused(send(fd, buf, len, MSG_NOSIGNAL), len);
}

/* raw_answer - the writer's answer: its type (0: the connection closed)
 * and text into text[size] */
static char
raw_answer(int fd, char *text, size_t size)
{
	unsigned char head[5];
	size_t len;

	text[0] = '\0';
	if (recv(fd, head, 5, MSG_WAITALL) != 5)
		return 0;
	len = (size_t)head[1] << 24 | head[2] << 16 | head[3] << 8 | head[4];
	ck_assert_uint_lt(len, size);
	if (len > 0)	/* a recv of 0 bytes would wait for some */
		ck_assert_int_eq(recv(fd, text, len, MSG_WAITALL), (ssize_t)len);
	text[len] = '\0';
	return (char)head[0];
}

/* raw_refused - the answer is E saying why, then the writer hangs up */
static void
raw_refused(int fd, const char *why)
{
	char text[1024];

	ck_assert_int_eq(raw_answer(fd, text, sizeof(text)), 'E');
	ck_assert_msg(strstr(text, why) != NULL, "%s", text);
	ck_assert_int_eq(raw_answer(fd, text, sizeof(text)), 0);
	close(fd);
}

/* raw_begin - a connection with a spool begun (retention forever) */
static int
raw_begin(void)
{
	static const unsigned char forever[8];
	char text[64];
	int fd = raw_connect();

	raw_send(fd, 'B', 8, forever, 8);
	ck_assert_int_eq(raw_answer(fd, text, sizeof(text)), 'O');
	return fd;
}

START_TEST(malformed_frames_close_the_connection_and_change_nothing)
{
	static const char bad_env[] = "{\"mail_from\":\"s@x\",\"rcpts\":[],"
	    "\"sender_score\":1}";
	static const char nul_env[] = "{\"mail_from\":{\"base64\":\"YQBi\"}}";
	static const char bad_md[] = "{\"size\":-1,\"envelope\":{}}";
	char id[ARCHIVE_ID_LEN + 1];
	holder h = holder_start(NULL, NULL, NULL);
	archive *fw;
	mk_error err;
	int fd;

	fd = raw_connect();
	raw_send(fd, 'X', 0, NULL, 0);
	raw_refused(fd, "type 0x58");
	fd = raw_connect();
	raw_send(fd, 'B', 7, "1234567", 7);
	raw_refused(fd, "a begin frame of 7 bytes");
	fd = raw_begin();
	raw_send(fd, 'D', 0xffffffffu, NULL, 0);
	raw_refused(fd, "more than 65536");
	fd = raw_begin();
	raw_send(fd, 'D', 0, NULL, 0);
	raw_refused(fd, "empty content");
	fd = raw_begin();
	raw_send(fd, 'D', 5, "hello", 5);
	raw_send(fd, 'C', 5, "{not", 5);
	raw_refused(fd, "not a JSON object");
	fd = raw_begin();
	raw_send(fd, 'D', 5, "hello", 5);
	raw_send(fd, 'C', sizeof(bad_env) - 1, bad_env, sizeof(bad_env) - 1);
	raw_refused(fd, "envelope's sender_score is not valid");
	fd = raw_begin();
	raw_send(fd, 'D', 5, "hello", 5);
	raw_send(fd, 'C', sizeof(nul_env) - 1, nul_env, sizeof(nul_env) - 1);
	raw_refused(fd, "envelope's mail_from is not valid");
	fd = raw_begin();
	raw_send(fd, 'B', 8, "\0\0\0\0\0\0\0\0", 8);	/* begin twice */
	raw_refused(fd, "type 0x42");
	fd = raw_connect();
	raw_send(fd, 'M', sizeof(bad_md) - 1, bad_md, sizeof(bad_md) - 1);
	raw_refused(fd, "a metadata frame is");
	fd = raw_begin();	/* content, then hanging up: nothing kept */
	raw_send(fd, 'D', 5, "hello", 5);
	close(fd);
	/* the holder serves on */
	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_msg(store_noise(fw, 5, 1000, id, &err) == 0, "%s", err.msg);
	reads_noise(fw, id, 5, 1000);
	archive_close(fw);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert_int_eq(count_entries(dir, "stored"), 1);
}
END_TEST

/* as_user_stores - in a child process as uid: open dir ARCHIVE_WRITE
 * and store a message; 0 when it was stored, 1 when the open failed, 2
 * when the store did; why into why[size] */
static int
as_user_stores(uid_t uid, char *why, size_t size)
{
	int p[2], status;
	char id[ARCHIVE_ID_LEN + 1];
	mk_error err = { "" };
	archive *fw;
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		int rc = 1;

		close(p[0]);
		if (setgid(uid) != 0 || setuid(uid) != 0)
			_exit(9);
		if ((fw = archive_open(dir, ARCHIVE_WRITE, &err)) != NULL) {
			rc = store_noise(fw, 9, 100, id, &err) == 0 ? 0 : 2;
			archive_close(fw);
		}
		if (write(p[1], err.msg, strlen(err.msg)) < 0)
			rc = 8;
		_exit(rc);
	}
	close(p[1]);
	n = read(p[0], why, size - 1);
	why[n > 0 ? n : 0] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(only_the_owner_and_root_are_served)
{
	const uid_t nobody = 65534;
	char cmd[256], why[600];
	holder h;
	int fd;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: only_the_owner_and_root_are_served"
			" needs root (a client of another uid)\n");
		return;
	}
	/* the archive is root's; the socket made reachable for the test,
	 * so that the uid check is what refuses */
	h = holder_start(NULL, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "chmod 0711 '%s' && chmod 0666"
		 " '%s/writer.sock'", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_ge(fd = fork(), 0);	/* fd: a pid, here */
	if (fd == 0) {	/* as nobody: told why at once, and hung up on */
		int s, ok;
		char text[600];

		if (setgid(nobody) != 0 || setuid(nobody) != 0)
			_exit(9);
		s = raw_connect();
		ok = raw_answer(s, text, sizeof(text)) == 'E'
		    && strstr(text, "uid 65534 may not store") != NULL
		    && raw_answer(s, text, sizeof(text)) == 0;
		close(s);
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(exit_status(fd), 0);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert_int_eq(count_entries(dir, "stored"), 0);
	/* an archive of nobody's: nobody is served by root's holder */
	snprintf(cmd, sizeof(cmd), "chmod 0700 '%s' && chown -R %u '%s'", dir,
		 (unsigned)nobody, dir);
	ck_assert_int_eq(system(cmd), 0);
	h = holder_start(NULL, NULL, NULL);
	ck_assert_msg(as_user_stores(nobody, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert_int_eq(count_entries(dir, "stored"), 1);
}
END_TEST

/* stale_socket - a socket at writer.sock that nobody listens on */
static void
stale_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/writer.sock", dir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

START_TEST(stale_socket_replaced_and_a_lone_writer_refuses)
{
	char id[ARCHIVE_ID_LEN + 1], why[600];
	archive *ar, *alone;
	mk_error err;
	holder h;

	/* a stale socket does not fool the next opener: it takes the lock,
	 * replaces the socket, and serves */
	stale_socket();
	/* the holder is forked before this process starts any thread (a
	 * child forked from a process with threads can find a lock held
	 * forever: it hung under ASan) */
	h = holder_start(NULL, NULL, NULL);
	ck_assert(sock_exists());
	ck_assert_ptr_nonnull(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_msg(store_noise(ar, 3, 3000, id, &err) == 0, "%s", err.msg);
	archive_close(ar);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert(!sock_exists());
	ck_assert_int_eq(count_entries(dir, "stored"), 1);
	/* a writer that serves nobody: an opener waits, then says so */
	ck_assert_ptr_nonnull(alone = archive_open(dir, ARCHIVE_WRITE_ALONE, &err));
	ck_assert(!sock_exists());
	ck_assert_ptr_null(ar = archive_open(dir, ARCHIVE_WRITE, &err));
	ck_assert_msg(strstr(err.msg, "in use by another writer, which takes no"
			     " stores") != NULL, "%s", err.msg);
	archive_close(alone);
	(void)why;
}
END_TEST

/* store_ten - a thread of a forwarding process storing ten messages */
static void *
store_ten(void *p)
{
	archive *fw = p;
	char id[ARCHIVE_ID_LEN + 1];
	mk_error err;
	int i;

	for (i = 0; i < 10; i++)
		if (store_noise(fw, 1000 + i, 5000 + i, id, &err) != 0)
			return strdup(err.msg);
	return NULL;
}

START_TEST(forwarding_threads_store_at_once)
{
	holder h = holder_start(NULL, NULL, NULL);
	pthread_t t[4];
	archive *fw;
	mk_error err;
	void *why;
	int i;

	ck_assert_ptr_nonnull(fw = archive_open(dir, ARCHIVE_WRITE, &err));
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, store_ten, fw), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &why);
		ck_assert_msg(why == NULL, "%s", (char *)why);
	}
	ck_assert_int_eq(search_count(fw, (archive_query){ 0 }), 40);
	archive_close(fw);
	ck_assert_int_eq(holder_stop(&h), 0);
	ck_assert_int_eq(count_entries(dir, "stored"), 40);
}
END_TEST

int
main(int argc, char **argv)
{
	Suite *s;
	TCase *tc, *fwd;

	if (argc == 5 && strcmp(argv[1], "--holder") == 0)	/* holder_start */
		return holder_main(argv[2], atoi(argv[3]), atoi(argv[4]));
	s = suite_create("archive");
	tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, store_and_read_back_byte_exact);
	tcase_add_test(tc, identical_content_is_one_blob);
	tcase_add_test(tc, search_filters);
	tcase_add_test(tc, concurrent_commits_all_land);
	tcase_add_test(tc, ledger_records_stores_and_accesses);
	tcase_add_test(tc, damaged_blob_is_reported);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, older_formats_refused);
	tcase_add_test(tc, leftover_spool_removed_and_failed_spool_reported);
	tcase_add_test(tc, keys_created_private);
	tcase_add_test(tc, long_fields_cut_content_kept);
	tcase_add_test(tc, metadata_only_keeps_no_content_and_no_subject);
	tcase_add_test(tc, subject_decoded_for_the_index_raw_in_the_record);
	tcase_add_test(tc, index_failure_after_the_ledger_is_stored_and_caught_up);
	tcase_add_test(tc, torn_record_line_is_cut_before_the_next_append);
	tcase_add_test(tc, writer_ledger_cache_sees_other_appends);
	tcase_add_test(tc, segments_rotate_and_groups_evict);
	tcase_add_test(tc, expiry_forgets_whole_groups);
	tcase_add_test(tc, expiry_stopped_midway_is_finished_by_the_next_run);
	tcase_add_test(tc, expiry_rekeys_held_messages_so_the_rest_goes);
	tcase_add_test(tc, expiry_rekey_leaves_nothing_of_the_unheld_in_clear);
	tcase_add_test(tc, expiry_rekey_stopped_anywhere_is_finished_by_the_next_run);
	tcase_add_test(tc, redecide_roles_only_reseals_in_place);
	tcase_add_test(tc, redecide_shortened_moves_and_rewrites_the_old_group);
	tcase_add_test(tc, redecide_lengthened_leaves_the_old_copy_to_its_expiry);
	tcase_add_test(tc, redecide_metadata_and_none_leave_nothing_of_the_content);
	tcase_add_test(tc, redecide_stopped_anywhere_is_finished_by_the_next_run);
	suite_add_tcase(s, tc);
	fwd = tcase_create("forward");
	tcase_add_checked_fixture(fwd, setup, teardown);
	tcase_set_timeout(fwd, 120);
	tcase_add_test(fwd, forwarded_stores_are_the_holders);
	tcase_add_test(fwd, forwarded_store_fails_whole_when_the_holder_does);
	tcase_add_test(fwd, forwarded_store_fails_with_the_holders_write_error);
	tcase_add_test(fwd, a_forwarder_becomes_the_writer_when_the_holder_goes);
	tcase_add_test(fwd, malformed_frames_close_the_connection_and_change_nothing);
	tcase_add_test(fwd, only_the_owner_and_root_are_served);
	tcase_add_test(fwd, stale_socket_replaced_and_a_lone_writer_refuses);
	tcase_add_test(fwd, forwarding_threads_store_at_once);
	suite_add_tcase(s, fwd);
	return run_suite(s);
}
