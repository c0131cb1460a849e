/* patch.h - the four ways Kubernetes changes an object, on jansson values.
 *
 * All functions leave their inputs untouched and return a new object
 * (*ret_obj, a new reference the caller json_decref()s) or a negative errno
 * with a message in err naming the path: -EINVAL for a malformed patch,
 * -ENOENT/-EINVAL for a JSON patch test or path failure, -E2BIG for limits,
 * -EBUSY for a server-side apply conflict (see ssa_apply).
 */
#ifndef NAVE_PATCH_H
#define NAVE_PATCH_H

#include <stdbool.h>

#include <jansson.h>

#include "errbuf.h"

/* RFC 7386 JSON merge patch (application/merge-patch+json). */
int patch_merge(const json_t *obj, const json_t *patch, struct errbuf *err, json_t **ret_obj);

/* RFC 6902 JSON patch (application/json-patch+json): add, remove, replace,
 * move, copy, test; at most 10,000 operations. */
int patch_json(const json_t *obj, const json_t *ops, struct errbuf *err, json_t **ret_obj);

/* Strategic merge patch (application/strategic-merge-patch+json) as
 * apimachinery's strategicpatch does it for the built-in kinds: lists merge by
 * their patch merge key (containers/initContainers/env/volumes/imagePullSecrets
 * by name, ports by containerPort, volumeMounts by mountPath, conditions by
 * type, ...), other lists replace; directives $patch (replace|merge|delete),
 * $retainKeys, $setElementOrder/<list>, $deleteFromPrimitiveList/<list>;
 * Deployment.spec.strategy retains keys. '$' keys never reach the result.
 * api_version/kind (of the object) select the schema; for kinds without one
 * (custom resources) it behaves as a JSON merge patch. */
int patch_strategic(const json_t *obj, const json_t *patch, const char *api_version,
		    const char *kind, struct errbuf *err, json_t **ret_obj);

/* Server-side apply. obj is the live object (NULL when creating), applied is
 * the manager's whole intent. Ownership is recorded in obj's
 * metadata.managedFields (FieldsV1: "f:field", "k:{merge key json}", "v:value",
 * ".") per (manager, operation, apiVersion). Fields the manager applied before
 * but omits now are removed when no other manager owns them. A field owned by
 * another manager with a different value is a conflict: -EBUSY, unless force,
 * which takes ownership; *ret_conflicts (if not NULL) then gets a new JSON
 * array of {"manager":"...","field":".spec.replicas"} the caller decrefs.
 * now_rfc3339 is the time recorded in the entry. */
int ssa_apply(const json_t *obj, const json_t *applied, const char *manager, bool force,
	      const char *now_rfc3339, struct errbuf *err, json_t **ret_conflicts, json_t **ret_obj);

/* Record an Update-operation (PUT/POST/PATCH that is not apply) by manager
 * (e.g. "kubectl-client-side-apply", "kube-controller-manager") in new_obj's
 * managedFields: the fields that differ from old_obj (NULL on create) become
 * this manager's and are taken from the others. Modifies new_obj in place. */
void ssa_record_update(const json_t *old_obj, json_t *new_obj, const char *manager,
		       const char *api_version, const char *now_rfc3339);

#endif
