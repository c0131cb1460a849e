/* kdiscovery.h - group/version/kind to resource and scope, from API discovery.
 *
 * The cache is filled from /api, /apis and every /api/<v> and
 * /apis/<group>/<version> (in parallel; subresources skipped). A kind that is
 * not in the cache triggers a refresh, so a CustomResourceDefinition created a
 * moment ago becomes usable without a restart. Refreshes are single-flight:
 * all resolves that miss while one runs wait for it, and every waiter is
 * answered by a refresh that STARTED after it asked (one that began earlier
 * may predate the CRD). Misses start at most one refresh per
 * min_refresh_interval_ms; a hit on a cache older than ttl_ms is answered from
 * the cache and refreshes in the background.
 *
 * A group version whose discovery fails keeps its previous entries; a kind of
 * such a group version is answered with that failure (-EAGAIN), not NotFound.
 * Discovery requests bypass the client's rate limiter (they are bounded by
 * the refresh interval and a slow limiter would delay every first apply).
 *
 * Answers always come later on the loop, never from inside kdiscovery_resolve.
 */
#ifndef NAVE_KDISCOVERY_H
#define NAVE_KDISCOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "kclient.h"
#include "kclient_ops.h"

#define KDISCOVERY_MAX_GROUP_VERSIONS 1000 /* group versions fetched per refresh */
#define KDISCOVERY_MAX_RESOURCES 20000     /* resources kept */
#define KDISCOVERY_MAX_WAITERS 100000      /* resolves waiting at once (-EAGAIN past it) */
#define KDISCOVERY_DEFAULT_TTL_MS (10 * 60 * 1000)
#define KDISCOVERY_DEFAULT_MIN_REFRESH_MS 500

/* One resource. Strings are copies (fixed buffers). */
struct kmapping {
	char group[254];     /* "" for the core group */
	char version[64];
	char kind[128];
	char resource[254];  /* plural */
	bool namespaced;
};

struct kdiscovery_options {
	uint64_t ttl_ms;                  /* 0: 10 min */
	uint64_t min_refresh_interval_ms; /* 0: 500 ms */
};

struct kdiscovery;
struct kdiscovery_wait;

/* The answer to a resolve: r = 0 and m set, or r < 0 and m NULL with err
 * (-ENOENT: no such kind in that group version, err->reason KCLIENT_NOT_FOUND
 * and a message like kubectl's "no matches for kind"; other errors: the
 * discovery request that failed). Everything borrowed for the call. */
typedef void (*kdiscovery_fn)(void *userdata, int r, const struct kmapping *m,
			      const struct kclient_error *err);

/* Make a discovery cache over kc (borrowed; must outlive it). opts may be NULL. */
int kdiscovery_new(struct kclient *kc, const struct kdiscovery_options *opts,
		   struct kdiscovery **ret_kd);
/* Drop the cache; waiting resolves are dropped without callbacks. Not from
 * inside a kdiscovery callback. Run the loop afterwards (a timer is closed).
 * Accepts NULL; returns NULL. */
struct kdiscovery *kdiscovery_free(struct kdiscovery *kd);

/* Map apiVersion ("apps/v1", "v1") and kind to a resource. cb is called
 * once, later. *ret_wait (may be NULL) can be cancelled with
 * kdiscovery_cancel until cb is called (not from cb itself). Returns 0, -EINVAL (malformed
 * apiVersion/kind), -EAGAIN (too many waiters). */
int kdiscovery_resolve(struct kdiscovery *kd, const char *api_version, const char *kind,
		       kdiscovery_fn cb, void *userdata, struct kdiscovery_wait **ret_wait);
/* Drop a waiting resolve; its callback will not be called. Accepts NULL. */
void kdiscovery_cancel(struct kdiscovery_wait *wait);

/* The cache alone, synchronously: 0 and *ret_m, or -ENOENT when the kind is
 * not cached (which does not mean it does not exist: use resolve). */
int kdiscovery_lookup(struct kdiscovery *kd, const char *api_version, const char *kind,
		      struct kmapping *ret_m);

/* Forget the cache's age: the next resolve refreshes first. */
void kdiscovery_invalidate(struct kdiscovery *kd);

/* Fill *ret_ref from m (strings borrowed from m, ns and name); the namespace
 * is dropped for cluster-scoped resources. */
void kmapping_ref(const struct kmapping *m, const char *ns, const char *name, struct kref *ret_ref);

struct kdiscovery_stats {
	uint64_t refreshes;   /* refreshes started */
	uint64_t requests;    /* discovery GETs sent */
	size_t resources;     /* entries in the cache */
};
void kdiscovery_get_stats(const struct kdiscovery *kd, struct kdiscovery_stats *ret_stats);

#endif
