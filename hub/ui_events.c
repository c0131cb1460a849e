/* ui_events.c - the web view's live events (GET /nave/v1/ui/events, ui.h),
 * and the web view's start and stop.
 *
 * One kapi subscription sees every committed change. A change that matters
 * to the page marks topics ("clusters", "works", "applications",
 * "placements") and the Applications it concerns as pending and arms a
 * one-shot timer of UI_EVENT_COALESCE_MS; when it fires, one "change" event
 * carrying everything pending goes to every stream, so a burst of writes
 * (a rollout touching hundreds of works) costs one event per period. A
 * MODIFIED change whose spec, status and meaningful metadata (labels,
 * annotations, finalizers, deletion) are equal is not an event: only
 * resourceVersion or managedFields moved. Lease renewals that change
 * nothing do not write at all (hub_lease_renew writes the ManagedCluster
 * only when a condition or a claim changes), so they make no event either.
 *
 * Streams are httpd streams of "text/event-stream" (EventSource): "hello"
 * first, then "change" events and a ": ping" comment every UI_EVENT_PING_S.
 * At most UI_STREAMS_MAX (more: 503 with Retry-After). Every stream of a
 * session that ends (logout, expiry, eviction: see ui_session.c) is ended. A
 * stream whose queue is over httpd's cap (-ENOBUFS: a reader that does not
 * read; 4 MiB, httpd's default max_stream_queue) is ended too: it leaves the
 * list and gets no more events, though httpd keeps the connection and what
 * it queued until the client reads or leaves (httpd has no call that drops a
 * stream at once). A stream opened with the bearer token belongs to no
 * session and ends only when its client leaves or the hub stops.
 *
 * The tick timer (UI_SESSION_SWEEP_MS) sweeps expired sessions and sends the
 * pings. Everything runs on the hub's loop; writes only queue into httpd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app.h"
#include "httpd.h"
#include "hub_int.h"
#include "kobj.h"
#include "log.h"
#include "placement.h"
#include "ui_server_int.h"

#define UI_TOPIC_CLUSTERS (1u << 0)
#define UI_TOPIC_WORKS (1u << 1)
#define UI_TOPIC_APPLICATIONS (1u << 2)
#define UI_TOPIC_PLACEMENTS (1u << 3)
#define UI_STREAMS_RETRY_S "5"

struct ui_stream {
	struct ui_ctl *ui;          /* borrowed */
	struct httpd_req *req;      /* borrowed until ended or closed */
	uint64_t serial;            /* its session, 0 for none */
	struct ui_stream *prev, *next;
};

/* Streams ----------------------------------------------------------------------- */

static void stream_unlink(struct ui_ctl *ui, struct ui_stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		ui->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	ui->nstreams--;
}

/* End st (its queued events still go out) and free it. */
static void stream_end(struct ui_ctl *ui, struct ui_stream *st)
{
	stream_unlink(ui, st);
	httpd_stream_end(st->req);
	free(st);
}

/* httpd_close_fn: the client went away. */
static void on_stream_close(struct httpd_req *req, void *data)
{
	struct ui_stream *st = data;

	(void)req;
	stream_unlink(st->ui, st);
	free(st);
}

/* Write text to st; a refused write (slow reader) ends it. Returns 0 or the
 * negative errno of the refusal (st is then gone). */
static int stream_send(struct ui_ctl *ui, struct ui_stream *st, const char *text, size_t len)
{
	int r = httpd_stream_write(st->req, text, len);

	if (r < 0) {
		log_info("web view: ending an event stream: %s", r == -ENOBUFS ? "its reader is too slow"
										  : strerror(-r));
		stream_end(ui, st);
	}
	return r;
}

static void broadcast(struct ui_ctl *ui, const char *text)
{
	struct ui_stream *st, *next;
	size_t len = strlen(text);

	for (st = ui->streams; st; st = next) {
		next = st->next;
		stream_send(ui, st, text, len);
	}
}

/* See ui_server_int.h. */
void ui_events_http(struct hub *h, struct httpd_req *req, uint64_t serial)
{
	struct ui_ctl *ui = h->ui;
	struct ui_stream *st;
	char hello[64];
	int r;

	if (ui->nstreams >= UI_STREAMS_MAX) {
		httpd_add_header(req, "Retry-After", UI_STREAMS_RETRY_S);
		hub_respond_json(h, req, 503, json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status",
							"apiVersion", "v1", "metadata", "status", "Failure",
							"reason", "ServiceUnavailable", "message",
							"too many event streams are open; try again later",
							"code", 503));
		return;
	}
	st = xnew(struct ui_stream);
	st->ui = ui;
	st->req = req;
	st->serial = serial;
	httpd_add_header(req, "Cache-Control", "no-cache");
	httpd_add_header(req, "X-Content-Type-Options", "nosniff");
	r = httpd_stream_start(req, 200, "text/event-stream", on_stream_close, st);
	if (r < 0) {
		/* -ENOTCONN: the client left (req is gone); -EINVAL: answered already */
		free(st);
		return;
	}
	st->next = ui->streams;
	if (ui->streams)
		ui->streams->prev = st;
	ui->streams = st;
	ui->nstreams++;
	snprintf(hello, sizeof(hello), "event: hello\ndata: {\"generation\": %llu}\n\n",
		 (unsigned long long)ui->generation);
	stream_send(ui, st, hello, strlen(hello));
}

/* See ui_server_int.h. */
void ui_events_end_session(struct ui_ctl *ui, uint64_t serial)
{
	struct ui_stream *st, *next;

	for (st = ui->streams; st; st = next) {
		next = st->next;
		if (serial && st->serial == serial)
			stream_end(ui, st);
	}
}

/* See ui.h. */
long long ui_events_generation(const struct hub *h)
{
	return h->ui ? (long long)h->ui->generation : 0;
}

/* Changes ------------------------------------------------------------------------- */

static unsigned topic_of(const struct kapi_resource_def *def)
{
	const char *g = def->group, *r = def->resource;

	if (!strcmp(g, HUB_GROUP_CLUSTER) && !strcmp(r, HUB_RES_CLUSTERS))
		return UI_TOPIC_CLUSTERS;
	if (!strcmp(g, HUB_GROUP_CERTS) && !strcmp(r, HUB_RES_CSRS))
		return UI_TOPIC_CLUSTERS;
	if (!strcmp(g, HUB_GROUP_WORK) && !strcmp(r, HUB_RES_WORKS))
		return UI_TOPIC_WORKS;
	if (!strcmp(g, APP_GROUP) && (!strcmp(r, APP_RES_APPS) || !strcmp(r, APP_RES_REVISIONS)))
		return UI_TOPIC_APPLICATIONS;
	if (!strcmp(g, PLC_GROUP_CLUSTER) && (!strcmp(r, PLC_RES_PLACEMENTS) || !strcmp(r, PLC_RES_DECISIONS)))
		return UI_TOPIC_PLACEMENTS;
	if (!strcmp(g, PLC_GROUP_WORK) && !strcmp(r, PLC_RES_MWRS))
		return UI_TOPIC_PLACEMENTS;
	return 0;
}

static bool member_equal(const json_t *a, const json_t *b, const char *key)
{
	const json_t *x = json_object_get(a, key), *y = json_object_get(b, key);

	return (!x && !y) || (x && y && json_equal((json_t *)x, (json_t *)y));
}

/* Whether a MODIFIED change is more than a resourceVersion/managedFields
 * bump. Compares without copying (works can be large). */
static bool changed(const json_t *old_obj, const json_t *new_obj)
{
	static const char *const meta[] = {"labels", "annotations", "finalizers", "deletionTimestamp",
					   "ownerReferences", NULL};
	const json_t *om = json_object_get(old_obj, "metadata"), *nm = json_object_get(new_obj, "metadata");
	const char *key;
	json_t *v;

	if (!old_obj || !new_obj)
		return true;
	json_object_foreach((json_t *)new_obj, key, v)
		if (strcmp(key, "metadata") && !member_equal(old_obj, new_obj, key))
			return true;
	json_object_foreach((json_t *)old_obj, key, v)
		if (strcmp(key, "metadata") && !json_object_get(new_obj, key))
			return true;
	for (size_t i = 0; meta[i]; i++)
		if (!member_equal(om, nm, meta[i]))
			return true;
	return false;
}

static void note_app(struct ui_ctl *ui, const char *ns, const char *name)
{
	char key[2 * 254 + 2];

	if (!ns || !name || !*ns || !*name || ui->pending_apps_any)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (json_object_get(ui->pending_apps, key))
		return;
	if (json_object_size(ui->pending_apps) >= UI_EVENT_APPS_MAX) {
		ui->pending_apps_any = true;
		json_object_clear(ui->pending_apps);
		return;
	}
	json_object_set_new(ui->pending_apps, key, json_true());
}

static void note_apps_of(struct ui_ctl *ui, const struct kapi_resource_def *def, const json_t *obj)
{
	if (!obj)
		return;
	if (!strcmp(def->group, APP_GROUP) && !strcmp(def->resource, APP_RES_APPS))
		note_app(ui, kobj_namespace(obj), kobj_name(obj));
	else if (!strcmp(def->group, APP_GROUP) && !strcmp(def->resource, APP_RES_REVISIONS))
		note_app(ui, kobj_namespace(obj), kobj_label(obj, APP_LABEL_NAME));
	else if (!strcmp(def->group, HUB_GROUP_WORK) && !strcmp(def->resource, HUB_RES_WORKS))
		note_app(ui, kobj_label(obj, APP_LABEL_NAMESPACE), kobj_label(obj, APP_LABEL_NAME));
}

static void on_coalesce(uv_timer_t *t)
{
	static const char *const names[] = {"clusters", "works", "applications", "placements"};
	struct ui_ctl *ui = t->data;
	json_t *ev, *topics, *apps = NULL;
	const char *key;
	json_t *v;
	char *data, *text;

	if (!ui->pending_topics)
		return;
	ui->generation++;
	if (!ui->streams)
		goto out;
	topics = json_array();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ui->pending_topics & (1u << i))
			json_array_append_new(topics, json_string(names[i]));
	if (!ui->pending_apps_any) {
		apps = json_array();
		json_object_foreach(ui->pending_apps, key, v)
			json_array_append_new(apps, json_string(key));
	}
	ev = json_pack("{s:I, s:o}", "generation", (json_int_t)ui->generation, "topics", topics);
	if (apps)
		json_object_set_new(ev, "apps", apps);
	data = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (data) {
		text = xasprintf("event: change\ndata: %s\n\n", data);
		broadcast(ui, text);
		free(text);
		free(data);
	}
out:
	ui->pending_topics = 0;
	ui->pending_apps_any = false;
	json_object_clear(ui->pending_apps);
}

/* kapi_sub_fn: note what the change concerns; the timer sends it. */
static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	struct ui_ctl *ui = data;
	unsigned topic = topic_of(def);

	if (!topic)
		return;
	if (type == KAPI_EVENT_MODIFIED && !changed(old_obj, new_obj))
		return;
	ui->pending_topics |= topic;
	note_apps_of(ui, def, new_obj ? new_obj : old_obj);
	if (type == KAPI_EVENT_MODIFIED)
		note_apps_of(ui, def, old_obj); /* a relabelled object concerns its old owner too */
	if (!uv_is_active((uv_handle_t *)&ui->coalesce))
		uv_timer_start(&ui->coalesce, on_coalesce, UI_EVENT_COALESCE_MS, 0);
}

static void on_tick(uv_timer_t *t)
{
	struct ui_ctl *ui = t->data;

	ui_sessions_sweep(ui);
	if (++ui->ticks >= (unsigned)(UI_EVENT_PING_S * 1000 / UI_SESSION_SWEEP_MS)) {
		ui->ticks = 0;
		broadcast(ui, ": ping\n\n");
	}
}

/* Start and stop ---------------------------------------------------------------------- */

/* See ui_server_int.h. */
int ui_events_start(struct ui_ctl *ui, struct errbuf *err)
{
	struct hub *h = ui->h;
	int r;

	ui->pending_apps = json_object();
	if ((r = kapi_server_subscribe(h->kapi, on_change, ui, &ui->sub)) < 0)
		return errbuf_set(err, r, "web view: cannot subscribe to changes");
	uv_timer_init(h->loop, &ui->coalesce);
	uv_timer_init(h->loop, &ui->tick);
	ui->coalesce.data = ui->tick.data = ui;
	ui->handles_open = 2;
	uv_timer_start(&ui->tick, on_tick, UI_SESSION_SWEEP_MS, UI_SESSION_SWEEP_MS);
	return 0;
}

static void ui_free(struct ui_ctl *ui)
{
	json_decref(ui->pending_apps);
	memset(ui->sessions, 0, sizeof(ui->sessions));
	free(ui);
}

static void on_handle_closed(uv_handle_t *hd)
{
	struct ui_ctl *ui = hd->data;

	if (--ui->handles_open == 0)
		ui_free(ui);
}

/* See ui_server_int.h. */
void ui_events_stop(struct ui_ctl *ui)
{
	while (ui->streams)
		stream_end(ui, ui->streams);
	if (ui->sub)
		ui->sub = kapi_server_unsubscribe(ui->h->kapi, ui->sub);
	if (ui->handles_open == 0) {
		ui_free(ui);
		return;
	}
	uv_timer_stop(&ui->coalesce);
	uv_timer_stop(&ui->tick);
	uv_close((uv_handle_t *)&ui->coalesce, on_handle_closed);
	uv_close((uv_handle_t *)&ui->tick, on_handle_closed);
}

/* See ui.h. */
int ui_start(struct hub *h, struct errbuf *err)
{
	struct ui_ctl *ui;
	int r;

	if (h->ui)
		return 0;
	ui = xnew(struct ui_ctl);
	ui->h = h;
	/* a hub not configured by parse_serve_flags (tests) gets the defaults */
	ui->ttl_s = h->cfg.ui_session_ttl_s > 0 ? h->cfg.ui_session_ttl_s : UI_SESSION_TTL_S;
	ui->idle_s = h->cfg.ui_session_idle_s > 0 ? h->cfg.ui_session_idle_s : UI_SESSION_IDLE_S;
	if ((r = ui_events_start(ui, err)) < 0) {
		ui_events_stop(ui);
		return r;
	}
	h->ui = ui;
	return 0;
}

/* See ui.h. */
void ui_stop(struct hub *h)
{
	struct ui_ctl *ui = h->ui;

	if (!ui)
		return;
	h->ui = NULL;
	log_info("web view: stopping (%zu sessions, %zu event streams)", ui->nsessions, ui->nstreams);
	ui_events_stop(ui);
}
