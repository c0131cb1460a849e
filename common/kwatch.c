/* kwatch.c - list + watch + resume + relist; see kwatch.h.
 *
 * States: listing (a pager in flight), watching (a stream in flight) or
 * waiting (the backoff timer runs). Exactly one of pager, call and timer is
 * active at a time. Entry points from the loop (line, stream done, list done,
 * timer) count `depth`; kwatch_free inside a callback only marks the watch
 * dead and cancels what is in flight, and the outermost entry point frees it
 * on the way out.
 */
#include "kwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backoff.h"
#include "codec.h"
#include "log.h"
#include "timefmt.h"

struct kwatch {
	struct kclient *kc;          /* borrowed */
	char *path;                  /* owned: the collection's path */
	char *group, *version, *resource, *namespace; /* owned copies for the pager's kref */
	char *label_selector;        /* owned or NULL */
	char *field_selector;        /* owned or NULL */
	unsigned timeout_s;          /* 0: random per watch */
	bool bookmarks;
	size_t max_line;
	unsigned page_size;
	struct kwatch_handlers h;
	void *userdata;

	json_t *store;               /* owned: "ns/name" -> object */
	char *rv;                    /* owned; "" before any */
	bool synced;
	struct kclient_pager *pager; /* in flight, or NULL */
	struct kclient_call *call;   /* the stream in flight, or NULL */
	uv_timer_t *timer;           /* owned (freed by its close callback) */
	bool relist_next;            /* the wait ends in a list, not a watch */
	bool listed_once;
	bool just_listed;            /* no watch has lived since the last list */
	struct backoff bo;
	int64_t watch_started_us;
	bool watch_got_event;
	bool need_relist;            /* the stream said 410 */
	int depth;
	bool dead;
	struct kwatch_stats stats;
};

static void kw_start_list(struct kwatch *w);
static void kw_start_watch(struct kwatch *w);

static void kw_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void kw_destroy(struct kwatch *w)
{
	uv_close((uv_handle_t *)w->timer, kw_timer_closed);
	json_decref(w->store);
	free(w->path);
	free(w->group);
	free(w->version);
	free(w->resource);
	free(w->namespace);
	free(w->label_selector);
	free(w->field_selector);
	free(w->rv);
	free(w);
}

static void kw_enter(struct kwatch *w)
{
	w->depth++;
}

/* Returns true when the watch was freed. */
static bool kw_leave(struct kwatch *w)
{
	if (--w->depth == 0 && w->dead) {
		kw_destroy(w);
		return true;
	}
	return false;
}

static void kw_set_rv(struct kwatch *w, const char *rv)
{
	if (!rv || !rv[0] || strlen(rv) > 1024)
		return;
	free(w->rv);
	w->rv = xstrdup(rv);
}

static char *kw_key(const json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (!name)
		return NULL;
	if (ns && ns[0])
		return xasprintf("%s/%s", ns, name);
	return xstrdup(name);
}

static const char *obj_rv(const json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* Deliver one event. Returns false when the watch died in the callback. */
static bool kw_emit(struct kwatch *w, enum kwatch_event type, json_t *obj)
{
	w->stats.events++;
	if (w->h.event)
		w->h.event(w->userdata, w, type, obj);
	return !w->dead;
}

static bool kw_report(struct kwatch *w, const struct kclient_error *err)
{
	w->stats.errors++;
	log_debug("watch %s: %s (%s)", w->path, err->message, kclient_reason_name(err->reason));
	if (w->h.error)
		w->h.error(w->userdata, w, err);
	return !w->dead;
}

static void kw_on_timer(uv_timer_t *t)
{
	struct kwatch *w = t->data;

	kw_enter(w);
	if (w->relist_next)
		kw_start_list(w);
	else
		kw_start_watch(w);
	kw_leave(w);
}

static void kw_wait(struct kwatch *w, bool relist)
{
	uint64_t ms = backoff_next(&w->bo);

	w->relist_next = relist;
	uv_timer_start(w->timer, kw_on_timer, ms, 0);
}

/* --- list --------------------------------------------------------------- */

/* Make the store equal the listed items, with synthetic events. */
static bool kw_reconcile(struct kwatch *w, json_t *items)
{
	json_t *seen = json_object();
	json_t *gone = json_array();
	json_t *item, *old;
	const char *key;
	bool alive = true;
	size_t i;

	json_array_foreach(items, i, item) {
		char *k = kw_key(item);
		enum kwatch_event type;

		if (!k)
			continue;
		json_object_set_new(seen, k, json_true());
		old = json_object_get(w->store, k);
		if (!old) {
			type = KWATCH_ADDED;
		} else {
			const char *a = obj_rv(old), *b = obj_rv(item);

			if (a && b && strcmp(a, b) == 0) {
				json_object_set(w->store, k, item);
				free(k);
				continue;
			}
			type = KWATCH_MODIFIED;
		}
		json_object_set(w->store, k, item);
		free(k);
		if (!kw_emit(w, type, item)) {
			alive = false;
			goto out;
		}
	}
	json_object_foreach(w->store, key, old)
		if (!json_object_get(seen, key))
			json_array_append_new(gone, json_string(key));
	json_array_foreach(gone, i, item) {
		key = json_string_value(item);
		old = json_incref(json_object_get(w->store, key));
		json_object_del(w->store, key);
		alive = kw_emit(w, KWATCH_DELETED, old);
		json_decref(old);
		if (!alive)
			goto out;
	}
out:
	json_decref(seen);
	json_decref(gone);
	return alive;
}

static void kw_list_done(void *userdata, const struct kclient_result *res)
{
	struct kwatch *w = userdata;
	bool relist = w->listed_once;

	kw_enter(w);
	w->pager = NULL;
	if (res->r < 0) {
		if (kw_report(w, res->err))
			kw_wait(w, true);
		goto out;
	}
	if (!kw_reconcile(w, json_object_get(res->body, "items")))
		goto out;
	kw_set_rv(w, json_string_value(json_object_get(json_object_get(res->body, "metadata"),
						       "resourceVersion")));
	w->listed_once = true;
	w->just_listed = true;
	w->synced = true;
	if (w->h.synced) {
		w->h.synced(w->userdata, w, relist);
		if (w->dead)
			goto out;
	}
	kw_start_watch(w);
out:
	kw_leave(w);
}

static void kw_start_list(struct kwatch *w)
{
	struct kref ref = {
		.group = w->group, .version = w->version, .resource = w->resource,
		.namespace = w->namespace,
	};
	struct kclient_list_opts lo = {
		.label_selector = w->label_selector,
		.field_selector = w->field_selector,
		.limit = w->page_size,
	};
	int r;

	w->stats.lists++;
	if (w->listed_once)
		w->stats.relists++;
	r = kclient_list_all(w->kc, &ref, &lo, kw_list_done, w, &w->pager);
	if (r < 0) {
		struct kclient_error err = { .reason = KCLIENT_UNKNOWN };

		w->pager = NULL;
		snprintf(err.message, sizeof(err.message), "watch %s: cannot list: %s", w->path,
			 strerror(-r));
		if (kw_report(w, &err))
			kw_wait(w, true);
	}
}

/* --- watch -------------------------------------------------------------- */

static int kw_line(void *userdata, char *line, size_t len)
{
	struct kwatch *w = userdata;
	json_t *ev = json_loadb(line, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	int rc = 0;

	kw_enter(w);
	if (!type || !json_is_object(obj)) {
		struct kclient_error err = { .reason = KCLIENT_DECODE };

		snprintf(err.message, sizeof(err.message), "watch %s: malformed event: %.200s", w->path,
			 line);
		kw_report(w, &err);
		rc = -EBADMSG;
		goto out;
	}
	if (strcmp(type, "ERROR") == 0) {
		struct kclient_error err;

		kclient_error_decode(0, obj, line, len, &err);
		if (err.reason == KCLIENT_EXPIRED || err.reason == KCLIENT_GONE || err.code == 410) {
			w->need_relist = true;
			rc = -ESTALE;
		} else {
			kw_report(w, &err);
			rc = -EIO;
		}
		goto out;
	}
	w->watch_got_event = true;
	if (strcmp(type, "BOOKMARK") == 0) {
		w->stats.bookmarks++;
		kw_set_rv(w, obj_rv(obj));
		goto out;
	}
	{
		char *key = kw_key(obj);
		enum kwatch_event t;

		if (!key)
			goto out;
		if (strcmp(type, "ADDED") == 0) {
			t = KWATCH_ADDED;
		} else if (strcmp(type, "MODIFIED") == 0) {
			t = KWATCH_MODIFIED;
		} else if (strcmp(type, "DELETED") == 0) {
			t = KWATCH_DELETED;
		} else {
			log_debug("watch %s: ignoring event type %.40s", w->path, type);
			free(key);
			goto out;
		}
		if (t == KWATCH_DELETED)
			json_object_del(w->store, key);
		else
			json_object_set(w->store, key, obj);
		free(key);
		kw_set_rv(w, obj_rv(obj));
		kw_emit(w, t, obj);
	}
out:
	json_decref(ev);
	if (w->dead)
		rc = -ECANCELED;
	kw_leave(w);
	return rc;
}

static void kw_watch_done(void *userdata, const struct kclient_result *res)
{
	struct kwatch *w = userdata;
	bool lived;

	kw_enter(w);
	w->call = NULL;
	lived = w->watch_got_event ||
		time_mono_us() - w->watch_started_us >= (int64_t)KWATCH_LIVED_MS * 1000;
	if (w->need_relist || (res->r < 0 && (res->err->reason == KCLIENT_EXPIRED ||
					      res->err->reason == KCLIENT_GONE))) {
		/* Our resourceVersion is too old: list again. */
		w->need_relist = false;
		if (lived || !w->just_listed) {
			backoff_reset(&w->bo);
			kw_start_list(w);
		} else {
			kw_wait(w, true); /* 410 right after a list: do not spin */
		}
		goto out;
	}
	if (lived)
		w->just_listed = false;
	if (res->r == 0 || res->r == -ETIMEDOUT) {
		/* The stream ended (server timeout): resume from where we are. */
		if (lived) {
			backoff_reset(&w->bo);
			kw_start_watch(w);
		} else {
			kw_wait(w, false);
		}
		goto out;
	}
	if (res->r != -EBADMSG && res->r != -EIO && !kw_report(w, res->err))
		goto out;
	kw_wait(w, false);
out:
	kw_leave(w);
}

static void kw_start_watch(struct kwatch *w)
{
	unsigned timeout = w->timeout_s;
	struct buf b;
	int r;

	if (!timeout) {
		uint32_t rnd = 0;

		random_bytes(&rnd, sizeof(rnd));
		timeout = 300 + rnd % 300;
	}
	buf_init(&b, KCLIENT_MAX_PATH);
	r = buf_printf(&b, "%s?watch=true&timeoutSeconds=%u%s", w->path, timeout,
		       w->bookmarks ? "&allowWatchBookmarks=true" : "");
	if (r == 0 && w->rv && w->rv[0]) {
		r = buf_puts(&b, "&resourceVersion=");
		if (r == 0)
			r = kclient_query_escape(&b, w->rv);
	}
	if (r == 0 && w->label_selector) {
		r = buf_puts(&b, "&labelSelector=");
		if (r == 0)
			r = kclient_query_escape(&b, w->label_selector);
	}
	if (r == 0 && w->field_selector) {
		r = buf_puts(&b, "&fieldSelector=");
		if (r == 0)
			r = kclient_query_escape(&b, w->field_selector);
	}
	w->stats.watches++;
	w->watch_started_us = time_mono_us();
	w->watch_got_event = false;
	if (r == 0)
		r = kclient_request(w->kc, &(struct kclient_request){
						   .method = KCLIENT_GET,
						   .path = b.data,
						   .flags = KCLIENT_REQ_STREAM,
						   .timeout_ms = ((uint64_t)timeout + 30) * 1000,
						   .max_line = w->max_line,
					   },
				    kw_line, kw_watch_done, w, &w->call);
	buf_free(&b);
	if (r < 0) {
		struct kclient_error err = { .reason = KCLIENT_UNKNOWN };

		w->call = NULL;
		snprintf(err.message, sizeof(err.message), "watch %s: cannot start: %s", w->path,
			 strerror(-r));
		if (kw_report(w, &err))
			kw_wait(w, false);
	}
}

/* --- public ------------------------------------------------------------- */

int kwatch_start(struct kclient *kc, const struct kref *ref, const struct kwatch_options *opts,
		 const struct kwatch_handlers *handlers, void *userdata, struct kwatch **ret_w)
{
	struct kwatch_options o = { 0 };
	struct kwatch *w;
	struct errbuf err;
	struct buf b;
	int r;

	if (opts)
		o = *opts;
	if (ref->name || ref->subresource || !handlers || o.timeout_s > KWATCH_MAX_TIMEOUT_S)
		return -EINVAL;
	buf_init(&b, KCLIENT_MAX_PATH);
	r = kref_path(ref, &b, &err);
	if (r < 0) {
		log_debug("kwatch: %s", err.msg);
		buf_free(&b);
		return r;
	}
	w = xnew(struct kwatch);
	w->kc = kc;
	w->path = buf_steal(&b, NULL);
	w->group = xstrdup(ref->group ? ref->group : "");
	w->version = xstrdup(ref->version);
	w->resource = xstrdup(ref->resource);
	w->namespace = xstrdup(ref->namespace);
	w->label_selector = xstrdup(o.label_selector);
	w->field_selector = xstrdup(o.field_selector);
	w->timeout_s = o.timeout_s;
	w->bookmarks = !o.no_bookmarks;
	w->max_line = o.max_line;
	w->page_size = o.page_size;
	w->h = *handlers;
	w->userdata = userdata;
	w->store = json_object();
	w->rv = xstrdup("");
	backoff_init(&w->bo, o.backoff_base_ms ? o.backoff_base_ms : KWATCH_DEFAULT_BACKOFF_BASE_MS,
		     o.backoff_max_ms ? o.backoff_max_ms : KWATCH_DEFAULT_BACKOFF_MAX_MS, 0.2);
	w->timer = xnew(uv_timer_t);
	uv_timer_init(kclient_loop(kc), w->timer);
	w->timer->data = w;
	*ret_w = w;

	kw_enter(w);
	if (o.resource_version) {
		kw_set_rv(w, o.resource_version);
		w->synced = true;
		w->listed_once = true;
		kw_start_watch(w);
	} else {
		kw_start_list(w);
	}
	kw_leave(w);
	return 0;
}

struct kwatch *kwatch_free(struct kwatch *w)
{
	if (!w || w->dead)
		return NULL;
	w->dead = true;
	kclient_pager_cancel(w->pager);
	w->pager = NULL;
	kclient_cancel(w->call);
	w->call = NULL;
	uv_timer_stop(w->timer);
	if (w->depth == 0)
		kw_destroy(w);
	return NULL;
}

const char *kwatch_resource_version(const struct kwatch *w)
{
	return w->rv;
}

json_t *kwatch_get(const struct kwatch *w, const char *ns, const char *name)
{
	char *key = ns && ns[0] ? xasprintf("%s/%s", ns, name) : xstrdup(name);
	json_t *v = json_object_get(w->store, key);

	free(key);
	return v;
}

json_t *kwatch_store(const struct kwatch *w)
{
	return w->store;
}

bool kwatch_synced(const struct kwatch *w)
{
	return w->synced;
}

void kwatch_get_stats(const struct kwatch *w, struct kwatch_stats *ret_stats)
{
	*ret_stats = w->stats;
}
