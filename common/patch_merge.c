/* patch_merge.c - RFC 7386 JSON merge patch (application/merge-patch+json).
 *
 * The patch mirrors the document: members set to null are removed, objects
 * merge recursively, everything else replaces. Works on a deep copy of the
 * object, so the caller's values stay untouched. Limits: the patch nests at
 * most PATCH_MAX_DEPTH levels, the object PATCH_MAX_OBJECT_DEPTH; the result
 * is never larger than object plus patch. Pure; no state.
 */
#include <errno.h>

#include "patch.h"
#include "patch_int.h"

/* Merge patch into target (a reference this function takes over; may be
 * NULL) and return the result as a new reference. */
static json_t *merge_apply(json_t *target, const json_t *patch)
{
	const char *key;
	json_t *value;

	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
	}
	json_object_foreach((json_t *)patch, key, value) {
		json_t *cur;

		if (json_is_null(value)) {
			json_object_del(target, key);
			continue;
		}
		cur = json_incref(json_object_get(target, key));
		json_object_set_new(target, key, merge_apply(cur, value));
	}
	return target;
}

int patch_merge(const json_t *obj, const json_t *patch, struct errbuf *err, json_t **ret_obj)
{
	int r;

	if (!patch)
		return errbuf_set(err, -EINVAL, "merge patch: no patch");
	r = patch_check_inputs(obj, patch, "merge patch", err);
	if (r < 0)
		return r;
	*ret_obj = merge_apply(obj ? json_deep_copy(obj) : NULL, patch);
	return 0;
}
