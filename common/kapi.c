/* kapi.c - the kapi server: registry of resources, request routing, commits
 * and change subscriptions.
 *
 * Routing follows kube-apiserver's URL layout: /api/v1/... for the core
 * group, /apis/<group>/<version>/... for the others, then
 * [namespaces/<ns>/]<resource>[/<name>[/<subresource>]], plus the legacy
 * /watch/ prefix and the namespace subresources (namespaces/<ns>/status,
 * /finalize). Trailing slashes are dropped (the Python client sends them).
 * Every committed write goes through kapi_commit(): next resourceVersion, the
 * store, watch streams, then the subscriber queue, which is drained by the
 * outermost commit so that callbacks never nest (a subscriber may write).
 * Runs on the loop thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "httpd.h"
#include "kapi_int.h"
#include "kobj.h"
#include "log.h"

#define KAPI_MAX_PATH 2048
#define KAPI_MAX_SEGS 12

/* ------------------------------------------------------------------------ */
/* Registry                                                                  */

static char **strv_copy(const char *const *v)
{
	size_t n = 0, i;
	char **out;

	while (v && v[n])
		n++;
	out = xcalloc(n + 1, sizeof(*out));
	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* See kapi_int.h. */
void kapi_resource_unref(struct kapi_resource *r)
{
	size_t i;

	if (!r || --r->refs > 0)
		return;
	free(r->rkey);
	free(r->group_version);
	strv_free(r->versions);
	strv_free(r->short_names);
	strv_free(r->categories);
	json_decref(r->printer_columns);
	for (i = 0; i < sizeof(r->strs) / sizeof(r->strs[0]); i++)
		free(r->strs[i]);
	free(r);
}

/* See kapi_int.h. */
struct kapi_resource *kapi_resource_find(const struct kapi_server *s, const char *group, const char *resource)
{
	struct kapi_resource *r;

	for (r = s->resources; r; r = r->next)
		if (!strcmp(r->def.resource, resource) && !strcmp(r->def.group, group))
			return r;
	return NULL;
}

/* See kapi.h. */
const struct kapi_resource_def *kapi_server_find(const struct kapi_server *s, const char *group,
						 const char *resource)
{
	struct kapi_resource *r = kapi_resource_find(s, group ? group : "", resource);

	return r ? &r->def : NULL;
}

/* See kapi.h. */
const struct kapi_resource_def *kapi_server_find_kind(const struct kapi_server *s, const char *api_version,
						      const char *kind)
{
	char group[254], version[254];
	struct kapi_resource *r;

	if (!api_version || !kind || kobj_split_api_version(api_version, group, version) < 0)
		return NULL;
	for (r = s->resources; r; r = r->next)
		if (!strcmp(r->def.kind, kind) && !strcmp(r->def.group, group) && kapi_version_served(r, version))
			return &r->def;
	return NULL;
}

/* See kapi_int.h. */
bool kapi_version_served(const struct kapi_resource *res, const char *version)
{
	size_t i;

	for (i = 0; res->versions[i]; i++)
		if (!strcmp(res->versions[i], version))
			return true;
	return false;
}

static char *own(struct kapi_resource *r, size_t slot, const char *s)
{
	r->strs[slot] = s ? xstrdup(s) : NULL;
	return r->strs[slot];
}

/* See kapi_int.h. */
int kapi_server_register_versions(struct kapi_server *s, const struct kapi_resource_def *def,
				  const char *const *versions, const struct kapi_resource_def **ret_def)
{
	struct kapi_resource *r, **tail;
	const char *group = def->group ? def->group : "";
	const char *one[2] = {def->version, NULL};

	if (!def->version || !*def->version || !def->resource || !*def->resource || !def->kind || !*def->kind)
		return -EINVAL;
	if (kapi_resource_find(s, group, def->resource))
		return -EEXIST;
	r = xnew(struct kapi_resource);
	r->refs = 1;
	r->registered = true;
	r->def = *def;
	r->def.group = own(r, 0, group);
	r->def.version = own(r, 1, versions && versions[0] ? versions[0] : def->version);
	r->def.resource = own(r, 2, def->resource);
	r->def.singular = own(r, 3, def->singular ? def->singular : "");
	r->def.kind = own(r, 4, def->kind);
	if (def->list_kind)
		r->def.list_kind = own(r, 5, def->list_kind);
	else
		r->def.list_kind = r->strs[5] = xasprintf("%sList", def->kind);
	r->def.scale_selector_path = own(r, 6, def->scale_selector_path ? def->scale_selector_path : "spec.selector");
	r->short_names = strv_copy(def->short_names);
	r->categories = strv_copy(def->categories);
	r->def.short_names = (const char *const *)r->short_names;
	r->def.categories = (const char *const *)r->categories;
	r->versions = strv_copy(versions && versions[0] ? versions : one);
	r->printer_columns = def->printer_columns ? json_deep_copy(def->printer_columns) : NULL;
	r->def.printer_columns = r->printer_columns;
	r->rkey = xasprintf("%s/%s", group, def->resource);
	r->group_version = *group ? xasprintf("%s/%s", group, r->def.version) : xstrdup(r->def.version);
	for (tail = &s->resources; *tail; tail = &(*tail)->next)
		;
	*tail = r;
	if (ret_def)
		*ret_def = &r->def;
	return 0;
}

/* See kapi.h. */
int kapi_server_register(struct kapi_server *s, const struct kapi_resource_def *def,
			 const struct kapi_resource_def **ret_def)
{
	return kapi_server_register_versions(s, def, NULL, ret_def);
}

struct purge_ctx {
	json_t *objs;
};

static int purge_collect(void *data, const char *ns, const char *name, json_t *obj)
{
	struct purge_ctx *p = data;

	json_array_append(p->objs, obj);
	return 0;
}

/* See kapi.h. */
int kapi_server_unregister(struct kapi_server *s, const char *group, const char *resource)
{
	struct kapi_resource *r = kapi_resource_find(s, group ? group : "", resource), **pp;
	struct purge_ctx p = {json_array()};
	size_t i;

	if (!r) {
		json_decref(p.objs);
		return -ENOENT;
	}
	/* delete the objects first so watchers and subscribers see DELETED */
	s->store->ops->list(s->store, r->rkey, NULL, NULL, purge_collect, &p);
	for (i = 0; i < json_array_size(p.objs); i++) {
		json_t *o = json_array_get(p.objs, i);
		const char *ns = kobj_namespace(o);

		kapi_commit(s, r, KAPI_EVENT_DELETED, ns ? ns : "", kobj_name(o), o, NULL, NULL);
	}
	json_decref(p.objs);
	kapi_watch_close_all(s, r);
	for (pp = &s->resources; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->registered = false;
	r->next = NULL;
	kapi_resource_unref(r);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */

/* See kapi.h. */
int kapi_server_new(uv_loop_t *loop, struct kapi_store *store, const struct kapi_server_config *cfg,
		    struct kapi_server **ret_server)
{
	struct kapi_server *s;

	if (!loop || !store) {
		if (store)
			store->ops->free(store);
		return -EINVAL;
	}
	s = xnew(struct kapi_server);
	s->loop = loop;
	s->store = store;
	if (cfg)
		s->cfg = *cfg;
	s->server_address = xstrdup(s->cfg.server_address ? s->cfg.server_address : "127.0.0.1:6443");
	s->git_version = xstrdup(s->cfg.git_version ? s->cfg.git_version : "v1.30.0");
	s->cfg.server_address = s->server_address;
	s->cfg.git_version = s->git_version;
	if (!s->cfg.max_body)
		s->cfg.max_body = KAPI_MAX_BODY_DEFAULT;
	if (!s->cfg.max_watch_queue)
		s->cfg.max_watch_queue = 4u << 20;
	if (!s->cfg.max_watches)
		s->cfg.max_watches = 10000;
	if (!s->cfg.bookmark_interval_ms)
		s->cfg.bookmark_interval_ms = 60000;
	*ret_server = s;
	return 0;
}

static void notice_free(struct kapi_notice *n)
{
	kapi_resource_unref(n->res);
	json_decref(n->old_obj);
	json_decref(n->new_obj);
	free(n);
}

/* See kapi.h. */
struct kapi_server *kapi_server_free(struct kapi_server *s)
{
	struct kapi_resource *r, *rn;
	struct kapi_sub *sub, *sn;
	struct kapi_notice *n, *nn;

	if (!s)
		return NULL;
	s->closing = true;
	kapi_watch_close_all(s, NULL);
	for (n = s->nq_head; n; n = nn) {
		nn = n->next;
		notice_free(n);
	}
	for (sub = s->subs; sub; sub = sn) {
		sn = sub->next;
		free(sub);
	}
	for (r = s->resources; r; r = rn) {
		rn = r->next;
		r->registered = false;
		kapi_resource_unref(r);
	}
	s->store->ops->free(s->store);
	free(s->server_address);
	free(s->git_version);
	free(s);
	return NULL;
}

/* See kapi.h. */
uv_loop_t *kapi_server_loop(const struct kapi_server *s)
{
	return s->loop;
}

/* See kapi.h. */
uint64_t kapi_server_rv(const struct kapi_server *s)
{
	return s->store->ops->last_rv(s->store);
}

/* ------------------------------------------------------------------------ */
/* Subscriptions and commits                                                 */

/* See kapi.h. */
int kapi_server_subscribe(struct kapi_server *s, kapi_sub_fn fn, void *data, struct kapi_sub **ret_sub)
{
	struct kapi_sub *sub, **tail;

	if (!fn)
		return -EINVAL;
	sub = xnew(struct kapi_sub);
	sub->fn = fn;
	sub->data = data;
	for (tail = &s->subs; *tail; tail = &(*tail)->next)
		;
	*tail = sub;
	if (ret_sub)
		*ret_sub = sub;
	return 0;
}

static void subs_reap(struct kapi_server *s)
{
	struct kapi_sub **pp = &s->subs;

	while (*pp) {
		if ((*pp)->dead) {
			struct kapi_sub *d = *pp;

			*pp = d->next;
			free(d);
		} else {
			pp = &(*pp)->next;
		}
	}
}

/* See kapi.h. */
struct kapi_sub *kapi_server_unsubscribe(struct kapi_server *s, struct kapi_sub *sub)
{
	if (!s || !sub)
		return NULL;
	sub->dead = true;
	if (s->sub_walkers == 0)
		subs_reap(s);
	return NULL;
}

static void drain_notices(struct kapi_server *s)
{
	struct kapi_notice *n;

	if (s->dispatching)
		return;
	s->dispatching = true;
	while ((n = s->nq_head)) {
		struct kapi_sub *sub;

		s->nq_head = n->next;
		if (!s->nq_head)
			s->nq_tail = NULL;
		s->sub_walkers++;
		for (sub = s->subs; sub; sub = sub->next)
			if (!sub->dead)
				sub->fn(sub->data, n->type, &n->res->def, n->old_obj, n->new_obj);
		s->sub_walkers--;
		notice_free(n);
		if (s->sub_walkers == 0)
			subs_reap(s);
	}
	s->dispatching = false;
}

static json_t *dup_with_meta(const json_t *o)
{
	json_t *c = json_copy((json_t *)o);
	json_t *md = json_object_get(o, "metadata");

	json_object_set_new(c, "metadata", md ? json_copy(md) : json_object());
	return c;
}

/* See kapi_int.h. */
int kapi_commit(struct kapi_server *s, struct kapi_resource *res, enum kapi_event_type type, const char *ns,
		const char *name, json_t *old_obj, json_t *new_obj, json_t **ret_obj)
{
	uint64_t rv = s->store->ops->last_rv(s->store) + 1;
	char rvs[24];
	json_t *obj;
	struct kapi_store_event ev;
	int r;

	if (type == KAPI_EVENT_DELETED)
		obj = dup_with_meta(new_obj ? new_obj : old_obj);
	else
		obj = json_incref(new_obj);
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	json_object_set_new(kobj_metadata(obj, true), "resourceVersion", json_string(rvs));
	ev = (struct kapi_store_event){
		.rv = rv,
		.type = type,
		.rkey = res->rkey,
		.ns = ns ? ns : "",
		.name = name,
		.old_obj = old_obj,
		.new_obj = obj,
	};
	r = s->store->ops->commit(s->store, &ev);
	if (r < 0) {
		log_error("kapi: store commit of %s %s/%s failed: %s", res->rkey, ev.ns, name, strerror(-r));
		json_decref(obj);
		return r;
	}
	kapi_watch_dispatch(s, res, &ev);
	if (s->subs) {
		struct kapi_notice *n = xnew(struct kapi_notice);

		n->type = type;
		n->res = res;
		res->refs++;
		n->old_obj = old_obj ? json_incref(old_obj) : NULL;
		n->new_obj = type == KAPI_EVENT_DELETED ? NULL : json_incref(obj);
		if (type == KAPI_EVENT_DELETED) {
			/* subscribers get the last state as old_obj */
			json_decref(n->old_obj);
			n->old_obj = json_incref(obj);
		}
		if (s->nq_tail)
			s->nq_tail->next = n;
		else
			s->nq_head = n;
		s->nq_tail = n;
	}
	if (ret_obj)
		*ret_obj = json_incref(obj);
	json_decref(obj);
	drain_notices(s);
	return 0;
}

/* See kapi_int.h. */
json_t *kapi_obj_for_version(const struct kapi_resource *res, const char *version, json_t *obj)
{
	const char *av;
	char want[300];
	json_t *c;

	if (!version || !res->versions[1])
		return json_incref(obj);
	if (*res->def.group)
		snprintf(want, sizeof(want), "%s/%s", res->def.group, version);
	else
		snprintf(want, sizeof(want), "%s", version);
	av = kobj_api_version(obj);
	if (av && !strcmp(av, want))
		return json_incref(obj);
	c = json_copy(obj);
	json_object_set_new(c, "apiVersion", json_string(want));
	return c;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

/* See kapi_int.h. Kubernetes converts query booleans as "0" or "false" (any
 * case) -> false, anything else present -> true. */
int kapi_parse_bool(const char *v, bool *ret)
{
	if (!v) {
		*ret = false;
		return 0;
	}
	*ret = !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0);
	return 0;
}

/* See kapi_int.h. */
void kapi_respond_json(struct httpd_req *req, int status, json_t *body)
{
	char *txt = json_dumps(body, JSON_COMPACT);
	size_t len;

	json_decref(body);
	if (!txt) {
		httpd_respond(req, 500, "application/json", "{}", 2);
		return;
	}
	len = strlen(txt);
	txt[len] = '\0';
	httpd_respond(req, status, "application/json", txt, len);
	free(txt);
}

static void respond_not_found_path(struct httpd_req *req)
{
	struct kapi_err e = {0};

	kapi_err_set(&e, -ENOENT, NULL, "the server could not find the requested resource");
	kapi_err_respond(req, &e, NULL);
}

static int authorize(struct kapi_server *s, struct httpd_req *req, const struct kapi_request_attrs *a)
{
	struct kapi_err e = {0};
	int r;

	if (!s->cfg.auth)
		return 0;
	r = s->cfg.auth(s->cfg.auth_data, req, a, &e.eb);
	if (r == 0)
		return 0;
	if (r != -EACCES && r != -EPERM)
		r = -EPERM;
	e.code = r;
	if (!e.eb.msg[0])
		snprintf(e.eb.msg, sizeof(e.eb.msg), "%s", r == -EACCES ? "Unauthorized" : "forbidden");
	kapi_err_respond(req, &e, NULL);
	return r;
}

static const char *verb_for(const char *method, bool has_name, bool watch, bool *ret_ok)
{
	*ret_ok = true;
	if (!strcmp(method, "GET"))
		return has_name ? (watch ? "watch" : "get") : (watch ? "watch" : "list");
	if (!strcmp(method, "POST") && !has_name)
		return "create";
	if (!strcmp(method, "PUT") && has_name)
		return "update";
	if (!strcmp(method, "PATCH") && has_name)
		return "patch";
	if (!strcmp(method, "DELETE"))
		return has_name ? "delete" : "deletecollection";
	*ret_ok = false;
	return "";
}

static unsigned verb_bit(const char *verb)
{
	static const struct {
		const char *name;
		unsigned bit;
	} t[] = {
		{"get", KAPI_VERB_GET}, {"list", KAPI_VERB_LIST}, {"watch", KAPI_VERB_WATCH},
		{"create", KAPI_VERB_CREATE}, {"update", KAPI_VERB_UPDATE}, {"patch", KAPI_VERB_PATCH},
		{"delete", KAPI_VERB_DELETE}, {"deletecollection", KAPI_VERB_DELETECOLLECTION},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].name, verb))
			return t[i].bit;
	return 0;
}

static void method_not_allowed(struct httpd_req *req)
{
	struct kapi_err e = {0};

	kapi_err_set(&e, -EOPNOTSUPP, NULL, "the server does not allow this method on the requested resource");
	kapi_err_respond(req, &e, NULL);
}

/* Serve a resource path; segs point after the group/version prefix. */
static void serve_resource(struct kapi_server *s, struct httpd_req *req, const char *path, const char *group,
			   const char *version, char **segs, int n)
{
	struct kapi_route rt = {0};
	struct kapi_request_attrs a = {0};
	const char *method = httpd_req_method(req);
	bool watch = false, ok;
	char lower[16];
	size_t i;

	if (n > 0 && !strcmp(segs[0], "watch")) {
		watch = true;
		segs++;
		n--;
	}
	if (n >= 3 && !strcmp(segs[0], "namespaces")) {
		struct kapi_resource *r = kapi_resource_find(s, group, segs[2]);

		if (r && r->def.namespaced && n <= 5) {
			rt.res = r;
			rt.ns = segs[1];
			rt.name = n > 3 ? segs[3] : NULL;
			rt.sub = n > 4 ? segs[4] : NULL;
		} else if (!*group && n == 3 && (!strcmp(segs[2], "status") || !strcmp(segs[2], "finalize"))) {
			rt.res = kapi_resource_find(s, "", "namespaces");
			rt.name = segs[1];
			rt.sub = segs[2];
		}
	} else if (n >= 1 && n <= 3) {
		struct kapi_resource *r = kapi_resource_find(s, group, segs[0]);

		if (r && (!r->def.namespaced || n == 1)) {
			rt.res = r;
			rt.name = n > 1 ? segs[1] : NULL;
			rt.sub = n > 2 ? segs[2] : NULL;
		}
	}
	if (rt.res && !kapi_version_served(rt.res, version))
		rt.res = NULL;
	if (rt.res && rt.sub) {
		bool sub_ok = (!strcmp(rt.sub, "status") && rt.res->def.has_status) ||
			      (!strcmp(rt.sub, "scale") && rt.res->def.has_scale) ||
			      (!strcmp(rt.sub, "finalize") && !strcmp(rt.res->rkey, "/namespaces"));

		if (!sub_ok)
			rt.res = NULL;
	}
	if (!watch) {
		const char *w = httpd_req_arg(req, "watch");

		kapi_parse_bool(w, &watch);
		if (watch && strcmp(method, "GET"))
			watch = false;
	}
	rt.version = version;
	rt.verb = verb_for(method, rt.name != NULL, watch, &ok);
	for (i = 0; method[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
	lower[i] = '\0';
	a.verb = ok ? rt.verb : lower;
	a.path = path;
	a.def = rt.res ? &rt.res->def : NULL;
	a.namespace_ = rt.ns;
	a.name = rt.name;
	a.subresource = rt.sub;
	if (authorize(s, req, &a) < 0)
		return;
	if (!rt.res) {
		respond_not_found_path(req);
		return;
	}
	if (!ok) {
		method_not_allowed(req);
		return;
	}
	if (rt.res->def.namespaced && !rt.ns && strcmp(rt.verb, "list") && strcmp(rt.verb, "watch")) {
		/* across namespaces only list and watch are served, as in kube-apiserver */
		method_not_allowed(req);
		return;
	}
	if (rt.sub) {
		/* subresources serve get, update and patch */
		if (strcmp(rt.verb, "get") && strcmp(rt.verb, "update") && strcmp(rt.verb, "patch")) {
			method_not_allowed(req);
			return;
		}
	} else if (!(rt.res->def.verbs & verb_bit(rt.verb))) {
		method_not_allowed(req);
		return;
	}
	if (!strcmp(rt.verb, "watch"))
		kapi_watch_start(s, req, &rt);
	else
		kapi_handlers_serve(s, req, &rt);
}

/* See kapi.h. */
void kapi_server_handle(struct kapi_server *s, struct httpd_req *req)
{
	const char *raw = httpd_req_path(req);
	char path[KAPI_MAX_PATH], work[KAPI_MAX_PATH];
	char *segs[KAPI_MAX_SEGS], *p, *save = NULL;
	size_t len;
	int n = 0;

	if (!raw || (len = strlen(raw)) >= sizeof(path) || raw[0] != '/') {
		respond_not_found_path(req);
		return;
	}
	memcpy(path, raw, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	memcpy(work, path, len + 1);
	for (p = strtok_r(work, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n == KAPI_MAX_SEGS) {
			respond_not_found_path(req);
			return;
		}
		segs[n++] = p;
	}
	if (n >= 2 && !strcmp(segs[0], "api") && n > 2) {
		serve_resource(s, req, path, "", segs[1], segs + 2, n - 2);
		return;
	}
	if (n >= 4 && !strcmp(segs[0], "apis")) {
		serve_resource(s, req, path, segs[1], segs[2], segs + 3, n - 3);
		return;
	}
	{
		struct kapi_request_attrs a = {0};
		const char *method = httpd_req_method(req);
		char lower[16];
		size_t i;

		for (i = 0; method[i] && i + 1 < sizeof(lower); i++)
			lower[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
		lower[i] = '\0';
		a.verb = lower;
		a.path = path;
		if (authorize(s, req, &a) < 0)
			return;
	}
	if (kapi_discovery_handle(s, req, path))
		return;
	respond_not_found_path(req);
}
