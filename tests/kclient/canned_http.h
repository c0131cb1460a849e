/* canned_http.h - a tiny HTTP/1.1 responder for client tests.
 *
 * Listens on 127.0.0.1 (a free port) on the test's libuv loop and answers
 * each request with the next canned response from a FIFO (or the default
 * one when the FIFO is empty), recording every request for assertions. It
 * can also do what real servers do on bad days: close without answering,
 * never answer, or stream lines and close.
 */
#ifndef NAVE_TESTS_CANNED_HTTP_H
#define NAVE_TESTS_CANNED_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

enum canned_action {
	CANNED_REPLY,      /* status + headers + body with Content-Length, keep-alive */
	CANNED_STREAM,     /* status 200 + body, no length, then close (a watch stream) */
	CANNED_CLOSE,      /* close the connection without a response */
	CANNED_HANG,       /* never answer */
};

struct canned_response {
	enum canned_action action;
	int status;
	const char *headers;  /* extra header lines, each ending "\r\n"; may be NULL */
	const char *body;     /* may be NULL */
	size_t body_len;      /* 0: strlen(body) */
};

struct canned_request {
	char *method;   /* owned by the server */
	char *path;     /* with query */
	char *head;     /* the whole request head */
	char *body;
	size_t body_len;
};

struct canned_server;

/* Listen on a free loopback port; *ret_port gets it. */
struct canned_server *canned_new(uv_loop_t *loop, int *ret_port);
/* Queue a response (copied). */
void canned_push(struct canned_server *s, const struct canned_response *r);
/* Answer requests whose path (query excluded) is exactly path with r, always,
 * before looking at the queue (copied; replaces an earlier route). */
void canned_route(struct canned_server *s, const char *path, const struct canned_response *r);
/* Requests seen for path (query excluded). */
size_t canned_count_path(const struct canned_server *s, const char *path);
/* The response used when the queue is empty (copied); default: 404 empty. */
void canned_set_default(struct canned_server *s, const struct canned_response *r);
size_t canned_count(const struct canned_server *s);
const struct canned_request *canned_get(const struct canned_server *s, size_t i);
/* The value of header name in request i (case-insensitive), copied into out; NULL if absent. */
const char *canned_header(const struct canned_server *s, size_t i, const char *name, char *out, size_t n);
/* Close everything; run the loop afterwards. */
void canned_free(struct canned_server *s);

#endif
