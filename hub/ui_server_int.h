/* ui_server_int.h - internals shared by the web view's server side:
 * ui_session.c (sessions, login, routing of /nave/v1/ui), ui_events.c (the
 * change subscription and the event streams) and ui_static.c (the page's
 * files). The contract with the page and the JSON views is ui.h.
 *
 * All of it lives in one struct ui_ctl, made by ui_start and owned by
 * struct hub (h->ui); everything runs on the hub's loop.
 */
#ifndef NAVE_UI_SERVER_INT_H
#define NAVE_UI_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "codec.h"
#include "ui.h"

#define UI_SESSION_SWEEP_MS 1000  /* expired sessions are dropped (and their streams ended) this often */
#define UI_EVENT_APPS_MAX 50      /* "apps" of a change event; more: the field is absent */

/* One session. Only the SHA-256 of the cookie's value is kept. */
struct ui_session {
	bool used;
	uint8_t hash[SHA256_LEN];
	uint64_t serial;          /* names the session to its event streams; never 0 */
	int64_t created_us;       /* wall clock */
	int64_t expires_us;       /* wall clock: created + ui_ctl.ttl_s */
	uint64_t last_ms;         /* uv_now of its last request (idle expiry) */
};

struct ui_stream;

struct ui_ctl {
	struct hub *h;                               /* borrowed */
	/* sessions (ui_session.c) */
	int64_t ttl_s, idle_s;                       /* lifetimes (--ui-session-ttl, --ui-session-idle) */
	struct ui_session sessions[UI_SESSIONS_MAX];
	size_t nsessions;
	uint64_t next_serial;
	uint64_t cur_serial;                         /* session of the request being dispatched, if
							h->cur_id_session */
	uint64_t fail_ms[UI_LOGIN_FAILURES_MAX];     /* ring: uv_now of recent login failures */
	size_t fail_n, fail_head;
	/* events (ui_events.c) */
	struct kapi_sub *sub;                        /* borrowed handle (kapi owns it) */
	struct ui_stream *streams;                   /* owned list */
	size_t nstreams;
	uint64_t generation;                         /* coalesced changes so far */
	unsigned pending_topics;                     /* UI_TOPIC_* bits waiting for the timer */
	json_t *pending_apps;                        /* owned object used as a set ("ns/name" -> true) */
	bool pending_apps_any;                       /* more than UI_EVENT_APPS_MAX changed */
	uv_timer_t coalesce;                         /* one-shot: sends the pending change */
	uv_timer_t tick;                             /* UI_SESSION_SWEEP_MS: expiry, pings */
	unsigned ticks;
	int handles_open;                            /* uv handles not closed yet (freed at 0) */
};

/* ui_session.c */
/* Drop sessions past their TTL or idle time (ending their streams). */
void ui_sessions_sweep(struct ui_ctl *ui);

/* ui_events.c */
/* Serve GET /nave/v1/ui/events for the admin; serial is the session the
 * stream belongs to (0: a bearer-token client, ended only by ui_stop). */
void ui_events_http(struct hub *h, struct httpd_req *req, uint64_t serial);
/* End every event stream of session serial (logout, expiry, eviction). */
void ui_events_end_session(struct ui_ctl *ui, uint64_t serial);
/* Subscribe to changes and start the timers; ui_events_stop ends every
 * stream, unsubscribes and closes the handles (the last close frees ui). */
int ui_events_start(struct ui_ctl *ui, struct errbuf *err);
void ui_events_stop(struct ui_ctl *ui);

#endif
