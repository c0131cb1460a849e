/* fuzz_kubeconfig.c - kubeconfig parsing and merging (common/kubeconfig).
 *
 * The input is one kubeconfig document, or two separated by a line
 * "---8<---" (merged as KUBECONFIG=a:b would be). Relative file references
 * resolve against a directory that does not exist; absolute ones are read as
 * any kubeconfig would (capped, regular files only). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n---8<---\n";
	const char *text = (const char *)data;
	const char *cut = memmem(text, size, sep, sizeof(sep) - 1);
	struct kubeconfig_source src[2] = {
		{ .name = "a", .dir = "/nonexistent-fuzz-dir", .text = text, .len = size },
		{ .name = "b", .dir = "/nonexistent-fuzz-dir" },
	};
	struct kubeconfig *cfg = NULL;
	struct errbuf err;
	size_t n = 1;

	if (cut) {
		src[0].len = (size_t)(cut - text);
		src[1].text = cut + sizeof(sep) - 1;
		src[1].len = size - src[0].len - (sizeof(sep) - 1);
		n = 2;
	}
	if (kubeconfig_parse(src, n, NULL, &err, &cfg) == 0) {
		kubeconfig_token(cfg);
		kubeconfig_free(cfg);
	} else if (!memchr(err.msg, '\0', sizeof(err.msg))) {
		__builtin_trap(); /* messages are always terminated */
	}
	if (kubeconfig_parse(src, n, "ctx", &err, &cfg) == 0)
		kubeconfig_free(cfg);
	return 0;
}
