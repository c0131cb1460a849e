/* wave.c - releasing a change across clusters one group at a time (wave.h).
 *
 * Pure: the strategy parser, the per-cluster state machine fed by what a
 * ManifestWork says, and the step that decides which pending clusters to
 * release now. No I/O and no clock: the callers (hub/app_*.c, hub/mwrs.c)
 * pass now_ms, keep the states in their resources' status and wake up at
 * next_wake_ms. Rules and formats: wave.h and docs/rollouts.md "Across
 * clusters".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app.h"
#include "kobj.h"
#include "wave.h"

/* Caps of the strategy's fields (documented in docs/rollouts.md). */
#define WAVE_DURATION_MAX_MS (7LL * 24 * 3600 * 1000) /* one week */
#define WAVE_STRING_MAX 64                           /* type, counts, durations */
#define WAVE_GROUP_NAME_MAX 253

static const char *const cstate_names[] = {"Pending", "Updating", "Soaking", "Succeeded", "Failed"};
static const char *const phase_names[] = {"Progressing", "Succeeded", "Halted", "Paused", "Aborted"};

/* See wave.h. */
const char *wave_cstate_name(enum wave_cstate st)
{
	if ((size_t)st < sizeof(cstate_names) / sizeof(cstate_names[0]))
		return cstate_names[st];
	return "Unknown";
}

/* See wave.h. */
const char *wave_phase_name(enum wave_phase ph)
{
	if ((size_t)ph < sizeof(phase_names) / sizeof(phase_names[0]))
		return phase_names[ph];
	return "Unknown";
}

/* See wave.h. */
int wave_cstate_parse(const char *s, enum wave_cstate *ret)
{
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < sizeof(cstate_names) / sizeof(cstate_names[0]); i++)
		if (!strcmp(s, cstate_names[i])) {
			*ret = (enum wave_cstate)i;
			return 0;
		}
	return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* parsing                                                                   */

/* A duration: "0", or Go-style ("30s", "5m", "1h30m"); "None" only when
 * none_ok (then 0). */
static int parse_duration(const json_t *v, const char *field, const char *name, bool none_ok, struct errbuf *err,
			  int64_t *ret_ms)
{
	const char *s = json_string_value(v);
	int64_t ms = 0;

	if (!s)
		return errbuf_set(err, -EINVAL, "%s.%s: must be a duration string such as \"0\", \"30s\" or \"5m\"",
				  field, name);
	if (strlen(s) > WAVE_STRING_MAX)
		return errbuf_set(err, -EINVAL, "%s.%s: too long (at most %d bytes)", field, name, WAVE_STRING_MAX);
	if (none_ok && !strcmp(s, "None")) {
		*ret_ms = 0;
		return 0;
	}
	if (strcmp(s, "0") && app_duration_parse(s, &ms) < 0)
		return errbuf_set(err, -EINVAL,
				  "%s.%s: Invalid value: \"%s\": must be a duration such as \"0\", \"30s\", \"5m\"%s", field,
				  name, s, none_ok ? " or \"None\"" : "");
	if (ms > WAVE_DURATION_MAX_MS)
		return errbuf_set(err, -EINVAL, "%s.%s: Invalid value: \"%s\": must be at most 168h", field, name, s);
	if (none_ok && ms == 0)
		return errbuf_set(err, -EINVAL, "%s.%s: Invalid value: \"%s\": must be positive, or \"None\"", field,
				  name, s);
	*ret_ms = ms;
	return 0;
}

/* An int or percent: 2, "2", "25%". */
static int parse_count(const json_t *v, const char *field, const char *name, struct errbuf *err,
		       struct wave_count *ret)
{
	struct wave_count c = {0, false};
	const char *s = json_string_value(v);

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || i > WAVE_CLUSTERS_MAX)
			return errbuf_set(err, -EINVAL, "%s.%s: Invalid value: %lld: must be 0..%d or \"N%%\"", field,
					  name, (long long)i, WAVE_CLUSTERS_MAX);
		c.value = (int)i;
	} else if (s) {
		size_t len = strlen(s), i;
		long val = 0;

		if (len > 0 && s[len - 1] == '%') {
			c.percent = true;
			len--;
		}
		if (len == 0 || len > 6)
			goto bad;
		for (i = 0; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				goto bad;
			val = val * 10 + (s[i] - '0');
		}
		if ((c.percent && val > 100) || val > WAVE_CLUSTERS_MAX)
			goto bad;
		c.value = (int)val;
	} else {
		return errbuf_set(err, -EINVAL, "%s.%s: must be an integer or a percentage such as \"25%%\"", field,
				  name);
	}
	*ret = c;
	return 0;
bad:
	return errbuf_set(err, -EINVAL, "%s.%s: Invalid value: \"%.32s\": must be an integer 0..%d or a percentage "
			  "0%%..100%%", field, name, s, WAVE_CLUSTERS_MAX);
}

static int parse_mandatory(const json_t *arr, const char *field, struct errbuf *err, struct wave_strategy *s)
{
	const json_t *g;
	size_t i;

	if (!json_is_array(arr))
		return errbuf_set(err, -EINVAL, "%s.mandatoryDecisionGroups: must be a list", field);
	if (json_array_size(arr) > WAVE_GROUPS_MAX)
		return errbuf_set(err, -EINVAL, "%s.mandatoryDecisionGroups: too many (at most %d)", field,
				  WAVE_GROUPS_MAX);
	s->mandatory = xcalloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof(*s->mandatory));
	json_array_foreach(arr, i, g) {
		const json_t *name = json_object_get(g, "groupName"), *idx = json_object_get(g, "groupIndex");
		struct wave_mandatory *m = &s->mandatory[i];
		const char *key;
		const json_t *v;

		if (!json_is_object(g))
			return errbuf_set(err, -EINVAL, "%s.mandatoryDecisionGroups[%zu]: must be an object", field, i);
		json_object_foreach((json_t *)g, key, v)
			if (strcmp(key, "groupName") && strcmp(key, "groupIndex"))
				return errbuf_set(err, -EINVAL,
						  "%s.mandatoryDecisionGroups[%zu].%.64s: unknown field (groupName, "
						  "groupIndex)", field, i, key);
		m->group_index = -1;
		/* as OCM: the name is considered first */
		if (name) {
			const char *ns = json_string_value(name);

			if (!ns || !*ns || strlen(ns) > WAVE_GROUP_NAME_MAX)
				return errbuf_set(err, -EINVAL,
						  "%s.mandatoryDecisionGroups[%zu].groupName: must be a non-empty string of "
						  "at most %d bytes", field, i, WAVE_GROUP_NAME_MAX);
			m->group_name = xstrdup(ns);
		} else if (idx) {
			if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
			    json_integer_value(idx) >= WAVE_GROUPS_MAX)
				return errbuf_set(err, -EINVAL,
						  "%s.mandatoryDecisionGroups[%zu].groupIndex: must be an integer 0..%d",
						  field, i, WAVE_GROUPS_MAX - 1);
			m->group_index = (int)json_integer_value(idx);
		} else {
			return errbuf_set(err, -EINVAL, "%s.mandatoryDecisionGroups[%zu]: groupName or groupIndex required",
					  field, i);
		}
		s->nmandatory = i + 1;
	}
	return 0;
}

/* The type's own object ("all", "progressive", "progressivePerGroup"). */
static int parse_params(const json_t *o, const char *field, enum wave_type type, struct errbuf *err,
			struct wave_strategy *s)
{
	const char *key;
	const json_t *v;
	int r;

	if (!json_is_object(o))
		return errbuf_set(err, -EINVAL, "%s: must be an object", field);
	json_object_foreach((json_t *)o, key, v) {
		if (!strcmp(key, "minSuccessTime"))
			r = parse_duration(v, field, key, false, err, &s->min_success_ms);
		else if (!strcmp(key, "progressDeadline"))
			r = parse_duration(v, field, key, true, err, &s->progress_deadline_ms);
		else if (!strcmp(key, "maxFailures"))
			r = parse_count(v, field, key, err, &s->max_failures);
		else if (!strcmp(key, "maxConcurrency") && type == WAVE_PROGRESSIVE)
			r = parse_count(v, field, key, err, &s->max_concurrency);
		else if (!strcmp(key, "mandatoryDecisionGroups") && type != WAVE_ALL)
			r = parse_mandatory(v, field, err, s);
		else
			r = errbuf_set(err, -EINVAL, "%s.%.64s: unknown field (%s)", field, key,
				       type == WAVE_ALL ? "minSuccessTime, progressDeadline, maxFailures"
				       : type == WAVE_PROGRESSIVE
					       ? "minSuccessTime, progressDeadline, maxFailures, maxConcurrency, "
						 "mandatoryDecisionGroups"
					       : "minSuccessTime, progressDeadline, maxFailures, mandatoryDecisionGroups");
		if (r < 0)
			return r;
	}
	return 0;
}

/* See wave.h. */
int wave_strategy_parse(const json_t *obj, const char *field, struct errbuf *err, struct wave_strategy *ret)
{
	static const char *const misplaced[] = {"minSuccessTime", "progressDeadline", "maxFailures", "maxConcurrency",
						"mandatoryDecisionGroups", NULL};
	struct wave_strategy s = {.type = WAVE_ALL};
	const json_t *t, *params = NULL;
	const char *ts, *pkey = "all";
	char sub[512];
	int r = 0;

	if (!field)
		field = "rolloutStrategy";
	if (obj && !json_is_object(obj)) {
		r = errbuf_set(err, -EINVAL, "%s: must be an object", field);
		goto out;
	}
	for (const char *const *m = misplaced; obj && *m; m++)
		if (json_object_get(obj, *m)) {
			r = errbuf_set(err, -EINVAL, "%s.%s: belongs under %s.progressive (or .all, .progressivePerGroup)",
				       field, *m, field);
			goto out;
		}
	t = obj ? json_object_get(obj, "type") : NULL;
	if (t) {
		ts = json_string_value(t);
		if (!ts || strlen(ts) > WAVE_STRING_MAX) {
			r = errbuf_set(err, -EINVAL, "%s.type: must be All, Progressive or ProgressivePerGroup", field);
			goto out;
		}
		if (!strcmp(ts, "All")) {
			s.type = WAVE_ALL;
		} else if (!strcmp(ts, "Progressive")) {
			s.type = WAVE_PROGRESSIVE;
			pkey = "progressive";
		} else if (!strcmp(ts, "ProgressivePerGroup")) {
			s.type = WAVE_PROGRESSIVE_PER_GROUP;
			pkey = "progressivePerGroup";
		} else {
			r = errbuf_set(err, -EINVAL,
				       "%s.type: Unsupported value: \"%s\": supported values: \"All\", \"Progressive\", "
				       "\"ProgressivePerGroup\"", field, ts);
			goto out;
		}
	}
	/* as OCM: only the object of the chosen type counts */
	params = obj ? json_object_get(obj, pkey) : NULL;
	if (params) {
		snprintf(sub, sizeof(sub), "%.400s.%s", field, pkey);
		if ((r = parse_params(params, sub, s.type, err, &s)) < 0)
			goto out;
	}
	*ret = s;
	memset(&s, 0, sizeof(s));
out:
	wave_strategy_clear(&s);
	return r;
}

/* See wave.h. */
void wave_strategy_clear(struct wave_strategy *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nmandatory; i++)
		free(s->mandatory[i].group_name);
	free(s->mandatory);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------------ */
/* observing a work                                                          */

static bool cond_is(const json_t *c, const char *status)
{
	const char *s = c ? json_string_value(json_object_get(c, "status")) : NULL;

	return s && !strcmp(s, status);
}

static bool is_rollout_manifest(const json_t *m)
{
	const char *k = kobj_kind(m), *av = kobj_api_version(m);

	return k && av && !strcmp(k, "Rollout") && !strncmp(av, "standard.oam.dev/", 17);
}

/* The rollingState feedback of the work's first Rollout that reports one
 * and has not succeeded (else of the first), or NULL. */
static const char *local_state(const json_t *work)
{
	const json_t *m;
	const char *first = NULL;
	size_t pos = 0;

	while ((m = kobj_work_manifest_status(work, "standard.oam.dev", "Rollout", NULL, NULL, &pos))) {
		json_t *fb = kobj_feedback_values(m);
		const char *s = json_string_value(json_object_get(fb, "rollingState"));

		json_decref(fb); /* s stays valid: the work holds the string too */
		if (!s)
			continue;
		if (strcmp(s, "rolloutSucceed"))
			return s;
		if (!first)
			first = s;
	}
	return first;
}

/* See wave.h. */
void wave_observe(const json_t *work, bool reachable, struct wave_observation *ret)
{
	struct wave_observation o = {.reachable = reachable};
	const json_t *gen = kobj_get_path(work, "metadata.generation"), *ms, *m, *og = NULL;
	json_int_t g = json_is_integer(gen) ? json_integer_value(gen) : 1;
	const json_t *avail = kobj_condition(work, "Available"), *applied = kobj_condition(work, "Applied");
	const json_t *degr = kobj_condition(work, "Degraded"), *prog = kobj_condition(work, "Progressing");
	size_t i;

	/* the status describes this generation: Available's (else Applied's)
	 * observedGeneration; a status without one is never fresh */
	if (avail)
		og = json_object_get(avail, "observedGeneration");
	if (!json_is_integer(og) && applied)
		og = json_object_get(applied, "observedGeneration");
	o.fresh = work && json_is_integer(og) && json_integer_value(og) >= g;
	o.available = cond_is(avail, "True");
	if (cond_is(degr, "True")) {
		o.degraded = true;
		o.message = json_string_value(json_object_get(degr, "message"));
	} else if (cond_is(prog, "False")) {
		const char *reason = json_string_value(json_object_get(prog, "reason"));

		if (reason && (strstr(reason, "Fail") || strstr(reason, "Deadline"))) {
			o.degraded = true;
			o.message = json_string_value(json_object_get(prog, "message"));
		}
	}
	ms = kobj_get_path(work, "spec.workload.manifests");
	json_array_foreach(ms, i, m)
		if (is_rollout_manifest(m))
			o.has_local_rollout = true;
	if (o.has_local_rollout)
		o.local_state = local_state(work);
	*ret = o;
}

/* ------------------------------------------------------------------------ */
/* one cluster                                                               */

static bool local_failed(const char *st)
{
	return st && (!strcmp(st, "rolloutFailed") || !strcmp(st, "rollingBack") || !strcmp(st, "rollbackSucceed"));
}

static void set_failed(struct wave_cluster *c, const char *reason, const char *message)
{
	c->state = WAVE_C_FAILED;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	snprintf(c->message, sizeof(c->message), "%s", message ? message : "");
}

/* See wave.h. */
bool wave_cluster_eval(const struct wave_strategy *s, struct wave_cluster *c, const struct wave_observation *o,
		       int64_t now_ms)
{
	struct wave_cluster before = *c;
	bool looks_done;
	char msg[WAVE_CLUSTER_MESSAGE_MAX];

	if (c->state != WAVE_C_UPDATING && c->state != WAVE_C_SOAKING)
		return false;
	/* a stale status says nothing about the change, neither good nor bad */
	if (o->reachable && o->fresh) {
		if (o->has_local_rollout && local_failed(o->local_state)) {
			snprintf(msg, sizeof(msg), "local rollout %s%s%s", o->local_state, o->message ? ": " : "",
				 o->message ? o->message : "");
			set_failed(c, "RolloutFailed", msg);
			goto out;
		}
		if (o->degraded) {
			set_failed(c, "Degraded", o->message ? o->message : "the work is degraded");
			goto out;
		}
	}
	looks_done = o->reachable && o->fresh && o->available && !o->degraded &&
		     (!o->has_local_rollout || (o->local_state && !strcmp(o->local_state, "rolloutSucceed")));
	if (!looks_done) {
		if (c->state == WAVE_C_SOAKING) {
			c->state = WAVE_C_UPDATING;
			c->done_since_ms = 0;
		}
		if (s->progress_deadline_ms > 0 && c->released_ms > 0 &&
		    now_ms - c->released_ms >= s->progress_deadline_ms) {
			snprintf(msg, sizeof(msg), "not done %llds after its release (progressDeadline)%s",
				 (long long)(s->progress_deadline_ms / 1000),
				 !o->reachable ? ": cluster unreachable" : !o->fresh ? ": no status for the change" : "");
			set_failed(c, o->reachable ? "Timeout" : "Unreachable", msg);
		}
		goto out;
	}
	if (c->state == WAVE_C_UPDATING) {
		c->state = WAVE_C_SOAKING;
		c->done_since_ms = now_ms;
	}
	if (now_ms - c->done_since_ms >= s->min_success_ms)
		c->state = WAVE_C_SUCCEEDED;
out:
	return c->state != before.state || c->done_since_ms != before.done_since_ms ||
	       strcmp(c->reason, before.reason) || strcmp(c->message, before.message);
}

/* ------------------------------------------------------------------------ */
/* the wave                                                                  */

static bool finished(enum wave_cstate st)
{
	return st == WAVE_C_SUCCEEDED || st == WAVE_C_FAILED;
}

static int resolve(struct wave_count c, size_t total, bool round_up)
{
	long long v;

	if (!c.percent)
		return c.value;
	v = (long long)total * c.value;
	return (int)(round_up ? (v + 99) / 100 : v / 100);
}

/* The index of the mandatory entry m among the clusters' groups, or -1. */
static int mandatory_group(const struct wave_mandatory *m, const struct wave_cluster *cl, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (m->group_name ? (cl[i].group_name && !strcmp(cl[i].group_name, m->group_name))
				  : cl[i].group == m->group_index)
			return cl[i].group;
	}
	return -1;
}

static void push(struct wave_result *r, size_t i)
{
	r->release[r->nrelease++] = i;
}

/* Release the pending clusters of group g; returns whether g is finished. */
static bool group_step(const struct wave_cluster *cl, size_t n, int g, struct wave_result *r, size_t *ret_total,
		       size_t *ret_done)
{
	size_t i, total = 0, done = 0;

	for (i = 0; i < n; i++) {
		if (cl[i].group != g)
			continue;
		total++;
		if (finished(cl[i].state))
			done++;
		else if (cl[i].state == WAVE_C_PENDING)
			push(r, i);
	}
	*ret_total = total;
	*ret_done = done;
	return done == total;
}

static int ngroups_of(const struct wave_cluster *cl, size_t n, int *ret_largest)
{
	int ngroups = 0, largest = 0, run = 0;
	size_t i;

	/* clusters are in group order: count runs */
	for (i = 0; i < n; i++) {
		if (i == 0 || cl[i].group != cl[i - 1].group) {
			ngroups++;
			run = 0;
		}
		if (++run > largest)
			largest = run;
	}
	*ret_largest = largest;
	return ngroups;
}

/* See wave.h. */
int wave_step(const struct wave_strategy *s, const struct wave_cluster *clusters, size_t n, bool paused,
	      bool aborted, int64_t now_ms, struct wave_result *ret)
{
	struct wave_result r = {.phase = WAVE_PROGRESSING, .current_group = -1};
	const struct wave_cluster *first_fail = NULL, *mand_fail = NULL;
	int budget, largest, ngroups, *mgroups = NULL;
	size_t i, k, nm = 0, total, done;
	bool halted = false;
	int rc = 0;

	(void)now_ms;
	if (!s || (n && !clusters) || n > WAVE_CLUSTERS_MAX) {
		rc = -EINVAL;
		goto out;
	}
	for (i = 1; i < n; i++)
		if (clusters[i].group < clusters[i - 1].group) {
			rc = -EINVAL; /* not in group order */
			goto out;
		}
	r.release = xcalloc(n ? n : 1, sizeof(*r.release));
	/* the mandatory groups that exist, in order, once each */
	mgroups = xcalloc(s->nmandatory ? s->nmandatory : 1, sizeof(*mgroups));
	for (k = 0; k < s->nmandatory && s->type != WAVE_ALL; k++) {
		int g = mandatory_group(&s->mandatory[k], clusters, n);
		size_t j;

		for (j = 0; j < nm && mgroups[j] != g; j++)
			;
		if (g >= 0 && j == nm)
			mgroups[nm++] = g;
	}
	for (i = 0; i < n; i++) {
		const struct wave_cluster *c = &clusters[i];

		switch (c->state) {
		case WAVE_C_SUCCEEDED:
			r.succeeded++;
			break;
		case WAVE_C_FAILED:
			r.failed++;
			if (!first_fail)
				first_fail = c;
			for (k = 0; k < nm; k++)
				if (c->group == mgroups[k] && !mand_fail)
					mand_fail = c;
			break;
		case WAVE_C_PENDING:
			r.pending++;
			break;
		case WAVE_C_UPDATING:
		case WAVE_C_SOAKING:
			r.updating++;
			if (c->state == WAVE_C_SOAKING && (!r.next_wake_ms || c->done_since_ms + s->min_success_ms <
										r.next_wake_ms))
				r.next_wake_ms = c->done_since_ms + s->min_success_ms;
			if (c->state == WAVE_C_UPDATING && s->progress_deadline_ms > 0 && c->released_ms > 0 &&
			    (!r.next_wake_ms || c->released_ms + s->progress_deadline_ms < r.next_wake_ms))
				r.next_wake_ms = c->released_ms + s->progress_deadline_ms;
			break;
		}
	}
	budget = resolve(s->max_failures, n, false);
	if (mand_fail) {
		halted = true;
		snprintf(r.message, sizeof(r.message), "halted: a failure in mandatory group %d (%.64s: %.48s)",
			 mand_fail->group, mand_fail->name ? mand_fail->name : "?", mand_fail->reason);
	} else if ((long long)r.failed > budget) {
		halted = true;
		snprintf(r.message, sizeof(r.message), "halted: %zu failure%s > maxFailures %d (%.64s: %.48s)", r.failed,
			 r.failed == 1 ? "" : "s", budget, first_fail->name ? first_fail->name : "?", first_fail->reason);
	}
	if (aborted) {
		r.phase = WAVE_ABORTED;
		snprintf(r.message, sizeof(r.message), "aborted: %zu of %zu clusters done, %zu not released",
			 r.succeeded, n, r.pending);
		goto done;
	}
	if (halted) {
		r.phase = WAVE_HALTED;
		goto done;
	}
	if (r.succeeded + r.failed == n) {
		r.phase = WAVE_SUCCEEDED;
		snprintf(r.message, sizeof(r.message), "%zu of %zu clusters done%s", r.succeeded, n,
			 r.failed ? " (failures within maxFailures)" : "");
		goto done;
	}
	if (paused) {
		r.phase = WAVE_PAUSED;
		snprintf(r.message, sizeof(r.message), "paused: %zu of %zu clusters done, %zu in progress", r.succeeded,
			 n, r.updating);
		goto done;
	}
	/* mandatory groups first, one at a time, in order */
	for (k = 0; k < nm; k++) {
		if (group_step(clusters, n, mgroups[k], &r, &total, &done))
			continue;
		r.current_group = mgroups[k];
		snprintf(r.message, sizeof(r.message), "mandatory group %d: %zu of %zu clusters done", mgroups[k], done,
			 total);
		goto done;
	}
	ngroups = ngroups_of(clusters, n, &largest);
	switch (s->type) {
	case WAVE_ALL:
		for (i = 0; i < n; i++)
			if (clusters[i].state == WAVE_C_PENDING)
				push(&r, i);
		snprintf(r.message, sizeof(r.message), "all clusters at once: %zu of %zu done", r.succeeded, n);
		break;
	case WAVE_PROGRESSIVE: {
		int limit = s->max_concurrency.value == 0 && !s->max_concurrency.percent
				    ? (ngroups > 1 ? largest : (int)n)
				    : resolve(s->max_concurrency, n, true);
		size_t inflight = r.updating;

		if (limit < 1)
			limit = 1;
		for (i = 0; i < n && inflight < (size_t)limit; i++)
			if (clusters[i].state == WAVE_C_PENDING) {
				push(&r, i);
				inflight++;
			}
		snprintf(r.message, sizeof(r.message), "%zu of %zu clusters done, %zu in progress (maxConcurrency %d)",
			 r.succeeded, n, inflight, limit);
		break;
	}
	case WAVE_PROGRESSIVE_PER_GROUP:
		for (i = 0; i < n; i++) {
			int g = clusters[i].group, runs = 0;
			size_t j;

			if (finished(clusters[i].state))
				continue;
			group_step(clusters, n, g, &r, &total, &done);
			r.current_group = g;
			for (j = 0; j <= i; j++)
				if (j == 0 || clusters[j].group != clusters[j - 1].group)
					runs++;
			snprintf(r.message, sizeof(r.message), "group %d of %d%s%.64s: %zu of %zu clusters done", runs,
				 ngroups, clusters[i].group_name ? " " : "",
				 clusters[i].group_name ? clusters[i].group_name : "", done, total);
			break;
		}
		break;
	}
done:
	*ret = r;
	memset(&r, 0, sizeof(r));
out:
	free(mgroups);
	wave_result_clear(&r);
	return rc;
}

/* See wave.h. */
void wave_result_clear(struct wave_result *r)
{
	if (!r)
		return;
	free(r->release);
	r->release = NULL;
	r->nrelease = 0;
}
