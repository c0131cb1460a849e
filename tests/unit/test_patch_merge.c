/* Unit tests for common/patch_merge.c: RFC 7386 JSON merge patch.
 * The RFC's appendix A is data: tests/data/patch/merge_rfc7386.json. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "patch.h"
#include "patch_testutil.h"

static void assert_json_eq(const json_t *got, const json_t *want, const char *what)
{
	if (!json_equal((json_t *)got, (json_t *)want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
		char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

		print_error("%s:\n  got  %s\n  want %s\n", what, g, w);
		free(g);
		free(w);
		fail();
	}
}

/* Compare with want given as JSON text. */
static void expect(const json_t *got, const char *want, const char *what)
{
	json_t *w = J(want);

	assert_json_eq(got, w, what);
	json_decref(w);
}

static void test_rfc7386_appendix(void **state)
{
	json_t *cases = ptest_load_data("merge_rfc7386.json"), *c;
	size_t i;

	assert_true(json_array_size(cases) >= 15);
	json_array_foreach(cases, i, c) {
		struct errbuf err = { 0 };
		json_t *out = NULL, *again = NULL;

		assert_int_equal(patch_merge(json_object_get(c, "target"), json_object_get(c, "patch"),
					     &err, &out), 0);
		assert_json_eq(out, json_object_get(c, "result"),
			       json_string_value(json_object_get(c, "comment")));
		/* a merge patch is idempotent */
		assert_int_equal(patch_merge(out, json_object_get(c, "patch"), &err, &again), 0);
		assert_json_eq(again, out, "idempotence");
		json_decref(out);
		json_decref(again);
	}
	json_decref(cases);
}

static void test_inputs_untouched(void **state)
{
	json_t *obj = J("{\"a\":{\"b\":1,\"c\":[1,2]},\"d\":2}");
	json_t *patch = J("{\"a\":{\"b\":null,\"c\":[3]},\"d\":null,\"e\":{\"f\":null}}");
	json_t *obj_copy = json_deep_copy(obj), *patch_copy = json_deep_copy(patch), *out = NULL;

	assert_int_equal(patch_merge(obj, patch, NULL, &out), 0);
	expect(out, "{\"a\":{\"c\":[3]},\"e\":{}}", "result");
	assert_json_eq(obj, obj_copy, "object untouched");
	assert_json_eq(patch, patch_copy, "patch untouched");
	/* the result shares nothing with the inputs */
	json_object_set_new(json_object_get(out, "a"), "x", json_true());
	assert_json_eq(obj, obj_copy, "object still untouched");
	json_decref(out);
	json_decref(obj);
	json_decref(patch);
	json_decref(obj_copy);
	json_decref(patch_copy);
}

static void test_null_object(void **state)
{
	json_t *patch = J("{\"a\":1,\"b\":null}"), *out = NULL;

	assert_int_equal(patch_merge(NULL, patch, NULL, &out), 0);
	expect(out, "{\"a\":1}", "merge into nothing");
	json_decref(out);
	json_decref(patch);
}

static json_t *nest(int depth)
{
	json_t *v = json_object();

	for (int i = 1; i < depth; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "a", v);
		v = o;
	}
	return v;
}

static void test_depth_limit(void **state)
{
	struct errbuf err = { 0 };
	json_t *obj = J("{}"), *ok = nest(PATCH_LIMIT_DEPTH), *deep = nest(PATCH_LIMIT_DEPTH + 1);
	json_t *out = NULL;

	assert_int_equal(patch_merge(obj, ok, &err, &out), 0);
	json_decref(out);
	out = NULL;
	assert_int_equal(patch_merge(obj, deep, &err, &out), -E2BIG);
	assert_null(out);
	assert_non_null(strstr(err.msg, "nested deeper than 100"));
	json_decref(obj);
	json_decref(ok);
	json_decref(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7386_appendix),
		cmocka_unit_test(test_inputs_untouched),
		cmocka_unit_test(test_null_object),
		cmocka_unit_test(test_depth_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
