/* metrics.c - /metrics in the Prometheus text format (0.0.4).
 *
 * Request counters by (verb, code) and latency histograms by verb are kept in
 * short lists (a few verbs times a few codes); cluster and work gauges are
 * computed at scrape time from the cluster table and the store; store
 * figures come from store_sqlite_stats. Scrapes cost O(clusters).
 * The status codes of answers come from httpd's answer observer (serve.c):
 * every answer counts, httpd's own 4xx included; those, answered before the
 * hub saw the request, have no latency and stay out of the histograms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "httpd.h"
#include "hub_int.h"
#include "store_sqlite.h"
#include "stream.h"

#define HUB_METRICS_MAX (1 << 20)
#define HUB_METRIC_SERIES_MAX 256 /* (verb, code) pairs kept; more are folded into "other" */

static const double lat_buckets[HUB_METRIC_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

/* See hub_int.h. */
void hub_metrics_request(struct hub *h, const char *verb, int code, double seconds)
{
	struct hub_metrics *m = &h->metrics;
	struct hub_metric_req *r;
	struct hub_metric_lat *l;
	size_t n = 0;
	int i;

	for (r = m->reqs; r; r = r->next, n++)
		if (r->code == code && !strcmp(r->verb, verb))
			break;
	if (!r) {
		r = xnew(struct hub_metric_req);
		snprintf(r->verb, sizeof(r->verb), "%s", n < HUB_METRIC_SERIES_MAX ? verb : "other");
		r->code = code;
		r->next = m->reqs;
		m->reqs = r;
	}
	r->count++;
	if (seconds < 0)
		return;
	for (l = m->lats; l; l = l->next)
		if (!strcmp(l->verb, verb))
			break;
	if (!l) {
		l = xnew(struct hub_metric_lat);
		snprintf(l->verb, sizeof(l->verb), "%s", verb);
		l->next = m->lats;
		m->lats = l;
	}
	l->count++;
	l->sum += seconds;
	for (i = 0; i < HUB_METRIC_BUCKETS; i++)
		if (seconds <= lat_buckets[i])
			l->buckets[i]++;
}

/* See hub_int.h. */
void hub_metrics_free(struct hub_metrics *m)
{
	struct hub_metric_req *r, *rn;
	struct hub_metric_lat *l, *ln;

	for (r = m->reqs; r; r = rn) {
		rn = r->next;
		free(r);
	}
	for (l = m->lats; l; l = ln) {
		ln = l->next;
		free(l);
	}
	m->reqs = NULL;
	m->lats = NULL;
}

static void clusters_by_condition(struct hub *h, struct buf *b)
{
	/* [accepted][available: True, False, Unknown, none] */
	static const char *const av[] = {"True", "False", "Unknown", ""};
	unsigned long n[2][4] = {{0}};
	size_t i;
	int a, k;

	for (i = 0; i < h->ccap; i++) {
		for (struct hub_cluster *c = h->ctab[i]; c; c = c->next) {
			for (k = 0; k < 3 && strcmp(c->available, av[k]); k++)
				;
			n[c->accepted ? 1 : 0][k]++;
		}
	}
	buf_puts(b, "# HELP nave_hub_managed_clusters Managed clusters by acceptance and Available condition.\n"
		    "# TYPE nave_hub_managed_clusters gauge\n");
	for (a = 0; a < 2; a++)
		for (k = 0; k < 4; k++)
			buf_printf(b, "nave_hub_managed_clusters{accepted=\"%s\",available=\"%s\"} %lu\n",
				   a ? "true" : "false", *av[k] ? av[k] : "None", n[a][k]);
}

/* See hub_int.h. */
void hub_metrics_http(struct hub *h, struct httpd_req *req)
{
	struct hub_metrics *m = &h->metrics;
	struct store_sqlite_stats st;
	struct hub_metric_req *r;
	struct hub_metric_lat *l;
	struct buf b;
	size_t works = 0;
	int i;

	buf_init(&b, HUB_METRICS_MAX);
	buf_puts(&b, "# HELP nave_hub_http_requests_total HTTP requests answered, by verb and status code.\n"
		     "# TYPE nave_hub_http_requests_total counter\n");
	for (r = m->reqs; r; r = r->next)
		buf_printf(&b, "nave_hub_http_requests_total{verb=\"%s\",code=\"%d\"} %llu\n", r->verb, r->code,
			   (unsigned long long)r->count);
	buf_puts(&b, "# HELP nave_hub_http_request_duration_seconds Time from a request's arrival until its "
		     "answer was committed and queued.\n"
		     "# TYPE nave_hub_http_request_duration_seconds histogram\n");
	for (l = m->lats; l; l = l->next) {
		for (i = 0; i < HUB_METRIC_BUCKETS; i++)
			buf_printf(&b, "nave_hub_http_request_duration_seconds_bucket{verb=\"%s\",le=\"%g\"} %llu\n",
				   l->verb, lat_buckets[i], (unsigned long long)l->buckets[i]);
		buf_printf(&b, "nave_hub_http_request_duration_seconds_bucket{verb=\"%s\",le=\"+Inf\"} %llu\n",
			   l->verb, (unsigned long long)l->count);
		buf_printf(&b, "nave_hub_http_request_duration_seconds_sum{verb=\"%s\"} %.6f\n", l->verb, l->sum);
		buf_printf(&b, "nave_hub_http_request_duration_seconds_count{verb=\"%s\"} %llu\n", l->verb,
			   (unsigned long long)l->count);
	}
	clusters_by_condition(h, &b);
	if (h->store)
		works = h->store->ops->count(h->store, HUB_GROUP_WORK "/" HUB_RES_WORKS, NULL);
	buf_printf(&b, "# HELP nave_hub_manifestworks ManifestWorks stored.\n"
		       "# TYPE nave_hub_manifestworks gauge\nnave_hub_manifestworks %zu\n", works);
	buf_printf(&b, "# HELP nave_hub_revoked_certificates Serials on the revocation list.\n"
		       "# TYPE nave_hub_revoked_certificates gauge\nnave_hub_revoked_certificates %zu\n",
		   h->revoked ? json_object_size(h->revoked) : 0);
	buf_printf(&b, "# HELP nave_hub_registrations_total Registration requests by result.\n"
		       "# TYPE nave_hub_registrations_total counter\n"
		       "nave_hub_registrations_total{result=\"pending\"} %llu\n"
		       "nave_hub_registrations_total{result=\"approved\"} %llu\n"
		       "nave_hub_registrations_total{result=\"denied\"} %llu\n"
		       "nave_hub_registrations_total{result=\"unauthorized\"} %llu\n"
		       "nave_hub_registrations_total{result=\"invalid\"} %llu\n",
		   (unsigned long long)m->reg_pending, (unsigned long long)m->reg_approved,
		   (unsigned long long)m->reg_denied, (unsigned long long)m->reg_unauthorized,
		   (unsigned long long)m->reg_invalid);
	if (h->store && store_sqlite_is(h->store)) {
		store_sqlite_stats(h->store, &st);
		buf_printf(&b, "# HELP nave_hub_store_commits_total Store transactions committed.\n"
			       "# TYPE nave_hub_store_commits_total counter\nnave_hub_store_commits_total %llu\n"
			       "# HELP nave_hub_store_writes_total Object changes committed.\n"
			       "# TYPE nave_hub_store_writes_total counter\nnave_hub_store_writes_total %llu\n"
			       "# HELP nave_hub_store_checkpoints_total Background WAL checkpoints.\n"
			       "# TYPE nave_hub_store_checkpoints_total counter\nnave_hub_store_checkpoints_total %llu\n"
			       "# HELP nave_hub_store_objects Objects held by the store.\n"
			       "# TYPE nave_hub_store_objects gauge\nnave_hub_store_objects %llu\n"
			       "# HELP nave_hub_store_resource_version The last committed resourceVersion.\n"
			       "# TYPE nave_hub_store_resource_version gauge\nnave_hub_store_resource_version %llu\n"
			       "# HELP nave_hub_store_load_seconds Time the store took to load at start.\n"
			       "# TYPE nave_hub_store_load_seconds gauge\nnave_hub_store_load_seconds %.6f\n",
			   (unsigned long long)st.commits, (unsigned long long)st.writes,
			   (unsigned long long)st.checkpoints, (unsigned long long)st.objects,
			   (unsigned long long)st.last_rv, (double)st.load_us / 1e6);
		buf_puts(&b, "# HELP nave_hub_store_commit_duration_seconds One group commit (transaction, "
			     "fsync included).\n# TYPE nave_hub_store_commit_duration_seconds histogram\n");
		for (i = 0; i < STORE_SQLITE_BUCKETS; i++)
			buf_printf(&b, "nave_hub_store_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
				   store_sqlite_buckets[i], (unsigned long long)st.commit_hist[i]);
		buf_printf(&b, "nave_hub_store_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			       "nave_hub_store_commit_duration_seconds_sum %.6f\n"
			       "nave_hub_store_commit_duration_seconds_count %llu\n",
			   (unsigned long long)st.commit_hist[STORE_SQLITE_BUCKETS], st.commit_seconds,
			   (unsigned long long)st.commits);
	}
	stream_metrics(&b);
	httpd_respond(req, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
	buf_free(&b);
}
