/* jsonpath.h - the Kubernetes JSONPath subset used by status feedback.
 *
 * Supported: ".a.b", "a.b" (leading dot optional), "{.a.b}" (braces optional),
 * "['key']" and '["key.with.dots"]', "[N]" and "[-N]", "[*]", and filters
 * "[?(@.type=="Available")]" with == and != against strings and numbers, and
 * "[?(@.x)]" (exists). Not supported (rejected, not ignored): "..", ranges,
 * unions, functions. At most 64 steps and 512 characters.
 */
#ifndef NAVE_JSONPATH_H
#define NAVE_JSONPATH_H

#include <jansson.h>

#include "errbuf.h"

struct jsonpath;

int jsonpath_compile(const char *expr, struct errbuf *err, struct jsonpath **ret_path);
/* Evaluate against root: *ret_values is a new JSON array (possibly empty) of
 * the matched values; the caller decrefs it. Returns 0 or -E2BIG (over 10,000 results). */
int jsonpath_eval(const struct jsonpath *path, const json_t *root, json_t **ret_values);
struct jsonpath *jsonpath_free(struct jsonpath *path);

#endif
