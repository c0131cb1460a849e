/* proto_limits.h - the caps every decoded (and encoded) event is held to.
 *
 * Everything a peer sends is bounded before it is used: the event's size on
 * the wire, the number of manifests and their total size, the feedback values
 * and their sizes, list lengths, string lengths, JSON nesting. Exceeding a cap
 * is a clear error (-E2BIG, or -EMSGSIZE for the whole event) whose message
 * names the field, never a truncation.
 *
 * Both ends use the defaults below unless configured otherwise; docs/protocol.md
 * ("Limits") lists the same values. A receiver may be more generous than a
 * sender, never stricter than the defaults without telling its peer, so a hub
 * and an agent of adjacent releases accept each other's events.
 *
 * FIELD                     DEFAULT   APPLIES TO
 * max_event_bytes           1 MiB     one event as UTF-8 JSON text on the wire
 * max_manifests             500       data.manifests[] of a spec, resourceStatus.manifests[],
 *                                     manifestConfigs[], orphaningRules[]
 * max_manifest_bytes        500 KiB   sum of the compact JSON of data.manifests[] (OCM's --manifestLimit)
 * max_feedback_values       64        statusFeedback.values[] per manifest; jsonPaths[] per rule
 * max_feedback_value_bytes  1024      a String or JsonRaw feedback value (OCM caps JsonRaw at 1024)
 * max_conditions            32        every conditions[] list
 * max_resync_entries        10000     resourceVersions[] and statusHashes[] of a resync request
 * max_list_entries          64        small lists: manifestConfigs[].feedbackRules[], conditionRules[],
 *                                     ignoreFields[], celExpressions[], clusterClaims[]
 * max_id_bytes              128       id, requestID, eventID
 * max_source_bytes          256       source, originalsource, type, software, eventType
 * max_name_bytes            253       Kubernetes names, groups, kinds, resources, feedback names
 * max_message_bytes         32768     condition messages, error messages
 * max_metadata_bytes        64 KiB    the metadata extension (work ObjectMeta as JSON text)
 * max_pem_bytes             64 KiB    CSR and certificate chain PEM
 * max_json_depth            128       nesting of any JSON value in the event (hard ceiling 512)
 */
#ifndef NAVE_PROTO_LIMITS_H
#define NAVE_PROTO_LIMITS_H

#include <stddef.h>

/* The ceiling on max_json_depth: the validators walk JSON recursively and keep
 * a path stack of this many entries. */
#define PROTO_JSON_DEPTH_HARD_MAX 512

struct proto_limits {
	size_t max_event_bytes;
	size_t max_manifests;
	size_t max_manifest_bytes;
	size_t max_feedback_values;
	size_t max_feedback_value_bytes;
	size_t max_conditions;
	size_t max_resync_entries;
	size_t max_list_entries;
	size_t max_id_bytes;
	size_t max_source_bytes;
	size_t max_name_bytes;
	size_t max_message_bytes;
	size_t max_metadata_bytes;
	size_t max_pem_bytes;
	size_t max_json_depth;
};

/* The defaults of the table above. Functions taking a const struct
 * proto_limits * use these when given NULL. */
extern const struct proto_limits proto_limits_default;

/* Fill *lim with the defaults, for callers that change a few fields. */
void proto_limits_init(struct proto_limits *lim);

#endif
