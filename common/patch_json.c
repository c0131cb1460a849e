/* patch_json.c - RFC 6902 JSON patch (application/json-patch+json).
 *
 * A list of operations (add, remove, replace, move, copy, test) addressed by
 * RFC 6901 JSON pointers ("/spec/containers/0/image"; "~1" is "/", "~0" is
 * "~"; "-" appends to an array), applied in order to a deep copy of the
 * object: any failure discards the copy, so a patch applies whole or not at
 * all. Strict RFC reading: array indexes are decimal without leading zeros,
 * every operation carries the members it needs.
 *
 * Limits: at most PATCH_MAX_OPS operations; the patch nests at most
 * PATCH_MAX_DEPTH levels, the object and every intermediate result at most
 * PATCH_MAX_OBJECT_DEPTH; copy operations together copy at most
 * PATCH_MAX_COPY_NODES values (the one way a patch could grow a document
 * exponentially). Errors name the operation: "ops[2] (replace /spec/x): ...".
 * Pure; no state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "patch.h"
#include "patch_int.h"

struct pointer {
	char **tokens;   /* owned, unescaped reference tokens */
	size_t n;
};

static void pointer_free(struct pointer *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->tokens[i]);
	free(p->tokens);
	p->tokens = NULL;
	p->n = 0;
}

/* Parse an RFC 6901 pointer. "" is the whole document. */
static int pointer_parse(const char *s, struct pointer *ret, struct errbuf *err)
{
	struct pointer p = { 0 };
	const char *seg;
	size_t count = 0;
	int r = 0;

	if (*s == '\0') {
		*ret = p;
		return 0;
	}
	if (*s != '/')
		return errbuf_set(err, -EINVAL, "pointer \"%s\" must start with '/'", s);
	for (const char *c = s; *c; c++)
		if (*c == '/')
			count++;
	if (count > PATCH_MAX_OBJECT_DEPTH)
		return errbuf_set(err, -E2BIG, "pointer has more than %d segments",
				  PATCH_MAX_OBJECT_DEPTH);
	p.tokens = xcalloc(count, sizeof(*p.tokens));
	seg = s + 1;
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		char *tok = xmalloc(len + 1), *o = tok;

		for (size_t i = 0; i < len; i++) {
			if (seg[i] != '~') {
				*o++ = seg[i];
				continue;
			}
			if (i + 1 < len && seg[i + 1] == '0')
				*o++ = '~';
			else if (i + 1 < len && seg[i + 1] == '1')
				*o++ = '/';
			else {
				free(tok);
				r = errbuf_set(err, -EINVAL, "pointer \"%s\": '~' must be followed by 0 or 1", s);
				goto out;
			}
			i++;
		}
		*o = '\0';
		p.tokens[p.n++] = tok;
		if (!end)
			break;
		seg = end + 1;
	}
out:
	if (r < 0)
		pointer_free(&p);
	else
		*ret = p;
	return r;
}

/* An array index token: digits without a leading zero, < limit. */
static int parse_index(const char *tok, size_t limit, size_t *ret)
{
	size_t v = 0;

	if (!*tok || (tok[0] == '0' && tok[1]) || strlen(tok) > 9)
		return -EINVAL;
	for (const char *c = tok; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (size_t)(*c - '0');
	}
	if (v >= limit)
		return -ENOENT;
	*ret = v;
	return 0;
}

/* The value at the first n tokens of p, or NULL. Borrowed. */
static json_t *resolve(json_t *doc, const struct pointer *p, size_t n)
{
	json_t *cur = doc;

	for (size_t i = 0; cur && i < n; i++) {
		size_t idx;

		if (json_is_object(cur))
			cur = json_object_get(cur, p->tokens[i]);
		else if (json_is_array(cur) && parse_index(p->tokens[i], json_array_size(cur), &idx) == 0)
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
	}
	return cur;
}

/* What add and replace do first: an empty pointer makes value (a reference
 * taken over) the whole document; a value that would nest the result too deep
 * is released. Returns 1 when the document was replaced; 0 when the caller
 * goes on, with *ret_parent (borrowed; NULL when the path does not resolve)
 * and *ret_last (p's last token); or -E2BIG. */
static int op_set_start(json_t **doc, const struct pointer *p, json_t *value, struct errbuf *err,
			json_t **ret_parent, const char **ret_last)
{
	if (p->n == 0) {
		json_decref(*doc);
		*doc = value;
		return 1;
	}
	if (p->n + (size_t)patch_depth(value, PATCH_MAX_OBJECT_DEPTH) > PATCH_MAX_OBJECT_DEPTH) {
		json_decref(value);
		return errbuf_set(err, -E2BIG, "result nested deeper than %d levels",
				  PATCH_MAX_OBJECT_DEPTH);
	}
	*ret_parent = resolve(*doc, p, p->n - 1);
	*ret_last = p->tokens[p->n - 1];
	return 0;
}

/* Add value (a reference taken over) at p. doc may be replaced. */
static int op_add(json_t **doc, const struct pointer *p, json_t *value, struct errbuf *err)
{
	json_t *parent = NULL;
	const char *last = NULL;
	size_t idx;
	int r;

	r = op_set_start(doc, p, value, err, &parent, &last);
	if (r != 0)
		return r < 0 ? r : 0;
	if (json_is_object(parent)) {
		json_object_set_new(parent, last, value);
		return 0;
	}
	if (json_is_array(parent)) {
		if (strcmp(last, "-") == 0) {
			json_array_append_new(parent, value);
			return 0;
		}
		r = parse_index(last, json_array_size(parent) + 1, &idx);
		if (r < 0) {
			json_decref(value);
			return errbuf_set(err, r == -ENOENT ? -ENOENT : -EINVAL,
					  "array index \"%s\" %s", last,
					  r == -ENOENT ? "is out of range" : "is not a valid index");
		}
		json_array_insert_new(parent, idx, value);
		return 0;
	}
	json_decref(value);
	return errbuf_set(err, -ENOENT, "path not found");
}

/* Remove the value at p (which must exist); *ret_value (if not NULL) gets it. */
static int op_remove(json_t *doc, const struct pointer *p, json_t **ret_value, struct errbuf *err)
{
	json_t *parent, *v = NULL;
	const char *last = NULL;
	size_t idx;

	if (p->n == 0)
		return errbuf_set(err, -EINVAL, "cannot remove the whole document");
	parent = resolve(doc, p, p->n - 1);
	last = p->tokens[p->n - 1];
	if (json_is_object(parent)) {
		v = json_object_get(parent, last);
		if (v) {
			json_incref(v);
			json_object_del(parent, last);
		}
	} else if (json_is_array(parent) && parse_index(last, json_array_size(parent), &idx) == 0) {
		v = json_incref(json_array_get(parent, idx));
		json_array_remove(parent, idx);
	}
	if (!v)
		return errbuf_set(err, -ENOENT, "path not found");
	if (ret_value)
		*ret_value = v;
	else
		json_decref(v);
	return 0;
}

/* Replace the value at p (which must exist) by value (a reference taken over). */
static int op_replace(json_t **doc, const struct pointer *p, json_t *value, struct errbuf *err)
{
	json_t *parent = NULL;
	const char *last = NULL;
	size_t idx;
	int r;

	r = op_set_start(doc, p, value, err, &parent, &last);
	if (r != 0)
		return r < 0 ? r : 0;
	if (json_is_object(parent) && json_object_get(parent, last)) {
		json_object_set_new(parent, last, value);
		return 0;
	}
	if (json_is_array(parent) && parse_index(last, json_array_size(parent), &idx) == 0) {
		json_array_set_new(parent, idx, value);
		return 0;
	}
	json_decref(value);
	return errbuf_set(err, -ENOENT, "path not found");
}

/* Whether pointer text a is a proper prefix of b at a segment boundary. */
static bool is_proper_prefix(const char *a, const char *b)
{
	size_t n = strlen(a);

	return strncmp(a, b, n) == 0 && b[n] == '/';
}

static int apply_one(json_t **doc, const json_t *op, size_t *copied, struct errbuf *err)
{
	struct pointer path = { 0 }, from = { 0 };
	const char *name, *path_s, *from_s = NULL;
	json_t *value, *v;
	int r;

	if (!json_is_object(op))
		return errbuf_set(err, -EINVAL, "operation must be an object");
	name = json_string_value(json_object_get(op, "op"));
	path_s = json_string_value(json_object_get(op, "path"));
	if (!name)
		return errbuf_set(err, -EINVAL, "missing \"op\"");
	if (!path_s)
		return errbuf_set(err, -EINVAL, "missing \"path\"");
	r = pointer_parse(path_s, &path, err);
	if (r < 0)
		return r;
	value = json_object_get(op, "value");

	if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 ||
	    strcmp(name, "test") == 0) {
		if (!value) {
			r = errbuf_set(err, -EINVAL, "missing \"value\"");
			goto out;
		}
	} else if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
		from_s = json_string_value(json_object_get(op, "from"));
		if (!from_s) {
			r = errbuf_set(err, -EINVAL, "missing \"from\"");
			goto out;
		}
		r = pointer_parse(from_s, &from, err);
		if (r < 0)
			goto out;
	} else if (strcmp(name, "remove") != 0) {
		r = errbuf_set(err, -EINVAL, "unknown operation");
		goto out;
	}

	if (strcmp(name, "add") == 0) {
		r = op_add(doc, &path, json_deep_copy(value), err);
	} else if (strcmp(name, "remove") == 0) {
		r = op_remove(*doc, &path, NULL, err);
	} else if (strcmp(name, "replace") == 0) {
		r = op_replace(doc, &path, json_deep_copy(value), err);
	} else if (strcmp(name, "test") == 0) {
		v = resolve(*doc, &path, path.n);
		if (!v)
			r = errbuf_set(err, -ENOENT, "path not found");
		else if (!patch_json_equal(v, value))
			r = errbuf_set(err, -EINVAL, "test failed: value differs");
	} else if (strcmp(name, "move") == 0) {
		if (strcmp(from_s, path_s) == 0) {
			if (!resolve(*doc, &from, from.n))
				r = errbuf_set(err, -ENOENT, "\"from\" path not found");
			goto out;
		}
		if (from.n == 0 || is_proper_prefix(from_s, path_s)) {
			r = errbuf_set(err, -EINVAL, "cannot move a value into itself");
			goto out;
		}
		r = op_remove(*doc, &from, &v, err);
		if (r < 0) {
			errbuf_prefix(err, "from");
			goto out;
		}
		r = op_add(doc, &path, v, err);
	} else { /* copy */
		size_t n;

		v = resolve(*doc, &from, from.n);
		if (!v) {
			r = errbuf_set(err, -ENOENT, "\"from\" path not found");
			goto out;
		}
		n = patch_count_nodes(v, PATCH_MAX_COPY_NODES - *copied);
		if (n > PATCH_MAX_COPY_NODES - *copied) {
			r = errbuf_set(err, -E2BIG, "copies exceed %u values in all", PATCH_MAX_COPY_NODES);
			goto out;
		}
		*copied += n;
		r = op_add(doc, &path, json_deep_copy(v), err);
	}
out:
	pointer_free(&path);
	pointer_free(&from);
	return r;
}

int patch_json(const json_t *obj, const json_t *ops, struct errbuf *err, json_t **ret_obj)
{
	json_t *doc = NULL, *op;
	size_t i, copied = 0;
	int r;

	if (!json_is_array(ops))
		return errbuf_set(err, -EINVAL, "json patch: must be an array of operations");
	if (json_array_size(ops) > PATCH_MAX_OPS)
		return errbuf_set(err, -E2BIG, "json patch: more than %d operations", PATCH_MAX_OPS);
	r = patch_check_inputs(obj, ops, "json patch", err);
	if (r < 0)
		return r;
	doc = obj ? json_deep_copy(obj) : json_null();
	json_array_foreach(ops, i, op) {
		r = apply_one(&doc, op, &copied, err);
		if (r < 0) {
			const char *name = json_string_value(json_object_get(op, "op"));
			const char *path = json_string_value(json_object_get(op, "path"));

			if (name && path)
				errbuf_prefix(err, "ops[%zu] (%.16s %.96s%s)", i, name, path,
					      strlen(path) > 96 ? "..." : "");
			else
				errbuf_prefix(err, "ops[%zu]", i);
			json_decref(doc);
			return r;
		}
	}
	*ret_obj = doc;
	return 0;
}
