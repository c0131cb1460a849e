/* Unit tests for klusterlet/store (the state directory backend): modes
 * (0700 directories, 0600 files), refusal of a readable directory, save and
 * load, key checks, and recovery of a save interrupted before or after its
 * commit marker (kill -9 in the middle of a certificate renewal). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "store.h"

struct result {
	bool done;
	int r;
	json_t *values;
};

static void on_load(void *ud, int r, json_t *values, const char *msg)
{
	struct result *res = ud;

	res->done = true;
	res->r = r;
	res->values = values ? json_deep_copy(values) : NULL;
}

static void on_save(void *ud, int r, const char *msg)
{
	struct result *res = ud;

	res->done = true;
	res->r = r;
}

static void run_until(uv_loop_t *loop, struct result *res)
{
	for (int i = 0; i < 10000 && !res->done; i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_true(res->done);
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/agent-store-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void rm_rf(const char *path)
{
	char *cmd = xasprintf("rm -rf '%s'", path);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static unsigned mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_modes_and_round_trip(void **state)
{
	uv_loop_t loop;
	struct agent_store *st = NULL;
	struct result res = { 0 };
	struct errbuf err;
	char *base = tmpdir(), *dir = xasprintf("%s/a/b", base), *p;
	json_t *v;

	uv_loop_init(&loop);
	/* missing parents are made, 0700 */
	assert_int_equal(agent_store_new_dir(&loop, dir, &err, &st), 0);
	assert_int_equal(mode_of(dir), 0700);
	assert_false(agent_store_is_secret(st));
	assert_int_equal(agent_store_load(st, "creds", on_load, &res), 0);
	run_until(&loop, &res);
	assert_int_equal(res.r, -ENOENT);

	v = json_pack("{s:s, s:s}", "tls.key", "secret key", "hub-url", "https://h:1");
	res = (struct result){ 0 };
	assert_int_equal(agent_store_save(st, "creds", v, on_save, &res, &err), 0);
	run_until(&loop, &res);
	assert_int_equal(res.r, 0);
	p = xasprintf("%s/creds", dir);
	assert_int_equal(mode_of(p), 0700);
	free(p);
	p = xasprintf("%s/creds/tls.key", dir);
	assert_int_equal(mode_of(p), 0600);
	free(p);

	/* a second save with fewer keys replaces the object */
	json_decref(v);
	v = json_pack("{s:s}", "tls.key", "new key");
	res = (struct result){ 0 };
	assert_int_equal(agent_store_save(st, "creds", v, on_save, &res, &err), 0);
	run_until(&loop, &res);
	res = (struct result){ 0 };
	assert_int_equal(agent_store_load(st, "creds", on_load, &res), 0);
	run_until(&loop, &res);
	assert_int_equal(res.r, 0);
	assert_int_equal(json_object_size(res.values), 1);
	assert_string_equal(json_string_value(json_object_get(res.values, "tls.key")), "new key");
	json_decref(res.values);

	/* bad keys and object names are refused at once */
	json_decref(v);
	v = json_pack("{s:s}", "../x", "y");
	assert_int_equal(agent_store_save(st, "creds", v, NULL, NULL, &err), -EINVAL);
	json_decref(v);
	v = json_pack("{s:s}", "a.new", "y");
	assert_int_equal(agent_store_save(st, "creds", v, NULL, NULL, &err), -EINVAL);
	assert_int_equal(agent_store_save(st, "Bad/Name", v, NULL, NULL, &err), -EINVAL);
	json_decref(v);
	v = json_pack("{s:i}", "k", 1);
	assert_int_equal(agent_store_save(st, "creds", v, NULL, NULL, &err), -EINVAL);
	json_decref(v);

	agent_store_free(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	rm_rf(base);
	free(dir);
	free(base);
}

static void test_refuses_open_directory(void **state)
{
	uv_loop_t loop;
	struct agent_store *st = NULL;
	struct errbuf err;
	char *base = tmpdir();

	uv_loop_init(&loop);
	assert_int_equal(chmod(base, 0755), 0);
	assert_int_equal(agent_store_new_dir(&loop, base, &err, &st), -EPERM);
	assert_non_null(strstr(err.msg, "chmod 700"));
	assert_int_equal(agent_store_new_dir(&loop, "", &err, &st), -EINVAL);
	uv_loop_close(&loop);
	rm_rf(base);
	free(base);
}

/* A save interrupted after its marker is finished by the next load; one
 * interrupted before it is undone. */
static void test_recovery(void **state)
{
	uv_loop_t loop;
	struct agent_store *st = NULL;
	struct result res = { 0 };
	struct errbuf err;
	char *base = tmpdir(), *obj = xasprintf("%s/creds", base), *p;

	uv_loop_init(&loop);
	assert_int_equal(agent_store_new_dir(&loop, base, &err, &st), 0);
	assert_int_equal(mkdir(obj, 0700), 0);
	p = xasprintf("%s/tls.crt", obj);
	write_text(p, "old cert");
	free(p);
	p = xasprintf("%s/tls.key", obj);
	write_text(p, "old key");
	free(p);
	/* interrupted before the marker: the new values are dropped */
	p = xasprintf("%s/tls.key.new", obj);
	write_text(p, "new key");
	free(p);
	assert_int_equal(agent_store_load(st, "creds", on_load, &res), 0);
	run_until(&loop, &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(json_string_value(json_object_get(res.values, "tls.key")), "old key");
	assert_string_equal(json_string_value(json_object_get(res.values, "tls.crt")), "old cert");
	json_decref(res.values);
	p = xasprintf("%s/tls.key.new", obj);
	assert_int_equal(access(p, F_OK), -1);
	free(p);

	/* interrupted after the marker: the new key and certificate both land */
	p = xasprintf("%s/tls.key.new", obj);
	write_text(p, "new key");
	free(p);
	p = xasprintf("%s/tls.crt.new", obj);
	write_text(p, "new cert");
	free(p);
	p = xasprintf("%s/.commit", obj);
	write_text(p, "");
	free(p);
	res = (struct result){ 0 };
	assert_int_equal(agent_store_load(st, "creds", on_load, &res), 0);
	run_until(&loop, &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(json_string_value(json_object_get(res.values, "tls.key")), "new key");
	assert_string_equal(json_string_value(json_object_get(res.values, "tls.crt")), "new cert");
	json_decref(res.values);
	p = xasprintf("%s/.commit", obj);
	assert_int_equal(access(p, F_OK), -1);
	free(p);

	agent_store_free(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	rm_rf(base);
	free(obj);
	free(base);
}

/* Freeing the store from its own callback, and with work queued. */
static void on_load_free(void *ud, int r, json_t *values, const char *msg)
{
	struct agent_store **stp = ud;

	*stp = agent_store_free(*stp);
}

static void test_free_from_callback(void **state)
{
	uv_loop_t loop;
	struct agent_store *st = NULL;
	struct errbuf err;
	char *base = tmpdir();

	uv_loop_init(&loop);
	assert_int_equal(agent_store_new_dir(&loop, base, &err, &st), 0);
	assert_int_equal(agent_store_load(st, "a", on_load_free, &st), 0);
	assert_int_equal(agent_store_load(st, "b", on_load_free, &st), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_null(st);
	/* freed with an operation in flight: no callback, no leak */
	assert_int_equal(agent_store_new_dir(&loop, base, &err, &st), 0);
	assert_int_equal(agent_store_load(st, "a", on_load_free, NULL), 0);
	agent_store_free(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	rm_rf(base);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes_and_round_trip),
		cmocka_unit_test(test_refuses_open_directory),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_free_from_callback),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
