/* app_place.c - placement over a parsed Application (see app.h): which
 * clusters a topology selects, and what the override policies of a deploy
 * step change on one cluster.
 *
 * Pure: the fleet is passed in as ManagedCluster objects, nothing is kept.
 * A cluster is eligible when it is accepted (spec.hubAcceptsClient) and not
 * being deleted (no metadata.deletionTimestamp): a leaving cluster gets no
 * new works, and the controller deletes the works of clusters that stop
 * being selected.
 *
 * Overrides work on deep copies of the components; the inputs are never
 * touched. Properties merge as RFC 7386 JSON merge patches (null deletes a
 * key), as KubeVela's override policy does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app.h"
#include "kobj.h"
#include "patch.h"
#include "selector.h"

/* See app.h. */
void app_component_free_contents(struct app_component *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->type);
	json_decref(c->properties);
	for (size_t i = 0; i < c->ntraits; i++) {
		free(c->traits[i].type);
		json_decref(c->traits[i].properties);
	}
	free(c->traits);
	for (size_t i = 0; i < c->ndepends; i++)
		free(c->depends_on[i]);
	free(c->depends_on);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------------ */
/* topology                                                                  */

static bool cluster_eligible(const json_t *mc)
{
	return json_is_true(kobj_get_path(mc, "spec.hubAcceptsClient")) &&
	       !json_is_string(kobj_get_path(mc, "metadata.deletionTimestamp"));
}

static const json_t *cluster_find(const json_t *clusters, const char *name)
{
	const json_t *mc;
	size_t i;

	json_array_foreach(clusters, i, mc) {
		const char *n = kobj_name(mc);

		if (n && !strcmp(n, name))
			return mc;
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A new array of the names, sorted and unique (names borrowed). */
static json_t *sorted_unique(const char **names, size_t n)
{
	json_t *out = json_array();

	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(names[i - 1], names[i]))
			json_array_append_new(out, json_string(names[i]));
	return out;
}

/* See app.h. */
int app_topology_select(const struct app_topology *t, const json_t *clusters, struct errbuf *err,
			json_t **ret_names)
{
	struct label_selector *sel = NULL;
	size_t cap = t->nclusters + json_array_size(clusters), n = 0, i;
	const char **names = xcalloc(cap ? cap : 1, sizeof(*names));
	const json_t *mc;
	int r = 0;

	if (t->selector && (r = label_selector_from_json(t->selector, err, &sel)) < 0) {
		errbuf_prefix(err, "clusterLabelSelector");
		goto out;
	}
	for (i = 0; i < t->nclusters; i++) {
		mc = cluster_find(clusters, t->clusters[i]);
		if (mc && cluster_eligible(mc))
			names[n++] = t->clusters[i];
	}
	if (sel) {
		json_array_foreach(clusters, i, mc) {
			const char *name = kobj_name(mc);

			if (name && cluster_eligible(mc) && label_selector_matches(sel, kobj_labels(mc)))
				names[n++] = name;
		}
	}
	*ret_names = sorted_unique(names, n);
out:
	label_selector_free(sel);
	free(names);
	return r;
}

/* See app.h. */
json_t *app_topology_missing(const struct app_topology *t, const json_t *clusters)
{
	json_t *out = json_array();

	for (size_t i = 0; i < t->nclusters; i++) {
		bool seen = false;
		const json_t *v;
		size_t k;

		if (cluster_find(clusters, t->clusters[i]))
			continue;
		json_array_foreach(out, k, v)
			seen = seen || !strcmp(json_string_value(v), t->clusters[i]);
		if (!seen)
			json_array_append_new(out, json_string(t->clusters[i]));
	}
	return out;
}

/* ------------------------------------------------------------------------ */
/* override                                                                  */

static void component_copy(struct app_component *dst, const struct app_component *src)
{
	dst->name = xstrdup(src->name);
	dst->type = xstrdup(src->type);
	dst->properties = src->properties ? json_deep_copy(src->properties) : json_object();
	dst->traits = xcalloc(src->ntraits ? src->ntraits : 1, sizeof(*dst->traits));
	for (size_t i = 0; i < src->ntraits; i++) {
		dst->traits[i].type = xstrdup(src->traits[i].type);
		dst->traits[i].properties = src->traits[i].properties ? json_deep_copy(src->traits[i].properties)
								      : json_object();
	}
	dst->ntraits = src->ntraits;
	dst->depends_on = xcalloc(src->ndepends ? src->ndepends : 1, sizeof(char *));
	for (size_t i = 0; i < src->ndepends; i++)
		dst->depends_on[i] = xstrdup(src->depends_on[i]);
	dst->ndepends = src->ndepends;
}

/* Whether the override's Nave cluster restriction lets it apply to cluster. */
static int override_applies(const struct app_policy *p, const char *cluster, const json_t *labels, struct errbuf *err,
			    bool *ret)
{
	const struct app_override *o = &p->override;
	struct label_selector *sel = NULL;
	bool match = false;
	int r;

	if (!o->nclusters && !o->cluster_selector) {
		*ret = true;
		return 0;
	}
	for (size_t i = 0; i < o->nclusters && cluster; i++)
		match = match || !strcmp(o->clusters[i], cluster);
	if (!match && o->cluster_selector) {
		if ((r = label_selector_from_json(o->cluster_selector, err, &sel)) < 0) {
			errbuf_prefix(err, "policy \"%s\": clusterLabelSelector", p->name);
			return r;
		}
		match = label_selector_matches(sel, labels);
		label_selector_free(sel);
	}
	*ret = match;
	return 0;
}

static int merge_into(json_t **target, const json_t *patch, struct errbuf *err)
{
	json_t *merged = NULL;
	int r;

	if ((r = patch_merge(*target, patch, err, &merged)) < 0)
		return r;
	json_decref(*target);
	*target = merged;
	return 0;
}

static int trait_patch(struct app_component *c, const struct app_override_trait *ot, struct errbuf *err)
{
	size_t i;

	for (i = 0; i < c->ntraits; i++)
		if (!strcmp(c->traits[i].type, ot->type))
			break;
	if (ot->disable) {
		if (i == c->ntraits)
			return 0;
		free(c->traits[i].type);
		json_decref(c->traits[i].properties);
		memmove(&c->traits[i], &c->traits[i + 1], (c->ntraits - i - 1) * sizeof(*c->traits));
		c->ntraits--;
		return 0;
	}
	if (i < c->ntraits)
		return ot->properties ? merge_into(&c->traits[i].properties, ot->properties, err) : 0;
	c->traits = xrealloc(c->traits, (c->ntraits + 1) * sizeof(*c->traits));
	c->traits[c->ntraits].type = xstrdup(ot->type);
	c->traits[c->ntraits].properties = ot->properties ? json_deep_copy(ot->properties) : json_object();
	c->ntraits++;
	return 0;
}

static int entry_apply(const struct app_policy *p, size_t ei, struct app_component *c, struct errbuf *err)
{
	const struct app_override_entry *e = &p->override.entries[ei];
	int r;

	if (e->name && strcmp(e->name, c->name))
		return 0;
	if (e->type && strcmp(e->type, c->type))
		return 0;
	if (e->properties) {
		if (!json_is_object(e->properties))
			return errbuf_set(err, -EINVAL, "policy \"%s\": components[%zu].properties: Invalid value: must "
					  "be an object", p->name, ei);
		if ((r = merge_into(&c->properties, e->properties, err)) < 0) {
			errbuf_prefix(err, "policy \"%s\": components[%zu].properties", p->name, ei);
			return r;
		}
	}
	for (size_t t = 0; t < e->ntraits; t++) {
		if (e->traits[t].properties && !json_is_object(e->traits[t].properties))
			return errbuf_set(err, -EINVAL, "policy \"%s\": components[%zu].traits[%zu].properties: Invalid "
					  "value: must be an object", p->name, ei, t);
		if ((r = trait_patch(c, &e->traits[t], err)) < 0) {
			errbuf_prefix(err, "policy \"%s\": components[%zu].traits[%zu]", p->name, ei, t);
			return r;
		}
	}
	return 0;
}

static bool in_strv(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

/* Keep only the components the selector names (compacting the array). */
static void select_components(const struct app_override *o, struct app_component *cs, size_t *n)
{
	size_t w = 0;

	for (size_t i = 0; i < *n; i++) {
		if (in_strv(o->selector, o->nselector, cs[i].name))
			cs[w++] = cs[i];
		else
			app_component_free_contents(&cs[i]);
	}
	*n = w;
}

/* dependsOn entries naming components that are not rendered here are
 * dropped: nothing would ever satisfy them on this cluster. */
static void prune_depends(struct app_component *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t w = 0;

		for (size_t d = 0; d < cs[i].ndepends; d++) {
			bool kept = false;

			for (size_t k = 0; k < n && !kept; k++)
				kept = !strcmp(cs[k].name, cs[i].depends_on[d]);
			if (kept)
				cs[i].depends_on[w++] = cs[i].depends_on[d];
			else
				free(cs[i].depends_on[d]);
		}
		cs[i].ndepends = w;
	}
}

/* See app.h. */
int app_override_apply(const struct app_component *base, size_t nbase, const struct app_policy *const *ovs,
		       size_t novs, const char *cluster, const json_t *cluster_labels, struct errbuf *err,
		       struct app_component **ret_components, size_t *ret_n)
{
	struct app_component *cs = xcalloc(nbase ? nbase : 1, sizeof(*cs));
	size_t n = nbase, i;
	int r = 0;

	for (i = 0; i < nbase; i++)
		component_copy(&cs[i], &base[i]);
	for (size_t k = 0; k < novs; k++) {
		const struct app_policy *p = ovs[k];
		bool applies;

		if (!p || p->kind != APP_POLICY_OVERRIDE)
			continue;
		if ((r = override_applies(p, cluster, cluster_labels, err, &applies)) < 0)
			goto out;
		if (!applies)
			continue;
		for (i = 0; i < n; i++)
			for (size_t e = 0; e < p->override.nentries; e++)
				if ((r = entry_apply(p, e, &cs[i], err)) < 0)
					goto out;
		if (p->override.selector)
			select_components(&p->override, cs, &n);
	}
	prune_depends(cs, n);
	*ret_components = cs;
	*ret_n = n;
	cs = NULL;
out:
	if (cs) {
		for (i = 0; i < n; i++)
			app_component_free_contents(&cs[i]);
		free(cs);
	}
	return r;
}
