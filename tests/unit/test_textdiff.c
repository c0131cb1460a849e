/* Unit tests for common/textdiff: the unified format (headers, hunk ranges,
 * context, joined and split hunks, empty sides, a last line without '\n'),
 * the caps (lines per side, work, output), lines that are not UTF-8, and a
 * property check on random texts: the diff applies and is minimal (its
 * deleted plus inserted lines equal n + m - 2 * LCS). */
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
#include "textdiff.h"

/* Diff texts a and b; returns the result code, the text in *ret (caller
 * frees). */
static int diff(const char *a, const char *b, size_t max_cells, char **ret)
{
	struct textdiff_lines la, lb;
	struct buf out;
	int r;

	assert_int_equal(textdiff_split(a, TEXTDIFF_LINES_MAX, &la), 0);
	assert_int_equal(textdiff_split(b, TEXTDIFF_LINES_MAX, &lb), 0);
	buf_init(&out, (size_t)-1);
	r = textdiff_unified(&la, &lb, "a", "b", max_cells, &out);
	*ret = buf_steal(&out, NULL);
	textdiff_lines_free(&la);
	textdiff_lines_free(&lb);
	return r;
}

static void expect(const char *a, const char *b, int rc, const char *want)
{
	char *got = NULL;

	assert_int_equal(diff(a, b, 0, &got), rc);
	assert_string_equal(got, want);
	free(got);
}

static void test_equal(void **state)
{
	(void)state;
	expect("", "", 0, "");
	expect("x\ny\n", "x\ny\n", 0, "");
	/* a final newline does not make a line */
	expect("x\ny", "x\ny\n", 0, "");
}

static void test_one_change(void **state)
{
	(void)state;
	expect("a\nb\nc\n", "a\nB\nc\n", 1, "--- a\n+++ b\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
	/* a hunk of one line on a side has no ",1" */
	expect("x\n", "y\n", 1, "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n");
}

static void test_empty_sides(void **state)
{
	(void)state;
	expect("", "x\ny\n", 1, "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
	expect("x\ny\n", "", 1, "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n");
	expect("\n", "", 1, "--- a\n+++ b\n@@ -1 +0,0 @@\n-\n");
}

static void test_context_and_hunks(void **state)
{
	(void)state;
	/* changes 6 equal lines apart (2 x context): one hunk */
	expect("1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n", 1,
	       "--- a\n+++ b\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n");
	/* 7 apart: two hunks, three lines of context each */
	expect("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "X\n2\n3\n4\n5\n6\n7\n8\nY\n", 1,
	       "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -6,4 +6,4 @@\n 6\n 7\n 8\n-9\n+Y\n");
	/* an insertion in the middle, context cut at three lines */
	expect("1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nnew\n5\n6\n7\n8\n", 1,
	       "--- a\n+++ b\n@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n");
	/* a run of changes shows its deletions before its insertions */
	expect("k\na\nb\nk\n", "k\nc\nd\nk\n", 1, "--- a\n+++ b\n@@ -1,4 +1,4 @@\n k\n-a\n-b\n+c\n+d\n k\n");
	/* a last line without a newline compares equal to one with it */
	expect("a\nb", "a\nc\n", 1, "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
}

static void test_not_utf8(void **state)
{
	(void)state;
	/* lines are compared as bytes */
	expect("\xff\xfe\nsame\n", "\xff\xfe\nother\n", 1, "--- a\n+++ b\n@@ -1,2 +1,2 @@\n \xff\xfe\n-same\n+other\n");
	expect("\xc3\n\xc3\n", "\xc3\n\xc3\n", 0, "");
}

static void test_split_cap(void **state)
{
	struct textdiff_lines l;
	struct buf b;
	char *text;

	(void)state;
	buf_init(&b, (size_t)-1);
	for (int i = 0; i < TEXTDIFF_LINES_MAX; i++)
		buf_printf(&b, "line %d\n", i);
	text = buf_steal(&b, NULL);
	assert_int_equal(textdiff_split(text, TEXTDIFF_LINES_MAX, &l), 0);
	assert_int_equal(l.n, TEXTDIFF_LINES_MAX);
	assert_string_equal(l.v[TEXTDIFF_LINES_MAX - 1], "line 19999");
	textdiff_lines_free(&l);
	assert_null(l.v);
	textdiff_lines_free(&l); /* twice: harmless */
	textdiff_lines_free(NULL);
	text = xrealloc(text, strlen(text) + 4);
	strcat(text, "end");
	assert_int_equal(textdiff_split(text, TEXTDIFF_LINES_MAX, &l), -E2BIG);
	assert_int_equal(l.n, 0);
	textdiff_lines_free(&l);
	free(text);
}

static void test_work_cap(void **state)
{
	char *got = NULL;

	(void)state;
	/* 3 x 3 lines left after trimming the common head and tail */
	assert_int_equal(diff("h\na\nb\nc\nt\n", "h\nx\ny\nz\nt\n", 8, &got), -ERANGE);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(diff("h\na\nb\nc\nt\n", "h\nx\ny\nz\nt\n", 9, &got), 1);
	free(got);
	/* equal texts and pure insertions cost nothing */
	assert_int_equal(diff("a\n", "a\n", 1, &got), 0);
	free(got);
	assert_int_equal(diff("a\n", "a\nb\nc\n", 1, &got), 1);
	free(got);
}

static void test_output_cap(void **state)
{
	struct textdiff_lines la, lb;
	struct buf out;

	(void)state;
	assert_int_equal(textdiff_split("a\nb\nc\n", 10, &la), 0);
	assert_int_equal(textdiff_split("a\nB\nc\n", 10, &lb), 0);
	buf_init(&out, 20);
	assert_int_equal(textdiff_unified(&la, &lb, "left", "right", 0, &out), -E2BIG);
	buf_free(&out);
	textdiff_lines_free(&la);
	textdiff_lines_free(&lb);
}

/* Apply the unified diff d to lines a (n of them); check every context and
 * deleted line; return the result as one text (caller frees). */
static char *apply(char **a, size_t n, const char *d)
{
	struct buf res;
	struct textdiff_lines dl;
	size_t ai = 0;

	buf_init(&res, (size_t)-1);
	assert_int_equal(textdiff_split(d, 1000000, &dl), 0);
	for (size_t i = 2; i < dl.n; i++) {
		const char *l = dl.v[i];

		if (!strncmp(l, "@@ -", 4)) {
			size_t start = strtoul(l + 4, NULL, 10);
			size_t to = start ? start - 1 : 0;

			/* a side of zero lines names the line before */
			if (strstr(l, ",0 +") && start)
				to = start;
			assert_true(to >= ai);
			for (; ai < to; ai++)
				buf_printf(&res, "%s\n", a[ai]);
			continue;
		}
		if (l[0] == ' ' || l[0] == '-') {
			assert_true(ai < n);
			assert_string_equal(l + 1, a[ai]);
			if (l[0] == ' ')
				buf_printf(&res, "%s\n", a[ai]);
			ai++;
		} else {
			assert_int_equal(l[0], '+');
			buf_printf(&res, "%s\n", l + 1);
		}
	}
	for (; ai < n; ai++)
		buf_printf(&res, "%s\n", a[ai]);
	textdiff_lines_free(&dl);
	return buf_steal(&res, NULL);
}

static size_t lcs_len(char **a, size_t n, char **b, size_t m)
{
	size_t *t = xcalloc((n + 1) * (m + 1), sizeof(*t)), r;

	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			size_t up = t[(i - 1) * (m + 1) + j], left = t[i * (m + 1) + j - 1];

			t[i * (m + 1) + j] = !strcmp(a[i - 1], b[j - 1]) ? t[(i - 1) * (m + 1) + j - 1] + 1
									 : up > left ? up : left;
		}
	r = t[n * (m + 1) + m];
	free(t);
	return r;
}

static char *random_text(unsigned *seed, size_t *ret_n)
{
	struct buf b;
	size_t n = (size_t)(rand_r(seed) % 40);

	buf_init(&b, (size_t)-1);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%c\n", 'a' + rand_r(seed) % 4);
	*ret_n = n;
	return buf_steal(&b, NULL);
}

static void test_random_applies_and_is_minimal(void **state)
{
	unsigned seed = 12345;

	(void)state;
	for (int k = 0; k < 500; k++) {
		struct textdiff_lines la, lb;
		struct buf out;
		size_t na, nb, changes = 0;
		char *a = random_text(&seed, &na), *b = random_text(&seed, &nb), *got;
		int r;

		assert_int_equal(textdiff_split(a, TEXTDIFF_LINES_MAX, &la), 0);
		assert_int_equal(textdiff_split(b, TEXTDIFF_LINES_MAX, &lb), 0);
		buf_init(&out, (size_t)-1);
		r = textdiff_unified(&la, &lb, "a", "b", 0, &out);
		assert_int_equal(r, strcmp(a, b) != 0);
		got = apply(la.v, la.n, out.data ? out.data : "--- a\n+++ b\n");
		assert_string_equal(got, b);
		for (const char *p = out.data; p && *p; p = strchr(p, '\n') + 1) {
			if ((p[0] == '-' && strncmp(p, "--- ", 4)) || (p[0] == '+' && strncmp(p, "+++ ", 4)))
				changes++;
		}
		assert_int_equal(changes, la.n + lb.n - 2 * lcs_len(la.v, la.n, lb.v, lb.n));
		free(got);
		buf_free(&out);
		textdiff_lines_free(&la);
		textdiff_lines_free(&lb);
		free(a);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_one_change),
		cmocka_unit_test(test_empty_sides),
		cmocka_unit_test(test_context_and_hunks),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_split_cap),
		cmocka_unit_test(test_work_cap),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_random_applies_and_is_minimal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
