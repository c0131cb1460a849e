/* Unit tests for hub/wave.c (wave.h): the rolloutStrategy parser (good and
 * bad objects, each refusal naming its field), the per-cluster state
 * machine over observations (soak, deadline, stale status, unreachable,
 * degraded, local rollout), the work observer, and wave_step for All,
 * Progressive (maxConcurrency int and %), ProgressivePerGroup, mandatory
 * groups by name and index, maxFailures int and %, pause and abort.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wave.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static json_t *js(const char *text)
{
	json_error_t e;
	json_t *o = json_loads(text, 0, &e);

	if (!o)
		fail_msg("bad test JSON: %s: %s", e.text, text);
	return o;
}

static int parse(const char *text, struct wave_strategy *s, struct errbuf *err)
{
	json_t *o = text ? js(text) : NULL;
	int r = wave_strategy_parse(o, "p", err, s);

	json_decref(o);
	return r;
}

static void parse_ok(const char *text, struct wave_strategy *s)
{
	struct errbuf err = {""};

	if (parse(text, s, &err) < 0)
		fail_msg("refused %s: %s", text, err.msg);
}

static void parse_bad(const char *text, const char *expect)
{
	struct wave_strategy s = {0};
	struct errbuf err = {""};

	if (parse(text, &s, &err) != -EINVAL)
		fail_msg("accepted %s", text);
	if (!strstr(err.msg, expect))
		fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.msg, expect);
}

/* Clusters c0..c(n-1), group i/per, all in state st. */
static void fleet(struct wave_cluster *cl, size_t n, int per, enum wave_cstate st)
{
	static char names[64][24];
	static char gnames[64][24];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		snprintf(gnames[i], sizeof(gnames[i]), "g%zu", per ? i / (size_t)per : 0);
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].name = names[i];
		cl[i].group = per ? (int)(i / (size_t)per) : 0;
		cl[i].group_name = gnames[i];
		cl[i].state = st;
	}
}

static void step(const struct wave_strategy *s, const struct wave_cluster *cl, size_t n, bool paused, bool aborted,
		 struct wave_result *r)
{
	assert_int_equal(wave_step(s, cl, n, paused, aborted, 1000, r), 0);
}

/* "0,1,2" from the release list */
static const char *released(const struct wave_result *r)
{
	static char out[256];
	size_t i, len = 0;

	out[0] = 0;
	for (i = 0; i < r->nrelease; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%zu", i ? "," : "", r->release[i]);
	return out;
}

/* Release what wave_step says (UPDATING at now). */
static void apply(struct wave_cluster *cl, const struct wave_result *r, int64_t now)
{
	size_t i;

	for (i = 0; i < r->nrelease; i++) {
		assert_int_equal(cl[r->release[i]].state, WAVE_C_PENDING);
		cl[r->release[i]].state = WAVE_C_UPDATING;
		cl[r->release[i]].released_ms = now;
	}
}

static const struct wave_observation obs_done = {.reachable = true, .fresh = true, .available = true};

/* ------------------------------------------------------------------------ */
/* parsing                                                                   */

static void test_parse_defaults(void **state)
{
	struct wave_strategy s;

	(void)state;
	parse_ok("{}", &s);
	assert_int_equal(s.type, WAVE_ALL);
	assert_int_equal(s.min_success_ms, 0);
	assert_int_equal(s.progress_deadline_ms, 0);
	assert_int_equal(s.max_failures.value, 0);
	wave_strategy_clear(&s);
	assert_int_equal(wave_strategy_parse(NULL, "p", NULL, &s), 0);
	assert_int_equal(s.type, WAVE_ALL);
	wave_strategy_clear(&s);
	wave_strategy_clear(NULL);
}

static void test_parse_full(void **state)
{
	struct wave_strategy s;

	(void)state;
	parse_ok("{\"type\":\"Progressive\",\"progressive\":{\"minSuccessTime\":\"30s\",\"progressDeadline\":\"5m\","
		 "\"maxFailures\":\"25%\",\"maxConcurrency\":2,\"mandatoryDecisionGroups\":[{\"groupName\":\"canary\"},"
		 "{\"groupIndex\":3}]}}",
		 &s);
	assert_int_equal(s.type, WAVE_PROGRESSIVE);
	assert_int_equal(s.min_success_ms, 30000);
	assert_int_equal(s.progress_deadline_ms, 300000);
	assert_true(s.max_failures.percent);
	assert_int_equal(s.max_failures.value, 25);
	assert_false(s.max_concurrency.percent);
	assert_int_equal(s.max_concurrency.value, 2);
	assert_int_equal(s.nmandatory, 2);
	assert_string_equal(s.mandatory[0].group_name, "canary");
	assert_int_equal(s.mandatory[0].group_index, -1);
	assert_null(s.mandatory[1].group_name);
	assert_int_equal(s.mandatory[1].group_index, 3);
	wave_strategy_clear(&s);

	parse_ok("{\"type\":\"ProgressivePerGroup\",\"progressivePerGroup\":{\"progressDeadline\":\"None\","
		 "\"maxFailures\":\"1\",\"minSuccessTime\":\"0\"}}",
		 &s);
	assert_int_equal(s.type, WAVE_PROGRESSIVE_PER_GROUP);
	assert_int_equal(s.progress_deadline_ms, 0);
	assert_int_equal(s.max_failures.value, 1);
	wave_strategy_clear(&s);

	/* only the chosen type's object counts (as OCM) */
	parse_ok("{\"type\":\"All\",\"progressive\":{\"maxConcurrency\":\"x\"},\"all\":{\"maxFailures\":\"50%\"}}", &s);
	assert_int_equal(s.type, WAVE_ALL);
	assert_int_equal(s.max_failures.value, 50);
	wave_strategy_clear(&s);

	/* maxConcurrency as a percentage */
	parse_ok("{\"type\":\"Progressive\",\"progressive\":{\"maxConcurrency\":\"50%\"}}", &s);
	assert_true(s.max_concurrency.percent);
	assert_int_equal(s.max_concurrency.value, 50);
	wave_strategy_clear(&s);
}

static void test_parse_bad(void **state)
{
	(void)state;
	parse_bad("[]", "p: must be an object");
	parse_bad("{\"type\":\"Canary\"}", "p.type: Unsupported value: \"Canary\"");
	parse_bad("{\"type\":3}", "p.type");
	parse_bad("{\"maxFailures\":1}", "p.maxFailures: belongs under");
	parse_bad("{\"type\":\"All\",\"all\":{\"maxConcurrency\":1}}", "p.all.maxConcurrency: unknown field");
	parse_bad("{\"type\":\"All\",\"all\":{\"mandatoryDecisionGroups\":[]}}", "p.all.mandatoryDecisionGroups");
	parse_bad("{\"type\":\"ProgressivePerGroup\",\"progressivePerGroup\":{\"maxConcurrency\":1}}",
		  "p.progressivePerGroup.maxConcurrency: unknown field");
	parse_bad("{\"type\":\"All\",\"all\":[]}", "p.all: must be an object");
	parse_bad("{\"type\":\"All\",\"all\":{\"minSuccessTime\":\"soon\"}}", "p.all.minSuccessTime: Invalid value");
	parse_bad("{\"type\":\"All\",\"all\":{\"minSuccessTime\":30}}", "p.all.minSuccessTime: must be a duration");
	parse_bad("{\"type\":\"All\",\"all\":{\"minSuccessTime\":\"None\"}}", "p.all.minSuccessTime");
	parse_bad("{\"type\":\"All\",\"all\":{\"minSuccessTime\":\"200h\"}}", "at most 168h");
	parse_bad("{\"type\":\"All\",\"all\":{\"progressDeadline\":\"0\"}}", "must be positive, or \"None\"");
	parse_bad("{\"type\":\"All\",\"all\":{\"maxFailures\":-1}}", "p.all.maxFailures: Invalid value");
	parse_bad("{\"type\":\"All\",\"all\":{\"maxFailures\":\"101%\"}}", "p.all.maxFailures");
	parse_bad("{\"type\":\"All\",\"all\":{\"maxFailures\":\"%\"}}", "p.all.maxFailures");
	parse_bad("{\"type\":\"All\",\"all\":{\"maxFailures\":\"1x\"}}", "p.all.maxFailures");
	parse_bad("{\"type\":\"All\",\"all\":{\"maxFailures\":true}}", "must be an integer or a percentage");
	parse_bad("{\"type\":\"All\",\"all\":{\"maxFailures\":1000001}}", "p.all.maxFailures");
	parse_bad("{\"type\":\"Progressive\",\"progressive\":{\"mandatoryDecisionGroups\":{}}}", "must be a list");
	parse_bad("{\"type\":\"Progressive\",\"progressive\":{\"mandatoryDecisionGroups\":[{}]}}",
		  "p.progressive.mandatoryDecisionGroups[0]: groupName or groupIndex required");
	parse_bad("{\"type\":\"Progressive\",\"progressive\":{\"mandatoryDecisionGroups\":[{\"groupIndex\":-1}]}}",
		  "mandatoryDecisionGroups[0].groupIndex");
	parse_bad("{\"type\":\"Progressive\",\"progressive\":{\"mandatoryDecisionGroups\":[{\"groupName\":\"\"}]}}",
		  "mandatoryDecisionGroups[0].groupName");
	parse_bad("{\"type\":\"Progressive\",\"progressive\":{\"mandatoryDecisionGroups\":[{\"groupName\":\"a\"},"
		  "{\"group\":1}]}}",
		  "mandatoryDecisionGroups[1].group: unknown field");
	parse_bad("{\"type\":\"Progressive\",\"progressive\":{\"mandatoryDecisionGroups\":[1]}}",
		  "mandatoryDecisionGroups[0]: must be an object");
}

static void test_names(void **state)
{
	enum wave_cstate st;
	int i;

	(void)state;
	for (i = WAVE_C_PENDING; i <= WAVE_C_FAILED; i++) {
		assert_int_equal(wave_cstate_parse(wave_cstate_name((enum wave_cstate)i), &st), 0);
		assert_int_equal(st, i);
	}
	assert_int_equal(wave_cstate_parse("pending", &st), -EINVAL);
	assert_int_equal(wave_cstate_parse(NULL, &st), -EINVAL);
	assert_string_equal(wave_phase_name(WAVE_HALTED), "Halted");
	assert_string_equal(wave_phase_name(WAVE_PAUSED), "Paused");
}

/* ------------------------------------------------------------------------ */
/* observing works                                                           */

static void test_observe(void **state)
{
	struct wave_observation o;
	json_t *w;

	(void)state;
	w = js("{\"metadata\":{\"generation\":3},\"status\":{\"conditions\":["
	       "{\"type\":\"Applied\",\"status\":\"True\",\"observedGeneration\":3},"
	       "{\"type\":\"Available\",\"status\":\"True\",\"observedGeneration\":3}]}}");
	wave_observe(w, true, &o);
	assert_true(o.reachable && o.fresh && o.available && !o.degraded && !o.has_local_rollout);
	json_decref(w);

	/* stale: the status describes generation 2 */
	w = js("{\"metadata\":{\"generation\":3},\"status\":{\"conditions\":["
	       "{\"type\":\"Available\",\"status\":\"True\",\"observedGeneration\":2}]}}");
	wave_observe(w, false, &o);
	assert_false(o.fresh);
	assert_false(o.reachable);
	json_decref(w);

	/* no observedGeneration at all: never fresh */
	w = js("{\"metadata\":{\"generation\":1},\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"}]}}");
	wave_observe(w, true, &o);
	assert_false(o.fresh);
	json_decref(w);
	wave_observe(NULL, true, &o);
	assert_false(o.fresh);

	/* degraded, and a Progressing False failure */
	w = js("{\"metadata\":{\"generation\":1},\"status\":{\"conditions\":["
	       "{\"type\":\"Applied\",\"status\":\"True\",\"observedGeneration\":1},"
	       "{\"type\":\"Degraded\",\"status\":\"True\",\"message\":\"image pull\"}]}}");
	wave_observe(w, true, &o);
	assert_true(o.fresh && o.degraded);
	assert_string_equal(o.message, "image pull");
	json_decref(w);
	w = js("{\"metadata\":{\"generation\":1},\"status\":{\"conditions\":["
	       "{\"type\":\"Applied\",\"status\":\"True\",\"observedGeneration\":1},"
	       "{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":\"ProgressDeadlineExceeded\",\"message\":\"m\"}]}}");
	wave_observe(w, true, &o);
	assert_true(o.degraded);
	json_decref(w);
	w = js("{\"metadata\":{\"generation\":1},\"status\":{\"conditions\":["
	       "{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":\"Completed\"}]}}");
	wave_observe(w, true, &o);
	assert_false(o.degraded);
	json_decref(w);

	/* a local rollout and its rollingState */
	w = js("{\"metadata\":{\"generation\":2},\"spec\":{\"workload\":{\"manifests\":["
	       "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web-v2\"}},"
	       "{\"apiVersion\":\"standard.oam.dev/v1alpha1\",\"kind\":\"Rollout\",\"metadata\":{\"name\":\"web\"}}]}},"
	       "\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\",\"observedGeneration\":2}],"
	       "\"resourceStatus\":{\"manifests\":[{\"resourceMeta\":{\"group\":\"standard.oam.dev\",\"kind\":\"Rollout\","
	       "\"name\":\"web\"},\"statusFeedback\":{\"values\":[{\"name\":\"currentBatch\",\"fieldValue\":{\"type\":"
	       "\"Integer\",\"integer\":1}},{\"name\":\"rollingState\",\"fieldValue\":{\"type\":\"String\",\"string\":"
	       "\"rollingInBatches\"}}]}}]}}}");
	wave_observe(w, true, &o);
	assert_true(o.has_local_rollout);
	assert_string_equal(o.local_state, "rollingInBatches");
	json_decref(w);
}

/* ------------------------------------------------------------------------ */
/* one cluster                                                               */

static void test_eval_soak(void **state)
{
	struct wave_strategy s = {.min_success_ms = 60000};
	struct wave_cluster c = {.name = "a", .state = WAVE_C_UPDATING, .released_ms = 100};
	struct wave_observation notyet = {.reachable = true, .fresh = true};

	(void)state;
	assert_false(wave_cluster_eval(&s, &c, &notyet, 200));
	assert_int_equal(c.state, WAVE_C_UPDATING);
	assert_true(wave_cluster_eval(&s, &c, &obs_done, 1000));
	assert_int_equal(c.state, WAVE_C_SOAKING);
	assert_int_equal(c.done_since_ms, 1000);
	assert_false(wave_cluster_eval(&s, &c, &obs_done, 60999));
	assert_int_equal(c.state, WAVE_C_SOAKING);
	/* stops looking done during the soak: back to updating, soak restarts */
	assert_true(wave_cluster_eval(&s, &c, &notyet, 30000));
	assert_int_equal(c.state, WAVE_C_UPDATING);
	assert_int_equal(c.done_since_ms, 0);
	assert_true(wave_cluster_eval(&s, &c, &obs_done, 40000));
	assert_int_equal(c.done_since_ms, 40000);
	assert_true(wave_cluster_eval(&s, &c, &obs_done, 100000));
	assert_int_equal(c.state, WAVE_C_SUCCEEDED);
	/* succeeded and pending do not change */
	assert_false(wave_cluster_eval(&s, &c, &notyet, 200000));
	c.state = WAVE_C_PENDING;
	assert_false(wave_cluster_eval(&s, &c, &obs_done, 200000));
	assert_int_equal(c.state, WAVE_C_PENDING);

	/* no soak: straight to succeeded */
	s.min_success_ms = 0;
	c.state = WAVE_C_UPDATING;
	assert_true(wave_cluster_eval(&s, &c, &obs_done, 5));
	assert_int_equal(c.state, WAVE_C_SUCCEEDED);
}

static void test_eval_stale_unreachable(void **state)
{
	struct wave_strategy s = {0};
	struct wave_cluster c = {.name = "a", .state = WAVE_C_UPDATING, .released_ms = 100};
	struct wave_observation stale = {.reachable = true, .fresh = false, .available = true};
	struct wave_observation stale_bad = {.reachable = true, .fresh = false, .degraded = true};
	struct wave_observation unreach = {.reachable = false, .fresh = true, .available = true};
	int64_t t;

	(void)state;
	/* a stale status never counts as done, however long, and a stale
	 * failure (of the old generation) is not this change's failure */
	for (t = 200; t < 10000000; t *= 3) {
		wave_cluster_eval(&s, &c, &stale, t);
		wave_cluster_eval(&s, &c, &stale_bad, t);
		assert_int_equal(c.state, WAVE_C_UPDATING);
	}
	/* unreachable is not done either */
	wave_cluster_eval(&s, &c, &unreach, 5);
	assert_int_equal(c.state, WAVE_C_UPDATING);
	/* ... and a soaking cluster that becomes unreachable stops soaking */
	s.min_success_ms = 1000;
	wave_cluster_eval(&s, &c, &obs_done, 10);
	assert_int_equal(c.state, WAVE_C_SOAKING);
	wave_cluster_eval(&s, &c, &unreach, 20);
	assert_int_equal(c.state, WAVE_C_UPDATING);
}

static void test_eval_deadline(void **state)
{
	struct wave_strategy s = {.progress_deadline_ms = 5000};
	struct wave_cluster c = {.name = "a", .state = WAVE_C_UPDATING, .released_ms = 1000};
	struct wave_observation notyet = {.reachable = true, .fresh = true};
	struct wave_observation unreach = {.reachable = false};

	(void)state;
	assert_false(wave_cluster_eval(&s, &c, &notyet, 5999));
	assert_true(wave_cluster_eval(&s, &c, &notyet, 6000));
	assert_int_equal(c.state, WAVE_C_FAILED);
	assert_string_equal(c.reason, "Timeout");
	assert_non_null(strstr(c.message, "progressDeadline"));
	/* failed does not change */
	assert_false(wave_cluster_eval(&s, &c, &obs_done, 7000));
	assert_int_equal(c.state, WAVE_C_FAILED);

	memset(&c, 0, sizeof(c));
	c.state = WAVE_C_UPDATING;
	c.released_ms = 1000;
	assert_true(wave_cluster_eval(&s, &c, &unreach, 7000));
	assert_string_equal(c.reason, "Unreachable");
	assert_non_null(strstr(c.message, "unreachable"));
}

static void test_eval_failures(void **state)
{
	struct wave_strategy s = {0};
	struct wave_cluster c = {.name = "a", .state = WAVE_C_UPDATING, .released_ms = 1};
	struct wave_observation degraded = {.reachable = true, .fresh = true, .degraded = true, .message = "boom"};
	struct wave_observation rolling = {.reachable = true, .fresh = true, .available = true,
					   .has_local_rollout = true, .local_state = "rollingInBatches"};
	struct wave_observation rolled = rolling, rolledback = rolling;

	(void)state;
	assert_true(wave_cluster_eval(&s, &c, &degraded, 10));
	assert_int_equal(c.state, WAVE_C_FAILED);
	assert_string_equal(c.reason, "Degraded");
	assert_string_equal(c.message, "boom");

	memset(&c, 0, sizeof(c));
	c.state = WAVE_C_UPDATING;
	/* available but its local rollout still runs: not done */
	assert_false(wave_cluster_eval(&s, &c, &rolling, 10));
	assert_int_equal(c.state, WAVE_C_UPDATING);
	rolling.local_state = NULL; /* no feedback yet */
	assert_false(wave_cluster_eval(&s, &c, &rolling, 10));
	rolled.local_state = "rolloutSucceed";
	assert_true(wave_cluster_eval(&s, &c, &rolled, 20));
	assert_int_equal(c.state, WAVE_C_SUCCEEDED);

	memset(&c, 0, sizeof(c));
	c.state = WAVE_C_UPDATING;
	rolledback.local_state = "rollbackSucceed";
	rolledback.message = "ProgressDeadlineExceeded";
	assert_true(wave_cluster_eval(&s, &c, &rolledback, 20));
	assert_int_equal(c.state, WAVE_C_FAILED);
	assert_string_equal(c.reason, "RolloutFailed");
	assert_non_null(strstr(c.message, "rollbackSucceed"));
}

/* ------------------------------------------------------------------------ */
/* the wave                                                                  */

static void test_step_all(void **state)
{
	struct wave_strategy s = {.type = WAVE_ALL};
	struct wave_cluster cl[4];
	struct wave_result r;
	size_t i;

	(void)state;
	fleet(cl, 4, 0, WAVE_C_PENDING);
	step(&s, cl, 4, false, false, &r);
	assert_int_equal(r.phase, WAVE_PROGRESSING);
	assert_string_equal(released(&r), "0,1,2,3");
	assert_int_equal(r.pending, 4);
	apply(cl, &r, 1000);
	wave_result_clear(&r);
	for (i = 0; i < 4; i++)
		cl[i].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 4, false, false, &r);
	assert_int_equal(r.phase, WAVE_SUCCEEDED);
	assert_int_equal(r.nrelease, 0);
	assert_int_equal(r.succeeded, 4);
	wave_result_clear(&r);
	/* empty fleet: nothing to do */
	step(&s, cl, 0, false, false, &r);
	assert_int_equal(r.phase, WAVE_SUCCEEDED);
	wave_result_clear(&r);
	wave_result_clear(NULL);
}

static void test_step_progressive(void **state)
{
	struct wave_strategy s = {.type = WAVE_PROGRESSIVE, .max_concurrency = {2, false}};
	struct wave_cluster cl[5];
	struct wave_result r;

	(void)state;
	fleet(cl, 5, 0, WAVE_C_PENDING);
	step(&s, cl, 5, false, false, &r);
	assert_string_equal(released(&r), "0,1");
	assert_int_equal(r.current_group, -1);
	apply(cl, &r, 1000);
	wave_result_clear(&r);
	/* both in flight: nothing more */
	step(&s, cl, 5, false, false, &r);
	assert_int_equal(r.nrelease, 0);
	wave_result_clear(&r);
	/* one soaking still counts as in flight */
	cl[0].state = WAVE_C_SOAKING;
	step(&s, cl, 5, false, false, &r);
	assert_int_equal(r.nrelease, 0);
	wave_result_clear(&r);
	cl[0].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 5, false, false, &r);
	assert_string_equal(released(&r), "2");
	wave_result_clear(&r);

	/* percentage, rounded up: 30% of 5 = 2 */
	s.max_concurrency = (struct wave_count){30, true};
	fleet(cl, 5, 0, WAVE_C_PENDING);
	step(&s, cl, 5, false, false, &r);
	assert_string_equal(released(&r), "0,1");
	wave_result_clear(&r);
	/* 1%: at least one */
	s.max_concurrency = (struct wave_count){1, true};
	step(&s, cl, 5, false, false, &r);
	assert_string_equal(released(&r), "0");
	wave_result_clear(&r);
	/* default without groups: all */
	s.max_concurrency = (struct wave_count){0, false};
	step(&s, cl, 5, false, false, &r);
	assert_string_equal(released(&r), "0,1,2,3,4");
	wave_result_clear(&r);
	/* default with groups: the size of a group */
	fleet(cl, 5, 2, WAVE_C_PENDING);
	step(&s, cl, 5, false, false, &r);
	assert_string_equal(released(&r), "0,1");
	wave_result_clear(&r);
}

static void test_step_per_group(void **state)
{
	struct wave_strategy s = {.type = WAVE_PROGRESSIVE_PER_GROUP};
	struct wave_cluster cl[6];
	struct wave_result r;

	(void)state;
	fleet(cl, 6, 2, WAVE_C_PENDING);
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "0,1");
	assert_int_equal(r.current_group, 0);
	assert_non_null(strstr(r.message, "group 1 of 3"));
	apply(cl, &r, 1000);
	wave_result_clear(&r);
	/* one done, one soaking: the group is not done */
	cl[0].state = WAVE_C_SUCCEEDED;
	cl[1].state = WAVE_C_SOAKING;
	cl[1].done_since_ms = 900;
	s.min_success_ms = 500;
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.nrelease, 0);
	assert_int_equal(r.next_wake_ms, 1400);
	assert_int_equal(r.current_group, 0);
	wave_result_clear(&r);
	cl[1].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "2,3");
	assert_int_equal(r.current_group, 1);
	assert_non_null(strstr(r.message, "group 2 of 3 g1"));
	wave_result_clear(&r);
}

static void test_step_halt(void **state)
{
	struct wave_strategy s = {.type = WAVE_PROGRESSIVE_PER_GROUP};
	struct wave_cluster cl[6];
	struct wave_result r;

	(void)state;
	fleet(cl, 6, 2, WAVE_C_PENDING);
	cl[0].state = cl[1].state = WAVE_C_SUCCEEDED;
	cl[2].state = WAVE_C_FAILED;
	snprintf(cl[2].reason, sizeof(cl[2].reason), "Timeout");
	cl[3].state = WAVE_C_UPDATING;
	/* maxFailures 0: halted, the third group stays pending */
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_HALTED);
	assert_int_equal(r.nrelease, 0);
	assert_int_equal(r.pending, 2);
	assert_non_null(strstr(r.message, "halted: 1 failure > maxFailures 0 (c2: Timeout)"));
	wave_result_clear(&r);
	/* halted beats paused */
	step(&s, cl, 6, true, false, &r);
	assert_int_equal(r.phase, WAVE_HALTED);
	wave_result_clear(&r);

	/* maxFailures 1: the group finishes with the failure, then the next */
	s.max_failures = (struct wave_count){1, false};
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_PROGRESSING);
	assert_int_equal(r.nrelease, 0); /* c3 still updating */
	wave_result_clear(&r);
	cl[3].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "4,5");
	wave_result_clear(&r);
	/* a second failure breaks the budget */
	cl[4].state = WAVE_C_FAILED;
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_HALTED);
	wave_result_clear(&r);

	/* maxFailures as a percentage of all clusters, rounded down:
	 * 20% of 6 = 1 */
	s.max_failures = (struct wave_count){20, true};
	cl[4].state = WAVE_C_PENDING;
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_PROGRESSING);
	wave_result_clear(&r);
	cl[4].state = WAVE_C_FAILED;
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_HALTED);
	wave_result_clear(&r);
	/* 34% of 6 = 2 */
	s.max_failures = (struct wave_count){34, true};
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_PROGRESSING);
	wave_result_clear(&r);
	/* every cluster finished, failures within the budget: succeeded */
	cl[5].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_SUCCEEDED);
	assert_int_equal(r.failed, 2);
	wave_result_clear(&r);
}

static void test_step_mandatory(void **state)
{
	struct wave_mandatory by_name[] = {{.group_name = (char *)"g2", .group_index = -1}};
	struct wave_mandatory by_index[] = {{.group_name = NULL, .group_index = 1},
					    {.group_name = (char *)"nosuch", .group_index = -1}};
	struct wave_strategy s = {.type = WAVE_PROGRESSIVE, .max_concurrency = {1, false},
				  .max_failures = {5, false}, .mandatory = by_name, .nmandatory = 1};
	struct wave_cluster cl[6];
	struct wave_result r;

	(void)state;
	/* the mandatory group (by name) goes first, all of it, whatever
	 * maxConcurrency says */
	fleet(cl, 6, 2, WAVE_C_PENDING);
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "4,5");
	assert_int_equal(r.current_group, 2);
	apply(cl, &r, 1000);
	wave_result_clear(&r);
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.nrelease, 0);
	wave_result_clear(&r);
	/* zero tolerance in a mandatory group, whatever maxFailures says */
	cl[4].state = WAVE_C_FAILED;
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.phase, WAVE_HALTED);
	assert_non_null(strstr(r.message, "mandatory group 2"));
	wave_result_clear(&r);
	cl[4].state = cl[5].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "0");
	assert_int_equal(r.current_group, -1);
	wave_result_clear(&r);

	/* by index, per group; a mandatory entry matching no group is ignored */
	s.type = WAVE_PROGRESSIVE_PER_GROUP;
	s.mandatory = by_index;
	s.nmandatory = 2;
	fleet(cl, 6, 2, WAVE_C_PENDING);
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "2,3");
	assert_int_equal(r.current_group, 1);
	wave_result_clear(&r);
	cl[2].state = cl[3].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "0,1");
	assert_int_equal(r.current_group, 0);
	wave_result_clear(&r);
	cl[0].state = cl[1].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 6, false, false, &r);
	assert_string_equal(released(&r), "4,5");
	wave_result_clear(&r);
	/* All ignores mandatory groups */
	s.type = WAVE_ALL;
	fleet(cl, 6, 2, WAVE_C_PENDING);
	step(&s, cl, 6, false, false, &r);
	assert_int_equal(r.nrelease, 6);
	wave_result_clear(&r);
}

static void test_step_pause_abort(void **state)
{
	struct wave_strategy s = {.type = WAVE_PROGRESSIVE_PER_GROUP, .progress_deadline_ms = 10000};
	struct wave_cluster cl[4];
	struct wave_result r;

	(void)state;
	fleet(cl, 4, 2, WAVE_C_PENDING);
	cl[0].state = cl[1].state = WAVE_C_SUCCEEDED;
	step(&s, cl, 4, true, false, &r);
	assert_int_equal(r.phase, WAVE_PAUSED);
	assert_int_equal(r.nrelease, 0);
	wave_result_clear(&r);
	step(&s, cl, 4, false, false, &r);
	assert_int_equal(r.phase, WAVE_PROGRESSING);
	assert_string_equal(released(&r), "2,3");
	apply(cl, &r, 1000);
	wave_result_clear(&r);
	/* the deadline of an updating cluster is a wake-up */
	step(&s, cl, 4, false, false, &r);
	assert_int_equal(r.next_wake_ms, 11000);
	wave_result_clear(&r);
	/* aborted: nothing more, whatever the states */
	cl[2].state = cl[3].state = WAVE_C_PENDING;
	step(&s, cl, 4, false, true, &r);
	assert_int_equal(r.phase, WAVE_ABORTED);
	assert_int_equal(r.nrelease, 0);
	assert_int_equal(r.pending, 2);
	wave_result_clear(&r);
	/* out of group order: refused */
	cl[0].group = 5;
	assert_int_equal(wave_step(&s, cl, 4, false, false, 0, &r), -EINVAL);
}

/* A whole wave driven through the state machine: six clusters, groups of
 * two, a soak. */
static void test_wave_drive(void **state)
{
	struct wave_strategy s;
	struct wave_cluster cl[6];
	struct wave_result r;
	int64_t now = 0;
	int rounds = 0;
	size_t i;

	(void)state;
	parse_ok("{\"type\":\"ProgressivePerGroup\",\"progressivePerGroup\":{\"minSuccessTime\":\"10s\"}}", &s);
	fleet(cl, 6, 2, WAVE_C_PENDING);
	for (;;) {
		assert_int_equal(wave_step(&s, cl, 6, false, false, now, &r), 0);
		if (r.phase != WAVE_PROGRESSING)
			break;
		apply(cl, &r, now);
		/* the soak holds the next group back */
		for (i = 0; i < 6; i++)
			if (cl[i].state == WAVE_C_SOAKING)
				assert_true(r.nrelease == 0);
		now = r.next_wake_ms > now ? r.next_wake_ms : now + 1000;
		wave_result_clear(&r);
		for (i = 0; i < 6; i++)
			wave_cluster_eval(&s, &cl[i], &obs_done, now);
		assert_true(++rounds < 50);
	}
	assert_int_equal(r.phase, WAVE_SUCCEEDED);
	assert_true(now >= 30000); /* three soaks, one after another */
	wave_result_clear(&r);
	wave_strategy_clear(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_eval_soak),
		cmocka_unit_test(test_eval_stale_unreachable),
		cmocka_unit_test(test_eval_deadline),
		cmocka_unit_test(test_eval_failures),
		cmocka_unit_test(test_step_all),
		cmocka_unit_test(test_step_progressive),
		cmocka_unit_test(test_step_per_group),
		cmocka_unit_test(test_step_halt),
		cmocka_unit_test(test_step_mandatory),
		cmocka_unit_test(test_step_pause_abort),
		cmocka_unit_test(test_wave_drive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
