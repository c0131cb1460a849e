/* Unit tests for the proto/ payload helpers: the canonical status hash
 * (checked against values computed independently with Python's json and
 * hashlib), status builders, ManifestBundle <-> ManifestWork spec, resync
 * lists, version negotiation, PEM framing. */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "proto.h"

#define UID "5f0c2e1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
#define UID2 "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static json_t *load_fixture_data(const char *name)
{
	const char *root = getenv("NAVE_TEST_DATA");
	char *path = xasprintf("%s/proto/good/%s", root ? root : "tests/data", name);
	json_error_t jerr;
	json_t *ev = json_load_file(path, 0, &jerr);
	json_t *data;

	if (!ev)
		fail_msg("%s: %s", path, jerr.text);
	data = json_incref(json_object_get(ev, "data"));
	json_decref(ev);
	free(path);
	return data;
}

static void test_status_hash_reference(void **state)
{
	/* Reference: sha256(json.dumps(d, separators=(',',':'), sort_keys=True,
	 * ensure_ascii=False).encode()).hexdigest() in Python. */
	json_t *status = load_fixture_data("status-update.json");
	char hash[PROTO_STATUSHASH_LEN + 1];
	json_t *odd;

	assert_int_equal(proto_status_hash(status, hash), 0);
	assert_string_equal(hash, "7e14e2ab2488079f7297057b17878dc73440fbb348c5cdc0aa840a8c0db80c9e");
	json_decref(status);

	/* Escapes, non-ASCII, nesting, key order. */
	odd = json_loads("{\"z\":{\"b\":1,\"a\":[true,false,null,-5]},\"conditions\":[{\"type\":\"Applied\","
			 "\"status\":\"True\",\"message\":\"caf\\u00e9 \\u65e5\\u672c \\\"q\\\" \\\\ / \\n\\t"
			 "\\u0001 \\ud83d\\ude00\"}]}",
			 0, NULL);
	assert_non_null(odd);
	assert_int_equal(proto_status_hash(odd, hash), 0);
	assert_string_equal(hash, "6702246f6277002d08b343ccdb3386d02f9b720946611eae060d29758aa78143");
	json_decref(odd);

	/* Control characters other than \b\f\n\r\t: \u00XX with uppercase hex
	 * (Python writes lowercase; the reference text was adjusted to match);
	 * DEL is not escaped. */
	odd = json_pack("{s:[{s:s, s:s, s:s}]}", "conditions", "type", "X", "status", "True", "message",
			"a\x1f" "b\x0b" "c\x7f");
	assert_int_equal(proto_status_hash(odd, hash), 0);
	assert_string_equal(hash, "81ce54a0ac6dab879dbb0540f6931f2d7fff5f7cf356777012ea0b0541194bfa");
	json_decref(odd);
}

static void test_status_hash_order_independent(void **state)
{
	json_t *a = json_pack("{s:s, s:s, s:i}", "type", "Applied", "status", "True", "observedGeneration", 2);
	json_t *b = json_pack("{s:i, s:s, s:s}", "observedGeneration", 2, "status", "True", "type", "Applied");
	char ha[PROTO_STATUSHASH_LEN + 1], hb[PROTO_STATUSHASH_LEN + 1];

	assert_int_equal(proto_status_hash(a, ha), 0);
	assert_int_equal(proto_status_hash(b, hb), 0);
	assert_string_equal(ha, hb);
	json_object_set_new(b, "status", json_string("False"));
	assert_int_equal(proto_status_hash(b, hb), 0);
	assert_string_not_equal(ha, hb);
	json_decref(a);
	json_decref(b);
}

static void test_status_builders(void **state)
{
	struct errbuf err = { "" };
	json_t *status, *mc, *fv;

	status = proto_bundle_status(
		json_pack("[o]", proto_condition("Available", "True", "ResourcesAvailable", "ok", 3,
						 INT64_C(1795756295000000))),
		json_pack("[o]", proto_manifest_condition(
					 proto_resource_meta(0, "apps", "v1", "Deployment", "deployments", "hello",
							     "default"),
					 json_pack("[o]", proto_feedback_integer("ReadyReplicas", 3)), NULL)));
	assert_int_equal(proto_status_check(status, NULL, &err), 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(status, "conditions"), 0), "lastTransitionTime")),
			    "2026-11-27T05:11:35Z");
	mc = json_array_get(json_object_get(json_object_get(status, "resourceStatus"), "manifests"), 0);
	fv = json_object_get(json_array_get(json_object_get(json_object_get(mc, "statusFeedback"), "values"), 0),
			     "fieldValue");
	assert_string_equal(json_string_value(json_object_get(fv, "type")), "Integer");
	assert_int_equal(json_integer_value(json_object_get(fv, "integer")), 3);

	/* A JsonRaw value over 1024 bytes is refused, naming it. */
	{
		char *big = xmalloc(1100);

		memset(big, '1', 1099);
		big[1099] = '\0';
		json_array_append_new(json_object_get(json_object_get(mc, "statusFeedback"), "values"),
				      proto_feedback_json_raw("big", big));
		assert_int_equal(proto_status_check(status, NULL, &err), -E2BIG);
		assert_non_null(strstr(err.msg, "data.resourceStatus.manifests[0].statusFeedback.values[1].fieldValue.jsonRaw"));
		free(big);
	}
	/* A condition without status is refused. */
	json_array_append_new(json_object_get(status, "conditions"), proto_condition("X", NULL, NULL, NULL, -1, -1));
	assert_int_equal(proto_status_check(status, NULL, &err), -EINVAL);
	json_decref(status);
	status = json_integer(1);
	assert_int_equal(proto_status_check(status, NULL, &err), -EINVAL);
	assert_memory_equal(err.msg, "data:", 5);
	json_decref(status);
}

static void test_bundle_from_work(void **state)
{
	static const char work_text[] =
		"{\"apiVersion\":\"work.open-cluster-management.io/v1\",\"kind\":\"ManifestWork\","
		"\"metadata\":{\"name\":\"example-job\",\"namespace\":\"cluster1\",\"uid\":\"" UID "\","
		"\"generation\":4,\"managedFields\":[{\"manager\":\"x\"}]},"
		"\"spec\":{\"workload\":{\"manifests\":[{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\","
		"\"metadata\":{\"name\":\"pi\",\"namespace\":\"default\"},\"spec\":{\"backoffLimit\":4}}]},"
		"\"deleteOption\":{\"propagationPolicy\":\"Orphan\"},"
		"\"manifestConfigs\":[{\"resourceIdentifier\":{\"group\":\"batch\",\"resource\":\"jobs\","
		"\"namespace\":\"default\",\"name\":\"pi\"},\"conditionRules\":[{\"type\":\"WellKnownConditions\","
		"\"condition\":\"Complete\"}]}]}}";
	json_t *work = json_loads(work_text, 0, NULL);
	json_t *spec = json_object_get(work, "spec");
	json_t *bundle, *back, *meta, *empty;
	struct errbuf err = { "" };

	assert_non_null(work);
	bundle = proto_bundle_from_work_spec(spec);
	assert_int_equal(proto_bundle_check(bundle, NULL, &err), 0);
	/* By reference, not copied. */
	assert_ptr_equal(json_object_get(bundle, "manifests"),
			 json_object_get(json_object_get(spec, "workload"), "manifests"));
	assert_null(json_object_get(bundle, "executor"));
	back = proto_bundle_to_work_spec(bundle);
	assert_true(json_equal(back, spec));
	meta = proto_work_metadata(work);
	assert_null(json_object_get(meta, "managedFields"));
	assert_string_equal(json_string_value(json_object_get(meta, "uid")), UID);
	assert_non_null(json_object_get(json_object_get(work, "metadata"), "managedFields"));
	assert_null(proto_work_metadata(spec));

	/* A spec without manifests gives an empty list, which is valid. */
	empty = proto_bundle_from_work_spec(NULL);
	assert_int_equal(json_array_size(json_object_get(empty, "manifests")), 0);
	assert_int_equal(proto_bundle_check(empty, NULL, &err), 0);

	json_decref(empty);
	json_decref(meta);
	json_decref(back);
	json_decref(bundle);
	json_decref(work);
}

static void test_resync_lists(void **state)
{
	struct proto_resource_version in[2] = { { UID, 5 }, { UID2, 0 } }, *out = NULL;
	struct proto_status_hash hin[1] = { { UID, "" } }, *hout = NULL;
	struct errbuf err = { "" };
	json_t *j;
	size_t n = 99;

	j = proto_resync_versions_to_json(in, 2);
	assert_int_equal(proto_resync_versions_parse(j, NULL, &err, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].resourceid, UID);
	assert_int_equal(out[0].version, 5);
	assert_string_equal(out[1].resourceid, UID2);
	assert_int_equal(out[1].version, 0);
	free(out);
	json_decref(j);

	j = proto_resync_versions_to_json(NULL, 0);
	out = (void *)1;
	assert_int_equal(proto_resync_versions_parse(j, NULL, &err, &out, &n), 0);
	assert_int_equal(n, 0);
	assert_null(out);
	json_decref(j);

	/* Duplicates are refused; nothing is returned. */
	in[1] = in[0];
	j = proto_resync_versions_to_json(in, 2);
	out = NULL;
	assert_int_equal(proto_resync_versions_parse(j, NULL, &err, &out, &n), -EINVAL);
	assert_null(out);
	assert_non_null(strstr(err.msg, "appears more than once"));
	json_decref(j);

	memset(hin[0].hash, 'a', PROTO_STATUSHASH_LEN);
	hin[0].hash[PROTO_STATUSHASH_LEN] = '\0';
	j = proto_resync_hashes_to_json(hin, 1);
	assert_int_equal(proto_resync_hashes_parse(j, NULL, &err, &hout, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(hout[0].hash, hin[0].hash);
	free(hout);
	json_decref(j);

	j = json_pack("{s:[{s:s, s:s}]}", "statusHashes", "resourceID", UID, "statusHash", "zz");
	assert_int_equal(proto_resync_hashes_parse(j, NULL, &err, &hout, &n), -EINVAL);
	assert_memory_equal(err.msg, "data.statusHashes[0].statusHash:", 32);
	json_decref(j);
}

static void test_version(void **state)
{
	unsigned major = 99, minor = 99;

	assert_string_equal(proto_version_string(), "1.0");
	assert_int_equal(proto_version_parse("1.0", &major, &minor), 0);
	assert_int_equal(major, 1);
	assert_int_equal(minor, 0);
	assert_int_equal(proto_version_parse("12.345", &major, &minor), 0);
	assert_int_equal(major, 12);
	assert_int_equal(minor, 345);
	assert_int_equal(proto_version_parse("65535.65535", &major, &minor), 0);
	major = minor = 7;
	assert_int_equal(proto_version_parse("65536.0", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse("1", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse("1.", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse(".1", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse("01.0", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse("1.00", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse("1.0.0", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse("-1.0", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse("", &major, &minor), -EINVAL);
	assert_int_equal(proto_version_parse(NULL, &major, &minor), -EINVAL);
	assert_int_equal(major, 7);
	assert_int_equal(minor, 7);

	/* Adjacent minors interoperate at the lower one; another major does not. */
	assert_int_equal(proto_version_negotiate(PROTO_VERSION_MAJOR, PROTO_VERSION_MINOR + 1, &minor), 0);
	assert_int_equal(minor, PROTO_VERSION_MINOR);
	assert_int_equal(proto_version_negotiate(PROTO_VERSION_MAJOR, PROTO_VERSION_MINOR, &minor), 0);
	assert_int_equal(minor, PROTO_VERSION_MINOR);
	assert_int_equal(proto_version_negotiate(PROTO_VERSION_MAJOR + 1, 0, &minor), -EPROTONOSUPPORT);
	assert_int_equal(proto_version_negotiate(0, 9, &minor), -EPROTONOSUPPORT);
}

static void test_pem(void **state)
{
	static const char one[] = "-----BEGIN CERTIFICATE-----\nMIIB\nQUJD\n-----END CERTIFICATE-----\n";
	static const char two[] = "-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n"
				  "-----BEGIN CERTIFICATE-----\nQUJD==\n-----END CERTIFICATE-----";

	assert_true(proto_pem_valid(one, "CERTIFICATE", false));
	assert_true(proto_pem_valid(one, "CERTIFICATE", true));
	assert_true(proto_pem_valid(two, "CERTIFICATE", true));
	assert_false(proto_pem_valid(two, "CERTIFICATE", false));
	assert_false(proto_pem_valid(one, "CERTIFICATE REQUEST", false));
	assert_false(proto_pem_valid("", "CERTIFICATE", true));
	assert_false(proto_pem_valid("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "CERTIFICATE", true));
	assert_false(proto_pem_valid("-----BEGIN CERTIFICATE-----\nMI IB\n-----END CERTIFICATE-----\n", "CERTIFICATE",
				     true));
	assert_false(proto_pem_valid("-----BEGIN CERTIFICATE-----\nMIIB\n", "CERTIFICATE", true));
	assert_false(proto_pem_valid("junk -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
				     "CERTIFICATE", true));
	assert_false(proto_pem_valid("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
				     "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
				     "CERTIFICATE", true));
}

/* Every ```json block of docs/protocol.md is a complete event that decodes and
 * survives a round trip: the document's examples cannot rot. */
static void test_doc_examples(void **state)
{
	const char *root = getenv("NAVE_TEST_DATA");
	char *path = xasprintf("%s/../../docs/protocol.md", root ? root : "tests/data");
	FILE *f = fopen(path, "r");
	char line[4096];
	bool in_block = false;
	struct buf_s {
		char *p;
		size_t len;
	} b = { NULL, 0 };
	int blocks = 0;

	if (!f)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		if (!in_block && strncmp(line, "```json", 7) == 0) {
			in_block = true;
			b.len = 0;
			continue;
		}
		if (in_block && strncmp(line, "```", 3) == 0) {
			struct proto_event *ev = NULL, *back = NULL;
			struct errbuf err = { "" };
			char *json;
			size_t len;

			in_block = false;
			blocks++;
			if (proto_event_decode(b.p, b.len, NULL, &err, &ev) < 0)
				fail_msg("docs/protocol.md example %d: %s\n%.*s", blocks, err.msg, (int)b.len, b.p);
			assert_int_equal(proto_event_encode(ev, &err, &json, &len), 0);
			assert_int_equal(proto_event_decode(json, len, NULL, &err, &back), 0);
			assert_true(proto_event_equal(ev, back));
			free(json);
			proto_event_free(back);
			proto_event_free(ev);
			continue;
		}
		if (in_block) {
			size_t n = strlen(line);

			b.p = xrealloc(b.p, b.len + n + 1);
			memcpy(b.p + b.len, line, n + 1);
			b.len += n;
		}
	}
	fclose(f);
	free(b.p);
	free(path);
	assert_false(in_block);
	/* One example per event type at least. */
	assert_true(blocks >= PROTO_EV__COUNT - 1 - 3);
}

static void test_limits_default(void **state)
{
	struct proto_limits lim;

	proto_limits_init(&lim);
	assert_memory_equal(&lim, &proto_limits_default, sizeof(lim));
	assert_int_equal(lim.max_event_bytes, 1024 * 1024);
	assert_int_equal(lim.max_manifests, 500);
	assert_int_equal(lim.max_manifest_bytes, 500 * 1024);
	assert_int_equal(lim.max_feedback_value_bytes, 1024);
	assert_true(lim.max_json_depth <= PROTO_JSON_DEPTH_HARD_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_hash_reference),
		cmocka_unit_test(test_status_hash_order_independent),
		cmocka_unit_test(test_status_builders),
		cmocka_unit_test(test_bundle_from_work),
		cmocka_unit_test(test_resync_lists),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_pem),
		cmocka_unit_test(test_doc_examples),
		cmocka_unit_test(test_limits_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
