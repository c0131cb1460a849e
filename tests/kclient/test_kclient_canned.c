/* kclient against a canned HTTP responder: what a real API server (or a
 * proxy in front of one) may answer that nave-kubesim will not: Status and
 * non-Status error bodies, 429 with Retry-After, 5xx, hangs, resets, bodies
 * that are too big or not JSON, rotating tokens, streams. Also the request
 * shape (HTTP/1.1, empty Expect, Content-Length, bearer token) and pagination. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "canned_http.h"
#include "kclient_ops.h"
#include "kdiscovery.h"
#include "ktest.h"
#include "kwatch.h"

struct ctx {
	uv_loop_t loop;
	struct canned_server *srv;
	int port;
	struct kclient *kc;
	struct ktest_res res;
};

static int setup(void **state)
{
	struct ctx *c = xnew(struct ctx);

	uv_loop_init(&c->loop);
	c->srv = canned_new(&c->loop, &c->port);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	kclient_free(c->kc);
	canned_free(c->srv);
	ktest_drain(&c->loop);
	ktest_res_reset(&c->res);
	assert_int_equal(uv_loop_close(&c->loop), 0);
	free(c);
	return 0;
}

static void make_client(struct ctx *c, const struct kclient_options *opts, const char *token_file)
{
	char *url = xasprintf("http://127.0.0.1:%d", c->port);
	struct errbuf err;

	assert_int_equal(kclient_new(&c->loop, ktest_config(url, token_file ? NULL : "s3cret", token_file),
				     opts, &err, &c->kc),
			 0);
	free(url);
}

static void get(struct ctx *c, const char *path)
{
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = path },
					 NULL, ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 10000));
}

static void reply(struct ctx *c, int status, const char *headers, const char *body)
{
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_REPLY, .status = status,
						       .headers = headers, .body = body });
}

static void test_success_and_request_shape(void **state)
{
	struct ctx *c = *state;
	struct kref ref = { .group = "apps", .version = "v1", .resource = "deployments",
			    .namespace = "ns1" };
	json_t *obj = json_pack("{ss ss s{ss}}", "apiVersion", "apps/v1", "kind", "Deployment",
				"metadata", "name", "web");
	char v[256];

	make_client(c, NULL, NULL);
	reply(c, 201, NULL, "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"}}");
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_create(c->kc, &ref, obj, &(struct kclient_write_opts){ .field_manager = "nave" },
					ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.r, 0);
	assert_int_equal(c->res.status, 201);
	assert_string_equal(json_string_value(json_object_get(c->res.body, "kind")), "Deployment");

	assert_int_equal(canned_count(c->srv), 1);
	assert_string_equal(canned_get(c->srv, 0)->method, "POST");
	assert_string_equal(canned_get(c->srv, 0)->path,
			    "/apis/apps/v1/namespaces/ns1/deployments?fieldManager=nave");
	assert_non_null(strstr(canned_get(c->srv, 0)->head, " HTTP/1.1\r\n"));
	assert_string_equal(canned_header(c->srv, 0, "Authorization", v, sizeof(v)), "Bearer s3cret");
	assert_string_equal(canned_header(c->srv, 0, "Content-Type", v, sizeof(v)), "application/json");
	assert_string_equal(canned_header(c->srv, 0, "Accept", v, sizeof(v)), "application/json");
	assert_null(canned_header(c->srv, 0, "Expect", v, sizeof(v)));
	assert_null(canned_header(c->srv, 0, "Transfer-Encoding", v, sizeof(v)));
	snprintf(v, sizeof(v), "%zu", canned_get(c->srv, 0)->body_len);
	{
		char cl[32];

		assert_string_equal(canned_header(c->srv, 0, "Content-Length", cl, sizeof(cl)), v);
	}
	assert_non_null(strstr(canned_get(c->srv, 0)->body, "\"name\":\"web\""));
	json_decref(obj);
}

static void test_status_errors(void **state)
{
	struct ctx *c = *state;
	static const struct {
		int code;
		const char *body;
		enum kclient_reason reason;
		int r;
		const char *msg;
	} cases[] = {
		{ 404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"deployments.apps \\\"x\\\" not found\",\"reason\":\"NotFound\",\"code\":404}",
		  KCLIENT_NOT_FOUND, -ENOENT, "deployments.apps \"x\" not found" },
		{ 409, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"exists\",\"reason\":\"AlreadyExists\",\"code\":409}",
		  KCLIENT_ALREADY_EXISTS, -EEXIST, "exists" },
		/* not a Status: from the code, so 409 reads as Conflict */
		{ 409, "conflict, says a proxy", KCLIENT_CONFLICT, -EBUSY, "conflict, says a proxy" },
		{ 410, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\",\"reason\":\"Expired\",\"code\":410}",
		  KCLIENT_EXPIRED, -ESTALE, "too old resource version" },
		{ 410, "", KCLIENT_GONE, -ESTALE, "gone" },
		{ 403, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"forbidden: no\",\"reason\":\"Forbidden\",\"code\":403}",
		  KCLIENT_FORBIDDEN, -EPERM, "forbidden: no" },
		{ 400, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"bad\",\"reason\":\"BadRequest\",\"code\":400}",
		  KCLIENT_BAD_REQUEST, -EBADMSG, "bad" },
		/* a Status with no reason: from its code */
		{ 415, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"media\",\"code\":415}",
		  KCLIENT_UNSUPPORTED_MEDIA, -EPROTONOSUPPORT, "media" },
		{ 405, "", KCLIENT_METHOD_NOT_ALLOWED, -EOPNOTSUPP, "" },
		/* a Success Status on an error code is not trusted */
		{ 404, "{\"kind\":\"Status\",\"status\":\"Success\"}", KCLIENT_NOT_FOUND, -ENOENT, "Success" },
	};

	make_client(c, &(struct kclient_options){ .max_retries = -1 }, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reply(c, cases[i].code, NULL, cases[i].body);
		get(c, "/api/v1/namespaces/default/pods/x");
		if (c->res.reason != cases[i].reason || c->res.r != cases[i].r ||
		    c->res.status != cases[i].code || !strstr(c->res.message, cases[i].msg))
			fail_msg("case %zu: reason %s r %d status %ld msg \"%s\"", i,
				 kclient_reason_name(c->res.reason), c->res.r, c->res.status, c->res.message);
	}
}

static void test_invalid_causes(void **state)
{
	struct ctx *c = *state;

	make_client(c, NULL, NULL);
	reply(c, 422, NULL,
	      "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
	      "\"message\":\"Deployment.apps \\\"x\\\" is invalid: spec.replicas: Invalid value: -1\","
	      "\"reason\":\"Invalid\",\"details\":{\"name\":\"x\",\"group\":\"apps\",\"kind\":\"Deployment\","
	      "\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: -1\",\"field\":\"spec.replicas\"}]},"
	      "\"code\":422}");
	get(c, "/apis/apps/v1/namespaces/default/deployments/x");
	assert_int_equal(c->res.reason, KCLIENT_INVALID);
	assert_int_equal(c->res.r, -EINVAL);
	assert_string_equal(c->res.status_reason, "Invalid");
	assert_non_null(strstr(c->res.message, "spec.replicas: Invalid value"));
	assert_int_equal(json_array_size(c->res.causes), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c->res.causes, 0), "field")),
			    "spec.replicas");
	assert_string_equal(json_string_value(json_object_get(c->res.body, "kind")), "Status");
}

static void test_429_retry_after_any_verb(void **state)
{
	struct ctx *c = *state;
	struct kclient_stats st;
	int64_t t0;

	make_client(c, NULL, NULL);
	reply(c, 429, "Retry-After: 1\r\n",
	      "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"TooManyRequests\",\"code\":429}");
	reply(c, 201, NULL, "{\"kind\":\"ConfigMap\"}");
	ktest_res_reset(&c->res);
	t0 = time_mono_us();
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_POST,
									  .path = "/api/v1/namespaces/default/configmaps",
									  .body = "{}" },
					 NULL, ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 10000));
	assert_int_equal(c->res.r, 0);
	assert_int_equal(c->res.status, 201);
	assert_true(c->res.at_us - t0 >= 950000); /* Retry-After: 1 honoured */
	assert_int_equal(canned_count(c->srv), 2);
	kclient_get_stats(c->kc, &st);
	assert_int_equal(st.retries, 1);

	/* exhausted: the 429 comes back with its retry-after */
	kclient_free(c->kc);
	c->kc = NULL;
	make_client(c, &(struct kclient_options){ .max_retries = 1, .backoff_base_ms = 1 }, NULL);
	reply(c, 429, NULL, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"TooManyRequests\",\"details\":{\"retryAfterSeconds\":0},\"code\":429}");
	reply(c, 429, "Retry-After: 0\r\n", "");
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.reason, KCLIENT_TOO_MANY_REQUESTS);
	assert_int_equal(c->res.r, -EAGAIN);
}

static void test_5xx_retried_only_when_safe(void **state)
{
	struct ctx *c = *state;
	struct kref ref = { .version = "v1", .resource = "configmaps", .namespace = "default", .name = "x" };
	json_t *obj = json_pack("{ss ss s{ss}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name", "x");

	make_client(c, &(struct kclient_options){ .backoff_base_ms = 10 }, NULL);
	/* GET: 503, 500 then 200 */
	reply(c, 503, NULL, "");
	reply(c, 500, NULL, "oops");
	reply(c, 200, NULL, "{\"kind\":\"ConfigMap\"}");
	get(c, "/api/v1/namespaces/default/configmaps/x");
	assert_int_equal(c->res.r, 0);
	assert_int_equal(canned_count(c->srv), 3);

	/* POST: a 503 is final (the first attempt may have taken effect) */
	reply(c, 503, NULL, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"ServiceUnavailable\",\"message\":\"busy\",\"code\":503}");
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_create(c->kc, &(struct kref){ .version = "v1", .resource = "configmaps",
							       .namespace = "default" },
					obj, NULL, ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.reason, KCLIENT_SERVICE_UNAVAILABLE);
	assert_string_equal(c->res.message, "busy");
	assert_int_equal(canned_count(c->srv), 4);

	/* merge PATCH: not retried either */
	reply(c, 500, NULL, "");
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_patch(c->kc, &ref, KCLIENT_PATCH_MERGE, obj, NULL, ktest_done, &c->res, NULL), 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.reason, KCLIENT_INTERNAL_ERROR);
	assert_int_equal(canned_count(c->srv), 5);

	/* server-side apply: retried (applying twice gives the same object) */
	reply(c, 502, NULL, "");
	reply(c, 200, NULL, "{\"kind\":\"ConfigMap\"}");
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_apply(c->kc, &ref, obj, &(struct kclient_patch_opts){ .field_manager = "t", .force = true },
				       ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.r, 0);
	assert_int_equal(canned_count(c->srv), 7);
	assert_string_equal(canned_get(c->srv, 6)->method, "PATCH");
	assert_string_equal(canned_get(c->srv, 6)->path,
			    "/api/v1/namespaces/default/configmaps/x?fieldManager=t&force=true");
	{
		char v[128];

		assert_string_equal(canned_header(c->srv, 6, "Content-Type", v, sizeof(v)),
				    "application/apply-patch+yaml");
	}
	json_decref(obj);
}

static void test_connection_failures(void **state)
{
	struct ctx *c = *state;
	struct kclient_stats st;

	/* closed without an answer: a GET is retried */
	make_client(c, &(struct kclient_options){ .backoff_base_ms = 10 }, NULL);
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_CLOSE });
	reply(c, 200, NULL, "{}");
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.r, 0);
	assert_int_equal(canned_count(c->srv), 2);

	/* ...but a PUT is not. (curl itself resends once when a REUSED
	 * keep-alive connection turns out dead before any response byte, as
	 * HTTP clients do for stale connections; the second close, on a fresh
	 * connection, is what a PUT must not survive.) */
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_CLOSE });
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_CLOSE });
	kclient_get_stats(c->kc, &st);
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_PUT, .path = "/api/v1/x", .body = "{}" },
					 NULL, ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.reason, KCLIENT_TRANSPORT);
	assert_int_equal(c->res.r, -ECONNRESET);
	{
		struct kclient_stats st2;

		kclient_get_stats(c->kc, &st2);
		assert_int_equal(st2.retries, st.retries);
	}
	kclient_free(c->kc);
	c->kc = NULL;

	/* nothing listening: refused, retried for any verb, then a transport error */
	{
		struct errbuf err;
		uv_tcp_t probe;
		struct sockaddr_in a;
		struct sockaddr_storage got;
		int len = sizeof(got), port;
		char *url;

		uv_tcp_init(&c->loop, &probe);
		uv_ip4_addr("127.0.0.1", 0, &a);
		uv_tcp_bind(&probe, (const struct sockaddr *)&a, 0);
		uv_tcp_getsockname(&probe, (struct sockaddr *)&got, &len);
		port = ntohs(((struct sockaddr_in *)&got)->sin_port);
		uv_close((uv_handle_t *)&probe, NULL); /* bound, never listening: refused */
		ktest_drain(&c->loop);
		url = xasprintf("http://127.0.0.1:%d", port);
		assert_int_equal(kclient_new(&c->loop, ktest_config(url, NULL, NULL),
					     &(struct kclient_options){ .max_retries = 2, .backoff_base_ms = 5 },
					     &err, &c->kc),
				 0);
		free(url);
	}
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_POST, .path = "/api/v1/x", .body = "{}" },
					 NULL, ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.reason, KCLIENT_TRANSPORT);
	assert_int_equal(c->res.r, -ECONNREFUSED);
	assert_int_equal(c->res.status, 0);
	assert_non_null(strstr(c->res.message, "POST http://127.0.0.1:"));
	kclient_get_stats(c->kc, &st);
	assert_int_equal(st.attempts, 3);
	assert_int_equal(st.retries, 2);
}

static void test_timeout(void **state)
{
	struct ctx *c = *state;
	int64_t t0 = time_mono_us();

	make_client(c, &(struct kclient_options){ .timeout_ms = 300 }, NULL);
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_HANG });
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.reason, KCLIENT_TIMEOUT);
	assert_int_equal(c->res.r, -ETIMEDOUT);
	assert_true(time_mono_us() - t0 >= 290000);
	assert_true(time_mono_us() - t0 < 3000000);
	assert_int_equal(canned_count(c->srv), 1); /* timeouts are not retried */
}

static void test_body_cap_and_decode(void **state)
{
	struct ctx *c = *state;
	char *big = xmalloc(5001);

	memset(big, 'x', 5000);
	big[5000] = '\0';
	make_client(c, &(struct kclient_options){ .max_body = 4096 }, NULL);
	reply(c, 200, NULL, big);
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.reason, KCLIENT_TOO_LARGE);
	assert_int_equal(c->res.r, -E2BIG);

	reply(c, 200, NULL, "<html>not json</html>");
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.reason, KCLIENT_DECODE);
	assert_int_equal(c->res.r, -EBADMSG);

	/* an empty 2xx body is fine */
	reply(c, 200, NULL, "");
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.r, 0);
	assert_null(c->res.body);
	free(big);
}

static void test_token_rotation_on_401(void **state)
{
	struct ctx *c = *state;
	char path[] = "/tmp/kclient-token-XXXXXX";
	int fd = mkstemp(path);
	char v[128];
	FILE *f;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old-token\n", 10), 10);
	close(fd);
	make_client(c, NULL, path);
	f = fopen(path, "w");
	fputs("new-token\n", f);
	fclose(f);
	reply(c, 401, NULL, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Unauthorized\",\"code\":401}");
	reply(c, 200, NULL, "{}");
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.r, 0);
	assert_int_equal(canned_count(c->srv), 2);
	assert_string_equal(canned_header(c->srv, 0, "Authorization", v, sizeof(v)), "Bearer old-token");
	assert_string_equal(canned_header(c->srv, 1, "Authorization", v, sizeof(v)), "Bearer new-token");

	/* the same token again: the 401 stands */
	reply(c, 401, NULL, "");
	get(c, "/api/v1/pods");
	assert_int_equal(c->res.reason, KCLIENT_UNAUTHORIZED);
	assert_int_equal(c->res.r, -EACCES);
	assert_int_equal(canned_count(c->srv), 3);
	unlink(path);
}

struct lines {
	struct ktest_res res; /* first: the done callback's userdata is the same pointer */
	int n;
	char last[256];
	int stop_at;
};

static int on_line(void *ud, char *line, size_t len)
{
	struct lines *l = ud;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%s", line);
	assert_int_equal(strlen(line), len);
	return l->stop_at && l->n == l->stop_at ? -ECANCELED : 0;
}

static void stream(struct ctx *c, struct lines *l, size_t max_line)
{
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/w?watch=1",
									  .flags = KCLIENT_REQ_STREAM, .max_line = max_line },
					 on_line, ktest_done, l, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &l->res.done, 5000));
	c->res = l->res; /* hand the result (and its references) to the context */
	memset(&l->res, 0, sizeof(l->res));
}

static void test_stream_lines(void **state)
{
	struct ctx *c = *state;
	struct lines l = { 0 };
	char *longline = xmalloc(3001);

	make_client(c, NULL, NULL);
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_STREAM,
						       .body = "{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}" });
	stream(c, &l, 0);
	assert_int_equal(c->res.r, 0);
	assert_int_equal(l.n, 3); /* empty lines skipped, CR dropped, last line without \n kept */
	assert_string_equal(l.last, "{\"c\":3}");

	/* a line over the cap ends the stream */
	memset(longline, 'y', 3000);
	longline[3000] = '\0';
	memset(&l, 0, sizeof(l));
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_STREAM, .body = longline });
	stream(c, &l, 1024);
	assert_int_equal(c->res.reason, KCLIENT_TOO_LARGE);
	assert_int_equal(l.n, 0);

	/* the line callback stops the stream */
	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_STREAM, .body = "1\n2\n3\n4\n" });
	stream(c, &l, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(c->res.r, -ECANCELED);
	assert_int_equal(c->res.reason, KCLIENT_CANCELED);

	/* an error status on a stream is an error, not lines */
	memset(&l, 0, sizeof(l));
	reply(c, 410, NULL, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410}");
	stream(c, &l, 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(c->res.reason, KCLIENT_EXPIRED);
	free(longline);
}

static void never_called(void *ud, const struct kclient_result *res)
{
	fail_msg("callback of a cancelled request");
}

static void test_cancel(void **state)
{
	struct ctx *c = *state;
	struct kclient_call *a, *b;

	/* qps tiny so the second request waits in the limiter queue */
	make_client(c, &(struct kclient_options){ .qps = 0.5, .burst = 1 }, NULL);
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_HANG });
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/a" },
					 NULL, never_called, NULL, &a),
			 0);
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/b" },
					 NULL, never_called, NULL, &b),
			 0);
	ktest_run_for(&c->loop, 100);
	{
		struct kclient_stats st;

		kclient_get_stats(c->kc, &st);
		assert_int_equal(st.in_flight, 1);
		assert_int_equal(st.queued, 1);
	}
	kclient_cancel(b);
	kclient_cancel(a);
	ktest_run_for(&c->loop, 50);
	{
		struct kclient_stats st;

		kclient_get_stats(c->kc, &st);
		assert_int_equal(st.in_flight, 0);
		assert_int_equal(st.queued, 0);
	}
	/* bad requests are refused at once */
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = "no-slash" },
					 NULL, never_called, NULL, NULL),
			 -EINVAL);
	assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/a b" },
					 NULL, never_called, NULL, NULL),
			 -EINVAL);
}

static void test_rate_limit(void **state)
{
	struct ctx *c = *state;
	struct ktest_res res[12];
	const double qps = 20;
	const unsigned burst = 2, n = 12;
	int64_t t0, last = 0;
	double expected;

	make_client(c, &(struct kclient_options){ .qps = qps, .burst = burst }, NULL);
	canned_set_default(c->srv, &(struct canned_response){ .action = CANNED_REPLY, .status = 200, .body = "{}" });
	memset(res, 0, sizeof(res));
	t0 = time_mono_us();
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(kclient_request(c->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/x" },
						 NULL, ktest_done, &res[i], NULL),
				 0);
	assert_true(ktest_run_until(&c->loop, &res[n - 1].done, 10000));
	for (unsigned i = 0; i < n; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].r, 0);
		/* FIFO: in order */
		assert_true(res[i].at_us >= last);
		last = res[i].at_us;
		ktest_res_reset(&res[i]);
	}
	expected = (n - burst) / qps;
	assert_true((double)(last - t0) / 1e6 >= 0.8 * expected);
	assert_true((double)(last - t0) / 1e6 < expected + 1.0);
}

static void test_pager(void **state)
{
	struct ctx *c = *state;
	struct kref ref = { .version = "v1", .resource = "configmaps", .namespace = "default" };

	make_client(c, NULL, NULL);
	reply(c, 200, NULL, "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"tok1\"},\"items\":[{\"metadata\":{\"name\":\"a\"}}]}");
	reply(c, 200, NULL, "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"tok2\"},\"items\":[{\"metadata\":{\"name\":\"b\"}}]}");
	/* the continue token expires: one full list follows */
	reply(c, 410, NULL, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410}");
	reply(c, 200, NULL, "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"12\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}},{\"metadata\":{\"name\":\"c\"}}]}");
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_list_all(c->kc, &ref, &(struct kclient_list_opts){ .limit = 1, .label_selector = "app in (a,b)" },
					  ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.r, 0);
	assert_int_equal(json_array_size(json_object_get(c->res.body, "items")), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(c->res.body, "metadata"), "resourceVersion")), "12");
	assert_string_equal(json_string_value(json_object_get(c->res.body, "kind")), "ConfigMapList");
	assert_int_equal(canned_count(c->srv), 4);
	assert_string_equal(canned_get(c->srv, 0)->path,
			    "/api/v1/namespaces/default/configmaps?labelSelector=app%20in%20%28a%2Cb%29&limit=1");
	assert_string_equal(canned_get(c->srv, 1)->path,
			    "/api/v1/namespaces/default/configmaps?labelSelector=app%20in%20%28a%2Cb%29&limit=1&continue=tok1");
	assert_string_equal(canned_get(c->srv, 3)->path,
			    "/api/v1/namespaces/default/configmaps?labelSelector=app%20in%20%28a%2Cb%29");
}

static void test_delete_options_and_refs(void **state)
{
	struct ctx *c = *state;
	struct kref ref = { .group = "apps", .version = "v1", .resource = "deployments", .namespace = "ns", .name = "web" };
	json_t *body;

	make_client(c, NULL, NULL);
	reply(c, 200, NULL, "{\"kind\":\"Status\",\"status\":\"Success\"}");
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_delete(c->kc, &ref,
					&(struct kclient_delete_opts){ .propagation = KCLIENT_PROPAGATION_FOREGROUND,
								       .precondition_uid = "u-1", .precondition_rv = "7" },
					ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_int_equal(c->res.r, 0);
	assert_string_equal(canned_get(c->srv, 0)->method, "DELETE");
	assert_string_equal(canned_get(c->srv, 0)->path, "/apis/apps/v1/namespaces/ns/deployments/web");
	body = json_loads(canned_get(c->srv, 0)->body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "propagationPolicy")), "Foreground");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "preconditions"), "uid")), "u-1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "preconditions"), "resourceVersion")), "7");
	json_decref(body);

	/* refs that must never reach the wire */
	ref.name = "../etc";
	assert_int_equal(kclient_get(c->kc, &ref, never_called, NULL, NULL), -EINVAL);
	ref.name = "a/b";
	assert_int_equal(kclient_get(c->kc, &ref, never_called, NULL, NULL), -EINVAL);
	ref.name = "web";
	ref.namespace = "Bad_NS";
	assert_int_equal(kclient_get(c->kc, &ref, never_called, NULL, NULL), -EINVAL);
	ref.namespace = "ns";
	/* force only with apply; apply needs a field manager */
	body = json_object();
	assert_int_equal(kclient_patch(c->kc, &ref, KCLIENT_PATCH_MERGE, body,
				       &(struct kclient_patch_opts){ .force = true }, never_called, NULL, NULL),
			 -EINVAL);
	assert_int_equal(kclient_patch(c->kc, &ref, KCLIENT_PATCH_APPLY, body, NULL, never_called, NULL, NULL),
			 -EINVAL);
	assert_int_equal(kclient_patch(c->kc, &ref, KCLIENT_PATCH_JSON, body, NULL, never_called, NULL, NULL),
			 -EINVAL);
	json_decref(body);
	/* names outside DNS rules (RBAC's "system:x") are escaped, not refused */
	reply(c, 200, NULL, "{}");
	ktest_res_reset(&c->res);
	assert_int_equal(kclient_get(c->kc, &(struct kref){ .group = "rbac.authorization.k8s.io", .version = "v1",
							    .resource = "clusterroles", .name = "system:basic-user" },
				     ktest_done, &c->res, NULL),
			 0);
	assert_true(ktest_run_until(&c->loop, &c->res.done, 5000));
	assert_string_equal(canned_get(c->srv, 1)->path,
			    "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Abasic-user");
}


/* --- discovery ---------------------------------------------------------- */

static void never_resolved(void *ud, int r, const struct kmapping *m, const struct kclient_error *err)
{
	fail_msg("callback of a cancelled resolve");
}

static void route(struct ctx *c, const char *path, int status, const char *body)
{
	canned_route(c->srv, path, &(struct canned_response){ .action = CANNED_REPLY, .status = status, .body = body });
}

static void test_discovery(void **state)
{
	struct ctx *c = *state;
	struct ktest_resolved a = { 0 }, b = { 0 }, d = { 0 }, e = { 0 };
	struct kdiscovery_stats st;
	struct kdiscovery_wait *w;
	struct kdiscovery *kd = NULL;
	struct kmapping m;

	make_client(c, NULL, NULL);
	route(c, "/api", 200, "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"]}");
	route(c, "/apis", 200,
	      "{\"kind\":\"APIGroupList\",\"groups\":["
	      "{\"name\":\"apps\",\"versions\":[{\"groupVersion\":\"apps/v1\",\"version\":\"v1\"}]},"
	      "{\"name\":\"example.com\",\"versions\":[{\"groupVersion\":\"example.com/v1\",\"version\":\"v1\"}]},"
	      "{\"name\":\"broken.io\",\"versions\":[{\"groupVersion\":\"broken.io/v1\",\"version\":\"v1\"}]},"
	      "{\"name\":\"evil\",\"versions\":[{\"groupVersion\":\"../../x/v1\",\"version\":\"v1\"}]}]}");
	route(c, "/api/v1", 200,
	      "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
	      "{\"name\":\"namespaces\",\"singularName\":\"\",\"namespaced\":false,\"kind\":\"Namespace\",\"verbs\":[\"get\"]},"
	      "{\"name\":\"pods/status\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\"]},"
	      "{\"name\":\"pods\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\"]}]}");
	route(c, "/apis/apps/v1", 200,
	      "{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\",\"resources\":["
	      "{\"name\":\"deployments\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"Deployment\",\"verbs\":[\"get\"]}]}");
	route(c, "/apis/example.com/v1", 200, "{\"kind\":\"APIResourceList\",\"groupVersion\":\"example.com/v1\",\"resources\":[]}");
	route(c, "/apis/broken.io/v1", 503, "");

	assert_int_equal(kdiscovery_new(c->kc, &(struct kdiscovery_options){ .min_refresh_interval_ms = 50 }, &kd), 0);
	/* two misses at once: one refresh answers both */
	assert_int_equal(kdiscovery_resolve(kd, "example.com/v1", "Widget", ktest_on_resolved, &a, NULL), 0);
	assert_int_equal(kdiscovery_resolve(kd, "apps/v1", "Deployment", ktest_on_resolved, &b, NULL), 0);
	assert_int_equal(kdiscovery_resolve(kd, "v1", "Secret", never_resolved, NULL, &w), 0);
	kdiscovery_cancel(w);
	assert_true(ktest_run_until(&c->loop, &a.done, 5000));
	assert_true(ktest_run_until(&c->loop, &b.done, 5000));
	assert_int_equal(a.r, -ENOENT);
	assert_string_equal(a.msg, "no matches for kind \"Widget\" in version \"example.com/v1\"");
	assert_int_equal(b.r, 0);
	assert_string_equal(b.m.resource, "deployments");
	assert_string_equal(b.m.group, "apps");
	assert_true(b.m.namespaced);
	kdiscovery_get_stats(kd, &st);
	assert_int_equal(st.refreshes, 1);
	assert_int_equal(canned_count_path(c->srv, "/apis/apps/v1"), 1);
	assert_int_equal(canned_count_path(c->srv, "/apis/broken.io/v1"), 2); /* one retry only */
	/* the malformed group version was never requested */
	assert_int_equal(canned_count(c->srv), 7);

	/* subresources are skipped; the kind maps to the main resource */
	assert_int_equal(kdiscovery_lookup(kd, "v1", "Pod", &m), 0);
	assert_string_equal(m.resource, "pods");
	assert_int_equal(kdiscovery_lookup(kd, "v1", "Namespace", &m), 0);
	assert_false(m.namespaced);

	/* a group version whose discovery failed: not NotFound */
	assert_int_equal(kdiscovery_resolve(kd, "broken.io/v1", "Thing", ktest_on_resolved, &d, NULL), 0);
	assert_true(ktest_run_until(&c->loop, &d.done, 5000));
	assert_int_not_equal(d.r, 0);
	assert_int_not_equal(d.r, -ENOENT);
	assert_non_null(strstr(d.msg, "broken.io/v1"));

	/* the CRD appears: the next miss refreshes and finds it */
	route(c, "/apis/example.com/v1", 200,
	      "{\"kind\":\"APIResourceList\",\"groupVersion\":\"example.com/v1\",\"resources\":["
	      "{\"name\":\"widgets\",\"singularName\":\"widget\",\"namespaced\":true,\"kind\":\"Widget\",\"verbs\":[\"get\"]}]}");
	memset(&a, 0, sizeof(a));
	assert_int_equal(kdiscovery_resolve(kd, "example.com/v1", "Widget", ktest_on_resolved, &a, NULL), 0);
	assert_true(ktest_run_until(&c->loop, &a.done, 5000));
	assert_int_equal(a.r, 0);
	assert_string_equal(a.m.resource, "widgets");
	kdiscovery_get_stats(kd, &st);
	assert_true(st.refreshes >= 3);

	/* hits come from the cache, later, without requests */
	{
		size_t before = canned_count(c->srv);
		uint64_t refreshes = st.refreshes;

		assert_int_equal(kdiscovery_resolve(kd, "apps/v1", "Deployment", ktest_on_resolved, &e, NULL), 0);
		assert_false(e.done); /* never from inside resolve */
		assert_true(ktest_run_until(&c->loop, &e.done, 5000));
		assert_int_equal(e.r, 0);
		assert_int_equal(canned_count(c->srv), before);
		kdiscovery_get_stats(kd, &st);
		assert_int_equal(st.refreshes, refreshes);
	}
	assert_int_equal(kdiscovery_resolve(kd, "apps/v1/x", "Deployment", ktest_on_resolved, &e, NULL), -EINVAL);
	assert_int_equal(kdiscovery_resolve(kd, "Apps/v1", "Deployment", ktest_on_resolved, &e, NULL), -EINVAL);
	kdiscovery_free(kd);
}

/* --- watch: resume, bookmarks, malformed lines, 410 both ways ------------- */

struct wlog {
	char events[2048];
	int synced, relisted, errors;
};

static void wl_event(void *ud, struct kwatch *w, enum kwatch_event t, json_t *obj)
{
	struct wlog *l = ud;
	static const char *const names[] = { "A", "M", "D" };
	size_t n = strlen(l->events);

	snprintf(l->events + n, sizeof(l->events) - n, "%s:%s ", names[t],
		 json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")));
}

static void wl_synced(void *ud, struct kwatch *w, bool relist)
{
	struct wlog *l = ud;
	size_t n = strlen(l->events);

	l->synced++;
	l->relisted += relist;
	snprintf(l->events + n, sizeof(l->events) - n, "%s ", relist ? "RELISTED" : "SYNCED");
}

static void wl_error(void *ud, struct kwatch *w, const struct kclient_error *err)
{
	((struct wlog *)ud)->errors++;
}

#define OBJ(name, rv) "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"resourceVersion\":\"" rv "\"}}"

static void test_kwatch_canned(void **state)
{
	struct ctx *c = *state;
	struct wlog l = { 0 };
	struct kwatch *w = NULL;
	int64_t deadline;

	make_client(c, NULL, NULL);
	reply(c, 200, NULL, "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[" OBJ("a", "5") "," OBJ("b", "6") "]}");
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_STREAM, .body =
		"{\"type\":\"ADDED\",\"object\":" OBJ("c", "11") "}\n"
		"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"15\"}}}\n" });
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_STREAM, .body = "this is not json\n" });
	reply(c, 410, NULL, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410}");
	reply(c, 200, NULL, "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"30\"},\"items\":[" OBJ("a", "5") "," OBJ("c", "20") "]}");
	canned_push(c->srv, &(struct canned_response){ .action = CANNED_STREAM, .body =
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"too old resource version: 30 (40)\",\"reason\":\"Expired\",\"code\":410}}\n"
		"{\"type\":\"ADDED\",\"object\":" OBJ("never", "41") "}\n" });
	reply(c, 200, NULL, "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"50\"},\"items\":[" OBJ("a", "5") "," OBJ("c", "20") "," OBJ("d", "45") "]}");
	canned_set_default(c->srv, &(struct canned_response){ .action = CANNED_HANG });

	assert_int_equal(kwatch_start(c->kc, &(struct kref){ .version = "v1", .resource = "configmaps", .namespace = "ns" },
				      &(struct kwatch_options){ .timeout_s = 60, .backoff_base_ms = 10, .label_selector = "x=y" },
				      &(struct kwatch_handlers){ wl_event, wl_synced, wl_error }, &l, &w),
			 0);
	deadline = time_mono_us() + 5000000;
	while (l.synced < 3 && time_mono_us() < deadline)
		ktest_run_for(&c->loop, 10);
	assert_string_equal(l.events, "A:a A:b SYNCED A:c M:c D:b RELISTED A:d RELISTED ");
	assert_int_equal(l.errors, 1); /* the malformed line */
	assert_string_equal(kwatch_resource_version(w), "50");
	assert_non_null(kwatch_get(w, "ns", "d"));
	assert_null(kwatch_get(w, "ns", "b"));
	assert_int_equal(json_object_size(kwatch_store(w)), 3);
	assert_true(kwatch_synced(w));

	assert_int_equal(canned_count(c->srv), 8);
	assert_string_equal(canned_get(c->srv, 0)->path, "/api/v1/namespaces/ns/configmaps?labelSelector=x%3Dy&limit=500");
	assert_non_null(strstr(canned_get(c->srv, 1)->path, "watch=true"));
	assert_non_null(strstr(canned_get(c->srv, 1)->path, "allowWatchBookmarks=true"));
	assert_non_null(strstr(canned_get(c->srv, 1)->path, "&resourceVersion=10"));
	assert_non_null(strstr(canned_get(c->srv, 1)->path, "labelSelector=x%3Dy"));
	assert_non_null(strstr(canned_get(c->srv, 2)->path, "&resourceVersion=15")); /* from the bookmark */
	assert_non_null(strstr(canned_get(c->srv, 3)->path, "&resourceVersion=15")); /* after the bad line */
	assert_non_null(strstr(canned_get(c->srv, 5)->path, "&resourceVersion=30"));
	assert_non_null(strstr(canned_get(c->srv, 7)->path, "&resourceVersion=50"));
	kwatch_free(w);
}

static void free_in_event(void *ud, struct kwatch *w, enum kwatch_event t, json_t *obj)
{
	int *n = ud;

	(*n)++;
	kwatch_free(w);
}

static void test_kwatch_free_inside_callback(void **state)
{
	struct ctx *c = *state;
	struct kwatch *w = NULL;
	int n = 0;

	make_client(c, NULL, NULL);
	reply(c, 200, NULL, "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[" OBJ("a", "5") "," OBJ("b", "6") "]}");
	assert_int_equal(kwatch_start(c->kc, &(struct kref){ .version = "v1", .resource = "configmaps" }, NULL,
				      &(struct kwatch_handlers){ .event = free_in_event }, &n, &w),
			 0);
	ktest_run_for(&c->loop, 200);
	assert_int_equal(n, 1); /* stopped after the first event; nothing more */
	assert_int_equal(canned_count(c->srv), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_and_request_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_causes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after_any_verb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_5xx_retried_only_when_safe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_cap_and_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_rotation_on_401, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pager, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_options_and_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kwatch_canned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kwatch_free_inside_callback, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
