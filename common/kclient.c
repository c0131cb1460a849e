/* kclient.c - the asynchronous Kubernetes REST client; see kclient.h.
 *
 * Plumbing, as curl's multi socket interface wants it: curl tells us which
 * sockets to watch (socket callback -> one uv_poll per socket) and when to
 * call it back (timer callback -> one uv_timer); we call
 * curl_multi_socket_action from those handles and then kc_process() reads the
 * finished transfers. Curl's write callback only stores bytes; lines and
 * completions reach the caller from kc_dispatch(), after curl has returned,
 * because curl forbids multi calls (adding, removing handles) from inside its
 * callbacks and our callers do exactly that.
 *
 * A request (struct kc_call) lives in exactly one place at a time:
 *   KC_THROTTLED - in the FIFO waiting for a rate-limiter token;
 *   KC_DELAYED   - waiting for a retry (sorted by due time);
 *   KC_ACTIVE    - in curl;
 *   KC_IDLE      - between those (finished attempt not yet evaluated).
 * Independently it may sit on the pending list: it has lines to deliver
 * and/or a finished attempt to evaluate. One uv_timer (sched) serves both the
 * token bucket and the retry delays, and is also the "kick" that runs
 * kc_dispatch for completions that did not come from curl.
 *
 * Everything runs on the loop given to kclient_new; there are no threads.
 */
#include "kclient.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "alloc.h"
#include "backoff.h"
#include "log.h"
#include "nave_config.h"
#include "timefmt.h"

#define KC_ERROR_BODY_MAX (1u << 20) /* body kept of a failed stream request */

enum kc_where {
	KC_IDLE,
	KC_THROTTLED,
	KC_DELAYED,
	KC_ACTIVE,
};

struct kc_link {
	struct kc_link *prev, *next;
};

struct kc_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct kclient *kc;    /* borrowed; NULL once the client is gone */
	struct kc_link link;   /* in kc->socks */
};

struct kc_call {
	struct kclient *kc;         /* borrowed */
	struct kc_link link;        /* in the list of `where` */
	struct kc_link pend;        /* in kc->pending when in_pending */
	enum kc_where where;
	bool in_pending;
	bool in_callback;
	bool cancelled;

	/* the request, owned copies */
	enum kclient_method method;
	char *url;
	char *content_type;
	char *accept;       /* Accept header value */
	char *body;
	size_t body_len;
	unsigned flags;
	uint64_t timeout_ms;
	size_t max_body;
	size_t max_line;
	int max_retries;            /* resolved: 0 never retries */
	kclient_line_fn on_line;
	kclient_done_fn done;
	void *userdata;

	/* the current attempt */
	CURL *easy;                 /* owned while KC_ACTIVE */
	struct curl_slist *headers; /* owned */
	char curl_err[CURL_ERROR_SIZE];
	struct buf resp;            /* body, or unread stream bytes */
	size_t partial;             /* stream: bytes since the last '\n' */
	bool stream_checked;        /* stream: status looked at */
	bool stream_ok;             /* stream: 2xx, deliver lines */
	bool too_large;
	int line_rc;                /* a line callback's non-zero return */
	bool attempt_done;          /* finished, waiting to be evaluated */
	CURLcode cc;
	long status;
	long retry_after_s;

	/* across attempts */
	unsigned retries;
	bool token_retried;
	struct backoff bo;
	int64_t due_us;             /* KC_DELAYED */
};

struct kclient {
	uv_loop_t *loop;            /* borrowed */
	struct kubeconfig *cfg;     /* owned */
	struct kclient_options opt; /* resolved */
	char *user_agent;           /* owned */
	char *no_proxy;             /* owned: $NO_PROXY plus the loopback names */
	CURLM *multi;               /* owned */
	CURLSH *share;              /* owned: TLS sessions and DNS across easy handles */
	uv_timer_t curl_timer;
	uv_timer_t sched_timer;
	int open_handles;           /* timers not yet closed (kclient_free) */

	double tokens;
	int64_t tokens_us;

	struct kc_link throttled;   /* FIFO */
	struct kc_link delayed;     /* sorted by due_us */
	struct kc_link active;
	struct kc_link pending;     /* FIFO of calls with something to dispatch */
	struct kc_link socks;
	size_t queued;

	struct kclient_stats stats;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void link_init(struct kc_link *l)
{
	l->prev = l->next = l;
}

static bool link_empty(const struct kc_link *head)
{
	return head->next == head;
}

static void link_add_tail(struct kc_link *head, struct kc_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static void link_add_before(struct kc_link *at, struct kc_link *l)
{
	link_add_tail(at, l);
}

static void link_del(struct kc_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

static void kc_process(struct kclient *kc);
static void kc_schedule(struct kclient *kc);
static void kc_kick(struct kclient *kc);

/* --- reasons and errors ------------------------------------------------ */

static const struct {
	enum kclient_reason reason;
	const char *name;
} reason_names[] = {
	{ KCLIENT_OK, "" },
	{ KCLIENT_UNKNOWN, "Unknown" },
	{ KCLIENT_BAD_REQUEST, "BadRequest" },
	{ KCLIENT_UNAUTHORIZED, "Unauthorized" },
	{ KCLIENT_FORBIDDEN, "Forbidden" },
	{ KCLIENT_NOT_FOUND, "NotFound" },
	{ KCLIENT_METHOD_NOT_ALLOWED, "MethodNotAllowed" },
	{ KCLIENT_NOT_ACCEPTABLE, "NotAcceptable" },
	{ KCLIENT_ALREADY_EXISTS, "AlreadyExists" },
	{ KCLIENT_CONFLICT, "Conflict" },
	{ KCLIENT_GONE, "Gone" },
	{ KCLIENT_EXPIRED, "Expired" },
	{ KCLIENT_REQUEST_TOO_LARGE, "RequestEntityTooLarge" },
	{ KCLIENT_UNSUPPORTED_MEDIA, "UnsupportedMediaType" },
	{ KCLIENT_INVALID, "Invalid" },
	{ KCLIENT_TOO_MANY_REQUESTS, "TooManyRequests" },
	{ KCLIENT_INTERNAL_ERROR, "InternalError" },
	{ KCLIENT_SERVICE_UNAVAILABLE, "ServiceUnavailable" },
	{ KCLIENT_SERVER_TIMEOUT, "Timeout" },
	{ KCLIENT_TIMEOUT, "ClientTimeout" },
	{ KCLIENT_TRANSPORT, "TransportError" },
	{ KCLIENT_TOO_LARGE, "ResponseTooLarge" },
	{ KCLIENT_DECODE, "DecodeError" },
	{ KCLIENT_CANCELED, "Canceled" },
};

const char *kclient_reason_name(enum kclient_reason reason)
{
	for (size_t i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
		if (reason_names[i].reason == reason)
			return reason_names[i].name;
	return "Unknown";
}

int kclient_reason_errno(enum kclient_reason reason)
{
	switch (reason) {
	case KCLIENT_OK:
		return 0;
	case KCLIENT_NOT_FOUND:
		return -ENOENT;
	case KCLIENT_ALREADY_EXISTS:
		return -EEXIST;
	case KCLIENT_CONFLICT:
		return -EBUSY;
	case KCLIENT_GONE:
	case KCLIENT_EXPIRED:
		return -ESTALE;
	case KCLIENT_INVALID:
		return -EINVAL;
	case KCLIENT_BAD_REQUEST:
	case KCLIENT_DECODE:
		return -EBADMSG;
	case KCLIENT_FORBIDDEN:
		return -EPERM;
	case KCLIENT_UNAUTHORIZED:
		return -EACCES;
	case KCLIENT_TOO_MANY_REQUESTS:
	case KCLIENT_SERVICE_UNAVAILABLE:
		return -EAGAIN;
	case KCLIENT_TIMEOUT:
	case KCLIENT_SERVER_TIMEOUT:
		return -ETIMEDOUT;
	case KCLIENT_TRANSPORT:
		return -ECONNREFUSED;
	case KCLIENT_TOO_LARGE:
	case KCLIENT_REQUEST_TOO_LARGE:
		return -E2BIG;
	case KCLIENT_CANCELED:
		return -ECANCELED;
	case KCLIENT_METHOD_NOT_ALLOWED:
	case KCLIENT_NOT_ACCEPTABLE:
		return -EOPNOTSUPP;
	case KCLIENT_UNSUPPORTED_MEDIA:
		return -EPROTONOSUPPORT;
	case KCLIENT_UNKNOWN:
	case KCLIENT_INTERNAL_ERROR:
		break;
	}
	return -EIO;
}

/* As client-go's NewGenericServerResponse. */
static enum kclient_reason reason_from_code(long code)
{
	switch (code) {
	case 400: return KCLIENT_BAD_REQUEST;
	case 401: return KCLIENT_UNAUTHORIZED;
	case 403: return KCLIENT_FORBIDDEN;
	case 404: return KCLIENT_NOT_FOUND;
	case 405: return KCLIENT_METHOD_NOT_ALLOWED;
	case 406: return KCLIENT_NOT_ACCEPTABLE;
	case 409: return KCLIENT_CONFLICT;
	case 410: return KCLIENT_GONE;
	case 413: return KCLIENT_REQUEST_TOO_LARGE;
	case 415: return KCLIENT_UNSUPPORTED_MEDIA;
	case 422: return KCLIENT_INVALID;
	case 429: return KCLIENT_TOO_MANY_REQUESTS;
	case 503: return KCLIENT_SERVICE_UNAVAILABLE;
	case 504: return KCLIENT_SERVER_TIMEOUT;
	default:
		return code >= 500 ? KCLIENT_INTERNAL_ERROR : KCLIENT_UNKNOWN;
	}
}

static enum kclient_reason reason_from_string(const char *s)
{
	if (!s || !s[0])
		return KCLIENT_UNKNOWN;
	if (strcmp(s, "ServerTimeout") == 0)
		return KCLIENT_SERVER_TIMEOUT;
	for (size_t i = 1; i < sizeof(reason_names) / sizeof(reason_names[0]); i++) {
		if (reason_names[i].reason >= KCLIENT_TIMEOUT)
			break;
		if (strcmp(reason_names[i].name, s) == 0)
			return reason_names[i].reason;
	}
	return KCLIENT_UNKNOWN;
}

static const char *generic_message(enum kclient_reason reason)
{
	switch (reason) {
	case KCLIENT_NOT_FOUND: return "the server could not find the requested resource";
	case KCLIENT_CONFLICT: return "the server reported a conflict";
	case KCLIENT_UNAUTHORIZED: return "the server has asked for the client to provide credentials";
	case KCLIENT_FORBIDDEN: return "the server does not allow access to the requested resource";
	case KCLIENT_TOO_MANY_REQUESTS: return "the server has received too many requests and has asked us to try again later";
	case KCLIENT_SERVICE_UNAVAILABLE: return "the server is currently unable to handle the request";
	case KCLIENT_SERVER_TIMEOUT: return "the server was unable to return a response in the time allotted";
	case KCLIENT_GONE: return "the resource is gone";
	case KCLIENT_INVALID: return "the server rejected our request due to an error in our request";
	default: return "an error on the server has prevented the request from succeeding";
	}
}

/* Copy at most KCLIENT_MSG_MAX-1 bytes of printable text. */
static void copy_message(char *dst, const char *src, size_t len)
{
	size_t n = 0;

	while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r' || src[len - 1] == ' '))
		len--;
	for (size_t i = 0; i < len && n + 1 < KCLIENT_MSG_MAX; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[n++] = (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c;
	}
	dst[n] = '\0';
}

void kclient_error_decode(long code, const json_t *status_obj, const char *raw, size_t raw_len,
			  struct kclient_error *ret_err)
{
	struct kclient_error *e = ret_err;
	const char *kind = NULL, *st = NULL;

	memset(e, 0, sizeof(*e));
	if (json_is_object(status_obj)) {
		kind = json_string_value(json_object_get(status_obj, "kind"));
		st = json_string_value(json_object_get(status_obj, "status"));
	}
	if (kind && strcmp(kind, "Status") == 0 && st && strcmp(st, "Failure") == 0) {
		const char *reason = json_string_value(json_object_get(status_obj, "reason"));
		const char *msg = json_string_value(json_object_get(status_obj, "message"));
		json_t *scode = json_object_get(status_obj, "code");
		json_t *details = json_object_get(status_obj, "details");
		json_t *ra;

		if (json_is_integer(scode) && json_integer_value(scode) > 0 &&
		    json_integer_value(scode) < 1000 && code == 0)
			code = (long)json_integer_value(scode);
		if (!code && json_is_integer(scode))
			code = (long)json_integer_value(scode);
		e->code = code;
		e->reason = reason_from_string(reason);
		if (e->reason == KCLIENT_UNKNOWN) {
			long c = json_is_integer(scode) && json_integer_value(scode) > 0 ?
				 (long)json_integer_value(scode) : code;

			e->reason = reason_from_code(c);
		}
		if (reason)
			snprintf(e->status_reason, sizeof(e->status_reason), "%s", reason);
		if (msg && msg[0])
			copy_message(e->message, msg, strlen(msg));
		else
			snprintf(e->message, sizeof(e->message), "%s", generic_message(e->reason));
		if (json_is_object(details)) {
			e->details = (json_t *)details;
			if (json_is_array(json_object_get(details, "causes")))
				e->causes = json_object_get(details, "causes");
			ra = json_object_get(details, "retryAfterSeconds");
			if (json_is_integer(ra) && json_integer_value(ra) > 0 &&
			    json_integer_value(ra) < 86400)
				e->retry_after_s = (unsigned)json_integer_value(ra);
		}
		return;
	}
	e->code = code;
	e->reason = reason_from_code(code);
	if (raw && raw_len > 0)
		copy_message(e->message, raw, raw_len < 512 ? raw_len : 512);
	if (!e->message[0])
		snprintf(e->message, sizeof(e->message), "%s", generic_message(e->reason));
}

int kclient_query_escape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *tmp = xmalloc(n * 3 + 1);
	size_t k = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			tmp[k++] = (char)c;
		} else {
			tmp[k++] = '%';
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 15];
		}
	}
	r = buf_append(out, tmp, k);
	free(tmp);
	return r;
}

/* --- calls -------------------------------------------------------------- */

static void kc_call_set_where(struct kc_call *call, enum kc_where where)
{
	struct kclient *kc = call->kc;

	if (call->where == KC_THROTTLED || call->where == KC_DELAYED)
		kc->queued--;
	if (call->where != KC_IDLE)
		link_del(&call->link);
	call->where = where;
	switch (where) {
	case KC_IDLE:
		break;
	case KC_THROTTLED:
		kc->queued++;
		link_add_tail(&kc->throttled, &call->link);
		break;
	case KC_DELAYED: {
		struct kc_link *at = kc->delayed.next;

		kc->queued++;
		while (at != &kc->delayed && container_of(at, struct kc_call, link)->due_us <= call->due_us)
			at = at->next;
		link_add_before(at, &call->link);
		break;
	}
	case KC_ACTIVE:
		link_add_tail(&kc->active, &call->link);
		break;
	}
}

static void kc_pend(struct kc_call *call)
{
	if (call->in_pending)
		return;
	call->in_pending = true;
	link_add_tail(&call->kc->pending, &call->pend);
}

static void kc_unpend(struct kc_call *call)
{
	if (!call->in_pending)
		return;
	call->in_pending = false;
	link_del(&call->pend);
}

/* Take the easy handle out of curl, if the attempt is still in it. */
static void kc_call_detach(struct kc_call *call)
{
	if (call->easy) {
		curl_multi_remove_handle(call->kc->multi, call->easy);
		curl_easy_cleanup(call->easy);
		call->easy = NULL;
		call->kc->stats.in_flight--;
	}
	curl_slist_free_all(call->headers);
	call->headers = NULL;
}

static void kc_call_free(struct kc_call *call)
{
	if (!call)
		return;
	kc_call_detach(call);
	kc_call_set_where(call, KC_IDLE);
	kc_unpend(call);
	free(call->url);
	free(call->content_type);
	free(call->accept);
	free(call->body);
	buf_free(&call->resp);
	free(call);
}

void kclient_cancel(struct kclient_call *handle)
{
	struct kc_call *call = (struct kc_call *)handle;

	if (!call)
		return;
	if (call->in_callback) {
		call->cancelled = true;
		return;
	}
	kc_call_free(call);
}

/* --- curl glue ---------------------------------------------------------- */

static void kc_sock_closed(uv_handle_t *h)
{
	free(container_of((uv_poll_t *)h, struct kc_sock, poll));
}

static void kc_sock_close(struct kc_sock *sock)
{
	link_del(&sock->link);
	sock->kc = NULL;
	uv_close((uv_handle_t *)&sock->poll, kc_sock_closed);
}

static void kc_poll_cb(uv_poll_t *h, int status, int events)
{
	struct kc_sock *sock = container_of(h, struct kc_sock, poll);
	struct kclient *kc = sock->kc;
	int flags = 0, running;

	if (!kc)
		return;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(kc->multi, sock->fd, flags, &running);
	kc_process(kc);
}

static int kc_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct kclient *kc = userp;
	struct kc_sock *sock = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (sock) {
			curl_multi_assign(kc->multi, s, NULL);
			kc_sock_close(sock);
		}
		return 0;
	}
	if (!sock) {
		sock = xnew(struct kc_sock);
		if (uv_poll_init_socket(kc->loop, &sock->poll, s) < 0) {
			free(sock);
			return -1;
		}
		sock->fd = s;
		sock->kc = kc;
		link_add_tail(&kc->socks, &sock->link);
		curl_multi_assign(kc->multi, s, sock);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&sock->poll, events, kc_poll_cb);
	return 0;
}

static void kc_on_curl_timer(uv_timer_t *t)
{
	struct kclient *kc = container_of(t, struct kclient, curl_timer);
	int running;

	curl_multi_socket_action(kc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	kc_process(kc);
}

static int kc_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct kclient *kc = userp;

	if (timeout_ms < 0)
		uv_timer_stop(&kc->curl_timer);
	else
		uv_timer_start(&kc->curl_timer, kc_on_curl_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t kc_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct kc_call *call = userp;
	size_t n = size * nmemb;

	if (call->flags & KCLIENT_REQ_STREAM) {
		if (!call->stream_checked) {
			long status = 0;

			call->stream_checked = true;
			curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
			call->stream_ok = status >= 200 && status < 300;
			if (!call->stream_ok)
				call->resp.max = KC_ERROR_BODY_MAX;
		}
		if (call->stream_ok) {
			const char *nl = memrchr(data, '\n', n);

			call->partial = nl ? n - (size_t)(nl - data) - 1 : call->partial + n;
			if (call->partial > call->max_line) {
				call->too_large = true;
				return 0;
			}
			kc_pend(call);
		}
	}
	if (buf_append(&call->resp, data, n) < 0) {
		call->too_large = true;
		return 0;
	}
	return n;
}

/* --- attempts ----------------------------------------------------------- */

static const char *method_name(enum kclient_method m)
{
	switch (m) {
	case KCLIENT_GET: return "GET";
	case KCLIENT_POST: return "POST";
	case KCLIENT_PUT: return "PUT";
	case KCLIENT_PATCH: return "PATCH";
	case KCLIENT_DELETE: return "DELETE";
	}
	return "GET";
}

static bool kc_call_idempotent(const struct kc_call *call)
{
	return call->method == KCLIENT_GET || (call->flags & KCLIENT_REQ_IDEMPOTENT);
}

/* Finish a call: build the result, call done, free. */
static void kc_finish(struct kc_call *call, int r, const struct kclient_error *err, json_t *body)
{
	struct kclient *kc = call->kc;
	struct kclient_result res = {
		.r = r,
		.status = call->status,
		.body = body,
		.raw = call->resp.data ? call->resp.data : "",
		.raw_len = call->resp.len,
		.err = r ? err : NULL,
	};

	if (r)
		kc->stats.failures++;
	if (call->flags & KCLIENT_REQ_STREAM && call->stream_ok) {
		res.raw = "";
		res.raw_len = 0;
	}
	kc_call_detach(call);
	kc_call_set_where(call, KC_IDLE);
	kc_unpend(call);
	call->in_callback = true;
	call->done(call->userdata, &res);
	call->in_callback = false;
	kc_call_free(call);
}

static void kc_finish_local(struct kc_call *call, enum kclient_reason reason, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void kc_finish_local(struct kc_call *call, enum kclient_reason reason, int r, const char *fmt, ...)
{
	struct kclient_error err = { .reason = reason, .code = call->status };
	va_list ap;
	int n;

	n = snprintf(err.message, sizeof(err.message), "%s %s: ", method_name(call->method), call->url);
	if (n < 0 || (size_t)n >= sizeof(err.message))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(err.message + n, sizeof(err.message) - (size_t)n, fmt, ap);
	va_end(ap);
	kc_finish(call, r ? r : kclient_reason_errno(reason), &err, NULL);
}

/* Start one attempt now. On failure the call is finished (later, by dispatch). */
static void kc_start_attempt(struct kc_call *call)
{
	struct kclient *kc = call->kc;
	struct kubeconfig *cfg = kc->cfg;
	const char *token = kubeconfig_token(cfg);
	struct curl_slist *h = NULL;
	CURL *e;
	char *line;

	buf_free(&call->resp);
	buf_init(&call->resp, call->max_body);
	call->partial = 0;
	call->stream_checked = false;
	call->stream_ok = false;
	call->too_large = false;
	call->status = 0;
	call->retry_after_s = 0;
	call->curl_err[0] = '\0';

	e = curl_easy_init();
	if (!e) {
		call->cc = CURLE_FAILED_INIT;
		call->attempt_done = true;
		kc_pend(call);
		kc_kick(kc);
		return;
	}
	line = xasprintf("Accept: %s", call->accept);
	h = curl_slist_append(h, line);
	free(line);
	h = curl_slist_append(h, "Expect:");
	if (call->body) {
		line = xasprintf("Content-Type: %s", call->content_type);
		h = curl_slist_append(h, line);
		free(line);
	}
	if (token) {
		line = xasprintf("Authorization: Bearer %s", token);
		h = curl_slist_append(h, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	call->headers = h;

	curl_easy_setopt(e, CURLOPT_URL, call->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, call);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_USERAGENT, kc->user_agent);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->curl_err);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kc_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)call->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)kc->opt.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_SHARE, kc->share);
	curl_easy_setopt(e, CURLOPT_NOPROXY, kc->no_proxy);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (call->flags & KCLIENT_REQ_STREAM) {
		curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
	}
	if (cfg->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (cfg->ca_pem) {
		struct curl_blob ca = { cfg->ca_pem, cfg->ca_pem_len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
		/* Trust that CA alone: drop the built-in CA directory. */
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	if (cfg->cert_pem) {
		struct curl_blob cert = { cfg->cert_pem, cfg->cert_pem_len, CURL_BLOB_NOCOPY };
		struct curl_blob key = { cfg->key_pem, cfg->key_pem_len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	switch (call->method) {
	case KCLIENT_GET:
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		break;
	case KCLIENT_POST:
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		break;
	default:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method_name(call->method));
		break;
	}
	if (call->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
	}

	call->easy = e;
	kc->stats.in_flight++;
	kc->stats.attempts++;
	kc_call_set_where(call, KC_ACTIVE);
	if (curl_multi_add_handle(kc->multi, e) != CURLM_OK) {
		kc_call_detach(call);
		kc_call_set_where(call, KC_IDLE);
		call->cc = CURLE_FAILED_INIT;
		call->attempt_done = true;
		kc_pend(call);
		kc_kick(kc);
	}
}

/* --- rate limiter and scheduling --------------------------------------- */

static void kc_refill(struct kclient *kc, int64_t now)
{
	if (kc->opt.qps < 0)
		return;
	if (now > kc->tokens_us) {
		kc->tokens += (double)(now - kc->tokens_us) / 1e6 * kc->opt.qps;
		if (kc->tokens > kc->opt.burst)
			kc->tokens = kc->opt.burst;
	}
	kc->tokens_us = now;
}

static bool kc_take_token(struct kclient *kc, int64_t now)
{
	if (kc->opt.qps < 0)
		return true;
	kc_refill(kc, now);
	if (kc->tokens >= 1.0) {
		kc->tokens -= 1.0;
		return true;
	}
	return false;
}

/* Send the call now if it may, else queue it for a token. */
static void kc_submit(struct kc_call *call)
{
	struct kclient *kc = call->kc;

	if (call->flags & KCLIENT_REQ_NO_THROTTLE) {
		kc_start_attempt(call);
		return;
	}
	if (link_empty(&kc->throttled) && kc_take_token(kc, time_mono_us())) {
		kc_start_attempt(call);
		return;
	}
	kc->stats.throttled++;
	kc_call_set_where(call, KC_THROTTLED);
	kc_schedule(kc);
}

static void kc_on_sched(uv_timer_t *t)
{
	struct kclient *kc = container_of(t, struct kclient, sched_timer);

	kc_schedule(kc);
	kc_process(kc);
}

/* Move due retries on, hand out tokens, and arm the timer for what is next. */
static void kc_schedule(struct kclient *kc)
{
	int64_t now = time_mono_us();
	int64_t wait_us = -1;

	while (!link_empty(&kc->delayed)) {
		struct kc_call *call = container_of(kc->delayed.next, struct kc_call, link);

		if (call->due_us > now) {
			wait_us = call->due_us - now;
			break;
		}
		kc_call_set_where(call, KC_IDLE);
		if (call->flags & KCLIENT_REQ_NO_THROTTLE)
			kc_start_attempt(call);
		else
			kc_call_set_where(call, KC_THROTTLED);
	}
	while (!link_empty(&kc->throttled)) {
		struct kc_call *call = container_of(kc->throttled.next, struct kc_call, link);
		int64_t tw;

		if (!kc_take_token(kc, now)) {
			tw = (int64_t)ceil((1.0 - kc->tokens) / kc->opt.qps * 1e6);
			if (tw < 1000)
				tw = 1000;
			if (wait_us < 0 || tw < wait_us)
				wait_us = tw;
			break;
		}
		kc_call_set_where(call, KC_IDLE);
		kc_start_attempt(call);
	}
	if (!link_empty(&kc->pending))
		wait_us = 0;
	if (wait_us >= 0)
		uv_timer_start(&kc->sched_timer, kc_on_sched, (uint64_t)(wait_us + 999) / 1000, 0);
	else
		uv_timer_stop(&kc->sched_timer);
}

static void kc_kick(struct kclient *kc)
{
	uv_timer_start(&kc->sched_timer, kc_on_sched, 0, 0);
}

static void kc_retry_later(struct kc_call *call, uint64_t delay_ms)
{
	struct kclient *kc = call->kc;

	call->retries++;
	kc->stats.retries++;
	call->due_us = time_mono_us() + (int64_t)delay_ms * 1000;
	kc_call_set_where(call, KC_DELAYED);
	kc_schedule(kc);
}

static uint64_t kc_retry_delay(struct kc_call *call)
{
	struct kclient *kc = call->kc;

	if (call->retry_after_s > 0) {
		uint64_t ms = (uint64_t)call->retry_after_s * 1000;

		return ms > kc->opt.max_retry_after_ms ? kc->opt.max_retry_after_ms : ms;
	}
	return backoff_next(&call->bo);
}

/* --- dispatch ----------------------------------------------------------- */

/* Deliver the complete lines held by a stream (and, at a clean end, the last
 * unterminated one). Returns false when the call is gone or stopped. */
static bool kc_deliver_lines(struct kc_call *call, bool final)
{
	size_t off = 0;
	bool keep = true;

	while (off < call->resp.len) {
		char *line = call->resp.data + off;
		char *nl = memchr(line, '\n', call->resp.len - off);
		size_t len;
		int rc;

		if (!nl) {
			if (!final)
				break;
			nl = call->resp.data + call->resp.len; /* the NUL of the buffer */
		}
		len = (size_t)(nl - line);
		*nl = '\0';
		off += len + 1;
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!len)
			continue;
		call->in_callback = true;
		rc = call->on_line(call->userdata, line, len);
		call->in_callback = false;
		if (call->cancelled) {
			kc_call_free(call);
			return false;
		}
		if (rc) {
			call->line_rc = rc;
			keep = false;
			break;
		}
	}
	if (off >= call->resp.len) {
		buf_reset(&call->resp);
	} else {
		memmove(call->resp.data, call->resp.data + off, call->resp.len - off);
		call->resp.len -= off;
		call->resp.data[call->resp.len] = '\0';
	}
	if (!keep) {
		/* Stopped by its line callback: end the transfer now. */
		kc_call_detach(call);
		kc_call_set_where(call, KC_IDLE);
		call->attempt_done = true;
	}
	return true;
}

static const char *curl_reason_text(const struct kc_call *call)
{
	return call->curl_err[0] ? call->curl_err : curl_easy_strerror(call->cc);
}

/* Evaluate a finished attempt: finish the call or schedule a retry. */
static void kc_evaluate(struct kc_call *call)
{
	struct kclient *kc = call->kc;
	bool stream = call->flags & KCLIENT_REQ_STREAM;
	bool can_retry = !stream && call->max_retries > 0 &&
			 call->retries < (unsigned)call->max_retries;
	struct kclient_error err;
	json_t *body = NULL;

	call->attempt_done = false;
	if (call->line_rc) {
		kc_finish_local(call, KCLIENT_CANCELED, call->line_rc, "stream stopped by the caller");
		return;
	}
	if (call->too_large) {
		if (stream && call->stream_ok)
			kc_finish_local(call, KCLIENT_TOO_LARGE, 0, "stream line longer than %zu bytes",
					call->max_line);
		else
			kc_finish_local(call, KCLIENT_TOO_LARGE, 0, "response body larger than %zu bytes",
					call->resp.max);
		return;
	}
	if (call->cc != CURLE_OK) {
		switch (call->cc) {
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			/* Nothing was sent: any verb may go again. */
			if (can_retry) {
				kc_retry_later(call, backoff_next(&call->bo));
				return;
			}
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			if (can_retry && kc_call_idempotent(call)) {
				kc_retry_later(call, backoff_next(&call->bo));
				return;
			}
			kc_finish_local(call, KCLIENT_TRANSPORT, -ECONNRESET, "%s", curl_reason_text(call));
			return;
		case CURLE_OPERATION_TIMEDOUT:
			kc_finish_local(call, KCLIENT_TIMEOUT, 0, "%s", curl_reason_text(call));
			return;
		default:
			break;
		}
		kc_finish_local(call, KCLIENT_TRANSPORT, 0, "%s", curl_reason_text(call));
		return;
	}

	if (call->status >= 200 && call->status < 300) {
		if (stream) {
			kc_finish(call, 0, NULL, NULL);
			return;
		}
		if (!(call->flags & KCLIENT_REQ_RAW) && call->resp.len > 0) {
			json_error_t jerr;

			body = json_loadb(call->resp.data, call->resp.len, JSON_DECODE_ANY, &jerr);
			if (!body) {
				kc_finish_local(call, KCLIENT_DECODE, 0, "response is not JSON: %s (line %d)",
						jerr.text, jerr.line);
				return;
			}
		}
		kc_finish(call, 0, NULL, body);
		json_decref(body);
		return;
	}

	if (call->status == 401 && kc->cfg->token_file && !call->token_retried) {
		bool changed = false;

		call->token_retried = true;
		if (kubeconfig_token_reload(kc->cfg, &changed) == 0) {
			kc->stats.token_reloads++;
			if (changed) {
				log_info("%s: token file changed; retrying with the new token", kc->cfg->source);
				kc_retry_later(call, 0);
				return;
			}
		}
	}
	if (call->status == 429 && can_retry) {
		kc_retry_later(call, kc_retry_delay(call));
		return;
	}
	if (call->status >= 500 && can_retry && kc_call_idempotent(call)) {
		kc_retry_later(call, kc_retry_delay(call));
		return;
	}

	if (call->resp.len > 0)
		body = json_loadb(call->resp.data, call->resp.len, JSON_DECODE_ANY, NULL);
	kclient_error_decode(call->status, body, call->resp.data, call->resp.len, &err);
	if (call->retry_after_s > 0)
		err.retry_after_s = (unsigned)call->retry_after_s;
	kc_finish(call, kclient_reason_errno(err.reason), &err, json_is_object(body) ? body : NULL);
	json_decref(body);
}

/* Deliver what the pending calls have. Re-entrant: a callback may run the
 * loop (a CLI waiting synchronously inside a watch callback), which dispatches
 * again; a call whose callback is running belongs to the outer frame and is
 * left pending for it, else the inner frame could finish and free it under
 * the outer one. */
static void kc_dispatch(struct kclient *kc)
{
	struct kc_link busy;

	link_init(&busy);
	while (!link_empty(&kc->pending)) {
		struct kc_call *call = container_of(kc->pending.next, struct kc_call, pend);

		kc_unpend(call);
		if (call->in_callback) {
			link_add_tail(&busy, &call->pend);
			continue;
		}
		if ((call->flags & KCLIENT_REQ_STREAM) && call->stream_ok && call->resp.len > 0) {
			bool final = call->attempt_done && call->cc == CURLE_OK;

			if (!kc_deliver_lines(call, final))
				continue;
		}
		if (call->attempt_done)
			kc_evaluate(call);
	}
	while (!link_empty(&busy)) {
		struct kc_call *call = container_of(busy.next, struct kc_call, pend);

		link_del(&call->pend);
		kc_pend(call);
	}
}

static void kc_process(struct kclient *kc)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(kc->multi, &left))) {
		struct kc_call *call = NULL;
		CURL *e = msg->easy_handle;
		curl_off_t ra = 0;
		long nconn = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&call);
		if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
			kc->stats.connects += (uint64_t)nconn;
		call->cc = msg->data.result;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &call->status);
		if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			call->retry_after_s = ra > 86400 ? 86400 : (long)ra;
		kc_call_detach(call);
		kc_call_set_where(call, KC_IDLE);
		call->attempt_done = true;
		kc_pend(call);
	}
	kc_dispatch(kc);
}

/* --- public ------------------------------------------------------------- */

int kclient_request(struct kclient *kc, const struct kclient_request *req, kclient_line_fn on_line,
		    kclient_done_fn done, void *userdata, struct kclient_call **ret_call)
{
	struct kc_call *call;
	size_t body_len;

	if (!req->path || req->path[0] != '/' || strlen(req->path) > KCLIENT_MAX_PATH || !done)
		return -EINVAL;
	for (const char *p = req->path; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return -EINVAL;
	if ((req->flags & KCLIENT_REQ_STREAM) && !on_line)
		return -EINVAL;
	if (req->accept && strpbrk(req->accept, "\r\n"))
		return -EINVAL; /* no header injection through the Accept value */
	body_len = req->body ? (req->body_len ? req->body_len : strlen(req->body)) : 0;
	if (body_len > KCLIENT_MAX_REQUEST_BODY)
		return -EINVAL;
	if (kc->queued >= kc->opt.max_queue)
		return -EAGAIN;

	call = xnew(struct kc_call);
	call->kc = kc;
	link_init(&call->link);
	link_init(&call->pend);
	call->method = req->method;
	call->url = xasprintf("%s%s", kc->cfg->server, req->path);
	call->content_type = xstrdup(req->content_type ? req->content_type : "application/json");
	call->accept = xstrdup(req->accept ? req->accept : "application/json");
	if (req->body) {
		call->body = xmalloc(body_len + 1);
		memcpy(call->body, req->body, body_len);
		call->body[body_len] = '\0';
		call->body_len = body_len;
	} else if (req->method == KCLIENT_POST || req->method == KCLIENT_PUT ||
		   req->method == KCLIENT_PATCH) {
		call->body = xstrdup("");
	}
	call->flags = req->flags;
	call->timeout_ms = req->timeout_ms ? req->timeout_ms : kc->opt.timeout_ms;
	call->max_body = req->max_body ? req->max_body : kc->opt.max_body;
	call->max_line = req->max_line ? req->max_line : kc->opt.max_line;
	call->max_retries = req->max_retries ? (req->max_retries < 0 ? 0 : req->max_retries) :
			    (kc->opt.max_retries < 0 ? 0 : kc->opt.max_retries);
	call->on_line = on_line;
	call->done = done;
	call->userdata = userdata;
	buf_init(&call->resp, call->max_body);
	backoff_init(&call->bo, kc->opt.backoff_base_ms, kc->opt.backoff_max_ms, 0.2);
	kc->stats.requests++;
	if (ret_call)
		*ret_call = (struct kclient_call *)call;
	kc_submit(call);
	return 0;
}

static void kc_timer_closed(uv_handle_t *h)
{
	struct kclient *kc = h->data;

	if (--kc->open_handles > 0)
		return;
	kubeconfig_free(kc->cfg);
	free(kc->user_agent);
	free(kc->no_proxy);
	free(kc);
}

int kclient_new(uv_loop_t *loop, struct kubeconfig *cfg, const struct kclient_options *opts,
		struct errbuf *err, struct kclient **ret_kc)
{
	static bool curl_ready;
	struct kclient *kc;

	if (!loop || !cfg || !cfg->server)
		return errbuf_set(err, -EINVAL, "kclient: a loop and a configuration with a server are required");
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return errbuf_set(err, -EIO, "kclient: curl_global_init failed");
		curl_ready = true;
	}
	kc = xnew(struct kclient);
	if (opts)
		kc->opt = *opts;
	if (kc->opt.qps == 0)
		kc->opt.qps = KCLIENT_DEFAULT_QPS;
	if (kc->opt.burst == 0)
		kc->opt.burst = KCLIENT_DEFAULT_BURST;
	if (!kc->opt.timeout_ms)
		kc->opt.timeout_ms = KCLIENT_DEFAULT_TIMEOUT_MS;
	if (!kc->opt.connect_timeout_ms)
		kc->opt.connect_timeout_ms = KCLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
	if (!kc->opt.max_body)
		kc->opt.max_body = KCLIENT_DEFAULT_MAX_BODY;
	if (!kc->opt.max_line)
		kc->opt.max_line = KCLIENT_DEFAULT_MAX_LINE;
	if (kc->opt.max_retries == 0)
		kc->opt.max_retries = KCLIENT_DEFAULT_MAX_RETRIES;
	if (!kc->opt.backoff_base_ms)
		kc->opt.backoff_base_ms = KCLIENT_DEFAULT_BACKOFF_BASE_MS;
	if (!kc->opt.backoff_max_ms)
		kc->opt.backoff_max_ms = KCLIENT_DEFAULT_BACKOFF_MAX_MS;
	if (!kc->opt.max_retry_after_ms)
		kc->opt.max_retry_after_ms = KCLIENT_DEFAULT_MAX_RETRY_AFTER_MS;
	if (!kc->opt.max_queue)
		kc->opt.max_queue = KCLIENT_DEFAULT_MAX_QUEUE;
	if (isnan(kc->opt.qps) || isinf(kc->opt.qps)) {
		free(kc);
		return errbuf_set(err, -EINVAL, "kclient: qps must be a finite number");
	}
	kc->user_agent = xstrdup(opts && opts->user_agent ? opts->user_agent : "nave/" NAVE_VERSION);
	{
		/* Proxies come from the environment as for client-go, which
		 * never proxies loopback addresses; curl would, so say so. */
		const char *np = getenv("NO_PROXY");

		if (!np || !np[0])
			np = getenv("no_proxy");
		kc->no_proxy = np && np[0] ? xasprintf("%s,localhost,127.0.0.1,::1", np) :
					     xstrdup("localhost,127.0.0.1,::1");
	}
	kc->opt.user_agent = NULL;
	kc->loop = loop;
	kc->tokens = kc->opt.burst;
	kc->tokens_us = time_mono_us();
	link_init(&kc->throttled);
	link_init(&kc->delayed);
	link_init(&kc->active);
	link_init(&kc->pending);
	link_init(&kc->socks);

	kc->multi = curl_multi_init();
	kc->share = curl_share_init();
	if (!kc->multi || !kc->share) {
		curl_multi_cleanup(kc->multi);
		curl_share_cleanup(kc->share);
		free(kc->user_agent);
		free(kc->no_proxy);
		free(kc);
		return errbuf_set(err, -EIO, "kclient: curl_multi_init failed");
	}
	curl_share_setopt(kc->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(kc->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_multi_setopt(kc->multi, CURLMOPT_SOCKETFUNCTION, kc_socket_cb);
	curl_multi_setopt(kc->multi, CURLMOPT_SOCKETDATA, kc);
	curl_multi_setopt(kc->multi, CURLMOPT_TIMERFUNCTION, kc_timer_cb);
	curl_multi_setopt(kc->multi, CURLMOPT_TIMERDATA, kc);
	uv_timer_init(loop, &kc->curl_timer);
	uv_timer_init(loop, &kc->sched_timer);
	kc->curl_timer.data = kc;
	kc->sched_timer.data = kc;
	kc->open_handles = 2;
	kc->cfg = cfg;
	*ret_kc = kc;
	return 0;
}

static void kc_drop_list(struct kc_link *head, bool pend)
{
	while (!link_empty(head)) {
		struct kc_call *call = pend ? container_of(head->next, struct kc_call, pend) :
					      container_of(head->next, struct kc_call, link);

		kc_call_free(call);
	}
}

struct kclient *kclient_free(struct kclient *kc)
{
	if (!kc)
		return NULL;
	kc_drop_list(&kc->active, false);
	kc_drop_list(&kc->throttled, false);
	kc_drop_list(&kc->delayed, false);
	kc_drop_list(&kc->pending, true);
	curl_multi_cleanup(kc->multi);
	kc->multi = NULL;
	curl_share_cleanup(kc->share);
	while (!link_empty(&kc->socks))
		kc_sock_close(container_of(kc->socks.next, struct kc_sock, link));
	uv_close((uv_handle_t *)&kc->curl_timer, kc_timer_closed);
	uv_close((uv_handle_t *)&kc->sched_timer, kc_timer_closed);
	return NULL;
}

struct kubeconfig *kclient_config(struct kclient *kc)
{
	return kc->cfg;
}

uv_loop_t *kclient_loop(struct kclient *kc)
{
	return kc->loop;
}

void kclient_get_stats(const struct kclient *kc, struct kclient_stats *ret_stats)
{
	*ret_stats = kc->stats;
	ret_stats->queued = (unsigned)kc->queued;
}
