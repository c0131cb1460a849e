/* controller_workloads.c - Deployments, ReplicaSets, StatefulSets, DaemonSets,
 * Jobs and the kubelet of nave-kubesim.
 *
 * Pods are the unit of truth, as in a real cluster: the workload controllers
 * create and delete Pod objects, the simulated kubelet moves each pod from
 * Pending (ContainerCreating) to Running and Ready ready_delay_ms after it
 * first saw it, or keeps it Pending in ImagePullBackOff when an image tag
 * starts with the failure pattern; pods of Jobs run to completion (Succeeded,
 * or Failed for a failing image). Controllers then count pods into their
 * status, which is what kubectl rollout status reads.
 *
 * Simplifications, on purpose: a RollingUpdate Deployment scales its new
 * ReplicaSet to the full replica count at once and scales the old ones to zero
 * when the new one is fully ready (availability never drops; a failing image
 * leaves the old pods serving, as a stalled real rollout does); Recreate
 * scales old to zero first. minReadySeconds is not simulated (available means
 * ready). Container restarts, probes and resources are not simulated.
 *
 * Each reconciler reads the current objects through the internal API, writes
 * only what differs and returns a negative errno to be retried.
 */
#include "controllers_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kobj.h"
#include "log.h"
#include "selector.h"
#include "timefmt.h"

#define ANN_REVISION "deployment.kubernetes.io/revision"
#define ANN_DESIRED "deployment.kubernetes.io/desired-replicas"

/* --- object helpers --------------------------------------------------------- */

static const char *or_str(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

static json_int_t int_at(const json_t *o, const char *dotted, json_int_t dflt)
{
	json_t *v = kobj_get_path(o, dotted);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *str_at(const json_t *o, const char *dotted)
{
	json_t *v = kobj_get_path(o, dotted);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool is_deleting(const json_t *o)
{
	return json_object_get(json_object_get(o, "metadata"), "deletionTimestamp") != NULL;
}

static bool cond_true(const json_t *o, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(kobj_get_path(o, "status.conditions"), i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && !strcmp(t, type))
			return !strcmp(or_str(json_string_value(json_object_get(c, "status")), ""), "True");
	}
	return false;
}

static bool pod_ready(const json_t *pod)
{
	return cond_true(pod, "Ready");
}

static const char *pod_phase(const json_t *pod)
{
	const char *p = str_at(pod, "status.phase");

	return p ? p : "";
}

static bool pod_terminal(const json_t *pod)
{
	return !strcmp(pod_phase(pod), "Succeeded") || !strcmp(pod_phase(pod), "Failed");
}

/* intstr (int or "N%") scaled against total; round up or down. */
static json_int_t intstr_scaled(const json_t *v, json_int_t total, json_int_t dflt_pct, bool round_up)
{
	json_int_t pct = dflt_pct;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v)) {
		char *end;
		long p = strtol(json_string_value(v), &end, 10);

		if (*end == '%' && p >= 0)
			pct = p;
		else if (!*end)
			return p;
	}
	return round_up ? (total * pct + 99) / 100 : total * pct / 100;
}

/* Objects of (group, resource) in ns whose controller is uid: a new array of
 * the caller's own copies. Found through the GC's owner index rather than by
 * scanning the namespace, so a reconcile costs what the owner owns, not what
 * the namespace holds. */
static json_t *owned_by(struct sim_controllers *ctl, const char *group, const char *resource, const char *ns,
			const char *uid)
{
	json_t *deps = json_object_get(ctl->owners, uid), *items = json_array(), *v;
	size_t glen = strlen(group), rlen = strlen(resource), nlen = strlen(ns);
	const char *k;

	json_object_foreach(deps, k, v) {
		/* k is "group|resource|ns|name" */
		const char *name = k + glen + rlen + nlen + 3;
		json_t *o = NULL;

		if (strlen(k) <= glen + rlen + nlen + 3 || strncmp(k, group, glen) || k[glen] != '|' ||
		    strncmp(k + glen + 1, resource, rlen) || k[glen + 1 + rlen] != '|' ||
		    strncmp(k + glen + rlen + 2, ns, nlen) || k[glen + rlen + 2 + nlen] != '|')
			continue;
		if (kapi_get(ctl->srv, group, resource, ns, name, NULL, &o) < 0)
			continue;
		if (sim_controlled_by(o, uid))
			json_array_append(items, o);
		json_decref(o);
	}
	return items;
}

static int scale_to(struct sim_controllers *ctl, const char *group, const char *resource, const json_t *obj,
		    json_int_t replicas)
{
	json_t *patch = json_pack("{s:{s:I}}", "spec", "replicas", replicas);
	struct errbuf err;
	int r;

	errbuf_clear(&err);
	r = kapi_patch(ctl->srv, group, resource, kobj_namespace(obj), kobj_name(obj), NULL, KAPI_PATCH_MERGE, patch,
		       &sim_kcm_opts, &err, NULL);
	json_decref(patch);
	if (r < 0 && r != -ENOENT)
		log_debug("kubesim: scaling %s/%s: %s", resource, kobj_name(obj), err.msg);
	return r < 0 ? r : 0;
}

static int delete_obj(struct sim_controllers *ctl, const char *group, const char *resource, const json_t *obj)
{
	struct kapi_delete_opts o = { .propagation = KAPI_PROPAGATE_BACKGROUND };
	int r = kapi_delete(ctl->srv, group, resource, kobj_namespace(obj), kobj_name(obj), &o, NULL, NULL);

	return r < 0 && r != -ENOENT ? r : 0;
}

/* A Pod from a template, owned by owner (controller), on node. name NULL:
 * "<prefix>-<5 random>". extra_labels (may be NULL) are added. On success
 * *ret_pod (may be NULL) gets the stored pod. */
static int create_pod(struct sim_controllers *ctl, const json_t *owner, const char *owner_api_version,
		      const json_t *tmpl, const char *name, const char *prefix, const json_t *extra_labels,
		      const char *node, const json_t *extra_spec, json_t **ret_pod)
{
	json_t *tmeta = json_object_get(tmpl, "metadata"), *pod, *md, *labels, *spec;
	const char *ns = kobj_namespace(owner);
	struct errbuf err;
	int r = -EEXIST;

	labels = json_is_object(json_object_get(tmeta, "labels")) ? json_deep_copy(json_object_get(tmeta, "labels"))
								  : json_object();
	if (extra_labels)
		json_object_update(labels, (json_t *)extra_labels);
	spec = json_is_object(json_object_get(tmpl, "spec")) ? json_deep_copy(json_object_get(tmpl, "spec"))
							      : json_object();
	if (extra_spec)
		json_object_update(spec, (json_t *)extra_spec);
	if (node)
		json_object_set_new(spec, "nodeName", json_string(node));
	md = json_pack("{s:s, s:o, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}", "namespace", ns ? ns : "", "labels", labels,
		       "ownerReferences", "apiVersion", owner_api_version, "kind", or_str(kobj_kind(owner), ""),
		       "name", kobj_name(owner), "uid", or_str(kobj_uid(owner), ""), "controller", 1,
		       "blockOwnerDeletion", 1);
	if (json_is_object(json_object_get(tmeta, "annotations")))
		json_object_set_new(md, "annotations", json_deep_copy(json_object_get(tmeta, "annotations")));
	pod = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", md, "spec", spec);
	for (int attempt = 0; attempt < 5 && r == -EEXIST; attempt++) {
		char pname[300], suffix[6];

		if (name) {
			snprintf(pname, sizeof(pname), "%s", name);
		} else {
			sim_rand_suffix(ctl, suffix);
			snprintf(pname, sizeof(pname), "%.240s-%s", prefix, suffix);
		}
		json_object_set_new(md, "name", json_string(pname));
		errbuf_clear(&err);
		r = kapi_create(ctl->srv, "", "pods", ns, pod, &sim_kcm_opts, &err, ret_pod);
		if (name)
			break;
	}
	if (r < 0 && r != -EEXIST)
		log_debug("kubesim: creating a pod for %s: %s", kobj_name(owner), err.msg);
	json_decref(pod);
	return r;
}

/* Pods first to go when scaling down: not ready, then the newest. */
static int cmp_victim(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
	const char *tx, *ty;
	int c;

	if (pod_ready(x) != pod_ready(y))
		return pod_ready(x) ? 1 : -1;
	tx = str_at(x, "metadata.creationTimestamp");
	ty = str_at(y, "metadata.creationTimestamp");
	c = strcmp(ty ? ty : "", tx ? tx : "");
	return c ? c : strcmp(kobj_name(y), kobj_name(x));
}

/* Status field helpers: real statuses omit zero counters. */
static void set_count(json_t *st, const char *key, json_int_t v)
{
	if (v)
		json_object_set_new(st, key, json_integer(v));
}

/* A condition, keeping lastTransitionTime (and lastUpdateTime when nothing
 * changed) from old_conds. with_update: Deployment-style lastUpdateTime. */
static json_t *condition(const json_t *old_conds, const char *type, const char *status, const char *reason,
			 const char *message, const char *now, bool with_update)
{
	const json_t *old = NULL;
	json_t *c;
	size_t i;
	json_t *v;

	json_array_foreach(old_conds, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));

		if (t && !strcmp(t, type))
			old = v;
	}
	c = json_pack("{s:s, s:s}", "type", type, "status", status);
	if (with_update) {
		bool same = old && !strcmp(or_str(json_string_value(json_object_get(old, "status")), ""), status) &&
			    !strcmp(or_str(json_string_value(json_object_get(old, "reason")), ""), reason) &&
			    !strcmp(or_str(json_string_value(json_object_get(old, "message")), ""), message);
		const char *lu = same ? json_string_value(json_object_get(old, "lastUpdateTime")) : NULL;

		json_object_set_new(c, "lastUpdateTime", json_string(lu ? lu : now));
	}
	{
		bool same_status = old && !strcmp(or_str(json_string_value(json_object_get(old, "status")), ""), status);
		const char *lt = same_status ? json_string_value(json_object_get(old, "lastTransitionTime")) : NULL;

		json_object_set_new(c, "lastTransitionTime", json_string(lt ? lt : now));
	}
	json_object_set_new(c, "reason", json_string(reason));
	json_object_set_new(c, "message", json_string(message));
	return c;
}

/* --- Deployment ------------------------------------------------------------------- */

static json_t *new_replicaset(const json_t *d, const char *hash, json_int_t replicas, json_int_t revision)
{
	json_t *spec = json_object_get(d, "spec");
	json_t *tmpl = json_deep_copy(json_object_get(spec, "template"));
	json_t *sel = json_deep_copy(json_object_get(spec, "selector"));
	json_t *tlabels, *labels, *ml;
	char name[300], rev[24], desired[24];

	if (!json_is_object(sel))
		sel = json_object();
	ml = json_object_get(sel, "matchLabels");
	if (!json_is_object(ml)) {
		ml = json_object();
		json_object_set_new(sel, "matchLabels", ml);
	}
	json_object_set_new(ml, "pod-template-hash", json_string(hash));
	tlabels = kobj_get_path(tmpl, "metadata.labels");
	if (!json_is_object(tlabels)) {
		tlabels = json_object();
		json_object_set_new(kobj_metadata(tmpl, true), "labels", tlabels);
	}
	json_object_set_new(tlabels, "pod-template-hash", json_string(hash));
	labels = json_deep_copy(tlabels);
	snprintf(name, sizeof(name), "%.240s-%s", kobj_name(d), hash);
	snprintf(rev, sizeof(rev), "%" JSON_INTEGER_FORMAT, revision);
	snprintf(desired, sizeof(desired), "%" JSON_INTEGER_FORMAT, int_at(d, "spec.replicas", 1));
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:{s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]},"
			 " s:{s:I, s:I, s:o, s:o}}",
			 "apiVersion", "apps/v1", "kind", "ReplicaSet",
			 "metadata", "name", name, "namespace", kobj_namespace(d), "labels", labels,
			 "annotations", ANN_REVISION, rev, ANN_DESIRED, desired,
			 "ownerReferences", "apiVersion", "apps/v1", "kind", "Deployment", "name", kobj_name(d), "uid",
			 kobj_uid(d), "controller", 1, "blockOwnerDeletion", 1,
			 "spec", "replicas", replicas, "minReadySeconds", int_at(d, "spec.minReadySeconds", 0),
			 "selector", sel, "template", tmpl);
}

int sim_reconcile_deployment(struct sim_controllers *ctl, const char *ns, const char *name)
{
	json_t *d = NULL, *rss = NULL, *new_rs = NULL, *created_rs = NULL, *st_new = NULL, *conds;
	const char *uid, *new_name;
	char hash[16], now[TIMEFMT_MAX], msg[400], key[600], sig[160], revision[24] = "";
	json_int_t desired, pds, max_rev = 0, total_spec = 0, replicas = 0, updated = 0, ready = 0, available = 0;
	json_int_t max_unavail;
	bool recreate, paused, created = false, complete, progressed = false;
	uint64_t now_ms = sim_now_ms(), progress_ms;
	json_t *state, *rs;
	size_t i;
	int r;

	r = kapi_get(ctl->srv, "apps", "deployments", ns, name, NULL, &d);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (is_deleting(d))
		goto out;
	uid = kobj_uid(d);
	desired = int_at(d, "spec.replicas", 1);
	pds = int_at(d, "spec.progressDeadlineSeconds", 600);
	recreate = !strcmp(or_str(str_at(d, "spec.strategy.type"), "RollingUpdate"), "Recreate");
	paused = json_is_true(kobj_get_path(d, "spec.paused"));
	sim_template_hash(kobj_get_path(d, "spec.template"), hash);
	sim_now_rfc3339(now);
	snprintf(key, sizeof(key), "deploy|%s|%s", ns, name);

	rss = owned_by(ctl, "apps", "replicasets", ns, uid);
	json_array_foreach(rss, i, rs) {
		const char *h = json_string_value(kobj_get_path(rs, "metadata.labels.pod-template-hash"));
		const char *rev = kobj_annotation(rs, ANN_REVISION);

		if (h && !strcmp(h, hash) && !is_deleting(rs))
			new_rs = rs;
		if (rev && atoll(rev) > max_rev)
			max_rev = atoll(rev);
	}

	if (!new_rs && !paused) {
		json_int_t old_active = 0, initial;
		json_t *obj;
		struct errbuf err;

		json_array_foreach(rss, i, rs)
			old_active += int_at(rs, "spec.replicas", 0) + int_at(rs, "status.replicas", 0);
		initial = recreate && old_active ? 0 : desired;
		obj = new_replicaset(d, hash, initial, max_rev + 1);
		errbuf_clear(&err);
		r = kapi_create(ctl->srv, "apps", "replicasets", ns, obj, &sim_kcm_opts, &err, &created_rs);
		json_decref(obj);
		if (r < 0) {
			log_debug("kubesim: deployment %s/%s: creating its replica set: %s", ns, name, err.msg);
			goto out;
		}
		new_rs = created_rs;
		json_array_append(rss, created_rs);
		created = true;
		if (initial)
			sim_event(ctl, d, "Normal", "ScalingReplicaSet", "Scaled up replica set %s from 0 to %" JSON_INTEGER_FORMAT,
				  kobj_name(created_rs), initial);
	}

	/* An old replica set that is the new one again (a rollback) takes the next revision. */
	if (new_rs && !created) {
		const char *rev = kobj_annotation(new_rs, ANN_REVISION);

		if (!rev || atoll(rev) < max_rev) {
			char next[24];
			json_t *p;

			snprintf(next, sizeof(next), "%" JSON_INTEGER_FORMAT, max_rev + 1);
			p = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", ANN_REVISION, next);
			r = kapi_patch(ctl->srv, "apps", "replicasets", ns, kobj_name(new_rs), NULL, KAPI_PATCH_MERGE, p,
				       &sim_kcm_opts, NULL, NULL);
			json_decref(p);
			if (r < 0)
				goto out;
		}
	}

	/* The Deployment's current revision (deployment.kubernetes.io/revision),
	 * which kubectl rollout undo relies on. A real controller writes it
	 * through the status subresource, which does not bump generation; it is
	 * sent with the status below (kapi keeps stored metadata on status
	 * writes today, so it lands only where the server accepts it: writing it
	 * through the main resource would bump generation, which clients read). */
	if (new_rs) {
		json_int_t nrev = atoll(or_str(kobj_annotation(new_rs, ANN_REVISION), "0"));

		snprintf(revision, sizeof(revision), "%" JSON_INTEGER_FORMAT,
			 created || nrev < max_rev ? max_rev + 1 : nrev);
	}

	/* Scale. */
	if (new_rs && !paused) {
		json_int_t cur = int_at(new_rs, "spec.replicas", 0), want = desired;
		bool new_ready = int_at(new_rs, "status.readyReplicas", 0) >= desired &&
				 int_at(new_rs, "status.replicas", 0) >= desired;

		if (recreate) {
			json_array_foreach(rss, i, rs) {
				if (rs == new_rs)
					continue;
				if (int_at(rs, "spec.replicas", 0) > 0 || int_at(rs, "status.replicas", 0) > 0)
					want = 0;
			}
		}
		json_array_foreach(rss, i, rs) {
			json_int_t n = int_at(rs, "spec.replicas", 0);

			if (rs == new_rs || n == 0 || (!recreate && !new_ready && desired > 0))
				continue;
			r = scale_to(ctl, "apps", "replicasets", rs, 0);
			if (r < 0)
				goto out;
			sim_event(ctl, d, "Normal", "ScalingReplicaSet",
				  "Scaled down replica set %s from %" JSON_INTEGER_FORMAT " to 0", kobj_name(rs), n);
			progressed = true;
		}
		if (cur != want) {
			r = scale_to(ctl, "apps", "replicasets", new_rs, want);
			if (r < 0)
				goto out;
			sim_event(ctl, d, "Normal", "ScalingReplicaSet",
				  "Scaled %s replica set %s from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
				  want > cur ? "up" : "down", kobj_name(new_rs), cur, want);
			progressed = true;
		}
	}

	/* Status from the replica sets as they are now (their own changes requeue us). */
	json_array_foreach(rss, i, rs) {
		total_spec += int_at(rs, "spec.replicas", 0);
		replicas += int_at(rs, "status.replicas", 0);
		ready += int_at(rs, "status.readyReplicas", 0);
		available += int_at(rs, "status.availableReplicas", 0);
	}
	if (new_rs)
		updated = int_at(new_rs, "status.replicas", 0);
	new_name = new_rs ? kobj_name(new_rs) : name;

	/* Progress: any change of what the rollout has achieved resets the deadline. */
	state = sim_state(ctl, uid);
	snprintf(sig, sizeof(sig), "%s/%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
		 "/%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
		 hash, desired, updated, ready, available, replicas);
	if (!json_is_string(json_object_get(state, "sig")) ||
	    strcmp(json_string_value(json_object_get(state, "sig")), sig)) {
		json_object_set_new(state, "sig", json_string(sig));
		json_object_set_new(state, "progress", json_integer((json_int_t)now_ms));
		progressed = true;
	}
	progress_ms = (uint64_t)json_integer_value(json_object_get(state, "progress"));

	max_unavail = recreate || desired == 0 ? 0 :
		      intstr_scaled(kobj_get_path(d, "spec.strategy.rollingUpdate.maxUnavailable"), desired, 25, false);
	if (!recreate && desired > 0 && max_unavail == 0 &&
	    intstr_scaled(kobj_get_path(d, "spec.strategy.rollingUpdate.maxSurge"), desired, 25, true) == 0)
		max_unavail = 1;
	complete = updated == desired && replicas == desired && available == desired;

	conds = kobj_get_path(d, "status.conditions");
	st_new = json_object();
	json_object_set_new(st_new, "observedGeneration", json_integer(int_at(d, "metadata.generation", 1)));
	set_count(st_new, "replicas", replicas);
	set_count(st_new, "updatedReplicas", updated);
	set_count(st_new, "readyReplicas", ready);
	set_count(st_new, "availableReplicas", available);
	set_count(st_new, "unavailableReplicas", total_spec - available > 0 ? total_spec - available : 0);
	{
		json_t *list = json_array();
		bool avail_ok = available >= desired - max_unavail;

		json_array_append_new(list, condition(conds, "Available", avail_ok ? "True" : "False",
						      avail_ok ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
						      avail_ok ? "Deployment has minimum availability."
							       : "Deployment does not have minimum availability.",
						      now, true));
		if (paused) {
			json_array_append_new(list, condition(conds, "Progressing", "Unknown", "DeploymentPaused",
							      "Deployment is paused", now, true));
		} else if (complete) {
			snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has successfully progressed.", new_name);
			json_array_append_new(list, condition(conds, "Progressing", "True", "NewReplicaSetAvailable", msg,
							      now, true));
		} else if (now_ms - progress_ms >= (uint64_t)pds * 1000) {
			snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has timed out progressing.", new_name);
			json_array_append_new(list, condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
							      msg, now, true));
		} else {
			const char *old_reason = NULL;
			size_t k;
			json_t *c;

			json_array_foreach(conds, k, c) {
				if (!strcmp(or_str(json_string_value(json_object_get(c, "type")), ""), "Progressing"))
					old_reason = json_string_value(json_object_get(c, "reason"));
			}
			if (created || (!progressed && old_reason && !strcmp(old_reason, "NewReplicaSetCreated"))) {
				snprintf(msg, sizeof(msg), "Created new replica set \"%s\"", new_name);
				json_array_append_new(list, condition(conds, "Progressing", "True", "NewReplicaSetCreated",
								      msg, now, true));
			} else {
				snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" is progressing.", new_name);
				json_array_append_new(list, condition(conds, "Progressing", "True", "ReplicaSetUpdated",
								      msg, now, true));
			}
			/* Come back when the deadline passes. */
			sim_enqueue_after(ctl, key, (uint64_t)pds * 1000 - (now_ms - progress_ms) + 5);
		}
		json_object_set_new(st_new, "conditions", list);
	}
	if (revision[0] && !json_equal(json_object_get(d, "status"), st_new))
		kobj_set_annotation(d, ANN_REVISION, revision);
	r = sim_write_status(ctl, "apps", "deployments", d, st_new);
out:
	json_decref(st_new);
	json_decref(created_rs);
	json_decref(rss);
	json_decref(d);
	return r;
}

/* --- ReplicaSet ------------------------------------------------------------------- */

int sim_reconcile_replicaset(struct sim_controllers *ctl, const char *ns, const char *name)
{
	json_t *rs = NULL, *pods = NULL, *live = json_array(), *st = NULL;
	json_int_t desired, count, nready = 0;
	size_t i, n;
	json_t *p;
	int r;

	r = kapi_get(ctl->srv, "apps", "replicasets", ns, name, NULL, &rs);
	if (r < 0) {
		r = r == -ENOENT ? 0 : r;
		goto out;
	}
	if (is_deleting(rs))
		goto out;
	desired = int_at(rs, "spec.replicas", 1);
	pods = owned_by(ctl, "", "pods", ns, kobj_uid(rs));
	json_array_foreach(pods, i, p) {
		if (!is_deleting(p) && !pod_terminal(p))
			json_array_append(live, p);
	}
	count = (json_int_t)json_array_size(live);
	if (count < desired) {
		json_int_t want = desired - count;

		for (json_int_t k = 0; k < want && k < SIM_MAX_CREATE_PER_PASS; k++) {
			json_t *pod = NULL;

			r = create_pod(ctl, rs, "apps/v1", kobj_get_path(rs, "spec.template"), NULL, name, NULL,
				       sim_pick_node(ctl), NULL, &pod);
			if (r < 0)
				goto out;
			sim_event(ctl, rs, "Normal", "SuccessfulCreate", "Created pod: %s", kobj_name(pod));
			json_array_append_new(live, pod);
		}
	} else if (count > desired) {
		json_t **v = xcalloc((size_t)count, sizeof(*v));

		for (i = 0; i < (size_t)count; i++)
			v[i] = json_array_get(live, i);
		qsort(v, (size_t)count, sizeof(*v), cmp_victim);
		for (i = 0; i < (size_t)(count - desired); i++) {
			r = delete_obj(ctl, "", "pods", v[i]);
			if (r < 0) {
				free(v);
				goto out;
			}
			sim_event(ctl, rs, "Normal", "SuccessfulDelete", "Deleted pod: %s", kobj_name(v[i]));
		}
		/* Keep the survivors for the status. */
		{
			json_t *keep = json_array();

			for (; i < (size_t)count; i++)
				json_array_append(keep, v[i]);
			json_decref(live);
			live = keep;
		}
		free(v);
	}
	n = json_array_size(live);
	json_array_foreach(live, i, p)
		nready += pod_ready(p);
	st = json_pack("{s:I}", "replicas", (json_int_t)n);
	set_count(st, "fullyLabeledReplicas", (json_int_t)n);
	set_count(st, "readyReplicas", nready);
	set_count(st, "availableReplicas", nready);
	json_object_set_new(st, "observedGeneration", json_integer(int_at(rs, "metadata.generation", 1)));
	r = sim_write_status(ctl, "apps", "replicasets", rs, st);
out:
	json_decref(st);
	json_decref(live);
	json_decref(pods);
	json_decref(rs);
	return r;
}

/* --- ControllerRevisions ------------------------------------------------------ */

struct rev_max {
	const char *uid;
	json_int_t max;
	bool found;        /* a revision named want exists */
	json_int_t found_rev;
	const char *want;
};

static int scan_revisions(void *data, const json_t *obj)
{
	struct rev_max *m = data;
	json_t *rev = json_object_get(obj, "revision");

	if (!sim_controlled_by(obj, m->uid))
		return 0;
	if (json_is_integer(rev) && json_integer_value(rev) > m->max)
		m->max = json_integer_value(rev);
	if (kobj_name(obj) && !strcmp(kobj_name(obj), m->want)) {
		m->found = true;
		m->found_rev = json_is_integer(rev) ? json_integer_value(rev) : 0;
	}
	return 0;
}

/* The ControllerRevision "<owner>-<hash>" holding tmpl, which kubectl rollout
 * history/undo read for StatefulSets and DaemonSets. Only when the server
 * serves apps/v1 controllerrevisions; best effort otherwise. */
static void ensure_revision(struct sim_controllers *ctl, const json_t *owner, const char *rev_name,
			    const char *hash, const json_t *tmpl)
{
	struct rev_max m = { .uid = kobj_uid(owner), .want = rev_name };
	const char *ns = kobj_namespace(owner);
	json_t *labels, *data, *cr;

	if (!kapi_server_find(ctl->srv, "apps", "controllerrevisions") || !m.uid)
		return;
	kapi_foreach(ctl->srv, "apps", "controllerrevisions", ns, scan_revisions, &m);
	if (m.found) {
		/* A template in use again (a rollback) takes the next revision number. */
		if (m.found_rev < m.max) {
			json_t *p = json_pack("{s:I}", "revision", m.max + 1);

			kapi_patch(ctl->srv, "apps", "controllerrevisions", ns, rev_name, NULL, KAPI_PATCH_MERGE, p,
				   &sim_kcm_opts, NULL, NULL);
			json_decref(p);
		}
		return;
	}
	labels = json_deep_copy(kobj_get_path(owner, "spec.selector.matchLabels"));
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	json_object_set_new(labels, "controller.kubernetes.io/hash", json_string(hash));
	data = json_deep_copy(tmpl);
	if (!json_is_object(data)) {
		json_decref(data);
		data = json_object();
	}
	json_object_set_new(data, "$patch", json_string("replace"));
	cr = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}, s:{s:{s:o}}, s:I}",
		       "apiVersion", "apps/v1", "kind", "ControllerRevision",
		       "metadata", "name", rev_name, "namespace", ns ? ns : "", "labels", labels,
		       "ownerReferences", "apiVersion", "apps/v1", "kind", or_str(kobj_kind(owner), ""), "name",
		       kobj_name(owner), "uid", m.uid, "controller", 1, "blockOwnerDeletion", 1,
		       "data", "spec", "template", data, "revision", m.max + 1);
	if (cr)
		kapi_create(ctl->srv, "apps", "controllerrevisions", ns, cr, &sim_kcm_opts, NULL, NULL);
	json_decref(cr);
}

/* --- StatefulSet ----------------------------------------------------------------- */

/* The pod of ordinal i among pods (borrowed), or NULL. */
static json_t *sts_pod(const json_t *pods, const char *sts, long i)
{
	char want[300];
	size_t k;
	json_t *p;

	snprintf(want, sizeof(want), "%s-%ld", sts, i);
	json_array_foreach(pods, k, p) {
		if (!strcmp(kobj_name(p), want))
			return p;
	}
	return NULL;
}

static const char *pod_revision(const json_t *pod)
{
	return or_str(json_string_value(kobj_get_path(pod, "metadata.labels.controller-revision-hash")), "");
}

int sim_reconcile_statefulset(struct sim_controllers *ctl, const char *ns, const char *name)
{
	json_t *sts = NULL, *pods = NULL, *st = NULL, *state, *revs, *tmpl;
	char hash[16], update_rev[300], current_rev[300];
	json_int_t desired, partition, nready = 0, ncurrent = 0, nupdated = 0, count = 0;
	bool parallel, rolling, busy = false;
	const char *cr;
	size_t i;
	json_t *p;
	int r;

	r = kapi_get(ctl->srv, "apps", "statefulsets", ns, name, NULL, &sts);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (is_deleting(sts))
		goto out;
	desired = int_at(sts, "spec.replicas", 1);
	partition = int_at(sts, "spec.updateStrategy.rollingUpdate.partition", 0);
	parallel = !strcmp(or_str(str_at(sts, "spec.podManagementPolicy"), "OrderedReady"), "Parallel");
	rolling = !strcmp(or_str(str_at(sts, "spec.updateStrategy.type"), "RollingUpdate"), "RollingUpdate");
	tmpl = kobj_get_path(sts, "spec.template");
	sim_template_hash(tmpl, hash);
	snprintf(update_rev, sizeof(update_rev), "%.280s-%s", name, hash);
	cr = str_at(sts, "status.currentRevision");
	snprintf(current_rev, sizeof(current_rev), "%s", cr && *cr ? cr : update_rev);

	/* Remember each revision's template: pods below the partition are
	 * recreated at the current revision, not the new one. */
	state = sim_state(ctl, kobj_uid(sts));
	revs = json_object_get(state, "revisions");
	if (!revs) {
		revs = json_object();
		json_object_set_new(state, "revisions", revs);
	}
	if (!json_object_get(revs, update_rev))
		json_object_set_new(revs, update_rev, json_deep_copy(tmpl));

	pods = owned_by(ctl, "", "pods", ns, kobj_uid(sts));
	json_array_foreach(pods, i, p) {
		if (is_deleting(p))
			busy = true;
	}

	/* Create missing ordinals, in order unless Parallel. */
	for (long k = 0; k < desired && !busy; k++) {
		json_t *pod = sts_pod(pods, name, k), *labels, *created = NULL, *extra, *rt;
		const char *rev;
		char pname[300], idx[24];

		if (pod) {
			if (!parallel && !pod_ready(pod))
				busy = true;
			continue;
		}
		rev = !rolling || k >= partition ? update_rev : current_rev;
		rt = json_object_get(revs, rev);
		if (!rt)
			rt = tmpl;
		snprintf(pname, sizeof(pname), "%s-%ld", name, k);
		snprintf(idx, sizeof(idx), "%ld", k);
		labels = json_pack("{s:s, s:s, s:s}", "controller-revision-hash", rev, "statefulset.kubernetes.io/pod-name",
				   pname, "apps.kubernetes.io/pod-index", idx);
		extra = json_pack("{s:s}", "hostname", pname);
		if (str_at(sts, "spec.serviceName"))
			json_object_set_new(extra, "subdomain", json_string(str_at(sts, "spec.serviceName")));
		r = create_pod(ctl, sts, "apps/v1", rt, pname, NULL, labels, sim_pick_node(ctl), extra, &created);
		json_decref(labels);
		json_decref(extra);
		if (r < 0 && r != -EEXIST)
			goto out;
		if (created) {
			sim_event(ctl, sts, "Normal", "SuccessfulCreate", "create Pod %s in StatefulSet %s successful",
				  pname, name);
			json_array_append_new(pods, created);
		}
		if (!parallel)
			busy = true;
	}

	/* Scale down from the highest ordinal, one at a time unless Parallel. */
	if (!busy) {
		long highest = -1;

		json_array_foreach(pods, i, p) {
			const char *dash = strrchr(kobj_name(p), '-');
			long k = dash ? strtol(dash + 1, NULL, 10) : -1;

			if (k >= desired && k > highest)
				highest = k;
			if (parallel && k >= desired) {
				r = delete_obj(ctl, "", "pods", p);
				if (r < 0)
					goto out;
			}
		}
		if (!parallel && highest >= 0) {
			r = delete_obj(ctl, "", "pods", sts_pod(pods, name, highest));
			if (r < 0)
				goto out;
			busy = true;
		}
	}

	/* Rolling update: the highest ordinal >= partition not at the update
	 * revision is deleted (and recreated above next time), one at a time,
	 * once every pod is there and ready. */
	if (rolling && !busy) {
		bool all_ready = true;

		for (long k = 0; k < desired; k++) {
			json_t *pod = sts_pod(pods, name, k);

			if (!pod || !pod_ready(pod))
				all_ready = false;
		}
		for (long k = desired - 1; all_ready && k >= partition; k--) {
			json_t *pod = sts_pod(pods, name, k);

			if (pod && strcmp(pod_revision(pod), update_rev)) {
				r = delete_obj(ctl, "", "pods", pod);
				if (r < 0)
					goto out;
				break;
			}
		}
	}

	json_array_foreach(pods, i, p) {
		if (is_deleting(p))
			continue;
		count++;
		nready += pod_ready(p);
		ncurrent += !strcmp(pod_revision(p), current_rev);
		nupdated += !strcmp(pod_revision(p), update_rev);
	}
	/* The update is complete when every replica runs the update revision. */
	if (nupdated == desired && nready == desired && count == desired) {
		snprintf(current_rev, sizeof(current_rev), "%s", update_rev);
		ncurrent = nupdated;
	}
	st = json_pack("{s:I, s:I, s:s, s:s, s:I}", "observedGeneration", int_at(sts, "metadata.generation", 1),
		       "replicas", count, "currentRevision", current_rev, "updateRevision", update_rev,
		       "collisionCount", (json_int_t)0);
	set_count(st, "readyReplicas", nready);
	set_count(st, "availableReplicas", nready);
	set_count(st, "currentReplicas", ncurrent);
	set_count(st, "updatedReplicas", nupdated);
	/* Forget templates no pod uses any more. */
	{
		json_t *keep = json_object();

		json_object_set(keep, update_rev, json_object_get(revs, update_rev));
		if (json_object_get(revs, current_rev))
			json_object_set(keep, current_rev, json_object_get(revs, current_rev));
		json_array_foreach(pods, i, p) {
			if (json_object_get(revs, pod_revision(p)))
				json_object_set(keep, pod_revision(p), json_object_get(revs, pod_revision(p)));
		}
		json_object_set_new(state, "revisions", keep);
	}
	ensure_revision(ctl, sts, update_rev, hash, tmpl);
	r = sim_write_status(ctl, "apps", "statefulsets", sts, st);
out:
	json_decref(st);
	json_decref(pods);
	json_decref(sts);
	return r;
}

/* --- DaemonSet ------------------------------------------------------------------- */

struct node_list {
	json_t *nodes; /* array of borrowed, immutable nodes (incref'd) */
};

static int collect_node(void *data, const json_t *obj)
{
	json_array_append(((struct node_list *)data)->nodes, (json_t *)obj);
	return 0;
}

/* Whether a node's labels satisfy a pod's nodeSelector (every pair equal). */
static bool node_selected(const json_t *node, const json_t *node_selector)
{
	json_t *labels = kobj_get_path(node, "metadata.labels");
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)node_selector, k, v) {
		json_t *have = json_object_get(labels, k);

		if (!json_is_string(have) || !json_is_string(v) || strcmp(json_string_value(have), json_string_value(v)))
			return false;
	}
	return true;
}

int sim_reconcile_daemonset(struct sim_controllers *ctl, const char *ns, const char *name)
{
	struct node_list nl = { .nodes = json_array() };
	json_t *ds = NULL, *pods = NULL, *st = NULL, *tmpl, *nodesel, *node;
	json_int_t desired = 0, current = 0, nready = 0, nupdated = 0, misscheduled = 0, max_unavail, unavailable = 0;
	char hash[16], gen[24];
	bool rolling;
	size_t i, k;
	json_t *p;
	int r;

	r = kapi_get(ctl->srv, "apps", "daemonsets", ns, name, NULL, &ds);
	if (r < 0) {
		r = r == -ENOENT ? 0 : r;
		goto out;
	}
	if (is_deleting(ds))
		goto out;
	tmpl = kobj_get_path(ds, "spec.template");
	nodesel = kobj_get_path(tmpl, "spec.nodeSelector");
	sim_template_hash(tmpl, hash);
	snprintf(gen, sizeof(gen), "%" JSON_INTEGER_FORMAT, int_at(ds, "metadata.generation", 1));
	rolling = !strcmp(or_str(str_at(ds, "spec.updateStrategy.type"), "RollingUpdate"), "RollingUpdate");
	kapi_foreach(ctl->srv, "", "nodes", NULL, collect_node, &nl);
	pods = owned_by(ctl, "", "pods", ns, kobj_uid(ds));

	/* Pods on nodes that should not run one. */
	json_array_foreach(pods, i, p) {
		const char *pn = str_at(p, "spec.nodeName");
		bool ok = false;

		json_array_foreach(nl.nodes, k, node) {
			if (pn && !strcmp(pn, kobj_name(node)) && (!nodesel || node_selected(node, nodesel)))
				ok = true;
		}
		if (!ok && !is_deleting(p)) {
			misscheduled++;
			r = delete_obj(ctl, "", "pods", p);
			if (r < 0)
				goto out;
		}
	}

	max_unavail = intstr_scaled(kobj_get_path(ds, "spec.updateStrategy.rollingUpdate.maxUnavailable"), 1, 0,
				    false);
	if (max_unavail < 1)
		max_unavail = 1;
	json_array_foreach(nl.nodes, k, node) {
		json_t *mine = NULL;
		size_t n_on = 0;

		if (nodesel && !node_selected(node, nodesel))
			continue;
		desired++;
		json_array_foreach(pods, i, p) {
			const char *pn = str_at(p, "spec.nodeName");

			if (!pn || strcmp(pn, kobj_name(node)) || is_deleting(p))
				continue;
			if (n_on++ == 0) {
				mine = p;
			} else {
				r = delete_obj(ctl, "", "pods", p);
				if (r < 0)
					goto out;
			}
		}
		if (!mine) {
			json_t *labels = json_pack("{s:s, s:s}", "controller-revision-hash", hash,
						   "pod-template-generation", gen);
			json_t *created = NULL;

			r = create_pod(ctl, ds, "apps/v1", tmpl, NULL, name, labels, kobj_name(node), NULL, &created);
			json_decref(labels);
			if (r < 0)
				goto out;
			sim_event(ctl, ds, "Normal", "SuccessfulCreate", "Created pod: %s", kobj_name(created));
			json_decref(created);
			unavailable++;
			continue;
		}
		current++;
		if (pod_ready(mine))
			nready++;
		else
			unavailable++;
		if (!strcmp(pod_revision(mine), hash))
			nupdated++;
	}

	/* Rolling update: replace outdated pods while the unavailable budget allows. */
	if (rolling) {
		json_array_foreach(pods, i, p) {
			if (unavailable >= max_unavail)
				break;
			if (is_deleting(p) || !strcmp(pod_revision(p), hash) || !pod_ready(p))
				continue;
			r = delete_obj(ctl, "", "pods", p);
			if (r < 0)
				goto out;
			unavailable++;
		}
	}

	st = json_pack("{s:I, s:I, s:I, s:I}", "desiredNumberScheduled", desired, "currentNumberScheduled", current,
		       "numberReady", nready, "numberMisscheduled", misscheduled);
	json_object_set_new(st, "observedGeneration", json_integer(int_at(ds, "metadata.generation", 1)));
	set_count(st, "updatedNumberScheduled", nupdated);
	set_count(st, "numberAvailable", nready);
	set_count(st, "numberUnavailable", desired - nready > 0 ? desired - nready : 0);
	{
		char rev_name[300];

		snprintf(rev_name, sizeof(rev_name), "%.280s-%s", name, hash);
		ensure_revision(ctl, ds, rev_name, hash, tmpl);
	}
	r = sim_write_status(ctl, "apps", "daemonsets", ds, st);
out:
	json_decref(st);
	json_decref(pods);
	json_decref(nl.nodes);
	json_decref(ds);
	return r;
}

/* --- Job ------------------------------------------------------------------------- */

int sim_reconcile_job(struct sim_controllers *ctl, const char *ns, const char *name)
{
	json_t *job = NULL, *pods = NULL, *st = NULL, *conds, *list, *labels = NULL;
	json_int_t completions, parallelism, backoff, active = 0, succeeded = 0, failed = 0, nready = 0;
	char now[TIMEFMT_MAX], key[600];
	const char *start;
	bool done = false;
	size_t i;
	json_t *p;
	int r;

	r = kapi_get(ctl->srv, "batch", "jobs", ns, name, NULL, &job);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (is_deleting(job) || cond_true(job, "Complete") || cond_true(job, "Failed"))
		goto out;
	completions = int_at(job, "spec.completions", 1);
	parallelism = int_at(job, "spec.parallelism", 1);
	backoff = int_at(job, "spec.backoffLimit", 6);
	sim_now_rfc3339(now);
	snprintf(key, sizeof(key), "job|%s|%s", ns, name);

	pods = owned_by(ctl, "", "pods", ns, kobj_uid(job));
	json_array_foreach(pods, i, p) {
		if (!strcmp(pod_phase(p), "Succeeded"))
			succeeded++;
		else if (!strcmp(pod_phase(p), "Failed"))
			failed++;
		else if (!is_deleting(p)) {
			active++;
			nready += pod_ready(p);
		}
	}
	start = str_at(job, "status.startTime");
	conds = kobj_get_path(job, "status.conditions");
	list = json_is_array(conds) ? json_deep_copy(conds) : json_array();
	st = json_object();
	json_object_set_new(st, "startTime", json_string(start ? start : now));

	if (succeeded >= completions || failed > backoff) {
		bool ok = succeeded >= completions;

		json_array_foreach(pods, i, p) {
			if (!pod_terminal(p) && !is_deleting(p)) {
				r = delete_obj(ctl, "", "pods", p);
				if (r < 0)
					goto out;
			}
		}
		active = 0;
		if (ok) {
			json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "Complete",
							      "status", "True", "lastProbeTime", now,
							      "lastTransitionTime", now, "reason", "CompletionsReached",
							      "message", "Reached expected number of succeeded pods"));
			json_object_set_new(st, "completionTime", json_string(now));
			sim_event(ctl, job, "Normal", "Completed", "Job completed");
		} else {
			json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "Failed",
							      "status", "True", "lastProbeTime", now,
							      "lastTransitionTime", now, "reason", "BackoffLimitExceeded",
							      "message", "Job has reached the specified backoff limit"));
			sim_event(ctl, job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit");
		}
		done = true;
	} else if (!json_is_true(kobj_get_path(job, "spec.suspend"))) {
		json_int_t want = parallelism < completions - succeeded ? parallelism : completions - succeeded;
		labels = json_pack("{s:s, s:s, s:s, s:s}", "batch.kubernetes.io/controller-uid", kobj_uid(job),
					 "batch.kubernetes.io/job-name", name, "controller-uid", kobj_uid(job),
					 "job-name", name);

		for (json_int_t k = active; k < want && k - active < SIM_MAX_CREATE_PER_PASS; k++) {
			json_t *created = NULL;

			r = create_pod(ctl, job, "batch/v1", kobj_get_path(job, "spec.template"), NULL, name, labels,
				       sim_pick_node(ctl), NULL, &created);
			if (r < 0)
				goto out;
			sim_event(ctl, job, "Normal", "SuccessfulCreate", "Created pod: %s", kobj_name(created));
			json_decref(created);
		}
		if (want > active)
			active = want;
	}
	/* activeDeadlineSeconds: come back when it passes. */
	if (!done && int_at(job, "spec.activeDeadlineSeconds", 0) > 0 && start) {
		int64_t s_us;

		if (time_parse_rfc3339(start, &s_us) == 0) {
			int64_t left = s_us / 1000 + int_at(job, "spec.activeDeadlineSeconds", 0) * 1000 -
				       time_now_us() / 1000;

			if (left <= 0) {
				json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "Failed",
								      "status", "True", "lastProbeTime", now,
								      "lastTransitionTime", now, "reason",
								      "DeadlineExceeded", "message",
								      "Job was active longer than specified deadline"));
				json_array_foreach(pods, i, p) {
					if (!pod_terminal(p) && !is_deleting(p))
						delete_obj(ctl, "", "pods", p);
				}
				active = 0;
			} else {
				sim_enqueue_after(ctl, key, (uint64_t)left + 5);
			}
		}
	}
	set_count(st, "active", active);
	set_count(st, "succeeded", succeeded);
	set_count(st, "failed", failed);
	json_object_set_new(st, "ready", json_integer(nready));
	json_object_set_new(st, "terminating", json_integer(0));
	json_object_set_new(st, "uncountedTerminatedPods", json_object());
	if (json_array_size(list))
		json_object_set_new(st, "conditions", list);
	else
		json_decref(list);
	r = sim_write_status(ctl, "batch", "jobs", job, st);
out:
	json_decref(labels);
	json_decref(st);
	json_decref(pods);
	json_decref(job);
	return r;
}

/* --- the kubelet ----------------------------------------------------------------- */

static json_t *pod_condition(const char *type, const char *status, const char *reason, const char *message,
			     const char *at)
{
	json_t *c = json_pack("{s:s, s:s, s:n, s:s}", "type", type, "status", status, "lastProbeTime",
			      "lastTransitionTime", at);

	if (reason)
		json_object_set_new(c, "reason", json_string(reason));
	if (message)
		json_object_set_new(c, "message", json_string(message));
	return c;
}

static json_t *container_status(const json_t *c, bool ready, json_t *state, const char *uid, size_t idx)
{
	const char *image = or_str(json_string_value(json_object_get(c, "image")), "");
	char cid[96], digest[32];

	snprintf(cid, sizeof(cid), "containerd://%.32s%04zx", uid, idx);
	sim_template_hash(json_object_get(c, "image"), digest);
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:o}", "name",
			 or_str(json_string_value(json_object_get(c, "name")), ""), "image", image, "imageID",
			 ready ? image : "", "containerID", ready ? cid : "", "ready", ready, "started", ready,
			 "restartCount", 0, "state", state);
}

/* The pod status the kubelet reports at this stage. stage: 0 creating, 1 due. */
static json_t *pod_status(struct sim_controllers *ctl, const json_t *pod, const json_t *state, int stage,
			  bool job_pod)
{
	const char *t0 = json_string_value(json_object_get(state, "t0"));
	const char *t1 = json_string_value(json_object_get(state, "t1"));
	const char *ip = json_string_value(json_object_get(state, "ip"));
	const char *host = json_string_value(json_object_get(state, "host"));
	const char *uid = or_str(kobj_uid(pod), "");
	json_t *spec = json_object_get(pod, "spec"), *cs = json_array(), *ics = json_array(), *conds = json_array();
	json_t *st, *c;
	char unready[512] = "";
	bool fails = sim_spec_fails(ctl, spec);
	const char *phase;
	size_t i;

	if (!t1)
		t1 = t0;
	json_array_foreach(json_object_get(spec, "initContainers"), i, c) {
		json_t *s = stage ? json_pack("{s:{s:i, s:s, s:s, s:s}}", "terminated", "exitCode", 0, "reason", "Completed",
					      "startedAt", t0, "finishedAt", t1)
				  : json_pack("{s:{s:s}}", "waiting", "reason", "PodInitializing");

		json_array_append_new(ics, container_status(c, false, s, uid, 100 + i));
	}
	json_array_foreach(json_object_get(spec, "containers"), i, c) {
		const char *image = or_str(json_string_value(json_object_get(c, "image")), "");
		bool f = sim_image_fails(ctl, image);
		json_t *s;
		bool ready = false;

		if (!stage) {
			s = json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating");
		} else if (job_pod) {
			s = json_pack("{s:{s:i, s:s, s:s, s:s}}", "terminated", "exitCode", fails ? 1 : 0, "reason",
				      fails ? "Error" : "Completed", "startedAt", t1, "finishedAt", t1);
		} else if (f) {
			char *m = xasprintf("Back-off pulling image \"%s\"", image);

			s = json_pack("{s:{s:s, s:s}}", "waiting", "reason", "ImagePullBackOff", "message", m);
			free(m);
		} else {
			s = json_pack("{s:{s:s}}", "running", "startedAt", t1);
			ready = true;
		}
		if (!ready && strlen(unready) + strlen(or_str(json_string_value(json_object_get(c, "name")), "")) + 2 <
				      sizeof(unready)) {
			if (unready[0])
				strcat(unready, " ");
			strcat(unready, or_str(json_string_value(json_object_get(c, "name")), ""));
		}
		json_array_append_new(cs, container_status(c, ready, s, uid, i));
	}

	if (!stage)
		phase = "Pending";
	else if (job_pod)
		phase = fails ? "Failed" : "Succeeded";
	else
		phase = fails ? "Pending" : "Running";

	json_array_append_new(conds, pod_condition("PodReadyToStartContainers", stage ? "True" : "False", NULL, NULL,
						   stage ? t1 : t0));
	json_array_append_new(conds, pod_condition("Initialized", "True", job_pod && stage ? "PodCompleted" : NULL,
						   NULL, t0));
	if (unready[0] || job_pod) {
		char msg[600];
		const char *reason = job_pod && stage ? "PodCompleted" : "ContainersNotReady";

		snprintf(msg, sizeof(msg), "containers with unready status: [%s]", unready);
		json_array_append_new(conds, pod_condition("Ready", "False", reason, job_pod && stage ? NULL : msg,
							   stage ? t1 : t0));
		json_array_append_new(conds, pod_condition("ContainersReady", "False", reason,
							   job_pod && stage ? NULL : msg, stage ? t1 : t0));
	} else {
		json_array_append_new(conds, pod_condition("Ready", "True", NULL, NULL, t1));
		json_array_append_new(conds, pod_condition("ContainersReady", "True", NULL, NULL, t1));
	}
	json_array_append_new(conds, pod_condition("PodScheduled", "True", NULL, NULL, t0));

	st = json_pack("{s:s, s:o, s:s, s:[{s:s}], s:s, s:o}", "phase", phase, "conditions", conds, "hostIP", host,
		       "hostIPs", "ip", host, "startTime", t0, "containerStatuses", cs);
	if (stage && !fails && !job_pod) {
		json_object_set_new(st, "podIP", json_string(ip));
		json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", ip));
	}
	if (json_array_size(ics))
		json_object_set_new(st, "initContainerStatuses", ics);
	else
		json_decref(ics);
	json_object_set_new(st, "qosClass", json_string(or_str(str_at(pod, "status.qosClass"), "BestEffort")));
	return st;
}

int sim_reconcile_pod(struct sim_controllers *ctl, const char *ns, const char *name)
{
	json_t *pod = NULL, *state, *st = NULL, *ref;
	uint64_t now = sim_now_ms(), seen;
	const char *node, *kind;
	bool job_pod;
	int stage, r;

	r = kapi_get(ctl->srv, "", "pods", ns, name, NULL, &pod);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (is_deleting(pod) || pod_terminal(pod) || !kobj_uid(pod))
		goto out;
	ref = sim_controller_ref(pod);
	kind = json_string_value(json_object_get(ref, "kind"));
	job_pod = kind && !strcmp(kind, "Job");
	state = sim_state(ctl, kobj_uid(pod));
	node = str_at(pod, "spec.nodeName");
	if (!json_object_get(state, "seen")) {
		char t0[TIMEFMT_MAX], ip[32];
		unsigned idx;

		if (!node) {
			/* A pod nobody scheduled: bind it, as the scheduler would, or
			 * report it unschedulable and look again later. */
			const char *pick = sim_pick_node(ctl);
			char key[600];

			if (pick) {
				json_t *patch = json_pack("{s:{s:s}}", "spec", "nodeName", pick);

				r = kapi_patch(ctl->srv, "", "pods", ns, name, NULL, KAPI_PATCH_MERGE, patch,
					       &sim_kcm_opts, NULL, NULL);
				json_decref(patch);
				goto out; /* the change queues this pod again */
			}
			snprintf(key, sizeof(key), "pod|%s|%s", ns, name);
			sim_enqueue_after(ctl, key, 1000);
			{
				char msg[160], tnow[TIMEFMT_MAX];
				json_t *cond;

				snprintf(msg, sizeof(msg), "0/%zu nodes are available: %zu node(s) were unschedulable.",
					 ctl->last_nodes_total, ctl->last_nodes_total);
				cond = json_object_get(json_object_get(pod, "status"), "conditions");
				if (json_array_size(cond) == 1 &&
				    !strcmp(or_str(str_at(json_array_get(cond, 0), "reason"), ""), "Unschedulable")) {
					r = 0;
					goto out;
				}
				st = json_pack("{s:s, s:[{s:s, s:s, s:n, s:s, s:s, s:s}], s:s}", "phase", "Pending",
					       "conditions", "type", "PodScheduled", "status", "False", "lastProbeTime",
					       "lastTransitionTime", sim_now_rfc3339(tnow), "reason", "Unschedulable",
					       "message", msg, "qosClass", or_str(str_at(pod, "status.qosClass"), "BestEffort"));
				r = sim_write_status(ctl, "", "pods", pod, st);
				goto out;
			}
		}
		idx = sim_node_index(ctl, node);
		snprintf(ip, sizeof(ip), "10.244.%u.%u", idx % 256, ctl->ip_seq++ % 250 + 2);
		json_object_set_new(state, "seen", json_integer((json_int_t)now));
		json_object_set_new(state, "t0", json_string(sim_now_rfc3339(t0)));
		json_object_set_new(state, "ip", json_string(ip));
		snprintf(ip, sizeof(ip), "172.18.%u.%u", idx / 250, idx % 250 + 2);
		json_object_set_new(state, "host", json_string(ip));
		sim_event(ctl, pod, "Normal", "Scheduled", "Successfully assigned %s/%s to %s", ns, name, node);
	}
	seen = (uint64_t)json_integer_value(json_object_get(state, "seen"));
	if (now < seen + ctl->ready_delay_ms) {
		stage = 0;
		{
			char key[600];

			snprintf(key, sizeof(key), "pod|%s|%s", ns, name);
			sim_enqueue_after(ctl, key, seen + ctl->ready_delay_ms - now);
		}
	} else {
		stage = 1;
		if (!json_object_get(state, "t1")) {
			char t1[TIMEFMT_MAX];

			json_object_set_new(state, "t1", json_string(sim_now_rfc3339(t1)));
			if (sim_spec_fails(ctl, json_object_get(pod, "spec")) && !job_pod)
				sim_event(ctl, pod, "Warning", "Failed", "Error: ImagePullBackOff");
		}
	}
	st = pod_status(ctl, pod, state, stage, job_pod);
	if (json_equal(json_object_get(pod, "status"), st))
		goto out;
	{
		json_t *copy = json_copy(pod);

		json_object_set(copy, "status", st);
		r = kapi_update_status(ctl->srv, "", "pods", copy, &sim_kubelet_opts, NULL, NULL);
		json_decref(copy);
		if (r > 0)
			r = 0;
	}
out:
	json_decref(st);
	json_decref(pod);
	return r;
}
