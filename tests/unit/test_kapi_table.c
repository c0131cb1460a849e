/* Unit tests for common/kapi_table.
 *
 * Data-driven: every tests/data/kapi_table/<case>.json names a group, a kind,
 * the wall clock ("now"), the items (and CRD printerColumns), and what the
 * Table must hold: column names (and optionally types, priorities,
 * descriptions), the cells of every row, and optionally row conditions.
 * Malformed objects are cases too: they must give cells, not crashes.
 */
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

#include "alloc.h"
#include "kapi_table.h"
#include "timefmt.h"

static char *data_path(const char *name)
{
	const char *dir = getenv("NAVE_TEST_DATA");

	return xasprintf("%s/kapi_table/%s", dir ? dir : "tests/data", name);
}

static void expect_json_equal(const char *what, const json_t *got, const json_t *want)
{
	if (!json_equal((json_t *)got, (json_t *)want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
		char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

		print_error("%s:\n  got  %s\n  want %s\n", what, g ? g : "(null)", w ? w : "(null)");
		free(g);
		free(w);
		fail();
	}
}

static void check_case(const char *file)
{
	char *path = data_path(file);
	json_error_t jerr;
	json_t *c = json_load_file(path, 0, &jerr), *table, *defs, *rows, *want;
	const char *now_s;
	int64_t now_us;
	size_t i;
	json_t *v;

	if (!c)
		print_error("%s: %s\n", path, jerr.text);
	assert_non_null(c);
	now_s = json_string_value(json_object_get(c, "now"));
	assert_non_null(now_s);
	assert_int_equal(time_parse_rfc3339(now_s, &now_us), 0);

	table = kapi_table_build(json_string_value(json_object_get(c, "group")),
				 json_string_value(json_object_get(c, "kind")), json_object_get(c, "items"),
				 json_object_get(c, "printerColumns"), "42", NULL, KAPI_TABLE_INCLUDE_METADATA,
				 now_us);
	assert_non_null(table);
	assert_string_equal(json_string_value(json_object_get(table, "kind")), "Table");
	assert_string_equal(json_string_value(json_object_get(table, "apiVersion")), "meta.k8s.io/v1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(table, "metadata"), "resourceVersion")),
			    "42");
	assert_null(json_object_get(json_object_get(table, "metadata"), "continue"));

	/* Columns: every definition has all five fields with the right JSON types. */
	defs = json_object_get(table, "columnDefinitions");
	want = json_object_get(c, "columns");
	assert_int_equal(json_array_size(defs), json_array_size(want));
	json_array_foreach(defs, i, v) {
		json_t *t = json_object_get(c, "types"), *p = json_object_get(c, "priorities");
		json_t *d = json_object_get(c, "descriptions");

		assert_true(json_is_string(json_object_get(v, "name")));
		assert_true(json_is_string(json_object_get(v, "type")));
		assert_true(json_is_string(json_object_get(v, "format")));
		assert_true(json_is_string(json_object_get(v, "description")));
		assert_true(json_is_integer(json_object_get(v, "priority")));
		expect_json_equal(file, json_object_get(v, "name"), json_array_get(want, i));
		if (t)
			expect_json_equal(file, json_object_get(v, "type"), json_array_get(t, i));
		if (p)
			expect_json_equal(file, json_object_get(v, "priority"), json_array_get(p, i));
		if (d && json_is_string(json_array_get(d, i)))
			expect_json_equal(file, json_object_get(v, "description"), json_array_get(d, i));
	}
	/* The name column is the one with format "name". */
	json_array_foreach(defs, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *fmt = json_string_value(json_object_get(v, "format"));

		assert_int_equal(!strcmp(name, "Name"), !strcmp(fmt, "name"));
	}

	rows = json_object_get(table, "rows");
	want = json_object_get(c, "cells");
	assert_true(json_is_array(rows));
	assert_int_equal(json_array_size(rows), json_array_size(want));
	json_array_foreach(rows, i, v) {
		json_t *obj = json_object_get(v, "object");
		json_t *conds = json_object_get(c, "conditions");
		char what[256];

		snprintf(what, sizeof(what), "%s row %zu", file, i);
		expect_json_equal(what, json_object_get(v, "cells"), json_array_get(want, i));
		assert_int_equal(json_array_size(json_object_get(v, "cells")), json_array_size(defs));
		assert_string_equal(json_string_value(json_object_get(obj, "kind")), "PartialObjectMetadata");
		assert_string_equal(json_string_value(json_object_get(obj, "apiVersion")), "meta.k8s.io/v1");
		assert_true(json_is_object(json_object_get(obj, "metadata")));
		if (conds) {
			json_t *wc = json_array_get(conds, i);

			if (json_is_null(wc))
				assert_null(json_object_get(v, "conditions"));
			else
				expect_json_equal(what, json_object_get(v, "conditions"), wc);
		}
	}
	json_decref(table);
	json_decref(c);
	free(path);
}

static int case_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

static void test_cases(void **state)
{
	char *dir = data_path("");
	struct dirent **list = NULL;
	int n = scandir(dir, &list, case_filter, alphasort);

	assert_true(n >= 20);
	for (int i = 0; i < n; i++) {
		check_case(list[i]->d_name);
		free(list[i]);
	}
	free(list);
	free(dir);
}

static void test_age(void **state)
{
	static const struct {
		int64_t s;
		const char *want;
	} cases[] = {
		{ -5, "<invalid>" }, { -1, "0s" }, { 0, "0s" }, { 59, "59s" }, { 119, "119s" }, { 120, "2m" },
		{ 182, "3m2s" }, { 599, "9m59s" }, { 600, "10m" }, { 10799, "179m" }, { 10800, "3h" },
		{ 16200, "4h30m" }, { 28799, "7h59m" }, { 28800, "8h" }, { 172799, "47h" }, { 172800, "2d" },
		{ 176400, "2d1h" }, { 8 * 86400, "8d" }, { 729 * 86400, "729d" }, { 730 * 86400, "2y" },
		{ 731 * 86400, "2y1d" }, { 8 * 365 * 86400, "8y" }, { INT64_MAX, "292471208677y" },
	};
	char out[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kapi_table_age(cases[i].s, out);
		if (strcmp(out, cases[i].want))
			print_error("%lld: got %s want %s\n", (long long)cases[i].s, out, cases[i].want);
		assert_string_equal(out, cases[i].want);
	}
}

static void test_wanted(void **state)
{
	assert_true(kapi_table_wanted("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;"
				      "v=v1beta1;g=meta.k8s.io,application/json"));
	assert_true(kapi_table_wanted("application/json; as=Table; g=meta.k8s.io; v=v1"));
	assert_true(kapi_table_wanted("APPLICATION/JSON;as=Table;v=v1;g=meta.k8s.io"));
	/* A protobuf Table first: we cannot serve it, the JSON one after it decides. */
	assert_true(kapi_table_wanted("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,"
				      "application/json;as=Table;v=v1;g=meta.k8s.io"));
	assert_false(kapi_table_wanted(NULL));
	assert_false(kapi_table_wanted(""));
	assert_false(kapi_table_wanted("application/json"));
	assert_false(kapi_table_wanted("*/*"));
	/* Plain JSON preferred over a Table: plain JSON. */
	assert_false(kapi_table_wanted("application/json,application/json;as=Table;v=v1;g=meta.k8s.io"));
	/* Only a v1beta1 Table or the wrong group: not a v1 Table. */
	assert_false(kapi_table_wanted("application/json;as=Table;v=v1beta1;g=meta.k8s.io"));
	assert_false(kapi_table_wanted("application/json;as=Table;v=v1;g=example.com"));
	assert_false(kapi_table_wanted("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"));
	assert_false(kapi_table_wanted(";;;,,,=;as"));
}

static void test_include_and_metadata(void **state)
{
	json_t *items = json_pack("[{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:i}}]", "apiVersion", "v1", "kind",
				  "ConfigMap", "metadata", "name", "cm", "namespace", "ns", "labels", "a", "b",
				  "data", "k", 1);
	json_t *t, *row;

	t = kapi_table_build("", "ConfigMap", items, NULL, NULL, "next-page", KAPI_TABLE_INCLUDE_NONE, 0);
	assert_null(json_object_get(json_object_get(t, "metadata"), "resourceVersion"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(t, "metadata"), "continue")),
			    "next-page");
	row = json_array_get(json_object_get(t, "rows"), 0);
	assert_null(json_object_get(row, "object"));
	json_decref(t);

	t = kapi_table_build("", "ConfigMap", items, NULL, "7", NULL, KAPI_TABLE_INCLUDE_OBJECT, 0);
	row = json_array_get(json_object_get(t, "rows"), 0);
	expect_json_equal("object", json_object_get(row, "object"), json_array_get(items, 0));
	/* A copy: changing the source does not change the table. */
	json_object_set_new(json_array_get(items, 0), "kind", json_string("Changed"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(row, "object"), "kind")), "ConfigMap");
	json_decref(t);

	t = kapi_table_build("", "ConfigMap", items, NULL, "7", NULL, KAPI_TABLE_INCLUDE_METADATA, 0);
	row = json_array_get(json_object_get(t, "rows"), 0);
	expect_json_equal("metadata", json_object_get(json_object_get(row, "object"), "metadata"),
			  json_object_get(json_array_get(items, 0), "metadata"));
	json_decref(t);

	/* No items at all: rows is still an array. */
	t = kapi_table_build("apps", "Deployment", NULL, NULL, "1", NULL, KAPI_TABLE_INCLUDE_METADATA, 0);
	assert_true(json_is_array(json_object_get(t, "rows")));
	assert_int_equal(json_array_size(json_object_get(t, "rows")), 0);
	json_decref(t);
	json_decref(items);
}

static void test_many_printer_columns(void **state)
{
	json_t *cols = json_array(), *items = json_pack("[{s:{s:s}, s:{s:i}}]", "metadata", "name", "x", "spec", "n", 5);
	json_t *t;

	for (int i = 0; i < 200; i++)
		json_array_append_new(cols, json_pack("{s:s, s:s, s:s}", "name", "N", "type", "integer", "jsonPath",
						      ".spec.n"));
	t = kapi_table_build("example.com", "Thing", items, cols, "1", NULL, KAPI_TABLE_INCLUDE_METADATA, 0);
	/* Capped: the name column plus 64 printer columns. */
	assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 65);
	assert_int_equal(json_integer_value(json_array_get(
				 json_object_get(json_array_get(json_object_get(t, "rows"), 0), "cells"), 64)),
			 5);
	json_decref(t);
	json_decref(cols);
	json_decref(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_include_and_metadata),
		cmocka_unit_test(test_many_printer_columns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
