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

/* print_json - obj, indented, and a newline on stdout; consumes obj */
static void
print_json(json_t *obj)
{
	json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(obj);
}

/* The progress line of a long operation. */
typedef struct progress_line {
	int tty;			/* stderr is a terminal */
	int shown;			/* a line is on screen */
	char last[96];
} progress_line;

/* show_progress - archive_progress_fn: one overwritten line on stderr */
static void
show_progress(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	progress_line *pl = ctx;
	char line[96];

	if (!pl->tty)
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

/* end_progress - clear the progress line */
static void
end_progress(progress_line *pl)
{
	if (pl->shown)
		fputs("\r\033[K", stderr);
	pl->shown = 0;
}

/* What verify has found. */
typedef struct verify_out {
	progress_line pl;
	int json;
	json_t *problems;		/* --json: collected */
} verify_out;

/* print_problem - archive_problem_fn: a line now, or into the JSON */
static void
print_problem(const char *kind, const char *object, const char *detail,
	      void *ctx)
{
	verify_out *vo = ctx;

	if (vo->json) {
		json_array_append_new(vo->problems, json_pack("{s:s, s:s, s:s}",
			"kind", kind, "object", object, "detail", detail));
		return;
	}
	end_progress(&vo->pl);
	printf("PROBLEM %s %s: %s\n", kind, object, detail);
}

/* verify_progress - archive_progress_fn forwarding to the progress line */
static void
verify_progress(const char *phase, uint64_t done, uint64_t total, void *ctx)
{
	show_progress(phase, done, total, &((verify_out *)ctx)->pl);
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

/* print_verify - the summary, text or JSON */
static void
print_verify(const verify_out *vo, const archive_verify_stats *st)
{
	json_t *obj;

	if (!vo->json) {
		printf("checked %llu ledger entries (%llu after the last"
		       " checkpoint), %llu checkpoints, %llu records,"
		       " %llu index rows, %llu blobs (%.1f MB of messages): %s\n",
		       (unsigned long long)st->ledger_entries,
		       (unsigned long long)st->uncovered,
		       (unsigned long long)st->checkpoints,
		       (unsigned long long)st->records,
		       (unsigned long long)st->index_rows,
		       (unsigned long long)st->blobs,
		       (double)st->content_bytes / 1e6,
		       st->problems ? "PROBLEMS FOUND" : "all good");
		return;
	}
	obj = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O}",
			"ok", st->problems == 0,
			"ledger_entries", (json_int_t)st->ledger_entries,
			"uncovered_entries", (json_int_t)st->uncovered,
			"checkpoints", (json_int_t)st->checkpoints,
			"records", (json_int_t)st->records,
			"index_rows", (json_int_t)st->index_rows,
			"blobs", (json_int_t)st->blobs,
			"content_bytes", (json_int_t)st->content_bytes,
			"problems", vo->problems);
	print_json(obj);
}

/* cli_cmd_verify - check the whole archive */
int
cli_cmd_verify(const mk_config *cfg, const cli_request *rq)
{
	verify_out vo = { .pl = { .tty = isatty(STDERR_FILENO) },
			  .json = rq->json, .problems = json_array() };
	archive_verify_stats st;
	char *pinned = NULL, detail[64];
	archive *ar;
	mk_error err;
	int rc, status;

	if (rq->keys_file != NULL && (pinned = read_file_text(rq->keys_file)) == NULL)
		return cli_error("cannot read %s", rq->keys_file);
	if ((ar = cli_open_archive(cfg)) == NULL) {
		free(pinned);
		return CLI_EXIT_FAIL;
	}
	rc = archive_verify(ar, pinned, print_problem, verify_progress, &vo,
			    &st, &err);
	end_progress(&vo.pl);
	free(pinned);
	if (rc != 0)
		status = cli_error("verify could not finish: %s", err.msg);
	else {
		print_verify(&vo, &st);
		snprintf(detail, sizeof(detail), "%llu problems",
			 (unsigned long long)st.problems);
		status = cli_log_access(ar, "verify", detail, NULL, 0) != 0
		    ? CLI_EXIT_FAIL : cli_finish_output();
		if (status == CLI_EXIT_OK && st.problems > 0)
			status = cli_error("verify found %llu problem%s",
					   (unsigned long long)st.problems,
					   st.problems == 1 ? "" : "s");
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
	progress_line pl = { .tty = isatty(STDERR_FILENO) };
	archive_rebuild_stats st;
	mk_error err;
	int rc;

	rc = archive_rebuild_index(cfg->archive, rebuild_progress, &pl, &st, &err);
	end_progress(&pl);
	if (rc != 0)
		return cli_error("rebuild-index: %s", err.msg);
	if (rq->json)
		printf("{\"messages\": %llu, \"skipped\": %llu}\n",
		       (unsigned long long)st.messages,
		       (unsigned long long)st.skipped);
	else
		printf("rebuilt %s/index.sqlite: %llu messages (%llu records"
		       " skipped: failed commits or expired)\n", cfg->archive,
		       (unsigned long long)st.messages,
		       (unsigned long long)st.skipped);
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
		print_json(list);
	return cli_finish_output();
}

/* checkpoint_json - a checkpoint as a new JSON object */
static json_t *
checkpoint_json(const archive_checkpoint *cp)
{
	char when[CLI_TIME_MAX];

	cli_format_time(cp->time, CLI_TIME_RFC3339, when, sizeof(when));
	return json_pack("{s:I, s:s, s:I, s:s, s:i, s:s, s:s, s:b}",
			 "size", (json_int_t)cp->size, "root", cp->root,
			 "time", (json_int_t)cp->time, "time_rfc3339", when,
			 "key", (int)cp->key, "text", cp->text,
			 "signature", cp->signature, "valid", cp->valid);
}

/* print_checkpoint - a checkpoint as lines for people */
static void
print_checkpoint(const char *title, const archive_checkpoint *cp)
{
	char when[CLI_TIME_MAX];

	cli_format_time(cp->time, CLI_TIME_HUMAN, when, sizeof(when));
	printf("%s: size %lld, root %s, %s UTC, key %u, signature %s\n", title,
	       (long long)cp->size, cp->root, when, cp->key,
	       cp->valid ? "valid" : "INVALID");
}

/* path_json - an audit path as a JSON array of hex strings */
static json_t *
path_json(char (*path)[ARCHIVE_SHA256_HEX + 1], size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(path[i]));
	return arr;
}

/* proof_json - an inclusion proof as a new JSON object */
static json_t *
proof_json(const archive_proof *p)
{
	return json_pack("{s:s, s:I, s:I, s:s, s:s, s:I, s:o, s:o, s:{s:s, s:i, s:s}}",
			 "id", p->id, "seq", (json_int_t)p->seq,
			 "leaf_index", (json_int_t)(p->seq - 1),
			 "entry", p->entry, "leaf_hash", p->leaf_hash,
			 "tree_size", (json_int_t)p->checkpoint.size,
			 "path", path_json(p->path, p->path_len),
			 "checkpoint", checkpoint_json(&p->checkpoint),
			 "record", "text", p->record, "signer",
			 (int)p->record_signer, "signature", p->record_signature);
}

/* print_proof - an inclusion proof for people */
static void
print_proof(const archive_proof *p)
{
	size_t i;

	printf("message:    %s\nledger seq: %lld (leaf index %lld)\nentry:      %s\n"
	       "leaf hash:  %s\n", p->id, (long long)p->seq,
	       (long long)(p->seq - 1), p->entry, p->leaf_hash);
	for (i = 0; i < p->path_len; i++)
		printf("path %2zu:    %s\n", i, p->path[i]);
	print_checkpoint("checkpoint", &p->checkpoint);
	printf("record:     %s\nsigned by key %u: %s\n", p->record,
	       p->record_signer, p->record_signature);
}

/* cli_cmd_ledger_proof - the inclusion proof of one message */
int
cli_cmd_ledger_proof(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	archive_proof *p;
	mk_error err;
	int status;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	if (archive_ledger_proof(ar, rq->id, &p, &err) != 0) {
		archive_close(ar);
		return cli_error("%s", err.msg);
	}
	status = cli_log_access(ar, "proof", NULL, &rq->id, 1);
	if (status == 0 && rq->json)
		print_json(proof_json(p));
	else if (status == 0)
		print_proof(p);
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
		print_json(json_pack("{s:o, s:o, s:o, s:b}", "old",
				     checkpoint_json(&c->old_cp), "new",
				     checkpoint_json(&c->new_cp), "path",
				     path_json(c->path, c->path_len), "valid",
				     c->valid));
	} else {
		print_checkpoint("old", &c->old_cp);
		print_checkpoint("new", &c->new_cp);
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
	print_checkpoint("checkpoint", cp);
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
		print_json(l.arr);
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
