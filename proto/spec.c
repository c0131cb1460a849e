/* spec.c - the ManifestBundle payload of work events: validation, conversion
 * from and to a ManifestWork spec, constructors. See spec.h for the format.
 *
 * Validation checks shape, types, enums and caps; it does not decide whether
 * the agent supports a feature (e.g. CEL condition rules): that is the
 * agent's answer in the work's status.
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "proto_int.h"
#include "spec.h"

/* Kubernetes apiVersion ("group/version"): a subdomain, a slash, a label. */
#define SPEC_API_VERSION_MAX 317
/* A JSONPath expression in a feedback rule or an ignored field. */
#define SPEC_JSONPATH_MAX 1024
/* A CEL expression of a condition rule. */
#define SPEC_CEL_MAX 10240
#define SPEC_FIELD_MANAGER_MAX 128

static int check_manifest(struct pctx *c, const json_t *m)
{
	const char *s;
	json_t *meta;
	size_t mark;
	int r;

	r = p_string(c, m, "apiVersion", true, false, SPEC_API_VERSION_MAX, &s);
	if (r < 0)
		return r;
	r = p_string(c, m, "kind", true, false, c->lim->max_name_bytes, &s);
	if (r < 0)
		return r;
	r = p_object(c, m, "metadata", true, &meta);
	if (r < 0)
		return r;
	mark = pctx_key(c, "metadata");
	r = p_string(c, meta, "name", true, false, c->lim->max_name_bytes, &s);
	if (r == 0)
		r = p_string(c, meta, "namespace", false, true, c->lim->max_name_bytes, &s);
	pctx_pop(c, mark);
	return r;
}

/* {group, resource, name, namespace}: resource and name required, group and
 * namespace may be empty (core group, cluster-scoped). */
static int check_resource_identifier(struct pctx *c, const json_t *o)
{
	size_t max = c->lim->max_name_bytes;
	const char *s;
	int r;

	r = p_string(c, o, "group", false, true, max, &s);
	if (r == 0)
		r = p_string(c, o, "resource", true, false, max, &s);
	if (r == 0)
		r = p_string(c, o, "name", true, false, max, &s);
	if (r == 0)
		r = p_string(c, o, "namespace", false, true, max, &s);
	return r;
}

static int check_selectively_orphans(struct pctx *c, const json_t *o)
{
	return p_list(c, o, "orphaningRules", c->lim->max_manifests, check_resource_identifier);
}

static int check_delete_option(struct pctx *c, const json_t *o)
{
	static const char *const policies[] = { "Foreground", "Orphan", "SelectivelyOrphan", NULL };
	const char *s;
	int r;

	r = p_enum(c, o, "propagationPolicy", false, policies, &s);
	if (r < 0)
		return r;
	r = p_nested(c, o, "selectivelyOrphans", false, check_selectively_orphans);
	if (r < 0)
		return r;
	return p_int(c, o, "ttlSecondsAfterFinished", false, 0, INT64_MAX, NULL, NULL);
}

static int check_json_path(struct pctx *c, const json_t *o)
{
	const char *s;
	int r;

	r = p_string(c, o, "name", true, false, c->lim->max_name_bytes, &s);
	if (r == 0)
		r = p_string(c, o, "path", true, false, SPEC_JSONPATH_MAX, &s);
	if (r == 0)
		r = p_string(c, o, "version", false, true, 64, &s);
	return r;
}

static int check_feedback_rule(struct pctx *c, const json_t *o)
{
	static const char *const types[] = { "WellKnownStatus", "JSONPaths", NULL };
	const char *type;
	json_t *paths;
	int r;

	r = p_enum(c, o, "type", true, types, &type);
	if (r < 0)
		return r;
	r = p_array(c, o, "jsonPaths", false, c->lim->max_feedback_values, &paths);
	if (r < 0)
		return r;
	if (strcmp(type, "JSONPaths") == 0 && (!paths || json_array_size(paths) == 0))
		return pctx_fail(c, -EINVAL, "jsonPaths", "required when type is JSONPaths");
	return paths ? p_each(c, "jsonPaths", paths, check_json_path) : 0;
}

/* An array of strings at o[key], each 1..max bytes. */
static int check_strings(struct pctx *c, const json_t *o, const char *key, size_t max_entries,
			 size_t max)
{
	json_t *list, *e;
	size_t i, mark;
	int r;

	r = p_array(c, o, key, false, max_entries, &list);
	if (r < 0 || !list)
		return r;
	json_array_foreach(list, i, e) {
		mark = pctx_key(c, key);
		pctx_index(c, i);
		if (!json_is_string(e))
			r = pctx_fail(c, -EINVAL, NULL, "must be a string, not %s", p_json_type_name(e));
		else if (json_string_length(e) == 0)
			r = pctx_fail(c, -EINVAL, NULL, "must not be empty");
		else if (json_string_length(e) > max)
			r = pctx_fail(c, -E2BIG, NULL, "%zu bytes exceeds the limit of %zu",
				      json_string_length(e), max);
		pctx_pop(c, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_ignore_field(struct pctx *c, const json_t *o)
{
	static const char *const conds[] = { "OnSpokePresent", "OnSpokeChange", NULL };
	const char *s;
	int r;

	r = p_enum(c, o, "condition", true, conds, &s);
	if (r < 0)
		return r;
	if (!p_get(o, "jsonPaths"))
		return pctx_fail(c, -EINVAL, "jsonPaths", "required");
	return check_strings(c, o, "jsonPaths", c->lim->max_list_entries, SPEC_JSONPATH_MAX);
}

static int check_server_side_apply(struct pctx *c, const json_t *o)
{
	const char *s;
	int r;

	r = p_bool(c, o, "force", false, NULL, NULL);
	if (r < 0)
		return r;
	r = p_string(c, o, "fieldManager", false, false, SPEC_FIELD_MANAGER_MAX, &s);
	if (r < 0)
		return r;
	return p_list(c, o, "ignoreFields", c->lim->max_list_entries, check_ignore_field);
}

static int check_update_strategy(struct pctx *c, const json_t *o)
{
	static const char *const types[] = { "Update", "CreateOnly", "ServerSideApply", "ReadOnly", NULL };
	const char *s;
	int r;

	r = p_enum(c, o, "type", true, types, &s);
	if (r < 0)
		return r;
	return p_nested(c, o, "serverSideApply", false, check_server_side_apply);
}

static int check_condition_rule(struct pctx *c, const json_t *o)
{
	static const char *const types[] = { "WellKnownConditions", "CEL", NULL };
	const char *type, *s;
	int r;

	r = p_string(c, o, "condition", true, false, 316, &s);
	if (r < 0)
		return r;
	r = p_enum(c, o, "type", true, types, &type);
	if (r < 0)
		return r;
	r = check_strings(c, o, "celExpressions", c->lim->max_list_entries, SPEC_CEL_MAX);
	if (r < 0)
		return r;
	if (strcmp(type, "CEL") == 0 && !p_get(o, "celExpressions"))
		return pctx_fail(c, -EINVAL, "celExpressions", "required when type is CEL");
	return p_string(c, o, "message", false, true, c->lim->max_message_bytes, &s);
}

static int check_manifest_config(struct pctx *c, const json_t *o)
{
	static const char *const scrape[] = { "Poll", "Watch", NULL };
	const char *s;
	int r;

	r = p_nested(c, o, "resourceIdentifier", true, check_resource_identifier);
	if (r < 0)
		return r;
	r = p_list(c, o, "feedbackRules", c->lim->max_list_entries, check_feedback_rule);
	if (r < 0)
		return r;
	r = p_nested(c, o, "updateStrategy", false, check_update_strategy);
	if (r < 0)
		return r;
	r = p_list(c, o, "conditionRules", c->lim->max_list_entries, check_condition_rule);
	if (r < 0)
		return r;
	return p_enum(c, o, "feedbackScrapeType", false, scrape, &s);
}

static int check_service_account(struct pctx *c, const json_t *o)
{
	const char *s;
	int r;

	r = p_string(c, o, "namespace", true, false, c->lim->max_name_bytes, &s);
	if (r == 0)
		r = p_string(c, o, "name", true, false, c->lim->max_name_bytes, &s);
	return r;
}

static int check_subject(struct pctx *c, const json_t *o)
{
	static const char *const types[] = { "ServiceAccount", NULL };
	const char *s;
	int r;

	r = p_enum(c, o, "type", true, types, &s);
	if (r < 0)
		return r;
	return p_nested(c, o, "serviceAccount", true, check_service_account);
}

static int check_executor(struct pctx *c, const json_t *o)
{
	return p_nested(c, o, "subject", true, check_subject);
}

/* The manifests: each checked, then their total compact size capped. */
static int check_manifests(struct pctx *c, const json_t *list)
{
	size_t i, total = 0;
	json_t *m;
	int r;

	r = p_each(c, "manifests", list, check_manifest);
	if (r < 0)
		return r;
	json_array_foreach(list, i, m) {
		total += json_dumpb(m, NULL, 0, JSON_COMPACT);
		if (total > c->lim->max_manifest_bytes)
			return pctx_fail(c, -E2BIG, "manifests",
					 "more than %zu bytes of manifests (limit reached at manifests[%zu])",
					 c->lim->max_manifest_bytes, i);
	}
	return 0;
}

int proto_check_bundle(struct pctx *c, const json_t *data)
{
	json_t *list;
	int r;

	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	r = p_array(c, data, "manifests", true, c->lim->max_manifests, &list);
	if (r < 0)
		return r;
	r = check_manifests(c, list);
	if (r < 0)
		return r;
	r = p_nested(c, data, "deleteOption", false, check_delete_option);
	if (r < 0)
		return r;
	r = p_list(c, data, "manifestConfigs", c->lim->max_manifests, check_manifest_config);
	if (r < 0)
		return r;
	return p_nested(c, data, "executor", false, check_executor);
}

int proto_bundle_check(const json_t *bundle, const struct proto_limits *lim, struct errbuf *err)
{
	return p_check_payload(bundle, lim, err, proto_check_bundle);
}

static void copy_member(json_t *to, const char *to_key, const json_t *from, const char *key)
{
	json_t *v = json_object_get(from, key);

	if (v)
		json_object_set(to, to_key, v);
}

json_t *proto_bundle_from_work_spec(const json_t *spec)
{
	json_t *b = json_object();
	json_t *manifests = json_object_get(json_object_get(spec, "workload"), "manifests");

	if (manifests)
		json_object_set(b, "manifests", manifests);
	else
		json_object_set_new(b, "manifests", json_array());
	copy_member(b, "deleteOption", spec, "deleteOption");
	copy_member(b, "manifestConfigs", spec, "manifestConfigs");
	copy_member(b, "executor", spec, "executor");
	return b;
}

json_t *proto_bundle_to_work_spec(const json_t *bundle)
{
	json_t *spec = json_object();
	json_t *workload = json_object();

	copy_member(workload, "manifests", bundle, "manifests");
	json_object_set_new(spec, "workload", workload);
	copy_member(spec, "deleteOption", bundle, "deleteOption");
	copy_member(spec, "manifestConfigs", bundle, "manifestConfigs");
	copy_member(spec, "executor", bundle, "executor");
	return spec;
}

json_t *proto_work_metadata(const json_t *work)
{
	json_t *meta = json_object_get(work, "metadata");
	json_t *out;

	if (!json_is_object(meta))
		return NULL;
	out = json_object();
	json_object_update(out, meta);
	json_object_del(out, "managedFields");
	return out;
}

static struct proto_event *spec_event(enum proto_event_kind kind, const char *source,
				      const char *clustername, const char *resourceid, int64_t generation)
{
	struct proto_event *ev = proto_event_new(kind, source);

	ev->clustername = xstrdup(clustername);
	ev->resourceid = xstrdup(resourceid);
	ev->has_resourceversion = true;
	ev->resourceversion = generation;
	return ev;
}

struct proto_event *proto_event_new_spec(enum proto_event_kind kind, const char *source,
					 const char *clustername, const char *resourceid,
					 int64_t generation, json_t *bundle)
{
	struct proto_event *ev = spec_event(kind, source, clustername, resourceid, generation);

	proto_event_set_data(ev, bundle);
	return ev;
}

struct proto_event *proto_event_new_spec_delete(enum proto_event_kind kind, const char *source,
						const char *clustername, const char *resourceid,
						int64_t generation, int64_t deletion_us)
{
	struct proto_event *ev = spec_event(kind, source, clustername, resourceid, generation);

	ev->has_deletiontimestamp = true;
	ev->deletiontimestamp_us = deletion_us;
	return ev;
}

enum proto_spec_action proto_spec_action(const struct proto_event *ev)
{
	switch (ev->kind) {
	case PROTO_EV_SPEC_DELETE:
		return PROTO_SPEC_DELETE;
	case PROTO_EV_SPEC_UPDATE:
		return ev->has_deletiontimestamp ? PROTO_SPEC_DELETE : PROTO_SPEC_APPLY;
	case PROTO_EV_SPEC_RESYNC_RESPONSE:
		if (!ev->has_deletiontimestamp)
			return PROTO_SPEC_APPLY;
		return ev->data ? PROTO_SPEC_DELETE : PROTO_SPEC_EVICT;
	default:
		return PROTO_SPEC_APPLY;
	}
}

bool proto_spec_is_delete(const struct proto_event *ev)
{
	return proto_spec_action(ev) != PROTO_SPEC_APPLY;
}
