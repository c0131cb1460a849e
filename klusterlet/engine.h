/* engine.h - the work engine: applies ManifestWorks to the spoke cluster and
 * reports their status. The contract between the klusterlet's connection
 * layer (the "agent": CLI, join, websocket, acks, leader election) and the
 * apply side (engine.c, apply.c, applied_work.c, feedback.c, gc.c).
 *
 * Who does what
 *  - The agent owns the hub connection, the sequence ids and the queue of
 *    unacknowledged status updates (persisted across restarts). It feeds the
 *    engine every decoded spec event (work_engine_handle_spec), asks it what
 *    it holds for the spec resync (work_engine_resync_versions), hands it the
 *    hub's status hashes (work_engine_status_resync), and turns every status
 *    report the engine produces into a status event with the next sequence id
 *    (proto_event_new_status(report->resync ? PROTO_EV_STATUS_RESYNC_RESPONSE
 *    : PROTO_EV_STATUS_UPDATE, ..., report->status)).
 *  - The engine owns everything in the spoke cluster: discovery, apply in
 *    OCM's kind order, the update strategies, one AppliedManifestWork per
 *    work (the durable record; its CRD is created when missing), owner
 *    references, garbage collection, deleteOption, eviction, drift correction
 *    and status feedback. It never talks to the hub and never blocks: every
 *    Kubernetes call goes through the kclient asynchronously on the loop.
 *
 * Status reports
 *  - The engine calls status_cb once per real change of a work's status
 *    (the status hash differs from the last one it reported), after a short
 *    debounce that folds one apply round into one report. The hub may be
 *    away: the agent keeps only the newest unacknowledged status per work
 *    (a report supersedes the previous one of the same resourceid), so what
 *    accumulates offline is bounded by the number of works.
 *  - lastTransitionTime of a condition changes only when its status does,
 *    so an unchanged world gives an unchanged hash and no report.
 *  - Every status passes proto_status_check() at the default limits and fits
 *    one event: feedback values of one work share a 512 KiB budget (past it,
 *    StatusFeedbackSynced is False saying so), conditions are capped at 32.
 *  - A deleted work gets one final report with deleted = true (conditions:
 *    Deleted True), after which the engine forgets it. Foreground deletion
 *    reports only once every applied object is gone from the spoke.
 *
 * Lifecycle
 *  - work_engine_new() makes an engine; nothing happens in the cluster yet.
 *  - work_engine_start() ensures the AppliedManifestWork CRD, lists the
 *    AppliedManifestWorks of this hub and agent (a restarted klusterlet finds
 *    what it applied: no duplicates) and starts the periodic re-check; then
 *    ready_cb(userdata, 0) is called once. Start retries failures with backoff
 *    forever (ready_cb is not called with an error). The agent should send its
 *    spec resync request only after ready: before it the engine only knows the
 *    works handed to it in this process.
 *  - A work restored from the spoke but whose spec this process has not seen
 *    is listed in the spec resync with generation 0, so the hub resends it
 *    (the engine does not store bundles in the spoke; see the gaps in
 *    docs/ocm-compatibility.md). Its applied objects stay as they are.
 *  - work_engine_stop() quiesces (leadership lost, shutdown): in-flight
 *    requests are cancelled, timers stop, in-memory works are dropped without
 *    touching the cluster, and no callback runs afterwards. start() may be
 *    called again (it reloads from the spoke).
 *
 * Loop: everything runs on the loop of the kclient given to work_engine_new;
 * callbacks are called from the loop, never from inside an engine call, and
 * may call any engine function except work_engine_free.
 */
#ifndef NAVE_KLUSTERLET_ENGINE_H
#define NAVE_KLUSTERLET_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "errbuf.h"
#include "kclient.h"
#include "proto.h"

#define WORK_ENGINE_DEFAULT_EVICTION_GRACE_MS (60ull * 60 * 1000) /* OCM's 60 min */
#define WORK_ENGINE_DEFAULT_RECHECK_MS 30000   /* drift re-check and feedback poll, per work;
						  * at most 4 works re-check at a time */
#define WORK_ENGINE_DEFAULT_STATUS_DEBOUNCE_MS 200
#define WORK_ENGINE_DEFAULT_FIELD_MANAGER "work-agent"
#define WORK_ENGINE_DEFAULT_MAX_WORKS 10000    /* = proto max_resync_entries */
#define WORK_ENGINE_HUB_HASH_LEN 64           /* lowercase hex sha256 of the hub URL */

/* The AppliedManifestWork CRD (deploy/crds/appliedmanifestworks.yaml). */
#define WORK_AMW_GROUP "work.open-cluster-management.io"
#define WORK_AMW_VERSION "v1"
#define WORK_AMW_API_VERSION "work.open-cluster-management.io/v1"
#define WORK_AMW_KIND "AppliedManifestWork"
#define WORK_AMW_RESOURCE "appliedmanifestworks"
/* Annotations the engine keeps on each AppliedManifestWork (Nave's own). */
#define WORK_AMW_ANN_RESOURCE_ID "work.nave.io/resource-id"
#define WORK_AMW_ANN_DELETE_OPTION "work.nave.io/delete-option"
/* The annotation on every applied object (OCM's name). */
#define WORK_ANN_OBJECT_HASH "open-cluster-management.io/object-hash"

struct work_engine;

/* Configuration; strings are copied by work_engine_new. */
struct work_engine_config {
	const char *cluster_name;     /* required; the spoke's name on the hub */
	const char *hub_hash;         /* required; 64 lowercase hex (sha256 of the hub URL):
				       * AppliedManifestWork names are "{hub_hash}-{work name}" */
	const char *agent_id;         /* required; 1..253 bytes; spec.agentID of the records */
	uint64_t eviction_grace_ms;   /* 0: WORK_ENGINE_DEFAULT_EVICTION_GRACE_MS */
	uint64_t recheck_ms;          /* 0: WORK_ENGINE_DEFAULT_RECHECK_MS; drift and feedback period */
	uint64_t status_debounce_ms;  /* 0: WORK_ENGINE_DEFAULT_STATUS_DEBOUNCE_MS */
	size_t max_works;             /* 0: WORK_ENGINE_DEFAULT_MAX_WORKS; more: -E2BIG */
	const char *field_manager;    /* NULL: "work-agent" (SSA default and Update manager) */
	bool no_crd_install;          /* true: do not create the AppliedManifestWork CRD */
};

/* One status report. Everything is borrowed for the duration of the call
 * (json_incref(status) to keep it). */
struct work_status_report {
	const char *resourceid;   /* the work's uid (lowercase UUID) */
	const char *work_name;    /* the ManifestWork's name (from the spec event's metadata;
				   * the resourceid when it had none) */
	int64_t generation;       /* the generation the status describes (resourceversion) */
	json_t *status;           /* ManifestBundleStatus; passes proto_status_check() */
	const char *statushash;   /* proto_status_hash(status), 64 hex */
	bool deleted;             /* final report: the work is gone from the spoke
				   * (send with has_deletiontimestamp = true) */
	int64_t deletion_us;      /* with deleted: when the deletion finished */
	bool resync;              /* answers work_engine_status_resync (kind
				   * PROTO_EV_STATUS_RESYNC_RESPONSE) */
};

typedef void (*work_engine_status_fn)(void *userdata, const struct work_status_report *report);
/* Start finished (r is always 0 today; kept for future fatal errors). */
typedef void (*work_engine_ready_fn)(void *userdata, int r);

/* Make an engine applying to the cluster of kc (borrowed; must outlive the
 * engine; its loop is the engine's loop). cfg is copied. status_cb is
 * required. Returns 0, or -EINVAL naming the bad field in err. The caller
 * frees *ret_engine with work_engine_free(). */
int work_engine_new(struct kclient *kc, const struct work_engine_config *cfg,
		    work_engine_status_fn status_cb, void *userdata, struct errbuf *err,
		    struct work_engine **ret_engine);

/* Free everything; cancels what is in flight without callbacks. Not from an
 * engine callback. Run the loop afterwards (timers and watches close
 * asynchronously). Accepts NULL; returns NULL. */
struct work_engine *work_engine_free(struct work_engine *e);

/* Load the spoke's records and begin (see Lifecycle). ready_cb (may be NULL)
 * is called once, later. Returns 0, or -EALREADY when started. */
int work_engine_start(struct work_engine *e, work_engine_ready_fn ready_cb, void *userdata);

/* Quiesce (see Lifecycle). Accepts a stopped engine. */
void work_engine_stop(struct work_engine *e);

/* Whether start has finished loading (ready_cb was called) and stop has not
 * been called since. */
bool work_engine_ready(const struct work_engine *e);

/* Handle one decoded spec event (kinds SPEC_CREATE, SPEC_UPDATE, SPEC_DELETE,
 * SPEC_RESYNC_RESPONSE), by proto_spec_action():
 *   APPLY   apply the bundle unless the engine holds a higher generation of
 *           the work; a work under eviction is taken back;
 *   DELETE  delete the work's objects honouring deleteOption (the event's
 *           bundle, else the last applied one), then the AppliedManifestWork,
 *           then report deleted. A delete for a work the engine does not hold
 *           is reported deleted at once;
 *   EVICT   mark the work (evictionStartTime), keep it applied, and delete it
 *           when it is still unknown after the grace period.
 * The work goes on asynchronously; the result is in its status reports.
 * ev is borrowed (the engine takes references to what it keeps).
 * Returns 0; -ESTALE when the generation is older than the one held (dropped,
 * as the protocol says); -EINVAL for an event that is not a spec event or
 * lacks resourceid/resourceversion; -E2BIG past max_works; -ESHUTDOWN when the
 * engine is stopped. err (may be NULL) says why. */
int work_engine_handle_spec(struct work_engine *e, const struct proto_event *ev,
			    struct errbuf *err);

/* The eviction start of one work, as a resync response without bundle does
 * (the same as handle_spec with PROTO_SPEC_EVICT). Returns 0 or -ENOENT. */
int work_engine_hub_forgot(struct work_engine *e, const char *resourceid);

/* What the engine holds, for the spec resync request: one entry per work
 * (applied, being deleted or evicting) with the generation applied (0 for a
 * work restored from the spoke whose spec has not been seen since). On
 * success *ret_v is an array of *ret_n entries the caller frees with free()
 * (NULL when empty). Returns 0 or -ESHUTDOWN. */
int work_engine_resync_versions(struct work_engine *e, struct proto_resource_version **ret_v,
				size_t *ret_n);

/* The hub's status hashes (from a status resync request): every work whose
 * current status hash differs from the hub's, or is missing from the list, is
 * reported again through status_cb with resync = true. Works the engine has
 * no status for yet are skipped (they report when they have one). Entries for
 * works the engine does not hold are ignored. Reports are made later, on the
 * loop. Returns 0 or -ESHUTDOWN. */
int work_engine_status_resync(struct work_engine *e, const struct proto_status_hash *h, size_t n);

/* The current status of a work (for tests and diagnostics): *ret_status is
 * borrowed (valid until the next loop iteration), *ret_generation its
 * generation. Returns 0, -ENOENT (no such work) or -EAGAIN (no status yet). */
int work_engine_get_status(struct work_engine *e, const char *resourceid, json_t **ret_status,
			   int64_t *ret_generation);

/* Counters for tests and /metrics. */
struct work_engine_stats {
	size_t works;             /* works held */
	size_t evicting;          /* of which under eviction */
	uint64_t applies;         /* objects created, updated or server-side applied */
	uint64_t skips;           /* objects found unchanged (hash and content) */
	uint64_t drift_repairs;   /* objects put back after a change on the spoke */
	uint64_t deletes;         /* objects deleted (GC, delete, eviction) */
	uint64_t reports;         /* status reports made */
	uint64_t errors;          /* failed Kubernetes calls */
	unsigned in_flight;       /* Kubernetes calls outstanding */
};
void work_engine_get_stats(const struct work_engine *e, struct work_engine_stats *ret_stats);

/* The AppliedManifestWork name for a work: "{hub_hash}-{work_name}", or
 * "{hub_hash}-{resourceid}" when that would pass 253 bytes or work_name is
 * NULL. Writes into out (at least 254 bytes); returns out. */
char *work_engine_amw_name(const char *hub_hash, const char *work_name, const char *resourceid,
			   char *out);

#endif
