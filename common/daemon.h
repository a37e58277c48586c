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
 *	Both log the same way (mk_log(): syslog's mail facility, or stderr
 *	with a time stamp in the foreground) and take SIGHUP, SIGTERM and
 *	SIGINT through a self-pipe (mk_signals_install()): the handler only
 *	writes the signal's number, the main loop reads it.
 *
 * DIAGNOSTICS
 *	0 or -1 with the reason in err.
 */
#ifndef MAILKEEP_DAEMON_H
#define MAILKEEP_DAEMON_H

#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "common/error.h"

/* mk_harden - umask 077, no core dumps, not dumpable (again after any
 * change of uid, which resets it) */
int mk_harden(mk_error *err);

/* mk_drop_privileges - become pw (its groups, gid, uid) for good */
int mk_drop_privileges(const struct passwd *pw, mk_error *err);

/* mk_write_pidfile - our pid into path (NULL: none) */
int mk_write_pidfile(const char *path, mk_error *err);

/* mk_log_open - log as name; to stderr when foreground, else syslog */
void mk_log_open(const char *name, bool foreground);

/* mk_log / mk_vlog - one line at priority */
void mk_log(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mk_vlog(int priority, const char *fmt, va_list ap);

/* mk_signals_install - handlers for SIGHUP, SIGTERM, SIGINT that write
 * the signal's number into a pipe, SIGPIPE ignored; the pipe's read end
 * (non-blocking), or -1 with err */
int mk_signals_install(mk_error *err);

#endif /* MAILKEEP_DAEMON_H */
