/* placement.c - the placement controller: Placements become
 * PlacementDecisions (placement.h; docs/api.md "Placement").
 *
 * One kapi subscription queues work; a 0 ms timer works it off once per
 * loop turn (every change of one turn is one evaluation per placement):
 *   - a Placement whose spec, generation or deletion changed is queued; a
 *     deleted one loses its PlacementDecisions at once;
 *   - a change of a ManagedCluster's labels, spec, deletion, claims or
 *     availability (what evaluation reads; not its other conditions), and
 *     any change of a ManagedClusterSet or ManagedClusterSetBinding, queues
 *     every Placement (labels, claims, availability, sets and bindings all
 *     move decisions).
 *
 * Evaluation of one Placement, as OCM's scheduler for what Nave supports:
 *   1. the sets it may use: those bound to its namespace by a
 *      ManagedClusterSetBinding (name = spec.clusterSet) whose set exists
 *      ("global" always exists: every cluster, as OCM's global set with an
 *      empty selector), narrowed to spec.clusterSets when given;
 *   2. the clusters in those sets (ExclusiveClusterSetLabel: the label
 *      cluster.open-cluster-management.io/clusterset = the set's name;
 *      LabelSelector: the set's selector), accepted and not deleting;
 *   3. predicates, ORed; in each, labelSelector AND claimSelector (over
 *      status.clusterClaims as name -> value);
 *   4. taints: spec.taints plus, EVALUATED VIRTUALLY from the
 *      ManagedClusterConditionAvailable condition (Nave writes no taints):
 *      cluster.open-cluster-management.io/unavailable (NoSelect) when it
 *      is False, .../unreachable (NoSelect) when it is Unknown or missing.
 *      NoSelect excludes unless tolerated, NoSelectIfNew excludes clusters
 *      not already decided, PreferNoSelect does not exclude;
 *   5. numberOfClusters: clusters already decided first (Steady), then by
 *      name;
 *   6. groups: decisionGroups[] in order (a cluster joins the first group
 *      whose groupClusterSelector matches), then the rest; each split into
 *      chunks of clustersPerDecisionGroup (a count or a percentage of the
 *      selected clusters, rounded up; default all). Group indexes run over
 *      the chunks in that order.
 * Output: PlacementDecisions <placement>-decision-<k> (k from 1), at most
 * 100 decisions each, labelled with the placement and the group's index and
 * name, owned by the Placement; an empty one when nothing is selected (as
 * OCM). Placement status: numberOfSelectedClusters, decisionGroups[] and
 * the conditions PlacementSatisfied and PlacementMisconfigured. After a
 * change of clusters, sets or bindings, the sets' ClusterSetEmpty and the
 * bindings' Bound conditions are written too. Every write happens only when
 * something changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hub_int.h"
#include "kobj.h"
#include "log.h"
#include "placement.h"
#include "selector.h"
#include "timefmt.h"

#define PLC_BATCH_MAX 256 /* placements evaluated per loop turn */

struct plc_ctl {
	struct hub *h;            /* borrowed */
	struct kapi_server *kapi; /* borrowed */
	struct kapi_sub *sub;     /* borrowed handle */
	uv_timer_t kick;
	json_t *dirty;            /* owned: "ns/name" -> true */
	bool all_dirty;
	bool stopping;
};

/* One evaluation's view of the fleet (owned references). */
struct plc_fleet {
	json_t *clusters; /* array of ManagedClusters (borrowed immutable objects, referenced) */
};

static void on_kick(uv_timer_t *t);

static void mark(struct plc_ctl *ctl, const char *ns, const char *name)
{
	char key[512];

	if (ctl->stopping || !ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	json_object_set_new(ctl->dirty, key, json_true());
	if (!uv_is_active((uv_handle_t *)&ctl->kick))
		uv_timer_start(&ctl->kick, on_kick, 0, 0);
}

static void mark_all(struct plc_ctl *ctl)
{
	if (ctl->stopping)
		return;
	ctl->all_dirty = true;
	if (!uv_is_active((uv_handle_t *)&ctl->kick))
		uv_timer_start(&ctl->kick, on_kick, 0, 0);
}

/* Helpers ------------------------------------------------------------------- */

static bool str_in(const json_t *arr, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

static bool selector_matches(const json_t *sel_obj, const json_t *labels)
{
	struct label_selector *sel = NULL;
	struct errbuf err;
	bool ok;

	if (!sel_obj || json_is_null(sel_obj))
		return true;
	if (label_selector_from_json(sel_obj, &err, &sel) < 0)
		return false; /* admission refuses these; a stored bad one selects nothing */
	ok = label_selector_matches(sel, labels);
	label_selector_free(sel);
	return ok;
}

/* status.clusterClaims as {name: value} (new reference). */
static json_t *claims_of(const json_t *mc)
{
	json_t *out = json_object(), *c;
	size_t i;

	json_array_foreach(kobj_get_path(mc, "status.clusterClaims"), i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));
		const char *v = json_string_value(json_object_get(c, "value"));

		if (n && v)
			json_object_set_new(out, n, json_string(v));
	}
	return out;
}

/* A ClusterSelector {labelSelector, claimSelector}: both must match. */
static bool cluster_selector_matches(const json_t *cs, const json_t *mc)
{
	json_t *claims;
	bool ok;

	if (!cs || json_is_null(cs))
		return true;
	if (!selector_matches(json_object_get(cs, "labelSelector"), kobj_labels(mc)))
		return false;
	if (!json_object_get(cs, "claimSelector"))
		return true;
	claims = claims_of(mc);
	ok = selector_matches(json_object_get(cs, "claimSelector"), claims);
	json_decref(claims);
	return ok;
}

/* The cluster's taints: spec.taints plus the virtual ones (new reference). */
static json_t *taints_of(const json_t *mc)
{
	json_t *out = json_array(), *t;
	const char *av = kobj_condition_status(mc, HUB_COND_AVAILABLE);
	size_t i;

	json_array_foreach(kobj_get_path(mc, "spec.taints"), i, t)
		if (json_is_object(t))
			json_array_append(out, t);
	if (av && !strcmp(av, "False"))
		json_array_append_new(out, json_pack("{s:s,s:s}", "key", PLC_TAINT_UNAVAILABLE, "effect", "NoSelect"));
	else if (!av || strcmp(av, "True"))
		json_array_append_new(out, json_pack("{s:s,s:s}", "key", PLC_TAINT_UNREACHABLE, "effect", "NoSelect"));
	return out;
}

static bool tolerates(const json_t *tol, const json_t *taint)
{
	const char *tk = json_string_value(json_object_get(tol, "key"));
	const char *op = json_string_value(json_object_get(tol, "operator"));
	const char *tv = json_string_value(json_object_get(tol, "value"));
	const char *te = json_string_value(json_object_get(tol, "effect"));
	const char *k = json_string_value(json_object_get(taint, "key"));
	const char *v = json_string_value(json_object_get(taint, "value"));
	const char *e = json_string_value(json_object_get(taint, "effect"));
	bool exists = op && !strcmp(op, "Exists");

	if (te && *te && (!e || strcmp(te, e)))
		return false;
	if (!tk || !*tk)
		return exists;
	if (!k || strcmp(tk, k))
		return false;
	if (exists)
		return true;
	return !strcmp(tv ? tv : "", v ? v : "");
}

/* Whether taints keep mc out; was_decided: it is in the current decisions. */
static bool tainted_out(const json_t *mc, const json_t *tolerations, bool was_decided)
{
	json_t *taints = taints_of(mc), *t, *tol;
	bool out = false;
	size_t i, j;

	json_array_foreach(taints, i, t) {
		const char *e = json_string_value(json_object_get(t, "effect"));
		bool tolerated = false;

		if (!e || !strcmp(e, "PreferNoSelect"))
			continue;
		if (!strcmp(e, "NoSelectIfNew") && was_decided)
			continue;
		json_array_foreach(tolerations, j, tol)
			if (tolerates(tol, t)) {
				tolerated = true;
				break;
			}
		if (!tolerated) {
			out = true;
			break;
		}
	}
	json_decref(taints);
	return out;
}

/* Sets and bindings ------------------------------------------------------------- */

/* The sets bound to ns that exist: name -> set object (or {} for a virtual
 * global). New reference. */
static json_t *bound_sets(struct plc_ctl *ctl, const char *ns)
{
	json_t *out = json_object(), *items = NULL, *b, *set;
	struct errbuf err;
	size_t i;

	if (kapi_list(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_BINDINGS, ns, NULL, NULL, &err, &items) < 0)
		return out;
	json_array_foreach(items, i, b) {
		const char *name = json_string_value(kobj_get_path(b, "spec.clusterSet"));

		if (!name || kobj_get_path(b, "metadata.deletionTimestamp"))
			continue;
		set = NULL;
		if (kapi_get(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_SETS, NULL, name, &err, &set) == 0)
			json_object_set_new(out, name, set);
		else if (!strcmp(name, PLC_GLOBAL_SET))
			json_object_set_new(out, name, json_pack("{s:{s:{s:s,s:{}}}}", "spec", "clusterSelector",
								 "selectorType", "LabelSelector", "labelSelector"));
	}
	json_decref(items);
	return out;
}

static bool in_set(const char *set_name, const json_t *set, const json_t *mc)
{
	const char *type = json_string_value(kobj_get_path(set, "spec.clusterSelector.selectorType"));
	const char *l;

	if (type && !strcmp(type, "LabelSelector"))
		return selector_matches(kobj_get_path(set, "spec.clusterSelector.labelSelector"), kobj_labels(mc));
	if (!type && !strcmp(set_name, PLC_GLOBAL_SET) && !json_object_size(kobj_get_path(set, "spec")))
		return true;
	l = kobj_label(mc, PLC_LABEL_CLUSTERSET);
	return l && !strcmp(l, set_name);
}

/* Decisions -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The current decisions of a placement: cluster name -> true. */
static json_t *decided_of(const json_t *decisions)
{
	json_t *out = json_object(), *d, *e;
	size_t i, j;

	json_array_foreach(decisions, i, d)
		json_array_foreach(kobj_get_path(d, "status.decisions"), j, e) {
			const char *c = json_string_value(json_object_get(e, "clusterName"));

			if (c)
				json_object_set_new(out, c, json_true());
		}
	return out;
}

static size_t per_group(const json_t *spec, size_t total)
{
	json_t *v = kobj_get_path(spec, "decisionStrategy.groupStrategy.clustersPerDecisionGroup");
	long n;

	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? (size_t)json_integer_value(v) : total;
	if (json_is_string(v)) {
		char *end;

		n = strtol(json_string_value(v), &end, 10);
		if (n > 0 && !strcmp(end, "%"))
			return total ? (total * (size_t)n + 99) / 100 : 1;
		if (n > 0 && !*end)
			return (size_t)n;
	}
	return total ? total : 1;
}

/* Append groups for names (array of strings) under group_name, split per size. */
static void add_groups(json_t *groups, const json_t *names, const char *group_name, size_t size)
{
	size_t n = json_array_size(names), i = 0;

	if (!size)
		size = n ? n : 1;
	do {
		json_t *chunk = json_array();

		for (size_t j = 0; j < size && i < n; j++, i++)
			json_array_append(chunk, json_array_get(names, i));
		json_array_append_new(groups, json_pack("{s:s,s:o}", "name", group_name, "clusters", chunk));
	} while (i < n);
}

/* Write one PlacementDecision as desired (create, relabel, restatus). */
static void put_decision(struct plc_ctl *ctl, const json_t *placement, const json_t *have, const char *name,
			 int gindex, const char *gname, json_t *decisions)
{
	const char *ns = kobj_namespace(placement);
	char idx[16];
	json_t *labels, *status = json_pack("{s:O}", "decisions", decisions), *obj = NULL;
	struct errbuf err;

	snprintf(idx, sizeof(idx), "%d", gindex);
	labels = json_pack("{s:s,s:s,s:s}", PLC_LABEL_PLACEMENT, kobj_name(placement), PLC_LABEL_GROUP_INDEX, idx,
			   PLC_LABEL_GROUP_NAME, gname);
	if (!have) {
		obj = json_pack("{s:s,s:s,s:{s:s,s:s,s:O},s:O}", "apiVersion", "cluster.open-cluster-management.io/v1beta1",
				"kind", "PlacementDecision", "metadata", "name", name, "namespace", ns, "labels", labels,
				"status", status);
		kobj_add_owner_ref(obj, "cluster.open-cluster-management.io/v1beta1", "Placement", kobj_name(placement),
				   kobj_uid(placement), true);
		if (kapi_create(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, ns, obj, NULL, &err, NULL) < 0)
			log_warn("placement %s/%s: cannot create %s: %s", ns, kobj_name(placement), name, err.msg);
		goto out;
	}
	if (!json_equal(kobj_labels(have), labels)) {
		obj = json_deep_copy(have);
		json_object_set(kobj_metadata(obj, true), "labels", labels);
		if (kapi_update(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, obj, NULL, &err, NULL) < 0)
			log_warn("placement %s/%s: cannot update %s: %s", ns, kobj_name(placement), name, err.msg);
		json_decref(obj);
		obj = NULL;
	}
	if (!json_equal(json_object_get(have, "status"), status)) {
		obj = json_deep_copy(have);
		json_object_set(obj, "status", status);
		json_object_del(kobj_metadata(obj, true), "resourceVersion");
		if (kapi_update_status(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, obj, NULL, &err, NULL) < 0)
			log_warn("placement %s/%s: cannot update %s's status: %s", ns, kobj_name(placement), name, err.msg);
	}
out:
	json_decref(obj);
	json_decref(labels);
	json_decref(status);
}

static json_t *condition(const json_t *old_status, const char *type, const char *status, const char *reason,
			 const char *message, json_int_t gen)
{
	json_t *conds = json_object_get(old_status, "conditions"), *c;
	char ts[40];
	const char *lt = NULL;
	size_t i;

	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		const char *s = json_string_value(json_object_get(c, "status"));

		if (t && !strcmp(t, type) && s && !strcmp(s, status))
			lt = json_string_value(json_object_get(c, "lastTransitionTime"));
	}
	if (!lt)
		lt = time_format_rfc3339(time_now_us(), ts);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "type", type, "status", status, "reason", reason, "message",
			 message, "lastTransitionTime", lt, "observedGeneration", gen);
}

static void delete_decisions(struct plc_ctl *ctl, const char *ns, const char *name, const json_t *keep)
{
	json_t *items = NULL, *d;
	struct errbuf err;
	char sel[320];
	size_t i;

	snprintf(sel, sizeof(sel), "%s=%s", PLC_LABEL_PLACEMENT, name);
	if (kapi_list(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, ns, sel, NULL, &err, &items) < 0)
		return;
	json_array_foreach(items, i, d)
		if (!keep || !json_object_get(keep, kobj_name(d)))
			kapi_delete(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, ns, kobj_name(d), NULL, &err, NULL);
	json_decref(items);
}

static const json_t *find_cluster(const struct plc_fleet *fleet, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(fleet->clusters, i, c)
		if (!strcmp(kobj_name(c), name))
			return c;
	return NULL;
}

static void evaluate(struct plc_ctl *ctl, const struct plc_fleet *fleet, const char *ns, const char *name)
{
	json_t *pl = NULL, *spec, *sets = NULL, *want_sets, *decisions = NULL, *decided = NULL, *selected = NULL;
	json_t *groups = NULL, *have = NULL, *keep = NULL, *status = NULL, *st_groups, *conds, *mc, *v, *preds;
	json_t *tolerations, *unbound = NULL;
	json_int_t want_n = -1, gen;
	struct errbuf err;
	const char **names = NULL;
	size_t i, j, nsel = 0, k = 1, total;
	char sel[320], msg[512];

	if (kapi_get(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_PLACEMENTS, ns, name, &err, &pl) < 0) {
		delete_decisions(ctl, ns, name, NULL);
		return;
	}
	if (kobj_get_path(pl, "metadata.deletionTimestamp"))
		goto out;
	spec = json_object_get(pl, "spec");
	gen = json_integer_value(kobj_get_path(pl, "metadata.generation"));
	v = json_object_get(spec, "numberOfClusters");
	if (json_is_integer(v))
		want_n = json_integer_value(v);
	sets = bound_sets(ctl, ns);
	want_sets = json_object_get(spec, "clusterSets");
	unbound = json_array();
	json_array_foreach(want_sets, i, v)
		if (json_is_string(v) && !json_object_get(sets, json_string_value(v)))
			json_array_append(unbound, v);
	snprintf(sel, sizeof(sel), "%s=%s", PLC_LABEL_PLACEMENT, name);
	if (kapi_list(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, ns, sel, NULL, &err, &decisions) < 0)
		decisions = json_array();
	decided = decided_of(decisions);
	preds = json_object_get(spec, "predicates");
	tolerations = json_object_get(spec, "tolerations");

	/* feasible clusters, in name order */
	selected = json_array();
	json_array_foreach(fleet->clusters, i, mc) {
		const char *cn = kobj_name(mc), *sn;
		bool ok = false;

		if (!cn || kobj_get_path(mc, "metadata.deletionTimestamp") ||
		    !json_is_true(kobj_get_path(mc, "spec.hubAcceptsClient")))
			continue;
		json_object_foreach(sets, sn, v)
			if ((!json_array_size(want_sets) || str_in(want_sets, sn)) && in_set(sn, v, mc)) {
				ok = true;
				break;
			}
		if (!ok)
			continue;
		if (json_array_size(preds)) {
			json_t *p;

			ok = false;
			json_array_foreach(preds, j, p)
				if (cluster_selector_matches(json_object_get(p, "requiredClusterSelector"), mc)) {
					ok = true;
					break;
				}
			if (!ok)
				continue;
		}
		if (tainted_out(mc, tolerations, json_object_get(decided, cn) != NULL))
			continue;
		json_array_append_new(selected, json_string(cn));
	}
	total = json_array_size(selected);
	/* numberOfClusters: steady first, then by name */
	if (want_n >= 0 && total > (size_t)want_n) {
		json_t *pick = json_array(), *sorted = json_array();

		for (int pass = 0; pass < 2; pass++)
			json_array_foreach(selected, i, v) {
				bool was = json_object_get(decided, json_string_value(v)) != NULL;

				if (json_array_size(pick) < (size_t)want_n && was == (pass == 0))
					json_array_append(pick, v);
			}
		names = xcalloc(json_array_size(pick) + 1, sizeof(*names));
		json_array_foreach(pick, i, v)
			names[i] = json_string_value(v);
		qsort(names, json_array_size(pick), sizeof(*names), cmp_str);
		for (i = 0; i < json_array_size(pick); i++)
			json_array_append_new(sorted, json_string(names[i]));
		free(names);
		names = NULL;
		json_decref(pick);
		json_decref(selected);
		selected = sorted;
	}
	nsel = json_array_size(selected);

	/* groups */
	groups = json_array();
	{
		json_t *dg = kobj_get_path(spec, "decisionStrategy.groupStrategy.decisionGroups"), *g, *rest;
		json_t *grouped = json_object();
		size_t size = per_group(spec, nsel);

		json_array_foreach(dg, i, g) {
			json_t *members = json_array();

			json_array_foreach(selected, j, v) {
				const char *cn = json_string_value(v);
				const json_t *c;

				if (json_object_get(grouped, cn))
					continue;
				c = find_cluster(fleet, cn);
				if (c && cluster_selector_matches(json_object_get(g, "groupClusterSelector"), c)) {
					json_array_append(members, v);
					json_object_set_new(grouped, cn, json_true());
				}
			}
			if (json_array_size(members))
				add_groups(groups, members, json_string_value(json_object_get(g, "groupName")), size);
			json_decref(members);
		}
		rest = json_array();
		json_array_foreach(selected, j, v)
			if (!json_object_get(grouped, json_string_value(v)))
				json_array_append(rest, v);
		if (json_array_size(rest) || !json_array_size(groups))
			add_groups(groups, rest, "", size);
		json_decref(rest);
		json_decref(grouped);
	}

	/* PlacementDecisions */
	have = json_object();
	json_array_foreach(decisions, i, v)
		json_object_set(have, kobj_name(v), v);
	keep = json_object();
	st_groups = json_array();
	json_array_foreach(groups, i, v) {
		json_t *clusters = json_object_get(v, "clusters"), *dnames = json_array();
		const char *gname = json_string_value(json_object_get(v, "name"));
		size_t n = json_array_size(clusters), off = 0;

		do {
			json_t *ds = json_array();
			char dn[320];

			for (size_t c = 0; c < PLC_DECISIONS_PER_OBJECT && off < n; c++, off++)
				json_array_append_new(ds, json_pack("{s:O,s:s}", "clusterName", json_array_get(clusters, off),
								    "reason", ""));
			snprintf(dn, sizeof(dn), "%s-decision-%zu", name, k++);
			put_decision(ctl, pl, json_object_get(have, dn), dn, (int)i, gname, ds);
			json_object_set_new(keep, dn, json_true());
			json_array_append_new(dnames, json_string(dn));
			json_decref(ds);
		} while (off < n);
		json_array_append_new(st_groups, json_pack("{s:I,s:s,s:o,s:I}", "decisionGroupIndex", (json_int_t)i,
							   "decisionGroupName", gname, "decisions", dnames,
							   "clusterCount", (json_int_t)n));
	}
	json_array_foreach(decisions, i, v)
		if (!json_object_get(keep, kobj_name(v)))
			kapi_delete(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, ns, kobj_name(v), NULL, &err, NULL);

	/* status */
	conds = json_array();
	if (!json_object_size(sets)) {
		json_array_append_new(conds, condition(json_object_get(pl, "status"), "PlacementSatisfied", "False",
						       "NoManagedClusterSetBindings",
						       "None of ManagedClusterSets is bound to placement namespace", gen));
	} else if (json_array_size(want_sets) && json_array_size(unbound) == json_array_size(want_sets)) {
		json_array_append_new(conds, condition(json_object_get(pl, "status"), "PlacementSatisfied", "False",
						       "NoManagedClusterSetBindings",
						       "None of the clusterSets of the placement is bound to its namespace "
						       "(or exists)", gen));
	} else if (!nsel) {
		json_array_append_new(conds, condition(json_object_get(pl, "status"), "PlacementSatisfied", "False",
						       "NoManagedClusterMatched",
						       "No valid ManagedCluster matches the placement's sets, predicates and "
						       "tolerations", gen));
	} else if (want_n >= 0 && nsel < (size_t)want_n) {
		snprintf(msg, sizeof(msg), "%zu cluster(s) selected, %lld wanted", nsel, (long long)want_n);
		json_array_append_new(conds, condition(json_object_get(pl, "status"), "PlacementSatisfied", "False",
						       "NotAllDecisionsScheduled", msg, gen));
	} else {
		json_array_append_new(conds, condition(json_object_get(pl, "status"), "PlacementSatisfied", "True",
						       "AllDecisionsScheduled", "All cluster decisions scheduled", gen));
	}
	if (json_array_size(unbound)) {
		char *list = json_dumps(unbound, JSON_COMPACT);

		snprintf(msg, sizeof(msg), "clusterSets not bound to namespace %.63s (or missing): %.300s", ns, list);
		free(list);
		json_array_append_new(conds, condition(json_object_get(pl, "status"), "PlacementMisconfigured", "True",
						       "UnboundClusterSets", msg, gen));
	} else {
		json_array_append_new(conds, condition(json_object_get(pl, "status"), "PlacementMisconfigured", "False",
						       "Succeedconfigured", "Placement configurations check pass", gen));
	}
	status = json_pack("{s:I,s:o,s:o}", "numberOfSelectedClusters", (json_int_t)nsel, "decisionGroups", st_groups,
			   "conditions", conds);
	if (!json_equal(status, json_object_get(pl, "status"))) {
		json_t *obj = json_deep_copy(pl);

		json_object_set(obj, "status", status);
		json_object_del(kobj_metadata(obj, true), "resourceVersion");
		if (kapi_update_status(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_PLACEMENTS, obj, NULL, &err, NULL) < 0)
			log_warn("placement %s/%s: cannot write its status: %s", ns, name, err.msg);
		json_decref(obj);
	}
out:
	json_decref(unbound);
	json_decref(status);
	json_decref(keep);
	json_decref(have);
	json_decref(groups);
	json_decref(selected);
	json_decref(decided);
	json_decref(decisions);
	json_decref(sets);
	json_decref(pl);
}

/* Set and binding status ------------------------------------------------------------ */

/* Write obj's status.conditions as [cond] (consumed) when it differs. */
static void put_conditions(struct plc_ctl *ctl, const char *resource, const json_t *obj, json_t *cond)
{
	json_t *status = json_pack("{s:[o]}", "conditions", cond), *copy;
	struct errbuf err;

	if (!json_equal(status, json_object_get(obj, "status"))) {
		copy = json_deep_copy(obj);
		json_object_set(copy, "status", status);
		json_object_del(kobj_metadata(copy, true), "resourceVersion");
		if (kapi_update_status(ctl->kapi, PLC_GROUP_CLUSTER, resource, copy, NULL, &err, NULL) < 0)
			log_warn("%s %s: cannot write its status: %s", resource, kobj_name(obj), err.msg);
		json_decref(copy);
	}
	json_decref(status);
}

/* ManagedClusterSet ClusterSetEmpty and ManagedClusterSetBinding Bound, as
 * OCM's registration controllers write them. */
static void sets_status(struct plc_ctl *ctl, const struct plc_fleet *fleet)
{
	json_t *sets = NULL, *bindings = NULL, *o, *mc;
	struct errbuf err;
	char msg[128];
	size_t i, j;

	if (kapi_list(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_SETS, NULL, NULL, NULL, &err, &sets) == 0)
		json_array_foreach(sets, i, o) {
			size_t n = 0;

			json_array_foreach(fleet->clusters, j, mc)
				if (in_set(kobj_name(o), o, mc))
					n++;
			snprintf(msg, sizeof(msg), "%zu ManagedClusters selected", n);
			put_conditions(ctl, PLC_RES_SETS, o,
				       condition(json_object_get(o, "status"), "ClusterSetEmpty", n ? "False" : "True",
						 n ? "ClustersSelected" : "NoClusterMatched",
						 n ? msg : "No ManagedCluster selected",
						 json_integer_value(kobj_get_path(o, "metadata.generation"))));
		}
	if (kapi_list(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_BINDINGS, NULL, NULL, NULL, &err, &bindings) == 0)
		json_array_foreach(bindings, i, o) {
			const char *set = json_string_value(kobj_get_path(o, "spec.clusterSet"));
			bool bound = set && !strcmp(set, PLC_GLOBAL_SET);
			json_t *s;

			json_array_foreach(sets, j, s)
				if (set && !strcmp(kobj_name(s), set))
					bound = true;
			put_conditions(ctl, PLC_RES_BINDINGS, o,
				       condition(json_object_get(o, "status"), "Bound", bound ? "True" : "False",
						 bound ? "ClusterSetBound" : "ClusterSetNotFound",
						 bound ? "" : "the ManagedClusterSet does not exist",
						 json_integer_value(kobj_get_path(o, "metadata.generation"))));
		}
	json_decref(sets);
	json_decref(bindings);
}

/* Loop ------------------------------------------------------------------------------ */

static int collect(void *data, const json_t *obj)
{
	json_array_append((json_t *)data, (json_t *)obj);
	return 0;
}

static int collect_key(void *data, const json_t *obj)
{
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", kobj_namespace(obj), kobj_name(obj));
	json_object_set_new((json_t *)data, key, json_true());
	return 0;
}

static void on_kick(uv_timer_t *t)
{
	struct plc_ctl *ctl = t->data;
	struct plc_fleet fleet = {json_array()};
	json_t *todo = json_object(), *v;
	const char *key;
	void *tmp;
	size_t n = 0;

	kapi_foreach(ctl->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, collect, fleet.clusters);
	if (ctl->all_dirty) {
		ctl->all_dirty = false;
		sets_status(ctl, &fleet);
		kapi_foreach(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_PLACEMENTS, NULL, collect_key, ctl->dirty);
	}
	json_object_foreach_safe(ctl->dirty, tmp, key, v) {
		if (n++ >= PLC_BATCH_MAX)
			break;
		json_object_set(todo, key, v);
		json_object_del(ctl->dirty, key);
	}
	json_object_foreach(todo, key, v) {
		char ns[256];
		const char *slash = strchr(key, '/');

		if (!slash || (size_t)(slash - key) >= sizeof(ns))
			continue;
		memcpy(ns, key, (size_t)(slash - key));
		ns[slash - key] = 0;
		evaluate(ctl, &fleet, ns, slash + 1);
	}
	json_decref(todo);
	json_decref(fleet.clusters);
	if (json_object_size(ctl->dirty) && !ctl->stopping)
		uv_timer_start(&ctl->kick, on_kick, 0, 0);
}

static bool spec_changed(const json_t *a, const json_t *b)
{
	static const char *const paths[] = {"spec", "metadata.generation", "metadata.deletionTimestamp", NULL};

	return kobj_paths_differ(a, b, paths);
}

/* Whether a ManagedCluster change can move a decision: only what evaluate
 * reads (a lease that changes nothing else queues nothing). */
static bool cluster_changed(enum kapi_event_type type, const json_t *a, const json_t *b)
{
	static const char *const paths[] = {"metadata.labels", "spec", "metadata.deletionTimestamp",
					    "status.clusterClaims", NULL};
	const char *sa, *sb;

	if (type != KAPI_EVENT_MODIFIED || kobj_paths_differ(a, b, paths))
		return true;
	sa = kobj_condition_status(a, HUB_COND_AVAILABLE);
	sb = kobj_condition_status(b, HUB_COND_AVAILABLE);
	return (!sa) != (!sb) || (sa && strcmp(sa, sb));
}

static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	struct plc_ctl *ctl = data;
	const json_t *o = new_obj ? new_obj : old_obj;

	if (ctl->stopping || strcmp(def->group, PLC_GROUP_CLUSTER))
		return;
	if (!strcmp(def->resource, PLC_RES_PLACEMENTS)) {
		if (type == KAPI_EVENT_DELETED)
			delete_decisions(ctl, kobj_namespace(o), kobj_name(o), NULL);
		else if (type == KAPI_EVENT_ADDED || spec_changed(old_obj, new_obj))
			mark(ctl, kobj_namespace(o), kobj_name(o));
	} else if (!strcmp(def->resource, HUB_RES_CLUSTERS)) {
		if (cluster_changed(type, old_obj, new_obj))
			mark_all(ctl);
	} else if (!strcmp(def->resource, PLC_RES_SETS) || !strcmp(def->resource, PLC_RES_BINDINGS)) {
		/* their status is ours: a change of it moves nothing */
		if (type != KAPI_EVENT_MODIFIED || spec_changed(old_obj, new_obj))
			mark_all(ctl);
	}
}

/* See placement.h. */
int plc_ctl_start(struct hub *h, struct plc_ctl **ret_ctl)
{
	struct plc_ctl *ctl = xnew(struct plc_ctl);
	int r;

	ctl->h = h;
	ctl->kapi = h->kapi;
	ctl->dirty = json_object();
	uv_timer_init(h->loop, &ctl->kick);
	ctl->kick.data = ctl;
	if ((r = kapi_server_subscribe(h->kapi, on_change, ctl, &ctl->sub)) < 0) {
		plc_ctl_stop(ctl);
		return r;
	}
	mark_all(ctl);
	*ret_ctl = ctl;
	return 0;
}

static void on_closed(uv_handle_t *hd)
{
	free(hd->data);
}

/* See placement.h. */
struct plc_ctl *plc_ctl_stop(struct plc_ctl *ctl)
{
	if (!ctl)
		return NULL;
	ctl->stopping = true;
	if (ctl->sub && ctl->h->kapi)
		kapi_server_unsubscribe(ctl->h->kapi, ctl->sub);
	ctl->sub = NULL;
	json_decref(ctl->dirty);
	ctl->dirty = NULL;
	uv_timer_stop(&ctl->kick);
	uv_close((uv_handle_t *)&ctl->kick, on_closed);
	return NULL;
}

/* See placement.h. */
int placement_controllers_start(struct hub *h)
{
	int r;

	if ((r = plc_ctl_start(h, &h->plc)) < 0)
		return r;
	return mwrs_ctl_start(h, &h->mwrs);
}

/* See placement.h. */
void placement_controllers_stop(struct hub *h)
{
	h->mwrs = mwrs_ctl_stop(h->mwrs);
	h->plc = plc_ctl_stop(h->plc);
}
