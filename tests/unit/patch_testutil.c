/* patch_testutil.c - see patch_testutil.h. */
#include "patch_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

const char *ptest_data_dir(void)
{
	const char *dir = getenv("NAVE_TEST_DATA");

	return dir ? dir : "tests/data";
}

json_t *ptest_json(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	if (!v)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return v;
}

json_t *ptest_load_data(const char *name)
{
	char path[1024];
	json_error_t e;
	json_t *v;

	snprintf(path, sizeof(path), "%s/patch/%s", ptest_data_dir(), name);
	v = json_load_file(path, JSON_DECODE_ANY, &e);
	if (!v)
		fail_msg("%s: %s (line %d)", path, e.text, e.line);
	return v;
}
