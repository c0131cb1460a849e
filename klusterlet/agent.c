/* agent.c - nave-klusterlet's daemon and join command: leader election ->
 * credential (join) -> engine + hub connection; see agent.h for the life
 * of a replica.
 *
 * One libuv loop runs everything: the spoke's kclient (curl multi), the
 * Lease elector, the engine, the hub websocket (lws), the health server and
 * a one-second tick that drives what is periodic (status retransmission,
 * lease events, certificate renewal, outbox persistence, join retries).
 * A newly queued status is saved at once (one save in flight at a time),
 * not on the tick, so a kill -9 does not lose it.
 * Nothing here blocks except generating an ECDSA key for a join or a
 * renewal (a few milliseconds, rarely).
 *
 * Teardown (leadership lost, SIGTERM) never frees a module from inside its
 * own callbacks: modules are stopped where they are and freed from the
 * tick or the shutdown timer.
 */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "backoff.h"
#include "claims.h"
#include "codec.h"
#include "credentials.h"
#include "engine.h"
#include "health.h"
#include "hub_conn.h"
#include "join.h"
#include "kclient.h"
#include "kubeconfig.h"
#include "leader.h"
#include "log.h"
#include "outbox.h"
#include "store.h"
#include "timefmt.h"
#include "x509.h"

#define AGENT_TICK_MS 1000
#define AGENT_LOAD_RETRY_MS 10000
#define AGENT_SHUTDOWN_GRACE_MS 10000
#define AGENT_JOIN_RETRY_BASE_MS 5000
#define AGENT_RENEW_RETRY_BASE_MS 60000
#define AGENT_RENEW_RETRY_MAX_MS 3600000
#define AGENT_SPOKE_QPS 50.0       /* OCM's work agent defaults */
#define AGENT_SPOKE_BURST 100
#define AGENT_IDENTITY_MAX 200

enum agent_phase {
	AG_STANDBY,      /* not leading: nothing runs but the elector */
	AG_LOAD_CRED,    /* loading the credential */
	AG_JOINING,      /* a join is in flight */
	AG_SAVE_CRED,    /* storing the credential the join gave */
	AG_WAIT,         /* waiting to retry loading or joining */
	AG_LOAD_OUTBOX,  /* loading the unacknowledged status */
	AG_ACTIVE,       /* engine and connection running */
};

struct agent {
	const struct agent_options *opts;  /* borrowed for agent_main */
	uv_loop_t loop;
	struct kubeconfig *spoke_cfg;      /* owned until handed to spoke */
	struct kclient *spoke;             /* owned; NULL for a join without a cluster */
	struct agent_store *store;         /* owned */
	struct leader *leader;             /* owned or NULL (--no-leader-elect) */
	struct agent_health *health;       /* owned or NULL */
	char *identity;                    /* owned */
	char *ns;                          /* owned: our namespace */
	char *want_hub;                    /* owned or NULL: --hub without a trailing '/' */
	uv_timer_t tick;
	uv_timer_t shutdown_timer;
	uv_signal_t sigterm, sigint;
	int exit_code;
	bool stopping;
	bool releasing;                    /* leader_stop is releasing the Lease */

	enum agent_phase phase;
	uint64_t retry_at_ms;              /* AG_WAIT: when to try again */
	bool wait_join;                    /* AG_WAIT: join (else load) next */
	struct backoff join_bo;
	struct join *join;                 /* owned */
	struct join *join_done;            /* owned: a finished join to free from the tick */
	struct agent_cred *cred;           /* owned: the credential in use */
	char source[96];                   /* "nave-klusterlet/<cluster>" */
	struct agent_cred *pending_cred;   /* owned: being saved */

	struct work_engine *engine;        /* owned */
	struct work_engine *engine_dead;   /* owned: stopped, to free from the tick */
	bool engine_ready;
	struct hub_conn *hc;               /* owned */
	struct hub_conn *hc_dead;          /* owned: stopped, to free from the tick */
	bool up;
	bool spec_resync_sent;
	struct kclient *hubkc;             /* owned: the hub with our certificate (lease period) */
	struct kclient *hubkc_dead;
	struct kclient_call *mc_call;

	struct outbox *outbox;             /* owned */
	bool outbox_saving;
	bool outbox_urgent;                /* a status was queued during the running save */
	uint64_t outbox_saved_version;

	struct claims_probe *claims_probe; /* in flight or NULL */
	bool claims_waited;                /* a join waited for claims once */
	bool join_after_claims;            /* start the join when the probe ends */
	json_t *claims;                    /* owned or NULL */
	json_t *conditions;                /* owned or NULL */
	unsigned lease_s;
	uint64_t last_lease_ms;

	int64_t renew_at_s;                /* unix seconds; 0: not planned */
	char *renew_id;                    /* owned: the outstanding request's id */
	char *renew_key_pem;               /* owned: its key */
	uint64_t renew_sent_ms;
	uint64_t renew_retry_at_ms;
	struct backoff renew_bo;
	struct agent_cred *renewed_cred;   /* owned: being saved */
	struct join *rejoin;               /* owned: registering again while active */
	uint64_t rejoin_retry_at_ms;
};

static void activate_step(struct agent *ag);
static void outbox_save(struct agent *ag);
static void start_join(struct agent *ag);

static uint64_t now_ms(struct agent *ag)
{
	return uv_now(&ag->loop);
}

/* Fatal for the one-shot join: say it on stderr and stop. */
static void agent_stop(struct agent *ag, int code);

/* Durable state ----------------------------------------------------------- */

static void on_outbox_saved(void *ud, int r, const char *msg)
{
	struct agent *ag = ud;

	ag->outbox_saving = false;
	if (r < 0) {
		log_warn("agent: saving unacknowledged status in %s: %s (will retry)",
			 agent_store_describe(ag->store), msg);
		/* Not saved: make the next tick try again. */
		ag->outbox_saved_version = 0;
		ag->outbox_urgent = false;
		return;
	}
	/* A status queued while this save ran: save it now, not on the tick. */
	if (ag->outbox_urgent) {
		ag->outbox_urgent = false;
		outbox_save(ag);
	}
}

static void outbox_save(struct agent *ag)
{
	struct errbuf err = { "" };
	json_t *doc, *values;
	char *text;
	uint64_t version;

	if (!ag->outbox || !ag->store || ag->outbox_saving)
		return;
	version = outbox_version(ag->outbox);
	if (version == ag->outbox_saved_version)
		return;
	doc = outbox_to_json(ag->outbox, agent_store_is_secret(ag->store)
						  ? AGENT_STORE_SECRET_MAX - 4096
						  : AGENT_STORE_VALUE_MAX - 4096);
	text = json_dumps(doc, JSON_COMPACT);
	values = json_pack("{s:s}", "outbox.json", text);
	if (agent_store_save(ag->store, AGENT_OUTBOX_OBJECT, values, on_outbox_saved, ag, &err) ==
	    0) {
		ag->outbox_saving = true;
		ag->outbox_saved_version = version;
	} else {
		log_warn("agent: cannot save unacknowledged status: %s", err.msg);
	}
	free(text);
	json_decref(values);
	json_decref(doc);
}

/* Sending --------------------------------------------------------------------- */

static void send_event(struct agent *ag, struct proto_event *ev)
{
	struct errbuf err = { "" };
	int r;

	if (!ag->hc || !ag->up) {
		proto_event_free(ev);
		return;
	}
	r = hub_conn_send(ag->hc, ev, &err);
	if (r < 0 && r != -ENOTCONN && r != -ENOBUFS)
		log_error("agent: cannot send %s: %s", ev->type, err.msg);
	proto_event_free(ev);
}

static const char *source_of(struct agent *ag)
{
	return ag->source;
}

static void send_outbox_entry(struct agent *ag, struct outbox_entry *e)
{
	if (hub_conn_send_text(ag->hc, e->json, e->len) == 0)
		e->sent_ms = now_ms(ag) ? now_ms(ag) : 1;
}

static void send_spec_resync(struct agent *ag)
{
	struct proto_resource_version *v = NULL;
	size_t n = 0;

	if (!ag->up || ag->spec_resync_sent || !ag->engine_ready)
		return;
	if (work_engine_resync_versions(ag->engine, &v, &n) < 0)
		return;
	log_info("agent: spec resync: holding %zu work(s)", n);
	send_event(ag, proto_event_new_spec_resync_request(source_of(ag), ag->cred->cluster_name, v,
							   n));
	free(v);
	ag->spec_resync_sent = true;
}

static void send_lease(struct agent *ag)
{
	unsigned s = ag->lease_s ? ag->lease_s : PROTO_LEASE_SECONDS_DEFAULT;

	if (!ag->up)
		return;
	ag->last_lease_ms = now_ms(ag);
	send_event(ag, proto_event_new_lease(source_of(ag), ag->cred->cluster_name, s, ag->claims,
					     ag->conditions));
}

static void on_claims(void *ud, json_t *claims, json_t *conditions)
{
	struct agent *ag = ud;

	ag->claims_probe = NULL;
	json_decref(ag->claims);
	json_decref(ag->conditions);
	ag->claims = json_incref(claims);
	ag->conditions = json_incref(conditions);
	if (ag->join_after_claims) {
		ag->join_after_claims = false;
		if (ag->phase == AG_JOINING && !ag->join)
			start_join(ag);
	}
}

static void refresh_claims(struct agent *ag)
{
	if (ag->claims_probe || !ag->spoke)
		return;
	if (claims_collect(ag->spoke, on_claims, ag, &ag->claims_probe) < 0)
		ag->claims_probe = NULL;
}

/* The engine's side -------------------------------------------------------------- */

static void on_status(void *ud, const struct work_status_report *rep)
{
	struct agent *ag = ud;
	struct proto_event *ev;
	struct errbuf err = { "" };
	char *json = NULL;
	size_t len = 0;
	uint64_t seq;
	int r;

	if (!ag->outbox || !ag->cred)
		return;
	seq = outbox_next_seq(ag->outbox, time_now_us());
	ev = proto_event_new_status(rep->resync ? PROTO_EV_STATUS_RESYNC_RESPONSE
						: PROTO_EV_STATUS_UPDATE,
				    source_of(ag), ag->cred->cluster_name, rep->resourceid,
				    rep->generation, seq, rep->status);
	if (rep->deleted) {
		ev->has_deletiontimestamp = true;
		ev->deletiontimestamp_us = rep->deletion_us ? rep->deletion_us : time_now_us();
	}
	r = proto_event_encode(ev, &err, &json, &len);
	proto_event_free(ev);
	if (r < 0) {
		log_error("agent: work %s: cannot encode its status: %s", rep->resourceid, err.msg);
		return;
	}
	r = outbox_put(ag->outbox, rep->resourceid, seq, json, len);
	if (r < 0)
		return;
	/* Saved on enqueue, not on the tick, so a kill -9 right after loses
	 * nothing: one save at a time (a status queued meanwhile is saved as
	 * soon as it ends, together with whatever else changed), each a
	 * commit of the store (write, fsync, rename). Acks alone wait for the
	 * tick: losing one only means the hub acknowledges that status again. */
	if (ag->outbox_saving)
		ag->outbox_urgent = true;
	else
		outbox_save(ag);
	if (ag->up) {
		struct outbox_entry *e = outbox_last(ag->outbox);

		if (e && e->seq == seq)
			send_outbox_entry(ag, e);
	}
}

static void on_engine_ready(void *ud, int r)
{
	struct agent *ag = ud;

	ag->engine_ready = true;
	log_info("agent: the engine has loaded its applied works");
	send_spec_resync(ag);
}

/* The hub's side --------------------------------------------------------------- */

static void renew_clear(struct agent *ag)
{
	free(ag->renew_id);
	ag->renew_id = NULL;
	if (ag->renew_key_pem) {
		explicit_bzero(ag->renew_key_pem, strlen(ag->renew_key_pem));
		free(ag->renew_key_pem);
		ag->renew_key_pem = NULL;
	}
}

static void renew_retry_later(struct agent *ag)
{
	renew_clear(ag);
	ag->renew_retry_at_ms = now_ms(ag) + backoff_next(&ag->renew_bo);
}

static void plan_renewal(struct agent *ag)
{
	double f = ag->opts->renew_fraction;
	uint64_t rnd = 0;
	int64_t life = ag->cred->not_after - ag->cred->not_before;

	if (!(f > 0 && f < 1)) {
		random_bytes(&rnd, sizeof(rnd));
		/* 20-25 % of the lifetime left, jittered. */
		f = 0.75 + 0.05 * (double)(rnd % 10001) / 10000.0;
	}
	ag->renew_at_s = ag->cred->not_before + (int64_t)((double)life * f);
	log_info("agent: certificate valid until %lld; renewal planned at %lld",
		 (long long)ag->cred->not_after, (long long)ag->renew_at_s);
}

static void start_renewal(struct agent *ag)
{
	struct x509_key *key = NULL;
	char *cn = NULL, *org = NULL, *csr = NULL;
	struct proto_event *ev;
	struct errbuf err = { "" };
	int r;

	r = agent_cred_subject(ag->cred->cluster_name, ag->cred->agent_name, &cn, &org, &err);
	if (r == 0)
		r = x509_key_generate(&key, &err);
	if (r == 0)
		r = x509_key_pem(key, &ag->renew_key_pem, &err);
	if (r == 0)
		r = x509_csr_create(key, cn, org, &csr, &err);
	if (r < 0) {
		log_error("agent: certificate renewal: %s", err.msg);
		renew_retry_later(ag);
		goto out;
	}
	ev = proto_event_new_cert_renew_request(source_of(ag), ag->cred->cluster_name, csr);
	ag->renew_id = xstrdup(ev->id);
	ag->renew_sent_ms = now_ms(ag);
	log_info("agent: asking the hub for a new certificate (request %s)", ag->renew_id);
	send_event(ag, ev);
out:
	x509_key_free(key);
	free(cn);
	free(org);
	free(csr);
}

static void adopt_cred(struct agent *ag, struct agent_cred *c);

static void on_renewed_saved(void *ud, int r, const char *msg)
{
	struct agent *ag = ud;
	struct agent_cred *c = ag->renewed_cred;

	ag->renewed_cred = NULL;
	if (!c)
		return;
	if (r < 0) {
		log_error("agent: cannot store the new certificate in %s: %s (keeping the old "
			  "one; will try again)", agent_store_describe(ag->store), msg);
		agent_cred_free(c);
		renew_retry_later(ag);
		return;
	}
	log_info("agent: new certificate stored (valid until %lld); reconnecting with it",
		 (long long)c->not_after);
	backoff_reset(&ag->renew_bo);
	adopt_cred(ag, c);
	if (ag->hc) {
		hub_conn_set_credentials(ag->hc, c->ca_pem, c->cert_pem, c->key_pem);
		hub_conn_reconnect(ag->hc, HUB_CONN_CLOSE_NORMAL);
	}
}

static void on_renew_response(struct agent *ag, const struct proto_event *ev)
{
	const char *rid = json_string_value(json_object_get(ev->data, "requestID"));
	const char *cert = json_string_value(json_object_get(ev->data, "certificate"));
	struct agent_cred *c;
	struct errbuf err = { "" };
	json_t *values;

	if (!ag->renew_id || !rid || strcmp(rid, ag->renew_id) != 0) {
		log_warn("agent: a certificate for request %s, which is not outstanding: ignored",
			 rid ? rid : "?");
		return;
	}
	c = agent_cred_new(ag->cred->hub_url, ag->cred->cluster_name, ag->cred->agent_name,
			   ag->cred->ca_pem, cert, ag->renew_key_pem);
	if (agent_cred_check(c, NULL, NULL, &err) < 0) {
		log_error("agent: the renewed certificate is not usable: %s", err.msg);
		agent_cred_free(c);
		renew_retry_later(ag);
		return;
	}
	renew_clear(ag);
	values = agent_cred_to_values(c);
	if (agent_store_save(ag->store, AGENT_CRED_OBJECT, values, on_renewed_saved, ag, &err) < 0) {
		log_error("agent: cannot store the renewed certificate: %s", err.msg);
		agent_cred_free(c);
		renew_retry_later(ag);
	} else {
		agent_cred_free(ag->renewed_cred);
		ag->renewed_cred = c;
	}
	json_decref(values);
}

static void answer_error(struct agent *ag, const struct proto_event *ev, int r,
			 const char *msg)
{
	send_event(ag, proto_event_new_error(source_of(ag), ag->cred->cluster_name, r, msg, ev->id,
					     ev->type, false));
}

static void on_hub_event(void *ud, const struct proto_event *ev)
{
	struct agent *ag = ud;
	struct proto_status_hash *h = NULL;
	struct errbuf err = { "" };
	size_t n = 0;
	int r;

	switch (ev->kind) {
	case PROTO_EV_SPEC_CREATE:
	case PROTO_EV_SPEC_UPDATE:
	case PROTO_EV_SPEC_DELETE:
	case PROTO_EV_SPEC_RESYNC_RESPONSE:
		r = work_engine_handle_spec(ag->engine, ev, &err);
		if (r == -ESTALE)
			log_debug("agent: work %s: stale generation %lld dropped", ev->resourceid,
				  (long long)ev->resourceversion);
		else if (r < 0) {
			log_warn("agent: work %s: refused: %s", ev->resourceid ? ev->resourceid : "?",
				 err.msg);
			answer_error(ag, ev, r, err.msg[0] ? err.msg : "refused by the agent");
		}
		break;
	case PROTO_EV_STATUS_RESYNC_REQUEST:
		r = proto_resync_hashes_parse(ev->data, NULL, &err, &h, &n);
		if (r == 0)
			r = work_engine_status_resync(ag->engine, h, n);
		if (r < 0)
			log_warn("agent: status resync: %s", err.msg[0] ? err.msg : strerror(-r));
		free(h);
		break;
	case PROTO_EV_STATUS_ACK:
		if (outbox_ack(ag->outbox, ev->resourceid, ev->sequenceid) == 0)
			log_debug("agent: status %llu of work %s acknowledged",
				  (unsigned long long)ev->sequenceid, ev->resourceid);
		break;
	case PROTO_EV_CERT_RENEW_RESPONSE:
		on_renew_response(ag, ev);
		break;
	case PROTO_EV_ERROR: {
		const char *code = json_string_value(json_object_get(ev->data, "code"));
		const char *msg = json_string_value(json_object_get(ev->data, "message"));
		const char *eid = json_string_value(json_object_get(ev->data, "eventID"));

		log_warn("agent: the hub refused %s: %s: %s", eid ? eid : "an event",
			 code ? code : "?", msg ? msg : "");
		if (ag->renew_id && eid && strcmp(eid, ag->renew_id) == 0)
			renew_retry_later(ag);
		break;
	}
	default:
		log_debug("agent: ignoring %s", ev->type);
		break;
	}
}

static void on_managed_cluster(void *ud, const struct kclient_result *res)
{
	struct agent *ag = ud;
	json_t *v = json_object_get(json_object_get(res->body, "spec"), "leaseDurationSeconds");

	ag->mc_call = NULL;
	if (res->r == 0 && json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= PROTO_LEASE_SECONDS_MAX) {
		unsigned s = (unsigned)json_integer_value(v);

		if (s != ag->lease_s) {
			log_info("agent: lease period %us (the ManagedCluster's)", s);
			ag->lease_s = s;
			/* Announce it at once: until then the hub waits for the
			 * default period, so a cluster that stops right after
			 * joining would stay Available for twice 60 s. */
			if (ag->up)
				send_lease(ag);
		}
	} else if (res->r < 0) {
		log_debug("agent: reading our ManagedCluster: %s", res->err->message);
	}
}

static void read_lease_period(struct agent *ag)
{
	char *path;

	if (ag->opts->lease_seconds || !ag->hubkc || ag->mc_call)
		return;
	path = xasprintf("/apis/cluster.open-cluster-management.io/v1/managedclusters/%s",
			 ag->cred->cluster_name);
	kclient_request(ag->hubkc, &(struct kclient_request){ .method = KCLIENT_GET, .path = path },
			NULL, on_managed_cluster, ag, &ag->mc_call);
	free(path);
}

static void on_hub_up(void *ud, unsigned heartbeat_s, unsigned minor)
{
	struct agent *ag = ud;
	struct outbox_entry *e;
	size_t n = 0;

	ag->up = true;
	ag->spec_resync_sent = false;
	/* Unacknowledged status first, oldest first, with their sequence ids. */
	outbox_mark_unsent(ag->outbox);
	for (e = outbox_first(ag->outbox); e; e = e->next, n++)
		send_outbox_entry(ag, e);
	if (n)
		log_info("agent: retransmitting %zu unacknowledged status update(s)", n);
	send_spec_resync(ag);
	read_lease_period(ag);
	send_lease(ag);
	refresh_claims(ag);
}

static void on_hub_down(void *ud, int code, const char *why)
{
	struct agent *ag = ud;

	ag->up = false;
	ag->spec_resync_sent = false;
	if (ag->renew_id)
		renew_clear(ag);
	/* The engine keeps applying: nothing else changes. */
}

/* Activation ------------------------------------------------------------------ */

static void adopt_cred(struct agent *ag, struct agent_cred *c)
{
	agent_cred_free(ag->cred);
	ag->cred = c;
	snprintf(ag->source, sizeof(ag->source), "nave-klusterlet/%s", c->cluster_name);
	plan_renewal(ag);
}

static int make_hub_client(struct agent *ag)
{
	struct kubeconfig *cfg = xnew(struct kubeconfig);
	struct errbuf err = { "" };

	cfg->source = xstrdup("hub");
	cfg->server = xstrdup(ag->cred->hub_url);
	cfg->namespace = xstrdup("default");
	cfg->ca_pem = (uint8_t *)xstrdup(ag->cred->ca_pem);
	cfg->ca_pem_len = strlen(ag->cred->ca_pem);
	cfg->cert_pem = (uint8_t *)xstrdup(ag->cred->cert_pem);
	cfg->cert_pem_len = strlen(ag->cred->cert_pem);
	cfg->key_pem = (uint8_t *)xstrdup(ag->cred->key_pem);
	cfg->key_pem_len = strlen(ag->cred->key_pem);
	if (kclient_new(&ag->loop, cfg, &(struct kclient_options){ .qps = -1 }, &err,
			&ag->hubkc) < 0) {
		log_warn("agent: hub client: %s", err.msg);
		kubeconfig_free(cfg);
		ag->hubkc = NULL;
		return -EIO;
	}
	return 0;
}

static void go_active(struct agent *ag)
{
	struct work_engine_config ecfg = { 0 };
	struct hub_conn_config hcfg = { 0 };
	struct hub_conn_callbacks hcb = { .up = on_hub_up, .event = on_hub_event,
					  .down = on_hub_down };
	struct errbuf err = { "" };
	char hub_hash[SHA256_HEX_LEN + 1];

	sha256_hex(ag->cred->hub_url, strlen(ag->cred->hub_url), hub_hash);
	ecfg.cluster_name = ag->cred->cluster_name;
	ecfg.hub_hash = hub_hash;
	ecfg.agent_id = ag->cred->agent_name;
	ecfg.eviction_grace_ms = ag->opts->eviction_grace_ms;
	if (work_engine_new(ag->spoke, &ecfg, on_status, ag, &err, &ag->engine) < 0) {
		log_error("agent: cannot make the engine: %s", err.msg);
		agent_stop(ag, 1);
		return;
	}
	ag->engine_ready = false;
	work_engine_start(ag->engine, on_engine_ready, ag);

	hcfg.url = ag->cred->hub_url;
	hcfg.cluster_name = ag->cred->cluster_name;
	hcfg.ca_pem = ag->cred->ca_pem;
	hcfg.cert_pem = ag->cred->cert_pem;
	hcfg.key_pem = ag->cred->key_pem;
	hcfg.backoff_base_ms = ag->opts->backoff_base_ms;
	hcfg.backoff_max_ms = ag->opts->backoff_max_ms;
	if (hub_conn_new(&ag->loop, &hcfg, &hcb, ag, &err, &ag->hc) < 0) {
		log_error("agent: cannot make the hub connection: %s", err.msg);
		agent_stop(ag, 1);
		return;
	}
	make_hub_client(ag);
	ag->lease_s = ag->opts->lease_seconds;
	ag->phase = AG_ACTIVE;
	log_info("agent: active: cluster %s, hub %s, agent %s", ag->cred->cluster_name,
		 ag->cred->hub_url, ag->cred->agent_name);
	refresh_claims(ag);
	hub_conn_start(ag->hc);
}

static void on_outbox_loaded(void *ud, int r, json_t *values, const char *msg)
{
	struct agent *ag = ud;
	json_t *doc = NULL;
	size_t skipped = 0;
	const char *text;
	struct errbuf err = { "" };

	if (ag->phase != AG_LOAD_OUTBOX)
		return;
	text = json_string_value(json_object_get(values, "outbox.json"));
	if (r == 0 && text) {
		doc = json_loads(text, 0, NULL);
		if (!doc || outbox_load_json(ag->outbox, doc, &err, &skipped) < 0)
			log_warn("agent: the stored unacknowledged status is unreadable (%s): "
				 "starting empty; the status resync catches up", err.msg);
		else
			log_info("agent: %zu unacknowledged status update(s) restored%s",
				 outbox_count(ag->outbox), skipped ? " (some skipped)" : "");
		json_decref(doc);
	} else if (r < 0 && r != -ENOENT) {
		log_warn("agent: cannot load the unacknowledged status (%s): starting empty", msg);
	}
	ag->outbox_saved_version = outbox_version(ag->outbox);
	go_active(ag);
}

static void load_outbox(struct agent *ag)
{
	ag->phase = AG_LOAD_OUTBOX;
	outbox_free(ag->outbox);
	ag->outbox = outbox_new(0, 0);
	if (agent_store_load(ag->store, AGENT_OUTBOX_OBJECT, on_outbox_loaded, ag) < 0)
		go_active(ag);
}

static void wait_then(struct agent *ag, bool join, uint64_t delay_ms)
{
	ag->phase = AG_WAIT;
	ag->wait_join = join;
	ag->retry_at_ms = now_ms(ag) + delay_ms;
}

static bool can_join(const struct agent *ag)
{
	const struct agent_options *o = ag->opts;

	return o->hub_url && o->token && o->cluster_name && (o->ca_hash || o->insecure_skip_ca);
}

static void credential_ready(struct agent *ag)
{
	if (ag->opts->one_shot_join) {
		printf("cluster %s joined hub %s as agent %s; credential in %s (certificate valid "
		       "until %lld)\n", ag->cred->cluster_name, ag->cred->hub_url,
		       ag->cred->agent_name, agent_store_describe(ag->store),
		       (long long)ag->cred->not_after);
		fflush(stdout);
		agent_stop(ag, 0);
		return;
	}
	load_outbox(ag);
}

static void on_cred_saved(void *ud, int r, const char *msg)
{
	struct agent *ag = ud;
	struct agent_cred *c = ag->pending_cred;

	ag->pending_cred = NULL;
	if (ag->phase != AG_SAVE_CRED) {
		agent_cred_free(c);
		return;
	}
	if (r < 0) {
		log_error("agent: cannot store the credential in %s: %s",
			  agent_store_describe(ag->store), msg);
		agent_cred_free(c);
		if (ag->opts->one_shot_join) {
			fprintf(stderr, "nave-klusterlet: cannot store the credential in %s: %s\n",
				agent_store_describe(ag->store), msg);
			agent_stop(ag, 1);
			return;
		}
		wait_then(ag, true, backoff_next(&ag->join_bo));
		return;
	}
	log_info("agent: credential stored in %s", agent_store_describe(ag->store));
	adopt_cred(ag, c);
	credential_ready(ag);
}

static void on_join_progress(void *ud, const char *msg)
{
	struct agent *ag = ud;

	if (ag->opts->one_shot_join) {
		printf("%s\n", msg);
		fflush(stdout);
	} else {
		log_info("agent: %s", msg);
	}
}

static void on_joined(void *ud, int r, struct agent_cred *cred, const char *msg)
{
	struct agent *ag = ud;
	struct errbuf err = { "" };
	json_t *values;

	/* Freed from the tick: we are inside its callback. */
	join_free(ag->join_done);
	ag->join_done = ag->join;
	ag->join = NULL;
	if (ag->phase != AG_JOINING) {
		agent_cred_free(cred);
		return;
	}
	if (r < 0) {
		if (ag->opts->one_shot_join) {
			fprintf(stderr, "nave-klusterlet: %s\n", msg);
			agent_stop(ag, 1);
			return;
		}
		log_error("agent: join failed: %s", msg);
		wait_then(ag, true, backoff_next(&ag->join_bo));
		return;
	}
	log_info("agent: %s", msg);
	backoff_reset(&ag->join_bo);
	ag->phase = AG_SAVE_CRED;
	values = agent_cred_to_values(cred);
	ag->pending_cred = cred;
	if (agent_store_save(ag->store, AGENT_CRED_OBJECT, values, on_cred_saved, ag, &err) < 0) {
		ag->pending_cred = NULL;
		agent_cred_free(cred);
		log_error("agent: cannot store the credential: %s", err.msg);
		if (ag->opts->one_shot_join) {
			fprintf(stderr, "nave-klusterlet: cannot store the credential: %s\n", err.msg);
			agent_stop(ag, 1);
		} else {
			wait_then(ag, true, backoff_next(&ag->join_bo));
		}
	}
	json_decref(values);
}

static void start_join(struct agent *ag)
{
	const struct agent_options *o = ag->opts;
	struct join_options jo = { .hub_url = o->hub_url, .token = o->token, .ca_hash = o->ca_hash,
				   .insecure_skip_ca = o->insecure_skip_ca,
				   .cluster_name = o->cluster_name, .agent_name = o->agent_name,
				   .labels = o->labels, .claims = NULL };
	struct errbuf err = { "" };
	json_t *claims = NULL;
	size_t i;
	json_t *c;

	/* The hub records the claims of a registration: probe the spoke once
	 * first (the join starts when the probe ends, whatever it found). */
	if (ag->spoke && !ag->claims && !ag->claims_waited) {
		ag->claims_waited = true;
		refresh_claims(ag);
		if (ag->claims_probe) {
			ag->phase = AG_JOINING;
			ag->join_after_claims = true;
			return;
		}
	}
	/* Registration claims: what the last probe found (at most the hub's cap). */
	if (ag->claims) {
		claims = json_array();
		json_array_foreach(ag->claims, i, c)
			if (json_array_size(claims) < JOIN_CLAIMS_MAX)
				json_array_append(claims, c);
		jo.claims = claims;
	}
	ag->phase = AG_JOINING;
	if (join_start(&ag->loop, &jo, on_join_progress, on_joined, ag, &err, &ag->join) < 0) {
		json_decref(claims);
		if (ag->opts->one_shot_join) {
			fprintf(stderr, "nave-klusterlet: %s\n", err.msg);
			agent_stop(ag, 2);
			return;
		}
		log_error("agent: cannot join: %s", err.msg);
		wait_then(ag, true, AGENT_JOIN_RETRY_MAX_MS);
		return;
	}
	json_decref(claims);
}

static void on_cred_loaded(void *ud, int r, json_t *values, const char *msg)
{
	struct agent *ag = ud;
	struct agent_cred *c = NULL;
	struct errbuf err = { "" };

	if (ag->phase != AG_LOAD_CRED)
		return;
	if (r == 0) {
		r = agent_cred_from_values(values, &err, &c);
		if (r == 0)
			r = agent_cred_check(c, ag->want_hub, ag->opts->cluster_name, &err);
		if (r == 0 && !ag->opts->force_join) {
			log_info("agent: credential of cluster %s for hub %s found in %s",
				 c->cluster_name, c->hub_url, agent_store_describe(ag->store));
			adopt_cred(ag, c);
			credential_ready(ag);
			return;
		}
		agent_cred_free(c);
		if (r < 0)
			log_warn("agent: the stored credential is not usable: %s", err.msg);
	} else if (r != -ENOENT) {
		log_error("agent: cannot load the credential from %s: %s",
			  agent_store_describe(ag->store), msg);
		if (ag->opts->one_shot_join) {
			fprintf(stderr, "nave-klusterlet: cannot read %s: %s\n",
				agent_store_describe(ag->store), msg);
			agent_stop(ag, 1);
			return;
		}
		wait_then(ag, false, AGENT_LOAD_RETRY_MS);
		return;
	}
	if (can_join(ag)) {
		start_join(ag);
		return;
	}
	log_error("agent: no usable hub credential in %s, and no bootstrap options to join with "
		  "(--hub, --token, --ca-hash, --cluster-name); retrying in %d s",
		  agent_store_describe(ag->store), AGENT_LOAD_RETRY_MS / 1000);
	wait_then(ag, false, AGENT_LOAD_RETRY_MS);
}

static void activate_step(struct agent *ag)
{
	if (ag->stopping)
		return;
	if (ag->phase == AG_WAIT && ag->wait_join && can_join(ag)) {
		start_join(ag);
		return;
	}
	ag->phase = AG_LOAD_CRED;
	if (agent_store_load(ag->store, AGENT_CRED_OBJECT, on_cred_loaded, ag) < 0)
		wait_then(ag, false, AGENT_LOAD_RETRY_MS);
}

static void activate(struct agent *ag)
{
	if (ag->phase != AG_STANDBY || ag->stopping)
		return;
	if (!ag->opts->one_shot_join)
		log_info("agent: %s: taking over", ag->identity);
	activate_step(ag);
}

/* Stop what runs (from any callback): modules are stopped here and freed from
 * the tick (never inside their own callbacks). */
static void deactivate(struct agent *ag)
{
	if (ag->phase == AG_STANDBY)
		return;
	if (!ag->opts->one_shot_join)
		log_info("agent: %s: standing down", ag->identity);
	if (ag->hc) {
		hub_conn_stop(ag->hc, HUB_CONN_CLOSE_NORMAL);
		hub_conn_free(ag->hc_dead);
		ag->hc_dead = ag->hc;
		ag->hc = NULL;
	}
	ag->up = false;
	if (ag->engine) {
		work_engine_stop(ag->engine);
		work_engine_free(ag->engine_dead);
		ag->engine_dead = ag->engine;
		ag->engine = NULL;
	}
	ag->engine_ready = false;
	if (ag->join) {
		join_free(ag->join_done);
		ag->join_done = ag->join;
		ag->join = NULL;
	}
	if (ag->rejoin) {
		join_free(ag->join_done);
		ag->join_done = ag->rejoin;
		ag->rejoin = NULL;
	}
	if (ag->mc_call) {
		kclient_cancel(ag->mc_call);
		ag->mc_call = NULL;
	}
	if (ag->hubkc) {
		kclient_free(ag->hubkc_dead);
		ag->hubkc_dead = ag->hubkc;
		ag->hubkc = NULL;
	}
	renew_clear(ag);
	ag->join_after_claims = false;
	outbox_save(ag);
	ag->phase = AG_STANDBY;
}

/* Leader election ----------------------------------------------------------------- */

static void on_started_leading(void *ud)
{
	struct agent *ag = ud;

	log_info("agent: %s is the leader", ag->identity);
	activate(ag);
}

static void on_stopped_leading(void *ud)
{
	struct agent *ag = ud;

	log_info("agent: %s is no longer the leader", ag->identity);
	deactivate(ag);
}

static void on_new_leader(void *ud, const char *identity)
{
	struct agent *ag = ud;

	if (identity && *identity && strcmp(identity, ag->identity) != 0)
		log_info("agent: the leader is %s; standing by", identity);
}

/* Registering again (the hub refuses our certificate) ------------------------ */

static void on_rejoined(void *ud, int r, struct agent_cred *cred, const char *msg)
{
	struct agent *ag = ud;
	struct errbuf err = { "" };
	json_t *values;

	/* Freed from the tick: we are inside its callback. */
	join_free(ag->join_done);
	ag->join_done = ag->rejoin;
	ag->rejoin = NULL;
	if (r < 0 || ag->phase != AG_ACTIVE || ag->renewed_cred) {
		if (r < 0)
			log_error("agent: registering again failed: %s", msg);
		agent_cred_free(cred);
		ag->rejoin_retry_at_ms = now_ms(ag) + backoff_next(&ag->join_bo);
		return;
	}
	log_info("agent: %s", msg);
	backoff_reset(&ag->join_bo);
	/* Stored, then used exactly as a renewed certificate. */
	values = agent_cred_to_values(cred);
	if (agent_store_save(ag->store, AGENT_CRED_OBJECT, values, on_renewed_saved, ag, &err) < 0) {
		log_error("agent: cannot store the new credential: %s", err.msg);
		agent_cred_free(cred);
	} else {
		ag->renewed_cred = cred;
	}
	json_decref(values);
}

static void maybe_rejoin(struct agent *ag)
{
	const struct agent_options *o = ag->opts;
	struct join_options jo = { .hub_url = o->hub_url, .token = o->token, .ca_hash = o->ca_hash,
				   .insecure_skip_ca = o->insecure_skip_ca,
				   .cluster_name = ag->cred->cluster_name,
				   .agent_name = ag->cred->agent_name, .labels = o->labels,
				   .claims = NULL };
	struct hub_conn_stats hs;
	struct errbuf err = { "" };

	if (ag->rejoin || ag->renewed_cred || !ag->hc || !can_join(ag) ||
	    now_ms(ag) < ag->rejoin_retry_at_ms)
		return;
	hub_conn_get_stats(ag->hc, &hs);
	if (hs.refusals < AGENT_REJOIN_AFTER_REFUSALS)
		return;
	log_warn("agent: the hub refused our certificate %u times in a row (denied, or it no longer "
		 "knows us): registering again with the bootstrap token; the works stay applied",
		 hs.refusals);
	if (join_start(&ag->loop, &jo, on_join_progress, on_rejoined, ag, &err, &ag->rejoin) < 0) {
		log_error("agent: cannot register again: %s", err.msg);
		ag->rejoin = NULL;
		ag->rejoin_retry_at_ms = now_ms(ag) + AGENT_JOIN_RETRY_MAX_MS;
	}
}

/* The tick ---------------------------------------------------------------------- */

static void tick(uv_timer_t *t)
{
	struct agent *ag = t->data;
	uint64_t now = now_ms(ag);
	uint64_t retransmit = ag->opts->status_retransmit_ms ? ag->opts->status_retransmit_ms
							      : AGENT_DEFAULT_RETRANSMIT_MS;

	/* Deferred frees (see deactivate). */
	if (ag->hc_dead)
		ag->hc_dead = hub_conn_free(ag->hc_dead);
	if (ag->engine_dead)
		ag->engine_dead = work_engine_free(ag->engine_dead);
	if (ag->join_done)
		ag->join_done = join_free(ag->join_done);
	if (ag->hubkc_dead)
		ag->hubkc_dead = kclient_free(ag->hubkc_dead);
	if (ag->stopping)
		return;
	if (ag->phase == AG_WAIT && now >= ag->retry_at_ms)
		activate_step(ag);
	if (ag->outbox)
		outbox_save(ag);
	if (ag->phase == AG_ACTIVE && !ag->up)
		maybe_rejoin(ag);
	if (ag->phase != AG_ACTIVE || !ag->up)
		return;
	for (struct outbox_entry *e = outbox_first(ag->outbox); e; e = e->next)
		if (e->sent_ms && now - e->sent_ms >= retransmit) {
			log_info("agent: no ack for status %llu of work %s within %llu ms: sending it "
				 "again", (unsigned long long)e->seq, e->resourceid,
				 (unsigned long long)retransmit);
			send_outbox_entry(ag, e);
		}
	if (now - ag->last_lease_ms >=
	    (uint64_t)(ag->lease_s ? ag->lease_s : PROTO_LEASE_SECONDS_DEFAULT) * 1000) {
		send_lease(ag);
		refresh_claims(ag);
		read_lease_period(ag);
	}
	if (ag->renew_id && now - ag->renew_sent_ms >= AGENT_RENEW_TIMEOUT_MS) {
		log_warn("agent: no answer to certificate request %s within 60 s: asking again",
			 ag->renew_id);
		renew_clear(ag);
	}
	if (!ag->renew_id && !ag->renewed_cred && ag->renew_at_s &&
	    (int64_t)time(NULL) >= ag->renew_at_s && now >= ag->renew_retry_at_ms)
		start_renewal(ag);
}

/* Stopping ---------------------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void final_teardown(struct agent *ag)
{
	uv_timer_stop(&ag->shutdown_timer);
	close_handle((uv_handle_t *)&ag->shutdown_timer);
	uv_timer_stop(&ag->tick);
	close_handle((uv_handle_t *)&ag->tick);
	uv_signal_stop(&ag->sigterm);
	uv_signal_stop(&ag->sigint);
	close_handle((uv_handle_t *)&ag->sigterm);
	close_handle((uv_handle_t *)&ag->sigint);
	ag->hc_dead = hub_conn_free(ag->hc_dead);
	ag->hc = hub_conn_free(ag->hc);
	ag->engine_dead = work_engine_free(ag->engine_dead);
	ag->engine = work_engine_free(ag->engine);
	ag->join_done = join_free(ag->join_done);
	ag->join = join_free(ag->join);
	ag->rejoin = join_free(ag->rejoin);
	claims_cancel(ag->claims_probe);
	ag->claims_probe = NULL;
	kclient_cancel(ag->mc_call);
	ag->mc_call = NULL;
	ag->leader = leader_free(ag->leader);
	ag->health = agent_health_free(ag->health);
	ag->store = agent_store_free(ag->store);
	ag->hubkc = kclient_free(ag->hubkc);
	ag->hubkc_dead = kclient_free(ag->hubkc_dead);
	ag->spoke = kclient_free(ag->spoke);
}

static void shutdown_poll(uv_timer_t *t)
{
	struct agent *ag = t->data;
	bool late = now_ms(ag) >= ag->retry_at_ms;

	/* Wait for the Lease release and the final save of the unacknowledged
	 * status, both bounded by the grace period (then abandoned). */
	if (!late && ag->releasing)
		return;
	if (!late && ag->outbox && ag->store) {
		if (ag->outbox_saving)
			return;
		if (outbox_version(ag->outbox) != ag->outbox_saved_version) {
			outbox_save(ag);
			return;
		}
	}
	if (late)
		log_warn("agent: stopping without %s after %d ms",
			 ag->releasing ? "releasing the Lease" : "saving the pending status",
			 AGENT_SHUTDOWN_GRACE_MS);
	final_teardown(ag);
}

static void on_leader_released(void *ud)
{
	struct agent *ag = ud;

	ag->releasing = false;
	log_info("agent: lease released");
}

static void agent_stop(struct agent *ag, int code)
{
	if (ag->stopping)
		return;
	ag->stopping = true;
	ag->exit_code = code;
	deactivate(ag);
	/* retry_at_ms doubles as the shutdown deadline from here on. */
	ag->retry_at_ms = now_ms(ag) + AGENT_SHUTDOWN_GRACE_MS;
	if (ag->leader && leader_is_leader(ag->leader)) {
		ag->releasing = true;
		leader_stop(ag->leader, on_leader_released, ag);
	}
	uv_timer_start(&ag->shutdown_timer, shutdown_poll, 0, 50);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct agent *ag = s->data;

	if (ag->stopping) {
		log_warn("agent: second signal: exiting at once");
		exit(1);
	}
	log_info("agent: %s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	agent_stop(ag, 0);
}

/* Health -------------------------------------------------------------------------- */

static void health_state(void *ud, struct agent_health_state *st)
{
	struct agent *ag = ud;
	struct hub_conn_stats hs = { 0 };

	if (ag->hc)
		hub_conn_get_stats(ag->hc, &hs);
	st->leader = ag->phase != AG_STANDBY && !ag->stopping;
	st->connected = ag->hc && hub_conn_is_up(ag->hc);
	st->applying = ag->engine && ag->engine_ready;
	st->ready = !ag->stopping && (ag->phase == AG_STANDBY || st->applying);
	st->last_heartbeat_us = hs.last_rx_us;
	st->identity = ag->identity;
	st->cluster = ag->cred ? ag->cred->cluster_name : ag->opts->cluster_name;
	st->pending_status = ag->outbox ? outbox_count(ag->outbox) : 0;
}

/* Setup ----------------------------------------------------------------------------- */

static char *default_identity(void)
{
	const char *pod = getenv("POD_NAME");
	char host[128] = "nave-klusterlet", rnd[9];
	uint8_t b[4];

	if (pod && *pod && strlen(pod) <= AGENT_IDENTITY_MAX)
		return xstrdup(pod);
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	random_bytes(b, sizeof(b));
	hex_encode(b, sizeof(b), rnd);
	return xasprintf("%s_%s", host, rnd);
}

static int setup_store(struct agent *ag, struct errbuf *err)
{
	const struct agent_options *o = ag->opts;
	const char *home;
	char *dir;
	int r;

	if (o->state_dir && !o->store_secret)
		return agent_store_new_dir(&ag->loop, o->state_dir, err, &ag->store);
	if (ag->spoke && (o->store_secret || (ag->spoke_cfg && ag->spoke_cfg->in_cluster) ||
			  kclient_config(ag->spoke)->in_cluster))
		return agent_store_new_secret(ag->spoke, ag->ns, NULL, err, &ag->store);
	if (o->store_secret)
		return errbuf_set(err, -EINVAL, "--store secret: needs a cluster (--kubeconfig or "
				  "in-cluster configuration)");
	home = getenv("HOME");
	if (geteuid() == 0 || !home || !*home)
		dir = xstrdup("/var/lib/nave-klusterlet");
	else
		dir = xasprintf("%s/.nave/klusterlet", home);
	r = agent_store_new_dir(&ag->loop, dir, err, &ag->store);
	free(dir);
	return r;
}

static int setup_spoke(struct agent *ag, struct errbuf *err)
{
	struct kclient_options ko = { .qps = AGENT_SPOKE_QPS, .burst = AGENT_SPOKE_BURST,
				      .user_agent = "nave-klusterlet" };
	struct kubeconfig *cfg = NULL;
	int r;

	r = kubeconfig_load_auto(ag->opts->kubeconfig, NULL, err, &cfg);
	if (r < 0)
		return r;
	ag->ns = xstrdup(ag->opts->namespace ? ag->opts->namespace : cfg->namespace);
	r = kclient_new(&ag->loop, cfg, &ko, err, &ag->spoke);
	if (r < 0) {
		kubeconfig_free(cfg);
		return r;
	}
	return 0;
}

int agent_main(const struct agent_options *opts)
{
	struct agent *ag = xnew(struct agent);
	struct errbuf err = { "" };
	int r, code;

	ag->opts = opts;
	ag->exit_code = 0;
	uv_loop_init(&ag->loop);
	backoff_init(&ag->join_bo, AGENT_JOIN_RETRY_BASE_MS, AGENT_JOIN_RETRY_MAX_MS, 0.2);
	backoff_init(&ag->renew_bo, AGENT_RENEW_RETRY_BASE_MS, AGENT_RENEW_RETRY_MAX_MS, 0.2);
	if (opts->hub_url) {
		size_t n = strlen(opts->hub_url);

		ag->want_hub = xstrdup(opts->hub_url);
		if (n && ag->want_hub[n - 1] == '/')
			ag->want_hub[n - 1] = '\0';
	}
	ag->identity = opts->identity ? xstrdup(opts->identity) : default_identity();

	r = setup_spoke(ag, &err);
	if (r < 0) {
		if (!opts->one_shot_join) {
			fprintf(stderr, "nave-klusterlet: the spoke cluster: %s\n", err.msg);
			code = 1;
			goto out_early;
		}
		/* join works without a cluster (no claims; the credential goes to a
		 * state directory). */
		log_debug("agent: no spoke cluster for join: %s", err.msg);
		errbuf_clear(&err);
	}
	if (!ag->ns)
		ag->ns = xstrdup(opts->namespace ? opts->namespace : "default");
	r = setup_store(ag, &err);
	if (r < 0) {
		fprintf(stderr, "nave-klusterlet: %s\n", err.msg);
		code = 1;
		goto out_early;
	}
	if (opts->health_listen && !opts->one_shot_join) {
		r = agent_health_new(&ag->loop, opts->health_listen, health_state, ag, &err,
				     &ag->health);
		if (r < 0) {
			fprintf(stderr, "nave-klusterlet: %s\n", err.msg);
			code = 1;
			goto out_early;
		}
		log_info("agent: health endpoint on port %d", agent_health_port(ag->health));
	}
	if (!opts->one_shot_join && !opts->no_leader_elect) {
		struct leader_options lo = {
			.namespace = opts->lease_namespace ? opts->lease_namespace : ag->ns,
			.name = opts->lease_name ? opts->lease_name : AGENT_DEFAULT_LEASE_NAME,
			.identity = ag->identity,
			.lease_duration_ms = opts->lease_duration_ms,
			.renew_deadline_ms = opts->renew_deadline_ms,
			.retry_period_ms = opts->retry_period_ms,
		};
		struct leader_callbacks lcb = { .started_leading = on_started_leading,
						.stopped_leading = on_stopped_leading,
						.new_leader = on_new_leader };

		r = leader_new(ag->spoke, &lo, &lcb, ag, &err, &ag->leader);
		if (r < 0) {
			fprintf(stderr, "nave-klusterlet: leader election: %s\n", err.msg);
			code = 2;
			goto out_early;
		}
	}
	uv_timer_init(&ag->loop, &ag->tick);
	ag->tick.data = ag;
	uv_timer_start(&ag->tick, tick, AGENT_TICK_MS, AGENT_TICK_MS);
	uv_timer_init(&ag->loop, &ag->shutdown_timer);
	ag->shutdown_timer.data = ag;
	uv_signal_init(&ag->loop, &ag->sigterm);
	uv_signal_init(&ag->loop, &ag->sigint);
	ag->sigterm.data = ag;
	ag->sigint.data = ag;
	uv_signal_start(&ag->sigterm, on_signal, SIGTERM);
	uv_signal_start(&ag->sigint, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);

	if (ag->spoke && !opts->one_shot_join)
		refresh_claims(ag);
	if (ag->leader) {
		log_info("agent: %s: campaigning for Lease %s/%s", ag->identity,
			 opts->lease_namespace ? opts->lease_namespace : ag->ns,
			 opts->lease_name ? opts->lease_name : AGENT_DEFAULT_LEASE_NAME);
		leader_start(ag->leader);
	} else {
		activate(ag);
	}
	uv_run(&ag->loop, UV_RUN_DEFAULT);
	code = ag->exit_code;
	goto out;

out_early:
	ag->health = agent_health_free(ag->health);
	ag->leader = leader_free(ag->leader);
	ag->store = agent_store_free(ag->store);
	ag->spoke = kclient_free(ag->spoke);
	uv_run(&ag->loop, UV_RUN_DEFAULT);
out:
	if (uv_loop_close(&ag->loop) != 0)
		log_debug("agent: loop closed with handles left");
	agent_cred_free(ag->cred);
	agent_cred_free(ag->pending_cred);
	agent_cred_free(ag->renewed_cred);
	outbox_free(ag->outbox);
	json_decref(ag->claims);
	json_decref(ag->conditions);
	renew_clear(ag);
	free(ag->identity);
	free(ag->ns);
	free(ag->want_hub);
	free(ag);
	return code;
}
