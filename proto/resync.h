/* resync.h - the resync payloads: what the agent has (spec) and what the hub
 * has (status), sent on every (re)connect.
 *
 * Spec resync request, agent -> hub, data:
 * FIELD                               TYPE     LIMIT                DESCRIPTION
 * resourceVersions[]                  array    <= max_resync_entries  one per work the agent holds; [] = none
 * resourceVersions[].resourceID       string   lowercase UUID       the work's uid; unique in the list
 * resourceVersions[].resourceVersion  integer  0..2^63-1            the generation the agent applied
 *
 * Status resync request, hub -> agent, data:
 * statusHashes[]                      array    <= max_resync_entries  one per work whose status the hub holds
 * statusHashes[].resourceID           string   lowercase UUID       unique in the list
 * statusHashes[].statusHash           string   64 lowercase hex     the statushash last persisted
 */
#ifndef NAVE_PROTO_RESYNC_H
#define NAVE_PROTO_RESYNC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"
#include "event.h"
#include "proto_limits.h"

struct proto_resource_version {
	char resourceid[PROTO_UUID_LEN + 1];
	int64_t version;
};

struct proto_status_hash {
	char resourceid[PROTO_UUID_LEN + 1];
	char hash[PROTO_STATUSHASH_LEN + 1];
};

/* {"resourceVersions":[...]} from n entries (v may be NULL when n is 0).
 * Caller json_decref()s. */
json_t *proto_resync_versions_to_json(const struct proto_resource_version *v, size_t n);
/* {"statusHashes":[...]} from n entries. Caller json_decref()s. */
json_t *proto_resync_hashes_to_json(const struct proto_status_hash *h, size_t n);

/* Read the entries of a resync payload (checked as decode does; paths start at
 * "data"). On success *ret_v is an array of *ret_n entries the caller frees
 * with free() (NULL when empty). Returns 0, -EINVAL or -E2BIG. */
int proto_resync_versions_parse(const json_t *data, const struct proto_limits *lim,
				struct errbuf *err, struct proto_resource_version **ret_v,
				size_t *ret_n);
int proto_resync_hashes_parse(const json_t *data, const struct proto_limits *lim, struct errbuf *err,
			      struct proto_status_hash **ret_h, size_t *ret_n);

/* The events. Entries are copied into the payload. Never NULL; caller frees
 * with proto_event_free(). */
struct proto_event *proto_event_new_spec_resync_request(const char *source, const char *clustername,
							const struct proto_resource_version *v,
							size_t n);
struct proto_event *proto_event_new_status_resync_request(const char *source,
							  const char *clustername,
							  const struct proto_status_hash *h,
							  size_t n);

#endif
