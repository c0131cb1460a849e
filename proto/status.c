/* status.c - the ManifestBundleStatus payload: validation, the canonical
 * status hash, builders and the status/ack constructors. See status.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "proto_int.h"
#include "status.h"
#include "timefmt.h"

static const char *const value_members[] = { "integer", "string", "boolean", "jsonRaw", NULL };

static int check_field_value(struct pctx *c, const json_t *fv)
{
	static const char *const types[] = { "Integer", "String", "Boolean", "JsonRaw", NULL };
	size_t max = c->lim->max_feedback_value_bytes;
	const char *type, *member, *s;
	json_t *raw;
	json_error_t jerr;
	int r, t;

	r = p_enum(c, fv, "type", true, types, &type);
	if (r < 0)
		return r;
	for (t = 0; types[t] != type; t++)
		;
	member = value_members[t];
	for (int i = 0; value_members[i]; i++)
		if (i != t && p_get(fv, value_members[i]))
			return pctx_fail(c, -EINVAL, value_members[i], "not allowed when type is %s", type);
	if (!p_get(fv, member))
		return pctx_fail(c, -EINVAL, member, "required when type is %s", type);
	switch (t) {
	case 0:
		return p_int(c, fv, member, true, INT64_MIN, INT64_MAX, NULL, NULL);
	case 1:
		return p_string(c, fv, member, true, true, max, &s);
	case 2:
		return p_bool(c, fv, member, true, NULL, NULL);
	default:
		r = p_string(c, fv, member, true, false, max, &s);
		if (r < 0)
			return r;
		raw = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
		if (!raw)
			return pctx_fail(c, -EINVAL, member, "not valid JSON: %s", jerr.text);
		json_decref(raw);
		return 0;
	}
}

static int check_feedback_value(struct pctx *c, const json_t *v)
{
	const char *s;
	int r;

	r = p_string(c, v, "name", true, false, c->lim->max_name_bytes, &s);
	if (r < 0)
		return r;
	return p_nested(c, v, "fieldValue", true, check_field_value);
}

static int check_resource_meta(struct pctx *c, const json_t *m)
{
	static const char *const names[] = { "group", "version", "kind", "resource", "name", "namespace", NULL };
	const char *s;
	int r;

	r = p_int(c, m, "ordinal", true, 0, (int64_t)c->lim->max_manifests - 1, NULL, NULL);
	for (const char *const *n = names; r == 0 && *n; n++)
		r = p_string(c, m, *n, false, true, c->lim->max_name_bytes, &s);
	return r;
}

static int check_status_feedback(struct pctx *c, const json_t *feedback)
{
	return p_list(c, feedback, "values", c->lim->max_feedback_values, check_feedback_value);
}

static int check_manifest_condition(struct pctx *c, const json_t *mc)
{
	int r;

	r = p_nested(c, mc, "resourceMeta", true, check_resource_meta);
	if (r < 0)
		return r;
	r = p_nested(c, mc, "statusFeedback", false, check_status_feedback);
	if (r < 0)
		return r;
	return p_conditions(c, mc, "conditions");
}

static int check_resource_status(struct pctx *c, const json_t *rs)
{
	return p_list(c, rs, "manifests", c->lim->max_manifests, check_manifest_condition);
}

int proto_check_status(struct pctx *c, const json_t *data)
{
	int r;

	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	r = p_conditions(c, data, "conditions");
	if (r < 0)
		return r;
	return p_nested(c, data, "resourceStatus", false, check_resource_status);
}

int proto_status_check(const json_t *status, const struct proto_limits *lim, struct errbuf *err)
{
	return p_check_payload(status, lim, err, proto_check_status);
}

int proto_status_hash(const json_t *status, char *out)
{
	char *text = json_dumps(status, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (!text)
		return -EINVAL;
	sha256_hex(text, strlen(text), out);
	free(text);
	return 0;
}

static void set_str(json_t *o, const char *key, const char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
}

json_t *proto_condition(const char *type, const char *status, const char *reason,
			const char *message, int64_t observed_generation, int64_t transition_us)
{
	json_t *c = json_object();

	set_str(c, "type", type);
	set_str(c, "status", status);
	set_str(c, "reason", reason);
	set_str(c, "message", message);
	if (observed_generation >= 0)
		json_object_set_new(c, "observedGeneration", json_integer(observed_generation));
	if (transition_us >= 0) {
		char buf[TIMEFMT_MAX];

		/* Kubernetes writes condition times to the second. */
		json_object_set_new(c, "lastTransitionTime", json_string(time_format_rfc3339(transition_us, buf)));
	}
	return c;
}

json_t *proto_resource_meta(int64_t ordinal, const char *group, const char *version, const char *kind,
			    const char *resource, const char *name, const char *namespace_)
{
	json_t *m = json_object();

	json_object_set_new(m, "ordinal", json_integer(ordinal));
	set_str(m, "group", group);
	set_str(m, "version", version);
	set_str(m, "kind", kind);
	set_str(m, "resource", resource);
	set_str(m, "name", name);
	set_str(m, "namespace", namespace_);
	return m;
}

static json_t *feedback(const char *name, const char *type, const char *member, json_t *value)
{
	json_t *fv = json_object();
	json_t *v = json_object();

	json_object_set_new(fv, "type", json_string(type));
	json_object_set_new(fv, member, value);
	set_str(v, "name", name);
	json_object_set_new(v, "fieldValue", fv);
	return v;
}

json_t *proto_feedback_integer(const char *name, int64_t v)
{
	return feedback(name, "Integer", "integer", json_integer(v));
}

json_t *proto_feedback_string(const char *name, const char *v)
{
	return feedback(name, "String", "string", json_string(v ? v : ""));
}

json_t *proto_feedback_boolean(const char *name, bool v)
{
	return feedback(name, "Boolean", "boolean", json_boolean(v));
}

json_t *proto_feedback_json_raw(const char *name, const char *json_text)
{
	return feedback(name, "JsonRaw", "jsonRaw", json_string(json_text ? json_text : ""));
}

json_t *proto_manifest_condition(json_t *resource_meta, json_t *values, json_t *conditions)
{
	json_t *mc = json_object();

	json_object_set_new(mc, "resourceMeta", resource_meta);
	if (values) {
		json_t *fb = json_object();

		json_object_set_new(fb, "values", values);
		json_object_set_new(mc, "statusFeedback", fb);
	}
	if (conditions)
		json_object_set_new(mc, "conditions", conditions);
	return mc;
}

json_t *proto_bundle_status(json_t *conditions, json_t *manifests)
{
	json_t *s = json_object();
	json_t *rs = json_object();

	json_object_set_new(s, "conditions", conditions ? conditions : json_array());
	json_object_set_new(rs, "manifests", manifests ? manifests : json_array());
	json_object_set_new(s, "resourceStatus", rs);
	return s;
}

struct proto_event *proto_event_new_status(enum proto_event_kind kind, const char *source,
					   const char *clustername, const char *resourceid,
					   int64_t generation, uint64_t sequenceid, json_t *status)
{
	struct proto_event *ev = proto_event_new(kind, source);
	char hash[PROTO_STATUSHASH_LEN + 1];

	ev->clustername = xstrdup(clustername);
	ev->resourceid = xstrdup(resourceid);
	ev->has_resourceversion = true;
	ev->resourceversion = generation;
	ev->sequenceid = sequenceid;
	if (status && proto_status_hash(status, hash) == 0)
		ev->statushash = xstrdup(hash);
	proto_event_set_data(ev, status);
	return ev;
}

struct proto_event *proto_event_new_status_ack(const char *source, const char *clustername,
					       const char *resourceid, uint64_t sequenceid)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_STATUS_ACK, source);

	ev->clustername = xstrdup(clustername);
	ev->resourceid = xstrdup(resourceid);
	ev->sequenceid = sequenceid;
	return ev;
}
