/* kapi_api.c - the internal API controllers use (see kapi.h).
 *
 * Thin wrappers over the engine in kapi_objects.c: look the resource up,
 * build an operation context marked internal (no HTTP request), run the same
 * code path as the REST verbs, and hand back private deep copies so that a
 * controller can never modify a stored (shared, immutable) object.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kapi_int.h"
#include "kobj.h"
#include "selector.h"

static struct kapi_resource *lookup(struct kapi_server *s, const char *group, const char *resource,
				    struct errbuf *err)
{
	struct kapi_resource *r = kapi_resource_find(s, group ? group : "", resource ? resource : "");

	if (!r)
		errbuf_set(err, -ENOENT, "the server could not find the requested resource (%s%s%s)",
			   resource ? resource : "", group && *group ? "." : "", group ? group : "");
	return r;
}

static void ctx_init(struct kapi_ctx *c, struct kapi_server *s, struct kapi_resource *res,
		     const struct kapi_write_opts *opts, struct kapi_err *e)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->res = res;
	c->version = res->def.version;
	c->manager = opts && opts->field_manager && *opts->field_manager ? opts->field_manager : KAPI_DEFAULT_MANAGER;
	c->dry_run = opts && opts->dry_run;
	c->force = opts && opts->force;
	c->skip_record = opts && opts->skip_managed_fields;
	c->internal = true;
	c->err = e;
}

/* Copy the engine's message out, release the error, hand the stored object
 * back as a private copy. */
static int finish(struct kapi_err *e, struct errbuf *err, int r, json_t *stored, json_t **ret_obj)
{
	if (r < 0) {
		if (err)
			errbuf_set(err, r, "%s", e->eb.msg);
	} else if (ret_obj) {
		*ret_obj = json_deep_copy(stored);
	}
	json_decref(stored);
	kapi_err_clear(e);
	return r;
}

/* See kapi.h. */
int kapi_get(struct kapi_server *s, const char *group, const char *resource, const char *ns, const char *name,
	     struct errbuf *err, json_t **ret_obj)
{
	struct kapi_resource *res = lookup(s, group, resource, err);
	json_t *obj = NULL;

	if (!res)
		return -ENOENT;
	if (!name || s->store->ops->get(s->store, res->rkey, res->def.namespaced && ns ? ns : "", name, &obj) < 0) {
		char q[300];

		return errbuf_set(err, -ENOENT, "%s \"%s\" not found", kapi_qualified_resource(&res->def, q),
				  name ? name : "");
	}
	*ret_obj = json_deep_copy(obj);
	json_decref(obj);
	return 0;
}

struct api_walk {
	struct label_selector *ls;
	struct field_selector *fs;
	json_t *items;
	kapi_foreach_fn fn;
	void *data;
};

static int list_cb(void *data, const char *ns, const char *name, json_t *obj)
{
	struct api_walk *w = data;

	if (w->ls && !label_selector_matches(w->ls, kobj_labels(obj)))
		return 0;
	if (w->fs && !field_selector_matches(w->fs, obj))
		return 0;
	json_array_append_new(w->items, json_deep_copy(obj));
	return 0;
}

/* See kapi.h. */
int kapi_list(struct kapi_server *s, const char *group, const char *resource, const char *ns,
	      const char *label_selector, const char *field_selector, struct errbuf *err, json_t **ret_items)
{
	struct kapi_resource *res = lookup(s, group, resource, err);
	struct api_walk w = {0};
	int r;

	if (!res)
		return -ENOENT;
	r = label_selector_parse(label_selector, err, &w.ls);
	if (r < 0)
		goto out;
	if (field_selector && *field_selector) {
		r = field_selector_parse(field_selector, err, &w.fs);
		if (r < 0)
			goto out;
	}
	w.items = json_array();
	s->store->ops->list(s->store, res->rkey, res->def.namespaced ? (ns && *ns ? ns : NULL) : "", NULL, list_cb,
			    &w);
	*ret_items = w.items;
	w.items = NULL;
	r = 0;
out:
	json_decref(w.items);
	label_selector_free(w.ls);
	field_selector_free(w.fs);
	return r;
}

static int foreach_cb(void *data, const char *ns, const char *name, json_t *obj)
{
	struct api_walk *w = data;

	return w->fn(w->data, obj);
}

/* See kapi.h. */
int kapi_foreach(struct kapi_server *s, const char *group, const char *resource, const char *ns,
		 kapi_foreach_fn fn, void *data)
{
	struct kapi_resource *res = lookup(s, group, resource, NULL);
	struct api_walk w = {0};

	if (!res)
		return -ENOENT;
	w.fn = fn;
	w.data = data;
	return s->store->ops->list(s->store, res->rkey, res->def.namespaced ? (ns && *ns ? ns : NULL) : "", NULL,
				   foreach_cb, &w);
}

/* See kapi.h. */
int kapi_create(struct kapi_server *s, const char *group, const char *resource, const char *ns, const json_t *obj,
		const struct kapi_write_opts *opts, struct errbuf *err, json_t **ret_obj)
{
	struct kapi_resource *res = lookup(s, group, resource, err);
	struct kapi_err e = {0};
	struct kapi_ctx c;
	json_t *stored = NULL;
	int r;

	if (!res)
		return -ENOENT;
	if (!json_is_object(obj))
		return errbuf_set(err, -EINVAL, "the object must be a JSON object");
	ctx_init(&c, s, res, opts, &e);
	r = kapi_do_create(&c, ns && *ns ? ns : NULL, json_deep_copy(obj), &stored);
	return finish(&e, err, r, stored, ret_obj);
}

static int do_update(struct kapi_server *s, const char *group, const char *resource, const json_t *obj,
		     const char *sub, const struct kapi_write_opts *opts, struct errbuf *err, json_t **ret_obj)
{
	struct kapi_resource *res = lookup(s, group, resource, err);
	struct kapi_err e = {0};
	struct kapi_ctx c;
	json_t *stored = NULL;
	const char *name;
	int r;

	if (!res)
		return -ENOENT;
	if (!json_is_object(obj) || !(name = kobj_name(obj)))
		return errbuf_set(err, -EINVAL, "metadata.name: Required value");
	if (sub && !res->def.has_status)
		return errbuf_set(err, -EOPNOTSUPP, "%s has no status subresource", res->def.resource);
	ctx_init(&c, s, res, opts, &e);
	r = kapi_do_update(&c, kobj_namespace(obj), name, sub, json_deep_copy(obj), false, &stored);
	return finish(&e, err, r, stored, ret_obj);
}

/* See kapi.h. */
int kapi_update(struct kapi_server *s, const char *group, const char *resource, const json_t *obj,
		const struct kapi_write_opts *opts, struct errbuf *err, json_t **ret_obj)
{
	return do_update(s, group, resource, obj, NULL, opts, err, ret_obj);
}

/* See kapi.h. */
int kapi_update_status(struct kapi_server *s, const char *group, const char *resource, const json_t *obj,
		       const struct kapi_write_opts *opts, struct errbuf *err, json_t **ret_obj)
{
	return do_update(s, group, resource, obj, "status", opts, err, ret_obj);
}

/* See kapi.h. */
int kapi_patch(struct kapi_server *s, const char *group, const char *resource, const char *ns, const char *name,
	       const char *subresource, enum kapi_patch_type type, const json_t *patch,
	       const struct kapi_write_opts *opts, struct errbuf *err, json_t **ret_obj)
{
	struct kapi_resource *res = lookup(s, group, resource, err);
	struct kapi_err e = {0};
	struct kapi_ctx c;
	json_t *stored = NULL;
	int r;

	if (!res)
		return -ENOENT;
	if (!name || !patch)
		return errbuf_set(err, -EINVAL, "a name and a patch are required");
	if (subresource && (strcmp(subresource, "status") || !res->def.has_status))
		return errbuf_set(err, -EOPNOTSUPP, "subresource %s is not served by %s", subresource,
				  res->def.resource);
	ctx_init(&c, s, res, opts, &e);
	r = kapi_do_patch(&c, ns, name, subresource, type, patch, &stored);
	if (r == 2)
		r = 1;
	return finish(&e, err, r, stored, ret_obj);
}

/* See kapi.h. */
int kapi_delete(struct kapi_server *s, const char *group, const char *resource, const char *ns, const char *name,
		const struct kapi_delete_opts *opts, struct errbuf *err, json_t **ret_obj)
{
	struct kapi_resource *res = lookup(s, group, resource, err);
	struct kapi_err e = {0};
	struct kapi_ctx c;
	struct kapi_write_opts wo = {0};
	json_t *stored = NULL;
	int r;

	if (!res)
		return -ENOENT;
	if (!name)
		return errbuf_set(err, -EINVAL, "a name is required");
	wo.dry_run = opts && opts->dry_run;
	ctx_init(&c, s, res, &wo, &e);
	r = kapi_do_delete(&c, ns, name, opts, &stored);
	return finish(&e, err, r, stored, ret_obj);
}
