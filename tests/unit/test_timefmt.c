/* Unit tests for common/timefmt: formatting, parsing, round trips, rejects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"

/* 2026-11-27T05:11:35Z, checked with `date -u -d 2026-11-27T05:11:35Z +%s`. */
#define T0_SEC INT64_C(1795756295)
#define T0_US (T0_SEC * 1000000)

static void test_format(void **state)
{
	char buf[TIMEFMT_MAX];

	assert_string_equal(time_format_rfc3339(T0_US, buf), "2026-11-27T05:11:35Z");
	assert_string_equal(time_format_micro(T0_US, buf), "2026-11-27T05:11:35.000000Z");
	assert_string_equal(time_format_micro(T0_US + 123456, buf), "2026-11-27T05:11:35.123456Z");
	/* Seconds form truncates the fraction, never rounds up. */
	assert_string_equal(time_format_rfc3339(T0_US + 999999, buf), "2026-11-27T05:11:35Z");
	assert_string_equal(time_format_rfc3339(0, buf), "1970-01-01T00:00:00Z");
	assert_string_equal(time_format_micro(-1, buf), "1969-12-31T23:59:59.999999Z");
	assert_string_equal(time_format_rfc3339(INT64_C(951782400) * 1000000, buf), "2000-02-29T00:00:00Z");
	/* Out of range clamps instead of overflowing. */
	assert_string_equal(time_format_micro(INT64_MAX, buf), "9999-12-31T23:59:59.999999Z");
	assert_string_equal(time_format_micro(INT64_MIN, buf), "0000-01-01T00:00:00.000000Z");
}

static void test_parse_forms(void **state)
{
	int64_t us = 0;

	assert_int_equal(time_parse_rfc3339("2026-11-27T05:11:35Z", &us), 0);
	assert_true(us == T0_US);
	assert_int_equal(time_parse_rfc3339("2026-11-27T05:11:35.000000Z", &us), 0);
	assert_true(us == T0_US);
	assert_int_equal(time_parse_rfc3339("2026-11-27T05:11:35.5Z", &us), 0);
	assert_true(us == T0_US + 500000);
	/* Nanoseconds are truncated to microseconds. */
	assert_int_equal(time_parse_rfc3339("2026-11-27T05:11:35.123456789Z", &us), 0);
	assert_true(us == T0_US + 123456);
	/* Python clients: +00:00 and no fraction. */
	assert_int_equal(time_parse_rfc3339("2026-11-27T05:11:35+00:00", &us), 0);
	assert_true(us == T0_US);
	assert_int_equal(time_parse_rfc3339("2026-11-26T22:11:35-07:00", &us), 0);
	assert_true(us == T0_US);
	assert_int_equal(time_parse_rfc3339("2026-11-27T10:41:35.25+05:30", &us), 0);
	assert_true(us == T0_US + 250000);
	assert_int_equal(time_parse_rfc3339("2026-11-27t05:11:35z", &us), 0);
	assert_true(us == T0_US);
	assert_int_equal(time_parse_rfc3339("2024-02-29T00:00:00Z", &us), 0);
	assert_int_equal(time_parse_rfc3339("1969-12-31T23:59:59.999999Z", &us), 0);
	assert_true(us == -1);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"2026-11-27",
		"2026-11-27T05:11:35",        /* no zone */
		"2026-11-27 05:11:35Z",       /* space */
		"2026-11-27T05:11:35.Z",      /* empty fraction */
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-02-29T00:00:00Z",       /* not a leap year */
		"1900-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-11-27T24:00:00Z",
		"2026-11-27T05:60:00Z",
		"2026-11-27T05:11:60Z",       /* leap second */
		"2026-11-27T05:11:35+0000",
		"2026-11-27T05:11:35+24:00",
		"2026-11-27T05:11:35Zjunk",
		"2026-11-27T05:11:35+00:00 ",
		"+2026-11-27T05:11:35Z",
		"26-11-27T05:11:35Z",
		"2026-1-27T05:11:35Z",
		"2026-11-27T05:11:35.000000000000000000000000000000001Z", /* over the fraction cap */
	};
	int64_t us = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (time_parse_rfc3339(bad[i], &us) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(us == 42); /* untouched on failure */
	}
	assert_int_equal(time_parse_rfc3339(NULL, &us), -EINVAL);
}

static void test_round_trip(void **state)
{
	char buf[TIMEFMT_MAX];
	int64_t samples[] = { 0, 1, -1, T0_US + 7, INT64_C(253402300799999999), INT64_C(-62135596800000000),
			      INT64_C(4102444800123456), INT64_C(-62167219200000000) };

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		int64_t back = 0;

		time_format_micro(samples[i], buf);
		assert_int_equal(time_parse_rfc3339(buf, &back), 0);
		assert_true(back == samples[i]);
	}
	/* Every day over several 400-year cycles round-trips through the calendar. */
	for (int64_t d = -719528; d <= 2932896; d += 37) {
		int64_t us = d * 86400 * INT64_C(1000000) + 3723000001, back = 0;

		time_format_micro(us, buf);
		assert_int_equal(time_parse_rfc3339(buf, &back), 0);
		assert_true(back == us);
	}
}

static void test_clocks(void **state)
{
	int64_t a = time_mono_us(), b = time_mono_us();
	int64_t now = time_now_us();

	assert_true(b >= a);
	assert_true(a > 0);
	/* After 2020 and before 2100. */
	assert_true(now > INT64_C(1577836800) * 1000000);
	assert_true(now < INT64_C(4102444800) * 1000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
