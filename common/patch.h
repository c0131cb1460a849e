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

/* --- added by the patch module (patch_*.c, ssa*.c) --- */

/* Limits, checked and reported as -E2BIG naming the document: a patch (or an
 * applied configuration) nests at most PATCH_MAX_DEPTH levels; an object at
 * most PATCH_MAX_OBJECT_DEPTH (so does every result); a JSON patch holds at
 * most PATCH_MAX_OPS operations whose copies together copy at most
 * PATCH_MAX_COPY_NODES JSON values. Strategic merge and apply results are
 * never larger than object plus patch. */
#define PATCH_LIMIT_DEPTH 100
#define PATCH_LIMIT_OBJECT_DEPTH 256
#define PATCH_LIMIT_OPS 10000
#define PATCH_LIMIT_COPY_NODES (1u << 20)

/* Error codes in detail. patch_json: -EINVAL for a malformed patch or
 * pointer or a failed "test", -ENOENT for a path that does not exist.
 * patch_strategic: -EINVAL for a malformed patch or directive, or a list the
 * patch cannot merge (an element without its merge key). ssa_apply: -EINVAL
 * for a configuration that is not an object, lacks apiVersion/kind, carries
 * metadata.managedFields ("metadata.managedFields must be nil"), names a
 * different kind, or has list items without their keys or duplicated keys;
 * -EBUSY for conflicts, err then holds the Status message of
 * ssa_conflict_message.
 *
 * The conflicts array of ssa_apply holds, in Kubernetes' order, one object per
 * conflicting field: {"manager", "operation" ("Apply"|"Update"),
 * "apiVersion", "subresource" (when not ""), "field" (".spec.replicas",
 * ".spec.template.spec.containers[name=\"a\"].image"), "message" ("conflict
 * with \"kubectl-client-side-apply\" using apps/v1")}.
 *
 * ssa_apply also does what kube-apiserver's field manager does around the
 * merge: the live object's managedFields are dropped if unreadable; an object
 * without any gets a "before-first-apply" Update manager owning all its
 * fields; manager "kubectl" may take over, without force, fields that
 * "kubectl.kubernetes.io/last-applied-configuration" set and that still hold
 * that value, and its applies rewrite that annotation when present; status
 * in the configuration is ignored; the server's metadata (uid,
 * resourceVersion, generation, creationTimestamp, deletionTimestamp) is
 * taken from obj, never from the configuration (check a resourceVersion
 * precondition before calling). Manager names: 1..128 bytes.
 *
 * ssa_record_update follows the apiserver too: managedFields present in
 * new_obj (e.g. set by a client's JSON patch, as kubectl's migration from
 * client-side apply does) are taken as they are; [] or [{}] reset them;
 * otherwise old_obj's are used. An existing object without managedFields is
 * not tracked (its update is not recorded). At most 10 Update entries are
 * kept; older ones merge into "ancient-changes". Invalid arguments (no
 * manager, new_obj not an object) record nothing. */

/* The Status message for a conflicts array of ssa_apply, exactly as
 * kube-apiserver words it:
 *   Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas
 *   Apply failed with 2 conflicts: conflicts with "x" using apps/v1:\n- .spec.a\n- .spec.b
 * Never NULL; the caller frees it with free(). */
char *ssa_conflict_message(const json_t *conflicts);

/* The whole 409 Status body for a conflicts array: {"kind":"Status",...,
 * "reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict",
 * "message":...,"field":...}]},"code":409}. New reference. */
json_t *ssa_conflict_status(const json_t *conflicts);

/* ssa_record_update for a write through a subresource ("status", "scale";
 * NULL or "" for the main resource). For "status" only status fields are
 * tracked; for the main resource and other subresources all but status.
 * The entry carries "subresource", and new_obj's own managedFields are
 * ignored (as Kubernetes ignores them on subresources). */
void ssa_record_update_subresource(const json_t *old_obj, json_t *new_obj, const char *manager,
				   const char *api_version, const char *subresource,
				   const char *now_rfc3339);

#endif
