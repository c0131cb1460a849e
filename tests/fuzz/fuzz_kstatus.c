/* fuzz_kstatus.c - decoding server error bodies into typed errors
 * (kclient_error_decode), as the client does for every failed response and
 * every watch ERROR event. The first two bytes pick the HTTP code. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "kclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kclient_error err;
	json_t *body;
	long code;

	if (size < 2)
		return 0;
	code = (long)(((unsigned)data[0] << 8 | data[1]) % 1000);
	body = json_loadb((const char *)data + 2, size - 2, JSON_DECODE_ANY, NULL);
	kclient_error_decode(code, body, (const char *)data + 2, size - 2, &err);
	if (!memchr(err.message, '\0', sizeof(err.message)) || kclient_reason_errno(err.reason) > 0)
		__builtin_trap();
	(void)kclient_reason_name(err.reason);
	kclient_error_decode(0, body, NULL, 0, &err);
	json_decref(body);
	return 0;
}
