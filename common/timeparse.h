/*
 * timeparse.h - the one parser of the dates people type, and their
 * canonical text.
 *
 * NAME
 *	timeparse - DATE text to microseconds since the epoch, and back
 *
 * SYNOPSIS
 *	#include "common/timeparse.h"
 *
 * DESCRIPTION
 *	mailkeep(1) takes dates in three forms (its DATES section), in
 *	--since/--until and in the query language's after:/before:.  Both
 *	parse them here, so a date means the same wherever it is typed:
 *
 *	  YYYY-MM-DD                             midnight UTC of that day
 *	  YYYY-MM-DDTHH:MM:SS[.frac][Z|+-HH:MM]  RFC 3339; no offset is UTC;
 *	                                         't' or a space may stand
 *	                                         for 'T'; digits of frac past
 *	                                         the sixth are cut; second 60
 *	                                         (a leap second) is the next
 *	                                         second
 *	  @SECONDS                               seconds since the epoch,
 *	                                         may be negative
 *
 *	mk_time_format() writes a time back as RFC 3339 UTC, which
 *	mk_time_parse() reads as the same time.
 *
 * DIAGNOSTICS
 *	Both return 0, or -1 (no message: the caller knows the context and
 *	words the error).
 */
#ifndef MAILKEEP_TIMEPARSE_H
#define MAILKEEP_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes mk_time_format() needs: "YYYY-MM-DDTHH:MM:SS.ffffffZ" and NUL. */
#define MK_TIME_TEXT_MAX 28

/* mk_time_parse - a DATE in one of the forms above as microseconds since
 * the epoch; -1 when s is none of them or names no real time */
int mk_time_parse(const char *s, int64_t *usec);

/* mk_now_usec - the wall clock in microseconds since the epoch */
int64_t mk_now_usec(void);

/* A time split into its UTC calendar parts. */
typedef struct mk_time_parts {
	int64_t year;			/* proleptic Gregorian, may be < 0 */
	unsigned month, day;		/* 1-12, 1-31 */
	unsigned hour, minute, second;
	int64_t usec;			/* 0-999999 */
} mk_time_parts;

/* mk_time_split - usec since the epoch as UTC calendar parts (exact for
 * every int64) */
void mk_time_split(int64_t usec, mk_time_parts *t);

/* mk_time_format - usec as "YYYY-MM-DDTHH:MM:SSZ", with ".ffffff" before
 * the Z only when the microseconds are not zero, into buf (at least
 * MK_TIME_TEXT_MAX bytes); -1 when the year is outside 0000..9999,
 * which RFC 3339 cannot write */
int mk_time_format(int64_t usec, char *buf, size_t size);

#endif /* MAILKEEP_TIMEPARSE_H */
