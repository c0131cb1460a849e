/* spec.h - work (spec) events: the ManifestBundle payload and its constructors.
 *
 * A ManifestWork travels hub -> agent as a ManifestBundle, OCM's payload:
 * the work's spec with workload.manifests flattened to "manifests".
 *
 * FIELD                                  TYPE     LIMIT                 DESCRIPTION
 * manifests                              array    <= max_manifests      whole Kubernetes objects (required)
 * manifests[i].apiVersion, .kind         string   1..253                required
 * manifests[i].metadata.name             string   1..253                required
 * manifests[i].metadata.namespace        string   0..253                optional
 * (all manifests together)               bytes    <= max_manifest_bytes compact JSON, summed
 * deleteOption.propagationPolicy         string   enum                  Foreground | Orphan | SelectivelyOrphan
 * deleteOption.selectivelyOrphans.orphaningRules[]  {group, resource, name, namespace}  <= max_manifests
 * deleteOption.ttlSecondsAfterFinished   integer  >= 0
 * manifestConfigs[]                      array    <= max_manifests
 *   .resourceIdentifier                  object   {group, resource, name, namespace}; resource, name required
 *   .feedbackRules[]                     array    <= max_list_entries; {type WellKnownStatus|JSONPaths,
 *                                                 jsonPaths[] <= max_feedback_values {name, path, version}}
 *   .updateStrategy                      object   {type Update|CreateOnly|ServerSideApply|ReadOnly,
 *                                                 serverSideApply {force, fieldManager, ignoreFields[]
 *                                                 {condition OnSpokePresent|OnSpokeChange, jsonPaths[]}}}
 *   .conditionRules[]                    array    <= max_list_entries; {condition, type WellKnownConditions|CEL,
 *                                                 celExpressions[], message}
 *   .feedbackScrapeType                  string   Poll | Watch
 * executor.subject                       object   {type ServiceAccount, serviceAccount {namespace, name}}
 * Unknown members are ignored (kept in the JSON, so a newer agent sees them).
 */
#ifndef NAVE_PROTO_SPEC_H
#define NAVE_PROTO_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"
#include "event.h"
#include "proto_limits.h"

/* A ManifestBundle from a ManifestWork's spec (workload.manifests,
 * deleteOption, manifestConfigs, executor). The members are new references to
 * the spec's values, not copies: do not modify the spec while the bundle is
 * alive. A spec without manifests gives "manifests": []. Caller json_decref()s. */
json_t *proto_bundle_from_work_spec(const json_t *spec);

/* The ManifestWork spec a bundle stands for (the reverse of the above, again
 * by reference). Caller json_decref()s. */
json_t *proto_bundle_to_work_spec(const json_t *bundle);

/* The metadata extension for a work: its metadata without managedFields
 * (a new object; the values are references). NULL when work has no metadata.
 * Caller json_decref()s. */
json_t *proto_work_metadata(const json_t *work);

/* Check a bundle exactly as decoding a spec event does (message paths start
 * at "data"). Returns 0, -EINVAL or -E2BIG. */
int proto_bundle_check(const json_t *bundle, const struct proto_limits *lim, struct errbuf *err);

/* A spec event: kind is PROTO_EV_SPEC_CREATE, PROTO_EV_SPEC_UPDATE or
 * PROTO_EV_SPEC_RESYNC_RESPONSE; resourceid is the work's uid, generation its
 * metadata.generation; bundle is referenced, not copied (share one bundle
 * among all the events of one work). The strings are copied. Never NULL;
 * caller frees with proto_event_free(). Validity is checked by encode. */
struct proto_event *proto_event_new_spec(enum proto_event_kind kind, const char *source,
					 const char *clustername, const char *resourceid,
					 int64_t generation, json_t *bundle);

/* A delete: kind is PROTO_EV_SPEC_DELETE, or PROTO_EV_SPEC_RESYNC_RESPONSE when
 * answering a resync for a work the hub no longer has; deletion_us is when the
 * deletion started (deletiontimestamp). No payload. Never NULL; caller frees. */
struct proto_event *proto_event_new_spec_delete(enum proto_event_kind kind, const char *source,
						const char *clustername, const char *resourceid,
						int64_t generation, int64_t deletion_us);

/* What a decoded spec event asks of the agent. */
enum proto_spec_action {
	PROTO_SPEC_APPLY,  /* apply the bundle (create, update, resync response) */
	PROTO_SPEC_DELETE, /* delete now, honouring the work's deleteOption: a delete_request, or
			    * (as OCM sends it) an update or resync response with
			    * deletiontimestamp and the bundle */
	PROTO_SPEC_EVICT,  /* a resync response with deletiontimestamp and no bundle: the hub does
			    * not know the work; keep it applied for the eviction grace period,
			    * then delete it unless it comes back */
};

/* The action of a spec event (kinds SPEC_CREATE, SPEC_UPDATE, SPEC_DELETE,
 * SPEC_RESYNC_RESPONSE; anything else reads as PROTO_SPEC_APPLY). The hub
 * builds an EVICT with proto_event_new_spec_delete(PROTO_EV_SPEC_RESYNC_RESPONSE, ...),
 * a DELETE of a work it still holds with proto_event_new_spec_delete(PROTO_EV_SPEC_DELETE, ...)
 * or with proto_event_new_spec() plus has_deletiontimestamp. */
enum proto_spec_action proto_spec_action(const struct proto_event *ev);

/* Whether proto_spec_action() is DELETE or EVICT. */
bool proto_spec_is_delete(const struct proto_event *ev);

#endif
