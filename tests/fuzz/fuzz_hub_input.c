/* fuzz_hub_input.c - what nave-hub accepts from outside, before it acts on it.
 *
 * The first byte picks the entry point, the rest is its input:
 *   0 a ManifestWork (admission), 1 a ManagedCluster (admission and
 *   defaulting), 2 a registration body, 3 a lease payload (JSON, each); 4 a
 *   CSR (PEM, for cluster "c1": parse, signature, key, subject); 5 a
 *   duration flag; 6 a listen address; 7 a client certificate CN (identity).
 * Every refusal must carry a NUL-terminated message.
 * Registered from tests/hub/meson.build (it links the hub's core).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hub_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hub h;
	struct errbuf err = {""};
	const char *text;
	char *s;
	json_t *j;
	json_error_t je;
	int r = 0;

	if (size < 1 || size > (1u << 20))
		return 0;
	h.cfg.max_work_bytes = 4096;
	h.cfg.lease_duration_s = 10;
	text = (const char *)data + 1;
	size--;
	switch (data[0] % 8) {
	case 0: case 1: case 2: case 3:
		j = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
		if (!j)
			return 0;
		if (data[0] % 8 == 0)
			r = hub_check_work(&h, j, &err);
		else if (data[0] % 8 == 1)
			r = hub_check_cluster(&h, j, &err);
		else if (data[0] % 8 == 2)
			r = hub_check_registration(j, &err);
		else
			r = hub_check_lease(j, &err);
		json_decref(j);
		break;
	case 4:
		r = hub_check_csr(text, size, "c1", &err);
		break;
	default:
		s = malloc(size + 1);
		memcpy(s, text, size);
		s[size] = '\0';
		if (data[0] % 8 == 5) {
			int64_t secs;

			hub_parse_duration(s, &secs);
		} else if (data[0] % 8 == 6) {
			char *host = NULL;
			int port;

			if (hub_parse_listen(s, &host, &port, &err) == 0)
				free(host);
		} else {
			struct hub_identity id;

			r = hub_cluster_cert_check(&h, s, "01", &id, &err);
		}
		free(s);
		break;
	}
	if (r < 0 && (!memchr(err.msg, '\0', sizeof(err.msg)) || !err.msg[0]))
		__builtin_trap(); /* every refusal says why */
	return 0;
}
