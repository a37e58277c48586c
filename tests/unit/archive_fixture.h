/*
 * archive_fixture.h - the fixture of the unit tests that need an archive:
 * a new one in a temporary directory before each test, removed after.
 */
#ifndef MAILKEEP_ARCHIVE_FIXTURE_H
#define MAILKEEP_ARCHIVE_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "archive/archive.h"

static char dir[64];		/* the archive of the running test */

/* setup - a new archive in /tmp */
static void
setup(void)
{
	mk_error err;

	snprintf(dir, sizeof(dir), "/tmp/mk-archive-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(archive_create(dir, &err) == 0, "%s", err.msg);
}

/* teardown - remove it */
static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#endif /* MAILKEEP_ARCHIVE_FIXTURE_H */
