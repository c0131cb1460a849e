/* httpd.h - the HTTPS (and websocket) server both daemons and nave-kubesim use.
 *
 * Built on libwebsockets 4.1.6 running on the caller's libuv loop (the one
 * loop of the process, shared with libcurl). One struct httpd is one listening
 * port (a vhost); several may share a loop. It handles what lws makes hard
 * (see ../shared/reference/libraries.md): HTTP/1.1 only (ALPN), request bodies
 * accumulated up to a cap before the handler runs, optional client
 * certificates verified against a CA (a foreign CA's certificate fails the
 * handshake), long-lived chunked responses with no idle timeout and a bounded
 * write queue, and a clean Status-like 4xx for what never reaches a handler
 * (oversized body: 413; a POST/PUT/PATCH body with neither Content-Length
 * nor chunked encoding, or a chunked body on another method: 411). Chunked
 * request bodies on POST/PUT/PATCH are decoded (kubectl create --raw sends
 * them); such a connection closes after its answer.
 *
 * A request is handed to the handler once, complete. The handler answers it
 * exactly once, now or later (with httpd_respond*), or starts a stream. The
 * struct httpd_req stays valid until the answer is written or, for streams,
 * until httpd_stream_end or the close callback has run.
 */
#ifndef NAVE_HTTPD_H
#define NAVE_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct httpd;
struct httpd_req;

/* Caps on what a client may send (beyond max_body) and on what handlers add. */
#define HTTPD_HEADER_MAX 16384       /* request line plus headers; larger requests are dropped */
#define HTTPD_ARGS_MAX 128           /* query parameters kept per request; more: 400 */
#define HTTPD_EXTRA_HEADERS_MAX 16   /* httpd_add_header calls per answer; more are dropped */
#define HTTPD_EXTRA_HEADER_LEN 1024  /* name + value of one added header; longer are dropped */
#define HTTPD_KEEPALIVE_SECS 120     /* an idle keep-alive connection is closed after this */
#define HTTPD_TIMEOUT_SECS 30        /* a request body must keep arriving within this */

typedef void (*httpd_handler_fn)(struct httpd_req *req, void *userdata);
/* Called once when a streaming response's client goes away or the server shuts
 * down; after it returns the request is gone. */
typedef void (*httpd_close_fn)(struct httpd_req *req, void *data);
/* The answer observer (struct httpd_config.on_answer): called exactly once per
 * request whose status is decided, with that status and the configuration's
 * userdata:
 *   - from httpd_respond (also when the client has gone and the answer is
 *     dropped), before it returns;
 *   - from a successful httpd_stream_start, or one that fails with -ENOTCONN
 *     (the client had gone), before it returns;
 *   - when httpd answers by itself, before any handler ran (400, 405, 411,
 *     413, 501 for malformed or oversized requests).
 * Not called for connections dropped without an answer, nor for what lws
 * answers before a request exists (505 to an h2c upgrade). req and its
 * accessors and tag are valid during the call; the observer must not answer,
 * stream on or free req, and must not call httpd_free. */
typedef void (*httpd_answer_fn)(struct httpd_req *req, int status, void *userdata);
/* The stream write hook (struct httpd_config.on_stream_write): called by
 * httpd_stream_write on a live stream (started, not ended, client present)
 * before the chunk is queued, with the configuration's userdata. Return 0 to
 * let the write go on, or a negative errno: httpd_stream_write then queues
 * nothing and returns that value (the stream stays open; ending it is the
 * writer's business, as for -ENOBUFS). It must not answer, write to, end or
 * free req. */
typedef int (*httpd_stream_write_fn)(struct httpd_req *req, void *userdata);
/* Frees a request's tag (httpd_req_set_tag). */
typedef void (*httpd_tag_free_fn)(void *tag);

struct httpd_config {
	const char *listen_addr;    /* "127.0.0.1"; NULL means all interfaces */
	int port;                   /* 0 picks a free port: see httpd_port() */
	const char *cert_path;      /* PEM serving certificate; NULL with key_path NULL: plain HTTP */
	const char *key_path;       /* PEM private key */
	const char *client_ca_path; /* if set, client certificates are requested and verified
				       against it; clients without one still connect */
	size_t max_body;            /* request body cap; 0 means 3 MiB */
	size_t max_stream_queue;    /* bytes queued per stream before httpd_stream_write
				       refuses; 0 means 4 MiB */
	httpd_handler_fn handler;
	void *userdata;             /* borrowed; given to handler, on_answer, on_stream_write */
	httpd_answer_fn on_answer;  /* optional (NULL): see httpd_answer_fn */
	httpd_stream_write_fn on_stream_write; /* optional (NULL): see httpd_stream_write_fn */
};

/* Start listening on loop. Returns 0, or -EADDRINUSE / -EINVAL / -EIO with a
 * log line saying why. Free with httpd_free(). */
int httpd_new(uv_loop_t *loop, const struct httpd_config *cfg, struct httpd **ret_httpd);
/* Close the listener and every connection (stream close callbacks run).
 * Accepts NULL; returns NULL. The loop must run afterwards to finish closing.
 * Call it from the loop, not from inside a handler or close callback (defer
 * with a uv callback). A request whose answer is still pending stays valid:
 * its late answer is dropped. */
struct httpd *httpd_free(struct httpd *h);
/* The bound port (useful after port 0). */
int httpd_port(const struct httpd *h);

/* Request accessors; strings are borrowed, valid as long as req.
 * httpd_req_header finds the standard headers lws knows at any time; other
 * (custom) headers are looked up in lws's header table, which is released
 * when a stream starts: read custom headers before httpd_stream_start. */
const char *httpd_req_method(const struct httpd_req *req); /* "GET", "PATCH", ... */
const char *httpd_req_path(const struct httpd_req *req);   /* decoded path, no query */
const char *httpd_req_query(const struct httpd_req *req);  /* query after '?', "" if none: lws
							       decodes it, so this is the decoded
							       arguments re-encoded (same meaning,
							       not always the same bytes) */
/* The URL-decoded value of query parameter name, or NULL. */
const char *httpd_req_arg(const struct httpd_req *req, const char *name);
/* A request header by lowercase name ("content-type", "authorization",
 * "accept"), or NULL. */
const char *httpd_req_header(const struct httpd_req *req, const char *name);
const char *httpd_req_body(const struct httpd_req *req, size_t *ret_len); /* NUL-terminated */
/* The verified client certificate's CN (and serial, lowercase hex), or NULL
 * when the client presented none. */
const char *httpd_req_peer_cn(const struct httpd_req *req);
const char *httpd_req_peer_serial(const struct httpd_req *req);
/* Remote address as text. */
const char *httpd_req_peer_addr(const struct httpd_req *req);
/* Whether the client is still connected (a deferred answer to a request
 * whose client has gone is accepted and dropped). */
bool httpd_req_connected(const struct httpd_req *req);

/* Attach the caller's tag to req (e.g. who made the request), for the
 * answer observer and the stream write hook to read back. tag is owned by req
 * from now on: free_tag (may be NULL: tag is borrowed and must outlive req)
 * runs on it once when req goes (answer written, stream finished or closed,
 * client gone, httpd_free) or when another tag replaces it. */
void httpd_req_set_tag(struct httpd_req *req, void *tag, httpd_tag_free_fn free_tag);
/* The tag set on req, or NULL. Borrowed: valid as long as req (or until it is
 * replaced). */
void *httpd_req_get_tag(const struct httpd_req *req);

/* Answer with a whole body (copied). content_type may be NULL for none. */
void httpd_respond(struct httpd_req *req, int status, const char *content_type,
		   const char *body, size_t len);
/* Add a response header before answering ("Retry-After", "5"). At most 16. */
void httpd_add_header(struct httpd_req *req, const char *name, const char *value);

/* Start a chunked streaming response (watch). on_close is called when the
 * client goes away; after httpd_stream_end it is not. The stream has no idle
 * timeout. Returns 0; -EINVAL when req was already answered; -ENOTCONN when
 * the client has gone already (req is then finished: do not use it again). */
int httpd_stream_start(struct httpd_req *req, int status, const char *content_type,
		       httpd_close_fn on_close, void *data);
/* Queue one chunk (copied) and flush it as soon as the socket allows.
 * Returns 0, or -ENOBUFS when the stream's queue is over its cap (the caller
 * should end the stream: a slow reader must not cost unbounded memory), or
 * the negative errno the configuration's on_stream_write returned (nothing
 * queued; the caller should end the stream too). */
int httpd_stream_write(struct httpd_req *req, const char *data, size_t len);
/* Finish the stream after the queued chunks are written. */
void httpd_stream_end(struct httpd_req *req);
/* Bytes queued on a stream and not yet written to the socket. */
size_t httpd_stream_queued(const struct httpd_req *req);

#endif
