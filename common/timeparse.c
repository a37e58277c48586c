/*
 * timeparse.c - the dates people type, parsed; times written back as
 * RFC 3339.  See timeparse.h.
 *
 * The calendar arithmetic is Howard Hinnant's days_from_civil and
 * civil_from_days: proleptic Gregorian, exact for every int64 day, no
 * time zone database and no struct tm (timegm() is neither C11 nor
 * POSIX, and mktime() would read TZ).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/timeparse.h"

#define USEC_PER_SEC	INT64_C(1000000)
#define SEC_PER_DAY	INT64_C(86400)

/* days_from_civil - day number of a proleptic Gregorian date (H. Hinnant) */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* civil_from_days - proleptic Gregorian date of a day number (H. Hinnant) */
static void
civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* days_in_month - 28..31 */
static unsigned
days_in_month(int64_t y, unsigned m)
{
	static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
				       30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* take_digits - exactly n decimal digits at *p into *out; -1 if not */
static int
take_digits(const char **p, int n, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* take_char - consume c at *p; -1 if something else is there */
static int
take_char(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

/* parse_fraction - ".digits" at *p as microseconds (digits past 6 cut) */
static int
parse_fraction(const char **p, int64_t *usec)
{
	int64_t scale = 100000;
	int n = 0;

	*usec = 0;
	if (**p != '.')
		return 0;
	for ((*p)++; isdigit((unsigned char)**p); (*p)++, n++) {
		*usec += (**p - '0') * scale;
		scale /= 10;
	}
	return n > 0 ? 0 : -1;
}

/* parse_offset - "", "Z" or "+HH:MM"/"-HH:MM" to the end, as seconds
 * east of UTC */
static int
parse_offset(const char *p, int64_t *east)
{
	unsigned oh, om;
	int sign;

	*east = 0;
	if (*p == '\0')
		return 0;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (take_digits(&p, 2, &oh) < 0 || take_char(&p, ':') < 0 ||
	    take_digits(&p, 2, &om) < 0 || *p != '\0' || oh > 23 || om > 59)
		return -1;
	*east = sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

/* parse_epoch - "SECONDS" (may be negative) as microseconds */
static int
parse_epoch(const char *s, int64_t *usec)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)s[0]) &&
	    !(s[0] == '-' && isdigit((unsigned char)s[1])))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT64_MAX / USEC_PER_SEC ||
	    v < INT64_MIN / USEC_PER_SEC)
		return -1;
	*usec = (int64_t)v * USEC_PER_SEC;
	return 0;
}

/* mk_time_parse - a DATE (timeparse.h) as microseconds since the epoch */
int
mk_time_parse(const char *s, int64_t *usec)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac = 0, east = 0, secs;
	const char *p = s;

	if (*p == '@')
		return parse_epoch(p + 1, usec);
	if (take_digits(&p, 4, &y) < 0 || take_char(&p, '-') < 0 ||
	    take_digits(&p, 2, &mo) < 0 || take_char(&p, '-') < 0 ||
	    take_digits(&p, 2, &d) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*p != '\0') {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -1;
		p++;
		if (take_digits(&p, 2, &h) < 0 || take_char(&p, ':') < 0 ||
		    take_digits(&p, 2, &mi) < 0 || take_char(&p, ':') < 0 ||
		    take_digits(&p, 2, &sec) < 0 ||
		    parse_fraction(&p, &frac) < 0 ||
		    parse_offset(p, &east) < 0)
			return -1;
		if (h > 23 || mi > 59 || sec > 60)	/* 60: leap second */
			return -1;
	}
	secs = days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 +
	       sec;
	*usec = (secs - east) * USEC_PER_SEC + frac;
	return 0;
}

/* floor_divmod - quotient rounded down and non-negative remainder */
static int64_t
floor_divmod(int64_t a, int64_t b, int64_t *rem)
{
	int64_t q = a / b;
	int64_t r = a % b;

	if (r < 0) {
		r += b;
		q -= 1;
	}
	*rem = r;
	return q;
}

/* mk_now_usec - the wall clock in microseconds */
int64_t
mk_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* mk_time_split - usec as a UTC calendar date and time of day */
void
mk_time_split(int64_t usec, mk_time_parts *t)
{
	int64_t secs, sod, days;

	secs = floor_divmod(usec, USEC_PER_SEC, &t->usec);
	days = floor_divmod(secs, SEC_PER_DAY, &sod);
	civil_from_days(days, &t->year, &t->month, &t->day);
	t->hour = (unsigned)(sod / 3600);
	t->minute = (unsigned)(sod / 60 % 60);
	t->second = (unsigned)(sod % 60);
}

/* mk_time_format - usec as RFC 3339 UTC, the fraction only when not 0 */
int
mk_time_format(int64_t usec, char *buf, size_t size)
{
	mk_time_parts t;
	int n;

	mk_time_split(usec, &t);
	if (t.year < 0 || t.year > 9999)
		return -1;
	n = snprintf(buf, size, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u",
		     t.year, t.month, t.day, t.hour, t.minute, t.second);
	if (n < 0 || (size_t)n >= size)
		return -1;
	if (t.usec != 0)
		n += snprintf(buf + n, size - (size_t)n, ".%06" PRId64 "Z",
			      t.usec);
	else
		n += snprintf(buf + n, size - (size_t)n, "Z");
	return (size_t)n < size ? 0 : -1;
}
