/* httpd_wrap.c - what the hub needs to see of httpd calls it does not make itself.
 *
 * kapi answers most requests and runs watch streams, calling httpd directly.
 * The hub needs two things from those calls that httpd's API does not give:
 *   - the status of every answer, for the request metrics;
 *   - a way to cut a cluster's watch stream once the cluster is denied or
 *     its certificate revoked (a watch opened before the deny must not keep
 *     delivering ManifestWorks).
 * hub_core_dep links with -Wl,--wrap=httpd_respond,--wrap=httpd_stream_start,
 * --wrap=httpd_stream_write,--wrap=httpd_stream_end, so every such call in
 * the program goes through the wrappers below (the linker's __wrap_/__real_
 * names). They note the status in hub_metrics_last_status (requests are
 * dispatched one at a time on the loop, serve.c reads it right after), and
 * give each stream opened by a cluster identity a guard: before each write
 * the guard re-checks the certificate (revocation list, acceptance) and, if
 * it no longer passes, refuses the write with -ENOBUFS, which makes kapi end
 * the stream as it does for a slow reader. A guard goes when the stream ends
 * or its client leaves (its close callback is interposed for that).
 *
 * Guards live in a list: cluster identities rarely hold watch streams (agents
 * use the websocket stream), so a lookup is a short walk; the list is empty,
 * and costs nothing, when no cluster watches. One hub per process: the hub
 * being served is in hub_wrap_hub.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "hub_int.h"
#include "log.h"

int hub_metrics_last_status;
struct hub *hub_wrap_hub;

struct stream_guard {
	struct httpd_req *req;          /* borrowed; valid until the guard goes */
	httpd_close_fn on_close;        /* the stream owner's close callback */
	void *on_close_data;
	char cn[X509_NAME_MAX + 1];
	char serial[X509_SERIAL_HEX_MAX + 1];
	bool cut;                       /* refused once already (logged) */
	struct stream_guard *next;
};

static struct stream_guard *guards;

/* The linker's names for the wrapped functions. */
void __real_httpd_respond(struct httpd_req *req, int status, const char *content_type, const char *body,
			  size_t len);
void __wrap_httpd_respond(struct httpd_req *req, int status, const char *content_type, const char *body,
			  size_t len);
int __real_httpd_stream_start(struct httpd_req *req, int status, const char *content_type, httpd_close_fn on_close,
			      void *data);
int __wrap_httpd_stream_start(struct httpd_req *req, int status, const char *content_type, httpd_close_fn on_close,
			      void *data);
int __real_httpd_stream_write(struct httpd_req *req, const char *data, size_t len);
int __wrap_httpd_stream_write(struct httpd_req *req, const char *data, size_t len);
void __real_httpd_stream_end(struct httpd_req *req);
void __wrap_httpd_stream_end(struct httpd_req *req);

static struct stream_guard *guard_take(struct httpd_req *req)
{
	struct stream_guard **pp, *g;

	for (pp = &guards; *pp; pp = &(*pp)->next) {
		if ((*pp)->req == req) {
			g = *pp;
			*pp = g->next;
			return g;
		}
	}
	return NULL;
}

static struct stream_guard *guard_find(struct httpd_req *req)
{
	struct stream_guard *g;

	for (g = guards; g; g = g->next)
		if (g->req == req)
			return g;
	return NULL;
}

static void guarded_close(struct httpd_req *req, void *data)
{
	struct stream_guard *g = data;

	guard_take(req);
	if (g->on_close)
		g->on_close(req, g->on_close_data);
	free(g);
}

/* httpd_respond, noting the status. */
void __wrap_httpd_respond(struct httpd_req *req, int status, const char *content_type, const char *body,
			  size_t len)
{
	hub_metrics_last_status = status;
	__real_httpd_respond(req, status, content_type, body, len);
}

/* httpd_stream_start, noting the status and guarding a cluster's stream. */
int __wrap_httpd_stream_start(struct httpd_req *req, int status, const char *content_type, httpd_close_fn on_close,
			      void *data)
{
	struct hub *h = hub_wrap_hub;
	struct stream_guard *g;
	int r;

	hub_metrics_last_status = status;
	if (!h || h->cur_id_rc < 0 || h->cur_id.kind != HUB_IDENT_CLUSTER)
		return __real_httpd_stream_start(req, status, content_type, on_close, data);
	g = xnew(struct stream_guard);
	g->req = req;
	g->on_close = on_close;
	g->on_close_data = data;
	snprintf(g->cn, sizeof(g->cn), "%s", h->cur_id.user);
	snprintf(g->serial, sizeof(g->serial), "%s", h->cur_id.serial);
	r = __real_httpd_stream_start(req, status, content_type, guarded_close, g);
	if (r < 0) {
		free(g);
		return r;
	}
	g->next = guards;
	guards = g;
	return 0;
}

/* httpd_stream_write, refused for a cluster that lost its access. */
int __wrap_httpd_stream_write(struct httpd_req *req, const char *data, size_t len)
{
	struct stream_guard *g = guards ? guard_find(req) : NULL;

	if (g && hub_wrap_hub) {
		struct hub_identity id;
		struct errbuf err;

		if (hub_cluster_cert_check(hub_wrap_hub, g->cn, g->serial, &id, &err) < 0) {
			if (!g->cut)
				log_info("closing a watch of %s: %s", g->cn, err.msg);
			g->cut = true;
			return -ENOBUFS;
		}
	}
	return __real_httpd_stream_write(req, data, len);
}

/* httpd_stream_end, dropping the stream's guard. */
void __wrap_httpd_stream_end(struct httpd_req *req)
{
	free(guards ? guard_take(req) : NULL);
	__real_httpd_stream_end(req);
}
