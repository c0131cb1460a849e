/* kubesim.h - nave-kubesim's own parts, shared by main.c and cluster.c.
 *
 * One process serves several independent clusters on one libuv loop. Each
 * cluster is an in-memory kapi server (common/kapi.h) with the built-in
 * resources and CRDs, the simulated controllers (controllers.h), an HTTPS
 * listener (common/httpd.h) with its own CA and serving certificate, a bearer
 * token, and files for clients: <dir>/<name>/{kubeconfig,ca.crt,token} and,
 * on request, <in-cluster-dir>/<name>/serviceaccount/{token,ca.crt,namespace}.
 */
#ifndef NAVE_KUBESIM_H
#define NAVE_KUBESIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define KUBESIM_MAX_CLUSTERS 64
#define KUBESIM_MAX_TOKENS 1000       /* lines of a --token-file */
#define KUBESIM_TOKEN_FILE_MAX (1u << 20)
#define KUBESIM_TOKEN_MAX 1024        /* bytes of one token */

struct kubesim_opts {
	unsigned clusters;          /* number of clusters */
	char **names;               /* owned NULL-terminated cluster names */
	int base_port;              /* 0: each cluster binds a free port */
	const char *dir;            /* borrowed (argv) */
	const char *listen;         /* borrowed; "127.0.0.1" */
	bool plain_http;
	uint64_t ready_delay_ms;
	const char *fail_pattern;   /* borrowed */
	unsigned nodes;
	const char *in_cluster_dir; /* borrowed or NULL */
	const char *token_file;     /* borrowed or NULL */
	uint64_t bookmark_ms;
	size_t watch_history;
	char **tokens;              /* owned NULL-terminated tokens every cluster accepts
				       (from --token-file), or NULL */
};

struct kubesim_cluster;

/* Create one cluster listening on port (0: a free one), write its files.
 * Returns 0 or a negative errno with a message logged. */
int kubesim_cluster_new(uv_loop_t *loop, const struct kubesim_opts *opts, const char *name, int port,
			struct kubesim_cluster **ret_cluster);
/* Stop listening and free; the loop must run afterwards to finish closing.
 * Accepts NULL; returns NULL. */
struct kubesim_cluster *kubesim_cluster_free(struct kubesim_cluster *c);
/* The bound port. */
int kubesim_cluster_port(const struct kubesim_cluster *c);

/* Parse a Go-style duration ("300ms", "1s", "1.5s", "2m", "1h", "0") into
 * milliseconds. Returns 0 or -EINVAL. */
int kubesim_parse_duration(const char *s, uint64_t *ret_ms);

#endif
