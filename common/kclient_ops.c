/* kclient_ops.c - get, list, create, update, patch, apply, delete; see kclient_ops.h.
 *
 * Each operation is a path (kref_path), a query and a body handed to
 * kclient_request(). The only state kept here is the pager of
 * kclient_list_all, which chains one request per page on the caller's loop.
 */
#include "kclient_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

#define KREF_MAX_NAME 253

/* A path segment as Kubernetes accepts one (ValidatePathSegmentName). */
static int check_segment(const char *what, const char *s, bool dns, struct errbuf *err)
{
	size_t n = strlen(s);

	if (n == 0)
		return errbuf_set(err, -EINVAL, "%s: must not be empty", what);
	if (n > KREF_MAX_NAME)
		return errbuf_set(err, -EINVAL, "%s: longer than %d bytes", what, KREF_MAX_NAME);
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return errbuf_set(err, -EINVAL, "%s: may not be \"%s\"", what, s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/' || c == '%' || c < 0x21 || c > 0x7e)
			return errbuf_set(err, -EINVAL, "%s: may not contain '%c'", what,
					  c < 0x21 || c > 0x7e ? '?' : c);
		if (dns && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return errbuf_set(err, -EINVAL, "%s: \"%s\" is not a valid name", what, s);
	}
	return 0;
}

int kref_path(const struct kref *ref, struct buf *out, struct errbuf *err)
{
	bool core = !ref->group || !ref->group[0];
	int r;

	if (!ref->version || !ref->resource)
		return errbuf_set(err, -EINVAL, "ref: version and resource are required");
	if (!core && (r = check_segment("ref.group", ref->group, true, err)) < 0)
		return r;
	if ((r = check_segment("ref.version", ref->version, true, err)) < 0)
		return r;
	if ((r = check_segment("ref.resource", ref->resource, true, err)) < 0)
		return r;
	if (ref->namespace && ref->namespace[0] &&
	    (r = check_segment("ref.namespace", ref->namespace, true, err)) < 0)
		return r;
	if (ref->name && (r = check_segment("ref.name", ref->name, false, err)) < 0)
		return r;
	if (ref->subresource) {
		if (!ref->name)
			return errbuf_set(err, -EINVAL, "ref.subresource: needs a name");
		if ((r = check_segment("ref.subresource", ref->subresource, true, err)) < 0)
			return r;
	}
	if (core)
		r = buf_printf(out, "/api/%s", ref->version);
	else
		r = buf_printf(out, "/apis/%s/%s", ref->group, ref->version);
	if (r == 0 && ref->namespace && ref->namespace[0])
		r = buf_printf(out, "/namespaces/%s", ref->namespace);
	if (r == 0)
		r = buf_printf(out, "/%s", ref->resource);
	if (r == 0 && ref->name) {
		r = buf_puts(out, "/");
		if (r == 0)
			r = kclient_query_escape(out, ref->name);
	}
	if (r == 0 && ref->subresource)
		r = buf_printf(out, "/%s", ref->subresource);
	if (r < 0)
		return errbuf_set(err, r, "ref: path too long");
	return 0;
}

char *kref_api_version(const struct kref *ref, char *out)
{
	if (!ref->group || !ref->group[0])
		snprintf(out, 320, "%s", ref->version ? ref->version : "");
	else
		snprintf(out, 320, "%s/%s", ref->group, ref->version ? ref->version : "");
	return out;
}

/* Query building: "?k=v&k=v", values escaped. */
struct query {
	struct buf *b;
	bool first;
	int r;
};

static void q_add(struct query *q, const char *k, const char *v)
{
	if (q->r < 0 || !v)
		return;
	q->r = buf_printf(q->b, "%c%s=", q->first ? '?' : '&', k);
	q->first = false;
	if (q->r == 0)
		q->r = kclient_query_escape(q->b, v);
}

static void q_add_uint(struct query *q, const char *k, unsigned long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", v);
	q_add(q, k, num);
}

/* Serialise body, build the request and send it. */
static int send_op(struct kclient *kc, enum kclient_method method, const char *path,
		   const char *content_type, const json_t *body, unsigned flags, kclient_done_fn done,
		   void *userdata, struct kclient_call **ret_call)
{
	char *text = NULL;
	int r;

	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text)
			return -EINVAL;
	}
	r = kclient_request(kc, &(struct kclient_request){
					.method = method,
					.path = path,
					.content_type = content_type,
					.body = text,
					.flags = flags,
				},
			    NULL, done, userdata, ret_call);
	free(text);
	return r;
}

static int begin_path(const struct kref *ref, struct buf *b)
{
	struct errbuf err;
	int r;

	buf_init(b, KCLIENT_MAX_PATH);
	r = kref_path(ref, b, &err);
	if (r < 0)
		log_debug("kclient: %s", err.msg);
	return r;
}

int kclient_get(struct kclient *kc, const struct kref *ref, kclient_done_fn done, void *userdata,
		struct kclient_call **ret_call)
{
	struct buf b;
	int r;

	if (!ref->name)
		return -EINVAL;
	r = begin_path(ref, &b);
	if (r == 0)
		r = send_op(kc, KCLIENT_GET, b.data, NULL, NULL, 0, done, userdata, ret_call);
	buf_free(&b);
	return r;
}

static int list_path(const struct kref *ref, const struct kclient_list_opts *opts, unsigned limit,
		     const char *cont, struct buf *b)
{
	struct query q = { .b = b, .first = true };
	int r;

	if (ref->name)
		return -EINVAL;
	r = begin_path(ref, b);
	if (r < 0)
		return r;
	if (opts) {
		q_add(&q, "labelSelector", opts->label_selector);
		q_add(&q, "fieldSelector", opts->field_selector);
		q_add(&q, "resourceVersion", opts->resource_version);
	}
	if (limit)
		q_add_uint(&q, "limit", limit);
	q_add(&q, "continue", cont);
	return q.r;
}

int kclient_list(struct kclient *kc, const struct kref *ref, const struct kclient_list_opts *opts,
		 kclient_done_fn done, void *userdata, struct kclient_call **ret_call)
{
	struct buf b;
	int r;

	buf_init(&b, KCLIENT_MAX_PATH);
	r = list_path(ref, opts, opts ? opts->limit : 0, opts ? opts->continue_token : NULL, &b);
	if (r == 0)
		r = send_op(kc, KCLIENT_GET, b.data, NULL, NULL, 0, done, userdata, ret_call);
	buf_free(&b);
	return r;
}

/* --- pager -------------------------------------------------------------- */

struct kclient_pager {
	struct kclient *kc;          /* borrowed */
	char *path_base;             /* owned: path without limit/continue */
	char *label_selector;        /* owned or NULL */
	char *field_selector;        /* owned or NULL */
	char *resource_version;      /* owned or NULL */
	unsigned limit;
	bool full_list;              /* the continue token expired: one request, no limit */
	unsigned pages;
	json_t *list;                /* owned: the List being built */
	struct kclient_call *call;   /* the page in flight (borrowed handle) */
	kclient_done_fn done;
	void *userdata;
	bool in_callback;
	bool cancelled;
};

static void pager_free(struct kclient_pager *p)
{
	free(p->path_base);
	free(p->label_selector);
	free(p->field_selector);
	free(p->resource_version);
	json_decref(p->list);
	free(p);
}

void kclient_pager_cancel(struct kclient_pager *p)
{
	if (!p)
		return;
	if (p->in_callback) {
		p->cancelled = true;
		return;
	}
	kclient_cancel(p->call);
	pager_free(p);
}

static void pager_page_done(void *userdata, const struct kclient_result *res);

static int pager_next(struct kclient_pager *p, const char *cont)
{
	struct query q;
	struct buf b;
	int r;

	buf_init(&b, KCLIENT_MAX_PATH);
	r = buf_puts(&b, p->path_base);
	q = (struct query){ .b = &b, .first = true, .r = r };
	q_add(&q, "labelSelector", p->label_selector);
	q_add(&q, "fieldSelector", p->field_selector);
	/* A resourceVersion goes with the first page only; continue carries it. */
	if (!cont)
		q_add(&q, "resourceVersion", p->resource_version);
	if (!p->full_list)
		q_add_uint(&q, "limit", p->limit);
	q_add(&q, "continue", cont);
	r = q.r;
	if (r == 0)
		r = send_op(p->kc, KCLIENT_GET, b.data, NULL, NULL, 0, pager_page_done, p, &p->call);
	buf_free(&b);
	return r;
}

static void pager_finish(struct kclient_pager *p, const struct kclient_result *res)
{
	p->call = NULL;
	p->in_callback = true;
	p->done(p->userdata, res);
	pager_free(p);
}

static void pager_fail_local(struct kclient_pager *p, int r, enum kclient_reason reason, const char *msg)
{
	struct kclient_error err = { .reason = reason };
	struct kclient_result res = { .r = r, .raw = "", .err = &err };

	snprintf(err.message, sizeof(err.message), "list %s: %s", p->path_base, msg);
	pager_finish(p, &res);
}

static void pager_page_done(void *userdata, const struct kclient_result *res)
{
	struct kclient_pager *p = userdata;
	json_t *items, *item, *meta;
	const char *cont = NULL;
	size_t i;
	int r;

	p->call = NULL;
	if (res->r != 0) {
		if (res->err->reason == KCLIENT_EXPIRED && p->pages > 0 && !p->full_list) {
			/* The continue token is too old: start over with one full list. */
			p->full_list = true;
			p->pages = 0;
			json_array_clear(json_object_get(p->list, "items"));
			r = pager_next(p, NULL);
			if (r < 0)
				pager_fail_local(p, r, KCLIENT_UNKNOWN, "cannot restart the list");
			return;
		}
		pager_finish(p, res);
		return;
	}
	items = json_object_get(res->body, "items");
	if (!json_is_object(res->body) || !(json_is_array(items) || json_is_null(items) || !items)) {
		pager_fail_local(p, -EBADMSG, KCLIENT_DECODE, "response is not a List");
		return;
	}
	if (++p->pages > KCLIENT_LIST_MAX_PAGES) {
		pager_fail_local(p, -E2BIG, KCLIENT_TOO_LARGE, "too many pages");
		return;
	}
	if (json_array_size(json_object_get(p->list, "items")) + json_array_size(items) >
	    KCLIENT_LIST_MAX_ITEMS) {
		pager_fail_local(p, -E2BIG, KCLIENT_TOO_LARGE, "too many items");
		return;
	}
	json_array_foreach(items, i, item)
		json_array_append(json_object_get(p->list, "items"), item);
	if (!json_object_get(p->list, "kind")) {
		json_t *k = json_object_get(res->body, "kind");
		json_t *av = json_object_get(res->body, "apiVersion");

		if (json_is_string(k))
			json_object_set(p->list, "kind", k);
		if (json_is_string(av))
			json_object_set(p->list, "apiVersion", av);
	}
	meta = json_object_get(res->body, "metadata");
	if (json_is_object(meta)) {
		json_t *rv = json_object_get(meta, "resourceVersion");

		if (json_is_string(rv))
			json_object_set_new(p->list, "metadata",
					    json_pack("{sO}", "resourceVersion", rv));
		cont = json_string_value(json_object_get(meta, "continue"));
	}
	if (cont && cont[0] && !p->full_list) {
		r = pager_next(p, cont);
		if (r < 0)
			pager_fail_local(p, r, KCLIENT_UNKNOWN, "cannot request the next page");
		return;
	}
	if (!json_object_get(p->list, "metadata"))
		json_object_set_new(p->list, "metadata", json_object());
	{
		struct kclient_result out = *res;

		out.body = p->list;
		out.raw = "";
		out.raw_len = 0;
		pager_finish(p, &out);
	}
}

int kclient_list_all(struct kclient *kc, const struct kref *ref, const struct kclient_list_opts *opts,
		     kclient_done_fn done, void *userdata, struct kclient_pager **ret_pager)
{
	struct kclient_pager *p;
	struct buf b;
	int r;

	if (ref->name || !done)
		return -EINVAL;
	r = begin_path(ref, &b);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	p = xnew(struct kclient_pager);
	p->kc = kc;
	p->path_base = buf_steal(&b, NULL);
	if (opts) {
		p->label_selector = xstrdup(opts->label_selector);
		p->field_selector = xstrdup(opts->field_selector);
		p->resource_version = xstrdup(opts->resource_version);
	}
	p->limit = opts && opts->limit ? opts->limit : KCLIENT_LIST_PAGE;
	p->list = json_pack("{s[]}", "items");
	p->done = done;
	p->userdata = userdata;
	r = pager_next(p, opts ? opts->continue_token : NULL);
	if (r < 0) {
		pager_free(p);
		return r;
	}
	if (ret_pager)
		*ret_pager = p;
	return 0;
}

/* --- writes ------------------------------------------------------------- */

static void write_query(struct query *q, const char *field_manager, bool dry_run)
{
	q_add(q, "fieldManager", field_manager);
	if (dry_run)
		q_add(q, "dryRun", "All");
}

/* POST or PUT obj (borrowed) at ref's path with the write options. */
static int send_write(struct kclient *kc, enum kclient_method method, const struct kref *ref,
		      const json_t *obj, const struct kclient_write_opts *opts, kclient_done_fn done,
		      void *userdata, struct kclient_call **ret_call)
{
	struct query q;
	struct buf b;
	int r;

	r = begin_path(ref, &b);
	q = (struct query){ .b = &b, .first = true, .r = r };
	if (opts)
		write_query(&q, opts->field_manager, opts->dry_run);
	r = q.r;
	if (r == 0)
		r = send_op(kc, method, b.data, NULL, obj, 0, done, userdata, ret_call);
	buf_free(&b);
	return r;
}

int kclient_create(struct kclient *kc, const struct kref *ref, const json_t *obj,
		   const struct kclient_write_opts *opts, kclient_done_fn done, void *userdata,
		   struct kclient_call **ret_call)
{
	if (!json_is_object(obj) || (ref->name && !ref->subresource))
		return -EINVAL;
	return send_write(kc, KCLIENT_POST, ref, obj, opts, done, userdata, ret_call);
}

int kclient_update(struct kclient *kc, const struct kref *ref, const json_t *obj,
		   const struct kclient_write_opts *opts, kclient_done_fn done, void *userdata,
		   struct kclient_call **ret_call)
{
	if (!json_is_object(obj) || !ref->name)
		return -EINVAL;
	return send_write(kc, KCLIENT_PUT, ref, obj, opts, done, userdata, ret_call);
}

int kclient_patch(struct kclient *kc, const struct kref *ref, enum kclient_patch_type type,
		  const json_t *patch, const struct kclient_patch_opts *opts, kclient_done_fn done,
		  void *userdata, struct kclient_call **ret_call)
{
	static const char *const types[] = {
		[KCLIENT_PATCH_JSON] = "application/json-patch+json",
		[KCLIENT_PATCH_MERGE] = "application/merge-patch+json",
		[KCLIENT_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
		[KCLIENT_PATCH_APPLY] = "application/apply-patch+yaml",
	};
	unsigned flags = 0;
	struct query q;
	struct buf b;
	int r;

	if (!ref->name || (unsigned)type > KCLIENT_PATCH_APPLY)
		return -EINVAL;
	if (type == KCLIENT_PATCH_JSON ? !json_is_array(patch) : !json_is_object(patch))
		return -EINVAL;
	if (type == KCLIENT_PATCH_APPLY) {
		if (!opts || !opts->field_manager || !opts->field_manager[0])
			return -EINVAL;
		/* Applying the same configuration again gives the same object. */
		flags |= KCLIENT_REQ_IDEMPOTENT;
	} else if (opts && opts->force) {
		return -EINVAL;
	}
	r = begin_path(ref, &b);
	q = (struct query){ .b = &b, .first = true, .r = r };
	if (opts) {
		write_query(&q, opts->field_manager, opts->dry_run);
		if (type == KCLIENT_PATCH_APPLY)
			q_add(&q, "force", opts->force ? "true" : "false");
	}
	r = q.r;
	if (r == 0)
		r = send_op(kc, KCLIENT_PATCH, b.data, types[type], patch, flags, done, userdata,
			    ret_call);
	buf_free(&b);
	return r;
}

int kclient_apply(struct kclient *kc, const struct kref *ref, const json_t *obj,
		  const struct kclient_patch_opts *opts, kclient_done_fn done, void *userdata,
		  struct kclient_call **ret_call)
{
	struct kref r = *ref;

	if (!r.name)
		r.name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	return kclient_patch(kc, &r, KCLIENT_PATCH_APPLY, obj, opts, done, userdata, ret_call);
}

int kclient_delete(struct kclient *kc, const struct kref *ref, const struct kclient_delete_opts *opts,
		   kclient_done_fn done, void *userdata, struct kclient_call **ret_call)
{
	static const char *const policies[] = {
		[KCLIENT_PROPAGATION_DEFAULT] = NULL,
		[KCLIENT_PROPAGATION_BACKGROUND] = "Background",
		[KCLIENT_PROPAGATION_FOREGROUND] = "Foreground",
		[KCLIENT_PROPAGATION_ORPHAN] = "Orphan",
	};
	json_t *body = NULL;
	struct query q;
	struct buf b;
	int r;

	if (!ref->name)
		return -EINVAL;
	if (opts && (unsigned)opts->propagation > KCLIENT_PROPAGATION_ORPHAN)
		return -EINVAL;
	if (opts && (opts->propagation || opts->precondition_uid || opts->precondition_rv ||
		     opts->set_grace_period || opts->dry_run)) {
		body = json_pack("{ss ss}", "kind", "DeleteOptions", "apiVersion", "v1");
		if (policies[opts->propagation])
			json_object_set_new(body, "propagationPolicy",
					    json_string(policies[opts->propagation]));
		if (opts->precondition_uid || opts->precondition_rv) {
			json_t *pre = json_object();

			if (opts->precondition_uid)
				json_object_set_new(pre, "uid", json_string(opts->precondition_uid));
			if (opts->precondition_rv)
				json_object_set_new(pre, "resourceVersion",
						    json_string(opts->precondition_rv));
			json_object_set_new(body, "preconditions", pre);
		}
		if (opts->set_grace_period)
			json_object_set_new(body, "gracePeriodSeconds",
					    json_integer(opts->grace_period_s));
		if (opts->dry_run)
			json_object_set_new(body, "dryRun", json_pack("[s]", "All"));
	}
	r = begin_path(ref, &b);
	q = (struct query){ .b = &b, .first = true, .r = r };
	r = q.r;
	if (r == 0)
		r = send_op(kc, KCLIENT_DELETE, b.data, NULL, body, 0, done, userdata, ret_call);
	buf_free(&b);
	json_decref(body);
	return r;
}
