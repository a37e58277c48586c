/*
 * fromline.c - the "From " line of an mbox: sender and asctime date.
 *
 * NAME
 *	fromline - is a line an mbox separator, and what does it say?
 *
 * DESCRIPTION
 *	"From SENDER DATE", DATE as asctime(3) writes it, with the
 *	variations real writers produce: the day zero- or space-padded,
 *	seconds left out, a zone ("+0000" as Google Takeout writes, or
 *	"PST") before or after the year, anything after a blank (UUCP's
 *	"remote from HOST").  SENDER may be missing, or a quoted string.
 *	The weekday is checked for spelling, not against the date.  A
 *	numeric zone before the year is applied; any other zone is ignored
 *	and the time read as UTC.  import.h states the whole separator rule.
 *
 *	No allocation but the sender's copy, no locale, no libc time zone:
 *	this runs on every line of an mbox that starts with "From ".
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import/import.h"

/* A cursor over the bytes of one line. */
typedef struct cur {
	const char *p, *end;
} cur;

/* blanks - skip spaces and tabs; how many */
static size_t
blanks(cur *c)
{
	size_t n = 0;

	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++, n++;
	return n;
}

/* digits - up to max digits as a number into *v; how many were read */
static int
digits(cur *c, int max, int *v)
{
	int n = 0;

	*v = 0;
	while (n < max && c->p < c->end && isdigit((unsigned char)*c->p)) {
		*v = *v * 10 + (*c->p++ - '0');
		n++;
	}
	return n;
}

/* word3 - the index in names (3 letters each) of the next word, or -1 */
static int
word3(cur *c, const char *const *names, int n)
{
	int i;

	if (c->end - c->p < 3)
		return -1;
	for (i = 0; i < n; i++)
		if (strncasecmp(c->p, names[i], 3) == 0) {
			c->p += 3;
			return i;
		}
	return -1;
}

/* zone - a zone at the cursor: "+hhmm" as seconds east into *east, or
 * 1-5 letters (ignored); false when there is none */
static bool
zone(cur *c, int *east)
{
	const char *start = c->p;
	int v, sign;

	*east = 0;
	if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
		sign = *c->p++ == '-' ? -1 : 1;
		if (digits(c, 4, &v) != 4 || v % 100 > 59) {
			c->p = start;
			return false;
		}
		*east = sign * ((v / 100) * 3600 + (v % 100) * 60);
		return true;
	}
	while (c->p < c->end && isalpha((unsigned char)*c->p)
	       && c->p - start < 5)
		c->p++;
	if (c->p == start || (c->p < c->end && *c->p != ' ' && *c->p != '\t')) {
		c->p = start;
		return false;
	}
	return true;
}

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* clock_time - "hh:mm[:ss]" into seconds of the day; false if not one */
static bool
clock_time(cur *c, int *secs)
{
	int h, m, s = 0;

	if (digits(c, 2, &h) < 1 || h > 23 || c->p >= c->end || *c->p++ != ':'
	    || digits(c, 2, &m) != 2 || m > 59)
		return false;
	if (c->p < c->end && *c->p == ':'
	    && (c->p++, digits(c, 2, &s) != 2 || s > 60))
		return false;
	*secs = h * 3600 + m * 60 + s;
	return true;
}

/* asctime_date - "Www Mmm dd hh:mm[:ss] [zone] yyyy [...]" at the cursor
 * into microseconds since the epoch; false if it is not one */
static bool
asctime_date(cur *c, int64_t *when)
{
	static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed",
		"Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int mon, day, secs, year, east = 0;

	if (word3(c, wdays, 7) < 0 || blanks(c) == 0
	    || (mon = word3(c, months, 12)) < 0 || blanks(c) == 0
	    || digits(c, 2, &day) < 1 || day < 1 || day > 31 || blanks(c) == 0
	    || !clock_time(c, &secs) || blanks(c) == 0)
		return false;
	if (zone(c, &east) && blanks(c) == 0)
		return false;
	if (digits(c, 4, &year) != 4 || year < 1900)
		return false;
	if (c->p < c->end && *c->p != ' ' && *c->p != '\t')
		return false;
	*when = ((days_from_civil(year, mon + 1, day) * 86400) + secs - east)
		* 1000000;
	return true;
}

/* sender_word - past the sender at the cursor: a word, or a quoted
 * string and what follows it up to a blank */
static void
sender_word(cur *c)
{
	if (c->p < c->end && *c->p == '"') {
		const char *q = memchr(c->p + 1, '"', (size_t)(c->end - c->p - 1));

		c->p = q ? q + 1 : c->end;
	}
	while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
		c->p++;
}

/* import_from_line_parse - is line a From line of the separator rule? */
bool
import_from_line_parse(const char *line, size_t len, char **sender,
		       int64_t *when)
{
	cur c = { line, line + len };
	const char *s0, *s1;
	int64_t t;

	while (c.end > c.p && (c.end[-1] == '\n' || c.end[-1] == '\r'))
		c.end--;
	if (len < 5 || memcmp(line, "From ", 5) != 0)
		return false;
	c.p += 5;
	blanks(&c);
	s0 = s1 = c.p;
	{
		cur try = c;

		if (!asctime_date(&try, &t)) {
			sender_word(&c);
			s1 = c.p;
			if (blanks(&c) == 0 || !asctime_date(&c, &t))
				return false;
		}
	}
	if (sender != NULL && (*sender = strndup(s0, (size_t)(s1 - s0))) == NULL)
		return false;
	*when = t;
	return true;
}
