/* jsonpath.c - compile and evaluate the Kubernetes JSONPath subset; see jsonpath.h.
 *
 * An expression compiles to a flat list of steps (field, index, wildcard,
 * filter); a filter holds its own short list of single-valued steps (fields
 * and indexes) from "@" and an optional comparison with a literal. Evaluation
 * walks the document breadth-first, one step at a time, keeping the current
 * set of matched nodes (borrowed pointers into the document) in an array
 * capped at JSONPATH_MAX_RESULTS.
 *
 * Semantics follow client-go's util/jsonpath where the subset overlaps: a
 * missing field or an out-of-range index yields nothing (as with
 * allowMissingKeys, which is how OCM's status feedback evaluates paths);
 * [*] and .* give the elements of an array or the values of an object, in
 * order; a filter applies to the elements of an array and keeps those for
 * which "@..." exists (no operator) or compares equal / unequal to the
 * literal; an element whose left side is missing is dropped for both == and
 * !=. Strings compare byte-wise, numbers numerically (integer and real alike),
 * and values of different types are unequal.
 *
 * Everything not in the subset is refused at compile time with the byte
 * position (0-based) of the problem: recursive descent "..", slices and
 * ranges "[a:b]", unions "[a,b]", functions "length()", other filter
 * operators, several {} templates or text around them. Limits: expressions of
 * at most JSONPATH_MAX_LEN bytes and JSONPATH_MAX_STEPS steps in all
 * (counting the steps inside filters). A compiled path is immutable and may
 * be evaluated from several threads at once.
 */
#include "jsonpath.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define JSONPATH_MAX_LEN 512
#define JSONPATH_MAX_STEPS 64
#define JSONPATH_MAX_RESULTS 10000

enum jp_kind {
	JP_FIELD,    /* .name or ['name'] */
	JP_INDEX,    /* [N] or [-N] */
	JP_WILDCARD, /* [*] or .* */
	JP_FILTER,   /* [?(@... op literal)] */
};

enum jp_cmp {
	JP_CMP_EXISTS,
	JP_CMP_EQ,
	JP_CMP_NE,
};

struct jp_filter;

struct jp_step {
	enum jp_kind kind;
	char *name;               /* owned; JP_FIELD */
	int64_t index;            /* JP_INDEX */
	struct jp_filter *filter; /* owned; JP_FILTER */
};

struct jp_filter {
	struct jp_step *steps; /* owned; fields and indexes only, after "@" */
	size_t nsteps;
	enum jp_cmp cmp;
	json_t *literal;       /* owned reference; NULL for JP_CMP_EXISTS */
};

struct jsonpath {
	struct jp_step *steps; /* owned */
	size_t nsteps;
};

struct jp_parser {
	const char *s;
	size_t pos;
	size_t end;    /* parsing stops here (the closing brace, or the length) */
	size_t nsteps; /* all steps so far, including those in filters */
	struct errbuf *err;
};

static void steps_free(struct jp_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(steps[i].name);
		if (steps[i].filter) {
			steps_free(steps[i].filter->steps, steps[i].filter->nsteps);
			json_decref(steps[i].filter->literal);
			free(steps[i].filter);
		}
	}
	free(steps);
}

struct jsonpath *jsonpath_free(struct jsonpath *path)
{
	if (!path)
		return NULL;
	steps_free(path->steps, path->nsteps);
	free(path);
	return NULL;
}

static int jp_error(struct jp_parser *p, size_t pos, const char *what)
{
	return errbuf_set(p->err, -EINVAL, "jsonpath: at position %zu: %s", pos, what);
}

static char jp_peek(const struct jp_parser *p)
{
	return p->pos < p->end ? p->s[p->pos] : '\0';
}

static char jp_peek_at(const struct jp_parser *p, size_t off)
{
	return p->pos + off < p->end ? p->s[p->pos + off] : '\0';
}

static void jp_skip_spaces(struct jp_parser *p)
{
	while (jp_peek(p) == ' ' || jp_peek(p) == '\t')
		p->pos++;
}

/* Append a zeroed step to *steps, counting it against the limit. */
static int jp_add_step(struct jp_parser *p, struct jp_step **steps, size_t *n, struct jp_step **ret)
{
	if (p->nsteps >= JSONPATH_MAX_STEPS)
		return errbuf_set(p->err, -E2BIG, "jsonpath: at position %zu: more than %d steps", p->pos,
				  JSONPATH_MAX_STEPS);
	p->nsteps++;
	*steps = xrealloc(*steps, (*n + 1) * sizeof(**steps));
	*ret = &(*steps)[(*n)++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

static bool jp_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || (unsigned char)c >= 0x80;
}

/* A quoted string at p->pos ('...' or "..."; \\ \' \" escapes) into a new
 * string. */
static int jp_parse_quoted(struct jp_parser *p, char **ret)
{
	size_t start = p->pos;
	char q = jp_peek(p), *out, *o;

	out = xmalloc(p->end - p->pos + 1);
	o = out;
	p->pos++;
	for (;;) {
		char c = jp_peek(p);

		if (c == '\0') {
			free(out);
			return jp_error(p, start, "unterminated quoted string");
		}
		p->pos++;
		if (c == q)
			break;
		if (c == '\\') {
			c = jp_peek(p);
			if (c != '\\' && c != '\'' && c != '"') {
				free(out);
				return jp_error(p, p->pos - 1, "invalid escape in quoted string (only \\\\, \\' and \\\")");
			}
			p->pos++;
		}
		*o++ = c;
	}
	*o = '\0';
	*ret = out;
	return 0;
}

/* A dotted field name at p->pos into a new string. */
static int jp_parse_name(struct jp_parser *p, char **ret)
{
	size_t start = p->pos;

	while (jp_name_char(jp_peek(p)))
		p->pos++;
	if (p->pos == start) {
		char c = jp_peek(p);

		if (c == '.')
			return jp_error(p, start - 1, "recursive descent '..' is not supported");
		if (c == '\0')
			return jp_error(p, start, "expected a field name after '.'");
		return jp_error(p, start, "expected a field name after '.' (use ['...'] for other characters)");
	}
	if (jp_peek(p) == '(')
		return jp_error(p, p->pos, "functions are not supported");
	*ret = xstrndup(p->s + start, p->pos - start);
	return 0;
}

/* Append a field step named by the dotted name at p->pos. */
static int jp_add_field(struct jp_parser *p, struct jp_step **steps, size_t *n)
{
	struct jp_step *st = NULL; /* set by jp_add_step on success; NULL keeps -O3 quiet */
	int r;

	r = jp_add_step(p, steps, n, &st);
	if (r < 0)
		return r;
	st->kind = JP_FIELD;
	return jp_parse_name(p, &st->name);
}

/* [-]digits as an index; the caller checks what follows. */
static int jp_parse_index(struct jp_parser *p, int64_t *ret)
{
	size_t start = p->pos;
	bool neg = false;
	int64_t v = 0;
	int digits = 0;

	if (jp_peek(p) == '-') {
		neg = true;
		p->pos++;
	}
	while (jp_peek(p) >= '0' && jp_peek(p) <= '9') {
		if (++digits > 9)
			return jp_error(p, start, "index too large");
		v = v * 10 + (jp_peek(p) - '0');
		p->pos++;
	}
	if (digits == 0)
		return jp_error(p, start, "expected an index");
	*ret = neg ? -v : v;
	return 0;
}

/* After "[N" or "['k'": the closing bracket, or a clear refusal. */
static int jp_close_bracket(struct jp_parser *p)
{
	char c = jp_peek(p);

	if (c == ']') {
		p->pos++;
		return 0;
	}
	if (c == ':')
		return jp_error(p, p->pos, "slices and ranges are not supported");
	if (c == ',')
		return jp_error(p, p->pos, "unions are not supported");
	if (c == '\0')
		return jp_error(p, p->pos, "expected ']'");
	return jp_error(p, p->pos, "unexpected character, expected ']'");
}

/* A literal after a filter operator: a quoted string, a number, true or false. */
static int jp_parse_literal(struct jp_parser *p, json_t **ret)
{
	size_t start = p->pos;
	char c = jp_peek(p);
	int r;

	if (c == '\'' || c == '"') {
		char *s = NULL;

		r = jp_parse_quoted(p, &s);
		if (r < 0)
			return r;
		*ret = json_string(s);
		free(s);
		if (!*ret) /* not UTF-8 */
			return jp_error(p, start, "string literal is not valid UTF-8");
		return 0;
	}
	if (strncmp(p->s + p->pos, "true", 4) == 0 && p->pos + 4 <= p->end && !jp_name_char(jp_peek_at(p, 4))) {
		p->pos += 4;
		*ret = json_true();
		return 0;
	}
	if (strncmp(p->s + p->pos, "false", 5) == 0 && p->pos + 5 <= p->end && !jp_name_char(jp_peek_at(p, 5))) {
		p->pos += 5;
		*ret = json_false();
		return 0;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		char num[64];
		bool real = false;
		size_t n;
		char *endp;

		if (c == '-')
			p->pos++;
		if (!(jp_peek(p) >= '0' && jp_peek(p) <= '9'))
			return jp_error(p, start, "invalid number");
		while (jp_peek(p) >= '0' && jp_peek(p) <= '9')
			p->pos++;
		if (jp_peek(p) == '.') {
			real = true;
			p->pos++;
			if (!(jp_peek(p) >= '0' && jp_peek(p) <= '9'))
				return jp_error(p, start, "invalid number");
			while (jp_peek(p) >= '0' && jp_peek(p) <= '9')
				p->pos++;
		}
		if (jp_peek(p) == 'e' || jp_peek(p) == 'E') {
			real = true;
			p->pos++;
			if (jp_peek(p) == '+' || jp_peek(p) == '-')
				p->pos++;
			if (!(jp_peek(p) >= '0' && jp_peek(p) <= '9'))
				return jp_error(p, start, "invalid number");
			while (jp_peek(p) >= '0' && jp_peek(p) <= '9')
				p->pos++;
		}
		n = p->pos - start;
		if (n >= sizeof(num))
			return jp_error(p, start, "number too long");
		memcpy(num, p->s + start, n);
		num[n] = '\0';
		if (!real) {
			long long v;

			errno = 0;
			v = strtoll(num, &endp, 10);
			if (errno == 0 && *endp == '\0') {
				*ret = json_integer(v);
				return 0;
			}
		}
		{
			double d = strtod(num, &endp);

			if (!isfinite(d))
				return jp_error(p, start, "number out of range");
			*ret = json_real(d);
		}
		return 0;
	}
	return jp_error(p, start, "expected a string, number, true or false");
}

/* "[?(" has been read; parse up to and including ")]". */
static int jp_parse_filter(struct jp_parser *p, struct jp_filter *f)
{
	int r;

	jp_skip_spaces(p);
	if (jp_peek(p) != '@')
		return jp_error(p, p->pos, "a filter must start with '@'");
	p->pos++;
	for (;;) {
		char c = jp_peek(p);
		struct jp_step *st = NULL; /* set by jp_add_step on success; NULL keeps -O3 quiet */

		if (c == '.') {
			p->pos++;
			if (jp_peek(p) == '*')
				return jp_error(p, p->pos, "wildcards are not supported inside filters");
			r = jp_add_field(p, &f->steps, &f->nsteps);
			if (r < 0)
				return r;
		} else if (c == '[') {
			p->pos++;
			r = jp_add_step(p, &f->steps, &f->nsteps, &st);
			if (r < 0)
				return r;
			c = jp_peek(p);
			if (c == '\'' || c == '"') {
				st->kind = JP_FIELD;
				r = jp_parse_quoted(p, &st->name);
			} else if (c == '-' || (c >= '0' && c <= '9')) {
				st->kind = JP_INDEX;
				r = jp_parse_index(p, &st->index);
			} else {
				r = jp_error(p, p->pos, "only fields and indexes are supported inside filters");
			}
			if (r < 0)
				return r;
			r = jp_close_bracket(p);
			if (r < 0)
				return r;
		} else {
			break;
		}
	}
	jp_skip_spaces(p);
	if (jp_peek(p) == '=' && jp_peek_at(p, 1) == '=') {
		f->cmp = JP_CMP_EQ;
	} else if (jp_peek(p) == '!' && jp_peek_at(p, 1) == '=') {
		f->cmp = JP_CMP_NE;
	} else if (jp_peek(p) == ')') {
		f->cmp = JP_CMP_EXISTS;
	} else if (strchr("<>=!~&|", jp_peek(p)) && jp_peek(p) != '\0') {
		return jp_error(p, p->pos, "only == and != are supported in filters");
	} else {
		return jp_error(p, p->pos, "unexpected character in filter");
	}
	if (f->cmp != JP_CMP_EXISTS) {
		p->pos += 2;
		if (jp_peek(p) == '=' || jp_peek(p) == '~')
			return jp_error(p, p->pos - 2, "only == and != are supported in filters");
		jp_skip_spaces(p);
		r = jp_parse_literal(p, &f->literal);
		if (r < 0)
			return r;
		jp_skip_spaces(p);
	}
	if (jp_peek(p) != ')')
		return jp_error(p, p->pos, jp_peek(p) == '&' || jp_peek(p) == '|' ?
						   "&& and || are not supported in filters" : "expected ')'");
	p->pos++;
	if (jp_peek(p) != ']')
		return jp_error(p, p->pos, "expected ']' after filter");
	p->pos++;
	return 0;
}

/* One bracket step; p->pos is just after '['. */
static int jp_parse_bracket(struct jp_parser *p, struct jp_step *st)
{
	char c = jp_peek(p);
	int r;

	if (c == '*') {
		p->pos++;
		st->kind = JP_WILDCARD;
		return jp_close_bracket(p);
	}
	if (c == '\'' || c == '"') {
		st->kind = JP_FIELD;
		r = jp_parse_quoted(p, &st->name);
		return r < 0 ? r : jp_close_bracket(p);
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		st->kind = JP_INDEX;
		r = jp_parse_index(p, &st->index);
		return r < 0 ? r : jp_close_bracket(p);
	}
	if (c == '?') {
		p->pos++;
		if (jp_peek(p) != '(')
			return jp_error(p, p->pos, "expected '(' after '?'");
		p->pos++;
		st->kind = JP_FILTER;
		st->filter = xnew(struct jp_filter);
		return jp_parse_filter(p, st->filter);
	}
	if (c == ':')
		return jp_error(p, p->pos, "slices and ranges are not supported");
	if (c == ']')
		return jp_error(p, p->pos, "empty brackets");
	return jp_error(p, p->pos, "expected *, an index, a quoted key or a filter");
}

static int jp_parse_steps(struct jp_parser *p, struct jsonpath *jp)
{
	struct jp_step *st = NULL; /* set by jp_add_step on success; NULL keeps -O3 quiet */
	int r;

	/* Leading dot optional: "a.b" is ".a.b". */
	if (jp_name_char(jp_peek(p))) {
		r = jp_add_field(p, &jp->steps, &jp->nsteps);
		if (r < 0)
			return r;
	} else if (jp_peek(p) == '.' && (jp_peek_at(p, 1) == '\0' || p->pos + 1 == p->end)) {
		p->pos++; /* "." alone: the root */
		return 0;
	}
	while (p->pos < p->end) {
		char c = jp_peek(p);

		if (c == '.') {
			p->pos++;
			r = jp_add_step(p, &jp->steps, &jp->nsteps, &st);
			if (r < 0)
				return r;
			if (jp_peek(p) == '*') {
				p->pos++;
				st->kind = JP_WILDCARD;
				continue;
			}
			if (jp_peek(p) == '[')
				return jp_error(p, p->pos, "expected a field name after '.'");
			st->kind = JP_FIELD;
			r = jp_parse_name(p, &st->name);
		} else if (c == '[') {
			p->pos++;
			r = jp_add_step(p, &jp->steps, &jp->nsteps, &st);
			if (r < 0)
				return r;
			r = jp_parse_bracket(p, st);
		} else if (c == '{' || c == '}') {
			r = jp_error(p, p->pos, "several {} templates or text outside them are not supported");
		} else if (c == ' ' || c == '\t') {
			r = jp_error(p, p->pos, "unexpected space");
		} else {
			r = jp_error(p, p->pos, "unexpected character, expected '.' or '['");
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int jsonpath_compile(const char *expr, struct errbuf *err, struct jsonpath **ret_path)
{
	struct jsonpath *jp = xnew(struct jsonpath);
	struct jp_parser p = { expr, 0, 0, 0, err };
	size_t len;
	int r;

	if (!expr) {
		r = errbuf_set(err, -EINVAL, "jsonpath: required");
		goto out;
	}
	len = strnlen(expr, JSONPATH_MAX_LEN + 1);
	if (len > JSONPATH_MAX_LEN) {
		r = errbuf_set(err, -E2BIG, "jsonpath: longer than %d characters", JSONPATH_MAX_LEN);
		goto out;
	}
	p.end = len;
	if (len > 0 && expr[0] == '{') {
		/* One template, the whole expression: "{...}" with optional inner spaces. */
		if (expr[len - 1] != '}') {
			r = jp_error(&p, len, "missing closing '}' (several templates or text outside them are not supported)");
			goto out;
		}
		p.pos = 1;
		p.end = len - 1;
		jp_skip_spaces(&p);
		while (p.end > p.pos && (expr[p.end - 1] == ' ' || expr[p.end - 1] == '\t'))
			p.end--;
	}
	if (p.pos == p.end) {
		r = jp_error(&p, p.pos, "empty expression");
		goto out;
	}
	if (jp_peek(&p) == '$') {
		p.pos++;
		if (jp_peek(&p) != '.' && jp_peek(&p) != '[' && p.pos != p.end) {
			r = jp_error(&p, p.pos, "expected '.' or '[' after '$'");
			goto out;
		}
		if (jp_peek(&p) == '.' && p.pos + 1 == p.end)
			p.pos++; /* "$." */
	} else if (jp_peek(&p) == '@') {
		r = jp_error(&p, p.pos, "'@' is only valid inside a filter");
		goto out;
	}
	r = jp_parse_steps(&p, jp);
	if (r < 0)
		goto out;
	*ret_path = jp;
	jp = NULL;
out:
	jsonpath_free(jp);
	return r;
}

/* ---- evaluation ---- */

struct jp_set {
	const json_t **v; /* borrowed pointers into the document */
	size_t n, alloc;
};

static int set_add(struct jp_set *s, const json_t *v)
{
	if (s->n >= JSONPATH_MAX_RESULTS)
		return -E2BIG;
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 16;
		s->v = xrealloc(s->v, s->alloc * sizeof(*s->v));
	}
	s->v[s->n++] = v;
	return 0;
}

static const json_t *jp_array_at(const json_t *a, int64_t idx)
{
	int64_t n = (int64_t)json_array_size(a);

	if (idx < 0)
		idx += n;
	if (idx < 0 || idx >= n)
		return NULL;
	return json_array_get(a, (size_t)idx);
}

static bool jp_equal(const json_t *v, const json_t *lit)
{
	if (json_is_string(lit))
		return json_is_string(v) && json_string_length(v) == json_string_length(lit) &&
		       memcmp(json_string_value(v), json_string_value(lit), json_string_length(v)) == 0;
	if (json_is_boolean(lit))
		return json_is_boolean(v) && json_is_true(v) == json_is_true(lit);
	if (json_is_integer(lit) && json_is_integer(v))
		return json_integer_value(v) == json_integer_value(lit);
	if (json_is_number(lit) && json_is_number(v))
		return json_number_value(v) == json_number_value(lit);
	return false;
}

static bool jp_filter_keep(const struct jp_filter *f, const json_t *el)
{
	const json_t *v = el;

	for (size_t i = 0; i < f->nsteps && v; i++) {
		if (f->steps[i].kind == JP_FIELD)
			v = json_is_object(v) ? json_object_get(v, f->steps[i].name) : NULL;
		else
			v = json_is_array(v) ? jp_array_at(v, f->steps[i].index) : NULL;
	}
	if (!v)
		return false;
	switch (f->cmp) {
	case JP_CMP_EXISTS:
		return true;
	case JP_CMP_EQ:
		return jp_equal(v, f->literal);
	case JP_CMP_NE:
		return !jp_equal(v, f->literal);
	}
	return false;
}

static int jp_apply(const struct jp_step *st, const json_t *v, struct jp_set *out)
{
	const json_t *c;
	const char *key;
	json_t *el;
	size_t i;
	int r = 0;

	switch (st->kind) {
	case JP_FIELD:
		if (json_is_object(v) && (c = json_object_get(v, st->name)))
			r = set_add(out, c);
		break;
	case JP_INDEX:
		if (json_is_array(v) && (c = jp_array_at(v, st->index)))
			r = set_add(out, c);
		break;
	case JP_WILDCARD:
		if (json_is_array(v)) {
			json_array_foreach(v, i, el)
				if ((r = set_add(out, el)) < 0)
					break;
		} else if (json_is_object(v)) {
			json_object_foreach((json_t *)v, key, el)
				if ((r = set_add(out, el)) < 0)
					break;
		}
		break;
	case JP_FILTER:
		if (json_is_array(v)) {
			json_array_foreach(v, i, el)
				if (jp_filter_keep(st->filter, el) && (r = set_add(out, el)) < 0)
					break;
		}
		break;
	}
	return r;
}

int jsonpath_eval(const struct jsonpath *path, const json_t *root, json_t **ret_values)
{
	struct jp_set cur = { NULL, 0, 0 }, next = { NULL, 0, 0 };
	json_t *arr;
	int r = 0;

	if (!path || !root)
		return -EINVAL;
	set_add(&cur, root);
	for (size_t s = 0; s < path->nsteps && cur.n > 0; s++) {
		next.n = 0;
		for (size_t i = 0; i < cur.n; i++) {
			r = jp_apply(&path->steps[s], cur.v[i], &next);
			if (r < 0)
				goto out;
		}
		{
			struct jp_set t = cur;

			cur = next;
			next = t;
		}
	}
	arr = json_array();
	for (size_t i = 0; i < cur.n; i++)
		json_array_append(arr, (json_t *)cur.v[i]);
	*ret_values = arr;
out:
	free(cur.v);
	free(next.v);
	return r;
}
