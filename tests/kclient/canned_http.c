/* canned_http.c - the canned HTTP responder; see canned_http.h. Test code:
 * aborts on surprises instead of handling them. */
#include "canned_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"

struct canned_conn {
	uv_tcp_t tcp;
	struct canned_server *s;
	struct buf in;
	bool closing;
	struct canned_conn *next;
};

struct canned_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct canned_response *queue;
	size_t nqueue, qhead;
	struct canned_response def;
	struct canned_request *reqs;
	size_t nreqs;
	struct canned_conn *conns;
	int open;
	char **route_paths;
	struct canned_response *routes;
	size_t nroutes;
};

static struct canned_response copy_resp(const struct canned_response *r)
{
	struct canned_response c = *r;
	size_t len = r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0;

	c.headers = r->headers ? xstrdup(r->headers) : NULL;
	if (r->body) {
		char *b = xmalloc(len + 1);

		memcpy(b, r->body, len);
		b[len] = '\0';
		c.body = b;
	}
	c.body_len = len;
	return c;
}

static void free_resp(struct canned_response *r)
{
	free((char *)r->headers);
	free((char *)r->body);
}

static void conn_closed(uv_handle_t *h)
{
	struct canned_conn *c = h->data;
	struct canned_server *s = c->s;
	struct canned_conn **pp;

	for (pp = &s->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	buf_free(&c->in);
	free(c);
	if (--s->open == 0)
		free(s);
}

static void conn_close(struct canned_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

struct wreq {
	uv_write_t req;
	char *data;
	struct canned_conn *close_after; /* close the connection once written */
};

static void written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	if (w->close_after)
		conn_close(w->close_after);
	free(w->data);
	free(w);
}

static void send_bytes(struct canned_conn *c, char *data, size_t len, bool close_after)
{
	struct wreq *w = xnew(struct wreq);
	uv_buf_t b = uv_buf_init(data, (unsigned)len);

	w->data = data;
	w->close_after = close_after ? c : NULL;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, written) < 0) {
		free(data);
		free(w);
		conn_close(c);
	}
}

static void respond(struct canned_conn *c, const struct canned_response *r)
{
	struct buf out;

	switch (r->action) {
	case CANNED_CLOSE:
		conn_close(c);
		return;
	case CANNED_HANG:
		return;
	case CANNED_STREAM:
		buf_init(&out, 1 << 30);
		buf_printf(&out, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nConnection: close\r\n%s\r\n",
			   r->status ? r->status : 200, r->headers ? r->headers : "");
		if (r->body)
			buf_append(&out, r->body, r->body_len);
		{
			size_t n;
			char *data = buf_steal(&out, &n);

			send_bytes(c, data, n, true);
		}
		return;
	case CANNED_REPLY:
		buf_init(&out, 1 << 30);
		buf_printf(&out, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
			   r->status, r->body_len, r->headers ? r->headers : "");
		if (r->body)
			buf_append(&out, r->body, r->body_len);
		{
			size_t n;
			char *data = buf_steal(&out, &n);

			send_bytes(c, data, n, false);
		}
		return;
	}
}

/* Parse complete requests out of c->in and answer them. */
static void handle(struct canned_conn *c)
{
	struct canned_server *s = c->s;

	for (;;) {
		char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
		size_t head_len, body_len = 0, total;
		struct canned_request *q;
		const char *cl;
		char method[16], path[8192];

		if (!end)
			return;
		head_len = (size_t)(end - c->in.data) + 4;
		cl = strcasestr(c->in.data, "\r\ncontent-length:");
		if (cl && cl < end)
			body_len = strtoul(cl + 17, NULL, 10);
		total = head_len + body_len;
		if (c->in.len < total)
			return;
		if (sscanf(c->in.data, "%15s %8191s", method, path) != 2)
			abort();
		s->reqs = xrealloc(s->reqs, (s->nreqs + 1) * sizeof(*s->reqs));
		q = &s->reqs[s->nreqs++];
		q->method = xstrdup(method);
		q->path = xstrdup(path);
		q->head = xstrndup(c->in.data, head_len);
		q->body = xstrndup(c->in.data + head_len, body_len);
		q->body_len = body_len;
		memmove(c->in.data, c->in.data + total, c->in.len - total);
		c->in.len -= total;
		c->in.data[c->in.len] = '\0';
		{
			size_t plen = strcspn(path, "?");
			const struct canned_response *route = NULL;

			for (size_t i = 0; i < s->nroutes; i++)
				if (strlen(s->route_paths[i]) == plen && strncmp(s->route_paths[i], path, plen) == 0)
					route = &s->routes[i];
			if (route)
				respond(c, route);
			else if (s->qhead < s->nqueue)
				respond(c, &s->queue[s->qhead++]);
			else
				respond(c, &s->def);
		}
		if (c->closing)
			return;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = xmalloc(65536);
	b->len = 65536;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct canned_conn *c = st->data;

	if (n < 0) {
		conn_close(c);
	} else if (n > 0) {
		buf_append(&c->in, b->base, (size_t)n);
		handle(c);
	}
	free(b->base);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct canned_server *s = l->data;
	struct canned_conn *c;

	if (status < 0)
		return;
	c = xnew(struct canned_conn);
	c->s = s;
	buf_init(&c->in, 64 << 20);
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	s->open++;
	c->next = s->conns;
	s->conns = c;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void listener_closed(uv_handle_t *h)
{
	struct canned_server *s = h->data;

	if (--s->open == 0)
		free(s);
}

struct canned_server *canned_new(uv_loop_t *loop, int *ret_port)
{
	struct canned_server *s = xnew(struct canned_server);
	struct sockaddr_in addr;
	struct sockaddr_storage got;
	int len = sizeof(got);

	s->loop = loop;
	s->def = (struct canned_response){ .action = CANNED_REPLY, .status = 404 };
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	s->open = 1;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	if (uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0) < 0 ||
	    uv_listen((uv_stream_t *)&s->listener, 128, on_connection) < 0)
		abort();
	uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
	*ret_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
	return s;
}

void canned_push(struct canned_server *s, const struct canned_response *r)
{
	s->queue = xrealloc(s->queue, (s->nqueue + 1) * sizeof(*s->queue));
	s->queue[s->nqueue++] = copy_resp(r);
}

void canned_route(struct canned_server *s, const char *path, const struct canned_response *r)
{
	for (size_t i = 0; i < s->nroutes; i++)
		if (strcmp(s->route_paths[i], path) == 0) {
			free_resp(&s->routes[i]);
			s->routes[i] = copy_resp(r);
			return;
		}
	s->route_paths = xrealloc(s->route_paths, (s->nroutes + 1) * sizeof(*s->route_paths));
	s->routes = xrealloc(s->routes, (s->nroutes + 1) * sizeof(*s->routes));
	s->route_paths[s->nroutes] = xstrdup(path);
	s->routes[s->nroutes++] = copy_resp(r);
}

size_t canned_count_path(const struct canned_server *s, const char *path)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nreqs; i++) {
		size_t plen = strcspn(s->reqs[i].path, "?");

		if (strlen(path) == plen && strncmp(s->reqs[i].path, path, plen) == 0)
			n++;
	}
	return n;
}

void canned_set_default(struct canned_server *s, const struct canned_response *r)
{
	free_resp(&s->def);
	s->def = copy_resp(r);
}

size_t canned_count(const struct canned_server *s)
{
	return s->nreqs;
}

const struct canned_request *canned_get(const struct canned_server *s, size_t i)
{
	return i < s->nreqs ? &s->reqs[i] : NULL;
}

const char *canned_header(const struct canned_server *s, size_t i, const char *name, char *out, size_t n)
{
	const struct canned_request *q = canned_get(s, i);
	size_t nl = strlen(name);
	const char *p;

	if (!q)
		return NULL;
	for (p = strstr(q->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		const char *eol = strstr(line, "\r\n");

		if (!eol)
			break;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = (size_t)(eol - v);
			if (len >= n)
				len = n - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return out;
		}
	}
	return NULL;
}

void canned_free(struct canned_server *s)
{
	for (size_t i = 0; i < s->nqueue; i++)
		free_resp(&s->queue[i]);
	free(s->queue);
	free_resp(&s->def);
	for (size_t i = 0; i < s->nreqs; i++) {
		free(s->reqs[i].method);
		free(s->reqs[i].path);
		free(s->reqs[i].head);
		free(s->reqs[i].body);
	}
	free(s->reqs);
	for (size_t i = 0; i < s->nroutes; i++) {
		free(s->route_paths[i]);
		free_resp(&s->routes[i]);
	}
	free(s->route_paths);
	free(s->routes);
	for (struct canned_conn *c = s->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->listener, listener_closed);
}
