/* kapi_handlers.c - the REST verbs: decode the request, call the engine,
 * encode the answer.
 *
 * What belongs here is HTTP: query parameters (fieldManager, dryRun, force,
 * labelSelector, fieldSelector, limit, continue, propagationPolicy...),
 * request bodies (JSON, or YAML for application/yaml and
 * application/apply-patch+yaml; a cap checked before parsing), content types
 * (415 for unknown patch types), response codes (201 on create, 200
 * otherwise), Tables for kubectl (kapi_table.h), Lists with pagination, the
 * autoscaling/v1 Scale subresource and DeleteOptions. The semantics live in
 * kapi_objects.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "codec.h"
#include "httpd.h"
#include "kapi_int.h"
#include "kapi_table.h"
#include "kobj.h"
#include "patch.h"
#include "selector.h"
#include "timefmt.h"
#include "yaml.h"

#define KAPI_DEFAULT_PAGE 0 /* no limit unless asked */

/* ------------------------------------------------------------------------ */
/* Request decoding                                                          */

/* The field manager: ?fieldManager=, else the User-Agent up to its first '/'
 * (printable characters, at most 128 bytes), as kube-apiserver derives it. */
static void manager_for(struct httpd_req *req, char *out, size_t outlen)
{
	const char *m = httpd_req_arg(req, "fieldManager");
	size_t i, n = 0;

	if (m && *m) {
		snprintf(out, outlen, "%s", m);
		return;
	}
	m = httpd_req_header(req, "user-agent");
	for (i = 0; m && m[i] && m[i] != '/' && n + 1 < outlen && n < KAPI_FIELD_MANAGER_MAX; i++) {
		unsigned char ch = (unsigned char)m[i];

		if (ch < 0x20 || ch == 0x7f)
			continue;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
}

static bool content_type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Parse the body as JSON (or YAML when yaml) into *ret; a BadRequest in e otherwise. */
static int parse_body(struct kapi_server *s, struct httpd_req *req, bool yaml, struct kapi_err *e, json_t **ret)
{
	size_t len = 0;
	const char *body = httpd_req_body(req, &len);
	json_error_t jerr;
	struct errbuf eb = {{0}};
	json_t *v;
	int r;

	if (len > s->cfg.max_body)
		return kapi_err_set(e, -E2BIG, NULL, "Request entity too large: limit is %zu", s->cfg.max_body);
	if (!body || len == 0)
		return kapi_err_set(e, -EBADMSG, NULL, "the request body is empty");
	if (yaml) {
		r = yaml_parse_one(body, len, NULL, &eb, &v);
		if (r < 0)
			return kapi_err_set(e, r == -E2BIG ? -E2BIG : -EBADMSG, NULL,
					    "error converting YAML to JSON: %s", eb.msg);
	} else {
		v = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (!v)
			return kapi_err_set(e, -EBADMSG, NULL,
					    "couldn't get version/kind; json parse error: %s (line %d, column %d)",
					    jerr.text, jerr.line, jerr.column);
	}
	*ret = v;
	return 0;
}

/* The body of a create/update: JSON or YAML; a protobuf or other type is 415. */
static int parse_object_body(struct kapi_server *s, struct httpd_req *req, struct kapi_err *e, json_t **ret)
{
	const char *ct = httpd_req_header(req, "content-type");
	json_t *v;
	int r;

	if (ct && *ct && !content_type_is(ct, "application/json") && !content_type_is(ct, "application/yaml") &&
	    !content_type_is(ct, "*/*"))
		return kapi_err_set(e, -EPROTONOSUPPORT, NULL,
				    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml");
	r = parse_body(s, req, content_type_is(ct, "application/yaml"), e, &v);
	if (r < 0)
		return r;
	if (!json_is_object(v)) {
		json_decref(v);
		return kapi_err_set(e, -EBADMSG, NULL,
				    "couldn't get version/kind; json parse error: the body must be a JSON object");
	}
	*ret = v;
	return 0;
}

static int parse_dry_run(struct httpd_req *req, struct kapi_err *e, bool *ret)
{
	const char *d = httpd_req_arg(req, "dryRun");

	*ret = false;
	if (!d || !*d)
		return 0;
	if (strcmp(d, "All"))
		return kapi_err_set(e, -EBADMSG, NULL, "Invalid dryRun value %s: supported value is \"All\"", d);
	*ret = true;
	return 0;
}

static bool want_table(struct httpd_req *req)
{
	const char *accept = httpd_req_header(req, "accept");

	return accept && kapi_table_wanted(accept);
}

static enum kapi_table_include table_include(struct httpd_req *req)
{
	const char *inc = httpd_req_arg(req, "includeObject");

	if (inc && !strcmp(inc, "None"))
		return KAPI_TABLE_INCLUDE_NONE;
	if (inc && !strcmp(inc, "Object"))
		return KAPI_TABLE_INCLUDE_OBJECT;
	return KAPI_TABLE_INCLUDE_METADATA;
}

static void respond_obj(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt, int code,
			json_t *obj)
{
	json_t *out = kapi_obj_for_version(rt->res, rt->version, obj);

	json_decref(obj);
	kapi_respond_json(req, code, out);
}

static void init_ctx(struct kapi_ctx *c, struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt,
		     struct kapi_err *e, char *manager, size_t mlen)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->res = rt->res;
	c->http = req;
	c->version = rt->version;
	c->err = e;
	manager_for(req, manager, mlen);
	c->manager = manager;
}

/* The query options every write takes: fieldManager (length checked; the
 * name itself was read by init_ctx) and dryRun (into c->dry_run). Returns 0 or
 * a negative errno with c->err set. */
static int check_write_options(struct kapi_ctx *c)
{
	const char *m = httpd_req_arg(c->http, "fieldManager");

	if (m && strlen(m) > KAPI_FIELD_MANAGER_MAX) {
		c->err->no_details = true;
		return kapi_err_set(c->err, -EINVAL, NULL,
				    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: must have at most 128 bytes");
	}
	return parse_dry_run(c->http, c->err, &c->dry_run);
}

/* ------------------------------------------------------------------------ */
/* get / list                                                                */

static void serve_get(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	json_t *obj = NULL;
	const char *ns = rt->res->def.namespaced ? rt->ns : "";

	if (s->store->ops->get(s->store, rt->res->rkey, ns ? ns : "", rt->name, &obj) < 0) {
		kapi_err_not_found(&e, &rt->res->def, rt->name);
		kapi_err_respond(req, &e, &rt->res->def);
		return;
	}
	if (rt->sub && !strcmp(rt->sub, "scale")) {
		json_t *sc = kapi_scale_from(rt->res, obj);

		json_decref(obj);
		kapi_respond_json(req, 200, sc);
		return;
	}
	if (!rt->sub && want_table(req)) {
		json_t *items = json_array(), *t, *o = kapi_obj_for_version(rt->res, rt->version, obj);
		char rvs[24];

		json_array_append_new(items, o);
		snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)kapi_server_rv(s));
		t = kapi_table_build(rt->res->def.group, rt->res->def.kind, items, rt->res->printer_columns, rvs,
				     NULL, table_include(req), time_now_us());
		json_decref(items);
		json_decref(obj);
		kapi_respond_json(req, 200, t);
		return;
	}
	respond_obj(s, req, rt, 200, obj);
}

/* Continue tokens: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<last key>"}. */
static char *continue_encode(uint64_t rv, const char *last_key)
{
	json_t *t = json_pack("{s:s,s:I,s:s}", "v", "meta.k8s.io/v1", "rv", (json_int_t)rv, "start", last_key);
	char *txt = json_dumps(t, JSON_COMPACT), *b64;

	json_decref(t);
	b64 = base64_encode(txt, strlen(txt));
	free(txt);
	return b64;
}

static int continue_decode(const char *tok, char *ret_key, size_t keylen)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	json_t *t;
	const char *start;
	int r = -EINVAL;

	if (strlen(tok) > 2048 || base64_decode(tok, strlen(tok), &raw, &len) < 0)
		return -EINVAL;
	t = json_loadb((const char *)raw, len, 0, NULL);
	free(raw);
	start = json_string_value(json_object_get(t, "start"));
	if (start && strlen(start) < keylen && json_is_integer(json_object_get(t, "rv"))) {
		snprintf(ret_key, keylen, "%s", start);
		r = 0;
	}
	json_decref(t);
	return r;
}

struct list_walk {
	struct kapi_server *s;
	const struct kapi_route *rt;
	struct label_selector *ls;
	struct field_selector *fs;
	json_t *items;      /* owned */
	size_t limit;       /* 0: all */
	bool more;
	char last_key[600];
	json_t *(*map)(const struct kapi_resource *res, const char *version, json_t *obj);
};

static int list_cb(void *data, const char *ns, const char *name, json_t *obj)
{
	struct list_walk *w = data;

	if (!label_selector_matches(w->ls, kobj_labels(obj)))
		return 0;
	if (w->fs && !field_selector_matches(w->fs, obj))
		return 0;
	if (w->limit && json_array_size(w->items) >= w->limit) {
		w->more = true;
		return 1;
	}
	json_array_append_new(w->items, kapi_obj_for_version(w->rt->res, w->rt->version, obj));
	snprintf(w->last_key, sizeof(w->last_key), "%s/%s", ns, name);
	return 0;
}

/* List the collection (shared with deletecollection). On success *ret_items
 * holds the matches; ret_continue gets a token when limit cut the list. */
static int collect(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt, struct kapi_err *e,
		   size_t limit, const char *cont, json_t **ret_items, char **ret_continue)
{
	struct list_walk w = {0};
	struct errbuf eb = {{0}};
	const char *ns = rt->res->def.namespaced ? rt->ns : "";
	const char *exact;
	char after[600];
	int r;

	w.s = s;
	w.rt = rt;
	r = label_selector_parse(httpd_req_arg(req, "labelSelector"), &eb, &w.ls);
	if (r < 0) {
		r = kapi_err_set(e, -EBADMSG, NULL, "unable to parse requirement: %s", eb.msg);
		goto out;
	}
	{
		const char *fsel = httpd_req_arg(req, "fieldSelector");

		if (fsel && *fsel) {
			r = field_selector_parse(fsel, &eb, &w.fs);
			if (r < 0) {
				r = kapi_err_set(e, -EBADMSG, NULL, "invalid field selector: %s", eb.msg);
				goto out;
			}
		}
	}
	w.items = json_array();
	w.limit = limit;
	if (cont && *cont && continue_decode(cont, after, sizeof(after)) < 0) {
		r = kapi_err_set(e, -EBADMSG, NULL, "continue key is not valid: illegal base64 data or malformed token");
		goto out;
	}
	exact = w.fs ? field_selector_exact(w.fs, "metadata.name") : NULL;
	if (exact && !(cont && *cont)) {
		/* kubectl's rollout status / delete --wait: one key, no scan */
		if (ns) {
			json_t *obj = NULL;

			if (s->store->ops->get(s->store, rt->res->rkey, ns, exact, &obj) == 0) {
				list_cb(&w, ns, exact, obj);
				json_decref(obj);
			}
		} else {
			s->store->ops->list(s->store, rt->res->rkey, NULL, NULL, list_cb, &w);
		}
	} else {
		s->store->ops->list(s->store, rt->res->rkey, ns, cont && *cont ? after : NULL, list_cb, &w);
	}
	*ret_items = w.items;
	w.items = NULL;
	if (ret_continue)
		*ret_continue = w.more ? continue_encode(kapi_server_rv(s), w.last_key) : NULL;
	r = 0;
out:
	json_decref(w.items);
	label_selector_free(w.ls);
	field_selector_free(w.fs);
	return r;
}

/* A new List object for the route's resource: kind (the list kind) and
 * apiVersion (group/version, or the version for the core group). Caller owns. */
static json_t *new_list(const struct kapi_route *rt)
{
	json_t *doc = json_object();

	json_object_set_new(doc, "kind", json_string(rt->res->def.list_kind));
	if (*rt->res->def.group)
		json_object_set_new(doc, "apiVersion", json_sprintf("%s/%s", rt->res->def.group, rt->version));
	else
		json_object_set_new(doc, "apiVersion", json_string(rt->version));
	return doc;
}

static void serve_list(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	json_t *items = NULL, *doc, *md;
	char *cont = NULL, rvs[24];
	const char *lim = httpd_req_arg(req, "limit");
	long long limit = 0;

	if (lim && *lim) {
		char *end;

		limit = strtoll(lim, &end, 10);
		if (*end || limit < 0)
			limit = 0;
		if (limit > KAPI_MAX_LIMIT)
			limit = KAPI_MAX_LIMIT;
	}
	if (!limit && s->cfg.max_list)
		limit = s->cfg.max_list;
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)kapi_server_rv(s));
	if (collect(s, req, rt, &e, (size_t)limit, httpd_req_arg(req, "continue"), &items, &cont) < 0) {
		kapi_err_respond(req, &e, &rt->res->def);
		kapi_err_clear(&e);
		return;
	}
	if (want_table(req)) {
		doc = kapi_table_build(rt->res->def.group, rt->res->def.kind, items, rt->res->printer_columns, rvs,
				       cont, table_include(req), time_now_us());
		json_decref(items);
	} else {
		doc = new_list(rt);
		md = json_object();
		json_object_set_new(md, "resourceVersion", json_string(rvs));
		if (cont)
			json_object_set_new(md, "continue", json_string(cont));
		json_object_set_new(doc, "metadata", md);
		json_object_set_new(doc, "items", items);
	}
	free(cont);
	kapi_respond_json(req, 200, doc);
}

/* ------------------------------------------------------------------------ */
/* create / update / patch                                                   */

static void serve_create(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	struct kapi_ctx c;
	char manager[KAPI_FIELD_MANAGER_MAX + 1];
	json_t *obj = NULL, *out = NULL;
	int r;

	init_ctx(&c, s, req, rt, &e, manager, sizeof(manager));
	r = check_write_options(&c);
	if (r >= 0)
		r = parse_object_body(s, req, &e, &obj);
	if (r >= 0)
		r = kapi_do_create(&c, rt->ns, obj, &out);
	if (r < 0)
		kapi_err_respond(req, &e, &rt->res->def);
	else
		respond_obj(s, req, rt, 201, out);
	kapi_err_clear(&e);
}

/* PUT or PATCH of the scale subresource: change spec.replicas of the object. */
static void serve_scale_write(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt,
			      struct kapi_ctx *c, json_t *scale_in, bool is_patch, enum kapi_patch_type ptype)
{
	struct kapi_err *e = c->err;
	const char *ns = rt->res->def.namespaced ? rt->ns : "";
	json_t *obj = NULL, *scale = NULL, *newobj = NULL, *out = NULL, *spec, *reps;
	struct errbuf eb = {{0}};
	const char *rv;
	int r;

	if (s->store->ops->get(s->store, rt->res->rkey, ns, rt->name, &obj) < 0) {
		kapi_err_not_found(e, &rt->res->def, rt->name);
		goto fail;
	}
	if (is_patch) {
		json_t *cur = kapi_scale_from(rt->res, obj);

		if (ptype == KAPI_PATCH_JSON)
			r = json_is_array(scale_in) ? patch_json(cur, scale_in, &eb, &scale) : -EBADMSG;
		else if (ptype == KAPI_PATCH_APPLY)
			r = -EPROTONOSUPPORT;
		else
			r = json_is_object(scale_in) ? patch_merge(cur, scale_in, &eb, &scale) : -EBADMSG;
		json_decref(cur);
		if (r < 0) {
			if (r == -EPROTONOSUPPORT)
				kapi_err_set(e, r, NULL, "apply is not supported on the scale subresource");
			else if (r == -EBADMSG)
				kapi_err_set(e, r, NULL, "the patch must be a JSON object (or array for json-patch)");
			else
				kapi_err_set(e, -EINVAL, rt->name, "%s", eb.msg);
			goto fail;
		}
	} else {
		scale = json_incref(scale_in);
		if (kobj_kind(scale) && strcmp(kobj_kind(scale), "Scale")) {
			kapi_err_set(e, -EBADMSG, NULL,
				     "the object provided is unrecognized (must be of type Scale): kind does not match");
			goto fail;
		}
	}
	reps = kobj_get_path(scale, "spec.replicas");
	if (!json_is_integer(reps) || json_integer_value(reps) < 0 || json_integer_value(reps) > 1000000) {
		kapi_err_invalid1(e, &rt->res->def, rt->name, "FieldValueInvalid", "spec.replicas",
				  "Invalid value: must be greater than or equal to 0");
		goto fail;
	}
	newobj = json_deep_copy(obj);
	spec = json_object_get(newobj, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(newobj, "spec", spec);
	}
	json_object_set(spec, "replicas", reps);
	rv = kobj_resource_version(scale);
	if (rv && *rv)
		json_object_set_new(kobj_metadata(newobj, true), "resourceVersion", json_string(rv));
	c->record_sub = "scale";
	r = kapi_do_update(c, ns, rt->name, NULL, newobj, false, &out);
	newobj = NULL;
	if (r < 0)
		goto fail;
	kapi_respond_json(req, 200, kapi_scale_from(rt->res, out));
	json_decref(out);
	json_decref(obj);
	json_decref(scale);
	return;
fail:
	kapi_err_respond(req, e, &rt->res->def);
	json_decref(newobj);
	json_decref(obj);
	json_decref(scale);
}

static void serve_update(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	struct kapi_ctx c;
	char manager[KAPI_FIELD_MANAGER_MAX + 1];
	json_t *obj = NULL, *out = NULL;
	int r;

	init_ctx(&c, s, req, rt, &e, manager, sizeof(manager));
	r = check_write_options(&c);
	if (r >= 0)
		r = parse_object_body(s, req, &e, &obj);
	if (r >= 0 && rt->sub && !strcmp(rt->sub, "scale")) {
		serve_scale_write(s, req, rt, &c, obj, false, KAPI_PATCH_MERGE);
		json_decref(obj);
		kapi_err_clear(&e);
		return;
	}
	if (r >= 0)
		r = kapi_do_update(&c, rt->ns, rt->name, rt->sub, obj, true, &out);
	if (r < 0)
		kapi_err_respond(req, &e, &rt->res->def);
	else
		respond_obj(s, req, rt, r == 2 ? 201 : 200, out);
	kapi_err_clear(&e);
}

static void serve_patch(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	struct kapi_ctx c;
	char manager[KAPI_FIELD_MANAGER_MAX + 1];
	const char *ct = httpd_req_header(req, "content-type");
	enum kapi_patch_type type;
	json_t *patch = NULL, *out = NULL;
	const char *force = httpd_req_arg(req, "force");
	int r;

	init_ctx(&c, s, req, rt, &e, manager, sizeof(manager));
	if (content_type_is(ct, "application/json-patch+json")) {
		type = KAPI_PATCH_JSON;
	} else if (content_type_is(ct, "application/merge-patch+json")) {
		type = KAPI_PATCH_MERGE;
	} else if (content_type_is(ct, "application/strategic-merge-patch+json")) {
		type = KAPI_PATCH_STRATEGIC;
	} else if (content_type_is(ct, "application/apply-patch+yaml") ||
		   content_type_is(ct, "application/apply-patch+json")) {
		type = KAPI_PATCH_APPLY;
	} else {
		kapi_err_set(&e, -EPROTONOSUPPORT, NULL,
			     "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml%s",
			     rt->res->def.custom ? "" : ", application/strategic-merge-patch+json");
		kapi_err_respond(req, &e, NULL);
		return;
	}
	r = check_write_options(&c);
	if (r >= 0 && force) {
		kapi_parse_bool(force, &c.force);
		if (type != KAPI_PATCH_APPLY && c.force) {
			e.no_details = true;
			r = kapi_err_set(&e, -EINVAL, NULL,
					 "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch");
		}
	}
	if (r >= 0 && type == KAPI_PATCH_APPLY) {
		const char *fm = httpd_req_arg(req, "fieldManager");

		if (!fm || !*fm) {
			e.no_details = true;
			r = kapi_err_set(&e, -EINVAL, NULL,
					 "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
		}
	}
	if (r >= 0)
		r = parse_body(s, req, type == KAPI_PATCH_APPLY, &e, &patch);
	if (r >= 0 && rt->sub && !strcmp(rt->sub, "scale")) {
		serve_scale_write(s, req, rt, &c, patch, true, type);
		json_decref(patch);
		kapi_err_clear(&e);
		return;
	}
	if (r >= 0)
		r = kapi_do_patch(&c, rt->ns, rt->name, rt->sub, type, patch, &out);
	json_decref(patch);
	if (r < 0)
		kapi_err_respond(req, &e, &rt->res->def);
	else
		respond_obj(s, req, rt, r == 2 ? 201 : 200, out);
	kapi_err_clear(&e);
}

/* ------------------------------------------------------------------------ */
/* delete                                                                    */

/* DeleteOptions from the body (optional) and the query. Strings point into
 * *ret_body (kept alive by the caller) or the request. */
static int delete_options(struct httpd_req *req, struct kapi_err *e, struct kapi_delete_opts *o, bool *ret_dry,
			  json_t **ret_body)
{
	size_t len = 0;
	const char *body = httpd_req_body(req, &len);
	const char *pp = httpd_req_arg(req, "propagationPolicy");
	const char *orphan = httpd_req_arg(req, "orphanDependents");
	json_t *b = NULL, *pre;

	memset(o, 0, sizeof(*o));
	*ret_body = NULL;
	if (body && len) {
		json_error_t jerr;

		b = json_loadb(body, len, 0, &jerr);
		if (!json_is_object(b)) {
			json_decref(b);
			return kapi_err_set(e, -EBADMSG, NULL, "couldn't decode DeleteOptions: %s", jerr.text);
		}
		*ret_body = b;
		if (!pp)
			pp = json_string_value(json_object_get(b, "propagationPolicy"));
		pre = json_object_get(b, "preconditions");
		o->precondition_uid = json_string_value(json_object_get(pre, "uid"));
		o->precondition_rv = json_string_value(json_object_get(pre, "resourceVersion"));
		if (json_is_false(json_object_get(b, "orphanDependents")))
			o->propagation = KAPI_PROPAGATE_BACKGROUND;
		if (json_is_true(json_object_get(b, "orphanDependents")))
			o->propagation = KAPI_PROPAGATE_ORPHAN;
		if (json_is_array(json_object_get(b, "dryRun")) &&
		    json_array_size(json_object_get(b, "dryRun")))
			*ret_dry = true;
	}
	if (orphan) {
		bool v;

		kapi_parse_bool(orphan, &v);
		o->propagation = v ? KAPI_PROPAGATE_ORPHAN : KAPI_PROPAGATE_BACKGROUND;
	}
	if (pp && *pp) {
		if (!strcmp(pp, "Foreground"))
			o->propagation = KAPI_PROPAGATE_FOREGROUND;
		else if (!strcmp(pp, "Background"))
			o->propagation = KAPI_PROPAGATE_BACKGROUND;
		else if (!strcmp(pp, "Orphan"))
			o->propagation = KAPI_PROPAGATE_ORPHAN;
		else {
			e->no_details = true;
			return kapi_err_set(e, -EINVAL, NULL,
					    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"%s\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
					    pp);
		}
	}
	return 0;
}

static void serve_delete(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	struct kapi_ctx c;
	struct kapi_delete_opts o;
	char manager[KAPI_FIELD_MANAGER_MAX + 1];
	json_t *body = NULL, *out = NULL;
	int r;

	init_ctx(&c, s, req, rt, &e, manager, sizeof(manager));
	r = parse_dry_run(req, &e, &c.dry_run);
	if (r >= 0)
		r = delete_options(req, &e, &o, &c.dry_run, &body);
	if (r >= 0)
		r = kapi_do_delete(&c, rt->ns, rt->name, &o, &out);
	if (r < 0) {
		kapi_err_respond(req, &e, &rt->res->def);
	} else if (r == 1 || rt->res->def.custom) {
		/* still there (finalizers), or a custom resource: the object itself */
		respond_obj(s, req, rt, 200, out);
		out = NULL;
	} else {
		kapi_respond_json(req, 200, kapi_status_success(&rt->res->def, rt->name, kobj_uid(out)));
	}
	json_decref(out);
	json_decref(body);
	kapi_err_clear(&e);
}

static void serve_deletecollection(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	struct kapi_ctx c;
	struct kapi_delete_opts o;
	char manager[KAPI_FIELD_MANAGER_MAX + 1];
	json_t *body = NULL, *items = NULL, *it, *doc, *deleted = json_array();
	size_t i;
	int r;

	init_ctx(&c, s, req, rt, &e, manager, sizeof(manager));
	r = parse_dry_run(req, &e, &c.dry_run);
	if (r >= 0)
		r = delete_options(req, &e, &o, &c.dry_run, &body);
	if (r >= 0)
		r = collect(s, req, rt, &e, 0, NULL, &items, NULL);
	if (r < 0) {
		kapi_err_respond(req, &e, &rt->res->def);
		goto out;
	}
	json_array_foreach(items, i, it) {
		json_t *out = NULL;
		const char *ns = kobj_namespace(it);

		/* a precondition names one object: not meaningful here */
		o.precondition_uid = o.precondition_rv = NULL;
		r = kapi_do_delete(&c, ns, kobj_name(it), &o, &out);
		if (r >= 0)
			json_array_append_new(deleted, out);
		kapi_err_clear(&e);
	}
	doc = new_list(rt);
	json_object_set_new(doc, "metadata", json_object());
	json_object_set(doc, "items", deleted);
	kapi_respond_json(req, 200, doc);
out:
	json_decref(items);
	json_decref(deleted);
	json_decref(body);
	kapi_err_clear(&e);
}

/* See kapi_int.h. */
void kapi_handlers_serve(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	const char *v = rt->verb;

	if (!strcmp(v, "get"))
		serve_get(s, req, rt);
	else if (!strcmp(v, "list"))
		serve_list(s, req, rt);
	else if (!strcmp(v, "create"))
		serve_create(s, req, rt);
	else if (!strcmp(v, "update"))
		serve_update(s, req, rt);
	else if (!strcmp(v, "patch"))
		serve_patch(s, req, rt);
	else if (!strcmp(v, "delete"))
		serve_delete(s, req, rt);
	else if (!strcmp(v, "deletecollection"))
		serve_deletecollection(s, req, rt);
	else
		kapi_status_respond(req, -EOPNOTSUPP, "the server does not allow this method on the requested resource",
				    NULL, NULL);
}
