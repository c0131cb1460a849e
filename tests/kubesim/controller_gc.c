/* controller_gc.c - owner-reference garbage collection for nave-kubesim.
 *
 * What kube-controller-manager's garbage collector does, driven by the
 * server's change stream instead of a graph of informers:
 *   - an index owner uid -> dependents ("group|resource|ns|name"), kept from
 *     every committed change's ownerReferences;
 *   - background: when an owner is gone, each dependent is checked ("gcd"):
 *     if none of its owners still exists (same uid) it is deleted, else the
 *     dangling references are removed; a new object whose owners do not
 *     exist is collected the same way;
 *   - foreground: an owner marked with the foregroundDeletion finalizer
 *     ("gco") has its dependents deleted (in foreground themselves when they
 *     have dependents); once no dependent with blockOwnerDeletion remains, the
 *     finalizer is removed and the server deletes the owner;
 *   - orphan: an owner marked with the orphan finalizer has its reference
 *     removed from every dependent, then the finalizer is removed.
 * Owners of kinds the server does not serve are never considered missing.
 */
#include "controllers_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kobj.h"
#include "log.h"

#define GC_SAFETY_REQUEUE_MS 1000

static json_t *owner_refs(const json_t *obj)
{
	json_t *r = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");

	return json_is_array(r) ? r : NULL;
}

static bool has_finalizer(const json_t *obj, const char *f)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), f))
			return true;
	}
	return false;
}

static bool is_deleting(const json_t *o)
{
	return json_object_get(json_object_get(o, "metadata"), "deletionTimestamp") != NULL;
}

static bool refs_have_uid(const json_t *refs, const char *uid)
{
	size_t i;
	json_t *r;

	json_array_foreach(refs, i, r) {
		const char *u = json_string_value(json_object_get(r, "uid"));

		if (u && !strcmp(u, uid))
			return true;
	}
	return false;
}

/* The key of an owner named by ref, seen from a dependent in ns. */
static char *owner_key(struct sim_controllers *ctl, const char *prefix, const json_t *ref, const char *ns)
{
	const char *av = json_string_value(json_object_get(ref, "apiVersion"));
	const char *kind = json_string_value(json_object_get(ref, "kind"));
	const char *name = json_string_value(json_object_get(ref, "name"));
	const struct kapi_resource_def *def;

	if (!av || !kind || !name)
		return NULL;
	def = kapi_server_find_kind(ctl->srv, av, kind);
	if (!def)
		return NULL;
	return xasprintf("%s|%s|%s|%s|%s", prefix, def->group, def->resource, def->namespaced ? ns : "", name);
}

bool sim_gc_has_dependents(const struct sim_controllers *ctl, const char *uid)
{
	json_t *deps = json_object_get(ctl->owners, uid);

	return deps && json_object_size(deps) > 0;
}

void sim_gc_observe(struct sim_controllers *ctl, enum kapi_event_type type, const struct kapi_resource_def *def,
		    const json_t *old_obj, const json_t *new_obj)
{
	const json_t *obj = new_obj ? new_obj : old_obj;
	json_t *old_refs = owner_refs(old_obj), *new_refs = type == KAPI_EVENT_DELETED ? NULL : owner_refs(new_obj);
	const char *ns = kobj_namespace(obj), *name = kobj_name(obj), *uid = kobj_uid(obj);
	char *dep;
	size_t i;
	json_t *r;

	if (!name || !uid)
		return;
	if (!ns)
		ns = "";
	dep = xasprintf("%s|%s|%s|%s", def->group, def->resource, ns, name);

	/* The index: drop references that went away, add the current ones. */
	json_array_foreach(old_refs, i, r) {
		const char *ou = json_string_value(json_object_get(r, "uid"));
		json_t *deps;

		if (!ou || refs_have_uid(new_refs, ou))
			continue;
		deps = json_object_get(ctl->owners, ou);
		json_object_del(deps, dep);
		if (deps && json_object_size(deps) == 0)
			json_object_del(ctl->owners, ou);
	}
	json_array_foreach(new_refs, i, r) {
		const char *ou = json_string_value(json_object_get(r, "uid"));
		json_t *deps;

		if (!ou)
			continue;
		deps = json_object_get(ctl->owners, ou);
		if (!deps) {
			deps = json_object();
			json_object_set_new(ctl->owners, ou, deps);
		}
		json_object_set_new(deps, dep, json_true());
		/* A new dependent of an owner we never saw: check it exists. */
		if (type == KAPI_EVENT_ADDED && !json_object_get(ctl->live, ou))
			sim_enqueuef(ctl, "gcd|%s", dep);
	}

	if (type == KAPI_EVENT_DELETED) {
		json_t *deps = json_object_get(ctl->owners, uid);
		const char *k;
		json_t *v;

		json_object_del(ctl->gc_waiting, uid);
		/* Its dependents may now be orphans. */
		json_object_foreach(deps, k, v)
			sim_enqueuef(ctl, "gcd|%s", k);
		/* An owner waiting for its dependents to go may be done. */
		json_array_foreach(old_refs, i, r) {
			const char *ou = json_string_value(json_object_get(r, "uid"));
			char *key;

			if (!ou || !json_object_get(ctl->gc_waiting, ou))
				continue;
			key = owner_key(ctl, "gco", r, ns);
			if (key)
				sim_enqueue(ctl, key);
			free(key);
		}
	} else if (is_deleting(new_obj) &&
		   (has_finalizer(new_obj, "foregroundDeletion") || has_finalizer(new_obj, "orphan"))) {
		json_object_set_new(ctl->gc_waiting, uid, json_true());
		sim_enqueuef(ctl, "gco|%s", dep);
	}
	free(dep);
}

/* Remove finalizer f from obj (a private copy) and update it. */
static int drop_finalizer(struct sim_controllers *ctl, const char *group, const char *resource, json_t *obj,
			  const char *f)
{
	json_t *md = json_object_get(obj, "metadata"), *fin = json_object_get(md, "finalizers"), *nfin = json_array();
	struct errbuf err;
	size_t i;
	json_t *v;
	int r;

	json_array_foreach(fin, i, v) {
		if (!json_is_string(v) || strcmp(json_string_value(v), f))
			json_array_append(nfin, v);
	}
	json_object_set_new(md, "finalizers", nfin);
	errbuf_clear(&err);
	r = kapi_update(ctl->srv, group, resource, obj, &sim_kcm_opts, &err, NULL);
	if (r < 0 && r != -EBUSY && r != -ENOENT)
		log_debug("kubesim: gc: dropping %s from %s: %s", f, kobj_name(obj), err.msg);
	return r < 0 ? r : 0;
}

/* Parse "group|resource|ns|name" (a copy in buf) into parts. */
static bool parse_dep(const char *dep, char *buf, size_t len, char **parts)
{
	size_t n = strlen(dep);
	int k = 0;
	char *p;

	if (n >= len)
		return false;
	memcpy(buf, dep, n + 1);
	parts[k++] = buf;
	for (p = buf; *p && k < 4; p++) {
		if (*p == '|') {
			*p = '\0';
			parts[k++] = p + 1;
		}
	}
	return k == 4;
}

int sim_gc_owner(struct sim_controllers *ctl, const char *group, const char *resource, const char *ns,
		 const char *name)
{
	json_t *owner = NULL, *deps = NULL;
	const char *uid, *k;
	size_t blocking = 0;
	json_t *v;
	int r;

	r = kapi_get(ctl->srv, group, resource, ns[0] ? ns : NULL, name, NULL, &owner);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	uid = kobj_uid(owner);
	if (!uid || !is_deleting(owner))
		goto out;
	/* Work on a snapshot: our own writes change the index. */
	deps = json_deep_copy(json_object_get(ctl->owners, uid));

	if (has_finalizer(owner, "orphan")) {
		json_object_foreach(deps, k, v) {
			char buf[1100], *p[4];
			json_t *d = NULL;

			if (!parse_dep(k, buf, sizeof(buf), p))
				continue;
			if (kapi_get(ctl->srv, p[0], p[1], p[2][0] ? p[2] : NULL, p[3], NULL, &d) < 0)
				continue;
			if (kobj_remove_owner_ref(d, uid)) {
				if (json_array_size(owner_refs(d)) == 0)
					json_object_del(json_object_get(d, "metadata"), "ownerReferences");
				r = kapi_update(ctl->srv, p[0], p[1], d, &sim_kcm_opts, NULL, NULL);
				if (r < 0 && r != -ENOENT) {
					json_decref(d);
					goto out;
				}
			}
			json_decref(d);
		}
		r = drop_finalizer(ctl, group, resource, owner, "orphan");
		goto out;
	}

	if (has_finalizer(owner, "foregroundDeletion")) {
		json_object_foreach(deps, k, v) {
			char buf[1100], *p[4];
			json_t *d = NULL, *ref = NULL, *refs, *rv;
			size_t i;

			if (!parse_dep(k, buf, sizeof(buf), p))
				continue;
			if (kapi_get(ctl->srv, p[0], p[1], p[2][0] ? p[2] : NULL, p[3], NULL, &d) < 0)
				continue;
			refs = owner_refs(d);
			json_array_foreach(refs, i, rv) {
				const char *u = json_string_value(json_object_get(rv, "uid"));

				if (u && !strcmp(u, uid))
					ref = rv;
			}
			if (!ref) {
				json_decref(d);
				continue;
			}
			if (json_is_true(json_object_get(ref, "blockOwnerDeletion")))
				blocking++;
			if (!is_deleting(d)) {
				struct kapi_delete_opts o = {
					.propagation = sim_gc_has_dependents(ctl, kobj_uid(d)) ? KAPI_PROPAGATE_FOREGROUND
											: KAPI_PROPAGATE_BACKGROUND,
				};

				r = kapi_delete(ctl->srv, p[0], p[1], p[2][0] ? p[2] : NULL, p[3], &o, NULL, NULL);
				if (r < 0 && r != -ENOENT) {
					json_decref(d);
					goto out;
				}
				if (r == 0)
					blocking -= json_is_true(json_object_get(ref, "blockOwnerDeletion"));
			}
			json_decref(d);
		}
		if (blocking == 0) {
			r = drop_finalizer(ctl, group, resource, owner, "foregroundDeletion");
		} else {
			char *key = xasprintf("gco|%s|%s|%s|%s", group, resource, ns, name);

			sim_enqueue_after(ctl, key, GC_SAFETY_REQUEUE_MS);
			free(key);
			r = 0;
		}
	}
out:
	json_decref(deps);
	json_decref(owner);
	return r;
}

int sim_gc_dependent(struct sim_controllers *ctl, const char *group, const char *resource, const char *ns,
		     const char *name)
{
	json_t *d = NULL, *refs, *keep = NULL;
	size_t alive = 0, dangling = 0, i;
	json_t *ref;
	int r;

	r = kapi_get(ctl->srv, group, resource, ns[0] ? ns : NULL, name, NULL, &d);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	refs = owner_refs(d);
	if (!json_array_size(refs) || is_deleting(d))
		goto out;
	keep = json_array();
	json_array_foreach(refs, i, ref) {
		const char *av = json_string_value(json_object_get(ref, "apiVersion"));
		const char *kind = json_string_value(json_object_get(ref, "kind"));
		const char *oname = json_string_value(json_object_get(ref, "name"));
		const char *ouid = json_string_value(json_object_get(ref, "uid"));
		const struct kapi_resource_def *def = av && kind ? kapi_server_find_kind(ctl->srv, av, kind) : NULL;
		json_t *o = NULL;
		int gr;

		if (!def || !oname || !ouid) {
			/* Unknown kind: never collect on its account. */
			alive++;
			json_array_append(keep, ref);
			continue;
		}
		gr = kapi_get(ctl->srv, def->group, def->resource, def->namespaced ? ns : NULL, oname, NULL, &o);
		if (gr == 0 && kobj_uid(o) && !strcmp(kobj_uid(o), ouid)) {
			alive++;
			json_array_append(keep, ref);
		} else if (gr == 0 || gr == -ENOENT) {
			dangling++;
		} else {
			alive++; /* cannot tell: keep */
			json_array_append(keep, ref);
		}
		json_decref(o);
	}
	if (alive == 0) {
		struct kapi_delete_opts o = { .propagation = KAPI_PROPAGATE_BACKGROUND };

		r = kapi_delete(ctl->srv, group, resource, ns[0] ? ns : NULL, name, &o, NULL, NULL);
		r = r < 0 && r != -ENOENT ? r : 0;
	} else if (dangling) {
		json_object_set(json_object_get(d, "metadata"), "ownerReferences", keep);
		r = kapi_update(ctl->srv, group, resource, d, &sim_kcm_opts, NULL, NULL);
		r = r < 0 && r != -ENOENT ? r : 0;
	}
out:
	json_decref(keep);
	json_decref(d);
	return r;
}
