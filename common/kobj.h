/* kobj.h - helpers over Kubernetes objects held as jansson JSON.
 *
 * All getters return borrowed pointers into the object (valid while it lives
 * and is not modified) or NULL when the field is absent or not a string.
 */
#ifndef NAVE_KOBJ_H
#define NAVE_KOBJ_H

#include <stdbool.h>

#include <jansson.h>

#include "errbuf.h"

/* A group/version/kind. Strings are borrowed from the object parsed or owned by the caller. */
struct gvk {
	const char *group;   /* "" for the core group */
	const char *version;
	const char *kind;
};

const char *kobj_api_version(const json_t *o);
const char *kobj_kind(const json_t *o);
const char *kobj_name(const json_t *o);
const char *kobj_namespace(const json_t *o);
const char *kobj_uid(const json_t *o);
const char *kobj_resource_version(const json_t *o);
/* metadata.labels / metadata.annotations object, or NULL. Borrowed. */
json_t *kobj_labels(const json_t *o);
json_t *kobj_annotations(const json_t *o);
/* A label or annotation value, or NULL. */
const char *kobj_label(const json_t *o, const char *key);
const char *kobj_annotation(const json_t *o, const char *key);
/* Set a label/annotation (creating metadata.labels as needed). */
void kobj_set_label(json_t *o, const char *key, const char *value);
void kobj_set_annotation(json_t *o, const char *key, const char *value);
/* metadata (created if absent when create is true). Borrowed. */
json_t *kobj_metadata(json_t *o, bool create);

/* Split "apps/v1" or "v1" into group and version, copying into the caller's
 * buffers (group_out and version_out of at least 254 bytes). -EINVAL if malformed. */
int kobj_split_api_version(const char *api_version, char *group_out, char *version_out);
/* Check apiVersion, kind and metadata.name are present strings (and
 * metadata.name is a valid DNS subdomain); message names the field. */
int kobj_validate_basic(const json_t *o, struct errbuf *err);
/* Whether name is a DNS-1123 subdomain (<=253, [a-z0-9.-], alnum ends). */
bool kobj_valid_subdomain(const char *name);
/* Whether name is a DNS-1123 label (<=63, [a-z0-9-], alnum ends). */
bool kobj_valid_label_name(const char *name);

/* Append an ownerReference {apiVersion, kind, name, uid, controller?, blockOwnerDeletion?}
 * unless one with the same uid is present. */
void kobj_add_owner_ref(json_t *o, const char *api_version, const char *kind, const char *name,
			const char *uid, bool controller);
/* Remove the ownerReference with this uid; returns whether one was removed. */
bool kobj_remove_owner_ref(json_t *o, const char *uid);
/* Whether o has an ownerReference with this uid. */
bool kobj_has_owner_ref(const json_t *o, const char *uid);

/* Get a nested value by a dotted path ("status.readyReplicas"); borrowed or NULL. */
json_t *kobj_get_path(const json_t *o, const char *dotted);

/* Whether a and b differ at any of the dotted paths (a NULL-terminated
 * array): present in one only, or unequal. Either object NULL: true. */
bool kobj_paths_differ(const json_t *a, const json_t *b, const char *const *paths);

/* The first object of array arr whose string member key equals value
 * (borrowed), or NULL (also when arr is not an array). */
json_t *kobj_array_find(const json_t *arr, const char *key, const char *value);

/* The entry of o's status.conditions whose type is type (borrowed), or NULL. */
json_t *kobj_condition(const json_t *o, const char *type);
/* That condition's status ("True", "False", "Unknown"; borrowed), or NULL. */
const char *kobj_condition_status(const json_t *o, const char *type);

/* ManifestWork status (OCM's shapes). The entry of work's
 * status.resourceStatus.manifests[] whose resourceMeta has this group and
 * kind and, when given (non-NULL), namespace and name; the first such entry
 * after *pos (start with 0; *pos is advanced past the entry returned, so a
 * loop walks every match). Borrowed, or NULL when there is none. */
const json_t *kobj_work_manifest_status(const json_t *work, const char *group, const char *kind, const char *ns,
					const char *name, size_t *pos);
/* The status feedback of a manifest status entry as one object, name ->
 * value (the integer, string, boolean or jsonRaw of each fieldValue).
 * A new object (caller decrefs); empty when there is none. */
json_t *kobj_feedback_values(const json_t *manifest_status);

#endif
