/* stream_works.c - the agent stream's view of ManifestWorks: the cache,
 * spec events, pushes and the spec resync.
 *
 * The cache holds a reference to every stored ManifestWork (the store's
 * immutable object, not a copy) in a table by uid, and each work in its
 * cluster's list (clusters by name): a resync walks one cluster's works, a
 * status update finds its work by uid. A kapi subscription (stream.c
 * forwards ManifestWork changes here) keeps it current and pushes to the
 * cluster's connections:
 *   ADDED                        -> spec.create_request
 *   MODIFIED, generation grew    -> spec.update_request
 *   MODIFIED, deletion began     -> spec.delete_request (deletiontimestamp)
 *   DELETED before the agent     -> spec.delete_request
 *   confirmed the delete
 * Status-only and metadata-only changes push nothing. An event is encoded
 * once per change and the same bytes are queued on every connection of the
 * cluster (with the work's tag: an unsent older event of the same work is
 * replaced, not followed).
 *
 * Deletion: every work carries the finalizer STREAM_FINALIZER (added here
 * when missing), so deleting one on the hub only marks it; the agent deletes
 * what the work applied and reports a final status with deletiontimestamp,
 * and stream.c then removes the finalizer. Works of a cluster that does not
 * exist (or no longer does) are let go at once.
 *
 * Resync: a connection keeps, in c->known, what its agent holds (its resync
 * request) plus what was queued since. stream_resync() compares that with the
 * cluster's works and queues the difference, per docs/protocol.md "Resync";
 * after a queue overflow the same comparison brings the agent up to date
 * once its queue drained.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "kobj.h"
#include "log.h"
#include "stream_int.h"
#include "timefmt.h"

#define GROUP_WORK "work.open-cluster-management.io"
#define RES_WORKS "manifestworks"
#define GROUP_CLUSTER "cluster.open-cluster-management.io"
#define RES_CLUSTERS "managedclusters"

static const struct kapi_write_opts stream_opts = {.field_manager = "nave-hub-stream"};

static uint64_t str_hash(const char *s)
{
	return fnv1a_str(FNV1A_INIT, s);
}

/* Clusters -------------------------------------------------------------------- */

/* See stream_int.h. */
struct stream_cluster *stream_cluster_find(struct stream *s, const char *name)
{
	struct stream_cluster *cl;

	if (!s->ccap)
		return NULL;
	for (cl = s->ctab[str_hash(name) & (s->ccap - 1)]; cl; cl = cl->hnext)
		if (!strcmp(cl->name, name))
			return cl;
	return NULL;
}

static void ctab_grow(struct stream *s)
{
	size_t ncap = s->ccap ? s->ccap * 2 : 64;
	struct stream_cluster **nt = xcalloc(ncap, sizeof(*nt)), *cl, *next;

	for (size_t i = 0; i < s->ccap; i++)
		for (cl = s->ctab[i]; cl; cl = next) {
			size_t b = str_hash(cl->name) & (ncap - 1);

			next = cl->hnext;
			cl->hnext = nt[b];
			nt[b] = cl;
		}
	free(s->ctab);
	s->ctab = nt;
	s->ccap = ncap;
}

/* See stream_int.h. */
struct stream_cluster *stream_cluster_get(struct stream *s, const char *name)
{
	struct stream_cluster *cl = stream_cluster_find(s, name);
	size_t b;

	if (cl)
		return cl;
	if (s->nclusters + 1 > s->ccap * 3 / 4)
		ctab_grow(s);
	cl = xnew(struct stream_cluster);
	cl->name = xstrdup(name);
	b = str_hash(name) & (s->ccap - 1);
	cl->hnext = s->ctab[b];
	s->ctab[b] = cl;
	s->nclusters++;
	return cl;
}

/* See stream_int.h. */
void stream_cluster_release(struct stream *s, struct stream_cluster *cl)
{
	struct stream_cluster **pp;

	if (!cl || cl->works || cl->conns || s->stopping)
		return;
	for (pp = &s->ctab[str_hash(cl->name) & (s->ccap - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == cl) {
			*pp = cl->hnext;
			s->nclusters--;
			free(cl->name);
			free(cl);
			return;
		}
}

/* Works ------------------------------------------------------------------------ */

/* See stream_int.h. */
struct stream_work *stream_work_find(struct stream *s, const char *uid)
{
	struct stream_work *w;

	if (!s->wcap || !uid)
		return NULL;
	for (w = s->wtab[str_hash(uid) & (s->wcap - 1)]; w; w = w->hnext)
		if (!strcmp(w->uid, uid))
			return w;
	return NULL;
}

static void wtab_grow(struct stream *s)
{
	size_t ncap = s->wcap ? s->wcap * 2 : 256;
	struct stream_work **nt = xcalloc(ncap, sizeof(*nt)), *w, *next;

	for (size_t i = 0; i < s->wcap; i++)
		for (w = s->wtab[i]; w; w = next) {
			size_t b = str_hash(w->uid) & (ncap - 1);

			next = w->hnext;
			w->hnext = nt[b];
			nt[b] = w;
		}
	free(s->wtab);
	s->wtab = nt;
	s->wcap = ncap;
}

static bool has_finalizer(const json_t *obj)
{
	json_t *f = kobj_get_path(obj, "metadata.finalizers"), *x;
	size_t i;

	json_array_foreach(f, i, x)
		if (json_is_string(x) && !strcmp(json_string_value(x), STREAM_FINALIZER))
			return true;
	return false;
}

/* Refresh w from obj (a borrowed immutable stored object). */
static void work_fill(struct stream_work *w, const json_t *obj)
{
	json_t *gen = kobj_get_path(obj, "metadata.generation");
	const char *dts = json_string_value(kobj_get_path(obj, "metadata.deletionTimestamp"));
	const char *name = kobj_name(obj);
	json_t *st = kobj_get_path(obj, "status." STREAM_STATUS_KEY);
	const char *seq = json_string_value(json_object_get(st, "sequenceID"));
	const char *hash = json_string_value(json_object_get(st, "statusHash"));
	int64_t us;

	json_decref(w->obj);
	w->obj = json_incref((json_t *)obj);
	if (!w->name || strcmp(w->name, name ? name : "")) {
		free(w->name);
		w->name = xstrdup(name ? name : "");
	}
	w->gen = json_is_integer(gen) ? json_integer_value(gen) : 0;
	w->deleting = dts != NULL;
	w->deletion_us = dts && time_parse_rfc3339(dts, &us) == 0 ? us : time_now_us();
	w->has_finalizer = has_finalizer(obj);
	/* What the store says wins (an admin may have rewritten the status). */
	w->seq = seq ? strtoull(seq, NULL, 10) : 0;
	snprintf(w->hash, sizeof(w->hash), "%s",
		 hash && strlen(hash) == PROTO_STATUSHASH_LEN ? hash : "");
}

static struct stream_work *work_add(struct stream *s, const char *uid, const json_t *obj)
{
	struct stream_work *w = stream_work_find(s, uid);
	const char *ns = kobj_namespace(obj);
	size_t b;

	if (w) {
		work_fill(w, obj);
		return w;
	}
	if (s->nworks + 1 > s->wcap * 3 / 4)
		wtab_grow(s);
	w = xnew(struct stream_work);
	snprintf(w->uid, sizeof(w->uid), "%s", uid);
	w->tag = ++s->next_tag;
	work_fill(w, obj);
	w->cl = stream_cluster_get(s, ns ? ns : "");
	w->cnext = w->cl->works;
	if (w->cl->works)
		w->cl->works->cprev = w;
	w->cl->works = w;
	w->cl->nworks++;
	b = str_hash(uid) & (s->wcap - 1);
	w->hnext = s->wtab[b];
	s->wtab[b] = w;
	s->nworks++;
	return w;
}

static void work_remove(struct stream *s, struct stream_work *w)
{
	struct stream_cluster *cl = w->cl;
	struct stream_work **pp;

	for (pp = &s->wtab[str_hash(w->uid) & (s->wcap - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == w) {
			*pp = w->hnext;
			break;
		}
	if (w->cprev)
		w->cprev->cnext = w->cnext;
	else
		cl->works = w->cnext;
	if (w->cnext)
		w->cnext->cprev = w->cprev;
	cl->nworks--;
	s->nworks--;
	json_decref(w->obj);
	free(w->name);
	free(w);
	stream_cluster_release(s, cl);
}

/* A valid lowercase UUID (resourceid's format): other uids cannot travel. */
static bool uid_ok(const char *uid)
{
	if (!uid || strlen(uid) != PROTO_UUID_LEN)
		return false;
	for (int i = 0; i < PROTO_UUID_LEN; i++) {
		char ch = uid[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return false;
		} else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* Finalizers -------------------------------------------------------------------- */

/* Add (or remove) our finalizer on the stored work ns/name. */
static int set_finalizer(struct stream *s, const char *ns, const char *name, bool on)
{
	json_t *obj = NULL, *fin, *nf, *x, *patch;
	struct errbuf err = {""};
	size_t i;
	int r;

	if ((r = kapi_get(s->kapi, GROUP_WORK, RES_WORKS, ns, name, &err, &obj)) < 0)
		return r == -ENOENT ? 0 : r;
	if (has_finalizer(obj) == on || (on && kobj_get_path(obj, "metadata.deletionTimestamp"))) {
		json_decref(obj);
		return 0;
	}
	fin = kobj_get_path(obj, "metadata.finalizers");
	nf = json_array();
	json_array_foreach(fin, i, x)
		if (!json_is_string(x) || strcmp(json_string_value(x), STREAM_FINALIZER))
			json_array_append(nf, x);
	if (on)
		json_array_append_new(nf, json_string(STREAM_FINALIZER));
	if (on) {
		patch = json_pack("{s:{s:o}}", "metadata", "finalizers", nf);
		r = kapi_patch(s->kapi, GROUP_WORK, RES_WORKS, ns, name, NULL, KAPI_PATCH_MERGE, patch,
			       &stream_opts, &err, NULL);
		json_decref(patch);
	} else {
		/* An update that empties the finalizers of a deleting object removes it. */
		json_object_set_new(json_object_get(obj, "metadata"), "finalizers", nf);
		r = kapi_update(s->kapi, GROUP_WORK, RES_WORKS, obj, &stream_opts, &err, NULL);
		if (r > 0)
			r = 0;
	}
	if (r < 0)
		log_error("manifestwork %s/%s: cannot %s the finalizer %s: %s", ns, name, on ? "add" : "remove",
			  STREAM_FINALIZER, err.msg);
	json_decref(obj);
	return r;
}

static bool cluster_exists(struct stream *s, const char *name)
{
	json_t *obj = NULL;
	int r = kapi_get(s->kapi, GROUP_CLUSTER, RES_CLUSTERS, NULL, name, NULL, &obj);

	json_decref(obj);
	return r == 0;
}

/* Called after the stored work changed: keep the finalizer on live works,
 * let deleting works of a cluster that does not exist go. */
static void work_tend(struct stream *s, const char *ns, const char *name, bool deleting, bool fin)
{
	if (!deleting && !fin)
		set_finalizer(s, ns, name, true);
	else if (deleting && fin && !cluster_exists(s, ns))
		set_finalizer(s, ns, name, false);
}

/* Spec events ------------------------------------------------------------------- */

/* See stream_int.h. */
struct httpd_ws_msg *stream_encode(struct proto_event *ev)
{
	struct errbuf err = {""};
	char *txt = NULL;
	size_t len = 0;
	int r = proto_event_encode(ev, &err, &txt, &len);

	if (r < 0) {
		log_error("stream: cannot encode a %s event for %s: %s", ev->type, ev->resourceid ? ev->resourceid : "",
			  err.msg);
		proto_event_free(ev);
		return NULL;
	}
	proto_event_free(ev);
	return httpd_ws_msg_take(txt, len);
}

/* The metadata extension: the work's metadata without managedFields and
 * kubectl's copy of the whole object, or nothing when still over the cap. */
static json_t *work_metadata(const json_t *obj)
{
	json_t *md = proto_work_metadata(obj), *ann;

	if (!md)
		return NULL;
	ann = json_object_get(md, "annotations");
	if (json_is_object(ann) && json_object_get(ann, STREAM_LAST_APPLIED)) {
		json_t *copy = json_copy(ann);

		json_object_del(copy, STREAM_LAST_APPLIED);
		json_object_set_new(md, "annotations", copy);
	}
	if (json_dumpb(md, NULL, 0, JSON_COMPACT) > proto_limits_default.max_metadata_bytes) {
		json_decref(md);
		return NULL;
	}
	return md;
}

/* The event for w: a spec of kind (create, update, resync response) with
 * its bundle, carrying deletiontimestamp when the work is being deleted; or
 * kind PROTO_EV_SPEC_DELETE without bundle. */
static struct httpd_ws_msg *encode_work(struct stream_work *w, enum proto_event_kind kind)
{
	struct proto_event *ev;
	json_t *bundle;

	if (kind == PROTO_EV_SPEC_DELETE) {
		ev = proto_event_new_spec_delete(kind, STREAM_SOURCE, w->cl->name, w->uid, w->gen,
						 w->deleting ? w->deletion_us : time_now_us());
	} else {
		bundle = proto_bundle_from_work_spec(json_object_get(w->obj, "spec"));
		ev = proto_event_new_spec(kind, STREAM_SOURCE, w->cl->name, w->uid, w->gen, bundle);
		json_decref(bundle);
		if (w->deleting) {
			ev->has_deletiontimestamp = true;
			ev->deletiontimestamp_us = w->deletion_us;
		}
	}
	ev->metadata = work_metadata(w->obj);
	return stream_encode(ev);
}

static void known_set(struct stream_conn *c, const char *uid, int64_t gen, bool deleting)
{
	json_object_set_new(c->known, uid, json_integer((json_int_t)gen * 2 + (deleting ? 1 : 0)));
}

/* See stream_int.h. */
int stream_conn_send(struct stream_conn *c, struct httpd_ws_msg *m, uint64_t tag)
{
	int r;

	if (!c->ws)
		return -ENOTCONN;
	r = httpd_ws_send(c->ws, m, tag);
	if (r == -ENOBUFS && !c->overflow) {
		c->overflow = true;
		c->overflow_ms = uv_now(hub_loop(c->s->hub));
		log_info("stream: cluster %s (%s): send queue full (%zu bytes queued); holding pushes back "
			 "until it drains", c->id.cluster, httpd_ws_conn_addr(c->ws), httpd_ws_queued_bytes(c->ws));
	}
	if (r == -ENOBUFS)
		c->s->m.spec_held++;
	return r;
}

/* Queue the event of kind for w on every ready connection of its cluster,
 * encoded once. */
static void push(struct stream *s, struct stream_work *w, enum proto_event_kind kind)
{
	struct httpd_ws_msg *m = NULL;
	struct stream_conn *c;

	for (c = w->cl->conns; c; c = c->cnext) {
		if (!c->ws || !c->hello_done || httpd_ws_closing(c->ws) || c->overflow)
			continue;
		if (!m && !(m = encode_work(w, kind)))
			return;
		if (stream_conn_send(c, m, w->tag) == 0) {
			s->m.spec_sent++;
			known_set(c, w->uid, w->gen, kind == PROTO_EV_SPEC_DELETE || w->deleting);
		}
	}
	httpd_ws_msg_unref(m);
}

/* A work that is gone from the hub: tell the connections that hold it. */
static void push_gone(struct stream *s, struct stream_work *w)
{
	struct httpd_ws_msg *m = NULL;
	struct stream_conn *c;

	for (c = w->cl->conns; c; c = c->cnext) {
		if (!c->ws || !c->hello_done || httpd_ws_closing(c->ws))
			continue;
		if (c->overflow) {
			/* the drain resync sends the delete (it is in c->known) */
			continue;
		}
		if (!m && !(m = encode_work(w, PROTO_EV_SPEC_DELETE)))
			return;
		if (stream_conn_send(c, m, w->tag) == 0) {
			s->m.spec_sent++;
			json_object_del(c->known, w->uid);
		}
	}
	httpd_ws_msg_unref(m);
}

/* Loading and changes -------------------------------------------------------------- */

struct load_ctx {
	struct stream *s;
	json_t *tend; /* [ns, name, deleting, has_finalizer] to write after the walk */
};

static int load_one(void *data, const json_t *obj)
{
	struct load_ctx *lc = data;
	const char *uid = kobj_uid(obj), *ns = kobj_namespace(obj), *name = kobj_name(obj);
	struct stream_work *w;

	if (!uid_ok(uid) || !ns || !name) {
		log_warn("manifestwork %s/%s: uid \"%s\" is not a lowercase UUID; it cannot be streamed",
			 ns ? ns : "?", name ? name : "?", uid ? uid : "");
		return 0;
	}
	w = work_add(lc->s, uid, obj);
	if ((!w->deleting && !w->has_finalizer) || (w->deleting && w->has_finalizer))
		json_array_append_new(lc->tend, json_pack("[s, s, b, b]", ns, name, w->deleting, w->has_finalizer));
	return 0;
}

/* See stream_int.h. */
int stream_works_load(struct stream *s, struct errbuf *err)
{
	struct load_ctx lc = {.s = s, .tend = json_array()};
	json_t *x;
	size_t i;
	int r;

	r = kapi_foreach(s->kapi, GROUP_WORK, RES_WORKS, NULL, load_one, &lc);
	if (r < 0) {
		json_decref(lc.tend);
		return errbuf_set(err, r, "cannot list ManifestWorks");
	}
	json_array_foreach(lc.tend, i, x)
		work_tend(s, json_string_value(json_array_get(x, 0)), json_string_value(json_array_get(x, 1)),
			  json_is_true(json_array_get(x, 2)), json_is_true(json_array_get(x, 3)));
	json_decref(lc.tend);
	log_info("stream: %zu ManifestWorks in %zu namespaces", s->nworks, s->nclusters);
	return 0;
}

/* See stream_int.h. */
void stream_works_change(struct stream *s, enum kapi_event_type type, const json_t *old_obj,
			 const json_t *new_obj)
{
	const json_t *obj = new_obj ? new_obj : old_obj;
	const char *uid = kobj_uid(obj), *ns = kobj_namespace(obj), *name = kobj_name(obj);
	struct stream_work *w;
	int64_t old_gen;
	bool was_deleting;

	if (!uid_ok(uid) || !ns || !name)
		return;
	w = stream_work_find(s, uid);
	if (type == KAPI_EVENT_DELETED) {
		if (!w)
			return;
		if (!w->agent_deleted)
			push_gone(s, w);
		work_remove(s, w);
		return;
	}
	if (!w) {
		w = work_add(s, uid, new_obj);
		push(s, w, w->deleting ? PROTO_EV_SPEC_DELETE : PROTO_EV_SPEC_CREATE);
	} else {
		old_gen = w->gen;
		was_deleting = w->deleting;
		work_fill(w, new_obj);
		if (w->deleting && !was_deleting)
			push(s, w, PROTO_EV_SPEC_DELETE);
		else if (!w->deleting && w->gen > old_gen)
			push(s, w, PROTO_EV_SPEC_UPDATE);
	}
	work_tend(s, ns, name, w->deleting, w->has_finalizer);
}

/* See stream_int.h. */
void stream_works_cluster_gone(struct stream *s, const char *cluster)
{
	struct stream_cluster *cl = stream_cluster_find(s, cluster);
	json_t *names = json_array(), *x;
	struct stream_work *w;
	size_t i;

	if (cl)
		for (w = cl->works; w; w = w->cnext)
			if (w->deleting && w->has_finalizer)
				json_array_append_new(names, json_string(w->name));
	/* set_finalizer's writes are delivered later: no walk is running then */
	json_array_foreach(names, i, x)
		set_finalizer(s, cluster, json_string_value(x), false);
	json_decref(names);
}

/* Resync ---------------------------------------------------------------------------- */

/* See stream_int.h. */
void stream_resync(struct stream *s, struct stream_conn *c, bool initial)
{
	struct stream_work *w;
	const char *uid;
	json_t *v, *gone = json_array(), *x;
	void *tmp;
	size_t i;

	c->overflow = false;
	for (w = c->cl->works; w; w = w->cnext) {
		json_t *k = json_object_get(c->known, w->uid);
		int64_t kv = json_integer_value(k);
		struct httpd_ws_msg *m;
		int r;

		if (w->deleting) {
			if (k && (kv & 1))
				continue;
		} else if (k && kv / 2 >= w->gen && !(kv & 1)) {
			continue;
		}
		m = encode_work(w, PROTO_EV_SPEC_RESYNC_RESPONSE);
		if (!m)
			continue;
		r = stream_conn_send(c, m, w->tag);
		httpd_ws_msg_unref(m);
		if (r < 0)
			goto out;
		s->m.spec_sent++;
		known_set(c, w->uid, w->gen, w->deleting);
	}
	json_object_foreach_safe(c->known, tmp, uid, v) {
		struct httpd_ws_msg *m;
		int r;

		w = stream_work_find(s, uid);
		if (w && w->cl == c->cl)
			continue;
		m = stream_encode(proto_event_new_spec_delete(
			initial ? PROTO_EV_SPEC_RESYNC_RESPONSE : PROTO_EV_SPEC_DELETE, STREAM_SOURCE, c->cl->name, uid,
			json_integer_value(v) / 2, time_now_us()));
		if (!m)
			continue;
		r = stream_conn_send(c, m, 0);
		httpd_ws_msg_unref(m);
		if (r < 0)
			goto out;
		s->m.spec_sent++;
		json_array_append_new(gone, json_string(uid));
	}
out:
	json_array_foreach(gone, i, x)
		json_object_del(c->known, json_string_value(x));
	json_decref(gone);
}

/* See stream_int.h. */
void stream_works_free(struct stream *s)
{
	for (size_t i = 0; i < s->wcap; i++) {
		struct stream_work *w, *n;

		for (w = s->wtab[i]; w; w = n) {
			n = w->hnext;
			json_decref(w->obj);
			free(w->name);
			free(w);
		}
	}
	free(s->wtab);
	s->wtab = NULL;
	s->wcap = s->nworks = 0;
	for (size_t i = 0; i < s->ccap; i++) {
		struct stream_cluster *cl, *n;

		for (cl = s->ctab[i]; cl; cl = n) {
			n = cl->hnext;
			free(cl->name);
			free(cl);
		}
	}
	free(s->ctab);
	s->ctab = NULL;
	s->ccap = s->nclusters = 0;
}
