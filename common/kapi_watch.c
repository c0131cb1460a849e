/* kapi_watch.c - watch streams: one chunked JSON line per event.
 *
 * A watch starts with synthetic ADDED events for the current state when the
 * client gave no resourceVersion (or "0"), or replays the store's history
 * window after the given one; a version older than the window gets one ERROR
 * event carrying a 410 Expired Status, then the stream ends, as kube-apiserver
 * does. Afterwards every committed change of the resource reaches the stream
 * synchronously from kapi_commit (the loop is single-threaded, so nothing can
 * slip between the initial state and the first live event). Selectors are
 * applied per event with kube's transitions: an object that stops matching
 * is DELETED for this watcher, one that starts matching is ADDED.
 *
 * Each stream has one uv timer for both its timeoutSeconds deadline and
 * BOOKMARK events (when allowWatchBookmarks). Writes go through
 * httpd_stream_write, whose queue is bounded: a reader that falls that far
 * behind is dropped (its client relists, as it would after any broken watch).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "kapi_int.h"
#include "kapi_table.h"
#include "kobj.h"
#include "log.h"
#include "selector.h"
#include "timefmt.h"

#define KAPI_WATCH_DEFAULT_TIMEOUT_S 1800
#define KAPI_WATCH_MAX_TIMEOUT_S (7 * 24 * 3600)

struct kapi_watch {
	struct kapi_server *s;       /* borrowed; NULL once the server is gone */
	struct kapi_resource *res;   /* reference held */
	struct httpd_req *req;       /* borrowed; NULL once the stream is over */
	char *ns;                    /* owned; NULL: every namespace */
	char *version;               /* owned: the version addressed */
	struct label_selector *ls;   /* owned */
	struct field_selector *fs;   /* owned, may be NULL */
	bool bookmarks;
	bool table;
	enum kapi_table_include include;
	uint64_t deadline_ms;        /* uv_now based */
	uint64_t next_bookmark_ms;
	uv_timer_t timer;
	bool timer_live;
	bool ended;
	struct kapi_watch *next;     /* server's list */
};

static void watch_free_cb(uv_handle_t *h)
{
	struct kapi_watch *w = h->data;

	free(w);
}

/* Unlink from the server, release everything; the struct goes once the
 * timer handle has closed. */
static void watch_destroy(struct kapi_watch *w)
{
	struct kapi_watch **pp;

	if (w->s) {
		for (pp = &w->s->watches; *pp; pp = &(*pp)->next) {
			if (*pp == w) {
				*pp = w->next;
				w->s->n_watches--;
				break;
			}
		}
	}
	kapi_resource_unref(w->res);
	w->res = NULL;
	free(w->ns);
	free(w->version);
	label_selector_free(w->ls);
	field_selector_free(w->fs);
	w->ns = w->version = NULL;
	w->ls = NULL;
	w->fs = NULL;
	if (w->timer_live) {
		uv_timer_stop(&w->timer);
		w->timer.data = w;
		uv_close((uv_handle_t *)&w->timer, watch_free_cb);
	} else {
		free(w);
	}
}

/* End the stream from our side (timeout, overflow, unregister, shutdown). */
static void watch_end(struct kapi_watch *w)
{
	struct httpd_req *req = w->req;

	if (w->ended)
		return;
	w->ended = true;
	w->req = NULL;
	if (req)
		httpd_stream_end(req);
	watch_destroy(w);
}

/* The client went away (httpd calls this once; never after httpd_stream_end). */
static void watch_on_close(struct httpd_req *req, void *data)
{
	struct kapi_watch *w = data;

	if (w->ended)
		return;
	w->ended = true;
	w->req = NULL;
	watch_destroy(w);
}

/* Write one line; false when the stream had to be ended. */
static bool watch_write(struct kapi_watch *w, const char *line, size_t len)
{
	if (w->ended || !w->req)
		return false;
	if (httpd_stream_queued(w->req) + len > w->s->cfg.max_watch_queue ||
	    httpd_stream_write(w->req, line, len) < 0) {
		log_warn("kapi: watch on %s fell behind (queue over its cap); closing it", w->res->rkey);
		watch_end(w);
		return false;
	}
	return true;
}

static bool matches(const struct kapi_watch *w, const json_t *obj)
{
	if (!obj)
		return false;
	if (!label_selector_matches(w->ls, kobj_labels(obj)))
		return false;
	return !w->fs || field_selector_matches(w->fs, obj);
}

/* Send one event for obj (immutable, as stored). */
static bool send_event(struct kapi_watch *w, const char *type, json_t *obj)
{
	json_t *o, *ev;
	char *txt;
	bool ok;

	if (w->table) {
		json_t *items = json_array();
		char rvs[24];

		json_array_append_new(items, kapi_obj_for_version(w->res, w->version, obj));
		snprintf(rvs, sizeof(rvs), "%s", kobj_resource_version(obj) ? kobj_resource_version(obj) : "");
		o = kapi_table_build(w->res->def.group, w->res->def.kind, items, w->res->printer_columns, rvs, NULL,
				     w->include, time_now_us());
		json_decref(items);
	} else {
		o = kapi_obj_for_version(w->res, w->version, obj);
	}
	ev = json_object();
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "object", o);
	txt = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!txt)
		return false;
	{
		size_t len = strlen(txt);
		char *line = xrealloc(txt, len + 2);

		line[len] = '\n';
		line[len + 1] = '\0';
		ok = watch_write(w, line, len + 1);
		free(line);
	}
	return ok;
}

static bool send_bookmark(struct kapi_watch *w)
{
	char line[600];
	int n;

	n = snprintf(line, sizeof(line),
		     "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s%s%s\",\"metadata\":{\"resourceVersion\":\"%" PRIu64 "\",\"creationTimestamp\":null}}}\n",
		     w->res->def.kind, w->res->def.group, *w->res->def.group ? "/" : "", w->version,
		     kapi_server_rv(w->s));
	if (n < 0 || (size_t)n >= sizeof(line))
		return true;
	return watch_write(w, line, (size_t)n);
}

/* The DELETED-for-this-watcher copy of old carrying the change's rv. */
static json_t *with_rv(const json_t *old, uint64_t rv)
{
	json_t *c = json_copy((json_t *)old), *md = json_object_get(old, "metadata");
	char rvs[24];

	md = json_is_object(md) ? json_copy(md) : json_object();
	snprintf(rvs, sizeof(rvs), "%" PRIu64, rv);
	json_object_set_new(md, "resourceVersion", json_string(rvs));
	json_object_set_new(c, "metadata", md);
	return c;
}

/* Feed one committed change to w; false when the stream ended. */
static bool feed(struct kapi_watch *w, const struct kapi_store_event *ev)
{
	bool m_old, m_new;

	if (w->ns && strcmp(w->ns, ev->ns))
		return true;
	switch (ev->type) {
	case KAPI_EVENT_ADDED:
		if (matches(w, ev->new_obj))
			return send_event(w, "ADDED", ev->new_obj);
		return true;
	case KAPI_EVENT_DELETED:
		if (matches(w, ev->new_obj))
			return send_event(w, "DELETED", ev->new_obj);
		return true;
	case KAPI_EVENT_MODIFIED:
		m_old = matches(w, ev->old_obj);
		m_new = matches(w, ev->new_obj);
		if (m_new)
			return send_event(w, m_old ? "MODIFIED" : "ADDED", ev->new_obj);
		if (m_old) {
			json_t *gone = with_rv(ev->old_obj, ev->rv);
			bool ok = send_event(w, "DELETED", gone);

			json_decref(gone);
			return ok;
		}
		return true;
	}
	return true;
}

/* See kapi_int.h. */
void kapi_watch_dispatch(struct kapi_server *s, struct kapi_resource *res, const struct kapi_store_event *ev)
{
	struct kapi_watch *w, *next;

	for (w = s->watches; w; w = next) {
		next = w->next; /* feed may end and unlink w */
		if (w->res == res && !w->ended)
			feed(w, ev);
	}
}

/* See kapi_int.h. */
void kapi_watch_close_all(struct kapi_server *s, struct kapi_resource *res)
{
	struct kapi_watch *w, *next;

	for (w = s->watches; w; w = next) {
		next = w->next;
		if (!res || w->res == res)
			watch_end(w);
	}
}

static void on_timer(uv_timer_t *t)
{
	struct kapi_watch *w = t->data;
	uint64_t now = uv_now(t->loop), at;

	if (w->ended)
		return;
	if (now >= w->deadline_ms) {
		watch_end(w);
		return;
	}
	if (w->bookmarks && now >= w->next_bookmark_ms) {
		if (!send_bookmark(w))
			return;
		w->next_bookmark_ms = now + w->s->cfg.bookmark_interval_ms;
	}
	at = w->deadline_ms;
	if (w->bookmarks && w->next_bookmark_ms < at)
		at = w->next_bookmark_ms;
	uv_timer_start(&w->timer, on_timer, at > now ? at - now : 0, 0);
}

struct initial_walk {
	struct kapi_watch *w;
	bool ok;
};

static int initial_cb(void *data, const char *ns, const char *name, json_t *obj)
{
	struct initial_walk *iw = data;

	if (!matches(iw->w, obj))
		return 0;
	if (!send_event(iw->w, "ADDED", obj)) {
		iw->ok = false;
		return 1;
	}
	return 0;
}

struct replay_walk {
	struct kapi_watch *w;
	bool ok;
};

static int replay_cb(void *data, const struct kapi_store_event *ev)
{
	struct replay_walk *rw = data;

	if (strcmp(ev->rkey, rw->w->res->rkey))
		return 0;
	if (!feed(rw->w, ev)) {
		rw->ok = false;
		return 1;
	}
	return 0;
}

static void respond_expired(struct kapi_watch *w, uint64_t asked, uint64_t oldest)
{
	struct kapi_err e = {0};
	json_t *ev = json_object();
	char *txt;

	kapi_err_set(&e, -ESTALE, NULL, "too old resource version: %" PRIu64 " (%" PRIu64 ")", asked,
		     oldest ? oldest - 1 : 0);
	e.no_details = true;
	json_object_set_new(ev, "type", json_string("ERROR"));
	json_object_set_new(ev, "object", kapi_err_status(&e, NULL));
	txt = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (txt) {
		size_t len = strlen(txt);
		char *line = xrealloc(txt, len + 2);

		line[len] = '\n';
		watch_write(w, line, len + 1);
		free(line);
	}
	watch_end(w);
}

/* See kapi_int.h. */
void kapi_watch_start(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt)
{
	struct kapi_err e = {0};
	struct errbuf eb = {{0}};
	struct kapi_watch *w = NULL;
	const char *rv = httpd_req_arg(req, "resourceVersion");
	const char *to = httpd_req_arg(req, "timeoutSeconds");
	const char *fsel = httpd_req_arg(req, "fieldSelector");
	const char *accept = httpd_req_header(req, "accept");
	uint64_t since = 0, oldest = 0, timeout_s = KAPI_WATCH_DEFAULT_TIMEOUT_S;
	bool bm = false, from_now;
	int r;

	if (s->n_watches >= s->cfg.max_watches) {
		kapi_err_set(&e, -EAGAIN, NULL, "too many watches (limit %u)", s->cfg.max_watches);
		goto fail;
	}
	if (rt->name) {
		/* GET .../name?watch=true: a watch of that one object */
		if (fsel && *fsel) {
			kapi_err_set(&e, -EBADMSG, NULL, "fieldSelector and a name in the URL are exclusive");
			goto fail;
		}
	}
	from_now = !rv || !*rv || !strcmp(rv, "0");
	if (!from_now) {
		char *end;
		unsigned long long v = strtoull(rv, &end, 10);

		if (*end || rv[0] == '-') {
			kapi_err_set(&e, -EBADMSG, NULL, "invalid resource version \"%s\"", rv);
			goto fail;
		}
		since = v;
	}
	if (to && *to) {
		char *end;
		long long v = strtoll(to, &end, 10);

		if (*end || v < 0) {
			kapi_err_set(&e, -EBADMSG, NULL, "timeoutSeconds: invalid value \"%s\"", to);
			goto fail;
		}
		timeout_s = v == 0 ? KAPI_WATCH_DEFAULT_TIMEOUT_S : (uint64_t)v;
		if (timeout_s > KAPI_WATCH_MAX_TIMEOUT_S)
			timeout_s = KAPI_WATCH_MAX_TIMEOUT_S;
	}
	kapi_parse_bool(httpd_req_arg(req, "allowWatchBookmarks"), &bm);

	w = xnew(struct kapi_watch);
	w->s = s;
	w->res = rt->res;
	rt->res->refs++;
	w->ns = rt->res->def.namespaced ? (rt->ns ? xstrdup(rt->ns) : NULL) : xstrdup("");
	w->version = xstrdup(rt->version);
	w->bookmarks = bm;
	w->table = accept && kapi_table_wanted(accept);
	{
		const char *inc = httpd_req_arg(req, "includeObject");

		w->include = inc && !strcmp(inc, "None")     ? KAPI_TABLE_INCLUDE_NONE
			     : inc && !strcmp(inc, "Object") ? KAPI_TABLE_INCLUDE_OBJECT
							      : KAPI_TABLE_INCLUDE_METADATA;
	}
	r = label_selector_parse(httpd_req_arg(req, "labelSelector"), &eb, &w->ls);
	if (r < 0) {
		kapi_err_set(&e, -EBADMSG, NULL, "unable to parse requirement: %s", eb.msg);
		goto fail;
	}
	if (rt->name) {
		char *f = xasprintf("metadata.name=%s", rt->name);

		r = field_selector_parse(f, &eb, &w->fs);
		free(f);
	} else if (fsel && *fsel) {
		r = field_selector_parse(fsel, &eb, &w->fs);
	}
	if (r < 0) {
		kapi_err_set(&e, -EBADMSG, NULL, "invalid field selector: %s", eb.msg);
		goto fail;
	}
	if (httpd_stream_start(req, 200, "application/json", watch_on_close, w) < 0) {
		/* the client has gone (or req was answered): nothing to answer.
		 * w is not linked into s->watches yet, so this only frees it. */
		watch_destroy(w);
		return;
	}
	w->req = req;
	w->next = s->watches;
	s->watches = w;
	s->n_watches++;
	uv_timer_init(s->loop, &w->timer);
	w->timer.data = w;
	w->timer_live = true;

	if (from_now) {
		struct initial_walk iw = {w, true};
		const char *exact = w->fs ? field_selector_exact(w->fs, "metadata.name") : NULL;

		if (exact && w->ns) {
			json_t *obj = NULL;

			if (s->store->ops->get(s->store, w->res->rkey, w->ns, exact, &obj) == 0) {
				initial_cb(&iw, w->ns, exact, obj);
				json_decref(obj);
			}
		} else {
			s->store->ops->list(s->store, w->res->rkey, w->ns, NULL, initial_cb, &iw);
		}
		if (!iw.ok)
			return; /* ended while writing */
	} else {
		struct replay_walk rw = {w, true};

		r = s->store->ops->history(s->store, since, replay_cb, &rw, &oldest);
		if (r == -ESTALE) {
			respond_expired(w, since, oldest);
			return;
		}
		if (!rw.ok)
			return;
	}
	w->deadline_ms = uv_now(s->loop) + timeout_s * 1000;
	w->next_bookmark_ms = uv_now(s->loop) + s->cfg.bookmark_interval_ms;
	{
		uint64_t now = uv_now(s->loop), at = w->deadline_ms;

		if (w->bookmarks && w->next_bookmark_ms < at)
			at = w->next_bookmark_ms;
		uv_timer_start(&w->timer, on_timer, at > now ? at - now : 0, 0);
	}
	return;
fail:
	if (w)
		watch_destroy(w); /* not linked yet: only frees */
	kapi_err_respond(req, &e, &rt->res->def);
	kapi_err_clear(&e);
}
