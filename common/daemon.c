/*
 * daemon.c - privilege drop and process hardening (daemon.h).
 */
#include "config.h"

#include <grp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/daemon.h"

/* mk_harden - umask 077, no core, not dumpable */
int
mk_harden(mk_error *err)
{
	struct rlimit none = { 0, 0 };

	umask(077);
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		return mk_error_errno(err, "setrlimit RLIMIT_CORE");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return mk_error_errno(err, "prctl PR_SET_DUMPABLE");
	return 0;
}

/* mk_drop_privileges - become pw for good */
int
mk_drop_privileges(const struct passwd *pw, mk_error *err)
{
	if (initgroups(pw->pw_name, pw->pw_gid) != 0
	    || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		return mk_error_errno(err, "cannot become user %s", pw->pw_name);
	if (setuid(0) == 0 && pw->pw_uid != 0)
		return mk_error_set(err, "could become root again after"
				    " dropping to %s", pw->pw_name);
	return mk_harden(err);
}

/* mk_write_pidfile - our pid into path */
int
mk_write_pidfile(const char *path, mk_error *err)
{
	FILE *fp;

	if (path == NULL)
		return 0;
	if ((fp = fopen(path, "w")) == NULL)
		return mk_error_errno(err, "cannot write %s", path);
	if (fprintf(fp, "%ld\n", (long)getpid()) < 0) {
		fclose(fp);
		return mk_error_errno(err, "cannot write %s", path);
	}
	if (fclose(fp) != 0)
		return mk_error_errno(err, "cannot write %s", path);
	return 0;
}
