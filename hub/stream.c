/* stream.c - the agent stream: connections and events (docs/protocol.md).
 *
 * Connections: common/httpd_ws serves PROTO_WS_PATH with subprotocol
 * cloudevents.json on the hub's port. At the upgrade the client certificate
 * alone says which cluster speaks (hub_cluster_cert_check: CN form, serial
 * not revoked, cluster registered and accepted); anything else is refused
 * with 401 before a websocket exists; past the connection cap httpd_ws
 * answers 503 with Retry-After, past STREAM_CLUSTER_CONNS_MAX connections of
 * one cluster the stream answers 429.
 *
 * Events: messages are decoded by proto/ and handled in a uv_check handler
 * at the end of the loop turn that brought them, so the store writes they
 * cause (statuses, leases, renewals) join the hub's group commit of that turn
 * (serve.c commits from its own prepare/check handlers, and nothing is
 * written to a socket between a write and its COMMIT). Answers that promise
 * durability (status acks, renewal answers) are queued from
 * hub_when_durable callbacks, so they leave only after the COMMIT.
 *
 * Per connection: hello first (anything else: ProtocolViolation, close
 * 1002; another major: UnsupportedVersion, close 1002), then the hub's hello
 * and its status resync request (the statushash stored for each of the
 * cluster's works), and the lease is renewed (the cluster becomes Joined and
 * Available on its first connection). Then, in any order: the agent's spec
 * resync request (stream_works.c answers with what differs), status updates
 * (stored into ManifestWork.status with the hub's bookkeeping under
 * status.statusSync when their sequenceid is newer than the stored one, then
 * acknowledged; older ones are acknowledged only; a status for a work of
 * another cluster or of none is acknowledged without being stored), lease
 * updates, certificate renewals, heartbeats. Every event is checked against
 * the connection's cluster (clustername) and direction (Forbidden).
 *
 * Liveness and memory: a 1 s tick sends heartbeats every heartbeatSeconds,
 * closes connections that sent nothing for 3 heartbeats (1001) and those
 * whose send queue stayed full for as long (1013). A full queue (caps in
 * stream.h) holds pushes back instead of growing; when it drains, a resync
 * of that connection sends what it missed. A deny or a revocation closes the
 * cluster's connections at once (1008), seen through the kapi subscription.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "alloc.h"
#include "kobj.h"
#include "log.h"
#include "nave_config.h"
#include "stream_int.h"
#include "timefmt.h"

#define GROUP_WORK "work.open-cluster-management.io"
#define RES_WORKS "manifestworks"
#define GROUP_CLUSTER "cluster.open-cluster-management.io"
#define RES_CLUSTERS "managedclusters"
#define GROUP_NAVE "nave.dev"
#define RES_REVOKED "revokedcertificates"

static const struct kapi_write_opts stream_opts = {.field_manager = "nave-hub-stream"};

/* One stream per process (serve.c holds none of its state). */
static struct stream *stream_cur;

/* Settings read by stream_prepare. */
static struct {
	unsigned max_connections;
	size_t queue_bytes;
	unsigned heartbeat_s;
} stream_cfg = {STREAM_MAX_CONNECTIONS_DEFAULT, STREAM_QUEUE_BYTES_DEFAULT, PROTO_HEARTBEAT_SECONDS_DEFAULT};

/* Settings ---------------------------------------------------------------------- */

static int env_number(const char *name, unsigned long long min, unsigned long long max,
		      unsigned long long *ret, struct errbuf *err)
{
	const char *v = getenv(name);
	unsigned long long n = 0;

	if (!v || !*v)
		return 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || n > max)
			return errbuf_set(err, -EINVAL, "%s=%.32s: expected a whole number of %llu..%llu", name, v,
					  min, max);
		n = n * 10 + (unsigned)(*p - '0');
	}
	if (n < min || n > max)
		return errbuf_set(err, -EINVAL, "%s=%.32s: expected a whole number of %llu..%llu", name, v, min, max);
	*ret = n;
	return 1;
}

/* See stream.h. */
int stream_prepare(struct errbuf *err)
{
	unsigned long long v;
	struct rlimit rl;
	unsigned fit;
	int r;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = rl.rlim_max < STREAM_NOFILE_MAX ? rl.rlim_max : STREAM_NOFILE_MAX;

		if (rl.rlim_cur < want) {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
	} else {
		rl.rlim_cur = 1024;
	}
	fit = rl.rlim_cur > 2 * STREAM_FD_RESERVE ? (unsigned)(rl.rlim_cur - STREAM_FD_RESERVE)
						  : (unsigned)(rl.rlim_cur / 2);
	stream_cfg.max_connections = fit < STREAM_MAX_CONNECTIONS_DEFAULT ? fit : STREAM_MAX_CONNECTIONS_DEFAULT;
	stream_cfg.queue_bytes = STREAM_QUEUE_BYTES_DEFAULT;
	stream_cfg.heartbeat_s = PROTO_HEARTBEAT_SECONDS_DEFAULT;
	if ((r = env_number("NAVE_HUB_STREAM_MAX_CONNECTIONS", 1, 1000000, &v, err)) < 0)
		return r;
	if (r) {
		if (v > fit)
			log_warn("NAVE_HUB_STREAM_MAX_CONNECTIONS=%llu: only %u fit the file descriptor limit "
				 "(%llu); using %u", v, fit, (unsigned long long)rl.rlim_cur, fit);
		stream_cfg.max_connections = v > fit ? fit : (unsigned)v;
	}
	if ((r = env_number("NAVE_HUB_STREAM_QUEUE_BYTES", STREAM_QUEUE_BYTES_MIN, 1ULL << 30, &v, err)) < 0)
		return r;
	if (r)
		stream_cfg.queue_bytes = (size_t)v;
	if ((r = env_number("NAVE_HUB_STREAM_HEARTBEAT_SECONDS", 1, PROTO_HEARTBEAT_SECONDS_MAX, &v, err)) < 0)
		return r;
	if (r)
		stream_cfg.heartbeat_s = (unsigned)v;
	return 0;
}

/* Connections -------------------------------------------------------------------- */

static void in_free(struct stream_conn *c)
{
	struct stream_in *i, *n;

	for (i = c->in_head; i; i = n) {
		n = i->next;
		free(i->msg);
		free(i);
	}
	c->in_head = c->in_tail = NULL;
}

static struct stream_conn *conn_ref(struct stream_conn *c)
{
	c->refs++;
	return c;
}

static void conn_unref(struct stream_conn *c)
{
	if (--c->refs)
		return;
	in_free(c);
	json_decref(c->known);
	free(c);
}

/* Whether c can still be written to. */
static bool conn_live(const struct stream_conn *c)
{
	return c->ws && !httpd_ws_closing(c->ws);
}

static void conn_close(struct stream_conn *c, int code, const char *reason, bool flush)
{
	if (!conn_live(c))
		return;
	log_info("stream: cluster %s (%s): closing with %d: %s", c->id.cluster, httpd_ws_conn_addr(c->ws), code,
		 reason);
	httpd_ws_close(c->ws, code, reason, flush);
}

/* Encode ev (consumed) and queue it on c alone. */
static int send_event(struct stream_conn *c, struct proto_event *ev)
{
	struct httpd_ws_msg *m;
	int r;

	if (!conn_live(c)) {
		proto_event_free(ev);
		return -ENOTCONN;
	}
	m = stream_encode(ev);
	if (!m)
		return -EINVAL;
	r = stream_conn_send(c, m, 0);
	httpd_ws_msg_unref(m);
	return r;
}

/* Refuse ev (may be NULL) with an error event; fatal ones close with 1002. */
static void send_error(struct stream_conn *c, int err, const char *msg, const struct proto_event *ev, bool fatal)
{
	c->s->m.events_bad++;
	log_info("stream: cluster %s: refusing %s: %s", c->id.cluster, ev ? ev->type : "an event", msg);
	send_event(c, proto_event_new_error(STREAM_SOURCE, c->id.cluster, err, msg, ev ? ev->id : NULL,
					    ev ? ev->type : NULL, fatal));
	if (fatal)
		conn_close(c, HTTPD_WS_CLOSE_PROTOCOL, msg, true);
}

/* Durable answers ----------------------------------------------------------------- */

enum later_kind { LATER_ACK, LATER_RENEWAL };

struct later {
	struct stream_conn *c;          /* one reference */
	enum later_kind kind;
	char uid[PROTO_UUID_LEN + 1];
	uint64_t seq;
	char *request_id;               /* owned */
	char *cert;                     /* owned */
};

static void later_run(void *data)
{
	struct later *l = data;
	struct stream_conn *c = l->c;

	if (conn_live(c)) {
		if (l->kind == LATER_ACK) {
			if (send_event(c, proto_event_new_status_ack(STREAM_SOURCE, c->id.cluster, l->uid, l->seq)) ==
			    0)
				c->s->m.acks++;
		} else {
			send_event(c, proto_event_new_cert_renew_response(STREAM_SOURCE, c->id.cluster,
									  l->request_id, l->cert));
		}
	}
	conn_unref(c);
	free(l->request_id);
	free(l->cert);
	free(l);
}

static void ack_when_durable(struct stream_conn *c, const char *uid, uint64_t seq)
{
	struct later *l = xnew(struct later);

	l->c = conn_ref(c);
	l->kind = LATER_ACK;
	snprintf(l->uid, sizeof(l->uid), "%s", uid);
	l->seq = seq;
	hub_when_durable(c->s->hub, later_run, l);
}

/* Events ---------------------------------------------------------------------------- */

static void on_hello(struct stream_conn *c, const struct proto_event *ev)
{
	struct stream *s = c->s;
	struct proto_status_hash *hashes = NULL;
	unsigned major = 0, minor = 0, use = 0;
	struct stream_work *w;
	struct errbuf err = {""};
	char msg[160];
	size_t n = 0;
	json_t *lease;

	if (ev->kind != PROTO_EV_HELLO) {
		send_error(c, -EPROTO, "type: the first event on a connection must be " PROTO_TYPE_HELLO, ev, true);
		return;
	}
	if (proto_hello_version(ev, &major, &minor) < 0 || proto_version_negotiate(major, minor, &use) < 0) {
		snprintf(msg, sizeof(msg), "data.protocolVersion: %u.%u is not supported: this hub speaks %s", major,
			 minor, proto_version_string());
		send_error(c, -EPROTONOSUPPORT, msg, ev, true);
		return;
	}
	c->hello_done = true;
	c->minor = use;
	c->last_hb_ms = uv_now(hub_loop(s->hub));
	send_event(c, proto_event_new_hello(STREAM_SOURCE, c->id.cluster, "nave-hub " NAVE_VERSION, s->heartbeat_s));
	hashes = xcalloc(c->cl->nworks ? c->cl->nworks : 1, sizeof(*hashes));
	for (w = c->cl->works; w && n < proto_limits_default.max_resync_entries; w = w->cnext) {
		if (!w->hash[0])
			continue;
		snprintf(hashes[n].resourceid, sizeof(hashes[n].resourceid), "%s", w->uid);
		snprintf(hashes[n].hash, sizeof(hashes[n].hash), "%s", w->hash);
		n++;
	}
	send_event(c, proto_event_new_status_resync_request(STREAM_SOURCE, c->id.cluster, hashes, n));
	free(hashes);
	/* An authenticated connection is a lease renewal: Joined on the first one. */
	lease = json_pack("{s:i}", "leaseDurationSeconds", PROTO_LEASE_SECONDS_DEFAULT);
	if (hub_lease_renew(s->hub, c->id.cluster, lease, NULL, &err) < 0)
		log_warn("stream: cluster %s: cannot renew its lease: %s", c->id.cluster, err.msg);
	json_decref(lease);
	log_info("stream: cluster %s (%s): hello, protocol %u.%u", c->id.cluster, httpd_ws_conn_addr(c->ws), major,
		 minor);
}

static void on_spec_resync(struct stream_conn *c, const struct proto_event *ev)
{
	struct proto_resource_version *v = NULL;
	struct errbuf err = {""};
	size_t n = 0;
	int r;

	if ((r = proto_resync_versions_parse(ev->data, NULL, &err, &v, &n)) < 0) {
		send_error(c, r, err.msg, ev, false);
		return;
	}
	json_object_clear(c->known);
	for (size_t i = 0; i < n; i++)
		json_object_set_new(c->known, v[i].resourceid, json_integer((json_int_t)v[i].version * 2));
	free(v);
	stream_resync(c->s, c, true);
}

/* Remove our finalizer from ns/name: the agent confirmed the delete. */
static void release_work(struct stream *s, const char *ns, const char *name)
{
	struct errbuf err = {""};
	json_t *obj = NULL, *fin, *nf, *x;
	size_t i;
	int r;

	if (kapi_get(s->kapi, GROUP_WORK, RES_WORKS, ns, name, NULL, &obj) < 0)
		return;
	fin = kobj_get_path(obj, "metadata.finalizers");
	nf = json_array();
	json_array_foreach(fin, i, x)
		if (!json_is_string(x) || strcmp(json_string_value(x), STREAM_FINALIZER))
			json_array_append(nf, x);
	if (json_array_size(nf) != json_array_size(fin)) {
		json_object_set_new(json_object_get(obj, "metadata"), "finalizers", nf);
		nf = NULL;
		r = kapi_update(s->kapi, GROUP_WORK, RES_WORKS, obj, &stream_opts, &err, NULL);
		if (r < 0)
			log_error("manifestwork %s/%s: cannot remove the finalizer: %s", ns, name, err.msg);
	}
	json_decref(nf);
	json_decref(obj);
}

static void on_status(struct stream_conn *c, const struct proto_event *ev)
{
	struct stream *s = c->s;
	struct stream_work *w = stream_work_find(s, ev->resourceid);
	char seq[24], now[TIMEFMT_MAX], ns[HUB_CLUSTER_NAME_MAX + 1], *name = NULL;
	struct errbuf err = {""};
	json_t *obj = NULL, *st, *sync;
	int r;

	if (!w || w->cl != c->cl) {
		/* gone, or never this cluster's: acknowledged, not stored */
		ack_when_durable(c, ev->resourceid, ev->sequenceid);
		return;
	}
	if (ev->sequenceid <= w->seq) {
		s->m.superseded++;
		ack_when_durable(c, ev->resourceid, ev->sequenceid);
		return;
	}
	if ((r = kapi_get(s->kapi, GROUP_WORK, RES_WORKS, c->cl->name, w->name, &err, &obj)) < 0) {
		if (r == -ENOENT)
			ack_when_durable(c, ev->resourceid, ev->sequenceid);
		else
			send_error(c, r, err.msg, ev, false);
		return;
	}
	st = json_is_object(ev->data) ? json_copy(ev->data) : json_object();
	snprintf(seq, sizeof(seq), "%" PRIu64, ev->sequenceid);
	time_format_rfc3339(time_now_us(), now);
	sync = json_pack("{s:s, s:s, s:I, s:s}", "sequenceID", seq, "statusHash", ev->statushash, "generation",
			 (json_int_t)ev->resourceversion, "lastUpdateTime", now);
	if (ev->has_deletiontimestamp) {
		time_format_rfc3339(ev->deletiontimestamp_us, now);
		json_object_set_new(sync, "deletionTimestamp", json_string(now));
	}
	json_object_set_new(st, STREAM_STATUS_KEY, sync);
	json_object_set_new(obj, "status", st);
	r = kapi_update_status(s->kapi, GROUP_WORK, RES_WORKS, obj, &stream_opts, &err, NULL);
	json_decref(obj);
	if (r < 0) {
		log_error("manifestwork %s/%s: cannot store the status from the agent: %s", c->cl->name, w->name,
			  err.msg);
		send_error(c, -EIO, "the hub could not store this status; it will be acknowledged once stored", ev,
			   false);
		return;
	}
	s->m.statuses++;
	/* the subscription refreshed w from the stored object (and may free it
	 * below, when the work goes) */
	w = stream_work_find(s, ev->resourceid);
	if (w) {
		w->seq = ev->sequenceid;
		snprintf(w->hash, sizeof(w->hash), "%s", ev->statushash);
		if (ev->has_deletiontimestamp && w->deleting) {
			w->agent_deleted = true;
			snprintf(ns, sizeof(ns), "%s", c->cl->name);
			name = xstrdup(w->name);
			release_work(s, ns, name);
			free(name);
		}
	}
	ack_when_durable(c, ev->resourceid, ev->sequenceid);
}

static void on_lease(struct stream_conn *c, const struct proto_event *ev)
{
	struct errbuf err = {""};
	int r;

	c->s->m.leases++;
	if ((r = hub_lease_renew(c->s->hub, c->id.cluster, ev->data, NULL, &err)) < 0)
		send_error(c, r == -EACCES ? -EACCES : -EINVAL, err.msg, ev, false);
}

static void on_renew(struct stream_conn *c, const struct proto_event *ev)
{
	struct stream *s = c->s;
	const char *pem = json_string_value(json_object_get(ev->data, "request"));
	uint64_t now = uv_now(hub_loop(s->hub));
	struct errbuf err = {""};
	char *cert = NULL;
	struct later *l;
	int r;

	if (c->last_renew_ms && now - c->last_renew_ms < STREAM_RENEW_MIN_MS) {
		send_error(c, -EAGAIN, "request: one certificate renewal per 10 s per connection; retry later", ev,
			   false);
		return;
	}
	c->last_renew_ms = now;
	if (!pem || (r = hub_cert_renew(s->hub, &c->id, pem, strlen(pem), &cert, &err)) < 0) {
		send_error(c, -EPERM, err.msg[0] ? err.msg : "request: a PEM CERTIFICATE REQUEST is required", ev,
			   false);
		return;
	}
	s->m.renewals++;
	l = xnew(struct later);
	l->c = conn_ref(c);
	l->kind = LATER_RENEWAL;
	l->request_id = xstrdup(ev->id);
	l->cert = xasprintf("%s%s%s", cert, cert[strlen(cert) - 1] == '\n' ? "" : "\n", hub_ca_pem(s->hub));
	free(cert);
	hub_when_durable(s->hub, later_run, l);
}

static void handle(struct stream_conn *c, const char *msg, size_t len)
{
	struct errbuf err = {""};
	struct proto_event *ev = NULL;
	char why[200];
	int r;

	c->s->m.events_in++;
	r = proto_event_decode(msg, len, NULL, &err, &ev);
	if (r < 0) {
		struct proto_event *reply = proto_error_reply(msg, len, NULL, r, err.msg, STREAM_SOURCE, c->id.cluster);
		bool fatal = r == -EPROTONOSUPPORT;

		c->s->m.events_bad++;
		log_info("stream: cluster %s: refusing an event: %s", c->id.cluster, err.msg);
		send_event(c, reply);
		if (fatal)
			conn_close(c, HTTPD_WS_CLOSE_PROTOCOL, err.msg, true);
		return;
	}
	c->oversize_streak = 0;
	if (ev->clustername && strcmp(ev->clustername, c->id.cluster)) {
		snprintf(why, sizeof(why), "clustername: \"%.64s\" is not this connection's cluster \"%s\"",
			 ev->clustername, c->id.cluster);
		send_error(c, -EPERM, why, ev, false);
		goto out;
	}
	if (!(proto_event_kind_senders(ev->kind) & PROTO_PEER_AGENT)) {
		snprintf(why, sizeof(why), "type: %.100s is sent by the hub, not by agents", ev->type);
		send_error(c, -EPERM, why, ev, false);
		goto out;
	}
	if (!c->hello_done) {
		on_hello(c, ev);
		goto out;
	}
	switch (ev->kind) {
	case PROTO_EV_SPEC_RESYNC_REQUEST:
		on_spec_resync(c, ev);
		break;
	case PROTO_EV_STATUS_UPDATE:
	case PROTO_EV_STATUS_RESYNC_RESPONSE:
		on_status(c, ev);
		break;
	case PROTO_EV_LEASE_UPDATE:
		on_lease(c, ev);
		break;
	case PROTO_EV_CERT_RENEW_REQUEST:
		on_renew(c, ev);
		break;
	case PROTO_EV_ERROR:
		log_info("stream: cluster %s: the agent refused an event: %.300s", c->id.cluster, msg);
		break;
	case PROTO_EV_HELLO:
	case PROTO_EV_HEARTBEAT:
	default:
		break;
	}
out:
	proto_event_free(ev);
}

/* The turn's messages, handled before the group commit (see the top). */
static void on_check(uv_check_t *h)
{
	struct stream *s = h->data;

	while (s->ready) {
		struct stream_conn *c = s->ready;
		struct stream_in *i;

		s->ready = c->ready_next;
		c->ready_next = NULL;
		c->in_ready = false;
		conn_ref(c);
		while ((i = c->in_head)) {
			c->in_head = i->next;
			if (!c->in_head)
				c->in_tail = NULL;
			if (conn_live(c))
				handle(c, i->msg, i->len);
			free(i->msg);
			free(i);
		}
		conn_unref(c);
	}
}

/* httpd_ws callbacks ------------------------------------------------------------------ */

static int ws_open(void *data, struct httpd_ws_conn *wc, const struct httpd_ws_peer *peer, const char **ret_msg)
{
	static char why[ERRBUF_MAX];
	struct stream *s = data;
	struct hub_identity id;
	struct errbuf err = {""};
	struct stream_conn *c;
	uint64_t now = uv_now(hub_loop(s->hub));

	if (s->stopping) {
		*ret_msg = "the hub is shutting down";
		return 503;
	}
	if (!peer->cn) {
		s->m.refused++;
		*ret_msg = "Unauthorized: the agent stream needs a client certificate issued by this hub";
		return 401;
	}
	if (hub_cluster_cert_check(s->hub, peer->cn, peer->serial, &id, &err) < 0) {
		s->m.refused++;
		log_info("stream: refusing %s: %s", peer->addr, err.msg);
		snprintf(why, sizeof(why), "%s", err.msg);
		*ret_msg = why;
		return 401;
	}
	{
		struct stream_cluster *cl = stream_cluster_find(s, id.cluster);
		unsigned n = 0;

		for (struct stream_conn *o = cl ? cl->conns : NULL; o; o = o->cnext)
			n++;
		if (n >= STREAM_CLUSTER_CONNS_MAX) {
			s->m.refused++;
			snprintf(why, sizeof(why), "cluster %s already has %u open connections; retry later",
				 id.cluster, n);
			log_warn("stream: refusing %s: %s", peer->addr, why);
			*ret_msg = why;
			return 429;
		}
	}
	c = xnew(struct stream_conn);
	c->s = s;
	c->ws = wc;
	c->refs = 1;
	c->id = id;
	c->known = json_object();
	c->opened_ms = c->last_rx_ms = now;
	c->cl = stream_cluster_get(s, id.cluster);
	c->cnext = c->cl->conns;
	if (c->cl->conns)
		c->cl->conns->cprev = c;
	c->cl->conns = c;
	c->gnext = s->conns;
	if (s->conns)
		s->conns->gprev = c;
	s->conns = c;
	s->nconns++;
	s->m.accepted++;
	httpd_ws_conn_set_data(wc, c);
	log_info("stream: cluster %s connected from %s (certificate %s)", id.cluster, peer->addr, id.serial);
	return 0;
}

static void ws_message(void *data, struct httpd_ws_conn *wc, char *msg, size_t len)
{
	struct stream *s = data;
	struct stream_conn *c = httpd_ws_conn_get_data(wc);
	struct stream_in *i;

	if (!c) {
		free(msg);
		return;
	}
	c->last_rx_ms = uv_now(hub_loop(s->hub));
	i = xnew(struct stream_in);
	i->msg = msg;
	i->len = len;
	if (c->in_tail)
		c->in_tail->next = i;
	else
		c->in_head = i;
	c->in_tail = i;
	if (!c->in_ready) {
		c->in_ready = true;
		c->ready_next = s->ready;
		s->ready = c;
	}
}

static void ws_oversize(void *data, struct httpd_ws_conn *wc, size_t len)
{
	struct stream *s = data;
	struct stream_conn *c = httpd_ws_conn_get_data(wc);
	char msg[160];

	if (!c)
		return;
	c->last_rx_ms = uv_now(hub_loop(s->hub));
	snprintf(msg, sizeof(msg), "message: %zu bytes is over the hub's limit of %zu bytes (max_event_bytes)", len,
		 proto_limits_default.max_event_bytes);
	send_error(c, -EMSGSIZE, msg, NULL, false);
	if (++c->oversize_streak >= STREAM_OVERSIZE_CLOSE)
		conn_close(c, HTTPD_WS_CLOSE_TOO_BIG, "repeated messages over the size limit", true);
}

static void ws_drain(void *data, struct httpd_ws_conn *wc)
{
	struct stream_conn *c = httpd_ws_conn_get_data(wc);

	if (c && c->overflow && c->hello_done && conn_live(c)) {
		log_info("stream: cluster %s: send queue drained; resyncing what was held back", c->id.cluster);
		stream_resync(c->s, c, false);
	}
}

static void ws_close(void *data, struct httpd_ws_conn *wc)
{
	struct stream *s = data;
	struct stream_conn *c = httpd_ws_conn_get_data(wc);

	if (!c)
		return;
	httpd_ws_conn_set_data(wc, NULL);
	c->ws = NULL;
	in_free(c);
	if (c->in_ready) {
		struct stream_conn **pp;

		for (pp = &s->ready; *pp; pp = &(*pp)->ready_next)
			if (*pp == c) {
				*pp = c->ready_next;
				break;
			}
		c->in_ready = false;
	}
	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else
		c->cl->conns = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	if (c->gprev)
		c->gprev->gnext = c->gnext;
	else
		s->conns = c->gnext;
	if (c->gnext)
		c->gnext->gprev = c->gprev;
	s->nconns--;
	s->m.closed++;
	log_info("stream: cluster %s disconnected", c->id.cluster);
	stream_cluster_release(s, c->cl);
	c->cl = NULL;
	conn_unref(c);
}

static const struct httpd_ws_callbacks stream_ws_cbs = {
	.on_open = ws_open,
	.on_message = ws_message,
	.on_oversize = ws_oversize,
	.on_drain = ws_drain,
	.on_close = ws_close,
};

/* Timers and changes -------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
	struct stream *s = t->data;
	uint64_t now = uv_now(hub_loop(s->hub)), hb = (uint64_t)s->heartbeat_s * 1000;
	struct httpd_ws_msg *beat = NULL;
	struct stream_conn *c, *next;
	char why[96];

	for (c = s->conns; c; c = next) {
		next = c->gnext;
		if (!conn_live(c))
			continue;
		if (now - c->last_rx_ms > STREAM_DEAD_FACTOR * hb) {
			snprintf(why, sizeof(why), "no event from the agent for %u s", STREAM_DEAD_FACTOR * s->heartbeat_s);
			s->m.dead_closes++;
			conn_close(c, HTTPD_WS_CLOSE_GOING_AWAY, why, false);
			continue;
		}
		if (c->overflow && now - c->overflow_ms > STREAM_DEAD_FACTOR * hb) {
			snprintf(why, sizeof(why), "the hub's send queue stayed full for %u s",
				 STREAM_DEAD_FACTOR * s->heartbeat_s);
			s->m.overflow_closes++;
			conn_close(c, HTTPD_WS_CLOSE_TRY_AGAIN, why, false);
			continue;
		}
		if (!c->hello_done || now - c->last_hb_ms < hb)
			continue;
		if (!beat && !(beat = stream_encode(proto_event_new_heartbeat(STREAM_SOURCE, NULL))))
			return;
		stream_conn_send(c, beat, 0);
		c->last_hb_ms = now;
	}
	httpd_ws_msg_unref(beat);
}

static bool accepts(const json_t *mc)
{
	return mc && json_is_true(kobj_get_path(mc, "spec.hubAcceptsClient"));
}

/* Close the connections of cluster (those using serial only, if given). */
static void close_cluster(struct stream *s, const char *cluster, const char *serial, const char *why)
{
	struct stream_cluster *cl = stream_cluster_find(s, cluster);
	struct stream_conn *c;

	if (!cl)
		return;
	for (c = cl->conns; c; c = c->cnext) {
		if (serial && strcmp(c->id.serial, serial))
			continue;
		if (conn_live(c))
			s->m.deny_closes++;
		conn_close(c, HTTPD_WS_CLOSE_POLICY, why, false);
	}
}

static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	struct stream *s = data;
	const json_t *obj = new_obj ? new_obj : old_obj;
	const char *name = kobj_name(obj);

	if (!strcmp(def->group, GROUP_WORK) && !strcmp(def->resource, RES_WORKS)) {
		stream_works_change(s, type, old_obj, new_obj);
	} else if (!strcmp(def->group, GROUP_CLUSTER) && !strcmp(def->resource, RES_CLUSTERS) && name) {
		if (type == KAPI_EVENT_DELETED) {
			close_cluster(s, name, NULL, "the cluster was deleted from the hub");
			stream_works_cluster_gone(s, name);
		} else if (!accepts(new_obj)) {
			close_cluster(s, name, NULL, "the cluster is denied (spec.hubAcceptsClient is false)");
		}
	} else if (!strcmp(def->group, GROUP_NAVE) && !strcmp(def->resource, RES_REVOKED) && name &&
		   type != KAPI_EVENT_DELETED) {
		const char *cluster = json_string_value(kobj_get_path(obj, "spec.cluster"));

		if (cluster)
			close_cluster(s, cluster, name, "the certificate was revoked");
	}
}

/* Start and stop ------------------------------------------------------------------------ */

static void handle_closed(uv_handle_t *hd)
{
	struct stream *s = hd->data;

	if (--s->handles_open == 0)
		free(s);
}

/* See stream.h. */
int stream_start(struct hub *h, struct httpd *httpd, struct errbuf *err)
{
	struct httpd_ws_limits lim = {0};
	struct stream *s;
	uv_loop_t *loop = hub_loop(h);
	int r;

	if (stream_cur)
		return errbuf_set(err, -EBUSY, "the agent stream is already running");
	s = xnew(struct stream);
	s->hub = h;
	s->kapi = hub_kapi(h);
	s->max_connections = stream_cfg.max_connections;
	s->queue_bytes = stream_cfg.queue_bytes;
	s->heartbeat_s = stream_cfg.heartbeat_s;
	if ((r = stream_works_load(s, err)) < 0)
		goto fail;
	if ((r = kapi_server_subscribe(s->kapi, on_change, s, &s->sub)) < 0) {
		errbuf_set(err, r, "cannot subscribe to changes");
		goto fail;
	}
	lim.max_message = proto_limits_default.max_event_bytes;
	lim.max_queue_bytes = s->queue_bytes;
	lim.max_queue_msgs = STREAM_QUEUE_MSGS;
	lim.max_connections = s->max_connections;
	if ((r = httpd_ws_register(httpd, PROTO_WS_PATH, PROTO_WS_SUBPROTOCOL, &stream_ws_cbs, &lim, s, &s->ep)) < 0) {
		errbuf_set(err, r, "cannot serve %s: %s", PROTO_WS_PATH, strerror(-r));
		kapi_server_unsubscribe(s->kapi, s->sub);
		goto fail;
	}
	uv_check_init(loop, &s->check);
	uv_timer_init(loop, &s->tick);
	s->check.data = s->tick.data = s;
	s->handles_open = 2;
	uv_check_start(&s->check, on_check);
	uv_timer_start(&s->tick, on_tick, STREAM_TICK_MS, STREAM_TICK_MS);
	stream_cur = s;
	log_info("stream: serving agents at %s (at most %u connections, %zu bytes queued each, heartbeat %u s)",
		 PROTO_WS_PATH, s->max_connections, s->queue_bytes, s->heartbeat_s);
	return 0;
fail:
	stream_works_free(s);
	free(s);
	return r;
}

/* See stream.h. */
void stream_stop(struct hub *h)
{
	struct stream *s = stream_cur;

	if (!s || s->hub != h)
		return;
	stream_cur = NULL;
	s->stopping = true;
	s->sub = kapi_server_unsubscribe(s->kapi, s->sub);
	httpd_ws_endpoint_close(s->ep, HTTPD_WS_CLOSE_GOING_AWAY, "hub shutting down");
	stream_works_free(s);
	uv_timer_stop(&s->tick);
	uv_check_stop(&s->check);
	uv_close((uv_handle_t *)&s->tick, handle_closed);
	uv_close((uv_handle_t *)&s->check, handle_closed);
}

/* See stream.h. */
void stream_metrics(struct buf *b)
{
	struct stream *s = stream_cur;
	struct stream_metrics *m;
	size_t queued = 0;

	if (!s)
		return;
	m = &s->m;
	for (struct stream_conn *c = s->conns; c; c = c->gnext)
		if (c->ws)
			queued += httpd_ws_queued_bytes(c->ws);
	buf_printf(b,
		   "# HELP nave_hub_stream_connections Agent stream connections open.\n"
		   "# TYPE nave_hub_stream_connections gauge\nnave_hub_stream_connections %u\n"
		   "# HELP nave_hub_stream_connections_total Agent stream upgrades, by result.\n"
		   "# TYPE nave_hub_stream_connections_total counter\n"
		   "nave_hub_stream_connections_total{result=\"accepted\"} %" PRIu64 "\n"
		   "nave_hub_stream_connections_total{result=\"refused\"} %" PRIu64 "\n"
		   "# HELP nave_hub_stream_closes_total Agent connections closed by the hub, by reason.\n"
		   "# TYPE nave_hub_stream_closes_total counter\n"
		   "nave_hub_stream_closes_total{reason=\"dead_peer\"} %" PRIu64 "\n"
		   "nave_hub_stream_closes_total{reason=\"queue_full\"} %" PRIu64 "\n"
		   "nave_hub_stream_closes_total{reason=\"denied\"} %" PRIu64 "\n"
		   "# HELP nave_hub_stream_events_received_total Events received from agents.\n"
		   "# TYPE nave_hub_stream_events_received_total counter\n"
		   "nave_hub_stream_events_received_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_events_refused_total Events answered with an error event.\n"
		   "# TYPE nave_hub_stream_events_refused_total counter\n"
		   "nave_hub_stream_events_refused_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_spec_events_total Spec events queued to agents.\n"
		   "# TYPE nave_hub_stream_spec_events_total counter\nnave_hub_stream_spec_events_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_held_back_total Events held back by a full send queue.\n"
		   "# TYPE nave_hub_stream_held_back_total counter\nnave_hub_stream_held_back_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_statuses_total Work statuses stored from agents.\n"
		   "# TYPE nave_hub_stream_statuses_total counter\nnave_hub_stream_statuses_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_statuses_superseded_total Statuses acknowledged without storing "
		   "(older sequenceid).\n"
		   "# TYPE nave_hub_stream_statuses_superseded_total counter\n"
		   "nave_hub_stream_statuses_superseded_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_acks_total Status acknowledgements queued.\n"
		   "# TYPE nave_hub_stream_acks_total counter\nnave_hub_stream_acks_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_leases_total Lease updates received.\n"
		   "# TYPE nave_hub_stream_leases_total counter\nnave_hub_stream_leases_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_renewals_total Certificates renewed over the stream.\n"
		   "# TYPE nave_hub_stream_renewals_total counter\nnave_hub_stream_renewals_total %" PRIu64 "\n"
		   "# HELP nave_hub_stream_queued_bytes Bytes queued to agents, summed over connections.\n"
		   "# TYPE nave_hub_stream_queued_bytes gauge\nnave_hub_stream_queued_bytes %zu\n",
		   s->nconns, m->accepted, m->refused, m->dead_closes, m->overflow_closes, m->deny_closes, m->events_in,
		   m->events_bad, m->spec_sent, m->spec_held, m->statuses, m->superseded, m->acks, m->leases,
		   m->renewals, queued);
}
