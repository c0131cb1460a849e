/* placement_resources.c - OCM's placement resources on the hub, and their
 * admission (placement.h).
 *
 *   cluster.open-cluster-management.io/v1beta1 Placement (namespaced)
 *   cluster.open-cluster-management.io/v1beta1 PlacementDecision (namespaced;
 *       read-only through the API: placement.c writes them)
 *   cluster.open-cluster-management.io/v1beta2 ManagedClusterSet (cluster-scoped)
 *   cluster.open-cluster-management.io/v1beta2 ManagedClusterSetBinding (namespaced)
 *   work.open-cluster-management.io/v1alpha1 ManifestWorkReplicaSet (namespaced, "mwrs")
 *
 * Admission follows OCM's schemas for what Nave implements and refuses,
 * naming the field, what it does not (celSelector, spreadPolicy,
 * prioritizers other than the built-in Steady and Balance, add-on scores,
 * tolerationSeconds): a Placement that Nave would silently evaluate
 * differently is worse than a clear 422. The ManifestWorkReplicaSet's
 * template is checked with the ManifestWork rules (hub_check_work) and each
 * rolloutStrategy with wave_strategy_parse. Status writes are not checked
 * (the controllers make them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hub_int.h"
#include "kobj.h"
#include "placement.h"
#include "selector.h"
#include "wave.h"

static bool status_write(const struct kapi_admit_req *rq)
{
	return rq->subresource && !strcmp(rq->subresource, "status");
}

static bool absent(const json_t *v)
{
	return !v || json_is_null(v);
}

static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

/* Refuse keys of obj not in known, naming the first one. */
static int check_keys(const json_t *obj, const char *field, const char *const *known, const char *why,
		      struct errbuf *err)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) {
		if (!one_of(k, known))
			return errbuf_set(err, -EINVAL, "%s.%s: Unsupported field%s%s", field, k, why ? ": " : "",
					  why ? why : "");
	}
	return 0;
}

static int check_enum(const json_t *v, const char *field, const char *const *set, struct errbuf *err)
{
	char allowed[256] = "";
	size_t n = 0;

	if (absent(v))
		return 0;
	if (json_is_string(v) && one_of(json_string_value(v), set))
		return 0;
	for (const char *const *s = set; *s; s++)
		n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s\"%s\"", n ? ", " : "", *s);
	return errbuf_set(err, -EINVAL, "%s: Unsupported value: %.64s: supported values: %s", field,
			  json_is_string(v) ? json_string_value(v) : "(not a string)", allowed);
}

static int check_array(const json_t *v, const char *field, size_t max, struct errbuf *err)
{
	if (absent(v))
		return 0;
	if (!json_is_array(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an array", field);
	if (json_array_size(v) > max)
		return errbuf_set(err, -EINVAL, "%s: Too many: %zu: must have at most %zu items", field,
				  json_array_size(v), max);
	return 0;
}

static int check_label_selector(const json_t *v, const char *field, struct errbuf *err)
{
	struct label_selector *sel = NULL;
	struct errbuf e2;
	int r;

	if (absent(v))
		return 0;
	if (!json_is_object(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object", field);
	r = label_selector_from_json(v, &e2, &sel);
	label_selector_free(sel);
	if (r < 0)
		return errbuf_set(err, -EINVAL, "%s: %s", field, e2.msg);
	return 0;
}

/* A ClusterSelector {labelSelector, claimSelector} (celSelector refused). */
static int check_cluster_selector(const json_t *v, const char *field, struct errbuf *err)
{
	static const char *const keys[] = {"labelSelector", "claimSelector", NULL};
	static const char *const claim_keys[] = {"matchExpressions", NULL};
	char f[160];
	json_t *claims;
	int r;

	if (absent(v))
		return 0;
	if (!json_is_object(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object", field);
	if (json_object_get(v, "celSelector"))
		return errbuf_set(err, -EINVAL,
				  "%s.celSelector: Unsupported field: CEL cluster selectors are not supported by Nave "
				  "(use labelSelector or claimSelector; docs/ocm-compatibility.md)", field);
	if ((r = check_keys(v, field, keys, NULL, err)) < 0)
		return r;
	snprintf(f, sizeof(f), "%s.labelSelector", field);
	if ((r = check_label_selector(json_object_get(v, "labelSelector"), f, err)) < 0)
		return r;
	claims = json_object_get(v, "claimSelector");
	snprintf(f, sizeof(f), "%s.claimSelector", field);
	if (!absent(claims)) {
		if (!json_is_object(claims))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object", f);
		if ((r = check_keys(claims, f, claim_keys, NULL, err)) < 0)
			return r;
		if ((r = check_label_selector(claims, f, err)) < 0)
			return r;
	}
	return 0;
}

static int check_count_or_percent(const json_t *v, const char *field, struct errbuf *err)
{
	if (absent(v))
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > PLC_CLUSTERS_MAX)
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %lld: must be 1..%d", field,
					  (long long)json_integer_value(v), PLC_CLUSTERS_MAX);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		long n = strtol(s, &end, 10);

		if (end != s && !strcmp(end, "%") && n >= 1 && n <= 100)
			return 0;
		if (end != s && !*end && n >= 1 && n <= PLC_CLUSTERS_MAX)
			return 0;
	}
	return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an integer >= 1 or a percentage \"1%%\"..\"100%%\"",
			  field);
}

static int check_tolerations(const json_t *tols, struct errbuf *err)
{
	static const char *const keys[] = {"key", "operator", "value", "effect", NULL};
	static const char *const ops[] = {"Exists", "Equal", NULL};
	static const char *const effects[] = {"NoSelect", "PreferNoSelect", "NoSelectIfNew", NULL};
	char f[96];
	json_t *t;
	size_t i;
	int r;

	if ((r = check_array(tols, "spec.tolerations", PLC_LIST_MAX, err)) < 0)
		return r;
	json_array_foreach(tols, i, t) {
		snprintf(f, sizeof(f), "spec.tolerations[%zu]", i);
		if (!json_is_object(t))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object", f);
		if (json_object_get(t, "tolerationSeconds"))
			return errbuf_set(err, -EINVAL,
					  "%s.tolerationSeconds: Unsupported field: Nave tolerates a taint for good or not "
					  "at all (docs/ocm-compatibility.md)", f);
		if ((r = check_keys(t, f, keys, NULL, err)) < 0)
			return r;
		for (const char *const *k = keys; *k; k++) {
			json_t *v = json_object_get(t, *k);

			if (!absent(v) && !json_is_string(v))
				return errbuf_set(err, -EINVAL, "%s.%s: Invalid value: must be a string", f, *k);
		}
		snprintf(f, sizeof(f), "spec.tolerations[%zu].operator", i);
		if ((r = check_enum(json_object_get(t, "operator"), f, ops, err)) < 0)
			return r;
		snprintf(f, sizeof(f), "spec.tolerations[%zu].effect", i);
		if ((r = check_enum(json_object_get(t, "effect"), f, effects, err)) < 0)
			return r;
		if (json_is_string(json_object_get(t, "operator")) &&
		    !strcmp(json_string_value(json_object_get(t, "operator")), "Exists") &&
		    json_string_length(json_object_get(t, "value")))
			return errbuf_set(err, -EINVAL, "spec.tolerations[%zu].value: Invalid value: must be empty when "
					  "operator is Exists", i);
		if (!json_string_length(json_object_get(t, "key")) &&
		    !(json_is_string(json_object_get(t, "operator")) &&
		      !strcmp(json_string_value(json_object_get(t, "operator")), "Exists")))
			return errbuf_set(err, -EINVAL, "spec.tolerations[%zu].operator: Invalid value: must be Exists "
					  "when key is empty", i);
	}
	return 0;
}

static int check_prioritizers(const json_t *p, struct errbuf *err)
{
	static const char *const keys[] = {"mode", "configurations", NULL};
	static const char *const modes[] = {"Additive", "Exact", NULL};
	static const char *const builtin[] = {"Steady", "Balance", NULL};
	json_t *cfgs, *c;
	char f[128];
	size_t i;
	int r;

	if (absent(p))
		return 0;
	if (!json_is_object(p))
		return errbuf_set(err, -EINVAL, "spec.prioritizerPolicy: Invalid value: must be an object");
	if ((r = check_keys(p, "spec.prioritizerPolicy", keys, NULL, err)) < 0 ||
	    (r = check_enum(json_object_get(p, "mode"), "spec.prioritizerPolicy.mode", modes, err)) < 0)
		return r;
	cfgs = json_object_get(p, "configurations");
	if ((r = check_array(cfgs, "spec.prioritizerPolicy.configurations", PLC_LIST_MAX, err)) < 0)
		return r;
	json_array_foreach(cfgs, i, c) {
		json_t *sc = json_object_get(c, "scoreCoordinate");
		const char *type = json_string_value(json_object_get(sc, "type"));
		json_t *name = json_object_get(sc, "builtIn");

		if (!json_is_object(c))
			return errbuf_set(err, -EINVAL, "spec.prioritizerPolicy.configurations[%zu]: must be an object", i);
		if (type && !strcmp(type, "AddOn"))
			return errbuf_set(err, -EINVAL,
					  "spec.prioritizerPolicy.configurations[%zu].scoreCoordinate.type: Unsupported "
					  "value: \"AddOn\": add-on scores (AddOnPlacementScore) are not supported by Nave",
					  i);
		if (!name)
			name = json_object_get(c, "name"); /* the deprecated form */
		snprintf(f, sizeof(f), "spec.prioritizerPolicy.configurations[%zu].scoreCoordinate.builtIn", i);
		if (!name)
			return errbuf_set(err, -EINVAL, "%s: Required value", f);
		if ((r = check_enum(name, f, builtin, err)) < 0)
			return errbuf_set(err, r, "%s (Nave prefers clusters already selected, then orders by name)",
					  err->msg);
	}
	return 0;
}

static int check_groups(const json_t *ds, struct errbuf *err)
{
	static const char *const ds_keys[] = {"groupStrategy", NULL};
	static const char *const gs_keys[] = {"decisionGroups", "clustersPerDecisionGroup", NULL};
	static const char *const g_keys[] = {"groupName", "groupClusterSelector", NULL};
	json_t *gs, *groups, *g;
	char f[128];
	size_t i;
	int r;

	if (absent(ds))
		return 0;
	if (!json_is_object(ds))
		return errbuf_set(err, -EINVAL, "spec.decisionStrategy: Invalid value: must be an object");
	if ((r = check_keys(ds, "spec.decisionStrategy", ds_keys, NULL, err)) < 0)
		return r;
	gs = json_object_get(ds, "groupStrategy");
	if (absent(gs))
		return 0;
	if (!json_is_object(gs))
		return errbuf_set(err, -EINVAL, "spec.decisionStrategy.groupStrategy: Invalid value: must be an object");
	if ((r = check_keys(gs, "spec.decisionStrategy.groupStrategy", gs_keys, NULL, err)) < 0 ||
	    (r = check_count_or_percent(json_object_get(gs, "clustersPerDecisionGroup"),
					"spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup", err)) < 0)
		return r;
	groups = json_object_get(gs, "decisionGroups");
	if ((r = check_array(groups, "spec.decisionStrategy.groupStrategy.decisionGroups", PLC_LIST_MAX, err)) < 0)
		return r;
	json_array_foreach(groups, i, g) {
		const char *name = json_string_value(json_object_get(g, "groupName"));
		struct errbuf e2;

		snprintf(f, sizeof(f), "spec.decisionStrategy.groupStrategy.decisionGroups[%zu]", i);
		if (!json_is_object(g))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object", f);
		if ((r = check_keys(g, f, g_keys, NULL, err)) < 0)
			return r;
		if (!name || !*name)
			return errbuf_set(err, -EINVAL, "%s.groupName: Required value", f);
		if (label_value_validate(PLC_LABEL_GROUP_NAME, name, &e2) < 0)
			return errbuf_set(err, -EINVAL, "%s.groupName: %s", f, e2.msg);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(name, json_string_value(json_object_get(json_array_get(groups, j), "groupName"))))
				return errbuf_set(err, -EINVAL, "%s.groupName: Duplicate value: \"%s\"", f, name);
		snprintf(f, sizeof(f), "spec.decisionStrategy.groupStrategy.decisionGroups[%zu].groupClusterSelector", i);
		if ((r = check_cluster_selector(json_object_get(g, "groupClusterSelector"), f, err)) < 0)
			return r;
	}
	return 0;
}

/* See placement.h. */
int placement_check(const json_t *obj, struct errbuf *err)
{
	static const char *const keys[] = {"clusterSets", "numberOfClusters", "predicates", "prioritizerPolicy",
					   "tolerations", "decisionStrategy", "spreadPolicy", NULL};
	json_t *spec = json_object_get(obj, "spec"), *v, *p;
	char f[96];
	size_t i;
	int r;

	if (absent(spec))
		return 0;
	if (!json_is_object(spec))
		return errbuf_set(err, -EINVAL, "spec: Invalid value: must be an object");
	if ((r = check_keys(spec, "spec", keys, NULL, err)) < 0)
		return r;
	v = json_object_get(spec, "clusterSets");
	if ((r = check_array(v, "spec.clusterSets", PLC_LIST_MAX, err)) < 0)
		return r;
	json_array_foreach(v, i, p)
		if (!json_is_string(p) || !kobj_valid_subdomain(json_string_value(p)))
			return errbuf_set(err, -EINVAL, "spec.clusterSets[%zu]: Invalid value: must be a cluster set name",
					  i);
	v = json_object_get(spec, "numberOfClusters");
	if (!absent(v) && (!json_is_integer(v) || json_integer_value(v) < 0 ||
			   json_integer_value(v) > PLC_CLUSTERS_MAX))
		return errbuf_set(err, -EINVAL, "spec.numberOfClusters: Invalid value: must be an integer 0..%d",
				  PLC_CLUSTERS_MAX);
	v = json_object_get(spec, "predicates");
	if ((r = check_array(v, "spec.predicates", PLC_LIST_MAX, err)) < 0)
		return r;
	json_array_foreach(v, i, p) {
		static const char *const pkeys[] = {"requiredClusterSelector", NULL};

		snprintf(f, sizeof(f), "spec.predicates[%zu]", i);
		if (!json_is_object(p))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object", f);
		if ((r = check_keys(p, f, pkeys, NULL, err)) < 0)
			return r;
		snprintf(f, sizeof(f), "spec.predicates[%zu].requiredClusterSelector", i);
		if ((r = check_cluster_selector(json_object_get(p, "requiredClusterSelector"), f, err)) < 0)
			return r;
	}
	if ((r = check_prioritizers(json_object_get(spec, "prioritizerPolicy"), err)) < 0 ||
	    (r = check_tolerations(json_object_get(spec, "tolerations"), err)) < 0 ||
	    (r = check_groups(json_object_get(spec, "decisionStrategy"), err)) < 0)
		return r;
	v = json_object_get(spec, "spreadPolicy");
	if (!absent(v) && json_array_size(json_object_get(v, "spreadConstraints")))
		return errbuf_set(err, -EINVAL,
				  "spec.spreadPolicy.spreadConstraints: Unsupported field: spread constraints are not "
				  "supported by Nave (docs/ocm-compatibility.md)");
	return 0;
}

/* See placement.h. */
int placement_check_mwrs(struct hub *h, const json_t *obj, struct errbuf *err)
{
	static const char *const keys[] = {"placementRefs", "manifestWorkTemplate", "cascadeDeletionPolicy", NULL};
	static const char *const cascade[] = {"Background", "Foreground", NULL};
	const char *ns = kobj_namespace(obj), *name = kobj_name(obj);
	json_t *spec = json_object_get(obj, "spec"), *refs, *ref, *tmpl, *work;
	struct wave_strategy ws;
	struct errbuf e2;
	char f[96];
	size_t i;
	int r;

	if (ns && name && strlen(ns) + 1 + strlen(name) > 63)
		return errbuf_set(err, -EINVAL,
				  "metadata.name: Invalid value: \"%.40s\": \"<namespace>.<name>\" must be at most 63 "
				  "characters (it is the value of the label %s on its ManifestWorks)", name, PLC_LABEL_MWRS);
	if (!json_is_object(spec))
		return errbuf_set(err, -EINVAL, "spec: Required value");
	if ((r = check_keys(spec, "spec", keys, NULL, err)) < 0)
		return r;
	refs = json_object_get(spec, "placementRefs");
	if (!json_is_array(refs) || !json_array_size(refs))
		return errbuf_set(err, -EINVAL, "spec.placementRefs: Required value: at least one placement");
	if ((r = check_array(refs, "spec.placementRefs", PLC_LIST_MAX, err)) < 0)
		return r;
	json_array_foreach(refs, i, ref) {
		static const char *const rkeys[] = {"name", "rolloutStrategy", NULL};
		const char *pn = json_string_value(json_object_get(ref, "name"));

		snprintf(f, sizeof(f), "spec.placementRefs[%zu]", i);
		if (!json_is_object(ref))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object", f);
		if ((r = check_keys(ref, f, rkeys, NULL, err)) < 0)
			return r;
		if (!pn || !kobj_valid_subdomain(pn))
			return errbuf_set(err, -EINVAL, "%s.name: Required value: the name of a Placement in the "
					  "namespace", f);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(pn, json_string_value(json_object_get(json_array_get(refs, j), "name"))))
				return errbuf_set(err, -EINVAL, "%s.name: Duplicate value: \"%s\"", f, pn);
		snprintf(f, sizeof(f), "spec.placementRefs[%zu].rolloutStrategy", i);
		memset(&ws, 0, sizeof(ws));
		r = wave_strategy_parse(json_object_get(ref, "rolloutStrategy"), f, err, &ws);
		wave_strategy_clear(&ws);
		if (r < 0)
			return r;
	}
	if ((r = check_enum(json_object_get(spec, "cascadeDeletionPolicy"), "spec.cascadeDeletionPolicy", cascade,
			    err)) < 0)
		return r;
	tmpl = json_object_get(spec, "manifestWorkTemplate");
	if (!json_is_object(tmpl))
		return errbuf_set(err, -EINVAL, "spec.manifestWorkTemplate: Required value");
	/* the template as a work in a placeholder cluster namespace */
	work = json_pack("{s:s,s:s,s:{s:s,s:s},s:O}", "apiVersion", "work.open-cluster-management.io/v1", "kind",
			 "ManifestWork", "metadata", "name", name ? name : "template", "namespace", "template",
			 "spec", tmpl);
	r = hub_check_work(h, work, &e2);
	json_decref(work);
	if (r < 0) {
		if (!strncmp(e2.msg, "spec.", 5))
			return errbuf_set(err, r, "spec.manifestWorkTemplate.%s", e2.msg + 5);
		return errbuf_set(err, r, "spec.manifestWorkTemplate: %s", e2.msg);
	}
	return 0;
}

static int admit_placement(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	(void)data;
	if (rq->op == KAPI_OP_DELETE || status_write(rq) || !rq->new_obj)
		return 0;
	return placement_check(rq->new_obj, err);
}

static int admit_mwrs(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	if (rq->op == KAPI_OP_DELETE || status_write(rq) || !rq->new_obj)
		return 0;
	if (rq->op == KAPI_OP_UPDATE && rq->old_obj &&
	    json_equal(json_object_get(rq->old_obj, "spec"), json_object_get(rq->new_obj, "spec")))
		return 0; /* metadata only (the controller's finalizer) */
	return placement_check_mwrs(data, rq->new_obj, err);
}

static int admit_set(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	static const char *const types[] = {"ExclusiveClusterSetLabel", "LabelSelector", NULL};
	json_t *spec, *cs;
	int r;

	(void)data;
	if (rq->op == KAPI_OP_DELETE || status_write(rq) || !rq->new_obj)
		return 0;
	spec = json_object_get(rq->new_obj, "spec");
	if (absent(spec))
		return 0;
	if (!json_is_object(spec))
		return errbuf_set(err, -EINVAL, "spec: Invalid value: must be an object");
	cs = json_object_get(spec, "clusterSelector");
	if (absent(cs))
		return 0;
	if (!json_is_object(cs))
		return errbuf_set(err, -EINVAL, "spec.clusterSelector: Invalid value: must be an object");
	if ((r = check_enum(json_object_get(cs, "selectorType"), "spec.clusterSelector.selectorType", types, err)) < 0)
		return r;
	return check_label_selector(json_object_get(cs, "labelSelector"), "spec.clusterSelector.labelSelector", err);
}

static int admit_binding(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	const char *set, *name;

	(void)data;
	if (rq->op == KAPI_OP_DELETE || status_write(rq) || !rq->new_obj)
		return 0;
	set = json_string_value(kobj_get_path(rq->new_obj, "spec.clusterSet"));
	name = kobj_name(rq->new_obj);
	if (!set || !*set)
		return errbuf_set(err, -EINVAL, "spec.clusterSet: Required value");
	if (name && strcmp(set, name))
		return errbuf_set(err, -EINVAL,
				  "spec.clusterSet: Invalid value: \"%.64s\": must equal metadata.name \"%.64s\" (as OCM's "
				  "webhook requires)", set, name);
	return 0;
}

static int reg(struct hub *h, struct kapi_resource_def *d, const char *cols)
{
	json_error_t je;
	json_t *pc = cols ? json_loads(cols, 0, &je) : NULL;
	int r;

	d->printer_columns = pc;
	r = kapi_server_register(h->kapi, d, NULL);
	json_decref(pc);
	return r;
}

#define AGE_COL "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}"

/* See placement.h. */
int placement_resources_register(struct hub *h)
{
	static const char *const mwrs_short[] = {"mwrs", NULL};
	static const char *const set_short[] = {"mclset", "mclsets", NULL};
	static const char *const binding_short[] = {"mclsetbinding", "mclsetbindings", NULL};
	struct kapi_resource_def placements = {
		.group = PLC_GROUP_CLUSTER, .version = "v1beta1", .resource = PLC_RES_PLACEMENTS,
		.singular = "placement", .kind = "Placement", .namespaced = true, .verbs = KAPI_VERBS_ALL,
		.has_status = true, .generation = KAPI_GEN_NOT_METADATA, .custom = true,
		.admit = admit_placement, .admit_data = h,
	};
	struct kapi_resource_def decisions = {
		.group = PLC_GROUP_CLUSTER, .version = "v1beta1", .resource = PLC_RES_DECISIONS,
		.singular = "placementdecision", .kind = "PlacementDecision", .namespaced = true,
		.verbs = KAPI_VERBS_READ, .has_status = true, .generation = KAPI_GEN_NOT_METADATA, .custom = true,
	};
	struct kapi_resource_def sets = {
		.group = PLC_GROUP_CLUSTER, .version = "v1beta2", .resource = PLC_RES_SETS,
		.singular = "managedclusterset", .kind = "ManagedClusterSet", .short_names = set_short,
		.namespaced = false, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true, .admit = admit_set, .admit_data = h,
	};
	struct kapi_resource_def bindings = {
		.group = PLC_GROUP_CLUSTER, .version = "v1beta2", .resource = PLC_RES_BINDINGS,
		.singular = "managedclustersetbinding", .kind = "ManagedClusterSetBinding",
		.short_names = binding_short, .namespaced = true, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true, .admit = admit_binding, .admit_data = h,
	};
	struct kapi_resource_def mwrs = {
		.group = PLC_GROUP_WORK, .version = "v1alpha1", .resource = PLC_RES_MWRS,
		.singular = "manifestworkreplicaset", .kind = "ManifestWorkReplicaSet", .short_names = mwrs_short,
		.namespaced = true, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true, .admit = admit_mwrs, .admit_data = h,
	};
	int r;

	if ((r = reg(h, &placements,
		     "[{\"name\":\"Succeeded\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"PlacementSatisfied\\\")].status\"},"
		     "{\"name\":\"Reason\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"PlacementSatisfied\\\")].reason\"},"
		     "{\"name\":\"SelectedClusters\",\"type\":\"integer\",\"jsonPath\":\".status.numberOfSelectedClusters\"},"
		     AGE_COL "]")) < 0 ||
	    (r = reg(h, &decisions, "[" AGE_COL "]")) < 0 ||
	    (r = reg(h, &sets,
		     "[{\"name\":\"Empty\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"ClusterSetEmpty\\\")].status\"}," AGE_COL "]")) < 0 ||
	    (r = reg(h, &bindings, "[{\"name\":\"ClusterSet\",\"type\":\"string\",\"jsonPath\":\".spec.clusterSet\"},"
		     AGE_COL "]")) < 0 ||
	    (r = reg(h, &mwrs,
		     "[{\"name\":\"Placement\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"PlacementVerified\\\")].reason\"},"
		     "{\"name\":\"Found\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"PlacementVerified\\\")].status\"},"
		     "{\"name\":\"ManifestWorks\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"ManifestworkApplied\\\")].reason\"},"
		     AGE_COL "]")) < 0)
		return r;
	return 0;
}
