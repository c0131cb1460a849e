/* Unit tests for common/selector: the data-driven cases in
 * tests/data/selector/{cases,fields}.txt, then messages, limits, printing and
 * the exact-field lookup. */
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
#include "selector.h"

/* Each non-comment line of the file as a JSON array; calls fn for each. */
static int for_each_case(const char *name, void (*fn)(json_t *c, int lineno))
{
	const char *dir = getenv("NAVE_TEST_DATA");
	char path[1024], line[8192];
	int lineno = 0, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/selector/%s", dir ? dir : "tests/data", name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		json_error_t jerr;
		json_t *c;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		c = json_loads(line, JSON_DECODE_ANY, &jerr);
		if (!json_is_array(c) || json_array_size(c) != 3)
			fail_msg("%s:%d: bad case line (%s)", name, lineno, jerr.text);
		fn(c, lineno);
		json_decref(c);
		n++;
	}
	fclose(f);
	return n;
}

static void run_label_case(json_t *c, int lineno)
{
	json_t *sel_j = json_array_get(c, 0), *labels = json_array_get(c, 1), *want = json_array_get(c, 2);
	struct label_selector *sel = NULL;
	struct errbuf err = { "" };
	const char *what = json_is_string(sel_j) ? json_string_value(sel_j) : "(object)";
	int r;

	if (json_is_string(sel_j))
		r = label_selector_parse(json_string_value(sel_j), &err, &sel);
	else
		r = label_selector_from_json(json_is_null(sel_j) ? NULL : sel_j, &err, &sel);
	if (json_is_string(want)) {
		if (r != -EINVAL)
			fail_msg("cases.txt:%d: \"%s\" parsed, expected an error", lineno, what);
		if (!err.msg[0])
			fail_msg("cases.txt:%d: error without a message", lineno);
		assert_null(sel);
		return;
	}
	if (r != 0)
		fail_msg("cases.txt:%d: \"%s\": %s", lineno, what, err.msg);
	if (label_selector_matches(sel, json_is_null(labels) ? NULL : labels) != json_is_true(want))
		fail_msg("cases.txt:%d: \"%s\" should %smatch", lineno, what, json_is_true(want) ? "" : "not ");
	/* The printed form parses back to a selector with the same verdict. */
	{
		char *s = label_selector_format(sel);
		struct label_selector *again = NULL;

		if (label_selector_parse(s, &err, &again) != 0)
			fail_msg("cases.txt:%d: printed form \"%s\" does not parse: %s", lineno, s, err.msg);
		assert_int_equal(label_selector_matches(again, labels), json_is_true(want));
		label_selector_free(again);
		free(s);
	}
	label_selector_free(sel);
}

static void test_label_cases(void **state)
{
	assert_true(for_each_case("cases.txt", run_label_case) > 100);
}

static void run_field_case(json_t *c, int lineno)
{
	const char *s = json_string_value(json_array_get(c, 0));
	json_t *obj = json_array_get(c, 1), *want = json_array_get(c, 2);
	struct field_selector *sel = NULL;
	struct errbuf err = { "" };
	int r = field_selector_parse(s, &err, &sel);

	if (json_is_string(want)) {
		if (r != -EINVAL)
			fail_msg("fields.txt:%d: \"%s\" parsed, expected an error", lineno, s);
		if (!err.msg[0])
			fail_msg("fields.txt:%d: error without a message", lineno);
		return;
	}
	if (r != 0)
		fail_msg("fields.txt:%d: \"%s\": %s", lineno, s, err.msg);
	if (field_selector_matches(sel, obj) != json_is_true(want))
		fail_msg("fields.txt:%d: \"%s\" should %smatch", lineno, s, json_is_true(want) ? "" : "not ");
	field_selector_free(sel);
}

static void test_field_cases(void **state)
{
	assert_true(for_each_case("fields.txt", run_field_case) > 30);
}

static void expect_msg(const char *s, const char *needle)
{
	struct label_selector *sel = NULL;
	struct errbuf err = { "" };

	assert_int_equal(label_selector_parse(s, &err, &sel), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", s, err.msg, needle);
}

static void expect_json_msg(const char *text, const char *needle)
{
	struct label_selector *sel = NULL;
	struct errbuf err = { "" };
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	assert_int_equal(label_selector_from_json(j, &err, &sel), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.msg, needle);
	json_decref(j);
}

static void test_messages(void **state)
{
	expect_msg("app=web,Bad_Prefix.com/x=1", "key \"Bad_Prefix.com/x\"");
	expect_msg("app=web,Bad_Prefix.com/x=1", "prefix part");
	expect_msg("tier=-db", "key \"tier\"");
	expect_msg("tier=-db", "value \"-db\"");
	expect_msg("app in (a b)", "position 10");
	expect_msg("app in (a b)", "found 'b'");
	expect_msg("app=web,", "end of string");
	expect_msg("x>y", "integer");
	expect_json_msg("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"b\",\"operator\":\"In\"}]}",
			"matchExpressions[1].values");
	expect_json_msg("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
			"may not be specified");
	expect_json_msg("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Foo\"}]}",
			"matchExpressions[0].operator");
	expect_json_msg("{\"matchExpressions\":[{\"key\":\"a/b/c\",\"operator\":\"Exists\"}]}",
			"matchExpressions[0].key");
	expect_json_msg("{\"matchLabels\":{\"app\":\"-x\"}}", "matchLabels");
	expect_json_msg("{\"matchLabels\":{\"app\":\"-x\"}}", "key \"app\"");

	{
		struct field_selector *fs = NULL;
		struct errbuf err = { "" };

		assert_int_equal(field_selector_parse("metadata.name=x,spec.node Name=y", &err, &fs), -EINVAL);
		assert_non_null(strstr(err.msg, "spec.node Name"));
		assert_int_equal(field_selector_parse("metadata.name=x,status.phase=a\\qb", &err, &fs), -EINVAL);
		assert_non_null(strstr(err.msg, "status.phase"));
		assert_null(fs);
	}
}

static void test_limits(void **state)
{
	struct label_selector *sel = NULL;
	struct field_selector *fs = NULL;
	struct errbuf err = { "" };
	struct buf b;
	char *big = xmalloc(4098);

	/* 4096 characters parse; 4097 do not. */
	memset(big, 'a', 4096);
	big[4096] = '\0';
	memcpy(big, "k=v,", 4);
	for (size_t i = 4; i < 4096; i += 2)
		big[i + 1] = i + 2 < 4096 ? ',' : 'a';
	assert_int_equal(label_selector_parse(big, &err, &sel), -E2BIG); /* > 100 requirements */
	assert_non_null(strstr(err.msg, "100"));
	memset(big, ' ', 4096);
	memcpy(big, "a=b", 3);
	assert_int_equal(label_selector_parse(big, &err, &sel), 0);
	sel = label_selector_free(sel);
	big[4096] = ' ';
	big[4097] = '\0';
	assert_int_equal(label_selector_parse(big, &err, &sel), -E2BIG);
	assert_int_equal(field_selector_parse(big, &err, &fs), -E2BIG);
	free(big);

	/* 100 requirements parse, 101 do not. */
	buf_init(&b, 8192);
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%sk%d", i ? "," : "", i);
	assert_int_equal(label_selector_parse(b.data, &err, &sel), 0);
	sel = label_selector_free(sel);
	buf_puts(&b, ",k100");
	assert_int_equal(label_selector_parse(b.data, &err, &sel), -E2BIG);
	buf_free(&b);

	/* 100 values parse, 101 do not. */
	buf_init(&b, 8192);
	buf_puts(&b, "k in (");
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%sv%d", i ? "," : "", i);
	assert_int_equal(buf_puts(&b, ")"), 0);
	assert_int_equal(label_selector_parse(b.data, &err, &sel), 0);
	sel = label_selector_free(sel);
	b.len--;
	buf_puts(&b, ",v100)");
	assert_int_equal(label_selector_parse(b.data, &err, &sel), -E2BIG);
	buf_free(&b);

	/* The same caps in the object form and field selectors. */
	{
		json_t *ml = json_object(), *obj = json_pack("{s:o}", "matchLabels", ml);
		json_t *vals = json_array(), *obj2;

		for (int i = 0; i < 101; i++) {
			char k[16];

			snprintf(k, sizeof(k), "k%d", i);
			json_object_set_new(ml, k, json_string("v"));
			json_array_append_new(vals, json_string(k));
		}
		assert_int_equal(label_selector_from_json(obj, &err, &sel), -E2BIG);
		obj2 = json_pack("{s:[{s:s, s:s, s:o}]}", "matchExpressions", "key", "k", "operator", "In", "values", vals);
		assert_int_equal(label_selector_from_json(obj2, &err, &sel), -E2BIG);
		json_decref(obj);
		json_decref(obj2);
	}
	buf_init(&b, 8192);
	for (int i = 0; i < 101; i++)
		buf_printf(&b, "%sa.b%d=x", i ? "," : "", i);
	assert_int_equal(field_selector_parse(b.data, &err, &fs), -E2BIG);
	buf_free(&b);
}

static void test_format(void **state)
{
	struct label_selector *sel = NULL;
	char *s;

	assert_int_equal(label_selector_parse(" b  in (y, x, y) ,a==1,!c,d,e notin (),f>3 ", NULL, &sel), 0);
	s = label_selector_format(sel);
	assert_string_equal(s, "b in (x,y),a==1,!c,d,e notin (),f>3");
	free(s);
	assert_false(label_selector_empty(sel));
	label_selector_free(sel);

	assert_int_equal(label_selector_parse(NULL, NULL, &sel), 0);
	assert_true(label_selector_empty(sel));
	s = label_selector_format(sel);
	assert_string_equal(s, "");
	free(s);
	assert_true(label_selector_matches(sel, NULL));
	label_selector_free(sel);
	assert_null(label_selector_free(NULL));
	assert_null(field_selector_free(NULL));
}

static void test_field_exact(void **state)
{
	struct field_selector *fs = NULL;

	assert_int_equal(field_selector_parse("metadata.namespace!=x,metadata.name==a\\,b,spec.x=1", NULL, &fs), 0);
	assert_string_equal(field_selector_exact(fs, "metadata.name"), "a,b");
	assert_string_equal(field_selector_exact(fs, "spec.x"), "1");
	assert_null(field_selector_exact(fs, "metadata.namespace"));
	assert_null(field_selector_exact(fs, "status.phase"));
	field_selector_free(fs);
	assert_int_equal(field_selector_parse(NULL, NULL, &fs), 0);
	assert_true(field_selector_matches(fs, NULL));
	assert_null(field_selector_exact(fs, "metadata.name"));
	field_selector_free(fs);
}

static void test_labels_validate(void **state)
{
	struct errbuf err = { "" };
	json_t *l = json_pack("{s:s, s:s}", "app", "web", "example.com/tier", "");

	assert_int_equal(labels_validate(l, &err), 0);
	assert_int_equal(labels_validate(NULL, &err), 0);
	json_object_set_new(l, "bad key", json_string("x"));
	assert_int_equal(labels_validate(l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bad key"));
	json_object_del(l, "bad key");
	json_object_set_new(l, "n", json_integer(1));
	assert_int_equal(labels_validate(l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "\"n\""));
	json_decref(l);
	assert_int_equal(label_key_validate("a/b", NULL), 0);
	assert_int_equal(label_key_validate("", NULL), -EINVAL);
	assert_int_equal(label_value_validate("k", "", NULL), 0);
	assert_int_equal(label_value_validate("k", "a b", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "\"k\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_cases),
		cmocka_unit_test(test_field_cases),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_field_exact),
		cmocka_unit_test(test_labels_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
