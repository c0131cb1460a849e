/* rollout.c - local batch rollouts executed by the work engine (rollout.h;
 * the format and the rules are docs/rollouts.md, "Inside a cluster").
 *
 * One struct rollout per Rollout manifest of a work (at most
 * ROLLOUT_MAX_PER_WORK), on the engine's loop, driven by the engine's
 * re-check tick. Each rollout has at most one Kubernetes call outstanding
 * (ro->call), so cancelling it is one kclient_cancel. A step:
 *   1. read the workloads it deals with (the target; for Deployments the
 *      sources too) into ro->live;
 *   2. a new rollout (no state, or the state of another rollout: a new
 *      revision superseding it) is verified and initialised from what was
 *      read, and its state written before anything is scaled;
 *   3. otherwise the workloads are made what the state says (replicas of the
 *      target and sources, the StatefulSet's partition, deletions), one write
 *      at a time, and only once they match does the state advance
 *      (readiness, deadline, pause, batchPartition gate). Every new state is
 *      written to the spoke BEFORE the writes it implies (write-ahead), and
 *      what the workloads should be is a function of the state alone, so a
 *      klusterlet killed anywhere resumes by reading the state again and
 *      redoing idempotent writes.
 * The state is a ConfigMap "nave-rollout-<hash>" in the Rollout's namespace
 * (labels and annotations in rollout.h), owned by the work's
 * AppliedManifestWork. The engine lists them when it starts and hands them
 * to their works once it is ready (mgr->adopted); until then no rollout
 * moves, no controlled workload is written and no workload is collected.
 *
 * The engine is told what the rollouts own through rollout_pin (replicas and
 * partitions it must not write, workloads it must leave alone after a
 * rollback) and rollout_protects (sources kept out of garbage collection).
 */
#include "rollout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "engine_int.h"
#include "kobj.h"
#include "log.h"
#include "rollout_plan.h"
#include "timefmt.h"

#define ROLLOUT_FIELD_MANAGER "nave-rollout"
#define ROLLOUT_RETRY_BASE_MS 1000
#define ROLLOUT_RETRY_MAX_MS 30000
#define ROLLOUT_WHY_MAX 600

struct rollout_mgr {
	struct work_engine *e;
	bool started;
	bool listed;                 /* the state ConfigMaps were listed */
	bool adopted;                /* ... and handed to their works (the engine is ready) */
	struct kclient_pager *pager;
	json_t *items;               /* owned or NULL: listed ConfigMaps waiting for adoption */
	struct backoff bo;
	int64_t retry_us;            /* monotonic: the next list attempt */
	json_t *doomed;              /* owned: [{namespace, name, uid}] states to delete */
	struct kclient_call *del_call;
};

struct rollout {
	struct rollout *next;
	struct work *w;                   /* borrowed: the work holding it */
	char ns[254], name[254];          /* the Rollout manifest's */
	char cm_name[64];                 /* its state ConfigMap */
	bool in_bundle;                   /* the work's bundle has it (else: restored from the state) */
	bool seen;                        /* bundle matching */
	char *invalid;                    /* owned or NULL: why the bundle's Rollout is refused (frozen) */
	char claimed[ROLLOUT_MAX_NAME + 1]; /* the target it names, even when invalid */
	enum rollout_kind claimed_kind;
	bool have_plan;                   /* plan, spec and identity are valid */
	struct rollout_plan plan;
	json_t *spec;                     /* owned or NULL: the Rollout's spec as given */
	char identity[ROLLOUT_IDENTITY_LEN + 1];
	int64_t manifest_replicas;        /* the target manifest's spec.replicas; -1 absent */
	bool has_state;                   /* st is the spoke's (or about to be written) */
	struct rollout_state st;
	bool st_dirty;                    /* st (or the spec) must be written before acting */
	bool restart;                     /* verify again (the plan changed after rolloutFailed) */
	char *cm_uid, *cm_rv;             /* owned or NULL: the ConfigMap as last written */
	int64_t cum[ROLLOUT_MAX_BATCHES]; /* cumulative target replicas after each batch */
	size_t ncum;
	/* the step in progress */
	struct kclient_call *call;
	int64_t next_us;                  /* monotonic: the next step (INT64_MAX: none) */
	struct backoff bo;
	json_t *reads;                    /* owned: names to read this step */
	size_t cursor;
	json_t *live;                     /* owned: name -> object (null: absent) */
	void (*after_persist)(struct rollout *ro);
	json_t *src_template;             /* owned or NULL: StatefulSet: the source revision's template
					   * (persisted, data.sourceTemplate) */
	json_t *rb_template;              /* owned or NULL: StatefulSet rollback: the template to restore */
	json_t *pods;                     /* owned or NULL: StatefulSet rollback: pods to delete */
	/* status */
	int64_t upgraded, upgraded_ready, source_replicas; /* -1: unknown */
	char why[ROLLOUT_WHY_MAX];
	char sig[65];                     /* hash of the last feedback values notified */
};

/* ---------------------------------------------------------------------- */
/* small helpers                                                           */
/* ---------------------------------------------------------------------- */

static int64_t jint(const json_t *o, const char *path, int64_t dflt)
{
	const json_t *v = kobj_get_path(o, path);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static bool live_present(const json_t *o)
{
	return json_is_object(o) && !kobj_get_path(o, "metadata.deletionTimestamp");
}

static json_t *live_get(struct rollout *ro, const char *name)
{
	json_t *o = json_object_get(ro->live, name);

	return json_is_object(o) ? o : NULL;
}

static const char *kind_resource(enum rollout_kind k)
{
	return k == ROLLOUT_STATEFULSET ? "statefulsets" : "deployments";
}

static void wl_ref(const struct rollout *ro, enum rollout_kind kind, const char *name, struct kref *ret)
{
	*ret = (struct kref){ .group = "apps", .version = "v1", .resource = kind_resource(kind),
			      .namespace = ro->ns, .name = name };
}

static void cm_ref(const struct rollout *ro, bool named, struct kref *ret)
{
	*ret = (struct kref){ .version = "v1", .resource = "configmaps", .namespace = ro->ns,
			      .name = named ? ro->cm_name : NULL };
}

static int64_t now_mono(void)
{
	return time_mono_us();
}

/* The kind the rollout runs on: its state's, else its plan's. */
static enum rollout_kind ro_kind(const struct rollout *ro)
{
	if (ro->have_plan)
		return ro->plan.kind;
	return ro->has_state ? ro->st.kind : ro->claimed_kind;
}

/* The state belongs to the plan in the bundle (same rollout, not a new one). */
static bool state_current(const struct rollout *ro)
{
	return ro->has_state && (!ro->have_plan || !strcmp(ro->st.identity, ro->identity));
}

static bool terminal(enum rollout_rolling r)
{
	return r == ROLLOUT_SUCCEED || r == ROLLOUT_ROLLBACK_SUCCEED || r == ROLLOUT_FAILED;
}

static void set_why(struct rollout *ro, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(struct rollout *ro, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ro->why, sizeof(ro->why), fmt, ap);
	va_end(ap);
}

static void set_message(struct rollout *ro, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_message(struct rollout *ro, const char *reason, const char *fmt, ...)
{
	va_list ap;

	snprintf(ro->st.reason, sizeof(ro->st.reason), "%s", reason ? reason : "");
	va_start(ap, fmt);
	vsnprintf(ro->st.message, sizeof(ro->st.message), fmt, ap);
	va_end(ap);
}

static void set_rolling(struct rollout *ro, enum rollout_rolling r)
{
	if (ro->st.rolling != r) {
		log_info("rollout %s/%s (work %s): %s -> %s", ro->ns, ro->name, ro->w->name,
			 rollout_rolling_name(ro->st.rolling), rollout_rolling_name(r));
		ro->st.transition_us = time_now_us();
	}
	ro->st.rolling = r;
	ro->st_dirty = true;
}

static void set_batch(struct rollout *ro, int64_t i, enum rollout_batch b)
{
	if (ro->st.current_batch != i || ro->st.batch != b)
		log_info("rollout %s/%s (work %s): batch %lld of %zu: %s", ro->ns, ro->name, ro->w->name,
			 (long long)i + 1, ro->ncum, rollout_batch_name(b));
	ro->st.current_batch = i;
	ro->st.batch = b;
	ro->st_dirty = true;
}

/* The status of the work may have changed: recompute it now when no round
 * runs (a round computes it at its end anyway). */
static void notify(struct work *w)
{
	if (w->phase != WORK_IDLE || !w->bundle || !w->status || w->foreign)
		return;
	feedback_compute(w);
	eng_status_changed(w);
}

/* ---------------------------------------------------------------------- */
/* life of a rollout                                                       */
/* ---------------------------------------------------------------------- */

static void cm_name_of(const struct work *w, const char *ns, const char *name, char *out)
{
	char *key = xasprintf("%s/%s/%s/%s", w->e->hub_hash, w->id, ns, name);
	char hex[SHA256_HEX_LEN + 1];

	sha256_hex(key, strlen(key), hex);
	free(key);
	snprintf(out, 64, "%s%.20s", ROLLOUT_STATE_PREFIX, hex);
}

static struct rollout *ro_new(struct work *w, const char *ns, const char *name)
{
	struct rollout *ro = xnew(struct rollout);

	ro->w = w;
	snprintf(ro->ns, sizeof(ro->ns), "%s", ns);
	snprintf(ro->name, sizeof(ro->name), "%s", name);
	cm_name_of(w, ns, name, ro->cm_name);
	ro->live = json_object();
	ro->manifest_replicas = -1;
	ro->upgraded = ro->upgraded_ready = ro->source_replicas = -1;
	backoff_init(&ro->bo, ROLLOUT_RETRY_BASE_MS, ROLLOUT_RETRY_MAX_MS, 0.2);
	ro->next = w->rollouts;
	w->rollouts = ro;
	return ro;
}

static void ro_free(struct rollout *ro)
{
	kclient_cancel(ro->call);
	free(ro->invalid);
	json_decref(ro->spec);
	free(ro->cm_uid);
	free(ro->cm_rv);
	json_decref(ro->reads);
	json_decref(ro->live);
	json_decref(ro->src_template);
	json_decref(ro->rb_template);
	json_decref(ro->pods);
	free(ro);
}

static struct rollout *ro_find(struct work *w, const char *ns, const char *name)
{
	struct rollout *ro;

	for (ro = w->rollouts; ro; ro = ro->next) {
		if (!strcmp(ro->ns, ns) && !strcmp(ro->name, name))
			return ro;
	}
	return NULL;
}

static void doom(struct rollout_mgr *m, const char *ns, const char *name, const char *uid)
{
	if (!m || !uid)
		return;
	json_array_append_new(m->doomed, json_pack("{s:s, s:s, s:s}", "namespace", ns, "name", name, "uid", uid));
}

/* Unlink and free ro; its state is deleted from the spoke. */
static void ro_end(struct rollout *ro, const char *why)
{
	struct rollout **pp;

	log_info("rollout %s/%s (work %s): ends (%s)", ro->ns, ro->name, ro->w->name, why);
	for (pp = &ro->w->rollouts; *pp; pp = &(*pp)->next) {
		if (*pp == ro) {
			*pp = ro->next;
			break;
		}
	}
	doom(ro->w->e->rollouts, ro->ns, ro->cm_name, ro->cm_uid);
	ro_free(ro);
}

/* ---------------------------------------------------------------------- */
/* batch arithmetic on the state                                           */
/* ---------------------------------------------------------------------- */

/* Resolve the batches for the state's target size (ro->cum). */
static int resolve_batches(struct rollout *ro, struct errbuf *err)
{
	const struct rollout_plan *p = &ro->plan;

	return rollout_plan_batches(p, ro->st.target_size, err, ro->cum, &ro->ncum);
}

static int64_t clamp_batch(const struct rollout *ro, int64_t i)
{
	if (i >= (int64_t)ro->ncum)
		i = (int64_t)ro->ncum - 1;
	return i;
}

/* Deployment: the target's replicas after batch i (i < 0: before the first). */
static int64_t dep_t(const struct rollout *ro, int64_t i)
{
	int64_t u;

	if (i < 0 || !ro->ncum)
		return ro->st.target_start;
	u = ro->cum[clamp_batch(ro, i)];
	return u > ro->st.target_start ? u : ro->st.target_start;
}

static int64_t src_total(const struct rollout *ro)
{
	int64_t t = 0;
	size_t k;

	for (k = 0; k < ro->st.nsources; k++)
		t += ro->st.sources[k].start;
	return t;
}

/* Deployment: the sources' replicas in total after batch i. */
static int64_t dep_s(const struct rollout *ro, int64_t i)
{
	int64_t s = src_total(ro) - (dep_t(ro, i) - ro->st.target_start);

	return s > 0 ? s : 0;
}

/* StatefulSet: the replicas updated after batch i. */
static int64_t sts_u(const struct rollout *ro, int64_t i)
{
	if (i < 0 || !ro->ncum)
		return 0;
	return ro->cum[clamp_batch(ro, i)];
}

struct dep_want {
	int64_t target;                 /* -1: no opinion */
	bool target_delete;
	int64_t src[ROLLOUT_MAX_SOURCES];  /* -1: no opinion */
	bool src_delete[ROLLOUT_MAX_SOURCES];
};

/* What the Deployments should be in the current state. */
static void dep_desired(const struct rollout *ro, struct dep_want *d)
{
	const struct rollout_state *st = &ro->st;
	int64_t i = st->current_batch, t = -1, s = -1, start[ROLLOUT_MAX_SOURCES];
	bool inc = ro->plan.strategy == ROLLOUT_INCREASE_FIRST;
	size_t k;

	d->target = -1;
	d->target_delete = false;
	for (k = 0; k < ROLLOUT_MAX_SOURCES; k++) {
		d->src[k] = -1;
		d->src_delete[k] = false;
	}
	switch (st->rolling) {
	case ROLLOUT_ROLLING:
		switch (st->batch) {
		case ROLLOUT_BATCH_INITIALIZING:
			t = dep_t(ro, i - 1);
			s = dep_s(ro, i - 1);
			break;
		case ROLLOUT_BATCH_IN_ROLLING:
			t = dep_t(ro, inc ? i : i - 1);
			s = dep_s(ro, inc ? i - 1 : i);
			break;
		case ROLLOUT_BATCH_VERIFYING:
			t = dep_t(ro, i);
			s = dep_s(ro, inc ? i - 1 : i);
			break;
		case ROLLOUT_BATCH_FINALIZING:
		case ROLLOUT_BATCH_READY:
			t = dep_t(ro, i);
			s = dep_s(ro, i);
			break;
		case ROLLOUT_BATCH_VERIFY_FAILED:
			return;
		}
		break;
	case ROLLOUT_FINALISING:
		d->target = st->target_size;
		for (k = 0; k < st->nsources; k++)
			d->src_delete[k] = true;
		return;
	case ROLLOUT_ROLLING_BACK:
		d->target_delete = true;
		for (k = 0; k < st->nsources; k++) {
			if (st->source[0] && !strcmp(st->sources[k].name, st->source))
				d->src[k] = st->source_size;
			else
				d->src_delete[k] = true;
		}
		return;
	default:
		return;
	}
	d->target = t;
	for (k = 0; k < st->nsources; k++)
		start[k] = st->sources[k].start;
	rollout_sources_split(src_total(ro) - s, start, st->nsources, d->src);
}

/* ---------------------------------------------------------------------- */
/* the manager: listing and adopting states, deleting ended ones           */
/* ---------------------------------------------------------------------- */

static void start_list(struct rollout_mgr *m);

struct rollout_mgr *rollout_mgr_new(struct work_engine *e)
{
	struct rollout_mgr *m = xnew(struct rollout_mgr);

	m->e = e;
	m->doomed = json_array();
	backoff_init(&m->bo, ROLLOUT_RETRY_BASE_MS, ROLLOUT_RETRY_MAX_MS, 0.2);
	return m;
}

void rollout_mgr_stop(struct work_engine *e)
{
	struct rollout_mgr *m = e->rollouts;

	if (!m)
		return;
	kclient_pager_cancel(m->pager);
	m->pager = NULL;
	kclient_cancel(m->del_call);
	m->del_call = NULL;
	json_decref(m->items);
	m->items = NULL;
	json_array_clear(m->doomed);
	m->started = m->listed = m->adopted = false;
}

struct rollout_mgr *rollout_mgr_free(struct rollout_mgr *m)
{
	if (!m)
		return NULL;
	kclient_pager_cancel(m->pager);
	kclient_cancel(m->del_call);
	json_decref(m->items);
	json_decref(m->doomed);
	free(m);
	return NULL;
}

void rollout_mgr_start(struct work_engine *e)
{
	struct rollout_mgr *m = e->rollouts;

	m->started = true;
	m->listed = m->adopted = false;
	m->retry_us = 0;
	backoff_reset(&m->bo);
	start_list(m); /* its callback comes from the loop, later */
}

static void listed(void *ud, const struct kclient_result *res)
{
	struct rollout_mgr *m = ud;
	json_t *items = json_array(), *it;
	size_t i;

	m->pager = NULL;
	if (res->r != 0) {
		uint64_t ms = backoff_next(&m->bo);
		char *msg = eng_err_text(res);

		eng_count_error(m->e);
		log_warn("rollouts: listing the state ConfigMaps: %s; retrying in %llu ms", msg,
			 (unsigned long long)ms);
		free(msg);
		json_decref(items);
		m->retry_us = now_mono() + (int64_t)ms * 1000;
		return;
	}
	json_array_foreach(json_object_get(res->body, "items"), i, it) {
		const char *hub = kobj_annotation(it, ROLLOUT_ANN_HUB_HASH);

		if (hub && !strcmp(hub, m->e->hub_hash))
			json_array_append(items, it);
	}
	json_decref(m->items);
	m->items = items;
	m->listed = true;
	log_info("rollouts: %zu rollout states found", json_array_size(items));
}

static void start_list(struct rollout_mgr *m)
{
	struct kref ref = { .version = "v1", .resource = "configmaps" };
	int r;

	r = kclient_list_all(m->e->kc, &ref,
			     &(struct kclient_list_opts){ .label_selector = ROLLOUT_STATE_LABEL "=" ROLLOUT_STATE_VERSION },
			     listed, m, &m->pager);
	if (r < 0)
		m->retry_us = now_mono() + (int64_t)backoff_next(&m->bo) * 1000;
}

/* Load a rollout's state from its ConfigMap; returns 0 or -EINVAL (logged). */
static int load_cm(struct rollout *ro, const json_t *cm, bool take_spec)
{
	const char *state_text = json_string_value(kobj_get_path(cm, "data." ROLLOUT_STATE_KEY));
	const char *spec_text = json_string_value(kobj_get_path(cm, "data.spec"));
	const char *tmpl_text = json_string_value(kobj_get_path(cm, "data.sourceTemplate"));
	json_t *sv = NULL, *spec = NULL, *tmpl = NULL;
	struct rollout_state st;
	struct errbuf err = { "" };
	int r = -EINVAL;

	if (!state_text || strlen(state_text) > ROLLOUT_MAX_STATE_BYTES || !spec_text ||
	    strlen(spec_text) > ROLLOUT_MAX_STATE_BYTES) {
		errbuf_set(&err, -EINVAL, "data.state and data.spec: required, at most %d bytes each",
			   ROLLOUT_MAX_STATE_BYTES);
		goto out;
	}
	sv = json_loads(state_text, 0, NULL);
	spec = json_loads(spec_text, 0, NULL);
	if (!sv || !spec) {
		errbuf_set(&err, -EINVAL, "data.state, data.spec: not JSON");
		goto out;
	}
	r = rollout_state_decode(sv, &err, &st);
	if (r < 0)
		goto out;
	if (tmpl_text) {
		r = -EINVAL;
		tmpl = strlen(tmpl_text) <= ROLLOUT_MAX_TEMPLATE_BYTES ? json_loads(tmpl_text, 0, NULL) : NULL;
		if (!json_is_object(tmpl)) {
			errbuf_set(&err, -EINVAL, "data.sourceTemplate: a JSON object of at most %u bytes",
				   ROLLOUT_MAX_TEMPLATE_BYTES);
			goto out;
		}
	}
	if (take_spec) {
		r = rollout_plan_parse(spec, &err, &ro->plan);
		if (r < 0)
			goto out;
		json_decref(ro->spec);
		ro->spec = json_incref(spec);
		ro->have_plan = true;
		snprintf(ro->identity, sizeof(ro->identity), "%s", st.identity);
		snprintf(ro->claimed, sizeof(ro->claimed), "%s", st.target);
		ro->claimed_kind = st.kind;
	}
	ro->st = st;
	ro->has_state = true;
	json_decref(ro->src_template);
	ro->src_template = json_incref(tmpl);
	free(ro->cm_uid);
	free(ro->cm_rv);
	ro->cm_uid = xstrdup(eng_or(kobj_uid(cm), ""));
	ro->cm_rv = xstrdup(eng_or(kobj_resource_version(cm), ""));
	r = 0;
out:
	if (r < 0)
		log_error("rollout %s/%s: state ConfigMap %s/%s is not usable: %s", ro->ns, ro->name,
			  eng_or(kobj_namespace(cm), ""), eng_or(kobj_name(cm), ""), err.msg);
	json_decref(sv);
	json_decref(spec);
	json_decref(tmpl);
	return r;
}

static void adopt(struct rollout_mgr *m)
{
	json_t *it;
	size_t i;
	struct work *w;

	json_array_foreach(m->items, i, it) {
		const char *id = kobj_annotation(it, ROLLOUT_ANN_WORK_ID);
		const char *name = kobj_annotation(it, ROLLOUT_ANN_ROLLOUT);
		const char *ns = kobj_namespace(it);
		struct rollout *ro;

		w = id ? eng_work_find(m->e, id) : NULL;
		if (!w || w->foreign || w->phase == WORK_DELETING || !name || !ns) {
			log_info("rollouts: state %s/%s belongs to no work held here; deleting it",
				 eng_or(ns, ""), eng_or(kobj_name(it), ""));
			doom(m, eng_or(ns, ""), eng_or(kobj_name(it), ""), kobj_uid(it));
			continue;
		}
		ro = ro_find(w, ns, name);
		if (ro) {
			if (!ro->has_state && load_cm(ro, it, false) == 0)
				log_info("rollout %s/%s (work %s): resumed from the spoke at %s, batch %lld", ns, name,
					 w->name, rollout_rolling_name(ro->st.rolling), (long long)ro->st.current_batch + 1);
			continue;
		}
		if (w->bundle) {
			log_info("rollouts: work %s no longer has Rollout %s/%s; its state is deleted", w->name, ns,
				 name);
			doom(m, ns, eng_or(kobj_name(it), ""), kobj_uid(it));
			continue;
		}
		if (strlen(name) > ROLLOUT_MAX_NAME || strlen(ns) > ROLLOUT_MAX_NAME)
			continue;
		ro = ro_new(w, ns, name);
		if (load_cm(ro, it, true) < 0) {
			/* unusable: forget it rather than act on a guess */
			free(ro->cm_uid);
			ro->cm_uid = xstrdup(eng_or(kobj_uid(it), ""));
			ro_end(ro, "unusable state");
			continue;
		}
		log_info("rollout %s/%s (work %s): resumed from the spoke at %s, batch %lld", ns, name,
			 w->name, rollout_rolling_name(ro->st.rolling), (long long)ro->st.current_batch + 1);
	}
	json_decref(m->items);
	m->items = NULL;
	m->adopted = true;
	/* rounds until now skipped the controlled workloads and collected no
	 * workload: go again (right after a start only the works the hub sent
	 * since have a bundle, so this is a handful of rounds) */
	for (w = m->e->works; w; w = w->next) {
		if (w->bundle && !w->foreign && w->phase != WORK_DELETING)
			apply_reconcile(w);
	}
}

static void doomed_done(void *ud, const struct kclient_result *res)
{
	struct rollout_mgr *m = ud;

	m->del_call = NULL;
	if (res->r == 0 || (res->err && (res->err->reason == KCLIENT_NOT_FOUND ||
					 res->err->reason == KCLIENT_CONFLICT))) {
		json_array_remove(m->doomed, 0);
		return;
	}
	eng_count_error(m->e);
	/* move it to the end: one bad entry does not block the others */
	json_array_append(m->doomed, json_array_get(m->doomed, 0));
	json_array_remove(m->doomed, 0);
}

static void doomed_next(struct rollout_mgr *m)
{
	json_t *d = json_array_get(m->doomed, 0);
	struct kref ref = { .version = "v1", .resource = "configmaps",
			    .namespace = json_string_value(json_object_get(d, "namespace")),
			    .name = json_string_value(json_object_get(d, "name")) };

	if (!d || m->del_call)
		return;
	if (kclient_delete(m->e->kc, &ref,
			   &(struct kclient_delete_opts){ .precondition_uid =
							   json_string_value(json_object_get(d, "uid")) },
			   doomed_done, m, &m->del_call) < 0)
		json_array_remove(m->doomed, 0);
}

/* ---------------------------------------------------------------------- */
/* persisting the state                                                    */
/* ---------------------------------------------------------------------- */

static void step_done(struct rollout *ro);
static int ro_values(struct rollout *ro, json_t **ret_values, const char **ret_why);
static void step_failed(struct rollout *ro, const char *what, const struct kclient_result *res);
static void persist(struct rollout *ro, void (*cont)(struct rollout *ro));

static json_t *cm_body(struct rollout *ro)
{
	json_t *st = rollout_state_encode(&ro->st);
	char *st_text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
	char *spec_text = json_dumps(ro->spec, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
			      "metadata", "name", ro->cm_name, "namespace", ro->ns, "data", ROLLOUT_STATE_KEY,
			      eng_or(st_text, "{}"), "spec", eng_or(spec_text, "{}"));

	kobj_set_label(o, ROLLOUT_STATE_LABEL, ROLLOUT_STATE_VERSION);
	kobj_set_annotation(o, ROLLOUT_ANN_WORK_ID, ro->w->id);
	kobj_set_annotation(o, ROLLOUT_ANN_HUB_HASH, ro->w->e->hub_hash);
	kobj_set_annotation(o, ROLLOUT_ANN_ROLLOUT, ro->name);
	if (ro->w->amw_uid && *ro->w->amw_uid)
		apply_add_owner(ro->w, o);
	if (ro->cm_rv)
		json_object_set_new(kobj_metadata(o, true), "resourceVersion", json_string(ro->cm_rv));
	if (ro->src_template) {
		char *t = json_dumps(ro->src_template, JSON_COMPACT | JSON_SORT_KEYS);

		if (t)
			json_object_set_new(json_object_get(o, "data"), "sourceTemplate", json_string(t));
		free(t);
	}
	free(st_text);
	free(spec_text);
	json_decref(st);
	return o;
}

static void cm_reread(void *ud, const struct kclient_result *res)
{
	struct rollout *ro = ud;

	ro->call = NULL;
	free(ro->cm_uid);
	free(ro->cm_rv);
	ro->cm_uid = ro->cm_rv = NULL;
	if (res->r == 0) {
		ro->cm_uid = xstrdup(eng_or(kobj_uid(res->body), ""));
		ro->cm_rv = xstrdup(eng_or(kobj_resource_version(res->body), ""));
	} else if (!res->err || res->err->reason != KCLIENT_NOT_FOUND) {
		step_failed(ro, "reading the state ConfigMap", res);
		return;
	}
	persist(ro, ro->after_persist);
}

static void persisted(void *ud, const struct kclient_result *res)
{
	struct rollout *ro = ud;
	void (*cont)(struct rollout *) = ro->after_persist;
	struct kref ref;

	ro->call = NULL;
	if (res->r == 0) {
		free(ro->cm_uid);
		free(ro->cm_rv);
		ro->cm_uid = xstrdup(eng_or(kobj_uid(res->body), ""));
		ro->cm_rv = xstrdup(eng_or(kobj_resource_version(res->body), ""));
		ro->st_dirty = false;
		ro->after_persist = NULL;
		cont(ro);
		return;
	}
	if (res->err && (res->err->reason == KCLIENT_CONFLICT || res->err->reason == KCLIENT_ALREADY_EXISTS ||
			 res->err->reason == KCLIENT_NOT_FOUND)) {
		/* ours is the truth (one leader writes): take the server's version and write again */
		cm_ref(ro, true, &ref);
		if (kclient_get(ro->w->e->kc, &ref, cm_reread, ro, &ro->call) == 0)
			return;
	}
	step_failed(ro, "writing the state ConfigMap", res);
}

/* Write the state (and the spec) to the spoke, then cont(ro). */
static void persist(struct rollout *ro, void (*cont)(struct rollout *ro))
{
	json_t *body = cm_body(ro);
	struct kref ref;
	int r;

	ro->after_persist = cont;
	if (ro->cm_uid) {
		cm_ref(ro, true, &ref);
		r = kclient_update(ro->w->e->kc, &ref, body, NULL, persisted, ro, &ro->call);
	} else {
		json_object_del(kobj_metadata(body, true), "resourceVersion");
		cm_ref(ro, false, &ref);
		r = kclient_create(ro->w->e->kc, &ref, body, NULL, persisted, ro, &ro->call);
	}
	json_decref(body);
	if (r < 0)
		step_failed(ro, "writing the state ConfigMap", NULL);
}

/* ---------------------------------------------------------------------- */
/* a step: read                                                            */
/* ---------------------------------------------------------------------- */

static void read_next(struct rollout *ro);
static void after_read(struct rollout *ro);
static void act(struct rollout *ro);

static void step_failed(struct rollout *ro, const char *what, const struct kclient_result *res)
{
	uint64_t ms = backoff_next(&ro->bo);
	char *msg = res ? eng_err_text(res) : xstrdup("the request could not be made");

	eng_count_error(ro->w->e);
	log_warn("rollout %s/%s (work %s): %s: %s; again in %llu ms", ro->ns, ro->name, ro->w->name, what, msg,
		 (unsigned long long)ms);
	free(msg);
	ro->next_us = now_mono() + (int64_t)ms * 1000;
}

static void on_read(void *ud, const struct kclient_result *res)
{
	struct rollout *ro = ud;
	const char *name = json_string_value(json_array_get(ro->reads, ro->cursor));

	ro->call = NULL;
	if (res->r == 0) {
		json_object_set(ro->live, name, res->body);
	} else if (res->err && res->err->reason == KCLIENT_NOT_FOUND) {
		json_object_set_new(ro->live, name, json_null());
	} else {
		step_failed(ro, "reading a workload", res);
		return;
	}
	ro->cursor++;
	read_next(ro);
}

static void read_next(struct rollout *ro)
{
	const char *name = json_string_value(json_array_get(ro->reads, ro->cursor));
	struct kref ref;

	if (!name) {
		after_read(ro);
		return;
	}
	wl_ref(ro, ro_kind(ro), name, &ref);
	if (kclient_get(ro->w->e->kc, &ref, on_read, ro, &ro->call) < 0)
		step_failed(ro, "reading a workload", NULL);
}

static void add_read(json_t *reads, const char *name)
{
	json_t *v;
	size_t i;

	if (!name || !*name)
		return;
	json_array_foreach(reads, i, v) {
		if (!strcmp(json_string_value(v), name))
			return;
	}
	json_array_append_new(reads, json_string(name));
}

static bool is_new(const struct rollout *ro)
{
	return ro->have_plan && (!ro->has_state || strcmp(ro->st.identity, ro->identity) || ro->restart);
}

static void step_begin(struct rollout *ro)
{
	size_t k;

	json_decref(ro->reads);
	ro->reads = json_array();
	json_object_clear(ro->live);
	ro->cursor = 0;
	add_read(ro->reads, is_new(ro) ? ro->plan.target : ro->st.target);
	if (ro_kind(ro) == ROLLOUT_DEPLOYMENT) {
		if (is_new(ro))
			add_read(ro->reads, ro->plan.source);
		if (ro->has_state) {
			add_read(ro->reads, ro->st.target);
			for (k = 0; k < ro->st.nsources; k++)
				add_read(ro->reads, ro->st.sources[k].name);
		}
	}
	read_next(ro);
}

/* ---------------------------------------------------------------------- */
/* a new rollout: verify and initialise                                    */
/* ---------------------------------------------------------------------- */

/* The target's manifest in the work's bundle, or NULL. */
static const json_t *target_manifest(const struct rollout *ro)
{
	size_t i;

	for (i = 0; i < ro->w->n; i++) {
		const json_t *o = ro->w->m[i].obj;

		if (!strcmp(eng_or(kobj_api_version(o), ""), "apps/v1") &&
		    !strcmp(eng_or(kobj_kind(o), ""), rollout_kind_name(ro->plan.kind)) &&
		    !strcmp(eng_or(kobj_name(o), ""), ro->plan.target) &&
		    !strcmp(eng_or(kobj_namespace(o), ""), ro->ns))
			return o;
	}
	return NULL;
}

static void initialised(struct rollout *ro)
{
	apply_reconcile(ro->w); /* the engine held the target until now */
	backoff_reset(&ro->bo);
	ro->next_us = 0; /* go on at the next tick */
	step_done(ro);
}

/* The verification failed: rolloutFailed, nothing scaled; the workloads it
 * names stay protected. */
static void verify_failed(struct rollout *ro, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void verify_failed(struct rollout *ro, const char *reason, const char *fmt, ...)
{
	va_list ap;

	snprintf(ro->st.reason, sizeof(ro->st.reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(ro->st.message, sizeof(ro->st.message), fmt, ap);
	va_end(ap);
	log_warn("rollout %s/%s (work %s): %s: %s", ro->ns, ro->name, ro->w->name, reason, ro->st.message);
	ro->st.transition_us = time_now_us();
	ro->st.rolling = ROLLOUT_FAILED;
	ro->st_dirty = true;
	persist(ro, initialised);
}

static void init_deployment(struct rollout *ro, const struct rollout_state *old, bool had_old)
{
	struct rollout_state *st = &ro->st;
	const json_t *target = live_get(ro, ro->plan.target), *src;
	struct errbuf err = { "" };
	size_t k;

	if (!target || !live_present(target)) {
		set_why(ro, "waiting for the target Deployment %s to be created", ro->plan.target);
		ro->next_us = now_mono() + ROLLOUT_STEP_MS * 1000;
		step_done(ro);
		return;
	}
	st->target_start = jint(target, "spec.replicas", 1);
	/* the sources: what an earlier rollout was draining, its target, and the declared source */
	st->nsources = 0;
	if (had_old) {
		for (k = 0; k < old->nsources && old->rolling != ROLLOUT_SUCCEED; k++) {
			src = live_get(ro, old->sources[k].name);
			if (strcmp(old->sources[k].name, ro->plan.target) && live_present(src) &&
			    st->nsources < ROLLOUT_MAX_SOURCES) {
				snprintf(st->sources[st->nsources].name, sizeof(st->sources[0].name), "%s",
					 old->sources[k].name);
				st->sources[st->nsources++].start = jint(src, "spec.replicas", 1);
			}
		}
		src = live_get(ro, old->target);
		if (old->kind == ROLLOUT_DEPLOYMENT && strcmp(old->target, ro->plan.target) && live_present(src)) {
			bool dup = false;

			for (k = 0; k < st->nsources; k++)
				dup = dup || !strcmp(st->sources[k].name, old->target);
			if (!dup && st->nsources < ROLLOUT_MAX_SOURCES) {
				snprintf(st->sources[st->nsources].name, sizeof(st->sources[0].name), "%s", old->target);
				st->sources[st->nsources++].start = jint(src, "spec.replicas", 1);
			}
		}
	}
	st->source_size = 0;
	if (ro->plan.source[0]) {
		bool dup = false;

		src = live_get(ro, ro->plan.source);
		if (!live_present(src)) {
			verify_failed(ro, "SourceNotFound", "spec.sourceRevisionName: Deployment %s/%s not found",
				      ro->ns, ro->plan.source);
			return;
		}
		for (k = 0; k < st->nsources; k++)
			dup = dup || !strcmp(st->sources[k].name, ro->plan.source);
		if (!dup) {
			if (st->nsources == ROLLOUT_MAX_SOURCES) {
				verify_failed(ro, "TooManySources", "more than %d workloads to drain at once",
					      ROLLOUT_MAX_SOURCES);
				return;
			}
			snprintf(st->sources[st->nsources].name, sizeof(st->sources[0].name), "%s", ro->plan.source);
			st->sources[st->nsources++].start = jint(src, "spec.replicas", 1);
		}
		if (had_old && !strcmp(old->target, ro->plan.source))
			st->source_size = old->target_size;
		else if (had_old && !strcmp(old->source, ro->plan.source))
			st->source_size = old->source_size;
		else
			st->source_size = jint(src, "spec.replicas", 1);
	}
	if (ro->plan.target_size > 0)
		st->target_size = ro->plan.target_size;
	else if (ro->manifest_replicas > 0)
		st->target_size = ro->manifest_replicas;
	else if (st->source_size > 0)
		st->target_size = st->source_size;
	else
		st->target_size = 1;
	if (resolve_batches(ro, &err) < 0) {
		verify_failed(ro, "InvalidPlan", "%s", err.msg);
		return;
	}
	set_rolling(ro, ROLLOUT_INITIALIZING);
	set_message(ro, NULL, "%s: %lld replicas in %zu batches; draining %zu workloads", ro->plan.target,
		    (long long)st->target_size, ro->ncum, st->nsources);
	persist(ro, initialised);
}

/* StatefulSet: the engine holds the StatefulSet (rollout_pin) until this
 * state is written, so what is live is still the source revision: its
 * template is recorded for a rollback before the new one is written. The
 * target revision is known once the engine has written the new template
 * (advance, INITIALIZING). */
static void init_statefulset(struct rollout *ro, const struct rollout_state *old, bool had_old)
{
	struct rollout_state *st = &ro->st;
	const json_t *sts = live_get(ro, ro->plan.target), *mf = target_manifest(ro);
	const char *type = json_string_value(kobj_get_path(mf, "spec.updateStrategy.type"));
	struct errbuf err = { "" };
	bool inherit;
	char *text;
	int64_t n;

	if (!sts || !live_present(sts) || !mf) {
		set_why(ro, "waiting for StatefulSet %s", ro->plan.target);
		ro->next_us = now_mono() + ROLLOUT_STEP_MS * 1000;
		step_done(ro);
		return;
	}
	if (type && strcmp(type, "RollingUpdate")) {
		verify_failed(ro, "InvalidPlan", "StatefulSet %s: updateStrategy.type %s: a rollout needs RollingUpdate",
			      ro->plan.target, type);
		return;
	}
	n = jint(mf, "spec.replicas", 1);
	if (ro->plan.target_size > 0 && ro->plan.target_size != n) {
		verify_failed(ro, "InvalidPlan", "spec.rolloutPlan.targetSize: %lld, but StatefulSet %s has %lld replicas",
			      (long long)ro->plan.target_size, ro->plan.target, (long long)n);
		return;
	}
	if (n < 1) {
		verify_failed(ro, "InvalidPlan", "StatefulSet %s has no replicas to roll", ro->plan.target);
		return;
	}
	st->target_size = n;
	st->target_start = 0;
	st->nsources = 0;
	st->source_size = n;
	/* superseding an unfinished rollout of the same StatefulSet: its source stays the source */
	inherit = had_old && old->kind == ROLLOUT_STATEFULSET && !strcmp(old->target, ro->plan.target) &&
		  old->rolling != ROLLOUT_SUCCEED && old->source_revision[0] && ro->src_template;
	if (inherit) {
		snprintf(st->source_revision, sizeof(st->source_revision), "%s", old->source_revision);
	} else {
		snprintf(st->source_revision, sizeof(st->source_revision), "%s",
			 eng_or(json_string_value(kobj_get_path(sts, "status.currentRevision")), ""));
		json_decref(ro->src_template);
		ro->src_template = json_deep_copy(kobj_get_path(sts, "spec.template"));
		text = json_dumps(ro->src_template, JSON_COMPACT);
		if (!text || strlen(text) > ROLLOUT_MAX_TEMPLATE_BYTES) {
			/* too big to keep: a rollback reads the ControllerRevision instead */
			json_decref(ro->src_template);
			ro->src_template = NULL;
		}
		free(text);
	}
	st->target_revision[0] = '\0';
	if (resolve_batches(ro, &err) < 0) {
		verify_failed(ro, "InvalidPlan", "%s", err.msg);
		return;
	}
	set_rolling(ro, ROLLOUT_INITIALIZING);
	set_message(ro, NULL, "StatefulSet %s: from revision %s, %lld replicas in %zu batches", ro->plan.target,
		    st->source_revision, (long long)n, ro->ncum);
	persist(ro, initialised);
}

static void init_new(struct rollout *ro)
{
	struct rollout_state old = ro->st;
	bool had_old = ro->has_state;

	if (had_old && strcmp(old.identity, ro->identity))
		log_info("rollout %s/%s (work %s): a new revision (%s) supersedes the rollout to %s (%s, batch %lld)",
			 ro->ns, ro->name, ro->w->name, ro->plan.target, old.target, rollout_rolling_name(old.rolling),
			 (long long)old.current_batch + 1);
	memset(&ro->st, 0, sizeof(ro->st));
	snprintf(ro->st.identity, sizeof(ro->st.identity), "%s", ro->identity);
	ro->st.kind = ro->plan.kind;
	snprintf(ro->st.target, sizeof(ro->st.target), "%s", ro->plan.target);
	snprintf(ro->st.source, sizeof(ro->st.source), "%s", ro->plan.source);
	ro->st.rolling = ROLLOUT_VERIFYING;
	ro->st.batch = ROLLOUT_BATCH_INITIALIZING;
	ro->has_state = true;
	ro->restart = false;
	ro->ncum = 0;
	json_decref(ro->rb_template);
	ro->rb_template = NULL;
	if (ro->plan.kind == ROLLOUT_STATEFULSET)
		init_statefulset(ro, &old, had_old);
	else
		init_deployment(ro, &old, had_old);
	if (ro->st.rolling == ROLLOUT_VERIFYING && !ro->call) {
		/* waiting for the target: keep the old state (nothing was written) */
		ro->st = old;
		ro->has_state = had_old;
	}
}

static void after_read(struct rollout *ro)
{
	if (is_new(ro)) {
		init_new(ro);
		return;
	}
	act(ro);
}

/* ---------------------------------------------------------------------- */
/* a step: make the workloads what the state says                          */
/* ---------------------------------------------------------------------- */

static void on_written(void *ud, const struct kclient_result *res)
{
	struct rollout *ro = ud;
	const char *name = json_string_value(json_array_get(ro->reads, ro->cursor));

	ro->call = NULL;
	if (res->r == 0 && json_is_object(res->body) && strcmp(eng_or(kobj_kind(res->body), "Status"), "Status")) {
		/* the object written (or, for a delete, the object still finalizing) */
		json_object_set(ro->live, eng_or(name, kobj_name(res->body)), res->body);
	} else if (res->r == 0 || (res->err && res->err->reason == KCLIENT_NOT_FOUND)) {
		json_object_set_new(ro->live, eng_or(name, ""), json_null());
	} else {
		step_failed(ro, "writing a workload", res);
		return;
	}
	act(ro);
}

/* Scale name (a Deployment) to n replicas. */
static int write_replicas(struct rollout *ro, const char *name, int64_t n)
{
	json_t *p = json_pack("{s:{s:I}}", "spec", "replicas", (json_int_t)n);
	struct kref ref;
	int r;

	log_info("rollout %s/%s: scaling Deployment %s to %lld", ro->ns, ro->name, name, (long long)n);
	wl_ref(ro, ROLLOUT_DEPLOYMENT, name, &ref);
	json_array_clear(ro->reads);
	json_array_append_new(ro->reads, json_string(name));
	ro->cursor = 0;
	r = kclient_patch(ro->w->e->kc, &ref, KCLIENT_PATCH_MERGE, p,
			  &(struct kclient_patch_opts){ .field_manager = ROLLOUT_FIELD_MANAGER }, on_written, ro,
			  &ro->call);
	json_decref(p);
	return r;
}

static int delete_workload(struct rollout *ro, enum rollout_kind kind, const char *name, const json_t *live)
{
	struct kref ref;

	log_info("rollout %s/%s: deleting %s %s", ro->ns, ro->name, rollout_kind_name(kind), name);
	wl_ref(ro, kind, name, &ref);
	json_array_clear(ro->reads);
	json_array_append_new(ro->reads, json_string(name));
	ro->cursor = 0;
	return kclient_delete(ro->w->e->kc, &ref,
			      &(struct kclient_delete_opts){ .propagation = KCLIENT_PROPAGATION_BACKGROUND,
							     .precondition_uid = kobj_uid(live) },
			      on_written, ro, &ro->call);
}

/* The first write the Deployments need, started; false when none is needed. */
static bool dep_next_write(struct rollout *ro)
{
	struct dep_want d;
	const json_t *o;
	size_t k;
	int r = 0;
	bool started = false;

	dep_desired(ro, &d);
	o = live_get(ro, ro->st.target);
	if (live_present(o)) {
		if (d.target_delete) {
			r = delete_workload(ro, ROLLOUT_DEPLOYMENT, ro->st.target, o);
			started = true;
		} else if (d.target >= 0 && jint(o, "spec.replicas", 1) != d.target) {
			r = write_replicas(ro, ro->st.target, d.target);
			started = true;
		}
	}
	for (k = 0; !started && k < ro->st.nsources; k++) {
		o = live_get(ro, ro->st.sources[k].name);
		if (!live_present(o))
			continue;
		if (d.src_delete[k]) {
			r = delete_workload(ro, ROLLOUT_DEPLOYMENT, ro->st.sources[k].name, o);
			started = true;
		} else if (d.src[k] >= 0 && jint(o, "spec.replicas", 1) != d.src[k]) {
			r = write_replicas(ro, ro->st.sources[k].name, d.src[k]);
			started = true;
		}
	}
	if (r < 0) {
		step_failed(ro, "writing a workload", NULL);
		return true;
	}
	return started;
}

static int64_t sts_partition(const json_t *sts)
{
	return jint(sts, "spec.updateStrategy.rollingUpdate.partition", 0);
}

static int write_partition(struct rollout *ro, int64_t part)
{
	json_t *p = json_pack("{s:{s:{s:s, s:{s:I}}}}", "spec", "updateStrategy", "type", "RollingUpdate",
			      "rollingUpdate", "partition", (json_int_t)part);
	struct kref ref;
	int r;

	log_info("rollout %s/%s: StatefulSet %s partition %lld", ro->ns, ro->name, ro->st.target, (long long)part);
	wl_ref(ro, ROLLOUT_STATEFULSET, ro->st.target, &ref);
	json_array_clear(ro->reads);
	json_array_append_new(ro->reads, json_string(ro->st.target));
	ro->cursor = 0;
	r = kclient_patch(ro->w->e->kc, &ref, KCLIENT_PATCH_MERGE, p,
			  &(struct kclient_patch_opts){ .field_manager = ROLLOUT_FIELD_MANAGER }, on_written, ro,
			  &ro->call);
	json_decref(p);
	return r;
}

/* --- StatefulSet rollback: the source template back, bad pods deleted --- */

static void rb_got_revision(void *ud, const struct kclient_result *res)
{
	struct rollout *ro = ud;
	json_t *t;

	ro->call = NULL;
	if (res->r != 0) {
		if (res->err && res->err->reason == KCLIENT_NOT_FOUND) {
			char msg[ROLLOUT_MAX_MESSAGE + 1];

			snprintf(msg, sizeof(msg), "%s", ro->st.message);
			set_message(ro, "RollbackFailed", "cannot roll back StatefulSet %s: controller revision %s not "
				    "found (%.300s)", ro->st.target, ro->st.source_revision, msg);
			set_rolling(ro, ROLLOUT_FAILED);
			persist(ro, step_done);
			return;
		}
		step_failed(ro, "reading the source's controller revision", res);
		return;
	}
	t = json_deep_copy(kobj_get_path(res->body, "data.spec.template"));
	if (!json_is_object(t)) {
		json_decref(t);
		set_message(ro, "RollbackFailed", "cannot roll back StatefulSet %s: controller revision %s holds no "
			    "template", ro->st.target, ro->st.source_revision);
		set_rolling(ro, ROLLOUT_FAILED);
		persist(ro, step_done);
		return;
	}
	json_object_del(t, "$patch");
	json_decref(ro->rb_template);
	ro->rb_template = t;
	act(ro);
}

static void rb_listed(void *ud, const struct kclient_result *res)
{
	struct rollout *ro = ud;
	const json_t *sts = live_get(ro, ro->st.target), *p;
	size_t i;

	ro->call = NULL;
	if (res->r != 0) {
		step_failed(ro, "listing the StatefulSet's pods", res);
		return;
	}
	json_decref(ro->pods);
	ro->pods = json_array();
	json_array_foreach(json_object_get(res->body, "items"), i, p) {
		const char *rev = kobj_label(p, "controller-revision-hash");

		if (rev && !strcmp(rev, ro->st.target_revision) && kobj_has_owner_ref(p, kobj_uid(sts)) &&
		    !kobj_get_path(p, "metadata.deletionTimestamp"))
			json_array_append(ro->pods, (json_t *)p);
	}
	act(ro);
}

static void rb_pod_deleted(void *ud, const struct kclient_result *res)
{
	struct rollout *ro = ud;

	ro->call = NULL;
	if (res->r != 0 && !(res->err && (res->err->reason == KCLIENT_NOT_FOUND ||
					   res->err->reason == KCLIENT_CONFLICT))) {
		step_failed(ro, "deleting a pod of the failed revision", res);
		return;
	}
	json_array_remove(ro->pods, 0);
	act(ro);
}

/* The next write of a StatefulSet rollback; false when it is done. */
static bool sts_rollback_next(struct rollout *ro)
{
	const json_t *sts = live_get(ro, ro->st.target);
	struct kref ref;
	json_t *o;
	int r;

	if (!live_present(sts))
		return false;
	if (!ro->rb_template && ro->src_template)
		ro->rb_template = json_incref(ro->src_template);
	if (!ro->rb_template) {
		ref = (struct kref){ .group = "apps", .version = "v1", .resource = "controllerrevisions",
				     .namespace = ro->ns, .name = ro->st.source_revision };
		r = kclient_get(ro->w->e->kc, &ref, rb_got_revision, ro, &ro->call);
		goto started;
	}
	if (!apply_json_subset(ro->rb_template, kobj_get_path(sts, "spec.template")) || sts_partition(sts) != 0) {
		log_info("rollout %s/%s: StatefulSet %s back to revision %s", ro->ns, ro->name, ro->st.target,
			 ro->st.source_revision);
		o = json_deep_copy(sts);
		json_object_del(json_object_get(o, "metadata"), "managedFields");
		json_object_set(json_object_get(o, "spec"), "template", ro->rb_template);
		json_object_set_new(json_object_get(o, "spec"), "updateStrategy",
				    json_pack("{s:s, s:{s:i}}", "type", "RollingUpdate", "rollingUpdate", "partition", 0));
		wl_ref(ro, ROLLOUT_STATEFULSET, ro->st.target, &ref);
		json_array_clear(ro->reads);
		json_array_append_new(ro->reads, json_string(ro->st.target));
		ro->cursor = 0;
		r = kclient_update(ro->w->e->kc, &ref, o,
				   &(struct kclient_write_opts){ .field_manager = ROLLOUT_FIELD_MANAGER }, on_written, ro,
				   &ro->call);
		json_decref(o);
		goto started;
	}
	if (!ro->pods) {
		char sel[320];

		ref = (struct kref){ .version = "v1", .resource = "pods", .namespace = ro->ns };
		snprintf(sel, sizeof(sel), "controller-revision-hash=%s", ro->st.target_revision);
		r = kclient_list(ro->w->e->kc, &ref,
				 &(struct kclient_list_opts){ .label_selector = strlen(ro->st.target_revision) <= 63
											? sel : NULL },
				 rb_listed, ro, &ro->call);
		goto started;
	}
	if (json_array_size(ro->pods)) {
		const json_t *p = json_array_get(ro->pods, 0);

		log_info("rollout %s/%s: deleting pod %s of the failed revision %s", ro->ns, ro->name, kobj_name(p),
			 ro->st.target_revision);
		ref = (struct kref){ .version = "v1", .resource = "pods", .namespace = ro->ns, .name = kobj_name(p) };
		r = kclient_delete(ro->w->e->kc, &ref,
				   &(struct kclient_delete_opts){ .precondition_uid = kobj_uid(p) }, rb_pod_deleted, ro,
				   &ro->call);
		goto started;
	}
	return false;
started:
	if (r < 0)
		step_failed(ro, "rolling back the StatefulSet", NULL);
	return true;
}

/* The first write the StatefulSet needs, started; false when none is needed. */
static bool sts_next_write(struct rollout *ro)
{
	const json_t *sts = live_get(ro, ro->st.target);
	int64_t n = jint(sts, "spec.replicas", 1), i = ro->st.current_batch, want = -1;

	if (!live_present(sts))
		return false;
	switch (ro->st.rolling) {
	case ROLLOUT_INITIALIZING:
		want = n;
		break;
	case ROLLOUT_ROLLING:
		if (ro->st.batch == ROLLOUT_BATCH_VERIFY_FAILED)
			return false;
		want = n - sts_u(ro, ro->st.batch == ROLLOUT_BATCH_INITIALIZING ? i - 1 : i);
		break;
	case ROLLOUT_FINALISING:
		want = 0;
		break;
	case ROLLOUT_ROLLING_BACK:
		return sts_rollback_next(ro);
	default:
		return false;
	}
	if (want < 0)
		want = 0;
	if (sts_partition(sts) == want)
		return false;
	if (write_partition(ro, want) < 0)
		step_failed(ro, "writing the partition", NULL);
	return true;
}

/* ---------------------------------------------------------------------- */
/* a step: advance the state                                               */
/* ---------------------------------------------------------------------- */

/* Ready counts of the current batch: *ret_need ready replicas are needed,
 * *ret_have are there. Returns whether the batch is ready. */
static bool batch_ready(struct rollout *ro, int64_t *ret_need, int64_t *ret_have, int64_t *ret_want)
{
	const json_t *o = live_get(ro, ro->st.target);
	int64_t i = ro->st.current_batch, want, need, have;
	bool observed = jint(o, "status.observedGeneration", 0) >= jint(o, "metadata.generation", 1);

	if (ro->st.kind == ROLLOUT_STATEFULSET) {
		int64_t n = jint(o, "spec.replicas", 1);

		want = sts_u(ro, i);
		need = n - rollout_plan_threshold(&ro->plan, want);
		have = jint(o, "status.readyReplicas", 0);
		*ret_need = need;
		*ret_have = have;
		*ret_want = want;
		return live_present(o) && observed && jint(o, "status.updatedReplicas", 0) >= want && have >= need;
	}
	want = dep_t(ro, i);
	need = want - rollout_plan_threshold(&ro->plan, want);
	have = jint(o, "status.readyReplicas", 0);
	*ret_need = need;
	*ret_have = have;
	*ret_want = want;
	return live_present(o) && observed && jint(o, "spec.replicas", 1) == want && have >= need;
}

/* The target Deployment gave up (its own progress deadline). */
static bool target_stalled(struct rollout *ro)
{
	const json_t *c;
	size_t k;

	if (ro->st.kind != ROLLOUT_DEPLOYMENT)
		return false;
	json_array_foreach(kobj_get_path(live_get(ro, ro->st.target), "status.conditions"), k, c) {
		if (!strcmp(eng_or(json_string_value(json_object_get(c, "type")), ""), "Progressing") &&
		    !strcmp(eng_or(json_string_value(json_object_get(c, "reason")), ""), "ProgressDeadlineExceeded"))
			return true;
	}
	return false;
}

static void fail_batch(struct rollout *ro, const char *reason, int64_t need, int64_t have, int64_t want)
{
	int64_t i = ro->st.current_batch;
	int64_t secs = (time_now_us() - ro->st.batch_start_us) / 1000000;

	set_batch(ro, i, ROLLOUT_BATCH_VERIFY_FAILED);
	if (ro->st.kind == ROLLOUT_STATEFULSET)
		set_message(ro, reason, "batch %lld of %zu: %lld of %lld replicas ready (%lld needed, %lld to update) "
			    "after %llds (progressDeadlineSeconds %lld); rolling StatefulSet %s back to %s",
			    (long long)i + 1, ro->ncum, (long long)have, (long long)jint(live_get(ro, ro->st.target),
											  "spec.replicas", 1),
			    (long long)need, (long long)want, (long long)secs, (long long)ro->plan.deadline_s,
			    ro->st.target, ro->st.source_revision);
	else
		set_message(ro, reason, "batch %lld of %zu: %lld of %lld target replicas ready (%lld needed) after "
			    "%llds (progressDeadlineSeconds %lld); rolling back to %s", (long long)i + 1, ro->ncum,
			    (long long)have, (long long)want, (long long)need, (long long)secs,
			    (long long)ro->plan.deadline_s, ro->st.source[0] ? ro->st.source : "no source");
	log_warn("rollout %s/%s (work %s): %s", ro->ns, ro->name, ro->w->name, ro->st.message);
	set_rolling(ro, ROLLOUT_ROLLING_BACK);
}

/* Whether batch k may begin; *ret_wait_us how long to wait when not (0: until told). */
static bool may_begin(struct rollout *ro, int64_t k, int64_t *ret_wait_us)
{
	int64_t now = time_now_us();

	*ret_wait_us = 0;
	if (ro->plan.paused) {
		set_why(ro, "rollout %s: paused before batch %lld of %zu", ro->name, (long long)k + 1, ro->ncum);
		return false;
	}
	if (ro->plan.batch_partition >= 0 && k > ro->plan.batch_partition) {
		set_why(ro, "rollout %s: batch %lld of %zu ready; waiting for batchPartition %lld or more", ro->name,
			(long long)k, ro->ncum, (long long)k);
		return false;
	}
	if (k > 0 && ro->plan.pause_ms && now < ro->st.batch_ready_us + (int64_t)ro->plan.pause_ms * 1000) {
		*ret_wait_us = ro->st.batch_ready_us + (int64_t)ro->plan.pause_ms * 1000 - now;
		set_why(ro, "rollout %s: batch %lld of %zu ready; pausing %llds before the next", ro->name,
			(long long)k, ro->ncum, (long long)((*ret_wait_us + 999999) / 1000000));
		return false;
	}
	return true;
}

/* Advance the state when the workloads allow it. Returns whether it changed. */
static bool advance(struct rollout *ro, int64_t *ret_wait_us)
{
	struct rollout_state *st = &ro->st;
	int64_t i = st->current_batch, need = 0, have = 0, want = 0;

	*ret_wait_us = ROLLOUT_STEP_MS * 1000;
	switch (st->rolling) {
	case ROLLOUT_INITIALIZING:
		if (st->kind == ROLLOUT_STATEFULSET && !st->target_revision[0]) {
			const json_t *sts = live_get(ro, st->target), *mf = ro->w->bundle ? target_manifest(ro) : NULL;

			if (!mf || !apply_json_subset(kobj_get_path(mf, "spec.template"), kobj_get_path(sts, "spec.template")) ||
			    jint(sts, "status.observedGeneration", 0) < jint(sts, "metadata.generation", 1) ||
			    !json_string_value(kobj_get_path(sts, "status.updateRevision"))) {
				set_why(ro, "rollout %s: waiting for StatefulSet %s to carry the new template", ro->name,
					st->target);
				return false;
			}
			snprintf(st->target_revision, sizeof(st->target_revision), "%s",
				 json_string_value(kobj_get_path(sts, "status.updateRevision")));
			set_message(ro, NULL, "StatefulSet %s: revision %s -> %s, %lld replicas in %zu batches", st->target,
				    st->source_revision, st->target_revision, (long long)st->target_size, ro->ncum);
			ro->st_dirty = true;
			return true;
		}
		if (!may_begin(ro, 0, ret_wait_us))
			return false;
		set_rolling(ro, ROLLOUT_ROLLING);
		set_batch(ro, 0, ROLLOUT_BATCH_INITIALIZING);
		return true;
	case ROLLOUT_ROLLING:
		if (i >= (int64_t)ro->ncum) {
			/* the plan has fewer batches than it had */
			set_rolling(ro, ROLLOUT_FINALISING);
			return true;
		}
		switch (st->batch) {
		case ROLLOUT_BATCH_INITIALIZING:
			st->batch_start_us = time_now_us();
			set_batch(ro, i, ROLLOUT_BATCH_IN_ROLLING);
			return true;
		case ROLLOUT_BATCH_IN_ROLLING:
			set_batch(ro, i, ROLLOUT_BATCH_VERIFYING);
			return true;
		case ROLLOUT_BATCH_VERIFYING:
			if (batch_ready(ro, &need, &have, &want)) {
				set_batch(ro, i, ROLLOUT_BATCH_FINALIZING);
				return true;
			}
			if (target_stalled(ro)) {
				fail_batch(ro, "TargetProgressDeadlineExceeded", need, have, want);
				return true;
			}
			if (time_now_us() > st->batch_start_us + ro->plan.deadline_s * 1000000) {
				fail_batch(ro, "ProgressDeadlineExceeded", need, have, want);
				return true;
			}
			set_why(ro, "rollout %s: batch %lld of %zu: %lld of %lld replicas ready (%lld needed)", ro->name,
				(long long)i + 1, ro->ncum, (long long)have,
				(long long)(st->kind == ROLLOUT_STATEFULSET ? st->target_size : want), (long long)need);
			return false;
		case ROLLOUT_BATCH_FINALIZING:
			st->batch_ready_us = time_now_us();
			set_batch(ro, i, ROLLOUT_BATCH_READY);
			return true;
		case ROLLOUT_BATCH_READY:
			if (i + 1 >= (int64_t)ro->ncum) {
				set_rolling(ro, ROLLOUT_FINALISING);
				set_message(ro, NULL, "every batch is ready; removing the sources");
				return true;
			}
			if (!may_begin(ro, i + 1, ret_wait_us)) {
				if (!*ret_wait_us)
					*ret_wait_us = ROLLOUT_IDLE_MS * 1000;
				return false;
			}
			set_batch(ro, i + 1, ROLLOUT_BATCH_INITIALIZING);
			return true;
		case ROLLOUT_BATCH_VERIFY_FAILED:
			set_rolling(ro, ROLLOUT_ROLLING_BACK);
			return true;
		}
		return false;
	case ROLLOUT_FINALISING:
		set_rolling(ro, ROLLOUT_SUCCEED);
		set_message(ro, NULL, "%s has %lld replicas; %zu source workloads removed", st->target,
			    (long long)st->target_size, st->nsources);
		return true;
	case ROLLOUT_ROLLING_BACK: {
		char msg[ROLLOUT_MAX_MESSAGE + 1], reason[ROLLOUT_MAX_REASON + 1];

		/* set_message writes st->reason and st->message: copy them first */
		snprintf(msg, sizeof(msg), "%s", st->message);
		snprintf(reason, sizeof(reason), "%s", st->reason);
		set_rolling(ro, ROLLOUT_ROLLBACK_SUCCEED);
		if (st->kind == ROLLOUT_STATEFULSET)
			set_message(ro, reason, "rolled back to %s: %.400s", st->source_revision, msg);
		else
			set_message(ro, reason, "rolled back: %s restored to %lld replicas, %s removed: %.380s",
				    st->source[0] ? st->source : "(no source)", (long long)st->source_size, st->target,
				    msg);
		return true;
	}
	default:
		*ret_wait_us = INT64_MAX;
		return false;
	}
}

static void act(struct rollout *ro)
{
	struct errbuf err = { "" };
	int64_t wait_us = 0;

	if (!ro->ncum && !terminal(ro->st.rolling) && resolve_batches(ro, &err) < 0) {
		/* a plan changed under a running rollout no longer fits its size: stop where it is */
		set_message(ro, "InvalidPlan", "%s", err.msg);
		set_rolling(ro, ROLLOUT_FAILED);
	}
	if (ro->st_dirty) {
		persist(ro, act);
		return;
	}
	if (!live_present(live_get(ro, ro->st.target)) && ro->st.rolling != ROLLOUT_ROLLING_BACK &&
	    ro->st.rolling != ROLLOUT_FINALISING && !terminal(ro->st.rolling)) {
		/* the engine (re)creates the target; wait for it */
		set_why(ro, "rollout %s: waiting for %s %s", ro->name, rollout_kind_name(ro->st.kind), ro->st.target);
		ro->next_us = now_mono() + ROLLOUT_STEP_MS * 1000;
		step_done(ro);
		return;
	}
	if (ro->st.kind == ROLLOUT_STATEFULSET ? sts_next_write(ro) : dep_next_write(ro))
		return;
	if (advance(ro, &wait_us)) {
		if (terminal(ro->st.rolling))
			apply_reconcile(ro->w); /* collect what is gone, release what was pinned */
		persist(ro, act);
		return;
	}
	backoff_reset(&ro->bo);
	ro->next_us = wait_us == INT64_MAX ? INT64_MAX
		      : now_mono() + (wait_us < ROLLOUT_STEP_MS * 1000 ? ROLLOUT_STEP_MS * 1000
						  : wait_us < ROLLOUT_IDLE_MS * 1000 ? wait_us : ROLLOUT_IDLE_MS * 1000);
	step_done(ro);
}

/* ---------------------------------------------------------------------- */
/* status                                                                  */
/* ---------------------------------------------------------------------- */

static void observe(struct rollout *ro)
{
	const json_t *t;
	size_t k;

	if (!ro->has_state || ro->st.rolling == ROLLOUT_VERIFYING)
		return;
	t = live_get(ro, ro->st.target);
	if (ro->st.kind == ROLLOUT_STATEFULSET) {
		int64_t n = jint(t, "spec.replicas", 1), upd = jint(t, "status.updatedReplicas", 0);
		int64_t rdy = jint(t, "status.readyReplicas", 0), ur = rdy - (n - upd);

		if (!t)
			return;
		ro->upgraded = upd;
		ro->upgraded_ready = ur < 0 ? 0 : ur > upd ? upd : ur;
		ro->source_replicas = n - upd > 0 ? n - upd : 0;
		return;
	}
	ro->upgraded = live_present(t) ? jint(t, "spec.replicas", 1) : 0;
	ro->upgraded_ready = live_present(t) ? jint(t, "status.readyReplicas", 0) : 0;
	ro->source_replicas = 0;
	for (k = 0; k < ro->st.nsources; k++) {
		const json_t *s = live_get(ro, ro->st.sources[k].name);

		if (live_present(s))
			ro->source_replicas += jint(s, "spec.replicas", 1);
	}
}

static void why_from_state(struct rollout *ro)
{
	const struct rollout_state *st = &ro->st;

	switch (st->rolling) {
	case ROLLOUT_ROLLING:
		if (st->batch == ROLLOUT_BATCH_VERIFYING || st->batch == ROLLOUT_BATCH_READY)
			break; /* advance() said it */
		set_why(ro, "rollout %s: batch %lld of %zu (%s)", ro->name, (long long)st->current_batch + 1, ro->ncum,
			rollout_batch_name(st->batch));
		break;
	case ROLLOUT_INITIALIZING:
		if (!ro->plan.paused)
			set_why(ro, "rollout %s: initializing", ro->name);
		break;
	case ROLLOUT_FINALISING:
	case ROLLOUT_ROLLING_BACK:
	case ROLLOUT_ROLLBACK_SUCCEED:
	case ROLLOUT_FAILED:
	case ROLLOUT_SUCCEED:
		set_why(ro, "rollout %s: %s%s%s: %s", ro->name, rollout_rolling_name(st->rolling),
			st->reason[0] ? " " : "", st->reason, st->message);
		break;
	default:
		break;
	}
}

static void step_done(struct rollout *ro)
{
	json_t *values = NULL;
	const char *why;
	char *text, sig[65];

	observe(ro);
	if (ro->has_state)
		why_from_state(ro);
	/* notify only when what the hub sees changes */
	ro_values(ro, &values, &why);
	json_array_append_new(values, json_string(ro->why));
	text = json_dumps(values, JSON_COMPACT);
	sha256_hex(text ? text : "", text ? strlen(text) : 0, sig);
	free(text);
	json_decref(values);
	if (strcmp(sig, ro->sig)) {
		memcpy(ro->sig, sig, sizeof(sig));
		notify(ro->w);
	}
}

/* ---------------------------------------------------------------------- */
/* the tick                                                                */
/* ---------------------------------------------------------------------- */

static void ro_step(struct rollout *ro)
{
	if (ro->call || now_mono() < ro->next_us)
		return;
	if (ro->in_bundle && ro->invalid)
		return; /* frozen until the work brings a valid plan */
	if (!ro->have_plan && !ro->has_state)
		return;
	if (!is_new(ro) && (!ro->has_state || (terminal(ro->st.rolling) && !ro->st_dirty))) {
		ro->next_us = INT64_MAX;
		return;
	}
	if (!ro->have_plan) {
		/* a state without a parsable plan cannot move */
		ro->next_us = INT64_MAX;
		return;
	}
	ro->next_us = now_mono() + ROLLOUT_STEP_MS * 1000;
	step_begin(ro);
}

void rollout_tick(struct work_engine *e)
{
	struct rollout_mgr *m = e->rollouts;
	struct work *w;
	struct rollout *ro, *next;

	if (!m || !m->started)
		return;
	if (!m->listed && !m->pager && now_mono() >= m->retry_us)
		start_list(m);
	if (m->listed && !m->adopted && e->ready)
		adopt(m);
	doomed_next(m);
	if (!m->adopted)
		return;
	for (w = e->works; w; w = w->next) {
		if (w->foreign || w->phase == WORK_DELETING)
			continue;
		for (ro = w->rollouts; ro; ro = next) {
			next = ro->next;
			ro_step(ro);
		}
	}
}

/* ---------------------------------------------------------------------- */
/* works                                                                   */
/* ---------------------------------------------------------------------- */

/* The identity of a plan: kind, namespace, target and (StatefulSet) the
 * target's template: a new one is a new rollout. */
static void compute_identity(struct rollout *ro, const json_t *target)
{
	json_t *id = json_pack("[s, s, s, O?]", rollout_kind_name(ro->plan.kind), ro->ns, ro->plan.target,
			       ro->plan.kind == ROLLOUT_STATEFULSET ? kobj_get_path(target, "spec.template") : NULL);

	apply_json_hash(id, ro->identity);
	json_decref(id);
}

/* Check a parsed plan against the bundle; NULL or a new message. */
static char *check_bundle(struct rollout *ro, const json_t **ret_target)
{
	struct rollout *o;
	size_t i;

	*ret_target = target_manifest(ro);
	if (!*ret_target)
		return xasprintf("spec.targetRevisionName: this work has no %s %s in namespace %s (the Rollout's)",
				 rollout_kind_name(ro->plan.kind), ro->plan.target, ro->ns);
	for (i = 0; ro->plan.source[0] && ro->plan.kind == ROLLOUT_DEPLOYMENT && i < ro->w->n; i++) {
		const json_t *m = ro->w->m[i].obj;

		if (!strcmp(eng_or(kobj_kind(m), ""), "Deployment") && !strcmp(eng_or(kobj_name(m), ""), ro->plan.source) &&
		    !strcmp(eng_or(kobj_namespace(m), ""), ro->ns))
			return xasprintf("spec.sourceRevisionName: %s is a manifest of this work; the source is the "
					 "workload of an earlier generation, which the work no longer holds",
					 ro->plan.source);
	}
	for (o = ro->w->rollouts; o; o = o->next) {
		if (o != ro && o->seen && o->have_plan && !o->invalid && !strcmp(o->ns, ro->ns) &&
		    !strcmp(o->plan.target, ro->plan.target))
			return xasprintf("spec.targetRevisionName: %s is the target of Rollout %s too", ro->plan.target,
					 o->name);
	}
	return NULL;
}

static void bundle_rollout(struct work *w, const json_t *obj, size_t count)
{
	const char *ns = eng_or(kobj_namespace(obj), ""), *name = eng_or(kobj_name(obj), "");
	const json_t *spec = json_object_get(obj, "spec"), *target = NULL;
	const char *claimed = json_string_value(json_object_get(spec, "targetRevisionName"));
	const char *kind = json_string_value(json_object_get(spec, "workloadKind"));
	struct rollout *ro = ro_find(w, ns, name);
	struct rollout_plan plan;
	struct errbuf err = { "" };

	if (!ro) {
		if (count > ROLLOUT_MAX_PER_WORK || !*ns || !*name)
			return; /* reported by rollout_apply_manifest */
		ro = ro_new(w, ns, name);
	}
	ro->seen = true;
	ro->in_bundle = true;
	ro->next_us = 0;
	free(ro->invalid);
	ro->invalid = NULL;
	snprintf(ro->claimed, sizeof(ro->claimed), "%s", claimed && strlen(claimed) <= ROLLOUT_MAX_NAME ? claimed : "");
	ro->claimed_kind = kind && !strcmp(kind, "StatefulSet") ? ROLLOUT_STATEFULSET : ROLLOUT_DEPLOYMENT;
	if (rollout_plan_parse(spec, &err, &plan) < 0) {
		ro->invalid = xstrdup(err.msg);
		return;
	}
	ro->plan = plan;
	ro->have_plan = true;
	ro->invalid = check_bundle(ro, &target);
	if (ro->invalid) {
		ro->have_plan = false;
		return;
	}
	compute_identity(ro, target);
	ro->manifest_replicas = jint(target, "spec.replicas", -1);
	if (!ro->spec || !json_equal(ro->spec, (json_t *)spec)) {
		/* a step in flight must not go on with half of the old plan: start it again */
		kclient_cancel(ro->call);
		ro->call = NULL;
		ro->after_persist = NULL;
		json_decref(ro->spec);
		ro->spec = json_deep_copy(spec);
		ro->ncum = 0;
		if (state_current(ro)) {
			/* the same rollout with a new plan (a gate released, a pause): keep it in the spoke */
			ro->st_dirty = true;
			if (ro->st.rolling == ROLLOUT_FAILED && strcmp(ro->st.reason, "RollbackFailed"))
				ro->restart = true;
			else if (!terminal(ro->st.rolling))
				resolve_batches(ro, &err);
		}
	}
}

void rollout_bundle_changed(struct work *w)
{
	struct rollout *ro, *next;
	size_t i, count = 0;

	for (ro = w->rollouts; ro; ro = ro->next)
		ro->seen = false;
	for (i = 0; i < w->n; i++) {
		if (rollout_is_manifest(w->m[i].obj))
			bundle_rollout(w, w->m[i].obj, ++count);
	}
	for (ro = w->rollouts; ro; ro = next) {
		next = ro->next;
		if (!ro->seen)
			ro_end(ro, "the work no longer has this Rollout");
	}
}

void rollout_work_deleting(struct work *w)
{
	while (w->rollouts)
		ro_end(w->rollouts, "the work is deleted");
}

void rollout_work_stop(struct work *w)
{
	struct rollout *ro;

	for (ro = w->rollouts; ro; ro = ro->next) {
		kclient_cancel(ro->call);
		ro->call = NULL;
		ro->next_us = INT64_MAX;
	}
}

void rollout_work_free(struct work *w)
{
	struct rollout *ro, *next;

	for (ro = w->rollouts; ro; ro = next) {
		next = ro->next;
		ro_free(ro);
	}
	w->rollouts = NULL;
}

/* ---------------------------------------------------------------------- */
/* the engine's hooks in a round                                           */
/* ---------------------------------------------------------------------- */

static struct rollout *ro_of_manifest(struct work *w, const json_t *obj)
{
	return ro_find(w, eng_or(kobj_namespace(obj), ""), eng_or(kobj_name(obj), ""));
}

void rollout_apply_manifest(struct work *w, struct manifest *m)
{
	struct rollout *ro = ro_of_manifest(w, m->obj);
	json_t *live;

	m->mapped = true;
	snprintf(m->map.group, sizeof(m->map.group), "%s", ROLLOUT_GROUP);
	snprintf(m->map.version, sizeof(m->map.version), "%s", ROLLOUT_VERSION);
	snprintf(m->map.kind, sizeof(m->map.kind), "%s", ROLLOUT_KIND);
	snprintf(m->map.resource, sizeof(m->map.resource), "%s", ROLLOUT_RESOURCE);
	m->map.namespaced = true;
	/* never written, owned or collected: the engine treats it as read-only */
	m->strategy = ENG_READ_ONLY;
	m->attempted = true;
	free(m->apply_reason);
	free(m->apply_msg);
	m->apply_reason = m->apply_msg = NULL;
	if (!ro || ro->invalid) {
		m->applied = false;
		m->apply_reason = xstrdup("InvalidRollout");
		if (ro)
			m->apply_msg = xasprintf("Rollout %s/%s: %s", ro->ns, ro->name, ro->invalid);
		else if (!kobj_namespace(m->obj) || !*kobj_namespace(m->obj))
			m->apply_msg = xstrdup("Rollout: metadata.namespace: required (the workloads' namespace)");
		else
			m->apply_msg = xasprintf("Rollout %s: at most %d Rollouts in one work", eng_or(kobj_name(m->obj), ""),
						 ROLLOUT_MAX_PER_WORK);
	} else {
		m->applied = true;
	}
	live = json_deep_copy(m->obj);
	json_decref(m->live);
	m->live = live;
	m->fetched = true;
	free(m->fetch_msg);
	m->fetch_msg = NULL;
}

enum rollout_pin_result rollout_pin(struct work *w, const struct manifest *m, json_t **ret_obj)
{
	struct rollout_mgr *mgr = w->e->rollouts;
	const char *name = kobj_name(m->obj), *ns = kobj_namespace(m->obj);
	struct rollout *ro;
	enum rollout_kind kind;
	json_t *o;

	if (!m->mapped || strcmp(m->map.group, "apps") || !name || !ns)
		return ROLLOUT_PIN_NONE;
	if (!strcmp(m->map.kind, "Deployment"))
		kind = ROLLOUT_DEPLOYMENT;
	else if (!strcmp(m->map.kind, "StatefulSet"))
		kind = ROLLOUT_STATEFULSET;
	else
		return ROLLOUT_PIN_NONE;
	for (ro = w->rollouts; ro; ro = ro->next) {
		if (ro->in_bundle && !strcmp(ro->ns, ns) && !strcmp(ro->claimed, name) && ro->claimed_kind == kind)
			break;
	}
	if (!ro)
		return ROLLOUT_PIN_NONE;
	if (!mgr || !mgr->adopted)
		return ROLLOUT_PIN_SKIP; /* its state may not be known yet */
	if (state_current(ro) && !ro->invalid &&
	    (ro->st.rolling == ROLLOUT_ROLLING_BACK || ro->st.rolling == ROLLOUT_ROLLBACK_SUCCEED ||
	     (kind == ROLLOUT_STATEFULSET && ro->st.rolling == ROLLOUT_FAILED)))
		return ROLLOUT_PIN_SKIP; /* rolled back or refused: the target stays removed (or at the source) */
	if (state_current(ro) && !ro->invalid && ro->st.rolling == ROLLOUT_SUCCEED)
		return ROLLOUT_PIN_NONE; /* done: the target is a manifest like any other again */
	o = json_deep_copy(m->obj);
	if (kind == ROLLOUT_DEPLOYMENT) {
		int64_t n;

		if (m->live)
			n = jint(m->live, "spec.replicas", 1);
		else if (state_current(ro) && !ro->invalid && ro->ncum) {
			struct dep_want d;

			dep_desired(ro, &d);
			n = d.target >= 0 ? d.target : ro->st.target_start;
		} else {
			n = 0; /* a new target starts empty; the rollout scales it */
		}
		if (!json_is_object(json_object_get(o, "spec")))
			json_object_set_new(o, "spec", json_object());
		json_object_set_new(json_object_get(o, "spec"), "replicas", json_integer(n));
	} else {
		int64_t part, n = jint(m->obj, "spec.replicas", 1);
		struct errbuf err;
		json_t *us, *ru;

		if (!m->live) {
			json_decref(o);
			return ROLLOUT_PIN_NONE; /* a new StatefulSet starts at the target: nothing to roll */
		}
		if (!state_current(ro) || ro->invalid) {
			/* the rollout records the live (source) template before the new one is written */
			json_decref(o);
			return ROLLOUT_PIN_SKIP;
		}
		if (!ro->ncum && ro->st.rolling != ROLLOUT_FAILED)
			resolve_batches(ro, &err);
		switch (ro->st.rolling) {
		case ROLLOUT_ROLLING:
			part = n - sts_u(ro, ro->st.batch == ROLLOUT_BATCH_INITIALIZING ? ro->st.current_batch - 1
										    : ro->st.current_batch);
			break;
		case ROLLOUT_FINALISING:
		case ROLLOUT_SUCCEED:
			part = 0;
			break;
		default:
			part = n; /* verifying, initializing: every pod held */
			break;
		}
		if (part < 0)
			part = 0;
		if (!json_is_object(json_object_get(o, "spec")))
			json_object_set_new(o, "spec", json_object());
		us = json_object_get(json_object_get(o, "spec"), "updateStrategy");
		if (!json_is_object(us)) {
			us = json_object();
			json_object_set_new(json_object_get(o, "spec"), "updateStrategy", us);
		}
		if (!json_object_get(us, "type"))
			json_object_set_new(us, "type", json_string("RollingUpdate"));
		ru = json_object_get(us, "rollingUpdate");
		if (!json_is_object(ru)) {
			ru = json_object();
			json_object_set_new(us, "rollingUpdate", ru);
		}
		json_object_set_new(ru, "partition", json_integer(part));
	}
	*ret_obj = o;
	return ROLLOUT_PIN_OBJECT;
}

bool rollout_protects(struct work *w, const char *group, const char *resource, const char *ns,
		      const char *name)
{
	struct rollout_mgr *mgr = w->e->rollouts;
	struct rollout *ro;
	size_t k;

	if (strcmp(group, "apps") || (strcmp(resource, "deployments") && strcmp(resource, "statefulsets")))
		return false;
	if (!mgr || !mgr->adopted)
		return true; /* a rollout state may name it: keep it until they are loaded */
	for (ro = w->rollouts; ro; ro = ro->next) {
		if (strcmp(ro->ns, ns) || strcmp(resource, kind_resource(ro_kind(ro))))
			continue;
		if (ro->has_state) {
			if (!strcmp(ro->st.target, name))
				return true;
			for (k = 0; k < ro->st.nsources && ro->st.rolling != ROLLOUT_SUCCEED; k++) {
				if (!strcmp(ro->st.sources[k].name, name))
					return true;
			}
		}
		if (ro->have_plan && !strcmp(ro->plan.source, name) &&
		    !(state_current(ro) && ro->st.rolling == ROLLOUT_SUCCEED))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* status                                                                  */
/* ---------------------------------------------------------------------- */

static void add_int(json_t *values, const char *name, int64_t v)
{
	if (v >= 0)
		json_array_append_new(values, proto_feedback_integer(name, v));
}

static void add_str(json_t *values, const char *name, const char *v)
{
	char buf[1025];

	if (v && *v) {
		snprintf(buf, sizeof(buf), "%s", v);
		json_array_append_new(values, proto_feedback_string(name, buf));
	}
}

/* The feedback values and progress of one rollout (see rollout_feedback). */
static int ro_values(struct rollout *ro, json_t **ret_values, const char **ret_why)
{
	json_t *values = json_array();
	const struct rollout_state *st;
	struct errbuf err;
	int progress = 0;

	*ret_why = NULL;
	if (!ro) {
		*ret_values = values;
		return 0;
	}
	st = &ro->st;
	if (ro->has_state && ro->have_plan && !ro->ncum && st->rolling != ROLLOUT_FAILED)
		resolve_batches(ro, &err);
	if (!state_current(ro) || !ro->has_state) {
		add_str(values, "rollingState", rollout_rolling_name(ROLLOUT_VERIFYING));
		add_str(values, "targetRevision", ro->have_plan ? ro->plan.target : ro->claimed);
		if (ro->have_plan)
			add_str(values, "sourceRevision", ro->plan.source);
		add_str(values, "message", ro->invalid ? ro->invalid : ro->why);
		*ret_values = values;
		*ret_why = ro->why[0] ? ro->why : "rollout: verifying the spec";
		return ro->invalid ? 0 : 1;
	}
	add_str(values, "rollingState", rollout_rolling_name(st->rolling));
	add_str(values, "batchRollingState", rollout_batch_name(st->batch));
	add_int(values, "currentBatch", st->current_batch);
	add_int(values, "numBatches", (int64_t)ro->ncum);
	add_int(values, "targetSize", st->target_size);
	add_int(values, "upgradedReplicas", ro->upgraded);
	add_int(values, "upgradedReadyReplicas", ro->upgraded_ready);
	add_int(values, "sourceReplicas", ro->source_replicas);
	add_str(values, "targetRevision", st->kind == ROLLOUT_STATEFULSET && st->target_revision[0]
						  ? st->target_revision : st->target);
	add_str(values, "sourceRevision", st->kind == ROLLOUT_STATEFULSET ? st->source_revision : st->source);
	if (ro->have_plan && ro->plan.batch_partition >= 0)
		add_int(values, "batchPartition", ro->plan.batch_partition);
	if (ro->have_plan)
		json_array_append_new(values, proto_feedback_boolean("paused", ro->plan.paused));
	add_str(values, "reason", st->reason);
	add_str(values, "message", ro->invalid ? ro->invalid : terminal(st->rolling) || !ro->why[0] ? st->message
													: ro->why);
	switch (st->rolling) {
	case ROLLOUT_SUCCEED:
		progress = 0;
		break;
	case ROLLOUT_ROLLBACK_SUCCEED:
	case ROLLOUT_FAILED:
		progress = -1;
		break;
	default:
		progress = 1;
		break;
	}
	if (!ro->why[0])
		why_from_state(ro); /* a state read back and not stepped since (terminal) */
	*ret_why = ro->why[0] ? ro->why : st->message;
	*ret_values = values;
	return progress;
}

int rollout_feedback(struct work *w, const struct manifest *m, json_t **ret_values, const char **ret_why)
{
	return ro_values(ro_of_manifest(w, m->obj), ret_values, ret_why);
}
