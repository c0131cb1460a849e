/* resources.c - the resources nave-hub serves, and their admission.
 *
 * ManagedCluster and ManifestWork follow OCM's CRDs (served as custom
 * resources: merge patch for kubectl, generation on anything but metadata and
 * status). BootstrapToken, RevokedCertificate and CertificateSigningRequest are
 * read-only through the API; the hub writes them through the internal API
 * (tokens.c, registration.c), which does not check verbs.
 *
 * ManifestWork admission checks the shape the agent relies on and caps the
 * size, naming the field in every message (docs/api.md, ManifestWork).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "hub_int.h"
#include "kobj.h"
#include "placement.h"

/* Status writes (the /status subresource) are not checked: agents write them. */
static bool status_write(const struct kapi_admit_req *rq)
{
	return rq->subresource && !strcmp(rq->subresource, "status");
}

static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

static int check_enum(const json_t *v, const char *field, const char *const *set, struct errbuf *err)
{
	char allowed[256] = "";
	size_t n = 0;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v) && one_of(json_string_value(v), set))
		return 0;
	for (const char *const *s = set; *s; s++)
		n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s\"%s\"", n ? ", " : "", *s);
	return errbuf_set(err, -EINVAL, "%s: Unsupported value: %s%.64s%s: supported values: %s", field,
			  json_is_string(v) ? "\"" : "", json_is_string(v) ? json_string_value(v) : "(not a string)",
			  json_is_string(v) ? "\"" : "", allowed);
}

static int check_manifest(const json_t *m, size_t i, struct errbuf *err)
{
	json_t *md;
	const char *name;

	if (!json_is_object(m))
		return errbuf_set(err, -EINVAL, "spec.workload.manifests[%zu]: Invalid value: must be an object", i);
	if (!json_is_string(json_object_get(m, "apiVersion")) || !json_string_length(json_object_get(m, "apiVersion")))
		return errbuf_set(err, -EINVAL, "spec.workload.manifests[%zu].apiVersion: Required value", i);
	if (!json_is_string(json_object_get(m, "kind")) || !json_string_length(json_object_get(m, "kind")))
		return errbuf_set(err, -EINVAL, "spec.workload.manifests[%zu].kind: Required value", i);
	md = json_object_get(m, "metadata");
	if (!json_is_object(md))
		return errbuf_set(err, -EINVAL, "spec.workload.manifests[%zu].metadata.name: Required value", i);
	name = json_string_value(json_object_get(md, "name"));
	if (!name || !*name)
		return errbuf_set(err, -EINVAL, "spec.workload.manifests[%zu].metadata.name: Required value", i);
	if (strlen(name) > 253)
		return errbuf_set(err, -EINVAL,
				  "spec.workload.manifests[%zu].metadata.name: Too long: must have at most 253 bytes", i);
	return 0;
}

static int check_manifest_configs(const json_t *cfgs, struct errbuf *err)
{
	static const char *const strategies[] = {"Update", "CreateOnly", "ServerSideApply", "ReadOnly", NULL};
	static const char *const feedback[] = {"WellKnownStatus", "JSONPaths", NULL};
	char field[128];
	json_t *c, *rules, *rule;
	size_t i, j;
	int r;

	if (!cfgs || json_is_null(cfgs))
		return 0;
	if (!json_is_array(cfgs))
		return errbuf_set(err, -EINVAL, "spec.manifestConfigs: Invalid value: must be an array");
	json_array_foreach(cfgs, i, c) {
		json_t *rid = json_object_get(c, "resourceIdentifier");

		if (!json_is_object(c))
			return errbuf_set(err, -EINVAL, "spec.manifestConfigs[%zu]: Invalid value: must be an object", i);
		if (!json_is_object(rid))
			return errbuf_set(err, -EINVAL, "spec.manifestConfigs[%zu].resourceIdentifier: Required value", i);
		if (!json_is_string(json_object_get(rid, "resource")) ||
		    !json_string_length(json_object_get(rid, "resource")))
			return errbuf_set(err, -EINVAL,
					  "spec.manifestConfigs[%zu].resourceIdentifier.resource: Required value", i);
		if (!json_is_string(json_object_get(rid, "name")) || !json_string_length(json_object_get(rid, "name")))
			return errbuf_set(err, -EINVAL, "spec.manifestConfigs[%zu].resourceIdentifier.name: Required value",
					  i);
		snprintf(field, sizeof(field), "spec.manifestConfigs[%zu].updateStrategy.type", i);
		if ((r = check_enum(kobj_get_path(c, "updateStrategy.type"), field, strategies, err)) < 0)
			return r;
		rules = json_object_get(c, "feedbackRules");
		if (rules && !json_is_null(rules) && !json_is_array(rules))
			return errbuf_set(err, -EINVAL, "spec.manifestConfigs[%zu].feedbackRules: must be an array", i);
		json_array_foreach(rules, j, rule) {
			json_t *t = json_object_get(rule, "type");

			snprintf(field, sizeof(field), "spec.manifestConfigs[%zu].feedbackRules[%zu].type", i, j);
			if (!t)
				return errbuf_set(err, -EINVAL, "%s: Required value", field);
			if ((r = check_enum(t, field, feedback, err)) < 0)
				return r;
			if (!strcmp(json_string_value(t), "JSONPaths") &&
			    !json_is_array(json_object_get(rule, "jsonPaths")))
				return errbuf_set(err, -EINVAL,
						  "spec.manifestConfigs[%zu].feedbackRules[%zu].jsonPaths: Required value "
						  "for type JSONPaths", i, j);
		}
	}
	return 0;
}

static int admit_work(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	static const char *const policies[] = {"Foreground", "Orphan", "SelectivelyOrphan", NULL};
	struct hub *h = data;
	json_t *obj = rq->new_obj, *spec, *workload, *manifests, *m;
	const char *ns;
	size_t i, total = 0;
	int r;

	if (rq->op == KAPI_OP_DELETE || status_write(rq))
		return 0;
	ns = kobj_namespace(obj);
	if (!ns || !kobj_valid_label_name(ns))
		return errbuf_set(err, -EINVAL,
				  "metadata.namespace: Invalid value \"%.64s\": a ManifestWork's namespace is the name "
				  "of its cluster, a DNS-1123 label", ns ? ns : "");
	spec = json_object_get(obj, "spec");
	if (!json_is_object(spec))
		return errbuf_set(err, -EINVAL, "spec: Required value");
	workload = json_object_get(spec, "workload");
	if (workload && !json_is_null(workload) && !json_is_object(workload))
		return errbuf_set(err, -EINVAL, "spec.workload: Invalid value: must be an object");
	manifests = json_object_get(workload, "manifests");
	if (manifests && !json_is_null(manifests) && !json_is_array(manifests))
		return errbuf_set(err, -EINVAL, "spec.workload.manifests: Invalid value: must be an array");
	json_array_foreach(manifests, i, m) {
		if ((r = check_manifest(m, i, err)) < 0)
			return r;
		total += json_dumpb(m, NULL, 0, JSON_COMPACT);
	}
	if (total > h->cfg.max_work_bytes)
		return errbuf_set(err, -E2BIG,
				  "spec.workload.manifests: Too long: %zu bytes of manifests, the hub's limit is %zu "
				  "(nave-hub serve --max-work-bytes)", total, h->cfg.max_work_bytes);
	if ((r = check_enum(kobj_get_path(obj, "spec.deleteOption.propagationPolicy"),
			    "spec.deleteOption.propagationPolicy", policies, err)) < 0)
		return r;
	if ((r = check_manifest_configs(json_object_get(spec, "manifestConfigs"), err)) < 0)
		return r;
	m = kobj_get_path(obj, "spec.executor.subject");
	if (m && !json_is_null(m)) {
		static const char *const kinds[] = {"ServiceAccount", NULL};

		if ((r = check_enum(json_object_get(m, "type"), "spec.executor.subject.type", kinds, err)) < 0)
			return r;
		if (!json_is_string(kobj_get_path(m, "serviceAccount.name")) ||
		    !json_is_string(kobj_get_path(m, "serviceAccount.namespace")))
			return errbuf_set(err, -EINVAL,
					  "spec.executor.subject.serviceAccount: Required value: name and namespace");
	}
	return 0;
}

static int admit_cluster(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	struct hub *h = data;
	json_t *obj = rq->new_obj, *spec, *v;

	if (rq->op == KAPI_OP_DELETE || status_write(rq))
		return 0;
	if (!json_is_object(obj))
		return errbuf_set(err, -EBADMSG, "the body must be a ManagedCluster object");
	spec = json_object_get(obj, "spec");
	if (!spec || json_is_null(spec)) {
		spec = json_object();
		json_object_set_new(obj, "spec", spec);
	}
	if (!json_is_object(spec))
		return errbuf_set(err, -EINVAL, "spec: Invalid value: must be an object");
	v = json_object_get(spec, "hubAcceptsClient");
	if (!v || json_is_null(v))
		json_object_set_new(spec, "hubAcceptsClient", json_false());
	else if (!json_is_boolean(v))
		return errbuf_set(err, -EINVAL, "spec.hubAcceptsClient: Invalid value: must be true or false");
	v = json_object_get(spec, "leaseDurationSeconds");
	if (!v || json_is_null(v))
		json_object_set_new(spec, "leaseDurationSeconds", json_integer(h->cfg.lease_duration_s));
	else if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3600)
		return errbuf_set(err, -EINVAL, "spec.leaseDurationSeconds: Invalid value: must be an integer of 0..3600");
	v = json_object_get(spec, "managedClusterClientConfigs");
	if (v && !json_is_null(v) && !json_is_array(v))
		return errbuf_set(err, -EINVAL, "spec.managedClusterClientConfigs: Invalid value: must be an array");
	return 0;
}

/* See hub_int.h. */
int hub_check_work(struct hub *h, json_t *work, struct errbuf *err)
{
	struct kapi_admit_req rq = {.op = KAPI_OP_CREATE, .new_obj = work};

	return admit_work(h, &rq, err);
}

/* See hub_int.h. */
int hub_check_cluster(struct hub *h, json_t *cluster, struct errbuf *err)
{
	struct kapi_admit_req rq = {.op = KAPI_OP_CREATE, .new_obj = cluster};

	return admit_cluster(h, &rq, err);
}

static json_t *columns(const char *spec)
{
	json_error_t je;

	return json_loads(spec, 0, &je);
}

static int reg(struct hub *h, struct kapi_resource_def *d, const char *cols)
{
	json_t *pc = cols ? columns(cols) : NULL;
	int r;

	d->printer_columns = pc;
	r = kapi_server_register(h->kapi, d, NULL);
	json_decref(pc);
	return r;
}

/* See hub_int.h. */
int hub_resources_register(struct hub *h)
{
	static const char *const mc_short[] = {"mcl", "mcls", NULL};
	static const char *const mw_short[] = {"mw", NULL};
	static const char *const csr_short[] = {"csr", NULL};
	static const char *const bt_short[] = {"bt", NULL};
	struct kapi_resource_def clusters = {
		.group = HUB_GROUP_CLUSTER, .version = "v1", .resource = HUB_RES_CLUSTERS,
		.singular = "managedcluster", .kind = "ManagedCluster", .short_names = mc_short,
		.namespaced = false, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .name_is_label = true, .custom = true,
		.admit = admit_cluster, .admit_data = h,
	};
	struct kapi_resource_def works = {
		.group = HUB_GROUP_WORK, .version = "v1", .resource = HUB_RES_WORKS, .singular = "manifestwork",
		.kind = "ManifestWork", .short_names = mw_short, .namespaced = true, .verbs = KAPI_VERBS_ALL,
		.has_status = true, .generation = KAPI_GEN_NOT_METADATA, .custom = true,
		.admit = admit_work, .admit_data = h,
	};
	struct kapi_resource_def tokens = {
		.group = HUB_GROUP_NAVE, .version = "v1alpha1", .resource = HUB_RES_TOKENS,
		.singular = "bootstraptoken", .kind = "BootstrapToken", .short_names = bt_short,
		.verbs = KAPI_VERBS_READ, .has_status = true, .generation = KAPI_GEN_NONE, .custom = true,
	};
	struct kapi_resource_def revoked = {
		.group = HUB_GROUP_NAVE, .version = "v1alpha1", .resource = HUB_RES_REVOKED,
		.singular = "revokedcertificate", .kind = "RevokedCertificate", .verbs = KAPI_VERBS_READ,
		.generation = KAPI_GEN_NONE, .custom = true,
	};
	struct kapi_resource_def csrs = {
		.group = HUB_GROUP_CERTS, .version = "v1", .resource = HUB_RES_CSRS,
		.singular = "certificatesigningrequest", .kind = "CertificateSigningRequest",
		.short_names = csr_short, .verbs = KAPI_VERBS_READ, .has_status = true,
		.generation = KAPI_GEN_NONE, .custom = true,
	};
	int r;

	if ((r = reg(h, &clusters,
		     "[{\"name\":\"Hub Accepted\",\"type\":\"boolean\",\"jsonPath\":\".spec.hubAcceptsClient\"},"
		     "{\"name\":\"Managed Cluster URLs\",\"type\":\"string\","
		     "\"jsonPath\":\".spec.managedClusterClientConfigs[*].url\"},"
		     "{\"name\":\"Joined\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"ManagedClusterJoined\\\")].status\"},"
		     "{\"name\":\"Available\",\"type\":\"string\","
		     "\"jsonPath\":\".status.conditions[?(@.type==\\\"ManagedClusterConditionAvailable\\\")].status\"},"
		     "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}]")) < 0 ||
	    (r = reg(h, &works, NULL)) < 0 ||
	    (r = reg(h, &tokens,
		     "[{\"name\":\"Expiration\",\"type\":\"string\",\"jsonPath\":\".spec.expiration\"},"
		     "{\"name\":\"Uses\",\"type\":\"integer\",\"jsonPath\":\".status.uses\"},"
		     "{\"name\":\"Limit\",\"type\":\"integer\",\"jsonPath\":\".spec.usageLimit\"},"
		     "{\"name\":\"Revoked\",\"type\":\"boolean\",\"jsonPath\":\".spec.revoked\"},"
		     "{\"name\":\"Description\",\"type\":\"string\",\"jsonPath\":\".spec.description\"},"
		     "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}]")) < 0 ||
	    (r = reg(h, &revoked,
		     "[{\"name\":\"Cluster\",\"type\":\"string\",\"jsonPath\":\".spec.cluster\"},"
		     "{\"name\":\"Reason\",\"type\":\"string\",\"jsonPath\":\".spec.reason\"},"
		     "{\"name\":\"Not After\",\"type\":\"string\",\"jsonPath\":\".spec.notAfter\"},"
		     "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}]")) < 0 ||
	    (r = reg(h, &csrs,
		     "[{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"},"
		     "{\"name\":\"SignerName\",\"type\":\"string\",\"jsonPath\":\".spec.signerName\"},"
		     "{\"name\":\"Requestor\",\"type\":\"string\",\"jsonPath\":\".spec.username\"},"
		     "{\"name\":\"Condition\",\"type\":\"string\",\"jsonPath\":\".status.conditions[*].type\"}]")) < 0)
		return r;
	if ((r = placement_resources_register(h)) < 0)
		return r;
	return app_resources_register(h);
}
