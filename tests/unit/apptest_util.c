/* apptest_util.c - see apptest_util.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "alloc.h"
#include "apptest_util.h"

/* See apptest_util.h. */
const char *apptest_data_dir(void)
{
	const char *dir = getenv("NAVE_TEST_DATA");

	return dir ? dir : "tests/data";
}

/* See apptest_util.h. */
char *apptest_read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		fail_msg("cannot read %s", path);
	buf[n] = '\0';
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}
