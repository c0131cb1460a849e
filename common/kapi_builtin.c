/* kapi_builtin.c - the built-in Kubernetes resources nave-kubesim serves.
 *
 * One table of definitions (group, version, plural, kind, shortNames,
 * categories, scope, subresources, generation rule) as kube-apiserver 1.30
 * publishes them in discovery, and the defaulting and validation that its
 * strategies apply on write, done as admission callbacks: namespaces get
 * spec.finalizers ["kubernetes"], status.phase and the
 * kubernetes.io/metadata.name label; secrets fold stringData into data;
 * services get a cluster IP and port defaults; workloads get replicas,
 * strategy and pod template defaults and a selector that must match the
 * template; jobs get their controller-uid selector; lease times are
 * normalised to MicroTime. The namespaces default, kube-system, kube-public
 * and kube-node-lease exist from the start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "kapi_int.h"
#include "kobj.h"
#include "selector.h"
#include "timefmt.h"

static const char *const sn_ns[] = {"ns", NULL};
static const char *const sn_cm[] = {"cm", NULL};
static const char *const sn_svc[] = {"svc", NULL};
static const char *const sn_sa[] = {"sa", NULL};
static const char *const sn_po[] = {"po", NULL};
static const char *const sn_ev[] = {"ev", NULL};
static const char *const sn_no[] = {"no", NULL};
static const char *const sn_deploy[] = {"deploy", NULL};
static const char *const sn_rs[] = {"rs", NULL};
static const char *const sn_sts[] = {"sts", NULL};
static const char *const sn_ds[] = {"ds", NULL};
static const char *const sn_cj[] = {"cj", NULL};
static const char *const sn_ing[] = {"ing", NULL};
static const char *const sn_pvc[] = {"pvc", NULL};
static const char *const cat_all[] = {"all", NULL};

/* ------------------------------------------------------------------------ */
/* Defaulting helpers                                                        */

static const char *str0(const char *s)
{
	return s ? s : "";
}

static json_t *obj_child(json_t *o, const char *key)
{
	json_t *c = json_object_get(o, key);

	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(o, key, c);
	}
	return c;
}

static void set_default(json_t *o, const char *key, json_t *v)
{
	if (!json_object_get(o, key) || json_is_null(json_object_get(o, key)))
		json_object_set_new(o, key, v);
	else
		json_decref(v);
}

static bool image_is_latest(const char *image)
{
	const char *slash = strrchr(image, '/'), *colon;

	if (strchr(image, '@'))
		return false;
	colon = strrchr(slash ? slash : image, ':');
	return !colon || !strcmp(colon + 1, "latest");
}

static void default_containers(json_t *list)
{
	size_t i;
	json_t *c;

	json_array_foreach(list, i, c) {
		const char *image;

		if (!json_is_object(c))
			continue;
		image = json_string_value(json_object_get(c, "image"));
		set_default(c, "imagePullPolicy",
			    json_string(image && image_is_latest(image) ? "Always" : "IfNotPresent"));
		set_default(c, "terminationMessagePath", json_string("/dev/termination-log"));
		set_default(c, "terminationMessagePolicy", json_string("File"));
		set_default(c, "resources", json_object());
		{
			json_t *ports = json_object_get(c, "ports"), *p;
			size_t j;

			json_array_foreach(ports, j, p)
				if (json_is_object(p))
					set_default(p, "protocol", json_string("TCP"));
		}
	}
}

/* PodSpec defaults as kube-apiserver applies them. */
static void default_pod_spec(json_t *spec)
{
	if (!json_is_object(spec))
		return;
	set_default(spec, "restartPolicy", json_string("Always"));
	set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
	set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
	set_default(spec, "securityContext", json_object());
	set_default(spec, "schedulerName", json_string("default-scheduler"));
	default_containers(json_object_get(spec, "containers"));
	default_containers(json_object_get(spec, "initContainers"));
}

/* Go's %#v of a map[string]string, keys sorted, for validation messages. */
static void go_map(const json_t *m, char *out, size_t outlen)
{
	const char *keys[64];
	size_t n = 0, i, j, off;
	const char *k;
	json_t *v;
	int w;

	json_object_foreach((json_t *)m, k, v)
		if (n < 64)
			keys[n++] = k;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];

			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	w = snprintf(out, outlen, "map[string]string{");
	off = w > 0 ? (size_t)w : 0;
	for (i = 0; i < n && off < outlen; i++) {
		w = snprintf(out + off, outlen - off, "%s\"%s\":\"%s\"", i ? ", " : "", keys[i],
			     json_string_value(json_object_get(m, keys[i])) ? json_string_value(json_object_get(m, keys[i]))
									   : "");
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (off < outlen)
		snprintf(out + off, outlen - off, "}");
}

static int check_replicas(json_t *spec, struct errbuf *err)
{
	json_t *r = json_object_get(spec, "replicas");

	if (r && !json_is_null(r) && (!json_is_integer(r) || json_integer_value(r) < 0))
		return errbuf_set(err, -EINVAL, "spec.replicas: Invalid value: %lld: must be greater than or equal to 0",
				  (long long)json_integer_value(r));
	return 0;
}

/* spec.selector required, matching spec.template.metadata.labels, immutable. */
static int check_selector(const struct kapi_admit_req *req, json_t *spec, struct errbuf *err)
{
	json_t *sel = json_object_get(spec, "selector");
	json_t *labels = kobj_get_path(spec, "template.metadata.labels");
	struct label_selector *ls = NULL;
	struct errbuf eb = {{0}};
	char m[600];
	bool ok;

	if (!json_is_object(sel))
		return errbuf_set(err, -EINVAL, "spec.selector: Required value");
	if (!json_object_size(json_object_get(sel, "matchLabels")) &&
	    !json_array_size(json_object_get(sel, "matchExpressions")))
		return errbuf_set(err, -EINVAL, "spec.selector: Invalid value: \"\": empty selector is invalid for %s",
				  req->def->resource);
	if (label_selector_from_json(sel, &eb, &ls) < 0)
		return errbuf_set(err, -EINVAL, "spec.selector: Invalid value: %s", eb.msg);
	ok = label_selector_matches(ls, json_is_object(labels) ? labels : NULL);
	label_selector_free(ls);
	if (!ok) {
		go_map(json_is_object(labels) ? labels : NULL, m, sizeof(m));
		return errbuf_set(err, -EINVAL,
				  "spec.template.metadata.labels: Invalid value: %s: `selector` does not match template `labels`",
				  m);
	}
	if (req->op == KAPI_OP_UPDATE && req->old_obj && !req->subresource) {
		json_t *old_sel = kobj_get_path(req->old_obj, "spec.selector");

		if (old_sel && !json_equal(old_sel, sel))
			return errbuf_set(err, -EINVAL, "spec.selector: Invalid value: %s: field is immutable",
					  "v1.LabelSelector{...}");
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Admission per kind                                                        */

static int admit_namespace(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *spec, *status;
	const char *name;

	if (!o)
		return 0;
	name = kobj_name(o);
	/* kube-apiserver labels every namespace with its name (immutable) */
	if (name)
		kobj_set_label(o, "kubernetes.io/metadata.name", name);
	if (req->op == KAPI_OP_CREATE) {
		spec = obj_child(o, "spec");
		if (!json_object_get(spec, "finalizers"))
			json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
		status = obj_child(o, "status");
		set_default(status, "phase", json_string("Active"));
	}
	return 0;
}

static int admit_secret(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *sd, *d, *v;
	const char *k;

	if (!o)
		return 0;
	set_default(o, "type", json_string("Opaque"));
	sd = json_object_get(o, "stringData");
	if (json_is_object(sd)) {
		d = obj_child(o, "data");
		json_object_foreach(sd, k, v) {
			char *b;

			if (!json_is_string(v))
				return errbuf_set(err, -EINVAL, "stringData[%s]: Invalid value: must be a string", k);
			b = base64_encode(json_string_value(v), json_string_length(v));
			json_object_set_new(d, k, json_string(b));
			free(b);
		}
	}
	json_object_del(o, "stringData");
	d = json_object_get(o, "data");
	json_object_foreach(d, k, v) {
		uint8_t *raw = NULL;
		size_t len = 0;

		if (!json_is_string(v) || base64_decode(json_string_value(v), json_string_length(v), &raw, &len) < 0)
			return errbuf_set(err, -EBADMSG, "illegal base64 data in data[%s]", k);
		free(raw);
	}
	return 0;
}

static unsigned ip_counter;

static int admit_service(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *spec, *ports, *p;
	const char *type, *name;
	size_t i;

	if (!o || req->subresource)
		return 0;
	name = kobj_name(o);
	if (name && !(name[0] >= 'a' && name[0] <= 'z'))
		return errbuf_set(err, -EINVAL,
				  "metadata.name: Invalid value: \"%s\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
				  name);
	spec = obj_child(o, "spec");
	set_default(spec, "type", json_string("ClusterIP"));
	type = json_string_value(json_object_get(spec, "type"));
	if (req->old_obj) {
		json_t *oc = kobj_get_path(req->old_obj, "spec.clusterIP");
		json_t *ocs = kobj_get_path(req->old_obj, "spec.clusterIPs");

		if (oc && !json_object_get(spec, "clusterIP"))
			json_object_set(spec, "clusterIP", oc);
		if (ocs && !json_object_get(spec, "clusterIPs"))
			json_object_set(spec, "clusterIPs", ocs);
	}
	if (type && strcmp(type, "ExternalName") && !json_object_get(spec, "clusterIP")) {
		unsigned n = ++ip_counter;
		char ip[32];

		snprintf(ip, sizeof(ip), "10.96.%u.%u", (n / 250) % 250, n % 250 + 1);
		json_object_set_new(spec, "clusterIP", json_string(ip));
	}
	if (json_is_string(json_object_get(spec, "clusterIP")) && !json_object_get(spec, "clusterIPs"))
		json_object_set_new(spec, "clusterIPs", json_pack("[O]", json_object_get(spec, "clusterIP")));
	set_default(spec, "sessionAffinity", json_string("None"));
	if (type && strcmp(type, "ExternalName")) {
		set_default(spec, "ipFamilies", json_pack("[s]", "IPv4"));
		set_default(spec, "ipFamilyPolicy", json_string("SingleStack"));
		set_default(spec, "internalTrafficPolicy", json_string("Cluster"));
	}
	ports = json_object_get(spec, "ports");
	json_array_foreach(ports, i, p) {
		if (!json_is_object(p))
			continue;
		set_default(p, "protocol", json_string("TCP"));
		if (!json_object_get(p, "targetPort") && json_object_get(p, "port"))
			json_object_set(p, "targetPort", json_object_get(p, "port"));
	}
	if (req->op == KAPI_OP_CREATE) {
		json_t *st = obj_child(o, "status");

		set_default(st, "loadBalancer", json_object());
	}
	return 0;
}

static int admit_pod(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj;

	if (!o || req->subresource)
		return 0;
	if (!json_array_size(kobj_get_path(o, "spec.containers")))
		return errbuf_set(err, -EINVAL, "spec.containers: Required value");
	default_pod_spec(json_object_get(o, "spec"));
	if (req->op == KAPI_OP_CREATE) {
		json_t *st = obj_child(o, "status");

		set_default(st, "phase", json_string("Pending"));
		set_default(st, "qosClass", json_string("BestEffort"));
	}
	return 0;
}

static int admit_workload(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *spec;
	const char *res = req->def->resource;
	int r;

	if (!o || req->subresource)
		return 0;
	spec = obj_child(o, "spec");
	r = check_replicas(spec, err);
	if (r < 0)
		return r;
	if (!json_is_object(json_object_get(spec, "template")))
		return errbuf_set(err, -EINVAL, "spec.template: Required value");
	if (!json_array_size(kobj_get_path(spec, "template.spec.containers")))
		return errbuf_set(err, -EINVAL, "spec.template.spec.containers: Required value");
	r = check_selector(req, spec, err);
	if (r < 0)
		return r;
	default_pod_spec(kobj_get_path(spec, "template.spec"));
	if (!strcmp(res, "daemonsets")) {
		json_t *us = obj_child(spec, "updateStrategy");

		set_default(us, "type", json_string("RollingUpdate"));
		if (!strcmp(str0(json_string_value(json_object_get(us, "type"))), "RollingUpdate")) {
			json_t *ru = obj_child(us, "rollingUpdate");

			set_default(ru, "maxUnavailable", json_integer(1));
			set_default(ru, "maxSurge", json_integer(0));
		}
		set_default(spec, "revisionHistoryLimit", json_integer(10));
		return 0;
	}
	set_default(spec, "replicas", json_integer(1));
	if (!strcmp(res, "deployments")) {
		json_t *st = obj_child(spec, "strategy");

		set_default(st, "type", json_string("RollingUpdate"));
		if (!strcmp(str0(json_string_value(json_object_get(st, "type"))), "RollingUpdate")) {
			json_t *ru = obj_child(st, "rollingUpdate");

			set_default(ru, "maxUnavailable", json_string("25%"));
			set_default(ru, "maxSurge", json_string("25%"));
		}
		set_default(spec, "revisionHistoryLimit", json_integer(10));
		set_default(spec, "progressDeadlineSeconds", json_integer(600));
	} else if (!strcmp(res, "statefulsets")) {
		json_t *us = obj_child(spec, "updateStrategy");

		set_default(spec, "podManagementPolicy", json_string("OrderedReady"));
		set_default(us, "type", json_string("RollingUpdate"));
		if (!strcmp(str0(json_string_value(json_object_get(us, "type"))), "RollingUpdate")) {
			json_t *ru = obj_child(us, "rollingUpdate");

			set_default(ru, "partition", json_integer(0));
		}
		set_default(spec, "revisionHistoryLimit", json_integer(10));
		{
			json_t *pr = obj_child(spec, "persistentVolumeClaimRetentionPolicy");

			set_default(pr, "whenDeleted", json_string("Retain"));
			set_default(pr, "whenScaled", json_string("Retain"));
		}
	}
	return 0;
}

static int admit_job(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *spec, *tmd, *labels;
	const char *rp, *uid, *name;

	if (!o || req->subresource)
		return 0;
	spec = obj_child(o, "spec");
	if (!json_is_object(json_object_get(spec, "template")))
		return errbuf_set(err, -EINVAL, "spec.template: Required value");
	if (!json_array_size(kobj_get_path(spec, "template.spec.containers")))
		return errbuf_set(err, -EINVAL, "spec.template.spec.containers: Required value");
	rp = json_string_value(kobj_get_path(spec, "template.spec.restartPolicy"));
	if (!rp || (strcmp(rp, "Never") && strcmp(rp, "OnFailure")))
		return errbuf_set(err, -EINVAL,
				  "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"");
	default_pod_spec(kobj_get_path(spec, "template.spec"));
	set_default(spec, "parallelism", json_integer(1));
	set_default(spec, "completions", json_integer(1));
	set_default(spec, "backoffLimit", json_integer(6));
	set_default(spec, "completionMode", json_string("NonIndexed"));
	set_default(spec, "suspend", json_false());
	if (req->op == KAPI_OP_CREATE && !json_object_get(spec, "selector")) {
		uid = kobj_uid(o);
		name = kobj_name(o);
		json_object_set_new(spec, "selector",
				    json_pack("{s:{s:s}}", "matchLabels", "batch.kubernetes.io/controller-uid", str0(uid)));
		tmd = obj_child(json_object_get(spec, "template"), "metadata");
		labels = obj_child(tmd, "labels");
		json_object_set_new(labels, "batch.kubernetes.io/controller-uid", json_string(str0(uid)));
		json_object_set_new(labels, "batch.kubernetes.io/job-name", json_string(str0(name)));
		json_object_set_new(labels, "controller-uid", json_string(str0(uid)));
		json_object_set_new(labels, "job-name", json_string(str0(name)));
	}
	if (req->op == KAPI_OP_UPDATE && req->old_obj) {
		json_t *os = kobj_get_path(req->old_obj, "spec.selector");

		if (os && !json_equal(os, json_object_get(spec, "selector")))
			return errbuf_set(err, -EINVAL, "spec.selector: Invalid value: %s: field is immutable",
					  "v1.LabelSelector{...}");
	}
	return 0;
}

static int admit_cronjob(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *spec;

	if (!o || req->subresource)
		return 0;
	spec = obj_child(o, "spec");
	if (!json_is_string(json_object_get(spec, "schedule")))
		return errbuf_set(err, -EINVAL, "spec.schedule: Required value");
	if (!json_is_object(json_object_get(spec, "jobTemplate")))
		return errbuf_set(err, -EINVAL, "spec.jobTemplate: Required value");
	set_default(spec, "concurrencyPolicy", json_string("Allow"));
	set_default(spec, "suspend", json_false());
	set_default(spec, "successfulJobsHistoryLimit", json_integer(3));
	set_default(spec, "failedJobsHistoryLimit", json_integer(1));
	return 0;
}

/* Lease times: accepted as any RFC 3339 (Python 22.6 sends "+00:00" without a
 * fraction), stored as MicroTime with six digits as kube-apiserver writes them. */
static int admit_lease(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	static const char *const times[] = {"acquireTime", "renewTime"};
	json_t *spec;
	size_t i;

	if (!req->new_obj)
		return 0;
	spec = json_object_get(req->new_obj, "spec");
	if (!json_is_object(spec))
		return 0;
	for (i = 0; i < 2; i++) {
		json_t *v = json_object_get(spec, times[i]);
		int64_t us;
		char buf[TIMEFMT_MAX];

		if (!v || json_is_null(v))
			continue;
		if (!json_is_string(v) || time_parse_rfc3339(json_string_value(v), &us) < 0)
			return errbuf_set(err, -EBADMSG, "spec.%s: invalid time %s", times[i],
					  json_is_string(v) ? json_string_value(v) : "(not a string)");
		json_object_set_new(spec, times[i], json_string(time_format_micro(us, buf)));
	}
	{
		json_t *d = json_object_get(spec, "leaseDurationSeconds");

		if (d && !json_is_null(d) && (!json_is_integer(d) || json_integer_value(d) <= 0))
			return errbuf_set(err, -EINVAL, "spec.leaseDurationSeconds: Invalid value: must be greater than 0");
	}
	return 0;
}

static int admit_pvc(void *data, const struct kapi_admit_req *req, struct errbuf *err)
{
	json_t *o = req->new_obj, *spec;

	if (!o || req->subresource)
		return 0;
	spec = obj_child(o, "spec");
	if (!json_is_array(json_object_get(spec, "accessModes")) || !json_array_size(json_object_get(spec, "accessModes")))
		return errbuf_set(err, -EINVAL, "spec.accessModes: Required value: at least 1 access mode is required");
	set_default(spec, "volumeMode", json_string("Filesystem"));
	if (req->op == KAPI_OP_CREATE)
		set_default(obj_child(o, "status"), "phase", json_string("Pending"));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */

#define NS true
#define CLUSTER false

static const struct kapi_resource_def builtin_defs[] = {
	{.group = "", .version = "v1", .resource = "configmaps", .singular = "configmap", .kind = "ConfigMap",
	 .short_names = sn_cm, .namespaced = NS, .verbs = KAPI_VERBS_ALL},
	{.group = "", .version = "v1", .resource = "events", .singular = "event", .kind = "Event",
	 .short_names = sn_ev, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .allow_create_on_update = true},
	{.group = "", .version = "v1", .resource = "nodes", .singular = "node", .kind = "Node",
	 .short_names = sn_no, .namespaced = CLUSTER, .verbs = KAPI_VERBS_ALL, .has_status = true},
	{.group = "", .version = "v1", .resource = "persistentvolumeclaims", .singular = "persistentvolumeclaim",
	 .kind = "PersistentVolumeClaim", .short_names = sn_pvc, .namespaced = NS, .verbs = KAPI_VERBS_ALL,
	 .has_status = true, .admit = admit_pvc},
	{.group = "", .version = "v1", .resource = "pods", .singular = "pod", .kind = "Pod", .short_names = sn_po,
	 .categories = cat_all, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .has_status = true, .admit = admit_pod},
	{.group = "", .version = "v1", .resource = "secrets", .singular = "secret", .kind = "Secret",
	 .namespaced = NS, .verbs = KAPI_VERBS_ALL, .admit = admit_secret},
	{.group = "", .version = "v1", .resource = "serviceaccounts", .singular = "serviceaccount",
	 .kind = "ServiceAccount", .short_names = sn_sa, .namespaced = NS, .verbs = KAPI_VERBS_ALL},
	{.group = "", .version = "v1", .resource = "services", .singular = "service", .kind = "Service",
	 .short_names = sn_svc, .categories = cat_all, .namespaced = NS,
	 .verbs = KAPI_VERBS_ALL & ~KAPI_VERB_DELETECOLLECTION, .has_status = true, .admit = admit_service},
	{.group = "apps", .version = "v1", .resource = "daemonsets", .singular = "daemonset", .kind = "DaemonSet",
	 .short_names = sn_ds, .categories = cat_all, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .has_status = true,
	 .generation = KAPI_GEN_SPEC, .admit = admit_workload},
	{.group = "apps", .version = "v1", .resource = "deployments", .singular = "deployment", .kind = "Deployment",
	 .short_names = sn_deploy, .categories = cat_all, .namespaced = NS, .verbs = KAPI_VERBS_ALL,
	 .has_status = true, .has_scale = true, .generation = KAPI_GEN_SPEC_ANNOTATIONS, .admit = admit_workload},
	{.group = "apps", .version = "v1", .resource = "replicasets", .singular = "replicaset", .kind = "ReplicaSet",
	 .short_names = sn_rs, .categories = cat_all, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .has_status = true,
	 .has_scale = true, .generation = KAPI_GEN_SPEC, .admit = admit_workload},
	{.group = "apps", .version = "v1", .resource = "statefulsets", .singular = "statefulset",
	 .kind = "StatefulSet", .short_names = sn_sts, .categories = cat_all, .namespaced = NS,
	 .verbs = KAPI_VERBS_ALL, .has_status = true, .has_scale = true, .generation = KAPI_GEN_SPEC,
	 .admit = admit_workload},
	{.group = "batch", .version = "v1", .resource = "cronjobs", .singular = "cronjob", .kind = "CronJob",
	 .short_names = sn_cj, .categories = cat_all, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .has_status = true,
	 .generation = KAPI_GEN_SPEC, .admit = admit_cronjob},
	{.group = "batch", .version = "v1", .resource = "jobs", .singular = "job", .kind = "Job",
	 .categories = cat_all, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .has_status = true,
	 .generation = KAPI_GEN_SPEC, .admit = admit_job},
	{.group = "coordination.k8s.io", .version = "v1", .resource = "leases", .singular = "lease", .kind = "Lease",
	 .namespaced = NS, .verbs = KAPI_VERBS_ALL, .require_rv_on_update = true, .allow_create_on_update = true,
	 .admit = admit_lease},
	{.group = "events.k8s.io", .version = "v1", .resource = "events", .singular = "event", .kind = "Event",
	 .short_names = sn_ev, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .allow_create_on_update = true},
	{.group = "networking.k8s.io", .version = "v1", .resource = "ingresses", .singular = "ingress",
	 .kind = "Ingress", .short_names = sn_ing, .namespaced = NS, .verbs = KAPI_VERBS_ALL, .has_status = true,
	 .generation = KAPI_GEN_SPEC},
	{.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "clusterrolebindings",
	 .singular = "clusterrolebinding", .kind = "ClusterRoleBinding", .namespaced = CLUSTER,
	 .verbs = KAPI_VERBS_ALL,
	 .name_is_path_segment = true},
	{.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "clusterroles", .singular = "clusterrole",
	 .kind = "ClusterRole", .namespaced = CLUSTER, .verbs = KAPI_VERBS_ALL,
	 .name_is_path_segment = true},
	{.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "rolebindings", .singular = "rolebinding",
	 .kind = "RoleBinding", .namespaced = NS, .verbs = KAPI_VERBS_ALL,
	 .name_is_path_segment = true},
	{.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "roles", .singular = "role",
	 .kind = "Role", .namespaced = NS, .verbs = KAPI_VERBS_ALL,
	 .name_is_path_segment = true},
};

static const struct kapi_resource_def namespaces_def = {
	.group = "", .version = "v1", .resource = "namespaces", .singular = "namespace", .kind = "Namespace",
	.short_names = sn_ns, .namespaced = CLUSTER, .verbs = KAPI_VERBS_ALL & ~KAPI_VERB_DELETECOLLECTION,
	.has_status = true, .name_is_label = true, .admit = admit_namespace,
};

/* See kapi.h. */
int kapi_builtin_register_namespaces(struct kapi_server *s)
{
	int r = kapi_server_register(s, &namespaces_def, NULL);

	return r == -EEXIST ? 0 : r;
}

/* See kapi.h. */
int kapi_builtin_register(struct kapi_server *s)
{
	static const char *const initial[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
	size_t i;
	int r;

	r = kapi_builtin_register_namespaces(s);
	if (r < 0)
		return r;
	for (i = 0; i < sizeof(builtin_defs) / sizeof(builtin_defs[0]); i++) {
		r = kapi_server_register(s, &builtin_defs[i], NULL);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	for (i = 0; i < sizeof(initial) / sizeof(initial[0]); i++) {
		json_t *ns = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
				       "name", initial[i]);
		struct kapi_write_opts wo = {.field_manager = "kube-apiserver"};
		struct errbuf eb;

		r = kapi_create(s, "", "namespaces", NULL, ns, &wo, &eb, NULL);
		json_decref(ns);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return 0;
}
