/* httpd.c - the HTTP/1.1 (optionally TLS) server on libwebsockets 4.1.6 and
 * the caller's libuv loop; see httpd.h and ../shared/reference/libraries.md.
 *
 * Layout of the machinery:
 * - One lws_context per struct httpd (one vhost, one listening socket), every
 *   one on the caller's uv loop (LWS_SERVER_OPTION_LIBUV + foreign_loops), so
 *   several servers in one process stay independent; each costs lws's
 *   per-context fd tables (about 16 bytes per allowed descriptor).
 * - protocols[0] ("http") serves every request and refuses websocket
 *   upgrades. Websocket protocols go in protocols[1..HTTPD_PROTOCOLS_MAX-1]
 *   with their own callbacks (lws routes an upgrade by its subprotocol name;
 *   one with no or an unknown subprotocol lands on protocols[0] and is
 *   refused); nothing else here needs to change for that.
 * - Per connection a struct httpd_conn, hung on the wsi with
 *   lws_set_opaque_user_data: lws's per-session data cannot be used, as lws
 *   frees and re-makes it between the requests of a keep-alive connection.
 *   A connection has at most one struct httpd_req (HTTP/1.1; lws holds back
 *   pipelined requests until the transaction completes).
 * - Requests: lws gives the decoded path, the decoded query arguments one per
 *   fragment, standard headers by token (copied at once) and other headers
 *   by name from its header table (looked up on demand; lws releases the
 *   table when a stream starts, since it drops connections holding one for
 *   more than about 6 minutes). Bodies over the cap get a 413 at once and
 *   lws discards what the client still sends. "Expect: 100-continue" is
 *   answered here (lws does not).
 * - Chunked request bodies (kubectl create --raw sends them): lws 4.1.6
 *   hands the raw chunk framing to HTTP_BODY as if it were a body of 100 MiB
 *   (what it assumes for a POST, PUT or PATCH without Content-Length), so
 *   the framing is decoded here (struct chunk_dec) and the request
 *   dispatched at the last chunk; as lws still waits for the rest of its
 *   100 MiB, the connection closes after the answer. Chunked bodies on
 *   other methods (lws reads none) and POST/PUT/PATCH with neither length
 *   nor chunking get 411 and a close.
 * - Writes happen only in WRITEABLE: an answer (header block and body) or a
 *   stream's framed chunks wait in req->out and go out at most
 *   HTTPD_WRITE_CHUNK per callback through a scratch buffer with LWS_PRE
 *   headroom (given more, lws sends its packet size and copies the rest).
 *   A stream's queue is capped (httpd_stream_write returns -ENOBUFS).
 * - Waiting connections: while a request waits for its answer, or streams,
 *   lws 4.1.6 does not read the socket (state DOING_TRANSACTION) yet leaves
 *   it in the libuv poll set, so a client that closes (or sends anything)
 *   makes the loop spin at 100 % CPU until the next write, and a gone
 *   client is not noticed. (lws_rx_flow_control cannot help: a
 *   flow-controlled h1 connection gets no WRITEABLE either.) So from
 *   dispatch to the end of the answer the socket is also in a private epoll
 *   set (EPOLLIN | EPOLLRDHUP) whose fd sits on the uv loop: input or a
 *   hang-up then closes the connection within a loop iteration or two. That
 *   refuses pipelining during an answer and a client that half-closes while
 *   it waits; the HTTP clients in use here (curl, client-go, Python) do
 *   neither.
 * - TLS reads: lws reads at most its service buffer (4 KiB by default) per
 *   SSL_read; the rest of a TLS record (up to 16 KiB) stays inside OpenSSL,
 *   and on a libuv loop lws 4.1.6 services such buffered data only once
 *   after each socket event, so a request body could stall until the client
 *   gave up (seen with Python's http.client: a 24757-byte POST hung). With
 *   a read buffer larger than a record (HTTPD_READ_BUF) every SSL_read takes
 *   the whole record and nothing stays buffered. Websocket protocols added
 *   later need the same (rx_buffer_size above 16 KiB).
 * - Timeouts: lws arms a 5 s (here HTTPD_TIMEOUT_SECS) timeout per request
 *   that writing does not reset; it is cleared when the request reaches the
 *   handler, so slow answers and streams live as long as needed.
 *   Idle keep-alive connections close after HTTPD_KEEPALIVE_SECS.
 * - Destruction: on a foreign libuv loop lws_context_destroy only starts the
 *   close; the context must be destroyed a second time once its uv handles
 *   have closed, and lws says nothing when that is. A uv timer (the reaper)
 *   polls every millisecond for handles still tagged with the context as
 *   their data (lws tags its static handles so, and closes them after the
 *   last connection) and then finishes; the struct httpd lives until then.
 * - Hooks for the embedding server (httpd_config.on_answer, on_stream_write,
 *   request tags): each request copies the hooks and their userdata when it
 *   is made, so a late answer to a request whose connection is gone needs no
 *   struct httpd; httpd_teardown clears them on requests still waiting for
 *   an answer (nothing is called back once httpd_free ran). The observer is
 *   called where the status is fixed: req_queue_status (httpd's own
 *   answers, only before the handler), httpd_respond and httpd_stream_start
 *   (only from REQ_HANDLER), so at most once per request.
 * Everything runs on the loop's thread; nothing blocks.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "alloc.h"
#include "buf.h"
#include "httpd_ws.h"
#include "log.h"

#define HTTPD_DEFAULT_MAX_BODY ((size_t)3 << 20)
#define HTTPD_DEFAULT_STREAM_QUEUE ((size_t)4 << 20)
#define HTTPD_WRITE_CHUNK (64 * 1024)   /* most bytes handed to lws per WRITEABLE */
#define HTTPD_HEAD_BASE 512             /* header block bytes besides added headers */
#define HTTPD_PROTOCOLS_MAX 4           /* http + room for websocket protocols */
#define HTTPD_READ_BUF (32 * 1024)     /* lws's per-context read buffer: see "TLS reads" */
#define HTTPD_REAP_TICK_MS 1
#define HTTPD_REAP_GIVE_UP_MS 10000

/* Decoding state of a chunked request body (RFC 9112 section 7.1). */
enum chunk_state {
	CH_SIZE,        /* hex digits of a chunk size */
	CH_EXT,         /* chunk extension, skipped up to CR */
	CH_SIZE_LF,     /* LF after the size line */
	CH_DATA,        /* chunk data */
	CH_DATA_CR,     /* CR after the data */
	CH_DATA_LF,     /* LF after the data */
	CH_TRAILER,     /* start of a trailer line, or the final CRLF */
	CH_TRAILER_LINE,/* a trailer field, skipped up to CR */
	CH_TRAILER_LF,  /* LF after a trailer field */
	CH_END_LF,      /* LF of the final CRLF */
	CH_DONE,
};

#define CHUNK_SKIP_MAX 4096 /* cap on chunk extensions plus trailers, bytes */

struct chunk_dec {
	enum chunk_state state;
	size_t size;        /* of the chunk being read; remaining bytes in CH_DATA */
	int digits;         /* hex digits seen in this size line */
	size_t skipped;     /* extension and trailer bytes so far */
};

enum httpd_req_state {
	REQ_NEW,      /* headers being read */
	REQ_BODY,     /* reading the request body */
	REQ_HANDLER,  /* handed to the handler, not answered yet */
	REQ_RESPONSE, /* answer queued in out, being written */
	REQ_STREAM,   /* chunked stream: out holds framed chunks not yet written */
};

struct httpd_kv {
	char *name;  /* owned */
	char *value; /* owned */
};

struct httpd {
	uv_loop_t *loop;             /* borrowed */
	struct lws_context *ctx;     /* owned; see "Destruction" above */
	struct lws_vhost *vhost;     /* owned by ctx */
	SSL_CTX *client_ssl_ctx;     /* owned; handed to lws as provided_client_ssl_ctx (see httpd_new) */
	struct lws_protocols protocols[HTTPD_PROTOCOLS_MAX + 1]; /* zero-terminated */
	httpd_handler_fn handler;
	void *userdata;              /* borrowed; given to handler and the hooks */
	httpd_answer_fn on_answer;   /* NULL if none */
	httpd_stream_write_fn on_stream_write; /* NULL if none */
	size_t max_body;
	size_t max_stream_queue;
	bool client_certs;           /* client_ca_path given: identities are read */
	int port;
	struct httpd_conn *conns;    /* open connections (each owned by its wsi) */
	bool freeing;                /* httpd_free ran: no new requests */
	int watch_fd;                /* owned epoll set of waiting connections (see above) */
	uv_poll_t watch_poll;        /* watch_fd on the loop */
	uv_timer_t reaper;           /* finishes destroying ctx, then frees this */
	uint64_t reap_start;         /* uv_now when the reaper started */
	int handles_open;            /* our uv handles not yet closed; freed at 0 */
	unsigned char *scratch;      /* owned; LWS_PRE + HTTPD_WRITE_CHUNK bytes */
	char *hdrbuf;                /* owned; HTTPD_HEADER_MAX + 1 bytes for header copies */
	char *listen_addr;           /* owned copies of the configuration's strings */
	char *cert_path;
	char *key_path;
	char *client_ca_path;
	struct httpd_ws *ws;          /* owned: websocket endpoints (httpd_ws.c) */
};

struct httpd_conn {
	struct httpd *h;             /* borrowed */
	struct lws *wsi;             /* borrowed; the connection */
	struct httpd_req *req;       /* owned; the request in progress, or NULL */
	struct httpd_conn *prev;     /* in h->conns */
	struct httpd_conn *next;
	int fd;                      /* the socket while in h->watch_fd, or -1 */
	bool closed;                 /* conn_close ran */
	bool send_continue;          /* "100 Continue" due at the next WRITEABLE */
	bool peer_gone;              /* input or hang-up while an answer was pending */
};

struct httpd_req {
	struct httpd_conn *conn;     /* borrowed; NULL once the client has gone */
	enum httpd_req_state state;
	const char *method;          /* static string */
	char *path;                  /* owned */
	char *query;                 /* owned */
	struct httpd_kv *args;       /* owned */
	size_t n_args;
	struct httpd_kv *headers;    /* owned: standard headers, then custom ones found */
	size_t n_headers;
	size_t cap_headers;
	struct buf body;
	char peer_addr[64];
	char *peer_cn;               /* owned; NULL without a verified client certificate */
	char *peer_serial;           /* owned; lowercase hex */
	bool head;                   /* HEAD: answer without the body */
	struct httpd_kv extra[HTTPD_EXTRA_HEADERS_MAX]; /* owned; httpd_add_header */
	size_t n_extra;
	struct buf out;              /* bytes to write */
	size_t out_off;              /* bytes of out written already */
	bool close_after;            /* close the connection once out is written */
	bool headers_released;       /* lws's header table given back (streams) */
	bool stream_ended;           /* httpd_stream_end: the last chunk is queued */
	bool closing;                /* on_close is running */
	bool chunked;                /* the body comes chunked: decoded through dec */
	struct chunk_dec dec;
	size_t max_stream_queue;
	httpd_close_fn on_close;
	void *on_close_data;         /* borrowed; given to on_close */
	httpd_answer_fn on_answer;   /* copied from struct httpd (see "Hooks"); NULL if none */
	httpd_stream_write_fn on_stream_write;
	void *hook_data;             /* borrowed; the configuration's userdata */
	void *tag;                   /* owned through free_tag (httpd_req_set_tag) */
	httpd_tag_free_fn free_tag;  /* NULL: tag is borrowed */
};

/* Logging ------------------------------------------------------------------ */

/* lws's log lines, into common/log. lws "errors" are mostly one connection's
 * trouble (a client that went away, a failed handshake): warnings here. */
static void httpd_lws_log(int level, const char *line)
{
	enum log_level lvl;
	size_t n = strlen(line);

	if (level & LLL_ERR)
		lvl = LOG_LVL_WARN;
	else if (level & (LLL_WARN | LLL_USER))
		lvl = LOG_LVL_INFO;
	else
		lvl = LOG_LVL_DEBUG;
	if (!log_enabled(lvl))
		return;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(lvl, __FILE__, __LINE__, "lws: %.*s", (int)n, line);
}

static void httpd_log_setup(void)
{
	int levels = LLL_ERR | LLL_WARN | LLL_USER;

	if (log_enabled(LOG_LVL_DEBUG))
		levels |= LLL_NOTICE;
	lws_set_log_level(levels, httpd_lws_log);
}

/* Requests ----------------------------------------------------------------- */

static struct httpd_req *req_free(struct httpd_req *req)
{
	if (!req)
		return NULL;
	free(req->path);
	free(req->query);
	for (size_t i = 0; i < req->n_args; i++) {
		free(req->args[i].name);
		free(req->args[i].value);
	}
	free(req->args);
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->headers);
	for (size_t i = 0; i < req->n_extra; i++) {
		free(req->extra[i].name);
		free(req->extra[i].value);
	}
	buf_free(&req->body);
	buf_free(&req->out);
	free(req->peer_cn);
	free(req->peer_serial);
	if (req->free_tag)
		req->free_tag(req->tag);
	free(req);
	return NULL;
}

/* Tell the observer the status of req's answer (see "Hooks" above). */
static void req_answered(struct httpd_req *req, int status)
{
	if (req->on_answer)
		req->on_answer(req, status, req->hook_data);
}

static void req_add_header(struct httpd_req *req, char *name, char *value)
{
	if (req->n_headers == req->cap_headers) {
		req->cap_headers = req->cap_headers ? 2 * req->cap_headers : 16;
		req->headers = xrealloc(req->headers, req->cap_headers * sizeof(*req->headers));
	}
	req->headers[req->n_headers].name = name;
	req->headers[req->n_headers].value = value;
	req->n_headers++;
}

static const char *req_find_header(const struct httpd_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* Copy every standard header lws parsed (tokens named "name:"). */
static void req_read_headers(struct httpd *h, struct httpd_req *req, struct lws *wsi)
{
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
		size_t nlen;
		int n;

		if (!name || !name[0] || name[0] == ':')
			continue;
		nlen = strlen(name);
		if (name[nlen - 1] != ':')
			continue;
		if (lws_hdr_total_length(wsi, (enum lws_token_indexes)t) <= 0)
			continue;
		n = lws_hdr_copy(wsi, h->hdrbuf, HTTPD_HEADER_MAX + 1, (enum lws_token_indexes)t);
		if (n <= 0)
			continue;
		req_add_header(req, xstrndup(name, nlen - 1), xstrndup(h->hdrbuf, (size_t)n));
	}
}

/* Append s to b percent-encoded (RFC 3986 unreserved characters stay). */
static void pct_encode(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			buf_append(b, s, 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* The decoded query arguments, one "name=value" per lws fragment. */
static int req_read_args(struct httpd *h, struct httpd_req *req, struct lws *wsi)
{
	struct buf q;
	int n;

	buf_init(&q, 4 * (size_t)HTTPD_HEADER_MAX);
	for (int i = 0;; i++) {
		char *eq;

		n = lws_hdr_copy_fragment(wsi, h->hdrbuf, HTTPD_HEADER_MAX + 1, WSI_TOKEN_HTTP_URI_ARGS,
					  i);
		if (n < 0)
			break;
		if (n == 0)
			continue;
		if (req->n_args == HTTPD_ARGS_MAX) {
			buf_free(&q);
			return -E2BIG;
		}
		if (!req->args)
			req->args = xcalloc(HTTPD_ARGS_MAX, sizeof(*req->args));
		eq = strchr(h->hdrbuf, '=');
		if (eq) {
			req->args[req->n_args].name = xstrndup(h->hdrbuf, (size_t)(eq - h->hdrbuf));
			req->args[req->n_args].value = xstrdup(eq + 1);
		} else {
			req->args[req->n_args].name = xstrdup(h->hdrbuf);
			req->args[req->n_args].value = xstrdup("");
		}
		if (q.len)
			buf_puts(&q, "&");
		pct_encode(&q, req->args[req->n_args].name);
		if (eq) {
			buf_puts(&q, "=");
			pct_encode(&q, req->args[req->n_args].value);
		}
		req->n_args++;
	}
	req->query = buf_steal(&q, NULL);
	return 0;
}

/* The verified client certificate's CN and serial (lowercase hex), read
 * through OpenSSL: lws's own CN getter returns everything after "/CN=". */
static void req_read_identity(struct httpd *h, struct httpd_req *req, struct lws *wsi)
{
	char cn[256];
	SSL *ssl;
	X509 *x;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int n;

	if (!h->client_certs)
		return;
	ssl = lws_get_ssl(lws_get_network_wsi(wsi));
	if (!ssl)
		return;
	x = SSL_get1_peer_certificate(ssl);
	if (!x)
		return;
	/* The handshake already failed for anything else; belt and braces. */
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	if (n <= 0 || (size_t)n >= sizeof(cn) || strlen(cn) != (size_t)n)
		goto out;
	for (int i = 0; i < n; i++)
		if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
			goto out;
	bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(x), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	if (!hex)
		goto out;
	for (char *p = hex; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	req->peer_cn = xstrdup(cn);
	req->peer_serial = xstrdup(hex);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
}

/* Answers ----------------------------------------------------------------- */

/* Queue an answer: the header block (through lws's helpers, which know the
 * request's HTTP version) and, unless HEAD, the body. body_len is
 * LWS_ILLEGAL_HTTP_CONTENT_LEN for a chunked stream. */
static int req_queue_head(struct httpd_req *req, int status, const char *content_type,
			  lws_filepos_t body_len, size_t out_max)
{
	struct lws *wsi = req->conn->wsi;
	size_t cap = HTTPD_HEAD_BASE + (content_type ? strlen(content_type) : 0);
	unsigned char *block, *p, *end;
	int r = -EINVAL;

	for (size_t i = 0; i < req->n_extra; i++)
		cap += strlen(req->extra[i].name) + strlen(req->extra[i].value) + 4;
	block = xmalloc(cap);
	p = block;
	end = block + cap;
	if (lws_add_http_header_status(wsi, (unsigned int)status, &p, end))
		goto out;
	if (content_type &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
					 (const unsigned char *)content_type,
					 (int)strlen(content_type), &p, end))
		goto out;
	if (body_len == LWS_ILLEGAL_HTTP_CONTENT_LEN) {
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING,
						 (const unsigned char *)"chunked", 7, &p, end))
			goto out;
	} else if (lws_add_http_header_content_length(wsi, body_len, &p, end)) {
		goto out;
	}
	for (size_t i = 0; i < req->n_extra; i++)
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)req->extra[i].name,
						(const unsigned char *)req->extra[i].value,
						(int)strlen(req->extra[i].value), &p, end))
			goto out;
	if (req->close_after &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
					 (const unsigned char *)"close", 5, &p, end))
		goto out;
	if (lws_finalize_http_header(wsi, &p, end))
		goto out;
	buf_free(&req->out);
	buf_init(&req->out, (size_t)(p - block) + out_max);
	r = buf_append(&req->out, block, (size_t)(p - block));
out:
	free(block);
	return r;
}

static void req_queue_answer(struct httpd_req *req, int status, const char *content_type,
			     const char *body, size_t len)
{
	req->state = REQ_RESPONSE;
	if (req_queue_head(req, status, content_type, len, req->head ? 0 : len) < 0) {
		/* Only a broken header could do this: drop the connection. */
		log_error("httpd: %s %s: cannot format the answer's headers; closing",
			  req->method, req->path);
		buf_reset(&req->out);
		req->close_after = true;
	} else if (!req->head && len) {
		buf_append(&req->out, body, len);
	}
	lws_callback_on_writable(req->conn->wsi);
}

/* A Kubernetes-style Status body for what never reaches the handler. */
static void req_queue_status(struct httpd_req *req, int code, const char *reason,
			     const char *message)
{
	json_t *j;
	char *s;

	j = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
		      "v1", "metadata", "status", "Failure", "message", message, "reason", reason,
		      "code", code);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	req_answered(req, code);
	req_queue_answer(req, code, "application/json", s ? s : "{}", s ? strlen(s) : 2);
	free(s);
	json_decref(j);
}

/* Connections ------------------------------------------------------------- */

static struct httpd_conn *conn_get(struct httpd *h, struct lws *wsi)
{
	struct httpd_conn *c = lws_get_opaque_user_data(wsi);

	if (c)
		return c;
	c = xnew(struct httpd_conn);
	c->h = h;
	c->wsi = wsi;
	c->fd = -1;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	lws_set_opaque_user_data(wsi, c);
	return c;
}

/* Watch the socket for input while an answer is pending (see above). */
static void conn_watch(struct httpd_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	int fd = lws_get_socket_fd(c->wsi);

	if (c->fd >= 0 || fd < 0)
		return;
	if (epoll_ctl(c->h->watch_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn("httpd: epoll_ctl: %s (a client leaving goes unseen)", strerror(errno));
		return;
	}
	c->fd = fd;
}

static void conn_unwatch(struct httpd_conn *c)
{
	/* After lws closed the socket the number may be someone else's (a
	 * closed socket left the epoll set by itself). */
	if (c->fd >= 0 && lws_get_socket_fd(c->wsi) == c->fd)
		epoll_ctl(c->h->watch_fd, EPOLL_CTL_DEL, c->fd, NULL);
	c->fd = -1;
}

/* The client has gone (or the server is closing): finish what it had. */
static void conn_close(struct httpd_conn *c)
{
	struct httpd_req *req = c->req;

	if (c->closed)
		return;
	c->closed = true;
	c->req = NULL;
	conn_unwatch(c);
	if (req) {
		switch (req->state) {
		case REQ_HANDLER:
			/* The handler owes an answer; it is dropped when it comes
			 * (and, once httpd_free ran, not observed). */
			req->conn = NULL;
			if (c->h->freeing) {
				req->on_answer = NULL;
				req->on_stream_write = NULL;
			}
			break;
		case REQ_STREAM:
			req->conn = NULL;
			if (!req->stream_ended && req->on_close) {
				req->closing = true;
				req->on_close(req, req->on_close_data);
			}
			req_free(req);
			break;
		default:
			req_free(req);
			break;
		}
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (c->h->conns == c)
		c->h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void req_dispatch(struct httpd *h, struct httpd_req *req)
{
	struct httpd_conn *c = req->conn;

	req->state = REQ_HANDLER;
	/* lws's request timeout is not reset by writing: clear it, answers
	 * and streams take as long as they take. */
	lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
	/* lws does not read until the answer is out (see "Waiting
	 * connections" above). */
	conn_watch(c);
	h->handler(req, h->userdata);
}

/* Input or a hang-up on a connection whose answer is pending: close it. */
static void on_watch(uv_poll_t *poll, int status, int events)
{
	struct httpd *h = poll->data;
	struct epoll_event evs[64];
	int n;

	do {
		n = epoll_wait(h->watch_fd, evs, 64, 0);
		for (int i = 0; i < n; i++) {
			struct httpd_conn *c = evs[i].data.ptr;

			conn_unwatch(c);
			if (c->closed)
				continue;
			c->peer_gone = true;
			lws_callback_on_writable(c->wsi);
		}
	} while (n == 64);
}

static const struct {
	enum lws_token_indexes token;
	const char *name;
} httpd_methods[] = {
	{ WSI_TOKEN_GET_URI, "GET" },         { WSI_TOKEN_POST_URI, "POST" },
	{ WSI_TOKEN_PUT_URI, "PUT" },         { WSI_TOKEN_PATCH_URI, "PATCH" },
	{ WSI_TOKEN_DELETE_URI, "DELETE" },   { WSI_TOKEN_HEAD_URI, "HEAD" },
	{ WSI_TOKEN_OPTIONS_URI, "OPTIONS" },
};

/* Parse a Content-Length: digits only. */
static int parse_length(const char *s, unsigned long long *ret)
{
	unsigned long long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (~0ULL - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*ret = v;
	return 0;
}

static int on_http(struct httpd *h, struct lws *wsi, const char *uri)
{
	struct httpd_conn *c;
	struct httpd_req *req;
	const char *te, *cl, *expect;
	unsigned long long length = 0;
	char msg[160];
	bool wants_body;

	if (h->freeing)
		return -1;
	if (lws_get_network_wsi(wsi) != wsi) {
		/* ALPN offers http/1.1 only; an h2 stream here is a surprise. */
		log_warn("httpd: refusing an HTTP/2 stream");
		return -1;
	}
	c = conn_get(h, wsi);
	if (c->req) {
		log_warn("httpd: %s: a request while another is in progress; closing",
			 c->req->peer_addr);
		return -1;
	}
	req = xnew(struct httpd_req);
	req->conn = c;
	req->state = REQ_NEW;
	req->max_stream_queue = h->max_stream_queue;
	req->on_answer = h->on_answer;
	req->on_stream_write = h->on_stream_write;
	req->hook_data = h->userdata;
	c->req = req;
	buf_init(&req->body, 0);
	buf_init(&req->out, 0);
	if (!lws_get_peer_simple(wsi, req->peer_addr, sizeof(req->peer_addr)))
		snprintf(req->peer_addr, sizeof(req->peer_addr), "?");
	/* lws listens on IPv6 sockets: show IPv4 peers plainly. */
	if (strncmp(req->peer_addr, "::ffff:", 7) == 0 && strchr(req->peer_addr, '.'))
		memmove(req->peer_addr, req->peer_addr + 7, strlen(req->peer_addr + 7) + 1);
	req->path = xstrdup(uri ? uri : "/");
	req_read_headers(h, req, wsi);
	req_read_identity(h, req, wsi);
	for (size_t i = 0; i < sizeof(httpd_methods) / sizeof(httpd_methods[0]); i++)
		if (lws_hdr_total_length(wsi, httpd_methods[i].token) > 0)
			req->method = httpd_methods[i].name;
	if (!req->method) {
		req->method = "?";
		req->query = xstrdup("");
		req->close_after = true;
		req_queue_status(req, 405, "MethodNotAllowed", "method not supported");
		return 0;
	}
	req->head = strcmp(req->method, "HEAD") == 0;
	if (req_read_args(h, req, wsi) < 0) {
		if (!req->query)
			req->query = xstrdup("");
		snprintf(msg, sizeof(msg), "more than %d query parameters", HTTPD_ARGS_MAX);
		req_queue_status(req, 400, "BadRequest", msg);
		return 0;
	}

	te = req_find_header(req, "transfer-encoding");
	cl = req_find_header(req, "content-length");
	expect = req_find_header(req, "expect");
	wants_body = !strcmp(req->method, "POST") || !strcmp(req->method, "PUT") ||
		     !strcmp(req->method, "PATCH");
	if (te && strcasecmp(te, "identity") != 0) {
		/* Either way the connection cannot be reused (see above). */
		req->close_after = true;
		if (strcasecmp(te, "chunked") != 0) {
			req_queue_status(req, 501, "NotImplemented",
					 "only the chunked transfer coding is supported");
			return 0;
		}
		if (cl) {
			/* Both framings: a request smuggling attempt, or a bug. */
			req_queue_status(req, 400, "BadRequest",
					 "both Content-Length and Transfer-Encoding");
			return 0;
		}
		if (!wants_body) {
			req_queue_status(req, 411, "LengthRequired",
					 "a chunked body is accepted on POST, PUT and PATCH only; "
					 "send a Content-Length");
			return 0;
		}
		req->state = REQ_BODY;
		req->chunked = true;
		buf_init(&req->body, h->max_body);
		if (expect && strcasecmp(expect, "100-continue") == 0) {
			c->send_continue = true;
			lws_callback_on_writable(wsi);
		}
		return 0;
	}
	if (!cl && wants_body) {
		req->close_after = true;
		req_queue_status(req, 411, "LengthRequired",
				 "a request body needs a Content-Length or chunked encoding");
		return 0;
	}
	if (cl && parse_length(cl, &length) < 0) {
		req->close_after = true;
		req_queue_status(req, 400, "BadRequest", "invalid Content-Length");
		return 0;
	}
	if (length > h->max_body) {
		snprintf(msg, sizeof(msg), "request body of %llu bytes is larger than the %zu allowed",
			 length, h->max_body);
		/* A client waiting for 100 Continue sends no body: close instead
		 * of waiting for it; otherwise lws discards the body. */
		if (expect)
			req->close_after = true;
		req_queue_status(req, 413, "RequestEntityTooLarge", msg);
		return 0;
	}
	if (length > 0) {
		req->state = REQ_BODY;
		buf_init(&req->body, (size_t)length);
		if (expect && strcasecmp(expect, "100-continue") == 0) {
			c->send_continue = true;
			lws_callback_on_writable(wsi);
		}
		return 0;
	}
	req_dispatch(h, req);
	return 0;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Feed raw chunked bytes. Returns 0 (more wanted or done: see
 * req->dec.state), -EBADMSG (bad framing) or -E2BIG (over the body cap). */
static int chunk_feed(struct httpd_req *req, const unsigned char *p, size_t len)
{
	struct chunk_dec *d = &req->dec;

	while (len && d->state != CH_DONE) {
		unsigned char ch = *p;
		int v;

		switch (d->state) {
		case CH_DATA: {
			size_t n = len < d->size ? len : d->size;

			if (buf_append(&req->body, p, n) < 0)
				return -E2BIG;
			p += n;
			len -= n;
			d->size -= n;
			if (!d->size)
				d->state = CH_DATA_CR;
			continue;
		}
		case CH_SIZE:
			v = hex_digit(ch);
			if (v >= 0) {
				if (d->size > req->body.max)
					return -E2BIG;
				d->size = d->size * 16 + (size_t)v;
				d->digits++;
			} else if (d->digits && (ch == ';' || ch == ' ' || ch == '\t')) {
				d->state = CH_EXT;
			} else if (d->digits && ch == '\r') {
				d->state = CH_SIZE_LF;
			} else {
				return -EBADMSG;
			}
			break;
		case CH_EXT:
		case CH_TRAILER_LINE:
			if (++d->skipped > CHUNK_SKIP_MAX)
				return -EBADMSG;
			if (ch == '\r')
				d->state = d->state == CH_EXT ? CH_SIZE_LF : CH_TRAILER_LF;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -EBADMSG;
			if (d->size > req->body.max - req->body.len)
				return -E2BIG;
			d->state = d->size ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA_CR:
			if (ch != '\r')
				return -EBADMSG;
			d->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -EBADMSG;
			d->state = CH_SIZE;
			d->size = 0;
			d->digits = 0;
			break;
		case CH_TRAILER:
			d->state = ch == '\r' ? CH_END_LF : CH_TRAILER_LINE;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -EBADMSG;
			d->state = CH_TRAILER;
			break;
		case CH_END_LF:
			if (ch != '\n')
				return -EBADMSG;
			d->state = CH_DONE;
			break;
		case CH_DONE:
			break;
		}
		p++;
		len--;
	}
	return 0;
}

static int on_body(struct httpd *h, struct lws *wsi, const void *in, size_t len)
{
	struct httpd_conn *c = lws_get_opaque_user_data(wsi);
	struct httpd_req *req = c ? c->req : NULL;
	char msg[160];
	int r;

	/* Body bytes of a request already answered (413) are ignored. */
	if (!req || req->state != REQ_BODY || !len)
		return 0;
	if (req->chunked) {
		r = chunk_feed(req, in, len);
		if (r == -E2BIG) {
			snprintf(msg, sizeof(msg), "chunked request body larger than the %zu allowed",
				 h->max_body);
			req_queue_status(req, 413, "RequestEntityTooLarge", msg);
		} else if (r < 0) {
			req_queue_status(req, 400, "BadRequest", "malformed chunked request body");
		} else if (req->dec.state == CH_DONE) {
			req_dispatch(h, req);
		}
		return 0;
	}
	if (buf_append(&req->body, in, len) < 0) {
		/* More than the Content-Length lws itself counts down: cannot happen. */
		log_warn("httpd: %s %s: body longer than its Content-Length; closing",
			 req->method, req->path);
		return -1;
	}
	return 0;
}

static int on_body_done(struct httpd *h, struct lws *wsi)
{
	struct httpd_conn *c = lws_get_opaque_user_data(wsi);
	struct httpd_req *req = c ? c->req : NULL;

	if (!req || req->state != REQ_BODY || req->chunked)
		return 0;
	req_dispatch(h, req);
	return 0;
}

static int on_writeable(struct httpd *h, struct lws *wsi)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct httpd_conn *c = lws_get_opaque_user_data(wsi);
	struct httpd_req *req = c ? c->req : NULL;
	unsigned char *p = h->scratch + LWS_PRE;
	size_t pending, n;
	bool last, close;

	if (!c || c->closed)
		return 0;
	if (c->peer_gone)
		return -1;
	if (c->send_continue) {
		c->send_continue = false;
		memcpy(p, cont, sizeof(cont) - 1);
		if (lws_write(wsi, p, sizeof(cont) - 1, LWS_WRITE_HTTP) < 0)
			return -1;
		if (req && (req->state == REQ_RESPONSE || req->state == REQ_STREAM))
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (!req || (req->state != REQ_RESPONSE && req->state != REQ_STREAM))
		return 0;
	if (req->state == REQ_STREAM && !req->headers_released) {
		/* Everything needed was copied; lws drops connections that hold
		 * a header table for long. */
		req->headers_released = true;
		lws_http_headers_detach(wsi);
	}
	pending = req->out.len - req->out_off;
	if (pending) {
		n = pending < HTTPD_WRITE_CHUNK ? pending : HTTPD_WRITE_CHUNK;
		last = n == pending && (req->state == REQ_RESPONSE || req->stream_ended);
		memcpy(p, req->out.data + req->out_off, n);
		if (lws_write(wsi, p, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
			return -1;
		req->out_off += n;
		if (req->out_off < req->out.len) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	if (req->state == REQ_STREAM && !req->stream_ended) {
		/* Drained: give back a large queue's memory. */
		if (req->out.alloc > HTTPD_WRITE_CHUNK) {
			size_t max = req->out.max;

			buf_free(&req->out);
			buf_init(&req->out, max);
		} else {
			buf_reset(&req->out);
		}
		req->out_off = 0;
		return 0;
	}
	/* The answer is out: the next request may come on this connection. */
	close = req->close_after;
	c->req = NULL;
	req_free(req);
	conn_unwatch(c);
	if (close)
		return -1;
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

/* Returns 0 to accept the client certificate, 1 to fail the handshake. lws
 * ignores OpenSSL's verdict unless this callback passes it on. */
static int on_client_cert(X509_STORE_CTX *store, int preverify_ok)
{
	char subject[256] = "?";
	X509 *cert;

	if (preverify_ok)
		return 0;
	cert = X509_STORE_CTX_get_current_cert(store);
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	log_info("httpd: refusing client certificate %s: %s", subject,
		 X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
	return 1;
}

static int httpd_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	struct httpd_conn *c;
	struct httpd *h;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		return on_client_cert(user, (int)len);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* A websocket upgrade that no websocket protocol took. */
		return 1;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* lws would switch a plain connection to HTTP/2 (h2c), whose
		 * streams are refused here: answer now instead (lws lets this
		 * callback write its own answer, then completes it). */
		if (in && strcasecmp(in, "h2c") == 0) {
			lws_return_http_status(wsi, HTTP_STATUS_HTTP_VERSION_NOT_SUPPORTED,
					       "HTTP/2 is not served; use HTTP/1.1");
			return 1;
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		h = lws_context_user(lws_get_context(wsi));
		return on_http(h, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		h = lws_context_user(lws_get_context(wsi));
		return on_body(h, wsi, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		h = lws_context_user(lws_get_context(wsi));
		return on_body_done(h, wsi);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		h = lws_context_user(lws_get_context(wsi));
		return on_writeable(h, wsi);
	case LWS_CALLBACK_CLOSED_HTTP:
		c = lws_get_opaque_user_data(wsi);
		if (c)
			conn_close(c);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		c = lws_get_opaque_user_data(wsi);
		if (c) {
			conn_close(c);
			lws_set_opaque_user_data(wsi, NULL);
			free(c);
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Setup and teardown ------------------------------------------------------ */

/* Catch what would make lws fail inside lws_create_context, where failing on
 * a foreign loop leaves its handles half closed: a taken port, unreadable or
 * mismatched TLS files. */
static int httpd_precheck(const struct httpd_config *cfg)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(struct sockaddr_in);
	SSL_CTX *sc = NULL;
	int fd, one = 1, r = 0;

	if (cfg->port) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		const char *addr = cfg->listen_addr;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)cfg->port);
		if (addr && inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)cfg->port);
			sl = sizeof(*a6);
		} else if (addr && inet_pton(AF_INET, addr, &a4->sin_addr) != 1) {
			log_error("httpd: listen address %s: not an IP address", addr);
			return -EINVAL;
		}
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, (struct sockaddr *)&ss, sl) < 0 && errno == EADDRINUSE)
				r = -EADDRINUSE;
			close(fd);
		}
		if (r < 0) {
			log_error("httpd: port %d is in use", cfg->port);
			return r;
		}
	}
	if (!cfg->cert_path)
		return 0;
	sc = SSL_CTX_new(TLS_server_method());
	if (!sc)
		return -ENOMEM;
	if (SSL_CTX_use_certificate_chain_file(sc, cfg->cert_path) != 1) {
		log_error("httpd: %s: cannot load the certificate", cfg->cert_path);
		r = -EINVAL;
	} else if (SSL_CTX_use_PrivateKey_file(sc, cfg->key_path, SSL_FILETYPE_PEM) != 1 ||
		   SSL_CTX_check_private_key(sc) != 1) {
		log_error("httpd: %s: cannot load the key, or it does not match %s", cfg->key_path,
			  cfg->cert_path);
		r = -EINVAL;
	} else if (cfg->client_ca_path &&
		   SSL_CTX_load_verify_locations(sc, cfg->client_ca_path, NULL) != 1) {
		log_error("httpd: %s: cannot load the client CA", cfg->client_ca_path);
		r = -EINVAL;
	}
	ERR_clear_error();
	SSL_CTX_free(sc);
	return r;
}

static void httpd_release(struct httpd *h)
{
	if (h->watch_fd >= 0)
		close(h->watch_fd);
	free(h->scratch);
	free(h->hdrbuf);
	free(h->listen_addr);
	free(h->cert_path);
	free(h->key_path);
	free(h->client_ca_path);
	httpd_ws_state_free(h->ws);
	SSL_CTX_free(h->client_ssl_ctx);
	free(h);
}

static void handle_closed(uv_handle_t *handle)
{
	struct httpd *h = handle->data;

	if (--h->handles_open == 0)
		httpd_release(h);
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
	struct httpd *h = t->data;
	struct reap_walk w = { .ctx = h->ctx, .busy = false };

	uv_walk(h->loop, reap_walk_cb, &w);
	if (w.busy) {
		if (uv_now(h->loop) - h->reap_start < HTTPD_REAP_GIVE_UP_MS)
			return;
		/* Should not happen; freeing now would be a use after free. */
		log_error("httpd: lws did not finish closing in %d ms; leaking its context",
			  HTTPD_REAP_GIVE_UP_MS);
	} else {
		/* The second call frees the context (its handles are closed). */
		lws_context_destroy(h->ctx);
	}
	h->ctx = NULL;
	/* Anything lws did not tell us about is ours to free now. */
	while (h->conns) {
		struct httpd_conn *c = h->conns;

		conn_close(c);
		free(c);
	}
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, handle_closed);
	uv_poll_stop(&h->watch_poll);
	uv_close((uv_handle_t *)&h->watch_poll, handle_closed);
}

/* Begin closing: connections are closed, the context is destroyed by the
 * reaper. stage1 is false when lws already began (a failed create). */
static void httpd_teardown(struct httpd *h, bool stage1)
{
	h->freeing = true;
	httpd_ws_state_teardown(h->ws);
	while (h->conns)
		conn_close(h->conns);
	if (stage1)
		lws_context_destroy(h->ctx);
	uv_timer_init(h->loop, &h->reaper);
	h->reaper.data = h;
	h->handles_open++;
	h->reap_start = uv_now(h->loop);
	uv_timer_start(&h->reaper, reaper_tick, HTTPD_REAP_TICK_MS, HTTPD_REAP_TICK_MS);
}

int httpd_new(uv_loop_t *loop, const struct httpd_config *cfg, struct httpd **ret_httpd)
{
	struct lws_context_creation_info info;
	void *foreign[1] = { loop };
	struct httpd *h;
	int r;

	if (!loop || !cfg || !cfg->handler || cfg->port < 0 || cfg->port > 65535 ||
	    !cfg->cert_path != !cfg->key_path || (cfg->client_ca_path && !cfg->cert_path)) {
		log_error("httpd: invalid configuration (handler, port 0-65535, cert and key "
			  "together, client CA only with TLS)");
		return -EINVAL;
	}
	r = httpd_precheck(cfg);
	if (r < 0)
		return r;
	httpd_log_setup();

	h = xnew(struct httpd);
	h->loop = loop;
	h->handler = cfg->handler;
	h->userdata = cfg->userdata;
	h->on_answer = cfg->on_answer;
	h->on_stream_write = cfg->on_stream_write;
	h->max_body = cfg->max_body ? cfg->max_body : HTTPD_DEFAULT_MAX_BODY;
	h->max_stream_queue = cfg->max_stream_queue ? cfg->max_stream_queue
						    : HTTPD_DEFAULT_STREAM_QUEUE;
	h->client_certs = cfg->client_ca_path != NULL;
	h->listen_addr = xstrdup(cfg->listen_addr);
	h->cert_path = xstrdup(cfg->cert_path);
	h->key_path = xstrdup(cfg->key_path);
	h->client_ca_path = xstrdup(cfg->client_ca_path);
	h->scratch = xmalloc(LWS_PRE + HTTPD_WRITE_CHUNK);
	h->hdrbuf = xmalloc(HTTPD_HEADER_MAX + 1);
	h->watch_fd = epoll_create1(EPOLL_CLOEXEC);
	if (h->watch_fd < 0 || uv_poll_init(loop, &h->watch_poll, h->watch_fd) < 0) {
		log_error("httpd: epoll_create1: %s", strerror(errno));
		httpd_release(h);
		return -EIO;
	}
	h->watch_poll.data = h;
	h->handles_open = 1;
	uv_poll_start(&h->watch_poll, UV_READABLE, on_watch);
	h->protocols[0].name = "http";
	h->protocols[0].callback = httpd_lws_cb;
	h->protocols[0].tx_packet_size = HTTPD_WRITE_CHUNK;
	/* protocols[1..]: websocket endpoints, filled by httpd_ws.c */
	h->ws = httpd_ws_state_new(h, &h->protocols[1], HTTPD_PROTOCOLS_MAX - 1);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV;
	info.foreign_loops = foreign;
	info.port = cfg->port;
	info.iface = h->listen_addr;
	info.protocols = h->protocols;
	info.user = h;
	info.max_http_header_data = HTTPD_HEADER_MAX;
	info.pt_serv_buf_size = HTTPD_READ_BUF;
	info.keepalive_timeout = HTTPD_KEEPALIVE_SECS;
	info.timeout_secs = HTTPD_TIMEOUT_SECS;
	/* HTTP/2 hides custom headers and the TLS session of a stream. */
	info.alpn = "http/1.1";
	if (cfg->cert_path) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		/* lws 4.1.6 otherwise makes a client SSL_CTX per context and, with
		 * several contexts in one process, loses track of all but the last
		 * (its SSL ex-data index is one process-wide global): a leak per
		 * extra server. A context we own and free ourselves avoids it. */
		h->client_ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (!h->client_ssl_ctx) {
			log_error("httpd: cannot create the TLS client context");
			uv_poll_stop(&h->watch_poll);
			uv_close((uv_handle_t *)&h->watch_poll, handle_closed);
			return -ENOMEM;
		}
		info.provided_client_ssl_ctx = h->client_ssl_ctx;
		info.ssl_cert_filepath = h->cert_path;
		info.ssl_private_key_filepath = h->key_path;
	}
	if (cfg->client_ca_path) {
		/* Ask for a certificate, accept clients without one; a foreign
		 * one fails in on_client_cert. */
		info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
				LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
		info.ssl_ca_filepath = h->client_ca_path;
	}
	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		log_error("httpd: cannot create the server (see lws messages above)");
		uv_poll_stop(&h->watch_poll);
		uv_close((uv_handle_t *)&h->watch_poll, handle_closed);
		return -EIO;
	}
	/* On a foreign loop a failed create returns the context, being destroyed. */
	h->vhost = lws_get_vhost_by_name(h->ctx, "default");
	h->port = h->vhost ? lws_get_vhost_listen_port(h->vhost) : -1;
	if (!h->vhost || h->port <= 0) {
		log_error("httpd: cannot listen on %s:%d (see lws messages above)",
			  cfg->listen_addr ? cfg->listen_addr : "*", cfg->port);
		httpd_teardown(h, h->vhost != NULL);
		return -EIO;
	}
	log_debug("httpd: listening on %s:%d (%s)", cfg->listen_addr ? cfg->listen_addr : "*",
		  h->port, cfg->cert_path ? "https" : "http");
	*ret_httpd = h;
	return 0;
}

struct httpd *httpd_free(struct httpd *h)
{
	if (!h || h->freeing)
		return NULL;
	httpd_teardown(h, true);
	return NULL;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

/* See httpd_ws.h. */
struct httpd_ws *httpd_ws_state(struct httpd *h)
{
	return h->ws;
}

/* Request accessors -------------------------------------------------------- */

const char *httpd_req_method(const struct httpd_req *req)
{
	return req->method;
}

const char *httpd_req_path(const struct httpd_req *req)
{
	return req->path;
}

const char *httpd_req_query(const struct httpd_req *req)
{
	return req->query ? req->query : "";
}

const char *httpd_req_arg(const struct httpd_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_args; i++)
		if (strcmp(req->args[i].name, name) == 0)
			return req->args[i].value;
	return NULL;
}

const char *httpd_req_header(const struct httpd_req *req, const char *name)
{
	/* Custom headers found are cached in req: the accessor is logically
	 * const, the cache is not. */
	struct httpd_req *mreq = (struct httpd_req *)req;
	const char *v = req_find_header(req, name);
	char key[128];
	size_t nlen = strlen(name);
	int n;

	if (v || !req->conn || req->headers_released || nlen == 0 || nlen + 2 > sizeof(key))
		return v;
	for (size_t i = 0; i < nlen; i++)
		key[i] = (char)tolower((unsigned char)name[i]);
	key[nlen] = ':';
	key[nlen + 1] = '\0';
	n = lws_hdr_custom_length(req->conn->wsi, key, (int)nlen + 1);
	if (n < 0 || n > HTTPD_HEADER_MAX)
		return NULL;
	{
		char *value = xmalloc((size_t)n + 1);

		if (lws_hdr_custom_copy(req->conn->wsi, value, n + 1, key, (int)nlen + 1) < 0) {
			free(value);
			return NULL;
		}
		req_add_header(mreq, xstrndup(key, nlen), value);
		return value;
	}
}

const char *httpd_req_body(const struct httpd_req *req, size_t *ret_len)
{
	if (ret_len)
		*ret_len = req->body.len;
	return req->body.data ? req->body.data : "";
}

const char *httpd_req_peer_cn(const struct httpd_req *req)
{
	return req->peer_cn;
}

const char *httpd_req_peer_serial(const struct httpd_req *req)
{
	return req->peer_serial;
}

const char *httpd_req_peer_addr(const struct httpd_req *req)
{
	return req->peer_addr;
}

bool httpd_req_connected(const struct httpd_req *req)
{
	return req->conn != NULL && !req->closing;
}

void httpd_req_set_tag(struct httpd_req *req, void *tag, httpd_tag_free_fn free_tag)
{
	httpd_tag_free_fn old_free = req->free_tag;
	void *old = req->tag;

	req->tag = tag;
	req->free_tag = free_tag;
	if (old_free && old != tag)
		old_free(old);
}

void *httpd_req_get_tag(const struct httpd_req *req)
{
	return req->tag;
}

/* Answers ----------------------------------------------------------------- */

void httpd_respond(struct httpd_req *req, int status, const char *content_type,
		   const char *body, size_t len)
{
	if (req->state != REQ_HANDLER) {
		log_error("httpd: %s %s answered twice (or while streaming); ignored", req->method,
			  req->path);
		return;
	}
	req_answered(req, status);
	if (!req->conn) {
		req_free(req);
		return;
	}
	req_queue_answer(req, status, content_type, body, len);
}

/* A header name: an RFC 9110 token. */
static bool header_name_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

void httpd_add_header(struct httpd_req *req, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);

	if (req->state != REQ_HANDLER || req->n_extra == HTTPD_EXTRA_HEADERS_MAX ||
	    nlen + vlen > HTTPD_EXTRA_HEADER_LEN || !header_name_valid(name) ||
	    strpbrk(value, "\r\n")) {
		log_warn("httpd: %s %s: response header \"%.64s\" dropped (invalid, too long, "
			 "too many or too late)", req->method, req->path, name);
		return;
	}
	req->extra[req->n_extra].name = xasprintf("%s:", name);
	req->extra[req->n_extra].value = xstrdup(value);
	req->n_extra++;
}

int httpd_stream_start(struct httpd_req *req, int status, const char *content_type,
		       httpd_close_fn on_close, void *data)
{
	if (req->state != REQ_HANDLER)
		return -EINVAL;
	if (!req->conn) {
		req_answered(req, status);
		req_free(req);
		return -ENOTCONN;
	}
	/* The queue holds the header block, then framed chunks; "+ 16" leaves
	 * room for the final chunk whatever the queue holds. */
	if (req_queue_head(req, status, content_type, LWS_ILLEGAL_HTTP_CONTENT_LEN,
			   req->max_stream_queue + 16) < 0) {
		log_error("httpd: %s %s: cannot format the stream's headers", req->method,
			  req->path);
		return -EINVAL;
	}
	req->state = REQ_STREAM;
	req->on_close = on_close;
	req->on_close_data = data;
	req_answered(req, status);
	lws_set_timeout(req->conn->wsi, NO_PENDING_TIMEOUT, 0);
	lws_callback_on_writable(req->conn->wsi);
	return 0;
}

/* Move the unwritten bytes of out to its front. */
static void out_compact(struct httpd_req *req)
{
	size_t left = req->out.len - req->out_off;

	if (!req->out_off)
		return;
	memmove(req->out.data, req->out.data + req->out_off, left);
	req->out.len = left;
	req->out.data[left] = '\0';
	req->out_off = 0;
}

int httpd_stream_write(struct httpd_req *req, const char *data, size_t len)
{
	char frame[24];
	size_t queued, need;
	int n, r;

	if (req->state != REQ_STREAM || req->stream_ended)
		return -EINVAL;
	if (!req->conn || req->closing)
		return -ENOTCONN;
	if (req->on_stream_write && (r = req->on_stream_write(req, req->hook_data)) < 0)
		return r;
	if (len == 0)
		return 0; /* an empty chunk would end the stream */
	n = snprintf(frame, sizeof(frame), "%zx\r\n", len);
	need = (size_t)n + len + 2;
	queued = req->out.len - req->out_off;
	if (need > req->max_stream_queue || queued > req->max_stream_queue - need)
		return -ENOBUFS;
	if (req->out_off && (req->out_off >= req->out.len / 2 || req->out.len + need > req->out.max))
		out_compact(req);
	if (buf_append(&req->out, frame, (size_t)n) < 0 || buf_append(&req->out, data, len) < 0 ||
	    buf_append(&req->out, "\r\n", 2) < 0) {
		/* The checks above leave room; keep the framing whole anyway. */
		log_error("httpd: %s %s: stream queue accounting is off; closing", req->method,
			  req->path);
		return -ENOBUFS;
	}
	lws_callback_on_writable(req->conn->wsi);
	return 0;
}

void httpd_stream_end(struct httpd_req *req)
{
	if (req->state != REQ_STREAM || req->stream_ended)
		return;
	req->stream_ended = true;
	if (!req->conn || req->closing)
		return;
	if (req->out.len + 5 > req->out.max)
		out_compact(req);
	buf_append(&req->out, "0\r\n\r\n", 5);
	lws_callback_on_writable(req->conn->wsi);
}

size_t httpd_stream_queued(const struct httpd_req *req)
{
	return req->out.len - req->out_off;
}
