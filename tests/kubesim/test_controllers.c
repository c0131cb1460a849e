/* Integration tests of nave-kubesim's simulated controllers.
 *
 * A real kapi server (memory store, built-in resources, CRDs) on a private
 * libuv loop, the controllers with short delays, and objects written through
 * the internal API the way clients would through REST. Every wait polls the
 * store while the loop runs, with a deadline; nothing sleeps.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "alloc.h"
#include "controllers.h"
#include "kapi.h"
#include "kapi_store.h"
#include "kobj.h"
#include "timefmt.h"

#define READY_DELAY_MS 40
#define WAIT_MS 8000

struct fx {
	uv_loop_t loop;
	uv_timer_t tick;
	struct kapi_server *srv;
	struct sim_controllers *ctl;
};

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

static int setup(void **state)
{
	struct fx *fx = xnew(struct fx);
	struct kapi_store *store = NULL;
	struct kapi_server_config cfg = { .server_address = "127.0.0.1:1", .check_namespaces = true };
	struct sim_controllers_config ccfg = {
		.ready_delay_ms = READY_DELAY_MS, .fail_pattern = "fail", .nodes = 2, .cluster_name = "test",
	};

	assert_int_equal(uv_loop_init(&fx->loop), 0);
	uv_timer_init(&fx->loop, &fx->tick);
	uv_timer_start(&fx->tick, on_tick, 2, 2);
	assert_int_equal(kapi_store_mem_new(NULL, &store), 0);
	assert_int_equal(kapi_server_new(&fx->loop, store, &cfg, &fx->srv), 0);
	assert_int_equal(kapi_builtin_register(fx->srv), 0);
	assert_int_equal(kapi_crd_enable(fx->srv), 0);
	if (!kapi_server_find(fx->srv, "apps", "controllerrevisions")) {
		/* What a real server serves and kubectl rollout history reads. */
		static const struct kapi_resource_def crdef = {
			.group = "apps", .version = "v1", .resource = "controllerrevisions",
			.singular = "controllerrevision", .kind = "ControllerRevision", .namespaced = true,
			.verbs = KAPI_VERBS_ALL,
		};

		assert_int_equal(kapi_server_register(fx->srv, &crdef, NULL), 0);
	}
	assert_int_equal(sim_controllers_new(&fx->loop, fx->srv, &ccfg, &fx->ctl), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	fx->ctl = sim_controllers_free(fx->ctl);
	fx->srv = kapi_server_free(fx->srv);
	uv_close((uv_handle_t *)&fx->tick, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	free(fx);
	return 0;
}

/* --- helpers ------------------------------------------------------------------------ */

static json_t *get(struct fx *fx, const char *group, const char *resource, const char *ns, const char *name)
{
	json_t *o = NULL;

	if (kapi_get(fx->srv, group, resource, ns, name, NULL, &o) < 0)
		return NULL;
	return o;
}

static json_t *list(struct fx *fx, const char *group, const char *resource, const char *ns, const char *labels)
{
	json_t *items = NULL;
	struct errbuf err;

	assert_int_equal(kapi_list(fx->srv, group, resource, ns, labels, NULL, &err, &items), 0);
	return items;
}

static json_int_t int_path(const json_t *o, const char *path)
{
	json_t *v = kobj_get_path(o, path);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strlen(s) >= n && memcmp(s, prefix, n) == 0;
}

static const char *str_path(const json_t *o, const char *path)
{
	json_t *v = kobj_get_path(o, path);

	return json_is_string(v) ? json_string_value(v) : "";
}

static const json_t *find_cond(const json_t *o, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(kobj_get_path(o, "status.conditions"), i, c) {
		if (!strcmp(str_path(c, "type"), type))
			return c;
	}
	return NULL;
}

typedef bool (*pred_fn)(struct fx *fx, void *arg);

/* Run the loop until pred holds; fail after WAIT_MS. */
static void wait_for(struct fx *fx, pred_fn pred, void *arg, const char *what)
{
	int64_t deadline = time_mono_us() + (int64_t)WAIT_MS * 1000;

	while (!pred(fx, arg)) {
		if (time_mono_us() > deadline)
			fail_msg("timed out waiting for %s", what);
		uv_run(&fx->loop, UV_RUN_ONCE);
	}
}

/* Run the loop for ms (to show that something does NOT happen). */
static void run_for(struct fx *fx, int ms)
{
	int64_t end = time_mono_us() + (int64_t)ms * 1000;

	while (time_mono_us() < end)
		uv_run(&fx->loop, UV_RUN_ONCE);
}

static void create(struct fx *fx, const char *group, const char *resource, const char *ns, const char *json)
{
	json_error_t jerr;
	json_t *o = json_loads(json, 0, &jerr);
	struct errbuf err;
	int r;

	if (!o)
		fail_msg("bad test JSON: %s", jerr.text);
	errbuf_clear(&err);
	r = kapi_create(fx->srv, group, resource, ns, o, NULL, &err, NULL);
	if (r < 0)
		fail_msg("create %s: %s", resource, err.msg);
	json_decref(o);
}

static void patch(struct fx *fx, const char *group, const char *resource, const char *ns, const char *name,
		  const char *json)
{
	json_t *p = json_loads(json, 0, NULL);
	struct errbuf err;
	int r;

	assert_non_null(p);
	errbuf_clear(&err);
	r = kapi_patch(fx->srv, group, resource, ns, name, NULL, KAPI_PATCH_MERGE, p, NULL, &err, NULL);
	if (r < 0)
		fail_msg("patch %s/%s: %s", resource, name, err.msg);
	json_decref(p);
}

static void namespace(struct fx *fx, const char *name)
{
	char buf[200];

	snprintf(buf, sizeof(buf), "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", name);
	create(fx, "", "namespaces", NULL, buf);
}

static char *deployment_json(const char *name, const char *image, int replicas, const char *extra_spec)
{
	return xasprintf("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"%s\"},"
			 "\"spec\":{\"replicas\":%d,%s\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},"
			 "\"template\":{\"metadata\":{\"labels\":{\"app\":\"%s\"}},"
			 "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"%s\"}]}}}}",
			 name, replicas, extra_spec ? extra_spec : "", name, name, image);
}

struct obj_ref {
	const char *group, *resource, *ns, *name;
	json_int_t want;
	const char *path;
	const char *swant;
};

static bool pred_int(struct fx *fx, void *arg)
{
	struct obj_ref *r = arg;
	json_t *o = get(fx, r->group, r->resource, r->ns, r->name);
	bool ok = o && int_path(o, r->path) == r->want;

	json_decref(o);
	return ok;
}

static bool pred_str(struct fx *fx, void *arg)
{
	struct obj_ref *r = arg;
	json_t *o = get(fx, r->group, r->resource, r->ns, r->name);
	bool ok = o && !strcmp(str_path(o, r->path), r->swant);

	json_decref(o);
	return ok;
}

static bool pred_gone(struct fx *fx, void *arg)
{
	struct obj_ref *r = arg;
	json_t *o = get(fx, r->group, r->resource, r->ns, r->name);

	json_decref(o);
	return o == NULL;
}

static bool pred_count(struct fx *fx, void *arg)
{
	struct obj_ref *r = arg;
	json_t *items = list(fx, r->group, r->resource, r->ns, r->name);
	bool ok = (json_int_t)json_array_size(items) == r->want;

	json_decref(items);
	return ok;
}

/* kubectl rollout status's verdict on a Deployment: 1 done, -1 failed, 0 waiting. */
static int rollout_verdict(const json_t *d)
{
	const json_t *p = find_cond(d, "Progressing");
	json_int_t spec = int_path(d, "spec.replicas"), updated = int_path(d, "status.updatedReplicas");

	if (int_path(d, "metadata.generation") > int_path(d, "status.observedGeneration"))
		return 0;
	if (p && !strcmp(str_path(p, "reason"), "ProgressDeadlineExceeded"))
		return -1;
	if (spec > updated || int_path(d, "status.replicas") > updated ||
	    int_path(d, "status.availableReplicas") < updated)
		return 0;
	return 1;
}

struct rollout {
	const char *ns, *name;
	int want;
};

static bool pred_rollout(struct fx *fx, void *arg)
{
	struct rollout *r = arg;
	json_t *d = get(fx, "apps", "deployments", r->ns, r->name);
	bool ok = d && rollout_verdict(d) == r->want;

	json_decref(d);
	return ok;
}

/* --- tests ---------------------------------------------------------------------------- */

static void test_nodes(void **state)
{
	struct fx *fx = *state;
	json_t *nodes = list(fx, "", "nodes", NULL, NULL);
	size_t i;
	json_t *n;

	assert_int_equal(json_array_size(nodes), 2);
	json_array_foreach(nodes, i, n) {
		const json_t *ready = find_cond(n, "Ready");

		assert_non_null(ready);
		assert_string_equal(str_path(ready, "status"), "True");
		assert_string_equal(str_path(n, "status.nodeInfo.kubeletVersion"), "v1.30.0");
	}
	assert_string_equal(str_path(json_array_get(nodes, 0), "metadata.name"), "test-node-1");
	json_decref(nodes);
}

static void test_deployment_rollout(void **state)
{
	struct fx *fx = *state;
	struct rollout ro = { "d1", "web", 1 };
	char *dj = deployment_json("web", "nginx:1", 3, NULL);
	json_t *d, *rss, *pods;
	const json_t *c;
	size_t i;
	json_t *p;

	namespace(fx, "d1");
	create(fx, "apps", "deployments", "d1", dj);
	free(dj);
	wait_for(fx, pred_rollout, &ro, "rollout complete");
	d = get(fx, "apps", "deployments", "d1", "web");
	assert_int_equal(int_path(d, "status.readyReplicas"), 3);
	assert_int_equal(int_path(d, "status.availableReplicas"), 3);
	assert_int_equal(int_path(d, "status.observedGeneration"), int_path(d, "metadata.generation"));
	c = find_cond(d, "Available");
	assert_non_null(c);
	assert_string_equal(str_path(c, "status"), "True");
	assert_string_equal(str_path(c, "reason"), "MinimumReplicasAvailable");
	c = find_cond(d, "Progressing");
	assert_string_equal(str_path(c, "reason"), "NewReplicaSetAvailable");
	assert_non_null(kobj_get_path(c, "lastUpdateTime"));
	json_decref(d);

	rss = list(fx, "apps", "replicasets", "d1", NULL);
	assert_int_equal(json_array_size(rss), 1);
	{
		const char *rsname = str_path(json_array_get(rss, 0), "metadata.name");
		const char *hash = str_path(json_array_get(rss, 0), "metadata.labels.pod-template-hash");
		char want[100];

		snprintf(want, sizeof(want), "web-%s", hash);
		assert_true(strlen(hash) >= 6);
		assert_string_equal(rsname, want);
		assert_string_equal(kobj_annotation(json_array_get(rss, 0), "deployment.kubernetes.io/revision"), "1");
	}
	json_decref(rss);
	pods = list(fx, "", "pods", "d1", "app=web");
	assert_int_equal(json_array_size(pods), 3);
	json_array_foreach(pods, i, p) {
		assert_string_equal(str_path(p, "status.phase"), "Running");
		assert_non_null(find_cond(p, "Ready"));
		assert_string_equal(str_path(find_cond(p, "Ready"), "status"), "True");
		assert_true(has_prefix(str_path(p, "spec.nodeName"), "test-node-"));
		assert_true(strlen(str_path(p, "status.podIP")) > 0);
	}
	json_decref(pods);

	/* A new image: a second replica set takes over, the first goes to 0. */
	patch(fx, "apps", "deployments", "d1", "web",
	      "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:2\"}]}}}}");
	{
		struct obj_ref two = { "apps", "replicasets", "d1", "app=web", 2, NULL, NULL };

		wait_for(fx, pred_count, &two, "two replica sets");
	}
	wait_for(fx, pred_rollout, &ro, "second rollout complete");
	rss = list(fx, "apps", "replicasets", "d1", NULL);
	json_array_foreach(rss, i, p) {
		const char *img = str_path(json_array_get(kobj_get_path(p, "spec.template.spec.containers"), 0), "image");

		assert_int_equal(int_path(p, "spec.replicas"), !strcmp(img, "nginx:2") ? 3 : 0);
	}
	json_decref(rss);
	{
		struct obj_ref three = { "", "pods", "d1", "app=web", 3, NULL, NULL };

		wait_for(fx, pred_count, &three, "three pods after the rollout");
	}

	/* Scale down. */
	patch(fx, "apps", "deployments", "d1", "web", "{\"spec\":{\"replicas\":1}}");
	{
		struct obj_ref one = { "", "pods", "d1", "app=web", 1, NULL, NULL };

		wait_for(fx, pred_count, &one, "one pod after scaling down");
		wait_for(fx, pred_rollout, &ro, "scaled rollout complete");
	}
}

static void test_deployment_progress_deadline(void **state)
{
	struct fx *fx = *state;
	struct rollout failed = { "d2", "bad", -1 };
	char *dj = deployment_json("bad", "web:fail-2", 2, "\"progressDeadlineSeconds\":1,");
	json_t *d, *pods;
	size_t i;
	json_t *p;
	int64_t t0 = time_mono_us();

	namespace(fx, "d2");
	create(fx, "apps", "deployments", "d2", dj);
	free(dj);
	wait_for(fx, pred_rollout, &failed, "ProgressDeadlineExceeded");
	/* Not before the deadline. */
	assert_true(time_mono_us() - t0 >= 900 * 1000);
	d = get(fx, "apps", "deployments", "d2", "bad");
	assert_string_equal(str_path(find_cond(d, "Progressing"), "status"), "False");
	assert_string_equal(str_path(find_cond(d, "Available"), "status"), "False");
	assert_int_equal(int_path(d, "status.readyReplicas"), 0);
	json_decref(d);
	pods = list(fx, "", "pods", "d2", NULL);
	assert_int_equal(json_array_size(pods), 2);
	json_array_foreach(pods, i, p) {
		assert_string_equal(str_path(p, "status.phase"), "Pending");
		assert_string_equal(str_path(json_array_get(kobj_get_path(p, "status.containerStatuses"), 0),
					     "state.waiting.reason"),
				    "ImagePullBackOff");
	}
	json_decref(pods);

	/* Fixing the image makes progress again. */
	patch(fx, "apps", "deployments", "d2", "bad",
	      "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"web:2\"}]}}}}");
	failed.want = 1;
	wait_for(fx, pred_rollout, &failed, "rollout after fixing the image");
}

static void test_statefulset_partition(void **state)
{
	struct fx *fx = *state;
	struct obj_ref ready3 = { "apps", "statefulsets", "s1", "db", 3, "status.readyReplicas", NULL };
	struct obj_ref upd1 = { "apps", "statefulsets", "s1", "db", 1, "status.updatedReplicas", NULL };
	struct obj_ref upd3 = { "apps", "statefulsets", "s1", "db", 3, "status.updatedReplicas", NULL };
	json_t *sts, *pod;
	char rev_old[200];

	namespace(fx, "s1");
	create(fx, "apps", "statefulsets", "s1",
	       "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"db\"},"
	       "\"spec\":{\"replicas\":3,\"serviceName\":\"db\",\"selector\":{\"matchLabels\":{\"app\":\"db\"}},"
	       "\"template\":{\"metadata\":{\"labels\":{\"app\":\"db\"}},"
	       "\"spec\":{\"containers\":[{\"name\":\"db\",\"image\":\"pg:15\"}]}}}}");
	wait_for(fx, pred_int, &ready3, "3 ready replicas");
	sts = get(fx, "apps", "statefulsets", "s1", "db");
	assert_string_equal(str_path(sts, "status.currentRevision"), str_path(sts, "status.updateRevision"));
	{
		json_t *crs = list(fx, "apps", "controllerrevisions", "s1", NULL);

		assert_int_equal(json_array_size(crs), 1);
		assert_string_equal(str_path(json_array_get(crs, 0), "metadata.name"),
				    str_path(sts, "status.currentRevision"));
		assert_int_equal(int_path(json_array_get(crs, 0), "revision"), 1);
		assert_string_equal(str_path(json_array_get(crs, 0), "data.spec.template.$patch"), "replace");
		json_decref(crs);
	}
	snprintf(rev_old, sizeof(rev_old), "%s", str_path(sts, "status.currentRevision"));
	json_decref(sts);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "db-%d", i);
		pod = get(fx, "", "pods", "s1", name);
		assert_non_null(pod);
		assert_string_equal(str_path(pod, "spec.hostname"), name);
		json_decref(pod);
	}

	/* Partition 2: only db-2 moves to the new revision. */
	patch(fx, "apps", "statefulsets", "s1", "db",
	      "{\"spec\":{\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"partition\":2}},"
	      "\"template\":{\"spec\":{\"containers\":[{\"name\":\"db\",\"image\":\"pg:16\"}]}}}}");
	wait_for(fx, pred_int, &upd1, "1 updated replica");
	wait_for(fx, pred_int, &ready3, "3 ready replicas after the partitioned update");
	run_for(fx, 5 * READY_DELAY_MS);
	{
		json_t *crs = list(fx, "apps", "controllerrevisions", "s1", NULL);

		assert_int_equal(json_array_size(crs), 2);
		json_decref(crs);
	}
	sts = get(fx, "apps", "statefulsets", "s1", "db");
	assert_int_equal(int_path(sts, "status.updatedReplicas"), 1);
	assert_int_equal(int_path(sts, "status.currentReplicas"), 2);
	assert_string_equal(str_path(sts, "status.currentRevision"), rev_old);
	assert_string_not_equal(str_path(sts, "status.updateRevision"), rev_old);
	json_decref(sts);
	pod = get(fx, "", "pods", "s1", "db-2");
	assert_string_equal(str_path(json_array_get(kobj_get_path(pod, "spec.containers"), 0), "image"), "pg:16");
	json_decref(pod);
	pod = get(fx, "", "pods", "s1", "db-0");
	assert_string_equal(str_path(json_array_get(kobj_get_path(pod, "spec.containers"), 0), "image"), "pg:15");
	assert_string_equal(str_path(pod, "metadata.labels.controller-revision-hash"), rev_old);
	json_decref(pod);

	/* Partition 0: everyone, then currentRevision catches up. */
	patch(fx, "apps", "statefulsets", "s1", "db",
	      "{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":0}}}}");
	wait_for(fx, pred_int, &upd3, "3 updated replicas");
	wait_for(fx, pred_int, &ready3, "3 ready replicas after the full update");
	{
		json_t *s = NULL;
		int64_t deadline = time_mono_us() + (int64_t)WAIT_MS * 1000;

		for (;;) {
			s = get(fx, "apps", "statefulsets", "s1", "db");
			if (!strcmp(str_path(s, "status.currentRevision"), str_path(s, "status.updateRevision")))
				break;
			json_decref(s);
			if (time_mono_us() > deadline)
				fail_msg("currentRevision never caught up");
			uv_run(&fx->loop, UV_RUN_ONCE);
		}
		json_decref(s);
	}

	/* Scale down removes the highest ordinals. */
	patch(fx, "apps", "statefulsets", "s1", "db", "{\"spec\":{\"replicas\":1}}");
	{
		struct obj_ref gone = { "", "pods", "s1", "db-1", 0, NULL, NULL };

		wait_for(fx, pred_gone, &gone, "db-1 gone");
		pod = get(fx, "", "pods", "s1", "db-0");
		assert_non_null(pod);
		json_decref(pod);
	}
}

static void test_daemonset(void **state)
{
	struct fx *fx = *state;
	struct obj_ref ready = { "apps", "daemonsets", "ds1", "agent", 2, "status.numberReady", NULL };
	struct obj_ref none = { "apps", "daemonsets", "ds1", "picky", 0, "status.desiredNumberScheduled", NULL };
	json_t *pods, *ds;

	namespace(fx, "ds1");
	create(fx, "apps", "daemonsets", "ds1",
	       "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"agent\"},"
	       "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"agent\"}},"
	       "\"template\":{\"metadata\":{\"labels\":{\"app\":\"agent\"}},"
	       "\"spec\":{\"nodeSelector\":{\"kubernetes.io/os\":\"linux\"},"
	       "\"containers\":[{\"name\":\"a\",\"image\":\"agent:1\"}]}}}}");
	wait_for(fx, pred_int, &ready, "a ready pod per node");
	pods = list(fx, "", "pods", "ds1", "app=agent");
	assert_int_equal(json_array_size(pods), 2);
	assert_string_not_equal(str_path(json_array_get(pods, 0), "spec.nodeName"),
				str_path(json_array_get(pods, 1), "spec.nodeName"));
	json_decref(pods);
	ds = get(fx, "apps", "daemonsets", "ds1", "agent");
	assert_int_equal(int_path(ds, "status.desiredNumberScheduled"), 2);
	assert_int_equal(int_path(ds, "status.updatedNumberScheduled"), 2);
	assert_int_equal(int_path(ds, "status.numberAvailable"), 2);
	json_decref(ds);

	/* A rolling update replaces both pods. */
	patch(fx, "apps", "daemonsets", "ds1", "agent",
	      "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"agent:2\"}]}}}}");
	{
		struct obj_ref upd = { "apps", "daemonsets", "ds1", "agent", 2, "status.updatedNumberScheduled", NULL };

		wait_for(fx, pred_int, &upd, "both pods updated");
		wait_for(fx, pred_int, &ready, "both updated pods ready");
	}

	create(fx, "apps", "daemonsets", "ds1",
	       "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"picky\"},"
	       "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"picky\"}},"
	       "\"template\":{\"metadata\":{\"labels\":{\"app\":\"picky\"}},"
	       "\"spec\":{\"nodeSelector\":{\"gpu\":\"yes\"},\"containers\":[{\"name\":\"a\",\"image\":\"x:1\"}]}}}}");
	{
		struct obj_ref gen = { "apps", "daemonsets", "ds1", "picky", 1, "status.observedGeneration", NULL };

		wait_for(fx, pred_int, &gen, "picky observed");
	}
	wait_for(fx, pred_int, &none, "no node for picky");
	pods = list(fx, "", "pods", "ds1", "app=picky");
	assert_int_equal(json_array_size(pods), 0);
	json_decref(pods);
}

static void test_jobs(void **state)
{
	struct fx *fx = *state;
	struct obj_ref ok = { "batch", "jobs", "j1", "ok", 1, "status.succeeded", NULL };
	struct obj_ref bad = { "batch", "jobs", "j1", "bad", 1, "status.failed", NULL };
	json_t *job;

	namespace(fx, "j1");
	create(fx, "batch", "jobs", "j1",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"ok\"},"
	       "\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
	       "\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}}}");
	create(fx, "batch", "jobs", "j1",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"bad\"},"
	       "\"spec\":{\"backoffLimit\":0,\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
	       "\"containers\":[{\"name\":\"c\",\"image\":\"busybox:fail\"}]}}}}");
	wait_for(fx, pred_int, &ok, "job ok succeeded");
	job = get(fx, "batch", "jobs", "j1", "ok");
	{
		const json_t *c = find_cond(job, "Complete");

		assert_non_null(c);
		assert_string_equal(str_path(c, "status"), "True");
		assert_true(strlen(str_path(job, "status.completionTime")) > 0);
		assert_true(strlen(str_path(job, "status.startTime")) > 0);
	}
	json_decref(job);
	wait_for(fx, pred_int, &bad, "job bad failed once");
	{
		int64_t deadline = time_mono_us() + (int64_t)WAIT_MS * 1000;

		for (;;) {
			job = get(fx, "batch", "jobs", "j1", "bad");
			if (find_cond(job, "Failed"))
				break;
			json_decref(job);
			if (time_mono_us() > deadline)
				fail_msg("job bad never Failed");
			uv_run(&fx->loop, UV_RUN_ONCE);
		}
		assert_string_equal(str_path(find_cond(job, "Failed"), "reason"), "BackoffLimitExceeded");
		assert_null(find_cond(job, "Complete"));
		json_decref(job);
	}
}

static void test_namespace_termination(void **state)
{
	struct fx *fx = *state;
	struct obj_ref ns = { "", "namespaces", NULL, "doomed", 0, NULL, NULL };
	struct obj_ref ready = { "apps", "deployments", "doomed", "web", 2, "status.readyReplicas", NULL };
	char *dj = deployment_json("web", "nginx:1", 2, NULL);
	json_t *n;

	namespace(fx, "doomed");
	create(fx, "", "configmaps", "doomed", "{\"metadata\":{\"name\":\"cm\"}}");
	create(fx, "apps", "deployments", "doomed", dj);
	free(dj);
	wait_for(fx, pred_int, &ready, "deployment ready before the namespace goes");
	assert_int_equal(kapi_delete(fx->srv, "", "namespaces", NULL, "doomed", NULL, NULL, NULL), 1);
	n = get(fx, "", "namespaces", NULL, "doomed");
	if (n) {
		assert_string_equal(str_path(n, "status.phase"), "Terminating");
		json_decref(n);
	}
	wait_for(fx, pred_gone, &ns, "the namespace gone");
	{
		json_t *pods = list(fx, "", "pods", "doomed", NULL), *cms = list(fx, "", "configmaps", "doomed", NULL);

		assert_int_equal(json_array_size(pods), 0);
		assert_int_equal(json_array_size(cms), 0);
		json_decref(pods);
		json_decref(cms);
	}
}

static void make_ready_deployment(struct fx *fx, const char *ns, const char *name)
{
	struct obj_ref ready = { "apps", "deployments", ns, name, 2, "status.readyReplicas", NULL };
	char *dj = deployment_json(name, "nginx:1", 2, NULL);

	create(fx, "apps", "deployments", ns, dj);
	free(dj);
	wait_for(fx, pred_int, &ready, "deployment ready");
}

static void test_gc_background(void **state)
{
	struct fx *fx = *state;
	struct obj_ref rs = { "apps", "replicasets", "gc1", "app=bg", 0, NULL, NULL };
	struct obj_ref pods = { "", "pods", "gc1", "app=bg", 0, NULL, NULL };

	namespace(fx, "gc1");
	make_ready_deployment(fx, "gc1", "bg");
	assert_int_equal(kapi_delete(fx->srv, "apps", "deployments", "gc1", "bg", NULL, NULL, NULL), 0);
	wait_for(fx, pred_count, &rs, "replica sets collected");
	wait_for(fx, pred_count, &pods, "pods collected");
}

static void test_gc_foreground(void **state)
{
	struct fx *fx = *state;
	struct kapi_delete_opts fg = { .propagation = KAPI_PROPAGATE_FOREGROUND };
	struct obj_ref gone = { "apps", "deployments", "gc2", "fg", 0, NULL, NULL };
	json_t *d, *pods;
	size_t i;
	json_t *p;

	namespace(fx, "gc2");
	make_ready_deployment(fx, "gc2", "fg");
	assert_int_equal(kapi_delete(fx->srv, "apps", "deployments", "gc2", "fg", &fg, NULL, NULL), 1);
	d = get(fx, "apps", "deployments", "gc2", "fg");
	assert_non_null(d);
	assert_non_null(kobj_get_path(d, "metadata.deletionTimestamp"));
	json_decref(d);
	/* While the owner still exists, its dependents are going or gone. */
	wait_for(fx, pred_gone, &gone, "the owner gone after its dependents");
	pods = list(fx, "", "pods", "gc2", NULL);
	json_array_foreach(pods, i, p)
		fail_msg("pod %s survived foreground deletion", str_path(p, "metadata.name"));
	json_decref(pods);
	pods = list(fx, "apps", "replicasets", "gc2", NULL);
	assert_int_equal(json_array_size(pods), 0);
	json_decref(pods);
}

static void test_gc_orphan(void **state)
{
	struct fx *fx = *state;
	struct kapi_delete_opts orphan = { .propagation = KAPI_PROPAGATE_ORPHAN };
	struct obj_ref gone = { "apps", "deployments", "gc3", "or", 0, NULL, NULL };
	json_t *rss, *pods;

	namespace(fx, "gc3");
	make_ready_deployment(fx, "gc3", "or");
	assert_int_equal(kapi_delete(fx->srv, "apps", "deployments", "gc3", "or", &orphan, NULL, NULL), 1);
	wait_for(fx, pred_gone, &gone, "the owner gone");
	run_for(fx, 5 * READY_DELAY_MS);
	rss = list(fx, "apps", "replicasets", "gc3", NULL);
	assert_int_equal(json_array_size(rss), 1);
	assert_null(kobj_get_path(json_array_get(rss, 0), "metadata.ownerReferences"));
	json_decref(rss);
	pods = list(fx, "", "pods", "gc3", NULL);
	assert_int_equal(json_array_size(pods), 2);
	json_decref(pods);
}

static void test_gc_dangling_owner(void **state)
{
	struct fx *fx = *state;
	struct obj_ref gone = { "", "configmaps", "gc4", "child", 0, NULL, NULL };

	namespace(fx, "gc4");
	create(fx, "", "configmaps", "gc4", "{\"metadata\":{\"name\":\"parent\"}}");
	create(fx, "", "configmaps", "gc4",
	       "{\"metadata\":{\"name\":\"child\",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	       "\"name\":\"parent\",\"uid\":\"00000000-dead-beef-0000-000000000000\"}]}}");
	wait_for(fx, pred_gone, &gone, "a dependent of a missing owner collected");
}

static void test_user_pod_runs(void **state)
{
	struct fx *fx = *state;
	struct obj_ref running = { "", "pods", "up", "solo", 0, "status.phase", "Running" };
	json_t *p;

	namespace(fx, "up");
	create(fx, "", "pods", "up",
	       "{\"metadata\":{\"name\":\"solo\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}");
	wait_for(fx, pred_str, &running, "a user pod Running");
	p = get(fx, "", "pods", "up", "solo");
	assert_true(has_prefix(str_path(p, "spec.nodeName"), "test-node-"));
	json_decref(p);
}

static void test_default_service_account(void **state)
{
	struct fx *fx = *state;
	struct obj_ref sa = { "", "serviceaccounts", "sa1", "", 1, NULL, NULL };
	struct obj_ref sys = { "", "serviceaccounts", "kube-system", "", 1, NULL, NULL };

	namespace(fx, "sa1");
	wait_for(fx, pred_count, &sa, "the default service account of a new namespace");
	wait_for(fx, pred_count, &sys, "the default service account of kube-system");
	assert_int_equal(kapi_delete(fx->srv, "", "serviceaccounts", "sa1", "default", NULL, NULL, NULL), 0);
	run_for(fx, 20);
	wait_for(fx, pred_count, &sa, "the default service account recreated");
}

static void test_unschedulable(void **state)
{
	struct fx *fx = *state;
	struct obj_ref running = { "", "pods", "us", "p", 0, "status.phase", "Running" };
	json_t *p;

	namespace(fx, "us");
	patch(fx, "", "nodes", NULL, "test-node-1", "{\"spec\":{\"unschedulable\":true}}");
	patch(fx, "", "nodes", NULL, "test-node-2", "{\"spec\":{\"unschedulable\":true}}");
	create(fx, "", "pods", "us",
	       "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}");
	{
		int64_t deadline = time_mono_us() + (int64_t)WAIT_MS * 1000;

		for (;;) {
			p = get(fx, "", "pods", "us", "p");
			if (find_cond(p, "PodScheduled") &&
			    !strcmp(str_path(find_cond(p, "PodScheduled"), "reason"), "Unschedulable"))
				break;
			json_decref(p);
			if (time_mono_us() > deadline)
				fail_msg("pod never reported Unschedulable");
			uv_run(&fx->loop, UV_RUN_ONCE);
		}
		assert_string_equal(str_path(p, "status.phase"), "Pending");
		assert_string_equal(str_path(p, "spec.nodeName"), "");
		json_decref(p);
	}
	patch(fx, "", "nodes", NULL, "test-node-2", "{\"spec\":{\"unschedulable\":null}}");
	wait_for(fx, pred_str, &running, "the pod running once a node is schedulable");
	p = get(fx, "", "pods", "us", "p");
	assert_string_equal(str_path(p, "spec.nodeName"), "test-node-2");
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deployment_rollout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deployment_progress_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statefulset_partition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemonset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespace_termination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_background, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_foreground, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_dangling_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_pod_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unschedulable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_service_account, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
