/* fuzz_rollout_plan.c - libFuzzer harness for the formats of local batch
 * rollouts (klusterlet/rollout_plan.h): a Rollout's spec, which comes from
 * the hub inside a work, and the rollout state, which the klusterlet reads
 * back from a ConfigMap in the spoke that anyone with access could have
 * edited.
 *
 * The input is JSON text (or, when it is not JSON, a duration string):
 *  - as a Rollout spec (the input, or its "spec" member): parsed or refused
 *    with -EINVAL; a parsed plan's batches, for several target sizes, are
 *    resolved or refused with -EINVAL, and resolved batches are
 *    non-decreasing, end at the target size and number 1..100; failure
 *    thresholds never exceed the upgraded replicas;
 *  - as a state: decoded or refused with -EINVAL; a decoded state encodes
 *    and decodes back to the same bytes;
 *  - sources are split without going negative or above their start.
 * Any violation aborts.
 *
 * Registered in tests/klusterlet/meson.build (it links the work engine's
 * library, which the shared table in tests/fuzz/meson.build does not).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rollout_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (256u << 10)

static void die(const char *what)
{
	fprintf(stderr, "fuzz_rollout_plan: %s\n", what);
	abort();
}

static void check_batches(const struct rollout_plan *p, int64_t size)
{
	int64_t cum[ROLLOUT_MAX_BATCHES];
	struct errbuf err;
	size_t n = 0, k;
	int r;

	r = rollout_plan_batches(p, size, &err, cum, &n);
	if (r == -EINVAL)
		return;
	if (r != 0)
		die("rollout_plan_batches: undocumented code");
	if (n < 1 || n > ROLLOUT_MAX_BATCHES)
		die("batch count out of range");
	for (k = 0; k < n; k++) {
		if (cum[k] < 0 || cum[k] > size)
			die("cumulative replicas out of range");
		if (k && cum[k] < cum[k - 1])
			die("batches decrease");
		if (rollout_plan_threshold(p, cum[k]) < 0 || rollout_plan_threshold(p, cum[k]) > cum[k])
			die("threshold out of range");
	}
	if (cum[n - 1] != size)
		die("the last batch does not reach the target size");
}

static void check_plan(const json_t *spec)
{
	static const int64_t sizes[] = { 1, 2, 3, 7, 10, 99, 100, 1000, ROLLOUT_MAX_REPLICAS };
	struct rollout_plan p;
	struct errbuf err;
	size_t i;
	int r;

	r = rollout_plan_parse(spec, &err, &p);
	if (r == -EINVAL)
		return;
	if (r != 0)
		die("rollout_plan_parse: undocumented code");
	if (!p.target[0] || p.nbatches > ROLLOUT_MAX_BATCHES || p.deadline_s < 1 ||
	    p.deadline_s > ROLLOUT_MAX_DEADLINE_S || p.pause_ms > ROLLOUT_MAX_PAUSE_MS)
		die("a parsed plan out of its limits");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_batches(&p, sizes[i]);
	if (p.target_size > 0)
		check_batches(&p, p.target_size);
	r = rollout_plan_batches(&p, 0, &err, (int64_t[ROLLOUT_MAX_BATCHES]){ 0 }, &i);
	if (r != -EINVAL)
		die("target size 0 accepted");
}

static void check_state(const json_t *v)
{
	struct rollout_state a, b;
	struct errbuf err;
	json_t *enc;
	int r;

	r = rollout_state_decode(v, &err, &a);
	if (r == -EINVAL)
		return;
	if (r != 0)
		die("rollout_state_decode: undocumented code");
	enc = rollout_state_encode(&a);
	memset(&b, 0x5a, sizeof(b));
	if (rollout_state_decode(enc, &err, &b) != 0)
		die("an encoded state does not decode");
	/* both were zeroed before decoding; padding and tails compare too */
	if (memcmp(&a, &b, sizeof(a)))
		die("state round trip differs");
	json_decref(enc);
}

static void check_split(const json_t *v)
{
	int64_t start[ROLLOUT_MAX_SOURCES], got[ROLLOUT_MAX_SOURCES], remove;
	size_t n = 0, k;
	json_t *e;

	if (!json_is_array(v))
		return;
	json_array_foreach(v, k, e) {
		if (n == ROLLOUT_MAX_SOURCES || !json_is_integer(e))
			break;
		start[n++] = json_integer_value(e) % 200000;
	}
	if (!n)
		return;
	remove = start[0] * 3;
	rollout_sources_split(remove, start + 1, n - 1, got);
	for (k = 0; k + 1 < n; k++) {
		int64_t have = start[k + 1] > 0 ? start[k + 1] : 0;

		if (got[k] < 0 || got[k] > have)
			die("a source split out of range");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	json_t *v;
	uint64_t ms;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!v) {
		int r = rollout_parse_duration(text, &ms);

		if (r != 0 && r != -EINVAL)
			die("rollout_parse_duration: undocumented code");
		if (r == 0 && ms > ROLLOUT_MAX_PAUSE_MS)
			die("a duration above its cap");
		free(text);
		return 0;
	}
	check_plan(v);
	if (json_object_get(v, "spec"))
		check_plan(json_object_get(v, "spec"));
	check_state(v);
	if (json_object_get(v, "state"))
		check_state(json_object_get(v, "state"));
	check_split(v);
	if (json_is_string(v) && rollout_parse_duration(json_string_value(v), &ms) == 0 && ms > ROLLOUT_MAX_PAUSE_MS)
		die("a duration above its cap");
	rollout_is_manifest(v);
	json_decref(v);
	free(text);
	return 0;
}
