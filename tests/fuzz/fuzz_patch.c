/* fuzz_patch.c - libFuzzer harness for the four patch operations.
 *
 * Input: two JSON documents separated by the first newline, the object and
 * the patch (or applied configuration). Runs JSON merge patch (and checks
 * RFC 7386 idempotence: applying the same merge patch twice changes nothing
 * more), JSON patch (when the patch is an array), strategic merge patch
 * under the object's kind (or Deployment; and checks no '$' key survives),
 * server-side apply with and without force (and checks a re-apply by the
 * same manager succeeds), and update recording (and checks a no-op update
 * leaves managedFields byte for byte, which exercises the FieldsV1
 * encode/decode round trip). Inputs are capped at 64 KiB.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "patch.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_dollar_key(const json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, c)
			if (k[0] == '$' || has_dollar_key(c))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c)
			if (has_dollar_key(c))
				return true;
	}
	return false;
}

static void check_merge(const json_t *obj, const json_t *patch)
{
	json_t *once = NULL, *twice = NULL;

	if (patch_merge(obj, patch, NULL, &once) < 0)
		return;
	if (patch_merge(once, patch, NULL, &twice) != 0 || !json_equal(once, twice))
		abort(); /* RFC 7386: merge patches are idempotent */
	json_decref(once);
	json_decref(twice);
}

static void check_strategic(const json_t *obj, const json_t *patch)
{
	static const char *const kinds[][2] = {
		{ "apps/v1", "Deployment" }, { "v1", "Pod" }, { "v1", "Service" },
		{ "batch/v1", "CronJob" }, { "v1", "ConfigMap" },
	};
	const char *av = json_string_value(json_object_get(obj, "apiVersion"));
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	bool clean = !has_dollar_key(obj);

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *a = av && kind ? av : kinds[i][0];
		const char *k = av && kind ? kind : kinds[i][1];
		bool builtin = strcmp(a, kinds[i][0]) == 0 && strcmp(k, kinds[i][1]) == 0;
		json_t *out = NULL;

		if (av && kind) {
			builtin = false;
			for (size_t j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++)
				if (strcmp(a, kinds[j][0]) == 0 && strcmp(k, kinds[j][1]) == 0)
					builtin = true;
		}
		if (patch_strategic(obj, patch, a, k, NULL, &out) == 0) {
			/* for built-in kinds no directive reaches the result */
			if (builtin && clean && has_dollar_key(out))
				abort();
			json_decref(out);
		}
		if (av && kind)
			break;
	}
}

static void check_apply(const json_t *obj, const json_t *cfg, bool force)
{
	struct errbuf err;
	json_t *out = NULL, *again = NULL, *conflicts = NULL;
	int r;

	r = ssa_apply(obj, cfg, "fuzz", force, "2024-01-01T00:00:00Z", &err, &conflicts, &out);
	if (r == -EBUSY) {
		char *msg = ssa_conflict_message(conflicts);
		json_t *st = ssa_conflict_status(conflicts);

		free(msg);
		json_decref(st);
	}
	json_decref(conflicts);
	if (r != 0)
		return;
	r = ssa_apply(out, cfg, "fuzz", true, "2024-01-01T00:00:01Z", &err, NULL, &again);
	if (r != 0 && r != -E2BIG)
		abort(); /* what applied once applies again */
	json_decref(again);
	json_decref(out);
}

static void check_update(const json_t *obj, const json_t *next_in)
{
	json_t *next, *same;
	json_t *mf1, *mf2;

	if (!json_is_object(next_in))
		return;
	next = json_deep_copy(next_in);
	ssa_record_update(json_is_object(obj) ? obj : NULL, next, "fuzz-update", "v1",
			  "2024-01-01T00:00:02Z");
	same = json_deep_copy(next);
	ssa_record_update(next, same, "fuzz-noop", "v1", "2024-01-01T00:00:03Z");
	mf1 = json_object_get(json_object_get(next, "metadata"), "managedFields");
	mf2 = json_object_get(json_object_get(same, "metadata"), "managedFields");
	/* managedFields we wrote read back to the same thing */
	if (json_is_object(json_object_get(next, "metadata")) && !json_equal(mf1, mf2) &&
	    !(mf1 == NULL && mf2 == NULL))
		abort();
	json_decref(next);
	json_decref(same);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl;
	json_t *obj, *patch;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	nl = memchr(data, '\n', size);
	if (!nl)
		return 0;
	obj = json_loadb((const char *)data, (size_t)(nl - (const char *)data), JSON_DECODE_ANY, NULL);
	patch = json_loadb(nl + 1, size - (size_t)(nl + 1 - (const char *)data), JSON_DECODE_ANY, NULL);
	if (obj && patch) {
		check_merge(obj, patch);
		if (json_is_array(patch)) {
			json_t *out = NULL;

			if (patch_json(obj, patch, NULL, &out) == 0)
				json_decref(out);
		}
		check_strategic(obj, patch);
		check_apply(json_is_object(obj) ? obj : NULL, patch, false);
		check_apply(json_is_object(obj) ? obj : NULL, patch, true);
		check_update(obj, patch);
	}
	json_decref(obj);
	json_decref(patch);
	return 0;
}
