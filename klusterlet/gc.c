/* gc.c - what leaves the spoke: garbage collection of objects a work no
 * longer holds, deletion of works (deleteOption), eviction.
 *
 * Garbage collection (after every round's manifests): an entry of the
 * record's appliedResources whose identity (group, resource, namespace,
 * name) no current manifest has is collected: read by name, and if it still
 * has the recorded uid, either deleted (Background, uid precondition) or,
 * when it is also owned by another AppliedManifestWork or the delete option
 * orphans it, only stripped of this record's owner reference. Entries that
 * could not be collected stay in the record and are tried next round.
 *
 * Deleting a work: every applied object is orphaned (Orphan; the matching
 * orphaningRules of SelectivelyOrphan) or deleted (Foreground propagation,
 * uid precondition); the engine then waits until each deleted object is
 * really gone (finalizers, dependents), deletes the record and reports the
 * work deleted. Failures retry with backoff; the record stays until the end,
 * so a restart resumes.
 *
 * Eviction: a work the hub does not know is marked (evictionStartTime in its
 * record), stays applied, and is deleted as above once the grace period has
 * passed without the hub sending it again. Records of this agent for another
 * hub are evicted the same way.
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

bool gc_orphaned(const json_t *delete_option, const char *group, const char *resource, const char *ns,
		 const char *name)
{
	const char *policy = json_string_value(json_object_get(delete_option, "propagationPolicy"));
	json_t *rules, *r;
	size_t i;

	if (!policy)
		return false;
	if (!strcmp(policy, "Orphan"))
		return true;
	if (strcmp(policy, "SelectivelyOrphan"))
		return false;
	rules = kobj_get_path(delete_option, "selectivelyOrphans.orphaningRules");
	json_array_foreach(rules, i, r) {
		if (!strcmp(eng_or(json_string_value(json_object_get(r, "group")), ""), eng_or(group, "")) &&
		    !strcmp(eng_or(json_string_value(json_object_get(r, "resource")), ""), eng_or(resource, "")) &&
		    !strcmp(eng_or(json_string_value(json_object_get(r, "namespace")), ""), eng_or(ns, "")) &&
		    !strcmp(eng_or(json_string_value(json_object_get(r, "name")), ""), eng_or(name, "")))
			return true;
	}
	return false;
}

static const char *s(const json_t *entry, const char *key)
{
	return eng_or(json_string_value(json_object_get(entry, key)), "");
}

static void entry_ref(const json_t *entry, struct kref *ret_ref)
{
	*ret_ref = (struct kref){ .group = s(entry, "group"), .version = s(entry, "version"),
				  .resource = s(entry, "resource"), .namespace = s(entry, "namespace"),
				  .name = s(entry, "name") };
}

static bool entry_same_identity(const json_t *a, const json_t *b)
{
	return !strcmp(s(a, "group"), s(b, "group")) && !strcmp(s(a, "resource"), s(b, "resource")) &&
	       !strcmp(s(a, "namespace"), s(b, "namespace")) && !strcmp(s(a, "name"), s(b, "name"));
}

/* Whether o has an owner reference to an AppliedManifestWork other than uid. */
static bool other_record_owns(const json_t *o, const char *uid)
{
	json_t *refs = kobj_get_path(o, "metadata.ownerReferences"), *r;
	size_t i;

	json_array_foreach(refs, i, r) {
		if (!strcmp(s(r, "kind"), WORK_AMW_KIND) && strcmp(s(r, "uid"), eng_or(uid, "")))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* one object: orphan (drop our owner ref) or delete                       */
/* ---------------------------------------------------------------------- */

/* The outcome of one target, then the caller's next step (w->cont). */
enum { OBJ_GONE = 0, OBJ_KEEP = 1 };
/* What obj_collect did (w->substep), for the deletion's wait. */
enum { OBJ_NOTHING = 0, OBJ_DELETED = 1 };

static void obj_finish(struct work *w, int outcome)
{
	void (*cont)(struct work *, int) = w->cont;

	w->cont = NULL;
	cont(w, outcome);
}

static void obj_written(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;

	w->call = NULL;
	if (res->r == 0 || (res->err && res->err->reason == KCLIENT_NOT_FOUND)) {
		obj_finish(w, OBJ_GONE);
		return;
	}
	eng_count_error(w->e);
	obj_finish(w, OBJ_KEEP);
}

static void obj_deleted(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;

	w->call = NULL;
	if (res->r == 0 || (res->err && (res->err->reason == KCLIENT_NOT_FOUND ||
					 res->err->reason == KCLIENT_CONFLICT))) {
		if (res->r == 0)
			w->e->stats.deletes++;
		obj_finish(w, OBJ_GONE);
		return;
	}
	eng_count_error(w->e);
	obj_finish(w, OBJ_KEEP);
}

static void obj_got(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;
	json_t *entry = json_array_get(w->targets, w->cursor);
	struct kref ref;
	bool orphan;
	json_t *o;
	int r;

	w->call = NULL;
	if (res->r != 0) {
		if (res->err && res->err->reason == KCLIENT_NOT_FOUND) {
			obj_finish(w, OBJ_GONE);
			return;
		}
		eng_count_error(w->e);
		obj_finish(w, OBJ_KEEP);
		return;
	}
	if (strcmp(eng_or(kobj_uid(res->body), ""), s(entry, "uid"))) {
		obj_finish(w, OBJ_GONE); /* replaced by someone: not the object we applied */
		return;
	}
	entry_ref(entry, &ref);
	orphan = gc_orphaned(w->delete_option, s(entry, "group"), s(entry, "resource"), s(entry, "namespace"),
			     s(entry, "name"));
	if (orphan || other_record_owns(res->body, w->amw_uid)) {
		if (!w->amw_uid || !kobj_has_owner_ref(res->body, w->amw_uid)) {
			obj_finish(w, OBJ_GONE);
			return;
		}
		o = json_deep_copy(res->body);
		kobj_remove_owner_ref(o, w->amw_uid);
		json_object_del(json_object_get(o, "metadata"), "managedFields");
		log_info("work %s: %s %s/%s %s; only its owner reference is removed", w->name, s(entry, "resource"),
			 s(entry, "namespace"), s(entry, "name"), orphan ? "is orphaned" : "has another owner");
		r = kclient_update(w->e->kc, &ref, o, NULL, obj_written, w, &w->call);
		json_decref(o);
	} else {
		w->substep = OBJ_DELETED;
		log_info("work %s: deleting %s %s/%s", w->name, s(entry, "resource"), s(entry, "namespace"),
			 s(entry, "name"));
		r = kclient_delete(w->e->kc, &ref,
				   &(struct kclient_delete_opts){ .propagation = w->phase == WORK_DELETING
										 ? KCLIENT_PROPAGATION_FOREGROUND
										 : KCLIENT_PROPAGATION_BACKGROUND,
								  .precondition_uid = s(entry, "uid") },
				   obj_deleted, w, &w->call);
	}
	if (r < 0)
		obj_finish(w, OBJ_KEEP);
}

/* Orphan or delete targets[cursor]; then cont(w, OBJ_GONE|OBJ_KEEP). */
static void obj_collect(struct work *w, void (*cont)(struct work *w, int outcome))
{
	json_t *entry = json_array_get(w->targets, w->cursor);
	struct kref ref;
	int r;

	w->cont = cont;
	w->substep = OBJ_NOTHING;
	entry_ref(entry, &ref);
	r = kclient_get(w->e->kc, &ref, obj_got, w, &w->call);
	if (r < 0)
		obj_finish(w, OBJ_KEEP);
}

/* ---------------------------------------------------------------------- */
/* garbage collection after a round                                        */
/* ---------------------------------------------------------------------- */

static void gc_next(struct work *w);

static void gc_one_done(struct work *w, int outcome)
{
	if (outcome == OBJ_KEEP) {
		json_array_append(w->kept, json_array_get(w->targets, w->cursor));
		w->round_errors++;
	}
	w->cursor++;
	gc_next(w);
}

static void gc_next(struct work *w)
{
	void (*cont)(struct work *, int);

	if (w->cursor < json_array_size(w->targets)) {
		obj_collect(w, gc_one_done);
		return;
	}
	json_decref(w->applied);
	w->applied = w->kept;
	w->kept = NULL;
	json_decref(w->targets);
	w->targets = NULL;
	cont = w->gc_cont;
	w->gc_cont = NULL;
	cont(w, 0);
}

void gc_stale(struct work *w, void (*cont)(struct work *w, int r))
{
	json_t *kept = json_array(), *targets = json_array(), *entry, *e2;
	bool unmapped = false;
	size_t i, j;

	for (i = 0; i < w->n; i++) {
		json_t *en = amw_resource_entry(&w->m[i]);

		if (!w->m[i].mapped)
			unmapped = true;
		if (en)
			json_array_append_new(kept, en);
	}
	json_array_foreach(w->applied, i, entry) {
		bool held = false, keep = false;

		for (j = 0; j < w->n; j++) {
			struct manifest *m = &w->m[j];

			if (!m->mapped || m->strategy == ENG_READ_ONLY)
				continue;
			if (strcmp(m->map.group, s(entry, "group")) || strcmp(m->map.resource, s(entry, "resource")) ||
			    strcmp(eng_or(kobj_name(m->obj), ""), s(entry, "name")) ||
			    strcmp(m->map.namespaced ? eng_or(kobj_namespace(m->obj), "") : "", s(entry, "namespace")))
				continue;
			held = true;
			/* the same object (already kept), or one we could not read: keep the entry */
			if (!m->fetched)
				keep = true;
			break;
		}
		if (held) {
			bool dup = false;

			if (!keep)
				continue;
			json_array_foreach(kept, j, e2) {
				if (entry_same_identity(e2, entry))
					dup = true;
			}
			if (!dup)
				json_array_append(kept, entry);
			continue;
		}
		if (unmapped || rollout_protects(w, s(entry, "group"), s(entry, "resource"), s(entry, "namespace"),
						 s(entry, "name"))) {
			/* a manifest we could not map may be this object, or a rollout still
			 * drains it (its source): collect nothing yet */
			json_array_append(kept, entry);
			continue;
		}
		json_array_append(targets, entry);
	}
	w->kept = kept;
	json_decref(w->targets);
	w->targets = targets;
	w->cursor = 0;
	w->gc_cont = cont;
	gc_next(w);
}

/* ---------------------------------------------------------------------- */
/* deleting a work                                                         */
/* ---------------------------------------------------------------------- */

static void del_begin_fire(uv_timer_t *t);

static void del_retry(struct work *w, const char *why)
{
	uint64_t ms = backoff_next(&w->backoff);

	log_warn("work %s: deletion: %s; retrying in %llu ms", w->name, why, (unsigned long long)ms);
	json_decref(w->targets);
	w->targets = NULL;
	eng_work_timer(w, ms, del_begin_fire);
}

static void del_record_done(struct work *w, int r)
{
	if (r < 0) {
		del_retry(w, "deleting the AppliedManifestWork failed");
		return;
	}
	log_info("work %s (%s): deleted", w->name, w->id);
	eng_report_deleted(w, w->generation);
	eng_work_free(w);
}

static void del_record(struct work *w)
{
	const char *policy = json_string_value(json_object_get(w->delete_option, "propagationPolicy"));
	bool orphan = policy && strcmp(policy, "Foreground");

	amw_delete(w, orphan, del_record_done);
}

static void del_poll(struct work *w);

static void del_poll_fire(uv_timer_t *t)
{
	struct work *w = t->data;

	w->cursor = 0;
	del_poll(w);
}

static void del_polled(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;
	json_t *entry = json_array_get(w->targets, w->cursor);
	bool gone;

	w->call = NULL;
	gone = (res->r != 0 && res->err && res->err->reason == KCLIENT_NOT_FOUND) ||
	       (res->r == 0 && strcmp(eng_or(kobj_uid(res->body), ""), s(entry, "uid")));
	if (gone) {
		json_array_remove(w->targets, w->cursor);
	} else {
		if (res->r != 0)
			eng_count_error(w->e);
		w->cursor++;
	}
	del_poll(w);
}

/* Wait until every deleted target is gone. */
static void del_poll(struct work *w)
{
	struct kref ref;
	char *msg;
	int r;

	if (!json_array_size(w->targets)) {
		del_record(w);
		return;
	}
	if (w->cursor >= json_array_size(w->targets)) {
		msg = xasprintf("waiting for %zu deleted resources to disappear (finalizers or dependents), "
				"first %s %s/%s",
				json_array_size(w->targets), s(json_array_get(w->targets, 0), "resource"),
				s(json_array_get(w->targets, 0), "namespace"),
				s(json_array_get(w->targets, 0), "name"));
		if (w->status) {
			feedback_compute_deleting(w, msg);
			eng_status_changed(w);
		}
		free(msg);
		eng_work_timer(w, ENG_DELETE_POLL_MS, del_poll_fire);
		return;
	}
	entry_ref(json_array_get(w->targets, w->cursor), &ref);
	r = kclient_get(w->e->kc, &ref, del_polled, w, &w->call);
	if (r < 0)
		del_retry(w, "cannot read a deleted object");
}

static void del_next(struct work *w);

static void del_one_done(struct work *w, int outcome)
{
	if (outcome == OBJ_KEEP) {
		w->round_errors++;
		w->cursor++;
	} else if (w->substep != OBJ_DELETED) {
		/* orphaned, owned by another record or already gone: nothing to wait for */
		json_array_remove(w->targets, w->cursor);
	} else {
		w->cursor++;
	}
	del_next(w);
}

static void del_next(struct work *w)
{
	if (w->cursor < json_array_size(w->targets)) {
		obj_collect(w, del_one_done);
		return;
	}
	if (w->round_errors) {
		del_retry(w, "some resources could not be deleted");
		return;
	}
	w->cursor = 0;
	del_poll(w);
}

static void del_loaded(struct work *w, int r)
{
	json_t *targets = json_array(), *entry, *t;
	size_t i, j;

	if (r < 0) {
		del_retry(w, "reading the AppliedManifestWork failed");
		return;
	}
	json_array_foreach(w->applied, i, entry)
		json_array_append(targets, entry);
	for (i = 0; i < w->n; i++) {
		json_t *en = amw_resource_entry(&w->m[i]);
		bool dup = false;

		if (!en)
			continue;
		json_array_foreach(targets, j, t) {
			if (!strcmp(s(t, "uid"), s(en, "uid")))
				dup = true;
		}
		if (dup)
			json_decref(en);
		else
			json_array_append_new(targets, en);
	}
	json_decref(w->targets);
	w->targets = targets;
	w->cursor = 0;
	w->round_errors = 0;
	del_next(w);
}

static void del_begin_fire(uv_timer_t *t)
{
	struct work *w = t->data;

	if (w->status && !w->foreign) {
		feedback_compute_deleting(w, "deleting the work's resources");
		eng_status_changed(w);
	}
	amw_load(w, del_loaded);
}

void gc_delete_work(struct work *w)
{
	if (w->phase == WORK_DELETING)
		return;
	if (w->phase == WORK_ROUND) {
		w->delete_requested = true;
		return;
	}
	log_info("work %s (%s): deleting (%s)", w->name, w->id,
		 eng_or(json_string_value(json_object_get(w->delete_option, "propagationPolicy")), "Foreground"));
	rollout_work_deleting(w);
	w->phase = WORK_DELETING;
	w->retry_armed = false;
	json_decref(w->pending_bundle);
	w->pending_bundle = NULL;
	backoff_reset(&w->backoff);
	eng_work_timer(w, 0, del_begin_fire);
}

/* ---------------------------------------------------------------------- */
/* eviction                                                                */
/* ---------------------------------------------------------------------- */

void gc_evict_start(struct work *w)
{
	if (w->phase == WORK_DELETING)
		return;
	if (!w->eviction_start_us) {
		w->eviction_start_us = time_now_us();
		log_warn("work %s (%s): the hub does not know it; evicting after %llu s unless it comes back",
			 w->name, w->id, (unsigned long long)(w->e->eviction_grace_ms / 1000));
	}
	/* a round writes evictionStartTime into the record */
	apply_reconcile(w);
}

void gc_evict_check(struct work_engine *e)
{
	int64_t now = time_now_us();
	struct work *w;

	for (w = e->works; w; w = w->next) {
		if (!w->eviction_start_us || w->phase == WORK_DELETING || w->delete_requested)
			continue;
		if (now - w->eviction_start_us >= (int64_t)e->eviction_grace_ms * 1000) {
			log_warn("work %s (%s): eviction grace period over; deleting", w->name, w->id);
			gc_delete_work(w);
		}
	}
}
