/* Unit tests for common/httpd_ws: a plain-HTTP httpd with websocket
 * endpoints runs on a libuv loop in the main thread; the client is a raw
 * socket speaking RFC 6455 in a second thread, so the loop keeps serving
 * while it waits (every wait has a deadline). The server's callbacks act on
 * the messages' text ("echo:...", "coalesce", "flood", "close"), so each test
 * is a short conversation. The TLS side (client certificates) is covered by
 * tests/stream against the real hub. */
#include <errno.h>
#include <netinet/in.h>
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
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "alloc.h"
#include "httpd.h"
#include "httpd_ws.h"

#define DEADLINE_MS 20000
#define FLOOD_MSG 8192
#define QUEUE_CAP (64 * 1024)
#define MAX_MESSAGE (64 * 1024)

static uv_loop_t loop;

/* Server ------------------------------------------------------------------ */

struct srv {
	struct httpd *h;
	struct httpd_ws_endpoint *ep, *capped;
	int port;
	atomic_int opens, closes, messages, oversize, drains, refuse_next;
	atomic_int flood_sent;
	size_t oversize_len;
	struct httpd_ws_conn *last;
};

static struct srv srv;

static void dummy_handler(struct httpd_req *req, void *data)
{
	(void)data;
	httpd_respond(req, 200, "text/plain", "ok", 2);
}

static int s_open(void *data, struct httpd_ws_conn *c, const struct httpd_ws_peer *peer, const char **ret_msg)
{
	struct srv *s = data;

	assert_non_null(peer->addr);
	assert_null(peer->cn);
	if (atomic_exchange(&s->refuse_next, 0)) {
		*ret_msg = "go away";
		return 403;
	}
	atomic_fetch_add(&s->opens, 1);
	s->last = c;
	return 0;
}

static void send_text(struct httpd_ws_conn *c, const char *txt, uint64_t tag)
{
	struct httpd_ws_msg *m = httpd_ws_msg_new(txt, strlen(txt));

	assert_int_equal(httpd_ws_send(c, m, tag), 0);
	httpd_ws_msg_unref(m);
}

static void s_message(void *data, struct httpd_ws_conn *c, char *msg, size_t len)
{
	struct srv *s = data;

	atomic_fetch_add(&s->messages, 1);
	assert_int_equal(strlen(msg), len);
	if (!strncmp(msg, "echo:", 5)) {
		struct httpd_ws_msg *m = httpd_ws_msg_take(msg, len); /* takes msg */

		assert_int_equal(httpd_ws_send(c, m, 0), 0);
		httpd_ws_msg_unref(m);
		return;
	}
	if (!strcmp(msg, "coalesce")) {
		/* nothing is written before this callback returns: the second
		 * replaces the first, the untagged one follows */
		send_text(c, "first", 7);
		send_text(c, "second", 7);
		send_text(c, "end", 0);
	} else if (!strcmp(msg, "flood")) {
		char *big = xmalloc(FLOOD_MSG + 1);
		struct httpd_ws_msg *m;
		int n = 0, r;

		memset(big, 'f', FLOOD_MSG);
		big[FLOOD_MSG] = '\0';
		m = httpd_ws_msg_take(big, FLOOD_MSG); /* one message, shared by every entry */
		while ((r = httpd_ws_send(c, m, 0)) == 0)
			n++;
		assert_int_equal(r, -ENOBUFS);
		assert_true(httpd_ws_queued_bytes(c) <= QUEUE_CAP);
		assert_int_equal(httpd_ws_queued_msgs(c), (size_t)n);
		httpd_ws_msg_unref(m);
		atomic_store(&s->flood_sent, n);
	} else if (!strcmp(msg, "close")) {
		send_text(c, "closing", 0);
		httpd_ws_close(c, 4001, "bye", true);
		assert_true(httpd_ws_closing(c));
		{
			struct httpd_ws_msg *m = httpd_ws_msg_new("x", 1);

			assert_int_equal(httpd_ws_send(c, m, 0), -ENOTCONN);
			httpd_ws_msg_unref(m);
		}
	}
	free(msg);
}

static void s_oversize(void *data, struct httpd_ws_conn *c, size_t len)
{
	struct srv *s = data;
	char txt[64];

	atomic_fetch_add(&s->oversize, 1);
	s->oversize_len = len;
	snprintf(txt, sizeof(txt), "oversize:%zu", len);
	send_text(c, txt, 0);
}

static void s_drain(void *data, struct httpd_ws_conn *c)
{
	struct srv *s = data;
	char txt[64];

	atomic_fetch_add(&s->drains, 1);
	snprintf(txt, sizeof(txt), "drained:%d", atomic_load(&s->flood_sent));
	send_text(c, txt, 0);
}

static void s_close(void *data, struct httpd_ws_conn *c)
{
	struct srv *s = data;

	atomic_fetch_add(&s->closes, 1);
	if (s->last == c)
		s->last = NULL;
}

static const struct httpd_ws_callbacks cbs = {
	.on_open = s_open, .on_message = s_message, .on_oversize = s_oversize,
	.on_drain = s_drain, .on_close = s_close,
};

/* Loop plumbing ------------------------------------------------------------- */

struct job {
	void (*fn)(void *arg);
	void *arg;
	atomic_int done;
	uv_async_t async;
};

static void noop_timer(uv_timer_t *t)
{
	(void)t;
}

static void noop_async(uv_async_t *a)
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

static void run_client(void (*fn)(void *), void *arg)
{
	struct job j = {.fn = fn, .arg = arg};
	uv_timer_t tick;
	uint64_t start;
	pthread_t t;

	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, noop_timer, 20, 20);
	uv_async_init(&loop, &j.async, noop_async);
	uv_update_time(&loop);
	start = uv_now(&loop);
	assert_int_equal(pthread_create(&t, NULL, job_main, &j), 0);
	while (!atomic_load(&j.done) && uv_now(&loop) - start < DEADLINE_MS) {
		uv_run(&loop, UV_RUN_ONCE);
		uv_update_time(&loop);
	}
	pthread_join(t, NULL);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_close((uv_handle_t *)&j.async, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* Run the loop for a while (lets closes finish). */
static void spin(int ms)
{
	uv_timer_t tick;
	uint64_t start;

	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, noop_timer, 5, 5);
	uv_update_time(&loop);
	start = uv_now(&loop);
	while (uv_now(&loop) - start < (uint64_t)ms) {
		uv_run(&loop, UV_RUN_ONCE);
		uv_update_time(&loop);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* Client (runs in the job thread; failures are recorded, not asserted) ------ */

static char client_err[256];

static void cfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cfail(const char *fmt, ...)
{
	va_list ap;

	if (client_err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(client_err, sizeof(client_err), fmt, ap);
	va_end(ap);
}

static int readn(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)p + got, n - got, 0);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Connect and ask for an upgrade; returns the socket and the HTTP status and
 * head (with the body of a refusal) in head. -1 when no answer came. */
static int ws_connect(const char *path, const char *proto, int *ret_status, char *head, size_t headlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 10};
	char req[512];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
		     path, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "", proto ? "\r\n" : "");
	send(fd, req, (size_t)n, 0);
	*ret_status = 0;
	head[0] = '\0';
	/* read the head byte by byte (no frame bytes are consumed), then a
	 * refusal's body */
	while (got + 1 < headlen && !strstr(head, "\r\n\r\n")) {
		if (recv(fd, head + got, 1, 0) != 1)
			break;
		head[++got] = '\0';
	}
	if (sscanf(head, "HTTP/1.1 %d", ret_status) != 1)
		*ret_status = 0;
	if (*ret_status != 101) {
		ssize_t r = recv(fd, head + got, headlen - got - 1, 0);

		if (r > 0)
			head[got + (size_t)r] = '\0';
	}
	return fd;
}

static void ws_send(int fd, int opcode, const void *data, size_t len, bool fin)
{
	unsigned char hdr[14] = {(unsigned char)((fin ? 0x80 : 0) | opcode)}, mask[4] = {1, 2, 3, 4};
	size_t h = 1;
	char *body = xmalloc(len + 1);

	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int k = 7; k >= 0; k--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * k));
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		body[i] = (char)(((const char *)data)[i] ^ mask[i & 3]);
	send(fd, hdr, h, MSG_NOSIGNAL);
	send(fd, body, len, MSG_NOSIGNAL);
	free(body);
}

/* One whole message into *ret (caller frees); returns its opcode (1 text, 8
 * close: *ret holds the 2-byte code and the reason) or -1. */
static int ws_recv(int fd, char **ret, size_t *ret_len)
{
	char *msg = NULL;
	size_t mlen = 0;
	int first = -1;

	for (;;) {
		unsigned char h[2], ext[8];
		uint64_t n;

		if (readn(fd, h, 2) < 0)
			goto fail;
		n = h[1] & 0x7f;
		if (n == 126) {
			if (readn(fd, ext, 2) < 0)
				goto fail;
			n = ((uint64_t)ext[0] << 8) | ext[1];
		} else if (n == 127) {
			if (readn(fd, ext, 8) < 0)
				goto fail;
			n = 0;
			for (int k = 0; k < 8; k++)
				n = (n << 8) | ext[k];
		}
		if (n > (8u << 20))
			goto fail;
		msg = xrealloc(msg, mlen + n + 1);
		if (readn(fd, msg + mlen, n) < 0)
			goto fail;
		mlen += n;
		msg[mlen] = '\0';
		if (first < 0)
			first = h[0] & 0x0f;
		if (h[0] & 0x80)
			break;
	}
	*ret = msg;
	*ret_len = mlen;
	return first;
fail:
	free(msg);
	return -1;
}

static bool expect_text(int fd, const char *want)
{
	char *m = NULL;
	size_t n = 0;
	int op = ws_recv(fd, &m, &n);
	bool ok = op == 1 && n == strlen(want) && !memcmp(m, want, n);

	if (!ok)
		cfail("expected \"%.40s\", got opcode %d \"%.60s\"", want, op, m ? m : "");
	free(m);
	return ok;
}

static bool expect_close(int fd, int code, const char *reason)
{
	char *m = NULL;
	size_t n = 0;
	int op = ws_recv(fd, &m, &n);
	int got = n >= 2 ? ((unsigned char)m[0] << 8) | (unsigned char)m[1] : -1;
	bool ok = op == 8 && got == code && (!reason || (n - 2 == strlen(reason) && !memcmp(m + 2, reason, n - 2)));

	if (!ok)
		cfail("expected close %d %s, got opcode %d code %d \"%.*s\"", code, reason ? reason : "", op, got,
		      n > 2 ? (int)(n - 2) : 0, n > 2 ? m + 2 : "");
	free(m);
	return ok;
}

/* Conversations ----------------------------------------------------------------- */

static void c_refusals(void *arg)
{
	char head[2048];
	int st, fd;

	(void)arg;
	fd = ws_connect("/other", "test.proto", &st, head, sizeof(head));
	if (st != 404 || !strstr(head, "use /ws"))
		cfail("wrong path: %d %s", st, head);
	close(fd);
	fd = ws_connect("/ws", NULL, &st, head, sizeof(head));
	if (st == 101)
		cfail("an upgrade without a subprotocol was accepted");
	close(fd);
	fd = ws_connect("/ws", "chat.example", &st, head, sizeof(head));
	if (st == 101)
		cfail("an upgrade with an unknown subprotocol was accepted");
	close(fd);
	atomic_store(&srv.refuse_next, 1);
	fd = ws_connect("/ws", "test.proto", &st, head, sizeof(head));
	if (st != 403 || !strstr(head, "go away") || !strstr(head, "\"kind\":\"Status\""))
		cfail("on_open refusal: %d %s", st, head);
	close(fd);
	/* the connection cap of the second endpoint: 1 */
	{
		int fd1 = ws_connect("/capped", "capped.proto", &st, head, sizeof(head)), fd2;

		if (st != 101)
			cfail("first capped connection: %d", st);
		fd2 = ws_connect("/capped", "capped.proto", &st, head, sizeof(head));
		if (st != 503 || !strstr(head, "Retry-After: 5"))
			cfail("over the cap: %d %s", st, head);
		close(fd2);
		close(fd1);
	}
}

static void c_echo(void *arg)
{
	char head[1024], *big = xmalloc(100001);
	int st, fd = ws_connect("/ws", "test.proto", &st, head, sizeof(head));

	(void)arg;
	if (st != 101 || !strstr(head, "Sec-WebSocket-Protocol: test.proto")) {
		cfail("upgrade: %d %s", st, head);
		goto out;
	}
	ws_send(fd, 1, "echo:hello", 10, true);
	expect_text(fd, "echo:hello");
	/* three frames, one message */
	ws_send(fd, 1, "echo:a", 6, false);
	ws_send(fd, 0, "bc", 2, false);
	ws_send(fd, 0, "def", 3, true);
	expect_text(fd, "echo:abcdef");
	/* larger than lws's receive buffer and than one frame sent back */
	memcpy(big, "echo:", 5);
	memset(big + 5, 'z', 100000 - 5);
	big[60000] = '\0';
	ws_send(fd, 1, big, 60000, true);
	expect_text(fd, big);
	big[60000] = 'z';
	/* over max_message: discarded, reported, the connection goes on */
	ws_send(fd, 1, big, MAX_MESSAGE + 10, true);
	expect_text(fd, "oversize:65546");
	ws_send(fd, 1, "echo:still", 10, true);
	expect_text(fd, "echo:still");
	ws_send(fd, 1, "coalesce", 8, true);
	expect_text(fd, "second");
	expect_text(fd, "end");
	ws_send(fd, 1, "close", 5, true);
	expect_text(fd, "closing");
	expect_close(fd, 4001, "bye");
out:
	free(big);
	close(fd);
}

static void c_binary(void *arg)
{
	char head[1024];
	int st, fd = ws_connect("/ws", "test.proto", &st, head, sizeof(head));

	(void)arg;
	ws_send(fd, 2, "\x01\x02", 2, true);
	expect_close(fd, 1003, NULL);
	close(fd);
}

static void c_flood(void *arg)
{
	char head[1024], want[64];
	int st, fd = ws_connect("/ws", "test.proto", &st, head, sizeof(head)), n = 0;
	struct timeval tv0, tv;

	(void)arg;
	ws_send(fd, 1, "flood", 5, true);
	/* do not read until the server's queue refused (a deadline, not a sleep) */
	gettimeofday(&tv0, NULL);
	while (!atomic_load(&srv.flood_sent)) {
		gettimeofday(&tv, NULL);
		if (tv.tv_sec - tv0.tv_sec > 10) {
			cfail("the server never filled its queue");
			goto out;
		}
		usleep(1000);
	}
	for (;;) {
		char *m = NULL;
		size_t len = 0;
		int op = ws_recv(fd, &m, &len);

		if (op == 1 && len == FLOOD_MSG) {
			n++;
			free(m);
			continue;
		}
		snprintf(want, sizeof(want), "drained:%d", atomic_load(&srv.flood_sent));
		if (op != 1 || strcmp(m, want))
			cfail("after %d flood messages: opcode %d \"%.40s\" (want %s)", n, op, m ? m : "", want);
		free(m);
		break;
	}
	if (n != atomic_load(&srv.flood_sent))
		cfail("got %d of %d queued messages", n, atomic_load(&srv.flood_sent));
out:
	close(fd);
}

static void c_stay(void *arg)
{
	char head[1024];
	int st, *fdp = arg;

	*fdp = ws_connect("/ws", "test.proto", &st, head, sizeof(head));
	if (st != 101)
		cfail("upgrade: %d", st);
}

static void c_expect_going_away(void *arg)
{
	int *fdp = arg;

	expect_close(*fdp, 1001, "bye all");
	close(*fdp);
}

/* Tests -------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct httpd_config cfg = {.listen_addr = "127.0.0.1", .handler = dummy_handler};
	struct httpd_ws_limits lim = {.max_message = MAX_MESSAGE, .max_queue_bytes = QUEUE_CAP},
			       cap = {.max_connections = 1};

	(void)state;
	memset(&srv, 0, sizeof(srv));
	client_err[0] = '\0';
	assert_int_equal(httpd_new(&loop, &cfg, &srv.h), 0);
	srv.port = httpd_port(srv.h);
	assert_int_equal(httpd_ws_register(srv.h, "/ws", "test.proto", &cbs, &lim, &srv, &srv.ep), 0);
	assert_int_equal(httpd_ws_register(srv.h, "/capped", "capped.proto", &cbs, &cap, &srv, &srv.capped), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	srv.h = httpd_free(srv.h);
	spin(100);
	return 0;
}

static void test_register_errors(void **state)
{
	struct httpd_ws_endpoint *ep;

	(void)state;
	assert_int_equal(httpd_ws_register(srv.h, "/x", "test.proto", &cbs, NULL, &srv, &ep), -EEXIST);
	assert_int_equal(httpd_ws_register(srv.h, "x", "other.proto", &cbs, NULL, &srv, &ep), -EINVAL);
	assert_int_equal(httpd_ws_register(srv.h, "/x", "bad proto", &cbs, NULL, &srv, &ep), -EINVAL);
	assert_int_equal(httpd_ws_register(srv.h, "/x", "third.proto", &cbs, NULL, &srv, &ep), 0);
	assert_int_equal(httpd_ws_register(srv.h, "/y", "fourth.proto", &cbs, NULL, &srv, &ep), -ENOSPC);
}

static void test_refusals(void **state)
{
	(void)state;
	run_client(c_refusals, NULL);
	assert_string_equal(client_err, "");
	spin(50);
	assert_int_equal(atomic_load(&srv.opens), 1);  /* the first capped one */
	assert_int_equal(atomic_load(&srv.closes), 1);
}

static void test_echo_fragments_oversize_coalesce_close(void **state)
{
	(void)state;
	run_client(c_echo, NULL);
	assert_string_equal(client_err, "");
	assert_int_equal(atomic_load(&srv.oversize), 1);
	assert_int_equal(srv.oversize_len, MAX_MESSAGE + 10);
	spin(50);
	assert_int_equal(atomic_load(&srv.closes), 1);
	assert_int_equal(httpd_ws_endpoint_conns(srv.ep), 0);
}

static void test_binary_closes(void **state)
{
	(void)state;
	run_client(c_binary, NULL);
	assert_string_equal(client_err, "");
	assert_int_equal(atomic_load(&srv.messages), 0);
}

static void test_queue_cap_and_drain(void **state)
{
	(void)state;
	run_client(c_flood, NULL);
	assert_string_equal(client_err, "");
	assert_true(atomic_load(&srv.flood_sent) > 0);
	assert_true(atomic_load(&srv.flood_sent) <= QUEUE_CAP / FLOOD_MSG);
	assert_int_equal(atomic_load(&srv.drains), 1);
}

static void test_endpoint_close(void **state)
{
	int fd = -1;

	(void)state;
	run_client(c_stay, &fd);
	assert_string_equal(client_err, "");
	spin(50);
	assert_int_equal(httpd_ws_endpoint_conns(srv.ep), 1);
	httpd_ws_endpoint_close(srv.ep, 1001, "bye all");
	/* on_close ran at once; nothing after */
	assert_int_equal(atomic_load(&srv.closes), 1);
	assert_int_equal(httpd_ws_endpoint_conns(srv.ep), 0);
	run_client(c_expect_going_away, &fd);
	assert_string_equal(client_err, "");
	assert_int_equal(atomic_load(&srv.closes), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_fragments_oversize_coalesce_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_cap_and_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_close, setup, teardown),
	};
	int r;

	uv_loop_init(&loop);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "handles left on the loop\n");
		r = 1;
	}
	return r;
}
