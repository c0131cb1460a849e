/* backoff.h - exponential backoff with jitter, for reconnects and retries.
 *
 *   struct backoff b;
 *   backoff_init(&b, 100, 30000, 0.2);   // 100 ms doubling to 30 s, +-20 %
 *   delay = backoff_next(&b);             // 100, 200, 400, ... ms, jittered
 *   backoff_reset(&b);                    // after a success
 */
#ifndef NAVE_BACKOFF_H
#define NAVE_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint64_t base_ms;
	uint64_t max_ms;
	double jitter;     /* 0..1: the delay is scaled by a factor in [1-jitter, 1+jitter] */
	unsigned attempt;  /* attempts since the last reset */
	uint64_t seed;     /* PRNG state for jitter */
};

void backoff_init(struct backoff *b, uint64_t base_ms, uint64_t max_ms, double jitter);
/* The delay before the next attempt, in ms, never above max_ms*(1+jitter). */
uint64_t backoff_next(struct backoff *b);
void backoff_reset(struct backoff *b);

#endif
