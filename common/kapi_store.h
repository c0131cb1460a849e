/* kapi_store.h - the storage backend under a kapi_server.
 *
 * A store holds the current objects of every resource, keyed by
 * (resource key, namespace, name), the global resourceVersion counter, and a
 * window of recent changes for watch resume. The kapi engine decides what to
 * write (it has already checked resourceVersions, finalizers, admission) and
 * hands the store one committed change at a time; the store never interprets
 * object content. Backends: kapi_store_mem.c (in memory, nave-kubesim) and the
 * hub's SQLite store; an etcd backend would implement the same operations.
 *
 * Objects in a store are immutable once committed: get/list hand out new
 * references (or borrowed pointers) that nobody modifies, so the same
 * json_t is shared by the store, the history window, watch streams and
 * subscribers without copying.
 *
 * Keys: rkey is "group/resource" ("apps/deployments", "/configmaps" for the
 * core group); ns is "" for cluster-scoped objects. Lists walk keys in
 * bytewise order of "ns/name", as etcd orders /registry/<resource>/<ns>/<name>.
 */
#ifndef NAVE_KAPI_STORE_H
#define NAVE_KAPI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kapi.h"

/* One committed change. In callbacks every pointer is borrowed for the call. */
struct kapi_store_event {
	uint64_t rv;              /* the resourceVersion this change was committed at */
	enum kapi_event_type type;
	const char *rkey;
	const char *ns;           /* "" for cluster-scoped */
	const char *name;
	json_t *old_obj;          /* NULL for ADDED; immutable */
	json_t *new_obj;          /* the stored object (DELETED: the last state with the
				     deletion's resourceVersion); immutable */
};

/* A list/walk callback: obj is borrowed and immutable. Non-zero stops the walk
 * and is returned by the walk. */
typedef int (*kapi_store_obj_fn)(void *data, const char *ns, const char *name, json_t *obj);
/* A history callback. Non-zero stops the walk and is returned. */
typedef int (*kapi_store_event_fn)(void *data, const struct kapi_store_event *ev);

struct kapi_store;

struct kapi_store_ops {
	/* *ret_obj: a new reference to the stored (immutable) object; -ENOENT. */
	int (*get)(struct kapi_store *st, const char *rkey, const char *ns, const char *name,
		   json_t **ret_obj);
	/* Make ev durable and current: ADDED/MODIFIED store ev->new_obj (the
	 * store takes its own reference), DELETED removes the key. ev->rv is
	 * kapi_store_last_rv()+1; after this returns 0, last_rv is ev->rv and the
	 * change is in the history window. A negative errno means nothing changed. */
	int (*commit)(struct kapi_store *st, const struct kapi_store_event *ev);
	/* Walk the objects of rkey in ns (NULL: every namespace), in key order,
	 * starting after the key "ns/name" given in after (NULL: from the start). */
	int (*list)(struct kapi_store *st, const char *rkey, const char *ns, const char *after,
		    kapi_store_obj_fn fn, void *data);
	/* Number of objects of rkey in ns (NULL: all). */
	size_t (*count)(struct kapi_store *st, const char *rkey, const char *ns);
	/* Walk the retained changes with rv > since_rv, oldest first. -ESTALE when
	 * changes after since_rv are no longer retained (watch: 410 Expired);
	 * *ret_oldest (may be NULL) then gets the oldest rv still available. */
	int (*history)(struct kapi_store *st, uint64_t since_rv, kapi_store_event_fn fn, void *data,
		       uint64_t *ret_oldest);
	/* The last committed resourceVersion (0 for an empty new store). */
	uint64_t (*last_rv)(struct kapi_store *st);
	/* Release everything. */
	void (*free)(struct kapi_store *st);
};

/* Backends embed this as their first member. */
struct kapi_store {
	const struct kapi_store_ops *ops;
};

struct kapi_store_mem_config {
	size_t history; /* changes kept for watch resume; 0: 4096 */
};

/* The in-memory backend: a hash index per resource, a sorted key cache for
 * lists, a ring of recent changes. cfg may be NULL. Free with the store's
 * ops->free (kapi_server_free does it). */
int kapi_store_mem_new(const struct kapi_store_mem_config *cfg, struct kapi_store **ret_store);

/* Keys shared by the backends. kapi_store_key builds "ns/name" into stack
 * (stack_len bytes) when it fits, else into a heap copy the caller frees
 * (free it when the result != stack); *ret_len (may be NULL) gets its length.
 * kapi_store_ns_prefix writes "ns/", the prefix of every key in namespace ns,
 * into out and its length into *ret_len; -ENAMETOOLONG (nothing set) when it
 * does not fit in outlen bytes with its NUL, which no valid namespace does. */
char *kapi_store_key(const char *ns, const char *name, char *stack, size_t stack_len, size_t *ret_len);
int kapi_store_ns_prefix(const char *ns, char *out, size_t outlen, size_t *ret_len);

/* A bounded ring of committed changes (holding references to the objects), for
 * backends that keep their watch window in memory (the memory store, the hub's
 * SQLite store). Zero-initialise, then kapi_history_init. */
struct kapi_history {
	struct kapi_history_entry *ring; /* owned */
	size_t cap, head, len;
	uint64_t floor_rv;               /* changes with rv <= floor_rv are no longer retained */
};
void kapi_history_init(struct kapi_history *h, size_t cap, uint64_t start_rv);
/* Record ev (copies strings, takes references to the objects). */
void kapi_history_add(struct kapi_history *h, const struct kapi_store_event *ev);
/* As kapi_store_ops.history. */
int kapi_history_walk(const struct kapi_history *h, uint64_t since_rv, kapi_store_event_fn fn, void *data,
		      uint64_t *ret_oldest);
/* Drop every entry (references released). Accepts NULL. */
void kapi_history_free(struct kapi_history *h);

#endif
