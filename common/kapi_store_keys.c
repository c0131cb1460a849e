/* kapi_store_keys.c - the "ns/name" keys store backends index objects by.
 *
 * Both backends (kapi_store_mem.c and the hub's SQLite store) keep each
 * resource's objects under "ns/name" and list them in bytewise key order, so
 * one namespace is one contiguous run of keys starting with "ns/". These two
 * helpers build a key and that prefix the same way for both. Pure functions;
 * any thread.
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "kapi_store.h"

char *kapi_store_key(const char *ns, const char *name, char *stack, size_t stack_len, size_t *ret_len)
{
	size_t ln = strlen(ns), lm = strlen(name);
	char *k = ln + lm + 2 <= stack_len ? stack : xmalloc(ln + lm + 2);

	memcpy(k, ns, ln);
	k[ln] = '/';
	memcpy(k + ln + 1, name, lm + 1);
	if (ret_len)
		*ret_len = ln + lm + 1;
	return k;
}

int kapi_store_ns_prefix(const char *ns, char *out, size_t outlen, size_t *ret_len)
{
	size_t plen = strlen(ns) + 1;

	if (plen >= outlen)
		return -ENAMETOOLONG;
	memcpy(out, ns, plen - 1);
	out[plen - 1] = '/';
	out[plen] = '\0';
	*ret_len = plen;
	return 0;
}
