/* mwrs.c - the ManifestWorkReplicaSet controller (placement.h; OCM's
 * work/v1alpha1 semantics, rollouts through hub/wave.h).
 *
 * One kapi subscription queues ManifestWorkReplicaSets; a 0 ms timer works
 * the queue off once per loop turn, a second timer wakes them at wave
 * deadlines (soak, progressDeadline):
 *   - a ManifestWorkReplicaSet whose spec, generation, finalizers or
 *     deletion changed;
 *   - every one of a namespace when a Placement or PlacementDecision of the
 *     namespace changes;
 *   - the owner of a ManifestWork labelled
 *     work.open-cluster-management.io/manifestworkreplicaset=<ns>.<name>;
 *   - all when a ManagedCluster's availability changes or one is deleted.
 *
 * Reconcile of one ManifestWorkReplicaSet:
 *   - the finalizer cluster.open-cluster-management.io/manifest-work-cleanup
 *     is added; on deletion every labelled work is deleted, and the
 *     finalizer goes at once (cascadeDeletionPolicy Background, the
 *     default) or once the works are gone (Foreground);
 *   - for each placementRef, in order: the clusters of its Placement's
 *     PlacementDecisions (with their decision groups; a cluster already
 *     taken by an earlier placementRef is skipped) run a wave (wave.h)
 *     under the ref's rolloutStrategy. A change of the template (its hash)
 *     starts a new wave: every cluster Pending, keeping the content it has.
 *     Released clusters get the ManifestWork named as the set in their
 *     namespace, labelled with the set and the placement, written only when
 *     its spec or labels differ. The wave's state per cluster is kept in
 *     status.rollout[] (a Nave extension: placement, templateHash, phase,
 *     message, clusters[] {name, group, groupName, state, releasedAtMs,
 *     doneSinceMs, reason, message}), so a restarted hub resumes;
 *   - a labelled work whose cluster is in no decision any more is deleted;
 *     a work of that name that the set does not own is never touched
 *     (ManifestworkApplied False names it);
 *   - status: summary {total, applied, available, progressing, degraded,
 *     desiredTotal, updated}, placementSummary[] and the conditions
 *     PlacementVerified, PlacementRolledOut and ManifestworkApplied, as
 *     OCM's, written only when something changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "hub_int.h"
#include "kobj.h"
#include "log.h"
#include "placement.h"
#include "timefmt.h"
#include "wave.h"

#define MWRS_BATCH_MAX 128 /* sets reconciled per loop turn */
#define MWRS_FINALIZER "cluster.open-cluster-management.io/manifest-work-cleanup"
#define MWRS_KEY_MAX 320

struct mwrs_ctl {
	struct hub *h;            /* borrowed */
	struct kapi_server *kapi; /* borrowed */
	struct kapi_sub *sub;     /* borrowed handle */
	uv_timer_t kick, wake;
	json_t *dirty;            /* owned: "ns/name" -> true */
	json_t *deadlines;        /* owned: "ns/name" -> wall-clock ms */
	int64_t wake_at_ms;
	bool all_dirty;
	bool stopping;
	int handles_open;
};

static void on_kick(uv_timer_t *t);

static void kick(struct mwrs_ctl *ctl)
{
	if (!ctl->stopping && !uv_is_active((uv_handle_t *)&ctl->kick))
		uv_timer_start(&ctl->kick, on_kick, 0, 0);
}

static void mark(struct mwrs_ctl *ctl, const char *ns, const char *name)
{
	char key[MWRS_KEY_MAX];

	if (ctl->stopping || !ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	json_object_set_new(ctl->dirty, key, json_true());
	kick(ctl);
}

static int mark_one(void *data, const json_t *obj)
{
	mark(data, kobj_namespace(obj), kobj_name(obj));
	return 0;
}

static const char *str_or(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static int64_t now_ms(void)
{
	return time_now_us() / 1000;
}

/* Helpers -------------------------------------------------------------------------- */

static bool cond_true(const json_t *obj, const char *type)
{
	const json_t *c = kobj_condition(obj, type);
	const char *s = c ? json_string_value(json_object_get(c, "status")) : NULL;

	return s && !strcmp(s, "True");
}

static json_t *condition(const json_t *old_status, const char *type, const char *status, const char *reason,
			 const char *message, json_int_t gen)
{
	json_t *conds = json_object_get(old_status, "conditions"), *c;
	char ts[TIMEFMT_MAX];
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

/* The template's hash: FNV-1a 64 of its canonical JSON, as 16 hex digits. */
static void template_hash(const json_t *tmpl, char out[17])
{
	char *s = json_dumps(tmpl, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = fnv1a_str(FNV1A_INIT, s ? s : "");

	free(s);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static bool reachable(struct mwrs_ctl *ctl, const char *cluster)
{
	struct hub_cluster *c = hub_cluster_find(ctl->h, cluster);

	return c && c->accepted && !strcmp(c->available, "True");
}

static void owner_value(const char *ns, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s.%s", ns, name);
}

/* Works -------------------------------------------------------------------------------- */

/* The labelled works of the set: cluster -> work (new reference). */
static json_t *works_of(struct mwrs_ctl *ctl, const char *owner)
{
	json_t *out = json_object(), *items = NULL, *w;
	struct errbuf err;
	char sel[MWRS_KEY_MAX + 80];
	size_t i;

	snprintf(sel, sizeof(sel), "%s=%s", PLC_LABEL_MWRS, owner);
	if (kapi_list(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, NULL, sel, NULL, &err, &items) < 0)
		return out;
	json_array_foreach(items, i, w)
		json_object_set(out, kobj_namespace(w), w);
	json_decref(items);
	return out;
}

/* Make the work on cluster carry tmpl. Returns 0 (written or unchanged),
 * -EEXIST (a work of that name the set does not own) or another errno. */
static int put_work(struct mwrs_ctl *ctl, const json_t *mw, const char *owner, const char *placement,
		    const char *cluster, const json_t *have, struct errbuf *err)
{
	const char *name = kobj_name(mw);
	json_t *tmpl = kobj_get_path(mw, "spec.manifestWorkTemplate"), *labels, *obj = NULL, *cur = NULL;
	int r = 0;

	labels = json_pack("{s:s,s:s}", PLC_LABEL_MWRS, owner, PLC_LABEL_MWRS_PLACEMENT, placement);
	if (!have) {
		if (kapi_get(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cluster, name, NULL, &cur) == 0) {
			const char *o = kobj_label(cur, PLC_LABEL_MWRS);

			if (!o || strcmp(o, owner)) {
				r = errbuf_set(err, -EEXIST, "ManifestWork %s/%s exists and is not owned by this set", cluster,
					       name);
				goto out;
			}
			have = cur;
		}
	}
	if (have) {
		const char *k;
		json_t *v, *hl = kobj_labels(have);
		bool same = json_equal(json_object_get(have, "spec"), tmpl);

		if (kobj_get_path(have, "metadata.deletionTimestamp"))
			goto out; /* being deleted: recreated once gone */
		json_object_foreach(labels, k, v)
			if (!hl || !json_equal(json_object_get(hl, k), v))
				same = false;
		if (same)
			goto out;
		obj = json_deep_copy(have);
		json_object_set(obj, "spec", tmpl);
		json_object_foreach(labels, k, v)
			kobj_set_label(obj, k, json_string_value(v));
		json_object_del(kobj_metadata(obj, true), "resourceVersion");
		r = kapi_update(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, obj, NULL, err, NULL);
		goto out;
	}
	obj = json_pack("{s:s,s:s,s:{s:s,s:s,s:O},s:O}", "apiVersion", "work.open-cluster-management.io/v1", "kind",
			"ManifestWork", "metadata", "name", name, "namespace", cluster, "labels", labels, "spec", tmpl);
	r = kapi_create(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cluster, obj, NULL, err, NULL);
out:
	json_decref(obj);
	json_decref(cur);
	json_decref(labels);
	return r;
}

static void delete_work(struct mwrs_ctl *ctl, const json_t *w)
{
	struct errbuf err;

	if (kobj_get_path(w, "metadata.deletionTimestamp"))
		return;
	if (kapi_delete(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, kobj_namespace(w), kobj_name(w), NULL, &err, NULL) < 0)
		log_warn("cannot delete ManifestWork %s/%s: %s", kobj_namespace(w), kobj_name(w), err.msg);
}

/* Decisions -------------------------------------------------------------------------- */

struct mwrs_member {
	char *name;       /* owned */
	int group;
	char *group_name; /* owned */
};

static int member_cmp(const void *a, const void *b)
{
	const struct mwrs_member *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The clusters of a placement's decisions not in taken, sorted by group
 * then name. *ret (owned array of n; free with members_free). */
static size_t members_of(struct mwrs_ctl *ctl, const char *ns, const char *placement, const json_t *taken,
			 struct mwrs_member **ret)
{
	json_t *items = NULL, *d, *e, *seen = json_object();
	struct mwrs_member *m = NULL;
	size_t n = 0, cap = 0, i, j;
	struct errbuf err;
	char sel[MWRS_KEY_MAX + 80];

	snprintf(sel, sizeof(sel), "%s=%s", PLC_LABEL_PLACEMENT, placement);
	if (kapi_list(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_DECISIONS, ns, sel, NULL, &err, &items) < 0)
		items = json_array();
	json_array_foreach(items, i, d) {
		const char *gi = kobj_label(d, PLC_LABEL_GROUP_INDEX), *gn = kobj_label(d, PLC_LABEL_GROUP_NAME);

		json_array_foreach(kobj_get_path(d, "status.decisions"), j, e) {
			const char *c = json_string_value(json_object_get(e, "clusterName"));

			if (!c || json_object_get(taken, c) || json_object_get(seen, c) || n >= WAVE_CLUSTERS_MAX)
				continue;
			json_object_set_new(seen, c, json_true());
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				m = realloc(m, cap * sizeof(*m));
				if (!m)
					abort();
			}
			m[n].name = xstrdup(c);
			m[n].group = gi ? atoi(gi) : 0;
			m[n].group_name = xstrdup(gn ? gn : "");
			n++;
		}
	}
	if (n)
		qsort(m, n, sizeof(*m), member_cmp);
	json_decref(items);
	json_decref(seen);
	*ret = m;
	return n;
}

static void members_free(struct mwrs_member *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].group_name);
	}
	free(m);
}

/* One placementRef's wave -------------------------------------------------------- */

struct mwrs_counts {
	json_int_t total, applied, available, progressing, degraded, desired, updated;
};

static void count_work(struct mwrs_counts *c, const json_t *w, const json_t *tmpl)
{
	c->total++;
	if (cond_true(w, "Applied"))
		c->applied++;
	if (cond_true(w, "Available"))
		c->available++;
	if (cond_true(w, "Progressing"))
		c->progressing++;
	if (cond_true(w, "Degraded"))
		c->degraded++;
	if (json_equal(json_object_get(w, "spec"), tmpl))
		c->updated++;
}

static json_t *counts_json(const struct mwrs_counts *c)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "total", c->total, "applied", c->applied, "available",
			 c->available, "progressing", c->progressing, "degraded", c->degraded, "desiredTotal",
			 c->desired, "updated", c->updated);
}

/* The old wave state of a placement in status.rollout (borrowed) or NULL. */
static const json_t *old_rollout(const json_t *mw, const char *placement)
{
	return kobj_array_find(kobj_get_path(mw, "status.rollout"), "placement", placement);
}

static const json_t *old_cluster(const json_t *ro, const char *name)
{
	return kobj_array_find(json_object_get(ro, "clusters"), "name", name);
}

struct mwrs_run {
	struct mwrs_ctl *ctl;
	const json_t *mw;        /* borrowed: the set */
	const char *owner;       /* "<ns>.<name>" */
	const json_t *tmpl;      /* borrowed */
	const char *hash;
	json_t *works;           /* borrowed: cluster -> work */
	json_t *taken;           /* borrowed: clusters claimed so far */
	json_t *conflicts;       /* borrowed array of messages */
	json_t *rollout;         /* borrowed array: new status.rollout */
	json_t *psummary;        /* borrowed array: new placementSummary */
	struct mwrs_counts all;
	int64_t next_wake;
	bool again;              /* reconcile once more (released works that needed no write) */
	size_t missing, empty;   /* placements missing / without decisions */
};

static void run_placement(struct mwrs_run *run, size_t idx, const json_t *ref)
{
	struct mwrs_ctl *ctl = run->ctl;
	const char *ns = kobj_namespace(run->mw), *pname = json_string_value(json_object_get(ref, "name"));
	struct wave_strategy ws;
	struct wave_result wr = {0};
	struct wave_cluster *wc = NULL;
	struct mwrs_member *m = NULL;
	struct mwrs_counts cnt = {0};
	const json_t *ro;
	json_t *pl = NULL, *clusters, *groups_ok;
	struct errbuf err;
	char field[64];
	int64_t now = now_ms();
	bool new_wave;
	size_t n = 0, i;

	memset(&ws, 0, sizeof(ws));
	if (kapi_get(ctl->kapi, PLC_GROUP_CLUSTER, PLC_RES_PLACEMENTS, ns, pname, &err, &pl) < 0)
		run->missing++;
	n = members_of(ctl, ns, pname, run->taken, &m);
	if (!n && pl)
		run->empty++;
	for (i = 0; i < n; i++)
		json_object_set_new(run->taken, m[i].name, json_true());
	snprintf(field, sizeof(field), "spec.placementRefs[%zu].rolloutStrategy", idx);
	if (wave_strategy_parse(json_object_get(ref, "rolloutStrategy"), field, &err, &ws) < 0) {
		/* admission refuses these; a stored one stops the wave, works stay as they are */
		json_array_append_new(run->conflicts, json_string(err.msg));
		goto out;
	}
	ro = old_rollout(run->mw, pname);
	new_wave = !ro || !json_is_string(json_object_get(ro, "templateHash")) ||
		   strcmp(json_string_value(json_object_get(ro, "templateHash")), run->hash);
	wc = xcalloc(n ? n : 1, sizeof(*wc));
	for (i = 0; i < n; i++) {
		const json_t *oc = new_wave ? NULL : old_cluster(ro, m[i].name), *w = json_object_get(run->works, m[i].name);
		enum wave_cstate st = WAVE_C_PENDING;

		wc[i].name = m[i].name;
		wc[i].group = m[i].group;
		wc[i].group_name = m[i].group_name;
		if (oc && wave_cstate_parse(json_string_value(json_object_get(oc, "state")), &st) == 0) {
			wc[i].state = st;
			wc[i].released_ms = json_integer_value(json_object_get(oc, "releasedAtMs"));
			wc[i].done_since_ms = json_integer_value(json_object_get(oc, "doneSinceMs"));
			snprintf(wc[i].reason, sizeof(wc[i].reason), "%s",
				 str_or(json_object_get(oc, "reason")));
			snprintf(wc[i].message, sizeof(wc[i].message), "%s",
				 str_or(json_object_get(oc, "message")));
		} else if (w && json_equal(json_object_get(w, "spec"), run->tmpl)) {
			/* already carries the change (a lost status): judged like a release */
			wc[i].state = WAVE_C_UPDATING;
			wc[i].released_ms = now;
		}
		if (wc[i].state == WAVE_C_UPDATING || wc[i].state == WAVE_C_SOAKING) {
			struct wave_observation o = {.reachable = reachable(ctl, m[i].name)};

			if (w && json_equal(json_object_get(w, "spec"), run->tmpl))
				wave_observe(w, o.reachable, &o);
			wave_cluster_eval(&ws, &wc[i], &o, now);
		}
	}
	if (wave_step(&ws, wc, n, false, false, now, &wr) < 0) {
		json_array_append_new(run->conflicts, json_string("internal: the wave's clusters are out of order"));
		goto out;
	}
	for (i = 0; i < wr.nrelease; i++) {
		struct wave_cluster *c = &wc[wr.release[i]];

		c->state = WAVE_C_UPDATING;
		c->released_ms = now;
		c->done_since_ms = 0;
		run->again = true;
	}
	if (wr.next_wake_ms && (!run->next_wake || wr.next_wake_ms < run->next_wake))
		run->next_wake = wr.next_wake_ms;
	/* write the released clusters' works; keep the others as they are */
	clusters = json_array();
	groups_ok = json_object();
	for (i = 0; i < n; i++) {
		const json_t *w = json_object_get(run->works, wc[i].name);
		char gi[16];

		if (wc[i].state != WAVE_C_PENDING) {
			int r = put_work(ctl, run->mw, run->owner, pname, wc[i].name, w, &err);

			if (r < 0) {
				json_array_append_new(run->conflicts, json_string(err.msg));
				if (r != -EEXIST)
					log_warn("ManifestWorkReplicaSet %s: %s", run->owner, err.msg);
			}
		}
		if (w)
			count_work(&cnt, w, run->tmpl);
		cnt.desired++;
		if (w && cond_true(w, "Applied")) {
			snprintf(gi, sizeof(gi), "%d", wc[i].group);
			json_object_set_new(groups_ok, gi, json_true());
		}
		json_array_append_new(clusters, json_pack("{s:s,s:i,s:s,s:s,s:I,s:I,s:s,s:s}", "name", wc[i].name,
							  "group", wc[i].group, "groupName", wc[i].group_name ? wc[i].group_name : "",
							  "state", wave_cstate_name(wc[i].state), "releasedAtMs",
							  (json_int_t)wc[i].released_ms, "doneSinceMs",
							  (json_int_t)wc[i].done_since_ms, "reason", wc[i].reason,
							  "message", wc[i].message));
	}
	json_array_append_new(run->rollout, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "placement", pname, "type",
						      ws.type == WAVE_ALL ? "All" : ws.type == WAVE_PROGRESSIVE ?
						      "Progressive" : "ProgressivePerGroup", "templateHash", run->hash,
						      "phase", wave_phase_name(wr.phase), "message", wr.message,
						      "clusters", clusters));
	{
		char avail[64];

		snprintf(avail, sizeof(avail), "%zu (%lld / %lld clusters applied)", json_object_size(groups_ok),
			 (long long)cnt.applied, (long long)cnt.desired);
		json_array_append_new(run->psummary, json_pack("{s:s,s:s,s:o}", "name", pname, "availableDecisionGroups",
							       avail, "summary", counts_json(&cnt)));
	}
	json_decref(groups_ok);
out:
	wave_result_clear(&wr);
	wave_strategy_clear(&ws);
	free(wc);
	members_free(m, n);
	json_decref(pl);
}

/* Reconcile ---------------------------------------------------------------------------- */

static void set_finalizer(struct mwrs_ctl *ctl, const json_t *mw, bool on)
{
	json_t *obj = json_deep_copy(mw), *fins = kobj_get_path(obj, "metadata.finalizers"), *nf = json_array(), *f;
	struct errbuf err;
	size_t i;

	json_array_foreach(fins, i, f)
		if (!json_is_string(f) || strcmp(json_string_value(f), MWRS_FINALIZER))
			json_array_append(nf, f);
	if (on)
		json_array_append_new(nf, json_string(MWRS_FINALIZER));
	json_object_set_new(kobj_metadata(obj, true), "finalizers", nf);
	json_object_del(kobj_metadata(obj, true), "resourceVersion");
	if (kapi_update(ctl->kapi, HUB_GROUP_WORK, PLC_RES_MWRS, obj, NULL, &err, NULL) < 0)
		log_warn("ManifestWorkReplicaSet %s/%s: cannot %s its finalizer: %s", kobj_namespace(mw), kobj_name(mw),
			 on ? "add" : "remove", err.msg);
	json_decref(obj);
}

static bool has_finalizer(const json_t *mw)
{
	json_t *f;
	size_t i;

	json_array_foreach(kobj_get_path(mw, "metadata.finalizers"), i, f)
		if (json_is_string(f) && !strcmp(json_string_value(f), MWRS_FINALIZER))
			return true;
	return false;
}

static void delete_all(struct mwrs_ctl *ctl, const char *owner)
{
	json_t *works = works_of(ctl, owner), *w;
	const char *k;

	json_object_foreach(works, k, w)
		delete_work(ctl, w);
	json_decref(works);
}

static void reconcile(struct mwrs_ctl *ctl, const char *ns, const char *name)
{
	json_t *mw = NULL, *refs, *ref, *status = NULL, *conds;
	struct mwrs_run run = {.ctl = ctl};
	char owner[MWRS_KEY_MAX], hash[17], key[MWRS_KEY_MAX], msg[512];
	struct errbuf err;
	json_int_t gen;
	const char *k;
	json_t *w;
	size_t i;

	owner_value(ns, name, owner, sizeof(owner));
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	json_object_del(ctl->deadlines, key);
	if (kapi_get(ctl->kapi, HUB_GROUP_WORK, PLC_RES_MWRS, ns, name, &err, &mw) < 0) {
		delete_all(ctl, owner);
		return;
	}
	if (kobj_get_path(mw, "metadata.deletionTimestamp")) {
		const char *policy = json_string_value(kobj_get_path(mw, "spec.cascadeDeletionPolicy"));
		json_t *left;

		delete_all(ctl, owner);
		left = works_of(ctl, owner);
		if (has_finalizer(mw) && (!policy || strcmp(policy, "Foreground") || !json_object_size(left)))
			set_finalizer(ctl, mw, false);
		json_decref(left);
		goto out;
	}
	if (!has_finalizer(mw))
		set_finalizer(ctl, mw, true);
	gen = json_integer_value(kobj_get_path(mw, "metadata.generation"));
	run.mw = mw;
	run.owner = owner;
	run.tmpl = kobj_get_path(mw, "spec.manifestWorkTemplate");
	template_hash(run.tmpl, hash);
	run.hash = hash;
	run.works = works_of(ctl, owner);
	run.taken = json_object();
	run.conflicts = json_array();
	run.rollout = json_array();
	run.psummary = json_array();
	refs = kobj_get_path(mw, "spec.placementRefs");
	json_array_foreach(refs, i, ref)
		run_placement(&run, i, ref);
	/* clusters in no decision any more lose their work */
	json_object_foreach(run.works, k, w)
		if (!json_object_get(run.taken, k))
			delete_work(ctl, w);
	/* the summary counts the works as they were at the start of this
	 * reconcile: what it wrote is counted by the next one */
	json_object_foreach(run.works, k, w)
		if (json_object_get(run.taken, k))
			count_work(&run.all, w, run.tmpl);
	{
		json_t *p;

		json_array_foreach(run.psummary, i, p)
			run.all.desired += json_integer_value(kobj_get_path(p, "summary.desiredTotal"));
	}

	conds = json_array();
	if (run.missing)
		json_array_append_new(conds, condition(json_object_get(mw, "status"), "PlacementVerified", "False",
						       "PlacementDecisionNotFound", "a Placement of placementRefs does not "
						       "exist", gen));
	else if (run.empty == json_array_size(refs))
		json_array_append_new(conds, condition(json_object_get(mw, "status"), "PlacementVerified", "False",
						       "PlacementDecisionEmpty", "the Placements decided no cluster", gen));
	else
		json_array_append_new(conds, condition(json_object_get(mw, "status"), "PlacementVerified", "True",
						       "AsExpected", "", gen));
	{
		bool done = true;
		json_t *ro;

		json_array_foreach(run.rollout, i, ro)
			if (strcmp(json_string_value(json_object_get(ro, "phase")), "Succeeded"))
				done = false;
		json_array_foreach(run.rollout, i, ro)
			if (!strcmp(json_string_value(json_object_get(ro, "phase")), "Halted")) {
				snprintf(msg, sizeof(msg), "placement %s: %s",
					 json_string_value(json_object_get(ro, "placement")),
					 json_string_value(json_object_get(ro, "message")));
				break;
			}
		if (done)
			json_array_append_new(conds, condition(json_object_get(mw, "status"), "PlacementRolledOut", "True",
							       "Complete", "", gen));
		else if (i < json_array_size(run.rollout))
			json_array_append_new(conds, condition(json_object_get(mw, "status"), "PlacementRolledOut",
							       "False", "Halted", msg, gen));
		else
			json_array_append_new(conds, condition(json_object_get(mw, "status"), "PlacementRolledOut",
							       "False", "Progressing", "", gen));
	}
	if (json_array_size(run.conflicts)) {
		snprintf(msg, sizeof(msg), "%s", json_string_value(json_array_get(run.conflicts, 0)));
		json_array_append_new(conds, condition(json_object_get(mw, "status"), "ManifestworkApplied", "False",
						       "NotAsExpected", msg, gen));
	} else if (!run.all.desired || run.all.applied < run.all.desired) {
		snprintf(msg, sizeof(msg), "%lld of %lld ManifestWorks applied", (long long)run.all.applied,
			 (long long)run.all.desired);
		json_array_append_new(conds, condition(json_object_get(mw, "status"), "ManifestworkApplied", "False",
						       run.all.desired ? "Processing" : "AsExpected", msg, gen));
	} else {
		json_array_append_new(conds, condition(json_object_get(mw, "status"), "ManifestworkApplied", "True",
						       "AsExpected", "", gen));
	}
	status = json_pack("{s:o,s:o,s:o,s:o}", "summary", counts_json(&run.all), "placementSummary", run.psummary,
			   "rollout", run.rollout, "conditions", conds);
	run.psummary = run.rollout = NULL;
	if (!json_equal(status, json_object_get(mw, "status"))) {
		json_t *obj = json_deep_copy(mw);

		json_object_set(obj, "status", status);
		json_object_del(kobj_metadata(obj, true), "resourceVersion");
		if (kapi_update_status(ctl->kapi, HUB_GROUP_WORK, PLC_RES_MWRS, obj, NULL, &err, NULL) < 0)
			log_warn("ManifestWorkReplicaSet %s/%s: cannot write its status: %s", ns, name, err.msg);
		json_decref(obj);
	}
	if (run.next_wake)
		json_object_set_new(ctl->deadlines, key, json_integer(run.next_wake));
	if (run.again)
		mark(ctl, ns, name);
out:
	json_decref(run.works);
	json_decref(run.taken);
	json_decref(run.conflicts);
	json_decref(run.rollout);
	json_decref(run.psummary);
	json_decref(status);
	json_decref(mw);
}

/* Loop -------------------------------------------------------------------------------------- */

static void on_wake(uv_timer_t *t);

static void rearm(struct mwrs_ctl *ctl)
{
	int64_t best = 0, now = now_ms();
	const char *k;
	json_t *v;

	if (ctl->stopping)
		return;
	json_object_foreach(ctl->deadlines, k, v)
		if (!best || json_integer_value(v) < best)
			best = json_integer_value(v);
	if (!best) {
		uv_timer_stop(&ctl->wake);
		ctl->wake_at_ms = 0;
		return;
	}
	if (best == ctl->wake_at_ms && uv_is_active((uv_handle_t *)&ctl->wake))
		return;
	ctl->wake_at_ms = best;
	uv_timer_start(&ctl->wake, on_wake, best > now ? (uint64_t)(best - now) : 0, 0);
}

static void on_wake(uv_timer_t *t)
{
	struct mwrs_ctl *ctl = t->data;
	int64_t now = now_ms();
	const char *k;
	json_t *v;
	void *tmp;

	ctl->wake_at_ms = 0;
	json_object_foreach_safe(ctl->deadlines, tmp, k, v) {
		if (json_integer_value(v) <= now) {
			json_object_set_new(ctl->dirty, k, json_true());
			json_object_del(ctl->deadlines, k);
		}
	}
	kick(ctl);
	rearm(ctl);
}

static int collect_key(void *data, const json_t *obj)
{
	char key[MWRS_KEY_MAX];

	snprintf(key, sizeof(key), "%s/%s", kobj_namespace(obj), kobj_name(obj));
	json_object_set_new((json_t *)data, key, json_true());
	return 0;
}

static void on_kick(uv_timer_t *t)
{
	struct mwrs_ctl *ctl = t->data;
	json_t *todo = json_object(), *v;
	const char *key;
	void *tmp;
	size_t n = 0;

	if (ctl->all_dirty) {
		ctl->all_dirty = false;
		kapi_foreach(ctl->kapi, HUB_GROUP_WORK, PLC_RES_MWRS, NULL, collect_key, ctl->dirty);
	}
	json_object_foreach_safe(ctl->dirty, tmp, key, v) {
		if (n++ >= MWRS_BATCH_MAX)
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
		reconcile(ctl, ns, slash + 1);
	}
	json_decref(todo);
	if (json_object_size(ctl->dirty))
		kick(ctl);
	rearm(ctl);
}

static void mark_owner(struct mwrs_ctl *ctl, const json_t *w)
{
	const char *o = w ? kobj_label(w, PLC_LABEL_MWRS) : NULL, *dot;
	char ns[128];

	if (!o || !(dot = strchr(o, '.')) || (size_t)(dot - o) >= sizeof(ns))
		return;
	memcpy(ns, o, (size_t)(dot - o));
	ns[dot - o] = 0;
	mark(ctl, ns, dot + 1);
}

static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	static const char *const mw_paths[] = {"spec", "metadata.generation", "metadata.deletionTimestamp",
					       "metadata.finalizers", NULL};
	static const char *const mc_paths[] = {"spec.hubAcceptsClient", "metadata.deletionTimestamp", NULL};
	struct mwrs_ctl *ctl = data;
	const json_t *o = new_obj ? new_obj : old_obj;

	if (ctl->stopping)
		return;
	if (!strcmp(def->group, HUB_GROUP_WORK)) {
		if (!strcmp(def->resource, PLC_RES_MWRS)) {
			if (type != KAPI_EVENT_MODIFIED || kobj_paths_differ(old_obj, new_obj, mw_paths))
				mark(ctl, kobj_namespace(o), kobj_name(o));
		} else if (!strcmp(def->resource, HUB_RES_WORKS)) {
			mark_owner(ctl, old_obj);
			mark_owner(ctl, new_obj);
		}
		return;
	}
	if (strcmp(def->group, PLC_GROUP_CLUSTER))
		return;
	if (!strcmp(def->resource, PLC_RES_DECISIONS) || !strcmp(def->resource, PLC_RES_PLACEMENTS)) {
		if (type == KAPI_EVENT_MODIFIED && !strcmp(def->resource, PLC_RES_PLACEMENTS) &&
		    !kobj_paths_differ(old_obj, new_obj, mw_paths))
			return;
		kapi_foreach(ctl->kapi, HUB_GROUP_WORK, PLC_RES_MWRS, kobj_namespace(o), mark_one, ctl);
	} else if (!strcmp(def->resource, HUB_RES_CLUSTERS)) {
		const json_t *a = NULL, *b = NULL;
		const char *sa, *sb;

		if (type == KAPI_EVENT_MODIFIED) {
			a = kobj_condition(old_obj, HUB_COND_AVAILABLE);
			b = kobj_condition(new_obj, HUB_COND_AVAILABLE);
		}
		sa = a ? json_string_value(json_object_get(a, "status")) : NULL;
		sb = b ? json_string_value(json_object_get(b, "status")) : NULL;
		if (type != KAPI_EVENT_MODIFIED || kobj_paths_differ(old_obj, new_obj, mc_paths) || (!sa) != (!sb) ||
		    (sa && strcmp(sa, sb))) {
			ctl->all_dirty = true;
			kick(ctl);
		}
	}
}

/* See placement.h. */
int mwrs_ctl_start(struct hub *h, struct mwrs_ctl **ret_ctl)
{
	struct mwrs_ctl *ctl = xnew(struct mwrs_ctl);
	int r;

	ctl->h = h;
	ctl->kapi = h->kapi;
	ctl->dirty = json_object();
	ctl->deadlines = json_object();
	uv_timer_init(h->loop, &ctl->kick);
	uv_timer_init(h->loop, &ctl->wake);
	ctl->kick.data = ctl->wake.data = ctl;
	ctl->handles_open = 2;
	if ((r = kapi_server_subscribe(h->kapi, on_change, ctl, &ctl->sub)) < 0) {
		mwrs_ctl_stop(ctl);
		return r;
	}
	ctl->all_dirty = true;
	kick(ctl);
	*ret_ctl = ctl;
	return 0;
}

static void on_closed(uv_handle_t *hd)
{
	struct mwrs_ctl *ctl = hd->data;

	if (--ctl->handles_open == 0)
		free(ctl);
}

/* See placement.h. */
struct mwrs_ctl *mwrs_ctl_stop(struct mwrs_ctl *ctl)
{
	if (!ctl)
		return NULL;
	ctl->stopping = true;
	if (ctl->sub && ctl->h->kapi)
		kapi_server_unsubscribe(ctl->h->kapi, ctl->sub);
	ctl->sub = NULL;
	json_decref(ctl->dirty);
	json_decref(ctl->deadlines);
	ctl->dirty = ctl->deadlines = NULL;
	uv_timer_stop(&ctl->kick);
	uv_timer_stop(&ctl->wake);
	uv_close((uv_handle_t *)&ctl->kick, on_closed);
	uv_close((uv_handle_t *)&ctl->wake, on_closed);
	return NULL;
}
