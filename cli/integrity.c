/*
 * integrity.c - the commands that check and prove the archive: verify,
 * rebuild-index, keys rotate, keys export-public and the ledger proofs.
 *
 * Long operations (verify, rebuild-index) show their progress on stderr
 * when it is a terminal.  Every command prints text for people, or JSON
 * with --json.  verify and ledger proof read the archive, so each leaves
 * an "access" entry in the ledger like search, show and get.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* cli_print_json - obj, indented, and a newline on stdout; consumes obj */
void
cli_print_json(json_t *obj)
{
	json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(obj);
}

/* cli_progress_show - one overwritten line on stderr */
void
cli_progress_show(cli_progress *pl, const char *phase, uint64_t done,
		  uint64_t total)
{
	char line[96];

	if (!pl->tty || phase == NULL)
		return;
	if (total > 0)
		snprintf(line, sizeof(line), "%s: %llu/%llu (%llu%%)", phase,
			 (unsigned long long)done, (unsigned long long)total,
			 (unsigned long long)(100 * (done > total ? total : done)
					      / total));
	else
		snprintf(line, sizeof(line), "%s: %llu", phase,
			 (unsigned long long)done);
	if (strcmp(line, pl->last) == 0)
		return;
	snprintf(pl->last, sizeof(pl->last), "%s", line);
	fprintf(stderr, "\r\033[K%s", line);
	pl->shown = 1;
}

/* cli_progress_end - clear the progress line */
void
cli_progress_end(cli_progress *pl)
{
	if (pl->shown)
		fputs("\r\033[K", stderr);
	pl->shown = 0;
}

/* show_progress - archive_progress_fn onto a cli_progress */
static void
show_progress(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	cli_progress_show(ctx, phase, done, total);
}

/* cli_print_problem - a problem now, or into the JSON; consumes nothing */
int
cli_print_problem(cli_verify_out *vo, json_t *problem)
{
	if (vo->json)
		return json_array_append(vo->problems, problem);
	cli_progress_end(&vo->pl);
	return printf("PROBLEM %s %s: %s\n",
		      json_string_value(json_object_get(problem, "kind")),
		      json_string_value(json_object_get(problem, "object")),
		      json_string_value(json_object_get(problem, "detail"))) < 0
	    ? -1 : 0;
}

/* cli_verify_problem - archive_problem_fn: a problem printed or kept in
 * the cli_verify_out at ctx */
void
cli_verify_problem(const char *kind, const char *object, const char *detail,
	       void *ctx)
{
	json_t *p = json_pack("{s:s, s:s, s:s}", "kind", kind, "object",
			      object, "detail", detail);

	cli_print_problem(ctx, p);
	json_decref(p);
}

/* cli_verify_progress - archive_progress_fn: the progress line of the
 * cli_verify_out at ctx */
void
cli_verify_progress(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	cli_progress_show(&((cli_verify_out *)ctx)->pl, phase, done, total);
}

/* read_file_text - the whole of a (small) text file; caller frees */
static char *
read_file_text(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;
	ssize_t n;

	if (fp == NULL)
		return NULL;
	n = getdelim(&text, &len, '\0', fp);
	fclose(fp);
	if (n < 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* cli_read_keys - verify --keys FILE: its text into rq; 0 or an error */
int
cli_read_keys(cli_request *rq)
{
	if (rq->keys_file == NULL)
		return 0;
	if ((rq->keys_pem = read_file_text(rq->keys_file)) == NULL)
		return cli_error("cannot read %s", rq->keys_file);
	return 0;
}

/* count_of - a member of the stats as an unsigned number */
static unsigned long long
count_of(json_t *stats, const char *name)
{
	return (unsigned long long)json_integer_value(json_object_get(stats, name));
}

/* cli_print_verify - the summary, text or JSON; the exit status */
int
cli_print_verify(cli_verify_out *vo, json_t *stats)
{
	unsigned long long problems = count_of(stats, "problems");
	json_t *obj;

	cli_progress_end(&vo->pl);
	if (!vo->json)
		printf("checked %llu ledger entries (%llu after the last"
		       " checkpoint), %llu checkpoints, %llu records,"
		       " %llu index rows (%llu messages not indexed yet),"
		       " %llu blobs (%.1f MB of messages): %s\n",
		       count_of(stats, "ledger_entries"),
		       count_of(stats, "uncovered_entries"),
		       count_of(stats, "checkpoints"), count_of(stats, "records"),
		       count_of(stats, "index_rows"),
		       count_of(stats, "index_behind"), count_of(stats, "blobs"),
		       (double)count_of(stats, "content_bytes") / 1e6,
		       problems ? "PROBLEMS FOUND" : "all good");
	else {
		obj = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O}",
			"ok", problems == 0,
			"ledger_entries", (json_int_t)count_of(stats, "ledger_entries"),
			"uncovered_entries", (json_int_t)count_of(stats, "uncovered_entries"),
			"checkpoints", (json_int_t)count_of(stats, "checkpoints"),
			"records", (json_int_t)count_of(stats, "records"),
			"index_rows", (json_int_t)count_of(stats, "index_rows"),
			"index_behind", (json_int_t)count_of(stats, "index_behind"),
			"blobs", (json_int_t)count_of(stats, "blobs"),
			"content_bytes", (json_int_t)count_of(stats, "content_bytes"),
			"problems", vo->problems);
		cli_print_json(obj);
	}
	if (cli_finish_output() != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	if (problems > 0)
		return cli_error("verify found %llu problem%s", problems,
				 problems == 1 ? "" : "s");
	return CLI_EXIT_OK;
}

/* cli_cmd_verify - check the whole archive (offline) */
int
cli_cmd_verify(const mk_config *cfg, const cli_request *rq)
{
	cli_verify_out vo = { .pl = { .tty = isatty(STDERR_FILENO) },
			      .json = rq->json, .problems = json_array() };
	archive_verify_stats st;
	archive *ar;
	json_t *stats;
	mk_error err;
	int status;

	if ((ar = cli_open_archive(cfg)) == NULL) {
		json_decref(vo.problems);
		return CLI_EXIT_FAIL;
	}
	if (cli_audit_offline(ar, ACCESS_OP_VERIFY, rq, NULL, 0) != 0)
		status = CLI_EXIT_FAIL;
	else if (archive_verify(ar, rq->keys_pem, cli_verify_problem,
				cli_verify_progress, &vo, &st, &err) != 0) {
		cli_progress_end(&vo.pl);
		status = cli_error("verify could not finish: %s", err.msg);
	} else {
		stats = access_verify_json(&st);
		status = cli_print_verify(&vo, stats);
		json_decref(stats);
	}
	json_decref(vo.problems);
	archive_close(ar);
	return status;
}

/* rebuild_progress - archive_progress_fn for rebuild-index */
static void
rebuild_progress(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	show_progress(phase, done, total, ctx);
}

/* cli_cmd_rebuild_index - the index anew from records and ledger */
int
cli_cmd_rebuild_index(const mk_config *cfg, const cli_request *rq)
{
	cli_progress pl = { .tty = isatty(STDERR_FILENO) };
	archive_rebuild_stats st;
	int64_t words = 0;
	mk_error err;
	archive *ar;
	int rc;

	rc = archive_rebuild_index(cfg->archive, rebuild_progress, &pl, &st, &err);
	if (rc == 0 && (ar = cli_open_archive(cfg)) != NULL) {
		rc = discovery_index_rebuild(cfg->archive, ar, rebuild_progress,
					     &pl, &words, &err);
		archive_close(ar);
	} else if (rc == 0)
		return CLI_EXIT_FAIL;	/* cli_open_archive said why */
	cli_progress_end(&pl);
	if (rc != 0)
		return cli_error("rebuild-index: %s", err.msg);
	if (rq->json)
		printf("{\"messages\": %llu, \"skipped\": %llu,"
		       " \"full_text\": %lld}\n",
		       (unsigned long long)st.messages,
		       (unsigned long long)st.skipped, (long long)words);
	else
		printf("rebuilt %s/index.sqlite: %llu messages (%llu records"
		       " skipped: failed commits or expired); %s: %lld"
		       " messages\n", cfg->archive,
		       (unsigned long long)st.messages,
		       (unsigned long long)st.skipped, DISCOVERY_INDEX_FILE,
		       (long long)words);
	return cli_finish_output();
}

/* cli_cmd_keys_rotate - a new generation of keys */
int
cli_cmd_keys_rotate(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	unsigned gen = 0;
	mk_error err;
	int rc;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	rc = archive_rotate_keys(ar, &gen, &err);
	archive_close(ar);
	if (rc != 0)
		return cli_error("keys rotate: %s", err.msg);
	if (rq->json)
		printf("{\"generation\": %u}\n", gen);
	else
		printf("key generation %u made; restart mailkeep-milter to sign"
		       " and encrypt with it (older keys stay for reading)\n", gen);
	return cli_finish_output();
}

/* put_key - archive_key_fn printing one public key */
static int
put_key(unsigned gen, const char *pem, size_t len, void *ctx)
{
	json_t *list = ctx;

	if (list != NULL)
		return json_array_append_new(list, json_pack("{s:i, s:s%}",
			"generation", (int)gen, "pem", pem, len));
	printf("# mailkeep signing key, generation %u (Ed25519)\n%.*s", gen,
	       (int)len, pem);
	return 0;
}

/* cli_cmd_keys_export - the public keys, PEM or JSON */
int
cli_cmd_keys_export(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	json_t *list = rq->json ? json_array() : NULL;
	mk_error err;
	int rc;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	rc = archive_public_keys(ar, put_key, list, &err);
	archive_close(ar);
	if (rc != 0) {
		json_decref(list);
		return cli_error("keys export-public: %s", err.msg);
	}
	if (list != NULL)
		cli_print_json(list);
	return cli_finish_output();
}

/* add_rfc3339 - obj's "time" (usec) also as "time_rfc3339" */
static json_t *
add_rfc3339(json_t *obj)
{
	char when[CLI_TIME_MAX];

	cli_format_time(json_integer_value(json_object_get(obj, "time")),
			CLI_TIME_RFC3339, when, sizeof(when));
	json_object_set_new(obj, "time_rfc3339", json_string(when));
	return obj;
}

/* checkpoint_json - a checkpoint as a new JSON object, for people too */
static json_t *
checkpoint_json(const archive_checkpoint *cp)
{
	return add_rfc3339(access_checkpoint_json(cp));
}

/* print_checkpoint - a checkpoint (JSON) as a line for people */
static void
print_checkpoint(const char *title, json_t *cp)
{
	char when[CLI_TIME_MAX];

	cli_format_time(json_integer_value(json_object_get(cp, "time")),
			CLI_TIME_HUMAN, when, sizeof(when));
	printf("%s: size %lld, root %s, %s UTC, key %lld, signature %s\n", title,
	       (long long)json_integer_value(json_object_get(cp, "size")),
	       json_string_value(json_object_get(cp, "root")), when,
	       (long long)json_integer_value(json_object_get(cp, "key")),
	       json_is_true(json_object_get(cp, "valid")) ? "valid" : "INVALID");
}

/* print_checkpoint_of - a checkpoint as a line for people */
static void
print_checkpoint_of(const char *title, const archive_checkpoint *cp)
{
	json_t *obj = checkpoint_json(cp);

	print_checkpoint(title, obj);
	json_decref(obj);
}

/* text_of - a string member of obj, "" when absent */
static const char *
text_of(json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s ? s : "";
}

/* cli_print_proof - an inclusion proof (access_proof_json()) */
int
cli_print_proof(json_t *proof, int json)
{
	json_t *record = json_object_get(proof, "record"), *v;
	long long seq = json_integer_value(json_object_get(proof, "seq"));
	size_t i;

	add_rfc3339(json_object_get(proof, "checkpoint"));
	if (json) {
		cli_print_json(json_incref(proof));
		return 0;
	}
	printf("message:    %s\nledger seq: %lld (leaf index %lld)\nentry:      %s\n"
	       "leaf hash:  %s\n", text_of(proof, "id"), seq, seq - 1,
	       text_of(proof, "entry"), text_of(proof, "leaf_hash"));
	json_array_foreach(json_object_get(proof, "path"), i, v)
		printf("path %2zu:    %s\n", i, json_string_value(v));
	print_checkpoint("checkpoint", json_object_get(proof, "checkpoint"));
	printf("record:     %s\nsigned by key %lld: %s\n", text_of(record, "text"),
	       (long long)json_integer_value(json_object_get(record, "signer")),
	       text_of(record, "signature"));
	return 0;
}

/* cli_cmd_ledger_proof - the inclusion proof of one message (offline) */
int
cli_cmd_ledger_proof(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	archive_proof *p;
	json_t *obj;
	mk_error err;
	int status;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	if (archive_ledger_proof(ar, rq->id, &p, &err) != 0) {
		archive_close(ar);
		return cli_error("%s", err.msg);
	}
	status = cli_audit_offline(ar, ACCESS_OP_PROOF, rq, &rq->id, 1);
	if (status == 0) {
		obj = access_proof_json(p);
		cli_print_proof(obj, rq->json);
		json_decref(obj);
	}
	archive_proof_free(p);
	archive_close(ar);
	return status != 0 ? CLI_EXIT_FAIL : cli_finish_output();
}

/* cli_cmd_ledger_consistency - checkpoint NEW extends checkpoint OLD */
int
cli_cmd_ledger_consistency(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	archive_consistency *c;
	mk_error err;
	size_t i;
	int valid;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	if (archive_ledger_consistency(ar, rq->old_size, rq->new_size, &c,
				       &err) != 0) {
		archive_close(ar);
		return cli_error("%s", err.msg);
	}
	archive_close(ar);
	if (rq->json) {
		cli_print_json(json_pack("{s:o, s:o, s:o, s:b}", "old",
				     checkpoint_json(&c->old_cp), "new",
				     checkpoint_json(&c->new_cp), "path",
				     access_path_json(c->path, c->path_len), "valid",
				     c->valid));
	} else {
		print_checkpoint_of("old", &c->old_cp);
		print_checkpoint_of("new", &c->new_cp);
		for (i = 0; i < c->path_len; i++)
			printf("path %2zu: %s\n", i, c->path[i]);
		printf("consistent: %s\n", c->valid ? "yes" : "NO");
	}
	valid = c->valid;
	archive_consistency_free(c);
	if (cli_finish_output() != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	return valid ? CLI_EXIT_OK
	    : cli_error("checkpoint %lld does not extend checkpoint %lld",
			(long long)rq->new_size, (long long)rq->old_size);
}

/* The checkpoint listing. */
typedef struct cp_list {
	json_t *arr;			/* --json */
	archive_checkpoint last;	/* text mode: the last one seen */
	int n;
} cp_list;

/* put_checkpoint - archive_checkpoint_fn listing one checkpoint */
static int
put_checkpoint(const archive_checkpoint *cp, void *ctx)
{
	cp_list *l = ctx;

	l->n++;
	if (l->arr != NULL)
		return json_array_append_new(l->arr, checkpoint_json(cp));
	print_checkpoint_of("checkpoint", cp);
	return 0;
}

/* cli_cmd_ledger_checkpoints - every signed checkpoint */
int
cli_cmd_ledger_checkpoints(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	cp_list l = { .arr = rq->json ? json_array() : NULL };
	mk_error err;
	int rc;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	rc = archive_checkpoints(ar, put_checkpoint, &l, &err);
	archive_close(ar);
	if (rc == 0 && l.arr != NULL)
		cli_print_json(l.arr);
	else
		json_decref(l.arr);
	if (rc != 0)
		return cli_error("%s", err.msg);
	return cli_finish_output();
}

/* cli_cmd_ledger_checkpoint - sign a checkpoint now, then list the last */
int
cli_cmd_ledger_checkpoint(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	mk_error err;
	int rc;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	rc = archive_checkpoint_now(ar, &err);
	archive_close(ar);
	if (rc != 0)
		return cli_error("ledger checkpoint: %s", err.msg);
	return cli_cmd_ledger_checkpoints(cfg, rq);
}
