/* appdef_registry.c - the definitions the hub knows: users' definitions by
 * (kind, namespace, name) and the built-ins shipped in hub/definitions/.
 *
 * The built-ins are the YAML files of hub/definitions/, embedded at build
 * time (tools/embed writes appdef_builtins.h) and parsed by
 * appdef_parse exactly like a user's. They are kept under the empty
 * namespace, which no Kubernetes namespace can be, so lookups fall back to
 * them last: (kind, namespace, name), then (kind, "vela-system", name), then
 * the built-in.
 *
 * Entries are one array sorted by (kind, namespace, name): lookups are
 * binary searches, a put or remove moves the tail (at most
 * APPDEF_REGISTRY_MAX user entries plus the built-ins). Runs on the hub's
 * loop; no locking.
 */
#include "appdef_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "yaml.h"

struct appdef_builtin_file {
	const char *name;
	const char *text;
	size_t len;
};

#include "appdef_builtins.h"

#define BUILTIN_NS ""
#define SYSTEM_NS "vela-system"
#define NAMESPACE_MAX 63

struct reg_entry {
	enum appdef_kind kind;
	char *ns;                  /* owned; "" for a built-in */
	struct appdef *def;        /* owned */
};

struct appdef_registry {
	struct reg_entry *v;       /* owned, sorted by (kind, ns, name) */
	size_t n, cap;
	size_t nuser;              /* entries with a namespace */
};

static int entry_cmp(enum appdef_kind kind, const char *ns, const char *name, const struct reg_entry *e)
{
	int c;

	if (kind != e->kind)
		return kind < e->kind ? -1 : 1;
	c = strcmp(ns, e->ns);
	if (c)
		return c;
	return strcmp(name, appdef_name(e->def));
}

/* The index of (kind, ns, name) or where it would go; *found says which. */
static size_t find(const struct appdef_registry *reg, enum appdef_kind kind, const char *ns, const char *name,
		   bool *found)
{
	size_t lo = 0, hi = reg->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = entry_cmp(kind, ns, name, &reg->v[mid]);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int appdef_registry_new(struct appdef_registry **ret_reg)
{
	*ret_reg = xnew(struct appdef_registry);
	return 0;
}

struct appdef_registry *appdef_registry_free(struct appdef_registry *reg)
{
	size_t i;

	if (!reg)
		return NULL;
	for (i = 0; i < reg->n; i++) {
		free(reg->v[i].ns);
		appdef_free(reg->v[i].def);
	}
	free(reg->v);
	free(reg);
	return NULL;
}

/* Insert or replace; takes d. */
static void put_entry(struct appdef_registry *reg, const char *ns, struct appdef *d)
{
	bool found;
	size_t i = find(reg, appdef_kind(d), ns, appdef_name(d), &found);

	if (found) {
		appdef_free(reg->v[i].def);
		reg->v[i].def = d;
		return;
	}
	if (reg->n == reg->cap) {
		reg->cap = reg->cap ? reg->cap * 2 : 32;
		reg->v = xrealloc(reg->v, reg->cap * sizeof(*reg->v));
	}
	memmove(&reg->v[i + 1], &reg->v[i], (reg->n - i) * sizeof(*reg->v));
	reg->v[i].kind = appdef_kind(d);
	reg->v[i].ns = xstrdup(ns);
	reg->v[i].def = d;
	reg->n++;
	if (*ns)
		reg->nuser++;
}

int appdef_registry_put(struct appdef_registry *reg, const char *namespace_, struct appdef *d)
{
	bool found;

	if (!reg || !d || !namespace_ || !*namespace_ || strlen(namespace_) > NAMESPACE_MAX) {
		appdef_free(d);
		return -EINVAL;
	}
	find(reg, appdef_kind(d), namespace_, appdef_name(d), &found);
	if (!found && reg->nuser >= APPDEF_REGISTRY_MAX) {
		appdef_free(d);
		return -E2BIG;
	}
	put_entry(reg, namespace_, d);
	return 0;
}

int appdef_registry_remove(struct appdef_registry *reg, enum appdef_kind kind, const char *namespace_,
			   const char *name)
{
	bool found;
	size_t i;

	if (!reg || !namespace_ || !*namespace_ || !name)
		return -ENOENT;
	i = find(reg, kind, namespace_, name, &found);
	if (!found)
		return -ENOENT;
	free(reg->v[i].ns);
	appdef_free(reg->v[i].def);
	memmove(&reg->v[i], &reg->v[i + 1], (reg->n - i - 1) * sizeof(*reg->v));
	reg->n--;
	reg->nuser--;
	return 0;
}

const struct appdef *appdef_registry_get(const struct appdef_registry *reg, enum appdef_kind kind,
					 const char *namespace_, const char *name)
{
	const char *order[3] = {namespace_, SYSTEM_NS, BUILTIN_NS};
	bool found;
	size_t i, k;

	if (!reg || !name)
		return NULL;
	for (k = 0; k < 3; k++) {
		if (!order[k] || (k == 0 && !*order[k]))
			continue;
		i = find(reg, kind, order[k], name, &found);
		if (found)
			return reg->v[i].def;
	}
	return NULL;
}

const struct appdef *appdef_registry_get_builtin(const struct appdef_registry *reg, enum appdef_kind kind,
						 const char *name)
{
	bool found;
	size_t i;

	if (!reg || !name)
		return NULL;
	i = find(reg, kind, BUILTIN_NS, name, &found);
	return found ? reg->v[i].def : NULL;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *appdef_registry_names(const struct appdef_registry *reg, enum appdef_kind kind, const char *namespace_)
{
	json_t *out = json_array();
	const char **names;
	size_t i, n = 0;

	if (!reg)
		return out;
	names = xcalloc(reg->n + 1, sizeof(*names));
	for (i = 0; i < reg->n; i++) {
		const struct reg_entry *e = &reg->v[i];

		if (e->kind != kind)
			continue;
		if (*e->ns && strcmp(e->ns, SYSTEM_NS) && (!namespace_ || strcmp(e->ns, namespace_)))
			continue;
		names[n++] = appdef_name(e->def);
	}
	qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++)
		if (!i || strcmp(names[i], names[i - 1]))
			json_array_append_new(out, json_string(names[i]));
	free(names);
	return out;
}

size_t appdef_builtin_count(void)
{
	return sizeof(appdef_builtin_files) / sizeof(appdef_builtin_files[0]);
}

int appdef_builtin_file(size_t i, const char **ret_name, const char **ret_text, size_t *ret_len)
{
	if (i >= appdef_builtin_count())
		return -ENOENT;
	*ret_name = appdef_builtin_files[i].name;
	*ret_text = appdef_builtin_files[i].text;
	*ret_len = appdef_builtin_files[i].len;
	return 0;
}

int appdef_registry_load_builtins(struct appdef_registry *reg, struct errbuf *err)
{
	json_t *docs = NULL, *doc;
	size_t f, i;
	int r = 0;

	if (!reg)
		return -EINVAL;
	for (f = 0; f < appdef_builtin_count(); f++) {
		const struct appdef_builtin_file *file = &appdef_builtin_files[f];

		json_decref(docs);
		docs = NULL;
		r = yaml_parse_stream(file->text, file->len, NULL, err, &docs);
		if (r < 0) {
			errbuf_prefix(err, "hub/definitions/%s", file->name);
			r = -EINVAL;
			goto out;
		}
		json_array_foreach(docs, i, doc) {
			struct appdef *d = NULL;

			r = appdef_parse(doc, err, &d);
			if (r < 0) {
				errbuf_prefix(err, "hub/definitions/%s: document %zu", file->name, i + 1);
				r = -EINVAL;
				goto out;
			}
			put_entry(reg, BUILTIN_NS, d);
		}
	}
out:
	json_decref(docs);
	return r;
}
