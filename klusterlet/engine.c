/* engine.c - the work engine's public face: the work table, spec events,
 * resync answers, status reports and the engine's lifecycle.
 *
 * Everything runs on the kclient's loop. Engine API calls never call back:
 * work that a call starts is kicked through the work's timer (0 ms), so the
 * agent's callbacks always run from the loop. Status reports are debounced
 * per work (one apply round, one report) and deduplicated by status hash.
 * See engine_int.h for how a work moves.
 */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */
/* ---------------------------------------------------------------------- */

char *work_engine_amw_name(const char *hub_hash, const char *work_name, const char *resourceid,
			   char *out)
{
	const char *n = work_name && *work_name ? work_name : resourceid;

	if (!n)
		n = "";
	if (strlen(hub_hash) + 1 + strlen(n) > 253)
		n = resourceid ? resourceid : "";
	snprintf(out, 254, "%s-%s", hub_hash, n);
	return out;
}

void eng_count_error(struct work_engine *e)
{
	e->stats.errors++;
}

char *eng_err_text(const struct kclient_result *res)
{
	if (!res->err)
		return xasprintf("request failed (%d)", res->r);
	if (res->err->message[0])
		return xasprintf("%s: %s", kclient_reason_name(res->err->reason), res->err->message);
	return xasprintf("%s (HTTP %ld)", kclient_reason_name(res->err->reason), res->err->code);
}

static bool valid_hex64(const char *s)
{
	size_t i;

	if (!s || strlen(s) != WORK_ENGINE_HUB_HASH_LEN)
		return false;
	for (i = 0; i < WORK_ENGINE_HUB_HASH_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* works                                                                   */
/* ---------------------------------------------------------------------- */

struct work *eng_work_find(struct work_engine *e, const char *id)
{
	struct work *w;

	for (w = e->works; w; w = w->next) {
		if (!strcmp(w->id, id))
			return w;
	}
	return NULL;
}

static void work_debounce_fire(uv_timer_t *t);

struct work *eng_work_new(struct work_engine *e, const char *id, const char *name)
{
	struct work *w = xnew(struct work);

	w->e = e;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->name = xstrdup(name && *name ? name : id);
	work_engine_amw_name(e->hub_hash, w->name, w->id, w->amw_name);
	w->transitions = json_object();
	w->applied = json_array();
	backoff_init(&w->backoff, ENG_RETRY_BASE_MS, ENG_RETRY_MAX_MS, 0.2);
	uv_timer_init(e->loop, &w->timer);
	uv_timer_init(e->loop, &w->debounce);
	w->timer.data = w;
	w->debounce.data = w;
	w->next = e->works;
	e->works = w;
	e->nworks++;
	return w;
}

/* The work's memory goes with its last handle, so a work freed from inside
 * one of its own callbacks (the agent may stop the engine from status_cb)
 * stays readable until the callback has returned. */
static void work_closed(uv_handle_t *h)
{
	struct work *w = h->data;

	if (--w->closing)
		return;
	rollout_work_free(w);
	apply_free_manifests(w);
	json_decref(w->bundle);
	json_decref(w->pending_bundle);
	json_decref(w->delete_option);
	json_decref(w->amw);
	json_decref(w->applied);
	json_decref(w->targets);
	json_decref(w->kept);
	json_decref(w->status);
	json_decref(w->transitions);
	free(w->amw_uid);
	free(w->name);
	free(w);
}

void eng_work_free(struct work *w)
{
	struct work_engine *e;
	struct work **pp;

	if (!w || w->closing)
		return;
	e = w->e;
	for (pp = &e->works; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			e->nworks--;
			break;
		}
	}
	w->next = NULL;
	rollout_work_stop(w);
	kclient_cancel(w->call);
	w->call = NULL;
	kdiscovery_cancel(w->wait);
	w->wait = NULL;
	w->closing = 2;
	uv_close((uv_handle_t *)&w->timer, work_closed);
	uv_close((uv_handle_t *)&w->debounce, work_closed);
}

void eng_work_timer(struct work *w, uint64_t ms, uv_timer_cb fn)
{
	uv_timer_stop(&w->timer);
	uv_timer_start(&w->timer, fn, ms, 0);
}

void eng_work_set_bundle(struct work *w, json_t *bundle, int64_t generation)
{
	json_t *del;

	apply_free_manifests(w);
	json_decref(w->bundle);
	w->bundle = bundle;
	w->generation = generation;
	del = json_object_get(bundle, "deleteOption");
	json_decref(w->delete_option);
	w->delete_option = json_is_object(del) ? json_deep_copy(del) : NULL;
	apply_build_manifests(w);
	rollout_bundle_changed(w);
	backoff_reset(&w->backoff);
}

/* ---------------------------------------------------------------------- */
/* status reports                                                          */
/* ---------------------------------------------------------------------- */

static void report(struct work *w, bool deleted, int64_t generation)
{
	struct work_engine *e = w->e;
	struct work_status_report rep = {
		.resourceid = w->id,
		.work_name = w->name,
		.generation = generation,
		.status = w->status,
		.statushash = w->hash,
		.deleted = deleted,
		.deletion_us = deleted ? time_now_us() : 0,
		.resync = w->resync_pending,
	};

	w->resync_pending = false;
	memcpy(w->reported_hash, w->hash, sizeof(w->hash));
	e->stats.reports++;
	log_debug("work %s (%s): status report gen %lld hash %.12s%s", w->name, w->id,
		  (long long)generation, w->hash, deleted ? " (deleted)" : "");
	e->status_cb(e->status_ud, &rep);
}

static void work_debounce_fire(uv_timer_t *t)
{
	struct work *w = t->data;

	if (!w->status || w->foreign)
		return;
	if (w->resync_pending || strcmp(w->hash, w->reported_hash) != 0)
		report(w, false, w->generation);
}

void eng_status_changed(struct work *w)
{
	if (!w->status || w->foreign)
		return;
	if (!strcmp(w->hash, w->reported_hash) && !w->resync_pending)
		return;
	if (!uv_is_active((uv_handle_t *)&w->debounce))
		uv_timer_start(&w->debounce, work_debounce_fire, w->e->debounce_ms, 0);
}

void eng_report_deleted(struct work *w, int64_t generation)
{
	json_t *conds;

	if (w->foreign)
		return;
	conds = json_array();
	json_array_append_new(conds, proto_condition("Deleted", "True", "ManifestWorkDeleted",
						     "the work's resources are deleted or orphaned on the spoke",
						     generation, time_now_us()));
	json_decref(w->status);
	w->status = proto_bundle_status(conds, NULL);
	proto_status_hash(w->status, w->hash);
	uv_timer_stop(&w->debounce);
	w->resync_pending = false;
	report(w, true, generation);
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */
/* ---------------------------------------------------------------------- */

void eng_plan_recheck(struct work *w, bool status_changed)
{
	uint64_t max = w->e->recheck_ms, fast = ENG_FAST_RECHECK_MS < max ? ENG_FAST_RECHECK_MS : max;

	if (!w->progressing)
		w->recheck_after_ms = 0;
	else if (status_changed || !w->recheck_after_ms)
		w->recheck_after_ms = fast;
	else
		w->recheck_after_ms = w->recheck_after_ms * 2 < max ? w->recheck_after_ms * 2 : max;
}

/* Every tick: evictions whose grace has passed, then re-check (drift,
 * feedback) the works whose last round is older than their re-check delay
 * (the recheck period, shorter while a workload rolls out), at most
 * ENG_MAX_RECHECKS at a time, so re-checks never crowd out new generations in
 * the client's rate limiter. */
static void recheck_fire(uv_timer_t *t)
{
	struct work_engine *e = t->data;
	int64_t now = time_mono_us();
	unsigned running = 0;
	struct work *w;

	/* evictions first: a round started here would make them wait */
	gc_evict_check(e);
	rollout_tick(e);
	for (w = e->works; w; w = w->next) {
		if (w->rechecking)
			running++;
	}
	for (w = e->works; w && running < ENG_MAX_RECHECKS; w = w->next) {
		if (w->phase != WORK_IDLE || !w->bundle || w->foreign || w->retry_armed)
			continue;
		if (now - w->last_round_us <
		    (int64_t)(w->recheck_after_ms ? w->recheck_after_ms : e->recheck_ms) * 1000)
			continue;
		w->rechecking = true;
		running++;
		apply_reconcile(w);
	}
}

int work_engine_new(struct kclient *kc, const struct work_engine_config *cfg,
		    work_engine_status_fn status_cb, void *userdata, struct errbuf *err,
		    struct work_engine **ret_engine)
{
	struct work_engine *e;
	int r;

	if (!kc || !cfg)
		return errbuf_set(err, -EINVAL, "kclient and config are required");
	if (!status_cb)
		return errbuf_set(err, -EINVAL, "status callback is required");
	if (!cfg->cluster_name || !kobj_valid_label_name(cfg->cluster_name))
		return errbuf_set(err, -EINVAL, "cluster_name: must be a DNS-1123 label");
	if (!valid_hex64(cfg->hub_hash))
		return errbuf_set(err, -EINVAL, "hub_hash: must be 64 lowercase hex digits");
	if (!cfg->agent_id || !*cfg->agent_id || strlen(cfg->agent_id) > 253)
		return errbuf_set(err, -EINVAL, "agent_id: 1..253 bytes required");
	if (cfg->field_manager && (!*cfg->field_manager || strlen(cfg->field_manager) > 128))
		return errbuf_set(err, -EINVAL, "field_manager: 1..128 bytes");

	e = xnew(struct work_engine);
	e->kc = kc;
	e->loop = kclient_loop(kc);
	r = kdiscovery_new(kc, NULL, &e->kd);
	if (r < 0) {
		free(e);
		return errbuf_set(err, r, "discovery: cannot start (%d)", r);
	}
	e->cluster_name = xstrdup(cfg->cluster_name);
	e->hub_hash = xstrdup(cfg->hub_hash);
	e->agent_id = xstrdup(cfg->agent_id);
	e->field_manager = xstrdup(cfg->field_manager ? cfg->field_manager : WORK_ENGINE_DEFAULT_FIELD_MANAGER);
	e->eviction_grace_ms = cfg->eviction_grace_ms ? cfg->eviction_grace_ms
						     : WORK_ENGINE_DEFAULT_EVICTION_GRACE_MS;
	e->recheck_ms = cfg->recheck_ms ? cfg->recheck_ms : WORK_ENGINE_DEFAULT_RECHECK_MS;
	e->debounce_ms = cfg->status_debounce_ms ? cfg->status_debounce_ms
						 : WORK_ENGINE_DEFAULT_STATUS_DEBOUNCE_MS;
	e->max_works = cfg->max_works ? cfg->max_works : WORK_ENGINE_DEFAULT_MAX_WORKS;
	e->no_crd_install = cfg->no_crd_install;
	e->status_cb = status_cb;
	e->status_ud = userdata;
	uv_timer_init(e->loop, &e->start_timer);
	uv_timer_init(e->loop, &e->recheck_timer);
	e->start_timer.data = e;
	e->recheck_timer.data = e;
	e->rollouts = rollout_mgr_new(e);
	backoff_init(&e->start_backoff, ENG_RETRY_BASE_MS, ENG_RETRY_MAX_MS, 0.2);
	*ret_engine = e;
	return 0;
}

void work_engine_stop(struct work_engine *e)
{
	if (!e)
		return;
	kclient_cancel(e->call);
	e->call = NULL;
	kclient_pager_cancel(e->pager);
	e->pager = NULL;
	if (!e->closing) {
		uv_timer_stop(&e->start_timer);
		uv_timer_stop(&e->recheck_timer);
	}
	rollout_mgr_stop(e);
	while (e->works)
		eng_work_free(e->works);
	e->started = false;
	e->ready = false;
}

static void engine_closed(uv_handle_t *h)
{
	struct work_engine *e = h->data;

	if (--e->close_pending == 0)
		free(e);
}

struct work_engine *work_engine_free(struct work_engine *e)
{
	if (!e)
		return NULL;
	work_engine_stop(e);
	e->closing = true;
	e->kd = kdiscovery_free(e->kd);
	e->rollouts = rollout_mgr_free(e->rollouts);
	free(e->cluster_name);
	free(e->hub_hash);
	free(e->agent_id);
	free(e->field_manager);
	/* the last handle closed frees the engine */
	e->close_pending = 2;
	uv_close((uv_handle_t *)&e->start_timer, engine_closed);
	uv_close((uv_handle_t *)&e->recheck_timer, engine_closed);
	return NULL;
}

int work_engine_start(struct work_engine *e, work_engine_ready_fn ready_cb, void *userdata)
{
	if (e->started)
		return -EALREADY;
	e->started = true;
	e->ready = false;
	e->ready_cb = ready_cb;
	e->ready_ud = userdata;
	backoff_reset(&e->start_backoff);
	uv_timer_start(&e->recheck_timer, recheck_fire, ENG_RECHECK_TICK_MS(e), ENG_RECHECK_TICK_MS(e));
	rollout_mgr_start(e);
	amw_start(e);
	return 0;
}

bool work_engine_ready(const struct work_engine *e)
{
	return e && e->started && e->ready;
}

/* ---------------------------------------------------------------------- */
/* spec events                                                             */
/* ---------------------------------------------------------------------- */

static const char *event_work_name(const struct proto_event *ev)
{
	json_t *n = json_object_get(ev->metadata, "name");

	return json_is_string(n) ? json_string_value(n) : NULL;
}

static int handle_apply(struct work_engine *e, struct work *w, const struct proto_event *ev,
			struct errbuf *err)
{
	int64_t held;

	if (!json_is_object(ev->data))
		return errbuf_set(err, -EINVAL, "data: a ManifestBundle is required to apply work %s",
				  ev->resourceid);
	if (w && w->phase == WORK_DELETING)
		return errbuf_set(err, -EBUSY, "work %s is being deleted", ev->resourceid);
	if (w && !w->foreign) {
		held = w->pending_bundle ? w->pending_generation : w->generation;
		if (ev->resourceversion < held)
			return errbuf_set(err, -ESTALE, "work %s: generation %lld is older than %lld",
					  ev->resourceid, (long long)ev->resourceversion, (long long)held);
	}
	if (w && w->foreign) {
		/* an id of another hub's record: keep them apart */
		return errbuf_set(err, -EEXIST, "work %s: a record of another hub has this id", ev->resourceid);
	}
	if (!w) {
		if (e->nworks >= e->max_works)
			return errbuf_set(err, -E2BIG, "works: at most %zu", e->max_works);
		w = eng_work_new(e, ev->resourceid, event_work_name(ev));
	} else if (event_work_name(ev) && strcmp(event_work_name(ev), w->name) && !w->amw_known) {
		free(w->name);
		w->name = xstrdup(event_work_name(ev));
		work_engine_amw_name(e->hub_hash, w->name, w->id, w->amw_name);
	}
	if (w->eviction_start_us)
		log_info("work %s (%s): the hub has it again; eviction cancelled", w->name, w->id);
	w->eviction_start_us = 0;
	if (w->phase == WORK_ROUND) {
		json_decref(w->pending_bundle);
		w->pending_bundle = json_incref(ev->data);
		w->pending_generation = ev->resourceversion;
		w->dirty = true;
		return 0;
	}
	eng_work_set_bundle(w, json_incref(ev->data), ev->resourceversion);
	apply_reconcile(w);
	return 0;
}

int work_engine_handle_spec(struct work_engine *e, const struct proto_event *ev, struct errbuf *err)
{
	struct work *w;
	json_t *del;

	if (!e->started)
		return errbuf_set(err, -ESHUTDOWN, "the engine is stopped");
	if (!ev || (ev->kind != PROTO_EV_SPEC_CREATE && ev->kind != PROTO_EV_SPEC_UPDATE &&
		    ev->kind != PROTO_EV_SPEC_DELETE && ev->kind != PROTO_EV_SPEC_RESYNC_RESPONSE))
		return errbuf_set(err, -EINVAL, "not a spec event");
	if (!ev->resourceid || strlen(ev->resourceid) != PROTO_UUID_LEN)
		return errbuf_set(err, -EINVAL, "resourceid: required");
	if (!ev->has_resourceversion)
		return errbuf_set(err, -EINVAL, "resourceversion: required");
	w = eng_work_find(e, ev->resourceid);
	switch (proto_spec_action(ev)) {
	case PROTO_SPEC_APPLY:
		return handle_apply(e, w, ev, err);
	case PROTO_SPEC_DELETE:
		if (w && w->foreign)
			return errbuf_set(err, -EEXIST, "work %s: a record of another hub has this id",
					  ev->resourceid);
		if (!w) {
			/* maybe a record exists under the event's name; gc looks */
			if (e->nworks >= e->max_works)
				return errbuf_set(err, -E2BIG, "works: at most %zu", e->max_works);
			w = eng_work_new(e, ev->resourceid, event_work_name(ev));
		}
		del = json_object_get(ev->data, "deleteOption");
		if (json_is_object(del)) {
			json_decref(w->delete_option);
			w->delete_option = json_deep_copy(del);
		}
		if (ev->resourceversion > w->generation)
			w->generation = ev->resourceversion;
		if (w->phase == WORK_ROUND)
			w->delete_requested = true;
		else if (w->phase == WORK_IDLE)
			gc_delete_work(w);
		return 0;
	case PROTO_SPEC_EVICT:
		if (w && !w->foreign)
			gc_evict_start(w);
		return 0;
	}
	return errbuf_set(err, -EINVAL, "unknown spec action");
}

int work_engine_hub_forgot(struct work_engine *e, const char *resourceid)
{
	struct work *w = resourceid ? eng_work_find(e, resourceid) : NULL;

	if (!w || w->foreign)
		return -ENOENT;
	gc_evict_start(w);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* resync                                                                  */
/* ---------------------------------------------------------------------- */

int work_engine_resync_versions(struct work_engine *e, struct proto_resource_version **ret_v,
				size_t *ret_n)
{
	struct proto_resource_version *v = NULL;
	struct work *w;
	size_t n = 0;

	if (!e->started)
		return -ESHUTDOWN;
	if (e->nworks)
		v = xcalloc(e->nworks, sizeof(*v));
	for (w = e->works; w; w = w->next) {
		if (w->foreign)
			continue;
		snprintf(v[n].resourceid, sizeof(v[n].resourceid), "%s", w->id);
		v[n].version = w->pending_bundle ? w->pending_generation : w->bundle ? w->generation : 0;
		n++;
	}
	if (!n) {
		free(v);
		v = NULL;
	}
	*ret_v = v;
	*ret_n = n;
	return 0;
}

int work_engine_status_resync(struct work_engine *e, const struct proto_status_hash *h, size_t n)
{
	struct work *w;
	size_t i;

	if (!e->started)
		return -ESHUTDOWN;
	for (w = e->works; w; w = w->next) {
		const char *hub = NULL;

		if (w->foreign || !w->status || w->phase == WORK_DELETING)
			continue;
		for (i = 0; i < n; i++) {
			if (!strcmp(h[i].resourceid, w->id)) {
				hub = h[i].hash;
				break;
			}
		}
		if (hub && !strcmp(hub, w->hash))
			continue;
		w->resync_pending = true;
		uv_timer_stop(&w->debounce);
		uv_timer_start(&w->debounce, work_debounce_fire, 0, 0);
	}
	return 0;
}

int work_engine_get_status(struct work_engine *e, const char *resourceid, json_t **ret_status,
			   int64_t *ret_generation)
{
	struct work *w = eng_work_find(e, resourceid);

	if (!w || w->foreign)
		return -ENOENT;
	if (!w->status)
		return -EAGAIN;
	*ret_status = w->status;
	*ret_generation = w->generation;
	return 0;
}

void work_engine_get_stats(const struct work_engine *e, struct work_engine_stats *ret_stats)
{
	const struct work *w;

	*ret_stats = e->stats;
	ret_stats->works = 0;
	ret_stats->evicting = 0;
	ret_stats->in_flight = 0;
	for (w = e->works; w; w = w->next) {
		ret_stats->works++;
		if (w->eviction_start_us)
			ret_stats->evicting++;
		if (w->call || w->wait)
			ret_stats->in_flight++;
	}
}
