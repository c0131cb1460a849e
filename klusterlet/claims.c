/* claims.c - probing the spoke for cluster claims and availability; see
 * claims.h. Three requests in parallel through kclient on the loop
 * (/version, the Node list, /livez then /healthz); the callback runs when
 * the last one is back.
 */
#include "claims.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "kclient_ops.h"
#include "log.h"
#include "proto.h"

struct claims_probe {
	struct kclient *kc;             /* borrowed */
	claims_done_fn cb;
	void *userdata;
	unsigned pending;               /* requests outstanding */
	struct kclient_call *version_call, *health_call;
	struct kclient_pager *nodes_pager;
	char *git_version;              /* owned or NULL */
	char *platform;                 /* owned or NULL */
	long nodes;                     /* -1: unknown */
	bool available;
	bool tried_healthz;
	char health_msg[256];
};

const char *claims_platform(const char *provider_id)
{
	static const struct {
		const char *scheme;
		const char *platform;
	} map[] = {
		{ "aws", "AWS" },         { "gce", "GCP" },           { "azure", "Azure" },
		{ "ibm", "IBM" },         { "openstack", "OpenStack" }, { "vsphere", "VSphere" },
		{ "alicloud", "AlibabaCloud" }, { "kind", "Kind" },
	};

	if (!provider_id)
		return "Other";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].scheme);

		if (strncmp(provider_id, map[i].scheme, n) == 0 && provider_id[n] == ':')
			return map[i].platform;
	}
	return "Other";
}

const char *claims_product(const char *git_version)
{
	static const struct {
		const char *mark;
		const char *product;
	} map[] = {
		{ "-eks", "EKS" }, { "-gke", "GKE" }, { "+k3s", "K3s" }, { "+rke2", "RKE2" },
		{ "-aks", "AKS" }, { "+vmware", "VMware" },
	};

	if (!git_version)
		return NULL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(git_version, map[i].mark))
			return map[i].product;
	return NULL;
}

static void probe_finish(struct claims_probe *p)
{
	json_t *claims, *conds;
	const char *product;
	char n[32];

	if (--p->pending)
		return;
	claims = json_array();
	conds = json_array();
	if (p->git_version)
		json_array_append_new(claims, proto_cluster_claim(CLAIM_KUBEVERSION, p->git_version));
	if (p->platform)
		json_array_append_new(claims, proto_cluster_claim(CLAIM_PLATFORM, p->platform));
	product = claims_product(p->git_version);
	if (product)
		json_array_append_new(claims, proto_cluster_claim(CLAIM_PRODUCT, product));
	if (p->nodes >= 0) {
		snprintf(n, sizeof(n), "%ld", p->nodes);
		json_array_append_new(claims, proto_cluster_claim(CLAIM_NODES, n));
	}
	json_array_append_new(conds,
			      p->available
				      ? proto_condition("ManagedClusterConditionAvailable", "True",
							"ManagedClusterAvailable",
							"the spoke's API server is healthy", -1, -1)
				      : proto_condition("ManagedClusterConditionAvailable", "False",
							"ManagedClusterKubeAPIServerUnavailable",
							p->health_msg, -1, -1));
	p->cb(p->userdata, claims, conds);
	json_decref(claims);
	json_decref(conds);
	free(p->git_version);
	free(p->platform);
	free(p);
}

static void on_version(void *ud, const struct kclient_result *res)
{
	struct claims_probe *p = ud;
	const char *v = json_string_value(json_object_get(res->body, "gitVersion"));

	p->version_call = NULL;
	if (res->r == 0 && v && strlen(v) <= PROTO_CLAIM_VALUE_MAX)
		p->git_version = xstrdup(v);
	else
		log_debug("claims: /version: %s", res->err ? res->err->message : "no gitVersion");
	probe_finish(p);
}

static void on_nodes(void *ud, const struct kclient_result *res)
{
	struct claims_probe *p = ud;
	json_t *items = json_object_get(res->body, "items");

	p->nodes_pager = NULL;
	if (res->r == 0 && json_is_array(items)) {
		json_t *first = json_array_get(items, 0);
		const char *pid = json_string_value(json_object_get(json_object_get(first, "spec"),
								     "providerID"));

		p->nodes = (long)json_array_size(items);
		p->platform = xstrdup(claims_platform(pid));
	} else {
		log_debug("claims: nodes: %s", res->err ? res->err->message : "no items");
	}
	probe_finish(p);
}

static int start_health(struct claims_probe *p, const char *path);

static void on_health(void *ud, const struct kclient_result *res)
{
	struct claims_probe *p = ud;

	p->health_call = NULL;
	if (res->r == 0) {
		p->available = true;
	} else if (!p->tried_healthz && res->err && res->err->reason == KCLIENT_NOT_FOUND) {
		/* OCM falls back to /healthz when /livez is not served. */
		p->tried_healthz = true;
		if (start_health(p, "/healthz") == 0)
			return;
	} else {
		snprintf(p->health_msg, sizeof(p->health_msg), "the spoke's API server: %.200s",
			 res->err ? res->err->message : "unhealthy");
	}
	probe_finish(p);
}

static int start_health(struct claims_probe *p, const char *path)
{
	return kclient_request(p->kc,
			       &(struct kclient_request){ .method = KCLIENT_GET, .path = path,
							  .flags = KCLIENT_REQ_RAW, .max_retries = -1,
							  .timeout_ms = 10000 },
			       NULL, on_health, p, &p->health_call);
}

int claims_collect(struct kclient *kc, claims_done_fn cb, void *userdata,
		   struct claims_probe **ret_probe)
{
	struct kref nodes = { .version = "v1", .resource = "nodes" };
	struct claims_probe *p = xnew(struct claims_probe);
	int r;

	p->kc = kc;
	p->cb = cb;
	p->userdata = userdata;
	p->nodes = -1;
	snprintf(p->health_msg, sizeof(p->health_msg), "the spoke's API server did not answer");
	/* Callbacks never run inside kclient calls, so counting as the
	 * requests start is safe. */
	r = kclient_request(kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/version" },
			    NULL, on_version, p, &p->version_call);
	if (r == 0) {
		p->pending++;
		r = kclient_list_all(kc, &nodes, &(struct kclient_list_opts){ .limit = CLAIMS_NODE_PAGE },
				     on_nodes, p, &p->nodes_pager);
	}
	if (r == 0) {
		p->pending++;
		r = start_health(p, "/livez");
	}
	if (r < 0) {
		claims_cancel(p);
		return r;
	}
	p->pending++;
	if (ret_probe)
		*ret_probe = p;
	return 0;
}

void claims_cancel(struct claims_probe *p)
{
	if (!p)
		return;
	kclient_cancel(p->version_call);
	kclient_pager_cancel(p->nodes_pager);
	kclient_cancel(p->health_call);
	free(p->git_version);
	free(p->platform);
	free(p);
}
