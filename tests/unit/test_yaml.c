/* Unit tests for common/yaml.
 *
 * Data-driven first: every file in tests/data/yaml/examples/ (copies of the
 * OCM and KubeVela inputs in /work/shared/examples) and tests/data/yaml/resolve/
 * is parsed and compared with FILE.expected.json, which kubectl 1.32 produced
 * (tests/data/yaml/kubectl-oracle.py); where kubectl refused the YAML,
 * FILE.error exists and we must refuse it too. Then the malformed fixtures with
 * the messages they must give, the limits, streams, merges, alias copies,
 * exact emitter output, and the round-trip property on the fixtures and on a
 * few thousand generated values.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "yaml.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static const char *data_dir(void)
{
	const char *dir = getenv("NAVE_TEST_DATA");

	return dir ? dir : "tests/data";
}

/* The file's bytes in an allocation of exactly their size (no NUL after
 * them), so the sanitizers catch any read past the end. */
static char *read_exact(const char *path, size_t *ret_len)
{
	struct buf b;
	char chunk[65536];
	size_t n;
	char *exact;
	FILE *f = fopen(path, "rb");

	if (!f)
		fail_msg("cannot open %s", path);
	buf_init(&b, 64u << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(f);
	exact = xmalloc(b.len ? b.len : 1);
	memcpy(exact, b.data ? b.data : "", b.len);
	*ret_len = b.len;
	buf_free(&b);
	return exact;
}

static bool file_exists(const char *path)
{
	FILE *f = fopen(path, "rb");

	if (f)
		fclose(f);
	return f != NULL;
}

/* json_equal, except that an integer and a real are equal when the real is
 * integral and has the integer's value: the one difference the round trip
 * allows (yaml.h). Key order is not compared. */
static bool num_equal(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_real(b))
		return json_real_value(b) == (double)json_integer_value(a);
	if (json_is_real(a) && json_is_integer(b))
		return json_real_value(a) == (double)json_integer_value(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!num_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		const char *k;
		size_t kl;
		json_t *x, *ncb = (json_t *)(uintptr_t)a;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_keylen_foreach(ncb, k, kl, x) {
			json_t *y = json_object_getn(b, k, kl);

			if (!y || !num_equal(x, y))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

/* Same keys in the same order, all the way down. */
static bool same_key_order(json_t *a, json_t *b)
{
	if (json_is_array(a) && json_is_array(b)) {
		for (size_t i = 0; i < json_array_size(a) && i < json_array_size(b); i++)
			if (!same_key_order(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (!json_is_object(a) || !json_is_object(b))
		return true;
	void *ia = json_object_iter(a), *ib = json_object_iter(b);

	for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib)) {
		if (json_object_iter_key_len(ia) != json_object_iter_key_len(ib) ||
		    memcmp(json_object_iter_key(ia), json_object_iter_key(ib), json_object_iter_key_len(ia)))
			return false;
		if (!same_key_order(json_object_iter_value(ia), json_object_iter_value(ib)))
			return false;
	}
	return !ia && !ib;
}

static char *dumps(const json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	return s ? s : xstrdup("(undumpable)");
}

/* emit, parse back, compare; fails the test naming what. */
static void check_roundtrip(const json_t *v, const char *what)
{
	struct errbuf err = { "" };
	json_t *back = NULL;
	char *y = yaml_emit(v);
	int r;

	r = yaml_parse_one(y, strlen(y), NULL, &err, &back);
	if (r < 0) {
		char *d = dumps(v);

		print_error("%s: emitted YAML does not parse (%s)\nvalue: %s\nyaml:\n%s\n", what, err.msg,
			    d, y);
		free(d);
		free(y);
		fail();
	}
	if (!num_equal(v, back) || !same_key_order((json_t *)(uintptr_t)v, back)) {
		char *d1 = dumps(v), *d2 = dumps(back);

		print_error("%s: round trip differs\nin:   %s\nout:  %s\nyaml:\n%s\n", what, d1, d2, y);
		free(d1);
		free(d2);
		free(y);
		json_decref(back);
		fail();
	}
	json_decref(back);
	free(y);
}

static json_t *parse_ok(const char *text)
{
	struct errbuf err = { "" };
	json_t *docs = NULL;
	int r = yaml_parse_stream(text, strlen(text), NULL, &err, &docs);

	if (r < 0)
		fail_msg("parse of [%s] failed: %d %s", text, r, err.msg);
	return docs;
}

/* ------------------------------------------------------------------------ */
/* Fixture directories against kubectl's answers                           */

static size_t check_dir(const char *sub, size_t *ret_refused)
{
	char dirpath[1024];
	struct dirent *e;
	size_t n = 0, refused = 0;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "%s/yaml/%s", data_dir(), sub);
	d = opendir(dirpath);
	if (!d)
		fail_msg("cannot open %s", dirpath);
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name), len;
		char path[2048], expected[2048], error[2048];
		struct errbuf err = { "" };
		json_t *docs = NULL;
		char *text;
		int r;

		if (nl < 5 || strcmp(e->d_name + nl - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, e->d_name);
		snprintf(expected, sizeof(expected), "%s/%.*s.expected.json", dirpath, (int)(nl - 5),
			 e->d_name);
		snprintf(error, sizeof(error), "%s/%.*s.error", dirpath, (int)(nl - 5), e->d_name);
		text = read_exact(path, &len);
		r = yaml_parse_stream(text, len, NULL, &err, &docs);
		free(text);
		n++;
		if (file_exists(error)) {
			refused++;
			if (r != -EINVAL)
				fail_msg("%s: Kubernetes refuses this file, we returned %d", path, r);
			if (!strstr(err.msg, "line "))
				fail_msg("%s: message without a line: %s", path, err.msg);
			continue;
		}
		if (r < 0)
			fail_msg("%s: %d %s", path, r, err.msg);
		json_error_t je;
		json_t *want = json_load_file(expected, JSON_DECODE_ANY, &je);

		if (!want)
			fail_msg("%s: %s", expected, je.text);
		if (!json_equal(want, docs)) {
			char *a = dumps(docs);

			print_error("%s: differs from %s\nours: %s\n", path, expected, a);
			free(a);
			fail();
		}
		/* and back: each document emitted and read again */
		for (size_t i = 0; i < json_array_size(docs); i++)
			check_roundtrip(json_array_get(docs, i), path);
		json_decref(want);
		json_decref(docs);
	}
	closedir(d);
	*ret_refused = refused;
	return n;
}

static void test_examples(void **state)
{
	size_t refused, n = check_dir("examples", &refused);

	/* 45 YAML files from /work/shared/examples; kubectl refuses two (a
	 * TAB used as indentation, a Helm template's {{ }} as a key). */
	assert_int_equal(n, 45);
	assert_int_equal(refused, 2);
}

static void test_resolve_fixtures(void **state)
{
	size_t refused, n = check_dir("resolve", &refused);

	assert_true(n >= 4);
	assert_int_equal(refused, 0);
}

/* The two examples Kubernetes refuses, and what we say about them. */
static void test_refused_examples_messages(void **state)
{
	static const struct {
		const char *file;
		const char *want[3];
	} cases[] = {
		{ "vela-task-tab-indented.yaml",
		  { "line 11, column 1", "tab character", "use spaces" } },
		{ "labels-traitdefinition.yaml",
		  { "line 9, column 15", "keys must be scalars", "metadata.namespace" } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[1024];
		struct errbuf err = { "" };
		json_t *docs = (json_t *)0x1;
		size_t len;
		char *text;

		snprintf(path, sizeof(path), "%s/yaml/examples/%s", data_dir(), cases[i].file);
		text = read_exact(path, &len);
		assert_int_equal(yaml_parse_stream(text, len, NULL, &err, &docs), -EINVAL);
		assert_ptr_equal(docs, (json_t *)0x1); /* untouched on failure */
		for (size_t j = 0; j < 3; j++)
			if (!strstr(err.msg, cases[i].want[j]))
				fail_msg("%s: [%s] lacks [%s]", cases[i].file, err.msg, cases[i].want[j]);
		free(text);
	}
}

/* ------------------------------------------------------------------------ */
/* Malformed input                                                          */

static void test_malformed(void **state)
{
	static const struct {
		const char *file;
		int code;
		const char *want[2];
	} cases[] = {
		{ "bad-indent.yaml", -EINVAL, { "line 3, column 2", "did not find expected key" } },
		{ "unclosed-double-quote.yaml", -EINVAL, { "end of stream", "quoted scalar at line 2" } },
		{ "unclosed-single-quote.yaml", -EINVAL, { "end of stream", "quoted scalar at line 2" } },
		{ "unclosed-flow.yaml", -EINVAL, { "line 2, column 5", "flow sequence at line 1" } },
		{ "mapping-in-plain.yaml", -EINVAL, { "line 1, column 5", "mapping values" } },
		{ "alias-bomb.yaml", -E2BIG, { "1000000 nodes", "alias" } },
		{ "deep-nesting-flow.yaml", -E2BIG, { "line 1, column 103", "deeper than 100" } },
		{ "deep-nesting-block.yaml", -E2BIG, { "line 101", "deeper than 100" } },
		{ "deep-nesting-via-alias.yaml", -E2BIG, { "alias 'deep'", "deeper than 100" } },
		{ "duplicate-key.yaml", -EINVAL, { "line 7, column 1", "duplicate mapping key \"metadata\"" } },
		{ "duplicate-key-nested.yaml", -EINVAL,
		  { "line 9, column 9: duplicate mapping key \"app\"", "spec.template.metadata.labels" } },
		{ "duplicate-key-after-resolution.yaml", -EINVAL, { "line 3", "key \"true\"" } },
		{ "binary-garbage.bin", -EINVAL, { "line 1, column ", "UTF-8" } },
		{ "nul-byte.yaml", -EINVAL, { "line 1, column 5", "control characters" } },
		{ "invalid-utf8.yaml", -EINVAL, { "line 1, column 11", "UTF-8" } },
		{ "tab-indent.yaml", -EINVAL, { "line 4, column 1", "tab" } },
		{ "non-scalar-key.yaml", -EINVAL, { "line 1, column 3", "keys must be scalars" } },
		{ "alias-as-key.yaml", -EINVAL, { "line 2, column 1", "keys must be scalars" } },
		{ "inf-value.yaml", -EINVAL, { "line 2, column 11", ".inf cannot be represented in JSON" } },
		{ "nan-value.yaml", -EINVAL, { "spec.weight", ".NaN cannot be represented" } },
		{ "unknown-alias.yaml", -EINVAL, { "line 2, column 13", "unknown anchor 'missing'" } },
		{ "anchor-from-other-document.yaml", -EINVAL, { "line 48", "unknown anchor 'labels'" } },
		{ "self-alias.yaml", -EINVAL, { "line 2", "contains itself" } },
		{ "bad-merge.yaml", -EINVAL, { "line 3", "map merge requires map" } },
		{ "null-key.yaml", -EINVAL, { "line 1, column 1", "is null" } },
		{ "huge-int-key.yaml", -EINVAL, { "line 1, column 1", "beyond int64" } },
		{ "bad-binary.yaml", -EINVAL, { "line 1, column 7", "invalid base64" } },
		{ "bad-int-tag.yaml", -EINVAL, { "line 1", "cannot decode !!str `three` as a !!int" } },
		{ "error-in-second-document.yaml", -EINVAL, { "line 4", "flow node" } },
	};
	size_t seen = 0;
	DIR *d;
	struct dirent *e;
	char dirpath[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[1024];
		struct errbuf err = { "" };
		json_t *docs = NULL;
		size_t len;
		char *text;
		int r;

		snprintf(path, sizeof(path), "%s/yaml/malformed/%s", data_dir(), cases[i].file);
		text = read_exact(path, &len);
		r = yaml_parse_stream(text, len, NULL, &err, &docs);
		free(text);
		if (r != cases[i].code)
			fail_msg("%s: want %d, got %d (%s)", cases[i].file, cases[i].code, r, err.msg);
		for (size_t j = 0; j < 2; j++)
			if (!strstr(err.msg, cases[i].want[j]))
				fail_msg("%s: [%s] lacks [%s]", cases[i].file, err.msg, cases[i].want[j]);
	}
	/* every fixture in the directory is in the table */
	snprintf(dirpath, sizeof(dirpath), "%s/yaml/malformed", data_dir());
	d = opendir(dirpath);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			seen++;
	closedir(d);
	assert_int_equal(seen, sizeof(cases) / sizeof(cases[0]));
}

/* ------------------------------------------------------------------------ */
/* Scalar resolution, with exact JSON types                                 */

static void test_scalar_types(void **state)
{
	static const char *cases[][2] = {
		{ "a: 3.0", "{\"a\": 3}" },
		{ "a: 1e3", "{\"a\": 1000}" },
		{ "a: -0.0", "{\"a\": 0}" },
		{ "a: 1e-400", "{\"a\": 0}" },
		{ "a: 1.5", "{\"a\": 1.5}" },
		{ "a: .5", "{\"a\": 0.5}" },
		{ "a: .5_5", "{\"a\": 0.55}" },
		{ "a: 1e20", "{\"a\": 1e20}" },
		{ "a: 1e21", "{\"a\": 1e21}" },
		{ "a: 123456789012345678.0", "{\"a\": 123456789012345680}" },
		{ "a: 9223372036854775807", "{\"a\": 9223372036854775807}" },
		{ "a: -9223372036854775808", "{\"a\": -9223372036854775808}" },
		{ "a: 9223372036854775808", "{\"a\": 9223372036854775808.0}" },
		{ "a: 18446744073709551615", "{\"a\": 18446744073709551615.0}" },
		{ "a: 99999999999999999999", "{\"a\": 1e20}" },
		{ "a: 0x10000000000000000", "{\"a\": \"0x10000000000000000\"}" },
		{ "a: 0o17", "{\"a\": 15}" },
		{ "a: 017", "{\"a\": 15}" },
		{ "a: 08", "{\"a\": 8}" },
		{ "a: 0x1F", "{\"a\": 31}" },
		{ "a: -0x1F", "{\"a\": -31}" },
		{ "a: 0b101", "{\"a\": 5}" },
		{ "a: 1_000", "{\"a\": 1000}" },
		{ "a: +12", "{\"a\": 12}" },
		{ "a: 1e400", "{\"a\": \"1e400\"}" },
		{ "a: 0x1p3", "{\"a\": \"0x1p3\"}" },
		{ "a: 1:20", "{\"a\": \"1:20\"}" },
		{ "a: 2001-12-14", "{\"a\": \"2001-12-14\"}" },
		{ "[y, Y, yes, Yes, YES, on, On, ON, true, True, TRUE]",
		  "[true, true, true, true, true, true, true, true, true, true, true]" },
		{ "[n, N, no, No, NO, off, Off, OFF, false, False, FALSE]",
		  "[false, false, false, false, false, false, false, false, false, false, false]" },
		{ "[yEs, oN, tRUE, nULL, .iNf, '', ~, null, Null, NULL, ]",
		  "[\"yEs\", \"oN\", \"tRUE\", \"nULL\", \".iNf\", \"\", null, null, null, null]" },
		{ "a:", "{\"a\": null}" },
		{ "a: '80'", "{\"a\": \"80\"}" },
		{ "a: \"true\"", "{\"a\": \"true\"}" },
		{ "a: !!str 12", "{\"a\": \"12\"}" },
		{ "a: !!int \"12\"", "{\"a\": 12}" },
		{ "a: !!float 1", "{\"a\": 1}" },
		{ "a: !!float 1.25", "{\"a\": 1.25}" },
		{ "a: !!bool \"On\"", "{\"a\": true}" },
		{ "a: !!null ''", "{\"a\": null}" },
		{ "a: !!binary aGk=", "{\"a\": \"hi\"}" },
		{ "a: !!binary |\n  4pyTIMOg\n  IGxh\n", "{\"a\": \"\\u2713 \\u00e0 la\"}" },
		{ "a: !!binary /w==", "{\"a\": \"\\ufffd\"}" },
		{ "a: !local 12", "{\"a\": \"12\"}" },
		{ "a: ! 12", "{\"a\": \"12\"}" },
		{ "a: !!timestamp 2001-12-14t21:59:43.10-05:00", "{\"a\": \"2001-12-14t21:59:43.10-05:00\"}" },
		{ "a: <<", "{\"a\": \"<<\"}" },
		{ "y: 1", "{\"true\": 1}" },
		{ "on: [push]", "{\"true\": [\"push\"]}" },
		{ "1.5: x", "{\"1.5\": \"x\"}" },
		{ "1e6: x", "{\"1e+06\": \"x\"}" },
		{ "123456789.0: x", "{\"1.2345679e+08\": \"x\"}" },
		{ "0.0001: x", "{\"0.0001\": \"x\"}" },
		{ "0.00001: x", "{\"1e-05\": \"x\"}" },
		{ "-0.0: x", "{\"-0\": \"x\"}" },
		{ "1e300: x", "{\".inf\": \"x\"}" },
		{ ".nan: x", "{\".nan\": \"x\"}" },
		{ "0x10: x", "{\"16\": \"x\"}" },
		{ "'0x10': x", "{\"0x10\": \"x\"}" },
		{ "\"\": x", "{\"\": \"x\"}" },
		{ "a: \"\\u263A \\x41 \\N\"", "{\"a\": \"\\u263a A \\u0085\"}" },
		{ "{\"json\": [1, 2.5, \"x\", null, true, {}]}",
		  "{\"json\": [1, 2.5, \"x\", null, true, {}]}" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		json_t *want = json_loads(cases[i][1], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		json_t *docs = parse_ok(cases[i][0]);

		if (!want)
			fail_msg("bad expectation %s: %s", cases[i][1], je.text);
		if (json_array_size(docs) != 1 || !json_equal(json_array_get(docs, 0), want)) {
			char *got = dumps(docs);

			print_error("[%s]: want %s, got %s\n", cases[i][0], cases[i][1], got);
			free(got);
			fail();
		}
		json_decref(want);
		json_decref(docs);
	}
}

/* ------------------------------------------------------------------------ */
/* Streams, parse_one, limits                                               */

static void test_streams(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "", "[]" },
		{ "# only\n# comments\n", "[]" },
		{ "\n\n   \n", "[]" },
		{ "---\n---\n...\n", "[]" },
		{ "--- null\n--- ~\n---\na: 1\n---\n# c\n", "[{\"a\": 1}]" },
		{ "a: 1\n---\nb: 2\n", "[{\"a\": 1}, {\"b\": 2}]" },
		{ "a: 1\n...\n---\nb: 2\n...\n", "[{\"a\": 1}, {\"b\": 2}]" },
		{ "--- 5\n--- \"x\"\n--- [a]\n", "[5, \"x\", [\"a\"]]" },
		{ "\xef\xbb\xbf" "a: 1\n", "[{\"a\": 1}]" },
		{ "%YAML 1.1\n---\na: 1\n", "[{\"a\": 1}]" },
		{ "a: 1\r\nb: 2\r\n", "[{\"a\": 1, \"b\": 2}]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *want = json_loads(cases[i].want, 0, NULL);
		json_t *docs = parse_ok(cases[i].in);

		assert_non_null(want);
		if (!json_equal(want, docs)) {
			char *got = dumps(docs);

			print_error("[%s]: want %s, got %s\n", cases[i].in, cases[i].want, got);
			free(got);
			fail();
		}
		json_decref(want);
		json_decref(docs);
	}
}

static void test_parse_one(void **state)
{
	struct errbuf err = { "" };
	json_t *v = (json_t *)0x1;

	assert_int_equal(yaml_parse_one("", 0, NULL, &err, &v), -EINVAL);
	assert_non_null(strstr(err.msg, "no YAML document"));
	assert_int_equal(yaml_parse_one("# x\n", 4, NULL, &err, &v), -EINVAL);
	assert_int_equal(yaml_parse_one("a: 1\n---\nb: 1\n", 14, NULL, &err, &v), -EINVAL);
	assert_non_null(strstr(err.msg, "found 2"));
	assert_ptr_equal(v, (json_t *)0x1);

	assert_int_equal(yaml_parse_one("a: 1\n---\n", 9, NULL, &err, &v), 0);
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
	json_decref(v);
	assert_int_equal(yaml_parse_one("null\n", 5, NULL, &err, &v), 0);
	assert_true(json_is_null(v));
	assert_int_equal(yaml_parse_one("---\n", 4, NULL, &err, &v), 0);
	assert_true(json_is_null(v));
	assert_int_equal(yaml_parse_one("hello", 5, NULL, &err, &v), 0);
	assert_string_equal(json_string_value(v), "hello");
	json_decref(v);
	/* err may be NULL */
	assert_int_equal(yaml_parse_one("[", 1, NULL, NULL, &v), -EINVAL);
}

/* text need not be NUL-terminated: parse a prefix of a larger buffer, and an
 * exact-size allocation. */
static void test_not_nul_terminated(void **state)
{
	const char *src = "a: 12\nb: [x]";
	size_t n = strlen(src);
	char *exact = xmalloc(n);
	json_t *v = NULL;

	memcpy(exact, src, n);
	assert_int_equal(yaml_parse_one(exact, n, NULL, NULL, &v), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(v, "b"), 0)), "x");
	json_decref(v);
	/* only the first 5 bytes: "a: 12" */
	assert_int_equal(yaml_parse_one(exact, 5, NULL, NULL, &v), 0);
	assert_int_equal(json_object_size(v), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 12);
	json_decref(v);
	free(exact);
}

static void test_limits(void **state)
{
	struct yaml_limits lim = { 0 };
	struct errbuf err = { "" };
	json_t *v = NULL;

	/* all zero: the defaults */
	assert_int_equal(yaml_parse_one("a: [1, {b: c}]", 14, &lim, &err, &v), 0);
	json_decref(v);

	lim.max_input = 10;
	assert_int_equal(yaml_parse_one("a: 1234567", 10, &lim, &err, &v), 0);
	json_decref(v);
	assert_int_equal(yaml_parse_one("a: 12345678", 11, &lim, &err, &v), -E2BIG);
	assert_non_null(strstr(err.msg, "11 bytes, more than the 10 allowed"));

	lim = (struct yaml_limits){ .max_depth = 3 };
	assert_int_equal(yaml_parse_one("a: {b: {c: 1}}", 14, &lim, &err, &v), 0);
	json_decref(v);
	assert_int_equal(yaml_parse_one("a: {b: {c: [1]}}", 16, &lim, &err, &v), -E2BIG);
	assert_non_null(strstr(err.msg, "line 1, column 12: nesting deeper than 3 levels"));
	/* through an alias: x is 2 deep, used 2 deep */
	assert_int_equal(yaml_parse_one("x: &x {a: {b: 1}}\ny: *x\n", 24, &lim, &err, &v), 0);
	json_decref(v);
	assert_int_equal(yaml_parse_one("x: &x {a: {b: 1}}\ny: [*x]\n", 26, &lim, &err, &v), -E2BIG);

	lim = (struct yaml_limits){ .max_nodes = 6 };
	assert_int_equal(yaml_parse_one("[1, 2, 3, 4, 5]", 15, &lim, &err, &v), 0);
	json_decref(v);
	assert_int_equal(yaml_parse_one("[1, 2, 3, 4, 5, 6]", 18, &lim, &err, &v), -E2BIG);
	assert_non_null(strstr(err.msg, "more than 6 nodes"));
	/* an alias counts as the nodes it repeats: 1 + (1 + 2) + 3 = 7 */
	assert_int_equal(yaml_parse_one("[&a [1, 2], *a]", 15, &lim, &err, &v), -E2BIG);

	/* long scalars repeated by aliases: text is capped at 4 * max_input */
	{
		struct buf b;

		lim = (struct yaml_limits){ .max_input = 2000 };
		for (int uses = 6; uses <= 10; uses += 4) {
			buf_init(&b, 4096);
			buf_puts(&b, "a: &a ");
			for (int i = 0; i < 1000; i++)
				buf_puts(&b, "x");
			buf_puts(&b, "\nb: [");
			for (int i = 0; i < uses; i++)
				buf_puts(&b, "*a, ");
			buf_puts(&b, "]\n");
			int r = yaml_parse_one(b.data, b.len, &lim, &err, &v);

			if (uses == 6) {
				assert_int_equal(r, 0);
				json_decref(v);
			} else {
				assert_int_equal(r, -E2BIG);
				assert_non_null(strstr(err.msg, "more than 8000 bytes of text"));
			}
			buf_free(&b);
		}
	}

	lim = (struct yaml_limits){ .max_documents = 2 };
	assert_int_equal(yaml_parse_stream("a\n---\nb\n", 8, &lim, &err, &v), 0);
	json_decref(v);
	assert_int_equal(yaml_parse_stream("a\n---\nb\n---\nc\n", 14, &lim, &err, &v), -E2BIG);
	assert_non_null(strstr(err.msg, "line 4, column 1: more than 2 documents"));

	/* the hard cap on depth, whatever is asked */
	lim = (struct yaml_limits){ .max_depth = SIZE_MAX };
	{
		struct buf b;

		buf_init(&b, 1 << 20);
		for (int i = 0; i < 3000; i++)
			buf_puts(&b, "[");
		for (int i = 0; i < 3000; i++)
			buf_puts(&b, "]");
		assert_int_equal(yaml_parse_one(b.data, b.len, &lim, &err, &v), -E2BIG);
		assert_non_null(strstr(err.msg, "deeper than 2000"));
		buf_free(&b);
	}
	assert_int_equal(yaml_default_limits.max_depth, 100);
	assert_int_equal(yaml_default_limits.max_nodes, 1000000);
}

/* ------------------------------------------------------------------------ */
/* Anchors and merges                                                       */

static void test_aliases_are_copies(void **state)
{
	const char *y = "a: &x {k: [1, {n: 2}]}\nb: *x\nc: *x\n";
	json_t *v = NULL;

	assert_int_equal(yaml_parse_one(y, strlen(y), NULL, NULL, &v), 0);
	json_t *a = json_object_get(v, "a"), *b = json_object_get(v, "b");

	assert_true(json_equal(a, b));
	assert_ptr_not_equal(a, b);
	assert_ptr_not_equal(json_object_get(a, "k"), json_object_get(b, "k"));
	json_array_append_new(json_object_get(b, "k"), json_integer(3));
	assert_int_equal(json_array_size(json_object_get(a, "k")), 2);
	assert_int_equal(json_array_size(json_object_get(json_object_get(v, "c"), "k")), 2);
	json_decref(v);

	/* keys may hold NUL (from a "\0" escape), kept with their length */
	y = "\"a\\0b\": &k x\n*k : \"a\\0\"\n";
	assert_int_equal(yaml_parse_one(y, strlen(y), NULL, NULL, &v), 0);
	assert_string_equal(json_string_value(json_object_getn(v, "a\0b", 3)), "x");
	assert_int_equal(json_string_length(json_object_get(v, "x")), 2);
	check_roundtrip(v, "NUL in keys");
	json_decref(v);

	/* many anchors, many documents: stays linear (a fixed-size table or a
	 * per-document walk of a big one would take minutes here) */
	{
		struct buf sb;
		json_t *docs = NULL;

		buf_init(&sb, 8u << 20);
		for (int i = 0; i < 100000; i++)
			buf_printf(&sb, "- &a%d %d\n- *a%d\n", i, i, i);
		for (int i = 0; i < 5000; i++)
			buf_printf(&sb, "---\na: &x%d [%d]\nb: *x%d\n", i, i, i);
		assert_int_equal(yaml_parse_stream(sb.data, sb.len, NULL, NULL, &docs), 0);
		assert_int_equal(json_array_size(docs), 5001);
		assert_int_equal(json_integer_value(json_array_get(json_array_get(docs, 0), 199999)),
				 99999);
		json_decref(docs);
		buf_free(&sb);
	}

	/* a redefined anchor refers to the latest node */
	y = "a: &x 1\nb: &x 2\nc: *x\n";
	assert_int_equal(yaml_parse_one(y, strlen(y), NULL, NULL, &v), 0);
	assert_int_equal(json_integer_value(json_object_get(v, "c")), 2);
	json_decref(v);

	/* a scalar alias resolves again where it is used: as a key, "yes" is
	 * "true", as a value true */
	y = "a: &x yes\nb: {*x : *x}\n";
	assert_int_equal(yaml_parse_one(y, strlen(y), NULL, NULL, &v), 0);
	assert_true(json_is_true(json_object_get(json_object_get(v, "b"), "true")));
	json_decref(v);
}

static void test_merge(void **state)
{
	static const char *cases[][2] = {
		{ "b: &b {x: 1, z: 2}\nm: {<<: *b, z: 3}", "{\"x\": 1, \"z\": 3}" },
		/* go-yaml v2: a merge written after a key overrides it */
		{ "b: &b {x: 1, z: 2}\nm: {z: 3, <<: *b}", "{\"x\": 1, \"z\": 2}" },
		{ "b: &b {x: 1}\nc: &c {x: 2, z: 3}\nm: {<<: [*b, *c]}", "{\"x\": 1, \"z\": 3}" },
		{ "m: {<<: {x: 1}, <<: {x: 2, w: 1}}", "{\"x\": 2, \"w\": 1}" },
		{ "m: {\"<<\": 1}", "{\"<<\": 1}" },
		{ "m: {!!merge <<: {x: 1}}", "{\"x\": 1}" },
		{ "m: {<<: []}", "{}" },
		{ "b: &b {x: 1}\nm:\n  <<: *b\n  x: 5\n", "{\"x\": 5}" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *want = json_loads(cases[i][1], 0, NULL);
		json_t *docs = parse_ok(cases[i][0]);
		json_t *m = json_object_get(json_array_get(docs, 0), "m");

		if (!json_equal(want, m)) {
			char *got = dumps(m);

			print_error("[%s]: want %s, got %s\n", cases[i][0], cases[i][1], got);
			free(got);
			fail();
		}
		json_decref(want);
		json_decref(docs);
	}

	/* explicit keys still may not repeat, merge or not */
	struct errbuf err = { "" };
	json_t *v = NULL;
	const char *y = "m: {a: 1, <<: {b: 2}, a: 3}";

	assert_int_equal(yaml_parse_one(y, strlen(y), NULL, &err, &v), -EINVAL);
	assert_non_null(strstr(err.msg, "duplicate mapping key \"a\""));
}

/* ------------------------------------------------------------------------ */
/* The emitter                                                              */

static void check_emit(const char *json, const char *want)
{
	json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *y;

	assert_non_null(v);
	y = yaml_emit(v);
	if (strcmp(y, want) != 0) {
		print_error("emit %s:\nwant:\n%s\ngot:\n%s\n", json, want, y);
		free(y);
		fail();
	}
	free(y);
	check_roundtrip(v, json);
	json_decref(v);
}

static void test_emit_exact(void **state)
{
	check_emit("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"web\", "
		   "\"annotations\": {\"port\": \"80\", \"on\": \"yes\"}}, \"spec\": {\"ports\": "
		   "[{\"port\": 80, \"name\": \"\"}], \"selector\": {}, \"x\": [], \"w\": 0.5, "
		   "\"n\": null, \"t\": true}}",
		   "apiVersion: v1\n"
		   "kind: Service\n"
		   "metadata:\n"
		   "  name: web\n"
		   "  annotations:\n"
		   "    port: \"80\"\n"
		   "    \"on\": \"yes\"\n"
		   "spec:\n"
		   "  ports:\n"
		   "  - port: 80\n"
		   "    name: \"\"\n"
		   "  selector: {}\n"
		   "  x: []\n"
		   "  w: 0.5\n"
		   "  \"n\": null\n"
		   "  t: true\n");
	check_emit("{\"script\": \"#!/bin/sh\\necho hi\\n\", \"nl\": \"a\\nb\", "
		   "\"cr\": \"a\\r\\nb\", \"lead\": \"  x\\ny\"}",
		   "script: |\n"
		   "  #!/bin/sh\n"
		   "  echo hi\n"
		   "nl: |-\n"
		   "  a\n"
		   "  b\n"
		   "cr: \"a\\r\\nb\"\n"
		   "lead: |2-\n"
		   "    x\n"
		   "  y\n");
	check_emit("[\"true\", \"1e3\", \"0x1F\", \"1:20\", \"<<\", \"~\", \"\", \" x\", \"a: b\", "
		   "\"- x\", \"#x\", \"x #y\", \"-x\", \"a\\u0000b\", \"\\t\", \"\\u00e9\"]",
		   "- \"true\"\n"
		   "- \"1e3\"\n"
		   "- \"0x1F\"\n"
		   "- \"1:20\"\n"
		   "- \"<<\"\n"
		   "- \"~\"\n"
		   "- \"\"\n"
		   "- ' x'\n"
		   "- 'a: b'\n"
		   "- '- x'\n"
		   "- '#x'\n"
		   "- 'x #y'\n"
		   "- -x\n"
		   "- \"a\\0b\"\n"
		   "- \"\\t\"\n"
		   "- \u00e9\n");
	check_emit("[1, -9223372036854775808, 0.1, 1e300, 2.5e-8, true, false, null]",
		   "- 1\n- -9223372036854775808\n- 0.1\n- 1e+300\n- 2.5e-08\n- true\n- false\n- null\n");
	check_emit("\"plain\"", "plain\n");
	check_emit("{}", "{}\n");
	check_emit("[]", "[]\n");
	check_emit("[[1, 2], [{\"a\": []}]]", "- - 1\n  - 2\n- - a: []\n");

	char *y = yaml_emit(NULL);

	assert_string_equal(y, "null\n");
	free(y);
}

/* A string made without UTF-8 checking is written repaired, not refused. */
static void test_emit_invalid_utf8(void **state)
{
	json_t *v = json_stringn_nocheck("a\xff" "b", 3);
	char *y = yaml_emit(v);
	json_t *back = NULL;

	assert_int_equal(yaml_parse_one(y, strlen(y), NULL, NULL, &back), 0);
	assert_string_equal(json_string_value(back), "a\xef\xbf\xbd" "b");
	json_decref(back);
	json_decref(v);
	free(y);
}

/* Every word that resolves to something else must survive as a string, a
 * key, and inside a sequence. */
static void test_emit_ambiguous_strings(void **state)
{
	static const char *words[] = {
		"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
		"false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL",
		"~", "", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "0", "-0", "+1", "1_000", "0x1F",
		"0o17", "017", "0b101", "-0b101", "08", "1e3", "1.", ".5", "1e400", "1:20", "-1:20:30.5",
		"<<", "=", "-", "?", ":", "- ", "? x", ": x", "x:", "x: y", "x #y", "#x", "&a", "*a",
		"!tag", "|", ">", "'", "\"", "%x", "@x", "`x", "[x", "]", "{x", "}", ",", "---", "...",
		"--- x", "... x", " x", "x ", "\tx", "x\t", "a\nb", "\n", "\n\n", "a\n", "a\n\n",
		" a\nb", "a \nb", "a\n b", "a\r\nb", "\xc2\x85", "\xe2\x80\xa8", "\xef\xbb\xbf",
		"\xef\xbf\xbe", "2001-12-14", "0.1.2", "1,000", "x\\y", "\\", "a'b", "a\"b",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		json_t *v = json_pack("{s:s, s:[s], s:{s:i}}", "k", words[i], "l", words[i], "m",
				      words[i], 1);

		assert_non_null(v);
		check_roundtrip(v, words[i]);
		json_t *s = json_string(words[i]);

		check_roundtrip(s, words[i]);
		json_decref(s);
		json_decref(v);
	}
}

/* kubectl quotes timestamps; YAML 1.1 readers (PyYAML) would make dates of plain ones. */
static void test_emit_quotes_timestamps(void **state)
{
	json_t *v = json_pack("{s:s, s:s}", "creationTimestamp", "2026-11-27T05:11:35Z", "day",
			      "2001-12-14");
	char *y = yaml_emit(v);

	assert_string_equal(y, "creationTimestamp: \"2026-11-27T05:11:35Z\"\nday: \"2001-12-14\"\n");
	free(y);
	json_decref(v);
}

/* ------------------------------------------------------------------------ */
/* Round trip on generated values                                           */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void gen_string(struct buf *b)
{
	static const char *pieces[] = {
		"a", "Z", " ", "  ", ":", ": ", "#", " #", "-", "- ", "?", "'", "\"", "\\", "\n", "\n\n",
		"\r", "\t", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "%", "@", "`", "yes", "no",
		"true", "null", "~", "0", "1", "0x", "1e", "5", ".", "_", "<<", "---", "...", "é", "✓",
		"\xc2\x85", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xef\xbb\xbf", "\xef\xbf\xbd", "\xf0\x9f\x98\x80",
		"\x01", "\x1f", "\x7f", "\xc2\xa0",
	};
	size_t n = rng() % 8;

	buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		if (rng() % 16 == 0) {
			char nul = '\0';

			buf_append(b, &nul, 1);
		} else {
			buf_puts(b, pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))]);
		}
	}
}

static json_t *gen_value(int depth)
{
	struct buf b;
	json_t *v;
	int kind = (int)(rng() % (depth >= 5 ? 6 : 8));

	buf_init(&b, 1 << 16);
	switch (kind) {
	case 0:
		gen_string(&b);
		v = json_stringn(b.data ? b.data : "", b.len);
		break;
	case 1: {
		static const json_int_t edge[] = { 0, 1, -1, INT64_MAX, INT64_MIN, 9007199254740993LL };

		v = json_integer(rng() % 3 ? (json_int_t)(rng() % 100000) - 50000
					   : edge[rng() % (sizeof(edge) / sizeof(edge[0]))]);
		break;
	}
	case 2: {
		double d;

		do {
			uint64_t bits = rng();

			if (rng() % 2)
				d = (double)(int64_t)(rng() % 2000000) / 64.0 - 10000.0;
			else
				memcpy(&d, &bits, sizeof(d));
		} while (!isfinite(d));
		v = json_real(d);
		break;
	}
	case 3:
		v = json_boolean(rng() % 2);
		break;
	case 4:
		v = json_null();
		break;
	case 5:
		gen_string(&b);
		v = json_stringn(b.data ? b.data : "", b.len);
		break;
	case 6: {
		size_t n = rng() % 5;

		v = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(v, gen_value(depth + 1));
		break;
	}
	default: {
		size_t n = rng() % 5;

		v = json_object();
		for (size_t i = 0; i < n; i++) {
			gen_string(&b);
			json_object_setn_new(v, b.data ? b.data : "", b.len, gen_value(depth + 1));
		}
		break;
	}
	}
	buf_free(&b);
	assert_non_null(v);
	return v;
}

static void test_roundtrip_generated(void **state)
{
	for (int i = 0; i < 4000; i++) {
		json_t *v = gen_value(i % 3 == 0 ? 5 : 0);
		char what[32];

		snprintf(what, sizeof(what), "generated #%d", i);
		check_roundtrip(v, what);
		json_decref(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_resolve_fixtures),
		cmocka_unit_test(test_refused_examples_messages),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_scalar_types),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_parse_one),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_aliases_are_copies),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_emit_exact),
		cmocka_unit_test(test_emit_invalid_utf8),
		cmocka_unit_test(test_emit_ambiguous_strings),
		cmocka_unit_test(test_emit_quotes_timestamps),
		cmocka_unit_test(test_roundtrip_generated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
