/* controllers.c - the simulated controllers' machinery; see controllers.h.
 *
 * One struct sim_controllers per cluster, on the cluster's libuv loop. It
 * subscribes to every committed change of the kapi server and turns each into
 * work keys (see controllers_int.h): a Pod change queues its kubelet key and
 * its controller's key, a ReplicaSet change queues its Deployment, and so on.
 * Keys are deduplicated and drained on a zero-delay timer, SIM_DRAIN_BUDGET
 * per loop turn, so a burst of writes never starves the HTTP side. Time-based
 * work (a replica becoming ready after ready_delay_ms, a progress deadline, a
 * retry) is a delayed key: one timer armed for the earliest due time.
 *
 * This file also owns the simulated Nodes (created at start, Ready), namespace
 * termination (delete the contents of a Terminating namespace, then drop its
 * "kubernetes" finalizer so the server removes it), Events, and small helpers
 * the reconcilers share. All state lives in memory and dies with the process,
 * like the server's.
 *
 * Lifetime: sim_controllers_free() unsubscribes at once and closes the two
 * timers; the struct itself is freed by the last close callback, so the loop
 * must run once more after the call (the server needs that too).
 */
#include "controllers_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

#define NODES_MAX 1000
#define RETRY_MAX_MS 5000

const struct kapi_write_opts sim_kcm_opts = { .field_manager = SIM_MANAGER_KCM };
const struct kapi_write_opts sim_kubelet_opts = { .field_manager = SIM_MANAGER_KUBELET };

/* Namespaced built-in resources whose objects a terminating namespace must
 * lose (custom resources are found through their CRDs). */
static const char *const ns_resources[][2] = {
	{ "", "configmaps" },
	{ "", "endpoints" },
	{ "", "events" },
	{ "", "persistentvolumeclaims" },
	{ "", "pods" },
	{ "", "secrets" },
	{ "", "serviceaccounts" },
	{ "", "services" },
	{ "apps", "daemonsets" },
	{ "apps", "deployments" },
	{ "apps", "replicasets" },
	{ "apps", "statefulsets" },
	{ "batch", "cronjobs" },
	{ "batch", "jobs" },
	{ "coordination.k8s.io", "leases" },
	{ "events.k8s.io", "events" },
	{ "networking.k8s.io", "ingresses" },
	{ "rbac.authorization.k8s.io", "rolebindings" },
	{ "rbac.authorization.k8s.io", "roles" },
};

/* --- small helpers ------------------------------------------------------------ */

uint64_t sim_now_ms(void)
{
	return (uint64_t)(time_mono_us() / 1000);
}

char *sim_now_rfc3339(char *out)
{
	return time_format_rfc3339(time_now_us(), out);
}

json_t *sim_state(struct sim_controllers *ctl, const char *uid)
{
	json_t *st = json_object_get(ctl->state, uid);

	if (!st) {
		st = json_object();
		json_object_set_new(ctl->state, uid, st);
	}
	return st;
}

void sim_state_drop(struct sim_controllers *ctl, const char *uid)
{
	json_object_del(ctl->state, uid);
}

static uint64_t rng_next(struct sim_controllers *ctl)
{
	uint64_t x = ctl->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	ctl->rng = x;
	return x;
}

/* The alphabet Kubernetes uses for generated names and hashes (no vowels). */
static const char safe_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

void sim_rand_suffix(struct sim_controllers *ctl, char *out)
{
	uint64_t x = rng_next(ctl);

	for (int i = 0; i < 5; i++) {
		out[i] = safe_alphabet[x % 27];
		x /= 27;
	}
	out[5] = '\0';
}

/* Drop null members recursively: to a typed API server an explicit null and
 * an absent field are the same (kubectl sends "creationTimestamp": null). */
static void strip_nulls(json_t *v)
{
	const char *k;
	json_t *m;
	void *tmp;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, k, m) {
			if (json_is_null(m))
				json_object_del(v, k);
			else
				strip_nulls(m);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			strip_nulls(m);
	}
}

void sim_template_hash(const json_t *tmpl, char *out)
{
	json_t *canon = json_deep_copy(tmpl);
	char *dump;

	strip_nulls(canon);
	dump = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(canon);
	uint32_t h = 2166136261u;
	char dec[16];
	size_t i;

	for (const char *p = dump ? dump : ""; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	free(dump);
	snprintf(dec, sizeof(dec), "%" PRIu32, h);
	for (i = 0; dec[i]; i++)
		out[i] = safe_alphabet[(unsigned char)dec[i] % 27];
	out[i] = '\0';
}

struct sched_list {
	json_t *names; /* schedulable node names */
	size_t total;
};

static int collect_schedulable(void *data, const json_t *node)
{
	struct sched_list *l = data;
	json_t *conds = json_object_get(json_object_get(node, "status"), "conditions");
	bool ready = false;
	size_t i;
	json_t *c;

	l->total++;
	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		const char *st = json_string_value(json_object_get(c, "status"));

		if (t && st && !strcmp(t, "Ready"))
			ready = !strcmp(st, "True");
	}
	if (ready && !json_is_true(json_object_get(json_object_get(node, "spec"), "unschedulable")) &&
	    !json_object_get(json_object_get(node, "metadata"), "deletionTimestamp") && kobj_name(node))
		json_array_append_new(l->names, json_string(kobj_name(node)));
	return 0;
}

const char *sim_pick_node(struct sim_controllers *ctl)
{
	struct sched_list l = { .names = json_array() };
	size_t n;

	kapi_foreach(ctl->srv, "", "nodes", NULL, collect_schedulable, &l);
	n = json_array_size(l.names);
	ctl->last_nodes_total = l.total;
	if (n == 0) {
		json_decref(l.names);
		return NULL;
	}
	snprintf(ctl->picked, sizeof(ctl->picked), "%s",
		 json_string_value(json_array_get(l.names, ctl->next_node++ % n)));
	json_decref(l.names);
	return ctl->picked;
}

unsigned sim_node_index(const struct sim_controllers *ctl, const char *node)
{
	for (unsigned i = 0; node && i < ctl->nnodes; i++) {
		if (!strcmp(ctl->node_names[i], node))
			return i;
	}
	return 0;
}

bool sim_image_fails(const struct sim_controllers *ctl, const char *image)
{
	const char *slash, *colon, *at;
	char tag[256];
	size_t n;

	if (!image || !ctl->fail_pattern[0])
		return false;
	at = strchr(image, '@');
	n = at ? (size_t)(at - image) : strlen(image);
	slash = memrchr(image, '/', n);
	colon = memrchr(slash ? slash : image, ':', n - (size_t)((slash ? slash : image) - image));
	if (!colon) {
		snprintf(tag, sizeof(tag), "latest");
	} else {
		size_t tl = n - (size_t)(colon + 1 - image);

		if (tl >= sizeof(tag))
			tl = sizeof(tag) - 1;
		memcpy(tag, colon + 1, tl);
		tag[tl] = '\0';
	}
	return !strncmp(tag, ctl->fail_pattern, strlen(ctl->fail_pattern));
}

bool sim_spec_fails(const struct sim_controllers *ctl, const json_t *pod_spec)
{
	static const char *const lists[] = { "initContainers", "containers" };

	for (size_t l = 0; l < 2; l++) {
		size_t i;
		json_t *c;

		json_array_foreach(json_object_get(pod_spec, lists[l]), i, c) {
			if (sim_image_fails(ctl, json_string_value(json_object_get(c, "image"))))
				return true;
		}
	}
	return false;
}

json_t *sim_controller_ref(const json_t *obj)
{
	json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
	size_t i;
	json_t *r;

	json_array_foreach(refs, i, r) {
		if (json_is_true(json_object_get(r, "controller")))
			return r;
	}
	return NULL;
}

bool sim_controlled_by(const json_t *obj, const char *uid)
{
	json_t *r = sim_controller_ref(obj);
	const char *u = json_string_value(json_object_get(r, "uid"));

	return u && uid && !strcmp(u, uid);
}

static const char *event_component(const char *kind, const char *reason)
{
	if (!strcmp(kind, "Deployment"))
		return "deployment-controller";
	if (!strcmp(kind, "ReplicaSet"))
		return "replicaset-controller";
	if (!strcmp(kind, "StatefulSet"))
		return "statefulset-controller";
	if (!strcmp(kind, "DaemonSet"))
		return "daemonset-controller";
	if (!strcmp(kind, "Job"))
		return "job-controller";
	if (!strcmp(kind, "Pod") && !strcmp(reason, "Scheduled"))
		return "default-scheduler";
	return "kubelet";
}

void sim_event(struct sim_controllers *ctl, const json_t *obj, const char *type, const char *reason,
	       const char *fmt, ...)
{
	const char *kind = kobj_kind(obj), *name = kobj_name(obj), *ns = kobj_namespace(obj);
	char now[TIMEFMT_MAX], ename[300], *msg;
	json_t *ev;
	va_list ap;

	if (!kind || !name || ctl->closing)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	snprintf(ename, sizeof(ename), "%.200s.%016" PRIx64, name, rng_next(ctl));
	sim_now_rfc3339(now);
	ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:{s:s}, s:s, s:s, s:i,"
		       " s:s, s:s, s:s}",
		       "apiVersion", "v1", "kind", "Event",
		       "metadata", "name", ename, "namespace", ns ? ns : "default",
		       "involvedObject", "apiVersion", kobj_api_version(obj) ? kobj_api_version(obj) : "v1", "kind", kind,
		       "name", name, "namespace", ns ? ns : "", "uid", kobj_uid(obj) ? kobj_uid(obj) : "",
		       "resourceVersion", kobj_resource_version(obj) ? kobj_resource_version(obj) : "",
		       "reason", reason, "message", msg, "source", "component", event_component(kind, reason),
		       "firstTimestamp", now, "lastTimestamp", now, "count", 1, "type", type,
		       "reportingComponent", event_component(kind, reason), "reportingInstance", "");
	if (ev)
		kapi_create(ctl->srv, "", "events", ns ? ns : "default", ev, &sim_kcm_opts, NULL, NULL);
	json_decref(ev);
	free(msg);
}

int sim_write_status(struct sim_controllers *ctl, const char *group, const char *resource, const json_t *obj,
		     json_t *new_status)
{
	json_t *copy;
	struct errbuf err;
	int r;

	if (json_equal(json_object_get(obj, "status"), new_status))
		return 0;
	copy = json_copy((json_t *)obj);
	json_object_set(copy, "status", new_status);
	errbuf_clear(&err);
	r = kapi_update_status(ctl->srv, group, resource, copy, &sim_kcm_opts, &err, NULL);
	json_decref(copy);
	if (r < 0 && r != -EBUSY && r != -ENOENT)
		log_debug("kubesim: %s/%s %s status: %s", resource, kobj_name(obj), strerror(-r), err.msg);
	return r < 0 ? r : 0;
}

/* --- the queue ------------------------------------------------------------------ */

static void on_work(uv_timer_t *t);
static void on_delay(uv_timer_t *t);

static void arm_work(struct sim_controllers *ctl)
{
	if (!ctl->closing && !ctl->draining && !uv_is_active((uv_handle_t *)&ctl->work_timer))
		uv_timer_start(&ctl->work_timer, on_work, 0, 0);
}

void sim_enqueue(struct sim_controllers *ctl, const char *key)
{
	if (ctl->closing || json_object_get(ctl->queued, key))
		return;
	json_object_set_new(ctl->queued, key, json_true());
	json_array_append_new(ctl->queue, json_string(key));
	arm_work(ctl);
}

void sim_enqueuef(struct sim_controllers *ctl, const char *fmt, ...)
{
	va_list ap;
	char *key;

	va_start(ap, fmt);
	key = xvasprintf(fmt, ap);
	va_end(ap);
	sim_enqueue(ctl, key);
	free(key);
}

static void arm_delay(struct sim_controllers *ctl)
{
	uint64_t earliest = UINT64_MAX, now = sim_now_ms();
	const char *k;
	json_t *v;

	if (ctl->closing)
		return;
	json_object_foreach(ctl->delayed, k, v) {
		if ((uint64_t)json_integer_value(v) < earliest)
			earliest = (uint64_t)json_integer_value(v);
	}
	if (earliest == UINT64_MAX) {
		uv_timer_stop(&ctl->delay_timer);
		return;
	}
	uv_timer_start(&ctl->delay_timer, on_delay, earliest > now ? earliest - now : 0, 0);
}

void sim_enqueue_after(struct sim_controllers *ctl, const char *key, uint64_t ms)
{
	uint64_t due = sim_now_ms() + ms;
	json_t *cur;

	if (ctl->closing)
		return;
	cur = json_object_get(ctl->delayed, key);
	if (cur && (uint64_t)json_integer_value(cur) <= due)
		return;
	json_object_set_new(ctl->delayed, key, json_integer((json_int_t)due));
	arm_delay(ctl);
}

static void on_delay(uv_timer_t *t)
{
	struct sim_controllers *ctl = t->data;
	uint64_t now = sim_now_ms();
	json_t *due = json_array();
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(ctl->delayed, k, v) {
		if ((uint64_t)json_integer_value(v) <= now)
			json_array_append_new(due, json_string(k));
	}
	json_array_foreach(due, i, v) {
		json_object_del(ctl->delayed, json_string_value(v));
		sim_enqueue(ctl, json_string_value(v));
	}
	json_decref(due);
	arm_delay(ctl);
}

/* --- nodes ------------------------------------------------------------------------ */

static int create_nodes(struct sim_controllers *ctl)
{
	char now[TIMEFMT_MAX];
	int r = 0;

	sim_now_rfc3339(now);
	for (unsigned i = 0; i < ctl->nnodes; i++) {
		const char *name = ctl->node_names[i];
		char cidr[32], ip[32];
		json_t *node, *conds = json_array();
		struct errbuf err;
		static const char *const pressure[][3] = {
			{ "MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available" },
			{ "DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure" },
			{ "PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available" },
		};

		snprintf(cidr, sizeof(cidr), "10.244.%u.0/24", i);
		snprintf(ip, sizeof(ip), "172.18.%u.%u", i / 250, i % 250 + 2);
		for (size_t c = 0; c < 3; c++)
			json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", pressure[c][0],
							       "status", "False", "lastHeartbeatTime", now,
							       "lastTransitionTime", now, "reason", pressure[c][1],
							       "message", pressure[c][2]));
		json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "Ready", "status",
						       "True", "lastHeartbeatTime", now, "lastTransitionTime", now,
						       "reason", "KubeletReady", "message",
						       "kubelet is posting ready status"));
		node = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s, s:s, s:s}}, s:{s:s, s:[s]},"
				 " s:{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:o,"
				 " s:[{s:s, s:s}, {s:s, s:s}], s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s},"
				 " s:{s:{s:i}}}}",
				 "apiVersion", "v1", "kind", "Node",
				 "metadata", "name", name, "labels", "kubernetes.io/hostname", name, "kubernetes.io/os",
				 "linux", "kubernetes.io/arch", "amd64", "beta.kubernetes.io/os", "linux",
				 "beta.kubernetes.io/arch", "amd64",
				 "spec", "podCIDR", cidr, "podCIDRs", cidr,
				 "status",
				 "capacity", "cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "100Gi",
				 "allocatable", "cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "100Gi",
				 "conditions", conds,
				 "addresses", "type", "InternalIP", "address", ip, "type", "Hostname", "address", name,
				 "nodeInfo", "machineID", "nave-kubesim", "systemUUID", "nave-kubesim", "bootID",
				 "nave-kubesim", "kernelVersion", "6.1.0", "osImage", "nave-kubesim",
				 "containerRuntimeVersion", "kubesim://1.0", "kubeletVersion", "v1.30.0",
				 "kubeProxyVersion", "v1.30.0", "operatingSystem", "linux", "architecture", "amd64",
				 "daemonEndpoints", "kubeletEndpoint", "Port", 10250);
		if (!node)
			return -ENOMEM;
		errbuf_clear(&err);
		r = kapi_create(ctl->srv, "", "nodes", NULL, node, &sim_kubelet_opts, &err, NULL);
		json_decref(node);
		if (r < 0 && r != -EEXIST) {
			log_error("kubesim: creating node %s: %s", name, err.msg);
			return r;
		}
		r = 0;
	}
	return r;
}

/* --- namespace termination ----------------------------------------------------- */

struct name_list {
	json_t *names; /* array of names */
	size_t total;  /* objects seen, deleting or not */
};

static int collect_live_names(void *data, const json_t *obj)
{
	struct name_list *l = data;

	l->total++;
	if (!json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") && kobj_name(obj))
		json_array_append_new(l->names, json_string(kobj_name(obj)));
	return 0;
}

/* Delete every object of one resource in ns; returns how many still exist. */
static size_t empty_resource(struct sim_controllers *ctl, const char *group, const char *resource, const char *ns)
{
	const struct kapi_resource_def *def = kapi_server_find(ctl->srv, group, resource);
	struct name_list l = { .names = json_array() };
	size_t i;
	json_t *v;

	if (!def || !def->namespaced) {
		json_decref(l.names);
		return 0;
	}
	kapi_foreach(ctl->srv, group, resource, ns, collect_live_names, &l);
	json_array_foreach(l.names, i, v) {
		struct kapi_delete_opts o = { .propagation = KAPI_PROPAGATE_BACKGROUND };

		kapi_delete(ctl->srv, group, resource, ns, json_string_value(v), &o, NULL, NULL);
	}
	json_decref(l.names);
	return l.total;
}

struct crd_list {
	json_t *pairs; /* array of [group, plural] of namespaced CRDs */
};

static int collect_crd(void *data, const json_t *crd)
{
	struct crd_list *l = data;
	json_t *spec = json_object_get(crd, "spec");
	const char *group = json_string_value(json_object_get(spec, "group"));
	const char *plural = json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));
	const char *scope = json_string_value(json_object_get(spec, "scope"));

	if (group && plural && scope && !strcmp(scope, "Namespaced"))
		json_array_append_new(l->pairs, json_pack("[s, s]", group, plural));
	return 0;
}

static int reconcile_namespace(struct sim_controllers *ctl, const char *name)
{
	struct crd_list crds = { .pairs = json_array() };
	json_t *nsobj = NULL, *spec, *fin, *nfin;
	size_t remaining = 0, i;
	struct errbuf err;
	json_t *v;
	int r;

	r = kapi_get(ctl->srv, "", "namespaces", NULL, name, NULL, &nsobj);
	if (r < 0) {
		json_object_del(ctl->terminating, name);
		r = r == -ENOENT ? 0 : r;
		goto out;
	}
	if (!json_object_get(json_object_get(nsobj, "metadata"), "deletionTimestamp"))
		goto out;
	json_object_set_new(ctl->terminating, name, json_true());
	for (i = 0; i < sizeof(ns_resources) / sizeof(ns_resources[0]); i++)
		remaining += empty_resource(ctl, ns_resources[i][0], ns_resources[i][1], name);
	kapi_foreach(ctl->srv, "apiextensions.k8s.io", "customresourcedefinitions", NULL, collect_crd, &crds);
	json_array_foreach(crds.pairs, i, v)
		remaining += empty_resource(ctl, json_string_value(json_array_get(v, 0)),
					    json_string_value(json_array_get(v, 1)), name);
	if (remaining > 0) {
		/* Deletions queue this key again; the delay is a safety net for finalizers. */
		char key[300];

		snprintf(key, sizeof(key), "ns||%s", name);
		sim_enqueue_after(ctl, key, 500);
		goto out;
	}
	/* Empty: drop the "kubernetes" finalizer; the server removes the namespace. */
	spec = json_object_get(nsobj, "spec");
	fin = json_object_get(spec, "finalizers");
	if (!json_is_array(fin) || json_array_size(fin) == 0)
		goto out;
	nfin = json_array();
	json_array_foreach(fin, i, v) {
		if (!json_is_string(v) || strcmp(json_string_value(v), "kubernetes"))
			json_array_append(nfin, v);
	}
	json_object_set_new(spec, "finalizers", nfin);
	errbuf_clear(&err);
	r = kapi_update(ctl->srv, "", "namespaces", nsobj, &sim_kcm_opts, &err, NULL);
	if (r > 0)
		r = 0;
out:
	json_decref(crds.pairs);
	json_decref(nsobj);
	return r;
}

/* --- service accounts ------------------------------------------------------------- */

/* Every live namespace has a "default" ServiceAccount, as the
 * serviceaccounts controller of a real cluster makes sure. */
static int reconcile_default_sa(struct sim_controllers *ctl, const char *ns)
{
	json_t *nsobj = NULL, *sa;
	int r;

	r = kapi_get(ctl->srv, "", "namespaces", NULL, ns, NULL, &nsobj);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (json_object_get(json_object_get(nsobj, "metadata"), "deletionTimestamp")) {
		json_decref(nsobj);
		return 0;
	}
	json_decref(nsobj);
	sa = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ServiceAccount", "metadata", "name",
		       "default", "namespace", ns);
	r = kapi_create(ctl->srv, "", "serviceaccounts", ns, sa, &sim_kcm_opts, NULL, NULL);
	json_decref(sa);
	return r == -EEXIST || r == -EPERM || r == -ENOENT ? 0 : r;
}

/* --- daemonsets on node changes ------------------------------------------------ */

struct pair_list {
	json_t *pairs; /* array of [ns, name] */
};

static int collect_pair(void *data, const json_t *obj)
{
	struct pair_list *l = data;
	const char *ns = kobj_namespace(obj), *name = kobj_name(obj);

	if (name)
		json_array_append_new(l->pairs, json_pack("[s, s]", ns ? ns : "", name));
	return 0;
}

static void enqueue_all_daemonsets(struct sim_controllers *ctl)
{
	struct pair_list l = { .pairs = json_array() };
	size_t i;
	json_t *v;

	kapi_foreach(ctl->srv, "apps", "daemonsets", NULL, collect_pair, &l);
	json_array_foreach(l.pairs, i, v)
		sim_enqueuef(ctl, "ds|%s|%s", json_string_value(json_array_get(v, 0)),
			     json_string_value(json_array_get(v, 1)));
	json_decref(l.pairs);
}

/* --- dispatch ------------------------------------------------------------------------ */

/* Split key at '|' into at most n parts (pointers into buf). Returns the count. */
static int split_key(char *buf, char **parts, int n)
{
	int i = 0;
	char *p = buf;

	while (i < n) {
		char *bar = strchr(p, '|');

		parts[i++] = p;
		if (!bar)
			break;
		*bar = '\0';
		p = bar + 1;
	}
	return i;
}

static int dispatch(struct sim_controllers *ctl, const char *key)
{
	char buf[1200], *p[5];
	int n;

	if (strlen(key) >= sizeof(buf))
		return 0;
	memcpy(buf, key, strlen(key) + 1);
	n = split_key(buf, p, 5);
	if (n == 5 && !strcmp(p[0], "gco"))
		return sim_gc_owner(ctl, p[1], p[2], p[3], p[4]);
	if (n == 5 && !strcmp(p[0], "gcd"))
		return sim_gc_dependent(ctl, p[1], p[2], p[3], p[4]);
	if (n != 3)
		return 0;
	if (!strcmp(p[0], "deploy"))
		return sim_reconcile_deployment(ctl, p[1], p[2]);
	if (!strcmp(p[0], "rs"))
		return sim_reconcile_replicaset(ctl, p[1], p[2]);
	if (!strcmp(p[0], "sts"))
		return sim_reconcile_statefulset(ctl, p[1], p[2]);
	if (!strcmp(p[0], "ds"))
		return sim_reconcile_daemonset(ctl, p[1], p[2]);
	if (!strcmp(p[0], "job"))
		return sim_reconcile_job(ctl, p[1], p[2]);
	if (!strcmp(p[0], "pod"))
		return sim_reconcile_pod(ctl, p[1], p[2]);
	if (!strcmp(p[0], "ns"))
		return reconcile_namespace(ctl, p[2]);
	if (!strcmp(p[0], "sa"))
		return reconcile_default_sa(ctl, p[2]);
	if (!strcmp(p[0], "dsall")) {
		enqueue_all_daemonsets(ctl);
		return 0;
	}
	return 0;
}

static void on_work(uv_timer_t *t)
{
	struct sim_controllers *ctl = t->data;
	size_t head = 0, done = 0;

	ctl->draining = true;
	while (!ctl->closing && head < json_array_size(ctl->queue) && done < SIM_DRAIN_BUDGET) {
		char *key = xstrdup(json_string_value(json_array_get(ctl->queue, head++)));
		int r;

		json_object_del(ctl->queued, key);
		r = dispatch(ctl, key);
		if (r < 0 && r != -ENOENT) {
			/* Back off per key: 50 ms, doubling, at most 5 s. The retry
			 * count lives in state under the key (uids never hold '|'). */
			json_t *cnt = json_object_get(ctl->state, key);
			json_int_t n = json_is_integer(cnt) ? json_integer_value(cnt) : 0;
			uint64_t ms = (uint64_t)SIM_RETRY_MS << (n < 7 ? n : 7);

			json_object_set_new(ctl->state, key, json_integer(n + 1));
			sim_enqueue_after(ctl, key, ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS);
		} else if (json_object_get(ctl->state, key)) {
			json_object_del(ctl->state, key);
		}
		free(key);
		done++;
	}
	ctl->draining = false;
	if (head >= json_array_size(ctl->queue)) {
		json_array_clear(ctl->queue);
	} else {
		/* Budget spent: keep the rest and come back after the loop polls I/O. */
		json_t *rest = json_array();

		for (size_t i = head; i < json_array_size(ctl->queue); i++)
			json_array_append(rest, json_array_get(ctl->queue, i));
		json_decref(ctl->queue);
		ctl->queue = rest;
	}
	if (json_array_size(ctl->queue))
		arm_work(ctl);
}

/* --- subscription ------------------------------------------------------------------ */

static void enqueue_controller_of(struct sim_controllers *ctl, const json_t *obj, const char *ns)
{
	json_t *ref = sim_controller_ref(obj);
	const char *kind = json_string_value(json_object_get(ref, "kind"));
	const char *name = json_string_value(json_object_get(ref, "name"));
	const char *tag = NULL;

	if (!kind || !name)
		return;
	if (!strcmp(kind, "ReplicaSet"))
		tag = "rs";
	else if (!strcmp(kind, "Deployment"))
		tag = "deploy";
	else if (!strcmp(kind, "StatefulSet"))
		tag = "sts";
	else if (!strcmp(kind, "DaemonSet"))
		tag = "ds";
	else if (!strcmp(kind, "Job"))
		tag = "job";
	if (tag)
		sim_enqueuef(ctl, "%s|%s|%s", tag, ns, name);
}

static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	struct sim_controllers *ctl = data;
	const json_t *obj = new_obj ? new_obj : old_obj;
	const char *ns = kobj_namespace(obj), *name = kobj_name(obj), *uid = kobj_uid(obj);
	const char *g = def->group, *res = def->resource;

	if (ctl->closing || !name)
		return;
	if (!ns)
		ns = "";
	if (uid) {
		if (type == KAPI_EVENT_DELETED) {
			json_object_del(ctl->live, uid);
			sim_state_drop(ctl, uid);
		} else if (!json_object_get(ctl->live, uid)) {
			json_object_set_new(ctl->live, uid, json_sprintf("%s|%s|%s|%s", g, res, ns, name));
		}
	}

	if (!strcmp(g, "apps")) {
		if (!strcmp(res, "deployments"))
			sim_enqueuef(ctl, "deploy|%s|%s", ns, name);
		else if (!strcmp(res, "replicasets"))
			sim_enqueuef(ctl, "rs|%s|%s", ns, name);
		else if (!strcmp(res, "statefulsets"))
			sim_enqueuef(ctl, "sts|%s|%s", ns, name);
		else if (!strcmp(res, "daemonsets"))
			sim_enqueuef(ctl, "ds|%s|%s", ns, name);
		if (!strcmp(res, "replicasets"))
			enqueue_controller_of(ctl, obj, ns);
	} else if (!strcmp(g, "batch") && !strcmp(res, "jobs")) {
		sim_enqueuef(ctl, "job|%s|%s", ns, name);
	} else if (!g[0] && !strcmp(res, "pods")) {
		if (type != KAPI_EVENT_DELETED)
			sim_enqueuef(ctl, "pod|%s|%s", ns, name);
		enqueue_controller_of(ctl, obj, ns);
	} else if (!g[0] && !strcmp(res, "nodes")) {
		sim_enqueue(ctl, "dsall||");
	} else if (!g[0] && !strcmp(res, "namespaces")) {
		if (type == KAPI_EVENT_DELETED)
			json_object_del(ctl->terminating, name);
		else if (json_object_get(json_object_get(new_obj, "metadata"), "deletionTimestamp"))
			sim_enqueuef(ctl, "ns||%s", name);
		else if (type == KAPI_EVENT_ADDED)
			sim_enqueuef(ctl, "sa||%s", name);
	} else if (!g[0] && !strcmp(res, "serviceaccounts") && type == KAPI_EVENT_DELETED && !strcmp(name, "default")) {
		sim_enqueuef(ctl, "sa||%s", ns);
	}
	if (type == KAPI_EVENT_DELETED && ns[0] && json_object_get(ctl->terminating, ns))
		sim_enqueuef(ctl, "ns||%s", ns);
	sim_gc_observe(ctl, type, def, old_obj, new_obj);
}

/* --- lifetime ---------------------------------------------------------------------- */

int sim_controllers_new(uv_loop_t *loop, struct kapi_server *server, const struct sim_controllers_config *cfg,
			struct sim_controllers **ret_ctl)
{
	struct sim_controllers *ctl;
	int r;

	if (!loop || !server || !cfg || !ret_ctl)
		return -EINVAL;
	if (cfg->nodes > NODES_MAX)
		return -E2BIG;
	ctl = xnew(struct sim_controllers);
	ctl->loop = loop;
	ctl->srv = server;
	ctl->ready_delay_ms = cfg->ready_delay_ms;
	ctl->fail_pattern = xstrdup(cfg->fail_pattern ? cfg->fail_pattern : "fail");
	ctl->cluster_name = xstrdup(cfg->cluster_name ? cfg->cluster_name : "");
	ctl->nnodes = cfg->nodes ? cfg->nodes : 1;
	ctl->node_names = xcalloc(ctl->nnodes, sizeof(char *));
	for (unsigned i = 0; i < ctl->nnodes; i++)
		ctl->node_names[i] = ctl->cluster_name[0] ? xasprintf("%s-node-%u", ctl->cluster_name, i + 1)
							  : xasprintf("node-%u", i + 1);
	ctl->queue = json_array();
	ctl->queued = json_object();
	ctl->delayed = json_object();
	ctl->state = json_object();
	ctl->owners = json_object();
	ctl->live = json_object();
	ctl->terminating = json_object();
	ctl->gc_waiting = json_object();
	ctl->rng = (uint64_t)time_now_us() ^ ((uint64_t)(uintptr_t)ctl << 17) ^ 0x9e3779b97f4a7c15ull;
	if (!ctl->rng)
		ctl->rng = 1;
	uv_timer_init(loop, &ctl->work_timer);
	uv_timer_init(loop, &ctl->delay_timer);
	ctl->work_timer.data = ctl;
	ctl->delay_timer.data = ctl;
	ctl->open_handles = 2;

	r = kapi_server_subscribe(server, on_change, ctl, &ctl->sub);
	if (r < 0)
		goto fail;
	r = create_nodes(ctl);
	if (r < 0)
		goto fail;
	/* Namespaces that exist already (default, kube-system, ...) get their
	 * default ServiceAccount too. */
	{
		struct pair_list l = { .pairs = json_array() };
		size_t i;
		json_t *v;

		kapi_foreach(server, "", "namespaces", NULL, collect_pair, &l);
		json_array_foreach(l.pairs, i, v)
			sim_enqueuef(ctl, "sa||%s", json_string_value(json_array_get(v, 1)));
		json_decref(l.pairs);
	}
	*ret_ctl = ctl;
	return 0;
fail:
	sim_controllers_free(ctl);
	return r;
}

static void free_now(struct sim_controllers *ctl)
{
	for (unsigned i = 0; i < ctl->nnodes; i++)
		free(ctl->node_names[i]);
	free(ctl->node_names);
	free(ctl->fail_pattern);
	free(ctl->cluster_name);
	json_decref(ctl->queue);
	json_decref(ctl->queued);
	json_decref(ctl->delayed);
	json_decref(ctl->state);
	json_decref(ctl->owners);
	json_decref(ctl->live);
	json_decref(ctl->terminating);
	json_decref(ctl->gc_waiting);
	free(ctl);
}

static void on_closed(uv_handle_t *h)
{
	struct sim_controllers *ctl = h->data;

	if (--ctl->open_handles == 0)
		free_now(ctl);
}

struct sim_controllers *sim_controllers_free(struct sim_controllers *ctl)
{
	if (!ctl || ctl->closing)
		return NULL;
	ctl->closing = true;
	kapi_server_unsubscribe(ctl->srv, ctl->sub);
	ctl->sub = NULL;
	uv_close((uv_handle_t *)&ctl->work_timer, on_closed);
	uv_close((uv_handle_t *)&ctl->delay_timer, on_closed);
	return NULL;
}
