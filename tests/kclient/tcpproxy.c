/* tcpproxy.c - see tcpproxy.h. Test code: one pair of uv_tcp_t per
 * connection; freezing stops reading on both sides. */
#include "tcpproxy.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct pair;

struct side {
	uv_tcp_t tcp;
	struct pair *pair;
	struct side *peer;
	bool closed;
};

struct pair {
	struct tcpproxy *p;
	struct side client, upstream;
	uv_connect_t conn;
	bool connected;
	bool reading;
	int open;          /* sides not yet closed */
	struct pair *next;
};

struct tcpproxy {
	uv_loop_t *loop;
	uv_tcp_t listener;
	int target_port;
	bool down, frozen;
	unsigned accepted;
	struct pair *pairs;
	bool freeing;
	int handles;       /* listener + pairs' sides */
};

static void maybe_free_proxy(struct tcpproxy *p)
{
	if (p->freeing && p->handles == 0)
		free(p);
}

static void side_closed(uv_handle_t *h)
{
	struct side *s = h->data;
	struct pair *pr = s->pair;
	struct tcpproxy *p = pr->p;

	p->handles--;
	if (--pr->open == 0) {
		struct pair **pp;

		for (pp = &p->pairs; *pp; pp = &(*pp)->next)
			if (*pp == pr) {
				*pp = pr->next;
				break;
			}
		free(pr);
	}
	maybe_free_proxy(p);
}

static void pair_close(struct pair *pr)
{
	if (!pr->client.closed) {
		pr->client.closed = true;
		uv_close((uv_handle_t *)&pr->client.tcp, side_closed);
	}
	if (!pr->upstream.closed) {
		pr->upstream.closed = true;
		uv_close((uv_handle_t *)&pr->upstream.tcp, side_closed);
	}
}

struct fwd {
	uv_write_t req;
	char *data;
};

static void fwd_done(uv_write_t *req, int status)
{
	struct fwd *f = (struct fwd *)req;

	free(f->data);
	free(f);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = xmalloc(65536);
	b->len = 65536;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct side *s = st->data;

	if (n < 0) {
		free(b->base);
		pair_close(s->pair);
		return;
	}
	if (n > 0 && !s->peer->closed) {
		struct fwd *f = xnew(struct fwd);
		uv_buf_t out = uv_buf_init(b->base, (unsigned)n);

		f->data = b->base;
		if (uv_write(&f->req, (uv_stream_t *)&s->peer->tcp, &out, 1, fwd_done) < 0) {
			free(f->data);
			free(f);
			pair_close(s->pair);
		}
		return;
	}
	free(b->base);
}

static void pair_read(struct pair *pr, bool on)
{
	if (!pr->connected || pr->client.closed || pr->upstream.closed || pr->reading == on)
		return;
	pr->reading = on;
	if (on) {
		uv_read_start((uv_stream_t *)&pr->client.tcp, alloc_cb, read_cb);
		uv_read_start((uv_stream_t *)&pr->upstream.tcp, alloc_cb, read_cb);
	} else {
		uv_read_stop((uv_stream_t *)&pr->client.tcp);
		uv_read_stop((uv_stream_t *)&pr->upstream.tcp);
	}
}

static void on_upstream(uv_connect_t *req, int status)
{
	struct pair *pr = req->data;

	if (status < 0 || pr->client.closed) {
		pair_close(pr);
		return;
	}
	pr->connected = true;
	if (!pr->p->frozen)
		pair_read(pr, true);
}

static void on_accept(uv_stream_t *l, int status)
{
	struct tcpproxy *p = l->data;
	struct pair *pr;
	struct sockaddr_in a;

	if (status < 0)
		return;
	pr = xnew(struct pair);
	pr->p = p;
	pr->client.pair = pr->upstream.pair = pr;
	pr->client.peer = &pr->upstream;
	pr->upstream.peer = &pr->client;
	uv_tcp_init(p->loop, &pr->client.tcp);
	uv_tcp_init(p->loop, &pr->upstream.tcp);
	pr->client.tcp.data = &pr->client;
	pr->upstream.tcp.data = &pr->upstream;
	pr->open = 2;
	p->handles += 2;
	pr->next = p->pairs;
	p->pairs = pr;
	if (uv_accept(l, (uv_stream_t *)&pr->client.tcp) < 0 || p->down) {
		pair_close(pr);
		return;
	}
	p->accepted++;
	uv_ip4_addr("127.0.0.1", p->target_port, &a);
	pr->conn.data = pr;
	if (uv_tcp_connect(&pr->conn, &pr->upstream.tcp, (const struct sockaddr *)&a, on_upstream) < 0)
		pair_close(pr);
}

struct tcpproxy *tcpproxy_new(uv_loop_t *loop, int target_port, int *ret_port)
{
	struct tcpproxy *p = xnew(struct tcpproxy);
	struct sockaddr_in a;
	struct sockaddr_storage got;
	int len = sizeof(got);

	p->loop = loop;
	p->target_port = target_port;
	uv_tcp_init(loop, &p->listener);
	p->listener.data = p;
	p->handles = 1;
	uv_ip4_addr("127.0.0.1", 0, &a);
	if (uv_tcp_bind(&p->listener, (const struct sockaddr *)&a, 0) < 0 ||
	    uv_listen((uv_stream_t *)&p->listener, 128, on_accept) < 0)
		abort();
	uv_tcp_getsockname(&p->listener, (struct sockaddr *)&got, &len);
	*ret_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
	return p;
}

void tcpproxy_set_down(struct tcpproxy *p, bool down)
{
	p->down = down;
	if (down)
		for (struct pair *pr = p->pairs; pr; pr = pr->next)
			pair_close(pr);
}

void tcpproxy_set_frozen(struct tcpproxy *p, bool frozen)
{
	p->frozen = frozen;
	for (struct pair *pr = p->pairs; pr; pr = pr->next)
		pair_read(pr, !frozen);
}

unsigned tcpproxy_accepted(const struct tcpproxy *p)
{
	return p->accepted;
}

static void listener_closed(uv_handle_t *h)
{
	struct tcpproxy *p = h->data;

	p->handles--;
	maybe_free_proxy(p);
}

void tcpproxy_free(struct tcpproxy *p)
{
	p->freeing = true;
	for (struct pair *pr = p->pairs; pr; pr = pr->next)
		pair_close(pr);
	uv_close((uv_handle_t *)&p->listener, listener_closed);
}
