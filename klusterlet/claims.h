/* claims.h - what the klusterlet tells the hub about its cluster: OCM's
 * cluster claims and the cluster's availability.
 *
 * Claims (proto/cluster.h lease payload, and the registration request):
 *   kubeversion.open-cluster-management.io  gitVersion of the spoke's /version
 *   platform.open-cluster-management.io     from the first node's spec.providerID
 *                                           scheme (aws -> AWS, gce -> GCP,
 *                                           azure -> Azure, ...), else "Other"
 *   product.open-cluster-management.io      from gitVersion when it names one
 *                                           (-eks EKS, -gke GKE, +k3s K3s, ...), else absent
 *   nodes.nave.io                           number of Node objects
 * and the condition ManagedClusterConditionAvailable: True when the spoke's
 * /livez (or, as OCM falls back, /healthz) answers 200, False otherwise.
 * A probe that fails leaves its claim out; the others are still reported.
 */
#ifndef NAVE_KLUSTERLET_CLAIMS_H
#define NAVE_KLUSTERLET_CLAIMS_H

#include <jansson.h>

#include "kclient.h"

#define CLAIM_KUBEVERSION "kubeversion.open-cluster-management.io"
#define CLAIM_PLATFORM "platform.open-cluster-management.io"
#define CLAIM_PRODUCT "product.open-cluster-management.io"
#define CLAIM_NODES "nodes.nave.io"
#define CLAIMS_NODE_PAGE 500

struct claims_probe;

/* The probes finished: claims is an array of {name, value} (maybe empty) and
 * conditions an array with the Available condition; both borrowed for the
 * call. */
typedef void (*claims_done_fn)(void *userdata, json_t *claims, json_t *conditions);

/* Probe the cluster of kc (borrowed) on its loop. cb is called once, later,
 * unless the probe is cancelled. *ret_probe (may be NULL) stays valid until
 * cb returns. Returns 0 or -EAGAIN (the client refused a request). */
int claims_collect(struct kclient *kc, claims_done_fn cb, void *userdata,
		   struct claims_probe **ret_probe);

/* Drop a probe: cb is not called. Accepts NULL; not from inside cb. */
void claims_cancel(struct claims_probe *p);

/* The platform of a node's spec.providerID ("aws:///..."), "Other" when
 * unknown or NULL. Static storage. */
const char *claims_platform(const char *provider_id);
/* The product a gitVersion names ("v1.29.1-eks-abc" -> "EKS"), or NULL. */
const char *claims_product(const char *git_version);

#endif
