/*
 * remote.c - the commands that go through mailkeep-access.
 *
 * NAME
 *	remote - ask the access service, print its answer
 *
 * SYNOPSIS
 *	#include "cli/cli.h"
 *
 *	int cli_remote(const mk_config *cfg, access_op op,
 *		       const cli_request *rq);
 *
 * DESCRIPTION
 *	Every read by a person goes through the service, which decides and
 *	audits (access/access.h).  This file turns the command line into one
 *	access_request, sends it over access_socket, and prints the frames
 *	that come back with the same printers as an offline read: messages
 *	come as JSON and are rebuilt into archive_message, so "search",
 *	"show" and "get" print exactly what they print offline.  Nothing is
 *	held but one frame at a time.
 *
 *	The command line says nothing about who is asking: the service
 *	reads the caller's uid from the kernel.
 *
 * DIAGNOSTICS
 *	The service's error, or why it could not be reached, as the one
 *	error line; exit status 1.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* What the printing of one answer keeps. */
typedef struct remote_out {
	const cli_request *rq;
	access_op op;
	cli_json_stream js;		/* --json listings */
	cli_verify_out vo;		/* verify */
	size_t items;
	int begun;			/* what comes before the items is out */
	int failed;			/* a write failed */
} remote_out;

/* cli_to_request - the command line as a request of op (its strings
 * point into rq: do not access_request_free() it) */
void
cli_to_request(access_op op, const cli_request *rq, access_request *out)
{
	memset(out, 0, sizeof(*out));
	out->op = op;
	out->query = rq->query;
	out->since = rq->has_since ? rq->query.since : 0;
	out->until = rq->has_until ? rq->query.until : 0;
	out->limit = rq->query.limit;
	if (rq->id != NULL)
		snprintf(out->id, sizeof(out->id), "%s", rq->id);
	out->asks = rq->asks;
	out->reason = (char *)rq->reason;
	out->number = rq->number;
	out->keys_pem = rq->keys_pem;
	out->q = rq->q;
	out->newest = rq->query.newest;
	out->count = rq->count;
	out->offset = rq->offset;
	out->user = (char *)rq->audit_user;
	out->action = (char *)rq->audit_action;
	if (rq->audit_message != NULL)
		snprintf(out->message, sizeof(out->message), "%s",
			 rq->audit_message);
	out->name = (char *)rq->hold_name;
	out->dry_run = rq->dry_run;
}

/* print_search_line - a search result, with its snippet when it has one
 * (on a line of its own, indented, for people; "snippet" in JSON) */
static int
print_search_line(remote_out *ro, const archive_message *msg,
		  const char *buf, size_t len)
{
	json_t *item = strstr(buf, "\"snippet\"") ? json_loadb(buf, len, 0, NULL)
						 : NULL;
	const char *snippet = json_string_value(json_object_get(item, "snippet"));
	json_t *obj;
	int rc;

	if (ro->rq->json && snippet != NULL && (obj = cli_message_json(msg))) {
		json_object_set_new(obj, "snippet", json_string(snippet));
		rc = cli_json_put_object(&ro->js, obj);
		json_decref(obj);
	} else if (ro->rq->json)
		rc = cli_json_put(&ro->js, msg);
	else if ((rc = cli_human_line(stdout, msg)) == 0 && snippet != NULL) {
		fputs("    ", stdout);
		cli_put_text(stdout, snippet, 0);
		rc = putchar('\n') == EOF ? -1 : 0;
	}
	json_decref(item);
	return rc;
}

/* print_message_item - a search or show item */
static int
print_message_item(remote_out *ro, const char *buf, size_t len)
{
	archive_message *msg;
	json_t *stub = NULL;
	mk_error err;
	int rc;

	if (strstr(buf, "\"withheld\"") != NULL
	    && (stub = json_loadb(buf, len, 0, NULL)) != NULL
	    && json_object_get(stub, "withheld") != NULL) {
		rc = ro->rq->json ? cli_json_put_object(&ro->js, stub)
		    : cli_human_withheld(stdout, stub);
		json_decref(stub);
		return rc;
	}
	json_decref(stub);
	if ((msg = access_message_parse(buf, len, &err)) == NULL)
		return cli_error("%s", err.msg), -1;
	if (ro->op == ACCESS_OP_SHOW)
		rc = ro->rq->json ? cli_show_json(stdout, msg)
		    : cli_human_show(stdout, msg);
	else
		rc = print_search_line(ro, msg, buf, len);
	archive_message_free(msg);
	return rc;
}

/* print_json_item - an item printed as it came, or by a printer */
static int
print_json_item(remote_out *ro, const char *buf, size_t len)
{
	json_t *obj = json_loadb(buf, len, 0, NULL);
	int rc;

	if (obj == NULL)
		return cli_error("the access service sent bad JSON"), -1;
	switch (ro->op) {
	case ACCESS_OP_PROOF:
		rc = cli_print_proof(obj, ro->rq->json);
		break;
	case ACCESS_OP_VERIFY:
		rc = cli_print_problem(&ro->vo, obj);
		break;
	case ACCESS_OP_AUDIT:
	case ACCESS_OP_REQUESTS:
		rc = ro->rq->json ? cli_json_put_object(&ro->js, obj)
		    : cli_print_listed(ro->op, obj);
		break;
	case ACCESS_OP_HOLDS:
		rc = ro->rq->json && ro->rq->hold_name == NULL
		    ? cli_json_put_object(&ro->js, obj)
		    : cli_print_hold(obj, ro->rq->json, ro->rq->hold_name != NULL);
		break;
	default:	/* whoami, request, approve, deny */
		rc = cli_print_single(ro->op, obj, ro->rq->json);
	}
	json_decref(obj);
	return rc;
}

/* is_listing - does the answer print a JSON array with --json? */
static int
is_listing(const remote_out *ro)
{
	access_op op = ro->op;

	return op == ACCESS_OP_SEARCH || op == ACCESS_OP_AUDIT
	    || op == ACCESS_OP_REQUESTS
	    || (op == ACCESS_OP_HOLDS && ro->rq->hold_name == NULL);
}

/* begin_output - what comes before the items, once: when the first item
 * or a good end arrives, so that a refusal prints only its error line */
static int
begin_output(remote_out *ro)
{
	if (ro->begun++ || ro->rq->count)
		return 0;
	if (ro->rq->json && is_listing(ro))
		return cli_json_begin(&ro->js, stdout);
	if (!ro->rq->json && ro->op == ACCESS_OP_SEARCH)
		return cli_human_header(stdout);
	if (!ro->rq->json && ro->op == ACCESS_OP_HOLDS && is_listing(ro))
		return cli_print_hold_header();
	if (!ro->rq->json && is_listing(ro))
		return cli_print_listed_header(ro->op);
	return 0;
}

/* take_item - one 'J' frame */
static int
take_item(remote_out *ro, const char *buf, size_t len)
{
	int rc;

	errno = 0;
	if (begin_output(ro) < 0)
		rc = -1;
	else if (ro->op == ACCESS_OP_SEARCH || ro->op == ACCESS_OP_SHOW)
		rc = print_message_item(ro, buf, len);
	else
		rc = print_json_item(ro, buf, len);
	if (rc < 0)
		ro->failed = 1;
	ro->items++;
	return rc;
}

/* take_data - one 'D' frame: content to stdout */
static int
take_data(remote_out *ro, const char *buf, size_t len)
{
	if (len > 0 && fwrite(buf, 1, len, stdout) != len) {
		ro->failed = 1;
		return -1;
	}
	return 0;
}

/* take_progress - one 'P' frame */
static void
take_progress(remote_out *ro, const char *buf, size_t len)
{
	json_t *obj = json_loadb(buf, len, 0, NULL);

	if (obj != NULL)
		cli_progress_show(&ro->vo.pl,
			json_string_value(json_object_get(obj, "phase")),
			(uint64_t)json_integer_value(json_object_get(obj, "done")),
			(uint64_t)json_integer_value(json_object_get(obj, "total")));
	json_decref(obj);
}

/* print_count - search --count: the number that matched */
static int
print_count(json_t *end, int json)
{
	long long n = (long long)json_integer_value(json_object_get(end, "count"));

	if (json)
		printf("{\"count\": %lld, \"truncated\": %s}\n", n,
		       json_is_true(json_object_get(end, "truncated"))
		       ? "true" : "false");
	else
		printf("%lld\n", n);
	return CLI_EXIT_OK;
}

/* finish - the end frame: the summary, the exit status */
static int
finish(remote_out *ro, const char *buf, size_t len)
{
	json_t *end = json_loadb(buf, len, 0, NULL);
	const char *error = json_string_value(json_object_get(end, "error"));
	int status = CLI_EXIT_OK;

	cli_progress_end(&ro->vo.pl);
	if (end == NULL)
		status = cli_error("the access service sent a bad end frame");
	else if (!json_is_true(json_object_get(end, "ok")))
		status = cli_error("%s", error ? error : "refused");
	else if (begin_output(ro) < 0)
		status = cli_error("writing to standard output: %s",
				   strerror(errno ? errno : EIO));
	else if (ro->rq->count)
		status = print_count(end, ro->rq->json);
	else if (ro->rq->json && is_listing(ro) && cli_json_end(&ro->js) < 0)
		status = cli_error("writing to standard output: %s",
				   strerror(errno ? errno : EIO));
	else if (ro->op == ACCESS_OP_VERIFY)
		status = cli_print_verify(&ro->vo, end);
	else if ((ro->op == ACCESS_OP_HOLD || ro->op == ACCESS_OP_RELEASE
		  || ro->op == ACCESS_OP_EXPIRE
		  || ro->op == ACCESS_OP_POLICY_APPLY)
		 && cli_print_hold_end(ro->op, end, ro->rq->json) < 0)
		status = cli_error("writing to standard output: %s",
				   strerror(errno ? errno : EIO));
	else if (ro->op == ACCESS_OP_SEARCH
		 && json_is_true(json_object_get(end, "truncated")))
		fprintf(stderr, "mailkeep: only the first %d messages are"
			" listed; narrow the search\n", ACCESS_MAX_RESULTS);
	json_decref(end);
	return status != CLI_EXIT_OK ? status : cli_finish_output();
}

/* read_answer - every frame until the end one */
static int
read_answer(access_client *c, remote_out *ro)
{
	const char *buf;
	mk_error err;
	size_t len;
	char type;
	int rc;

	while ((rc = access_client_next(c, &type, &buf, &len, &err)) == 1) {
		if (type == ACCESS_FRAME_END)
			return finish(ro, buf, len);
		if (ro->failed)
			continue;	/* drain, to read the end */
		if (type == ACCESS_FRAME_ITEM)
			take_item(ro, buf, len);
		else if (type == ACCESS_FRAME_DATA)
			take_data(ro, buf, len);
		else if (type == ACCESS_FRAME_PROGRESS)
			take_progress(ro, buf, len);
	}
	cli_progress_end(&ro->vo.pl);
	return cli_error("%s", err.msg);
}

/* cli_remote - run op through the access service */
int
cli_remote(const mk_config *cfg, access_op op, const cli_request *rq)
{
	remote_out ro = { .rq = rq, .op = op,
			  .vo = { .pl = { .tty = isatty(STDERR_FILENO) },
				  .json = rq->json } };
	access_request req;
	access_client *c;
	mk_error err;
	int status;

	cli_to_request(op, rq, &req);
	if ((c = access_client_open(cfg->access_socket, &req, &err)) == NULL)
		return cli_error("%s", err.msg);
	if (op == ACCESS_OP_VERIFY && (ro.vo.problems = json_array()) == NULL) {
		access_client_close(c);
		return cli_error("out of memory");
	}
	status = read_answer(c, &ro);
	access_client_close(c);
	json_decref(ro.vo.problems);
	if (status == CLI_EXIT_OK && ro.failed)
		status = cli_error("writing to standard output: %s",
				   strerror(errno ? errno : EIO));
	return status;
}
