/* health.c - /healthz and /readyz of the klusterlet; see health.h. A thin
 * handler on common/httpd.h; the state comes from agent.c through a
 * callback at each request, so nothing here is ever stale.
 */
#include "health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "httpd.h"
#include "timefmt.h"

struct agent_health {
	struct httpd *httpd;    /* owned */
	agent_health_fn fn;
	void *userdata;
};

int agent_listen_parse(const char *s, char **ret_addr, int *ret_port)
{
	const char *colon;
	char *addr = NULL, *end;
	long port;

	if (!s || !*s || strlen(s) > 128)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		addr = xstrndup(s + 1, (size_t)(close - s - 1));
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon && colon != s)
			addr = xstrndup(s, (size_t)(colon - s));
	}
	port = strtol(colon ? colon + 1 : s, &end, 10);
	if (*end || end == (colon ? colon + 1 : s) || port < 0 || port > 65535) {
		free(addr);
		return -EINVAL;
	}
	*ret_addr = addr;
	*ret_port = (int)port;
	return 0;
}

static void handle(struct httpd_req *req, void *userdata)
{
	struct agent_health *h = userdata;
	struct agent_health_state st = { 0 };
	const char *path = httpd_req_path(req);
	char ts[TIMEFMT_MAX];
	json_t *doc;
	char *body;
	bool readyz;

	if (strcmp(path, "/healthz") != 0 && strcmp(path, "/readyz") != 0 &&
	    strcmp(path, "/livez") != 0) {
		httpd_respond(req, 404, "text/plain", "not found\n", 10);
		return;
	}
	if (strcmp(httpd_req_method(req), "GET") != 0) {
		httpd_respond(req, 405, "text/plain", "method not allowed\n", 19);
		return;
	}
	readyz = strcmp(path, "/readyz") == 0;
	h->fn(h->userdata, &st);
	doc = json_pack("{s:b, s:b, s:b, s:o, s:s, s:o, s:I}", "leader", st.leader, "connected",
			st.connected, "applying", st.applying, "lastHeartbeat",
			st.last_heartbeat_us ? json_string(time_format_rfc3339(st.last_heartbeat_us, ts))
					     : json_null(),
			"identity", st.identity ? st.identity : "", "cluster",
			st.cluster ? json_string(st.cluster) : json_null(), "pendingStatus",
			(json_int_t)st.pending_status);
	body = json_dumps(doc, JSON_COMPACT);
	httpd_respond(req, readyz && !st.ready ? 503 : 200, "application/json", body, strlen(body));
	free(body);
	json_decref(doc);
}

int agent_health_new(uv_loop_t *loop, const char *listen, agent_health_fn fn, void *userdata,
		     struct errbuf *err, struct agent_health **ret_h)
{
	struct agent_health *h;
	char *addr = NULL;
	int port = 0, r;

	if (agent_listen_parse(listen, &addr, &port) < 0)
		return errbuf_set(err, -EINVAL, "--health-listen \"%s\": expected ADDR:PORT, :PORT or "
				  "PORT", listen ? listen : "");
	h = xnew(struct agent_health);
	h->fn = fn;
	h->userdata = userdata;
	r = httpd_new(loop, &(struct httpd_config){ .listen_addr = addr, .port = port,
						    .handler = handle, .userdata = h,
						    .max_body = 4096 },
		      &h->httpd);
	free(addr);
	if (r < 0) {
		free(h);
		return errbuf_set(err, r, "--health-listen %s: cannot listen (%s)", listen,
				  strerror(-r));
	}
	*ret_h = h;
	return 0;
}

int agent_health_port(const struct agent_health *h)
{
	return httpd_port(h->httpd);
}

struct agent_health *agent_health_free(struct agent_health *h)
{
	if (!h)
		return NULL;
	httpd_free(h->httpd);
	free(h);
	return NULL;
}
