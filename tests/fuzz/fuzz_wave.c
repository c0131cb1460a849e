/* fuzz_wave.c - rollout strategies from outside: hub/wave.c.
 *
 * The input is a rolloutStrategy object in JSON (at most 64 KiB). It goes
 * through wave_strategy_parse; when it parses, a fixed fleet of twelve
 * clusters in four groups, with states derived from the input's bytes, goes
 * through wave_step (running, paused, aborted). Invariants (abort on
 * violation): a refusal carries a non-empty message and leaves nothing to
 * free; every release is a PENDING cluster, once; a halted, paused or
 * aborted wave releases nothing; Progressive without mandatory groups never
 * puts more than maxConcurrency clusters in flight by its release.
 * The same object also goes through app_rollout_check (an Application's
 * nave-rollout properties: the strategy plus decision groups), which must
 * refuse whatever wave_strategy_parse refuses.
 * Registered from tests/fuzz/meson.build's hub_fuzzers table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "wave.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLEET 12

static void check(const struct wave_strategy *s, const struct wave_cluster *cl, bool paused, bool aborted)
{
	struct wave_result r;
	bool seen[FLEET] = {false};
	size_t i, inflight = 0;

	if (wave_step(s, cl, FLEET, paused, aborted, 1000, &r) < 0)
		abort();
	for (i = 0; i < r.nrelease; i++) {
		if (r.release[i] >= FLEET || seen[r.release[i]] || cl[r.release[i]].state != WAVE_C_PENDING)
			abort();
		seen[r.release[i]] = true;
	}
	if (r.phase != WAVE_PROGRESSING && r.nrelease)
		abort();
	if ((paused && r.phase == WAVE_PROGRESSING) || (aborted && r.phase != WAVE_ABORTED))
		abort();
	for (i = 0; i < FLEET; i++)
		if (cl[i].state == WAVE_C_UPDATING || cl[i].state == WAVE_C_SOAKING)
			inflight++;
	if (s->type == WAVE_PROGRESSIVE && !s->nmandatory && r.nrelease &&
	    (s->max_concurrency.value || s->max_concurrency.percent) && !s->max_concurrency.percent &&
	    inflight + r.nrelease > (size_t)(s->max_concurrency.value ? s->max_concurrency.value : 1))
		abort();
	wave_result_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const gnames[] = {"canary", "eu", "us", "asia"};
	struct wave_cluster cl[FLEET];
	struct wave_strategy s;
	struct errbuf err = {""};
	json_error_t jerr;
	json_t *o;
	size_t i;

	if (size > 65536)
		return 0;
	o = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
	if (!o)
		return 0;
	if (wave_strategy_parse(o, "p", &err, &s) < 0) {
		if (!err.msg[0])
			abort();
		if (app_rollout_check(o, "p", NULL) == 0)
			abort();
		json_decref(o);
		return 0;
	}
	err.msg[0] = '\0';
	if (app_rollout_check(o, "p", &err) < 0 && !err.msg[0])
		abort();
	memset(cl, 0, sizeof(cl));
	for (i = 0; i < FLEET; i++) {
		static char names[FLEET][8];

		snprintf(names[i], sizeof(names[i]), "c%02zu", i);
		cl[i].name = names[i];
		cl[i].group = (int)(i / 3);
		cl[i].group_name = gnames[i / 3];
		cl[i].state = (enum wave_cstate)(data[i % size] % 5);
	}
	check(&s, cl, false, false);
	check(&s, cl, true, false);
	check(&s, cl, false, true);
	/* and one observation per cluster through the state machine */
	for (i = 0; i < FLEET; i++) {
		struct wave_observation ob = {.reachable = data[(i + 1) % size] & 1, .fresh = data[(i + 1) % size] & 2,
					      .available = data[(i + 1) % size] & 4, .degraded = data[(i + 1) % size] & 8};

		cl[i].released_ms = 1;
		wave_cluster_eval(&s, &cl[i], &ob, (int64_t)data[(i + 2) % size] * 100000);
		if (!ob.fresh && cl[i].state == WAVE_C_SUCCEEDED && (data[i % size] % 5) != WAVE_C_SUCCEEDED)
			abort(); /* a stale status is never done */
	}
	check(&s, cl, false, false);
	wave_strategy_clear(&s);
	json_decref(o);
	return 0;
}
