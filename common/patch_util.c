/* patch_util.c - JSON helpers the patch module shares; see patch_int.h.
 *
 * Kubernetes is written in Go, and some of what we must reproduce byte for
 * byte is Go's formatting: the keys of server-side apply's field sets
 * ("k:{\"containerPort\":80,\"protocol\":\"TCP\"}") are encoding/json output,
 * conflict paths print key values with %q and %v, and the last-applied
 * annotation is an encoding/json document. Those encoders live here, beside
 * the depth, size and equality helpers every patch operation uses. Pure
 * functions; no state.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "patch_int.h"

int patch_depth(const json_t *v, int cap)
{
	const char *key;
	json_t *child;
	size_t i;
	int max = 0, d;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (cap <= 0)
		return 1;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child) {
			d = patch_depth(child, cap - 1);
			if (d > max)
				max = d;
			if (max >= cap)
				break;
		}
	} else {
		json_array_foreach(v, i, child) {
			d = patch_depth(child, cap - 1);
			if (d > max)
				max = d;
			if (max >= cap)
				break;
		}
	}
	return max + 1;
}

int patch_check_depth(const json_t *v, int cap, const char *what, struct errbuf *err)
{
	if (patch_depth(v, cap) > cap)
		return errbuf_set(err, -E2BIG, "%s: nested deeper than %d levels", what, cap);
	return 0;
}

int patch_check_inputs(const json_t *obj, const json_t *patch, const char *what,
		       struct errbuf *err)
{
	int r = patch_check_depth(patch, PATCH_MAX_DEPTH, what, err);

	if (r == 0 && obj)
		r = patch_check_depth(obj, PATCH_MAX_OBJECT_DEPTH, "object", err);
	return r;
}

static size_t count_nodes(const json_t *v, size_t cap, size_t n)
{
	const char *key;
	json_t *child;
	size_t i;

	n++;
	if (n > cap)
		return n;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child) {
			n = count_nodes(child, cap, n);
			if (n > cap)
				return n;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			n = count_nodes(child, cap, n);
			if (n > cap)
				return n;
		}
	}
	return n;
}

size_t patch_count_nodes(const json_t *v, size_t cap)
{
	return v ? count_nodes(v, cap, 0) : 0;
}

bool patch_is_number(const json_t *v)
{
	return json_is_integer(v) || json_is_real(v);
}

bool patch_json_equal(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *va;
	size_t i;

	if (!a || !b)
		return a == b;
	if (patch_is_number(a) && patch_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		json_array_foreach(a, i, va)
			if (!patch_json_equal(va, json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, va)
			if (!patch_json_equal(va, json_object_get(b, key)))
				return false;
		return true;
	default:
		/* true, false, null: same type is same value */
		return true;
	}
}

/* Shortest decimal digits of d that read back as d: digits (no dot) and the
 * decimal exponent of the first digit (d = 0.digits * 10^(exp+1)). */
static void shortest_digits(double d, char *digits, size_t size, int *ret_exp)
{
	char tmp[40];
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* tmp is "D.DDDDe[+-]XX" (d >= 0 here) */
	size_t n = 0;
	const char *p = tmp;

	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && n + 1 < size)
			digits[n++] = *p;
	digits[n] = '\0';
	/* drop trailing zeros ("1.0e+00" cannot happen at shortest, but be safe) */
	while (n > 1 && digits[n - 1] == '0')
		digits[--n] = '\0';
	*ret_exp = *p == 'e' ? atoi(p + 1) : 0;
}

/* %e with Go's exponent style: at least two exponent digits, sign always. */
static int fmt_e(struct buf *b, bool neg, const char *digits, int exp, bool json)
{
	int r;

	r = buf_printf(b, "%s%c", neg ? "-" : "", digits[0]);
	if (r == 0 && digits[1])
		r = buf_printf(b, ".%s", digits + 1);
	if (r < 0)
		return r;
	if (json && exp < 0 && exp > -10)
		/* encoding/json cleans e-09 up to e-9 */
		return buf_printf(b, "e-%d", -exp);
	return buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

/* %f with exactly the shortest digits. */
static int fmt_f(struct buf *b, bool neg, const char *digits, int exp)
{
	int nd = (int)strlen(digits), r = 0;

	if (neg)
		r = buf_puts(b, "-");
	if (r < 0)
		return r;
	if (exp < 0) {
		r = buf_puts(b, "0.");
		for (int i = 0; r == 0 && i < -exp - 1; i++)
			r = buf_puts(b, "0");
		return r < 0 ? r : buf_puts(b, digits);
	}
	for (int i = 0; r == 0 && i <= exp; i++)
		r = buf_append(b, i < nd ? digits + i : "0", 1);
	if (r == 0 && nd > exp + 1)
		r = buf_printf(b, ".%s", digits + exp + 1);
	return r;
}

static int go_float(struct buf *b, double d, bool json)
{
	char digits[32];
	int exp;
	bool neg = d < 0 || (d == 0 && signbit(d));

	if (isnan(d) || isinf(d))
		return buf_puts(b, "null");
	if (d == 0)
		return buf_puts(b, neg ? "-0" : "0");
	shortest_digits(fabs(d), digits, sizeof(digits), &exp);
	if (json) {
		double a = fabs(d);

		if (a < 1e-6 || a >= 1e21)
			return fmt_e(b, neg, digits, exp, true);
		return fmt_f(b, neg, digits, exp);
	}
	/* %v is strconv's 'g' at the shortest precision: exponent form when the
	 * exponent is < -4 or >= 6 (1e+06, 123456) */
	if (exp < -4 || exp >= 6)
		return fmt_e(b, neg, digits, exp, false);
	return fmt_f(b, neg, digits, exp);
}

int patch_go_float_v(struct buf *b, double d)
{
	return go_float(b, d, false);
}

int patch_go_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0;
	int r = buf_puts(b, "\"");

	while (r == 0 && i < n) {
		uint32_t cp;
		size_t len = utf8_decode(p + i, n - i, &cp);
		const char *esc = NULL;
		char ubuf[8];

		if (len == 1 && cp >= 0x20 && cp != '"' && cp != '\\' && cp != '<' && cp != '>' &&
		    cp != '&') {
			i++;
			continue;
		}
		if (len > 1 && cp != 0x2028 && cp != 0x2029) {
			i += len;
			continue;
		}
		r = buf_append(b, s + start, i - start);
		if (r < 0)
			break;
		if (len == 0) {
			esc = "\\ufffd"; /* invalid UTF-8: encoding/json writes U+FFFD */
			len = 1;
		} else if (cp == '"') {
			esc = "\\\"";
		} else if (cp == '\\') {
			esc = "\\\\";
		} else if (cp == '\n') {
			esc = "\\n";
		} else if (cp == '\r') {
			esc = "\\r";
		} else if (cp == '\t') {
			esc = "\\t";
		} else {
			snprintf(ubuf, sizeof(ubuf), "\\u%c%c%c%c", hex[(cp >> 12) & 0xf],
				 hex[(cp >> 8) & 0xf], hex[(cp >> 4) & 0xf], hex[cp & 0xf]);
			esc = ubuf;
		}
		r = buf_puts(b, esc);
		i += len;
		start = i;
	}
	if (r == 0)
		r = buf_append(b, s + start, i - start);
	return r < 0 ? r : buf_puts(b, "\"");
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int patch_go_json(struct buf *b, const json_t *v)
{
	const char *key;
	json_t *child;
	size_t i, n;
	int r = 0;

	switch (json_typeof(v)) {
	case JSON_NULL:
		return buf_puts(b, "null");
	case JSON_TRUE:
		return buf_puts(b, "true");
	case JSON_FALSE:
		return buf_puts(b, "false");
	case JSON_INTEGER: {
		char tmp[24], *e = tmp + sizeof(tmp), *p = e;
		json_int_t x = json_integer_value(v);
		unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;

		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (x < 0)
			*--p = '-';
		return buf_append(b, p, (size_t)(e - p));
	}
	case JSON_REAL:
		return go_float(b, json_real_value(v), true);
	case JSON_STRING:
		return patch_go_json_str(b, json_string_value(v), json_string_length(v));
	case JSON_ARRAY:
		r = buf_puts(b, "[");
		json_array_foreach(v, i, child) {
			if (r == 0 && i > 0)
				r = buf_puts(b, ",");
			if (r == 0)
				r = patch_go_json(b, child);
		}
		return r < 0 ? r : buf_puts(b, "]");
	case JSON_OBJECT: {
		const char **keys;

		n = json_object_size(v);
		keys = xcalloc(n ? n : 1, sizeof(*keys));
		i = 0;
		json_object_foreach((json_t *)v, key, child)
			keys[i++] = key;
		qsort(keys, n, sizeof(*keys), cmp_keys);
		r = buf_puts(b, "{");
		for (i = 0; r == 0 && i < n; i++) {
			if (i > 0)
				r = buf_puts(b, ",");
			if (r == 0)
				r = patch_go_json_str(b, keys[i], strlen(keys[i]));
			if (r == 0)
				r = buf_puts(b, ":");
			if (r == 0)
				r = patch_go_json(b, json_object_get(v, keys[i]));
		}
		free(keys);
		return r < 0 ? r : buf_puts(b, "}");
	}
	}
	return -EINVAL;
}

char *patch_go_json_string(const json_t *v, size_t max)
{
	struct buf b;

	buf_init(&b, max);
	if (patch_go_json(&b, v) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

int patch_go_quote(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	int r = buf_puts(b, "\"");

	while (r == 0 && i < n) {
		uint32_t cp;
		size_t len = utf8_decode(p + i, n - i, &cp);

		if (len == 0) {
			r = buf_printf(b, "\\x%c%c", hex[p[i] >> 4], hex[p[i] & 0xf]);
			i++;
			continue;
		}
		switch (cp) {
		case '"': r = buf_puts(b, "\\\""); break;
		case '\\': r = buf_puts(b, "\\\\"); break;
		case '\a': r = buf_puts(b, "\\a"); break;
		case '\b': r = buf_puts(b, "\\b"); break;
		case '\f': r = buf_puts(b, "\\f"); break;
		case '\n': r = buf_puts(b, "\\n"); break;
		case '\r': r = buf_puts(b, "\\r"); break;
		case '\t': r = buf_puts(b, "\\t"); break;
		case '\v': r = buf_puts(b, "\\v"); break;
		default:
			if (cp < 0x20 || cp == 0x7f)
				r = buf_printf(b, "\\x%c%c", hex[cp >> 4], hex[cp & 0xf]);
			else if (cp >= 0x80 && cp < 0xa0)
				r = buf_printf(b, "\\u%04x", (unsigned)cp);
			else
				r = buf_append(b, s + i, len);
		}
		i += len;
	}
	return r < 0 ? r : buf_puts(b, "\"");
}
