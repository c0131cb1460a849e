/* controllers.h - the simulated controllers of nave-kubesim.
 *
 * What a real cluster's kube-controller-manager and kubelets would do, fast
 * and configurable: Deployments (ReplicaSets, ready after a delay, failure
 * images, ProgressDeadlineExceeded), StatefulSets (ordered rolling update with
 * partition), DaemonSets (per simulated node), Jobs, namespace termination
 * and owner-reference garbage collection. They run on the cluster's libuv loop
 * and change objects only through the kapi server's internal API, so every
 * change gets a resourceVersion and reaches watchers like any other write.
 */
#ifndef NAVE_KUBESIM_CONTROLLERS_H
#define NAVE_KUBESIM_CONTROLLERS_H

#include <stdint.h>

#include <uv.h>

struct kapi_server;
struct sim_controllers;

struct sim_controllers_config {
	uint64_t ready_delay_ms;   /* replicas become ready this long after creation/change; default 1000 */
	const char *fail_pattern;  /* image tag prefix that never becomes ready; default "fail" */
	unsigned nodes;            /* simulated nodes (DaemonSet pods, `kubectl get nodes`); default 1 */
	const char *cluster_name;  /* for node names and events */
};

/* Start the controllers for one cluster's server. cfg is copied.
 * Free with sim_controllers_free() before the server. */
int sim_controllers_new(uv_loop_t *loop, struct kapi_server *server,
			const struct sim_controllers_config *cfg, struct sim_controllers **ret_ctl);
/* Stop timers and subscriptions; accepts NULL; returns NULL. */
struct sim_controllers *sim_controllers_free(struct sim_controllers *ctl);

#endif
