/*
 * check.h - the start-up checks of mailkeep's daemons, without starting.
 *
 * NAME
 *	mk_check_setup - what mailkeep-milter -n, mailkeep-access -n and
 *	mailkeep config check look at
 *
 * DESCRIPTION
 *	The convention of the field (postfix check, opendkim -n, sshd -t,
 *	nginx -t): read mailkeep.conf and the policy it names exactly as a
 *	start would, and check what a start needs, reporting every problem
 *	found, not only the first:
 *
 *	  - every line of mailkeep.conf that is wrong (FILE:LINE: why);
 *	  - user names an account, pidfile's directory exists;
 *	  - the milter's socket (MK_CHECK_MILTER; socket, or -p): its host
 *	    resolves or its directory exists, and it can be bound now (it is
 *	    released at once; a Unix socket file is removed again);
 *	  - the access service's socket (MK_CHECK_ACCESS): its directory
 *	    exists and it can be bound;
 *	  - the archive opens (its format, keys and index), and the daemon's
 *	    account (user; else whoever runs the check) can write what a
 *	    writer writes and read the keys: checked in a child process
 *	    that took that account (as root; otherwise as oneself, and said);
 *	  - the policy loads.
 *
 *	Nothing is started, nothing in the archive is changed.
 *
 * DIAGNOSTICS
 *	Each problem goes to the caller's fn as one line (with FILE:LINE
 *	where a line is to blame).  Nothing prints.
 */
#ifndef MAILKEEP_CHECK_H
#define MAILKEEP_CHECK_H

enum {
	MK_CHECK_MILTER = 1 << 0,	/* mailkeep-milter's socket */
	MK_CHECK_ACCESS = 1 << 1	/* mailkeep-access's socket */
};

/* One problem found, as a line. */
typedef void (*mk_check_fn)(void *ctx, const char *problem);

/* mk_check_setup - check the configuration at path for the daemons in
 * what (MK_CHECK_*); socket: a command line's socket in place of the
 * file's, or NULL (the milter's spec of -p; with MK_CHECK_ACCESS alone,
 * the path of mailkeep-access -s);
 * the number of problems (0: a start would find nothing wrong) */
int mk_check_setup(const char *path, unsigned what, const char *socket,
		   mk_check_fn fn, void *ctx);

#endif /* MAILKEEP_CHECK_H */
