/* Unit tests for common/ssa.c and common/ssa_fieldset.c: server-side apply,
 * managedFields (FieldsV1) and update recording, checked against what
 * kube-apiserver does in the same situations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "patch.h"
#include "patch_testutil.h"

#define T0 "2024-05-01T10:00:00Z"
#define T1 "2024-05-01T10:00:01Z"
#define T2 "2024-05-01T10:00:02Z"
#define T3 "2024-05-01T10:00:03Z"

static void expect(const json_t *got, const char *want, const char *what)
{
	json_t *w = J(want);

	if (!json_equal((json_t *)got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

		print_error("%s:\n  got  %s\n  want %s\n", what, g ? g : "(null)", want);
		free(g);
		json_decref(w);
		fail();
	}
	json_decref(w);
}

static json_t *path(const json_t *o, const char *dotted)
{
	char buf[256], *save = NULL, *tok;
	json_t *cur = (json_t *)o;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(tok)) : json_object_get(cur, tok);
	return cur;
}

/* The managedFields entry of (manager, operation), or NULL. */
static json_t *entry(const json_t *obj, const char *manager, const char *op)
{
	json_t *mf = path(obj, "metadata.managedFields"), *e;
	size_t i;

	json_array_foreach(mf, i, e)
		if (strcmp(json_string_value(json_object_get(e, "manager")), manager) == 0 &&
		    strcmp(json_string_value(json_object_get(e, "operation")), op) == 0)
			return e;
	return NULL;
}

static json_t *apply_ok(const json_t *live, const char *config, const char *manager, bool force,
			const char *now)
{
	json_t *cfg = J(config), *out = NULL, *conflicts = NULL;
	struct errbuf err = { 0 };
	int r = ssa_apply(live, cfg, manager, force, now, &err, &conflicts, &out);

	if (r != 0)
		fail_msg("apply by %s: %d %s", manager, r, err.msg);
	assert_null(conflicts);
	json_decref(cfg);
	return out;
}

/* Apply that must conflict; returns the conflicts and sets *ret_msg. */
static json_t *apply_conflict(const json_t *live, const char *config, const char *manager,
			      char *msg, size_t msg_size)
{
	json_t *cfg = J(config), *out = NULL, *conflicts = NULL;
	struct errbuf err = { 0 };
	int r = ssa_apply(live, cfg, manager, false, T3, &err, &conflicts, &out);

	assert_int_equal(r, -EBUSY);
	assert_null(out);
	assert_non_null(conflicts);
	snprintf(msg, msg_size, "%s", err.msg);
	json_decref(cfg);
	return conflicts;
}

#define DEPLOY_HEAD "\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\""

static void test_create(void **state)
{
	json_t *obj = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"namespace\":\"d\","
				     "\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":2,"
				     "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
				     "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":"
				     "[{\"name\":\"nginx\",\"image\":\"nginx:1\",\"ports\":[{\"containerPort\":80}]}]}}},"
				     "\"status\":{\"replicas\":9}}",
			       "kubectl", false, T0);

	expect(path(obj, "metadata.managedFields"),
	       "[{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\","
	       "\"time\":\"" T0 "\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"
	       "\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},"
	       "\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:template\":{"
	       "\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},"
	       "\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"nginx\\\"}\":{\".\":{},"
	       "\"f:image\":{},\"f:name\":{},\"f:ports\":{"
	       "\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:containerPort\":{}}}}}}}}}}]",
	       "managedFields after create");
	/* status is not applied to the main resource */
	assert_null(json_object_get(obj, "status"));
	assert_int_equal(json_integer_value(path(obj, "spec.replicas")), 2);
	json_decref(obj);
}

static void test_reapply_removes_dropped_fields(void **state)
{
	json_t *v1 = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"labels\":{\"a\":\"1\",\"b\":\"2\"}},"
				    "\"spec\":{\"replicas\":2,\"paused\":false,\"strategy\":{\"type\":\"RollingUpdate\","
				    "\"rollingUpdate\":{\"maxSurge\":1}}}}",
			      "mgr", false, T0);
	/* server-side bits that must survive */
	json_object_set_new(path(v1, "metadata"), "uid", json_string("u-1"));
	json_object_set_new(path(v1, "metadata"), "resourceVersion", json_string("7"));
	json_object_set_new(path(v1, "metadata"), "creationTimestamp", json_string(T0));
	json_object_set_new(path(v1, "metadata"), "generation", json_integer(1));
	json_object_set_new(v1, "status", json_pack("{s:i}", "replicas", 2));

	json_t *v2 = apply_ok(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"3\","
				  "\"labels\":{\"a\":\"1\"}},\"spec\":{\"replicas\":2}}",
			      "mgr", false, T1);

	expect(path(v2, "metadata.labels"), "{\"a\":\"1\"}", "label b removed");
	assert_null(path(v2, "spec.paused"));
	assert_null(path(v2, "spec.strategy"));
	assert_int_equal(json_integer_value(path(v2, "spec.replicas")), 2);
	expect(path(v2, "metadata.uid"), "\"u-1\"", "uid kept");
	expect(path(v2, "metadata.resourceVersion"), "\"7\"", "resourceVersion is the server's");
	expect(path(v2, "metadata.creationTimestamp"), "\"" T0 "\"", "creationTimestamp kept");
	expect(path(v2, "metadata.generation"), "1", "generation kept");
	expect(path(v2, "status"), "{\"replicas\":2}", "status untouched");
	expect(json_object_get(entry(v2, "mgr", "Apply"), "fieldsV1"),
	       "{\"f:metadata\":{\"f:labels\":{\"f:a\":{}}},\"f:spec\":{\"f:replicas\":{}}}", "set shrinks");
	expect(json_object_get(entry(v2, "mgr", "Apply"), "time"), "\"" T1 "\"", "time of the change");
	json_decref(v1);
	json_decref(v2);
}

static void test_conflict_between_managers(void **state)
{
	char msg[ERRBUF_MAX];
	json_t *v1 = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2,\"paused\":true}}",
			      "alpha", false, T0);
	json_t *conflicts = apply_conflict(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":3}}",
					   "beta", msg, sizeof(msg));
	char *text = ssa_conflict_message(conflicts);
	json_t *st = ssa_conflict_status(conflicts);

	assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"alpha\": .spec.replicas");
	assert_string_equal(text, msg);
	expect(conflicts, "[{\"manager\":\"alpha\",\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\","
			  "\"field\":\".spec.replicas\",\"message\":\"conflict with \\\"alpha\\\"\"}]", "conflicts");
	expect(st, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
		   "\"message\":\"Apply failed with 1 conflict: conflict with \\\"alpha\\\": .spec.replicas\","
		   "\"reason\":\"Conflict\",\"details\":{\"causes\":[{\"reason\":\"FieldManagerConflict\","
		   "\"message\":\"conflict with \\\"alpha\\\"\",\"field\":\".spec.replicas\"}]},\"code\":409}",
	       "status");
	free(text);
	json_decref(st);
	json_decref(conflicts);

	/* force takes the field over */
	json_t *v2 = apply_ok(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":3}}",
			      "beta", true, T1);
	assert_int_equal(json_integer_value(path(v2, "spec.replicas")), 3);
	expect(json_object_get(entry(v2, "alpha", "Apply"), "fieldsV1"), "{\"f:spec\":{\"f:paused\":{}}}",
	       "alpha lost replicas");
	expect(json_object_get(entry(v2, "beta", "Apply"), "fieldsV1"), "{\"f:spec\":{\"f:replicas\":{}}}",
	       "beta owns replicas");

	/* alpha re-applying its old value now conflicts with beta */
	conflicts = apply_conflict(v2, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2,\"paused\":true}}",
				   "alpha", msg, sizeof(msg));
	assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"beta\": .spec.replicas");
	json_decref(conflicts);
	json_decref(v1);
	json_decref(v2);
}

static void test_shared_ownership(void **state)
{
	json_t *v1 = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2}}",
			      "alpha", false, T0);
	/* the same value: no conflict, both own it */
	json_t *v2 = apply_ok(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2}}",
			      "beta", false, T1);
	expect(json_object_get(entry(v2, "alpha", "Apply"), "fieldsV1"), "{\"f:spec\":{\"f:replicas\":{}}}", "alpha");
	expect(json_object_get(entry(v2, "beta", "Apply"), "fieldsV1"), "{\"f:spec\":{\"f:replicas\":{}}}", "beta");
	/* alpha lets go: beta still owns it, the field stays */
	json_t *v3 = apply_ok(v2, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"}}", "alpha", false, T2);
	assert_int_equal(json_integer_value(path(v3, "spec.replicas")), 2);
	assert_null(entry(v3, "alpha", "Apply"));
	/* beta lets go too: now it goes */
	json_t *v4 = apply_ok(v3, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"}}", "beta", false, T3);
	assert_null(path(v4, "spec.replicas"));
	assert_null(path(v4, "metadata.managedFields"));
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
	json_decref(v4);
}

static void test_list_item_removed_by_key(void **state)
{
	json_t *v1 = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"template\":{\"spec\":"
				    "{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\",\"image\":\"y\","
				    "\"env\":[{\"name\":\"E\",\"value\":\"1\"}]}]}}}}",
			      "alpha", false, T0);
	/* another manager adds its own container c */
	json_t *v2 = apply_ok(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"template\":{\"spec\":"
				  "{\"containers\":[{\"name\":\"c\",\"image\":\"z\"}]}}}}",
			      "beta", false, T1);
	expect(path(v2, "spec.template.spec.containers"),
	       "[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\",\"image\":\"y\",\"env\":[{\"name\":\"E\",\"value\":\"1\"}]},"
	       "{\"name\":\"c\",\"image\":\"z\"}]", "c appended");
	/* alpha drops b */
	json_t *v3 = apply_ok(v2, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"template\":{\"spec\":"
				  "{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}}}}",
			      "alpha", false, T2);
	expect(path(v3, "spec.template.spec.containers"),
	       "[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"c\",\"image\":\"z\"}]", "b removed, c kept");
	expect(json_object_get(entry(v3, "alpha", "Apply"), "fieldsV1"),
	       "{\"f:spec\":{\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"a\\\"}\":"
	       "{\".\":{},\"f:image\":{},\"f:name\":{}}}}}}}", "alpha's set");
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
}

/* structured-merge-diff's list merge order: the applier's items in its
 * order, other items kept where they were relative to them. */
static void test_list_order(void **state)
{
	json_t *v1 = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"template\":{\"spec\":"
				    "{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}}}", "alpha", false, T0);
	json_t *v2 = apply_ok(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"template\":{\"spec\":"
				  "{\"containers\":[{\"name\":\"x\"}]}}}}", "beta", false, T1);
	json_t *v3 = apply_ok(v2, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"template\":{\"spec\":"
				  "{\"containers\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}}}", "alpha", false, T2);

	expect(path(v2, "spec.template.spec.containers"), "[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"x\"}]", "append");
	expect(path(v3, "spec.template.spec.containers"), "[{\"name\":\"b\"},{\"name\":\"x\"},{\"name\":\"a\"}]", "reorder");
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
}

static void test_set_values(void **state)
{
	json_t *v1 = apply_ok(NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
				    "\"finalizers\":[\"x.io/a\",\"x.io/b\"]},\"data\":{\"k\":\"v\"}}",
			      "alpha", false, T0);
	expect(json_object_get(entry(v1, "alpha", "Apply"), "fieldsV1"),
	       "{\"f:data\":{\"f:k\":{}},\"f:metadata\":{\"f:finalizers\":{\"v:\\\"x.io/a\\\"\":{},\"v:\\\"x.io/b\\\"\":{}}}}",
	       "set items as v:");
	json_t *v2 = apply_ok(v1, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
				  "\"finalizers\":[\"x.io/c\"]}}",
			      "beta", false, T1);
	expect(path(v2, "metadata.finalizers"), "[\"x.io/a\",\"x.io/b\",\"x.io/c\"]", "set union");
	json_t *v3 = apply_ok(v2, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
				  "\"finalizers\":[\"x.io/b\"]},\"data\":{\"k\":\"v\"}}",
			      "alpha", false, T2);
	expect(path(v3, "metadata.finalizers"), "[\"x.io/b\",\"x.io/c\"]", "a removed");
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
}

/* kubectl create/apply (client-side), then kubectl scale, then kubectl apply
 * --server-side: the scaled field conflicts; other fields kubectl's
 * client-side apply set and that still hold are taken over silently. */
static void test_client_side_then_server_side(void **state)
{
	char msg[ERRBUF_MAX];
	const char *cfg = "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"annotations\":{"
			  "\"kubectl.kubernetes.io/last-applied-configuration\":"
			  "\"{\\\"apiVersion\\\":\\\"apps/v1\\\",\\\"kind\\\":\\\"Deployment\\\",\\\"metadata\\\":{\\\"name\\\":\\\"web\\\"},"
			  "\\\"spec\\\":{\\\"replicas\\\":1,\\\"paused\\\":false}}\\n\"}},"
			  "\"spec\":{\"replicas\":1,\"paused\":false}}";
	json_t *v1 = J(cfg);

	ssa_record_update(NULL, v1, "kubectl-client-side-apply", "apps/v1", T0);
	expect(json_object_get(entry(v1, "kubectl-client-side-apply", "Update"), "fieldsV1"),
	       "{\"f:metadata\":{\"f:annotations\":{\".\":{},\"f:kubectl.kubernetes.io/last-applied-configuration\":{}}},"
	       "\"f:spec\":{\".\":{},\"f:paused\":{},\"f:replicas\":{}}}", "client-side apply's set");

	/* a manager other than kubectl conflicts with client-side apply */
	json_t *conflicts = apply_conflict(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":3}}",
					   "other", msg, sizeof(msg));
	assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" "
				 "using apps/v1: .spec.replicas");
	json_decref(conflicts);

	/* kubectl itself may take over what still matches last-applied */
	json_t *ok = apply_ok(v1, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2,\"paused\":true}}",
			      "kubectl", false, T1);
	assert_int_equal(json_integer_value(path(ok, "spec.replicas")), 2);
	{
		json_t *ann = path(ok, "metadata.annotations");
		const char *la = json_string_value(json_object_get(ann, "kubectl.kubernetes.io/last-applied-configuration"));

		assert_non_null(la);
		assert_string_equal(la, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
					"\"spec\":{\"paused\":true,\"replicas\":2}}\n");
	}
	json_decref(ok);

	/* kubectl scale (an update by manager "kubectl") changes replicas */
	json_t *v2 = json_deep_copy(v1);
	json_object_set_new(path(v2, "spec"), "replicas", json_integer(3));
	ssa_record_update(v1, v2, "kubectl", "apps/v1", T1);
	expect(json_object_get(entry(v2, "kubectl", "Update"), "fieldsV1"), "{\"f:spec\":{\"f:replicas\":{}}}", "scale");
	expect(json_object_get(entry(v2, "kubectl-client-side-apply", "Update"), "fieldsV1"),
	       "{\"f:metadata\":{\"f:annotations\":{\".\":{},\"f:kubectl.kubernetes.io/last-applied-configuration\":{}}},"
	       "\"f:spec\":{\".\":{},\"f:paused\":{}}}", "client-side apply lost replicas");

	/* server-side apply by kubectl without --force-conflicts: conflict */
	conflicts = apply_conflict(v2, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1,\"paused\":false}}",
				   "kubectl", msg, sizeof(msg));
	assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas");
	json_decref(conflicts);
	/* with --force-conflicts: success */
	json_t *v3 = apply_ok(v2, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1,\"paused\":false}}",
			      "kubectl", true, T2);
	assert_int_equal(json_integer_value(path(v3, "spec.replicas")), 1);
	assert_null(entry(v3, "kubectl", "Update"));
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
}

static void test_several_conflicts_message(void **state)
{
	char msg[ERRBUF_MAX];
	json_t *v1 = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2,\"paused\":true,"
				    "\"minReadySeconds\":5}}",
			      "alpha", false, T0);
	json_t *v2 = json_deep_copy(v1);

	json_object_set_new(path(v2, "spec"), "revisionHistoryLimit", json_integer(3));
	ssa_record_update(v1, v2, "zeta", "apps/v1", T1);
	json_t *conflicts = apply_conflict(v2, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":3,"
					   "\"paused\":false,\"revisionHistoryLimit\":4}}",
					   "beta", msg, sizeof(msg));
	char *text = ssa_conflict_message(conflicts);

	assert_int_equal(json_array_size(conflicts), 3);
	assert_string_equal(text, "Apply failed with 3 conflicts: conflicts with \"alpha\":\n- .spec.paused\n"
				  "- .spec.replicas\nconflicts with \"zeta\" using apps/v1:\n- .spec.revisionHistoryLimit");
	free(text);
	json_decref(conflicts);
	json_decref(v1);
	json_decref(v2);
}

static void test_before_first_apply(void **state)
{
	char msg[ERRBUF_MAX];
	json_t *live = J("{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"uid\":\"u\"},\"spec\":{\"replicas\":1}}");
	json_t *conflicts = apply_conflict(live, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2}}",
					   "x", msg, sizeof(msg));

	assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas");
	json_decref(conflicts);
	json_t *ok = apply_ok(live, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1,\"paused\":true}}",
			      "x", false, T1);
	assert_non_null(entry(ok, "before-first-apply", "Update"));
	assert_non_null(entry(ok, "x", "Apply"));
	json_decref(ok);
	json_decref(live);
}

static void test_record_update(void **state)
{
	json_t *v1 = J("{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
		       "\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}}},"
		       "\"status\":{\"replicas\":1}}");

	ssa_record_update(NULL, v1, "creator", "apps/v1", T0);
	expect(json_object_get(entry(v1, "creator", "Update"), "fieldsV1"),
	       "{\"f:spec\":{\".\":{},\"f:replicas\":{},\"f:template\":{\".\":{},\"f:spec\":{\".\":{},\"f:containers\":{"
	       "\".\":{},\"k:{\\\"name\\\":\\\"a\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{}}}}}}}",
	       "create: everything set, no status, no server metadata");

	json_t *v2 = json_deep_copy(v1);
	json_object_set_new(path(v2, "metadata"), "resourceVersion", json_string("2"));
	json_object_set_new(path(v2, "metadata"), "labels", json_pack("{s:s}", "l", "1"));
	json_object_set_new(path(v2, "spec.template.spec.containers.0"), "image", json_string("y"));
	json_object_del(path(v2, "spec"), "replicas");
	json_object_set_new(path(v2, "status"), "replicas", json_integer(5));
	ssa_record_update(v1, v2, "editor", "apps/v1", T1);
	expect(json_object_get(entry(v2, "editor", "Update"), "fieldsV1"),
	       "{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:l\":{}}},\"f:spec\":{\"f:template\":{\"f:spec\":{\"f:containers\":"
	       "{\"k:{\\\"name\\\":\\\"a\\\"}\":{\"f:image\":{}}}}}}}", "editor owns what it changed");
	expect(json_object_get(entry(v2, "creator", "Update"), "fieldsV1"),
	       "{\"f:spec\":{\".\":{},\"f:template\":{\".\":{},\"f:spec\":{\".\":{},\"f:containers\":{"
	       "\".\":{},\"k:{\\\"name\\\":\\\"a\\\"}\":{\".\":{},\"f:name\":{}}}}}}}",
	       "creator lost image (taken) and replicas (removed)");
	/* entries sorted: by operation, then time */
	expect(json_object_get(json_array_get(path(v2, "metadata.managedFields"), 0), "manager"), "\"creator\"", "order");

	/* an update that changes nothing records nothing */
	json_t *v3 = json_deep_copy(v2);
	ssa_record_update(v2, v3, "noop", "apps/v1", T2);
	assert_null(entry(v3, "noop", "Update"));

	/* status subresource: only status is tracked, the entry names it */
	json_t *v4 = json_deep_copy(v3);
	json_object_set_new(path(v4, "status"), "readyReplicas", json_integer(5));
	ssa_record_update_subresource(v3, v4, "controller", "apps/v1", "status", T3);
	expect(entry(v4, "controller", "Update"),
	       "{\"manager\":\"controller\",\"operation\":\"Update\",\"apiVersion\":\"apps/v1\",\"time\":\"" T3 "\","
	       "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":{\"f:readyReplicas\":{}}},\"subresource\":\"status\"}",
	       "status entry");
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
	json_decref(v4);
}

static void test_update_sets_managed_fields(void **state)
{
	json_t *v1 = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\"}}");

	ssa_record_update(NULL, v1, "creator", "v1", T0);
	/* a client rewrites managedFields (kubectl's client-side to server-side
	 * migration does this with a JSON patch): taken as given */
	json_t *v2 = json_deep_copy(v1);
	json_object_set_new(path(v2, "metadata"), "managedFields",
			    J("[{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"time\":\"" T1 "\","
			      "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\"f:a\":{}}}}]"));
	ssa_record_update(v1, v2, "kubectl-migrate", "v1", T1);
	assert_null(entry(v2, "creator", "Update"));
	assert_null(entry(v2, "kubectl-migrate", "Update"));
	assert_non_null(entry(v2, "kubectl", "Apply"));

	/* [] resets: the object is no longer tracked */
	json_t *v3 = json_deep_copy(v2);
	json_object_set_new(path(v3, "metadata"), "managedFields", json_array());
	json_object_set_new(path(v3, "data"), "b", json_string("2"));
	ssa_record_update(v2, v3, "x", "v1", T2);
	assert_null(path(v3, "metadata.managedFields"));
	/* [{}] resets too; an untracked object stays untracked */
	json_t *v4 = json_deep_copy(v2);
	json_object_set_new(path(v4, "metadata"), "managedFields", J("[{}]"));
	ssa_record_update(v2, v4, "x", "v1", T2);
	assert_null(path(v4, "metadata.managedFields"));
	json_t *v5 = json_deep_copy(v4);
	json_object_set_new(path(v5, "data"), "c", json_string("3"));
	ssa_record_update(v4, v5, "y", "v1", T3);
	assert_null(path(v5, "metadata.managedFields"));
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
	json_decref(v4);
	json_decref(v5);
}

static void test_canonical_keys(void **state)
{
	char msg[ERRBUF_MAX];
	/* managedFields written by someone else, keys in another order and spacing */
	json_t *live = J("{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"managedFields\":[{\"manager\":\"m\","
			 "\"operation\":\"Update\",\"apiVersion\":\"apps/v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"
			 "\"f:spec\":{\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"a\\\"}\":{"
			 "\"f:ports\":{\"k:{ \\\"protocol\\\":\\\"TCP\\\", \\\"containerPort\\\":80.0}\":{\"f:name\":{}}}}}}}}}}]},"
			 "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80,"
			 "\"protocol\":\"TCP\",\"name\":\"http\"}]}]}}}}");
	json_t *conflicts = apply_conflict(live, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"template\":"
					   "{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80,"
					   "\"name\":\"web\"}]}]}}}}",
					   "x", msg, sizeof(msg));

	assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"m\" using apps/v1: "
				 ".spec.template.spec.containers[name=\"a\"].ports[containerPort=80,protocol=\"TCP\"].name");
	json_decref(conflicts);
	json_decref(live);
}

static void test_unreadable_managed_fields(void **state)
{
	/* managedFields Kubernetes cannot decode are dropped; the object then
	 * counts as never applied */
	json_t *live = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
			 "\"managedFields\":[{\"manager\":\"m\",\"operation\":\"Update\",\"fieldsType\":\"FieldsV1\","
			 "\"fieldsV1\":{\"k:not json\":{}}}]},\"data\":{\"a\":\"1\"}}");
	json_t *out = apply_ok(live, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},"
				    "\"data\":{\"b\":\"2\"}}", "x", false, T1);

	assert_null(entry(out, "m", "Update"));
	expect(json_object_get(entry(out, "before-first-apply", "Update"), "fieldsV1"),
	       "{\"f:data\":{\".\":{},\"f:a\":{}}}", "before-first-apply owns what was there");
	expect(json_object_get(out, "data"), "{\"a\":\"1\",\"b\":\"2\"}", "merged");
	json_decref(out);
	json_decref(live);

	/* unknown path element types are skipped, as Kubernetes skips them */
	live = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
		 "\"managedFields\":[{\"manager\":\"m\",\"operation\":\"Apply\",\"apiVersion\":\"v1\","
		 "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"z:future\":{},\"f:data\":{\"f:a\":{}}}}]},"
		 "\"data\":{\"a\":\"1\"}}");
	out = apply_ok(live, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}",
		       "m", false, T1);
	assert_null(json_object_get(out, "data"));
	json_decref(out);
	json_decref(live);
}

static void test_custom_resource(void **state)
{
	json_t *v1 = apply_ok(NULL, "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\","
				    "\"labels\":{\"a\":\"1\"}},\"spec\":{\"size\":1,\"items\":[{\"name\":\"x\"}],\"nested\":{\"k\":\"v\"}}}",
			      "m", false, T0);

	/* a deduced schema: objects are maps (".": members), lists atomic */
	expect(json_object_get(entry(v1, "m", "Apply"), "fieldsV1"),
	       "{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:a\":{}}},\"f:spec\":{\".\":{},\"f:items\":{},"
	       "\"f:nested\":{\".\":{},\"f:k\":{}},\"f:size\":{}}}", "deduced");
	json_t *v2 = apply_ok(v1, "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\"},"
				  "\"spec\":{\"size\":2}}",
			      "m", false, T1);
	expect(json_object_get(v2, "spec"), "{\"size\":2}", "pruned");
	assert_null(path(v2, "metadata.labels"));
	json_decref(v1);
	json_decref(v2);
}

static void test_cap_update_managers(void **state)
{
	json_t *cur = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{}}");
	char key[16], mgr[16], now[32];

	ssa_record_update(NULL, cur, "creator", "v1", T0);
	for (int i = 0; i < 15; i++) {
		json_t *next = json_deep_copy(cur);

		snprintf(key, sizeof(key), "k%d", i);
		snprintf(mgr, sizeof(mgr), "m%02d", i);
		snprintf(now, sizeof(now), "2024-05-01T11:00:%02dZ", i);
		json_object_set_new(path(next, "data"), key, json_string("v"));
		ssa_record_update(cur, next, mgr, "v1", now);
		json_decref(cur);
		cur = next;
	}
	assert_true(json_array_size(path(cur, "metadata.managedFields")) <= 11);
	assert_non_null(entry(cur, "ancient-changes", "Update"));
	assert_non_null(entry(cur, "m14", "Update"));
	assert_null(entry(cur, "m00", "Update"));
	json_decref(cur);
}

static void test_errors(void **state)
{
	struct errbuf err = { 0 };
	json_t *out = NULL, *conflicts = NULL;
	json_t *with_mf = J("{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"w\",\"managedFields\":[]}}");
	json_t *dups = J("{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"w\"},\"spec\":{\"template\":{\"spec\":{\"containers\":"
			 "[{\"name\":\"a\"},{\"name\":\"a\"}]}}}}");
	json_t *nokey = J("{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"w\"},\"spec\":{\"template\":{\"spec\":{\"containers\":"
			  "[{\"image\":\"a\"}]}}}}");
	json_t *nokind = J("{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"w\"}}");

	assert_int_equal(ssa_apply(NULL, with_mf, "m", false, T0, &err, &conflicts, &out), -EINVAL);
	assert_string_equal(err.msg, "metadata.managedFields must be nil");
	assert_int_equal(ssa_apply(NULL, dups, "m", false, T0, &err, &conflicts, &out), -EINVAL);
	assert_non_null(strstr(err.msg, "duplicate entries for key [name=\"a\"]"));
	assert_int_equal(ssa_apply(NULL, nokey, "m", false, T0, &err, &conflicts, &out), -EINVAL);
	assert_non_null(strstr(err.msg, ".spec.template.spec.containers"));
	assert_int_equal(ssa_apply(NULL, nokind, "m", false, T0, &err, &conflicts, &out), -EINVAL);
	assert_int_equal(ssa_apply(NULL, dups, "", false, T0, &err, &conflicts, &out), -EINVAL);
	assert_null(out);
	assert_null(conflicts);
	json_decref(with_mf);
	json_decref(dups);
	json_decref(nokey);
	json_decref(nokind);
}

static void test_inputs_untouched(void **state)
{
	json_t *live = apply_ok(NULL, "{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\",\"labels\":{\"a\":\"1\"}},"
				      "\"spec\":{\"replicas\":2}}", "m", false, T0);
	json_t *cfg = J("{" DEPLOY_HEAD ",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":3}}");
	json_t *live_copy = json_deep_copy(live), *cfg_copy = json_deep_copy(cfg), *out = NULL;

	assert_int_equal(ssa_apply(live, cfg, "m", false, T1, NULL, NULL, &out), 0);
	assert_true(json_equal(live, live_copy));
	assert_true(json_equal(cfg, cfg_copy));
	json_decref(out);
	json_decref(live);
	json_decref(cfg);
	json_decref(live_copy);
	json_decref(cfg_copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_reapply_removes_dropped_fields),
		cmocka_unit_test(test_conflict_between_managers),
		cmocka_unit_test(test_shared_ownership),
		cmocka_unit_test(test_list_item_removed_by_key),
		cmocka_unit_test(test_list_order),
		cmocka_unit_test(test_set_values),
		cmocka_unit_test(test_client_side_then_server_side),
		cmocka_unit_test(test_several_conflicts_message),
		cmocka_unit_test(test_before_first_apply),
		cmocka_unit_test(test_record_update),
		cmocka_unit_test(test_update_sets_managed_fields),
		cmocka_unit_test(test_canonical_keys),
		cmocka_unit_test(test_unreadable_managed_fields),
		cmocka_unit_test(test_custom_resource),
		cmocka_unit_test(test_cap_update_managers),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_inputs_untouched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
