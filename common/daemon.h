/*
 * daemon.h - what mailkeep's daemons do alike to hold their privileges.
 *
 * NAME
 *	daemon - privilege drop and process hardening
 *
 * DESCRIPTION
 *	mailkeep-milter and mailkeep-access start as root to bind their
 *	sockets, then become the archive's account for good.  Both hold key
 *	material in memory, so neither may leave a core dump or be traced
 *	by another process of the same user: mk_harden() makes the process
 *	non-dumpable (prctl PR_SET_DUMPABLE 0), sets RLIMIT_CORE to 0 and
 *	the umask to 077, so every file the process makes is its own.
 *
 * DIAGNOSTICS
 *	0 or -1 with the reason in err.
 */
#ifndef MAILKEEP_DAEMON_H
#define MAILKEEP_DAEMON_H

#include <pwd.h>

#include "common/error.h"

/* mk_harden - umask 077, no core dumps, not dumpable (again after any
 * change of uid, which resets it) */
int mk_harden(mk_error *err);

/* mk_drop_privileges - become pw (its groups, gid, uid) for good */
int mk_drop_privileges(const struct passwd *pw, mk_error *err);

/* mk_write_pidfile - our pid into path (NULL: none) */
int mk_write_pidfile(const char *path, mk_error *err);

#endif /* MAILKEEP_DAEMON_H */
