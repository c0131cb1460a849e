/* The in-cluster path against nave-kubesim over TLS: KUBERNETES_SERVICE_HOST
 * and _PORT, the service-account token, ca.crt and namespace files it lays
 * out (--in-cluster-dir), and token rotation: the token file is rewritten and
 * the client picks the new token up, periodically and after a 401.
 * The simulator accepts the tokens of its --token-file (two here: the one it
 * writes into the service-account directory, and the rotated one).
 * Skips (77) without $NAVE_KUBESIM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kclient_ops.h"
#include "ktest.h"
#include "simproc.h"

#define TOKEN_A "token-a-0123456789abcdef"
#define TOKEN_B "token-b-fedcba9876543210"

static uv_loop_t loop;
static struct simproc sim;
static char *tokens_path;
static char *sa_dir;

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/kclient-tokens-XXXXXX";
	int fd = mkstemp(tmpl);
	const char *extra[] = { "--token-file", tmpl, NULL };
	FILE *f;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	fprintf(f, "%s,system:serviceaccount:agents:klusterlet,uid-a\n%s,system:serviceaccount:agents:klusterlet,uid-b\n",
		TOKEN_A, TOKEN_B);
	fclose(f);
	tokens_path = xstrdup(tmpl);
	uv_loop_init(&loop);
	if (simproc_start(&sim, true, extra) < 0)
		return -1;
	sa_dir = xasprintf("%s/cluster-1/serviceaccount", sim.incluster_dir);
	return 0;
}

static int group_teardown(void **state)
{
	ktest_drain(&loop);
	uv_loop_close(&loop);
	simproc_stop(&sim);
	unlink(tokens_path);
	free(tokens_path);
	free(sa_dir);
	return 0;
}

static void write_token(const char *tok)
{
	char *path = xasprintf("%s/token", sa_dir);
	char *tmp = xasprintf("%s.new", path);
	FILE *f = fopen(tmp, "w");

	assert_non_null(f);
	fputs(tok, f);
	fclose(f);
	/* atomically, as the kubelet's projected volumes do */
	assert_int_equal(rename(tmp, path), 0);
	free(path);
	free(tmp);
}

static struct ktest_res *get_ns(struct kclient *kc, struct ktest_res *r)
{
	ktest_res_reset(r);
	assert_int_equal(kclient_get(kc, &(struct kref){ .version = "v1", .resource = "namespaces", .name = "default" },
				     ktest_done, r, NULL),
			 0);
	assert_true(ktest_run_until(&loop, &r->done, 10000));
	return r;
}

static void test_in_cluster_tls_and_rotation(void **state)
{
	struct kubeconfig *cfg = NULL;
	struct kclient *kc = NULL;
	struct kclient_stats st;
	struct ktest_res r = { 0 };
	struct errbuf err;
	char port[16];

	snprintf(port, sizeof(port), "%d", sim.port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);
	unsetenv("POD_NAMESPACE");
	if (kubeconfig_in_cluster(sa_dir, &err, &cfg) < 0)
		fail_msg("%s", err.msg);
	assert_true(cfg->in_cluster);
	assert_non_null(cfg->ca_pem);
	assert_false(cfg->insecure);
	assert_int_equal(strncmp(cfg->server, "https://127.0.0.1:", 18), 0);
	assert_string_equal(cfg->token, TOKEN_A);
	cfg->token_refresh_us = 300 * 1000; /* re-read every 300 ms instead of every minute */
	assert_int_equal(kclient_new(&loop, cfg, NULL, &err, &kc), 0);

	/* TLS verified against the service-account ca.crt, token accepted */
	get_ns(kc, &r);
	assert_int_equal(r.r, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "metadata"), "name")), "default");

	/* rotation: the file changes, the next request after the period uses it */
	write_token(TOKEN_B "\n");
	ktest_run_for(&loop, 400);
	get_ns(kc, &r);
	assert_int_equal(r.r, 0);
	assert_string_equal(kclient_config(kc)->token, TOKEN_B);

	/* a token the server does not accept: 401, the file is re-read, still bad */
	write_token("revoked-token");
	ktest_run_for(&loop, 400);
	get_ns(kc, &r);
	assert_int_equal(r.reason, KCLIENT_UNAUTHORIZED);
	assert_int_equal(r.status, 401);

	/* rotated again, and no periodic re-read due: the 401 makes the client
	 * re-read the file, and the request succeeds with the new token */
	kclient_config(kc)->token_refresh_us = 3600 * INT64_C(1000000);
	write_token(TOKEN_A);
	kclient_get_stats(kc, &st);
	{
		uint64_t reloads = st.token_reloads;

		get_ns(kc, &r);
		assert_int_equal(r.r, 0);
		kclient_get_stats(kc, &st);
		assert_int_equal(st.token_reloads, reloads + 1);
	}
	assert_string_equal(kclient_config(kc)->token, TOKEN_A);
	ktest_res_reset(&r);
	kclient_free(kc);
	ktest_drain(&loop);

	/* the namespace file and POD_NAMESPACE */
	assert_int_equal(kubeconfig_in_cluster(sa_dir, &err, &cfg), 0);
	assert_non_null(cfg->namespace);
	kubeconfig_free(cfg);
	setenv("POD_NAMESPACE", "agents", 1);
	assert_int_equal(kubeconfig_in_cluster(sa_dir, &err, &cfg), 0);
	assert_string_equal(cfg->namespace, "agents");
	kubeconfig_free(cfg);
	unsetenv("POD_NAMESPACE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_cluster_tls_and_rotation),
	};
	const char *bin = getenv("NAVE_KUBESIM");

	if (!bin || access(bin, X_OK) != 0) {
		fprintf(stderr, "NAVE_KUBESIM not set or not executable: skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
