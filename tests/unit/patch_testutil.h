/* patch_testutil.h - helpers shared by the patch unit tests (test_patch_*.c,
 * test_ssa.c): JSON from literal text and from fixture files under
 * NAVE_TEST_DATA/patch. They fail the running cmocka test on bad input, so a
 * test never sees NULL.
 */
#ifndef NAVE_PATCH_TESTUTIL_H
#define NAVE_PATCH_TESTUTIL_H

#include <jansson.h>

/* The test data directory: $NAVE_TEST_DATA, or "tests/data" when unset.
 * Borrowed (the environment's string or a literal). */
const char *ptest_data_dir(void);

/* Parse text (any JSON value); fails the test on a syntax error. Returns a
 * new reference the caller decrefs. */
json_t *ptest_json(const char *text);

/* The shorthand every patch test uses for ptest_json. */
#define J(text) ptest_json(text)

/* Load <data dir>/patch/<name> (any JSON value); fails the test naming the
 * file and line on an error. Returns a new reference the caller decrefs. */
json_t *ptest_load_data(const char *name);

#endif
