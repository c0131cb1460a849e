/* cluster.c - lease renewal and certificate renewal payloads: validation,
 * PEM framing, constructors. See cluster.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cluster.h"
#include "kobj.h"
#include "proto_int.h"

static bool is_b64(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '+' || ch == '/' || ch == '=';
}

/* Skip spaces, tabs and line breaks. */
static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

bool proto_pem_valid(const char *s, const char *label, bool multiple)
{
	char begin[96], end[96];
	size_t blen, elen;
	int blocks = 0;
	const char *p = s;

	snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	snprintf(end, sizeof(end), "-----END %s-----", label);
	blen = strlen(begin);
	elen = strlen(end);
	for (;;) {
		size_t body = 0;

		p = skip_ws(p);
		if (*p == '\0')
			break;
		if (strncmp(p, begin, blen) != 0)
			return false;
		p += blen;
		for (;;) {
			if (*p == '-')
				break;
			if (*p == '\r' || *p == '\n')
				p++;
			else if (is_b64(*p))
				p++, body++;
			else
				return false;
		}
		if (strncmp(p, end, elen) != 0 || body == 0)
			return false;
		p += elen;
		blocks++;
	}
	return blocks == 1 || (blocks > 1 && multiple);
}

static int check_claim(struct pctx *c, const json_t *claim)
{
	const char *s;
	int r;

	r = p_string(c, claim, "name", true, false, 253, &s);
	if (r < 0)
		return r;
	if (!kobj_valid_subdomain(s))
		return pctx_fail(c, -EINVAL, "name", "\"%s\" is not a DNS-1123 subdomain", s);
	return p_string(c, claim, "value", true, true, PROTO_CLAIM_VALUE_MAX, &s);
}

int proto_check_lease(struct pctx *c, const json_t *data)
{
	int r;

	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	r = p_int(c, data, "leaseDurationSeconds", true, 1, PROTO_LEASE_SECONDS_MAX, NULL, NULL);
	if (r < 0)
		return r;
	r = p_list(c, data, "clusterClaims", c->lim->max_list_entries, check_claim);
	if (r < 0)
		return r;
	return p_conditions(c, data, "conditions");
}

static int check_pem(struct pctx *c, const json_t *data, const char *key, const char *label,
		     bool multiple)
{
	const char *s;
	int r;

	r = p_string(c, data, key, true, false, c->lim->max_pem_bytes, &s);
	if (r < 0)
		return r;
	if (!proto_pem_valid(s, label, multiple))
		return pctx_fail(c, -EINVAL, key, "must be PEM %s block%s", label, multiple ? "s" : "");
	return 0;
}

int proto_check_cert_request(struct pctx *c, const json_t *data)
{
	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	return check_pem(c, data, "request", "CERTIFICATE REQUEST", false);
}

int proto_check_cert_response(struct pctx *c, const json_t *data)
{
	const char *s;
	int r;

	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	r = p_string(c, data, "requestID", true, false, c->lim->max_id_bytes, &s);
	if (r < 0)
		return r;
	if (!p_is_token(s))
		return pctx_fail(c, -EINVAL, "requestID", "must be printable ASCII without spaces");
	return check_pem(c, data, "certificate", "CERTIFICATE", true);
}

json_t *proto_cluster_claim(const char *name, const char *value)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "value", json_string(value));
	return o;
}

struct proto_event *proto_event_new_lease(const char *source, const char *clustername,
					  int64_t lease_seconds, json_t *claims, json_t *conditions)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_LEASE_UPDATE, source);
	json_t *data = json_object();

	ev->clustername = xstrdup(clustername);
	json_object_set_new(data, "leaseDurationSeconds", json_integer(lease_seconds));
	if (claims)
		json_object_set(data, "clusterClaims", claims);
	if (conditions)
		json_object_set(data, "conditions", conditions);
	ev->data = data;
	return ev;
}

struct proto_event *proto_event_new_cert_renew_request(const char *source, const char *clustername,
						       const char *csr_pem)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_CERT_RENEW_REQUEST, source);

	ev->clustername = xstrdup(clustername);
	ev->data = json_pack("{s:s?}", "request", csr_pem);
	return ev;
}

struct proto_event *proto_event_new_cert_renew_response(const char *source, const char *clustername,
							const char *request_id, const char *cert_pem)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_CERT_RENEW_RESPONSE, source);

	ev->clustername = xstrdup(clustername);
	ev->data = json_pack("{s:s?, s:s?}", "requestID", request_id, "certificate", cert_pem);
	return ev;
}
