/* hub_conn.c - the websocket client to the hub on libwebsockets 4.1.6 and
 * the caller's libuv loop; see hub_conn.h and ../shared/reference/libraries.md.
 *
 * Layout:
 * - struct hub_conn is the long-lived manager (state, queue, timers,
 *   backoff); struct hub_attempt is one connection attempt with its own
 *   lws context. An attempt is detached from the manager when it ends (its
 *   hc pointer cleared) and then reaped: lws_context_destroy once from a uv
 *   timer (never inside an lws callback), then polled until lws has closed
 *   its uv handles (they carry the context as their data), then destroyed
 *   the second time and freed, as common/httpd.c does.
 * - TLS: lws's _mem options for client material are not relied upon
 *   (their handling of EC keys varies by version); the SSL_CTX is filled in
 *   LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS with OpenSSL calls:
 *   the hub CA into the store (and, with LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS,
 *   nothing else), our certificate and key. lws checks the hub's name
 *   against the URL's host.
 * - Writes only from CLIENT_WRITEABLE, one queued message per callback,
 *   each its own buffer with LWS_PRE headroom (lws_write masks the payload
 *   in place on a client: a buffer is never written twice). Closing from
 *   our side is also done from WRITEABLE, after what is queued: the close
 *   frame is written by hand (opcode 4), because lws 4.1.6 calls
 *   CLIENT_CLOSED and kills the wsi before sending the frame of
 *   lws_close_reason() when a client callback returns -1; the hub's
 *   answering close, or a one-second timeout, then ends the connection.
 * - Contexts: lws 4.1.6 closes a context's /dev/urandom descriptor in both
 *   stages of a destroy on a foreign loop, so a context created between the
 *   stages may lose its random source; no attempt starts while an old
 *   context is being destroyed (a few milliseconds).
 * - Reads: fragments are appended to a capped buffer until the final
 *   fragment of the message (lws_is_final_fragment and no remaining
 *   payload); rx_buffer_size is above a TLS record (see httpd.c "TLS reads").
 * - A 250 ms tick drives the hello timeout, heartbeats and dead-peer
 *   detection; a second timer waits out the reconnect backoff.
 * Everything runs on the loop; nothing blocks.
 */
#include "hub_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "alloc.h"
#include "backoff.h"
#include "buf.h"
#include "codec.h"
#include "credentials.h"
#include "log.h"
#include "nave_config.h"
#include "timefmt.h"

#define HC_TICK_MS 250
#define HC_RX_BUFFER (32 * 1024)
#define HC_CONNECT_TIMEOUT_S 15
#define HC_REAP_TICK_MS 1
#define HC_REAP_GIVE_UP_MS 10000
#define HC_CLOSE_GRACE_MS 3000     /* a closing websocket's close handshake */
#define HC_REAP_WAIT_MS 5          /* poll for a context destroy to finish */
#define HC_CLOSE_ACK_S 1           /* wait for the hub's answering close */
#define HC_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)
#define HC_MIN_DELAY_MS 50
#define HC_WHY_MAX 160

enum hc_state {
	HC_IDLE,       /* stopped */
	HC_WAITING,    /* backoff timer running */
	HC_CONNECTING, /* TCP/TLS/upgrade in progress */
	HC_OPEN,       /* upgraded; our hello sent, waiting for the hub's */
	HC_UP,         /* hellos exchanged */
};

struct hc_msg {
	struct hc_msg *next;
	size_t len;
	unsigned char data[];  /* LWS_PRE + len */
};

struct hub_attempt {
	struct hub_conn *hc;          /* borrowed; NULL once detached */
	uv_loop_t *loop;              /* borrowed */
	struct lws_context *ctx;      /* owned */
	struct lws *wsi;              /* borrowed from lws; NULL when closed */
	struct lws_protocols protocols[2];
	lws_retry_bo_t retry;
	char *ca_pem, *cert_pem, *key_pem; /* owned copies for the SSL_CTX */
	bool opened;                  /* the websocket was established */
	int close_code;               /* a close we asked for; 0 none */
	char close_reason[64];
	bool close_sent;              /* its close frame is written */
	bool wsi_alive;               /* lws has a wsi for us (until WSI_DESTROY) */
	int peer_close_code;          /* from the hub's close frame; 0 none */
	char peer_close_reason[124];
	bool ended;
	uv_timer_t reaper;
	bool reaper_started;
	bool destroyed_once;
	uint64_t reap_start;
};

struct hub_conn {
	uv_loop_t *loop;              /* borrowed */
	char *url;                    /* owned */
	char *host;                   /* owned */
	int port;
	char *cluster;                /* owned */
	char *source;                 /* owned: "nave-klusterlet/<cluster>" */
	char *software;               /* owned */
	char *ca_pem, *cert_pem, *key_pem; /* owned */
	struct proto_limits lim;
	uint64_t backoff_max_ms, backoff_denied_ms, hello_timeout_ms;
	size_t max_queue_bytes, max_queue_events;
	struct backoff bo;
	bool denied;                  /* the last close was 1008: longer cap */
	struct hub_conn_callbacks cb;
	void *userdata;

	enum hc_state state;
	bool running;
	struct hub_attempt *att;      /* the current attempt or NULL */
	uv_timer_t retry_timer;
	uv_timer_t tick;
	int handles_open;             /* uv handles still to close before free */
	bool freeing;
	bool reconnect_now;

	struct hc_msg *q_head, *q_tail;
	size_t q_bytes, q_events;

	struct buf rx;
	bool rx_discard;
	uint64_t open_ms, last_rx_ms, last_hb_ms;
	unsigned hb_s;
	unsigned minor;
	struct hub_conn_stats stats;
};

/* The attempt whose lws context is being created (see the SSL callback). */
static struct hub_attempt *creating_attempt;
/* lws contexts of this file being destroyed. lws 4.1.6 closes a context's
 * /dev/urandom descriptor in both stages of a destroy on a foreign loop, so
 * a context created in between can get that descriptor number and lose it
 * ("Unable to read from random dev"): no context is created while one is
 * being destroyed. */
static unsigned reaping_contexts;

static void attempt_end(struct hub_attempt *att, int code, const char *why);
static void schedule_retry(struct hub_conn *hc);

/* lws logging into ours --------------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
	char buf[512];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (level & LLL_ERR)
		log_warn("hub connection (lws): %s", buf);
	else
		log_debug("hub connection (lws): %s", buf);
}

/* The queue ----------------------------------------------------------------- */

static void queue_clear(struct hub_conn *hc)
{
	while (hc->q_head) {
		struct hc_msg *m = hc->q_head;

		hc->q_head = m->next;
		free(m);
	}
	hc->q_tail = NULL;
	hc->q_bytes = 0;
	hc->q_events = 0;
}

/* Ask for a close of att with code: from WRITEABLE when the websocket is
 * open (the close frame carries the code), at once otherwise. */
static void attempt_close(struct hub_attempt *att, int code, const char *reason)
{
	if (att->ended || att->close_code)
		return;
	att->close_code = code;
	snprintf(att->close_reason, sizeof(att->close_reason), "%s", reason ? reason : "");
	if (att->wsi && att->opened)
		lws_callback_on_writable(att->wsi);
	else
		attempt_end(att, code, reason);
}

static void request_close(struct hub_conn *hc, int code, const char *reason)
{
	if (hc->att)
		attempt_close(hc->att, code, reason);
}

static int queue_push(struct hub_conn *hc, const char *json, size_t len)
{
	struct hc_msg *m;

	if (hc->state < HC_OPEN || !hc->att || !hc->att->wsi || hc->att->close_code)
		return -ENOTCONN;
	if (hc->q_events + 1 > hc->max_queue_events || hc->q_bytes + len > hc->max_queue_bytes) {
		log_warn("hub connection: outgoing queue full (%zu events, %zu bytes): closing with "
			 "1013; the resync of the next connection catches up", hc->q_events,
			 hc->q_bytes);
		queue_clear(hc);
		request_close(hc, HUB_CONN_CLOSE_TRY_AGAIN, "outgoing queue full");
		return -ENOBUFS;
	}
	m = xmalloc(sizeof(*m) + LWS_PRE + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, json, len);
	if (hc->q_tail)
		hc->q_tail->next = m;
	else
		hc->q_head = m;
	hc->q_tail = m;
	hc->q_bytes += len;
	hc->q_events++;
	lws_callback_on_writable(hc->att->wsi);
	return 0;
}

/* Queue ev regardless of the hello state (hello and errors go out early). */
static int send_event_early(struct hub_conn *hc, const struct proto_event *ev)
{
	struct errbuf err = { "" };
	char *json = NULL;
	size_t len = 0;
	int r;

	r = proto_event_encode_limits(ev, &hc->lim, &err, &json, &len);
	if (r < 0) {
		log_error("hub connection: cannot encode %s: %s", ev->type, err.msg);
		return r;
	}
	r = queue_push(hc, json, len);
	free(json);
	return r;
}

/* Incoming events --------------------------------------------------------------- */

static void send_error(struct hub_conn *hc, int code, const char *msg, const char *buf, size_t len,
		       bool fatal)
{
	struct proto_event *ev;

	ev = buf ? proto_error_reply(buf, len, &hc->lim, code, msg, hc->source, hc->cluster)
		 : proto_event_new_error(hc->source, hc->cluster, code, msg, NULL, NULL, fatal);
	if (ev && fatal && ev->data)
		json_object_set_new(ev->data, "fatal", json_true());
	if (ev) {
		send_event_early(hc, ev);
		hc->stats.errors_sent++;
	}
	proto_event_free(ev);
}

static void on_hello(struct hub_conn *hc, const struct proto_event *ev)
{
	unsigned major = 0, minor = 0, nminor = 0;
	json_t *hb = json_object_get(ev->data, "heartbeatSeconds");
	char msg[160];

	if (proto_hello_version(ev, &major, &minor) < 0 ||
	    proto_version_negotiate(major, minor, &nminor) < 0) {
		snprintf(msg, sizeof(msg), "data.protocolVersion: the hub speaks %u.%u, this agent %s",
			 major, minor, proto_version_string());
		log_error("hub connection: %s: closing", msg);
		send_error(hc, -EPROTONOSUPPORT, msg, NULL, 0, true);
		request_close(hc, HUB_CONN_CLOSE_PROTOCOL, "unsupported version");
		return;
	}
	hc->hb_s = PROTO_HEARTBEAT_SECONDS_DEFAULT;
	if (json_is_integer(hb) && json_integer_value(hb) >= 1 &&
	    json_integer_value(hb) <= PROTO_HEARTBEAT_SECONDS_MAX)
		hc->hb_s = (unsigned)json_integer_value(hb);
	hc->minor = nminor;
	hc->state = HC_UP;
	hc->denied = false;
	backoff_reset(&hc->bo);
	hc->last_hb_ms = uv_now(hc->loop);
	hc->stats.ups++;
	hc->stats.refusals = 0;
	log_info("hub connection: up to %s (protocol %u.%u, heartbeat %us)", hc->url, major, nminor,
		 hc->hb_s);
	if (hc->cb.up)
		hc->cb.up(hc->userdata, hc->hb_s, nminor);
}

static void handle_message(struct hub_conn *hc, const char *buf, size_t len)
{
	struct proto_event *ev = NULL;
	struct errbuf err = { "" };
	int r;

	hc->last_rx_ms = uv_now(hc->loop);
	hc->stats.last_rx_us = time_now_us();
	hc->stats.events_in++;
	r = proto_event_decode(buf, len, &hc->lim, &err, &ev);
	if (r < 0) {
		log_warn("hub connection: refused an event: %s", err.msg);
		/* Never answer an error event with an error event. */
		if (!memmem(buf, len, PROTO_TYPE_ERROR, strlen(PROTO_TYPE_ERROR)))
			send_error(hc, r, err.msg, buf, len, r == -EPROTONOSUPPORT);
		if (r == -EPROTONOSUPPORT)
			request_close(hc, HUB_CONN_CLOSE_PROTOCOL, "unsupported version");
		return;
	}
	if (!(proto_event_kind_senders(ev->kind) & PROTO_PEER_HUB)) {
		snprintf(err.msg, sizeof(err.msg), "type: %s is not sent by a hub", ev->type);
		send_error(hc, -EPERM, err.msg, buf, len, false);
		goto out;
	}
	if (ev->clustername && strcmp(ev->clustername, hc->cluster) != 0) {
		snprintf(err.msg, sizeof(err.msg), "clustername: \"%s\" is not this cluster (%s)",
			 ev->clustername, hc->cluster);
		if (ev->kind != PROTO_EV_ERROR)
			send_error(hc, -EPERM, err.msg, buf, len, false);
		goto out;
	}
	if (hc->state != HC_UP && ev->kind != PROTO_EV_HELLO) {
		snprintf(err.msg, sizeof(err.msg), "type: %s before the hub's hello", ev->type);
		log_warn("hub connection: %s: closing", err.msg);
		if (ev->kind != PROTO_EV_ERROR)
			send_error(hc, -EPROTO, err.msg, buf, len, true);
		request_close(hc, HUB_CONN_CLOSE_PROTOCOL, "protocol violation");
		goto out;
	}
	switch (ev->kind) {
	case PROTO_EV_HELLO:
		if (hc->state == HC_UP)
			log_warn("hub connection: a second hello from the hub: ignored");
		else
			on_hello(hc, ev);
		break;
	case PROTO_EV_HEARTBEAT:
		hc->stats.heartbeats_in++;
		break;
	default:
		if (hc->cb.event)
			hc->cb.event(hc->userdata, ev);
		break;
	}
out:
	proto_event_free(ev);
}

/* lws callback ---------------------------------------------------------------- */

static int load_pem_certs(X509_STORE *store, SSL_CTX *ctx, const char *pem, bool chain)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	if (!bio)
		return -ENOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		int ok;

		if (store)
			ok = X509_STORE_add_cert(store, x) == 1;
		else if (n == 0)
			ok = SSL_CTX_use_certificate(ctx, x) == 1;
		else
			ok = chain && SSL_CTX_add_extra_chain_cert(ctx, x) == 1;
		/* add_extra_chain_cert takes ownership on success. */
		if (store || n == 0 || !ok)
			X509_free(x);
		if (!ok) {
			BIO_free(bio);
			return -EINVAL;
		}
		n++;
	}
	ERR_clear_error();
	BIO_free(bio);
	return n > 0 ? 0 : -EINVAL;
}

static int load_tls(struct hub_attempt *att, SSL_CTX *ctx)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	EVP_PKEY *pk;
	BIO *bio;
	int r;

	r = load_pem_certs(store, ctx, att->ca_pem, false);
	if (r < 0) {
		log_error("hub connection: the hub CA of the credential does not load");
		return r;
	}
	r = load_pem_certs(NULL, ctx, att->cert_pem, true);
	if (r < 0) {
		log_error("hub connection: the client certificate of the credential does not load");
		return r;
	}
	bio = BIO_new_mem_buf(att->key_pem, -1);
	pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!pk || SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		EVP_PKEY_free(pk);
		ERR_clear_error();
		log_error("hub connection: the key of the credential does not load or does not "
			  "match the certificate");
		return -EINVAL;
	}
	EVP_PKEY_free(pk);
	return 0;
}

static struct hub_attempt *wsi_attempt(struct lws *wsi)
{
	struct lws_context *ctx = wsi ? lws_get_context(wsi) : NULL;

	return ctx ? lws_context_user(ctx) : NULL;
}

static int hc_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len)
{
	struct hub_attempt *att;
	struct hub_conn *hc;

	if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS) {
		att = creating_attempt ? creating_attempt : wsi_attempt(wsi);
		if (!att)
			return 1;
		return load_tls(att, user) < 0 ? 1 : 0;
	}
	att = wsi_attempt(wsi);
	hc = att ? att->hc : NULL;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		char why[HC_WHY_MAX];
		unsigned status = wsi ? lws_http_client_http_response(wsi) : 0;
		int code = 1006;

		if (status == 401 || status == 403) {
			/* Refused before the upgrade: a denied, revoked or unknown
			 * certificate; retry as after a 1008 (longer cap). */
			code = HUB_CONN_CLOSE_POLICY;
			snprintf(why, sizeof(why), "the hub refused the upgrade with HTTP %u (is the "
				 "cluster denied, or its certificate revoked?)", status);
		} else if (status && status != 101) {
			snprintf(why, sizeof(why), "the hub answered the upgrade with HTTP %u", status);
		} else {
			snprintf(why, sizeof(why), "%s", in ? (const char *)in : "connection failed");
		}
		if (att) {
			att->wsi = NULL;
			attempt_end(att, code, why);
		}
		return 0;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		struct proto_event *hello;

		if (!hc)
			return -1;
		att->opened = true;
		hc->state = HC_OPEN;
		hc->open_ms = uv_now(hc->loop);
		hc->last_rx_ms = hc->open_ms;
		buf_reset(&hc->rx);
		hc->rx_discard = false;
		hello = proto_event_new_hello(hc->source, hc->cluster, hc->software, 0);
		send_event_early(hc, hello);
		proto_event_free(hello);
		log_debug("hub connection: websocket open to %s, hello sent", hc->url);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!hc)
			return -1;
		if (lws_frame_is_binary(wsi)) {
			log_warn("hub connection: a binary message: closing with 1003");
			request_close(hc, HUB_CONN_CLOSE_UNSUPPORTED, "binary messages are refused");
			return 0;
		}
		if (!hc->rx_discard && buf_append(&hc->rx, in, len) < 0) {
			hc->rx_discard = true;
			buf_reset(&hc->rx);
		}
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			if (hc->rx_discard) {
				char msg[128];

				snprintf(msg, sizeof(msg), "event: larger than max_event_bytes (%zu)",
					 hc->lim.max_event_bytes);
				log_warn("hub connection: refused an event: %s", msg);
				hc->last_rx_ms = uv_now(hc->loop);
				send_error(hc, -EMSGSIZE, msg, NULL, 0, false);
			} else {
				handle_message(hc, hc->rx.data ? hc->rx.data : "", hc->rx.len);
			}
			/* handle_message may have ended the attempt (a close before
			 * open cannot happen here: we are open). */
			buf_reset(&hc->rx);
			hc->rx_discard = false;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct hc_msg *m;

		/* What is queued (a fatal error event) goes out before a close,
		 * except for an overflow (1013), whose queue was dropped. */
		if (att && att->close_code && (!hc || !hc->q_head)) {
			unsigned char frame[LWS_PRE + 2 + sizeof(att->close_reason)];
			size_t rl = strlen(att->close_reason);

			if (att->close_sent)
				return 0;
			/* lws 4.1.6 drops the frame of lws_close_reason() when a
			 * client callback returns -1 (the wsi is killed at once), so
			 * the close frame is written here, opcode 4 being the ABI's
			 * close (LWS_WRITE_CLOSE, not exported); the hub answers it
			 * with its own close, or the timeout ends the connection. */
			frame[LWS_PRE] = (unsigned char)(att->close_code >> 8);
			frame[LWS_PRE + 1] = (unsigned char)(att->close_code & 0xff);
			memcpy(frame + LWS_PRE + 2, att->close_reason, rl);
			att->close_sent = true;
			if (lws_write(wsi, frame + LWS_PRE, 2 + rl, HC_LWS_WRITE_CLOSE) < 0)
				return -1;
			lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, HC_CLOSE_ACK_S);
			return 0;
		}
		if (!hc)
			return -1;
		m = hc->q_head;
		if (!m)
			return 0;
		hc->q_head = m->next;
		if (!hc->q_head)
			hc->q_tail = NULL;
		hc->q_bytes -= m->len;
		hc->q_events--;
		if (lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len) {
			free(m);
			log_warn("hub connection: write failed: closing");
			return -1;
		}
		free(m);
		hc->stats.events_out++;
		if (hc->q_head || att->close_code)
			lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_WSI_CREATE:
		if (att)
			att->wsi_alive = true;
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (att)
			att->wsi_alive = false;
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (att && len >= 2) {
			const unsigned char *p = in;
			size_t rl = len - 2 < sizeof(att->peer_close_reason) - 1
					    ? len - 2
					    : sizeof(att->peer_close_reason) - 1;

			att->peer_close_code = (p[0] << 8) | p[1];
			memcpy(att->peer_close_reason, p + 2, rl);
			att->peer_close_reason[rl] = '\0';
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (att) {
			char why[HC_WHY_MAX];
			int code = att->close_code ? att->close_code : att->peer_close_code;

			if (att->close_code)
				snprintf(why, sizeof(why), "closed by us (%d: %s)", code, att->close_reason);
			else if (code)
				snprintf(why, sizeof(why), "closed by the hub (%d%s%s)", code,
					 att->peer_close_reason[0] ? ": " : "", att->peer_close_reason);
			else
				snprintf(why, sizeof(why), "connection lost");
			att->wsi = NULL;
			attempt_end(att, code ? code : 1006, why);
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Attempts -------------------------------------------------------------------- */

static void attempt_free(struct hub_attempt *att)
{
	free(att->ca_pem);
	free(att->cert_pem);
	if (att->key_pem) {
		explicit_bzero(att->key_pem, strlen(att->key_pem));
		free(att->key_pem);
	}
	free(att);
}

static void reaper_closed(uv_handle_t *h)
{
	reaping_contexts--;
	attempt_free(h->data);
}

struct reap_walk {
	void *ctx;
	bool busy;
};

static void reap_walk_cb(uv_handle_t *handle, void *arg)
{
	struct reap_walk *w = arg;

	if (handle->data == w->ctx)
		w->busy = true;
}

static void reaper_tick(uv_timer_t *t)
{
	struct hub_attempt *att = t->data;
	struct reap_walk w = { .ctx = att->ctx, .busy = false };

	if (!att->destroyed_once) {
		/* A closing websocket still sends its close frame after
		 * CLIENT_CLOSED: give it until WSI_DESTROY (bounded). */
		if (att->wsi_alive && uv_now(att->loop) - att->reap_start < HC_CLOSE_GRACE_MS)
			return;
		/* Stage one: lws closes its connections and handles. */
		att->destroyed_once = true;
		att->reap_start = uv_now(att->loop);
		if (att->ctx)
			lws_context_destroy(att->ctx);
		return;
	}
	if (att->ctx) {
		uv_walk(att->loop, reap_walk_cb, &w);
		if (w.busy) {
			if (uv_now(att->loop) - att->reap_start < HC_REAP_GIVE_UP_MS)
				return;
			log_error("hub connection: lws did not finish closing in %d ms; leaking its "
				  "context", HC_REAP_GIVE_UP_MS);
		} else {
			lws_context_destroy(att->ctx);
		}
		att->ctx = NULL;
	}
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, reaper_closed);
}

/* Begin destroying att (from a timer: maybe we are inside its callback). */
static void attempt_reap(struct hub_attempt *att)
{
	if (att->reaper_started)
		return;
	att->reaper_started = true;
	reaping_contexts++;
	uv_timer_init(att->loop, &att->reaper);
	att->reaper.data = att;
	att->reap_start = uv_now(att->loop);
	uv_timer_start(&att->reaper, reaper_tick, 0, HC_REAP_TICK_MS);
}

/* The attempt is over (failed, closed, or given up by us): detach it from
 * its manager, tell the caller, schedule the next one, and reap it. */
static void attempt_end(struct hub_attempt *att, int code, const char *why)
{
	struct hub_conn *hc = att->hc;
	bool was_up;

	if (att->ended)
		return;
	att->ended = true;
	att->hc = NULL;
	attempt_reap(att);
	if (!hc || hc->att != att)
		return;
	was_up = hc->state == HC_UP;
	hc->att = NULL;
	hc->state = hc->running ? HC_WAITING : HC_IDLE;
	queue_clear(hc);
	buf_reset(&hc->rx);
	hc->stats.last_close_code = code;
	if (code == HUB_CONN_CLOSE_POLICY) {
		hc->denied = true;
		hc->stats.refusals++;
	}
	if (was_up)
		log_warn("hub connection: down: %s", why);
	else
		log_warn("hub connection: cannot connect to %s: %s", hc->url, why);
	if (hc->running)
		schedule_retry(hc);
	if (was_up && hc->cb.down)
		hc->cb.down(hc->userdata, code, why);
}

static void attempt_start(struct hub_conn *hc)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct hub_attempt *att = xnew(struct hub_attempt);
	void *foreign[1] = { hc->loop };

	hc->stats.attempts++;
	att->hc = hc;
	att->loop = hc->loop;
	att->ca_pem = xstrdup(hc->ca_pem);
	att->cert_pem = xstrdup(hc->cert_pem);
	att->key_pem = xstrdup(hc->key_pem);
	att->protocols[0].name = PROTO_WS_SUBPROTOCOL;
	att->protocols[0].callback = hc_lws_cb;
	att->protocols[0].rx_buffer_size = HC_RX_BUFFER;
	/* Our heartbeats are events; lws's own pings are not used. Retries
	 * are ours (backoff.h), but should lws ever retry, it must not stop
	 * after conceal_count (libraries.md). */
	att->retry.conceal_count = LWS_RETRY_CONCEAL_ALWAYS;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		       LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	info.foreign_loops = foreign;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = att->protocols;
	info.user = att;
	info.pt_serv_buf_size = HC_RX_BUFFER;
	info.timeout_secs = HC_CONNECT_TIMEOUT_S;
	info.retry_and_idle_policy = &att->retry;
	hc->att = att;
	hc->state = HC_CONNECTING;
	creating_attempt = att;
	att->ctx = lws_create_context(&info);
	creating_attempt = NULL;
	if (!att->ctx) {
		attempt_end(att, 1006, "cannot create the client context (see lws messages above)");
		return;
	}

	memset(&ci, 0, sizeof(ci));
	ci.context = att->ctx;
	ci.address = hc->host;
	ci.port = hc->port;
	ci.host = hc->host;
	ci.origin = hc->host;
	ci.path = PROTO_WS_PATH;
	ci.protocol = PROTO_WS_SUBPROTOCOL;
	ci.ssl_connection = LCCSCF_USE_SSL;
	ci.alpn = "http/1.1";
	ci.retry_and_idle_policy = &att->retry;
	ci.pwsi = &att->wsi;
	if (!lws_client_connect_via_info(&ci)) {
		/* The connection error callback may already have ended it. */
		att->wsi = NULL;
		attempt_end(att, 1006, "cannot start the connection");
	}
}

/* Timers ---------------------------------------------------------------------- */

static void retry_fire(uv_timer_t *t)
{
	struct hub_conn *hc = t->data;

	if (!hc->running || hc->state != HC_WAITING)
		return;
	if (reaping_contexts) {
		/* See reaping_contexts: the old context goes first (milliseconds). */
		uv_timer_start(&hc->retry_timer, retry_fire, HC_REAP_WAIT_MS, 0);
		return;
	}
	attempt_start(hc);
}

static void schedule_retry(struct hub_conn *hc)
{
	uint64_t envelope, delay;
	uint64_t rnd = 0;

	if (hc->reconnect_now) {
		hc->reconnect_now = false;
		delay = 0;
	} else {
		/* Full jitter: uniform below the exponential envelope; after a
		 * 1008 the envelope's cap is the denied cap. */
		hc->bo.max_ms = hc->denied ? hc->backoff_denied_ms : hc->backoff_max_ms;
		envelope = backoff_next(&hc->bo);
		random_bytes(&rnd, sizeof(rnd));
		delay = envelope ? rnd % (envelope + 1) : 0;
		if (delay < HC_MIN_DELAY_MS)
			delay = HC_MIN_DELAY_MS;
	}
	hc->stats.next_retry_ms = delay;
	log_info("hub connection: next attempt in %llu ms", (unsigned long long)delay);
	hc->state = HC_WAITING;
	uv_timer_start(&hc->retry_timer, retry_fire, delay, 0);
}

static void tick_fire(uv_timer_t *t)
{
	struct hub_conn *hc = t->data;
	uint64_t now = uv_now(hc->loop);

	if (!hc->att || hc->att->close_code)
		return;
	if (hc->state == HC_OPEN && now - hc->open_ms >= hc->hello_timeout_ms) {
		log_warn("hub connection: no hello from the hub within %llu ms: closing",
			 (unsigned long long)hc->hello_timeout_ms);
		request_close(hc, HUB_CONN_CLOSE_GOING_AWAY, "no hello");
		return;
	}
	if (hc->state != HC_UP)
		return;
	if (now - hc->last_rx_ms >= 3ull * hc->hb_s * 1000) {
		log_warn("hub connection: nothing from the hub for %llu ms (3 heartbeats): the peer "
			 "is dead, closing", (unsigned long long)(now - hc->last_rx_ms));
		hc->stats.dead_peer_closes++;
		request_close(hc, HUB_CONN_CLOSE_GOING_AWAY, "dead peer");
		return;
	}
	if (now - hc->last_hb_ms >= (uint64_t)hc->hb_s * 1000) {
		struct proto_event *hb = proto_event_new_heartbeat(hc->source, hc->cluster);

		hc->last_hb_ms = now;
		if (send_event_early(hc, hb) == 0)
			hc->stats.heartbeats_out++;
		proto_event_free(hb);
	}
}

/* The API ---------------------------------------------------------------------- */

int hub_conn_new(uv_loop_t *loop, const struct hub_conn_config *cfg,
		 const struct hub_conn_callbacks *cb, void *userdata, struct errbuf *err,
		 struct hub_conn **ret_hc)
{
	struct hub_conn *hc;
	char *host = NULL;
	int port = 0, r;

	if (!loop || !cfg || !cb)
		return errbuf_set(err, -EINVAL, "hub connection: missing arguments");
	r = agent_hub_url_parse(cfg->url, err, &host, &port);
	if (r < 0)
		return r;
	if (!agent_name_is_dns_label(cfg->cluster_name) || !cfg->ca_pem || !cfg->cert_pem ||
	    !cfg->key_pem) {
		free(host);
		return errbuf_set(err, -EINVAL, "hub connection: cluster name and TLS material "
				  "required");
	}
	hc = xnew(struct hub_conn);
	hc->loop = loop;
	hc->url = xstrdup(cfg->url);
	hc->host = host;
	hc->port = port;
	hc->cluster = xstrdup(cfg->cluster_name);
	hc->source = xasprintf("nave-klusterlet/%s", cfg->cluster_name);
	hc->software = cfg->software ? xstrdup(cfg->software)
				     : xasprintf("nave-klusterlet %s", NAVE_VERSION);
	hc->ca_pem = xstrdup(cfg->ca_pem);
	hc->cert_pem = xstrdup(cfg->cert_pem);
	hc->key_pem = xstrdup(cfg->key_pem);
	hc->lim = cfg->limits ? *cfg->limits : proto_limits_default;
	hc->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : HUB_CONN_BACKOFF_MAX_MS;
	hc->backoff_denied_ms = cfg->backoff_denied_ms ? cfg->backoff_denied_ms
						       : HUB_CONN_BACKOFF_DENIED_MS;
	hc->hello_timeout_ms = cfg->hello_timeout_ms ? cfg->hello_timeout_ms
						     : HUB_CONN_HELLO_TIMEOUT_MS;
	hc->max_queue_bytes = cfg->max_queue_bytes ? cfg->max_queue_bytes : HUB_CONN_MAX_QUEUE_BYTES;
	hc->max_queue_events = cfg->max_queue_events ? cfg->max_queue_events
						     : HUB_CONN_MAX_QUEUE_EVENTS;
	/* Jitter is applied by schedule_retry (full jitter), not by backoff.c. */
	backoff_init(&hc->bo, cfg->backoff_base_ms ? cfg->backoff_base_ms : HUB_CONN_BACKOFF_BASE_MS,
		     hc->backoff_max_ms, 0);
	hc->cb = *cb;
	hc->userdata = userdata;
	buf_init(&hc->rx, hc->lim.max_event_bytes);
	uv_timer_init(loop, &hc->retry_timer);
	hc->retry_timer.data = hc;
	uv_timer_init(loop, &hc->tick);
	hc->tick.data = hc;
	hc->handles_open = 2;
	uv_timer_start(&hc->tick, tick_fire, HC_TICK_MS, HC_TICK_MS);
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	*ret_hc = hc;
	return 0;
}

void hub_conn_start(struct hub_conn *hc)
{
	if (hc->running)
		return;
	hc->running = true;
	backoff_reset(&hc->bo);
	if (hc->state == HC_IDLE) {
		hc->state = HC_WAITING;
		uv_timer_start(&hc->retry_timer, retry_fire, 0, 0);
	}
}

void hub_conn_stop(struct hub_conn *hc, int code)
{
	struct hub_attempt *att = hc->att;

	hc->running = false;
	hc->reconnect_now = false;
	uv_timer_stop(&hc->retry_timer);
	hc->state = HC_IDLE;
	if (att) {
		/* down is not called for a stop: detach first, then close. */
		att->hc = NULL;
		hc->att = NULL;
		queue_clear(hc);
		attempt_close(att, code, code == HUB_CONN_CLOSE_NORMAL ? "agent stopping" : "");
	}
}

void hub_conn_reconnect(struct hub_conn *hc, int code)
{
	if (!hc->running)
		return;
	hc->reconnect_now = true;
	if (hc->att) {
		attempt_close(hc->att, code, "reconnecting");
	} else if (hc->state == HC_WAITING) {
		uv_timer_stop(&hc->retry_timer);
		schedule_retry(hc);
	}
}

int hub_conn_set_credentials(struct hub_conn *hc, const char *ca_pem, const char *cert_pem,
			     const char *key_pem)
{
	if (!ca_pem || !cert_pem || !key_pem)
		return -EINVAL;
	free(hc->ca_pem);
	free(hc->cert_pem);
	explicit_bzero(hc->key_pem, strlen(hc->key_pem));
	free(hc->key_pem);
	hc->ca_pem = xstrdup(ca_pem);
	hc->cert_pem = xstrdup(cert_pem);
	hc->key_pem = xstrdup(key_pem);
	return 0;
}

int hub_conn_send(struct hub_conn *hc, const struct proto_event *ev, struct errbuf *err)
{
	char *json = NULL;
	size_t len = 0;
	int r;

	if (hc->state != HC_UP)
		return -ENOTCONN;
	r = proto_event_encode_limits(ev, &hc->lim, err, &json, &len);
	if (r < 0)
		return r;
	r = queue_push(hc, json, len);
	free(json);
	return r;
}

int hub_conn_send_text(struct hub_conn *hc, const char *json, size_t len)
{
	if (hc->state != HC_UP)
		return -ENOTCONN;
	return queue_push(hc, json, len);
}

bool hub_conn_is_up(const struct hub_conn *hc)
{
	return hc->state == HC_UP && hc->att && !hc->att->close_code;
}

const char *hub_conn_source(const struct hub_conn *hc)
{
	return hc->source;
}

void hub_conn_get_stats(const struct hub_conn *hc, struct hub_conn_stats *ret_stats)
{
	*ret_stats = hc->stats;
	ret_stats->queued_bytes = hc->q_bytes;
	ret_stats->queued_events = hc->q_events;
}

static void hc_handle_closed(uv_handle_t *h)
{
	struct hub_conn *hc = h->data;

	if (--hc->handles_open == 0)
		free(hc);
}

struct hub_conn *hub_conn_free(struct hub_conn *hc)
{
	struct hub_attempt *att;

	if (!hc || hc->freeing)
		return NULL;
	hc->freeing = true;
	hc->running = false;
	att = hc->att;
	if (att) {
		att->hc = NULL;
		att->ended = true;
		hc->att = NULL;
		attempt_reap(att);
	}
	queue_clear(hc);
	buf_free(&hc->rx);
	free(hc->url);
	free(hc->host);
	free(hc->cluster);
	free(hc->source);
	free(hc->software);
	free(hc->ca_pem);
	free(hc->cert_pem);
	if (hc->key_pem) {
		explicit_bzero(hc->key_pem, strlen(hc->key_pem));
		free(hc->key_pem);
	}
	uv_timer_stop(&hc->retry_timer);
	uv_timer_stop(&hc->tick);
	uv_close((uv_handle_t *)&hc->retry_timer, hc_handle_closed);
	uv_close((uv_handle_t *)&hc->tick, hc_handle_closed);
	return NULL;
}
