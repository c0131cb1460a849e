/* join.h - joining a hub with a bootstrap token (flow 2 of DESIGN.md).
 *
 *  1. GET /nave/v1/ca.crt without trusting anything yet (the CA is what we
 *     are about to trust), then check its pin: "sha256:" + hex of the SHA-256
 *     of its SubjectPublicKeyInfo must equal --ca-hash. A mismatch is refused
 *     (-EKEYREJECTED). Without a pin the join is refused too, unless the
 *     caller set insecure_skip_ca (kubeadm's and Karmada's rule).
 *  2. Make an ECDSA P-256 key and a CSR with OCM's subject
 *     (credentials.h), and POST /nave/v1/registrations with the bootstrap
 *     token, trusting only the pinned CA from here on.
 *  3. Poll GET /nave/v1/registrations/<id> with exponential backoff (1 s
 *     doubling to poll_max_ms, jittered) while it is Pending, saying so
 *     through the progress callback; Approved gives the certificate, Denied
 *     ends the join (-EACCES).
 *  4. Check the certificate (chains to the pinned CA, our key, our subject)
 *     and hand the new credential to the caller, who stores it.
 *
 * Everything runs on the loop through kclient (libcurl multi); nothing
 * blocks except the key generation (a few milliseconds, once).
 * Errors carry a message for people: a wrong pin names both pins, a refused
 * token gives the hub's reason ("bootstrap token \"abcdef\" expired at ..."),
 * an unreachable hub names the URL.
 */
#ifndef NAVE_KLUSTERLET_JOIN_H
#define NAVE_KLUSTERLET_JOIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "credentials.h"
#include "errbuf.h"

#define JOIN_POLL_MIN_MS 1000          /* the hub asks for 1 s or slower */
#define JOIN_POLL_MAX_MS 30000
#define JOIN_TOKEN_MAX 256
#define JOIN_LABELS_MAX 64             /* the hub's cap */
#define JOIN_CLAIMS_MAX 20             /* the hub's cap */

struct join_options {
	const char *hub_url;          /* required: https://HOST[:PORT] */
	const char *token;            /* required: the bootstrap token id.secret */
	const char *ca_hash;          /* "sha256:<64 hex>", or NULL with insecure_skip_ca */
	bool insecure_skip_ca;        /* trust whatever CA the hub sends (warns) */
	const char *cluster_name;     /* required: a DNS-1123 label */
	const char *agent_name;       /* NULL: a random one ("agent-" + 8 of [a-z0-9]) */
	const json_t *labels;         /* object of label -> value, or NULL */
	const json_t *claims;         /* array of {name, value}, or NULL */
	uint64_t poll_max_ms;         /* 0: JOIN_POLL_MAX_MS */
	uint64_t timeout_ms;          /* per request; 0: 30 s */
};

struct join;

/* The join finished: r is 0 and cred a new credential the callee owns (free
 * with agent_cred_free), or r is a negative errno, cred NULL and msg why. */
typedef void (*join_done_fn)(void *userdata, int r, struct agent_cred *cred, const char *msg);
/* A line for people, e.g. "waiting for an administrator to accept cluster c1:
 * run `navectl cluster accept c1` on the hub". */
typedef void (*join_progress_fn)(void *userdata, const char *msg);

/* Start joining on loop (borrowed). opts is copied. progress may be NULL.
 * done is called once, later, unless join_free comes first. Returns 0, or
 * -EINVAL naming the bad option in err (no callback). Caller frees *ret_join
 * with join_free (also after done). */
int join_start(uv_loop_t *loop, const struct join_options *opts, join_progress_fn progress,
	       join_done_fn done, void *userdata, struct errbuf *err, struct join **ret_join);

/* Stop (no callback afterwards) and free. Not from inside a join callback
 * other than done. Run the loop afterwards. Accepts NULL; returns NULL. */
struct join *join_free(struct join *j);

/* Check a --ca-hash value: "sha256:" then 64 hex digits (either case).
 * Returns 0 or -EINVAL with err set. */
int join_pin_check_syntax(const char *pin, struct errbuf *err);

/* Parse "k=v,k2=v2" labels into an object (Kubernetes label syntax is
 * checked by the hub; here: non-empty keys, at most JOIN_LABELS_MAX).
 * Caller json_decref()s *ret_labels. Returns 0 or -EINVAL. */
int join_labels_parse(const char *s, struct errbuf *err, json_t **ret_labels);

#endif
