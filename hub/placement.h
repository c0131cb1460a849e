/* placement.h - OCM's Placement API on the hub (issue #9, the
 * ManifestWorkReplicaSet half of "across clusters"): the resources, the
 * placement controller that writes PlacementDecisions, and the
 * ManifestWorkReplicaSet controller that turns decisions into
 * ManifestWorks one wave at a time (hub/wave.h).
 *
 * Files: placement_resources.c (registration and admission), placement.c
 * (decisions), mwrs.c (ManifestWorkReplicaSets). Everything runs on the
 * hub's loop. docs/api.md "Placement and ManifestWorkReplicaSet" and
 * docs/ocm-compatibility.md say what is supported.
 */
#ifndef NAVE_PLACEMENT_H
#define NAVE_PLACEMENT_H

#include <stdbool.h>

#include <jansson.h>

#include "errbuf.h"

struct hub;

#define PLC_GROUP_CLUSTER "cluster.open-cluster-management.io"
#define PLC_GROUP_WORK "work.open-cluster-management.io"
#define PLC_RES_PLACEMENTS "placements"
#define PLC_RES_DECISIONS "placementdecisions"
#define PLC_RES_SETS "managedclustersets"
#define PLC_RES_BINDINGS "managedclustersetbindings"
#define PLC_RES_MWRS "manifestworkreplicasets"

/* Labels, as OCM's. */
#define PLC_LABEL_PLACEMENT "cluster.open-cluster-management.io/placement"
#define PLC_LABEL_GROUP_INDEX "cluster.open-cluster-management.io/decision-group-index"
#define PLC_LABEL_GROUP_NAME "cluster.open-cluster-management.io/decision-group-name"
#define PLC_LABEL_CLUSTERSET "cluster.open-cluster-management.io/clusterset"
#define PLC_LABEL_MWRS "work.open-cluster-management.io/manifestworkreplicaset"
#define PLC_LABEL_MWRS_PLACEMENT "work.open-cluster-management.io/placementname"
/* Taints Nave evaluates from the Available condition (see placement.c). */
#define PLC_TAINT_UNAVAILABLE "cluster.open-cluster-management.io/unavailable"
#define PLC_TAINT_UNREACHABLE "cluster.open-cluster-management.io/unreachable"
#define PLC_GLOBAL_SET "global"

/* Caps (admission refuses more, naming the field). */
#define PLC_DECISIONS_PER_OBJECT 100 /* decisions per PlacementDecision (OCM's) */
#define PLC_LIST_MAX 100             /* clusterSets, predicates, tolerations, decisionGroups, placementRefs */
#define PLC_CLUSTERS_MAX 10000       /* numberOfClusters */

/* Register Placement, PlacementDecision, ManagedClusterSet,
 * ManagedClusterSetBinding and ManifestWorkReplicaSet with their admission
 * (placement_resources.c). Returns 0 or a negative errno. */
int placement_resources_register(struct hub *h);

/* Validation without side effects (admission's checks, for tests). obj is
 * borrowed. Each returns 0 or -EINVAL with a message naming the field. */
int placement_check(const json_t *placement, struct errbuf *err);
int placement_check_mwrs(struct hub *h, const json_t *mwrs, struct errbuf *err);

/* Start the placement and ManifestWorkReplicaSet controllers (subscribe,
 * queue every object so a restarted hub resumes). Returns 0 or a negative
 * errno. placement_controllers_stop accepts a hub whose controllers never
 * started. */
int placement_controllers_start(struct hub *h);
void placement_controllers_stop(struct hub *h);

/* placement.c and mwrs.c, for placement_controllers_start: each is a
 * controller with its own subscription and timers. */
struct plc_ctl;
struct mwrs_ctl;
int plc_ctl_start(struct hub *h, struct plc_ctl **ret_ctl);
struct plc_ctl *plc_ctl_stop(struct plc_ctl *ctl);
int mwrs_ctl_start(struct hub *h, struct mwrs_ctl **ret_ctl);
struct mwrs_ctl *mwrs_ctl_stop(struct mwrs_ctl *ctl);

#endif
