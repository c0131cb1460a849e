/* appdef_render.c - one component rendered with its traits, and the health
 * of a rendered component from its status feedback.
 *
 * A render: the component's properties are validated against its schema
 * (defaults applied), its let[] helpers rendered in order, its checks[]
 * evaluated, its output and outputs rendered; then each trait in order is
 * checked (appliesToWorkloads, conflictsWith, parameters), renders its own
 * let[] and checks[], and patches the main object (strategic merge, JSON
 * merge or JSON patch, common/patch.h), patches extra outputs by name, and
 * adds its own outputs. Templates are rendered by common/tmpl.h against the
 * scope appdef.h describes.
 *
 * Errors name the component or trait field the caller gave
 * ("spec.components[0].traits[1]") and the definition, then what tmpl or
 * the schema said. Everything is pure and bounded by the caps of tmpl.h,
 * patch.h and appdef_int.h; runs on the hub's loop.
 */
#include "appdef_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kobj.h"
#include "patch.h"
#include "tmpl.h"

#define FIELD_MAX 512

static const char *def_word(const struct appdef *d)
{
	return d->kind == APPDEF_COMPONENT ? "component type" : "trait";
}

static void set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, json_string(v ? v : ""));
}

static json_t *context_object(const struct appdef_context *ctx)
{
	json_t *c = json_object();

	set_str(c, "name", ctx ? ctx->name : NULL);
	set_str(c, "namespace", ctx ? ctx->namespace_ : NULL);
	set_str(c, "appName", ctx ? ctx->app_name : NULL);
	set_str(c, "appNamespace", ctx ? ctx->app_namespace : NULL);
	set_str(c, "revision", ctx ? ctx->revision : NULL);
	set_str(c, "appRevision", ctx ? ctx->revision : NULL);
	set_str(c, "cluster", ctx ? ctx->cluster : NULL);
	return c;
}

void appdef_rendered_clear(struct appdef_rendered *r)
{
	if (!r)
		return;
	json_decref(r->workload);
	json_decref(r->outputs);
	json_decref(r->params);
	r->workload = r->outputs = r->params = NULL;
}

int appdef_params(const struct appdef *d, const json_t *properties, const char *field, struct errbuf *err,
		  json_t **ret_params)
{
	json_t *empty = NULL, *res = NULL;
	int r;

	if (!d)
		return errbuf_set(err, -EINVAL, "no definition");
	if (!properties && d->schema && (json_object_get(d->schema, "properties") ||
					 json_object_get(d->schema, "additionalProperties")))
		properties = empty = json_object();
	r = appdef_schema_apply(d->schema, properties, d->name, field ? field : "properties", err, &res);
	json_decref(empty);
	if (r < 0)
		return r;
	*ret_params = res ? res : json_object();
	return 0;
}

/* Render the definition's let[] into scope.let and evaluate its checks[].
 * Errors are prefixed with field and the definition. */
static int render_lets_and_checks(const struct appdef *d, json_t *scope, const char *field, struct errbuf *err)
{
	json_t *lets = json_object(), *e, *v;
	size_t i;
	int r = 0;

	json_object_set_new(scope, "let", lets);
	json_array_foreach(d->lets, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		char path[APPDEF_NAME_MAX + 8];

		snprintf(path, sizeof(path), "let.%s", name);
		v = NULL;
		r = tmpl_render(json_object_get(e, "value"), scope, path, err, &v);
		if (r < 0)
			goto fail;
		if (v)
			json_object_set_new(lets, name, v);
	}
	json_array_foreach(d->checks, i, e) {
		const char *that = json_string_value(json_object_get(e, "that"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		char *text = NULL;
		bool ok;

		v = NULL;
		r = tmpl_eval(that, scope, err, &v);
		if (r < 0) {
			errbuf_prefix(err, "checks[%zu]: %s", i, that);
			goto fail;
		}
		ok = tmpl_truthy(v);
		json_decref(v);
		if (ok)
			continue;
		if (tmpl_render_string(msg, scope, NULL, &text) < 0)
			text = xstrdup(msg);
		r = errbuf_set(err, -EINVAL, "%s: %s", field, text);
		free(text);
		return r;
	}
	return 0;
fail:
	errbuf_prefix(err, "%s: %s \"%s\"", field, def_word(d), d->name);
	return r;
}

/* An object the render produced: an object with apiVersion and kind; its
 * metadata.name defaults to the component's name. */
static int check_object(json_t *o, const struct appdef_context *ctx, const char *what, struct errbuf *err)
{
	json_t *md;

	if (!json_is_object(o))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: rendered %s, not an object", what,
				  json_is_array(o) ? "a list" : json_is_string(o) ? "a string" : "a scalar");
	if (!json_is_string(json_object_get(o, "apiVersion")) || !json_string_length(json_object_get(o, "apiVersion")))
		return errbuf_set(err, -EINVAL, "%s.apiVersion: Required value", what);
	if (!json_is_string(json_object_get(o, "kind")) || !json_string_length(json_object_get(o, "kind")))
		return errbuf_set(err, -EINVAL, "%s.kind: Required value", what);
	md = json_object_get(o, "metadata");
	if (md && !json_is_object(md))
		return errbuf_set(err, -EINVAL, "%s.metadata: Invalid value: must be an object", what);
	if (!md) {
		/* Insert metadata after apiVersion and kind, where people read it. */
		json_t *rest = json_deep_copy(o);
		const char *k;
		json_t *v;

		json_object_clear(o);
		json_object_set(o, "apiVersion", json_object_get(rest, "apiVersion"));
		json_object_set(o, "kind", json_object_get(rest, "kind"));
		md = json_object();
		json_object_set_new(o, "metadata", md);
		json_object_foreach(rest, k, v) {
			if (!json_object_get(o, k))
				json_object_set(o, k, v);
		}
		json_decref(rest);
	}
	if (!json_object_get(md, "name") && ctx && ctx->name && *ctx->name)
		json_object_set_new(md, "name", json_string(ctx->name));
	return 0;
}

static int add_output(json_t *outputs, const char *name, const char *trait, json_t *obj,
		      const struct appdef_context *ctx, const char *what, struct errbuf *err)
{
	json_t *entry;
	int r;

	if (json_array_size(outputs) >= APPDEF_RENDER_OBJECTS_MAX) {
		json_decref(obj);
		return errbuf_set(err, -E2BIG, "%s: Too many: a component renders at most %d extra objects", what,
				  APPDEF_RENDER_OBJECTS_MAX);
	}
	r = check_object(obj, ctx, what, err);
	if (r < 0) {
		json_decref(obj);
		return r;
	}
	entry = json_pack("{s:s}", "name", name);
	if (trait)
		json_object_set_new(entry, "trait", json_string(trait));
	json_object_set_new(entry, "object", obj);
	json_array_append_new(outputs, entry);
	return 0;
}

/* Render d's outputs into the outputs array (trait: the trait's type). */
static int render_outputs(const struct appdef *d, const json_t *scope, const char *trait, json_t *outputs,
			  const struct appdef_context *ctx, const char *field, struct errbuf *err)
{
	const char *k;
	json_t *t, *v, *e;
	char what[APPDEF_NAME_MAX + 32];
	size_t i;
	int r = 0;

	json_object_foreach((json_t *)d->outputs, k, t) {
		snprintf(what, sizeof(what), "outputs.%s", k);
		v = NULL;
		r = tmpl_render(t, scope, what, err, &v);
		if (r < 0)
			goto fail;
		if (!v)
			continue;
		if (json_is_array(v)) {
			json_array_foreach(v, i, e) {
				char item[APPDEF_NAME_MAX + 48];

				snprintf(item, sizeof(item), "outputs.%s[%zu]", k, i);
				r = add_output(outputs, k, trait, json_incref(e), ctx, item, err);
				if (r < 0) {
					json_decref(v);
					goto fail;
				}
			}
			json_decref(v);
		} else {
			r = add_output(outputs, k, trait, v, ctx, what, err);
			if (r < 0)
				goto fail;
		}
	}
	return 0;
fail:
	errbuf_prefix(err, "%s: %s \"%s\"", field, def_word(d), d->name);
	return r;
}

static int apply_patch(const json_t *obj, const json_t *patch, enum appdef_patch_type type, struct errbuf *err,
		       json_t **ret_obj)
{
	switch (type) {
	case APPDEF_PATCH_STRATEGIC:
		if (!json_is_object(patch))
			return errbuf_set(err, -EINVAL, "a strategic merge patch must render an object");
		return patch_strategic(obj, patch, kobj_api_version(obj), kobj_kind(obj), err, ret_obj);
	case APPDEF_PATCH_MERGE:
		return patch_merge(obj, patch, err, ret_obj);
	case APPDEF_PATCH_JSON:
		if (!json_is_array(patch))
			return errbuf_set(err, -EINVAL, "a json patch must render a list of operations");
		return patch_json(obj, patch, err, ret_obj);
	}
	return -EINVAL;
}

/* Whether trait t applies to the rendered workload of cd. */
static bool applies_to(const struct appdef *t, const struct appdef *cd, const json_t *workload)
{
	char type[512];
	const char *wtype = cd->wl_type, *wkind = cd->wl_kind;
	const json_t *e;
	size_t i;

	if (!json_array_size(t->applies))
		return true;
	if (cd->autodetect) {
		wkind = kobj_kind(workload);
		if (appdef_workload_type_for(kobj_api_version(workload), wkind, type, sizeof(type)) == 0)
			wtype = type;
	}
	json_array_foreach(t->applies, i, e) {
		const char *a = json_string_value(e);

		if (!strcmp(a, "*") || !strcmp(a, wtype) || (wkind && !strcmp(a, wkind)))
			return true;
		/* "deployments" (no group) names deployments of any group, as KubeVela matches it. */
		if (!strchr(a, '.') && !strncmp(wtype, a, strlen(a)) && wtype[strlen(a)] == '.')
			return true;
	}
	return false;
}

static void list_join(const json_t *list, char *out, size_t size)
{
	const json_t *e;
	size_t i, n = 0;

	out[0] = '\0';
	json_array_foreach(list, i, e) {
		int w = snprintf(out + n, size - n, "%s%s", n ? ", " : "", json_string_value(e));

		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
}

static int check_trait_use(const struct appdef *cd, const struct appdef_trait_use *traits, size_t ntraits, size_t k,
			   const json_t *workload, struct errbuf *err)
{
	const struct appdef_trait_use *tu = &traits[k];
	const struct appdef *t = tu->def;
	const char *field = tu->field ? tu->field : "trait";
	char list[256];
	size_t j;

	if (t->kind != APPDEF_TRAIT)
		return errbuf_set(err, -EINVAL, "%s.type: Invalid value: \"%s\" is a component type, not a trait", field,
				  t->name);
	if (!applies_to(t, cd, workload)) {
		list_join(t->applies, list, sizeof(list));
		return errbuf_set(err, -EINVAL,
				  "%s: trait \"%s\" does not apply to workload %s %s (appliesToWorkloads: %s)", field, t->name,
				  kobj_api_version(workload), kobj_kind(workload), list);
	}
	for (j = 0; j < ntraits; j++) {
		const json_t *e;
		size_t i;

		if (j == k || !traits[j].def)
			continue;
		json_array_foreach(t->conflicts, i, e) {
			if (!strcmp(json_string_value(e), traits[j].def->name))
				return errbuf_set(err, -EINVAL,
						  "%s: trait \"%s\" conflicts with trait \"%s\" (%s): they cannot be used "
						  "together (conflictsWith)", field, t->name, traits[j].def->name,
						  traits[j].field ? traits[j].field : "another trait");
		}
	}
	return 0;
}

/* name -> object of the outputs so far (a later output of the same name wins). */
static json_t *outputs_map(const json_t *outputs)
{
	json_t *m = json_object(), *e;
	size_t i;

	json_array_foreach(outputs, i, e) {
		json_object_set(m, json_string_value(json_object_get(e, "name")), json_object_get(e, "object"));
	}
	return m;
}

static int render_trait(const struct appdef *cd, const struct appdef_trait_use *traits, size_t ntraits, size_t k,
			const struct appdef_context *ctx, json_t **workload, json_t *outputs, struct errbuf *err)
{
	const struct appdef_trait_use *tu = &traits[k];
	const struct appdef *t = tu->def;
	char field[FIELD_MAX], pfield[FIELD_MAX + 16];
	json_t *params = NULL, *scope = NULL, *ctxo, *patch = NULL, *res = NULL, *e;
	size_t i, p;
	int r;

	snprintf(field, sizeof(field), "%s", tu->field ? tu->field : "trait");
	r = check_trait_use(cd, traits, ntraits, k, *workload, err);
	if (r < 0)
		goto out;
	snprintf(pfield, sizeof(pfield), "%s.properties", field);
	r = appdef_params(t, tu->properties, pfield, err, &params);
	if (r < 0)
		goto out;
	ctxo = context_object(ctx);
	json_object_set(ctxo, "output", *workload);
	json_object_set_new(ctxo, "outputs", outputs_map(outputs));
	scope = json_pack("{s:O, s:o}", "parameter", params, "context", ctxo);
	r = render_lets_and_checks(t, scope, field, err);
	if (r < 0)
		goto out;
	if (t->has_patch) {
		r = tmpl_render(t->patch.tmpl, scope, "patch", err, &patch);
		if (r < 0)
			goto fail;
		if (patch) {
			r = apply_patch(*workload, patch, t->patch.type, err, &res);
			if (r < 0) {
				errbuf_prefix(err, "patch");
				goto fail;
			}
			r = check_object(res, ctx, "patch", err);
			if (r < 0)
				goto fail;
			json_decref(*workload);
			*workload = res;
			res = NULL;
			/* Later templates of this trait see the patched object. */
			json_object_set(ctxo, "output", *workload);
		}
	}
	for (p = 0; p < t->npatch_outputs; p++) {
		const struct appdef_named_patch *np = &t->patch_outputs[p];
		char what[APPDEF_NAME_MAX + 32];

		snprintf(what, sizeof(what), "patchOutputs.%s", np->name);
		json_decref(patch);
		patch = NULL;
		r = tmpl_render(np->patch.tmpl, scope, what, err, &patch);
		if (r < 0)
			goto fail;
		if (!patch)
			continue;
		json_array_foreach(outputs, i, e) {
			json_t *obj = json_object_get(e, "object");

			if (strcmp(json_string_value(json_object_get(e, "name")), np->name))
				continue;
			r = apply_patch(obj, patch, np->patch.type, err, &res);
			if (r < 0) {
				errbuf_prefix(err, "%s", what);
				goto fail;
			}
			r = check_object(res, ctx, what, err);
			if (r < 0)
				goto fail;
			json_object_set_new(e, "object", res);
			res = NULL;
		}
	}
	r = render_outputs(t, scope, t->name, outputs, ctx, field, err);
	goto out;
fail:
	errbuf_prefix(err, "%s: trait \"%s\"", field, t->name);
out:
	json_decref(res);
	json_decref(patch);
	json_decref(scope);
	json_decref(params);
	return r;
}

int appdef_render(const struct appdef *cd, const json_t *properties, const char *field,
		  const struct appdef_trait_use *traits, size_t ntraits, const struct appdef_context *ctx,
		  struct errbuf *err, struct appdef_rendered *ret)
{
	char pfield[FIELD_MAX + 16], fbuf[FIELD_MAX];
	json_t *params = NULL, *scope = NULL, *workload = NULL, *outputs = NULL;
	size_t k;
	int r;

	if (!cd || !ret || (ntraits && !traits))
		return errbuf_set(err, -EINVAL, "no definition to render");
	snprintf(fbuf, sizeof(fbuf), "%s", field ? field : "component");
	if (cd->kind != APPDEF_COMPONENT)
		return errbuf_set(err, -EINVAL, "%s.type: Invalid value: \"%s\" is a trait, not a component type", fbuf,
				  cd->name);
	for (k = 0; k < ntraits; k++)
		if (!traits[k].def)
			return errbuf_set(err, -EINVAL, "%s: no trait definition", traits[k].field ? traits[k].field : fbuf);
	snprintf(pfield, sizeof(pfield), "%s.properties", fbuf);
	r = appdef_params(cd, properties, pfield, err, &params);
	if (r < 0)
		goto out;
	scope = json_pack("{s:O, s:o}", "parameter", params, "context", context_object(ctx));
	r = render_lets_and_checks(cd, scope, fbuf, err);
	if (r < 0)
		goto out;
	r = tmpl_render(cd->output, scope, "output", err, &workload);
	if (r < 0)
		goto fail;
	if (!workload) {
		r = errbuf_set(err, -EINVAL, "output: the main object's template rendered nothing");
		goto fail;
	}
	r = check_object(workload, ctx, "output", err);
	if (r < 0)
		goto fail;
	if (!cd->autodetect &&
	    (strcmp(kobj_api_version(workload), cd->wl_api_version) || strcmp(kobj_kind(workload), cd->wl_kind))) {
		r = errbuf_set(err, -EINVAL, "output: rendered %s %s but spec.workload.definition says %s %s",
			       kobj_api_version(workload), kobj_kind(workload), cd->wl_api_version, cd->wl_kind);
		goto fail;
	}
	outputs = json_array();
	r = render_outputs(cd, scope, NULL, outputs, ctx, fbuf, err);
	if (r < 0)
		goto out;
	for (k = 0; k < ntraits; k++) {
		r = render_trait(cd, traits, ntraits, k, ctx, &workload, outputs, err);
		if (r < 0)
			goto out;
	}
	ret->workload = workload;
	ret->outputs = outputs;
	ret->params = params;
	workload = outputs = params = NULL;
	r = 0;
	goto out;
fail:
	errbuf_prefix(err, "%s: %s \"%s\"", fbuf, def_word(cd), cd->name);
out:
	json_decref(workload);
	json_decref(outputs);
	json_decref(params);
	json_decref(scope);
	return r;
}

/* The feedback values array as {name: value}. */
static json_t *feedback_object(const json_t *values)
{
	json_t *o = json_object(), *e;
	size_t i;

	json_array_foreach(values, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const json_t *fv = json_object_get(e, "fieldValue");
		const char *type = json_string_value(json_object_get(fv, "type"));
		json_t *v = NULL;

		if (i >= APPDEF_FEEDBACK_VALUES_MAX)
			break;
		if (!name || !type)
			continue;
		if (!strcmp(type, "Integer") && json_is_integer(json_object_get(fv, "integer")))
			v = json_incref(json_object_get(fv, "integer"));
		else if (!strcmp(type, "String") && json_is_string(json_object_get(fv, "string")))
			v = json_incref(json_object_get(fv, "string"));
		else if (!strcmp(type, "Boolean") && json_is_boolean(json_object_get(fv, "boolean")))
			v = json_incref(json_object_get(fv, "boolean"));
		else if (!strcmp(type, "JsonRaw") && json_is_string(json_object_get(fv, "jsonRaw"))) {
			const json_t *raw = json_object_get(fv, "jsonRaw");

			/* The agent caps JsonRaw at 1024 bytes; refuse more here too. */
			if (json_string_length(raw) <= 4096)
				v = json_loadb(json_string_value(raw), json_string_length(raw), JSON_DECODE_ANY, NULL);
			if (!v)
				v = json_incref((json_t *)raw);
		}
		if (v)
			json_object_set_new(o, name, v);
	}
	return o;
}

int appdef_health(const struct appdef *cd, const json_t *params, const struct appdef_context *ctx,
		  const json_t *workload, const json_t *feedback_values, bool *ret_healthy, char **ret_message)
{
	struct errbuf err = {{0}};
	json_t *scope, *v = NULL;
	char *message = NULL;
	bool healthy = true, failed = false;
	int r;

	if (!cd || !ret_healthy || !ret_message)
		return -EINVAL;
	scope = json_pack("{s:o, s:o, s:o}", "context", context_object(ctx), "status", feedback_object(feedback_values),
			  "parameter", params ? json_incref((json_t *)params) : json_object());
	if (workload)
		json_object_set(scope, "output", (json_t *)workload);
	if (cd->healthy) {
		r = tmpl_eval(cd->healthy, scope, &err, &v);
		if (r < 0) {
			healthy = false;
			failed = true;
			message = xasprintf("health rule: %s", err.msg);
		} else {
			healthy = tmpl_truthy(v);
		}
		json_decref(v);
	}
	if (!failed) {
		if (!cd->message)
			message = xstrdup("");
		else if (tmpl_render_string(cd->message, scope, &err, &message) < 0)
			message = xasprintf("status message: %s", err.msg);
	}
	json_decref(scope);
	*ret_healthy = healthy;
	*ret_message = message;
	return 0;
}
