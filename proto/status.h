/* status.h - work status events: ManifestBundleStatus, the status hash,
 * acknowledgements.
 *
 * The agent reports a work's status agent -> hub as a ManifestBundleStatus,
 * shaped like ManifestWork.status so the hub stores it as it comes:
 *
 * FIELD                                          TYPE     LIMIT                     DESCRIPTION
 * conditions[]                                   array    <= max_conditions         work conditions (Applied, Available,
 *                                                                                   Progressing, Degraded, Deleted, ...)
 * conditions[].type                              string   1..316                    required
 * conditions[].status                            string   True|False|Unknown        required
 * conditions[].reason                            string   <= 1024                   optional
 * conditions[].message                           string   <= max_message_bytes      optional
 * conditions[].lastTransitionTime                string   RFC 3339                  optional
 * conditions[].observedGeneration                integer  >= 0                      optional
 * resourceStatus.manifests[]                     array    <= max_manifests          one per manifest
 *   .resourceMeta                                object                             required
 *   .resourceMeta.ordinal                        integer  0..max_manifests-1        index in the work's manifests
 *   .resourceMeta.{group,version,kind,resource,name,namespace}  string  <= 253     optional, may be empty
 *   .statusFeedback.values[]                     array    <= max_feedback_values
 *   .statusFeedback.values[].name                string   1..253                    required
 *   .statusFeedback.values[].fieldValue.type     string   Integer|String|Boolean|JsonRaw  required
 *   .fieldValue.integer | .string | .boolean | .jsonRaw   the member named by type, required; no other
 *                                                         value member; string and jsonRaw <= 1024 bytes
 *                                                         (max_feedback_value_bytes), jsonRaw is JSON text
 *   .conditions[]                                array    <= max_conditions         per manifest (Applied, Available,
 *                                                                                   StatusFeedbackSynced, ...)
 *
 * The status hash is SHA-256 over the canonical JSON of that whole object:
 * jansson's compact form with object keys sorted bytewise (no whitespace,
 * UTF-8 as is, only '"', '\\' and control characters escaped), in lowercase
 * hex. The agent computes it and sends it with every status; the hub stores
 * it and hands it back in a status resync request, so only the agent ever
 * compares hashes.
 */
#ifndef NAVE_PROTO_STATUS_H
#define NAVE_PROTO_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"
#include "event.h"
#include "proto_limits.h"

/* Check a ManifestBundleStatus exactly as decoding a status event does
 * (paths start at "data"). Returns 0, -EINVAL or -E2BIG. */
int proto_status_check(const json_t *status, const struct proto_limits *lim, struct errbuf *err);

/* The status hash of status into out[PROTO_STATUSHASH_LEN + 1] (lowercase
 * hex). Returns 0, or -EINVAL when status cannot be serialised. */
int proto_status_hash(const json_t *status, char *out);

/* Builders, each returning a new JSON value the caller owns (json_decref), or
 * consumes where it says "stolen". Strings are copied; NULL strings are left
 * out (but type and status of a condition are required by the check).
 *
 * A metav1.Condition; observed_generation < 0 and transition_us < 0 leave the
 * member out. */
json_t *proto_condition(const char *type, const char *status, const char *reason,
			const char *message, int64_t observed_generation, int64_t transition_us);
/* resourceMeta of one manifest. */
json_t *proto_resource_meta(int64_t ordinal, const char *group, const char *version, const char *kind,
			    const char *resource, const char *name, const char *namespace_);
/* One statusFeedback value {name, fieldValue}. */
json_t *proto_feedback_integer(const char *name, int64_t v);
json_t *proto_feedback_string(const char *name, const char *v);
json_t *proto_feedback_boolean(const char *name, bool v);
json_t *proto_feedback_json_raw(const char *name, const char *json_text);
/* One resourceStatus.manifests[] entry; resource_meta, values (an array of
 * feedback values, may be NULL) and conditions (may be NULL) are stolen. */
json_t *proto_manifest_condition(json_t *resource_meta, json_t *values, json_t *conditions);
/* A ManifestBundleStatus; conditions and manifests (arrays, may be NULL) are stolen. */
json_t *proto_bundle_status(json_t *conditions, json_t *manifests);

/* A status event: kind is PROTO_EV_STATUS_UPDATE or
 * PROTO_EV_STATUS_RESYNC_RESPONSE; generation is the work generation the
 * status describes; sequenceid (>= 1) must grow with every status the agent
 * sends, across restarts. status is referenced, not copied; the status hash
 * is computed here. Never NULL; caller frees with proto_event_free(). */
struct proto_event *proto_event_new_status(enum proto_event_kind kind, const char *source,
					   const char *clustername, const char *resourceid,
					   int64_t generation, uint64_t sequenceid, json_t *status);

/* The hub's acknowledgement of status sequenceid of work resourceid, sent
 * once the status is persisted (or known to be superseded). No payload.
 * Never NULL; caller frees with proto_event_free(). */
struct proto_event *proto_event_new_status_ack(const char *source, const char *clustername,
					       const char *resourceid, uint64_t sequenceid);

#endif
