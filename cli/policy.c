/*
 * policy.c - the policy subcommands of mailkeep: check and explain.
 *
 * NAME
 *	policy - "mailkeep policy check" and "mailkeep policy explain"
 *
 * SYNOPSIS
 *	#include "cli/cli.h"
 *
 *	int cli_cmd_policy_check(const mk_config *cfg, const cli_request *rq);
 *	int cli_cmd_policy_explain(const mk_config *cfg, const cli_request *rq);
 *
 * DESCRIPTION
 *	Both work on the policy file alone, through policy/policy.h: they
 *	open no archive, so there is nothing to record in the ledger.
 *
 *	check loads rq->file, or else the configuration's policy key, and
 *	prints policy_describe()'s text under a one-line verdict.  The
 *	describe text marks a [domain] section that no local party can
 *	ever pick with "; warning:"; the verdict counts those lines.
 *
 *	explain evaluates the configured policy (the built-in default,
 *	everything in full and kept indefinitely, when there is no policy
 *	key) for one envelope at the current time, exactly as
 *	mailkeep-milter would for a message arriving now, and prints the
 *	decision: mode, direction, end of retention, roles, notice and the
 *	rule each party picked.  "<>" as --from is the null sender.
 *
 * DIAGNOSTICS
 *	One line on stderr through cli_error(); status 1.  A policy that
 *	does not load is reported as policy_load() says it:
 *	"mailkeep: FILE:LINE: problem".
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check/check.h"
#include "cli/cli.h"
#include "policy/policy.h"

/* The marker policy_describe() puts on a rule that never applies. */
#define WARNING_MARK	"; warning:"

/* Width of the keys of explain's text output. */
#define KEY_WIDTH	14

/* finish - flush stdout; CLI_EXIT_OK or the error status */
static int
finish(void)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_error("writing to standard output: %s",
				 strerror(errno ? errno : EIO));
	return CLI_EXIT_OK;
}

/* count_warnings - how many warning lines text holds */
static size_t
count_warnings(const char *text)
{
	size_t n = 0;

	while ((text = strstr(text, WARNING_MARK)) != NULL) {
		n++;
		text += strlen(WARNING_MARK);
	}
	return n;
}

/* cli_cmd_policy_check - validate a policy file and print it as parsed */
int
cli_cmd_policy_check(const mk_config *cfg, const cli_request *rq)
{
	const char *path = rq->file ? rq->file : cfg->policy;
	mk_error err;
	policy *p;
	char *text;
	size_t warnings;

	if (path == NULL)
		return cli_error("%s: no policy key (give the file: mailkeep "
				 "policy check FILE)", cfg->path);
	if ((p = policy_load(path, &err)) == NULL)
		return cli_error("%s", err.msg);
	text = policy_describe(p);
	policy_free(p);
	if (text == NULL)
		return cli_error("out of memory");
	warnings = count_warnings(text);
	printf("; %s: valid", path);
	if (warnings > 0)
		printf(", %zu warning%s", warnings, warnings > 1 ? "s" : "");
	printf("\n%s", text);
	free(text);
	return finish();
}

/* add_problem - mk_check_fn: one problem into the JSON array ctx */
static void
add_problem(void *ctx, const char *problem)
{
	json_array_append_new(ctx, json_string(problem));
}

/* cli_cmd_config_check - mailkeep.conf, the policy, the sockets and the
 * archive as mailkeep-milter and mailkeep-access would start with them */
int
cli_cmd_config_check(const mk_config *cfg, const cli_request *rq)
{
	json_t *problems = json_array(), *p;
	size_t i, n;

	(void)cfg;
	if (problems == NULL)
		return cli_error("out of memory");
	mk_check_setup(rq->file, MK_CHECK_MILTER | MK_CHECK_ACCESS, NULL,
		       add_problem, problems);
	n = json_array_size(problems);
	if (rq->json)
		cli_print_json(json_pack("{s:s, s:b, s:o}", "config", rq->file,
					 "ok", n == 0, "problems", problems));
	else {
		json_array_foreach(problems, i, p)
			printf("%s\n", json_string_value(p));
		if (n == 0)
			printf("OK\n");
		json_decref(problems);
	}
	if (finish() != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	return n == 0 ? CLI_EXIT_OK : cli_error("%zu problem%s in %s and what it"
						 " names", n, n == 1 ? "" : "s",
						 rq->file);
}

/* load_configured - the configured policy, or the built-in default;
 * owned by the caller; NULL after an error message */
static policy *
load_configured(const mk_config *cfg)
{
	mk_error err;
	policy *p;

	if (cfg->policy == NULL)
		p = policy_default();
	else
		p = policy_load(cfg->policy, &err);
	if (p == NULL)
		cli_error("%s", cfg->policy ? err.msg : "out of memory");
	return p;
}

/* decision_json - the decision as a new JSON object; NULL: no memory */
static json_t *
decision_json(const policy_decision *d)
{
	json_t *obj = json_object(), *roles = json_array();
	json_t *parties = json_array();
	size_t i;
	int bad = obj == NULL || roles == NULL || parties == NULL;

	for (i = 0; !bad && i < d->n_roles; i++)
		bad |= json_array_append_new(roles, json_string(d->roles[i]));
	for (i = 0; !bad && i < d->n_parties; i++)
		bad |= json_array_append_new(parties, json_pack("{s:s?, s:s}",
			"address", d->parties[i].address,
			"rule", d->parties[i].rule));
	if (!bad)
		bad = json_object_set_new(obj, "mode", json_string(
				policy_mode_name(d->mode))) ||
		      json_object_set_new(obj, "direction", json_string(
				policy_direction_name(d->direction))) ||
		      json_object_set_new(obj, "retain_until",
				cli_retention_json(d->retain_until)) ||
		      json_object_set(obj, "roles", roles) ||
		      json_object_set_new(obj, "notice",
				json_boolean(d->notice)) ||
		      json_object_set_new(obj, "notice_header",
				json_string(d->notice_header)) ||
		      json_object_set(obj, "parties", parties);
	json_decref(roles);
	json_decref(parties);
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* explain_json - the decision as one indented JSON object */
static int
explain_json(const policy_decision *d)
{
	json_t *obj = decision_json(d);
	int rc;

	if (obj == NULL)
		return cli_error("formatting output: out of memory");
	rc = json_dumpf(obj, stdout, JSON_INDENT(2));
	json_decref(obj);
	if (rc == 0)
		putchar('\n');
	return finish();
}

/* key - the key column of explain's text output */
static void
key(const char *name)
{
	printf("%s:%*s", name, (int)(KEY_WIDTH - strlen(name)), "");
}

/* explain_parties - one line a party, or why [defaults] decided */
static void
explain_parties(const policy_decision *d)
{
	size_t i;

	if (d->n_parties == 0) {
		key("parties");
		printf("none in local_domains: [defaults] applies\n");
		return;
	}
	for (i = 0; i < d->n_parties; i++) {
		key("party");
		printf("%s [%s]\n", d->parties[i].address[0] ?
		       d->parties[i].address : "<>", d->parties[i].rule);
	}
}

/* explain_text - the decision as "key: value" lines */
static int
explain_text(const mk_config *cfg, const policy_decision *d)
{
	char until[2 * CLI_TIME_MAX + 32];
	size_t i;

	key("policy");
	printf("%s\n", cfg->policy ? cfg->policy :
	       "built-in (no policy key): everything in full, indefinitely");
	key("mode");
	printf("%s\n", policy_mode_name(d->mode));
	key("direction");
	printf("%s\n", policy_direction_name(d->direction));
	cli_retention_text(d->retain_until, until, sizeof(until));
	key("retain_until");
	printf("%s\n", d->mode == POLICY_NONE ? "- (mode none: nothing is kept)"
					      : until);
	key("roles");
	for (i = 0; i < d->n_roles; i++)
		printf("%s%s", i ? ", " : "", d->roles[i]);
	printf("%s\n", d->n_roles ? "" : "(none)");
	key("notice");
	if (d->notice)
		printf("yes, header %s\n", d->notice_header);
	else
		printf("no\n");
	explain_parties(d);
	return finish();
}

/* cli_cmd_policy_explain - what the policy decides for one envelope */
int
cli_cmd_policy_explain(const mk_config *cfg, const cli_request *rq)
{
	const char *from = rq->query.from;
	policy_decision d;
	mk_error err;
	policy *p;
	int status;

	if ((p = load_configured(cfg)) == NULL)
		return CLI_EXIT_FAIL;
	if (strcmp(from, "<>") == 0)	/* the null sender of a bounce */
		from = "";
	if (policy_evaluate(p, from, rq->rcpts, rq->n_rcpts,
			    (int64_t)time(NULL), &d, &err) < 0) {
		policy_free(p);
		return cli_error("%s", err.msg);
	}
	status = rq->json ? explain_json(&d) : explain_text(cfg, &d);
	policy_decision_free(&d);
	policy_free(p);
	return status;
}
