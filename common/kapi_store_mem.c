/* kapi_store_mem.c - the in-memory storage backend (nave-kubesim).
 *
 * Per resource key, an open-addressing hash table (linear probing, backward
 * shift deletion) from "ns/name" to a node holding the current immutable
 * object; nodes never move, so a sorted array of node pointers serves ordered
 * lists and pagination. The sorted array is rebuilt lazily only when keys are
 * added or removed; updates of existing objects (the common case: status
 * writes, applies) keep it. Everything runs on the server's loop thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "kapi_store.h"

struct mem_node {
	uint64_t hash;
	json_t *obj;    /* owned reference */
	size_t ns_len;  /* bytes of the namespace part of key */
	char key[];     /* "ns/name" */
};

struct mem_res {
	char *rkey;               /* owned */
	struct mem_node **tab;    /* owned table of owned nodes; NULL slots empty */
	size_t cap, n;            /* cap is a power of two */
	struct mem_node **sorted; /* owned array of borrowed nodes, n entries when !dirty */
	bool dirty;
	struct mem_res *next;
};

struct mem_store {
	struct kapi_store base;
	struct mem_res *res;      /* owned list */
	uint64_t rv;
	struct kapi_history hist;
};

static uint64_t hash_key(const char *s, size_t len)
{
	uint64_t h = fnv1a(FNV1A_INIT, s, len);

	return h ^ (h >> 29);
}

static struct mem_res *res_find(struct mem_store *m, const char *rkey, bool create)
{
	struct mem_res *r;

	for (r = m->res; r; r = r->next)
		if (!strcmp(r->rkey, rkey))
			return r;
	if (!create)
		return NULL;
	r = xnew(struct mem_res);
	r->rkey = xstrdup(rkey);
	r->cap = 64;
	r->tab = xcalloc(r->cap, sizeof(*r->tab));
	r->next = m->res;
	m->res = r;
	return r;
}

static size_t slot_find(const struct mem_res *r, const char *key, size_t len, uint64_t h, bool *ret_found)
{
	size_t mask = r->cap - 1, i = h & mask;

	while (r->tab[i]) {
		if (r->tab[i]->hash == h && !strncmp(r->tab[i]->key, key, len) && r->tab[i]->key[len] == '\0') {
			*ret_found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*ret_found = false;
	return i;
}

static void res_grow(struct mem_res *r)
{
	struct mem_node **old = r->tab;
	size_t oldcap = r->cap, i;

	r->cap *= 2;
	r->tab = xcalloc(r->cap, sizeof(*r->tab));
	for (i = 0; i < oldcap; i++) {
		if (old[i]) {
			size_t j = old[i]->hash & (r->cap - 1);

			while (r->tab[j])
				j = (j + 1) & (r->cap - 1);
			r->tab[j] = old[i];
		}
	}
	free(old);
}

/* Remove slot i, shifting later members of its probe run back. */
static void res_remove_slot(struct mem_res *r, size_t i)
{
	size_t mask = r->cap - 1, j = i;

	r->tab[i] = NULL;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!r->tab[j])
			break;
		home = r->tab[j]->hash & mask;
		/* move j back to i if its home is not in (i, j] cyclically */
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
			r->tab[i] = r->tab[j];
			r->tab[j] = NULL;
			i = j;
		}
	}
}

static int node_cmp(const void *a, const void *b)
{
	const struct mem_node *x = *(const struct mem_node *const *)a;
	const struct mem_node *y = *(const struct mem_node *const *)b;

	return strcmp(x->key, y->key);
}

static void res_sort(struct mem_res *r)
{
	size_t i, k = 0;

	if (!r->dirty && (r->sorted || r->n == 0))
		return;
	free(r->sorted);
	r->sorted = xcalloc(r->n ? r->n : 1, sizeof(*r->sorted));
	for (i = 0; i < r->cap; i++)
		if (r->tab[i])
			r->sorted[k++] = r->tab[i];
	qsort(r->sorted, k, sizeof(*r->sorted), node_cmp);
	r->dirty = false;
}

/* First index in sorted whose key is > after (strictly) or >= prefix. */
static size_t lower_bound(struct mem_res *r, const char *s, bool strict)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->sorted[mid]->key, s);

		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int mem_get(struct kapi_store *st, const char *rkey, const char *ns, const char *name, json_t **ret_obj)
{
	struct mem_store *m = (struct mem_store *)st;
	struct mem_res *r = res_find(m, rkey, false);
	char stack[512], *key;
	size_t len, i;
	bool found = false;

	if (!r)
		return -ENOENT;
	key = kapi_store_key(ns, name, stack, sizeof(stack), &len);
	i = slot_find(r, key, len, hash_key(key, len), &found);
	if (key != stack)
		free(key);
	if (!found)
		return -ENOENT;
	*ret_obj = json_incref(r->tab[i]->obj);
	return 0;
}

static int mem_commit(struct kapi_store *st, const struct kapi_store_event *ev)
{
	struct mem_store *m = (struct mem_store *)st;
	struct mem_res *r = res_find(m, ev->rkey, ev->type != KAPI_EVENT_DELETED);
	char stack[512], *key;
	size_t len, i;
	uint64_t h;
	bool found = false;

	if (ev->rv != m->rv + 1)
		return -EINVAL;
	if (!r)
		return -ENOENT;
	key = kapi_store_key(ev->ns, ev->name, stack, sizeof(stack), &len);
	h = hash_key(key, len);
	i = slot_find(r, key, len, h, &found);
	if (ev->type == KAPI_EVENT_DELETED) {
		if (!found) {
			if (key != stack)
				free(key);
			return -ENOENT;
		}
		json_decref(r->tab[i]->obj);
		free(r->tab[i]);
		res_remove_slot(r, i);
		r->n--;
		r->dirty = true;
	} else if (found) {
		json_decref(r->tab[i]->obj);
		r->tab[i]->obj = json_incref(ev->new_obj);
	} else {
		struct mem_node *nd = xmalloc(sizeof(*nd) + len + 1);

		nd->hash = h;
		nd->obj = json_incref(ev->new_obj);
		nd->ns_len = strlen(ev->ns);
		memcpy(nd->key, key, len + 1);
		r->tab[i] = nd;
		r->n++;
		r->dirty = true;
		if (r->n * 4 >= r->cap * 3)
			res_grow(r);
	}
	if (key != stack)
		free(key);
	m->rv = ev->rv;
	kapi_history_add(&m->hist, ev);
	return 0;
}

static int mem_list(struct kapi_store *st, const char *rkey, const char *ns, const char *after,
		    kapi_store_obj_fn fn, void *data)
{
	struct mem_store *m = (struct mem_store *)st;
	struct mem_res *r = res_find(m, rkey, false);
	char prefix[320] = "";
	size_t i, plen = 0;

	if (!r || r->n == 0)
		return 0;
	res_sort(r);
	if (ns && kapi_store_ns_prefix(ns, prefix, sizeof(prefix), &plen) < 0)
		return 0; /* longer than any valid namespace: nothing there */
	if (after && (!ns || strncmp(after, prefix, plen) >= 0))
		i = lower_bound(r, after, true);
	else
		i = lower_bound(r, prefix, false);
	for (; i < r->n; i++) {
		struct mem_node *nd = r->sorted[i];
		char nsbuf[256];
		int ret;

		if (ns && strncmp(nd->key, prefix, plen))
			break;
		if (nd->ns_len >= sizeof(nsbuf))
			continue;
		memcpy(nsbuf, nd->key, nd->ns_len);
		nsbuf[nd->ns_len] = '\0';
		ret = fn(data, nsbuf, nd->key + nd->ns_len + 1, nd->obj);
		if (ret)
			return ret;
	}
	return 0;
}

static size_t mem_count(struct kapi_store *st, const char *rkey, const char *ns)
{
	struct mem_store *m = (struct mem_store *)st;
	struct mem_res *r = res_find(m, rkey, false);
	size_t n = 0, i;
	char prefix[320];
	size_t plen;

	if (!r)
		return 0;
	if (!ns)
		return r->n;
	if (kapi_store_ns_prefix(ns, prefix, sizeof(prefix), &plen) < 0)
		return 0;
	res_sort(r);
	for (i = lower_bound(r, prefix, false); i < r->n && !strncmp(r->sorted[i]->key, prefix, plen); i++)
		n++;
	return n;
}

static int mem_history(struct kapi_store *st, uint64_t since_rv, kapi_store_event_fn fn, void *data,
		       uint64_t *ret_oldest)
{
	struct mem_store *m = (struct mem_store *)st;

	return kapi_history_walk(&m->hist, since_rv, fn, data, ret_oldest);
}

static uint64_t mem_last_rv(struct kapi_store *st)
{
	return ((struct mem_store *)st)->rv;
}

static void mem_free(struct kapi_store *st)
{
	struct mem_store *m = (struct mem_store *)st;
	struct mem_res *r, *next;
	size_t i;

	if (!m)
		return;
	for (r = m->res; r; r = next) {
		next = r->next;
		for (i = 0; i < r->cap; i++) {
			if (r->tab[i]) {
				json_decref(r->tab[i]->obj);
				free(r->tab[i]);
			}
		}
		free(r->tab);
		free(r->sorted);
		free(r->rkey);
		free(r);
	}
	kapi_history_free(&m->hist);
	free(m);
}

static const struct kapi_store_ops mem_ops = {
	.get = mem_get,
	.commit = mem_commit,
	.list = mem_list,
	.count = mem_count,
	.history = mem_history,
	.last_rv = mem_last_rv,
	.free = mem_free,
};

/* See kapi_store.h. */
int kapi_store_mem_new(const struct kapi_store_mem_config *cfg, struct kapi_store **ret_store)
{
	struct mem_store *m = xnew(struct mem_store);

	m->base.ops = &mem_ops;
	kapi_history_init(&m->hist, cfg ? cfg->history : 0, 0);
	*ret_store = &m->base;
	return 0;
}
