/*
 * milter.h - what the files of mailkeep-milter share.
 *
 *	main.c		options, configuration, privileges, signals, start and
 *			stop; owns the daemon state below
 *	callbacks.c	the libmilter callbacks: one context per connection,
 *			the message streamed into the archive's spool, stored
 *			at end of message before the MTA hears "accept"
 *
 * The daemon state is read by every callback thread under a read lock and
 * changed (SIGHUP reload, shutdown) under the write lock, so a reload or
 * a shutdown never pulls the policy or the archive from under a message
 * being stored.
 */
#ifndef MAILKEEP_MILTER_H
#define MAILKEEP_MILTER_H

#include <pthread.h>
#include <stdbool.h>
#include <syslog.h>

#include <libmilter/mfapi.h>

#include "archive/archive.h"
#include "common/mkconfig.h"
#include "ingest/ingest.h"
#include "policy/policy.h"

typedef struct daemon_state {
	pthread_rwlock_t lock;
	mk_config *cfg;		/* current configuration */
	policy *pol;		/* current policy */
	archive *ar;		/* NULL once shutting down */
} daemon_state;

extern daemon_state g_state;

/* mlog - log a line: syslog (mail facility), or stderr in the foreground */
void mlog(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* milter_register - smfi_register() mailkeep's callbacks */
int milter_register(void);

#endif /* MAILKEEP_MILTER_H */
