/* Unit tests for common/kubeconfig: merging, decoding, messages naming file
 * and field, in-cluster configuration and token rotation. Fixtures are in
 * tests/data/kubeconfig/. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "kubeconfig.h"

static char *fixture(const char *name)
{
	const char *dir = getenv("NAVE_TEST_DATA");

	assert_non_null(dir);
	return xasprintf("%s/kubeconfig/%s", dir, name);
}

/* Load one fixture; returns the code and fills *cfg (NULL on failure) and err. */
static int load(const char *name, const char *context, struct errbuf *err, struct kubeconfig **cfg)
{
	char *path = fixture(name);
	int r;

	*cfg = NULL;
	errbuf_clear(err);
	r = kubeconfig_load_files(path, context, err, cfg);
	free(path);
	return r;
}

static void expect_error(const char *name, int code, const char *fragment)
{
	struct kubeconfig *cfg;
	struct errbuf err;
	int r = load(name, NULL, &err, &cfg);

	if (r != code || !strstr(err.msg, fragment) || !strstr(err.msg, name))
		fail_msg("%s: r=%d (want %d) msg=\"%s\" (want \"%s\")", name, r, code, err.msg, fragment);
	assert_null(cfg);
}

static void test_good_current_context(void **state)
{
	struct kubeconfig *cfg;
	struct errbuf err;

	assert_int_equal(load("good.yaml", NULL, &err, &cfg), 0);
	assert_string_equal(cfg->context, "prod");
	assert_string_equal(cfg->server, "https://10.0.0.1:6443");
	assert_string_equal(cfg->namespace, "payments");
	assert_false(cfg->insecure);
	assert_non_null(cfg->ca_pem);
	assert_non_null(strstr((char *)cfg->ca_pem, "BEGIN CERTIFICATE"));
	assert_non_null(cfg->cert_pem);
	assert_non_null(cfg->key_pem);
	assert_non_null(strstr((char *)cfg->key_pem, "EC PRIVATE KEY"));
	assert_null(cfg->token);
	assert_false(cfg->in_cluster);
	kubeconfig_free(cfg);
}

static void test_good_explicit_context(void **state)
{
	struct kubeconfig *cfg;
	struct errbuf err;

	assert_int_equal(load("good.yaml", "dev", &err, &cfg), 0);
	assert_string_equal(cfg->context, "dev");
	/* the trailing slash is dropped */
	assert_string_equal(cfg->server, "https://dev.example:6443");
	assert_string_equal(cfg->namespace, "default");
	assert_true(cfg->insecure);
	assert_null(cfg->ca_pem);
	assert_null(cfg->cert_pem);
	assert_string_equal(kubeconfig_token(cfg), "dev-token");
	assert_null(cfg->token_file);
	kubeconfig_free(cfg);
}

static void test_unknown_explicit_context(void **state)
{
	struct kubeconfig *cfg;
	struct errbuf err;

	assert_int_equal(load("good.yaml", "staging", &err, &cfg), -ENOENT);
	assert_non_null(strstr(err.msg, "context \"staging\" not found"));
	assert_null(cfg);
}

static void test_relative_files(void **state)
{
	struct kubeconfig *cfg;
	struct errbuf err;
	bool changed = true;

	assert_int_equal(load("files.yaml", NULL, &err, &cfg), 0);
	assert_string_equal(cfg->server, "http://127.0.0.1:8080");
	assert_non_null(strstr((char *)cfg->ca_pem, "MIIBfile"));
	assert_string_equal(kubeconfig_token(cfg), "file-token-1");
	assert_non_null(cfg->token_file);
	assert_non_null(strstr(cfg->token_file, "kubeconfig/token.txt"));
	assert_int_equal(kubeconfig_token_reload(cfg, &changed), 0);
	assert_false(changed);
	kubeconfig_free(cfg);
}

static void test_merge_first_wins(void **state)
{
	char *a = fixture("merge-a.yaml"), *b = fixture("merge-b.yaml");
	char *missing = fixture("does-not-exist.yaml");
	char *paths = xasprintf("%s:%s::%s", a, missing, b);
	struct kubeconfig *cfg = NULL;
	struct errbuf err;

	/* current-context from the first file; "from-b" defined in a wins over b's */
	assert_int_equal(kubeconfig_load_files(paths, NULL, &err, &cfg), 0);
	assert_string_equal(cfg->context, "from-b");
	assert_string_equal(cfg->server, "https://a.example");
	assert_string_equal(cfg->namespace, "team-a");
	assert_null(cfg->token);
	kubeconfig_free(cfg);

	/* a context only in b, using b's cluster and user */
	assert_int_equal(kubeconfig_load_files(paths, "bctx", &err, &cfg), 0);
	assert_string_equal(cfg->server, "https://only-b.example");
	assert_string_equal(cfg->token, "b-token");
	assert_string_equal(cfg->namespace, "team-b");
	kubeconfig_free(cfg);

	/* the other order: b's current-context and b's "shared" */
	free(paths);
	paths = xasprintf("%s:%s", b, a);
	assert_int_equal(kubeconfig_load_files(paths, NULL, &err, &cfg), 0);
	assert_string_equal(cfg->context, "bctx");
	assert_string_equal(cfg->server, "https://only-b.example");
	kubeconfig_free(cfg);

	free(paths);
	free(a);
	free(b);
	free(missing);
}

static void test_single_missing_file(void **state)
{
	struct kubeconfig *cfg;
	struct errbuf err;

	assert_int_equal(load("does-not-exist.yaml", NULL, &err, &cfg), -ENOENT);
	assert_non_null(strstr(err.msg, "does-not-exist.yaml"));
}

static void test_all_missing(void **state)
{
	struct kubeconfig *cfg = NULL;
	struct errbuf err;

	assert_int_equal(kubeconfig_load_files("/nonexistent/a:/nonexistent/b", NULL, &err, &cfg), -ENOENT);
	assert_non_null(strstr(err.msg, "no kubeconfig file found"));
}

static void test_malformed(void **state)
{
	expect_error("bad-base64.yaml", -EINVAL, "users[0].user.client-key-data: invalid base64");
	expect_error("missing-server.yaml", -EINVAL, "clusters[0].cluster.server: required");
	expect_error("unknown-context.yaml", -ENOENT, "current-context: context \"nope\" not found");
	expect_error("unknown-user.yaml", -ENOENT, "contexts[0].context.user: user \"ghost\" not found");
	expect_error("no-current.yaml", -ENOENT, "current-context is not set");
	expect_error("not-mapping.yaml", -EINVAL, "not a mapping");
	expect_error("bad-yaml.yaml", -EINVAL, "bad-yaml.yaml");
	expect_error("insecure-with-ca.yaml", -EINVAL, "insecure-skip-tls-verify is not allowed");
	expect_error("exec.yaml", -EINVAL, "users[0].user.exec: not supported");
	expect_error("cert-without-key.yaml", -EINVAL, "users[0].user.client-key: required");
	expect_error("clusters-not-list.yaml", -EINVAL, "clusters: must be a list");
	expect_error("missing-ca-file.yaml", -ENOENT, "clusters[0].cluster.certificate-authority");
	expect_error("bad-server.yaml", -EINVAL, "clusters[0].cluster.server: must start with https://");
	expect_error("bad-namespace.yaml", -EINVAL, "contexts[0].context.namespace");
	expect_error("ca-not-pem.yaml", -EINVAL, "certificate-authority-data: not PEM");
	expect_error("empty.yaml", -ENOENT, "current-context is not set");
}

static void test_parse_in_memory(void **state)
{
	static const char text[] =
		"clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n"
		"users: [{name: u, user: {token: t0k}}]\n"
		"contexts: [{name: k, context: {cluster: c, user: u, namespace: ns1}}]\n"
		"current-context: k\n";
	struct kubeconfig_source src = { .name = "mem", .text = text, .len = sizeof(text) - 1 };
	struct kubeconfig *cfg = NULL;
	struct errbuf err;

	assert_int_equal(kubeconfig_parse(&src, 1, NULL, &err, &cfg), 0);
	assert_string_equal(cfg->server, "https://x:1");
	assert_string_equal(cfg->token, "t0k");
	assert_string_equal(cfg->namespace, "ns1");
	kubeconfig_free(cfg);

	/* a token with a control character cannot become a header */
	static const char bad[] =
		"clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n"
		"users: [{name: u, user: {token: \"a\\nb\"}}]\n"
		"contexts: [{name: k, context: {cluster: c, user: u}}]\n"
		"current-context: k\n";
	src.text = bad;
	src.len = sizeof(bad) - 1;
	assert_int_equal(kubeconfig_parse(&src, 1, NULL, &err, &cfg), -EINVAL);
	assert_non_null(strstr(err.msg, "mem: users[0].user.token: invalid character"));
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void test_in_cluster(void **state)
{
	char dir[] = "/tmp/kubeconfig-test-XXXXXX";
	struct kubeconfig *cfg = NULL;
	struct errbuf err;
	bool changed = false;

	assert_non_null(mkdtemp(dir));
	write_file(dir, "token", "sa-token-1\n");
	write_file(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	write_file(dir, "namespace", "kube-system");

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("POD_NAMESPACE");
	assert_int_equal(kubeconfig_in_cluster(dir, &err, &cfg), -ENOENT);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));

	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	assert_int_equal(kubeconfig_in_cluster(dir, &err, &cfg), 0);
	assert_true(cfg->in_cluster);
	assert_string_equal(cfg->server, "https://127.0.0.1:6443");
	assert_string_equal(cfg->namespace, "kube-system");
	assert_string_equal(kubeconfig_token(cfg), "sa-token-1");
	assert_non_null(strstr((char *)cfg->ca_pem, "BEGIN CERTIFICATE"));

	/* rotation: the file changes, a reload sees it */
	write_file(dir, "token", "sa-token-2");
	assert_int_equal(kubeconfig_token_reload(cfg, &changed), 0);
	assert_true(changed);
	assert_string_equal(kubeconfig_token(cfg), "sa-token-2");
	/* a failed re-read keeps the old token */
	write_file(dir, "token", "");
	assert_int_equal(kubeconfig_token_reload(cfg, &changed), -EINVAL);
	assert_string_equal(kubeconfig_token(cfg), "sa-token-2");
	kubeconfig_free(cfg);

	/* POD_NAMESPACE wins; IPv6 hosts are bracketed */
	setenv("POD_NAMESPACE", "agents", 1);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	write_file(dir, "token", "x");
	assert_int_equal(kubeconfig_in_cluster(dir, &err, &cfg), 0);
	assert_string_equal(cfg->namespace, "agents");
	assert_string_equal(cfg->server, "https://[fd00::1]:6443");
	kubeconfig_free(cfg);

	/* a missing CA is an error naming the file */
	{
		char *ca = xasprintf("%s/ca.crt", dir);

		unlink(ca);
		assert_int_equal(kubeconfig_in_cluster(dir, &err, &cfg), -ENOENT);
		assert_non_null(strstr(err.msg, "ca.crt"));
		free(ca);
	}
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("POD_NAMESPACE");
	{
		char *cmd = xasprintf("rm -rf %s", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
}

static void test_load_auto_prefers_kubeconfig_env(void **state)
{
	char *good = fixture("good.yaml");
	struct kubeconfig *cfg = NULL;
	struct errbuf err;

	setenv("KUBECONFIG", good, 1);
	assert_int_equal(kubeconfig_load_auto(NULL, "dev", &err, &cfg), 0);
	assert_string_equal(cfg->context, "dev");
	kubeconfig_free(cfg);
	/* an explicit path wins over the environment */
	unsetenv("KUBECONFIG");
	assert_int_equal(kubeconfig_load_auto(good, NULL, &err, &cfg), 0);
	assert_string_equal(cfg->context, "prod");
	kubeconfig_free(cfg);
	free(good);
}

static void test_free_null(void **state)
{
	assert_null(kubeconfig_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_current_context),
		cmocka_unit_test(test_good_explicit_context),
		cmocka_unit_test(test_unknown_explicit_context),
		cmocka_unit_test(test_relative_files),
		cmocka_unit_test(test_merge_first_wins),
		cmocka_unit_test(test_single_missing_file),
		cmocka_unit_test(test_all_missing),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_parse_in_memory),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_load_auto_prefers_kubeconfig_env),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
