/* leader.h - leader election on a coordination.k8s.io/v1 Lease, as client-go does it.
 *
 * Every retry_period (with up to 20 % jitter) a candidate GETs the Lease:
 *   404           -> POST a Lease naming itself (409 AlreadyExists: someone was faster);
 *   held by other -> if the record (holder, renewTime, ...) changed since the
 *                    last look, remember when we saw it change (our monotonic
 *                    clock, never the other's wall clock, as client-go); take
 *                    over only once lease_duration has passed since then, or at
 *                    once when holderIdentity is empty (released);
 *   takeover      -> PUT the whole Lease with the resourceVersion from the GET
 *                    (409 Conflict: someone was faster). acquireTime = now and
 *                    leaseTransitions + 1 when the holder changes.
 * The leader renews every retry_period by a PUT of its cached Lease
 * (renewTime = now; a conflict falls back to GET). If no renewal succeeds
 * within renew_deadline of the last successful one being SENT, it steps down
 * (stopped_leading, in-flight requests cancelled) before anyone else can take
 * over: others wait lease_duration from when they SAW that renewal, which is
 * later, and renew_deadline < lease_duration is enforced. Times in the Lease
 * are MicroTime ("2006-01-02T15:04:05.000000Z").
 *
 * leader_stop() releases a held Lease as client-go's ReleaseOnCancel does
 * (holderIdentity "", leaseDurationSeconds 1, renewTime = acquireTime = now),
 * so another candidate takes over at its next try. After losing the lease any
 * other way the elector goes back to being a candidate (client-go processes
 * usually exit in OnStoppedLeading; do that in stopped_leading if wanted).
 * Lease requests bypass the client's rate limiter so that a busy client never
 * loses its lease to its own queue.
 */
#ifndef NAVE_LEADER_H
#define NAVE_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "kclient.h"

#define LEADER_DEFAULT_LEASE_DURATION_MS 15000
#define LEADER_DEFAULT_RENEW_DEADLINE_MS 10000
#define LEADER_DEFAULT_RETRY_PERIOD_MS 2000
#define LEADER_MAX_IDENTITY 253

struct leader_options {
	const char *namespace;          /* required; copied */
	const char *name;               /* the Lease's name; required; copied */
	const char *identity;           /* unique per contender, at most 253 bytes; required; copied */
	uint64_t lease_duration_ms;     /* 0: 15 s; whole seconds are written to the Lease */
	uint64_t renew_deadline_ms;     /* 0: 10 s; must be < lease_duration */
	uint64_t retry_period_ms;       /* 0: 2 s; 1.2 x retry_period must be < renew_deadline */
	bool no_release;                /* leader_stop does not release the Lease */
};

struct leader_callbacks {
	void (*started_leading)(void *userdata);            /* required */
	void (*stopped_leading)(void *userdata);            /* required */
	void (*new_leader)(void *userdata, const char *identity); /* optional: the holder changed
								      (ourselves included) */
};

struct leader;

/* Make an elector on kc (borrowed; must outlive it). opts and cb are copied.
 * Nothing is sent until leader_start. Returns 0 or -EINVAL (missing fields,
 * durations out of order) with err set. */
int leader_new(struct kclient *kc, const struct leader_options *opts,
	       const struct leader_callbacks *cb, void *userdata, struct errbuf *err,
	       struct leader **ret_le);

/* Begin trying to acquire (the first try is at once). */
void leader_start(struct leader *le);

/* Stop: when leading, release the Lease (unless no_release), then call
 * stopped_leading; then done (may be NULL) with done_userdata. Both come
 * later, on the loop. After done the elector is idle; free it with leader_free. */
void leader_stop(struct leader *le, void (*done)(void *done_userdata), void *done_userdata);

/* Free at once: nothing is released and no callback is called. Not from
 * inside a leader callback. Run the loop afterwards (timers are closed).
 * Accepts NULL; returns NULL. */
struct leader *leader_free(struct leader *le);

/* Whether this elector holds the lease now (between started_leading and stopped_leading). */
bool leader_is_leader(const struct leader *le);
/* The last holder seen ("" when none). Borrowed; valid until the next callback. */
const char *leader_holder(const struct leader *le);

struct leader_stats {
	uint64_t attempts;      /* tryAcquireOrRenew rounds */
	uint64_t renewals;      /* successful renewals (not counting acquisitions) */
	uint64_t acquisitions;
	uint64_t failures;      /* failed rounds */
};
void leader_get_stats(const struct leader *le, struct leader_stats *ret_stats);

#endif
