/* apptest_util.h - helpers the application subsystem's unit tests share
 * (test_app_spec.c, test_appdef.c): where the fixtures are and reading one.
 * Both fail the running cmocka test on error rather than return one.
 */
#ifndef NAVE_APPTEST_UTIL_H
#define NAVE_APPTEST_UTIL_H

#include <stddef.h>

/* The fixture root: $NAVE_TEST_DATA, else "tests/data" (borrowed). */
const char *apptest_data_dir(void);

/* The whole file at path, NUL-terminated, its length in *ret_len (caller
 * frees). Fails the test when it cannot be opened or read. */
char *apptest_read_file(const char *path, size_t *ret_len);

#endif
