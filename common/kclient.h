/* kclient.h - an asynchronous Kubernetes REST client on libcurl multi and libuv.
 *
 * One struct kclient per API server. Requests are started with a callback and
 * never block: curl's multi socket interface is driven by uv_poll and uv_timer
 * handles on the caller's libuv loop (the daemon's single loop, shared with
 * libwebsockets), and every callback runs on that loop, never from inside a
 * curl callback, so a callback may start, cancel or finish other requests.
 *
 * What happens to every request (as client-go does where it matters):
 *  - client-side rate limiting: a token bucket (qps, burst; client-go's 5/10
 *    by default). A request without a token waits in a FIFO on a timer.
 *    Retries take a token too. KCLIENT_REQ_NO_THROTTLE bypasses the bucket
 *    (leader election, so a busy client never loses its lease).
 *  - a timeout on every attempt (CURLOPT_TIMEOUT_MS) and on connecting.
 *  - retries with exponential backoff and jitter (backoff.h) when it is safe:
 *      connection never established (refused, unresolved): any verb, nothing
 *        was sent;
 *      429 Too Many Requests: any verb, the server refused before doing
 *        anything; Retry-After is honoured (capped by max_retry_after_ms);
 *      5xx and connections lost mid-request: only requests marked
 *        KCLIENT_REQ_IDEMPOTENT (GET, LIST; kclient_ops also marks server-side
 *        apply, which yields the same object however often it is applied).
 *        POST, PUT, DELETE and other PATCHes are not retried: the first attempt
 *        may have taken effect.
 *      401 when the token comes from a file: the file is re-read and, if the
 *        token changed, the request is sent once more (rotation).
 *    Streams (watches) are never retried here: kwatch.h resumes them.
 *  - proxies from the environment (https_proxy, no_proxy) as client-go,
 *    which never proxies loopback addresses;
 *  - HTTP/1.1 only; bodies carry a Content-Length and "Expect:" is sent empty
 *    (servers on libwebsockets support neither chunked uploads nor 100-continue).
 *  - TLS from the kubeconfig: CA, client certificate and key as in-memory
 *    PEM (CURLOPT_*_BLOB; with a CA given, only that CA is trusted).
 *  - response bodies capped (max_body; 64 MiB by default, enough for big
 *    lists); stream lines capped (max_line; 16 MiB).
 *  - failures decoded into a typed struct kclient_error: from the Status body
 *    when it is a Status with "status":"Failure" (the server's reason and
 *    message kept), else from the HTTP code, as client-go does (a 409 without
 *    a Status body reads as Conflict, never AlreadyExists).
 *
 *   kc = NULL;
 *   r = kclient_new(loop, cfg, NULL, &err, &kc);            // cfg now owned by kc
 *   r = kclient_request(kc, &(struct kclient_request){
 *           .method = KCLIENT_GET, .path = "/api/v1/namespaces/default" },
 *           NULL, on_done, ctx, NULL);
 *   ...
 *   static void on_done(void *ud, const struct kclient_result *res)
 *   {
 *           if (res->r == 0) use(res->body);
 *           else if (res->err->reason == KCLIENT_NOT_FOUND) ...;
 *   }
 */
#ifndef NAVE_KCLIENT_H
#define NAVE_KCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "buf.h"
#include "errbuf.h"
#include "kubeconfig.h"

#define KCLIENT_DEFAULT_QPS 5.0
#define KCLIENT_DEFAULT_BURST 10
#define KCLIENT_DEFAULT_TIMEOUT_MS 30000
#define KCLIENT_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define KCLIENT_DEFAULT_MAX_BODY (64u << 20)   /* response body cap */
#define KCLIENT_DEFAULT_MAX_LINE (16u << 20)   /* stream line cap */
#define KCLIENT_DEFAULT_MAX_RETRIES 5
#define KCLIENT_DEFAULT_BACKOFF_BASE_MS 200
#define KCLIENT_DEFAULT_BACKOFF_MAX_MS 10000
#define KCLIENT_DEFAULT_MAX_RETRY_AFTER_MS 60000
#define KCLIENT_DEFAULT_MAX_QUEUE 100000       /* requests waiting for the rate limiter */
#define KCLIENT_MAX_PATH 8192                  /* request path and query */
#define KCLIENT_MAX_REQUEST_BODY (64u << 20)   /* request body cap */
#define KCLIENT_MSG_MAX 1024                   /* kept bytes of an error message */

/* Why a request failed. The names follow metav1.StatusReason; the last group
 * are client-side failures with no server Status. */
enum kclient_reason {
	KCLIENT_OK = 0,
	KCLIENT_UNKNOWN,              /* a failure code without a better reason */
	KCLIENT_BAD_REQUEST,          /* 400 */
	KCLIENT_UNAUTHORIZED,         /* 401 */
	KCLIENT_FORBIDDEN,            /* 403 */
	KCLIENT_NOT_FOUND,            /* 404 */
	KCLIENT_METHOD_NOT_ALLOWED,   /* 405 */
	KCLIENT_NOT_ACCEPTABLE,       /* 406 */
	KCLIENT_ALREADY_EXISTS,       /* 409, reason AlreadyExists */
	KCLIENT_CONFLICT,             /* 409 (stale resourceVersion, apply conflicts) */
	KCLIENT_GONE,                 /* 410 */
	KCLIENT_EXPIRED,              /* 410, reason Expired (too old resourceVersion, continue token) */
	KCLIENT_REQUEST_TOO_LARGE,    /* 413 */
	KCLIENT_UNSUPPORTED_MEDIA,    /* 415 */
	KCLIENT_INVALID,              /* 422; err->causes lists the fields */
	KCLIENT_TOO_MANY_REQUESTS,    /* 429; err->retry_after_s */
	KCLIENT_INTERNAL_ERROR,       /* 500 and other 5xx */
	KCLIENT_SERVICE_UNAVAILABLE,  /* 503 */
	KCLIENT_SERVER_TIMEOUT,       /* 504 or reason Timeout/ServerTimeout */
	/* client side */
	KCLIENT_TIMEOUT,              /* our timeout passed */
	KCLIENT_TRANSPORT,            /* connect, TLS or connection failure */
	KCLIENT_TOO_LARGE,            /* a response body or line passed its cap */
	KCLIENT_DECODE,               /* a 2xx body that is not JSON */
	KCLIENT_CANCELED,             /* stopped by the caller (a line callback's return) */
};

/* A decoded failure. */
struct kclient_error {
	enum kclient_reason reason;
	long code;                     /* HTTP status; 0 when no response was received */
	char message[KCLIENT_MSG_MAX]; /* the server's message, or what went wrong locally */
	char status_reason[64];        /* the Status' reason string as sent ("" if none) */
	unsigned retry_after_s;        /* Retry-After or details.retryAfterSeconds; 0 if none */
	json_t *details;               /* borrowed from the Status: details object, or NULL */
	json_t *causes;                /* borrowed from the Status: details.causes array, or NULL */
};

/* What a finished request gives its callback. Everything is borrowed and
 * valid during the callback only (json_incref body to keep it). */
struct kclient_result {
	int r;                           /* 0 on 2xx, else kclient_reason_errno(err->reason) */
	long status;                     /* HTTP status; 0 when none was received */
	json_t *body;                    /* 2xx: the parsed body (NULL if empty or RAW);
					    failure: the body if it was a JSON object (normally
					    a Status), else NULL */
	const char *raw;                 /* the body as received (NUL-terminated; "" for streams) */
	size_t raw_len;
	const struct kclient_error *err; /* NULL on success */
};

enum kclient_method {
	KCLIENT_GET,
	KCLIENT_POST,
	KCLIENT_PUT,
	KCLIENT_PATCH,
	KCLIENT_DELETE,
};

enum kclient_request_flags {
	KCLIENT_REQ_IDEMPOTENT = 1 << 0, /* may be retried after 5xx or a lost connection (GET is, always) */
	KCLIENT_REQ_NO_THROTTLE = 1 << 1,/* bypass the rate limiter */
	KCLIENT_REQ_RAW = 1 << 2,        /* do not parse a 2xx body as JSON */
	KCLIENT_REQ_STREAM = 1 << 3,     /* deliver a 2xx body line by line (watch); never retried */
};

/* One request. Everything is copied by kclient_request(). */
struct kclient_request {
	enum kclient_method method;
	const char *path;          /* absolute path with query, appended to the server URL;
				      at most KCLIENT_MAX_PATH bytes, already escaped */
	const char *content_type;  /* of the body; NULL: application/json */
	const char *body;          /* NULL: none */
	size_t body_len;           /* 0 with body set: strlen(body) */
	unsigned flags;            /* enum kclient_request_flags */
	uint64_t timeout_ms;       /* per attempt; 0: the client's default */
	size_t max_body;           /* 0: the client's default */
	size_t max_line;           /* streams; 0: the client's default */
	int max_retries;           /* 0: the client's default; < 0: no retries */
	const char *accept;        /* Accept header value; NULL: application/json (a Table
				      request sends the meta.k8s.io Table media types) */
};

struct kclient_options {
	double qps;                   /* 0: default 5; < 0: no rate limit */
	unsigned burst;               /* 0: default 10 */
	uint64_t timeout_ms;          /* per attempt; 0: default 30 s */
	uint64_t connect_timeout_ms;  /* 0: default 10 s */
	size_t max_body;              /* 0: default 64 MiB */
	size_t max_line;              /* 0: default 16 MiB */
	int max_retries;              /* 0: default 5; < 0: never retry */
	uint64_t backoff_base_ms;     /* 0: default 200 */
	uint64_t backoff_max_ms;      /* 0: default 10 s */
	uint64_t max_retry_after_ms;  /* 0: default 60 s; longer Retry-After is cut to this */
	size_t max_queue;             /* 0: default 100000; past it requests fail with -EAGAIN */
	const char *user_agent;       /* NULL: "nave/<version>"; copied */
};

struct kclient;
struct kclient_call;

/* A finished request (success or failure); not called after kclient_cancel(). */
typedef void (*kclient_done_fn)(void *userdata, const struct kclient_result *res);
/* One line of a stream, without its '\n' (NUL-terminated; the buffer may be
 * modified and is valid during the call). Return 0 to go on; any other value
 * ends the stream and the done callback then gets r = that value (negative
 * errno) with reason KCLIENT_CANCELED. */
typedef int (*kclient_line_fn)(void *userdata, char *line, size_t len);

/* Make a client for the server in cfg. Takes ownership of cfg on success (it
 * is freed by kclient_free; read it back with kclient_config()). opts may be
 * NULL (defaults; the struct is copied). loop is borrowed and must outlive the
 * client. Returns 0, -EINVAL (bad options) or -EIO (curl setup) with err set. */
int kclient_new(uv_loop_t *loop, struct kubeconfig *cfg, const struct kclient_options *opts,
		struct errbuf *err, struct kclient **ret_kc);

/* Stop everything: outstanding requests are dropped without their callbacks
 * and the uv handles are closed; memory is released by their close callbacks,
 * so run the loop afterwards (uv_run until it returns 0) before uv_loop_close.
 * Must not be called from inside a kclient callback. Accepts NULL; returns NULL. */
struct kclient *kclient_free(struct kclient *kc);

/* Start a request. done is called once, later, on the loop (never from inside
 * this call). on_line is required with KCLIENT_REQ_STREAM and ignored
 * otherwise. *ret_call (ret_call may be NULL) is a handle for kclient_cancel,
 * valid until done returns. Returns 0, or -EINVAL (bad request: path missing,
 * too long or not starting with '/', body too large), -EAGAIN (rate limiter
 * queue full); then no callback will be called. */
int kclient_request(struct kclient *kc, const struct kclient_request *req, kclient_line_fn on_line,
		    kclient_done_fn done, void *userdata, struct kclient_call **ret_call);

/* Drop a request: its callbacks will not be called (not even the one that is
 * running, if any, after it returns). Safe from any kclient callback, including
 * the request's own. Accepts NULL. */
void kclient_cancel(struct kclient_call *call);

/* The configuration in use (borrowed; owned by kc). */
struct kubeconfig *kclient_config(struct kclient *kc);
/* The loop kc runs on (borrowed). */
uv_loop_t *kclient_loop(struct kclient *kc);

/* Counters for tests, benchmarks and /metrics. */
struct kclient_stats {
	uint64_t requests;     /* kclient_request calls accepted */
	uint64_t attempts;     /* HTTP attempts sent (requests + retries) */
	uint64_t retries;
	uint64_t throttled;    /* attempts that had to wait for a rate-limiter token */
	uint64_t failures;     /* requests finished with r != 0 */
	uint64_t token_reloads;/* token files re-read after a 401 */
	uint64_t connects;     /* new connections made (the rest reused one) */
	unsigned in_flight;    /* attempts in curl now */
	unsigned queued;       /* requests waiting for a token or a retry */
};
void kclient_get_stats(const struct kclient *kc, struct kclient_stats *ret_stats);

/* Decode an error from an HTTP status and a response body (the Status when
 * it is one with "status":"Failure"; otherwise reason from code, message from
 * the body's first bytes). status_obj (may be NULL) is the parsed body; its
 * details/causes are borrowed into *ret_err. Also used for watch ERROR events
 * (code 0: taken from the Status' "code"). */
void kclient_error_decode(long code, const json_t *status_obj, const char *raw, size_t raw_len,
			  struct kclient_error *ret_err);

/* "NotFound", "AlreadyExists", ... for a reason (never NULL). */
const char *kclient_reason_name(enum kclient_reason reason);
/* The negative errno that summarises a reason, the same mapping as the
 * server side (kapi.h) where one exists: NOT_FOUND -ENOENT, ALREADY_EXISTS
 * -EEXIST, CONFLICT -EBUSY, EXPIRED/GONE -ESTALE, INVALID -EINVAL,
 * BAD_REQUEST and DECODE -EBADMSG, FORBIDDEN -EPERM, UNAUTHORIZED -EACCES,
 * TOO_MANY_REQUESTS and SERVICE_UNAVAILABLE -EAGAIN, TIMEOUT and
 * SERVER_TIMEOUT -ETIMEDOUT, TRANSPORT -ECONNREFUSED (-ECONNRESET when the
 * connection was lost mid-request), TOO_LARGE and REQUEST_TOO_LARGE -E2BIG,
 * CANCELED -ECANCELED, METHOD_NOT_ALLOWED and NOT_ACCEPTABLE -EOPNOTSUPP,
 * UNSUPPORTED_MEDIA -EPROTONOSUPPORT, others -EIO; KCLIENT_OK 0. */
int kclient_reason_errno(enum kclient_reason reason);

/* Percent-encode s for a query value (RFC 3986 unreserved kept) onto out.
 * Returns 0 or -E2BIG (out's cap). */
int kclient_query_escape(struct buf *out, const char *s);

#endif
