/* kwatch.h - a watch that does not die: list, watch, resume, relist.
 *
 * The reflector/informer loop of client-go, on the kclient's loop:
 *  1. list (all pages) unless a starting resourceVersion is given; every item
 *     is delivered as ADDED, then `synced` is called;
 *  2. watch from the list's resourceVersion, one JSON event per line (capped
 *     at max_line), bookmarks on, a server-side timeoutSeconds (random
 *     300..600 s by default, as client-go, so that streams end and restart);
 *  3. when the stream ends (timeout, server restart, connection lost) the
 *     watch restarts from the last resourceVersion seen (event or bookmark),
 *     at once after a stream that lived, else with backoff and jitter;
 *  4. on 410 Expired/Gone (an ERROR event or the HTTP status) it relists and
 *     turns the difference into synthetic events: ADDED for new objects,
 *     MODIFIED for changed ones (resourceVersion differs), DELETED (with the
 *     last known state) for those gone; then `synced` again.
 *
 * The watch keeps the objects it has seen (a store keyed "namespace/name",
 * like an informer's cache): kwatch_get() and kwatch_store() read it.
 * Errors other than 410 are reported through `error` (if set) and retried with
 * backoff forever; kwatch_free() is the only way to stop.
 */
#ifndef NAVE_KWATCH_H
#define NAVE_KWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kclient.h"
#include "kclient_ops.h"

#define KWATCH_DEFAULT_BACKOFF_BASE_MS 200
#define KWATCH_DEFAULT_BACKOFF_MAX_MS 30000
#define KWATCH_MAX_TIMEOUT_S 3600
#define KWATCH_LIVED_MS 1000 /* a stream that lived this long restarts without backoff */

enum kwatch_event {
	KWATCH_ADDED,
	KWATCH_MODIFIED,
	KWATCH_DELETED,
};

struct kwatch;

/* Callbacks; all run on the loop, with the watch's userdata. obj is borrowed
 * (json_incref to keep it). kwatch_free() may be called from any of them. */
struct kwatch_handlers {
	void (*event)(void *userdata, struct kwatch *w, enum kwatch_event type, json_t *obj);
	/* optional: a (re)list has been delivered; relist is false the first time */
	void (*synced)(void *userdata, struct kwatch *w, bool relist);
	/* optional: something failed and will be retried (for logs and tests) */
	void (*error)(void *userdata, struct kwatch *w, const struct kclient_error *err);
};

struct kwatch_options {
	const char *label_selector;   /* NULL: all */
	const char *field_selector;   /* NULL: all */
	const char *resource_version; /* NULL: list first; else watch from it (no initial list) */
	unsigned timeout_s;           /* server-side timeoutSeconds; 0: random 300..600 */
	bool no_bookmarks;            /* do not ask for bookmarks */
	size_t max_line;              /* 0: the client's (16 MiB) */
	unsigned page_size;           /* 0: KCLIENT_LIST_PAGE */
	uint64_t backoff_base_ms;     /* 0: KWATCH_DEFAULT_BACKOFF_BASE_MS */
	uint64_t backoff_max_ms;      /* 0: KWATCH_DEFAULT_BACKOFF_MAX_MS */
};

/* Start watching the collection ref (name NULL; namespace NULL for all
 * namespaces). ref, opts and handlers are copied. The first request is sent
 * at once; events come later. Returns 0 or -EINVAL (bad ref or options). */
int kwatch_start(struct kclient *kc, const struct kref *ref, const struct kwatch_options *opts,
		 const struct kwatch_handlers *handlers, void *userdata, struct kwatch **ret_w);

/* Stop: no callback is called afterwards. Safe inside the watch's own
 * callbacks. Run the loop afterwards (a timer is closed). Accepts NULL; returns NULL. */
struct kwatch *kwatch_free(struct kwatch *w);

/* The last resourceVersion seen ("" before any). Borrowed; valid until the next event. */
const char *kwatch_resource_version(const struct kwatch *w);
/* The stored object, or NULL. Borrowed; valid until the next event. */
json_t *kwatch_get(const struct kwatch *w, const char *ns, const char *name);
/* The store: a JSON object keyed "namespace/name" (or "name" for
 * cluster-scoped). Borrowed; do not modify. */
json_t *kwatch_store(const struct kwatch *w);
/* Whether the first list has been delivered (always true when started from a resourceVersion). */
bool kwatch_synced(const struct kwatch *w);

struct kwatch_stats {
	uint64_t events;      /* events delivered (incl. synthetic) */
	uint64_t bookmarks;
	uint64_t watches;     /* watch requests started */
	uint64_t lists;       /* lists (initial + relists) */
	uint64_t relists;     /* relists after 410 */
	uint64_t errors;
};
void kwatch_get_stats(const struct kwatch *w, struct kwatch_stats *ret_stats);

#endif
