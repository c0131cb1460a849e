/* Unit tests for common/jsonpath: the data-driven cases in
 * tests/data/jsonpath/cases.txt (including OCM's well-known feedback paths),
 * then error positions and limits. */
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
#include "jsonpath.h"

static json_t *load_doc(const char *name)
{
	const char *dir = getenv("NAVE_TEST_DATA");
	char path[1024];
	json_error_t jerr;
	json_t *doc;

	snprintf(path, sizeof(path), "%s/jsonpath/%s", dir ? dir : "tests/data", name);
	doc = json_load_file(path, 0, &jerr);
	if (!doc)
		fail_msg("%s: %s", path, jerr.text);
	return doc;
}

static void test_cases(void **state)
{
	const char *dir = getenv("NAVE_TEST_DATA");
	char path[1024], line[8192];
	int lineno = 0, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/jsonpath/cases.txt", dir ? dir : "tests/data");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		struct jsonpath *jp = NULL;
		struct errbuf err = { "" };
		json_t *c, *doc, *got = NULL, *want;
		const char *expr;
		int r;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		c = json_loads(line, 0, NULL);
		if (!json_is_array(c) || json_array_size(c) != 3)
			fail_msg("cases.txt:%d: bad case line", lineno);
		expr = json_string_value(json_array_get(c, 1));
		want = json_array_get(c, 2);
		r = jsonpath_compile(expr, &err, &jp);
		if (json_is_string(want)) {
			if (r != -EINVAL)
				fail_msg("cases.txt:%d: \"%s\" compiled, expected an error", lineno, expr);
			if (!strstr(err.msg, "position"))
				fail_msg("cases.txt:%d: message \"%s\" has no position", lineno, err.msg);
			assert_null(jp);
			json_decref(c);
			n++;
			continue;
		}
		if (r != 0)
			fail_msg("cases.txt:%d: \"%s\": %s", lineno, expr, err.msg);
		doc = load_doc(json_string_value(json_array_get(c, 0)));
		assert_int_equal(jsonpath_eval(jp, doc, &got), 0);
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_COMPACT);

			fail_msg("cases.txt:%d: \"%s\" gave %s", lineno, expr, g);
		}
		json_decref(got);
		json_decref(doc);
		jsonpath_free(jp);
		json_decref(c);
		n++;
	}
	fclose(f);
	assert_true(n > 80);
}

static void expect_error_at(const char *expr, const char *needle)
{
	struct jsonpath *jp = NULL;
	struct errbuf err = { "" };

	assert_int_equal(jsonpath_compile(expr, &err, &jp), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", expr, err.msg, needle);
}

static void test_messages(void **state)
{
	expect_error_at(".status..x", "position 7: recursive descent");
	expect_error_at(".a[0:2]", "position 4: slices");
	expect_error_at(".a[0,2]", "position 4: unions");
	expect_error_at(".a.length()", "position 9: functions");
	expect_error_at(".a[?(@.x>1)]", "position 8: only == and !=");
	expect_error_at(".a['x", "position 3: unterminated");
	expect_error_at("{.a}{.b}", "templates");
	expect_error_at("", "empty");
	expect_error_at(NULL, "required");
}

static void test_limits(void **state)
{
	struct jsonpath *jp = NULL;
	struct buf b;
	json_t *doc, *arr, *got = NULL;

	/* 512 characters compile; 513 do not. */
	buf_init(&b, 1024);
	buf_puts(&b, ".");
	while (b.len < 512)
		buf_puts(&b, "a");
	assert_int_equal(jsonpath_compile(b.data, NULL, &jp), 0);
	jp = jsonpath_free(jp);
	buf_puts(&b, "a");
	assert_int_equal(jsonpath_compile(b.data, NULL, &jp), -E2BIG);
	buf_free(&b);

	/* 64 steps compile; 65 do not, filter steps included. */
	buf_init(&b, 1024);
	for (int i = 0; i < 64; i++)
		buf_puts(&b, ".a");
	assert_int_equal(jsonpath_compile(b.data, NULL, &jp), 0);
	jp = jsonpath_free(jp);
	buf_puts(&b, ".a");
	assert_int_equal(jsonpath_compile(b.data, NULL, &jp), -E2BIG);
	b.len = 0;
	for (int i = 0; i < 60; i++)
		buf_puts(&b, ".a");
	buf_puts(&b, "[?(@.a.b.c.d)]");
	assert_int_equal(jsonpath_compile(b.data, NULL, &jp), -E2BIG);
	buf_free(&b);

	/* 10,000 results are fine; 10,001 are -E2BIG. */
	arr = json_array();
	for (int i = 0; i < 10000; i++)
		json_array_append_new(arr, json_integer(i));
	doc = json_pack("{s:o}", "items", arr);
	assert_int_equal(jsonpath_compile(".items[*]", NULL, &jp), 0);
	assert_int_equal(jsonpath_eval(jp, doc, &got), 0);
	assert_int_equal(json_array_size(got), 10000);
	json_decref(got);
	got = NULL;
	json_array_append_new(arr, json_integer(1));
	assert_int_equal(jsonpath_eval(jp, doc, &got), -E2BIG);
	assert_null(got);
	jsonpath_free(jp);
	json_decref(doc);
	assert_null(jsonpath_free(NULL));
}

static void test_results_are_references(void **state)
{
	struct jsonpath *jp = NULL;
	json_t *doc = json_pack("{s:{s:[i,i]}}", "status", "list", 1, 2), *got = NULL;

	assert_int_equal(jsonpath_compile("{.status.list}", NULL, &jp), 0);
	assert_int_equal(jsonpath_eval(jp, doc, &got), 0);
	assert_int_equal(json_array_size(got), 1);
	/* The result outlives the document. */
	json_decref(doc);
	assert_int_equal(json_array_size(json_array_get(got, 0)), 2);
	json_decref(got);
	jsonpath_free(jp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_results_are_references),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
