/* kapi_fake_httpd.h - an in-process stand-in for httpd.h in kapi unit tests.
 *
 * Linking kapi_fake_httpd.c into a test defines every httpd_* function, so
 * the real httpd.o is never pulled from libnavecommon.a: a test builds a
 * request in memory, hands it to kapi_server_handle, and reads the answer
 * (or the stream's chunks) back.
 */
#ifndef NAVE_KAPI_FAKE_HTTPD_H
#define NAVE_KAPI_FAKE_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct kapi_server;

struct fake_resp {
	int status;          /* 0 while not answered */
	char *content_type;  /* owned */
	char *body;          /* owned, NUL-terminated */
	size_t len;
	json_t *json;        /* parsed body or NULL; owned */
};

/* A request; fields set by fake_req_new; extra headers with fake_req_header. */
struct httpd_req;

/* path may carry "?query" (already decoded values, '&'-separated). */
struct httpd_req *fake_req_new(const char *method, const char *path_and_query, const char *content_type,
			       const char *body);
void fake_req_header(struct httpd_req *req, const char *name, const char *value);
/* Whether the request was answered / is a stream. */
const struct fake_resp *fake_req_resp(const struct httpd_req *req);
bool fake_req_streaming(const struct httpd_req *req);
bool fake_req_stream_ended(const struct httpd_req *req);
/* The stream's lines so far (array of parsed JSON events); new reference. */
json_t *fake_req_stream_events(const struct httpd_req *req);
/* Simulate the client going away (calls the close callback). */
void fake_req_disconnect(struct httpd_req *req);
/* Cap on the stream queue (bytes held until fake_req_drain). 0: unlimited. */
void fake_req_set_stream_cap(struct httpd_req *req, size_t cap);
void fake_req_drain(struct httpd_req *req);
/* Whether answers are parsed into fake_resp.json (default true; benchmarks
 * turn it off so that the figure is the server's cost alone). */
void fake_httpd_set_parse(bool parse);
/* Count stream bytes without keeping them (benchmarks). */
void fake_req_set_discard(struct httpd_req *req, bool discard);
size_t fake_req_stream_bytes(const struct httpd_req *req);
void fake_req_free(struct httpd_req *req);

/* One-shot helper: run a request, return the status; *ret_json (may be NULL)
 * gets the parsed body (new reference, or NULL). */
int fake_do(struct kapi_server *s, const char *method, const char *path_and_query, const char *content_type,
	    const char *body, json_t **ret_json);
/* As fake_do with an Accept header. */
int fake_do_accept(struct kapi_server *s, const char *method, const char *path_and_query, const char *accept,
		   json_t **ret_json);

#endif
