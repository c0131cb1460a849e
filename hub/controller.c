/* controller.c - the hub's reactions to committed changes, and its cluster table.
 *
 * One kapi subscription sees every committed change, whoever made it (the
 * REST API, registration, the health timer):
 *   - ManagedCluster: the in-memory cluster table (hash by name) follows the
 *     object (accepted, joined, available); spec.hubAcceptsClient going
 *     false -> true accepts (conditions, the newest pending registration is
 *     signed), true -> false denies (every certificate of the cluster is
 *     revoked, pending registrations denied, conditions); deletion revokes.
 *     So `kubectl patch ... hubAcceptsClient` and the /accept and /deny
 *     endpoints have one implementation.
 *   - RevokedCertificate: the revocation set (serial -> cluster), checked on
 *     every request by auth.c.
 * The table and the set are rebuilt from the store at start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "hub_int.h"
#include "kobj.h"
#include "log.h"

static uint64_t name_hash(const char *s)
{
	return fnv1a_str(FNV1A_INIT, s);
}

/* See hub_int.h. */
struct hub_cluster *hub_cluster_find(const struct hub *h, const char *name)
{
	struct hub_cluster *c;

	if (!h->ccap)
		return NULL;
	for (c = h->ctab[name_hash(name) & (h->ccap - 1)]; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void table_grow(struct hub *h)
{
	size_t ncap = h->ccap ? h->ccap * 2 : 64, i;
	struct hub_cluster **nt = xcalloc(ncap, sizeof(*nt)), *c, *next;

	for (i = 0; i < h->ccap; i++) {
		for (c = h->ctab[i]; c; c = next) {
			size_t b = name_hash(c->name) & (ncap - 1);

			next = c->next;
			c->next = nt[b];
			nt[b] = c;
		}
	}
	free(h->ctab);
	h->ctab = nt;
	h->ccap = ncap;
}

static struct hub_cluster *cluster_add(struct hub *h, const char *name)
{
	struct hub_cluster *c = hub_cluster_find(h, name);
	size_t b;

	if (c)
		return c;
	if (h->cn + 1 > h->ccap * 3 / 4)
		table_grow(h);
	c = xnew(struct hub_cluster);
	c->name = xstrdup(name);
	c->last_renew_ms = (int64_t)uv_now(h->loop);
	b = name_hash(name) & (h->ccap - 1);
	c->next = h->ctab[b];
	h->ctab[b] = c;
	h->cn++;
	return c;
}

static void cluster_remove(struct hub *h, const char *name)
{
	struct hub_cluster **pp;

	if (!h->ccap)
		return;
	for (pp = &h->ctab[name_hash(name) & (h->ccap - 1)]; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->name, name)) {
			struct hub_cluster *c = *pp;

			*pp = c->next;
			free(c->name);
			free(c);
			h->cn--;
			return;
		}
	}
}

static bool accepts(const json_t *mc)
{
	return mc && json_is_true(kobj_get_path(mc, "spec.hubAcceptsClient"));
}

static void cluster_sync(struct hub *h, const json_t *mc)
{
	struct hub_cluster *c = cluster_add(h, kobj_name(mc));
	const char *av = kobj_condition_status(mc, HUB_COND_AVAILABLE), *j = kobj_condition_status(mc, HUB_COND_JOINED);

	c->accepted = accepts(mc);
	c->joined = j && !strcmp(j, "True");
	snprintf(c->available, sizeof(c->available), "%s", av ? av : "");
}

static void on_cluster_change(struct hub *h, enum kapi_event_type type, const json_t *old_obj,
			      const json_t *new_obj)
{
	const char *name = kobj_name(new_obj ? new_obj : old_obj);
	bool was, is;

	if (!name)
		return;
	if (type == KAPI_EVENT_DELETED) {
		cluster_remove(h, name);
		hub_revoke_cluster(h, name, "ManagedClusterDeleted");
		return;
	}
	was = type == KAPI_EVENT_MODIFIED && accepts(old_obj);
	is = accepts(new_obj);
	cluster_sync(h, new_obj);
	if (!was && is) {
		struct errbuf err;

		log_info("cluster %s accepted", name);
		hub_cluster_set_condition(h, name, HUB_COND_DENIED, NULL, NULL, NULL);
		hub_cluster_set_condition(h, name, HUB_COND_ACCEPTED, "True", "HubClusterAdminAccepted",
					  "Accepted by hub cluster admin");
		if (hub_approve_pending(h, name, "HubClusterAdminAccepted", &err) < 0)
			log_error("cluster %s: cannot sign its pending registration: %s", name, err.msg);
	} else if (was && !is) {
		log_info("cluster %s denied: revoking its certificates", name);
		hub_revoke_cluster(h, name, "HubClusterAdminDenied");
		hub_cluster_set_condition(h, name, HUB_COND_ACCEPTED, "False", "HubClusterAdminDenied",
					  "Denied by hub cluster admin");
		hub_cluster_set_condition(h, name, HUB_COND_DENIED, "True", "HubClusterAdminDenied",
					  "Denied by hub cluster admin");
	}
}

static void on_change(void *data, enum kapi_event_type type, const struct kapi_resource_def *def,
		      const json_t *old_obj, const json_t *new_obj)
{
	struct hub *h = data;

	if (!strcmp(def->group, HUB_GROUP_CLUSTER) && !strcmp(def->resource, HUB_RES_CLUSTERS)) {
		on_cluster_change(h, type, old_obj, new_obj);
	} else if (!strcmp(def->group, HUB_GROUP_NAVE) && !strcmp(def->resource, HUB_RES_REVOKED)) {
		const json_t *o = new_obj ? new_obj : old_obj;
		const char *serial = kobj_name(o), *cluster = json_string_value(kobj_get_path(o, "spec.cluster"));

		if (!serial)
			return;
		if (type == KAPI_EVENT_DELETED)
			json_object_del(h->revoked, serial);
		else
			json_object_set_new(h->revoked, serial, json_string(cluster ? cluster : ""));
	}
}

static int load_cluster(void *data, const json_t *obj)
{
	cluster_sync(data, obj);
	return 0;
}

static int load_revoked(void *data, const json_t *obj)
{
	struct hub *h = data;
	const char *cluster = json_string_value(kobj_get_path(obj, "spec.cluster"));

	json_object_set_new(h->revoked, kobj_name(obj), json_string(cluster ? cluster : ""));
	return 0;
}

/* See hub_int.h. */
int hub_controller_start(struct hub *h)
{
	h->revoked = json_object();
	table_grow(h);
	kapi_foreach(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, load_cluster, h);
	kapi_foreach(h->kapi, HUB_GROUP_NAVE, HUB_RES_REVOKED, NULL, load_revoked, h);
	log_info("%zu clusters, %zu revoked certificates", h->cn, json_object_size(h->revoked));
	return kapi_server_subscribe(h->kapi, on_change, h, &h->sub);
}

/* See hub_int.h. The subscription went with the kapi server. */
void hub_controller_free(struct hub *h)
{
	size_t i;

	for (i = 0; i < h->ccap; i++) {
		struct hub_cluster *c, *next;

		for (c = h->ctab[i]; c; c = next) {
			next = c->next;
			free(c->name);
			free(c);
		}
	}
	free(h->ctab);
	h->ctab = NULL;
	h->ccap = h->cn = 0;
	json_decref(h->revoked);
	h->revoked = NULL;
	h->sub = NULL;
}
