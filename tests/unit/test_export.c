/*
 * test_export.c - the export writer and verify-export, without a service.
 *
 * Messages whose lines start with "From " and ">From " (at the start, in
 * the middle, as the last line without a newline) and one kept as
 * metadata only go into a fresh archive; their proofs and content are fed
 * to the writer as the service would, in chunks of 1, 3 and 4096 bytes
 * (so that "From " is split across chunks), in each format; verify-export
 * must find nothing wrong, and the mbox must be mboxrd.  An aborted
 * export leaves nothing.
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/access.h"
#include "discovery/discovery.h"
#include "tests/unit/unit.h"
#include "tests/unit/archive_fixture.h"

static const char *texts[] = {
	"From: a@x.test\r\nSubject: one\r\n\r\nFrom the start\r\n>From once\r\n"
	">>From twice\r\nFrom",
	"Subject: two\n\nline\nFrom ",
	"From x Thu Jan  1 00:00:00 1970\n\n\n",
};
#define N_TEXTS (sizeof(texts) / sizeof(texts[0]))

/* Feeding the writer. */
typedef struct feed {
	discovery_export *x;
	size_t chunk;
} feed;

/* chunked - archive_sink_fn: the bytes to the writer, chunk at a time */
static int
chunked(const void *buf, size_t len, void *ctx)
{
	feed *f = ctx;
	const char *p = buf;
	mk_error err;
	size_t n;

	while (len > 0) {
		n = len < f->chunk ? len : f->chunk;
		ck_assert_msg(discovery_export_data(f->x, p, n, &err) == 0, "%s",
			      err.msg);
		p += n, len -= n;
	}
	return 0;
}

/* key_item - archive_key_fn into a JSON array */
static int
key_item(unsigned gen, const char *pem, size_t len, void *ctx)
{
	return json_array_append_new(ctx, json_pack("{s:I, s:s%}", "gen",
				     (json_int_t)gen, "pem", pem, len));
}

/* send_item - obj (consumed) as a 'J' frame to the writer */
static void
send_item(discovery_export *x, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	mk_error err;

	ck_assert_msg(discovery_export_item(x, text, strlen(text), &err) == 0,
		      "%s", err.msg);
	free(text);
	json_decref(obj);
}

/* audit_export - the audit entry of an export of ids, as the service
 * writes it before the export; its seq */
static int64_t
audit_export(archive *ar, char ids[][ARCHIVE_ID_LEN + 1], size_t n)
{
	access_identity who = { .uid = 0, .user = "root", .via = "offline" };
	const char *ptrs[N_TEXTS + 1];
	access_audit a = { .op = ACCESS_OP_EXPORT, .outcome = ACCESS_GRANTED,
			   .ids = ptrs, .n_ids = n };
	int64_t seq = 0;
	mk_error err;
	size_t i;

	for (i = 0; i < n; i++)
		ptrs[i] = ids[i];
	ck_assert_msg(access_audit_write(ar, &who, &a, &seq, &err) == 0, "%s",
		      err.msg);
	ck_assert_int_eq(archive_checkpoint_now(ar, &err), 0);
	return seq;
}

/* send_keys - the first frame: the keys and the proof of the audit entry
 * at seq, from pv */
static void
send_keys(archive *ar, archive_prover *pv, int64_t seq, discovery_export *x)
{
	json_t *keys = json_array();
	archive_proof *p;
	mk_error err;

	ck_assert_int_eq(archive_public_keys(ar, key_item, keys, &err), 0);
	ck_assert_msg(archive_prover_entry(pv, seq, &p, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(p->id, "");
	send_item(x, json_pack("{s:o, s:o}", "keys", keys, "custody",
			       access_entry_proof_json(p)));
	archive_proof_free(p);
}

/* make_export - the first n_sent of the messages ids into path, as the
 * service sends them, under an audit entry naming the first n_named */
static void
make_export_of(archive *ar, char ids[][ARCHIVE_ID_LEN + 1], size_t n_named,
	       size_t n_sent, const char *path, discovery_export_format fmt,
	       size_t chunk)
{
	int64_t seq = audit_export(ar, ids, n_named);
	feed f = { NULL, chunk };
	archive_prover *pv;
	archive_message *msg;
	archive_proof *p;
	mk_error err;
	size_t i, rows;

	f.x = discovery_export_begin(path, fmt, &err);
	ck_assert_msg(f.x != NULL, "%s", err.msg);
	ck_assert_msg(archive_prover_open(ar, &pv, &err) == 0, "%s", err.msg);
	send_keys(ar, pv, seq, f.x);
	for (i = 0; i < n_sent; i++) {
		ck_assert_int_eq(archive_lookup(ar, ids[i], &msg, &err), 0);
		ck_assert_msg(archive_prover_proof(pv, msg, &p, &err) == 0,
			      "%s", err.msg);
		send_item(f.x, json_pack("{s:{}, s:o}", "message", "proof",
					 access_proof_json(p)));
		archive_proof_free(p);
		if (msg->content == ARCHIVE_FULL)
			ck_assert_msg(archive_read(ar, ids[i], chunked, &f, &err)
				      == 0, "%s", err.msg);
		archive_message_free(msg);
	}
	archive_prover_free(pv);
	ck_assert_msg(discovery_export_finish(f.x, &rows, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(rows, n_sent);
}

/* make_export - the messages ids into path, as the service sends them */
static void
make_export(archive *ar, char ids[][ARCHIVE_ID_LEN + 1], size_t n,
	    const char *path, discovery_export_format fmt, size_t chunk)
{
	make_export_of(ar, ids, n, n, path, fmt, chunk);
}

/* no_problem - archive_problem_fn: a test failure */
static void
no_problem(const char *kind, const char *object, const char *detail,
	   void *ctx)
{
	ck_abort_msg("%s: PROBLEM %s %s: %s", (const char *)ctx, kind, object,
		     detail);
}

/* fill - the messages and a metadata-only one; a checkpoint over them */
static archive *
fill(char ids[][ARCHIVE_ID_LEN + 1])
{
	const char *rcpts[] = { "r@example.com" };
	archive_envelope env = { .mail_from = "s@x.test", .rcpts = rcpts,
				 .n_rcpts = 1, .received_at = 1700000000000000,
				 .message_id = "<m@x.test>" };
	archive *ar;
	archive_spool *sp;
	mk_error err;
	size_t i;

	ar = archive_open(dir, ARCHIVE_WRITE, &err);
	ck_assert_msg(ar != NULL, "%s", err.msg);
	for (i = 0; i < N_TEXTS; i++) {
		sp = archive_spool_begin(ar, &err);
		ck_assert_msg(sp != NULL, "%s", err.msg);
		ck_assert_int_eq(archive_spool_write(sp, texts[i], strlen(texts[i]),
						     &err), 0);
		ck_assert_msg(archive_spool_commit(sp, &env, ids[i], &err) == 0,
			      "%s", err.msg);
	}
	env.policy.content = ARCHIVE_METADATA;
	ck_assert_msg(archive_store_metadata(ar, &env, 1234, ids[N_TEXTS], &err)
		      == 0, "%s", err.msg);
	ck_assert_int_eq(archive_checkpoint_now(ar, &err), 0);
	return ar;
}

START_TEST(every_format_verifies)
{
	static const discovery_export_format fmts[] = { DISCOVERY_EXPORT_EML,
		DISCOVERY_EXPORT_MBOX, DISCOVERY_EXPORT_ZIP };
	static const size_t chunks[] = { 1, 3, 4096 };
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], what[160];
	archive *ar = fill(ids);
	discovery_export_stats st;
	mk_error err;
	size_t f, c;

	for (f = 0; f < 3; f++)
		for (c = 0; c < 3; c++) {
			snprintf(path, sizeof(path), "%s/out-%zu-%zu", dir, f, c);
			make_export(ar, ids, N_TEXTS + 1, path, fmts[f], chunks[c]);
			snprintf(what, sizeof(what), "format %zu chunk %zu", f,
				 chunks[c]);
			ck_assert_msg(discovery_export_verify(path, NULL,
				      no_problem, NULL, what, &st, &err) == 0,
				      "%s", err.msg);
			ck_assert_uint_eq(st.messages, N_TEXTS + 1);
			ck_assert_uint_eq(st.content, N_TEXTS);
			ck_assert_uint_eq(st.problems, 0);
		}
	archive_close(ar);
}
END_TEST

START_TEST(mbox_is_mboxrd)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], *text = NULL;
	archive *ar = fill(ids);
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/out", dir);
	make_export(ar, ids, 1, path, DISCOVERY_EXPORT_MBOX, 2);
	archive_close(ar);
	snprintf(path, sizeof(path), "%s/out/messages.mbox", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_int_gt(getdelim(&text, &cap, '\0', f), 0);
	fclose(f);
	ck_assert_msg(strncmp(text, "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n",
			      44) == 0, "%s", text);
	ck_assert_msg(strstr(text, "Subject: one\r\n\r\n>From the start") != NULL,
		      "%s", text);
	ck_assert_msg(strstr(text, ">>>From twice\r\nFrom\n") != NULL, "%s", text);
	free(text);
}
END_TEST

/* Problems seen, for the custody test. */
typedef struct seen {
	char text[4][200];
	size_t n;
} seen;

/* collect - archive_problem_fn keeping each problem as text */
static void
collect(const char *kind, const char *object, const char *detail, void *ctx)
{
	seen *s = ctx;

	if (s->n < 4)
		snprintf(s->text[s->n], sizeof(s->text[0]), "%s %s: %s", kind,
			 object, detail);
	s->n++;
}

START_TEST(custody_names_every_row)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], want[200];
	archive *ar = fill(ids);
	discovery_export_stats st;
	seen s = { .n = 0 };
	mk_error err;

	/* a row removed with its message: the others agree, custody does not */
	snprintf(path, sizeof(path), "%s/short", dir);
	make_export_of(ar, ids, N_TEXTS + 1, N_TEXTS, path, DISCOVERY_EXPORT_EML, 4096);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &s,
						 &st, &err), 0);
	snprintf(want, sizeof(want), "missing %s: the export's audit entry"
		 " (custody.json) names it; no manifest row does", ids[N_TEXTS]);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_str_eq(s.text[0], want);
	/* a row (and message) added */
	memset(&s, 0, sizeof(s));
	snprintf(path, sizeof(path), "%s/long", dir);
	make_export_of(ar, ids, 1, 2, path, DISCOVERY_EXPORT_MBOX, 4096);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &s,
						 &st, &err), 0);
	snprintf(want, sizeof(want), "added %s: a manifest row the export's"
		 " audit entry (custody.json) does not name", ids[1]);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_str_eq(s.text[0], want);
	/* no custody.json at all */
	memset(&s, 0, sizeof(s));
	snprintf(want, sizeof(want), "%s/short/custody.json", dir);
	ck_assert_int_eq(unlink(want), 0);
	snprintf(path, sizeof(path), "%s/short", dir);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &s,
						 &st, &err), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_msg(strncmp(s.text[0], "missing custody.json:", 21) == 0, "%s",
		      s.text[0]);
	archive_close(ar);
}
END_TEST

START_TEST(abort_leaves_nothing)
{
	char path[128], partial[160];
	struct stat sb;
	mk_error err;
	discovery_export *x;

	snprintf(path, sizeof(path), "%s/gone", dir);
	snprintf(partial, sizeof(partial), "%s.partial", path);
	x = discovery_export_begin(path, DISCOVERY_EXPORT_EML, &err);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(stat(partial, &sb), 0);
	discovery_export_abort(x);
	ck_assert_int_ne(stat(partial, &sb), 0);
	ck_assert_int_ne(stat(path, &sb), 0);
	mkdir(path, 0700);
	ck_assert_ptr_null(discovery_export_begin(path, DISCOVERY_EXPORT_EML, &err));
	ck_assert_msg(strstr(err.msg, "already exists") != NULL, "%s", err.msg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("export");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, every_format_verifies);
	tcase_add_test(tc, mbox_is_mboxrd);
	tcase_add_test(tc, abort_leaves_nothing);
	tcase_add_test(tc, custody_names_every_row);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
