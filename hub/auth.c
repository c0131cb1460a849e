/* auth.c - who is asking (authentication) and whether they may (authorization).
 *
 * Identities, in the order they are recognised (docs/api.md, Authentication):
 *   1. "Authorization: Bearer X": X shaped as a bootstrap token ("id.secret")
 *      is a bootstrap identity (checked later, and only by the registration
 *      endpoints); otherwise SHA-256(X) must equal the admin token's hash
 *      (constant-time compare), else 401. Other schemes are 401.
 *   2. A client certificate (httpd has already verified it chains to the hub
 *      CA; a foreign CA fails the handshake): its CN must be
 *      system:open-cluster-management:<cluster>:<agent>, its serial not on
 *      the revocation list, its cluster registered and accepted, else 401.
 *   3. The web view's session cookie (ui_session_identity, ui.h): a live
 *      session is the admin (h->cur_id_session is set), an unknown or
 *      expired one 401.
 *   4. Nothing: anonymous.
 * Authorization of Kubernetes-style requests: the admin may do everything; a
 * cluster reads its own ManagedCluster and the ManifestWorks of its
 * namespace and writes only their status; anything else is 403 with the
 * Kubernetes wording. The checks are hash lookups: they run on every request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"
#include "hub_int.h"
#include "kobj.h"
#include "ui.h"

#define HUB_BEARER_MAX 512

/* See hub_int.h. Returns NULL when there is no Authorization header; an
 * Authorization header of another scheme gives "" (never a valid token). */
const char *hub_bearer(struct httpd_req *req, char *buf, size_t buflen)
{
	const char *v = httpd_req_header(req, "authorization");
	size_t n;

	if (!v)
		return NULL;
	while (*v == ' ')
		v++;
	if (strncasecmp(v, "bearer ", 7)) {
		buf[0] = '\0';
		return buf;
	}
	v += 7;
	while (*v == ' ')
		v++;
	n = strlen(v);
	while (n > 0 && v[n - 1] == ' ')
		n--;
	if (n >= buflen)
		n = 0; /* longer than any token we issue: treat as wrong */
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* See hub_int.h. */
bool hub_token_shaped(const char *s)
{
	size_t i;

	if (strlen(s) != 23 || s[6] != '.')
		return false;
	for (i = 0; i < 23; i++)
		if (i != 6 && !lower_alnum(s[i]))
			return false;
	return true;
}

/* See hub.h. */
bool hub_serial_revoked(const struct hub *h, const char *serial)
{
	return serial && h->revoked && json_object_get(h->revoked, serial) != NULL;
}

/* See hub.h. */
int hub_cluster_cert_check(struct hub *h, const char *cn, const char *serial, struct hub_identity *ret_id,
			   struct errbuf *err)
{
	struct hub_identity id = {.kind = HUB_IDENT_CLUSTER};
	const char *rest, *colon;
	struct hub_cluster *c;
	size_t cl;

	if (strncmp(cn, HUB_CN_PREFIX, strlen(HUB_CN_PREFIX)))
		goto bad_cn;
	rest = cn + strlen(HUB_CN_PREFIX);
	colon = strchr(rest, ':');
	if (!colon)
		goto bad_cn;
	cl = (size_t)(colon - rest);
	if (cl == 0 || cl > HUB_CLUSTER_NAME_MAX || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) > HUB_CLUSTER_NAME_MAX)
		goto bad_cn;
	memcpy(id.cluster, rest, cl);
	id.cluster[cl] = '\0';
	snprintf(id.agent, sizeof(id.agent), "%s", colon + 1);
	if (!kobj_valid_label_name(id.cluster))
		goto bad_cn;
	snprintf(id.user, sizeof(id.user), "%s", cn);
	snprintf(id.serial, sizeof(id.serial), "%s", serial ? serial : "");
	if (hub_serial_revoked(h, serial))
		return errbuf_set(err, -EACCES, "Unauthorized: certificate %s of cluster %s has been revoked", serial,
				  id.cluster);
	c = hub_cluster_find(h, id.cluster);
	if (!c)
		return errbuf_set(err, -EACCES, "Unauthorized: cluster %s is not registered with this hub",
				  id.cluster);
	if (!c->accepted)
		return errbuf_set(err, -EACCES,
				  "Unauthorized: cluster %s is not accepted by this hub (spec.hubAcceptsClient is false)",
				  id.cluster);
	*ret_id = id;
	return 0;
bad_cn:
	return errbuf_set(err, -EACCES,
			  "Unauthorized: client certificate CN \"%.64s\" is not a cluster identity "
			  "(system:open-cluster-management:<cluster>:<agent>)", cn);
}

/* See hub.h. */
int hub_authenticate(struct hub *h, struct httpd_req *req, struct hub_identity *ret_id, struct errbuf *err)
{
	struct hub_identity id = {.kind = HUB_IDENT_ANONYMOUS};
	char buf[HUB_BEARER_MAX];
	const char *tok = hub_bearer(req, buf, sizeof(buf)), *cn;
	uint8_t hash[SHA256_LEN];
	int r;

	if (tok) {
		if (!*tok)
			return errbuf_set(err, -EACCES,
					  "Unauthorized: only 'Authorization: Bearer <token>' is accepted");
		if (hub_token_shaped(tok)) {
			id.kind = HUB_IDENT_BOOTSTRAP;
			snprintf(id.token, sizeof(id.token), "%s", tok);
			snprintf(id.user, sizeof(id.user), "system:bootstrap:%.6s", tok);
			*ret_id = id;
			return 0;
		}
		sha256(tok, strlen(tok), hash);
		memset(buf, 0, sizeof(buf));
		if (memcmp_const(hash, h->cfg.admin_hash, SHA256_LEN))
			return errbuf_set(err, -EACCES,
					  "Unauthorized: the bearer token is not valid for this hub "
					  "(use the token of the hub's admin.kubeconfig)");
		id.kind = HUB_IDENT_ADMIN;
		snprintf(id.user, sizeof(id.user), "%s", HUB_ADMIN_USER);
		*ret_id = id;
		return 0;
	}
	cn = httpd_req_peer_cn(req);
	if (cn)
		return hub_cluster_cert_check(h, cn, httpd_req_peer_serial(req), ret_id, err);
	r = ui_session_identity(h, req, &id, err);
	if (r < 0)
		return r;
	h->cur_id_session = r > 0;
	*ret_id = id;
	return 0;
}

static int forbid(const struct hub_identity *id, const struct kapi_request_attrs *a, struct errbuf *err)
{
	char qual[300] = "", name[280] = "", scope[300];

	if (!a->def)
		return errbuf_set(err, -EPERM, "forbidden: User \"%s\" cannot %s path \"%s\"", id->user, a->verb,
				  a->path);
	if (*a->def->group)
		snprintf(qual, sizeof(qual), "%s.%s", a->def->resource, a->def->group);
	else
		snprintf(qual, sizeof(qual), "%s", a->def->resource);
	if (a->name)
		snprintf(name, sizeof(name), " \"%s\"", a->name);
	if (a->namespace_)
		snprintf(scope, sizeof(scope), "in the namespace \"%s\"", a->namespace_);
	else
		snprintf(scope, sizeof(scope), "at the cluster scope");
	return errbuf_set(err, -EPERM,
			  "%s%s is forbidden: User \"%s\" cannot %s resource \"%s%s%s\" in API group \"%s\" %s",
			  qual, name, id->user, a->verb, a->def->resource, a->subresource ? "/" : "",
			  a->subresource ? a->subresource : "", a->def->group, scope);
}

static bool verb_is(const char *verb, const char *a, const char *b, const char *c)
{
	return !strcmp(verb, a) || (b && !strcmp(verb, b)) || (c && !strcmp(verb, c));
}

/* See hub.h. */
int hub_authorize(const struct hub *h, const struct hub_identity *id, const struct kapi_request_attrs *a,
		  const char *field_selector, struct errbuf *err)
{
	const char *g, *res;
	char want[HUB_CLUSTER_NAME_MAX + 32], want2[HUB_CLUSTER_NAME_MAX + 32];

	(void)h;
	switch (id->kind) {
	case HUB_IDENT_ADMIN:
		return 0;
	case HUB_IDENT_ANONYMOUS:
		return errbuf_set(err, -EACCES,
				  "Unauthorized: send 'Authorization: Bearer <token>' (the hub's admin.kubeconfig) "
				  "or a client certificate issued by this hub");
	case HUB_IDENT_BOOTSTRAP:
		return errbuf_set(err, -EACCES,
				  "Unauthorized: bootstrap tokens may only be used to register "
				  "(POST /nave/v1/registrations)");
	case HUB_IDENT_CLUSTER:
		break;
	}
	if (!a->def)
		return !strcmp(a->verb, "get") ? 0 : forbid(id, a, err);
	g = a->def->group;
	res = a->def->resource;
	if (!strcmp(g, HUB_GROUP_CLUSTER) && !strcmp(res, HUB_RES_CLUSTERS)) {
		if (a->name) {
			if (strcmp(a->name, id->cluster))
				return forbid(id, a, err);
			if (!a->subresource)
				return verb_is(a->verb, "get", "watch", NULL) ? 0 : forbid(id, a, err);
			if (!strcmp(a->subresource, "status"))
				return verb_is(a->verb, "get", "update", "patch") ? 0 : forbid(id, a, err);
			return forbid(id, a, err);
		}
		/* a collection: only narrowed to its own name */
		snprintf(want, sizeof(want), "metadata.name=%s", id->cluster);
		snprintf(want2, sizeof(want2), "metadata.name==%s", id->cluster);
		if (verb_is(a->verb, "list", "watch", NULL) && field_selector &&
		    (!strcmp(field_selector, want) || !strcmp(field_selector, want2)))
			return 0;
		return forbid(id, a, err);
	}
	if (!strcmp(g, HUB_GROUP_WORK) && !strcmp(res, HUB_RES_WORKS)) {
		if (!a->namespace_ || strcmp(a->namespace_, id->cluster))
			return forbid(id, a, err);
		if (!a->subresource)
			return verb_is(a->verb, "get", "list", "watch") ? 0 : forbid(id, a, err);
		if (!strcmp(a->subresource, "status"))
			return verb_is(a->verb, "get", "update", "patch") ? 0 : forbid(id, a, err);
		return forbid(id, a, err);
	}
	return forbid(id, a, err);
}

/* See hub_int.h. */
int hub_kapi_auth(void *data, struct httpd_req *req, const struct kapi_request_attrs *a, struct errbuf *err)
{
	struct hub *h = data;
	static char verb[20];
	int r;

	snprintf(verb, sizeof(verb), "%s", a->verb);
	h->cur_verb = verb;
	if (h->cur_id_rc < 0) {
		errbuf_set(err, -EACCES, "%s", h->cur_id_err.msg);
		r = -EACCES;
	} else {
		r = hub_authorize(h, &h->cur_id, a, httpd_req_arg(req, "fieldSelector"), err);
	}
	return r;
}
