/* hub_int.h - internals shared by the files of nave-hub's core.
 *
 * serve.c owns struct hub, the loop, the request queue and group commit;
 * auth.c authentication and authorization; tokens.c bootstrap tokens;
 * registration.c registrations, accept/deny, signing and revocation;
 * health.c leases and availability; resources.c the resource definitions and
 * admission; controller.c reactions to changes (acceptance transitions, the
 * revocation set, the cluster table); metrics.c /metrics (serve.c feeds it
 * the status of every answer through httpd's answer observer); config.c
 * hub.json and flag parsing; init.c `nave-hub init`. Everything runs on the loop.
 */
#ifndef NAVE_HUB_INT_H
#define NAVE_HUB_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "codec.h"
#include "errbuf.h"
#include "hub.h"
#include "kapi.h"
#include "x509.h"

struct httpd;
struct httpd_req;

/* Resource identities. */
#define HUB_GROUP_CLUSTER "cluster.open-cluster-management.io"
#define HUB_GROUP_WORK "work.open-cluster-management.io"
#define HUB_GROUP_NAVE "nave.dev"
#define HUB_GROUP_CERTS "certificates.k8s.io"
#define HUB_RES_CLUSTERS "managedclusters"
#define HUB_RES_WORKS "manifestworks"
#define HUB_RES_TOKENS "bootstraptokens"
#define HUB_RES_REVOKED "revokedcertificates"
#define HUB_RES_CSRS "certificatesigningrequests"
#define HUB_LABEL_CLUSTER "open-cluster-management.io/cluster-name"
#define HUB_SIGNER "nave.dev/hub-client"

/* Condition types and reasons (OCM's). */
#define HUB_COND_ACCEPTED "HubAcceptedManagedCluster"
#define HUB_COND_DENIED "HubDeniedManagedCluster"
#define HUB_COND_JOINED "ManagedClusterJoined"
#define HUB_COND_AVAILABLE "ManagedClusterConditionAvailable"

/* Caps and defaults. */
#define HUB_NAVE_BODY_MAX (64 * 1024)       /* /nave/v1 request bodies */
#define HUB_BATCH_MAX 512                   /* requests handled per group commit */
#define HUB_LABELS_MAX 64                   /* labels in a registration */
#define HUB_CLAIMS_MAX 20                   /* claims in a registration (OCM's default) */
#define HUB_LEASE_CLAIMS_MAX 64             /* claims in a lease (protocol.md) */
#define HUB_LEASE_CONDITIONS_MAX 32
#define HUB_CLAIM_VALUE_MAX 1024
#define HUB_DESCRIPTION_MAX 256
#define HUB_TOKEN_TTL_DEFAULT 86400
#define HUB_TOKEN_TTL_MIN 60
#define HUB_TOKEN_TTL_MAX (365 * 86400)
#define HUB_TOKEN_USES_MAX 1000000
#define HUB_TOKEN_KEEP_S 86400              /* expired tokens kept this long (clear 401s) */
#define HUB_REGISTRATION_KEEP_S (7 * 86400) /* pending/denied registrations kept this long */
#define HUB_CERT_LIFETIME_MIN 3600
#define HUB_UI_SESSION_MIN_S 1             /* --ui-session-ttl/--ui-session-idle bounds */
#define HUB_UI_SESSION_MAX_S (30LL * 86400)
#define HUB_LEASE_DURATION_DEFAULT 10       /* spec.leaseDurationSeconds default, seconds */
#define HUB_JANITOR_MS (10 * 60 * 1000)

struct hub_config {
	char *data_dir;          /* owned */
	char *listen_host;       /* owned; "" or "0.0.0.0": all interfaces */
	int port;                /* 0: a free port (tests) */
	char *hub_url;           /* owned; may hold port 0 until serve knows the port */
	char **sans;             /* owned NULL-terminated: extra serving-cert names */
	int64_t lease_timeout_ms;   /* Available -> Unknown after this without a lease */
	int lease_duration_s;       /* default spec.leaseDurationSeconds */
	int64_t cert_lifetime_s;    /* client certificates */
	bool auto_accept;
	size_t max_work_bytes;
	bool store_sync_normal;
	bool metrics_anonymous;
	int app_revisions;          /* ApplicationRevisions kept per application (--app-revisions) */
	int watch_history;          /* changes a watch can resume from (--watch-history; 0: the store's default) */
	int64_t ui_session_ttl_s;   /* web view sessions end this long after login (--ui-session-ttl) */
	int64_t ui_session_idle_s;  /* ... or this long after their last request (--ui-session-idle) */
	uint8_t admin_hash[SHA256_LEN]; /* SHA-256 of the admin token */
};

/* One cluster's in-memory state, mirrored from its ManagedCluster. */
struct hub_cluster {
	char *name;             /* owned */
	bool accepted;          /* spec.hubAcceptsClient */
	bool joined;            /* ManagedClusterJoined True */
	char available[8];      /* ManagedClusterConditionAvailable status or "" */
	int64_t last_renew_ms;  /* uv_now of the last lease (or of the hub's start) */
	int lease_s;            /* lease duration the agent announced last */
	struct hub_cluster *next; /* hash chain */
};

struct hub_pending;
struct hub_durable;
struct app_ctl;
struct plc_ctl;
struct mwrs_ctl;
struct ui_ctl;

#define HUB_METRIC_BUCKETS 12
struct hub_metric_req {
	char verb[20];
	int code;
	uint64_t count;
	struct hub_metric_req *next;
};
struct hub_metric_lat {
	char verb[20];
	uint64_t count;
	double sum;
	uint64_t buckets[HUB_METRIC_BUCKETS];
	struct hub_metric_lat *next;
};
struct hub_metrics {
	struct hub_metric_req *reqs;  /* owned list */
	struct hub_metric_lat *lats;  /* owned list */
	uint64_t reg_pending, reg_approved, reg_denied, reg_unauthorized, reg_invalid;
};

struct hub {
	uv_loop_t *loop;                /* borrowed */
	struct hub_config cfg;
	struct x509_ca *ca;             /* owned */
	char ca_pin[X509_PIN_LEN + 1];
	struct httpd *httpd;            /* owned */
	struct kapi_server *kapi;       /* owned */
	struct kapi_store *store;       /* borrowed: owned by kapi */
	struct kapi_sub *sub;           /* borrowed handle */
	/* group commit */
	struct hub_pending *q_head, *q_tail; /* owned queue of requests not handled yet */
	size_t q_len;
	struct hub_durable *dur_head, *dur_tail; /* owned: callbacks waiting for a commit */
	uv_prepare_t prepare;
	uv_check_t check;
	uv_idle_t idle;
	/* the request being dispatched */
	struct hub_identity cur_id;
	bool cur_id_ok;
	struct errbuf cur_id_err;
	int cur_id_rc;
	const char *cur_verb;           /* static or kapi-owned string */
	struct httpd_req *cur_req;      /* borrowed: the request being dispatched, or NULL */
	int cur_status;                 /* its answer's status once given (on_answer), else 0 */
	/* clusters */
	struct hub_cluster **ctab;      /* owned hash table of owned entries */
	size_t ccap, cn;
	json_t *revoked;                /* owned: serial -> cluster name (the revocation set) */
	uv_timer_t health_timer;
	uv_timer_t janitor_timer;
	uv_signal_t sigterm, sigint;
	struct hub_metrics metrics;
	struct app_ctl *apps;           /* owned: the Application controller (app_controller.c) */
	struct plc_ctl *plc;            /* owned: the placement controller (placement.c) */
	struct mwrs_ctl *mwrs;          /* owned: the ManifestWorkReplicaSet controller (mwrs.c) */
	struct ui_ctl *ui;              /* owned: the web view's sessions and event streams (ui.h) */
	bool cur_id_session;            /* cur_id came from a web view session cookie (ui_session.c) */
	bool handles_init;              /* the uv handles below exist (close them) */
	bool ready;
	bool stopping;
	int lock_fd;
	int64_t started_ms;
};

/* serve.c */
/* Answer req with JSON (consumed) and record the code for metrics. */
void hub_respond_json(struct hub *h, struct httpd_req *req, int code, json_t *body);
/* Answer with a Status failure for a negative errno (mapping in kapi.h). */
void hub_respond_error(struct hub *h, struct httpd_req *req, int err_code, const char *message);
/* Parse req's body as a JSON object of at most HUB_NAVE_BODY_MAX bytes; an
 * empty body is {}. Returns 0, -E2BIG (413) or -EBADMSG (400, message names
 * the line). *ret_body: caller decrefs. */
int hub_body_json(struct httpd_req *req, json_t **ret_body, struct errbuf *err);

/* config.c */
/* Parse a duration: "90", "90s", "5m", "2h", "365d". Returns 0 or -EINVAL. */
int hub_parse_duration(const char *s, int64_t *ret_seconds);
/* Parse "HOST:PORT", ":PORT", "[V6]:PORT" or "PORT". */
int hub_parse_listen(const char *s, char **ret_host, int *ret_port, struct errbuf *err);
/* The web view's session lifetimes from the values of --ui-session-ttl and
 * --ui-session-idle (NULL: not given). Each is a duration of
 * HUB_UI_SESSION_MIN_S..HUB_UI_SESSION_MAX_S; the idle time may not exceed
 * the TTL (an idle time not given is the TTL when the TTL is shorter than
 * UI_SESSION_IDLE_S). Defaults UI_SESSION_TTL_S and UI_SESSION_IDLE_S.
 * Returns 0 with both set in *ret_ttl_s and *ret_idle_s, or -EINVAL with a
 * message naming the flag. */
int hub_parse_ui_sessions(const char *ttl, const char *idle, int64_t *ret_ttl_s, int64_t *ret_idle_s,
			  struct errbuf *err);
/* Read D/hub.json into cfg (data_dir already set). */
int hub_config_load(struct hub_config *cfg, struct errbuf *err);
/* Write D/hub.json from cfg (mode 0600, atomically). */
int hub_config_save(const struct hub_config *cfg, struct errbuf *err);
void hub_config_free(struct hub_config *cfg);
/* Host of a URL "https://host:port/...", into out[256]. */
int hub_url_host(const char *url, char *out, size_t outlen);
/* The URL with its port replaced. New string, caller frees. */
char *hub_url_with_port(const char *url, int port);

/* auth.c: see hub.h for the exported part. */
/* kapi_auth_fn for the hub's kapi server. */
int hub_kapi_auth(void *data, struct httpd_req *req, const struct kapi_request_attrs *a, struct errbuf *err);
/* Parse "Bearer X" from req; borrowed pointer into a static buffer, or NULL. */
const char *hub_bearer(struct httpd_req *req, char *buf, size_t buflen);
/* Whether s has the bootstrap token shape "[a-z0-9]{6}.[a-z0-9]{16}". */
bool hub_token_shaped(const char *s);

/* tokens.c */
enum hub_token_use {
	HUB_TOKEN_REGISTER, /* start a registration: must be live, unexpired, under its limit */
	HUB_TOKEN_POLL,     /* poll a registration it made: must exist and not be revoked */
};
/* Check a bootstrap token. *ret_obj (may be NULL): the BootstrapToken (caller's copy). */
int hub_token_check(struct hub *h, const char *token, enum hub_token_use use, struct errbuf *err,
		    json_t **ret_obj);
/* Count one use of token id. */
int hub_token_count_use(struct hub *h, const char *id);
/* POST /nave/v1/tokens and DELETE /nave/v1/tokens/<id>. */
void hub_tokens_create(struct hub *h, struct httpd_req *req);
void hub_tokens_revoke(struct hub *h, struct httpd_req *req, const char *id);
/* Delete tokens expired more than HUB_TOKEN_KEEP_S ago. */
void hub_tokens_purge(struct hub *h);

/* registration.c */
void hub_registration_create(struct hub *h, struct httpd_req *req);
void hub_registration_get(struct hub *h, struct httpd_req *req, const char *id);
void hub_cluster_accept_http(struct hub *h, struct httpd_req *req, const char *name);
void hub_cluster_deny_http(struct hub *h, struct httpd_req *req, const char *name);
void hub_renewal_http(struct hub *h, struct httpd_req *req);
/* Sign the newest pending registration of cluster (older ones: Superseded).
 * Returns 1 if one was signed, 0 if none was pending, or a negative errno. */
int hub_approve_pending(struct hub *h, const char *cluster, const char *reason, struct errbuf *err);
/* Revoke every certificate issued to cluster, deny its pending registrations. */
int hub_revoke_cluster(struct hub *h, const char *cluster, const char *reason);
/* Delete expired CSRs (certificate expired; or unapproved and old) and
 * expired RevokedCertificates. */
void hub_registration_purge(struct hub *h);

/* health.c */
/* Set (or with status NULL, remove) a condition on a ManagedCluster's status;
 * writes only when something changes. */
int hub_cluster_set_condition(struct hub *h, const char *name, const char *type, const char *status,
			      const char *reason, const char *message);
void hub_lease_http(struct hub *h, struct httpd_req *req, const char *name);
int hub_health_start(struct hub *h);

/* controller.c */
struct hub_cluster *hub_cluster_find(const struct hub *h, const char *name);
/* Load the cluster table and revocation set, subscribe to changes. */
int hub_controller_start(struct hub *h);
void hub_controller_free(struct hub *h);

/* resources.c */
int hub_resources_register(struct hub *h);

/* Validation without side effects, for unit tests and the fuzzer. obj may be
 * modified (defaulting). Each returns 0 or what the API would answer with. */
int hub_check_work(struct hub *h, json_t *work, struct errbuf *err);            /* resources.c */
int hub_check_cluster(struct hub *h, json_t *cluster, struct errbuf *err);      /* resources.c */
int hub_check_registration(const json_t *body, struct errbuf *err);             /* registration.c */
int hub_check_csr(const char *pem, size_t len, const char *cluster, struct errbuf *err); /* registration.c */
int hub_check_lease(const json_t *lease, struct errbuf *err);                   /* health.c */

/* metrics.c */
/* Count one answer of code to verb (lowercase method); seconds is its
 * latency, or negative when unknown (counted, kept out of the histogram). */
void hub_metrics_request(struct hub *h, const char *verb, int code, double seconds);
void hub_metrics_http(struct hub *h, struct httpd_req *req);
void hub_metrics_free(struct hub_metrics *m);

/* init.c */
int hub_init_main(int argc, char **argv);
/* Issue D/serving.crt and D/serving.key from ca for cfg's names. */
int hub_issue_serving_cert(const struct hub_config *cfg, const struct x509_ca *ca, struct errbuf *err);
/* Write an admin kubeconfig (mode 0600) for server with the CA and a bearer token. */
int hub_write_kubeconfig(const char *path, const char *server, const char *ca_pem, const char *token,
			 struct errbuf *err);
/* serve.c */
int hub_serve_main(int argc, char **argv);

#endif
