/*
 * test_policy.c - unit tests of policy/policy.c (the built-in policy).
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/unit.h"

START_TEST(default_archives_everything_in_full)
{
	policy *p = policy_default();
	const char *rcpts[] = { "a@example.com", "b@example.org" };
	policy_decision d;

	ck_assert_ptr_nonnull(p);
	d = policy_evaluate(p, "x@example.net", rcpts, 2);
	ck_assert_int_eq(d.mode, POLICY_FULL);
	d = policy_evaluate(p, "", NULL, 0);
	ck_assert_int_eq(d.mode, POLICY_FULL);
	ck_assert_str_eq(policy_mode_name(d.mode), "full");
	policy_free(p);
}
END_TEST

START_TEST(policy_files_refused_with_path)
{
	mk_error err;

	ck_assert_ptr_null(policy_load("/etc/mailkeep/policy.conf", &err));
	ck_assert_msg(strstr(err.msg, "/etc/mailkeep/policy.conf:") == err.msg,
		      "%s", err.msg);
}
END_TEST

START_TEST(mode_names)
{
	ck_assert_str_eq(policy_mode_name(POLICY_NONE), "none");
	ck_assert_str_eq(policy_mode_name(POLICY_METADATA), "metadata");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, default_archives_everything_in_full);
	tcase_add_test(tc, policy_files_refused_with_path);
	tcase_add_test(tc, mode_names);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
