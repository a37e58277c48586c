/*
 * export.c - mailkeep export and mailkeep verify-export.
 *
 * NAME
 *	export - write an export through mailkeep-access; check one
 *
 * SYNOPSIS
 *	#include "cli/cli.h"
 *
 *	int cli_cmd_export(const mk_config *cfg, const cli_request *rq);
 *	int cli_cmd_verify_export(const mk_config *cfg, const cli_request *rq);
 *
 * DESCRIPTION
 *	export sends one "export" request to the service (which decides
 *	each message as a get and audits the export as one entry) and hands
 *	each frame of the answer to the export writer (discovery.h), which
 *	writes PATH.partial and renames it to PATH once whole.  Ctrl-C, a
 *	full disk or an error from the service removes the partial output.
 *	verify-export needs no configuration and no archive: it runs
 *	discovery_export_verify() and prints what it finds.
 *
 * DIAGNOSTICS
 *	One error line and exit status 1 when the export could not be
 *	written; verify-export prints "PROBLEM KIND OBJECT: DETAIL" for
 *	each problem and exits 1 when there is any.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "discovery/discovery.h"

static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t service_fd = -1;

/* on_interrupt - SIGINT, SIGTERM: stop the export; shutting the socket
 * down ends a read that is waiting for the service */
static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
	if (service_fd >= 0)
		shutdown(service_fd, SHUT_RDWR);
}

/* catch_interrupts - without SA_RESTART, so the blocked read returns */
static void
catch_interrupts(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* export_format - the --format word; -1 when it is not one */
static int
export_format(const char *word, discovery_export_format *out)
{
	if (word == NULL || strcmp(word, "eml") == 0)
		*out = DISCOVERY_EXPORT_EML;
	else if (strcmp(word, "mbox") == 0)
		*out = DISCOVERY_EXPORT_MBOX;
	else if (strcmp(word, "zip") == 0)
		*out = DISCOVERY_EXPORT_ZIP;
	else
		return -1;
	return 0;
}

/* take_frame - one frame into the writer; 1 after the end frame, 0 to
 * go on, -1 with err */
static int
take_frame(discovery_export *x, char type, const char *buf, size_t len,
	   cli_progress *pl, size_t *items, json_t **end, mk_error *err)
{
	switch (type) {
	case ACCESS_FRAME_ITEM:
		cli_progress_show(pl, "export", (*items)++, 0);
		return discovery_export_item(x, buf, len, err);
	case ACCESS_FRAME_DATA:
		return discovery_export_data(x, buf, len, err);
	case ACCESS_FRAME_END:
		*end = json_loadb(buf, len, 0, NULL);
		return 1;
	default:
		return 0;
	}
}

/* run_export - the frames of the answer into x; 0 when the service
 * said ok and every frame was written */
static int
run_export(access_client *c, discovery_export *x, int json_out, mk_error *err)
{
	cli_progress pl = { .tty = isatty(STDERR_FILENO) && !json_out };
	json_t *end = NULL;
	const char *buf, *error;
	size_t len, items = 0;
	char type;
	int rc;

	while ((rc = access_client_next(c, &type, &buf, &len, err)) == 1
	       && !interrupted)
		if ((rc = take_frame(x, type, buf, len, &pl, &items, &end,
				     err)) != 0)
			break;
	cli_progress_end(&pl);
	if (interrupted)
		rc = mk_error_set(err, "interrupted");
	else if (rc == 1 && !json_is_true(json_object_get(end, "ok"))) {
		error = json_string_value(json_object_get(end, "error"));
		rc = mk_error_set(err, "%s", error ? error : "refused");
	} else if (rc == 1) {
		rc = 0;
		if (json_integer_value(json_object_get(end, "withheld")) > 0)
			fprintf(stderr, "mailkeep: %lld messages need a second"
				" person's approval first (mailkeep request get"
				" ID) and were left out\n", (long long)
				json_integer_value(json_object_get(end, "withheld")));
		if (json_is_true(json_object_get(end, "truncated")))
			fprintf(stderr, "mailkeep: only the first %d messages are"
				" exported; narrow the search\n",
				ACCESS_MAX_RESULTS);
	}
	else if (rc == 0)
		rc = mk_error_set(err, "the access service ended the answer early");
	json_decref(end);
	return rc;
}

/* cli_cmd_export - mailkeep export [QUERY] --out PATH [--format F] */
int
cli_cmd_export(const mk_config *cfg, const cli_request *rq)
{
	discovery_export_format format;
	access_request req;
	discovery_export *x;
	access_client *c;
	mk_error err;
	size_t rows;

	if (rq->offline)
		return cli_error("export goes through mailkeep-access only");
	if (rq->out == NULL)
		return cli_error("export needs --out PATH");
	if (export_format(rq->format, &format) != 0)
		return cli_error("--format %s: not eml, mbox or zip", rq->format);
	cli_to_request(ACCESS_OP_EXPORT, rq, &req);
	if ((x = discovery_export_begin(rq->out, format, &err)) == NULL)
		return cli_error("%s", err.msg);
	catch_interrupts();
	if ((c = access_client_open(cfg->access_socket, &req, &err)) == NULL) {
		discovery_export_abort(x);
		return cli_error("%s", err.msg);
	}
	service_fd = access_client_fd(c);
	if (interrupted)
		shutdown(service_fd, SHUT_RDWR);
	if (run_export(c, x, rq->json, &err) != 0) {
		service_fd = -1;
		access_client_close(c);
		discovery_export_abort(x);
		return cli_error("export: %s (nothing written)", err.msg);
	}
	service_fd = -1;
	access_client_close(c);
	if (discovery_export_finish(x, &rows, &err) != 0)
		return cli_error("export: %s (nothing written)", err.msg);
	if (rq->json)
		printf("{\"path\":\"%s\",\"format\":\"%s\",\"messages\":%zu}\n",
		       rq->out, rq->format ? rq->format : "eml", rows);
	else
		printf("exported %zu messages to %s\n", rows, rq->out);
	return cli_finish_output();
}


/* cli_cmd_verify_export - mailkeep verify-export PATH [--keys FILE] */
int
cli_cmd_verify_export(const mk_config *cfg, const cli_request *rq)
{
	cli_verify_out vo = { .pl = { .tty = isatty(STDERR_FILENO) },
			      .json = rq->json };
	discovery_export_stats st;
	mk_error err;
	int rc;

	(void)cfg;
	if (rq->file == NULL)
		return cli_error("verify-export needs the export's PATH");
	if (rq->json && (vo.problems = json_array()) == NULL)
		return cli_error("out of memory");
	rc = discovery_export_verify(rq->file, rq->keys_pem, cli_verify_problem,
				     cli_verify_progress, &vo, &st, &err);
	cli_progress_end(&vo.pl);
	if (rc != 0) {
		json_decref(vo.problems);
		return cli_error("%s", err.msg);
	}
	if (rq->json) {
		json_t *obj = json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "ok",
			st.problems == 0, "messages", (json_int_t)st.messages,
			"content", (json_int_t)st.content, "bytes",
			(json_int_t)st.bytes, "problems", (json_int_t)st.problems,
			"list", vo.problems);

		if (obj != NULL)
			json_dumpf(obj, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(obj);
	} else {
		json_decref(vo.problems);
		printf("checked %llu messages (%llu with content, %llu bytes):"
		       " %llu problems\n", (unsigned long long)st.messages,
		       (unsigned long long)st.content,
		       (unsigned long long)st.bytes,
		       (unsigned long long)st.problems);
	}
	rc = cli_finish_output();
	return rc != CLI_EXIT_OK ? rc : st.problems > 0 ? CLI_EXIT_FAIL
	    : CLI_EXIT_OK;
}
