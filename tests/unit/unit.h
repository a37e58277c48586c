/*
 * unit.h - what the Check unit test programs share: running one suite.
 */
#ifndef MAILKEEP_UNIT_H
#define MAILKEEP_UNIT_H

#include <check.h>

/* run_suite - run every test of s, free it; the exit status of main() */
static inline int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

#endif /* MAILKEEP_UNIT_H */
