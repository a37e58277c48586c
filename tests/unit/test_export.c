/*
 * test_export.c - the export writer and verify-export, without a service.
 *
 * Messages whose lines start with "From " and ">From " (at the start, in
 * the middle, as the last line without a newline) and one kept as
 * metadata only go into a fresh archive; their proofs and content are fed
 * to the writer as the service would, in chunks of 1, 3 and 4096 bytes
 * (so that "From " is split across chunks), in each format; verify-export
 * must find nothing wrong, and the mbox must be mboxrd.  An aborted
 * export leaves nothing.  Then what came up in writing the libFuzzer
 * target for verify-export: a ledger entry whose seq is the least
 * integer (signed overflow); names of added files with control bytes
 * (shown escaped); the custodian and the joined recipients of many
 * parties and recipients, and a header section that comes one short
 * line at a time (all three took time quadratic in their length).
 */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "access/access.h"
#include "discovery/discovery.h"
#include "discovery/exportrow.h"
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
		sp = archive_spool_begin(ar, env.policy.retain_until, &err);
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

/* read_all - the whole file at path (malloc'ed) */
static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	struct stat sb;
	char *text;

	ck_assert_msg(f != NULL && fstat(fileno(f), &sb) == 0, "%s", path);
	ck_assert_ptr_nonnull(text = malloc((size_t)sb.st_size + 1));
	ck_assert_uint_eq(fread(text, 1, (size_t)sb.st_size, f),
			  (size_t)sb.st_size);
	text[sb.st_size] = '\0';
	fclose(f);
	return text;
}

/* edit_first_row - fn(row, its proof) on the first row of the
 * manifest.json of export path, the row written back as a line */
static void
edit_first_row(const char *path, void (*fn)(json_t *row, json_t *proof))
{
	char file[256], *text, *row_start, *row_end, *line;
	json_t *row;
	FILE *f;

	snprintf(file, sizeof(file), "%s/manifest.json", path);
	text = read_all(file);
	row_start = strchr(text, '\n') + 1;
	row_end = strstr(row_start, ",\n");
	ck_assert_ptr_nonnull(row_end);
	*row_end = '\0';
	row = json_loads(row_start, 0, NULL);
	ck_assert_ptr_nonnull(row);
	fn(row, json_object_get(row, "proof"));
	line = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ck_assert_ptr_nonnull(f = fopen(file, "w"));
	fprintf(f, "%.*s%s%s", (int)(row_start - text), text, line, ",\n");
	fputs(row_end + 2, f);
	ck_assert_int_eq(fclose(f), 0);
	free(line);
	json_decref(row);
	free(text);
}

/* The problems a verification found, as "KIND OBJECT: DETAIL" lines. */
typedef struct found {
	char text[8192];
	size_t n;
} found;

/* collect - archive_problem_fn into a found */
static void
collect(const char *kind, const char *object, const char *detail, void *ctx)
{
	found *f = ctx;
	size_t len = strlen(f->text);

	snprintf(f->text + len, sizeof(f->text) - len, "%s %s: %s\n", kind,
		 object, detail);
	f->n++;
}

/* least_seq - the ledger entry of the proof says seq INT64_MIN */
static void
least_seq(json_t *row, json_t *proof)
{
	json_t *entry = json_loads(json_string_value(json_object_get(proof,
				   "entry")), 0, NULL);
	char *text;

	(void)row;
	ck_assert_ptr_nonnull(entry);
	json_object_set_new(entry, "seq", json_integer(INT64_MIN));
	text = json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_object_set_new(proof, "entry", json_string(text));
	free(text);
	json_decref(entry);
}

/* A ledger entry whose seq is the least integer: check_inclusion()
 * computed seq - 1, a signed overflow (UBSan in fuzz_verify_export);
 * now the proof fails. */
START_TEST(least_seq_is_a_proof_problem)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], want[128];
	archive *ar = fill(ids);
	discovery_export_stats st;
	found f = { "", 0 };
	mk_error err;

	snprintf(path, sizeof(path), "%s/out", dir);
	make_export(ar, ids, N_TEXTS + 1, path, DISCOVERY_EXPORT_EML, 4096);
	archive_close(ar);
	edit_first_row(path, least_seq);
	ck_assert_msg(discovery_export_verify(path, NULL, collect, NULL, &f, &st,
					      &err) == 0, "%s", err.msg);
	snprintf(want, sizeof(want), "proof %s: the ledger entry is not in the"
		 " tree of the checkpoint", ids[0]);
	ck_assert_msg(strstr(f.text, want) != NULL, "%s", f.text);
}
END_TEST

/* A file name with control and non-ASCII bytes came to problem() as it
 * was, for a terminal to run (and invalid UTF-8 for the CLI's JSON); now
 * such bytes are shown as \xNN, a backslash as \\. */
START_TEST(problems_are_printable)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], file[256];
	archive *ar = fill(ids);
	discovery_export_stats st;
	found f = { "", 0 };
	mk_error err;
	FILE *out;

	snprintf(path, sizeof(path), "%s/out", dir);
	make_export(ar, ids, N_TEXTS + 1, path, DISCOVERY_EXPORT_EML, 4096);
	archive_close(ar);
	snprintf(file, sizeof(file), "%s/\033]0;title\a\\", path);
	ck_assert_ptr_nonnull(out = fopen(file, "w"));
	fclose(out);
	snprintf(file, sizeof(file), "%s/messages/caf\xc3\xa9\xff.eml", path);
	ck_assert_ptr_nonnull(out = fopen(file, "w"));
	fclose(out);
	ck_assert_msg(discovery_export_verify(path, NULL, collect, NULL, &f, &st,
					      &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.problems, 2);
	ck_assert_msg(strstr(f.text, "added \\x1b]0;title\\x07\\\\: an export"
			     " has no such file\n") != NULL, "%s", f.text);
	ck_assert_msg(strstr(f.text, "added messages/caf\\xc3\\xa9\\xff.eml:"
			     " no manifest row names this file\n") != NULL, "%s",
		      f.text);
}
END_TEST

/* seconds - a monotonic clock */
static double
seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define MANY 60000

/* many_parties - the signed record of the proof names MANY recipients
 * and MANY parties of the decision, none a recipient */
static void
many_parties(json_t *row, json_t *proof)
{
	json_t *record = json_object_get(proof, "record");
	json_t *rec = json_loads(json_string_value(json_object_get(record,
				 "text")), 0, NULL);
	json_t *rcpts = json_array(), *parties = json_array();
	char addr[64], *text;
	size_t i;

	(void)row;
	ck_assert_ptr_nonnull(rec);
	for (i = 0; i < MANY; i++) {
		snprintf(addr, sizeof(addr), "r%zu@example.com", i);
		json_array_append_new(rcpts, json_string(addr));
		snprintf(addr, sizeof(addr), "p%zu@example.com", i);
		json_array_append_new(parties, json_pack("{s:s, s:s}", "address",
							 addr, "rule", "x"));
	}
	json_object_set_new(rec, "rcpts", rcpts);
	json_object_set_new(json_object_get(rec, "policy"), "parties", parties);
	text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_object_set_new(record, "text", json_string(text));
	free(text);
	json_decref(rec);
}

/* A row whose (unsigned, so reported) record names 60,000 recipients
 * and parties: the custodian tried each party against each recipient,
 * and the CSV and EDRM joined the recipients one at a time - 51 s for
 * 40,000 of each, quadratic; now well under a second. */
START_TEST(many_parties_in_linear_time)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], want[128];
	archive *ar = fill(ids);
	discovery_export_stats st;
	found f = { "", 0 };
	mk_error err;
	double t;

	snprintf(path, sizeof(path), "%s/out", dir);
	make_export(ar, ids, N_TEXTS + 1, path, DISCOVERY_EXPORT_EML, 4096);
	archive_close(ar);
	edit_first_row(path, many_parties);
	t = seconds();
	ck_assert_msg(discovery_export_verify(path, NULL, collect, NULL, &f, &st,
					      &err) == 0, "%s", err.msg);
	t = seconds() - t;
	ck_assert_msg(t < 30, "verify-export took %.1f s", t);
	snprintf(want, sizeof(want), "signature %s: the record's signature does"
		 " not hold", ids[0]);
	ck_assert_msg(strstr(f.text, want) != NULL, "%s", f.text);
}
END_TEST

/* The custodian is the first party that is a recipient, ignoring case;
 * manifest.csv joins the recipients with "; ". */
START_TEST(custodian_and_recipients)
{
	const char *rcpts[] = { "z@x.test", "B@x.test", "a@x.test" };
	const archive_party parties[] = { { "c@x.test", "r1" },
		{ "b@X.TEST", "r2" }, { "a@x.test", "r3" } };
	archive_envelope env = { .mail_from = "s@x.test", .rcpts = rcpts,
		.n_rcpts = 3, .received_at = 1700000000000000,
		.policy = { .parties = parties, .n_parties = 3 } };
	char id[1][ARCHIVE_ID_LEN + 1], path[128], file[160], *text;
	discovery_export_stats st;
	archive_spool *sp;
	archive *ar;
	mk_error err;

	ar = archive_open(dir, ARCHIVE_WRITE, &err);
	ck_assert_msg(ar != NULL, "%s", err.msg);
	sp = archive_spool_begin(ar, env.policy.retain_until, &err);
	ck_assert_int_eq(archive_spool_write(sp, texts[1], strlen(texts[1]), &err), 0);
	ck_assert_msg(archive_spool_commit(sp, &env, id[0], &err) == 0, "%s",
		      err.msg);
	ck_assert_int_eq(archive_checkpoint_now(ar, &err), 0);
	snprintf(path, sizeof(path), "%s/out", dir);
	make_export(ar, id, 1, path, DISCOVERY_EXPORT_MBOX, 3);
	archive_close(ar);
	snprintf(file, sizeof(file), "%s/manifest.json", path);
	text = read_all(file);
	ck_assert_msg(strstr(text, "\"custodian\":\"b@X.TEST\"") != NULL, "%s", text);
	free(text);
	snprintf(file, sizeof(file), "%s/manifest.csv", path);
	text = read_all(file);
	ck_assert_msg(strstr(text, "\"b@X.TEST\",\"s@x.test\","
			     "\"z@x.test; B@x.test; a@x.test\"") != NULL, "%s", text);
	free(text);
	ck_assert_msg(discovery_export_verify(path, NULL, no_problem, NULL,
					      "custodian", &st, &err) == 0, "%s",
		      err.msg);
}
END_TEST

/* head_of - the header section export_digest keeps of text given in
 * chunks of chunk bytes */
static void
head_of(const char *text, size_t len, size_t chunk, export_digest *d)
{
	mk_error err;
	size_t i, n;

	ck_assert_int_eq(export_digest_begin(d, &err), 0);
	for (i = 0; i < len; i += n) {
		n = len - i < chunk ? len - i : chunk;
		ck_assert_int_eq(export_digest_add(d, text + i, n), 0);
	}
	ck_assert_int_eq(export_digest_end(d, &err), 0);
}

/* old_head_len - where the header section ended before: the whole
 * section searched again (as a string) after every chunk */
static size_t
old_head_len(const char *text, size_t len, size_t chunk)
{
	char *head = malloc(len + 1), *end;
	size_t have = 0, n, at = len;

	ck_assert_ptr_nonnull(head);
	while (have < len && at == len) {
		n = len - have < chunk ? len - have : chunk;
		memcpy(head + have, text + have, n);
		have += n;
		head[have] = '\0';
		if ((end = strstr(head, "\r\n\r\n")) != NULL)
			at = (size_t)(end - head) + 4;
		else if ((end = strstr(head, "\n\n")) != NULL)
			at = (size_t)(end - head) + 2;
	}
	free(head);
	return at;
}

/* A header section that comes one short line at a time (as the lines of
 * an mbox do) was searched again from its start for every line: 8 s for
 * a 1 MB header section in verify-export; now from 3 bytes before the
 * new ones, with the same result as before for every chunk size (NUL
 * bytes and CRLF and LF empty lines mixed included). */
START_TEST(header_lines_in_linear_time)
{
#define CASE(s) { s, sizeof(s) - 1 }
	static const struct { const char *text; size_t len; } cases[] = {
		CASE("A: 1\r\nB: 2\r\n\r\nbody\n\nmore"),
		CASE("A: 1\n\nbody\r\n\r\n"),
		CASE("A: 1\nB\r\n\r\n\n\n"),
		CASE("A: 1\r\n\nB\r\r\n\r\n"),
		CASE("A: 1\0\n\nB\n\n"),
		CASE("A\n\0\nB\r\n\r\n"),
		CASE("\n\n"),
		CASE("\r\n\r\n"),
		CASE("no end"),
	};
	size_t lines = EXPORT_HEAD_MAX / 5, i, c, k;
	char *big = malloc(lines * 5 + 1);
	export_digest d;
	double t;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		for (c = 1; c <= cases[k].len; c++) {
			head_of(cases[k].text, cases[k].len, c, &d);
			ck_assert_msg(d.head_len == old_head_len(cases[k].text,
								 cases[k].len, c),
				      "case %zu chunk %zu: %zu bytes", k, c,
				      d.head_len);
			export_digest_free(&d);
		}
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < lines; i++)
		memcpy(big + 5 * i, "X: a\n", 5);
	t = seconds();
	for (k = 0; k < 3; k++) {
		head_of(big, lines * 5, 5, &d);
		ck_assert_uint_eq(d.head_len, lines * 5);
		export_digest_free(&d);
	}
	t = seconds() - t;
	ck_assert_msg(t < 10, "3 header sections of %zu lines: %.1f s", lines, t);
	free(big);
}
END_TEST

START_TEST(custody_names_every_row)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], want[300];
	archive *ar = fill(ids);
	discovery_export_stats st;
	found f = { "", 0 };
	mk_error err;

	/* a row removed with its message: the others agree, custody does not */
	snprintf(path, sizeof(path), "%s/short", dir);
	make_export_of(ar, ids, N_TEXTS + 1, N_TEXTS, path, DISCOVERY_EXPORT_EML, 4096);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &f,
						 &st, &err), 0);
	snprintf(want, sizeof(want), "missing %s: the export's audit entry"
		 " (custody.json) names it; no manifest row does\n", ids[N_TEXTS]);
	ck_assert_uint_eq(f.n, 1);
	ck_assert_str_eq(f.text, want);
	/* a row (and message) added */
	memset(&f, 0, sizeof(f));
	snprintf(path, sizeof(path), "%s/long", dir);
	make_export_of(ar, ids, 1, 2, path, DISCOVERY_EXPORT_MBOX, 4096);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &f,
						 &st, &err), 0);
	snprintf(want, sizeof(want), "added %s: a manifest row the export's"
		 " audit entry (custody.json) does not name\n", ids[1]);
	ck_assert_uint_eq(f.n, 1);
	ck_assert_str_eq(f.text, want);
	/* no custody.json at all */
	memset(&f, 0, sizeof(f));
	snprintf(want, sizeof(want), "%s/short/custody.json", dir);
	ck_assert_int_eq(unlink(want), 0);
	snprintf(path, sizeof(path), "%s/short", dir);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &f,
						 &st, &err), 0);
	ck_assert_uint_eq(f.n, 1);
	ck_assert_msg(strncmp(f.text, "missing custody.json:", 21) == 0, "%s",
		      f.text);
	archive_close(ar);
}
END_TEST

START_TEST(links_and_fifos_are_refused)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], file[300];
	archive *ar = fill(ids);
	discovery_export_stats st;
	found f = { "", 0 };
	mk_error err;

	snprintf(path, sizeof(path), "%s/links", dir);
	make_export(ar, ids, N_TEXTS + 1, path, DISCOVERY_EXPORT_EML, 4096);
	snprintf(file, sizeof(file), "%s/messages/%s.eml", path, ids[0]);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(symlink("/dev/zero", file), 0);
	snprintf(file, sizeof(file), "%s/custody.json", path);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(mkfifo(file, 0600), 0);
	/* returns (no endless read of /dev/zero, no block on the FIFO) */
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &f,
						 &st, &err), 0);
	ck_assert_msg(strstr(f.text, ids[0]) != NULL, "%s", f.text);
	ck_assert_msg(strstr(f.text, "custody.json") != NULL, "%s", f.text);
	ck_assert_uint_ge(st.problems, 2);
	archive_close(ar);
}
END_TEST

START_TEST(zip_bomb_is_refused)
{
	static char zeros[1 << 20];
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : dir;
	char path[256], tmpdir[256];
	struct archive *za = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	const int64_t size = (int64_t)1200 << 20;	/* 1.2 GiB of zeros */
	discovery_export_stats st;
	found f = { "", 0 };
	mk_error err;
	int64_t i;

	/* a zip of 1.2 MB that unpacks to 1.2 GiB, over 100 x 1.2 MB + 1 GiB */
	snprintf(path, sizeof(path), "%s/mk-bomb-%d.zip", shm, (int)getpid());
	ck_assert_int_eq(archive_write_set_format_zip(za), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(za, path), ARCHIVE_OK);
	archive_entry_set_pathname(e, "manifest.json");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, size);
	ck_assert_int_eq(archive_write_header(za, e), ARCHIVE_OK);
	for (i = 0; i < size; i += (int64_t)sizeof(zeros))
		ck_assert_int_eq(archive_write_data(za, zeros, sizeof(zeros)),
				 (la_ssize_t)sizeof(zeros));
	ck_assert_int_eq(archive_write_close(za), ARCHIVE_OK);
	archive_write_free(za);
	archive_entry_free(e);
	snprintf(tmpdir, sizeof(tmpdir), "%s", shm);
	setenv("TMPDIR", tmpdir, 1);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &f,
						 &st, &err), -1);
	ck_assert_msg(strstr(err.msg, "zip bomb") != NULL, "%s", err.msg);
	unsetenv("TMPDIR");
	unlink(path);
}
END_TEST

START_TEST(overlong_manifest_line_is_a_problem)
{
	char ids[N_TEXTS + 1][ARCHIVE_ID_LEN + 1], path[128], file[300];
	static char xs[1 << 20];
	archive *ar = fill(ids);
	discovery_export_stats st;
	found f = { "", 0 };
	mk_error err;
	FILE *m;
	int i;

	snprintf(path, sizeof(path), "%s/long-line", dir);
	make_export(ar, ids, 1, path, DISCOVERY_EXPORT_EML, 4096);
	snprintf(file, sizeof(file), "%s/manifest.json", path);
	ck_assert_ptr_nonnull(m = fopen(file, "w"));
	fputs("{\"format\":\"mailkeep-export/1\",\"export\":\"eml\","
	      "\"messages\":[\n", m);
	memset(xs, 'x', sizeof(xs));
	for (i = 0; i < 65; i++)	/* 65 MiB, no newline: over ROW_MAX */
		ck_assert_uint_eq(fwrite(xs, 1, sizeof(xs), m), sizeof(xs));
	fputs("\n]}\n", m);
	ck_assert_int_eq(fclose(m), 0);
	ck_assert_int_eq(discovery_export_verify(path, NULL, collect, NULL, &f,
						 &st, &err), 0);
	ck_assert_msg(strstr(f.text, "manifest manifest.json: line 2 is longer"
			     " than 67108864 bytes") != NULL, "%s", f.text);
	archive_close(ar);
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
	tcase_add_test(tc, links_and_fifos_are_refused);
	tcase_add_test(tc, zip_bomb_is_refused);
	tcase_add_test(tc, overlong_manifest_line_is_a_problem);
	tcase_add_test(tc, least_seq_is_a_proof_problem);
	tcase_add_test(tc, problems_are_printable);
	tcase_add_test(tc, many_parties_in_linear_time);
	tcase_add_test(tc, custodian_and_recipients);
	tcase_add_test(tc, header_lines_in_linear_time);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
