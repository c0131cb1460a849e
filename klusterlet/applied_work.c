/* applied_work.c - the AppliedManifestWork: the engine's durable record in
 * the spoke cluster.
 *
 * One cluster-scoped AppliedManifestWork (work.open-cluster-management.io/v1)
 * per work, named "{hubHash}-{work name}", spec {hubHash, agentID,
 * manifestWorkName}, status {appliedResources[] {group, version, resource,
 * namespace, name, uid}, evictionStartTime}. Nave adds two annotations: the
 * work's uid on the hub (so a restarted klusterlet can answer the spec resync
 * by uid) and its deleteOption (so an eviction after a restart still honours
 * Orphan). Every applied object has an ownerReference to its record.
 *
 * At start the engine makes sure the CRD exists (creating it when missing),
 * waits until the API serves it and lists the records: those of this hub
 * become works again (generation 0 until the hub resends them), those of
 * this agent for another hub are evicted. All calls go through the work's
 * (or the engine's) single outstanding call, on the loop.
 */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

#define AMW_CRD_NAME WORK_AMW_RESOURCE "." WORK_AMW_GROUP

/* The CRD, as deploy/crds/appliedmanifestworks.yaml holds it (a unit test
 * compares the two). */
static const char amw_crd_json[] =
	"{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
	"\"metadata\":{\"name\":\"" AMW_CRD_NAME "\"},"
	"\"spec\":{\"group\":\"" WORK_AMW_GROUP "\","
	"\"names\":{\"kind\":\"AppliedManifestWork\",\"listKind\":\"AppliedManifestWorkList\","
	"\"plural\":\"appliedmanifestworks\",\"singular\":\"appliedmanifestwork\"},"
	"\"scope\":\"Cluster\","
	"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
	"\"subresources\":{\"status\":{}},"
	"\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
	"\"apiVersion\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"
	"\"metadata\":{\"type\":\"object\"},"
	"\"spec\":{\"type\":\"object\",\"properties\":{"
	"\"hubHash\":{\"type\":\"string\"},\"agentID\":{\"type\":\"string\"},"
	"\"manifestWorkName\":{\"type\":\"string\"}}},"
	"\"status\":{\"type\":\"object\",\"properties\":{"
	"\"appliedResources\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
	"\"group\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},"
	"\"resource\":{\"type\":\"string\"},\"namespace\":{\"type\":\"string\"},"
	"\"name\":{\"type\":\"string\"},\"uid\":{\"type\":\"string\"}}}},"
	"\"evictionStartTime\":{\"type\":\"string\",\"format\":\"date-time\"}}}}}}}]}}";

json_t *amw_crd(void)
{
	json_t *crd = json_loads(amw_crd_json, 0, NULL);

	if (!crd)
		abort(); /* a constant: cannot fail */
	return crd;
}

static const struct kref crd_ref = {
	.group = "apiextensions.k8s.io", .version = "v1", .resource = "customresourcedefinitions",
	.name = AMW_CRD_NAME,
};

static void amw_ref(const char *name, struct kref *ret_ref)
{
	*ret_ref = (struct kref){ .group = WORK_AMW_GROUP, .version = WORK_AMW_VERSION,
				  .resource = WORK_AMW_RESOURCE, .name = name };
}

json_t *amw_resource_entry(const struct manifest *m)
{
	const char *uid = m->live ? kobj_uid(m->live) : NULL;
	const char *ns = m->live ? kobj_namespace(m->live) : NULL;

	if (!uid || !m->mapped || m->strategy == ENG_READ_ONLY)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "group", m->map.group, "version",
			 m->map.version, "resource", m->map.resource, "namespace",
			 m->map.namespaced && ns ? ns : "", "name", kobj_name(m->live), "uid", uid);
}

static char *delete_option_text(const json_t *del)
{
	return del ? json_dumps(del, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("");
}

/* Take a record the server returned as the work's. */
static void adopt_record(struct work *w, const json_t *item)
{
	json_t *applied = kobj_get_path(item, "status.appliedResources");
	const char *ev = json_string_value(kobj_get_path(item, "status.evictionStartTime"));
	const char *del = kobj_annotation(item, WORK_AMW_ANN_DELETE_OPTION);
	int64_t t;

	free(w->amw_uid);
	w->amw_uid = xstrdup(kobj_uid(item) ? kobj_uid(item) : "");
	json_decref(w->amw);
	w->amw = json_deep_copy(item);
	json_decref(w->applied);
	w->applied = json_is_array(applied) ? json_deep_copy(applied) : json_array();
	if (ev && time_parse_rfc3339(ev, &t) == 0 && !w->bundle)
		w->eviction_start_us = t;
	if (!w->delete_option && del && *del) {
		json_t *d = json_loads(del, 0, NULL);

		if (json_is_object(d))
			w->delete_option = d;
		else
			json_decref(d);
	}
	snprintf(w->amw_name, sizeof(w->amw_name), "%s", kobj_name(item) ? kobj_name(item) : "");
	w->amw_known = true;
}

/* ---------------------------------------------------------------------- */
/* start: CRD, served, list                                                */
/* ---------------------------------------------------------------------- */

enum { START_CRD_GET, START_CRD_CREATE, START_SERVED, START_LIST, START_DONE };

static void start_step(struct work_engine *e);

static void start_retry_fire(uv_timer_t *t)
{
	start_step(t->data);
}

static void start_retry(struct work_engine *e, const char *what, const struct kclient_result *res)
{
	uint64_t ms = backoff_next(&e->start_backoff);
	char *msg = res ? eng_err_text(res) : xstrdup("could not start the request");

	eng_count_error(e);
	log_warn("work engine: %s: %s; retrying in %llu ms", what, msg, (unsigned long long)ms);
	free(msg);
	uv_timer_start(&e->start_timer, start_retry_fire, ms, 0);
}

static void restore_item(struct work_engine *e, const json_t *item)
{
	const char *hub = json_string_value(kobj_get_path(item, "spec.hubHash"));
	const char *agent = json_string_value(kobj_get_path(item, "spec.agentID"));
	const char *wname = json_string_value(kobj_get_path(item, "spec.manifestWorkName"));
	const char *id = kobj_annotation(item, WORK_AMW_ANN_RESOURCE_ID);
	struct work *w;
	bool foreign;

	if (!hub || !kobj_name(item))
		return;
	foreign = strcmp(hub, e->hub_hash) != 0;
	if (foreign && (!agent || strcmp(agent, e->agent_id)))
		return; /* another agent's record: not ours to touch */
	if (!id || strlen(id) != PROTO_UUID_LEN) {
		if (!foreign) {
			log_warn("work engine: AppliedManifestWork %s has no %s annotation; left alone",
				 kobj_name(item), WORK_AMW_ANN_RESOURCE_ID);
			return;
		}
		id = kobj_uid(item);
		if (!id || strlen(id) != PROTO_UUID_LEN)
			return;
	}
	w = eng_work_find(e, id);
	if (w && (w->amw_known || w->foreign != foreign))
		return;
	if (!w) {
		if (e->nworks >= e->max_works) {
			log_error("work engine: more than %zu records; %s not loaded", e->max_works,
				  kobj_name(item));
			return;
		}
		w = eng_work_new(e, id, wname);
		w->foreign = foreign;
	}
	adopt_record(w, item);
	if (foreign) {
		log_info("work engine: record %s belongs to another hub; evicting it", w->amw_name);
		gc_evict_start(w);
	} else {
		log_info("work engine: found record %s (work %s, %zu resources)", w->amw_name, w->id,
			 json_array_size(w->applied));
	}
}

static void start_done(void *ud, const struct kclient_result *res)
{
	struct work_engine *e = ud;
	json_t *items, *item;
	size_t i;

	e->call = NULL;
	e->pager = NULL;
	switch (e->start_step) {
	case START_CRD_GET:
		if (res->r == 0) {
			e->start_step = START_SERVED;
		} else if (res->err && res->err->reason == KCLIENT_NOT_FOUND) {
			e->start_step = START_CRD_CREATE;
		} else {
			start_retry(e, "reading the AppliedManifestWork CRD", res);
			return;
		}
		break;
	case START_CRD_CREATE:
		if (res->r == 0 || (res->err && res->err->reason == KCLIENT_ALREADY_EXISTS)) {
			log_info("work engine: AppliedManifestWork CRD created");
			e->start_step = START_SERVED;
		} else {
			start_retry(e, "creating the AppliedManifestWork CRD", res);
			return;
		}
		break;
	case START_SERVED:
		if (res->r != 0) {
			start_retry(e, "waiting for appliedmanifestworks to be served", res);
			return;
		}
		e->start_step = START_LIST;
		break;
	case START_LIST:
		if (res->r != 0) {
			start_retry(e, "listing AppliedManifestWorks", res);
			return;
		}
		items = json_object_get(res->body, "items");
		json_array_foreach(items, i, item)
			restore_item(e, item);
		e->start_step = START_DONE;
		break;
	default:
		return;
	}
	backoff_reset(&e->start_backoff);
	start_step(e);
}

static void start_step(struct work_engine *e)
{
	struct kref ref;
	json_t *crd;
	int r = 0;

	switch (e->start_step) {
	case START_CRD_GET:
		r = kclient_get(e->kc, &crd_ref, start_done, e, &e->call);
		break;
	case START_CRD_CREATE:
		crd = amw_crd();
		ref = crd_ref;
		ref.name = NULL;
		r = kclient_create(e->kc, &ref, crd, NULL, start_done, e, &e->call);
		json_decref(crd);
		break;
	case START_SERVED:
		amw_ref(NULL, &ref);
		r = kclient_list(e->kc, &ref, &(struct kclient_list_opts){ .limit = 1 }, start_done, e,
				 &e->call);
		break;
	case START_LIST:
		amw_ref(NULL, &ref);
		r = kclient_list_all(e->kc, &ref, NULL, start_done, e, &e->pager);
		break;
	case START_DONE: {
		struct work *w;

		e->ready = true;
		log_info("work engine: ready (%zu works)", e->nworks);
		/* works handed in before the records were loaded may now run */
		for (w = e->works; w; w = w->next) {
			if ((w->bundle || w->eviction_start_us) && w->phase == WORK_IDLE)
				apply_reconcile(w);
		}
		if (e->ready_cb)
			e->ready_cb(e->ready_ud, 0);
		return;
	}
	}
	if (r < 0)
		start_retry(e, "starting a request", NULL);
}

void amw_start(struct work_engine *e)
{
	e->start_step = e->no_crd_install ? START_SERVED : START_CRD_GET;
	/* from the loop, never inside work_engine_start */
	uv_timer_start(&e->start_timer, start_retry_fire, 0, 0);
}

/* ---------------------------------------------------------------------- */
/* one work's record                                                       */
/* ---------------------------------------------------------------------- */

static void cont_later_fire(uv_timer_t *t)
{
	struct work *w = t->data;
	void (*cont)(struct work *, int) = w->cont;

	w->cont = NULL;
	cont(w, w->cont_r);
}

/* Continue with cont(w, r) from the loop (a request could not even start). */
static void cont_later(struct work *w, void (*cont)(struct work *w, int r), int r)
{
	w->cont = cont;
	w->cont_r = r;
	eng_work_timer(w, 0, cont_later_fire);
}

static void finish(struct work *w, int r)
{
	void (*cont)(struct work *, int) = w->cont;

	w->cont = NULL;
	cont(w, r);
}

static json_t *new_record(struct work *w)
{
	json_t *o = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}}", "apiVersion", WORK_AMW_API_VERSION,
			      "kind", WORK_AMW_KIND, "metadata", "name", w->amw_name, "spec", "hubHash",
			      w->e->hub_hash, "agentID", w->e->agent_id, "manifestWorkName", w->name);
	char *del = delete_option_text(w->delete_option);

	kobj_set_annotation(o, WORK_AMW_ANN_RESOURCE_ID, w->id);
	kobj_set_annotation(o, WORK_AMW_ANN_DELETE_OPTION, del);
	free(del);
	return o;
}

static void ensure_created(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;

	w->call = NULL;
	if (res->r == 0 && res->body) {
		adopt_record(w, res->body);
		log_info("work %s (%s): record %s created", w->name, w->id, w->amw_name);
		finish(w, 0);
		return;
	}
	eng_count_error(w->e);
	log_warn("work %s: creating record %s: %s", w->name, w->amw_name,
		 res->err ? res->err->message : "failed");
	finish(w, res->r ? res->r : -EIO);
}

static void ensure_got(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;
	struct work *other;
	struct kref ref;
	json_t *o;
	int r;

	w->call = NULL;
	if (res->r == 0 && res->body) {
		const char *id = kobj_annotation(res->body, WORK_AMW_ANN_RESOURCE_ID);

		/* a record of the same name: adopt it (OCM keys records by name) */
		if (id && strcmp(id, w->id)) {
			other = eng_work_find(w->e, id);
			if (other && other != w && other->phase != WORK_DELETING) {
				log_info("work %s: takes over record %s from work %s", w->name, w->amw_name, id);
				eng_work_free(other);
			}
		}
		adopt_record(w, res->body);
		finish(w, 0);
		return;
	}
	if (!res->err || res->err->reason != KCLIENT_NOT_FOUND) {
		eng_count_error(w->e);
		finish(w, res->r ? res->r : -EIO);
		return;
	}
	if (w->substep == 1) {
		/* load only: there is none */
		finish(w, 0);
		return;
	}
	amw_ref(NULL, &ref);
	o = new_record(w);
	r = kclient_create(w->e->kc, &ref, o, NULL, ensure_created, w, &w->call);
	json_decref(o);
	if (r < 0)
		cont_later(w, w->cont, r);
}

static void get_record(struct work *w, int load_only, void (*cont)(struct work *w, int r))
{
	struct kref ref;
	int r;

	w->cont = cont;
	w->substep = load_only;
	amw_ref(w->amw_name, &ref);
	r = kclient_get(w->e->kc, &ref, ensure_got, w, &w->call);
	if (r < 0)
		cont_later(w, cont, r);
}

void amw_ensure(struct work *w, void (*cont)(struct work *w, int r))
{
	if (w->amw_known) {
		cont(w, 0);
		return;
	}
	get_record(w, 0, cont);
}

void amw_load(struct work *w, void (*cont)(struct work *w, int r))
{
	if (w->amw_known) {
		cont(w, 0);
		return;
	}
	get_record(w, 1, cont);
}

/* --- sync: the annotation (main resource), then the status ------------- */

static void sync_status(struct work *w);

static void sync_written(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;

	w->call = NULL;
	if (res->r == 0 && res->body) {
		json_decref(w->amw);
		w->amw = json_incref(res->body);
		if (w->substep == 0) {
			w->substep = 1;
			sync_status(w);
			return;
		}
		finish(w, 0);
		return;
	}
	eng_count_error(w->e);
	if (res->err && res->err->reason == KCLIENT_NOT_FOUND) {
		/* someone deleted the record: make it again next round */
		log_warn("work %s: record %s is gone; recreating it", w->name, w->amw_name);
		w->amw_known = false;
	} else if (res->err && res->err->reason == KCLIENT_CONFLICT) {
		w->amw_known = false; /* re-read it next round */
	}
	finish(w, res->r ? res->r : -EIO);
}

static bool status_differs(struct work *w, json_t **ret_status)
{
	json_t *cur = json_object_get(w->amw, "status");
	json_t *want = json_object();
	char ts[TIMEFMT_MAX];
	bool differs;

	json_object_set(want, "appliedResources", w->applied);
	if (w->eviction_start_us)
		json_object_set_new(want, "evictionStartTime",
				    json_string(time_format_rfc3339(w->eviction_start_us, ts)));
	if (!cur || !json_is_object(cur)) {
		differs = json_array_size(w->applied) > 0 || w->eviction_start_us;
	} else {
		json_t *cur_applied = json_object_get(cur, "appliedResources");
		json_t *cur_ev = json_object_get(cur, "evictionStartTime");

		differs = !json_equal(cur_applied ? cur_applied : json_object_get(want, "appliedResources"),
				      json_object_get(want, "appliedResources")) ||
			  (cur_ev != NULL) != (w->eviction_start_us != 0) ||
			  (cur_ev && !json_equal(cur_ev, json_object_get(want, "evictionStartTime")));
		if (!cur_applied && json_array_size(w->applied))
			differs = true;
	}
	*ret_status = want;
	return differs;
}

static void sync_status(struct work *w)
{
	struct kref ref;
	json_t *want, *o;
	int r;

	if (!status_differs(w, &want)) {
		json_decref(want);
		finish(w, 0);
		return;
	}
	o = json_deep_copy(w->amw);
	json_object_set_new(o, "status", want);
	amw_ref(w->amw_name, &ref);
	ref.subresource = "status";
	r = kclient_update(w->e->kc, &ref, o, NULL, sync_written, w, &w->call);
	json_decref(o);
	if (r < 0)
		cont_later(w, w->cont, r);
}

void amw_sync(struct work *w, void (*cont)(struct work *w, int r))
{
	const char *cur;
	char *want;
	struct kref ref;
	json_t *o;
	int r;

	if (!w->amw_known || !w->amw) {
		cont(w, -ENOENT);
		return;
	}
	w->cont = cont;
	w->substep = 1;
	cur = kobj_annotation(w->amw, WORK_AMW_ANN_DELETE_OPTION);
	want = delete_option_text(w->delete_option);
	if (!w->foreign && (!cur || strcmp(cur, want) ||
			    !kobj_annotation(w->amw, WORK_AMW_ANN_RESOURCE_ID) ||
			    strcmp(kobj_annotation(w->amw, WORK_AMW_ANN_RESOURCE_ID), w->id))) {
		o = json_deep_copy(w->amw);
		kobj_set_annotation(o, WORK_AMW_ANN_DELETE_OPTION, want);
		kobj_set_annotation(o, WORK_AMW_ANN_RESOURCE_ID, w->id);
		json_object_del(o, "status");
		amw_ref(w->amw_name, &ref);
		w->substep = 0;
		r = kclient_update(w->e->kc, &ref, o, NULL, sync_written, w, &w->call);
		json_decref(o);
		free(want);
		if (r < 0)
			cont_later(w, cont, r);
		return;
	}
	free(want);
	sync_status(w);
}

/* --- delete ---------------------------------------------------------------- */

static void deleted(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;

	w->call = NULL;
	if (res->r == 0 || (res->err && (res->err->reason == KCLIENT_NOT_FOUND ||
					 res->err->reason == KCLIENT_CONFLICT))) {
		/* gone, or a record with another uid (not ours any more) */
		w->amw_known = false;
		finish(w, 0);
		return;
	}
	eng_count_error(w->e);
	finish(w, res->r);
}

void amw_delete(struct work *w, bool orphan, void (*cont)(struct work *w, int r))
{
	struct kref ref;
	int r;

	if (!w->amw_known) {
		cont(w, 0);
		return;
	}
	w->cont = cont;
	amw_ref(w->amw_name, &ref);
	r = kclient_delete(w->e->kc, &ref,
			   &(struct kclient_delete_opts){ .propagation = orphan ? KCLIENT_PROPAGATION_ORPHAN
										  : KCLIENT_PROPAGATION_BACKGROUND,
							  .precondition_uid = w->amw_uid },
			   deleted, w, &w->call);
	if (r < 0)
		cont_later(w, cont, r);
}
