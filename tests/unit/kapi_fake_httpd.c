/* kapi_fake_httpd.c - see kapi_fake_httpd.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "kapi.h"
#include "kapi_fake_httpd.h"

#define FAKE_MAX_ARGS 32
#define FAKE_MAX_HDRS 16

struct httpd_req {
	char *method, *path, *query, *body;
	size_t body_len;
	char *arg_k[FAKE_MAX_ARGS], *arg_v[FAKE_MAX_ARGS];
	int nargs;
	char *hdr_k[FAKE_MAX_HDRS], *hdr_v[FAKE_MAX_HDRS];
	int nhdrs;
	struct fake_resp resp;
	bool streaming, stream_ended, closed, discard;
	size_t total;
	char *stream;   /* all chunks written */
	size_t stream_len, queued, cap;
	httpd_close_fn on_close;
	void *close_data;
};

static bool parse_answers = true;

void fake_httpd_set_parse(bool parse)
{
	parse_answers = parse;
}

struct httpd_req *fake_req_new(const char *method, const char *path_and_query, const char *content_type,
			       const char *body)
{
	struct httpd_req *r = xnew(struct httpd_req);
	const char *q = strchr(path_and_query, '?');

	r->method = xstrdup(method);
	r->path = q ? xstrndup(path_and_query, (size_t)(q - path_and_query)) : xstrdup(path_and_query);
	r->query = xstrdup(q ? q + 1 : "");
	if (q) {
		char *dup = xstrdup(q + 1), *save = NULL, *p;

		for (p = strtok_r(dup, "&", &save); p && r->nargs < FAKE_MAX_ARGS; p = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(p, '=');

			r->arg_k[r->nargs] = eq ? xstrndup(p, (size_t)(eq - p)) : xstrdup(p);
			r->arg_v[r->nargs] = xstrdup(eq ? eq + 1 : "");
			r->nargs++;
		}
		free(dup);
	}
	if (body) {
		r->body = xstrdup(body);
		r->body_len = strlen(body);
	}
	if (content_type)
		fake_req_header(r, "content-type", content_type);
	return r;
}

void fake_req_header(struct httpd_req *req, const char *name, const char *value)
{
	if (req->nhdrs < FAKE_MAX_HDRS) {
		req->hdr_k[req->nhdrs] = xstrdup(name);
		req->hdr_v[req->nhdrs] = xstrdup(value);
		req->nhdrs++;
	}
}

const struct fake_resp *fake_req_resp(const struct httpd_req *req)
{
	return &req->resp;
}

bool fake_req_streaming(const struct httpd_req *req)
{
	return req->streaming;
}

bool fake_req_stream_ended(const struct httpd_req *req)
{
	return req->stream_ended;
}

json_t *fake_req_stream_events(const struct httpd_req *req)
{
	json_t *a = json_array();
	const char *p = req->stream;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		json_t *v;

		if (!nl)
			break;
		v = json_loadb(p, (size_t)(nl - p), 0, NULL);
		json_array_append_new(a, v ? v : json_string("<bad json>"));
		p = nl + 1;
	}
	return a;
}

void fake_req_disconnect(struct httpd_req *req)
{
	if (req->streaming && !req->stream_ended && !req->closed) {
		req->closed = true;
		if (req->on_close)
			req->on_close(req, req->close_data);
	}
}

void fake_req_set_stream_cap(struct httpd_req *req, size_t cap)
{
	req->cap = cap;
}

void fake_req_drain(struct httpd_req *req)
{
	req->queued = 0;
}

void fake_req_set_discard(struct httpd_req *req, bool discard)
{
	req->discard = discard;
}

size_t fake_req_stream_bytes(const struct httpd_req *req)
{
	return req->total;
}

void fake_req_free(struct httpd_req *req)
{
	int i;

	if (!req)
		return;
	fake_req_disconnect(req);
	for (i = 0; i < req->nargs; i++) {
		free(req->arg_k[i]);
		free(req->arg_v[i]);
	}
	for (i = 0; i < req->nhdrs; i++) {
		free(req->hdr_k[i]);
		free(req->hdr_v[i]);
	}
	free(req->method);
	free(req->path);
	free(req->query);
	free(req->body);
	free(req->resp.content_type);
	free(req->resp.body);
	json_decref(req->resp.json);
	free(req->stream);
	free(req);
}

int fake_do(struct kapi_server *s, const char *method, const char *path_and_query, const char *content_type,
	    const char *body, json_t **ret_json)
{
	struct httpd_req *r = fake_req_new(method, path_and_query, content_type, body);
	int st;

	kapi_server_handle(s, r);
	st = r->resp.status;
	if (ret_json)
		*ret_json = r->resp.json ? json_incref(r->resp.json) : NULL;
	fake_req_free(r);
	return st;
}

int fake_do_accept(struct kapi_server *s, const char *method, const char *path_and_query, const char *accept,
		   json_t **ret_json)
{
	struct httpd_req *r = fake_req_new(method, path_and_query, NULL, NULL);
	int st;

	fake_req_header(r, "accept", accept);
	kapi_server_handle(s, r);
	st = r->resp.status;
	if (ret_json)
		*ret_json = r->resp.json ? json_incref(r->resp.json) : NULL;
	fake_req_free(r);
	return st;
}

/* ---- httpd.h ---- */

int httpd_new(uv_loop_t *loop, const struct httpd_config *cfg, struct httpd **ret_httpd)
{
	return -ENOTSUP;
}

struct httpd *httpd_free(struct httpd *h)
{
	return NULL;
}

int httpd_port(const struct httpd *h)
{
	return 0;
}

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
	return req->query;
}

const char *httpd_req_arg(const struct httpd_req *req, const char *name)
{
	int i;

	for (i = 0; i < req->nargs; i++)
		if (!strcmp(req->arg_k[i], name))
			return req->arg_v[i];
	return NULL;
}

const char *httpd_req_header(const struct httpd_req *req, const char *name)
{
	int i;

	for (i = 0; i < req->nhdrs; i++)
		if (!strcmp(req->hdr_k[i], name))
			return req->hdr_v[i];
	return NULL;
}

const char *httpd_req_body(const struct httpd_req *req, size_t *ret_len)
{
	if (ret_len)
		*ret_len = req->body_len;
	return req->body;
}

const char *httpd_req_peer_cn(const struct httpd_req *req)
{
	return NULL;
}

const char *httpd_req_peer_serial(const struct httpd_req *req)
{
	return NULL;
}

const char *httpd_req_peer_addr(const struct httpd_req *req)
{
	return "127.0.0.1";
}

bool httpd_req_connected(const struct httpd_req *req)
{
	return !req->closed;
}

void httpd_respond(struct httpd_req *req, int status, const char *content_type, const char *body, size_t len)
{
	if (req->resp.status) {
		fprintf(stderr, "fake httpd: answered twice\n");
		abort();
	}
	req->resp.status = status;
	req->resp.content_type = content_type ? xstrdup(content_type) : NULL;
	req->resp.body = xstrndup(body ? body : "", len);
	req->resp.len = len;
	req->resp.json = len && parse_answers ? json_loadb(body, len, 0, NULL) : NULL;
}

void httpd_add_header(struct httpd_req *req, const char *name, const char *value)
{
}

int httpd_stream_start(struct httpd_req *req, int status, const char *content_type, httpd_close_fn on_close,
		       void *data)
{
	if (req->resp.status || req->streaming)
		return -EINVAL;
	req->resp.status = status;
	req->resp.content_type = content_type ? xstrdup(content_type) : NULL;
	req->streaming = true;
	req->on_close = on_close;
	req->close_data = data;
	return 0;
}

int httpd_stream_write(struct httpd_req *req, const char *data, size_t len)
{
	if (!req->streaming || req->stream_ended || req->closed)
		return -EINVAL;
	if (req->cap && req->queued + len > req->cap)
		return -ENOBUFS;
	req->total += len;
	if (req->discard)
		return 0;
	req->stream = xrealloc(req->stream, req->stream_len + len + 1);
	memcpy(req->stream + req->stream_len, data, len);
	req->stream_len += len;
	req->stream[req->stream_len] = '\0';
	req->queued += len;
	return 0;
}

void httpd_stream_end(struct httpd_req *req)
{
	req->stream_ended = true;
}

size_t httpd_stream_queued(const struct httpd_req *req)
{
	return req->queued;
}
