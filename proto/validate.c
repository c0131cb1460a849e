/* validate.c - field getters and format checks behind every proto/ validator.
 *
 * See proto_int.h. Everything here is pure: no allocation except what jansson
 * does on reads (none), no global state, callable from any thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "proto_int.h"
#include "timefmt.h"

/* 9999-12-30T00:00:00Z: the latest time accepted, so that any offset still
 * formats within year 9999 after normalising to UTC. */
#define P_TIME_MAX_US (INT64_C(253402128000) * 1000000)

void pctx_init(struct pctx *c, const struct proto_limits *lim, struct errbuf *err)
{
	c->lim = proto_lim(lim);
	c->err = err;
	c->path[0] = '\0';
	c->plen = 0;
}

/* Append text to the path, ending in "..." when it does not fit. */
static size_t pctx_append(struct pctx *c, const char *text)
{
	size_t mark = c->plen, n = strlen(text);

	if (c->plen + n + 1 > sizeof(c->path)) {
		if (c->plen + 4 <= sizeof(c->path) && (c->plen < 3 || strcmp(c->path + c->plen - 3, "...") != 0)) {
			memcpy(c->path + c->plen, "...", 4);
			c->plen += 3;
		}
		return mark;
	}
	memcpy(c->path + c->plen, text, n + 1);
	c->plen += n;
	return mark;
}

size_t pctx_key(struct pctx *c, const char *key)
{
	size_t mark = c->plen;

	if (c->plen > 0)
		pctx_append(c, ".");
	pctx_append(c, key);
	return mark;
}

size_t pctx_index(struct pctx *c, size_t i)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "[%zu]", i);
	return pctx_append(c, tmp);
}

void pctx_pop(struct pctx *c, size_t mark)
{
	if (mark < c->plen) {
		c->plen = mark;
		c->path[mark] = '\0';
	}
}

int pctx_fail(struct pctx *c, int code, const char *field, const char *fmt, ...)
{
	char msg[ERRBUF_MAX];
	va_list ap;

	if (!c->err)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (field && c->plen > 0)
		return errbuf_set(c->err, code, "%s.%s: %s", c->path, field, msg);
	if (field)
		return errbuf_set(c->err, code, "%s: %s", field, msg);
	if (c->plen > 0)
		return errbuf_set(c->err, code, "%s: %s", c->path, msg);
	return errbuf_set(c->err, code, "event: %s", msg);
}

const char *p_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

json_t *p_get(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v && !json_is_null(v) ? v : NULL;
}

int p_string(struct pctx *c, const json_t *obj, const char *key, bool required, bool allow_empty,
	     size_t maxlen, const char **ret)
{
	json_t *v = p_get(obj, key);
	size_t n;

	if (!v) {
		if (required)
			return pctx_fail(c, -EINVAL, key, "required");
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return pctx_fail(c, -EINVAL, key, "must be a string, not %s", p_json_type_name(v));
	n = json_string_length(v);
	if (n != strlen(json_string_value(v)))
		return pctx_fail(c, -EINVAL, key, "must not contain NUL");
	if (n == 0 && !allow_empty)
		return pctx_fail(c, -EINVAL, key, "must not be empty");
	if (n > maxlen)
		return pctx_fail(c, -E2BIG, key, "%zu bytes exceeds the limit of %zu", n, maxlen);
	*ret = json_string_value(v);
	return 0;
}

int p_int(struct pctx *c, const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
	  bool *ret_present, int64_t *ret)
{
	json_t *v = p_get(obj, key);
	json_int_t i;

	if (!v) {
		if (required)
			return pctx_fail(c, -EINVAL, key, "required");
		if (ret_present)
			*ret_present = false;
		return 0;
	}
	if (!json_is_integer(v))
		return pctx_fail(c, -EINVAL, key, "must be an integer, not %s", p_json_type_name(v));
	i = json_integer_value(v);
	if (i < min || i > max)
		return pctx_fail(c, -EINVAL, key, "%lld is out of range [%lld, %lld]", (long long)i,
				 (long long)min, (long long)max);
	if (ret_present)
		*ret_present = true;
	if (ret)
		*ret = i;
	return 0;
}

int p_bool(struct pctx *c, const json_t *obj, const char *key, bool required, bool *ret_present,
	   bool *ret)
{
	json_t *v = p_get(obj, key);

	if (!v) {
		if (required)
			return pctx_fail(c, -EINVAL, key, "required");
		if (ret_present)
			*ret_present = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return pctx_fail(c, -EINVAL, key, "must be a boolean, not %s", p_json_type_name(v));
	if (ret_present)
		*ret_present = true;
	if (ret)
		*ret = json_is_true(v);
	return 0;
}

int p_object(struct pctx *c, const json_t *obj, const char *key, bool required, json_t **ret)
{
	json_t *v = p_get(obj, key);

	if (!v) {
		if (required)
			return pctx_fail(c, -EINVAL, key, "required");
		*ret = NULL;
		return 0;
	}
	if (!json_is_object(v))
		return pctx_fail(c, -EINVAL, key, "must be an object, not %s", p_json_type_name(v));
	*ret = v;
	return 0;
}

int p_array(struct pctx *c, const json_t *obj, const char *key, bool required, size_t max,
	    json_t **ret)
{
	json_t *v = p_get(obj, key);

	if (!v) {
		if (required)
			return pctx_fail(c, -EINVAL, key, "required");
		*ret = NULL;
		return 0;
	}
	if (!json_is_array(v))
		return pctx_fail(c, -EINVAL, key, "must be an array, not %s", p_json_type_name(v));
	if (json_array_size(v) > max)
		return pctx_fail(c, -E2BIG, key, "%zu entries exceeds the limit of %zu", json_array_size(v),
				 max);
	*ret = v;
	return 0;
}

int p_enum(struct pctx *c, const json_t *obj, const char *key, bool required,
	   const char *const *values, const char **ret)
{
	const char *s;
	char list[256];
	size_t n = 0;
	int r;

	r = p_string(c, obj, key, required, false, 256, &s);
	if (r < 0)
		return r;
	if (!s) {
		*ret = NULL;
		return 0;
	}
	for (const char *const *v = values; *v; v++)
		if (strcmp(s, *v) == 0) {
			*ret = *v;
			return 0;
		}
	list[0] = '\0';
	for (const char *const *v = values; *v; v++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *v);

		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
	}
	return pctx_fail(c, -EINVAL, key, "unsupported value \"%.64s\" (one of: %s)", s, list);
}

int p_time(struct pctx *c, const json_t *obj, const char *key, bool required, bool *ret_present,
	   int64_t *ret_us)
{
	const char *s = NULL;
	int64_t us;
	int r;

	r = p_string(c, obj, key, required, false, 64, &s);
	if (r < 0)
		return r;
	if (!s) {
		if (ret_present)
			*ret_present = false;
		return 0;
	}
	if (time_parse_rfc3339(s, &us) < 0)
		return pctx_fail(c, -EINVAL, key, "\"%.64s\" is not an RFC 3339 time", s);
	if (!p_time_in_range(us))
		return pctx_fail(c, -EINVAL, key, "\"%.64s\" is outside 1970..9999", s);
	if (ret_present)
		*ret_present = true;
	if (ret_us)
		*ret_us = us;
	return 0;
}

/* metav1.Condition: type, status required; reason, message, lastTransitionTime,
 * observedGeneration optional. */
static int p_condition(struct pctx *c, const json_t *cond)
{
	static const char *const statuses[] = { "True", "False", "Unknown", NULL };
	const char *s;
	int r;

	/* Kubernetes caps a condition type at 316 bytes (a qualified name). */
	r = p_string(c, cond, "type", true, false, 316, &s);
	if (r < 0)
		return r;
	r = p_enum(c, cond, "status", true, statuses, &s);
	if (r < 0)
		return r;
	r = p_string(c, cond, "reason", false, true, 1024, &s);
	if (r < 0)
		return r;
	r = p_string(c, cond, "message", false, true, c->lim->max_message_bytes, &s);
	if (r < 0)
		return r;
	r = p_time(c, cond, "lastTransitionTime", false, NULL, NULL);
	if (r < 0)
		return r;
	return p_int(c, cond, "observedGeneration", false, 0, INT64_MAX, NULL, NULL);
}

int p_conditions(struct pctx *c, const json_t *obj, const char *key)
{
	return p_list(c, obj, key, c->lim->max_conditions, p_condition);
}

int p_each(struct pctx *c, const char *key, const json_t *list, p_check_fn check)
{
	size_t i, mark;
	json_t *e;
	int r;

	json_array_foreach(list, i, e) {
		mark = pctx_key(c, key);
		pctx_index(c, i);
		if (!json_is_object(e))
			r = pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(e));
		else
			r = check(c, e);
		pctx_pop(c, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

int p_list(struct pctx *c, const json_t *obj, const char *key, size_t max, p_check_fn check)
{
	json_t *list = NULL;
	int r;

	r = p_array(c, obj, key, false, max, &list);
	if (r < 0 || !list)
		return r;
	return p_each(c, key, list, check);
}

int p_nested(struct pctx *c, const json_t *obj, const char *key, bool required, p_check_fn check)
{
	json_t *o = NULL;
	size_t mark;
	int r;

	r = p_object(c, obj, key, required, &o);
	if (r < 0 || !o)
		return r;
	mark = pctx_key(c, key);
	r = check(c, o);
	pctx_pop(c, mark);
	return r;
}

int p_check_payload(const json_t *data, const struct proto_limits *lim, struct errbuf *err,
		    p_check_fn check)
{
	struct pctx c;
	int r;

	pctx_init(&c, lim, err);
	pctx_key(&c, "data");
	r = p_check_tree(&c, data);
	if (r == 0)
		r = check(&c, data);
	return r;
}

/* One step of a path from the root to the node being walked. */
struct p_step {
	const char *key; /* NULL for an array index */
	size_t index;
};

static int p_tree_fail(struct pctx *c, const struct p_step *steps, size_t n, int code, const char *msg)
{
	size_t mark = c->plen;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (steps[i].key)
			pctx_key(c, steps[i].key);
		else
			pctx_index(c, steps[i].index);
	}
	r = pctx_fail(c, code, NULL, "%s", msg);
	pctx_pop(c, mark);
	return r;
}

static int p_walk(struct pctx *c, const json_t *v, struct p_step *steps, size_t depth, size_t max)
{
	int r;

	if (json_is_string(v)) {
		if (json_string_length(v) != strlen(json_string_value(v)))
			return p_tree_fail(c, steps, depth, -EINVAL, "string must not contain NUL");
		return 0;
	}
	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (depth + 1 > max) {
		char msg[64];

		snprintf(msg, sizeof(msg), "JSON nested deeper than %zu levels", max);
		return p_tree_fail(c, steps, depth, -E2BIG, msg);
	}
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			steps[depth].key = NULL;
			steps[depth].index = i;
			r = p_walk(c, json_array_get(v, i), steps, depth + 1, max);
			if (r < 0)
				return r;
		}
		return 0;
	}
	for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
		const char *key = json_object_iter_key(it);

		steps[depth].key = key;
		if (json_object_iter_key_len(it) != strlen(key))
			return p_tree_fail(c, steps, depth, -EINVAL, "key must not contain NUL");
		r = p_walk(c, json_object_iter_value(it), steps, depth + 1, max);
		if (r < 0)
			return r;
	}
	return 0;
}

int p_check_tree(struct pctx *c, const json_t *v)
{
	struct p_step steps[PROTO_JSON_DEPTH_HARD_MAX + 1];
	size_t max = c->lim->max_json_depth;

	if (max > PROTO_JSON_DEPTH_HARD_MAX)
		max = PROTO_JSON_DEPTH_HARD_MAX;
	return p_walk(c, v, steps, 0, max);
}

static bool is_lower_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

bool p_is_uuid(const char *s)
{
	for (int i = 0; i < PROTO_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!is_lower_hex(s[i])) {
			return false;
		}
	}
	return s[PROTO_UUID_LEN] == '\0';
}

bool p_is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return s[64] == '\0';
}

bool p_is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

bool p_time_in_range(int64_t us)
{
	return us >= 0 && us <= P_TIME_MAX_US;
}

bool p_parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}
