/* ssa_fieldset.c - field sets for server-side apply, and FieldsV1.
 *
 * A field set names fields, list items and set values of an object by paths
 * of path elements, as sigs.k8s.io/structured-merge-diff does:
 *
 *   "f:<name>"        a field of a struct or a key of a map
 *   "k:<json object>" an item of an associative list, by its key fields
 *                     (sorted by name, values as Go's encoding/json writes them)
 *   "v:<json value>"  an item of a set of scalars
 *   "i:<index>"       an item of a list by position (only read, never made)
 *
 * In memory a set is a jansson object tree with path elements as keys; "."
 * marks a node that is itself a member. Path element strings are canonical
 * (ssa_fs_decode re-encodes what it reads), so equality is string equality
 * and the set operations are plain tree walks. ssa_fs_encode writes FieldsV1
 * exactly as structured-merge-diff's Set.ToJSON: a member without children
 * is {}, a member with children starts with ".": {}, path elements in
 * fieldpath order (fields, then keys, then values, then indexes).
 *
 * Limits: sets nest at most PATCH_MAX_OBJECT_DEPTH levels; one path element
 * is at most SSA_FS_PE_MAX bytes. Pure; no state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "patch_int.h"

#define SELF "."
#define SSA_FS_PE_MAX 4096

json_t *ssa_fs_new(void)
{
	return json_object();
}

json_t *ssa_fs_child(json_t *node, const char *pe, bool create)
{
	json_t *c = json_object_get(node, pe);

	if (!c && create) {
		c = json_object();
		json_object_set_new(node, pe, c);
	}
	return c;
}

void ssa_fs_mark(json_t *node)
{
	/* the marker's value is never looked at: the true singleton costs no allocation */
	if (!json_object_get(node, SELF))
		json_object_set_new(node, SELF, json_true());
}

bool ssa_fs_is_member(const json_t *node)
{
	return node && json_object_get(node, SELF) != NULL;
}

bool ssa_fs_has_children(const json_t *node)
{
	if (!node)
		return false;
	return json_object_size(node) > (ssa_fs_is_member(node) ? 1u : 0u);
}

bool ssa_fs_empty(const json_t *set)
{
	const char *k;
	json_t *c;

	json_object_foreach((json_t *)set, k, c) {
		if (strcmp(k, SELF) == 0 || !ssa_fs_empty(c))
			return false;
	}
	return true;
}

void ssa_fs_union(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *c;

	json_object_foreach((json_t *)src, k, c) {
		if (strcmp(k, SELF) == 0)
			ssa_fs_mark(dst);
		else
			ssa_fs_union(ssa_fs_child(dst, k, true), c);
	}
}

void ssa_fs_subtract(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *c, *d;

	json_object_foreach((json_t *)src, k, c) {
		if (strcmp(k, SELF) == 0) {
			json_object_del(dst, SELF);
			continue;
		}
		d = json_object_get(dst, k);
		if (!d)
			continue;
		ssa_fs_subtract(d, c);
		if (json_object_size(d) == 0)
			json_object_del(dst, k);
	}
}

json_t *ssa_fs_intersect(const json_t *a, const json_t *b)
{
	json_t *out = json_object(), *c, *o, *x;
	const char *k;

	json_object_foreach((json_t *)a, k, c) {
		o = json_object_get(b, k);
		if (!o)
			continue;
		if (strcmp(k, SELF) == 0) {
			ssa_fs_mark(out);
			continue;
		}
		x = ssa_fs_intersect(c, o);
		if (json_object_size(x) > 0)
			json_object_set_new(out, k, x);
		else
			json_decref(x);
	}
	return out;
}

void ssa_fs_prune(json_t *set)
{
	const char *k;
	json_t *c;
	void *tmp;

	json_object_foreach_safe(set, tmp, k, c) {
		if (strcmp(k, SELF) == 0)
			continue;
		ssa_fs_prune(c);
		if (json_object_size(c) == 0)
			json_object_del(set, k);
	}
}

/* ---- path elements ---- */

char *ssa_fs_pe_field(const char *name)
{
	return xasprintf("f:%s", name);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct key_field {
	const char *name;     /* borrowed */
	const json_t *value;  /* borrowed */
};

/* "k:" + the canonical JSON object of n fields (sorted by name here). NULL
 * when longer than SSA_FS_PE_MAX. */
static char *key_of_pairs(struct key_field *f, size_t n)
{
	struct buf b;
	int r;

	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(f[j - 1].name, f[j].name) > 0; j--) {
			struct key_field t = f[j];

			f[j] = f[j - 1];
			f[j - 1] = t;
		}
	buf_init(&b, SSA_FS_PE_MAX);
	r = buf_puts(&b, "k:{");
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (i > 0)
			r = buf_puts(&b, ",");
		if (r == 0)
			r = patch_go_json_str(&b, f[i].name, strlen(f[i].name));
		if (r == 0)
			r = buf_puts(&b, ":");
		if (r == 0)
			r = patch_go_json(&b, f[i].value);
	}
	if (r == 0)
		r = buf_puts(&b, "}");
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

/* "k:" + the canonical JSON object of the members of fields. */
static char *key_of_fields(const json_t *fields)
{
	size_t n = json_object_size(fields), i = 0;
	struct key_field *f = xcalloc(n ? n : 1, sizeof(*f));
	const char *k;
	json_t *v;
	char *pe;

	json_object_foreach((json_t *)fields, k, v) {
		f[i].name = k;
		f[i++].value = v;
	}
	pe = key_of_pairs(f, n);
	free(f);
	return pe;
}

char *ssa_fs_pe_key(const json_t *item, const char *const *keys, const char *const *key_defaults,
		    struct errbuf *err)
{
	struct key_field f[8];
	json_t *defaults[8] = { NULL };
	size_t n = 0, nk = 0;
	char *pe;

	if (json_is_null(item)) {
		errbuf_set(err, -EINVAL, "associative list with keys may not have a null element");
		return NULL;
	}
	if (!json_is_object(item)) {
		errbuf_set(err, -EINVAL, "associative list with keys may not have non-map elements");
		return NULL;
	}
	for (nk = 0; keys[nk] && nk < 8; nk++) {
		const json_t *v = json_object_get(item, keys[nk]);

		if (!v && key_defaults && key_defaults[nk])
			v = defaults[nk] = json_string(key_defaults[nk]);
		if (v) {
			f[n].name = keys[nk];
			f[n++].value = v;
		}
	}
	if (n == 0) {
		errbuf_set(err, -EINVAL,
			   "associative list with keys has an element that omits all key fields (\"%s\"...)",
			   keys[0]);
		return NULL;
	}
	pe = key_of_pairs(f, n);
	for (size_t i = 0; i < nk; i++)
		json_decref(defaults[i]);
	if (!pe)
		errbuf_set(err, -E2BIG, "list item key longer than %d bytes", SSA_FS_PE_MAX);
	return pe;
}

char *ssa_fs_pe_value(const json_t *item)
{
	struct buf b;

	buf_init(&b, SSA_FS_PE_MAX);
	if (buf_puts(&b, "v:") < 0 || patch_go_json(&b, item) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

/* Canonical form of a serialized path element; NULL with a message when
 * malformed; *ret_skip set for unknown element types (ignored, as Go does). */
static char *pe_canonical(const char *s, bool *ret_skip, struct errbuf *err)
{
	json_error_t jerr;
	json_t *v;
	char *out = NULL;

	*ret_skip = false;
	if (strlen(s) < 2 || s[1] != ':') {
		errbuf_set(err, -EINVAL, "\"%.64s\": not a path element", s);
		return NULL;
	}
	switch (s[0]) {
	case 'f':
		return xstrdup(s);
	case 'i': {
		char *end;
		long n = strtol(s + 2, &end, 10);

		if (*end || end == s + 2) {
			errbuf_set(err, -EINVAL, "\"%.64s\": bad index", s);
			return NULL;
		}
		return xasprintf("i:%ld", n);
	}
	case 'k':
	case 'v':
		v = json_loads(s + 2, s[0] == 'v' ? JSON_DECODE_ANY : 0, &jerr);
		if (!v || (s[0] == 'k' && !json_is_object(v))) {
			errbuf_set(err, -EINVAL, "\"%.64s\": bad %s", s, s[0] == 'k' ? "key" : "value");
			json_decref(v);
			return NULL;
		}
		out = s[0] == 'k' ? key_of_fields(v) : ssa_fs_pe_value(v);
		json_decref(v);
		if (!out)
			errbuf_set(err, -E2BIG, "\"%.64s\": too long", s);
		return out;
	default:
		*ret_skip = true;
		return NULL;
	}
}

/* ---- ordering (fieldpath.PathElement.Compare) ---- */

static int type_rank(char t)
{
	switch (t) {
	case 'f': return 0;
	case 'k': return 1;
	case 'v': return 2;
	case 'i': return 3;
	default: return 4;
	}
}

static int value_rank(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_INTEGER:
	case JSON_REAL: return 0;
	case JSON_STRING: return 1;
	case JSON_TRUE:
	case JSON_FALSE: return 2;
	case JSON_ARRAY: return 3;
	case JSON_OBJECT: return 4;
	default: return 5;
	}
}

static int value_compare(const json_t *a, const json_t *b)
{
	int ra = value_rank(a), rb = value_rank(b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	switch (ra) {
	case 0: {
		double x = json_number_value(a), y = json_number_value(b);

		return x < y ? -1 : (x > y);
	}
	case 1:
		return strcmp(json_string_value(a), json_string_value(b));
	case 2:
		return (int)json_is_true(a) - (int)json_is_true(b);
	case 3: {
		size_t n = json_array_size(a), m = json_array_size(b);

		for (size_t i = 0; i < n && i < m; i++) {
			int c = value_compare(json_array_get(a, i), json_array_get(b, i));

			if (c)
				return c;
		}
		return n < m ? -1 : (n > m);
	}
	case 4: {
		char *x = patch_go_json_string(a, 1 << 16), *y = patch_go_json_string(b, 1 << 16);
		int c = strcmp(x ? x : "", y ? y : "");

		free(x);
		free(y);
		return c;
	}
	default:
		return 0;
	}
}

/* value.FieldList.Compare over two key objects (names sorted). */
static int fields_compare(const json_t *a, const json_t *b)
{
	const char **na, **nb, *k;
	size_t n = json_object_size(a), m = json_object_size(b), i = 0;
	json_t *v;
	int c = 0;

	na = xcalloc(n ? n : 1, sizeof(*na));
	nb = xcalloc(m ? m : 1, sizeof(*nb));
	json_object_foreach((json_t *)a, k, v)
		na[i++] = k;
	i = 0;
	json_object_foreach((json_t *)b, k, v)
		nb[i++] = k;
	qsort(na, n, sizeof(*na), cmp_names);
	qsort(nb, m, sizeof(*nb), cmp_names);
	for (i = 0; c == 0 && i < n && i < m; i++) {
		c = strcmp(na[i], nb[i]);
		if (c == 0)
			c = value_compare(json_object_get(a, na[i]), json_object_get(b, nb[i]));
	}
	if (c == 0)
		c = n < m ? -1 : (n > m);
	free(na);
	free(nb);
	return c;
}

int ssa_fs_pe_compare(const char *a, const char *b)
{
	int ta = type_rank(a[0]), tb = type_rank(b[0]), c;
	json_t *x, *y;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	switch (a[0]) {
	case 'k':
	case 'v':
		x = json_loads(a + 2, JSON_DECODE_ANY, NULL);
		y = json_loads(b + 2, JSON_DECODE_ANY, NULL);
		if (x && y)
			c = a[0] == 'k' ? fields_compare(x, y) : value_compare(x, y);
		else
			c = strcmp(a, b);
		json_decref(x);
		json_decref(y);
		return c;
	case 'i': {
		long x1 = strtol(a + 2, NULL, 10), y1 = strtol(b + 2, NULL, 10);

		return x1 < y1 ? -1 : (x1 > y1);
	}
	default:
		return strcmp(a, b);
	}
}

struct sort_ent {
	const char *pe;   /* borrowed */
	json_t *parsed;   /* owned: the value of a "k:" or "v:" element, or NULL */
};

static int sort_ent_cmp(const void *a, const void *b)
{
	const struct sort_ent *x = a, *y = b;
	int tx = type_rank(x->pe[0]), ty = type_rank(y->pe[0]);

	if (tx != ty)
		return tx < ty ? -1 : 1;
	if (x->parsed && y->parsed)
		return x->pe[0] == 'k' ? fields_compare(x->parsed, y->parsed)
				       : value_compare(x->parsed, y->parsed);
	return ssa_fs_pe_compare(x->pe, y->pe);
}

/* Child keys of node (without ".") sorted in fieldpath order. Caller frees the array. */
static const char **sorted_children(const json_t *node, size_t *ret_n)
{
	size_t n = json_object_size(node), i = 0;
	const char **keys = xcalloc(n ? n : 1, sizeof(*keys)), *k;
	struct sort_ent *ents = xcalloc(n ? n : 1, sizeof(*ents));
	bool sorting = n - (ssa_fs_is_member(node) ? 1 : 0) > 1;
	json_t *c;

	json_object_foreach((json_t *)node, k, c) {
		if (strcmp(k, SELF) == 0)
			continue;
		ents[i].pe = k;
		if (sorting && (k[0] == 'k' || k[0] == 'v'))
			ents[i].parsed = json_loads(k + 2, JSON_DECODE_ANY, NULL);
		i++;
	}
	if (sorting)
		qsort(ents, i, sizeof(*ents), sort_ent_cmp);
	for (size_t j = 0; j < i; j++) {
		keys[j] = ents[j].pe;
		json_decref(ents[j].parsed);
	}
	free(ents);
	*ret_n = i;
	return keys;
}

/* ---- FieldsV1 ---- */

static json_t *encode_node(const json_t *node)
{
	json_t *out = json_object();
	size_t n;
	const char **keys = sorted_children(node, &n);

	if (ssa_fs_is_member(node) && n > 0)
		json_object_set_new(out, SELF, json_object());
	for (size_t i = 0; i < n; i++)
		json_object_set_new(out, keys[i], encode_node(json_object_get(node, keys[i])));
	free(keys);
	return out;
}

json_t *ssa_fs_encode(const json_t *set)
{
	return encode_node(set);
}

static int decode_node(const json_t *in, int depth, json_t *out, struct errbuf *err)
{
	const char *k;
	json_t *v;
	bool children = false;

	if (depth > PATCH_MAX_OBJECT_DEPTH)
		return errbuf_set(err, -E2BIG, "fieldsV1 nested deeper than %d levels",
				  PATCH_MAX_OBJECT_DEPTH);
	if (!json_is_object(in))
		return errbuf_set(err, -EINVAL, "fieldsV1: expected an object");
	json_object_foreach((json_t *)in, k, v) {
		bool skip;
		char *pe;
		json_t *child;
		int r;

		if (strcmp(k, SELF) == 0) {
			ssa_fs_mark(out);
			continue;
		}
		pe = pe_canonical(k, &skip, err);
		if (skip)
			continue;
		if (!pe)
			return -EINVAL;
		child = ssa_fs_child(out, pe, true);
		free(pe);
		r = decode_node(v, depth + 1, child, err);
		if (r < 0)
			return r;
		children = true;
	}
	if (!children)
		ssa_fs_mark(out);
	return 0;
}

int ssa_fs_decode(const json_t *fields_v1, struct errbuf *err, json_t **ret_set)
{
	json_t *set = json_object();
	const char *k;
	json_t *v;
	int r = 0;

	if (!json_is_object(fields_v1)) {
		r = errbuf_set(err, -EINVAL, "fieldsV1: expected an object");
		goto out;
	}
	/* The root is never a member: decode its children only. */
	json_object_foreach((json_t *)fields_v1, k, v) {
		bool skip;
		char *pe;

		if (strcmp(k, SELF) == 0)
			continue;
		pe = pe_canonical(k, &skip, err);
		if (skip)
			continue;
		if (!pe) {
			r = -EINVAL;
			goto out;
		}
		r = decode_node(v, 1, ssa_fs_child(set, pe, true), err);
		free(pe);
		if (r < 0)
			goto out;
	}
out:
	if (r < 0)
		json_decref(set);
	else
		*ret_set = set;
	return r;
}

/* ---- printing and iteration ---- */

/* value.ToString */
static void print_value(struct buf *b, const json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_NULL:
		buf_puts(b, "null");
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		patch_go_float_v(b, json_number_value(v));
		break;
	case JSON_STRING:
		patch_go_quote(b, json_string_value(v));
		break;
	case JSON_TRUE:
		buf_puts(b, "true");
		break;
	case JSON_FALSE:
		buf_puts(b, "false");
		break;
	case JSON_ARRAY:
		buf_puts(b, "[");
		json_array_foreach(v, i, c) {
			if (i > 0)
				buf_puts(b, ",");
			print_value(b, c);
		}
		buf_puts(b, "]");
		break;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, c) {
			buf_printf(b, "%s=", k);
			print_value(b, c);
		}
		break;
	}
}

void ssa_fs_pe_print(struct buf *b, const char *pe)
{
	json_t *v;
	const char **names, *k;
	size_t n, i = 0;
	json_t *c;

	switch (pe[0]) {
	case 'f':
		buf_printf(b, ".%s", pe + 2);
		return;
	case 'i':
		buf_printf(b, "[%s]", pe + 2);
		return;
	case 'v':
		v = json_loads(pe + 2, JSON_DECODE_ANY, NULL);
		buf_puts(b, "[=");
		if (v)
			print_value(b, v);
		buf_puts(b, "]");
		json_decref(v);
		return;
	case 'k':
		v = json_loads(pe + 2, 0, NULL);
		if (!json_is_object(v)) {
			json_decref(v);
			buf_puts(b, "{{invalid path element}}");
			return;
		}
		n = json_object_size(v);
		names = xcalloc(n ? n : 1, sizeof(*names));
		json_object_foreach(v, k, c)
			names[i++] = k;
		qsort(names, n, sizeof(*names), cmp_names);
		buf_puts(b, "[");
		for (i = 0; i < n; i++) {
			buf_printf(b, "%s%s=", i ? "," : "", names[i]);
			print_value(b, json_object_get(v, names[i]));
		}
		buf_puts(b, "]");
		free(names);
		json_decref(v);
		return;
	default:
		buf_puts(b, "{{invalid path element}}");
	}
}

static void iterate_node(const json_t *node, const char **pes, size_t depth, ssa_fs_path_fn fn,
			 void *ctx)
{
	size_t n;
	const char **keys;

	if (depth >= PATCH_MAX_OBJECT_DEPTH)
		return;
	keys = sorted_children(node, &n);
	for (size_t i = 0; i < n; i++) {
		if (!ssa_fs_is_member(json_object_get(node, keys[i])))
			continue;
		pes[depth] = keys[i];
		fn(pes, depth + 1, ctx);
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *c = json_object_get(node, keys[i]);

		if (!ssa_fs_has_children(c))
			continue;
		pes[depth] = keys[i];
		iterate_node(c, pes, depth + 1, fn, ctx);
	}
	free(keys);
}

void ssa_fs_iterate(const json_t *set, ssa_fs_path_fn fn, void *ctx)
{
	const char *pes[PATCH_MAX_OBJECT_DEPTH];

	iterate_node(set, pes, 0, fn, ctx);
}
