/* kapi_history.c - the window of recent changes a watch resumes from.
 *
 * A fixed-size ring of committed changes, oldest overwritten first. Each entry
 * holds references to the (immutable) old and new objects, so keeping the
 * window costs a pointer per object version, not a copy. floor_rv moves up as
 * entries fall out: a watch asking for changes after an rv below the floor
 * cannot be served and gets 410 Expired.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kapi_store.h"

struct kapi_history_entry {
	uint64_t rv;
	enum kapi_event_type type;
	char *keys;      /* owned: "rkey\0ns\0name\0" in one allocation */
	const char *ns;  /* into keys */
	const char *name;
	json_t *old_obj; /* owned reference or NULL */
	json_t *new_obj; /* owned reference or NULL */
};

static void entry_clear(struct kapi_history_entry *e)
{
	free(e->keys);
	json_decref(e->old_obj);
	json_decref(e->new_obj);
	memset(e, 0, sizeof(*e));
}

/* Start an empty window of cap entries; changes at or before start_rv are
 * considered gone (a store reopened at rv N cannot replay what came before). */
void kapi_history_init(struct kapi_history *h, size_t cap, uint64_t start_rv)
{
	memset(h, 0, sizeof(*h));
	h->cap = cap ? cap : 4096;
	h->ring = xcalloc(h->cap, sizeof(*h->ring));
	h->floor_rv = start_rv;
}

/* Record one change; the oldest entry goes when the ring is full. */
void kapi_history_add(struct kapi_history *h, const struct kapi_store_event *ev)
{
	struct kapi_history_entry *e;
	size_t lr = strlen(ev->rkey), ln = strlen(ev->ns), lm = strlen(ev->name);

	if (h->len == h->cap) {
		e = &h->ring[h->head];
		h->floor_rv = e->rv;
		entry_clear(e);
		h->head = (h->head + 1) % h->cap;
		h->len--;
	}
	e = &h->ring[(h->head + h->len) % h->cap];
	e->rv = ev->rv;
	e->type = ev->type;
	e->keys = xmalloc(lr + ln + lm + 3);
	memcpy(e->keys, ev->rkey, lr + 1);
	memcpy(e->keys + lr + 1, ev->ns, ln + 1);
	memcpy(e->keys + lr + ln + 2, ev->name, lm + 1);
	e->ns = e->keys + lr + 1;
	e->name = e->keys + lr + ln + 2;
	e->old_obj = ev->old_obj ? json_incref(ev->old_obj) : NULL;
	e->new_obj = ev->new_obj ? json_incref(ev->new_obj) : NULL;
	h->len++;
}

/* Walk entries with rv > since_rv, oldest first; -ESTALE if since_rv is below
 * the floor. */
int kapi_history_walk(const struct kapi_history *h, uint64_t since_rv, kapi_store_event_fn fn, void *data,
		      uint64_t *ret_oldest)
{
	size_t i, lo, hi;

	if (since_rv < h->floor_rv) {
		if (ret_oldest)
			*ret_oldest = h->len ? h->ring[h->head].rv : h->floor_rv + 1;
		return -ESTALE;
	}
	/* rvs increase along the ring: binary search for the first rv > since_rv */
	lo = 0;
	hi = h->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->ring[(h->head + mid) % h->cap].rv <= since_rv)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < h->len; i++) {
		const struct kapi_history_entry *e = &h->ring[(h->head + i) % h->cap];
		struct kapi_store_event ev = {
			.rv = e->rv,
			.type = e->type,
			.rkey = e->keys,
			.ns = e->ns,
			.name = e->name,
			.old_obj = e->old_obj,
			.new_obj = e->new_obj,
		};
		int r = fn(data, &ev);

		if (r)
			return r;
	}
	return 0;
}

/* Release every entry and the ring. */
void kapi_history_free(struct kapi_history *h)
{
	size_t i;

	if (!h || !h->ring)
		return;
	for (i = 0; i < h->len; i++)
		entry_clear(&h->ring[(h->head + i) % h->cap]);
	free(h->ring);
	memset(h, 0, sizeof(*h));
}
