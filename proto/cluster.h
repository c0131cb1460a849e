/* cluster.h - cluster events: lease renewal and certificate renewal.
 *
 * Lease renewal, agent -> hub, data:
 * FIELD                  TYPE     LIMIT               DESCRIPTION
 * leaseDurationSeconds   integer  1..3600             the agent renews at least this often (default 60)
 * clusterClaims[]        array    <= max_list_entries optional; replaces the cluster's claims when present
 * clusterClaims[].name   string   DNS-1123 subdomain  e.g. "kubeversion.open-cluster-management.io"
 * clusterClaims[].value  string   0..1024             the claim's value
 * conditions[]           array    <= max_conditions   optional; cluster conditions the agent probes
 *                                                     (e.g. ManagedClusterConditionAvailable from /livez)
 *
 * Certificate renewal request, agent -> hub, data:
 * request                string   <= max_pem_bytes    one PEM "CERTIFICATE REQUEST" block (PKCS#10)
 *
 * Certificate renewal response, hub -> agent, data:
 * requestID              string   1..max_id_bytes     the id of the renewal request answered
 * certificate            string   <= max_pem_bytes    PEM "CERTIFICATE" blocks: leaf first, then chain
 *
 * PEM text is checked for framing only (BEGIN/END lines, base64 body); the
 * receiver parses the DER with mbed TLS and decides (signer, subject, key).
 */
#ifndef NAVE_PROTO_CLUSTER_H
#define NAVE_PROTO_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"

#define PROTO_CLAIM_VALUE_MAX 1024
#define PROTO_LEASE_SECONDS_MAX 3600
#define PROTO_LEASE_SECONDS_DEFAULT 60

/* {"name": name, "value": value}. Caller json_decref()s. */
json_t *proto_cluster_claim(const char *name, const char *value);

/* A lease renewal; claims and conditions (arrays, may be NULL) are
 * referenced. Never NULL; caller frees with proto_event_free(). */
struct proto_event *proto_event_new_lease(const char *source, const char *clustername,
					  int64_t lease_seconds, json_t *claims, json_t *conditions);

/* A certificate renewal request carrying csr_pem (copied). Never NULL;
 * caller frees. */
struct proto_event *proto_event_new_cert_renew_request(const char *source, const char *clustername,
						       const char *csr_pem);

/* The answer to renewal request request_id: cert_pem (copied) holds the new
 * certificate then its chain. Never NULL; caller frees. */
struct proto_event *proto_event_new_cert_renew_response(const char *source, const char *clustername,
							const char *request_id, const char *cert_pem);

/* Whether s is PEM text of blocks labelled label (e.g. "CERTIFICATE"):
 * at least one block, exactly one unless multiple. */
bool proto_pem_valid(const char *s, const char *label, bool multiple);

#endif
