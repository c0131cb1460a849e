/* app_rollout.c - the "nave-rollout" policy: a deploy step that releases
 * its clusters in waves (issue #9, the hub's half, for Applications).
 *
 * The policy's properties are a rolloutStrategy (wave.h) plus Nave's
 * decision groups, as Placement's decisionStrategy.groupStrategy:
 *   decisionGroups[]          {groupName, groupClusterSelector} (at most
 *                             APP_ROLLOUT_GROUPS_MAX); a cluster belongs to
 *                             the first group whose selector matches it
 *   clustersPerDecisionGroup  int or "N%" of the step's clusters (default
 *                             100%): every group (and the clusters no group
 *                             matches, last) is cut into groups of that size
 * The step's clusters in group order (group index, then name) form the
 * wave; wave.c decides which are released. app_workflow.c writes the new
 * content only to released clusters; the others keep their work as it is.
 *
 * State: the Application's status.rollout (docs/rollouts.md "Across
 * clusters"), so a restarted hub resumes. A new revision of the
 * Application (a change, a rollback) starts a new wave at its deploy step.
 * Everything runs on the hub's loop; nothing here calls out but kapi.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "kobj.h"
#include "log.h"
#include "selector.h"
#include "timefmt.h"
#include "wave.h"

static const char *sget(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static int64_t time_of(const json_t *o, const char *k)
{
	int64_t us = 0;
	const char *s = json_string_value(json_object_get(o, k));

	if (!s || time_parse_rfc3339(s, &us) < 0)
		return 0;
	return us / 1000;
}

static void set_time(json_t *o, const char *k, int64_t ms)
{
	char buf[TIMEFMT_MAX];

	if (ms > 0)
		json_object_set_new(o, k, json_string(time_format_micro(ms * 1000, buf)));
	else
		json_object_del(o, k);
}

static const char *type_name(enum wave_type t)
{
	return t == WAVE_ALL ? "All" : t == WAVE_PROGRESSIVE ? "Progressive" : "ProgressivePerGroup";
}

/* clustersPerDecisionGroup: an int 1.. or "N%" 1..100. */
static int per_group(const json_t *props, const char *field, struct errbuf *err, struct wave_count *ret)
{
	const json_t *v = json_object_get(props, "clustersPerDecisionGroup");
	const char *s = json_string_value(v);
	struct wave_count c = {100, true};

	if (v) {
		long n = 0;
		size_t i, len = s ? strlen(s) : 0;

		if (json_is_integer(v)) {
			if (json_integer_value(v) < 1 || json_integer_value(v) > WAVE_CLUSTERS_MAX)
				goto bad;
			c.value = (int)json_integer_value(v);
			c.percent = false;
		} else if (s && len >= 2 && len <= 4 && s[len - 1] == '%') {
			for (i = 0; i + 1 < len; i++) {
				if (s[i] < '0' || s[i] > '9')
					goto bad;
				n = n * 10 + (s[i] - '0');
			}
			if (n < 1 || n > 100)
				goto bad;
			c.value = (int)n;
		} else {
			goto bad;
		}
	}
	*ret = c;
	return 0;
bad:
	return errbuf_set(err, -EINVAL,
			  "%s.clustersPerDecisionGroup: Invalid value: must be an integer 1..%d or a percentage "
			  "\"1%%\"..\"100%%\"", field, WAVE_CLUSTERS_MAX);
}

/* See app_int.h. */
int app_rollout_check(const json_t *props, const char *field, struct errbuf *err)
{
	struct wave_strategy s;
	struct wave_count per;
	const json_t *groups = json_object_get(props, "decisionGroups"), *g;
	char f[400];
	size_t i, j;
	int r;

	if ((r = wave_strategy_parse(props, field, err, &s)) < 0)
		return r;
	wave_strategy_clear(&s);
	if ((r = per_group(props, field, err, &per)) < 0)
		return r;
	if (!groups)
		return 0;
	if (!json_is_array(groups))
		return errbuf_set(err, -EINVAL, "%s.decisionGroups: must be a list", field);
	if (json_array_size(groups) > APP_ROLLOUT_GROUPS_MAX)
		return errbuf_set(err, -EINVAL, "%s.decisionGroups: Too many: %zu: must have at most %d", field,
				  json_array_size(groups), APP_ROLLOUT_GROUPS_MAX);
	json_array_foreach(groups, i, g) {
		const json_t *name = json_object_get(g, "groupName"), *sel = json_object_get(g, "groupClusterSelector");
		struct label_selector *ls = NULL;
		const char *key;
		json_t *v;

		snprintf(f, sizeof(f), "%.300s.decisionGroups[%zu]", field, i);
		if (!json_is_object(g))
			return errbuf_set(err, -EINVAL, "%s: must be an object {groupName, groupClusterSelector}", f);
		json_object_foreach((json_t *)g, key, v)
			if (strcmp(key, "groupName") && strcmp(key, "groupClusterSelector"))
				return errbuf_set(err, -EINVAL,
						  "%s.%.64s: unknown field (groupName, groupClusterSelector)", f, key);
		if (!json_is_string(name) || !*json_string_value(name) || strlen(json_string_value(name)) > 253)
			return errbuf_set(err, -EINVAL, "%s.groupName: required: a string of 1..253 bytes", f);
		for (j = 0; j < i; j++)
			if (!strcmp(sget(json_array_get(groups, j), "groupName"), json_string_value(name)))
				return errbuf_set(err, -EINVAL, "%s.groupName: Duplicate value: \"%s\"", f,
						  json_string_value(name));
		if (!json_is_object(sel))
			return errbuf_set(err, -EINVAL, "%s.groupClusterSelector: required: a label selector "
					  "{matchLabels, matchExpressions}", f);
		if ((r = label_selector_from_json(sel, err, &ls)) < 0) {
			errbuf_prefix(err, "%s.groupClusterSelector", f);
			return r;
		}
		label_selector_free(ls);
	}
	return 0;
}

/* See app_int.h. */
int app_rollout_policy(const struct app_spec *spec, const struct app_step *s)
{
	if (s->kind != APP_STEP_DEPLOY)
		return -1;
	for (size_t k = 0; k < s->npolicies; k++)
		if (spec->policies[s->policies[k]].kind == APP_POLICY_ROLLOUT)
			return (int)s->policies[k];
	return -1;
}

/* See app_int.h. */
json_t *app_rollout_released(const json_t *status, const char *step, const char *rev)
{
	const json_t *ro = json_object_get(status, "rollout"), *c;
	json_t *out = json_object();
	size_t i;

	if (strcmp(sget(ro, "step"), step) || strcmp(sget(ro, "revision"), rev))
		return out;
	json_array_foreach(json_object_get(ro, "clusters"), i, c)
		if (*sget(c, "name") && strcmp(sget(c, "state"), "Pending"))
			json_object_set_new(out, sget(c, "name"), json_true());
	return out;
}

/* ------------------------------------------------------------------------ */
/* grouping                                                                  */

struct member {
	const char *name;       /* borrowed */
	int group;
	const char *group_name; /* borrowed from the policy, or NULL */
	int decl;               /* matched declared group, or -1 */
};

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Assign groups to m[0..n) (names sorted): declared groups first, each cut
 * into chunks of per, then the rest. */
static void assign_groups(struct app_ctl *ctl, const json_t *props, struct member *m, size_t n)
{
	const json_t *groups = json_object_get(props, "decisionGroups"), *g;
	struct wave_count per = {100, true};
	size_t i, k, size, ndecl = json_array_size(groups);
	int next = 0;

	per_group(props, "", NULL, &per);
	size = per.percent ? ((size_t)per.value * n + 99) / 100 : (size_t)per.value;
	if (size < 1)
		size = 1;
	for (i = 0; i < n; i++) {
		m[i].decl = -1;
		json_array_foreach(groups, k, g) {
			struct label_selector *ls = NULL;
			const json_t *labels = app_cluster_labels(ctl, m[i].name);
			bool match;

			if (label_selector_from_json(json_object_get(g, "groupClusterSelector"), NULL, &ls) < 0)
				continue;
			match = label_selector_matches(ls, labels ? labels : ctl->empty);
			label_selector_free(ls);
			if (match) {
				m[i].decl = (int)k;
				break;
			}
		}
	}
	for (k = 0; k <= ndecl; k++) {
		int want = k < ndecl ? (int)k : -1;
		size_t count = 0;

		for (i = 0; i < n; i++) {
			if (m[i].decl != want)
				continue;
			if (count && count % size == 0)
				next++;
			m[i].group = next;
			m[i].group_name = want >= 0 ? sget(json_array_get(groups, (size_t)want), "groupName") : NULL;
			count++;
		}
		if (count)
			next++;
	}
	qsort(m, n, sizeof(*m), member_cmp);
}

/* ------------------------------------------------------------------------ */
/* one evaluation                                                            */

/* The local rollout's feedback of the work: {state, currentBatch,
 * numBatches, message} or NULL. */
static json_t *local_rollout(const json_t *work)
{
	static const char *const keys[] = {"rollingState", "message", "reason", "currentBatch", "numBatches",
					   "upgradedReadyReplicas", "targetSize"};
	size_t pos = 0, k;
	const json_t *m = kobj_work_manifest_status(work, "standard.oam.dev", "Rollout", NULL, NULL, &pos);
	json_t *fb, *out;

	if (!m)
		return NULL;
	fb = kobj_feedback_values(m);
	out = json_pack("{s:s}", "name", sget(json_object_get(m, "resourceMeta"), "name"));
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		json_t *v = json_object_get(fb, keys[k]);

		if (v)
			json_object_set(out, k == 0 ? "state" : keys[k], v);
	}
	json_decref(fb);
	return out;
}

/* See app_int.h. */
int app_rollout_run(struct app_ctl *ctl, struct app_state *st, json_t *status, const struct app_spec *spec,
		    size_t step, const char *rev, const json_t *clusters, app_rollout_check_fn check, void *data,
		    int64_t now_ms, struct app_rollout_out *ret)
{
	const struct app_step *s = &spec->steps[step];
	int pi = app_rollout_policy(spec, s);
	const json_t *props = pi >= 0 ? spec->policies[pi].properties : NULL;
	struct app_rollout_out out = {.phase = WAVE_PROGRESSING};
	struct wave_strategy strat = {0};
	struct wave_result res = {0};
	struct wave_cluster *wc = NULL;
	struct member *m = NULL;
	json_t *ro, *old, *cl, *x;
	struct errbuf err = {""};
	size_t i, n = 0;
	bool paused, aborted;
	int r;

	if (pi < 0)
		return -EINVAL;
	if ((r = wave_strategy_parse(props, "properties", &err, &strat)) < 0) {
		/* policy names are DNS labels (<= 63); the message keeps what fits */
		snprintf(out.message, sizeof(out.message), "policy %.63s: %.180s", spec->policies[pi].name, err.msg);
		out.phase = WAVE_HALTED;
		*ret = out;
		return 0;
	}
	old = json_object_get(status, "rollout");
	if (!json_is_object(old) || strcmp(sget(old, "step"), s->name) || strcmp(sget(old, "revision"), rev)) {
		char now[TIMEFMT_MAX];

		/* a new wave: pause carries over, abort does not */
		ro = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:[]}", "step", s->name, "policy",
			       spec->policies[pi].name, "revision", rev, "phase", "Progressing", "paused",
			       json_is_true(json_object_get(old, "paused")), "aborted", 0, "startTime",
			       time_format_micro(now_ms * 1000, now), "clusters");
		if (json_is_object(old))
			log_info("application %s/%s: a new wave for %s at step %s", st->ns, st->name, rev, s->name);
	} else {
		ro = json_deep_copy(old);
	}
	paused = json_is_true(json_object_get(ro, "paused"));
	aborted = json_is_true(json_object_get(ro, "aborted"));
	/* the members, in group order */
	m = xcalloc(json_array_size(clusters) + 1, sizeof(*m));
	json_array_foreach(clusters, i, x)
		m[n++].name = json_string_value(x);
	assign_groups(ctl, props, m, n);
	wc = xcalloc(n + 1, sizeof(*wc));
	for (i = 0; i < n; i++) {
		const json_t *prev = NULL, *c;
		size_t k;

		json_array_foreach(json_object_get(ro, "clusters"), k, c)
			if (!strcmp(sget(c, "name"), m[i].name))
				prev = c;
		wc[i].name = m[i].name;
		wc[i].group = m[i].group;
		wc[i].group_name = m[i].group_name;
		wc[i].state = WAVE_C_PENDING;
		if (prev) {
			if (wave_cstate_parse(sget(prev, "state"), &wc[i].state) < 0)
				wc[i].state = WAVE_C_PENDING;
			wc[i].released_ms = time_of(prev, "releasedTime");
			wc[i].done_since_ms = time_of(prev, "doneSince");
			snprintf(wc[i].reason, sizeof(wc[i].reason), "%s", sget(prev, "reason"));
			snprintf(wc[i].message, sizeof(wc[i].message), "%s", sget(prev, "message"));
		}
		if (wc[i].state != WAVE_C_PENDING && wc[i].state != WAVE_C_FAILED) {
			struct wave_observation o;
			bool uptodate = false, healthy = false;

			wave_observe(json_object_get(st->works, m[i].name), app_cluster_available(ctl, m[i].name), &o);
			check(data, m[i].name, &uptodate, &healthy);
			/* the work must hold this revision's content, and the
			 * components must be healthy as well as Available */
			o.fresh = o.fresh && uptodate;
			o.available = o.available && healthy;
			wave_cluster_eval(&strat, &wc[i], &o, now_ms);
		}
	}
	if ((r = wave_step(&strat, wc, n, paused, aborted, now_ms, &res)) < 0)
		goto out;
	for (i = 0; i < res.nrelease; i++) {
		wc[res.release[i]].state = WAVE_C_UPDATING;
		wc[res.release[i]].released_ms = now_ms;
		out.released = true;
	}
	cl = json_array();
	for (i = 0; i < n; i++) {
		const json_t *work = json_object_get(st->works, wc[i].name);
		const char *wrev = work ? kobj_annotation(work, APP_ANNOT_WORK_REVISION) : NULL;
		json_t *e = json_pack("{s:s, s:i, s:s}", "name", wc[i].name, "group", wc[i].group, "state",
				      wave_cstate_name(wc[i].state)), *lr;

		if (wc[i].group_name)
			json_object_set_new(e, "groupName", json_string(wc[i].group_name));
		set_time(e, "releasedTime", wc[i].released_ms);
		set_time(e, "doneSince", wc[i].done_since_ms);
		if (wc[i].reason[0])
			json_object_set_new(e, "reason", json_string(wc[i].reason));
		if (wc[i].message[0])
			json_object_set_new(e, "message", json_string(wc[i].message));
		json_object_set_new(e, "revision", json_string(wrev ? wrev : ""));
		json_object_set_new(e, "reachable", json_boolean(app_cluster_available(ctl, wc[i].name)));
		if (work && (lr = local_rollout(work)))
			json_object_set_new(e, "localRollout", lr);
		json_array_append_new(cl, e);
	}
	json_object_set_new(ro, "clusters", cl);
	json_object_set_new(ro, "type", json_string(type_name(strat.type)));
	json_object_set_new(ro, "phase", json_string(wave_phase_name(res.phase)));
	json_object_set_new(ro, "currentGroup", json_integer(res.current_group));
	json_object_set_new(ro, "message", json_string(res.message));
	json_object_set_new(ro, "summary",
			    json_pack("{s:I, s:I, s:I, s:I, s:I}", "total", (json_int_t)n, "succeeded",
				      (json_int_t)res.succeeded, "failed", (json_int_t)res.failed, "updating",
				      (json_int_t)(res.updating + res.nrelease), "pending",
				      (json_int_t)(res.pending - res.nrelease)));
	json_object_set_new(status, "rollout", ro);
	ro = NULL;
	out.phase = res.phase;
	out.next_wake_ms = res.next_wake_ms;
	snprintf(out.message, sizeof(out.message), "%s", res.message);
	*ret = out;
out:
	json_decref(ro);
	wave_result_clear(&res);
	wave_strategy_clear(&strat);
	free(wc);
	free(m);
	return r;
}

/* See app_int.h. */
int app_rollout_action(struct app_ctl *ctl, const json_t *app, const char *action, struct errbuf *err)
{
	json_t *status = json_deep_copy(json_object_get(app, "status")), *ro;
	const char *ph;
	int r = 0;

	ro = json_object_get(status, "rollout");
	if (!json_is_object(ro)) {
		r = errbuf_set(err, -EBUSY, "application %s has no rollout (no deploy step with a nave-rollout policy "
			       "has run)", kobj_name(app));
		goto out;
	}
	ph = sget(ro, "phase");
	if (!strcmp(action, "pause")) {
		if (json_is_true(json_object_get(ro, "paused"))) {
			r = errbuf_set(err, -EBUSY, "the rollout of application %s is already paused", kobj_name(app));
			goto out;
		}
		json_object_set_new(ro, "paused", json_true());
	} else if (!strcmp(action, "resume")) {
		if (!json_is_true(json_object_get(ro, "paused"))) {
			r = errbuf_set(err, -EBUSY, "the rollout of application %s is not paused (phase: %s)",
				       kobj_name(app), ph);
			goto out;
		}
		json_object_set_new(ro, "paused", json_false());
	} else if (!strcmp(action, "abort")) {
		if (json_is_true(json_object_get(ro, "aborted")) || !strcmp(ph, "Succeeded") || !strcmp(ph, "Halted")) {
			r = errbuf_set(err, -EBUSY, "the rollout of application %s has ended (phase: %s)", kobj_name(app),
				       ph);
			goto out;
		}
		json_object_set_new(ro, "aborted", json_true());
	} else {
		r = errbuf_set(err, -ENOENT, "unknown rollout action \"%s\" (status, pause, resume, abort, rollback)",
			       action);
		goto out;
	}
	if ((r = app_status_write(ctl, app, status)) < 0) {
		errbuf_set(err, r, "cannot write the application's status");
		goto out;
	}
	r = 0;
	log_info("application %s/%s: rollout %s", kobj_namespace(app), kobj_name(app), action);
	app_mark_dirty(ctl, app_state_get(ctl, kobj_namespace(app), kobj_name(app)));
out:
	json_decref(status);
	return r;
}
