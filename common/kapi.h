/* kapi.h - the Kubernetes-style REST machinery: resources, objects, watch.
 *
 * THIS FILE IS THE CONTRACT FOR CONTROLLERS (nave-kubesim's simulated
 * controllers, the hub's controllers) and for the daemons that serve a
 * Kubernetes-style API (nave-kubesim, nave-hub). Change it only by adding.
 *
 * One struct kapi_server is one API server: a set of registered resources
 * (group, version, plural, kind, scope, verbs, subresources), a storage
 * backend (struct kapi_store, see kapi_store.h: in memory for nave-kubesim,
 * SQLite for the hub) and the watch streams of its clients. It runs on one
 * libuv loop and is not thread-safe: every call below must be made on that
 * loop's thread.
 *
 * Two ways in, one set of semantics:
 *   - the REST path: kapi_server_handle() serves an HTTP request (discovery,
 *     get/list/watch/create/update/patch/delete/deletecollection, status and
 *     scale subresources, Status errors, Tables), as in
 *     ../shared/reference/kube-api.md;
 *   - the internal API (kapi_get ... kapi_delete below) that controllers use.
 * Both go through the same engine: every committed write gets the next global
 * resourceVersion, follows the generation rules, honours finalizers and
 * deletionTimestamp, runs the resource's admission callback, reaches watch
 * streams and subscribers.
 *
 * Object ownership, in one rule:
 *   - whatever a kapi_* function hands back through ret_* (an object, a list)
 *     is the caller's own: a new reference to a private copy, modify it freely,
 *     json_decref() it;
 *   - whatever a callback receives (subscribers, kapi_foreach, admission's
 *     old object) is BORROWED and IMMUTABLE (shared with the store and the
 *     watch history): never modify it; json_incref() it to keep it past the
 *     call (it stays immutable), json_deep_copy() it to edit.
 *   - objects passed IN (kapi_create's obj, ...) are borrowed: the server
 *     copies what it keeps.
 *
 * Errors: functions return 0 (or a documented positive value) or a negative
 * errno with a message in err (may be NULL). The REST path turns them into
 * Status bodies with this mapping (kapi_status_code):
 *   -ENOENT    404 NotFound            -EEXIST  409 AlreadyExists
 *   -EBUSY     409 Conflict            -EINVAL  422 Invalid
 *   -EBADMSG   400 BadRequest          -EPERM   403 Forbidden
 *   -EACCES    401 Unauthorized        -E2BIG   413 RequestEntityTooLarge
 *   -EOPNOTSUPP 405 MethodNotAllowed   -EPROTONOSUPPORT 415 UnsupportedMediaType
 *   -ESTALE    410 Expired             -ETIMEDOUT 504 Timeout
 *   anything else 500 InternalError
 * Admission callbacks use the same codes.
 */
#ifndef NAVE_KAPI_H
#define NAVE_KAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "errbuf.h"

struct httpd_req;
struct kapi_server;
struct kapi_store;
struct kapi_sub;

/* ------------------------------------------------------------------------ */
/* Resource definitions                                                      */

enum kapi_verb {
	KAPI_VERB_GET = 1 << 0,
	KAPI_VERB_LIST = 1 << 1,
	KAPI_VERB_WATCH = 1 << 2,
	KAPI_VERB_CREATE = 1 << 3,
	KAPI_VERB_UPDATE = 1 << 4,
	KAPI_VERB_PATCH = 1 << 5,
	KAPI_VERB_DELETE = 1 << 6,
	KAPI_VERB_DELETECOLLECTION = 1 << 7,
};
#define KAPI_VERBS_ALL 0xff
/* Verbs as discovery prints them for a read-only resource. */
#define KAPI_VERBS_READ (KAPI_VERB_GET | KAPI_VERB_LIST | KAPI_VERB_WATCH)

/* When metadata.generation is set and bumped. */
enum kapi_generation {
	KAPI_GEN_NONE,             /* never set (configmaps, secrets, pods, leases, namespaces...) */
	KAPI_GEN_SPEC,             /* 1 on create; +1 when .spec changes (statefulsets, jobs, ingresses...) */
	KAPI_GEN_SPEC_ANNOTATIONS, /* +1 when .spec or metadata.annotations change (deployments) */
	KAPI_GEN_NOT_METADATA,     /* +1 when anything but metadata and status changes
				      (custom resources, customresourcedefinitions) */
};
/* In every mode but NONE, generation also goes +1 when deletionTimestamp is set. */

enum kapi_op {
	KAPI_OP_CREATE,
	KAPI_OP_UPDATE, /* PUT and every kind of PATCH, main resource or subresource */
	KAPI_OP_DELETE, /* admission sees the object about to be deleted or marked */
};

/* What an admission callback sees. All pointers borrowed for the call. */
struct kapi_admit_req {
	enum kapi_op op;
	const struct kapi_resource_def *def;
	const char *subresource;  /* NULL, "status" or "scale" */
	const json_t *old_obj;    /* NULL on create; immutable */
	json_t *new_obj;          /* the object about to be stored (NULL on delete):
				     the callback may change it (defaulting) */
	struct httpd_req *http;   /* the REST request, or NULL for the internal API */
	bool dry_run;
};
/* Validate and/or default. Return 0 to admit, or a negative errno (mapping in
 * the header comment; -EINVAL becomes 422 Invalid) with a message in err
 * naming the field ("spec.workload.manifests[2].metadata.name: Required value"). */
typedef int (*kapi_admit_fn)(void *data, const struct kapi_admit_req *req, struct errbuf *err);

/* A resource as registered. Strings are copied at registration; in the
 * server's copy every pointer is owned by the server and valid until the
 * resource is unregistered (CRD deletion) or the server is freed. */
struct kapi_resource_def {
	const char *group;       /* "" for the core group */
	const char *version;     /* "v1" */
	const char *resource;    /* plural, lowercase: "deployments" */
	const char *singular;    /* "deployment"; NULL or "" sends "" in discovery */
	const char *kind;        /* "Deployment" */
	const char *list_kind;   /* NULL means kind + "List" */
	const char *const *short_names; /* NULL-terminated array, or NULL */
	const char *const *categories;  /* NULL-terminated array ("all"), or NULL */
	bool namespaced;
	unsigned verbs;          /* enum kapi_verb bits; 0 hides it from kubectl api-resources */
	bool has_status;         /* serves <plural>/status; main-resource writes keep the stored status */
	bool has_scale;          /* serves <plural>/scale as autoscaling/v1 Scale over .spec.replicas,
				    .status.replicas and the label selector */
	const char *scale_selector_path; /* dotted path of the object-form selector for
					    Scale.status.selector; NULL: "spec.selector" */
	enum kapi_generation generation;
	bool name_is_label;      /* names must be DNS-1123 labels (namespaces, services)
				    rather than subdomains */
	bool name_is_path_segment; /* names need only be valid path segments (RBAC objects:
				      "system:aggregate-to-edit"): not "." or "..", no '/' or '%' */
	bool require_rv_on_update; /* PUT without metadata.resourceVersion is 422 (leases) */
	bool allow_create_on_update; /* PUT of a missing object creates it (201), as for leases
					and events */
	bool custom;             /* a custom resource (served from a CRD): strategic
				    merge patch is refused with 415 as Kubernetes does */
	const json_t *printer_columns; /* CRD additionalPrinterColumns for Tables; copied; may be NULL */
	kapi_admit_fn admit;     /* may be NULL; called before every commit */
	void *admit_data;
};

/* ------------------------------------------------------------------------ */
/* The server                                                                */

/* Decides whether a request may proceed, before any work. attrs are borrowed
 * for the call. Return 0 to allow, -EACCES for 401 Unauthorized, -EPERM for
 * 403 Forbidden (message in err). */
struct kapi_request_attrs {
	const char *verb;        /* "get", "list", "watch", "create", "update", "patch",
				    "delete", "deletecollection"; for non-resource paths the
				    lowercase HTTP method */
	const char *path;        /* request path, normalised */
	const struct kapi_resource_def *def; /* NULL for non-resource paths (/api, /version...) */
	const char *namespace_;  /* NULL when not namespaced */
	const char *name;        /* NULL for collections */
	const char *subresource; /* NULL, "status", "scale" */
};
typedef int (*kapi_auth_fn)(void *data, struct httpd_req *req, const struct kapi_request_attrs *attrs,
			    struct errbuf *err);

struct kapi_server_config {
	const char *server_address;  /* "127.0.0.1:7443" for /api's serverAddressByClientCIDRs; copied */
	const char *git_version;     /* /version's gitVersion; NULL: "v1.30.0"; copied */
	size_t max_body;             /* request body cap checked by kapi too; 0: 3 MiB */
	size_t max_watch_queue;      /* bytes queued per watch before the reader is dropped; 0: 4 MiB
					(httpd's own max_stream_queue applies too) */
	unsigned max_watches;        /* concurrent watch streams; 0: 10,000 */
	unsigned max_list;           /* objects one list may return without pagination cap; 0: unlimited */
	bool check_namespaces;       /* namespaced writes require an existing, non-terminating
				        namespace (404/403) when "namespaces" is registered;
				        default false: set it */
	unsigned bookmark_interval_ms; /* BOOKMARK period on watches that allow them; 0: 60 s */
	kapi_auth_fn auth;           /* NULL: everything allowed */
	void *auth_data;
};

/* Create a server on loop with store (ownership of store passes to the server:
 * kapi_server_free frees it, also on failure here). cfg is copied.
 * Registers nothing: see kapi_builtin_register() and kapi_crd_enable(). */
int kapi_server_new(uv_loop_t *loop, struct kapi_store *store, const struct kapi_server_config *cfg,
		    struct kapi_server **ret_server);
/* Close every watch stream (the loop must run afterwards to finish), drop
 * subscriptions, free resources and the store. Accepts NULL; returns NULL. */
struct kapi_server *kapi_server_free(struct kapi_server *s);
/* The loop the server runs on (borrowed): controllers set their timers on it. */
uv_loop_t *kapi_server_loop(const struct kapi_server *s);

/* Register a resource (def is copied). -EEXIST if (group, resource) is taken,
 * -EINVAL if a field is missing. Returns the server's copy in ret_def
 * (borrowed; may be NULL). */
int kapi_server_register(struct kapi_server *s, const struct kapi_resource_def *def,
			 const struct kapi_resource_def **ret_def);
/* Unregister a resource and delete all its objects (emitting DELETED to
 * watchers and subscribers, closing its watch streams). -ENOENT if unknown. */
int kapi_server_unregister(struct kapi_server *s, const char *group, const char *resource);
/* Look up a resource by (group, plural). Borrowed; NULL if unknown. */
const struct kapi_resource_def *kapi_server_find(const struct kapi_server *s, const char *group,
						 const char *resource);
/* Look up by apiVersion ("apps/v1", "v1") and kind, e.g. to follow an
 * ownerReference. Borrowed; NULL if unknown. */
const struct kapi_resource_def *kapi_server_find_kind(const struct kapi_server *s,
						      const char *api_version, const char *kind);

/* Serve one HTTP request (the httpd handler of a daemon calls this for every
 * request it does not serve itself). Always answers, now or (watch) later:
 * unknown paths get a 404 Status. */
void kapi_server_handle(struct kapi_server *s, struct httpd_req *req);

/* The current (latest committed) resourceVersion. */
uint64_t kapi_server_rv(const struct kapi_server *s);

/* Register the built-in Kubernetes resources nave-kubesim serves (namespaces,
 * configmaps, secrets, services, serviceaccounts, pods, events (core and
 * events.k8s.io), nodes, deployments, replicasets, statefulsets, daemonsets,
 * jobs, cronjobs, leases, ingresses, persistentvolumeclaims, roles,
 * rolebindings, clusterroles, clusterrolebindings) and create the namespaces
 * default, kube-system, kube-public and kube-node-lease. (kapi_builtin.c) */
int kapi_builtin_register(struct kapi_server *s);
/* Register only "namespaces" (the hub needs it for per-cluster namespaces). */
int kapi_builtin_register_namespaces(struct kapi_server *s);
/* Serve apiextensions.k8s.io/v1 customresourcedefinitions: creating one
 * registers its resource at once (discovery and serving; status
 * Established/NamesAccepted True), deleting it unregisters the resource and
 * deletes its objects. (kapi_crd.c) */
int kapi_crd_enable(struct kapi_server *s);

/* ------------------------------------------------------------------------ */
/* Change subscription                                                       */

enum kapi_event_type {
	KAPI_EVENT_ADDED,
	KAPI_EVENT_MODIFIED,
	KAPI_EVENT_DELETED,
};

/* Called after each committed change. old_obj is NULL for ADDED; new_obj is
 * NULL for DELETED (old_obj is then the last state). Both are borrowed and
 * immutable (see the ownership rule above).
 *
 * Delivery is never nested: a callback may call the internal API (create,
 * update, delete...); the changes it makes are delivered, in commit order,
 * after the current callback returns. A subscriber may unsubscribe itself (or
 * another) from its callback. */
typedef void (*kapi_sub_fn)(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
			    const json_t *old_obj, const json_t *new_obj);
/* Subscribe to every change of every resource. *ret_sub (borrowed handle,
 * owned by the server) is for kapi_server_unsubscribe. */
int kapi_server_subscribe(struct kapi_server *s, kapi_sub_fn fn, void *data, struct kapi_sub **ret_sub);
/* Stop a subscription; accepts NULL; returns NULL. */
struct kapi_sub *kapi_server_unsubscribe(struct kapi_server *s, struct kapi_sub *sub);

/* ------------------------------------------------------------------------ */
/* Internal API: the same semantics as the REST path                         */

/* Every object is addressed by (group, resource) as registered ("apps",
 * "deployments"; "" for core), namespace (NULL or "" for cluster-scoped) and
 * name. */

struct kapi_write_opts {
	const char *field_manager; /* recorded in managedFields; NULL: "nave-controller" */
	bool dry_run;              /* validate and admit, commit nothing */
	bool force;                /* server-side apply: take conflicting fields */
	bool skip_managed_fields;  /* do not record this (non-apply) write in
				      metadata.managedFields: much cheaper for high-rate
				      status writes; Kubernetes always records them */
};

/* Get one object. *ret_obj: the caller's own copy (json_decref). -ENOENT. */
int kapi_get(struct kapi_server *s, const char *group, const char *resource, const char *ns,
	     const char *name, struct errbuf *err, json_t **ret_obj);

/* List objects of a resource in ns (NULL: all namespaces) matching a label
 * selector and a field selector (string forms; NULL or "" match all).
 * *ret_items: a new JSON array of the caller's own copies, sorted by
 * namespace then name. -EINVAL for a bad selector, -ENOENT for an unknown
 * resource. */
int kapi_list(struct kapi_server *s, const char *group, const char *resource, const char *ns,
	      const char *label_selector, const char *field_selector, struct errbuf *err,
	      json_t **ret_items);

/* Call fn for each object of a resource in ns (NULL: all namespaces), in
 * namespace/name order, without copying. obj is borrowed and immutable. fn
 * must not write through the internal API (collect first, write after).
 * Returning non-zero from fn stops the walk and becomes the return value. */
typedef int (*kapi_foreach_fn)(void *data, const json_t *obj);
int kapi_foreach(struct kapi_server *s, const char *group, const char *resource, const char *ns,
		 kapi_foreach_fn fn, void *data);

/* Create obj (borrowed; apiVersion/kind may be omitted and are then filled
 * from the resource; metadata.namespace defaults to ns; generateName works).
 * Sets uid, creationTimestamp, resourceVersion, generation; status is kept as
 * given on create. -EEXIST, -ENOENT (namespace missing), -EPERM (namespace
 * terminating), -EINVAL (validation/admission). ret_obj (may be NULL) gets the
 * stored object (the caller's copy). */
int kapi_create(struct kapi_server *s, const char *group, const char *resource, const char *ns,
		const json_t *obj, const struct kapi_write_opts *opts, struct errbuf *err,
		json_t **ret_obj);

/* Replace an object (PUT semantics) with obj (borrowed, whole object).
 * Namespace and name come from obj. If obj carries metadata.resourceVersion it
 * must equal the stored one (else -EBUSY Conflict); without it the update is
 * unconditional (except for require_rv_on_update resources: -EINVAL). For
 * resources with a status subresource the stored status is kept. Emptying the
 * finalizers of an object with deletionTimestamp removes it (returns 1 then,
 * with ret_obj the last state). -ENOENT if it does not exist (the internal
 * API never creates on update). */
int kapi_update(struct kapi_server *s, const char *group, const char *resource, const json_t *obj,
		const struct kapi_write_opts *opts, struct errbuf *err, json_t **ret_obj);

/* Replace only .status (PUT .../status semantics): everything but status is
 * taken from the stored object; the resourceVersion check is as kapi_update.
 * Does not bump generation. -EOPNOTSUPP if the resource has no status
 * subresource. */
int kapi_update_status(struct kapi_server *s, const char *group, const char *resource,
		       const json_t *obj, const struct kapi_write_opts *opts, struct errbuf *err,
		       json_t **ret_obj);

enum kapi_patch_type {
	KAPI_PATCH_JSON,      /* application/json-patch+json */
	KAPI_PATCH_MERGE,     /* application/merge-patch+json */
	KAPI_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
	KAPI_PATCH_APPLY,     /* application/apply-patch+yaml: server-side apply
				 (opts->field_manager required, opts->force) */
};
/* Patch an object (PATCH semantics; subresource NULL or "status"). patch is
 * borrowed. Apply creates the object when missing (returns 1 then). An apply
 * conflict is -EBUSY with the Status message in err. */
int kapi_patch(struct kapi_server *s, const char *group, const char *resource, const char *ns,
	       const char *name, const char *subresource, enum kapi_patch_type type, const json_t *patch,
	       const struct kapi_write_opts *opts, struct errbuf *err, json_t **ret_obj);

enum kapi_propagation {
	KAPI_PROPAGATE_DEFAULT,    /* as the resource's default: Background */
	KAPI_PROPAGATE_BACKGROUND, /* delete now; the GC removes dependents later */
	KAPI_PROPAGATE_FOREGROUND, /* add finalizer "foregroundDeletion", mark deleting */
	KAPI_PROPAGATE_ORPHAN,     /* add finalizer "orphan", mark deleting */
};
struct kapi_delete_opts {
	enum kapi_propagation propagation;
	const char *precondition_uid; /* -EBUSY when set and different */
	const char *precondition_rv;  /* -EBUSY when set and different */
	bool dry_run;
};
/* Delete an object. opts may be NULL. Returns 0 when it is gone (DELETED
 * emitted), 1 when it was marked (deletionTimestamp set, finalizers pending;
 * MODIFIED emitted, or nothing if it was already marked). A namespace is
 * marked Terminating (status.phase) and kept until its spec.finalizers and
 * metadata.finalizers are empty: the namespace controller deletes its
 * contents, then removes "kubernetes" from spec.finalizers with kapi_update.
 * -ENOENT, -EBUSY (precondition), -EPERM (protected namespace).
 * ret_obj (may be NULL): the last state (0) or the marked object (1). */
int kapi_delete(struct kapi_server *s, const char *group, const char *resource, const char *ns,
		const char *name, const struct kapi_delete_opts *opts, struct errbuf *err,
		json_t **ret_obj);

/* ------------------------------------------------------------------------ */
/* Status bodies (kapi_status.c), for daemons answering outside kapi         */

/* A meta/v1 Status for a failure: code and reason from err_code (mapping
 * above), message as given. def/name (either may be NULL) fill details.
 * Returns a new reference. */
json_t *kapi_status_failure(int err_code, const char *message, const struct kapi_resource_def *def,
			    const char *name);
/* The HTTP code and reason ("NotFound") for a negative errno. */
int kapi_status_code(int err_code, const char **ret_reason);
/* Answer req with a failure Status. */
void kapi_status_respond(struct httpd_req *req, int err_code, const char *message,
			 const struct kapi_resource_def *def, const char *name);

#endif
