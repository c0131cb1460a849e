/* Unit tests for common/backoff: the doubling sequence, the cap, jitter
 * bounds and spread, reset, and overflow at extreme settings. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static void test_sequence_without_jitter(void **state)
{
	static const uint64_t want[] = { 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000 };
	struct backoff b;

	backoff_init(&b, 100, 30000, 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_next(&b), want[i]);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(backoff_next(&b), 30000);
	backoff_reset(&b);
	assert_int_equal(backoff_next(&b), 100);
	assert_int_equal(backoff_next(&b), 200);
}

static void test_jitter_bounds_and_spread(void **state)
{
	struct backoff b;
	uint64_t lo = UINT64_MAX, hi = 0;
	double sum = 0;
	const int n = 20000;

	backoff_init(&b, 1000, 1000, 0.2);
	for (int i = 0; i < n; i++) {
		uint64_t d = backoff_next(&b);

		assert_true(d >= 800 && d <= 1200);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		sum += (double)d;
	}
	/* Uniform over [800, 1200]: both ends are reached closely, the mean is central. */
	assert_true(lo < 810);
	assert_true(hi > 1190);
	assert_true(fabs(sum / n - 1000) < 10);
}

static void test_jitter_never_above_cap(void **state)
{
	struct backoff b;

	backoff_init(&b, 100, 30000, 0.2);
	for (int i = 0; i < 5000; i++)
		assert_true(backoff_next(&b) <= 36000);
	/* Two generators from init are seeded differently. */
	{
		struct backoff a, c;
		int same = 0;

		backoff_init(&a, 1000, 1000, 0.5);
		backoff_init(&c, 1000, 1000, 0.5);
		for (int i = 0; i < 100; i++)
			same += backoff_next(&a) == backoff_next(&c);
		assert_true(same < 20);
	}
}

static void test_extremes(void **state)
{
	struct backoff b;

	/* Doubling past 2^64 saturates at max instead of wrapping. */
	backoff_init(&b, UINT64_MAX / 3, UINT64_MAX, 0);
	assert_true(backoff_next(&b) == UINT64_MAX / 3);
	assert_true(backoff_next(&b) == UINT64_MAX / 3 * 2);
	for (int i = 0; i < 200; i++)
		assert_true(backoff_next(&b) == UINT64_MAX);
	/* Full jitter at the top of the range stays representable. */
	backoff_init(&b, 1, UINT64_MAX, 1.0);
	for (int i = 0; i < 200; i++)
		(void)backoff_next(&b);
	/* attempt saturates rather than wrapping back to small delays. */
	backoff_init(&b, 1, UINT64_MAX, 0);
	b.attempt = UINT32_MAX;
	assert_true(backoff_next(&b) == UINT64_MAX);
	assert_true(backoff_next(&b) == UINT64_MAX);
	backoff_init(&b, 1, 1000, 0);
	for (int i = 0; i < 70; i++)
		(void)backoff_next(&b);
	assert_int_equal(backoff_next(&b), 1000);
	/* base 0 never waits; max below base caps at max. */
	backoff_init(&b, 0, 1000, 0.5);
	assert_int_equal(backoff_next(&b), 0);
	backoff_init(&b, 500, 100, 0);
	assert_int_equal(backoff_next(&b), 100);
	/* Out-of-range jitter is clamped. */
	backoff_init(&b, 100, 100, NAN);
	assert_true(b.jitter == 0);
	assert_int_equal(backoff_next(&b), 100);
	backoff_init(&b, 100, 100, -3);
	assert_true(b.jitter == 0);
	backoff_init(&b, 100, 100, 7);
	assert_true(b.jitter == 1);
	for (int i = 0; i < 1000; i++)
		assert_true(backoff_next(&b) <= 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_without_jitter),
		cmocka_unit_test(test_jitter_bounds_and_spread),
		cmocka_unit_test(test_jitter_never_above_cap),
		cmocka_unit_test(test_extremes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
