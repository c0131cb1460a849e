/* Unit tests for common/patch_json.c: RFC 6902 JSON patch with RFC 6901
 * pointers. The RFC 6902 appendix A examples, the RFC 6901 pointer examples
 * and our own edge cases are data: tests/data/patch/json_rfc6902.json
 * ({comment, doc, patch | patch_text, expected | error: "EINVAL"|"ENOENT"}). */
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

static int errno_of(const char *name)
{
	if (strcmp(name, "EINVAL") == 0)
		return -EINVAL;
	if (strcmp(name, "ENOENT") == 0)
		return -ENOENT;
	if (strcmp(name, "E2BIG") == 0)
		return -E2BIG;
	fail_msg("unknown error name %s", name);
	return 0;
}

static void test_cases(void **state)
{
	json_t *cases = ptest_load_data("json_rfc6902.json"), *c;
	size_t i;
	int failures = 0;

	assert_true(json_array_size(cases) >= 16);
	json_array_foreach(cases, i, c) {
		const char *comment = json_string_value(json_object_get(c, "comment"));
		const char *text = json_string_value(json_object_get(c, "patch_text"));
		json_t *patch = text ? J(text) : json_incref(json_object_get(c, "patch"));
		json_t *doc = json_object_get(c, "doc"), *doc_copy = json_deep_copy(doc);
		json_t *want = json_object_get(c, "expected"), *out = NULL;
		const char *want_err = json_string_value(json_object_get(c, "error"));
		struct errbuf err = { 0 };
		int r = patch_json(doc, patch, &err, &out);

		if (want_err) {
			if (r != errno_of(want_err) || out) {
				print_error("%s: want %s, got %d (%s)\n", comment, want_err, r, err.msg);
				failures++;
			} else if (!err.msg[0]) {
				print_error("%s: no error message\n", comment);
				failures++;
			}
		} else if (r != 0 || !json_equal(out, want)) {
			char *g = out ? json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

			print_error("%s: r=%d (%s) got %s\n", comment, r, err.msg, g ? g : "-");
			free(g);
			failures++;
		}
		if (!json_equal(doc, doc_copy)) {
			print_error("%s: the input document changed\n", comment);
			failures++;
		}
		json_decref(out);
		json_decref(patch);
		json_decref(doc_copy);
	}
	json_decref(cases);
	assert_int_equal(failures, 0);
}

static void test_error_names_the_operation(void **state)
{
	json_t *doc = J("{\"a\":1}");
	json_t *patch = J("[{\"op\":\"test\",\"path\":\"/a\",\"value\":1},{\"op\":\"replace\",\"path\":\"/spec/x\",\"value\":2}]");
	struct errbuf err = { 0 };
	json_t *out = NULL;

	assert_int_equal(patch_json(doc, patch, &err, &out), -ENOENT);
	assert_non_null(strstr(err.msg, "ops[1] (replace /spec/x)"));
	json_decref(doc);
	json_decref(patch);
}

static void test_too_many_ops(void **state)
{
	json_t *doc = J("{}"), *ops = json_array(), *out = NULL;
	struct errbuf err = { 0 };

	for (int i = 0; i < PATCH_LIMIT_OPS; i++)
		json_array_append_new(ops, json_pack("{s:s, s:s, s:i}", "op", "add", "path", "/a", "value", i));
	assert_int_equal(patch_json(doc, ops, &err, &out), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "a")), PATCH_LIMIT_OPS - 1);
	json_decref(out);
	out = NULL;
	json_array_append_new(ops, json_pack("{s:s, s:s, s:i}", "op", "add", "path", "/a", "value", 0));
	assert_int_equal(patch_json(doc, ops, &err, &out), -E2BIG);
	assert_null(out);
	json_decref(ops);
	json_decref(doc);
}

static void test_copy_bomb(void **state)
{
	/* each copy doubles the document: 2^40 values if nothing stopped it */
	json_t *doc = J("{\"a\":[1,2,3,4,5,6,7,8]}"), *ops = json_array(), *out = NULL;
	struct errbuf err = { 0 };

	for (int i = 0; i < 40; i++) {
		json_array_append_new(ops, json_pack("{s:s, s:s, s:s}", "op", "copy", "from", "/a", "path", "/b"));
		json_array_append_new(ops, json_pack("{s:s, s:s, s:s}", "op", "add", "path", "/a/-", "value", "x"));
		json_array_append_new(ops, json_pack("{s:s, s:s, s:s}", "op", "move", "from", "/b", "path", "/a/0"));
	}
	assert_int_equal(patch_json(doc, ops, &err, &out), -E2BIG);
	assert_null(out);
	assert_non_null(strstr(err.msg, "copies exceed"));
	json_decref(ops);
	json_decref(doc);
}

static void test_depth_limits(void **state)
{
	json_t *doc = J("{\"a\":{}}"), *ops = json_array(), *out = NULL;
	struct errbuf err = { 0 };
	char path[4 * PATCH_LIMIT_OBJECT_DEPTH];
	size_t n = 2;

	/* nest one level per operation until the result would be too deep */
	strcpy(path, "/a");
	for (int i = 0; i < PATCH_LIMIT_OBJECT_DEPTH + 5; i++) {
		n += (size_t)snprintf(path + n, sizeof(path) - n, "/a");
		json_array_append_new(ops, json_pack("{s:s, s:s, s:{}}", "op", "add", "path", path, "value"));
	}
	assert_int_equal(patch_json(doc, ops, &err, &out), -E2BIG);
	assert_null(out);
	if (!strstr(err.msg, "deeper than 256"))
		fail_msg("message: %s", err.msg);
	json_decref(ops);
	json_decref(doc);
}

static void test_whole_document(void **state)
{
	json_t *patch = J("[{\"op\":\"add\",\"path\":\"\",\"value\":{\"x\":1}},{\"op\":\"add\",\"path\":\"/y\",\"value\":2}]");
	json_t *want = J("{\"x\":1,\"y\":2}"), *out = NULL;

	assert_int_equal(patch_json(NULL, patch, NULL, &out), 0);
	assert_true(json_equal(out, want));
	json_decref(out);
	json_decref(want);
	json_decref(patch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_error_names_the_operation),
		cmocka_unit_test(test_too_many_ops),
		cmocka_unit_test(test_copy_bomb),
		cmocka_unit_test(test_depth_limits),
		cmocka_unit_test(test_whole_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
