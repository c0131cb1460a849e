/* tmpl_expr.c - the expression language of tmpl.h: lexer, recursive-descent
 * parser into a small AST, and an evaluator over jansson values.
 *
 * Parsing recurses once per level of nesting (parentheses, brackets, braces,
 * call arguments, unary operators, ternary branches), capped at
 * TMPL_DEPTH_MAX; runs of one precedence level ("a + b - c") become one
 * n-ary node evaluated in a loop, and so do path steps ("a.b[0].c"), so the
 * AST is never deeper than the nesting the user wrote and evaluation recurses
 * no deeper either. default(x, y) is parsed as x ?? y.
 *
 * Undefined (a path that does not exist) is a NULL json_t *. It flows through
 * paths, ??, ||, &&, !, ==, has(), len(), contains() and the collection
 * functions (as empty); any other operator or function given an undefined
 * operand is an error naming the operand's text and why it is undefined.
 *
 * Every node evaluated is a step and every value created is a node (see
 * tmpl_int.h); functions charge steps for per-item work so that no call costs
 * more than the caps allow, and no operation is quadratic in its input.
 */
#include "tmpl_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"

/* ---- tokens ------------------------------------------------------------ */

enum tok {
	T_EOF,
	T_NUM,
	T_STR,
	T_IDENT,
	T_LP,
	T_RP,
	T_LB,
	T_RB,
	T_LC,
	T_RC,
	T_COMMA,
	T_COLON,
	T_DOT,
	T_QUEST,
	T_QQ,
	T_OR,
	T_AND,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_PLUS,
	T_MINUS,
	T_STAR,
	T_SLASH,
	T_PCT,
	T_NOT,
};

static const char *const tok_text[] = {
	[T_EOF] = "end of expression", [T_NUM] = "number", [T_STR] = "string", [T_IDENT] = "name",
	[T_LP] = "'('",    [T_RP] = "')'",    [T_LB] = "'['",   [T_RB] = "']'",
	[T_LC] = "'{'",    [T_RC] = "'}'",    [T_COMMA] = "','", [T_COLON] = "':'",
	[T_DOT] = "'.'",   [T_QUEST] = "'?'", [T_QQ] = "'?\?'",  [T_OR] = "'||'",
	[T_AND] = "'&&'",  [T_EQ] = "'=='",   [T_NE] = "'!='",  [T_LT] = "'<'",
	[T_LE] = "'<='",   [T_GT] = "'>'",    [T_GE] = "'>='",  [T_PLUS] = "'+'",
	[T_MINUS] = "'-'", [T_STAR] = "'*'",  [T_SLASH] = "'/'", [T_PCT] = "'%'",
	[T_NOT] = "'!'",
};

/* ---- the AST ----------------------------------------------------------- */

enum node_kind {
	N_LIT,      /* lit */
	N_NAME,     /* a root name: src[start, end) */
	N_PATH,     /* kids[0] the base, kids[1..] N_FIELD / N_INDEX steps */
	N_FIELD,    /* .name: src[start + 1, end) */
	N_INDEX,    /* [kids[0]] */
	N_LIST,     /* [kids...] */
	N_OBJECT,   /* {kids[2i] (N_LIT string key): kids[2i + 1]} */
	N_NOT,      /* !kids[0] */
	N_NEG,      /* -kids[0] */
	N_ARITH,    /* kids[0] ops[0] kids[1] ops[1] ... (+ - * / %, left to right) */
	N_COMPARE,  /* same shape: < <= > >= == != */
	N_AND,      /* kids[0] && kids[1] && ... */
	N_OR,
	N_COALESCE, /* kids[0] ?? kids[1] ?? ... */
	N_TERNARY,  /* kids[0] ? kids[1] : kids[2] */
	N_CALL,     /* fn(kids...) */
};

struct node {
	enum node_kind kind;
	size_t start, end;   /* the source text of the node: src[start, end) */
	json_t *lit;         /* N_LIT: owned */
	struct node **kids;  /* owned array; the nodes are owned by the expr */
	size_t nkids;
	enum tok *ops;       /* N_ARITH, N_COMPARE: owned, nkids - 1 */
	const struct func *fn; /* N_CALL */
};

struct tmpl_expr {
	char *src;            /* owned copy, NUL-terminated */
	size_t len;
	struct node *root;    /* borrowed from nodes */
	struct node **nodes;  /* owned: every node, to free them */
	size_t nnodes, anodes;
};

/* ---- functions --------------------------------------------------------- */

struct eval;
typedef int (*func_fn)(struct eval *ev, const struct node *call, json_t **args, json_t **ret_value);

struct func {
	const char *name;
	size_t min, max;
	func_fn fn; /* NULL: rewritten by the parser (default) */
};

static const struct func *func_find(const char *name, size_t len);

/* ---- counters ---------------------------------------------------------- */

int tmpl_ctx_steps(struct tmpl_ctx *ctx, size_t n, struct errbuf *err)
{
	if (n > TMPL_STEPS_MAX || ctx->steps > TMPL_STEPS_MAX - n)
		return errbuf_set(err, -E2BIG, "too much work: more than %d evaluation steps", TMPL_STEPS_MAX);
	ctx->steps += n;
	return 0;
}

int tmpl_ctx_nodes(struct tmpl_ctx *ctx, size_t n, struct errbuf *err)
{
	if (n > TMPL_NODES_MAX || ctx->nodes > TMPL_NODES_MAX - n)
		return errbuf_set(err, -E2BIG, "result too large: more than %d JSON values", TMPL_NODES_MAX);
	ctx->nodes += n;
	return 0;
}

/* ---- small helpers ----------------------------------------------------- */

static int column_error(struct errbuf *err, bool syntax, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* -EINVAL with the message fmt formats and the 0-based column col, as
 * "syntax error at column N: <message>" (syntax) or "<message> (column N)". */
static int column_error(struct errbuf *err, bool syntax, size_t col, const char *fmt, ...)
{
	char msg[ERRBUF_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (syntax)
		return errbuf_set(err, -EINVAL, "syntax error at column %zu: %s", col + 1, msg);
	return errbuf_set(err, -EINVAL, "%s (column %zu)", msg, col + 1);
}

/* A parse error at byte `at` of the parser's source; an evaluation error at byte col. */
#define syntax_error(p, at, ...) column_error((p)->err, true, at, __VA_ARGS__)
#define col_error(ev, col, ...) column_error((ev)->err, false, col, __VA_ARGS__)

const char *tmpl_type_name(const json_t *v)
{
	if (!v)
		return "undefined";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "list";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "value";
}

static bool is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Length of the identifier at s[0, len): the longest run of identifier
 * characters, not ending in '-' (so "a- b" is a minus b). */
static size_t ident_len(const char *s, size_t len)
{
	size_t n = 0;

	if (len == 0 || !is_ident_start((unsigned char)s[0]))
		return 0;
	while (n < len && is_ident_char((unsigned char)s[n]))
		n++;
	while (s[n - 1] == '-')
		n--;
	return n;
}

bool tmpl_ident_valid(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && ident_len(s, len) == len;
}

bool tmpl_truthy(const json_t *v)
{
	if (!v)
		return false;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return json_object_size(v) > 0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0.0;
	case JSON_TRUE:
		return true;
	case JSON_FALSE:
	case JSON_NULL:
		return false;
	}
	return false;
}

void tmpl_utf8_sanitize(char *s)
{
	size_t len = strlen(s), i = 0;

	while (i < len) {
		/* utf8_decode rejects what jansson rejects: overlongs, surrogates,
		 * code points past U+10FFFF. */
		uint32_t cp;
		size_t n = utf8_decode((const unsigned char *)s + i, len - i, &cp);

		if (n == 0) {
			s[i++] = '?';
			continue;
		}
		i += n;
	}
}

void tmpl_expr_display(const char *src, size_t len, char *out, size_t size)
{
	const size_t max = 80;
	size_t head = 50, tail = len - 25;

	if (size == 0)
		return;
	if (len <= max) {
		snprintf(out, size, "%.*s", (int)len, src);
		return;
	}
	/* Cut at character boundaries. */
	while (head > 0 && ((unsigned char)src[head] & 0xc0) == 0x80)
		head--;
	while (tail < len && ((unsigned char)src[tail] & 0xc0) == 0x80)
		tail++;
	snprintf(out, size, "%.*s...%.*s", (int)head, src, (int)(len - tail), src + tail);
}

/* A string value from bytes that must be valid UTF-8; charged as one node. */
static int new_string(struct tmpl_ctx *ctx, const char *s, size_t len, struct errbuf *err, json_t **ret)
{
	json_t *v;
	int r = tmpl_ctx_nodes(ctx, 1, err);

	if (r < 0)
		return r;
	if (len > TMPL_STRING_MAX)
		return errbuf_set(err, -E2BIG, "string too long: %zu bytes, at most %d", len, TMPL_STRING_MAX);
	v = json_stringn(s, len);
	if (!v)
		return errbuf_set(err, -EINVAL, "the result is not valid UTF-8");
	*ret = v;
	return 0;
}

static int new_value(struct tmpl_ctx *ctx, json_t *v, struct errbuf *err, json_t **ret)
{
	int r = tmpl_ctx_nodes(ctx, 1, err);

	if (r < 0) {
		json_decref(v);
		return r;
	}
	if (!v)
		return errbuf_set(err, -EINVAL, "number out of range");
	*ret = v;
	return 0;
}

/* ---- values: copy, str, equality --------------------------------------- */

/* The walks below recurse once per level of a value: -E2BIG past the cap. */
static int value_depth_check(int depth, struct errbuf *err)
{
	if (depth > TMPL_VALUE_DEPTH_MAX)
		return errbuf_set(err, -E2BIG, "value nested deeper than %d levels", TMPL_VALUE_DEPTH_MAX);
	return 0;
}

static int copy_rec(const json_t *v, int depth, struct tmpl_ctx *ctx, struct errbuf *err, json_t **ret)
{
	json_t *out = NULL, *c;
	const char *k;
	size_t i;
	int r;

	r = value_depth_check(depth, err);
	if (r == 0)
		r = tmpl_ctx_nodes(ctx, 1, err);
	if (r < 0)
		return r;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		json_t *item;

		out = json_object();
		json_object_foreach((json_t *)v, k, item) {
			r = copy_rec(item, depth + 1, ctx, err, &c);
			if (r < 0)
				goto fail;
			json_object_set_new(out, k, c);
		}
		break;
	}
	case JSON_ARRAY:
		out = json_array();
		for (i = 0; i < json_array_size(v); i++) {
			r = copy_rec(json_array_get(v, i), depth + 1, ctx, err, &c);
			if (r < 0)
				goto fail;
			json_array_append_new(out, c);
		}
		break;
	default:
		out = json_copy((json_t *)v);
		break;
	}
	*ret = out;
	return 0;
fail:
	json_decref(out);
	return r;
}

int tmpl_value_copy(const json_t *v, struct tmpl_ctx *ctx, struct errbuf *err, json_t **ret_copy)
{
	return copy_rec(v, 0, ctx, err, ret_copy);
}

static int str_overflow(struct errbuf *err)
{
	return errbuf_set(err, -E2BIG, "string too long: more than %d bytes", TMPL_STRING_MAX);
}

/* Shortest text that reads back as the same double; "2.0", not "2". */
static void format_real(double d, char *out, size_t size)
{
	int prec;

	for (prec = 15; prec <= 17; prec++) {
		snprintf(out, size, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	if (!strpbrk(out, ".eEn"))
		strncat(out, ".0", size - strlen(out) - 1);
}

static int json_quote(const char *s, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, from = 0;
	char esc[7];

	if (buf_append(out, "\"", 1) < 0)
		return -E2BIG;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *e = NULL;

		if (c == '"')
			e = "\\\"";
		else if (c == '\\')
			e = "\\\\";
		else if (c == '\n')
			e = "\\n";
		else if (c == '\t')
			e = "\\t";
		else if (c == '\r')
			e = "\\r";
		else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc[6] = '\0';
			e = esc;
		}
		if (!e)
			continue;
		if (buf_append(out, s + from, i - from) < 0 || buf_puts(out, e) < 0)
			return -E2BIG;
		from = i + 1;
	}
	if (buf_append(out, s + from, len - from) < 0 || buf_append(out, "\"", 1) < 0)
		return -E2BIG;
	return 0;
}

static int str_rec(const json_t *v, bool top, int depth, struct tmpl_ctx *ctx, struct buf *out,
		   struct errbuf *err)
{
	char num[64];
	const char *k;
	json_t *item;
	size_t i;
	int r;

	r = value_depth_check(depth, err);
	if (r == 0)
		r = tmpl_ctx_steps(ctx, 1, err);
	if (r < 0)
		return r;
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (top)
			r = buf_append(out, json_string_value(v), json_string_length(v));
		else
			r = json_quote(json_string_value(v), json_string_length(v), out);
		break;
	case JSON_INTEGER:
		r = buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		format_real(json_real_value(v), num, sizeof(num));
		r = buf_puts(out, num);
		break;
	case JSON_TRUE:
		r = buf_puts(out, "true");
		break;
	case JSON_FALSE:
		r = buf_puts(out, "false");
		break;
	case JSON_NULL:
		r = buf_puts(out, "null");
		break;
	case JSON_ARRAY:
		r = buf_puts(out, "[");
		for (i = 0; r == 0 && i < json_array_size(v); i++) {
			if (i > 0 && buf_puts(out, ",") < 0)
				return str_overflow(err);
			r = str_rec(json_array_get(v, i), false, depth + 1, ctx, out, err);
			if (r < 0)
				return r;
		}
		if (r == 0)
			r = buf_puts(out, "]");
		break;
	case JSON_OBJECT:
		r = buf_puts(out, "{");
		i = 0;
		json_object_foreach((json_t *)v, k, item) {
			if (r < 0)
				break;
			if ((i++ > 0 && buf_puts(out, ",") < 0) || json_quote(k, strlen(k), out) < 0 ||
			    buf_puts(out, ":") < 0)
				return str_overflow(err);
			r = str_rec(item, false, depth + 1, ctx, out, err);
			if (r < 0)
				return r;
		}
		if (r == 0)
			r = buf_puts(out, "}");
		break;
	}
	if (r == -E2BIG)
		return str_overflow(err);
	return r;
}

int tmpl_value_str(const json_t *v, struct tmpl_ctx *ctx, struct buf *out, struct errbuf *err)
{
	return str_rec(v, true, 0, ctx, out, err);
}

static bool is_number(const json_t *v)
{
	return v && (json_is_integer(v) || json_is_real(v));
}

static double num_value(const json_t *v)
{
	return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

/* Compare two numbers: <0, 0, >0. Integers exactly; otherwise as doubles. */
static int num_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);

		return x < y ? -1 : x > y;
	} else {
		double x = num_value(a), y = num_value(b);

		return x < y ? -1 : x > y;
	}
}

/* Deep equality (1 == 1.0). Returns 1, 0, or a negative errno. */
static int equal_rec(const json_t *a, const json_t *b, int depth, struct tmpl_ctx *ctx, struct errbuf *err)
{
	const char *k;
	json_t *item;
	size_t i;
	int r;

	if (!a || !b)
		return !a && !b;
	r = value_depth_check(depth, err);
	if (r == 0)
		r = tmpl_ctx_steps(ctx, 1, err);
	if (r < 0)
		return r;
	if (is_number(a) && is_number(b))
		return num_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (i = 0; i < json_array_size(a); i++) {
			r = equal_rec(json_array_get(a, i), json_array_get(b, i), depth + 1, ctx, err);
			if (r <= 0)
				return r;
		}
		return 1;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)a, k, item) {
			json_t *other = json_object_get(b, k);

			if (!other)
				return 0;
			r = equal_rec(item, other, depth + 1, ctx, err);
			if (r <= 0)
				return r;
		}
		return 1;
	default:
		return 1; /* true, false, null */
	}
}

/* ---- the lexer and parser ---------------------------------------------- */

struct parser {
	struct tmpl_expr *e;
	const char *src;
	size_t len, pos;
	int depth;
	struct tmpl_ctx *ctx;
	struct errbuf *err;
	/* the current token */
	enum tok tok;
	size_t tstart, tend;
	json_t *tval; /* T_NUM, T_STR: owned until taken */
};

/* What the current token is, for "found ..." in messages. */
static void tok_describe(const struct parser *p, char *out, size_t size)
{
	size_t n = p->tend - p->tstart;

	if (p->tok == T_IDENT || p->tok == T_NUM)
		snprintf(out, size, "%s '%.*s'", tok_text[p->tok], (int)(n > 40 ? 40 : n), p->src + p->tstart);
	else if (p->tok == T_STR)
		snprintf(out, size, "a string");
	else
		snprintf(out, size, "%s", tok_text[p->tok]);
}

static int lex_string(struct parser *p)
{
	char quote = p->src[p->pos];
	size_t start = p->pos++;
	struct buf b;
	int r = 0;

	buf_init(&b, TMPL_EXPR_MAX);
	for (;;) {
		char c, e;

		if (p->pos >= p->len) {
			r = syntax_error(p, start, "unterminated string (missing %c)", quote);
			goto out;
		}
		c = p->src[p->pos++];
		if (c == quote)
			break;
		if (c != '\\') {
			buf_append(&b, &c, 1);
			continue;
		}
		if (p->pos >= p->len) {
			r = syntax_error(p, start, "unterminated string (missing %c)", quote);
			goto out;
		}
		e = p->src[p->pos++];
		switch (e) {
		case '\\':
		case '\'':
		case '"':
		case '/':
			c = e;
			break;
		case 'n':
			c = '\n';
			break;
		case 't':
			c = '\t';
			break;
		case 'r':
			c = '\r';
			break;
		default:
			r = syntax_error(p, p->pos - 2, "unknown escape '\\%c' (use \\\\ \\' \\\" \\n \\t \\r)",
					 e >= 0x20 && e < 0x7f ? e : '?');
			goto out;
		}
		buf_append(&b, &c, 1);
	}
	p->tval = json_stringn(b.data ? b.data : "", b.len);
	if (!p->tval) {
		r = syntax_error(p, start, "string is not valid UTF-8");
		goto out;
	}
	p->tok = T_STR;
out:
	buf_free(&b);
	return r;
}

static int lex_number(struct parser *p)
{
	size_t start = p->pos;
	bool real = false;
	char text[TMPL_EXPR_MAX + 1];

	while (p->pos < p->len && is_digit((unsigned char)p->src[p->pos]))
		p->pos++;
	if (p->pos + 1 < p->len && p->src[p->pos] == '.' && is_digit((unsigned char)p->src[p->pos + 1])) {
		real = true;
		p->pos++;
		while (p->pos < p->len && is_digit((unsigned char)p->src[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && (p->src[p->pos] == 'e' || p->src[p->pos] == 'E')) {
		size_t q = p->pos + 1;

		if (q < p->len && (p->src[q] == '+' || p->src[q] == '-'))
			q++;
		if (q < p->len && is_digit((unsigned char)p->src[q])) {
			real = true;
			p->pos = q;
			while (p->pos < p->len && is_digit((unsigned char)p->src[p->pos]))
				p->pos++;
		}
	}
	if (p->pos < p->len && is_ident_start((unsigned char)p->src[p->pos]))
		return syntax_error(p, start, "malformed number '%.*s'", (int)(p->pos - start + 1), p->src + start);
	memcpy(text, p->src + start, p->pos - start);
	text[p->pos - start] = '\0';
	errno = 0;
	if (real) {
		double d = strtod(text, NULL);

		if (errno == ERANGE || !isfinite(d))
			return syntax_error(p, start, "number '%s' out of range", text);
		p->tval = json_real(d);
	} else {
		long long ll = strtoll(text, NULL, 10);

		if (errno == ERANGE)
			return syntax_error(p, start, "integer '%s' out of range", text);
		p->tval = json_integer(ll);
	}
	p->tok = T_NUM;
	return 0;
}

/* Read the next token into p->tok. */
static int lex(struct parser *p)
{
	const char *s = p->src;
	char c, n;

	json_decref(p->tval);
	p->tval = NULL;
	while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r'))
		p->pos++;
	p->tstart = p->pos;
	if (p->pos >= p->len) {
		p->tok = T_EOF;
		p->tend = p->pos;
		return 0;
	}
	c = s[p->pos];
	n = p->pos + 1 < p->len ? s[p->pos + 1] : '\0';
	if (c == '\'' || c == '"') {
		int r = lex_string(p);

		p->tend = p->pos;
		return r;
	}
	if (is_digit((unsigned char)c)) {
		int r = lex_number(p);

		p->tend = p->pos;
		return r;
	}
	if (is_ident_start((unsigned char)c)) {
		p->pos += ident_len(s + p->pos, p->len - p->pos);
		p->tok = T_IDENT;
		p->tend = p->pos;
		return 0;
	}
	p->pos++;
	switch (c) {
	case '(': p->tok = T_LP; break;
	case ')': p->tok = T_RP; break;
	case '[': p->tok = T_LB; break;
	case ']': p->tok = T_RB; break;
	case '{': p->tok = T_LC; break;
	case '}': p->tok = T_RC; break;
	case ',': p->tok = T_COMMA; break;
	case ':': p->tok = T_COLON; break;
	case '.': p->tok = T_DOT; break;
	case '+': p->tok = T_PLUS; break;
	case '-': p->tok = T_MINUS; break;
	case '*': p->tok = T_STAR; break;
	case '/': p->tok = T_SLASH; break;
	case '%': p->tok = T_PCT; break;
	case '?':
		p->tok = n == '?' ? T_QQ : T_QUEST;
		break;
	case '|':
		if (n != '|')
			return syntax_error(p, p->tstart, "unexpected '|' (did you mean '||'?)");
		p->tok = T_OR;
		break;
	case '&':
		if (n != '&')
			return syntax_error(p, p->tstart, "unexpected '&' (did you mean '&&'?)");
		p->tok = T_AND;
		break;
	case '=':
		if (n != '=')
			return syntax_error(p, p->tstart, "unexpected '=' (did you mean '=='?)");
		p->tok = T_EQ;
		break;
	case '!':
		p->tok = n == '=' ? T_NE : T_NOT;
		break;
	case '<':
		p->tok = n == '=' ? T_LE : T_LT;
		break;
	case '>':
		p->tok = n == '=' ? T_GE : T_GT;
		break;
	case '$':
		return syntax_error(p, p->tstart,
				    "unexpected '$' (inside an expression, name values directly: parameter.x, "
				    "not ${parameter.x})");
	default:
		if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
			return syntax_error(p, p->tstart, "unexpected character '%c'", c);
		return syntax_error(p, p->tstart, "unexpected byte 0x%02x", (unsigned char)c);
	}
	if (p->tok == T_QQ || p->tok == T_OR || p->tok == T_AND || p->tok == T_EQ || p->tok == T_NE ||
	    p->tok == T_LE || p->tok == T_GE)
		p->pos++;
	p->tend = p->pos;
	return 0;
}

static int node_new(struct parser *p, enum node_kind kind, size_t start, struct node **ret)
{
	struct tmpl_expr *e = p->e;
	struct node *n;
	int r = tmpl_ctx_steps(p->ctx, 1, p->err);

	if (r < 0)
		return r;
	n = xnew(struct node);
	n->kind = kind;
	n->start = start;
	n->end = start;
	if (e->nnodes == e->anodes) {
		e->anodes = e->anodes ? 2 * e->anodes : 16;
		e->nodes = xrealloc(e->nodes, e->anodes * sizeof(*e->nodes));
	}
	e->nodes[e->nnodes++] = n;
	*ret = n;
	return 0;
}

static void node_add(struct node *n, struct node *kid, size_t *alloc)
{
	if (n->nkids == *alloc) {
		*alloc = *alloc ? 2 * *alloc : 4;
		n->kids = xrealloc(n->kids, *alloc * sizeof(*n->kids));
	}
	n->kids[n->nkids++] = kid;
	n->end = kid->end;
}

static int parse_expr(struct parser *p, struct node **ret);

static int expect(struct parser *p, enum tok t, const char *what)
{
	char found[64];

	if (p->tok == t)
		return lex(p);
	tok_describe(p, found, sizeof(found));
	return syntax_error(p, p->tstart, "expected %s, found %s", what, found);
}

/* Elements of [..], {..} or (..) after the opening token, up to close. */
static int parse_seq(struct parser *p, struct node *n, enum tok close, bool keys)
{
	size_t alloc = 0;
	struct node *kid;
	int r;

	while (p->tok != close) {
		if (keys) {
			if (p->tok != T_STR && p->tok != T_IDENT) {
				char found[64];

				tok_describe(p, found, sizeof(found));
				return syntax_error(p, p->tstart, "expected a key (a string or a name), found %s",
						    found);
			}
			r = node_new(p, N_LIT, p->tstart, &kid);
			if (r < 0)
				return r;
			kid->end = p->tend;
			if (p->tok == T_STR) {
				kid->lit = p->tval;
				p->tval = NULL;
			} else {
				kid->lit = json_stringn(p->src + p->tstart, p->tend - p->tstart);
			}
			node_add(n, kid, &alloc);
			r = lex(p);
			if (r == 0)
				r = expect(p, T_COLON, "':' after the key");
			if (r < 0)
				return r;
		}
		r = parse_expr(p, &kid);
		if (r < 0)
			return r;
		node_add(n, kid, &alloc);
		if (p->tok == T_COMMA) {
			r = lex(p);
			if (r < 0)
				return r;
			continue;
		}
		if (p->tok != close) {
			char found[64];

			tok_describe(p, found, sizeof(found));
			return syntax_error(p, p->tstart, "expected ',' or %s, found %s", tok_text[close], found);
		}
	}
	n->end = p->tend;
	return lex(p);
}

static int parse_primary(struct parser *p, struct node **ret)
{
	struct node *n = NULL;
	char found[64];
	int r;

	switch (p->tok) {
	case T_NUM:
	case T_STR:
		r = node_new(p, N_LIT, p->tstart, &n);
		if (r < 0)
			return r;
		n->end = p->tend;
		n->lit = p->tval;
		p->tval = NULL;
		r = lex(p);
		break;
	case T_IDENT: {
		const char *name = p->src + p->tstart;
		size_t len = p->tend - p->tstart;

		if ((len == 4 && memcmp(name, "true", 4) == 0) || (len == 5 && memcmp(name, "false", 5) == 0) ||
		    (len == 4 && memcmp(name, "null", 4) == 0)) {
			r = node_new(p, N_LIT, p->tstart, &n);
			if (r < 0)
				return r;
			n->end = p->tend;
			n->lit = name[0] == 't' ? json_true() : name[0] == 'f' ? json_false() : json_null();
			r = lex(p);
			break;
		}
		r = node_new(p, N_NAME, p->tstart, &n);
		if (r < 0)
			return r;
		n->end = p->tend;
		r = lex(p);
		if (r < 0 || p->tok != T_LP)
			break;
		n->kind = N_CALL;
		n->fn = func_find(name, len);
		if (!n->fn)
			return syntax_error(p, n->start,
					    "unknown function '%.*s' (functions: has, len, str, int, lower, upper, "
					    "trim, join, split, replace, hasPrefix, hasSuffix, contains, keys, "
					    "values, select, slice, merge, default, hash)",
					    (int)(len > 40 ? 40 : len), name);
		r = lex(p);
		if (r == 0)
			r = parse_seq(p, n, T_RP, false);
		if (r < 0)
			return r;
		if (n->nkids < n->fn->min || n->nkids > n->fn->max) {
			if (n->fn->min == n->fn->max)
				return syntax_error(p, n->start, "%s() takes %zu argument%s, got %zu", n->fn->name,
						    n->fn->min, n->fn->min == 1 ? "" : "s", n->nkids);
			return syntax_error(p, n->start, "%s() takes %zu to %zu arguments, got %zu", n->fn->name,
					    n->fn->min, n->fn->max, n->nkids);
		}
		if (!n->fn->fn) /* default(x, y) is x ?? y */
			n->kind = N_COALESCE;
		break;
	}
	case T_LP: {
		size_t start = p->tstart;

		r = lex(p);
		if (r == 0)
			r = parse_expr(p, &n);
		if (r < 0)
			return r;
		if (p->tok != T_RP) {
			tok_describe(p, found, sizeof(found));
			return syntax_error(p, p->tstart, "expected ')' to close the '(' at column %zu, found %s",
					    start + 1, found);
		}
		r = lex(p);
		break;
	}
	case T_LB:
	case T_LC: {
		bool object = p->tok == T_LC;

		r = node_new(p, object ? N_OBJECT : N_LIST, p->tstart, &n);
		if (r == 0)
			r = lex(p);
		if (r == 0)
			r = parse_seq(p, n, object ? T_RC : T_RB, object);
		break;
	}
	case T_EOF:
		return syntax_error(p, p->tstart, "expected an operand");
	default:
		tok_describe(p, found, sizeof(found));
		return syntax_error(p, p->tstart, "expected an operand, found %s", found);
	}
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

static int parse_postfix(struct parser *p, struct node **ret)
{
	struct node *base = NULL, *path = NULL, *step = NULL;
	size_t alloc = 0;
	int r = parse_primary(p, &base);

	if (r < 0)
		return r;
	while (p->tok == T_DOT || p->tok == T_LB) {
		if (!path) {
			r = node_new(p, N_PATH, base->start, &path);
			if (r < 0)
				return r;
			node_add(path, base, &alloc);
		}
		if (p->tok == T_DOT) {
			r = node_new(p, N_FIELD, p->tstart, &step);
			if (r == 0)
				r = lex(p);
			if (r < 0)
				return r;
			if (p->tok != T_IDENT) {
				char found[64];

				tok_describe(p, found, sizeof(found));
				return syntax_error(p, p->tstart, "expected a field name after '.', found %s", found);
			}
			step->end = p->tend;
			r = lex(p);
		} else {
			size_t start = p->tstart;
			struct node *idx = NULL;

			r = node_new(p, N_INDEX, start, &step);
			if (r == 0)
				r = lex(p);
			if (r == 0)
				r = parse_expr(p, &idx);
			if (r < 0)
				return r;
			step->kids = xmalloc(sizeof(*step->kids));
			step->kids[0] = idx;
			step->nkids = 1;
			if (p->tok != T_RB) {
				char found[64];

				tok_describe(p, found, sizeof(found));
				return syntax_error(p, p->tstart, "expected ']' to close the '[' at column %zu, found %s",
						    start + 1, found);
			}
			step->end = p->tend;
			r = lex(p);
		}
		if (r < 0)
			return r;
		node_add(path, step, &alloc);
	}
	*ret = path ? path : base;
	return 0;
}

static int parse_unary(struct parser *p, struct node **ret)
{
	struct node *n = NULL, *kid = NULL;
	enum tok op = p->tok;
	size_t start = p->tstart;
	int r;

	if (op != T_NOT && op != T_MINUS)
		return parse_postfix(p, ret);
	if (++p->depth > TMPL_DEPTH_MAX)
		return errbuf_set(p->err, -E2BIG, "expression nested deeper than %d levels at column %zu",
				  TMPL_DEPTH_MAX, start + 1);
	r = lex(p);
	if (r == 0)
		r = parse_unary(p, &kid);
	if (r < 0)
		return r;
	p->depth--;
	/* Fold a minus sign into a number literal: -1.5 is a constant. */
	if (op == T_MINUS && kid->kind == N_LIT && json_is_integer(kid->lit) &&
	    json_integer_value(kid->lit) != INT64_MIN) {
		json_integer_set(kid->lit, -json_integer_value(kid->lit));
		kid->start = start;
		*ret = kid;
		return 0;
	}
	if (op == T_MINUS && kid->kind == N_LIT && json_is_real(kid->lit)) {
		json_real_set(kid->lit, -json_real_value(kid->lit));
		kid->start = start;
		*ret = kid;
		return 0;
	}
	r = node_new(p, op == T_NOT ? N_NOT : N_NEG, start, &n);
	if (r < 0)
		return r;
	n->kids = xmalloc(sizeof(*n->kids));
	n->kids[0] = kid;
	n->nkids = 1;
	n->end = kid->end;
	*ret = n;
	return 0;
}

/* The binary levels, lowest precedence first. */
enum level {
	L_COALESCE,
	L_OR,
	L_AND,
	L_EQUALITY,
	L_ORDER,
	L_ADD,
	L_MUL,
	L_UNARY,
};

static bool level_has(enum level l, enum tok t)
{
	switch (l) {
	case L_COALESCE:
		return t == T_QQ;
	case L_OR:
		return t == T_OR;
	case L_AND:
		return t == T_AND;
	case L_EQUALITY:
		return t == T_EQ || t == T_NE;
	case L_ORDER:
		return t == T_LT || t == T_LE || t == T_GT || t == T_GE;
	case L_ADD:
		return t == T_PLUS || t == T_MINUS;
	case L_MUL:
		return t == T_STAR || t == T_SLASH || t == T_PCT;
	case L_UNARY:
		break;
	}
	return false;
}

static int parse_level(struct parser *p, enum level l, struct node **ret)
{
	static const enum node_kind kinds[] = {
		[L_COALESCE] = N_COALESCE, [L_OR] = N_OR,       [L_AND] = N_AND,   [L_EQUALITY] = N_COMPARE,
		[L_ORDER] = N_COMPARE,     [L_ADD] = N_ARITH,   [L_MUL] = N_ARITH,
	};
	struct node *first = NULL, *n = NULL, *kid = NULL;
	size_t alloc = 0, aops = 0;
	int r;

	r = l == L_MUL ? parse_unary(p, &first) : parse_level(p, l + 1, &first);
	if (r < 0)
		return r;
	while (level_has(l, p->tok)) {
		enum tok op = p->tok;

		if (!n) {
			r = node_new(p, kinds[l], first->start, &n);
			if (r < 0)
				return r;
			node_add(n, first, &alloc);
		}
		r = lex(p);
		if (r == 0)
			r = l == L_MUL ? parse_unary(p, &kid) : parse_level(p, l + 1, &kid);
		if (r < 0)
			return r;
		if (n->nkids - 1 == aops) {
			aops = aops ? 2 * aops : 4;
			n->ops = xrealloc(n->ops, aops * sizeof(*n->ops));
		}
		n->ops[n->nkids - 1] = op;
		node_add(n, kid, &alloc);
	}
	*ret = n ? n : first;
	return 0;
}

static int parse_expr(struct parser *p, struct node **ret)
{
	struct node *cond = NULL, *n = NULL, *a = NULL, *b = NULL;
	size_t start = p->tstart;
	int r;

	if (++p->depth > TMPL_DEPTH_MAX)
		return errbuf_set(p->err, -E2BIG, "expression nested deeper than %d levels at column %zu",
				  TMPL_DEPTH_MAX, start + 1);
	r = parse_level(p, L_COALESCE, &cond);
	if (r < 0)
		return r;
	if (p->tok != T_QUEST) {
		p->depth--;
		*ret = cond;
		return 0;
	}
	r = lex(p);
	if (r == 0)
		r = parse_expr(p, &a);
	if (r == 0)
		r = expect(p, T_COLON, "':' of the '?' operator");
	if (r == 0)
		r = parse_expr(p, &b);
	if (r == 0)
		r = node_new(p, N_TERNARY, cond->start, &n);
	if (r < 0)
		return r;
	n->kids = xmalloc(3 * sizeof(*n->kids));
	n->kids[0] = cond;
	n->kids[1] = a;
	n->kids[2] = b;
	n->nkids = 3;
	n->end = b->end;
	p->depth--;
	*ret = n;
	return 0;
}

int tmpl_expr_parse(const char *src, size_t len, struct tmpl_ctx *ctx, struct errbuf *err,
		    struct tmpl_expr **ret_expr)
{
	struct parser p = { 0 };
	struct tmpl_expr *e = NULL;
	int r;

	if (len > TMPL_EXPR_MAX)
		return errbuf_set(err, -E2BIG, "expression too long: %zu bytes, at most %d", len, TMPL_EXPR_MAX);
	e = xnew(struct tmpl_expr);
	e->src = xstrndup(src, len);
	e->len = len;
	p.e = e;
	p.src = e->src;
	p.len = len;
	p.ctx = ctx;
	p.err = err;
	if (memchr(src, '\0', len)) {
		r = errbuf_set(err, -EINVAL, "syntax error at column %zu: unexpected NUL byte",
			       (size_t)((const char *)memchr(src, '\0', len) - src) + 1);
		goto out;
	}
	r = lex(&p);
	if (r < 0)
		goto out;
	if (p.tok == T_EOF) {
		r = errbuf_set(err, -EINVAL, "syntax error at column 1: empty expression");
		goto out;
	}
	r = parse_expr(&p, &e->root);
	if (r < 0)
		goto out;
	if (p.tok != T_EOF) {
		char found[64];

		tok_describe(&p, found, sizeof(found));
		r = syntax_error(&p, p.tstart, "expected an operator or the end, found %s", found);
		goto out;
	}
	*ret_expr = e;
	e = NULL;
out:
	json_decref(p.tval);
	tmpl_expr_free(e);
	return r;
}

struct tmpl_expr *tmpl_expr_free(struct tmpl_expr *e)
{
	size_t i;

	if (!e)
		return NULL;
	for (i = 0; i < e->nnodes; i++) {
		json_decref(e->nodes[i]->lit);
		free(e->nodes[i]->kids);
		free(e->nodes[i]->ops);
		free(e->nodes[i]);
	}
	free(e->nodes);
	free(e->src);
	free(e);
	return NULL;
}

const char *tmpl_expr_source(const struct tmpl_expr *e)
{
	return e->src;
}

/* ---- evaluation -------------------------------------------------------- */

struct eval {
	const struct tmpl_expr *e;
	const json_t *scope;
	const struct tmpl_binding *bind;
	struct tmpl_ctx *ctx;
	struct errbuf *err;
};

static int eval_node(struct eval *ev, const struct node *n, json_t **ret);

/* The value bound to a root name (borrowed), or NULL. */
static const json_t *lookup_name(const struct eval *ev, const char *name, size_t len)
{
	const struct tmpl_binding *b;

	for (b = ev->bind; b; b = b->next)
		if (strlen(b->name) == len && memcmp(b->name, name, len) == 0)
			return b->value;
	if (json_is_object(ev->scope))
		return json_object_getn(ev->scope, name, len);
	return NULL;
}

/* One path step applied to v (borrowed); idx is the evaluated index for N_INDEX. */
static const json_t *step_value(const struct eval *ev, const json_t *v, const struct node *step, const json_t *idx)
{
	if (!v)
		return NULL;
	if (step->kind == N_FIELD) {
		if (!json_is_object(v))
			return NULL;
		return json_object_getn(v, ev->e->src + step->start + 1, step->end - step->start - 1);
	}
	if (json_is_string(idx) && json_is_object(v))
		return json_object_getn(v, json_string_value(idx), json_string_length(idx));
	if (json_is_array(v) && is_number(idx)) {
		double d = num_value(idx);

		if (json_is_real(idx) && d != floor(d))
			return NULL;
		if (d < 0 || d >= (double)json_array_size(v))
			return NULL;
		return json_array_get(v, (size_t)d);
	}
	return NULL;
}

static void list_keys(const json_t *obj, char *out, size_t size)
{
	const char *k;
	json_t *v;
	size_t used = 0, n = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)obj, k, v) {
		int w;

		if (n == 8 || used + strlen(k) + 8 > size) {
			snprintf(out + used, size - used, ", ...");
			return;
		}
		w = snprintf(out + used, size - used, "%s%s", n ? ", " : "", k);
		if (w < 0 || (size_t)w >= size - used)
			return;
		used += (size_t)w;
		n++;
	}
}

static void explain_name(const struct eval *ev, const struct node *n, char *out, size_t size)
{
	const char *name = ev->e->src + n->start;
	int len = (int)(n->end - n->start);
	char names[200] = "", *q = names;
	const struct tmpl_binding *b;
	size_t used = 0;

	for (b = ev->bind; b && used + 64 < sizeof(names); b = b->next) {
		int w = snprintf(q, sizeof(names) - used, "%s%s", used ? ", " : "", b->name);

		if (w > 0 && (size_t)w < sizeof(names) - used) {
			used += (size_t)w;
			q += w;
		}
	}
	if (json_is_object(ev->scope) && json_object_size(ev->scope) > 0 && used + 64 < sizeof(names)) {
		if (used) {
			snprintf(q, sizeof(names) - used, ", ");
			used += 2;
			q += 2;
		}
		list_keys(ev->scope, q, sizeof(names) - used);
	}
	snprintf(out, size, "there is no '%.*s' (names: %s)%s", len, name, names[0] ? names : "none",
		 memchr(name, '-', (size_t)len) ? "; to subtract, write a - b with spaces" : "");
}

/* Why node n evaluates to undefined; "" when it cannot tell. */
static void explain(struct eval *ev, const struct node *n, char *out, size_t size)
{
	struct errbuf quiet;
	const json_t *cur;
	json_t *base = NULL;
	size_t i;

	out[0] = '\0';
	if (n->kind == N_NAME) {
		explain_name(ev, n, out, size);
		return;
	}
	if (n->kind != N_PATH)
		return;
	ev->err = &quiet;
	if (n->kids[0]->kind == N_NAME) {
		cur = lookup_name(ev, ev->e->src + n->kids[0]->start, n->kids[0]->end - n->kids[0]->start);
		if (!cur) {
			explain_name(ev, n->kids[0], out, size);
			return;
		}
	} else {
		if (eval_node(ev, n->kids[0], &base) < 0 || !base)
			return;
		cur = base;
	}
	for (i = 1; i < n->nkids; i++) {
		const struct node *step = n->kids[i];
		const char *text = ev->e->src + n->start;
		int tlen = (int)(step->start - n->start);
		json_t *idx = NULL;
		const json_t *next;

		if (step->kind == N_INDEX) {
			if (eval_node(ev, step->kids[0], &idx) < 0)
				break;
			if (!idx) {
				snprintf(out, size, "the index %.*s is undefined", (int)(step->end - step->start),
					 ev->e->src + step->start);
				break;
			}
		}
		next = step_value(ev, cur, step, idx);
		if (!next) {
			if (step->kind == N_FIELD && json_is_object(cur)) {
				char keys[200];

				list_keys(cur, keys, sizeof(keys));
				snprintf(out, size, "%.*s has no field \"%.*s\" (fields: %s)%s", tlen, text,
					 (int)(step->end - step->start - 1), ev->e->src + step->start + 1,
					 keys[0] ? keys : "none",
					 memchr(ev->e->src + step->start, '-', step->end - step->start)
						 ? "; to subtract, write a - b with spaces"
						 : "");
			} else if (json_is_object(cur) && json_is_string(idx)) {
				snprintf(out, size, "%.*s has no field \"%s\"", tlen, text, json_string_value(idx));
			} else if (json_is_array(cur) && is_number(idx)) {
				snprintf(out, size, "%.*s has %zu item%s", tlen, text, json_array_size(cur),
					 json_array_size(cur) == 1 ? "" : "s");
			} else if (json_is_array(cur)) {
				snprintf(out, size, "%.*s is a list: index it with a number", tlen, text);
			} else if (json_is_object(cur)) {
				snprintf(out, size, "%.*s is an object: index it with a string", tlen, text);
			} else if (json_is_null(cur)) {
				snprintf(out, size, "%.*s is null", tlen, text);
			} else {
				snprintf(out, size, "%.*s is a %s, not an object or a list", tlen, text,
					 tmpl_type_name(cur));
			}
			json_decref(idx);
			break;
		}
		json_decref(idx);
		cur = next;
	}
	json_decref(base);
}

void tmpl_expr_explain(const struct tmpl_expr *e, const json_t *scope, const struct tmpl_binding *bind,
		       char *out, size_t size)
{
	struct tmpl_ctx ctx = { 0 };
	struct errbuf quiet;
	struct eval ev = { .e = e, .scope = scope, .bind = bind, .ctx = &ctx, .err = &quiet };

	if (size == 0)
		return;
	explain(&ev, e->root, out, size);
}

/* The error for an undefined operand n. */
static int undefined_error(struct eval *ev, const struct node *n, const char *what)
{
	char why[300];
	struct errbuf *err = ev->err;
	char text[100];

	explain(ev, n, why, sizeof(why));
	ev->err = err;
	tmpl_expr_display(ev->e->src + n->start, n->end - n->start, text, sizeof(text));
	return errbuf_set(err, -EINVAL, "%s is undefined%s%s%s%s (column %zu)", text, what[0] ? " " : "", what,
			  why[0] ? ": " : "", why, n->start + 1);
}

#define type_error(ev, n, ...) col_error(ev, (n)->start, __VA_ARGS__)

static int eval_path(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *base = NULL, *idx = NULL;
	const json_t *cur;
	size_t i;
	int r;

	if (n->kids[0]->kind == N_NAME) {
		r = tmpl_ctx_steps(ev->ctx, 1, ev->err);
		if (r < 0)
			return r;
		cur = lookup_name(ev, ev->e->src + n->kids[0]->start, n->kids[0]->end - n->kids[0]->start);
	} else {
		r = eval_node(ev, n->kids[0], &base);
		if (r < 0)
			return r;
		cur = base;
	}
	for (i = 1; cur && i < n->nkids; i++) {
		const struct node *step = n->kids[i];

		r = tmpl_ctx_steps(ev->ctx, 1, ev->err);
		if (r < 0)
			goto out;
		if (step->kind == N_INDEX) {
			r = eval_node(ev, step->kids[0], &idx);
			if (r < 0)
				goto out;
		}
		cur = step_value(ev, cur, step, idx);
		json_decref(idx);
		idx = NULL;
	}
	*ret = cur ? json_incref((json_t *)cur) : NULL;
	r = 0;
out:
	json_decref(base);
	return r;
}

static int eval_list(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *list, *v;
	size_t i;
	int r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);

	if (r < 0)
		return r;
	list = json_array();
	for (i = 0; i < n->nkids; i++) {
		r = eval_node(ev, n->kids[i], &v);
		if (r < 0) {
			json_decref(list);
			return r;
		}
		if (v) /* undefined items are left out, as in templates */
			json_array_append_new(list, v);
	}
	*ret = list;
	return 0;
}

static int eval_object(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *obj, *v;
	size_t i;
	int r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);

	if (r < 0)
		return r;
	obj = json_object();
	for (i = 0; i + 1 < n->nkids; i += 2) {
		const json_t *key = n->kids[i]->lit;

		r = eval_node(ev, n->kids[i + 1], &v);
		if (r < 0) {
			json_decref(obj);
			return r;
		}
		if (v)
			json_object_setn_new(obj, json_string_value(key), json_string_length(key), v);
	}
	*ret = obj;
	return 0;
}

static int arith_int(struct eval *ev, size_t col, enum tok op, json_int_t a, json_int_t b, json_t **ret)
{
	long long res = 0;
	bool over = false;

	switch (op) {
	case T_PLUS:
		over = __builtin_add_overflow(a, b, &res);
		break;
	case T_MINUS:
		over = __builtin_sub_overflow(a, b, &res);
		break;
	case T_STAR:
		over = __builtin_mul_overflow(a, b, &res);
		break;
	case T_SLASH:
	case T_PCT:
		if (b == 0)
			return col_error(ev, col, "%s by zero", op == T_SLASH ? "division" : "modulo");
		if (a == INT64_MIN && b == -1)
			over = true;
		else
			res = op == T_SLASH ? a / b : a % b;
		break;
	default:
		break;
	}
	if (over)
		return col_error(ev, col, "integer overflow");
	return new_value(ev->ctx, json_integer(res), ev->err, ret);
}

static int arith_real(struct eval *ev, size_t col, enum tok op, double a, double b, json_t **ret)
{
	double res = 0;

	switch (op) {
	case T_PLUS:
		res = a + b;
		break;
	case T_MINUS:
		res = a - b;
		break;
	case T_STAR:
		res = a * b;
		break;
	case T_SLASH:
	case T_PCT:
		if (b == 0)
			return col_error(ev, col, "%s by zero", op == T_SLASH ? "division" : "modulo");
		res = op == T_SLASH ? a / b : fmod(a, b);
		break;
	default:
		break;
	}
	if (!isfinite(res))
		return col_error(ev, col, "number out of range");
	return new_value(ev->ctx, json_real(res), ev->err, ret);
}

static int concat_strings(struct eval *ev, const json_t *a, const json_t *b, json_t **ret)
{
	size_t la = json_string_length(a), lb = json_string_length(b);
	char *s;
	int r;

	if (la + lb > TMPL_STRING_MAX)
		return str_overflow(ev->err);
	r = tmpl_ctx_steps(ev->ctx, (la + lb) / 64, ev->err);
	if (r < 0)
		return r;
	s = xmalloc(la + lb + 1);
	memcpy(s, json_string_value(a), la);
	memcpy(s + la, json_string_value(b), lb);
	r = new_string(ev->ctx, s, la + lb, ev->err, ret);
	free(s);
	return r;
}

static int concat_lists(struct eval *ev, const json_t *a, const json_t *b, json_t **ret)
{
	json_t *out;
	int r = tmpl_ctx_steps(ev->ctx, json_array_size(a) + json_array_size(b), ev->err);

	if (r == 0)
		r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);
	if (r < 0)
		return r;
	out = json_array();
	json_array_extend(out, (json_t *)a);
	json_array_extend(out, (json_t *)b);
	*ret = out;
	return 0;
}

static const char *op_verb(enum tok op)
{
	switch (op) {
	case T_PLUS:
		return "add";
	case T_MINUS:
		return "subtract";
	case T_STAR:
		return "multiply";
	case T_SLASH:
		return "divide";
	case T_PCT:
		return "take the modulo of";
	default:
		return "compare";
	}
}

/* Where the operator between n->kids[i - 1] and n->kids[i] is (0-based):
 * the first byte after the left operand that is not a space or a ')'. */
static size_t op_column(const struct eval *ev, const struct node *n, size_t i)
{
	size_t p = n->kids[i - 1]->end;

	while (p < n->kids[i]->start && strchr(" \t\r\n)", ev->e->src[p]))
		p++;
	return p;
}

/* a op b for + - * / %; col is the operator's column for messages. */
static int apply_arith(struct eval *ev, size_t col, enum tok op, const json_t *a, const json_t *b, json_t **ret)
{
	if (is_number(a) && is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return arith_int(ev, col, op, json_integer_value(a), json_integer_value(b), ret);
		return arith_real(ev, col, op, num_value(a), num_value(b), ret);
	}
	if (op == T_PLUS && json_is_string(a) && json_is_string(b))
		return concat_strings(ev, a, b, ret);
	if (op == T_PLUS && json_is_array(a) && json_is_array(b))
		return concat_lists(ev, a, b, ret);
	if (op == T_PLUS)
		return errbuf_set(ev->err, -EINVAL,
				  "cannot add %s and %s (column %zu): + takes two numbers, two strings or two lists; "
				  "use str() to make a string",
				  tmpl_type_name(a), tmpl_type_name(b), col + 1);
	return errbuf_set(ev->err, -EINVAL, "cannot %s %s and %s (column %zu): %s takes numbers", op_verb(op),
			  tmpl_type_name(a), tmpl_type_name(b), col + 1, tok_text[op]);
}

static int eval_arith(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *acc = NULL, *b = NULL, *res;
	size_t i;
	int r = eval_node(ev, n->kids[0], &acc);

	if (r < 0)
		return r;
	if (!acc)
		return undefined_error(ev, n->kids[0], "");
	for (i = 1; i < n->nkids; i++) {
		r = eval_node(ev, n->kids[i], &b);
		if (r < 0)
			goto out;
		if (!b) {
			r = undefined_error(ev, n->kids[i], "");
			goto out;
		}
		r = apply_arith(ev, op_column(ev, n, i), n->ops[i - 1], acc, b, &res);
		if (r < 0)
			goto out;
		json_decref(acc);
		json_decref(b);
		b = NULL;
		acc = res;
	}
	*ret = acc;
	acc = NULL;
out:
	json_decref(acc);
	json_decref(b);
	return r;
}

/* a op b for the comparisons; returns 1/0 or a negative errno. */
static int apply_compare(struct eval *ev, const struct node *n, size_t i, enum tok op, const json_t *a,
			 const json_t *b)
{
	int c;

	if (op == T_EQ || op == T_NE) {
		c = equal_rec(a, b, 0, ev->ctx, ev->err);
		if (c < 0)
			return c;
		return op == T_EQ ? c : !c;
	}
	if (!a)
		return undefined_error(ev, n->kids[i - 1], "");
	if (!b)
		return undefined_error(ev, n->kids[i], "");
	if (is_number(a) && is_number(b)) {
		c = num_cmp(a, b);
	} else if (json_is_string(a) && json_is_string(b)) {
		size_t la = json_string_length(a), lb = json_string_length(b);

		c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
		if (c == 0)
			c = la < lb ? -1 : la > lb;
	} else {
		return errbuf_set(ev->err, -EINVAL,
				  "cannot compare %s with %s (column %zu): %s takes two numbers or two strings",
				  tmpl_type_name(a), tmpl_type_name(b), op_column(ev, n, i) + 1, tok_text[op]);
	}
	switch (op) {
	case T_LT:
		return c < 0;
	case T_LE:
		return c <= 0;
	case T_GT:
		return c > 0;
	default:
		return c >= 0;
	}
}

/* Comparisons chain left to right: a < b < c compares (a < b) with c. */
static int eval_compare(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *acc = NULL, *b = NULL;
	size_t i;
	int r = eval_node(ev, n->kids[0], &acc);

	if (r < 0)
		return r;
	for (i = 1; i < n->nkids; i++) {
		r = eval_node(ev, n->kids[i], &b);
		if (r < 0)
			goto out;
		r = apply_compare(ev, n, i, n->ops[i - 1], acc, b);
		if (r < 0)
			goto out;
		json_decref(acc);
		json_decref(b);
		b = NULL;
		acc = json_boolean(r);
	}
	r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);
	if (r < 0)
		goto out;
	*ret = acc;
	acc = NULL;
out:
	json_decref(acc);
	json_decref(b);
	return r;
}

/* &&, ||: short-circuit, the result is a boolean. */
static int eval_logic(struct eval *ev, const struct node *n, json_t **ret)
{
	bool want = n->kind == N_OR, res = !want;
	size_t i;
	int r;

	for (i = 0; i < n->nkids; i++) {
		json_t *v;
		bool t;

		r = eval_node(ev, n->kids[i], &v);
		if (r < 0)
			return r;
		t = tmpl_truthy(v);
		json_decref(v);
		if (t == want) {
			res = want;
			break;
		}
	}
	return new_value(ev->ctx, json_boolean(res), ev->err, ret);
}

static int eval_coalesce(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *v = NULL;
	size_t i;
	int r;

	for (i = 0; i < n->nkids; i++) {
		r = eval_node(ev, n->kids[i], &v);
		if (r < 0)
			return r;
		if (v && !json_is_null(v))
			break;
		if (i + 1 < n->nkids) {
			json_decref(v);
			v = NULL;
		}
	}
	*ret = v;
	return 0;
}

static int eval_call(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *args[3] = { NULL, NULL, NULL };
	size_t i;
	int r = 0;

	for (i = 0; i < n->nkids && i < 3; i++) {
		r = eval_node(ev, n->kids[i], &args[i]);
		if (r < 0)
			goto out;
	}
	r = n->fn->fn(ev, n, args, ret);
out:
	for (i = 0; i < 3; i++)
		json_decref(args[i]);
	return r;
}

static int eval_node(struct eval *ev, const struct node *n, json_t **ret)
{
	json_t *v = NULL;
	int r = tmpl_ctx_steps(ev->ctx, 1, ev->err);

	if (r < 0)
		return r;
	switch (n->kind) {
	case N_LIT:
		*ret = json_incref(n->lit);
		return 0;
	case N_NAME: {
		const json_t *c = lookup_name(ev, ev->e->src + n->start, n->end - n->start);

		*ret = c ? json_incref((json_t *)c) : NULL;
		return 0;
	}
	case N_PATH:
		return eval_path(ev, n, ret);
	case N_LIST:
		return eval_list(ev, n, ret);
	case N_OBJECT:
		return eval_object(ev, n, ret);
	case N_NOT:
		r = eval_node(ev, n->kids[0], &v);
		if (r < 0)
			return r;
		r = new_value(ev->ctx, json_boolean(!tmpl_truthy(v)), ev->err, ret);
		json_decref(v);
		return r;
	case N_NEG:
		r = eval_node(ev, n->kids[0], &v);
		if (r < 0)
			return r;
		if (!v)
			r = undefined_error(ev, n->kids[0], "");
		else if (json_is_integer(v))
			r = arith_int(ev, n->start, T_MINUS, 0, json_integer_value(v), ret);
		else if (json_is_real(v))
			r = arith_real(ev, n->start, T_MINUS, 0, json_real_value(v), ret);
		else
			r = type_error(ev, n, "cannot negate %s: - takes a number", tmpl_type_name(v));
		json_decref(v);
		return r;
	case N_ARITH:
		return eval_arith(ev, n, ret);
	case N_COMPARE:
		return eval_compare(ev, n, ret);
	case N_AND:
	case N_OR:
		return eval_logic(ev, n, ret);
	case N_COALESCE:
		return eval_coalesce(ev, n, ret);
	case N_TERNARY: {
		bool t;

		r = eval_node(ev, n->kids[0], &v);
		if (r < 0)
			return r;
		t = tmpl_truthy(v);
		json_decref(v);
		return eval_node(ev, n->kids[t ? 1 : 2], ret);
	}
	case N_CALL:
		return eval_call(ev, n, ret);
	case N_FIELD:
	case N_INDEX:
		break;
	}
	return errbuf_set(ev->err, -EINVAL, "internal error: bad expression node");
}

int tmpl_expr_eval(const struct tmpl_expr *e, const json_t *scope, const struct tmpl_binding *bind,
		   struct tmpl_ctx *ctx, struct errbuf *err, json_t **ret_value)
{
	struct eval ev = { .e = e, .scope = scope, .bind = bind, .ctx = ctx, .err = err };
	json_t *v = NULL;
	int r = eval_node(&ev, e->root, &v);

	if (r < 0)
		return r;
	*ret_value = v;
	return 0;
}

/* ---- the functions ----------------------------------------------------- */

/* Argument i must be of the given type (or, with empty_ok, undefined/null: *out = NULL). */
static int arg_check(struct eval *ev, const struct node *call, json_t **args, size_t i, json_type want,
		     bool empty_ok)
{
	static const char *const nth[] = { "first", "second", "third" };
	const json_t *v = args[i];
	const char *wname = want == JSON_STRING ? "a string" : want == JSON_ARRAY ? "a list" : "an object";

	if (v && json_typeof(v) == want)
		return 0;
	if (empty_ok && (!v || json_is_null(v)))
		return 0;
	if (!v)
		return undefined_error(ev, call->kids[i], "");
	return errbuf_set(ev->err, -EINVAL, "%s(): the %s argument must be %s, got %s (column %zu)",
			  call->fn->name, nth[i], wname, tmpl_type_name(v), call->kids[i]->start + 1);
}

static int fn_has(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	return new_value(ev->ctx, json_boolean(args[0] && !json_is_null(args[0])), ev->err, ret);
}

static int fn_len(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	const json_t *v = args[0];
	size_t n = 0;

	if (json_is_string(v))
		n = json_string_length(v);
	else if (json_is_array(v))
		n = json_array_size(v);
	else if (json_is_object(v))
		n = json_object_size(v);
	else if (v && !json_is_null(v))
		return type_error(ev, call->kids[0], "len(): takes a string, a list or an object, got %s",
				  tmpl_type_name(v));
	return new_value(ev->ctx, json_integer((json_int_t)n), ev->err, ret);
}

static int fn_str(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	struct buf b;
	int r;

	if (!args[0])
		return undefined_error(ev, call->kids[0], "");
	if (json_is_string(args[0])) {
		*ret = json_incref(args[0]);
		return 0;
	}
	buf_init(&b, TMPL_STRING_MAX);
	r = tmpl_value_str(args[0], ev->ctx, &b, ev->err);
	if (r == 0)
		r = new_string(ev->ctx, b.data ? b.data : "", b.len, ev->err, ret);
	buf_free(&b);
	return r;
}

static int fn_int(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	const json_t *v = args[0];

	if (!v)
		return undefined_error(ev, call->kids[0], "");
	if (json_is_integer(v)) {
		*ret = json_incref((json_t *)v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = trunc(json_real_value(v));

		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
			return type_error(ev, call, "int(): %g is out of range", json_real_value(v));
		return new_value(ev->ctx, json_integer((json_int_t)d), ev->err, ret);
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v), i = 0;
		char *end;
		long long ll;

		if (len > 0 && (s[0] == '-' || s[0] == '+'))
			i++;
		if (i == len || len > 30)
			goto bad;
		for (; i < len; i++)
			if (!is_digit((unsigned char)s[i]))
				goto bad;
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (errno == ERANGE)
			return type_error(ev, call, "int(): \"%s\" is out of range", s);
		return new_value(ev->ctx, json_integer(ll), ev->err, ret);
bad:
		return type_error(ev, call, "int(): \"%.40s\" is not a decimal integer", s);
	}
	return type_error(ev, call, "int(): takes a number or a decimal string, got %s", tmpl_type_name(v));
}

static int fn_case(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	bool upper = call->fn->name[0] == 'u';
	size_t len, i;
	char *s;
	int r = arg_check(ev, call, args, 0, JSON_STRING, false);

	if (r < 0)
		return r;
	len = json_string_length(args[0]);
	r = tmpl_ctx_steps(ev->ctx, len / 64, ev->err);
	if (r < 0)
		return r;
	s = xmalloc(len + 1);
	memcpy(s, json_string_value(args[0]), len);
	for (i = 0; i < len; i++) {
		if (upper && s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (!upper && s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	}
	r = new_string(ev->ctx, s, len, ev->err, ret);
	free(s);
	return r;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int fn_trim(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	const char *s;
	size_t a = 0, b;
	int r = arg_check(ev, call, args, 0, JSON_STRING, false);

	if (r < 0)
		return r;
	s = json_string_value(args[0]);
	b = json_string_length(args[0]);
	while (a < b && is_space(s[a]))
		a++;
	while (b > a && is_space(s[b - 1]))
		b--;
	return new_string(ev->ctx, s + a, b - a, ev->err, ret);
}

static int fn_join(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	struct buf b;
	size_t i, n;
	int r = arg_check(ev, call, args, 0, JSON_ARRAY, true);

	if (r == 0)
		r = arg_check(ev, call, args, 1, JSON_STRING, false);
	if (r < 0)
		return r;
	buf_init(&b, TMPL_STRING_MAX);
	n = json_is_array(args[0]) ? json_array_size(args[0]) : 0;
	for (i = 0; i < n; i++) {
		if (i > 0 && buf_append(&b, json_string_value(args[1]), json_string_length(args[1])) < 0) {
			r = str_overflow(ev->err);
			goto out;
		}
		r = tmpl_value_str(json_array_get(args[0], i), ev->ctx, &b, ev->err);
		if (r < 0)
			goto out;
	}
	r = new_string(ev->ctx, b.data ? b.data : "", b.len, ev->err, ret);
out:
	buf_free(&b);
	return r;
}

/* Next occurrence of needle (nlen > 0) in h[0, hlen), or NULL. */
static const char *find_bytes(const char *h, size_t hlen, const char *needle, size_t nlen)
{
	return nlen <= hlen ? memmem(h, hlen, needle, nlen) : NULL;
}

/* Length of the UTF-8 sequence starting with byte c (1 for invalid bytes). */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xf0)
		return 4;
	if (c >= 0xe0)
		return 3;
	if (c >= 0xc0)
		return 2;
	return 1;
}

static int fn_split(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	const char *s, *sep, *hit;
	size_t len, slen, pos = 0;
	json_t *out = NULL, *item;
	int r = arg_check(ev, call, args, 0, JSON_STRING, false);

	if (r == 0)
		r = arg_check(ev, call, args, 1, JSON_STRING, false);
	if (r == 0)
		r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);
	if (r < 0)
		return r;
	s = json_string_value(args[0]);
	len = json_string_length(args[0]);
	sep = json_string_value(args[1]);
	slen = json_string_length(args[1]);
	out = json_array();
	if (slen == 0) {
		/* split(s, '') gives the characters */
		while (pos < len) {
			size_t n = utf8_len((unsigned char)s[pos]);

			if (n > len - pos)
				n = len - pos;
			r = tmpl_ctx_steps(ev->ctx, 1, ev->err);
			if (r == 0)
				r = new_string(ev->ctx, s + pos, n, ev->err, &item);
			if (r < 0)
				goto fail;
			json_array_append_new(out, item);
			pos += n;
		}
		*ret = out;
		return 0;
	}
	for (;;) {
		hit = find_bytes(s + pos, len - pos, sep, slen);
		r = tmpl_ctx_steps(ev->ctx, 1, ev->err);
		if (r == 0)
			r = new_string(ev->ctx, s + pos, hit ? (size_t)(hit - (s + pos)) : len - pos, ev->err, &item);
		if (r < 0)
			goto fail;
		json_array_append_new(out, item);
		if (!hit)
			break;
		pos = (size_t)(hit - s) + slen;
	}
	*ret = out;
	return 0;
fail:
	json_decref(out);
	return r;
}

static int fn_replace(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	const char *s, *old, *hit;
	size_t len, olen, pos = 0;
	struct buf b;
	int r = 0;
	size_t i;

	for (i = 0; i < 3 && r == 0; i++)
		r = arg_check(ev, call, args, i, JSON_STRING, false);
	if (r < 0)
		return r;
	s = json_string_value(args[0]);
	len = json_string_length(args[0]);
	old = json_string_value(args[1]);
	olen = json_string_length(args[1]);
	if (olen == 0)
		return type_error(ev, call->kids[1], "replace(): the string to replace must not be empty");
	buf_init(&b, TMPL_STRING_MAX);
	while ((hit = find_bytes(s + pos, len - pos, old, olen))) {
		r = tmpl_ctx_steps(ev->ctx, 1, ev->err);
		if (r < 0)
			goto out;
		if (buf_append(&b, s + pos, (size_t)(hit - (s + pos))) < 0 ||
		    buf_append(&b, json_string_value(args[2]), json_string_length(args[2])) < 0) {
			r = str_overflow(ev->err);
			goto out;
		}
		pos = (size_t)(hit - s) + olen;
	}
	if (buf_append(&b, s + pos, len - pos) < 0) {
		r = str_overflow(ev->err);
		goto out;
	}
	r = new_string(ev->ctx, b.data ? b.data : "", b.len, ev->err, ret);
out:
	buf_free(&b);
	return r;
}

static int fn_affix(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	bool suffix = call->fn->name[3] == 'S';
	size_t len, plen;
	const char *s, *p;
	bool res;
	int r = arg_check(ev, call, args, 0, JSON_STRING, false);

	if (r == 0)
		r = arg_check(ev, call, args, 1, JSON_STRING, false);
	if (r < 0)
		return r;
	s = json_string_value(args[0]);
	len = json_string_length(args[0]);
	p = json_string_value(args[1]);
	plen = json_string_length(args[1]);
	res = plen <= len && memcmp(suffix ? s + len - plen : s, p, plen) == 0;
	return new_value(ev->ctx, json_boolean(res), ev->err, ret);
}

static int fn_contains(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	const json_t *x = args[0], *v = args[1];
	bool res = false;
	size_t i;
	int r;

	if (!x || json_is_null(x)) {
		res = false;
	} else if (json_is_array(x)) {
		for (i = 0; i < json_array_size(x) && !res; i++) {
			r = equal_rec(json_array_get(x, i), v, 0, ev->ctx, ev->err);
			if (r < 0)
				return r;
			res = r;
		}
	} else if (json_is_object(x)) {
		if (!json_is_string(v))
			return type_error(ev, call->kids[1], "contains(): an object's keys are strings, got %s",
					  tmpl_type_name(v));
		res = json_object_getn(x, json_string_value(v), json_string_length(v)) != NULL;
	} else if (json_is_string(x)) {
		if (!json_is_string(v))
			return type_error(ev, call->kids[1], "contains(): looking in a string needs a string, got %s",
					  tmpl_type_name(v));
		r = tmpl_ctx_steps(ev->ctx, json_string_length(x) / 64, ev->err);
		if (r < 0)
			return r;
		res = json_string_length(v) == 0 ||
		      find_bytes(json_string_value(x), json_string_length(x), json_string_value(v),
				 json_string_length(v));
	} else {
		return type_error(ev, call->kids[0], "contains(): takes a list, an object or a string, got %s",
				  tmpl_type_name(x));
	}
	return new_value(ev->ctx, json_boolean(res), ev->err, ret);
}

static int fn_keys_values(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	bool keys = call->fn->name[0] == 'k';
	json_t *out, *v;
	const char *k;
	int r = arg_check(ev, call, args, 0, JSON_OBJECT, true);

	if (r == 0)
		r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);
	if (r < 0)
		return r;
	out = json_array();
	if (json_is_object(args[0])) {
		r = tmpl_ctx_steps(ev->ctx, json_object_size(args[0]), ev->err);
		if (r == 0 && keys)
			r = tmpl_ctx_nodes(ev->ctx, json_object_size(args[0]), ev->err);
		if (r < 0) {
			json_decref(out);
			return r;
		}
		json_object_foreach(args[0], k, v) {
			if (keys)
				json_array_append_new(out, json_string(k));
			else
				json_array_append(out, v);
		}
	}
	*ret = out;
	return 0;
}

static int fn_select(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	json_t *out;
	size_t i, n;
	int r = arg_check(ev, call, args, 0, JSON_ARRAY, true);

	if (r == 0)
		r = arg_check(ev, call, args, 1, JSON_STRING, false);
	if (r == 0)
		r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);
	if (r < 0)
		return r;
	n = json_is_array(args[0]) ? json_array_size(args[0]) : 0;
	r = tmpl_ctx_steps(ev->ctx, n, ev->err);
	if (r < 0)
		return r;
	out = json_array();
	for (i = 0; i < n; i++) {
		json_t *item = json_array_get(args[0], i);

		if (json_is_object(item) &&
		    tmpl_truthy(json_object_getn(item, json_string_value(args[1]), json_string_length(args[1]))))
			json_array_append(out, item);
	}
	*ret = out;
	return 0;
}

static int slice_index(struct eval *ev, const struct node *at, const json_t *v, size_t size, size_t *out)
{
	json_int_t i;

	if (!v)
		return undefined_error(ev, at, "");
	if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == floor(json_real_value(v))))
		return type_error(ev, at, "slice(): the positions must be integers, got %s", tmpl_type_name(v));
	if (json_is_integer(v)) {
		i = json_integer_value(v);
	} else {
		double d = json_real_value(v);

		i = d < -1e18 ? -(json_int_t)1e18 : d > 1e18 ? (json_int_t)1e18 : (json_int_t)d;
	}
	if (i < 0)
		i = (json_int_t)size + (i < -(json_int_t)size ? -(json_int_t)size : i);
	*out = (size_t)i > size ? size : (size_t)i;
	return 0;
}

static int fn_slice(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	size_t size, start, end, i;
	json_t *out;
	int r = arg_check(ev, call, args, 0, JSON_ARRAY, true);

	if (r < 0)
		return r;
	size = json_is_array(args[0]) ? json_array_size(args[0]) : 0;
	r = slice_index(ev, call->kids[1], args[1], size, &start);
	if (r == 0 && call->nkids > 2)
		r = slice_index(ev, call->kids[2], args[2], size, &end);
	else
		end = size;
	if (r == 0)
		r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);
	if (r == 0 && end > start)
		r = tmpl_ctx_steps(ev->ctx, end - start, ev->err);
	if (r < 0)
		return r;
	out = json_array();
	for (i = start; i < end; i++)
		json_array_append(out, json_array_get(args[0], i));
	*ret = out;
	return 0;
}

static int fn_merge(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	json_t *out;
	int r = arg_check(ev, call, args, 0, JSON_OBJECT, true);

	if (r == 0)
		r = arg_check(ev, call, args, 1, JSON_OBJECT, true);
	if (r == 0)
		r = tmpl_ctx_nodes(ev->ctx, 1, ev->err);
	if (r == 0)
		r = tmpl_ctx_steps(ev->ctx, json_object_size(args[0]) + json_object_size(args[1]), ev->err);
	if (r < 0)
		return r;
	out = json_object();
	if (json_is_object(args[0]))
		json_object_update(out, args[0]);
	if (json_is_object(args[1]))
		json_object_update(out, args[1]);
	*ret = out;
	return 0;
}

/* hash(x): the first HASH_HEX_LEN lowercase hex digits of the SHA-256 of x's
 * canonical JSON (keys sorted, compact, as json_dumps writes it): a short
 * name suffix that changes when x does (the rollout trait names a revision's
 * workload by its pod template). Charges one step per value and per 64 bytes
 * hashed; the walk checks the value depth cap before jansson recurses. */
#define HASH_HEX_LEN 10

static int hash_count(const json_t *v, int depth, size_t *count, struct errbuf *err)
{
	const char *k;
	json_t *item;
	size_t i;
	int r = value_depth_check(depth, err);

	if (r < 0)
		return r;
	(*count)++;
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			r = hash_count(item, depth + 1, count, err);
			if (r < 0)
				return r;
		}
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, item) {
			r = hash_count(item, depth + 1, count, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int fn_hash(struct eval *ev, const struct node *call, json_t **args, json_t **ret)
{
	char hex[SHA256_HEX_LEN + 1];
	size_t count = 0;
	char *s;
	int r;

	if (!args[0])
		return undefined_error(ev, call->kids[0], "");
	r = hash_count(args[0], 0, &count, ev->err);
	if (r == 0)
		r = tmpl_ctx_steps(ev->ctx, count, ev->err);
	if (r < 0)
		return r;
	s = json_dumps(args[0], JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s) /* only out of memory (a tree of valid JSON): abort, as alloc.h does */
		abort();
	r = tmpl_ctx_steps(ev->ctx, strlen(s) / 64, ev->err);
	if (r == 0) {
		sha256_hex(s, strlen(s), hex);
		r = new_string(ev->ctx, hex, HASH_HEX_LEN, ev->err, ret);
	}
	free(s);
	return r;
}

static const struct func funcs[] = {
	{ "has", 1, 1, fn_has },
	{ "len", 1, 1, fn_len },
	{ "str", 1, 1, fn_str },
	{ "int", 1, 1, fn_int },
	{ "lower", 1, 1, fn_case },
	{ "upper", 1, 1, fn_case },
	{ "trim", 1, 1, fn_trim },
	{ "join", 2, 2, fn_join },
	{ "split", 2, 2, fn_split },
	{ "replace", 3, 3, fn_replace },
	{ "hasPrefix", 2, 2, fn_affix },
	{ "hasSuffix", 2, 2, fn_affix },
	{ "contains", 2, 2, fn_contains },
	{ "keys", 1, 1, fn_keys_values },
	{ "values", 1, 1, fn_keys_values },
	{ "select", 2, 2, fn_select },
	{ "slice", 2, 3, fn_slice },
	{ "merge", 2, 2, fn_merge },
	{ "default", 2, 2, NULL },
	{ "hash", 1, 1, fn_hash },
};

static const struct func *func_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
			return &funcs[i];
	return NULL;
}
