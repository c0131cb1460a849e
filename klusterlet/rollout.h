/* rollout.h - local batch rollouts inside the work engine: the hooks the
 * engine's files call (engine.c, apply.c, feedback.c, gc.c). Not for the
 * agent: a rollout is driven entirely by the works the engine holds.
 *
 * A work may carry Rollout manifests (standard.oam.dev/v1alpha1, see
 * rollout_plan.h and docs/rollouts.md). The engine never sends them to the
 * API: each becomes a struct rollout of the work, executed here on the
 * engine's loop and re-check tick, with its progress kept in a ConfigMap in
 * the spoke (so a restarted klusterlet, or a new leader, resumes it, and it
 * goes on while the hub is away). In return the engine:
 *   - pins the fields the rollout owns when it writes a workload the rollout
 *     controls (spec.replicas of the target Deployment, the partition of the
 *     StatefulSet), or leaves the workload alone (rollout_pin);
 *   - keeps the source workloads (which the work no longer holds) out of
 *     garbage collection until the rollout is done with them
 *     (rollout_protects);
 *   - reports the rollout's state as the Rollout manifest's status feedback
 *     and in the work's Progressing/Degraded conditions (rollout_feedback).
 *
 * Ownership: w->rollouts and e->rollouts belong to this module; the engine
 * only calls the functions below. Nothing here calls back into the agent.
 */
#ifndef NAVE_KLUSTERLET_ROLLOUT_H
#define NAVE_KLUSTERLET_ROLLOUT_H

#include <stdbool.h>

#include <jansson.h>

struct work;
struct work_engine;
struct manifest;

/* Labels and annotations of the state ConfigMaps (docs/rollouts.md). */
#define ROLLOUT_STATE_LABEL "rollout.nave.io/state"          /* = ROLLOUT_STATE_VERSION */
#define ROLLOUT_STATE_VERSION "v1"
#define ROLLOUT_ANN_WORK_ID "rollout.nave.io/work-id"
#define ROLLOUT_ANN_HUB_HASH "rollout.nave.io/hub-hash"
#define ROLLOUT_ANN_ROLLOUT "rollout.nave.io/rollout"
#define ROLLOUT_STATE_KEY "state"                            /* data key holding the JSON */
#define ROLLOUT_STATE_PREFIX "nave-rollout-"
#define ROLLOUT_MAX_PER_WORK 16                              /* Rollout manifests in one work */
#define ROLLOUT_MAX_TEMPLATE_BYTES (256u << 10)              /* a StatefulSet source template kept */
#define ROLLOUT_STEP_MS 500          /* re-observe an active rollout this often */
#define ROLLOUT_IDLE_MS 2000         /* ... one that waits (pause, gate) */

/* --- the engine's lifecycle (engine.c) -------------------------------- */

/* Make / free the engine's rollout manager (e->rollouts). free accepts NULL
 * and returns NULL; it cancels what is in flight without callbacks. */
struct rollout_mgr *rollout_mgr_new(struct work_engine *e);
struct rollout_mgr *rollout_mgr_free(struct rollout_mgr *m);
/* The engine starts: list the state ConfigMaps of this hub (retried with
 * backoff); they are handed to their works once the engine is ready. */
void rollout_mgr_start(struct work_engine *e);
/* The engine stops: cancel the list and pending deletions. */
void rollout_mgr_stop(struct work_engine *e);
/* Called on every re-check tick of the engine: drives every rollout. */
void rollout_tick(struct work_engine *e);

/* --- a work (engine.c, gc.c) ----------------------------------------- */

/* The work's bundle changed (eng_work_set_bundle, after the manifests were
 * built): match its Rollout manifests to the work's rollouts; a Rollout no
 * longer in the bundle ends (its state is deleted). */
void rollout_bundle_changed(struct work *w);
/* The work is being deleted: its rollouts stop and their states are deleted. */
void rollout_work_deleting(struct work *w);
/* The work is unlinked (eng_work_free): cancel what its rollouts have in flight. */
void rollout_work_stop(struct work *w);
/* The work's memory goes (work_closed): free its rollouts. */
void rollout_work_free(struct work *w);

/* --- a round (apply.c, gc.c) ----------------------------------------- */

/* A Rollout manifest's turn in the round: set its result (Applied, the
 * synthetic mapping and live object used for status). Never a request. */
void rollout_apply_manifest(struct work *w, struct manifest *m);

enum rollout_pin_result {
	ROLLOUT_PIN_NONE,   /* not controlled by a rollout: write as the manifest says */
	ROLLOUT_PIN_OBJECT, /* write *ret_obj instead of the manifest (fields pinned) */
	ROLLOUT_PIN_SKIP,   /* do not write it now (the rollout owns it) */
};
/* Before the engine writes manifest m (its live object in m->live): whether
 * a rollout of w controls it. With ROLLOUT_PIN_OBJECT, *ret_obj is a new
 * reference to the manifest with the rollout's fields pinned (caller
 * decrefs). */
enum rollout_pin_result rollout_pin(struct work *w, const struct manifest *m, json_t **ret_obj);

/* Whether garbage collection must keep an applied object of w that the work
 * no longer holds (a rollout's source, or anything a rollout may own while
 * the states are still loading). */
bool rollout_protects(struct work *w, const char *group, const char *resource, const char *ns,
		      const char *name);

/* --- status (feedback.c) --------------------------------------------- */

/* For a Rollout manifest m of w: its feedback values (a new array; at most
 * 64 values, OCM's shapes) and its progress as feedback.c's
 * workload_progress counts it: 1 rolling (*ret_why says where), -1 failed or
 * rolled back (*ret_why says why), 0 done or idle. *ret_why is borrowed from
 * the rollout (valid until its next step). */
int rollout_feedback(struct work *w, const struct manifest *m, json_t **ret_values, const char **ret_why);

#endif
