/* agent.h - nave-klusterlet's two commands, wired together: join and run.
 *
 * run (agent_run) is the daemon: one libuv loop carrying the spoke's
 * Kubernetes client (kclient), leader election, the work engine
 * (engine.h), the websocket to the hub (hub_conn.h), the health endpoint
 * and the durable state (store.h). Its life, per replica:
 *
 *   standby --(leader election won, or --no-leader-elect)--> active:
 *     1. load the hub credential; when it is missing or not valid and the
 *        bootstrap options are given, join (join.h) and store the result;
 *     2. load the unacknowledged status updates (outbox.h);
 *     3. start the engine (it reloads its AppliedManifestWorks) and connect;
 *     4. on every connection: retransmit unacknowledged status (oldest
 *        first), send the spec resync request once the engine is ready,
 *        answer the hub's status resync request, send a lease event with the
 *        cluster claims now and every lease period, renew the certificate
 *        over the connection when 20-25 % of its life is left;
 *     5. spec events go to the engine, its status reports become status
 *        events with growing sequence ids, kept (and persisted) until the hub
 *        acknowledges them; they are retransmitted after 30 s without ack.
 *   A hub that keeps refusing the certificate (close 1008, HTTP 401/403:
 *   the cluster was denied, or the hub lost it) gets a new registration
 *   when the bootstrap options are there, as OCM's agent bootstraps again:
 *   the engine keeps applying meanwhile, and the new credential is used
 *   once an administrator accepts the cluster again.
 *   active --(leadership lost)--> standby: the connection is closed (1000)
 *     and the engine stopped; another replica takes over.
 *   SIGTERM/SIGINT: the same, then the Lease is released and the process
 *     exits 0.
 * The engine keeps applying while the hub is away: a disconnect only stops
 * the stream, never the engine.
 */
#ifndef NAVE_KLUSTERLET_AGENT_H
#define NAVE_KLUSTERLET_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define AGENT_OUTBOX_OBJECT "nave-klusterlet-outbox"
#define AGENT_DEFAULT_LEASE_NAME "nave-klusterlet"
#define AGENT_DEFAULT_RETRANSMIT_MS 30000
#define AGENT_RENEW_TIMEOUT_MS 60000
#define AGENT_JOIN_RETRY_MAX_MS 300000
#define AGENT_REJOIN_AFTER_REFUSALS 3   /* the hub refused our certificate this often in a row */

struct agent_options {
	/* Bootstrap (join): all strings borrowed for the call. */
	const char *hub_url;            /* --hub */
	const char *token;              /* --token */
	const char *ca_hash;            /* --ca-hash */
	bool insecure_skip_ca;          /* --insecure-skip-ca-verification */
	const char *cluster_name;       /* --cluster-name */
	const char *agent_name;         /* --agent-name; NULL: random at join */
	const json_t *labels;           /* --labels, or NULL */
	/* Where things are. */
	const char *kubeconfig;         /* --kubeconfig; NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
	const char *state_dir;          /* --state-dir: keep state in files there */
	const char *namespace;          /* --namespace: Secrets, Lease (NULL: the pod's / context's) */
	bool store_secret;              /* --store secret: state in Secrets even out of cluster */
	const char *health_listen;      /* --health-listen ADDR:PORT, or NULL */
	/* Leader election. */
	bool no_leader_elect;
	const char *lease_namespace;    /* NULL: namespace */
	const char *lease_name;         /* NULL: AGENT_DEFAULT_LEASE_NAME */
	const char *identity;           /* NULL: $POD_NAME, else hostname_random */
	uint64_t lease_duration_ms;     /* 0: leader.h defaults */
	uint64_t renew_deadline_ms;
	uint64_t retry_period_ms;
	/* Protocol timings (tests shorten them). */
	uint64_t status_retransmit_ms;  /* 0: AGENT_DEFAULT_RETRANSMIT_MS */
	unsigned lease_seconds;         /* 0: the ManagedCluster's spec.leaseDurationSeconds, else 60 */
	double renew_fraction;          /* 0: renew after a random 75..80 % of the lifetime */
	uint64_t backoff_base_ms;       /* 0: hub_conn defaults */
	uint64_t backoff_max_ms;
	uint64_t eviction_grace_ms;     /* 0: engine default (60 min) */
	bool one_shot_join;             /* the join command: join, store, exit */
	bool force_join;                /* join even when a valid credential is stored */
};

/* Run the daemon (or, with one_shot_join, the join command) until it stops.
 * Returns the process exit status: 0 after a clean stop (or a successful
 * join), 1 on a failure that was reported on stderr, 2 on bad options. */
int agent_main(const struct agent_options *opts);

#endif
