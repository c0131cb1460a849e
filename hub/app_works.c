/* app_works.c - what each cluster gets, and the ManifestWorks that carry it.
 *
 * A deploy step renders, for every cluster each of its topologies selects,
 * the run's components with the step's overrides (app_override_apply) and
 * the run's definitions (app_render_cluster): one struct app_piece per
 * (step, topology, cluster). Pieces are cached per application until the
 * run changes, keyed by the cluster's labels as well (an override may
 * depend on them), so status updates and fleet changes re-render only what
 * changed. An apply-component step is a piece of one component on one
 * cluster.
 *
 * The work of (application, cluster) holds the pieces of every step of
 * the run that has deployed there, in step order. While the run has not
 * succeeded, objects of components the run has not redeployed on that
 * cluster yet stay as they were (a later step, a dependency that is not
 * healthy yet, or a component the new revision dropped: KubeVela removes
 * those when the workflow succeeds, and so does Nave). A work is written
 * only when its spec (or ownership labels) differ from the stored one.
 * A Rollout manifest (the rollout trait's) gets its sourceRevisionName here,
 * from the stored work: see rollout_sources.
 *
 * Deleting a work on a cluster that is not available (no agent connected)
 * takes the stream's finalizer off at once: nothing would confirm the
 * deletion, and the agent evicts works the hub no longer has when it comes
 * back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "kobj.h"
#include "log.h"

static const struct kapi_write_opts work_opts = {.field_manager = APP_FIELD_MANAGER};

/* Rendering ------------------------------------------------------------------ */

/* The rendered component's facts health evaluation needs. */
static json_t *comp_entry(const struct app_run *src, const struct app_component *c, const json_t *manifests,
			  const char *ns_default)
{
	const struct appdef *cd = appdef_registry_get(src->defs, APPDEF_COMPONENT, src->spec->namespace_, c->type);
	json_t *e = json_object(), *m, *workload = NULL, *params = NULL, *traits = json_array(), *deps = json_array();
	const char *ns = NULL;
	size_t i;

	json_array_foreach(manifests, i, m) {
		const char *comp = json_string_value(json_object_get(m, "component"));
		const char *role = json_string_value(json_object_get(m, "role"));

		if (comp && role && !strcmp(comp, c->name) && !strcmp(role, "workload")) {
			workload = json_object_get(m, "object");
			break;
		}
	}
	if (workload)
		ns = kobj_namespace(workload);
	if (cd && appdef_params(cd, c->properties, "properties", NULL, &params) < 0)
		params = NULL;
	for (i = 0; i < c->ntraits; i++)
		json_array_append_new(traits, json_string(c->traits[i].type));
	for (i = 0; i < c->ndepends; i++)
		json_array_append_new(deps, json_string(c->depends_on[i]));
	json_object_set_new(e, "name", json_string(c->name));
	json_object_set_new(e, "type", json_string(c->type));
	json_object_set_new(e, "namespace", json_string(ns ? ns : ns_default));
	json_object_set_new(e, "params", params ? params : json_object());
	if (workload)
		json_object_set(e, "workload", workload);
	json_object_set_new(e, "traits", traits);
	json_object_set_new(e, "dependsOn", deps);
	if (cd) {
		json_object_set_new(e, "workloadDefinition",
				    json_pack("{s:s?, s:s?}", "apiVersion", appdef_workload_api_version(cd), "kind",
					      appdef_workload_kind(cd)));
	}
	return e;
}

static struct app_piece *piece_find(struct app_state *st, const char *key)
{
	for (struct app_piece *p = st->cache; p; p = p->next)
		if (!strcmp(p->key, key))
			return p;
	return NULL;
}

/* Render (or find in the cache) the piece of step i, topology slot, on
 * cluster. comp_name: apply-component's component (NULL for deploy). */
static struct app_piece *piece_get(struct app_ctl *ctl, struct app_state *st, size_t i, size_t slot,
				   const char *cluster, const char *namespace_, const struct app_run *src,
				   const struct app_policy *const *ovs, size_t novs, const char *comp_name)
{
	struct app_run *run = st->run;
	const json_t *labels = app_cluster_labels(ctl, cluster);
	char *ltxt = labels ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char *key = xasprintf("%zu|%zu|%s|%s|%s", i, slot, cluster, namespace_ ? namespace_ : "", ltxt ? ltxt : "");
	struct app_piece *p = piece_find(st, key);
	struct app_component *comps = NULL;
	size_t nc = 0;
	struct errbuf err = {""};
	int r;

	free(ltxt);
	if (p) {
		free(key);
		return p;
	}
	p = xnew(struct app_piece);
	p->key = key;
	p->step = i;
	p->cluster = xstrdup(cluster);
	p->namespace_ = namespace_ ? xstrdup(namespace_) : NULL;
	p->src = src;
	p->comps = json_array();
	p->health = app_health_new();
	if (comp_name) {
		const struct app_component *c = app_spec_component(src->spec, comp_name);

		if (!c) {
			r = errbuf_set(&err, -EINVAL, "spec.workflow.steps[%zu].properties.component: Not found: \"%s\"", i,
				       comp_name);
			goto out;
		}
		r = app_override_apply(c, 1, NULL, 0, cluster, labels, &err, &comps, &nc);
	} else {
		r = app_override_apply(src->spec->components, src->spec->ncomponents, ovs, novs, cluster, labels, &err,
				       &comps, &nc);
	}
	if (r < 0)
		goto out;
	{
		struct app_render_in in = {
			.spec = run->spec, .components = comps, .ncomponents = nc, .cluster = cluster,
			.namespace_ = namespace_, .revision = src->rev_name, .defs = src->defs,
		};

		r = app_render_cluster(&in, &err, &p->manifests);
	}
	if (r < 0)
		goto out;
	for (size_t k = 0; k < nc; k++)
		json_array_append_new(p->comps, comp_entry(src, &comps[k], p->manifests,
							   namespace_ ? namespace_ : run->spec->namespace_));
out:
	if (r < 0) {
		p->error = xstrdup(err.msg[0] ? err.msg : "rendering failed");
		json_decref(p->manifests);
		p->manifests = NULL;
	}
	for (size_t k = 0; k < nc; k++)
		app_component_free_contents(&comps[k]);
	free(comps);
	p->next = st->cache;
	st->cache = p;
	st->ncache++;
	return p;
}

static void list_push(struct app_piece ***list, size_t *n, size_t *cap, struct app_piece *p)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*list = xrealloc(*list, *cap * sizeof(**list));
	}
	(*list)[(*n)++] = p;
}

/* app_topology_select and app_topology_missing of topology j of step i,
 * remembered in st->selected while the cluster list is the same (the run is
 * the same: the memo goes with the cache). New references in *ret_names and
 * *ret_missing. */
static int select_cached(struct app_ctl *ctl, struct app_state *st, size_t i, size_t j,
			 const struct app_topology *t, const json_t *clusters, struct errbuf *err, json_t **ret_names,
			 json_t **ret_missing)
{
	json_t *names = NULL, *hit;
	char key[64];
	int r;

	snprintf(key, sizeof(key), "%zu|%zu", i, j);
	if (!st->selected)
		st->selected = json_object();
	hit = json_object_get(st->selected, key);
	if (hit && (uint64_t)json_integer_value(json_array_get(hit, 0)) == (uint64_t)(json_int_t)ctl->clusters_gen) {
		*ret_names = json_incref(json_array_get(hit, 1));
		*ret_missing = json_incref(json_array_get(hit, 2));
		return 0;
	}
	if ((r = app_topology_select(t, clusters, err, &names)) < 0)
		return r;
	*ret_missing = app_topology_missing(t, clusters);
	*ret_names = names;
	json_object_set_new(st->selected, key,
			    json_pack("[I, O, O]", (json_int_t)ctl->clusters_gen, names, *ret_missing));
	return 0;
}

/* See app_int.h. */
int app_step_pieces(struct app_ctl *ctl, struct app_state *st, size_t i, struct errbuf *err,
		    struct app_piece ***ret_list, size_t *ret_n, json_t **ret_missing, json_t **ret_empty)
{
	struct app_run *run = st->run;
	const struct app_step *s = &run->spec->steps[i];
	const json_t *clusters = app_clusters(ctl);
	const struct app_policy **ovs = NULL, **tops = NULL;
	const struct app_run *src = run;
	struct app_piece **list = NULL;
	json_t *missing = json_array(), *empty = json_array();
	size_t n = 0, cap = 0, novs = 0, ntops = 0;
	char *local_name = (char *)APP_LOCAL_CLUSTER;
	struct app_policy local = {.name = (char *)"local", .kind = APP_POLICY_TOPOLOGY};
	int r = 0;

	local.topology.clusters = &local_name;
	local.topology.nclusters = 1;
	if (s->kind == APP_STEP_APPLY_COMPONENT) {
		local_name = s->cluster ? s->cluster : (char *)APP_LOCAL_CLUSTER;
		local.topology.namespace_ = s->namespace_;
	} else if (s->kind == APP_STEP_DEPLOY) {
		if (s->revision && !(src = app_run_other(ctl, run, s->revision, err))) {
			errbuf_prefix(err, "spec.workflow.steps[%zu].properties.revision", i);
			r = -EINVAL;
			goto out;
		}
		ovs = xcalloc(s->npolicies + 1, sizeof(*ovs));
		tops = xcalloc(s->npolicies + 1, sizeof(*tops));
		for (size_t k = 0; k < s->npolicies; k++) {
			const struct app_policy *p = &run->spec->policies[s->policies[k]];

			if (p->kind == APP_POLICY_TOPOLOGY)
				tops[ntops++] = p;
			else if (p->kind == APP_POLICY_OVERRIDE)
				ovs[novs++] = p;
		}
	} else {
		goto out;
	}
	if (!ntops) {
		if (!tops)
			tops = xcalloc(1, sizeof(*tops));
		tops[ntops++] = &local;
	}
	for (size_t j = 0; j < ntops; j++) {
		const struct app_topology *t = &tops[j]->topology;
		json_t *names = NULL, *miss, *x;
		size_t k;

		if ((r = select_cached(ctl, st, i, j, t, clusters, err, &names, &miss)) < 0) {
			errbuf_prefix(err, "policy %s", tops[j]->name);
			goto out;
		}
		json_array_foreach(miss, k, x)
			json_array_append(missing, x);
		if (!json_array_size(names) && !json_array_size(miss) && !t->allow_empty)
			json_array_append_new(empty, json_string(tops[j]->name));
		json_decref(miss);
		json_array_foreach(names, k, x)
			list_push(&list, &n, &cap,
				  piece_get(ctl, st, i, j, json_string_value(x), t->namespace_, src, ovs, novs,
					    s->kind == APP_STEP_APPLY_COMPONENT ? s->component : NULL));
		json_decref(names);
	}
out:
	free(ovs);
	free(tops);
	if (r < 0) {
		free(list);
		json_decref(missing);
		json_decref(empty);
		return r;
	}
	*ret_list = list;
	*ret_n = n;
	*ret_missing = missing;
	*ret_empty = empty;
	return 0;
}

/* Works ------------------------------------------------------------------------- */

/* "group|kind|namespace|name" of an object into out. */
static void obj_id(const json_t *o, char *out, size_t outlen)
{
	const char *av = kobj_api_version(o), *slash = av ? strchr(av, '/') : NULL;

	snprintf(out, outlen, "%.*s|%s|%s|%s", slash ? (int)(slash - av) : 0, av ? av : "", kobj_kind(o) ? kobj_kind(o) : "",
		 kobj_namespace(o) ? kobj_namespace(o) : "", kobj_name(o) ? kobj_name(o) : "");
}

static bool config_matches(const json_t *cfg, const json_t *obj)
{
	const char *n = json_string_value(kobj_get_path(cfg, "resourceIdentifier.name"));
	const char *ns = json_string_value(kobj_get_path(cfg, "resourceIdentifier.namespace"));
	const char *on = kobj_name(obj), *ons = kobj_namespace(obj);

	return n && on && !strcmp(n, on) && !strcmp(ns ? ns : "", ons ? ons : "");
}

/* Carry the objects of components not redeployed yet (and namespaces) from
 * the stored work into desired. */
static void keep_old_objects(json_t *desired, const json_t *old, const json_t *entries)
{
	json_t *rendered = json_object(), *ids = json_object(), *m, *x;
	json_t *dm = kobj_get_path(desired, "spec.workload.manifests");
	json_t *om = kobj_get_path(old, "spec.workload.manifests");
	json_t *ocfg = kobj_get_path(old, "spec.manifestConfigs"), *dcfg;
	json_t *orules = kobj_get_path(old, "spec.deleteOption.selectivelyOrphans.orphaningRules");
	char id[1200];
	size_t i, j;
	bool added = false;

	if (!json_is_array(dm) || !json_is_array(om))
		goto out;
	json_array_foreach(entries, i, x) {
		const char *c = json_string_value(json_object_get(x, "component"));

		if (c)
			json_object_set_new(rendered, c, json_true());
	}
	json_array_foreach(dm, i, m) {
		obj_id(m, id, sizeof(id));
		json_object_set_new(ids, id, json_true());
	}
	dcfg = kobj_get_path(desired, "spec.manifestConfigs");
	json_array_foreach(om, i, m) {
		const char *comp = kobj_label(m, APP_LABEL_COMPONENT);
		bool ns = kobj_kind(m) && !strcmp(kobj_kind(m), "Namespace") && !comp;

		obj_id(m, id, sizeof(id));
		if (json_object_get(ids, id) || (!ns && (!comp || json_object_get(rendered, comp))))
			continue;
		json_array_append(dm, m);
		json_object_set_new(ids, id, json_true());
		added = true;
		json_array_foreach(ocfg, j, x) {
			if (!config_matches(x, m))
				continue;
			if (!json_is_array(dcfg)) {
				dcfg = json_array();
				json_object_set_new(json_object_get(desired, "spec"), "manifestConfigs", dcfg);
			}
			json_array_append(dcfg, x);
		}
	}
	if (added && json_is_array(orules)) {
		json_t *spec = json_object_get(desired, "spec"), *dopt = json_object_get(spec, "deleteOption"), *rules;

		if (!json_is_object(dopt)) {
			dopt = json_pack("{s:s}", "propagationPolicy", "SelectivelyOrphan");
			json_object_set_new(spec, "deleteOption", dopt);
		}
		rules = kobj_get_path(dopt, "selectivelyOrphans.orphaningRules");
		if (!json_is_array(rules)) {
			rules = json_array();
			json_object_set_new(dopt, "selectivelyOrphans", json_pack("{s:o}", "orphaningRules", rules));
			json_object_set_new(dopt, "propagationPolicy", json_string("SelectivelyOrphan"));
		}
		json_array_foreach(orules, i, x) {
			bool have = false;

			json_array_foreach(rules, j, m)
				if (json_equal(m, x))
					have = true;
			if (!have)
				json_array_append(rules, x);
		}
	}
out:
	json_decref(rendered);
	json_decref(ids);
}

/* Whether o is a Rollout manifest the klusterlet executes (docs/rollouts.md). */
static bool is_rollout(const json_t *o)
{
	const char *av = kobj_api_version(o), *k = kobj_kind(o);

	return av && k && !strcmp(av, "standard.oam.dev/v1alpha1") && !strcmp(k, "Rollout");
}

static bool same_ns_name(const json_t *a, const json_t *b)
{
	const char *an = kobj_name(a), *bn = kobj_name(b), *ans = kobj_namespace(a), *bns = kobj_namespace(b);

	return an && bn && !strcmp(an, bn) && !strcmp(ans ? ans : "", bns ? bns : "");
}

/* The rollout trait (hub/definitions/rollout.yaml) names each revision's
 * Deployment after its pod template and emits a Rollout to it; which
 * Deployment it replaces is known only here, from what the cluster's stored
 * work (old, may be NULL) held. For every Rollout of desired without a
 * spec.sourceRevisionName of its own:
 *   - old has a Rollout of that name and namespace whose status feedback
 *     says it failed and was rolled back (rollingBack, rollbackSucceed):
 *     the klusterlet deleted its target and restored its source, so that
 *     source is what runs: it is the source, unless it is the new target
 *     itself (rolling back to the revision that runs: no source, the
 *     klusterlet finds the target at full size);
 *   - old has a Rollout of that name and namespace to another target: the
 *     source is that target (a new revision; when the old rollout is still
 *     running, the klusterlet drains its sources too);
 *   - to the same target: old's source as it was (the rollout goes on, and
 *     the work stays equal so it is not rewritten);
 *   - no such Rollout, but old holds a Deployment of the same component in
 *     that namespace under another name, not in desired (the trait added to
 *     a running component): that Deployment;
 *   - else none: a rollout from zero.
 * A StatefulSet rollout has no source (one workload for both revisions). */
/* The name of a Deployment of component comp in namespace ns that old holds
 * under another name than target and desired does not hold, or NULL. */
static const char *rollout_old_deployment(const json_t *desired, const json_t *old, const char *comp,
					  const char *ns, const char *target)
{
	json_t *dm = kobj_get_path(desired, "spec.workload.manifests");
	json_t *om = kobj_get_path(old, "spec.workload.manifests");
	json_t *m, *d;
	size_t i, j;

	json_array_foreach(om, i, m) {
		const char *av = kobj_api_version(m), *kind = kobj_kind(m), *mc = kobj_label(m, APP_LABEL_COMPONENT);
		const char *mns = kobj_namespace(m), *name = kobj_name(m);
		bool held = false;

		if (!name || !av || !kind || strcmp(av, "apps/v1") || strcmp(kind, "Deployment") || !mc ||
		    strcmp(mc, comp) || !mns || strcmp(mns, ns) || !strcmp(name, target))
			continue;
		json_array_foreach(dm, j, d)
			if (same_ns_name(d, m) && kobj_kind(d) && !strcmp(kobj_kind(d), "Deployment"))
				held = true;
		if (!held)
			return name;
	}
	return NULL;
}

/* Whether the klusterlet reports the Rollout manifest m of work old as
 * failed and rolled back (its target deleted, its source restored). */
static bool rolled_back(const json_t *old, const json_t *m)
{
	size_t pos = 0;
	const json_t *ms = kobj_work_manifest_status(old, "standard.oam.dev", "Rollout", kobj_namespace(m),
						     kobj_name(m), &pos);
	json_t *fb = kobj_feedback_values(ms);
	const char *st = json_string_value(json_object_get(fb, "rollingState"));
	bool r = st && (!strcmp(st, "rollingBack") || !strcmp(st, "rollbackSucceed"));

	json_decref(fb);
	return r;
}

static void rollout_sources(json_t *desired, const json_t *old)
{
	json_t *dm = kobj_get_path(desired, "spec.workload.manifests");
	json_t *om = kobj_get_path(old, "spec.workload.manifests");
	json_t *ro, *m, *spec;
	size_t i, j;

	json_array_foreach(dm, i, ro) {
		const char *target, *kind, *comp, *ns = kobj_namespace(ro), *found = NULL;
		bool have_old = false;

		spec = json_object_get(ro, "spec");
		if (!is_rollout(ro) || !json_is_object(spec) || json_object_get(spec, "sourceRevisionName"))
			continue;
		target = json_string_value(json_object_get(spec, "targetRevisionName"));
		kind = json_string_value(json_object_get(spec, "workloadKind"));
		if (!target || (kind && strcmp(kind, "Deployment")))
			continue;
		json_array_foreach(om, j, m) {
			const char *otarget, *osource;

			if (!is_rollout(m) || !same_ns_name(m, ro))
				continue;
			have_old = true;
			otarget = json_string_value(kobj_get_path(m, "spec.targetRevisionName"));
			osource = json_string_value(kobj_get_path(m, "spec.sourceRevisionName"));
			if (rolled_back(old, m))
				found = osource && strcmp(osource, target) ? osource : NULL;
			else if (otarget && strcmp(otarget, target))
				found = otarget;
			else if (otarget)
				found = osource;
			break;
		}
		comp = json_string_value(json_object_get(spec, "componentName"));
		if (!comp)
			comp = kobj_label(ro, APP_LABEL_COMPONENT);
		if (!have_old && comp && ns)
			found = rollout_old_deployment(desired, old, comp, ns, target);
		if (found)
			json_object_set_new(spec, "sourceRevisionName", json_string(found));
	}
}

/* Whether two arrays hold the very same objects, in order. */
static bool same_elements(const json_t *a, const json_t *b)
{
	size_t n = json_array_size(a);

	if (n != json_array_size(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_array_get(a, i) != json_array_get(b, i))
			return false;
	return true;
}

/* See app_int.h. The answer is remembered per cluster in st->desired with
 * what it was made from: the entries (the cached pieces' manifests, held by
 * a shallow copy so no address is reused while remembered), the stored work
 * (held too) and keep_old; the run is the same while the memo lives (it goes
 * with the cache). A reconcile thus renders only the works whose inputs
 * changed. The answer is shared: callers never modify it (app_work_write
 * copies what it stores). */
json_t *app_work_desired(struct app_ctl *ctl, struct app_state *st, const char *cluster, const json_t *entries,
			 bool keep_old, struct errbuf *err)
{
	char wname[300];
	json_t *w = NULL, *md, *old = json_object_get(st->works, cluster), *hit;

	(void)ctl;
	if (!st->desired)
		st->desired = json_object();
	hit = json_object_get(st->desired, cluster);
	if (hit && json_array_get(hit, 1) == (old ? old : json_null()) &&
	    json_is_true(json_array_get(hit, 2)) == keep_old && same_elements(json_array_get(hit, 0), entries))
		return json_incref(json_array_get(hit, 3));
	if (app_render_work(st->run->spec, cluster, entries, st->run->defs, err, &w) < 0)
		return NULL;
	app_work_name(st->ns, st->name, wname, sizeof(wname));
	md = kobj_metadata(w, true);
	json_object_set_new(md, "name", json_string(wname));
	json_object_set_new(md, "namespace", json_string(cluster));
	kobj_set_label(w, APP_LABEL_NAME, st->name);
	kobj_set_label(w, APP_LABEL_NAMESPACE, st->ns);
	if (!json_object_get(w, "apiVersion"))
		json_object_set_new(w, "apiVersion", json_string(HUB_GROUP_WORK "/v1"));
	if (!json_object_get(w, "kind"))
		json_object_set_new(w, "kind", json_string("ManifestWork"));
	if (keep_old && old && !kobj_get_path(old, "metadata.deletionTimestamp"))
		keep_old_objects(w, old, entries);
	rollout_sources(w, old && !kobj_get_path(old, "metadata.deletionTimestamp") ? old : NULL);
	json_object_set_new(st->desired, cluster,
			    json_pack("[o, O, b, O, n, b]", json_copy((json_t *)entries), old ? old : json_null(), keep_old,
				      w, false));
	return w;
}

/* See app_int.h. When desired is app_work_desired's remembered answer, the
 * comparison is remembered with it (slots 4 and 5: the stored work compared,
 * held, and the result) until the stored work changes. */
bool app_work_uptodate(struct app_state *st, const char *cluster, const json_t *desired)
{
	json_t *old = json_object_get(st->works, cluster);
	json_t *hit = st->desired ? json_object_get(st->desired, cluster) : NULL;
	bool eq;

	if (!old || kobj_get_path(old, "metadata.deletionTimestamp"))
		return false;
	if (hit && json_array_get(hit, 3) == desired && json_array_get(hit, 4) == old)
		return json_is_true(json_array_get(hit, 5));
	eq = json_equal(json_object_get(old, "spec"), json_object_get(desired, "spec"));
	if (hit && json_array_get(hit, 3) == desired) {
		json_array_set(hit, 4, old);
		json_array_set_new(hit, 5, json_boolean(eq));
	}
	return eq;
}

/* See app_int.h. */
int app_work_write(struct app_ctl *ctl, struct app_state *st, const char *cluster, const json_t *desired)
{
	json_t *old = json_object_get(st->works, cluster), *obj;
	const char *rev = st->run ? st->run->rev_name : NULL;
	struct errbuf err = {""};
	int r;

	if (old && kobj_get_path(old, "metadata.deletionTimestamp"))
		return 0; /* written again once it is gone */
	if (old && app_work_uptodate(st, cluster, desired) && kobj_label(old, APP_LABEL_NAME) &&
	    kobj_label(old, APP_LABEL_NAMESPACE))
		return 0;
	/* Shallow copies with their own metadata: kapi copies what it stores,
	 * and neither old (the store's) nor desired (remembered) may change. */
	if (old) {
		obj = json_copy(old);
		json_object_set_new(obj, "metadata", json_deep_copy(kobj_metadata(old, false)));
		json_object_set(obj, "spec", json_object_get(desired, "spec"));
		json_object_del(kobj_metadata(obj, true), "resourceVersion");
		json_object_del(kobj_metadata(obj, true), "managedFields");
		kobj_set_label(obj, APP_LABEL_NAME, st->name);
		kobj_set_label(obj, APP_LABEL_NAMESPACE, st->ns);
		if (rev)
			kobj_set_annotation(obj, APP_ANNOT_WORK_REVISION, rev);
		r = kapi_update(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, obj, &work_opts, &err, NULL);
	} else {
		obj = json_copy((json_t *)desired);
		json_object_set_new(obj, "metadata", json_deep_copy(kobj_metadata((json_t *)desired, false)));
		if (rev)
			kobj_set_annotation(obj, APP_ANNOT_WORK_REVISION, rev);
		r = kapi_create(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cluster, obj, &work_opts, &err, NULL);
	}
	json_decref(obj);
	if (r < 0) {
		log_warn("application %s/%s: cannot write its work on %s: %s", st->ns, st->name, cluster, err.msg);
		return r;
	}
	log_debug("application %s/%s: work on %s written (%s)", st->ns, st->name, cluster, rev ? rev : "");
	return 1;
}

static bool has_finalizer(const json_t *obj, const char *f)
{
	json_t *fin = kobj_get_path(obj, "metadata.finalizers"), *x;
	size_t i;

	json_array_foreach(fin, i, x)
		if (json_is_string(x) && !strcmp(json_string_value(x), f))
			return true;
	return false;
}

/* See app_int.h. */
int app_work_delete(struct app_ctl *ctl, struct app_state *st, const char *cluster)
{
	json_t *old = json_object_get(st->works, cluster), *cur = NULL, *fin, *nf, *x;
	char name[300];
	struct errbuf err = {""};
	size_t i;
	int r = 0;

	if (!old)
		return 0;
	if (st->desired)
		json_object_del(st->desired, cluster);
	snprintf(name, sizeof(name), "%s", kobj_name(old) ? kobj_name(old) : "");
	if (!kobj_get_path(old, "metadata.deletionTimestamp")) {
		/* old may be released by the subscription from here on */
		r = kapi_delete(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cluster, name, NULL, &err, NULL);
		if (r < 0 && r != -ENOENT) {
			log_warn("application %s/%s: cannot delete its work on %s: %s", st->ns, st->name, cluster, err.msg);
			return r;
		}
		log_info("application %s/%s: work on %s deleted", st->ns, st->name, cluster);
		if (r == 0 || r == -ENOENT)
			return 0;
	}
	if (app_cluster_available(ctl, cluster))
		return 0;
	/* nobody will confirm: let it go now */
	if (kapi_get(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cluster, name, NULL, &cur) < 0)
		return 0;
	if (!has_finalizer(cur, APP_WORK_FINALIZER))
		goto out;
	fin = kobj_get_path(cur, "metadata.finalizers");
	nf = json_array();
	json_array_foreach(fin, i, x)
		if (!json_is_string(x) || strcmp(json_string_value(x), APP_WORK_FINALIZER))
			json_array_append(nf, x);
	json_object_set_new(kobj_metadata(cur, true), "finalizers", nf);
	json_object_del(kobj_metadata(cur, true), "resourceVersion");
	r = kapi_update(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cur, &work_opts, &err, NULL);
	if (r < 0)
		log_warn("application %s/%s: cannot release its work on unavailable cluster %s: %s", st->ns, st->name,
			 cluster, err.msg);
	else
		log_info("application %s/%s: work on %s released (the cluster is not available)", st->ns, st->name,
			 cluster);
	r = r < 0 ? r : 0;
out:
	json_decref(cur);
	return r;
}
