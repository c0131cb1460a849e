/* app_render.c - what a deploy step puts on one cluster (see app.h): the
 * rendered manifests of the components, the ManifestWork that carries them,
 * the revision hash, and app_check (admission's dry run).
 *
 * Pure, like app_spec.c and app_place.c: definitions come from the registry
 * passed in (appdef.h does the templates, parameters and trait patches);
 * nothing here touches the loop or the store. The one piece of state is
 * app_check's lazily loaded registry of the built-in definitions, used when
 * the caller passes none (tests, the fuzzer); it is loaded once and kept for
 * the life of the process.
 *
 * The work's content depends only on the manifests (and the app's name and
 * namespace): no revision, no time, so an unchanged cluster keeps an
 * unchanged work across revisions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "app.h"
#include "appdef.h"
#include "codec.h"
#include "kobj.h"

#define RENDER_FIELD_MAX 256
#define WORK_API_VERSION "work.open-cluster-management.io/v1"

static void fld(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fld(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, RENDER_FIELD_MAX, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* kinds                                                                     */

/* Cluster-scoped kinds of the built-in API groups and of well-known add-ons
 * (cert-manager, Kueue, OCM, External Secrets, Kyverno). A custom resource
 * not listed here is treated as namespaced. */
static const char *const cluster_kinds[] = {
	"APIService",
	"CSIDriver",
	"CSINode",
	"CertificateSigningRequest",
	"ClusterClaim",
	"ClusterIssuer",
	"ClusterPolicy",
	"ClusterQueue",
	"ClusterRole",
	"ClusterRoleBinding",
	"ClusterSecretStore",
	"ClusterTrustBundle",
	"ComponentStatus",
	"CustomResourceDefinition",
	"FlowSchema",
	"IngressClass",
	"ManagedCluster",
	"ManagedClusterSet",
	"MutatingWebhookConfiguration",
	"Namespace",
	"Node",
	"PersistentVolume",
	"PodSecurityPolicy",
	"PriorityClass",
	"PriorityLevelConfiguration",
	"ResourceFlavor",
	"RuntimeClass",
	"StorageClass",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding",
	"ValidatingWebhookConfiguration",
	"VolumeAttachment",
	NULL,
};

/* See app.h. */
bool app_kind_cluster_scoped(const char *kind)
{
	for (const char *const *k = cluster_kinds; kind && *k; k++)
		if (!strcmp(*k, kind))
			return true;
	return false;
}

/* See app.h. */
void app_kind_resource(const char *kind, char *out, size_t outlen)
{
	/* Endpoints is the one built-in kind that is its own plural. */
	if (kind && !strcasecmp(kind, "endpoints"))
		snprintf(out, outlen, "endpoints");
	else
		appdef_kind_plural(kind, out, outlen);
}

static int builtins(struct errbuf *err, const struct appdef_registry **ret);

/* ------------------------------------------------------------------------ */
/* rendering one cluster                                                     */

static size_t spec_component_index(const struct app_spec *s, const char *name, size_t dflt)
{
	const struct app_component *c = app_spec_component(s, name);

	return c ? (size_t)(c - s->components) : dflt;
}

/* "a, b, c, ..." of a JSON array of names, into out. */
static void names_text(const json_t *names, char *out, size_t outlen)
{
	size_t used = 0, i;
	const json_t *v;

	out[0] = 0;
	json_array_foreach(names, i, v) {
		if (used >= outlen)
			break;
		if (i == 12) {
			snprintf(out + used, outlen - used, ", ...");
			break;
		}
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", json_string_value(v));
	}
}

static int unknown_def(const struct appdef_registry *defs, enum appdef_kind kind, const char *ns, const char *field,
		       const char *type, struct errbuf *err)
{
	json_t *names = appdef_registry_names(defs, kind, ns);
	char list[300];
	int r;

	names_text(names, list, sizeof(list));
	r = errbuf_set(err, -EINVAL,
		       "%s: Unsupported value: \"%.64s\": no %s named \"%.64s\" in namespace %s, %s or the built-ins "
		       "(known: %s): fix the type or apply the definition first", field, type,
		       kind == APPDEF_COMPONENT ? "ComponentDefinition" : "TraitDefinition", type, ns,
		       APP_SYSTEM_NAMESPACE, list);
	json_decref(names);
	return r;
}

/* Labels and namespace of one rendered object; checks the shape the work
 * needs (apiVersion, kind, metadata.name). */
static int finish_object(json_t *obj, const struct app_render_in *in, const char *component, const char *field,
			 const char *what, struct errbuf *err)
{
	const char *kind, *name;
	json_t *md;

	if (!json_is_object(obj))
		return errbuf_set(err, -EINVAL, "%s: the %s renders to a value that is not an object: check the "
				  "definition's template", field, what);
	kind = kobj_kind(obj);
	name = kobj_name(obj);
	if (!kobj_api_version(obj) || !*kobj_api_version(obj) || !kind || !*kind)
		return errbuf_set(err, -EINVAL, "%s: Required value: the %s has no apiVersion or kind", field, what);
	if (!name || !*name)
		return errbuf_set(err, -EINVAL, "%s: Required value: the %s (%.64s) has no metadata.name", field, what,
				  kind);
	/* Kubernetes' rule for every kind (RBAC names may hold ':'); the API
	 * server of the spoke checks the kind's own rule. */
	if (strlen(name) > 253 || strpbrk(name, "/%") || !strcmp(name, ".") || !strcmp(name, ".."))
		return errbuf_set(err, -EINVAL,
				  "%s: Invalid value: \"%.64s\": the %s's metadata.name must be at most 253 "
				  "characters without '/' or '%%'", field, name, what);
	md = kobj_metadata(obj, true);
	if (json_object_get(md, "labels") && !json_is_object(json_object_get(md, "labels")))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: the %s's metadata.labels is not an object", field,
				  what);
	kobj_set_label(obj, APP_LABEL_NAME, in->spec->name);
	kobj_set_label(obj, APP_LABEL_NAMESPACE, in->spec->namespace_);
	kobj_set_label(obj, APP_LABEL_COMPONENT, component);
	if (app_kind_cluster_scoped(kind)) {
		json_object_del(md, "namespace");
	} else if (in->namespace_) {
		json_object_set_new(md, "namespace", json_string(in->namespace_));
	} else {
		const char *ns = kobj_namespace(obj);

		if (!ns || !*ns)
			json_object_set_new(md, "namespace", json_string(in->spec->namespace_));
		else if (!kobj_valid_label_name(ns))
			return errbuf_set(err, -EINVAL,
					  "%s: Invalid value: \"%.64s\": the %s's metadata.namespace must be a "
					  "DNS-1123 label", field, ns, what);
	}
	return 0;
}

static int render_component(const struct app_render_in *in, size_t ci, json_t *manifests, struct errbuf *err)
{
	const struct app_component *c = &in->components[ci];
	const struct app_spec *s = in->spec;
	const struct app_component *orig = app_spec_component(s, c->name);
	size_t si = spec_component_index(s, c->name, ci);
	struct appdef_trait_use *uses = xcalloc(c->ntraits ? c->ntraits : 1, sizeof(*uses));
	char **fields = xcalloc(c->ntraits ? c->ntraits : 1, sizeof(char *));
	struct appdef_rendered out = {0};
	char cfield[RENDER_FIELD_MAX], field[RENDER_FIELD_MAX];
	const struct appdef *cd;
	struct appdef_context ctx;
	const json_t *o;
	size_t i;
	int r;

	fld(cfield, "spec.components[%zu]", si);
	cd = appdef_registry_get(in->defs, APPDEF_COMPONENT, s->namespace_, c->type);
	if (!cd) {
		fld(field, "%s.type", cfield);
		r = unknown_def(in->defs, APPDEF_COMPONENT, s->namespace_, field, c->type, err);
		goto out;
	}
	for (i = 0; i < c->ntraits; i++) {
		size_t ti = i;
		bool in_spec = false;

		for (size_t k = 0; orig && k < orig->ntraits; k++)
			if (!strcmp(orig->traits[k].type, c->traits[i].type)) {
				ti = k;
				in_spec = true;
				break;
			}
		fields[i] = in_spec ? xasprintf("%s.traits[%zu]", cfield, ti)
				    : xasprintf("%s (trait \"%s\" added by an override policy)", cfield, c->traits[i].type);
		uses[i].def = appdef_registry_get(in->defs, APPDEF_TRAIT, s->namespace_, c->traits[i].type);
		uses[i].properties = c->traits[i].properties;
		uses[i].field = fields[i];
		if (!uses[i].def) {
			char *tf = in_spec ? xasprintf("%s.type", fields[i]) : xstrdup(fields[i]);

			r = unknown_def(in->defs, APPDEF_TRAIT, s->namespace_, tf, c->traits[i].type, err);
			free(tf);
			goto out;
		}
	}
	ctx = (struct appdef_context){
		.name = c->name,
		.namespace_ = in->namespace_ ? in->namespace_ : s->namespace_,
		.app_name = s->name,
		.app_namespace = s->namespace_,
		.revision = in->revision ? in->revision : "",
		.cluster = in->cluster ? in->cluster : "",
	};
	if ((r = appdef_render(cd, c->properties, cfield, uses, c->ntraits, &ctx, err, &out)) < 0)
		goto out;
	if ((r = finish_object(out.workload, in, c->name, cfield, "workload", err)) < 0)
		goto out;
	json_array_append_new(manifests, json_pack("{s:s, s:s, s:s, s:O}", "component", c->name, "role", "workload",
						   "type", c->type, "object", out.workload));
	json_array_foreach(out.outputs, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *trait = json_string_value(json_object_get(o, "trait"));
		json_t *obj = json_object_get(o, "object"), *m;
		char what[128];

		snprintf(what, sizeof(what), "output \"%.64s\"", name ? name : "?");
		if ((r = finish_object(obj, in, c->name, cfield, what, err)) < 0)
			goto out;
		m = json_pack("{s:s, s:s, s:O}", "component", c->name, "role", trait ? "trait" : "output", "object", obj);
		if (trait)
			json_object_set_new(m, "trait", json_string(trait));
		if (name)
			json_object_set_new(m, "name", json_string(name));
		json_array_append_new(manifests, m);
	}
	r = 0;
out:
	appdef_rendered_clear(&out);
	for (i = 0; i < c->ntraits; i++)
		free(fields[i]);
	free(fields);
	free(uses);
	return r;
}

/* See app.h. */
int app_render_cluster(const struct app_render_in *in, struct errbuf *err, json_t **ret_manifests)
{
	struct app_render_in with_defs = *in;
	json_t *manifests;
	int r;

	if (!in->defs && (r = builtins(err, &with_defs.defs)) < 0)
		return r;
	manifests = json_array();
	for (size_t i = 0; i < in->ncomponents; i++) {
		if ((r = render_component(&with_defs, i, manifests, err)) < 0) {
			json_decref(manifests);
			return r;
		}
	}
	*ret_manifests = manifests;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* the ManifestWork                                                          */

/* See app.h. */
void app_work_name(const char *app_ns, const char *app_name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s.%s", app_ns, app_name);
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

static bool same_object(const json_t *a, const json_t *b)
{
	return !strcmp(str_or(kobj_api_version(a), ""), str_or(kobj_api_version(b), "")) &&
	       !strcmp(str_or(kobj_kind(a), ""), str_or(kobj_kind(b), "")) &&
	       !strcmp(str_or(kobj_namespace(a), ""), str_or(kobj_namespace(b), "")) &&
	       !strcmp(str_or(kobj_name(a), ""), str_or(kobj_name(b), ""));
}

static bool strv_has(const json_t *arr, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v), s))
			return true;
	return false;
}

/* The resourceIdentifier of a workload: resource from the definition's
 * workload.type when the object is the definition's kind, else derived. */
static json_t *workload_identifier(const json_t *obj, const struct appdef *cd)
{
	char group[256] = "", version[256] = "", resource[300];
	const char *kind = kobj_kind(obj);
	const char *wt = cd ? appdef_workload_type(cd) : NULL;
	json_t *id;

	if (!kobj_api_version(obj) || kobj_split_api_version(kobj_api_version(obj), group, version) < 0)
		group[0] = 0;
	if (wt && cd && appdef_workload_kind(cd) && !strcmp(appdef_workload_kind(cd), kind) && strchr(wt, '.')) {
		snprintf(resource, sizeof(resource), "%.*s", (int)(strchr(wt, '.') - wt), wt);
	} else if (wt && cd && appdef_workload_kind(cd) && !strcmp(appdef_workload_kind(cd), kind) && !group[0] &&
		   *wt && strcmp(wt, "*")) {
		snprintf(resource, sizeof(resource), "%s", wt);
	} else {
		app_kind_resource(kind, resource, sizeof(resource));
	}
	id = json_pack("{s:s, s:s, s:s}", "group", group, "resource", resource, "name", kobj_name(obj));
	if (!app_kind_cluster_scoped(kind) && kobj_namespace(obj))
		json_object_set_new(id, "namespace", json_string(kobj_namespace(obj)));
	return id;
}

/* See app.h. */
int app_render_work(const struct app_spec *spec, const char *cluster, const json_t *manifests,
		    const struct appdef_registry *defs, struct errbuf *err, json_t **ret_work)
{
	json_t *objs = json_array(), *entries = json_array(), *namespaces = json_array(), *user_ns = json_array();
	json_t *list, *configs, *rules, *work, *spec_obj, *e, *obj;
	char name[300];
	size_t i, k;
	int r = 0;

	if (!defs && (r = builtins(err, &defs)) < 0)
		goto out;
	/* later objects with the same identity replace earlier ones, in place */
	json_array_foreach(manifests, i, e) {
		obj = json_object_get(e, "object");
		if (!json_is_object(obj) || !kobj_kind(obj) || !kobj_name(obj)) {
			r = errbuf_set(err, -EINVAL, "manifests[%zu]: Invalid value: not a rendered manifest "
				       "{component, role, object}", i);
			goto out;
		}
		for (k = 0; k < json_array_size(objs); k++)
			if (same_object(json_array_get(objs, k), obj))
				break;
		if (k < json_array_size(objs)) {
			json_array_set(objs, k, obj);
			json_array_set(entries, k, e);
		} else {
			json_array_append(objs, obj);
			json_array_append(entries, e);
		}
	}
	json_array_foreach(objs, i, obj) {
		const char *ns = kobj_namespace(obj);

		if (!strcmp(kobj_kind(obj), "Namespace") && !strv_has(user_ns, kobj_name(obj)))
			json_array_append_new(user_ns, json_string(kobj_name(obj)));
		if (!ns || !*ns || app_kind_cluster_scoped(kobj_kind(obj)) || !strcmp(ns, "default") ||
		    !strcmp(ns, "kube-system") || strv_has(namespaces, ns))
			continue;
		json_array_append_new(namespaces, json_string(ns));
	}

	list = json_array();
	configs = json_array();
	rules = json_array();
	json_array_foreach(namespaces, i, e) {
		const char *ns = json_string_value(e);

		if (strv_has(user_ns, ns))
			continue;
		json_array_append_new(list, json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}}", "apiVersion", "v1", "kind",
						      "Namespace", "metadata", "name", ns, "labels", APP_LABEL_NAME,
						      spec->name, APP_LABEL_NAMESPACE, spec->namespace_));
		json_array_append_new(configs, json_pack("{s:{s:s, s:s, s:s}, s:{s:s}}", "resourceIdentifier", "group",
							 "", "resource", "namespaces", "name", ns, "updateStrategy",
							 "type", "CreateOnly"));
	}
	/* every Namespace in the work, ours or the user's, stays on deletion */
	json_array_foreach(namespaces, i, e)
		json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:s}", "group", "", "resource", "namespaces",
						       "name", json_string_value(e), "namespace", ""));
	json_array_foreach(user_ns, i, e)
		if (!strv_has(namespaces, json_string_value(e)))
			json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:s}", "group", "", "resource",
							       "namespaces", "name", json_string_value(e), "namespace",
							       ""));
	json_array_foreach(objs, i, obj) {
		json_t *entry = json_array_get(entries, i), *fb = NULL, *fr;
		const char *role = json_string_value(json_object_get(entry, "role"));
		const char *comp = json_string_value(json_object_get(entry, "component"));
		const char *type = json_string_value(json_object_get(entry, "type"));
		const struct appdef *cd = NULL;

		json_array_append(list, obj);
		if (!role || strcmp(role, "workload"))
			continue;
		if (!type && comp && app_spec_component(spec, comp))
			type = app_spec_component(spec, comp)->type;
		if (type && defs)
			cd = appdef_registry_get(defs, APPDEF_COMPONENT, spec->namespace_, type);
		fr = json_pack("[{s:s}]", "type", "WellKnownStatus");
		if (cd && (fb = appdef_feedback_rules(cd)) && json_is_array(fb))
			json_array_extend(fr, fb);
		json_decref(fb);
		json_array_append_new(configs, json_pack("{s:o, s:o}", "resourceIdentifier", workload_identifier(obj, cd),
							 "feedbackRules", fr));
	}

	app_work_name(spec->namespace_, spec->name, name, sizeof(name));
	spec_obj = json_pack("{s:{s:o}}", "workload", "manifests", list);
	if (json_array_size(configs))
		json_object_set(spec_obj, "manifestConfigs", configs);
	if (json_array_size(rules))
		json_object_set_new(spec_obj, "deleteOption",
				    json_pack("{s:s, s:{s:O}}", "propagationPolicy", "SelectivelyOrphan",
					      "selectivelyOrphans", "orphaningRules", rules));
	work = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:o}", "apiVersion", WORK_API_VERSION, "kind",
			 "ManifestWork", "metadata", "name", name, "namespace", cluster, "labels", APP_LABEL_NAME,
			 spec->name, APP_LABEL_NAMESPACE, spec->namespace_, "spec", spec_obj);
	json_decref(configs);
	json_decref(rules);
	*ret_work = work;
out:
	json_decref(objs);
	json_decref(entries);
	json_decref(namespaces);
	json_decref(user_ns);
	return r;
}

/* ------------------------------------------------------------------------ */
/* revision hash                                                             */

/* See app.h. */
void app_revision_hash(const json_t *app_spec_obj, const json_t *defs_used, char out[65])
{
	json_t *doc = json_object();
	char *text;

	json_object_set_new(doc, "spec", app_spec_obj ? json_deep_copy(app_spec_obj) : json_null());
	json_object_set_new(doc, "definitions", defs_used ? json_deep_copy(defs_used) : json_object());
	text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		abort(); /* jansson fails only on OOM here */
	sha256_hex(text, strlen(text), out);
	free(text);
	json_decref(doc);
}

/* ------------------------------------------------------------------------ */
/* app_check                                                                 */

static struct appdef_registry *builtin_registry;

static int builtins(struct errbuf *err, const struct appdef_registry **ret)
{
	struct appdef_registry *reg = NULL;
	int r;

	if (!builtin_registry) {
		if ((r = appdef_registry_new(&reg)) < 0)
			return errbuf_set(err, r, "cannot create the definitions registry");
		if ((r = appdef_registry_load_builtins(reg, err)) < 0) {
			appdef_registry_free(reg);
			return r;
		}
		builtin_registry = reg;
	}
	*ret = builtin_registry;
	return 0;
}

/* Render components (after the step's overrides, restrictions to clusters
 * ignored so every override is checked) into a work, marking the ones
 * rendered in covered. */
static int check_render(const struct app_spec *s, const struct app_component *base, size_t nbase,
			const struct app_policy *const *ovs, size_t novs, const char *ns,
			const struct appdef_registry *defs, bool *covered, struct errbuf *err)
{
	struct app_policy *plain = xcalloc(novs ? novs : 1, sizeof(*plain));
	const struct app_policy **pp = xcalloc(novs ? novs : 1, sizeof(*pp));
	struct app_render_in in;
	struct app_component *cs = NULL;
	json_t *manifests = NULL, *work = NULL;
	size_t n = 0, i;
	char rev[128];
	int r;

	for (i = 0; i < novs; i++) {
		plain[i] = *ovs[i]; /* shallow: nothing of it is freed here */
		plain[i].override.clusters = NULL;
		plain[i].override.nclusters = 0;
		plain[i].override.cluster_selector = NULL;
		pp[i] = &plain[i];
	}
	if ((r = app_override_apply(base, nbase, pp, novs, APP_LOCAL_CLUSTER, NULL, err, &cs, &n)) < 0)
		goto out;
	snprintf(rev, sizeof(rev), "%s-v1", s->name);
	in = (struct app_render_in){
		.spec = s, .components = cs, .ncomponents = n, .cluster = APP_LOCAL_CLUSTER,
		.namespace_ = ns, .revision = rev, .defs = defs,
	};
	if ((r = app_render_cluster(&in, err, &manifests)) < 0)
		goto out;
	if ((r = app_render_work(s, APP_LOCAL_CLUSTER, manifests, defs, err, &work)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const struct app_component *c = app_spec_component(s, cs[i].name);

		if (c)
			covered[c - s->components] = true;
	}
out:
	json_decref(manifests);
	json_decref(work);
	for (i = 0; cs && i < n; i++)
		app_component_free_contents(&cs[i]);
	free(cs);
	free(pp);
	free(plain);
	return r;
}

/* What app_check renders: each distinct (override policies, namespace) once,
 * within a budget of CHECK_BUDGET units, a render costing its components
 * times (1 + the override entries applied), about 3 us a unit: admission
 * stays under half a second on the loop whatever the Application. Renders
 * past the budget are skipped (the controller reports their errors when it
 * deploys); a real Application (tens of components, a few overrides) is
 * checked whole. */
#define CHECK_BUDGET 100000

struct check_state {
	bool *covered;          /* per spec component: rendered at least once */
	char **seen;            /* keys of the renders done, owned */
	size_t nseen;
	size_t spent;           /* budget units used so far */
};

/* Whether (step's overrides, ns) was already rendered; remembers it if not. */
static bool check_seen(struct check_state *cs, const struct app_step *st, const struct app_spec *s, const char *ns)
{
	char key[APP_POLICIES_MAX * 4 + 80];
	size_t n = 0;

	n += (size_t)snprintf(key + n, sizeof(key) - n, "%s|", ns ? ns : "");
	for (size_t i = 0; st && i < st->npolicies && n < sizeof(key); i++)
		if (s->policies[st->policies[i]].kind == APP_POLICY_OVERRIDE)
			n += (size_t)snprintf(key + n, sizeof(key) - n, "%zu,", st->policies[i]);
	for (size_t i = 0; i < cs->nseen; i++)
		if (!strcmp(cs->seen[i], key))
			return true;
	cs->seen = xrealloc(cs->seen, (cs->nseen + 1) * sizeof(*cs->seen));
	cs->seen[cs->nseen++] = xstrdup(key);
	return false;
}

static int check_deploy(const struct app_spec *s, size_t si, const struct appdef_registry *defs,
			struct check_state *cs, struct errbuf *err)
{
	bool *covered = cs->covered;
	const struct app_step *st = &s->steps[si];
	const struct app_policy **ovs = xcalloc(st->npolicies ? st->npolicies : 1, sizeof(*ovs));
	size_t novs = 0, ntopo = 0, cost, i;
	int r = 0;

	cost = 1;
	for (i = 0; i < st->npolicies; i++) {
		const struct app_policy *p = &s->policies[st->policies[i]];

		if (p->kind == APP_POLICY_OVERRIDE) {
			ovs[novs++] = p;
			cost += p->override.nentries;
		}
	}
	cost *= s->ncomponents;
	/* once per topology namespace (the namespace changes what renders) */
	for (i = 0; i < st->npolicies && r == 0; i++) {
		const struct app_policy *p = &s->policies[st->policies[i]];

		if (p->kind != APP_POLICY_TOPOLOGY)
			continue;
		ntopo++;
		if (check_seen(cs, st, s, p->topology.namespace_) || cs->spent + cost > CHECK_BUDGET)
			continue;
		cs->spent += cost;
		r = check_render(s, s->components, s->ncomponents, ovs, novs, p->topology.namespace_, defs, covered, err);
	}
	if (r == 0 && !ntopo && !check_seen(cs, st, s, NULL) && cs->spent + cost <= CHECK_BUDGET) {
		cs->spent += cost;
		r = check_render(s, s->components, s->ncomponents, ovs, novs, NULL, defs, covered, err);
	}
	if (r < 0 && novs && err) {
		size_t len = strlen(err->msg);

		if (s->default_workflow)
			snprintf(err->msg + len, sizeof(err->msg) - len,
				 " (rendered with the override policies of the default workflow)");
		else
			snprintf(err->msg + len, sizeof(err->msg) - len,
				 " (rendered with the override policies of spec.workflow.steps[%zu], \"%s\")", si,
				 st->name);
	}
	free(ovs);
	return r;
}

/* Trait types an override adds must exist (named at the override, not at
 * the component it lands on). */
static int check_override_traits(const struct app_spec *s, const struct appdef_registry *defs, struct errbuf *err)
{
	char field[RENDER_FIELD_MAX];

	for (size_t i = 0; i < s->npolicies; i++) {
		const struct app_override *o = &s->policies[i].override;

		if (s->policies[i].kind != APP_POLICY_OVERRIDE)
			continue;
		for (size_t j = 0; j < o->nentries; j++)
			for (size_t k = 0; k < o->entries[j].ntraits; k++) {
				const struct app_override_trait *t = &o->entries[j].traits[k];

				if (t->disable || appdef_registry_get(defs, APPDEF_TRAIT, s->namespace_, t->type))
					continue;
				fld(field, "spec.policies[%zu].properties.components[%zu].traits[%zu].type", i, j, k);
				return unknown_def(defs, APPDEF_TRAIT, s->namespace_, field, t->type, err);
			}
	}
	return 0;
}

/* See app.h. */
int app_check(const json_t *app, const struct appdef_registry *defs, struct errbuf *err)
{
	struct check_state cs = {0};
	struct app_spec *s = NULL;
	size_t i;
	int r;

	if ((r = app_spec_parse(app, err, &s)) < 0)
		goto out;
	if (!defs && (r = builtins(err, &defs)) < 0)
		goto out;
	if ((r = check_override_traits(s, defs, err)) < 0)
		goto out;
	cs.covered = xcalloc(s->ncomponents, sizeof(*cs.covered));
	for (i = 0; i < s->nsteps; i++) {
		const struct app_step *st = &s->steps[i];

		if (st->kind == APP_STEP_DEPLOY) {
			if ((r = check_deploy(s, i, defs, &cs, err)) < 0)
				goto out;
		} else if (st->kind == APP_STEP_APPLY_COMPONENT && cs.spent < CHECK_BUDGET) {
			const struct app_component *c = app_spec_component(s, st->component);

			cs.spent++;
			if ((r = check_render(s, c, 1, NULL, 0, st->namespace_, defs, cs.covered, err)) < 0)
				goto out;
		}
	}
	/* components no step deploys are still checked */
	for (i = 0; i < s->ncomponents; i++)
		if (!cs.covered[i] &&
		    (r = check_render(s, &s->components[i], 1, NULL, 0, NULL, defs, cs.covered, err)) < 0)
			goto out;
	r = 0;
out:
	free(cs.covered);
	for (i = 0; i < cs.nseen; i++)
		free(cs.seen[i]);
	free(cs.seen);
	app_spec_free(s);
	return r;
}
