/* fuzz_jsonpath.c - libFuzzer harness for common/jsonpath.
 *
 * Input: the first line is the expression, the rest a JSON document. The
 * expression is compiled; when both parse it is evaluated, and the result
 * must be an array of at most 10,000 values (else -E2BIG).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t elen = nl ? (size_t)(nl - data) : size;
	char *expr = xstrndup((const char *)data, elen);
	struct jsonpath *jp = NULL;
	struct errbuf err;
	json_t *doc = NULL, *out = NULL;
	int r;

	if (jsonpath_compile(expr, &err, &jp) != 0)
		goto out;
	if (nl)
		doc = json_loadb((const char *)nl + 1, size - elen - 1, JSON_DECODE_ANY, NULL);
	if (!doc)
		doc = json_pack("{s:{s:i, s:[{s:s, s:s}]}}", "status", "readyReplicas", 1, "conditions", "type",
				"Available", "status", "True");
	r = jsonpath_eval(jp, doc, &out);
	if (r == 0) {
		if (!json_is_array(out) || json_array_size(out) > 10000)
			abort();
		json_decref(out);
	} else if (r != -E2BIG) {
		abort();
	}
out:
	json_decref(doc);
	jsonpath_free(jp);
	free(expr);
	return 0;
}
