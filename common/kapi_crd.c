/* kapi_crd.c - CustomResourceDefinitions: resources created at run time.
 *
 * apiextensions.k8s.io/v1 customresourcedefinitions is a resource like any
 * other; its admission callback validates and defaults the definition (name
 * is <plural>.<group>, a group with a dot, one storage version, scope) and
 * sets the status kube-apiextensions-server would (acceptedNames,
 * storedVersions, NamesAccepted and Established True). A subscription on the
 * server then registers the custom resource as soon as the CRD is committed
 * (discovery and serving at once, every served version, status and scale
 * subresources, printer columns), follows changes of served versions and
 * columns in place, and on deletion unregisters it, which deletes its objects
 * (DELETED reaches their watchers) and closes their watch streams.
 * Not done: OpenAPI schema validation, pruning and defaulting of custom
 * objects, conversion webhooks (all versions share one stored form, apiVersion
 * rewritten on output, as strategy None does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kapi_int.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

#define CRD_MAX_VERSIONS 32
#define CRD_MAX_NAMES 16

static const char *const sn_crd[] = {"crd", "crds", NULL};
static const char *const cat_crd[] = {"api-extensions", NULL};

static const char *str0(const char *s)
{
	return s ? s : "";
}

static bool lowercase_label(const char *s)
{
	return s && *s && kobj_valid_label_name(s);
}

static int admit_crd(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *spec, *names, *versions, *v, *status, *accepted, *conds;
	const char *group, *plural, *singular, *kind, *scope, *name, *storage = NULL;
	char want[600], now[TIMEFMT_MAX], lower[256];
	size_t i, nstorage = 0;

	if (!o || (req->subresource && !strcmp(req->subresource, "status")))
		return 0;
	spec = json_object_get(o, "spec");
	if (!json_is_object(spec))
		return errbuf_set(err, -EINVAL, "spec: Required value");
	group = json_string_value(json_object_get(spec, "group"));
	names = json_object_get(spec, "names");
	plural = json_string_value(json_object_get(names, "plural"));
	kind = json_string_value(json_object_get(names, "kind"));
	scope = json_string_value(json_object_get(spec, "scope"));
	versions = json_object_get(spec, "versions");
	name = kobj_name(o);
	if (!group || !*group)
		return errbuf_set(err, -EINVAL, "spec.group: Required value");
	if (!strchr(group, '.') || !kobj_valid_subdomain(group))
		return errbuf_set(err, -EINVAL, "spec.group: Invalid value: \"%s\": should be a domain with at least one dot",
				  group);
	if (!lowercase_label(plural))
		return errbuf_set(err, -EINVAL, "spec.names.plural: Invalid value: \"%s\": a lowercase RFC 1123 label is required",
				  str0(plural));
	if (!kind || !*kind)
		return errbuf_set(err, -EINVAL, "spec.names.kind: Required value");
	snprintf(want, sizeof(want), "%s.%s", plural, group);
	if (!name || strcmp(name, want))
		return errbuf_set(err, -EINVAL, "metadata.name: Invalid value: \"%s\": must be spec.names.plural+\".\"+spec.group",
				  str0(name));
	if (!scope || (strcmp(scope, "Namespaced") && strcmp(scope, "Cluster")))
		return errbuf_set(err, -EINVAL, "spec.scope: Unsupported value: \"%s\": supported values: \"Cluster\", \"Namespaced\"",
				  str0(scope));
	if (!json_is_array(versions) || !json_array_size(versions) || json_array_size(versions) > CRD_MAX_VERSIONS)
		return errbuf_set(err, -EINVAL, "spec.versions: Required value: must have at least one version");
	json_array_foreach(versions, i, v) {
		const char *vn = json_string_value(json_object_get(v, "name"));

		if (!lowercase_label(vn))
			return errbuf_set(err, -EINVAL, "spec.versions[%zu].name: Invalid value: \"%s\": a DNS-1035 label is required",
					  i, str0(vn));
		if (!json_is_boolean(json_object_get(v, "served")))
			return errbuf_set(err, -EINVAL, "spec.versions[%zu].served: Required value", i);
		if (!json_is_boolean(json_object_get(v, "storage")))
			return errbuf_set(err, -EINVAL, "spec.versions[%zu].storage: Required value", i);
		if (json_is_true(json_object_get(v, "storage"))) {
			nstorage++;
			storage = vn;
		}
	}
	if (nstorage != 1)
		return errbuf_set(err, -EINVAL, "spec.versions: Invalid value: must have exactly one version marked as storage version");
	if (req->op == KAPI_OP_UPDATE && req->old_obj) {
		json_t *os = json_object_get(req->old_obj, "spec");

		if (!json_equal(json_object_get(os, "group"), json_object_get(spec, "group")))
			return errbuf_set(err, -EINVAL, "spec.group: Invalid value: \"%s\": field is immutable", group);
		if (!json_equal(json_object_get(json_object_get(os, "names"), "plural"), json_object_get(names, "plural")))
			return errbuf_set(err, -EINVAL, "spec.names.plural: Invalid value: \"%s\": field is immutable", plural);
		if (!json_equal(json_object_get(os, "scope"), json_object_get(spec, "scope")))
			return errbuf_set(err, -EINVAL, "spec.scope: Invalid value: \"%s\": field is immutable", scope);
	}
	/* defaults */
	singular = json_string_value(json_object_get(names, "singular"));
	if (!singular) {
		for (i = 0; kind[i] && i + 1 < sizeof(lower); i++)
			lower[i] = (char)(kind[i] >= 'A' && kind[i] <= 'Z' ? kind[i] + 32 : kind[i]);
		lower[i] = '\0';
		json_object_set_new(names, "singular", json_string(lower));
	}
	if (!json_object_get(names, "listKind"))
		json_object_set_new(names, "listKind", json_sprintf("%sList", kind));
	if (!json_object_get(spec, "conversion"))
		json_object_set_new(spec, "conversion", json_pack("{s:s}", "strategy", "None"));
	/* the status the apiextensions controllers would set */
	time_format_rfc3339(time_now_us(), now);
	status = json_object();
	accepted = json_deep_copy(names);
	json_object_set_new(status, "acceptedNames", accepted);
	conds = json_array();
	json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "NamesAccepted", "status", "True",
					       "lastTransitionTime", now, "reason", "NoConflicts", "message",
					       "no conflicts found"));
	json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "Established", "status", "True",
					       "lastTransitionTime", now, "reason", "InitialNamesAccepted",
					       "message", "the initial names have been accepted"));
	json_object_set_new(status, "conditions", conds);
	json_object_set_new(status, "storedVersions", json_pack("[s]", storage));
	if (req->op == KAPI_OP_UPDATE && req->old_obj) {
		/* keep transition times and add the new storage version */
		json_t *ost = json_object_get(req->old_obj, "status"), *sv = json_object_get(ost, "storedVersions");

		if (json_is_array(json_object_get(ost, "conditions")))
			json_object_set(status, "conditions", json_object_get(ost, "conditions"));
		if (json_is_array(sv)) {
			json_t *nsv = json_deep_copy(sv), *x;
			bool have = false;

			json_array_foreach(sv, i, x)
				if (json_is_string(x) && !strcmp(json_string_value(x), storage))
					have = true;
			if (!have)
				json_array_append_new(nsv, json_string(storage));
			json_object_set_new(status, "storedVersions", nsv);
		}
	}
	json_object_set_new(o, "status", status);
	return 0;
}

static const struct kapi_resource_def crd_def = {
	.group = "apiextensions.k8s.io",
	.version = "v1",
	.resource = "customresourcedefinitions",
	.singular = "customresourcedefinition",
	.kind = "CustomResourceDefinition",
	.short_names = sn_crd,
	.categories = cat_crd,
	.namespaced = false,
	.verbs = KAPI_VERBS_ALL,
	.has_status = true,
	.generation = KAPI_GEN_NOT_METADATA,
	.admit = admit_crd,
};

static int strv_from_json(const json_t *arr, const char **out, size_t max)
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && n + 1 < max)
			out[n++] = json_string_value(v);
	out[n] = NULL;
	return (int)n;
}

static int vcmp(const void *a, const void *b)
{
	return kapi_version_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* The resource definition a CRD describes; strings borrowed from crd. */
static bool crd_to_def(const json_t *crd, struct kapi_resource_def *def, const char **versions,
		       const char **short_names, const char **categories)
{
	json_t *spec = json_object_get(crd, "spec"), *names = json_object_get(spec, "names");
	json_t *vs = json_object_get(spec, "versions"), *v, *pref = NULL;
	size_t i, n = 0;

	memset(def, 0, sizeof(*def));
	def->group = json_string_value(json_object_get(spec, "group"));
	def->resource = json_string_value(json_object_get(names, "plural"));
	def->singular = json_string_value(json_object_get(names, "singular"));
	def->kind = json_string_value(json_object_get(names, "kind"));
	def->list_kind = json_string_value(json_object_get(names, "listKind"));
	def->namespaced = !strcmp(str0(json_string_value(json_object_get(spec, "scope"))), "Namespaced");
	def->verbs = KAPI_VERBS_ALL;
	def->generation = KAPI_GEN_NOT_METADATA;
	def->custom = true;
	strv_from_json(json_object_get(names, "shortNames"), short_names, CRD_MAX_NAMES);
	strv_from_json(json_object_get(names, "categories"), categories, CRD_MAX_NAMES);
	def->short_names = short_names;
	def->categories = categories;
	json_array_foreach(vs, i, v)
		if (json_is_true(json_object_get(v, "served")) && n + 1 < CRD_MAX_VERSIONS)
			versions[n++] = json_string_value(json_object_get(v, "name"));
	versions[n] = NULL;
	if (!n || !def->group || !def->resource || !def->kind)
		return false;
	qsort(versions, n, sizeof(versions[0]), vcmp);
	def->version = versions[0];
	json_array_foreach(vs, i, v)
		if (!strcmp(str0(json_string_value(json_object_get(v, "name"))), versions[0]))
			pref = v;
	def->has_status = json_object_get(json_object_get(pref, "subresources"), "status") != NULL;
	def->has_scale = json_object_get(json_object_get(pref, "subresources"), "scale") != NULL;
	if (def->has_scale) {
		const char *p = json_string_value(
			json_object_get(json_object_get(json_object_get(pref, "subresources"), "scale"), "labelSelectorPath"));

		def->scale_selector_path = p ? (p[0] == '.' ? p + 1 : p) : "status.selector";
	}
	def->printer_columns = json_object_get(pref, "additionalPrinterColumns");
	return true;
}

static void crd_register(struct kapi_server *s, const json_t *crd)
{
	struct kapi_resource_def def;
	const char *versions[CRD_MAX_VERSIONS], *sn[CRD_MAX_NAMES], *cat[CRD_MAX_NAMES];
	int r;

	if (!crd_to_def(crd, &def, versions, sn, cat)) {
		log_warn("kapi: CRD %s serves no version; not registered", str0(kobj_name(crd)));
		return;
	}
	r = kapi_server_register_versions(s, &def, versions, NULL);
	if (r < 0)
		log_warn("kapi: CRD %s: registering %s.%s failed: %s", str0(kobj_name(crd)), def.resource, def.group,
			 strerror(-r));
}

/* Follow a changed CRD in place (served versions, columns, subresources,
 * names): the objects stay, watchers keep their streams. */
static void crd_update(struct kapi_server *s, const json_t *crd)
{
	struct kapi_resource_def def;
	const char *versions[CRD_MAX_VERSIONS], *sn[CRD_MAX_NAMES], *cat[CRD_MAX_NAMES];
	struct kapi_resource *r;
	size_t i, n;

	if (!crd_to_def(crd, &def, versions, sn, cat))
		return;
	r = kapi_resource_find(s, def.group, def.resource);
	if (!r) {
		crd_register(s, crd);
		return;
	}
	for (i = 0; r->versions[i]; i++)
		free(r->versions[i]);
	free(r->versions);
	for (n = 0; versions[n]; n++)
		;
	r->versions = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		r->versions[i] = xstrdup(versions[i]);
	r->def.version = r->versions[0];
	free(r->group_version);
	r->group_version = xasprintf("%s/%s", r->def.group, r->def.version);
	json_decref(r->printer_columns);
	r->printer_columns = def.printer_columns ? json_deep_copy(def.printer_columns) : NULL;
	r->def.printer_columns = r->printer_columns;
	r->def.has_status = def.has_status;
	r->def.has_scale = def.has_scale;
	for (i = 0; r->short_names[i]; i++)
		free(r->short_names[i]);
	free(r->short_names);
	for (n = 0; sn[n]; n++)
		;
	r->short_names = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		r->short_names[i] = xstrdup(sn[i]);
	r->def.short_names = (const char *const *)r->short_names;
}

static void crd_unregister(struct kapi_server *s, const json_t *crd)
{
	json_t *spec = json_object_get(crd, "spec");
	const char *group = json_string_value(json_object_get(spec, "group"));
	const char *plural = json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));

	if (group && plural)
		kapi_server_unregister(s, group, plural);
}

static void crd_changed(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
			const json_t *old_obj, const json_t *new_obj)
{
	struct kapi_server *s = data;

	if (strcmp(def->group, "apiextensions.k8s.io") || strcmp(def->resource, "customresourcedefinitions"))
		return;
	switch (type) {
	case KAPI_EVENT_ADDED:
		crd_register(s, new_obj);
		break;
	case KAPI_EVENT_MODIFIED:
		crd_update(s, new_obj);
		break;
	case KAPI_EVENT_DELETED:
		crd_unregister(s, old_obj);
		break;
	}
}

/* See kapi.h. */
int kapi_crd_enable(struct kapi_server *s)
{
	int r = kapi_server_register(s, &crd_def, NULL);

	if (r < 0)
		return r;
	return kapi_server_subscribe(s, crd_changed, s, NULL);
}
