/*
 * main.c - the mailkeep command: options, configuration, dispatch.
 *
 * NAME
 *	mailkeep - search and retrieve messages kept by mailkeep-milter
 *
 * SYNOPSIS
 *	mailkeep [-c FILE] COMMAND [ARGS]
 *	mailkeep [-c FILE] policy check|explain|apply [ARGS]
 *
 * DESCRIPTION
 *	main() reads the command line with getopt_long, which permutes
 *	arguments, so options may stand before or after the command
 *	("mailkeep search --json --from a@b").  One option table serves all
 *	commands; each command lists the options it accepts and anything
 *	else is a usage error, as is an option given twice (except --to for
 *	"policy explain", which takes one a recipient).  "policy" is a
 *	command of two words: "policy check" and "policy explain" are
 *	entries of the command table like the others.
 *
 *	Values are checked here, before any file is opened: dates are
 *	parsed to microseconds since the epoch (YYYY-MM-DD, RFC 3339, or
 *	@SECONDS, by common/timeparse.c, which the query language's
 *	after:/before: share), addresses and ids are bounded by
 *	CLI_MAX_ARG, a message id must be ARCHIVE_ID_LEN hex digits.  Then
 *	mailkeep.conf is loaded and the command from commands.c or
 *	policy.c runs ("policy check FILE" needs no configuration and reads
 *	none).
 *
 *	SIGPIPE is ignored: a reader that goes away shows as EPIPE on a
 *	write, which the commands report and turn into exit status 1.
 *
 * DIAGNOSTICS
 *	See cli.h: 0 success, 1 run-time error, 2 usage error, each failure
 *	one line on stderr.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/timeparse.h"

#define PROGNAME "mailkeep"

/* Options that belong to commands, as bits, so a command can list its own. */
enum {
	OPT_FROM = 1 << 0,
	OPT_TO = 1 << 1,
	OPT_SINCE = 1 << 2,
	OPT_UNTIL = 1 << 3,
	OPT_MSGID = 1 << 4,
	OPT_LIMIT = 1 << 5,
	OPT_JSON = 1 << 6,

	OPT_EXPLAIN = OPT_FROM | OPT_TO | OPT_JSON,
	OPT_MANY_TO = 1 << 7,	/* not an option: --to may be repeated */
	OPT_KEYS = 1 << 8,
	OPT_OFFLINE = 1 << 9,
	OPT_REASON = 1 << 10,
	OPT_USER = 1 << 11,
	OPT_MESSAGE = 1 << 12,
	OPT_ACTION = 1 << 13,
	OPT_TEXT = 1 << 14,	/* the query's options, in OPT_SEARCH */
	OPT_SUBJECT = 1 << 15,
	OPT_ATTACHMENT = 1 << 16,
	OPT_HAS_ATTACHMENT = 1 << 17,
	OPT_NEWEST = 1 << 18,
	OPT_COUNT = 1 << 19,
	OPT_OFFSET = 1 << 20,
	OPT_FORMAT = 1 << 21,
	OPT_OUT = 1 << 22,
	OPT_HEADER_FROM = 1 << 23,	/* query terms, repeatable (OR) */
	OPT_HEADER_TO = 1 << 24,
	OPT_CLIENT_IP = 1 << 25,
	OPT_QUEUE_ID = 1 << 26,
	OPT_LARGER = 1 << 27,
	OPT_SMALLER = 1 << 28,
	OPT_TERMS = 1 << 29,	/* --party, --hold: query terms, repeatable */
	/* OPT_AS_RECEIVED_AT is 1u << 31, below: an enum holds an int */
	OPT_DRY_RUN = 1 << 30,
	OPT_REPEATABLE = OPT_HEADER_FROM | OPT_HEADER_TO | OPT_CLIENT_IP |
			 OPT_QUEUE_ID | OPT_TERMS,
	OPT_SEARCH = OPT_FROM | OPT_TO | OPT_SINCE | OPT_UNTIL | OPT_MSGID |
		     OPT_LIMIT | OPT_JSON | OPT_TEXT | OPT_SUBJECT |
		     OPT_ATTACHMENT | OPT_HAS_ATTACHMENT | OPT_NEWEST |
		     OPT_COUNT | OPT_OFFSET | OPT_REPEATABLE | OPT_LARGER |
		     OPT_SMALLER,
	OPT_HOLD_TERMS = (OPT_SEARCH & ~(OPT_LIMIT | OPT_NEWEST | OPT_COUNT |
					 OPT_OFFSET | OPT_JSON)),
	OPT_AUDIT = OPT_USER | OPT_MESSAGE | OPT_ACTION | OPT_SINCE | OPT_UNTIL |
		    OPT_LIMIT | OPT_JSON | OPT_OFFLINE
};

#define OPT_AS_RECEIVED_AT (1u << 31)

/* What a command takes after its name. */
typedef enum {
	ARGS_NONE,		/* nothing */
	ARGS_ID,		/* exactly one message id */
	ARGS_FILE,		/* at most one file name */
	ARGS_SIZES,		/* two ledger sizes, OLD NEW */
	ARGS_NUMBER,		/* one four-eyes request number */
	ARGS_QUERY,		/* words of a query (search) */
	ARGS_NAME,		/* a hold's name */
	ARGS_NAME_QUERY,	/* a hold's name, then words of a query */
	ARGS_IMPORT		/* mbox|maildir|eml, then one path or more */
} cli_operands;

/* What a command needs besides its options. */
enum {
	CMD_ARCHIVE = 1 << 0,	/* the archive directory of the config */
	CMD_FILE_NO_CONFIG = 1 << 1,	/* given a FILE, reads no config */
	CMD_READS_CONFIG = 1 << 2	/* reads the config itself: FILE, or
					   -c's (rq->file), every problem */
};

/* getopt_long values of the long-only options. */
enum {
	LO_VERSION = 256, LO_FROM, LO_TO, LO_SINCE, LO_UNTIL, LO_MSGID,
	LO_LIMIT, LO_JSON, LO_KEYS, LO_OFFLINE, LO_REASON, LO_USER, LO_MESSAGE,
	LO_ACTION, LO_TEXT, LO_SUBJECT, LO_ATTACHMENT, LO_HAS_ATTACHMENT,
	LO_NEWEST, LO_COUNT, LO_OFFSET, LO_FORMAT, LO_OUT, LO_HEADER_FROM,
	LO_HEADER_TO, LO_CLIENT_IP, LO_QUEUE_ID, LO_LARGER, LO_SMALLER,
	LO_PARTY, LO_HOLD, LO_DRY_RUN, LO_AS_RECEIVED_AT
};

static const struct option long_options[] = {
	{"config", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, LO_VERSION},
	{"from", required_argument, NULL, LO_FROM},
	{"to", required_argument, NULL, LO_TO},
	{"since", required_argument, NULL, LO_SINCE},
	{"until", required_argument, NULL, LO_UNTIL},
	{"message-id", required_argument, NULL, LO_MSGID},
	{"limit", required_argument, NULL, LO_LIMIT},
	{"json", no_argument, NULL, LO_JSON},
	{"keys", required_argument, NULL, LO_KEYS},
	{"offline", no_argument, NULL, LO_OFFLINE},
	{"reason", required_argument, NULL, LO_REASON},
	{"user", required_argument, NULL, LO_USER},
	{"message", required_argument, NULL, LO_MESSAGE},
	{"action", required_argument, NULL, LO_ACTION},
	{"text", required_argument, NULL, LO_TEXT},
	{"subject", required_argument, NULL, LO_SUBJECT},
	{"attachment", required_argument, NULL, LO_ATTACHMENT},
	{"has-attachment", no_argument, NULL, LO_HAS_ATTACHMENT},
	{"newest", no_argument, NULL, LO_NEWEST},
	{"count", no_argument, NULL, LO_COUNT},
	{"offset", required_argument, NULL, LO_OFFSET},
	{"format", required_argument, NULL, LO_FORMAT},
	{"out", required_argument, NULL, LO_OUT},
	{"header-from", required_argument, NULL, LO_HEADER_FROM},
	{"header-to", required_argument, NULL, LO_HEADER_TO},
	{"client-ip", required_argument, NULL, LO_CLIENT_IP},
	{"queue-id", required_argument, NULL, LO_QUEUE_ID},
	{"larger", required_argument, NULL, LO_LARGER},
	{"smaller", required_argument, NULL, LO_SMALLER},
	{"party", required_argument, NULL, LO_PARTY},
	{"hold", required_argument, NULL, LO_HOLD},
	{"dry-run", no_argument, NULL, LO_DRY_RUN},
	{"as-received-at", required_argument, NULL, LO_AS_RECEIVED_AT},
	{NULL, 0, NULL, 0}
};

/* The command options, by bit, for messages. */
static const struct {
	unsigned bit;
	int val;
	const char *name;
} option_bits[] = {
	{OPT_FROM, LO_FROM, "--from"},
	{OPT_TO, LO_TO, "--to"},
	{OPT_SINCE, LO_SINCE, "--since"},
	{OPT_UNTIL, LO_UNTIL, "--until"},
	{OPT_MSGID, LO_MSGID, "--message-id"},
	{OPT_LIMIT, LO_LIMIT, "--limit"},
	{OPT_JSON, LO_JSON, "--json"},
	{OPT_KEYS, LO_KEYS, "--keys"},
	{OPT_OFFLINE, LO_OFFLINE, "--offline"},
	{OPT_REASON, LO_REASON, "--reason"},
	{OPT_USER, LO_USER, "--user"},
	{OPT_MESSAGE, LO_MESSAGE, "--message"},
	{OPT_ACTION, LO_ACTION, "--action"},
	{OPT_TEXT, LO_TEXT, "--text"},
	{OPT_SUBJECT, LO_SUBJECT, "--subject"},
	{OPT_ATTACHMENT, LO_ATTACHMENT, "--attachment"},
	{OPT_HAS_ATTACHMENT, LO_HAS_ATTACHMENT, "--has-attachment"},
	{OPT_NEWEST, LO_NEWEST, "--newest"},
	{OPT_COUNT, LO_COUNT, "--count"},
	{OPT_OFFSET, LO_OFFSET, "--offset"},
	{OPT_FORMAT, LO_FORMAT, "--format"},
	{OPT_OUT, LO_OUT, "--out"},
	{OPT_HEADER_FROM, LO_HEADER_FROM, "--header-from"},
	{OPT_HEADER_TO, LO_HEADER_TO, "--header-to"},
	{OPT_CLIENT_IP, LO_CLIENT_IP, "--client-ip"},
	{OPT_QUEUE_ID, LO_QUEUE_ID, "--queue-id"},
	{OPT_LARGER, LO_LARGER, "--larger"},
	{OPT_SMALLER, LO_SMALLER, "--smaller"},
	{OPT_TERMS, LO_PARTY, "--party"},
	{OPT_TERMS, LO_HOLD, "--hold"},
	{OPT_DRY_RUN, LO_DRY_RUN, "--dry-run"},
	{OPT_AS_RECEIVED_AT, LO_AS_RECEIVED_AT, "--as-received-at"},
};
#define N_OPTION_BITS (sizeof(option_bits) / sizeof(option_bits[0]))

/* The commands: name (one word, or a group and a second), the request
 * it makes of mailkeep-access (ACCESS_OP_NONE: none, it works on the
 * archive's files), what it asks for (request get|show), the function
 * that runs it offline (NULL: only through the service), options
 * accepted, options required, operands, needs. */
static const struct cli_command {
	const char *name;
	access_op op;
	access_op asks;
	cli_command_fn run;
	unsigned options;
	unsigned required;
	cli_operands operands;
	unsigned needs;
} commands[] = {
	{"init", ACCESS_OP_NONE, 0, cli_cmd_init, 0, 0, ARGS_NONE, CMD_ARCHIVE},
	{"search", ACCESS_OP_SEARCH, 0, cli_cmd_search, OPT_SEARCH | OPT_OFFLINE,
	 0, ARGS_QUERY, CMD_ARCHIVE},
	{"show", ACCESS_OP_SHOW, 0, cli_cmd_show, OPT_JSON | OPT_OFFLINE, 0,
	 ARGS_ID, CMD_ARCHIVE},
	{"get", ACCESS_OP_GET, 0, cli_cmd_get, OPT_OFFLINE, 0, ARGS_ID,
	 CMD_ARCHIVE},
	{"audit", ACCESS_OP_AUDIT, 0, cli_cmd_audit, OPT_AUDIT, 0, ARGS_NONE,
	 CMD_ARCHIVE},
	{"request get", ACCESS_OP_REQUEST, ACCESS_OP_GET, NULL,
	 OPT_REASON | OPT_JSON, OPT_REASON, ARGS_ID, CMD_ARCHIVE},
	{"request show", ACCESS_OP_REQUEST, ACCESS_OP_SHOW, NULL,
	 OPT_REASON | OPT_JSON, OPT_REASON, ARGS_ID, CMD_ARCHIVE},
	{"requests", ACCESS_OP_REQUESTS, 0, NULL, OPT_JSON, 0, ARGS_NONE,
	 CMD_ARCHIVE},
	{"approve", ACCESS_OP_APPROVE, 0, NULL, OPT_JSON, 0, ARGS_NUMBER,
	 CMD_ARCHIVE},
	{"deny", ACCESS_OP_DENY, 0, NULL, OPT_JSON, 0, ARGS_NUMBER, CMD_ARCHIVE},
	{"whoami", ACCESS_OP_WHOAMI, 0, NULL, OPT_JSON, 0, ARGS_NONE,
	 CMD_ARCHIVE},
	{"status", ACCESS_OP_STATUS, 0, cli_cmd_status, OPT_JSON | OPT_OFFLINE,
	 0, ARGS_NONE, CMD_ARCHIVE},
	{"policy check", ACCESS_OP_NONE, 0, cli_cmd_policy_check, 0, 0,
	 ARGS_FILE, CMD_FILE_NO_CONFIG},
	{"config check", ACCESS_OP_NONE, 0, cli_cmd_config_check, OPT_JSON, 0,
	 ARGS_FILE, CMD_READS_CONFIG},
	{"policy explain", ACCESS_OP_NONE, 0, cli_cmd_policy_explain,
	 OPT_EXPLAIN | OPT_MANY_TO, OPT_FROM | OPT_TO, ARGS_NONE, 0},
	{"policy apply", ACCESS_OP_POLICY_APPLY, 0, NULL,
	 OPT_HOLD_TERMS | OPT_REASON | OPT_DRY_RUN | OPT_JSON, OPT_REASON,
	 ARGS_QUERY, CMD_ARCHIVE},
	{"verify", ACCESS_OP_VERIFY, 0, cli_cmd_verify,
	 OPT_JSON | OPT_KEYS | OPT_OFFLINE, 0, ARGS_NONE, CMD_ARCHIVE},
	{"export", ACCESS_OP_NONE, 0, cli_cmd_export,
	 (OPT_SEARCH & ~(OPT_COUNT | OPT_OFFSET)) | OPT_FORMAT | OPT_OUT,
	 OPT_OUT, ARGS_QUERY, CMD_ARCHIVE},
	{"verify-export", ACCESS_OP_NONE, 0, cli_cmd_verify_export,
	 OPT_JSON | OPT_KEYS, 0, ARGS_FILE, CMD_FILE_NO_CONFIG},
	{"rebuild-index", ACCESS_OP_NONE, 0, cli_cmd_rebuild_index, OPT_JSON, 0,
	 ARGS_NONE, CMD_ARCHIVE},
	{"keys rotate", ACCESS_OP_NONE, 0, cli_cmd_keys_rotate, OPT_JSON, 0,
	 ARGS_NONE, CMD_ARCHIVE},
	{"keys export-public", ACCESS_OP_NONE, 0, cli_cmd_keys_export, OPT_JSON,
	 0, ARGS_NONE, CMD_ARCHIVE},
	{"ledger proof", ACCESS_OP_PROOF, 0, cli_cmd_ledger_proof,
	 OPT_JSON | OPT_OFFLINE, 0, ARGS_ID, CMD_ARCHIVE},
	{"ledger consistency", ACCESS_OP_NONE, 0, cli_cmd_ledger_consistency,
	 OPT_JSON, 0, ARGS_SIZES, CMD_ARCHIVE},
	{"ledger checkpoint", ACCESS_OP_NONE, 0, cli_cmd_ledger_checkpoint,
	 OPT_JSON, 0, ARGS_NONE, CMD_ARCHIVE},
	{"ledger checkpoints", ACCESS_OP_NONE, 0, cli_cmd_ledger_checkpoints,
	 OPT_JSON, 0, ARGS_NONE, CMD_ARCHIVE},
	{"hold create", ACCESS_OP_HOLD, 0, NULL,
	 OPT_HOLD_TERMS | OPT_REASON | OPT_JSON, OPT_REASON, ARGS_NAME_QUERY,
	 CMD_ARCHIVE},
	{"hold list", ACCESS_OP_HOLDS, 0, NULL, OPT_JSON, 0, ARGS_NONE,
	 CMD_ARCHIVE},
	{"hold show", ACCESS_OP_HOLDS, 0, NULL, OPT_JSON, 0, ARGS_NAME,
	 CMD_ARCHIVE},
	{"hold release", ACCESS_OP_RELEASE, 0, NULL, OPT_REASON | OPT_JSON,
	 OPT_REASON, ARGS_NAME, CMD_ARCHIVE},
	{"expire", ACCESS_OP_EXPIRE, 0, NULL, OPT_DRY_RUN | OPT_JSON, 0,
	 ARGS_NONE, CMD_ARCHIVE},
	{"import", ACCESS_OP_NONE, 0, cli_cmd_import,
	 OPT_AS_RECEIVED_AT | OPT_JSON, 0, ARGS_IMPORT, CMD_ARCHIVE},
};

/* The commands of two words, by their first: and what follows it. */
static const struct {
	const char *group;
	const char *subcommands;
} groups[] = {
	{"policy", "check, explain or apply"},
	{"config", "check"},
	{"keys", "rotate or export-public"},
	{"ledger", "proof, consistency, checkpoint or checkpoints"},
	{"request", "get or show"},
	{"hold", "create, list, show or release"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* What the command line said, before the configuration is read. */
typedef struct cli_line {
	const char *config;		/* -c */
	unsigned seen;			/* OPT_* bits given */
	int help;
	int version;
	cli_request rq;
} cli_line;

/* print_error - "mailkeep: " and the formatted message on stderr */
static void
print_error(const char *fmt, va_list ap)
{
	fputs(PROGNAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* cli_error - one error line on stderr; returns CLI_EXIT_FAIL */
int
cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_error(fmt, ap);
	va_end(ap);
	return CLI_EXIT_FAIL;
}

/* usage_error - one error line and the hint to --help; CLI_EXIT_USAGE */
static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_error(fmt, ap);
	va_end(ap);
	fputs("Try '" PROGNAME " --help' for more information.\n", stderr);
	return CLI_EXIT_USAGE;
}

/* print_help - the --help text on stdout */
static void
print_help(void)
{
	fputs(
"Usage: " PROGNAME " [-c FILE] COMMAND [ARGS]\n"
"Search and retrieve the messages kept by mailkeep-milter.\n"
"\n"
"Commands:\n"
"  init                 create the archive named in the configuration\n"
"  search [OPTIONS] [QUERY]\n"
"                       list archived messages you may see, oldest first;\n"
"                       QUERY: from:ADDR subject:WORD \"a phrase\" -word ...\n"
"                       (mailkeep(1), QUERIES)\n"
"  show ID [--json]     the metadata of one message\n"
"  get ID               the original message bytes, to standard output\n"
"  whoami               who the access service takes you for, your roles\n"
"  status               how far the full-text index has got: messages\n"
"                       stored and indexed, the lag, the last error\n"
"  audit [--user U] [--message ID] [--action A] [--since D] [--until D]\n"
"                       the audit trail (roles auditor, admin)\n"
"  request get|show ID --reason TEXT\n"
"                       ask a second person to release a four-eyes message\n"
"  requests             your requests and those you may decide\n"
"  approve N, deny N    decide someone else's request N\n"
"  export [QUERY] [search options] --out PATH [--format eml|mbox] [--json]\n"
"                       the messages you may get, with manifests and proofs\n"
"  verify-export PATH [--keys FILE] [--json]\n"
"                       check an export with the public keys only\n"
"  policy check [FILE]  validate a policy file (default: the configured one)\n"
"                       and print it as parsed\n"
"  policy explain --from ADDR --to ADDR [--to ADDR ...] [--json]\n"
"                       what the configured policy decides for a message\n"
"  policy apply --reason TEXT [QUERY] [--dry-run]\n"
"                       re-decide stored messages under the current policy:\n"
"                       roles, retention, content kept; held ones keep\n"
"                       their content (admin; stop the milter first)\n"
"  verify [--keys FILE] [--json]\n"
"                       check every blob, record, signature, ledger entry,\n"
"                       checkpoint and index row; --keys: public keys\n"
"                       exported earlier, to check the archive's against\n"
"  rebuild-index        make the index anew from records/ and the ledger\n"
"  keys rotate          new signing and data keys (old ones stay to read)\n"
"  keys export-public   the public keys a third party verifies with\n"
"  ledger proof ID      inclusion proof of a message's ledger entry\n"
"  ledger consistency OLD NEW\n"
"                       proof that checkpoint NEW extends checkpoint OLD\n"
"  ledger checkpoint    sign a checkpoint of the whole ledger now\n"
"  ledger checkpoints   list the signed checkpoints\n"
"  hold create NAME --reason TEXT [QUERY] [search options]\n"
"                       place a legal hold on what the query matches, now\n"
"                       and on arrival (role admin)\n"
"  hold list, hold show NAME\n"
"                       the holds, or one (roles admin, auditor)\n"
"  hold release NAME --reason TEXT\n"
"                       lift a hold: its messages may expire again (admin)\n"
"  expire [--dry-run]   forget every message past its retention and under\n"
"                       no hold (role admin); --dry-run: count only\n"
"  import mbox|maildir|eml PATH... [--as-received-at DATE]\n"
"                       archive mail from before the milter, as if it had\n"
"                       arrived then (role admin)\n"
"Every command but init, get and policy takes --json.\n"
"search, show, get, ledger proof, verify and audit go through the access\n"
"service (mailkeep-access), which decides by your roles; --offline opens\n"
"the archive directly instead (root or the archive's account only).\n"
"\n"
"Search options:\n"
"  --from ADDR|@DOMAIN  envelope sender\n"
"  --to ADDR|@DOMAIN    any envelope recipient\n"
"  --since DATE         received at or after DATE\n"
"  --until DATE         received before DATE\n"
"  --message-id ID      Message-ID header, with or without <>\n"
"  --limit N            at most N messages\n"
"  --text WORDS         words of the text (every part, decoded)\n"
"  --subject WORDS      words of the Subject\n"
"  --attachment NAME    words of an attachment's file name\n"
"  --has-attachment     messages with an attachment\n"
"  --header-from TEXT   the From header holds TEXT (an address, a name)\n"
"  --header-to TEXT     a To or Cc header holds TEXT\n"
"  --client-ip IP       sent from IP (IPv4 or IPv6)\n"
"  --queue-id ID        the MTA's queue id\n"
"  --party ADDR|@DOMAIN the sender or any recipient (a custodian)\n"
"  --hold NAME          the messages a legal hold covers\n"
"  --larger SIZE        more than SIZE bytes (k, M, G suffixes)\n"
"  --smaller SIZE       fewer than SIZE bytes\n"
"  --newest             newest first\n"
"  --offset N           pass over the first N matches (pages of --limit)\n"
"  --count              print how many match, not the messages\n"
"  --json               a JSON array instead of columns\n"
"DATE is YYYY-MM-DD (UTC midnight), YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM]\n"
"(RFC 3339, UTC when no offset) or @SECONDS since the epoch.\n"
"\n"
"Options:\n"
"  -c, --config FILE    configuration (default " MK_DEFAULT_CONFIG ")\n"
"  -h, --help           this help\n"
"      --version        the version\n"
"\n"
"Every read, granted or refused, is recorded in the archive's ledger under\n"
"your uid as the kernel gives it (policy commands read no archive).\n"
"Exit status: 0 success, 1 error, 2 usage.\n"
"See mailkeep(1).\n", stdout);
}

/* check_text - a filter value: non-empty, bounded, no control bytes */
static int
check_text(const char *name, const char *value)
{
	const unsigned char *p;

	if (value[0] == '\0')
		return usage_error("%s needs a value", name);
	if (strlen(value) > CLI_MAX_ARG)
		return usage_error("%s is longer than %d bytes", name,
				   CLI_MAX_ARG);
	for (p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return usage_error("%s holds a control character", name);
	return 0;
}

/* check_address - ADDR or @DOMAIN for --from/--to */
static int
check_address(const char *name, const char *value)
{
	int rc = check_text(name, value);

	if (rc == 0 && strcmp(value, "@") == 0)
		return usage_error("%s: '@' needs a domain after it", name);
	return rc;
}

/* set_message_id - --message-id, wrapped in <> when given without */
static int
set_message_id(cli_request *rq, const char *value)
{
	int rc = check_text("--message-id", value);

	if (rc != 0)
		return rc;
	if (value[0] == '<')
		rq->query.message_id = value;
	else {
		snprintf(rq->msgid_buf, sizeof(rq->msgid_buf), "<%s>", value);
		rq->query.message_id = rq->msgid_buf;
	}
	return 0;
}

/* set_limit - --limit N, N a positive integer */
static int
set_limit(cli_request *rq, const char *value)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno != 0 ||
	    v == 0 || v > SIZE_MAX)
		return usage_error("--limit wants a positive integer, not '%s'",
				   value);
	rq->query.limit = (size_t)v;
	return 0;
}

/* set_offset - --offset N, N a whole number */
static int
set_offset(cli_request *rq, const char *value)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno != 0
	    || v > INT32_MAX)
		return usage_error("--offset wants a whole number, not '%s'",
				   value);
	rq->offset = (size_t)v;
	return 0;
}

/* set_date - --since/--until DATE into *usec */
static int
set_date(const char *name, const char *value, int64_t *usec, int *has)
{
	if (mk_time_parse(value, usec) < 0)
		return usage_error("%s: bad date '%s' (use YYYY-MM-DD, "
				   "YYYY-MM-DDTHH:MM:SSZ or @SECONDS)",
				   name, value);
	*has = 1;
	return 0;
}

/* add_query_raw - text to the search's query, a space before it */
static int
add_query_raw(cli_request *rq, const char *text)
{
	size_t have = rq->q ? strlen(rq->q) : 0, n = strlen(text);
	char *grown;

	if (have + n + 2 > DISCOVERY_MAX_QUERY)
		return usage_error("the query is longer than %d bytes",
				   DISCOVERY_MAX_QUERY);
	if ((grown = realloc(rq->q, have + n + 2)) == NULL)
		return usage_error("out of memory");
	rq->q = grown;
	if (have > 0)
		rq->q[have++] = ' ';
	memcpy(rq->q + have, text, n + 1);
	return 0;
}

/* add_query_term - field and value, the value quoted so that nothing in
 * it is query syntax */
static int
add_query_term(cli_request *rq, const char *field, const char *value)
{
	char quoted[2 * CLI_MAX_ARG + 64], *o = quoted;
	int rc = check_text(field, value);

	if (rc != 0)
		return rc;
	o += snprintf(o, 64, "%s\"", field);
	for (; *value; value++) {
		if (*value == '"' || *value == '\\')
			*o++ = '\\';
		*o++ = *value;
	}
	*o++ = '"';
	*o = '\0';
	return add_query_raw(rq, quoted);
}

/* add_query_words - each word of words as a term of field ("" for the
 * full text), so that --text and --subject take plain words */
static int
add_query_words(cli_request *rq, const char *field, const char *words)
{
	char *copy = strdup(words), *save = NULL, *w;
	int rc = copy ? 0 : usage_error("out of memory"), n = 0;

	for (w = copy ? strtok_r(copy, " \t", &save) : NULL; rc == 0 && w;
	     w = strtok_r(NULL, " \t", &save), n++)
		rc = add_query_term(rq, field, w);
	free(copy);
	if (rc == 0 && n == 0)
		return usage_error("%s needs words", *field ? "--subject"
				   : "--text");
	return rc;
}

/* check_reason - --reason: non-empty, bounded, no control bytes but
 * line ends */
static int
check_reason(const char *value)
{
	const unsigned char *p;

	if (value[0] == '\0')
		return usage_error("--reason needs a value");
	if (strlen(value) > ACCESS_MAX_REASON)
		return usage_error("--reason is longer than %d bytes",
				   ACCESS_MAX_REASON);
	for (p = (const unsigned char *)value; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
			return usage_error("--reason holds a control character");
	return 0;
}

/* check_word - a user name or action word of at most max bytes */
static int
check_word(const char *name, const char *value, size_t max)
{
	int rc = check_text(name, value);

	if (rc == 0 && strlen(value) > max)
		return usage_error("%s is longer than %zu bytes", name, max);
	return rc;
}

/* set_audit_message - --message ID: a message id, lower-cased */
static int
set_audit_message(cli_request *rq, const char *value)
{
	size_t i;

	if (strlen(value) != ARCHIVE_ID_LEN)
		return usage_error("--message wants a message id (%d hex"
				   " digits)", ARCHIVE_ID_LEN);
	for (i = 0; i < ARCHIVE_ID_LEN; i++) {
		if (!isxdigit((unsigned char)value[i]))
			return usage_error("--message wants a message id (%d"
					   " hex digits)", ARCHIVE_ID_LEN);
		rq->audit_msg_buf[i] = (char)tolower((unsigned char)value[i]);
	}
	rq->audit_msg_buf[ARCHIVE_ID_LEN] = '\0';
	rq->audit_message = rq->audit_msg_buf;
	return 0;
}

/* option_bit - the OPT_* bit of a getopt value, or 0 */
static unsigned
option_bit(int val)
{
	size_t i;

	for (i = 0; i < N_OPTION_BITS; i++)
		if (option_bits[i].val == val)
			return option_bits[i].bit;
	return 0;
}

/* take_option - apply one command option from getopt_long */
static int
take_option(cli_line *cl, int val, const char *arg)
{
	cli_request *rq = &cl->rq;
	unsigned bit = option_bit(val);
	size_t i;

	if ((cl->seen & bit) && val != LO_TO	/* --to: check_command */
	    && !(bit & OPT_REPEATABLE)) {
		for (i = 0; option_bits[i].bit != bit; i++)
			;
		return usage_error("%s given twice", option_bits[i].name);
	}
	cl->seen |= bit;
	switch (val) {
	case LO_FROM:
		rq->query.from = arg;
		return check_address("--from", arg);
	case LO_TO:
		if (rq->n_rcpts == 0)
			rq->query.to = arg;
		rq->rcpts[rq->n_rcpts++] = arg;
		return check_address("--to", arg);
	case LO_SINCE:
		return set_date("--since", arg, &rq->query.since, &rq->has_since);
	case LO_UNTIL:
		if (set_date("--until", arg, &rq->query.until,
			     &rq->has_until) != 0)
			return CLI_EXIT_USAGE;
		if (rq->query.until == 0)	/* 0 would mean "no bound" */
			rq->query.until = -1;
		return 0;
	case LO_MSGID:
		return set_message_id(rq, arg);
	case LO_LIMIT:
		return set_limit(rq, arg);
	case LO_JSON:
		rq->json = 1;
		return 0;
	case LO_KEYS:
		rq->keys_file = arg;
		return 0;
	case LO_OFFLINE:
		rq->offline = 1;
		return 0;
	case LO_REASON:
		rq->reason = arg;
		return check_reason(arg);
	case LO_USER:
		rq->audit_user = arg;
		return check_word("--user", arg, ACCESS_MAX_USER);
	case LO_TEXT:
		return add_query_words(rq, "", arg);
	case LO_SUBJECT:
		return add_query_words(rq, "subject:", arg);
	case LO_ATTACHMENT:
		return add_query_term(rq, "attachment:", arg);
	case LO_HAS_ATTACHMENT:
		return add_query_raw(rq, "has:attachment");
	case LO_HEADER_FROM:
		return add_query_term(rq, "header-from:", arg);
	case LO_HEADER_TO:
		return add_query_term(rq, "header-to:", arg);
	case LO_CLIENT_IP:
		return add_query_term(rq, "client-ip:", arg);
	case LO_QUEUE_ID:
		return add_query_term(rq, "queue-id:", arg);
	case LO_LARGER:
		return add_query_term(rq, "larger:", arg);
	case LO_SMALLER:
		return add_query_term(rq, "smaller:", arg);
	case LO_PARTY:
		return add_query_term(rq, "party:", arg);
	case LO_HOLD:
		return add_query_term(rq, "hold:", arg);
	case LO_DRY_RUN:
		rq->dry_run = 1;
		return 0;
	case LO_AS_RECEIVED_AT:
		return set_date("--as-received-at", arg, &rq->received_at,
				&rq->has_received_at);
	case LO_NEWEST:
		rq->query.newest = 1;
		return 0;
	case LO_COUNT:
		rq->count = 1;
		return 0;
	case LO_OFFSET:
		return set_offset(rq, arg);
	case LO_FORMAT:
		rq->format = arg;
		return 0;
	case LO_OUT:
		if (arg[0] == '\0')
			return usage_error("--out: empty path");
		rq->out = arg;
		return 0;
	case LO_ACTION:
		rq->audit_action = arg;
		return check_word("--action", arg, 32);
	case LO_MESSAGE:
		return set_audit_message(rq, arg);
	}
	return usage_error("internal error: option %d", val);
}

/* bad_option - the usage error for what getopt_long refused */
static int
bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error("option '%s' needs a value", arg);
	if (optopt != 0 && optopt < 256)
		return usage_error("unknown option '-%c'", optopt);
	return usage_error("unknown option '%s'", arg);
}

/* parse_options - the whole command line into cl; 0 or an exit status */
static int
parse_options(int argc, char **argv, cli_line *cl)
{
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:h", long_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			cl->config = optarg;
			break;
		case 'h':
			cl->help = 1;
			break;
		case LO_VERSION:
			cl->version = 1;
			break;
		case ':':
		case '?':
			return bad_option(c, argv);
		default:
			if ((rc = take_option(cl, c, optarg)) != 0)
				return rc;
		}
	}
	return 0;
}

/* lookup_command - the table entry named name, or NULL */
static const struct cli_command *
lookup_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* find_command - the command that args start with; *words: how many
 * args its name took.  NULL after a usage error (status in *rc). */
static const struct cli_command *
find_command(int nargs, char **args, int *words, int *rc)
{
	const struct cli_command *cmd;
	char name[64];

	size_t g;

	*words = 1;
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		if (strcmp(args[0], groups[g].group) == 0)
			break;
	if (g == sizeof(groups) / sizeof(groups[0])) {
		if ((cmd = lookup_command(args[0])) == NULL)
			*rc = usage_error("unknown command '%s'", args[0]);
		return cmd;
	}
	if (nargs < 2) {
		*rc = usage_error("'%s' needs a subcommand: %s", args[0],
				  groups[g].subcommands);
		return NULL;
	}
	*words = 2;
	snprintf(name, sizeof(name), "%s %.40s", args[0], args[1]);
	if ((cmd = lookup_command(name)) == NULL)
		*rc = usage_error("unknown %s subcommand '%s' (%s)", args[0],
				  args[1], groups[g].subcommands);
	return cmd;
}

/* set_size - a ledger size operand: a whole number >= 1 */
static int
set_size(const char *arg, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(arg, &end, 10);
	if (errno != 0 || *arg == '\0' || *end != '\0' || n < 1)
		return usage_error("'%s' is not a ledger size (a number of"
				   " entries, see 'ledger checkpoints')", arg);
	*out = n;
	return 0;
}

/* set_number - a four-eyes request number: a whole number >= 1 */
static int
set_number(const char *arg, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(arg, &end, 10);
	if (errno != 0 || *arg == '\0' || *end != '\0' || n < 1)
		return usage_error("'%s' is not a request number (see"
				   " 'mailkeep requests')", arg);
	*out = n;
	return 0;
}

/* set_id - a message id argument: ARCHIVE_ID_LEN hex digits, lower-cased.
 * Anything else cannot name a message: "no message", exit status 1. */
static int
set_id(cli_request *rq, const char *arg)
{
	size_t i;

	if (strlen(arg) != ARCHIVE_ID_LEN)
		return cli_error("no message %s", arg);
	for (i = 0; i < ARCHIVE_ID_LEN; i++) {
		if (!isxdigit((unsigned char)arg[i]))
			return cli_error("no message %s", arg);
		rq->id_buf[i] = (char)tolower((unsigned char)arg[i]);
	}
	rq->id_buf[ARCHIVE_ID_LEN] = '\0';
	rq->id = rq->id_buf;
	return 0;
}

/* set_hold_name - a hold's name operand: letters, digits, '.', '_', '-' */
static int
set_hold_name(cli_request *rq, const char *arg)
{
	const char *p;

	if (*arg == '\0' || strlen(arg) > ACCESS_MAX_HOLD_NAME)
		return usage_error("a hold's name is 1 to %d characters",
				   ACCESS_MAX_HOLD_NAME);
	for (p = arg; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return usage_error("'%s': a hold's name is letters,"
					   " digits, '.', '_' and '-'", arg);
	rq->hold_name = arg;
	return 0;
}

/* set_import - import's operands: the kind, then the paths */
static int
set_import(cli_request *rq, int nargs, char **args)
{
	int i;

	if (nargs == 0 || (strcmp(args[0], "mbox") != 0
			   && strcmp(args[0], "maildir") != 0
			   && strcmp(args[0], "eml") != 0))
		return usage_error("'import' needs what to read: mbox, maildir"
				   " or eml, then the paths");
	if (nargs < 2)
		return usage_error("'import %s' needs a path", args[0]);
	if (nargs - 1 > ACCESS_MAX_SOURCES)
		return usage_error("'import': at most %d paths at once",
				   ACCESS_MAX_SOURCES);
	for (i = 1; i < nargs; i++)
		if (args[i][0] == '\0' || strlen(args[i]) > CLI_MAX_ARG)
			return usage_error("'import': a path of 1 to %d bytes",
					   CLI_MAX_ARG);
	rq->import_kind = args[0];
	rq->import_paths = (const char *const *)(args + 1);
	rq->n_import_paths = (size_t)(nargs - 1);
	return 0;
}

/* check_options - the options given fit cmd; 0 or an exit status */
static int
check_options(const struct cli_command *cmd, const cli_line *cl)
{
	size_t i;

	/* --offline: what works on the files anyway takes it too */
	unsigned options = cmd->options
	    | (cmd->op == ACCESS_OP_NONE ? OPT_OFFLINE : 0);

	for (i = 0; i < N_OPTION_BITS; i++) {
		if ((cl->seen & option_bits[i].bit) &&
		    !(options & option_bits[i].bit))
			return usage_error("%s does not apply to '%s'",
					   option_bits[i].name, cmd->name);
		if ((cmd->required & option_bits[i].bit) &&
		    !(cl->seen & option_bits[i].bit))
			return usage_error("'%s' needs %s", cmd->name,
					   option_bits[i].name);
	}
	if (cl->rq.n_rcpts > 1 && !(cmd->options & OPT_MANY_TO))
		return usage_error("--to given twice");
	return 0;
}

/* check_command - operands and options fit cmd; 0 or an exit status */
static int
check_command(const struct cli_command *cmd, cli_line *cl, int nargs,
	      char **args)
{
	int max = cmd->operands == ARGS_NONE ? 0
	    : cmd->operands == ARGS_QUERY || cmd->operands == ARGS_NAME_QUERY
	    ? nargs : cmd->operands == ARGS_SIZES ? 2 : 1;
	int i, rc;

	cl->rq.asks = cmd->asks;

	if ((rc = check_options(cmd, cl)) != 0)
		return rc;
	if (cmd->operands == ARGS_SIZES && nargs < 2)
		return usage_error("'%s' needs two checkpoint sizes, OLD NEW",
				   cmd->name);
	if (cmd->operands == ARGS_ID && nargs == 0)
		return usage_error("'%s' needs a message id", cmd->name);
	if (cmd->operands == ARGS_NUMBER && nargs == 0)
		return usage_error("'%s' needs a request number (see 'mailkeep"
				   " requests')", cmd->name);
	if (cmd->operands == ARGS_IMPORT)
		return set_import(&cl->rq, nargs, args);
	if ((cmd->operands == ARGS_NAME || cmd->operands == ARGS_NAME_QUERY)
	    && nargs == 0)
		return usage_error("'%s' needs the hold's name", cmd->name);
	if (nargs > max)
		return usage_error("'%s': unexpected argument '%s'", cmd->name,
				   args[max]);
	if (cmd->operands == ARGS_NAME || cmd->operands == ARGS_NAME_QUERY) {
		if ((rc = set_hold_name(&cl->rq, args[0])) != 0)
			return rc;
		for (i = 1; i < nargs; i++)
			if ((rc = add_query_raw(&cl->rq, args[i])) != 0)
				return rc;
		return 0;
	}
	if (cmd->operands == ARGS_ID)
		return set_id(&cl->rq, args[0]);
	if (cmd->operands == ARGS_SIZES)
		return set_size(args[0], &cl->rq.old_size) != 0 ? CLI_EXIT_USAGE
		    : set_size(args[1], &cl->rq.new_size);
	if (cmd->operands == ARGS_NUMBER)
		return set_number(args[0], &cl->rq.number);
	for (i = 0; cmd->operands == ARGS_QUERY && i < nargs; i++)
		if ((rc = add_query_raw(&cl->rq, args[i])) != 0)
			return rc;
	if (cmd->operands == ARGS_FILE && nargs == 1) {
		if (args[0][0] == '\0')
			return usage_error("'%s': empty file name", cmd->name);
		cl->rq.file = args[0];
	}
	return 0;
}

/* run_loaded - cmd with the configuration loaded: through the service,
 * or offline */
static int
run_loaded(const struct cli_command *cmd, const mk_config *cfg,
	   const cli_request *rq)
{
	if (cmd->op != ACCESS_OP_NONE && !rq->offline)
		return cli_remote(cfg, cmd->op, rq);
	return cmd->run(cfg, rq);
}

/* run - load the configuration and run cmd */
static int
run(const struct cli_command *cmd, cli_line *cl)
{
	const char *path = cl->config ? cl->config : MK_DEFAULT_CONFIG;
	mk_config *cfg;
	mk_error err;
	int status;

	if (cli_read_keys(&cl->rq) != 0)
		return CLI_EXIT_FAIL;
	if ((cmd->needs & CMD_FILE_NO_CONFIG) && cl->rq.file != NULL)
		return cmd->run(NULL, &cl->rq);
	if (cmd->needs & CMD_READS_CONFIG) {
		if (cl->rq.file == NULL)
			cl->rq.file = path;
		return cmd->run(NULL, &cl->rq);
	}
	if ((cfg = mk_config_load(path, &err)) == NULL)
		return cli_error("%s", err.msg);
	if ((cmd->needs & CMD_ARCHIVE) &&
	    (cfg->archive == NULL || cfg->archive[0] == '\0'))
		status = cli_error("%s: no archive directory configured", path);
	else
		status = run_loaded(cmd, cfg, &cl->rq);
	mk_config_free(cfg);
	return status;
}

/* dispatch - after the options: help, version, or one command */
static int
dispatch(int argc, char **argv, cli_line *cl)
{
	const struct cli_command *cmd;
	int rc = 0, words;

	if (cl->help) {
		print_help();
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	if (cl->version) {
		printf("%s %s\n", PROGNAME, PACKAGE_VERSION);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	if (optind >= argc)
		return usage_error("no command given");
	cmd = find_command(argc - optind, argv + optind, &words, &rc);
	if (cmd == NULL)
		return rc;
	rc = check_command(cmd, cl, argc - optind - words,
			   argv + optind + words);
	if (rc != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	return run(cmd, cl);
}

/* main - parse, check, load the configuration, run one command */
int
main(int argc, char **argv)
{
	cli_line cl;
	int rc;

	umask(077);	/* what an offline command makes is the archive's own */
	memset(&cl, 0, sizeof(cl));
	/* every --to: at most one per argument */
	if ((cl.rq.rcpts = calloc((size_t)argc, sizeof(*cl.rq.rcpts))) == NULL)
		return cli_error("out of memory");
	rc = parse_options(argc, argv, &cl);
	if (rc == 0)
		rc = dispatch(argc, argv, &cl);
	free(cl.rq.rcpts);
	free(cl.rq.keys_pem);
	free(cl.rq.q);
	return rc;
}
