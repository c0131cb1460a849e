/* kclient_ops.h - the Kubernetes verbs on top of kclient.h.
 *
 * A struct kref names where an object lives (group, version, resource,
 * namespace, name, subresource); kdiscovery.h turns an apiVersion and kind
 * into one. Every operation builds the path and query, serialises the body,
 * and starts one request through kclient_request() with the caller's done
 * callback (see kclient.h for what the result holds, retries and errors).
 * Arguments are checked before anything is sent: a bad ref or option returns
 * -EINVAL at once and no callback is called.
 *
 * Which operations may be retried after a 5xx or a lost connection (kclient.h):
 * get, list and server-side apply (applying the same configuration twice gives
 * the same object). create, update, the other patches and delete are not.
 *
 *   struct kref ref = { .group = "apps", .version = "v1", .resource = "deployments",
 *                       .namespace = "default", .name = "web" };
 *   kclient_apply(kc, &ref, obj, &(struct kclient_patch_opts){ .field_manager = "nave" },
 *                 on_applied, ctx, NULL);
 */
#ifndef NAVE_KCLIENT_OPS_H
#define NAVE_KCLIENT_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "errbuf.h"
#include "kclient.h"

#define KCLIENT_LIST_PAGE 500               /* default page size of kclient_list_all */
#define KCLIENT_LIST_MAX_ITEMS 1000000      /* items kclient_list_all collects at most */
#define KCLIENT_LIST_MAX_PAGES 100000

/* Where an object (or a collection) lives. All strings borrowed. */
struct kref {
	const char *group;       /* NULL or "": the core group (/api/v1) */
	const char *version;     /* required */
	const char *resource;    /* required: the plural, "deployments" */
	const char *namespace;   /* NULL or "": cluster-scoped, or every namespace for list/watch */
	const char *name;        /* NULL: the collection */
	const char *subresource; /* NULL, "status", "scale", ... (needs name) */
};

/* Append the path of ref to out: /api/v1/namespaces/ns/pods/name/status, or
 * /apis/<group>/<version>/... Names and namespaces are checked (not empty,
 * ".", "..", no '/' or '%', at most 253 bytes) and escaped. Returns 0,
 * -EINVAL with the field in err, or -E2BIG (out's cap). */
int kref_path(const struct kref *ref, struct buf *out, struct errbuf *err);

/* The apiVersion of ref ("v1", "apps/v1") into out (at least 320 bytes). Returns out. */
char *kref_api_version(const struct kref *ref, char *out);

struct kclient_list_opts {
	const char *label_selector;   /* NULL: all */
	const char *field_selector;   /* NULL: all */
	const char *resource_version; /* NULL: the most recent */
	const char *continue_token;   /* NULL: the first page */
	unsigned limit;               /* 0: no limit (kclient_list), KCLIENT_LIST_PAGE (list_all) */
};

struct kclient_write_opts {
	const char *field_manager;    /* NULL: the server's default */
	bool dry_run;                 /* dryRun=All */
};

enum kclient_patch_type {
	KCLIENT_PATCH_JSON,           /* application/json-patch+json (RFC 6902 array) */
	KCLIENT_PATCH_MERGE,          /* application/merge-patch+json (RFC 7386) */
	KCLIENT_PATCH_STRATEGIC,      /* application/strategic-merge-patch+json */
	KCLIENT_PATCH_APPLY,          /* application/apply-patch+yaml (server-side apply; JSON body) */
};

struct kclient_patch_opts {
	const char *field_manager;    /* required for KCLIENT_PATCH_APPLY */
	bool force;                   /* apply only: take over conflicting fields */
	bool dry_run;
};

enum kclient_propagation {
	KCLIENT_PROPAGATION_DEFAULT,  /* the server's default for the kind */
	KCLIENT_PROPAGATION_BACKGROUND,
	KCLIENT_PROPAGATION_FOREGROUND,
	KCLIENT_PROPAGATION_ORPHAN,
};

struct kclient_delete_opts {
	enum kclient_propagation propagation;
	const char *precondition_uid;  /* NULL: none; else 409 Conflict when the uid differs */
	const char *precondition_rv;   /* NULL: none; else 409 Conflict when the resourceVersion differs */
	bool set_grace_period;         /* false: the object's default grace period */
	int64_t grace_period_s;        /* with set_grace_period; 0 means at once */
	bool dry_run;
};

/* GET one object (or its subresource). */
int kclient_get(struct kclient *kc, const struct kref *ref, kclient_done_fn done, void *userdata,
		struct kclient_call **ret_call);

/* One page of a list (ref->name NULL). opts may be NULL. The body is the
 * List; metadata.continue is set when there are more pages. */
int kclient_list(struct kclient *kc, const struct kref *ref, const struct kclient_list_opts *opts,
		 kclient_done_fn done, void *userdata, struct kclient_call **ret_call);

/* A list followed through every page (opts->limit is the page size). The
 * result's body is one List holding every item and the resourceVersion of
 * the last page. When the continue token expires (410) the list restarts
 * once without pages, as client-go's pager does. Caps: KCLIENT_LIST_MAX_ITEMS
 * items, KCLIENT_LIST_MAX_PAGES pages (-E2BIG). *ret_pager (may be NULL) is
 * valid until done returns; cancel with kclient_pager_cancel. */
struct kclient_pager;
int kclient_list_all(struct kclient *kc, const struct kref *ref, const struct kclient_list_opts *opts,
		     kclient_done_fn done, void *userdata, struct kclient_pager **ret_pager);
/* Stop a pager; its callback will not be called. Accepts NULL. Safe from callbacks. */
void kclient_pager_cancel(struct kclient_pager *pager);

/* POST obj to the collection of ref (ref->name NULL; or name + subresource for
 * subresources that are created, like serviceaccounts/token). opts may be NULL. */
int kclient_create(struct kclient *kc, const struct kref *ref, const json_t *obj,
		   const struct kclient_write_opts *opts, kclient_done_fn done, void *userdata,
		   struct kclient_call **ret_call);

/* PUT obj at ref (ref->name required; subresource "status" for a status
 * update). The server checks obj's metadata.resourceVersion when it is set:
 * a stale one gives KCLIENT_CONFLICT. opts may be NULL. */
int kclient_update(struct kclient *kc, const struct kref *ref, const json_t *obj,
		   const struct kclient_write_opts *opts, kclient_done_fn done, void *userdata,
		   struct kclient_call **ret_call);

/* PATCH ref with patch (an array for JSON patch, an object otherwise).
 * opts may be NULL except for KCLIENT_PATCH_APPLY (field_manager required);
 * force is refused (-EINVAL) on the other types, as the server would. */
int kclient_patch(struct kclient *kc, const struct kref *ref, enum kclient_patch_type type,
		  const json_t *patch, const struct kclient_patch_opts *opts, kclient_done_fn done,
		  void *userdata, struct kclient_call **ret_call);

/* Server-side apply of obj (KCLIENT_PATCH_APPLY); ref->name defaults to
 * obj's metadata.name when NULL. */
int kclient_apply(struct kclient *kc, const struct kref *ref, const json_t *obj,
		  const struct kclient_patch_opts *opts, kclient_done_fn done, void *userdata,
		  struct kclient_call **ret_call);

/* DELETE ref with DeleteOptions from opts (may be NULL: defaults). The body of
 * the result is a Status (gone at once) or the object (finalizers pending). */
int kclient_delete(struct kclient *kc, const struct kref *ref, const struct kclient_delete_opts *opts,
		   kclient_done_fn done, void *userdata, struct kclient_call **ret_call);

#endif
