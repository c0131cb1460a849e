/* Unit tests for common/kobj: getters, setters, names, apiVersion, owner
 * references, dotted paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kobj.h"

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);

	if (!o)
		fail_msg("bad test JSON: %s", jerr.text);
	return o;
}

static const char deploy[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"u-1\",\"resourceVersion\":\"42\","
	"\"labels\":{\"app\":\"web\",\"n\":3},\"annotations\":{\"a/b\":\"c\"}},"
	"\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}},"
	"\"status\":{\"readyReplicas\":1}}";

static void test_getters(void **state)
{
	json_t *o = load(deploy);

	assert_string_equal(kobj_api_version(o), "apps/v1");
	assert_string_equal(kobj_kind(o), "Deployment");
	assert_string_equal(kobj_name(o), "web");
	assert_string_equal(kobj_namespace(o), "default");
	assert_string_equal(kobj_uid(o), "u-1");
	assert_string_equal(kobj_resource_version(o), "42");
	assert_string_equal(kobj_label(o, "app"), "web");
	assert_null(kobj_label(o, "n"));       /* not a string */
	assert_null(kobj_label(o, "missing"));
	assert_string_equal(kobj_annotation(o, "a/b"), "c");
	assert_non_null(kobj_labels(o));
	assert_non_null(kobj_annotations(o));
	json_decref(o);

	/* Wrong shapes read as absent, never crash. */
	o = load("{\"apiVersion\":1,\"metadata\":\"x\"}");
	assert_null(kobj_api_version(o));
	assert_null(kobj_kind(o));
	assert_null(kobj_name(o));
	assert_null(kobj_labels(o));
	assert_null(kobj_label(o, "a"));
	assert_null(kobj_metadata(o, false));
	json_decref(o);
	o = json_array();
	assert_null(kobj_name(o));
	assert_null(kobj_metadata(o, true));
	kobj_set_label(o, "a", "b"); /* a no-op on a non-object */
	json_decref(o);
	assert_null(kobj_name(NULL));
	assert_null(kobj_label(NULL, "x"));
}

static void test_setters(void **state)
{
	json_t *o = json_object();

	assert_null(kobj_metadata(o, false));
	kobj_set_label(o, "app", "web");
	kobj_set_annotation(o, "note", "x");
	assert_string_equal(kobj_label(o, "app"), "web");
	assert_string_equal(kobj_annotation(o, "note"), "x");
	kobj_set_label(o, "app", "db");
	assert_string_equal(kobj_label(o, "app"), "db");
	assert_int_equal(json_object_size(kobj_labels(o)), 1);
	json_decref(o);

	/* labels: null is replaced by an object. */
	o = load("{\"metadata\":{\"labels\":null,\"name\":\"n\"}}");
	kobj_set_label(o, "k", "v");
	assert_string_equal(kobj_label(o, "k"), "v");
	assert_string_equal(kobj_name(o), "n");
	json_decref(o);
}

static void test_split_api_version(void **state)
{
	char g[254], v[254];
	char long_group[300];

	assert_int_equal(kobj_split_api_version("apps/v1", g, v), 0);
	assert_string_equal(g, "apps");
	assert_string_equal(v, "v1");
	assert_int_equal(kobj_split_api_version("v1", g, v), 0);
	assert_string_equal(g, "");
	assert_string_equal(v, "v1");
	assert_int_equal(kobj_split_api_version("work.open-cluster-management.io/v1", g, v), 0);
	assert_string_equal(g, "work.open-cluster-management.io");
	assert_int_equal(kobj_split_api_version("", g, v), -EINVAL);
	assert_int_equal(kobj_split_api_version(NULL, g, v), -EINVAL);
	assert_int_equal(kobj_split_api_version("/v1", g, v), -EINVAL);
	assert_int_equal(kobj_split_api_version("apps/", g, v), -EINVAL);
	assert_int_equal(kobj_split_api_version("a/b/c", g, v), -EINVAL);
	memset(long_group, 'a', 260);
	strcpy(long_group + 260, "/v1");
	assert_int_equal(kobj_split_api_version(long_group, g, v), -EINVAL);
}

static void test_names(void **state)
{
	char s254[255], l64[65];

	assert_true(kobj_valid_label_name("a"));
	assert_true(kobj_valid_label_name("web-1"));
	assert_false(kobj_valid_label_name(""));
	assert_false(kobj_valid_label_name(NULL));
	assert_false(kobj_valid_label_name("-a"));
	assert_false(kobj_valid_label_name("a-"));
	assert_false(kobj_valid_label_name("A"));
	assert_false(kobj_valid_label_name("a.b"));
	assert_false(kobj_valid_label_name("a_b"));
	memset(l64, 'a', 64);
	l64[64] = '\0';
	assert_false(kobj_valid_label_name(l64));
	l64[63] = '\0';
	assert_true(kobj_valid_label_name(l64));

	assert_true(kobj_valid_subdomain("a"));
	assert_true(kobj_valid_subdomain("web.example-1.com"));
	assert_true(kobj_valid_subdomain("0.1"));
	assert_false(kobj_valid_subdomain(""));
	assert_false(kobj_valid_subdomain(NULL));
	assert_false(kobj_valid_subdomain("a..b"));
	assert_false(kobj_valid_subdomain(".a"));
	assert_false(kobj_valid_subdomain("a."));
	assert_false(kobj_valid_subdomain("a.-b"));
	assert_false(kobj_valid_subdomain("a-.b"));
	assert_false(kobj_valid_subdomain("Web"));
	assert_false(kobj_valid_subdomain("a b"));
	memset(s254, 'a', 254);
	s254[254] = '\0';
	assert_false(kobj_valid_subdomain(s254));
	s254[253] = '\0';
	assert_true(kobj_valid_subdomain(s254));
}

static void expect_invalid(const char *text, const char *field)
{
	struct errbuf err = { "" };
	json_t *o = load(text);

	assert_int_equal(kobj_validate_basic(o, &err), -EINVAL);
	if (strncmp(err.msg, field, strlen(field)) != 0)
		fail_msg("%s: message \"%s\" does not name %s", text, err.msg, field);
	json_decref(o);
}

static void test_validate_basic(void **state)
{
	json_t *o = load(deploy);

	assert_int_equal(kobj_validate_basic(o, NULL), 0);
	json_decref(o);
	expect_invalid("{\"kind\":\"K\",\"metadata\":{\"name\":\"a\"}}", "apiVersion");
	expect_invalid("{\"apiVersion\":\"a/b/c\",\"kind\":\"K\",\"metadata\":{\"name\":\"a\"}}", "apiVersion");
	expect_invalid("{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\"}}", "kind");
	expect_invalid("{\"apiVersion\":\"v1\",\"kind\":\"\",\"metadata\":{\"name\":\"a\"}}", "kind");
	expect_invalid("{\"apiVersion\":\"v1\",\"kind\":\"K\"}", "metadata.name");
	expect_invalid("{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":[]}", "metadata");
	expect_invalid("{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"Bad_Name\"}}", "metadata.name");
	expect_invalid("{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{\"name\":5}}", "metadata.name");
	expect_invalid("{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"a\",\"namespace\":\"x.y\"}}",
		       "metadata.namespace");
	expect_invalid("[]", "object");
}

static void test_owner_refs(void **state)
{
	json_t *o = load(deploy), *refs;

	assert_false(kobj_has_owner_ref(o, "p-1"));
	kobj_add_owner_ref(o, "v1", "ConfigMap", "owner", "p-1", true);
	kobj_add_owner_ref(o, "v1", "ConfigMap", "owner", "p-1", false); /* duplicate uid: ignored */
	kobj_add_owner_ref(o, "apps/v1", "ReplicaSet", "rs", "p-2", false);
	refs = json_object_get(kobj_metadata(o, false), "ownerReferences");
	assert_int_equal(json_array_size(refs), 2);
	assert_true(json_is_true(json_object_get(json_array_get(refs, 0), "controller")));
	assert_true(json_is_true(json_object_get(json_array_get(refs, 0), "blockOwnerDeletion")));
	assert_null(json_object_get(json_array_get(refs, 1), "controller"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(refs, 1), "kind")), "ReplicaSet");
	assert_true(kobj_has_owner_ref(o, "p-1"));
	assert_true(kobj_remove_owner_ref(o, "p-1"));
	assert_false(kobj_remove_owner_ref(o, "p-1"));
	assert_false(kobj_has_owner_ref(o, "p-1"));
	assert_true(kobj_has_owner_ref(o, "p-2"));
	assert_int_equal(json_array_size(refs), 1);
	json_decref(o);
}

static void test_get_path(void **state)
{
	json_t *o = load(deploy);

	assert_int_equal(json_integer_value(kobj_get_path(o, "status.readyReplicas")), 1);
	assert_int_equal(json_integer_value(kobj_get_path(o, "spec.replicas")), 2);
	assert_string_equal(json_string_value(kobj_get_path(o, "spec.template.spec.containers.0.image")), "nginx");
	assert_ptr_equal(kobj_get_path(o, "metadata"), kobj_metadata(o, false));
	assert_null(kobj_get_path(o, "status.missing"));
	assert_null(kobj_get_path(o, "spec.replicas.x"));
	assert_null(kobj_get_path(o, "spec..replicas"));
	assert_null(kobj_get_path(o, ".spec"));
	assert_null(kobj_get_path(o, "spec."));
	assert_null(kobj_get_path(o, ""));
	assert_null(kobj_get_path(o, "spec.template.spec.containers.1"));
	assert_null(kobj_get_path(o, "spec.template.spec.containers.-1"));
	assert_null(kobj_get_path(NULL, "a"));
	json_decref(o);
}

static void test_conditions(void **state)
{
	json_t *o = load("{\"status\":{\"conditions\":[{\"type\":\"Applied\",\"status\":\"True\"},"
			 "{\"type\":\"Available\",\"status\":\"False\"},{\"status\":\"True\"},7]}}");
	json_t *bad = load("{\"status\":{\"conditions\":{\"type\":\"Applied\"}}}");

	(void)state;
	assert_string_equal(kobj_condition_status(o, "Applied"), "True");
	assert_string_equal(kobj_condition_status(o, "Available"), "False");
	assert_ptr_equal(kobj_condition(o, "Available"), json_array_get(kobj_get_path(o, "status.conditions"), 1));
	assert_null(kobj_condition(o, "Degraded"));
	assert_null(kobj_condition_status(o, "Degraded"));
	assert_null(kobj_condition(bad, "Applied")); /* not an array: no condition, no crash */
	assert_null(kobj_condition(NULL, "Applied"));
	json_decref(o);
	json_decref(bad);
}

static void test_paths_differ(void **state)
{
	static const char *const paths[] = {"spec", "metadata.generation", NULL};
	json_t *a = load("{\"metadata\":{\"generation\":1,\"labels\":{\"x\":\"1\"}},\"spec\":{\"r\":1}}");
	json_t *b = load("{\"metadata\":{\"generation\":1,\"labels\":{\"x\":\"2\"}},\"spec\":{\"r\":1}}");
	json_t *c = load("{\"metadata\":{\"generation\":2},\"spec\":{\"r\":1}}");
	json_t *d = load("{\"metadata\":{\"generation\":1}}");

	(void)state;
	assert_false(kobj_paths_differ(a, b, paths)); /* labels are not among the paths */
	assert_true(kobj_paths_differ(a, c, paths));
	assert_true(kobj_paths_differ(a, d, paths)); /* spec in one only */
	assert_true(kobj_paths_differ(a, NULL, paths));
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_split_api_version),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_validate_basic),
		cmocka_unit_test(test_owner_refs),
		cmocka_unit_test(test_get_path),
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_paths_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
