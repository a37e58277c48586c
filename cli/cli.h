/*
 * cli.h - what the parts of the mailkeep command share.
 *
 * NAME
 *	cli - the mailkeep command line interface
 *
 * DESCRIPTION
 *	The command is four files around this header:
 *
 *	  main.c      options (getopt_long), dates, configuration, dispatch,
 *	              and the exit status contract with its error lines
 *	  commands.c  one function a subcommand: init, search, show, get
 *	              (offline)
 *	  remote.c    every read through mailkeep-access (the default)
 *	  audit.c     audit, and the four-eyes listings' printers
 *	  integrity.c verify, rebuild-index, keys, ledger proofs
 *	  export.c    export, verify-export
 *	  policy.c    policy check, policy explain (no archive involved)
 *	  output.c    an archive_message as JSON or as text for a terminal,
 *	              and RFC 3339 time stamps
 *
 *	main() fills one cli_request from the command line and hands it with
 *	the loaded configuration to the command, which returns the exit
 *	status.  Nothing below main() exits the process.
 *
 * DIAGNOSTICS
 *	Exit status 0 on success, 1 when something went wrong at run time,
 *	2 when the command line is wrong.  Every failure prints exactly one
 *	line "mailkeep: <what went wrong>" on stderr (a usage error adds a
 *	hint to --help).
 */
#ifndef MAILKEEP_CLI_H
#define MAILKEEP_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "access/access.h"
#include "archive/archive.h"
#include "common/mkconfig.h"

/* Exit statuses; documented in mailkeep(1). */
#define CLI_EXIT_OK	0
#define CLI_EXIT_FAIL	1
#define CLI_EXIT_USAGE	2

/* Longest value accepted for --from, --to, --message-id. */
#define CLI_MAX_ARG	ARCHIVE_MAX_FIELD

/* Bytes needed for a time stamp from cli_format_time(), NUL included. */
#define CLI_TIME_MAX	40

/*
 * One command line, parsed.  Strings point into argv or into msgid_buf;
 * only the rcpts array is allocated (by main(), which frees it).
 */
typedef struct cli_request {
	archive_query query;	/* search filters, limit; query.to is the
				   first --to */
	const char **rcpts;	/* every --to, in order (policy explain) */
	size_t n_rcpts;
	int has_since;		/* --since given (query.since may be 0) */
	int has_until;		/* --until given */
	int json;		/* --json */
	const char *file;	/* policy check: FILE, or NULL */
	const char *keys_file;	/* verify --keys FILE, or NULL */
	int64_t old_size;	/* ledger consistency OLD NEW */
	int64_t new_size;
	const char *id;		/* show, get: the message id (lower case) */
	char id_buf[ARCHIVE_ID_LEN + 1];
	int offline;		/* --offline: open the archive directly */
	const char *reason;	/* request --reason */
	access_op asks;		/* request get|show */
	int64_t number;		/* approve, deny: the request number */
	char *keys_pem;		/* verify --keys: the file's text (main()
				   reads it and frees it) */
	const char *audit_user;	/* audit --user */
	const char *audit_action;	/* audit --action */
	const char *audit_message;	/* audit --message (lower case) */
	char audit_msg_buf[ARCHIVE_ID_LEN + 1];
	int count;		/* search --count */
	size_t offset;		/* search --offset */
	char *q;		/* search: the query text, built from the
				   operands and --text, --subject, ...
				   (main() frees it) */
	char msgid_buf[CLI_MAX_ARG + 3];	/* --message-id with <> */
	const char *format;	/* export --format: eml, mbox */
	const char *out;	/* export --out PATH */
	const char *hold_name;	/* hold create|show|release NAME */
	int dry_run;		/* expire --dry-run */
	const char *import_kind;	/* import: mbox, maildir, eml */
	const char *const *import_paths;	/* import: PATH... (argv) */
	size_t n_import_paths;
	int64_t received_at;	/* import --as-received-at (usec) */
	int has_received_at;
} cli_request;

/* A subcommand: returns the exit status.  cfg is NULL only for a
 * command that needs no configuration ("policy check FILE"). */
typedef int (*cli_command_fn)(const mk_config *cfg, const cli_request *rq);

/* commands.c */
int cli_cmd_init(const mk_config *cfg, const cli_request *rq);
int cli_cmd_search(const mk_config *cfg, const cli_request *rq);
int cli_cmd_show(const mk_config *cfg, const cli_request *rq);
int cli_cmd_get(const mk_config *cfg, const cli_request *rq);

/* integrity.c */
int cli_cmd_verify(const mk_config *cfg, const cli_request *rq);
int cli_cmd_rebuild_index(const mk_config *cfg, const cli_request *rq);
int cli_cmd_keys_rotate(const mk_config *cfg, const cli_request *rq);
int cli_cmd_keys_export(const mk_config *cfg, const cli_request *rq);
int cli_cmd_ledger_proof(const mk_config *cfg, const cli_request *rq);
int cli_cmd_ledger_consistency(const mk_config *cfg, const cli_request *rq);
int cli_cmd_ledger_checkpoint(const mk_config *cfg, const cli_request *rq);
int cli_cmd_ledger_checkpoints(const mk_config *cfg, const cli_request *rq);

/* commands.c: shared by the commands that read an archive */
archive *cli_open_archive(const mk_config *cfg);
int cli_finish_output(void);

/* cli_audit_offline - record an offline read by the calling uid (the
 * kernel's getuid(), "via":"offline") before it is shown; 0, or -1
 * after the error line (the read must then not happen) */
int cli_audit_offline(archive *ar, access_op op, const cli_request *rq,
		      const char *const *ids, size_t n_ids);

/* remote.c: a command through mailkeep-access */
void cli_to_request(access_op op, const cli_request *rq, access_request *out);
int cli_read_keys(cli_request *rq);
int cli_remote(const mk_config *cfg, access_op op, const cli_request *rq);

/* audit.c: the audit trail and four-eyes listings */
int cli_cmd_audit(const mk_config *cfg, const cli_request *rq);
int cli_cmd_status(const mk_config *cfg, const cli_request *rq);
int cli_print_listed_header(access_op op);
int cli_print_listed(access_op op, json_t *obj);
int cli_print_single(access_op op, json_t *obj, int json);

/* import.c: mail that predates the milter */
int cli_cmd_import(const mk_config *cfg, const cli_request *rq);

/* holds.c: legal holds and expiry, for people */
int cli_print_hold_header(void);
int cli_print_hold(json_t *obj, int json, int detailed);
int cli_print_hold_end(access_op op, json_t *end, int json);

/* The progress line of a long operation on stderr (a terminal only). */
typedef struct cli_progress {
	int tty;
	int shown;
	char last[96];
} cli_progress;
void cli_progress_show(cli_progress *pl, const char *phase, uint64_t done,
		       uint64_t total);
void cli_progress_end(cli_progress *pl);

/* What verify prints, from the archive or from the service. */
typedef struct cli_verify_out {
	cli_progress pl;
	int json;
	json_t *problems;		/* --json: collected */
} cli_verify_out;

/* integrity.c: printers shared by offline and remote reads */
int cli_print_proof(json_t *proof, int json);
/* cli_print_json - obj, indented, and a newline on stdout; consumes obj */
void cli_print_json(json_t *obj);
int cli_print_problem(cli_verify_out *vo, json_t *problem);
int cli_print_verify(cli_verify_out *vo, json_t *stats);
void cli_verify_problem(const char *kind, const char *object,
			const char *detail, void *ctx);
void cli_verify_progress(const char *phase, uint64_t done, uint64_t total,
			 void *ctx);

/* export.c: export (through mailkeep-access), verify-export (needs no
 * configuration) */
int cli_cmd_export(const mk_config *cfg, const cli_request *rq);
int cli_cmd_verify_export(const mk_config *cfg, const cli_request *rq);

/* policy.c */
int cli_cmd_policy_check(const mk_config *cfg, const cli_request *rq);
/* cli_cmd_config_check - the daemons' start-up checks (check/check.h) */
int cli_cmd_config_check(const mk_config *cfg, const cli_request *rq);
int cli_cmd_policy_explain(const mk_config *cfg, const cli_request *rq);

/* main.c: one error line on stderr; return CLI_EXIT_FAIL */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* output.c */

/* How cli_format_time() writes a time. */
typedef enum {
	CLI_TIME_RFC3339,	/* 2026-11-24T05:13:21.123456Z */
	CLI_TIME_HUMAN,		/* 2026-11-24 05:13:21 */
	CLI_TIME_DATE		/* 2026-11-24 */
} cli_time_style;

/* cli_format_time - microseconds since the epoch as UTC text in buf */
void cli_format_time(int64_t usec, cli_time_style style, char *buf,
		     size_t size);

/* cli_retention_json - a retain_until in seconds (0: indefinitely) as a
 * new JSON value: RFC 3339 text, or null */
json_t *cli_retention_json(int64_t retain_until);

/* cli_retention_text - a retain_until for people: "through DATE (may be
 * expired from TIME)" or "indefinitely", in buf */
void cli_retention_text(int64_t retain_until, char *buf, size_t size);

/* cli_message_json - msg as a new JSON object (caller owns it); NULL on
 * memory exhaustion */
json_t *cli_message_json(const archive_message *msg);

/* A JSON array written one element at a time, so memory stays flat. */
typedef struct cli_json_stream {
	FILE *fp;
	size_t count;		/* elements written so far */
} cli_json_stream;

/* The writers below return 0, or -1 when writing failed (errno says why
 * when ferror(fp) is set, else memory ran out). */
int cli_json_begin(cli_json_stream *js, FILE *fp);
int cli_json_put(cli_json_stream *js, const archive_message *msg);
int cli_json_end(cli_json_stream *js);

/* cli_json_put_object - one JSON object as the next element */
int cli_json_put_object(cli_json_stream *js, json_t *obj);

/* cli_put_text - s for a terminal (control characters as '?'), padded
 * to width characters (0: as long as it is) */
void cli_put_text(FILE *fp, const char *s, size_t width);

/* cli_human_withheld - a search line for a message withheld by four-eyes */
int cli_human_withheld(FILE *fp, json_t *stub);

/* cli_show_json - one message as an indented JSON object */
int cli_show_json(FILE *fp, const archive_message *msg);

/* cli_human_header - the column titles above cli_human_line() */
int cli_human_header(FILE *fp);

/* cli_human_line - one message as one aligned line for a terminal */
int cli_human_line(FILE *fp, const archive_message *msg);

/* cli_human_show - one message as "key: value" lines */
int cli_human_show(FILE *fp, const archive_message *msg);

#endif /* MAILKEEP_CLI_H */
