/* outbox.h - the status updates the hub has not acknowledged yet.
 *
 * docs/protocol.md, "Status delivery and acknowledgement": every status
 * event carries a sequence id greater than any sent before for the cluster,
 * across restarts and leader changes (next = max(last + 1, now in
 * microseconds)); the agent keeps each update until the hub acknowledges
 * that (resourceid, sequenceid), retransmits the unacknowledged ones with
 * the same sequence id after each reconnect (oldest first) and when no ack
 * came within a while, and a newer status of a work supersedes the older
 * unacknowledged one. This is that queue: one entry per work (the newest
 * status), ordered by sequence id, holding the encoded event so that a
 * retransmission sends the same bytes.
 *
 * Caps: at most max_entries entries and max_bytes of encoded events; past
 * either the oldest entries are dropped (logged). Nothing is lost for good
 * by that: the hub's status resync on the next connection finds every work
 * whose status it lacks.
 *
 * Persistence (agent.c saves it through store.h): outbox_to_json gives
 *   {"lastSequenceID": "<decimal>", "events": ["<event JSON text>", ...]}
 * oldest first, and outbox_load_json reads it back, checking every event.
 */
#ifndef NAVE_KLUSTERLET_OUTBOX_H
#define NAVE_KLUSTERLET_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"

#define OUTBOX_DEFAULT_MAX_ENTRIES 10000       /* = the engine's work cap */
#define OUTBOX_DEFAULT_MAX_BYTES (64u << 20)

struct outbox;

struct outbox_entry {
	char resourceid[37];
	uint64_t seq;
	char *json;          /* owned by the outbox: the encoded event */
	size_t len;
	uint64_t sent_ms;    /* the caller's clock when last sent; 0: not sent on this connection */
	struct outbox_entry *prev, *next;
};

/* A new empty queue (0 for a cap: its default). Never NULL. */
struct outbox *outbox_new(size_t max_entries, size_t max_bytes);
/* Accepts NULL; returns NULL. */
struct outbox *outbox_free(struct outbox *ob);

/* The next sequence id: max(last + 1, now_us), remembered as last. */
uint64_t outbox_next_seq(struct outbox *ob, int64_t now_us);
/* The last sequence id handed out (0: none). */
uint64_t outbox_last_seq(const struct outbox *ob);

/* Queue the encoded status event json (taken; len bytes) of work resourceid
 * with sequence id seq, replacing the entry of the same work. Returns the
 * number of older entries dropped to stay within the caps (normally 0), or
 * -EINVAL (a bad resourceid, seq 0 or not above the replaced entry's). */
int outbox_put(struct outbox *ob, const char *resourceid, uint64_t seq, char *json, size_t len);

/* The hub acknowledged (resourceid, seq): drop that entry. Returns 0, or
 * -ENOENT when no entry matches (superseded, already acknowledged, unknown). */
int outbox_ack(struct outbox *ob, const char *resourceid, uint64_t seq);

/* The oldest entry (the list goes on through ->next, oldest first), or NULL.
 * Borrowed; valid until the next change of the queue. */
struct outbox_entry *outbox_first(struct outbox *ob);

/* The newest entry, or NULL. Borrowed, as outbox_first. */
struct outbox_entry *outbox_last(struct outbox *ob);

/* Mark every entry unsent (a new connection). */
void outbox_mark_unsent(struct outbox *ob);

size_t outbox_count(const struct outbox *ob);
size_t outbox_bytes(const struct outbox *ob);
/* A counter that grows with every change (for "save if changed"). */
uint64_t outbox_version(const struct outbox *ob);

/* The persistent form, newest entries first kept when the whole would pass
 * max_bytes (0: no cap), written oldest first. Caller json_decref()s. */
json_t *outbox_to_json(const struct outbox *ob, size_t max_bytes);

/* Replace the content with a persisted form. Every event must decode as a
 * status update or status resync response (proto_event_decode); bad ones
 * are skipped and counted in *ret_skipped (may be NULL). lastSequenceID is
 * kept as the floor of the next sequence id. Returns 0 or -EINVAL (not the
 * persistent form at all) with err set. */
int outbox_load_json(struct outbox *ob, const json_t *doc, struct errbuf *err,
		     size_t *ret_skipped);

#endif
