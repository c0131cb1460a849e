/* store_sqlite.h - the hub's durable storage backend for kapi (SQLite, WAL).
 *
 * Implements struct kapi_store (common/kapi_store.h) over one SQLite
 * database, with every current object also held in memory (parsed, immutable)
 * so reads never touch the disk. The kapi engine calls ops->commit for each
 * change; the change is written into an open transaction at once and made
 * durable by store_sqlite_flush(), which the hub calls once per event-loop
 * turn before any answer of that turn can reach a socket (group commit: one
 * transaction, one fsync, many writes). See hub/serve.c for that ordering.
 *
 * On-disk format (schema version STORE_SQLITE_SCHEMA, PRAGMA user_version):
 *
 *   TABLE meta     key TEXT PRIMARY KEY, value TEXT
 *                  'last_rv'  the last committed resourceVersion (decimal)
 *                  'created'  RFC 3339 time the store was made
 *   TABLE objects  rkey TEXT   "group/resource" ("/configmaps" for core)
 *                  ns   TEXT   "" for cluster-scoped objects
 *                  name TEXT
 *                  rv   INTEGER the object's resourceVersion
 *                  data TEXT   the object, compact JSON
 *                  PRIMARY KEY (rkey, ns, name), WITHOUT ROWID
 *
 * Older schemas are migrated forward at open (each step in its own
 * transaction); a newer schema than this binary knows is refused.
 */
#ifndef NAVE_HUB_STORE_SQLITE_H
#define NAVE_HUB_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "errbuf.h"
#include "kapi_store.h"

#define STORE_SQLITE_SCHEMA 1          /* the schema version this code writes */
#define STORE_SQLITE_HISTORY 1024      /* default watch window (changes kept in memory; each holds
					 * the object's old and new versions) */
#define STORE_SQLITE_OBJECT_MAX (4u << 20) /* cap on one stored object's JSON, bytes */
#define STORE_SQLITE_CKPT_PAGES 1000   /* WAL pages that trigger a background checkpoint */
#define STORE_SQLITE_BUCKETS 12        /* commit latency histogram buckets (+Inf extra) */

struct store_sqlite_config {
	const char *path;  /* database file; borrowed for the call */
	bool create;       /* make a new store: -EEXIST if path exists */
	bool sync_normal;  /* PRAGMA synchronous=NORMAL instead of FULL (see store_sqlite.c) */
	size_t history;    /* watch window; 0: STORE_SQLITE_HISTORY */
	uv_loop_t *loop;   /* borrowed; WAL checkpoints run on its thread pool. NULL: the
			      writer checkpoints itself (init, tests) */
};

/* Counters for /metrics. */
struct store_sqlite_stats {
	uint64_t commits;         /* transactions committed */
	uint64_t writes;          /* changes committed */
	uint64_t checkpoints;     /* background checkpoints run */
	uint64_t objects;         /* objects held now */
	uint64_t last_rv;
	double commit_seconds;    /* sum of commit durations */
	uint64_t commit_hist[STORE_SQLITE_BUCKETS + 1]; /* cumulative counts per bucket, then +Inf */
	uint64_t load_us;         /* time the open took to load every object */
};
/* Upper bounds (seconds) of the commit histogram's buckets. */
extern const double store_sqlite_buckets[STORE_SQLITE_BUCKETS];

/* Open (or with cfg->create, create) the store at cfg->path and load every
 * object into memory. Returns 0; -EEXIST (create, file exists), -ENOENT
 * (open, no file), -EPROTO (schema newer than this binary), -EIO (SQLite or
 * a corrupt row), each with a message in err. *ret_store is freed by its
 * ops->free (kapi_server_free does it), which commits what is pending. */
int store_sqlite_open(const struct store_sqlite_config *cfg, struct kapi_store **ret_store,
		      struct errbuf *err);

/* Whether st is a store made by store_sqlite_open. */
bool store_sqlite_is(const struct kapi_store *st);

/* Changes written to the open transaction and not committed yet. */
size_t store_sqlite_pending(const struct kapi_store *st);

/* Commit the open transaction, if any: after 0, every change handed to
 * ops->commit so far is durable. Returns 0 or -EIO. After -EIO the memory
 * state is ahead of the disk and the store must not be used again: the
 * caller has to stop the process before any answer goes out. */
int store_sqlite_flush(struct kapi_store *st, struct errbuf *err);

/* Copy the counters into *ret_stats. */
void store_sqlite_stats(const struct kapi_store *st, struct store_sqlite_stats *ret_stats);

#endif
