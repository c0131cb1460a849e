/* appdef_schema.c - the parameter schemas of definitions: checking that a
 * schema is well formed (at definition admission) and validating a
 * component's or trait's properties against it with defaults applied (at
 * every render).
 *
 * The schema language is the JSON-Schema-like subset appdef.h describes.
 * Messages follow Kubernetes' field errors ("Invalid value", "Required
 * value", "Unsupported value", "Unsupported field", "Too many") and name the
 * field from the Application's point of view: the caller's prefix
 * ("spec.components[0].properties") plus the path inside the properties.
 *
 * Pure functions; run on the hub's loop. Recursion follows the schema, whose
 * depth is capped at APPDEF_SCHEMA_DEPTH when the definition is parsed.
 */
#include "appdef_int.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"

#define SCHEMA_PATH_MAX 768     /* longest field path kept for messages (longer ones are cut) */
#define SCHEMA_ENUM_MAX 1024    /* values of one enum */
#define SCHEMA_PROPS_MAX 1024   /* properties of one object schema */
#define SCHEMA_TYPES_MAX 7      /* entries of a type list */
#define SCHEMA_LIST_SHOWN 200   /* bytes of "(parameters: a, b, ...)" in a message */

enum {
	T_STRING = 1 << 0,
	T_INTEGER = 1 << 1,
	T_NUMBER = 1 << 2,
	T_BOOLEAN = 1 << 3,
	T_OBJECT = 1 << 4,
	T_ARRAY = 1 << 5,
	T_ANY = 1 << 6,
};

static const struct {
	const char *name;
	unsigned bit;
	const char *article;  /* "a string", for messages */
} type_names[] = {
	{"string", T_STRING, "a string"},
	{"integer", T_INTEGER, "an integer"},
	{"number", T_NUMBER, "a number"},
	{"boolean", T_BOOLEAN, "a boolean"},
	{"object", T_OBJECT, "an object"},
	{"array", T_ARRAY, "a list"},
	{"any", T_ANY, "any value"},
};

#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

static const char *const schema_keys[] = {
	"type", "description", "default", "required", "nullable", "enum", "minimum", "maximum", "minLength",
	"maxLength", "minItems", "maxItems", "properties", "additionalProperties", "items",
};

void appdef_value_display(const json_t *v, char *out, size_t size)
{
	char *s;
	size_t n;

	if (!size)
		return;
	if (!v) {
		snprintf(out, size, "undefined");
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s) {
		snprintf(out, size, "?");
		return;
	}
	n = strlen(s);
	if (n > 60 && size > 64) {
		size_t head = 28, tail = n - 28;

		/* Cut on UTF-8 character boundaries: messages end up in JSON. */
		while (head && ((unsigned char)s[head] & 0xC0) == 0x80)
			head--;
		while (tail < n && ((unsigned char)s[tail] & 0xC0) == 0x80)
			tail++;
		snprintf(out, size, "%.*s...%s", (int)head, s, s + tail);
	} else
		snprintf(out, size, "%s", s);
	free(s);
}

/* The type bits a schema allows (T_ANY when it says nothing). -1 when the
 * type field is malformed (schema_check reports it). */
static int schema_types(const json_t *schema)
{
	const json_t *t = json_object_get(schema, "type"), *e;
	unsigned bits = 0;
	size_t i, k;

	if (!t) {
		if (json_object_get(schema, "properties") || json_is_object(json_object_get(schema, "additionalProperties")))
			return T_OBJECT;
		if (json_object_get(schema, "items"))
			return T_ARRAY;
		return T_ANY;
	}
	if (json_is_string(t)) {
		for (k = 0; k < NTYPES; k++)
			if (!strcmp(json_string_value(t), type_names[k].name))
				return (int)type_names[k].bit;
		return -1;
	}
	if (!json_is_array(t) || !json_array_size(t) || json_array_size(t) > SCHEMA_TYPES_MAX)
		return -1;
	json_array_foreach(t, i, e) {
		for (k = 0; k < NTYPES; k++)
			if (json_is_string(e) && !strcmp(json_string_value(e), type_names[k].name))
				break;
		if (k == NTYPES)
			return -1;
		bits |= type_names[k].bit;
	}
	return (int)bits;
}

/* "must be a string or an integer" into out. */
static void types_phrase(unsigned bits, char *out, size_t size)
{
	size_t k, n = 0, count = 0, seen = 0;

	for (k = 0; k < NTYPES; k++)
		if (bits & type_names[k].bit)
			count++;
	out[0] = '\0';
	for (k = 0; k < NTYPES && n < size; k++) {
		if (!(bits & type_names[k].bit))
			continue;
		seen++;
		n += (size_t)snprintf(out + n, size - n, "%s%s", seen == 1 ? "" : seen == count ? " or " : ", ",
				      type_names[k].article);
	}
}

/* Whether v has one of the types (integral reals count as integers). */
static bool type_matches(unsigned bits, const json_t *v)
{
	if (bits & T_ANY)
		return true;
	if ((bits & T_STRING) && json_is_string(v))
		return true;
	if ((bits & T_NUMBER) && json_is_number(v))
		return true;
	if ((bits & T_INTEGER) && json_is_integer(v))
		return true;
	if ((bits & T_INTEGER) && json_is_real(v)) {
		double d = json_real_value(v);

		if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18)
			return true;
	}
	if ((bits & T_BOOLEAN) && json_is_boolean(v))
		return true;
	if ((bits & T_OBJECT) && json_is_object(v))
		return true;
	if ((bits & T_ARRAY) && json_is_array(v))
		return true;
	return false;
}

/* Equality with 1 == 1.0, as users write numbers either way. */
static bool value_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

/* Code points of a UTF-8 string (jansson guarantees valid UTF-8). */
static size_t utf8_len(const char *s, size_t bytes)
{
	size_t i, n = 0;

	for (i = 0; i < bytes; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* ------------------------------------------------------------------------ */
/* field paths                                                               */

struct vctx {
	const char *defname;
	struct errbuf *err;
	char path[SCHEMA_PATH_MAX];
	size_t len;
	size_t root;        /* length of the caller's prefix: the rest is the parameter's path */
};

static bool key_is_simple(const char *k)
{
	const char *p;

	if (!*k)
		return false;
	for (p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

/* Append ".key" (or "[key]" for keys with other characters) and return the
 * old length to restore. */
static size_t path_push_key(char *path, size_t *len, size_t cap, const char *key)
{
	size_t old = *len;
	int n;

	if (old >= cap - 1)
		return old;
	if (key_is_simple(key))
		n = snprintf(path + old, cap - old, "%s%s", old ? "." : "", key);
	else
		n = snprintf(path + old, cap - old, "[%s]", key);
	*len = n < 0 || (size_t)n >= cap - old ? cap - 1 : old + (size_t)n;
	return old;
}

static size_t path_push_index(char *path, size_t *len, size_t cap, size_t i)
{
	size_t old = *len;
	int n;

	if (old >= cap - 1)
		return old;
	n = snprintf(path + old, cap - old, "[%zu]", i);
	*len = n < 0 || (size_t)n >= cap - old ? cap - 1 : old + (size_t)n;
	return old;
}

static void path_pop(char *path, size_t *len, size_t old)
{
	*len = old;
	path[old] = '\0';
}

/* The path below the caller's prefix ("ports[0].port"), for "needs" messages. */
static const char *rel_path(const struct vctx *c)
{
	const char *p = c->path + c->root;

	return *p == '.' ? p + 1 : p;
}

/* ------------------------------------------------------------------------ */
/* did you mean                                                              */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t best = prev + (a[i - 1] == b[j - 1] ? 0 : 1);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

/* The property name closest to key (within 2 edits or differing only in
 * case), or NULL. */
static const char *closest_key(const json_t *props, const char *key)
{
	const char *k, *best = NULL;
	size_t bestd = 3;
	json_t *v;

	json_object_foreach((json_t *)props, k, v) {
		size_t d = strcasecmp(k, key) ? edit_distance(k, key) : 0;

		(void)v;
		if (d < bestd) {
			bestd = d;
			best = k;
		}
	}
	return best;
}

static void key_list(const json_t *props, char *out, size_t size)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)props, k, v) {
		int w;

		(void)v;
		if (n + strlen(k) + 8 > size || n > SCHEMA_LIST_SHOWN) {
			snprintf(out + n, size - n, ", ...");
			return;
		}
		w = snprintf(out + n, size - n, "%s%s", n ? ", " : "", k);
		if (w < 0)
			return;
		n += (size_t)w;
	}
}

/* ------------------------------------------------------------------------ */
/* validation                                                                */

static int apply(const json_t *schema, const json_t *v, struct vctx *c, json_t **ret);

static int bad_type(struct vctx *c, unsigned bits, const json_t *v)
{
	char what[128], shown[96];

	types_phrase(bits, what, sizeof(what));
	appdef_value_display(v, shown, sizeof(shown));
	return errbuf_set(c->err, -EINVAL, "%s: Invalid value: %s: must be %s", c->path, shown, what);
}

static int check_enum(const json_t *schema, const json_t *v, struct vctx *c)
{
	const json_t *en = json_object_get(schema, "enum"), *e;
	char shown[96], list[256];
	size_t i, n = 0;

	if (!en)
		return 0;
	json_array_foreach(en, i, e) {
		if (value_equal(e, v))
			return 0;
	}
	list[0] = '\0';
	json_array_foreach(en, i, e) {
		char one[96];
		int w;

		appdef_value_display(e, one, sizeof(one));
		if (n + strlen(one) + 8 > sizeof(list)) {
			snprintf(list + n, sizeof(list) - n, ", ...");
			break;
		}
		w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", one);
		if (w < 0)
			break;
		n += (size_t)w;
	}
	appdef_value_display(v, shown, sizeof(shown));
	return errbuf_set(c->err, -EINVAL, "%s: Unsupported value: %s: supported values: %s", c->path, shown, list);
}

static int check_bounds(const json_t *schema, const json_t *v, struct vctx *c)
{
	const json_t *b;
	char shown[96], bound[96];

	appdef_value_display(v, shown, sizeof(shown));
	if (json_is_number(v)) {
		double d = json_number_value(v);

		b = json_object_get(schema, "minimum");
		if (b && d < json_number_value(b)) {
			appdef_value_display(b, bound, sizeof(bound));
			return errbuf_set(c->err, -EINVAL, "%s: Invalid value: %s: must be greater than or equal to %s",
					  c->path, shown, bound);
		}
		b = json_object_get(schema, "maximum");
		if (b && d > json_number_value(b)) {
			appdef_value_display(b, bound, sizeof(bound));
			return errbuf_set(c->err, -EINVAL, "%s: Invalid value: %s: must be less than or equal to %s",
					  c->path, shown, bound);
		}
	}
	if (json_is_string(v)) {
		size_t n = utf8_len(json_string_value(v), json_string_length(v));

		b = json_object_get(schema, "minLength");
		if (b && n < (size_t)json_integer_value(b))
			return errbuf_set(c->err, -EINVAL, "%s: Invalid value: %s: must be at least %lld characters",
					  c->path, shown, (long long)json_integer_value(b));
		b = json_object_get(schema, "maxLength");
		if (b && n > (size_t)json_integer_value(b))
			return errbuf_set(c->err, -EINVAL, "%s: Invalid value: %s: must be no more than %lld characters",
					  c->path, shown, (long long)json_integer_value(b));
	}
	if (json_is_array(v)) {
		size_t n = json_array_size(v);

		b = json_object_get(schema, "minItems");
		if (b && n < (size_t)json_integer_value(b))
			return errbuf_set(c->err, -EINVAL, "%s: Invalid value: %zu items: must have at least %lld items",
					  c->path, n, (long long)json_integer_value(b));
		b = json_object_get(schema, "maxItems");
		if (b && n > (size_t)json_integer_value(b))
			return errbuf_set(c->err, -EINVAL, "%s: Too many: %zu: must have at most %lld items", c->path, n,
					  (long long)json_integer_value(b));
	}
	return 0;
}

static int apply_object(const json_t *schema, const json_t *v, struct vctx *c, json_t **ret)
{
	const json_t *props = json_object_get(schema, "properties");
	const json_t *addl = json_object_get(schema, "additionalProperties");
	bool addl_any = json_is_true(addl) || (!addl && !props);
	json_t *out = json_object(), *sub, *res;
	const char *k;
	size_t old;
	int r = 0;

	json_object_foreach((json_t *)v, k, sub) {
		const json_t *ps = props ? json_object_get(props, k) : NULL;

		old = path_push_key(c->path, &c->len, sizeof(c->path), k);
		if (ps || json_is_object(addl)) {
			res = NULL;
			r = apply(ps ? ps : addl, sub, c, &res);
			if (r < 0)
				goto out;
			if (res)
				json_object_set_new(out, k, res);
		} else if (addl_any) {
			json_object_set_new(out, k, json_deep_copy(sub));
		} else {
			const char *near = closest_key(props, k);
			char list[SCHEMA_LIST_SHOWN + 16], mean[96] = "";

			key_list(props, list, sizeof(list));
			if (near)
				snprintf(mean, sizeof(mean), "; did you mean \"%s\"?", near);
			r = errbuf_set(c->err, -EINVAL, "%s: Unsupported field: %s has no parameter \"%s\"%s (parameters%s: %s)",
				       c->path, c->defname, rel_path(c), mean, strpbrk(rel_path(c), ".[") ? " here" : "",
				       list);
			goto out;
		}
		path_pop(c->path, &c->len, old);
	}
	json_object_foreach((json_t *)props, k, sub) {
		if (json_object_get(v, k))
			continue;
		old = path_push_key(c->path, &c->len, sizeof(c->path), k);
		if (json_is_true(json_object_get(sub, "required")) && !json_object_get(sub, "default")) {
			r = errbuf_set(c->err, -EINVAL, "%s: Required value: %s needs \"%s\"", c->path, c->defname,
				       rel_path(c));
			goto out;
		}
		res = NULL;
		r = apply(sub, NULL, c, &res);
		if (r < 0)
			goto out;
		if (res)
			json_object_set_new(out, k, res);
		path_pop(c->path, &c->len, old);
	}
	*ret = out;
	out = NULL;
out:
	json_decref(out);
	return r;
}

static int apply_array(const json_t *schema, const json_t *v, struct vctx *c, json_t **ret)
{
	const json_t *items = json_object_get(schema, "items"), *e;
	json_t *out = json_array(), *res;
	size_t i, old;
	int r = 0;

	json_array_foreach(v, i, e) {
		old = path_push_index(c->path, &c->len, sizeof(c->path), i);
		res = NULL;
		if (items) {
			r = apply(items, e, c, &res);
			if (r < 0)
				goto out;
		} else {
			res = json_deep_copy(e);
		}
		json_array_append_new(out, res ? res : json_null());
		path_pop(c->path, &c->len, old);
	}
	*ret = out;
	out = NULL;
out:
	json_decref(out);
	return r;
}

static int apply(const json_t *schema, const json_t *v, struct vctx *c, json_t **ret)
{
	int bits = schema_types(schema);
	const json_t *def;
	json_t *res = NULL;
	int r;

	if (bits < 0)
		return errbuf_set(c->err, -EINVAL, "%s: the definition's schema has a malformed type", c->path);
	if (!v) {
		def = json_object_get(schema, "default");
		if (!def) {
			*ret = NULL;
			return 0;
		}
		/* Nested defaults apply inside the default. */
		return apply(schema, def, c, ret);
	}
	if (json_is_null(v)) {
		if (json_is_true(json_object_get(schema, "nullable")) || (bits & T_ANY)) {
			*ret = json_null();
			return 0;
		}
		return bad_type(c, (unsigned)bits, v);
	}
	if (!type_matches((unsigned)bits, v))
		return bad_type(c, (unsigned)bits, v);
	r = check_enum(schema, v, c);
	if (r < 0)
		return r;
	r = check_bounds(schema, v, c);
	if (r < 0)
		return r;
	if (json_is_object(v) && (bits & (T_OBJECT | T_ANY)) &&
	    (json_object_get(schema, "properties") || json_object_get(schema, "additionalProperties"))) {
		r = apply_object(schema, v, c, &res);
		if (r < 0)
			return r;
	} else if (json_is_array(v) && json_object_get(schema, "items")) {
		r = apply_array(schema, v, c, &res);
		if (r < 0)
			return r;
	} else if (json_is_real(v) && (bits & T_INTEGER) && !(bits & T_NUMBER)) {
		res = json_integer((json_int_t)json_real_value(v));
	} else {
		res = json_deep_copy(v);
	}
	*ret = res;
	return 0;
}

int appdef_schema_apply(const json_t *schema, const json_t *value, const char *defname, const char *field,
			struct errbuf *err, json_t **ret_value)
{
	struct vctx *c = xnew(struct vctx);
	json_t *res = NULL;
	int r;

	c->defname = defname ? defname : "the definition";
	c->err = err;
	snprintf(c->path, sizeof(c->path), "%s", field ? field : "");
	c->len = c->root = strlen(c->path);
	if (!schema) {
		*ret_value = value ? json_deep_copy(value) : NULL;
		free(c);
		return 0;
	}
	r = apply(schema, value, c, &res);
	if (r == 0)
		*ret_value = res;
	free(c);
	return r;
}

/* ------------------------------------------------------------------------ */
/* schema well-formedness                                                    */

struct sctx {
	struct errbuf *err;
	char path[SCHEMA_PATH_MAX];
	size_t len;
};

static bool nonneg_integer(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

static int check(const json_t *schema, struct sctx *c, int depth)
{
	const char *k;
	json_t *sub;
	size_t old, i;
	int bits, r;

	if (depth > APPDEF_SCHEMA_DEPTH)
		return errbuf_set(c->err, -E2BIG, "%s: the schema nests more than %d levels", c->path,
				  APPDEF_SCHEMA_DEPTH);
	if (!json_is_object(schema))
		return errbuf_set(c->err, -EINVAL, "%s: Invalid value: a schema must be an object", c->path);
	json_object_foreach((json_t *)schema, k, sub) {
		size_t n;

		for (n = 0; n < sizeof(schema_keys) / sizeof(schema_keys[0]); n++)
			if (!strcmp(k, schema_keys[n]))
				break;
		if (n == sizeof(schema_keys) / sizeof(schema_keys[0]))
			return errbuf_set(c->err, -EINVAL,
					  "%s.%s: Unsupported field: a schema has type, description, default, required, "
					  "nullable, enum, minimum, maximum, minLength, maxLength, minItems, maxItems, "
					  "properties, additionalProperties, items",
					  c->path, k);
	}
	bits = schema_types(schema);
	if (bits < 0)
		return errbuf_set(c->err, -EINVAL,
				  "%s.type: Unsupported value: must be one of string, integer, number, boolean, object, "
				  "array, any, or a list of them",
				  c->path);
	sub = json_object_get(schema, "description");
	if (sub && !json_is_string(sub))
		return errbuf_set(c->err, -EINVAL, "%s.description: Invalid value: must be a string", c->path);
	sub = json_object_get(schema, "required");
	if (sub && !json_is_boolean(sub))
		return errbuf_set(c->err, -EINVAL, "%s.required: Invalid value: must be a boolean", c->path);
	sub = json_object_get(schema, "nullable");
	if (sub && !json_is_boolean(sub))
		return errbuf_set(c->err, -EINVAL, "%s.nullable: Invalid value: must be a boolean", c->path);
	sub = json_object_get(schema, "minimum");
	if (sub && !json_is_number(sub))
		return errbuf_set(c->err, -EINVAL, "%s.minimum: Invalid value: must be a number", c->path);
	sub = json_object_get(schema, "maximum");
	if (sub && !json_is_number(sub))
		return errbuf_set(c->err, -EINVAL, "%s.maximum: Invalid value: must be a number", c->path);
	{
		static const char *const counts[] = {"minLength", "maxLength", "minItems", "maxItems"};

		for (i = 0; i < 4; i++) {
			sub = json_object_get(schema, counts[i]);
			if (sub && !nonneg_integer(sub))
				return errbuf_set(c->err, -EINVAL, "%s.%s: Invalid value: must be a non-negative integer",
						  c->path, counts[i]);
		}
	}
	sub = json_object_get(schema, "properties");
	if (sub) {
		const char *pk;
		json_t *ps;

		if (!json_is_object(sub))
			return errbuf_set(c->err, -EINVAL, "%s.properties: Invalid value: must be an object", c->path);
		if (json_object_size(sub) > SCHEMA_PROPS_MAX)
			return errbuf_set(c->err, -E2BIG, "%s.properties: Too many: %zu: must have at most %d properties",
					  c->path, json_object_size(sub), SCHEMA_PROPS_MAX);
		old = path_push_key(c->path, &c->len, sizeof(c->path), "properties");
		json_object_foreach(sub, pk, ps) {
			size_t o2;

			if (!*pk)
				return errbuf_set(c->err, -EINVAL, "%s: Invalid value: a property name must not be empty",
						  c->path);
			o2 = path_push_key(c->path, &c->len, sizeof(c->path), pk);
			r = check(ps, c, depth + 1);
			if (r < 0)
				return r;
			path_pop(c->path, &c->len, o2);
		}
		path_pop(c->path, &c->len, old);
	}
	sub = json_object_get(schema, "additionalProperties");
	if (sub && !json_is_boolean(sub)) {
		old = path_push_key(c->path, &c->len, sizeof(c->path), "additionalProperties");
		r = check(sub, c, depth + 1);
		if (r < 0)
			return r;
		path_pop(c->path, &c->len, old);
	}
	sub = json_object_get(schema, "items");
	if (sub) {
		old = path_push_key(c->path, &c->len, sizeof(c->path), "items");
		r = check(sub, c, depth + 1);
		if (r < 0)
			return r;
		path_pop(c->path, &c->len, old);
	}
	sub = json_object_get(schema, "enum");
	if (sub) {
		json_t *e;

		if (!json_is_array(sub) || !json_array_size(sub))
			return errbuf_set(c->err, -EINVAL, "%s.enum: Invalid value: must be a non-empty list", c->path);
		if (json_array_size(sub) > SCHEMA_ENUM_MAX)
			return errbuf_set(c->err, -E2BIG, "%s.enum: Too many: %zu: must have at most %d items", c->path,
					  json_array_size(sub), SCHEMA_ENUM_MAX);
		json_array_foreach(sub, i, e) {
			if (!type_matches((unsigned)bits, e)) {
				char what[128];

				types_phrase((unsigned)bits, what, sizeof(what));
				return errbuf_set(c->err, -EINVAL, "%s.enum[%zu]: Invalid value: must be %s, as the type says",
						  c->path, i, what);
			}
		}
	}
	sub = json_object_get(schema, "default");
	if (sub) {
		json_t *res = NULL;

		old = path_push_key(c->path, &c->len, sizeof(c->path), "default");
		r = appdef_schema_apply(schema, sub, "the default", c->path, c->err, &res);
		json_decref(res);
		if (r < 0)
			return r;
		path_pop(c->path, &c->len, old);
	}
	return 0;
}

int appdef_schema_check(const json_t *schema, const char *path, struct errbuf *err)
{
	struct sctx *c = xnew(struct sctx);
	int r;

	c->err = err;
	snprintf(c->path, sizeof(c->path), "%s", path ? path : "parameters");
	c->len = strlen(c->path);
	r = check(schema, c, 1);
	free(c);
	return r;
}
