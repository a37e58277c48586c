/*
 * holds.c - legal holds and expiry, for people.
 *
 * NAME
 *	holds - the printers of "hold create|list|show|release" and
 *	"expire"
 *
 * DESCRIPTION
 *	The access service does the work and answers with JSON: a hold as
 *	an item, the outcome of a change or of an expiry run in the end
 *	frame.  With --json these are printed as they came (a listing as a
 *	streamed array, by remote.c); for a terminal a hold is one line of
 *	columns in a listing, or one "name: value" line a field when shown.
 *	Names, terms and reasons are people's words: they pass through
 *	cli_put_text(), so no control character reaches the terminal.
 *
 * DIAGNOSTICS
 *	Printers return -1 when writing failed.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* text_of - a string member, or "-" */
static const char *
text_of(json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s != NULL && *s ? s : "-";
}

/* number_of - an integer member */
static long long
number_of(json_t *obj, const char *name)
{
	return (long long)json_integer_value(json_object_get(obj, name));
}

/* put_field - "label: value" on a line of its own */
static void
put_field(const char *label, const char *value)
{
	printf("%-15s", label);
	cli_put_text(stdout, value, 0);
	putchar('\n');
}

/* put_time - "label: the time" from member name (usec) */
static void
put_time(json_t *obj, const char *label, const char *name)
{
	char when[CLI_TIME_MAX];

	cli_format_time(number_of(obj, name), CLI_TIME_HUMAN, when, sizeof(when));
	printf("%-15s%s UTC\n", label, when);
}

/* cli_print_hold_header - the column titles of "hold list" */
int
cli_print_hold_header(void)
{
	return printf("%-24s %-8s %9s  %-19s  %s\n", "HOLD", "STATE", "MESSAGES",
		      "PLACED (UTC)", "TERMS") < 0 ? -1 : 0;
}

/* print_hold_line - one hold as a line of "hold list" */
static int
print_hold_line(json_t *obj)
{
	char when[CLI_TIME_MAX];

	cli_format_time(number_of(obj, "time"), CLI_TIME_HUMAN, when,
			sizeof(when));
	cli_put_text(stdout, text_of(obj, "name"), 24);
	printf(" %-8s %9lld  %-19s  ", text_of(obj, "state"),
	       number_of(obj, "messages"), when);
	cli_put_text(stdout, text_of(obj, "terms"), 0);
	return putchar('\n') == EOF ? -1 : 0;
}

/* print_hold_detail - one hold, a field a line ("hold show") */
static int
print_hold_detail(json_t *obj)
{
	char number[32];

	put_field("hold:", text_of(obj, "name"));
	snprintf(number, sizeof(number), "%lld (ledger entry)",
		 number_of(obj, "number"));
	put_field("number:", number);
	put_field("state:", text_of(obj, "state"));
	put_field("terms:", text_of(obj, "terms"));
	snprintf(number, sizeof(number), "%lld", number_of(obj, "messages"));
	put_field("messages:", number);
	put_time(obj, "placed:", "time");
	put_field("placed by:", text_of(obj, "by"));
	put_field("reason:", text_of(obj, "reason"));
	if (json_object_get(obj, "released") != NULL) {
		put_time(obj, "released:", "released_time");
		put_field("released by:", text_of(obj, "released_by"));
		put_field("release reason:", text_of(obj, "release_reason"));
	}
	return ferror(stdout) ? -1 : 0;
}

/* cli_print_hold - a hold: a listing's line, shown whole, or JSON */
int
cli_print_hold(json_t *obj, int json, int detailed)
{
	if (json)
		return json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		    != 0 || putchar('\n') == EOF ? -1 : 0;
	return detailed ? print_hold_detail(obj) : print_hold_line(obj);
}

/* print_expiry - the summary of an expiry run */
static int
print_expiry(json_t *end)
{
	int dry = json_is_true(json_object_get(end, "dry_run"));

	printf("%s %lld messages (%lld days), %lld bytes of mail; %lld bytes"
	       " of storage freed\n", dry ? "would expire" : "expired",
	       number_of(end, "expired"), number_of(end, "groups"),
	       number_of(end, "bytes"), number_of(end, "bytes_freed"));
	printf("kept for a legal hold: %lld messages past their retention"
	       " (%lld of them moved under a new key, so that their day's key"
	       " could go)\n", number_of(end, "kept_held"),
	       number_of(end, "rekeyed"));
	if (number_of(end, "words_mismatched") > 0)
		printf("warning: the words of %lld expired messages stay in the"
		       " full-text index until 'mailkeep rebuild-index'\n",
		       number_of(end, "words_mismatched"));
	return ferror(stdout) ? -1 : 0;
}

/* print_apply - the summary of a policy apply run */
static int
print_apply(json_t *end)
{
	int dry = json_is_true(json_object_get(end, "dry_run"));

	printf("%s %lld messages under the current policy: %lld unchanged,"
	       " %lld with new roles, direction or parties, %lld with a new"
	       " retention, %lld reduced to metadata, %lld removed\n",
	       dry ? "would re-decide" : "re-decided",
	       number_of(end, "messages"), number_of(end, "unchanged"),
	       number_of(end, "resealed"), number_of(end, "moved"),
	       number_of(end, "stripped"), number_of(end, "removed"));
	printf("kept: %lld under a legal hold (their content stays), %lld"
	       " metadata-only asked in full (no content was kept)\n",
	       number_of(end, "held"), number_of(end, "kept_metadata"));
	printf("old copies: %lld groups %s (%lld other messages moved under a"
	       " new key), %lld bytes freed\n", number_of(end, "groups"),
	       dry ? "would be rewritten" : "rewritten",
	       number_of(end, "rekeyed"), number_of(end, "bytes_freed"));
	if (number_of(end, "failed") > 0)
		printf("warning: %lld messages could not be re-decided (first:"
		       " %s); run 'mailkeep verify'\n", number_of(end, "failed"),
		       text_of(end, "first_error"));
	return ferror(stdout) ? -1 : 0;
}

/* cli_print_hold_end - what a hold change or expiry run did */
int
cli_print_hold_end(access_op op, json_t *end, int json)
{
	if (json) {
		json_object_del(end, "ok");
		return json_dumpf(end, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		    != 0 || putchar('\n') == EOF ? -1 : 0;
	}
	if (op == ACCESS_OP_EXPIRE)
		return print_expiry(end);
	if (op == ACCESS_OP_POLICY_APPLY)
		return print_apply(end);
	fputs("hold ", stdout);
	cli_put_text(stdout, text_of(end, "hold"), 0);
	if (op == ACCESS_OP_HOLD)
		printf(" placed (ledger entry %lld): %lld messages held now,"
		       " and new mail matching its terms on arrival\n",
		       number_of(end, "number"), number_of(end, "messages"));
	else
		printf(" released (ledger entry %lld): its %lld messages may"
		       " expire again\n", number_of(end, "released"),
		       number_of(end, "messages"));
	return ferror(stdout) ? -1 : 0;
}
