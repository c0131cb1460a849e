/* yaml.c - YAML to JSON and JSON to YAML, the way Kubernetes does it.
 *
 * Reading: libyaml's event parser drives a small builder that makes jansson
 * values directly (no intermediate document tree). A stack of frames holds
 * the mappings and sequences under construction; a finished node is handed to
 * its parent (deliver()). Plain scalars are resolved with the rules of the
 * go-yaml v2 fork that kubectl 1.32 vendors (sigs.k8s.io/yaml/goyaml.v2,
 * resolve.go), then converted to JSON the way sigs.k8s.io/yaml does: through
 * Go's encoding/json, which is why an integral float such as 3.0 or 1e3
 * becomes the JSON integer 3 / 1000 (what the API server sees), and why
 * mapping keys that resolve to booleans, numbers or floats become strings
 * ("true", "16", "1e+06"). Every rule below was checked against kubectl 1.32
 * (`kubectl label --local -f x.yaml k- -o json`).
 *
 * Anchors live in a per-document hash table. A collection anchor keeps a
 * reference to the finished value; each alias use makes a deep copy, so the
 * returned tree never shares nodes and callers may modify it freely. Node
 * counts (events, with an alias counting as the size of what it names) and
 * nesting are capped before any copy is made, which is what stops alias
 * bombs. Scalar anchors keep the scalar's text and tag, so an alias is
 * resolved exactly as the original would be in its new position (a key or a
 * value).
 *
 * Writing: yaml_emit() feeds libyaml's emitter with block-style events. The
 * only decisions taken here are which strings must be quoted (those that would
 * resolve to something other than a string if written plain, as go-yaml's
 * encoder decides), and which may use a literal block '|'. libyaml then
 * checks whether plain or literal is actually possible for the characters
 * and falls back to quoting, so the output always reads back to the input.
 *
 * Everything here is synchronous, allocation-bounded by the limits, and keeps
 * no global state except a "C" locale object made once (number formatting and
 * parsing must not depend on the process locale).
 */
#include "yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml_libyaml.h>

#include "alloc.h"
#include "buf.h"
#include "codec.h"

const struct yaml_limits yaml_default_limits = {
	.max_input = 8u << 20,
	.max_depth = 100,
	.max_nodes = 1000000,
	.max_documents = 10000,
};

/* Cap on buffers holding our own output (repaired strings, yaml_emit()):
 * not outside input, so only a sanity bound. */
#define YAML_OUT_MAX (SIZE_MAX / 4)

/* Whatever the caller asks for, nesting stays below this: jansson frees and
 * copies values recursively, and so does yaml_emit(). */
#define YAML_HARD_MAX_DEPTH 2000

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

/* ------------------------------------------------------------------------ */
/* The "C" locale, for strtod and printf of numbers.                        */

static locale_t yaml_c_locale;
static pthread_once_t yaml_c_locale_once = PTHREAD_ONCE_INIT;

static void yaml_c_locale_init(void)
{
	yaml_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t yaml_locale(void)
{
	pthread_once(&yaml_c_locale_once, yaml_c_locale_init);
	return yaml_c_locale;
}

/* strtod in the C locale; s is NUL-terminated and already validated. */
static double yaml_strtod(const char *s, bool *ret_overflow)
{
	locale_t loc = yaml_locale();
	double d;

	errno = 0;
	d = loc ? strtod_l(s, NULL, loc) : strtod(s, NULL);
	/* Go's ParseFloat fails only on overflow; underflow gives 0 or a
	 * denormal without error, and so do we. */
	*ret_overflow = isinf(d);
	return d;
}

/* snprintf in the C locale. */
static int yaml_fmt_num(char *out, size_t n, const char *fmt, int prec, double d)
{
	locale_t loc = yaml_locale();
	locale_t old = loc ? uselocale(loc) : (locale_t)0;
	int r = snprintf(out, n, fmt, prec, d);

	if (loc)
		uselocale(old);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Scalar resolution (go-yaml v2 as vendored by kubectl 1.32).              */

enum yaml_rkind {
	YAML_R_STR,
	YAML_R_NULL,
	YAML_R_BOOL,
	YAML_R_INT,   /* fits int64 */
	YAML_R_UINT,  /* above INT64_MAX, fits uint64 */
	YAML_R_FLOAT, /* finite, or +-inf / nan from the .inf/.nan words */
	YAML_R_MERGE, /* only from the "<<" check in yaml_resolve_plain() */
};

struct yaml_resolved {
	enum yaml_rkind kind;
	bool b;
	int64_t i;
	uint64_t u;
	double d;
};

/* Go's strconv.ParseUint(s, base, 64); base 0 means "from the prefix"
 * (0x, 0o, 0b, or a leading 0 for octal). Returns 0, -EINVAL or -ERANGE. */
static int yaml_go_parse_uint(const char *s, size_t n, int base, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;

	if (n == 0)
		return -EINVAL;
	if (base == 0) {
		base = 10;
		if (s[0] == '0') {
			char c = n >= 3 ? (char)(s[1] | 0x20) : 0;

			if (c == 'b') {
				base = 2;
				i = 2;
			} else if (c == 'o') {
				base = 8;
				i = 2;
			} else if (c == 'x') {
				base = 16;
				i = 2;
			} else {
				base = 8;
				i = 1;
			}
		}
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			d = (unsigned)((c | 0x20) - 'a') + 10;
		else
			return -EINVAL;
		if (d >= (unsigned)base)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / (uint64_t)base)
			return -ERANGE;
		v = v * (uint64_t)base + d;
	}
	*ret = v;
	return 0;
}

/* Go's strconv.ParseInt(s, base, 64). */
static int yaml_go_parse_int(const char *s, size_t n, int base, int64_t *ret)
{
	bool neg = false;
	uint64_t u;
	int r;

	if (n == 0)
		return -EINVAL;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		s++;
		n--;
	}
	r = yaml_go_parse_uint(s, n, base, &u);
	if (r < 0)
		return r;
	if (!neg && u > (uint64_t)INT64_MAX)
		return -ERANGE;
	if (neg && u > (uint64_t)INT64_MAX + 1)
		return -ERANGE;
	*ret = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

static bool yaml_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_style_float(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	if (i < n && s[i] == '.') {
		i++;
		for (d = i; i < n && yaml_is_digit(s[i]); i++)
			;
		if (i == d)
			return false;
	} else {
		for (d = i; i < n && yaml_is_digit(s[i]); i++)
			;
		if (i == d)
			return false;
		if (i < n && s[i] == '.')
			for (i++; i < n && yaml_is_digit(s[i]); i++)
				;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		for (d = i; i < n && yaml_is_digit(s[i]); i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

/* Go's ParseFloat on a string starting with '.': "." digits, an optional
 * exponent, underscores allowed only between digits (strconv's
 * underscoreOK). Writes the string without underscores to out (n + 1
 * bytes). */
static bool yaml_dot_float(const char *s, size_t n, char *out)
{
	size_t o = 0;
	char saw = '^'; /* '0' digit, '_' underscore, '!' other */

	for (size_t i = 0; i < n; i++) {
		if (yaml_is_digit(s[i])) {
			saw = '0';
		} else if (s[i] == '_') {
			if (saw != '0')
				return false;
			saw = '_';
			continue;
		} else {
			if (saw == '_')
				return false;
			saw = '!';
		}
		out[o++] = s[i];
	}
	if (saw == '_')
		return false;
	out[o] = '\0';
	return o > 1 && out[0] == '.' && yaml_is_digit(out[1]) && yaml_style_float(out, o);
}

struct yaml_word {
	const char *w;
	enum yaml_rkind kind;
	int v; /* bool value, or the sign of an infinity, 0 for nan */
};

static const struct yaml_word yaml_words[] = {
	{ "y", YAML_R_BOOL, 1 },     { "Y", YAML_R_BOOL, 1 },      { "yes", YAML_R_BOOL, 1 },
	{ "Yes", YAML_R_BOOL, 1 },   { "YES", YAML_R_BOOL, 1 },    { "true", YAML_R_BOOL, 1 },
	{ "True", YAML_R_BOOL, 1 },  { "TRUE", YAML_R_BOOL, 1 },   { "on", YAML_R_BOOL, 1 },
	{ "On", YAML_R_BOOL, 1 },    { "ON", YAML_R_BOOL, 1 },     { "n", YAML_R_BOOL, 0 },
	{ "N", YAML_R_BOOL, 0 },     { "no", YAML_R_BOOL, 0 },     { "No", YAML_R_BOOL, 0 },
	{ "NO", YAML_R_BOOL, 0 },    { "false", YAML_R_BOOL, 0 },  { "False", YAML_R_BOOL, 0 },
	{ "FALSE", YAML_R_BOOL, 0 }, { "off", YAML_R_BOOL, 0 },    { "Off", YAML_R_BOOL, 0 },
	{ "OFF", YAML_R_BOOL, 0 },   { "~", YAML_R_NULL, 0 },      { "null", YAML_R_NULL, 0 },
	{ "Null", YAML_R_NULL, 0 },  { "NULL", YAML_R_NULL, 0 },   { ".nan", YAML_R_FLOAT, 0 },
	{ ".NaN", YAML_R_FLOAT, 0 }, { ".NAN", YAML_R_FLOAT, 0 },  { ".inf", YAML_R_FLOAT, 1 },
	{ ".Inf", YAML_R_FLOAT, 1 }, { ".INF", YAML_R_FLOAT, 1 },  { "+.inf", YAML_R_FLOAT, 1 },
	{ "+.Inf", YAML_R_FLOAT, 1 }, { "+.INF", YAML_R_FLOAT, 1 }, { "-.inf", YAML_R_FLOAT, -1 },
	{ "-.Inf", YAML_R_FLOAT, -1 }, { "-.INF", YAML_R_FLOAT, -1 },
};

#define YAML_NUM_STACK 128

/* Resolve a plain (untagged, unquoted) scalar: what go-yaml v2's resolve("",
 * s) returns. Timestamps are not looked for: into an interface{} go-yaml
 * keeps them as strings, and no timestamp also reads as a number. */
static void yaml_resolve_plain(const char *s, size_t n, struct yaml_resolved *r)
{
	char stack[YAML_NUM_STACK], *plain = stack;
	size_t pn = 0;
	bool ovf;

	memset(r, 0, sizeof(*r));
	r->kind = YAML_R_STR;
	if (n == 0) {
		r->kind = YAML_R_NULL;
		return;
	}
	switch (s[0]) {
	case '+': case '-': case '.': case '~':
	case 'y': case 'Y': case 'n': case 'N': case 't': case 'T':
	case 'f': case 'F': case 'o': case 'O':
		if (n > 5)
			break;
		for (size_t i = 0; i < sizeof(yaml_words) / sizeof(yaml_words[0]); i++) {
			const struct yaml_word *w = &yaml_words[i];

			if (strlen(w->w) != n || memcmp(w->w, s, n) != 0)
				continue;
			r->kind = w->kind;
			if (w->kind == YAML_R_BOOL)
				r->b = w->v;
			else if (w->kind == YAML_R_FLOAT)
				r->d = w->v == 0 ? NAN : w->v * INFINITY;
			return;
		}
		break;
	case '<':
		/* go-yaml resolves "<<" as a string (its table has no hint for
		 * '<') but reads it as a merge key when plain; the emitter must
		 * quote it, so it is reported here. */
		if (n == 2 && s[1] == '<')
			r->kind = YAML_R_MERGE;
		return;
	default:
		break;
	}
	if (s[0] == '.') {
		if (n >= sizeof(stack))
			plain = xmalloc(n + 1);
		if (yaml_dot_float(s, n, plain)) {
			double d = yaml_strtod(plain, &ovf);

			if (!ovf) {
				r->kind = YAML_R_FLOAT;
				r->d = d;
			}
		}
		goto out;
	}
	if (!yaml_is_digit(s[0]) && s[0] != '+' && s[0] != '-')
		return;

	/* Int, float (or a timestamp, which stays a string). */
	if (n >= sizeof(stack))
		plain = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		if (s[i] != '_')
			plain[pn++] = s[i];
	plain[pn] = '\0';

	if (yaml_go_parse_int(plain, pn, 0, &r->i) == 0) {
		r->kind = YAML_R_INT;
		goto out;
	}
	if (yaml_go_parse_uint(plain, pn, 0, &r->u) == 0) {
		r->kind = YAML_R_UINT;
		goto out;
	}
	if (yaml_style_float(plain, pn)) {
		double d = yaml_strtod(plain, &ovf);

		if (!ovf) {
			r->kind = YAML_R_FLOAT;
			r->d = d;
			goto out;
		}
	}
	if (pn > 2 && plain[0] == '0' && plain[1] == 'b') {
		/* ParseInt(plain[2:], 2) lets a sign through after "0b". */
		if (yaml_go_parse_int(plain + 2, pn - 2, 2, &r->i) == 0)
			r->kind = YAML_R_INT;
		else if (yaml_go_parse_uint(plain + 2, pn - 2, 2, &r->u) == 0)
			r->kind = YAML_R_UINT;
	} else if (pn > 3 && plain[0] == '-' && plain[1] == '0' && plain[2] == 'b') {
		plain[2] = '-';
		if (yaml_go_parse_int(plain + 2, pn - 2, 2, &r->i) == 0)
			r->kind = YAML_R_INT;
	}
out:
	if (plain != stack)
		free(plain);
}

/* go-yaml's encoder quotes these too, for other YAML 1.1 readers:
 * ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$ */
static bool yaml_is_base60_float(const char *s, size_t n)
{
	size_t i = 0, groups = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	if (i >= n || !yaml_is_digit(s[i]))
		return false;
	for (i++; i < n && (yaml_is_digit(s[i]) || s[i] == '_'); i++)
		;
	while (i < n && s[i] == ':') {
		size_t d = ++i;

		while (i < n && yaml_is_digit(s[i]) && i - d < 2)
			i++;
		if (i == d || (i - d == 2 && s[d] > '5'))
			return false;
		groups++;
	}
	if (groups == 0)
		return false;
	if (i < n && s[i] == '.')
		for (i++; i < n && (yaml_is_digit(s[i]) || s[i] == '_'); i++)
			;
	return i == n;
}

/* !!timestamp: the layouts go-yaml tries with time.Parse, checked loosely:
 * YYYY-M-D, then optionally [Tt]h:m:s[.frac](Z|+hh:mm|-hh:mm) or
 * ' 'h:m:s[.frac]. */
static bool yaml_num_field(const char *s, size_t n, size_t *i, size_t min, size_t max,
			   unsigned lo, unsigned hi)
{
	size_t start = *i;
	unsigned v = 0;

	while (*i < n && yaml_is_digit(s[*i]) && *i - start < max)
		v = v * 10 + (unsigned)(s[(*i)++] - '0');
	return *i - start >= min && v >= lo && v <= hi;
}

static bool yaml_is_timestamp(const char *s, size_t n)
{
	size_t i = 0;

	if (!yaml_num_field(s, n, &i, 4, 4, 0, 9999) || i >= n || s[i++] != '-')
		return false;
	if (!yaml_num_field(s, n, &i, 1, 2, 1, 12) || i >= n || s[i++] != '-')
		return false;
	if (!yaml_num_field(s, n, &i, 1, 2, 1, 31))
		return false;
	if (i == n)
		return true;
	bool zone = s[i] == 'T' || s[i] == 't';

	if (!zone && s[i] != ' ')
		return false;
	i++;
	if (!yaml_num_field(s, n, &i, 1, 2, 0, 23) || i >= n || s[i++] != ':')
		return false;
	if (!yaml_num_field(s, n, &i, 1, 2, 0, 59) || i >= n || s[i++] != ':')
		return false;
	if (!yaml_num_field(s, n, &i, 1, 2, 0, 59))
		return false;
	if (i < n && s[i] == '.') {
		i++;
		if (!yaml_num_field(s, n, &i, 1, 9, 0, 999999999))
			return false;
	}
	if (!zone)
		return i == n;
	if (i < n && s[i] == 'Z')
		return i + 1 == n;
	if (i >= n || (s[i] != '+' && s[i] != '-'))
		return false;
	i++;
	if (!yaml_num_field(s, n, &i, 2, 2, 0, 23) || i >= n || s[i++] != ':')
		return false;
	return yaml_num_field(s, n, &i, 2, 2, 0, 59) && i == n;
}

/* ------------------------------------------------------------------------ */
/* Strings: base64 for !!binary, UTF-8 repair as Go's encoding/json does.   */

/* Go's base64.StdEncoding.DecodeString: padding required, CR and LF
 * ignored, anything else invalid. out has room for n bytes. */
static int yaml_b64_decode(const char *s, size_t n, char *out, size_t *ret_len)
{
	unsigned char q[4];
	size_t o = 0, k = 0;
	bool done = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n')
			continue;
		if (done)
			return -EINVAL;
		q[k++] = c;
		if (k < 4)
			continue;
		k = 0;
		int a = base64_char_value(q[0]), b = base64_char_value(q[1]);
		int c2 = base64_char_value(q[2]), d = base64_char_value(q[3]);

		if (a < 0 || b < 0)
			return -EINVAL;
		out[o++] = (char)((a << 2) | (b >> 4));
		if (q[2] == '=') {
			if (q[3] != '=')
				return -EINVAL;
			done = true;
			continue;
		}
		if (c2 < 0)
			return -EINVAL;
		out[o++] = (char)(((b & 15) << 4) | (c2 >> 2));
		if (q[3] == '=') {
			done = true;
			continue;
		}
		if (d < 0)
			return -EINVAL;
		out[o++] = (char)(((c2 & 3) << 6) | d);
	}
	if (k != 0)
		return -EINVAL;
	*ret_len = o;
	return 0;
}

/* A JSON string from arbitrary bytes: each byte that does not start a valid
 * UTF-8 sequence becomes U+FFFD, as Go's encoding/json writes it. */
static json_t *yaml_string_repair(const char *s, size_t n)
{
	struct buf b;
	json_t *j;
	size_t len;
	char *t;

	j = json_stringn(s, n);
	if (j)
		return j;
	buf_init(&b, YAML_OUT_MAX);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = utf8_decode((const unsigned char *)s + i, n - i, &cp);

		if (l == 0) {
			buf_append(&b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			buf_append(&b, s + i, l);
			i += l;
		}
	}
	t = buf_steal(&b, &len);
	j = json_stringn_nocheck(t, len);
	free(t);
	return j;
}

/* ------------------------------------------------------------------------ */
/* The builder.                                                             */

struct yaml_anchor {
	struct yaml_anchor *next; /* hash chain */
	char *name;               /* owned */
	unsigned long serial;     /* which anchoring node this is */
	bool open;                /* the anchored collection is not finished */
	bool is_scalar;
	/* scalar anchors: the event's data, resolved at each use */
	char *text;               /* owned */
	size_t len;
	char *tag;                /* owned; NULL when untagged */
	bool plain;               /* plain_implicit */
	/* collection anchors */
	json_t *value;            /* a reference we hold; NULL while open */
	size_t nodes;             /* nodes in the subtree */
	size_t bytes;             /* scalar text in the subtree */
	size_t height;            /* nesting levels in the subtree */
};

struct yaml_frame {
	json_t *node;          /* owned: the object or array being built */
	bool is_map;
	bool have_key;         /* a key waits for its value */
	bool key_is_merge;
	char *key;             /* owned; the waiting key */
	size_t key_len;
	json_t *explicit_keys; /* owned; keys written by the document once a
				* merge happened (NULL before) */
	char *anchor;          /* owned; NULL when not anchored */
	unsigned long serial;
	size_t first_node;     /* node count when this collection started */
	size_t first_byte;     /* scalar byte count then */
	size_t height;
};

struct yaml_ctx {
	const char *text;
	size_t len;
	struct yaml_limits lim;
	struct errbuf *err;
	struct yaml_frame *stack; /* owned */
	size_t depth, cap;
	json_t *root;             /* owned; the finished document value */
	bool have_root;
	size_t nodes;
	size_t bytes;             /* scalar text so far, aliases expanded */
	size_t max_bytes;         /* cap on bytes: 4 * max_input */
	unsigned long serial;
	/* anchors of the current document: a chained hash table that doubles
	 * when it holds more entries than buckets, so lookups stay O(1) however
	 * many anchors a document defines */
	struct yaml_anchor **anchors; /* owned; nbuckets entries or NULL */
	size_t nbuckets;              /* a power of two */
	size_t nanchors;
};

/* n bytes of s, which may hold NULs, plus a terminating NUL. Caller frees. */
static char *yaml_memdup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static size_t yaml_hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static struct yaml_anchor *yaml_anchor_free(struct yaml_anchor *a)
{
	if (!a)
		return NULL;
	free(a->name);
	free(a->text);
	free(a->tag);
	json_decref(a->value);
	free(a);
	return NULL;
}

static struct yaml_anchor *yaml_anchor_find(struct yaml_ctx *c, const char *name)
{
	if (!c->nbuckets)
		return NULL;
	for (struct yaml_anchor *a = c->anchors[yaml_hash(name) & (c->nbuckets - 1)]; a; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static void yaml_anchors_grow(struct yaml_ctx *c)
{
	size_t n = c->nbuckets ? c->nbuckets * 2 : 64;
	struct yaml_anchor **t = xcalloc(n, sizeof(*t));

	for (size_t i = 0; i < c->nbuckets; i++) {
		while (c->anchors[i]) {
			struct yaml_anchor *a = c->anchors[i];
			size_t h = yaml_hash(a->name) & (n - 1);

			c->anchors[i] = a->next;
			a->next = t[h];
			t[h] = a;
		}
	}
	free(c->anchors);
	c->anchors = t;
	c->nbuckets = n;
}

/* Define name anew (go-yaml: the latest node carrying an anchor wins). */
static struct yaml_anchor *yaml_anchor_define(struct yaml_ctx *c, const char *name)
{
	struct yaml_anchor **pp, *a;
	size_t h;

	if (c->nanchors >= c->nbuckets)
		yaml_anchors_grow(c);
	h = yaml_hash(name) & (c->nbuckets - 1);
	for (pp = &c->anchors[h]; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0) {
			a = *pp;
			*pp = a->next;
			yaml_anchor_free(a);
			c->nanchors--;
			break;
		}
	}
	a = xnew(struct yaml_anchor);
	a->name = xstrdup(name);
	a->serial = ++c->serial;
	a->next = c->anchors[h];
	c->anchors[h] = a;
	c->nanchors++;
	return a;
}

/* Forget every anchor and the table (at the end of each document, so a
 * large table does not make every later document pay for walking it). */
static void yaml_anchors_clear(struct yaml_ctx *c)
{
	for (size_t i = 0; i < c->nbuckets; i++) {
		while (c->anchors[i]) {
			struct yaml_anchor *a = c->anchors[i];

			c->anchors[i] = a->next;
			yaml_anchor_free(a);
		}
	}
	xfree_ptr(&c->anchors);
	c->nbuckets = 0;
	c->nanchors = 0;
}

static void yaml_frame_clear(struct yaml_frame *f)
{
	json_decref(f->node);
	json_decref(f->explicit_keys);
	free(f->key);
	free(f->anchor);
	memset(f, 0, sizeof(*f));
}

/* Where in the document the builder is: "spec.containers[2]" (bounded;
 * deep paths keep their first 3 and last 4 steps around "..."). */
static void yaml_path(const struct yaml_ctx *c, char *out, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->depth && o + 1 < n; i++) {
		const struct yaml_frame *f = &c->stack[i];
		int w;

		if (c->depth > 8 && i == 3) {
			w = snprintf(out + o, n - o, "...");
			i = c->depth - 5;
		} else if (f->is_map && f->have_key)
			w = snprintf(out + o, n - o, "%s%.*s", o ? "." : "",
				     (int)(f->key_len > 64 ? 64 : f->key_len), f->key);
		else if (!f->is_map)
			w = snprintf(out + o, n - o, "[%zu]", json_array_size(f->node));
		else
			break;
		if (w < 0)
			break;
		o += (size_t)w;
	}
	if (o >= n)
		out[n - 1] = '\0';
}

/* Set err to "line L, column C: <message>[ (at <path>)]". Returns code. */
static int yaml_fail(struct yaml_ctx *c, int code, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int yaml_fail(struct yaml_ctx *c, int code, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[ERRBUF_MAX], path[160];
	va_list ap;

	if (!c->err)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	yaml_path(c, path, sizeof(path));
	if (path[0])
		return errbuf_set(c->err, code, "line %zu, column %zu: %s (in %s)",
				  m->line + 1, m->column + 1, msg, path);
	return errbuf_set(c->err, code, "line %zu, column %zu: %s", m->line + 1, m->column + 1, msg);
}

/* A short, printable excerpt of a scalar for error messages. */
static const char *yaml_excerpt(const char *s, size_t n, char *out, size_t outn)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < outn; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (o + 4 >= outn && n > o) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}

static const char *yaml_kind_name(enum yaml_rkind k)
{
	switch (k) {
	case YAML_R_STR: return "!!str";
	case YAML_R_NULL: return "!!null";
	case YAML_R_BOOL: return "!!bool";
	case YAML_R_INT: return "!!int";
	case YAML_R_UINT: return "!!int";
	case YAML_R_FLOAT: return "!!float";
	case YAML_R_MERGE: return "!!merge";
	}
	return "?";
}

/* The scalar's meaning: a resolved value, or (for strings) *ret_str pointing
 * either into text or at a new buffer in *ret_owned (binary). */
static int yaml_scalar_meaning(struct yaml_ctx *c, const yaml_mark_t *m, const char *tag,
			       const char *text, size_t len, bool plain,
			       struct yaml_resolved *r, const char **ret_str, size_t *ret_len,
			       char **ret_owned)
{
	char ex[48];

	*ret_owned = NULL;
	*ret_str = text;
	*ret_len = len;
	memset(r, 0, sizeof(*r));
	r->kind = YAML_R_STR;
	if (!tag) {
		if (plain) {
			yaml_resolve_plain(text, len, r);
			if (r->kind == YAML_R_MERGE)
				r->kind = YAML_R_STR;
		}
		return 0;
	}
	if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) != 0)
		return 0; /* local or unknown tags: the text, as go-yaml */
	tag += strlen(YAML_TAG_PREFIX);
	if (strcmp(tag, "binary") == 0) {
		char *out = xmalloc(len + 1);
		size_t n;

		if (yaml_b64_decode(text, len, out, &n) < 0) {
			free(out);
			return yaml_fail(c, -EINVAL, m, "!!binary value contains invalid base64 data");
		}
		*ret_owned = out;
		*ret_str = out;
		*ret_len = n;
		return 0;
	}
	enum yaml_rkind want;

	if (strcmp(tag, "str") == 0)
		return 0;
	else if (strcmp(tag, "null") == 0)
		want = YAML_R_NULL;
	else if (strcmp(tag, "bool") == 0)
		want = YAML_R_BOOL;
	else if (strcmp(tag, "int") == 0)
		want = YAML_R_INT;
	else if (strcmp(tag, "float") == 0)
		want = YAML_R_FLOAT;
	else if (strcmp(tag, "timestamp") == 0) {
		if (yaml_is_timestamp(text, len))
			return 0;
		yaml_resolve_plain(text, len, r);
		return yaml_fail(c, -EINVAL, m, "cannot decode %s `%s` as a !!timestamp",
				 yaml_kind_name(r->kind == YAML_R_MERGE ? YAML_R_STR : r->kind),
				 yaml_excerpt(text, len, ex, sizeof(ex)));
	} else
		return 0;

	yaml_resolve_plain(text, len, r);
	if (r->kind == YAML_R_MERGE)
		r->kind = YAML_R_STR;
	if (r->kind == want || (want == YAML_R_INT && r->kind == YAML_R_UINT))
		return 0;
	if (want == YAML_R_FLOAT && r->kind == YAML_R_INT) {
		r->kind = YAML_R_FLOAT;
		r->d = (double)r->i;
		return 0;
	}
	return yaml_fail(c, -EINVAL, m, "cannot decode %s `%s` as a !!%s", yaml_kind_name(r->kind),
			 yaml_excerpt(text, len, ex, sizeof(ex)), tag);
}

/* A float as Go's encoding/json writes it and the API server reads it back:
 * integral values that fit int64 become integers. */
static json_t *yaml_json_float(double d)
{
	char e[40], digits[24], *q;
	int nd = 0, exp;
	long long v;

	if (d != floor(d) || fabs(d) >= 1e21)
		return json_real(d);
	if (fabs(d) <= 9007199254740992.0) /* 2^53: every integer is exact */
		return json_integer((json_int_t)d);
	/* Go writes the shortest digits padded with zeros ("9223372036854776000"
	 * for 2^63), which the API server reads as int64 when it fits. */
	for (int p = 1; p <= 17; p++) {
		bool ovf;

		yaml_fmt_num(e, sizeof(e), "%.*e", p - 1, d);
		if (yaml_strtod(e, &ovf) == d)
			break;
	}
	q = e;
	if (*q == '-')
		digits[nd++] = *q++;
	for (; *q && *q != 'e'; q++)
		if (yaml_is_digit(*q))
			digits[nd++] = *q;
	exp = atoi(q + 1);
	while (nd < (int)sizeof(digits) - 1 && nd - (digits[0] == '-') <= exp)
		digits[nd++] = '0';
	digits[nd] = '\0';
	errno = 0;
	v = strtoll(digits, &q, 10);
	if (errno == ERANGE || *q)
		return json_real(d);
	return json_integer((json_int_t)v);
}

/* strconv.FormatFloat(d, 'g', -1, 32) plus go-yaml's .inf/.nan spelling:
 * how sigs.k8s.io/yaml turns a float mapping key into a string. */
static void yaml_go_float32_key(double d, char *out, size_t n)
{
	float f = (float)d;
	char e[32], digits[16];
	int p, exp, nd = 0;

	if (isnan(f)) {
		snprintf(out, n, ".nan");
		return;
	}
	if (isinf(f)) {
		snprintf(out, n, f > 0 ? ".inf" : "-.inf");
		return;
	}
	if (f == 0) {
		snprintf(out, n, signbit(f) ? "-0" : "0");
		return;
	}
	for (p = 1; p <= 9; p++) {
		yaml_fmt_num(e, sizeof(e), "%.*e", p - 1, (double)f);
		if ((yaml_locale() ? strtof_l(e, NULL, yaml_locale()) : strtof(e, NULL)) == f)
			break;
	}
	/* e is "[-]d[.ddd]e[+-]xx" */
	const char *q = e;
	bool neg = *q == '-';

	if (neg)
		q++;
	for (; *q && *q != 'e'; q++)
		if (yaml_is_digit(*q))
			digits[nd++] = *q;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	exp = atoi(q + 1);

	size_t o = 0;
#define PUT(ch) do { if (o + 1 < n) out[o++] = (ch); } while (0)
	if (neg)
		PUT('-');
	if (exp < -4 || exp >= 6) {
		PUT(digits[0]);
		if (nd > 1) {
			PUT('.');
			for (int i = 1; i < nd; i++)
				PUT(digits[i]);
		}
		PUT('e');
		PUT(exp < 0 ? '-' : '+');
		int ax = exp < 0 ? -exp : exp;
		char xs[16];

		snprintf(xs, sizeof(xs), "%02d", ax);
		for (char *x = xs; *x; x++)
			PUT(*x);
	} else if (exp < 0) {
		PUT('0');
		PUT('.');
		for (int i = 0; i < -exp - 1; i++)
			PUT('0');
		for (int i = 0; i < nd; i++)
			PUT(digits[i]);
	} else {
		for (int i = 0; i <= exp; i++)
			PUT(i < nd ? digits[i] : '0');
		if (nd > exp + 1) {
			PUT('.');
			for (int i = exp + 1; i < nd; i++)
				PUT(digits[i]);
		}
	}
#undef PUT
	out[o] = '\0';
}

/* Hand a finished node to its parent (or make it the document root).
 * Takes the reference v. */
static int yaml_deliver(struct yaml_ctx *c, json_t *v, size_t height, const yaml_mark_t *m);

/* A scalar (or an alias to one) in value position. */
static int yaml_scalar_value(struct yaml_ctx *c, const yaml_mark_t *m, const char *tag,
			     const char *text, size_t len, bool plain)
{
	struct yaml_resolved r;
	const char *s;
	size_t n;
	char *owned = NULL;
	json_t *v = NULL;
	int rc;

	rc = yaml_scalar_meaning(c, m, tag, text, len, plain, &r, &s, &n, &owned);
	if (rc < 0)
		return rc;
	switch (r.kind) {
	case YAML_R_STR:
	case YAML_R_MERGE:
		v = owned ? yaml_string_repair(s, n) : json_stringn(s, n);
		if (!v)
			rc = yaml_fail(c, -EINVAL, m, "string is not valid UTF-8");
		break;
	case YAML_R_NULL:
		v = json_null();
		break;
	case YAML_R_BOOL:
		v = json_boolean(r.b);
		break;
	case YAML_R_INT:
		v = json_integer((json_int_t)r.i);
		break;
	case YAML_R_UINT:
		v = json_real((double)r.u);
		break;
	case YAML_R_FLOAT:
		if (isnan(r.d) || isinf(r.d)) {
			char ex[48];

			rc = yaml_fail(c, -EINVAL, m, "%s cannot be represented in JSON",
				       yaml_excerpt(text, len, ex, sizeof(ex)));
			break;
		}
		v = yaml_json_float(r.d);
		break;
	}
	free(owned);
	if (rc < 0)
		return rc;
	return yaml_deliver(c, v, 0, m);
}

/* A scalar (or an alias to one) in key position of the top mapping. */
static int yaml_scalar_key(struct yaml_ctx *c, const yaml_mark_t *m, const char *tag,
			   const char *text, size_t len, bool plain, bool may_merge)
{
	struct yaml_frame *f = &c->stack[c->depth - 1];
	struct yaml_resolved r;
	const char *s;
	size_t n;
	char *owned = NULL, num[40], ex[48];
	int rc;

	if (may_merge && len == 2 && text[0] == '<' && text[1] == '<' &&
	    ((!tag && plain) || (tag && strcmp(tag, YAML_TAG_PREFIX "merge") == 0))) {
		f->have_key = true;
		f->key_is_merge = true;
		f->key = xstrdup("<<");
		f->key_len = 2;
		return 0;
	}
	rc = yaml_scalar_meaning(c, m, tag, text, len, plain, &r, &s, &n, &owned);
	if (rc < 0)
		return rc;
	switch (r.kind) {
	case YAML_R_STR:
	case YAML_R_MERGE:
		break;
	case YAML_R_BOOL:
		s = r.b ? "true" : "false";
		n = strlen(s);
		break;
	case YAML_R_INT:
		n = (size_t)snprintf(num, sizeof(num), "%" PRId64, r.i);
		s = num;
		break;
	case YAML_R_FLOAT:
		yaml_go_float32_key(r.d, num, sizeof(num));
		s = num;
		n = strlen(num);
		break;
	case YAML_R_NULL:
		free(owned);
		return yaml_fail(c, -EINVAL, m, "mapping key `%s` is null, which cannot be a JSON key",
				 yaml_excerpt(text, len, ex, sizeof(ex)));
	case YAML_R_UINT:
		free(owned);
		return yaml_fail(c, -EINVAL, m, "mapping key `%s` is an integer beyond int64, "
				 "which Kubernetes refuses as a key",
				 yaml_excerpt(text, len, ex, sizeof(ex)));
	}
	if (owned) {
		/* Binary keys: make the bytes valid UTF-8 as values are. */
		json_t *j = yaml_string_repair(s, n);

		free(owned);
		owned = yaml_memdup(json_string_value(j), json_string_length(j));
		n = json_string_length(j);
		s = owned;
		json_decref(j);
	}
	/* Duplicate keys are an error (Kubernetes' strict decoding); keys
	 * that came from a merge may be overridden. */
	bool dup = f->explicit_keys ? json_object_getn(f->explicit_keys, s, n) != NULL
				    : json_object_getn(f->node, s, n) != NULL;

	if (dup) {
		rc = yaml_fail(c, -EINVAL, m, "duplicate mapping key \"%s\"",
			       yaml_excerpt(s, n, ex, sizeof(ex)));
		free(owned);
		return rc;
	}
	if (f->explicit_keys)
		json_object_setn_new_nocheck(f->explicit_keys, s, n, json_null());
	f->have_key = true;
	f->key_is_merge = false;
	f->key = owned ? owned : yaml_memdup(s, n);
	f->key_len = n;
	return 0;
}

static int yaml_merge(struct yaml_ctx *c, struct yaml_frame *f, json_t *v, const yaml_mark_t *m)
{
	const char *k;
	size_t kl;
	json_t *x;

	if (!json_is_object(v) && !json_is_array(v))
		goto bad;
	if (json_is_array(v)) {
		size_t i;

		json_array_foreach(v, i, x)
			if (!json_is_object(x))
				goto bad;
	}
	if (!f->explicit_keys) {
		f->explicit_keys = json_object();
		json_object_keylen_foreach(f->node, k, kl, x)
			json_object_setn_new_nocheck(f->explicit_keys, k, kl, json_null());
	}
	/* go-yaml v2 writes merged keys over what is already there, and in a
	 * sequence of maps the earlier ones win (applied last). */
	if (json_is_object(v)) {
		json_object_keylen_foreach(v, k, kl, x)
			json_object_setn_nocheck(f->node, k, kl, x);
	} else {
		for (size_t i = json_array_size(v); i-- > 0;) {
			json_t *o = json_array_get(v, i);

			json_object_keylen_foreach(o, k, kl, x)
				json_object_setn_nocheck(f->node, k, kl, x);
		}
	}
	json_decref(v);
	return 0;
bad:
	json_decref(v);
	return yaml_fail(c, -EINVAL, m, "map merge requires map or sequence of maps as the value");
}

static int yaml_deliver(struct yaml_ctx *c, json_t *v, size_t height, const yaml_mark_t *m)
{
	struct yaml_frame *f;
	int r = 0;

	if (c->depth == 0) {
		json_decref(c->root);
		c->root = v;
		c->have_root = true;
		return 0;
	}
	f = &c->stack[c->depth - 1];
	if (f->height < height + 1)
		f->height = height + 1;
	if (!f->is_map) {
		json_array_append_new(f->node, v);
		return 0;
	}
	if (f->key_is_merge)
		r = yaml_merge(c, f, v, m);
	else
		json_object_setn_new_nocheck(f->node, f->key, f->key_len, v);
	xfree_ptr(&f->key);
	f->have_key = false;
	f->key_is_merge = false;
	return r;
}

static bool yaml_in_key_position(const struct yaml_ctx *c)
{
	const struct yaml_frame *f;

	if (c->depth == 0)
		return false;
	f = &c->stack[c->depth - 1];
	return f->is_map && !f->have_key;
}

/* Account for nodes and scalar bytes about to be made (an alias repeats its
 * anchor's); -E2BIG past the caps, before anything is allocated. */
static int yaml_count_nodes(struct yaml_ctx *c, size_t add, size_t bytes, const yaml_mark_t *m)
{
	if (add > c->lim.max_nodes || c->nodes > c->lim.max_nodes - add)
		return yaml_fail(c, -E2BIG, m, "more than %zu nodes after expanding aliases "
				 "(an alias bomb?)", c->lim.max_nodes);
	if (bytes > c->max_bytes || c->bytes > c->max_bytes - bytes)
		return yaml_fail(c, -E2BIG, m, "aliases expand to more than %zu bytes of text "
				 "(an alias bomb?)", c->max_bytes);
	c->nodes += add;
	c->bytes += bytes;
	return 0;
}

static int yaml_on_scalar(struct yaml_ctx *c, const yaml_event_t *e)
{
	const char *tag = (const char *)e->data.scalar.tag;
	const char *text = (const char *)e->data.scalar.value;
	size_t len = e->data.scalar.length;
	bool plain = e->data.scalar.plain_implicit;
	int r;

	r = yaml_count_nodes(c, 1, len, &e->start_mark);
	if (r < 0)
		return r;
	if (e->data.scalar.anchor) {
		struct yaml_anchor *a = yaml_anchor_define(c, (const char *)e->data.scalar.anchor);

		a->is_scalar = true;
		a->text = yaml_memdup(text, len);
		a->len = len;
		a->tag = tag ? xstrdup(tag) : NULL;
		a->plain = plain;
		a->nodes = 1;
		a->bytes = len;
	}
	if (yaml_in_key_position(c))
		return yaml_scalar_key(c, &e->start_mark, tag, text, len, plain, true);
	return yaml_scalar_value(c, &e->start_mark, tag, text, len, plain);
}

static int yaml_on_alias(struct yaml_ctx *c, const yaml_event_t *e)
{
	const char *name = (const char *)e->data.alias.anchor;
	struct yaml_anchor *a = yaml_anchor_find(c, name);
	json_t *copy;
	int r;

	if (!a)
		return yaml_fail(c, -EINVAL, &e->start_mark, "unknown anchor '%s' referenced", name);
	if (a->open)
		return yaml_fail(c, -EINVAL, &e->start_mark, "anchor '%s' value contains itself", name);
	r = yaml_count_nodes(c, a->nodes, a->bytes, &e->start_mark);
	if (r < 0)
		return r;
	if (a->is_scalar) {
		if (yaml_in_key_position(c))
			return yaml_scalar_key(c, &e->start_mark, a->tag, a->text, a->len, a->plain,
					       false);
		return yaml_scalar_value(c, &e->start_mark, a->tag, a->text, a->len, a->plain);
	}
	if (yaml_in_key_position(c))
		return yaml_fail(c, -EINVAL, &e->start_mark,
				 "mapping key is a %s (alias '%s'); keys must be scalars",
				 json_is_object(a->value) ? "mapping" : "sequence", name);
	if (c->depth + a->height > c->lim.max_depth)
		return yaml_fail(c, -E2BIG, &e->start_mark,
				 "alias '%s' nests deeper than %zu levels", name, c->lim.max_depth);
	copy = json_deep_copy(a->value);
	if (!copy)
		return yaml_fail(c, -ENOMEM, &e->start_mark, "out of memory");
	return yaml_deliver(c, copy, a->height, &e->start_mark);
}

static int yaml_on_start(struct yaml_ctx *c, const yaml_event_t *e, bool is_map)
{
	const char *anchor = (const char *)(is_map ? e->data.mapping_start.anchor
						   : e->data.sequence_start.anchor);
	struct yaml_frame *f;
	int r;

	if (yaml_in_key_position(c))
		return yaml_fail(c, -EINVAL, &e->start_mark, "mapping key is a %s; keys must be scalars",
				 is_map ? "mapping" : "sequence");
	if (c->depth + 1 > c->lim.max_depth)
		return yaml_fail(c, -E2BIG, &e->start_mark, "nesting deeper than %zu levels",
				 c->lim.max_depth);
	if (c->depth == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->stack = xrealloc(c->stack, c->cap * sizeof(*c->stack));
	}
	f = &c->stack[c->depth];
	memset(f, 0, sizeof(*f));
	f->first_node = c->nodes;
	f->first_byte = c->bytes;
	r = yaml_count_nodes(c, 1, 0, &e->start_mark);
	if (r < 0)
		return r;
	f->is_map = is_map;
	f->node = is_map ? json_object() : json_array();
	if (!f->node)
		return yaml_fail(c, -ENOMEM, &e->start_mark, "out of memory");
	if (anchor) {
		struct yaml_anchor *a = yaml_anchor_define(c, anchor);

		a->open = true;
		f->anchor = xstrdup(anchor);
		f->serial = a->serial;
	}
	c->depth++;
	return 0;
}

static int yaml_on_end(struct yaml_ctx *c, const yaml_event_t *e)
{
	struct yaml_frame *f = &c->stack[c->depth - 1];
	json_t *v = f->node;
	size_t height = f->height;

	if (f->anchor) {
		struct yaml_anchor *a = yaml_anchor_find(c, f->anchor);

		/* Unless a later node took the name over while this one was open. */
		if (a && a->serial == f->serial) {
			a->open = false;
			a->value = json_incref(v);
			a->nodes = c->nodes - f->first_node;
			a->bytes = c->bytes - f->first_byte;
			a->height = height;
		}
	}
	f->node = NULL;
	yaml_frame_clear(f);
	c->depth--;
	return yaml_deliver(c, v, height, &e->start_mark);
}

/* Line and column (1-based) of a byte offset into the input. */
static void yaml_offset_pos(const struct yaml_ctx *c, size_t off, size_t *line, size_t *col)
{
	size_t l = 1, bol = 0;

	if (off > c->len)
		off = c->len;
	for (size_t i = 0; i < off; i++)
		if (c->text[i] == '\n')
			l++, bol = i + 1;
	*line = l;
	*col = off - bol + 1;
}

/* Turn libyaml's error state into a message with line and column. */
static int yaml_parser_fail(struct yaml_ctx *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	const char *hint = "";
	size_t line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return errbuf_set(c->err, -ENOMEM, "out of memory while parsing YAML");
	case YAML_READER_ERROR:
		yaml_offset_pos(c, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			return errbuf_set(c->err, -EINVAL, "line %zu, column %zu: %s (#%X)", line, col,
					  problem, (unsigned)p->problem_value);
		return errbuf_set(c->err, -EINVAL, "line %zu, column %zu: %s", line, col, problem);
	default:
		break;
	}
	if (strstr(problem, "tab") || strstr(problem, "cannot start any token")) {
		/* Is the offending character a tab? Find the line in the input. */
		size_t l = 0, i = 0, cols = 0;

		while (i < c->len && l < p->problem_mark.line)
			if (c->text[i++] == '\n')
				l++;
		while (i < c->len && cols < p->problem_mark.column) {
			if (((unsigned char)c->text[i] & 0xc0) != 0x80)
				cols++;
			i++;
		}
		while (i < c->len && ((unsigned char)c->text[i] & 0xc0) == 0x80)
			i++;
		if (i < c->len && c->text[i] == '\t')
			hint = " (YAML does not allow tabs for indentation; use spaces)";
	}
	if (p->context)
		return errbuf_set(c->err, -EINVAL, "line %zu, column %zu: %s%s (%s at line %zu, column %zu)",
				  p->problem_mark.line + 1, p->problem_mark.column + 1, problem, hint,
				  p->context, p->context_mark.line + 1, p->context_mark.column + 1);
	return errbuf_set(c->err, -EINVAL, "line %zu, column %zu: %s%s", p->problem_mark.line + 1,
			  p->problem_mark.column + 1, problem, hint);
}

static void yaml_limits_fill(struct yaml_limits *out, const struct yaml_limits *in)
{
	*out = yaml_default_limits;
	if (!in)
		return;
	if (in->max_input)
		out->max_input = in->max_input;
	if (in->max_depth)
		out->max_depth = in->max_depth;
	if (in->max_nodes)
		out->max_nodes = in->max_nodes;
	if (in->max_documents)
		out->max_documents = in->max_documents;
	if (out->max_depth > YAML_HARD_MAX_DEPTH)
		out->max_depth = YAML_HARD_MAX_DEPTH;
}

/* Parse the stream into an array of its non-null documents; *ret_ndocs gets
 * the number of documents seen, null ones included. */
static int yaml_parse_docs(const char *text, size_t len, const struct yaml_limits *limits,
			   struct errbuf *err, json_t **ret_docs, size_t *ret_ndocs)
{
	struct yaml_ctx c = { .text = text, .len = len, .err = err };
	yaml_parser_t parser;
	yaml_event_t ev;
	json_t *docs = NULL;
	size_t ndocs = 0;
	bool done = false;
	int r = 0;

	yaml_limits_fill(&c.lim, limits);
	c.max_bytes = c.lim.max_input > SIZE_MAX / 4 ? SIZE_MAX : c.lim.max_input * 4;
	if (len > c.lim.max_input)
		return errbuf_set(err, -E2BIG, "YAML input is %zu bytes, more than the %zu allowed",
				  len, c.lim.max_input);
	if (!text && len)
		return errbuf_set(err, -EINVAL, "no YAML input");
	docs = json_array();
	if (!docs || !yaml_parser_initialize(&parser)) {
		json_decref(docs);
		return errbuf_set(err, -ENOMEM, "out of memory initializing the YAML parser");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);

	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = yaml_parser_fail(&c, &parser);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > c.lim.max_documents)
				r = yaml_fail(&c, -E2BIG, &ev.start_mark,
					      "more than %zu documents in one stream",
					      c.lim.max_documents);
			break;
		case YAML_DOCUMENT_END_EVENT:
			/* Documents with nothing in them (or only null) are
			 * skipped, as kubectl skips them. */
			if (c.have_root && !json_is_null(c.root))
				json_array_append(docs, c.root);
			json_decref(c.root);
			c.root = NULL;
			c.have_root = false;
			yaml_anchors_clear(&c);
			break;
		case YAML_SCALAR_EVENT:
			r = yaml_on_scalar(&c, &ev);
			break;
		case YAML_ALIAS_EVENT:
			r = yaml_on_alias(&c, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = yaml_on_start(&c, &ev, false);
			break;
		case YAML_MAPPING_START_EVENT:
			r = yaml_on_start(&c, &ev, true);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			r = yaml_on_end(&c, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (r < 0)
			break;
	}

	while (c.depth > 0)
		yaml_frame_clear(&c.stack[--c.depth]);
	free(c.stack);
	json_decref(c.root);
	yaml_anchors_clear(&c);
	yaml_parser_delete(&parser);
	if (r < 0) {
		json_decref(docs);
		return r;
	}
	*ret_docs = docs;
	*ret_ndocs = ndocs;
	return 0;
}

/* Contract in yaml.h. */
int yaml_parse_stream(const char *text, size_t len, const struct yaml_limits *limits,
		      struct errbuf *err, json_t **ret_docs)
{
	size_t ndocs;

	return yaml_parse_docs(text, len, limits, err, ret_docs, &ndocs);
}

/* Contract in yaml.h. */
int yaml_parse_one(const char *text, size_t len, const struct yaml_limits *limits,
		   struct errbuf *err, json_t **ret_doc)
{
	json_t *docs = NULL;
	size_t ndocs = 0;
	int r;

	r = yaml_parse_docs(text, len, limits, err, &docs, &ndocs);
	if (r < 0)
		return r;
	if (json_array_size(docs) > 1) {
		r = errbuf_set(err, -EINVAL, "expected one YAML document, found %zu",
			       json_array_size(docs));
	} else if (json_array_size(docs) == 0 && ndocs == 0) {
		r = errbuf_set(err, -EINVAL, "no YAML document (the input is empty or only comments)");
	} else {
		/* One document; or only null/empty ones, which read as null. */
		*ret_doc = json_array_size(docs) ? json_incref(json_array_get(docs, 0)) : json_null();
	}
	json_decref(docs);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The emitter.                                                             */

static int yaml_emit_write(void *data, unsigned char *buffer, size_t size)
{
	return buf_append(data, buffer, size) == 0;
}

/* Would this string, written plain, read back as something else? */
static bool yaml_needs_quotes(const char *s, size_t n)
{
	struct yaml_resolved r;

	yaml_resolve_plain(s, n, &r);
	/* Timestamps read back as strings here (as in sigs.k8s.io/yaml), but
	 * kubectl quotes them and YAML 1.1 readers such as PyYAML make dates
	 * of plain ones: quote them too. */
	return r.kind != YAML_R_STR || yaml_is_base60_float(s, n) || yaml_is_timestamp(s, n);
}

/* Literal block style keeps every character when the only line breaks are
 * LF: CR, NEL, LS and PS would be normalized by a reader. libyaml refuses
 * the style itself where trailing spaces or special characters forbid it. */
static bool yaml_literal_ok(const char *s, size_t n)
{
	bool lf = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\n')
			lf = true;
		else if (ch == '\r')
			return false;
		else if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85)
			return false;
		else if (ch == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
			 ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
			return false;
	}
	return lf;
}

static int yaml_emit_scalar(yaml_emitter_t *em, const char *s, size_t n, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, (int)n, 1, 1,
					  style))
		return -EINVAL;
	return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
}

static int yaml_emit_string(yaml_emitter_t *em, const char *s, size_t n, bool is_key)
{
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
	json_t *fixed;
	int r;

	if (n > INT32_MAX)
		return -E2BIG;
	if (yaml_literal_ok(s, n))
		style = is_key ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_LITERAL_SCALAR_STYLE;
	else if (yaml_needs_quotes(s, n))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	r = yaml_emit_scalar(em, s, n, style);
	if (r != -EINVAL)
		return r;
	/* Only a string made with json_stringn_nocheck() can hold invalid
	 * UTF-8; write it repaired rather than fail. */
	fixed = yaml_string_repair(s, n);
	r = yaml_emit_scalar(em, json_string_value(fixed), json_string_length(fixed),
			     YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	json_decref(fixed);
	return r;
}

/* Shortest text that reads back as the same double, always as a float
 * or an integer (never inf/nan: jansson holds none). */
static void yaml_format_real(double d, char *out, size_t n)
{
	for (int p = 1; p <= 17; p++) {
		bool ovf;

		yaml_fmt_num(out, n, "%.*g", p, d);
		if (yaml_strtod(out, &ovf) == d)
			return;
	}
}

static int yaml_emit_value(yaml_emitter_t *em, json_t *v, size_t depth)
{
	yaml_event_t ev;
	char num[64];
	int r = 0;

	if (depth > YAML_HARD_MAX_DEPTH)
		return -E2BIG;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		size_t kl;
		json_t *x;

		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return -EIO;
		json_object_keylen_foreach(v, k, kl, x) {
			r = yaml_emit_string(em, k, kl, true);
			if (r < 0)
				return r;
			r = yaml_emit_value(em, x, depth + 1);
			if (r < 0)
				return r;
		}
		if (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
			return -EIO;
		return 0;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *x;

		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return -EIO;
		json_array_foreach(v, i, x) {
			r = yaml_emit_value(em, x, depth + 1);
			if (r < 0)
				return r;
		}
		if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
			return -EIO;
		return 0;
	}
	case JSON_STRING:
		return yaml_emit_string(em, json_string_value(v), json_string_length(v), false);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return yaml_emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
	case JSON_REAL:
		yaml_format_real(json_real_value(v), num, sizeof(num));
		return yaml_emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
	case JSON_TRUE:
		return yaml_emit_scalar(em, "true", 4, YAML_PLAIN_SCALAR_STYLE);
	case JSON_FALSE:
		return yaml_emit_scalar(em, "false", 5, YAML_PLAIN_SCALAR_STYLE);
	case JSON_NULL:
		return yaml_emit_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE);
	}
	return -EINVAL;
}

/* Contract in yaml.h. */
char *yaml_emit(const json_t *v)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	struct buf b;
	int r = -EIO;

	buf_init(&b, YAML_OUT_MAX);
	if (!v) {
		buf_puts(&b, "null\n");
		return buf_steal(&b, NULL);
	}
	if (!yaml_emitter_initialize(&em))
		abort(); /* only fails on OOM, which Nave treats as fatal */
	yaml_emitter_set_output(&em, yaml_emit_write, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_indent(&em, 2);
	yaml_emitter_set_break(&em, YAML_LN_BREAK);

	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || !yaml_emitter_emit(&em, &ev))
		goto out;
	if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
	    !yaml_emitter_emit(&em, &ev))
		goto out;
	r = yaml_emit_value(&em, (json_t *)(uintptr_t)v, 0);
	if (r < 0)
		goto out;
	r = -EIO;
	if (!yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&em, &ev))
		goto out;
	if (!yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev))
		goto out;
	r = 0;
out:
	yaml_emitter_delete(&em);
	if (r < 0) {
		/* Not expected; JSON is YAML, so fall back to it rather than
		 * returning nothing. */
		char *j = json_dumps(v, JSON_ENCODE_ANY | JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		buf_reset(&b);
		buf_puts(&b, j ? j : "null");
		buf_puts(&b, "\n");
		free(j);
	}
	return buf_steal(&b, NULL);
}
