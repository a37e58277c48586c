/*
 * audit.c - the audit trail and the four-eyes answers, for people.
 *
 * NAME
 *	audit - "mailkeep audit" offline, and the printers of audit entries,
 *	four-eyes requests and "whoami"
 *
 * DESCRIPTION
 *	Audit entries and requests come as JSON objects (from the ledger
 *	offline, from mailkeep-access otherwise).  With --json they are
 *	printed as they are, in a streamed array; for a terminal each is
 *	one line of columns.  The texts in them (user names, reasons, query
 *	terms) are strangers' words: they pass through cli_safe_text(), so
 *	no control character reaches the terminal.
 *
 * DIAGNOSTICS
 *	Printers return -1 when writing failed; commands return the exit
 *	status after one error line.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* A listing being printed offline. */
typedef struct audit_out {
	const cli_request *rq;
	cli_json_stream js;
	int failed;
} audit_out;

/* member_text - a string member, or "-" */
static const char *
member_text(json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s != NULL && *s ? s : "-";
}

/* put_safe - text without control characters onto stdout */
static void
put_safe(const char *text, size_t width)
{
	cli_put_text(stdout, text, width);
}

/* cli_print_listed_header - the column titles of a listing */
int
cli_print_listed_header(access_op op)
{
	if (op == ACCESS_OP_AUDIT)
		return printf("%-19s  %-8s %-16s %-8s %-8s %-8s %s\n", "TIME (UTC)",
			      "SEQ", "USER", "VIA", "ACTION", "OUTCOME",
			      "MESSAGES / TERMS") < 0 ? -1 : 0;
	return printf("%-8s %-9s %-16s %-5s %-24s %s\n", "REQUEST", "STATE",
		      "USER", "ASKS", "MESSAGE", "REASON") < 0 ? -1 : 0;
}

/* print_audit_line - one audit entry as a line */
static int
print_audit_line(json_t *obj)
{
	char when[CLI_TIME_MAX], *query;
	json_t *ids = json_object_get(obj, "ids");
	size_t n = json_array_size(ids);

	cli_format_time(json_integer_value(json_object_get(obj, "time")),
			CLI_TIME_HUMAN, when, sizeof(when));
	printf("%-19s  %-8lld ", when,
	       (long long)json_integer_value(json_object_get(obj, "seq")));
	put_safe(member_text(obj, "user"), 16);
	printf(" %-8s %-8s %-8s ", member_text(obj, "via"),
	       member_text(obj, "action"), member_text(obj, "outcome"));
	if (n > 0)
		printf("%s%s ", json_string_value(json_array_get(ids, 0)),
		       n > 1 ? " ..." : "");
	if (n > 1)
		printf("(%zu) ", n);
	query = json_is_object(json_object_get(obj, "query"))
	    ? json_dumps(json_object_get(obj, "query"), JSON_COMPACT) : NULL;
	if (query != NULL)
		put_safe(query, 0);
	free(query);
	if (json_object_get(obj, "why") != NULL) {
		fputs(" why: ", stdout);
		put_safe(member_text(obj, "why"), 0);
	}
	return putchar('\n') == EOF ? -1 : 0;
}

/* print_request_line - one four-eyes request as a line */
static int
print_request_line(json_t *obj)
{
	printf("%-8lld %-9s ",
	       (long long)json_integer_value(json_object_get(obj, "request")),
	       member_text(obj, "state"));
	put_safe(member_text(obj, "user"), 16);
	printf(" %-5s %-24s ", member_text(obj, "asks"), member_text(obj, "id"));
	put_safe(member_text(obj, "reason"), 0);
	return putchar('\n') == EOF ? -1 : 0;
}

/* cli_print_listed - one item of an audit or requests listing */
int
cli_print_listed(access_op op, json_t *obj)
{
	return op == ACCESS_OP_AUDIT ? print_audit_line(obj)
	    : print_request_line(obj);
}

/* print_whoami - the caller as the service sees them */
static int
print_whoami(json_t *obj)
{
	json_t *roles = json_object_get(obj, "roles"), *v;
	size_t i;

	printf("uid %lld (", (long long)json_integer_value(json_object_get(obj, "uid")));
	put_safe(member_text(obj, "user"), 0);
	fputs("), roles:", stdout);
	json_array_foreach(roles, i, v)
		printf("%s %s", i ? "," : "", json_string_value(v));
	if (json_array_size(roles) == 0)
		fputs(" none: you see no messages", stdout);
	return putchar('\n') == EOF ? -1 : 0;
}

/* print_status - the full-text index's progress for people */
static int
print_status(json_t *obj)
{
	json_t *last = json_object_get(obj, "last_error");
	long long lag = (long long)json_integer_value(json_object_get(obj,
							"lag_seconds"));

	printf("messages stored:  %lld\nfull-text index:  %lld indexed,"
	       " %lld behind", (long long)json_integer_value(json_object_get(
	       obj, "stored")), (long long)json_integer_value(
	       json_object_get(obj, "indexed")), (long long)json_integer_value(
	       json_object_get(obj, "lag_messages")));
	if (lag > 0)
		printf(" (the oldest waiting for %lld s)", lag);
	printf(", %lld could not be indexed\n", (long long)json_integer_value(
	       json_object_get(obj, "errors")));
	if (last != NULL) {
		printf("last error:       %s: ", member_text(last, "id"));
		put_safe(member_text(last, "error"), 0);
		putchar('\n');
	}
	return ferror(stdout) ? -1 : 0;
}

/* cli_print_single - the one item of whoami, status, request, approve,
 * deny */
int
cli_print_single(access_op op, json_t *obj, int json)
{
	char when[CLI_TIME_MAX];

	if (json)
		return json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		    != 0 || putchar('\n') == EOF ? -1 : 0;
	if (op == ACCESS_OP_WHOAMI)
		return print_whoami(obj);
	if (op == ACCESS_OP_STATUS)
		return print_status(obj);
	printf("request %lld: %s of %s %s", (long long)json_integer_value(
	       json_object_get(obj, "request")), member_text(obj, "asks"),
	       member_text(obj, "id"), member_text(obj, "state"));
	if (op == ACCESS_OP_REQUEST)
		fputs("; a second person with a role covering the message"
		      " must approve it (mailkeep approve N)", stdout);
	if (json_object_get(obj, "until") != NULL) {
		cli_format_time(json_integer_value(json_object_get(obj, "until")),
				CLI_TIME_HUMAN, when, sizeof(when));
		printf(" until %s UTC", when);
	}
	return putchar('\n') == EOF ? -1 : 0;
}

/* audit_entry - access_entry_fn: one entry of an offline listing */
static int
audit_entry(const char *entry, size_t len, void *ctx)
{
	audit_out *ao = ctx;
	json_t *obj = json_loadb(entry, len, 0, NULL);
	int rc;

	if (obj == NULL)
		return 0;	/* not JSON: verify names it */
	rc = ao->rq->json ? cli_json_put_object(&ao->js, obj)
	    : print_audit_line(obj);
	json_decref(obj);
	if (rc < 0)
		ao->failed = errno ? errno : EIO;
	return rc < 0 ? -1 : 0;
}

/* list_offline - the listing of an open archive, after its own entry */
static int
list_offline(archive *ar, const cli_request *rq)
{
	access_audit_filter f = { rq->audit_user, rq->audit_message,
				  rq->audit_action,
				  rq->has_since ? rq->query.since : 0,
				  rq->has_until ? rq->query.until : 0,
				  rq->query.limit };
	audit_out ao = { .rq = rq };
	mk_error err;
	int rc;

	if (cli_audit_offline(ar, ACCESS_OP_AUDIT, rq, NULL, 0) != 0)
		return CLI_EXIT_FAIL;
	rc = rq->json ? cli_json_begin(&ao.js, stdout)
		      : cli_print_listed_header(ACCESS_OP_AUDIT);
	err.msg[0] = '\0';
	if (rc == 0 && access_audit_list(ar, &f, audit_entry, &ao, &err) != 0
	    && !ao.failed)
		return cli_error("reading the ledger: %s", err.msg);
	if (rc != 0 || ao.failed || (rq->json && cli_json_end(&ao.js) < 0))
		return cli_error("writing to standard output: %s",
				 strerror(ao.failed ? ao.failed : EIO));
	return cli_finish_output();
}

/* cli_cmd_audit - the audit trail, offline */
int
cli_cmd_audit(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	int status;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	status = list_offline(ar, rq);
	archive_close(ar);
	return status;
}

/* status_of - the full-text index's progress of an open archive */
static int
status_of(const mk_config *cfg, archive *ar, const cli_request *rq)
{
	discovery_status st;
	discovery_index *di;
	mk_error err;
	json_t *obj;
	int rc;

	if (cli_audit_offline(ar, ACCESS_OP_STATUS, rq, NULL, 0) != 0)
		return CLI_EXIT_FAIL;
	if ((di = discovery_index_open(cfg->archive, &err)) == NULL)
		return cli_error("%s", err.msg);
	rc = discovery_index_status(di, ar, &st, &err);
	discovery_index_close(di);
	if (rc != 0)
		return cli_error("%s", err.msg);
	obj = access_status_json(&st);
	rc = obj != NULL ? cli_print_single(ACCESS_OP_STATUS, obj, rq->json) : -1;
	json_decref(obj);
	return rc != 0 ? cli_error("writing to standard output: %s",
				   strerror(errno ? errno : EIO))
	    : cli_finish_output();
}

/* cli_cmd_status - the full-text index's progress, offline */
int
cli_cmd_status(const mk_config *cfg, const cli_request *rq)
{
	archive *ar = cli_open_archive(cfg);
	int status;

	if (ar == NULL)
		return CLI_EXIT_FAIL;
	status = status_of(cfg, ar, rq);
	archive_close(ar);
	return status;
}
