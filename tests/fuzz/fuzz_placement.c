/* fuzz_placement.c - the admission of OCM placement resources on the hub
 * (hub/placement.h): what a user can send as a Placement or a
 * ManifestWorkReplicaSet, before the controllers act on it.
 *
 * The first byte picks the entry point, the rest is a JSON object:
 *   even: placement_check (a Placement), odd: placement_check_mwrs (a
 *   ManifestWorkReplicaSet: placementRefs with rolloutStrategy through
 *   wave_strategy_parse, the template through hub_check_work).
 * Every refusal must carry a NUL-terminated message.
 * Registered from tests/hub/meson.build (it links the hub's core).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "hub_int.h"
#include "placement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hub h;
	struct errbuf err = {""};
	json_error_t je;
	json_t *j;
	int r;

	if (size < 1 || size > (1u << 20))
		return 0;
	h.cfg.max_work_bytes = 4096;
	j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return 0;
	if (data[0] % 2 == 0)
		r = placement_check(j, &err);
	else
		r = placement_check_mwrs(&h, j, &err);
	json_decref(j);
	if (r < 0 && (!memchr(err.msg, '\0', sizeof(err.msg)) || !err.msg[0]))
		__builtin_trap(); /* every refusal says why */
	return 0;
}
