/* ui.h - the unified web view nave-hub serves (issue #10): the contract.
 *
 * THIS FILE IS THE CONTRACT between the parts of the web view: the server
 * side (sessions, static files, live events: ui_session.c, ui_static.c,
 * ui_events.c), the JSON views (ui_api.c), the page (hub/ui/: index.html,
 * app.js, style.css, built into the binary) and the browser tests
 * (tests/ui/). Change it only by adding.
 *
 * URLS
 *   GET  /                      302 to /ui/
 *   GET  /ui/, /ui/<asset>      the page's static files, built into nave-hub
 *                               (hub/ui/ files, embedded by tools/embed). No
 *                               credential needed: they hold no data. Every
 *                               answer carries UI_CSP and the headers of
 *                               ui_static_headers(); unknown assets 404.
 *   everything the page reads or does goes through /nave/v1/ui/... (below)
 *   and the existing endpoints (POST /nave/v1/clusters/NAME/accept|deny,
 *   POST /nave/v1/namespaces/NS/applications/NAME/rollout/VERB, kapi GETs),
 *   authenticated by the session cookie.
 *
 * AUTHENTICATION (never open by default)
 *   POST /nave/v1/ui/login   body {"token": "<admin token>"} (the bearer
 *                            token of the hub's admin.kubeconfig). 200
 *                            {"user": "nave:admin", "expires": RFC3339} and
 *                            Set-Cookie: UI_COOKIE=<32 random bytes, hex>;
 *                            Path=/; HttpOnly; Secure; SameSite=Strict;
 *                            Max-Age=UI_SESSION_TTL_S. 401 for a wrong token
 *                            (message names "token"), 400 for a malformed
 *                            body, 429 with Retry-After once more than
 *                            UI_LOGIN_FAILURES_MAX failures happened in the
 *                            last minute (any client: the admin token is one
 *                            secret). The hub keeps only SHA-256 of the
 *                            session id, in memory (a restart logs out);
 *                            at most UI_SESSIONS_MAX sessions (the oldest is
 *                            dropped). Sessions expire after
 *                            UI_SESSION_TTL_S, or UI_SESSION_IDLE_S without
 *                            a request. Never logged.
 *   POST /nave/v1/ui/logout  ends the session, clears the cookie. 200.
 *   GET  /nave/v1/ui/session 200 {"user", "expires"} or 401.
 *   A request with neither "Authorization: Bearer" nor a client certificate
 *   but with a live session cookie is the admin (hub_authenticate calls
 *   ui_session_identity). Cross-site request forgery: such a request whose
 *   method is not GET/HEAD must carry the header "X-Nave-UI: 1" (the page's
 *   fetch sets it; a form or a cross-origin page cannot without a CORS
 *   preflight, which the hub never grants), else 403 naming the header.
 *
 * LIVE EVENTS
 *   GET /nave/v1/ui/events   text/event-stream (EventSource). First
 *                            "event: hello\ndata: {"generation": N}\n\n",
 *                            then on changes, coalesced to at most one per
 *                            UI_EVENT_COALESCE_MS:
 *                            "event: change\ndata: {"generation": N,
 *                            "topics": [...], "apps": ["ns/name", ...]}\n\n"
 *                            topics among "clusters" (ManagedCluster,
 *                            registrations/CSRs), "works" (ManifestWork),
 *                            "applications" (Application, its revisions),
 *                            "placements" (Placement, PlacementDecision,
 *                            ManifestWorkReplicaSet); apps lists the
 *                            Applications that changed (at most 50; more:
 *                            "apps" is absent, meaning "any").
 *                            ": ping\n\n" every UI_EVENT_PING_S. The stream
 *                            ends when the session ends (logout, expiry).
 *                            Lease renewals that change nothing are not
 *                            events. At most UI_STREAMS_MAX streams.
 *   The page re-fetches the view on screen on each relevant change.
 *
 * JSON VIEWS (GET, admin; ui_api.c). Server-side filtering and paging:
 * offset (default 0) and limit (default 100, at most UI_LIMIT_MAX); a bad
 * parameter is 400 naming it. Health words everywhere: "healthy",
 * "progressing", "failed", "unknown" (ui_health_word()).
 *
 *   GET /nave/v1/ui/overview
 *     {"generation", "clusters": {"total", "available", "unavailable",
 *      "pending", "denied"}, "applications": {"total", "healthy",
 *      "progressing", "failed", "unknown"}, "rollouts": [<rollout row>...]}
 *     rollouts: applications with a status.rollout whose phase is not
 *     Succeeded, or with a local rollout in progress; at most 50.
 *
 *   GET /nave/v1/ui/clusters?q=&state=&sort=&offset=&limit=
 *     q: substring of the name, or "key=value" matching a label;
 *     state: all|available|unavailable|pending|denied; sort: name|state|
 *     heartbeat (most recent first). Answer:
 *     {"total" (matching), "offset", "limit", "counts": {"all",
 *      "available", "unavailable", "pending", "denied"}, "items": [
 *      {"name", "state" ("Available"|"Unavailable"|"Unknown"|"Pending"|
 *       "Denied"|"Accepted": accepted, not joined yet), "accepted" (bool),
 *       "joined" (bool), "available" ("True"|"False"|"Unknown"|""),
 *       "labels": {}, "claims": {name: value}, "kubernetesVersion",
 *       "nodes" (int or null), "lastHeartbeat" (RFC3339 or null),
 *       "certificateExpiry" (RFC3339 or null), "works" (int),
 *       "pendingRegistration" (bool: a registration waits for accept),
 *       "message"}]}
 *
 *   GET /nave/v1/ui/applications?q=&namespace=&health=&offset=&limit=
 *     {"total", "offset", "limit", "counts": {"all", "healthy",
 *      "progressing", "failed", "unknown"}, "items": [<app row>]}
 *     <app row> = {"namespace", "name", "revision" ("web-v3" or ""),
 *      "phase" (status.status or ""), "health", "message", "components"
 *      (int), "clusters" (int), "healthyServices", "services" (ints),
 *      "rollout": null | <rollout row>, "created", "updated" (RFC3339)}
 *     <rollout row> = {"namespace", "name", "kind" ("wave" | "local"),
 *      "phase", "paused" (bool), "revision", "message", "summary":
 *      {"total", "succeeded", "failed", "updating", "pending"}}
 *
 *   GET /nave/v1/ui/applications/NS/NAME?clusterQ=&clusterOffset=&clusterLimit=
 *     {"app": <app row>, "conditions": status.conditions,
 *      "components": [{"name", "type", "traits": ["scaler", ...]}],
 *      "matrix": {"components": [names], "totalClusters", "clusterOffset",
 *        "clusterLimit", "clusters": [{"name", "available", "revision",
 *          "cells": {<component>: {"revision", "ready", "desired" (int or
 *          null), "health", "message"}}}]},
 *      "tree": [{"cluster", "resources": [{"namespace", "apiVersion",
 *        "kind", "name", "component", "health", "message"}]}]  (the same
 *        page of clusters as the matrix),
 *      "revisions": [{"name", "revision" (int), "hash", "created",
 *        "succeeded" (bool), "workflowPhase", "publishVersion", "inUse"
 *        (bool)}] newest first,
 *      "workflow": status.workflow or null,
 *      "rollout": status.rollout or null (the cross-cluster wave),
 *      "localRollouts": [{"cluster", "name", "state", "currentBatch",
 *        "numBatches", "upgradedReplicas", "upgradedReadyReplicas",
 *        "targetSize", "reason", "message"}] (from the works' Rollout
 *        status feedback; batch numbers as the klusterlet reports them,
 *        currentBatch counting from 0)}
 *     404 naming the application when it does not exist.
 *
 *   GET /nave/v1/ui/applications/NS/NAME/diff?from=REV&to=REV
 *     {"from", "to", "equal" (bool), "diff": "<unified diff text, as
 *      navectl app diff prints>"}; 404 naming a missing revision.
 *
 * THE PAGE'S TEST HOOKS (what tests/ui drives; data-testid attributes):
 *   login-form, login-token, login-submit, login-error; nav-fleet, nav-apps,
 *   nav-rollouts, logout, live-status ("live" | "reconnecting");
 *   fleet: cluster-filter, cluster-state-filter, cluster-table, cluster-count,
 *     cluster-row (data-name), inside it cluster-state, cluster-accept,
 *     cluster-deny;
 *   applications: app-filter, app-table, app-row (data-name "ns/name"),
 *     inside it app-health;
 *   one application (#/apps/NS/NAME): app-detail (data-name), app-phase,
 *     tab-matrix, tab-tree, tab-revisions, tab-workflow, tab-rollout;
 *     matrix, matrix-cell (data-component, data-cluster; text like
 *     "web-v2 3/3 healthy"); tree; revision-row (data-name), diff-view;
 *     workflow-step (data-name);
 *   rollouts: rollout-panel, rollout-phase (text holds the phase and
 *     "paused" when paused), rollout-message, rollout-cluster (data-cluster),
 *     inside it rollout-state and rollout-batch ("batch 2 of 3"),
 *     rollout-pause, rollout-resume, rollout-abort, rollout-rollback,
 *     confirm-ok, confirm-cancel (the dialog abort and rollback ask);
 *   toast (the last action's result or error).
 *   Health shows as a badge with class "badge badge-<health word>" and the
 *   word as text (colour is never the only signal).
 */
#ifndef NAVE_UI_H
#define NAVE_UI_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "hub.h"

struct hub;
struct httpd_req;

#define UI_COOKIE "nave_session"
#define UI_SESSION_TTL_S (12 * 3600)
#define UI_SESSION_IDLE_S (2 * 3600)
/* (uiharden) UI_SESSION_TTL_S and UI_SESSION_IDLE_S are the defaults of
 * `nave-hub serve --ui-session-ttl DUR` and `--ui-session-idle DUR` (each
 * 1s..30d, idle at most the TTL; hub_parse_ui_sessions): the login's
 * Max-Age and "expires" and the expiry follow the configured values. */
#define UI_SESSIONS_MAX 256
#define UI_LOGIN_FAILURES_MAX 10         /* per minute, all clients together */
#define UI_STREAMS_MAX 256
#define UI_EVENT_COALESCE_MS 250
#define UI_EVENT_PING_S 15
#define UI_LIMIT_MAX 500
#define UI_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* ui_session.c, ui_events.c, ui_static.c: the server side ------------------ */

/* Start the web view's state (sessions, the change subscription, timers) on
 * the hub's loop; call after the controllers start. Returns 0 or a negative
 * errno with err set. ui_stop ends every event stream and frees the state;
 * safe to call twice or without ui_start. */
int ui_start(struct hub *h, struct errbuf *err);
void ui_stop(struct hub *h);

/* Whether req is for the page's static files ("/" or "/ui" or "/ui/..."),
 * which serve.c answers with ui_static_http before any authentication. */
bool ui_static_path(const char *path);
void ui_static_http(struct hub *h, struct httpd_req *req);

/* The identity of req's session cookie, for hub_authenticate when req has
 * neither a bearer token nor a client certificate. Returns 1 and sets
 * *ret_id to the admin (user HUB_ADMIN_USER) for a live session (and
 * refreshes its idle time), 0 when req has no session cookie, or -EACCES
 * with the 401 message in err for an unknown or expired one. */
int ui_session_identity(struct hub *h, struct httpd_req *req, struct hub_identity *ret_id, struct errbuf *err);
/* The session of the request being dispatched (when hub_authenticate found
 * its cookie), else 0; and whether session serial is still live. serve.c
 * tags such requests so that their watch streams end with the session. */
uint64_t ui_session_current(struct hub *h);
bool ui_session_live(struct hub *h, uint64_t serial);
/* The cross-site request rule for a request authenticated by its session
 * cookie: 0 when it may proceed, or -EPERM with the 403 message in err. */
int ui_session_csrf_check(struct httpd_req *req, struct errbuf *err);

/* Serve /nave/v1/ui/<segs...> (n >= 1 segments, already split and checked
 * as in serve.c's route_nave). Answers every request: login is open to
 * anyone, everything else needs the admin (the cookie or the bearer token);
 * the JSON views are handed to ui_api_http. */
void ui_http(struct hub *h, struct httpd_req *req, char **segs, int n);
/* (uiserver) segs are the segments AFTER /nave/v1/ui: for
 * /nave/v1/ui/applications/NS/NAME, segs = {"applications", "NS", "NAME"},
 * n = 3; ui_api_http gets the same segs and n. */

/* (uiserver) The parsers of what a browser sends, exported for
 * tests/fuzz/fuzz_ui_cookie.c (ui_session.c). */
#define UI_COOKIE_HEADER_MAX 8192  /* a longer Cookie header is refused (401) */
#define UI_SESSION_ID_HEX 64       /* the cookie's value: 32 random bytes as lowercase hex */
#define UI_LOGIN_BODY_MAX 4096     /* POST /nave/v1/ui/login body */
#define UI_LOGIN_TOKEN_MAX 512     /* its "token" (bytes) */
/* Find UI_COOKIE in a Cookie header value ("a=1; nave_session=<hex>"):
 * pairs split on ';', blanks around names and values ignored, one pair of
 * double quotes around the value removed, other cookies ignored. Returns 1
 * with the value in ret_value (UI_SESSION_ID_HEX lowercase hex digits),
 * 0 when the header has no UI_COOKIE, -E2BIG for a header over
 * UI_COOKIE_HEADER_MAX, -EINVAL when UI_COOKIE appears twice or its value
 * is not UI_SESSION_ID_HEX lowercase hex digits (err says which). */
int ui_cookie_parse(const char *header, char ret_value[UI_SESSION_ID_HEX + 1], struct errbuf *err);
/* Parse a login body {"token": "..."} of len bytes: a JSON object (other
 * members ignored) whose "token" is a non-empty string of at most
 * UI_LOGIN_TOKEN_MAX bytes without NUL. Returns 0 with the token copied
 * into ret_token (token_size bytes, at least UI_LOGIN_TOKEN_MAX + 1),
 * -E2BIG over UI_LOGIN_BODY_MAX, -EBADMSG otherwise (err names "body" or
 * "token"). The caller wipes ret_token after use. */
int ui_login_parse(const char *body, size_t len, char *ret_token, size_t token_size, struct errbuf *err);
/* (uiserver) The generation of the live events: increases with every
 * change event sent (ui_events.c), 0 before ui_start. The JSON views may
 * report it so the page can tell an answer from before an event. */
long long ui_events_generation(const struct hub *h);

/* ui_api.c: the JSON views --------------------------------------------------- */

/* (uiapi) What the JSON views add to the shapes above, and their details:
 *   - overview.generation is ui_events_generation().
 *   - counts are over the items matching q (clusters, applications) before
 *     the state/health filter; total is after both. offset is at most
 *     UI_OFFSET_MAX (10,000,000).
 *   - clusters: state buckets: available = Available; unavailable =
 *     Unavailable, Unknown or Accepted (not joined yet); pending; denied.
 *     sort=state orders Pending, Unavailable, Unknown, Accepted, Available,
 *     Denied (then by name). lastHeartbeat is null until the cluster has
 *     joined (the hub's clock of its last lease renewal; after a hub restart,
 *     the restart until the next renewal). certificateExpiry is the notAfter
 *     of the newest certificate the hub issued to the cluster.
 *   - applications: q matches "namespace/name" (substring) or a label of the
 *     Application ("key=value"); the row's message is the first False
 *     condition's message, else status.workflow.message; updated is the
 *     latest of creation, conditions' lastTransitionTime and the workflow's
 *     start/end.
 *   - one application: clusterQ also matches "key=value" against the
 *     ManagedCluster's labels; the matrix's clusters are those with a work
 *     or a status entry, sorted by name; a component not deployed to a
 *     cluster has no cell there; a cell's desired is the workload's
 *     desiredReplicas feedback, else spec.replicas in the work, else the
 *     service's replicas; cell health: healthy (the service is), unknown
 *     (the cluster is not Available), failed (not applied, or the work is
 *     Degraded), else progressing. revisions[].inUse: the latest revision or
 *     one a cluster's work still carries (status.clusters[].revision).
 *     localRollouts entries also carry "namespace", "batchState"
 *     (batchRollingState) and "paused"; at most UI_LIMIT_MAX entries, all
 *     counted in "localRolloutsTotal" (added). The app row's rollout is the
 *     wave unless it Succeeded while a local rollout runs.
 *   - <rollout row> of kind "local" (the works' Rollout feedback summed):
 *     phase Progressing (Paused when paused) while a cluster's rollout is
 *     pending or updating, else Failed when one failed (rolloutFailed,
 *     rollbackSucceed, rollingBack), else Succeeded; message is the first
 *     cluster in progress: "c1: batch 2 of 3: ...".
 *   - (uiharden) held cells: a cluster a cross-cluster wave has not released
 *     yet (Pending in status.rollout.clusters) has no status.services entry
 *     but keeps the previous revision's work; its cells show that content:
 *     revision = the revision the work carries (status.clusters[].revision),
 *     ready/desired from the work's feedback (desired as above), health from
 *     the work alone (unknown: cluster not Available; failed: Degraded or
 *     not applied; healthy: applied and ready >= desired, or Available
 *     without replica feedback; else progressing), message = the wave's
 *     message for the cluster, else "not released by the rollout yet: ...".
 *   - diff: 413 when a side is over TEXTDIFF_LINES_MAX lines of YAML or the
 *     change is over UI_DIFF_CELLS_MAX (navectl app diff does those). */
/* (uiapi) Caps and defaults of the JSON views. */
#define UI_LIMIT_DEFAULT 100           /* limit, clusterLimit when absent */
#define UI_Q_MAX 256                   /* bytes of q, clusterQ */
#define UI_ROLLOUTS_MAX 50             /* the overview's rollouts */
#define UI_DIFF_CELLS_MAX (8u * 1000 * 1000) /* lines x lines left after trimming the common head
						 and tail; a larger change is 413 (navectl app diff it) */

/* Serve GET /nave/v1/ui/{overview,clusters,applications[/NS/NAME[/diff]]}
 * for the admin (the caller checked). Answers every request (404 for an
 * unknown view, 405 for another method). */
void ui_api_http(struct hub *h, struct httpd_req *req, char **segs, int n);

/* The health word of an Application's status.status phase: "healthy"
 * (running), "progressing" (rendering, runningWorkflow,
 * workflowSuspending, deleting), "failed" (workflowFailed,
 * workflowTerminated, unhealthy), "unknown" (anything else, NULL). */
const char *ui_health_word(const char *phase);

#endif
