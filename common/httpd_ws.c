/* httpd_ws.c - websocket endpoints on common/httpd's lws context; see
 * httpd_ws.h.
 *
 * How it hangs on httpd: httpd_new gives this module its spare lws protocol
 * slots (protocols[1..]) before the context exists. Each slot is filled
 * with this module's callback, its user pointer is the endpoint it stands
 * for, and its name points at the endpoint's name buffer, "" until
 * httpd_ws_register writes the subprotocol there (lws keeps the array it was
 * given and compares names at each upgrade, and a requested subprotocol is
 * never empty, so an unused slot matches nothing).
 *
 * Upgrades: lws binds the connection to the slot named by the subprotocol and
 * calls FILTER_PROTOCOL_CONNECTION with the request headers still at hand.
 * There the path, the connection cap and the caller's on_open decide; a
 * refusal writes a small HTTP answer (a Status JSON) directly and returns
 * non-zero, which makes lws drop the connection (an unanswered refusal would
 * leave clients guessing). The answer is a few hundred bytes written once on
 * a fresh socket, which the kernel takes whole.
 *
 * A connection that served plain HTTP requests before asking to upgrade is
 * refused (400): httpd.c keeps its own state on such a wsi (opaque user
 * data), and since lws now reports the wsi's end to this protocol, that
 * state is handed back to protocols[0]'s callback on WSI_DESTROY.
 *
 * Per connection a struct httpd_ws_conn (pointed to by lws's per-session
 * data): a reassembly buffer capped at max_message, and a send queue of
 * references to shared messages. WRITEABLE copies at most HTTPD_WS_FRAGMENT
 * bytes of the head message into one scratch buffer with LWS_PRE headroom
 * (lws writes the frame header in front of the payload, so a shared buffer
 * cannot be handed to lws_write itself) and writes it as one frame of a
 * possibly fragmented message; it keeps going while the socket takes it, up
 * to HTTPD_WS_WRITE_BUDGET bytes. When lws had to buffer a partial write
 * the socket is "choked" and the rest waits for the next WRITEABLE.
 *
 * Closing: httpd_ws_close marks the connection; the close frame goes out
 * from WRITEABLE (written here, then -1), after the queue when flushing;
 * an lws timeout bounds the wait for a peer that does not read. on_close runs
 * at LWS_CALLBACK_CLOSED, or at once when the endpoint is closed; either way
 * once. The struct is freed at WSI_DESTROY (or with the module's state).
 */
#include "httpd_ws.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"

#define HTTPD_WS_RX_BUFFER 4096  /* lws's per-connection receive buffer (kept small: one per peer) */
#define HTTPD_WS_ANSWER_MAX 1024 /* a refusal's HTTP answer */
#define HTTPD_WS_CLOSE_NOW_SECS 1 /* a non-flushing close waits this long for the socket */
/* lws 4.1.6 frames opcode 8 for write type 4, which its public header leaves
 * out ("handled by lws_close_reason()"; see on_writeable for why not). */
#define HTTPD_WS_WRITE_CLOSE ((enum lws_write_protocol)4)

struct httpd_ws_msg {
	unsigned refs;
	size_t len;
	char *data; /* owned; freed with the last reference */
};

/* One queued reference. */
struct ws_qent {
	struct httpd_ws_msg *m; /* one reference, owned by the entry */
	uint64_t tag;
	size_t off;             /* payload bytes already handed to lws */
	struct ws_qent *next;
};

struct httpd_ws_conn {
	struct httpd_ws *ws;          /* borrowed: the module state of the httpd */
	struct httpd_ws_endpoint *ep; /* borrowed */
	struct lws *wsi;              /* borrowed; NULL once lws destroyed it */
	void *data;                   /* borrowed: the caller's */
	char addr[64];
	struct ws_qent *qhead, *qtail; /* owned entries */
	size_t qbytes, qmsgs;
	struct buf rx;                /* the message being reassembled */
	bool rx_discard;              /* over max_message: dropping until its end */
	size_t rx_seen;               /* bytes of the current message so far */
	bool accepted;                /* on_open accepted it: on_close is owed */
	bool dead;                    /* on_close ran: no more callbacks */
	bool closing;                 /* httpd_ws_close: close frame pending */
	bool flush;                   /* closing after the queue */
	int close_code;
	char reason[HTTPD_WS_REASON_MAX + 1];
	bool refused;                 /* a send was refused since the last drain */
	struct httpd_ws_conn *prev, *next; /* in ws->conns (every conn this module made) */
};

struct httpd_ws_endpoint {
	struct httpd_ws *ws;          /* borrowed */
	struct lws_protocols *slot;   /* borrowed: the httpd's protocols[] entry */
	bool used;                    /* registered */
	bool closed;                  /* httpd_ws_endpoint_close ran */
	char name[HTTPD_WS_NAME_MAX + 1]; /* the subprotocol; "" while unused */
	char path[HTTPD_WS_PATH_MAX + 1];
	struct httpd_ws_callbacks cbs;
	struct httpd_ws_limits lim;
	void *data;                   /* borrowed */
	unsigned nconns;              /* accepted and not yet on_close'd */
};

struct httpd_ws {
	struct httpd *h;              /* borrowed: the owner */
	struct httpd_ws_endpoint eps[HTTPD_WS_ENDPOINTS_MAX];
	size_t n_eps;                 /* slots given by httpd */
	unsigned char *scratch;       /* owned: LWS_PRE + HTTPD_WS_FRAGMENT bytes */
	struct httpd_ws_conn *conns;  /* owned list */
};

/* Messages ------------------------------------------------------------------ */

/* See httpd_ws.h. */
struct httpd_ws_msg *httpd_ws_msg_take(char *data, size_t len)
{
	struct httpd_ws_msg *m = xnew(struct httpd_ws_msg);

	m->refs = 1;
	m->len = len;
	m->data = data;
	return m;
}

/* See httpd_ws.h. */
struct httpd_ws_msg *httpd_ws_msg_new(const void *data, size_t len)
{
	char *copy = xmalloc(len + 1);

	if (len)
		memcpy(copy, data, len);
	copy[len] = '\0';
	return httpd_ws_msg_take(copy, len);
}

/* See httpd_ws.h. */
struct httpd_ws_msg *httpd_ws_msg_ref(struct httpd_ws_msg *m)
{
	m->refs++;
	return m;
}

/* See httpd_ws.h. */
struct httpd_ws_msg *httpd_ws_msg_unref(struct httpd_ws_msg *m)
{
	if (m && --m->refs == 0) {
		free(m->data);
		free(m);
	}
	return NULL;
}

/* See httpd_ws.h. */
const char *httpd_ws_msg_data(const struct httpd_ws_msg *m, size_t *ret_len)
{
	if (ret_len)
		*ret_len = m->len;
	return m->data;
}

/* Connections ---------------------------------------------------------------- */

static void queue_clear(struct httpd_ws_conn *c)
{
	struct ws_qent *e, *n;

	for (e = c->qhead; e; e = n) {
		n = e->next;
		httpd_ws_msg_unref(e->m);
		free(e);
	}
	c->qhead = c->qtail = NULL;
	c->qbytes = c->qmsgs = 0;
}

/* Call on_close once, if it is owed. */
static void conn_finish(struct httpd_ws_conn *c)
{
	struct httpd_ws_endpoint *ep = c->ep;

	if (c->dead)
		return;
	c->dead = true;
	buf_free(&c->rx);
	if (c->accepted) {
		ep->nconns--;
		ep->cbs.on_close(ep->data, c);
	}
}

static void conn_free(struct httpd_ws_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (c->ws->conns == c)
		c->ws->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	queue_clear(c);
	buf_free(&c->rx);
	free(c);
}

/* See httpd_ws.h. */
int httpd_ws_send(struct httpd_ws_conn *c, struct httpd_ws_msg *m, uint64_t tag)
{
	const struct httpd_ws_limits *lim = &c->ep->lim;
	struct ws_qent *e;

	if (c->closing || c->dead || !c->wsi)
		return -ENOTCONN;
	if (tag) {
		for (e = c->qhead; e; e = e->next) {
			if (e->tag != tag || e->off)
				continue;
			if (c->qbytes - e->m->len + m->len > lim->max_queue_bytes) {
				c->refused = true;
				return -ENOBUFS;
			}
			c->qbytes = c->qbytes - e->m->len + m->len;
			httpd_ws_msg_unref(e->m);
			e->m = httpd_ws_msg_ref(m);
			return 0;
		}
	}
	if (c->qmsgs + 1 > lim->max_queue_msgs || m->len > lim->max_queue_bytes ||
	    c->qbytes > lim->max_queue_bytes - m->len) {
		c->refused = true;
		return -ENOBUFS;
	}
	e = xnew(struct ws_qent);
	e->m = httpd_ws_msg_ref(m);
	e->tag = tag;
	if (c->qtail)
		c->qtail->next = e;
	else
		c->qhead = e;
	c->qtail = e;
	c->qbytes += m->len;
	c->qmsgs++;
	lws_callback_on_writable(c->wsi);
	return 0;
}

/* See httpd_ws.h. */
void httpd_ws_close(struct httpd_ws_conn *c, int code, const char *reason, bool flush)
{
	if (c->dead || !c->wsi)
		return;
	if (c->closing && (!c->flush || flush))
		return;
	if (!c->closing) {
		c->close_code = code < 1000 || code > 4999 ? HTTPD_WS_CLOSE_NORMAL : code;
		snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	}
	c->closing = true;
	c->flush = flush;
	if (!flush)
		queue_clear(c);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
			flush ? HTTPD_WS_CLOSE_FLUSH_SECS : HTTPD_WS_CLOSE_NOW_SECS);
	lws_callback_on_writable(c->wsi);
}

/* See httpd_ws.h. */
bool httpd_ws_closing(const struct httpd_ws_conn *c)
{
	return c->closing || c->dead;
}

/* See httpd_ws.h. */
size_t httpd_ws_queued_bytes(const struct httpd_ws_conn *c)
{
	return c->qbytes;
}

/* See httpd_ws.h. */
size_t httpd_ws_queued_msgs(const struct httpd_ws_conn *c)
{
	return c->qmsgs;
}

/* See httpd_ws.h. */
void httpd_ws_conn_set_data(struct httpd_ws_conn *c, void *p)
{
	c->data = p;
}

/* See httpd_ws.h. */
void *httpd_ws_conn_get_data(const struct httpd_ws_conn *c)
{
	return c->data;
}

/* See httpd_ws.h. */
const char *httpd_ws_conn_addr(const struct httpd_ws_conn *c)
{
	return c->addr;
}

/* Upgrades ------------------------------------------------------------------- */

/* Refuse an upgrade with an HTTP answer (see the top of the file). */
static void refuse(struct httpd_ws *ws, struct lws *wsi, int status, const char *message)
{
	static const struct {
		int code;
		const char *text, *reason;
	} names[] = {
		{400, "Bad Request", "BadRequest"},   {401, "Unauthorized", "Unauthorized"},
		{403, "Forbidden", "Forbidden"},       {404, "Not Found", "NotFound"},
		{429, "Too Many Requests", "TooManyRequests"},
		{503, "Service Unavailable", "ServiceUnavailable"},
	};
	const char *text = "Error", *reason = "InternalError";
	char *body, *p = (char *)ws->scratch + LWS_PRE, retry[40] = "";
	json_t *j;
	int n;

	if (status < 400 || status > 599)
		status = 500;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == status) {
			text = names[i].text;
			reason = names[i].reason;
		}
	j = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
		      "metadata", "status", "Failure", "message", message ? message : text, "reason",
		      reason, "code", status);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (body && strlen(body) > HTTPD_WS_ANSWER_MAX - 256)
		body[HTTPD_WS_ANSWER_MAX - 256] = '\0'; /* cannot happen with our messages; stay framed */
	if (status == 503)
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", HTTPD_WS_RETRY_AFTER_SECS);
	n = snprintf(p, HTTPD_WS_ANSWER_MAX,
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		     "%sConnection: close\r\n\r\n%s",
		     status, text, body ? strlen(body) : 0, retry, body ? body : "");
	free(body);
	if (n > 0 && n < HTTPD_WS_ANSWER_MAX &&
	    lws_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_HTTP_HEADERS) < n)
		log_debug("httpd_ws: could not write the %d refusal", status);
}

/* The verified client certificate's CN and serial, read through OpenSSL
 * (lws's CN getter returns everything after "/CN="). */
static void peer_identity(struct lws *wsi, char *cn, size_t cnlen, char *serial, size_t serlen)
{
	SSL *ssl = lws_get_ssl(lws_get_network_wsi(wsi));
	BIGNUM *bn = NULL;
	char *hex = NULL;
	X509 *x;
	int n;

	cn[0] = serial[0] = '\0';
	if (!ssl)
		return;
	x = SSL_get1_peer_certificate(ssl);
	if (!x)
		return;
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cnlen);
	if (n <= 0 || (size_t)n >= cnlen || strlen(cn) != (size_t)n)
		goto bad;
	for (int i = 0; i < n; i++)
		if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
			goto bad;
	bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(x), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	if (!hex || strlen(hex) >= serlen)
		goto bad;
	for (char *q = hex; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	snprintf(serial, serlen, "%s", hex);
	goto out;
bad:
	cn[0] = serial[0] = '\0';
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
}

static int on_filter(struct httpd_ws_endpoint *ep, struct lws *wsi, struct httpd_ws_conn **pc)
{
	struct httpd_ws *ws = ep->ws;
	char path[HTTPD_WS_PATH_MAX + 2], cn[256], serial[64], msg[HTTPD_WS_PATH_MAX + HTTPD_WS_NAME_MAX + 128];
	struct httpd_ws_peer peer;
	struct httpd_ws_conn *c;
	const char *why = NULL;
	int n, status;

	if (!pc)
		return 1;
	*pc = NULL;
	if (!ep->used || ep->closed) {
		refuse(ws, wsi, 503, "this endpoint is shutting down");
		return 1;
	}
	if (lws_get_opaque_user_data(wsi)) {
		refuse(ws, wsi, 400, "websocket upgrades are accepted on a fresh connection only");
		return 1;
	}
	n = lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	if (n <= 0 || strcmp(path, ep->path)) {
		snprintf(msg, sizeof(msg), "no websocket endpoint for subprotocol %s here: use %s", ep->name,
			 ep->path);
		refuse(ws, wsi, 404, msg);
		return 1;
	}
	if (ep->nconns >= ep->lim.max_connections) {
		snprintf(msg, sizeof(msg), "the server is at its cap of %u connections; retry later",
			 ep->lim.max_connections);
		log_warn("httpd_ws: %s: refusing a connection: %s", ep->path, msg);
		refuse(ws, wsi, 503, msg);
		return 1;
	}
	c = xnew(struct httpd_ws_conn);
	c->ws = ws;
	c->ep = ep;
	c->wsi = wsi;
	buf_init(&c->rx, ep->lim.max_message);
	if (!lws_get_peer_simple(wsi, c->addr, sizeof(c->addr)))
		snprintf(c->addr, sizeof(c->addr), "?");
	if (!strncmp(c->addr, "::ffff:", 7) && strchr(c->addr, '.'))
		memmove(c->addr, c->addr + 7, strlen(c->addr + 7) + 1);
	c->next = ws->conns;
	if (ws->conns)
		ws->conns->prev = c;
	ws->conns = c;
	*pc = c;
	peer_identity(wsi, cn, sizeof(cn), serial, sizeof(serial));
	peer.cn = cn[0] ? cn : NULL;
	peer.serial = serial[0] ? serial : NULL;
	peer.addr = c->addr;
	peer.path = ep->path;
	status = ep->cbs.on_open(ep->data, c, &peer, &why);
	if (status) {
		refuse(ws, wsi, status, why);
		c->dead = true;
		return 1;
	}
	c->accepted = true;
	ep->nconns++;
	return 0;
}

/* Traffic ---------------------------------------------------------------------- */

static int on_receive(struct httpd_ws_conn *c, const void *in, size_t len)
{
	struct httpd_ws_endpoint *ep = c->ep;
	struct lws *wsi = c->wsi;
	size_t seen;
	char *msg;

	if (c->dead || c->closing)
		return 0;
	if (lws_frame_is_binary(wsi)) {
		httpd_ws_close(c, HTTPD_WS_CLOSE_UNSUPPORTED, "binary messages are not accepted", false);
		return 0;
	}
	c->rx_seen += len;
	if (!c->rx_discard && len && buf_append(&c->rx, in, len) < 0) {
		c->rx_discard = true;
		buf_free(&c->rx);
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	seen = c->rx_seen;
	c->rx_seen = 0;
	if (c->rx_discard) {
		c->rx_discard = false;
		if (ep->cbs.on_oversize)
			ep->cbs.on_oversize(ep->data, c, seen);
		return 0;
	}
	msg = buf_steal(&c->rx, &seen);
	ep->cbs.on_message(ep->data, c, msg, seen);
	return 0;
}

static int on_writeable(struct httpd_ws_conn *c)
{
	struct httpd_ws_endpoint *ep = c->ep;
	struct lws *wsi = c->wsi;
	unsigned char *p = c->ws->scratch + LWS_PRE;
	size_t budget = HTTPD_WS_WRITE_BUDGET;

	if (c->dead && !c->closing)
		return -1;
	if (c->closing && (!c->flush || !c->qhead)) {
		size_t n = strlen(c->reason);

		/* The close frame is written here rather than through
		 * lws_close_reason: Debian's lws is built with _DEBUG, and on a
		 * libuv loop its service path then closes a wsi twice, the
		 * second time killing it before the close frame went out. */
		p[0] = (unsigned char)(c->close_code >> 8);
		p[1] = (unsigned char)(c->close_code & 0xff);
		memcpy(p + 2, c->reason, n);
		if (lws_write(wsi, p, n + 2, HTTPD_WS_WRITE_CLOSE) < 0)
			log_debug("httpd_ws: %s: could not write the close frame", c->addr);
		return -1;
	}
	while (c->qhead && budget) {
		struct ws_qent *e = c->qhead;
		size_t left = e->m->len - e->off, n = left < HTTPD_WS_FRAGMENT ? left : HTTPD_WS_FRAGMENT;
		int flags = lws_write_ws_flags(LWS_WRITE_TEXT, e->off == 0, n == left);

		if (n)
			memcpy(p, e->m->data + e->off, n);
		if (lws_write(wsi, p, n, (enum lws_write_protocol)flags) < (int)n) {
			log_debug("httpd_ws: %s: write failed; closing", c->addr);
			return -1;
		}
		e->off += n;
		c->qbytes -= n;
		budget = n < budget ? budget - n : 0;
		if (e->off == e->m->len) {
			c->qhead = e->next;
			if (!c->qhead)
				c->qtail = NULL;
			c->qmsgs--;
			httpd_ws_msg_unref(e->m);
			free(e);
		}
		if (lws_send_pipe_choked(wsi))
			break;
	}
	if (c->qhead) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->refused && !c->dead && !c->closing) {
		c->refused = false;
		if (ep->cbs.on_drain)
			ep->cbs.on_drain(ep->data, c);
	}
	if (c->closing)
		lws_callback_on_writable(wsi);
	return 0;
}

static int ws_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	const struct lws_protocols *pr = lws_get_protocol(wsi);
	struct httpd_ws_endpoint *ep = pr ? pr->user : NULL;
	struct httpd_ws_conn **pc = user, *c = pc ? *pc : NULL;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return ep ? on_filter(ep, wsi, pc) : 1;
	case LWS_CALLBACK_ESTABLISHED:
		if (c && c->wsi && !c->closing)
			lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
		if (c && (c->qhead || c->closing))
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return c ? on_receive(c, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_writeable(c) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c)
			conn_finish(c);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (lws_get_opaque_user_data(wsi)) {
			/* httpd.c's state of a connection that served HTTP first. */
			const struct lws_protocols *http = lws_vhost_name_to_protocol(lws_get_vhost(wsi), "http");

			if (http && http->callback)
				http->callback(wsi, reason, NULL, in, len);
		}
		if (c) {
			conn_finish(c);
			c->wsi = NULL;
			conn_free(c);
			*pc = NULL;
		}
		return 0;
	default:
		break;
	}
	return 0;
}

/* Endpoints ------------------------------------------------------------------------ */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HTTPD_WS_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* See httpd_ws.h. */
int httpd_ws_register(struct httpd *h, const char *path, const char *subprotocol,
		      const struct httpd_ws_callbacks *cbs, const struct httpd_ws_limits *lim,
		      void *data, struct httpd_ws_endpoint **ret_ep)
{
	struct httpd_ws *ws = httpd_ws_state(h);
	struct httpd_ws_endpoint *ep = NULL;

	if (!ws || !path || path[0] != '/' || strlen(path) > HTTPD_WS_PATH_MAX || !subprotocol ||
	    !name_ok(subprotocol) || !cbs || !cbs->on_open || !cbs->on_message || !cbs->on_close)
		return -EINVAL;
	for (size_t i = 0; i < ws->n_eps; i++) {
		if (ws->eps[i].used && !strcmp(ws->eps[i].name, subprotocol))
			return -EEXIST;
		if (!ws->eps[i].used && !ep)
			ep = &ws->eps[i];
	}
	if (!ep)
		return -ENOSPC;
	ep->used = true;
	ep->closed = false;
	snprintf(ep->path, sizeof(ep->path), "%s", path);
	ep->cbs = *cbs;
	ep->data = data;
	if (lim)
		ep->lim = *lim;
	if (!ep->lim.max_message)
		ep->lim.max_message = HTTPD_WS_DEFAULT_MAX_MESSAGE;
	if (!ep->lim.max_queue_bytes)
		ep->lim.max_queue_bytes = HTTPD_WS_DEFAULT_MAX_QUEUE_BYTES;
	if (!ep->lim.max_queue_msgs)
		ep->lim.max_queue_msgs = HTTPD_WS_DEFAULT_MAX_QUEUE_MSGS;
	if (!ep->lim.max_connections)
		ep->lim.max_connections = HTTPD_WS_DEFAULT_MAX_CONNECTIONS;
	/* Last: from here on lws matches upgrades to the name. */
	snprintf(ep->name, sizeof(ep->name), "%s", subprotocol);
	*ret_ep = ep;
	return 0;
}

/* See httpd_ws.h. */
void httpd_ws_endpoint_close(struct httpd_ws_endpoint *ep, int code, const char *reason)
{
	struct httpd_ws_conn *c;

	if (!ep || ep->closed)
		return;
	ep->closed = true;
	for (c = ep->ws->conns; c; c = c->next) {
		if (c->ep != ep || c->dead)
			continue;
		httpd_ws_close(c, code, reason, false);
		conn_finish(c);
	}
}

/* See httpd_ws.h. */
unsigned httpd_ws_endpoint_conns(const struct httpd_ws_endpoint *ep)
{
	return ep->nconns;
}

/* Hooks for httpd.c ------------------------------------------------------------------ */

/* See httpd_ws.h. */
struct httpd_ws *httpd_ws_state_new(struct httpd *h, struct lws_protocols *slots, size_t n)
{
	struct httpd_ws *ws = xnew(struct httpd_ws);

	ws->h = h;
	ws->n_eps = n < HTTPD_WS_ENDPOINTS_MAX ? n : HTTPD_WS_ENDPOINTS_MAX;
	ws->scratch = xmalloc(LWS_PRE + (HTTPD_WS_FRAGMENT > HTTPD_WS_ANSWER_MAX ? HTTPD_WS_FRAGMENT
										: HTTPD_WS_ANSWER_MAX));
	for (size_t i = 0; i < ws->n_eps; i++) {
		struct httpd_ws_endpoint *ep = &ws->eps[i];

		ep->ws = ws;
		ep->slot = &slots[i];
		memset(&slots[i], 0, sizeof(slots[i]));
		slots[i].name = ep->name;
		slots[i].callback = ws_lws_cb;
		slots[i].per_session_data_size = sizeof(struct httpd_ws_conn *);
		slots[i].rx_buffer_size = HTTPD_WS_RX_BUFFER;
		slots[i].user = ep;
	}
	return ws;
}

/* See httpd_ws.h. */
void httpd_ws_state_teardown(struct httpd_ws *ws)
{
	if (!ws)
		return;
	for (size_t i = 0; i < ws->n_eps; i++)
		if (ws->eps[i].used)
			httpd_ws_endpoint_close(&ws->eps[i], HTTPD_WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* See httpd_ws.h. */
void httpd_ws_state_free(struct httpd_ws *ws)
{
	if (!ws)
		return;
	httpd_ws_state_teardown(ws);
	while (ws->conns)
		conn_free(ws->conns);
	free(ws->scratch);
	free(ws);
}
