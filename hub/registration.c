/* registration.c - joining clusters: registrations, accept, deny, renewals, revocation.
 *
 * Every certificate request, whether a registration (bootstrap token) or a
 * renewal (cluster certificate), is a CertificateSigningRequest object
 * (certificates.k8s.io/v1, labelled with the cluster's name), as in OCM.
 * Approved ones carry the signed certificate in status.certificate, so the
 * CSR objects are the record of every certificate the hub issued: a deny (or
 * a deleted ManagedCluster) walks them to put each unexpired serial on the
 * revocation list (RevokedCertificate objects, see controller.c). CSR
 * objects are read-only through the API and purged only once their
 * certificate has expired, so that record cannot be lost by accident.
 *
 * Checks on a CSR (both paths): x509_csr_parse verifies the self-signature
 * (mbed TLS does not, libraries.md), the key type (EC P-256/P-384) and digest;
 * here the subject must be exactly CN=system:open-cluster-management:<cluster>:<agent>,
 * O=system:open-cluster-management:<cluster>. The CA signs with the CSR's
 * subject and key, extendedKeyUsage clientAuth, lifetime
 * --client-cert-lifetime.
 *
 * A token holder cannot take over an accepted cluster: a registration for an
 * existing cluster always waits for an administrator's accept, which signs
 * only the newest pending request (older ones become Denied/Superseded), and
 * a second token cannot queue a registration beside another token's pending
 * one (409).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "hub_int.h"
#include "kobj.h"
#include "log.h"
#include "selector.h"
#include "timefmt.h"

static const struct kapi_write_opts hub_opts = {.field_manager = "nave-hub"};

/* CSR objects ------------------------------------------------------------- */

/* "Approved", "Denied" or NULL (pending). */
static const char *csr_state(const json_t *csr)
{
	json_t *conds = kobj_get_path(csr, "status.conditions"), *c;
	size_t i;

	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		const char *s = json_string_value(json_object_get(c, "status"));

		if (t && s && !strcmp(s, "True") && (!strcmp(t, "Approved") || !strcmp(t, "Denied")))
			return t;
	}
	return NULL;
}

static json_t *csr_condition(const char *type, const char *reason, const char *message)
{
	char now[TIMEFMT_MAX];

	time_format_rfc3339(time_now_us(), now);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", "True", "reason", reason,
			 "message", message, "lastUpdateTime", now, "lastTransitionTime", now);
}

/* Decode a base64 field of obj at path into a NUL-terminated string. */
static char *b64_field(const json_t *obj, const char *path, size_t *ret_len)
{
	const char *v = json_string_value(kobj_get_path(obj, path));
	uint8_t *out = NULL;
	size_t len = 0;

	if (!v || base64_decode(v, strlen(v), &out, &len) < 0)
		return NULL;
	if (ret_len)
		*ret_len = len;
	return (char *)out;
}

static int rand_suffix(char out[9])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char b[8];
	int r = random_bytes(b, sizeof(b));

	if (r < 0)
		return r;
	for (int i = 0; i < 8; i++)
		out[i] = alphabet[b[i] % 36];
	out[8] = '\0';
	return 0;
}

static int list_csrs(struct hub *h, const char *cluster, json_t **ret_items)
{
	char sel[HUB_CLUSTER_NAME_MAX + 64];

	snprintf(sel, sizeof(sel), "%s=%s", HUB_LABEL_CLUSTER, cluster);
	return kapi_list(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, sel, NULL, NULL, ret_items);
}

static int csr_set_status(struct hub *h, const json_t *csr, json_t *cond, const char *cert_pem)
{
	json_t *copy = json_deep_copy(csr), *st = json_object();
	struct errbuf err;
	int r;

	json_object_set_new(st, "conditions", json_pack("[o]", cond));
	if (cert_pem) {
		char *b64 = base64_encode(cert_pem, strlen(cert_pem));

		json_object_set_new(st, "certificate", json_string(b64));
		free(b64);
	}
	json_object_set_new(copy, "status", st);
	r = kapi_update_status(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, copy, &hub_opts, &err, NULL);
	if (r < 0)
		log_error("CSR %s: cannot update its status: %s", kobj_name(csr), err.msg);
	json_decref(copy);
	return r;
}

static bool agent_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HUB_CLUSTER_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '.' || *s == '_'))
			return false;
	return true;
}

/* Parse and judge a CSR for cluster. want_cn (NULL: any agent of the cluster)
 * is the exact CN a renewal must keep; a different subject is then -EPERM. */
static int check_csr(const char *pem, size_t len, const char *cluster, const char *want_cn,
		     struct x509_csr **ret_csr, struct errbuf *err)
{
	char want_o[X509_NAME_MAX + 1];
	struct x509_csr *csr = NULL;
	const char *cn, *org;
	size_t pl = strlen(HUB_CN_PREFIX);
	int r;

	if ((r = x509_csr_parse(pem, len, &csr, err)) < 0) {
		errbuf_prefix(err, "csr");
		return r;
	}
	cn = x509_csr_cn(csr);
	org = x509_csr_org(csr);
	snprintf(want_o, sizeof(want_o), "%s%s", HUB_CN_PREFIX, cluster);
	if (want_cn) {
		if (strcmp(cn, want_cn) || !org || strcmp(org, want_o)) {
			r = errbuf_set(err, -EPERM, "csr: subject must stay CN=%s, O=%s", want_cn, want_o);
			goto out;
		}
	} else {
		if (strncmp(cn, want_o, strlen(want_o)) || cn[strlen(want_o)] != ':' ||
		    !agent_name_ok(cn + strlen(want_o) + 1)) {
			r = errbuf_set(err, -EINVAL,
				       "csr: subject CN must be \"%s%s:<agent>\" (agent: 1..63 of [A-Za-z0-9._-]), "
				       "not \"%.64s\"", HUB_CN_PREFIX, cluster, cn);
			goto out;
		}
		if (!org || strcmp(org, want_o)) {
			r = errbuf_set(err, -EINVAL, "csr: subject O must be \"%s\"%s", want_o,
				       org ? "" : " (it has none)");
			goto out;
		}
	}
	(void)pl;
	*ret_csr = csr;
	csr = NULL;
	r = 0;
out:
	x509_csr_free(csr);
	return r;
}

static int sign(struct hub *h, const struct x509_csr *csr, char **ret_pem, struct errbuf *err)
{
	struct x509_cert_spec spec = {.usage = X509_USAGE_CLIENT, .lifetime = h->cfg.cert_lifetime_s};

	return x509_ca_sign_csr(h->ca, csr, &spec, ret_pem, err);
}

/* The Registration view of a CSR object (new reference). */
static json_t *registration_view(struct hub *h, const json_t *csr)
{
	const char *state = csr_state(csr), *cluster = kobj_label(csr, HUB_LABEL_CLUSTER);
	json_t *v;

	v = json_pack("{s:s, s:s, s:s, s:s}", "kind", "Registration", "apiVersion", "nave.dev/v1alpha1", "id",
		      kobj_name(csr), "clusterName", cluster ? cluster : "");
	if (!state) {
		char *msg = xasprintf("waiting for an administrator to accept %s (navectl cluster accept %s)",
				      cluster ? cluster : "the cluster", cluster ? cluster : "NAME");

		json_object_set_new(v, "phase", json_string("Pending"));
		json_object_set_new(v, "message", json_string(msg));
		free(msg);
	} else if (!strcmp(state, "Approved")) {
		char *cert = b64_field(csr, "status.certificate", NULL);

		json_object_set_new(v, "phase", json_string("Approved"));
		json_object_set_new(v, "message", json_string("accepted: the certificate is valid"));
		if (cert)
			json_object_set_new(v, "certificate", json_string(cert));
		json_object_set_new(v, "caBundle", json_string(hub_ca_pem(h)));
		free(cert);
	} else {
		json_t *c = json_array_get(kobj_get_path(csr, "status.conditions"), 0);
		const char *m = json_string_value(json_object_get(c, "message"));

		json_object_set_new(v, "phase", json_string("Denied"));
		json_object_set_new(v, "message", json_string(m ? m : "denied by the hub's administrator"));
	}
	return v;
}

/* Approval and revocation ---------------------------------------------------- */

static uint64_t obj_rv(const json_t *o)
{
	const char *rv = kobj_resource_version(o);

	return rv ? strtoull(rv, NULL, 10) : 0;
}

static bool is_registration(const json_t *csr)
{
	const char *u = json_string_value(kobj_get_path(csr, "spec.username"));

	return u && !strncmp(u, "system:bootstrap:", 17);
}

/* See hub_int.h. */
int hub_approve_pending(struct hub *h, const char *cluster, const char *reason, struct errbuf *err)
{
	json_t *items = NULL, *o, *newest = NULL;
	struct x509_csr *csr = NULL;
	char *pem = NULL, *cert = NULL;
	size_t i, len = 0;
	int r;

	if ((r = list_csrs(h, cluster, &items)) < 0)
		return errbuf_set(err, r, "listing the registrations of %s", cluster);
	json_array_foreach(items, i, o)
		if (!csr_state(o) && is_registration(o) && (!newest || obj_rv(o) > obj_rv(newest)))
			newest = o;
	json_array_foreach(items, i, o)
		if (!csr_state(o) && is_registration(o) && o != newest)
			csr_set_status(h, o, csr_condition("Denied", "Superseded",
							   "a newer registration of this cluster was accepted"),
				       NULL);
	r = 0;
	if (!newest)
		goto out;
	pem = b64_field(newest, "spec.request", &len);
	if (!pem) {
		r = errbuf_set(err, -EINVAL, "CSR %s: spec.request is not base64", kobj_name(newest));
		goto out;
	}
	if ((r = check_csr(pem, len, cluster, NULL, &csr, err)) < 0 || (r = sign(h, csr, &cert, err)) < 0)
		goto out;
	if ((r = csr_set_status(h, newest, csr_condition("Approved", reason, "approved by the hub"), cert)) < 0)
		goto out;
	h->metrics.reg_approved++;
	log_info("cluster %s: registration %s approved (%s)", cluster, kobj_name(newest), reason);
	r = 1;
out:
	x509_csr_free(csr);
	free(cert);
	free(pem);
	json_decref(items);
	return r;
}

/* See hub_int.h. */
int hub_revoke_cluster(struct hub *h, const char *cluster, const char *reason)
{
	int64_t now_s = time_now_us() / 1000000;
	json_t *items = NULL, *o, *rc;
	size_t i, n = 0;
	int r;

	if ((r = list_csrs(h, cluster, &items)) < 0)
		return r;
	json_array_foreach(items, i, o) {
		const char *state = csr_state(o);
		struct x509_cert_info info;
		char na[TIMEFMT_MAX], now[TIMEFMT_MAX], *cert;
		size_t len = 0;

		if (!state) {
			csr_set_status(h, o, csr_condition("Denied", reason, "denied by the hub's administrator"),
				       NULL);
			h->metrics.reg_denied++;
			continue;
		}
		if (strcmp(state, "Approved") || !(cert = b64_field(o, "status.certificate", &len)))
			continue;
		if (x509_cert_info(cert, len, &info, NULL) == 0 && info.not_after > now_s &&
		    !hub_serial_revoked(h, info.serial)) {
			time_format_rfc3339(info.not_after * 1000000, na);
			time_format_rfc3339(time_now_us(), now);
			rc = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:s, s:s, s:s, s:s}}", "apiVersion",
				       "nave.dev/v1alpha1", "kind", "RevokedCertificate", "metadata", "name",
				       info.serial, "labels", HUB_LABEL_CLUSTER, cluster, "spec", "cluster", cluster,
				       "notAfter", na, "revokedAt", now, "reason", reason, "certificateSigningRequest",
				       kobj_name(o));
			if (kapi_create(h->kapi, HUB_GROUP_NAVE, HUB_RES_REVOKED, NULL, rc, &hub_opts, NULL, NULL) == 0)
				n++;
			json_decref(rc);
		}
		free(cert);
	}
	if (n)
		log_info("cluster %s: %zu certificate(s) revoked (%s)", cluster, n, reason);
	json_decref(items);
	return 0;
}

/* See hub_int.h. */
void hub_registration_purge(struct hub *h)
{
	int64_t now_us = time_now_us();
	json_t *items = NULL, *o;
	size_t i;

	if (kapi_list(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, NULL, NULL, NULL, &items) == 0) {
		json_array_foreach(items, i, o) {
			const char *state = csr_state(o), *ct = json_string_value(kobj_get_path(o,
												"metadata.creationTimestamp"));
			bool drop = false;
			int64_t us;

			if (state && !strcmp(state, "Approved")) {
				struct x509_cert_info info;
				size_t len = 0;
				char *cert = b64_field(o, "status.certificate", &len);

				drop = !cert || (x509_cert_info(cert, len, &info, NULL) == 0 &&
						 info.not_after * 1000000 < now_us);
				free(cert);
			} else if (ct && time_parse_rfc3339(ct, &us) == 0) {
				drop = us + (int64_t)HUB_REGISTRATION_KEEP_S * 1000000 < now_us;
			}
			if (drop)
				kapi_delete(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, kobj_name(o), NULL, NULL,
					    NULL);
		}
		json_decref(items);
		items = NULL;
	}
	if (kapi_list(h->kapi, HUB_GROUP_NAVE, HUB_RES_REVOKED, NULL, NULL, NULL, NULL, &items) == 0) {
		json_array_foreach(items, i, o) {
			const char *na = json_string_value(kobj_get_path(o, "spec.notAfter"));
			int64_t us;

			if (na && time_parse_rfc3339(na, &us) == 0 && us < now_us)
				kapi_delete(h->kapi, HUB_GROUP_NAVE, HUB_RES_REVOKED, NULL, kobj_name(o), NULL, NULL,
					    NULL);
		}
		json_decref(items);
	}
}

/* Accept and deny ------------------------------------------------------------- */

static int cluster_accept(struct hub *h, const char *name, const char *reason, struct errbuf *err)
{
	json_t *obj = NULL, *patch;
	int r;

	if ((r = kapi_get(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, name, err, &obj)) < 0)
		return r;
	if ((r = hub_approve_pending(h, name, reason, err)) < 0)
		goto out;
	if (!json_is_true(kobj_get_path(obj, "spec.hubAcceptsClient"))) {
		/* controller.c sees false -> true and sets the conditions */
		patch = json_pack("{s:{s:b}}", "spec", "hubAcceptsClient", 1);
		r = kapi_patch(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, name, NULL, KAPI_PATCH_MERGE,
			       patch, &hub_opts, err, NULL);
		json_decref(patch);
	} else {
		hub_cluster_set_condition(h, name, HUB_COND_DENIED, NULL, NULL, NULL);
		r = hub_cluster_set_condition(h, name, HUB_COND_ACCEPTED, "True", "HubClusterAdminAccepted",
					      "Accepted by hub cluster admin");
	}
out:
	json_decref(obj);
	return r < 0 ? r : 0;
}

static int cluster_deny(struct hub *h, const char *name, struct errbuf *err)
{
	json_t *obj = NULL, *patch;
	int r;

	if ((r = kapi_get(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, name, err, &obj)) < 0)
		return r;
	if (json_is_true(kobj_get_path(obj, "spec.hubAcceptsClient"))) {
		/* controller.c sees true -> false, revokes and sets the conditions */
		patch = json_pack("{s:{s:b}}", "spec", "hubAcceptsClient", 0);
		r = kapi_patch(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, name, NULL, KAPI_PATCH_MERGE,
			       patch, &hub_opts, err, NULL);
		json_decref(patch);
	} else {
		hub_revoke_cluster(h, name, "HubClusterAdminDenied");
		hub_cluster_set_condition(h, name, HUB_COND_ACCEPTED, "False", "HubClusterAdminDenied",
					  "Denied by hub cluster admin");
		r = hub_cluster_set_condition(h, name, HUB_COND_DENIED, "True", "HubClusterAdminDenied",
					      "Denied by hub cluster admin");
	}
	json_decref(obj);
	return r;
}

static void respond_cluster(struct hub *h, struct httpd_req *req, const char *name, int r, struct errbuf *err)
{
	json_t *obj = NULL;

	if (r == 0)
		r = kapi_get(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, name, err, &obj);
	if (r < 0) {
		hub_respond_error(h, req, r, err->msg);
		return;
	}
	hub_respond_json(h, req, 200, obj);
}

/* See hub_int.h. */
void hub_cluster_accept_http(struct hub *h, struct httpd_req *req, const char *name)
{
	struct errbuf err = {""};

	respond_cluster(h, req, name, cluster_accept(h, name, "HubClusterAdminAccepted", &err), &err);
}

/* See hub_int.h. */
void hub_cluster_deny_http(struct hub *h, struct httpd_req *req, const char *name)
{
	struct errbuf err = {""};

	respond_cluster(h, req, name, cluster_deny(h, name, &err), &err);
}

/* Registrations ----------------------------------------------------------------- */

static int validate_registration(const json_t *body, struct errbuf *err)
{
	json_t *name = json_object_get(body, "clusterName"), *labels, *claims, *csr, *x;
	const char *key;
	size_t i;

	if (!json_is_string(name) || !json_string_length(name))
		return errbuf_set(err, -EINVAL, "clusterName: Required value");
	if (!kobj_valid_label_name(json_string_value(name)))
		return errbuf_set(err, -EINVAL,
				  "clusterName: Invalid value \"%.64s\": must be a DNS-1123 label (at most 63 "
				  "characters of [a-z0-9-], starting and ending with [a-z0-9])",
				  json_string_value(name));
	csr = json_object_get(body, "csr");
	if (!json_is_string(csr) || !json_string_length(csr))
		return errbuf_set(err, -EINVAL, "csr: Required value: a PEM CERTIFICATE REQUEST");
	labels = json_object_get(body, "labels");
	if (labels && !json_is_null(labels)) {
		if (!json_is_object(labels) || json_object_size(labels) > HUB_LABELS_MAX)
			return errbuf_set(err, -EINVAL, "labels: must be an object of at most %d labels",
					  HUB_LABELS_MAX);
		json_object_foreach(labels, key, x)
			if (!json_is_string(x))
				return errbuf_set(err, -EINVAL, "labels[%.64s]: must be a string", key);
		if (labels_validate(labels, err) < 0) {
			errbuf_prefix(err, "labels");
			return -EINVAL;
		}
	}
	claims = json_object_get(body, "claims");
	if (claims && !json_is_null(claims)) {
		if (!json_is_array(claims) || json_array_size(claims) > HUB_CLAIMS_MAX)
			return errbuf_set(err, -EINVAL, "claims: must be an array of at most %d claims",
					  HUB_CLAIMS_MAX);
		json_array_foreach(claims, i, x) {
			const char *n = json_string_value(json_object_get(x, "name"));
			json_t *v = json_object_get(x, "value");

			if (!n || !kobj_valid_subdomain(n))
				return errbuf_set(err, -EINVAL, "claims[%zu].name: must be a DNS-1123 subdomain", i);
			if (!json_is_string(v) || json_string_length(v) > HUB_CLAIM_VALUE_MAX)
				return errbuf_set(err, -EINVAL, "claims[%zu].value: must be a string of at most %d bytes",
						  i, HUB_CLAIM_VALUE_MAX);
		}
	}
	return 0;
}

/* See hub_int.h. */
int hub_check_registration(const json_t *body, struct errbuf *err)
{
	return validate_registration(body, err);
}

/* See hub_int.h. */
int hub_check_csr(const char *pem, size_t len, const char *cluster, struct errbuf *err)
{
	struct x509_csr *csr = NULL;
	int r = check_csr(pem, len, cluster, NULL, &csr, err);

	x509_csr_free(csr);
	return r;
}

/* See hub_int.h. */
void hub_registration_create(struct hub *h, struct httpd_req *req)
{
	char buf[512], suffix[9], csr_name[HUB_CLUSTER_NAME_MAX + 10], user[32], tok_id[7];
	const char *tok = hub_bearer(req, buf, sizeof(buf)), *cluster, *pem;
	struct errbuf err = {""};
	struct x509_csr *csr = NULL;
	json_t *body = NULL, *items = NULL, *o, *mc = NULL, *obj = NULL, *labels, *stored = NULL;
	bool created = false;
	char *b64 = NULL;
	size_t i;
	int r;

	if (!tok) {
		h->metrics.reg_unauthorized++;
		hub_respond_error(h, req, -EACCES,
				  "Unauthorized: registration needs a bootstrap token: "
				  "'Authorization: Bearer <id>.<secret>' (navectl token create)");
		return;
	}
	if ((r = hub_token_check(h, tok, HUB_TOKEN_REGISTER, &err, NULL)) < 0) {
		h->metrics.reg_unauthorized++;
		log_info("registration refused: %s", err.msg);
		hub_respond_error(h, req, r, err.msg);
		return;
	}
	memcpy(tok_id, tok, 6);
	tok_id[6] = '\0';
	memset(buf, 0, sizeof(buf));
	snprintf(user, sizeof(user), "system:bootstrap:%s", tok_id);
	if ((r = hub_body_json(req, &body, &err)) < 0 || (r = validate_registration(body, &err)) < 0)
		goto invalid;
	cluster = json_string_value(json_object_get(body, "clusterName"));
	pem = json_string_value(json_object_get(body, "csr"));
	if ((r = check_csr(pem, strlen(pem), cluster, NULL, &csr, &err)) < 0) {
		if (r == -EPERM)
			r = -EINVAL;
		goto invalid;
	}
	/* Another token's pending registration blocks this one. */
	if ((r = list_csrs(h, cluster, &items)) < 0) {
		errbuf_set(&err, r, "cannot list the registrations of %s", cluster);
		goto fail;
	}
	json_array_foreach(items, i, o) {
		const char *u = json_string_value(kobj_get_path(o, "spec.username"));

		if (!csr_state(o) && is_registration(o) && u && strcmp(u, user)) {
			r = errbuf_set(&err, -EBUSY,
				       "cluster %s already has a pending registration %s made with bootstrap token %s: "
				       "accept or deny it first (navectl cluster deny %s)",
				       cluster, kobj_name(o), u + 17, cluster);
			goto fail;
		}
	}
	/* The ManagedCluster, if new. */
	r = kapi_get(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, cluster, NULL, &mc);
	if (r == -ENOENT) {
		json_t *claims = json_object_get(body, "claims");

		labels = json_is_object(json_object_get(body, "labels")) ? json_deep_copy(json_object_get(body, "labels"))
									    : json_object();
		json_object_set_new(labels, HUB_LABEL_CLUSTER, json_string(cluster));
		obj = json_pack("{s:s, s:s, s:{s:s, s:o}, s:{s:b, s:i}}", "apiVersion",
				HUB_GROUP_CLUSTER "/v1", "kind", "ManagedCluster", "metadata", "name", cluster, "labels",
				labels, "spec", "hubAcceptsClient", 0, "leaseDurationSeconds", h->cfg.lease_duration_s);
		if (json_is_array(claims) && json_array_size(claims))
			json_object_set_new(obj, "status", json_pack("{s:O}", "clusterClaims", claims));
		if ((r = kapi_create(h->kapi, HUB_GROUP_CLUSTER, HUB_RES_CLUSTERS, NULL, obj, &hub_opts, &err, NULL)) <
		    0)
			goto invalid;
		created = true;
		json_decref(obj);
		obj = NULL;
	} else if (r < 0) {
		errbuf_set(&err, r, "cannot read cluster %s", cluster);
		goto fail;
	}
	/* The CSR object. */
	if ((r = rand_suffix(suffix)) < 0) {
		errbuf_set(&err, r, "cannot read random bytes");
		goto fail;
	}
	snprintf(csr_name, sizeof(csr_name), "%s-%s", cluster, suffix);
	b64 = base64_encode(pem, strlen(pem));
	obj = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:s, s:[s], s:s}}", "apiVersion",
			HUB_GROUP_CERTS "/v1", "kind", "CertificateSigningRequest", "metadata", "name", csr_name,
			"labels", HUB_LABEL_CLUSTER, cluster, "spec", "request", b64, "signerName", HUB_SIGNER,
			"usages", "client auth", "username", user);
	if ((r = kapi_create(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, obj, &hub_opts, &err, NULL)) < 0)
		goto fail;
	hub_token_count_use(h, tok_id);
	h->metrics.reg_pending++;
	/* Older pending registrations of the same token are superseded. */
	json_array_foreach(items, i, o)
		if (!csr_state(o) && is_registration(o))
			csr_set_status(h, o, csr_condition("Denied", "Superseded",
							   "a newer registration of this cluster was made"),
				       NULL);
	log_info("cluster %s: registration %s from bootstrap token %s%s", cluster, csr_name, tok_id,
		 created ? " (new cluster)" : "");
	if (h->cfg.auto_accept && created && (r = cluster_accept(h, cluster, "AutoApproved", &err)) < 0)
		goto fail;
	if ((r = kapi_get(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, csr_name, &err, &stored)) < 0)
		goto fail;
	hub_respond_json(h, req, 201, registration_view(h, stored));
	goto out;
invalid:
	h->metrics.reg_invalid++;
fail:
	hub_respond_error(h, req, r, err.msg);
out:
	free(b64);
	x509_csr_free(csr);
	json_decref(stored);
	json_decref(obj);
	json_decref(mc);
	json_decref(items);
	json_decref(body);
}

/* See hub_int.h. */
void hub_registration_get(struct hub *h, struct httpd_req *req, const char *id)
{
	char buf[512], user[32], msg[256];
	struct errbuf err = {""};
	json_t *csr = NULL;
	const char *u;
	int r;

	if (h->cur_id_rc < 0 || h->cur_id.kind != HUB_IDENT_ADMIN) {
		const char *tok = hub_bearer(req, buf, sizeof(buf));

		if (!tok) {
			hub_respond_error(h, req, -EACCES,
					  "Unauthorized: polling a registration needs the bootstrap token that made it");
			return;
		}
		if ((r = hub_token_check(h, tok, HUB_TOKEN_POLL, &err, NULL)) < 0) {
			hub_respond_error(h, req, r, err.msg);
			return;
		}
		snprintf(user, sizeof(user), "system:bootstrap:%.6s", tok);
		memset(buf, 0, sizeof(buf));
	} else {
		user[0] = '\0';
	}
	if (kapi_get(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, id, NULL, &csr) < 0 || !is_registration(csr)) {
		snprintf(msg, sizeof(msg), "registration \"%.64s\" not found", id);
		hub_respond_error(h, req, -ENOENT, msg);
		goto out;
	}
	u = json_string_value(kobj_get_path(csr, "spec.username"));
	if (*user && strcmp(u, user)) {
		snprintf(msg, sizeof(msg), "forbidden: registration \"%.64s\" was made with another bootstrap token",
			 id);
		hub_respond_error(h, req, -EPERM, msg);
		goto out;
	}
	hub_respond_json(h, req, 200, registration_view(h, csr));
out:
	json_decref(csr);
}

/* Renewals ---------------------------------------------------------------------- */

/* See hub.h. */
int hub_cert_renew(struct hub *h, const struct hub_identity *id, const char *csr_pem, size_t len,
		   char **ret_cert_pem, struct errbuf *err)
{
	struct hub_cluster *c = id->kind == HUB_IDENT_CLUSTER ? hub_cluster_find(h, id->cluster) : NULL;
	char suffix[9], name[HUB_CLUSTER_NAME_MAX + 10], *cert = NULL, *b64 = NULL;
	struct x509_csr *csr = NULL;
	json_t *obj = NULL;
	int r;

	if (!c || !c->accepted || hub_serial_revoked(h, id->serial))
		return errbuf_set(err, -EACCES, "Unauthorized: only an accepted cluster's certificate can renew");
	if ((r = check_csr(csr_pem, len, id->cluster, id->user, &csr, err)) < 0 ||
	    (r = sign(h, csr, &cert, err)) < 0 || (r = rand_suffix(suffix)) < 0)
		goto out;
	snprintf(name, sizeof(name), "%s-%s", id->cluster, suffix);
	b64 = base64_encode(csr_pem, len);
	obj = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:s, s:[s], s:s}, s:{s:[o]}}", "apiVersion",
			HUB_GROUP_CERTS "/v1", "kind", "CertificateSigningRequest", "metadata", "name", name, "labels",
			HUB_LABEL_CLUSTER, id->cluster, "spec", "request", b64, "signerName", HUB_SIGNER, "usages",
			"client auth", "username", id->user, "status", "conditions",
			csr_condition("Approved", "RenewalAutoApproved", "renewal of an accepted cluster"));
	free(b64);
	b64 = base64_encode(cert, strlen(cert));
	json_object_set_new(json_object_get(obj, "status"), "certificate", json_string(b64));
	if ((r = kapi_create(h->kapi, HUB_GROUP_CERTS, HUB_RES_CSRS, NULL, obj, &hub_opts, err, NULL)) < 0)
		goto out;
	log_info("cluster %s: certificate renewed (%s)", id->cluster, name);
	*ret_cert_pem = cert;
	cert = NULL;
out:
	free(b64);
	free(cert);
	json_decref(obj);
	x509_csr_free(csr);
	return r;
}

/* See hub_int.h. */
void hub_renewal_http(struct hub *h, struct httpd_req *req)
{
	struct errbuf err = {""};
	json_t *body = NULL, *csr;
	char *cert = NULL;
	int r;

	if ((r = hub_body_json(req, &body, &err)) < 0)
		goto fail;
	csr = json_object_get(body, "csr");
	if (!json_is_string(csr) || !json_string_length(csr)) {
		r = errbuf_set(&err, -EINVAL, "csr: Required value: a PEM CERTIFICATE REQUEST");
		goto fail;
	}
	if ((r = hub_cert_renew(h, &h->cur_id, json_string_value(csr), json_string_length(csr), &cert, &err)) < 0)
		goto fail;
	hub_respond_json(h, req, 201,
			 json_pack("{s:s, s:s, s:s, s:s}", "kind", "Renewal", "apiVersion", "nave.dev/v1alpha1",
				   "certificate", cert, "caBundle", hub_ca_pem(h)));
	goto out;
fail:
	hub_respond_error(h, req, r, err.msg);
out:
	free(cert);
	json_decref(body);
}
