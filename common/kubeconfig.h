/* kubeconfig.h - where a Kubernetes API server is and how to authenticate to it.
 *
 * Two sources, resolved into one flat struct kubeconfig that the REST client
 * (kclient.h) consumes:
 *
 *  - kubeconfig files, merged as kubectl merges them: KUBECONFIG may name
 *    several files joined by ':'; missing ones are skipped; for clusters,
 *    users and contexts the first file that defines a name wins; the first
 *    file that sets current-context wins. Relative paths inside a file
 *    (certificate-authority, client-certificate, client-key, tokenFile) are
 *    relative to that file's directory. Only the selected context's cluster
 *    and user are decoded, so a broken entry elsewhere does not matter (as
 *    with kubectl).
 *  - in-cluster configuration: KUBERNETES_SERVICE_HOST and _PORT, the
 *    service-account token, ca.crt and namespace files (the directory is a
 *    parameter so tests can point it elsewhere), POD_NAMESPACE; always https.
 *
 * Errors name the file and the field, as "~/.kube/config:
 * users[0].user.client-key-data: invalid base64" (the file's index of the
 * entry, $HOME shown as ~).
 *
 * Token rotation: a token read from a file (tokenFile, the service-account
 * token) is re-read by kubeconfig_token() when it is older than
 * KUBECONFIG_TOKEN_REFRESH_US, and on demand by kubeconfig_token_reload()
 * (the client calls it on a 401). The re-read is a small local file read on
 * the caller's thread, as client-go does; nothing here touches the network.
 * The period is token_refresh_us when set (tests shorten it).
 *
 * Not supported (a clear error when the selected user needs them): exec and
 * auth-provider plugins, basic auth, proxy-url, tls-server-name.
 */
#ifndef NAVE_KUBECONFIG_H
#define NAVE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"

#define KUBECONFIG_MAX_FILE (4u << 20)     /* bytes of one kubeconfig file */
#define KUBECONFIG_MAX_FILES 32            /* files in one KUBECONFIG list */
#define KUBECONFIG_MAX_PEM (1u << 20)      /* bytes of a CA, certificate or key */
#define KUBECONFIG_MAX_TOKEN (64u << 10)   /* bytes of a bearer token */
#define KUBECONFIG_MAX_SERVER 2048         /* bytes of a server URL */
#define KUBECONFIG_MAX_NAME 253            /* bytes of a namespace */
#define KUBECONFIG_TOKEN_REFRESH_US (60 * INT64_C(1000000)) /* token file re-read period */

/* The default directory of the in-cluster service-account files. */
#define KUBECONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kubeconfig {
	char *source;          /* owned; for messages: "~/.kube/config" (first file) or "in-cluster" */
	char *context;         /* owned; the selected context's name; NULL in-cluster */
	char *server;          /* owned; "https://host:port[/prefix]" without trailing '/' */
	bool insecure;         /* insecure-skip-tls-verify: no peer or host verification */
	uint8_t *ca_pem;       /* owned; NUL-terminated PEM; NULL: the system's roots */
	size_t ca_pem_len;
	uint8_t *cert_pem;     /* owned; client certificate PEM or NULL */
	size_t cert_pem_len;
	uint8_t *key_pem;      /* owned; client key PEM or NULL (set exactly when cert_pem is) */
	size_t key_pem_len;
	char *token;           /* owned; bearer token or NULL; use kubeconfig_token() */
	char *token_file;      /* owned; file the token is re-read from, or NULL for a fixed token */
	int64_t token_read_us; /* time_mono_us() of the last read of token_file */
	int64_t token_refresh_us; /* re-read period; 0: KUBECONFIG_TOKEN_REFRESH_US (tests shorten it) */
	char *namespace;       /* owned; never NULL: the context's namespace or "default" */
	bool in_cluster;
};

/* One kubeconfig document already in memory (for kubeconfig_parse).
 * name is the file name used in messages; dir is the directory relative paths
 * inside it are resolved against (NULL: the current directory). */
struct kubeconfig_source {
	const char *name;
	const char *dir;
	const char *text;
	size_t len;
};

/* Merge n in-memory kubeconfig documents (earlier wins, as kubectl) and
 * resolve context (NULL: the merged current-context). Files the documents
 * name (CA, certificate, key, token) are read from disk. An empty document is
 * an empty config. On success *ret_cfg is new; free with kubeconfig_free().
 * Errors: -EINVAL (malformed, missing or unsupported field), -ENOENT (unknown
 * context, cluster or user; a referenced file missing), -E2BIG (a cap), with
 * the file and field in err. */
int kubeconfig_parse(const struct kubeconfig_source *src, size_t n, const char *context,
		     struct errbuf *err, struct kubeconfig **ret_cfg);

/* Load kubeconfig files: paths is one path or several joined by ':' (as
 * KUBECONFIG); with several, missing files are skipped; with one, it must
 * exist. context as in kubeconfig_parse. */
int kubeconfig_load_files(const char *paths, const char *context, struct errbuf *err,
			  struct kubeconfig **ret_cfg);

/* In-cluster configuration: server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
 * (IPv6 hosts bracketed), token and ca.crt from sa_dir (NULL: KUBECONFIG_SA_DIR),
 * namespace from $POD_NAMESPACE, else sa_dir/namespace, else "default".
 * -ENOENT when the environment variables are not both set or a file is missing. */
int kubeconfig_in_cluster(const char *sa_dir, struct errbuf *err, struct kubeconfig **ret_cfg);

/* The usual order of a controller: an explicit path (may be NULL), else
 * $KUBECONFIG, else in-cluster when KUBERNETES_SERVICE_HOST is set, else
 * ~/.kube/config. context applies to kubeconfig files only. */
int kubeconfig_load_auto(const char *path, const char *context, struct errbuf *err,
			 struct kubeconfig **ret_cfg);

/* The bearer token to send, or NULL for none. Re-reads token_file when the
 * last read is older than token_refresh_us (default KUBECONFIG_TOKEN_REFRESH_US) (a failed re-read keeps
 * the old token and logs a warning). Borrowed: valid until the next call on cfg. */
const char *kubeconfig_token(struct kubeconfig *cfg);

/* Re-read token_file now. Returns 0 and sets *ret_changed (may be NULL)
 * when the token differs from the one held; -ENOENT when there is no token
 * file; a negative errno when it cannot be read (the old token is kept). */
int kubeconfig_token_reload(struct kubeconfig *cfg, bool *ret_changed);

/* Free cfg. Accepts NULL; returns NULL. */
struct kubeconfig *kubeconfig_free(struct kubeconfig *cfg);

#endif
