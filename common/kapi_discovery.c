/* kapi_discovery.c - the documents clients read before anything else.
 *
 * /api (APIVersions), /apis (APIGroupList), /apis/<group> (APIGroup),
 * /api/v1 and /apis/<group>/<version> (APIResourceList, with every field the
 * Python client insists on: singularName is always sent, even ""), /version,
 * /openapi/v2 (200, empty application/octet-stream: kubectl's validation
 * decodes it as an empty document and skips), /openapi/v3 (404, so kubectl
 * falls back to v2) and the health endpoints. Built from the registry on each
 * request: CRDs appear and disappear at once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "kapi_int.h"

struct vkey {
	int rank;  /* 3 GA, 2 beta, 1 alpha, 0 not Kubernetes-like */
	long major, minor;
};

static struct vkey version_key(const char *v)
{
	struct vkey k = {0, 0, 0};
	char *end;

	if (v[0] != 'v' || !isdigit((unsigned char)v[1]))
		return k;
	k.major = strtol(v + 1, &end, 10);
	if (*end == '\0') {
		k.rank = 3;
		return k;
	}
	if (!strncmp(end, "beta", 4) && isdigit((unsigned char)end[4])) {
		k.rank = 2;
		k.minor = strtol(end + 4, &end, 10);
	} else if (!strncmp(end, "alpha", 5) && isdigit((unsigned char)end[5])) {
		k.rank = 1;
		k.minor = strtol(end + 5, &end, 10);
	} else {
		return (struct vkey){0, 0, 0};
	}
	if (*end != '\0')
		return (struct vkey){0, 0, 0};
	return k;
}

/* See kapi_int.h: negative when a has priority over b. */
int kapi_version_cmp(const char *a, const char *b)
{
	struct vkey x = version_key(a), y = version_key(b);

	if (x.rank != y.rank)
		return y.rank - x.rank;
	if (x.rank == 0)
		return strcmp(a, b);
	if (x.major != y.major)
		return x.major > y.major ? -1 : 1;
	if (x.minor != y.minor)
		return x.minor > y.minor ? -1 : 1;
	return 0;
}

static int version_qcmp(const void *a, const void *b)
{
	return kapi_version_cmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *verbs_json(unsigned verbs)
{
	/* the order kube-apiserver prints */
	static const struct {
		const char *name;
		unsigned bit;
	} t[] = {
		{"create", KAPI_VERB_CREATE}, {"delete", KAPI_VERB_DELETE},
		{"deletecollection", KAPI_VERB_DELETECOLLECTION}, {"get", KAPI_VERB_GET},
		{"list", KAPI_VERB_LIST}, {"patch", KAPI_VERB_PATCH}, {"update", KAPI_VERB_UPDATE},
		{"watch", KAPI_VERB_WATCH},
	};
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (verbs & t[i].bit)
			json_array_append_new(a, json_string(t[i].name));
	return a;
}

static json_t *strv_json(char **v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *sub_entry(const struct kapi_resource *r, const char *sub, const char *kind, unsigned verbs)
{
	json_t *e = json_object();
	char name[300];

	snprintf(name, sizeof(name), "%s/%s", r->def.resource, sub);
	json_object_set_new(e, "name", json_string(name));
	json_object_set_new(e, "singularName", json_string(""));
	json_object_set_new(e, "namespaced", json_boolean(r->def.namespaced));
	if (!strcmp(sub, "scale")) {
		json_object_set_new(e, "group", json_string("autoscaling"));
		json_object_set_new(e, "version", json_string("v1"));
	}
	json_object_set_new(e, "kind", json_string(kind));
	json_object_set_new(e, "verbs", verbs_json(verbs));
	return e;
}

static json_t *resource_list(struct kapi_server *s, const char *group, const char *version)
{
	json_t *doc = json_object(), *list = json_array();
	struct kapi_resource *r;
	bool any = false;

	for (r = s->resources; r; r = r->next) {
		json_t *e;

		if (strcmp(r->def.group, group) || !kapi_version_served(r, version))
			continue;
		any = true;
		e = json_object();
		json_object_set_new(e, "name", json_string(r->def.resource));
		json_object_set_new(e, "singularName", json_string(r->def.singular ? r->def.singular : ""));
		json_object_set_new(e, "namespaced", json_boolean(r->def.namespaced));
		json_object_set_new(e, "kind", json_string(r->def.kind));
		json_object_set_new(e, "verbs", verbs_json(r->def.verbs));
		if (r->short_names && r->short_names[0])
			json_object_set_new(e, "shortNames", strv_json(r->short_names));
		if (r->categories && r->categories[0])
			json_object_set_new(e, "categories", strv_json(r->categories));
		json_array_append_new(list, e);
		if (!strcmp(r->rkey, "/namespaces"))
			json_array_append_new(list, sub_entry(r, "finalize", r->def.kind, KAPI_VERB_UPDATE));
		if (r->def.has_scale)
			json_array_append_new(list, sub_entry(r, "scale", "Scale",
							      KAPI_VERB_GET | KAPI_VERB_PATCH | KAPI_VERB_UPDATE));
		if (r->def.has_status)
			json_array_append_new(list, sub_entry(r, "status", r->def.kind,
							      KAPI_VERB_GET | KAPI_VERB_PATCH | KAPI_VERB_UPDATE));
	}
	if (!any) {
		json_decref(list);
		json_decref(doc);
		return NULL;
	}
	json_object_set_new(doc, "kind", json_string("APIResourceList"));
	json_object_set_new(doc, "apiVersion", json_string("v1"));
	json_object_set_new(doc, "groupVersion",
			    *group ? json_sprintf("%s/%s", group, version) : json_string(version));
	json_object_set_new(doc, "resources", list);
	return doc;
}

/* The APIGroup document for group, or NULL if no resource is in it. */
static json_t *group_doc(struct kapi_server *s, const char *group)
{
	const char *vs[64];
	size_t n = 0, i, j;
	struct kapi_resource *r;
	json_t *g, *versions;

	for (r = s->resources; r; r = r->next) {
		if (strcmp(r->def.group, group))
			continue;
		for (i = 0; r->versions[i]; i++) {
			for (j = 0; j < n; j++)
				if (!strcmp(vs[j], r->versions[i]))
					break;
			if (j == n && n < sizeof(vs) / sizeof(vs[0]))
				vs[n++] = r->versions[i];
		}
	}
	if (!n)
		return NULL;
	qsort(vs, n, sizeof(vs[0]), version_qcmp);
	g = json_object();
	json_object_set_new(g, "name", json_string(group));
	versions = json_array();
	for (i = 0; i < n; i++) {
		json_t *v = json_object();

		json_object_set_new(v, "groupVersion", json_sprintf("%s/%s", group, vs[i]));
		json_object_set_new(v, "version", json_string(vs[i]));
		json_array_append_new(versions, v);
	}
	json_object_set_new(g, "versions", versions);
	json_object_set(g, "preferredVersion", json_array_get(versions, 0));
	return g;
}

static json_t *group_list(struct kapi_server *s)
{
	json_t *doc = json_object(), *groups = json_array();
	struct kapi_resource *r, *q;

	for (r = s->resources; r; r = r->next) {
		json_t *g;

		if (!*r->def.group)
			continue;
		for (q = s->resources; q != r; q = q->next)
			if (!strcmp(q->def.group, r->def.group))
				break;
		if (q != r)
			continue; /* group already listed */
		g = group_doc(s, r->def.group);
		if (g)
			json_array_append_new(groups, g);
	}
	json_object_set_new(doc, "kind", json_string("APIGroupList"));
	json_object_set_new(doc, "apiVersion", json_string("v1"));
	json_object_set_new(doc, "groups", groups);
	return doc;
}

static json_t *version_doc(struct kapi_server *s)
{
	json_t *v = json_object();
	const char *gv = s->git_version;
	long major = 1, minor = 30;
	char buf[32];

	if (sscanf(gv, "v%ld.%ld", &major, &minor) != 2) {
		major = 1;
		minor = 30;
	}
	snprintf(buf, sizeof(buf), "%ld", major);
	json_object_set_new(v, "major", json_string(buf));
	snprintf(buf, sizeof(buf), "%ld", minor);
	json_object_set_new(v, "minor", json_string(buf));
	json_object_set_new(v, "gitVersion", json_string(gv));
	json_object_set_new(v, "gitCommit", json_string("0000000000000000000000000000000000000000"));
	json_object_set_new(v, "gitTreeState", json_string("clean"));
	json_object_set_new(v, "buildDate", json_string("2024-04-17T17:27:40Z"));
	json_object_set_new(v, "goVersion", json_string("go1.22.2"));
	json_object_set_new(v, "compiler", json_string("gc"));
	json_object_set_new(v, "platform", json_string("linux/amd64"));
	return v;
}

/* See kapi_int.h. */
bool kapi_discovery_handle(struct kapi_server *s, struct httpd_req *req, const char *path)
{
	const char *method = httpd_req_method(req);
	json_t *doc = NULL;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return false;
	if (!strcmp(path, "/api")) {
		json_t *addr = json_object(), *addrs = json_array();

		doc = json_object();
		json_object_set_new(doc, "kind", json_string("APIVersions"));
		json_t *core = resource_list(s, "", "v1");

		/* A server with no core resources (the hub) lists no version, so
		 * discovery clients do not ask /api/v1 and fail on its 404. */
		json_object_set_new(doc, "versions", core ? json_pack("[s]", "v1") : json_array());
		json_decref(core);
		json_object_set_new(addr, "clientCIDR", json_string("0.0.0.0/0"));
		json_object_set_new(addr, "serverAddress", json_string(s->server_address));
		json_array_append_new(addrs, addr);
		json_object_set_new(doc, "serverAddressByClientCIDRs", addrs);
	} else if (!strcmp(path, "/api/v1")) {
		doc = resource_list(s, "", "v1");
	} else if (!strcmp(path, "/apis")) {
		doc = group_list(s);
	} else if (!strncmp(path, "/apis/", 6)) {
		char group[254], version[64];
		const char *g = path + 6, *slash = strchr(g, '/');

		if (!slash) {
			if (strlen(g) < sizeof(group)) {
				doc = group_doc(s, g);
				if (doc) {
					json_object_set_new(doc, "kind", json_string("APIGroup"));
					json_object_set_new(doc, "apiVersion", json_string("v1"));
				}
			}
		} else if ((size_t)(slash - g) < sizeof(group) && strlen(slash + 1) < sizeof(version) &&
			   !strchr(slash + 1, '/')) {
			memcpy(group, g, (size_t)(slash - g));
			group[slash - g] = '\0';
			snprintf(version, sizeof(version), "%s", slash + 1);
			doc = resource_list(s, group, version);
		}
	} else if (!strcmp(path, "/version")) {
		doc = version_doc(s);
	} else if (!strcmp(path, "/openapi/v2") || !strcmp(path, "/swagger-2.0.0.pb-v1")) {
		httpd_respond(req, 200, "application/octet-stream", "", 0);
		return true;
	} else if (!strcmp(path, "/healthz") || !strcmp(path, "/livez") || !strcmp(path, "/readyz")) {
		httpd_respond(req, 200, "text/plain; charset=utf-8", "ok", 2);
		return true;
	}
	if (!doc)
		return false;
	kapi_respond_json(req, 200, doc);
	return true;
}
