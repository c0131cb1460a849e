/* test_rollout.c - the plan and state formats of local batch rollouts
 * (klusterlet/rollout_plan.h): parsing and checking a Rollout's spec, the
 * batch arithmetic, durations, failure thresholds, how sources are drained,
 * and the state kept in the spoke (encode, decode, malformed states).
 *
 * Data-driven where the cases are data: every tests/data/rollout/plans/NAME.json
 * is {spec, targetSize, want[] | batchError | error} and every
 * tests/data/rollout/states/NAME.json is {state, error?}; a file that does not
 * behave as it says fails the test, naming the file.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollout_plan.h"

static char *data_path(const char *sub, const char *name)
{
	const char *root = getenv("NAVE_TEST_DATA");
	size_t n;
	char *p;

	if (!root)
		root = "tests/data";
	n = strlen(root) + strlen(sub) + strlen(name) + 16;
	p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/rollout/%s%s%s", root, sub, *name ? "/" : "", name);
	return p;
}

/* Call fn for every .json file of tests/data/rollout/<sub>; returns how many. */
static int each_fixture(const char *sub, void (*fn)(const char *name, json_t *doc))
{
	char *dir = data_path(sub, "");
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		fail_msg("cannot open %s", dir);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		json_error_t je;
		char *path;
		json_t *doc;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		path = data_path(sub, de->d_name);
		doc = json_load_file(path, 0, &je);
		if (!doc)
			fail_msg("%s: %s", path, je.text);
		fn(de->d_name, doc);
		json_decref(doc);
		free(path);
		n++;
	}
	closedir(d);
	free(dir);
	return n;
}

/* ---------------------------------------------------------------------- */
/* plans                                                                   */
/* ---------------------------------------------------------------------- */

static void check_plan(const char *name, json_t *doc)
{
	const char *want_err = json_string_value(json_object_get(doc, "error"));
	const char *want_batch_err = json_string_value(json_object_get(doc, "batchError"));
	json_t *want = json_object_get(doc, "want");
	struct rollout_plan p;
	struct errbuf err = { "" };
	int64_t cum[ROLLOUT_MAX_BATCHES];
	size_t n = 0, i;
	int r;

	r = rollout_plan_parse(json_object_get(doc, "spec"), &err, &p);
	if (want_err) {
		if (r != -EINVAL)
			fail_msg("%s: parsed, expected an error containing '%s'", name, want_err);
		if (!strstr(err.msg, want_err))
			fail_msg("%s: error '%s' does not contain '%s'", name, err.msg, want_err);
		return;
	}
	if (r < 0)
		fail_msg("%s: unexpected parse error: %s", name, err.msg);
	r = rollout_plan_batches(&p, json_integer_value(json_object_get(doc, "targetSize")), &err, cum, &n);
	if (want_batch_err) {
		if (r != -EINVAL)
			fail_msg("%s: batches resolved, expected an error containing '%s'", name, want_batch_err);
		if (!strstr(err.msg, want_batch_err))
			fail_msg("%s: error '%s' does not contain '%s'", name, err.msg, want_batch_err);
		return;
	}
	if (r < 0)
		fail_msg("%s: unexpected batch error: %s", name, err.msg);
	if (n != json_array_size(want))
		fail_msg("%s: %zu batches, expected %zu", name, n, json_array_size(want));
	for (i = 0; i < n; i++) {
		if (cum[i] != json_integer_value(json_array_get(want, i)))
			fail_msg("%s: batch %zu: %lld cumulative replicas, expected %lld", name, i, (long long)cum[i],
				 (long long)json_integer_value(json_array_get(want, i)));
		/* non-decreasing, ending at the target size */
		if (i && cum[i] < cum[i - 1])
			fail_msg("%s: batch %zu decreases", name, i);
	}
	assert_int_equal(cum[n - 1], json_integer_value(json_object_get(doc, "targetSize")));
}

static void test_plan_fixtures(void **state)
{
	(void)state;
	assert_true(each_fixture("plans", check_plan) >= 40);
}

static void test_plan_fields(void **state)
{
	json_t *spec = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:i, s:[{s:i}, {s:s}], s:i, s:b, s:s, s:s, s:i}}",
				 "componentName", "web", "sourceRevisionName", "web-v1", "targetRevisionName", "web-v2",
				 "workloadKind", "Deployment", "rolloutPlan", "rolloutStrategy", "DecreaseFirst",
				 "targetSize", 8, "rolloutBatches", "replicas", 2, "replicas", "75%", "batchPartition", 1,
				 "paused", 1, "pauseBetweenBatches", "1m30s", "failureThreshold", "20%",
				 "progressDeadlineSeconds", 45);
	struct rollout_plan p;
	struct errbuf err = { "" };

	(void)state;
	assert_int_equal(rollout_plan_parse(spec, &err, &p), 0);
	assert_string_equal(p.component, "web");
	assert_string_equal(p.source, "web-v1");
	assert_string_equal(p.target, "web-v2");
	assert_int_equal(p.kind, ROLLOUT_DEPLOYMENT);
	assert_int_equal(p.strategy, ROLLOUT_DECREASE_FIRST);
	assert_int_equal(p.target_size, 8);
	assert_int_equal(p.nbatches, 2);
	assert_true(p.batches[0].set && !p.batches[0].percent && p.batches[0].value == 2);
	assert_true(p.batches[1].set && p.batches[1].percent && p.batches[1].value == 75);
	assert_int_equal(p.batch_partition, 1);
	assert_true(p.paused);
	assert_int_equal(p.pause_ms, 90000);
	assert_true(p.failure_threshold.percent && p.failure_threshold.value == 20);
	assert_int_equal(p.deadline_s, 45);
	json_decref(spec);

	/* defaults */
	spec = json_pack("{s:s, s:{}}", "targetRevisionName", "web", "rolloutPlan");
	assert_int_equal(rollout_plan_parse(spec, &err, &p), 0);
	assert_string_equal(p.source, "");
	assert_int_equal(p.kind, ROLLOUT_DEPLOYMENT);
	assert_int_equal(p.strategy, ROLLOUT_INCREASE_FIRST);
	assert_int_equal(p.target_size, -1);
	assert_int_equal(p.num_batches, -1);
	assert_int_equal(p.batch_partition, -1);
	assert_false(p.paused);
	assert_int_equal(p.pause_ms, 0);
	assert_false(p.failure_threshold.set);
	assert_int_equal(p.deadline_s, ROLLOUT_DEFAULT_DEADLINE_S);
	json_decref(spec);
}

static void test_is_manifest(void **state)
{
	json_t *o = json_pack("{s:s, s:s}", "apiVersion", ROLLOUT_API_VERSION, "kind", "Rollout");

	(void)state;
	assert_true(rollout_is_manifest(o));
	json_object_set_new(o, "apiVersion", json_string("standard.oam.dev/v1beta1"));
	assert_false(rollout_is_manifest(o));
	json_object_set_new(o, "apiVersion", json_string(ROLLOUT_API_VERSION));
	json_object_set_new(o, "kind", json_string("Rollouts"));
	assert_false(rollout_is_manifest(o));
	json_object_del(o, "kind");
	assert_false(rollout_is_manifest(o));
	assert_false(rollout_is_manifest(NULL));
	json_decref(o);
}

/* Every even split is as even as can be: consecutive increments differ by
 * at most one, for every size and number of batches. */
static void test_even_split(void **state)
{
	struct rollout_plan p;
	struct errbuf err;
	int64_t cum[ROLLOUT_MAX_BATCHES];
	size_t n, k;
	json_t *spec;

	(void)state;
	for (int nb = 1; nb <= 12; nb++) {
		spec = json_pack("{s:s, s:{s:i}}", "targetRevisionName", "web", "rolloutPlan", "numBatches", nb);
		assert_int_equal(rollout_plan_parse(spec, &err, &p), 0);
		json_decref(spec);
		for (int64_t size = 1; size <= 40; size++) {
			int64_t lo = INT64_MAX, hi = 0;

			assert_int_equal(rollout_plan_batches(&p, size, &err, cum, &n), 0);
			assert_int_equal(n, nb);
			assert_int_equal(cum[n - 1], size);
			for (k = 0; k < n; k++) {
				int64_t inc = cum[k] - (k ? cum[k - 1] : 0);

				lo = inc < lo ? inc : lo;
				hi = inc > hi ? inc : hi;
			}
			assert_true(hi - lo <= 1);
		}
	}
}

static void test_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = { { "30s", 30000 }, { "500ms", 500 }, { "2m", 120000 }, { "1h", 3600000 },
		   { "1m30s", 90000 }, { "1h2m3s4ms", 3723004 }, { "0s", 0 }, { "24h", 86400000 } };
	static const char *const bad[] = { "", "30", "s", "1d", "-1s", "1.5s", "25h", "1000000000s", "30 s",
					   "30S", "123456789012345678901234567890123s", "1m1" };
	uint64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 7;
		assert_int_equal(rollout_parse_duration(ok[i].s, &ms), 0);
		assert_int_equal(ms, ok[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 7;
		if (rollout_parse_duration(bad[i], &ms) != -EINVAL)
			fail_msg("duration '%s' accepted", bad[i]);
		assert_int_equal(ms, 7); /* untouched on failure */
	}
	assert_int_equal(rollout_parse_duration(NULL, &ms), -EINVAL);
}

static void test_threshold(void **state)
{
	struct rollout_plan p = { 0 };

	(void)state;
	assert_int_equal(rollout_plan_threshold(&p, 10), 0);
	p.failure_threshold = (struct rollout_intstr){ .set = true, .value = 2 };
	assert_int_equal(rollout_plan_threshold(&p, 10), 2);
	assert_int_equal(rollout_plan_threshold(&p, 1), 1); /* never more than upgraded */
	assert_int_equal(rollout_plan_threshold(&p, 0), 0);
	p.failure_threshold = (struct rollout_intstr){ .set = true, .percent = true, .value = 25 };
	assert_int_equal(rollout_plan_threshold(&p, 10), 2); /* rounded down */
	assert_int_equal(rollout_plan_threshold(&p, 4), 1);
	assert_int_equal(rollout_plan_threshold(&p, 3), 0);
	p.failure_threshold.value = 100;
	assert_int_equal(rollout_plan_threshold(&p, 7), 7);
}

static void test_sources_split(void **state)
{
	const int64_t start[] = { 4, 2, 3 };
	int64_t got[3];

	(void)state;
	rollout_sources_split(0, start, 3, got);
	assert_true(got[0] == 4 && got[1] == 2 && got[2] == 3);
	/* the oldest drains first */
	rollout_sources_split(3, start, 3, got);
	assert_true(got[0] == 1 && got[1] == 2 && got[2] == 3);
	rollout_sources_split(5, start, 3, got);
	assert_true(got[0] == 0 && got[1] == 1 && got[2] == 3);
	rollout_sources_split(9, start, 3, got);
	assert_true(got[0] == 0 && got[1] == 0 && got[2] == 0);
	/* clamped */
	rollout_sources_split(100, start, 3, got);
	assert_true(got[0] == 0 && got[1] == 0 && got[2] == 0);
	rollout_sources_split(-4, start, 3, got);
	assert_true(got[0] == 4 && got[1] == 2 && got[2] == 3);
	rollout_sources_split(1, start, 0, got);
}

/* ---------------------------------------------------------------------- */
/* states                                                                  */
/* ---------------------------------------------------------------------- */

static void check_state(const char *name, json_t *doc)
{
	const char *want_err = json_string_value(json_object_get(doc, "error"));
	struct rollout_state st, st2;
	struct errbuf err = { "" };
	json_t *enc;
	int r;

	r = rollout_state_decode(json_object_get(doc, "state"), &err, &st);
	if (want_err) {
		if (r != -EINVAL)
			fail_msg("%s: decoded, expected an error containing '%s'", name, want_err);
		if (!strstr(err.msg, want_err))
			fail_msg("%s: error '%s' does not contain '%s'", name, err.msg, want_err);
		return;
	}
	if (r < 0)
		fail_msg("%s: %s", name, err.msg);
	/* a round trip gives the same state */
	enc = rollout_state_encode(&st);
	if (rollout_state_decode(enc, &err, &st2) < 0)
		fail_msg("%s: the encoded state does not decode: %s", name, err.msg);
	json_decref(enc);
	assert_memory_equal(&st, &st2, sizeof(st));
}

static void test_state_fixtures(void **state)
{
	(void)state;
	assert_true(each_fixture("states", check_state) >= 15);
}

static void test_state_round_trip(void **state)
{
	struct rollout_state st, got;
	struct errbuf err;
	json_t *enc;

	(void)state;
	memset(&st, 0, sizeof(st));
	memset(st.identity, 'f', ROLLOUT_IDENTITY_LEN);
	st.kind = ROLLOUT_DEPLOYMENT;
	snprintf(st.target, sizeof(st.target), "web-v3");
	snprintf(st.source, sizeof(st.source), "web-v2");
	st.target_size = 6;
	st.target_start = 1;
	st.nsources = 2;
	snprintf(st.sources[0].name, sizeof(st.sources[0].name), "web-v1");
	st.sources[0].start = 4;
	snprintf(st.sources[1].name, sizeof(st.sources[1].name), "web-v2");
	st.sources[1].start = 2;
	st.source_size = 6;
	st.rolling = ROLLOUT_ROLLBACK_SUCCEED;
	st.batch = ROLLOUT_BATCH_VERIFY_FAILED;
	st.current_batch = 2;
	st.batch_start_us = 1795756300123456;
	st.batch_ready_us = 1795756290000000;
	st.transition_us = 1795756301000000;
	snprintf(st.reason, sizeof(st.reason), "ProgressDeadlineExceeded");
	snprintf(st.message, sizeof(st.message), "batch 3 of 3: 1 of 6 target replicas ready");
	enc = rollout_state_encode(&st);
	assert_string_equal(json_string_value(json_object_get(enc, "rollingState")), "rollbackSucceed");
	assert_string_equal(json_string_value(json_object_get(enc, "batchRollingState")), "batchVerifyFailed");
	assert_string_equal(json_string_value(json_object_get(enc, "batchStartTime")), "2026-11-27T05:11:40.123456Z");
	assert_int_equal(rollout_state_decode(enc, &err, &got), 0);
	assert_memory_equal(&st, &got, sizeof(st));
	json_decref(enc);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(rollout_rolling_name(ROLLOUT_VERIFYING), "verifyingSpec");
	assert_string_equal(rollout_rolling_name(ROLLOUT_ROLLING), "rollingInBatches");
	assert_string_equal(rollout_rolling_name(ROLLOUT_SUCCEED), "rolloutSucceed");
	assert_string_equal(rollout_rolling_name(ROLLOUT_FAILED), "rolloutFailed");
	assert_string_equal(rollout_rolling_name((enum rollout_rolling)99), "unknown");
	assert_string_equal(rollout_batch_name(ROLLOUT_BATCH_READY), "batchReady");
	assert_string_equal(rollout_batch_name((enum rollout_batch)-1), "unknown");
	assert_string_equal(rollout_kind_name(ROLLOUT_STATEFULSET), "StatefulSet");
	assert_string_equal(rollout_strategy_name(ROLLOUT_DECREASE_FIRST), "DecreaseFirst");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_fixtures),
		cmocka_unit_test(test_plan_fields),
		cmocka_unit_test(test_is_manifest),
		cmocka_unit_test(test_even_split),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_sources_split),
		cmocka_unit_test(test_state_fixtures),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
