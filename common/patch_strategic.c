/* patch_strategic.c - strategic merge patch (application/strategic-merge-patch+json).
 *
 * What kubectl apply (client-side), kubectl edit and kubectl patch send for
 * built-in kinds, applied as k8s.io/apimachinery's strategicpatch applies it
 * on the server (MergeParallelList and IgnoreUnmatchedNulls both on):
 *
 *  - objects merge key by key; null removes a key;
 *  - lists marked "merge" in patch_schema.c merge by their patch merge key
 *    (containers by name, ports by containerPort, ...) or, for lists of
 *    scalars (finalizers), as a set; every other list is replaced;
 *  - directives: {"$patch": "replace"|"delete"} in an object, list elements
 *    {"$patch": "delete", <key>: v} and {"$patch": "replace"}, "$retainKeys"
 *    (drop the keys the patch does not name), "$setElementOrder/<list>" (final
 *    order of a merged list), "$deleteFromPrimitiveList/<list>" (remove
 *    scalars). No key starting with '$' reaches the result.
 *
 * Order of merged lists follows strategicpatch's normalizeElementOrder: the
 * patch's items in the patch's (or $setElementOrder's) order, interleaved
 * with the server-only items, which keep their relative order; an item
 * placed by the patch but unknown to the server goes before a server-only
 * item (so a container added without $setElementOrder lands first, as in
 * Kubernetes). Where Go would store a raw patch fragment (a value for a key
 * the object lacks, a replaced list), we merge it into an empty value instead,
 * which drops directives and nulls as decoding into the typed object would.
 *
 * Keyed lookups go through hash maps (jansson objects keyed by the Go JSON of
 * the merge key's value), so merging lists of n and m items costs
 * O((n + m) log(n + m)). Limits: the patch nests at most PATCH_MAX_DEPTH
 * levels (recursion follows the patch), the object PATCH_MAX_OBJECT_DEPTH.
 * Pure; no state.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "patch.h"
#include "patch_int.h"

#define DIRECTIVE "$patch"
#define RETAIN_KEYS "$retainKeys"
#define SET_ORDER_PREFIX "$setElementOrder/"
#define DELETE_PRIMITIVE_PREFIX "$deleteFromPrimitiveList/"
/* Cap on the JSON of one merge key value used as a hash key. */
#define SMP_KEY_MAX 4096

struct smp {
	struct errbuf *err;
	char path[512];    /* dotted path of the field being merged, for messages */
	size_t len;
};

static size_t path_push_fmt(struct smp *c, const char *sep, const char *key, const char *end)
{
	size_t old = c->len;
	int n = snprintf(c->path + c->len, sizeof(c->path) - c->len, "%s%s%s", sep, key, end);

	if (n > 0)
		c->len = c->len + (size_t)n < sizeof(c->path) ? c->len + (size_t)n : sizeof(c->path) - 1;
	return old;
}

static size_t path_push(struct smp *c, const char *key)
{
	return path_push_fmt(c, c->len ? "." : "", key, "");
}

static void path_pop(struct smp *c, size_t old)
{
	c->len = old;
	c->path[old] = '\0';
}

__attribute__((format(printf, 2, 3))) static int fail(struct smp *c, const char *fmt, ...)
{
	char msg[ERRBUF_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errbuf_set(c->err, -EINVAL, "%s%s%s", c->path, c->len ? ": " : "", msg);
}

static bool is_directive_key(const char *k)
{
	return k[0] == '$';
}

/* Hash key of a value: its Go JSON (so 1 and 1.0 agree, as in Go's float64). */
static char *value_key(const json_t *v)
{
	return patch_go_json_string(v, SMP_KEY_MAX);
}

/* The hash key of an element: its merge key's value (mk set) or itself. NULL
 * when the element has no such key or the value is too large. Caller frees. */
static char *elem_key(const json_t *e, const char *mk)
{
	if (mk) {
		const json_t *v = json_is_object(e) ? json_object_get(e, mk) : NULL;

		return v ? value_key(v) : NULL;
	}
	return value_key(e);
}

/* Index (first occurrence) of each element of list by elem_key; elements
 * without a key are skipped. New object mapping key -> integer index. */
static json_t *index_list(const json_t *list, const char *mk)
{
	json_t *idx = json_object(), *e;
	size_t i;

	json_array_foreach(list, i, e) {
		char *k = elem_key(e, mk);

		if (k && !json_object_get(idx, k))
			json_object_set_new(idx, k, json_integer((json_int_t)i));
		free(k);
	}
	return idx;
}

static long lookup(const json_t *idx, const json_t *e, const char *mk)
{
	char *k = elem_key(e, mk);
	json_t *v = k ? json_object_get(idx, k) : NULL;

	free(k);
	return v ? (long)json_integer_value(v) : -1;
}

static int merge_map(struct smp *c, json_t *orig, const json_t *patch,
		     const struct patch_schema *s, json_t **ret);
static int merge_list(struct smp *c, json_t *orig, const json_t *patch,
		      const struct patch_schema *s, json_t **ret);

/* The value for a key the object lacks (or whose type the patch changes):
 * the patch merged into an empty value. */
static int fresh(struct smp *c, const json_t *v, const struct patch_schema *s, json_t **ret)
{
	if (json_is_object(v))
		return merge_map(c, json_object(), v, s, ret);
	if (json_is_array(v))
		return merge_list(c, json_array(), v, s, ret);
	*ret = json_deep_copy(v);
	return 0;
}

/* ---- ordering (strategicpatch's normalizeElementOrder) ---- */

struct ranked {
	json_t *v;      /* borrowed */
	long rank;      /* index in the order list, or LONG_MAX when absent */
	size_t pos;     /* original position, for a stable sort */
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* Sort items (an array of borrowed values) by their index in order. */
static struct ranked *rank_items(json_t *const *items, size_t n, const json_t *order_idx,
				 const char *mk)
{
	struct ranked *r = xcalloc(n ? n : 1, sizeof(*r));

	for (size_t i = 0; i < n; i++) {
		long k = lookup(order_idx, items[i], mk);

		r[i].v = items[i];
		r[i].rank = k < 0 ? LONG_MAX : k;
		r[i].pos = i;
	}
	qsort(r, n, sizeof(*r), ranked_cmp);
	return r;
}

/* The merged list in its final order: items present in patch_order first
 * sorted by it, server-only items sorted by server_order, then the two
 * interleaved by server_order (mergeSortedSlice). New array. */
static json_t *normalize_order(const json_t *merged, const json_t *patch_order,
			       const json_t *server_order, const char *mk)
{
	json_t *pidx = index_list(patch_order, mk), *sidx = index_list(server_order, mk);
	size_t n = json_array_size(merged), np = 0, ns = 0, i = 0, j = 0;
	json_t **pitems = xcalloc(n ? n : 1, sizeof(*pitems));
	json_t **sitems = xcalloc(n ? n : 1, sizeof(*sitems));
	json_t *out = json_array(), *e;
	struct ranked *left, *right;
	size_t k;

	json_array_foreach(merged, k, e) {
		if (lookup(pidx, e, mk) >= 0)
			pitems[np++] = e;
		else
			sitems[ns++] = e;
	}
	right = rank_items(pitems, np, pidx, mk);
	left = rank_items(sitems, ns, sidx, mk);
	while (i < ns || j < np) {
		bool take_left;

		if (i >= ns) {
			take_left = false;
		} else if (j >= np) {
			take_left = true;
		} else {
			long li = lookup(sidx, left[i].v, mk), ri = lookup(sidx, right[j].v, mk);

			take_left = li >= 0 && ri >= 0 && li < ri;
		}
		if (take_left)
			json_array_append(out, left[i++].v);
		else
			json_array_append(out, right[j++].v);
	}
	free(left);
	free(right);
	free(pitems);
	free(sitems);
	json_decref(pidx);
	json_decref(sidx);
	return out;
}

/* ---- lists ---- */

enum elem_class { CLASS_NONE, CLASS_OBJECT, CLASS_STRING, CLASS_NUMBER, CLASS_BOOL, CLASS_BAD };

static enum elem_class classify(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return CLASS_OBJECT;
	case JSON_STRING: return CLASS_STRING;
	case JSON_INTEGER:
	case JSON_REAL: return CLASS_NUMBER;
	case JSON_TRUE:
	case JSON_FALSE: return CLASS_BOOL;
	default: return CLASS_BAD;
	}
}

/* The one element class of both lists (sliceElementType). */
static int element_class(struct smp *c, const json_t *a, const json_t *b, enum elem_class *ret)
{
	const json_t *lists[2] = { a, b };
	enum elem_class cls = CLASS_NONE;
	json_t *e;
	size_t i;

	for (int l = 0; l < 2; l++) {
		json_array_foreach(lists[l], i, e) {
			enum elem_class x = classify(e);

			if (json_is_array(e))
				return fail(c, "lists of lists are not supported");
			if (x == CLASS_BAD)
				return fail(c, "list elements must not be null");
			if (cls != CLASS_NONE && x != cls)
				return fail(c, "list element types are not identical");
			cls = x;
		}
	}
	*ret = cls;
	return 0;
}

/* Merge two lists of scalars as a set (or remove patch's values when is_delete). */
static json_t *merge_scalars(const json_t *orig, const json_t *patch, bool is_delete)
{
	json_t *seen = json_object(), *both = json_array(), *drop, *e, *out;
	size_t i;

	if (is_delete) {
		drop = index_list(patch, NULL);
		json_array_foreach(orig, i, e)
			if (lookup(drop, e, NULL) < 0)
				json_array_append(both, e);
		json_decref(drop);
		json_decref(seen);
		return both;
	}
	for (int l = 0; l < 2; l++) {
		json_array_foreach(l ? patch : orig, i, e) {
			char *k = value_key(e);

			if (k && !json_object_get(seen, k)) {
				json_object_set_new(seen, k, json_true());
				json_array_append_new(both, json_deep_copy(e));
			}
			free(k);
		}
	}
	json_decref(seen);
	out = normalize_order(both, patch, orig, NULL);
	json_decref(both);
	return out;
}

/* Merge two lists of objects by merge key mk (mergeSlice for maps). */
static int merge_keyed(struct smp *c, json_t *orig, const json_t *patch, const char *mk,
		       const struct patch_schema *elem, json_t **ret)
{
	json_t *plain = json_array(), *deletes = json_object(), *kept = NULL, *idx = NULL;
	json_t *merged = NULL, *e;
	bool replace = false;
	size_t i;
	int r = 0;

	/* special elements: {"$patch": "delete", mk: v} and {"$patch": "replace"} */
	json_array_foreach(patch, i, e) {
		json_t *d = json_object_get(e, DIRECTIVE);
		const char *ds = json_string_value(d);

		if (!d) {
			json_array_append(plain, e);
		} else if (ds && strcmp(ds, "delete") == 0) {
			char *k = elem_key(e, mk);

			if (!k) {
				r = fail(c, "[%zu]: $patch delete needs the merge key \"%s\"", i, mk);
				goto out;
			}
			json_object_set_new(deletes, k, json_true());
			free(k);
		} else if (ds && strcmp(ds, "replace") == 0) {
			replace = true;
		} else if (ds && strcmp(ds, "merge") == 0) {
			r = fail(c, "merging lists cannot yet be specified in the patch");
			goto out;
		} else {
			r = fail(c, "[%zu]: unknown $patch directive", i);
			goto out;
		}
	}

	kept = json_array();
	if (replace) {
		json_array_foreach(plain, i, e) {
			json_t *v;

			r = fresh(c, e, elem, &v);
			if (r < 0)
				goto out;
			json_array_append_new(kept, v);
		}
		json_array_clear(plain);
	} else {
		json_array_foreach(orig, i, e) {
			char *k;

			if (!json_is_object(e)) {
				r = fail(c, "[%zu]: list element is not an object", i);
				goto out;
			}
			k = elem_key(e, mk);
			if (!k || !json_object_get(deletes, k))
				json_array_append(kept, e);
			free(k);
		}
	}

	/* merge the plain elements into the kept ones by key, appending new ones;
	 * the elements are ours (orig is a copy), so they merge in place */
	merged = json_copy(kept);
	idx = index_list(merged, mk);
	json_array_foreach(plain, i, e) {
		char *k = elem_key(e, mk);
		json_t *hit = k ? json_object_get(idx, k) : NULL, *v;

		if (!k) {
			r = fail(c, "[%zu]: element does not contain the merge key \"%s\"", i, mk);
			free(k);
			goto out;
		}
		if (hit) {
			size_t at = (size_t)json_integer_value(hit);
			size_t old = path_push_fmt(c, "[", k, "]");

			r = merge_map(c, json_incref(json_array_get(merged, at)), e, elem, &v);
			path_pop(c, old);
			if (r == 0)
				json_array_set_new(merged, at, v);
		} else {
			r = fresh(c, e, elem, &v);
			if (r == 0) {
				json_object_set_new(idx, k, json_integer((json_int_t)json_array_size(merged)));
				json_array_append_new(merged, v);
			}
		}
		free(k);
		if (r < 0)
			goto out;
	}
	json_array_foreach(merged, i, e) {
		if (!json_object_get(e, mk)) {
			r = fail(c, "[%zu]: element does not contain the merge key \"%s\"", i, mk);
			goto out;
		}
	}
	*ret = normalize_order(merged, plain, kept, mk);
out:
	json_decref(orig);
	json_decref(plain);
	json_decref(deletes);
	json_decref(kept);
	json_decref(idx);
	json_decref(merged);
	return r;
}

/* Merge patch list into orig (a reference taken over) for a list of schema s. */
static int merge_list(struct smp *c, json_t *orig, const json_t *patch,
		      const struct patch_schema *s, json_t **ret)
{
	const struct patch_schema *elem = patch_schema_elem(s);
	enum elem_class cls = CLASS_NONE;
	json_t *e, *v;
	size_t i;
	int r;

	if (!patch_schema_smp_merge_list(s)) {
		/* replace: a fresh copy of the patch's list */
		json_t *out = json_array();

		json_decref(orig);
		json_array_foreach(patch, i, e) {
			r = fresh(c, e, elem, &v);
			if (r < 0) {
				json_decref(out);
				return r;
			}
			json_array_append_new(out, v);
		}
		*ret = out;
		return 0;
	}
	if (json_array_size(orig) == 0 && json_array_size(patch) == 0) {
		*ret = orig;
		return 0;
	}
	r = element_class(c, orig, patch, &cls);
	if (r < 0) {
		json_decref(orig);
		return r;
	}
	if (cls != CLASS_OBJECT) {
		*ret = merge_scalars(orig, patch, false);
		json_decref(orig);
		return 0;
	}
	if (!s->merge_key) {
		json_decref(orig);
		return fail(c, "cannot merge lists without merge key");
	}
	return merge_keyed(c, orig, patch, s->merge_key, elem, ret);
}

/* $setElementOrder: the patch items (and the server-only ones) in order. */
static int check_set_order(struct smp *c, const json_t *plist, const json_t *order, const char *mk)
{
	size_t pi = 0, si = 0, n = json_array_size(plist), m = json_array_size(order);

	if (n == 0 || m == 0)
		return 0;
	while (pi < n && si < m) {
		const json_t *p = json_array_get(plist, pi), *o = json_array_get(order, si);

		/* deletions and other directive elements take no place in the order */
		if (json_is_object(p) && json_object_get(p, DIRECTIVE)) {
			pi++;
			continue;
		}
		if (mk) {
			const json_t *pv = json_is_object(p) ? json_object_get(p, mk) : NULL;
			const json_t *ov = json_is_object(o) ? json_object_get(o, mk) : NULL;

			if (!pv || !ov)
				return fail(c, "$setElementOrder: elements must contain the merge key \"%s\"", mk);
			if (patch_json_equal(pv, ov))
				pi++;
		} else if (patch_json_equal(p, o)) {
			pi++;
		}
		si++;
	}
	/* skip trailing deletions */
	while (pi < n && mk && json_is_object(json_array_get(plist, pi)) &&
	       json_object_get(json_array_get(plist, pi), DIRECTIVE))
		pi++;
	if (pi < n && si >= m)
		return fail(c, "the order in the patch list doesn't match the $setElementOrder list");
	return 0;
}

static int apply_set_order(struct smp *c, json_t *orig, const json_t *patch, const char *field,
			   const json_t *order, const struct patch_schema *s)
{
	const struct patch_schema *fs = patch_schema_field(s, field, NULL);
	json_t *olist = json_object_get(orig, field), *merged = NULL, *out;
	const json_t *plist = json_object_get(patch, field);
	const char *mk = patch_schema_smp_merge_list(fs) ? fs->merge_key : NULL;
	bool objects = false;
	json_t *e;
	size_t i;
	int r;

	if (!json_is_array(order))
		return fail(c, "$setElementOrder/%s must be a list", field);
	if (olist && !json_is_array(olist))
		return fail(c, "%s: expected a list", field);
	if (plist && !json_is_array(plist))
		return fail(c, "%s: expected a list in the patch", field);
	if (plist) {
		r = check_set_order(c, plist, order, mk);
		if (r < 0)
			return r;
	}
	if (!olist && !plist)
		return 0;
	if (olist && !plist)
		merged = json_incref(olist);
	else
		r = merge_list(c, olist ? json_deep_copy(olist) : json_array(), plist, fs, &merged);
	if (r < 0)
		return r;
	json_array_foreach(merged, i, e)
		if (json_is_object(e))
			objects = true;
	json_array_foreach(order, i, e)
		if (mk && (!json_is_object(e) || !json_object_get(e, mk))) {
			json_decref(merged);
			return fail(c, "$setElementOrder/%s: elements must contain the merge key \"%s\"", field, mk);
		}
	if (objects && !mk) {
		/* a replaced list of objects has no identity to order by */
		json_object_set_new(orig, field, merged);
		return 0;
	}
	if (olist) {
		out = normalize_order(merged, order, olist, mk);
	} else {
		json_t *none = json_array();

		out = normalize_order(merged, order, none, mk);
		json_decref(none);
	}
	json_decref(merged);
	json_object_set_new(orig, field, out);
	return 0;
}

/* $retainKeys: the patch's keys must all be listed; unlisted keys leave orig. */
static int apply_retain_keys(struct smp *c, json_t *orig, const json_t *patch, const json_t *keys)
{
	json_t *set = json_object(), *e, *v;
	const char *k;
	void *tmp;
	size_t i;
	int r = 0;

	if (!json_is_array(keys)) {
		r = fail(c, "$retainKeys must be a list");
		goto out;
	}
	json_array_foreach(keys, i, e)
		if (json_is_string(e))
			json_object_set(set, json_string_value(e), json_true());
	json_object_foreach((json_t *)patch, k, v) {
		/* nulls and directives need not be listed */
		if (json_is_null(v) || is_directive_key(k))
			continue;
		if (!json_object_get(set, k)) {
			r = fail(c, "$retainKeys does not list \"%s\", which the patch sets", k);
			goto out;
		}
	}
	json_object_foreach_safe(orig, tmp, k, v)
		if (!json_object_get(set, k))
			json_object_del(orig, k);
out:
	json_decref(set);
	return r;
}

/* Merge the patch object into orig (a reference taken over) for an object of schema s. */
static int merge_map(struct smp *c, json_t *orig, const json_t *patch,
		     const struct patch_schema *s, json_t **ret)
{
	json_t *d = json_object_get(patch, DIRECTIVE), *done = NULL, *v, *keys;
	const char *k;
	int r = 0;

	if (d) {
		const char *ds = json_string_value(d);

		json_decref(orig);
		if (ds && strcmp(ds, "delete") == 0) {
			*ret = json_object();
			return 0;
		}
		if (ds && strcmp(ds, "replace") == 0) {
			json_t *copy = json_deep_copy(patch);

			json_object_del(copy, DIRECTIVE);
			r = merge_map(c, json_object(), copy, s, ret);
			json_decref(copy);
			return r;
		}
		return fail(c, "unknown $patch directive (want replace or delete)");
	}
	if (!json_is_object(orig)) {
		json_decref(orig);
		orig = json_object();
	}
	keys = json_object_get(patch, RETAIN_KEYS);
	if (keys) {
		r = apply_retain_keys(c, orig, patch, keys);
		if (r < 0)
			goto out;
	}

	done = json_object();
	json_object_foreach((json_t *)patch, k, v) {
		const char *field;
		size_t old;

		if (strncmp(k, SET_ORDER_PREFIX, strlen(SET_ORDER_PREFIX)) != 0)
			continue;
		field = k + strlen(SET_ORDER_PREFIX);
		old = path_push(c, field);
		r = apply_set_order(c, orig, patch, field, v, s);
		path_pop(c, old);
		if (r < 0)
			goto out;
		json_object_set(done, field, json_true());
	}

	json_object_foreach((json_t *)patch, k, v) {
		const struct patch_schema *fs;
		json_t *cur, *res = NULL;
		size_t old;

		if (is_directive_key(k) || json_object_get(done, k))
			continue;
		if (json_is_null(v)) {
			json_object_del(orig, k);
			continue;
		}
		fs = patch_schema_field(s, k, NULL);
		cur = json_object_get(orig, k);
		old = path_push(c, k);
		if (json_is_object(cur) && json_is_object(v))
			r = merge_map(c, json_incref(cur), v, fs, &res);
		else if (json_is_array(cur) && json_is_array(v))
			r = merge_list(c, json_incref(cur), v, fs, &res);
		else
			r = fresh(c, v, fs, &res);
		path_pop(c, old);
		if (r < 0)
			goto out;
		json_object_set_new(orig, k, res);
	}

	json_object_foreach((json_t *)patch, k, v) {
		json_t *cur, *res;
		const char *field;

		if (strncmp(k, DELETE_PRIMITIVE_PREFIX, strlen(DELETE_PRIMITIVE_PREFIX)) != 0)
			continue;
		field = k + strlen(DELETE_PRIMITIVE_PREFIX);
		if (!json_is_array(v)) {
			r = fail(c, "%s must be a list", k);
			goto out;
		}
		cur = json_object_get(orig, field);
		if (!json_is_array(cur))
			continue;
		res = merge_scalars(cur, v, true);
		json_object_set_new(orig, field, res);
	}
out:
	json_decref(done);
	if (r < 0)
		json_decref(orig);
	else
		*ret = orig;
	return r;
}

int patch_strategic(const json_t *obj, const json_t *patch, const char *api_version,
		    const char *kind, struct errbuf *err, json_t **ret_obj)
{
	const struct patch_schema *s = patch_schema_for(api_version, kind);
	struct smp c = { .err = err };
	json_t *orig;
	int r;

	if (!s)
		return patch_merge(obj, patch, err, ret_obj);
	if (!json_is_object(patch))
		return errbuf_set(err, -EINVAL, "strategic merge patch: must be a JSON object");
	r = patch_check_inputs(obj, patch, "strategic merge patch", err);
	if (r < 0)
		return r;
	orig = json_is_object(obj) ? json_deep_copy(obj) : json_object();
	return merge_map(&c, orig, patch, s, ret_obj);
}
