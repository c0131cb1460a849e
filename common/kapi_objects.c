/* kapi_objects.c - the write engine: create, update, patch, delete.
 *
 * The REST verbs (kapi_handlers.c) and the internal API (kapi_api.c) both end
 * here, so a controller's write and kubectl's write follow the same rules,
 * those of kube-apiserver's generic registry (facts in
 * ../shared/reference/kube-api.md):
 *   - create: uid, creationTimestamp, generation 1 (for kinds that have one),
 *     generateName, namespace from the URL (a different one in the body is
 *     400), missing namespace 404, terminating namespace 403, name rules;
 *   - update: resourceVersion precondition (409), status kept on the main
 *     resource and only status taken on /status, generation bumped per the
 *     resource's rule, no new finalizers on a deleting object (422), a no-op
 *     update commits nothing (same resourceVersion, no event), emptying the
 *     finalizers of a deleting object deletes it;
 *   - patch: the four patch types of patch.h applied to the live object, then
 *     the update rules; server-side apply creates when missing;
 *   - delete: preconditions, protected namespaces, finalizers and
 *     propagationPolicy (foregroundDeletion / orphan), deletionTimestamp.
 * Objects handed to the engine are owned by it; stored objects are immutable,
 * so each change builds a new object (sharing unchanged subtrees).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "kapi_int.h"
#include "kobj.h"
#include "log.h"
#include "patch.h"
#include "timefmt.h"

#define KAPI_MAX_FINALIZERS 64
#define KAPI_MAX_ANNOTATIONS_BYTES (256u * 1024)

static const char *const protected_namespaces[] = {"default", "kube-system", "kube-public", NULL};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static void make_uid(char out[37])
{
	uint8_t b[16];
	char hex[33];

	if (random_bytes(b, sizeof(b)) < 0) {
		/* getrandom failing is not a reason to stop serving: fall back */
		int64_t t = time_mono_us() ^ time_now_us();

		memcpy(b, &t, sizeof(t));
		memcpy(b + 8, &t, sizeof(t));
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	hex_encode(b, sizeof(b), hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static void now_rfc3339(char out[TIMEFMT_MAX])
{
	time_format_rfc3339(time_now_us(), out);
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static bool str_eq(const char *a, const char *b)
{
	return !strcmp(str_or_empty(a), str_or_empty(b));
}

static bool json_eq_null(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal((json_t *)a, (json_t *)b);
}

/* A shallow copy whose top level and metadata object may be changed. */
static json_t *dup_meta(const json_t *o)
{
	json_t *c = json_copy((json_t *)o);
	json_t *md = json_object_get(o, "metadata");

	json_object_set_new(c, "metadata", json_is_object(md) ? json_copy(md) : json_object());
	return c;
}

static json_t *meta(json_t *o)
{
	return kobj_metadata(o, true);
}

static const char *api_version_of(const struct kapi_ctx *c, char *out)
{
	const char *v = c->version ? c->version : c->res->def.version;

	if (*c->res->def.group)
		snprintf(out, 300, "%s/%s", c->res->def.group, v);
	else
		snprintf(out, 300, "%s", v);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */

static const char subdomain_msg[] =
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
	"and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
	"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
static const char label_msg[] =
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
	"start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
	"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
static const char qualified_msg[] =
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
	"an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
	"validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
static const char label_value_msg[] =
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
	"and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
	"'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 */
static bool valid_qualified_part(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool valid_label_value(const char *s)
{
	return *s == '\0' || valid_qualified_part(s, strlen(s));
}

/* prefix/name keys of labels and annotations */
static bool valid_qualified_key(const char *k)
{
	const char *slash = strchr(k, '/');

	if (slash) {
		char prefix[256];
		size_t pl = (size_t)(slash - k);

		if (pl == 0 || pl > 253)
			return false;
		memcpy(prefix, k, pl);
		prefix[pl] = '\0';
		if (!kobj_valid_subdomain(prefix))
			return false;
		k = slash + 1;
	}
	return valid_qualified_part(k, strlen(k));
}

static void cause_invalid_value(struct kapi_err *e, const char *field, const char *value, const char *why)
{
	char msg[ERRBUF_MAX];

	snprintf(msg, sizeof(msg), "Invalid value: \"%s\": %s", value, why);
	kapi_err_add_cause(e, "FieldValueInvalid", field, msg);
}

static void validate_name(struct kapi_ctx *c, const char *name, const char *field)
{
	size_t len = strlen(name);
	bool label = c->res->def.name_is_label;

	if (c->res->def.name_is_path_segment) {
		/* Kubernetes' ValidatePathSegmentName: anything a URL path segment can carry. */
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strpbrk(name, "/%"))
			cause_invalid_value(c->err, field, name,
					    "may not be '.' or '..' and may not contain '/' or '%'");
		return;
	}
	if (len > (label ? 63u : 253u)) {
		char why[64];

		snprintf(why, sizeof(why), "must be no more than %u characters", label ? 63u : 253u);
		cause_invalid_value(c->err, field, name, why);
	} else if (label ? !kobj_valid_label_name(name) : !kobj_valid_subdomain(name)) {
		cause_invalid_value(c->err, field, name, label ? label_msg : subdomain_msg);
	}
}

static void validate_string_map(struct kapi_ctx *c, json_t *md, const char *key, bool labels)
{
	json_t *m = json_object_get(md, key), *v;
	const char *k;
	char field[600];
	size_t total = 0;

	if (!m || json_is_null(m))
		return;
	snprintf(field, sizeof(field), "metadata.%s", key);
	if (!json_is_object(m)) {
		kapi_err_add_cause(c->err, "FieldValueInvalid", field, "Invalid value: must be an object");
		return;
	}
	json_object_foreach(m, k, v) {
		snprintf(field, sizeof(field), "metadata.%s", key);
		if (!valid_qualified_key(k)) {
			cause_invalid_value(c->err, field, k, qualified_msg);
			continue;
		}
		if (!json_is_string(v)) {
			snprintf(field, sizeof(field), "metadata.%s.%s", key, k);
			kapi_err_add_cause(c->err, "FieldValueInvalid", field, "Invalid value: must be a string");
			continue;
		}
		total += strlen(k) + json_string_length(v);
		if (labels && !valid_label_value(json_string_value(v))) {
			snprintf(field, sizeof(field), "metadata.labels");
			cause_invalid_value(c->err, field, json_string_value(v),
					    json_string_length(v) > 63 ? "must be no more than 63 characters"
								       : label_value_msg);
		}
	}
	if (!labels && total > KAPI_MAX_ANNOTATIONS_BYTES)
		kapi_err_add_cause(c->err, "FieldValueTooLong", "metadata.annotations",
				   "Too long: must have at most 262144 bytes");
}

static void validate_finalizers(struct kapi_ctx *c, json_t *md)
{
	json_t *f = json_object_get(md, "finalizers"), *v;
	size_t i;

	if (!f || json_is_null(f))
		return;
	if (!json_is_array(f) || json_array_size(f) > KAPI_MAX_FINALIZERS) {
		kapi_err_add_cause(c->err, "FieldValueInvalid", "metadata.finalizers",
				   "Invalid value: must be a list of at most 64 strings");
		return;
	}
	json_array_foreach(f, i, v) {
		if (!json_is_string(v) || !json_string_length(v) || !valid_qualified_key(json_string_value(v))) {
			char field[64];

			snprintf(field, sizeof(field), "metadata.finalizers[%zu]", i);
			cause_invalid_value(c->err, field, json_is_string(v) ? json_string_value(v) : "",
					    "name part must consist of alphanumeric characters");
		}
	}
}

/* Metadata checks common to create and update; causes collect in c->err. */
static int validate_meta(struct kapi_ctx *c, json_t *obj, const char *name)
{
	json_t *md = json_object_get(obj, "metadata");

	if (c->err->causes)
		json_array_clear(c->err->causes);
	if (!json_is_object(md))
		return kapi_err_invalid1(c->err, &c->res->def, name, "FieldValueRequired", "metadata",
					 "Required value");
	validate_string_map(c, md, "labels", true);
	validate_string_map(c, md, "annotations", false);
	validate_finalizers(c, md);
	if (json_array_size(c->err->causes))
		return kapi_err_invalid(c->err, &c->res->def, name);
	return 0;
}

/* The body's apiVersion and kind, when present, must be the resource's. */
static int check_type(struct kapi_ctx *c, json_t *obj)
{
	const char *av = kobj_api_version(obj), *kind = kobj_kind(obj);
	char want[300];

	api_version_of(c, want);
	if (json_object_get(obj, "apiVersion") && !json_is_string(json_object_get(obj, "apiVersion")))
		return kapi_err_set(c->err, -EBADMSG, NULL, "apiVersion: must be a string");
	if (json_object_get(obj, "kind") && !json_is_string(json_object_get(obj, "kind")))
		return kapi_err_set(c->err, -EBADMSG, NULL, "kind: must be a string");
	if (av && *av && strcmp(av, want)) {
		/* any served version of the resource is acceptable */
		char g[254], v[254];

		if (kobj_split_api_version(av, g, v) < 0 || strcmp(g, c->res->def.group) ||
		    !kapi_version_served(c->res, v))
			return kapi_err_set(c->err, -EBADMSG, NULL,
					    "the API version in the data (%s) does not match the expected API version (%s)",
					    av, want);
	}
	if (kind && *kind && strcmp(kind, c->res->def.kind))
		return kapi_err_set(c->err, -EBADMSG, NULL,
				    "the object provided is unrecognized (must be of type %s): kind \"%s\" does not match",
				    c->res->def.kind, kind);
	json_object_set_new(obj, "apiVersion", json_string(want));
	json_object_set_new(obj, "kind", json_string(c->res->def.kind));
	return 0;
}

/* What create and update check of a written body first: a JSON object whose
 * apiVersion and kind are the resource's (check_type, which sets them), and
 * whose metadata, when present, is an object. */
static int check_body(struct kapi_ctx *c, json_t *obj)
{
	int r;

	if (!json_is_object(obj))
		return kapi_err_set(c->err, -EBADMSG, NULL, "the body of the request must be a JSON object");
	r = check_type(c, obj);
	if (r < 0)
		return r;
	if (json_object_get(obj, "metadata") && !json_is_object(json_object_get(obj, "metadata")))
		return kapi_err_set(c->err, -EBADMSG, NULL, "metadata: must be an object");
	return 0;
}

/* Reorder so that apiVersion, kind and metadata come first, as Kubernetes prints. */
static json_t *order_top(json_t *obj)
{
	json_t *o = json_object(), *v;
	const char *k;
	static const char *const first[] = {"apiVersion", "kind", "metadata"};
	size_t i;

	for (i = 0; i < 3; i++)
		if ((v = json_object_get(obj, first[i])))
			json_object_set(o, first[i], v);
	json_object_foreach(obj, k, v)
		if (strcmp(k, "apiVersion") && strcmp(k, "kind") && strcmp(k, "metadata"))
			json_object_set(o, k, v);
	json_decref(obj);
	return o;
}

/* ------------------------------------------------------------------------ */
/* Namespaces                                                                */

/* See kapi_int.h. */
int kapi_check_namespace(struct kapi_ctx *c, const char *ns, const char *name, bool creating)
{
	struct kapi_resource *nsr;
	json_t *nso = NULL;
	char why[400];

	if (!c->s->cfg.check_namespaces || !c->res->def.namespaced)
		return 0;
	nsr = kapi_resource_find(c->s, "", "namespaces");
	if (!nsr)
		return 0;
	if (c->s->store->ops->get(c->s->store, nsr->rkey, "", ns, &nso) < 0) {
		kapi_err_not_found(c->err, &nsr->def, ns);
		c->err->def = &nsr->def;
		return c->err->code;
	}
	if (creating && json_object_get(json_object_get(nso, "metadata"), "deletionTimestamp")) {
		char cause[300];

		json_decref(nso);
		snprintf(why, sizeof(why), "unable to create new content in namespace %s because it is being terminated",
			 ns);
		kapi_err_forbidden(c->err, &c->res->def, name, why);
		snprintf(cause, sizeof(cause), "namespace %s is being terminated", ns);
		kapi_err_add_cause(c->err, "NamespaceTerminating", "metadata.namespace", cause);
		return c->err->code;
	}
	json_decref(nso);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Generation and finalizers                                                 */

static bool non_meta_changed(const json_t *a, const json_t *b)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)a, k, v) {
		if (!strcmp(k, "metadata") || !strcmp(k, "status") || !strcmp(k, "apiVersion") || !strcmp(k, "kind"))
			continue;
		if (!json_eq_null(v, json_object_get(b, k)))
			return true;
	}
	json_object_foreach((json_t *)b, k, v) {
		if (!strcmp(k, "metadata") || !strcmp(k, "status") || !strcmp(k, "apiVersion") || !strcmp(k, "kind"))
			continue;
		if (!json_object_get(a, k))
			return true;
	}
	return false;
}

static bool generation_changes(const struct kapi_resource_def *def, const json_t *old, const json_t *new_obj)
{
	switch (def->generation) {
	case KAPI_GEN_NONE:
		return false;
	case KAPI_GEN_SPEC:
		return !json_eq_null(json_object_get(old, "spec"), json_object_get(new_obj, "spec"));
	case KAPI_GEN_SPEC_ANNOTATIONS:
		return !json_eq_null(json_object_get(old, "spec"), json_object_get(new_obj, "spec")) ||
		       !json_eq_null(kobj_annotations(old), kobj_annotations(new_obj));
	case KAPI_GEN_NOT_METADATA:
		return non_meta_changed(old, new_obj);
	}
	return false;
}

static json_int_t generation_of(const json_t *o)
{
	return json_integer_value(json_object_get(json_object_get(o, "metadata"), "generation"));
}

static bool has_string(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

static size_t finalizer_count(const json_t *o)
{
	return json_array_size(json_object_get(json_object_get(o, "metadata"), "finalizers"));
}

/* Whether a deleting object may go: no finalizers (and for namespaces no spec.finalizers). */
static bool deletable(const struct kapi_resource *res, const json_t *o)
{
	if (finalizer_count(o))
		return false;
	if (!strcmp(res->rkey, "/namespaces") &&
	    json_array_size(json_object_get(json_object_get(o, "spec"), "finalizers")))
		return false;
	return true;
}

static bool is_deleting(const json_t *o)
{
	json_t *dt = json_object_get(json_object_get(o, "metadata"), "deletionTimestamp");

	return dt && !json_is_null(dt);
}

/* ------------------------------------------------------------------------ */
/* Admission                                                                 */

static int admit(struct kapi_ctx *c, enum kapi_op op, const char *sub, const json_t *old, json_t *new_obj,
		 const char *name)
{
	struct kapi_admit_req ar = {
		.op = op,
		.def = &c->res->def,
		.subresource = sub,
		.old_obj = old,
		.new_obj = new_obj,
		.http = c->http,
		.dry_run = c->dry_run,
	};
	struct errbuf eb = {{0}};
	int r;

	if (!c->res->def.admit)
		return 0;
	r = c->res->def.admit(c->res->def.admit_data, &ar, &eb);
	if (r >= 0)
		return 0;
	if (r == -EINVAL) {
		/* "field: detail" -> a cause naming the field */
		char field[256] = "";
		const char *colon = strstr(eb.msg, ": ");
		const char *detail = eb.msg;

		if (colon && (size_t)(colon - eb.msg) < sizeof(field) && !memchr(eb.msg, ' ', (size_t)(colon - eb.msg))) {
			memcpy(field, eb.msg, (size_t)(colon - eb.msg));
			field[colon - eb.msg] = '\0';
			detail = colon + 2;
		}
		if (c->err->causes)
			json_array_clear(c->err->causes);
		return kapi_err_invalid1(c->err, &c->res->def, name, "FieldValueInvalid", field[0] ? field : NULL,
					 detail);
	}
	if (r == -EPERM)
		return kapi_err_forbidden(c->err, &c->res->def, name, eb.msg[0] ? eb.msg : "denied by admission");
	return kapi_err_set(c->err, r, name, "%s", eb.msg[0] ? eb.msg : "rejected by admission");
}

/* Store one change (kapi_commit) and hand the stored object, a new reference,
 * to *ret_obj (dropped when ret_obj is NULL). Returns 0, or kapi_commit's
 * negative errno with c->err naming name ("storage error"). */
static int commit_change(struct kapi_ctx *c, enum kapi_event_type type, const char *ns,
			 const char *name, json_t *old_obj, json_t *new_obj, json_t **ret_obj)
{
	json_t *stored = NULL;
	int r;

	r = kapi_commit(c->s, c->res, type, ns, name, old_obj, new_obj, &stored);
	if (r < 0)
		return kapi_err_set(c->err, r, name, "storage error: %s", strerror(-r));
	if (ret_obj)
		*ret_obj = stored;
	else
		json_decref(stored);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Create                                                                    */

static void generate_name(const char *prefix, char *out, size_t outlen)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	uint8_t rnd[5];
	size_t i, pl = strlen(prefix);
	char suffix[6];

	if (random_bytes(rnd, sizeof(rnd)) < 0)
		memset(rnd, 7, sizeof(rnd));
	for (i = 0; i < 5; i++)
		suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	suffix[5] = '\0';
	/* Kubernetes truncates the prefix to keep the name within 63 characters */
	if (pl > 58)
		pl = 58;
	snprintf(out, outlen, "%.*s%s", (int)pl, prefix, suffix);
}

/* See kapi_int.h. */
int kapi_do_create(struct kapi_ctx *c, const char *ns, json_t *obj, json_t **ret_obj)
{
	const struct kapi_resource_def *def = &c->res->def;
	json_t *md, *existing = NULL;
	const char *name, *body_ns;
	char namebuf[300], uid[37], now[TIMEFMT_MAX], av[300];
	int r;

	r = check_body(c, obj);
	if (r < 0)
		goto out;
	md = meta(obj);
	/* namespace: the URL's; a different one in the body is an error */
	body_ns = kobj_namespace(obj);
	if (def->namespaced) {
		if (body_ns && *body_ns && ns && *ns && strcmp(body_ns, ns)) {
			r = kapi_err_set(c->err, -EBADMSG, NULL,
					 "the namespace of the provided object does not match the namespace sent on the request");
			goto out;
		}
		if (!ns || !*ns)
			ns = body_ns;
		if (!ns || !*ns) {
			r = kapi_err_set(c->err, -EBADMSG, NULL, "the namespace of the object must be set");
			goto out;
		}
		json_object_set_new(md, "namespace", json_string(ns));
	} else {
		json_object_del(md, "namespace");
		ns = "";
	}
	/* name or generateName */
	name = kobj_name(obj);
	if (!name || !*name) {
		const char *gen = json_string_value(json_object_get(md, "generateName"));

		if (!gen || !*gen) {
			if (c->err->causes)
				json_array_clear(c->err->causes);
			r = kapi_err_invalid1(c->err, def, "", "FieldValueRequired", "metadata.name",
					      "Required value: name or generateName is required");
			goto out;
		}
		generate_name(gen, namebuf, sizeof(namebuf));
		json_object_set_new(md, "name", json_string(namebuf));
		name = kobj_name(obj);
	}
	if (c->err->causes)
		json_array_clear(c->err->causes);
	validate_name(c, name, "metadata.name");
	if (json_array_size(c->err->causes)) {
		r = kapi_err_invalid(c->err, def, name);
		goto out;
	}
	r = validate_meta(c, obj, name);
	if (r < 0)
		goto out;
	if (json_object_get(md, "resourceVersion") && json_string_length(json_object_get(md, "resourceVersion"))) {
		r = kapi_err_set(c->err, -EBADMSG, name, "resourceVersion should not be set on objects to be created");
		goto out;
	}
	r = kapi_check_namespace(c, ns, name, true);
	if (r < 0)
		goto out;
	if (c->s->store->ops->get(c->s->store, c->res->rkey, ns, name, &existing) == 0) {
		json_decref(existing);
		r = kapi_err_exists(c->err, def, name);
		goto out;
	}
	/* system fields */
	make_uid(uid);
	now_rfc3339(now);
	json_object_set_new(md, "uid", json_string(uid));
	json_object_set_new(md, "creationTimestamp", json_string(now));
	json_object_del(md, "resourceVersion");
	json_object_del(md, "deletionTimestamp");
	json_object_del(md, "deletionGracePeriodSeconds");
	json_object_del(md, "selfLink");
	if (def->generation != KAPI_GEN_NONE)
		json_object_set_new(md, "generation", json_integer(1));
	else
		json_object_del(md, "generation");
	if (def->has_status && !c->internal)
		json_object_del(obj, "status");
	if (!c->manager_is_apply)
		json_object_del(md, "managedFields");
	r = admit(c, KAPI_OP_CREATE, NULL, NULL, obj, name);
	if (r < 0)
		goto out;
	if (!c->manager_is_apply && !c->skip_record)
		ssa_record_update(NULL, obj, c->manager ? c->manager : KAPI_DEFAULT_MANAGER, api_version_of(c, av),
				  now);
	obj = order_top(obj);
	if (c->dry_run) {
		if (ret_obj)
			*ret_obj = json_incref(obj);
		r = 0;
		goto out;
	}
	r = commit_change(c, KAPI_EVENT_ADDED, ns, name, NULL, obj, ret_obj);
out:
	json_decref(obj);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Update                                                                    */

/* Equal but for managedFields and resourceVersion: a no-op write. */
static bool same_but_bookkeeping(const json_t *a, const json_t *b)
{
	json_t *x = dup_meta(a), *y = dup_meta(b);
	bool eq;

	json_object_del(meta(x), "managedFields");
	json_object_del(meta(y), "managedFields");
	json_object_del(meta(x), "resourceVersion");
	json_object_del(meta(y), "resourceVersion");
	eq = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return eq;
}

static void set_or_del(json_t *o, const char *key, json_t *v)
{
	if (v)
		json_object_set(o, key, v);
	else
		json_object_del(o, key);
}

/*
 * The common tail of update and patch: body is the complete new object the
 * client wants (owned), old the stored one. record: add an Update entry to
 * managedFields for c->manager (not for apply, which did its own).
 */
static int update_with(struct kapi_ctx *c, const char *ns, const char *name, const char *sub, json_t *old,
		       json_t *body, bool record, json_t **ret_obj)
{
	const struct kapi_resource_def *def = &c->res->def;
	json_t *new_obj = NULL, *md, *omd = json_object_get(old, "metadata");
	const char *rv, *uid, *bname, *bns;
	char now[TIMEFMT_MAX], av[300];
	int r;

	r = check_body(c, body);
	if (r < 0)
		goto out;
	md = meta(body);
	bname = kobj_name(body);
	if (!bname || strcmp(bname, name)) {
		r = kapi_err_set(c->err, -EBADMSG, NULL, "the name of the object (%s) does not match the name on the URL (%s)",
				 str_or_empty(bname), name);
		goto out;
	}
	bns = kobj_namespace(body);
	if (def->namespaced) {
		if (bns && *bns && strcmp(bns, ns)) {
			r = kapi_err_set(c->err, -EBADMSG, NULL,
					 "the namespace of the provided object does not match the namespace sent on the request");
			goto out;
		}
		json_object_set_new(md, "namespace", json_string(ns));
	} else {
		json_object_del(md, "namespace");
	}
	/* optimistic concurrency */
	rv = json_string_value(json_object_get(md, "resourceVersion"));
	if (!rv || !*rv) {
		if (def->require_rv_on_update && !sub) {
			if (c->err->causes)
				json_array_clear(c->err->causes);
			r = kapi_err_invalid1(c->err, def, name, "FieldValueInvalid", "metadata.resourceVersion",
					      "Invalid value: 0x0: must be specified for an update");
			goto out;
		}
	} else if (!str_eq(rv, kobj_resource_version(old))) {
		r = kapi_err_conflict(c->err, def, name,
				      "the object has been modified; please apply your changes to the latest version and try again");
		goto out;
	}
	uid = json_string_value(json_object_get(md, "uid"));
	if (uid && *uid && !str_eq(uid, kobj_uid(old))) {
		char why[200];

		snprintf(why, sizeof(why), "Precondition failed: UID in precondition: %s, UID in object meta: %s", uid,
			 str_or_empty(kobj_uid(old)));
		r = kapi_err_conflict(c->err, def, name, why);
		goto out;
	}
	if (sub && !strcmp(sub, "status")) {
		new_obj = dup_meta(old);
		set_or_del(new_obj, "status", json_object_get(body, "status"));
		if (!def->custom) {
			/* built-in status strategies reset only spec: metadata changes go
			 * through (the deployment controller writes its revision
			 * annotation with its status); custom resources take status alone */
			static const char *const keep[] = {"labels", "annotations", "finalizers", "ownerReferences"};
			size_t i;

			for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
				set_or_del(meta(new_obj), keep[i], json_object_get(md, keep[i]));
			r = validate_meta(c, new_obj, name);
			if (r < 0)
				goto out;
		}
		if (!c->manager_is_apply)
			set_or_del(meta(new_obj), "managedFields", json_object_get(omd, "managedFields"));
		else
			set_or_del(meta(new_obj), "managedFields", json_object_get(md, "managedFields"));
	} else if (sub && !strcmp(sub, "finalize")) {
		json_t *spec;

		new_obj = dup_meta(old);
		spec = json_object_get(old, "spec");
		spec = json_is_object(spec) ? json_copy(spec) : json_object();
		set_or_del(spec, "finalizers", json_object_get(json_object_get(body, "spec"), "finalizers"));
		json_object_set_new(new_obj, "spec", spec);
	} else {
		new_obj = json_incref(body);
		md = meta(new_obj);
		/* fields only the server sets */
		set_or_del(md, "uid", json_object_get(omd, "uid"));
		set_or_del(md, "creationTimestamp", json_object_get(omd, "creationTimestamp"));
		set_or_del(md, "deletionTimestamp", json_object_get(omd, "deletionTimestamp"));
		set_or_del(md, "deletionGracePeriodSeconds", json_object_get(omd, "deletionGracePeriodSeconds"));
		set_or_del(md, "generation", json_object_get(omd, "generation"));
		json_object_del(md, "selfLink");
		if (!json_object_get(md, "managedFields"))
			set_or_del(md, "managedFields", json_object_get(omd, "managedFields"));
		if (def->has_status)
			set_or_del(new_obj, "status", json_object_get(old, "status"));
		r = validate_meta(c, new_obj, name);
		if (r < 0)
			goto out;
		/* no new finalizers once deleting */
		if (is_deleting(old)) {
			json_t *nf = json_object_get(md, "finalizers"), *of = json_object_get(omd, "finalizers"), *v;
			size_t i;

			json_array_foreach(nf, i, v) {
				if (json_is_string(v) && !has_string(of, json_string_value(v))) {
					char detail[400];

					snprintf(detail, sizeof(detail),
						 "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"%s\"}",
						 json_string_value(v));
					if (c->err->causes)
						json_array_clear(c->err->causes);
					r = kapi_err_invalid1(c->err, def, name, "FieldValueForbidden",
							      "metadata.finalizers", detail);
					goto out;
				}
			}
		}
		if (def->generation != KAPI_GEN_NONE && generation_changes(def, old, new_obj))
			json_object_set_new(md, "generation", json_integer(generation_of(old) + 1));
	}
	if (same_but_bookkeeping(old, new_obj)) {
		/* kube-apiserver writes nothing for a no-op: same resourceVersion, no event */
		if (ret_obj)
			*ret_obj = json_incref(old);
		r = 0;
		goto out;
	}
	r = admit(c, KAPI_OP_UPDATE, sub, old, new_obj, name);
	if (r < 0)
		goto out;
	now_rfc3339(now);
	if (record && !c->skip_record)
		ssa_record_update_subresource(old, new_obj, c->manager ? c->manager : KAPI_DEFAULT_MANAGER,
					      api_version_of(c, av), c->record_sub ? c->record_sub : sub, now);
	new_obj = order_top(new_obj);
	if (c->dry_run) {
		if (ret_obj)
			*ret_obj = json_incref(new_obj);
		r = 0;
		goto out;
	}
	if (is_deleting(new_obj) && deletable(c->res, new_obj)) {
		r = commit_change(c, KAPI_EVENT_DELETED, ns, name, old, new_obj, ret_obj);
		if (r >= 0)
			r = 1;
	} else {
		r = commit_change(c, KAPI_EVENT_MODIFIED, ns, name, old, new_obj, ret_obj);
	}
out:
	json_decref(new_obj);
	json_decref(body);
	return r;
}

/* See kapi_int.h. Returns 0 (updated), 1 (deleted: finalizers emptied) or 2
 * (created, when allow_create). */
int kapi_do_update(struct kapi_ctx *c, const char *ns, const char *name, const char *sub, json_t *obj,
		   bool allow_create, json_t **ret_obj)
{
	json_t *old = NULL;
	int r;

	ns = c->res->def.namespaced ? str_or_empty(ns) : "";
	if (json_is_object(obj) && !str_eq(kobj_name(obj), name)) {
		const char *bname = kobj_name(obj);

		r = kapi_err_set(c->err, -EBADMSG, NULL, "the name of the object (%s) does not match the name on the URL (%s)",
				 str_or_empty(bname), name);
		json_decref(obj);
		return r;
	}
	if (c->s->store->ops->get(c->s->store, c->res->rkey, ns, name, &old) < 0) {
		if (allow_create && !sub && c->res->def.allow_create_on_update && json_is_object(obj)) {
			json_object_del(meta(obj), "resourceVersion");
			r = kapi_do_create(c, ns, obj, ret_obj);
			return r < 0 ? r : 2;
		}
		json_decref(obj);
		return kapi_err_not_found(c->err, &c->res->def, name);
	}
	r = update_with(c, ns, name, sub, old, obj, !c->manager_is_apply, ret_obj);
	json_decref(old);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Patch                                                                     */

/* The 409 of an apply conflict, worded as kube-apiserver does (ssa.c words
 * the message and each cause). */
static int apply_conflict(struct kapi_ctx *c, const json_t *conflicts, const char *name)
{
	char *msg = ssa_conflict_message(conflicts);
	json_t *cf;
	size_t i;

	if (c->err->causes)
		json_array_clear(c->err->causes);
	json_array_foreach(conflicts, i, cf)
		kapi_err_add_cause(c->err, "FieldManagerConflict", json_string_value(json_object_get(cf, "field")),
				   str_or_empty(json_string_value(json_object_get(cf, "message"))));
	kapi_err_set(c->err, -EBUSY, name, "%s", msg);
	free(msg);
	return -EBUSY;
}

static int patch_error(struct kapi_ctx *c, int r, struct errbuf *eb, const char *name)
{
	if (r == -EBADMSG)
		return kapi_err_set(c->err, -EBADMSG, NULL, "%s", eb->msg);
	if (r == -E2BIG)
		return kapi_err_set(c->err, -E2BIG, NULL, "%s", eb->msg);
	/* kube-apiserver answers patch application failures with 422 and the message */
	c->err->no_details = true;
	return kapi_err_set(c->err, -EINVAL, name, "%s", eb->msg[0] ? eb->msg : "the patch could not be applied");
}

/* See kapi_int.h. Returns 0, or 2 when an apply created the object. */
int kapi_do_patch(struct kapi_ctx *c, const char *ns, const char *name, const char *sub,
		  enum kapi_patch_type type, const json_t *patch, json_t **ret_obj)
{
	const struct kapi_resource_def *def = &c->res->def;
	json_t *old = NULL, *patched = NULL, *conflicts = NULL;
	struct errbuf eb = {{0}};
	char now[TIMEFMT_MAX], av[300];
	int r;

	ns = def->namespaced ? str_or_empty(ns) : "";
	if (c->s->store->ops->get(c->s->store, c->res->rkey, ns, name, &old) < 0) {
		old = NULL;
		if (type != KAPI_PATCH_APPLY || sub)
			return kapi_err_not_found(c->err, def, name);
	}
	switch (type) {
	case KAPI_PATCH_JSON:
		if (!json_is_array(patch)) {
			r = kapi_err_set(c->err, -EBADMSG, NULL,
					 "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
			goto out;
		}
		r = patch_json(old, patch, &eb, &patched);
		break;
	case KAPI_PATCH_MERGE:
		if (!json_is_object(patch)) {
			r = kapi_err_set(c->err, -EBADMSG, NULL, "the merge patch must be a JSON object");
			goto out;
		}
		r = patch_merge(old, patch, &eb, &patched);
		break;
	case KAPI_PATCH_STRATEGIC:
		if (def->custom) {
			r = kapi_err_set(c->err, -EPROTONOSUPPORT, NULL,
					 "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
			goto out;
		}
		if (!json_is_object(patch)) {
			r = kapi_err_set(c->err, -EBADMSG, NULL, "the strategic merge patch must be a JSON object");
			goto out;
		}
		r = patch_strategic(old, patch, api_version_of(c, av), def->kind, &eb, &patched);
		break;
	case KAPI_PATCH_APPLY: {
		json_t *applied, *amd;
		const char *an;

		if (!json_is_object(patch)) {
			r = kapi_err_set(c->err, -EBADMSG, NULL, "the applied configuration must be an object");
			goto out;
		}
		if (!c->manager || !*c->manager) {
			c->err->no_details = true;
			r = kapi_err_set(c->err, -EINVAL, NULL,
					 "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
			goto out;
		}
		if (!kobj_api_version(patch) || !kobj_kind(patch)) {
			r = kapi_err_set(c->err, -EBADMSG, NULL,
					 "apiVersion and kind must be set in the applied configuration");
			goto out;
		}
		applied = json_deep_copy(patch);
		r = check_type(c, applied);
		amd = json_object_get(applied, "metadata");
		if (r >= 0 && amd && !json_is_object(amd))
			r = kapi_err_set(c->err, -EBADMSG, NULL, "metadata: must be an object");
		if (r >= 0 && json_object_get(amd, "managedFields") &&
		    !json_is_null(json_object_get(amd, "managedFields")))
			r = kapi_err_set(c->err, -EBADMSG, NULL, "metadata.managedFields must be nil");
		an = kobj_name(applied);
		if (r >= 0 && an && *an && strcmp(an, name))
			r = kapi_err_set(c->err, -EBADMSG, NULL,
					 "the name of the object (%s) does not match the name on the URL (%s)", an, name);
		if (r >= 0 && def->namespaced && kobj_namespace(applied) && *kobj_namespace(applied) &&
		    strcmp(kobj_namespace(applied), ns))
			r = kapi_err_set(c->err, -EBADMSG, NULL,
					 "the namespace of the provided object does not match the namespace sent on the request");
		if (r < 0) {
			json_decref(applied);
			goto out;
		}
		amd = meta(applied);
		json_object_set_new(amd, "name", json_string(name));
		if (def->namespaced)
			json_object_set_new(amd, "namespace", json_string(ns));
		now_rfc3339(now);
		r = ssa_apply(old, applied, c->manager, c->force, now, &eb, &conflicts, &patched);
		json_decref(applied);
		if (r == -EBUSY) {
			r = apply_conflict(c, conflicts, name);
			goto out;
		}
		break;
	}
	default:
		r = kapi_err_set(c->err, -EPROTONOSUPPORT, NULL, "unsupported patch type");
		goto out;
	}
	if (r < 0) {
		r = patch_error(c, r, &eb, name);
		goto out;
	}
	if (!old) {
		/* server-side apply creating */
		c->manager_is_apply = true;
		r = kapi_do_create(c, ns, patched, ret_obj);
		patched = NULL;
		r = r < 0 ? r : 2;
		goto out;
	}
	if (type == KAPI_PATCH_APPLY)
		c->manager_is_apply = true;
	r = update_with(c, ns, name, sub, old, patched, type != KAPI_PATCH_APPLY, ret_obj);
	patched = NULL;
	if (r == 1)
		r = 0;
out:
	json_decref(patched);
	json_decref(conflicts);
	json_decref(old);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Delete                                                                    */

/* See kapi_int.h. */
int kapi_do_delete(struct kapi_ctx *c, const char *ns, const char *name, const struct kapi_delete_opts *o,
		   json_t **ret_obj)
{
	const struct kapi_resource_def *def = &c->res->def;
	struct kapi_delete_opts none = {0};
	json_t *old = NULL, *new_obj = NULL, *md, *fin;
	char now[TIMEFMT_MAX], why[400];
	int r;
	size_t i;

	if (!o)
		o = &none;
	ns = def->namespaced ? str_or_empty(ns) : "";
	if (c->s->store->ops->get(c->s->store, c->res->rkey, ns, name, &old) < 0)
		return kapi_err_not_found(c->err, def, name);
	if (o->precondition_uid && !str_eq(o->precondition_uid, kobj_uid(old))) {
		snprintf(why, sizeof(why), "Precondition failed: UID in precondition: %s, UID in object meta: %s",
			 o->precondition_uid, str_or_empty(kobj_uid(old)));
		r = kapi_err_conflict(c->err, def, name, why);
		goto out;
	}
	if (o->precondition_rv && !str_eq(o->precondition_rv, kobj_resource_version(old))) {
		snprintf(why, sizeof(why),
			 "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s",
			 o->precondition_rv, str_or_empty(kobj_resource_version(old)));
		r = kapi_err_conflict(c->err, def, name, why);
		goto out;
	}
	if (!strcmp(c->res->rkey, "/namespaces")) {
		for (i = 0; protected_namespaces[i]; i++) {
			if (!strcmp(protected_namespaces[i], name)) {
				r = kapi_err_forbidden(c->err, def, name, "this namespace may not be deleted");
				goto out;
			}
		}
	}
	r = admit(c, KAPI_OP_DELETE, NULL, old, NULL, name);
	if (r < 0)
		goto out;
	/* finalizers the propagation policy asks for */
	new_obj = dup_meta(old);
	md = meta(new_obj);
	fin = json_object_get(md, "finalizers");
	fin = json_is_array(fin) ? json_copy(fin) : json_array();
	if (o->propagation == KAPI_PROPAGATE_FOREGROUND && !has_string(fin, "foregroundDeletion"))
		json_array_append_new(fin, json_string("foregroundDeletion"));
	if (o->propagation == KAPI_PROPAGATE_ORPHAN && !has_string(fin, "orphan"))
		json_array_append_new(fin, json_string("orphan"));
	if (json_array_size(fin))
		json_object_set_new(md, "finalizers", fin);
	else
		json_decref(fin);
	if (deletable(c->res, new_obj)) {
		if (c->dry_run) {
			if (ret_obj)
				*ret_obj = json_incref(old);
			r = 0;
			goto out;
		}
		r = commit_change(c, KAPI_EVENT_DELETED, ns, name, old, NULL, ret_obj);
		goto out;
	}
	/* graceful: mark, keep until the finalizers are gone */
	if (!is_deleting(old)) {
		now_rfc3339(now);
		json_object_set_new(md, "deletionTimestamp", json_string(now));
		json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(0));
		if (generation_of(old) > 0)
			json_object_set_new(md, "generation", json_integer(generation_of(old) + 1));
		if (!strcmp(c->res->rkey, "/namespaces")) {
			json_t *st = json_object_get(new_obj, "status");

			st = json_is_object(st) ? json_copy(st) : json_object();
			json_object_set_new(st, "phase", json_string("Terminating"));
			json_object_set_new(new_obj, "status", st);
		}
	}
	if (c->dry_run || same_but_bookkeeping(old, new_obj)) {
		if (ret_obj)
			*ret_obj = json_incref(c->dry_run ? new_obj : old);
		r = 1;
		goto out;
	}
	r = commit_change(c, KAPI_EVENT_MODIFIED, ns, name, old, new_obj, ret_obj);
	if (r == 0)
		r = 1;
out:
	json_decref(new_obj);
	json_decref(old);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Scale                                                                     */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The string form of an object-form selector, requirements sorted by key. */
static char *selector_string(const json_t *sel)
{
	json_t *ml = json_object_get(sel, "matchLabels"), *me = json_object_get(sel, "matchExpressions"), *v;
	char *parts[256];
	size_t n = 0, i, total = 1;
	const char *k;
	char *out, *p;

	json_object_foreach(ml, k, v)
		if (n < 256 && json_is_string(v))
			parts[n++] = xasprintf("%s=%s", k, json_string_value(v));
	json_array_foreach(me, i, v) {
		const char *key = json_string_value(json_object_get(v, "key"));
		const char *op = json_string_value(json_object_get(v, "operator"));
		json_t *vals = json_object_get(v, "values"), *x;
		char list[1024] = "";
		size_t j, off = 0;

		if (!key || !op || n >= 256)
			continue;
		json_array_foreach(vals, j, x) {
			int w = snprintf(list + off, sizeof(list) - off, "%s%s", j ? "," : "",
					 str_or_empty(json_string_value(x)));

			if (w < 0 || (size_t)w >= sizeof(list) - off)
				break;
			off += (size_t)w;
		}
		if (!strcmp(op, "In"))
			parts[n++] = xasprintf("%s in (%s)", key, list);
		else if (!strcmp(op, "NotIn"))
			parts[n++] = xasprintf("%s notin (%s)", key, list);
		else if (!strcmp(op, "Exists"))
			parts[n++] = xasprintf("%s", key);
		else if (!strcmp(op, "DoesNotExist"))
			parts[n++] = xasprintf("!%s", key);
	}
	qsort(parts, n, sizeof(parts[0]), str_cmp);
	for (i = 0; i < n; i++)
		total += strlen(parts[i]) + 1;
	out = p = xmalloc(total);
	*p = '\0';
	for (i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		strcpy(p, parts[i]);
		p += strlen(parts[i]);
		free(parts[i]);
	}
	return out;
}

/* See kapi_int.h. */
json_t *kapi_scale_from(const struct kapi_resource *res, const json_t *obj)
{
	json_t *sc = json_object(), *md = json_object(), *omd = json_object_get(obj, "metadata");
	json_t *spec = json_object(), *status = json_object(), *sel;
	static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"};
	size_t i;
	char *s;

	json_object_set_new(sc, "kind", json_string("Scale"));
	json_object_set_new(sc, "apiVersion", json_string("autoscaling/v1"));
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (json_object_get(omd, keep[i]))
			json_object_set(md, keep[i], json_object_get(omd, keep[i]));
	json_object_set_new(sc, "metadata", md);
	json_object_set_new(spec, "replicas",
			    json_integer(json_integer_value(kobj_get_path(obj, "spec.replicas"))));
	json_object_set_new(sc, "spec", spec);
	json_object_set_new(status, "replicas",
			    json_integer(json_integer_value(kobj_get_path(obj, "status.replicas"))));
	sel = kobj_get_path(obj, res->def.scale_selector_path);
	if (json_is_string(sel)) {
		/* custom resources keep the string form (labelSelectorPath) */
		json_object_set(status, "selector", sel);
	} else if (json_is_object(sel)) {
		s = selector_string(sel);
		json_object_set_new(status, "selector", json_string(s));
		free(s);
	}
	json_object_set_new(sc, "status", status);
	return sc;
}
