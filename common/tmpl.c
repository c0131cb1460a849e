/* tmpl.c - JSON templates (tmpl.h): the walker that copies a template,
 * evaluating ${...} interpolations and the $if / $each / $value directives;
 * the expressions themselves are tmpl_expr.c's.
 *
 * The walk recurses once per level of the template, capped at
 * TMPL_DEPTH_MAX. A render keeps a cache of parsed strings keyed by the
 * template string's address (the template is borrowed and unchanged for the
 * whole call), so a $do rendered for every item of a $each parses its
 * expressions once; nothing outlives the call.
 *
 * Messages name the template path as users see it, from the path the caller
 * gives ("output") then keys and list indexes ("spec.containers[0].image",
 * `metadata.labels["app.oam.dev/name"]`), with "$each[3]" for the fourth item
 * of a $each, then the expression ("${parameter.imag}") and what went wrong.
 *
 * Keys: a key is interpolated like a string; "$if", "$each", "$as", "$do" and
 * "$value" are directives; the Kubernetes strategic-merge directives ($patch,
 * $retainKeys, $setElementOrder/..., $deleteFromPrimitiveList/...) are copied
 * with their values untouched; a key starting "$$" stands for the key with
 * one '$' less (so "$$ref" writes "$ref", and "$${x}" writes "${x}" as in
 * strings); any other "$" key is an error.
 */
#include "tmpl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "tmpl_int.h"

/* ---- parsed strings ---------------------------------------------------- */

struct part {
	bool is_expr;
	char *text;            /* literal: owned, the bytes to write ("$${" already unescaped) */
	size_t len;
	struct tmpl_expr *e;   /* expression: owned */
};

struct tstr {
	struct part *parts;    /* owned */
	size_t nparts;
	bool whole;            /* exactly "${expr}" (or a directive's expression): the value, any type */
};

static struct tstr *tstr_free(struct tstr *ts)
{
	size_t i;

	if (!ts)
		return NULL;
	for (i = 0; i < ts->nparts; i++) {
		free(ts->parts[i].text);
		tmpl_expr_free(ts->parts[i].e);
	}
	free(ts->parts);
	free(ts);
	return NULL;
}

static struct part *tstr_add(struct tstr *ts, size_t *alloc)
{
	if (ts->nparts == *alloc) {
		*alloc = *alloc ? 2 * *alloc : 4;
		ts->parts = xrealloc(ts->parts, *alloc * sizeof(*ts->parts));
	}
	memset(&ts->parts[ts->nparts], 0, sizeof(ts->parts[0]));
	return &ts->parts[ts->nparts++];
}

/* Where the expression opened at s[from] ends: the index of its closing '}'
 * (braces nest; quoted strings are skipped), or len when there is none. */
static size_t expr_end(const char *s, size_t len, size_t from)
{
	size_t i = from;
	int depth = 0;

	while (i < len) {
		char c = s[i];

		if (c == '\'' || c == '"') {
			for (i++; i < len && s[i] != c; i++)
				if (s[i] == '\\')
					i++;
			if (i >= len)
				return len;
		} else if (c == '{') {
			depth++;
		} else if (c == '}') {
			if (depth == 0)
				return i;
			depth--;
		}
		i++;
	}
	return len;
}

/* The message prefix for expression src: "${src}" (shortened). */
static void expr_label(const char *src, size_t len, char *out, size_t size)
{
	char disp[128];

	tmpl_expr_display(src, len, disp, sizeof(disp));
	snprintf(out, size, "${%s}", disp);
}

/* Prefix the message in err with expr_label(src). */
static void expr_prefix(struct errbuf *err, const char *src, size_t len)
{
	char label[160];

	expr_label(src, len, label, sizeof(label));
	errbuf_prefix(err, "%s", label);
}

static int parse_one(struct tstr *ts, size_t *alloc, const char *src, size_t len, struct tmpl_ctx *ctx,
		     struct errbuf *err)
{
	struct part *p = tstr_add(ts, alloc);
	int r;

	p->is_expr = true;
	r = tmpl_expr_parse(src, len, ctx, err, &p->e);
	if (r < 0)
		expr_prefix(err, src, len);
	return r;
}

/* Parse a template string. As a directive's value (expr_only) the whole
 * string is one expression, with or without "${" "}" around it. Messages name
 * the expression; the caller adds the path. */
static int tstr_parse(const char *s, size_t len, bool expr_only, struct tmpl_ctx *ctx, struct errbuf *err,
		      struct tstr **ret)
{
	struct tstr *ts = xnew(struct tstr);
	size_t alloc = 0, i = 0, lit = 0;
	struct buf text;
	int r = 0;

	buf_init(&text, TMPL_STRING_MAX);
	if (expr_only) {
		if (len >= 3 && s[0] == '$' && s[1] == '{' && expr_end(s, len, 2) == len - 1)
			r = parse_one(ts, &alloc, s + 2, len - 3, ctx, err);
		else
			r = parse_one(ts, &alloc, s, len, ctx, err);
		ts->whole = true;
		goto out;
	}
	while (i < len) {
		size_t end;

		if (s[i] != '$') {
			i++;
			continue;
		}
		if (i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
			/* "$${" writes "${" */
			if (buf_append(&text, s + lit, i - lit) < 0 || buf_append(&text, "${", 2) < 0)
				goto too_long;
			i += 3;
			lit = i;
			continue;
		}
		if (i + 1 >= len || s[i + 1] != '{') {
			i++;
			continue;
		}
		end = expr_end(s, len, i + 2);
		if (end == len) {
			char disp[128];

			tmpl_expr_display(s, len, disp, sizeof(disp));
			r = errbuf_set(err, -EINVAL, "\"%s\": the '${' at column %zu has no closing '}'", disp, i + 1);
			goto out;
		}
		if (buf_append(&text, s + lit, i - lit) < 0)
			goto too_long;
		if (text.len > 0) {
			struct part *p = tstr_add(ts, &alloc);

			p->len = text.len;
			p->text = buf_steal(&text, NULL);
		}
		if (i == 0 && end == len - 1)
			ts->whole = true;
		r = parse_one(ts, &alloc, s + i + 2, end - i - 2, ctx, err);
		if (r < 0)
			goto out;
		i = end + 1;
		lit = i;
	}
	if (buf_append(&text, s + lit, len - lit) < 0)
		goto too_long;
	if (text.len > 0 || ts->nparts == 0) {
		struct part *p = tstr_add(ts, &alloc);

		p->len = text.len;
		p->text = text.len ? buf_steal(&text, NULL) : xstrdup("");
	}
	goto out;
too_long:
	r = errbuf_set(err, -E2BIG, "string too long: more than %d bytes", TMPL_STRING_MAX);
out:
	buf_free(&text);
	if (r < 0)
		ts = tstr_free(ts);
	else
		*ret = ts;
	return r;
}

/* ---- the render state -------------------------------------------------- */

enum seg_kind {
	SEG_KEY,   /* .key or ["key"] */
	SEG_INDEX, /* [3] */
	SEG_ITEM,  /* .$each[3] */
};

struct seg {
	enum seg_kind kind;
	const char *key; /* SEG_KEY: borrowed from the template */
	size_t index;
};

#define SEGS_MAX (3 * TMPL_DEPTH_MAX + 8)

struct cache_slot {
	const char *key;  /* the template string's address; NULL: empty slot */
	bool expr_only;
	struct tstr *ts;  /* owned */
};

struct render {
	const json_t *scope;              /* borrowed */
	const struct tmpl_binding *bind;  /* borrowed: the innermost $each binding, or NULL */
	struct tmpl_ctx ctx;
	struct errbuf *err;
	const char *root;                 /* borrowed: the caller's path, or NULL */
	struct seg segs[SEGS_MAX];
	size_t nsegs;
	bool check;                       /* tmpl_check: parse, evaluate nothing */
	struct cache_slot *cache;         /* owned; open addressing, size a power of two */
	size_t ncache, acache;
};

static void seg_push(struct render *r, enum seg_kind kind, const char *key, size_t index)
{
	/* The depth cap keeps this in bounds; the test guards the array anyway. */
	if (r->nsegs < SEGS_MAX)
		r->segs[r->nsegs] = (struct seg){ kind, key, index };
	r->nsegs++;
}

static void seg_pop(struct render *r)
{
	r->nsegs--;
}

static bool key_is_plain(const char *k)
{
	size_t i;

	if (!*k || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (i = 0; k[i]; i++) {
		char c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '$'))
			return false;
	}
	return true;
}

/* The path of the current position, for messages ("" at the root without a name). */
static void path_format(const struct render *r, char *out, size_t size)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	if (r->root)
		buf_puts(&b, r->root);
	for (i = 0; i < r->nsegs && i < SEGS_MAX; i++) {
		const struct seg *s = &r->segs[i];

		if (s->kind == SEG_INDEX)
			buf_printf(&b, "[%zu]", s->index);
		else if (s->kind == SEG_ITEM)
			buf_printf(&b, "%s$each[%zu]", b.len ? "." : "", s->index);
		else if (key_is_plain(s->key))
			buf_printf(&b, "%s%s", b.len ? "." : "", s->key);
		else
			buf_printf(&b, "[\"%.60s%s\"]", s->key, strlen(s->key) > 60 ? "..." : "");
	}
	if (b.len <= 200)
		snprintf(out, size, "%s", b.data ? b.data : "");
	else
		snprintf(out, size, "...%s", b.data + b.len - 197);
	buf_free(&b);
}

/* Prefix the message in r->err with the current path. Returns code. */
static int at_path(struct render *r, int code)
{
	char path[256];

	path_format(r, path, sizeof(path));
	if (path[0])
		errbuf_prefix(r->err, "%s", path);
	return code;
}

/* Set r->err to code and the printf-style message, prefixed with the
 * current path. Evaluates to code. */
#define fail(r, code, ...) at_path(r, errbuf_set((r)->err, code, __VA_ARGS__))

/* Charge n steps / n nodes to the render; past a cap, the message names the path. */
static int charge_steps(struct render *r, size_t n)
{
	int rc = tmpl_ctx_steps(&r->ctx, n, r->err);

	return rc < 0 ? at_path(r, rc) : 0;
}

static int charge_nodes(struct render *r, size_t n)
{
	int rc = tmpl_ctx_nodes(&r->ctx, n, r->err);

	return rc < 0 ? at_path(r, rc) : 0;
}

/* -E2BIG when a template value at depth is nested past TMPL_DEPTH_MAX. */
static int depth_check(struct render *r, int depth)
{
	if (depth > TMPL_DEPTH_MAX)
		return fail(r, -E2BIG, "template nested deeper than %d levels", TMPL_DEPTH_MAX);
	return 0;
}

/* What rendering or checking any template value at depth costs first: the
 * depth cap, then one step. */
static int value_enter(struct render *r, int depth)
{
	int rc = depth_check(r, depth);

	return rc < 0 ? rc : charge_steps(r, 1);
}

static size_t hash_ptr(const void *p)
{
	uintptr_t x = (uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static void cache_put(struct render *r, const char *key, bool expr_only, struct tstr *ts)
{
	size_t i, mask;

	if (2 * (r->ncache + 1) > r->acache) {
		struct cache_slot *old = r->cache;
		size_t n = r->acache;

		r->acache = n ? 2 * n : 16;
		r->cache = xcalloc(r->acache, sizeof(*r->cache));
		r->ncache = 0;
		for (i = 0; i < n; i++)
			if (old[i].key)
				cache_put(r, old[i].key, old[i].expr_only, old[i].ts);
		free(old);
	}
	mask = r->acache - 1;
	for (i = hash_ptr(key) & mask; r->cache[i].key; i = (i + 1) & mask)
		;
	r->cache[i] = (struct cache_slot){ key, expr_only, ts };
	r->ncache++;
}

static struct tstr *cache_get(const struct render *r, const char *key, bool expr_only)
{
	size_t i, mask;

	if (!r->acache)
		return NULL;
	mask = r->acache - 1;
	for (i = hash_ptr(key) & mask; r->cache[i].key; i = (i + 1) & mask)
		if (r->cache[i].key == key && r->cache[i].expr_only == expr_only)
			return r->cache[i].ts;
	return NULL;
}

static void cache_free(struct render *r)
{
	size_t i;

	for (i = 0; i < r->acache; i++)
		tstr_free(r->cache[i].ts);
	free(r->cache);
	r->cache = NULL;
	r->ncache = r->acache = 0;
}

/* The parsed form of template string s (cached; borrowed, valid for the
 * render). In check mode nothing is cached: *ret is the caller's to free. */
static int get_tstr(struct render *r, const char *s, size_t len, bool expr_only, struct tstr **ret)
{
	struct tstr *ts = r->check ? NULL : cache_get(r, s, expr_only);
	int rc;

	if (ts) {
		*ret = ts;
		return 0;
	}
	rc = tstr_parse(s, len, expr_only, &r->ctx, r->err, &ts);
	if (rc < 0)
		return at_path(r, rc);
	if (!r->check)
		cache_put(r, s, expr_only, ts);
	*ret = ts;
	return 0;
}

/* ---- evaluating parts -------------------------------------------------- */

/* Prefix the message in r->err with the part's expression, then the path. Returns rc. */
static int part_error(struct render *r, const struct part *p, int rc)
{
	const char *src = tmpl_expr_source(p->e);

	expr_prefix(r->err, src, strlen(src));
	return at_path(r, rc);
}

/* Evaluate an expression part; *ret new reference or NULL (undefined). */
static int eval_part(struct render *r, const struct part *p, json_t **ret)
{
	int rc = tmpl_expr_eval(p->e, r->scope, r->bind, &r->ctx, r->err, ret);

	return rc < 0 ? part_error(r, p, rc) : 0;
}

/* Copy an expression part's value v into the output. */
static int copy_part(struct render *r, const struct part *p, const json_t *v, json_t **ret)
{
	int rc = tmpl_value_copy(v, &r->ctx, r->err, ret);

	return rc < 0 ? part_error(r, p, rc) : 0;
}

static int undefined_part(struct render *r, const struct part *p)
{
	const char *src = tmpl_expr_source(p->e);
	char label[160], why[300];

	expr_label(src, strlen(src), label, sizeof(label));
	tmpl_expr_explain(p->e, r->scope, r->bind, why, sizeof(why));
	return fail(r, -EINVAL, "%s: undefined%s%s", label, why[0] ? ": " : "", why);
}

/* Write every part of ts into out as text; undefined parts are errors. */
static int interpolate(struct render *r, const struct tstr *ts, struct buf *out)
{
	size_t i;
	int rc;

	for (i = 0; i < ts->nparts; i++) {
		const struct part *p = &ts->parts[i];
		json_t *v;

		if (!p->is_expr) {
			if (buf_append(out, p->text, p->len) < 0)
				return fail(r, -E2BIG, "string too long: more than %d bytes", TMPL_STRING_MAX);
			continue;
		}
		rc = eval_part(r, p, &v);
		if (rc < 0)
			return rc;
		if (!v)
			return undefined_part(r, p);
		rc = tmpl_value_str(v, &r->ctx, out, r->err);
		json_decref(v);
		if (rc < 0)
			return at_path(r, rc);
	}
	return 0;
}

static int new_string(struct render *r, const char *s, size_t len, json_t **ret)
{
	json_t *v;
	int rc = charge_nodes(r, 1);

	if (rc < 0)
		return rc;
	v = json_stringn(s, len);
	if (!v)
		return fail(r, -EINVAL, "the result is not valid UTF-8");
	*ret = v;
	return 0;
}

/* Render a template string: *ret the value, or NULL when it is left out. */
static int render_string(struct render *r, const json_t *t, json_t **ret)
{
	struct tstr *ts;
	struct buf b;
	json_t *v;
	int rc;

	if (!memchr(json_string_value(t), '$', json_string_length(t)))
		return new_string(r, json_string_value(t), json_string_length(t), ret); /* plain text */
	rc = get_tstr(r, json_string_value(t), json_string_length(t), false, &ts);
	if (rc < 0)
		return rc;
	if (ts->whole) {
		rc = eval_part(r, &ts->parts[0], &v);
		if (rc < 0 || !v) {
			*ret = NULL;
			return rc;
		}
		rc = copy_part(r, &ts->parts[0], v, ret);
		json_decref(v);
		return rc;
	}
	if (ts->nparts == 1 && !ts->parts[0].is_expr)
		return new_string(r, ts->parts[0].text, ts->parts[0].len, ret);
	buf_init(&b, TMPL_STRING_MAX);
	rc = interpolate(r, ts, &b);
	if (rc == 0)
		rc = new_string(r, b.data ? b.data : "", b.len, ret);
	buf_free(&b);
	return rc;
}

/* Evaluate a directive's expression (the string value of key in t). */
static int eval_directive(struct render *r, const json_t *t, const char *key, json_t **ret)
{
	const json_t *d = json_object_get(t, key);
	struct tstr *ts;
	int rc;

	seg_push(r, SEG_KEY, key, 0);
	if (!json_is_string(d)) {
		rc = fail(r, -EINVAL, "must be an expression (a string), got %s", tmpl_type_name(d));
		goto out;
	}
	rc = get_tstr(r, json_string_value(d), json_string_length(d), true, &ts);
	if (rc == 0)
		rc = eval_part(r, &ts->parts[0], ret);
out:
	seg_pop(r);
	return rc;
}

/* The object's "$if", when it has one: *ret_keep is false when it is falsy. */
static int eval_if(struct render *r, const json_t *t, bool *ret_keep)
{
	json_t *cond = NULL;
	int rc;

	if (!json_object_get(t, "$if")) {
		*ret_keep = true;
		return 0;
	}
	rc = eval_directive(r, t, "$if", &cond);
	if (rc == 0)
		*ret_keep = tmpl_truthy(cond);
	json_decref(cond);
	return rc;
}

/* ---- keys and directives ----------------------------------------------- */

enum key_class {
	K_PLAIN,
	K_IF,
	K_EACH,
	K_AS,
	K_DO,
	K_VALUE,
	K_SMP,
	K_UNKNOWN,
};

static enum key_class key_class(const char *k)
{
	if (k[0] != '$' || k[1] == '{' || k[1] == '$')
		return K_PLAIN;
	if (strcmp(k, "$if") == 0)
		return K_IF;
	if (strcmp(k, "$each") == 0)
		return K_EACH;
	if (strcmp(k, "$as") == 0)
		return K_AS;
	if (strcmp(k, "$do") == 0)
		return K_DO;
	if (strcmp(k, "$value") == 0)
		return K_VALUE;
	if (strcmp(k, "$patch") == 0 || strcmp(k, "$retainKeys") == 0 ||
	    strncmp(k, "$setElementOrder/", 17) == 0 || strncmp(k, "$deleteFromPrimitiveList/", 25) == 0)
		return K_SMP;
	return K_UNKNOWN;
}

/* A $each object has only $each, $as, $do and $if keys, a $do, and an $as
 * (when given) that is a name. */
static int each_keys_check(struct render *r, const json_t *t)
{
	const json_t *as = json_object_get(t, "$as"), *v;
	const char *k;
	int rc;

	json_object_foreach((json_t *)t, k, v) {
		enum key_class c = key_class(k);

		if (c != K_EACH && c != K_AS && c != K_DO && c != K_IF)
			return fail(r, -EINVAL, "\"%.60s\" cannot be used with $each (allowed: $each, $as, $do, $if)", k);
	}
	if (!json_object_get(t, "$do"))
		return fail(r, -EINVAL, "$each needs \"$do\": the template for each item");
	if (as && (!json_is_string(as) || !tmpl_ident_valid(json_string_value(as)))) {
		seg_push(r, SEG_KEY, "$as", 0);
		rc = fail(r, -EINVAL, "must be a name ([A-Za-z_][A-Za-z0-9_-]*)");
		seg_pop(r);
		return rc;
	}
	return 0;
}

/* A $value object has only $value and $if keys. */
static int value_keys_check(struct render *r, const json_t *t)
{
	const json_t *v;
	const char *k;

	json_object_foreach((json_t *)t, k, v) {
		enum key_class c = key_class(k);

		if (c != K_VALUE && c != K_IF)
			return fail(r, -EINVAL, "\"%.60s\" cannot be used with $value (allowed: $value, $if)", k);
	}
	return 0;
}

static int unknown_key(struct render *r, const char *k, const char *where)
{
	seg_push(r, SEG_KEY, k, 0);
	fail(r, -EINVAL,
	     "unknown directive \"%.60s\"%s (directives: $if, $each, $as, $do, $value, and Kubernetes' $patch, "
	     "$retainKeys, $setElementOrder/..., $deleteFromPrimitiveList/...; write \"$%.60s\" for a key "
	     "that starts with '$')",
	     k, where, k);
	seg_pop(r);
	return -EINVAL;
}

/* The rendered text of key k (the template's own key string). *ret: caller frees. */
static int render_key(struct render *r, const char *k, char **ret, size_t *ret_len)
{
	const char *src = k[0] == '$' && k[1] == '$' && k[2] != '{' ? k + 1 : k;
	struct tstr *ts;
	struct buf b;
	int rc;

	seg_push(r, SEG_KEY, k, 0);
	rc = get_tstr(r, src, strlen(src), false, &ts);
	if (rc < 0)
		goto out;
	buf_init(&b, TMPL_STRING_MAX);
	rc = interpolate(r, ts, &b);
	if (rc == 0 && memchr(b.data ? b.data : "", '\0', b.len))
		rc = fail(r, -EINVAL, "the key contains a NUL character");
	if (rc == 0)
		*ret = buf_steal(&b, ret_len);
	buf_free(&b);
out:
	seg_pop(r);
	return rc;
}

static int render_value(struct render *r, const json_t *t, int depth, json_t **ret);

/* One item of a $each (bound in r->bind): its $if, then its $do into out. */
static int each_item(struct render *r, const json_t *t, int depth, size_t i, json_t *out)
{
	json_t *res = NULL;
	bool keep;
	int rc = charge_steps(r, 1);

	if (rc < 0)
		return rc;
	seg_push(r, SEG_ITEM, NULL, i);
	rc = eval_if(r, t, &keep);
	if (rc < 0 || !keep)
		goto out;
	seg_push(r, SEG_KEY, "$do", 0);
	rc = render_value(r, json_object_get(t, "$do"), depth + 1, &res);
	seg_pop(r);
	if (rc == 0 && res)
		json_array_append_new(out, res);
out:
	seg_pop(r);
	return rc;
}

/* {"$each", "$as", "$do", "$if"}: append each item's rendered $do to out. */
static int render_each(struct render *r, const json_t *t, int depth, json_t *out)
{
	const json_t *as = json_object_get(t, "$as");
	struct tmpl_binding bind = { "item", NULL, r->bind };
	json_t *coll = NULL, *v;
	const char *k;
	size_t i = 0;
	int rc;

	rc = each_keys_check(r, t);
	if (rc < 0)
		return rc;
	if (as)
		bind.name = json_string_value(as);
	rc = eval_directive(r, t, "$each", &coll);
	if (rc < 0 || !coll || json_is_null(coll))
		goto out;
	r->bind = &bind;
	if (json_is_array(coll)) {
		for (i = 0; rc == 0 && i < json_array_size(coll); i++) {
			bind.value = json_array_get(coll, i);
			rc = each_item(r, t, depth, i, out);
		}
	} else if (json_is_object(coll)) {
		json_object_foreach(coll, k, v) {
			json_t *pair;

			rc = charge_nodes(r, 2);
			if (rc < 0)
				break;
			pair = json_pack("{s:s, s:O}", "key", k, "value", v);
			bind.value = pair;
			rc = each_item(r, t, depth, i++, out);
			json_decref(pair);
			if (rc < 0)
				break;
		}
	} else {
		seg_push(r, SEG_KEY, "$each", 0);
		rc = fail(r, -EINVAL, "can iterate a list or an object, not %s", tmpl_type_name(coll));
		seg_pop(r);
	}
	r->bind = bind.next;
out:
	json_decref(coll);
	return rc;
}

/* {"$value": expr, "$if": expr}. */
static int render_value_directive(struct render *r, const json_t *t, json_t **ret)
{
	json_t *v = NULL;
	bool keep;
	int rc = value_keys_check(r, t);

	if (rc == 0)
		rc = eval_if(r, t, &keep);
	if (rc < 0)
		return rc;
	if (!keep) {
		*ret = NULL;
		return 0;
	}
	rc = eval_directive(r, t, "$value", &v);
	if (rc < 0 || !v) {
		*ret = NULL;
		return rc;
	}
	rc = tmpl_value_copy(v, &r->ctx, r->err, ret);
	json_decref(v);
	if (rc < 0) {
		seg_push(r, SEG_KEY, "$value", 0);
		at_path(r, rc);
		seg_pop(r);
	}
	return rc;
}

static int render_object(struct render *r, const json_t *t, int depth, json_t **ret)
{
	json_t *out = NULL, *v;
	const char *k;
	bool keep;
	int rc;

	if (json_object_get(t, "$each")) {
		rc = charge_nodes(r, 1);
		if (rc < 0)
			return rc;
		out = json_array();
		rc = render_each(r, t, depth, out);
		goto out;
	}
	if (json_object_get(t, "$value"))
		return render_value_directive(r, t, ret);
	json_object_foreach((json_t *)t, k, v) {
		enum key_class c = key_class(k);

		if (c == K_AS || c == K_DO)
			return unknown_key(r, k, " without $each");
		if (c == K_UNKNOWN)
			return unknown_key(r, k, "");
	}
	rc = eval_if(r, t, &keep);
	if (rc < 0)
		return rc;
	if (!keep) {
		*ret = NULL;
		return 0;
	}
	rc = charge_nodes(r, 1);
	if (rc < 0)
		return rc;
	out = json_object();
	json_object_foreach((json_t *)t, k, v) {
		enum key_class c = key_class(k);
		json_t *res = NULL;
		char *key = NULL;
		size_t klen = 0;

		if (c == K_IF)
			continue;
		if (c == K_SMP) {
			rc = tmpl_value_copy(v, &r->ctx, r->err, &res);
			if (rc < 0) {
				seg_push(r, SEG_KEY, k, 0);
				rc = at_path(r, rc);
				seg_pop(r);
				goto out;
			}
			json_object_set_new(out, k, res);
			continue;
		}
		if (strchr(k, '$')) {
			rc = render_key(r, k, &key, &klen);
			if (rc < 0)
				goto out;
		} else {
			klen = strlen(k); /* a plain key: no copy */
		}
		seg_push(r, SEG_KEY, k, 0);
		rc = render_value(r, v, depth + 1, &res);
		if (rc == 0 && res && json_object_getn(out, key ? key : k, klen)) {
			json_decref(res);
			rc = fail(r, -EINVAL, "the key \"%.60s\" is written twice in this object", key ? key : k);
		}
		seg_pop(r);
		if (rc == 0 && res)
			json_object_setn_new(out, key ? key : k, klen, res);
		free(key);
		if (rc < 0)
			goto out;
	}
out:
	if (rc < 0) {
		json_decref(out);
		return rc;
	}
	*ret = out;
	return 0;
}

static int render_array(struct render *r, const json_t *t, int depth, json_t **ret)
{
	json_t *out;
	size_t i;
	int rc = charge_nodes(r, 1);

	if (rc < 0)
		return rc;
	out = json_array();
	for (i = 0; i < json_array_size(t); i++) {
		const json_t *item = json_array_get(t, i);
		json_t *res = NULL;

		seg_push(r, SEG_INDEX, NULL, i);
		if (json_is_object(item) && json_object_get(item, "$each")) {
			/* a $each inside a list: its values are spliced in place */
			rc = depth_check(r, depth + 1);
			if (rc == 0)
				rc = render_each(r, item, depth + 1, out);
		} else {
			rc = render_value(r, item, depth + 1, &res);
		}
		seg_pop(r);
		if (rc < 0) {
			json_decref(out);
			return rc;
		}
		if (res)
			json_array_append_new(out, res);
	}
	*ret = out;
	return 0;
}

static int render_value(struct render *r, const json_t *t, int depth, json_t **ret)
{
	int rc;

	*ret = NULL;
	rc = value_enter(r, depth);
	if (rc < 0)
		return rc;
	switch (json_typeof(t)) {
	case JSON_STRING:
		return render_string(r, t, ret);
	case JSON_OBJECT:
		return render_object(r, t, depth, ret);
	case JSON_ARRAY:
		return render_array(r, t, depth, ret);
	default:
		rc = charge_nodes(r, 1);
		if (rc < 0)
			return rc;
		*ret = json_copy((json_t *)t);
		return 0;
	}
}

/* Every public call ends here: the message must be valid UTF-8 however it
 * was cut, since callers put it into JSON. */
static int finish(struct errbuf *err, int rc)
{
	if (rc < 0 && err)
		tmpl_utf8_sanitize(err->msg);
	return rc;
}

int tmpl_render(const json_t *tmpl, const json_t *scope, const char *path, struct errbuf *err,
		json_t **ret_value)
{
	struct render *r;
	json_t *v = NULL;
	int rc;

	if (!tmpl)
		return finish(err, errbuf_set(err, -EINVAL, "%s%sno template", path ? path : "", path ? ": " : ""));
	r = &(struct render){ .scope = scope, .err = err, .root = path };
	rc = render_value(r, tmpl, 0, &v);
	cache_free(r);
	if (rc < 0)
		return finish(err, rc);
	*ret_value = v;
	return 0;
}

/* ---- checking ---------------------------------------------------------- */

static int check_value(struct render *r, const json_t *t, int depth);

static int check_string(struct render *r, const json_t *s, bool expr_only)
{
	struct tstr *ts = NULL;
	int rc = get_tstr(r, json_string_value(s), json_string_length(s), expr_only, &ts);

	tstr_free(ts);
	return rc;
}

static int check_directive(struct render *r, const json_t *t, const char *key)
{
	const json_t *d = json_object_get(t, key);
	int rc;

	if (!d)
		return 0;
	seg_push(r, SEG_KEY, key, 0);
	if (!json_is_string(d))
		rc = fail(r, -EINVAL, "must be an expression (a string), got %s", tmpl_type_name(d));
	else
		rc = check_string(r, d, true);
	seg_pop(r);
	return rc;
}

static int check_object(struct render *r, const json_t *t, int depth)
{
	const json_t *v;
	const char *k;
	int rc;

	if (json_object_get(t, "$each")) {
		rc = each_keys_check(r, t);
		if (rc == 0)
			rc = check_directive(r, t, "$each");
		if (rc == 0)
			rc = check_directive(r, t, "$if");
		if (rc < 0)
			return rc;
		seg_push(r, SEG_KEY, "$do", 0);
		rc = check_value(r, json_object_get(t, "$do"), depth + 1);
		seg_pop(r);
		return rc;
	}
	if (json_object_get(t, "$value")) {
		rc = value_keys_check(r, t);
		if (rc == 0)
			rc = check_directive(r, t, "$if");
		return rc < 0 ? rc : check_directive(r, t, "$value");
	}
	rc = check_directive(r, t, "$if");
	if (rc < 0)
		return rc;
	json_object_foreach((json_t *)t, k, v) {
		enum key_class c = key_class(k);
		const char *src = k[0] == '$' && k[1] == '$' && k[2] != '{' ? k + 1 : k;
		struct tstr *ts = NULL;

		if (c == K_AS || c == K_DO)
			return unknown_key(r, k, " without $each");
		if (c == K_UNKNOWN)
			return unknown_key(r, k, "");
		if (c != K_PLAIN)
			continue;
		seg_push(r, SEG_KEY, k, 0);
		rc = get_tstr(r, src, strlen(src), false, &ts);
		tstr_free(ts);
		if (rc == 0)
			rc = check_value(r, v, depth + 1);
		seg_pop(r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int check_value(struct render *r, const json_t *t, int depth)
{
	size_t i;
	int rc = value_enter(r, depth);

	if (rc < 0)
		return rc;
	switch (json_typeof(t)) {
	case JSON_STRING:
		return check_string(r, t, false);
	case JSON_OBJECT:
		return check_object(r, t, depth);
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(t); i++) {
			const json_t *item = json_array_get(t, i);

			seg_push(r, SEG_INDEX, NULL, i);
			if (json_is_object(item) && json_object_get(item, "$each")) {
				rc = depth_check(r, depth + 1);
				if (rc == 0)
					rc = check_object(r, item, depth + 1);
			} else {
				rc = check_value(r, item, depth + 1);
			}
			seg_pop(r);
			if (rc < 0)
				return rc;
		}
		return 0;
	default:
		return 0;
	}
}

int tmpl_check(const json_t *tmpl, const char *path, struct errbuf *err)
{
	struct render *r;
	int rc;

	if (!tmpl)
		return finish(err, errbuf_set(err, -EINVAL, "%s%sno template", path ? path : "", path ? ": " : ""));
	r = xnew(struct render);
	r->err = err;
	r->root = path;
	r->check = true;
	rc = check_value(r, tmpl, 0);
	free(r);
	return finish(err, rc);
}

/* ---- single expressions and message strings ---------------------------- */

int tmpl_check_expr(const char *expr, struct errbuf *err)
{
	struct tmpl_ctx ctx = { 0 };
	struct tstr *ts = NULL;
	int rc;

	if (!expr)
		return errbuf_set(err, -EINVAL, "no expression");
	rc = tstr_parse(expr, strlen(expr), true, &ctx, err, &ts);
	tstr_free(ts);
	return finish(err, rc);
}

int tmpl_eval(const char *expr, const json_t *scope, struct errbuf *err, json_t **ret_value)
{
	struct tmpl_ctx ctx = { 0 };
	struct tstr *ts = NULL;
	json_t *v = NULL;
	int rc;

	if (!expr)
		return errbuf_set(err, -EINVAL, "no expression");
	rc = tstr_parse(expr, strlen(expr), true, &ctx, err, &ts);
	if (rc < 0)
		return finish(err, rc);
	rc = tmpl_expr_eval(ts->parts[0].e, scope, NULL, &ctx, err, &v);
	if (rc < 0) {
		const char *src = tmpl_expr_source(ts->parts[0].e);

		expr_prefix(err, src, strlen(src));
	} else {
		*ret_value = v;
	}
	tstr_free(ts);
	return finish(err, rc);
}

int tmpl_render_string(const char *s, const json_t *scope, struct errbuf *err, char **ret_str)
{
	struct render *r;
	struct tstr *ts;
	struct buf b;
	int rc;

	if (!s)
		return errbuf_set(err, -EINVAL, "no string");
	r = xnew(struct render);
	r->scope = scope;
	r->err = err;
	buf_init(&b, TMPL_STRING_MAX);
	rc = get_tstr(r, s, strlen(s), false, &ts);
	if (rc == 0)
		rc = interpolate(r, ts, &b);
	if (rc == 0)
		*ret_str = buf_steal(&b, NULL);
	buf_free(&b);
	cache_free(r);
	free(r);
	return finish(err, rc);
}
