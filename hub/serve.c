/* serve.c - `nave-hub serve`: the loop, the HTTPS server, group commit, routing.
 *
 * One libuv loop runs everything: libwebsockets (through common/httpd), the
 * kapi server with its SQLite store, timers (health, janitor) and signals.
 *
 * Group commit, and why requests are queued: an answer must not leave before
 * the write it acknowledges is durable. httpd writes answers only from
 * libwebsockets' WRITEABLE callbacks, never inside httpd_respond. So the
 * request handler only queues the request; a uv_prepare (before the loop
 * blocks) and a uv_check (after it polled) handler then take the queued
 * requests, serve each (kapi or the /nave/v1 endpoints; their writes go into
 * one open SQLite transaction, their answers into httpd's buffers), and
 * COMMIT before returning to the loop. No WRITEABLE callback can run between
 * the first write and the COMMIT, so every answer that reaches a socket is
 * backed by a committed transaction, and a loop turn's writes share one
 * transaction and one fsync. A uv_idle handle is active while requests wait,
 * so the loop does not block with work queued. If a COMMIT fails the process
 * exits at once, before any answer of that batch is written (the memory
 * state is ahead of the disk; a restart reloads the disk's).
 *
 * Routing: /healthz, /livez, /readyz, /metrics and /nave/v1/... are served
 * here; everything else goes to kapi, whose auth callback (auth.c) uses the
 * identity computed once per request below. The web view (ui.h): "/" and
 * /ui/... are its static files, answered before authentication;
 * /nave/v1/ui/... goes to ui_http; a request authenticated by a session
 * cookie must pass ui_session_csrf_check whatever its path.
 *
 * What the hub sees of answers it does not write itself (kapi answers most
 * requests and runs watch streams), through httpd's hooks:
 *   - on_answer gives the status of every answer: the one of the request
 *     being dispatched is kept in cur_status and counted with its latency
 *     after the batch's COMMIT; any other (httpd's own 4xx, which never
 *     reach the queue) is counted at once, without a latency.
 *   - a request made by a cluster identity carries a tag (struct
 *     hub_req_tag: the certificate's CN and serial). Before each write to a
 *     stream so tagged, on_stream_write re-checks the certificate
 *     (revocation set, acceptance; in-memory lookups) and refuses the write
 *     once it no longer passes, which makes kapi end the watch: a watch a
 *     cluster opened before it was denied or revoked delivers nothing after.
 *     Cluster agents use the websocket stream (stream.c, which checks on its
 *     own); their HTTP watches are rare, so a check per write costs little.
 *     A request authenticated by a web view session (ui.h) is tagged with
 *     the session: its watches end once the session does (logout, expiry).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "app.h"
#include "httpd.h"
#include "hub_int.h"
#include "kapi_store.h"
#include "log.h"
#include "placement.h"
#include "store_sqlite.h"
#include "stream.h"
#include "timefmt.h"
#include "ui.h"

#define HUB_SERVING_RENEW_S (30LL * 86400)

struct hub_pending {
	struct httpd_req *req;  /* borrowed until answered */
	int64_t t0_us;
	struct hub_pending *next;
};

struct hub_durable {
	hub_durable_fn fn;
	void *data;
	struct hub_durable *next;
};

/* httpd tag of a request made by a cluster identity (see the top comment). */
struct hub_req_tag {
	char cn[X509_NAME_MAX + 1];     /* "" for a web view session */
	char serial[X509_SERIAL_HEX_MAX + 1];
	uint64_t session;               /* the web view session (ui.h), or 0 */
	bool cut;                       /* a write was refused already (logged once) */
};

static void on_idle(uv_idle_t *i);

/* Answers ------------------------------------------------------------------ */

/* See hub_int.h. */
void hub_respond_json(struct hub *h, struct httpd_req *req, int code, json_t *body)
{
	char *txt = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	if (!txt) {
		httpd_respond(req, 500, "application/json", "{}", 2);
		return;
	}
	httpd_respond(req, code, "application/json", txt, strlen(txt));
	free(txt);
}

/* See hub_int.h. */
void hub_respond_error(struct hub *h, struct httpd_req *req, int err_code, const char *message)
{
	kapi_status_respond(req, err_code, message, NULL, NULL);
}

/* See hub_int.h. */
int hub_body_json(struct httpd_req *req, json_t **ret_body, struct errbuf *err)
{
	size_t len = 0;
	const char *body = httpd_req_body(req, &len);
	json_error_t je;
	json_t *j;

	if (len > HUB_NAVE_BODY_MAX)
		return errbuf_set(err, -E2BIG, "body: %zu bytes is over this endpoint's %d-byte limit", len,
				  HUB_NAVE_BODY_MAX);
	if (!body || len == 0) {
		*ret_body = json_object();
		return 0;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return errbuf_set(err, -EBADMSG, "body: invalid JSON at line %d column %d: %s", je.line, je.column,
				  je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return errbuf_set(err, -EBADMSG, "body: expected a JSON object");
	}
	*ret_body = j;
	return 0;
}

/* httpd hooks ---------------------------------------------------------------- */

/* Lowercase an HTTP method into out (the verb label of the metrics). */
static const char *verb_of(const char *method, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; method[i] && i + 1 < outlen; i++)
		out[i] = (char)((method[i] >= 'A' && method[i] <= 'Z') ? method[i] + 32 : method[i]);
	out[i] = '\0';
	return out;
}

/* httpd_answer_fn: note the status for the metrics. */
static void on_answer(struct httpd_req *req, int status, void *userdata)
{
	struct hub *h = userdata;
	char verb[16];

	if (req == h->cur_req) {
		h->cur_status = status;
		return;
	}
	hub_metrics_request(h, verb_of(httpd_req_method(req), verb, sizeof(verb)), status, -1);
}

/* httpd_stream_write_fn: refuse writes to a cluster that lost its access. */
static int on_stream_write(struct httpd_req *req, void *userdata)
{
	struct hub_req_tag *t = httpd_req_get_tag(req);
	struct hub *h = userdata;
	struct hub_identity id;
	struct errbuf err;

	if (!t)
		return 0;
	if (t->session) {
		if (ui_session_live(h, t->session))
			return 0;
		if (!t->cut)
			log_info("closing a watch of a web view session: the session ended");
		t->cut = true;
		return -EACCES;
	}
	if (hub_cluster_cert_check(h, t->cn, t->serial, &id, &err) < 0) {
		if (!t->cut)
			log_info("closing a watch of %s: %s", t->cn, err.msg);
		t->cut = true;
		return -EACCES;
	}
	return 0;
}

/* Exported accessors (hub.h) ------------------------------------------------ */

/* See hub.h. */
struct kapi_server *hub_kapi(struct hub *h)
{
	return h->kapi;
}

/* See hub.h. */
uv_loop_t *hub_loop(struct hub *h)
{
	return h->loop;
}

/* See hub.h. */
const char *hub_ca_pem(const struct hub *h)
{
	return x509_ca_cert_pem(h->ca);
}

/* See hub.h. */
void hub_when_durable(struct hub *h, hub_durable_fn fn, void *data)
{
	struct hub_durable *d;

	if (!store_sqlite_pending(h->store) && !h->q_head) {
		fn(data);
		return;
	}
	d = xnew(struct hub_durable);
	d->fn = fn;
	d->data = data;
	if (h->dur_tail)
		h->dur_tail->next = d;
	else
		h->dur_head = d;
	h->dur_tail = d;
	if (!uv_is_active((uv_handle_t *)&h->idle))
		uv_idle_start(&h->idle, on_idle);
}

/* Routing ------------------------------------------------------------------- */

/* The identity needed by a /nave/v1 endpoint; answers and returns false when
 * the request does not have it. */
static bool require(struct hub *h, struct httpd_req *req, enum hub_ident_kind kind, const char *what)
{
	char msg[ERRBUF_MAX + 64];

	if (h->cur_id_rc < 0) {
		hub_respond_error(h, req, -EACCES, h->cur_id_err.msg);
		return false;
	}
	if (h->cur_id.kind == kind || (h->cur_id.kind == HUB_IDENT_ADMIN && kind != HUB_IDENT_BOOTSTRAP))
		return true;
	if (h->cur_id.kind == HUB_IDENT_ANONYMOUS) {
		snprintf(msg, sizeof(msg), "Unauthorized: %s needs %s", what,
			 kind == HUB_IDENT_ADMIN ? "the admin token (Authorization: Bearer <token of admin.kubeconfig>)"
			 : kind == HUB_IDENT_CLUSTER ? "the cluster's client certificate"
						     : "a bootstrap token");
		hub_respond_error(h, req, -EACCES, msg);
	} else if (h->cur_id.kind == HUB_IDENT_BOOTSTRAP) {
		snprintf(msg, sizeof(msg),
			 "Unauthorized: bootstrap tokens may only be used to register (POST /nave/v1/registrations)");
		hub_respond_error(h, req, -EACCES, msg);
	} else {
		snprintf(msg, sizeof(msg), "forbidden: User \"%s\" cannot %s", h->cur_id.user, what);
		hub_respond_error(h, req, -EPERM, msg);
	}
	return false;
}

static bool valid_seg(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

static void route_nave(struct hub *h, struct httpd_req *req, const char *path, const char *method)
{
	char work[512], *segs[6], *save = NULL, *p;
	int n = 0;

	if (strlen(path) >= sizeof(work)) {
		hub_respond_error(h, req, -ENOENT, "the server could not find the requested resource");
		return;
	}
	snprintf(work, sizeof(work), "%s", path + strlen("/nave/v1"));
	for (p = strtok_r(work, "/", &save); p && n < 6; p = strtok_r(NULL, "/", &save))
		segs[n++] = p;
	if (p || n == 0)
		goto not_found;
	for (int i = 1; i < n; i++)
		if (!valid_seg(segs[i]))
			goto not_found;
	if (n == 1 && !strcmp(segs[0], "ca.crt")) {
		if (strcmp(method, "GET"))
			goto not_allowed;
		httpd_respond(req, 200, "application/x-pem-file", hub_ca_pem(h), strlen(hub_ca_pem(h)));
		return;
	}
	if (!strcmp(segs[0], "tokens") && n <= 2) {
		if (n == 1 && !strcmp(method, "POST")) {
			if (require(h, req, HUB_IDENT_ADMIN, "create bootstrap tokens"))
				hub_tokens_create(h, req);
		} else if (n == 2 && !strcmp(method, "DELETE")) {
			if (require(h, req, HUB_IDENT_ADMIN, "revoke bootstrap tokens"))
				hub_tokens_revoke(h, req, segs[1]);
		} else {
			goto not_allowed;
		}
		return;
	}
	if (!strcmp(segs[0], "ui") && n >= 2) {
		ui_http(h, req, segs + 1, n - 1);
		return;
	}
	if (!strcmp(segs[0], "registrations") && n <= 2) {
		if (n == 1 && !strcmp(method, "POST"))
			hub_registration_create(h, req);
		else if (n == 2 && !strcmp(method, "GET"))
			hub_registration_get(h, req, segs[1]);
		else
			goto not_allowed;
		return;
	}
	if (!strcmp(segs[0], "clusters") && n == 3) {
		if (!strcmp(segs[2], "accept") || !strcmp(segs[2], "deny")) {
			if (strcmp(method, "POST"))
				goto not_allowed;
			if (!require(h, req, HUB_IDENT_ADMIN, "accept or deny clusters"))
				return;
			if (segs[2][0] == 'a')
				hub_cluster_accept_http(h, req, segs[1]);
			else
				hub_cluster_deny_http(h, req, segs[1]);
			return;
		}
		if (!strcmp(segs[2], "lease")) {
			if (strcmp(method, "PUT"))
				goto not_allowed;
			if (require(h, req, HUB_IDENT_CLUSTER, "renew cluster leases"))
				hub_lease_http(h, req, segs[1]);
			return;
		}
		goto not_found;
	}
	if (!strcmp(segs[0], "namespaces") && n >= 5 && !strcmp(segs[2], "applications")) {
		if (strcmp(method, "POST"))
			goto not_allowed;
		if (require(h, req, HUB_IDENT_ADMIN, "change applications"))
			app_http(h, req, segs[1], segs[3], segs + 4, n - 4);
		return;
	}
	if (n == 1 && !strcmp(segs[0], "renewals")) {
		if (strcmp(method, "POST"))
			goto not_allowed;
		if (require(h, req, HUB_IDENT_CLUSTER, "renew client certificates"))
			hub_renewal_http(h, req);
		return;
	}
not_found:
	hub_respond_error(h, req, -ENOENT, "the server could not find the requested resource");
	return;
not_allowed:
	hub_respond_error(h, req, -EOPNOTSUPP, "the server does not allow this method on the requested resource");
}

static void dispatch(struct hub *h, struct httpd_req *req)
{
	const char *path = httpd_req_path(req), *method = httpd_req_method(req);
	static char method_lower[16];

	h->cur_verb = verb_of(method, method_lower, sizeof(method_lower));
	if (!strcmp(path, "/healthz") || !strcmp(path, "/livez") || !strcmp(path, "/readyz")) {
		bool ok = path[1] != 'r' || (h->ready && !h->stopping);

		httpd_respond(req, ok ? 200 : 503, "text/plain", ok ? "ok" : "not ready", ok ? 2 : 9);
		return;
	}
	if (ui_static_path(path)) {
		ui_static_http(h, req);
		return;
	}
	memset(&h->cur_id, 0, sizeof(h->cur_id));
	errbuf_clear(&h->cur_id_err);
	h->cur_id_session = false;
	h->cur_id_rc = hub_authenticate(h, req, &h->cur_id, &h->cur_id_err);
	if (h->cur_id_rc >= 0 && h->cur_id_session) {
		struct errbuf cerr;
		struct hub_req_tag *t;

		/* the web view's cross-site request rule (ui.h), for every path */
		if (ui_session_csrf_check(req, &cerr) < 0) {
			hub_respond_error(h, req, -EPERM, cerr.msg);
			return;
		}
		t = xnew(struct hub_req_tag);
		t->session = ui_session_current(h);
		httpd_req_set_tag(req, t, free);
	}
	if (h->cur_id_rc >= 0 && h->cur_id.kind == HUB_IDENT_CLUSTER) {
		struct hub_req_tag *t = xnew(struct hub_req_tag);

		snprintf(t->cn, sizeof(t->cn), "%s", h->cur_id.user);
		snprintf(t->serial, sizeof(t->serial), "%s", h->cur_id.serial);
		httpd_req_set_tag(req, t, free);
	}
	if (!strcmp(path, "/metrics")) {
		if (h->cfg.metrics_anonymous || require(h, req, HUB_IDENT_ADMIN, "read metrics"))
			hub_metrics_http(h, req);
		return;
	}
	if (!strncmp(path, "/nave/v1/", 9)) {
		route_nave(h, req, path, method);
		return;
	}
	kapi_server_handle(h->kapi, req);
}

/* Group commit -------------------------------------------------------------- */

static void drain(struct hub *h)
{
	struct {
		char verb[20];
		int code;
		int64_t t0;
	} done[HUB_BATCH_MAX];
	struct hub_durable *d, *dn;
	struct errbuf err;
	size_t n = 0, i;
	int64_t now;

	while (h->q_head && n < HUB_BATCH_MAX) {
		struct hub_pending *p = h->q_head;

		h->q_head = p->next;
		if (!h->q_head)
			h->q_tail = NULL;
		h->q_len--;
		h->cur_req = p->req;
		h->cur_status = 0;
		dispatch(h, p->req);
		h->cur_req = NULL;
		snprintf(done[n].verb, sizeof(done[n].verb), "%s", h->cur_verb ? h->cur_verb : "");
		done[n].code = h->cur_status;
		done[n].t0 = p->t0_us;
		n++;
		free(p);
	}
	if (h->store && store_sqlite_flush(h->store, &err) < 0) {
		/* Answers of this batch sit in httpd's buffers and are written only
		 * from WRITEABLE callbacks: leaving now keeps them from going out. */
		log_error("%s; stopping at once so that no unsaved write is acknowledged", err.msg);
		fflush(NULL);
		_exit(74);
	}
	now = time_mono_us();
	for (i = 0; i < n; i++)
		hub_metrics_request(h, done[i].verb, done[i].code, (double)(now - done[i].t0) / 1e6);
	d = h->dur_head;
	h->dur_head = h->dur_tail = NULL;
	for (; d; d = dn) {
		dn = d->next;
		d->fn(d->data);
		free(d);
	}
	if (!h->q_head && !h->dur_head && uv_is_active((uv_handle_t *)&h->idle))
		uv_idle_stop(&h->idle);
}

static void on_prepare(uv_prepare_t *p)
{
	drain(p->data);
}

static void on_check(uv_check_t *c)
{
	drain(c->data);
}

static void on_idle(uv_idle_t *i)
{
	(void)i; /* being active is the point: the loop polls without blocking */
}

static void on_request(struct httpd_req *req, void *userdata)
{
	struct hub *h = userdata;
	struct hub_pending *p = xnew(struct hub_pending);

	p->req = req;
	p->t0_us = time_mono_us();
	if (h->q_tail)
		h->q_tail->next = p;
	else
		h->q_head = p;
	h->q_tail = p;
	h->q_len++;
	if (!uv_is_active((uv_handle_t *)&h->idle))
		uv_idle_start(&h->idle, on_idle);
}

/* Start and stop -------------------------------------------------------------- */

static void serve_usage(FILE *out)
{
	fprintf(out,
		"Usage: nave-hub serve --data-dir D [OPTIONS]\n"
		"\n"
		"Serve the hub made by `nave-hub init` in D.\n"
		"\n"
		"  --data-dir D                the hub's directory (required)\n"
		"  --listen ADDR               HOST:PORT, :PORT or PORT (default: as given to init)\n"
		"  --hub-url URL               URL agents are told to use (default: as given to init)\n"
		"  --lease-timeout DUR         a cluster with no lease for this long becomes\n"
		"                              Available=Unknown (default 40s; OCM's is 5m)\n"
		"  --lease-duration SECS       lease period new clusters get (spec.leaseDurationSeconds,\n"
		"                              default 10)\n"
		"  --client-cert-lifetime DUR  lifetime of cluster certificates (default 365d, minimum 1h)\n"
		"  --auto-accept               accept a cluster's first registration without an admin\n"
		"                              (trusted setups only; off by default)\n"
		"  --max-work-bytes N          cap on a ManifestWork's manifests, bytes (default 512000)\n"
		"  --app-revisions N           ApplicationRevisions kept per application (default 10)\n"
		"  --watch-history N           changes kept for watches to resume from (default 1024;\n"
		"                              16..1000000; older resourceVersions get 410 Expired)\n"
		"  --store-sync full|normal    fsync every commit (full, default: survives power loss) or\n"
		"                              only at checkpoints (normal: survives kill -9)\n"
		"  --metrics-anonymous         serve /metrics without the admin token\n"
		"  --ui-session-ttl DUR        web view sessions end this long after login\n"
		"                              (default 12h; 1s..30d)\n"
		"  --ui-session-idle DUR       ... or this long after their last request (default 2h,\n"
		"                              at most the TTL; 1s..30d)\n"
		"  --log-level LVL             debug, info (default), warn, error\n"
		"  --log-format FMT            text (default) or json\n"
		"  -h, --help                  this help\n"
		"\n"
		"Durations: 90, 90s, 5m, 2h, 365d. SIGTERM or SIGINT stops it cleanly.\n");
}

static void on_signal(uv_signal_t *s, int signum);

static int lock_data_dir(struct hub *h, struct errbuf *err)
{
	char *p = xasprintf("%s/hub.lock", h->cfg.data_dir), pid[32];
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600), r = 0;

	if (fd < 0) {
		r = errbuf_set(err, -errno, "cannot open %s: %s", p, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);

		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		r = errbuf_set(err, -EBUSY, "another nave-hub (pid %s) is serving %s; stop it first",
			       *pid ? pid : "?", h->cfg.data_dir);
		close(fd);
		goto out;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

		if (write(fd, pid, (size_t)n) < 0)
			log_warn("cannot write the pid into %s", p);
	}
	h->lock_fd = fd;
out:
	free(p);
	return r;
}

/* Re-issue the serving certificate when it is about to expire. */
static int check_serving_cert(struct hub *h, struct errbuf *err)
{
	char *p = xasprintf("%s/serving.crt", h->cfg.data_dir), *pem = NULL;
	struct x509_cert_info info;
	size_t len;
	int r;

	if ((r = x509_file_read(p, X509_PEM_MAX, &pem, &len, err)) < 0 ||
	    (r = x509_cert_info(pem, len, &info, err)) < 0)
		goto out;
	if (x509_ca_verify(h->ca, pem, len, NULL) < 0 ||
	    info.not_after - time_now_us() / 1000000 < HUB_SERVING_RENEW_S) {
		log_info("serving certificate expires soon or does not verify: issuing a new one");
		r = hub_issue_serving_cert(&h->cfg, h->ca, err);
	}
out:
	free(pem);
	free(p);
	return r;
}

/* With port 0 (tests), tell the kubeconfig which port was picked. */
static int rewrite_kubeconfig_port(struct hub *h, int port, struct errbuf *err)
{
	char *p = xasprintf("%s/admin.kubeconfig", h->cfg.data_dir), *text = NULL, *line, *end, *out = NULL;
	char *url = hub_url_with_port(h->cfg.hub_url, port);
	size_t len;
	int r;

	free(h->cfg.hub_url);
	h->cfg.hub_url = url;
	if ((r = x509_file_read(p, 1 << 20, &text, &len, err)) < 0)
		goto out;
	line = strstr(text, "    server: ");
	if (!line) {
		r = errbuf_set(err, -EINVAL, "%s has no server line", p);
		goto out;
	}
	end = strchr(line, '\n');
	if (!end)
		end = line + strlen(line);
	out = xasprintf("%.*s    server: %s%s", (int)(line - text), text, url, end);
	r = x509_file_write(p, out, strlen(out), 0600, err);
out:
	if (text)
		memset(text, 0, len);
	if (out)
		memset(out, 0, strlen(out));
	free(out);
	free(text);
	free(p);
	return r;
}

static void close_noop(uv_handle_t *hd)
{
	(void)hd;
}

static void hub_stop(struct hub *h)
{
	if (h->stopping)
		return;
	h->stopping = true;
	log_info("stopping");
	if (!h->handles_init) {
		h->kapi = kapi_server_free(h->kapi);
		h->store = NULL;
		return;
	}
	/* serve what is queued, commit it */
	while (h->q_head || h->dur_head)
		drain(h);
	drain(h);
	ui_stop(h);
	stream_stop(h);
	app_controller_stop(h);
	placement_controllers_stop(h);
	uv_timer_stop(&h->health_timer);
	uv_timer_stop(&h->janitor_timer);
	h->httpd = httpd_free(h->httpd);
	h->kapi = kapi_server_free(h->kapi);
	h->store = NULL;
	hub_controller_free(h);
	uv_close((uv_handle_t *)&h->prepare, close_noop);
	uv_close((uv_handle_t *)&h->check, close_noop);
	uv_close((uv_handle_t *)&h->idle, close_noop);
	uv_close((uv_handle_t *)&h->health_timer, close_noop);
	uv_close((uv_handle_t *)&h->janitor_timer, close_noop);
	uv_close((uv_handle_t *)&h->sigterm, close_noop);
	uv_close((uv_handle_t *)&h->sigint, close_noop);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct hub *h = s->data;

	log_info("signal %d received", signum);
	hub_stop(h);
}

static void on_janitor(uv_timer_t *t)
{
	struct hub *h = t->data;

	hub_tokens_purge(h);
	hub_registration_purge(h);
}

static int parse_serve_flags(struct hub *h, int argc, char **argv, struct errbuf *err, bool *ret_help)
{
	static const struct option opts[] = {
		{"data-dir", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"hub-url", required_argument, NULL, 'u'},
		{"lease-timeout", required_argument, NULL, 't'},
		{"lease-duration", required_argument, NULL, 'D'},
		{"client-cert-lifetime", required_argument, NULL, 'c'},
		{"auto-accept", no_argument, NULL, 'a'},
		{"max-work-bytes", required_argument, NULL, 'w'},
		{"app-revisions", required_argument, NULL, 'R'},
		{"watch-history", required_argument, NULL, 'W'},
		{"store-sync", required_argument, NULL, 'S'},
		{"metrics-anonymous", no_argument, NULL, 'm'},
		{"ui-session-ttl", required_argument, NULL, 'T'},
		{"ui-session-idle", required_argument, NULL, 'I'},
		{"log-level", required_argument, NULL, 'L'},
		{"log-format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *listen = NULL, *url = NULL, *ui_ttl = NULL, *ui_idle = NULL;
	enum log_level lvl = LOG_LVL_INFO;
	enum log_format fmt = LOG_FORMAT_TEXT;
	int64_t v;
	char *end;
	int c, r;

	h->cfg.lease_timeout_ms = 40000;
	h->cfg.lease_duration_s = HUB_LEASE_DURATION_DEFAULT;
	h->cfg.cert_lifetime_s = 365LL * 86400;
	h->cfg.max_work_bytes = 512000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			free(h->cfg.data_dir);
			h->cfg.data_dir = xstrdup(optarg);
			break;
		case 'l':
			listen = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 't':
			if (hub_parse_duration(optarg, &v) < 0 || v < 1 || v > 86400)
				return errbuf_set(err, -EINVAL, "--lease-timeout %s: expected a duration of 1s..24h",
						  optarg);
			h->cfg.lease_timeout_ms = v * 1000;
			break;
		case 'D':
			if (hub_parse_duration(optarg, &v) < 0 || v < 1 || v > 3600)
				return errbuf_set(err, -EINVAL, "--lease-duration %s: expected 1..3600 seconds", optarg);
			h->cfg.lease_duration_s = (int)v;
			break;
		case 'c':
			if (hub_parse_duration(optarg, &v) < 0 || v < HUB_CERT_LIFETIME_MIN ||
			    v > X509_LIFETIME_MAX)
				return errbuf_set(err, -EINVAL,
						  "--client-cert-lifetime %s: expected a duration of at least 1h", optarg);
			h->cfg.cert_lifetime_s = v;
			break;
		case 'a':
			h->cfg.auto_accept = true;
			break;
		case 'w':
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || v < 1024 || v > (2 << 20))
				return errbuf_set(err, -EINVAL, "--max-work-bytes %s: expected 1024..2097152", optarg);
			h->cfg.max_work_bytes = (size_t)v;
			break;
		case 'R':
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 1000)
				return errbuf_set(err, -EINVAL, "--app-revisions %s: expected 1..1000", optarg);
			h->cfg.app_revisions = (int)v;
			break;
		case 'W':
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || v < 16 || v > 1000000)
				return errbuf_set(err, -EINVAL, "--watch-history %s: expected 16..1000000", optarg);
			h->cfg.watch_history = (int)v;
			break;
		case 'S':
			if (strcmp(optarg, "full") && strcmp(optarg, "normal"))
				return errbuf_set(err, -EINVAL, "--store-sync %s: expected full or normal", optarg);
			h->cfg.store_sync_normal = optarg[0] == 'n';
			break;
		case 'm':
			h->cfg.metrics_anonymous = true;
			break;
		case 'T':
			ui_ttl = optarg;
			break;
		case 'I':
			ui_idle = optarg;
			break;
		case 'L':
			if (log_level_parse(optarg, &lvl) < 0)
				return errbuf_set(err, -EINVAL, "--log-level %s: expected debug, info, warn or error",
						  optarg);
			break;
		case 'F':
			if (log_format_parse(optarg, &fmt) < 0)
				return errbuf_set(err, -EINVAL, "--log-format %s: expected text or json", optarg);
			break;
		case 'h':
			*ret_help = true;
			return 0;
		default:
			return errbuf_set(err, -EINVAL, "unknown option (see nave-hub serve --help)");
		}
	}
	if (optind < argc)
		return errbuf_set(err, -EINVAL, "unexpected argument %s", argv[optind]);
	if (!h->cfg.data_dir)
		return errbuf_set(err, -EINVAL, "--data-dir is required");
	if ((r = hub_parse_ui_sessions(ui_ttl, ui_idle, &h->cfg.ui_session_ttl_s, &h->cfg.ui_session_idle_s,
				       err)) < 0)
		return r;
	log_setup(lvl, fmt);
	if ((r = hub_config_load(&h->cfg, err)) < 0)
		return r;
	if (listen) {
		free(h->cfg.listen_host);
		h->cfg.listen_host = NULL;
		if ((r = hub_parse_listen(listen, &h->cfg.listen_host, &h->cfg.port, err)) < 0)
			return r;
	}
	if (url) {
		if (strncmp(url, "https://", 8))
			return errbuf_set(err, -EINVAL, "--hub-url %s: expected https://HOST[:PORT]", url);
		free(h->cfg.hub_url);
		h->cfg.hub_url = xstrdup(url);
	}
	return 0;
}

/* See hub_int.h. */
int hub_serve_main(int argc, char **argv)
{
	struct hub *h = xnew(struct hub);
	struct errbuf err = {""};
	struct kapi_store *store = NULL;
	struct kapi_server_config kc = {0};
	struct httpd_config hc = {0};
	char *ca_crt = NULL, *ca_key = NULL, *crt = NULL, *key = NULL, *db = NULL, addr[300], host[256];
	bool help = false;
	uv_loop_t loop;
	int r, port;

	h->lock_fd = -1;
	signal(SIGPIPE, SIG_IGN);
	if ((r = parse_serve_flags(h, argc, argv, &err, &help)) < 0 || help) {
		if (help)
			serve_usage(stdout);
		goto early;
	}
	if ((r = lock_data_dir(h, &err)) < 0)
		goto early;
	if (uv_loop_init(&loop) < 0) {
		r = errbuf_set(&err, -EIO, "cannot start the event loop");
		goto early;
	}
	h->loop = &loop;
	h->started_ms = (int64_t)uv_now(&loop);
	ca_crt = xasprintf("%s/ca.crt", h->cfg.data_dir);
	ca_key = xasprintf("%s/ca.key", h->cfg.data_dir);
	crt = xasprintf("%s/serving.crt", h->cfg.data_dir);
	key = xasprintf("%s/serving.key", h->cfg.data_dir);
	db = xasprintf("%s/store.db", h->cfg.data_dir);
	if ((r = x509_ca_load(ca_crt, ca_key, &h->ca, &err)) < 0)
		goto fail;
	x509_ca_pin(h->ca, h->ca_pin);
	if ((r = check_serving_cert(h, &err)) < 0)
		goto fail;
	{
		struct store_sqlite_config sc = {.path = db, .sync_normal = h->cfg.store_sync_normal, .loop = &loop,
						 .history = (size_t)h->cfg.watch_history};

		if ((r = store_sqlite_open(&sc, &store, &err)) < 0)
			goto fail;
	}
	h->store = store;
	if (hub_url_host(h->cfg.hub_url, host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	snprintf(addr, sizeof(addr), "%s:%d", host, h->cfg.port);
	kc.server_address = addr;
	kc.auth = hub_kapi_auth;
	kc.auth_data = h;
	if ((r = kapi_server_new(&loop, store, &kc, &h->kapi)) < 0) {
		errbuf_set(&err, r, "cannot start the API server");
		h->store = NULL;
		goto fail;
	}
	if ((r = hub_resources_register(h)) < 0) {
		errbuf_set(&err, r, "cannot register the hub's resources");
		goto fail;
	}
	uv_prepare_init(&loop, &h->prepare);
	uv_check_init(&loop, &h->check);
	uv_idle_init(&loop, &h->idle);
	uv_timer_init(&loop, &h->health_timer);
	uv_timer_init(&loop, &h->janitor_timer);
	uv_signal_init(&loop, &h->sigterm);
	uv_signal_init(&loop, &h->sigint);
	h->handles_init = true;
	h->prepare.data = h->check.data = h->idle.data = h;
	h->health_timer.data = h->janitor_timer.data = h->sigterm.data = h->sigint.data = h;
	uv_prepare_start(&h->prepare, on_prepare);
	uv_check_start(&h->check, on_check);
	if ((r = hub_controller_start(h)) < 0) {
		errbuf_set(&err, r, "cannot load the clusters");
		goto fail;
	}
	if ((r = app_controller_start(h)) < 0) {
		errbuf_set(&err, r, "cannot start the application controller");
		goto fail;
	}
	if ((r = placement_controllers_start(h)) < 0) {
		errbuf_set(&err, r, "cannot start the placement controllers");
		goto fail;
	}
	if ((r = ui_start(h, &err)) < 0)
		goto fail;
	if ((r = store_sqlite_flush(store, &err)) < 0)
		goto fail;
	hc.listen_addr = (*h->cfg.listen_host && strcmp(h->cfg.listen_host, "0.0.0.0")) ? h->cfg.listen_host : NULL;
	hc.port = h->cfg.port;
	hc.cert_path = crt;
	hc.key_path = key;
	hc.client_ca_path = ca_crt;
	hc.handler = on_request;
	hc.on_answer = on_answer;
	hc.on_stream_write = on_stream_write;
	hc.userdata = h;
	if ((r = stream_prepare(&err)) < 0)
		goto fail;
	if ((r = httpd_new(&loop, &hc, &h->httpd)) < 0) {
		errbuf_set(&err, r, "cannot listen on %s:%d (%s)", *h->cfg.listen_host ? h->cfg.listen_host : "*",
			   h->cfg.port, strerror(-r));
		goto fail;
	}
	if ((r = stream_start(h, h->httpd, &err)) < 0)
		goto fail;
	port = httpd_port(h->httpd);
	if (h->cfg.port == 0 && (r = rewrite_kubeconfig_port(h, port, &err)) < 0)
		goto fail;
	hub_health_start(h);
	uv_timer_start(&h->janitor_timer, on_janitor, 1000, HUB_JANITOR_MS);
	uv_signal_start(&h->sigterm, on_signal, SIGTERM);
	uv_signal_start(&h->sigint, on_signal, SIGINT);
	h->ready = true;
	log_info("serving on port %d, hub URL %s, CA pin %s", port, h->cfg.hub_url, h->ca_pin);
	printf("ready: https://%s:%d\n", *h->cfg.listen_host && strcmp(h->cfg.listen_host, "0.0.0.0")
		       ? h->cfg.listen_host : "127.0.0.1", port);
	fflush(stdout);
	uv_run(&loop, UV_RUN_DEFAULT);
	r = 0;
	goto done;
fail:
	log_error("nave-hub serve: %s", err.msg[0] ? err.msg : strerror(-r));
	hub_stop(h);
	uv_run(&loop, UV_RUN_DEFAULT);
done:
	if (uv_loop_close(&loop) < 0) {
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}
	x509_ca_free(h->ca);
	hub_metrics_free(&h->metrics);
	free(ca_crt);
	free(ca_key);
	free(crt);
	free(key);
	free(db);
	goto out;
early:
	if (r < 0)
		fprintf(stderr, "nave-hub serve: %s\n", err.msg[0] ? err.msg : strerror(-r));
out:
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	hub_config_free(&h->cfg);
	free(h);
	return r < 0 ? 1 : 0;
}
