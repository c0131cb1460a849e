/* wave.h - releasing a change across clusters one group at a time (issue #9,
 * the hub's half): OCM's RolloutStrategy semantics, for Applications (the
 * "nave-rollout" policy beside topology) and for ManifestWorkReplicaSets.
 *
 * Pure functions over plain structs: no I/O, no clock (the caller passes
 * now_ms), no loop. The callers (hub/app_*.c for Applications,
 * hub/mwrs.c for ManifestWorkReplicaSets) keep the per-cluster state
 * durably in their resource's status, evaluate each cluster with
 * wave_cluster_eval from its ManifestWork, ask wave_step what to release,
 * write the released clusters' works, and wake up at next_wake_ms.
 *
 * STRATEGY (the rolloutStrategy object, as OCM's
 * cluster/v1alpha1/types_rolloutstrategy.go; docs/rollouts.md "Across
 * clusters"):
 *   type: All | Progressive | ProgressivePerGroup   (default All)
 *   all:                 {minSuccessTime, progressDeadline, maxFailures}
 *   progressive:         {minSuccessTime, progressDeadline, maxFailures,
 *                         maxConcurrency, mandatoryDecisionGroups[]}
 *   progressivePerGroup: {minSuccessTime, progressDeadline, maxFailures,
 *                         mandatoryDecisionGroups[]}
 *   minSuccessTime      duration ("0", "30s", "5m"): soak after success
 *   progressDeadline    duration or "None" (default None): a cluster not
 *                       done this long after its release is failed (Timeout)
 *   maxFailures         int or "N%" of all clusters (default 0)
 *   maxConcurrency      int or "N%" (Progressive; default: the size of a
 *                       decision group when groups exist, else all)
 *   mandatoryDecisionGroups[] {groupName | groupIndex}: released first, in
 *                       order; no failure is tolerated in them
 * Nave accepts the same object under an Application policy
 * {type: nave-rollout, properties: <rolloutStrategy>}.
 *
 * RULES
 *   - A cluster is DONE only when its work is Available with a status newer
 *     than the change (conditions' observedGeneration >= the work's
 *     generation), its local rollout (a Rollout manifest in the work, if
 *     any) reports rolloutSucceed, and minSuccessTime has passed since it
 *     first looked done. An unreachable cluster (its ManagedCluster not
 *     Available) is not done; a stale status is never done.
 *   - A cluster FAILS when its work reports Degraded/failed (Progressing
 *     False with a failure reason, a local rolloutFailed) or its
 *     progressDeadline passes.
 *   - Failures beyond maxFailures (or any failure in a mandatory group)
 *     HALT the wave: nothing more is released; clusters not yet released
 *     keep their old content. Abort stops releasing (the same, by hand);
 *     pause stops releasing until resume; rollback is the caller's: it
 *     makes the old content the new change (a new wave).
 *   - All: every cluster at once. Progressive: mandatory groups first (each
 *     must be done before the next), then at most maxConcurrency clusters
 *     in flight (released, not done) at a time, in cluster order.
 *     ProgressivePerGroup: mandatory groups first, then group by group
 *     (group index order); the next group starts when every cluster of the
 *     current one is done (or failed within the budget).
 */
#ifndef NAVE_WAVE_H
#define NAVE_WAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"

#define WAVE_CLUSTERS_MAX 100000
#define WAVE_GROUPS_MAX 1000

enum wave_type {
	WAVE_ALL,
	WAVE_PROGRESSIVE,
	WAVE_PROGRESSIVE_PER_GROUP,
};

/* An int-or-percent ("2", 2, "25%"). */
struct wave_count {
	int value;
	bool percent;
};

struct wave_mandatory {
	char *group_name;      /* owned; NULL when given by index */
	int group_index;       /* -1 when given by name */
};

struct wave_strategy {
	enum wave_type type;
	int64_t min_success_ms;       /* 0 */
	int64_t progress_deadline_ms; /* 0: None */
	struct wave_count max_failures;    /* default 0 */
	struct wave_count max_concurrency; /* value 0: default (see above) */
	struct wave_mandatory *mandatory;  /* owned array */
	size_t nmandatory;
};

/* Parse a rolloutStrategy object (borrowed; NULL or {} = All). field
 * prefixes messages ("spec.placementRefs[0].rolloutStrategy",
 * "spec.policies[2].properties"). Returns 0 or -EINVAL naming the field;
 * *ret is filled (free with wave_strategy_clear). */
int wave_strategy_parse(const json_t *obj, const char *field, struct errbuf *err, struct wave_strategy *ret);
void wave_strategy_clear(struct wave_strategy *s);

/* A cluster's state in a wave, kept by the caller in its status. */
enum wave_cstate {
	WAVE_C_PENDING,    /* not released: keeps the old content */
	WAVE_C_UPDATING,   /* released (new content written), not done yet */
	WAVE_C_SOAKING,    /* looks done, minSuccessTime not over */
	WAVE_C_SUCCEEDED,  /* done */
	WAVE_C_FAILED,     /* failed (reason/message say why) */
};

/* A cluster's message (a local rollout's reason, a work's condition) is kept
 * up to this many bytes. */
#define WAVE_CLUSTER_MESSAGE_MAX 1024

struct wave_cluster {
	const char *name;        /* borrowed */
	int group;               /* decision group index (0 when there are none) */
	const char *group_name;  /* borrowed; may be NULL */
	enum wave_cstate state;
	int64_t released_ms;     /* when it became UPDATING (0: never) */
	int64_t done_since_ms;   /* when it first looked done (0: not) */
	char reason[64];         /* FAILED: "Timeout", "Degraded", "RolloutFailed", "Unreachable"... */
	char message[WAVE_CLUSTER_MESSAGE_MAX]; /* the klusterlet's own words: longer ones are cut */
};

/* What a cluster's work says right now (filled by the caller from the
 * ManifestWork and its ManagedCluster; see wave_cluster_eval). */
struct wave_observation {
	bool reachable;          /* ManagedCluster Available True */
	bool fresh;              /* work status' observedGeneration >= work generation */
	bool available;          /* work condition Available True */
	bool degraded;           /* work condition Degraded True, or a Progressing False failure */
	bool has_local_rollout;  /* a Rollout manifest in the work */
	const char *local_state; /* its rollingState feedback value, or NULL */
	const char *message;     /* the failure's message, or NULL */
};

/* Read a ManifestWork (borrowed) and whether its cluster is reachable into
 * an observation (strings borrowed from work). */
void wave_observe(const json_t *work, bool reachable, struct wave_observation *ret);

/* Move one released cluster's state on from an observation at now_ms under
 * s: UPDATING -> SOAKING when it looks done (done_since set), SOAKING ->
 * SUCCEEDED after minSuccessTime, any -> FAILED on failure or past the
 * deadline, SOAKING -> UPDATING when it stops looking done. PENDING and
 * FAILED do not change. Returns true when c changed. */
bool wave_cluster_eval(const struct wave_strategy *s, struct wave_cluster *c,
		       const struct wave_observation *o, int64_t now_ms);

enum wave_phase {
	WAVE_PROGRESSING,
	WAVE_SUCCEEDED,  /* every cluster SUCCEEDED (or failed within the budget, all done) */
	WAVE_HALTED,     /* failures beyond the budget: nothing more released */
	WAVE_PAUSED,     /* by hand: nothing more released until resumed */
	WAVE_ABORTED,    /* by hand: nothing more released */
};

struct wave_result {
	enum wave_phase phase;
	size_t *release;         /* owned: indexes of PENDING clusters to release now */
	size_t nrelease;
	int64_t next_wake_ms;    /* when to call again without a change (0: no need) */
	int current_group;       /* the group being rolled out (ProgressivePerGroup/mandatory), or -1 */
	size_t succeeded, failed, updating, pending;
	char message[256];       /* "group 2 of 3: 1 of 2 clusters done", "halted: 1 failure > maxFailures 0 (cluster-4: Timeout)" */
};

/* Decide what to release now. clusters: the wave's clusters in a stable
 * order (by group, then name), states already evaluated. paused/aborted:
 * the caller's flags. Returns 0 and fills *ret (free with
 * wave_result_clear), or -EINVAL (a mandatory group that matches no group is
 * ignored, not an error). */
int wave_step(const struct wave_strategy *s, const struct wave_cluster *clusters, size_t n, bool paused,
	      bool aborted, int64_t now_ms, struct wave_result *ret);
void wave_result_clear(struct wave_result *r);

/* Names, for status and messages. */
const char *wave_cstate_name(enum wave_cstate st);  /* "Pending", "Updating", "Soaking", "Succeeded", "Failed" */
const char *wave_phase_name(enum wave_phase ph);    /* "Progressing", "Succeeded", "Halted", "Paused", "Aborted" */
/* Parse back a name written by wave_cstate_name; -EINVAL. */
int wave_cstate_parse(const char *s, enum wave_cstate *ret);

#endif
