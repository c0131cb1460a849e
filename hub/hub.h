/* hub.h - what the hub's core offers the other parts of nave-hub.
 *
 * The core (issue #5) is the store, the Kubernetes-style API, registration,
 * the CA and cluster health. The agent stream (issue #6) and later parts
 * (Applications, UI) build on it through this header only; hub_int.h is the
 * core's own business.
 *
 * All functions run on the hub's loop thread. Identity and authorization:
 *   - the cluster an agent speaks for comes from its client certificate alone:
 *     hub_cluster_cert_check() turns (CN, serial) into an identity, refusing
 *     revoked serials, unknown and unaccepted clusters; call it when a
 *     connection opens and before acting on anything it sends after a deny
 *     (or follow RevokedCertificate and ManagedCluster changes through
 *     kapi_server_subscribe to close connections at once: a deny creates one
 *     RevokedCertificate per serial, name = the serial, spec.cluster = the
 *     cluster, and sets spec.hubAcceptsClient false);
 *   - hub_authorize() answers whether an identity may do a Kubernetes-style
 *     request (a cluster: its own ManagedCluster, the ManifestWorks of its
 *     namespace, status writes only).
 * Durability: writes through the kapi internal API are durable at the end of
 * the loop turn; hub_when_durable() runs a callback once everything written
 * so far is committed (acknowledge a status update from it, never before).
 */
#ifndef NAVE_HUB_H
#define NAVE_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "errbuf.h"
#include "kapi.h"
#include "x509.h"

struct hub;
struct httpd_req;

#define HUB_CLUSTER_NAME_MAX 63    /* cluster names are DNS-1123 labels */
#define HUB_CN_PREFIX "system:open-cluster-management:"
#define HUB_ADMIN_USER "nave:admin"

enum hub_ident_kind {
	HUB_IDENT_ANONYMOUS,
	HUB_IDENT_ADMIN,     /* the admin bearer token */
	HUB_IDENT_CLUSTER,   /* a client certificate of an accepted cluster */
	HUB_IDENT_BOOTSTRAP, /* a bearer token shaped as a bootstrap token (not yet checked) */
};

struct hub_identity {
	enum hub_ident_kind kind;
	char user[X509_NAME_MAX + 1];            /* admin: HUB_ADMIN_USER; cluster: the CN;
						    bootstrap: "system:bootstrap:<id>" */
	char cluster[HUB_CLUSTER_NAME_MAX + 1];  /* cluster identities only */
	char agent[HUB_CLUSTER_NAME_MAX + 1];    /* cluster identities only */
	char serial[X509_SERIAL_HEX_MAX + 1];    /* cluster identities only */
	char token[24];                          /* bootstrap only: "<id>.<secret>" as sent */
};

/* Who sent req: the admin token, a bootstrap-shaped token, a cluster
 * certificate (checked with hub_cluster_cert_check) or nobody. Returns 0, or
 * -EACCES with the 401 message in err (wrong token, revoked or unaccepted
 * certificate...). */
int hub_authenticate(struct hub *h, struct httpd_req *req, struct hub_identity *ret_id,
		     struct errbuf *err);

/* The identity of a verified client certificate with subject CN cn and
 * serial (lowercase hex). -EACCES (with why) when the CN is not
 * "system:open-cluster-management:<cluster>:<agent>", the serial is revoked,
 * the cluster does not exist or is not accepted. */
int hub_cluster_cert_check(struct hub *h, const char *cn, const char *serial, struct hub_identity *ret_id,
			   struct errbuf *err);

/* Whether serial (lowercase hex) is on the revocation list. */
bool hub_serial_revoked(const struct hub *h, const char *serial);

/* Whether id may make the Kubernetes-style request a. field_selector is the
 * request's fieldSelector (NULL if none). Returns 0, -EACCES (anonymous,
 * bootstrap) or -EPERM (403) with a Kubernetes-style message in err. */
int hub_authorize(const struct hub *h, const struct hub_identity *id, const struct kapi_request_attrs *a,
		  const char *field_selector, struct errbuf *err);

/* A lease renewal from cluster (payload as protocol.md's lease event data:
 * leaseDurationSeconds, optional clusterClaims and conditions). Marks the
 * cluster Joined and Available; writes the ManagedCluster only when
 * something changed. Returns 0, -EINVAL (payload, message names the field),
 * -EACCES (cluster not accepted). *ret_duration (may be NULL) gets the
 * lease duration the agent should use from now on (seconds). */
int hub_lease_renew(struct hub *h, const char *cluster, const json_t *lease, int *ret_duration,
		    struct errbuf *err);

/* Renew an accepted cluster's client certificate from a CSR (PEM, len bytes)
 * whose subject equals id's certificate subject. Returns 0, -EINVAL/-EBADMSG
 * (bad CSR), -EPERM (another subject), -EACCES (not accepted). *ret_cert_pem:
 * the new certificate, caller frees with free(). */
int hub_cert_renew(struct hub *h, const struct hub_identity *id, const char *csr_pem, size_t len,
		   char **ret_cert_pem, struct errbuf *err);

typedef void (*hub_durable_fn)(void *data);
/* Call fn(data) once every write made so far is durably committed (at the
 * end of the current loop turn, or at once when nothing is pending). */
void hub_when_durable(struct hub *h, hub_durable_fn fn, void *data);

/* Borrowed handles, valid while the hub serves. */
struct kapi_server *hub_kapi(struct hub *h);
uv_loop_t *hub_loop(struct hub *h);
/* The CA certificate, PEM (borrowed). */
const char *hub_ca_pem(const struct hub *h);

#endif
