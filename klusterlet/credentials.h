/* credentials.h - the klusterlet's hub credential: what join produces and
 * what the connection uses.
 *
 * A credential is the hub URL, the cluster and agent names, the hub CA
 * (PEM; the only certificate the agent trusts for the hub), the client
 * certificate the hub signed (PEM) and its ECDSA private key (PEM). It is
 * stored as the object AGENT_CRED_OBJECT of a struct agent_store (store.h),
 * one key per field:
 *
 * KEY           CONTENT                          LIMIT
 * hub-url       https://HOST[:PORT]              1..2048 bytes
 * cluster-name  DNS-1123 label                   1..63
 * agent-name    [a-z0-9.-]                       1..63
 * ca.crt        PEM CERTIFICATE (the hub CA)     X509_PEM_MAX
 * tls.crt       PEM CERTIFICATE (client)         X509_PEM_MAX
 * tls.key       PEM EC PRIVATE KEY               X509_PEM_MAX
 *
 * The client certificate's subject is OCM's: O=system:open-cluster-management:<cluster>,
 * CN=system:open-cluster-management:<cluster>:<agent>.
 */
#ifndef NAVE_KLUSTERLET_CREDENTIALS_H
#define NAVE_KLUSTERLET_CREDENTIALS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"

#define AGENT_CRED_OBJECT "nave-hub-credentials"
#define AGENT_CRED_URL_MAX 2048
#define AGENT_CRED_NAME_MAX 63
#define AGENT_SUBJECT_PREFIX "system:open-cluster-management:"

struct agent_cred {
	char *hub_url;       /* owned */
	char *cluster_name;  /* owned */
	char *agent_name;    /* owned */
	char *ca_pem;        /* owned */
	char *cert_pem;      /* owned */
	char *key_pem;       /* owned; a secret: zeroed on free */
	int64_t not_before;  /* of cert_pem, unix seconds; set by agent_cred_check */
	int64_t not_after;
};

/* Free c (zeroing the key). Accepts NULL; returns NULL. */
struct agent_cred *agent_cred_free(struct agent_cred *c);

/* A new credential from copies of the fields (any may be NULL). Never NULL;
 * caller frees with agent_cred_free. */
struct agent_cred *agent_cred_new(const char *hub_url, const char *cluster_name,
				  const char *agent_name, const char *ca_pem, const char *cert_pem,
				  const char *key_pem);

/* Read a credential from a store object's values (key -> string). Returns 0,
 * or -EINVAL naming the missing or oversized key. Caller frees *ret_c. The
 * credential is not checked: call agent_cred_check. */
int agent_cred_from_values(const json_t *values, struct errbuf *err, struct agent_cred **ret_c);

/* The store object's values for c. Caller json_decref()s. */
json_t *agent_cred_to_values(const struct agent_cred *c);

/* Check that c is usable now: every field present and well-formed, the
 * certificate parses, chains to ca_pem and is within its validity, its
 * subject is the cluster's (O and CN as above), and the key is the
 * certificate's. When want_hub / want_cluster are not NULL they must match
 * (a credential for another hub or cluster is not ours). Sets c->not_before
 * and c->not_after. Returns 0, -EINVAL (malformed, mismatch), -EKEYEXPIRED
 * (expired or not yet valid) or -EKEYREJECTED (does not chain to the CA),
 * with err saying why. */
int agent_cred_check(struct agent_cred *c, const char *want_hub, const char *want_cluster,
		     struct errbuf *err);

/* The subject for cluster and agent: CN and O (caller frees both). Returns
 * 0, or -EINVAL when a name is not valid or the CN would pass the 64 bytes
 * X.509 allows. */
int agent_cred_subject(const char *cluster, const char *agent, char **ret_cn, char **ret_org,
		       struct errbuf *err);

/* Whether s is a DNS-1123 label (1..63 of [a-z0-9-], alphanumeric ends). */
bool agent_name_is_dns_label(const char *s);

/* Whether s is an agent name: 1..63 of [a-z0-9.-]. */
bool agent_name_is_agent(const char *s);

/* "https://HOST[:PORT]" without path, query or user info, at most
 * AGENT_CRED_URL_MAX bytes. Returns 0 or -EINVAL with err naming what is
 * wrong. The optional outputs (may be NULL) get the host (brackets removed
 * from IPv6; caller frees) and the port (443 when absent). */
int agent_hub_url_parse(const char *url, struct errbuf *err, char **ret_host, int *ret_port);

#endif
