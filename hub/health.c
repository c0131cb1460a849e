/* health.c - cluster leases and the ManagedCluster conditions they drive.
 *
 * A lease renewal (PUT /nave/v1/clusters/<name>/lease, or the stream's lease
 * event through hub_lease_renew) stamps the cluster's entry in the in-memory
 * table with uv_now and, only when something changes, writes
 * ManagedClusterJoined, ManagedClusterConditionAvailable and clusterClaims.
 * Renewals that change nothing cost no store write, so thousands of clusters
 * renewing every 10 s do not load the store.
 *
 * A repeating uv timer (tick = lease timeout / 10, 100 ms..1 s) marks
 * Available=Unknown, reason ManagedClusterLeaseUpdateStopped, for joined
 * clusters whose last renewal is older than their grace: the hub's
 * --lease-timeout, or twice the lease duration the agent announced if that is
 * longer (an agent renewing every 60 s must not flap). One tick writes at
 * most HEALTH_BATCH_MAX conditions and, when more are due, runs again in the
 * next loop turn: a fleet whose leases lapse at once (the hub restarted, a
 * network partition) is marked in short turns that let requests, lease
 * renewals and the controllers' own work through between them. At start every
 * cluster's renewal time is the hub's start: a restarted hub gives its
 * agents a full grace period before calling them Unknown.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "hub_int.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

#define HEALTH_BATCH_MAX 100 /* clusters marked Unknown per loop turn */

static const struct kapi_write_opts hub_opts = {.field_manager = "nave-hub"};

/* Set condition type in the array conds (created in status when missing).
 * status NULL removes it. Returns whether anything changed. */
static bool cond_set(json_t *obj, const char *type, const char *status, const char *reason, const char *message)
{
	json_t *st = json_object_get(obj, "status"), *conds, *c = NULL, *nc;
	char now[TIMEFMT_MAX];
	size_t i;

	if (!json_is_object(st)) {
		if (!status)
			return false;
		st = json_object();
		json_object_set_new(obj, "status", st);
	}
	conds = json_object_get(st, "conditions");
	if (!json_is_array(conds)) {
		if (!status)
			return false;
		conds = json_array();
		json_object_set_new(st, "conditions", conds);
	}
	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && !strcmp(t, type))
			break;
	}
	if (i == json_array_size(conds))
		c = NULL;
	if (!status) {
		if (!c)
			return false;
		json_array_remove(conds, i);
		return true;
	}
	if (c && json_is_string(json_object_get(c, "status")) &&
	    !strcmp(json_string_value(json_object_get(c, "status")), status) &&
	    json_is_string(json_object_get(c, "reason")) &&
	    !strcmp(json_string_value(json_object_get(c, "reason")), reason) &&
	    json_is_string(json_object_get(c, "message")) &&
	    !strcmp(json_string_value(json_object_get(c, "message")), message))
		return false;
	time_format_rfc3339(time_now_us(), now);
	nc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status, "reason", reason, "message",
		       message, "lastTransitionTime", now);
	if (c && json_is_string(json_object_get(c, "status")) &&
	    !strcmp(json_string_value(json_object_get(c, "status")), status) &&
	    json_object_get(c, "lastTransitionTime"))
		json_object_set(nc, "lastTransitionTime", json_object_get(c, "lastTransitionTime"));
	if (c)
		json_array_set_new(conds, i, nc);
	else
		json_array_append_new(conds, nc);
	return true;
}

/* See hub_int.h. */
int hub_cluster_set_condition(struct hub *h, const char *name, const char *type, const char *status,
			      const char *reason, const char *message)
{
	struct errbuf err;
	json_t *obj = NULL;
	int r;

	if ((r = kapi_get(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, name, &err, &obj)) < 0)
		return r;
	if (cond_set(obj, type, status, reason, message)) {
		r = kapi_update_status(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, obj, &hub_opts, &err, NULL);
		if (r < 0)
			log_error("cluster %s: cannot set condition %s: %s", name, type, err.msg);
	}
	json_decref(obj);
	return r;
}

static int validate_lease(const json_t *lease, struct errbuf *err)
{
	json_t *d, *claims, *conds, *x;
	size_t i;

	if (!json_is_object(lease))
		return errbuf_set(err, -EBADMSG, "lease: expected a JSON object");
	d = json_object_get(lease, "leaseDurationSeconds");
	if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 3600)
		return errbuf_set(err, -EINVAL, "leaseDurationSeconds: Required value: an integer of 1..3600");
	claims = json_object_get(lease, "clusterClaims");
	if (claims && !json_is_null(claims)) {
		if (!json_is_array(claims) || json_array_size(claims) > HUB_LEASE_CLAIMS_MAX)
			return errbuf_set(err, -EINVAL, "clusterClaims: must be an array of at most %d claims",
					  HUB_LEASE_CLAIMS_MAX);
		json_array_foreach(claims, i, x) {
			const char *n = json_string_value(json_object_get(x, "name"));
			json_t *v = json_object_get(x, "value");

			if (!n || !kobj_valid_subdomain(n))
				return errbuf_set(err, -EINVAL, "clusterClaims[%zu].name: must be a DNS-1123 subdomain",
						  i);
			if (!json_is_string(v) || json_string_length(v) > HUB_CLAIM_VALUE_MAX)
				return errbuf_set(err, -EINVAL,
						  "clusterClaims[%zu].value: must be a string of at most %d bytes", i,
						  HUB_CLAIM_VALUE_MAX);
		}
	}
	conds = json_object_get(lease, "conditions");
	if (conds && !json_is_null(conds)) {
		if (!json_is_array(conds) || json_array_size(conds) > HUB_LEASE_CONDITIONS_MAX)
			return errbuf_set(err, -EINVAL, "conditions: must be an array of at most %d conditions",
					  HUB_LEASE_CONDITIONS_MAX);
		json_array_foreach(conds, i, x) {
			const char *t = json_string_value(json_object_get(x, "type"));
			const char *s = json_string_value(json_object_get(x, "status"));

			if (!t || strlen(t) > 316)
				return errbuf_set(err, -EINVAL, "conditions[%zu].type: Required value", i);
			if (!s || (strcmp(s, "True") && strcmp(s, "False") && strcmp(s, "Unknown")))
				return errbuf_set(err, -EINVAL,
						  "conditions[%zu].status: must be True, False or Unknown", i);
		}
	}
	return 0;
}

/* See hub_int.h. */
int hub_check_lease(const json_t *lease, struct errbuf *err)
{
	return validate_lease(lease, err);
}

/* See hub.h. */
int hub_lease_renew(struct hub *h, const char *cluster, const json_t *lease, int *ret_duration,
		    struct errbuf *err)
{
	const char *av_status = "True", *av_reason = "ManagedClusterAvailable",
		   *av_msg = "Managed cluster is available";
	struct hub_cluster *c;
	json_t *obj = NULL, *claims, *conds, *x;
	bool changed = false;
	size_t i;
	int r;

	if ((r = validate_lease(lease, err)) < 0)
		return r;
	c = hub_cluster_find(h, cluster);
	if (!c || !c->accepted)
		return errbuf_set(err, -EACCES, "Unauthorized: cluster %s is not accepted by this hub", cluster);
	c->last_renew_ms = (int64_t)uv_now(h->loop);
	c->lease_s = (int)json_integer_value(json_object_get(lease, "leaseDurationSeconds"));
	if ((r = kapi_get(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, cluster, err, &obj)) < 0)
		return r;
	conds = json_object_get(lease, "conditions");
	json_array_foreach(conds, i, x) {
		const char *t = json_string_value(json_object_get(x, "type"));

		if (!strcmp(t, HUB_COND_AVAILABLE)) {
			av_status = json_string_value(json_object_get(x, "status"));
			if (json_is_string(json_object_get(x, "reason")))
				av_reason = json_string_value(json_object_get(x, "reason"));
			if (json_is_string(json_object_get(x, "message")))
				av_msg = json_string_value(json_object_get(x, "message"));
		}
	}
	if (!c->joined)
		changed |= cond_set(obj, HUB_COND_JOINED, "True", "ManagedClusterJoined", "Managed cluster joined");
	changed |= cond_set(obj, HUB_COND_AVAILABLE, av_status, av_reason, av_msg);
	claims = json_object_get(lease, "clusterClaims");
	if (json_is_array(claims) && !json_equal(claims, kobj_get_path(obj, "status.clusterClaims"))) {
		json_t *st = json_object_get(obj, "status");

		if (!json_is_object(st)) {
			st = json_object();
			json_object_set_new(obj, "status", st);
		}
		json_object_set(st, "clusterClaims", claims);
		changed = true;
	}
	if (changed) {
		if (!c->joined)
			log_info("cluster %s joined", cluster);
		r = kapi_update_status(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, obj, &hub_opts, err, NULL);
	}
	if (r == 0 && ret_duration) {
		json_t *d = kobj_get_path(obj, "spec.leaseDurationSeconds");

		*ret_duration = json_is_integer(d) && json_integer_value(d) > 0 ? (int)json_integer_value(d)
										 : h->cfg.lease_duration_s;
	}
	json_decref(obj);
	return r;
}

/* See hub_int.h. */
void hub_lease_http(struct hub *h, struct httpd_req *req, const char *name)
{
	struct errbuf err = {""};
	json_t *body = NULL;
	int r, duration = 0;

	if (h->cur_id.kind == HUB_IDENT_CLUSTER && strcmp(h->cur_id.cluster, name)) {
		snprintf(err.msg, sizeof(err.msg),
			 "forbidden: User \"%s\" cannot renew the lease of cluster \"%s\"", h->cur_id.user, name);
		hub_respond_error(h, req, -EPERM, err.msg);
		return;
	}
	if ((r = hub_body_json(req, &body, &err)) < 0 ||
	    (r = hub_lease_renew(h, name, body, &duration, &err)) < 0) {
		hub_respond_error(h, req, r, err.msg);
		goto out;
	}
	hub_respond_json(h, req, 200,
			 json_pack("{s:i, s:I}", "leaseDurationSeconds", duration, "availableTimeoutSeconds",
				   (json_int_t)(h->cfg.lease_timeout_ms / 1000)));
out:
	json_decref(body);
}

static void on_health_tick(uv_timer_t *t)
{
	struct hub *h = t->data;
	int64_t now = (int64_t)uv_now(h->loop);
	size_t i, marked = 0;

	for (i = 0; i < h->ccap; i++) {
		struct hub_cluster *c, *next;

		for (c = h->ctab[i]; c; c = next) {
			int64_t grace = h->cfg.lease_timeout_ms;

			next = c->next;
			if (2LL * c->lease_s * 1000 > grace)
				grace = 2LL * c->lease_s * 1000;
			if (!c->joined || !*c->available || !strcmp(c->available, "Unknown") ||
			    now - c->last_renew_ms <= grace)
				continue;
			if (marked == HEALTH_BATCH_MAX) {
				/* more are due: the next loop turn goes on, then the usual
				 * tick (1 ms, not 0: libuv 1.44 runs a timer re-armed to
				 * "now" from its callback again before polling) */
				uv_timer_start(t, on_health_tick, 1, uv_timer_get_repeat(t));
				return;
			}
			marked++;
			log_warn("cluster %s: no lease for %lld ms: Available=Unknown", c->name,
				 (long long)(now - c->last_renew_ms));
			/* the subscription updates c->available; c stays valid (no deletion here) */
			hub_cluster_set_condition(h, c->name, HUB_COND_AVAILABLE, "Unknown",
						  "ManagedClusterLeaseUpdateStopped",
						  "Registration agent stopped updating its lease.");
		}
	}
}

/* See hub_int.h. */
int hub_health_start(struct hub *h)
{
	uint64_t tick = (uint64_t)(h->cfg.lease_timeout_ms / 10);

	if (tick < 100)
		tick = 100;
	if (tick > 1000)
		tick = 1000;
	return uv_timer_start(&h->health_timer, on_health_tick, tick, tick);
}
