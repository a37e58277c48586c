/*
 * commands.c - the subcommands of mailkeep: init, search, show, get.
 *
 * NAME
 *	commands - one function a mailkeep subcommand
 *
 * SYNOPSIS
 *	#include "cli/cli.h"
 *
 *	int cli_cmd_init(const mk_config *cfg, const cli_request *rq);
 *	int cli_cmd_search(const mk_config *cfg, const cli_request *rq);
 *	int cli_cmd_show(const mk_config *cfg, const cli_request *rq);
 *	int cli_cmd_get(const mk_config *cfg, const cli_request *rq);
 *
 * DESCRIPTION
 *	These are the offline reads (--offline): for root and the archive's
 *	account, who can open the archive's files anyway; everyone else
 *	reads through mailkeep-access (remote.c).  Each command opens the
 *	archive named in the configuration, does its one thing through
 *	archive/archive.h and returns the exit status.
 *
 *	Every read is recorded in the ledger with cli_audit_offline()
 *	under the real uid of the calling process (getuid(): the kernel's
 *	word, never an option or the environment), "via":"offline", and it
 *	is recorded
 *	*before* anything is shown: an access that cannot be recorded does
 *	not happen, and the command fails.  For show and get that is one
 *	lookup, the log entry, then the output.  For search it means two
 *	passes over the index: the first collects the matching ids (short:
 *	ARCHIVE_ID_LEN + 1 bytes each), the access is logged with them, and
 *	the second pass streams the messages to stdout one at a time,
 *	printing only ids that were logged - a message that arrives between
 *	the passes is left out, never shown unrecorded.  Memory grows with
 *	the number of ids, not with the size of what is printed.
 *
 * DIAGNOSTICS
 *	One line on stderr through cli_error(); status 1.  A failed write to
 *	stdout (EPIPE included) is an error: a "get" that exits non-zero
 *	has not delivered the message, whatever reached the pipe.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* What "init" shows of the new archive, if the archive made it. */
static const struct {
	const char *name;
	const char *what;
} archive_layout[] = {
	{"content/", "message content, in segments by the day it may go"},
	{"records/", "per-message envelope records"},
	{"ledger/", "the append-only event ledger"},
	{"index.sqlite", "the search index (rebuildable)"},
	{"spool/", "messages being received"},
	{"keys/", "key material"},
};
#define N_LAYOUT (sizeof(archive_layout) / sizeof(archive_layout[0]))

/* The ids a search returned, in one block. */
typedef struct id_list {
	char (*ids)[ARCHIVE_ID_LEN + 1];
	size_t n;
	size_t cap;
	int nomem;
} id_list;

/* State of the printing pass of a search. */
typedef struct print_pass {
	const cli_request *rq;
	const id_list *logged;		/* sorted: what may be shown */
	cli_json_stream js;
	size_t printed;
	int failed;			/* a write or memory failed */
	int saved_errno;
} print_pass;

/* Where "get" writes the content. */
typedef struct get_sink {
	FILE *fp;
	int64_t written;
	int saved_errno;		/* non-zero: the write failed */
} get_sink;

/* output_error - report a failed write to stdout (errno e, 0: memory) */
static int
output_error(int e)
{
	if (e == 0)
		return cli_error("formatting output: out of memory");
	return cli_error("writing to standard output: %s", strerror(e));
}

/* cli_finish_output - flush stdout; CLI_EXIT_OK or the error status */
int
cli_finish_output(void)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		return output_error(errno ? errno : EIO);
	return CLI_EXIT_OK;
}

/* cli_open_archive - the configured archive for reading; NULL after an
 * error */
archive *
cli_open_archive(const mk_config *cfg)
{
	archive_options opts;
	mk_error err;
	archive *ar;

	archive_options_of(cfg, &opts);
	if ((ar = archive_open_with(cfg->archive, ARCHIVE_READ, &opts, &err)) == NULL)
		cli_error("%s", err.msg);
	return ar;
}

/* cli_audit_offline - the audit entry of an offline read, first */
int
cli_audit_offline(archive *ar, access_op op, const cli_request *rq,
		  const char *const *ids, size_t n_ids)
{
	access_audit a = { .op = op, .outcome = ACCESS_GRANTED, .ids = ids,
			   .n_ids = n_ids };
	access_identity who;
	access_request terms;
	mk_error err;
	int rc;

	if (access_identity_of(NULL, getuid(), "offline", &who, &err) != 0) {
		cli_error("%s", err.msg);
		return -1;
	}
	cli_to_request(op, rq, &terms);
	a.query_json = access_audit_query(&terms);
	rc = access_audit_write(ar, &who, &a, NULL, &err);
	free((char *)a.query_json);
	access_identity_free(&who);
	if (rc != 0)
		cli_error("cannot record the access, refusing it: %s", err.msg);
	return rc;
}

/* cli_cmd_init - create the configured archive and say what is in it */
int
cli_cmd_init(const mk_config *cfg, const cli_request *rq)
{
	struct stat st;
	mk_error err;
	char *path;
	size_t i;

	(void)rq;
	if (archive_create(cfg->archive, &err) < 0)
		return cli_error("%s", err.msg);
	printf("created archive %s\n", cfg->archive);
	for (i = 0; i < N_LAYOUT; i++) {
		if (asprintf(&path, "%s/%s", cfg->archive,
			     archive_layout[i].name) < 0)
			return cli_error("out of memory");
		if (stat(path, &st) == 0)
			printf("  %-14s %s\n", archive_layout[i].name,
			       archive_layout[i].what);
		free(path);
	}
	return cli_finish_output();
}

/* collect_id - first search pass: remember msg's id */
static int
collect_id(const archive_message *msg, void *ctx)
{
	id_list *l = ctx;
	void *grown;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		grown = reallocarray(l->ids, l->cap, sizeof(*l->ids));
		if (grown == NULL) {
			l->nomem = 1;
			return 1;
		}
		l->ids = grown;
	}
	memcpy(l->ids[l->n], msg->id, ARCHIVE_ID_LEN);
	l->ids[l->n][ARCHIVE_ID_LEN] = '\0';
	l->n++;
	return 0;
}

/* compare_ids - qsort/bsearch order of two ids */
static int
compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* log_search - record the search with the ids it found, in result order */
static int
log_search(archive *ar, const cli_request *rq, const id_list *found)
{
	const char **ptrs = NULL;
	size_t i;
	int rc;

	if (found->n > 0 && (ptrs = calloc(found->n, sizeof(*ptrs))) == NULL) {
		cli_error("out of memory");
		return -1;
	}
	for (i = 0; i < found->n; i++)
		ptrs[i] = found->ids[i];
	rc = cli_audit_offline(ar, ACCESS_OP_SEARCH, rq, ptrs, found->n);
	free(ptrs);
	return rc;
}

/* print_one - second search pass: show msg if its access was logged */
static int
print_one(const archive_message *msg, void *ctx)
{
	print_pass *pp = ctx;
	int rc;

	if (pp->logged->n == 0 ||
	    bsearch(msg->id, pp->logged->ids, pp->logged->n,
		    sizeof(*pp->logged->ids), compare_ids) == NULL)
		return 0;
	errno = 0;
	if (pp->rq->json)
		rc = cli_json_put(&pp->js, msg);
	else
		rc = cli_human_line(stdout, msg);
	if (rc < 0) {
		pp->failed = 1;
		pp->saved_errno = ferror(stdout) ? (errno ? errno : EIO) : 0;
		return 1;
	}
	return ++pp->printed == pp->logged->n;
}

/* print_search - the second pass, streaming the results to stdout */
static int
print_search(archive *ar, const cli_request *rq, id_list *found)
{
	print_pass pp;
	mk_error err;
	int rc;

	memset(&pp, 0, sizeof(pp));
	pp.rq = rq;
	pp.logged = found;
	if (found->n > 0)	/* qsort(NULL, 0, ...) is undefined */
		qsort(found->ids, found->n, sizeof(*found->ids), compare_ids);
	rc = rq->json ? cli_json_begin(&pp.js, stdout)
		      : cli_human_header(stdout);
	if (rc < 0)
		return output_error(errno ? errno : EIO);
	if (found->n > 0 &&
	    archive_search(ar, &rq->query, print_one, &pp, &err) < 0)
		return cli_error("%s", err.msg);
	if (pp.failed)
		return output_error(pp.saved_errno);
	if (rq->json && cli_json_end(&pp.js) < 0)
		return output_error(errno ? errno : EIO);
	return cli_finish_output();
}

/* search_in - collect, log, print; the archive is open */
static int
search_in(archive *ar, const cli_request *rq)
{
	id_list found;
	mk_error err;
	int status;

	memset(&found, 0, sizeof(found));
	if (archive_search(ar, &rq->query, collect_id, &found, &err) < 0)
		status = cli_error("%s", err.msg);
	else if (found.nomem)
		status = cli_error("out of memory collecting search results");
	else if (log_search(ar, rq, &found) < 0)
		status = CLI_EXIT_FAIL;
	else
		status = print_search(ar, rq, &found);
	free(found.ids);
	return status;
}

/* cli_cmd_search - list the messages matching the query */
int
cli_cmd_search(const mk_config *cfg, const cli_request *rq)
{
	archive *ar;
	int status;

	if (rq->q != NULL || rq->count || rq->offset > 0)
		return cli_error("--offline searches the envelope only (--from,"
				 " --to, --since, --until, --message-id); a query,"
				 " --text, --subject, --attachment, --count and"
				 " --offset go through mailkeep-access");
	if ((ar = cli_open_archive(cfg)) == NULL)
		return CLI_EXIT_FAIL;
	status = search_in(ar, rq);
	archive_close(ar);
	return status;
}

/* lookup_logged - find message rq->id and log the access as op;
 * *out owned by the caller; 0, or -1 after an error message */
static int
lookup_logged(archive *ar, const cli_request *rq, access_op op,
	      archive_message **out)
{
	const char *ids[1];
	mk_error err;

	if (archive_lookup(ar, rq->id, out, &err) < 0) {
		cli_error("%s", err.msg);
		return -1;
	}
	ids[0] = (*out)->id;
	if (cli_audit_offline(ar, op, rq, ids, 1) < 0) {
		archive_message_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* cli_cmd_show - the metadata of one message */
int
cli_cmd_show(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	archive_message *msg;
	int status = CLI_EXIT_FAIL, rc;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	if (lookup_logged(ar, rq, ACCESS_OP_SHOW, &msg) == 0) {
		errno = 0;
		rc = rq->json ? cli_show_json(stdout, msg)
			      : cli_human_show(stdout, msg);
		if (rc < 0)
			status = output_error(ferror(stdout) ?
					      (errno ? errno : EIO) : 0);
		else
			status = cli_finish_output();
		archive_message_free(msg);
	}
	archive_close(ar);
	return status;
}

/* write_chunk - archive_read sink: content bytes to the output stream */
static int
write_chunk(const void *buf, size_t len, void *ctx)
{
	get_sink *gs = ctx;

	errno = 0;
	if (len > 0 && fwrite(buf, 1, len, gs->fp) != len) {
		gs->saved_errno = errno ? errno : EIO;
		return -1;
	}
	gs->written += (int64_t)len;
	return 0;
}

/* get_content - stream msg's content to stdout after logging */
static int
get_content(archive *ar, const archive_message *msg)
{
	get_sink gs = {stdout, 0, 0};
	mk_error err;

	if (archive_read(ar, msg->id, write_chunk, &gs, &err) < 0) {
		if (gs.saved_errno != 0)
			return output_error(gs.saved_errno);
		return cli_error("%s", err.msg);
	}
	if (gs.written != msg->size)
		return cli_error("message %s: read %" PRId64 " bytes, the index "
				 "says %" PRId64, msg->id, gs.written,
				 msg->size);
	return cli_finish_output();
}

/* cli_cmd_get - the original bytes of one message to stdout */
int
cli_cmd_get(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	archive_message *msg;
	int status = CLI_EXIT_FAIL;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	if (lookup_logged(ar, rq, ACCESS_OP_GET, &msg) == 0) {
		status = get_content(ar, msg);
		archive_message_free(msg);
	}
	archive_close(ar);
	return status;
}
