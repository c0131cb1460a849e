/* Unit tests for common/patch_strategic.c: strategic merge patch.
 *
 * Each case is a file under tests/data/patch/strategic/: {description,
 * apiVersion, kind, original, patch, expected | error: "EINVAL"}. Every case
 * also checks that the inputs are untouched and that no '$' key reaches the
 * result. */
#include <dirent.h>
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

static bool has_dollar_key(const json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, c)
			if (k[0] == '$' || has_dollar_key(c))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c)
			if (has_dollar_key(c))
				return true;
	}
	return false;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_case(const char *path)
{
	json_error_t e;
	json_t *c = json_load_file(path, 0, &e);
	json_t *orig, *patch, *orig_copy, *patch_copy, *out = NULL;
	const char *desc, *want_err;
	struct errbuf err = { 0 };
	int r, failed = 0;

	if (!c) {
		print_error("%s: %s\n", path, e.text);
		return 1;
	}
	desc = json_string_value(json_object_get(c, "description"));
	orig = json_object_get(c, "original");
	patch = json_object_get(c, "patch");
	orig_copy = json_deep_copy(orig);
	patch_copy = json_deep_copy(patch);
	want_err = json_string_value(json_object_get(c, "error"));
	r = patch_strategic(orig, patch, json_string_value(json_object_get(c, "apiVersion")),
			    json_string_value(json_object_get(c, "kind")), &err, &out);
	if (want_err) {
		if (r != -EINVAL || out || !err.msg[0]) {
			print_error("%s (%s): want an EINVAL error, got %d\n", path, desc, r);
			failed = 1;
		}
	} else if (r != 0 || !json_equal(out, json_object_get(c, "expected"))) {
		char *g = out ? json_dumps(out, JSON_COMPACT) : NULL;
		char *w = json_dumps(json_object_get(c, "expected"), JSON_COMPACT);

		print_error("%s (%s):\n  r=%d %s\n  got  %s\n  want %s\n", path, desc, r, err.msg,
			    g ? g : "-", w);
		free(g);
		free(w);
		failed = 1;
	} else if (has_dollar_key(out)) {
		print_error("%s: a $ key reached the result\n", path);
		failed = 1;
	}
	if (!json_equal(orig, orig_copy) || !json_equal(patch, patch_copy)) {
		print_error("%s: an input changed\n", path);
		failed = 1;
	}
	json_decref(out);
	json_decref(orig_copy);
	json_decref(patch_copy);
	json_decref(c);
	return failed;
}

static void test_data_cases(void **state)
{
	char dir[1024], path[2048];
	char *names[512];
	size_t n = 0;
	int failures = 0;
	struct dirent *d;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/patch/strategic", ptest_data_dir());
	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL && n < 512)
		if (strstr(d->d_name, ".json"))
			names[n++] = strdup(d->d_name);
	closedir(dp);
	qsort(names, n, sizeof(*names), name_cmp);
	assert_true(n >= 25);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		failures += run_case(path);
		free(names[i]);
	}
	assert_int_equal(failures, 0);
}

/* The exact patch kubectl apply sends (reference/kube-api.md), spelled out. */
static void test_kubectl_example(void **state)
{
	json_t *obj = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
			"\"metadata\":{\"name\":\"x\",\"labels\":{\"tier\":\"web\",\"app\":\"x\"}},"
			"\"spec\":{\"template\":{\"spec\":{\"containers\":["
			"{\"name\":\"a\",\"image\":\"nginx:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]},"
			"{\"name\":\"b\",\"image\":\"busybox\"}]}}}}");
	json_t *patch = J("{\"metadata\":{\"labels\":{\"tier\":null}},\"spec\":{\"template\":{\"spec\":"
			  "{\"$setElementOrder/containers\":[{\"name\":\"a\"}],\"containers\":"
			  "[{\"env\":null,\"image\":\"nginx:2\",\"name\":\"a\"},{\"$patch\":\"delete\",\"name\":\"b\"}]}}}}");
	json_t *want = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
			 "\"metadata\":{\"name\":\"x\",\"labels\":{\"app\":\"x\"}},"
			 "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"nginx:2\"}]}}}}");
	json_t *out = NULL;

	assert_int_equal(patch_strategic(obj, patch, "apps/v1", "Deployment", NULL, &out), 0);
	assert_true(json_equal(out, want));
	json_decref(out);
	json_decref(obj);
	json_decref(patch);
	json_decref(want);
}

static void test_error_names_the_field(void **state)
{
	json_t *obj = J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}}}");
	json_t *patch = J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}}}");
	struct errbuf err = { 0 };
	json_t *out = NULL;

	assert_int_equal(patch_strategic(obj, patch, "apps/v1", "Deployment", &err, &out), -EINVAL);
	assert_non_null(strstr(err.msg, "spec.template.spec.containers"));
	assert_non_null(strstr(err.msg, "merge key \"name\""));
	json_decref(obj);
	json_decref(patch);
}

static void test_not_an_object(void **state)
{
	json_t *obj = J("{}"), *patch = J("[1]");
	struct errbuf err = { 0 };
	json_t *out = NULL;

	assert_int_equal(patch_strategic(obj, patch, "v1", "Pod", &err, &out), -EINVAL);
	json_decref(obj);
	json_decref(patch);
}

static void test_depth_limit(void **state)
{
	json_t *obj = J("{}"), *patch = json_object(), *cur = patch, *out = NULL;
	struct errbuf err = { 0 };

	for (int i = 0; i < PATCH_LIMIT_DEPTH + 1; i++) {
		json_t *o = json_object();

		json_object_set_new(cur, "a", o);
		cur = o;
	}
	assert_int_equal(patch_strategic(obj, patch, "v1", "ConfigMap", &err, &out), -E2BIG);
	assert_int_equal(patch_strategic(obj, patch, "x.io/v1", "Thing", &err, &out), -E2BIG);
	json_decref(obj);
	json_decref(patch);
}

static void test_large_lists(void **state)
{
	/* keyed merges are hashed: 20000 x 20000 items must be quick */
	json_t *obj = json_pack("{s:{s:{s:{s:[]}}}}", "spec", "template", "spec", "containers");
	json_t *patch = json_pack("{s:{s:{s:{s:[]}}}}", "spec", "template", "spec", "containers");
	json_t *ol = json_object_get(json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "spec"), "containers");
	json_t *pl = json_object_get(json_object_get(json_object_get(json_object_get(patch, "spec"), "template"), "spec"), "containers");
	json_t *out = NULL;
	char name[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		json_array_append_new(ol, json_pack("{s:s, s:s}", "name", name, "image", "a"));
		snprintf(name, sizeof(name), "c%d", i + 10000);
		json_array_append_new(pl, json_pack("{s:s, s:s}", "name", name, "image", "b"));
	}
	assert_int_equal(patch_strategic(obj, patch, "apps/v1", "Deployment", NULL, &out), 0);
	ol = json_object_get(json_object_get(json_object_get(json_object_get(out, "spec"), "template"), "spec"), "containers");
	assert_int_equal(json_array_size(ol), 30000);
	json_decref(out);
	json_decref(obj);
	json_decref(patch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_cases),
		cmocka_unit_test(test_kubectl_example),
		cmocka_unit_test(test_error_names_the_field),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_large_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
