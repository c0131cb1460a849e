/* kclient against nave-kubesim (HTTPS, bearer token, from its kubeconfig):
 * every operation and the error kinds a real API server returns, selectors and
 * pagination, the status subresource, deletion options, watch resumption and
 * relist after 410, a CRD usable right after creation, and the rate limiter.
 * Skips (exit 77) when $NAVE_KUBESIM is not set. */
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
#include "kdiscovery.h"
#include "ktest.h"
#include "kwatch.h"
#include "simproc.h"
#include "tcpproxy.h"
#include "x509.h"

/* The simulator keeps this many changes for watches to resume from; the
 * relist test passes it as --watch-history and writes past it. */
#define SIM_HISTORY 50

struct group {
	uv_loop_t loop;
	struct simproc sim;
	struct kclient *kc;
	struct ktest_res res;
};

static struct group *G;

static struct kclient *client_for(const char *kubeconfig, const struct kclient_options *opts)
{
	struct kubeconfig *cfg = NULL;
	struct kclient *kc = NULL;
	struct errbuf err;

	if (kubeconfig_load_files(kubeconfig, NULL, &err, &cfg) < 0)
		fail_msg("%s", err.msg);
	if (kclient_new(&G->loop, cfg, opts, &err, &kc) < 0)
		fail_msg("%s", err.msg);
	return kc;
}

static int group_setup(void **state)
{
	char hist[16];
	const char *extra[] = { "--watch-history", hist, "--ready-delay", "100ms", NULL };

	snprintf(hist, sizeof(hist), "%d", SIM_HISTORY);
	G = xnew(struct group);
	uv_loop_init(&G->loop);
	if (simproc_start(&G->sim, false, extra) < 0)
		return -1;
	G->kc = client_for(G->sim.kubeconfig, &(struct kclient_options){ .qps = -1 });
	*state = G;
	return 0;
}

static int group_teardown(void **state)
{
	kclient_free(G->kc);
	ktest_drain(&G->loop);
	ktest_res_reset(&G->res);
	uv_loop_close(&G->loop);
	if (simproc_stop(&G->sim) != 0)
		fprintf(stderr, "nave-kubesim did not exit cleanly\n");
	free(G);
	return 0;
}

/* Wait for the result of a started operation. */
static struct ktest_res *wait_res(int start_r)
{
	assert_int_equal(start_r, 0);
	if (!ktest_run_until(&G->loop, &G->res.done, 15000)) {
		simproc_dump_log(&G->sim);
		fail_msg("no answer within 15 s");
	}
	return &G->res;
}

#define RES (ktest_res_reset(&G->res), &G->res)

static json_t *J(const char *fmt, ...)
{
	json_error_t e;
	va_list ap;
	json_t *v;

	va_start(ap, fmt);
	v = json_vpack_ex(&e, 0, fmt, ap);
	va_end(ap);
	if (!v)
		fail_msg("json_pack: %s", e.text);
	return v;
}

static const char *rv_of(const json_t *o)
{
	return json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
}

static const char *uid_of(const json_t *o)
{
	return json_string_value(json_object_get(json_object_get(o, "metadata"), "uid"));
}

static void expect(const struct ktest_res *r, enum kclient_reason reason, int code, const char *msg)
{
	if (r->reason != reason || r->status != code || (msg && !strstr(r->message, msg)))
		fail_msg("want %s/%d \"%s\", got %s/%ld r=%d \"%s\"", kclient_reason_name(reason), code,
			 msg ? msg : "", kclient_reason_name(r->reason), r->status, r->r, r->message);
	assert_int_equal(r->r, kclient_reason_errno(reason));
}

static void ensure_namespace(const char *name)
{
	json_t *ns = J("{ss ss s{ss}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", name);
	struct ktest_res *r;

	r = wait_res(kclient_create(G->kc, &(struct kref){ .version = "v1", .resource = "namespaces" }, ns, NULL,
				    ktest_done, RES, NULL));
	if (r->r != 0 && r->reason != KCLIENT_ALREADY_EXISTS)
		fail_msg("namespace %s: %s", name, r->message);
	json_decref(ns);
}

static json_t *configmap(const char *ns, const char *name, const char *k, const char *v)
{
	return J("{ss ss s{ss ss s{ss}} s{ss}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name", name,
		 "namespace", ns, "labels", "app", "kclient", "data", k, v);
}

static json_t *deployment(const char *ns, const char *name, int replicas)
{
	return J("{ss ss s{ss ss} s{si s{s{ss}} s{s{s{ss}} s{s[{ss ss}{ss ss}]}}}}",
		 "apiVersion", "apps/v1", "kind", "Deployment",
		 "metadata", "name", name, "namespace", ns,
		 "spec", "replicas", replicas, "selector", "matchLabels", "app", name,
		 "template", "metadata", "labels", "app", name,
		 "spec", "containers", "name", "a", "image", "nginx:1", "name", "b", "image", "redis:1");
}

/* --- create, get, update, patch, apply, delete and their errors ---------- */

static void test_crud_and_errors(void **state)
{
	struct kref cms = { .version = "v1", .resource = "configmaps", .namespace = "kc-crud" };
	struct kref cm1 = cms;
	json_t *obj, *got, *p;
	struct ktest_res *r;
	char rv1[64];

	ensure_namespace("kc-crud");
	cm1.name = "cm1";

	obj = configmap("kc-crud", "cm1", "k", "v1");
	r = wait_res(kclient_create(G->kc, &cms, obj, &(struct kclient_write_opts){ .field_manager = "kclient-test" },
				    ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(r->status, 201);
	assert_non_null(uid_of(r->body));
	snprintf(rv1, sizeof(rv1), "%s", rv_of(r->body));

	/* AlreadyExists */
	r = wait_res(kclient_create(G->kc, &cms, obj, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_ALREADY_EXISTS, 409, "already exists");
	json_decref(obj);

	/* get */
	r = wait_res(kclient_get(G->kc, &cm1, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r->body, "data"), "k")), "v1");
	got = json_incref(r->body);

	/* update with the resourceVersion read */
	json_object_set_new(json_object_get(got, "data"), "k", json_string("v2"));
	r = wait_res(kclient_update(G->kc, &cm1, got, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(r->status, 200);
	assert_string_not_equal(rv_of(r->body), rv1);

	/* the same update again: its resourceVersion is stale now */
	r = wait_res(kclient_update(G->kc, &cm1, got, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_CONFLICT, 409, "the object has been modified");
	json_decref(got);

	/* NotFound */
	cm1.name = "nope";
	r = wait_res(kclient_get(G->kc, &cm1, ktest_done, RES, NULL));
	expect(r, KCLIENT_NOT_FOUND, 404, "\"nope\" not found");
	cm1.name = "cm1";

	/* Invalid: a name that is not a DNS subdomain */
	obj = configmap("kc-crud", "Not_Valid", "k", "v");
	r = wait_res(kclient_create(G->kc, &cms, obj, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_INVALID, 422, NULL);
	json_decref(obj);

	/* NotFound: a namespace that does not exist */
	obj = configmap("kc-missing-ns", "x", "k", "v");
	r = wait_res(kclient_create(G->kc, &(struct kref){ .version = "v1", .resource = "configmaps",
							   .namespace = "kc-missing-ns" },
				    obj, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_NOT_FOUND, 404, "kc-missing-ns");
	json_decref(obj);

	/* BadRequest: the body's namespace differs from the URL's */
	obj = configmap("other", "x", "k", "v");
	r = wait_res(kclient_create(G->kc, &cms, obj, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_BAD_REQUEST, 400, NULL);
	json_decref(obj);

	/* merge patch */
	p = J("{s{ss}}", "data", "k2", "m");
	r = wait_res(kclient_patch(G->kc, &cm1, KCLIENT_PATCH_MERGE, p, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r->body, "data"), "k2")), "m");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r->body, "data"), "k")), "v2");
	json_decref(p);

	/* JSON patch, and a failing test op (Invalid) */
	p = J("[{ss ss ss}]", "op", "replace", "path", "/data/k", "value", "j");
	r = wait_res(kclient_patch(G->kc, &cm1, KCLIENT_PATCH_JSON, p, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r->body, "data"), "k")), "j");
	json_decref(p);
	p = J("[{ss ss ss}]", "op", "test", "path", "/data/k", "value", "not-j");
	r = wait_res(kclient_patch(G->kc, &cm1, KCLIENT_PATCH_JSON, p, NULL, ktest_done, RES, NULL));
	assert_int_not_equal(r->r, 0);
	assert_true(r->reason == KCLIENT_INVALID || r->reason == KCLIENT_CONFLICT);
	json_decref(p);

	/* delete with a uid precondition that does not match: Conflict */
	r = wait_res(kclient_delete(G->kc, &cm1, &(struct kclient_delete_opts){ .precondition_uid = "not-the-uid" },
				    ktest_done, RES, NULL));
	expect(r, KCLIENT_CONFLICT, 409, NULL);
	r = wait_res(kclient_get(G->kc, &cm1, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	{
		char uid[128], rv[64];

		snprintf(uid, sizeof(uid), "%s", uid_of(r->body));
		snprintf(rv, sizeof(rv), "%s", rv_of(r->body));
		r = wait_res(kclient_delete(G->kc, &cm1,
					    &(struct kclient_delete_opts){ .precondition_rv = "1" },
					    ktest_done, RES, NULL));
		expect(r, KCLIENT_CONFLICT, 409, NULL);
		r = wait_res(kclient_delete(G->kc, &cm1,
					    &(struct kclient_delete_opts){ .precondition_uid = uid,
									   .precondition_rv = rv },
					    ktest_done, RES, NULL));
		assert_int_equal(r->r, 0);
		assert_int_equal(r->status, 200);
	}
	r = wait_res(kclient_get(G->kc, &cm1, ktest_done, RES, NULL));
	expect(r, KCLIENT_NOT_FOUND, 404, NULL);
	r = wait_res(kclient_delete(G->kc, &cm1, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_NOT_FOUND, 404, NULL);
}

static void test_strategic_and_apply(void **state)
{
	struct kref deps = { .group = "apps", .version = "v1", .resource = "deployments", .namespace = "kc-apply" };
	struct kref web = deps;
	json_t *obj, *p, *containers;
	struct ktest_res *r;

	ensure_namespace("kc-apply");
	web.name = "web";
	obj = deployment("kc-apply", "web", 1);
	r = wait_res(kclient_create(G->kc, &deps, obj, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	json_decref(obj);

	/* strategic merge: containers merge by name */
	p = J("{s{s{s{s[{ss ss}]}}}}", "spec", "template", "spec", "containers", "name", "b", "image", "redis:2");
	r = wait_res(kclient_patch(G->kc, &web, KCLIENT_PATCH_STRATEGIC, p, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	containers = json_object_get(json_object_get(json_object_get(json_object_get(r->body, "spec"), "template"),
						     "spec"),
				     "containers");
	assert_int_equal(json_array_size(containers), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(containers, 1), "image")), "redis:2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(containers, 0), "image")), "nginx:1");
	json_decref(p);

	/* server-side apply: manager one creates, manager two conflicts, force wins */
	obj = configmap("kc-apply", "ssa", "owned", "by-one");
	r = wait_res(kclient_apply(G->kc, &(struct kref){ .version = "v1", .resource = "configmaps", .namespace = "kc-apply" },
				   obj, &(struct kclient_patch_opts){ .field_manager = "one" }, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(r->status, 201);
	json_decref(obj);
	obj = configmap("kc-apply", "ssa", "owned", "by-two");
	r = wait_res(kclient_apply(G->kc, &(struct kref){ .version = "v1", .resource = "configmaps", .namespace = "kc-apply" },
				   obj, &(struct kclient_patch_opts){ .field_manager = "two" }, ktest_done, RES, NULL));
	expect(r, KCLIENT_CONFLICT, 409, "conflict");
	assert_true(json_array_size(r->causes) >= 1);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(r->causes, 0), "field")), "owned"));
	r = wait_res(kclient_apply(G->kc, &(struct kref){ .version = "v1", .resource = "configmaps", .namespace = "kc-apply" },
				   obj, &(struct kclient_patch_opts){ .field_manager = "two", .force = true },
				   ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r->body, "data"), "owned")), "by-two");
	json_decref(obj);

	/* foreground deletion: the object stays, marked, with the finalizer */
	r = wait_res(kclient_delete(G->kc, &web,
				    &(struct kclient_delete_opts){ .propagation = KCLIENT_PROPAGATION_FOREGROUND },
				    ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	if (json_object_get(json_object_get(r->body, "metadata"), "deletionTimestamp")) {
		json_t *fin = json_object_get(json_object_get(r->body, "metadata"), "finalizers");
		bool found = false;
		size_t i;
		json_t *f;

		json_array_foreach(fin, i, f)
			if (strcmp(json_string_value(f), "foregroundDeletion") == 0)
				found = true;
		assert_true(found);
	}
}

static void test_status_subresource(void **state)
{
	struct kref dep = { .group = "apps", .version = "v1", .resource = "deployments", .namespace = "kc-status",
			    .name = "st" };
	struct kref deps = dep;
	struct kref st = dep;
	struct ktest_res *r;
	json_t *obj, *p;

	deps.name = NULL;
	st.subresource = "status";
	ensure_namespace("kc-status");
	obj = deployment("kc-status", "st", 2);
	r = wait_res(kclient_create(G->kc, &deps, obj, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	json_decref(obj);

	r = wait_res(kclient_get(G->kc, &st, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_string_equal(json_string_value(json_object_get(r->body, "kind")), "Deployment");
	obj = json_deep_copy(r->body);

	/* PUT .../status: status changes, spec does not */
	json_object_set_new(obj, "status", J("{si si}", "observedGeneration", 99, "replicas", 7));
	json_object_set_new(json_object_get(obj, "spec"), "replicas", json_integer(5));
	json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
	r = wait_res(kclient_update(G->kc, &st, obj, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r->body, "spec"), "replicas")), 2);
	json_decref(obj);

	/* PATCH .../status */
	p = J("{s{s[{ss ss ss}]}}", "status", "conditions", "type", "Test", "status", "True", "reason", "ByClient");
	r = wait_res(kclient_patch(G->kc, &st, KCLIENT_PATCH_MERGE, p, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	{
		json_t *conds = json_object_get(json_object_get(r->body, "status"), "conditions");
		bool found = false;
		size_t i;
		json_t *c;

		json_array_foreach(conds, i, c)
			if (json_string_value(json_object_get(c, "type")) &&
			    strcmp(json_string_value(json_object_get(c, "type")), "Test") == 0)
				found = true;
		assert_true(found);
	}
	json_decref(p);

	/* a main-resource patch cannot touch status */
	p = J("{s{si}}", "status", "replicas", 1234);
	r = wait_res(kclient_patch(G->kc, &dep, KCLIENT_PATCH_MERGE, p, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_not_equal(json_integer_value(json_object_get(json_object_get(r->body, "status"), "replicas")), 1234);
	json_decref(p);
}

static void test_list_selectors_pagination(void **state)
{
	struct kref cms = { .version = "v1", .resource = "configmaps", .namespace = "kc-list" };
	struct ktest_res *r;
	char name[32];

	ensure_namespace("kc-list");
	for (int i = 0; i < 7; i++) {
		json_t *obj;

		snprintf(name, sizeof(name), "cm-%d", i);
		obj = configmap("kc-list", name, "i", name);
		json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "labels"), "parity",
				    json_string(i % 2 ? "odd" : "even"));
		r = wait_res(kclient_create(G->kc, &cms, obj, NULL, ktest_done, RES, NULL));
		assert_int_equal(r->r, 0);
		json_decref(obj);
	}
	r = wait_res(kclient_list(G->kc, &cms, &(struct kclient_list_opts){ .label_selector = "parity=odd" },
				  ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(json_array_size(json_object_get(r->body, "items")), 3);
	assert_non_null(rv_of(r->body));

	r = wait_res(kclient_list(G->kc, &cms, &(struct kclient_list_opts){ .label_selector = "parity in (odd,even),app=kclient",
									    .field_selector = "metadata.name=cm-4" },
				  ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(json_array_size(json_object_get(r->body, "items")), 1);

	/* one page, with a continue token */
	r = wait_res(kclient_list(G->kc, &cms, &(struct kclient_list_opts){ .limit = 2 }, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(json_array_size(json_object_get(r->body, "items")), 2);
	assert_non_null(json_string_value(json_object_get(json_object_get(r->body, "metadata"), "continue")));

	/* every page */
	r = wait_res(kclient_list_all(G->kc, &cms, &(struct kclient_list_opts){ .limit = 2 }, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_int_equal(json_array_size(json_object_get(r->body, "items")), 7);
	{
		json_t *last = json_array_get(json_object_get(r->body, "items"), 6);

		assert_string_equal(json_string_value(json_object_get(json_object_get(last, "metadata"), "name")), "cm-6");
	}

	/* a malformed selector is a BadRequest from the server */
	r = wait_res(kclient_list(G->kc, &cms, &(struct kclient_list_opts){ .label_selector = "a in (" },
				  ktest_done, RES, NULL));
	assert_int_not_equal(r->r, 0);
	assert_true(r->reason == KCLIENT_BAD_REQUEST || r->reason == KCLIENT_INVALID);

	/* a garbage continue token */
	r = wait_res(kclient_list(G->kc, &cms, &(struct kclient_list_opts){ .limit = 2, .continue_token = "!!" },
				  ktest_done, RES, NULL));
	assert_int_not_equal(r->r, 0);
}

static void test_unauthorized(void **state)
{
	struct kubeconfig *cfg = NULL;
	struct kclient *bad = NULL;
	struct errbuf err;
	struct ktest_res *r;

	assert_int_equal(kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg), 0);
	free(cfg->token);
	cfg->token = xstrdup("wrong-token");
	assert_int_equal(kclient_new(&G->loop, cfg, NULL, &err, &bad), 0);
	r = wait_res(kclient_get(bad, &(struct kref){ .version = "v1", .resource = "namespaces", .name = "default" },
				 ktest_done, RES, NULL));
	expect(r, KCLIENT_UNAUTHORIZED, 401, NULL);
	kclient_free(bad);

}

/* TLS material from the kubeconfig, as in-memory PEM (CURLOPT_*_BLOB). */
static void test_tls_material(void **state)
{
	struct kref def = { .version = "v1", .resource = "namespaces", .name = "default" };
	struct x509_ca *foreign = NULL;
	struct x509_key *key = NULL, *other = NULL;
	struct kubeconfig *cfg = NULL;
	struct kclient *kc = NULL;
	char *cert = NULL, *key_pem = NULL, *other_pem = NULL;
	struct ktest_res *r;
	struct errbuf err;

	assert_int_equal(x509_ca_create("kclient-test-foreign-ca", 3600, &foreign, &err), 0);
	assert_int_equal(x509_key_generate(&key, &err), 0);
	assert_int_equal(x509_key_generate(&other, &err), 0);
	assert_int_equal(x509_ca_sign(foreign, key, &(struct x509_cert_spec){ .cn = "kclient-test",
									      .usage = X509_USAGE_CLIENT,
									      .lifetime = 3600 },
				      &cert, &err), 0);
	assert_int_equal(x509_key_pem(key, &key_pem, &err), 0);
	assert_int_equal(x509_key_pem(other, &other_pem, &err), 0);

	/* a CA that did not sign the server: verification fails, no retries */
	assert_int_equal(kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg), 0);
	free(cfg->ca_pem);
	cfg->ca_pem = (uint8_t *)xstrdup(x509_ca_cert_pem(foreign));
	cfg->ca_pem_len = strlen((char *)cfg->ca_pem);
	assert_int_equal(kclient_new(&G->loop, cfg, NULL, &err, &kc), 0);
	r = wait_res(kclient_get(kc, &def, ktest_done, RES, NULL));
	assert_int_equal(r->reason, KCLIENT_TRANSPORT);
	assert_int_equal(r->status, 0);
	kclient_free(kc);

	/* insecure-skip-tls-verify: the same foreign CA does not matter */
	assert_int_equal(kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg), 0);
	free(cfg->ca_pem);
	cfg->ca_pem = NULL;
	cfg->ca_pem_len = 0;
	cfg->insecure = true;
	assert_int_equal(kclient_new(&G->loop, cfg, NULL, &err, &kc), 0);
	r = wait_res(kclient_get(kc, &def, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	kclient_free(kc);

	/* no CA at all: the system's roots do not know the simulator's CA */
	assert_int_equal(kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg), 0);
	free(cfg->ca_pem);
	cfg->ca_pem = NULL;
	cfg->ca_pem_len = 0;
	assert_int_equal(kclient_new(&G->loop, cfg, NULL, &err, &kc), 0);
	r = wait_res(kclient_get(kc, &def, ktest_done, RES, NULL));
	assert_int_equal(r->reason, KCLIENT_TRANSPORT);
	kclient_free(kc);

	/* a client certificate and its key are loaded from memory (the
	 * simulator authenticates by token and does not ask for one) */
	assert_int_equal(kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg), 0);
	cfg->cert_pem = (uint8_t *)xstrdup(cert);
	cfg->cert_pem_len = strlen(cert);
	cfg->key_pem = (uint8_t *)xstrdup(key_pem);
	cfg->key_pem_len = strlen(key_pem);
	assert_int_equal(kclient_new(&G->loop, cfg, NULL, &err, &kc), 0);
	r = wait_res(kclient_get(kc, &def, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	kclient_free(kc);

	/* ...and a key that does not match the certificate is refused by curl */
	assert_int_equal(kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg), 0);
	cfg->cert_pem = (uint8_t *)xstrdup(cert);
	cfg->cert_pem_len = strlen(cert);
	cfg->key_pem = (uint8_t *)xstrdup(other_pem);
	cfg->key_pem_len = strlen(other_pem);
	assert_int_equal(kclient_new(&G->loop, cfg, NULL, &err, &kc), 0);
	r = wait_res(kclient_get(kc, &def, ktest_done, RES, NULL));
	assert_int_equal(r->reason, KCLIENT_TRANSPORT);
	kclient_free(kc);

	free(cert);
	free(key_pem);
	free(other_pem);
	x509_key_free(key);
	x509_key_free(other);
	x509_ca_free(foreign);
}

static void test_forbidden_terminating_namespace(void **state)
{
	struct kref cms = { .version = "v1", .resource = "configmaps", .namespace = "kc-term" };
	struct kref ns = { .version = "v1", .resource = "namespaces", .name = "kc-term" };
	struct ktest_res *r;
	json_t *obj;

	ensure_namespace("kc-term");
	/* a finalizer nobody removes keeps the namespace Terminating */
	obj = configmap("kc-term", "held", "k", "v");
	json_object_set_new(json_object_get(obj, "metadata"), "finalizers", J("[s]", "example.com/hold"));
	r = wait_res(kclient_create(G->kc, &cms, obj, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	json_decref(obj);
	r = wait_res(kclient_delete(G->kc, &ns, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	obj = configmap("kc-term", "late", "k", "v");
	r = wait_res(kclient_create(G->kc, &cms, obj, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_FORBIDDEN, 403, "kc-term");
	json_decref(obj);
	/* protected namespaces cannot be deleted */
	ns.name = "default";
	r = wait_res(kclient_delete(G->kc, &ns, NULL, ktest_done, RES, NULL));
	expect(r, KCLIENT_FORBIDDEN, 403, NULL);
}

/* --- CRD and discovery --------------------------------------------------- */

static struct ktest_resolved resolve(struct kdiscovery *kd, const char *av, const char *kind)
{
	struct ktest_resolved x = { 0 };

	assert_int_equal(kdiscovery_resolve(kd, av, kind, ktest_on_resolved, &x, NULL), 0);
	assert_true(ktest_run_until(&G->loop, &x.done, 15000));
	return x;
}

static void test_crd_usable_after_creation(void **state)
{
	struct kdiscovery *kd = NULL;
	struct kdiscovery_stats st;
	struct ktest_resolved x;
	struct ktest_res *r;
	struct kref ref;
	json_t *crd, *w;

	assert_int_equal(kdiscovery_new(G->kc, NULL, &kd), 0);
	x = resolve(kd, "apps/v1", "Deployment");
	assert_int_equal(x.r, 0);
	assert_string_equal(x.m.resource, "deployments");
	assert_true(x.m.namespaced);
	x = resolve(kd, "v1", "Namespace");
	assert_int_equal(x.r, 0);
	assert_false(x.m.namespaced);
	x = resolve(kd, "example.com/v1", "Widget");
	assert_int_equal(x.r, -ENOENT);
	assert_non_null(strstr(x.msg, "no matches for kind \"Widget\" in version \"example.com/v1\""));

	crd = J("{ss ss s{ss} s{ss ss s{ss ss ss s[s]} s[{ss sb sb s{s{ss sb}}}]}}",
		"apiVersion", "apiextensions.k8s.io/v1", "kind", "CustomResourceDefinition",
		"metadata", "name", "widgets.example.com",
		"spec", "group", "example.com", "scope", "Namespaced",
		"names", "plural", "widgets", "singular", "widget", "kind", "Widget", "shortNames", "wd",
		"versions", "name", "v1", "served", 1, "storage", 1,
		"schema", "openAPIV3Schema", "type", "object", "x-kubernetes-preserve-unknown-fields", 1);
	r = wait_res(kclient_create(G->kc, &(struct kref){ .group = "apiextensions.k8s.io", .version = "v1",
							   .resource = "customresourcedefinitions" },
				    crd, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	json_decref(crd);

	/* at once: the miss refreshes discovery */
	x = resolve(kd, "example.com/v1", "Widget");
	if (x.r != 0)
		fail_msg("Widget not resolved after CRD creation: %s", x.msg);
	assert_string_equal(x.m.resource, "widgets");
	assert_true(x.m.namespaced);
	kdiscovery_get_stats(kd, &st);
	assert_true(st.refreshes >= 2);

	ensure_namespace("kc-crd");
	kmapping_ref(&x.m, "kc-crd", NULL, &ref);
	w = J("{ss ss s{ss} s{ss}}", "apiVersion", "example.com/v1", "kind", "Widget", "metadata", "name", "w1",
	      "spec", "size", "large");
	r = wait_res(kclient_create(G->kc, &ref, w, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	ref.name = "w1";
	r = wait_res(kclient_get(G->kc, &ref, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r->body, "spec"), "size")), "large");
	/* custom resources take no strategic merge patch */
	r = wait_res(kclient_patch(G->kc, &ref, KCLIENT_PATCH_STRATEGIC, json_object_get(w, "spec"), NULL,
				   ktest_done, RES, NULL));
	expect(r, KCLIENT_UNSUPPORTED_MEDIA, 415, NULL);
	json_decref(w);

	/* cached now: no new refresh */
	kdiscovery_get_stats(kd, &st);
	{
		uint64_t before = st.refreshes;

		x = resolve(kd, "example.com/v1", "Widget");
		assert_int_equal(x.r, 0);
		kdiscovery_get_stats(kd, &st);
		assert_int_equal(st.refreshes, before);
	}
	kdiscovery_free(kd);
}

/* --- watch ---------------------------------------------------------------- */

struct watcher {
	int added, modified, deleted, synced, relisted, errors;
	json_t *seen;   /* name -> count of ADDED */
	char last_deleted[64];
};

static void w_event(void *ud, struct kwatch *w, enum kwatch_event type, json_t *obj)
{
	struct watcher *x = ud;
	const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

	switch (type) {
	case KWATCH_ADDED:
		x->added++;
		json_object_set_new(x->seen, name,
				    json_integer(json_integer_value(json_object_get(x->seen, name)) + 1));
		break;
	case KWATCH_MODIFIED:
		x->modified++;
		break;
	case KWATCH_DELETED:
		x->deleted++;
		snprintf(x->last_deleted, sizeof(x->last_deleted), "%s", name);
		break;
	}
}

static void w_synced(void *ud, struct kwatch *w, bool relist)
{
	struct watcher *x = ud;

	x->synced++;
	if (relist)
		x->relisted++;
}

static void w_error(void *ud, struct kwatch *w, const struct kclient_error *err)
{
	((struct watcher *)ud)->errors++;
}

static const struct kwatch_handlers W_HANDLERS = { w_event, w_synced, w_error };

static bool wait_cond(bool (*pred)(void *), void *arg, int ms)
{
	int64_t deadline = time_mono_us() + (int64_t)ms * 1000;

	while (!pred(arg) && time_mono_us() < deadline)
		ktest_run_for(&G->loop, 20);
	return pred(arg);
}

struct want {
	struct watcher *x;
	int added, modified, deleted, synced;
};

static bool want_met(void *a)
{
	struct want *w = a;

	return w->x->added >= w->added && w->x->modified >= w->modified && w->x->deleted >= w->deleted &&
	       w->x->synced >= w->synced;
}

static void create_cm(const char *ns, const char *name)
{
	json_t *obj = configmap(ns, name, "k", "v");
	struct ktest_res *r = wait_res(kclient_create(G->kc, &(struct kref){ .version = "v1", .resource = "configmaps",
									    .namespace = ns },
						      obj, NULL, ktest_done, RES, NULL));

	assert_int_equal(r->r, 0);
	json_decref(obj);
}

static void test_watch_resume(void **state)
{
	struct kref cms = { .version = "v1", .resource = "configmaps", .namespace = "kc-watch" };
	struct watcher x = { .seen = json_object() };
	struct kwatch_stats st;
	struct kwatch *w = NULL;
	struct ktest_res *r;
	const char *key;
	json_t *v;
	char name[32];

	ensure_namespace("kc-watch");
	create_cm("kc-watch", "before");
	/* 1 s server timeout: the stream ends and resumes every second */
	assert_int_equal(kwatch_start(G->kc, &cms, &(struct kwatch_options){ .timeout_s = 1 }, &W_HANDLERS, &x, &w), 0);
	assert_true(wait_cond(want_met, &(struct want){ .x = &x, .added = 1, .synced = 1 }, 10000));
	assert_int_equal(x.relisted, 0);

	/* writes spread over ~3.5 s, across several stream restarts */
	for (int i = 0; i < 14; i++) {
		snprintf(name, sizeof(name), "w-%d", i);
		create_cm("kc-watch", name);
		ktest_run_for(&G->loop, 250);
	}
	assert_true(wait_cond(want_met, &(struct want){ .x = &x, .added = 15 }, 10000));
	kwatch_get_stats(w, &st);
	assert_true(st.watches >= 3);
	/* each exactly once: nothing lost or repeated across resumptions */
	json_object_foreach(x.seen, key, v)
		if (json_integer_value(v) != 1)
			fail_msg("%s added %lld times", key, (long long)json_integer_value(v));
	assert_int_equal(json_object_size(x.seen), 15);
	assert_int_equal(json_object_size(kwatch_store(w)), 15);

	/* modify and delete */
	{
		json_t *p = J("{s{ss}}", "data", "k", "changed");

		cms.name = "w-3";
		r = wait_res(kclient_patch(G->kc, &cms, KCLIENT_PATCH_MERGE, p, NULL, ktest_done, RES, NULL));
		assert_int_equal(r->r, 0);
		json_decref(p);
		r = wait_res(kclient_delete(G->kc, &cms, NULL, ktest_done, RES, NULL));
		assert_int_equal(r->r, 0);
		cms.name = NULL;
	}
	assert_true(wait_cond(want_met, &(struct want){ .x = &x, .added = 15, .modified = 1, .deleted = 1 }, 10000));
	assert_string_equal(x.last_deleted, "w-3");
	assert_null(kwatch_get(w, "kc-watch", "w-3"));
	assert_non_null(kwatch_get(w, "kc-watch", "w-4"));
	assert_int_equal(x.relisted, 0);
	kwatch_free(w);
	json_decref(x.seen);
}

static void test_watch_relist_after_410(void **state)
{
	struct kref cms = { .version = "v1", .resource = "configmaps", .namespace = "kc-relist" };
	struct watcher x = { .seen = json_object() };
	struct kclient *viaproxy;
	struct tcpproxy *proxy;
	struct kwatch_stats st;
	struct kwatch *w = NULL;
	struct ktest_res *r;
	int pport;

	ensure_namespace("kc-relist");
	create_cm("kc-relist", "stays");
	create_cm("kc-relist", "goes");

	/* the watch goes through a proxy we can cut */
	proxy = tcpproxy_new(&G->loop, G->sim.port, &pport);
	{
		struct kubeconfig *cfg = NULL;
		struct errbuf err;

		assert_int_equal(kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg), 0);
		free(cfg->server);
		cfg->server = xasprintf("https://127.0.0.1:%d", pport);
		assert_int_equal(kclient_new(&G->loop, cfg, &(struct kclient_options){ .qps = -1 }, &err, &viaproxy), 0);
	}
	assert_int_equal(kwatch_start(viaproxy, &cms,
				      &(struct kwatch_options){ .timeout_s = 60, .backoff_base_ms = 50,
								.backoff_max_ms = 200 },
				      &W_HANDLERS, &x, &w),
			 0);
	assert_true(wait_cond(want_met, &(struct want){ .x = &x, .added = 2, .synced = 1 }, 10000));

	/* cut it; meanwhile delete one, add one and write past the history */
	tcpproxy_set_down(proxy, true);
	cms.name = "goes";
	r = wait_res(kclient_delete(G->kc, &cms, NULL, ktest_done, RES, NULL));
	assert_int_equal(r->r, 0);
	cms.name = NULL;
	create_cm("kc-relist", "new");
	for (int i = 0; i < SIM_HISTORY + 10; i++) {
		/* alternate, so that every patch is a real change */
		json_t *p = J("{s{ss}}", "data", "n", i % 2 ? "odd" : "even");

		r = wait_res(kclient_patch(G->kc, &(struct kref){ .version = "v1", .resource = "configmaps",
								  .namespace = "kc-relist", .name = "stays" },
					   KCLIENT_PATCH_MERGE, p, NULL, ktest_done, RES, NULL));
		assert_int_equal(r->r, 0);
		json_decref(p);
	}
	tcpproxy_set_down(proxy, false);

	/* resume from the old resourceVersion -> 410 -> relist -> synthetic events */
	assert_true(wait_cond(want_met, &(struct want){ .x = &x, .added = 3, .deleted = 1, .modified = 1, .synced = 2 },
			      15000));
	assert_int_equal(x.relisted, 1);
	assert_string_equal(x.last_deleted, "goes");
	assert_int_equal(json_integer_value(json_object_get(x.seen, "new")), 1);
	assert_int_equal(json_integer_value(json_object_get(x.seen, "stays")), 1);
	assert_int_equal(json_object_size(kwatch_store(w)), 2);
	kwatch_get_stats(w, &st);
	assert_int_equal(st.relists, 1);

	/* and it keeps watching afterwards */
	create_cm("kc-relist", "after");
	assert_true(wait_cond(want_met, &(struct want){ .x = &x, .added = 4 }, 10000));

	/* a watch started from a too-old resourceVersion relists at once */
	{
		struct watcher y = { .seen = json_object() };
		struct kwatch *w2 = NULL;

		assert_int_equal(kwatch_start(G->kc, &cms, &(struct kwatch_options){ .resource_version = "1" },
					      &W_HANDLERS, &y, &w2),
				 0);
		assert_true(wait_cond(want_met, &(struct want){ .x = &y, .added = 3, .synced = 1 }, 10000));
		kwatch_free(w2);
		json_decref(y.seen);
	}
	kwatch_free(w);
	kclient_free(viaproxy);
	tcpproxy_free(proxy);
	json_decref(x.seen);
}

/* --- rate limiting --------------------------------------------------------- */

static void test_rate_limit(void **state)
{
	const double qps = 20;
	const unsigned burst = 5, n = 45;
	struct ktest_res res[45];
	struct kclient *kc = client_for(G->sim.kubeconfig, &(struct kclient_options){ .qps = qps, .burst = burst });
	int64_t t0, t1 = 0;
	double took, expected = (n - burst) / qps;

	memset(res, 0, sizeof(res));
	t0 = time_mono_us();
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(kclient_get(kc, &(struct kref){ .version = "v1", .resource = "namespaces", .name = "default" },
					     ktest_done, &res[i], NULL),
				 0);
	for (unsigned i = 0; i < n; i++) {
		assert_true(ktest_run_until(&G->loop, &res[i].done, 20000));
		assert_int_equal(res[i].r, 0);
		if (res[i].at_us > t1)
			t1 = res[i].at_us;
		ktest_res_reset(&res[i]);
	}
	took = (double)(t1 - t0) / 1e6;
	fprintf(stderr, "rate limit: %u GETs at qps %.0f burst %u took %.3f s (expected %.3f s)\n", n, qps, burst,
		took, expected);
	assert_true(took >= 0.8 * expected);
	assert_true(took <= expected + 2.0);
	kclient_free(kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crud_and_errors),
		cmocka_unit_test(test_strategic_and_apply),
		cmocka_unit_test(test_status_subresource),
		cmocka_unit_test(test_list_selectors_pagination),
		cmocka_unit_test(test_unauthorized),
		cmocka_unit_test(test_tls_material),
		cmocka_unit_test(test_forbidden_terminating_namespace),
		cmocka_unit_test(test_crd_usable_after_creation),
		cmocka_unit_test(test_watch_resume),
		cmocka_unit_test(test_watch_relist_after_410),
		cmocka_unit_test(test_rate_limit),
	};
	const char *bin = getenv("NAVE_KUBESIM");

	if (!bin || access(bin, X_OK) != 0) {
		fprintf(stderr, "NAVE_KUBESIM not set or not executable: skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
