/* apply.c - one reconcile round of a work: every manifest applied in OCM's
 * kind order by its update strategy.
 *
 * A round: ensure the AppliedManifestWork (its uid goes into every owner
 * reference), then manifest by manifest in rank order: map the kind through
 * discovery (a CRD created by an earlier manifest of the same work becomes
 * usable because a miss refreshes discovery), GET the live object, and write
 * it:
 *   Update          create, or PUT the manifest over the live object (labels,
 *                   annotations and owner references merged; status and
 *                   resourceVersion kept) unless it is unchanged: the
 *                   object-hash annotation equals the manifest's hash AND
 *                   every field of the manifest has the same value in the
 *                   live object (so a field edited on the spoke is put back,
 *                   while fields the server defaults never cause a write);
 *   CreateOnly      create when missing, never update;
 *   ServerSideApply server-side apply with the field manager (default
 *                   "work-agent") and force; ignoreFields keep the spoke's
 *                   value (OnSpokePresent: whenever the spoke has one;
 *                   OnSpokeChange: unless the work changed since the last
 *                   apply), unchanged objects are skipped as for Update;
 *   ReadOnly        GET only, for status feedback; never owned or collected.
 * Then gc.c collects what the work no longer holds and applied_work.c writes
 * the record; the round ends with the status (feedback.c).
 *
 * One request at a time per work (w->call), so the order holds without
 * bookkeeping; rounds repeat on every new generation and every recheck
 * period, which is what corrects drift.
 */
#include "engine_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "kobj.h"
#include "log.h"
#include "rollout_plan.h"
#include "timefmt.h"

/* ---------------------------------------------------------------------- */
/* kind order, hashes, comparison                                          */
/* ---------------------------------------------------------------------- */

struct kind_rank {
	const char *group;
	const char *kind;
	int rank;
};

static const struct kind_rank kind_ranks[] = {
	{"", "Namespace", 0},
	{"apiextensions.k8s.io", "CustomResourceDefinition", 0},
	{"scheduling.k8s.io", "PriorityClass", 0},
	{"storage.k8s.io", "StorageClass", 0},
	{"", "PersistentVolume", 0},
	{"rbac.authorization.k8s.io", "ClusterRole", 1},
	{"rbac.authorization.k8s.io", "ClusterRoleBinding", 1},
	{"rbac.authorization.k8s.io", "Role", 1},
	{"rbac.authorization.k8s.io", "RoleBinding", 1},
	{"", "ServiceAccount", 2},
	{"networking.k8s.io", "NetworkPolicy", 2},
	{"", "ResourceQuota", 2},
	{"", "LimitRange", 2},
	{"", "Secret", 3},
	{"", "ConfigMap", 3},
	{"", "PersistentVolumeClaim", 3},
	{"", "Service", 4},
	{"apps", "Deployment", 5},
	{"apps", "StatefulSet", 5},
	{"apps", "DaemonSet", 5},
	{"apps", "ReplicaSet", 5},
	{"", "ReplicationController", 5},
	{"", "Pod", 5},
	{"batch", "Job", 5},
	{"batch", "CronJob", 5},
	{"admissionregistration.k8s.io", "MutatingWebhookConfiguration", 6},
	{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration", 6},
	{"apiregistration.k8s.io", "APIService", 6},
};

#define RANK_UNKNOWN 7

int apply_kind_rank(const char *group, const char *kind)
{
	size_t i;

	if (!kind)
		return RANK_UNKNOWN;
	for (i = 0; i < sizeof(kind_ranks) / sizeof(kind_ranks[0]); i++) {
		if (!strcmp(kind_ranks[i].kind, kind) && !strcmp(kind_ranks[i].group, group ? group : ""))
			return kind_ranks[i].rank;
	}
	return RANK_UNKNOWN;
}

void apply_json_hash(const json_t *v, char *out)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	sha256_hex(s ? s : "", s ? strlen(s) : 0, out);
	free(s);
}

bool apply_json_subset(const json_t *want, const json_t *have)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_null(want))
		return !have || json_is_null(have);
	if (!have)
		return false;
	if (json_is_object(want)) {
		if (!json_is_object(have))
			return false;
		json_object_foreach((json_t *)want, k, v) {
			if (!apply_json_subset(v, json_object_get(have, k)))
				return false;
		}
		return true;
	}
	if (json_is_array(want)) {
		if (!json_is_array(have) || json_array_size(want) != json_array_size(have))
			return false;
		json_array_foreach(want, i, v) {
			if (!apply_json_subset(v, json_array_get(have, i)))
				return false;
		}
		return true;
	}
	if (json_is_number(want) && json_is_number(have))
		return json_number_value(want) == json_number_value(have);
	return json_equal((json_t *)want, (json_t *)have);
}

/* The part of a manifest the server must reflect: everything but status and
 * the server's metadata (labels and annotations stay). New reference. */
static json_t *compare_view(const json_t *obj)
{
	json_t *v = json_deep_copy(obj), *md, *keep;

	json_object_del(v, "status");
	md = json_object_get(v, "metadata");
	keep = json_object();
	if (json_object_get(md, "labels"))
		json_object_set(keep, "labels", json_object_get(md, "labels"));
	if (json_object_get(md, "annotations"))
		json_object_set(keep, "annotations", json_object_get(md, "annotations"));
	json_object_set_new(v, "metadata", keep);
	return v;
}

/* Remove what a client must not send (an exported object may carry it). */
static void strip_server_fields(json_t *o)
{
	json_t *md = json_object_get(o, "metadata");
	static const char *const fields[] = {"resourceVersion", "uid", "creationTimestamp",
					     "managedFields", "generation", "selfLink",
					     "deletionTimestamp", "deletionGracePeriodSeconds"};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		json_object_del(md, fields[i]);
	json_object_del(o, "status");
}

/* ---------------------------------------------------------------------- */
/* dotted paths (serverSideApply.ignoreFields)                             */
/* ---------------------------------------------------------------------- */

#define PATH_MAX_STEPS 32

/* Split ".a.b.c" (leading dot optional) into keys; only plain keys are
 * supported. Returns the number of keys, or -EINVAL. */
static int path_split(const char *path, char *buf, size_t bufsz, char **keys)
{
	int n = 0;
	char *p, *save = NULL;

	if (!path || strlen(path) >= bufsz || strpbrk(path, "[]*?@()'\"{}"))
		return -EINVAL;
	snprintf(buf, bufsz, "%s", path[0] == '.' ? path + 1 : path);
	if (!*buf)
		return -EINVAL;
	for (p = strtok_r(buf, ".", &save); p; p = strtok_r(NULL, ".", &save)) {
		if (n == PATH_MAX_STEPS)
			return -EINVAL;
		keys[n++] = p;
	}
	return n;
}

static json_t *path_get(const json_t *o, char **keys, int n)
{
	int i;

	for (i = 0; i < n && o; i++)
		o = json_object_get(o, keys[i]);
	return (json_t *)o;
}

static void path_set(json_t *o, char **keys, int n, json_t *value)
{
	int i;

	for (i = 0; i < n - 1; i++) {
		json_t *next = json_object_get(o, keys[i]);

		if (!json_is_object(next)) {
			next = json_object();
			json_object_set_new(o, keys[i], next);
		}
		o = next;
	}
	json_object_set(o, keys[n - 1], value);
}

/* Keep the spoke's values of the ignored fields in the configuration.
 * Returns 0 or -EINVAL with the path in *ret_bad. */
static int apply_ignore_fields(const struct manifest *m, json_t *config, const char **ret_bad)
{
	json_t *ignores = kobj_get_path(m->config, "updateStrategy.serverSideApply.ignoreFields");
	json_t *rule, *p;
	size_t i, j;
	bool unchanged_work;

	if (!m->live || !json_is_array(ignores))
		return 0;
	unchanged_work = kobj_annotation(m->live, WORK_ANN_OBJECT_HASH) &&
			 !strcmp(kobj_annotation(m->live, WORK_ANN_OBJECT_HASH), m->hash);
	json_array_foreach(ignores, i, rule) {
		const char *cond = json_string_value(json_object_get(rule, "condition"));
		bool on_present = cond && !strcmp(cond, "OnSpokePresent");

		json_array_foreach(json_object_get(rule, "jsonPaths"), j, p) {
			char buf[1100], *keys[PATH_MAX_STEPS];
			int n = path_split(json_string_value(p), buf, sizeof(buf), keys);
			json_t *spoke;

			if (n < 0) {
				*ret_bad = json_string_value(p);
				return -EINVAL;
			}
			spoke = path_get(m->live, keys, n);
			if (!spoke)
				continue;
			if (on_present || unchanged_work)
				path_set(config, keys, n, spoke);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* manifests and their configuration                                       */
/* ---------------------------------------------------------------------- */

static void manifest_reset_result(struct manifest *m)
{
	free(m->apply_reason);
	free(m->apply_msg);
	m->apply_reason = NULL;
	m->apply_msg = NULL;
}

void apply_free_manifests(struct work *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		manifest_reset_result(&w->m[i]);
		free(w->m[i].fetch_msg);
		json_decref(w->m[i].live);
	}
	free(w->m);
	free(w->order);
	w->m = NULL;
	w->order = NULL;
	w->n = 0;
	free(w->reject_msg);
	w->reject_msg = NULL;
}

void apply_build_manifests(struct work *w)
{
	json_t *manifests = json_object_get(w->bundle, "manifests");
	json_t *exec = json_object_get(w->bundle, "executor");
	size_t i, k = 0;
	int rank;

	w->n = json_array_size(manifests);
	w->m = w->n ? xcalloc(w->n, sizeof(*w->m)) : NULL;
	w->order = w->n ? xcalloc(w->n, sizeof(*w->order)) : NULL;
	for (i = 0; i < w->n; i++) {
		struct manifest *m = &w->m[i];
		char group[254], version[254];
		const char *av;

		m->ordinal = i;
		m->obj = json_array_get(manifests, i);
		av = kobj_api_version(m->obj);
		if (!av || kobj_split_api_version(av, group, version) < 0)
			group[0] = '\0';
		m->rank = apply_kind_rank(group, kobj_kind(m->obj));
		apply_json_hash(m->obj, m->hash);
		m->strategy = ENG_UPDATE;
		m->field_manager = w->e->field_manager;
	}
	for (rank = 0; rank <= RANK_UNKNOWN; rank++) {
		for (i = 0; i < w->n; i++) {
			if (w->m[i].rank == rank)
				w->order[k++] = i;
		}
	}
	if (json_is_object(exec) && json_object_size(exec)) {
		json_t *sa = kobj_get_path(exec, "subject.serviceAccount");

		w->reject_msg = xasprintf("spec.executor: applying as ServiceAccount %s/%s is not supported by this "
					  "agent (it would need impersonation and a permission check); nothing was applied",
					  eng_or(json_string_value(json_object_get(sa, "namespace")), "?"),
					  eng_or(json_string_value(json_object_get(sa, "name")), "?"));
	}
}

static bool id_field_matches(const json_t *ident, const char *field, const char *value)
{
	const char *want = json_string_value(json_object_get(ident, field));

	if (!want)
		want = "";
	if (!value)
		value = "";
	if (!strcmp(want, value))
		return true;
	return strchr(want, '*') && fnmatch(want, value, 0) == 0;
}

/* The manifestConfigs entry of a mapped manifest (the first that matches). */
static void manifest_find_config(struct work *w, struct manifest *m)
{
	json_t *configs = json_object_get(w->bundle, "manifestConfigs");
	json_t *c, *ident, *strat;
	const char *type, *fm;
	size_t i;

	m->config = NULL;
	m->strategy = ENG_UPDATE;
	m->field_manager = w->e->field_manager;
	m->force = false;
	json_array_foreach(configs, i, c) {
		ident = json_object_get(c, "resourceIdentifier");
		if (!id_field_matches(ident, "group", m->map.group) ||
		    strcmp(eng_or(json_string_value(json_object_get(ident, "resource")), ""), m->map.resource) ||
		    !id_field_matches(ident, "name", kobj_name(m->obj)) ||
		    !id_field_matches(ident, "namespace", m->map.namespaced ? kobj_namespace(m->obj) : ""))
			continue;
		m->config = c;
		break;
	}
	strat = json_object_get(m->config, "updateStrategy");
	type = json_string_value(json_object_get(strat, "type"));
	if (!type || !strcmp(type, "Update"))
		return;
	if (!strcmp(type, "CreateOnly"))
		m->strategy = ENG_CREATE_ONLY;
	else if (!strcmp(type, "ReadOnly"))
		m->strategy = ENG_READ_ONLY;
	else if (!strcmp(type, "ServerSideApply"))
		m->strategy = ENG_SSA;
	fm = json_string_value(kobj_get_path(strat, "serverSideApply.fieldManager"));
	if (fm && *fm)
		m->field_manager = fm;
	m->force = json_is_true(kobj_get_path(strat, "serverSideApply.force"));
}

void apply_add_owner(struct work *w, json_t *o)
{
	kobj_add_owner_ref(o, WORK_AMW_API_VERSION, WORK_AMW_KIND, w->amw_name, w->amw_uid, false);
}

/* ---------------------------------------------------------------------- */
/* the round                                                               */
/* ---------------------------------------------------------------------- */

static void next_manifest(struct work *w);
static void finish_round(struct work *w, int r);

static struct manifest *cur(struct work *w)
{
	return &w->m[w->order[w->cursor]];
}

static void manifest_fail(struct work *w, struct manifest *m, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void manifest_fail(struct work *w, struct manifest *m, const char *reason, const char *fmt, ...)
{
	va_list ap;
	char buf[ENG_MSG_MAX];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	manifest_reset_result(m);
	m->attempted = true;
	m->applied = false;
	m->apply_reason = xstrdup(reason);
	m->apply_msg = xstrdup(buf);
	w->round_errors++;
	log_warn("work %s: manifest %zu (%s %s): %s", w->name, m->ordinal, eng_or(kobj_kind(m->obj), "?"),
		 eng_or(kobj_name(m->obj), "?"), buf);
}

static void manifest_ok(struct manifest *m)
{
	manifest_reset_result(m);
	m->attempted = true;
	m->applied = true;
}

static void advance(struct work *w)
{
	w->cursor++;
	next_manifest(w);
}

static void set_live(struct manifest *m, json_t *obj)
{
	json_decref(m->live);
	m->live = obj ? json_incref(obj) : NULL;
	m->fetched = true;
	free(m->fetch_msg);
	m->fetch_msg = NULL;
}

static void manifest_ref(struct manifest *m, struct kref *ret_ref)
{
	kmapping_ref(&m->map, kobj_namespace(m->obj), kobj_name(m->obj), ret_ref);
}

static void on_written(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;
	struct manifest *m = cur(w);

	w->call = NULL;
	if (res->r == 0) {
		bool repair = w->substep == 1;

		set_live(m, res->body);
		manifest_ok(m);
		w->e->stats.applies++;
		if (repair) {
			w->e->stats.drift_repairs++;
			log_info("work %s: %s %s/%s changed on the spoke; put back", w->name, kobj_kind(m->obj),
				 eng_or(kobj_namespace(m->obj), ""), kobj_name(m->obj));
		}
	} else {
		char *msg = eng_err_text(res);

		eng_count_error(w->e);
		manifest_fail(w, m, "AppliedManifestFailed", "%s", msg);
		free(msg);
		/* a conflict means our view is stale: GET again next round */
	}
	advance(w);
}

/* Build the object to create, update or apply. New reference. */
static json_t *desired_object(struct work *w, struct manifest *m)
{
	json_t *o = json_deep_copy(m->obj);

	strip_server_fields(o);
	kobj_set_annotation(o, WORK_ANN_OBJECT_HASH, m->hash);
	apply_add_owner(w, o);
	return o;
}

/* The Update body: the manifest over the live object. */
static json_t *update_body(struct work *w, struct manifest *m)
{
	json_t *o = desired_object(w, m);
	json_t *md = kobj_metadata(o, true), *lmd = json_object_get(m->live, "metadata");
	json_t *refs, *ref, *v;
	const char *k;
	size_t i;

	json_object_set(md, "resourceVersion", json_object_get(lmd, "resourceVersion"));
	json_object_foreach(json_object_get(lmd, "labels"), k, v) {
		if (!kobj_label(o, k))
			kobj_set_label(o, k, eng_or(json_string_value(v), ""));
	}
	json_object_foreach(json_object_get(lmd, "annotations"), k, v) {
		if (!kobj_annotation(o, k))
			kobj_set_annotation(o, k, eng_or(json_string_value(v), ""));
	}
	refs = json_object_get(lmd, "ownerReferences");
	json_array_foreach(refs, i, ref) {
		const char *uid = json_string_value(json_object_get(ref, "uid"));

		if (uid && !kobj_has_owner_ref(o, uid)) {
			json_t *mine = json_object_get(md, "ownerReferences");

			json_array_append(mine, ref);
		}
	}
	if (!json_object_get(md, "finalizers") && json_object_get(lmd, "finalizers"))
		json_object_set(md, "finalizers", json_object_get(lmd, "finalizers"));
	if (json_object_get(m->live, "status"))
		json_object_set(o, "status", json_object_get(m->live, "status"));
	return o;
}

/* Whether the live object already is what the manifest (or config) says. */
static bool unchanged(struct work *w, struct manifest *m, const json_t *config)
{
	const char *h;
	json_t *view;
	bool same;

	if (!m->live)
		return false;
	h = kobj_annotation(m->live, WORK_ANN_OBJECT_HASH);
	if (!h || strcmp(h, m->hash) || !kobj_has_owner_ref(m->live, w->amw_uid))
		return false;
	view = compare_view(config ? config : m->obj);
	same = apply_json_subset(view, m->live);
	json_decref(view);
	return same;
}

static void write_manifest_as_is(struct work *w, struct manifest *m);

/* A workload a rollout controls is written with the rollout's fields pinned
 * (rollout.h), or not at all: the manifest is swapped for the pinned copy
 * for the (synchronous) building of the request. */
static void write_manifest(struct work *w, struct manifest *m)
{
	json_t *orig = m->obj, *pinned = NULL;

	switch (rollout_pin(w, m, &pinned)) {
	case ROLLOUT_PIN_SKIP:
		manifest_ok(m);
		w->e->stats.skips++;
		advance(w);
		return;
	case ROLLOUT_PIN_OBJECT:
		m->obj = pinned;
		write_manifest_as_is(w, m);
		m->obj = orig;
		json_decref(pinned);
		return;
	case ROLLOUT_PIN_NONE:
		break;
	}
	write_manifest_as_is(w, m);
}

static void write_manifest_as_is(struct work *w, struct manifest *m)
{
	struct kref ref;
	json_t *o = NULL;
	int r = 0;
	const char *h = m->live ? kobj_annotation(m->live, WORK_ANN_OBJECT_HASH) : NULL;

	/* a write of an object whose hash is current, or the recreation of one
	 * this generation had, is a repair of a change made on the spoke */
	w->substep = (h && !strcmp(h, m->hash)) || (!m->live && m->applied && m->attempted) ? 1 : 0;
	manifest_ref(m, &ref);
	switch (m->strategy) {
	case ENG_READ_ONLY:
		if (!m->live) {
			manifest_fail(w, m, "ResourceNotFound", "ReadOnly: %s %s not found on the spoke",
				      kobj_kind(m->obj), kobj_name(m->obj));
		} else {
			manifest_ok(m);
		}
		advance(w);
		return;
	case ENG_CREATE_ONLY:
		if (m->live) {
			manifest_ok(m);
			w->e->stats.skips++;
			advance(w);
			return;
		}
		o = desired_object(w, m);
		ref.name = NULL;
		r = kclient_create(w->e->kc, &ref, o, &(struct kclient_write_opts){ .field_manager = m->field_manager },
				   on_written, w, &w->call);
		break;
	case ENG_UPDATE:
		if (unchanged(w, m, NULL)) {
			manifest_ok(m);
			w->e->stats.skips++;
			advance(w);
			return;
		}
		if (!m->live) {
			o = desired_object(w, m);
			ref.name = NULL;
			r = kclient_create(w->e->kc, &ref, o,
					   &(struct kclient_write_opts){ .field_manager = m->field_manager },
					   on_written, w, &w->call);
		} else {
			o = update_body(w, m);
			r = kclient_update(w->e->kc, &ref, o,
					   &(struct kclient_write_opts){ .field_manager = m->field_manager },
					   on_written, w, &w->call);
		}
		break;
	case ENG_SSA: {
		const char *bad = NULL;

		o = desired_object(w, m);
		if (apply_ignore_fields(m, o, &bad) < 0) {
			manifest_fail(w, m, "UnsupportedFeature",
				      "updateStrategy.serverSideApply.ignoreFields: path %s: only dotted field "
				      "paths (.a.b.c) are supported", bad ? bad : "?");
			json_decref(o);
			advance(w);
			return;
		}
		if (unchanged(w, m, o)) {
			manifest_ok(m);
			w->e->stats.skips++;
			json_decref(o);
			advance(w);
			return;
		}
		r = kclient_apply(w->e->kc, &ref, o,
				  &(struct kclient_patch_opts){ .field_manager = m->field_manager, .force = m->force },
				  on_written, w, &w->call);
		break;
	}
	}
	json_decref(o);
	if (r < 0) {
		manifest_fail(w, m, "AppliedManifestFailed", "the request could not be made (%d)", r);
		advance(w);
	}
}

static void on_got(void *ud, const struct kclient_result *res)
{
	struct work *w = ud;
	struct manifest *m = cur(w);

	w->call = NULL;
	if (res->r == 0) {
		set_live(m, res->body);
	} else if (res->err && res->err->reason == KCLIENT_NOT_FOUND) {
		set_live(m, NULL);
	} else {
		char *msg = eng_err_text(res);

		eng_count_error(w->e);
		free(m->fetch_msg);
		m->fetch_msg = xstrdup(msg);
		m->fetched = false;
		manifest_fail(w, m, "AppliedManifestFailed", "reading the object: %s", msg);
		free(msg);
		advance(w);
		return;
	}
	if (m->complete) {
		/* a completed workload is left alone (condition rule Complete) */
		advance(w);
		return;
	}
	write_manifest(w, m);
}

static void do_get(struct work *w, struct manifest *m)
{
	struct kref ref;
	int r;

	manifest_ref(m, &ref);
	r = kclient_get(w->e->kc, &ref, on_got, w, &w->call);
	if (r < 0) {
		manifest_fail(w, m, "AppliedManifestFailed", "invalid object reference (%d)", r);
		advance(w);
	}
}

static void on_resolved(void *ud, int r, const struct kmapping *map, const struct kclient_error *err)
{
	struct work *w = ud;
	struct manifest *m = cur(w);

	w->wait = NULL;
	if (r < 0) {
		manifest_fail(w, m, r == -ENOENT ? "NoMatchingKind" : "DiscoveryFailed", "%s %s: %s",
			      kobj_api_version(m->obj), kobj_kind(m->obj),
			      err && err->message[0] ? err->message : "cannot map the kind to a resource");
		advance(w);
		return;
	}
	m->map = *map;
	m->mapped = true;
	manifest_find_config(w, m);
	if (m->map.namespaced && (!kobj_namespace(m->obj) || !*kobj_namespace(m->obj))) {
		manifest_fail(w, m, "AppliedManifestFailed",
			      "manifests[%zu].metadata.namespace: required for the namespaced kind %s", m->ordinal,
			      m->map.kind);
		advance(w);
		return;
	}
	do_get(w, m);
}

static void next_manifest(struct work *w)
{
	struct manifest *m;
	int r;

	if (w->cursor >= w->n) {
		gc_stale(w, finish_round);
		return;
	}
	m = cur(w);
	if (rollout_is_manifest(m->obj)) {
		/* executed by the agent (rollout.c), never sent to the API */
		rollout_apply_manifest(w, m);
		advance(w);
		return;
	}
	if (m->mapped) {
		do_get(w, m);
		return;
	}
	r = kdiscovery_resolve(w->e->kd, kobj_api_version(m->obj), kobj_kind(m->obj), on_resolved, w, &w->wait);
	if (r < 0) {
		manifest_fail(w, m, "NoMatchingKind", "apiVersion %s, kind %s: cannot be mapped (%d)",
			      eng_or(kobj_api_version(m->obj), "?"), eng_or(kobj_kind(m->obj), "?"), r);
		advance(w);
	}
}

static void after_record(struct work *w, int r)
{
	size_t i;

	if (r < 0) {
		for (i = 0; i < w->n; i++)
			manifest_fail(w, &w->m[i], "AppliedManifestFailed",
				      "the AppliedManifestWork %s could not be made (%d); retrying", w->amw_name, r);
		apply_round_done(w);
		return;
	}
	next_manifest(w);
}

static void after_sync(struct work *w, int r)
{
	if (r < 0)
		w->round_errors++;
	apply_round_done(w);
}

/* The manifests are done and garbage collected: write the record. */
static void finish_round(struct work *w, int r)
{
	if (r < 0)
		w->round_errors++;
	if (w->amw_known) {
		amw_sync(w, after_sync);
		return;
	}
	apply_round_done(w);
}

static void retry_fire(uv_timer_t *t)
{
	struct work *w = t->data;

	w->retry_armed = false;
	apply_reconcile(w);
}

void apply_round_done(struct work *w)
{
	char before[PROTO_STATUSHASH_LEN + 1];

	memcpy(before, w->hash, sizeof(before));
	feedback_compute(w);
	eng_plan_recheck(w, strcmp(before, w->hash) != 0);
	eng_status_changed(w);
	w->phase = WORK_IDLE;
	w->rechecking = false;
	w->last_round_us = time_mono_us();
	if (w->delete_requested) {
		w->delete_requested = false;
		gc_delete_work(w);
		return;
	}
	if (w->dirty || w->pending_bundle) {
		apply_reconcile(w);
		return;
	}
	if (w->round_errors) {
		uint64_t ms = backoff_next(&w->backoff);

		w->retry_armed = true;
		eng_work_timer(w, ms, retry_fire);
		return;
	}
	backoff_reset(&w->backoff);
}

static void round_begin_fire(uv_timer_t *t)
{
	struct work *w = t->data;

	if (w->pending_bundle) {
		json_t *b = w->pending_bundle;

		w->pending_bundle = NULL;
		eng_work_set_bundle(w, b, w->pending_generation);
	}
	w->dirty = false;
	w->cursor = 0;
	w->round_errors = 0;
	if (!w->bundle) {
		/* a restored or foreign record: only its eviction mark to write */
		finish_round(w, 0);
		return;
	}
	if (w->reject_msg) {
		log_warn("work %s: %s", w->name, w->reject_msg);
		apply_round_done(w);
		return;
	}
	amw_ensure(w, after_record);
}

void apply_reconcile(struct work *w)
{
	if (w->phase != WORK_IDLE) {
		w->dirty = true;
		return;
	}
	if ((!w->bundle && !w->pending_bundle && !w->eviction_start_us) || !w->e->ready)
		return;
	w->retry_armed = false;
	w->phase = WORK_ROUND;
	eng_work_timer(w, 0, round_begin_fire);
}
