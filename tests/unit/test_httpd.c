/* Unit tests for common/httpd: servers run in-process on a libuv loop (port
 * 0), clients are libcurl easy handles (or raw sockets) in a second thread,
 * so the loop keeps serving while the client waits. Every wait has a
 * deadline. TLS material comes from common/x509 (a CA, a serving
 * certificate for 127.0.0.1, client certificates from our CA and from a
 * foreign one). Each test ends by freeing its servers and running the loop
 * until it is empty: uv_loop_close must succeed (nothing left behind).
 * The embedding hooks (answer observer, stream write hook, request tags) are
 * checked on servers started with srv_start_hooked: what the hooks saw goes
 * into struct hook_log. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "alloc.h"
#include "buf.h"
#include "httpd.h"
#include "log.h"
#include "x509.h"

#define DEADLINE_MS 20000     /* any one client job */
#define CURL_TIMEOUT_S 15     /* below DEADLINE_MS, so a stuck client thread ends */
#define STREAM_CHUNKS 1000

/* TLS files, made once. */
static char tmpdir[64];
static char *ca_pem, *srv_cert, *srv_key, *cli_cert, *cli_key, *foreign_cert, *foreign_key;
static char cli_serial[X509_SERIAL_HEX_MAX + 1];

/* One test server and what its handler saw. */
struct srv {
	struct httpd *h;
	int port;
	const char *name;
	uv_loop_t *loop;
	/* streams */
	struct httpd_req *stream;
	uv_timer_t timer;
	bool timer_on;
	int chunk_i;
	int close_calls;
	int enobufs;
	size_t max_queued;
	bool stream_done;
	/* deferred answers */
	struct httpd_req *deferred;
	uv_timer_t dtimer;
	bool dtimer_on;
	int deferred_dropped;
};

/* What the hooks of a hooked server saw (reset by srv_start_hooked). */
#define HOOK_SEEN_MAX 32
struct hook_log {
	int answers;
	struct {
		char path[64];
		int status;
		char tag[32];        /* "" when the request had none */
	} seen[HOOK_SEEN_MAX];
	int tags_set;
	int tags_freed;
	int write_calls;         /* on_stream_write calls */
	bool refuse;             /* on_stream_write refuses writes to tagged streams */
	int refused;
};

static struct hook_log hooks;

struct test_tag {
	char name[32];
};

static uv_loop_t loop;
/* Servers started and not stopped: a failed test's are stopped in teardown
 * (so tests keep their struct srv in static storage, which outlives the
 * test function that a failed assertion leaves). */
static struct srv *live[8];

/* Thread plumbing -------------------------------------------------------- */

struct job {
	void (*fn)(void *arg);
	void *arg;
	atomic_int done;
	uv_async_t async;
};

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static void async_cb(uv_async_t *a)
{
	(void)a;
}

static void *job_main(void *p)
{
	struct job *j = p;

	j->fn(j->arg);
	atomic_store(&j->done, 1);
	uv_async_send(&j->async);
	return NULL;
}

/* Run fn(arg) in a thread while the loop serves; fail past the deadline. */
static void run_client(void (*fn)(void *), void *arg)
{
	struct job j = { .fn = fn, .arg = arg };
	uv_timer_t tick;
	pthread_t t;
	uint64_t start;
	bool late = false;

	/* the tick makes the deadline checked even when nothing happens */
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 50, 50);
	uv_async_init(&loop, &j.async, async_cb);
	uv_update_time(&loop);
	start = uv_now(&loop);
	assert_int_equal(pthread_create(&t, NULL, job_main, &j), 0);
	while (!atomic_load(&j.done)) {
		uv_run(&loop, UV_RUN_ONCE);
		uv_update_time(&loop);
		if (uv_now(&loop) - start > DEADLINE_MS) {
			late = true;
			break;
		}
	}
	pthread_join(t, NULL);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_close((uv_handle_t *)&j.async, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (late)
		fail_msg("client job passed its deadline of %d ms", DEADLINE_MS);
}

/* Run the loop until pred(arg) holds or ms pass (a 5 ms tick keeps it
 * turning). Returns the last pred(arg); pred NULL just runs for ms. */
static bool run_until(bool (*pred)(const void *), const void *arg, int ms)
{
	uv_timer_t tick;
	uint64_t start;
	bool ok = false;

	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	uv_update_time(&loop);
	start = uv_now(&loop);
	while (!(ok = pred && pred(arg)) && uv_now(&loop) - start < (uint64_t)ms) {
		uv_run(&loop, UV_RUN_ONCE);
		uv_update_time(&loop);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

/* Server side ------------------------------------------------------------- */

static void srv_timer_stop(struct srv *s)
{
	if (s->timer_on) {
		uv_timer_stop(&s->timer);
		uv_close((uv_handle_t *)&s->timer, NULL);
		s->timer_on = false;
	}
}

static void on_stream_close(struct httpd_req *req, void *data)
{
	struct srv *s = data;

	assert_ptr_equal(req, s->stream);
	/* writes after the client left are refused, not crashes */
	assert_int_equal(httpd_stream_write(req, "x", 1), -ENOTCONN);
	s->close_calls++;
	s->stream = NULL;
	srv_timer_stop(s);
}

/* /stream: STREAM_CHUNKS numbered lines, 50 per millisecond tick. */
static void stream_tick(uv_timer_t *t)
{
	struct srv *s = t->data;
	char line[32];

	for (int k = 0; k < 50 && s->chunk_i < STREAM_CHUNKS; k++, s->chunk_i++) {
		int n = snprintf(line, sizeof(line), "line %d\n", s->chunk_i);

		assert_int_equal(httpd_stream_write(s->stream, line, (size_t)n), 0);
	}
	if (s->chunk_i == STREAM_CHUNKS) {
		httpd_stream_end(s->stream);
		s->stream = NULL;
		s->stream_done = true;
		srv_timer_stop(s);
	}
}

/* /slow: 64 KiB chunks as fast as the timer goes, until the queue is full. */
static void slow_tick(uv_timer_t *t)
{
	struct srv *s = t->data;
	static char chunk[64 * 1024];
	int r;

	memset(chunk, 'z', sizeof(chunk));
	for (int k = 0; k < 8; k++) {
		r = httpd_stream_write(s->stream, chunk, sizeof(chunk));
		if (httpd_stream_queued(s->stream) > s->max_queued)
			s->max_queued = httpd_stream_queued(s->stream);
		if (r == -ENOBUFS) {
			s->enobufs++;
			httpd_stream_end(s->stream);
			s->stream = NULL;
			srv_timer_stop(s);
			return;
		}
		assert_int_equal(r, 0);
	}
}

static void deferred_fire(uv_timer_t *t)
{
	struct srv *s = t->data;

	if (!httpd_req_connected(s->deferred))
		s->deferred_dropped++;
	httpd_add_header(s->deferred, "X-Deferred", "yes");
	httpd_respond(s->deferred, 200, "text/plain", "late\n", 5);
	s->deferred = NULL;
	uv_close((uv_handle_t *)&s->dtimer, NULL);
	s->dtimer_on = false;
}

static void echo(struct srv *s, struct httpd_req *req)
{
	struct buf b;
	size_t len;
	const char *body = httpd_req_body(req, &len);
	const char *v;
	char *txt;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "server=%s\nmethod=%s\npath=%s\nquery=%s\n", s->name, httpd_req_method(req),
		   httpd_req_path(req), httpd_req_query(req));
	v = httpd_req_arg(req, "a");
	buf_printf(&b, "arg.a=%s\n", v ? v : "(null)");
	v = httpd_req_arg(req, "labelSelector");
	buf_printf(&b, "arg.labelSelector=%s\n", v ? v : "(null)");
	v = httpd_req_arg(req, "empty");
	buf_printf(&b, "arg.empty=%s\n", v ? v : "(null)");
	v = httpd_req_arg(req, "missing");
	buf_printf(&b, "arg.missing=%s\n", v ? v : "(null)");
	v = httpd_req_header(req, "x-custom-thing");
	buf_printf(&b, "x-custom-thing=%s\n", v ? v : "(null)");
	v = httpd_req_header(req, "authorization");
	buf_printf(&b, "authorization=%s\n", v ? v : "(null)");
	v = httpd_req_header(req, "content-type");
	buf_printf(&b, "content-type=%s\n", v ? v : "(null)");
	v = httpd_req_header(req, "x-absent");
	buf_printf(&b, "x-absent=%s\n", v ? v : "(null)");
	v = httpd_req_peer_cn(req);
	buf_printf(&b, "cn=%s\n", v ? v : "(null)");
	v = httpd_req_peer_serial(req);
	buf_printf(&b, "serial=%s\n", v ? v : "(null)");
	buf_printf(&b, "peer=%s\n", httpd_req_peer_addr(req));
	buf_printf(&b, "body_len=%zu\n", len);
	/* a cheap fingerprint of the body: sum of bytes */
	{
		unsigned long sum = 0;

		for (size_t i = 0; i < len; i++)
			sum += (unsigned char)body[i];
		buf_printf(&b, "body_sum=%lu\n", sum);
	}
	txt = buf_steal(&b, &len);
	httpd_add_header(req, "X-Server", s->name);
	httpd_add_header(req, "Bad Header", "dropped");
	httpd_add_header(req, "X-Injection", "a\r\nSet-Cookie: x");
	httpd_respond(req, 200, "text/plain", txt, len);
	free(txt);
}

static void tag_free(void *p)
{
	hooks.tags_freed++;
	free(p);
}

static void tag_set(struct httpd_req *req, const char *name)
{
	struct test_tag *t = xnew(struct test_tag);

	snprintf(t->name, sizeof(t->name), "%s", name);
	hooks.tags_set++;
	httpd_req_set_tag(req, t, tag_free);
	assert_ptr_equal(httpd_req_get_tag(req), t);
}

static void handler(struct httpd_req *req, void *userdata)
{
	struct srv *s = userdata;
	const char *path = httpd_req_path(req);
	const char *tag = httpd_req_arg(req, "tag");

	assert_null(httpd_req_get_tag(req));
	if (tag)
		tag_set(req, tag);
	if (strcmp(path, "/tagged") == 0) {
		/* a replaced tag is freed at once */
		int freed = hooks.tags_freed;

		tag_set(req, "first");
		tag_set(req, "second");
		assert_int_equal(hooks.tags_freed, freed + 1);
		httpd_respond(req, 201, "text/plain", "tagged\n", 7);
	} else if (strcmp(path, "/echo") == 0) {
		echo(s, req);
	} else if (strcmp(path, "/stream") == 0 || strcmp(path, "/slow") == 0 ||
		   strcmp(path, "/hang") == 0) {
		assert_null(s->stream);
		assert_int_equal(httpd_stream_start(req, 200, "application/json", on_stream_close, s),
				 0);
		/* a second answer is refused */
		assert_int_equal(httpd_stream_start(req, 200, NULL, NULL, NULL), -EINVAL);
		s->stream = req;
		s->chunk_i = 0;
		if (strcmp(path, "/hang") == 0) {
			assert_int_equal(httpd_stream_write(req, "hello\n", 6), 0);
			return;
		}
		uv_timer_init(s->loop, &s->timer);
		s->timer.data = s;
		s->timer_on = true;
		uv_timer_start(&s->timer, path[1] == 's' && path[2] == 't' ? stream_tick : slow_tick, 1,
			       1);
	} else if (strcmp(path, "/deferred") == 0) {
		const char *ms = httpd_req_arg(req, "ms");

		assert_null(s->deferred);
		s->deferred = req;
		uv_timer_init(s->loop, &s->dtimer);
		s->dtimer.data = s;
		s->dtimer_on = true;
		uv_timer_start(&s->dtimer, deferred_fire, ms ? strtoul(ms, NULL, 10) : 50, 0);
	} else {
		httpd_respond(req, 404, "text/plain", "not found\n", 10);
	}
}

static void srv_start_cfg(struct srv *s, const char *name, struct httpd_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->loop = &loop;
	cfg->listen_addr = "127.0.0.1";
	cfg->handler = handler;
	cfg->userdata = s;
	assert_int_equal(httpd_new(&loop, cfg, &s->h), 0);
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (!live[i]) {
			live[i] = s;
			break;
		}
	}
	s->port = httpd_port(s->h);
	assert_true(s->port > 0 && s->port < 65536);
}

static void srv_start(struct srv *s, const char *name, bool tls, bool client_certs,
		      size_t max_body, size_t max_queue)
{
	struct httpd_config cfg = {
		.cert_path = tls ? srv_cert : NULL,
		.key_path = tls ? srv_key : NULL,
		.client_ca_path = client_certs ? ca_pem : NULL,
		.max_body = max_body,
		.max_stream_queue = max_queue,
	};

	srv_start_cfg(s, name, &cfg);
}

/* httpd_answer_fn of hooked servers. */
static void hook_answer(struct httpd_req *req, int status, void *userdata)
{
	const struct test_tag *t = httpd_req_get_tag(req);
	struct srv *s = userdata;

	assert_non_null(s);
	assert_non_null(s->name);
	assert_true(hooks.answers < HOOK_SEEN_MAX);
	snprintf(hooks.seen[hooks.answers].path, sizeof(hooks.seen[0].path), "%s", httpd_req_path(req));
	hooks.seen[hooks.answers].status = status;
	snprintf(hooks.seen[hooks.answers].tag, sizeof(hooks.seen[0].tag), "%s", t ? t->name : "");
	hooks.answers++;
}

/* httpd_stream_write_fn of hooked servers. */
static int hook_write(struct httpd_req *req, void *userdata)
{
	struct srv *s = userdata;

	assert_non_null(s);
	assert_ptr_equal(req, s->stream ? s->stream : req);
	hooks.write_calls++;
	if (hooks.refuse && httpd_req_get_tag(req)) {
		hooks.refused++;
		return -EACCES;
	}
	return 0;
}

/* A plain-HTTP server with the answer observer and the stream write hook. */
static void srv_start_hooked(struct srv *s, const char *name, size_t max_body)
{
	struct httpd_config cfg = {
		.max_body = max_body,
		.on_answer = hook_answer,
		.on_stream_write = hook_write,
	};

	memset(&hooks, 0, sizeof(hooks));
	srv_start_cfg(s, name, &cfg);
}

static void srv_stop(struct srv *s)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == s)
			live[i] = NULL;
	srv_timer_stop(s);
	if (s->dtimer_on) {
		uv_close((uv_handle_t *)&s->dtimer, NULL);
		s->dtimer_on = false;
	}
	s->h = httpd_free(s->h);
	assert_null(s->h);
}

static bool srv_closed(const void *p)
{
	return ((const struct srv *)p)->close_calls > 0;
}

static bool srv_dropped(const void *p)
{
	return ((const struct srv *)p)->deferred_dropped > 0;
}

static bool srv_streaming(const void *p)
{
	return ((const struct srv *)p)->stream != NULL;
}

/* Client side (runs in the client thread) ---------------------------------- */

struct resp {
	CURLcode rc;
	long status;
	long connects;       /* new connections this transfer opened */
	long local_port;
	double seconds;
	struct buf body;
	struct buf headers;
	char error[CURL_ERROR_SIZE];
};

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;

	if (buf_append(b, p, size * n) < 0)
		return 0;
	return size * n;
}

static CURL *client_new(void)
{
	CURL *c = curl_easy_init();

	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)CURL_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca_pem);
	return c;
}

static void resp_free(struct resp *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
}

/* One request on c (reusing its connection when it can). */
static void do_req(CURL *c, struct resp *r, const char *method, const char *url,
		   const char *body, size_t len, const char *const *hdrs)
{
	struct curl_slist *sl = NULL;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 64 << 20);
	buf_init(&r->headers, 1 << 20);
	for (size_t i = 0; hdrs && hdrs[i]; i++)
		sl = curl_slist_append(sl, hdrs[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") == 0 ? NULL : method);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
	curl_easy_getinfo(c, CURLINFO_LOCAL_PORT, &r->local_port);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(sl);
}

static bool has(const struct resp *r, const char *s)
{
	return r->body.data && strstr(r->body.data, s);
}

/* Tests -------------------------------------------------------------------- */

struct plain_job {
	int port;
	struct resp get, small, big, over, del, put, patch, reuse, notfound, chunked, expect,
		expect_over, deferred, after_chunked, chunked_over, chunked_delete;
};

static void plain_client(void *p)
{
	struct plain_job *j = p;
	static const char *const hdrs[] = { "X-Custom-Thing: hello there",
					    "Authorization: Bearer abc.def",
					    "Content-Type: application/json", NULL };
	static const char *const noexpect[] = { "Expect:", "Content-Type: application/json", NULL };
	static const char *const te[] = { "Transfer-Encoding: chunked", NULL };
	char url[256], base[64];
	char *big = xmalloc(100 * 1024), *huge = xmalloc(2 << 20), *under = xmalloc(1200 * 1024);
	CURL *c = client_new();

	memset(big, 'b', 100 * 1024);
	memset(huge, 'h', 2 << 20);
	memset(under, 'u', 1200 * 1024);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", j->port);

	snprintf(url, sizeof(url),
		 "%s/echo?a=1&labelSelector=app%%3Dweb%%2Cenv+in+(x%%2Cy)&empty=&flag", base);
	do_req(c, &j->get, "GET", url, NULL, 0, hdrs);
	snprintf(url, sizeof(url), "%s/echo", base);
	do_req(c, &j->small, "POST", url, "{\"k\":1}", 7, hdrs);
	do_req(c, &j->big, "POST", url, big, 100 * 1024, noexpect);
	do_req(c, &j->del, "DELETE", url, "{\"propagationPolicy\":\"Foreground\"}", 34, noexpect);
	do_req(c, &j->put, "PUT", url, "abc", 3, noexpect);
	do_req(c, &j->patch, "PATCH", url, "[]", 2, noexpect);
	do_req(c, &j->over, "POST", url, huge, 2 << 20, noexpect);
	/* after a 413 (body discarded by lws) the next request still works */
	do_req(c, &j->reuse, "GET", url, NULL, 0, NULL);
	snprintf(url, sizeof(url), "%s/nope", base);
	do_req(c, &j->notfound, "GET", url, NULL, 0, NULL);
	snprintf(url, sizeof(url), "%s/deferred", base);
	do_req(c, &j->deferred, "GET", url, NULL, 0, NULL);
	/* curl sends "Expect: 100-continue" itself for bodies over 1 MiB */
	snprintf(url, sizeof(url), "%s/echo", base);
	do_req(c, &j->expect, "PUT", url, under, 1200 * 1024, NULL);
	do_req(c, &j->expect_over, "PUT", url, huge, 2 << 20, NULL);
	curl_easy_cleanup(c);

	/* a chunked request body (kubectl create --raw): decoded; the
	 * connection closes after the answer, so the next one reconnects */
	c = client_new();
	do_req(c, &j->chunked, "POST", url, big, 100 * 1024, te);
	do_req(c, &j->after_chunked, "GET", url, NULL, 0, NULL);
	do_req(c, &j->chunked_over, "PUT", url, huge, 2 << 20, te);
	do_req(c, &j->chunked_delete, "DELETE", url, "abc", 3, te);
	curl_easy_cleanup(c);
	free(big);
	free(huge);
	free(under);
}

static void test_plain_methods_bodies_caps(void **state)
{
	static struct srv s;
	struct plain_job j = { 0 };

	srv_start(&s, "one", false, false, 1536 * 1024, 0);
	j.port = s.port;
	run_client(plain_client, &j);

	assert_int_equal(j.get.rc, CURLE_OK);
	assert_int_equal(j.get.status, 200);
	assert_true(has(&j.get, "method=GET\npath=/echo\n"));
	assert_true(has(&j.get, "arg.a=1\n"));
	assert_true(has(&j.get, "arg.labelSelector=app=web,env in (x,y)\n"));
	assert_true(has(&j.get, "arg.empty=\n"));
	assert_true(has(&j.get, "arg.missing=(null)\n"));
	assert_true(has(&j.get, "query=a=1&labelSelector=app%3Dweb%2Cenv%20in%20%28x%2Cy%29&empty=&flag\n"));
	assert_true(has(&j.get, "x-custom-thing=hello there\n"));
	assert_true(has(&j.get, "authorization=Bearer abc.def\n"));
	assert_true(has(&j.get, "content-type=application/json\n"));
	assert_true(has(&j.get, "x-absent=(null)\n"));
	if (!has(&j.get, "cn=(null)\nserial=(null)\npeer=127.0.0.1\n"))
		fail_msg("%s", j.get.body.data);
	assert_non_null(strstr(j.get.headers.data, "X-Server: one\r\n"));
	assert_null(strstr(j.get.headers.data, "Bad Header"));
	assert_null(strstr(j.get.headers.data, "Set-Cookie"));
	assert_int_equal(j.get.connects, 1);

	assert_int_equal(j.small.status, 200);
	assert_true(has(&j.small, "method=POST\n"));
	assert_true(has(&j.small, "body_len=7\n"));
	assert_int_equal(j.small.connects, 0); /* keep-alive */
	assert_int_equal(j.small.local_port, j.get.local_port);

	assert_int_equal(j.big.status, 200);
	assert_true(has(&j.big, "body_len=102400\n"));
	assert_true(has(&j.big, "body_sum=10035200\n")); /* 102400 * 'b' (98) */

	assert_int_equal(j.del.status, 200);
	assert_true(has(&j.del, "method=DELETE\n"));
	assert_true(has(&j.del, "body_len=34\n"));
	assert_int_equal(j.put.status, 200);
	assert_true(has(&j.put, "method=PUT\n"));
	assert_true(has(&j.put, "body_len=3\n"));
	assert_int_equal(j.patch.status, 200);
	assert_true(has(&j.patch, "method=PATCH\n"));
	assert_true(has(&j.patch, "body_len=2\n"));

	assert_int_equal(j.over.status, 413);
	assert_true(has(&j.over, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
				 "\"status\":\"Failure\",\"message\":\"request body of 2097152 bytes "
				 "is larger than the 1572864 allowed\",\"reason\":"
				 "\"RequestEntityTooLarge\",\"code\":413}"));
	assert_int_equal(j.reuse.rc, CURLE_OK);
	assert_int_equal(j.reuse.status, 200);
	assert_int_equal(j.notfound.status, 404);
	assert_int_equal(j.deferred.status, 200);
	assert_true(has(&j.deferred, "late\n"));
	assert_non_null(strstr(j.deferred.headers.data, "X-Deferred: yes\r\n"));

	/* 100-continue answered at once (curl waits 1 s for it otherwise) */
	assert_int_equal(j.expect.status, 200);
	assert_true(has(&j.expect, "body_len=1228800\n"));
	assert_true(j.expect.seconds < 0.9);
	assert_non_null(strstr(j.expect.headers.data, "100 Continue"));
	assert_int_equal(j.expect_over.status, 413);
	assert_true(j.expect_over.seconds < 0.9);

	assert_int_equal(j.chunked.status, 200);
	assert_true(has(&j.chunked, "method=POST\n"));
	assert_true(has(&j.chunked, "body_len=102400\nbody_sum=10035200\n"));
	assert_non_null(strstr(j.chunked.headers.data, "connection: close"));
	assert_int_equal(j.after_chunked.status, 200);
	assert_int_equal(j.after_chunked.connects, 1);
	assert_int_equal(j.chunked_over.status, 413);
	assert_true(has(&j.chunked_over, "\"reason\":\"RequestEntityTooLarge\""));
	assert_int_equal(j.chunked_delete.status, 411);
	assert_true(has(&j.chunked_delete, "\"reason\":\"LengthRequired\""));

	for (struct resp *r = &j.get; r <= &j.chunked_delete; r++)
		resp_free(r);
	srv_stop(&s);
}

struct stream_job {
	int port;
	bool tls;
	struct resp stream, after, bodied, after_bodied;
};

static void stream_client(void *p)
{
	struct stream_job *j = p;
	char url[128];
	CURL *c = client_new();

	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/stream", j->tls ? "https" : "http", j->port);
	do_req(c, &j->stream, "GET", url, NULL, 0, NULL);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/echo", j->tls ? "https" : "http", j->port);
	do_req(c, &j->after, "GET", url, NULL, 0, NULL);
	do_req(c, &j->bodied, "PUT", url, "0123456789", 10, NULL);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/stream", j->tls ? "https" : "http", j->port);
	do_req(c, &j->after_bodied, "GET", url, NULL, 0, NULL);
	curl_easy_cleanup(c);
}

static void check_stream_body(const struct resp *r)
{
	const char *p = r->body.data;
	char want[32];

	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(r->status, 200);
	assert_non_null(strstr(r->headers.data, "Transfer-Encoding: chunked") ?
			strstr(r->headers.data, "Transfer-Encoding: chunked") :
			strstr(r->headers.data, "transfer-encoding: chunked"));
	for (int i = 0; i < STREAM_CHUNKS; i++) {
		int n = snprintf(want, sizeof(want), "line %d\n", i);

		if (strncmp(p, want, (size_t)n) != 0)
			fail_msg("chunk %d missing or out of order", i);
		p += n;
	}
	assert_int_equal(*p, '\0');
}

static void stream_test(bool tls)
{
	static struct srv s;
	struct stream_job j = { .tls = tls };

	srv_start(&s, "streamer", tls, false, 0, 0);
	j.port = s.port;
	run_client(stream_client, &j);
	check_stream_body(&j.stream);
	/* the same connection serves the next requests */
	assert_int_equal(j.after.status, 200);
	assert_int_equal(j.after.connects, 0);
	assert_int_equal(j.bodied.status, 200);
	assert_true(has(&j.bodied, "body_len=10\n"));
	assert_int_equal(j.bodied.connects, 0);
	check_stream_body(&j.after_bodied);
	assert_int_equal(j.after_bodied.connects, 0);
	assert_int_equal(j.stream.local_port, j.after_bodied.local_port);
	assert_int_equal(s.close_calls, 0); /* ended streams do not call on_close */
	resp_free(&j.stream);
	resp_free(&j.after);
	resp_free(&j.bodied);
	resp_free(&j.after_bodied);
	srv_stop(&s);
}

static void test_stream_1000_chunks_keepalive(void **state)
{
	stream_test(false);
}

static void test_stream_tls_keepalive(void **state)
{
	stream_test(true);
}

/* Raw-socket clients, for what curl will not do: stop reading, or leave. */
struct raw_job {
	int port;
	const char *request;
	const atomic_bool *wait_for; /* close once this is set (or after 10 s) */
	bool read_until_hello;
	bool got_hello;
};

static int raw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;

	assert_true(fd >= 0);
	/* a small receive buffer, so a reader that stops reading stops soon */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void raw_client(void *p)
{
	struct raw_job *j = p;
	int fd = raw_connect(j->port);
	char buf[4096];
	struct timespec start, now;

	assert_true(write(fd, j->request, strlen(j->request)) == (ssize_t)strlen(j->request));
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (j->read_until_hello) {
		struct buf got;

		buf_init(&got, 1 << 20);
		while (!strstr(got.data ? got.data : "", "hello\n")) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (poll(&pfd, 1, 10000) != 1)
				break;
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				break;
			buf_append(&got, buf, (size_t)n);
		}
		j->got_hello = got.data && strstr(got.data, "hello\n");
		buf_free(&got);
	}
	/* wait (bounded) for the server side to reach its state, reading nothing */
	while (j->wait_for && !atomic_load(j->wait_for)) {
		struct pollfd none = { .fd = -1 };

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 10)
			break;
		poll(&none, 1, 5);
	}
	close(fd);
}

static atomic_bool flag_enobufs;

static void check_enobufs(uv_timer_t *t)
{
	struct srv *s = t->data;

	if (s->enobufs)
		atomic_store(&flag_enobufs, true);
}

static void test_slow_reader_hits_queue_cap(void **state)
{
	static const char req[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
	const size_t cap = 256 * 1024;
	static struct srv s;
	struct raw_job j = { .request = req, .wait_for = &flag_enobufs };
	uv_timer_t watch;

	atomic_store(&flag_enobufs, false);
	srv_start(&s, "slow", false, false, 0, cap);
	j.port = s.port;
	uv_timer_init(&loop, &watch);
	watch.data = &s;
	uv_timer_start(&watch, check_enobufs, 1, 1);
	run_client(raw_client, &j);
	uv_close((uv_handle_t *)&watch, NULL);
	uv_run(&loop, UV_RUN_NOWAIT); /* watch lives on this stack: finish closing it */
	assert_int_equal(s.enobufs, 1);
	assert_true(s.max_queued <= cap);
	assert_true(s.max_queued > cap - 64 * 1024 - 16);
	/* the stream was ended before the client left: no on_close */
	assert_int_equal(s.close_calls, 0);
	srv_stop(&s);
}

static void test_client_leaves_mid_stream(void **state)
{
	static const char req[] = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
	static struct srv s;
	struct raw_job j = { .request = req, .read_until_hello = true };
	bool closed;

	srv_start(&s, "hang", false, false, 0, 0);
	j.port = s.port;
	run_client(raw_client, &j);
	assert_true(j.got_hello);
	/* wait for the close callback, then give it the chance to run twice */
	closed = run_until(srv_closed, &s, 5000);
	run_until(NULL, NULL, 100);
	assert_true(closed);
	assert_int_equal(s.close_calls, 1);
	assert_null(s.stream);
	srv_stop(&s);
	assert_int_equal(s.close_calls, 1);
}

static void test_deferred_answer_to_gone_client(void **state)
{
	static const char req[] = "GET /deferred?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n";
	static struct srv s;
	struct raw_job j = { .request = req };
	bool answered;

	srv_start(&s, "deferred", false, false, 0, 0);
	j.port = s.port;
	run_client(raw_client, &j); /* sends, closes at once */
	answered = run_until(srv_dropped, &s, 5000);
	assert_true(answered);
	assert_int_equal(s.deferred_dropped, 1);
	assert_null(s.deferred);
	srv_stop(&s);
}

/* Send req on a fresh connection and read until the server closes (or 5 s).
 * Returns what was read; caller frees. */
static char *raw_exchange(int port, const char *req, size_t len)
{
	int fd = raw_connect(port);
	struct buf got;
	char b[4096];

	buf_init(&got, 1 << 20);
	assert_true(write(fd, req, len) == (ssize_t)len);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1)
			break;
		n = read(fd, b, sizeof(b));
		if (n <= 0)
			break;
		buf_append(&got, b, (size_t)n);
	}
	close(fd);
	return buf_steal(&got, NULL);
}

struct misc_job {
	int port;
	char *upgrade, *huge_header, *head, *bad_length, *garbage, *chunk_ext, *chunk_bad,
		*chunk_and_length, *h2c;
	bool stream_closed_on_input;
};

static void misc_client(void *p)
{
	struct misc_job *j = p;
	static const char upgrade[] = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
				      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
				      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	static const char head[] = "HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char h2c[] = "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
				  "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
	static const char bad_length[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
					 "Content-Length: 12x\r\n\r\n";
	static const char garbage[] = "\x01\x02 nonsense\r\n\r\n";
	static const char chunk_ext[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
					"Transfer-Encoding: chunked\r\n\r\n"
					"5;name=value\r\nhello\r\n6\r\n world\r\n"
					"0\r\nX-Trailer: y\r\n\r\n";
	static const char chunk_bad[] = "PUT /echo HTTP/1.1\r\nHost: x\r\n"
					"Transfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n";
	static const char chunk_and_length[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
					       "Content-Length: 5\r\n"
					       "Transfer-Encoding: chunked\r\n\r\n"
					       "5\r\nhello\r\n0\r\n\r\n";
	static const char hang[] = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
	struct buf big;
	char b[4096];
	int fd;

	j->upgrade = raw_exchange(j->port, upgrade, sizeof(upgrade) - 1);
	j->head = raw_exchange(j->port, head, sizeof(head) - 1);
	j->h2c = raw_exchange(j->port, h2c, sizeof(h2c) - 1);
	j->bad_length = raw_exchange(j->port, bad_length, sizeof(bad_length) - 1);
	j->garbage = raw_exchange(j->port, garbage, sizeof(garbage) - 1);
	j->chunk_ext = raw_exchange(j->port, chunk_ext, sizeof(chunk_ext) - 1);
	j->chunk_bad = raw_exchange(j->port, chunk_bad, sizeof(chunk_bad) - 1);
	j->chunk_and_length = raw_exchange(j->port, chunk_and_length, sizeof(chunk_and_length) - 1);
	buf_init(&big, 1 << 20);
	buf_puts(&big, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ");
	for (int i = 0; i < HTTPD_HEADER_MAX + 1000; i++)
		buf_puts(&big, "a");
	buf_puts(&big, "\r\n\r\n");
	j->huge_header = raw_exchange(j->port, big.data, big.len);
	buf_free(&big);

	/* input while a stream is open: the server closes the connection
	 * (lws would not read it and the loop would spin) */
	fd = raw_connect(j->port);
	assert_true(write(fd, hang, sizeof(hang) - 1) == (ssize_t)(sizeof(hang) - 1));
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1)
			break;
		n = read(fd, b, sizeof(b));
		if (n <= 0) {
			j->stream_closed_on_input = n == 0;
			break;
		}
		if (memmem(b, (size_t)n, "hello", 5))
			assert_true(write(fd, "GET / HTTP/1.1\r\n\r\n", 18) == 18);
	}
	close(fd);
}

static void test_raw_protocol_edges(void **state)
{
	static struct srv s;
	struct misc_job j = { 0 };

	srv_start(&s, "raw", false, false, 0, 0);
	j.port = s.port;
	run_client(misc_client, &j);
	/* no websocket protocol (yet): the upgrade is refused, never 101 */
	assert_null(strstr(j.upgrade, " 101 "));
	/* no switch to cleartext HTTP/2: a 505 instead of a 101 */
	assert_null(strstr(j.h2c, " 101 "));
	if (!strstr(j.h2c, " 505 "))
		fail_msg("h2c upgrade answered: %.200s", j.h2c);
	/* HEAD: headers with the length, no body */
	assert_non_null(strstr(j.head, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(j.head, "content-length: "));
	assert_null(strstr(j.head, "method=HEAD"));
	/* a broken Content-Length: 400, connection closed */
	assert_non_null(strstr(j.bad_length, "HTTP/1.1 400 "));
	assert_non_null(strstr(j.bad_length, "\"reason\":\"BadRequest\""));
	/* chunked bodies: extensions and trailers skipped, the connection
	 * closed by the server after the answer (raw_exchange reads to EOF) */
	assert_non_null(strstr(j.chunk_ext, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(j.chunk_ext, "body_len=11\n"));
	assert_non_null(strstr(j.chunk_bad, "HTTP/1.1 400 "));
	assert_non_null(strstr(j.chunk_bad, "malformed chunked"));
	assert_non_null(strstr(j.chunk_and_length, "HTTP/1.1 400 "));
	assert_null(strstr(j.chunk_and_length, "server=raw"));
	/* garbage and oversized headers: no answer from the handler, no crash */
	assert_null(strstr(j.garbage, "server=raw"));
	assert_null(strstr(j.huge_header, "server=raw"));
	/* input during a stream ends the stream (on_close once) */
	assert_true(j.stream_closed_on_input);
	assert_true(run_until(srv_closed, &s, 5000));
	assert_int_equal(s.close_calls, 1);
	free(j.upgrade);
	free(j.head);
	free(j.h2c);
	free(j.bad_length);
	free(j.garbage);
	free(j.chunk_ext);
	free(j.chunk_bad);
	free(j.chunk_and_length);
	free(j.huge_header);
	srv_stop(&s);
}

/* Python's http.client (the kubernetes client's transport) on one
 * connection: a chunked stream, then a PUT with a body, then a GET. */
struct py_job {
	int port;
	int status;
	char *out;
};

static void py_client(void *p)
{
	struct py_job *j = p;
	char *cmd = xasprintf(
		"/usr/bin/python3 - <<'EOF' 2>&1\n"
		"import http.client\n"
		"c = http.client.HTTPConnection('127.0.0.1', %d, timeout=10)\n"
		"c.request('GET', '/stream')\n"
		"r = c.getresponse(); body = r.read()\n"
		"port1 = c.sock.getsockname()[1]\n"
		"print('stream', r.status, len(body.splitlines()))\n"
		"c.request('PUT', '/echo', body=b'x' * 5000, headers={'Content-Type': 'application/json'})\n"
		"r = c.getresponse(); body = r.read().decode()\n"
		"print('put', r.status, 'body_len=5000' in body)\n"
		"c.request('DELETE', '/echo', body=b'{}')\n"
		"r = c.getresponse(); body = r.read().decode()\n"
		"print('delete', r.status, 'body_len=2' in body)\n"
		"print('same connection', c.sock.getsockname()[1] == port1)\n"
		"EOF\n", j->port);
	FILE *f = popen(cmd, "r");
	struct buf b;
	char line[512];

	buf_init(&b, 1 << 16);
	while (f && fgets(line, sizeof(line), f))
		buf_puts(&b, line);
	j->status = f ? pclose(f) : -1;
	j->out = buf_steal(&b, NULL);
	free(cmd);
}

static void test_python_http_client_keepalive(void **state)
{
	static struct srv s;
	struct py_job j = { 0 };

	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	srv_start(&s, "py", false, false, 0, 0);
	j.port = s.port;
	run_client(py_client, &j);
	if (j.status != 0 || !strstr(j.out, "stream 200 1000\n") ||
	    !strstr(j.out, "put 200 True\n") || !strstr(j.out, "delete 200 True\n") ||
	    !strstr(j.out, "same connection True\n"))
		fail_msg("python http.client: %s", j.out);
	free(j.out);
	srv_stop(&s);
}

static void test_free_with_open_stream(void **state)
{
	static const char req[] = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
	static struct srv s;
	int fd;
	char buf[256];

	srv_start(&s, "shutdown", false, false, 0, 0);
	fd = raw_connect(s.port);
	assert_true(write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
	assert_true(run_until(srv_streaming, &s, 5000));
	srv_stop(&s); /* closes the stream: on_close runs, once */
	assert_int_equal(s.close_calls, 1);
	/* the client sees the connection end */
	for (int i = 0; i < 400; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		uv_run(&loop, UV_RUN_NOWAIT);
		if (poll(&pfd, 1, 5) == 1) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				break;
		}
	}
	close(fd);
	assert_int_equal(s.close_calls, 1);
}

struct tls_job {
	int port;
	struct resp with_cert, no_cert, foreign, plain_on_tls, second;
	int body_failures;      /* bodies of many sizes over TLS not echoed right */
	char body_failure[CURL_ERROR_SIZE + 64];
};

static void tls_client(void *p)
{
	struct tls_job *j = p;
	char url[128];
	CURL *c;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/echo", j->port);
	c = client_new();
	curl_easy_setopt(c, CURLOPT_SSLCERT, cli_cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, cli_key);
	do_req(c, &j->with_cert, "GET", url, NULL, 0, NULL);
	do_req(c, &j->second, "POST", url, "x", 1, NULL);
	curl_easy_cleanup(c);

	c = client_new();
	do_req(c, &j->no_cert, "GET", url, NULL, 0, NULL);
	/* Bodies of many sizes: lws once left the tail of a TLS record
	 * unread inside OpenSSL, and the request hung. */
	{
		static const char *const noexpect[] = { "Expect:", NULL };
		char *body = xmalloc(700000);
		char want[64];

		memset(body, 'q', 700000);
		for (size_t n = 1000; n < 700000; n += 17393) {
			struct resp r;

			curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
			do_req(c, &r, "PUT", url, body, n, noexpect);
			snprintf(want, sizeof(want), "body_len=%zu\n", n);
			if (r.status != 200 || !has(&r, want)) {
				j->body_failures++;
				snprintf(j->body_failure, sizeof(j->body_failure),
					 "%zu bytes: status %ld, %s", n, r.status, r.error);
			}
			resp_free(&r);
		}
		free(body);
	}
	curl_easy_cleanup(c);

	c = client_new();
	curl_easy_setopt(c, CURLOPT_SSLCERT, foreign_cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, foreign_key);
	do_req(c, &j->foreign, "GET", url, NULL, 0, NULL);
	curl_easy_cleanup(c);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", j->port);
	c = client_new();
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 3L);
	do_req(c, &j->plain_on_tls, "GET", url, NULL, 0, NULL);
	curl_easy_cleanup(c);
}

static void test_tls_client_certificates(void **state)
{
	static struct srv s;
	struct tls_job j = { 0 };
	char *want;

	srv_start(&s, "tls", true, true, 0, 0);
	j.port = s.port;
	run_client(tls_client, &j);

	assert_int_equal(j.with_cert.rc, CURLE_OK);
	assert_int_equal(j.with_cert.status, 200);
	want = xasprintf("cn=agent-1\nserial=%s\n", cli_serial);
	assert_true(has(&j.with_cert, want));
	free(want);
	assert_int_equal(j.second.status, 200);
	assert_int_equal(j.second.connects, 0);
	assert_true(has(&j.second, "cn=agent-1\n"));

	if (j.body_failures)
		fail_msg("%d TLS bodies failed, e.g. %s", j.body_failures, j.body_failure);
	/* no certificate: allowed, anonymous */
	assert_int_equal(j.no_cert.rc, CURLE_OK);
	assert_int_equal(j.no_cert.status, 200);
	assert_true(has(&j.no_cert, "cn=(null)\nserial=(null)\n"));

	/* a foreign CA's certificate: the handshake fails, no answer */
	assert_int_not_equal(j.foreign.rc, CURLE_OK);
	assert_true(j.foreign.status == 0);
	if (!strstr(j.foreign.error, "unknown ca") && !strstr(j.foreign.error, "alert"))
		print_message("foreign CA refused with: %s\n", j.foreign.error);

	/* plain HTTP on the TLS port gets no HTTP answer */
	assert_true(j.plain_on_tls.status == 0 || j.plain_on_tls.status >= 400);

	resp_free(&j.with_cert);
	resp_free(&j.second);
	resp_free(&j.no_cert);
	resp_free(&j.foreign);
	resp_free(&j.plain_on_tls);
	srv_stop(&s);
}

/* Without client_ca_path no certificate is asked for: no identity. */
static void tls_nocheck_client(void *p)
{
	struct tls_job *j = p;
	char url[128];
	CURL *c = client_new();

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/echo", j->port);
	curl_easy_setopt(c, CURLOPT_SSLCERT, cli_cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, cli_key);
	do_req(c, &j->with_cert, "GET", url, NULL, 0, NULL);
	curl_easy_cleanup(c);
}

static void test_tls_without_client_ca(void **state)
{
	static struct srv s;
	struct tls_job j = { 0 };

	srv_start(&s, "tls-anon", true, false, 0, 0);
	j.port = s.port;
	run_client(tls_nocheck_client, &j);
	assert_int_equal(j.with_cert.status, 200);
	assert_true(has(&j.with_cert, "cn=(null)\n"));
	resp_free(&j.with_cert);
	srv_stop(&s);
}

struct multi_job {
	int ports[3];
	struct resp r[3];
};

static void multi_client(void *p)
{
	struct multi_job *j = p;
	char url[128];

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++) {
			CURL *c = client_new();

			if (round)
				resp_free(&j->r[i]);
			snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", j->ports[i]);
			do_req(c, &j->r[i], "GET", url, NULL, 0, NULL);
			curl_easy_cleanup(c);
		}
	}
}

static void test_three_servers_one_loop(void **state)
{
	static const char *const names[] = { "cluster-a", "cluster-b", "cluster-c" };
	static struct srv s[3];
	struct multi_job j = { 0 };
	char want[64];

	for (int i = 0; i < 3; i++) {
		srv_start(&s[i], names[i], false, false, 0, 0);
		j.ports[i] = s[i].port;
	}
	assert_int_not_equal(j.ports[0], j.ports[1]);
	assert_int_not_equal(j.ports[1], j.ports[2]);
	run_client(multi_client, &j);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(j.r[i].status, 200);
		snprintf(want, sizeof(want), "server=%s\n", names[i]);
		assert_true(has(&j.r[i], want));
		resp_free(&j.r[i]);
	}
	/* stop the middle one; the others keep serving */
	srv_stop(&s[1]);
	j.ports[1] = s[0].port;
	run_client(multi_client, &j);
	assert_true(has(&j.r[0], "server=cluster-a\n"));
	assert_true(has(&j.r[2], "server=cluster-c\n"));
	for (int i = 0; i < 3; i++)
		resp_free(&j.r[i]);
	srv_stop(&s[0]);
	srv_stop(&s[2]);
}

static void test_bad_config_and_port_in_use(void **state)
{
	static struct srv s;
	struct httpd *h = (struct httpd *)0x1;
	struct httpd_config cfg = { .listen_addr = "127.0.0.1", .handler = handler };

	srv_start(&s, "taken", false, false, 0, 0);
	cfg.port = s.port;
	cfg.userdata = &s;
	assert_int_equal(httpd_new(&loop, &cfg, &h), -EADDRINUSE);
	cfg.port = 0;
	cfg.cert_path = srv_cert; /* key missing */
	assert_int_equal(httpd_new(&loop, &cfg, &h), -EINVAL);
	cfg.key_path = foreign_key; /* does not match the certificate */
	assert_int_equal(httpd_new(&loop, &cfg, &h), -EINVAL);
	cfg.key_path = "/nonexistent.key";
	assert_int_equal(httpd_new(&loop, &cfg, &h), -EINVAL);
	cfg.cert_path = NULL;
	cfg.key_path = NULL;
	cfg.handler = NULL;
	assert_int_equal(httpd_new(&loop, &cfg, &h), -EINVAL);
	assert_ptr_equal(h, (struct httpd *)0x1);
	assert_null(httpd_free(NULL));
	srv_stop(&s);
}

/* Embedding hooks ----------------------------------------------------------- */

struct observe_job {
	int port;
	char *tagged_echo, *notfound, *tagged, *no_length, *too_big, *bad_chunk, *deferred;
};

static void observe_client(void *p)
{
	struct observe_job *j = p;
	static const char tagged_echo[] = "GET /echo?tag=e1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char notfound[] = "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char tagged[] = "GET /tagged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char no_length[] = "POST /echo?tag=never HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char too_big[] = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
				      "Expect: 100-continue\r\n\r\n";
	static const char bad_chunk[] = "PATCH /echo HTTP/1.1\r\nHost: x\r\n"
					"Transfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n";
	static const char deferred[] = "GET /deferred?ms=20&tag=d1 HTTP/1.1\r\nHost: x\r\n"
				       "Connection: close\r\n\r\n";

	j->tagged_echo = raw_exchange(j->port, tagged_echo, sizeof(tagged_echo) - 1);
	j->notfound = raw_exchange(j->port, notfound, sizeof(notfound) - 1);
	j->tagged = raw_exchange(j->port, tagged, sizeof(tagged) - 1);
	j->no_length = raw_exchange(j->port, no_length, sizeof(no_length) - 1);
	j->too_big = raw_exchange(j->port, too_big, sizeof(too_big) - 1);
	j->bad_chunk = raw_exchange(j->port, bad_chunk, sizeof(bad_chunk) - 1);
	j->deferred = raw_exchange(j->port, deferred, sizeof(deferred) - 1);
}

static bool tags_all_freed(const void *p)
{
	(void)p;
	return hooks.tags_freed == hooks.tags_set;
}

/* Every answer is observed once with its status and the request's tag:
 * handler answers, deferred ones, and httpd's own 4xx (no handler, no tag).
 * Tags are freed when replaced and when their request goes. */
static void test_answer_observer_and_tags(void **state)
{
	static const struct {
		const char *path;
		int status;
		const char *tag;
	} want[] = {
		{ "/echo", 200, "e1" },  { "/nothing", 404, "" }, { "/tagged", 201, "second" },
		{ "/echo", 411, "" },    { "/echo", 413, "" },    { "/echo", 400, "" },
		{ "/deferred", 200, "d1" },
	};
	static struct srv s;
	struct observe_job j = { 0 };

	srv_start_hooked(&s, "observed", 1024);
	j.port = s.port;
	run_client(observe_client, &j);
	assert_non_null(strstr(j.tagged_echo, "HTTP/1.1 200 "));
	assert_non_null(strstr(j.notfound, "HTTP/1.1 404 "));
	assert_non_null(strstr(j.tagged, "HTTP/1.1 201 "));
	assert_non_null(strstr(j.no_length, "HTTP/1.1 411 "));
	assert_non_null(strstr(j.too_big, "HTTP/1.1 413 "));
	assert_non_null(strstr(j.bad_chunk, "HTTP/1.1 400 "));
	assert_non_null(strstr(j.deferred, "HTTP/1.1 200 "));
	assert_int_equal(hooks.answers, (int)(sizeof(want) / sizeof(want[0])));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strcmp(hooks.seen[i].path, want[i].path) || hooks.seen[i].status != want[i].status ||
		    strcmp(hooks.seen[i].tag, want[i].tag))
			fail_msg("answer %zu: saw %s %d tag \"%s\", wanted %s %d tag \"%s\"", i,
				 hooks.seen[i].path, hooks.seen[i].status, hooks.seen[i].tag, want[i].path,
				 want[i].status, want[i].tag);
	}
	/* e1, first, second, d1 */
	assert_int_equal(hooks.tags_set, 4);
	assert_true(run_until(tags_all_freed, NULL, 5000));
	assert_int_equal(hooks.write_calls, 0);
	free(j.tagged_echo);
	free(j.notfound);
	free(j.tagged);
	free(j.no_length);
	free(j.too_big);
	free(j.bad_chunk);
	free(j.deferred);
	srv_stop(&s);
	assert_int_equal(hooks.answers, (int)(sizeof(want) / sizeof(want[0])));
}

struct read_ctx {
	int fd;
	struct buf got;
	const char *until;
	bool eof;
};

static bool read_some(const void *p)
{
	struct read_ctx *r = (struct read_ctx *)p;
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	char b[4096];
	ssize_t n;

	while (!r->eof && poll(&pfd, 1, 0) == 1) {
		n = read(r->fd, b, sizeof(b));
		if (n <= 0) {
			r->eof = true;
			break;
		}
		buf_append(&r->got, b, (size_t)n);
	}
	return r->eof || (r->got.data && strstr(r->got.data, r->until));
}

/* The stream write hook sees every write to a live stream and can refuse it
 * (nothing queued, the error returned, the stream left to its writer); it
 * sees the request's tag. Streams, their observed starts and their tags. */
static void test_stream_write_hook(void **state)
{
	static const char tagged[] = "GET /hang?tag=w1 HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char untagged[] = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
	static struct srv s;
	struct read_ctx r = { 0 };
	size_t queued;

	srv_start_hooked(&s, "hooked", 0);
	r.fd = raw_connect(s.port);
	buf_init(&r.got, 1 << 20);
	assert_true(write(r.fd, tagged, sizeof(tagged) - 1) == (ssize_t)(sizeof(tagged) - 1));
	assert_true(run_until(srv_streaming, &s, 5000));
	assert_int_equal(hooks.write_calls, 1); /* the handler's "hello" */
	assert_int_equal(hooks.answers, 1);
	assert_int_equal(hooks.seen[0].status, 200);
	assert_string_equal(hooks.seen[0].tag, "w1");
	assert_int_equal(httpd_stream_write(s.stream, "more\n", 5), 0);
	assert_int_equal(hooks.write_calls, 2);
	hooks.refuse = true;
	queued = httpd_stream_queued(s.stream);
	assert_int_equal(httpd_stream_write(s.stream, "after\n", 6), -EACCES);
	assert_int_equal(httpd_stream_queued(s.stream), queued);
	assert_int_equal(hooks.refused, 1);
	/* the stream stays usable for its writer: it ends it */
	httpd_stream_end(s.stream);
	assert_int_equal(httpd_stream_write(s.stream, "late\n", 5), -EINVAL);
	assert_int_equal(hooks.write_calls, 3); /* no call for a write to an ended stream */
	s.stream = NULL;
	r.until = "0\r\n\r\n";
	assert_true(run_until(read_some, &r, 5000));
	assert_non_null(strstr(r.got.data, "hello\n"));
	assert_non_null(strstr(r.got.data, "more\n"));
	assert_null(strstr(r.got.data, "after"));
	assert_int_equal(s.close_calls, 0);
	assert_true(run_until(tags_all_freed, NULL, 5000));
	assert_int_equal(hooks.tags_set, 1);

	/* an untagged stream on the same connection: the hook lets it write */
	buf_reset(&r.got);
	assert_true(write(r.fd, untagged, sizeof(untagged) - 1) == (ssize_t)(sizeof(untagged) - 1));
	r.until = "hello\n";
	assert_true(run_until(read_some, &r, 5000));
	assert_non_null(s.stream);
	assert_int_equal(hooks.answers, 2);
	assert_string_equal(hooks.seen[1].tag, "");
	assert_int_equal(httpd_stream_write(s.stream, "free\n", 5), 0);
	assert_int_equal(hooks.refused, 1);
	/* the client leaves: on_close runs; no write hook for a gone client */
	close(r.fd);
	assert_true(run_until(srv_closed, &s, 5000));
	assert_int_equal(s.close_calls, 1);
	assert_int_equal(hooks.write_calls, 5);
	buf_free(&r.got);
	srv_stop(&s);
	assert_int_equal(hooks.answers, 2);
}

static bool deferred_pending(const void *p)
{
	return ((const struct srv *)p)->deferred != NULL;
}

static bool deferred_answered(const void *p)
{
	return ((const struct srv *)p)->deferred == NULL;
}

/* Once httpd_free ran, a late answer is dropped without calling the observer
 * (its userdata may be gone), and the request's tag is still freed. A tagged
 * stream closed by httpd_free frees its tag too. */
static void test_free_stops_hooks(void **state)
{
	static const char req[] = "GET /deferred?ms=200&tag=late HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char sreq[] = "GET /hang?tag=s1 HTTP/1.1\r\nHost: x\r\n\r\n";
	static struct srv s;
	int fd, sfd;

	srv_start_hooked(&s, "freed", 0);
	fd = raw_connect(s.port);
	sfd = raw_connect(s.port);
	assert_true(write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
	assert_true(write(sfd, sreq, sizeof(sreq) - 1) == (ssize_t)(sizeof(sreq) - 1));
	assert_true(run_until(srv_streaming, &s, 5000));
	assert_true(run_until(deferred_pending, &s, 5000));
	assert_int_equal(hooks.answers, 1); /* the stream's start */
	assert_int_equal(hooks.tags_set, 2);
	s.h = httpd_free(s.h);
	assert_int_equal(s.close_calls, 1);
	assert_int_equal(hooks.tags_freed, 1); /* the stream's */
	assert_true(run_until(deferred_answered, &s, 5000));
	assert_int_equal(hooks.answers, 1);
	assert_int_equal(hooks.tags_freed, 2);
	close(fd);
	close(sfd);
	srv_stop(&s);
}

/* Fixtures ------------------------------------------------------------------ */

static int loop_setup(void **state)
{
	return uv_loop_init(&loop);
}

static int loop_teardown(void **state)
{
	uint64_t start;

	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i])
			srv_stop(live[i]);
	/* everything freed must finish closing: then the loop is empty */
	uv_update_time(&loop);
	start = uv_now(&loop);
	while (uv_loop_alive(&loop) && uv_now(&loop) - start < 5000) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_update_time(&loop);
	}
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "handles left on the loop\n");
		return -1;
	}
	return 0;
}

static void write_file(const char *name, const char *data, mode_t mode, char **ret_path)
{
	char *path = xasprintf("%s/%s", tmpdir, name);

	assert_int_equal(x509_file_write(path, data, strlen(data), mode, NULL), 0);
	*ret_path = path;
}

/* A CA, a serving certificate for 127.0.0.1, a client certificate from a CSR
 * (CN agent-1, O agents) and one from a foreign CA. */
static int tls_setup(void **state)
{
	static const char *const dns[] = { "localhost" };
	static const char *const ips[] = { "127.0.0.1" };
	struct x509_cert_spec srv_spec = { .cn = "test-server", .dns = dns, .n_dns = 1, .ips = ips,
					   .n_ips = 1, .usage = X509_USAGE_SERVER,
					   .lifetime = 3600 };
	struct x509_cert_spec cli_spec = { .usage = X509_USAGE_CLIENT, .lifetime = 3600 };
	struct x509_ca *ca = NULL, *foreign = NULL;
	struct x509_key *k = NULL;
	struct x509_csr *csr = NULL;
	struct x509_cert_info info;
	char *pem = NULL, *kpem = NULL, *csr_pem = NULL;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nave-test-httpd-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (getenv("NAVE_TEST_DEBUG"))
		log_setup(LOG_LVL_DEBUG, LOG_FORMAT_TEXT);
	if (x509_ca_create("httpd-test-ca", 3600, &ca, NULL) < 0 ||
	    x509_ca_create("foreign-ca", 3600, &foreign, NULL) < 0)
		return -1;
	write_file("ca.pem", x509_ca_cert_pem(ca), 0644, &ca_pem);

	if (x509_key_generate(&k, NULL) < 0 || x509_ca_sign(ca, k, &srv_spec, &pem, NULL) < 0 ||
	    x509_key_pem(k, &kpem, NULL) < 0)
		return -1;
	write_file("srv.pem", pem, 0644, &srv_cert);
	write_file("srv.key", kpem, 0600, &srv_key);
	free(pem);
	free(kpem);
	k = x509_key_free(k);

	if (x509_key_generate(&k, NULL) < 0 || x509_csr_create(k, "agent-1", "agents", &csr_pem,
							       NULL) < 0 ||
	    x509_csr_parse(csr_pem, strlen(csr_pem), &csr, NULL) < 0 ||
	    x509_ca_sign_csr(ca, csr, &cli_spec, &pem, NULL) < 0 || x509_key_pem(k, &kpem, NULL) < 0 ||
	    x509_cert_info(pem, strlen(pem), &info, NULL) < 0)
		return -1;
	snprintf(cli_serial, sizeof(cli_serial), "%s", info.serial);
	write_file("cli.pem", pem, 0644, &cli_cert);
	write_file("cli.key", kpem, 0600, &cli_key);
	free(pem);
	free(kpem);
	free(csr_pem);
	csr = x509_csr_free(csr);

	cli_spec.cn = "agent-1";
	if (x509_ca_sign(foreign, k, &cli_spec, &pem, NULL) < 0 || x509_key_pem(k, &kpem, NULL) < 0)
		return -1;
	write_file("foreign.pem", pem, 0644, &foreign_cert);
	write_file("foreign.key", kpem, 0600, &foreign_key);
	free(pem);
	free(kpem);
	x509_key_free(k);
	x509_ca_free(ca);
	x509_ca_free(foreign);
	return 0;
}

static int tls_teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int r = system(cmd);

	free(cmd);
	free(ca_pem);
	free(srv_cert);
	free(srv_key);
	free(cli_cert);
	free(cli_key);
	free(foreign_cert);
	free(foreign_key);
	curl_global_cleanup();
	return r == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_methods_bodies_caps, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_stream_1000_chunks_keepalive, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_stream_tls_keepalive, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader_hits_queue_cap, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_client_leaves_mid_stream, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_deferred_answer_to_gone_client, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_free_with_open_stream, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_raw_protocol_edges, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_python_http_client_keepalive, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_tls_client_certificates, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_tls_without_client_ca, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_three_servers_one_loop, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_answer_observer_and_tags, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_stream_write_hook, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_free_stops_hooks, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_and_port_in_use, loop_setup,
						loop_teardown),
	};

	if (getenv("NAVE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("NAVE_TEST_FILTER"));
	return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
