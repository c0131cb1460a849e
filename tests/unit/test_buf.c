/* Unit tests for common/buf and common/alloc. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "buf.h"

static void test_append_within_cap(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "hello", 5), 0);
	assert_int_equal(buf_puts(&b, "world"), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	buf_free(&b);
}

static void test_append_past_cap_leaves_buffer(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "abcdef"), 0);
	assert_int_equal(buf_puts(&b, "ghi"), -E2BIG);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "abcdef");
	assert_int_equal(buf_printf(&b, "%d", 12345), -E2BIG);
	assert_int_equal(buf_printf(&b, "%d", 12), 0);
	assert_string_equal(b.data, "abcdef12");
	/* an absurd size must not overflow the check */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -E2BIG);
	buf_free(&b);
}

static void test_grow_many(void **state)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_printf(&b, "%04d", i % 10000), 0);
	assert_int_equal(b.len, 40000);
	assert_memory_equal(b.data + 39996, "9999", 4);
	buf_free(&b);
}

static void test_steal_and_reset(void **state)
{
	struct buf b;
	size_t n;
	char *s;

	buf_init(&b, 100);
	s = buf_steal(&b, &n);
	assert_string_equal(s, "");
	assert_int_equal(n, 0);
	free(s);
	buf_puts(&b, "abc");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_puts(&b, "xyz");
	s = buf_steal(&b, &n);
	assert_string_equal(s, "xyz");
	assert_int_equal(n, 3);
	assert_null(b.data);
	free(s);
	buf_free(&b);
	buf_free(NULL);
}

static void test_alloc_helpers(void **state)
{
	char *s = xasprintf("%s-%d", "a", 7);
	char *t = xstrndup("abcdef", 3);
	int *v = xnew(int);

	assert_string_equal(s, "a-7");
	assert_string_equal(t, "abc");
	assert_int_equal(*v, 0);
	assert_null(xstrdup(NULL));
	free(s);
	free(t);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_within_cap),
		cmocka_unit_test(test_append_past_cap_leaves_buffer),
		cmocka_unit_test(test_grow_many),
		cmocka_unit_test(test_steal_and_reset),
		cmocka_unit_test(test_alloc_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
