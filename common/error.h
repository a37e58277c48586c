/*
 * error.h - how mailkeep's libraries report a failure to their caller.
 *
 * Below the daemon and the command line nothing prints: a function that
 * fails fills the caller's mk_error with one line saying what went wrong
 * and returns -1 (or NULL).  Only milter/ and cli/ log or print msg.
 */
#ifndef MAILKEEP_ERROR_H
#define MAILKEEP_ERROR_H

#include <stddef.h>

#define MK_ERROR_MAX 512

typedef struct mk_error {
	char msg[MK_ERROR_MAX];
} mk_error;

/* mk_error_set - format a message into err (err may be NULL); returns -1 */
int mk_error_set(mk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* mk_error_errno - like mk_error_set, appending ": strerror(errno)" */
int mk_error_errno(mk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* MAILKEEP_ERROR_H */
