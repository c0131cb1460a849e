/* store_sqlite.c - the hub's kapi_store on SQLite in WAL mode; see store_sqlite.h.
 *
 * Layout:
 * - The database holds the current objects and the last resourceVersion; the
 *   memory holds the same objects, parsed and immutable, per resource key in a
 *   jansson object ("ns/name" -> object) plus a lazily sorted key array for
 *   ordered lists. Reads (get, list, count) never touch SQLite. The watch
 *   window is a struct kapi_history in memory (it starts empty at open: a
 *   watch from before a restart gets 410 and relists, as with a compacted etcd).
 * - Writes: ops->commit writes the change into the open transaction (BEGIN
 *   IMMEDIATE at the first change), then updates memory. store_sqlite_flush
 *   records last_rv and COMMITs: one transaction per event-loop turn, however
 *   many writes it holds (group commit).
 *
 * Durability, and why synchronous=FULL by default: in WAL mode a COMMIT
 * appends the transaction's pages to the -wal file with write(2). A process
 * killed with SIGKILL loses nothing that write(2) accepted (the page cache is
 * the kernel's), so synchronous=NORMAL, which fsyncs only at checkpoints, is
 * already enough for "an acknowledged write survives kill -9". FULL also
 * fsyncs the WAL at every COMMIT, which makes acknowledged writes survive a
 * power loss or kernel crash too; that matters for a control plane (a
 * revocation, an accepted cluster), and group commit makes it one fsync per
 * loop turn rather than per write, so FULL is the default and NORMAL an
 * option (--store-sync normal) for slow disks.
 *
 * Checkpoints: with a loop, automatic checkpoints are off on the writer's
 * connection and a second connection runs PASSIVE checkpoints on the libuv
 * thread pool once the WAL passes STORE_SQLITE_CKPT_PAGES, so copying pages
 * back into the database (and its fsync) never blocks the loop. WAL mode lets
 * the checkpointer and the writer run at the same time.
 *
 * Everything except the checkpoint work runs on the loop's thread.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "alloc.h"
#include "log.h"
#include "timefmt.h"

const double store_sqlite_buckets[STORE_SQLITE_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
};

/* Schema migrations: migrations[i] takes the schema from version i to i + 1. */
static const char *const migrations[STORE_SQLITE_SCHEMA] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE objects (rkey TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
	" rv INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (rkey, ns, name)) WITHOUT ROWID;"
	"INSERT INTO meta (key, value) VALUES ('last_rv', '0');",
};

struct sq_res {
	char *rkey;            /* owned */
	json_t *objs;          /* owned: "ns/name" -> immutable object */
	char **sorted;         /* owned array of owned keys; valid when !dirty */
	size_t n_sorted;
	bool dirty;            /* keys added or removed since sorted was built */
	struct sq_res *next;
};

/* The background checkpointer. Separate from the store so that a store freed
 * while a checkpoint runs can leave it to finish (after_work frees it then). */
struct sq_ckpt {
	sqlite3 *db;           /* owned; used only inside the work callback */
	uv_work_t work;
	bool busy;
	bool orphaned;         /* the store is gone: free this when the work ends */
	struct sq_store *s;    /* borrowed; NULL once orphaned */
	int rc;
};

struct sq_store {
	struct kapi_store base;
	sqlite3 *db;           /* owned; the writer */
	sqlite3_stmt *st_put, *st_del, *st_rv, *st_begin, *st_commit, *st_rollback; /* owned */
	bool in_txn;
	size_t pending;        /* changes in the open transaction */
	uint64_t rv;           /* last committed (in memory) resourceVersion */
	struct sq_res *res;    /* owned list */
	struct kapi_history hist;
	struct sq_ckpt *ckpt;  /* owned (or orphaned to the work); NULL without a loop */
	uv_loop_t *loop;       /* borrowed */
	int wal_pages;         /* pages in the WAL after the last commit */
	bool failed;           /* a commit failed: refuse everything */
	struct store_sqlite_stats stats;
	char *path;            /* owned */
};

static const struct kapi_store_ops sq_ops;

static int sq_err(struct errbuf *err, sqlite3 *db, const char *what)
{
	return errbuf_set(err, -EIO, "store: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Memory index ------------------------------------------------------------ */

static struct sq_res *res_find(struct sq_store *s, const char *rkey, bool create)
{
	struct sq_res *r;

	for (r = s->res; r; r = r->next)
		if (!strcmp(r->rkey, rkey))
			return r;
	if (!create)
		return NULL;
	r = xnew(struct sq_res);
	r->rkey = xstrdup(rkey);
	r->objs = json_object();
	r->next = s->res;
	s->res = r;
	return r;
}

static void res_free_sorted(struct sq_res *r)
{
	for (size_t i = 0; i < r->n_sorted; i++)
		free(r->sorted[i]);
	free(r->sorted);
	r->sorted = NULL;
	r->n_sorted = 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void res_sort(struct sq_res *r)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	if (!r->dirty && (r->sorted || json_object_size(r->objs) == 0))
		return;
	res_free_sorted(r);
	r->sorted = xcalloc(json_object_size(r->objs) + 1, sizeof(*r->sorted));
	json_object_foreach(r->objs, k, v)
		r->sorted[i++] = xstrdup(k);
	r->n_sorted = i;
	qsort(r->sorted, r->n_sorted, sizeof(*r->sorted), key_cmp);
	r->dirty = false;
}

/* First index whose key is > s (strict) or >= s. */
static size_t lower_bound(const struct sq_res *r, const char *s, bool strict)
{
	size_t lo = 0, hi = r->n_sorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->sorted[mid], s);

		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void mem_put(struct sq_store *s, const char *rkey, const char *key, json_t *obj)
{
	struct sq_res *r = res_find(s, rkey, true);

	if (!json_object_get(r->objs, key)) {
		r->dirty = true;
		s->stats.objects++;
	}
	json_object_set(r->objs, key, obj);
}

static void mem_del(struct sq_store *s, const char *rkey, const char *key)
{
	struct sq_res *r = res_find(s, rkey, false);

	if (r && json_object_del(r->objs, key) == 0) {
		r->dirty = true;
		s->stats.objects--;
	}
}

/* kapi_store ops ------------------------------------------------------------ */

static int sq_get(struct kapi_store *st, const char *rkey, const char *ns, const char *name, json_t **ret_obj)
{
	struct sq_store *s = (struct sq_store *)st;
	struct sq_res *r = res_find(s, rkey, false);
	char stack[512], *key;
	json_t *o;

	if (!r)
		return -ENOENT;
	key = kapi_store_key(ns, name, stack, sizeof(stack), NULL);
	o = json_object_get(r->objs, key);
	if (key != stack)
		free(key);
	if (!o)
		return -ENOENT;
	*ret_obj = json_incref(o);
	return 0;
}

static int sq_begin(struct sq_store *s)
{
	int rc;

	if (s->in_txn)
		return 0;
	rc = sqlite3_step(s->st_begin);
	sqlite3_reset(s->st_begin);
	if (rc != SQLITE_DONE) {
		log_error("store: BEGIN failed: %s", sqlite3_errmsg(s->db));
		return -EIO;
	}
	s->in_txn = true;
	return 0;
}

static int sq_commit(struct kapi_store *st, const struct kapi_store_event *ev)
{
	struct sq_store *s = (struct sq_store *)st;
	char stack[512], *key = NULL, *data = NULL;
	sqlite3_stmt *stmt;
	int r, rc;

	if (s->failed)
		return -EIO;
	if (ev->rv != s->rv + 1)
		return -EINVAL;
	key = kapi_store_key(ev->ns, ev->name, stack, sizeof(stack), NULL);
	if (ev->type == KAPI_EVENT_DELETED) {
		struct sq_res *res = res_find(s, ev->rkey, false);

		if (!res || !json_object_get(res->objs, key)) {
			r = -ENOENT;
			goto out;
		}
	} else {
		data = json_dumps(ev->new_obj, JSON_COMPACT);
		if (!data) {
			r = -ENOMEM;
			goto out;
		}
		if (strlen(data) > STORE_SQLITE_OBJECT_MAX) {
			log_error("store: %s %s/%s is %zu bytes, over the %u-byte cap", ev->rkey, ev->ns,
				  ev->name, strlen(data), STORE_SQLITE_OBJECT_MAX);
			r = -E2BIG;
			goto out;
		}
	}
	r = sq_begin(s);
	if (r < 0)
		goto out;
	stmt = ev->type == KAPI_EVENT_DELETED ? s->st_del : s->st_put;
	sqlite3_bind_text(stmt, 1, ev->rkey, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, ev->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, ev->name, -1, SQLITE_STATIC);
	if (data) {
		sqlite3_bind_int64(stmt, 4, (sqlite3_int64)ev->rv);
		sqlite3_bind_text(stmt, 5, data, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE) {
		/* A failed statement is undone by SQLite; the transaction stays. */
		log_error("store: writing %s %s/%s failed: %s", ev->rkey, ev->ns, ev->name,
			  sqlite3_errmsg(s->db));
		r = -EIO;
		goto out;
	}
	if (ev->type == KAPI_EVENT_DELETED)
		mem_del(s, ev->rkey, key);
	else
		mem_put(s, ev->rkey, key, ev->new_obj);
	s->rv = ev->rv;
	s->pending++;
	kapi_history_add(&s->hist, ev);
	r = 0;
out:
	free(data);
	if (key != stack)
		free(key);
	return r;
}

static int sq_list(struct kapi_store *st, const char *rkey, const char *ns, const char *after,
		   kapi_store_obj_fn fn, void *data)
{
	struct sq_store *s = (struct sq_store *)st;
	struct sq_res *r = res_find(s, rkey, false);
	char prefix[320] = "";
	size_t i, plen = 0;

	if (!r || json_object_size(r->objs) == 0)
		return 0;
	res_sort(r);
	if (ns && kapi_store_ns_prefix(ns, prefix, sizeof(prefix), &plen) < 0)
		return 0; /* longer than any valid namespace: nothing there */
	if (after && (!ns || strncmp(after, prefix, plen) >= 0))
		i = lower_bound(r, after, true);
	else
		i = lower_bound(r, prefix, false);
	for (; i < r->n_sorted; i++) {
		const char *k = r->sorted[i], *slash;
		char nsbuf[256];
		size_t nl;
		int ret;

		if (ns && strncmp(k, prefix, plen))
			break;
		slash = strchr(k, '/');
		nl = (size_t)(slash - k);
		if (nl >= sizeof(nsbuf))
			continue;
		memcpy(nsbuf, k, nl);
		nsbuf[nl] = '\0';
		ret = fn(data, nsbuf, slash + 1, json_object_get(r->objs, k));
		if (ret)
			return ret;
	}
	return 0;
}

static size_t sq_count(struct kapi_store *st, const char *rkey, const char *ns)
{
	struct sq_store *s = (struct sq_store *)st;
	struct sq_res *r = res_find(s, rkey, false);
	char prefix[320];
	size_t plen, i, n = 0;

	if (!r)
		return 0;
	if (!ns)
		return json_object_size(r->objs);
	if (kapi_store_ns_prefix(ns, prefix, sizeof(prefix), &plen) < 0)
		return 0;
	res_sort(r);
	for (i = lower_bound(r, prefix, false); i < r->n_sorted && !strncmp(r->sorted[i], prefix, plen); i++)
		n++;
	return n;
}

static int sq_history(struct kapi_store *st, uint64_t since_rv, kapi_store_event_fn fn, void *data,
		      uint64_t *ret_oldest)
{
	struct sq_store *s = (struct sq_store *)st;

	return kapi_history_walk(&s->hist, since_rv, fn, data, ret_oldest);
}

static uint64_t sq_last_rv(struct kapi_store *st)
{
	return ((struct sq_store *)st)->rv;
}

/* Checkpoints ----------------------------------------------------------------- */

static void ckpt_work(uv_work_t *w)
{
	struct sq_ckpt *c = w->data;
	int log_frames = 0, done = 0;

	c->rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
}

static void ckpt_after(uv_work_t *w, int status)
{
	struct sq_ckpt *c = w->data;

	c->busy = false;
	if (c->orphaned) {
		sqlite3_close(c->db);
		free(c);
		return;
	}
	if (status == 0 && c->rc != SQLITE_OK && c->rc != SQLITE_BUSY)
		log_warn("store: background checkpoint failed: %s", sqlite3_errstr(c->rc));
	else if (status == 0)
		c->s->stats.checkpoints++;
}

static int wal_hook(void *data, sqlite3 *db, const char *name, int pages)
{
	struct sq_store *s = data;

	s->wal_pages = pages;
	return SQLITE_OK;
}

static void ckpt_maybe(struct sq_store *s)
{
	struct sq_ckpt *c = s->ckpt;

	if (!c || c->busy || s->wal_pages < STORE_SQLITE_CKPT_PAGES)
		return;
	c->busy = true;
	c->work.data = c;
	if (uv_queue_work(s->loop, &c->work, ckpt_work, ckpt_after) < 0)
		c->busy = false;
}

/* Flush and free ---------------------------------------------------------- */

/* See store_sqlite.h. */
int store_sqlite_flush(struct kapi_store *st, struct errbuf *err)
{
	struct sq_store *s = (struct sq_store *)st;
	char rvs[24];
	int64_t t0;
	double secs;
	int rc, i;

	if (s->failed)
		return errbuf_set(err, -EIO, "store: an earlier commit failed; the store is closed");
	if (!s->in_txn)
		return 0;
	t0 = time_mono_us();
	snprintf(rvs, sizeof(rvs), "%" PRIu64, s->rv);
	sqlite3_bind_text(s->st_rv, 1, rvs, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s->st_rv);
	sqlite3_reset(s->st_rv);
	if (rc == SQLITE_DONE) {
		rc = sqlite3_step(s->st_commit);
		sqlite3_reset(s->st_commit);
	}
	if (rc != SQLITE_DONE) {
		s->failed = true;
		log_error("store: COMMIT of %zu writes failed: %s", s->pending, sqlite3_errmsg(s->db));
		return sq_err(err, s->db, "commit");
	}
	s->in_txn = false;
	secs = (double)(time_mono_us() - t0) / 1e6;
	s->stats.commits++;
	s->stats.writes += s->pending;
	s->stats.commit_seconds += secs;
	for (i = 0; i < STORE_SQLITE_BUCKETS; i++)
		if (secs <= store_sqlite_buckets[i])
			s->stats.commit_hist[i]++;
	s->stats.commit_hist[STORE_SQLITE_BUCKETS]++;
	s->pending = 0;
	ckpt_maybe(s);
	return 0;
}

static void sq_free(struct kapi_store *st)
{
	struct sq_store *s = (struct sq_store *)st;
	struct sq_res *r, *next;

	if (!s)
		return;
	if (s->in_txn && !s->failed) {
		struct errbuf e;

		if (store_sqlite_flush(st, &e) < 0)
			log_error("%s", e.msg);
	}
	if (s->in_txn) {
		sqlite3_step(s->st_rollback);
		sqlite3_reset(s->st_rollback);
	}
	if (s->ckpt) {
		if (s->ckpt->busy) {
			s->ckpt->orphaned = true;
			s->ckpt->s = NULL;
		} else {
			sqlite3_close(s->ckpt->db);
			free(s->ckpt);
		}
	}
	sqlite3_finalize(s->st_put);
	sqlite3_finalize(s->st_del);
	sqlite3_finalize(s->st_rv);
	sqlite3_finalize(s->st_begin);
	sqlite3_finalize(s->st_commit);
	sqlite3_finalize(s->st_rollback);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_warn("store: closing %s: %s", s->path, sqlite3_errmsg(s->db));
	for (r = s->res; r; r = next) {
		next = r->next;
		json_decref(r->objs);
		res_free_sorted(r);
		free(r->rkey);
		free(r);
	}
	kapi_history_free(&s->hist);
	free(s->path);
	free(s);
}

static const struct kapi_store_ops sq_ops = {
	.get = sq_get,
	.commit = sq_commit,
	.list = sq_list,
	.count = sq_count,
	.history = sq_history,
	.last_rv = sq_last_rv,
	.free = sq_free,
};

/* Open ------------------------------------------------------------------------ */

static int exec_sql(sqlite3 *db, const char *sql, struct errbuf *err, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		errbuf_set(err, -EIO, "store: %s: %s", what, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int *ret)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

static int migrate(sqlite3 *db, struct errbuf *err)
{
	int version = 0, v, r;

	if (pragma_int(db, "PRAGMA user_version", &version) < 0)
		return sq_err(err, db, "reading the schema version");
	if (version > STORE_SQLITE_SCHEMA)
		return errbuf_set(err, -EPROTO,
				  "store: schema version %d is newer than this nave-hub understands (%d): "
				  "run a newer nave-hub", version, STORE_SQLITE_SCHEMA);
	for (v = version; v < STORE_SQLITE_SCHEMA; v++) {
		char set[64];

		if ((r = exec_sql(db, "BEGIN IMMEDIATE", err, "starting a migration")) < 0)
			return r;
		snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
		if ((r = exec_sql(db, migrations[v], err, "migrating the schema")) < 0 ||
		    (r = exec_sql(db, set, err, "migrating the schema")) < 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return r;
		}
		if ((r = exec_sql(db, "COMMIT", err, "committing a migration")) < 0)
			return r;
		if (v > 0)
			log_info("store: schema migrated from version %d to %d", v, v + 1);
	}
	return 0;
}

static int prepare(struct sq_store *s, const char *sql, sqlite3_stmt **ret, struct errbuf *err)
{
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK)
		return sq_err(err, s->db, "preparing statements");
	return 0;
}

static int load(struct sq_store *s, struct errbuf *err)
{
	sqlite3_stmt *st = NULL;
	int64_t t0 = time_mono_us();
	int rc, r = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'last_rv'", -1, &st, NULL) != SQLITE_OK)
		return sq_err(err, s->db, "reading last_rv");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return errbuf_set(err, -EIO, "store: meta.last_rv is missing: the store is damaged");
	}
	s->rv = strtoull((const char *)sqlite3_column_text(st, 0), NULL, 10);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(s->db, "SELECT rkey, ns, name, rv, data FROM objects", -1, &st, NULL) != SQLITE_OK)
		return sq_err(err, s->db, "reading objects");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *rkey = (const char *)sqlite3_column_text(st, 0);
		const char *ns = (const char *)sqlite3_column_text(st, 1);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		uint64_t orv = (uint64_t)sqlite3_column_int64(st, 3);
		const char *data = (const char *)sqlite3_column_text(st, 4);
		char stack[512], *key;
		json_error_t je;
		json_t *o;

		o = data ? json_loads(data, 0, &je) : NULL;
		if (!o || !json_is_object(o) || orv > s->rv) {
			json_decref(o);
			r = errbuf_set(err, -EIO, "store: object %s %s/%s is damaged (%s)", rkey, ns, name,
				       o ? "resourceVersion beyond last_rv" : je.text);
			goto out;
		}
		key = kapi_store_key(ns, name, stack, sizeof(stack), NULL);
		mem_put(s, rkey, key, o);
		json_decref(o);
		if (key != stack)
			free(key);
	}
	if (rc != SQLITE_DONE)
		r = sq_err(err, s->db, "reading objects");
out:
	sqlite3_finalize(st);
	s->stats.load_us = (uint64_t)(time_mono_us() - t0);
	return r;
}

/* See store_sqlite.h. */
int store_sqlite_open(const struct store_sqlite_config *cfg, struct kapi_store **ret_store,
		      struct errbuf *err)
{
	struct sq_store *s;
	char *jm = NULL;
	int r, fd;

	if (cfg->create) {
		fd = open(cfg->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			return errbuf_set(err, -errno, "store: cannot create %s: %s", cfg->path, strerror(errno));
		close(fd);
	} else if (access(cfg->path, F_OK) < 0) {
		return errbuf_set(err, -ENOENT, "store: %s does not exist (run nave-hub init)", cfg->path);
	}
	s = xnew(struct sq_store);
	s->base.ops = &sq_ops;
	s->path = xstrdup(cfg->path);
	s->loop = cfg->loop;
	if (sqlite3_open_v2(cfg->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		r = sq_err(err, s->db, "open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	/* journal_mode answers with the mode in effect. */
	{
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			jm = xstrdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		if (!jm || strcmp(jm, "wal")) {
			r = errbuf_set(err, -EIO, "store: %s cannot use WAL mode (journal_mode is %s)",
				       cfg->path, jm ? jm : "unknown");
			goto fail;
		}
	}
	if ((r = exec_sql(s->db, cfg->sync_normal ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
			  err, "setting synchronous")) < 0 ||
	    (r = exec_sql(s->db, "PRAGMA journal_size_limit = 67108864", err, "setting journal_size_limit")) < 0)
		goto fail;
	if ((r = migrate(s->db, err)) < 0)
		goto fail;
	if (cfg->create) {
		char now[TIMEFMT_MAX], *sql;

		time_format_rfc3339(time_now_us(), now);
		sql = xasprintf("INSERT OR REPLACE INTO meta (key, value) VALUES ('created', '%s')", now);
		r = exec_sql(s->db, sql, err, "recording the creation time");
		free(sql);
		if (r < 0)
			goto fail;
	}
	if ((r = prepare(s, "INSERT OR REPLACE INTO objects (rkey, ns, name, rv, data) VALUES (?1, ?2, ?3, ?4, ?5)",
			 &s->st_put, err)) < 0 ||
	    (r = prepare(s, "DELETE FROM objects WHERE rkey = ?1 AND ns = ?2 AND name = ?3", &s->st_del, err)) < 0 ||
	    (r = prepare(s, "UPDATE meta SET value = ?1 WHERE key = 'last_rv'", &s->st_rv, err)) < 0 ||
	    (r = prepare(s, "BEGIN IMMEDIATE", &s->st_begin, err)) < 0 ||
	    (r = prepare(s, "COMMIT", &s->st_commit, err)) < 0 ||
	    (r = prepare(s, "ROLLBACK", &s->st_rollback, err)) < 0)
		goto fail;
	if ((r = load(s, err)) < 0)
		goto fail;
	kapi_history_init(&s->hist, cfg->history ? cfg->history : STORE_SQLITE_HISTORY, s->rv);
	if (cfg->loop) {
		struct sq_ckpt *c = xnew(struct sq_ckpt);

		if (sqlite3_open_v2(cfg->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK) {
			r = sq_err(err, c->db, "opening the checkpoint connection");
			sqlite3_close(c->db);
			free(c);
			goto fail;
		}
		sqlite3_busy_timeout(c->db, 1000);
		c->s = s;
		s->ckpt = c;
		sqlite3_wal_autocheckpoint(s->db, 0);
		sqlite3_wal_hook(s->db, wal_hook, s);
	}
	s->stats.last_rv = s->rv;
	free(jm);
	*ret_store = &s->base;
	return 0;
fail:
	free(jm);
	kapi_history_init(&s->hist, 1, 0);
	sq_free(&s->base);
	return r;
}

/* See store_sqlite.h. */
bool store_sqlite_is(const struct kapi_store *st)
{
	return st && st->ops == &sq_ops;
}

/* See store_sqlite.h. */
size_t store_sqlite_pending(const struct kapi_store *st)
{
	return ((const struct sq_store *)st)->pending;
}

/* See store_sqlite.h. */
void store_sqlite_stats(const struct kapi_store *st, struct store_sqlite_stats *ret_stats)
{
	const struct sq_store *s = (const struct sq_store *)st;

	*ret_stats = s->stats;
	ret_stats->last_rv = s->rv;
}
