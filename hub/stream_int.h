/* stream_int.h - internals shared by the agent stream's files.
 *
 * stream.c owns connections and events (upgrade, hello, dispatch, status
 * persistence, acks, leases, renewals, heartbeats, closing); stream_works.c
 * owns what the hub knows of ManifestWorks (a cache indexed by uid and by
 * cluster, kept by a kapi subscription), encoding spec events, pushes, and
 * the spec resync of a connection. Everything runs on the hub's loop.
 *
 * Memory per connection: the struct below, a map of what the agent holds
 * (one entry per work of its cluster), the pending inbound messages of one
 * loop turn, and its send queue (references to shared encoded events,
 * capped at queue_bytes).
 */
#ifndef NAVE_HUB_STREAM_INT_H
#define NAVE_HUB_STREAM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "httpd_ws.h"
#include "hub.h"
#include "proto.h"
#include "stream.h"

#define STREAM_SOURCE "nave-hub"
#define STREAM_FINALIZER "cluster.open-cluster-management.io/manifest-work-cleanup"
#define STREAM_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"
#define STREAM_NOFILE_MAX 65536          /* RLIMIT_NOFILE soft limit we raise to, at most */
#define STREAM_FD_RESERVE 256            /* descriptors kept for everything else */
#define STREAM_MAX_CONNECTIONS_DEFAULT 10000
#define STREAM_QUEUE_BYTES_DEFAULT ((size_t)4 << 20)
#define STREAM_QUEUE_BYTES_MIN ((size_t)(1 << 20) + (64 << 10)) /* one largest event and some */
#define STREAM_QUEUE_MSGS 20000          /* events queued per connection */
#define STREAM_CLUSTER_CONNS_MAX 16      /* open connections per cluster (one leader, and
					    reconnects overlapping a dying connection) */
#define STREAM_TICK_MS 1000              /* heartbeats, dead peers, stuck queues */
#define STREAM_DEAD_FACTOR 3             /* no event for 3 x heartbeat: dead peer */
#define STREAM_OVERSIZE_CLOSE 3          /* consecutive oversize messages before 1009 */
#define STREAM_RENEW_MIN_MS 10000        /* certificate renewals per connection at most this often */
#define STREAM_STATUS_KEY "statusSync"   /* the hub's bookkeeping inside ManifestWork.status */

struct stream;
struct stream_conn;
struct stream_cluster;

/* One ManifestWork as the stream knows it. */
struct stream_work {
	char uid[PROTO_UUID_LEN + 1];
	struct stream_cluster *cl;      /* borrowed: the cluster of its namespace */
	char *name;                     /* owned */
	json_t *obj;                    /* owned reference to the stored (immutable) object */
	int64_t gen;                    /* metadata.generation */
	bool deleting;                  /* metadata.deletionTimestamp set */
	int64_t deletion_us;
	bool has_finalizer;
	bool agent_deleted;             /* the agent's final status (deletiontimestamp) is stored */
	uint64_t tag;                   /* unique per entry: coalesces its queued spec events */
	uint64_t seq;                   /* sequenceid of the stored status, 0: none */
	char hash[PROTO_STATUSHASH_LEN + 1]; /* its statushash, "" when none */
	struct stream_work *cprev, *cnext; /* in cl->works */
	struct stream_work *hnext;      /* uid hash chain */
};

/* A cluster name with its works and connections (either list may be empty). */
struct stream_cluster {
	char *name;                     /* owned */
	struct stream_work *works;      /* borrowed list (entries owned by the uid table) */
	size_t nworks;
	struct stream_conn *conns;      /* borrowed list */
	struct stream_cluster *hnext;
};

/* An inbound message waiting for the loop turn's end (stream.c). */
struct stream_in {
	char *msg;                      /* owned */
	size_t len;
	struct stream_in *next;
};

struct stream_conn {
	struct stream *s;               /* borrowed */
	struct httpd_ws_conn *ws;       /* borrowed; NULL once closed */
	struct stream_cluster *cl;      /* borrowed */
	struct hub_identity id;
	unsigned refs;                  /* the ws connection, plus pending acks and answers */
	bool hello_done;
	unsigned minor;                 /* negotiated protocol minor */
	uint64_t opened_ms, last_rx_ms, last_hb_ms, last_renew_ms;
	bool overflow;                  /* a push was held back: resync when the queue drains */
	uint64_t overflow_ms;           /* since when */
	json_t *known;                  /* owned: uid -> generation*2 + deleting the agent holds
					   (from its resync request, plus what was queued since) */
	unsigned oversize_streak;
	struct stream_in *in_head, *in_tail; /* owned: messages of this loop turn */
	bool in_ready;                  /* on s->ready */
	struct stream_conn *ready_next;
	struct stream_conn *cprev, *cnext; /* in cl->conns */
	struct stream_conn *gprev, *gnext; /* in s->conns */
};

struct stream_metrics {
	uint64_t accepted, refused, closed;
	uint64_t events_in, events_bad;
	uint64_t spec_sent, spec_held;  /* spec events queued; pushes held back (overflow) */
	uint64_t statuses, acks, superseded;
	uint64_t leases, renewals;
	uint64_t overflow_closes, dead_closes, deny_closes;
};

struct stream {
	struct hub *hub;                /* borrowed */
	struct kapi_server *kapi;       /* borrowed */
	struct httpd_ws_endpoint *ep;   /* borrowed (owned by the httpd) */
	struct kapi_sub *sub;           /* borrowed handle */
	unsigned max_connections;
	size_t queue_bytes;
	unsigned heartbeat_s;
	struct stream_work **wtab;      /* owned table of owned works, by uid */
	size_t wcap, nworks;
	struct stream_cluster **ctab;   /* owned table of owned clusters, by name */
	size_t ccap, nclusters;
	uint64_t next_tag;
	struct stream_conn *conns;      /* every open connection (owned through refs) */
	unsigned nconns;
	struct stream_conn *ready;      /* connections with pending messages */
	uv_check_t check;               /* handles the turn's messages, before the group commit */
	uv_timer_t tick;
	int handles_open;
	bool stopping;
	struct stream_metrics m;
};

/* stream_works.c */
struct stream_cluster *stream_cluster_get(struct stream *s, const char *name);
struct stream_cluster *stream_cluster_find(struct stream *s, const char *name);
/* Drop a cluster entry that has neither works nor connections. */
void stream_cluster_release(struct stream *s, struct stream_cluster *cl);
struct stream_work *stream_work_find(struct stream *s, const char *uid);
/* Load every ManifestWork (and give each the finalizer). Returns 0 or -errno. */
int stream_works_load(struct stream *s, struct errbuf *err);
/* The kapi subscription's handling of ManifestWork changes. */
void stream_works_change(struct stream *s, enum kapi_event_type type, const json_t *old_obj,
			 const json_t *new_obj);
/* The cluster's ManagedCluster is gone: let its deleting works go. */
void stream_works_cluster_gone(struct stream *s, const char *cluster);
/* Queue what c's agent lacks (initial: answering its resync request, works
 * the hub does not know are evicted; otherwise after an overflow, they are
 * deleted). Stops at the first held-back event (c->overflow then). */
void stream_resync(struct stream *s, struct stream_conn *c, bool initial);
/* Free every work and cluster. */
void stream_works_free(struct stream *s);
/* Queue m on c (coalescing by tag): counts, overflow marking. Returns
 * httpd_ws_send's result. */
int stream_conn_send(struct stream_conn *c, struct httpd_ws_msg *m, uint64_t tag);
/* Encode ev (consumed) into a shareable message; NULL (logged) on failure. */
struct httpd_ws_msg *stream_encode(struct proto_event *ev);

#endif
