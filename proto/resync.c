/* resync.c - the spec and status resync payloads: validation (including
 * duplicate resource ids, found by sorting), conversion to and from C arrays,
 * the request constructors. See resync.h for the format.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "proto_int.h"
#include "resync.h"

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Check list (the array at data[key]) of {resourceID, <value_key>} entries.
 * hashes selects the value: a statusHash string or a resourceVersion integer. */
static int check_entries(struct pctx *c, const json_t *data, const char *key, const char *value_key,
			 bool hashes)
{
	const char **ids = NULL;
	json_t *list, *e;
	size_t i, n, mark;
	const char *s;
	int r;

	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	r = p_array(c, data, key, true, c->lim->max_resync_entries, &list);
	if (r < 0)
		return r;
	n = json_array_size(list);
	if (n == 0)
		return 0;
	ids = xcalloc(n, sizeof(*ids));
	json_array_foreach(list, i, e) {
		mark = pctx_key(c, key);
		pctx_index(c, i);
		if (!json_is_object(e)) {
			r = pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(e));
		} else {
			r = p_string(c, e, "resourceID", true, false, 64, &s);
			if (r == 0 && !p_is_uuid(s))
				r = pctx_fail(c, -EINVAL, "resourceID", "must be a lowercase UUID");
			ids[i] = s;
			if (r == 0 && hashes) {
				r = p_string(c, e, value_key, true, false, 64, &s);
				if (r == 0 && !p_is_hex64(s))
					r = pctx_fail(c, -EINVAL, value_key, "must be 64 lowercase hex digits");
			} else if (r == 0) {
				r = p_int(c, e, value_key, true, 0, INT64_MAX, NULL, NULL);
			}
		}
		pctx_pop(c, mark);
		if (r < 0)
			goto out;
	}
	qsort(ids, n, sizeof(*ids), cmp_str_ptr);
	for (i = 1; i < n; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0) {
			r = pctx_fail(c, -EINVAL, key, "resourceID %s appears more than once", ids[i]);
			goto out;
		}
	r = 0;
out:
	free(ids);
	return r;
}

int proto_check_resync_versions(struct pctx *c, const json_t *data)
{
	return check_entries(c, data, "resourceVersions", "resourceVersion", false);
}

int proto_check_resync_hashes(struct pctx *c, const json_t *data)
{
	return check_entries(c, data, "statusHashes", "statusHash", true);
}

json_t *proto_resync_versions_to_json(const struct proto_resource_version *v, size_t n)
{
	json_t *o = json_object();
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "resourceID", json_string(v[i].resourceid));
		json_object_set_new(e, "resourceVersion", json_integer(v[i].version));
		json_array_append_new(list, e);
	}
	json_object_set_new(o, "resourceVersions", list);
	return o;
}

json_t *proto_resync_hashes_to_json(const struct proto_status_hash *h, size_t n)
{
	json_t *o = json_object();
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "resourceID", json_string(h[i].resourceid));
		json_object_set_new(e, "statusHash", json_string(h[i].hash));
		json_array_append_new(list, e);
	}
	json_object_set_new(o, "statusHashes", list);
	return o;
}

int proto_resync_versions_parse(const json_t *data, const struct proto_limits *lim,
				struct errbuf *err, struct proto_resource_version **ret_v,
				size_t *ret_n)
{
	struct proto_resource_version *v = NULL;
	json_t *list;
	size_t n;
	int r;

	r = p_check_payload(data, lim, err, proto_check_resync_versions);
	if (r < 0)
		return r;
	list = json_object_get(data, "resourceVersions");
	n = json_array_size(list);
	if (n > 0)
		v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);

		memcpy(v[i].resourceid, json_string_value(json_object_get(e, "resourceID")), PROTO_UUID_LEN + 1);
		v[i].version = json_integer_value(json_object_get(e, "resourceVersion"));
	}
	*ret_v = v;
	*ret_n = n;
	return 0;
}

int proto_resync_hashes_parse(const json_t *data, const struct proto_limits *lim, struct errbuf *err,
			      struct proto_status_hash **ret_h, size_t *ret_n)
{
	struct proto_status_hash *h = NULL;
	json_t *list;
	size_t n;
	int r;

	r = p_check_payload(data, lim, err, proto_check_resync_hashes);
	if (r < 0)
		return r;
	list = json_object_get(data, "statusHashes");
	n = json_array_size(list);
	if (n > 0)
		h = xcalloc(n, sizeof(*h));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);

		memcpy(h[i].resourceid, json_string_value(json_object_get(e, "resourceID")), PROTO_UUID_LEN + 1);
		memcpy(h[i].hash, json_string_value(json_object_get(e, "statusHash")), PROTO_STATUSHASH_LEN + 1);
	}
	*ret_h = h;
	*ret_n = n;
	return 0;
}

struct proto_event *proto_event_new_spec_resync_request(const char *source, const char *clustername,
							const struct proto_resource_version *v,
							size_t n)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_SPEC_RESYNC_REQUEST, source);

	ev->clustername = xstrdup(clustername);
	ev->data = proto_resync_versions_to_json(v, n);
	return ev;
}

struct proto_event *proto_event_new_status_resync_request(const char *source,
							  const char *clustername,
							  const struct proto_status_hash *h,
							  size_t n)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_STATUS_RESYNC_REQUEST, source);

	ev->clustername = xstrdup(clustername);
	ev->data = proto_resync_hashes_to_json(h, n);
	return ev;
}
