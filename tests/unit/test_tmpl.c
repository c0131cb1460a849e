/* Unit tests for common/tmpl: the data-driven cases in
 * tests/data/tmpl/{expr,render}.txt over tests/data/tmpl/scope.json, then
 * paths in messages, tmpl_check, message strings, ownership (inputs
 * untouched, outputs independent) and every limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "tmpl.h"

static json_t *load_scope(void)
{
	const char *dir = getenv("NAVE_TEST_DATA");
	char path[1024];
	json_error_t jerr;
	json_t *scope;

	snprintf(path, sizeof(path), "%s/tmpl/scope.json", dir ? dir : "tests/data");
	scope = json_load_file(path, 0, &jerr);
	if (!scope)
		fail_msg("%s: %s", path, jerr.text);
	return scope;
}

static char *dump(const json_t *v)
{
	return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : xstrdup("(undefined)");
}

/* Deep equality where 1 and 1.0 differ (the tests pin types). */
static bool same(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal(a, b) && json_typeof(a) == json_typeof(b);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail);

/* Each non-comment line of the file as a JSON array; calls fn for each. */
static int for_each_case(const char *name, void (*fn)(json_t *c, int lineno, const json_t *scope))
{
	const char *dir = getenv("NAVE_TEST_DATA");
	char path[1024], line[8192];
	json_t *scope = load_scope();
	int lineno = 0, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tmpl/%s", dir ? dir : "tests/data", name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		json_error_t jerr;
		json_t *c;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		c = json_loads(line, 0, &jerr);
		if (!json_is_array(c) || json_array_size(c) < 2)
			fail_msg("%s:%d: bad case line (%s)", name, lineno, jerr.text);
		fn(c, lineno, scope);
		json_decref(c);
		n++;
	}
	fclose(f);
	json_decref(scope);
	return n;
}

/* Check one outcome against a case's [.., kind, arg]. */
static void check_outcome(const char *file, int lineno, const char *what, int r, json_t *got, const char *msg,
			  const char *kind, const json_t *want)
{
	char *g = dump(got);

	if (strcmp(kind, "=") == 0) {
		if (r != 0)
			fail_msg("%s:%d: %s: error %d: %s", file, lineno, what, r, msg);
		if (!same(got, want)) {
			char *w = dump(want);

			fail_msg("%s:%d: %s: got %s, want %s", file, lineno, what, g, w);
		}
	} else if (strcmp(kind, "undef") == 0 || strcmp(kind, "omit") == 0) {
		if (r != 0 || got)
			fail_msg("%s:%d: %s: want undefined, got %d %s %s", file, lineno, what, r, g, msg);
	} else {
		int code = strcmp(kind, "E2BIG") == 0 ? -E2BIG : -EINVAL;

		if (r != code)
			fail_msg("%s:%d: %s: want %s, got %d (%s)", file, lineno, what, kind, r, g);
		if (got)
			fail_msg("%s:%d: %s: a value beside an error", file, lineno, what);
		if (!strstr(msg, json_string_value(want)))
			fail_msg("%s:%d: %s: message \"%s\" lacks \"%s\"", file, lineno, what, msg,
				 json_string_value(want));
	}
	free(g);
}

static void run_expr_case(json_t *c, int lineno, const json_t *scope)
{
	const char *expr = json_string_value(json_array_get(c, 0));
	const char *kind = json_string_value(json_array_get(c, 1));
	struct errbuf err = { "" }, err2 = { "" };
	json_t *got = NULL;
	int r, rc;

	if (!expr || !kind)
		fail_msg("expr.txt:%d: bad case", lineno);
	r = tmpl_eval(expr, scope, &err, &got);
	check_outcome("expr.txt", lineno, expr, r, got, err.msg, kind, json_array_get(c, 2));
	/* tmpl_check_expr agrees on syntax: only syntax errors (and limits) fail it. */
	rc = tmpl_check_expr(expr, &err2);
	if (strstr(err.msg, "syntax error") || r == -E2BIG)
		assert_int_equal(rc, r);
	else if (rc != 0)
		fail_msg("expr.txt:%d: tmpl_check_expr fails: %s", lineno, err2.msg);
	json_decref(got);
}

static void test_expr_cases(void **state)
{
	int n = for_each_case("expr.txt", run_expr_case);

	assert_true(n > 250);
}

static void run_render_case(json_t *c, int lineno, const json_t *scope)
{
	const json_t *t = json_array_get(c, 0);
	const char *kind = json_string_value(json_array_get(c, 1));
	struct errbuf err = { "" }, err2 = { "" };
	char *what = dump(t), *before = dump(t);
	json_t *got = NULL;
	int r, rc;

	if (!kind)
		fail_msg("render.txt:%d: bad case", lineno);
	r = tmpl_render(t, scope, NULL, &err, &got);
	check_outcome("render.txt", lineno, what, r, got, err.msg, kind, json_array_get(c, 2));
	/* The template is untouched. */
	{
		char *after = dump(t);

		assert_string_equal(before, after);
		free(after);
	}
	/* tmpl_check passes every template that renders, and fails syntax errors the same way. */
	rc = tmpl_check(t, NULL, &err2);
	if (r == 0 && rc != 0)
		fail_msg("render.txt:%d: renders but tmpl_check says: %s", lineno, err2.msg);
	if (r < 0 && (strstr(err.msg, "syntax error") || strstr(err.msg, "unknown directive") ||
		      strstr(err.msg, "has no closing")))
		assert_string_equal(err.msg, err2.msg);
	json_decref(got);
	free(what);
	free(before);
}

static void test_render_cases(void **state)
{
	int n = for_each_case("render.txt", run_render_case);

	assert_true(n > 100);
}

static void test_render_path_prefix(void **state)
{
	json_t *scope = load_scope(), *got = NULL;
	json_t *t = json_pack("{s:{s:[s]}}", "spec", "args", "${parameter.nope}!");
	struct errbuf err = { "" };

	assert_int_equal(tmpl_render(t, scope, "outputs.service", &err, &got), -EINVAL);
	assert_null(got);
	assert_string_equal(err.msg, "outputs.service.spec.args[0]: ${parameter.nope}: undefined: parameter has "
				     "no field \"nope\" (fields: image, port, replicas, ratio, ports, labels, env, "
				     "empty, ...)");
	json_decref(t);

	/* At the root the path alone names it. */
	t = json_string("${1 +}");
	assert_int_equal(tmpl_render(t, scope, "output", &err, &got), -EINVAL);
	assert_string_equal(err.msg, "output: ${1 +}: syntax error at column 4: expected an operand");
	assert_int_equal(tmpl_check(t, "output", &err), -EINVAL);
	assert_string_equal(err.msg, "output: ${1 +}: syntax error at column 4: expected an operand");
	assert_int_equal(tmpl_render(t, scope, NULL, &err, &got), -EINVAL);
	assert_string_equal(err.msg, "${1 +}: syntax error at column 4: expected an operand");
	json_decref(t);

	/* A NULL errbuf is allowed. */
	t = json_pack("{s:s}", "a", "${1 / 0}");
	assert_int_equal(tmpl_render(t, scope, NULL, NULL, &got), -EINVAL);
	assert_int_equal(tmpl_eval("1 +", scope, NULL, &got), -EINVAL);
	assert_int_equal(tmpl_check(t, NULL, NULL), 0);
	json_decref(t);
	json_decref(scope);
}

static void test_messages(void **state)
{
	json_t *scope = load_scope(), *got = NULL;
	struct errbuf err = { "" };

	assert_int_equal(tmpl_eval("parameter.imag + 1", scope, &err, &got), -EINVAL);
	assert_string_equal(err.msg, "${parameter.imag + 1}: parameter.imag is undefined: parameter has no field "
				     "\"imag\" (fields: image, port, replicas, ratio, ports, labels, env, empty, ...) "
				     "(column 1)");
	assert_int_equal(tmpl_eval("parameter.ports[5].port * 2", scope, &err, &got), -EINVAL);
	assert_string_equal(err.msg,
			    "${parameter.ports[5].port * 2}: parameter.ports[5].port is undefined: parameter.ports "
			    "has 2 items (column 1)");
	assert_int_equal(tmpl_eval("1 + parameter.image.tag", scope, &err, &got), -EINVAL);
	assert_string_equal(err.msg, "${1 + parameter.image.tag}: parameter.image.tag is undefined: parameter.image "
				     "is a string, not an object or a list (column 5)");
	assert_int_equal(tmpl_eval("str(parameter.labels[0])", scope, &err, &got), -EINVAL);
	assert_string_equal(err.msg, "${str(parameter.labels[0])}: parameter.labels[0] is undefined: "
				     "parameter.labels is an object: index it with a string (column 5)");
	assert_int_equal(tmpl_eval("-parameter.ports['x']", scope, &err, &got), -EINVAL);
	assert_true(strstr(err.msg, "parameter.ports is a list: index it with a number"));
	assert_int_equal(tmpl_eval("-parameter.ports[parameter.i]", scope, &err, &got), -EINVAL);
	assert_true(strstr(err.msg, "the index [parameter.i] is undefined"));
	assert_int_equal(tmpl_eval("-parameter.nil.x", scope, &err, &got), -EINVAL);
	assert_true(strstr(err.msg, "parameter.nil is null"));
	assert_int_equal(tmpl_eval("-contxt.name", scope, &err, &got), -EINVAL);
	assert_string_equal(err.msg, "${-contxt.name}: contxt.name is undefined: there is no 'contxt' (names: "
				     "parameter, context, a-b, a, b) (column 2)");
	/* A long expression is shortened in the message, its column still exact. */
	{
		char expr[400];

		memset(expr, ' ', sizeof(expr));
		memcpy(expr, "1", 1);
		memcpy(expr + 300, "+ )", 3);
		expr[399] = '\0';
		assert_int_equal(tmpl_eval(expr, scope, &err, &got), -EINVAL);
		assert_true(strstr(err.msg, "...") != NULL);
		assert_true(strstr(err.msg, "syntax error at column 303: expected an operand, found ')'") != NULL);
		assert_true(strlen(err.msg) < 250);
	}
	json_decref(scope);
}

/* Messages go into JSON: however they are cut, they stay valid UTF-8. */
static void test_messages_utf8(void **state)
{
	struct errbuf err = { "" };
	json_t *got = NULL, *t, *m;
	char *key = repeat("$", "a", 59, "\xc3\xa9\xc3\xa9\xc3\xa9");
	char *longexpr = repeat("parameter.x + '", "\xc3\xa9", 100, "' +");

	t = json_pack("{s:i}", key, 1);
	assert_int_equal(tmpl_render(t, NULL, NULL, &err, &got), -EINVAL);
	m = json_string(err.msg);
	assert_non_null(m);
	json_decref(m);
	json_decref(t);
	assert_int_equal(tmpl_eval(longexpr, NULL, &err, &got), -EINVAL);
	assert_true(strstr(err.msg, "expected an operand") != NULL);
	m = json_string(err.msg);
	assert_non_null(m);
	json_decref(m);
	/* An expression given by C code may hold any bytes. */
	assert_int_equal(tmpl_eval("'\xff' + 1", NULL, &err, &got), -EINVAL);
	assert_true(strstr(err.msg, "not valid UTF-8") != NULL);
	m = json_string(err.msg);
	assert_non_null(m);
	json_decref(m);
	assert_int_equal(tmpl_eval("x\xc3", NULL, &err, &got), -EINVAL);
	assert_true(strstr(err.msg, "unexpected byte 0xc3") != NULL);
	m = json_string(err.msg);
	assert_non_null(m);
	json_decref(m);
	free(key);
	free(longexpr);
}

static void test_eval_basics(void **state)
{
	json_t *scope = json_pack("{s:{s:i}}", "x", "y", 2), *got = NULL;
	struct errbuf err = { "" };

	assert_int_equal(tmpl_eval("x.y", scope, &err, &got), 0);
	assert_int_equal(json_integer_value(got), 2);
	json_decref(got);
	got = (json_t *)1;
	assert_int_equal(tmpl_eval("x.z", scope, &err, &got), 0);
	assert_null(got);
	/* A NULL or non-object scope has no names. */
	assert_int_equal(tmpl_eval("x", NULL, &err, &got), 0);
	assert_null(got);
	assert_int_equal(tmpl_eval("1 + 1", NULL, &err, &got), 0);
	assert_int_equal(json_integer_value(got), 2);
	json_decref(got);
	/* On error the out-parameter is untouched. */
	got = (json_t *)1;
	assert_int_equal(tmpl_eval("x +", scope, &err, &got), -EINVAL);
	assert_ptr_equal(got, (json_t *)1);
	assert_int_equal(tmpl_eval(NULL, scope, &err, &got), -EINVAL);
	assert_int_equal(tmpl_check_expr(NULL, &err), -EINVAL);
	json_decref(scope);
}

static void test_truthy(void **state)
{
	json_t *v;

	assert_false(tmpl_truthy(NULL));
	assert_false(tmpl_truthy(json_null()));
	assert_false(tmpl_truthy(json_false()));
	assert_true(tmpl_truthy(json_true()));
#define T(expr, want)                                \
	do {                                         \
		v = (expr);                          \
		assert_int_equal(tmpl_truthy(v), want); \
		json_decref(v);                      \
	} while (0)
	T(json_integer(0), false);
	T(json_integer(-1), true);
	T(json_real(0.0), false);
	T(json_real(0.5), true);
	T(json_string(""), false);
	T(json_string("0"), true);
	T(json_array(), false);
	T(json_pack("[n]"), true);
	T(json_object(), false);
	T(json_pack("{s:n}", "a"), true);
#undef T
}

static void test_check(void **state)
{
	struct errbuf err = { "" };
	json_t *t;

	/* Everything parses; nothing is evaluated, so undefined names are fine. */
	t = json_loads("{\"a\": \"${nosuch.x}\", \"b\": {\"$each\": \"nosuch\", \"$as\": \"p\", \"$if\": \"p.x\", "
		       "\"$do\": {\"${p.k}\": \"${p.v / 0}\"}}, \"c\": [{\"$value\": \"x\", \"$if\": \"y\"}], "
		       "\"$patch\": \"merge\", \"$if\": \"z\"}",
		       0, NULL);
	assert_non_null(t);
	assert_int_equal(tmpl_check(t, "output", &err), 0);
	json_decref(t);

	t = json_loads("{\"b\": {\"$each\": \"x\", \"$do\": {\"c\": [1, \"${a +}\"]}}}", 0, NULL);
	assert_int_equal(tmpl_check(t, "output", &err), -EINVAL);
	assert_string_equal(err.msg, "output.b.$do.c[1]: ${a +}: syntax error at column 4: expected an operand");
	json_decref(t);

	t = json_loads("{\"b\": {\"${a +}\": 1}}", 0, NULL);
	assert_int_equal(tmpl_check(t, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "b[\"${a +}\"]: ${a +}: syntax error at column 4: expected an operand");
	json_decref(t);

	t = json_loads("[{\"$each\": \"x\", \"$do\": 1, \"$as\": \"\"}]", 0, NULL);
	assert_int_equal(tmpl_check(t, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "[0].$as: must be a name ([A-Za-z_][A-Za-z0-9_-]*)");
	json_decref(t);

	t = json_loads("{\"a\": {\"$value\": \"1\", \"$if\": 1}}", 0, NULL);
	assert_int_equal(tmpl_check(t, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "a.$if: must be an expression (a string), got number");
	json_decref(t);

	assert_int_equal(tmpl_check(NULL, "output", &err), -EINVAL);
	assert_int_equal(tmpl_check_expr("a.b ?? c", &err), 0);
	assert_int_equal(tmpl_check_expr("${a.b ?? c}", &err), 0);
	assert_int_equal(tmpl_check_expr("a.b ?", &err), -EINVAL);
	assert_string_equal(err.msg, "${a.b ?}: syntax error at column 6: expected an operand");
}

static void test_render_string(void **state)
{
	json_t *scope = load_scope();
	struct errbuf err = { "" };
	char *s = NULL;

	assert_int_equal(tmpl_render_string("ready: ${parameter.replicas}/${parameter.port} on ${context.cluster}",
					    scope, &err, &s), 0);
	assert_string_equal(s, "ready: 3/80 on cluster-1");
	free(s);
	assert_int_equal(tmpl_render_string("${parameter.labels}", scope, &err, &s), 0);
	assert_string_equal(s, "{\"app\":\"web\",\"tier\":\"front\"}");
	free(s);
	assert_int_equal(tmpl_render_string("", scope, &err, &s), 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(tmpl_render_string("$${x} plain", scope, &err, &s), 0);
	assert_string_equal(s, "${x} plain");
	free(s);
	s = NULL;
	assert_int_equal(tmpl_render_string("x ${parameter.nope}", scope, &err, &s), -EINVAL);
	assert_null(s);
	assert_string_equal(err.msg, "${parameter.nope}: undefined: parameter has no field \"nope\" (fields: image, "
				     "port, replicas, ratio, ports, labels, env, empty, ...)");
	assert_int_equal(tmpl_render_string("${parameter.nope}", scope, &err, &s), -EINVAL);
	assert_int_equal(tmpl_render_string("${", scope, &err, &s), -EINVAL);
	assert_int_equal(tmpl_render_string(NULL, scope, &err, &s), -EINVAL);
	json_decref(scope);
}

/* The output shares nothing with the scope: modifying it leaves the scope as it was. */
static void test_ownership(void **state)
{
	json_t *scope = load_scope(), *got = NULL;
	char *before = dump(scope), *after;
	json_t *t = json_loads("{\"a\": \"${parameter.ports}\", \"b\": {\"$value\": \"parameter.labels\"}, "
			       "\"c\": {\"$each\": \"parameter.ports\", \"$do\": \"${item}\"}, "
			       "\"d\": \"${merge(parameter.labels, {})}\", \"e\": \"${slice(parameter.ports, 0)}\", "
			       "\"f\": \"${[parameter.nested]}\", \"g\": \"${select(parameter.ports, 'port')}\", "
			       "\"h\": \"${values(parameter.nested)}\", \"i\": \"${parameter.cmd + []}\"}",
			       0, NULL);
	const char *k;
	json_t *v;

	assert_non_null(t);
	assert_int_equal(tmpl_render(t, scope, NULL, NULL, &got), 0);
	/* Scribble over everything reachable in the output. */
	json_object_foreach(got, k, v) {
		json_t *stack[256];
		size_t n = 0, i;

		stack[n++] = v;
		while (n > 0) {
			json_t *x = stack[--n];
			const char *kk;
			json_t *vv;

			if (json_is_array(x)) {
				for (i = 0; i < json_array_size(x); i++)
					if (n < 256)
						stack[n++] = json_array_get(x, i);
				json_array_append_new(x, json_string("scribble"));
			} else if (json_is_object(x)) {
				json_object_foreach(x, kk, vv)
					if (n < 256)
						stack[n++] = vv;
				json_object_set_new(x, "scribble", json_true());
			} else if (json_is_integer(x)) {
				json_integer_set(x, 12345);
			} else if (json_is_string(x)) {
				json_string_set(x, "scribbled");
			}
		}
	}
	after = dump(scope);
	assert_string_equal(before, after);
	free(before);
	free(after);
	json_decref(got);
	json_decref(t);
	json_decref(scope);
}

/* ---- limits ------------------------------------------------------------ */

static void expect_e2big(const json_t *t, const json_t *scope, const char *part)
{
	struct errbuf err = { "" };
	json_t *got = NULL;
	int r = tmpl_render(t, scope, "output", &err, &got);

	if (r != -E2BIG)
		fail_msg("want -E2BIG, got %d: %s", r, err.msg);
	assert_null(got);
	if (!strstr(err.msg, part))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, part);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	struct buf b;
	size_t i;

	buf_init(&b, SIZE_MAX);
	buf_puts(&b, head);
	for (i = 0; i < n; i++)
		buf_puts(&b, unit);
	buf_puts(&b, tail);
	return buf_steal(&b, NULL);
}

static void test_limit_expression_length(void **state)
{
	struct errbuf err = { "" };
	char *e = repeat("1", " + 1", (TMPL_EXPR_MAX - 1) / 4, "");
	json_t *got = NULL, *t;

	assert_true(strlen(e) <= TMPL_EXPR_MAX);
	assert_int_equal(tmpl_eval(e, NULL, &err, &got), 0);
	assert_int_equal(json_integer_value(got), 1 + (TMPL_EXPR_MAX - 1) / 4);
	json_decref(got);
	free(e);
	e = repeat("1", " + 1", TMPL_EXPR_MAX / 4, "");
	assert_true(strlen(e) > TMPL_EXPR_MAX);
	assert_int_equal(tmpl_eval(e, NULL, &err, &got), -E2BIG);
	assert_true(strstr(err.msg, "expression too long: 4097 bytes, at most 4096") != NULL);
	assert_int_equal(tmpl_check_expr(e, &err), -E2BIG);
	free(e);
	/* In a template, too. */
	e = repeat("${1", "+1", TMPL_EXPR_MAX, "}");
	t = json_pack("{s:s}", "x", e);
	expect_e2big(t, NULL, "output.x: ${1+1+1+");
	expect_e2big(t, NULL, "expression too long");
	assert_int_equal(tmpl_check(t, NULL, &err), -E2BIG);
	json_decref(t);
	free(e);
}

static void test_limit_expression_depth(void **state)
{
	static const char *const opens[][2] = {
		{ "(", ")" }, { "[", "]" }, { "{'a':", "}" }, { "str(", ")" }, { "x[", "]" }, { "!", "" },
		{ "-", "" },  { "true ? 1 : ", "" },
	};
	struct errbuf err = { "" };
	json_t *got = NULL;
	size_t i;

	for (i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
		char *ok = repeat("", opens[i][0], TMPL_DEPTH_MAX - 2, "");
		char *tail = repeat("1", opens[i][1], TMPL_DEPTH_MAX - 2, "");
		char *e = xasprintf("%s%s", ok, tail);
		int r = tmpl_eval(e, NULL, &err, &got);

		if (r != 0)
			fail_msg("depth %d of %s: %s", TMPL_DEPTH_MAX - 2, opens[i][0], err.msg);
		json_decref(got);
		free(ok);
		free(tail);
		free(e);
		ok = repeat("", opens[i][0], 300, "");
		tail = repeat("1", opens[i][1], 300, "");
		e = xasprintf("%s%s", ok, tail);
		r = tmpl_eval(e, NULL, &err, &got);
		if (r != -E2BIG || !strstr(err.msg, "expression nested deeper than 64 levels"))
			fail_msg("depth 300 of %s: %d %s", opens[i][0], r, err.msg);
		/* Unbalanced, too. */
		r = tmpl_check_expr(ok, &err);
		assert_int_equal(r, -E2BIG);
		free(ok);
		free(tail);
		free(e);
	}
	/* Long flat chains are not nesting. */
	{
		char *e = repeat("a", ".b", 1000, "");

		assert_int_equal(tmpl_eval(e, NULL, &err, &got), 0);
		assert_null(got);
		free(e);
		e = repeat("1", " ?? 1", 800, "");
		assert_int_equal(tmpl_eval(e, NULL, &err, &got), 0);
		json_decref(got);
		free(e);
	}
}

static void test_limit_template_depth(void **state)
{
	struct errbuf err = { "" };
	json_t *t = json_string("${1}"), *got = NULL;
	int i;

	for (i = 0; i < TMPL_DEPTH_MAX; i++)
		t = json_pack("{s:o}", "a", t);
	assert_int_equal(tmpl_render(t, NULL, NULL, &err, &got), 0);
	json_decref(got);
	assert_int_equal(tmpl_check(t, NULL, &err), 0);
	t = json_pack("[o]", t);
	expect_e2big(t, NULL, "template nested deeper than 64 levels");
	assert_int_equal(tmpl_check(t, NULL, &err), -E2BIG);
	json_decref(t);

	/* $each bodies count as levels. */
	t = json_integer(1);
	for (i = 0; i < 70; i++)
		t = json_pack("{s:s, s:o}", "$each", "[1]", "$do", t);
	expect_e2big(t, NULL, "template nested deeper than 64 levels");
	assert_int_equal(tmpl_check(t, NULL, &err), -E2BIG);
	json_decref(t);
	t = json_integer(1);
	for (i = 0; i < 70; i++)
		t = json_pack("[{s:s, s:o}]", "$each", "[1]", "$do", t);
	expect_e2big(t, NULL, "template nested deeper than 64 levels");
	json_decref(t);
}

static json_t *big_list(size_t n)
{
	json_t *l = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(l, json_integer((json_int_t)i));
	return l;
}

static void test_limit_nodes_and_steps(void **state)
{
	json_t *scope = json_pack("{s:o}", "big", big_list(1000000)), *t, *got = NULL;
	struct errbuf err = { "" };

	/* Huge $each: every item makes a value. */
	t = json_pack("{s:s, s:i}", "$each", "big", "$do", 1);
	expect_e2big(t, scope, "more than 200000 JSON values");
	json_decref(t);
	/* ... or costs a step even when filtered out. */
	t = json_pack("{s:s, s:s, s:i}", "$each", "big", "$if", "false", "$do", 1);
	expect_e2big(t, scope, "more than 1000000 evaluation steps");
	json_decref(t);
	/* Nested loops multiply. */
	t = json_pack("{s:s, s:{s:s, s:s, s:i}}", "$each", "slice(big, 0, 2000)", "$do", "$each",
		      "slice(big, 0, 2000)", "$if", "false", "$do", 1);
	expect_e2big(t, scope, "evaluation steps");
	json_decref(t);
	/* Copying a big value into the output counts its nodes. */
	t = json_pack("{s:s}", "a", "${big}");
	expect_e2big(t, scope, "output.a: ${big}: result too large");
	json_decref(t);
	/* Comparing big values costs steps. */
	t = json_pack("{s:s, s:s, s:s}", "$each", "slice(big, 0, 100)", "$if", "big == big", "$do", "x");
	expect_e2big(t, scope, "evaluation steps");
	json_decref(t);
	t = json_pack("{s:s, s:s, s:s}", "$each", "slice(big, 0, 100)", "$if", "contains(big, -1)", "$do", "x");
	expect_e2big(t, scope, "evaluation steps");
	json_decref(t);
	t = json_pack("{s:s, s:s, s:s}", "$each", "slice(big, 0, 100)", "$if", "len(big + big) > 0", "$do", "x");
	expect_e2big(t, scope, "evaluation steps");
	json_decref(t);
	/* A small loop is fine. */
	t = json_pack("{s:s, s:s}", "$each", "slice(big, 0, 1000)", "$do", "${item * 2}");
	assert_int_equal(tmpl_render(t, scope, NULL, &err, &got), 0);
	assert_int_equal(json_array_size(got), 1000);
	assert_int_equal(json_integer_value(json_array_get(got, 999)), 1998);
	json_decref(got);
	json_decref(t);
	/* tmpl_eval has the same budget. */
	assert_int_equal(tmpl_eval("str(big)", scope, &err, &got), -E2BIG);
	assert_int_equal(tmpl_eval("big == big", scope, &err, &got), -E2BIG);
	json_decref(scope);
}

static void test_limit_strings(void **state)
{
	char *half = repeat("", "x", TMPL_STRING_MAX / 2 + 1, "");
	json_t *scope = json_pack("{s:s, s:[s,s]}", "s", half, "l", half, half), *t, *got = NULL;
	struct errbuf err = { "" };

	/* One copy is fine, two are too many. */
	t = json_pack("{s:s}", "a", "${s}!");
	assert_int_equal(tmpl_render(t, scope, NULL, &err, &got), 0);
	assert_int_equal(json_string_length(json_object_get(got, "a")), TMPL_STRING_MAX / 2 + 2);
	json_decref(got);
	json_decref(t);
	t = json_pack("{s:s}", "a", "${s}${s}");
	expect_e2big(t, scope, "output.a: string too long: more than 1048576 bytes");
	json_decref(t);
#define E(expr)                                                            \
	do {                                                               \
		int r_ = tmpl_eval(expr, scope, &err, &got);               \
		if (r_ != -E2BIG || !strstr(err.msg, "string too long"))   \
			fail_msg("%s: %d %s", expr, r_, err.msg);           \
	} while (0)
	E("s + s");
	E("join(l, '')");
	E("str(l)");
	E("replace(s, 'x', 'xx')");
	E("join([s, 1], s)");
	E("str({'a': s, 'b': s})");
#undef E
	t = json_pack("{s:s}", "${s}${s}", "x");
	expect_e2big(t, scope, "string too long");
	json_decref(t);
	assert_int_equal(tmpl_render_string("${s}${s}", scope, &err, &(char *){ NULL }), -E2BIG);
	json_decref(scope);
	free(half);
}

static void test_limit_value_depth(void **state)
{
	json_t *deep = json_integer(1), *scope, *t, *got = NULL;
	struct errbuf err = { "" };
	int i;

	for (i = 0; i < 1000; i++)
		deep = json_pack("[o]", deep);
	scope = json_pack("{s:o}", "deep", deep);
	assert_int_equal(tmpl_eval("str(deep)", scope, &err, &got), -E2BIG);
	assert_true(strstr(err.msg, "value nested deeper than") != NULL);
	assert_int_equal(tmpl_eval("deep == deep", scope, &err, &got), -E2BIG);
	t = json_pack("{s:s}", "a", "${deep}");
	expect_e2big(t, scope, "value nested deeper than");
	json_decref(t);
	/* Paths into it are fine. */
	assert_int_equal(tmpl_eval("len(deep[0][0][0])", scope, &err, &got), 0);
	json_decref(got);
	json_decref(scope);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expr_cases),
		cmocka_unit_test(test_render_cases),
		cmocka_unit_test(test_render_path_prefix),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_messages_utf8),
		cmocka_unit_test(test_eval_basics),
		cmocka_unit_test(test_truthy),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_render_string),
		cmocka_unit_test(test_ownership),
		cmocka_unit_test(test_limit_expression_length),
		cmocka_unit_test(test_limit_expression_depth),
		cmocka_unit_test(test_limit_template_depth),
		cmocka_unit_test(test_limit_nodes_and_steps),
		cmocka_unit_test(test_limit_strings),
		cmocka_unit_test(test_limit_value_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
