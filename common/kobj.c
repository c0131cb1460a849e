/* kobj.c - accessors and small edits on Kubernetes objects as jansson JSON;
 * see kobj.h.
 *
 * Getters never allocate and tolerate any JSON (wrong types read as absent),
 * so handlers can call them on unvalidated input. Setters create the
 * intermediate objects they need and replace intermediate values of the wrong
 * type. Name validation follows k8s.io/apimachinery's IsDNS1123Subdomain and
 * IsDNS1123Label. No state; callable from any thread on distinct objects.
 */
#include "kobj.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"

#define KOBJ_SUBDOMAIN_MAX 253
#define KOBJ_LABEL_MAX 63
/* Cap on the dotted path given to kobj_get_path (a programmer's constant, but checked). */
#define KOBJ_PATH_MAX 1024

static const char *obj_string(const json_t *o, const char *key)
{
	json_t *v;

	if (!json_is_object(o))
		return NULL;
	v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *metadata_const(const json_t *o)
{
	json_t *m;

	if (!json_is_object(o))
		return NULL;
	m = json_object_get(o, "metadata");
	return json_is_object(m) ? m : NULL;
}

const char *kobj_api_version(const json_t *o)
{
	return obj_string(o, "apiVersion");
}

const char *kobj_kind(const json_t *o)
{
	return obj_string(o, "kind");
}

const char *kobj_name(const json_t *o)
{
	return obj_string(metadata_const(o), "name");
}

const char *kobj_namespace(const json_t *o)
{
	return obj_string(metadata_const(o), "namespace");
}

const char *kobj_uid(const json_t *o)
{
	return obj_string(metadata_const(o), "uid");
}

const char *kobj_resource_version(const json_t *o)
{
	return obj_string(metadata_const(o), "resourceVersion");
}

static json_t *metadata_child(const json_t *o, const char *key)
{
	json_t *v = json_object_get(metadata_const(o), key);

	return json_is_object(v) ? v : NULL;
}

json_t *kobj_labels(const json_t *o)
{
	return metadata_child(o, "labels");
}

json_t *kobj_annotations(const json_t *o)
{
	return metadata_child(o, "annotations");
}

const char *kobj_label(const json_t *o, const char *key)
{
	return obj_string(kobj_labels(o), key);
}

const char *kobj_annotation(const json_t *o, const char *key)
{
	return obj_string(kobj_annotations(o), key);
}

json_t *kobj_metadata(json_t *o, bool create)
{
	json_t *m;

	if (!json_is_object(o))
		return NULL;
	m = json_object_get(o, "metadata");
	if (json_is_object(m))
		return m;
	if (!create)
		return NULL;
	m = json_object();
	json_object_set_new(o, "metadata", m);
	return m;
}

/* metadata.<key> as an object, created (or replacing a non-object) as needed. */
static json_t *metadata_child_create(json_t *o, const char *key)
{
	json_t *m = kobj_metadata(o, true), *c;

	if (!m)
		return NULL;
	c = json_object_get(m, key);
	if (json_is_object(c))
		return c;
	c = json_object();
	json_object_set_new(m, key, c);
	return c;
}

void kobj_set_label(json_t *o, const char *key, const char *value)
{
	json_t *l = metadata_child_create(o, "labels");

	if (l && key && value)
		json_object_set_new(l, key, json_string(value));
}

void kobj_set_annotation(json_t *o, const char *key, const char *value)
{
	json_t *a = metadata_child_create(o, "annotations");

	if (a && key && value)
		json_object_set_new(a, key, json_string(value));
}

int kobj_split_api_version(const char *api_version, char *group_out, char *version_out)
{
	const char *slash, *version;
	size_t glen = 0, vlen;

	if (!api_version || !*api_version)
		return -EINVAL;
	slash = strchr(api_version, '/');
	if (slash) {
		glen = (size_t)(slash - api_version);
		version = slash + 1;
		if (glen == 0 || strchr(version, '/'))
			return -EINVAL;
	} else {
		version = api_version;
	}
	vlen = strlen(version);
	if (vlen == 0 || glen > KOBJ_SUBDOMAIN_MAX || vlen > KOBJ_SUBDOMAIN_MAX)
		return -EINVAL;
	memcpy(group_out, api_version, glen);
	group_out[glen] = '\0';
	memcpy(version_out, version, vlen + 1);
	return 0;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? of exactly n bytes. */
static bool valid_label_n(const char *s, size_t n)
{
	if (n == 0 || n > KOBJ_LABEL_MAX)
		return false;
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool kobj_valid_label_name(const char *name)
{
	return name && valid_label_n(name, strlen(name));
}

bool kobj_valid_subdomain(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > KOBJ_SUBDOMAIN_MAX)
		return false;
	/* Each dot-separated part is [a-z0-9]([-a-z0-9]*[a-z0-9])?; parts of a
	 * subdomain are not themselves capped at 63 by Kubernetes. */
	for (size_t start = 0; start <= n;) {
		const char *dot = memchr(name + start, '.', n - start);
		size_t end = dot ? (size_t)(dot - name) : n, len = end - start;

		if (len == 0 || !is_lower_alnum(name[start]) || !is_lower_alnum(name[end - 1]))
			return false;
		for (size_t i = start; i < end; i++)
			if (!is_lower_alnum(name[i]) && name[i] != '-')
				return false;
		start = end + 1;
	}
	return true;
}

int kobj_validate_basic(const json_t *o, struct errbuf *err)
{
	char group[KOBJ_SUBDOMAIN_MAX + 1], version[KOBJ_SUBDOMAIN_MAX + 1];
	const char *av, *kind, *name;
	json_t *m, *ns;

	if (!json_is_object(o))
		return errbuf_set(err, -EINVAL, "object: must be a JSON object");
	av = kobj_api_version(o);
	if (!av || !*av)
		return errbuf_set(err, -EINVAL, "apiVersion: required");
	if (kobj_split_api_version(av, group, version) < 0)
		return errbuf_set(err, -EINVAL, "apiVersion: invalid value \"%.64s\": must be \"group/version\" or \"version\"", av);
	kind = kobj_kind(o);
	if (!kind || !*kind)
		return errbuf_set(err, -EINVAL, "kind: required");
	if (json_object_get(o, "metadata") && !json_is_object(json_object_get(o, "metadata")))
		return errbuf_set(err, -EINVAL, "metadata: must be an object");
	m = metadata_const(o);
	name = obj_string(m, "name");
	if (!name || !*name)
		return errbuf_set(err, -EINVAL, "metadata.name: required");
	if (!kobj_valid_subdomain(name))
		return errbuf_set(err, -EINVAL,
				  "metadata.name: invalid value \"%.64s\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most 253 characters)",
				  name);
	ns = json_object_get(m, "namespace");
	if (ns && !json_is_string(ns))
		return errbuf_set(err, -EINVAL, "metadata.namespace: must be a string");
	if (ns && *json_string_value(ns) && !kobj_valid_label_name(json_string_value(ns)))
		return errbuf_set(err, -EINVAL,
				  "metadata.namespace: invalid value \"%.64s\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (at most 63 characters)",
				  json_string_value(ns));
	return 0;
}

static json_t *owner_refs(const json_t *o)
{
	json_t *refs = json_object_get(metadata_const(o), "ownerReferences");

	return json_is_array(refs) ? refs : NULL;
}

static ssize_t owner_ref_index(const json_t *o, const char *uid)
{
	json_t *refs = owner_refs(o), *ref;
	size_t i;

	if (!refs || !uid)
		return -1;
	json_array_foreach(refs, i, ref) {
		const char *u = obj_string(ref, "uid");

		if (u && strcmp(u, uid) == 0)
			return (ssize_t)i;
	}
	return -1;
}

void kobj_add_owner_ref(json_t *o, const char *api_version, const char *kind, const char *name,
			const char *uid, bool controller)
{
	json_t *m, *refs, *ref;

	if (!uid || owner_ref_index(o, uid) >= 0)
		return;
	m = kobj_metadata(o, true);
	if (!m)
		return;
	refs = json_object_get(m, "ownerReferences");
	if (!json_is_array(refs)) {
		refs = json_array();
		json_object_set_new(m, "ownerReferences", refs);
	}
	ref = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", api_version ? api_version : "",
			"kind", kind ? kind : "", "name", name ? name : "", "uid", uid);
	if (!ref)
		return;
	if (controller) {
		json_object_set_new(ref, "controller", json_true());
		json_object_set_new(ref, "blockOwnerDeletion", json_true());
	}
	json_array_append_new(refs, ref);
}

bool kobj_remove_owner_ref(json_t *o, const char *uid)
{
	ssize_t i = owner_ref_index(o, uid);

	if (i < 0)
		return false;
	json_array_remove(owner_refs(o), (size_t)i);
	return true;
}

bool kobj_has_owner_ref(const json_t *o, const char *uid)
{
	return owner_ref_index(o, uid) >= 0;
}

/* Digits only, no sign, fits in size_t. */
static bool parse_index(const char *s, size_t n, size_t *ret)
{
	size_t v = 0;

	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

json_t *kobj_get_path(const json_t *o, const char *dotted)
{
	char key[KOBJ_PATH_MAX + 1];
	const json_t *cur = o;
	const char *p;
	size_t n;

	if (!o || !dotted)
		return NULL;
	n = strlen(dotted);
	if (n == 0 || n > KOBJ_PATH_MAX)
		return NULL;
	p = dotted;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		size_t idx;

		if (len == 0)
			return NULL;
		if (json_is_object(cur)) {
			memcpy(key, p, len);
			key[len] = '\0';
			cur = json_object_get(cur, key);
		} else if (json_is_array(cur) && parse_index(p, len, &idx)) {
			cur = json_array_get(cur, idx);
		} else {
			return NULL;
		}
		if (!cur)
			return NULL;
		if (!dot)
			break;
		p = dot + 1;
	}
	return (json_t *)cur;
}

/* See kobj.h. */
json_t *kobj_array_find(const json_t *arr, const char *key, const char *value)
{
	json_t *e;
	size_t i;

	json_array_foreach(arr, i, e) {
		const char *v = json_string_value(json_object_get(e, key));

		if (v && !strcmp(v, value))
			return e;
	}
	return NULL;
}

/* See kobj.h. */
json_t *kobj_condition(const json_t *o, const char *type)
{
	return kobj_array_find(kobj_get_path(o, "status.conditions"), "type", type);
}

/* See kobj.h. */
const char *kobj_condition_status(const json_t *o, const char *type)
{
	return json_string_value(json_object_get(kobj_condition(o, type), "status"));
}

static bool meta_is(const json_t *rm, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(rm, key));

	return !want || (v && !strcmp(v, want));
}

/* See kobj.h. */
const json_t *kobj_work_manifest_status(const json_t *work, const char *group, const char *kind, const char *ns,
					const char *name, size_t *pos)
{
	const json_t *ms = kobj_get_path(work, "status.resourceStatus.manifests");
	size_t i;

	for (i = *pos; i < json_array_size(ms); i++) {
		const json_t *m = json_array_get(ms, i), *rm = json_object_get(m, "resourceMeta");

		if (meta_is(rm, "group", group) && meta_is(rm, "kind", kind) && meta_is(rm, "namespace", ns) &&
		    meta_is(rm, "name", name)) {
			*pos = i + 1;
			return m;
		}
	}
	*pos = i;
	return NULL;
}

/* See kobj.h. */
json_t *kobj_feedback_values(const json_t *manifest_status)
{
	static const char *const kinds[] = {"integer", "string", "boolean", "jsonRaw"};
	json_t *out = json_object(), *v;
	size_t i, k;

	json_array_foreach(kobj_get_path(manifest_status, "statusFeedback.values"), i, v) {
		const json_t *fv = json_object_get(v, "fieldValue");
		const char *n = json_string_value(json_object_get(v, "name"));

		for (k = 0; n && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			json_t *x = json_object_get(fv, kinds[k]);

			if (x) {
				json_object_set(out, n, x);
				break;
			}
		}
	}
	return out;
}

/* See kobj.h. */
bool kobj_paths_differ(const json_t *a, const json_t *b, const char *const *paths)
{
	if (!a || !b)
		return true;
	for (const char *const *p = paths; *p; p++) {
		json_t *x = kobj_get_path(a, *p), *y = kobj_get_path(b, *p);

		if ((x == NULL) != (y == NULL) || (x && !json_equal(x, y)))
			return true;
	}
	return false;
}
