/* backoff.c - exponential backoff with jitter; see backoff.h.
 *
 * The delay before attempt n (from 0) is min(base_ms * 2^n, max_ms), computed
 * without overflow for any base, max and attempt count, then scaled by a
 * factor drawn uniformly from [1 - jitter, 1 + jitter] so that many agents
 * that lost the hub at once do not reconnect in lockstep. The factor comes
 * from a splitmix64 generator in the struct, seeded once from random_bytes():
 * jitter needs spread, not secrecy, and this keeps backoff_next() free of
 * system calls. A struct backoff belongs to one owner (one loop); there is no
 * locking.
 */
#include "backoff.h"

#include <math.h>
#include <time.h>

#include "codec.h"

/* 2^64 as a double: conversions at or above it would be undefined. */
#define TWO_POW_64 18446744073709551616.0

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void backoff_init(struct backoff *b, uint64_t base_ms, uint64_t max_ms, double jitter)
{
	uint64_t seed = 0;

	b->base_ms = base_ms;
	b->max_ms = max_ms;
	/* NaN and out-of-range values become the nearest meaningful setting. */
	if (!(jitter > 0))
		jitter = 0;
	if (jitter > 1)
		jitter = 1;
	b->jitter = jitter;
	b->attempt = 0;
	if (random_bytes(&seed, sizeof(seed)) < 0) {
		/* getrandom failing is near impossible; any distinct seed will do. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)b;
	}
	b->seed = seed;
}

/* min(base * 2^attempt, max) without overflow. */
static uint64_t backoff_raw(const struct backoff *b)
{
	uint64_t d;

	if (b->base_ms == 0)
		return 0;
	if (b->attempt >= 64 || b->base_ms > (UINT64_MAX >> b->attempt))
		return b->max_ms;
	d = b->base_ms << b->attempt;
	return d < b->max_ms ? d : b->max_ms;
}

uint64_t backoff_next(struct backoff *b)
{
	uint64_t d = backoff_raw(b);
	double j = b->jitter, u, scaled, cap;

	if (b->attempt < 64)
		b->attempt++;
	if (!(j > 0) || d == 0)
		return d;
	if (j > 1)
		j = 1;
	/* u uniform in [0, 1) from the top 53 bits. */
	u = (double)(splitmix64(&b->seed) >> 11) * (1.0 / 9007199254740992.0);
	scaled = (double)d * (1.0 - j + 2.0 * j * u);
	cap = (double)b->max_ms * (1.0 + j);
	if (scaled > cap)
		scaled = cap;
	if (scaled >= TWO_POW_64)
		return UINT64_MAX;
	if (scaled < 0)
		return 0;
	return (uint64_t)scaled;
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
