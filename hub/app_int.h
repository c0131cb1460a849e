/* app_int.h - internals shared by the Application controller's files.
 *
 * app_controller.c owns struct app_ctl: the kapi subscription, the live
 * definition registry, the cluster list, one struct app_state per
 * Application (and per set of orphaned works), the dirty list worked off
 * by a 0 ms timer (all changes of one loop turn coalesce into one
 * reconcile per application) and the wake-up timer for deadlines.
 * app_revision.c makes and prunes ApplicationRevisions and loads the
 * revision a workflow runs (struct app_run). app_workflow.c runs the
 * workflow (the step state machine, kept in the Application's
 * status.workflow). app_works.c computes what each cluster gets and writes
 * the ManifestWorks. app_status.c evaluates health and writes the status.
 * app_notify.c posts webhooks; app_http.c serves the endpoints.
 * Everything runs on the hub's loop.
 */
#ifndef NAVE_APP_INT_H
#define NAVE_APP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "app.h"
#include "appdef.h"
#include "errbuf.h"
#include "hub_int.h"

#define APP_WORK_FINALIZER "cluster.open-cluster-management.io/manifest-work-cleanup"
#define APP_ANNOT_WORK_REVISION "app.oam.dev/app-revision"   /* on works: the revision last written */
#define APP_FIELD_MANAGER "nave-app-controller"
#define APP_BATCH_MAX 256            /* applications reconciled per loop turn */
#define APP_TURN_BUDGET_MS 20        /* ...or fewer: a batch stops once it took this long */
#define APP_PASSES_MAX (APP_STEPS_MAX + 4) /* state-machine passes per reconcile */
#define APP_CACHE_MAX 4096           /* rendered pieces cached per application */
#define APP_NOTIFY_TIMEOUT_MS 10000  /* one webhook POST */
#define APP_MSG_MAX 1024             /* messages written into status */
#define APP_REVISIONS_MAX 1000       /* --app-revisions cap */

struct app_notify;

/* A revision a workflow runs: its Application (metadata + spec), parsed,
 * and a registry of exactly the definitions recorded in it. */
struct app_run {
	char *rev_name;                  /* owned: "<app>-v<N>" */
	int64_t rev;
	json_t *app_obj;                 /* owned: {apiVersion, kind, metadata, spec} */
	struct app_spec *spec;           /* owned */
	struct appdef_registry *defs;    /* owned */
	struct app_run *next;            /* owned list: other revisions named by deploy steps */
};

/* app_comp_health's results for one piece, valid while the stored work of
 * its cluster is the object they were computed from (stored works are
 * immutable: a new status or spec is a new object). */
struct app_health {
	json_t *work;                    /* owned reference, or NULL (no work) */
	json_t *results;                 /* owned: component name -> [healthy, message, values or null] */
};

/* One (step, topology, cluster) rendering, cached until the run changes. */
struct app_piece {
	char *key;                       /* owned: "step|slot|cluster|labels" */
	size_t step;
	char *cluster;                   /* owned */
	char *namespace_;                /* owned or NULL: the topology's namespace */
	json_t *manifests;               /* owned: app_render_cluster's array, or NULL on error */
	json_t *comps;                   /* owned: [{name, type, namespace, params, workload, traits,
					    dependsOn}] per rendered component */
	char *error;                     /* owned or NULL: why rendering failed */
	const struct app_run *src;       /* borrowed: whose definitions rendered it */
	struct app_health *health;       /* owned, never NULL: app_comp_health's cache */
	struct app_piece *next;
};

struct app_state {
	struct app_ctl *ctl;             /* borrowed: the controller */
	char *ns, *name;                 /* owned */
	struct app_state *hnext;         /* hash chain */
	struct app_state *dnext;         /* dirty list */
	bool dirty;
	bool exists;                     /* an Application object exists */
	json_t *works;                   /* owned: cluster -> stored ManifestWork (immutable, incref'd) */
	struct app_run *run;             /* owned: the revision status.workflow.appRevision names */
	struct app_piece *cache;         /* owned list */
	size_t ncache;
	/* dropped with the cache (app_state_reset): */
	json_t *desired;                 /* owned: cluster -> [entries (a shallow copy), stored work or null,
					    keep_old, desired work]: app_work_desired's last answer */
	json_t *selected;                /* owned: "<step>|<topology>" -> [clusters_gen, names, missing]:
					    app_step_pieces' last selection */
	int64_t max_rev;                 /* highest revision number seen */
	/* the revision found for (generation, definitions epoch, annotations):
	 * a reconcile caused by status alone does not hash again */
	char *rc_key;                    /* owned: "<generation>|<epoch>|<publishVersion>" or NULL */
	char *rc_name;                   /* owned */
	int64_t rc_rev;
	char rc_hash[65];
	int64_t deadline_us;             /* wall clock; 0: none */
	/* the notification step in flight (at most one per application) */
	struct app_notify *notify;       /* owned until its callback */
	char *notify_step;               /* owned: the step's name */
	char *notify_run;                /* owned: the revision it belongs to */
	bool notify_done;
	int notify_r;
	char *notify_msg;                /* owned */
};

struct app_ctl {
	struct hub *h;                   /* borrowed */
	struct kapi_server *kapi;        /* borrowed */
	uv_loop_t *loop;                 /* borrowed */
	struct kapi_sub *sub;            /* borrowed handle */
	struct appdef_registry *defs;    /* owned: built-ins + users' definitions */
	int keep;                        /* revisions kept */
	uint64_t defs_epoch;             /* bumped on every definition change */
	json_t *clusters;                /* owned: array of ManagedClusters (immutable, incref'd) */
	json_t *cluster_index;           /* owned: name -> the same ManagedClusters, rebuilt with clusters */
	uint64_t clusters_gen;           /* bumped on every rebuild of clusters */
	bool clusters_stale;
	json_t *empty;                   /* owned: {} (the labels of a cluster without labels) */
	struct app_state **tab;          /* owned hash table */
	size_t cap, n;
	struct app_state *dirty_head, *dirty_tail;
	uv_timer_t kick;                 /* 0 ms: work off the dirty list */
	uv_timer_t wake;                 /* the earliest deadline */
	int64_t wake_at_us;
	int handles_open;
	bool stopping;
	uint64_t reconciles;             /* counters, logged at debug */
};

/* app_controller.c */
/* The state of application ns/name, or NULL (borrowed: owned by ctl). */
struct app_state *app_state_find(struct app_ctl *ctl, const char *ns, const char *name);
/* The same, made when missing (borrowed; ctl frees it once neither the
 * application nor works of it exist). */
struct app_state *app_state_get(struct app_ctl *ctl, const char *ns, const char *name);
/* Queue st for a reconcile in the next loop turn. */
void app_mark_dirty(struct app_ctl *ctl, struct app_state *st);
/* The ManagedClusters (borrowed array, rebuilt when stale): their labels,
 * spec and metadata are current, their status may be older (use the hub's
 * cluster table, app_cluster_available, for availability). */
const json_t *app_clusters(struct app_ctl *ctl);
/* The labels of cluster name (borrowed) or NULL when it does not exist. */
const json_t *app_cluster_labels(struct app_ctl *ctl, const char *name);
/* Whether cluster name has an agent connected (Available True). */
bool app_cluster_available(struct app_ctl *ctl, const char *name);
/* Cancel st's notification step in flight (its callback then never runs)
 * and forget its step, run, outcome and message. */
void app_state_notify_clear(struct app_state *st);
/* Drop st's cached renderings (and its run when drop_run). */
void app_state_reset(struct app_state *st, bool drop_run);
/* The live registry of h (NULL when the controller is not running). */
const struct appdef_registry *app_ctl_defs(struct hub *h);

/* app_revision.c */
/* Find or make the revision of app (a stored Application, borrowed) and
 * prune old ones. *ret_name: "<app>-vN" (caller frees), *ret_rev: N,
 * *ret_hash (65 bytes). -EINVAL with err when a definition is missing. */
int app_revision_sync(struct app_ctl *ctl, struct app_state *st, const json_t *app, const struct app_spec *spec,
		      struct errbuf *err, char **ret_name, int64_t *ret_rev, char *ret_hash);
/* Load the revision named rev_name into a new struct app_run. -ENOENT. */
int app_run_load(struct app_ctl *ctl, const char *ns, const char *rev_name, struct errbuf *err,
		 struct app_run **ret_run);
struct app_run *app_run_free(struct app_run *run);
/* The run of another revision named by a deploy step (loaded into
 * run->next on first use; borrowed). "vN" and "<app>-vN" are accepted. */
const struct app_run *app_run_other(struct app_ctl *ctl, struct app_run *run, const char *rev, struct errbuf *err);
/* Normalise "vN", "N" or "<app>-vN" to "<app>-vN" into out. -EINVAL. */
int app_revision_name(const char *app, const char *in, char *out, size_t outlen);
/* Delete every revision of the application. */
void app_revisions_delete(struct app_ctl *ctl, const char *ns, const char *name);
/* Record the outcome of a finished workflow on its revision. */
void app_revision_set_outcome(struct app_ctl *ctl, const char *ns, const char *rev_name, const char *phase,
			      bool succeeded);
/* Delete revisions beyond the keep count (never keep_a or keep_b). */
void app_revisions_prune(struct app_ctl *ctl, const char *ns, const char *name, const char *keep_a,
			 const char *keep_b);

/* app_works.c */
/* Render (from the cache) what step i (deploy or apply-component) puts on
 * each cluster it selects now. *ret_list: a new array (caller frees it,
 * not the pieces: they belong to st's cache) of *ret_n pieces;
 * *ret_missing: new array of listed clusters that do not exist or are not
 * accepted; *ret_empty: new array of the names of topology policies that
 * select nothing (and do not allow it). -EINVAL (a selector, a revision
 * the step names) with err. */
int app_step_pieces(struct app_ctl *ctl, struct app_state *st, size_t i, struct errbuf *err,
		    struct app_piece ***ret_list, size_t *ret_n, json_t **ret_missing, json_t **ret_empty);
/* The ManifestWork desired for (st, cluster) from entries (render entries,
 * borrowed), keeping the objects of components the run has not redeployed
 * yet from the stored work when keep_old. New reference, or NULL with err. */
json_t *app_work_desired(struct app_ctl *ctl, struct app_state *st, const char *cluster, const json_t *entries,
			 bool keep_old, struct errbuf *err);
/* Write (create or update) the work when it differs from the stored one.
 * Returns 1 when written, 0 when equal, or a negative errno. */
int app_work_write(struct app_ctl *ctl, struct app_state *st, const char *cluster, const json_t *desired);
/* Delete the work of st on cluster; an unavailable cluster's work is
 * released at once (the finalizer stripped). */
int app_work_delete(struct app_ctl *ctl, struct app_state *st, const char *cluster);
/* Whether the stored work on cluster has spec equal to desired's. */
bool app_work_uptodate(struct app_state *st, const char *cluster, const json_t *desired);

/* app_status.c */
/* A new, empty health cache (app_piece.health). */
struct app_health *app_health_new(void);
/* Destroy; accepts NULL; returns NULL. */
struct app_health *app_health_free(struct app_health *hc);
/* Health of one component rendered on cluster (entry: a piece comps
 * item, borrowed) from the stored work. *ret_message: caller frees. */
bool app_comp_health(struct app_ctl *ctl, struct app_state *st, const struct app_piece *pc, const json_t *comp,
		     char **ret_message, json_t **ret_values);
/* Set condition type on status (an object, modified) keeping
 * lastTransitionTime when the status does not change. */
void app_set_condition(json_t *status, const char *type, bool ok, const char *reason, const char *message);
/* Build status.services (one per component of pieces and cluster; gated:
 * "component|cluster" -> true for components held back by dependsOn, may
 * be NULL), status.clusters and status.appliedResources into status
 * (modified). Returns whether every service is healthy. */
bool app_status_rollup(struct app_ctl *ctl, struct app_state *st, json_t *status, struct app_piece **pieces,
		       size_t npieces, const json_t *gated);
/* Write status on the stored app when it changed. */
int app_status_write(struct app_ctl *ctl, const json_t *app, const json_t *status);

/* app_workflow.c */
/* Reconcile one application (the controller's work for st). */
void app_reconcile(struct app_ctl *ctl, struct app_state *st);
/* The endpoints' transitions, on the stored app (borrowed): resume,
 * suspend, terminate, restart. 0, -EBUSY (409, err says why). */
int app_workflow_action(struct app_ctl *ctl, const json_t *app, const char *action, struct errbuf *err);
/* Now, as RFC 3339 micro time into out[TIMEFMT_MAX]. */
char *app_now(char *out);

/* app_notify.c */
typedef void (*app_notify_fn)(void *data, int r, const char *message);
/* POST payload (borrowed) as JSON to url on loop, failing after timeout_ms.
 * done runs once, later, on the loop: r 0 on a 2xx answer, else a negative
 * errno with message ("HTTP 500 from https://host: ..."). After done the
 * request frees itself; before it, app_notify_cancel drops it (done is then
 * never called). -EINVAL (bad URL) with err. */
int app_notify_post(uv_loop_t *loop, const char *url, const json_t *payload, int64_t timeout_ms,
		    app_notify_fn done, void *data, struct errbuf *err, struct app_notify **ret_n);
/* Drop a request whose done has not run. Accepts NULL; returns NULL. */
struct app_notify *app_notify_cancel(struct app_notify *n);
/* "scheme://host[:port]" of url into out (for messages: webhook paths hold secrets). */
void app_url_origin(const char *url, char *out, size_t outlen);

/* app_rollout.c: the nave-rollout policy (a deploy step released in waves,
 * hub/wave.h; state in status.rollout) */
/* (app_rollout_check is in app.h: app_spec.c validates with it) */
/* The index of deploy step s's nave-rollout policy in spec, or -1. */
int app_rollout_policy(const struct app_spec *spec, const struct app_step *s);
/* The clusters of step's wave for revision rev released so far (status
 * borrowed): a new object cluster -> true (empty when status.rollout is of
 * another step or revision). */
json_t *app_rollout_released(const json_t *status, const char *step, const char *rev);
/* Whether cluster's stored work holds the step's desired content
 * (*ret_uptodate) and its components are healthy (*ret_healthy). */
typedef void (*app_rollout_check_fn)(void *data, const char *cluster, bool *ret_uptodate, bool *ret_healthy);
struct app_rollout_out {
	int phase;                   /* enum wave_phase */
	bool released;               /* clusters were released now: render again */
	int64_t next_wake_ms;        /* 0: none */
	char message[256];
};
/* Evaluate the wave of deploy step `step` of spec (the run of revision
 * rev) over clusters (the step's cluster names, sorted, borrowed) at now_ms:
 * reads and rewrites status.rollout (status modified), releasing what
 * wave_step says. 0 and *ret, or a negative errno. */
int app_rollout_run(struct app_ctl *ctl, struct app_state *st, json_t *status, const struct app_spec *spec,
		    size_t step, const char *rev, const json_t *clusters, app_rollout_check_fn check, void *data,
		    int64_t now_ms, struct app_rollout_out *ret);
/* The rollout endpoints' transitions on the stored app (borrowed): pause,
 * resume, abort. 0, -EBUSY (409, err says why), -ENOENT. */
int app_rollout_action(struct app_ctl *ctl, const json_t *app, const char *action, struct errbuf *err);

#endif
