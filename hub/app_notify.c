/* app_notify.c - the notification step's webhook POST, on the hub's loop.
 *
 * One request per notification: a struct kclient (common/kclient.h: libcurl
 * multi driven by the loop) for the URL's origin, made from an in-memory
 * struct kubeconfig (server = "scheme://host[:port]", the system's CA
 * roots, no credentials), and one POST of the payload as JSON with
 * KCLIENT_REQ_RAW (the answer's body is not parsed) and no retries: a
 * webhook is not idempotent. The POST has a bounded timeout (the step's,
 * at most APP_NOTIFY_TIMEOUT_MS). Messages name only the origin: the path
 * of a Slack or DingTalk webhook URL is its secret.
 *
 * A kclient must not be freed from inside its own callback: once done has
 * run, the request frees itself from a 0 ms timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "kclient.h"
#include "kubeconfig.h"
#include "log.h"

struct app_notify {
	struct kclient *kc;          /* owned */
	uv_timer_t reap;             /* frees the request after done */
	app_notify_fn done;
	void *data;
	char origin[300];
	char *url;                   /* owned: the whole URL, scrubbed from messages */
	bool timer_init;
};

/* Split url into its origin ("https://host:port") and its path with query
 * ("/x?y", "/" when absent). -EINVAL for anything but http(s)://host... */
static int split_url(const char *url, char *origin, size_t olen, const char **ret_path)
{
	const char *p, *host, *end;
	size_t n;

	if (!url || strlen(url) > APP_URL_MAX)
		return -EINVAL;
	if (!strncmp(url, "http://", 7))
		host = url + 7;
	else if (!strncmp(url, "https://", 8))
		host = url + 8;
	else
		return -EINVAL;
	end = host + strcspn(host, "/?#");
	if (end == host || memchr(host, '@', (size_t)(end - host)))
		return -EINVAL; /* no host, or credentials in the URL */
	for (p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -EINVAL;
	n = (size_t)(end - url);
	if (n >= olen)
		return -EINVAL;
	memcpy(origin, url, n);
	origin[n] = '\0';
	*ret_path = *end == '/' ? end : NULL;
	return 0;
}

/* See app_int.h. */
void app_url_origin(const char *url, char *out, size_t outlen)
{
	const char *path;

	if (split_url(url, out, outlen, &path) < 0)
		snprintf(out, outlen, "(an invalid URL)");
}

static void notify_free(struct app_notify *n)
{
	free(n->url);
	free(n);
}

static void on_closed(uv_handle_t *hd)
{
	notify_free(hd->data);
}

/* Copy msg into out with every occurrence of the URL replaced by its origin. */
static void scrub(const char *msg, const struct app_notify *n, char *out, size_t outlen)
{
	size_t ul = strlen(n->url), o = 0;
	const char *p = msg, *hit;

	while ((hit = ul ? strstr(p, n->url) : NULL) && o < outlen) {
		o += (size_t)snprintf(out + o, outlen - o, "%.*s%s/...", (int)(hit - p), p, n->origin);
		p = hit + ul;
	}
	if (o < outlen)
		snprintf(out + o, outlen - o, "%s", p);
}

static void on_reap(uv_timer_t *t)
{
	struct app_notify *n = t->data;

	n->kc = kclient_free(n->kc);
	uv_close((uv_handle_t *)&n->reap, on_closed);
}

static void on_done(void *userdata, const struct kclient_result *res)
{
	struct app_notify *n = userdata;
	char msg[APP_MSG_MAX], detail[APP_MSG_MAX];
	int r = 0;

	if (res->r == 0) {
		snprintf(msg, sizeof(msg), "posted to %s (HTTP %ld)", n->origin, res->status);
	} else if (res->status) {
		r = res->r < 0 ? res->r : -EIO;
		scrub(res->raw && res->raw_len ? res->raw : (res->err ? res->err->message : ""), n, detail,
		      sizeof(detail));
		snprintf(msg, sizeof(msg), "notification to %s failed: HTTP %ld: %.200s", n->origin, res->status,
			 detail);
	} else {
		r = res->r < 0 ? res->r : -EIO;
		scrub(res->err && res->err->message[0] ? res->err->message : "no answer", n, detail, sizeof(detail));
		snprintf(msg, sizeof(msg), "notification to %s failed: %.300s", n->origin, detail);
	}
	/* keep only the first line of a body */
	msg[strcspn(msg, "\r\n")] = '\0';
	if (r < 0)
		log_info("%s", msg);
	n->done(n->data, r, msg);
	uv_timer_start(&n->reap, on_reap, 0, 0);
}

/* See app_int.h. */
int app_notify_post(uv_loop_t *loop, const char *url, const json_t *payload, int64_t timeout_ms,
		    app_notify_fn done, void *data, struct errbuf *err, struct app_notify **ret_n)
{
	struct kubeconfig *cfg = xnew(struct kubeconfig);
	struct kclient_options opts = {.qps = -1, .max_retries = -1, .max_body = 64 * 1024,
				       .timeout_ms = (uint64_t)timeout_ms, .connect_timeout_ms = (uint64_t)timeout_ms};
	struct app_notify *n = xnew(struct app_notify);
	struct kclient_request rq = {.method = KCLIENT_POST, .flags = KCLIENT_REQ_RAW, .max_retries = -1,
				     .timeout_ms = (uint64_t)timeout_ms, .max_body = 64 * 1024};
	const char *path = NULL;
	char *body = NULL;
	int r;

	if (timeout_ms <= 0 || timeout_ms > APP_NOTIFY_TIMEOUT_MS)
		timeout_ms = APP_NOTIFY_TIMEOUT_MS;
	opts.timeout_ms = opts.connect_timeout_ms = rq.timeout_ms = (uint64_t)timeout_ms;
	if (split_url(url, n->origin, sizeof(n->origin), &path) < 0) {
		kubeconfig_free(cfg);
		notify_free(n);
		return errbuf_set(err, -EINVAL, "notification URL: Invalid value: expected http(s)://host[:port]/path");
	}
	cfg->source = xstrdup("notification");
	cfg->server = xstrdup(n->origin);
	cfg->namespace = xstrdup("default");
	n->url = xstrdup(url);
	if ((r = kclient_new(loop, cfg, &opts, err, &n->kc)) < 0) {
		kubeconfig_free(cfg);
		notify_free(n);
		return r;
	}
	body = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (!body)
		body = xstrdup("{}");
	rq.path = path ? path : "/";
	rq.body = body;
	rq.body_len = strlen(body);
	uv_timer_init(loop, &n->reap);
	n->reap.data = n;
	n->timer_init = true;
	n->done = done;
	n->data = data;
	r = kclient_request(n->kc, &rq, NULL, on_done, n, NULL);
	free(body);
	if (r < 0) {
		errbuf_set(err, r, "notification to %s: cannot start the request", n->origin);
		app_notify_cancel(n);
		return r;
	}
	*ret_n = n;
	return 0;
}

/* See app_int.h. */
struct app_notify *app_notify_cancel(struct app_notify *n)
{
	if (!n)
		return NULL;
	n->kc = kclient_free(n->kc);
	if (n->timer_init) {
		uv_timer_stop(&n->reap);
		uv_close((uv_handle_t *)&n->reap, on_closed);
	} else {
		notify_free(n);
	}
	return NULL;
}
