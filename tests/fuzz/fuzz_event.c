/* fuzz_event.c - libFuzzer harness for proto/ event decoding.
 *
 * The input is one websocket message. It must either decode, or fail with one
 * of decode's documented codes and a message, and the error event answering
 * it must encode. A decoded event must encode, decode back equal, and encode
 * to the same bytes again (encode is deterministic); its payload helpers
 * (resync lists, status hash, hello version) must accept what decode
 * accepted. Any violation aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const struct errbuf *err, const char *json)
{
	fprintf(stderr, "fuzz_event: %s: %s\n%s\n", what, err ? err->msg : "", json ? json : "");
	abort();
}

static bool documented(int r)
{
	return r == -EMSGSIZE || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOTSUP || r == -EINVAL ||
	       r == -E2BIG;
}

static void check_payload(const struct proto_event *ev)
{
	struct proto_resource_version *v = NULL;
	struct proto_status_hash *h = NULL;
	char hash[PROTO_STATUSHASH_LEN + 1];
	struct errbuf err = { "" };
	unsigned major, minor;
	size_t n;

	switch (ev->kind) {
	case PROTO_EV_SPEC_RESYNC_REQUEST:
		if (proto_resync_versions_parse(ev->data, NULL, &err, &v, &n) < 0)
			die("resync versions refused after decode", &err, NULL);
		free(v);
		break;
	case PROTO_EV_STATUS_RESYNC_REQUEST:
		if (proto_resync_hashes_parse(ev->data, NULL, &err, &h, &n) < 0)
			die("resync hashes refused after decode", &err, NULL);
		free(h);
		break;
	case PROTO_EV_STATUS_UPDATE:
	case PROTO_EV_STATUS_RESYNC_RESPONSE:
		if (proto_status_hash(ev->data, hash) < 0 || proto_status_check(ev->data, NULL, &err) < 0)
			die("status refused after decode", &err, NULL);
		break;
	case PROTO_EV_HELLO:
		if (proto_hello_version(ev, &major, &minor) < 0)
			die("hello version refused after decode", NULL, NULL);
		break;
	case PROTO_EV_SPEC_CREATE:
	case PROTO_EV_SPEC_UPDATE:
		if (proto_bundle_check(ev->data, NULL, &err) < 0)
			die("bundle refused after decode", &err, NULL);
		if (proto_spec_action(ev) == PROTO_SPEC_EVICT)
			die("a spec with a bundle reads as evict", NULL, NULL);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_event *a = NULL, *b = NULL, *reply;
	struct errbuf err = { "" };
	char *json = NULL, *json2 = NULL;
	size_t len, len2;
	int r;

	r = proto_event_decode((const char *)data, size, NULL, &err, &a);
	if (r < 0) {
		if (!documented(r) || err.msg[0] == '\0')
			die("undocumented error", &err, NULL);
		reply = proto_error_reply((const char *)data, size, NULL, r, err.msg, "nave-hub", NULL);
		if (proto_event_encode(reply, &err, &json, &len) < 0)
			die("error reply does not encode", &err, NULL);
		free(json);
		proto_event_free(reply);
		return 0;
	}
	check_payload(a);
	if (proto_event_encode(a, &err, &json, &len) < 0)
		die("decoded event does not encode", &err, NULL);
	if (proto_event_decode(json, len, NULL, &err, &b) < 0)
		die("encoded event does not decode", &err, json);
	if (!proto_event_equal(a, b))
		die("round trip changed the event", NULL, json);
	if (proto_event_encode(b, &err, &json2, &len2) < 0)
		die("re-encode failed", &err, json);
	if (len != len2 || memcmp(json, json2, len) != 0)
		die("encode is not deterministic", NULL, json2);
	free(json2);
	free(json);
	proto_event_free(b);
	proto_event_free(a);
	return 0;
}
