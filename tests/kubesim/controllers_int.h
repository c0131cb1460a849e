/* controllers_int.h - what the files of nave-kubesim's controllers share.
 *
 * controllers.c owns struct sim_controllers: the subscription that turns every
 * committed change into work keys, the work queue (deduplicated, drained on a
 * zero timer, a budget per turn so the loop keeps serving HTTP), delayed
 * requeues (one timer for all of them), per-object state keyed by uid, nodes,
 * namespace termination and events. controller_workloads.c reconciles
 * Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and pods (the
 * "kubelet"); controller_gc.c is the owner-reference garbage collector.
 *
 * A work key is "<controller>|<namespace>|<name>" (namespace "" when cluster
 * scoped); the GC's keys also carry group and resource:
 * "gco|<group>|<resource>|<ns>|<name>" (an owner being deleted in foreground or
 * orphan mode) and "gcd|<group>|<resource>|<ns>|<name>" (a dependent whose
 * owner went away). Reconcilers are level-triggered and idempotent: they read
 * the current objects, write only what differs, and return a negative errno
 * to be retried after a short backoff.
 *
 * Everything runs on the server's loop thread.
 */
#ifndef NAVE_KUBESIM_CONTROLLERS_INT_H
#define NAVE_KUBESIM_CONTROLLERS_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "controllers.h"
#include "kapi.h"

/* Field managers recorded in managedFields, as a real cluster names them. */
#define SIM_MANAGER_KCM "kube-controller-manager"
#define SIM_MANAGER_KUBELET "kubelet"

/* Caps: pods one reconcile creates, keys one drain processes. */
#define SIM_MAX_CREATE_PER_PASS 500
#define SIM_DRAIN_BUDGET 2000
/* Retry delay of a failed reconcile (conflict, transient error). */
#define SIM_RETRY_MS 50

struct sim_controllers {
	uv_loop_t *loop;           /* borrowed */
	struct kapi_server *srv;   /* borrowed; outlives us */
	uint64_t ready_delay_ms;
	char *fail_pattern;        /* owned */
	char *cluster_name;        /* owned */
	unsigned nnodes;
	char **node_names;         /* owned array of owned strings */
	struct kapi_sub *sub;      /* owned by the server; ours to unsubscribe */

	uv_timer_t work_timer;     /* drains the queue */
	uv_timer_t delay_timer;    /* fires the earliest delayed key */
	int open_handles;          /* handles not yet closed; the struct is freed at 0 */
	bool closing;
	bool draining;

	json_t *queue;             /* owned: array of key strings, FIFO */
	json_t *queued;            /* owned: object key -> true (dedup) */
	json_t *delayed;           /* owned: object key -> due time in ms (monotonic) */
	json_t *state;             /* owned: object uid -> object (per-object controller state) */
	json_t *owners;            /* owned: object owner uid -> object dependent ref -> true */
	json_t *live;              /* owned: object uid -> "group|resource|ns|name" of every object seen */
	json_t *terminating;       /* owned: object namespace -> true (namespaces being deleted) */
	json_t *gc_waiting;        /* owned: object uid -> true (owners deleting in foreground/orphan mode) */

	uint64_t rng;              /* xorshift state for pod name suffixes */
	unsigned next_node;        /* round-robin scheduling */
	char picked[256];          /* the node sim_pick_node() chose last */
	size_t last_nodes_total;   /* nodes seen by the last sim_pick_node() */
	unsigned ip_seq;
};

/* --- controllers.c ------------------------------------------------------- */

/* Milliseconds from a monotonic clock. */
uint64_t sim_now_ms(void);
/* Queue a key now / after ms (an earlier due time wins). */
void sim_enqueue(struct sim_controllers *ctl, const char *key);
void sim_enqueue_after(struct sim_controllers *ctl, const char *key, uint64_t ms);
/* printf-built key, queued now. */
void sim_enqueuef(struct sim_controllers *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The state object of uid (created empty on first use; borrowed). */
json_t *sim_state(struct sim_controllers *ctl, const char *uid);
void sim_state_drop(struct sim_controllers *ctl, const char *uid);
/* Five characters of [bcdfghjklmnpqrstvwxz2456789] into out[6]. */
void sim_rand_suffix(struct sim_controllers *ctl, char *out);
/* The next Ready, schedulable node for a new pod, round robin (borrowed:
 * valid until the next call), or NULL when there is none. */
const char *sim_pick_node(struct sim_controllers *ctl);
/* Index of a node name, or 0 when unknown. */
unsigned sim_node_index(const struct sim_controllers *ctl, const char *node);
/* Whether a container image's tag starts with the failure pattern. */
bool sim_image_fails(const struct sim_controllers *ctl, const char *image);
/* Whether any container of a pod spec fails. */
bool sim_spec_fails(const struct sim_controllers *ctl, const json_t *pod_spec);
/* Kubernetes-style hash of a pod template: 6-10 characters of the
 * safe-encoding alphabet, into out[16]. */
void sim_template_hash(const json_t *tmpl, char *out);
/* The ownerReference with controller: true, or NULL. Borrowed. */
json_t *sim_controller_ref(const json_t *obj);
/* Whether obj's controller ownerReference has this uid. */
bool sim_controlled_by(const json_t *obj, const char *uid);
/* RFC 3339 "now" into out[TIMEFMT_MAX]. */
char *sim_now_rfc3339(char *out);
/* Record a core/v1 Event about obj (best effort: failures are ignored). */
void sim_event(struct sim_controllers *ctl, const json_t *obj, const char *type, const char *reason,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Write obj's status if it differs from current_status: kapi_update_status
 * with obj's resourceVersion. new_status is borrowed. Returns 0 or -errno. */
int sim_write_status(struct sim_controllers *ctl, const char *group, const char *resource, const json_t *obj,
		     json_t *new_status);
/* Write options of the controllers and of the kubelet. */
extern const struct kapi_write_opts sim_kcm_opts;
extern const struct kapi_write_opts sim_kubelet_opts;

/* --- controller_workloads.c ------------------------------------------------ */

/* Each reconciles one object by namespace and name: reads it and what it
 * owns, creates, scales or deletes what differs, writes its status when it
 * changed. A missing object is not an error (0). Returns 0, or a negative
 * errno (conflict, transient failure) to be retried with backoff. */

/* ReplicaSet per pod template (<name>-<pod-template-hash>), scaling, status and
 * the Available/Progressing conditions, ProgressDeadlineExceeded. */
int sim_reconcile_deployment(struct sim_controllers *ctl, const char *ns, const char *name);
/* Pods up or down to spec.replicas; replicas/ready/available counts. */
int sim_reconcile_replicaset(struct sim_controllers *ctl, const char *ns, const char *name);
/* Ordinal pods, ordered rolling update honouring the partition, revisions. */
int sim_reconcile_statefulset(struct sim_controllers *ctl, const char *ns, const char *name);
/* One pod per matching, schedulable node; rolling update by maxUnavailable. */
int sim_reconcile_daemonset(struct sim_controllers *ctl, const char *ns, const char *name);
/* Pods to completion; Complete or Failed (backoffLimit, activeDeadlineSeconds). */
int sim_reconcile_job(struct sim_controllers *ctl, const char *ns, const char *name);
/* The kubelet and scheduler: bind, then Pending -> Running/Ready (or
 * ImagePullBackOff, or Succeeded/Failed for Job pods) after ready_delay_ms. */
int sim_reconcile_pod(struct sim_controllers *ctl, const char *ns, const char *name);

/* --- controller_gc.c ---------------------------------------------------------------- */

/* Keep the owner index and queue GC work for one committed change. */
void sim_gc_observe(struct sim_controllers *ctl, enum kapi_event_type type, const struct kapi_resource_def *def,
		    const json_t *old_obj, const json_t *new_obj);
/* Process a "gco|..." key: an owner with the foregroundDeletion or orphan
 * finalizer. Returns 0 or a negative errno to retry. */
int sim_gc_owner(struct sim_controllers *ctl, const char *group, const char *resource, const char *ns,
		 const char *name);
/* Process a "gcd|..." key: a dependent whose owner may be gone; deletes it when
 * no owner exists, drops dangling references otherwise. 0 or -errno. */
int sim_gc_dependent(struct sim_controllers *ctl, const char *group, const char *resource, const char *ns,
		     const char *name);
/* Whether any live object has an ownerReference to uid. */
bool sim_gc_has_dependents(const struct sim_controllers *ctl, const char *uid);

#endif
