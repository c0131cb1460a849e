/* navectl.h - what the files of navectl share.
 *
 * navectl is a short-lived command line: it connects to one hub (or any
 * Kubernetes-style API server, such as nave-kubesim) through the common
 * asynchronous client (kclient, kdiscovery, kwatch on a libuv loop) and runs
 * that loop until the operation it started has finished, so each helper here
 * is synchronous from the caller's point of view.
 *
 * Files:
 *   navectl.c          main: global flags, command dispatch, --help, exit codes
 *   navectl_client.c   kubeconfig lookup, the client, synchronous calls,
 *                      errors (message, hint, exit code), Tables, resource names
 *   navectl_print.c    tables, -o json|yaml|name, ages
 *   navectl_input.c    reading -f FILE|DIR|- into documents with file and line
 *   navectl_get.c      get (and -w), delete, describe
 *   navectl_apply.c    apply -f, delete -f
 *   navectl_hub.c      token, cluster, version (the hub's own endpoints)
 *   navectl_app.c      app ls|status|revisions|diff|rollback, workflow (issue #8)
 *   navectl_rollout.c  rollout status|pause|resume|abort|rollback (issue #9)
 *
 * Exit codes (scripts rely on them; --help and docs/operations.md say so):
 *   0 success; 1 the operation failed (NotFound, Conflict, Invalid, ...);
 *   2 usage error (unknown command or flag, missing argument);
 *   3 the hub cannot be reached or refuses the credential (no kubeconfig,
 *     connection refused, TLS failure, timeout, 401, 503).
 */
#ifndef NAVE_NAVECTL_H
#define NAVE_NAVECTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <uv.h>

#include "kclient.h"
#include "kclient_ops.h"
#include "kdiscovery.h"
#include "x509.h"

enum {
	NCTL_EXIT_OK = 0,
	NCTL_EXIT_FAILED = 1,
	NCTL_EXIT_USAGE = 2,
	NCTL_EXIT_UNREACHABLE = 3,
};

#define NCTL_FIELD_MANAGER "navectl"
#define NCTL_DEFAULT_TIMEOUT_MS 30000
#define NCTL_MAX_ARGS 4096          /* positional arguments of one command */

/* One resource as discovery describes it (navectl_client.c). */
struct nctl_resource {
	char *group;        /* owned; "" for the core group */
	char *version;      /* owned */
	char *resource;     /* owned; the plural */
	char *singular;     /* owned; singularName, or the lowercase kind when the server sent "" */
	char *kind;         /* owned */
	json_t *short_names;/* owned; array of strings (may be empty) */
	bool namespaced;
	bool preferred;     /* the group's preferred version */
};

/* The state of one run. */
struct nctl {
	/* global flags (strings borrowed from argv) */
	const char *kubeconfig;  /* --kubeconfig, or NULL */
	const char *context;     /* --context, or NULL */
	const char *namespace;   /* -n/--namespace, or NULL */
	uint64_t timeout_ms;     /* --request-timeout; per request */
	bool verbose;            /* -v: client logs at debug level */
	const char *prog;        /* "navectl get", for messages */

	/* made by nctl_connect */
	bool loop_ready;
	uv_loop_t loop;
	struct kclient *kc;      /* owned */
	struct kdiscovery *kd;   /* owned; made on first use */
	char *config_path;       /* owned; the kubeconfig file(s) in use, for messages */

	/* discovery for names (nctl_resource_find), loaded on first use */
	struct nctl_resource *res; /* owned array */
	size_t n_res;
	bool res_loaded;
};

/* The outcome of one synchronous request. */
struct nctl_resp {
	int r;                    /* 0, or a negative errno */
	long status;              /* HTTP status, 0 if none */
	json_t *body;             /* owned: the 2xx body, or the failure's Status, or NULL */
	struct kclient_error err; /* reason KCLIENT_OK on success; details/causes borrowed from body */
	char *raw;                /* owned: the body's text for KCLIENT_REQ_RAW successes, else NULL */
	size_t raw_len;
};

/* navectl.c -------------------------------------------------------------- */

/* Parse a duration of whole seconds: "90", "90s", "5m", "2h", "7d". Returns
 * 0 and *ret_s, or -EINVAL. */
int nctl_parse_duration(const char *s, int64_t *ret_s);

/* Print "PROG: message" and a pointer to --help on stderr; returns NCTL_EXIT_USAGE. */
int nctl_usage_error(const struct nctl *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The options every command accepts (navectl.c); a command's own long
 * options are appended to these by nctl_getopt. Values >= 0x1000 are
 * reserved for the global ones. */
enum {
	NCTL_OPT_KUBECONFIG = 0x1000,
	NCTL_OPT_CONTEXT,
	NCTL_OPT_TIMEOUT,
	NCTL_OPT_HELP,
	NCTL_OPT_VERBOSE,
	NCTL_OPT_NAMESPACE,
};

/* Parse argv (argv[0] is the command's name) with getopt_long over the
 * global options plus opts (terminated by a zero entry; may be NULL) and the
 * short options in shortopts (the global "n:hv" are added). Every option
 * that is not global is passed to on_opt(ud, val, optarg), which returns 0
 * or an exit code (a usage error it printed). Positional arguments are
 * returned in *ret_args (borrowed from argv; caller frees the array with
 * free()) and *ret_nargs. Returns 0, or an exit code: NCTL_EXIT_USAGE for an
 * unknown flag or missing value (printed, naming the flag), or -1 when --help
 * was asked (help, the command's help text, has been printed on stdout).
 * A command stops on any non-zero result with nctl_getopt_exit(rc). */
int nctl_getopt(struct nctl *n, int argc, char **argv, const char *shortopts,
		const struct option *opts, int (*on_opt)(void *ud, int val, const char *arg), void *ud,
		const char *help, char ***ret_args, int *ret_nargs);

/* The exit code for a non-zero nctl_getopt() result: 0 after --help. */
static inline int nctl_getopt_exit(int rc)
{
	return rc < 0 ? NCTL_EXIT_OK : rc;
}

/* navectl_client.c ------------------------------------------------------- */

/* Find the kubeconfig (--kubeconfig, $KUBECONFIG, ~/.nave/admin.kubeconfig,
 * /var/lib/nave/admin.kubeconfig), load it and make the client. Prints what
 * went wrong and what to do. Returns 0 or an exit code (NCTL_EXIT_UNREACHABLE). */
int nctl_connect(struct nctl *n);
/* Free the client, discovery and the loop. Safe to call when never connected. */
void nctl_close(struct nctl *n);
/* The kubeconfig in use (borrowed), or NULL before nctl_connect. */
struct kubeconfig *nctl_config(struct nctl *n);
/* The namespace for namespaced commands: -n, else the kubeconfig's context
 * namespace, else "default". Borrowed. */
const char *nctl_namespace(struct nctl *n);

/* Run the loop until *done is true. */
void nctl_run_until(struct nctl *n, const bool *done);

/* Synchronous forms of kclient_request and the kclient_ops verbs. Each fills
 * *ret (always; release with nctl_resp_clear) and returns ret->r. */
int nctl_request(struct nctl *n, const struct kclient_request *req, struct nctl_resp *ret);
int nctl_get(struct nctl *n, const struct kref *ref, struct nctl_resp *ret);
int nctl_list(struct nctl *n, const struct kref *ref, const struct kclient_list_opts *opts,
	      struct nctl_resp *ret);
int nctl_apply(struct nctl *n, const struct kref *ref, const json_t *obj, bool force,
	       struct nctl_resp *ret);
int nctl_patch(struct nctl *n, const struct kref *ref, enum kclient_patch_type type,
	       const json_t *patch, struct nctl_resp *ret);
int nctl_delete(struct nctl *n, const struct kref *ref, struct nctl_resp *ret);
/* GET path asking for a meta.k8s.io/v1 Table (kclient cannot set Accept, so
 * this one request is sent with libcurl's easy interface, with the same TLS
 * and credential). The body is the Table, or whatever the server sent when
 * it does not do Tables (a List or an object). */
int nctl_get_table(struct nctl *n, const char *path, struct nctl_resp *ret);
/* Release what ret holds; leaves it zeroed. Accepts NULL. */
void nctl_resp_clear(struct nctl_resp *ret);

/* Print a failed response as "Error from server (Reason): message" (or the
 * client-side failure) followed by what to do next; what (may be NULL) says
 * what was being done ("applying FILE:LINE"). Returns the exit code:
 * NCTL_EXIT_UNREACHABLE for transport failures, timeouts, 401 and 503,
 * NCTL_EXIT_FAILED otherwise. */
int nctl_report(struct nctl *n, const struct nctl_resp *resp, const char *what);
/* The exit code a response maps to (as nctl_report, without printing). */
int nctl_exit_code(const struct nctl_resp *resp);

/* Resolve a user's word for a kind: plural, singular, short name or Kind
 * (case-insensitive), optionally qualified "resource.group" or
 * "resource.version.group". Loads discovery on first use. Returns 0 and
 * *ret_res (borrowed from n), -ENOENT (printed: the server has no such
 * resource type, with a hint), or another negative errno after a failed
 * discovery (printed); *ret_exit gets the exit code to use on failure. */
int nctl_resource_find(struct nctl *n, const char *word, const struct nctl_resource **ret_res,
		       int *ret_exit);
/* Whether discovery lists any resource of api_version ("v1", "apps/v1");
 * true also when discovery itself fails (nothing can be said then). */
bool nctl_serves_group_version(struct nctl *n, const char *api_version);
/* The kdiscovery cache (made on first use; borrowed). */
struct kdiscovery *nctl_discovery(struct nctl *n);
/* Map apiVersion + kind to a resource through kdiscovery (synchronous).
 * Returns 0 and *ret_m, or a negative errno with the failure in *ret_err. */
int nctl_resolve_gvk(struct nctl *n, const char *api_version, const char *kind,
		     struct kmapping *ret_m, struct kclient_error *ret_err);

/* "managedcluster.cluster.open-cluster-management.io" (kind lowercased,
 * then the group) into out (at least 400 bytes), as kubectl names objects. Returns out. */
char *nctl_kind_group(const char *kind, const char *group, char *out);

/* navectl_print.c -------------------------------------------------------- */

enum nctl_output {
	NCTL_OUT_TABLE,
	NCTL_OUT_WIDE,
	NCTL_OUT_JSON,
	NCTL_OUT_YAML,
	NCTL_OUT_NAME,
};

/* Parse -o's value; returns 0 or -EINVAL. */
int nctl_output_parse(const char *s, enum nctl_output *ret_out);

struct nctl_table_opts {
	bool wide;            /* columns of priority > 0 too */
	bool no_headers;
	bool with_namespace;  /* a NAMESPACE column first (from each row's object) */
	bool show_labels;     /* a LABELS column last */
};

/* Column widths kept between printing a table and watch rows. */
struct nctl_table_state {
	size_t n_cols;
	size_t widths[64];
	bool printed_header;
};

/* Print a Table (meta.k8s.io/v1) as kubectl does: upper-case headers,
 * columns separated by at least three spaces. A List or single object that
 * is not a Table is printed as NAME and AGE. st (may be NULL) keeps the
 * widths for later rows (watch). Returns the number of rows printed. */
size_t nctl_print_table(FILE *out, const json_t *doc, const struct nctl_table_opts *o,
			struct nctl_table_state *st);
/* Print a single object (or List) as JSON (4-space indentation, as kubectl)
 * or YAML; managedFields are dropped unless show_managed. */
void nctl_print_object(FILE *out, const json_t *obj, enum nctl_output fmt, bool show_managed);
/* Print rows (a JSON array of arrays of cells) under header (n_cols names)
 * as an aligned table, each line starting with indent. */
void nctl_print_grid(FILE *out, const char *indent, const char *const *header, size_t n_cols,
		     const json_t *rows);
/* Print "kind.group/name" for obj, the -o name form. */
void nctl_print_name(FILE *out, const json_t *obj, const char *group);
/* A copy of obj (new reference) without metadata.managedFields. */
json_t *nctl_strip_managed(const json_t *obj);
/* Kubernetes' short age of an RFC 3339 timestamp ("5m", "2d3h") into out[16];
 * "<unknown>" when ts is NULL or unparsable. Returns out. */
char *nctl_age(const char *ts, char *out);

/* navectl_input.c -------------------------------------------------------- */

/* One object read from -f. */
struct nctl_doc {
	json_t *obj;   /* owned */
	char *file;    /* owned; "<stdin>" for "-" */
	int line;      /* 1-based line where the document starts; 0 unknown */
	int index;     /* 1-based index of the document in its file */
};

struct nctl_docs {
	struct nctl_doc *v; /* owned array */
	size_t n;
	size_t cap;
};

#define NCTL_MAX_INPUT (16u << 20)     /* bytes of one input file */
#define NCTL_MAX_DOCS 10000            /* documents over all inputs */
#define NCTL_MAX_DIR_DEPTH 32          /* -R recursion */

/* Read every -f argument (files, directories of .yaml/.yml/.json files -
 * recursively with recursive - or "-" for stdin) into docs, expanding
 * `kind: List`. Each object is checked to have apiVersion, kind and
 * metadata.name (or generateName when allow_generate_name). Errors are
 * printed as "FILE:LINE: ..." with what to do; returns 0 or -EINVAL /
 * -ENOENT / -E2BIG. */
int nctl_read_inputs(char *const *paths, size_t n_paths, bool recursive, bool allow_generate_name,
		     struct nctl_docs *docs);
/* Free the documents. Accepts NULL. */
void nctl_docs_free(struct nctl_docs *docs);

/* The -f FILE (repeatable) and -R flags that apply and delete share. */
struct nctl_inputs {
	char **files;     /* owned array of borrowed argv strings: free() it */
	size_t n_files;   /* at most NCTL_MAX_ARGS */
	bool recursive;
};

/* Take val if it is 'f' or 'R' (an nctl_getopt on_opt step). Returns 0 when
 * taken, an exit code after a usage error it printed, or -ENOENT when val is
 * another flag, for the caller to handle. */
int nctl_inputs_opt(struct nctl *n, struct nctl_inputs *in, int val, const char *arg);

/* The sha256 pin of the CA agents should trust (navectl_hub.c): from the
 * kubeconfig's CA, or fetched from the hub's /nave/v1/ca.crt when it has none
 * or skips verification (with a warning). flag ("--ca-hash") names the
 * caller's way around a failure in the hint, or is NULL. Returns 0 or an exit
 * code (printed). */
int nctl_ca_pin(struct nctl *n, const char *flag, char pin[X509_PIN_LEN + 1]);

/* Commands (each returns an exit code) ------------------------------------ */

int nctl_cmd_get(struct nctl *n, int argc, char **argv);
int nctl_cmd_delete(struct nctl *n, int argc, char **argv);
int nctl_cmd_describe(struct nctl *n, int argc, char **argv);
int nctl_cmd_apply(struct nctl *n, int argc, char **argv);
int nctl_cmd_token(struct nctl *n, int argc, char **argv);
int nctl_cmd_cluster(struct nctl *n, int argc, char **argv);
int nctl_cmd_version(struct nctl *n, int argc, char **argv);
int nctl_cmd_app(struct nctl *n, int argc, char **argv);      /* navectl_app.c */
int nctl_cmd_workflow(struct nctl *n, int argc, char **argv); /* navectl_app.c */
int nctl_cmd_rollout(struct nctl *n, int argc, char **argv);  /* navectl_rollout.c */

/* delete -f (navectl_apply.c), called by nctl_cmd_delete. files are borrowed. */
int nctl_delete_files(struct nctl *n, char *const *files, size_t n_files, bool recursive,
		      bool ignore_not_found);

/* Shared by get and the cluster/token commands (navectl_get.c): print the
 * objects of res (name NULL: the list) in fmt. Returns an exit code. */
struct nctl_get_opts {
	enum nctl_output out;
	const char *namespace;      /* NULL: cluster-scoped or every namespace */
	bool all_namespaces;
	const char *label_selector; /* NULL: all */
	const char *field_selector; /* NULL: all */
	bool watch;
	bool watch_only;
	bool no_headers;
	bool show_labels;
	bool show_managed;
	bool ignore_not_found;
};
int nctl_get_print(struct nctl *n, const struct nctl_resource *res, char *const *names, size_t n_names,
		   const struct nctl_get_opts *o);

#endif
