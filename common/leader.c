/* leader.c - Lease-based leader election; see leader.h.
 *
 * One round at a time (`call` in flight, `step` says which request it is).
 * Two timers: `tick` starts the next round (and delivers deferred
 * completions), `deadline` fires renew_deadline after the last successful
 * renewal was sent and makes a leader step down. Runs on the kclient's loop.
 */
#include "leader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "log.h"
#include "timefmt.h"

#define LE_MAX_LEASE_SECONDS 86400 /* a Lease's leaseDurationSeconds is believed up to this */

enum le_state {
	LE_IDLE,
	LE_RUNNING,
	LE_STOPPING,
	LE_STOPPED,
};

enum le_step {
	LE_STEP_NONE,
	LE_STEP_GET,
	LE_STEP_CREATE,
	LE_STEP_UPDATE,
	LE_STEP_RELEASE,
};

struct leader {
	struct kclient *kc;          /* borrowed */
	char *ns, *name, *identity;  /* owned */
	char *coll_path;             /* owned: .../namespaces/<ns>/leases */
	char *path;                  /* owned: .../leases/<name> */
	uint64_t ld_ms, rd_ms, rp_ms;
	bool release;
	struct leader_callbacks cb;
	void *userdata;

	enum le_state state;
	bool leading;
	json_t *lease;               /* owned: the Lease as last read or written, or NULL */
	json_t *observed;            /* owned: the spec last observed, or NULL */
	int64_t observed_us;         /* monotonic time `observed` last changed */
	char *holder;                /* owned: last observed holder ("" none) */
	char *reported;              /* owned: last holder reported to new_leader, or NULL */
	int64_t renewed_sent_us;     /* when the last successful write was sent */
	int64_t sent_us;             /* when the write in flight was sent */
	struct kclient_call *call;   /* in flight, or NULL */
	enum le_step step;
	uv_timer_t *tick;            /* owned (freed by close callback) */
	uv_timer_t *deadline;        /* owned (freed by close callback) */
	void (*stop_done)(void *);
	void *stop_userdata;
	bool in_callback;
	uint64_t expiry_hint_ms;     /* candidate: the observed lease expires in this long (0: unknown) */
	struct leader_stats stats;
};

static void le_round(struct leader *le);
static void le_release(struct leader *le);

static void le_set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(s ? s : "");
}

static uint64_t le_jittered(struct leader *le, uint64_t ms)
{
	uint32_t rnd = 0;

	/* client-go: wait.JitterUntil(RetryPeriod, JitterFactor 1.2) adds up to 120 %;
	 * we add up to 20 % so that 1.2 x retry_period < renew_deadline bounds it. */
	random_bytes(&rnd, sizeof(rnd));
	return ms + (uint64_t)((double)ms * 0.2 * ((double)rnd / 4294967295.0));
}

static void le_on_tick(uv_timer_t *t);

static void le_schedule(struct leader *le, uint64_t ms)
{
	uv_timer_start(le->tick, le_on_tick, ms, 0);
}

static void le_report_holder(struct leader *le)
{
	if (!le->holder[0] || (le->reported && strcmp(le->reported, le->holder) == 0))
		return;
	le_set_str(&le->reported, le->holder);
	log_info("lease %s/%s: new leader %s", le->ns, le->name, le->holder);
	if (le->cb.new_leader)
		le->cb.new_leader(le->userdata, le->reported);
}

/* Record the spec we see; the clock starts again only when it changed. */
static void le_observe(struct leader *le, const json_t *spec, int64_t now)
{
	if (!le->observed || !json_equal(le->observed, (json_t *)spec)) {
		json_decref(le->observed);
		le->observed = json_deep_copy(spec);
		le->observed_us = now;
	}
	le_set_str(&le->holder, json_string_value(json_object_get(spec, "holderIdentity")));
}

static void le_lose(struct leader *le, const char *why)
{
	if (!le->leading)
		return;
	le->leading = false;
	uv_timer_stop(le->deadline);
	log_warn("lease %s/%s: %s lost leadership: %s", le->ns, le->name, le->identity, why);
	le->cb.stopped_leading(le->userdata);
}

static void le_on_deadline(uv_timer_t *t)
{
	struct leader *le = t->data;

	if (!le->leading)
		return;
	/* Step down now, before anyone else may take over; forget the renew in flight. */
	kclient_cancel(le->call);
	le->call = NULL;
	le->step = LE_STEP_NONE;
	json_decref(le->lease);
	le->lease = NULL;
	le_lose(le, "could not renew within the renew deadline");
	if (le->state == LE_STOPPING)
		le_release(le);
	else if (le->state == LE_RUNNING)
		le_schedule(le, le_jittered(le, le->rp_ms));
}

/* The spec to write: ours (renewal or takeover) or released. */
static json_t *le_new_spec(struct leader *le, const json_t *old, bool release)
{
	char now[TIMEFMT_MAX];
	const char *old_holder = json_string_value(json_object_get(old, "holderIdentity"));
	json_t *acq = json_object_get(old, "acquireTime");
	json_t *tr = json_object_get(old, "leaseTransitions");
	json_int_t transitions = json_is_integer(tr) ? json_integer_value(tr) : 0;
	json_t *spec;

	time_format_micro(time_now_us(), now);
	if (release)
		return json_pack("{ss sI ss ss sI}", "holderIdentity", "", "leaseDurationSeconds",
				 (json_int_t)1, "acquireTime", now, "renewTime", now, "leaseTransitions",
				 transitions);
	spec = json_pack("{ss sI ss sI}", "holderIdentity", le->identity, "leaseDurationSeconds",
			 (json_int_t)((le->ld_ms + 999) / 1000), "renewTime", now, "leaseTransitions",
			 transitions);
	if (old_holder && strcmp(old_holder, le->identity) == 0 && json_is_string(acq)) {
		json_object_set(spec, "acquireTime", acq);
	} else {
		json_object_set_new(spec, "acquireTime", json_string(now));
		if (old)
			json_object_set_new(spec, "leaseTransitions", json_integer(transitions + 1));
	}
	return spec;
}

static void le_done(void *userdata, const struct kclient_result *res);

static uint64_t le_request_timeout(struct leader *le)
{
	if (le->leading) {
		int64_t left = le->renewed_sent_us + (int64_t)le->rd_ms * 1000 - time_mono_us();

		return left > 100000 ? (uint64_t)left / 1000 : 100;
	}
	return le->rd_ms;
}

static int le_send(struct leader *le, enum le_step step, enum kclient_method method,
		   const char *path, const json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int r;

	le->step = step;
	le->sent_us = time_mono_us();
	r = kclient_request(le->kc, &(struct kclient_request){
					    .method = method,
					    .path = path,
					    .body = text,
					    .flags = KCLIENT_REQ_NO_THROTTLE,
					    .timeout_ms = le_request_timeout(le),
				    },
			    NULL, le_done, le, &le->call);
	free(text);
	if (r < 0) {
		le->step = LE_STEP_NONE;
		le->call = NULL;
	}
	return r;
}

/* PUT the cached Lease with spec. */
static int le_put(struct leader *le, enum le_step step, json_t *spec)
{
	json_t *obj = json_deep_copy(le->lease);
	int r;

	json_object_set_new(obj, "spec", spec);
	json_object_del(json_object_get(obj, "metadata"), "managedFields");
	r = le_send(le, step, KCLIENT_PUT, le->path, obj);
	json_decref(obj);
	return r;
}

static void le_round_end(struct leader *le, bool ok)
{
	if (!ok)
		le->stats.failures++;
	if (le->state == LE_STOPPING) {
		le_release(le);
		return;
	}
	if (le->state != LE_RUNNING)
		return;
	if (le->leading) {
		le_schedule(le, le->rp_ms);
	} else {
		/* Poll every retry period, but try again right when the lease
		 * we saw expires if that comes sooner. */
		uint64_t ms = le_jittered(le, le->rp_ms);

		if (le->expiry_hint_ms && le->expiry_hint_ms < ms)
			ms = le->expiry_hint_ms;
		le_schedule(le, ms);
	}
	le->expiry_hint_ms = 0;
}

static void le_success(struct leader *le, json_t *lease)
{
	int64_t now = time_mono_us();

	int64_t left = le->sent_us + (int64_t)le->rd_ms * 1000 - now;

	json_decref(le->lease);
	le->lease = json_incref(lease);
	le_observe(le, json_object_get(lease, "spec"), now);
	if (left <= 0) {
		/* The answer came too late to count: others may already be
		 * counting from it. Do not lead on it; the next round renews. */
		le_lose(le, "the renewal came back after the renew deadline");
		return;
	}
	le->renewed_sent_us = le->sent_us;
	uv_timer_start(le->deadline, le_on_deadline, (uint64_t)left / 1000, 0);
	if (le->leading) {
		le->stats.renewals++;
	} else {
		le->leading = true;
		le->stats.acquisitions++;
		log_info("lease %s/%s: %s became the leader", le->ns, le->name, le->identity);
		le_report_holder(le);
		le->cb.started_leading(le->userdata);
		if (!le->leading)
			return;
	}
	le_report_holder(le);
}

static void le_done(void *userdata, const struct kclient_result *res)
{
	struct leader *le = userdata;
	enum le_step step = le->step;
	int64_t now = time_mono_us();

	le->call = NULL;
	le->step = LE_STEP_NONE;
	le->in_callback = true;
	switch (step) {
	case LE_STEP_GET: {
		json_t *spec, *dur, *empty = NULL;
		const char *holder;
		int64_t valid_ms;

		if (le->state != LE_RUNNING) {
			le_round_end(le, false);
			break;
		}
		if (res->r == -ENOENT) {
			json_t *obj = json_pack("{ss ss s{ss ss} so}", "apiVersion",
						"coordination.k8s.io/v1", "kind", "Lease", "metadata",
						"name", le->name, "namespace", le->ns, "spec",
						le_new_spec(le, NULL, false));

			if (le_send(le, LE_STEP_CREATE, KCLIENT_POST, le->coll_path, obj) < 0)
				le_round_end(le, false);
			json_decref(obj);
			break;
		}
		if (res->r < 0 || !json_is_object(res->body)) {
			log_debug("lease %s/%s: get: %s", le->ns, le->name,
				  res->err ? res->err->message : "not an object");
			le_round_end(le, false);
			break;
		}
		json_decref(le->lease);
		le->lease = json_incref(res->body);
		spec = json_object_get(res->body, "spec");
		if (!json_is_object(spec))
			spec = empty = json_object();
		le_observe(le, spec, now);
		le_report_holder(le);
		holder = le->holder;
		dur = json_object_get(spec, "leaseDurationSeconds");
		valid_ms = json_is_integer(dur) && json_integer_value(dur) > 0 ?
			   (json_integer_value(dur) > LE_MAX_LEASE_SECONDS ? LE_MAX_LEASE_SECONDS :
			    json_integer_value(dur)) * 1000 :
			   (int64_t)le->ld_ms;
		if (holder[0] && strcmp(holder, le->identity) != 0) {
			if (le->leading) {
				/* Someone else holds it (changed by hand?): we are not the leader. */
				le_lose(le, "the lease names another holder");
			}
			if (le->observed_us + valid_ms * 1000 > now) {
				le->expiry_hint_ms = (uint64_t)(le->observed_us + valid_ms * 1000 - now) / 1000 + 1;
				json_decref(empty);
				le_round_end(le, false);
				break;
			}
		}
		if (le_put(le, LE_STEP_UPDATE, le_new_spec(le, spec, false)) < 0)
			le_round_end(le, false);
		json_decref(empty);
		break;
	}
	case LE_STEP_CREATE:
	case LE_STEP_UPDATE:
		if (res->r == 0 && json_is_object(res->body)) {
			le_success(le, res->body);
			le_round_end(le, true);
			break;
		}
		log_debug("lease %s/%s: %s: %s", le->ns, le->name,
			  step == LE_STEP_CREATE ? "create" : "update", res->err ? res->err->message : "");
		/* A conflict or a failure: read the Lease again next time. */
		json_decref(le->lease);
		le->lease = NULL;
		le_round_end(le, false);
		break;
	case LE_STEP_RELEASE:
		if (res->r < 0)
			log_warn("lease %s/%s: release failed: %s", le->ns, le->name, res->err->message);
		json_decref(le->lease);
		le->lease = NULL;
		le_lose(le, "released on stop");
		le_release(le);
		break;
	case LE_STEP_NONE:
		break;
	}
	le->in_callback = false;
}

static void le_round(struct leader *le)
{
	if (le->call || le->state != LE_RUNNING)
		return;
	le->stats.attempts++;
	if (le->leading && le->lease) {
		/* Renew straight from the cache, as client-go does when its lease is valid. */
		if (le_put(le, LE_STEP_UPDATE, le_new_spec(le, json_object_get(le->lease, "spec"), false)) == 0)
			return;
	}
	if (le_send(le, LE_STEP_GET, KCLIENT_GET, le->path, NULL) < 0)
		le_round_end(le, false);
}

/* Stopping: release if we lead, else finish. Called with no request in flight. */
static void le_release(struct leader *le)
{
	if (le->call)
		return;
	if (le->leading && le->release && le->lease) {
		if (le_put(le, LE_STEP_RELEASE, le_new_spec(le, json_object_get(le->lease, "spec"), true)) == 0)
			return;
	}
	le_lose(le, "stopped");
	le->state = LE_STOPPED;
	uv_timer_stop(le->deadline);
	/* Deliver done from the loop, never from inside leader_stop. */
	le_schedule(le, 0);
}

static void le_on_tick(uv_timer_t *t)
{
	struct leader *le = t->data;

	if (le->state == LE_RUNNING) {
		le_round(le);
	} else if (le->state == LE_STOPPED && le->stop_done) {
		void (*done)(void *) = le->stop_done;

		le->stop_done = NULL;
		done(le->stop_userdata);
	}
}

/* --- public ------------------------------------------------------------- */

static bool le_valid_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

int leader_new(struct kclient *kc, const struct leader_options *opts,
	       const struct leader_callbacks *cb, void *userdata, struct errbuf *err,
	       struct leader **ret_le)
{
	uint64_t ld = opts->lease_duration_ms ? opts->lease_duration_ms : LEADER_DEFAULT_LEASE_DURATION_MS;
	uint64_t rd = opts->renew_deadline_ms ? opts->renew_deadline_ms : LEADER_DEFAULT_RENEW_DEADLINE_MS;
	uint64_t rp = opts->retry_period_ms ? opts->retry_period_ms : LEADER_DEFAULT_RETRY_PERIOD_MS;
	struct leader *le;

	if (!le_valid_name(opts->namespace, 63))
		return errbuf_set(err, -EINVAL, "leader: namespace: required, a DNS label");
	if (!le_valid_name(opts->name, 253))
		return errbuf_set(err, -EINVAL, "leader: name: required, a DNS subdomain");
	if (!opts->identity || !opts->identity[0] || strlen(opts->identity) > LEADER_MAX_IDENTITY)
		return errbuf_set(err, -EINVAL, "leader: identity: required, at most %d bytes",
				  LEADER_MAX_IDENTITY);
	if (!cb || !cb->started_leading || !cb->stopped_leading)
		return errbuf_set(err, -EINVAL, "leader: started_leading and stopped_leading are required");
	if (ld < 1000 || ld % 1000)
		return errbuf_set(err, -EINVAL, "leader: lease_duration_ms: whole seconds, at least 1 s");
	if (rd >= ld)
		return errbuf_set(err, -EINVAL, "leader: renew_deadline_ms must be less than lease_duration_ms");
	if (rp * 12 / 10 >= rd || rp == 0)
		return errbuf_set(err, -EINVAL, "leader: 1.2 x retry_period_ms must be less than renew_deadline_ms");

	le = xnew(struct leader);
	le->kc = kc;
	le->ns = xstrdup(opts->namespace);
	le->name = xstrdup(opts->name);
	le->identity = xstrdup(opts->identity);
	le->coll_path = xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", le->ns);
	le->path = xasprintf("%s/%s", le->coll_path, le->name);
	le->ld_ms = ld;
	le->rd_ms = rd;
	le->rp_ms = rp;
	le->release = !opts->no_release;
	le->cb = *cb;
	le->userdata = userdata;
	le->holder = xstrdup("");
	le->tick = xnew(uv_timer_t);
	le->deadline = xnew(uv_timer_t);
	uv_timer_init(kclient_loop(kc), le->tick);
	uv_timer_init(kclient_loop(kc), le->deadline);
	le->tick->data = le;
	le->deadline->data = le;
	*ret_le = le;
	return 0;
}

void leader_start(struct leader *le)
{
	if (le->state != LE_IDLE && le->state != LE_STOPPED)
		return;
	le->state = LE_RUNNING;
	le_schedule(le, 0);
}

void leader_stop(struct leader *le, void (*done)(void *done_userdata), void *done_userdata)
{
	le->stop_done = done;
	le->stop_userdata = done_userdata;
	uv_timer_stop(le->tick);
	if (le->state == LE_RUNNING) {
		le->state = LE_STOPPING;
		if (!le->call)
			le_release(le);
		/* else le_done -> le_round_end -> le_release */
		return;
	}
	if (le->state == LE_STOPPING)
		return;
	le->state = LE_STOPPED;
	le_schedule(le, 0);
}

static void le_timer_closed(uv_handle_t *h)
{
	free(h);
}

struct leader *leader_free(struct leader *le)
{
	if (!le)
		return NULL;
	kclient_cancel(le->call);
	uv_close((uv_handle_t *)le->tick, le_timer_closed);
	uv_close((uv_handle_t *)le->deadline, le_timer_closed);
	json_decref(le->lease);
	json_decref(le->observed);
	free(le->ns);
	free(le->name);
	free(le->identity);
	free(le->coll_path);
	free(le->path);
	free(le->holder);
	free(le->reported);
	free(le);
	return NULL;
}

bool leader_is_leader(const struct leader *le)
{
	return le->leading;
}

const char *leader_holder(const struct leader *le)
{
	return le->holder;
}

void leader_get_stats(const struct leader *le, struct leader_stats *ret_stats)
{
	*ret_stats = le->stats;
}
