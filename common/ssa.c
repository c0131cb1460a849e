/* ssa.c - server-side apply and managedFields, as kube-apiserver does them.
 *
 * Every write records who set which field in metadata.managedFields: one
 * entry per (manager, operation, subresource, and for updates apiVersion),
 * with the manager's field set as FieldsV1 (ssa_fieldset.c). The algorithms
 * are those of sigs.k8s.io/structured-merge-diff's merge.Updater and of the
 * apiserver's field manager chain around it:
 *
 *  - Update (ssa_record_update): compare old and new object; the fields
 *    added or changed become the writer's and are taken from every other
 *    manager; removed fields leave every manager.
 *  - Apply (ssa_apply): merge the applied configuration into the live object
 *    (associative lists by key, sets by value, atomic values whole); the
 *    manager's new set is the configuration's field set; fields it set last
 *    time and omits now are removed unless another manager (or its new
 *    configuration) owns them; then, as for an update, fields that change
 *    and belong to another manager are conflicts (-EBUSY) unless force, which
 *    takes them over. Setting a field to the value it has is no conflict: the
 *    field is then shared.
 *  - Around it: an object without managedFields gets a "before-first-apply"
 *    manager on its first apply; kubectl's own apply ("kubectl") may take
 *    fields over from client-side apply while they still match the
 *    last-applied-configuration annotation, which it then keeps in sync;
 *    an update may set managedFields itself ([] or [{}] resets them); at most
 *    SSA_MAX_UPDATERS update entries are kept, older ones merge into
 *    "ancient-changes".
 *  - apiVersion, kind, metadata.name/namespace/uid/resourceVersion/generation/
 *    creationTimestamp/selfLink/managedFields are never owned (and so never
 *    removed); status is not tracked for the main resource, only status for
 *    the status subresource.
 *
 * The schema (which lists are keyed by what) comes from patch_schema.c;
 * custom resources get structured-merge-diff's deduced schema (objects are
 * maps, lists atomic). Known differences from Kubernetes: no conversion
 * between API versions (managers are compared in the version given); on
 * create, updates are compared with {} rather than the typed zero object, so
 * top-level structs (spec) carry a "." in the creator's FieldsV1 where
 * Kubernetes' do not (ownership and conflicts are the same); Update managers
 * dropped by the cap merge into one "ancient-changes" entry per apiVersion.
 *
 * Limits: the applied configuration nests at most PATCH_MAX_DEPTH levels,
 * objects PATCH_MAX_OBJECT_DEPTH; managedFields are read only when they hold
 * at most SSA_MAX_ENTRIES entries; manager names are at most SSA_MANAGER_MAX
 * bytes. Pure: no state, no I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "patch.h"
#include "patch_int.h"

#define SSA_MAX_UPDATERS 10
#define SSA_MAX_ENTRIES 1000
#define SSA_MANAGER_MAX 128
#define SSA_LAST_APPLIED_MAX (256 * 1024)
#define SSA_MESSAGE_MAX (64 * 1024)

#define OP_APPLY "Apply"
#define OP_UPDATE "Update"
#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"
#define BEFORE_FIRST_APPLY "before-first-apply"
#define ANCIENT_CHANGES "ancient-changes"

/* ---- managers ---- */

struct ssa_manager {
	char *manager;      /* owned */
	char *operation;    /* owned: OP_APPLY or OP_UPDATE */
	char *api_version;  /* owned; "" when unknown */
	char *subresource;  /* owned; "" for the main resource */
	char *time;         /* owned; NULL when none */
	json_t *set;        /* owned field set */
};

struct ssa_managers {
	struct ssa_manager *v;  /* owned array */
	size_t n;
};

static void managers_free(struct ssa_managers *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].manager);
		free(m->v[i].operation);
		free(m->v[i].api_version);
		free(m->v[i].subresource);
		free(m->v[i].time);
		json_decref(m->v[i].set);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static bool same_id(const struct ssa_manager *e, const char *manager, const char *op,
		    const char *api_version, const char *subresource)
{
	if (strcmp(e->manager, manager) || strcmp(e->operation, op) ||
	    strcmp(e->subresource, subresource ? subresource : ""))
		return false;
	/* appliers are one manager whatever version they applied */
	return strcmp(op, OP_APPLY) == 0 || strcmp(e->api_version, api_version ? api_version : "") == 0;
}

static struct ssa_manager *managers_find(struct ssa_managers *m, const char *manager, const char *op,
					 const char *api_version, const char *subresource)
{
	for (size_t i = 0; i < m->n; i++)
		if (same_id(&m->v[i], manager, op, api_version, subresource))
			return &m->v[i];
	return NULL;
}

/* Add an entry (which must not exist yet) with an empty set. */
static struct ssa_manager *managers_add(struct ssa_managers *m, const char *manager, const char *op,
					const char *api_version, const char *subresource,
					const char *time)
{
	struct ssa_manager *e;

	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	e = &m->v[m->n++];
	e->manager = xstrdup(manager);
	e->operation = xstrdup(op);
	e->api_version = xstrdup(api_version ? api_version : "");
	e->subresource = xstrdup(subresource ? subresource : "");
	e->time = time ? xstrdup(time) : NULL;
	e->set = ssa_fs_new();
	return e;
}

static void managers_drop_empty(struct ssa_managers *m)
{
	size_t o = 0;

	for (size_t i = 0; i < m->n; i++) {
		ssa_fs_prune(m->v[i].set);
		if (ssa_fs_empty(m->v[i].set)) {
			struct ssa_managers one = { .v = xmalloc(sizeof(*m->v)), .n = 1 };

			one.v[0] = m->v[i];
			managers_free(&one);
			continue;
		}
		m->v[o++] = m->v[i];
	}
	m->n = o;
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : def;
}

/* Whether managedFields asks for a reset: [] or [{}]. */
static bool is_reset(const json_t *mf)
{
	if (!json_is_array(mf))
		return false;
	if (json_array_size(mf) == 0)
		return true;
	return json_array_size(mf) == 1 && json_is_object(json_array_get(mf, 0)) &&
	       json_object_size(json_array_get(mf, 0)) == 0;
}

/* Read metadata.managedFields of obj. Absent or null gives no managers. */
static int managers_decode(const json_t *obj, struct errbuf *err, struct ssa_managers *ret)
{
	const json_t *md = json_object_get(obj, "metadata");
	const json_t *mf = json_is_object(md) ? json_object_get(md, "managedFields") : NULL;
	struct ssa_managers m = { 0 };
	json_t *e;
	size_t i;
	int r = 0;

	if (!mf || json_is_null(mf))
		goto out;
	if (!json_is_array(mf)) {
		r = errbuf_set(err, -EINVAL, "metadata.managedFields: expected a list");
		goto out;
	}
	if (json_array_size(mf) > SSA_MAX_ENTRIES) {
		r = errbuf_set(err, -E2BIG, "metadata.managedFields: more than %d entries", SSA_MAX_ENTRIES);
		goto out;
	}
	json_array_foreach(mf, i, e) {
		const char *manager = str_or(e, "manager", ""), *op = str_or(e, "operation", "");
		const char *av = str_or(e, "apiVersion", ""), *sub = str_or(e, "subresource", "");
		const char *ft = str_or(e, "fieldsType", "");
		const json_t *v1 = json_object_get(e, "fieldsV1");
		struct ssa_manager *x;
		json_t *set = NULL;

		if (!json_is_object(e)) {
			r = errbuf_set(err, -EINVAL, "metadata.managedFields[%zu]: expected an object", i);
			goto out;
		}
		if (strcmp(op, OP_APPLY) != 0 && strcmp(op, OP_UPDATE) != 0) {
			r = errbuf_set(err, -EINVAL, "metadata.managedFields[%zu].operation: must be Apply or Update", i);
			goto out;
		}
		if (strcmp(ft, "FieldsV1") != 0) {
			r = errbuf_set(err, -EINVAL, "metadata.managedFields[%zu].fieldsType: must be FieldsV1", i);
			goto out;
		}
		if (v1 && !json_is_null(v1)) {
			r = ssa_fs_decode(v1, err, &set);
			if (r < 0) {
				errbuf_prefix(err, "metadata.managedFields[%zu]", i);
				goto out;
			}
		} else {
			set = ssa_fs_new();
		}
		/* a repeated identity replaces the earlier entry, as Go's map does */
		x = managers_find(&m, manager, op, av, sub);
		if (!x)
			x = managers_add(&m, manager, op, av, sub, NULL);
		free(x->api_version);
		x->api_version = xstrdup(av);
		free(x->time);
		x->time = json_is_string(json_object_get(e, "time")) ? xstrdup(str_or(e, "time", "")) : NULL;
		json_decref(x->set);
		x->set = set;
	}
out:
	if (r < 0)
		managers_free(&m);
	else
		*ret = m;
	return r;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct ssa_manager *p = a, *q = b;
	int c = strcmp(p->operation, q->operation);

	if (c)
		return c;
	c = strcmp(p->time ? p->time : "", q->time ? q->time : "");
	if (c)
		return c;
	c = strcmp(p->manager, q->manager);
	if (c)
		return c;
	c = strcmp(p->api_version, q->api_version);
	return c ? c : strcmp(p->subresource, q->subresource);
}

/* Write the managers into obj's metadata.managedFields (removed when none). */
static void managers_encode(struct ssa_managers *m, json_t *obj)
{
	json_t *md = json_object_get(obj, "metadata"), *arr;

	if (!json_is_object(md)) {
		if (m->n == 0)
			return;
		md = json_object();
		json_object_set_new(obj, "metadata", md);
	}
	if (m->n == 0) {
		json_object_del(md, "managedFields");
		return;
	}
	qsort(m->v, m->n, sizeof(*m->v), entry_cmp);
	arr = json_array();
	for (size_t i = 0; i < m->n; i++) {
		const struct ssa_manager *e = &m->v[i];
		json_t *o = json_object();

		json_object_set_new(o, "manager", json_string(e->manager));
		json_object_set_new(o, "operation", json_string(e->operation));
		json_object_set_new(o, "apiVersion", json_string(e->api_version));
		if (e->time)
			json_object_set_new(o, "time", json_string(e->time));
		json_object_set_new(o, "fieldsType", json_string("FieldsV1"));
		json_object_set_new(o, "fieldsV1", ssa_fs_encode(e->set));
		if (e->subresource[0])
			json_object_set_new(o, "subresource", json_string(e->subresource));
		json_array_append_new(arr, o);
	}
	json_object_set_new(md, "managedFields", arr);
}

/* Fields nobody owns (stripMeta): drop them from every set. */
static void strip_meta(json_t *set)
{
	static const char *const meta[] = { "f:name", "f:namespace", "f:creationTimestamp",
					    "f:selfLink", "f:uid", "f:clusterName", "f:generation",
					    "f:managedFields", "f:resourceVersion", NULL };
	json_t *md = json_object_get(set, "f:metadata");

	json_object_del(set, "f:apiVersion");
	json_object_del(set, "f:kind");
	if (md) {
		json_object_del(md, ".");
		for (size_t i = 0; meta[i]; i++)
			json_object_del(md, meta[i]);
	}
	ssa_fs_prune(set);
}

/* Keep only what the operation may own: status for the status subresource,
 * everything but status otherwise. */
static void filter_ignored(json_t *set, const char *subresource)
{
	if (subresource && strcmp(subresource, "status") == 0) {
		json_t *st = json_incref(json_object_get(set, "f:status"));

		json_object_clear(set);
		if (st)
			json_object_set_new(set, "f:status", st);
	} else {
		json_object_del(set, "f:status");
	}
}

/* At most SSA_MAX_UPDATERS update entries: merge the oldest into buckets. */
static void cap_updaters(struct ssa_managers *m)
{
	for (;;) {
		size_t count = 0, oldest = m->n;

		for (size_t i = 0; i < m->n; i++) {
			struct ssa_manager *e = &m->v[i];

			if (strcmp(e->operation, OP_UPDATE) != 0 || strcmp(e->manager, ANCIENT_CHANGES) == 0)
				continue;
			count++;
			if (oldest == m->n || strcmp(e->time ? e->time : "",
						     m->v[oldest].time ? m->v[oldest].time : "") < 0)
				oldest = i;
		}
		for (size_t i = 0; i < m->n; i++)
			if (strcmp(m->v[i].operation, OP_UPDATE) == 0 &&
			    strcmp(m->v[i].manager, ANCIENT_CHANGES) == 0)
				count++;
		if (count <= SSA_MAX_UPDATERS || oldest == m->n)
			return;
		struct ssa_manager *o = &m->v[oldest];
		char *av = xstrdup(o->api_version), *tm = o->time ? xstrdup(o->time) : NULL;
		json_t *set = json_incref(o->set);
		struct ssa_manager *bucket;

		/* empty the oldest; managers_drop_empty removes it */
		json_decref(o->set);
		o->set = ssa_fs_new();
		managers_drop_empty(m);
		bucket = managers_find(m, ANCIENT_CHANGES, OP_UPDATE, av, "");
		if (!bucket)
			bucket = managers_add(m, ANCIENT_CHANGES, OP_UPDATE, av, "", NULL);
		ssa_fs_union(bucket->set, set);
		free(bucket->time);
		bucket->time = tm;
		json_decref(set);
		free(av);
	}
}

/* ---- walking objects with a schema ---- */

/* The path being walked: path elements kept NUL-separated in one growing
 * arena (no allocation per step once it has grown). */
struct walk {
	struct buf arena;                          /* owned; capped */
	size_t off[PATCH_MAX_OBJECT_DEPTH + 2];    /* start of each element in arena */
	size_t depth;
	struct errbuf *err;
};

#define WALK_ARENA_MAX (PATCH_MAX_OBJECT_DEPTH * 8192)

static const char *walk_pe(const struct walk *w, size_t i)
{
	return w->arena.data + w->off[i];
}

static int push_parts(struct walk *w, const char *a, const char *b)
{
	size_t start = w->arena.len;

	if (w->depth >= PATCH_MAX_OBJECT_DEPTH)
		return errbuf_set(w->err, -E2BIG, "object nested deeper than %d levels",
				  PATCH_MAX_OBJECT_DEPTH);
	if (w->arena.max == 0)
		buf_init(&w->arena, WALK_ARENA_MAX);
	if (buf_puts(&w->arena, a) < 0 || buf_append(&w->arena, b, strlen(b) + 1) < 0) {
		w->arena.len = start;
		return errbuf_set(w->err, -E2BIG, "path too long");
	}
	w->off[w->depth++] = start;
	return 0;
}

/* Push a path element string / a field name. */
static int push(struct walk *w, const char *pe)
{
	return push_parts(w, "", pe);
}

static int push_field(struct walk *w, const char *name)
{
	return push_parts(w, "f:", name);
}

static void pop(struct walk *w)
{
	w->arena.len = w->off[--w->depth];
}

static void walk_clear(struct walk *w)
{
	w->depth = 0;
	w->arena.len = 0;
}

static void walk_free(struct walk *w)
{
	buf_free(&w->arena);
	w->depth = 0;
}

/* Insert the current path into set. */
static void insert(json_t *set, const struct walk *w)
{
	json_t *node = set;

	for (size_t i = 0; i < w->depth; i++)
		node = ssa_fs_child(node, walk_pe(w, i), true);
	ssa_fs_mark(node);
}

/* Message prefixed with the printed current path. */
static int walk_error(struct walk *w, int code)
{
	struct buf b;

	buf_init(&b, ERRBUF_MAX);
	for (size_t i = 0; i < w->depth; i++)
		ssa_fs_pe_print(&b, walk_pe(w, i));
	if (b.len)
		errbuf_prefix(w->err, "%s", b.data);
	buf_free(&b);
	return code;
}

/* Path element of a list item of schema s (walked as kind). NULL on error. */
static char *item_pe(struct walk *w, const json_t *item, const struct patch_schema *s,
		     enum patch_walk kind)
{
	char *pe;

	if (kind == PATCH_WALK_LIST_MAP)
		return ssa_fs_pe_key(item, s->keys, s->key_defaults, w->err);
	if (json_is_object(item) || json_is_array(item)) {
		errbuf_set(w->err, -EINVAL, "associative list without keys has an element that's a %s",
			   json_is_object(item) ? "map type" : "list type");
		return NULL;
	}
	pe = ssa_fs_pe_value(item);
	if (!pe)
		errbuf_set(w->err, -E2BIG, "set item too long");
	return pe;
}

/* Index the items of list: pes[i] (owned strings) and a map pe -> index of
 * the first occurrence (dup set when one repeats). */
struct list_index {
	char **pes;      /* owned, n entries */
	size_t n;
	json_t *first;   /* pe -> integer index */
	json_t *dups;    /* pe -> true */
};

static void list_index_free(struct list_index *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->pes[i]);
	free(x->pes);
	json_decref(x->first);
	json_decref(x->dups);
	memset(x, 0, sizeof(*x));
}

static int list_index(struct walk *w, const json_t *list, const struct patch_schema *s,
		      enum patch_walk kind, bool allow_dups, struct list_index *ret)
{
	struct list_index x = { .first = json_object(), .dups = json_object() };
	size_t i;
	json_t *item;

	x.pes = xcalloc(json_array_size(list) ? json_array_size(list) : 1, sizeof(*x.pes));
	json_array_foreach(list, i, item) {
		char *pe = item_pe(w, item, s, kind);

		if (!pe) {
			list_index_free(&x);
			errbuf_prefix(w->err, "[%zu]", i);
			return walk_error(w, -EINVAL);
		}
		if (json_object_get(x.first, pe)) {
			if (!allow_dups) {
				struct buf b;

				buf_init(&b, 512);
				ssa_fs_pe_print(&b, pe);
				errbuf_set(w->err, -EINVAL, "duplicate entries for key %s", b.data ? b.data : "");
				buf_free(&b);
				free(pe);
				list_index_free(&x);
				return walk_error(w, -EINVAL);
			}
			json_object_set_new(x.dups, pe, json_true());
		} else {
			json_object_set_new(x.first, pe, json_integer((json_int_t)i));
		}
		x.pes[x.n++] = pe;
	}
	*ret = x;
	return 0;
}

static long index_of(const struct list_index *x, const char *pe)
{
	json_t *v = json_object_get(x->first, pe);

	return v ? (long)json_integer_value(v) : -1;
}

/* ToFieldSet: the set of fields value v (of schema s) sets, into set. */
static int to_field_set(struct walk *w, const json_t *v, const struct patch_schema *s, json_t *set)
{
	enum patch_walk kind = patch_schema_walk(s, v);
	const char *k;
	json_t *cv;
	size_t i;
	int r = 0;

	switch (kind) {
	case PATCH_WALK_LEAF:
		insert(set, w);
		return 0;
	case PATCH_WALK_STRUCT:
	case PATCH_WALK_MAP:
		json_object_foreach((json_t *)v, k, cv) {
			bool named;
			const struct patch_schema *fs = patch_schema_field(s, k, &named);

			r = push_field(w, k);
			if (r < 0)
				return r;
			r = to_field_set(w, cv, fs, set);
			/* null and {} own their field; so does every key of a map */
			if (r == 0 && (json_is_null(cv) || !named ||
				       (json_is_object(cv) && json_object_size(cv) == 0)))
				insert(set, w);
			pop(w);
			if (r < 0)
				return r;
		}
		return 0;
	case PATCH_WALK_LIST_MAP:
	case PATCH_WALK_LIST_SET: {
		struct list_index x;
		const struct patch_schema *es = patch_schema_elem(s);

		r = list_index(w, v, s, kind, true, &x);
		if (r < 0)
			return r;
		json_array_foreach(v, i, cv) {
			bool dup = json_object_get(x.dups, x.pes[i]) != NULL;

			if (dup && index_of(&x, x.pes[i]) != (long)i)
				continue;
			r = push(w, x.pes[i]);
			if (r < 0)
				break;
			if (!dup && kind == PATCH_WALK_LIST_MAP)
				r = to_field_set(w, cv, es, set);
			insert(set, w);
			pop(w);
			if (r < 0)
				break;
		}
		list_index_free(&x);
		return r;
	}
	}
	return 0;
}

struct comparison {
	json_t *added, *modified, *removed;   /* owned sets */
};

static void comparison_free(struct comparison *c)
{
	json_decref(c->added);
	json_decref(c->modified);
	json_decref(c->removed);
}

static bool empty_container(const json_t *v)
{
	return !v || (json_is_object(v) && json_object_size(v) == 0) ||
	       (json_is_array(v) && json_array_size(v) == 0) || json_is_null(v);
}

/* Compare l and r (either may be NULL: absent) of schema s. */
static int compare(struct walk *w, const json_t *l, const json_t *r, const struct patch_schema *s,
		   struct comparison *c)
{
	enum patch_walk wl = l ? patch_schema_walk(s, l) : PATCH_WALK_LEAF;
	enum patch_walk wr = r ? patch_schema_walk(s, r) : PATCH_WALK_LEAF;
	enum patch_walk kind = l ? wl : wr;
	int rc = 0;

	if ((l && r && wl != wr) || kind == PATCH_WALK_LEAF ||
	    (empty_container(l) && empty_container(r))) {
		if (!l)
			insert(c->added, w);
		else if (!r)
			insert(c->removed, w);
		else if (!patch_json_equal(l, r))
			insert(c->modified, w);
		return 0;
	}
	if (kind == PATCH_WALK_STRUCT || kind == PATCH_WALK_MAP) {
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)(l ? l : r), k, v) {
			const struct patch_schema *fs = patch_schema_field(s, k, NULL);

			rc = push_field(w, k);
			if (rc < 0)
				return rc;
			rc = l ? compare(w, v, json_object_get(r, k), fs, c)
			       : compare(w, NULL, v, fs, c);
			pop(w);
			if (rc < 0)
				return rc;
		}
		if (l && r) {
			json_object_foreach((json_t *)r, k, v) {
				if (json_object_get(l, k))
					continue;
				rc = push_field(w, k);
				if (rc < 0)
					return rc;
				rc = compare(w, NULL, v, patch_schema_field(s, k, NULL), c);
				pop(w);
				if (rc < 0)
					return rc;
			}
		}
	} else {
		struct list_index li = { 0 }, ri = { 0 };
		const struct patch_schema *es = patch_schema_elem(s);
		size_t i;

		if (l)
			rc = list_index(w, l, s, kind, true, &li);
		if (rc == 0 && r)
			rc = list_index(w, r, s, kind, true, &ri);
		for (i = 0; rc == 0 && i < ri.n; i++) {
			long at = l ? index_of(&li, ri.pes[i]) : -1;

			if (index_of(&ri, ri.pes[i]) != (long)i)
				continue;
			rc = push(w, ri.pes[i]);
			if (rc < 0)
				break;
			rc = compare(w, at >= 0 ? json_array_get(l, (size_t)at) : NULL,
				     json_array_get(r, i), es, c);
			pop(w);
		}
		for (i = 0; rc == 0 && i < li.n; i++) {
			if (index_of(&li, li.pes[i]) != (long)i || (r && index_of(&ri, li.pes[i]) >= 0))
				continue;
			rc = push(w, li.pes[i]);
			if (rc < 0)
				break;
			rc = compare(w, json_array_get(l, i), NULL, es, c);
			pop(w);
		}
		list_index_free(&li);
		list_index_free(&ri);
		if (rc < 0)
			return rc;
	}
	if (!l)
		insert(c->added, w);
	else if (!r)
		insert(c->removed, w);
	return 0;
}

static int compare_objects(struct walk *w, const json_t *l, const json_t *r,
			   const struct patch_schema *s, struct comparison *ret)
{
	struct comparison c = { ssa_fs_new(), ssa_fs_new(), ssa_fs_new() };
	int rc = compare(w, l, r, s, &c);

	walk_clear(w);
	if (rc < 0) {
		comparison_free(&c);
		return rc;
	}
	ssa_fs_prune(c.added);
	ssa_fs_prune(c.modified);
	ssa_fs_prune(c.removed);
	*ret = c;
	return 0;
}

/* Merge: the applied configuration r over the live value l (a reference
 * taken over; NULL when absent). */
static int merge(struct walk *w, json_t *l, const json_t *r, const struct patch_schema *s,
		 json_t **ret)
{
	enum patch_walk wr = patch_schema_walk(s, r);
	enum patch_walk wl = l ? patch_schema_walk(s, l) : wr;
	const char *k;
	json_t *v;
	int rc = 0;

	if (wr == PATCH_WALK_LEAF || wl != wr) {
		json_decref(l);
		if (wr == PATCH_WALK_LEAF) {
			*ret = json_deep_copy(r);
			return 0;
		}
		l = NULL;
	}
	if (wr == PATCH_WALK_STRUCT || wr == PATCH_WALK_MAP) {
		if (!l)
			l = json_object();
		json_object_foreach((json_t *)r, k, v) {
			const struct patch_schema *fs = patch_schema_field(s, k, NULL);
			json_t *cur = json_object_get(l, k), *res;

			if (json_is_null(v)) {
				/* null keeps a non-empty granular value, else clears the field */
				if (!(cur && !empty_container(cur) &&
				      patch_schema_walk(fs, cur) != PATCH_WALK_LEAF))
					json_object_del(l, k);
				continue;
			}
			rc = push_field(w, k);
			if (rc < 0)
				break;
			rc = merge(w, json_incref(cur), v, fs, &res);
			pop(w);
			if (rc < 0)
				break;
			json_object_set_new(l, k, res);
		}
		if (rc < 0) {
			json_decref(l);
			return rc;
		}
		*ret = l;
		return 0;
	}

	/* lists: structured-merge-diff's order (rhs order, lhs-only items kept in place) */
	struct list_index li = { 0 }, ri = { 0 };
	const struct patch_schema *es = patch_schema_elem(s);
	json_t *out = json_array(), *merged_rhs = json_object(), *item;
	json_t *shared = json_array();
	size_t lI = 0, rI = 0, si = 0, ln, rn;
	const char *next_shared = NULL;

	if (!l)
		l = json_array();
	rc = list_index(w, r, s, wr, false, &ri);
	if (rc == 0)
		rc = list_index(w, l, s, wr, true, &li);
	if (rc < 0)
		goto list_out;
	for (size_t i = 0; i < ri.n; i++)
		if (index_of(&li, ri.pes[i]) >= 0)
			json_array_append_new(shared, json_string(ri.pes[i]));
	if (si < json_array_size(shared))
		next_shared = json_string_value(json_array_get(shared, si++));
	ln = li.n;
	rn = ri.n;
	while (rc == 0 && (lI < ln || rI < rn)) {
		if (lI < ln && rI < rn) {
			const char *pe = li.pes[lI];

			if (strcmp(pe, ri.pes[rI]) == 0) {
				bool dup = json_object_get(li.dups, pe) != NULL;

				json_object_set_new(merged_rhs, pe, json_true());
				rc = push(w, pe);
				if (rc == 0) {
					rc = merge(w, dup ? NULL : json_incref(json_array_get(l, lI)),
						   json_array_get(r, rI), es, &item);
					pop(w);
				}
				if (rc == 0)
					json_array_append_new(out, item);
				lI++;
				rI++;
				next_shared = si < json_array_size(shared) ?
					json_string_value(json_array_get(shared, si++)) : NULL;
				continue;
			}
			if (index_of(&ri, pe) >= 0 && next_shared && strcmp(next_shared, pe) != 0) {
				lI++;
				continue;
			}
		}
		if (lI < ln) {
			const char *pe = li.pes[lI];

			if (index_of(&ri, pe) < 0) {
				json_array_append(out, json_array_get(l, lI));
				lI++;
				continue;
			} else if (json_object_get(merged_rhs, pe)) {
				lI++;
			}
		}
		if (rI < rn) {
			const char *pe = ri.pes[rI];
			long at = index_of(&li, pe);
			bool dup = json_object_get(li.dups, pe) != NULL;

			json_object_set_new(merged_rhs, pe, json_true());
			rc = push(w, pe);
			if (rc == 0) {
				rc = merge(w, at >= 0 && !dup ? json_incref(json_array_get(l, (size_t)at)) : NULL,
					   json_array_get(r, rI), es, &item);
				pop(w);
			}
			if (rc == 0)
				json_array_append_new(out, item);
			rI++;
			if (next_shared && strcmp(next_shared, pe) == 0)
				next_shared = si < json_array_size(shared) ?
					json_string_value(json_array_get(shared, si++)) : NULL;
		}
	}
list_out:
	list_index_free(&li);
	list_index_free(&ri);
	json_decref(merged_rhs);
	json_decref(shared);
	json_decref(l);
	if (rc < 0) {
		json_decref(out);
		return rc;
	}
	*ret = out;
	return 0;
}

/* A node is owned in the sense of EnsureNamedFieldsAreMembers: a member, or
 * a named field with members below. */
static bool owns(const json_t *node, bool named)
{
	return node && (ssa_fs_is_member(node) || (named && ssa_fs_has_children(node)));
}

/* Fields apply never removes: apiVersion, kind, metadata (depth 0) and the
 * server's metadata fields (inside metadata). */
static bool protected_field(size_t depth, bool in_metadata, const char *pe)
{
	static const char *const top[] = { "f:apiVersion", "f:kind", "f:metadata", NULL };
	static const char *const meta[] = { "f:name", "f:namespace", "f:uid", "f:resourceVersion",
					    "f:generation", "f:creationTimestamp", "f:managedFields",
					    "f:selfLink", "f:deletionTimestamp",
					    "f:deletionGracePeriodSeconds", NULL };
	const char *const *list = depth == 0 ? top : (in_metadata ? meta : NULL);

	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], pe) == 0)
			return true;
	return false;
}

/* Prune (merge.Updater.prune with addBackOwnedItems and addBackDanglingItems):
 * remove from v each field or item the applier owned last time (last) whose
 * own node or an ancestor inside the pruned region (the subtrees it owned) is
 * owned by nobody now (owned: every manager's set and the applier's new one).
 * Returns whether v lost children. */
static bool prune(json_t *v, const struct patch_schema *s, const json_t *last, const json_t *owned,
		  bool region, bool candidate, size_t depth, bool in_metadata)
{
	enum patch_walk kind = patch_schema_walk(s, v);
	bool changed = false;

	if (kind == PATCH_WALK_LEAF || depth >= PATCH_MAX_OBJECT_DEPTH)
		return false;
	if (kind == PATCH_WALK_STRUCT || kind == PATCH_WALK_MAP) {
		const char *k;
		json_t *cv;
		void *tmp;

		json_object_foreach_safe(v, tmp, k, cv) {
			bool named, lm, reg, cand, keep;
			const struct patch_schema *fs = patch_schema_field(s, k, &named);
			char small[256], *pe = small;
			const json_t *lc, *oc;

			if (strlen(k) + 3 > sizeof(small))
				pe = ssa_fs_pe_field(k);
			else
				snprintf(small, sizeof(small), "f:%s", k);
			lc = json_object_get(last, pe);
			oc = owned ? json_object_get(owned, pe) : NULL;
			keep = protected_field(depth, in_metadata, pe);
			if (pe != small)
				free(pe);
			if (!lc)
				continue;
			lm = owns(lc, named);
			reg = region || lm;
			cand = !keep && (candidate || (reg && !owns(oc, named)));
			if (lm && cand) {
				json_object_del(v, k);
				changed = true;
				continue;
			}
			if (ssa_fs_has_children(lc) &&
			    prune(cv, fs, lc, oc, reg, cand, depth + 1,
				  depth == 0 && strcmp(k, "metadata") == 0) &&
			    empty_container(cv) && !keep) {
				json_object_del(v, k);
				changed = true;
			}
		}
		return changed;
	}
	/* lists */
	const struct patch_schema *es = patch_schema_elem(s);
	struct walk scratch = { 0 };
	size_t i = 0;

	while (i < json_array_size(v)) {
		json_t *item = json_array_get(v, i);
		char *pe = item_pe(&scratch, item, s, kind);
		const json_t *lc = pe ? json_object_get(last, pe) : NULL;
		const json_t *oc = pe && owned ? json_object_get(owned, pe) : NULL;
		bool lm, reg, cand;

		free(pe);
		if (!lc) {
			i++;
			continue;
		}
		lm = owns(lc, false);
		reg = region || lm;
		cand = candidate || (reg && !owns(oc, false));
		if (lm && cand) {
			json_array_remove(v, i);
			changed = true;
			continue;
		}
		if (ssa_fs_has_children(lc) && prune(item, es, lc, oc, reg, cand, depth + 1, false) &&
		    empty_container(item)) {
			json_array_remove(v, i);
			changed = true;
			continue;
		}
		i++;
	}
	return changed;
}

/* ---- conflicts ---- */

struct conflict_ctx {
	json_t *out;                     /* array being filled */
	const struct ssa_manager *m;
};

static char *manager_print(const char *manager, const char *op, const char *api_version,
			   const char *subresource)
{
	struct buf b;

	buf_init(&b, 4096);
	patch_go_quote(&b, manager);
	if (subresource && subresource[0]) {
		buf_puts(&b, " with subresource ");
		patch_go_quote(&b, subresource);
	}
	if (strcmp(op, OP_UPDATE) == 0)
		buf_printf(&b, " using %s", api_version);
	return buf_steal(&b, NULL);
}

static void conflict_path(const char *const *pes, size_t depth, void *ctx)
{
	struct conflict_ctx *c = ctx;
	const struct ssa_manager *m = c->m;
	json_t *o = json_object();
	char *who;
	struct buf b;

	buf_init(&b, 8192);
	for (size_t i = 0; i < depth; i++)
		ssa_fs_pe_print(&b, pes[i]);
	who = manager_print(m->manager, m->operation, m->api_version, m->subresource);
	json_object_set_new(o, "manager", json_string(m->manager));
	json_object_set_new(o, "operation", json_string(m->operation));
	json_object_set_new(o, "apiVersion", json_string(m->api_version));
	if (m->subresource[0])
		json_object_set_new(o, "subresource", json_string(m->subresource));
	json_object_set_new(o, "field", json_string(b.data ? b.data : ""));
	json_object_set_new(o, "message", json_pack("s+", "conflict with ", who));
	json_array_append_new(c->out, o);
	free(who);
	buf_free(&b);
}

/* The identifier string Kubernetes sorts managers by (BuildManagerIdentifier). */
static char *manager_identifier(const json_t *c)
{
	json_t *o = json_object();
	const char *op = str_or(c, "operation", "");
	char *s;

	json_object_set_new(o, "manager", json_string(str_or(c, "manager", "")));
	json_object_set_new(o, "operation", json_string(op));
	if (strcmp(op, OP_APPLY) != 0)
		json_object_set_new(o, "apiVersion", json_string(str_or(c, "apiVersion", "")));
	if (str_or(c, "subresource", "")[0])
		json_object_set_new(o, "subresource", json_string(str_or(c, "subresource", "")));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s ? s : xstrdup("");
}

struct ident {
	char *id;      /* owned */
	size_t first;  /* index of its first conflict */
};

static int ident_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ident *)a)->id, ((const struct ident *)b)->id);
}

char *ssa_conflict_message(const json_t *conflicts)
{
	size_t n = json_array_size(conflicts), nid = 0;
	struct ident *ids;
	struct buf b;
	json_t *c;
	size_t i;

	buf_init(&b, SSA_MESSAGE_MAX);
	if (n == 1) {
		c = json_array_get(conflicts, 0);
		buf_printf(&b, "Apply failed with 1 conflict: %s: %s", str_or(c, "message", ""),
			   str_or(c, "field", ""));
		return buf_steal(&b, NULL);
	}
	ids = xcalloc(n ? n : 1, sizeof(*ids));
	json_array_foreach(conflicts, i, c) {
		char *id = manager_identifier(c);
		size_t j;

		for (j = 0; j < nid; j++)
			if (strcmp(ids[j].id, id) == 0)
				break;
		if (j < nid) {
			free(id);
			continue;
		}
		ids[nid].id = id;
		ids[nid++].first = i;
	}
	qsort(ids, nid, sizeof(*ids), ident_cmp);
	buf_printf(&b, "Apply failed with %zu conflicts: ", n);
	for (size_t j = 0; j < nid; j++) {
		const json_t *f = json_array_get(conflicts, ids[j].first);
		const char *msg = str_or(f, "message", "");

		/* "conflict with X" -> "conflicts with X:" */
		if (j > 0)
			buf_puts(&b, "\n");
		buf_printf(&b, "conflicts with %s:", strncmp(msg, "conflict with ", 14) == 0 ? msg + 14 : msg);
		json_array_foreach(conflicts, i, c) {
			char *id = manager_identifier(c);

			if (strcmp(id, ids[j].id) == 0)
				buf_printf(&b, "\n- %s", str_or(c, "field", ""));
			free(id);
		}
		free(ids[j].id);
	}
	free(ids);
	return buf_steal(&b, NULL);
}

json_t *ssa_conflict_status(const json_t *conflicts)
{
	char *msg = ssa_conflict_message(conflicts);
	json_t *causes = json_array(), *c, *st;
	size_t i;

	json_array_foreach(conflicts, i, c)
		json_array_append_new(causes, json_pack("{s:s, s:s, s:s}", "reason",
							"FieldManagerConflict", "message",
							str_or(c, "message", ""), "field",
							str_or(c, "field", "")));
	st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:{s:o}, s:i}", "kind", "Status",
		       "apiVersion", "v1", "metadata", "status", "Failure", "message", msg,
		       "reason", "Conflict", "details", "causes", causes, "code", 409);
	free(msg);
	return st;
}

/* ---- the operations ---- */

/* obj without metadata.managedFields: a shallow copy (children shared,
 * read only); {} for NULL. New reference. */
static json_t *without_managed_fields(const json_t *obj)
{
	json_t *c = obj ? json_copy((json_t *)obj) : json_object();
	json_t *md = json_object_get(c, "metadata");

	if (json_is_object(md) && json_object_get(md, "managedFields")) {
		md = json_copy(md);
		json_object_del(md, "managedFields");
		json_object_set_new(c, "metadata", md);
	}
	return c;
}

static json_t *filtered(const json_t *obj, const char *subresource)
{
	json_t *c = json_copy((json_t *)obj);

	if (subresource && strcmp(subresource, "status") == 0) {
		json_t *st = json_incref(json_object_get(c, "status"));

		json_object_clear(c);
		if (st)
			json_object_set_new(c, "status", st);
	} else {
		json_object_del(c, "status");
	}
	return c;
}

static const struct patch_schema *schema_of(const json_t *obj)
{
	const struct patch_schema *s =
		patch_schema_for(json_string_value(json_object_get(obj, "apiVersion")),
				 json_string_value(json_object_get(obj, "kind")));

	return s ? s : &patch_schema_deduced;
}

/* The update step (merge.Updater.update): other managers lose what changed
 * (or conflict), everyone loses what was removed. skip is the operating
 * manager's entry (NULL for a fresh update). Conflicts that all lie in allowed
 * (may be NULL) are taken over as with force; otherwise the others go to
 * *ret_conflicts (a new array) with -EBUSY. *ret_changed (if not NULL) gets
 * the added and modified fields. */
static int update_managers(struct walk *w, const json_t *live, const json_t *next,
			   const struct patch_schema *s, struct ssa_managers *m,
			   const struct ssa_manager *skip, bool force, const char *subresource,
			   const json_t *allowed, json_t **ret_conflicts, json_t **ret_changed)
{
	struct comparison cmp;
	json_t *lf = filtered(live, subresource), *nf = filtered(next, subresource);
	json_t *changed = NULL, *all = NULL, **per = NULL;
	int rc;

	rc = compare_objects(w, lf, nf, s, &cmp);
	json_decref(lf);
	json_decref(nf);
	if (rc < 0)
		return rc;
	filter_ignored(cmp.added, subresource);
	filter_ignored(cmp.modified, subresource);
	filter_ignored(cmp.removed, subresource);
	changed = ssa_fs_new();
	ssa_fs_union(changed, cmp.added);
	ssa_fs_union(changed, cmp.modified);
	all = ssa_fs_new();
	per = xcalloc(m->n ? m->n : 1, sizeof(*per));
	for (size_t i = 0; i < m->n; i++) {
		if (&m->v[i] == skip)
			continue;
		per[i] = ssa_fs_intersect(m->v[i].set, changed);
		ssa_fs_prune(per[i]);
		ssa_fs_union(all, per[i]);
	}
	if (!force && !ssa_fs_empty(all)) {
		json_t *rest = json_deep_copy(all);

		if (allowed)
			ssa_fs_subtract(rest, allowed);
		ssa_fs_prune(rest);
		if (allowed && ssa_fs_empty(rest)) {
			force = true;
		} else {
			json_t *conflicts = json_array();

			for (size_t i = 0; i < m->n; i++) {
				struct conflict_ctx cc = { .out = conflicts, .m = &m->v[i] };

				if (!per[i])
					continue;
				if (allowed)
					ssa_fs_subtract(per[i], allowed);
				ssa_fs_prune(per[i]);
				ssa_fs_iterate(per[i], conflict_path, &cc);
			}
			*ret_conflicts = conflicts;
			rc = -EBUSY;
		}
		json_decref(rest);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0; i < m->n; i++) {
		if (&m->v[i] == skip)
			continue;
		ssa_fs_subtract(m->v[i].set, per[i]);
		ssa_fs_subtract(m->v[i].set, cmp.removed);
	}
	if (ret_changed) {
		*ret_changed = changed;
		changed = NULL;
	}
out:
	for (size_t i = 0; i < m->n; i++)
		json_decref(per[i]);
	free(per);
	json_decref(all);
	json_decref(changed);
	comparison_free(&cmp);
	return rc;
}

/* Record an update by manager from live to next into m. */
static int record_update(struct walk *w, const json_t *live, const json_t *next,
			 const struct patch_schema *s, struct ssa_managers *m, const char *manager,
			 const char *api_version, const char *subresource, const char *now)
{
	json_t *changed = NULL, *conflicts = NULL;
	struct ssa_manager *e;
	int rc;

	rc = update_managers(w, live, next, s, m, NULL, true, subresource, NULL, &conflicts, &changed);
	if (rc < 0)
		return rc;
	strip_meta(changed);
	if (!ssa_fs_empty(changed)) {
		e = managers_find(m, manager, OP_UPDATE, api_version, subresource);
		if (!e)
			e = managers_add(m, manager, OP_UPDATE, api_version, subresource, NULL);
		ssa_fs_union(e->set, changed);
		free(e->time);
		e->time = now ? xstrdup(now) : NULL;
	}
	json_decref(changed);
	return 0;
}

/* Fields kubectl's client-side apply set and that still hold the value it
 * set (lastAppliedManager.allowedConflictsFromLastApplied); NULL when none. */
static json_t *allowed_from_last_applied(struct walk *w, const json_t *live, const char *api_version,
					 const struct patch_schema *s)
{
	const char *text = json_string_value(json_object_get(
		json_object_get(json_object_get(live, "metadata"), "annotations"), LAST_APPLIED));
	json_t *la, *set = NULL;
	struct comparison cmp;

	if (!text || !*text || strlen(text) > SSA_LAST_APPLIED_MAX)
		return NULL;
	la = json_loads(text, 0, NULL);
	if (!json_is_object(la) || patch_depth(la, PATCH_MAX_OBJECT_DEPTH) > PATCH_MAX_OBJECT_DEPTH ||
	    strcmp(str_or(la, "apiVersion", ""), api_version ? api_version : "") != 0)
		goto out;
	set = ssa_fs_new();
	if (to_field_set(w, la, s, set) < 0 || compare_objects(w, la, live, s, &cmp) < 0) {
		walk_clear(w);
		json_decref(set);
		set = NULL;
		goto out;
	}
	ssa_fs_subtract(set, cmp.modified);
	ssa_fs_subtract(set, cmp.added);
	ssa_fs_subtract(set, cmp.removed);
	comparison_free(&cmp);
out:
	json_decref(la);
	return set;
}

/* Keep the last-applied annotation in step with kubectl's server-side
 * applies (lastAppliedUpdater): when present and not empty, it becomes the
 * applied configuration without that annotation, as encoding/json writes it
 * with a final newline; it is dropped when the annotations would pass 256 KiB. */
static void sync_last_applied(json_t *obj, const json_t *applied)
{
	json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
	const char *old = json_string_value(json_object_get(ann, LAST_APPLIED)), *k;
	json_t *copy, *cann, *v;
	size_t total = 0;
	char *text;

	if (!old || !*old)
		return;
	copy = json_deep_copy(applied);
	cann = json_object_get(json_object_get(copy, "metadata"), "annotations");
	if (json_is_object(cann))
		json_object_del(cann, LAST_APPLIED);
	text = patch_go_json_string(copy, SSA_LAST_APPLIED_MAX);
	json_decref(copy);
	json_object_foreach(ann, k, v)
		if (strcmp(k, LAST_APPLIED) != 0)
			total += strlen(k) + (json_is_string(v) ? json_string_length(v) : 0);
	if (!text || total + strlen(LAST_APPLIED) + strlen(text) + 1 > SSA_LAST_APPLIED_MAX) {
		json_object_del(ann, LAST_APPLIED);
	} else {
		char *full = xasprintf("%s\n", text);

		json_object_set_new(ann, LAST_APPLIED, json_string(full));
		free(full);
	}
	free(text);
}

/* Restore the server-owned metadata of live into next. */
static void keep_system_metadata(json_t *next, const json_t *live)
{
	static const char *const keys[] = { "uid", "resourceVersion", "generation",
					    "creationTimestamp", "selfLink", "deletionTimestamp",
					    "deletionGracePeriodSeconds", NULL };
	const json_t *lm = json_object_get(live, "metadata");
	json_t *nm = json_object_get(next, "metadata");

	if (!json_is_object(nm))
		return;
	for (size_t i = 0; keys[i]; i++) {
		json_t *v = json_is_object(lm) ? json_object_get(lm, keys[i]) : NULL;

		if (v)
			json_object_set_new(nm, keys[i], json_deep_copy(v));
		else
			json_object_del(nm, keys[i]);
	}
}

static int check_manager(const char *manager, struct errbuf *err)
{
	if (!manager || !*manager)
		return errbuf_set(err, -EINVAL, "fieldManager: required");
	if (strlen(manager) > SSA_MANAGER_MAX)
		return errbuf_set(err, -EINVAL, "fieldManager: longer than %d bytes", SSA_MANAGER_MAX);
	return 0;
}

int ssa_apply(const json_t *obj, const json_t *applied, const char *manager, bool force,
	      const char *now_rfc3339, struct errbuf *err, json_t **ret_conflicts, json_t **ret_obj)
{
	struct walk w = { .err = err };
	struct ssa_managers m = { 0 };
	struct ssa_manager *self, *last_entry;
	const struct patch_schema *s;
	json_t *live = NULL, *config = NULL, *next = NULL, *new_set = NULL, *last = NULL;
	json_t *owned = NULL, *conflicts = NULL, *allowed = NULL;
	const char *api_version, *kind;
	bool is_new;
	int r;

	r = check_manager(manager, err);
	if (r < 0)
		return r;
	if (!json_is_object(applied))
		return errbuf_set(err, -EINVAL, "apply: the configuration must be a JSON object");
	r = patch_check_depth(applied, PATCH_MAX_DEPTH, "apply configuration", err);
	if (r < 0)
		return r;
	/* obj's depth is enforced by the walks (-E2BIG at PATCH_MAX_OBJECT_DEPTH) */
	api_version = json_string_value(json_object_get(applied, "apiVersion"));
	kind = json_string_value(json_object_get(applied, "kind"));
	if (!api_version || !kind)
		return errbuf_set(err, -EINVAL, "apply: %s must be set", api_version ? "kind" : "apiVersion");
	if (json_is_object(json_object_get(applied, "metadata")) &&
	    json_object_get(json_object_get(applied, "metadata"), "managedFields") &&
	    !json_is_null(json_object_get(json_object_get(applied, "metadata"), "managedFields")))
		return errbuf_set(err, -EINVAL, "metadata.managedFields must be nil");
	if (obj && json_is_string(json_object_get(obj, "kind")) &&
	    strcmp(json_string_value(json_object_get(obj, "kind")), kind) != 0)
		return errbuf_set(err, -EINVAL, "apply: kind %s does not match the object's", kind);
	s = schema_of(applied);

	/* managers of the live object; undecodable ones are dropped, as Kubernetes does */
	if (obj && managers_decode(obj, NULL, &m) < 0)
		m = (struct ssa_managers){ 0 };
	live = without_managed_fields(obj);
	if (obj && m.n == 0) {
		json_t *empty = json_object();

		r = record_update(&w, empty, live, s, &m, BEFORE_FIRST_APPLY, api_version, NULL,
				  now_rfc3339);
		json_decref(empty);
		if (r < 0)
			goto out;
	}

	/* status is not the main resource's to apply */
	config = json_copy((json_t *)applied);
	json_object_del(config, "status");

	r = merge(&w, json_deep_copy(live), config, s, &next);
	walk_clear(&w);
	if (r < 0) {
		errbuf_prefix(err, "apply");
		goto out;
	}
	keep_system_metadata(next, live);

	new_set = ssa_fs_new();
	r = to_field_set(&w, config, s, new_set);
	walk_clear(&w);
	if (r < 0)
		goto out;

	last_entry = managers_find(&m, manager, OP_APPLY, NULL, NULL);
	last = last_entry ? json_incref(last_entry->set) : NULL;
	is_new = !last_entry;

	/* prune what the manager applied before and dropped now */
	if (last && !ssa_fs_empty(last)) {
		owned = ssa_fs_new();
		ssa_fs_union(owned, new_set);
		for (size_t i = 0; i < m.n; i++)
			if (&m.v[i] != last_entry)
				ssa_fs_union(owned, m.v[i].set);
		prune(next, s, last, owned, false, false, 0, false);
	}

	self = last_entry ? last_entry : managers_add(&m, manager, OP_APPLY, api_version, NULL, NULL);
	json_decref(self->set);
	self->set = json_incref(new_set);
	filter_ignored(self->set, NULL);
	free(self->api_version);
	self->api_version = xstrdup(api_version);

	/* kubectl may take over what its client-side apply set and still holds */
	if (!force && obj && strcmp(manager, "kubectl") == 0) {
		allowed = allowed_from_last_applied(&w, live, api_version, s);
		walk_clear(&w);
	}
	r = update_managers(&w, live, next, s, &m, self, force, NULL, allowed, &conflicts, NULL);
	walk_clear(&w);
	if (r == -EBUSY) {
		char *msg = ssa_conflict_message(conflicts);

		errbuf_set(err, -EBUSY, "%s", msg);
		free(msg);
		if (ret_conflicts) {
			*ret_conflicts = conflicts;
			conflicts = NULL;
		}
		goto out;
	}
	if (r < 0)
		goto out;

	if (is_new || !patch_json_equal(live, next)) {
		free(self->time);
		self->time = now_rfc3339 ? xstrdup(now_rfc3339) : NULL;
	}
	if (strcmp(manager, "kubectl") == 0)
		sync_last_applied(next, applied);
	for (size_t i = 0; i < m.n; i++)
		strip_meta(m.v[i].set);
	managers_drop_empty(&m);
	cap_updaters(&m);
	managers_encode(&m, next);
	*ret_obj = next;
	next = NULL;
out:
	walk_free(&w);
	managers_free(&m);
	json_decref(live);
	json_decref(config);
	json_decref(next);
	json_decref(new_set);
	json_decref(last);
	json_decref(owned);
	json_decref(conflicts);
	json_decref(allowed);
	return r;
}

void ssa_record_update_subresource(const json_t *old_obj, json_t *new_obj, const char *manager,
				   const char *api_version, const char *subresource,
				   const char *now_rfc3339)
{
	struct walk w = { 0 };
	struct ssa_managers m = { 0 };
	const json_t *nmd, *nmf;
	json_t *live = NULL, *next = NULL;
	const struct patch_schema *s;

	if (!json_is_object(new_obj) || check_manager(manager, NULL) < 0)
		return;
	if (subresource && !*subresource)
		subresource = NULL;
	nmd = json_object_get(new_obj, "metadata");
	nmf = json_is_object(nmd) ? json_object_get(nmd, "managedFields") : NULL;

	/* whose managedFields: the request's unless absent, invalid, empty or a subresource */
	if (!subresource && is_reset(nmf)) {
		/* start from nothing: only this update will be recorded */
	} else if (subresource || managers_decode(new_obj, NULL, &m) < 0 || m.n == 0) {
		managers_free(&m);
		if (old_obj && managers_decode(old_obj, NULL, &m) < 0)
			m = (struct ssa_managers){ 0 };
	}
	/* an existing object nobody tracked stays untracked (skipNonApplied) */
	if (m.n == 0 && old_obj) {
		if (json_is_object(nmd))
			json_object_del((json_t *)nmd, "managedFields");
		goto out;
	}

	s = schema_of(new_obj);
	live = without_managed_fields(old_obj);
	next = without_managed_fields(new_obj);
	if (record_update(&w, live, next, s, &m, manager, api_version, subresource, now_rfc3339) < 0) {
		/* objects we cannot walk (a keyed list without keys) keep their managers */
		walk_clear(&w);
	}
	for (size_t i = 0; i < m.n; i++)
		strip_meta(m.v[i].set);
	managers_drop_empty(&m);
	cap_updaters(&m);
	managers_encode(&m, new_obj);
out:
	walk_free(&w);
	managers_free(&m);
	json_decref(live);
	json_decref(next);
}

void ssa_record_update(const json_t *old_obj, json_t *new_obj, const char *manager,
		       const char *api_version, const char *now_rfc3339)
{
	ssa_record_update_subresource(old_obj, new_obj, manager, api_version, NULL, now_rfc3339);
}
