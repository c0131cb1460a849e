/* engine_int.h - what the files of the work engine share (not for the agent).
 *
 * One struct work per ManifestWork the engine holds. Each work is a small
 * state machine driven by callbacks on the loop, with at most ONE Kubernetes
 * call (or discovery wait) outstanding at a time: w->call / w->wait. That
 * makes cancelling trivial (stop and free cancel one handle per work) and
 * keeps the kind order without any bookkeeping: manifests are applied one
 * after another in rank order. Works proceed in parallel.
 *
 * A work's life:
 *   reconcile round (apply.c): ensure the AppliedManifestWork
 *     (applied_work.c), then per manifest in rank order: resolve the kind
 *     (kdiscovery), GET the live object, write it by the update strategy;
 *     then garbage-collect what the work no longer holds (gc.c), write the
 *     AppliedManifestWork status, compute the status (feedback.c) and report
 *     it when its hash changed. Rounds repeat every recheck period (drift
 *     correction, feedback) and on every new generation.
 *   delete (gc.c): orphan or delete each applied object, wait until the
 *     deleted ones are gone, delete the AppliedManifestWork, report deleted,
 *     free the work.
 *
 * Files: engine.c (public API, work table, status reports, lifecycle),
 * apply.c (the round), applied_work.c (the CRD and the records),
 * feedback.c (status, feedback values, conditions), gc.c (garbage
 * collection, deletion, eviction).
 */
#ifndef NAVE_KLUSTERLET_ENGINE_INT_H
#define NAVE_KLUSTERLET_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "backoff.h"
#include "engine.h"
#include "kclient.h"
#include "kclient_ops.h"
#include "kdiscovery.h"
#include "rollout.h"

#define ENG_RETRY_BASE_MS 500
#define ENG_RETRY_MAX_MS 30000
#define ENG_DELETE_POLL_MS 300
#define ENG_MSG_MAX 1024            /* kept bytes of a manifest's error message */
#define ENG_MAX_RECHECKS 4          /* periodic re-check rounds running at once */
/* A work with a workload still rolling out is re-checked after this long,
 * doubling while its status does not change, up to the recheck period. */
#define ENG_FAST_RECHECK_MS 1000
/* The re-check timer's period: the recheck period, at most a quarter of the
 * fast re-check (so a fast re-check is late by 250 ms at most). */
#define ENG_RECHECK_TICK_MS(e) ((e)->recheck_ms < ENG_FAST_RECHECK_MS / 4 ? (e)->recheck_ms \
									   : ENG_FAST_RECHECK_MS / 4)

enum eng_strategy {
	ENG_UPDATE,
	ENG_CREATE_ONLY,
	ENG_SSA,
	ENG_READ_ONLY,
};

/* One manifest of a work's current bundle. */
struct manifest {
	size_t ordinal;              /* index in the bundle */
	json_t *obj;                 /* borrowed from the work's bundle */
	int rank;                    /* OCM's kind order */
	char hash[65];               /* sha256 of the manifest's canonical JSON */
	const json_t *config;        /* borrowed: the matching manifestConfigs entry, or NULL */
	enum eng_strategy strategy;
	const char *field_manager;   /* borrowed (config or engine) */
	bool force;
	bool mapped;                 /* map is valid */
	struct kmapping map;
	/* results, kept across rounds of the same generation */
	bool attempted;              /* an apply was tried this generation */
	bool applied;                /* the last attempt succeeded */
	char *apply_reason;          /* owned or NULL: why the last attempt failed (reason) */
	char *apply_msg;             /* owned or NULL: its message */
	bool fetched;                /* a GET answered (live is current) */
	char *fetch_msg;             /* owned or NULL: the GET failed */
	json_t *live;                /* owned or NULL (absent): the object as last read or written */
	bool complete;               /* a Complete condition rule was met: no more writes */
};

enum work_phase {
	WORK_IDLE,
	WORK_ROUND,      /* a reconcile round runs */
	WORK_DELETING,   /* deletion runs; the work is freed at its end */
};

struct work {
	struct work *next;
	struct work_engine *e;
	char id[PROTO_UUID_LEN + 1];
	char *name;                  /* owned: the ManifestWork's name (id when unknown) */
	char amw_name[254];
	bool foreign;                /* a record of another hub (same agent): evict only */
	int64_t generation;          /* applied (or being applied); 0: restored, unknown */
	json_t *bundle;              /* owned or NULL (restored works) */
	json_t *pending_bundle;      /* owned or NULL: a newer generation waiting for the round */
	int64_t pending_generation;
	json_t *delete_option;       /* owned or NULL (Foreground) */
	char *reject_msg;            /* owned or NULL: the bundle uses what this agent refuses */
	struct manifest *m;          /* owned array of n */
	size_t n;
	size_t *order;               /* owned: manifest indices in apply order */

	/* the AppliedManifestWork */
	bool amw_known;              /* amw_uid and applied are from the server */
	char *amw_uid;               /* owned */
	json_t *amw;                 /* owned: the record as last read or written */
	json_t *applied;             /* owned: status.appliedResources as wanted */
	int64_t eviction_start_us;   /* 0: not evicting */

	/* the machine */
	enum work_phase phase;
	bool dirty;                  /* run another round when this one ends */
	bool delete_requested;       /* delete when the round ends */
	bool retry_armed;
	bool rechecking;             /* this round is a periodic re-check */
	bool progressing;            /* the last status saw a workload rolling out */
	uint64_t recheck_after_ms;   /* the next re-check's delay; 0: the recheck period */
	int64_t last_round_us;       /* monotonic time the last round ended */
	size_t cursor;               /* position in order[] (round) or in targets (delete) */
	int round_errors;
	json_t *targets;             /* owned: delete/GC work list */
	json_t *kept;                /* owned: GC entries that could not be collected */
	int substep;
	void (*cont)(struct work *w, int r); /* the step chain's continuation */
	int cont_r;
	void (*gc_cont)(struct work *w, int r); /* gc_stale's continuation */
	struct kclient_call *call;   /* the one outstanding request, or NULL */
	struct kdiscovery_wait *wait;/* or the one discovery wait */
	uv_timer_t timer;            /* retries, delete polling */
	uv_timer_t debounce;         /* status reports */
	int closing;                 /* handles still closing */
	struct backoff backoff;

	/* status */
	json_t *status;              /* owned or NULL: the current status */
	char hash[PROTO_STATUSHASH_LEN + 1];
	char reported_hash[PROTO_STATUSHASH_LEN + 1];
	bool resync_pending;         /* the next report answers a status resync */
	json_t *transitions;         /* owned: condition key -> [status, transition_us] */

	struct rollout *rollouts;    /* owned by rollout.c: the work's Rollout manifests */
};

struct work_engine {
	uv_loop_t *loop;
	struct kclient *kc;          /* borrowed */
	struct kdiscovery *kd;       /* owned */
	char *cluster_name, *hub_hash, *agent_id, *field_manager;   /* owned */
	uint64_t eviction_grace_ms, recheck_ms, debounce_ms;
	size_t max_works;
	bool no_crd_install;
	work_engine_status_fn status_cb;
	void *status_ud;
	work_engine_ready_fn ready_cb;
	void *ready_ud;

	bool started, ready;
	struct work *works;
	size_t nworks;

	/* start: CRD, then the list of records */
	int start_step;
	struct kclient_call *call;
	struct kclient_pager *pager;
	uv_timer_t start_timer;
	uv_timer_t recheck_timer;
	struct backoff start_backoff;
	bool closing;
	int close_pending;

	struct work_engine_stats stats;
	struct rollout_mgr *rollouts;/* owned by rollout.c: local batch rollouts */
};

/* a, or b when a is NULL (ISO C has no "a ?: b"). */
static inline const char *eng_or(const char *a, const char *b)
{
	return a ? a : b;
}

/* engine.c */
struct work *eng_work_find(struct work_engine *e, const char *id);
/* Make (and link) a work; name may be NULL (the id is used). */
struct work *eng_work_new(struct work_engine *e, const char *id, const char *name);
/* Unlink and free a work: cancels its call, closes its timers; the memory
 * goes when the timers have closed (later on the loop). A second call is a
 * no-op. */
void eng_work_free(struct work *w);
/* The work's status changed or may have: recompute is done by the caller;
 * this arms the debounced report when the hash differs from the reported one. */
void eng_status_changed(struct work *w);
/* Report the final status of a deleted work at once. */
void eng_report_deleted(struct work *w, int64_t generation);
/* Replace a work's bundle (the manifests are rebuilt). bundle is stolen. */
void eng_work_set_bundle(struct work *w, json_t *bundle, int64_t generation);
/* A request failed: count it. */
void eng_count_error(struct work_engine *e);
/* Arm w->timer: fn after ms. */
void eng_work_timer(struct work *w, uint64_t ms, uv_timer_cb fn);
/* After a round's status: choose the next re-check's delay (fast while a
 * workload rolls out and the status keeps changing; see ENG_FAST_RECHECK_MS). */
void eng_plan_recheck(struct work *w, bool status_changed);
/* Log and keep a message: "what: reason: message". Returns a new string. */
char *eng_err_text(const struct kclient_result *res);

/* apply.c */
/* Start a round, or mark the work dirty when one runs. */
void apply_reconcile(struct work *w);
/* The end of a round or of a step chain: continue or finish. */
void apply_round_done(struct work *w);
/* The kind rank of OCM's apply order. */
int apply_kind_rank(const char *group, const char *kind);
/* The canonical-JSON sha256 of v into out[65]. */
void apply_json_hash(const json_t *v, char *out);
/* Whether every member of want is in have with the same value (arrays: same
 * length, element by element). Used to decide that an object is unchanged. */
bool apply_json_subset(const json_t *want, const json_t *have);
/* Parse the bundle into w->m/w->order; sets w->reject_msg for refused features. */
void apply_build_manifests(struct work *w);
/* Free the manifests of w. */
void apply_free_manifests(struct work *w);
/* The ownerReference to the work's record, into o. */
void apply_add_owner(struct work *w, json_t *o);

/* applied_work.c */
/* Ensure the CRD and list the records (the engine's start); cb when done. */
void amw_start(struct work_engine *e);
/* Ensure w's record exists (GET, else create); then cont(w, r). */
void amw_ensure(struct work *w, void (*cont)(struct work *w, int r));
/* Read w's record if it exists (never creates it); then cont(w, r). */
void amw_load(struct work *w, void (*cont)(struct work *w, int r));
/* Write the record's status (appliedResources, evictionStartTime) and its
 * delete option annotation when they differ from the server's; then cont. */
void amw_sync(struct work *w, void (*cont)(struct work *w, int r));
/* Delete the record; then cont(w, r) (404 counts as success). */
void amw_delete(struct work *w, bool orphan, void (*cont)(struct work *w, int r));
/* The appliedResources entry of a manifest with a live object (new ref), or NULL. */
json_t *amw_resource_entry(const struct manifest *m);
/* The CRD object (new reference). */
json_t *amw_crd(void);

/* feedback.c */
/* Recompute w->status and w->hash from the manifests' results. */
void feedback_compute(struct work *w);
/* The Deleting status during a deletion (message: what it waits for). */
void feedback_compute_deleting(struct work *w, const char *message);
/* Feedback values of obj by rules (a feedbackRules array) into a new array;
 * *ret_err gets a new message string or NULL. */
json_t *feedback_values(const json_t *obj, const char *group, const char *version,
			const char *kind, const json_t *rules, char **ret_err);

/* gc.c */
/* After the manifests of a round: collect what the work no longer holds,
 * then continue the round with cont. */
void gc_stale(struct work *w, void (*cont)(struct work *w, int r));
/* Start deleting a work (honouring its delete option); frees it at the end. */
void gc_delete_work(struct work *w);
/* Mark a work for eviction (keeps it applied). */
void gc_evict_start(struct work *w);
/* Called every recheck: start deleting works whose grace has passed. */
void gc_evict_check(struct work_engine *e);
/* Whether an object is to be orphaned under a delete option. */
bool gc_orphaned(const json_t *delete_option, const char *group, const char *resource,
		 const char *ns, const char *name);

#endif
