/* test_store_sqlite.c - the hub's SQLite kapi_store: semantics and durability.
 *
 * Durability is checked across process death: a child process commits and
 * then _exit()s without cleanup (as kill -9 would leave it); the parent
 * reopens the file and finds exactly what was flushed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "alloc.h"
#include "kapi_store.h"
#include "store_sqlite.h"

static char *tmpdir;

static char *db_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/nave-store-test-XXXXXX";

	tmpdir = xstrdup(mkdtemp(tmpl));
	return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	free(tmpdir);
	return 0;
}

static struct kapi_store *open_store(const char *path, bool create)
{
	struct store_sqlite_config cfg = {.path = path, .create = create};
	struct kapi_store *st = NULL;
	struct errbuf err = {""};
	int r = store_sqlite_open(&cfg, &st, &err);

	if (r < 0)
		fprintf(stderr, "open %s: %s\n", path, err.msg);
	assert_int_equal(r, 0);
	return st;
}

static int put(struct kapi_store *st, enum kapi_event_type type, const char *rkey, const char *ns,
	       const char *name, json_t *old_obj, json_t *new_obj)
{
	struct kapi_store_event ev = {
		.rv = st->ops->last_rv(st) + 1, .type = type, .rkey = rkey, .ns = ns, .name = name,
		.old_obj = old_obj, .new_obj = new_obj,
	};

	return st->ops->commit(st, &ev);
}

static json_t *obj(const char *name, int v)
{
	return json_pack("{s:{s:s}, s:i}", "metadata", "name", name, "v", v);
}

struct collect {
	char keys[16][64];
	int n;
};

static int collect_cb(void *data, const char *ns, const char *name, json_t *o)
{
	struct collect *c = data;

	snprintf(c->keys[c->n++], 64, "%s/%s", ns, name);
	return c->n == 16;
}

static void test_create_open_errors(void **state)
{
	char *p = db_path("errors.db");
	struct store_sqlite_config cfg = {.path = p};
	struct kapi_store *st = NULL;
	struct errbuf err = {""};
	struct stat sb;

	assert_int_equal(store_sqlite_open(&cfg, &st, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nave-hub init"));
	st = open_store(p, true);
	st->ops->free(st);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	cfg.create = true;
	assert_int_equal(store_sqlite_open(&cfg, &st, &err), -EEXIST);
	free(p);
}

static void test_semantics(void **state)
{
	char *p = db_path("sem.db");
	struct kapi_store *st = open_store(p, true);
	struct collect c = {0};
	json_t *a = obj("a", 1), *b = obj("b", 2), *a2 = obj("a", 3), *got = NULL, *x = obj("x", 9);

	assert_int_equal(st->ops->last_rv(st), 0);
	assert_int_equal(put(st, KAPI_EVENT_ADDED, "g/works", "ns2", "a", NULL, a), 0);
	assert_int_equal(put(st, KAPI_EVENT_ADDED, "g/works", "ns1", "b", NULL, b), 0);
	assert_int_equal(put(st, KAPI_EVENT_ADDED, "g/works", "ns1", "a", NULL, a), 0);
	assert_int_equal(put(st, KAPI_EVENT_ADDED, "g/clusters", "", "c1", NULL, x), 0);
	assert_int_equal(put(st, KAPI_EVENT_MODIFIED, "g/works", "ns2", "a", a, a2), 0);
	assert_int_equal(store_sqlite_pending(st), 5);
	/* a wrong rv and a delete of nothing change nothing */
	{
		struct kapi_store_event ev = {.rv = 99, .type = KAPI_EVENT_ADDED, .rkey = "g/works", .ns = "n",
					      .name = "z", .new_obj = a};

		assert_int_equal(st->ops->commit(st, &ev), -EINVAL);
	}
	assert_int_equal(put(st, KAPI_EVENT_DELETED, "g/works", "ns9", "nope", a, a), -ENOENT);
	assert_int_equal(st->ops->last_rv(st), 5);
	assert_int_equal(st->ops->get(st, "g/works", "ns2", "a", &got), 0);
	assert_int_equal(json_integer_value(json_object_get(got, "v")), 3);
	json_decref(got);
	assert_int_equal(st->ops->get(st, "g/works", "ns3", "a", &got), -ENOENT);
	assert_int_equal(st->ops->count(st, "g/works", NULL), 3);
	assert_int_equal(st->ops->count(st, "g/works", "ns1"), 2);
	st->ops->list(st, "g/works", NULL, NULL, collect_cb, &c);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.keys[0], "ns1/a");
	assert_string_equal(c.keys[1], "ns1/b");
	assert_string_equal(c.keys[2], "ns2/a");
	memset(&c, 0, sizeof(c));
	st->ops->list(st, "g/works", NULL, "ns1/a", collect_cb, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "ns1/b");
	memset(&c, 0, sizeof(c));
	st->ops->list(st, "g/works", "ns2", NULL, collect_cb, &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(put(st, KAPI_EVENT_DELETED, "g/works", "ns1", "b", b, b), 0);
	assert_int_equal(store_sqlite_flush(st, NULL), 0);
	assert_int_equal(store_sqlite_pending(st), 0);
	st->ops->free(st);

	/* reopened: objects and the counter (moved by the delete too) are back */
	st = open_store(p, false);
	assert_int_equal(st->ops->last_rv(st), 6);
	assert_int_equal(st->ops->count(st, "g/works", NULL), 2);
	assert_int_equal(st->ops->get(st, "g/works", "ns2", "a", &got), 0);
	assert_int_equal(json_integer_value(json_object_get(got, "v")), 3);
	json_decref(got);
	assert_int_equal(st->ops->get(st, "g/works", "ns1", "b", &got), -ENOENT);
	/* the watch window starts at the reopen: older resumes are 410 */
	{
		uint64_t oldest = 0;

		assert_int_equal(st->ops->history(st, 2, NULL, NULL, &oldest), -ESTALE);
	}
	st->ops->free(st);
	json_decref(a);
	json_decref(b);
	json_decref(a2);
	json_decref(x);
	free(p);
}

static int count_events(void *data, const struct kapi_store_event *ev)
{
	(*(int *)data)++;
	return 0;
}

static void test_history(void **state)
{
	char *p = db_path("hist.db");
	struct kapi_store *st = open_store(p, true);
	json_t *a = obj("a", 1);
	int n = 0;

	for (int i = 0; i < 5; i++)
		assert_int_equal(put(st, i ? KAPI_EVENT_MODIFIED : KAPI_EVENT_ADDED, "g/r", "", "a", i ? a : NULL, a), 0);
	assert_int_equal(st->ops->history(st, 2, count_events, &n, NULL), 0);
	assert_int_equal(n, 3);
	st->ops->free(st);
	json_decref(a);
	free(p);
}

/* Commit in a child that dies without cleanup; return what the parent sees. */
static int child_writes(const char *p, bool flush)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct kapi_store *st = open_store(p, false);
		json_t *o = obj("durable", 1);

		put(st, KAPI_EVENT_ADDED, "g/r", "ns", flush ? "flushed" : "unflushed", NULL, o);
		if (flush)
			store_sqlite_flush(st, NULL);
		_exit(0); /* no free, no close: as if killed */
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_durability(void **state)
{
	char *p = db_path("dur.db");
	struct kapi_store *st = open_store(p, true);
	json_t *got = NULL;

	st->ops->free(st);
	assert_int_equal(child_writes(p, false), 0);
	assert_int_equal(child_writes(p, true), 0);
	st = open_store(p, false);
	assert_int_equal(st->ops->get(st, "g/r", "ns", "flushed", &got), 0);
	json_decref(got);
	assert_int_equal(st->ops->get(st, "g/r", "ns", "unflushed", &got), -ENOENT);
	assert_int_equal(st->ops->last_rv(st), 1);
	st->ops->free(st);
	free(p);
}

static void test_schema_and_damage(void **state)
{
	char *p = db_path("schema.db");
	struct store_sqlite_config cfg = {.path = p};
	struct kapi_store *st = open_store(p, true);
	struct errbuf err = {""};
	sqlite3 *db;

	st->ops->free(st);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_sqlite_open(&cfg, &st, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "newer"));

	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1;"
					  "INSERT INTO objects VALUES ('g/r', '', 'bad', 0, '{not json');",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_sqlite_open(&cfg, &st, &err), -EIO);
	assert_non_null(strstr(err.msg, "damaged"));
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_open_errors),
		cmocka_unit_test(test_semantics),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_durability),
		cmocka_unit_test(test_schema_and_damage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
