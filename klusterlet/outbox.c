/* outbox.c - unacknowledged status updates, oldest first; see outbox.h.
 *
 * A doubly linked list in sequence order (sequence ids only grow, so
 * appending keeps the order) beside a hash of resourceid -> entry (a jansson
 * object holding the entry's address as an integer) for the one-per-work
 * rule and for acks. Everything runs on the loop.
 */
#include "outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "proto.h"

struct outbox {
	struct outbox_entry *head, *tail;
	json_t *by_id;           /* resourceid -> (json_int_t)(uintptr_t)entry */
	size_t count, bytes;
	size_t max_entries, max_bytes;
	uint64_t last_seq;
	uint64_t version;
};

struct outbox *outbox_new(size_t max_entries, size_t max_bytes)
{
	struct outbox *ob = xnew(struct outbox);

	ob->by_id = json_object();
	ob->max_entries = max_entries ? max_entries : OUTBOX_DEFAULT_MAX_ENTRIES;
	ob->max_bytes = max_bytes ? max_bytes : OUTBOX_DEFAULT_MAX_BYTES;
	return ob;
}

static void entry_unlink(struct outbox *ob, struct outbox_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		ob->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		ob->tail = e->prev;
	json_object_del(ob->by_id, e->resourceid);
	ob->count--;
	ob->bytes -= e->len;
	free(e->json);
	free(e);
	ob->version++;
}

static void clear(struct outbox *ob)
{
	while (ob->head)
		entry_unlink(ob, ob->head);
}

struct outbox *outbox_free(struct outbox *ob)
{
	if (!ob)
		return NULL;
	clear(ob);
	json_decref(ob->by_id);
	free(ob);
	return NULL;
}

uint64_t outbox_next_seq(struct outbox *ob, int64_t now_us)
{
	uint64_t next = ob->last_seq + 1;

	if (now_us > 0 && (uint64_t)now_us > next)
		next = (uint64_t)now_us;
	ob->last_seq = next;
	ob->version++;
	return next;
}

uint64_t outbox_last_seq(const struct outbox *ob)
{
	return ob->last_seq;
}

static struct outbox_entry *find(const struct outbox *ob, const char *rid)
{
	json_t *v = json_object_get(ob->by_id, rid);

	return v ? (struct outbox_entry *)(uintptr_t)json_integer_value(v) : NULL;
}

static bool rid_valid(const char *rid)
{
	return rid && strlen(rid) == PROTO_UUID_LEN;
}

int outbox_put(struct outbox *ob, const char *resourceid, uint64_t seq, char *json, size_t len)
{
	struct outbox_entry *old, *e;
	int dropped = 0;

	if (!rid_valid(resourceid) || seq == 0 || !json) {
		free(json);
		return -EINVAL;
	}
	old = find(ob, resourceid);
	if (old && old->seq >= seq) {
		free(json);
		return -EINVAL;
	}
	if (old)
		entry_unlink(ob, old);
	e = xnew(struct outbox_entry);
	memcpy(e->resourceid, resourceid, PROTO_UUID_LEN + 1);
	e->seq = seq;
	e->json = json;
	e->len = len;
	e->prev = ob->tail;
	if (ob->tail)
		ob->tail->next = e;
	else
		ob->head = e;
	ob->tail = e;
	json_object_set_new(ob->by_id, resourceid, json_integer((json_int_t)(uintptr_t)e));
	ob->count++;
	ob->bytes += len;
	if (seq > ob->last_seq)
		ob->last_seq = seq;
	ob->version++;
	/* Never drop the entry just added, whatever its size. */
	while ((ob->count > ob->max_entries || ob->bytes > ob->max_bytes) && ob->head != e) {
		log_warn("outbox: over its cap (%zu entries, %zu bytes): dropping the unacknowledged "
			 "status of work %s (the next status resync sends it again)", ob->count,
			 ob->bytes, ob->head->resourceid);
		entry_unlink(ob, ob->head);
		dropped++;
	}
	return dropped;
}

int outbox_ack(struct outbox *ob, const char *resourceid, uint64_t seq)
{
	struct outbox_entry *e = rid_valid(resourceid) ? find(ob, resourceid) : NULL;

	if (!e || e->seq != seq)
		return -ENOENT;
	entry_unlink(ob, e);
	return 0;
}

struct outbox_entry *outbox_first(struct outbox *ob)
{
	return ob->head;
}

struct outbox_entry *outbox_last(struct outbox *ob)
{
	return ob->tail;
}

void outbox_mark_unsent(struct outbox *ob)
{
	for (struct outbox_entry *e = ob->head; e; e = e->next)
		e->sent_ms = 0;
}

size_t outbox_count(const struct outbox *ob)
{
	return ob->count;
}

size_t outbox_bytes(const struct outbox *ob)
{
	return ob->bytes;
}

uint64_t outbox_version(const struct outbox *ob)
{
	return ob->version;
}

json_t *outbox_to_json(const struct outbox *ob, size_t max_bytes)
{
	json_t *events = json_array();
	struct outbox_entry *e, *first = ob->head;
	char seq[32];
	size_t total = 0;

	if (max_bytes) {
		/* Walk back from the newest while the entries fit. */
		first = NULL;
		for (e = ob->tail; e; e = e->prev) {
			/* the text plus its JSON string quoting, roughly */
			size_t cost = e->len + e->len / 8 + 8;

			if (total + cost > max_bytes)
				break;
			total += cost;
			first = e;
		}
		if (first != ob->head)
			log_warn("outbox: persisting %s of %zu unacknowledged status updates (the "
				 "store's cap); the others are sent again by the next status resync",
				 first ? "some" : "none", ob->count);
	}
	for (e = first; e; e = e->next)
		json_array_append_new(events, json_stringn(e->json, e->len));
	snprintf(seq, sizeof(seq), "%" PRIu64, ob->last_seq);
	return json_pack("{s:s, s:o}", "lastSequenceID", seq, "events", events);
}

int outbox_load_json(struct outbox *ob, const json_t *doc, struct errbuf *err,
		     size_t *ret_skipped)
{
	const char *last = json_string_value(json_object_get(doc, "lastSequenceID"));
	json_t *events = json_object_get(doc, "events"), *v;
	size_t i, skipped = 0;
	uint64_t floor_seq = 0;
	char *end = NULL;

	if (!json_is_object(doc) || !last || !json_is_array(events))
		return errbuf_set(err, -EINVAL, "outbox: expected {lastSequenceID, events}");
	floor_seq = strtoull(last, &end, 10);
	if (!*last || *end)
		return errbuf_set(err, -EINVAL, "outbox: lastSequenceID: not a decimal number");
	clear(ob);
	json_array_foreach(events, i, v) {
		struct proto_event *ev = NULL;
		struct errbuf derr = { "" };
		const char *text = json_string_value(v);

		if (!text || proto_event_decode(text, json_string_length(v), NULL, &derr, &ev) < 0 ||
		    (ev->kind != PROTO_EV_STATUS_UPDATE && ev->kind != PROTO_EV_STATUS_RESYNC_RESPONSE) ||
		    outbox_put(ob, ev->resourceid, ev->sequenceid, xstrdup(text),
			       json_string_length(v)) < 0) {
			log_warn("outbox: skipping persisted event %zu: %s", i,
				 derr.msg[0] ? derr.msg : "not a status event in order");
			skipped++;
		}
		proto_event_free(ev);
	}
	if (floor_seq > ob->last_seq)
		ob->last_seq = floor_seq;
	if (ret_skipped)
		*ret_skipped = skipped;
	return 0;
}
