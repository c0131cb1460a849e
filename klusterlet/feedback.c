/* feedback.c - a work's status: per-manifest conditions and feedback
 * values, and the work's conditions, as a ManifestBundleStatus.
 *
 * Per manifest (resourceStatus.manifests[], by ordinal):
 *   Applied               True AppliedManifestComplete, or False with why
 *   Available             True ResourceAvailable (the object exists), False
 *                         ResourceNotAvailable, Unknown FetchingResourceFailed
 *   StatusFeedbackSynced  True StatusFeedbackSynced (NoStatusFeedbackSynced
 *                         without rules), False StatusFeedbackSyncFailed
 *   condition rules       WellKnownConditions "Complete" for Jobs and Pods;
 *                         other conditions and CEL report Unknown, naming
 *                         what this agent does not evaluate
 *   statusFeedback.values WellKnownStatus (OCM's Deployment, Job and Pod
 *                         values, plus Nave's StatefulSet and DaemonSet) and
 *                         JSONPaths rules (common/jsonpath.h); scalars as
 *                         Integer/String/Boolean, anything else as JsonRaw of
 *                         at most 1024 bytes (OCM's cap)
 * Per work: Applied, Available, Progressing (a manifest not applied yet, or a
 * workload still rolling out), Degraded (an apply failed, a Deployment past
 * its progress deadline, a failed Job), and Complete when condition rules
 * ask for it.
 *
 * lastTransitionTime changes only when a condition's status does (kept per
 * condition in w->transitions), so a status that did not change hashes the
 * same and is not reported again.
 */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "jsonpath.h"
#include "kobj.h"
#include "log.h"
#include "rollout_plan.h"
#include "timefmt.h"

#define FEEDBACK_MAX_VALUES 64       /* proto max_feedback_values */
#define FEEDBACK_MAX_VALUE_BYTES 1024/* proto max_feedback_value_bytes, OCM's JsonRaw cap */
#define FEEDBACK_MAX_CONDITIONS 32   /* proto max_conditions */
/* Feedback values of all manifests of a work together, as compact JSON: the
 * status must fit one event (1 MiB) with its conditions; past this budget the
 * remaining manifests report StatusFeedbackSynced False instead of values. */
#define FEEDBACK_BUDGET_BYTES (512u << 10)

struct known_path {
	const char *name;
	const char *path;
};

struct known_rule {
	const char *group;
	const char *kind;
	const struct known_path *paths;
};

static const struct known_path deployment_paths[] = {
	{"ReadyReplicas", ".status.readyReplicas"},
	{"Replicas", ".status.replicas"},
	{"AvailableReplicas", ".status.availableReplicas"},
	{NULL, NULL},
};

static const struct known_path job_paths[] = {
	{"JobComplete", ".status.conditions[?(@.type==\"Complete\")].status"},
	{"JobSucceeded", ".status.succeeded"},
	{NULL, NULL},
};

static const struct known_path pod_paths[] = {
	{"PodReady", ".status.conditions[?(@.type==\"Ready\")].status"},
	{"PodPhase", ".status.phase"},
	{NULL, NULL},
};

/* Nave's additions (OCM has none for these kinds). */
static const struct known_path statefulset_paths[] = {
	{"ReadyReplicas", ".status.readyReplicas"},
	{"Replicas", ".status.replicas"},
	{"AvailableReplicas", ".status.availableReplicas"},
	{"CurrentReplicas", ".status.currentReplicas"},
	{"UpdatedReplicas", ".status.updatedReplicas"},
	{NULL, NULL},
};

static const struct known_path daemonset_paths[] = {
	{"DesiredNumberScheduled", ".status.desiredNumberScheduled"},
	{"CurrentNumberScheduled", ".status.currentNumberScheduled"},
	{"NumberReady", ".status.numberReady"},
	{"NumberAvailable", ".status.numberAvailable"},
	{"UpdatedNumberScheduled", ".status.updatedNumberScheduled"},
	{NULL, NULL},
};

static const struct known_rule known_rules[] = {
	{"apps", "Deployment", deployment_paths},
	{"batch", "Job", job_paths},
	{"", "Pod", pod_paths},
	{"apps", "StatefulSet", statefulset_paths},
	{"apps", "DaemonSet", daemonset_paths},
};

static const struct known_path *known_paths(const char *group, const char *kind)
{
	size_t i;

	for (i = 0; i < sizeof(known_rules) / sizeof(known_rules[0]); i++) {
		if (!strcmp(known_rules[i].group, group) && !strcmp(known_rules[i].kind, kind))
			return known_rules[i].paths;
	}
	return NULL;
}

static void add_err(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_err(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (b->len)
		buf_puts(b, "; ");
	buf_puts(b, tmp);
}

/* One value by one path, appended to values; errors into errs. */
static void value_by_path(json_t *values, const json_t *obj, const char *name, const char *path,
			  struct buf *errs)
{
	struct jsonpath *jp = NULL;
	struct errbuf eb = {{0}};
	json_t *res = NULL, *v, *fv = NULL;
	char *text = NULL;

	if (json_array_size(values) >= FEEDBACK_MAX_VALUES) {
		add_err(errs, "%s: more than %d feedback values", name, FEEDBACK_MAX_VALUES);
		return;
	}
	if (jsonpath_compile(path, &eb, &jp) < 0) {
		add_err(errs, "%s: path %s: %s", name, path, eb.msg);
		return;
	}
	if (jsonpath_eval(jp, obj, &res) < 0) {
		add_err(errs, "%s: path %s: too many results", name, path);
		goto out;
	}
	if (json_array_size(res) == 0)
		goto out; /* missing: no value, as OCM */
	v = json_array_size(res) == 1 ? json_array_get(res, 0) : res;
	if (json_is_null(v))
		goto out;
	if (json_is_integer(v)) {
		fv = proto_feedback_integer(name, json_integer_value(v));
	} else if (json_is_boolean(v)) {
		fv = proto_feedback_boolean(name, json_is_true(v));
	} else if (json_is_string(v)) {
		if (json_string_length(v) > FEEDBACK_MAX_VALUE_BYTES)
			add_err(errs, "%s: the string value is longer than %d bytes", name, FEEDBACK_MAX_VALUE_BYTES);
		else
			fv = proto_feedback_string(name, json_string_value(v));
	} else {
		text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text || strlen(text) > FEEDBACK_MAX_VALUE_BYTES)
			add_err(errs, "%s: the JSON value is longer than %d bytes", name, FEEDBACK_MAX_VALUE_BYTES);
		else
			fv = proto_feedback_json_raw(name, text);
	}
	if (fv)
		json_array_append_new(values, fv);
out:
	free(text);
	json_decref(res);
	jsonpath_free(jp);
}

json_t *feedback_values(const json_t *obj, const char *group, const char *version, const char *kind,
			const json_t *rules, char **ret_err)
{
	json_t *values = json_array(), *rule, *jp;
	struct buf errs;
	size_t i, j;

	buf_init(&errs, 8192);
	json_array_foreach(rules, i, rule) {
		const char *type = json_string_value(json_object_get(rule, "type"));

		if (type && !strcmp(type, "WellKnownStatus")) {
			const struct known_path *p = known_paths(group, kind);

			if (!p || strcmp(version, "v1")) {
				add_err(&errs, "no well-known status for %s%s%s/%s", group, *group ? "/" : "", version,
					kind);
				continue;
			}
			for (; p->name; p++)
				value_by_path(values, obj, p->name, p->path, &errs);
		} else if (type && !strcmp(type, "JSONPaths")) {
			json_array_foreach(json_object_get(rule, "jsonPaths"), j, jp) {
				const char *name = json_string_value(json_object_get(jp, "name"));
				const char *path = json_string_value(json_object_get(jp, "path"));
				const char *ver = json_string_value(json_object_get(jp, "version"));

				if (!name || !path)
					continue;
				if (ver && *ver && strcmp(ver, version)) {
					add_err(&errs, "%s: version %s does not match the resource's %s", name, ver, version);
					continue;
				}
				value_by_path(values, obj, name, path, &errs);
			}
		}
	}
	*ret_err = errs.len ? buf_steal(&errs, NULL) : NULL;
	buf_free(&errs);
	return values;
}

/* ---------------------------------------------------------------------- */
/* conditions with stable transition times                                 */
/* ---------------------------------------------------------------------- */

struct status_ctx {
	struct work *w;
	json_t *old;     /* previous transitions (borrowed) */
	json_t *now;     /* new transitions (owned by the work afterwards) */
	int64_t now_us;
};

static json_t *cond(struct status_ctx *c, const char *key, const char *type, const char *status,
		    const char *reason, const char *message, int64_t gen)
{
	json_t *prev = json_object_get(c->old, key);
	int64_t t = c->now_us;

	if (json_is_array(prev) && !strcmp(eng_or(json_string_value(json_array_get(prev, 0)), ""), status))
		t = json_integer_value(json_array_get(prev, 1));
	json_object_set_new(c->now, key, json_pack("[s, I]", status, (json_int_t)t));
	return proto_condition(type, status, reason, message, gen, t);
}

/* Whether a workload is still rolling out (1), done (0) or failed (-1). */
static int workload_progress(const struct manifest *m, const char **ret_why)
{
	const json_t *o = m->live;
	const char *kind = m->map.kind;
	json_int_t gen, obs, want, have;
	json_t *c;
	size_t i;

	if (!o || !m->mapped || (strcmp(m->map.group, "apps") && strcmp(m->map.group, "batch")))
		return 0;
	gen = json_integer_value(kobj_get_path(o, "metadata.generation"));
	obs = json_integer_value(kobj_get_path(o, "status.observedGeneration"));
	if (!strcmp(kind, "Deployment")) {
		json_array_foreach(kobj_get_path(o, "status.conditions"), i, c) {
			if (!strcmp(eng_or(json_string_value(json_object_get(c, "type")), ""), "Progressing") &&
			    !strcmp(eng_or(json_string_value(json_object_get(c, "reason")), ""), "ProgressDeadlineExceeded")) {
				*ret_why = "ProgressDeadlineExceeded";
				return -1;
			}
		}
		want = kobj_get_path(o, "spec.replicas") ? json_integer_value(kobj_get_path(o, "spec.replicas")) : 1;
		have = json_integer_value(kobj_get_path(o, "status.availableReplicas"));
		if (obs < gen || have < want ||
		    json_integer_value(kobj_get_path(o, "status.updatedReplicas")) < want) {
			*ret_why = "Deployment rolling out";
			return 1;
		}
	} else if (!strcmp(kind, "StatefulSet")) {
		want = kobj_get_path(o, "spec.replicas") ? json_integer_value(kobj_get_path(o, "spec.replicas")) : 1;
		have = json_integer_value(kobj_get_path(o, "status.readyReplicas"));
		if (obs < gen || have < want) {
			*ret_why = "StatefulSet rolling out";
			return 1;
		}
	} else if (!strcmp(kind, "DaemonSet")) {
		want = json_integer_value(kobj_get_path(o, "status.desiredNumberScheduled"));
		have = json_integer_value(kobj_get_path(o, "status.numberReady"));
		if (obs < gen || have < want ||
		    json_integer_value(kobj_get_path(o, "status.updatedNumberScheduled")) < want) {
			*ret_why = "DaemonSet rolling out";
			return 1;
		}
	} else if (!strcmp(kind, "Job")) {
		bool complete = false;

		json_array_foreach(kobj_get_path(o, "status.conditions"), i, c) {
			const char *type = eng_or(json_string_value(json_object_get(c, "type")), "");

			if (strcmp(eng_or(json_string_value(json_object_get(c, "status")), ""), "True"))
				continue;
			if (!strcmp(type, "Failed")) {
				*ret_why = "Job failed";
				return -1;
			}
			complete |= !strcmp(type, "Complete");
		}
		/* Still running: progressing, so its completion is read back
		 * within a second or two rather than at the next 30 s re-check. */
		if (!complete) {
			*ret_why = "Job running";
			return 1;
		}
	}
	return 0;
}

static bool has_true_condition(const json_t *o, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(kobj_get_path(o, "status.conditions"), i, c) {
		if (!strcmp(eng_or(json_string_value(json_object_get(c, "type")), ""), type) &&
		    !strcmp(eng_or(json_string_value(json_object_get(c, "status")), ""), "True"))
			return true;
	}
	return false;
}

/* Evaluate the condition rules of m into conds; returns how many "Complete"
 * rules there are (and whether all are met through *ret_complete). */
static int condition_rules(struct status_ctx *c, struct manifest *m, size_t idx, json_t *conds,
			   bool *ret_complete)
{
	json_t *rules = json_object_get(m->config, "conditionRules"), *rule;
	char key[64];
	size_t i;
	int ncomplete = 0;
	bool complete = true;

	json_array_foreach(rules, i, rule) {
		const char *type = eng_or(json_string_value(json_object_get(rule, "type")), "");
		const char *condition = eng_or(json_string_value(json_object_get(rule, "condition")), "");
		const char *msg = json_string_value(json_object_get(rule, "message"));
		const char *status = "Unknown", *reason = "NotEvaluated";
		char *text = NULL;

		snprintf(key, sizeof(key), "m%zu:r%zu", idx, i);
		if (!strcmp(type, "CEL")) {
			reason = "CELNotSupported";
			text = xasprintf("conditionRules[%zu]: CEL expressions are not evaluated by this agent", i);
		} else if (!strcmp(condition, "Complete")) {
			const char *kind = m->mapped ? m->map.kind : "";

			ncomplete++;
			if (!m->live) {
				reason = "ResourceNotAvailable";
				complete = false;
			} else if (!strcmp(kind, "Job") && !strcmp(m->map.group, "batch")) {
				bool done = has_true_condition(m->live, "Complete") || has_true_condition(m->live, "Failed");

				status = done ? "True" : "False";
				reason = done ? "JobComplete" : "JobNotComplete";
				complete = complete && done;
			} else if (!strcmp(kind, "Pod") && !*m->map.group) {
				const char *ph = eng_or(json_string_value(kobj_get_path(m->live, "status.phase")), "");
				bool done = !strcmp(ph, "Succeeded") || !strcmp(ph, "Failed");

				status = done ? "True" : "False";
				reason = done ? "PodComplete" : "PodNotComplete";
				complete = complete && done;
			} else {
				reason = "NoWellKnownCondition";
				text = xasprintf("conditionRules[%zu]: no well-known Complete condition for kind %s", i,
						 kind);
				complete = false;
			}
		} else {
			reason = "NoWellKnownCondition";
			text = xasprintf("conditionRules[%zu]: no well-known condition %s", i, condition);
		}
		json_array_append_new(conds, cond(c, key, condition, status, reason, text ? text : msg,
						  c->w->generation));
		free(text);
		/* a manifest's conditions[] holds at most FEEDBACK_MAX_CONDITIONS */
		if (json_array_size(conds) >= FEEDBACK_MAX_CONDITIONS)
			break;
	}
	*ret_complete = ncomplete > 0 && complete;
	return ncomplete;
}

void feedback_compute(struct work *w)
{
	struct status_ctx c = { .w = w, .old = w->transitions, .now = json_object(), .now_us = time_now_us() };
	json_t *manifests = json_array(), *wconds = json_array();
	size_t i, napplied = 0, nfailed = 0, navail = 0, nunavail = 0, nunknown = 0;
	size_t ncomplete_rules = 0, ncomplete = 0, budget = 0;
	const char *first_fail = NULL, *progress_why = NULL, *degraded_why = NULL;
	int64_t gen = w->generation;
	char key[64], *msg;

	if (!w->bundle) {
		json_decref(c.now);
		json_decref(manifests);
		json_decref(wconds);
		return;
	}
	for (i = 0; i < w->n; i++) {
		struct manifest *m = &w->m[i];
		json_t *conds = json_array(), *values = NULL;
		char group[254] = "", version[254] = "";
		const char *why = NULL, *rollout_why = NULL;
		bool complete = false;
		int rules, rollout_progress = 0;

		if (m->mapped) {
			snprintf(group, sizeof(group), "%s", m->map.group);
			snprintf(version, sizeof(version), "%s", m->map.version);
		} else if (kobj_api_version(m->obj)) {
			kobj_split_api_version(kobj_api_version(m->obj), group, version);
		}
		snprintf(key, sizeof(key), "m%zu:Applied", i);
		if (w->reject_msg) {
			json_array_append_new(conds, cond(&c, key, "Applied", "False", "UnsupportedFeature",
							  w->reject_msg, -1));
			nfailed++;
			if (!first_fail)
				first_fail = w->reject_msg;
		} else if (!m->attempted) {
			json_array_append_new(conds, cond(&c, key, "Applied", "Unknown", "Applying",
							  "not applied yet", -1));
		} else if (m->applied) {
			json_array_append_new(conds, cond(&c, key, "Applied", "True", "AppliedManifestComplete",
							  "Apply manifest complete", -1));
			napplied++;
		} else {
			json_array_append_new(conds, cond(&c, key, "Applied", "False", m->apply_reason,
							  m->apply_msg, -1));
			nfailed++;
			if (!first_fail)
				first_fail = m->apply_msg;
		}
		snprintf(key, sizeof(key), "m%zu:Available", i);
		if (m->fetched && m->live) {
			json_array_append_new(conds, cond(&c, key, "Available", "True", "ResourceAvailable",
							  "Resource is available", -1));
			navail++;
		} else if (m->fetched) {
			json_array_append_new(conds, cond(&c, key, "Available", "False", "ResourceNotAvailable",
							  "Resource is not available", -1));
			nunavail++;
		} else {
			json_array_append_new(conds, cond(&c, key, "Available", "Unknown",
							  m->fetch_msg ? "FetchingResourceFailed" : "ResourceStatusUnknown",
							  m->fetch_msg ? m->fetch_msg : "not read yet", -1));
			nunknown++;
		}
		snprintf(key, sizeof(key), "m%zu:Feedback", i);
		if (rollout_is_manifest(m->obj) && m->mapped) {
			/* a local rollout's state (rollout.c), always reported */
			values = NULL;
			rollout_progress = rollout_feedback(w, m, &values, &rollout_why);
			json_array_append_new(conds, cond(&c, key, "StatusFeedbackSynced", "True",
							  "StatusFeedbackSynced", NULL, -1));
		} else if (m->live) {
			json_t *rules_json = json_object_get(m->config, "feedbackRules");
			char *err = NULL;

			if (json_array_size(rules_json) && budget >= FEEDBACK_BUDGET_BYTES) {
				json_array_append_new(conds, cond(&c, key, "StatusFeedbackSynced", "False",
								  "StatusFeedbackSyncFailed",
								  "feedback omitted: the work's feedback values together "
								  "would exceed the status size limit", -1));
			} else if (json_array_size(rules_json)) {
				values = feedback_values(m->live, group, version, m->map.kind, rules_json, &err);
				{
					char *t = json_dumps(values, JSON_COMPACT);

					budget += t ? strlen(t) : 0;
					free(t);
				}
				if (err) {
					msg = xasprintf("Sync status feedback failed: %s", err);
					json_array_append_new(conds, cond(&c, key, "StatusFeedbackSynced", "False",
									  "StatusFeedbackSyncFailed", msg, -1));
					free(msg);
				} else {
					json_array_append_new(conds, cond(&c, key, "StatusFeedbackSynced", "True",
									  "StatusFeedbackSynced", NULL, -1));
				}
				free(err);
			} else {
				json_array_append_new(conds, cond(&c, key, "StatusFeedbackSynced", "True",
								  "NoStatusFeedbackSynced", NULL, -1));
			}
		}
		rules = condition_rules(&c, m, i, conds, &complete);
		if (rules) {
			ncomplete_rules++;
			if (complete)
				ncomplete++;
			m->complete = complete;
		}
		switch (rollout_why ? (why = rollout_why, rollout_progress) : workload_progress(m, &why)) {
		case 1:
			if (!progress_why)
				progress_why = why;
			break;
		case -1:
			if (!degraded_why)
				degraded_why = why;
			break;
		default:
			break;
		}
		json_array_append_new(manifests,
				      proto_manifest_condition(proto_resource_meta((int64_t)i, group, version,
										   kobj_kind(m->obj),
										   m->mapped ? m->map.resource : "",
										   kobj_name(m->obj),
										   eng_or(kobj_namespace(m->obj), "")),
							       values, conds));
	}

	/* the work's conditions */
	if (w->reject_msg) {
		json_array_append_new(wconds, cond(&c, "w:Applied", "Applied", "False", "UnsupportedFeature",
						   w->reject_msg, gen));
	} else if (nfailed) {
		msg = xasprintf("Failed to apply %zu of %zu manifests: %s", nfailed, w->n, eng_or(first_fail, ""));
		json_array_append_new(wconds, cond(&c, "w:Applied", "Applied", "False", "AppliedManifestWorkFailed",
						   msg, gen));
		free(msg);
	} else if (napplied == w->n) {
		json_array_append_new(wconds, cond(&c, "w:Applied", "Applied", "True", "AppliedManifestWorkComplete",
						   "Apply manifest work complete", gen));
	} else {
		json_array_append_new(wconds, cond(&c, "w:Applied", "Applied", "Unknown", "Applying",
						   "the manifests are being applied", gen));
	}
	if (nunavail) {
		msg = xasprintf("%zu of %zu resources are not available", nunavail, w->n);
		json_array_append_new(wconds, cond(&c, "w:Available", "Available", "False", "ResourcesNotAvailable",
						   msg, gen));
		free(msg);
	} else if (nunknown) {
		json_array_append_new(wconds, cond(&c, "w:Available", "Available", "Unknown", "ResourcesStatusUnknown",
						   "the status of some resources is not known", gen));
	} else {
		json_array_append_new(wconds, cond(&c, "w:Available", "Available", "True", "ResourcesAvailable",
						   "All resources are available", gen));
	}
	if (!w->reject_msg && napplied + nfailed < w->n)
		json_array_append_new(wconds, cond(&c, "w:Progressing", "Progressing", "True", "Applying",
						   "the manifests are being applied", gen));
	else if (progress_why)
		json_array_append_new(wconds, cond(&c, "w:Progressing", "Progressing", "True", "RollingOut",
						   progress_why, gen));
	else
		json_array_append_new(wconds, cond(&c, "w:Progressing", "Progressing", "False", "Completed",
						   "the work's resources are applied and rolled out", gen));
	if (w->reject_msg || nfailed) {
		json_array_append_new(wconds, cond(&c, "w:Degraded", "Degraded", "True", "ApplyFailed",
						   w->reject_msg ? w->reject_msg : first_fail, gen));
	} else if (degraded_why) {
		json_array_append_new(wconds, cond(&c, "w:Degraded", "Degraded", "True", "WorkloadFailed",
						   degraded_why, gen));
	} else {
		json_array_append_new(wconds, cond(&c, "w:Degraded", "Degraded", "False", "AsExpected", NULL, gen));
	}
	if (ncomplete_rules) {
		bool all = ncomplete == ncomplete_rules;

		json_array_append_new(wconds, cond(&c, "w:Complete", "Complete", all ? "True" : "False",
						   all ? "ConditionRulesAggregated" : "NotComplete",
						   all ? "every Complete condition rule is met" : NULL, gen));
	}

	w->progressing = progress_why != NULL;
	json_decref(w->transitions);
	w->transitions = c.now;
	json_decref(w->status);
	w->status = proto_bundle_status(wconds, manifests);
	if (proto_status_hash(w->status, w->hash) < 0)
		memset(w->hash, '0', PROTO_STATUSHASH_LEN);
}

void feedback_compute_deleting(struct work *w, const char *message)
{
	struct status_ctx c = { .w = w, .old = w->transitions, .now = json_object(), .now_us = time_now_us() };
	json_t *conds = json_array(), *old, *rs;
	size_t i;

	old = json_object_get(w->status, "conditions");
	json_array_foreach(old, i, rs) {
		if (strcmp(eng_or(json_string_value(json_object_get(rs, "type")), ""), "Deleting"))
			json_array_append(conds, rs);
	}
	json_array_append_new(conds, cond(&c, "w:Deleting", "Deleting", "True", "Deleting", message,
					  w->generation));
	rs = json_object_get(json_object_get(w->status, "resourceStatus"), "manifests");
	rs = rs ? json_incref(rs) : NULL;
	/* keep the other transition times */
	{
		const char *k;
		json_t *v;

		json_object_foreach(w->transitions, k, v) {
			if (!json_object_get(c.now, k))
				json_object_set(c.now, k, v);
		}
	}
	json_decref(w->transitions);
	w->transitions = c.now;
	json_decref(w->status);
	w->status = proto_bundle_status(conds, rs);
	if (proto_status_hash(w->status, w->hash) < 0)
		memset(w->hash, '0', PROTO_STATUSHASH_LEN);
}
