/* test_kapi.c - the kapi server in process: REST semantics through a fake
 * httpd (kapi_fake_httpd.c), the internal API and subscriptions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "kapi.h"
#include "kapi_fake_httpd.h"
#include "kapi_store.h"
#include "kobj.h"

struct fixture {
	uv_loop_t loop;
	struct kapi_server *s;
};

static int setup_with(void **state, size_t history, size_t max_body)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kapi_store *st;
	struct kapi_store_mem_config mc = {.history = history};
	struct kapi_server_config cfg = {
		.server_address = "127.0.0.1:6443",
		.check_namespaces = true,
		.bookmark_interval_ms = 20,
		.max_body = max_body,
	};

	uv_loop_init(&f->loop);
	assert_int_equal(kapi_store_mem_new(&mc, &st), 0);
	assert_int_equal(kapi_server_new(&f->loop, st, &cfg, &f->s), 0);
	assert_int_equal(kapi_builtin_register(f->s), 0);
	assert_int_equal(kapi_crd_enable(f->s), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0, 0);
}

static int setup_small(void **state)
{
	return setup_with(state, 8, 4096);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kapi_server_free(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static const char *sget(const json_t *o, const char *path)
{
	return json_string_value(kobj_get_path(o, path));
}

static json_int_t iget(const json_t *o, const char *path)
{
	return json_integer_value(kobj_get_path(o, path));
}

#define CT_JSON "application/json"
#define CM(ns, name) "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"" ns "\"},\"data\":{\"a\":\"1\"}}"
#define DEPLOY(name, image) \
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"" name "\"},\"spec\":{\"replicas\":2," \
	"\"selector\":{\"matchLabels\":{\"app\":\"" name "\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"" name "\"}}," \
	"\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"" image "\"}]}}}}"

/* ------------------------------------------------------------------------ */

static void test_discovery(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL, *res, *e;
	size_t i;
	bool saw_deploy = false, saw_status = false, saw_scale = false;

	assert_int_equal(fake_do(f->s, "GET", "/api", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "kind"), "APIVersions");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "versions"), 0)), "v1");
	assert_string_equal(sget(json_array_get(json_object_get(j, "serverAddressByClientCIDRs"), 0), "serverAddress"),
			    "127.0.0.1:6443");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/apis/", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "kind"), "APIGroupList");
	res = json_object_get(j, "groups");
	json_array_foreach(res, i, e)
		assert_string_not_equal(sget(e, "name"), "");
	assert_string_equal(sget(json_array_get(res, 0), "preferredVersion.groupVersion"), "apps/v1");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/apis/apps/v1/", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "kind"), "APIResourceList");
	assert_string_equal(sget(j, "groupVersion"), "apps/v1");
	json_array_foreach(json_object_get(j, "resources"), i, e) {
		assert_non_null(json_object_get(e, "singularName"));
		assert_non_null(json_object_get(e, "verbs"));
		assert_non_null(json_object_get(e, "kind"));
		assert_true(json_is_boolean(json_object_get(e, "namespaced")));
		if (!strcmp(sget(e, "name"), "deployments")) {
			saw_deploy = true;
			assert_string_equal(json_string_value(json_array_get(json_object_get(e, "shortNames"), 0)),
					    "deploy");
			assert_string_equal(json_string_value(json_array_get(json_object_get(e, "categories"), 0)), "all");
			assert_int_equal(json_array_size(json_object_get(e, "verbs")), 8);
			assert_string_equal(sget(e, "singularName"), "deployment");
		}
		if (!strcmp(sget(e, "name"), "deployments/status"))
			saw_status = true;
		if (!strcmp(sget(e, "name"), "deployments/scale")) {
			saw_scale = true;
			assert_string_equal(sget(e, "kind"), "Scale");
			assert_string_equal(sget(e, "group"), "autoscaling");
		}
	}
	assert_true(saw_deploy && saw_status && saw_scale);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "groupVersion"), "v1");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/apis/apps", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "kind"), "APIGroup");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/version", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "major"), "1");
	assert_string_equal(sget(j, "gitVersion"), "v1.30.0");
	json_decref(j);
	{
		struct httpd_req *r = fake_req_new("GET", "/openapi/v2", NULL, NULL);

		kapi_server_handle(f->s, r);
		assert_int_equal(fake_req_resp(r)->status, 200);
		assert_string_equal(fake_req_resp(r)->content_type, "application/octet-stream");
		assert_int_equal(fake_req_resp(r)->len, 0);
		fake_req_free(r);
	}
	assert_int_equal(fake_do(f->s, "GET", "/openapi/v3", NULL, NULL, NULL), 404);
	assert_int_equal(fake_do(f->s, "GET", "/apis/nope.io/v1", NULL, NULL, NULL), 404);
	assert_int_equal(fake_do(f->s, "GET", "/apis/apps/v1/widgets", NULL, NULL, &j), 404);
	assert_string_equal(sget(j, "kind"), "Status");
	assert_string_equal(sget(j, "reason"), "NotFound");
	assert_string_equal(sget(j, "message"), "the server could not find the requested resource");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/healthz", NULL, NULL, NULL), 200);
}

static void test_crud(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL, *k = NULL;
	char body[1024];
	const char *rv1;
	char rvsave[32];

	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, CM("default", "x"), &j),
			 201);
	assert_non_null(sget(j, "metadata.uid"));
	assert_non_null(sget(j, "metadata.creationTimestamp"));
	assert_null(kobj_get_path(j, "metadata.generation"));
	rv1 = sget(j, "metadata.resourceVersion");
	assert_non_null(rv1);
	snprintf(rvsave, sizeof(rvsave), "%s", rv1);
	json_decref(j);
	/* AlreadyExists */
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, CM("default", "x"), &j),
			 409);
	assert_string_equal(sget(j, "reason"), "AlreadyExists");
	assert_string_equal(sget(j, "message"), "configmaps \"x\" already exists");
	json_decref(j);
	/* get, and NotFound */
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps/x", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "data.a"), "1");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/apis/apps/v1/namespaces/default/deployments/nope", NULL, NULL, &j), 404);
	assert_string_equal(sget(j, "message"), "deployments.apps \"nope\" not found");
	assert_string_equal(sget(j, "details.kind"), "deployments");
	assert_string_equal(sget(j, "details.group"), "apps");
	assert_string_equal(sget(j, "details.name"), "nope");
	assert_string_equal(sget(j, "status"), "Failure");
	assert_int_equal(iget(j, "code"), 404);
	json_decref(j);
	/* update with the right RV, then with the stale one */
	snprintf(body, sizeof(body),
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\",\"namespace\":\"default\",\"resourceVersion\":\"%s\"},\"data\":{\"a\":\"2\"}}",
		 rvsave);
	assert_int_equal(fake_do(f->s, "PUT", "/api/v1/namespaces/default/configmaps/x", CT_JSON, body, &j), 200);
	assert_string_equal(sget(j, "data.a"), "2");
	assert_true(strtoull(sget(j, "metadata.resourceVersion"), NULL, 10) > strtoull(rvsave, NULL, 10));
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PUT", "/api/v1/namespaces/default/configmaps/x", CT_JSON, body, &j), 409);
	assert_string_equal(sget(j, "reason"), "Conflict");
	assert_string_equal(sget(j, "message"),
			    "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again");
	json_decref(j);
	/* name / namespace mismatch: 400 */
	assert_int_equal(fake_do(f->s, "PUT", "/api/v1/namespaces/default/configmaps/y", CT_JSON, CM("default", "x"), &j),
			 400);
	assert_string_equal(sget(j, "reason"), "BadRequest");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/kube-system/configmaps", CT_JSON, CM("default", "z"),
				 &j), 400);
	json_decref(j);
	/* missing namespace */
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/nope/configmaps", CT_JSON, CM("nope", "z"), &j), 404);
	assert_string_equal(sget(j, "message"), "namespaces \"nope\" not found");
	assert_string_equal(sget(j, "details.kind"), "namespaces");
	json_decref(j);
	/* unconditional PUT (no RV) works */
	assert_int_equal(fake_do(f->s, "PUT", "/api/v1/namespaces/default/configmaps/x", CT_JSON, CM("default", "x"), &j),
			 200);
	json_decref(j);
	/* list carries items and a resourceVersion */
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "kind"), "ConfigMapList");
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	assert_non_null(sget(j, "metadata.resourceVersion"));
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/kube-public/configmaps", NULL, NULL, &j), 200);
	assert_true(json_is_array(json_object_get(j, "items")));
	assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
	json_decref(j);
	/* delete: Status Success with details */
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/default/configmaps/x", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "kind"), "Status");
	assert_string_equal(sget(j, "status"), "Success");
	assert_string_equal(sget(j, "details.name"), "x");
	assert_string_equal(sget(j, "details.kind"), "configmaps");
	assert_non_null(sget(j, "details.uid"));
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps/x", NULL, NULL, &k), 404);
	json_decref(k);
	/* generateName */
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON,
				 "{\"metadata\":{\"generateName\":\"gen-\"}}", &j), 201);
	assert_int_equal(strncmp(sget(j, "metadata.name"), "gen-", 4), 0);
	assert_int_equal(strlen(sget(j, "metadata.name")), 9);
	assert_string_equal(sget(j, "kind"), "ConfigMap");
	json_decref(j);
	/* cluster-scoped */
	assert_int_equal(fake_do(f->s, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", CT_JSON,
				 "{\"metadata\":{\"name\":\"r\"},\"rules\":[]}", &j), 201);
	assert_null(kobj_get_path(j, "metadata.namespace"));
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/r", NULL, NULL, NULL), 200);
	assert_int_equal(fake_do(f->s, "GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/clusterroles/r",
				 NULL, NULL, NULL), 404);
	/* namespaced object without a namespace in the URL */
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/configmaps/x", NULL, NULL, NULL), 404);
	/* method not allowed */
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps/x", CT_JSON, "{}", &j), 405);
	assert_string_equal(sget(j, "reason"), "MethodNotAllowed");
	json_decref(j);
}

static void test_generation_status(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL, *o;
	char *txt;
	char rv[32];

	assert_int_equal(fake_do(f->s, "POST", "/apis/apps/v1/namespaces/default/deployments", CT_JSON,
				 DEPLOY("web", "nginx:1"), &j), 201);
	assert_int_equal(iget(j, "metadata.generation"), 1);
	assert_int_equal(iget(j, "spec.replicas"), 2);
	assert_string_equal(sget(j, "spec.strategy.type"), "RollingUpdate");
	assert_int_equal(iget(j, "spec.progressDeadlineSeconds"), 600);
	/* status through /status: no generation bump */
	o = json_deep_copy(j);
	json_decref(j);
	json_object_set_new(o, "status", json_pack("{s:i,s:i}", "replicas", 2, "observedGeneration", 1));
	/* a built-in's /status write carries metadata too (the revision annotation), spec stays */
	kobj_set_annotation(o, "deployment.kubernetes.io/revision", "1");
	json_object_set_new(json_object_get(o, "spec"), "replicas", json_integer(9));
	txt = json_dumps(o, 0);
	assert_int_equal(fake_do(f->s, "PUT", "/apis/apps/v1/namespaces/default/deployments/web/status", CT_JSON, txt,
				 &j), 200);
	free(txt);
	assert_int_equal(iget(j, "metadata.generation"), 1);
	assert_int_equal(iget(j, "status.replicas"), 2);
	assert_int_equal(iget(j, "spec.replicas"), 2);
	assert_string_equal(kobj_annotation(j, "deployment.kubernetes.io/revision"), "1");
	snprintf(rv, sizeof(rv), "%s", sget(j, "metadata.resourceVersion"));
	json_decref(o);
	o = j;
	/* a label change: no bump; status in a main-resource PUT is ignored */
	kobj_set_label(o, "x", "y");
	json_object_set_new(json_object_get(o, "status"), "replicas", json_integer(7));
	txt = json_dumps(o, 0);
	assert_int_equal(fake_do(f->s, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", CT_JSON, txt, &j), 200);
	free(txt);
	assert_int_equal(iget(j, "metadata.generation"), 1);
	assert_int_equal(iget(j, "status.replicas"), 2);
	json_decref(o);
	o = j;
	/* a no-op PUT keeps the resourceVersion */
	snprintf(rv, sizeof(rv), "%s", sget(o, "metadata.resourceVersion"));
	txt = json_dumps(o, 0);
	assert_int_equal(fake_do(f->s, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", CT_JSON, txt, &j), 200);
	free(txt);
	assert_string_equal(sget(j, "metadata.resourceVersion"), rv);
	json_decref(j);
	/* an annotation change bumps a Deployment's generation */
	kobj_set_annotation(o, "a", "b");
	txt = json_dumps(o, 0);
	assert_int_equal(fake_do(f->s, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", CT_JSON, txt, &j), 200);
	free(txt);
	assert_int_equal(iget(j, "metadata.generation"), 2);
	json_decref(o);
	o = j;
	/* a spec change bumps it */
	json_object_set_new(json_object_get(o, "spec"), "replicas", json_integer(3));
	txt = json_dumps(o, 0);
	assert_int_equal(fake_do(f->s, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", CT_JSON, txt, &j), 200);
	free(txt);
	assert_int_equal(iget(j, "metadata.generation"), 3);
	json_decref(j);
	json_decref(o);
	/* selector must match the template */
	assert_int_equal(fake_do(f->s, "POST", "/apis/apps/v1/namespaces/default/deployments", CT_JSON,
				 "{\"metadata\":{\"name\":\"bad\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"x\"}},"
				 "\"template\":{\"metadata\":{\"labels\":{\"app\":\"y\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
				 &j), 422);
	assert_string_equal(sget(j, "reason"), "Invalid");
	assert_string_equal(sget(j, "details.kind"), "Deployment");
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "details.causes"), 0), "field"),
			    "spec.template.metadata.labels");
	json_decref(j);
}

static void test_finalizers(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL, *o;
	char *txt;

	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON,
				 "{\"metadata\":{\"name\":\"f\",\"finalizers\":[\"example.com/keep\"]}}", &j), 201);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/default/configmaps/f", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "kind"), "ConfigMap");
	assert_non_null(sget(j, "metadata.deletionTimestamp"));
	assert_int_equal(iget(j, "metadata.deletionGracePeriodSeconds"), 0);
	o = j;
	/* a new finalizer on a deleting object: 422 */
	json_array_append_new(kobj_get_path(o, "metadata.finalizers"), json_string("example.com/more"));
	txt = json_dumps(o, 0);
	assert_int_equal(fake_do(f->s, "PUT", "/api/v1/namespaces/default/configmaps/f", CT_JSON, txt, &j), 422);
	free(txt);
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "details.causes"), 0), "field"), "metadata.finalizers");
	json_decref(j);
	/* emptying the finalizers deletes it */
	json_object_set_new(json_object_get(o, "metadata"), "finalizers", json_array());
	txt = json_dumps(o, 0);
	assert_int_equal(fake_do(f->s, "PUT", "/api/v1/namespaces/default/configmaps/f", CT_JSON, txt, &j), 200);
	free(txt);
	json_decref(j);
	json_decref(o);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps/f", NULL, NULL, NULL), 404);
	/* propagationPolicy Foreground and Orphan add their finalizers */
	assert_int_equal(fake_do(f->s, "POST", "/apis/apps/v1/namespaces/default/deployments", CT_JSON,
				 DEPLOY("fg", "nginx"), NULL), 201);
	assert_int_equal(fake_do(f->s, "DELETE", "/apis/apps/v1/namespaces/default/deployments/fg", CT_JSON,
				 "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Foreground\"}", &j),
			 200);
	assert_string_equal(json_string_value(json_array_get(kobj_get_path(j, "metadata.finalizers"), 0)),
			    "foregroundDeletion");
	assert_int_equal(iget(j, "metadata.generation"), 2);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/apis/apps/v1/namespaces/default/deployments", CT_JSON,
				 DEPLOY("or", "nginx"), NULL), 201);
	assert_int_equal(fake_do(f->s, "DELETE", "/apis/apps/v1/namespaces/default/deployments/or?propagationPolicy=Orphan",
				 NULL, NULL, &j), 200);
	assert_string_equal(json_string_value(json_array_get(kobj_get_path(j, "metadata.finalizers"), 0)), "orphan");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "DELETE", "/apis/apps/v1/namespaces/default/deployments/or?propagationPolicy=Bogus",
				 NULL, NULL, &j), 422);
	json_decref(j);
	/* preconditions */
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, CM("default", "p"), NULL),
			 201);
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/default/configmaps/p", CT_JSON,
				 "{\"preconditions\":{\"uid\":\"nope\"}}", &j), 409);
	assert_string_equal(sget(j, "reason"), "Conflict");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/default/configmaps/p", CT_JSON,
				 "{\"preconditions\":{\"resourceVersion\":\"1\"}}", &j), 409);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/default/configmaps/p", NULL, NULL, NULL), 200);
}

static void test_namespaces(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;

	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "status.phase"), "Active");
	assert_string_equal(json_string_value(json_array_get(kobj_get_path(j, "spec.finalizers"), 0)), "kubernetes");
	assert_string_equal(kobj_label(j, "kubernetes.io/metadata.name"), "default");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/kube-system", NULL, NULL, &j), 403);
	assert_string_equal(sget(j, "reason"), "Forbidden");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces", CT_JSON, "{\"metadata\":{\"name\":\"t\"}}", NULL),
			 201);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces", CT_JSON, "{\"metadata\":{\"name\":\"Bad.Name\"}}",
				 &j), 422);
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "details.causes"), 0), "field"), "metadata.name");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/t", NULL, NULL, &j), 200);
	assert_string_equal(sget(j, "status.phase"), "Terminating");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/t/configmaps", CT_JSON, CM("t", "x"), &j), 403);
	assert_string_equal(sget(j, "reason"), "Forbidden");
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "details.causes"), 0), "reason"), "NamespaceTerminating");
	json_decref(j);
	/* the namespace controller's part: finalize empties spec.finalizers */
	assert_int_equal(fake_do(f->s, "PUT", "/api/v1/namespaces/t/finalize", CT_JSON,
				 "{\"metadata\":{\"name\":\"t\"},\"spec\":{\"finalizers\":[]}}", &j), 200);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/t", NULL, NULL, NULL), 404);
}

/* ------------------------------------------------------------------------ */

static struct httpd_req *watch(struct fixture *f, const char *url)
{
	struct httpd_req *r = fake_req_new("GET", url, NULL, NULL);

	kapi_server_handle(f->s, r);
	assert_true(fake_req_streaming(r));
	assert_int_equal(fake_req_resp(r)->status, 200);
	return r;
}

static const char *ev_type(json_t *evs, size_t i)
{
	return json_string_value(json_object_get(json_array_get(evs, i), "type"));
}

static void test_watch(void **state)
{
	struct fixture *f = *state;
	struct httpd_req *w, *w2, *wl;
	json_t *evs, *j = NULL;
	char url[256], rv[32];

	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, CM("default", "a"), &j),
			 201);
	snprintf(rv, sizeof(rv), "%s", sget(j, "metadata.resourceVersion"));
	json_decref(j);
	w = watch(f, "/api/v1/namespaces/default/configmaps?watch=True");
	wl = watch(f, "/api/v1/namespaces/default/configmaps?watch=1&labelSelector=sel=yes");
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, CM("default", "b"), NULL),
			 201);
	assert_int_equal(fake_do(f->s, "PATCH", "/api/v1/namespaces/default/configmaps/b",
				 "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"sel\":\"yes\"}}}", NULL), 200);
	assert_int_equal(fake_do(f->s, "PATCH", "/api/v1/namespaces/default/configmaps/b",
				 "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"sel\":\"no\"}}}", NULL), 200);
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/default/configmaps/b", NULL, NULL, NULL), 200);
	/* another namespace is not seen */
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/kube-public/configmaps", CT_JSON,
				 CM("kube-public", "c"), NULL), 201);
	evs = fake_req_stream_events(w);
	assert_int_equal(json_array_size(evs), 5);
	assert_string_equal(ev_type(evs, 0), "ADDED"); /* synthetic: a */
	assert_string_equal(sget(json_array_get(evs, 0), "object.metadata.name"), "a");
	assert_string_equal(ev_type(evs, 1), "ADDED");
	assert_string_equal(ev_type(evs, 2), "MODIFIED");
	assert_string_equal(ev_type(evs, 3), "MODIFIED");
	assert_string_equal(ev_type(evs, 4), "DELETED");
	assert_string_equal(sget(json_array_get(evs, 4), "object.metadata.name"), "b");
	json_decref(evs);
	/* selector transitions: ADDED when it starts matching, DELETED when it stops */
	evs = fake_req_stream_events(wl);
	assert_int_equal(json_array_size(evs), 2);
	assert_string_equal(ev_type(evs, 0), "ADDED");
	assert_string_equal(ev_type(evs, 1), "DELETED");
	json_decref(evs);
	/* resume from the first object's RV: replays the changes after it */
	snprintf(url, sizeof(url), "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=%s", rv);
	w2 = watch(f, url);
	evs = fake_req_stream_events(w2);
	assert_int_equal(json_array_size(evs), 4);
	assert_string_equal(ev_type(evs, 0), "ADDED");
	assert_string_equal(ev_type(evs, 3), "DELETED");
	json_decref(evs);
	/* the client goes away: no crash on later events */
	fake_req_disconnect(w2);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, CM("default", "d"), NULL),
			 201);
	fake_req_free(w2);
	/* fieldSelector on a watch */
	w2 = watch(f, "/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name=d");
	evs = fake_req_stream_events(w2);
	assert_int_equal(json_array_size(evs), 1);
	json_decref(evs);
	fake_req_free(w2);
	fake_req_free(w);
	fake_req_free(wl);
}

static void test_watch_expired_and_slow(void **state)
{
	struct fixture *f = *state;
	struct httpd_req *w;
	json_t *evs;
	int i;

	for (i = 0; i < 20; i++) {
		char body[256], name[16];

		snprintf(name, sizeof(name), "c%d", i);
		snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"%s\"}}", name);
		assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, body, NULL), 201);
	}
	w = watch(f, "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2");
	assert_true(fake_req_stream_ended(w));
	evs = fake_req_stream_events(w);
	assert_int_equal(json_array_size(evs), 1);
	assert_string_equal(ev_type(evs, 0), "ERROR");
	assert_int_equal(iget(json_array_get(evs, 0), "object.code"), 410);
	assert_string_equal(sget(json_array_get(evs, 0), "object.reason"), "Expired");
	assert_int_equal(strncmp(sget(json_array_get(evs, 0), "object.message"), "too old resource version: 2 (", 29), 0);
	json_decref(evs);
	fake_req_free(w);
	/* a reader over its queue cap is dropped */
	w = fake_req_new("GET", "/api/v1/namespaces/default/configmaps?watch=true", NULL, NULL);
	fake_req_set_stream_cap(w, 600);
	kapi_server_handle(f->s, w);
	assert_true(fake_req_stream_ended(w));
	fake_req_free(w);
}

static void test_watch_bookmark_timeout(void **state)
{
	struct fixture *f = *state;
	struct httpd_req *w;
	json_t *evs;
	int spins = 0;

	w = watch(f, "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1");
	/* bookmark_interval_ms is 20 in the fixture; the 1 s timeout ends it */
	while (!fake_req_stream_ended(w) && spins++ < 400)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_true(fake_req_stream_ended(w));
	evs = fake_req_stream_events(w);
	assert_true(json_array_size(evs) >= 2);
	assert_string_equal(ev_type(evs, 0), "BOOKMARK");
	assert_non_null(sget(json_array_get(evs, 0), "object.metadata.resourceVersion"));
	assert_string_equal(sget(json_array_get(evs, 0), "object.kind"), "ConfigMap");
	json_decref(evs);
	fake_req_free(w);
}

static void test_selectors_pagination(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	char url[512], *cont;
	int i;

	for (i = 0; i < 5; i++) {
		char body[256];

		snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"p%d\",\"labels\":{\"tier\":\"%s\"}}}", i,
			 i % 2 ? "odd" : "even");
		assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, body, NULL), 201);
	}
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=tier=odd", NULL, NULL,
				 &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=tier in (odd,even),tier!=odd",
				 NULL, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/configmaps?fieldSelector=metadata.name=p3", NULL, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a in (", NULL, NULL,
				 &j), 400);
	json_decref(j);
	/* pages of 2 */
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps?limit=2", NULL, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
	assert_string_equal(sget(json_array_get(json_object_get(j, "items"), 0), "metadata.name"), "p0");
	cont = strdup(sget(j, "metadata.continue"));
	json_decref(j);
	snprintf(url, sizeof(url), "/api/v1/namespaces/default/configmaps?limit=2&continue=%s", cont);
	free(cont);
	assert_int_equal(fake_do(f->s, "GET", url, NULL, NULL, &j), 200);
	assert_string_equal(sget(json_array_get(json_object_get(j, "items"), 0), "metadata.name"), "p2");
	cont = strdup(sget(j, "metadata.continue"));
	json_decref(j);
	snprintf(url, sizeof(url), "/api/v1/namespaces/default/configmaps?limit=2&continue=%s", cont);
	free(cont);
	assert_int_equal(fake_do(f->s, "GET", url, NULL, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	assert_null(kobj_get_path(j, "metadata.continue"));
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=!!!", NULL, NULL,
				 NULL), 400);
	/* deletecollection with a selector */
	assert_int_equal(fake_do(f->s, "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=tier=odd", NULL,
				 NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/api/v1/namespaces/default/configmaps", NULL, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
	json_decref(j);
}

static void test_patches(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;

	assert_int_equal(fake_do(f->s, "POST", "/apis/apps/v1/namespaces/default/deployments", CT_JSON,
				 DEPLOY("web", "nginx:1"), NULL), 201);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
				 "application/merge-patch+json", "{\"spec\":{\"replicas\":4}}", &j), 200);
	assert_int_equal(iget(j, "spec.replicas"), 4);
	assert_int_equal(iget(j, "metadata.generation"), 2);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
				 "application/json-patch+json", "[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":5}]",
				 &j), 200);
	assert_int_equal(iget(j, "spec.replicas"), 5);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
				 "application/json-patch+json", "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":9}]",
				 &j), 422);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
				 "application/strategic-merge-patch+json",
				 "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"side\",\"image\":\"busybox\"}]}}}}",
				 &j), 200);
	assert_int_equal(json_array_size(kobj_get_path(j, "spec.template.spec.containers")), 2);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web", "text/plain", "{}", &j),
			 415);
	assert_string_equal(sget(j, "reason"), "UnsupportedMediaType");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/nope",
				 "application/merge-patch+json", "{}", NULL), 404);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?force=true",
				 "application/merge-patch+json", "{}", &j), 422);
	json_decref(j);
	/* scale subresource */
	assert_int_equal(fake_do(f->s, "GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", NULL, NULL, &j),
			 200);
	assert_string_equal(sget(j, "kind"), "Scale");
	assert_string_equal(sget(j, "apiVersion"), "autoscaling/v1");
	assert_int_equal(iget(j, "spec.replicas"), 5);
	assert_string_equal(sget(j, "status.selector"), "app=web");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale",
				 "application/merge-patch+json", "{\"spec\":{\"replicas\":1}}", &j), 200);
	assert_int_equal(iget(j, "spec.replicas"), 1);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/apis/apps/v1/namespaces/default/deployments/web", NULL, NULL, &j), 200);
	assert_int_equal(iget(j, "spec.replicas"), 1);
	json_decref(j);
}

static void test_server_side_apply(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	const char *yaml_v1 = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\nspec:\n  replicas: 2\n"
			      "  selector:\n    matchLabels: {app: ssa}\n  template:\n    metadata:\n      labels: {app: ssa}\n"
			      "    spec:\n      containers:\n      - name: c\n        image: nginx:1\n";
	const char *yaml_v2 = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\nspec:\n  replicas: 3\n"
			      "  selector:\n    matchLabels: {app: ssa}\n  template:\n    metadata:\n      labels: {app: ssa}\n"
			      "    spec:\n      containers:\n      - name: c\n        image: nginx:1\n";

	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=kubectl",
				 "application/apply-patch+yaml", yaml_v1, &j), 201);
	assert_int_equal(iget(j, "spec.replicas"), 2);
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "metadata.managedFields"), 0), "manager"), "kubectl");
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "metadata.managedFields"), 0), "operation"), "Apply");
	json_decref(j);
	/* another manager changes replicas with an update */
	assert_int_equal(fake_do(f->s, "PATCH",
				 "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=kubectl-client-side-apply",
				 "application/merge-patch+json", "{\"spec\":{\"replicas\":5}}", NULL), 200);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=kubectl",
				 "application/apply-patch+yaml", yaml_v2, &j), 409);
	assert_string_equal(sget(j, "reason"), "Conflict");
	assert_string_equal(sget(j, "message"),
			    "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas");
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "details.causes"), 0), "reason"), "FieldManagerConflict");
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "details.causes"), 0), "field"), ".spec.replicas");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH",
				 "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=kubectl&force=True",
				 "application/apply-patch+yaml", yaml_v2, &j), 200);
	assert_int_equal(iget(j, "spec.replicas"), 3);
	json_decref(j);
	/* errors */
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa",
				 "application/apply-patch+yaml", yaml_v2, &j), 422);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=x",
				 "application/apply-patch+yaml", "apiVersion: v1\nkind: Deployment\nmetadata: {name: ssa}\n",
				 &j), 400);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=x",
				 "application/apply-patch+yaml",
				 "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ssa, managedFields: [{}]}\n", &j),
			 400);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=x",
				 "application/apply-patch+yaml", "a: [\n", &j), 400);
	json_decref(j);
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	char big[8192];

	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, "{\"metadata\":", &j),
			 400);
	assert_string_equal(sget(j, "reason"), "BadRequest");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, "[1,2]", NULL), 400);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON,
				 "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}", NULL), 400);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON,
				 "{\"apiVersion\":\"apps/v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}", NULL), 400);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON,
				 "{\"metadata\":{\"name\":\"Not_Valid\"}}", &j), 422);
	assert_string_equal(sget(j, "reason"), "Invalid");
	assert_string_equal(sget(j, "details.kind"), "ConfigMap");
	assert_string_equal(sget(j, "details.name"), "Not_Valid");
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "details.causes"), 0), "field"), "metadata.name");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON,
				 "{\"metadata\":{\"name\":\"x\",\"labels\":{\"bad key!\":\"v\"}}}", &j), 422);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, "{\"metadata\":{}}", &j),
			 422);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps",
				 "application/vnd.kubernetes.protobuf", "xx", &j), 415);
	json_decref(j);
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", CT_JSON, big, &j), 413);
	assert_string_equal(sget(j, "reason"), "RequestEntityTooLarge");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
				 "metadata:\n  name: fromyaml\ndata:\n  k: v\n", NULL), 201);
	/* leases need a resourceVersion on update */
	assert_int_equal(fake_do(f->s, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", CT_JSON,
				 "{\"metadata\":{\"name\":\"l\"},\"spec\":{\"holderIdentity\":\"a\",\"renewTime\":\"2024-01-01T00:00:00+00:00\"}}",
				 &j), 201);
	assert_string_equal(sget(j, "spec.renewTime"), "2024-01-01T00:00:00.000000Z");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/l", CT_JSON,
				 "{\"metadata\":{\"name\":\"l\"},\"spec\":{\"holderIdentity\":\"b\"}}", &j), 422);
	json_decref(j);
	/* RBAC names are path segments: colons are fine, slashes and ".." are not */
	assert_int_equal(fake_do(f->s, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", CT_JSON,
				 "{\"metadata\":{\"name\":\"system:aggregate-to-edit\"}}", NULL), 201);
	assert_int_equal(fake_do(f->s, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", CT_JSON,
				 "{\"metadata\":{\"name\":\"..\"}}", NULL), 422);
	assert_int_equal(fake_do(f->s, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
				 CT_JSON, "{\"metadata\":{\"name\":\"a%b\"}}", NULL), 422);
}

static void test_crd_lifecycle(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	struct httpd_req *w;
	const char *crd =
		"{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
		"\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\",\"scope\":\"Namespaced\","
		"\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\",\"shortNames\":[\"wd\"]},"
		"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"subresources\":{\"status\":{}},"
		"\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}";

	assert_int_equal(fake_do(f->s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CT_JSON, crd,
				 &j), 201);
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "status.conditions"), 1), "type"), "Established");
	assert_string_equal(sget(json_array_get(kobj_get_path(j, "status.conditions"), 1), "status"), "True");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "GET", "/apis/example.com/v1", NULL, NULL, &j), 200);
	assert_string_equal(sget(json_array_get(json_object_get(j, "resources"), 0), "name"), "widgets");
	json_decref(j);
	assert_int_equal(fake_do(f->s, "POST", "/apis/example.com/v1/namespaces/default/widgets", CT_JSON,
				 "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w1\"},\"spec\":{\"size\":1}}",
				 &j), 201);
	assert_int_equal(iget(j, "metadata.generation"), 1);
	json_decref(j);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w1",
				 "application/strategic-merge-patch+json", "{}", NULL), 415);
	assert_int_equal(fake_do(f->s, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w1",
				 "application/merge-patch+json", "{\"spec\":{\"size\":2}}", &j), 200);
	assert_int_equal(iget(j, "metadata.generation"), 2);
	/* a custom resource's /status takes status alone */
	kobj_set_label(j, "ignored", "yes");
	json_object_set_new(j, "status", json_pack("{s:b}", "ok", 1));
	{
		char *txt = json_dumps(j, 0);

		json_decref(j);
		assert_int_equal(fake_do(f->s, "PUT", "/apis/example.com/v1/namespaces/default/widgets/w1/status", CT_JSON,
					 txt, &j), 200);
		free(txt);
	}
	assert_true(json_is_true(kobj_get_path(j, "status.ok")));
	assert_null(kobj_label(j, "ignored"));
	assert_int_equal(iget(j, "metadata.generation"), 2);
	json_decref(j);
	w = watch(f, "/apis/example.com/v1/namespaces/default/widgets?watch=true");
	/* bad CRDs */
	assert_int_equal(fake_do(f->s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CT_JSON,
				 "{\"metadata\":{\"name\":\"x.y\"},\"spec\":{\"group\":\"nodot\",\"scope\":\"Namespaced\","
				 "\"names\":{\"plural\":\"x\",\"kind\":\"X\"},\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true}]}}",
				 &j), 422);
	json_decref(j);
	/* delete the CRD: resource and objects go */
	assert_int_equal(fake_do(f->s, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
				 NULL, NULL, NULL), 200);
	assert_true(fake_req_stream_ended(w));
	{
		json_t *evs = fake_req_stream_events(w);

		assert_int_equal(json_array_size(evs), 2);
		assert_string_equal(ev_type(evs, 1), "DELETED");
		json_decref(evs);
	}
	fake_req_free(w);
	assert_int_equal(fake_do(f->s, "GET", "/apis/example.com/v1", NULL, NULL, NULL), 404);
	assert_int_equal(fake_do(f->s, "GET", "/apis/example.com/v1/namespaces/default/widgets/w1", NULL, NULL, NULL), 404);
	/* and it can come back, empty */
	assert_int_equal(fake_do(f->s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CT_JSON, crd,
				 NULL), 201);
	assert_int_equal(fake_do(f->s, "GET", "/apis/example.com/v1/namespaces/default/widgets", NULL, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
	json_decref(j);
}

static void test_table(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	const char *accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

	assert_int_equal(fake_do(f->s, "POST", "/apis/apps/v1/namespaces/default/deployments", CT_JSON,
				 DEPLOY("t", "nginx"), NULL), 201);
	assert_int_equal(fake_do_accept(f->s, "GET", "/apis/apps/v1/namespaces/default/deployments?limit=500", accept, &j),
			 200);
	assert_string_equal(sget(j, "kind"), "Table");
	assert_int_equal(json_array_size(json_object_get(j, "rows")), 1);
	json_decref(j);
	assert_int_equal(fake_do_accept(f->s, "GET", "/apis/apps/v1/namespaces/default/deployments/t", accept, &j), 200);
	assert_string_equal(sget(j, "kind"), "Table");
	json_decref(j);
}

/* ------------------------------------------------------------------------ */
/* Internal API                                                              */

struct seen {
	int added, modified, deleted;
	struct kapi_server *s;
	bool write_back;
	char last[64];
};

static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	struct seen *sn = data;

	if (strcmp(def->resource, "configmaps"))
		return;
	if (type == KAPI_EVENT_ADDED) {
		sn->added++;
		assert_null(old_obj);
		snprintf(sn->last, sizeof(sn->last), "%s", kobj_name(new_obj));
		if (sn->write_back && !strcmp(kobj_name(new_obj), "trigger")) {
			/* a write from inside a callback: delivered after this returns */
			json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "echo");
			struct errbuf eb;

			assert_int_equal(kapi_create(sn->s, "", "configmaps", "default", o, NULL, &eb, NULL), 0);
			json_decref(o);
			assert_string_equal(sn->last, "trigger");
		}
	} else if (type == KAPI_EVENT_MODIFIED) {
		sn->modified++;
		assert_non_null(old_obj);
		assert_non_null(new_obj);
	} else {
		sn->deleted++;
		assert_null(new_obj);
		assert_non_null(old_obj);
	}
}

static void test_internal_api(void **state)
{
	struct fixture *f = *state;
	struct seen sn = {.s = f->s, .write_back = true};
	struct kapi_sub *sub = NULL;
	struct errbuf eb = {{0}};
	json_t *o = NULL, *items = NULL, *in;
	struct kapi_write_opts wo = {.field_manager = "test-controller"};
	int r;

	assert_int_equal(kapi_server_subscribe(f->s, on_change, &sn, &sub), 0);
	in = json_pack("{s:{s:s,s:{s:s}},s:{s:s}}", "metadata", "name", "trigger", "labels", "k", "v", "data", "a", "1");
	assert_int_equal(kapi_create(f->s, "", "configmaps", "default", in, &wo, &eb, &o), 0);
	json_decref(in);
	assert_int_equal(sn.added, 2);
	assert_string_equal(sn.last, "echo");
	assert_string_equal(sget(o, "apiVersion"), "v1");
	assert_string_equal(sget(json_array_get(kobj_get_path(o, "metadata.managedFields"), 0), "manager"),
			    "test-controller");
	/* the copy is ours: changing it does not change the store */
	json_object_set_new(json_object_get(o, "data"), "a", json_string("mine"));
	json_decref(o);
	assert_int_equal(kapi_get(f->s, "", "configmaps", "default", "trigger", &eb, &o), 0);
	assert_string_equal(sget(o, "data.a"), "1");
	/* update with a stale RV: -EBUSY */
	json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string("1"));
	r = kapi_update(f->s, "", "configmaps", o, NULL, &eb, NULL);
	assert_int_equal(r, -EBUSY);
	json_decref(o);
	assert_int_equal(kapi_list(f->s, "", "configmaps", "default", "k=v", NULL, &eb, &items), 0);
	assert_int_equal(json_array_size(items), 1);
	json_decref(items);
	assert_int_equal(kapi_list(f->s, "", "configmaps", NULL, NULL, "metadata.name=echo", &eb, &items), 0);
	assert_int_equal(json_array_size(items), 1);
	json_decref(items);
	assert_int_equal(kapi_list(f->s, "", "nothings", NULL, NULL, NULL, &eb, &items), -ENOENT);
	/* patch, status, delete */
	in = json_pack("{s:{s:s}}", "data", "a", "2");
	assert_int_equal(kapi_patch(f->s, "", "configmaps", "default", "trigger", NULL, KAPI_PATCH_MERGE, in, NULL, &eb,
				    &o), 0);
	json_decref(in);
	assert_string_equal(sget(o, "data.a"), "2");
	json_decref(o);
	assert_int_equal(sn.modified, 1);
	in = json_object();
	assert_int_equal(kapi_update_status(f->s, "", "configmaps", in, NULL, &eb, NULL), -EINVAL);
	json_decref(in);
	assert_int_equal(kapi_delete(f->s, "", "configmaps", "default", "trigger", NULL, &eb, &o), 0);
	json_decref(o);
	assert_int_equal(sn.deleted, 1);
	assert_int_equal(kapi_get(f->s, "", "configmaps", "default", "trigger", &eb, &o), -ENOENT);
	assert_string_equal(eb.msg, "configmaps \"trigger\" not found");
	/* a Deployment's status through the internal API */
	in = json_loads(DEPLOY("int", "nginx"), 0, NULL);
	assert_int_equal(kapi_create(f->s, "apps", "deployments", "default", in, NULL, &eb, &o), 0);
	json_decref(in);
	json_object_set_new(o, "status", json_pack("{s:i}", "readyReplicas", 2));
	assert_int_equal(kapi_update_status(f->s, "apps", "deployments", o, NULL, &eb, NULL), 0);
	json_decref(o);
	assert_int_equal(kapi_get(f->s, "apps", "deployments", "default", "int", &eb, &o), 0);
	assert_int_equal(iget(o, "status.readyReplicas"), 2);
	assert_int_equal(iget(o, "metadata.generation"), 1);
	json_decref(o);
	/* skip_managed_fields: nothing recorded */
	{
		struct kapi_write_opts quiet = {.field_manager = "fast", .skip_managed_fields = true};

		in = json_pack("{s:{s:s}}", "metadata", "name", "quiet");
		assert_int_equal(kapi_create(f->s, "", "configmaps", "default", in, &quiet, &eb, &o), 0);
		json_decref(in);
		assert_null(kobj_get_path(o, "metadata.managedFields"));
		json_decref(o);
	}
	assert_non_null(kapi_server_find_kind(f->s, "apps/v1", "Deployment"));
	assert_null(kapi_server_find_kind(f->s, "apps/v2", "Deployment"));
	kapi_server_unsubscribe(f->s, sub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_discovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finalizers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_expired_and_slow, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_watch_bookmark_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selectors_pagination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_side_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_crd_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_internal_api, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
