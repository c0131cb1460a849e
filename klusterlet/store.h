/* store.h - where nave-klusterlet keeps what must survive a restart: its hub
 * credential and its unacknowledged status updates.
 *
 * An "object" is a small named map of key -> text value, saved and loaded
 * whole. Two backends, chosen by agent.c:
 *  - a state directory S (outside a cluster): S is 0700, each object is a
 *    0700 subdirectory S/<object>, each key a 0600 file in it. A save writes
 *    every value to "<key>.new" (fsync), then writes the marker ".commit",
 *    then renames the values into place and removes the marker; a load that
 *    finds the marker finishes those renames first (roll forward) and
 *    otherwise deletes stray "*.new" files (roll back), so a kill -9 in the
 *    middle of a save leaves either the old object or the new one, never a
 *    key of one beside the certificate of the other. The file work runs on
 *    libuv's thread pool (uv_queue_work), never on the loop.
 *  - a Secret named <object> in a namespace of the spoke (in-cluster, so
 *    that every replica of the DaemonSet sees it): loaded with GET, saved
 *    with one server-side apply (all keys change together), through kclient
 *    on the loop.
 *
 * Caps: key names 1..AGENT_STORE_KEY_MAX of [A-Za-z0-9._-] (a Secret's data
 * key rules, which are also safe file names); values at most
 * AGENT_STORE_VALUE_MAX bytes each, at most AGENT_STORE_KEYS per object; an
 * object in a Secret at most AGENT_STORE_SECRET_MAX bytes in total (etcd's
 * object limit is about 1.5 MiB).
 *
 * Callbacks run on the loop, never from inside the call that started them.
 */
#ifndef NAVE_KLUSTERLET_STORE_H
#define NAVE_KLUSTERLET_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "errbuf.h"
#include "kclient.h"

#define AGENT_STORE_KEY_MAX 63
#define AGENT_STORE_KEYS 32
#define AGENT_STORE_VALUE_MAX (64u << 20)
#define AGENT_STORE_SECRET_MAX (900u << 10)
#define AGENT_STORE_OBJECT_MAX 63

struct agent_store;

/* A load finished. r is 0 (values is an object of key -> string, borrowed
 * for the call), -ENOENT (nothing stored; values NULL) or another negative
 * errno with msg saying why. */
typedef void (*agent_store_load_fn)(void *userdata, int r, json_t *values, const char *msg);
/* A save finished: r is 0 or a negative errno with msg saying why. */
typedef void (*agent_store_save_fn)(void *userdata, int r, const char *msg);

/* A store in directory dir (created 0700 when missing; an existing one is
 * refused when it is group- or world-accessible, so a secret never lands in
 * a readable place). loop is borrowed. Caller frees with agent_store_free.
 * Returns 0, or -errno / -EPERM (bad mode) with err set. */
int agent_store_new_dir(uv_loop_t *loop, const char *dir, struct errbuf *err,
			struct agent_store **ret_st);

/* A store in Secrets of namespace ns (copied) of the cluster kc talks to (kc
 * borrowed; must outlive the store). field_manager (copied; NULL:
 * "nave-klusterlet") names the applier. Returns 0 or -EINVAL. */
int agent_store_new_secret(struct kclient *kc, const char *ns, const char *field_manager,
			   struct errbuf *err, struct agent_store **ret_st);

/* Free the store. Operations in flight finish without calling back. Accepts
 * NULL; returns NULL. Run the loop afterwards. */
struct agent_store *agent_store_free(struct agent_store *st);

/* "state directory /var/lib/x" or "Secret ns/<object>" (for messages). Static
 * per store; borrowed until agent_store_free. */
const char *agent_store_describe(const struct agent_store *st);

/* Whether this store keeps objects in Secrets of the spoke. */
bool agent_store_is_secret(const struct agent_store *st);

/* Load object (a DNS label of at most AGENT_STORE_OBJECT_MAX bytes). cb is
 * called once, later. Returns 0 or -EINVAL (bad name; no callback). */
int agent_store_load(struct agent_store *st, const char *object, agent_store_load_fn cb,
		     void *userdata);

/* Save values (an object of key -> string; copied at once) as object,
 * replacing what was stored. cb (may be NULL) is called once, later.
 * Returns 0, or -EINVAL / -E2BIG (a bad key, too many keys, a value over its
 * cap) with err set and no callback. */
int agent_store_save(struct agent_store *st, const char *object, const json_t *values,
		     agent_store_save_fn cb, void *userdata, struct errbuf *err);

#endif
