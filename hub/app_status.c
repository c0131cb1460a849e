/* app_status.c - health of what was deployed, and the Application's status.
 *
 * A component is healthy on a cluster when the stored work holds its
 * workload exactly as the run rendered it, the agent reported the work
 * Applied for the work's current generation, and the component
 * definition's health rule (appdef_health) holds over the status feedback
 * the agent reported for that workload (the work's
 * status.resourceStatus.manifests[] entry with the workload's group, kind,
 * namespace and name). Everything here reads the works the controller
 * keeps in memory; nothing calls out.
 *
 * Health is evaluated once per (piece, component, stored work): each piece
 * keeps the answers for the work object they were computed from (works are
 * immutable in the store; an agent's status report is a new object), so a
 * reconcile caused by one cluster's report evaluates that cluster's
 * components only, not every cluster's again.
 *
 * The status shapes are app.h's. Conditions keep their
 * lastTransitionTime while their status does not change, so a reconcile
 * that changes nothing writes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

static const struct kapi_write_opts status_opts = {.field_manager = APP_FIELD_MANAGER,
						   .skip_managed_fields = true};

static int64_t work_gen(const json_t *work)
{
	json_t *g = kobj_get_path(work, "metadata.generation");

	return json_is_integer(g) ? json_integer_value(g) : 0;
}

/* The generation the agent's status describes, or -1 when it says none. */
static int64_t observed_gen(const json_t *work)
{
	json_t *c = kobj_condition(work, "Applied"), *g = c ? json_object_get(c, "observedGeneration") : NULL;

	if (json_is_integer(g))
		return json_integer_value(g);
	g = kobj_get_path(work, "status.statusSync.generation");
	return json_is_integer(g) ? json_integer_value(g) : -1;
}

static bool applied_work(const json_t *work)
{
	json_t *c = kobj_condition(work, "Applied");
	const char *s = c ? json_string_value(json_object_get(c, "status")) : NULL;
	int64_t og = observed_gen(work);

	return s && !strcmp(s, "True") && (og < 0 || og == work_gen(work));
}

static bool same_id(const json_t *a, const json_t *b)
{
	const char *ka = kobj_kind(a), *kb = kobj_kind(b), *na = kobj_name(a), *nb = kobj_name(b);
	const char *sa = kobj_namespace(a), *sb = kobj_namespace(b);
	const char *va = kobj_api_version(a), *vb = kobj_api_version(b);

	return ka && kb && na && nb && va && vb && !strcmp(ka, kb) && !strcmp(na, nb) && !strcmp(va, vb) &&
	       !strcmp(sa ? sa : "", sb ? sb : "");
}

/* The work's copy of obj (same identity), or NULL. */
static json_t *work_object(const json_t *work, const json_t *obj)
{
	json_t *ms = kobj_get_path(work, "spec.workload.manifests"), *m;
	size_t i;

	json_array_foreach(ms, i, m)
		if (same_id(m, obj))
			return m;
	return NULL;
}

/* The statusFeedback.values the agent reported for obj, or NULL. */
static json_t *feedback_of(const json_t *work, const json_t *obj)
{
	json_t *ms = kobj_get_path(work, "status.resourceStatus.manifests"), *m;
	char group[254] = "", version[254] = "";
	const char *ns = kobj_namespace(obj);
	size_t i;

	if (kobj_api_version(obj))
		kobj_split_api_version(kobj_api_version(obj), group, version);
	json_array_foreach(ms, i, m) {
		json_t *rm = json_object_get(m, "resourceMeta");
		const char *k = json_string_value(json_object_get(rm, "kind"));
		const char *n = json_string_value(json_object_get(rm, "name"));
		const char *g = json_string_value(json_object_get(rm, "group"));
		const char *s = json_string_value(json_object_get(rm, "namespace"));

		if (k && n && !strcmp(k, kobj_kind(obj)) && !strcmp(n, kobj_name(obj)) && !strcmp(g ? g : "", group) &&
		    !strcmp(s ? s : "", ns ? ns : ""))
			return kobj_get_path(m, "statusFeedback.values");
	}
	return NULL;
}

/* See app_int.h. */
struct app_health *app_health_new(void)
{
	struct app_health *hc = xnew(struct app_health);

	hc->results = json_object();
	return hc;
}

/* See app_int.h. */
struct app_health *app_health_free(struct app_health *hc)
{
	if (!hc)
		return NULL;
	json_decref(hc->work);
	json_decref(hc->results);
	free(hc);
	return NULL;
}

/* app_comp_health without the cache. */
static bool comp_health(struct app_state *st, const struct app_piece *pc, const json_t *comp, char **ret_message,
			json_t **ret_values)
{
	json_t *work = json_object_get(st->works, pc->cluster);
	json_t *workload = json_object_get(comp, "workload"), *mine, *values;
	const char *type = json_string_value(json_object_get(comp, "type"));
	const struct appdef *cd;
	struct appdef_context ctx = {
		.name = json_string_value(json_object_get(comp, "name")),
		.namespace_ = json_string_value(json_object_get(comp, "namespace")),
		.app_name = st->name,
		.app_namespace = st->ns,
		.revision = pc->src->rev_name,
		.cluster = pc->cluster,
	};
	bool healthy = false;
	char *msg = NULL;

	*ret_values = NULL;
	if (!work) {
		*ret_message = xstrdup("not deployed yet");
		return false;
	}
	if (workload) {
		mine = work_object(work, workload);
		if (!mine) {
			*ret_message = xstrdup("not deployed yet");
			return false;
		}
		if (!json_equal(mine, workload)) {
			*ret_message = xstrdup("being updated");
			return false;
		}
	}
	if (!applied_work(work)) {
		json_t *c = kobj_condition(work, "Applied");
		const char *m = c ? json_string_value(json_object_get(c, "message")) : NULL;
		const char *s = c ? json_string_value(json_object_get(c, "status")) : NULL;

		if (s && !strcmp(s, "False") && observed_gen(work) == work_gen(work))
			*ret_message = xasprintf("not applied: %s", m ? m : "apply failed");
		else
			*ret_message = xstrdup("waiting for the agent to apply it");
		return false;
	}
	if (!workload) {
		*ret_message = xstrdup("");
		return true;
	}
	values = feedback_of(work, workload);
	*ret_values = values;
	cd = type ? appdef_registry_get(pc->src->defs, APPDEF_COMPONENT, pc->src->spec->namespace_, type) : NULL;
	if (!cd) {
		*ret_message = xstrdup("");
		return true;
	}
	if (appdef_health(cd, json_object_get(comp, "params"), &ctx, workload, values, &healthy, &msg) < 0) {
		*ret_message = xstrdup("the health rule cannot be evaluated");
		return false;
	}
	*ret_message = msg;
	return healthy;
}

/* See app_int.h. */
bool app_comp_health(struct app_ctl *ctl, struct app_state *st, const struct app_piece *pc, const json_t *comp,
		     char **ret_message, json_t **ret_values)
{
	json_t *work = json_object_get(st->works, pc->cluster), *hit, *values = NULL;
	const char *name = json_string_value(json_object_get(comp, "name"));
	struct app_health *hc = pc->health;
	char *msg = NULL;
	bool healthy;

	(void)ctl;
	if (!hc || !name)
		return comp_health(st, pc, comp, ret_message, ret_values);
	if (hc->work != work) {
		json_decref(hc->work);
		hc->work = json_incref(work);
		json_object_clear(hc->results);
	}
	hit = json_object_get(hc->results, name);
	if (hit) {
		values = json_array_get(hit, 2);
		*ret_message = xstrdup(json_string_value(json_array_get(hit, 1)));
		*ret_values = json_is_null(values) ? NULL : values;
		return json_is_true(json_array_get(hit, 0));
	}
	healthy = comp_health(st, pc, comp, &msg, &values);
	json_object_set_new(hc->results, name,
			    json_pack("[b, s, O]", healthy, msg ? msg : "", values ? values : json_null()));
	*ret_message = msg ? msg : xstrdup("");
	*ret_values = values;
	return healthy;
}

/* See app_int.h. */
void app_set_condition(json_t *status, const char *type, bool ok, const char *reason, const char *message)
{
	json_t *conds = json_object_get(status, "conditions"), *c, *nc;
	const char *st = ok ? "True" : "False";
	char now[TIMEFMT_MAX];
	size_t i;

	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (!t || strcmp(t, type))
			continue;
		nc = json_pack("{s:s, s:s, s:s, s:s, s:O?}", "type", type, "status", st, "reason", reason ? reason : "",
			       "message", message ? message : "", "lastTransitionTime",
			       json_object_get(c, "lastTransitionTime"));
		if (!json_object_get(nc, "lastTransitionTime") ||
		    strcmp(json_string_value(json_object_get(c, "status")) ? json_string_value(json_object_get(c, "status")) : "",
			   st))
			json_object_set_new(nc, "lastTransitionTime", json_string(time_format_rfc3339(time_now_us(), now)));
		json_array_set_new(conds, i, nc);
		return;
	}
	json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status", st, "reason",
					       reason ? reason : "", "message", message ? message : "",
					       "lastTransitionTime", time_format_rfc3339(time_now_us(), now)));
}

/* An integer feedback value by any of the names, or -1. */
static json_int_t feedback_int(const json_t *values, const char *const *names)
{
	json_t *v;
	size_t i;

	json_array_foreach(values, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		json_t *fv = json_object_get(v, "fieldValue");

		if (!n)
			continue;
		for (const char *const *p = names; *p; p++)
			if (!strcmp(n, *p) && json_is_integer(json_object_get(fv, "integer")))
				return json_integer_value(json_object_get(fv, "integer"));
	}
	return -1;
}

static json_t *service_entry(struct app_ctl *ctl, struct app_state *st, const struct app_piece *pc,
			     const json_t *comp, bool gated, bool *ret_healthy)
{
	static const char *const ready_names[] = {"readyReplicas", "ReadyReplicas", NULL};
	static const char *const repl_names[] = {"replicas", "Replicas", NULL};
	json_t *work = json_object_get(st->works, pc->cluster), *values = NULL, *traits = json_array(), *t, *e;
	const char *rev = work ? kobj_annotation(work, APP_ANNOT_WORK_REVISION) : NULL;
	char *msg = NULL;
	bool healthy;
	json_int_t n;
	size_t i;

	if (gated) {
		healthy = false;
		msg = xstrdup("waiting for its dependencies to be healthy");
	} else {
		healthy = app_comp_health(ctl, st, pc, comp, &msg, &values);
	}
	json_array_foreach(json_object_get(comp, "traits"), i, t)
		json_array_append_new(traits, json_pack("{s:O, s:b, s:s}", "type", t, "healthy", healthy, "message", ""));
	e = json_pack("{s:O, s:O, s:s, s:b, s:s, s:s}", "name", json_object_get(comp, "name"), "namespace",
		      json_object_get(comp, "namespace"), "cluster", pc->cluster, "healthy", healthy, "message",
		      msg ? msg : "", "revision", rev ? rev : "");
	if ((n = feedback_int(values, ready_names)) >= 0)
		json_object_set_new(e, "readyReplicas", json_integer(n));
	if ((n = feedback_int(values, repl_names)) >= 0)
		json_object_set_new(e, "replicas", json_integer(n));
	if (json_object_get(comp, "workloadDefinition"))
		json_object_set(e, "workloadDefinition", json_object_get(comp, "workloadDefinition"));
	json_object_set_new(e, "traits", traits);
	free(msg);
	*ret_healthy = healthy;
	return e;
}

/* See app_int.h. */
bool app_status_rollup(struct app_ctl *ctl, struct app_state *st, json_t *status, struct app_piece **pieces,
		       size_t npieces, const json_t *gated)
{
	json_t *services = json_array(), *clusters = json_array(), *applied = json_array(), *seen = json_object();
	bool all = true;
	const char *cl;
	json_t *w, *x;
	char key[400];
	size_t i, j;

	/* later pieces of the same component on the same cluster replace earlier ones */
	for (i = npieces; i-- > 0;) {
		const struct app_piece *pc = pieces[i];

		json_array_foreach(pc->comps, j, x) {
			const char *name = json_string_value(json_object_get(x, "name"));
			bool h = false;

			snprintf(key, sizeof(key), "%s|%s", name, pc->cluster);
			if (json_object_get(seen, key))
				continue;
			json_object_set_new(seen, key, json_true());
			json_array_insert_new(services, 0,
					      service_entry(ctl, st, pc, x,
							    gated && json_object_get(gated, key) != NULL, &h));
			all = all && h;
		}
	}
	json_object_foreach(st->works, cl, w) {
		json_t *ac = kobj_condition(w, "Applied"), *av = kobj_condition(w, "Available"), *ms, *m;
		const char *rev = kobj_annotation(w, APP_ANNOT_WORK_REVISION);
		const char *msg = ac ? json_string_value(json_object_get(ac, "message")) : NULL;
		int64_t og = observed_gen(w);
		char wn[600];

		snprintf(wn, sizeof(wn), "%s/%s", cl, kobj_name(w) ? kobj_name(w) : "");
		x = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:b, s:s}", "name", cl, "work", wn, "revision",
			      rev ? rev : "", "workGeneration", (json_int_t)work_gen(w), "observedGeneration",
			      (json_int_t)(og < 0 ? 0 : og), "applied", applied_work(w), "available",
			      av && json_is_string(json_object_get(av, "status")) &&
				      !strcmp(json_string_value(json_object_get(av, "status")), "True") &&
				      applied_work(w),
			      "message", kobj_get_path(w, "metadata.deletionTimestamp") ? "being deleted" :
					 msg ? msg : ac ? "" : "waiting for the agent");
		json_array_append_new(clusters, x);
		ms = kobj_get_path(w, "spec.workload.manifests");
		json_array_foreach(ms, j, m) {
			const char *comp = kobj_label(m, APP_LABEL_COMPONENT);

			json_array_append_new(applied, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "cluster", cl,
								 "namespace", kobj_namespace(m) ? kobj_namespace(m) : "",
								 "apiVersion", kobj_api_version(m) ? kobj_api_version(m) : "",
								 "kind", kobj_kind(m) ? kobj_kind(m) : "", "name",
								 kobj_name(m) ? kobj_name(m) : "", "component",
								 comp ? comp : ""));
		}
	}
	json_object_set_new(status, "services", services);
	json_object_set_new(status, "clusters", clusters);
	json_object_set_new(status, "appliedResources", applied);
	json_decref(seen);
	return all;
}

/* See app_int.h. */
int app_status_write(struct app_ctl *ctl, const json_t *app, const json_t *status)
{
	json_t *obj;
	struct errbuf err = {""};
	int r;

	if (json_equal(json_object_get(app, "status"), status))
		return 0;
	/* a shallow copy with its own metadata: kapi copies what it stores, and
	 * app (the store's) must not change */
	obj = json_copy((json_t *)app);
	json_object_set_new(obj, "metadata", json_deep_copy(kobj_metadata((json_t *)app, false)));
	json_object_set(obj, "status", (json_t *)status);
	json_object_del(kobj_metadata(obj, true), "resourceVersion");
	r = kapi_update_status(ctl->kapi, APP_GROUP, APP_RES_APPS, obj, &status_opts, &err, NULL);
	json_decref(obj);
	if (r < 0 && r != -ENOENT)
		log_warn("application %s/%s: cannot write its status: %s", kobj_namespace(app), kobj_name(app), err.msg);
	return r < 0 ? r : 1;
}
