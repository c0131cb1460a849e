/* rollout_plan.h - the plan of a local batch rollout: the Rollout manifest
 * (standard.oam.dev/v1alpha1, as KubeVela's rollout trait emits it) parsed
 * and checked, and the arithmetic of its batches.
 *
 * Pure functions over JSON, no I/O: rollout.c (the executor inside the work
 * engine) uses them, the unit tests and the fuzzer call them directly. The
 * format is documented in docs/rollouts.md ("Inside a cluster"); the limits
 * below are its caps, each checked with an error naming the field.
 *
 * Batch sizes are increments, as in KubeVela: rolloutBatches[k].replicas is
 * how many target replicas batch k adds, an integer or "N%" of targetSize
 * (rounded up). The last batch takes the remainder when its replicas is a
 * percentage or absent; otherwise the increments must add up to targetSize.
 * Without rolloutBatches the target is split into numBatches (default 1)
 * batches as evenly as possible. rollout_plan_batches() turns a plan into the
 * cumulative number of target replicas after each batch.
 */
#ifndef NAVE_KLUSTERLET_ROLLOUT_PLAN_H
#define NAVE_KLUSTERLET_ROLLOUT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"

#define ROLLOUT_GROUP "standard.oam.dev"
#define ROLLOUT_VERSION "v1alpha1"
#define ROLLOUT_API_VERSION "standard.oam.dev/v1alpha1"
#define ROLLOUT_KIND "Rollout"
#define ROLLOUT_RESOURCE "rollouts"

#define ROLLOUT_MAX_BATCHES 100            /* rolloutBatches[], numBatches */
#define ROLLOUT_MAX_REPLICAS 100000        /* targetSize, a batch's replicas, failureThreshold */
#define ROLLOUT_DEFAULT_DEADLINE_S 600     /* progressDeadlineSeconds (Kubernetes' Deployment default) */
#define ROLLOUT_MAX_DEADLINE_S 86400
#define ROLLOUT_MAX_PAUSE_MS (24ull * 3600 * 1000) /* pauseBetweenBatches */
#define ROLLOUT_MAX_DURATION_LEN 32        /* bytes of a duration string */
#define ROLLOUT_MAX_NAME 253               /* revision and component names */

enum rollout_kind {
	ROLLOUT_DEPLOYMENT,   /* one Deployment per revision (name-v1, name-v2) */
	ROLLOUT_STATEFULSET,  /* one StatefulSet, updated by lowering its partition */
};

enum rollout_strategy {
	ROLLOUT_INCREASE_FIRST, /* scale the target up, then the source down (default) */
	ROLLOUT_DECREASE_FIRST, /* scale the source down, then the target up */
};

/* An integer or a percentage ("25%"). */
struct rollout_intstr {
	bool set;       /* false: absent */
	bool percent;   /* value is 0..100 percent */
	int64_t value;
};

/* A parsed, checked plan. Plain data: copy it with '='. */
struct rollout_plan {
	char component[ROLLOUT_MAX_NAME + 1]; /* spec.componentName, "" when absent */
	char source[ROLLOUT_MAX_NAME + 1];    /* spec.sourceRevisionName, "" when absent */
	char target[ROLLOUT_MAX_NAME + 1];    /* spec.targetRevisionName (required) */
	enum rollout_kind kind;               /* spec.workloadKind, default Deployment */
	enum rollout_strategy strategy;
	int64_t target_size;                  /* -1: from the target workload (or the source) */
	int64_t num_batches;                  /* -1: not given */
	size_t nbatches;                      /* entries of rolloutBatches[] (0: absent) */
	struct rollout_intstr batches[ROLLOUT_MAX_BATCHES]; /* their replicas */
	int64_t batch_partition;              /* -1: none, every batch released */
	bool paused;
	uint64_t pause_ms;                    /* pauseBetweenBatches; 0: none */
	struct rollout_intstr failure_threshold; /* unset: 0 */
	int64_t deadline_s;                   /* progressDeadlineSeconds per batch */
};

/* Whether obj is a Rollout manifest (apiVersion standard.oam.dev/v1alpha1,
 * kind Rollout): the agent executes it instead of sending it to the API. */
bool rollout_is_manifest(const json_t *obj);

/* Parse and check a Rollout's spec (the object under "spec"). Field names in
 * err are relative to the Rollout ("spec.rolloutPlan.rolloutBatches[2].replicas:
 * ..."). Returns 0 and fills *ret_plan, or -EINVAL with err set. */
int rollout_plan_parse(const json_t *spec, struct errbuf *err, struct rollout_plan *ret_plan);

/* The cumulative target replicas after each batch for a target of
 * target_size (1..ROLLOUT_MAX_REPLICAS) replicas: ret_cum[k] for k <
 * *ret_n, non-decreasing, ret_cum[*ret_n - 1] == target_size. ret_cum holds
 * ROLLOUT_MAX_BATCHES entries. Returns 0, or -EINVAL when the batches do not
 * add up (err names the field). */
int rollout_plan_batches(const struct rollout_plan *p, int64_t target_size, struct errbuf *err,
			 int64_t *ret_cum, size_t *ret_n);

/* How many of `upgraded` target replicas may be not ready when a batch
 * counts as ready: failureThreshold (a percentage of upgraded, rounded down),
 * at most upgraded. */
int64_t rollout_plan_threshold(const struct rollout_plan *p, int64_t upgraded);

/* A Go-style duration ("30s", "1m30s", "500ms", "2h"; units ms, s, m, h;
 * at most ROLLOUT_MAX_DURATION_LEN bytes and ROLLOUT_MAX_PAUSE_MS). Returns
 * 0 or -EINVAL. */
int rollout_parse_duration(const char *s, uint64_t *ret_ms);

/* Scale sources down by `remove` replicas in total, oldest first: start[k]
 * is source k's size when the rollout began; ret_desired[k] its size now.
 * remove is clamped to 0..sum(start). */
void rollout_sources_split(int64_t remove, const int64_t *start, size_t n, int64_t *ret_desired);

/* The names used in status and state ("IncreaseFirst", "Deployment"). */
const char *rollout_kind_name(enum rollout_kind k);
const char *rollout_strategy_name(enum rollout_strategy s);

/* ---------------------------------------------------------------------- */
/* the state kept in the spoke                                             */
/* ---------------------------------------------------------------------- */

/* rollingState, KubeVela's names. */
enum rollout_rolling {
	ROLLOUT_VERIFYING,        /* verifyingSpec: reading the workloads (never persisted) */
	ROLLOUT_INITIALIZING,     /* initializing: sources and sizes recorded */
	ROLLOUT_ROLLING,          /* rollingInBatches */
	ROLLOUT_FINALISING,       /* finalising: the sources are removed */
	ROLLOUT_SUCCEED,          /* rolloutSucceed (terminal) */
	ROLLOUT_ROLLING_BACK,     /* rollingBack: a batch failed; restoring the source */
	ROLLOUT_ROLLBACK_SUCCEED, /* rollbackSucceed (terminal): source restored, target removed */
	ROLLOUT_FAILED,           /* rolloutFailed (terminal): the plan cannot run; nothing changed */
};

/* batchRollingState. */
enum rollout_batch {
	ROLLOUT_BATCH_INITIALIZING,  /* batchInitializing: waiting to begin (pause, gate) */
	ROLLOUT_BATCH_IN_ROLLING,    /* batchInRolling: first scaling step */
	ROLLOUT_BATCH_VERIFYING,     /* batchVerifying: waiting for ready target replicas */
	ROLLOUT_BATCH_FINALIZING,    /* batchFinalizing: second scaling step */
	ROLLOUT_BATCH_READY,         /* batchReady */
	ROLLOUT_BATCH_VERIFY_FAILED, /* batchVerifyFailed: the deadline passed */
};

#define ROLLOUT_MAX_SOURCES 16          /* workloads being drained at once */
#define ROLLOUT_MAX_REASON 64
#define ROLLOUT_MAX_MESSAGE 512
#define ROLLOUT_IDENTITY_LEN 64         /* lowercase hex sha256 */
#define ROLLOUT_MAX_STATE_BYTES 65536   /* the state's JSON text */

struct rollout_source {
	char name[ROLLOUT_MAX_NAME + 1];
	int64_t start;                   /* its replicas when the rollout began */
};

/* A rollout's progress: plain data (copy with '='), persisted as JSON. */
struct rollout_state {
	char identity[ROLLOUT_IDENTITY_LEN + 1]; /* which rollout this is (kind, target, template) */
	enum rollout_kind kind;
	char target[ROLLOUT_MAX_NAME + 1];
	char source[ROLLOUT_MAX_NAME + 1];       /* the declared source, "" when none */
	int64_t target_size;
	int64_t target_start;                    /* the target's replicas when the rollout began */
	size_t nsources;
	struct rollout_source sources[ROLLOUT_MAX_SOURCES]; /* drained oldest first */
	int64_t source_size;                     /* the declared source's size for a rollback */
	enum rollout_rolling rolling;
	enum rollout_batch batch;
	int64_t current_batch;                   /* 0-based, as KubeVela */
	int64_t batch_start_us;                  /* wall clock; 0: not begun */
	int64_t batch_ready_us;                  /* the last batch that became ready */
	int64_t transition_us;                   /* the last change of rolling */
	char reason[ROLLOUT_MAX_REASON + 1];
	char message[ROLLOUT_MAX_MESSAGE + 1];
	char source_revision[ROLLOUT_MAX_NAME + 1]; /* StatefulSet: controller revisions */
	char target_revision[ROLLOUT_MAX_NAME + 1];
};

const char *rollout_rolling_name(enum rollout_rolling r);
const char *rollout_batch_name(enum rollout_batch b);

/* The state as a JSON object (new reference). */
json_t *rollout_state_encode(const struct rollout_state *st);

/* Parse a state read from the spoke (anyone with access to the ConfigMap
 * could have edited it): every field checked and capped. Returns 0 and fills
 * *ret_state, or -EINVAL naming the field in err. */
int rollout_state_decode(const json_t *v, struct errbuf *err, struct rollout_state *ret_state);

#endif
