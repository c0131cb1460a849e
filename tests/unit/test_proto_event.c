/* Unit tests for proto/event: the envelope, every event kind's round trip,
 * the malformed fixtures of tests/data/proto/bad (cases.txt says the expected
 * code and field of each), encode's refusals and the error reply. */
#include <dirent.h>
#include <errno.h>
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

static char *data_path(const char *rel)
{
	const char *root = getenv("NAVE_TEST_DATA");

	return xasprintf("%s/proto/%s", root ? root : "tests/data", rel);
}

/* Whether msg ("path: text") names field: its path is field or lies under it
 * (the too-deep cases name a path hundreds of components long). */
static bool names_field(const char *msg, const char *field)
{
	size_t flen = strlen(field);
	const char *colon = strstr(msg, ": ");

	if (!colon || strncmp(msg, field, flen) != 0)
		return false;
	return msg + flen == colon || msg[flen] == '.' || msg[flen] == '[';
}

static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

/* decode -> encode -> decode, asserting success and equality. Returns the
 * first decoded event (caller frees). */
static struct proto_event *round_trip(const char *buf, size_t len, const char *what)
{
	struct proto_event *a = NULL, *b = NULL;
	struct errbuf err = { "" };
	char *json = NULL;
	size_t jlen = 0;
	int r;

	r = proto_event_decode(buf, len, NULL, &err, &a);
	if (r < 0)
		fail_msg("%s: decode: %d %s", what, r, err.msg);
	r = proto_event_encode(a, &err, &json, &jlen);
	if (r < 0)
		fail_msg("%s: encode: %d %s", what, r, err.msg);
	assert_int_equal(strlen(json), jlen);
	r = proto_event_decode(json, jlen, NULL, &err, &b);
	if (r < 0)
		fail_msg("%s: decode of encoded: %d %s\n%s", what, r, err.msg, json);
	if (!proto_event_equal(a, b))
		fail_msg("%s: round trip differs:\n%.*s\n%s", what, (int)len, buf, json);
	free(json);
	proto_event_free(b);
	return a;
}

/* Fixture name prefix -> kind it must decode to. */
static const struct {
	const char *prefix;
	enum proto_event_kind kind;
} fixture_kinds[] = {
	{ "spec-create", PROTO_EV_SPEC_CREATE },
	{ "spec-update", PROTO_EV_SPEC_UPDATE },
	{ "spec-delete", PROTO_EV_SPEC_DELETE },
	{ "spec-resync-request", PROTO_EV_SPEC_RESYNC_REQUEST },
	{ "spec-resync-response", PROTO_EV_SPEC_RESYNC_RESPONSE },
	{ "status-update", PROTO_EV_STATUS_UPDATE },
	{ "status-resync-request", PROTO_EV_STATUS_RESYNC_REQUEST },
	{ "status-resync-response", PROTO_EV_STATUS_RESYNC_RESPONSE },
	{ "status-ack", PROTO_EV_STATUS_ACK },
	{ "heartbeat", PROTO_EV_HEARTBEAT },
	{ "hello", PROTO_EV_HELLO },
	{ "error", PROTO_EV_ERROR },
	{ "lease", PROTO_EV_LEASE_UPDATE },
	{ "cert-renew-request", PROTO_EV_CERT_RENEW_REQUEST },
	{ "cert-renew-response", PROTO_EV_CERT_RENEW_RESPONSE },
};

static enum proto_event_kind expected_kind(const char *name)
{
	enum proto_event_kind best = PROTO_EV_INVALID;
	size_t best_len = 0;

	for (size_t i = 0; i < sizeof(fixture_kinds) / sizeof(fixture_kinds[0]); i++) {
		size_t n = strlen(fixture_kinds[i].prefix);

		if (strncmp(name, fixture_kinds[i].prefix, n) == 0 && n > best_len) {
			best = fixture_kinds[i].kind;
			best_len = n;
		}
	}
	return best;
}

static void test_good_fixtures_round_trip(void **state)
{
	bool seen[PROTO_EV__COUNT] = { false };
	char *dir = data_path("good");
	struct dirent *e;
	DIR *d = opendir(dir);
	int files = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		struct proto_event *ev;
		char *path, *buf;
		size_t len;

		if (!strstr(e->d_name, ".json"))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		buf = read_file(path, &len);
		ev = round_trip(buf, len, e->d_name);
		if (ev->kind != expected_kind(e->d_name))
			fail_msg("%s decoded as kind %d", e->d_name, (int)ev->kind);
		seen[ev->kind] = true;
		proto_event_free(ev);
		free(buf);
		free(path);
		files++;
	}
	closedir(d);
	free(dir);
	assert_true(files >= 15);
	for (int k = PROTO_EV_INVALID + 1; k < PROTO_EV__COUNT; k++)
		if (!seen[k])
			fail_msg("no fixture of kind %d (%s)", k, proto_event_kind_type((enum proto_event_kind)k));
}

static int errno_by_name(const char *name)
{
	static const struct {
		const char *name;
		int code;
	} names[] = {
		{ "EINVAL", EINVAL }, { "E2BIG", E2BIG }, { "EMSGSIZE", EMSGSIZE }, { "EBADMSG", EBADMSG },
		{ "ENOTSUP", ENOTSUP }, { "EPROTONOSUPPORT", EPROTONOSUPPORT },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].name, name) == 0)
			return -names[i].code;
	fail_msg("unknown errno name %s", name);
	return 0;
}

static void test_malformed_fixtures(void **state)
{
	char *index = data_path("bad/cases.txt");
	char *dir = data_path("bad");
	FILE *f = fopen(index, "r");
	char line[1024];
	int cases = 0, files = 0;
	struct dirent *e;
	DIR *d;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char file[256], code[64], field[512], *path, *buf;
		struct errbuf err = { "" };
		struct proto_event *ev = NULL;
		size_t len;
		int r;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_int_equal(sscanf(line, "%255s %63s %511s", file, code, field), 3);
		path = xasprintf("%s/%s", dir, file);
		buf = read_file(path, &len);
		r = proto_event_decode(buf, len, NULL, &err, &ev);
		if (r != errno_by_name(code))
			fail_msg("%s: got %d (%s), want -%s", file, r, err.msg, code);
		assert_null(ev);
		if (!names_field(err.msg, field))
			fail_msg("%s: message \"%s\" does not start with \"%s:\"", file, err.msg, field);
		/* The reply to it is a valid error event. */
		{
			struct proto_event *reply = proto_error_reply(buf, len, NULL, r, err.msg, "nave-hub", NULL);
			char *json;
			size_t jlen;

			assert_int_equal(proto_event_encode(reply, &err, &json, &jlen), 0);
			free(json);
			proto_event_free(reply);
		}
		free(buf);
		free(path);
		cases++;
	}
	fclose(f);
	/* Every file in bad/ is a listed case. */
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".json"))
			files++;
	closedir(d);
	assert_int_equal(files, cases);
	assert_true(cases >= 60);
	free(index);
	free(dir);
}

#define UID "5f0c2e1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
#define UID2 "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define CSR_PEM "-----BEGIN CERTIFICATE REQUEST-----\nMIIBADCBpwIBADBFMQswCQYDVQQGEwJBVTET\n-----END CERTIFICATE REQUEST-----\n"
#define CRT_PEM "-----BEGIN CERTIFICATE-----\nMIIBfzCCASWgAwIBAgIUQ==\n-----END CERTIFICATE-----\n" \
	"-----BEGIN CERTIFICATE-----\nMIIBfjCCASWgAwIBAgIUQ==\n-----END CERTIFICATE-----\n"

/* Encode ev, decode it back, compare; return the decoded copy. Frees ev. */
static struct proto_event *encode_decode(struct proto_event *ev)
{
	struct errbuf err = { "" };
	struct proto_event *back = NULL;
	char *json;
	size_t len;
	int r;

	r = proto_event_encode(ev, &err, &json, &len);
	if (r < 0)
		fail_msg("encode %s: %d %s", ev->type, r, err.msg);
	r = proto_event_decode(json, len, NULL, &err, &back);
	if (r < 0)
		fail_msg("decode %s: %d %s\n%s", ev->type, r, err.msg, json);
	assert_true(proto_event_equal(ev, back));
	free(json);
	proto_event_free(ev);
	return back;
}

static json_t *sample_bundle(void)
{
	return json_pack("{s:[{s:s, s:s, s:{s:s, s:s}, s:{s:s}}]}", "manifests", "apiVersion", "v1", "kind",
			 "ConfigMap", "metadata", "name", "cm1", "namespace", "default", "data", "a", "b");
}

static void test_constructors_round_trip(void **state)
{
	struct proto_resource_version rv[2] = { { UID, 3 }, { UID2, 0 } };
	struct proto_status_hash sh[1] = { { UID, "" } };
	json_t *bundle = sample_bundle();
	json_t *status, *claims;
	struct proto_event *ev;
	unsigned major, minor;

	ev = encode_decode(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, 1, bundle));
	assert_int_equal(ev->kind, PROTO_EV_SPEC_CREATE);
	assert_string_equal(ev->resourceid, UID);
	assert_int_equal(ev->resourceversion, 1);
	assert_true(json_equal(ev->data, bundle));
	assert_false(proto_spec_is_delete(ev));
	proto_event_free(ev);

	ev = proto_event_new_spec(PROTO_EV_SPEC_UPDATE, "nave-hub", "cluster1", UID, 2, bundle);
	ev->metadata = json_pack("{s:s, s:s, s:s, s:i}", "name", "w", "namespace", "cluster1", "uid", UID,
				 "generation", 2);
	ev->originalsource = xstrdup("nave-hub-1");
	ev = encode_decode(ev);
	assert_string_equal(json_string_value(json_object_get(ev->metadata, "name")), "w");
	proto_event_free(ev);

	ev = encode_decode(proto_event_new_spec(PROTO_EV_SPEC_RESYNC_RESPONSE, "nave-hub", "cluster1", UID,
						  2, bundle));
	assert_int_equal(proto_spec_action(ev), PROTO_SPEC_APPLY);
	proto_event_free(ev);

	/* A work the hub holds and is deleting, OCM style: delete now. */
	ev = proto_event_new_spec(PROTO_EV_SPEC_RESYNC_RESPONSE, "nave-hub", "cluster1", UID, 2, bundle);
	ev->has_deletiontimestamp = true;
	ev->deletiontimestamp_us = INT64_C(1764220295000000);
	ev = encode_decode(ev);
	assert_int_equal(proto_spec_action(ev), PROTO_SPEC_DELETE);
	proto_event_free(ev);
	ev = proto_event_new_spec(PROTO_EV_SPEC_UPDATE, "nave-hub", "cluster1", UID, 2, bundle);
	ev->has_deletiontimestamp = true;
	ev->deletiontimestamp_us = INT64_C(1764220295000000);
	ev = encode_decode(ev);
	assert_int_equal(proto_spec_action(ev), PROTO_SPEC_DELETE);
	proto_event_free(ev);

	ev = encode_decode(proto_event_new_spec_delete(PROTO_EV_SPEC_DELETE, "nave-hub", "cluster1", UID, 3,
							 INT64_C(1764220295123456)));
	assert_int_equal(proto_spec_action(ev), PROTO_SPEC_DELETE);
	assert_true(proto_spec_is_delete(ev));
	assert_int_equal(ev->deletiontimestamp_us, INT64_C(1764220295123456));
	assert_null(ev->data);
	proto_event_free(ev);

	ev = encode_decode(proto_event_new_spec_delete(PROTO_EV_SPEC_RESYNC_RESPONSE, "nave-hub", "cluster1",
							 UID2, 7, INT64_C(1764220295000000)));
	/* A work the hub does not know: evict after the grace period. */
	assert_int_equal(proto_spec_action(ev), PROTO_SPEC_EVICT);
	assert_true(proto_spec_is_delete(ev));
	proto_event_free(ev);

	ev = encode_decode(proto_event_new_spec_resync_request("nave-klusterlet/cluster1", "cluster1", rv, 2));
	assert_int_equal(json_array_size(json_object_get(ev->data, "resourceVersions")), 2);
	proto_event_free(ev);
	ev = encode_decode(proto_event_new_spec_resync_request("nave-klusterlet/cluster1", "cluster1", NULL, 0));
	proto_event_free(ev);

	status = proto_bundle_status(
		json_pack("[o]", proto_condition("Applied", "True", "AppliedManifestWorkComplete", "done", 2,
						 INT64_C(1764220295000000))),
		json_pack("[o]", proto_manifest_condition(
					 proto_resource_meta(0, "", "v1", "ConfigMap", "configmaps", "cm1", "default"),
					 json_pack("[o,o,o,o]", proto_feedback_integer("n", -3),
						   proto_feedback_string("s", "x"), proto_feedback_boolean("b", true),
						   proto_feedback_json_raw("r", "{\"a\":[1,2]}")),
					 json_pack("[o]", proto_condition("Available", "Unknown", NULL, NULL, -1, -1)))));
	assert_int_equal(proto_status_check(status, NULL, NULL), 0);
	ev = encode_decode(proto_event_new_status(PROTO_EV_STATUS_UPDATE, "nave-klusterlet/cluster1", "cluster1",
						  UID, 2, UINT64_MAX, status));
	assert_int_equal(ev->sequenceid, UINT64_MAX);
	assert_non_null(ev->statushash);
	assert_int_equal(proto_status_hash(ev->data, sh[0].hash), 0);
	assert_string_equal(ev->statushash, sh[0].hash);
	proto_event_free(ev);
	ev = proto_event_new_status(PROTO_EV_STATUS_RESYNC_RESPONSE, "nave-klusterlet/cluster1", "cluster1", UID,
				    2, 1, status);
	ev->has_deletiontimestamp = true;
	ev->deletiontimestamp_us = INT64_C(1764220295000000);
	proto_event_free(encode_decode(ev));

	ev = encode_decode(proto_event_new_status_resync_request("nave-hub", "cluster1", sh, 1));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(ev->data, "statusHashes"), 0), "statusHash")),
			    sh[0].hash);
	proto_event_free(ev);

	ev = encode_decode(proto_event_new_status_ack("nave-hub", "cluster1", UID, 42));
	assert_int_equal(ev->sequenceid, 42);
	assert_null(ev->data);
	proto_event_free(ev);

	proto_event_free(encode_decode(proto_event_new_heartbeat("nave-hub", NULL)));
	proto_event_free(encode_decode(proto_event_new_heartbeat("nave-klusterlet/cluster1", "cluster1")));

	ev = encode_decode(proto_event_new_hello("nave-klusterlet/cluster1", "cluster1", "nave-klusterlet 0.1.0",
						 10));
	assert_int_equal(proto_hello_version(ev, &major, &minor), 0);
	assert_int_equal(major, PROTO_VERSION_MAJOR);
	assert_int_equal(minor, PROTO_VERSION_MINOR);
	proto_event_free(ev);
	proto_event_free(encode_decode(proto_event_new_hello("nave-hub", NULL, NULL, 0)));

	ev = encode_decode(proto_event_new_error("nave-hub", "cluster1", -ENOTSUP, "type: unknown", "e1",
						 "io.example.x", false));
	assert_string_equal(json_string_value(json_object_get(ev->data, "code")), PROTO_ERR_UNKNOWN_TYPE);
	proto_event_free(ev);

	claims = json_pack("[o,o]", proto_cluster_claim("kubeversion.open-cluster-management.io", "v1.32.0"),
			   proto_cluster_claim("id.k8s.io", ""));
	ev = encode_decode(proto_event_new_lease("nave-klusterlet/cluster1", "cluster1", 60, claims, NULL));
	assert_int_equal(json_integer_value(json_object_get(ev->data, "leaseDurationSeconds")), 60);
	proto_event_free(ev);

	ev = encode_decode(proto_event_new_cert_renew_request("nave-klusterlet/cluster1", "cluster1", CSR_PEM));
	assert_string_equal(json_string_value(json_object_get(ev->data, "request")), CSR_PEM);
	proto_event_free(encode_decode(
		proto_event_new_cert_renew_response("nave-hub", "cluster1", ev->id, CRT_PEM)));
	proto_event_free(ev);

	json_decref(claims);
	json_decref(status);
	json_decref(bundle);
}

/* Encode must fail with code and a message starting with field. */
static void expect_encode_error(struct proto_event *ev, int code, const char *field)
{
	struct errbuf err = { "" };
	char *json = NULL;
	size_t len = 0;
	int r;

	r = proto_event_encode(ev, &err, &json, &len);
	if (r != code)
		fail_msg("encode %s: got %d (%s), want %d", ev->type, r, err.msg, code);
	assert_null(json);
	if (!names_field(err.msg, field))
		fail_msg("message \"%s\" does not start with \"%s:\"", err.msg, field);
	proto_event_free(ev);
}

static void test_encode_refuses(void **state)
{
	json_t *bundle = sample_bundle();
	struct proto_event *ev;
	json_t *bad, *deep, *x;

	/* Required extension missing. */
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", NULL, UID, 1, bundle), -EINVAL,
			    "clustername");
	/* Bad formats. */
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", "nope", 1, bundle),
			    -EINVAL, "resourceid");
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, -1, bundle),
			    -EINVAL, "resourceversion");
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave hub", "cluster1", UID, 1, bundle),
			    -EINVAL, "source");
	expect_encode_error(proto_event_new_status_ack("nave-hub", "cluster1", UID, 0), -EINVAL, "sequenceid");
	/* No payload where one is required. */
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, 1, NULL),
			    -EINVAL, "data");
	/* An extension or payload the kind does not use. */
	ev = proto_event_new_heartbeat("nave-hub", NULL);
	ev->sequenceid = 5;
	expect_encode_error(ev, -EINVAL, "sequenceid");
	ev = proto_event_new_status_ack("nave-hub", "cluster1", UID, 1);
	proto_event_set_data(ev, bundle);
	expect_encode_error(ev, -EINVAL, "data");
	ev = proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, 1, bundle);
	ev->has_deletiontimestamp = true;
	expect_encode_error(ev, -EINVAL, "deletiontimestamp");
	/* Type string inconsistent with the kind. */
	ev = proto_event_new_heartbeat("nave-hub", NULL);
	free(ev->type);
	ev->type = xstrdup(PROTO_TYPE_HELLO);
	expect_encode_error(ev, -EINVAL, "type");
	/* A string with NUL, which the parser would refuse. */
	bad = json_object();
	json_object_set_new(bad, "manifests", json_pack("[{s:s, s:s, s:{s:s%}}]", "apiVersion", "v1", "kind",
							"ConfigMap", "metadata", "name", "a\0b", (size_t)3));
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, 1, bad),
			    -EINVAL, "data.manifests[0].metadata.name");
	json_decref(bad);
	/* Nesting deeper than the limit. */
	deep = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name", "d");
	x = deep;
	for (int i = 0; i < 200; i++) {
		json_t *n = json_object();

		json_object_set_new(x, "d", n);
		x = n;
	}
	bad = json_pack("{s:[o]}", "manifests", deep);
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, 1, bad),
			    -E2BIG, "data.manifests[0].d");
	json_decref(bad);
	/* A payload that is not the kind's shape. */
	bad = json_pack("{s:s}", "protocolVersion", "1.0");
	expect_encode_error(proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, 1, bad),
			    -EINVAL, "data.manifests");
	json_decref(bad);
	/* Metadata that is not an object. */
	ev = proto_event_new_spec(PROTO_EV_SPEC_UPDATE, "nave-hub", "cluster1", UID, 1, bundle);
	ev->metadata = json_integer(3);
	expect_encode_error(ev, -EINVAL, "metadata");
	/* Unknown kind. */
	ev = proto_event_new(PROTO_EV_INVALID, "nave-hub");
	expect_encode_error(ev, -EINVAL, "type");
	json_decref(bundle);
}

/* A spec event whose manifests hold n config maps of pad bytes each. */
static char *big_spec(size_t n, size_t pad, size_t *ret_len)
{
	json_t *manifests = json_array();
	json_t *bundle, *root;
	struct proto_event *ev;
	char *padding = xmalloc(pad + 1), *name, *json;

	memset(padding, 'x', pad);
	padding[pad] = '\0';
	for (size_t i = 0; i < n; i++) {
		name = xasprintf("cm%zu", i);
		json_array_append_new(manifests, json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
							   "ConfigMap", "metadata", "name", name, "data", "x",
							   padding));
		free(name);
	}
	bundle = json_pack("{s:o}", "manifests", manifests);
	ev = proto_event_new_spec(PROTO_EV_SPEC_CREATE, "nave-hub", "cluster1", UID, 1, bundle);
	root = proto_event_to_json(ev);
	json = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	proto_event_free(ev);
	json_decref(bundle);
	free(padding);
	*ret_len = strlen(json);
	return json;
}

static void test_limits(void **state)
{
	struct proto_limits lim;
	struct errbuf err = { "" };
	struct proto_event *ev = NULL;
	json_t *bundle, *manifests;
	char *json, *out;
	size_t len, olen;

	/* 3 x 200 KiB of manifests: over max_manifest_bytes, under max_event_bytes. */
	json = big_spec(3, 200 * 1024, &len);
	assert_true(len < proto_limits_default.max_event_bytes);
	assert_int_equal(proto_event_decode(json, len, NULL, &err, &ev), -E2BIG);
	assert_memory_equal(err.msg, "data.manifests:", 15);
	/* A receiver with a larger cap takes it. */
	proto_limits_init(&lim);
	lim.max_manifest_bytes = 1024 * 1024;
	assert_int_equal(proto_event_decode(json, len, &lim, &err, &ev), 0);
	/* Encode with the defaults refuses it; with the larger cap it works. */
	assert_int_equal(proto_event_encode(ev, &err, &out, &olen), -E2BIG);
	assert_int_equal(proto_event_encode_limits(ev, &lim, &err, &out, &olen), 0);
	free(out);
	proto_event_free(ev);
	ev = NULL;
	free(json);

	/* Over max_event_bytes on the wire: -EMSGSIZE before parsing. */
	json = big_spec(6, 200 * 1024, &len);
	assert_true(len > proto_limits_default.max_event_bytes);
	assert_int_equal(proto_event_decode(json, len, NULL, &err, &ev), -EMSGSIZE);
	assert_memory_equal(err.msg, "event:", 6);
	free(json);

	/* Encode refuses an event over max_event_bytes too. */
	proto_limits_init(&lim);
	lim.max_manifest_bytes = 4 * 1024 * 1024;
	json = big_spec(6, 200 * 1024, &len);
	assert_int_equal(proto_event_decode(json, len, &(struct proto_limits){ .max_event_bytes = 8u << 20,
		.max_manifests = 500, .max_manifest_bytes = 8u << 20, .max_feedback_values = 64,
		.max_feedback_value_bytes = 1024, .max_conditions = 32, .max_resync_entries = 10,
		.max_list_entries = 64, .max_id_bytes = 128, .max_source_bytes = 256, .max_name_bytes = 253,
		.max_message_bytes = 1024, .max_metadata_bytes = 1024, .max_pem_bytes = 1024,
		.max_json_depth = 64 }, &err, &ev), 0);
	assert_int_equal(proto_event_encode_limits(ev, &lim, &err, &out, &olen), -EMSGSIZE);
	proto_event_free(ev);
	ev = NULL;
	free(json);

	/* max_manifests from a custom limit. */
	proto_limits_init(&lim);
	lim.max_manifests = 2;
	json = big_spec(3, 10, &len);
	assert_int_equal(proto_event_decode(json, len, &lim, &err, &ev), -E2BIG);
	assert_memory_equal(err.msg, "data.manifests:", 15);
	assert_int_equal(proto_event_decode(json, len, NULL, &err, &ev), 0);
	proto_event_free(ev);
	ev = NULL;
	free(json);

	/* max_resync_entries: 10001 entries. */
	{
		struct proto_resource_version *v = xcalloc(10001, sizeof(*v));

		for (int i = 0; i < 10001; i++) {
			snprintf(v[i].resourceid, sizeof(v[i].resourceid), "%08x-0000-4000-8000-000000000000", i);
			v[i].version = i;
		}
		ev = proto_event_new_spec_resync_request("nave-klusterlet/c1", "c1", v, 10001);
		assert_int_equal(proto_event_encode(ev, &err, &out, &olen), -E2BIG);
		assert_memory_equal(err.msg, "data.resourceVersions:", 22);
		proto_event_free(ev);
		ev = proto_event_new_spec_resync_request("nave-klusterlet/c1", "c1", v, 10000);
		assert_int_equal(proto_event_encode(ev, &err, &out, &olen), 0);
		assert_true(olen < proto_limits_default.max_event_bytes);
		free(out);
		proto_event_free(ev);
		free(v);
	}

	/* Exactly 500 manifests pass. */
	manifests = json_array();
	for (int i = 0; i < 500; i++)
		json_array_append_new(manifests, json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
							   "ConfigMap", "metadata", "name", "c"));
	bundle = json_pack("{s:o}", "manifests", manifests);
	assert_int_equal(proto_bundle_check(bundle, NULL, &err), 0);
	json_array_append_new(manifests, json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
						   "metadata", "name", "c"));
	assert_int_equal(proto_bundle_check(bundle, NULL, &err), -E2BIG);
	json_decref(bundle);
}

static void decode_ok(const char *text, struct proto_event **ret)
{
	struct errbuf err = { "" };
	int r = proto_event_decode(text, strlen(text), NULL, &err, ret);

	if (r < 0)
		fail_msg("decode: %d %s\n%s", r, err.msg, text);
}

static void test_tolerance(void **state)
{
	struct proto_event *ev, *again;
	char *json;
	size_t len;

	/* Unknown attributes, extensions the kind does not use, unknown payload
	 * members and null for absent are all accepted; the unused ones are dropped. */
	decode_ok("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\","
		  "\"type\":\"io.open-cluster-management.cloudevents.heartbeat\",\"time\":null,"
		  "\"subject\":\"whatever\",\"futureext\":17,\"sequenceid\":\"abc\",\"data\":{\"a\":1}}",
		  &ev);
	assert_int_equal(ev->kind, PROTO_EV_HEARTBEAT);
	assert_false(ev->has_time);
	assert_int_equal(ev->sequenceid, 0);
	assert_null(ev->data);
	again = encode_decode(ev);
	proto_event_free(again);

	decode_ok("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"io.nave.stream.v1.hello\","
		  "\"data\":{\"protocolVersion\":\"1.7\",\"newField\":[1,2,3]}}",
		  &ev);
	assert_non_null(json_object_get(ev->data, "newField"));
	assert_int_equal(proto_event_encode(ev, NULL, &json, &len), 0);
	assert_non_null(strstr(json, "newField"));
	free(json);
	proto_event_free(ev);

	/* Integer sequenceid and string resourceversion are accepted and written canonically. */
	decode_ok("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\","
		  "\"type\":\"io.nave.works.v1.manifestbundles.status.ack\",\"clustername\":\"c1\","
		  "\"resourceid\":\"" UID "\",\"sequenceid\":12}",
		  &ev);
	assert_int_equal(ev->sequenceid, 12);
	assert_int_equal(proto_event_encode(ev, NULL, &json, &len), 0);
	assert_non_null(strstr(json, "\"sequenceid\":\"12\""));
	free(json);
	proto_event_free(ev);

	/* A time with nanoseconds and an offset reads to microseconds, UTC. */
	decode_ok("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\","
		  "\"type\":\"io.open-cluster-management.cloudevents.heartbeat\","
		  "\"time\":\"2026-11-27T06:11:35.123456789+01:00\"}",
		  &ev);
	assert_true(ev->has_time);
	assert_int_equal(ev->time_us, INT64_C(1795756295123456));
	proto_event_free(encode_decode(ev));
}

static void test_kind_table(void **state)
{
	for (int k = PROTO_EV_INVALID + 1; k < PROTO_EV__COUNT; k++) {
		const char *type = proto_event_kind_type((enum proto_event_kind)k);

		assert_true(strlen(type) > 0);
		assert_int_equal(proto_event_kind_from_type(type), k);
		assert_true(strncmp(type, "io.open-cluster-management.", 27) == 0 ||
			    strncmp(type, "io.nave.", 8) == 0);
		assert_int_not_equal(proto_event_kind_senders((enum proto_event_kind)k), 0);
		assert_int_equal(proto_event_kind_since_minor((enum proto_event_kind)k), 0);
	}
	assert_int_equal(proto_event_kind_from_type("io.example"), PROTO_EV_INVALID);
	assert_int_equal(proto_event_kind_from_type(NULL), PROTO_EV_INVALID);
	assert_string_equal(proto_event_kind_type(PROTO_EV_INVALID), "");
	assert_int_equal(proto_event_kind_senders(PROTO_EV_SPEC_CREATE), PROTO_PEER_HUB);
	assert_int_equal(proto_event_kind_senders(PROTO_EV_STATUS_UPDATE), PROTO_PEER_AGENT);
	assert_int_equal(proto_event_kind_senders(PROTO_EV_HEARTBEAT), PROTO_PEER_HUB | PROTO_PEER_AGENT);
}

static void test_error_reply(void **state)
{
	static const char unknown[] = "{\"specversion\":\"1.0\",\"id\":\"ev-7\",\"source\":\"s\",\"type\":\"io.example.x\"}";
	static const char oldver[] = "{\"specversion\":\"0.3\",\"id\":\"ev-8\",\"source\":\"s\",\"type\":\"t\"}";
	struct errbuf err = { "" };
	struct proto_event *ev = NULL, *reply;
	int r;

	r = proto_event_decode(unknown, strlen(unknown), NULL, &err, &ev);
	assert_int_equal(r, -ENOTSUP);
	reply = proto_error_reply(unknown, strlen(unknown), NULL, r, err.msg, "nave-hub", "cluster1");
	reply = encode_decode(reply);
	assert_string_equal(json_string_value(json_object_get(reply->data, "code")), "UnknownEventType");
	assert_string_equal(json_string_value(json_object_get(reply->data, "eventID")), "ev-7");
	assert_string_equal(json_string_value(json_object_get(reply->data, "eventType")), "io.example.x");
	assert_null(json_object_get(reply->data, "fatal"));
	assert_non_null(strstr(json_string_value(json_object_get(reply->data, "message")), "io.example.x"));
	proto_event_free(reply);

	r = proto_event_decode(oldver, strlen(oldver), NULL, &err, &ev);
	assert_int_equal(r, -EPROTONOSUPPORT);
	reply = encode_decode(proto_error_reply(oldver, strlen(oldver), NULL, r, err.msg, "nave-hub", NULL));
	assert_string_equal(json_string_value(json_object_get(reply->data, "code")), "UnsupportedVersion");
	assert_true(json_is_true(json_object_get(reply->data, "fatal")));
	proto_event_free(reply);

	/* Not JSON: no id to cite. Invalid UTF-8 in the message is replaced. */
	reply = encode_decode(proto_error_reply("{{", 2, NULL, -EBADMSG, "bad \xff\xfe bytes", "nave-hub", NULL));
	assert_null(json_object_get(reply->data, "eventID"));
	assert_string_equal(json_string_value(json_object_get(reply->data, "message")), "bad ?? bytes");
	assert_string_equal(json_string_value(json_object_get(reply->data, "code")), "MalformedEvent");
	proto_event_free(reply);

	/* An id that is not a clean token is left out. */
	reply = encode_decode(proto_error_reply("{\"id\":\"a b\"}", 12, NULL, -EINVAL, "x", "nave-hub", NULL));
	assert_null(json_object_get(reply->data, "eventID"));
	proto_event_free(reply);

	/* Codes both ways. */
	assert_string_equal(proto_error_code_name(-E2BIG), "TooLarge");
	assert_string_equal(proto_error_code_name(-EMSGSIZE), "TooLarge");
	assert_string_equal(proto_error_code_name(-EACCES), "Forbidden");
	assert_string_equal(proto_error_code_name(-EBUSY), "Overloaded");
	assert_string_equal(proto_error_code_name(-EPROTO), "ProtocolViolation");
	assert_string_equal(proto_error_code_name(-ENOENT), "NotFound");
	assert_string_equal(proto_error_code_name(-12345), "Internal");
	assert_int_equal(proto_error_code_errno("TooLarge"), -E2BIG);
	assert_int_equal(proto_error_code_errno("UnknownEventType"), -ENOTSUP);
	assert_int_equal(proto_error_code_errno("SomethingNew"), -EIO);
	assert_int_equal(proto_error_code_errno(NULL), -EIO);
}

static void test_free_null(void **state)
{
	assert_null(proto_event_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_fixtures_round_trip),
		cmocka_unit_test(test_malformed_fixtures),
		cmocka_unit_test(test_constructors_round_trip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_tolerance),
		cmocka_unit_test(test_kind_table),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
