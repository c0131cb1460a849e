/* credentials.c - the hub credential: fields, checks, store values; see
 * credentials.h. Pure functions, no loop; the certificate work goes through
 * common/x509.h except the key/certificate match, which x509.h does not
 * offer and mbed TLS does in one call.
 */
#include "credentials.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "alloc.h"
#include "x509.h"

struct cred_field {
	const char *key;
	size_t off;
	size_t max;
};

static const struct cred_field cred_fields[] = {
	{ "hub-url", offsetof(struct agent_cred, hub_url), AGENT_CRED_URL_MAX },
	{ "cluster-name", offsetof(struct agent_cred, cluster_name), AGENT_CRED_NAME_MAX },
	{ "agent-name", offsetof(struct agent_cred, agent_name), AGENT_CRED_NAME_MAX },
	{ "ca.crt", offsetof(struct agent_cred, ca_pem), X509_PEM_MAX },
	{ "tls.crt", offsetof(struct agent_cred, cert_pem), X509_PEM_MAX },
	{ "tls.key", offsetof(struct agent_cred, key_pem), X509_PEM_MAX },
};

#define CRED_FIELD(c, f) (*(char **)((char *)(c) + (f)->off))

static char *secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
	return NULL;
}

struct agent_cred *agent_cred_free(struct agent_cred *c)
{
	if (!c)
		return NULL;
	free(c->hub_url);
	free(c->cluster_name);
	free(c->agent_name);
	free(c->ca_pem);
	free(c->cert_pem);
	secret_free(c->key_pem);
	free(c);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct agent_cred *agent_cred_new(const char *hub_url, const char *cluster_name,
				  const char *agent_name, const char *ca_pem, const char *cert_pem,
				  const char *key_pem)
{
	struct agent_cred *c = xnew(struct agent_cred);

	c->hub_url = dup_or_null(hub_url);
	c->cluster_name = dup_or_null(cluster_name);
	c->agent_name = dup_or_null(agent_name);
	c->ca_pem = dup_or_null(ca_pem);
	c->cert_pem = dup_or_null(cert_pem);
	c->key_pem = dup_or_null(key_pem);
	return c;
}

int agent_cred_from_values(const json_t *values, struct errbuf *err, struct agent_cred **ret_c)
{
	struct agent_cred *c = xnew(struct agent_cred);

	for (size_t i = 0; i < sizeof(cred_fields) / sizeof(cred_fields[0]); i++) {
		const struct cred_field *f = &cred_fields[i];
		json_t *v = json_object_get(values, f->key);
		size_t len;

		if (!json_is_string(v) || json_string_length(v) == 0) {
			agent_cred_free(c);
			return errbuf_set(err, -EINVAL, "credential: %s: missing", f->key);
		}
		len = json_string_length(v);
		if (len > f->max || strlen(json_string_value(v)) != len) {
			agent_cred_free(c);
			return errbuf_set(err, -EINVAL, "credential: %s: longer than %zu bytes or "
					  "holds a NUL", f->key, f->max);
		}
		CRED_FIELD(c, f) = xstrdup(json_string_value(v));
	}
	*ret_c = c;
	return 0;
}

json_t *agent_cred_to_values(const struct agent_cred *c)
{
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(cred_fields) / sizeof(cred_fields[0]); i++) {
		const char *v = CRED_FIELD(c, &cred_fields[i]);

		if (v)
			json_object_set_new(o, cred_fields[i].key, json_string(v));
	}
	return o;
}

bool agent_name_is_dns_label(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool agent_name_is_agent(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

int agent_cred_subject(const char *cluster, const char *agent, char **ret_cn, char **ret_org,
		       struct errbuf *err)
{
	char *cn, *org;

	if (!agent_name_is_dns_label(cluster))
		return errbuf_set(err, -EINVAL, "cluster name \"%s\": must be a DNS-1123 label "
				  "(1..63 of a-z, 0-9, '-', alphanumeric at both ends)",
				  cluster ? cluster : "");
	if (!agent_name_is_agent(agent))
		return errbuf_set(err, -EINVAL, "agent name \"%s\": 1..63 of a-z, 0-9, '.', '-'",
				  agent ? agent : "");
	cn = xasprintf(AGENT_SUBJECT_PREFIX "%s:%s", cluster, agent);
	if (strlen(cn) > X509_NAME_MAX) {
		free(cn);
		return errbuf_set(err, -EINVAL, "cluster name \"%s\": too long: the certificate's "
				  "CN \"" AGENT_SUBJECT_PREFIX "%s:%s\" would pass the 64 bytes X.509 "
				  "allows", cluster, cluster, agent);
	}
	org = xasprintf(AGENT_SUBJECT_PREFIX "%s", cluster);
	*ret_cn = cn;
	*ret_org = org;
	return 0;
}

int agent_hub_url_parse(const char *url, struct errbuf *err, char **ret_host, int *ret_port)
{
	const char *p, *host_end, *end;
	char *host;
	long port = 443;

	if (!url || strncmp(url, "https://", 8) != 0)
		return errbuf_set(err, -EINVAL, "hub URL \"%s\": must start with https://",
				  url ? url : "");
	if (strlen(url) > AGENT_CRED_URL_MAX)
		return errbuf_set(err, -EINVAL, "hub URL: longer than %d bytes", AGENT_CRED_URL_MAX);
	p = url + 8;
	end = p + strcspn(p, "/?#");
	if (*end == '/' && end[1] == '\0') {
		/* one trailing slash is harmless */
	} else if (*end) {
		return errbuf_set(err, -EINVAL, "hub URL \"%s\": must not have a path or query", url);
	}
	if (memchr(p, '@', (size_t)(end - p)))
		return errbuf_set(err, -EINVAL, "hub URL \"%s\": must not carry user info", url);
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t)(end - p));
		if (!host_end)
			return errbuf_set(err, -EINVAL, "hub URL \"%s\": unterminated IPv6 address", url);
		host = xstrndup(p + 1, (size_t)(host_end - p - 1));
		host_end++;
	} else {
		host_end = memchr(p, ':', (size_t)(end - p));
		if (!host_end)
			host_end = end;
		host = xstrndup(p, (size_t)(host_end - p));
	}
	if (!*host) {
		free(host);
		return errbuf_set(err, -EINVAL, "hub URL \"%s\": no host", url);
	}
	if (host_end < end) {
		char *e;

		if (*host_end != ':') {
			free(host);
			return errbuf_set(err, -EINVAL, "hub URL \"%s\": bad port", url);
		}
		port = strtol(host_end + 1, &e, 10);
		if (e != end || port < 1 || port > 65535) {
			free(host);
			return errbuf_set(err, -EINVAL, "hub URL \"%s\": bad port", url);
		}
	}
	if (ret_host)
		*ret_host = host;
	else
		free(host);
	if (ret_port)
		*ret_port = (int)port;
	return 0;
}

/* Whether key_pem is the private half of cert_pem's public key. */
static int key_matches(const char *cert_pem, const char *key_pem, struct errbuf *err)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	int r = 0;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	/* mbed TLS wants PEM lengths that count the NUL. */
	if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1) != 0) {
		r = errbuf_set(err, -EINVAL, "credential: tls.crt: not a PEM certificate");
		goto out;
	}
	if (mbedtls_pk_parse_key(&pk, (const unsigned char *)key_pem, strlen(key_pem) + 1, NULL, 0) !=
	    0) {
		r = errbuf_set(err, -EINVAL, "credential: tls.key: not a PEM private key");
		goto out;
	}
	if (mbedtls_pk_check_pair(&crt.pk, &pk) != 0)
		r = errbuf_set(err, -EINVAL, "credential: tls.key is not the key of tls.crt");
out:
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
	return r;
}

int agent_cred_check(struct agent_cred *c, const char *want_hub, const char *want_cluster,
		     struct errbuf *err)
{
	struct x509_cert_info info;
	char *cn = NULL, *org = NULL;
	int64_t now = (int64_t)time(NULL);
	int r;

	for (size_t i = 0; i < sizeof(cred_fields) / sizeof(cred_fields[0]); i++)
		if (!CRED_FIELD(c, &cred_fields[i]))
			return errbuf_set(err, -EINVAL, "credential: %s: missing", cred_fields[i].key);
	r = agent_hub_url_parse(c->hub_url, err, NULL, NULL);
	if (r < 0)
		return r;
	if (want_hub && strcmp(want_hub, c->hub_url) != 0)
		return errbuf_set(err, -EINVAL, "credential: for hub %s, not %s", c->hub_url,
				  want_hub);
	if (want_cluster && strcmp(want_cluster, c->cluster_name) != 0)
		return errbuf_set(err, -EINVAL, "credential: for cluster %s, not %s",
				  c->cluster_name, want_cluster);
	r = agent_cred_subject(c->cluster_name, c->agent_name, &cn, &org, err);
	if (r < 0)
		return r;
	r = x509_cert_info(c->cert_pem, strlen(c->cert_pem), &info, err);
	if (r < 0)
		goto out;
	if (strcmp(info.cn, cn) != 0 || strcmp(info.org, org) != 0) {
		r = errbuf_set(err, -EINVAL, "credential: tls.crt: subject CN=%s O=%s, expected "
			       "CN=%s O=%s", info.cn, info.org, cn, org);
		goto out;
	}
	if (now < info.not_before || now >= info.not_after) {
		r = errbuf_set(err, -EKEYEXPIRED, "credential: tls.crt: %s (valid %lld..%lld, now "
			       "%lld)", now < info.not_before ? "not valid yet" : "expired",
			       (long long)info.not_before, (long long)info.not_after,
			       (long long)now);
		goto out;
	}
	r = x509_verify(c->ca_pem, strlen(c->ca_pem), c->cert_pem, strlen(c->cert_pem), err);
	if (r < 0) {
		errbuf_prefix(err, "credential: tls.crt against ca.crt");
		goto out;
	}
	r = key_matches(c->cert_pem, c->key_pem, err);
	if (r < 0)
		goto out;
	c->not_before = info.not_before;
	c->not_after = info.not_after;
out:
	free(cn);
	free(org);
	return r;
}
