/* rollout_plan.c - parsing and checking a Rollout's plan, and the batch
 * arithmetic (see rollout_plan.h; the format is docs/rollouts.md).
 *
 * Everything here is pure: no allocation survives a call, no I/O, so the
 * fuzzer drives it directly. Unknown fields are ignored (KubeVela's plan has
 * more than Nave executes), except the ones whose absence of effect would
 * mislead: canaryMetric and the webhooks are refused by name.
 */
#include "rollout_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kobj.h"
#include "timefmt.h"

bool rollout_is_manifest(const json_t *obj)
{
	const char *av = kobj_api_version(obj), *kind = kobj_kind(obj);

	return av && kind && !strcmp(av, ROLLOUT_API_VERSION) && !strcmp(kind, ROLLOUT_KIND);
}

const char *rollout_kind_name(enum rollout_kind k)
{
	return k == ROLLOUT_STATEFULSET ? "StatefulSet" : "Deployment";
}

const char *rollout_strategy_name(enum rollout_strategy s)
{
	return s == ROLLOUT_DECREASE_FIRST ? "DecreaseFirst" : "IncreaseFirst";
}

/* ---------------------------------------------------------------------- */
/* scalars                                                                 */
/* ---------------------------------------------------------------------- */

int rollout_parse_duration(const char *s, uint64_t *ret_ms)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !*s || strlen(s) > ROLLOUT_MAX_DURATION_LEN)
		return -EINVAL;
	while (*p) {
		uint64_t n = 0, unit;
		int digits = 0;

		while (*p >= '0' && *p <= '9') {
			if (++digits > 9)
				return -EINVAL;
			n = n * 10 + (uint64_t)(*p++ - '0');
		}
		if (!digits)
			return -EINVAL;
		if (!strncmp(p, "ms", 2)) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * 1000;
			p++;
		} else {
			return -EINVAL;
		}
		/* n < 1e9 and unit <= 3.6e6: no overflow */
		total += n * unit;
		if (total > ROLLOUT_MAX_PAUSE_MS)
			return -EINVAL;
	}
	*ret_ms = total;
	return 0;
}

/* An integer 0..max, or (when allow_percent) a string "N%" with N 0..100. */
static int parse_intstr(const json_t *v, bool allow_percent, int64_t max, const char *field,
			struct errbuf *err, struct rollout_intstr *ret)
{
	const char *s;
	size_t len, i;
	int64_t n = 0;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 0 || n > max)
			return errbuf_set(err, -EINVAL, "%s: must be from 0 to %lld", field, (long long)max);
		*ret = (struct rollout_intstr){ .set = true, .value = n };
		return 0;
	}
	if (!allow_percent || !json_is_string(v))
		return errbuf_set(err, -EINVAL, "%s: must be an integer%s", field,
				  allow_percent ? " or a percentage such as \"25%\"" : "");
	s = json_string_value(v);
	len = strlen(s);
	if (len < 2 || len > 4 || s[len - 1] != '%')
		return errbuf_set(err, -EINVAL, "%s: must be an integer or a percentage such as \"25%%\"", field);
	for (i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return errbuf_set(err, -EINVAL, "%s: must be an integer or a percentage such as \"25%%\"",
					  field);
		n = n * 10 + (s[i] - '0');
	}
	if (n > 100)
		return errbuf_set(err, -EINVAL, "%s: a percentage must be from 0%% to 100%%", field);
	*ret = (struct rollout_intstr){ .set = true, .percent = true, .value = n };
	return 0;
}

static int parse_int(const json_t *v, int64_t min, int64_t max, const char *field, struct errbuf *err,
		     int64_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return errbuf_set(err, -EINVAL, "%s: must be an integer from %lld to %lld", field, (long long)min,
				  (long long)max);
	*ret = json_integer_value(v);
	return 0;
}

/* An optional name: absent or a DNS subdomain; copied into out. */
static int parse_name(const json_t *v, bool required, const char *field, struct errbuf *err, char *out)
{
	const char *s;

	out[0] = '\0';
	if (!v || json_is_null(v)) {
		if (required)
			return errbuf_set(err, -EINVAL, "%s: required", field);
		return 0;
	}
	s = json_string_value(v);
	if (!s)
		return errbuf_set(err, -EINVAL, "%s: must be a string", field);
	if (!*s && !required)
		return 0;
	if (strlen(s) > ROLLOUT_MAX_NAME || !kobj_valid_subdomain(s))
		return errbuf_set(err, -EINVAL, "%s: must be a Kubernetes object name (DNS subdomain, at most %d bytes)",
				  field, ROLLOUT_MAX_NAME);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* the plan                                                                */
/* ---------------------------------------------------------------------- */

static int parse_batches(const json_t *arr, struct errbuf *err, struct rollout_plan *p)
{
	const json_t *b;
	size_t i;
	char field[96];
	int r;

	if (!json_is_array(arr))
		return errbuf_set(err, -EINVAL, "spec.rolloutPlan.rolloutBatches: must be a list");
	if (json_array_size(arr) == 0 || json_array_size(arr) > ROLLOUT_MAX_BATCHES)
		return errbuf_set(err, -EINVAL, "spec.rolloutPlan.rolloutBatches: must have 1 to %d batches",
				  ROLLOUT_MAX_BATCHES);
	json_array_foreach(arr, i, b) {
		const json_t *rep;

		snprintf(field, sizeof(field), "spec.rolloutPlan.rolloutBatches[%zu]", i);
		if (!json_is_object(b))
			return errbuf_set(err, -EINVAL, "%s: must be an object", field);
		if (json_object_get(b, "canaryMetric") || json_object_get(b, "batchRolloutWebhooks"))
			return errbuf_set(err, -EINVAL, "%s: canaryMetric and batchRolloutWebhooks are not "
					  "supported by this agent", field);
		rep = json_object_get(b, "replicas");
		p->batches[i] = (struct rollout_intstr){ 0 };
		if (!rep || json_is_null(rep)) {
			if (i + 1 < json_array_size(arr))
				return errbuf_set(err, -EINVAL, "%s.replicas: required (only the last batch may "
						  "leave it out: it takes the rest)", field);
			continue;
		}
		snprintf(field, sizeof(field), "spec.rolloutPlan.rolloutBatches[%zu].replicas", i);
		r = parse_intstr(rep, true, ROLLOUT_MAX_REPLICAS, field, err, &p->batches[i]);
		if (r < 0)
			return r;
	}
	p->nbatches = json_array_size(arr);
	return 0;
}

int rollout_plan_parse(const json_t *spec, struct errbuf *err, struct rollout_plan *ret_plan)
{
	struct rollout_plan *p = calloc(1, sizeof(*p));
	const json_t *plan, *v;
	const char *s;
	int r = -EINVAL;

	if (!p)
		return errbuf_set(err, -ENOMEM, "out of memory");
	p->target_size = -1;
	p->num_batches = -1;
	p->batch_partition = -1;
	p->deadline_s = ROLLOUT_DEFAULT_DEADLINE_S;
	if (!json_is_object(spec)) {
		errbuf_set(err, -EINVAL, "spec: must be an object");
		goto out;
	}
	r = parse_name(json_object_get(spec, "targetRevisionName"), true, "spec.targetRevisionName", err,
		       p->target);
	if (r < 0)
		goto out;
	r = parse_name(json_object_get(spec, "sourceRevisionName"), false, "spec.sourceRevisionName", err,
		       p->source);
	if (r < 0)
		goto out;
	r = parse_name(json_object_get(spec, "componentName"), false, "spec.componentName", err, p->component);
	if (r < 0)
		goto out;
	r = -EINVAL;
	v = json_object_get(spec, "workloadKind");
	s = json_string_value(v);
	if (!v || json_is_null(v) || (s && !strcmp(s, "Deployment"))) {
		p->kind = ROLLOUT_DEPLOYMENT;
	} else if (s && !strcmp(s, "StatefulSet")) {
		p->kind = ROLLOUT_STATEFULSET;
	} else {
		errbuf_set(err, -EINVAL, "spec.workloadKind: must be Deployment or StatefulSet");
		goto out;
	}
	if (p->kind == ROLLOUT_DEPLOYMENT && p->source[0] && !strcmp(p->source, p->target)) {
		errbuf_set(err, -EINVAL, "spec.sourceRevisionName: must differ from targetRevisionName: "
			   "a Deployment rollout moves replicas from one Deployment to another");
		goto out;
	}
	if (p->kind == ROLLOUT_STATEFULSET && p->source[0] && strcmp(p->source, p->target)) {
		errbuf_set(err, -EINVAL, "spec.sourceRevisionName: a StatefulSet rollout updates one StatefulSet: "
			   "leave it out or name the target");
		goto out;
	}
	plan = json_object_get(spec, "rolloutPlan");
	if (!json_is_object(plan)) {
		errbuf_set(err, -EINVAL, "spec.rolloutPlan: required (an object)");
		goto out;
	}
	if (json_object_get(plan, "canaryMetric") || json_object_get(plan, "rolloutWebhooks")) {
		errbuf_set(err, -EINVAL, "spec.rolloutPlan: canaryMetric and rolloutWebhooks are not supported "
			   "by this agent");
		goto out;
	}
	v = json_object_get(plan, "rolloutStrategy");
	s = json_string_value(v);
	if (!v || json_is_null(v) || (s && !strcmp(s, "IncreaseFirst"))) {
		p->strategy = ROLLOUT_INCREASE_FIRST;
	} else if (s && !strcmp(s, "DecreaseFirst")) {
		p->strategy = ROLLOUT_DECREASE_FIRST;
	} else {
		errbuf_set(err, -EINVAL, "spec.rolloutPlan.rolloutStrategy: must be IncreaseFirst or DecreaseFirst");
		goto out;
	}
	v = json_object_get(plan, "targetSize");
	if (v && !json_is_null(v)) {
		r = parse_int(v, 1, ROLLOUT_MAX_REPLICAS, "spec.rolloutPlan.targetSize", err, &p->target_size);
		if (r < 0)
			goto out;
	}
	v = json_object_get(plan, "numBatches");
	if (v && !json_is_null(v)) {
		r = parse_int(v, 1, ROLLOUT_MAX_BATCHES, "spec.rolloutPlan.numBatches", err, &p->num_batches);
		if (r < 0)
			goto out;
	}
	v = json_object_get(plan, "rolloutBatches");
	if (v && !json_is_null(v)) {
		r = parse_batches(v, err, p);
		if (r < 0)
			goto out;
		if (p->num_batches >= 0 && (size_t)p->num_batches != p->nbatches) {
			r = errbuf_set(err, -EINVAL, "spec.rolloutPlan.numBatches: %lld, but rolloutBatches has %zu "
				       "batches", (long long)p->num_batches, p->nbatches);
			goto out;
		}
	}
	v = json_object_get(plan, "batchPartition");
	if (v && !json_is_null(v)) {
		r = parse_int(v, 0, ROLLOUT_MAX_BATCHES, "spec.rolloutPlan.batchPartition", err,
			      &p->batch_partition);
		if (r < 0)
			goto out;
	}
	v = json_object_get(plan, "paused");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			r = errbuf_set(err, -EINVAL, "spec.rolloutPlan.paused: must be true or false");
			goto out;
		}
		p->paused = json_is_true(v);
	}
	v = json_object_get(plan, "pauseBetweenBatches");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || rollout_parse_duration(json_string_value(v), &p->pause_ms) < 0) {
			r = errbuf_set(err, -EINVAL, "spec.rolloutPlan.pauseBetweenBatches: must be a duration such "
				       "as \"30s\" or \"2m\" (units ms, s, m, h; at most 24h)");
			goto out;
		}
	}
	v = json_object_get(plan, "failureThreshold");
	if (v && !json_is_null(v)) {
		r = parse_intstr(v, true, ROLLOUT_MAX_REPLICAS, "spec.rolloutPlan.failureThreshold", err,
				 &p->failure_threshold);
		if (r < 0)
			goto out;
	}
	v = json_object_get(plan, "progressDeadlineSeconds");
	if (v && !json_is_null(v)) {
		r = parse_int(v, 1, ROLLOUT_MAX_DEADLINE_S, "spec.rolloutPlan.progressDeadlineSeconds", err,
			      &p->deadline_s);
		if (r < 0)
			goto out;
	}
	*ret_plan = *p;
	r = 0;
out:
	free(p);
	return r;
}

/* ---------------------------------------------------------------------- */
/* arithmetic                                                              */
/* ---------------------------------------------------------------------- */

/* ceil(total * pct / 100); total <= 1e5 so no overflow. */
static int64_t percent_up(int64_t total, int64_t pct)
{
	return (total * pct + 99) / 100;
}

int rollout_plan_batches(const struct rollout_plan *p, int64_t target_size, struct errbuf *err,
			 int64_t *ret_cum, size_t *ret_n)
{
	int64_t sum = 0;
	size_t k, n;

	if (target_size < 1 || target_size > ROLLOUT_MAX_REPLICAS)
		return errbuf_set(err, -EINVAL, "spec.rolloutPlan.targetSize: must be from 1 to %d (is %lld)",
				  ROLLOUT_MAX_REPLICAS, (long long)target_size);
	if (!p->nbatches) {
		n = p->num_batches > 0 ? (size_t)p->num_batches : 1;
		for (k = 0; k < n; k++)
			ret_cum[k] = (target_size * (int64_t)(k + 1) + (int64_t)n - 1) / (int64_t)n;
		*ret_n = n;
		return 0;
	}
	n = p->nbatches;
	for (k = 0; k < n; k++) {
		const struct rollout_intstr *b = &p->batches[k];
		int64_t inc;

		if (k + 1 == n && (!b->set || b->percent)) {
			/* the last batch takes the rest (rounding makes its percentage inexact) */
			if (sum > target_size)
				return errbuf_set(err, -EINVAL, "spec.rolloutPlan.rolloutBatches: the first %zu batches "
						  "add up to %lld replicas, more than targetSize %lld", n - 1,
						  (long long)sum, (long long)target_size);
			inc = target_size - sum;
		} else {
			inc = b->percent ? percent_up(target_size, b->value) : b->value;
		}
		sum += inc;
		if (sum > target_size)
			return errbuf_set(err, -EINVAL, "spec.rolloutPlan.rolloutBatches[%zu].replicas: the batches "
					  "up to here add up to %lld replicas, more than targetSize %lld", k,
					  (long long)sum, (long long)target_size);
		ret_cum[k] = sum;
	}
	if (sum != target_size)
		return errbuf_set(err, -EINVAL, "spec.rolloutPlan.rolloutBatches: the batches add up to %lld "
				  "replicas; targetSize is %lld (leave the last batch's replicas out to take the rest)",
				  (long long)sum, (long long)target_size);
	*ret_n = n;
	return 0;
}

int64_t rollout_plan_threshold(const struct rollout_plan *p, int64_t upgraded)
{
	int64_t t;

	if (!p->failure_threshold.set || upgraded <= 0)
		return 0;
	t = p->failure_threshold.percent ? upgraded * p->failure_threshold.value / 100 : p->failure_threshold.value;
	return t < upgraded ? t : upgraded;
}

void rollout_sources_split(int64_t remove, const int64_t *start, size_t n, int64_t *ret_desired)
{
	size_t k;

	if (remove < 0)
		remove = 0;
	for (k = 0; k < n; k++) {
		int64_t have = start[k] > 0 ? start[k] : 0;
		int64_t take = remove < have ? remove : have;

		ret_desired[k] = have - take;
		remove -= take;
	}
}

/* ---------------------------------------------------------------------- */
/* the state                                                               */
/* ---------------------------------------------------------------------- */

static const char *const rolling_names[] = {
	[ROLLOUT_VERIFYING] = "verifyingSpec",
	[ROLLOUT_INITIALIZING] = "initializing",
	[ROLLOUT_ROLLING] = "rollingInBatches",
	[ROLLOUT_FINALISING] = "finalising",
	[ROLLOUT_SUCCEED] = "rolloutSucceed",
	[ROLLOUT_ROLLING_BACK] = "rollingBack",
	[ROLLOUT_ROLLBACK_SUCCEED] = "rollbackSucceed",
	[ROLLOUT_FAILED] = "rolloutFailed",
};

static const char *const batch_names[] = {
	[ROLLOUT_BATCH_INITIALIZING] = "batchInitializing",
	[ROLLOUT_BATCH_IN_ROLLING] = "batchInRolling",
	[ROLLOUT_BATCH_VERIFYING] = "batchVerifying",
	[ROLLOUT_BATCH_FINALIZING] = "batchFinalizing",
	[ROLLOUT_BATCH_READY] = "batchReady",
	[ROLLOUT_BATCH_VERIFY_FAILED] = "batchVerifyFailed",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *rollout_rolling_name(enum rollout_rolling r)
{
	return (size_t)r < NELEM(rolling_names) ? rolling_names[r] : "unknown";
}

const char *rollout_batch_name(enum rollout_batch b)
{
	return (size_t)b < NELEM(batch_names) ? batch_names[b] : "unknown";
}

static void set_time(json_t *o, const char *key, int64_t us)
{
	char ts[TIMEFMT_MAX];

	if (us)
		json_object_set_new(o, key, json_string(time_format_micro(us, ts)));
}

json_t *rollout_state_encode(const struct rollout_state *st)
{
	json_t *o = json_object(), *srcs = json_array();
	size_t i;

	json_object_set_new(o, "identity", json_string(st->identity));
	json_object_set_new(o, "workloadKind", json_string(rollout_kind_name(st->kind)));
	json_object_set_new(o, "target", json_string(st->target));
	if (st->source[0])
		json_object_set_new(o, "source", json_string(st->source));
	json_object_set_new(o, "targetSize", json_integer(st->target_size));
	json_object_set_new(o, "targetStart", json_integer(st->target_start));
	for (i = 0; i < st->nsources; i++)
		json_array_append_new(srcs, json_pack("{s:s, s:I}", "name", st->sources[i].name, "start",
						      (json_int_t)st->sources[i].start));
	json_object_set_new(o, "sources", srcs);
	json_object_set_new(o, "sourceSize", json_integer(st->source_size));
	json_object_set_new(o, "rollingState", json_string(rollout_rolling_name(st->rolling)));
	json_object_set_new(o, "batchRollingState", json_string(rollout_batch_name(st->batch)));
	json_object_set_new(o, "currentBatch", json_integer(st->current_batch));
	set_time(o, "batchStartTime", st->batch_start_us);
	set_time(o, "batchReadyTime", st->batch_ready_us);
	set_time(o, "lastTransitionTime", st->transition_us);
	if (st->reason[0])
		json_object_set_new(o, "reason", json_string(st->reason));
	if (st->message[0])
		json_object_set_new(o, "message", json_string(st->message));
	if (st->source_revision[0])
		json_object_set_new(o, "sourceRevision", json_string(st->source_revision));
	if (st->target_revision[0])
		json_object_set_new(o, "targetRevision", json_string(st->target_revision));
	return o;
}

/* A string member into out[cap] (absent: ""); -EINVAL when too long or not a string. */
static int get_str(const json_t *o, const char *key, bool required, size_t cap, struct errbuf *err, char *out)
{
	const json_t *v = json_object_get(o, key);
	const char *str = json_string_value(v);

	out[0] = '\0';
	if (!v) {
		if (required)
			return errbuf_set(err, -EINVAL, "state.%s: required", key);
		return 0;
	}
	if (!str || strlen(str) >= cap)
		return errbuf_set(err, -EINVAL, "state.%s: must be a string of at most %zu bytes", key, cap - 1);
	memcpy(out, str, strlen(str) + 1);
	return 0;
}

static int get_int(const json_t *o, const char *key, int64_t min, int64_t max, struct errbuf *err,
		   int64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return errbuf_set(err, -EINVAL, "state.%s: must be an integer from %lld to %lld", key,
				  (long long)min, (long long)max);
	*ret = json_integer_value(v);
	return 0;
}

static int get_time(const json_t *o, const char *key, struct errbuf *err, int64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	*ret = 0;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > 64 || time_parse_rfc3339(json_string_value(v), ret) < 0)
		return errbuf_set(err, -EINVAL, "state.%s: must be an RFC 3339 time", key);
	return 0;
}

static int get_enum(const json_t *o, const char *key, const char *const *names, size_t n, struct errbuf *err,
		    int *ret)
{
	const char *str = json_string_value(json_object_get(o, key));
	size_t i;

	for (i = 0; str && i < n; i++) {
		if (names[i] && !strcmp(names[i], str)) {
			*ret = (int)i;
			return 0;
		}
	}
	return errbuf_set(err, -EINVAL, "state.%s: unknown value", key);
}

int rollout_state_decode(const json_t *v, struct errbuf *err, struct rollout_state *ret_state)
{
	struct rollout_state *st = calloc(1, sizeof(*st));
	char kind[32];
	const json_t *srcs, *src;
	size_t i;
	int r, e;

	if (!st)
		return errbuf_set(err, -ENOMEM, "out of memory");
	r = -EINVAL;
	if (!json_is_object(v)) {
		errbuf_set(err, -EINVAL, "state: must be an object");
		goto out;
	}
	if ((r = get_str(v, "identity", true, sizeof(st->identity), err, st->identity)) < 0)
		goto out;
	for (i = 0; st->identity[i]; i++) {
		if (!((st->identity[i] >= '0' && st->identity[i] <= '9') || (st->identity[i] >= 'a' && st->identity[i] <= 'f')))
			break;
	}
	if (i != ROLLOUT_IDENTITY_LEN || st->identity[i]) {
		r = errbuf_set(err, -EINVAL, "state.identity: must be %d lowercase hex digits", ROLLOUT_IDENTITY_LEN);
		goto out;
	}
	if ((r = get_str(v, "workloadKind", true, sizeof(kind), err, kind)) < 0)
		goto out;
	if (!strcmp(kind, "Deployment")) {
		st->kind = ROLLOUT_DEPLOYMENT;
	} else if (!strcmp(kind, "StatefulSet")) {
		st->kind = ROLLOUT_STATEFULSET;
	} else {
		r = errbuf_set(err, -EINVAL, "state.workloadKind: must be Deployment or StatefulSet");
		goto out;
	}
	if ((r = get_str(v, "target", true, sizeof(st->target), err, st->target)) < 0 ||
	    (r = get_str(v, "source", false, sizeof(st->source), err, st->source)) < 0)
		goto out;
	if (!kobj_valid_subdomain(st->target) || (st->source[0] && !kobj_valid_subdomain(st->source))) {
		r = errbuf_set(err, -EINVAL, "state.target, state.source: must be object names");
		goto out;
	}
	if ((r = get_int(v, "targetSize", 1, ROLLOUT_MAX_REPLICAS, err, &st->target_size)) < 0 ||
	    (r = get_int(v, "targetStart", 0, ROLLOUT_MAX_REPLICAS, err, &st->target_start)) < 0 ||
	    (r = get_int(v, "sourceSize", 0, ROLLOUT_MAX_REPLICAS, err, &st->source_size)) < 0 ||
	    (r = get_int(v, "currentBatch", 0, ROLLOUT_MAX_BATCHES - 1, err, &st->current_batch)) < 0)
		goto out;
	srcs = json_object_get(v, "sources");
	if (!json_is_array(srcs) || json_array_size(srcs) > ROLLOUT_MAX_SOURCES) {
		r = errbuf_set(err, -EINVAL, "state.sources: must be a list of at most %d", ROLLOUT_MAX_SOURCES);
		goto out;
	}
	json_array_foreach(srcs, i, src) {
		struct rollout_source *rs = &st->sources[i];

		if ((r = get_str(src, "name", true, sizeof(rs->name), err, rs->name)) < 0 ||
		    (r = get_int(src, "start", 0, ROLLOUT_MAX_REPLICAS, err, &rs->start)) < 0) {
			errbuf_prefix(err, "sources[%zu]", i);
			goto out;
		}
		if (!kobj_valid_subdomain(rs->name)) {
			r = errbuf_set(err, -EINVAL, "state.sources[%zu].name: must be an object name", i);
			goto out;
		}
	}
	st->nsources = json_array_size(srcs);
	if ((r = get_enum(v, "rollingState", rolling_names, NELEM(rolling_names), err, &e)) < 0)
		goto out;
	st->rolling = (enum rollout_rolling)e;
	if ((r = get_enum(v, "batchRollingState", batch_names, NELEM(batch_names), err, &e)) < 0)
		goto out;
	st->batch = (enum rollout_batch)e;
	if ((r = get_time(v, "batchStartTime", err, &st->batch_start_us)) < 0 ||
	    (r = get_time(v, "batchReadyTime", err, &st->batch_ready_us)) < 0 ||
	    (r = get_time(v, "lastTransitionTime", err, &st->transition_us)) < 0)
		goto out;
	if ((r = get_str(v, "reason", false, sizeof(st->reason), err, st->reason)) < 0 ||
	    (r = get_str(v, "message", false, sizeof(st->message), err, st->message)) < 0 ||
	    (r = get_str(v, "sourceRevision", false, sizeof(st->source_revision), err, st->source_revision)) < 0 ||
	    (r = get_str(v, "targetRevision", false, sizeof(st->target_revision), err, st->target_revision)) < 0)
		goto out;
	*ret_state = *st;
	r = 0;
out:
	free(st);
	return r;
}
