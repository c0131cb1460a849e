/* Unit tests for klusterlet/outbox: sequence ids, one entry per work,
 * acknowledgements, caps, and the persistent form (round trip, a bad
 * persisted event skipped, the newest kept under a byte cap). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "outbox.h"
#include "proto.h"

#define RID1 "5f0c2e1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
#define RID2 "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define RID3 "11111111-2222-4333-8444-555555555555"

/* An encoded status event of work rid with sequence id seq. */
static char *status_json(const char *rid, uint64_t seq, size_t *ret_len)
{
	json_t *st = proto_bundle_status(json_pack("[o]", proto_condition("Applied", "True", "Done",
									  NULL, 1, -1)),
					 NULL);
	struct proto_event *ev = proto_event_new_status(PROTO_EV_STATUS_UPDATE, "nave-klusterlet/c1",
							"c1", rid, 1, seq, st);
	char *json = NULL;

	assert_int_equal(proto_event_encode(ev, NULL, &json, ret_len), 0);
	proto_event_free(ev);
	json_decref(st);
	return json;
}

static void put(struct outbox *ob, const char *rid, uint64_t seq)
{
	size_t len;
	char *j = status_json(rid, seq, &len);

	assert_true(outbox_put(ob, rid, seq, j, len) >= 0);
}

static void test_sequence_ids(void **state)
{
	struct outbox *ob = outbox_new(0, 0);
	uint64_t a, b, c;

	a = outbox_next_seq(ob, 1000);
	b = outbox_next_seq(ob, 1000);   /* same clock: still grows */
	c = outbox_next_seq(ob, 500);    /* the clock went back: still grows */
	assert_int_equal(a, 1000);
	assert_int_equal(b, 1001);
	assert_int_equal(c, 1002);
	assert_int_equal(outbox_next_seq(ob, 5000), 5000);
	assert_int_equal(outbox_last_seq(ob), 5000);
	outbox_free(ob);
}

static void test_supersede_and_ack(void **state)
{
	struct outbox *ob = outbox_new(0, 0);
	struct outbox_entry *e;
	size_t len;
	char *j;

	put(ob, RID1, 10);
	put(ob, RID2, 11);
	put(ob, RID1, 12);   /* newer status of RID1 replaces the older one */
	assert_int_equal(outbox_count(ob), 2);
	e = outbox_first(ob);
	assert_string_equal(e->resourceid, RID2);
	assert_int_equal(e->seq, 11);
	assert_string_equal(e->next->resourceid, RID1);
	assert_int_equal(e->next->seq, 12);
	/* an older sequence id for a work is refused */
	j = status_json(RID1, 9, &len);
	assert_int_equal(outbox_put(ob, RID1, 9, j, len), -EINVAL);
	/* acks: per update, exact */
	assert_int_equal(outbox_ack(ob, RID1, 10), -ENOENT);   /* superseded */
	assert_int_equal(outbox_ack(ob, RID3, 12), -ENOENT);   /* unknown */
	assert_int_equal(outbox_ack(ob, "short", 12), -ENOENT);
	assert_int_equal(outbox_ack(ob, RID1, 12), 0);
	assert_int_equal(outbox_ack(ob, RID1, 12), -ENOENT);   /* twice */
	assert_int_equal(outbox_count(ob), 1);
	assert_int_equal(outbox_last_seq(ob), 12);
	outbox_free(ob);
}

static void test_caps(void **state)
{
	struct outbox *ob = outbox_new(2, 0);
	size_t len;
	char *j;

	put(ob, RID1, 1);
	put(ob, RID2, 2);
	j = status_json(RID3, 3, &len);
	assert_int_equal(outbox_put(ob, RID3, 3, j, len), 1);   /* the oldest dropped */
	assert_int_equal(outbox_count(ob), 2);
	assert_string_equal(outbox_first(ob)->resourceid, RID2);
	outbox_free(ob);

	/* a byte cap smaller than one entry keeps the newest entry anyway */
	ob = outbox_new(0, 10);
	put(ob, RID1, 1);
	put(ob, RID2, 2);
	assert_int_equal(outbox_count(ob), 1);
	assert_string_equal(outbox_first(ob)->resourceid, RID2);
	outbox_free(ob);
}

static void test_persist_round_trip(void **state)
{
	struct outbox *ob = outbox_new(0, 0), *ob2 = outbox_new(0, 0);
	json_t *doc, *events;
	size_t skipped = 99;
	struct errbuf err;

	put(ob, RID1, 100);
	put(ob, RID2, 101);
	outbox_next_seq(ob, 0);    /* last = 102, not in any entry */
	doc = outbox_to_json(ob, 0);
	assert_string_equal(json_string_value(json_object_get(doc, "lastSequenceID")), "102");
	/* one bad persisted event among good ones */
	events = json_object_get(doc, "events");
	json_array_insert_new(events, 1, json_string("{\"not\":\"an event\"}"));
	assert_int_equal(outbox_load_json(ob2, doc, &err, &skipped), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(outbox_count(ob2), 2);
	assert_string_equal(outbox_first(ob2)->resourceid, RID1);
	assert_int_equal(outbox_first(ob2)->seq, 100);
	/* the retransmission is byte for byte what was sent */
	assert_int_equal(outbox_first(ob2)->len, outbox_first(ob)->len);
	assert_memory_equal(outbox_first(ob2)->json, outbox_first(ob)->json, outbox_first(ob)->len);
	assert_int_equal(outbox_next_seq(ob2, 0), 103);
	json_decref(doc);

	/* under a byte cap the newest entries are kept */
	doc = outbox_to_json(ob, outbox_first(ob)->len + outbox_first(ob)->len / 2);
	assert_int_equal(json_array_size(json_object_get(doc, "events")), 1);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(doc, "events"), 0)),
			       RID2));
	json_decref(doc);

	/* not the persistent form at all */
	doc = json_pack("{s:i}", "events", 3);
	assert_int_equal(outbox_load_json(ob2, doc, &err, NULL), -EINVAL);
	json_decref(doc);
	doc = json_pack("{s:s, s:[]}", "lastSequenceID", "12x", "events");
	assert_int_equal(outbox_load_json(ob2, doc, &err, NULL), -EINVAL);
	json_decref(doc);
	outbox_free(ob);
	outbox_free(ob2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_ids),
		cmocka_unit_test(test_supersede_and_ack),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_persist_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
