/* ui_api.c - the JSON views of the web view (hub/ui.h "JSON VIEWS").
 *
 *   GET /nave/v1/ui/overview
 *   GET /nave/v1/ui/clusters?q=&state=&sort=&offset=&limit=
 *   GET /nave/v1/ui/applications?q=&namespace=&health=&offset=&limit=
 *   GET /nave/v1/ui/applications/NS/NAME?clusterQ=&clusterOffset=&clusterLimit=
 *   GET /nave/v1/ui/applications/NS/NAME/diff?from=REV&to=REV
 *
 * Everything is read from the store's immutable objects, never copied, on
 * the hub's loop, in one go: a view writes nothing, so the borrowed objects
 * it holds stay valid until it answers. Clusters, applications and CSRs are
 * walked with kapi_foreach; ManifestWorks are never walked (6,000+ of them at
 * 1,000 clusters, and touching each costs more than the rest of a view):
 * a cluster's works are counted by key (the store's count), and an
 * application's works are fetched by key ("<ns>.<name>" in each cluster
 * namespace its status names) through the store's get, which hands out a
 * reference to the stored object. Indexes are built per request (hash tables
 * keyed by name: jansson objects), so a view costs O(clusters + CSRs +
 * applications + the works of the applications shown), never clusters x
 * works; only the page asked for is turned into JSON (a certificate is
 * parsed only for a cluster on the page). Local rollouts are looked for only
 * in applications with the rollout trait (whose Rollout the klusterlet runs).
 *
 * Where things come from:
 *   - clusters: ManagedClusters (spec.hubAcceptsClient, conditions,
 *     clusterClaims, labels); the last heartbeat from the in-memory cluster
 *     table (struct hub_cluster.last_renew_ms, uv_now of the last lease,
 *     turned into wall-clock time); CertificateSigningRequests labelled with
 *     the cluster (a pending registration; the newest issued certificate's
 *     notAfter); the ManifestWorks of the cluster's namespace (counted);
 *   - applications: the Application's status (app.h), ApplicationRevisions
 *     (label APP_LABEL_NAME), and the ManifestWorks of the application
 *     (name "<ns>.<name>" in each cluster's namespace) for the resource
 *     tree's per-resource status and the local Rollout's status feedback
 *     (klusterlet/rollout_plan.h, docs/rollouts.md "Status: what the hub
 *     sees");
 *   - the diff: common/apprev_text.h and common/textdiff.h, as `navectl app
 *     diff` prints it. The LCS costs O(N*M) after trimming the common head
 *     and tail; a change larger than UI_DIFF_CELLS_MAX cells is refused
 *     (413) rather than blocking the loop: navectl diffs it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "app.h"
#include "app_int.h"
#include "apprev_text.h"
#include "buf.h"
#include "codec.h"
#include "httpd.h"
#include "hub_int.h"
#include "kapi_store.h"
#include "kobj.h"
#include "log.h"
#include "textdiff.h"
#include "timefmt.h"
#include "ui.h"

#define UI_WORK_NAME_MAX 300             /* "<ns>.<name>" */
#define UI_REV_NAME_MAX 300              /* "<app>-v<N>" */
#define UI_REV_PARAM_MAX 300             /* from/to as given */
#define UI_OFFSET_MAX 10000000           /* offset, clusterOffset */
#define UI_WORD_MAX 64                   /* state, sort, health */
#define UI_GROUP_MAX 254

static const char not_found_msg[] = "the server could not find the requested resource";

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static const char *sget(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static const char *spath(const json_t *o, const char *path)
{
	const char *s = json_string_value(kobj_get_path(o, path));

	return s ? s : "";
}

/* json_pack, logging why when jansson refuses (a bug here: answered 500). */
static json_t *pack(const char *fmt, ...)
{
	json_error_t e;
	json_t *v;
	va_list ap;

	va_start(ap, fmt);
	v = json_vpack_ex(&e, 0, fmt, ap);
	va_end(ap);
	if (!v)
		log_error("ui_api: cannot build the JSON \"%s\": %s", fmt, e.text);
	return v;
}

/* An integer member of o, or null when absent. */
static json_t *int_or_null(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer(json_integer_value(v)) : json_null();
}

/* Answer 200 with body (consumed); a body jansson could not build (NULL) is
 * a 500 rather than a crash. */
static void respond_ok(struct hub *h, struct httpd_req *req, json_t *body)
{
	if (!body) {
		hub_respond_error(h, req, -EIO, "the view could not be built");
		return;
	}
	hub_respond_json(h, req, 200, body);
}

static void respond_bad(struct hub *h, struct httpd_req *req, const struct errbuf *err)
{
	hub_respond_error(h, req, -EBADMSG, err->msg);
}

/* A name filter q: "key=value" matches a label exactly; anything else is a
 * case-insensitive substring of name. */
static bool q_matches(const char *q, const char *name, const json_t *labels)
{
	const char *eq;

	if (!q || !*q)
		return true;
	eq = strchr(q, '=');
	if (eq) {
		char key[UI_Q_MAX + 1];
		const char *v;

		snprintf(key, sizeof(key), "%.*s", (int)(eq - q), q);
		v = json_string_value(json_object_get(labels, key));
		return v && !strcmp(v, eq + 1);
	}
	return strcasestr(name, q) != NULL;
}

/* ------------------------------------------------------------------------ */
/* query parameters                                                          */

/* Integer parameter name in [min, max], default dflt. -EBADMSG naming it. */
static int param_int(struct httpd_req *req, const char *name, long long dflt, long long min, long long max,
		     long long *ret, struct errbuf *err)
{
	const char *s = httpd_req_arg(req, name);
	long long v = 0;

	if (!s) {
		*ret = dflt;
		return 0;
	}
	if (!*s || strlen(s) > 12)
		goto bad;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		v = v * 10 + (*p - '0');
	}
	if (v < min || v > max)
		goto bad;
	*ret = v;
	return 0;
bad:
	return errbuf_set(err, -EBADMSG, "%s: Invalid value: \"%.64s\": must be an integer from %lld to %lld", name,
			  s, min, max);
}

/* Enumerated parameter: the index of its value in words (NULL-terminated),
 * default 0. -EBADMSG naming it and the allowed words. */
static int param_enum(struct httpd_req *req, const char *name, const char *const *words, int *ret,
		      struct errbuf *err)
{
	const char *s = httpd_req_arg(req, name);
	char allowed[256] = "";
	size_t len = 0;

	if (!s) {
		*ret = 0;
		return 0;
	}
	for (int i = 0; words[i]; i++) {
		if (!strcmp(words[i], s)) {
			*ret = i;
			return 0;
		}
		len += (size_t)snprintf(allowed + len, sizeof(allowed) - len, "%s%s", i ? ", " : "", words[i]);
		if (len >= sizeof(allowed))
			len = sizeof(allowed) - 1;
	}
	return errbuf_set(err, -EBADMSG, "%s: Unsupported value: \"%.64s\": supported values: %s", name, s,
			  allowed);
}

/* A string parameter of at most max bytes (NULL when absent). */
static int param_str(struct httpd_req *req, const char *name, size_t max, const char **ret, struct errbuf *err)
{
	const char *s = httpd_req_arg(req, name);

	if (s && strlen(s) > max)
		return errbuf_set(err, -EBADMSG, "%s: Too long: must have at most %zu bytes", name, max);
	*ret = s && *s ? s : NULL;
	return 0;
}

/* offset and limit (names given: "offset"/"limit" or the matrix's). */
static int param_page(struct httpd_req *req, const char *oname, const char *lname, long long *ret_offset,
		      long long *ret_limit, struct errbuf *err)
{
	int r = param_int(req, oname, 0, 0, UI_OFFSET_MAX, ret_offset, err);

	if (r < 0)
		return r;
	return param_int(req, lname, UI_LIMIT_DEFAULT, 1, UI_LIMIT_MAX, ret_limit, err);
}

/* ------------------------------------------------------------------------ */
/* health                                                                    */

/* See ui.h. */
const char *ui_health_word(const char *phase)
{
	static const char *const progressing[] = { "rendering", "runningWorkflow", "workflowSuspending",
						   "deleting" };
	static const char *const failed[] = { "workflowFailed", "workflowTerminated", "unhealthy" };

	if (!phase)
		return "unknown";
	if (!strcmp(phase, "running"))
		return "healthy";
	for (size_t i = 0; i < sizeof(progressing) / sizeof(progressing[0]); i++)
		if (!strcmp(phase, progressing[i]))
			return "progressing";
	for (size_t i = 0; i < sizeof(failed) / sizeof(failed[0]); i++)
		if (!strcmp(phase, failed[i]))
			return "failed";
	return "unknown";
}

static const char *const health_words[] = { "all", "healthy", "progressing", "failed", "unknown", NULL };

/* ------------------------------------------------------------------------ */
/* walking a resource into an array of borrowed objects                      */

struct ui_objs {
	const json_t **v;   /* owned array of borrowed objects (valid during the request) */
	size_t n, cap;
};

static int collect_cb(void *data, const json_t *obj)
{
	struct ui_objs *o = data;

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
	}
	o->v[o->n++] = obj;
	return 0;
}

static void objs_collect(struct hub *h, const char *group, const char *resource, const char *ns, struct ui_objs *o)
{
	kapi_foreach(h->kapi, group, resource, ns, collect_cb, o);
}

/* ------------------------------------------------------------------------ */
/* local rollouts: the Rollout manifest's status feedback in a work          */

/* The status entry of the work's Rollout manifest, or NULL. */
static const json_t *work_rollout(const json_t *work)
{
	size_t pos = 0;

	return kobj_work_manifest_status(work, "standard.oam.dev", "Rollout", NULL, NULL, &pos);
}

enum ui_local_state { UI_LOCAL_PENDING, UI_LOCAL_UPDATING, UI_LOCAL_SUCCEEDED, UI_LOCAL_FAILED };

/* The class of a rollingState (rollout_plan.h's names). */
static enum ui_local_state local_class(const char *state)
{
	if (!state || !*state || !strcmp(state, "verifyingSpec") || !strcmp(state, "initializing"))
		return UI_LOCAL_PENDING;
	if (!strcmp(state, "rolloutSucceed"))
		return UI_LOCAL_SUCCEEDED;
	if (!strcmp(state, "rolloutFailed") || !strcmp(state, "rollbackSucceed") || !strcmp(state, "rollingBack"))
		return UI_LOCAL_FAILED;
	return UI_LOCAL_UPDATING;
}

/* One localRollouts entry for cluster from the work's Rollout manifest m. */
static json_t *local_entry(const char *cluster, const json_t *m)
{
	json_t *fb = kobj_feedback_values(m), *e;
	const json_t *rm = json_object_get(m, "resourceMeta");

	e = pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:b, s:s}", "cluster", cluster, "name",
		      sget(rm, "name"), "state", sget(fb, "rollingState"), "currentBatch",
		      int_or_null(fb, "currentBatch"), "numBatches", int_or_null(fb, "numBatches"), "upgradedReplicas",
		      int_or_null(fb, "upgradedReplicas"), "upgradedReadyReplicas",
		      int_or_null(fb, "upgradedReadyReplicas"), "targetSize", int_or_null(fb, "targetSize"), "reason",
		      sget(fb, "reason"), "message", sget(fb, "message"), "batchState", sget(fb, "batchRollingState"),
		      "paused", json_is_true(json_object_get(fb, "paused")), "namespace", sget(rm, "namespace"));
	json_decref(fb);
	return e;
}

/* The local rollouts of one application across its clusters, summed. */
struct ui_local {
	int total, succeeded, failed, updating, pending;
	bool paused;
	char message[600];  /* the first cluster in progress (or failed): "c1: batch 2 of 3: ..." */
	bool msg_failed;    /* message is a failure's (one in progress replaces it) */
};

static void local_add(struct ui_local *l, const char *cluster, const json_t *m)
{
	json_t *fb = kobj_feedback_values(m);
	const char *state = json_string_value(json_object_get(fb, "rollingState"));
	enum ui_local_state c = local_class(state);
	bool take = false;

	l->total++;
	switch (c) {
	case UI_LOCAL_PENDING:
		l->pending++;
		take = !l->message[0] || l->msg_failed;
		break;
	case UI_LOCAL_UPDATING:
		l->updating++;
		take = !l->message[0] || l->msg_failed;
		break;
	case UI_LOCAL_SUCCEEDED:
		l->succeeded++;
		break;
	case UI_LOCAL_FAILED:
		l->failed++;
		take = !l->message[0];
		break;
	}
	if (json_is_true(json_object_get(fb, "paused")) && (c == UI_LOCAL_PENDING || c == UI_LOCAL_UPDATING))
		l->paused = true;
	if (take) {
		snprintf(l->message, sizeof(l->message), "%s: %s", cluster,
			 *sget(fb, "message") ? sget(fb, "message") : state ? state : "waiting for the agent");
		l->msg_failed = c == UI_LOCAL_FAILED;
	}
	json_decref(fb);
}

static bool local_in_progress(const struct ui_local *l)
{
	return l && (l->updating || l->pending);
}

/* <rollout row> of a local rollout. */
static json_t *local_row(const json_t *app, const struct ui_local *l)
{
	const char *phase = local_in_progress(l) ? (l->paused ? "Paused" : "Progressing")
						 : l->failed ? "Failed" : "Succeeded";

	return pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i}}", "namespace",
			 kobj_namespace(app), "name", kobj_name(app), "kind", "local", "phase", phase, "paused",
			 l->paused, "revision", spath(app, "status.latestRevision.name"), "message", l->message,
			 "summary", "total", l->total, "succeeded", l->succeeded, "failed", l->failed, "updating",
			 l->updating, "pending", l->pending);
}

/* <rollout row> of the cross-cluster wave (status.rollout). */
static json_t *wave_row(const json_t *app, const json_t *ro)
{
	const json_t *sum = json_object_get(ro, "summary");
	json_t *s = json_object();
	static const char *const keys[] = { "total", "succeeded", "failed", "updating", "pending" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_set_new(s, keys[i], json_integer(json_integer_value(json_object_get(sum, keys[i]))));
	return pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o}", "namespace", kobj_namespace(app), "name",
			 kobj_name(app), "kind", "wave", "phase", sget(ro, "phase"), "paused",
			 json_is_true(json_object_get(ro, "paused")), "revision", sget(ro, "revision"), "message",
			 sget(ro, "message"), "summary", s);
}

#define UI_WORKS_RKEY HUB_GROUP_WORK "/" HUB_RES_WORKS

/* The ManifestWork name in cluster's namespace: a new reference to the
 * store's immutable object (json_decref it), or NULL. By key, no copy. */
static json_t *work_get(struct hub *h, const char *cluster, const char *name)
{
	json_t *w = NULL;

	if (h->store->ops->get(h->store, UI_WORKS_RKEY, cluster, name, &w) < 0)
		return NULL;
	return w;
}

/* Whether a component of app has the rollout trait (whose Rollout manifest
 * the klusterlet runs and reports on). */
static bool app_has_local_rollout(const json_t *app)
{
	const json_t *c, *t;
	size_t i, j;

	json_array_foreach(kobj_get_path(app, "spec.components"), i, c)
		json_array_foreach(json_object_get(c, "traits"), j, t)
			if (!strcmp(sget(t, "type"), "rollout"))
				return true;
	return false;
}

/* The local rollouts of app summed into *ret over its works (those
 * status.clusters[] names: cluster/name); false when it has none. Only an
 * application with the rollout trait is looked at, so a list costs its
 * rollout applications' works, not every work. */
static bool app_local(struct hub *h, const json_t *app, struct ui_local *ret)
{
	char work_name[UI_WORK_NAME_MAX];
	const json_t *c;
	size_t i;

	memset(ret, 0, sizeof(*ret));
	if (!app_has_local_rollout(app))
		return false;
	app_work_name(kobj_namespace(app), kobj_name(app), work_name, sizeof(work_name));
	json_array_foreach(kobj_get_path(app, "status.clusters"), i, c) {
		json_t *w = work_get(h, sget(c, "name"), work_name);
		const json_t *m = w ? work_rollout(w) : NULL;

		if (m)
			local_add(ret, sget(c, "name"), m);
		json_decref(w);
	}
	return ret->total > 0;
}

/* ------------------------------------------------------------------------ */
/* application rows                                                          */

/* The rollout of app for its row: the wave unless it succeeded and a local
 * rollout is in progress; else the local rollout; NULL when neither. */
static json_t *app_rollout(const json_t *app, const struct ui_local *l)
{
	const json_t *ro = kobj_get_path(app, "status.rollout");

	if (json_is_object(ro) && (strcmp(sget(ro, "phase"), "Succeeded") || !local_in_progress(l)))
		return wave_row(app, ro);
	if (l && l->total)
		return local_row(app, l);
	return NULL;
}

/* Whether app belongs in the overview's rollouts. */
static bool app_rolling(const json_t *app, const struct ui_local *l)
{
	const json_t *ro = kobj_get_path(app, "status.rollout");

	return (json_is_object(ro) && strcmp(sget(ro, "phase"), "Succeeded")) || local_in_progress(l);
}

/* The later of the RFC 3339 time s and *best (microseconds). */
static void later(const char *s, int64_t *best)
{
	int64_t us;

	if (s && time_parse_rfc3339(s, &us) == 0 && us > *best)
		*best = us;
}

/* What the row says of app: a failing condition's message, else the
 * workflow's. */
static const char *app_message(const json_t *app)
{
	const json_t *c;
	size_t i;

	json_array_foreach(kobj_get_path(app, "status.conditions"), i, c)
		if (!strcmp(sget(c, "status"), "False") && *sget(c, "message"))
			return sget(c, "message");
	return spath(app, "status.workflow.message");
}

/* <app row>. */
static json_t *app_row(const json_t *app, const struct ui_local *l)
{
	const char *phase = json_string_value(kobj_get_path(app, "status.status"));
	const json_t *services = kobj_get_path(app, "status.services"), *s, *c;
	int64_t updated = 0;
	char created[TIMEFMT_MAX] = "", upd[TIMEFMT_MAX];
	json_t *ro = app_rollout(app, l);
	int healthy = 0;
	size_t i;

	json_array_foreach(services, i, s)
		healthy += json_is_true(json_object_get(s, "healthy"));
	later(spath(app, "metadata.creationTimestamp"), &updated);
	snprintf(created, sizeof(created), "%s", spath(app, "metadata.creationTimestamp"));
	json_array_foreach(kobj_get_path(app, "status.conditions"), i, c)
		later(sget(c, "lastTransitionTime"), &updated);
	later(spath(app, "status.workflow.startTime"), &updated);
	later(spath(app, "status.workflow.endTime"), &updated);
	time_format_rfc3339(updated, upd);
	return pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:s, s:s}", "namespace",
			 kobj_namespace(app), "name", kobj_name(app), "revision",
			 spath(app, "status.latestRevision.name"), "phase", phase ? phase : "", "health",
			 ui_health_word(phase), "message", app_message(app), "components",
			 (int)json_array_size(kobj_get_path(app, "spec.components")), "clusters",
			 (int)json_array_size(kobj_get_path(app, "status.clusters")), "healthyServices", healthy,
			 "services", (int)json_array_size(services), "rollout", ro ? ro : json_null(), "created", created,
			 "updated", updated ? upd : created);
}

/* ------------------------------------------------------------------------ */
/* GET /nave/v1/ui/clusters                                                  */

enum ui_cstate { UI_C_PENDING, UI_C_UNAVAILABLE, UI_C_UNKNOWN, UI_C_ACCEPTED, UI_C_AVAILABLE, UI_C_DENIED };
static const char *const cstate_names[] = { "Pending", "Unavailable", "Unknown", "Accepted", "Available",
					    "Denied" };
/* the state filter's words; index = enum ui_cbucket + 1 ("all" first) */
enum ui_cbucket { UI_B_AVAILABLE, UI_B_UNAVAILABLE, UI_B_PENDING, UI_B_DENIED, UI_B_N };
static const char *const state_words[] = { "all", "available", "unavailable", "pending", "denied", NULL };
static const char *const csort_words[] = { "name", "state", "heartbeat", NULL };

static enum ui_cstate cluster_state(const json_t *mc)
{
	const char *av = kobj_condition_status(mc, HUB_COND_AVAILABLE);
	const char *j = kobj_condition_status(mc, HUB_COND_JOINED);
	const char *d = kobj_condition_status(mc, HUB_COND_DENIED);

	if (!json_is_true(kobj_get_path(mc, "spec.hubAcceptsClient")))
		return d && !strcmp(d, "True") ? UI_C_DENIED : UI_C_PENDING;
	if (av && !strcmp(av, "True"))
		return UI_C_AVAILABLE;
	if (av && !strcmp(av, "False"))
		return UI_C_UNAVAILABLE;
	if (av || (j && !strcmp(j, "True")))
		return UI_C_UNKNOWN;
	return UI_C_ACCEPTED;
}

static enum ui_cbucket cstate_bucket(enum ui_cstate s)
{
	switch (s) {
	case UI_C_AVAILABLE:
		return UI_B_AVAILABLE;
	case UI_C_PENDING:
		return UI_B_PENDING;
	case UI_C_DENIED:
		return UI_B_DENIED;
	default:
		return UI_B_UNAVAILABLE;
	}
}

struct ui_crow {
	const json_t *mc;     /* borrowed */
	const char *name;     /* borrowed from mc */
	enum ui_cstate state;
	int64_t hb_ms;        /* wall-clock ms of the last lease, -1: none */
};

static int crow_by_name(const void *a, const void *b)
{
	return strcmp(((const struct ui_crow *)a)->name, ((const struct ui_crow *)b)->name);
}

static int crow_by_state(const void *a, const void *b)
{
	const struct ui_crow *x = a, *y = b;

	if (x->state != y->state)
		return x->state < y->state ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int crow_by_heartbeat(const void *a, const void *b)
{
	const struct ui_crow *x = a, *y = b;

	if (x->hb_ms != y->hb_ms)
		return x->hb_ms > y->hb_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The wall-clock time (ms) of cluster's last lease, or -1 when it has not
 * joined (then the table's time is only when the hub saw it first). */
static int64_t heartbeat_ms(struct hub *h, const char *name, int64_t wall_now_ms)
{
	const struct hub_cluster *c = hub_cluster_find(h, name);

	if (!c || !c->joined)
		return -1;
	return wall_now_ms - ((int64_t)uv_now(h->loop) - c->last_renew_ms);
}

/* Per cluster: its CSRs (a pending registration; the newest issued
 * certificate). */
struct ui_csr {
	const json_t *newest;   /* borrowed: the newest approved CSR with a certificate */
	uint64_t rv;
	bool pending;
};

struct ui_csr_ix {
	json_t *ix;             /* owned: cluster -> integer index */
	struct ui_csr *v;       /* owned */
	size_t n, cap;
};

static uint64_t obj_rv(const json_t *o)
{
	const char *rv = kobj_resource_version(o);

	return rv ? strtoull(rv, NULL, 10) : 0;
}

static int csr_ix_cb(void *data, const json_t *csr)
{
	struct ui_csr_ix *x = data;
	const char *cluster = kobj_label(csr, HUB_LABEL_CLUSTER), *user = spath(csr, "spec.username");
	const json_t *c, *idx;
	const char *state = NULL;
	struct ui_csr *e;
	size_t i;

	if (!cluster)
		return 0;
	json_array_foreach(kobj_get_path(csr, "status.conditions"), i, c)
		if (!strcmp(sget(c, "status"), "True") &&
		    (!strcmp(sget(c, "type"), "Approved") || !strcmp(sget(c, "type"), "Denied")))
			state = sget(c, "type");
	idx = json_object_get(x->ix, cluster);
	if (!idx) {
		if (x->n == x->cap) {
			x->cap = x->cap ? x->cap * 2 : 64;
			x->v = xrealloc(x->v, x->cap * sizeof(*x->v));
		}
		memset(&x->v[x->n], 0, sizeof(x->v[x->n]));
		json_object_set_new(x->ix, cluster, json_integer((json_int_t)x->n));
		idx = json_object_get(x->ix, cluster);
		x->n++;
	}
	e = &x->v[json_integer_value(idx)];
	if (!state && !strncmp(user, "system:bootstrap:", 17))
		e->pending = true;
	if (state && !strcmp(state, "Approved") && *spath(csr, "status.certificate") && obj_rv(csr) >= e->rv) {
		e->newest = csr;
		e->rv = obj_rv(csr);
	}
	return 0;
}

static const struct ui_csr *csr_ix_get(const struct ui_csr_ix *x, const char *cluster)
{
	const json_t *idx = json_object_get(x->ix, cluster);

	return idx ? &x->v[json_integer_value(idx)] : NULL;
}

/* The notAfter of the CSR's certificate into out (RFC 3339); false when it
 * cannot be read. */
static bool cert_expiry(const json_t *csr, char out[TIMEFMT_MAX])
{
	const char *b64 = spath(csr, "status.certificate");
	struct x509_cert_info info;
	uint8_t *pem = NULL;
	size_t len = 0;
	bool ok;

	if (base64_decode(b64, strlen(b64), &pem, &len) < 0)
		return false;
	ok = x509_cert_info((const char *)pem, len, &info, NULL) == 0;
	free(pem);
	if (ok)
		time_format_rfc3339(info.not_after * 1000000, out);
	return ok;
}

/* The message a cluster's row shows for its state. */
static const char *cluster_message(const json_t *mc, enum ui_cstate st, bool pending_reg)
{
	const json_t *c;

	switch (st) {
	case UI_C_PENDING:
		return pending_reg ? "a registration waits for accept" : "not accepted";
	case UI_C_DENIED:
		c = kobj_condition(mc, HUB_COND_DENIED);
		return *sget(c, "message") ? sget(c, "message") : "denied";
	case UI_C_ACCEPTED:
		return "accepted; waiting for the agent to join";
	default:
		c = kobj_condition(mc, HUB_COND_AVAILABLE);
		return sget(c, "message");
	}
}

static json_t *cluster_item(struct hub *h, const struct ui_crow *row, const struct ui_csr_ix *csrs)
{
	const json_t *mc = row->mc, *c;
	const struct ui_csr *cs = csr_ix_get(csrs, row->name);
	const char *av = kobj_condition_status(mc, HUB_COND_AVAILABLE), *j = kobj_condition_status(mc, HUB_COND_JOINED);
	const char *kv = NULL, *nodes = NULL;
	json_t *claims = json_object(), *labels = kobj_labels(mc), *nodes_v = json_null();
	char hb[TIMEFMT_MAX], exp[TIMEFMT_MAX];
	bool has_exp = cs && cs->newest && cert_expiry(cs->newest, exp);
	size_t i;

	json_array_foreach(kobj_get_path(mc, "status.clusterClaims"), i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));
		const char *v = json_string_value(json_object_get(c, "value"));

		if (!n || !v)
			continue;
		json_object_set_new(claims, n, json_string(v));
		if (!strcmp(n, "kubeversion.open-cluster-management.io"))
			kv = v;
		else if (!strcmp(n, "nodes.nave.io"))
			nodes = v;
	}
	if (!kv && *spath(mc, "status.version.kubernetes"))
		kv = spath(mc, "status.version.kubernetes");
	if (nodes) {
		char *end = NULL;
		long long n = strtoll(nodes, &end, 10);

		if (end && end != nodes && !*end && n >= 0) {
			json_decref(nodes_v);
			nodes_v = json_integer(n);
		}
	}
	if (row->hb_ms >= 0)
		time_format_rfc3339(row->hb_ms * 1000, hb);
	return pack("{s:s, s:s, s:b, s:b, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:I, s:b, s:s}", "name", row->name,
			 "state", cstate_names[row->state], "accepted",
			 json_is_true(kobj_get_path(mc, "spec.hubAcceptsClient")), "joined", j && !strcmp(j, "True"),
			 "available", av ? av : "", "labels", labels ? json_incref(labels) : json_object(), "claims", claims,
			 "kubernetesVersion", kv ? kv : "", "nodes", nodes_v, "lastHeartbeat",
			 row->hb_ms >= 0 ? json_string(hb) : json_null(), "certificateExpiry",
			 has_exp ? json_string(exp) : json_null(), "works",
			 (json_int_t)h->store->ops->count(h->store, UI_WORKS_RKEY, row->name), "pendingRegistration",
			 cs && cs->pending, "message", cluster_message(mc, row->state, cs && cs->pending));
}

static void clusters_http(struct hub *h, struct httpd_req *req)
{
	struct ui_objs mcs = { 0 };
	struct ui_crow *rows = NULL;
	struct ui_csr_ix csrs = { 0 };
	struct errbuf err = { "" };
	long long offset, limit;
	const char *q;
	int state, sort;
	size_t n = 0, total = 0, counts[UI_B_N] = { 0 };
	int64_t wall_ms = time_now_us() / 1000;
	json_t *items, *body;

	if (param_str(req, "q", UI_Q_MAX, &q, &err) < 0 || param_enum(req, "state", state_words, &state, &err) < 0 ||
	    param_enum(req, "sort", csort_words, &sort, &err) < 0 ||
	    param_page(req, "offset", "limit", &offset, &limit, &err) < 0) {
		respond_bad(h, req, &err);
		return;
	}
	objs_collect(h, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, &mcs);
	rows = xcalloc(mcs.n ? mcs.n : 1, sizeof(*rows));
	for (size_t i = 0; i < mcs.n; i++) {
		const json_t *mc = mcs.v[i];
		struct ui_crow r = { .mc = mc, .name = kobj_name(mc) };
		enum ui_cbucket b;

		if (!r.name || !q_matches(q, r.name, kobj_labels(mc)))
			continue;
		r.state = cluster_state(mc);
		b = cstate_bucket(r.state);
		counts[b]++;
		if (state && (int)b != state - 1)
			continue;
		r.hb_ms = heartbeat_ms(h, r.name, wall_ms);
		rows[n++] = r;
	}
	for (size_t b = 0; b < UI_B_N; b++)
		total += counts[b];
	qsort(rows, n, sizeof(*rows), sort == 1 ? crow_by_state : sort == 2 ? crow_by_heartbeat : crow_by_name);
	/* indexes for the page only */
	csrs.ix = json_object();
	kapi_foreach(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, csr_ix_cb, &csrs);
	items = json_array();
	for (size_t i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++)
		json_array_append_new(items, cluster_item(h, &rows[i], &csrs));
	body = pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:o}", "total", (json_int_t)n, "offset",
			 (json_int_t)offset, "limit", (json_int_t)limit, "counts", "all", (json_int_t)total,
			 "available", (json_int_t)counts[UI_B_AVAILABLE], "unavailable",
			 (json_int_t)counts[UI_B_UNAVAILABLE], "pending", (json_int_t)counts[UI_B_PENDING], "denied",
			 (json_int_t)counts[UI_B_DENIED], "items", items);
	respond_ok(h, req, body);
	json_decref(csrs.ix);
	free(csrs.v);
	free(rows);
	free(mcs.v);
}

/* ------------------------------------------------------------------------ */
/* GET /nave/v1/ui/applications                                              */

static int health_index(const char *word)
{
	for (int i = 1; health_words[i]; i++)
		if (!strcmp(health_words[i], word))
			return i;
	return 4;
}

static void applications_http(struct hub *h, struct httpd_req *req)
{
	struct ui_objs apps = { 0 };
	const json_t **rows = NULL;
	struct errbuf err = { "" };
	long long offset, limit;
	const char *q, *ns;
	int health;
	size_t n = 0, counts[5] = { 0 };
	json_t *items, *body;

	if (param_str(req, "q", UI_Q_MAX, &q, &err) < 0 || param_str(req, "namespace", 63, &ns, &err) < 0 ||
	    param_enum(req, "health", health_words, &health, &err) < 0 ||
	    param_page(req, "offset", "limit", &offset, &limit, &err) < 0) {
		respond_bad(h, req, &err);
		return;
	}
	if (ns && !kobj_valid_label_name(ns)) {
		errbuf_set(&err, -EBADMSG, "namespace: Invalid value: \"%s\": must be a DNS-1123 label", ns);
		respond_bad(h, req, &err);
		return;
	}
	objs_collect(h, APP_GROUP, APP_RES_APPS, ns, &apps);
	rows = xcalloc(apps.n ? apps.n : 1, sizeof(*rows));
	for (size_t i = 0; i < apps.n; i++) {
		const json_t *app = apps.v[i];
		char full[UI_WORK_NAME_MAX];
		int hi;

		if (!kobj_name(app) || !kobj_namespace(app))
			continue;
		snprintf(full, sizeof(full), "%s/%s", kobj_namespace(app), kobj_name(app));
		if (!q_matches(q, full, kobj_labels(app)))
			continue;
		hi = health_index(ui_health_word(json_string_value(kobj_get_path(app, "status.status"))));
		counts[0]++;
		counts[hi]++;
		if (health && hi != health)
			continue;
		rows[n++] = app;
	}
	items = json_array();
	for (size_t i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++) {
		struct ui_local l;

		json_array_append_new(items, app_row(rows[i], app_local(h, rows[i], &l) ? &l : NULL));
	}
	body = pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:o}", "total", (json_int_t)n, "offset",
			 (json_int_t)offset, "limit", (json_int_t)limit, "counts", "all", (json_int_t)counts[0],
			 "healthy", (json_int_t)counts[1], "progressing", (json_int_t)counts[2], "failed",
			 (json_int_t)counts[3], "unknown", (json_int_t)counts[4], "items", items);
	respond_ok(h, req, body);
	free(rows);
	free(apps.v);
}

/* ------------------------------------------------------------------------ */
/* GET /nave/v1/ui/overview                                                  */

static void overview_http(struct hub *h, struct httpd_req *req)
{
	struct ui_objs mcs = { 0 }, apps = { 0 };
	size_t cc[UI_B_N] = { 0 }, ac[5] = { 0 };
	json_t *rollouts = json_array(), *body;

	objs_collect(h, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, &mcs);
	for (size_t i = 0; i < mcs.n; i++)
		cc[cstate_bucket(cluster_state(mcs.v[i]))]++;
	objs_collect(h, APP_GROUP, APP_RES_APPS, NULL, &apps);
	for (size_t i = 0; i < apps.n; i++) {
		const json_t *app = apps.v[i];
		struct ui_local local;
		const struct ui_local *l = app_local(h, app, &local) ? &local : NULL;

		ac[health_index(ui_health_word(json_string_value(kobj_get_path(app, "status.status"))))]++;
		if (json_array_size(rollouts) < UI_ROLLOUTS_MAX && app_rolling(app, l)) {
			const json_t *ro = kobj_get_path(app, "status.rollout");

			json_array_append_new(rollouts,
					      json_is_object(ro) && strcmp(sget(ro, "phase"), "Succeeded")
						      ? wave_row(app, ro)
						      : local_row(app, l));
		}
	}
	body = pack("{s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, s:o}", "generation",
			 (json_int_t)ui_events_generation(h), "clusters", "total", (json_int_t)mcs.n, "available",
			 (json_int_t)cc[UI_B_AVAILABLE], "unavailable", (json_int_t)cc[UI_B_UNAVAILABLE], "pending",
			 (json_int_t)cc[UI_B_PENDING], "denied", (json_int_t)cc[UI_B_DENIED], "applications", "total",
			 (json_int_t)apps.n, "healthy", (json_int_t)ac[1], "progressing", (json_int_t)ac[2], "failed",
			 (json_int_t)ac[3], "unknown", (json_int_t)ac[4], "rollouts", rollouts);
	respond_ok(h, req, body);
	free(mcs.v);
	free(apps.v);
}

/* ------------------------------------------------------------------------ */
/* GET /nave/v1/ui/applications/NS/NAME                                      */

struct ui_find {
	const char *name;
	const json_t *found;   /* borrowed */
};

static int find_cb(void *data, const json_t *obj)
{
	struct ui_find *f = data;
	const char *n = kobj_name(obj);

	if (n && !strcmp(n, f->name)) {
		f->found = obj;
		return 1;
	}
	return 0;
}

/* The Application ns/name in the store (borrowed), or NULL. */
static const json_t *find_app(struct hub *h, const char *ns, const char *name)
{
	struct ui_find f = { .name = name };

	kapi_foreach(h->kapi, APP_GROUP, APP_RES_APPS, ns, find_cb, &f);
	return f.found;
}

static void app_not_found(struct hub *h, struct httpd_req *req, const char *ns, const char *name)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "applications.%s \"%s\" not found in namespace %s", APP_GROUP, name, ns);
	hub_respond_error(h, req, -ENOENT, msg);
}

/* The status entry of the manifest with the identity of res ({apiVersion,
 * kind, namespace, name}) in the work, through an index built once per
 * work: "group|kind|namespace|name" -> entry (kept in *ix, owned). */
static const json_t *manifest_status(const json_t *work, json_t **ix, const json_t *res)
{
	char group[UI_GROUP_MAX] = "", version[UI_GROUP_MAX] = "", key[1200];

	if (!work)
		return NULL;
	if (!*ix) {
		const json_t *m;
		size_t i;

		*ix = json_object();
		json_array_foreach(kobj_get_path(work, "status.resourceStatus.manifests"), i, m) {
			const json_t *rm = json_object_get(m, "resourceMeta");

			snprintf(key, sizeof(key), "%s|%s|%s|%s", sget(rm, "group"), sget(rm, "kind"),
				 sget(rm, "namespace"), sget(rm, "name"));
			json_object_set(*ix, key, (json_t *)m);
		}
	}
	if (strlen(sget(res, "apiVersion")) < sizeof(group))
		kobj_split_api_version(sget(res, "apiVersion"), group, version);
	snprintf(key, sizeof(key), "%s|%s|%s|%s", group, sget(res, "kind"), sget(res, "namespace"), sget(res, "name"));
	return json_object_get(*ix, key);
}

/* The health word of a matrix cell from its service entry. */
static const char *cell_health(const json_t *svc, const char *cluster_available, const json_t *work,
			       const char **ret_message)
{
	const char *msg = sget(svc, "message");
	const char *deg = work ? kobj_condition_status(work, "Degraded") : NULL;

	*ret_message = msg;
	if (json_is_true(json_object_get(svc, "healthy")))
		return "healthy";
	if (*cluster_available && strcmp(cluster_available, "True"))
		return "unknown";
	if (!strncmp(msg, "not applied", 11) || (deg && !strcmp(deg, "True"))) {
		if (deg && !strcmp(deg, "True") && !*msg)
			*ret_message = sget(kobj_condition(work, "Degraded"), "message");
		return "failed";
	}
	return "progressing";
}

/* The health of one resource of the tree. */
static const char *resource_health(const json_t *res, const json_t *ms, const json_t *svc, const char *cell_h,
				   const char *cell_msg, const char *cluster_available, const char **ret_message)
{
	const json_t *ap = NULL, *c;
	size_t i;

	*ret_message = "";
	if (svc && !strcmp(sget(res, "kind"), spath(svc, "workloadDefinition.kind"))) {
		*ret_message = cell_msg;
		return cell_h;
	}
	if (!strcmp(sget(res, "kind"), "Rollout") && ms) {
		json_t *fb = kobj_feedback_values(ms);
		enum ui_local_state lc = local_class(json_string_value(json_object_get(fb, "rollingState")));
		static const char *const words[] = { "progressing", "progressing", "healthy", "failed" };

		json_decref(fb);
		*ret_message = "";
		json_array_foreach(kobj_get_path(ms, "statusFeedback.values"), i, c)
			if (!strcmp(sget(c, "name"), "message"))
				*ret_message = spath(c, "fieldValue.string");
		return words[lc];
	}
	json_array_foreach(json_object_get(ms, "conditions"), i, c)
		if (!strcmp(sget(c, "type"), "Applied"))
			ap = c;
	if (ap && !strcmp(sget(ap, "status"), "True"))
		return "healthy";
	if (ap && !strcmp(sget(ap, "status"), "False")) {
		*ret_message = sget(ap, "message");
		return "failed";
	}
	if (*cluster_available && strcmp(cluster_available, "True"))
		return "unknown";
	*ret_message = "waiting for the agent";
	return "progressing";
}

/* The desired replicas of a component's workload res ({apiVersion, kind,
 * namespace, name}) on a cluster: the feedback desiredReplicas (the
 * workload's spec.replicas as the cluster has it), else spec.replicas as the
 * work holds it, else the service's replicas; null when none says. */
static json_t *cell_desired(const json_t *work, json_t **mix, const json_t *res, const json_t *svc)
{
	const json_t *ms = res ? manifest_status(work, mix, res) : NULL, *m;
	json_t *fb = ms ? kobj_feedback_values(ms) : NULL, *v = NULL;
	size_t i;

	if (fb && json_is_integer(json_object_get(fb, "desiredReplicas")))
		v = json_integer(json_integer_value(json_object_get(fb, "desiredReplicas")));
	json_decref(fb);
	if (v)
		return v;
	json_array_foreach(res ? kobj_get_path(work, "spec.workload.manifests") : NULL, i, m)
		if (!strcmp(sget(m, "kind"), sget(res, "kind")) && !strcmp(spath(m, "metadata.name"), sget(res, "name")) &&
		    !strcmp(spath(m, "metadata.namespace"), sget(res, "namespace")) &&
		    json_is_integer(kobj_get_path(m, "spec.replicas")))
			return json_integer(json_integer_value(kobj_get_path(m, "spec.replicas")));
	return int_or_null(svc, "replicas");
}

/* The resource of res_list (a cluster's appliedResources) that is
 * component comp's workload (kind as the service's workloadDefinition), or
 * NULL. */
static const json_t *workload_resource(const json_t *res_list, const char *comp, const json_t *svc)
{
	const char *kind = spath(svc, "workloadDefinition.kind");
	const json_t *r;
	size_t i;

	json_array_foreach(res_list, i, r)
		if (!strcmp(sget(r, "component"), comp) && (!*kind || !strcmp(sget(r, "kind"), kind)))
			return r;
	return NULL;
}

/* Whether the agent reported the work Applied for its current generation
 * (1), failed to apply it (-1, with the message in *ret_message), or not
 * yet (0). */
static int work_applied(const json_t *work, const char **ret_message)
{
	const json_t *c = kobj_condition(work, "Applied"), *og = json_object_get(c, "observedGeneration");
	const json_t *gen = kobj_get_path(work, "metadata.generation");

	*ret_message = sget(c, "message");
	if (!c || (json_is_integer(og) && json_is_integer(gen) && json_integer_value(og) != json_integer_value(gen)))
		return 0;
	if (!strcmp(sget(c, "status"), "True"))
		return 1;
	return !strcmp(sget(c, "status"), "False") ? -1 : 0;
}

/* The message of a held cell: what status.rollout.clusters[] says of the
 * cluster (its entry ro, or NULL). */
static const char *held_why(const json_t *ro)
{
	if (*sget(ro, "message"))
		return sget(ro, "message");
	if (!strcmp(sget(ro, "state"), "Pending"))
		return "not released by the rollout yet: keeps its previous revision";
	return "keeps a previous revision";
}

/* The cell of component comp on a cluster whose work still holds content
 * the application's current revision has not replaced there: a
 * cross-cluster wave has not released the cluster yet (Pending in
 * status.rollout.clusters), so status.services has no entry for it. res is
 * comp's workload in the work (appliedResources), rev the revision the work
 * carries. The health is read from the work alone (the component
 * definition's health rule runs only for what the current revision
 * deployed): unknown when the cluster is not Available; failed when the
 * work is Degraded or not applied; healthy when applied and the workload's
 * ready replicas reach the desired ones (without replica feedback: when the
 * work is Available); else progressing. New reference; NULL when the work
 * holds no workload of comp. */
static json_t *held_cell(const json_t *work, json_t **mix, const json_t *res, const char *rev, const char *available,
			 const char *why)
{
	const json_t *ms, *deg = kobj_condition(work, "Degraded");
	json_t *fb, *ready, *desired;
	const char *health, *msg = why, *amsg;
	int applied;

	if (!work || !res)
		return NULL;
	ms = manifest_status(work, mix, res);
	fb = ms ? kobj_feedback_values(ms) : json_object();
	ready = int_or_null(fb, "readyReplicas");
	json_decref(fb);
	desired = cell_desired(work, mix, res, NULL);
	applied = work_applied(work, &amsg);
	if (kobj_get_path(work, "metadata.deletionTimestamp"))
		msg = "its work is being deleted";
	if (*available && strcmp(available, "True")) {
		health = "unknown";
	} else if (deg && !strcmp(sget(deg, "status"), "True")) {
		health = "failed";
		msg = sget(deg, "message");
	} else if (applied < 0) {
		health = "failed";
		msg = amsg;
	} else if (applied == 0) {
		health = "progressing";
	} else if (json_is_integer(ready) && json_is_integer(desired)) {
		health = json_integer_value(ready) >= json_integer_value(desired) ? "healthy" : "progressing";
	} else {
		health = !strcmp(sget(kobj_condition(work, "Available"), "status"), "True") ? "healthy" : "progressing";
	}
	return pack("{s:s, s:o, s:o, s:s, s:s}", "revision", rev, "ready", ready, "desired", desired, "health", health,
		    "message", msg);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int rev_cmp_desc(const void *a, const void *b)
{
	json_int_t x = json_integer_value(kobj_get_path(*(const json_t *const *)a, "spec.revision"));
	json_int_t y = json_integer_value(kobj_get_path(*(const json_t *const *)b, "spec.revision"));

	return x == y ? 0 : x > y ? -1 : 1;
}

struct ui_revs {
	const char *app;
	struct ui_objs objs;
};

static int revs_cb(void *data, const json_t *rev)
{
	struct ui_revs *r = data;
	const char *l = kobj_label(rev, APP_LABEL_NAME);

	if (l && !strcmp(l, r->app))
		collect_cb(&r->objs, rev);
	return 0;
}

/* The revisions of app, newest first; inUse: the latest, or carried by a
 * cluster's work. */
static json_t *revisions_json(struct hub *h, const json_t *app)
{
	struct ui_revs r = { .app = kobj_name(app) };
	const char *latest = spath(app, "status.latestRevision.name");
	json_t *used = json_object(), *out = json_array();
	const json_t *c;
	size_t i;

	json_array_foreach(kobj_get_path(app, "status.clusters"), i, c)
		if (*sget(c, "revision"))
			json_object_set_new(used, sget(c, "revision"), json_true());
	kapi_foreach(h->kapi, APP_GROUP, APP_RES_REVISIONS, kobj_namespace(app), revs_cb, &r);
	if (r.objs.n)
		qsort(r.objs.v, r.objs.n, sizeof(*r.objs.v), rev_cmp_desc);
	for (i = 0; i < r.objs.n; i++) {
		const json_t *rev = r.objs.v[i];
		const char *n = kobj_name(rev);

		json_array_append_new(out, pack("{s:s, s:I, s:s, s:s, s:b, s:s, s:s, s:b}", "name", n, "revision",
						     json_integer_value(kobj_get_path(rev, "spec.revision")), "hash",
						     spath(rev, "spec.revisionHash"), "created",
						     spath(rev, "metadata.creationTimestamp"), "succeeded",
						     json_is_true(kobj_get_path(rev, "status.succeeded")),
						     "workflowPhase", spath(rev, "status.workflowPhase"),
						     "publishVersion", spath(rev, "spec.publishVersion"), "inUse",
						     !strcmp(n, latest) || json_object_get(used, n)));
	}
	json_decref(used);
	free(r.objs.v);
	return out;
}

/* The ManagedClusters by name (borrowed), for clusterQ's label form. */
static int mc_ix_cb(void *data, const json_t *mc)
{
	if (kobj_name(mc))
		json_object_set(data, kobj_name(mc), (json_t *)mc);
	return 0;
}

static void app_detail_http(struct hub *h, struct httpd_req *req, const char *ns, const char *name)
{
	json_t *works = NULL;  /* cluster -> the app's work there (store references) */
	char work_name[UI_WORK_NAME_MAX];
	struct errbuf err = { "" };
	long long coff, climit;
	const char *cq;
	const json_t *app, *x;
	json_t *status, *comps, *comp_names, *svc_ix, *cl_ix, *res_ix, *ro_ix, *kind_ix, *cluster_set, *mcs = NULL;
	json_t *mclusters, *tree, *locals, *body, *v;
	const char **names = NULL, *k;
	struct ui_local local = { 0 };
	size_t i, nnames = 0, ntotal;
	char key[600];

	if (param_str(req, "clusterQ", UI_Q_MAX, &cq, &err) < 0 ||
	    param_page(req, "clusterOffset", "clusterLimit", &coff, &climit, &err) < 0) {
		respond_bad(h, req, &err);
		return;
	}
	app = find_app(h, ns, name);
	if (!app) {
		app_not_found(h, req, ns, name);
		return;
	}
	status = json_object_get(app, "status");
	/* components */
	comps = json_array();
	comp_names = json_array();
	json_array_foreach(kobj_get_path(app, "spec.components"), i, x) {
		json_t *traits = json_array(), *t;
		size_t j;

		json_array_foreach(json_object_get(x, "traits"), j, t)
			json_array_append_new(traits, json_string(sget(t, "type")));
		json_array_append_new(comps, pack("{s:s, s:s, s:o}", "name", sget(x, "name"), "type",
						       sget(x, "type"), "traits", traits));
		json_array_append_new(comp_names, json_string(sget(x, "name")));
	}
	/* indexes over the status: services by component|cluster, clusters by
	 * name, applied resources by cluster; the set of clusters */
	svc_ix = json_object();
	cl_ix = json_object();
	res_ix = json_object();
	cluster_set = json_object();
	ro_ix = json_object();
	kind_ix = json_object();
	json_array_foreach(json_object_get(status, "services"), i, x) {
		snprintf(key, sizeof(key), "%s|%s", sget(x, "name"), sget(x, "cluster"));
		json_object_set(svc_ix, key, (json_t *)x);
		if (json_object_get(x, "workloadDefinition"))
			json_object_set(kind_ix, sget(x, "name"), (json_t *)x);
		if (*sget(x, "cluster"))
			json_object_set_new(cluster_set, sget(x, "cluster"), json_true());
	}
	json_array_foreach(json_object_get(status, "clusters"), i, x) {
		json_object_set(cl_ix, sget(x, "name"), (json_t *)x);
		if (*sget(x, "name"))
			json_object_set_new(cluster_set, sget(x, "name"), json_true());
	}
	json_array_foreach(kobj_get_path(status, "rollout.clusters"), i, x)
		json_object_set(ro_ix, sget(x, "name"), (json_t *)x);
	json_array_foreach(json_object_get(status, "appliedResources"), i, x) {
		json_t *arr = json_object_get(res_ix, sget(x, "cluster"));

		if (!arr) {
			arr = json_array();
			json_object_set_new(res_ix, sget(x, "cluster"), arr);
		}
		json_array_append(arr, (json_t *)x);
	}
	/* the application's works, by key, on the clusters its status names */
	app_work_name(ns, name, work_name, sizeof(work_name));
	works = json_object();
	json_object_foreach(cluster_set, k, v) {
		json_t *w = work_get(h, k, work_name);

		if (w)
			json_object_set_new(works, k, w);
	}
	/* the clusters, filtered and sorted */
	if (cq && strchr(cq, '=')) {
		mcs = json_object();
		kapi_foreach(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, mc_ix_cb, mcs);
	}
	names = xcalloc(json_object_size(cluster_set) + 1, sizeof(*names));
	json_object_foreach(cluster_set, k, v)
		if (q_matches(cq, k, mcs ? kobj_labels(json_object_get(mcs, k)) : NULL))
			names[nnames++] = k;
	qsort(names, nnames, sizeof(*names), str_cmp);
	ntotal = nnames;
	/* the matrix and the tree for the page */
	mclusters = json_array();
	tree = json_array();
	for (i = (size_t)coff; i < nnames && i < (size_t)(coff + climit); i++) {
		const char *cl = names[i];
		const struct hub_cluster *hc = hub_cluster_find(h, cl);
		const char *av = hc ? hc->available : "";
		const json_t *work = json_object_get(works, cl), *r;
		json_t *cells = json_object(), *resources = json_array(), *mix = NULL;
		size_t j;

		json_array_foreach(comp_names, j, x) {
			const char *cn = json_string_value(x), *msg, *hw;
			const json_t *svc;

			snprintf(key, sizeof(key), "%s|%s", cn, cl);
			svc = json_object_get(svc_ix, key);
			if (!svc) {
				json_t *held = held_cell(work, &mix,
							 workload_resource(json_object_get(res_ix, cl), cn,
									   json_object_get(kind_ix, cn)),
							 sget(json_object_get(cl_ix, cl), "revision"), av,
							 held_why(json_object_get(ro_ix, cl)));

				if (held)
					json_object_set_new(cells, cn, held);
				continue;
			}
			hw = cell_health(svc, av, work, &msg);
			json_object_set_new(cells, cn,
					    pack("{s:s, s:o, s:o, s:s, s:s}", "revision", sget(svc, "revision"),
						      "ready", int_or_null(svc, "readyReplicas"), "desired",
						      cell_desired(work, &mix,
								   workload_resource(json_object_get(res_ix, cl), cn,
										     svc),
								   svc),
						      "health", hw, "message", msg));
		}
		json_array_append_new(mclusters, pack("{s:s, s:s, s:s, s:o}", "name", cl, "available", av,
							   "revision", sget(json_object_get(cl_ix, cl), "revision"),
							   "cells", cells));
		json_array_foreach(json_object_get(res_ix, cl), j, r) {
			const char *comp = sget(r, "component"), *cell_msg = "", *msg, *hw;
			const json_t *svc, *cell;

			snprintf(key, sizeof(key), "%s|%s", comp, cl);
			svc = json_object_get(svc_ix, key);
			cell = json_object_get(cells, comp);
			if (cell)
				cell_msg = sget(cell, "message");
			hw = resource_health(r, manifest_status(work, &mix, r), svc, cell ? sget(cell, "health") : "unknown",
					     cell_msg, av, &msg);
			json_array_append_new(resources,
					      pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "namespace",
							sget(r, "namespace"), "apiVersion", sget(r, "apiVersion"), "kind",
							sget(r, "kind"), "name", sget(r, "name"), "component", comp,
							"health", hw, "message", msg));
		}
		json_decref(mix);
		json_array_append_new(tree, pack("{s:s, s:o}", "cluster", cl, "resources", resources));
	}
	/* local rollouts on every cluster of the application */
	locals = json_array();
	free(names);
	names = xcalloc(json_object_size(works) + 1, sizeof(*names));
	nnames = 0;
	json_object_foreach(works, k, v)
		names[nnames++] = k;
	qsort(names, nnames, sizeof(*names), str_cmp);
	for (i = 0; i < nnames; i++) {
		const json_t *m = work_rollout(json_object_get(works, names[i]));

		if (!m)
			continue;
		local_add(&local, names[i], m);
		if (json_array_size(locals) < UI_LIMIT_MAX)
			json_array_append_new(locals, local_entry(names[i], m));
	}
	body = pack("{s:o, s:O, s:o, s:{s:o, s:I, s:I, s:I, s:o}, s:o, s:o, s:O, s:O, s:o, s:I}", "app",
			 app_row(app, &local), "conditions",
			 json_object_get(status, "conditions") ? json_object_get(status, "conditions") : json_null(),
			 "components", comps, "matrix", "components", comp_names, "totalClusters", (json_int_t)ntotal,
			 "clusterOffset", (json_int_t)coff, "clusterLimit", (json_int_t)climit, "clusters", mclusters,
			 "tree", tree, "revisions", revisions_json(h, app), "workflow",
			 json_object_get(status, "workflow") ? json_object_get(status, "workflow") : json_null(),
			 "rollout", json_object_get(status, "rollout") ? json_object_get(status, "rollout") : json_null(),
			 "localRollouts", locals, "localRolloutsTotal", (json_int_t)local.total);
	respond_ok(h, req, body);
	free(names);
	json_decref(mcs);
	json_decref(works);
	json_decref(svc_ix);
	json_decref(cl_ix);
	json_decref(res_ix);
	json_decref(ro_ix);
	json_decref(kind_ix);
	json_decref(cluster_set);
}

/* ------------------------------------------------------------------------ */
/* GET /nave/v1/ui/applications/NS/NAME/diff                                 */

static void diff_http(struct hub *h, struct httpd_req *req, const char *ns, const char *name)
{
	static const char *const pnames[2] = { "from", "to" };
	char full[2][UI_REV_NAME_MAX], msg[4096];
	const json_t *revs[2] = { NULL, NULL };
	struct textdiff_lines lines[2] = { { 0 }, { 0 } };
	struct errbuf err = { "" };
	struct buf out;
	int r;

	buf_init(&out, (size_t)-1);
	for (int i = 0; i < 2; i++) {
		const char *v;

		if (param_str(req, pnames[i], UI_REV_PARAM_MAX, &v, &err) < 0)
			goto bad;
		if (!v) {
			errbuf_set(&err, -EBADMSG, "%s: Required value: a revision of %s (%s-vN, vN or N)", pnames[i],
				   name, name);
			goto bad;
		}
		/* app_revision_name as rollback reads it; revisions count from 1 */
		if (app_revision_name(name, v, full[i], sizeof(full[i])) < 0 || !strcmp(strrchr(full[i], '-'), "-v0")) {
			errbuf_set(&err, -EBADMSG, "%s: Invalid value: \"%.64s\": expected %s-vN, vN or N", pnames[i], v,
				   name);
			goto bad;
		}
	}
	if (!find_app(h, ns, name)) {
		app_not_found(h, req, ns, name);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		struct ui_find f = { .name = full[i] };
		const char *l;

		kapi_foreach(h->kapi, APP_GROUP, APP_RES_REVISIONS, ns, find_cb, &f);
		l = f.found ? kobj_label(f.found, APP_LABEL_NAME) : NULL;
		if (!l || strcmp(l, name)) {
			snprintf(msg, sizeof(msg), "%s: applicationrevisions.%s \"%s\" not found: application %s/%s has "
				 "no revision %s (the oldest are pruned)", pnames[i], APP_GROUP, full[i], ns, name, full[i]);
			hub_respond_error(h, req, -ENOENT, msg);
			goto out;
		}
		revs[i] = f.found;
	}
	for (int i = 0; i < 2; i++) {
		char *text = apprev_text_side(revs[0], revs[1], i);

		r = textdiff_split(text, TEXTDIFF_LINES_MAX, &lines[i]);
		free(text);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "%s: revision %s is more than %d lines of YAML, too long to diff; "
				 "compare `navectl get applicationrevision %s -n %s -o yaml` with an external diff",
				 pnames[i], full[i], TEXTDIFF_LINES_MAX, full[i], ns);
			hub_respond_error(h, req, -E2BIG, msg);
			goto out;
		}
	}
	r = textdiff_unified(&lines[0], &lines[1], full[0], full[1], UI_DIFF_CELLS_MAX, &out);
	if (r == -ERANGE) {
		snprintf(msg, sizeof(msg), "the change from %s to %s is too large to diff in the hub; use "
			 "`navectl app diff %s %s %s -n %s`", full[0], full[1], name, full[0], full[1], ns);
		hub_respond_error(h, req, -E2BIG, msg);
		goto out;
	}
	respond_ok(h, req, pack("{s:s, s:s, s:b, s:s}", "from", full[0], "to", full[1], "equal", r == 0, "diff",
				     out.data ? out.data : ""));
	goto out;
bad:
	respond_bad(h, req, &err);
out:
	textdiff_lines_free(&lines[0]);
	textdiff_lines_free(&lines[1]);
	buf_free(&out);
}

/* ------------------------------------------------------------------------ */

/* See ui.h. */
void ui_api_http(struct hub *h, struct httpd_req *req, char **segs, int n)
{
	bool known = (n == 1 && (!strcmp(segs[0], "overview") || !strcmp(segs[0], "clusters") ||
				 !strcmp(segs[0], "applications"))) ||
		     (n == 3 && !strcmp(segs[0], "applications")) ||
		     (n == 4 && !strcmp(segs[0], "applications") && !strcmp(segs[3], "diff"));

	if (!known) {
		hub_respond_error(h, req, -ENOENT, not_found_msg);
		return;
	}
	if (strcmp(httpd_req_method(req), "GET")) {
		hub_respond_error(h, req, -EOPNOTSUPP, "the server does not allow this method on the requested resource");
		return;
	}
	if (n == 1 && segs[0][0] == 'o')
		overview_http(h, req);
	else if (n == 1 && segs[0][0] == 'c')
		clusters_http(h, req);
	else if (n == 1)
		applications_http(h, req);
	else if (n == 3)
		app_detail_http(h, req, segs[1], segs[2]);
	else
		diff_http(h, req, segs[1], segs[2]);
}
