/* app_controller.c - the Application controller's frame: subscription,
 * per-application state, coalescing, timers, start and stop.
 *
 * One kapi subscription sees every committed change:
 *   - Application: the application is queued for a reconcile (changes of
 *     status alone are ours and queue nothing);
 *   - ComponentDefinition / TraitDefinition: the live registry follows the
 *     object (parsed with appdef_parse; a definition that stops parsing is
 *     dropped) and every application that can see it is queued: its
 *     revision hash covers the definitions it uses, so a changed
 *     definition makes a new revision and a new workflow run;
 *   - ManagedCluster: the cluster list is refreshed; a change of labels,
 *     acceptance, availability or existence queues the applications it can
 *     affect (cluster_affects): those with a work on the cluster, those
 *     whose topologies (of any revision their run deploys) select it by
 *     name or by its old or new labels, those with a nave-rollout policy
 *     (waves watch availability) and those without a parsed run yet; so
 *     with 1,000 clusters one cluster's change costs O(applications) cheap
 *     checks, not a reconcile of every application. A deleted cluster's
 *     ManifestWorks are deleted (the stream lets them go at once: the
 *     cluster is gone);
 *   - ManifestWork carrying the app.oam.dev/name and /namespace labels:
 *     its application's table of works follows it, and the application is
 *     queued (status rollup, workflow progress).
 * Queued applications are worked off by a 0 ms timer, so every change of
 * one loop turn becomes one reconcile per application (at most
 * APP_BATCH_MAX per turn, and only as many as fit in APP_TURN_BUDGET_MS;
 * the rest in the next turns). The timer runs
 * before the hub's prepare handler, which commits what the reconciles
 * wrote. A second timer wakes applications at their deadlines (suspend
 * durations, step timeouts), recomputed by each reconcile from the
 * timestamps in status.workflow, so a restarted hub resumes where the
 * store says it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "codec.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

/* The hash of "ns/name". */
static uint64_t key_hash(const char *ns, const char *name)
{
	return fnv1a_str(fnv1a_str(fnv1a_str(14695981039346656037ULL, ns), "/"), name);
}

/* States ------------------------------------------------------------------ */

/* See app_int.h. */
struct app_state *app_state_find(struct app_ctl *ctl, const char *ns, const char *name)
{
	struct app_state *st;

	if (!ctl->cap)
		return NULL;
	for (st = ctl->tab[key_hash(ns, name) & (ctl->cap - 1)]; st; st = st->hnext)
		if (!strcmp(st->ns, ns) && !strcmp(st->name, name))
			return st;
	return NULL;
}

static void tab_grow(struct app_ctl *ctl)
{
	size_t ncap = ctl->cap ? ctl->cap * 2 : 64;
	struct app_state **nt = xcalloc(ncap, sizeof(*nt)), *st, *next;

	for (size_t i = 0; i < ctl->cap; i++)
		for (st = ctl->tab[i]; st; st = next) {
			size_t b = key_hash(st->ns, st->name) & (ncap - 1);

			next = st->hnext;
			st->hnext = nt[b];
			nt[b] = st;
		}
	free(ctl->tab);
	ctl->tab = nt;
	ctl->cap = ncap;
}

/* See app_int.h. */
struct app_state *app_state_get(struct app_ctl *ctl, const char *ns, const char *name)
{
	struct app_state *st = app_state_find(ctl, ns, name);
	size_t b;

	if (st)
		return st;
	if (ctl->n + 1 > ctl->cap * 3 / 4)
		tab_grow(ctl);
	st = xnew(struct app_state);
	st->ctl = ctl;
	st->ns = xstrdup(ns);
	st->name = xstrdup(name);
	st->works = json_object();
	b = key_hash(ns, name) & (ctl->cap - 1);
	st->hnext = ctl->tab[b];
	ctl->tab[b] = st;
	ctl->n++;
	return st;
}

static void pieces_free(struct app_piece *p)
{
	struct app_piece *n;

	for (; p; p = n) {
		n = p->next;
		free(p->key);
		free(p->cluster);
		free(p->namespace_);
		json_decref(p->manifests);
		json_decref(p->comps);
		free(p->error);
		app_health_free(p->health);
		free(p);
	}
}

/* See app_int.h. */
void app_state_reset(struct app_state *st, bool drop_run)
{
	pieces_free(st->cache);
	st->cache = NULL;
	st->ncache = 0;
	json_decref(st->desired);
	json_decref(st->selected);
	st->desired = st->selected = NULL;
	if (drop_run)
		st->run = app_run_free(st->run);
}

/* See app_int.h. */
void app_state_notify_clear(struct app_state *st)
{
	st->notify = app_notify_cancel(st->notify);
	free(st->notify_step);
	free(st->notify_run);
	free(st->notify_msg);
	st->notify_step = st->notify_run = st->notify_msg = NULL;
	st->notify_done = false;
}

static void state_free(struct app_state *st)
{
	free(st->rc_key);
	free(st->rc_name);
	app_state_notify_clear(st);
	app_state_reset(st, true);
	json_decref(st->works);
	free(st->ns);
	free(st->name);
	free(st);
}

/* Forget st when nothing refers to it any more (no application, no works). */
static void state_maybe_drop(struct app_ctl *ctl, struct app_state *st)
{
	struct app_state **pp;

	if (st->exists || json_object_size(st->works) || st->dirty || st->notify)
		return;
	for (pp = &ctl->tab[key_hash(st->ns, st->name) & (ctl->cap - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == st) {
			*pp = st->hnext;
			ctl->n--;
			state_free(st);
			return;
		}
}

/* Dirty list and timers ----------------------------------------------------- */

static void on_kick(uv_timer_t *t);

/* See app_int.h. */
void app_mark_dirty(struct app_ctl *ctl, struct app_state *st)
{
	if (ctl->stopping || st->dirty)
		return;
	st->dirty = true;
	st->dnext = NULL;
	if (ctl->dirty_tail)
		ctl->dirty_tail->dnext = st;
	else
		ctl->dirty_head = st;
	ctl->dirty_tail = st;
	if (!uv_is_active((uv_handle_t *)&ctl->kick))
		uv_timer_start(&ctl->kick, on_kick, 0, 0);
}

static void mark_all(struct app_ctl *ctl, const char *ns)
{
	for (size_t i = 0; i < ctl->cap; i++)
		for (struct app_state *st = ctl->tab[i]; st; st = st->hnext)
			if (!ns || !strcmp(ns, APP_SYSTEM_NAMESPACE) || !strcmp(st->ns, ns))
				app_mark_dirty(ctl, st);
}

static void on_wake(uv_timer_t *t);

/* Set the wake-up timer to the earliest deadline of any application. */
static void rearm(struct app_ctl *ctl)
{
	int64_t best = 0, now = time_now_us(), ms;

	if (ctl->stopping)
		return;
	for (size_t i = 0; i < ctl->cap; i++)
		for (struct app_state *st = ctl->tab[i]; st; st = st->hnext)
			if (st->deadline_us && (!best || st->deadline_us < best))
				best = st->deadline_us;
	if (!best) {
		uv_timer_stop(&ctl->wake);
		ctl->wake_at_us = 0;
		return;
	}
	if (best == ctl->wake_at_us && uv_is_active((uv_handle_t *)&ctl->wake))
		return;
	ms = best > now ? (best - now + 999) / 1000 : 0;
	ctl->wake_at_us = best;
	uv_timer_start(&ctl->wake, on_wake, (uint64_t)ms, 0);
}

static void on_wake(uv_timer_t *t)
{
	struct app_ctl *ctl = t->data;
	int64_t now = time_now_us();

	ctl->wake_at_us = 0;
	for (size_t i = 0; i < ctl->cap; i++)
		for (struct app_state *st = ctl->tab[i]; st; st = st->hnext)
			if (st->deadline_us && st->deadline_us <= now) {
				st->deadline_us = 0;
				app_mark_dirty(ctl, st);
			}
	rearm(ctl);
}

/* Work off the dirty list: at most APP_BATCH_MAX applications, and no more
 * once APP_TURN_BUDGET_MS went by, so one loop turn never holds requests
 * (and lease renewals) back for long; the rest run in the next turns, after
 * the loop polled and the hub committed what this batch wrote. */
static void on_kick(uv_timer_t *t)
{
	struct app_ctl *ctl = t->data;
	uint64_t t0 = uv_hrtime();
	size_t n = 0;

	while (ctl->dirty_head && n < APP_BATCH_MAX &&
	       (n == 0 || uv_hrtime() - t0 < (uint64_t)APP_TURN_BUDGET_MS * 1000000)) {
		struct app_state *st = ctl->dirty_head;

		ctl->dirty_head = st->dnext;
		if (!ctl->dirty_head)
			ctl->dirty_tail = NULL;
		st->dirty = false;
		st->dnext = NULL;
		ctl->reconciles++;
		app_reconcile(ctl, st);
		n++;
		state_maybe_drop(ctl, st);
	}
	/* 1 ms, not 0: libuv (1.44) runs a timer re-armed to "now" from its own
	 * callback again in the same pass, never reaching the poll phase (and
	 * the hub's prepare handler, which commits) in between */
	if (ctl->dirty_head)
		uv_timer_start(&ctl->kick, on_kick, 1, 0);
	rearm(ctl);
}

/* Clusters ------------------------------------------------------------------ */

static int collect_cluster(void *data, const json_t *obj)
{
	json_array_append((json_t *)data, (json_t *)obj);
	return 0;
}

/* See app_int.h. The array and the by-name index are rebuilt together, at
 * most once per batch of changes, and only for changes placement reads
 * (labels, acceptance, existence, deletion): the objects may hold an older
 * status. */
const json_t *app_clusters(struct app_ctl *ctl)
{
	if (ctl->clusters_stale || !ctl->clusters) {
		json_t *c;
		size_t i;

		json_decref(ctl->clusters);
		json_decref(ctl->cluster_index);
		ctl->clusters = json_array();
		ctl->cluster_index = json_object();
		kapi_foreach(ctl->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, collect_cluster, ctl->clusters);
		json_array_foreach(ctl->clusters, i, c)
			if (kobj_name(c))
				json_object_set(ctl->cluster_index, kobj_name(c), c);
		ctl->clusters_stale = false;
		ctl->clusters_gen++;
	}
	return ctl->clusters;
}

/* See app_int.h. */
const json_t *app_cluster_labels(struct app_ctl *ctl, const char *name)
{
	const json_t *c, *labels;

	app_clusters(ctl);
	c = json_object_get(ctl->cluster_index, name);
	if (!c)
		return NULL;
	labels = kobj_labels(c);
	return labels ? labels : ctl->empty;
}

/* See app_int.h. */
bool app_cluster_available(struct app_ctl *ctl, const char *name)
{
	struct hub_cluster *c = hub_cluster_find(ctl->h, name);

	return c && c->accepted && !strcmp(c->available, "True");
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether a ManagedCluster change can move placement: labels, acceptance,
 * existence or deletion (availability alone cannot). */
static bool cluster_placement_moved(const json_t *old_obj, const json_t *new_obj)
{
	json_t *ol, *nl;

	if (!old_obj || !new_obj)
		return true;
	ol = kobj_labels(old_obj);
	nl = kobj_labels(new_obj);
	if ((ol && !nl && json_object_size(ol)) || (!ol && nl && json_object_size(nl)) || (ol && nl && !json_equal(ol, nl)))
		return true;
	if (json_is_true(kobj_get_path(old_obj, "spec.hubAcceptsClient")) !=
	    json_is_true(kobj_get_path(new_obj, "spec.hubAcceptsClient")))
		return true;
	return !str_eq(json_string_value(kobj_get_path(old_obj, "metadata.deletionTimestamp")),
		       json_string_value(kobj_get_path(new_obj, "metadata.deletionTimestamp")));
}

/* Whether a ManagedCluster change can move placement or deletion. */
static bool cluster_moved(const json_t *old_obj, const json_t *new_obj)
{
	if (cluster_placement_moved(old_obj, new_obj))
		return true;
	return !str_eq(kobj_condition_status(old_obj, HUB_COND_AVAILABLE), kobj_condition_status(new_obj, HUB_COND_AVAILABLE));
}

/* Whether a topology of run (or of the other revisions its deploy steps
 * name, loaded in run->next) selects one of the versions of the cluster in
 * versions (an array of ManagedClusters, the one before and the one after a
 * change), by label or by name, or deploys there through an
 * apply-component step or a deploy step without a topology (the local
 * cluster); a nave-rollout policy counts as a match (waves watch every
 * cluster's availability). A selector that does not parse counts as a match:
 * the reconcile reports it. */
static bool run_selects(const struct app_run *run, const char *name, const json_t *versions)
{
	for (; run; run = run->next) {
		const struct app_spec *spec = run->spec;

		for (size_t i = 0; i < spec->npolicies; i++) {
			const struct app_topology *t = &spec->policies[i].topology;
			json_t *names = NULL;
			struct errbuf err;
			bool hit;

			if (spec->policies[i].kind != APP_POLICY_TOPOLOGY)
				continue;
			for (size_t k = 0; k < t->nclusters; k++)
				if (!strcmp(t->clusters[k], name))
					return true;
			if (app_topology_select(t, versions, &err, &names) < 0)
				return true;
			hit = json_array_size(names) > 0;
			json_decref(names);
			if (hit)
				return true;
		}
		for (size_t i = 0; i < spec->nsteps; i++) {
			const struct app_step *s = &spec->steps[i];
			bool tops = false;

			if (s->kind == APP_STEP_APPLY_COMPONENT &&
			    !strcmp(s->cluster ? s->cluster : APP_LOCAL_CLUSTER, name))
				return true;
			if (s->kind != APP_STEP_DEPLOY)
				continue;
			if (app_rollout_policy(spec, s) >= 0)
				return true;
			for (size_t k = 0; k < s->npolicies; k++)
				tops |= spec->policies[s->policies[k]].kind == APP_POLICY_TOPOLOGY;
			/* a deploy step without a topology deploys to the local cluster */
			if (!tops && !strcmp(name, APP_LOCAL_CLUSTER))
				return true;
		}
	}
	return false;
}

/* Whether run (or the other revisions it loaded) has a nave-rollout policy. */
static bool run_has_wave(const struct app_run *run)
{
	for (; run; run = run->next)
		for (size_t i = 0; i < run->spec->nsteps; i++)
			if (run->spec->steps[i].kind == APP_STEP_DEPLOY &&
			    app_rollout_policy(run->spec, &run->spec->steps[i]) >= 0)
				return true;
	return false;
}

/* Whether a change of cluster name (versions: its objects before and after)
 * can change what application st does: see the top of this file. With
 * placement false (availability alone changed) no topology can select
 * differently: only the applications with a work there (deletion releases
 * works of unavailable clusters) and waves care. */
static bool cluster_affects(struct app_state *st, const char *name, const json_t *versions, bool placement)
{
	if (!st->exists || !st->run)
		return true;
	if (json_object_get(st->works, name))
		return true;
	if (!placement)
		return run_has_wave(st->run);
	return run_selects(st->run, name, versions);
}

/* Queue the applications a change of cluster name can affect. */
static void mark_cluster(struct app_ctl *ctl, const char *name, const json_t *old_obj, const json_t *new_obj)
{
	bool placement = cluster_placement_moved(old_obj, new_obj);
	json_t *versions = json_array();

	if (old_obj)
		json_array_append(versions, (json_t *)old_obj);
	if (new_obj)
		json_array_append(versions, (json_t *)new_obj);
	for (size_t i = 0; i < ctl->cap; i++)
		for (struct app_state *st = ctl->tab[i]; st; st = st->hnext)
			if (!st->dirty && cluster_affects(st, name, versions, placement))
				app_mark_dirty(ctl, st);
	json_decref(versions);
}

/* Delete every ManifestWork in the namespace of a deleted cluster. */
static void cluster_gone(struct app_ctl *ctl, const char *cluster)
{
	json_t *items = NULL, *w;
	struct errbuf err;
	size_t i;

	if (kapi_list(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cluster, NULL, NULL, &err, &items) < 0)
		return;
	json_array_foreach(items, i, w) {
		if (kobj_get_path(w, "metadata.deletionTimestamp"))
			continue;
		if (kapi_delete(ctl->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, cluster, kobj_name(w), NULL, &err, NULL) < 0)
			log_warn("cluster %s deleted: cannot delete its work %s: %s", cluster, kobj_name(w), err.msg);
	}
	if (json_array_size(items))
		log_info("cluster %s deleted: deleting its %zu works", cluster, json_array_size(items));
	json_decref(items);
}

/* Definitions ------------------------------------------------------------------ */

static void def_change(struct app_ctl *ctl, enum appdef_kind kind, const json_t *old_obj, const json_t *new_obj)
{
	const json_t *o = new_obj ? new_obj : old_obj;
	const char *ns = kobj_namespace(o), *name = kobj_name(o);
	struct appdef *d = NULL;
	struct errbuf err;

	if (!ns || !name)
		return;
	if (new_obj && !kobj_get_path(new_obj, "metadata.deletionTimestamp")) {
		if (appdef_parse(new_obj, &err, &d) == 0) {
			if (appdef_registry_put(ctl->defs, ns, d) < 0)
				log_warn("definition %s/%s: the registry is full (%d)", ns, name, APPDEF_REGISTRY_MAX);
		} else {
			log_warn("definition %s/%s does not parse any more: %s", ns, name, err.msg);
			appdef_registry_remove(ctl->defs, kind, ns, name);
		}
	} else {
		appdef_registry_remove(ctl->defs, kind, ns, name);
	}
	ctl->defs_epoch++;
	mark_all(ctl, ns);
}

static int load_def(void *data, const json_t *obj)
{
	struct app_ctl *ctl = data;
	struct appdef *d = NULL;
	struct errbuf err;

	if (appdef_parse(obj, &err, &d) < 0) {
		log_warn("definition %s/%s does not parse: %s", kobj_namespace(obj), kobj_name(obj), err.msg);
		return 0;
	}
	if (appdef_registry_put(ctl->defs, kobj_namespace(obj), d) < 0)
		log_warn("definition %s/%s: the registry is full", kobj_namespace(obj), kobj_name(obj));
	return 0;
}

/* Changes ------------------------------------------------------------------------ */

static bool app_relevant(const json_t *old_obj, const json_t *new_obj)
{
	static const char *const paths[] = {"metadata.generation", "metadata.deletionTimestamp",
					    "metadata.annotations", "metadata.finalizers", "metadata.labels", NULL};

	if (!old_obj || !new_obj)
		return true;
	for (const char *const *p = paths; *p; p++) {
		json_t *a = kobj_get_path(old_obj, *p), *b = kobj_get_path(new_obj, *p);

		if ((a == NULL) != (b == NULL) || (a && !json_equal(a, b)))
			return true;
	}
	return false;
}

static void work_change(struct app_ctl *ctl, const json_t *old_obj, const json_t *new_obj)
{
	const json_t *o = new_obj ? new_obj : old_obj;
	const char *an = kobj_label(o, APP_LABEL_NAME), *ans = kobj_label(o, APP_LABEL_NAMESPACE);
	const char *cluster = kobj_namespace(o);
	struct app_state *st;

	if (old_obj && new_obj) {
		const char *on = kobj_label(old_obj, APP_LABEL_NAME), *ons = kobj_label(old_obj, APP_LABEL_NAMESPACE);

		/* labels taken off: the old owner loses it */
		if (on && ons && (!str_eq(on, an) || !str_eq(ons, ans)) && (st = app_state_find(ctl, ons, on))) {
			json_object_del(st->works, cluster);
			app_mark_dirty(ctl, st);
		}
	}
	if (!an || !ans || !cluster)
		return;
	st = app_state_get(ctl, ans, an);
	if (new_obj)
		json_object_set(st->works, cluster, (json_t *)new_obj);
	else
		json_object_del(st->works, cluster);
	app_mark_dirty(ctl, st);
}

static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	struct app_ctl *ctl = data;
	const json_t *o = new_obj ? new_obj : old_obj;

	if (ctl->stopping)
		return;
	if (!strcmp(def->group, APP_GROUP)) {
		if (!strcmp(def->resource, APP_RES_APPS)) {
			const char *ns = kobj_namespace(o), *name = kobj_name(o);

			if (ns && name && (type != KAPI_EVENT_MODIFIED || app_relevant(old_obj, new_obj)))
				app_mark_dirty(ctl, app_state_get(ctl, ns, name));
		} else if (!strcmp(def->resource, APP_RES_COMPDEFS)) {
			def_change(ctl, APPDEF_COMPONENT, old_obj, new_obj);
		} else if (!strcmp(def->resource, APP_RES_TRAITDEFS)) {
			def_change(ctl, APPDEF_TRAIT, old_obj, new_obj);
		}
		return;
	}
	if (!strcmp(def->group, HUB_GROUP_WORK) && !strcmp(def->resource, HUB_RES_WORKS)) {
		work_change(ctl, type == KAPI_EVENT_ADDED ? NULL : old_obj,
			    type == KAPI_EVENT_DELETED ? NULL : new_obj);
		return;
	}
	if (!strcmp(def->group, HUB_GROUP_CLUSTER) && !strcmp(def->resource, HUB_RES_CLUSTERS)) {
		const char *name = kobj_name(o);

		/* the list serves placement (labels, acceptance, deletion): a
		 * change of status alone leaves it as it is */
		if (type != KAPI_EVENT_MODIFIED || cluster_placement_moved(old_obj, new_obj))
			ctl->clusters_stale = true;
		if (!name)
			return;
		if (type == KAPI_EVENT_DELETED)
			cluster_gone(ctl, name);
		if (type != KAPI_EVENT_MODIFIED || cluster_moved(old_obj, new_obj))
			mark_cluster(ctl, name, type == KAPI_EVENT_ADDED ? NULL : old_obj,
				     type == KAPI_EVENT_DELETED ? NULL : new_obj);
	}
}

/* Start and stop ------------------------------------------------------------------- */

static int load_work(void *data, const json_t *obj)
{
	work_change(data, NULL, obj);
	return 0;
}

static int load_app(void *data, const json_t *obj)
{
	struct app_ctl *ctl = data;

	app_mark_dirty(ctl, app_state_get(ctl, kobj_namespace(obj), kobj_name(obj)));
	return 0;
}

/* See app_int.h. */
const struct appdef_registry *app_ctl_defs(struct hub *h)
{
	return h->apps ? h->apps->defs : NULL;
}

/* See app.h. */
int app_controller_start(struct hub *h)
{
	struct app_ctl *ctl = xnew(struct app_ctl);
	struct errbuf err = {""};
	int r;

	ctl->h = h;
	ctl->kapi = h->kapi;
	ctl->loop = h->loop;
	ctl->keep = h->cfg.app_revisions > 0 ? h->cfg.app_revisions : APP_REVISIONS_KEEP;
	ctl->clusters_stale = true;
	ctl->empty = json_object();
	tab_grow(ctl);
	uv_timer_init(h->loop, &ctl->kick);
	uv_timer_init(h->loop, &ctl->wake);
	ctl->kick.data = ctl->wake.data = ctl;
	ctl->handles_open = 2;
	h->apps = ctl;
	if ((r = appdef_registry_new(&ctl->defs)) < 0 || (r = appdef_registry_load_builtins(ctl->defs, &err)) < 0) {
		log_error("applications: cannot load the built-in definitions: %s", err.msg[0] ? err.msg : strerror(-r));
		goto fail;
	}
	kapi_foreach(h->kapi, APP_GROUP, APP_RES_COMPDEFS, NULL, load_def, ctl);
	kapi_foreach(h->kapi, APP_GROUP, APP_RES_TRAITDEFS, NULL, load_def, ctl);
	kapi_foreach(h->kapi, HUB_GROUP_WORK, HUB_RES_WORKS, NULL, load_work, ctl);
	/* works queued their applications; queue every application too */
	kapi_foreach(h->kapi, APP_GROUP, APP_RES_APPS, NULL, load_app, ctl);
	if ((r = kapi_server_subscribe(h->kapi, on_change, ctl, &ctl->sub)) < 0)
		goto fail;
	log_info("applications: %zu applications or work sets queued", ctl->n);
	return 0;
fail:
	app_controller_stop(h);
	return r;
}

static void on_closed(uv_handle_t *hd)
{
	struct app_ctl *ctl = hd->data;

	if (--ctl->handles_open == 0)
		free(ctl);
}

/* See app.h. */
void app_controller_stop(struct hub *h)
{
	struct app_ctl *ctl = h ? h->apps : NULL;

	if (!ctl)
		return;
	ctl->stopping = true;
	h->apps = NULL;
	if (ctl->sub && h->kapi)
		kapi_server_unsubscribe(h->kapi, ctl->sub);
	ctl->sub = NULL;
	for (size_t i = 0; i < ctl->cap; i++) {
		struct app_state *st, *n;

		for (st = ctl->tab[i]; st; st = n) {
			n = st->hnext;
			state_free(st);
		}
	}
	free(ctl->tab);
	ctl->tab = NULL;
	ctl->cap = ctl->n = 0;
	ctl->dirty_head = ctl->dirty_tail = NULL;
	json_decref(ctl->clusters);
	ctl->clusters = NULL;
	json_decref(ctl->cluster_index);
	ctl->cluster_index = NULL;
	json_decref(ctl->empty);
	ctl->empty = NULL;
	ctl->defs = appdef_registry_free(ctl->defs);
	uv_timer_stop(&ctl->kick);
	uv_timer_stop(&ctl->wake);
	uv_close((uv_handle_t *)&ctl->kick, on_closed);
	uv_close((uv_handle_t *)&ctl->wake, on_closed);
}
