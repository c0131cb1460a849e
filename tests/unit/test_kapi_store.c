/* test_kapi_store.c - the in-memory store and the history window. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kapi_store.h"

static json_t *mkobj(const char *ns, const char *name, int v)
{
	return json_pack("{s:{s:s,s:s},s:i}", "metadata", "namespace", ns, "name", name, "v", v);
}

static int commit(struct kapi_store *st, enum kapi_event_type t, const char *rkey, const char *ns, const char *name,
		  int v)
{
	json_t *old = NULL, *obj = t == KAPI_EVENT_DELETED ? NULL : mkobj(ns, name, v);
	struct kapi_store_event ev;
	int r;

	st->ops->get(st, rkey, ns, name, &old);
	ev = (struct kapi_store_event){.rv = st->ops->last_rv(st) + 1, .type = t, .rkey = rkey, .ns = ns,
				       .name = name, .old_obj = old, .new_obj = obj ? obj : old};
	r = st->ops->commit(st, &ev);
	json_decref(old);
	json_decref(obj);
	return r;
}

struct walk {
	char keys[64][64];
	int n;
};

static int walk_cb(void *data, const char *ns, const char *name, json_t *obj)
{
	struct walk *w = data;

	if (w->n < 64)
		snprintf(w->keys[w->n++], 64, "%s/%s", ns, name);
	return 0;
}

static void test_basic(void **state)
{
	struct kapi_store *st;
	json_t *o = NULL;
	struct walk w = {0};

	assert_int_equal(kapi_store_mem_new(NULL, &st), 0);
	assert_int_equal(st->ops->last_rv(st), 0);
	assert_int_equal(commit(st, KAPI_EVENT_ADDED, "/configmaps", "b", "x", 1), 0);
	assert_int_equal(commit(st, KAPI_EVENT_ADDED, "/configmaps", "a", "y", 2), 0);
	assert_int_equal(commit(st, KAPI_EVENT_ADDED, "/configmaps", "a-b", "z", 3), 0);
	assert_int_equal(commit(st, KAPI_EVENT_ADDED, "/configmaps", "a", "b", 4), 0);
	assert_int_equal(commit(st, KAPI_EVENT_ADDED, "apps/deployments", "a", "b", 5), 0);
	assert_int_equal(st->ops->last_rv(st), 5);
	assert_int_equal(st->ops->get(st, "/configmaps", "a", "y", &o), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "v")), 2);
	json_decref(o);
	assert_int_equal(st->ops->get(st, "/configmaps", "c", "y", &o), -ENOENT);
	assert_int_equal(st->ops->get(st, "/secrets", "a", "y", &o), -ENOENT);
	/* bytewise key order, as etcd: "a-b/z" < "a/b" < "a/y" < "b/x" */
	st->ops->list(st, "/configmaps", NULL, NULL, walk_cb, &w);
	assert_int_equal(w.n, 4);
	assert_string_equal(w.keys[0], "a-b/z");
	assert_string_equal(w.keys[1], "a/b");
	assert_string_equal(w.keys[2], "a/y");
	assert_string_equal(w.keys[3], "b/x");
	memset(&w, 0, sizeof(w));
	st->ops->list(st, "/configmaps", "a", NULL, walk_cb, &w);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.keys[0], "a/b");
	memset(&w, 0, sizeof(w));
	st->ops->list(st, "/configmaps", "a", "a/b", walk_cb, &w);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.keys[0], "a/y");
	memset(&w, 0, sizeof(w));
	st->ops->list(st, "/configmaps", NULL, "a/y", walk_cb, &w);
	assert_int_equal(w.n, 1);
	assert_int_equal(st->ops->count(st, "/configmaps", NULL), 4);
	assert_int_equal(st->ops->count(st, "/configmaps", "a"), 2);
	/* a wrong rv is refused */
	{
		json_t *x = mkobj("a", "q", 0);
		struct kapi_store_event ev = {.rv = 99, .type = KAPI_EVENT_ADDED, .rkey = "/configmaps", .ns = "a",
					      .name = "q", .new_obj = x};

		assert_int_equal(st->ops->commit(st, &ev), -EINVAL);
		json_decref(x);
	}
	assert_int_equal(commit(st, KAPI_EVENT_DELETED, "/configmaps", "a", "y", 0), 0);
	assert_int_equal(st->ops->get(st, "/configmaps", "a", "y", &o), -ENOENT);
	assert_int_equal(st->ops->count(st, "/configmaps", NULL), 3);
	st->ops->free(st);
}

struct hist {
	uint64_t rvs[64];
	int n;
};

static int hist_cb(void *data, const struct kapi_store_event *ev)
{
	struct hist *h = data;

	if (h->n < 64)
		h->rvs[h->n++] = ev->rv;
	return 0;
}

static void test_history(void **state)
{
	struct kapi_store_mem_config cfg = {.history = 4};
	struct kapi_store *st;
	struct hist h = {0};
	uint64_t oldest = 0;
	int i;

	assert_int_equal(kapi_store_mem_new(&cfg, &st), 0);
	for (i = 0; i < 10; i++) {
		char name[16];

		snprintf(name, sizeof(name), "o%d", i);
		assert_int_equal(commit(st, KAPI_EVENT_ADDED, "/configmaps", "ns", name, i), 0);
	}
	/* rvs 7..10 retained; since 6 works, since 5 is too old */
	assert_int_equal(st->ops->history(st, 6, hist_cb, &h, NULL), 0);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.rvs[0], 7);
	assert_int_equal(h.rvs[3], 10);
	memset(&h, 0, sizeof(h));
	assert_int_equal(st->ops->history(st, 8, hist_cb, &h, NULL), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.rvs[0], 9);
	memset(&h, 0, sizeof(h));
	assert_int_equal(st->ops->history(st, 10, hist_cb, &h, NULL), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(st->ops->history(st, 5, hist_cb, &h, &oldest), -ESTALE);
	assert_int_equal(oldest, 7);
	st->ops->free(st);
}

/* Many keys with deletes in between: the hash table (growth, backward-shift
 * deletion) must agree with a plain reference array. */
static void test_hash_against_reference(void **state)
{
	struct kapi_store *st;
	static bool present[5000];
	uint32_t x = 12345;
	int i, n = 0;

	memset(present, 0, sizeof(present));
	assert_int_equal(kapi_store_mem_new(NULL, &st), 0);
	for (i = 0; i < 40000; i++) {
		char name[16];
		int k;

		x = x * 1103515245u + 12345u;
		k = (int)((x >> 8) % 5000);
		snprintf(name, sizeof(name), "k%d", k);
		if (present[k]) {
			assert_int_equal(commit(st, (x & 1) ? KAPI_EVENT_DELETED : KAPI_EVENT_MODIFIED, "/secrets",
						"ns", name, i), 0);
			if (x & 1) {
				present[k] = false;
				n--;
			}
		} else {
			assert_int_equal(commit(st, KAPI_EVENT_ADDED, "/secrets", "ns", name, i), 0);
			present[k] = true;
			n++;
		}
	}
	assert_int_equal(st->ops->count(st, "/secrets", NULL), (size_t)n);
	for (i = 0; i < 5000; i++) {
		char name[16];
		json_t *o = NULL;

		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(st->ops->get(st, "/secrets", "ns", name, &o) == 0, present[i]);
		json_decref(o);
	}
	st->ops->free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_hash_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
