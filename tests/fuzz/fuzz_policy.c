/*
 * fuzz_policy.c - libFuzzer target for the policy parser and evaluator.
 *
 * NAME
 *	fuzz_policy - run policy_load_stream() on arbitrary bytes
 *
 * SYNOPSIS
 *	make fuzz [FUZZ_SECONDS=60] [FUZZ_FLAGS="-jobs=2"]
 *	tests/fuzz/fuzz_policy [libFuzzer options] CORPUS_DIR...
 *
 * DESCRIPTION
 *	Each input is read as a policy file through fmemopen() and
 *	policy_load_stream().  When it parses, a fixed set of envelopes is
 *	evaluated against it (local, wildcard, IDN in Unicode and in
 *	punycode, null sender, addresses without a domain, odd domains) and
 *	policy_describe() and policy_roles_of() are called, so evaluation
 *	and description of every policy the parser accepts are exercised
 *	too.  Everything is freed, so LeakSanitizer checks ownership.
 *
 *	Besides the sanitizers, the target checks what a decision promises
 *	(policy.h): roles sorted without duplicates, at most one party per
 *	address plus the sender, a rule named for every party, no notice in
 *	mode none, an error message on every refusal.  A broken promise
 *	aborts, which libFuzzer reports as a crash.
 *
 *	The seed corpus is tests/fuzz/corpus/policy/; tests/fuzz/policy.dict
 *	holds the words of the format.  "make fuzz" builds this file with
 *	clang -fsanitize=fuzzer,address,undefined together with the policy
 *	and INI sources, and runs it on a scratch copy of the seeds.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Envelopes: a sender and recipients each. */
static const char *const senders[] = {
	"alice@example.com",
	"",			/* null sender (bounces) */
	"MAILER-DAEMON",	/* no domain at all */
	"out@remote.test",
	"u@b\u00fccher.de",	/* IDN, Unicode form */
	"u@@xn--bcher-kva.de.",	/* punycode, trailing dot, two @ */
	"x@\xff\xfe.example",	/* not UTF-8 */
};

static const char *const recipients[] = {
	"bob@example.com",
	"carol@HR.Example.COM",
	"x@a.b.eu.example.net",
	"y@example.net",
	"z@xn--bcher-kva.de",
	"w@B\u00dcCHER.de",
	"v@d1.example.com",
	"t@sub.d42.example.com",
	"nobody@remote.test",
	"postmaster",
	"x@",
	"@",
	"x@.",
	"x@..example.com",
	"x@*.example.com",
	"x@example.com.",
	"x@a",
};

#define N_SENDERS	(sizeof(senders) / sizeof(senders[0]))
#define N_RECIPIENTS	(sizeof(recipients) / sizeof(recipients[0]))

/* check - abort (a crash to libFuzzer) when a promise is broken */
static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_policy: broken promise: %s\n", what);
		abort();
	}
}

/* check_decision - what policy.h promises about a decision */
static void
check_decision(const policy_decision *d, size_t n_rcpts)
{
	size_t i;

	check(d->mode >= POLICY_NONE && d->mode <= POLICY_FULL, "mode in range");
	check(d->direction >= POLICY_EXTERNAL && d->direction <= POLICY_INTERNAL,
	      "direction in range");
	check(d->n_parties <= n_rcpts + 1, "at most sender + recipients");
	check(d->notice_header != NULL, "notice header named");
	check(d->mode != POLICY_NONE || !d->notice, "no notice in mode none");
	for (i = 0; i < d->n_parties; i++)
		check(d->parties[i].address != NULL && d->parties[i].rule != NULL,
		      "every party has an address and a rule");
	for (i = 0; i < d->n_roles; i++) {
		check(d->roles[i] != NULL, "role names");
		if (i > 0)
			check(strcmp(d->roles[i - 1], d->roles[i]) < 0,
			      "roles sorted, no duplicates");
	}
}

/* evaluate_all - every sender with a few recipient lists */
static void
evaluate_all(const policy *p)
{
	static const int64_t when[] = {
		0,			/* the epoch */
		1706662800,		/* 2024-01-31 01:00 UTC: month ends */
		4107542399,		/* 2100-02-28 23:59:59: no leap day */
	};
	policy_decision d;
	mk_error err;
	size_t s, n;

	for (s = 0; s < N_SENDERS; s++) {
		/* no recipients, one, a few, all */
		static const size_t counts[] = { 0, 1, 5, N_RECIPIENTS };

		for (n = 0; n < sizeof(counts) / sizeof(counts[0]); n++) {
			size_t k = counts[n];
			/* a window of k recipients that moves with the sender */
			const char *const *rcpts = recipients + s % (N_RECIPIENTS - k + 1);

			err.msg[0] = '\0';
			check(policy_evaluate(p, senders[s], rcpts, k,
					      when[(s + n) % 3], &d, &err) == 0,
			      "evaluate succeeds");
			check_decision(&d, k);
			policy_decision_free(&d);
		}
	}
}

/* roles_all - policy_roles_of for a few users and groups */
static void
roles_all(const policy *p)
{
	static const char *const groups[] = { "legal-team", "compliance", "" };
	const char **roles;
	size_t n;

	n = policy_roles_of(p, "alice", groups, 3, &roles);
	check(n == 0 || roles != NULL, "roles array");
	free(roles);
	n = policy_roles_of(p, "", NULL, 0, &roles);
	check(n == 0 || roles != NULL, "roles array");
	free(roles);
}

/* LLVMFuzzerTestOneInput - one input: parse, and use what parsed */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mk_error err;
	policy *p;
	char *text;
	FILE *fp;

	if (size == 0)
		return 0;	/* fmemopen() refuses an empty buffer */
	if ((fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	err.msg[0] = '\0';
	p = policy_load_stream(fp, "fuzz.policy", &err);
	fclose(fp);
	if (p == NULL) {
		check(strncmp(err.msg, "fuzz.policy", 11) == 0,
		      "a refusal names the file");
		return 0;
	}
	evaluate_all(p);
	roles_all(p);
	text = policy_describe(p);
	check(text != NULL, "describe returns text");
	free(text);
	policy_free(p);
	return 0;
}
