/*
 * policy-bench.c - how long policy evaluation takes with a large policy.
 *
 * NAME
 *	policy-bench - time policy_load_stream() and policy_evaluate()
 *
 * SYNOPSIS
 *	bench/policy-bench [-s sections] [-w wildcards] [-r recipients]
 *			   [-b batches] [-e evaluations]
 *
 * DESCRIPTION
 *	Generates a policy in memory: [defaults] with local_domains
 *	example.com and *.example.com, 20 [role rK] sections, W wildcard
 *	sections [domain *.pK.example.com] and enough exact sections
 *	[domain dN.example.com] to make S domain sections in all (default
 *	10,000, of which 100 are wildcards), each with its own mode,
 *	retention and roles.  It times loading it (three loads, median),
 *	then evaluates one message from a local sender to R recipients
 *	(default 500: half in exact domains spread over all the sections,
 *	three tenths under the wildcards, a fifth in foreign domains) in
 *	B batches of E evaluations (default 5 x 1,000), each evaluation
 *	timed on its own (wall clock, and the thread's CPU time, which a
 *	busy machine does not inflate), and prints the median, p99 and
 *	mean time per evaluation and the evaluations per second.
 *
 *	The same run then does the same with a 10-section policy (2
 *	wildcards, 8 exact domains) and the same shape of message: the
 *	recipients have the same number of labels and hit exact sections,
 *	wildcards and foreign domains in the same proportions, so the two
 *	differ only in the size of the policy.  The ratio of the medians
 *	shows whether cost grows with the number of sections.
 *
 *	Figures only: it never passes or fails on time.  It exits 1 if a
 *	policy does not load or a decision is not the expected one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy.h"

#define N_ROLES		20
#define RECEIVED_AT	1706662800	/* 2024-01-31 01:00 UTC */

typedef struct bench_config {
	int sections;		/* domain sections in all */
	int wildcards;		/* of which "*.pK.example.com" */
	int recipients;
	int batches;
	int evaluations;	/* per batch */
} bench_config;

typedef struct bench_result {
	double load_ms;		/* median of three loads */
	double median_us, p99_us, mean_us, min_us, max_us;
	double cpu_median_us, cpu_p99_us;	/* this thread's CPU time */
	double per_second;
	double batch_median_us[64];
	size_t n_parties, n_roles;
	const char *mode;
} bench_result;

/* clock_ns - a clock in nanoseconds */
static double
clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* now_ns - wall time (CLOCK_MONOTONIC) in nanoseconds */
static double
now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* die - print a message and exit 1 */
static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "policy-bench: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	exit(1);
}

/* xmalloc - malloc or die */
static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		die("out of memory", NULL);
	return p;
}

/* policy_text - the generated policy as a string; free() it */
static char *
policy_text(int exact, int wildcards, size_t *len)
{
	static const char *const modes[] = { "full", "metadata", "none" };
	static const char *const retentions[] = { "7y", "60d", "18m", "2y", "10y" };
	size_t cap = 512 + (size_t)(exact + wildcards) * 128 + N_ROLES * 64;
	char *text = xmalloc(cap), *o = text;
	int i;

	o += sprintf(o, "[defaults]\n"
		     "local_domains = example.com, *.example.com\n"
		     "mode = metadata\nretention = 2y\nroles = r0\n\n");
	for (i = 0; i < N_ROLES; i++)
		o += sprintf(o, "[role r%d]\nusers = u%d\ngroups = g%d\n\n", i, i, i);
	for (i = 0; i < wildcards; i++)
		o += sprintf(o, "[domain *.p%d.example.com]\nmode = %s\n"
			     "retention = %s\nroles = r%d\n\n", i, modes[i % 3],
			     retentions[i % 5], i % N_ROLES);
	for (i = 0; i < exact; i++)
		o += sprintf(o, "[domain d%d.example.com]\nmode = %s\n"
			     "retention = %s\nroles = r%d, r%d\n\n", i,
			     modes[i % 3], retentions[i % 5], i % N_ROLES,
			     (i * 7 + 3) % N_ROLES);
	*len = (size_t)(o - text);
	if (*len >= cap)
		die("generated policy overflowed its buffer", NULL);
	return text;
}

/* load - parse text as a policy; die when it does not parse */
static policy *
load(const char *text, size_t len)
{
	FILE *fp = fmemopen((void *)text, len, "r");
	mk_error err;
	policy *p;

	if (fp == NULL)
		die("fmemopen failed", NULL);
	p = policy_load_stream(fp, "generated.policy", &err);
	fclose(fp);
	if (p == NULL)
		die("generated policy refused", err.msg);
	return p;
}

/* recipient_list - n addresses: 50 % exact sections (spread over all
 * exact), 30 % under wildcards, 20 % foreign; each has three labels
 * before "example.com" or "remote.test" so every kind costs the same
 * number of hash probes whatever the policy; free with free_list() */
static char **
recipient_list(int n, int exact, int wildcards)
{
	char **list = xmalloc((size_t)n * sizeof(*list));
	char buf[128];
	int i, k;

	for (i = 0; i < n; i++) {
		k = i % 10;
		if (k < 5)	/* exact: dN.example.com, N spread over all */
			snprintf(buf, sizeof(buf), "user%d@d%d.example.com", i,
				 (int)(((long)i * 7919) % exact));
		else if (k < 8)	/* wildcard: hostN.pK.example.com */
			snprintf(buf, sizeof(buf), "user%d@h%d.p%d.example.com",
				 i, i, i % wildcards);
		else		/* foreign */
			snprintf(buf, sizeof(buf), "user%d@h%d.r%d.remote.test",
				 i, i, i % 97);
		list[i] = strdup(buf);
		if (list[i] == NULL)
			die("out of memory", NULL);
	}
	return list;
}

/* free_list - free what recipient_list() returned */
static void
free_list(char **list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* compare_doubles - qsort order */
static int
compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* percentile - the q-th quantile (0..1) of sorted v[0..n) */
static double
percentile(const double *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

/* evaluate_once - one evaluation; returns its wall time in ns, and its
 * CPU time in *cpu_ns (time the thread ran: a busy machine that takes
 * the CPU away shows in the wall time only) */
static double
evaluate_once(const policy *p, const char *from, char **rcpts, int n,
	      policy_decision *d, double *cpu_ns)
{
	mk_error err;
	double c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns(), t1;

	if (policy_evaluate(p, from, (const char *const *)rcpts, (size_t)n,
			    RECEIVED_AT, d, &err) != 0)
		die("policy_evaluate failed", err.msg);
	t1 = now_ns();
	*cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	return t1 - t0;
}

/* run - load and evaluate one policy size; fills r */
static void
run(const bench_config *c, bench_result *r)
{
	int exact = c->sections - c->wildcards;
	size_t len, total = (size_t)c->batches * (size_t)c->evaluations, i;
	char *text = policy_text(exact, c->wildcards, &len);
	char **rcpts = recipient_list(c->recipients, exact, c->wildcards);
	double loads[3], *all = xmalloc(total * sizeof(*all)), sum = 0, t0;
	double *sorted = xmalloc((size_t)c->evaluations * sizeof(*sorted));
	double *cpu = xmalloc(total * sizeof(*cpu));
	double wall = 0;
	size_t local;
	policy_decision d;
	policy *p = NULL;
	int b, e;

	for (b = 0; b < 3; b++) {
		policy_free(p);
		t0 = now_ns();
		p = load(text, len);
		loads[b] = (now_ns() - t0) / 1e6;
	}
	qsort(loads, 3, sizeof(*loads), compare_doubles);
	r->load_ms = loads[1];

	/* what is measured is a real decision: check it once */
	evaluate_once(p, "sender@d1.example.com", rcpts, c->recipients, &d,
		      &cpu[0]);
	r->n_parties = d.n_parties;
	r->n_roles = d.n_roles;
	r->mode = policy_mode_name(d.mode);
	for (e = 0, local = 1; e < c->recipients; e++)
		local += e % 10 < 8;	/* see recipient_list() */
	if (d.direction != (local == (size_t)c->recipients + 1 ? POLICY_INTERNAL
			    : POLICY_OUTBOUND) || d.n_parties != local)
		die("unexpected decision (direction or parties)", NULL);
	policy_decision_free(&d);

	for (e = 0; e < c->evaluations / 10 + 1; e++) {	/* warm up */
		evaluate_once(p, "sender@d1.example.com", rcpts, c->recipients,
			      &d, &cpu[0]);
		policy_decision_free(&d);
	}
	for (b = 0; b < c->batches; b++) {
		double *batch = all + (size_t)b * (size_t)c->evaluations;
		double b0 = now_ns();

		for (e = 0; e < c->evaluations; e++) {
			batch[e] = evaluate_once(p, "sender@d1.example.com", rcpts,
						 c->recipients, &d,
						 &cpu[(size_t)b * (size_t)c->evaluations
						      + (size_t)e]);
			policy_decision_free(&d);
		}
		wall += now_ns() - b0;
		memcpy(sorted, batch, (size_t)c->evaluations * sizeof(*sorted));
		qsort(sorted, (size_t)c->evaluations, sizeof(*sorted), compare_doubles);
		if (b < 64)
			r->batch_median_us[b] = percentile(sorted, (size_t)c->evaluations,
							   0.5) / 1e3;
	}
	for (i = 0; i < total; i++)
		sum += all[i];
	qsort(all, total, sizeof(*all), compare_doubles);
	r->median_us = percentile(all, total, 0.5) / 1e3;
	r->p99_us = percentile(all, total, 0.99) / 1e3;
	r->min_us = all[0] / 1e3;
	r->max_us = all[total - 1] / 1e3;
	r->mean_us = sum / (double)total / 1e3;
	r->per_second = (double)total / (wall / 1e9);
	qsort(cpu, total, sizeof(*cpu), compare_doubles);
	r->cpu_median_us = percentile(cpu, total, 0.5) / 1e3;
	r->cpu_p99_us = percentile(cpu, total, 0.99) / 1e3;

	policy_free(p);
	free(sorted);
	free(cpu);
	free(all);
	free_list(rcpts, c->recipients);
	free(text);
}

/* report - print one result */
static void
report(const char *title, const bench_config *c, const bench_result *r)
{
	int b;

	printf("%s: %d domain sections (%d exact, %d wildcard), %d roles\n",
	       title, c->sections, c->sections - c->wildcards, c->wildcards,
	       N_ROLES);
	printf("  load (median of 3)      %10.2f ms\n", r->load_ms);
	printf("  decision                mode %s, %zu parties, %zu roles\n",
	       r->mode, r->n_parties, r->n_roles);
	printf("  per evaluation median   %10.1f us\n", r->median_us);
	printf("  per evaluation p99      %10.1f us\n", r->p99_us);
	printf("  per evaluation mean     %10.1f us  (min %.1f, max %.1f)\n",
	       r->mean_us, r->min_us, r->max_us);
	printf("  CPU time median         %10.1f us\n", r->cpu_median_us);
	printf("  CPU time p99            %10.1f us\n", r->cpu_p99_us);
	printf("  evaluations/s           %10.0f\n", r->per_second);
	printf("  batch medians (us)     ");
	for (b = 0; b < c->batches && b < 64; b++)
		printf(" %.1f", r->batch_median_us[b]);
	printf("\n");
}

/* usage - the synopsis, exit 2 */
static void
usage(void)
{
	fprintf(stderr, "usage: policy-bench [-s sections] [-w wildcards]"
		" [-r recipients] [-b batches] [-e evaluations]\n");
	exit(2);
}

/* main - the large policy, then the 10-section baseline, then the ratio */
int
main(int argc, char **argv)
{
	bench_config big = { 10000, 100, 500, 5, 1000 }, small;
	bench_result rb, rs;
	int opt;

	while ((opt = getopt(argc, argv, "s:w:r:b:e:")) != -1) {
		int v = atoi(optarg);

		if (v <= 0)
			usage();
		switch (opt) {
		case 's': big.sections = v; break;
		case 'w': big.wildcards = v; break;
		case 'r': big.recipients = v; break;
		case 'b': big.batches = v; break;
		case 'e': big.evaluations = v; break;
		default: usage();
		}
	}
	if (big.wildcards >= big.sections || big.batches > 64)
		usage();
	small = big;
	small.sections = 10;
	small.wildcards = 2;

	printf("policy-bench: %d recipients a message (50%% exact sections,"
	       " 30%% wildcard, 20%% foreign), local sender,\n"
	       "  %d batches x %d evaluations, each timed\n\n",
	       big.recipients, big.batches, big.evaluations);
	run(&big, &rb);
	report("large policy", &big, &rb);
	run(&small, &rs);
	report("baseline policy", &small, &rs);
	printf("\nratio large/baseline: median %.2f, p99 %.2f;"
	       " CPU time median %.2f, p99 %.2f\n",
	       rb.median_us / rs.median_us, rb.p99_us / rs.p99_us,
	       rb.cpu_median_us / rs.cpu_median_us, rb.cpu_p99_us / rs.cpu_p99_us);
	printf("per recipient (large): %.3f us; target < 1000 us a"
	       " %d-recipient evaluation: %s\n", rb.median_us / big.recipients,
	       big.recipients, rb.median_us < 1000 ? "met" : "NOT met");
	return 0;
}
