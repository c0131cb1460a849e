/* kdiscovery.c - the discovery cache; see kdiscovery.h.
 *
 * State: the current table (an array of struct kmapping), the group versions
 * that failed in the last refresh, and at most one refresh in flight, which
 * builds a new table and swaps it in when its last request returns. Resolves
 * that cannot be answered from the table wait on `waiters`; answers ready to
 * be delivered sit on `ready`; one uv_timer delivers them and starts refreshes
 * (respecting the minimum interval). Runs on the kclient's loop.
 */
#include "kdiscovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "timefmt.h"

struct kd_link {
	struct kd_link *prev, *next;
};

struct kdiscovery_wait {
	struct kdiscovery *kd;   /* borrowed */
	struct kd_link link;     /* in kd->waiters or kd->ready */
	char group[254];
	char version[64];
	char kind[128];
	int64_t asked_us;
	bool waiting;            /* on kd->waiters (else on kd->ready) */
	kdiscovery_fn cb;
	void *userdata;
	/* the answer, once ready */
	int r;
	struct kmapping m;
	struct kclient_error err;
};

/* One group version's outcome in the last refresh. */
struct kd_gv {
	char gv[320];
	int r;                   /* 0, or why its discovery failed */
	char message[256];
};

/* A discovery request in flight. */
struct kd_req {
	struct kdiscovery *kd;   /* borrowed */
	struct kd_link link;     /* in kd->reqs */
	struct kclient_call *call;
	int root;                /* 1: /api, 2: /apis, 0: a group version */
	size_t gv;               /* index into kd->new_gvs */
};

struct kdiscovery {
	struct kclient *kc;       /* borrowed */
	struct kdiscovery_options opt;
	uv_timer_t timer;

	struct kmapping *table;   /* owned */
	size_t n;
	struct kd_gv *gvs;        /* owned: outcome per group version of the last refresh */
	size_t n_gvs;
	bool have_cache;
	int64_t refreshed_us;     /* start time of the refresh that built the table */
	int64_t last_start_us;    /* start time of the last refresh begun */
	bool want_background;

	/* the refresh in flight */
	bool refreshing;
	int64_t started_us;
	unsigned outstanding;
	struct kmapping *new_table;
	size_t new_n;
	struct kd_gv *new_gvs;
	size_t new_n_gvs;
	int refresh_r;
	struct kclient_error refresh_err;
	struct kd_link reqs;

	struct kd_link waiters;
	struct kd_link ready;
	size_t n_waiting;
	struct kdiscovery_stats stats;
};

#define kd_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void kd_link_init(struct kd_link *l)
{
	l->prev = l->next = l;
}

static bool kd_link_empty(const struct kd_link *h)
{
	return h->next == h;
}

static void kd_link_add_tail(struct kd_link *h, struct kd_link *l)
{
	l->prev = h->prev;
	l->next = h;
	h->prev->next = l;
	h->prev = l;
}

static void kd_link_del(struct kd_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	kd_link_init(l);
}

static void kd_on_timer(uv_timer_t *t);

static void kd_kick(struct kdiscovery *kd)
{
	uv_timer_start(&kd->timer, kd_on_timer, 0, 0);
}

static bool valid_group(const char *s, bool allow_empty)
{
	size_t n = strlen(s);

	if (n == 0)
		return allow_empty;
	if (n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

static bool valid_version(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* Split "g/v" or "v" into group and version buffers. */
static int split_gv(const char *gv, char group[254], char version[64])
{
	const char *slash = strchr(gv, '/');

	if (slash) {
		size_t gl = (size_t)(slash - gv);

		if (gl == 0 || gl > 253 || strlen(slash + 1) > 63 || strchr(slash + 1, '/'))
			return -EINVAL;
		memcpy(group, gv, gl);
		group[gl] = '\0';
		snprintf(version, 64, "%s", slash + 1);
	} else {
		if (strlen(gv) > 63)
			return -EINVAL;
		group[0] = '\0';
		snprintf(version, 64, "%s", gv);
	}
	if (!valid_group(group, true) || !valid_version(version))
		return -EINVAL;
	return 0;
}

static const struct kmapping *table_find(const struct kmapping *t, size_t n, const char *group,
					 const char *version, const char *kind)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].kind, kind) == 0 && strcmp(t[i].version, version) == 0 &&
		    strcmp(t[i].group, group) == 0)
			return &t[i];
	return NULL;
}

static const struct kd_gv *gv_failed(const struct kdiscovery *kd, const char *group, const char *version)
{
	char gv[320];

	if (group[0])
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	else
		snprintf(gv, sizeof(gv), "%s", version);
	for (size_t i = 0; i < kd->n_gvs; i++)
		if (kd->gvs[i].r < 0 && strcmp(kd->gvs[i].gv, gv) == 0)
			return &kd->gvs[i];
	return NULL;
}

/* Fill the answer of w from the table (after a refresh, or from the cache). */
static void answer_from_table(struct kdiscovery *kd, struct kdiscovery_wait *w, bool final)
{
	const struct kmapping *m = table_find(kd->table, kd->n, w->group, w->version, w->kind);
	const struct kd_gv *bad;

	memset(&w->err, 0, sizeof(w->err));
	if (m) {
		w->m = *m;
		w->r = 0;
		return;
	}
	bad = final ? gv_failed(kd, w->group, w->version) : NULL;
	if (bad) {
		w->r = bad->r;
		w->err.reason = KCLIENT_SERVICE_UNAVAILABLE;
		snprintf(w->err.message, sizeof(w->err.message), "discovery of %s failed: %s", bad->gv,
			 bad->message);
		return;
	}
	w->r = -ENOENT;
	w->err.reason = KCLIENT_NOT_FOUND;
	w->err.code = 404;
	snprintf(w->err.message, sizeof(w->err.message),
		 "no matches for kind \"%s\" in version \"%s%s%s\"", w->kind, w->group,
		 w->group[0] ? "/" : "", w->version);
}

static void make_ready(struct kdiscovery *kd, struct kdiscovery_wait *w)
{
	kd_link_del(&w->link);
	kd_link_add_tail(&kd->ready, &w->link);
}

/* --- refresh ------------------------------------------------------------ */

static void kd_req_done(void *userdata, const struct kclient_result *res);

static void kd_send(struct kdiscovery *kd, const char *path, int root, size_t gv)
{
	struct kd_req *q = xnew(struct kd_req);
	int r;

	q->kd = kd;
	q->root = root;
	q->gv = gv;
	kd_link_init(&q->link);
	r = kclient_request(kd->kc, &(struct kclient_request){
					    .method = KCLIENT_GET,
					    .path = path,
					    .flags = KCLIENT_REQ_NO_THROTTLE,
					    /* A failing group version (an aggregated API
					     * that is down) must not hold every waiter
					     * through a full retry series: one retry. */
					    .max_retries = root ? 0 : 1,
				    },
			    NULL, kd_req_done, q, &q->call);
	if (r < 0) {
		free(q);
		if (root) {
			kd->refresh_r = r;
			snprintf(kd->refresh_err.message, sizeof(kd->refresh_err.message),
				 "discovery: cannot request %s", path);
		} else {
			kd->new_gvs[gv].r = r;
			snprintf(kd->new_gvs[gv].message, sizeof(kd->new_gvs[gv].message),
				 "cannot request %s", path);
		}
		return;
	}
	kd_link_add_tail(&kd->reqs, &q->link);
	kd->outstanding++;
	kd->stats.requests++;
}

static void kd_add_gv(struct kdiscovery *kd, const char *gv)
{
	char group[254], version[64];
	char *path;
	size_t i;

	if (split_gv(gv, group, version) < 0) {
		log_warn("discovery: ignoring malformed group version \"%.80s\"", gv);
		return;
	}
	for (i = 0; i < kd->new_n_gvs; i++)
		if (strcmp(kd->new_gvs[i].gv, gv) == 0)
			return;
	if (kd->new_n_gvs >= KDISCOVERY_MAX_GROUP_VERSIONS) {
		log_warn("discovery: more than %d group versions; ignoring %s",
			 KDISCOVERY_MAX_GROUP_VERSIONS, gv);
		return;
	}
	kd->new_gvs = xrealloc(kd->new_gvs, (kd->new_n_gvs + 1) * sizeof(*kd->new_gvs));
	memset(&kd->new_gvs[kd->new_n_gvs], 0, sizeof(*kd->new_gvs));
	snprintf(kd->new_gvs[kd->new_n_gvs].gv, sizeof(kd->new_gvs[0].gv), "%s", gv);
	i = kd->new_n_gvs++;
	path = group[0] ? xasprintf("/apis/%s/%s", group, version) : xasprintf("/api/%s", version);
	kd_send(kd, path, 0, i);
	free(path);
}

static void kd_parse_resources(struct kdiscovery *kd, const char *gv, const json_t *body)
{
	char group[254], version[64];
	json_t *res;
	size_t i;

	if (split_gv(gv, group, version) < 0)
		return;
	json_array_foreach(json_object_get(body, "resources"), i, res) {
		const char *name = json_string_value(json_object_get(res, "name"));
		const char *kind = json_string_value(json_object_get(res, "kind"));
		json_t *ns = json_object_get(res, "namespaced");
		struct kmapping *m;

		if (!name || !kind || strchr(name, '/') || !valid_group(name, false) ||
		    strlen(kind) >= sizeof(m->kind) || !kind[0])
			continue;
		if (table_find(kd->new_table, kd->new_n, group, version, kind))
			continue;
		if (kd->new_n >= KDISCOVERY_MAX_RESOURCES) {
			log_warn("discovery: more than %d resources; ignoring the rest",
				 KDISCOVERY_MAX_RESOURCES);
			return;
		}
		kd->new_table = xrealloc(kd->new_table, (kd->new_n + 1) * sizeof(*kd->new_table));
		m = &kd->new_table[kd->new_n++];
		memset(m, 0, sizeof(*m));
		snprintf(m->group, sizeof(m->group), "%s", group);
		snprintf(m->version, sizeof(m->version), "%s", version);
		snprintf(m->kind, sizeof(m->kind), "%s", kind);
		snprintf(m->resource, sizeof(m->resource), "%s", name);
		m->namespaced = json_is_true(ns);
	}
}

static void kd_complete(struct kdiscovery *kd)
{
	struct kd_link *l, *next;

	kd->refreshing = false;
	if (kd->refresh_r == 0) {
		/* Keep what we knew of group versions whose discovery failed. */
		for (size_t g = 0; g < kd->new_n_gvs; g++) {
			char group[254], version[64];

			if (kd->new_gvs[g].r == 0 || split_gv(kd->new_gvs[g].gv, group, version) < 0)
				continue;
			log_warn("discovery: %s: %s", kd->new_gvs[g].gv, kd->new_gvs[g].message);
			for (size_t i = 0; i < kd->n; i++) {
				if (strcmp(kd->table[i].group, group) || strcmp(kd->table[i].version, version))
					continue;
				kd->new_table = xrealloc(kd->new_table,
							 (kd->new_n + 1) * sizeof(*kd->new_table));
				kd->new_table[kd->new_n++] = kd->table[i];
			}
		}
		free(kd->table);
		kd->table = kd->new_table;
		kd->n = kd->new_n;
		free(kd->gvs);
		kd->gvs = kd->new_gvs;
		kd->n_gvs = kd->new_n_gvs;
		kd->have_cache = true;
		kd->refreshed_us = kd->started_us;
		kd->stats.resources = kd->n;
	} else {
		log_warn("discovery failed: %s", kd->refresh_err.message);
		free(kd->new_table);
		free(kd->new_gvs);
	}
	kd->new_table = NULL;
	kd->new_n = 0;
	kd->new_gvs = NULL;
	kd->new_n_gvs = 0;

	for (l = kd->waiters.next; l != &kd->waiters; l = next) {
		struct kdiscovery_wait *w = kd_container_of(l, struct kdiscovery_wait, link);

		next = l->next;
		if (w->asked_us > kd->started_us)
			continue; /* asked after this refresh began: needs a newer one */
		if (kd->refresh_r < 0) {
			w->r = kd->refresh_r;
			w->err = kd->refresh_err;
			w->err.details = w->err.causes = NULL;
		} else {
			answer_from_table(kd, w, true);
		}
		kd->n_waiting--;
		w->waiting = false;
		make_ready(kd, w);
	}
	kd_kick(kd);
}

static void kd_req_done(void *userdata, const struct kclient_result *res)
{
	struct kd_req *q = userdata;
	struct kdiscovery *kd = q->kd;
	json_t *v;
	size_t i, j;

	kd_link_del(&q->link);
	kd->outstanding--;
	if (res->r < 0) {
		if (q->root) {
			if (kd->refresh_r == 0) {
				kd->refresh_r = res->r;
				kd->refresh_err = *res->err;
				kd->refresh_err.details = kd->refresh_err.causes = NULL;
			}
		} else {
			kd->new_gvs[q->gv].r = res->r == -ENOENT ? -EAGAIN : res->r;
			snprintf(kd->new_gvs[q->gv].message, sizeof(kd->new_gvs[q->gv].message), "%.200s",
				 res->err->message);
		}
	} else if (kd->refresh_r == 0) {
		if (q->root == 1) {
			json_array_foreach(json_object_get(res->body, "versions"), i, v)
				if (json_is_string(v))
					kd_add_gv(kd, json_string_value(v));
		} else if (q->root == 2) {
			json_t *g, *gvo;

			json_array_foreach(json_object_get(res->body, "groups"), i, g)
				json_array_foreach(json_object_get(g, "versions"), j, gvo) {
					const char *gv = json_string_value(json_object_get(gvo, "groupVersion"));

					if (gv)
						kd_add_gv(kd, gv);
				}
		} else {
			kd_parse_resources(kd, kd->new_gvs[q->gv].gv, res->body);
		}
	}
	free(q);
	if (kd->outstanding == 0)
		kd_complete(kd);
}

static void kd_start_refresh(struct kdiscovery *kd)
{
	kd->refreshing = true;
	kd->want_background = false;
	kd->started_us = kd->last_start_us = time_mono_us();
	kd->refresh_r = 0;
	memset(&kd->refresh_err, 0, sizeof(kd->refresh_err));
	kd->stats.refreshes++;
	kd_send(kd, "/api", 1, 0);
	kd_send(kd, "/apis", 2, 0);
	if (kd->outstanding == 0)
		kd_complete(kd);
}

static void kd_on_timer(uv_timer_t *t)
{
	struct kdiscovery *kd = t->data;

	/* Answers first, one at a time: a callback may cancel another waiter. */
	while (!kd_link_empty(&kd->ready)) {
		struct kdiscovery_wait *w = kd_container_of(kd->ready.next, struct kdiscovery_wait, link);

		kd_link_del(&w->link);
		w->cb(w->userdata, w->r, w->r == 0 ? &w->m : NULL, w->r == 0 ? NULL : &w->err);
		free(w);
	}
	if (!kd->refreshing && (!kd_link_empty(&kd->waiters) || kd->want_background)) {
		int64_t now = time_mono_us();
		int64_t due = kd->last_start_us + (int64_t)kd->opt.min_refresh_interval_ms * 1000;

		if (!kd->last_start_us || now >= due)
			kd_start_refresh(kd);
		else
			uv_timer_start(&kd->timer, kd_on_timer, (uint64_t)(due - now + 999) / 1000, 0);
	}
}

/* --- public ------------------------------------------------------------- */

int kdiscovery_new(struct kclient *kc, const struct kdiscovery_options *opts,
		   struct kdiscovery **ret_kd)
{
	struct kdiscovery *kd = xnew(struct kdiscovery);

	kd->kc = kc;
	if (opts)
		kd->opt = *opts;
	if (!kd->opt.ttl_ms)
		kd->opt.ttl_ms = KDISCOVERY_DEFAULT_TTL_MS;
	if (!kd->opt.min_refresh_interval_ms)
		kd->opt.min_refresh_interval_ms = KDISCOVERY_DEFAULT_MIN_REFRESH_MS;
	kd_link_init(&kd->reqs);
	kd_link_init(&kd->waiters);
	kd_link_init(&kd->ready);
	uv_timer_init(kclient_loop(kc), &kd->timer);
	kd->timer.data = kd;
	*ret_kd = kd;
	return 0;
}

static void kd_closed(uv_handle_t *h)
{
	free(h->data);
}

struct kdiscovery *kdiscovery_free(struct kdiscovery *kd)
{
	if (!kd)
		return NULL;
	while (!kd_link_empty(&kd->reqs)) {
		struct kd_req *q = kd_container_of(kd->reqs.next, struct kd_req, link);

		kd_link_del(&q->link);
		kclient_cancel(q->call);
		free(q);
	}
	while (!kd_link_empty(&kd->waiters)) {
		struct kd_link *l = kd->waiters.next;

		kd_link_del(l);
		free(kd_container_of(l, struct kdiscovery_wait, link));
	}
	while (!kd_link_empty(&kd->ready)) {
		struct kd_link *l = kd->ready.next;

		kd_link_del(l);
		free(kd_container_of(l, struct kdiscovery_wait, link));
	}
	free(kd->table);
	free(kd->gvs);
	free(kd->new_table);
	free(kd->new_gvs);
	uv_close((uv_handle_t *)&kd->timer, kd_closed);
	return NULL;
}

int kdiscovery_resolve(struct kdiscovery *kd, const char *api_version, const char *kind,
		       kdiscovery_fn cb, void *userdata, struct kdiscovery_wait **ret_wait)
{
	struct kdiscovery_wait *w;
	int64_t now = time_mono_us();

	if (!api_version || !kind || !kind[0] || strlen(kind) >= sizeof(w->kind) || !cb)
		return -EINVAL;
	if (kd->n_waiting >= KDISCOVERY_MAX_WAITERS)
		return -EAGAIN;
	w = xnew(struct kdiscovery_wait);
	if (split_gv(api_version, w->group, w->version) < 0) {
		free(w);
		return -EINVAL;
	}
	snprintf(w->kind, sizeof(w->kind), "%s", kind);
	w->kd = kd;
	w->asked_us = now;
	w->cb = cb;
	w->userdata = userdata;
	kd_link_init(&w->link);
	if (kd->have_cache && table_find(kd->table, kd->n, w->group, w->version, w->kind)) {
		answer_from_table(kd, w, false);
		kd_link_add_tail(&kd->ready, &w->link);
		if (now - kd->refreshed_us > (int64_t)kd->opt.ttl_ms * 1000)
			kd->want_background = true;
	} else {
		kd_link_add_tail(&kd->waiters, &w->link);
		w->waiting = true;
		kd->n_waiting++;
	}
	if (ret_wait)
		*ret_wait = w;
	kd_kick(kd);
	return 0;
}

void kdiscovery_cancel(struct kdiscovery_wait *w)
{
	if (!w)
		return;
	if (w->waiting)
		w->kd->n_waiting--;
	kd_link_del(&w->link);
	free(w);
}

int kdiscovery_lookup(struct kdiscovery *kd, const char *api_version, const char *kind,
		      struct kmapping *ret_m)
{
	char group[254], version[64];
	const struct kmapping *m;

	if (!api_version || !kind || split_gv(api_version, group, version) < 0)
		return -EINVAL;
	m = table_find(kd->table, kd->n, group, version, kind);
	if (!m)
		return -ENOENT;
	*ret_m = *m;
	return 0;
}

void kdiscovery_invalidate(struct kdiscovery *kd)
{
	kd->have_cache = false;
}

void kmapping_ref(const struct kmapping *m, const char *ns, const char *name, struct kref *ret_ref)
{
	*ret_ref = (struct kref){
		.group = m->group,
		.version = m->version,
		.resource = m->resource,
		.namespace = m->namespaced ? ns : NULL,
		.name = name,
	};
}

void kdiscovery_get_stats(const struct kdiscovery *kd, struct kdiscovery_stats *ret_stats)
{
	*ret_stats = kd->stats;
	ret_stats->resources = kd->n;
}
