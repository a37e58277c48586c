/*
 * test_policy.c - unit tests of policy/: parsing, matching precedence,
 * direction, multi-party merge, retention arithmetic, roles, and every
 * error path of the policy file.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "tests/unit/unit.h"

static const char sample[] =
	"[defaults]\n"
	"local_domains = example.com, *.example.com, example.org, *.example.net, b\xc3\xbc" "cher.de\n"
	"mode = metadata          ; none | metadata | full\n"
	"retention = 2y\n"
	"roles = compliance\n"
	"\n"
	"[domain example.com]\n"
	"mode = full\n"
	"retention = 7y\n"
	"roles = legal, compliance\n"
	"notice = yes\n"
	"\n"
	"[domain hr.example.com]\n"
	"mode = full\n"
	"retention = 10y\n"
	"roles = hr\n"
	"\n"
	"[domain *.example.net]\n"
	"mode = none\n"
	"\n"
	"[domain *.eu.example.net]\n"
	"mode = full\n"
	"retention = 60d\n"
	"\n"
	"[domain xn--bcher-kva.de]\n"
	"retention = 18m\n"
	"\n"
	"[role legal]\n"
	"users = alice, bob\n"
	"groups = legal-team\n"
	"[role compliance]\n"
	"groups = compliance\n"
	"[role hr]\n"
	"users = carol\n";

/* parse - a policy from text, or NULL with err */
static policy *
parse(const char *text, mk_error *err)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	policy *p;

	ck_assert_ptr_nonnull(fp);
	p = policy_load_stream(fp, "test.policy", err);
	fclose(fp);
	return p;
}

/* utc - seconds since the epoch of a UTC date */
static int64_t
utc(int y, int m, int d)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };

	return (int64_t)timegm(&tm);
}

/* decide - evaluate sample for one message */
static policy_decision
decide(policy *p, const char *from, const char *const *to, size_t n)
{
	policy_decision d;
	mk_error err;

	ck_assert_int_eq(policy_evaluate(p, from, to, n, utc(2024, 1, 31) + 3600,
					 &d, &err), 0);
	return d;
}

START_TEST(exact_beats_wildcard_beats_defaults)
{
	mk_error err;
	policy *p = parse(sample, &err);
	const char *to1[] = { "x@HR.Example.COM" };
	const char *to2[] = { "x@a.b.eu.example.net" };
	const char *to3[] = { "x@foo.example.net" };
	const char *to4[] = { "x@example.org" };
	const char *to5[] = { "x@example.net" };	/* "*.example.net" is not example.net */
	policy_decision d;

	ck_assert_msg(p != NULL, "%s", err.msg);
	d = decide(p, "out@remote.test", to1, 1);
	ck_assert_str_eq(d.parties[0].rule, "domain hr.example.com");
	ck_assert_int_eq(d.mode, POLICY_FULL);
	policy_decision_free(&d);
	d = decide(p, "out@remote.test", to2, 1);	/* longest wildcard */
	ck_assert_str_eq(d.parties[0].rule, "domain *.eu.example.net");
	ck_assert_int_eq(d.mode, POLICY_FULL);
	policy_decision_free(&d);
	d = decide(p, "out@remote.test", to3, 1);
	ck_assert_str_eq(d.parties[0].rule, "domain *.example.net");
	ck_assert_int_eq(d.mode, POLICY_NONE);
	policy_decision_free(&d);
	d = decide(p, "out@remote.test", to4, 1);
	ck_assert_str_eq(d.parties[0].rule, "defaults");
	ck_assert_int_eq(d.mode, POLICY_METADATA);
	policy_decision_free(&d);
	d = decide(p, "out@remote.test", to5, 1);	/* not local at all */
	ck_assert_int_eq(d.n_parties, 0);
	ck_assert_int_eq(d.direction, POLICY_EXTERNAL);
	ck_assert_int_eq(d.mode, POLICY_METADATA);
	policy_decision_free(&d);
	policy_free(p);
}
END_TEST

START_TEST(idn_in_either_form_is_one_domain)
{
	mk_error err;
	policy *p = parse(sample, &err);
	const char *uni[] = { "x@B\xc3\x9c" "CHER.de" };
	const char *ace[] = { "x@xn--bcher-kva.de" };
	policy_decision d;

	ck_assert_msg(p != NULL, "%s", err.msg);
	d = decide(p, "a@remote.test", uni, 1);
	ck_assert_int_eq(d.n_parties, 1);
	ck_assert_str_eq(d.parties[0].rule, "domain xn--bcher-kva.de");
	policy_decision_free(&d);
	d = decide(p, "a@remote.test", ace, 1);
	ck_assert_str_eq(d.parties[0].rule, "domain xn--bcher-kva.de");
	policy_decision_free(&d);
	policy_free(p);
}
END_TEST

START_TEST(direction)
{
	mk_error err;
	policy *p = parse(sample, &err);
	const char *local[] = { "a@example.com", "b@example.org" };
	const char *mixed[] = { "a@example.com", "b@remote.test" };
	const char *remote[] = { "b@remote.test" };
	policy_decision d;

	d = decide(p, "s@example.com", local, 2);
	ck_assert_int_eq(d.direction, POLICY_INTERNAL);
	ck_assert_str_eq(policy_direction_name(d.direction), "internal");
	policy_decision_free(&d);
	d = decide(p, "s@example.com", mixed, 2);
	ck_assert_int_eq(d.direction, POLICY_OUTBOUND);
	ck_assert_int_eq(d.n_parties, 2);	/* sender + the local recipient */
	ck_assert_str_eq(d.parties[0].address, "s@example.com");
	ck_assert_str_eq(d.parties[1].address, "a@example.com");
	policy_decision_free(&d);
	d = decide(p, "s@remote.test", local, 2);
	ck_assert_int_eq(d.direction, POLICY_INBOUND);
	policy_decision_free(&d);
	d = decide(p, "s@remote.test", remote, 1);
	ck_assert_int_eq(d.direction, POLICY_EXTERNAL);
	policy_decision_free(&d);
	d = decide(p, "", remote, 1);	/* null sender (bounce) */
	ck_assert_int_eq(d.direction, POLICY_EXTERNAL);
	policy_decision_free(&d);
	policy_free(p);
}
END_TEST

START_TEST(multi_party_merge)
{
	mk_error err;
	policy *p = parse(sample, &err);
	const char *to[] = { "x@foo.example.net", "y@example.org", "z@hr.example.com",
			     "w@example.com", "v@remote.test" };
	policy_decision d;

	d = decide(p, "s@foo.example.net", to, 5);
	ck_assert_int_eq(d.mode, POLICY_FULL);		/* strongest */
	ck_assert_int_eq(d.retain_until, utc(2034, 2, 1));	/* 10y, longest */
	ck_assert_int_eq(d.n_roles, 3);			/* union, sorted */
	ck_assert_str_eq(d.roles[0], "compliance");
	ck_assert_str_eq(d.roles[1], "hr");
	ck_assert_str_eq(d.roles[2], "legal");
	ck_assert_int_eq(d.n_parties, 5);		/* sender + 4 local */
	ck_assert(d.notice);				/* example.com says yes */
	ck_assert_str_eq(d.notice_header, "X-Archived");
	policy_decision_free(&d);
	policy_free(p);
}
END_TEST

START_TEST(none_everywhere_means_nothing_and_no_notice)
{
	mk_error err;
	policy *p = parse("[defaults]\nmode = none\nnotice = yes\nlocal_domains = a.test\n", &err);
	const char *to[] = { "x@a.test" };
	policy_decision d;

	ck_assert_msg(p != NULL, "%s", err.msg);
	d = decide(p, "s@b.test", to, 1);
	ck_assert_int_eq(d.mode, POLICY_NONE);
	ck_assert(!d.notice);
	ck_assert_int_eq(d.retain_until, 0);
	policy_decision_free(&d);
	policy_free(p);
}
END_TEST

START_TEST(retention_arithmetic)
{
	policy_retention r;

	ck_assert_int_eq(policy_parse_retention("60d", &r), 0);
	ck_assert_int_eq(policy_retention_until(utc(2024, 1, 1), r), utc(2024, 3, 2));
	ck_assert_int_eq(policy_parse_retention("90", &r), 0);
	ck_assert_int_eq(r.unit, 'd');
	ck_assert_int_eq(r.count, 90);
	/* month ends: 31 Jan + 1m is kept through 29 Feb 2024 (leap year) */
	ck_assert_int_eq(policy_parse_retention("1m", &r), 0);
	ck_assert_int_eq(policy_retention_until(utc(2024, 1, 31) + 7200, r), utc(2024, 3, 1));
	ck_assert_int_eq(policy_retention_until(utc(2023, 1, 31), r), utc(2023, 3, 1));
	ck_assert_int_eq(policy_retention_until(utc(2023, 1, 30), r), utc(2023, 3, 1));
	ck_assert_int_eq(policy_retention_until(utc(2023, 3, 31), r), utc(2023, 5, 1));
	ck_assert_int_eq(policy_parse_retention("18m", &r), 0);
	ck_assert_int_eq(policy_retention_until(utc(2023, 8, 31), r), utc(2025, 3, 1));
	/* leap day + 1y ends 28 Feb; + 4y ends 29 Feb */
	ck_assert_int_eq(policy_parse_retention("1y", &r), 0);
	ck_assert_int_eq(policy_retention_until(utc(2024, 2, 29), r), utc(2025, 3, 1));
	ck_assert_int_eq(policy_parse_retention("4y", &r), 0);
	ck_assert_int_eq(policy_retention_until(utc(2024, 2, 29), r), utc(2028, 3, 1));
	ck_assert_int_eq(policy_parse_retention("7y", &r), 0);
	ck_assert_int_eq(policy_retention_until(utc(2026, 11, 24) + 3600, r), utc(2033, 11, 25));
	ck_assert_int_eq(policy_parse_retention("forever", &r), 0);
	ck_assert_int_eq(policy_retention_until(utc(2026, 1, 1), r), 0);
	ck_assert_int_eq(policy_parse_retention("7x", &r), -1);
	ck_assert_int_eq(policy_parse_retention("0d", &r), -1);
	ck_assert_int_eq(policy_parse_retention("-3d", &r), -1);
	ck_assert_int_eq(policy_parse_retention("y", &r), -1);
	ck_assert_int_eq(policy_parse_retention("12dd", &r), -1);
	ck_assert_int_eq(policy_parse_retention("99999999999y", &r), -1);
}
END_TEST

START_TEST(roles_of_users_and_groups)
{
	mk_error err;
	policy *p = parse(sample, &err);
	const char *groups[] = { "staff", "compliance" };
	const char **roles;
	size_t n;

	n = policy_roles_of(p, "alice", NULL, 0, &roles);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(roles[0], "legal");
	free(roles);
	n = policy_roles_of(p, "dave", groups, 2, &roles);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(roles[0], "compliance");
	free(roles);
	n = policy_roles_of(p, "nobody", NULL, 0, &roles);
	ck_assert_int_eq(n, 0);
	free(roles);
	policy_free(p);
}
END_TEST

START_TEST(default_archives_everything_in_full)
{
	policy *p = policy_default();
	const char *rcpts[] = { "a@example.com", "b@example.org" };
	policy_decision d;
	mk_error err;
	char *text;

	ck_assert_int_eq(policy_evaluate(p, "x@example.net", rcpts, 2, 0, &d, &err), 0);
	ck_assert_int_eq(d.mode, POLICY_FULL);
	ck_assert_int_eq(d.retain_until, 0);
	ck_assert_int_eq(d.n_roles, 0);
	policy_decision_free(&d);
	text = policy_describe(p);
	ck_assert_ptr_nonnull(strstr(text, "[defaults]\n  mode = full\n  retention = forever"));
	free(text);
	policy_free(p);
}
END_TEST

START_TEST(describe_shows_effective_values)
{
	mk_error err;
	policy *p = parse(sample, &err);
	char *text = policy_describe(p);

	ck_assert_ptr_nonnull(strstr(text, "local_domains = example.com, example.org,"
					   " xn--bcher-kva.de, *.example.com, *.example.net\n"));
	ck_assert_ptr_nonnull(strstr(text, "[domain *.example.net]\n  mode = none\n"
					   "  retention = 2y\n  roles = compliance\n"));
	ck_assert_ptr_nonnull(strstr(text, "xn--bcher-kva.de"));
	ck_assert_ptr_null(strstr(text, "never applies"));
	ck_assert_ptr_nonnull(strstr(text, "[role legal]\n  users = alice, bob\n"
					   "  groups = legal-team\n"));
	free(text);
	policy_free(p);
}
END_TEST

/* expect_error - parsing text fails with "test.policy:" + want */
static void
expect_error(const char *text, const char *want)
{
	mk_error err = { { 0 } };
	char full[600];

	ck_assert_ptr_null(parse(text, &err));
	snprintf(full, sizeof(full), "test.policy:%s", want);
	ck_assert_msg(strstr(err.msg, full) != NULL, "error \"%s\" lacks \"%s\"",
		      err.msg, full);
}

START_TEST(every_error_names_file_line_problem)
{
	expect_error("", "1: no [defaults] section");
	expect_error("; only a comment\n\n", "1: no [defaults] section");
	expect_error("[defaults]\nmode = full\nmodes = full\n", "3: unknown key \"modes\" in [defaults]");
	expect_error("[defaults]\nmode = full\nretention = 7x\n", "3: bad retention \"7x\"");
	expect_error("[defaults]\nmode = everything\n", "2: mode must be none, metadata or full");
	expect_error("[defaults]\nmode = full\n[defaults]\nmode = none\n", "3: [defaults] already given at line 1");
	expect_error("[defaults]\nmode = full\n[domain a.test]\n[domain a.test]\n",
		     "4: domain a.test already has a section at line 3");
	expect_error("[defaults]\nmode = full\n[domain A.Test.]\nmode = none\n\n[domain a.test]\n",
		     "6: domain a.test already has a section at line 3");
	expect_error("[defaults]\nmode = full\n[domain b\xc3\xbc" "cher.de]\n[domain xn--bcher-kva.de]\n",
		     "4: domain xn--bcher-kva.de already has a section at line 3");
	expect_error("[defaults]\nmode = full\n[domain a.test]\nroles = legal\n", "4: role \"legal\" is not defined");
	expect_error("[defaults]\nmode = full\n[role x]\nusers = a\n[role x]\n", "5: role x already has a section at line 3");
	expect_error("[defaults]\nmode = full\n[rule x]\n", "3: unknown section [rule x]");
	expect_error("mode = full\n[defaults]\n", "1: \"mode\" stands before any section");
	expect_error("[defaults]\nretention = 1y\n", "1: [defaults] needs a mode");
	expect_error("[defaults]\nmode = full\nlocal_domains = a.test, bad..name\n",
		     "3: local_domains: \"bad..name\" is not a domain name");
	expect_error("[defaults]\nmode = full\n[domain *]\n", "3: [domain *]: not a domain name");
	expect_error("[defaults]\nmode = full\nnotice = perhaps\n", "3: notice must be yes or no");
	expect_error("[defaults]\nmode = full\nnotice_header = X-A: b\n", "3: notice_header must be a header name");
	expect_error("[defaults]\nmode = full\n[role legal]\nmembers = a\n", "4: unknown key \"members\" in [role legal]");
	expect_error("[defaults]\nmode = full\n[domain a.test]\nlocal_domains = b.test\n",
		     "4: unknown key \"local_domains\" in [domain a.test]");
	expect_error("[defaults]\nmode = full\nno equals sign here\n", "3: syntax error");
	expect_error("[defaults]\nmode = full\nfour_eyes = maybe\n", "3: four_eyes must be yes or no");
	expect_error("[defaults]\nmode = full\nfour_eyes_hours = 0\n", "3: four_eyes_hours must be a number");
	expect_error("[defaults]\nmode = full\nfour_eyes_hours = 9000\n", "3: four_eyes_hours must be a number");
	expect_error("[defaults]\nmode = full\nfour_eyes_hours = 2h\n", "3: four_eyes_hours must be a number");
	expect_error("[defaults]\nmode = full\nfour_eyes_later = yes\n", "3: unknown key \"four_eyes_later\"");
	expect_error("[defaults]\nmode = full\nroles = admin\n[role admin]\nusers = root\n",
		     "3: role \"admin\" is built in and gives no content");
	expect_error("[defaults]\nmode = full\n[domain a.test]\nroles = auditor\n",
		     "4: role \"auditor\" is built in");
}
END_TEST

START_TEST(four_eyes_from_the_parties_domains)
{
	const char *hr[] = { "x@remote.test", "boss@hr.test" };
	const char *plain[] = { "x@remote.test", "a@a.test" };
	const char *both[] = { "z@slow.test", "boss@hr.test" };
	policy_four_eyes_rule fe;
	mk_error err;
	policy *p = parse("[defaults]\nmode = full\nlocal_domains = a.test, hr.test, slow.test\n"
			  "[domain hr.test]\nfour_eyes = yes\nfour_eyes_hours = 0.5\n"
			  "[domain slow.test]\nfour_eyes = yes\nfour_eyes_metadata = yes\n"
			  "[role admin]\nusers = root\n", &err);

	ck_assert_msg(p != NULL, "%s", err.msg);
	policy_four_eyes(p, hr, 2, &fe);
	ck_assert(fe.content && !fe.metadata);
	ck_assert_int_eq(fe.seconds, 1800);
	policy_four_eyes(p, plain, 2, &fe);
	ck_assert(!fe.content && !fe.metadata);
	policy_four_eyes(p, both, 2, &fe);	/* strongest, shortest */
	ck_assert(fe.content && fe.metadata);
	ck_assert_int_eq(fe.seconds, 1800);
	policy_four_eyes(p, both, 1, &fe);	/* the default is 24 hours */
	ck_assert_int_eq(fe.seconds, 24 * 3600);
	ck_assert(policy_role_is_builtin("admin") && policy_role_is_builtin("auditor"));
	ck_assert(!policy_role_is_builtin("legal"));
	policy_free(p);
}
END_TEST

START_TEST(invalid_utf8_domain_is_no_domain)
{
	/* GLib's g_hostname_to_ascii() reads past its buffer on bad UTF-8
	 * (fuzz_policy under ASan found it): such a name is no domain, in
	 * a policy file and in an envelope address alike */
	const char *bad_file = "[defaults]\nmode = full\n"
		"local_domains = e.c+\xf3\xf3\xf3\xf3\xf3\xf3\xf3\xf3\n";
	const char *to[] = { "x@\xf3\xf3\xf3.example", "y@example.com" };
	policy_decision d;
	mk_error err;
	policy *p;

	ck_assert_ptr_null(policy_canonical_domain("e.c+\xf3\xf3\xf3\xf3"));
	ck_assert_ptr_null(policy_canonical_domain("\xc3"));
	ck_assert_ptr_null(parse(bad_file, &err));
	ck_assert_msg(strstr(err.msg, "test.policy:3:") != NULL, "%s", err.msg);
	ck_assert_msg((p = parse(sample, &err)) != NULL, "%s", err.msg);
	ck_assert_int_eq(policy_evaluate(p, "s@\xf3\xf3remote.test", to, 2, 0, &d,
					 &err), 0);
	ck_assert_int_eq(d.n_parties, 1);	/* y@example.com only */
	policy_decision_free(&d);
	policy_free(p);
}
END_TEST

START_TEST(long_lines_and_nul_bytes)
{
	char *text = malloc(90000), *o = text;
	const char *to[] = { "x@example.com", "y@d199.example.org" };
	policy_decision d;
	mk_error err;
	policy *p;
	FILE *fp;
	int i;

	/* a comment longer than inih's default line buffer must not hide the
	 * section header after it, nor shift line numbers */
	o += sprintf(o, "[defaults]\nmode = metadata\nlocal_domains = example.com");
	for (i = 0; i < 200; i++)
		o += sprintf(o, ", d%d.example.org", i);
	o += sprintf(o, "\n[domain example.com]\nmode = full\n; ");
	for (i = 0; i < 400; i++)
		*o++ = 'x';
	o += sprintf(o, "\n[domain secret.example]\nmode = none\n");
	p = parse(text, &err);
	ck_assert_msg(p != NULL, "%s", err.msg);
	ck_assert_int_eq(policy_evaluate(p, "s@remote.test", to, 2, 0, &d, &err), 0);
	ck_assert_int_eq(d.n_parties, 2);
	ck_assert_str_eq(d.parties[0].rule, "domain example.com");
	ck_assert_int_eq(d.mode, POLICY_FULL);
	policy_decision_free(&d);
	policy_free(p);
	strcpy(o, "bogus = 1\n");
	ck_assert_ptr_null(parse(text, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "test.policy:9: unknown key \"bogus\""));
	/* a NUL byte: refused, with its line */
	fp = fmemopen("[defaults]\nmode = full\nroles =\0 x\n", 34, "r");
	ck_assert_ptr_null(policy_load_stream(fp, "nul.policy", &err));
	fclose(fp);
	ck_assert_msg(strstr(err.msg, "nul.policy:3: NUL byte") != NULL, "%s", err.msg);
	/* a line over the limit: refused, not cut */
	o = text;
	o += sprintf(o, "[defaults]\nmode = full\nlocal_domains = ");
	memset(o, 'a', 70000);
	strcpy(o + 70000, ".test\n");
	ck_assert_ptr_null(parse(text, &err));
	ck_assert_msg(strstr(err.msg, "test.policy:3: line longer than 65536 bytes") != NULL,
		      "%s", err.msg);
	free(text);
}
END_TEST

START_TEST(unreadable_file)
{
	mk_error err;

	ck_assert_ptr_null(policy_load("/nonexistent/policy.conf", &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/policy.conf: cannot read"));
}
END_TEST

START_TEST(ten_thousand_domains_hashed)
{
	char *text = malloc(10000 * 64 + 128), *o = text;
	const char *to[] = { "x@d9999.example.com", "y@sub.w5000.example.org" };
	policy_decision d;
	mk_error err;
	policy *p;
	int i;

	o += sprintf(o, "[defaults]\nmode = metadata\nlocal_domains = *.example.com, *.example.org\n");
	for (i = 0; i < 10000; i++)
		o += sprintf(o, "[domain d%d.example.com]\nmode = full\n", i);
	o += sprintf(o, "[domain *.w5000.example.org]\nretention = 30d\n");
	p = parse(text, &err);
	ck_assert_msg(p != NULL, "%s", err.msg);
	ck_assert_int_eq(policy_evaluate(p, "s@remote.test", to, 2, 0, &d, &err), 0);
	ck_assert_str_eq(d.parties[0].rule, "domain d9999.example.com");
	ck_assert_str_eq(d.parties[1].rule, "domain *.w5000.example.org");
	policy_decision_free(&d);
	policy_free(p);
	free(text);
	p = parse("[defaults]\nmode = full\nlocal_domains = a.test\n[domain b.test]\nmode = none\n", &err);
	text = policy_describe(p);
	ck_assert_ptr_nonnull(strstr(text, "[domain b.test]\n  mode = none\n  retention = forever\n"
					   "  roles =\n  notice = no\n  four_eyes = no\n"
					   "  ; warning: not within local_domains"));
	free(text);
	policy_free(p);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, exact_beats_wildcard_beats_defaults);
	tcase_add_test(tc, idn_in_either_form_is_one_domain);
	tcase_add_test(tc, direction);
	tcase_add_test(tc, multi_party_merge);
	tcase_add_test(tc, none_everywhere_means_nothing_and_no_notice);
	tcase_add_test(tc, retention_arithmetic);
	tcase_add_test(tc, roles_of_users_and_groups);
	tcase_add_test(tc, default_archives_everything_in_full);
	tcase_add_test(tc, describe_shows_effective_values);
	tcase_add_test(tc, every_error_names_file_line_problem);
	tcase_add_test(tc, four_eyes_from_the_parties_domains);
	tcase_add_test(tc, unreadable_file);
	tcase_add_test(tc, long_lines_and_nul_bytes);
	tcase_add_test(tc, invalid_utf8_domain_is_no_domain);
	tcase_add_test(tc, ten_thousand_domains_hashed);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
