/* httpd_ws.h - websocket endpoints on a struct httpd (same port, same lws
 * context, same loop).
 *
 * A websocket endpoint is a (path, subprotocol) pair on an httpd: an upgrade
 * request for that path naming that subprotocol becomes a struct
 * httpd_ws_conn, other upgrades are refused (no subprotocol, an unknown one,
 * or a known one on another path). The caller sees whole text messages,
 * decides at upgrade time whether a peer may connect (the verified client
 * certificate's CN and serial are given), and sends shared, reference-counted
 * messages: one message (a large work, a heartbeat) is encoded once and
 * queued on any number of connections without being copied per connection.
 *
 * What the module enforces (see ../shared/reference/libraries.md for why):
 *   - a message is reassembled from lws's fragments up to limits.max_message
 *     bytes; a longer one is discarded as it arrives (never buffered) and
 *     reported through on_oversize; binary messages close the connection
 *     with 1003; text is not checked for UTF-8 (the caller's parser does);
 *   - every connection has a bounded send queue (bytes and messages):
 *     httpd_ws_send refuses past the cap with -ENOBUFS, and on_drain tells the
 *     caller when a queue that refused something has emptied (resync then);
 *     messages go out only from lws's WRITEABLE callback, in fragments of at
 *     most HTTPD_WS_FRAGMENT bytes, so a slow peer holds at most one fragment
 *     inside lws besides its queue of references;
 *   - a cap on connections per endpoint: past it the upgrade is answered
 *     with HTTP 503 and Retry-After before any websocket exists; on_open may
 *     refuse with an HTTP status of its own (401, 403);
 *   - closes carry a code and a reason; a close that waits for the queue to
 *     flush gives up after HTTPD_WS_CLOSE_FLUSH_SECS.
 *
 * Lifetimes: an endpoint belongs to its httpd (freed with it). After
 * httpd_ws_endpoint_close (or httpd_free) no callback of the endpoint runs
 * again; on_close has been called for each of its connections. A struct
 * httpd_ws_conn is valid from on_open until on_close returns.
 * Everything runs on the httpd's loop thread; nothing blocks.
 *
 *   static const struct httpd_ws_callbacks cbs = { my_open, my_message, ... };
 *   struct httpd_ws_limits lim = { .max_message = 1 << 20 };
 *   httpd_ws_register(httpd, "/agent/v1/stream", "cloudevents.json", &cbs, &lim, me, &ep);
 *   ...
 *   struct httpd_ws_msg *m = httpd_ws_msg_take(json_text, len);
 *   httpd_ws_send(conn, m, 0);       (once per connection that needs it)
 *   httpd_ws_msg_unref(m);
 */
#ifndef NAVE_HTTPD_WS_H
#define NAVE_HTTPD_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpd;
struct httpd_ws;
struct httpd_ws_endpoint;
struct httpd_ws_conn;
struct httpd_ws_msg;
struct lws_protocols;

#define HTTPD_WS_ENDPOINTS_MAX 3            /* endpoints per httpd (lws protocol slots) */
#define HTTPD_WS_NAME_MAX 63                /* cap on a subprotocol name */
#define HTTPD_WS_PATH_MAX 255               /* cap on an endpoint path */
#define HTTPD_WS_FRAGMENT (16 * 1024)       /* most payload bytes per websocket frame sent */
#define HTTPD_WS_WRITE_BUDGET (64 * 1024)   /* most payload bytes written per WRITEABLE */
#define HTTPD_WS_CLOSE_FLUSH_SECS 5         /* a flushing close gives up after this */
#define HTTPD_WS_REASON_MAX 123             /* close reason bytes (RFC 6455: 125 minus the code) */
#define HTTPD_WS_RETRY_AFTER_SECS 5         /* Retry-After of a 503 at the connection cap */

/* Defaults of struct httpd_ws_limits (used for zero fields). */
#define HTTPD_WS_DEFAULT_MAX_MESSAGE ((size_t)1 << 20)
#define HTTPD_WS_DEFAULT_MAX_QUEUE_BYTES ((size_t)8 << 20)
#define HTTPD_WS_DEFAULT_MAX_QUEUE_MSGS 10000
#define HTTPD_WS_DEFAULT_MAX_CONNECTIONS 10000

/* Close codes (RFC 6455 section 7.4.1). */
#define HTTPD_WS_CLOSE_NORMAL 1000
#define HTTPD_WS_CLOSE_GOING_AWAY 1001
#define HTTPD_WS_CLOSE_PROTOCOL 1002
#define HTTPD_WS_CLOSE_UNSUPPORTED 1003
#define HTTPD_WS_CLOSE_POLICY 1008
#define HTTPD_WS_CLOSE_TOO_BIG 1009
#define HTTPD_WS_CLOSE_INTERNAL 1011
#define HTTPD_WS_CLOSE_TRY_AGAIN 1013

/* Who is asking to connect. Strings are borrowed for the callback only
 * (copy what you keep); cn and serial are NULL without a verified client
 * certificate. */
struct httpd_ws_peer {
	const char *cn;      /* the client certificate's subject CN */
	const char *serial;  /* its serial, lowercase hex without leading zero bytes */
	const char *addr;    /* the remote address as text */
	const char *path;    /* the request path (the endpoint's) */
};

struct httpd_ws_limits {
	size_t max_message;      /* bytes of one incoming message; 0: 1 MiB */
	size_t max_queue_bytes;  /* bytes queued per connection; 0: 8 MiB */
	size_t max_queue_msgs;   /* messages queued per connection; 0: 10000 */
	unsigned max_connections;/* open connections of the endpoint; 0: 10000 */
};

/* Callbacks; data is the pointer given to httpd_ws_register. Every callback
 * may call httpd_ws_send and httpd_ws_close on any connection. */
struct httpd_ws_callbacks {
	/* A peer asks to connect (before the 101 answer). Return 0 to accept
	 * (c is then live until on_close), or an HTTP status (400..599) to
	 * refuse with a Status body carrying msg (may be NULL); c is then
	 * dropped without on_close. Set per-connection state with
	 * httpd_ws_conn_set_data here. Required. */
	int (*on_open)(void *data, struct httpd_ws_conn *c, const struct httpd_ws_peer *peer,
		       const char **ret_msg);
	/* One whole text message: msg is NUL-terminated, len bytes (at most
	 * max_message), and OWNED by the callee (free it with free()). Not
	 * called after httpd_ws_close. Required. */
	void (*on_message)(void *data, struct httpd_ws_conn *c, char *msg, size_t len);
	/* A message longer than max_message was discarded; len is how many
	 * bytes had arrived when it ended. May be NULL. */
	void (*on_oversize)(void *data, struct httpd_ws_conn *c, size_t len);
	/* The queue of c emptied after httpd_ws_send refused something with
	 * -ENOBUFS: what was dropped may be sent again. May be NULL. */
	void (*on_drain)(void *data, struct httpd_ws_conn *c);
	/* c is gone (peer left, closed, endpoint closed). Called once per
	 * accepted connection; c is invalid after it returns. Required. */
	void (*on_close)(void *data, struct httpd_ws_conn *c);
};

/* Messages ------------------------------------------------------------------ */

/* A message holding a copy of data[0..len). Never NULL; one reference,
 * dropped with httpd_ws_msg_unref. */
struct httpd_ws_msg *httpd_ws_msg_new(const void *data, size_t len);
/* A message taking ownership of data (from malloc; freed with free() when
 * the last reference goes), len bytes. Never NULL; one reference. */
struct httpd_ws_msg *httpd_ws_msg_take(char *data, size_t len);
/* Another reference to m; returns m. */
struct httpd_ws_msg *httpd_ws_msg_ref(struct httpd_ws_msg *m);
/* Drop a reference. Accepts NULL; returns NULL. */
struct httpd_ws_msg *httpd_ws_msg_unref(struct httpd_ws_msg *m);
/* The payload (borrowed; valid while a reference is held) and its length. */
const char *httpd_ws_msg_data(const struct httpd_ws_msg *m, size_t *ret_len);

/* Endpoints ------------------------------------------------------------------- */

/* Serve websocket upgrades to path with subprotocol on h. cbs, path and
 * subprotocol are copied, data is borrowed (given to every callback until
 * httpd_ws_endpoint_close). lim may be NULL (defaults). *ret_ep is owned by
 * h. Returns 0; -EINVAL (a required callback missing, a path not starting
 * with '/', names over their caps or with characters outside
 * [A-Za-z0-9._-] for the subprotocol), -EEXIST (subprotocol already served
 * on h), -ENOSPC (HTTPD_WS_ENDPOINTS_MAX reached). */
int httpd_ws_register(struct httpd *h, const char *path, const char *subprotocol,
		      const struct httpd_ws_callbacks *cbs, const struct httpd_ws_limits *lim,
		      void *data, struct httpd_ws_endpoint **ret_ep);
/* Stop the endpoint: every open connection is closed with code and reason
 * (without flushing) and its on_close runs now; later upgrades get 503.
 * No callback of ep runs after this returns. Accepts NULL. */
void httpd_ws_endpoint_close(struct httpd_ws_endpoint *ep, int code, const char *reason);
/* Open (accepted, not yet closed) connections of ep. */
unsigned httpd_ws_endpoint_conns(const struct httpd_ws_endpoint *ep);

/* Connections ------------------------------------------------------------------- */

/* Queue a reference to m on c. tag 0 appends; a non-zero tag first looks
 * for a queued message with the same tag whose sending has not begun and
 * replaces it in place (coalescing: a newer version of the same thing
 * supersedes the unsent older one). Returns 0; -ENOBUFS when the queue is
 * over its caps (nothing queued; on_drain follows once the queue empties);
 * -ENOTCONN once c is closing. */
int httpd_ws_send(struct httpd_ws_conn *c, struct httpd_ws_msg *m, uint64_t tag);
/* Close c with code (1000..4999) and reason (cut to HTTPD_WS_REASON_MAX
 * bytes). flush: send what is queued first (for at most
 * HTTPD_WS_CLOSE_FLUSH_SECS); otherwise drop it. No on_message after this;
 * on_close follows when the connection is gone. A second call only tightens
 * (flush -> no flush). */
void httpd_ws_close(struct httpd_ws_conn *c, int code, const char *reason, bool flush);
/* Whether httpd_ws_close was called (or the endpoint closed). */
bool httpd_ws_closing(const struct httpd_ws_conn *c);
/* Bytes and messages queued on c and not yet handed to the socket. */
size_t httpd_ws_queued_bytes(const struct httpd_ws_conn *c);
size_t httpd_ws_queued_msgs(const struct httpd_ws_conn *c);
/* Per-connection user pointer (borrowed by the module; NULL at first). */
void httpd_ws_conn_set_data(struct httpd_ws_conn *c, void *p);
void *httpd_ws_conn_get_data(const struct httpd_ws_conn *c);
/* The remote address as text (borrowed, valid as c). */
const char *httpd_ws_conn_addr(const struct httpd_ws_conn *c);

/* Hooks for common/httpd.c only ---------------------------------------------------- */

/* Called by httpd_new before the lws context exists: fills the protocol
 * slots slots[0..n) (placeholders until endpoints register) and returns the
 * module's state for h (owned by h: freed by httpd_ws_state_free). */
struct httpd_ws *httpd_ws_state_new(struct httpd *h, struct lws_protocols *slots, size_t n);
/* httpd_free began: close every endpoint (on_close runs for every
 * connection now). Accepts NULL. */
void httpd_ws_state_teardown(struct httpd_ws *ws);
/* The lws context is gone: free everything. Accepts NULL. */
void httpd_ws_state_free(struct httpd_ws *ws);
/* The state of h (implemented in httpd.c). */
struct httpd_ws *httpd_ws_state(struct httpd *h);

#endif
