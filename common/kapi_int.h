/* kapi_int.h - internals shared by the kapi_*.c files (not for other modules).
 *
 * kapi.c owns the server, the registry and routing; kapi_objects.c the write
 * engine; kapi_handlers.c the REST verbs; kapi_watch.c watch streams;
 * kapi_status.c Status bodies; kapi_discovery.c discovery documents;
 * kapi_builtin.c and kapi_crd.c the resources. All run on the server's loop.
 */
#ifndef NAVE_KAPI_INT_H
#define NAVE_KAPI_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "errbuf.h"
#include "kapi.h"
#include "kapi_store.h"

struct httpd_req;
struct kapi_watch;

#define KAPI_MAX_BODY_DEFAULT (3u << 20)
#define KAPI_FIELD_MANAGER_MAX 128
#define KAPI_DEFAULT_MANAGER "nave-controller"
#define KAPI_MAX_LIMIT 100000 /* ?limit= cap (bigger values are clamped) */

/* A registered resource. def's pointers point into this struct's owned
 * fields. Reference-counted: the registry holds one reference while
 * registered; queued notifications and watch streams hold their own. */
struct kapi_resource {
	struct kapi_resource_def def;
	int refs;
	bool registered;
	char *rkey;            /* owned: "group/resource" */
	char *group_version;   /* owned: "apps/v1" or "v1" (preferred version) */
	char **versions;       /* owned NULL-terminated: every served version, preferred first */
	char **short_names;    /* owned NULL-terminated (def.short_names points here) */
	char **categories;     /* owned NULL-terminated */
	json_t *printer_columns; /* owned or NULL */
	char *strs[8];         /* owned copies of def's strings */
	struct kapi_resource *next; /* registry order */
};

/* A subscriber (see kapi_server_subscribe). */
struct kapi_sub {
	kapi_sub_fn fn;
	void *data;
	bool dead;             /* unsubscribed while a dispatch was running */
	struct kapi_sub *next;
};

/* A change waiting for subscriber delivery. */
struct kapi_notice {
	enum kapi_event_type type;
	struct kapi_resource *res; /* reference held */
	json_t *old_obj, *new_obj; /* references held */
	struct kapi_notice *next;
};

struct kapi_server {
	uv_loop_t *loop;                 /* borrowed */
	struct kapi_store *store;        /* owned */
	struct kapi_server_config cfg;   /* string fields point to the owned copies below */
	char *server_address;            /* owned */
	char *git_version;               /* owned */
	struct kapi_resource *resources; /* owned list (one reference each) */
	struct kapi_sub *subs;           /* owned list */
	int sub_walkers;                 /* >0 while walking subs: unsubscribe only marks */
	struct kapi_notice *nq_head, *nq_tail; /* owned queue */
	bool dispatching;
	struct kapi_watch *watches;      /* owned list of open watch streams */
	unsigned n_watches;
	bool closing;
};

/* A failure with what a Status needs beyond the code and message. */
struct kapi_err {
	int code;             /* negative errno (kapi.h mapping); 0 when unset */
	struct errbuf eb;     /* the whole Status message */
	char name[256];       /* details.name ("" for none) */
	json_t *causes;       /* owned array of {reason, message, field}, or NULL */
	bool kind_in_details; /* details.kind is the Kind (Invalid) rather than the plural */
	bool no_details;      /* send no details object fields */
	const struct kapi_resource_def *def; /* details' group/kind when not the request's
						resource (a missing namespace); borrowed */
};

/* One operation's context. */
struct kapi_ctx {
	struct kapi_server *s;
	struct kapi_resource *res;
	struct httpd_req *http;   /* NULL for the internal API */
	const char *version;      /* the version the request addressed (output apiVersion) */
	const char *manager;      /* field manager for managedFields */
	bool dry_run;
	bool force;
	bool internal;            /* the internal API (keeps status on create) */
	bool manager_is_apply;    /* a server-side apply: managedFields already computed */
	bool skip_record;         /* kapi_write_opts.skip_managed_fields */
	const char *record_sub;   /* subresource recorded in managedFields ("scale"), else the
				     one written through */
	struct kapi_err *err;
};

/* kapi.c */
/* Register def served at versions (NULL-terminated, preferred first; NULL:
 * def->version only). kapi_crd.c registers multi-version resources this way. */
int kapi_server_register_versions(struct kapi_server *s, const struct kapi_resource_def *def,
				  const char *const *versions, const struct kapi_resource_def **ret_def);
void kapi_resource_unref(struct kapi_resource *r);
struct kapi_resource *kapi_resource_find(const struct kapi_server *s, const char *group, const char *resource);
/* Commit a change (assigns the rv, stores, feeds watches, queues
 * subscribers). new_obj (ADDED/MODIFIED) must be a fresh object nobody else
 * holds: its metadata.resourceVersion is set here and it becomes immutable.
 * For DELETED, the DELETED object is made from new_obj (the last state) or,
 * when NULL, from old_obj.
 * *ret_obj (may be NULL) gets a new reference to the stored/last object. */
int kapi_commit(struct kapi_server *s, struct kapi_resource *res, enum kapi_event_type type, const char *ns,
		const char *name, json_t *old_obj, json_t *new_obj, json_t **ret_obj);
bool kapi_version_served(const struct kapi_resource *res, const char *version);
/* Copy obj with apiVersion rewritten to group/version when different (custom
 * resources served at several versions). Returns a new reference (maybe obj). */
json_t *kapi_obj_for_version(const struct kapi_resource *res, const char *version, json_t *obj);
/* Parse a query boolean the way Go's strconv.ParseBool does, any case. */
int kapi_parse_bool(const char *v, bool *ret);
/* Serialize and answer. body is consumed (decref'd). */
void kapi_respond_json(struct httpd_req *req, int status, json_t *body);

/* kapi_status.c */
int kapi_err_set(struct kapi_err *e, int code, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "deployments.apps" or "configmaps" into out[300]. */
const char *kapi_qualified_resource(const struct kapi_resource_def *def, char *out);
/* "Deployment.apps" or "ConfigMap" into out[300]. */
const char *kapi_qualified_kind(const struct kapi_resource_def *def, char *out);
int kapi_err_not_found(struct kapi_err *e, const struct kapi_resource_def *def, const char *name);
int kapi_err_exists(struct kapi_err *e, const struct kapi_resource_def *def, const char *name);
int kapi_err_conflict(struct kapi_err *e, const struct kapi_resource_def *def, const char *name,
		      const char *why);
int kapi_err_forbidden(struct kapi_err *e, const struct kapi_resource_def *def, const char *name,
		       const char *why);
/* Add one cause (reason like "FieldValueInvalid", field "metadata.name"). */
void kapi_err_add_cause(struct kapi_err *e, const char *reason, const char *field, const char *message);
/* Finish an Invalid error from the causes added: "Kind.group \"name\" is invalid: ..." */
int kapi_err_invalid(struct kapi_err *e, const struct kapi_resource_def *def, const char *name);
/* Single-cause Invalid: field, then "Invalid value: ..."-style detail text. */
int kapi_err_invalid1(struct kapi_err *e, const struct kapi_resource_def *def, const char *name,
		      const char *reason, const char *field, const char *detail);
void kapi_err_clear(struct kapi_err *e);
/* The Status body for e. Returns a new reference. */
json_t *kapi_err_status(const struct kapi_err *e, const struct kapi_resource_def *def);
void kapi_err_respond(struct httpd_req *req, const struct kapi_err *e, const struct kapi_resource_def *def);
/* Status for success of a delete. New reference. */
json_t *kapi_status_success(const struct kapi_resource_def *def, const char *name, const char *uid);

/* kapi_discovery.c: serve /api, /apis, /apis/<g>, /api/v1, /apis/<g>/<v>, /version, /openapi.
 * Returns true if it answered. */
bool kapi_discovery_handle(struct kapi_server *s, struct httpd_req *req, const char *path);
/* Sort versions by Kubernetes version priority (v1 > v1beta2 > v1beta1 > v1alpha1 > other). */
int kapi_version_cmp(const char *a, const char *b);

/* kapi_objects.c: the write engine. obj arguments are owned by the callee.
 * Returns 0/1 as the public API, or err->code. *ret_obj: new reference to
 * the stored (immutable) object. */
int kapi_do_create(struct kapi_ctx *c, const char *ns, json_t *obj, json_t **ret_obj);
int kapi_do_update(struct kapi_ctx *c, const char *ns, const char *name, const char *sub, json_t *obj,
		   bool allow_create, json_t **ret_obj);
int kapi_do_patch(struct kapi_ctx *c, const char *ns, const char *name, const char *sub,
		  enum kapi_patch_type type, const json_t *patch, json_t **ret_obj);
int kapi_do_delete(struct kapi_ctx *c, const char *ns, const char *name, const struct kapi_delete_opts *o,
		   json_t **ret_obj);
/* The object as a Scale (autoscaling/v1). New reference. */
json_t *kapi_scale_from(const struct kapi_resource *res, const json_t *obj);
/* Whether ns exists; -ENOENT (404 message for the namespace), -EPERM
 * (terminating) when check_namespaces applies. */
int kapi_check_namespace(struct kapi_ctx *c, const char *ns, const char *name, bool creating);

/* kapi_handlers.c: the REST verbs for a parsed resource request. */
struct kapi_route {
	struct kapi_resource *res;
	const char *version;
	const char *ns;          /* NULL when not in the path */
	const char *name;        /* NULL for collections */
	const char *sub;         /* NULL, "status", "scale", "finalize" */
	const char *verb;
};
void kapi_handlers_serve(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt);

/* kapi_watch.c */
void kapi_watch_start(struct kapi_server *s, struct httpd_req *req, const struct kapi_route *rt);
/* Feed a committed change to the watch streams of res. */
void kapi_watch_dispatch(struct kapi_server *s, struct kapi_resource *res, const struct kapi_store_event *ev);
/* Close every stream of res (res == NULL: all). */
void kapi_watch_close_all(struct kapi_server *s, struct kapi_resource *res);

#endif
