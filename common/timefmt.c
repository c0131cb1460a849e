/* timefmt.c - RFC 3339 formatting and parsing; see timefmt.h.
 *
 * Calendar arithmetic is done here with the proleptic Gregorian "days from
 * civil" formulas rather than through gmtime_r/timegm, so it is the same on
 * every libc, needs no time zone state and is safe for any int64 input.
 * Formatting clamps to years 0000..9999 (all RFC 3339 can express); parsing
 * accepts exactly that range. Pure functions, callable from any thread.
 */
#include "timefmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define US_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)
/* Longest fraction accepted when parsing ("any length", within reason). */
#define TIMEFMT_MAX_FRACTION 32
/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in us since the epoch. */
#define TIME_MIN_US (INT64_C(-62167219200) * US_PER_SEC)
#define TIME_MAX_US (INT64_C(253402300800) * US_PER_SEC - 1)

static int64_t timespec_us(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t time_now_us(void)
{
	return timespec_us(CLOCK_REALTIME);
}

int64_t time_mono_us(void)
{
	return timespec_us(CLOCK_MONOTONIC);
}

/* Days since 1970-01-01 of y-m-d (m 1..12). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y += *m <= 2;
}

/* Split us into calendar fields, clamped to the representable range. */
static void split_time(int64_t us, int64_t *y, unsigned *mo, unsigned *d, unsigned *h, unsigned *mi,
		       unsigned *s, unsigned *frac)
{
	int64_t secs, days, sod;

	if (us < TIME_MIN_US)
		us = TIME_MIN_US;
	if (us > TIME_MAX_US)
		us = TIME_MAX_US;
	secs = us / US_PER_SEC;
	if (us % US_PER_SEC < 0)
		secs--;
	*frac = (unsigned)(us - secs * US_PER_SEC);
	days = secs / SEC_PER_DAY;
	if (secs % SEC_PER_DAY < 0)
		days--;
	sod = secs - days * SEC_PER_DAY;
	civil_from_days(days, y, mo, d);
	*h = (unsigned)(sod / 3600);
	*mi = (unsigned)(sod / 60 % 60);
	*s = (unsigned)(sod % 60);
}

char *time_format_rfc3339(int64_t us, char *out)
{
	int64_t y;
	unsigned mo, d, h, mi, s, frac;

	split_time(us, &y, &mo, &d, &h, &mi, &s, &frac);
	snprintf(out, TIMEFMT_MAX, "%04d-%02u-%02uT%02u:%02u:%02uZ", (int)y, mo, d, h, mi, s);
	return out;
}

char *time_format_micro(int64_t us, char *out)
{
	int64_t y;
	unsigned mo, d, h, mi, s, frac;

	split_time(us, &y, &mo, &d, &h, &mi, &s, &frac);
	snprintf(out, TIMEFMT_MAX, "%04d-%02u-%02uT%02u:%02u:%02u.%06uZ", (int)y, mo, d, h, mi, s, frac);
	return out;
}

/* Read exactly n digits at *p; advances *p. */
static bool read_digits(const char **p, int n, unsigned *ret)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (unsigned)(c - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

int time_parse_rfc3339(const char *s, int64_t *ret_us)
{
	const char *p = s;
	unsigned y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0;
	int sign = 0;
	int64_t secs;

	if (!s)
		return -EINVAL;
	if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
	    !read_digits(&p, 2, &d))
		return -EINVAL;
	if (*p != 'T' && *p != 't')
		return -EINVAL;
	p++;
	if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi) || *p++ != ':' ||
	    !read_digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		int n = 0;

		p++;
		while (*p >= '0' && *p <= '9') {
			if (n >= TIMEFMT_MAX_FRACTION)
				return -EINVAL;
			/* Microsecond precision: later digits are truncated. */
			if (n < 6)
				frac = frac * 10 + (unsigned)(*p - '0');
			n++;
			p++;
		}
		if (n == 0)
			return -EINVAL;
		for (; n < 6; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (!read_digits(&p, 2, &oh) || *p++ != ':' || !read_digits(&p, 2, &om))
			return -EINVAL;
		if (oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	/* Leap seconds (:60) are refused, as Go's time.Parse does. */
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	secs = days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 + sec;
	secs -= sign * (int64_t)(oh * 3600 + om * 60);
	*ret_us = secs * US_PER_SEC + frac;
	return 0;
}
